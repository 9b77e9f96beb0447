//! Health and metrics, for operators and their probes.

use super::AppState;
use actix_web::{web, HttpResponse};

/// `GET /healthz`: 200 while the store works and answers; 503 while it fails (no change
/// is acknowledged then), saying why.
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    let engine = state.store.name();
    let failing = match state.store.health() {
        crate::store::Health::Failing(reason) => Some(reason),
        crate::store::Health::Ok => state.hub.store_down(),
    };
    let failing = match failing {
        Some(reason) => Some(reason),
        None => state.store.meta("storage_id").await.err().map(|e| e.to_string()),
    };
    match failing {
        None => HttpResponse::Ok().json(serde_json::json!({"status": "ok", "store": engine})),
        Some(reason) => {
            tracing::warn!(reason = %reason, "health check: the store is failing");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({
                "status": "store unavailable", "store": engine, "reason": reason,
            }))
        }
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render())
}

/// `POST /api/test/clock` `{"advance_secs": N}` or `{"set": "<RFC 3339>"}`: moves the test
/// clock and asks for a sweep (time-based alerts, retention). Exists only when the server
/// runs with `--test-clock`; otherwise 404, like any unknown path.
pub async fn move_test_clock(
    state: web::Data<AppState>,
    body: web::Json<TestClockBody>,
) -> Result<HttpResponse, super::ApiError> {
    let Some(clock) = state.store.clock().as_manual() else {
        return Err(super::ApiError::NotFound("no such endpoint"));
    };
    match (&body.advance_secs, &body.set) {
        (Some(secs), None) => clock.advance_ms(secs.saturating_mul(1000)),
        (None, Some(instant)) => clock
            .set_ms(crate::clock::parse_rfc3339_ms(instant).map_err(|e| super::ApiError::BadRequest(e.to_string()))?),
        _ => return Err(super::ApiError::BadRequest("give either `advance_secs` or `set`".into())),
    }
    state.projector.sweep_done().await;
    Ok(HttpResponse::Ok().json(serde_json::json!({"now_ms": crate::clock::Clock::now_ms(clock)})))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestClockBody {
    advance_secs: Option<i64>,
    set: Option<String>,
}
