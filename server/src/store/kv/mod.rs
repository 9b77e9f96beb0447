//! The key-value engines: every store trait implemented once ([`KvEngine`]) over a small
//! ordered key-value interface ([`Kv`]) with two backends, sled ([`sled::SledKv`], the
//! embedded default) and memory ([`memory::MemoryKv`]).
//!
//! Writes are serialised by one mutex while a batch is turned into key-value operations
//! and applied (microseconds: in memory), and made durable outside it by the backend's
//! group commit, so concurrent batches share fsyncs.

pub(crate) mod faults;
pub(crate) mod layout;
pub(crate) mod memory;
pub(crate) mod sled;

use super::chain::{chain, verify_stored, AuditHead, GENESIS};
use super::records::{AccessGrant, Alert, AuditEntry, AuditRecord, Grid, Holder, ProjRow, QuarantineEntry, User};
use super::{
    ActorStore, AuditStore, DocStore, GridStore, MetaStore, ProjectionStore, QuarantineStore, SessionStore, UserStore,
};
use super::{AuditCheck, AuditFilter, ChunkKey, ChunkKind, Conflict, Engine, Health, StoreError, StoredDoc, Write};
use async_trait::async_trait;
use layout::{be_u64, json, to_json, Table};
use linli_shared::DocumentId;
use parking_lot::Mutex;

pub use self::memory::MemoryEngine;
pub use self::sled::SledEngine;

/// One operation of an atomic key-value batch.
#[derive(Debug, Clone)]
pub enum KvOp {
    Put(Table, Vec<u8>, Vec<u8>),
    Delete(Table, Vec<u8>),
}

/// Identifies the backend's current incarnation (sled reopened after a failure is a new
/// one): a batch applied to one is never reported durable by a flush of another.
pub type Generation = u64;

/// Key-value pairs, in key order.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// An ordered key-value store with atomic batches and group commit.
#[async_trait]
pub trait Kv: std::fmt::Debug + Send + Sync + 'static {
    fn get(&self, t: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;
    /// Every entry whose key starts with `prefix`, in key order.
    fn scan(&self, t: Table, prefix: &[u8]) -> Result<Entries, StoreError>;
    /// Visits the entries with keys below `below` (all if `None`), largest key first,
    /// while `visit` returns true.
    fn scan_rev(
        &self,
        t: Table,
        below: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError>;
    /// Applies every operation or none; visible to reads at once, durable after [`Kv::durable`].
    fn apply(&self, ops: Vec<KvOp>) -> Result<Generation, StoreError>;
    /// Resolves once everything applied in `generation` is durable.
    async fn durable(&self, generation: Generation) -> Result<(), StoreError>;
    fn health(&self) -> Health;
    async fn recover(&self) -> Result<(), StoreError>;
    fn name(&self) -> &'static str;
    /// Flushes and releases the store (its files and locks); nothing works afterwards.
    async fn close(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// Every store trait over a [`Kv`].
#[derive(Debug)]
pub struct KvEngine<K: Kv> {
    kv: K,
    /// Held while a batch is checked and applied (never across an await).
    writer: Mutex<Option<AuditHead>>,
}

impl<K: Kv> KvEngine<K> {
    pub(crate) async fn open_kv(kv: K) -> Result<Self, StoreError> {
        let engine = KvEngine { kv, writer: Mutex::new(None) };
        engine.migrate_legacy_audit().await?;
        Ok(engine)
    }

    pub(crate) fn kv(&self) -> &K {
        &self.kv
    }

    fn audit_head(&self, cached: &mut Option<AuditHead>) -> Result<AuditHead, StoreError> {
        if let Some(h) = cached {
            return Ok(h.clone());
        }
        let mut head = AuditHead { seq: 0, hash: GENESIS.to_owned() };
        self.kv.scan_rev(Table::AuditLog, None, &mut |_, v| {
            if let Ok(r) = serde_json::from_slice::<AuditRecord>(v) {
                head = AuditHead { seq: r.seq, hash: r.hash };
            }
            false
        })?;
        *cached = Some(head.clone());
        Ok(head)
    }

    /// Stores written before the audit chain kept entries keyed by time: chain them, in
    /// that order, into the audit log, once.
    async fn migrate_legacy_audit(&self) -> Result<(), StoreError> {
        let legacy = self.kv.scan(Table::LegacyAudit, b"")?;
        if legacy.is_empty() {
            return Ok(());
        }
        let generation = {
            let mut cached = self.writer.lock();
            let mut head = self.audit_head(&mut cached)?;
            let mut ops = Vec::with_capacity(legacy.len() * 2);
            for (k, v) in legacy {
                let entry: AuditEntry = json("audit", &v)?;
                let record = chain(&head, entry);
                head = AuditHead { seq: record.seq, hash: record.hash.clone() };
                ops.push(KvOp::Put(Table::AuditLog, record.seq.to_be_bytes().to_vec(), to_json(&record)));
                ops.push(KvOp::Delete(Table::LegacyAudit, k));
            }
            let generation = self.kv.apply(ops)?;
            *cached = Some(head);
            generation
        };
        self.kv.durable(generation).await
    }

    /// Turns a batch into key-value operations (checking its uniqueness rules).
    fn plan(&self, batch: Vec<Write>, head: &mut AuditHead) -> Result<Vec<KvOp>, StoreError> {
        let mut ops = Vec::with_capacity(batch.len());
        for w in batch {
            match w {
                Write::Chunk { doc, bytes } => {
                    let key = ChunkKey::incremental(doc, &bytes);
                    ops.push(KvOp::Put(Table::Docs, key.encode(), bytes));
                }
                Write::Compact { doc, heads, snapshot, covers } => {
                    let key = ChunkKey::snapshot(doc, &heads);
                    for k in covers.iter().filter(|k| **k != key) {
                        ops.push(KvOp::Delete(Table::Docs, k.encode()));
                    }
                    ops.push(KvOp::Put(Table::Docs, key.encode(), snapshot));
                }
                Write::DeleteDoc(doc) => {
                    for (k, _) in self.kv.scan(Table::Docs, &ChunkKey::prefix(&doc))? {
                        ops.push(KvOp::Delete(Table::Docs, k));
                    }
                }
                Write::Meta { key, value } => ops.push(KvOp::Put(Table::Meta, key.into_bytes(), value)),
                Write::DeleteMeta(key) => ops.push(KvOp::Delete(Table::Meta, key.into_bytes())),
                Write::InsertUser(user) => {
                    if self.kv.get(Table::Usernames, user.username.as_bytes())?.is_some() {
                        return Err(StoreError::Conflict(Conflict::Username(user.username)));
                    }
                    ops.push(KvOp::Put(
                        Table::Usernames,
                        user.username.as_bytes().to_vec(),
                        user.id.as_bytes().to_vec(),
                    ));
                    ops.push(KvOp::Put(Table::Users, user.id.as_bytes().to_vec(), to_json(&user)));
                }
                Write::UpdateUser(user) => {
                    ops.push(KvOp::Put(Table::Users, user.id.as_bytes().to_vec(), to_json(&user)))
                }
                Write::InsertGrid(grid) => {
                    if self.kv.get(Table::Grids, grid.id.as_bytes())?.is_some() {
                        return Err(StoreError::Conflict(Conflict::Grid(grid.id)));
                    }
                    ops.push(KvOp::Put(Table::Grids, grid.id.as_bytes().to_vec(), to_json(&grid)));
                }
                Write::UpdateGrid(grid) => {
                    ops.push(KvOp::Put(Table::Grids, grid.id.as_bytes().to_vec(), to_json(&grid)))
                }
                Write::Revoke { id, until } => {
                    ops.push(KvOp::Put(Table::Sessions, layout::revoked_key(&id), until.to_be_bytes().to_vec()))
                }
                Write::SessionsNotBefore { user, secs } => {
                    ops.push(KvOp::Put(Table::Sessions, layout::not_before_key(&user), secs.to_be_bytes().to_vec()))
                }
                Write::Audit(entry) => {
                    let record = chain(head, entry);
                    *head = AuditHead { seq: record.seq, hash: record.hash.clone() };
                    ops.push(KvOp::Put(Table::AuditLog, record.seq.to_be_bytes().to_vec(), to_json(&record)));
                }
                Write::ImportAudit(record) => {
                    if record.seq > head.seq {
                        *head = AuditHead { seq: record.seq, hash: record.hash.clone() };
                    }
                    ops.push(KvOp::Put(Table::AuditLog, record.seq.to_be_bytes().to_vec(), to_json(&record)));
                }
                Write::ImportChunk { key, bytes } => ops.push(KvOp::Put(Table::Docs, key.encode(), bytes)),
                Write::ImportActor { actor, user } => ops.push(KvOp::Put(Table::Actors, actor, user.into_bytes())),
                Write::Quarantine(entry) => {
                    if self.kv.get(Table::Quarantine, entry.id.as_bytes())?.is_none() {
                        ops.push(KvOp::Put(Table::Quarantine, entry.id.as_bytes().to_vec(), to_json(&entry)));
                    }
                }
                Write::DeleteQuarantine(id) => ops.push(KvOp::Delete(Table::Quarantine, id.into_bytes())),
                Write::Row(row) => ops.push(KvOp::Put(Table::Proj, row.doc.as_bytes().to_vec(), to_json(&row))),
                Write::DeleteRow(doc) => ops.push(KvOp::Delete(Table::Proj, doc.into_bytes())),
                Write::Grant(g) => ops.push(KvOp::Put(Table::Access, layout::grant_key(&g), Vec::new())),
                Write::RevokeGrant(g) => ops.push(KvOp::Delete(Table::Access, layout::grant_key(&g))),
                Write::Alert(a) => ops.push(KvOp::Put(Table::Alerts, a.id.as_bytes().to_vec(), to_json(&a))),
                Write::DeleteAlert(id) => ops.push(KvOp::Delete(Table::Alerts, id.into_bytes())),
                Write::Dirty { doc, dirty } => {
                    let key = doc.to_string().into_bytes();
                    ops.push(if dirty {
                        KvOp::Put(Table::Dirty, key, Vec::new())
                    } else {
                        KvOp::Delete(Table::Dirty, key)
                    });
                }
            }
        }
        Ok(ops)
    }

    fn values<T: serde::de::DeserializeOwned>(&self, t: Table, what: &str) -> Result<Vec<T>, StoreError> {
        self.kv.scan(t, b"")?.into_iter().map(|(_, v)| json(what, &v)).collect()
    }
}

#[async_trait]
impl<K: Kv> DocStore for KvEngine<K> {
    async fn load(&self, doc: &DocumentId) -> Result<StoredDoc, StoreError> {
        let mut chunks = Vec::new();
        for (k, v) in self.kv.scan(Table::Docs, &ChunkKey::prefix(doc))? {
            chunks.push((layout::chunk_key(&k)?, v));
        }
        chunks.sort_by_key(|(k, _)| k.kind != ChunkKind::Snapshot);
        Ok(StoredDoc { chunks })
    }

    async fn list_docs(&self) -> Result<Vec<DocumentId>, StoreError> {
        let mut docs: Vec<DocumentId> = Vec::new();
        for (k, _) in self.kv.scan(Table::Docs, b"")? {
            if let Some(key) = ChunkKey::decode(&k) {
                if docs.last() != Some(&key.doc) {
                    docs.push(key.doc);
                }
            }
        }
        docs.sort();
        docs.dedup();
        Ok(docs)
    }
}

#[async_trait]
impl<K: Kv> MetaStore for KvEngine<K> {
    async fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.kv.get(Table::Meta, key.as_bytes())
    }

    async fn meta_or_init(&self, key: &str, init: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        let generation = {
            let _w = self.writer.lock();
            if let Some(v) = self.kv.get(Table::Meta, key.as_bytes())? {
                return Ok(v);
            }
            self.kv.apply(vec![KvOp::Put(Table::Meta, key.as_bytes().to_vec(), init.clone())])?
        };
        self.kv.durable(generation).await?;
        Ok(init)
    }

    async fn meta_all(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(self
            .kv
            .scan(Table::Meta, b"")?
            .into_iter()
            .map(|(k, v)| (String::from_utf8_lossy(&k).into_owned(), v))
            .collect())
    }
}

#[async_trait]
impl<K: Kv> UserStore for KvEngine<K> {
    async fn user(&self, id: &str) -> Result<Option<User>, StoreError> {
        self.kv.get(Table::Users, id.as_bytes())?.map(|v| json("user", &v)).transpose()
    }

    async fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError> {
        match self.kv.get(Table::Usernames, username.as_bytes())? {
            Some(id) => self.user(&String::from_utf8_lossy(&id)).await,
            None => Ok(None),
        }
    }

    async fn users(&self) -> Result<Vec<User>, StoreError> {
        let mut users: Vec<User> = self.values(Table::Users, "user")?;
        users.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(users)
    }
}

#[async_trait]
impl<K: Kv> SessionStore for KvEngine<K> {
    async fn is_revoked(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.kv.get(Table::Sessions, &layout::revoked_key(id))?.is_some())
    }

    async fn sessions_not_before(&self, user: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.kv.get(Table::Sessions, &layout::not_before_key(user))?.map(|v| be_u64(&v)))
    }

    async fn revocations(&self) -> Result<Vec<(String, u64)>, StoreError> {
        Ok(self
            .kv
            .scan(Table::Sessions, b"revoked/")?
            .into_iter()
            .map(|(k, v)| (String::from_utf8_lossy(&k["revoked/".len()..]).into_owned(), be_u64(&v)))
            .collect())
    }

    async fn not_before_marks(&self) -> Result<Vec<(String, u64)>, StoreError> {
        Ok(self
            .kv
            .scan(Table::Sessions, b"notbefore/")?
            .into_iter()
            .map(|(k, v)| (String::from_utf8_lossy(&k["notbefore/".len()..]).into_owned(), be_u64(&v)))
            .collect())
    }

    async fn prune_revocations(&self, now_secs: u64) -> Result<usize, StoreError> {
        let expired: Vec<KvOp> = self
            .kv
            .scan(Table::Sessions, b"revoked/")?
            .into_iter()
            .filter(|(_, v)| be_u64(v) < now_secs)
            .map(|(k, _)| KvOp::Delete(Table::Sessions, k))
            .collect();
        let n = expired.len();
        if n > 0 {
            let generation = {
                let _w = self.writer.lock();
                self.kv.apply(expired)?
            };
            self.kv.durable(generation).await?;
        }
        Ok(n)
    }
}

#[async_trait]
impl<K: Kv> ActorStore for KvEngine<K> {
    async fn bind_actor(&self, actor: &[u8], user: &str) -> Result<String, StoreError> {
        let generation = {
            let _w = self.writer.lock();
            if let Some(owner) = self.kv.get(Table::Actors, actor)? {
                return Ok(String::from_utf8_lossy(&owner).into_owned());
            }
            self.kv.apply(vec![KvOp::Put(Table::Actors, actor.to_vec(), user.as_bytes().to_vec())])?
        };
        self.kv.durable(generation).await?;
        Ok(user.to_owned())
    }

    async fn actors(&self) -> Result<Vec<(Vec<u8>, String)>, StoreError> {
        Ok(self
            .kv
            .scan(Table::Actors, b"")?
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned()))
            .collect())
    }
}

#[async_trait]
impl<K: Kv> GridStore for KvEngine<K> {
    async fn grid(&self, id: &str) -> Result<Option<Grid>, StoreError> {
        self.kv.get(Table::Grids, id.as_bytes())?.map(|v| json("grid", &v)).transpose()
    }

    async fn grids(&self) -> Result<Vec<Grid>, StoreError> {
        self.values(Table::Grids, "grid")
    }
}

#[async_trait]
impl<K: Kv> AuditStore for KvEngine<K> {
    async fn audit(&self, f: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError> {
        let mut out = Vec::new();
        let mut bad = None;
        self.kv.scan_rev(Table::AuditLog, None, &mut |_, v| {
            let r: AuditRecord = match json("audit", v) {
                Ok(r) => r,
                Err(e) => {
                    bad = Some(e);
                    return false;
                }
            };
            let e = &r.entry;
            let wanted = f.user.as_deref().is_none_or(|u| e.user == u)
                && f.action.as_deref().is_none_or(|a| e.action.starts_with(a))
                && f.before.is_none_or(|b| e.at < b);
            if wanted {
                out.push(r);
            }
            out.len() < f.limit
        })?;
        match bad {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    async fn audit_all(&self) -> Result<Vec<AuditRecord>, StoreError> {
        self.values(Table::AuditLog, "audit")
    }

    async fn verify_audit(&self) -> Result<AuditCheck, StoreError> {
        let stored = self.kv.scan(Table::AuditLog, b"")?;
        Ok(verify_stored(stored.iter().map(|(k, v)| (be_u64(k), v.as_slice()))))
    }
}

#[async_trait]
impl<K: Kv> QuarantineStore for KvEngine<K> {
    async fn quarantined(
        &self,
        before: Option<(i64, String)>,
        limit: usize,
    ) -> Result<Vec<QuarantineEntry>, StoreError> {
        let mut all: Vec<QuarantineEntry> = self.values(Table::Quarantine, "quarantine")?;
        all.sort_by(|a, b| (b.at, &b.id).cmp(&(a.at, &a.id)));
        Ok(all
            .into_iter()
            .filter(|e| before.as_ref().is_none_or(|(at, id)| (e.at, &e.id) < (*at, id)))
            .take(limit)
            .collect())
    }

    async fn quarantine_usage(&self) -> Result<(usize, usize), StoreError> {
        let all: Vec<QuarantineEntry> = self.values(Table::Quarantine, "quarantine")?;
        Ok((all.len(), all.iter().map(QuarantineEntry::cost).sum()))
    }
}

#[async_trait]
impl<K: Kv> ProjectionStore for KvEngine<K> {
    async fn row(&self, doc: &str) -> Result<Option<ProjRow>, StoreError> {
        self.kv.get(Table::Proj, doc.as_bytes())?.map(|v| json("projection", &v)).transpose()
    }

    async fn rows(&self, grid: Option<&str>) -> Result<Vec<ProjRow>, StoreError> {
        let rows: Vec<ProjRow> = self.values(Table::Proj, "projection")?;
        Ok(rows.into_iter().filter(|r| grid.is_none_or(|g| r.grid == g)).collect())
    }

    async fn has_grant(&self, household: &DocumentId, holder: &Holder) -> Result<bool, StoreError> {
        Ok(!self.kv.scan(Table::Access, &layout::grant_prefix(household, holder))?.is_empty())
    }

    async fn grants(&self) -> Result<Vec<AccessGrant>, StoreError> {
        Ok(self.kv.scan(Table::Access, b"")?.iter().filter_map(|(k, _)| layout::parse_grant(k)).collect())
    }

    async fn alert(&self, id: &str) -> Result<Option<Alert>, StoreError> {
        self.kv.get(Table::Alerts, id.as_bytes())?.map(|v| json("alert", &v)).transpose()
    }

    async fn alerts(&self, doc: Option<&str>) -> Result<Vec<Alert>, StoreError> {
        let prefix = doc.map(|d| format!("{d}/")).unwrap_or_default();
        self.kv.scan(Table::Alerts, prefix.as_bytes())?.into_iter().map(|(_, v)| json("alert", &v)).collect()
    }

    async fn dirty_docs(&self) -> Result<Vec<DocumentId>, StoreError> {
        Ok(self
            .kv
            .scan(Table::Dirty, b"")?
            .into_iter()
            .filter_map(|(k, _)| std::str::from_utf8(&k).ok().and_then(|s| s.parse().ok()))
            .collect())
    }
}

#[async_trait]
impl<K: Kv> Engine for KvEngine<K> {
    async fn commit(&self, batch: Vec<Write>) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        let generation = {
            let mut cached = self.writer.lock();
            let mut head = self.audit_head(&mut cached)?;
            let ops = self.plan(batch, &mut head)?;
            let generation = self.kv.apply(ops)?;
            *cached = Some(head);
            generation
        };
        let durable = self.kv.durable(generation).await;
        if durable.is_err() {
            // The chain head may name a record that is not on disk: read it again after recovery.
            *self.writer.lock() = None;
        }
        durable
    }

    fn health(&self) -> Health {
        self.kv.health()
    }

    async fn close(&self) -> Result<(), StoreError> {
        self.kv.close().await
    }

    async fn recover(&self) -> Result<(), StoreError> {
        self.kv.recover().await?;
        *self.writer.lock() = None;
        Ok(())
    }

    fn name(&self) -> &'static str {
        self.kv.name()
    }
}
