//! Linli's pure core, shared by the server, the black-box tests and the load generator:
//! identifiers, the automerge-repo wire protocol (version "1") with its CBOR codec, the
//! limits that bound what a peer may send, and the domain: document schemas, access
//! rules and alerts (`domain`). No I/O and no async runtime, so every
//! part can be tested in isolation and fuzzed.

pub mod domain;
pub mod fuzz;
pub mod ids;
pub mod inflate;
pub mod limits;
pub mod sync_guard;
pub mod wire;

pub use ids::{DocumentId, IdError, PeerId, StorageId};
pub use limits::WireLimits;
pub use wire::{check_peer_ephemeral, decode, encode, Message, PeerMetadata, WireError, SERVER_EPHEMERAL_KEY};
