//! The audit log (DESIGN §4): every accepted and refused change, every export, every
//! volunteer read of a household's details — who, what, when, which document.
//!
//! Entries are kept in the `audit` tree under a time-ordered key, so listing the newest
//! first is a reverse scan. Entries name users by id and documents by id; they never
//! copy document content (health data stays in the documents, where retention erases it).

use crate::clock::SharedClock;
use crate::db::{Db, DbError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    /// User id, or `server`.
    pub user: String,
    /// What happened: `change.accepted`, `change.refused`, `export`, `read.household`, …
    pub action: String,
    /// The document concerned, if any (`automerge:` URL form is not used: plain id).
    pub doc: Option<String>,
    /// Short, non-sensitive detail: a count, a reason code, an export name.
    pub detail: String,
}

/// Appends to and reads the audit log.
#[derive(Debug)]
pub struct Audit {
    tree: sled::Tree,
    /// Keys end with an id sled hands out monotonically across restarts, so two entries
    /// of the same millisecond never share a key (the test clock stands still).
    ids: sled::Db,
    clock: SharedClock,
}

impl Audit {
    pub fn new(db: &Db) -> Result<Self, DbError> {
        Ok(Audit { tree: db.sled.open_tree("audit")?, ids: db.sled.clone(), clock: db.clock.clone() })
    }

    /// Records an entry. It becomes durable with the next group commit (the write that
    /// the entry describes is itself durable before it is acknowledged).
    pub fn record(&self, user: &str, action: &str, doc: Option<String>, detail: impl Into<String>) {
        let entry = AuditEntry {
            at: self.clock.now_ms(),
            user: user.to_owned(),
            action: action.to_owned(),
            doc,
            detail: detail.into(),
        };
        let id = match self.ids.generate_id() {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(error = %e, action, "could not number an audit entry");
                return;
            }
        };
        let mut key = Vec::with_capacity(16);
        key.extend_from_slice(&entry.at.to_be_bytes());
        key.extend_from_slice(&id.to_be_bytes());
        match serde_json::to_vec(&entry) {
            Ok(json) => {
                if let Err(e) = self.tree.insert(key, json) {
                    tracing::error!(error = %e, action, "could not write audit entry");
                }
            }
            Err(e) => tracing::error!(error = %e, "could not encode audit entry"),
        }
    }

    /// The newest entries first, optionally only those of one `user` or one `action`
    /// prefix, at most `limit`, older than `before` (ms) if given.
    pub fn list(
        &self,
        user: Option<&str>,
        action: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, DbError> {
        let upper = before.map(|b| b.to_be_bytes().to_vec());
        let iter = match upper {
            Some(u) => self.tree.range(..u),
            None => self.tree.iter(),
        };
        let mut out = Vec::new();
        for item in iter.rev() {
            let (_, v) = item?;
            let e: AuditEntry =
                serde_json::from_slice(&v).map_err(|e| DbError::Corrupt(format!("audit entry: {e}")))?;
            if user.is_some_and(|u| e.user != u) || action.is_some_and(|a| !e.action.starts_with(a)) {
                continue;
            }
            out.push(e);
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use std::sync::Arc;

    #[test]
    fn lists_newest_first_with_filters() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path(), Arc::new(Metrics::new())).unwrap();
        let audit = Audit::new(&db).unwrap();
        audit.record("u1", "change.accepted", Some("d1".into()), "2 changes");
        audit.record("u2", "export", None, "tasks.csv");
        audit.record("u1", "change.refused", Some("d1".into()), "field_rule");
        let all = audit.list(None, None, None, 10).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].action, "change.refused");
        assert_eq!(audit.list(Some("u1"), None, None, 10).unwrap().len(), 2);
        assert_eq!(audit.list(None, Some("change."), None, 10).unwrap().len(), 2);
        assert_eq!(audit.list(None, None, None, 1).unwrap().len(), 1);
    }
}
