//! Why a string was refused as an identifier.

/// An identifier failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The string is empty.
    #[error("identifier is empty")]
    Empty,
    /// The string is longer than allowed.
    #[error("identifier is {len} bytes long; the limit is {max} bytes")]
    TooLong {
        /// Length of the refused string, in bytes.
        len: usize,
        /// The limit it exceeded.
        max: usize,
    },
    /// A document id contains a character outside the base58 alphabet.
    #[error("not base58: unexpected character at byte {index}")]
    NotBase58 {
        /// Byte offset of the first bad character.
        index: usize,
    },
    /// A document id's bs58check checksum is missing or does not match its payload.
    #[error("bs58check checksum is missing or does not match")]
    BadChecksum,
    /// A document id decodes to a payload that is not 16 bytes.
    #[error("document id payload is {len} bytes; expected 16")]
    WrongLength {
        /// Length of the decoded payload.
        len: usize,
    },
    /// Any other base58 decoding failure (kept so a new bs58 error kind cannot go unmapped).
    #[error("malformed bs58check: {0}")]
    Malformed(String),
}
