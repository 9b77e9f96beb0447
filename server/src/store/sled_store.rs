//! The sled-backed [`DocStore`]: the canonical store of a running server.
//!
//! Writes go into sled's buffers and are then made durable by the shared
//! [`GroupCommit`], which fsyncs the whole database once for every writer that
//! arrived while the previous flush ran.

use super::{ChunkKey, ChunkKind, DocStore, GroupCommit, StoreError, StoredDoc};
use linli_shared::DocumentId;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct SledStore {
    tree: sled::Tree,
    commit: Arc<GroupCommit>,
}

impl SledStore {
    /// Uses `tree` for document chunks; `commit` must flush the database owning `tree`.
    pub fn new(tree: sled::Tree, commit: Arc<GroupCommit>) -> Self {
        SledStore { tree, commit }
    }

    fn durable(&self) -> Result<(), StoreError> {
        self.commit.commit().map_err(StoreError::Io)
    }
}

impl DocStore for SledStore {
    fn load(&self, doc: &DocumentId) -> Result<StoredDoc, StoreError> {
        let mut chunks = Vec::new();
        for item in self.tree.scan_prefix(ChunkKey::prefix(doc)) {
            let (k, v) = item?;
            let key = ChunkKey::decode(&k)
                .ok_or_else(|| StoreError::Corrupt(format!("unreadable key {:?}", String::from_utf8_lossy(&k))))?;
            chunks.push((key, v.to_vec()));
        }
        chunks.sort_by_key(|(k, _)| k.kind != ChunkKind::Snapshot);
        Ok(StoredDoc { chunks })
    }

    fn put_chunk(&self, doc: &DocumentId, bytes: &[u8]) -> Result<ChunkKey, StoreError> {
        let key = ChunkKey::incremental(*doc, bytes);
        // Content addressed: a re-sent change is a no-op, but we still wait for durability
        // because the first writer of these bytes may not have been flushed yet.
        self.tree.insert(key.encode(), bytes)?;
        self.durable()?;
        Ok(key)
    }

    fn compact(
        &self,
        doc: &DocumentId,
        heads: &[automerge::ChangeHash],
        snapshot: &[u8],
        covered: &[ChunkKey],
    ) -> Result<ChunkKey, StoreError> {
        let key = ChunkKey::snapshot(*doc, heads);
        let mut batch = sled::Batch::default();
        for k in covered.iter().filter(|k| **k != key) {
            batch.remove(k.encode());
        }
        batch.insert(key.encode(), snapshot);
        self.tree.apply_batch(batch)?;
        self.durable()?;
        Ok(key)
    }

    fn delete(&self, doc: &DocumentId) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for item in self.tree.scan_prefix(ChunkKey::prefix(doc)).keys() {
            batch.remove(item?);
        }
        self.tree.apply_batch(batch)?;
        self.durable()
    }

    fn list(&self) -> Result<Vec<DocumentId>, StoreError> {
        let mut docs = Vec::new();
        let mut last: Option<DocumentId> = None;
        for item in self.tree.iter().keys() {
            let k = item?;
            if let Some(key) = ChunkKey::decode(&k) {
                if last != Some(key.doc) {
                    docs.push(key.doc);
                    last = Some(key.doc);
                }
            }
        }
        Ok(docs)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn temp_store() -> SledStore {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let flusher = db.clone();
        let commit =
            Arc::new(GroupCommit::new(move || flusher.flush().map(|_| ()).map_err(std::io::Error::other), |_, _| {}));
        SledStore::new(db.open_tree("docs").unwrap(), commit)
    }

    #[test]
    fn passes_the_conformance_suite() {
        super::super::run_conformance_suite(temp_store);
    }

    #[test]
    fn survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let doc = DocumentId::random();
        {
            let db = sled::open(dir.path()).unwrap();
            let flusher = db.clone();
            let commit = Arc::new(GroupCommit::new(
                move || flusher.flush().map(|_| ()).map_err(std::io::Error::other),
                |_, _| {},
            ));
            let store = SledStore::new(db.open_tree("docs").unwrap(), commit);
            store.put_chunk(&doc, b"change bytes").unwrap();
        }
        let db = sled::open(dir.path()).unwrap();
        let commit = Arc::new(GroupCommit::new(|| Ok(()), |_, _| {}));
        let store = SledStore::new(db.open_tree("docs").unwrap(), commit);
        let loaded = store.load(&doc).unwrap();
        assert_eq!(loaded.chunks.len(), 1);
        assert_eq!(loaded.chunks[0].1, b"change bytes");
    }
}
