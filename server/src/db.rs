//! The server's sled database: one directory, several trees, one group commit.
//!
//! Trees (DESIGN §8): `docs` (document chunks, behind [`DocStore`](crate::store::DocStore)),
//! `meta` (storage id, signing key), `users`, `usernames`, `grids`, `sessions`
//! (revoked tokens). sled is opened once per process; a second process on the same
//! directory (e.g. `linli backup` while the server runs) gets a clear "in use" error.

use crate::clock::{SharedClock, SystemClock};
use crate::metrics::Metrics;
use crate::store::{GroupCommit, SledStore};
use linli_shared::StorageId;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("the data directory {path} is in use by another linli process (stop the server first)")]
    InUse { path: String },
    #[error("cannot open the data directory {path}: {cause}")]
    Open { path: String, cause: sled::Error },
    #[error("storage error: {0}")]
    Sled(#[from] sled::Error),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

#[derive(Debug, Clone)]
pub struct Db {
    pub sled: sled::Db,
    pub commit: Arc<GroupCommit>,
    pub docs: SledStore,
    pub meta: sled::Tree,
    pub users: sled::Tree,
    pub usernames: sled::Tree,
    pub grids: sled::Tree,
    pub sessions: sled::Tree,
    /// The server's clock (see [`crate::clock`]): every record's time comes from it.
    pub clock: SharedClock,
}

impl Db {
    /// Opens (creating if needed) the database in `dir`.
    pub fn open(dir: &Path, metrics: Arc<Metrics>) -> Result<Self, DbError> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("store");
        let sled = sled::Config::new().path(&path).open().map_err(|e| match e {
            // sled reports the lock held by another process as a plain I/O error.
            sled::Error::Io(ref io)
                if io.kind() == std::io::ErrorKind::WouldBlock
                    || io.raw_os_error() == Some(11)
                    || io.to_string().contains("could not acquire lock") =>
            {
                DbError::InUse { path: dir.display().to_string() }
            }
            e => DbError::Open { path: dir.display().to_string(), cause: e },
        })?;
        let flusher = sled.clone();
        let observe = metrics.clone();
        let commit = Arc::new(GroupCommit::new(
            move || flusher.flush().map(|_| ()).map_err(std::io::Error::other),
            move |latency, served| {
                observe.flush_seconds.observe(latency.as_secs_f64());
                observe.commits_per_flush.observe(served as f64);
            },
        ));
        Ok(Db {
            docs: SledStore::new(sled.open_tree("docs")?, commit.clone()),
            meta: sled.open_tree("meta")?,
            users: sled.open_tree("users")?,
            usernames: sled.open_tree("usernames")?,
            grids: sled.open_tree("grids")?,
            sessions: sled.open_tree("sessions")?,
            commit,
            sled,
            clock: Arc::new(SystemClock),
        })
    }

    /// The same database, telling the time by `clock`.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// Now, in ms since the epoch, by the server's clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Makes every write so far durable (shared with concurrent writers).
    pub fn durable(&self) -> Result<(), DbError> {
        self.commit.commit().map_err(DbError::Io)
    }

    /// The stable id of this store, advertised to peers so they can keep sync state for it.
    pub fn storage_id(&self) -> Result<StorageId, DbError> {
        self.meta_or_init("storage_id", || StorageId::random().as_str().as_bytes().to_vec()).and_then(|b| {
            let s = String::from_utf8(b).map_err(|_| DbError::Corrupt("storage id is not UTF-8".into()))?;
            StorageId::new(s).map_err(|e| DbError::Corrupt(format!("storage id: {e}")))
        })
    }

    /// Reads `key` from `meta`, storing `init()` durably first if it is absent.
    pub fn meta_or_init(&self, key: &str, init: impl FnOnce() -> Vec<u8>) -> Result<Vec<u8>, DbError> {
        if let Some(v) = self.meta.get(key)? {
            return Ok(v.to_vec());
        }
        let value = init();
        match self.meta.compare_and_swap(key, None as Option<&[u8]>, Some(value.clone()))? {
            Ok(()) => {
                self.durable()?;
                Ok(value)
            }
            Err(current) => Ok(current.current.map(|v| v.to_vec()).unwrap_or(value)),
        }
    }
}
