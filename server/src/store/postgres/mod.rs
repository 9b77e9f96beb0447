//! The PostgreSQL engine: every store trait on tokio-postgres with a deadpool-postgres
//! pool, selected by `--database-url postgres://…`.
//!
//! - **Schema** ([`schema`]): migrated at open and by `linli migrate`; plain SQL that
//!   PostgreSQL-compatible distributed engines run too.
//! - **Writes** go through [`Engine::commit`] to one committer task ([`committer`]) that
//!   runs every batch queued meanwhile in one transaction (group commit) and answers each
//!   only after `COMMIT` returned. Every connection runs with `synchronous_commit = on`
//!   (see [`PgOptions`]), so a returned `COMMIT` is on the database's disk.
//! - **The audit chain** is appended under a row lock of `linli_audit_head`, so appends
//!   are serialised by the database (several servers on one database too), with the same
//!   hashes as the key-value engines ([`crate::store::chain`]).
//! - **Failure**: a lost connection, a database that shut down or ran out of disk, or a
//!   call that takes longer than `database_timeout_secs` makes the engine
//!   [`Health::Failing`]: it refuses every call until [`Engine::recover`] reconnects. A
//!   database's refusal of one batch's data fails that batch alone.
//!
//! Reads take a pooled connection each. `Debug` and every message name the database by
//! its URL without the password ([`redact_url`]).

mod committer;
mod plan;
mod reads;
pub(crate) mod schema;

use super::chain::AuditHead;
use super::{redact_url, BulkImport, Health, StoreError, Write};
use committer::Job;
use deadpool_postgres::tokio_postgres::error::SqlState;
use deadpool_postgres::tokio_postgres::{self, NoTls};
use deadpool_postgres::{Client, Hook, HookError, Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

pub use schema::Migrated;

/// How the PostgreSQL engine connects and commits.
#[derive(Clone)]
pub struct PgOptions {
    /// Connections kept open (reads share them; the committer uses one at a time).
    pub pool_size: usize,
    /// Any call to the database taking longer fails as a storage failure (and the
    /// database aborts a statement running longer: `statement_timeout`).
    pub timeout: Duration,
    /// Batches committed together in one transaction, at most.
    pub group_max: usize,
    /// Told each group commit's latency and how many batches it served (metrics).
    pub observe: Arc<dyn Fn(Duration, u64) + Send + Sync>,
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("pool_size", &self.pool_size)
            .field("timeout", &self.timeout)
            .field("group_max", &self.group_max)
            .finish_non_exhaustive()
    }
}

impl Default for PgOptions {
    fn default() -> Self {
        PgOptions {
            pool_size: DEFAULT_POOL_SIZE,
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            group_max: DEFAULT_GROUP_MAX,
            observe: Arc::new(|_, _| {}),
        }
    }
}

pub const DEFAULT_POOL_SIZE: usize = 8;
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;
pub const DEFAULT_GROUP_MAX: usize = 256;

/// Whether opening may change the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaUse {
    /// Apply the migrations this build knows (serving, `linli migrate`, restore, copy).
    Migrate,
    /// Only check that the schema is current (`linli check`, `linli backup`).
    Require,
}

/// What went wrong talking to the database.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum PgError {
    /// The database cannot be used (unreachable, shut down, out of disk, timed out…).
    #[error("{0}")]
    Down(String),
    /// The database refused this statement's data: the batch fails alone.
    #[error("the database refused the write: {0}")]
    Refused(String),
    /// A conflict the database reports as retryable (a serialisation failure).
    #[error("{0}")]
    Retry(String),
    #[error("{0}")]
    Schema(String),
}

/// What an error of the driver means for the engine. The message names the database's
/// reason, never the row's data (a DETAIL may quote key values).
pub(crate) fn classify(e: tokio_postgres::Error) -> PgError {
    let text = match e.as_db_error() {
        Some(db) => format!("PostgreSQL: {}: {}", db.severity(), db.message()),
        None => {
            let mut s = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                s.push_str(": ");
                s.push_str(&cause.to_string());
                source = cause.source();
            }
            s
        }
    };
    match e.code() {
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED => {
            PgError::Retry(text)
        }
        // Data exceptions and integrity violations belong to the statement, not the database.
        Some(c) if c.code().starts_with("22") || c.code().starts_with("23") => PgError::Refused(text),
        _ => PgError::Down(text),
    }
}

fn pool_error(e: PoolError) -> PgError {
    match e {
        PoolError::Backend(e) => classify(e),
        PoolError::PostCreateHook(HookError::Backend(e)) => classify(e),
        PoolError::PostCreateHook(HookError::Message(m)) => PgError::Down(m.into_owned()),
        PoolError::Timeout(_) => PgError::Down("no connection to the database within the timeout".into()),
        e => PgError::Down(e.to_string()),
    }
}

/// State shared by the engine, its committer and its bulk imports.
struct Shared {
    pool: Pool,
    /// The URL without its password, for messages.
    url: String,
    options: PgOptions,
    schema: SchemaUse,
    /// Why the engine is failing, while it is.
    failing: Mutex<Option<String>>,
}

impl Shared {
    fn refuse_if_failing(&self) -> Result<(), StoreError> {
        match self.failing.lock().as_ref() {
            Some(reason) => Err(StoreError::Unavailable(reason.clone())),
            None => Ok(()),
        }
    }

    /// Turns an error into the store's, failing the engine if the database is unusable.
    fn fail(&self, e: PgError) -> StoreError {
        match e {
            PgError::Down(reason) | PgError::Retry(reason) | PgError::Schema(reason) => {
                let mut failing = self.failing.lock();
                if failing.is_none() {
                    tracing::error!(
                        database = %self.url, error = %reason,
                        "the database failed: no change is acknowledged until it is back"
                    );
                    *failing = Some(reason.clone());
                }
                StoreError::Unavailable(failing.clone().unwrap_or(reason))
            }
            PgError::Refused(reason) => {
                tracing::error!(database = %self.url, error = %reason, "the database refused a batch");
                StoreError::Unavailable(format!("the database refused the write: {reason}"))
            }
        }
    }

    /// A pooled connection, within the timeout.
    async fn client(&self) -> Result<Client, PgError> {
        match tokio::time::timeout(self.options.timeout, self.pool.get()).await {
            Ok(got) => got.map_err(pool_error),
            Err(_) => Err(PgError::Down("no connection to the database within the timeout".into())),
        }
    }
}

/// Every store trait, in PostgreSQL. See the module docs.
pub struct PgEngine {
    shared: Arc<Shared>,
    jobs: tokio::sync::mpsc::Sender<Job>,
}

impl std::fmt::Debug for PgEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgEngine")
            .field("url", &self.shared.url)
            .field("options", &self.shared.options)
            .field("failing", &*self.shared.failing.lock())
            .finish_non_exhaustive()
    }
}

/// Why the PostgreSQL engine could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum PgOpenError {
    #[error("invalid database URL: {0}")]
    Url(String),
    #[error("{0}")]
    Connect(String),
    #[error("{0}")]
    Schema(String),
}

/// The `synchronous_commit` this engine runs with: `on`, unless the database is set to
/// the stronger `remote_apply` (which is kept).
async fn enforce_synchronous_commit(
    client: &tokio_postgres::Client,
    timeout: Duration,
) -> Result<(), tokio_postgres::Error> {
    let current: String = client.query_one("SHOW synchronous_commit", &[]).await?.get(0);
    let mut set = String::new();
    if current != "on" && current != "remote_apply" {
        set.push_str("SET synchronous_commit TO on; ");
    }
    set.push_str(&format!("SET statement_timeout TO {}", timeout.as_millis()));
    client.batch_execute(&set).await
}

impl PgEngine {
    /// Connects to the database at `url`, checks or migrates its schema (as `schema`
    /// says) and starts the committer.
    pub async fn open(url: &str, options: PgOptions, schema: SchemaUse) -> Result<Self, PgOpenError> {
        let redacted = redact_url(url);
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e: tokio_postgres::Error| PgOpenError::Url(format!("{redacted}: {e}")))?;
        if config.get_application_name().is_none() {
            config.application_name("linli");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(options.timeout);
        }
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let timeout = options.timeout;
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(2))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(timeout))
            .create_timeout(Some(timeout))
            .recycle_timeout(Some(timeout))
            .post_create(Hook::async_fn(move |client, _| {
                Box::pin(async move { enforce_synchronous_commit(client, timeout).await.map_err(HookError::Backend) })
            }))
            .build()
            .map_err(|e| PgOpenError::Connect(e.to_string()))?;
        let shared =
            Arc::new(Shared { pool, url: redacted, options: options.clone(), schema, failing: Mutex::new(None) });
        let mut client = shared.client().await.map_err(|e| PgOpenError::Connect(e.to_string()))?;
        match schema {
            SchemaUse::Migrate => {
                let done = schema::migrate(&mut client).await.map_err(|e| PgOpenError::Schema(e.to_string()))?;
                if !done.applied.is_empty() {
                    tracing::info!(database = %shared.url, applied = ?done.applied, "schema migrated");
                }
            }
            SchemaUse::Require => {
                schema::require_current(&client).await.map_err(|e| PgOpenError::Schema(e.to_string()))?
            }
        }
        drop(client);
        let jobs = committer::start(shared.clone());
        Ok(PgEngine { shared, jobs })
    }

    /// The database's URL without its password.
    pub fn url(&self) -> &str {
        &self.shared.url
    }

    /// Runs one statement on a pooled connection (outside the committer: a write is
    /// autocommitted, durable when this returns since `synchronous_commit` is on).
    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<tokio_postgres::Row>, StoreError> {
        self.shared.refuse_if_failing()?;
        let run = async {
            let client = self.shared.client().await?;
            let stmt = client.prepare_cached(sql).await.map_err(classify)?;
            client.query(&stmt, params).await.map_err(classify)
        };
        match tokio::time::timeout(self.shared.options.timeout, run).await {
            Ok(Ok(rows)) => Ok(rows),
            Ok(Err(e)) => Err(self.shared.fail(e)),
            Err(_) => Err(self.shared.fail(PgError::Down("the database did not answer within the timeout".into()))),
        }
    }
}

#[async_trait::async_trait]
impl super::Engine for PgEngine {
    async fn commit(&self, batch: Vec<Write>) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.shared.refuse_if_failing()?;
        let (done, answer) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Job { batch, done })
            .await
            .map_err(|_| StoreError::Unavailable("the committer has stopped".into()))?;
        answer.await.unwrap_or_else(|_| Err(StoreError::Unavailable("the committer has stopped".into())))
    }

    fn health(&self) -> Health {
        match self.shared.failing.lock().as_ref() {
            Some(reason) => Health::Failing(reason.clone()),
            None => Health::Ok,
        }
    }

    async fn recover(&self) -> Result<(), StoreError> {
        if self.shared.failing.lock().is_none() {
            return Ok(());
        }
        // Connections to a database that went away are of no use: open fresh ones.
        self.shared.pool.retain(|_, _| false);
        let shared = &self.shared;
        let attempt = async {
            let mut client = shared.client().await?;
            match shared.schema {
                SchemaUse::Migrate => schema::migrate(&mut client).await.map(|_| ()),
                SchemaUse::Require => schema::require_current(&client).await,
            }
        };
        match tokio::time::timeout(shared.options.timeout, attempt).await {
            Ok(Ok(())) => {
                *shared.failing.lock() = None;
                tracing::info!(database = %shared.url, "the database is back");
                Ok(())
            }
            Ok(Err(e)) => Err(StoreError::Unavailable(e.to_string())),
            Err(_) => Err(StoreError::Unavailable("the database did not answer within the timeout".into())),
        }
    }

    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn bulk_import(&self) -> Result<Option<Box<dyn BulkImport>>, StoreError> {
        self.shared.refuse_if_failing()?;
        let bulk = committer::Bulk::begin(self.shared.clone()).await.map_err(|e| self.shared.fail(e))?;
        Ok(Some(Box::new(bulk)))
    }
}

/// The chain's head as the database keeps it (read under its row lock).
fn head_from_row(row: &tokio_postgres::Row) -> AuditHead {
    AuditHead { seq: plan::unbig(row.get(0)), hash: row.get(1) }
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
