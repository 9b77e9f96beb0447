//! The messages of the protocol as Rust values: what a decoded frame means, independent
//! of CBOR.

use crate::ids::{DocumentId, PeerId, StorageId};

/// The only protocol version this implementation speaks.
pub const PROTOCOL_VERSION: &str = "1";

/// What a peer says about itself in `join` and `peer`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerMetadata {
    /// The peer's durable storage, if it has one; lets the other side persist sync state.
    pub storage_id: Option<StorageId>,
    /// An ephemeral peer keeps nothing, so nobody should keep sync state for it.
    pub is_ephemeral: bool,
}

/// One protocol message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// Client → server, first message. A missing version list means "1".
    Join { sender_id: PeerId, peer_metadata: Option<PeerMetadata>, supported_protocol_versions: Option<Vec<String>> },
    /// Server → client, accepts the join.
    Peer { sender_id: PeerId, target_id: PeerId, peer_metadata: PeerMetadata, selected_protocol_version: String },
    /// Fatal; the sender closes the connection after it.
    Error { sender_id: PeerId, target_id: PeerId, message: String },
    /// "I have nothing of this document": answered with `sync` or `doc-unavailable`.
    Request { sender_id: PeerId, target_id: PeerId, document_id: DocumentId, data: Vec<u8> },
    /// One Automerge sync message for a document.
    Sync { sender_id: PeerId, target_id: PeerId, document_id: DocumentId, data: Vec<u8> },
    /// The sender has no such document (or will not say that it has).
    DocUnavailable { sender_id: PeerId, target_id: PeerId, document_id: DocumentId },
    /// App data relayed to the document's other peers, never stored. Receivers drop
    /// repeats per (`sender_id`, `session_id`) with a non-increasing `count`.
    Ephemeral {
        sender_id: PeerId,
        target_id: PeerId,
        document_id: DocumentId,
        session_id: String,
        count: u64,
        data: Vec<u8>,
    },
    /// A message type we accept but do not act on (`remote-subscription-change`,
    /// `remote-heads-changed`, or any unknown type); carries the type string.
    Ignored { kind: String },
}

impl Message {
    pub const JOIN: &'static str = "join";
    pub const PEER: &'static str = "peer";
    pub const ERROR: &'static str = "error";
    pub const REQUEST: &'static str = "request";
    pub const SYNC: &'static str = "sync";
    pub const DOC_UNAVAILABLE: &'static str = "doc-unavailable";
    pub const EPHEMERAL: &'static str = "ephemeral";

    /// The wire `type` string.
    pub fn kind(&self) -> &str {
        match self {
            Self::Join { .. } => Self::JOIN,
            Self::Peer { .. } => Self::PEER,
            Self::Error { .. } => Self::ERROR,
            Self::Request { .. } => Self::REQUEST,
            Self::Sync { .. } => Self::SYNC,
            Self::DocUnavailable { .. } => Self::DOC_UNAVAILABLE,
            Self::Ephemeral { .. } => Self::EPHEMERAL,
            Self::Ignored { kind } => kind,
        }
    }

    /// The document the message is about, for the document-scoped types.
    pub fn document_id(&self) -> Option<&DocumentId> {
        match self {
            Self::Request { document_id, .. }
            | Self::Sync { document_id, .. }
            | Self::DocUnavailable { document_id, .. }
            | Self::Ephemeral { document_id, .. } => Some(document_id),
            Self::Join { .. } | Self::Peer { .. } | Self::Error { .. } | Self::Ignored { .. } => None,
        }
    }

    /// The self-declared sender (not decoded for ignored messages).
    pub fn sender_id(&self) -> Option<&PeerId> {
        match self {
            Self::Join { sender_id, .. }
            | Self::Peer { sender_id, .. }
            | Self::Error { sender_id, .. }
            | Self::Request { sender_id, .. }
            | Self::Sync { sender_id, .. }
            | Self::DocUnavailable { sender_id, .. }
            | Self::Ephemeral { sender_id, .. } => Some(sender_id),
            Self::Ignored { .. } => None,
        }
    }

    /// The addressee (`join` has none; not decoded for ignored messages).
    pub fn target_id(&self) -> Option<&PeerId> {
        match self {
            Self::Peer { target_id, .. }
            | Self::Error { target_id, .. }
            | Self::Request { target_id, .. }
            | Self::Sync { target_id, .. }
            | Self::DocUnavailable { target_id, .. }
            | Self::Ephemeral { target_id, .. } => Some(target_id),
            Self::Join { .. } | Self::Ignored { .. } => None,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn accessors() {
        let p = PeerId::new("a").unwrap();
        let q = PeerId::new("b").unwrap();
        let doc = DocumentId::from_bytes([1; 16]);
        let m = Message::DocUnavailable { sender_id: p.clone(), target_id: q.clone(), document_id: doc };
        assert_eq!(m.kind(), "doc-unavailable");
        assert_eq!(m.document_id(), Some(&doc));
        assert_eq!(m.sender_id(), Some(&p));
        assert_eq!(m.target_id(), Some(&q));

        let j = Message::Join { sender_id: p.clone(), peer_metadata: None, supported_protocol_versions: None };
        assert_eq!(j.kind(), "join");
        assert_eq!(j.document_id(), None);
        assert_eq!(j.target_id(), None);

        let i = Message::Ignored { kind: "remote-heads-changed".into() };
        assert_eq!(i.kind(), "remote-heads-changed");
        assert_eq!(i.sender_id(), None);
    }
}
