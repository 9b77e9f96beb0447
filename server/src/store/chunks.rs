//! Document chunks: how a document's accepted changes are stored.
//!
//! Keys are content addressed, so storing the same change twice is a no-op:
//! `doc/<id>/c/<sha256 of chunk>` for incremental chunks and `doc/<id>/s/<sha256 of heads>`
//! for snapshots. A compaction writes a snapshot and deletes the chunks it covers in one
//! atomic write ([`super::Write::Compact`]).

use super::StoreError;
use linli_shared::DocumentId;
use sha2::{Digest, Sha256};

/// What kind of blob a key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChunkKind {
    /// An incremental chunk: the changes of one accepted batch.
    Incremental,
    /// A compacted snapshot of the whole document.
    Snapshot,
}

impl ChunkKind {
    pub(crate) fn tag(self) -> u8 {
        match self {
            ChunkKind::Incremental => b'c',
            ChunkKind::Snapshot => b's',
        }
    }
}

/// The key of one stored blob of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChunkKey {
    pub doc: DocumentId,
    pub kind: ChunkKind,
    pub hash: [u8; 32],
}

impl ChunkKey {
    /// The key of an incremental chunk, addressed by its content.
    pub fn incremental(doc: DocumentId, bytes: &[u8]) -> Self {
        ChunkKey { doc, kind: ChunkKind::Incremental, hash: Sha256::digest(bytes).into() }
    }

    /// The key of a snapshot, addressed by the heads it covers.
    pub fn snapshot(doc: DocumentId, heads: &[automerge::ChangeHash]) -> Self {
        let mut h = Sha256::new();
        for head in heads {
            h.update(head.0);
        }
        ChunkKey { doc, kind: ChunkKind::Snapshot, hash: h.finalize().into() }
    }

    /// `doc/<id>/<c|s>/<hex hash>`: readable in a dump, sorted by document.
    pub fn encode(&self) -> Vec<u8> {
        let mut key = Self::prefix(&self.doc);
        key.push(self.kind.tag());
        key.push(b'/');
        key.extend_from_slice(hex::encode(self.hash).as_bytes());
        key
    }

    /// Parses a key written by [`ChunkKey::encode`].
    pub fn decode(key: &[u8]) -> Option<Self> {
        let s = std::str::from_utf8(key).ok()?;
        let rest = s.strip_prefix("doc/")?;
        let mut parts = rest.split('/');
        let doc = parts.next()?.parse().ok()?;
        let kind = match parts.next()? {
            "c" => ChunkKind::Incremental,
            "s" => ChunkKind::Snapshot,
            _ => return None,
        };
        let mut hash = [0u8; 32];
        hex::decode_to_slice(parts.next()?, &mut hash).ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(ChunkKey { doc, kind, hash })
    }

    /// `doc/<id>/`: every key of one document starts with this.
    pub fn prefix(doc: &DocumentId) -> Vec<u8> {
        format!("doc/{doc}/").into_bytes()
    }
}

/// Everything stored for one document, snapshots first.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StoredDoc {
    pub chunks: Vec<(ChunkKey, Vec<u8>)>,
}

impl StoredDoc {
    /// Rebuilds the document, refusing anything damaged: an incremental chunk whose bytes
    /// do not match its content address, or a snapshot that does not load strictly or
    /// does not have the heads it was stored under. (Automerge's own incremental loading
    /// skips unreadable data silently, which would hide a damaged store.)
    pub fn to_automerge(&self) -> Result<automerge::Automerge, StoreError> {
        let mut doc = automerge::Automerge::new();
        for (key, bytes) in &self.chunks {
            match key.kind {
                ChunkKind::Incremental => {
                    if <[u8; 32]>::from(Sha256::digest(bytes)) != key.hash {
                        return Err(StoreError::Corrupt(format!("chunk {} does not match its hash", key_name(key))));
                    }
                    doc.load_incremental(bytes)
                        .map_err(|e| StoreError::Corrupt(format!("chunk {}: {e}", key_name(key))))?;
                }
                ChunkKind::Snapshot => {
                    let snap = automerge::Automerge::load(bytes)
                        .map_err(|e| StoreError::Corrupt(format!("snapshot {}: {e}", key_name(key))))?;
                    if ChunkKey::snapshot(key.doc, &snap.get_heads()).hash != key.hash {
                        return Err(StoreError::Corrupt(format!("snapshot {} has other heads", key_name(key))));
                    }
                    if doc.get_heads().is_empty() {
                        doc = snap;
                    } else {
                        let mut snap = snap;
                        doc.merge(&mut snap)
                            .map_err(|e| StoreError::Corrupt(format!("snapshot {}: {e}", key_name(key))))?;
                    }
                }
            }
        }
        Ok(doc)
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    pub fn total_bytes(&self) -> usize {
        self.chunks.iter().map(|(_, b)| b.len()).sum()
    }
}

fn key_name(key: &ChunkKey) -> String {
    String::from_utf8_lossy(&key.encode()).into_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn chunk_keys_round_trip_and_sort_by_document() {
        let doc = DocumentId::random();
        let key = ChunkKey::incremental(doc, b"abc");
        assert_eq!(ChunkKey::decode(&key.encode()), Some(key));
        assert!(key.encode().starts_with(&ChunkKey::prefix(&doc)));
        let snap = ChunkKey::snapshot(doc, &[]);
        assert_eq!(ChunkKey::decode(&snap.encode()), Some(snap));
        assert_eq!(ChunkKey::decode(b"doc/zzz/c/00"), None);
        assert_eq!(ChunkKey::decode(b"users/x"), None);
    }
}
