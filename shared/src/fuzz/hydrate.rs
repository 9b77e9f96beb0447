//! A document's bytes read as a Linli document: an Automerge document loaded from
//! storage or from a peer (whole, and as incremental chunks), and the JSON form that the
//! API and the TypeScript types use. Whatever the bytes, reading ends in a document or a
//! [`Violation`]; a document is then validated, summarised and its alerts computed, as
//! the server's projections do.

use automerge::Automerge;
use serde_json::Value as Json;

use crate::domain::{DomainDoc, DomainLimits, Violation};

/// What reading one input gave, for each way of reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HydrateOutcome {
    /// `Automerge::load`: `None` if Automerge refused the bytes, else the reading.
    pub loaded: Option<Reading>,
    /// `Automerge::load_incremental` into an empty document: `None` if refused.
    pub incremental: Option<Reading>,
    /// The bytes as JSON: `None` if they are not JSON.
    pub json: Option<Reading>,
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
    let loaded = Automerge::load(input).ok().map(|doc| read(DomainDoc::hydrate(&doc)));
    let mut doc = Automerge::new();
    let incremental = doc.load_incremental(input).ok().map(|_| read(DomainDoc::hydrate(&doc)));
    let json = serde_json::from_slice::<Json>(input).ok().map(|json| read(DomainDoc::from_json(json)));
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
