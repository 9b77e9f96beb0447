//! Builds the running server from settings: opens the store, binds the socket (port 0
//! works, for tests), and serves until stopped.

use crate::audit::Audit;
use crate::auth::{Tokens, Users};
use crate::config::Settings;
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::projector::Projector;
use crate::quarantine::Quarantine;
use crate::rules::RulesGate;
use crate::store::Store;
use crate::sync::Hub;
use actix_web::{middleware, web, App, HttpServer};
use linli_shared::PeerId;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::Arc;

/// The server's peer id: stable for a store.
pub async fn server_peer(store: &Store) -> anyhow::Result<PeerId> {
    Ok(PeerId::new(format!("linli-{}", store.storage_id().await?))?)
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
    /// Opens the store the settings name (sled in `data_dir` by default) and binds
    /// `settings.bind`.
    pub async fn build(settings: &Settings, data_dir: &Path) -> anyhow::Result<Self> {
        settings.validate()?;
        let metrics = Arc::new(Metrics::new());
        let engine =
            crate::store::open_for_writing(&settings.engine(data_dir), &settings.open_options(metrics.clone())).await?;
        Self::build_with_store(settings, Store::new(engine, settings.clock()?), metrics).await
    }

    pub async fn build_with_store(settings: &Settings, store: Store, metrics: Arc<Metrics>) -> anyhow::Result<Self> {
        let storage_id = store.storage_id().await?;
        let server_peer = server_peer(&store).await?;
        let server_actor = crate::sync::hub::server_actor_for(server_peer.as_str().as_bytes());
        // Before anything reads a document: a store written by an older Linli is brought
        // to today's schemas first.
        let migrated = crate::migrate::run(&store, &server_actor).await?;
        if migrated.episodes > 0 || migrated.episodes_3 > 0 || migrated.lists > 0 || !migrated.failed.is_empty() {
            tracing::info!(
                episodes = migrated.episodes,
                notes = migrated.notes,
                episodes_3 = migrated.episodes_3,
                checkins = migrated.checkins,
                lists = migrated.lists,
                failed = migrated.failed.len(),
                "store migrated (medical notes and readings in documents of their own; lists without addresses)"
            );
        }
        let audit = Audit::start(store.clone());
        let quarantine = Quarantine::new(store.clone(), settings.quarantine_limits());
        // The gate needs the projector, the projector needs the hub, the hub needs the gate.
        let (hub_tx, hub_rx) = tokio::sync::oneshot::channel();
        let projector = Projector::start(store.clone(), hub_rx, audit.clone(), settings.projector_settings());
        let reads = crate::read_audit::ReadAudit::new(store.clone(), audit.clone(), settings.utc_offset_minutes);
        let gate = RulesGate::new(
            store.clone(),
            reads.clone(),
            quarantine.clone(),
            projector.clone(),
            server_actor,
            settings.utc_offset_minutes,
            std::time::Duration::from_secs(settings.reference_wait_secs),
        )
        .await?;
        let hub =
            Hub::new(store.engine().clone(), settings.hub_settings(), metrics.clone(), server_peer, Arc::new(gate));
        hub.watch_store();
        let _ = hub_tx.send(hub.clone());
        let users = Users::new(store.clone())
            .with_password_policy(settings.password_policy())
            .with_password_checks(settings.max_password_checks);
        // Every user's inbox and every grid's index exists before a phone asks for it.
        for user in users.list().await? {
            crate::projector::ensure_user_inbox(&hub, &user);
        }
        for grid in crate::grids::list(&store).await? {
            crate::projector::ensure_grid_index(&hub, &grid);
        }
        let tokens = Tokens::new(store.clone(), settings.jwt_secret.as_deref(), settings.token_ttl_secs).await?;
        if let Err(e) = tokens.prune_revocations().await {
            tracing::warn!(error = %e, "could not prune expired revocations");
        }
        let listener = TcpListener::bind(settings.bind)?;
        let addr = listener.local_addr()?;
        let state = web::Data::new(AppState {
            users,
            store,
            hub,
            tokens,
            metrics,
            storage_id,
            session: settings.session_settings(),
            ping_interval: settings.ping_interval(),
            allowed_origins: settings.origins_for(addr),
            cookie_secure: settings.cookie_secure,
            login_limiter: http::login_limiter::LoginLimiter::new(settings.login_limits()),
            client_addresses: http::client_addr::ClientAddresses::new(settings.trusted_proxies.clone()),
            audit,
            reads,
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
