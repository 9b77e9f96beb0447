//! The records the store keeps besides documents: users, grids, sessions, audit entries,
//! quarantined changes, projections and alerts. Plain data with serde forms; the logic
//! that makes and checks them lives with its concept (`auth`, `grids`, `audit`,
//! `projector`…), the durability with the store.
//!
//! Records never hold health data: a projection row says that an episode exists and
//! its status, an alert its kind and date, an audit entry who did what to which
//! document — the readings stay in the documents, where retention erases them.

use linli_shared::domain::{AlertKind, Kind, RiskLevel, Role, Severity};
use linli_shared::DocumentId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A user account. `Debug` never shows the password hash.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct User {
    pub id: String,
    pub username: String,
    pub role: Role,
    pub grids: Vec<String>,
    /// The user's server-authored `inbox` document.
    pub inbox: DocumentId,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Seconds since the epoch.
    pub created_at: u64,
    #[serde(default)]
    pub disabled: bool,
}

impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("grids", &self.grids)
            .field("password_hash", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// A grid (网格): the unit a coordinator is responsible for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Grid {
    pub id: String,
    pub name: String,
    pub risk_level: RiskLevel,
    /// The grid's server-authored `grid-index` document.
    pub index: DocumentId,
    /// Every change of risk level, oldest first.
    pub risk_history: Vec<RiskChange>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RiskChange {
    pub level: RiskLevel,
    pub at: i64,
    pub by: String,
}

/// One audit entry as it is appended. The store numbers it and chains it (see
/// [`AuditRecord`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    /// User id, or `server`.
    pub user: String,
    /// What happened: `change.accepted`, `change.refused`, `export`, `read.household`, …
    pub action: String,
    /// The document concerned, if any (plain id).
    pub doc: Option<String>,
    /// Short, non-sensitive detail: a count, a reason code, an export name.
    pub detail: String,
}

/// An audit entry as stored: numbered, and chained to the one before it so that an
/// edited, removed or inserted entry is found by `linli check`. The hash covers a hash of
/// the detail rather than the detail itself, so erasure can blank a detail (DESIGN §9:
/// the audit keeps that something happened, not what was erased) without breaking the
/// chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// 1, 2, 3… in the order of appending.
    pub seq: u64,
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// Hex SHA-256 of the detail as written.
    pub detail_hash: String,
    /// Hex hash of the previous record (64 zeros for the first).
    pub prev: String,
    /// Hex hash of this record: SHA-256 over `prev`, `seq`, `at`, `user`, `action`, `doc`
    /// and `detail_hash`.
    pub hash: String,
}

/// A refused batch of changes, kept for an admin to review (DESIGN §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantineEntry {
    pub id: String,
    pub at: i64,
    pub user: String,
    pub doc: String,
    pub code: String,
    pub reason: String,
    /// Hex change hashes.
    pub hashes: Vec<String>,
    /// The raw changes, hex encoded (Automerge binary changes); empty when they were too
    /// big to keep or must not be kept (erased records).
    pub changes: Vec<String>,
    /// Why the raw changes are not kept, when they are not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped: Option<String>,
}

impl QuarantineEntry {
    /// The bytes this entry costs the quarantine's budget.
    pub fn cost(&self) -> usize {
        self.changes.iter().map(String::len).sum::<usize>() + self.reason.len() + self.hashes.len() * 64 + 256
    }
}

/// One task, episode or household, as the dashboard and exports see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjRow {
    pub doc: String,
    pub kind: Kind,
    pub grid: String,
    pub status: String,
    pub open: bool,
    pub assignee: Option<String>,
    pub household: Option<String>,
    pub due: Option<i64>,
    /// When the work was first seen closed (ms), for listing recently closed work.
    pub closed_at: Option<i64>,
    pub updated_at: i64,
    /// Care flags of a household's members (counts by flag), for the dashboard.
    #[serde(default)]
    pub care_flags: BTreeMap<String, u32>,
    #[serde(default)]
    pub erased: bool,
    /// A household's address label, as its grid index lists it (empty for other kinds).
    #[serde(default)]
    pub title: String,
    /// When the server first accepted the document (ms): a slot due before it was not missed.
    #[serde(default)]
    pub first_seen: Option<i64>,
    /// An episode's check-ins a day, as last projected.
    #[serde(default)]
    pub slots: Option<u32>,
    /// When an episode's check-ins a day last changed (ms): a slot due before it was not missed.
    #[serde(default)]
    pub slots_since: Option<i64>,
}

/// An alert: raised by the server, acknowledged and resolved by people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// `<doc>/<key>`
    pub id: String,
    pub doc: String,
    pub grid: String,
    pub kind: AlertKind,
    pub date: Option<String>,
    pub detail: String,
    pub status: AlertStatus,
    pub raised_at: i64,
    pub acknowledged_by: Option<String>,
    pub acknowledged_at: Option<i64>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<i64>,
    /// How soon it needs somebody (the list is ordered by it, then by time).
    #[serde(default)]
    pub severity: Severity,
    /// What the person who resolved it did (required of people; none when the server
    /// resolved it because its cause went away). Short, and about the action taken.
    #[serde(default)]
    pub resolution_note: Option<String>,
}

impl Alert {
    /// The alert as a user of `role` may see it (DESIGN §9): a check-in's readings (a
    /// temperature, symptoms) are for medics; coordinators and admins learn that a
    /// check-in was abnormal, and when, not what it said.
    #[must_use]
    pub fn seen_by(mut self, role: Role) -> Alert {
        if role != Role::Medic && matches!(self.kind, AlertKind::Fever | AlertKind::Symptoms) {
            self.detail.clear();
        }
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Open,
    Acknowledged,
    Resolved,
}

/// Who may read a household because of open work (DESIGN §4): the volunteer assigned to
/// an open task or episode there, or — for medics — an open episode there.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccessGrant {
    pub household: DocumentId,
    pub holder: Holder,
    /// The task or episode that gives the access.
    pub via: DocumentId,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Holder {
    /// A user assigned to the open work.
    User(String),
    /// An open episode (medics of the grid read the household).
    OpenEpisode,
}
