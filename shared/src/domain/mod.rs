//! Linli's documents and the rules the server enforces on them (DESIGN §3–§5), as pure
//! functions: no I/O, no clock (callers pass the time), no automerge sync.
//!
//! - [`DomainDoc`]: one Rust struct per document kind ([`Household`], [`Task`],
//!   [`Episode`], [`Readings`], [`Medical`], [`GridIndex`], [`MedicIndex`], [`Inbox`]), read from and written to automerge documents
//!   ([`DomainDoc::hydrate`], [`DomainDoc::reconcile_into`]) and checked against the schema
//!   ([`DomainDoc::validate`]).
//! - [`rules`]: who may read ([`may_read`]), create ([`may_create`]) and change
//!   ([`check_change`]) what, including the task status graph ([`transition_allowed`]).
//! - [`alerts`]: fever, symptoms, three abnormal days in a row, missed check-ins and
//!   overdue deliveries, computed from a document's state.
//! - [`typescript_bindings`]: the same types for the web client (`web/src/generated/`).
//!
//! Documents are strict: a key that is not in the schema is refused like a wrong type, so
//! a phone cannot stash data the server does not know about (the plan forbids collecting
//! more about residents than the work needs), and every rule sees the whole document.
//! Reading is lenient about representation only: strings may be text objects or scalar
//! strings, whole numbers may stand for floats, and a missing optional field reads as
//! `null` (see `am_json`). Times are ms since the epoch; dates and check-in keys are the
//! community's local dates, with [`DomainLimits::utc_offset_minutes`] the offset the
//! server uses to turn one into the other ([`DomainLimits::local_datetime`]).
//!
//! ```
//! use linli_shared::domain::{check_change, Actor, DomainDoc, DomainLimits, Role, TaskStatus};
//!
//! let mut doc = automerge::AutoCommit::new();
//! assert_eq!(DomainDoc::hydrate(doc.document()).unwrap(), None); // an empty document
//!
//! let json = serde_json::json!({
//!     "kind": "task", "schema": 1, "grid": "g1", "household": "1Bhh3pU9gLXZiNDL6PEa1Gs9fh",
//!     "category": "food", "items": [{"name": "rice", "qty": 5, "unit": "kg"}],
//!     "priority": "normal", "due": 1_767_240_000_000_i64, "contactless": true,
//!     "assignee": "u-vol", "status": "assigned", "failure_reason": null, "log": [],
//!     "created_by": "u-coord", "created_at": 1_767_200_000_000_i64,
//! });
//! let task = DomainDoc::from_json(json).unwrap().unwrap();
//! task.reconcile_into(&mut doc).unwrap();
//! assert_eq!(DomainDoc::hydrate(doc.document()).unwrap(), Some(task.clone()));
//!
//! // The assigned volunteer accepts it.
//! let DomainDoc::Task(mut accepted) = task.clone() else { unreachable!() };
//! accepted.status = TaskStatus::Accepted;
//! let volunteer = Actor { user_id: "u-vol", role: Role::Volunteer, grids: &[] };
//! let now = 1_767_210_000_000;
//! check_change(&volunteer, Some(&task), &DomainDoc::Task(accepted.clone()), &DomainLimits::default(), now).unwrap();
//!
//! // …but may not move the due date.
//! accepted.due += 1;
//! let refused = check_change(&volunteer, Some(&task), &DomainDoc::Task(accepted), &DomainLimits::default(), now);
//! assert_eq!(refused.unwrap_err().field, "due");
//! ```

pub mod alerts;
pub(crate) mod am_json;
mod check;
mod episode;
mod household;
mod index;
mod limits;
mod medical;
pub mod migrate;
mod names;
mod readings;
pub mod rules;
mod task;
mod typescript;
mod violation;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use ts_rs::TS;

pub use alerts::{episode_alerts, slot_deadline, task_alerts, AlertFact, FEVER_THRESHOLD_C};
/// The error of [`DomainDoc::reconcile_into`], re-exported so callers need not name autosurgeon.
pub use autosurgeon::ReconcileError;
pub use check::parse_date;
pub use episode::{Checkin, CheckinKey, Episode, MedicNote, Person, MAX_SLOTS, MAX_TEMP_C, MIN_TEMP_C};
pub use household::{Household, Member, MAX_AGE};
pub use index::{GridIndex, Inbox, MedicIndex, SummaryRow};
pub use limits::DomainLimits;
pub use medical::Medical;
pub use names::{
    AlertKind, CareFlag, Category, EpisodeStatus, Kind, Method, Priority, Reason, RiskLevel, RiskPolicy, Role,
    Severity, Symptom, TaskStatus, UnknownName,
};
pub use readings::Readings;
pub use rules::{check_change, may_create, may_read, transition_allowed, Actor, DocFacts};
pub use task::{Item, LogEntry, Task};
pub use typescript::typescript_bindings;
pub use violation::Violation;

use check::Check;

/// The schema version of the kinds that never changed (households, tasks, indexes,
/// inboxes); each kind's own is [`Kind::schema_version`].
pub const SCHEMA_VERSION: u64 = 1;

/// Any Linli document. Each struct carries its own `kind`, so the serde form is the
/// struct's own (untagged) and `DomainDoc::from_json` dispatches on `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
#[serde(untagged)]
pub enum DomainDoc {
    Household(Household),
    Task(Task),
    Episode(Episode),
    Medical(Medical),
    Readings(Readings),
    GridIndex(GridIndex),
    MedicIndex(MedicIndex),
    Inbox(Inbox),
}

impl DomainDoc {
    /// Reads a document: its root `kind` says which struct. `Ok(None)` for an empty
    /// document (no keys at all), as `Repo.create()` makes before the first change.
    ///
    /// # Errors
    ///
    /// A [`Violation`] naming the field for an unknown kind, a missing field, a field
    /// not in the schema, a wrong type or an unknown enum string.
    pub fn hydrate(doc: &automerge::Automerge) -> Result<Option<DomainDoc>, Violation> {
        Self::hydrate_from(doc)
    }

    /// [`DomainDoc::hydrate`] for any readable document (`AutoCommit`, a transaction).
    ///
    /// # Errors
    ///
    /// As [`DomainDoc::hydrate`].
    pub fn hydrate_from<D: autosurgeon::ReadDoc>(doc: &D) -> Result<Option<DomainDoc>, Violation> {
        Self::from_json(am_json::read_object(doc, &automerge::ROOT)?)
    }

    /// Reads a document from its JSON form (the shape of the TypeScript types).
    /// `Ok(None)` for an empty object.
    ///
    /// # Errors
    ///
    /// As [`DomainDoc::hydrate`].
    pub fn from_json(json: Json) -> Result<Option<DomainDoc>, Violation> {
        let Json::Object(root) = &json else {
            return Err(Violation::new("", "a document is a map"));
        };
        if root.is_empty() {
            return Ok(None);
        }
        let kind = match root.get("kind") {
            None => return Err(Violation::new("kind", "missing")),
            Some(Json::String(s)) => s.parse::<Kind>().map_err(|e| Violation::new("kind", e.to_string()))?,
            Some(_) => return Err(Violation::new("kind", "must be a string")),
        };
        Ok(Some(match kind {
            Kind::Household => DomainDoc::Household(am_json::from_json(json, "")?),
            Kind::Task => DomainDoc::Task(am_json::from_json(json, "")?),
            Kind::Episode => DomainDoc::Episode(am_json::from_json(json, "")?),
            Kind::Medical => DomainDoc::Medical(am_json::from_json(json, "")?),
            Kind::Readings => DomainDoc::Readings(am_json::from_json(json, "")?),
            Kind::GridIndex => DomainDoc::GridIndex(am_json::from_json(json, "")?),
            Kind::MedicIndex => DomainDoc::MedicIndex(am_json::from_json(json, "")?),
            Kind::Inbox => DomainDoc::Inbox(am_json::from_json(json, "")?),
        }))
    }

    /// Writes this value into `doc`, changing only what differs (see the `am_json` notes:
    /// strings become `Text`, unchanged values cost nothing). Validate first: this writes
    /// whatever it is given.
    ///
    /// # Errors
    ///
    /// autosurgeon's [`ReconcileError`] if the document cannot take the change.
    pub fn reconcile_into(&self, doc: &mut automerge::AutoCommit) -> Result<(), ReconcileError> {
        match self {
            DomainDoc::Household(d) => autosurgeon::reconcile(doc, d),
            DomainDoc::Task(d) => autosurgeon::reconcile(doc, d),
            DomainDoc::Episode(d) => autosurgeon::reconcile(doc, d),
            DomainDoc::Medical(d) => autosurgeon::reconcile(doc, d),
            DomainDoc::Readings(d) => autosurgeon::reconcile(doc, d),
            DomainDoc::GridIndex(d) => autosurgeon::reconcile(doc, d),
            DomainDoc::MedicIndex(d) => autosurgeon::reconcile(doc, d),
            DomainDoc::Inbox(d) => autosurgeon::reconcile(doc, d),
        }
    }

    /// Which kind of document this is (by variant).
    #[must_use]
    pub fn kind(&self) -> Kind {
        match self {
            DomainDoc::Household(_) => Kind::Household,
            DomainDoc::Task(_) => Kind::Task,
            DomainDoc::Episode(_) => Kind::Episode,
            DomainDoc::Medical(_) => Kind::Medical,
            DomainDoc::Readings(_) => Kind::Readings,
            DomainDoc::GridIndex(_) => Kind::GridIndex,
            DomainDoc::MedicIndex(_) => Kind::MedicIndex,
            DomainDoc::Inbox(_) => Kind::Inbox,
        }
    }

    /// The root `kind`, `schema` and `grid` fields.
    fn header(&self) -> (Kind, u64, &str) {
        match self {
            DomainDoc::Household(d) => (d.kind, d.schema, &d.grid),
            DomainDoc::Task(d) => (d.kind, d.schema, &d.grid),
            DomainDoc::Episode(d) => (d.kind, d.schema, &d.grid),
            DomainDoc::Medical(d) => (d.kind, d.schema, &d.grid),
            DomainDoc::Readings(d) => (d.kind, d.schema, &d.grid),
            DomainDoc::GridIndex(d) => (d.kind, d.schema, &d.grid),
            DomainDoc::MedicIndex(d) => (d.kind, d.schema, &d.grid),
            DomainDoc::Inbox(d) => (d.kind, d.schema, &d.grid),
        }
    }

    /// The grid the document belongs to (an inbox: its user's first grid, or `""`).
    #[must_use]
    pub fn grid(&self) -> &str {
        self.header().2
    }

    /// The user a task or episode is assigned to (readings: their episode's).
    #[must_use]
    pub fn assignee(&self) -> Option<&str> {
        match self {
            DomainDoc::Task(t) => t.assignee.as_deref(),
            DomainDoc::Episode(e) => e.assignee.as_deref(),
            DomainDoc::Readings(r) => r.assignee.as_deref(),
            _ => None,
        }
    }

    /// The household a task or episode refers to.
    #[must_use]
    pub fn household(&self) -> Option<crate::DocumentId> {
        match self {
            DomainDoc::Task(t) => Some(t.household),
            DomainDoc::Episode(e) => Some(e.household),
            DomainDoc::Medical(m) => Some(m.household),
            DomainDoc::Readings(r) => Some(r.household),
            _ => None,
        }
    }

    /// Checks the schema: the right `kind` and `schema`, a grid, every string and list
    /// within `limits`, real dates, numbers in range, and the status fields consistent
    /// with each other.
    ///
    /// # Errors
    ///
    /// The first [`Violation`] found.
    pub fn validate(&self, limits: &DomainLimits) -> Result<(), Violation> {
        let c = Check { limits };
        let (kind, schema, grid) = self.header();
        if kind != self.kind() {
            return Err(Violation::new("kind", format!("is `{kind}` in a `{}` document", self.kind())));
        }
        let version = kind.schema_version();
        if schema != version {
            return Err(Violation::new("schema", format!("must be {version}")));
        }
        match self {
            DomainDoc::Inbox(_) => c.short("grid", grid)?,
            _ => c.short_required("grid", grid)?,
        }
        match self {
            DomainDoc::Household(d) => d.validate_fields(c),
            DomainDoc::Task(d) => d.validate_fields(c),
            DomainDoc::Episode(d) => d.validate_fields(c),
            DomainDoc::Medical(d) => d.validate_fields(c),
            DomainDoc::Readings(d) => d.validate_fields(c),
            DomainDoc::GridIndex(d) => index::validate_rows(c, &d.docs),
            DomainDoc::MedicIndex(d) => index::validate_rows(c, &d.docs),
            DomainDoc::Inbox(d) => {
                c.user("user", &d.user)?;
                index::validate_rows(c, &d.docs)
            }
        }
    }

    /// The row a task, episode or household shows in grid indexes (tasks and episodes also
    /// in inboxes and medic indexes; `None` for other kinds). `alerts` is 0: the server
    /// fills in the count from its alert store, and in a grid index puts the address in
    /// front of the title with [`SummaryRow::with_address`].
    #[must_use]
    pub fn summary(&self) -> Option<SummaryRow> {
        match self {
            DomainDoc::Task(t) => Some(SummaryRow {
                kind: Kind::Task,
                status: t.status.to_string(),
                assignee: t.assignee.clone(),
                priority: Some(t.priority),
                due: Some(t.due),
                alerts: 0,
                household: Some(t.household.to_string()),
                title: t.category.to_string(),
            }),
            DomainDoc::Episode(e) => Some(SummaryRow {
                kind: Kind::Episode,
                status: e.status.to_string(),
                assignee: e.assignee.clone(),
                priority: None,
                due: None,
                alerts: 0,
                household: Some(e.household.to_string()),
                // "check-in", not the reason or the person: the row is seen by everyone
                // working on the grid.
                title: "check-in".to_string(),
            }),
            // Only its grid's medic index lists it.
            DomainDoc::Medical(m) => Some(SummaryRow {
                kind: Kind::Medical,
                status: "active".to_string(),
                assignee: None,
                priority: None,
                due: None,
                alerts: 0,
                household: Some(m.household.to_string()),
                title: "medical".to_string(),
            }),
            // Listed in its volunteer's inbox and its grid's medic index, beside the
            // episode, with the episode's status.
            DomainDoc::Readings(r) => Some(SummaryRow {
                kind: Kind::Readings,
                status: r.status.to_string(),
                assignee: r.assignee.clone(),
                priority: None,
                due: None,
                alerts: 0,
                household: Some(r.household.to_string()),
                title: "readings".to_string(),
            }),
            // Its grid's index lists every household by address, so a coordinator's phone
            // holds them all (care flags and names stay in the document).
            DomainDoc::Household(h) => Some(SummaryRow {
                kind: Kind::Household,
                status: "active".to_string(),
                assignee: None,
                priority: None,
                due: None,
                alerts: 0,
                household: None,
                title: h.address_label(),
            }),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for DomainDoc {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let json = Json::deserialize(deserializer)?;
        DomainDoc::from_json(json)
            .map_err(serde::de::Error::custom)?
            .ok_or_else(|| serde::de::Error::custom("an empty document"))
    }
}
