//! Builds the running server from settings: opens the store, binds the socket (port 0
//! works, for tests), and serves until stopped.

use crate::audit::Audit;
use crate::auth::{Tokens, Users};
use crate::config::Settings;
use crate::db::Db;
use crate::http::{self, AppState};
use crate::index::Projector;
use crate::metrics::Metrics;
use crate::quarantine::Quarantine;
use crate::rules::RulesGate;
use crate::sync::Hub;
use actix_web::{middleware, web, App, HttpServer};
use linli_shared::PeerId;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;

/// The server's peer id: stable for a store.
pub fn server_peer(db: &Db) -> anyhow::Result<PeerId> {
    Ok(PeerId::new(format!("linli-{}", db.storage_id()?))?)
}

pub struct Application {
    addr: SocketAddr,
    server: actix_web::dev::Server,
    /// The `metrics_bind` listener, if set: `/metrics` and `/healthz` only.
    metrics: Option<(SocketAddr, actix_web::dev::Server)>,
    state: web::Data<AppState>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl Application {
    /// Opens the store in `data_dir` and binds `settings.bind`.
    pub fn build(settings: &Settings, data_dir: &Path) -> anyhow::Result<Self> {
        settings.validate()?;
        let metrics = Arc::new(Metrics::new());
        let db = Db::open(data_dir, metrics.clone())?;
        Self::build_with_db(settings, db, metrics)
    }

    pub fn build_with_db(settings: &Settings, db: Db, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let storage_id = db.storage_id()?;
        let server_peer = server_peer(&db)?;
        let audit = Arc::new(Audit::new(&db)?);
        let quarantine = Quarantine::new(&db)?;
        // The gate needs the projector, the projector needs the hub, the hub needs the gate.
        let hub_cell = Arc::new(std::sync::OnceLock::new());
        let projector = Projector::start(db.clone(), hub_cell.clone(), audit.clone(), settings.index_settings())?;
        let server_actor = crate::sync::hub::server_actor_for(server_peer.as_str().as_bytes());
        let gate = RulesGate::new(
            db.clone(),
            audit.clone(),
            quarantine.clone(),
            projector.clone(),
            server_actor,
            settings.utc_offset_minutes,
        )?;
        let hub =
            Hub::new(Arc::new(db.docs.clone()), settings.hub_settings(), metrics.clone(), server_peer, Arc::new(gate));
        let _ = hub_cell.set(hub.clone());
        // Every user's inbox and every grid's index exists before a phone asks for it.
        for user in Users::new(db.clone()).list()? {
            crate::index::ensure_user_inbox(&hub, &user);
        }
        for grid in crate::grids::list(&db)? {
            crate::index::ensure_grid_index(&hub, &grid);
        }
        let tokens = Tokens::new(db.clone(), settings.jwt_secret.as_deref(), settings.token_ttl_secs)?;
        if let Err(e) = tokens.prune_revocations() {
            tracing::warn!(error = %e, "could not prune expired revocations");
        }
        let listener = TcpListener::bind(settings.bind)?;
        let addr = listener.local_addr()?;
        let state = web::Data::new(AppState {
            users: Users::new(db.clone()),
            db,
            hub,
            tokens,
            metrics,
            storage_id,
            session: settings.session_settings(),
            ping_interval: settings.ping_interval(),
            allowed_origins: settings.origins_for(addr),
            cookie_secure: settings.cookie_secure,
            login_limiter: http::auth::LoginLimiter::new(settings.login_attempts_per_minute),
            audit,
            quarantine,
            projector,
            web_dir: settings.web_dir.clone().filter(|d| d.join("index.html").is_file()),
            utc_offset_minutes: settings.utc_offset_minutes,
            metrics_access: http::ops::MetricsAccess::new(
                settings.metrics_token.as_deref(),
                settings.metrics_bind.is_some(),
            ),
        });
        let app_state = state.clone();
        let json_limit = web::JsonConfig::default().limit(64 * 1024);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(json_limit.clone())
                .wrap(middleware::NormalizePath::trim())
                .wrap(middleware::from_fn(http::headers::security_headers))
                .configure(http::routes)
        })
        .on_connect(http::socket::SocketControl::on_connect)
        .workers(settings.http_workers)
        .shutdown_timeout(5)
        .listen(listener)?
        .run();
        let metrics = settings.metrics_bind.map(|bind| metrics_server(bind, state.clone())).transpose()?;
        Ok(Application { addr, server, metrics, state })
    }

    /// The address of the `metrics_bind` listener, if there is one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(addr, _)| *addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &web::Data<AppState> {
        &self.state
    }

    /// Serves until the process is told to stop (SIGINT / SIGTERM).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        match self.metrics {
            Some((_, metrics)) => tokio::try_join!(self.server, metrics).map(|_| ()),
            None => self.server.await,
        }
    }
}

/// The `metrics_bind` listener: `/metrics` (and `/healthz`, for the same probes) only.
fn metrics_server(
    bind: SocketAddr,
    state: web::Data<AppState>,
) -> anyhow::Result<(SocketAddr, actix_web::dev::Server)> {
    let listener = TcpListener::bind(bind)?;
    let addr = listener.local_addr()?;
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(http::ops::MetricsListener)
            .wrap(middleware::from_fn(http::headers::security_headers))
            .route("/metrics", web::get().to(http::ops::metrics))
            .route("/healthz", web::get().to(http::ops::healthz))
    })
    .workers(1)
    .shutdown_timeout(5)
    .listen(listener)?
    .run();
    Ok((addr, server))
}
