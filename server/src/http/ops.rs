//! Health and metrics, for operators and their probes.
//!
//! `/metrics` tells how busy the community is and when (connections, changes, errors):
//! not for anonymous remote callers. Who may read it ([`MetricsAccess`]):
//! - with `metrics_token` set, callers presenting `Authorization: Bearer <token>`;
//! - with `metrics_bind` set, `/metrics` is served on that listener only (the main one
//!   answers 404), to whoever reaches it (and with the token, if one is set);
//! - with neither, callers on this machine only: a loopback peer whose request carries
//!   no `Forwarded`/`X-Forwarded-For`/`X-Real-IP` header (a reverse proxy on the same host
//!   would otherwise make every remote caller look local).

use super::{ApiError, AppState};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

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

/// Who may read `/metrics` (see the module docs).
#[derive(Clone, Default)]
pub struct MetricsAccess {
    /// SHA-256 of `metrics_token`: compared digest to digest, so the comparison's timing
    /// says nothing useful about the token.
    token: Option<[u8; 32]>,
    /// `metrics_bind` is set: the main listener does not serve `/metrics`.
    separate_listener: bool,
}

impl std::fmt::Debug for MetricsAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsAccess")
            .field("token", &self.token.map(|_| "<redacted>"))
            .field("separate_listener", &self.separate_listener)
            .finish()
    }
}

impl MetricsAccess {
    pub fn new(token: Option<&str>, separate_listener: bool) -> Self {
        MetricsAccess { token: token.map(|t| Sha256::digest(t.as_bytes()).into()), separate_listener }
    }
}

/// App data of the `metrics_bind` listener's app: requests there are on the metrics listener.
#[derive(Debug, Clone, Copy)]
pub struct MetricsListener;

/// `GET /metrics`: Prometheus text format, for the callers [`MetricsAccess`] allows.
pub async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let access = &state.metrics_access;
    let on_metrics_listener = req.app_data::<MetricsListener>().is_some();
    if access.separate_listener && !on_metrics_listener {
        return Err(ApiError::NotFound("metrics are served on the metrics_bind address"));
    }
    match access.token {
        Some(want) => {
            let given = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(|t| <[u8; 32]>::from(Sha256::digest(t.trim().as_bytes())));
            if given != Some(want) {
                state.metrics.auth_failures.get_or_create(&crate::metrics::CodeLabel { code: "metrics_token" }).inc();
                return Err(ApiError::Unauthorized("the metrics token is required"));
            }
        }
        None if !on_metrics_listener && !local_caller(&req) => {
            return Err(ApiError::Forbidden("metrics are for local callers: set metrics_token or metrics_bind"));
        }
        None => {}
    }
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render()))
}

/// A caller on this machine: a loopback peer, not relayed by a proxy.
fn local_caller(req: &HttpRequest) -> bool {
    let loopback = req.peer_addr().is_some_and(|a| a.ip().to_canonical().is_loopback());
    let relayed = ["forwarded", "x-forwarded-for", "x-real-ip"].iter().any(|h| req.headers().contains_key(*h));
    loopback && !relayed
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
