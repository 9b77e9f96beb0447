//! Identifiers of the automerge-repo protocol: documents, peers and peers' storage.
//! Each type validates on construction, so code holding one never re-checks it.

mod document_id;
mod error;
mod peer_id;
mod storage_id;
mod text_id;

pub use document_id::{DocumentId, MAX_DOCUMENT_ID_CHARS};
pub use error::IdError;
pub use peer_id::PeerId;
pub use storage_id::StorageId;
