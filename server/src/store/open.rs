//! Choosing and opening an engine: sled in `--data DIR` (the default) or PostgreSQL at
//! `--database-url`. Commands that only read (`linli check`, `linli backup`, the source
//! of `linli copy`) never open a sled store for writing: sled's own recovery rewrites
//! part of a store when it opens it, which on a full disk destroys it. They open a copy
//! made in a scratch directory (`TMPDIR`), and the original is left exactly as it was.

use super::kv::sled::{free_bytes, private_dir, SledOpenError, SledOptions};
use super::postgres::{PgEngine, PgOpenError, PgOptions, SchemaUse};
use super::{Engine, SharedEngine, SledEngine};
use crate::metrics::Metrics;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Which engine holds the store. `Debug` shows a URL without its password.
#[derive(Clone, PartialEq, Eq)]
pub enum EngineChoice {
    /// sled in this data directory (the store lives in `DIR/store`).
    Sled(PathBuf),
    /// PostgreSQL at this URL.
    Postgres(String),
}

impl EngineChoice {
    /// `postgres://…` or `postgresql://…` selects PostgreSQL; otherwise sled in `data`.
    pub fn from_settings(data: &Path, database_url: Option<&str>) -> Self {
        match database_url.filter(|u| !u.trim().is_empty()) {
            Some(url) => EngineChoice::Postgres(url.to_owned()),
            None => EngineChoice::Sled(data.to_path_buf()),
        }
    }

    /// For messages: the directory, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            EngineChoice::Sled(dir) => dir.display().to_string(),
            EngineChoice::Postgres(url) => redact_url(url),
        }
    }
}

impl std::fmt::Debug for EngineChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineChoice::Sled(dir) => f.debug_tuple("Sled").field(dir).finish(),
            EngineChoice::Postgres(url) => f.debug_tuple("Postgres").field(&redact_url(url)).finish(),
        }
    }
}

/// A database URL (or a directory) as given on the command line: `Debug` shows it
/// without its password.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(pub String);

impl std::fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SecretUrl").field(&redact_url(&self.0)).finish()
    }
}

impl std::str::FromStr for SecretUrl {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(SecretUrl(s.to_owned()))
    }
}

/// A database URL with its password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme + 3], &userinfo[..colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Why a store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Sled(#[from] SledOpenError),
    #[error("no store in {0}")]
    Missing(String),
    #[error(
        "cannot copy the store to read it without writing to it: {0} (set TMPDIR to a directory on a disk with room \
         for a copy)"
    )]
    Scratch(String),
    #[error("cannot open the PostgreSQL store at {url}: {cause}")]
    Postgres { url: String, cause: PgOpenError },
}

/// How engines are opened.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    pub min_free_bytes: u64,
    pub metrics: Arc<Metrics>,
    /// PostgreSQL: connections kept open.
    pub database_pool_size: usize,
    /// PostgreSQL: a call taking longer fails as a storage failure.
    pub database_timeout: std::time::Duration,
    /// PostgreSQL: batches committed together in one transaction, at most.
    pub database_group_max: usize,
}

impl Default for OpenOptions {
    fn default() -> Self {
        let pg = PgOptions::default();
        OpenOptions {
            min_free_bytes: super::kv::sled::DEFAULT_MIN_FREE_BYTES,
            metrics: Arc::new(Metrics::new()),
            database_pool_size: pg.pool_size,
            database_timeout: pg.timeout,
            database_group_max: pg.group_max,
        }
    }
}

impl OpenOptions {
    pub fn sled(&self) -> SledOptions {
        let metrics = self.metrics.clone();
        SledOptions {
            min_free_bytes: self.min_free_bytes,
            observe: Arc::new(move |latency, served| {
                metrics.flush_seconds.observe(latency.as_secs_f64());
                metrics.commits_per_flush.observe(served as f64);
            }),
        }
    }

    /// The PostgreSQL engine's options; a group commit counts as a flush in the metrics.
    pub fn postgres(&self) -> PgOptions {
        let metrics = self.metrics.clone();
        PgOptions {
            pool_size: self.database_pool_size,
            timeout: self.database_timeout,
            group_max: self.database_group_max,
            observe: Arc::new(move |latency, served| {
                metrics.flush_seconds.observe(latency.as_secs_f64());
                metrics.commits_per_flush.observe(served as f64);
            }),
        }
    }
}

async fn open_postgres(url: &str, options: &OpenOptions, schema: SchemaUse) -> Result<SharedEngine, OpenError> {
    match PgEngine::open(url, options.postgres(), schema).await {
        Ok(engine) => Ok(Arc::new(engine)),
        Err(cause) => Err(OpenError::Postgres { url: redact_url(url), cause }),
    }
}

/// Opens the store to serve it (creating it if needed). A sled store marked by an erasure
/// is vacuumed first ([`super::vacuum`]); if that fails, the store is opened as it is.
pub async fn open_for_writing(choice: &EngineChoice, options: &OpenOptions) -> Result<SharedEngine, OpenError> {
    match choice {
        EngineChoice::Sled(dir) => {
            let engine = SledEngine::open(dir, options.sled()).await?;
            if !super::vacuum::needed(&engine).await.unwrap_or(false) {
                return Ok(Arc::new(engine));
            }
            let closed = engine.close().await;
            drop(engine);
            match closed.map_err(anyhow::Error::from) {
                Ok(()) => match super::vacuum::vacuum_sled(dir, options.sled()).await {
                    Ok(counts) => tracing::info!(%counts, "vacuumed the store: erased data is gone from its files"),
                    Err(e) => {
                        tracing::warn!(error = %e, "could not vacuum the store after an erasure; will try again at the next start")
                    }
                },
                Err(e) => tracing::warn!(error = %e, "could not close the store to vacuum it"),
            }
            Ok(Arc::new(super::vacuum::reopen(dir, options.sled()).await?))
        }
        EngineChoice::Postgres(url) => open_postgres(url, options, SchemaUse::Migrate).await,
    }
}

/// An engine opened only to be read; for sled, on a copy that is removed when this is
/// dropped, while the original stays locked (no server can start on it meanwhile).
#[derive(Debug)]
pub struct ReadOnly {
    pub engine: SharedEngine,
    _scratch: Option<tempfile::TempDir>,
    _lock: Option<std::fs::File>,
}

/// Takes sled's own lock on the store (an exclusive `flock` of its `db` file), so the
/// copy is not torn by a server writing meanwhile, and a running server is reported.
fn lock_store(dir: &Path) -> Result<std::fs::File, OpenError> {
    let file = std::fs::File::open(dir.join("store").join("db")).map_err(|e| OpenError::Scratch(e.to_string()))?;
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(file),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(SledOpenError::InUse(dir.display().to_string()).into()),
        Err(e) => Err(OpenError::Scratch(format!("cannot lock the store: {e}"))),
    }
}

/// Opens an existing store to read it, never writing to the original.
pub async fn open_for_reading(choice: &EngineChoice, options: &OpenOptions) -> Result<ReadOnly, OpenError> {
    match choice {
        EngineChoice::Sled(dir) => {
            let store = dir.join("store");
            if !store.join("db").exists() {
                return Err(OpenError::Missing(dir.display().to_string()));
            }
            let lock = lock_store(dir)?;
            let scratch = tempfile::Builder::new()
                .prefix("linli-read-")
                .tempdir()
                .map_err(|e| OpenError::Scratch(e.to_string()))?;
            let copy = scratch.path().join("data");
            let size = dir_size(&store).map_err(|e| OpenError::Scratch(e.to_string()))?;
            if let Ok(free) = free_bytes(scratch.path()) {
                if free < size.saturating_add(options.min_free_bytes) {
                    return Err(OpenError::Scratch(format!(
                        "{} needs {} MiB and {} MiB are free",
                        scratch.path().display(),
                        (size + options.min_free_bytes) / (1024 * 1024),
                        free / (1024 * 1024)
                    )));
                }
            }
            private_dir(&copy).map_err(|e| OpenError::Scratch(e.to_string()))?;
            copy_dir(&store, &copy.join("store")).map_err(|e| OpenError::Scratch(e.to_string()))?;
            let engine = SledEngine::open(&copy, options.sled()).await?;
            Ok(ReadOnly { engine: Arc::new(engine), _scratch: Some(scratch), _lock: Some(lock) })
        }
        // A database is read as it is, without migrating it.
        EngineChoice::Postgres(url) => {
            Ok(ReadOnly { engine: open_postgres(url, options, SchemaUse::Require).await?, _scratch: None, _lock: None })
        }
    }
}

pub(crate) fn dir_size(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        total += if entry.file_type()?.is_dir() { dir_size(&entry.path())? } else { entry.metadata()?.len() };
    }
    Ok(total)
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    private_dir(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_a_database_password() {
        let url = "postgres://linli:s3cret@db/linli";
        assert!(!format!("{:?}", EngineChoice::Postgres(url.into())).contains("s3cret"));
        assert!(!format!("{:?}", SecretUrl(url.into())).contains("s3cret"));
    }

    #[test]
    fn urls_lose_their_password_in_messages() {
        assert_eq!(redact_url("postgres://linli:s3cret@db:5432/linli"), "postgres://linli:***@db:5432/linli");
        assert_eq!(redact_url("postgres://db/linli"), "postgres://db/linli");
        assert_eq!(redact_url("postgres://linli@db/linli"), "postgres://linli@db/linli");
    }
}
