//! Every episode has a `medical` document for its medics' notes (DESIGN §9: medical notes
//! are for the grid's medics only, and the episode itself is also on coordinators' and the
//! volunteer's phones). The server makes it, as its own actor, as soon as it sees an
//! episode without one, and links it from the episode's `medical` field.
//!
//! Its id is derived from the episode's, so making it twice (the projector sees the
//! episode again before the link is written, a migration interrupted and run again)
//! makes the same document, once. Nobody can create it first: no role may create a
//! `medical` document through sync.

use crate::sync::{DocCommand, Hub, ServerWriteFn};
use automerge::Automerge;
use linli_shared::domain::{DomainDoc, Episode, Medical};
use linli_shared::DocumentId;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The id of `episode`'s medical document.
#[must_use]
pub fn medical_id(episode: &DocumentId) -> DocumentId {
    derived_id(b"linli/medical/", episode)
}

/// The id of a document the server makes for `episode`, named by `tag`: the same on every
/// node, and nobody else's.
pub(super) fn derived_id(tag: &[u8], episode: &DocumentId) -> DocumentId {
    let digest = Sha256::new().chain_update(tag).chain_update(episode.as_bytes()).finalize();
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    DocumentId::from_bytes(id)
}

/// Makes `episode`'s medical document, holding `notes`, unless it exists. `false` if the
/// document holds something else (nothing is overwritten).
pub fn write_record(doc: &mut Automerge, record: &Medical) -> bool {
    write_new(doc, &DomainDoc::Medical(record.clone()))
}

/// Writes `value` into `doc` if `doc` is empty; `true` if it holds a document of
/// `value`'s kind now (nothing is overwritten).
pub(super) fn write_new(doc: &mut Automerge, value: &DomainDoc) -> bool {
    if !doc.get_heads().is_empty() {
        return DomainDoc::hydrate(doc).ok().flatten().is_some_and(|d| d.kind() == value.kind());
    }
    match value {
        DomainDoc::Medical(m) => super::reconcile_in_one_change(doc, m),
        DomainDoc::Readings(r) => super::reconcile_in_one_change(doc, r),
        _ => false,
    }
}

/// Links the medical document from the episode, unless it is linked (or erased).
pub fn write_link(doc: &mut Automerge, medical: DocumentId) -> bool {
    let Ok(Some(DomainDoc::Episode(mut current))) = DomainDoc::hydrate(doc) else { return false };
    if current.medical.is_some() || current.erased {
        return true;
    }
    current.medical = Some(medical);
    super::reconcile_in_one_change(doc, &current)
}

/// Through the running server's document actors: makes the medical document of an
/// episode that has none, then links it.
pub fn ensure(hub: &Arc<Hub>, id: DocumentId, episode: &Episode) {
    if episode.medical.is_some() || episode.erased {
        return;
    }
    let medical = medical_id(&id);
    let record = Medical::for_episode(&episode.grid, id, episode.household);
    hub.dispatch(
        medical,
        DocCommand::ServerWrite { write: ServerWriteFn(Box::new(move |doc| write_record(doc, &record))), done: None },
    );
    hub.dispatch(
        id,
        DocCommand::ServerWrite { write: ServerWriteFn(Box::new(move |doc| write_link(doc, medical))), done: None },
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_episode_s_medical_record_has_one_id_of_its_own() {
        let (a, b) = (DocumentId::random(), DocumentId::random());
        assert_eq!(medical_id(&a), medical_id(&a));
        assert_ne!(medical_id(&a), medical_id(&b));
        assert_ne!(medical_id(&a), a);
    }
}
