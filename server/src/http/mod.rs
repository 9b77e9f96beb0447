//! The HTTP face of the server: JSON API, health, metrics and the `/sync` WebSocket.

pub mod auth;
pub mod error;
pub mod ops;
pub mod sync_ws;

pub use error::ApiError;

use crate::auth::{Tokens, Users};
use crate::db::Db;
use crate::metrics::Metrics;
use crate::sync::{Hub, SessionSettings};
use linli_shared::StorageId;
use std::sync::Arc;
use std::time::Duration;

/// Shared state of every request handler.
#[derive(Debug)]
pub struct AppState {
    pub db: Db,
    pub hub: Arc<Hub>,
    pub users: Users,
    pub tokens: Tokens,
    pub metrics: Arc<Metrics>,
    pub storage_id: StorageId,
    pub session: SessionSettings,
    pub ping_interval: Duration,
    pub allowed_origins: Vec<String>,
    pub cookie_secure: bool,
    pub login_limiter: auth::LoginLimiter,
}

pub fn routes(cfg: &mut actix_web::web::ServiceConfig) {
    use actix_web::web;
    cfg.route("/healthz", web::get().to(ops::healthz))
        .route("/metrics", web::get().to(ops::metrics))
        .route("/sync", web::get().to(sync_ws::upgrade))
        .service(
            web::scope("/api")
                .route("/auth/login", web::post().to(auth::login))
                .route("/auth/refresh", web::post().to(auth::refresh))
                .route("/auth/logout", web::post().to(auth::logout))
                .route("/me", web::get().to(auth::me)),
        );
}
