//! The automerge-repo network protocol, version "1": the message types and their CBOR
//! codec. One WebSocket binary frame carries one CBOR map with text keys; see
//! `PROTOCOL.md` in the design notes for the message table.
//!
//! Decoding is defensive because every frame comes from an untrusted peer: the frame
//! size is checked before parsing, nesting is bounded, strings and byte strings are
//! borrowed from the frame (a lying length prefix cannot make us allocate), and no
//! input makes it panic.

mod cbor;
mod decode;
mod encode;
mod ephemeral;
mod error;
mod fields;
mod message;

pub use decode::decode;
pub use encode::encode;
pub use ephemeral::{check_peer_ephemeral, SERVER_EPHEMERAL_KEY};
pub use error::WireError;
pub use message::{Message, PeerMetadata, PROTOCOL_VERSION};

/// Deepest nesting of CBOR maps, arrays and tags accepted in a frame, counting the
/// message map itself as level 1. Real messages nest at most 4 levels
/// (`remote-heads-changed`); the bound keeps the skipping of unknown values cheap and
/// its recursion shallow.
pub const MAX_NESTING: usize = 32;
