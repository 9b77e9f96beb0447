//! A document's bytes read as a Linli document: an Automerge document loaded from
//! storage or from a peer (whole, and as incremental chunks), and the JSON form that the
//! API and the TypeScript types use. Whatever the bytes, reading ends in a document or a
//! [`Violation`]; a document is then validated, summarised and its alerts computed, as
//! the server's projections do.
//!
//! Automerge 0.12 panics loading some malformed documents (an `unwrap` in its column
//! decoder, on a bundle chunk: fixture `crash-load-unpack-unwrap`). The server loads
//! stored documents and applies a peer's chunks under `catch_unwind`, so the loading runs
//! inside [`boundary`] here too; reading the loaded document does not. Only bytes that
//! pass [`check_chunk_types`] are loaded, as only those reach the server's store (a bundle
//! chunk made `load` allocate 4 GiB: fixture `oom-bundle-delta-column`).

use automerge::Automerge;
use serde_json::Value as Json;

use super::boundary;
use crate::domain::{DomainDoc, DomainLimits, Violation};
use crate::sync_guard::{check_chunk_types, SyncMessageError};

/// What reading one input gave, for each way of reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HydrateOutcome {
    /// `Automerge::load`, then the reading.
    pub loaded: Load,
    /// `Automerge::load_incremental` into an empty document, then the reading.
    pub incremental: Load,
    /// The bytes as JSON: `None` if they are not JSON.
    pub json: Option<Reading>,
}

/// How loading bytes as an Automerge document went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Load {
    /// Not chunks the server would take from a peer ([`check_chunk_types`]).
    Guarded(SyncMessageError),
    /// Automerge refused the bytes.
    Refused,
    /// Automerge panicked on them (the server catches this).
    Panicked,
    /// Loaded; the reading of the document.
    Read(Reading),
}

impl Load {
    /// The reading, if the bytes loaded.
    #[must_use]
    pub fn reading(&self) -> Option<&Reading> {
        match self {
            Load::Read(r) => Some(r),
            Load::Guarded(_) | Load::Refused | Load::Panicked => None,
        }
    }
}

/// How far a document got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// No keys at all (a new document).
    Empty,
    /// Not a Linli document, or not a valid one.
    Refused(Violation),
    /// A valid document of this kind.
    Valid(crate::domain::Kind),
}

/// Reads `input` as an Automerge document (whole and incrementally) and as JSON.
#[must_use]
pub fn hydrate(input: &[u8]) -> HydrateOutcome {
    let json = serde_json::from_slice::<Json>(input).ok().map(|json| read(DomainDoc::from_json(json)));
    if let Err(e) = check_chunk_types(input) {
        return HydrateOutcome { loaded: Load::Guarded(e.clone()), incremental: Load::Guarded(e), json };
    }
    let loaded = match boundary(|| Automerge::load(input)) {
        Err(_panic) => Load::Panicked,
        Ok(Err(_)) => Load::Refused,
        Ok(Ok(doc)) => Load::Read(read(DomainDoc::hydrate(&doc))),
    };
    let mut doc = Automerge::new();
    let incremental = match boundary(|| doc.load_incremental(input)) {
        Err(_panic) => Load::Panicked,
        Ok(Err(_)) => Load::Refused,
        Ok(Ok(_)) => Load::Read(read(DomainDoc::hydrate(&doc))),
    };
    HydrateOutcome { loaded, incremental, json }
}

fn read(hydrated: Result<Option<DomainDoc>, Violation>) -> Reading {
    let doc = match hydrated {
        Ok(None) => return Reading::Empty,
        Ok(Some(doc)) => doc,
        Err(v) => return Reading::Refused(v),
    };
    let limits = DomainLimits::default();
    if let Err(v) = doc.validate(&limits) {
        return Reading::Refused(v);
    }
    super::project(&doc);
    Reading::Valid(doc.kind())
}
