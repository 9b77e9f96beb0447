//! The HTTP face of the server: JSON API, health, metrics and the `/sync` WebSocket.

pub mod admin;
pub mod auth;
pub mod caller;
pub mod client_addr;
pub mod error;
pub mod exports;
pub mod frame_limit;
pub mod headers;
pub mod login_limiter;
pub mod ops;
pub mod socket;
pub mod static_files;
pub mod stats;
pub mod sync_ws;
pub mod views;
pub mod work;
pub mod ws_writer;

pub use error::ApiError;

use crate::auth::{Tokens, Users};
use crate::metrics::Metrics;
use crate::store::Store;
use crate::sync::{Hub, SessionSettings};
use linli_shared::StorageId;
use std::sync::Arc;
use std::time::Duration;

/// Shared state of every request handler.
#[derive(Debug)]
pub struct AppState {
    pub store: Store,
    pub hub: Arc<Hub>,
    pub users: Users,
    pub tokens: Tokens,
    pub metrics: Arc<Metrics>,
    pub storage_id: StorageId,
    pub session: SessionSettings,
    pub ping_interval: Duration,
    pub allowed_origins: Vec<String>,
    pub cookie_secure: bool,
    pub login_limiter: login_limiter::LoginLimiter,
    /// Who the client of a request is (the TCP peer, or what a trusted proxy says).
    pub client_addresses: client_addr::ClientAddresses,
    pub audit: crate::audit::Audit,
    /// Records reads of health and care data (once per user, document and day).
    pub reads: crate::read_audit::ReadAudit,
    pub quarantine: crate::quarantine::Quarantine,
    pub projector: crate::projector::Projector,
    /// The built PWA (`web/dist`), if present.
    pub web_dir: Option<std::path::PathBuf>,
    /// The community's offset from UTC (its calendar days and check-in slots).
    pub utc_offset_minutes: i32,
    /// Who may read `/metrics`, and on which listener.
    pub metrics_access: ops::MetricsAccess,
}

pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    use actix_web::web;
    cfg.route("/healthz", web::get().to(ops::healthz))
        .route("/healthz", web::head().to(ops::healthz))
        .route("/metrics", web::get().to(ops::metrics))
        .route("/sync", web::get().to(sync_ws::upgrade))
        .service(
            web::scope("/api")
                .route("/auth/login", web::post().to(auth::login))
                .route("/auth/refresh", web::post().to(auth::refresh))
                .route("/auth/logout", web::post().to(auth::logout))
                .route("/me", web::get().to(auth::me))
                .route("/users", web::get().to(admin::list_users))
                .route("/users", web::post().to(admin::add_user))
                .route("/users/{id}/end-sessions", web::post().to(admin::end_sessions))
                .route("/households/{id}/erase", web::post().to(admin::erase_household))
                .route("/grids", web::get().to(admin::list_grids))
                .route("/grids", web::post().to(admin::add_grid))
                .route("/grids/{id}/risk", web::put().to(admin::set_risk))
                .route("/grids/{id}/dashboard", web::get().to(work::dashboard))
                .route("/grids/{id}/people", web::get().to(work::people))
                .route("/stats/daily", web::get().to(stats::daily))
                .route("/alerts", web::get().to(work::list_alerts))
                .route("/alerts/{id:.*}/acknowledge", web::post().to(work::acknowledge))
                .route("/alerts/{id:.*}/resolve", web::post().to(work::resolve))
                .route("/export/{name}", web::get().to(exports::export))
                .route("/audit", web::get().to(admin::audit))
                .route("/quarantine", web::get().to(admin::quarantine))
                .route("/test/clock", web::post().to(ops::move_test_clock)),
        )
        // HEAD as GET, without the body (actix sends no body for HEAD): link checkers,
        // `curl -I` and load balancers ask HEAD.
        .route("/{path:.*}", web::get().to(static_files::serve))
        .route("/{path:.*}", web::head().to(static_files::serve));
}
