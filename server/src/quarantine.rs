//! Refused changes are not merged, but they are not thrown away either: the quarantine
//! keeps who sent them, when, why, and the raw changes, for an admin to review
//! (DESIGN §4). A batch sent again (a phone retrying) is stored once.

use crate::db::{Db, DbError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineEntry {
    pub id: String,
    pub at: i64,
    pub user: String,
    pub doc: String,
    pub code: String,
    pub reason: String,
    /// Hex change hashes.
    pub hashes: Vec<String>,
    /// The raw changes, hex encoded (they are Automerge binary changes).
    pub changes: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Quarantine {
    tree: sled::Tree,
    clock: crate::clock::SharedClock,
}

impl Quarantine {
    pub fn new(db: &Db) -> Result<Self, DbError> {
        Ok(Quarantine { tree: db.sled.open_tree("quarantine")?, clock: db.clock.clone() })
    }

    /// Keeps a refused batch. Returns its id.
    pub fn keep(
        &self,
        user: &str,
        doc: &str,
        code: &str,
        reason: &str,
        changes: &[(String, Vec<u8>)],
    ) -> Result<String, DbError> {
        let mut h = Sha256::new();
        for (_, raw) in changes {
            h.update(raw);
        }
        let id = hex::encode(&h.finalize()[..12]);
        let entry = QuarantineEntry {
            id: id.clone(),
            at: self.clock.now_ms(),
            user: user.to_owned(),
            doc: doc.to_owned(),
            code: code.to_owned(),
            reason: reason.to_owned(),
            hashes: changes.iter().map(|(h, _)| h.clone()).collect(),
            changes: changes.iter().map(|(_, raw)| hex::encode(raw)).collect(),
        };
        let json = serde_json::to_vec(&entry).map_err(|e| DbError::Corrupt(e.to_string()))?;
        let _ = self.tree.compare_and_swap(id.as_bytes(), None as Option<&[u8]>, Some(json))?;
        Ok(id)
    }

    /// Newest first, at most `limit`.
    pub fn list(&self, limit: usize) -> Result<Vec<QuarantineEntry>, DbError> {
        let mut all: Vec<QuarantineEntry> = self
            .tree
            .iter()
            .values()
            .map(|v| {
                let v = v?;
                serde_json::from_slice(&v).map_err(|e| DbError::Corrupt(format!("quarantine entry: {e}")))
            })
            .collect::<Result<_, DbError>>()?;
        all.sort_by_key(|e| std::cmp::Reverse(e.at));
        all.truncate(limit);
        Ok(all)
    }

    pub fn len(&self) -> usize {
        self.tree.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.is_empty()
    }
}
