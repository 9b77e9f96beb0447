//! Storage faults on demand, for tests: writes or flushes that fail as on a full disk,
//! flushes held back to test what is (not) sent meanwhile. Shared by a test and the
//! engine it drives; cheap to clone.
//!
//! Once a fault has struck, the engine is failing — every call is refused, as a real
//! engine refuses after an I/O error — until the faults are cleared and the engine is
//! asked to [`recover`](crate::store::Engine::recover).

use super::Generation;
use crate::store::{Health, StoreError};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Debug, Default)]
struct State {
    fail_writes: AtomicBool,
    fail_flushes: AtomicBool,
    held: AtomicBool,
    released: tokio::sync::Notify,
    failing: Mutex<Option<String>>,
    generation: AtomicU64,
    writes: AtomicU64,
    flushes: AtomicU64,
}

/// See the module docs.
#[derive(Debug, Clone, Default)]
pub struct Faults(Arc<State>);

impl Faults {
    /// Writes fail from now on (as with no space left on the device).
    pub fn fail_writes(&self, on: bool) {
        self.0.fail_writes.store(on, Ordering::SeqCst);
    }

    /// Flushes fail from now on (as a failed fsync).
    pub fn fail_flushes(&self, on: bool) {
        self.0.fail_flushes.store(on, Ordering::SeqCst);
    }

    /// Flushes wait until [`Faults::release`].
    pub fn hold(&self) {
        self.0.held.store(true, Ordering::SeqCst);
    }

    pub fn release(&self) {
        self.0.held.store(false, Ordering::SeqCst);
        self.0.released.notify_waiters();
    }

    /// Batches applied so far.
    pub fn writes(&self) -> u64 {
        self.0.writes.load(Ordering::SeqCst)
    }

    /// Flushes that succeeded so far.
    pub fn flushes(&self) -> u64 {
        self.0.flushes.load(Ordering::SeqCst)
    }

    fn strike(&self, what: &str) -> StoreError {
        let reason = format!("{what}: No space left on device (injected)");
        self.0.failing.lock().get_or_insert_with(|| reason.clone());
        StoreError::Unavailable(reason)
    }

    fn refuse_if_failing(&self) -> Result<(), StoreError> {
        match self.0.failing.lock().as_ref() {
            Some(reason) => Err(StoreError::Unavailable(reason.clone())),
            None => Ok(()),
        }
    }

    pub(crate) fn check_read(&self) -> Result<(), StoreError> {
        self.refuse_if_failing()
    }

    pub(crate) fn check_write(&self) -> Result<(), StoreError> {
        self.refuse_if_failing()?;
        if self.0.fail_writes.load(Ordering::SeqCst) {
            return Err(self.strike("write failed"));
        }
        self.0.writes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    pub(crate) fn generation(&self) -> Generation {
        self.0.generation.load(Ordering::SeqCst)
    }

    pub(crate) async fn check_flush(&self, generation: Generation) -> Result<(), StoreError> {
        loop {
            let released = self.0.released.notified();
            tokio::pin!(released);
            released.as_mut().enable();
            if !self.0.held.load(Ordering::SeqCst) {
                break;
            }
            released.await;
        }
        self.refuse_if_failing()?;
        if generation != self.generation() {
            return Err(StoreError::Unavailable("written before the store was reopened".into()));
        }
        if self.0.fail_flushes.load(Ordering::SeqCst) {
            return Err(self.strike("fsync failed"));
        }
        self.0.flushes.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    pub(crate) fn health(&self) -> Health {
        match self.0.failing.lock().as_ref() {
            Some(reason) => Health::Failing(reason.clone()),
            None => Health::Ok,
        }
    }

    /// Healthy again if no fault is switched on.
    pub(crate) fn recover(&self) -> Result<(), StoreError> {
        if self.0.fail_writes.load(Ordering::SeqCst) || self.0.fail_flushes.load(Ordering::SeqCst) {
            return Err(StoreError::Unavailable("the injected fault is still on".into()));
        }
        let mut failing = self.0.failing.lock();
        if failing.take().is_some() {
            self.0.generation.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}
