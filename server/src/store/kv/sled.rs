//! The sled engine (sled 0.34.7): one directory, one tree per table, group commit.
//!
//! What sled does not do for us, and this module does:
//! - **After an I/O error sled refuses every later write** until the process reopens it.
//!   The engine then reports itself failing and refuses reads too, so a change that
//!   reached sled's memory but not the disk is never read back and acknowledged; and
//!   [`Engine::recover`](crate::store::Engine::recover) reopens the directory (a batch
//!   applied before the reopen is never reported durable by a flush after it).
//! - **Opening a store rewrites part of it** (sled's recovery writes a snapshot and
//!   zeroes the log's tail): on a full disk that destroys the store. So nothing opens a
//!   store without `min_free_bytes` free on its disk, writes stop before the disk is that
//!   full, and the read-only commands open a copy (`super::super::open`).
//! - **A batch cut short by an I/O error is recovered in part**: what reached the log
//!   before the error comes back on the next open as if it stood alone. So a batch's
//!   puts and its deletes go to sled as two batches, puts first (`apply_in_order`):
//!   nothing acknowledged is deleted unless what replaces it is on disk.
//! - **File modes**: the directory holds the signing key, password hashes and health
//!   data: it is made 0700 and every file in it 0600.

use super::layout::Table;
use super::{Generation, KvEngine, KvOp};
use crate::store::{GroupCommit, Health, StoreError};
use async_trait::async_trait;
use parking_lot::{Mutex, RwLock};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Every store trait, in a sled directory.
pub type SledEngine = KvEngine<SledKv>;

/// How a sled store is opened.
#[derive(Clone)]
pub struct SledOptions {
    /// Nothing opens the store, and no write is made, with less free space than this on
    /// its disk.
    pub min_free_bytes: u64,
    /// Told each flush's latency and how many commits it served (metrics).
    pub observe: Arc<dyn Fn(Duration, u64) + Send + Sync>,
}

impl std::fmt::Debug for SledOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SledOptions").field("min_free_bytes", &self.min_free_bytes).finish_non_exhaustive()
    }
}

impl Default for SledOptions {
    fn default() -> Self {
        SledOptions { min_free_bytes: DEFAULT_MIN_FREE_BYTES, observe: Arc::new(|_, _| {}) }
    }
}

/// 64 MiB: room for sled's recovery snapshot and a good while of writes.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 64 * 1024 * 1024;

/// Why a sled store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum SledOpenError {
    #[error("the data directory {0} is in use by another linli process (stop the server first)")]
    InUse(String),
    #[error(
        "only {free_mib} MiB are free on the disk of {path}; linli needs {need_mib} MiB to open its store without \
         risking it (free some space, or lower min_free_bytes)"
    )]
    NoSpace { path: String, free_mib: u64, need_mib: u64 },
    #[error("cannot open the store in {path}: {cause}")]
    Open { path: String, cause: String },
}

#[derive(Debug)]
struct Inner {
    db: sled::Db,
    trees: Vec<sled::Tree>,
}

#[derive(Debug)]
pub struct SledKv {
    dir: PathBuf,
    options: SledOptions,
    inner: Arc<RwLock<Option<Inner>>>,
    commit: Arc<GroupCommit>,
    generation: AtomicU64,
    failing: Mutex<Option<String>>,
    /// What the last look at the disk found, and what was written since.
    space: Mutex<Space>,
}

impl SledEngine {
    /// Opens (creating if needed) the store in `dir/store`.
    pub async fn open(dir: &Path, options: SledOptions) -> Result<Self, SledOpenError> {
        let path = dir.to_path_buf();
        let opened = {
            let options = options.clone();
            tokio::task::spawn_blocking(move || open_inner(&path, options.min_free_bytes))
                .await
                .map_err(|e| SledOpenError::Open { path: dir.display().to_string(), cause: e.to_string() })??
        };
        let inner = Arc::new(RwLock::new(Some(opened)));
        let flushed = inner.clone();
        let observe = options.observe.clone();
        let commit = GroupCommit::new(
            move || match flushed.read().as_ref() {
                Some(i) => i.db.flush().map(|_| ()).map_err(std::io::Error::other),
                None => Err(std::io::Error::other("the store is closed")),
            },
            move |latency, served| observe(latency, served),
        );
        let kv = SledKv {
            dir: dir.to_path_buf(),
            options,
            inner,
            commit,
            generation: AtomicU64::new(0),
            failing: Mutex::new(None),
            space: Mutex::new(Space::default()),
        };
        KvEngine::open_kv(kv)
            .await
            .map_err(|e| SledOpenError::Open { path: dir.display().to_string(), cause: e.to_string() })
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.kv().dir
    }
}

/// Free bytes on the file system holding `path` (for an unprivileged process).
pub fn free_bytes(path: &Path) -> std::io::Result<u64> {
    let mut probe = path.to_path_buf();
    while !probe.exists() {
        if !probe.pop() {
            break;
        }
    }
    let st = rustix::fs::statvfs(&probe).map_err(std::io::Error::from)?;
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

fn require_space(dir: &Path, need: u64) -> Result<(), SledOpenError> {
    match free_bytes(dir) {
        Ok(free) if free < need => Err(SledOpenError::NoSpace {
            path: dir.display().to_string(),
            free_mib: free / (1024 * 1024),
            need_mib: need.div_ceil(1024 * 1024),
        }),
        // Unknown free space (an exotic file system): sled will say if it fails.
        _ => Ok(()),
    }
}

fn open_inner(dir: &Path, min_free_bytes: u64) -> Result<Inner, SledOpenError> {
    let fail = |cause: String| SledOpenError::Open { path: dir.display().to_string(), cause };
    crate::store::vacuum::finish_interrupted(dir).map_err(|e| fail(format!("finishing an interrupted vacuum: {e}")))?;
    require_space(dir, min_free_bytes)?;
    private_dir(dir).map_err(|e| fail(e.to_string()))?;
    let store = dir.join("store");
    let db = sled::Config::new().path(&store).open().map_err(|e| match e {
        // sled reports the lock held by another process as a plain I/O error.
        sled::Error::Io(ref io)
            if io.kind() == std::io::ErrorKind::WouldBlock
                || io.raw_os_error() == Some(11)
                || io.to_string().contains("could not acquire lock") =>
        {
            SledOpenError::InUse(dir.display().to_string())
        }
        e => fail(e.to_string()),
    })?;
    private_files(&store).map_err(|e| fail(e.to_string()))?;
    let trees = Table::ALL
        .iter()
        .map(|t| db.open_tree(t.name()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| fail(e.to_string()))?;
    Ok(Inner { db, trees })
}

/// Creates `dir` (0700) if needed, and takes group and other permissions away if not.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
}

/// Makes every file under `dir` 0600 and every directory 0700.
pub fn private_files(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            private_files(&entry.path())?;
        } else {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

/// Applies `ops` as one sled batch (one tree) or one transaction (several).
///
/// sled recovers a batch whole only if it was written whole: when a write fails half way
/// (a full disk fails the large value's blob file after the batch's small deletes went
/// to the log), the part already logged is recovered as if it stood alone. So the engine
/// never puts a delete and a put in one sled batch: the puts go first, then the deletes
/// (the log keeps their order, so a recovered delete means its puts were recovered too).
/// A compaction cut short keeps its chunks beside its snapshot, which load the same
/// document; it never loses the chunks without the snapshot that replaces them.
fn apply_in_order(i: &Inner, ops: &[KvOp]) -> sled::Result<()> {
    let mut tables: Vec<Table> = ops
        .iter()
        .map(|op| match op {
            KvOp::Put(t, _, _) | KvOp::Delete(t, _) => *t,
        })
        .collect();
    tables.sort();
    tables.dedup();
    if tables.is_empty() {
        return Ok(());
    }
    if let [only] = tables[..] {
        let mut batch = sled::Batch::default();
        for op in ops {
            match op {
                KvOp::Put(_, k, v) => batch.insert(k.as_slice(), v.as_slice()),
                KvOp::Delete(_, k) => batch.remove(k.as_slice()),
            }
        }
        return i.trees[only.index()].apply_batch(batch);
    }
    // Several tables: one sled transaction across their trees.
    use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
    let trees: Vec<sled::Tree> = tables.iter().map(|t| i.trees[t.index()].clone()).collect();
    let slot = |t: Table| tables.iter().position(|x| *x == t).unwrap_or(0);
    let outcome = trees.as_slice().transaction(|views| {
        for op in ops {
            match op {
                KvOp::Put(t, k, v) => {
                    views[slot(*t)].insert(k.as_slice(), v.as_slice())?;
                }
                KvOp::Delete(t, k) => {
                    views[slot(*t)].remove(k.as_slice())?;
                }
            }
        }
        Ok::<(), ConflictableTransactionError<()>>(())
    });
    match outcome {
        Ok(()) => Ok(()),
        Err(TransactionError::Storage(e)) => Err(e),
        Err(TransactionError::Abort(())) => Err(sled::Error::Unsupported("transaction aborted".into())),
    }
}

impl SledKv {
    fn fail(&self, e: impl std::fmt::Display) -> StoreError {
        let reason = e.to_string();
        let mut failing = self.failing.lock();
        if failing.is_none() {
            tracing::error!(error = %reason, "the store failed: no change is acknowledged until it recovers");
            *failing = Some(reason.clone());
        }
        StoreError::Unavailable(failing.clone().unwrap_or(reason))
    }

    fn refuse_if_failing(&self) -> Result<(), StoreError> {
        match self.failing.lock().as_ref() {
            Some(reason) => Err(StoreError::Unavailable(reason.clone())),
            None => Ok(()),
        }
    }

    /// Runs `f` on the open trees; a sled error fails the engine.
    fn with<T>(&self, f: impl FnOnce(&Inner) -> sled::Result<T>) -> Result<T, StoreError> {
        self.refuse_if_failing()?;
        let inner = self.inner.read();
        let Some(inner) = inner.as_ref() else { return Err(StoreError::Unavailable("the store is closed".into())) };
        f(inner).map_err(|e| match e {
            sled::Error::Corruption { .. } => StoreError::Corrupt(e.to_string()),
            e => self.fail(e),
        })
    }

    /// Stops writes before the disk is full. The disk is looked at again after a second,
    /// or as soon as what was written since the last look could have used up half the
    /// room above the floor: a burst (a dozen compactions of large documents) fills
    /// megabytes in well under a second, and sled must never be the one to find the disk
    /// full (see the module docs).
    fn check_space(&self, batch_bytes: u64) -> Result<(), StoreError> {
        let floor = self.options.min_free_bytes;
        let mut space = self.space.lock();
        if space.needs_look(floor, batch_bytes) {
            space.free = free_bytes(&self.dir).ok();
            space.at = Some(Instant::now());
            space.written = 0;
        }
        if space.room_for(floor, batch_bytes) {
            space.written = space.spent_with(batch_bytes);
            return Ok(());
        }
        let free = space.free.unwrap_or(0);
        drop(space);
        Err(self.fail(SledOpenError::NoSpace {
            path: self.dir.display().to_string(),
            free_mib: free / (1024 * 1024),
            need_mib: floor.div_ceil(1024 * 1024),
        }))
    }
}

/// How many bytes of disk one byte of a batch may cost before sled's log is cleaned:
/// the log record, and the relocation of live pages when segments are rewritten.
const SLED_WRITE_AMPLIFICATION: u64 = 3;

/// The free space on the store's disk, as last seen, and an estimate of what was written
/// since.
#[derive(Debug, Default, Clone)]
struct Space {
    at: Option<Instant>,
    /// `None`: never looked, or the file system does not say.
    free: Option<u64>,
    written: u64,
}

impl Space {
    fn needs_look(&self, floor: u64, batch_bytes: u64) -> bool {
        let Some(at) = self.at else { return true };
        let Some(free) = self.free else { return at.elapsed() > Duration::from_secs(1) };
        let room = free.saturating_sub(floor);
        at.elapsed() > Duration::from_secs(1) || self.spent_with(batch_bytes).saturating_mul(2) > room
    }

    /// Whether a batch of `batch_bytes` leaves at least `floor` free, by the estimate.
    fn room_for(&self, floor: u64, batch_bytes: u64) -> bool {
        let Some(free) = self.free else { return true };
        free.saturating_sub(self.spent_with(batch_bytes)) >= floor
    }

    /// The disk written since the last look, with a batch of `batch_bytes` more.
    fn spent_with(&self, batch_bytes: u64) -> u64 {
        self.written.saturating_add(batch_bytes.saturating_mul(SLED_WRITE_AMPLIFICATION))
    }
}

#[async_trait]
impl super::Kv for SledKv {
    fn get(&self, t: Table, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.with(|i| Ok(i.trees[t.index()].get(key)?.map(|v| v.to_vec())))
    }

    fn scan(&self, t: Table, prefix: &[u8]) -> Result<super::Entries, StoreError> {
        self.with(|i| {
            i.trees[t.index()].scan_prefix(prefix).map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec()))).collect()
        })
    }

    fn scan_rev(
        &self,
        t: Table,
        below: Option<&[u8]>,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        self.with(|i| {
            let tree = &i.trees[t.index()];
            let iter = match below {
                Some(b) => tree.range(..b.to_vec()),
                None => tree.iter(),
            };
            for item in iter.rev() {
                let (k, v) = item?;
                if !visit(&k, &v) {
                    break;
                }
            }
            Ok(())
        })
    }

    fn apply(&self, ops: Vec<KvOp>) -> Result<Generation, StoreError> {
        self.refuse_if_failing()?;
        let bytes: usize = ops
            .iter()
            .map(|op| match op {
                KvOp::Put(_, k, v) => k.len() + v.len(),
                KvOp::Delete(_, k) => k.len(),
            })
            .sum();
        self.check_space(bytes as u64)?;
        let generation = self.generation.load(Ordering::SeqCst);
        let mixed =
            ops.iter().any(|op| matches!(op, KvOp::Put(..))) && ops.iter().any(|op| matches!(op, KvOp::Delete(..)));
        if !mixed {
            self.with(|i| apply_in_order(i, &ops))?;
            return Ok(generation);
        }
        // Puts before deletes, as two sled batches: see `apply_in_order`. A key written
        // twice keeps its last write, as in one batch.
        let mut last: std::collections::HashMap<(Table, &[u8]), usize> = std::collections::HashMap::new();
        for (n, op) in ops.iter().enumerate() {
            let (KvOp::Put(t, k, _) | KvOp::Delete(t, k)) = op;
            last.insert((*t, k.as_slice()), n);
        }
        let keep: std::collections::HashSet<usize> = last.into_values().collect();
        let (puts, deletes): (Vec<KvOp>, Vec<KvOp>) = ops
            .into_iter()
            .enumerate()
            .filter(|(n, _)| keep.contains(n))
            .map(|(_, op)| op)
            .partition(|op| matches!(op, KvOp::Put(..)));
        for part in [puts, deletes] {
            self.with(|i| apply_in_order(i, &part))?;
        }
        Ok(generation)
    }

    async fn durable(&self, generation: Generation) -> Result<(), StoreError> {
        self.refuse_if_failing()?;
        self.commit.commit().await.map_err(|e| self.fail(format!("flush failed: {e}")))?;
        if generation != self.generation.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("written before the store was reopened".into()));
        }
        self.refuse_if_failing()
    }

    fn health(&self) -> Health {
        match self.failing.lock().as_ref() {
            Some(reason) => Health::Failing(reason.clone()),
            None => Health::Ok,
        }
    }

    /// Flushes and closes the store, releasing its lock (the engine refuses everything
    /// afterwards).
    async fn close(&self) -> Result<(), StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            if let Some(i) = inner.write().take() {
                i.db.flush().map_err(StoreError::io)?;
            }
            Ok(())
        })
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?
    }

    async fn recover(&self) -> Result<(), StoreError> {
        if self.failing.lock().is_none() {
            return Ok(());
        }
        let dir = self.dir.clone();
        let min_free = self.options.min_free_bytes;
        let inner = self.inner.clone();
        let reopened = tokio::task::spawn_blocking(move || {
            require_space(&dir, min_free).map_err(|e| e.to_string())?;
            // Drop every handle of the failed incarnation (its writes may be half done),
            // then open the directory afresh, as a restart would.
            inner.write().take();
            let fresh = open_inner(&dir, min_free).map_err(|e| e.to_string())?;
            fresh.db.flush().map_err(|e| e.to_string())?;
            *inner.write() = Some(fresh);
            Ok::<(), String>(())
        })
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        reopened.map_err(StoreError::Unavailable)?;
        self.generation.fetch_add(1, Ordering::SeqCst);
        *self.space.lock() = Space::default();
        *self.failing.lock() = None;
        tracing::info!(dir = %self.dir.display(), "the store recovered");
        Ok(())
    }

    fn name(&self) -> &'static str {
        "sled"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;

    fn seen(free: u64, written: u64) -> Space {
        Space { at: Some(Instant::now()), free: Some(free), written }
    }

    #[test]
    fn a_burst_is_counted_against_the_floor_before_the_next_look() {
        // 10 MiB free, a 4 MiB floor: 6 MiB of room, so batches estimated past 3 MiB of
        // disk make the engine look again, within the same second.
        let floor = 4 * MIB;
        assert!(!seen(10 * MIB, 0).needs_look(floor, 100 * 1024));
        assert!(seen(10 * MIB, 3 * MIB).needs_look(floor, 100 * 1024));
        // A batch that would take the disk under the floor is refused by the estimate,
        // even if no look happens.
        assert!(seen(10 * MIB, 0).room_for(floor, MIB));
        assert!(!seen(10 * MIB, 0).room_for(floor, 3 * MIB));
    }

    #[test]
    fn the_disk_is_looked_at_first_and_again_after_a_second() {
        assert!(Space::default().needs_look(MIB, 1));
        let old = Space { at: Some(Instant::now() - Duration::from_secs(2)), free: Some(100 * MIB), written: 0 };
        assert!(old.needs_look(MIB, 1));
        // A file system that does not say how much is free never stops writes.
        assert!(Space { at: Some(Instant::now()), free: None, written: u64::MAX }.room_for(MIB, u64::MAX));
    }
}
