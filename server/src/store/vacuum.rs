//! Vacuum: rewriting a sled store into a fresh directory, so that the bytes of what was
//! deleted (erasure, DESIGN §9) are gone from its files too. sled keeps deleted records in
//! its log until it happens to reuse the space; a copy holds only what is live.
//!
//! An erasure marks the store ([`mark`]); opening a marked sled store to write to it
//! (`linli serve`, `linli erase` …) vacuums it first, and `linli erase` right after it
//! erases. A vacuum that cannot run (no room for the copy) is reported and retried at the
//! next open: the store is served meanwhile, as before. The swap survives a crash at
//! any point: the fresh copy is complete and flushed before the old store is moved away,
//! and [`finish_interrupted`] (run by every open) completes or undoes a half-done swap.
//!
//! PostgreSQL frees deleted rows itself (autovacuum); `VACUUM FULL` rewrites its files.

use crate::store::kv::sled::SledOpenError;
use crate::store::{export, Engine, SledEngine, SledOptions, StoreError, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// How long [`reopen`] waits for sled to let go of a store this process just closed.
const RELEASE_WAIT: Duration = Duration::from_secs(10);

/// Staging directories of a vacuum start so (removed if a crash left one behind).
const STAGING_PREFIX: &str = ".vacuum-";

/// The meta fact that says deleted data may still be in the store's files.
pub const NEEDED: &str = "vacuum/needed";

/// The write that marks the store as needing a vacuum.
pub fn mark() -> Write {
    Write::Meta { key: NEEDED.to_owned(), value: b"1".to_vec() }
}

/// Whether the store was marked by an erasure since its last vacuum.
pub async fn needed(engine: &dyn Engine) -> Result<bool, StoreError> {
    Ok(engine.meta(NEEDED).await?.is_some_and(|v| v == b"1"))
}

const FRESH: &str = "store.vacuumed";
const OLD: &str = "store.old";

/// Completes (or undoes) a vacuum that stopped half way: a fresh copy next to a store
/// means the swap had not begun (the copy goes); a fresh copy without a store means the
/// old one was already moved away (the copy takes its place). A left-over old store goes.
pub fn finish_interrupted(dir: &Path) -> std::io::Result<()> {
    let (store, fresh, old) = (dir.join("store"), dir.join(FRESH), dir.join(OLD));
    if fresh.exists() {
        if store.exists() {
            std::fs::remove_dir_all(&fresh)?;
        } else {
            std::fs::rename(&fresh, &store)?;
            std::fs::File::open(dir)?.sync_all()?;
        }
    }
    if old.exists() {
        std::fs::remove_dir_all(&old)?;
    }
    if dir.exists() {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(STAGING_PREFIX) {
                std::fs::remove_dir_all(entry.path())?;
            }
        }
    }
    Ok(())
}

/// Rewrites the sled store in `dir` (no server may be running on it). Returns what was
/// copied.
///
/// # Errors
///
/// The store cannot be opened or copied; the original is then left as it was.
pub async fn vacuum_sled(dir: &Path, options: SledOptions) -> anyhow::Result<export::Counts> {
    let need = super::open::dir_size(&dir.join("store"))?.saturating_add(options.min_free_bytes);
    let free = super::kv::sled::free_bytes(dir)?;
    anyhow::ensure!(
        free >= need,
        "a vacuum needs room for a copy of the store: {} MiB, and {} MiB are free",
        need / (1024 * 1024),
        free / (1024 * 1024)
    );
    let source = reopen(dir, options.clone()).await?;
    let staging = tempfile::Builder::new().prefix(STAGING_PREFIX).tempdir_in(dir)?;
    let counts = {
        let target = SledEngine::open(staging.path(), options).await?;
        let counts = export::copy(&source, &target).await?;
        target.commit(vec![Write::Meta { key: NEEDED.to_owned(), value: b"0".to_vec() }]).await?;
        target.close().await?;
        counts
    };
    source.close().await?;
    drop(source);
    std::fs::rename(staging.path().join("store"), dir.join(FRESH))?;
    std::fs::File::open(dir)?.sync_all()?;
    std::fs::rename(dir.join("store"), dir.join(OLD))?;
    std::fs::rename(dir.join(FRESH), dir.join("store"))?;
    std::fs::File::open(dir)?.sync_all()?;
    std::fs::remove_dir_all(dir.join(OLD))?;
    Ok(counts)
}

/// Opens a sled store that this process has just closed. sled releases the store's file
/// lock only when its background flusher lets go of the files, a moment after the last
/// handle is dropped (longer on a loaded machine); until then the store reads as in use
/// (`linli erase` once failed to vacuum so). Waits up to [`RELEASE_WAIT`] for that.
///
/// # Errors
///
/// As [`SledEngine::open`]; `InUse` if the lock is still held after the wait.
pub async fn reopen(dir: &Path, options: SledOptions) -> Result<SledEngine, SledOpenError> {
    let deadline = Instant::now() + RELEASE_WAIT;
    loop {
        match SledEngine::open(dir, options.clone()).await {
            Err(SledOpenError::InUse(_)) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            opened => return opened,
        }
    }
}
