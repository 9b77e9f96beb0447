//! Health and metrics, for operators and their probes.

use super::AppState;
use actix_web::{web, HttpResponse};

/// `GET /healthz`: 200 while the store answers.
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    match state.db.meta.get("storage_id") {
        Ok(_) => HttpResponse::Ok().json(serde_json::json!({"status": "ok"})),
        Err(e) => {
            tracing::error!(error = %e, "health check: store unreadable");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({"status": "store unavailable"}))
        }
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render())
}
