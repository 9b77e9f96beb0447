//! The `linli` command line (DESIGN §7). Every command takes `--data DIR`.

use crate::auth::{NewUser, Role, Users};
use crate::config::{LogFormat, Settings};
use crate::metrics::Metrics;
use crate::store::{export, EngineChoice, SecretUrl, Store};
use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Parser)]
#[command(
    name = "linli",
    version,
    about = "Linli (邻里): offline-first community care during a lockdown — the sync server"
)]
pub struct Cli {
    /// Data directory (the sled store lives in DIR/store).
    #[arg(long, global = true, env = "LINLI_DATA", default_value = "./data")]
    pub data: PathBuf,
    /// Settings file (default: ./linli.toml if it exists).
    #[arg(long, global = true, env = "LINLI_CONFIG")]
    pub config: Option<PathBuf>,
    /// Keep the store in PostgreSQL at this URL (`postgres://user:password@host/db`)
    /// instead of sled in `--data`.
    #[arg(long, global = true, env = "LINLI_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<SecretUrl>,
    /// sled: refuse to open the store, and to write, with less free disk space than this
    /// (default 64 MiB): opening a sled store on a full disk can destroy it.
    #[arg(long, global = true, env = "LINLI_MIN_FREE_BYTES")]
    pub min_free_bytes: Option<u64>,
    /// PostgreSQL: connections kept open.
    #[arg(long, global = true, env = "LINLI_DATABASE_POOL_SIZE")]
    pub database_pool_size: Option<usize>,
    /// PostgreSQL: a database call taking longer fails as a storage failure.
    #[arg(long, global = true, env = "LINLI_DATABASE_TIMEOUT_SECS")]
    pub database_timeout_secs: Option<u64>,
    /// PostgreSQL: batches committed together in one transaction, at most.
    #[arg(long, global = true, env = "LINLI_DATABASE_GROUP_MAX")]
    pub database_group_max: Option<usize>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(Box<ServeArgs>),
    /// Manage grids.
    #[command(subcommand)]
    Grid(GridCommand),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Write a consistent copy of the store to FILE (stop the server first, for sled).
    Backup { file: PathBuf },
    /// Restore a backup into an empty store (it appears only once complete).
    Restore { file: PathBuf },
    /// Verify that every stored document and record can be read, and the audit chain.
    Check,
    /// Copy a whole sled store into another (empty) store, e.g. PostgreSQL.
    Copy {
        /// The data directory of the sled store to copy (left unchanged).
        #[arg(long)]
        from: PathBuf,
        /// The target: `postgres://…`, or a data directory for sled.
        #[arg(long)]
        to: SecretUrl,
    },
    /// Create or update the store's schema (PostgreSQL; also done at start).
    Migrate,
    /// Erase a household and every task and episode that names it, everywhere (DESIGN §9):
    /// their histories, projections, alerts, quarantined changes, audit details and the
    /// server's lists that showed them. Stop the server first (with a server running, an
    /// administrator uses `POST /api/households/{id}/erase`).
    Erase {
        /// The household's document id.
        #[arg(long)]
        household: linli_shared::DocumentId,
    },
}

#[derive(Debug, Subcommand)]
pub enum GridCommand {
    /// Add a grid.
    Add {
        id: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user; the password is read from standard input.
    Add {
        #[arg(long)]
        username: String,
        /// admin, coordinator, medic or volunteer.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// Grid the user works in (repeatable).
        #[arg(long = "grid")]
        grids: Vec<String>,
        /// The least zxcvbn score (0-4) the password needs (default 3).
        #[arg(long, env = "LINLI_PASSWORD_MIN_SCORE")]
        password_min_score: Option<u8>,
    },
    /// End every session of a user: their tokens stop working (at the next start, if the
    /// server is stopped; sled stores can only be changed with the server stopped).
    EndSessions {
        #[arg(long)]
        username: String,
    },
}

/// Settings the commands other than `serve` use.
fn store_settings(cli: &Cli, file: Settings) -> Settings {
    let mut s = file;
    if let Some(url) = &cli.database_url {
        s.database_url = Some(url.0.clone());
    }
    if let Some(n) = cli.database_pool_size {
        s.database_pool_size = n;
    }
    if let Some(n) = cli.database_timeout_secs {
        s.database_timeout_secs = n;
    }
    if let Some(n) = cli.database_group_max {
        s.database_group_max = n;
    }
    if let Some(bytes) = cli.min_free_bytes {
        s.min_free_bytes = bytes;
    }
    s
}

/// Flags of `linli serve`; each overrides `LINLI_<NAME>` and the settings file.
#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Seed a demo community into an empty store and print its logins.
    #[arg(long)]
    pub demo: bool,
    #[arg(long, env = "LINLI_BIND")]
    pub bind: Option<SocketAddr>,
    #[arg(long, env = "LINLI_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Option<Vec<String>>,
    #[arg(long, env = "LINLI_TOKEN_TTL_SECS")]
    pub token_ttl_secs: Option<u64>,
    #[arg(long, env = "LINLI_COOKIE_SECURE")]
    pub cookie_secure: Option<bool>,
    #[arg(long, env = "LINLI_MAX_FRAME_BYTES")]
    pub max_frame_bytes: Option<usize>,
    #[arg(long, env = "LINLI_MAX_CHANGE_BYTES")]
    pub max_change_bytes: Option<usize>,
    #[arg(long, env = "LINLI_MAX_DOCUMENT_BYTES")]
    pub max_document_bytes: Option<usize>,
    #[arg(long, env = "LINLI_MAX_MESSAGE_OPS")]
    pub max_message_ops: Option<u64>,
    #[arg(long, env = "LINLI_QUARANTINE_ENTRY_BYTES")]
    pub quarantine_entry_bytes: Option<usize>,
    #[arg(long, env = "LINLI_QUARANTINE_TOTAL_BYTES")]
    pub quarantine_total_bytes: Option<usize>,
    #[arg(long, env = "LINLI_REFERENCE_WAIT_SECS")]
    pub reference_wait_secs: Option<u64>,
    #[arg(long, env = "LINLI_REFERENCE_RETRY_MS")]
    pub reference_retry_ms: Option<u64>,
    #[arg(long, env = "LINLI_MAX_DOCS_IN_MEMORY")]
    pub max_docs_in_memory: Option<usize>,
    #[arg(long, env = "LINLI_DOC_IDLE_SECS")]
    pub doc_idle_secs: Option<u64>,
    #[arg(long, env = "LINLI_MAX_BATCH")]
    pub max_batch: Option<usize>,
    #[arg(long, env = "LINLI_COMPACT_AFTER_CHUNKS")]
    pub compact_after_chunks: Option<usize>,
    #[arg(long, env = "LINLI_MAX_CONNECTIONS_PER_USER")]
    pub max_connections_per_user: Option<usize>,
    #[arg(long, env = "LINLI_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    #[arg(long, env = "LINLI_MAX_MESSAGES_PER_SEC")]
    pub max_messages_per_sec: Option<u32>,
    #[arg(long, env = "LINLI_MESSAGE_BURST")]
    pub message_burst: Option<u32>,
    #[arg(long, env = "LINLI_OUTBOUND_QUEUE")]
    pub outbound_queue: Option<usize>,
    #[arg(long, env = "LINLI_MAX_DOCS_PER_CONNECTION")]
    pub max_docs_per_connection: Option<usize>,
    #[arg(long, env = "LINLI_PING_INTERVAL_SECS")]
    pub ping_interval_secs: Option<u64>,
    #[arg(long, env = "LINLI_LOGIN_ATTEMPTS_PER_MINUTE")]
    pub login_attempts_per_minute: Option<u32>,
    #[arg(long, env = "LINLI_LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE")]
    pub login_attempts_per_address_per_minute: Option<u32>,
    #[arg(long, env = "LINLI_LOGIN_ATTEMPTS_GLOBAL_PER_MINUTE")]
    pub login_attempts_global_per_minute: Option<u32>,
    #[arg(long, env = "LINLI_LOGIN_LOCKOUT_MAX_SECS")]
    pub login_lockout_max_secs: Option<u64>,
    #[arg(long, env = "LINLI_MAX_PASSWORD_CHECKS")]
    pub max_password_checks: Option<usize>,
    /// Reverse proxies whose X-Forwarded-For names the client (addresses or CIDR ranges).
    #[arg(long, env = "LINLI_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Option<Vec<crate::http::client_addr::ProxyRange>>,
    #[arg(long, env = "LINLI_PASSWORD_MIN_SCORE")]
    pub password_min_score: Option<u8>,
    #[arg(long, env = "LINLI_HTTP_WORKERS")]
    pub http_workers: Option<usize>,
    #[arg(long, env = "LINLI_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    #[arg(long, env = "LINLI_RETENTION_DAYS")]
    pub retention_days: Option<u32>,
    #[arg(long, env = "LINLI_EPISODE_GRACE_DAYS")]
    pub episode_grace_days: Option<u32>,
    #[arg(long, env = "LINLI_INDEX_CLOSED_DAYS")]
    pub index_closed_days: Option<u32>,
    #[arg(long, env = "LINLI_INDEX_FLUSH_MS")]
    pub index_flush_ms: Option<u64>,
    #[arg(long, env = "LINLI_SWEEP_SECS")]
    pub sweep_secs: Option<u64>,
    #[arg(long, env = "LINLI_UTC_OFFSET_MINUTES", allow_hyphen_values = true)]
    pub utc_offset_minutes: Option<i32>,
    /// Directory of the built web app (default web/dist).
    #[arg(long, env = "LINLI_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// For tests only: freeze the server's clock at this RFC 3339 instant.
    #[arg(long, env = "LINLI_TEST_CLOCK")]
    pub test_clock: Option<String>,
    #[arg(long, env = "LINLI_STORE_RETRY_SECS")]
    pub store_retry_secs: Option<u64>,
    /// Serve /metrics on this address only (e.g. 127.0.0.1:9090).
    #[arg(long, env = "LINLI_METRICS_BIND")]
    pub metrics_bind: Option<SocketAddr>,
}

impl ServeArgs {
    /// Layers flags and environment (already merged by clap) over the file settings.
    pub fn apply(&self, mut s: Settings) -> Settings {
        macro_rules! layer {
            ($($field:ident),*) => { $( if let Some(v) = self.$field.clone() { s.$field = v; } )* };
        }
        layer!(
            bind,
            allowed_origins,
            token_ttl_secs,
            cookie_secure,
            max_frame_bytes,
            max_change_bytes,
            max_document_bytes,
            max_message_ops,
            quarantine_entry_bytes,
            quarantine_total_bytes,
            reference_wait_secs,
            reference_retry_ms,
            max_docs_in_memory,
            doc_idle_secs,
            max_batch,
            compact_after_chunks,
            max_connections_per_user,
            max_connections,
            max_messages_per_sec,
            message_burst,
            outbound_queue,
            max_docs_per_connection,
            ping_interval_secs,
            login_attempts_per_minute,
            login_attempts_per_address_per_minute,
            login_attempts_global_per_minute,
            login_lockout_max_secs,
            max_password_checks,
            trusted_proxies,
            password_min_score,
            http_workers,
            log_format,
            retention_days,
            episode_grace_days,
            index_closed_days,
            index_flush_ms,
            sweep_secs,
            utc_offset_minutes,
            store_retry_secs
        );
        if let Some(dir) = &self.web_dir {
            s.web_dir = Some(dir.clone());
        }
        if let Some(instant) = &self.test_clock {
            s.test_clock = Some(instant.clone());
        }
        if let Some(addr) = self.metrics_bind {
            s.metrics_bind = Some(addr);
        }
        // The signing key is taken from the environment only: flags show up in `ps`.
        if let Ok(secret) = std::env::var("LINLI_JWT_SECRET") {
            s.jwt_secret = Some(secret);
        }
        if let Ok(token) = std::env::var("LINLI_METRICS_TOKEN") {
            s.metrics_token = Some(token);
        }
        s
    }
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse().map_err(|e: linli_shared::domain::UnknownName| format!("{e} (admin, coordinator, medic or volunteer)"))
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    // The data directory and every file the server writes hold the signing key, password
    // hashes and health data: nobody else on the machine may read them.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let file_settings = store_settings(&cli, Settings::from_file(cli.config.as_deref())?);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Command::Serve(ref args) => {
            let settings = args.apply(file_settings);
            settings.validate()?;
            crate::telemetry::init(settings.log_format);
            runtime.block_on(serve(settings, &cli.data, args.demo))
        }
        command => runtime.block_on(run_command(command, &cli.data, file_settings)),
    }
}

async fn run_command(command: Command, data: &Path, settings: Settings) -> anyhow::Result<()> {
    let engine = settings.engine(data);
    let options = settings.open_options(Arc::new(Metrics::new()));
    match command {
        Command::Serve(_) => unreachable!("handled by run"),
        Command::Grid(GridCommand::Add { id, name }) => {
            let store = open(&engine, &settings, &options).await?;
            let grid = crate::grids::add(&store, &id, &name).await?;
            println!("grid {} ({}) added", grid.id, grid.name);
            Ok(())
        }
        Command::User(UserCommand::Add { username, role, grids, password_min_score }) => {
            let settings =
                Settings { password_min_score: password_min_score.unwrap_or(settings.password_min_score), ..settings };
            settings.validate()?;
            let store = open(&engine, &settings, &options).await?;
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password).context("reading the password from stdin")?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            let users = Users::new(store).with_password_policy(settings.password_policy());
            let user = users.add(NewUser { username, password, role, grids }).await?;
            println!("user {} ({}) added with id {}", user.username, user.role, user.id);
            Ok(())
        }
        Command::User(UserCommand::EndSessions { username }) => {
            let store = open(&engine, &settings, &options).await?;
            let user = Users::new(store.clone())
                .by_username(&username)
                .await?
                .with_context(|| format!("no user `{username}`"))?;
            let mark = crate::auth::tokens::end_all_sessions(&store, &user.id).await?;
            let audited = crate::store::AuditEntry {
                at: store.now_ms(),
                user: crate::auth::OPERATOR.to_owned(),
                action: "user.end_sessions".to_owned(),
                doc: None,
                detail: user.id.clone(),
            };
            store.commit(vec![mark, crate::store::Write::Audit(audited)]).await?;
            println!("every session of {} ({}) ended: their tokens are refused from now on", user.username, user.id);
            Ok(())
        }
        Command::Backup { file } => {
            let read = crate::store::open_for_reading(&engine, &options).await?;
            let c = export::backup(read.engine.as_ref(), &file).await?;
            println!("backed up {c} to {}", file.display());
            Ok(())
        }
        Command::Restore { file } => {
            let c = restore(&engine, &file, &options).await?;
            println!("restored {c} into {}", engine.describe());
            Ok(())
        }
        Command::Check => {
            let read = crate::store::open_for_reading(&engine, &options).await?;
            let r = export::check(read.engine.as_ref()).await?;
            println!(
                "{} documents ({} chunks, {} bytes), {} users, {} grids, {} audit entries",
                r.documents, r.chunks, r.bytes, r.users, r.grids, r.audit_entries
            );
            if r.problems.is_empty() {
                println!("store OK");
                Ok(())
            } else {
                for p in &r.problems {
                    println!("DAMAGED {p}");
                }
                bail!("{} problems found", r.problems.len())
            }
        }
        Command::Copy { from, to: SecretUrl(to) } => {
            let source = crate::store::open_for_reading(&EngineChoice::Sled(from.clone()), &options).await?;
            let target = EngineChoice::from_settings(
                Path::new(&to),
                Some(&to).filter(|t| t.contains("://")).map(|t| t.as_str()),
            );
            let target = crate::store::open_for_writing(&target, &options).await?;
            let c = export::copy(source.engine.as_ref(), target.as_ref()).await?;
            println!("copied {c} from {} to {}", from.display(), crate::store::redact_url(&to));
            Ok(())
        }
        Command::Erase { household } => {
            let store = open(&engine, &settings, &options).await?;
            let plan = crate::projector::erasure::plan_household(&store, household, crate::auth::OPERATOR).await?;
            let n = plan.erased.len();
            crate::projector::erasure::apply_offline(&store, plan).await?;
            println!("erased household {household} and {} documents that named it", n - 1);
            // The erased bytes leave sled's files only in a rewritten copy of the store.
            store.engine().close().await?;
            drop(store);
            if let EngineChoice::Sled(dir) = &engine {
                match crate::store::vacuum::vacuum_sled(dir, options.sled()).await {
                    Ok(_) => println!("vacuumed the store: the erased data is gone from its files"),
                    Err(e) => eprintln!("the store could not be vacuumed yet ({e}); `linli serve` will try again"),
                }
            }
            Ok(())
        }
        Command::Migrate => {
            let store = crate::store::open_for_writing(&engine, &options).await?;
            println!("the {} store at {} is up to date", store.name(), engine.describe());
            Ok(())
        }
    }
}

/// Opens the store for writing, on the server's clock.
async fn open(
    engine: &EngineChoice,
    settings: &Settings,
    options: &crate::store::OpenOptions,
) -> anyhow::Result<Store> {
    Ok(Store::new(crate::store::open_for_writing(engine, options).await?, settings.clock()?))
}

/// Restores `file` into the store `engine`, which must be empty. For sled, the store is
/// built in a staging directory beside the target and moved into place only when
/// complete: a restore that fails (a full disk) leaves no partial store behind, and can
/// simply be tried again.
async fn restore(
    engine: &EngineChoice,
    file: &Path,
    options: &crate::store::OpenOptions,
) -> anyhow::Result<export::Counts> {
    // The whole file is checked (its checksum) before anything is written.
    let records = export::read_backup(file)?;
    match engine {
        EngineChoice::Sled(data) => {
            let store = data.join("store");
            if store.exists() && std::fs::read_dir(&store)?.next().is_some() {
                bail!("{} already holds a store; restore only into an empty data directory", data.display());
            }
            crate::store::private_dir(data)?;
            let staging = tempfile::Builder::new().prefix(".restore-").tempdir_in(data)?;
            let counts = {
                let target = crate::store::SledEngine::open(staging.path(), options.sled()).await?;
                export::import(&target, records).await?
            };
            if store.exists() {
                std::fs::remove_dir(&store).with_context(|| format!("removing the empty {}", store.display()))?;
            }
            std::fs::rename(staging.path().join("store"), &store).context("moving the restored store into place")?;
            std::fs::File::open(data)?.sync_all()?;
            Ok(counts)
        }
        EngineChoice::Postgres(_) => {
            let target = crate::store::open_for_writing(engine, options).await?;
            export::import(target.as_ref(), records).await
        }
    }
}

/// Every socket costs the server file descriptors (two: the connection and the handle that
/// can cut off a peer that stops reading), and so does the store: a community's phones
/// must not exhaust the soft limit (often 1024) while the hard limit allows far more.
fn raise_open_files_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    if let Some(hard) = limit.maximum {
        if limit.current.is_some_and(|soft| soft < hard) {
            match setrlimit(Resource::Nofile, Rlimit { current: Some(hard), maximum: Some(hard) }) {
                Ok(()) => tracing::info!(open_files = hard, "raised the open-files limit"),
                Err(e) => tracing::warn!(error = %e, "could not raise the open-files limit"),
            }
        }
    }
}

async fn serve(settings: Settings, data: &Path, demo: bool) -> anyhow::Result<()> {
    raise_open_files_limit();
    let metrics = Arc::new(Metrics::new());
    let engine =
        crate::store::open_for_writing(&settings.engine(data), &settings.open_options(metrics.clone())).await?;
    let store = Store::new(engine, settings.clock()?);
    if let Some(instant) = &settings.test_clock {
        tracing::warn!(%instant, "TEST CLOCK: the server's clock stands still (never use this in production)");
    }
    let logins = if demo { crate::demo::seed(&store).await? } else { Vec::new() };
    let seeded = if demo {
        let peer = crate::startup::server_peer(&store).await?;
        let actor = crate::sync::hub::server_actor_for(peer.as_str().as_bytes());
        crate::demo::seed_documents(&store, &actor, settings.utc_offset_minutes).await?
    } else {
        Vec::new()
    };
    let app = crate::startup::Application::build_with_store(&settings, store, metrics).await?;
    // The projector indexes the demo documents as if they had just been synced.
    for (id, doc) in seeded {
        app.state().projector.changed(id, doc);
    }
    let addr = app.addr();
    tracing::info!(%addr, store = %settings.engine(data).describe(), "linli serving");
    if let Some(metrics) = app.metrics_addr() {
        // Printed before the listening line, which tests and scripts wait for.
        println!("linli metrics on http://{metrics}/metrics");
    }
    // Tests and scripts wait for this exact line on stdout.
    println!("linli listening on http://{addr}");
    println!("Open {} in a browser: the phone app (add it to the home screen to use it offline).", browser_url(addr));
    if !logins.is_empty() {
        crate::demo::print_logins(&logins, addr);
    }
    app.run_until_stopped().await?;
    Ok(())
}

/// The address a browser on this machine opens: a server bound to every interface
/// (`0.0.0.0`, `::`) is reached on the loopback address.
fn browser_url(addr: std::net::SocketAddr) -> String {
    let ip = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/", std::net::SocketAddr::new(ip, addr.port()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_browser_is_sent_to_an_address_it_can_open() {
        assert_eq!(browser_url("0.0.0.0:8080".parse().unwrap()), "http://127.0.0.1:8080/");
        assert_eq!(browser_url("[::]:8080".parse().unwrap()), "http://[::1]:8080/");
        assert_eq!(browser_url("192.168.1.5:80".parse().unwrap()), "http://192.168.1.5:80/");
    }

    #[test]
    fn the_command_line_never_shows_a_database_password() {
        let cli = Cli::try_parse_from([
            "linli",
            "--database-url",
            "postgres://linli:first-secret@db/linli",
            "copy",
            "--from",
            "./data",
            "--to",
            "postgres://linli:second-secret@db/other",
        ])
        .unwrap();
        let shown = format!("{cli:?}");
        assert!(!shown.contains("first-secret") && !shown.contains("second-secret"), "{shown}");
        assert_eq!(
            store_settings(&cli, Settings::default()).database_url.as_deref(),
            Some("postgres://linli:first-secret@db/linli")
        );
    }
}
