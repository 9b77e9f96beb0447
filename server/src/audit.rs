//! The audit log (DESIGN §4, §9): every accepted and refused change, every export, every
//! read of health or care details — who, what, when, which document. Entries name users
//! and documents by id; they never copy document content (health data stays in the
//! documents, where retention erases it). The store numbers and hash-chains them.
//!
//! An entry that describes a write commits with it ([`Audit::entry`] in the same batch).
//! Entries that describe no write (a read, a refused change) go through a background
//! appender that batches them and retries while the store is failing, so recording one
//! never waits for an fsync.

use crate::store::{AuditEntry, AuditFilter, AuditRecord, Store, StoreError, Write};
use std::time::Duration;
use tokio::sync::mpsc;

pub use crate::store::AuditEntry as Entry;

/// Most entries waiting for the appender; beyond it the oldest are dropped (and logged).
const MAX_QUEUED: usize = 100_000;

/// Appends to and reads the audit log.
#[derive(Debug, Clone)]
pub struct Audit {
    store: Store,
    queue: mpsc::UnboundedSender<(AuditEntry, Option<tokio::sync::oneshot::Sender<()>>)>,
}

impl Audit {
    /// Starts the background appender on the current runtime.
    pub fn start(store: Store) -> Self {
        let (queue, rx) = mpsc::unbounded_channel();
        tokio::spawn(append_loop(store.clone(), rx));
        Audit { store, queue }
    }

    /// The audit entry for `user` doing `action`, to commit with the write it describes.
    pub fn entry(&self, user: &str, action: &str, doc: Option<String>, detail: impl Into<String>) -> Write {
        Write::Audit(self.make(user, action, doc, detail))
    }

    fn make(&self, user: &str, action: &str, doc: Option<String>, detail: impl Into<String>) -> AuditEntry {
        AuditEntry {
            at: self.store.now_ms(),
            user: user.to_owned(),
            action: action.to_owned(),
            doc,
            detail: detail.into(),
        }
    }

    /// Records an entry that describes no write; it becomes durable shortly (see the
    /// module docs).
    pub fn record(&self, user: &str, action: &str, doc: Option<String>, detail: impl Into<String>) {
        let _ = self.queue.send((self.make(user, action, doc, detail), None));
    }

    /// Resolves once every entry recorded before it is durable (tests, shutdown).
    pub async fn flushed(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        let marker = self.make(crate::auth::SERVER_USER, "", None, "");
        if self.queue.send((marker, Some(done))).is_ok() {
            let _ = wait.await;
        }
    }

    /// The newest entries first, optionally only those of one `user` or one `action`
    /// prefix, at most `limit`, older than `before` (ms) if given.
    pub async fn list(
        &self,
        user: Option<&str>,
        action: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let filter = AuditFilter { user: user.map(str::to_owned), action: action.map(str::to_owned), before, limit };
        self.store.audit(&filter).await
    }
}

async fn append_loop(
    store: Store,
    mut rx: mpsc::UnboundedReceiver<(AuditEntry, Option<tokio::sync::oneshot::Sender<()>>)>,
) {
    let mut pending: Vec<AuditEntry> = Vec::new();
    let mut waiting = Vec::new();
    loop {
        if pending.is_empty() && waiting.is_empty() {
            match rx.recv().await {
                Some(item) => take(item, &mut pending, &mut waiting),
                None => break,
            }
        }
        while let Ok(item) = rx.try_recv() {
            take(item, &mut pending, &mut waiting);
        }
        if pending.len() > MAX_QUEUED {
            let dropped = pending.len() - MAX_QUEUED;
            pending.drain(..dropped);
            tracing::error!(dropped, "the store has been failing for long: oldest audit entries dropped");
        }
        let batch: Vec<Write> = pending.iter().cloned().map(Write::Audit).collect();
        match store.commit(batch).await {
            Ok(()) => {
                pending.clear();
                for done in waiting.drain(..) {
                    let _ = done.send(());
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, queued = pending.len(), "audit entries wait for the store");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn take(
    (entry, done): (AuditEntry, Option<tokio::sync::oneshot::Sender<()>>),
    pending: &mut Vec<AuditEntry>,
    waiting: &mut Vec<tokio::sync::oneshot::Sender<()>>,
) {
    match done {
        // A flush marker, not an entry.
        Some(done) => waiting.push(done),
        None => pending.push(entry),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lists_newest_first_with_filters() {
        let audit = Audit::start(Store::memory());
        audit.record("u1", "change.accepted", Some("d1".into()), "2 changes");
        audit.record("u2", "export", None, "tasks.csv");
        audit.record("u1", "change.refused", Some("d1".into()), "field_rule");
        audit.flushed().await;
        let all = audit.list(None, None, None, 10).await.unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].entry.action, "change.refused");
        assert_eq!(audit.list(Some("u1"), None, None, 10).await.unwrap().len(), 2);
        assert_eq!(audit.list(None, Some("change."), None, 10).await.unwrap().len(), 2);
        assert_eq!(audit.list(None, None, None, 1).await.unwrap().len(), 1);
    }
}
