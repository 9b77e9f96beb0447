//! Sample documents and users shared by the domain tests: one grid `g1` with a
//! coordinator, a medic and two volunteers, a household, a delivery assigned to the first
//! volunteer, an observation episode (2026-01-25..2026-02-08, two check-ins a day) and
//! its readings (two check-ins) and medical record (one medic's note).

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::LazyLock;

use linli_shared::domain::*;
use linli_shared::DocumentId;

pub const GRID: &str = "g1";
pub const OTHER_GRID: &str = "g2";
pub const ADMIN: &str = "u-admin";
pub const COORD: &str = "u-coord";
pub const COORD2: &str = "u-coord2";
pub const MEDIC: &str = "u-medic";
pub const MEDIC2: &str = "u-medic2";
pub const VOL: &str = "u-vol";
pub const VOL2: &str = "u-vol2";

pub static G1: LazyLock<Vec<String>> = LazyLock::new(|| vec![GRID.to_string()]);
pub static G2: LazyLock<Vec<String>> = LazyLock::new(|| vec![OTHER_GRID.to_string()]);
pub static BOTH: LazyLock<Vec<String>> = LazyLock::new(|| vec![GRID.to_string(), OTHER_GRID.to_string()]);

pub fn admin() -> Actor<'static> {
    Actor { user_id: ADMIN, role: Role::Admin, grids: &[] }
}
pub fn coord() -> Actor<'static> {
    Actor { user_id: COORD, role: Role::Coordinator, grids: &G1 }
}
/// A coordinator of another grid.
pub fn coord_other() -> Actor<'static> {
    Actor { user_id: COORD2, role: Role::Coordinator, grids: &G2 }
}
pub fn medic() -> Actor<'static> {
    Actor { user_id: MEDIC, role: Role::Medic, grids: &G1 }
}
/// A medic of another grid.
pub fn medic_other() -> Actor<'static> {
    Actor { user_id: MEDIC2, role: Role::Medic, grids: &G2 }
}
/// The volunteer the sample task and episode are assigned to.
pub fn vol() -> Actor<'static> {
    Actor { user_id: VOL, role: Role::Volunteer, grids: &G1 }
}
/// A volunteer of the same grid with nothing assigned.
pub fn vol2() -> Actor<'static> {
    Actor { user_id: VOL2, role: Role::Volunteer, grids: &G1 }
}

pub fn limits() -> DomainLimits {
    DomainLimits::default()
}

/// ms since the epoch of an RFC 3339 time.
pub fn ms(rfc3339: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(rfc3339).unwrap().timestamp_millis()
}

/// 2026-02-01 12:30 in Beijing.
pub fn now() -> i64 {
    ms("2026-02-01T12:30:00+08:00")
}

pub fn local(s: &str) -> chrono::NaiveDateTime {
    chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap()
}

pub fn household_id() -> DocumentId {
    DocumentId::from_bytes([7; 16])
}

pub fn household() -> Household {
    Household {
        kind: Kind::Household,
        schema: SCHEMA_VERSION,
        grid: GRID.into(),
        building: "3".into(),
        unit: "2".into(),
        room: "501".into(),
        phone: "13800000000".into(),
        notes: "ring twice".into(),
        members: vec![
            Member {
                name: "王奶奶".into(),
                age: 82,
                flags: vec![CareFlag::ElderlyAlone, CareFlag::Chronic],
                medicines: vec!["amlodipine".into()],
            },
            Member { name: "Li".into(), age: 9, flags: vec![], medicines: vec![] },
        ],
    }
}

pub fn task() -> Task {
    Task {
        kind: Kind::Task,
        schema: SCHEMA_VERSION,
        grid: GRID.into(),
        household: household_id(),
        category: Category::Food,
        items: vec![
            Item { name: "rice".into(), qty: 5.0, unit: "kg".into() },
            Item { name: "eggs".into(), qty: 12.0, unit: String::new() },
            Item { name: "milk".into(), qty: 1.5, unit: "L".into() },
            Item { name: "药".into(), qty: 2.0, unit: "盒".into() },
        ],
        priority: Priority::High,
        due: ms("2026-02-01T18:00:00+08:00"),
        contactless: true,
        assignee: Some(VOL.into()),
        status: TaskStatus::Assigned,
        failure_reason: None,
        log: vec![LogEntry {
            at: ms("2026-02-01T09:00:00+08:00"),
            by: COORD.into(),
            from: TaskStatus::New,
            to: TaskStatus::Assigned,
            note: String::new(),
        }],
        created_by: COORD.into(),
        created_at: ms("2026-02-01T08:55:00+08:00"),
    }
}

pub fn checkin(by: &str, at: i64, temp_c: f64, symptoms: Vec<Symptom>) -> Checkin {
    Checkin { temp_c, symptoms, method: Method::Visit, note: String::new(), by: by.into(), at }
}

pub fn episode() -> Episode {
    Episode {
        kind: Kind::Episode,
        schema: Kind::Episode.schema_version(),
        grid: GRID.into(),
        household: household_id(),
        person: Person { name: "张三".into(), age: 45 },
        reason: Reason::CloseContact,
        start: "2026-01-25".into(),
        end: "2026-02-08".into(),
        slots: 2,
        assignee: Some(VOL.into()),
        status: EpisodeStatus::Active,
        closed_at: None,
        readings: Some(readings_id()),
        medical: Some(medical_id()),
        erased: false,
    }
}

/// The sample episode's medical record, as the server made it, with one note by the medic.
pub fn medical() -> Medical {
    Medical {
        notes: vec![MedicNote { at: ms("2026-01-30T10:00:00+08:00"), by: MEDIC.into(), text: "stable".into() }],
        ..Medical::for_episode(GRID, episode_id(), household_id())
    }
}

/// The sample episode's readings, as the server made them, with a check-in by the
/// volunteer and one by the medic (a phone call).
pub fn readings() -> Readings {
    let mut checkins = BTreeMap::new();
    checkins.insert("2026-01-31/0".to_string(), checkin(VOL, ms("2026-01-31T09:00:00+08:00"), 36.6, vec![]));
    checkins.insert("2026-01-31/1".to_string(), checkin(MEDIC, ms("2026-01-31T19:00:00+08:00"), 36.8, vec![]));
    Readings::for_episode(episode_id(), &episode(), checkins)
}

pub fn task_id() -> DocumentId {
    DocumentId::from_bytes([8; 16])
}

pub fn episode_id() -> DocumentId {
    DocumentId::from_bytes([9; 16])
}

pub fn medical_id() -> DocumentId {
    DocumentId::from_bytes([10; 16])
}

pub fn readings_id() -> DocumentId {
    DocumentId::from_bytes([11; 16])
}

pub fn grid_index() -> GridIndex {
    let mut docs = BTreeMap::new();
    docs.insert(task_id().to_string(), DomainDoc::Task(task()).summary().unwrap().with_address(&household()));
    docs.insert(episode_id().to_string(), DomainDoc::Episode(episode()).summary().unwrap());
    GridIndex { kind: Kind::GridIndex, schema: SCHEMA_VERSION, grid: GRID.into(), docs }
}

pub fn medic_index() -> MedicIndex {
    let mut docs = BTreeMap::new();
    docs.insert(episode_id().to_string(), DomainDoc::Episode(episode()).summary().unwrap().with_address(&household()));
    docs.insert(medical_id().to_string(), DomainDoc::Medical(medical()).summary().unwrap());
    docs.insert(readings_id().to_string(), DomainDoc::Readings(readings()).summary().unwrap());
    docs.insert(household_id().to_string(), DomainDoc::Household(household()).summary().unwrap());
    MedicIndex { kind: Kind::MedicIndex, schema: SCHEMA_VERSION, grid: GRID.into(), docs }
}

pub fn inbox() -> Inbox {
    Inbox { kind: Kind::Inbox, schema: SCHEMA_VERSION, grid: GRID.into(), user: VOL.into(), docs: grid_index().docs }
}

/// One sample of every kind.
pub fn samples() -> Vec<DomainDoc> {
    vec![
        DomainDoc::Household(household()),
        DomainDoc::Task(task()),
        DomainDoc::Episode(episode()),
        DomainDoc::Medical(medical()),
        DomainDoc::Readings(readings()),
        DomainDoc::GridIndex(grid_index()),
        DomainDoc::MedicIndex(medic_index()),
        DomainDoc::Inbox(inbox()),
    ]
}

/// Writes `doc` into a fresh automerge document, saves and reloads it.
pub fn through_automerge(doc: &DomainDoc) -> automerge::Automerge {
    let mut am = automerge::AutoCommit::new();
    doc.reconcile_into(&mut am).unwrap();
    automerge::Automerge::load(&am.save()).unwrap()
}

/// `check_change` with the default limits at [`now`].
pub fn change(actor: &Actor<'_>, before: &DomainDoc, after: &DomainDoc) -> Result<(), Violation> {
    check_change(actor, Some(before), after, &limits(), now())
}

/// The field a refused change names, or "ok".
pub fn verdict(r: Result<(), Violation>) -> String {
    match r {
        Ok(()) => "ok".into(),
        Err(v) => v.field,
    }
}
