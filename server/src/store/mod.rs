//! The store: every piece of state Linli keeps, behind traits, on one of several engines.
//!
//! | trait | holds |
//! |---|---|
//! | [`DocStore`] | document chunks and snapshots |
//! | [`MetaStore`] | the store's own facts: storage id, signing key, schema version |
//! | [`UserStore`] | accounts |
//! | [`SessionStore`] | ended sessions (revoked tokens) and "sessions before this instant are ended" |
//! | [`ActorStore`] | which user each Automerge actor belongs to |
//! | [`GridStore`] | grids and their risk levels |
//! | [`AuditStore`] | the append-only, hash-chained audit log |
//! | [`QuarantineStore`] | refused changes kept for review |
//! | [`ProjectionStore`] | projection rows, access grants, alerts, documents awaiting projection |
//!
//! Engines: [`MemoryEngine`] (tests and simulations), [`SledEngine`] (the embedded
//! default, one directory), and [`PgEngine`] (PostgreSQL, [`postgres`]). Each implements every trait;
//! one conformance suite per trait ([`conformance`]) runs against each.
//!
//! # Durability contract
//!
//! Reads are the typed traits; **every write goes through [`Engine::commit`]**, which
//! takes a batch of [`Write`]s and applies all of them or none. When `commit` returns
//! `Ok`, the whole batch is durable: it survives a `kill -9` and a power cut (sled: the
//! log is fsynced; PostgreSQL: the transaction committed with `synchronous_commit` on).
//! Engines share one flush or one transaction commit among the batches that arrive while
//! the previous one runs (group commit), so many writers cost a handful of fsyncs while
//! each still returns only once its own batch is durable. So one logical write — a chunk,
//! the audit entries it causes, the marker that it still needs projecting — is one batch
//! and commits together.
//!
//! A write that returns `Err` may or may not be durable (a failed fsync leaves it unknown),
//! and on sled it may be durable in part, never its deletes without its puts (see
//! `kv::sled`); the caller must not acknowledge it. Writes are idempotent where they can be retried
//! (chunks are content addressed, quarantine entries keyed by their content), so retrying
//! a batch whose outcome is unknown is harmless.
//!
//! # Failures
//!
//! A storage failure (a full disk, a failed fsync, the database gone) is
//! [`StoreError::Unavailable`]: never a refusal of the user's work. After one, an engine
//! reports itself [`Health::Failing`] and refuses every further call, so nothing it may
//! have half-written is read back and served, until [`Engine::recover`] succeeds (sled
//! reopens its directory; PostgreSQL reconnects).
//!
//! ```
//! use linli_server::store::{DocStore, Engine, MemoryEngine, Write};
//! use linli_shared::DocumentId;
//! # tokio_test_block_on(async {
//! let engine = MemoryEngine::new();
//! let doc = DocumentId::random();
//! engine.commit(vec![Write::Chunk { doc, bytes: b"change".to_vec() }]).await.unwrap();
//! assert_eq!(engine.load(&doc).await.unwrap().chunks.len(), 1);
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

mod chain;
mod chunks;
pub mod conformance;
pub mod export;
mod group_commit;
mod kv;
pub mod open;
pub mod postgres;
mod records;
pub mod vacuum;

pub use chunks::{ChunkKey, ChunkKind, StoredDoc};
pub use group_commit::GroupCommit;
pub use kv::faults::Faults;
pub use kv::sled::{free_bytes, private_dir, SledOpenError, SledOptions, DEFAULT_MIN_FREE_BYTES};
pub use kv::{MemoryEngine, SledEngine};
pub use open::{
    open_for_reading, open_for_writing, redact_url, EngineChoice, OpenError, OpenOptions, ReadOnly, SecretUrl,
};
pub use postgres::{PgEngine, PgOptions};
pub use records::{
    AccessGrant, Alert, AlertStatus, AuditEntry, AuditRecord, Grid, Holder, ProjRow, QuarantineEntry, RiskChange, User,
};

use async_trait::async_trait;
use linli_shared::DocumentId;
use std::sync::Arc;

/// What can go wrong in the store.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The storage cannot be used now (disk full, I/O error, database unreachable). The
    /// caller's work is not lost: it is not acknowledged, and may be retried later.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Stored data cannot be read back as written.
    #[error("store is corrupt: {0}")]
    Corrupt(String),
    /// A batch broke a uniqueness rule; nothing of it was written.
    #[error("{0}")]
    Conflict(Conflict),
}

impl StoreError {
    /// An I/O failure of the storage.
    pub fn io(e: impl std::fmt::Display) -> Self {
        StoreError::Unavailable(e.to_string())
    }

    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// Which uniqueness rule a batch broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("user `{0}` already exists")]
    Username(String),
    #[error("grid `{0}` already exists")]
    Grid(String),
    #[error("this Automerge actor belongs to another user")]
    Actor,
}

/// Whether an engine can be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ok,
    /// Since the failure described: every call is refused until it recovers.
    Failing(String),
}

/// One write of a batch (see the module docs: a batch commits whole, durably).
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// An incremental chunk of `doc` (content addressed: writing it twice is a no-op).
    Chunk {
        doc: DocumentId,
        bytes: Vec<u8>,
    },
    /// A snapshot of `doc` with `heads`, replacing the chunks it `covers` (others stay,
    /// so a chunk written meanwhile survives).
    Compact {
        doc: DocumentId,
        heads: Vec<automerge::ChangeHash>,
        snapshot: Vec<u8>,
        covers: Vec<ChunkKey>,
    },
    /// Every chunk and snapshot of `doc`.
    DeleteDoc(DocumentId),
    /// A fact of the store itself (upsert).
    Meta {
        key: String,
        value: Vec<u8>,
    },
    /// Forgets a fact of the store itself (nothing if there is none).
    DeleteMeta(String),
    /// A new user: the batch fails with [`Conflict::Username`] if the username is taken.
    InsertUser(User),
    /// An existing user's new record (its username never changes).
    UpdateUser(User),
    /// A new grid: the batch fails with [`Conflict::Grid`] if the id is taken.
    InsertGrid(Grid),
    UpdateGrid(Grid),
    /// Ends the session or token `id` until `until` (seconds; kept that long).
    Revoke {
        id: String,
        until: u64,
    },
    /// Every session of `user` issued before `secs` is ended.
    SessionsNotBefore {
        user: String,
        secs: u64,
    },
    /// Appends an entry to the audit log; the store numbers and chains it.
    Audit(AuditEntry),
    /// A refused batch (keyed by its id: keeping it twice is a no-op).
    Quarantine(QuarantineEntry),
    DeleteQuarantine(String),
    Row(ProjRow),
    DeleteRow(String),
    Grant(AccessGrant),
    RevokeGrant(AccessGrant),
    Alert(Alert),
    DeleteAlert(String),
    /// `doc` has a new state the projector has not written yet (or no longer).
    Dirty {
        doc: DocumentId,
        dirty: bool,
    },
    /// Restores an audit record exactly as exported (backup, `linli copy`).
    ImportAudit(AuditRecord),
    /// Restores a chunk or snapshot under its exported key (backup, `linli copy`).
    ImportChunk {
        key: ChunkKey,
        bytes: Vec<u8>,
    },
    /// Restores an actor binding (backup, `linli copy`).
    ImportActor {
        actor: Vec<u8>,
        user: String,
    },
}

/// Filters of [`AuditStore::audit`]: newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub user: Option<String>,
    /// Prefix of the action, e.g. `change.`
    pub action: Option<String>,
    /// Only entries older than this (ms).
    pub before: Option<i64>,
    pub limit: usize,
}

/// What [`AuditStore::verify_audit`] found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuditCheck {
    pub entries: u64,
    /// The first record whose link or hash does not hold, and why.
    pub first_broken: Option<(u64, String)>,
}

/// Document chunks. Written by [`Write::Chunk`], [`Write::Compact`], [`Write::DeleteDoc`].
#[async_trait]
pub trait DocStore: Send + Sync {
    /// Every chunk of `doc`, snapshots before incremental chunks. Empty if unknown.
    async fn load(&self, doc: &DocumentId) -> Result<StoredDoc, StoreError>;
    /// Every stored document id, in `DocumentId` order.
    async fn list_docs(&self) -> Result<Vec<DocumentId>, StoreError>;
}

/// The store's own facts. Written by [`Write::Meta`] and [`MetaStore::meta_or_init`].
#[async_trait]
pub trait MetaStore: Send + Sync {
    async fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// The value of `key`, storing `init` durably first if there is none (one winner if
    /// two callers race).
    async fn meta_or_init(&self, key: &str, init: Vec<u8>) -> Result<Vec<u8>, StoreError>;
    /// Every fact, by key.
    async fn meta_all(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
}

/// Accounts. Written by [`Write::InsertUser`], [`Write::UpdateUser`].
#[async_trait]
pub trait UserStore: Send + Sync {
    async fn user(&self, id: &str) -> Result<Option<User>, StoreError>;
    async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// Every user, by username.
    async fn users(&self) -> Result<Vec<User>, StoreError>;
}

/// Ended sessions. Written by [`Write::Revoke`], [`Write::SessionsNotBefore`].
#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn is_revoked(&self, id: &str) -> Result<bool, StoreError>;
    /// Sessions of `user` issued before this instant (seconds) are ended.
    async fn sessions_not_before(&self, user: &str) -> Result<Option<u64>, StoreError>;
    /// Every revocation still kept, with the time it may be forgotten.
    async fn revocations(&self) -> Result<Vec<(String, u64)>, StoreError>;
    /// Every `sessions_not_before` mark.
    async fn not_before_marks(&self) -> Result<Vec<(String, u64)>, StoreError>;
    /// Forgets revocations whose `until` is before `now_secs`. Durable on return.
    async fn prune_revocations(&self, now_secs: u64) -> Result<usize, StoreError>;
}

/// Who each Automerge actor belongs to (DESIGN §4).
#[async_trait]
pub trait ActorStore: Send + Sync {
    /// Binds `actor` to `user` if it is bound to nobody; returns whoever it is bound to
    /// now. Durable on return.
    async fn bind_actor(&self, actor: &[u8], user: &str) -> Result<String, StoreError>;
    /// Every binding (actor bytes, user id).
    async fn actors(&self) -> Result<Vec<(Vec<u8>, String)>, StoreError>;
}

/// Grids. Written by [`Write::InsertGrid`], [`Write::UpdateGrid`].
#[async_trait]
pub trait GridStore: Send + Sync {
    async fn grid(&self, id: &str) -> Result<Option<Grid>, StoreError>;
    /// Every grid, by id.
    async fn grids(&self) -> Result<Vec<Grid>, StoreError>;
}

/// The audit log. Written by [`Write::Audit`] (append only: no write edits or removes an
/// entry, except erasure's blanking of details, which the chain tolerates).
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Newest first, by the filter.
    async fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError>;
    /// Every record, oldest first (export).
    async fn audit_all(&self) -> Result<Vec<AuditRecord>, StoreError>;
    /// Walks the chain from the first record.
    async fn verify_audit(&self) -> Result<AuditCheck, StoreError>;
}

/// Refused changes. Written by [`Write::Quarantine`], [`Write::DeleteQuarantine`].
#[async_trait]
pub trait QuarantineStore: Send + Sync {
    /// Newest first; `before` pages on (the `at` and `id` of the last entry seen).
    async fn quarantined(
        &self,
        before: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<QuarantineEntry>, StoreError>;
    /// How many entries, and the bytes they cost ([`QuarantineEntry::cost`]).
    async fn quarantine_usage(&self) -> Result<(usize, usize), StoreError>;
}

/// Projections: derived from documents, rebuilt by the projector. Written by
/// [`Write::Row`], [`Write::Grant`], [`Write::Alert`], [`Write::Dirty`] and their removals.
#[async_trait]
pub trait ProjectionStore: Send + Sync {
    async fn row(&self, doc: &str) -> Result<Option<ProjRow>, StoreError>;
    /// Every row, or those of one grid.
    async fn rows(&self, grid: Option<&str>) -> Result<Vec<ProjRow>, StoreError>;
    /// Whether `holder` has access to `household` through any open work.
    async fn has_grant(&self, household: &DocumentId, holder: &Holder) -> Result<bool, StoreError>;
    /// Every access grant.
    async fn grants(&self) -> Result<Vec<AccessGrant>, StoreError>;
    async fn alert(&self, id: &str) -> Result<Option<Alert>, StoreError>;
    /// Every alert, or those of one document.
    async fn alerts(&self, doc: Option<&str>) -> Result<Vec<Alert>, StoreError>;
    /// Documents whose latest state has not been projected yet.
    async fn dirty_docs(&self) -> Result<Vec<DocumentId>, StoreError>;
}

/// A storage engine: every store trait, and the one write path.
#[async_trait]
pub trait Engine:
    DocStore
    + MetaStore
    + UserStore
    + SessionStore
    + ActorStore
    + GridStore
    + AuditStore
    + QuarantineStore
    + ProjectionStore
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    /// Applies every write of `batch` or none; durable on `Ok` (see the module docs).
    async fn commit(&self, batch: Vec<Write>) -> Result<(), StoreError>;
    /// Whether the engine can be used now.
    fn health(&self) -> Health;
    /// Tries to make a failing engine usable again. `Ok` when it is healthy.
    async fn recover(&self) -> Result<(), StoreError>;
    /// `sled`, `memory` or `postgres`, for logs and `/healthz`.
    fn name(&self) -> &'static str;
    /// Flushes and releases the store (its files, locks and connections); nothing works
    /// afterwards. For a command that must reopen the same store (a vacuum).
    async fn close(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// A bulk import into this (empty) engine, for `linli restore` and `linli copy`: every
    /// batch written through it becomes visible, and durable, only when it is finished,
    /// all at once; one that fails or is dropped leaves nothing behind. `None` if the
    /// engine has no such thing (sled restores into a staging directory instead, and
    /// moves it into place when complete).
    async fn bulk_import(&self) -> Result<Option<Box<dyn BulkImport>>, StoreError> {
        Ok(None)
    }
}

/// See [`Engine::bulk_import`].
#[async_trait]
pub trait BulkImport: Send {
    /// Adds a batch (with the meaning of [`Engine::commit`]; not visible yet).
    async fn write(&mut self, batch: Vec<Write>) -> Result<(), StoreError>;
    /// Makes everything written visible and durable at once.
    async fn finish(self: Box<Self>) -> Result<(), StoreError>;
}

/// The engine a server runs on, shared by every part of it.
pub type SharedEngine = Arc<dyn Engine>;

/// What every part of the server holds: the engine, and the clock its records are
/// stamped with. Cheap to clone; derefs to the [`Engine`].
#[derive(Debug, Clone)]
pub struct Store {
    engine: SharedEngine,
    clock: crate::clock::SharedClock,
}

impl Store {
    pub fn new(engine: SharedEngine, clock: crate::clock::SharedClock) -> Self {
        Store { engine, clock }
    }

    /// An empty in-memory store on the system clock (tests).
    pub fn memory() -> Self {
        Store::new(Arc::new(MemoryEngine::new()), Arc::new(crate::clock::SystemClock))
    }

    pub fn engine(&self) -> &SharedEngine {
        &self.engine
    }

    pub fn clock(&self) -> &crate::clock::SharedClock {
        &self.clock
    }

    /// Now, in ms since the epoch, by the server's clock.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The stable id of this store, advertised to peers so they can keep sync state for it.
    pub async fn storage_id(&self) -> Result<linli_shared::StorageId, StoreError> {
        let bytes =
            self.meta_or_init("storage_id", linli_shared::StorageId::random().as_str().as_bytes().to_vec()).await?;
        let s = String::from_utf8(bytes).map_err(|_| StoreError::Corrupt("storage id is not UTF-8".into()))?;
        linli_shared::StorageId::new(s).map_err(|e| StoreError::Corrupt(format!("storage id: {e}")))
    }
}

impl std::ops::Deref for Store {
    type Target = dyn Engine;

    fn deref(&self) -> &Self::Target {
        self.engine.as_ref()
    }
}
