//! An in-memory [`DocStore`] for tests and simulations. "Durable" here means "visible to
//! every later call", which is all a process-local store can promise.

use super::{ChunkKey, ChunkKind, DocStore, StoreError, StoredDoc};
use linli_shared::DocumentId;
use parking_lot::Mutex;
use std::collections::BTreeMap;

#[derive(Debug, Default)]
pub struct MemoryStore {
    chunks: Mutex<BTreeMap<ChunkKey, Vec<u8>>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

fn doc_range(doc: &DocumentId) -> std::ops::RangeInclusive<ChunkKey> {
    let lo = ChunkKey { doc: *doc, kind: ChunkKind::Incremental, hash: [0; 32] };
    let hi = ChunkKey { doc: *doc, kind: ChunkKind::Snapshot, hash: [0xff; 32] };
    lo..=hi
}

impl DocStore for MemoryStore {
    fn load(&self, doc: &DocumentId) -> Result<StoredDoc, StoreError> {
        let chunks = self.chunks.lock();
        let mut out: Vec<_> = chunks.range(doc_range(doc)).map(|(k, v)| (*k, v.clone())).collect();
        // Snapshots first, as the trait promises.
        out.sort_by_key(|(k, _)| k.kind != ChunkKind::Snapshot);
        Ok(StoredDoc { chunks: out })
    }

    fn put_chunk(&self, doc: &DocumentId, bytes: &[u8]) -> Result<ChunkKey, StoreError> {
        let key = ChunkKey::incremental(*doc, bytes);
        self.chunks.lock().entry(key).or_insert_with(|| bytes.to_vec());
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
        let mut chunks = self.chunks.lock();
        for k in covered.iter().filter(|k| **k != key) {
            chunks.remove(k);
        }
        chunks.insert(key, snapshot.to_vec());
        Ok(key)
    }

    fn delete(&self, doc: &DocumentId) -> Result<(), StoreError> {
        let mut chunks = self.chunks.lock();
        let keys: Vec<_> = chunks.range(doc_range(doc)).map(|(k, _)| *k).collect();
        for k in keys {
            chunks.remove(&k);
        }
        Ok(())
    }

    fn list(&self) -> Result<Vec<DocumentId>, StoreError> {
        let mut docs: Vec<_> = self.chunks.lock().keys().map(|k| k.doc).collect();
        docs.dedup();
        Ok(docs)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passes_the_conformance_suite() {
        super::super::run_conformance_suite(super::MemoryStore::new);
    }
}
