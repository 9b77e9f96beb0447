//! The `linli` command line (DESIGN §7). Every command takes `--data DIR`.

use crate::auth::{NewUser, Role, Users};
use crate::config::{LogFormat, Settings};
use crate::db::Db;
use crate::metrics::Metrics;
use anyhow::Context;
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
    /// Write a consistent copy of the store to FILE (stop the server first).
    Backup { file: PathBuf },
    /// Restore a backup into an empty data directory.
    Restore { file: PathBuf },
    /// Verify that every stored document and record can be read.
    Check,
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
    },
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
    #[arg(long, env = "LINLI_HTTP_WORKERS")]
    pub http_workers: Option<usize>,
    #[arg(long, env = "LINLI_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    #[arg(long, env = "LINLI_RETENTION_DAYS")]
    pub retention_days: Option<u32>,
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
            max_docs_in_memory,
            doc_idle_secs,
            max_batch,
            compact_after_chunks,
            max_connections_per_user,
            max_messages_per_sec,
            message_burst,
            outbound_queue,
            max_docs_per_connection,
            ping_interval_secs,
            login_attempts_per_minute,
            http_workers,
            log_format,
            retention_days,
            index_closed_days,
            index_flush_ms,
            sweep_secs,
            utc_offset_minutes
        );
        if let Some(dir) = &self.web_dir {
            s.web_dir = Some(dir.clone());
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
    let file_settings = Settings::from_file(cli.config.as_deref())?;
    match cli.command {
        Command::Serve(args) => {
            let settings = args.apply(file_settings);
            settings.validate()?;
            crate::telemetry::init(settings.log_format);
            serve(settings, &cli.data, args.demo)
        }
        Command::Grid(GridCommand::Add { id, name }) => {
            let db = open(&cli.data)?;
            let grid = crate::grids::add(&db, &id, &name)?;
            println!("grid {} ({}) added", grid.id, grid.name);
            Ok(())
        }
        Command::User(UserCommand::Add { username, role, grids }) => {
            let db = open(&cli.data)?;
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password).context("reading the password from stdin")?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            let user = Users::new(db).add(NewUser { username, password, role, grids })?;
            println!("user {} ({}) added with id {}", user.username, user.role, user.id);
            Ok(())
        }
        Command::Backup { file } => {
            let c = crate::backup::backup(&cli.data, &file)?;
            println!("backed up {} entries in {} trees to {}", c.entries, c.trees, file.display());
            Ok(())
        }
        Command::Restore { file } => {
            let c = crate::backup::restore(&cli.data, &file)?;
            println!("restored {} entries in {} trees into {}", c.entries, c.trees, cli.data.display());
            Ok(())
        }
        Command::Check => {
            let r = crate::backup::check(&cli.data)?;
            println!(
                "{} documents ({} chunks, {} bytes), {} users, {} grids",
                r.documents, r.chunks, r.bytes, r.users, r.grids
            );
            if r.unreadable.is_empty() {
                println!("store OK");
                Ok(())
            } else {
                for u in &r.unreadable {
                    println!("UNREADABLE {u}");
                }
                anyhow::bail!("{} problems found", r.unreadable.len())
            }
        }
    }
}

fn open(data: &Path) -> anyhow::Result<Db> {
    Ok(Db::open(data, Arc::new(Metrics::new()))?)
}

fn serve(settings: Settings, data: &Path, demo: bool) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let metrics = Arc::new(Metrics::new());
        let db = Db::open(data, metrics.clone())?;
        let logins = if demo { crate::demo::seed(&db)? } else { Vec::new() };
        let seeded = if demo {
            let peer = crate::startup::server_peer(&db)?;
            let actor = crate::sync::hub::server_actor_for(peer.as_str().as_bytes());
            crate::demo::seed_documents(&db, &actor, settings.utc_offset_minutes)?
        } else {
            Vec::new()
        };
        let app = crate::startup::Application::build_with_db(&settings, db, metrics)?;
        // The projector indexes the demo documents as if they had just been synced.
        for (id, doc) in seeded {
            app.state().projector.changed(id, doc);
        }
        let addr = app.addr();
        tracing::info!(%addr, data = %data.display(), "linli serving");
        if let Some(metrics) = app.metrics_addr() {
            // Printed before the listening line, which tests and scripts wait for.
            println!("linli metrics on http://{metrics}/metrics");
        }
        // Tests and scripts wait for this exact line on stdout.
        println!("linli listening on http://{addr}");
        if !logins.is_empty() {
            crate::demo::print_logins(&logins, addr);
        }
        app.run_until_stopped().await?;
        Ok(())
    })
}
