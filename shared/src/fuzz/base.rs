//! The fixed world a fuzz input is tried in: one grid `g1`, its coordinator, medic and
//! volunteer, an admin, and one document of each kind a phone may write, stored as the
//! server stores them. Everything is deterministic (fixed actor id, no wall clock), so an
//! input means the same thing on every run and in every fixture.

use std::sync::LazyLock;

use automerge::{ActorId, AutoCommit, Automerge};
use serde_json::json;

use crate::domain::{Actor, DomainDoc, Role};

/// The server's clock for every rule check: 2026-02-01 12:30 in Beijing.
pub const NOW_MS: i64 = 1_769_920_200_000;

/// The Automerge actor the base documents were written by (the server's, in real life).
const BASE_ACTOR: [u8; 16] = [0x5e; 16];

static GRIDS: LazyLock<Vec<String>> = LazyLock::new(|| vec!["g1".to_string()]);

/// Which stored document a sync message is applied to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BaseDoc {
    /// None yet: the message creates the document.
    Empty,
    Household,
    /// A food delivery assigned to the volunteer.
    Task,
    /// An active observation episode assigned to the volunteer, linked to its readings
    /// and its medical record.
    Episode,
    /// The episode's medical record, with one note by the medic.
    Medical,
    /// The episode's readings, with two check-ins (the volunteer's and a medic's).
    Readings,
}

impl BaseDoc {
    /// Every base document, in selector order.
    pub const ALL: [BaseDoc; 6] =
        [BaseDoc::Empty, BaseDoc::Household, BaseDoc::Task, BaseDoc::Episode, BaseDoc::Medical, BaseDoc::Readings];
}

/// One sync-message case: who sends it, and to which document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Case {
    pub role: Role,
    pub base: BaseDoc,
}

impl Case {
    /// The case a selector byte names: bits 0–1 the role (admin, coordinator, medic,
    /// volunteer), bits 2–4 the document (empty, household, task, episode, medical,
    /// readings; 6–7 name empty and household again). Other bits are ignored.
    ///
    /// Bit 4 was ignored before the medical record became a base document: an input
    /// kept from then with bit 4 set now goes to another document. Base 5 named the
    /// household before the readings became one.
    #[must_use]
    pub fn from_selector(b: u8) -> Self {
        let role = [Role::Admin, Role::Coordinator, Role::Medic, Role::Volunteer][usize::from(b & 3)];
        let base = BaseDoc::ALL[usize::from((b >> 2) & 7) % BaseDoc::ALL.len()];
        Self { role, base }
    }

    /// The selector byte of this case (the inverse of [`Case::from_selector`]).
    #[must_use]
    pub fn selector(self) -> u8 {
        let role = match self.role {
            Role::Admin => 0,
            Role::Coordinator => 1,
            Role::Medic => 2,
            Role::Volunteer => 3,
        };
        let base = match self.base {
            BaseDoc::Empty => 0,
            BaseDoc::Household => 1,
            BaseDoc::Task => 2,
            BaseDoc::Episode => 3,
            BaseDoc::Medical => 4,
            BaseDoc::Readings => 5,
        };
        role | base << 2
    }

    /// The user sending the message.
    #[must_use]
    pub fn actor(self) -> Actor<'static> {
        let user_id = match self.role {
            Role::Admin => "u-admin",
            Role::Coordinator => "u-coord",
            Role::Medic => "u-medic",
            Role::Volunteer => "u-vol",
        };
        Actor { user_id, role: self.role, grids: &GRIDS }
    }
}

static BASES: LazyLock<[Automerge; 6]> = LazyLock::new(|| {
    BaseDoc::ALL.map(|b| match sample(b) {
        None => Automerge::new().with_actor(ActorId::from(BASE_ACTOR)),
        Some(value) => {
            let mut doc = AutoCommit::new().with_actor(ActorId::from(BASE_ACTOR));
            // The samples are valid documents written into a fresh one: this cannot fail.
            #[allow(clippy::expect_used)]
            value.reconcile_into(&mut doc).expect("a sample document reconciles");
            doc.commit();
            #[allow(clippy::expect_used)]
            Automerge::load(&doc.save()).expect("a saved sample document loads")
        }
    })
});

/// The stored document for `base`, as the server loads it.
#[must_use]
pub fn base_document(base: BaseDoc) -> &'static Automerge {
    &BASES[base as usize]
}

fn sample(base: BaseDoc) -> Option<DomainDoc> {
    let household = "1Bhh3pU9gLXZiNDL6PEa1Gs9fh";
    // `DocumentId::from_bytes([9; 16])`, `([10; 16])` and `([11; 16])`.
    let (episode, medical) = ("8JT5gXGHPWfPRoMrV1mqqo4QBFn", "97VykuxeYTWmFfd4RgXVVS4U1mm");
    let readings = crate::DocumentId::from_bytes([11; 16]).to_string();
    let json = match base {
        BaseDoc::Empty => return None,
        BaseDoc::Household => json!({
            "kind": "household", "schema": 1, "grid": "g1",
            "building": "3", "unit": "2", "room": "501", "phone": "13800000000", "notes": "ring twice",
            "members": [
                {"name": "王奶奶", "age": 82, "flags": ["elderly_alone", "chronic"], "medicines": ["amlodipine"]},
                {"name": "Li", "age": 9, "flags": [], "medicines": []},
            ],
        }),
        BaseDoc::Task => json!({
            "kind": "task", "schema": 1, "grid": "g1", "household": household,
            "category": "food",
            "items": [{"name": "rice", "qty": 5, "unit": "kg"}, {"name": "milk", "qty": 1.5, "unit": "L"}],
            "priority": "high", "due": 1_769_940_000_000_i64, "contactless": true,
            "assignee": "u-vol", "status": "assigned", "failure_reason": null,
            "log": [{"at": 1_769_907_600_000_i64, "by": "u-coord", "from": "new", "to": "assigned", "note": ""}],
            "created_by": "u-coord", "created_at": 1_769_907_300_000_i64,
        }),
        BaseDoc::Episode => json!({
            "kind": "episode", "schema": 3, "grid": "g1", "household": household,
            "person": {"name": "张三", "age": 45}, "reason": "close_contact",
            "start": "2026-01-25", "end": "2026-02-08", "slots": 2, "assignee": "u-vol",
            "status": "active", "closed_at": null,
            "readings": readings,
            "medical": medical,
            "erased": false,
        }),
        BaseDoc::Readings => json!({
            "kind": "readings", "schema": 1, "grid": "g1", "episode": episode, "household": household,
            "start": "2026-01-25", "end": "2026-02-08", "slots": 2, "assignee": "u-vol", "status": "active",
            "checkins": {
                "2026-01-31/0": {"temp_c": 36.6, "symptoms": [], "method": "visit", "note": "", "by": "u-vol", "at": 1_769_821_200_000_i64},
                "2026-01-31/1": {"temp_c": 37.8, "symptoms": ["cough"], "method": "phone", "note": "", "by": "u-medic", "at": 1_769_857_200_000_i64},
            },
        }),
        BaseDoc::Medical => json!({
            "kind": "medical", "schema": 1, "grid": "g1", "episode": episode, "household": household,
            "notes": [{"at": 1_769_738_400_000_i64, "by": "u-medic", "text": "stable"}],
        }),
    };
    // The samples are valid by construction (the tests check it).
    DomainDoc::from_json(json).ok().flatten()
}

/// The base episode with `readings`' copies of its fields, for the alerts of readings a
/// message produced.
pub(crate) fn episode_of(readings: &crate::domain::Readings) -> crate::domain::Episode {
    let Some(DomainDoc::Episode(e)) = sample(BaseDoc::Episode) else { unreachable!("the base episode is an episode") };
    crate::domain::Episode {
        start: readings.start.clone(),
        end: readings.end.clone(),
        slots: readings.slots,
        assignee: readings.assignee.clone(),
        status: readings.status,
        ..e
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::domain::DomainLimits;

    #[test]
    fn the_base_documents_are_valid_linli_documents() {
        assert_eq!(DomainDoc::hydrate(base_document(BaseDoc::Empty)).unwrap(), None);
        for base in [BaseDoc::Household, BaseDoc::Task, BaseDoc::Episode, BaseDoc::Medical, BaseDoc::Readings] {
            let doc = DomainDoc::hydrate(base_document(base)).unwrap().unwrap();
            doc.validate(&DomainLimits::default()).unwrap();
            assert_eq!(base_document(base).get_heads().len(), 1);
        }
    }

    #[test]
    fn the_episode_is_linked_to_its_readings_and_medical_record() {
        let Some(DomainDoc::Episode(e)) = sample(BaseDoc::Episode) else { panic!("not an episode") };
        let Some(DomainDoc::Medical(m)) = sample(BaseDoc::Medical) else { panic!("not a medical record") };
        let Some(DomainDoc::Readings(r)) = sample(BaseDoc::Readings) else { panic!("not readings") };
        assert_eq!(e.medical, Some(crate::DocumentId::from_bytes([10; 16])));
        assert_eq!(e.readings, Some(crate::DocumentId::from_bytes([11; 16])));
        assert_eq!(
            (m.episode, r.episode),
            (crate::DocumentId::from_bytes([9; 16]), crate::DocumentId::from_bytes([9; 16]))
        );
        assert_eq!((m.household, m.grid.as_str()), (e.household, e.grid.as_str()));
        assert_eq!(r.mirroring(&e), None, "the readings copy the episode's fields");
    }

    #[test]
    fn the_base_documents_are_the_same_on_every_run() {
        // A fixture names the base document's heads; they must not change under it.
        let task = base_document(BaseDoc::Task);
        let again = Automerge::load(&task.save()).unwrap();
        assert_eq!(task.get_heads(), again.get_heads());
        assert_eq!(sample(BaseDoc::Task).map(|d| d.kind()), Some(crate::domain::Kind::Task));
    }

    #[test]
    fn selectors_round_trip() {
        for b in 0..24u8 {
            assert_eq!(Case::from_selector(b).selector(), b);
        }
        for b in 24..=u8::MAX {
            assert_eq!(Case::from_selector(b), Case::from_selector((b & 0b1_1111) % 24), "{b}");
        }
        assert_eq!(Case::from_selector(0b1011), Case { role: Role::Volunteer, base: BaseDoc::Task });
        assert_eq!(Case::from_selector(0b1_0010), Case { role: Role::Medic, base: BaseDoc::Medical });
    }

    #[test]
    fn now_is_the_documented_instant() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-02-01T12:30:00+08:00").unwrap();
        assert_eq!(at.timestamp_millis(), NOW_MS);
    }
}
