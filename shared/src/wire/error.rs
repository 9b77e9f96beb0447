//! Why a frame was refused. Each variant has a stable short code for metrics labels,
//! and a message meant for logs and for the `error` message sent back to the peer.

use crate::ids::IdError;

/// A frame that could not be decoded into a [`Message`](super::Message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The frame is bigger than [`WireLimits::max_frame_bytes`](crate::WireLimits).
    #[error("frame of {size} bytes exceeds the limit of {max} bytes")]
    FrameTooLarge {
        /// Size of the refused frame.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The bytes are not well-formed CBOR (truncated, reserved values, bad UTF-8,
    /// nesting too deep, trailing bytes after the message).
    #[error("malformed CBOR: {0}")]
    Malformed(String),
    /// The frame is CBOR but not a map.
    #[error("message is not a CBOR map")]
    NotAMap,
    /// A field the message type requires is absent (or `null`/`undefined`).
    #[error("missing field `{0}`")]
    MissingField(&'static str),
    /// A field holds a value of the wrong CBOR type.
    #[error("field `{field}` has the wrong type")]
    WrongType {
        /// The wire name of the field.
        field: &'static str,
    },
    /// A field is longer than its limit.
    #[error("field `{field}` is too large")]
    FieldTooLarge {
        /// The wire name of the field.
        field: &'static str,
    },
    /// `documentId` is not a valid bs58check document id.
    #[error("invalid document id: {0}")]
    InvalidDocumentId(IdError),
    /// `senderId` or `targetId` is empty or too long.
    #[error("invalid peer id: {0}")]
    InvalidPeerId(IdError),
    /// `peerMetadata.storageId` is empty or too long.
    #[error("invalid storage id: {0}")]
    InvalidStorageId(IdError),
    /// A known key appears twice in the same map. cbor-x never does this; refusing it
    /// means no two readers can disagree about which value counts.
    #[error("field `{0}` appears more than once")]
    DuplicateField(&'static str),
}

impl WireError {
    /// A short, stable `snake_case` code for metrics labels and logs.
    pub fn code(&self) -> &'static str {
        match self {
            Self::FrameTooLarge { .. } => "frame_too_large",
            Self::Malformed(_) => "malformed",
            Self::NotAMap => "not_a_map",
            Self::MissingField(_) => "missing_field",
            Self::WrongType { .. } => "wrong_type",
            Self::FieldTooLarge { .. } => "field_too_large",
            Self::InvalidDocumentId(_) => "invalid_document_id",
            Self::InvalidPeerId(_) => "invalid_peer_id",
            Self::InvalidStorageId(_) => "invalid_storage_id",
            Self::DuplicateField(_) => "duplicate_field",
        }
    }

    /// Maps a low-level CBOR decoding failure. Type mismatches are checked before
    /// decoding, so whatever minicbor reports is a malformation of the bytes.
    pub(crate) fn cbor(e: minicbor::decode::Error) -> Self {
        if e.is_end_of_input() {
            Self::Malformed("truncated frame".to_owned())
        } else {
            Self::Malformed(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_snake_case() {
        let all = [
            WireError::FrameTooLarge { size: 2, max: 1 },
            WireError::Malformed("x".into()),
            WireError::NotAMap,
            WireError::MissingField("type"),
            WireError::WrongType { field: "count" },
            WireError::FieldTooLarge { field: "data" },
            WireError::InvalidDocumentId(IdError::Empty),
            WireError::InvalidPeerId(IdError::Empty),
            WireError::InvalidStorageId(IdError::Empty),
            WireError::DuplicateField("type"),
        ];
        let mut codes: Vec<_> = all.iter().map(WireError::code).collect();
        for c in &codes {
            assert!(c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'));
        }
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), all.len());
    }

    #[test]
    fn messages_name_the_problem() {
        assert_eq!(
            WireError::FrameTooLarge { size: 10, max: 5 }.to_string(),
            "frame of 10 bytes exceeds the limit of 5 bytes"
        );
        assert_eq!(WireError::MissingField("senderId").to_string(), "missing field `senderId`");
        assert_eq!(
            WireError::InvalidDocumentId(IdError::BadChecksum).to_string(),
            "invalid document id: bs58check checksum is missing or does not match"
        );
    }
}
