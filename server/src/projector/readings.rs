//! Every episode has a `readings` document for its check-ins (DESIGN §9: readings are for
//! the assigned volunteer and the grid's medics, and the episode itself is also on the
//! phones of the grid's coordinators and of the admins). The server makes it, as its own
//! actor, as soon as it sees an episode without one, links it from the episode's
//! `readings` field, and from then on keeps its copy of the episode's dates, slots,
//! assignee and status up to date, so that the readings decide their own access and
//! check-in rules.
//!
//! Its id is derived from the episode's, as the medical record's is (see
//! [`super::medical`]): made twice, it is made once, and no role may create one through
//! sync.

use super::medical::{derived_id, write_new};
use crate::sync::{DocCommand, Hub, ServerWriteFn};
use automerge::Automerge;
use linli_shared::domain::{Checkin, DomainDoc, Episode, Readings};
use linli_shared::DocumentId;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The id of `episode`'s readings document.
#[must_use]
pub fn readings_id(episode: &DocumentId) -> DocumentId {
    derived_id(b"linli/readings/", episode)
}

/// Links the readings document from the episode, unless it is linked (or erased).
pub fn write_link(doc: &mut Automerge, readings: DocumentId) -> bool {
    let Ok(Some(DomainDoc::Episode(mut current))) = DomainDoc::hydrate(doc) else { return false };
    if current.readings.is_some() || current.erased {
        return true;
    }
    current.readings = Some(readings);
    super::reconcile_in_one_change(doc, &current)
}

/// Brings the readings' copy of `episode`'s fields up to date; `true` if it is.
pub fn write_mirror(doc: &mut Automerge, episode: &Episode) -> bool {
    let Ok(Some(DomainDoc::Readings(current))) = DomainDoc::hydrate(doc) else { return false };
    match current.mirroring(episode) {
        Some(next) => super::reconcile_in_one_change(doc, &next),
        None => true,
    }
}

/// Adds the check-ins of `late` that the readings do not hold yet (a phone that had not
/// seen the episode's migration wrote them into the episode's old `checkins` map); keys
/// already there keep what they hold. `true` if the readings hold all of them now.
pub fn write_late(doc: &mut Automerge, late: &BTreeMap<String, Checkin>) -> bool {
    let Ok(Some(DomainDoc::Readings(mut current))) = DomainDoc::hydrate(doc) else { return false };
    let before = current.checkins.len();
    for (key, checkin) in late {
        current.checkins.entry(key.clone()).or_insert_with(|| checkin.clone());
    }
    current.checkins.len() == before || super::reconcile_in_one_change(doc, &current)
}

/// Through the running server's document actors: makes the readings of an episode that
/// has none (or whose linked readings are missing) and links them, and brings their copy
/// of the episode up to date (`current`: the readings as the store has them, if it has
/// them; nothing is written when they are up to date).
pub fn ensure(hub: &Arc<Hub>, id: DocumentId, episode: &Episode, current: Option<&Readings>) {
    if episode.erased || current.is_some_and(|r| r.mirroring(episode).is_none()) {
        return;
    }
    let readings = episode.readings.unwrap_or_else(|| readings_id(&id));
    let record = DomainDoc::Readings(Readings::for_episode(id, episode, BTreeMap::new()));
    let target = episode.clone();
    hub.dispatch(
        readings,
        DocCommand::ServerWrite {
            write: ServerWriteFn(Box::new(move |doc| write_new(doc, &record) && write_mirror(doc, &target))),
            done: None,
        },
    );
    if episode.readings.is_none() {
        hub.dispatch(
            id,
            DocCommand::ServerWrite {
                write: ServerWriteFn(Box::new(move |doc| write_link(doc, readings))),
                done: None,
            },
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_episode_s_readings_have_one_id_of_their_own() {
        let a = DocumentId::random();
        assert_eq!(readings_id(&a), readings_id(&a));
        assert_ne!(readings_id(&a), a);
        assert_ne!(readings_id(&a), super::super::medical::medical_id(&a));
    }
}
