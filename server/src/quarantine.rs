//! Refused changes are not merged, but they are not thrown away either: the quarantine
//! keeps who sent them, when, why, and the raw changes, for an admin to review
//! (DESIGN §4). A batch sent again (a phone retrying) is stored once.

use crate::store::{QuarantineEntry, Store, StoreError, Write};
use sha2::{Digest, Sha256};

pub use crate::store::QuarantineEntry as Entry;

#[derive(Debug, Clone)]
pub struct Quarantine {
    store: Store,
}

impl Quarantine {
    pub fn new(store: Store) -> Self {
        Quarantine { store }
    }

    /// The quarantine entry of a refused batch; `changes` are (hash, raw bytes). Its id is
    /// a hash of the raw changes, so the same batch sent again is one entry.
    pub fn entry(
        &self,
        user: &str,
        doc: &str,
        code: &str,
        reason: &str,
        changes: &[(String, Vec<u8>)],
    ) -> QuarantineEntry {
        let mut h = Sha256::new();
        for (hash, raw) in changes {
            h.update(hash.as_bytes());
            h.update(raw);
        }
        QuarantineEntry {
            id: hex::encode(&h.finalize()[..12]),
            at: self.store.now_ms(),
            user: user.to_owned(),
            doc: doc.to_owned(),
            code: code.to_owned(),
            reason: reason.to_owned(),
            hashes: changes.iter().map(|(h, _)| h.clone()).collect(),
            changes: changes.iter().map(|(_, raw)| hex::encode(raw)).collect(),
            dropped: None,
        }
    }

    /// Keeps a refused batch. Durable on return.
    pub async fn keep(&self, entry: QuarantineEntry) -> Result<String, StoreError> {
        let id = entry.id.clone();
        self.store.commit(vec![Write::Quarantine(entry)]).await?;
        Ok(id)
    }

    /// Newest first, at most `limit`, older than `before` (the `at` and `id` of the last
    /// entry of the previous page).
    pub async fn list(&self, before: Option<(i64, String)>, limit: usize) -> Result<Vec<QuarantineEntry>, StoreError> {
        self.store.quarantined(before, limit).await
    }
}
