//! Who may read, create and change which document (DESIGN §4), as pure functions. The
//! server supplies what it knows (the user, the document's facts, the time); these
//! functions decide. Every refusal is a [`Violation`] naming the field, which the server
//! puts in the quarantine record and in the `rejected` message to the phone.
//!
//! # Reading ([`may_read`])
//!
//! | role | reads |
//! |---|---|
//! | admin | everything but medical records and readings |
//! | coordinator | every household, task, episode, grid index and medic index of their grids; their own inbox; never readings, never medical records |
//! | medic | episodes, readings, medical records and medic indexes of their grids; a household of their grid only when the server says an open episode refers to it; their own inbox; never tasks, never a grid index (it lists deliveries) |
//! | volunteer | a task or episode assigned to them while it is open, and that episode's readings; a household only while they have open assigned work referring to it; their own inbox; never an index |
//!
//! An inbox is read by its owner and admins only, coordinators included.
//!
//! # Creating ([`may_create`])
//!
//! Admins create households, tasks and episodes in any grid; coordinators in their grids;
//! medics and volunteers create nothing. Nobody creates a `medical` record, `readings`, `grid-index`,
//! `medic-index` or `inbox` through sync: the server writes those itself, without
//! [`check_change`]. A new task must be `created_by` its creator, start `new` or
//! `assigned`, and carry no `created_at` in the future; a new episode starts `active`
//! with no `readings` or `medical` link and not erased.
//!
//! # Changing ([`check_change`])
//!
//! The result must pass the schema ([`DomainDoc::validate`]). A change that leaves the
//! document's value as it was is always accepted. Then, for everyone:
//! - `kind`, `schema`, `created_by`, `created_at` and the `household` reference never
//!   change; `grid` changes only by an admin or a coordinator of both grids;
//! - the task log and the medics' notes are append-only, each new entry signed (`by`)
//!   by the writer and not in the future (beyond [`DomainLimits::max_clock_skew_ms`]);
//! - a status change follows the task graph ([`transition_allowed`]). A batch synced after
//!   offline work may hold several moves (assigned → accepted → picked_up → delivered):
//!   without new log entries the new status must be *reachable* by moves the user may
//!   make; with new log entries, the entries must chain from the old status to the new
//!   one, each a move the user may make or a note (`from` = `to`);
//! - an erased episode never changes, and only the server's retention erases one.
//!
//! Per role:
//! - **Households**: only the grid's coordinators and admins.
//! - **Tasks**: the grid's coordinators and admins change anything else, along the whole
//!   graph (confirming and cancelling are theirs alone). The assigned volunteer moves
//!   assigned → accepted → picked_up → delivered | failed, gives the `failure_reason`
//!   in the change that fails the task, and appends to the log; nothing else.
//! - **Episodes**: the grid's coordinators and admins change anything else. Medics of the
//!   grid move the status between `active` and `escalated`. Only the server sets the
//!   `readings` and `medical` links. The assigned volunteer changes nothing: their
//!   check-ins go in the readings.
//! - **Readings**: only `checkins` changes (the rest is the server's copy of the
//!   episode). The assigned volunteer adds check-ins: new keys, signed by them. Medics of
//!   the grid add check-ins too (phone check-ins), and may correct or remove those they
//!   took themselves but never those of others. Coordinators and admins do not read
//!   readings and write none.
//! - **Medical records**: medics of the grid append notes, each signed by its writer and
//!   not in the future; nothing else changes, and no note is changed or removed.
//! - **Check-ins** (whoever adds them): the key's date lies in `start..=end` and its slot
//!   below `slots` (schema); `at` is not in the future and not before the key's date (in
//!   the community's time zone, [`DomainLimits::utc_offset_minutes`]) — a check-in taken
//!   late, e.g. synced after a day offline, is fine; none on a closed or erased episode.
//! - **Grid indexes and inboxes**: nobody (server-authored).
//!
//! [`Violation`]: super::Violation
//! [`DomainDoc::validate`]: super::DomainDoc::validate
//! [`DomainLimits::max_clock_skew_ms`]: super::DomainLimits::max_clock_skew_ms
//! [`DomainLimits::utc_offset_minutes`]: super::DomainLimits::utc_offset_minutes

mod episode;
mod task;

use serde::Serialize;
use serde_json::Value as Json;

use super::{DomainDoc, DomainLimits, Kind, Role, TaskStatus, Violation};

/// The authenticated user a read or change is checked for.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub user_id: &'a str,
    pub role: Role,
    /// The grids the user belongs to (ignored for admins, who have all).
    pub grids: &'a [String],
}

impl Actor<'_> {
    /// Whether the user belongs to `grid`.
    #[must_use]
    pub fn in_grid(&self, grid: &str) -> bool {
        self.grids.iter().any(|g| g == grid)
    }

    /// Whether the user writes `grid`'s documents: an admin, or a coordinator of the grid.
    #[must_use]
    pub fn manages(&self, grid: &str) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Coordinator => self.in_grid(grid),
            Role::Medic | Role::Volunteer => false,
        }
    }
}

/// What the server knows about a document to decide reads (kept in its `meta` tree, so
/// reads need not load the document).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocFacts {
    pub kind: Kind,
    pub grid: String,
    /// The assigned user of a task or episode.
    pub assignee: Option<String>,
    /// The user an inbox belongs to.
    pub owner: Option<String>,
    /// A task not delivered, failed, confirmed or cancelled; an episode not closed or
    /// erased; always true for other kinds.
    pub open: bool,
}

impl DocFacts {
    /// The facts of a document.
    #[must_use]
    pub fn of(doc: &DomainDoc) -> Self {
        let open = match doc {
            DomainDoc::Task(t) => t.status.is_open(),
            DomainDoc::Episode(e) => e.is_open(),
            DomainDoc::Readings(r) => r.is_open(),
            _ => true,
        };
        let owner = match doc {
            DomainDoc::Inbox(i) => Some(i.user.clone()),
            _ => None,
        };
        Self {
            kind: doc.kind(),
            grid: doc.grid().to_string(),
            assignee: doc.assignee().map(str::to_string),
            owner,
            open,
        }
    }
}

/// Whether `actor` may read the document described by `facts`.
///
/// `assigned_to_household` matters for households only. The server sets it for a
/// volunteer who has open work assigned to them (a task or episode) referring to this
/// household, and for a medic when an open episode of the medic's grid refers to it.
#[must_use]
pub fn may_read(actor: &Actor<'_>, facts: &DocFacts, assigned_to_household: bool) -> bool {
    let own_inbox = facts.kind == Kind::Inbox && facts.owner.as_deref() == Some(actor.user_id);
    let assigned_open = facts.open && facts.assignee.as_deref() == Some(actor.user_id);
    match actor.role {
        // Medical notes are for the grid's medics alone, readings for them and the
        // volunteer taking them (DESIGN §9): administrators and coordinators see neither.
        Role::Admin => !matches!(facts.kind, Kind::Medical | Kind::Readings),
        Role::Coordinator => match facts.kind {
            Kind::Inbox => own_inbox,
            Kind::Household | Kind::Task | Kind::Episode | Kind::GridIndex | Kind::MedicIndex => {
                actor.in_grid(&facts.grid)
            }
            Kind::Medical | Kind::Readings => false,
        },
        Role::Medic => match facts.kind {
            Kind::Inbox => own_inbox,
            Kind::Episode | Kind::Medical | Kind::Readings | Kind::MedicIndex => actor.in_grid(&facts.grid),
            Kind::Household => actor.in_grid(&facts.grid) && assigned_to_household,
            Kind::Task | Kind::GridIndex => false,
        },
        Role::Volunteer => match facts.kind {
            Kind::Inbox => own_inbox,
            Kind::Task | Kind::Episode | Kind::Readings => assigned_open,
            Kind::Household => assigned_to_household,
            Kind::Medical | Kind::GridIndex | Kind::MedicIndex => false,
        },
    }
}

/// Whether `actor` may create a document of `kind` in `grid`. The server checks that the
/// grid exists.
#[must_use]
pub fn may_create(actor: &Actor<'_>, kind: Kind, grid: &str) -> bool {
    matches!(kind, Kind::Household | Kind::Task | Kind::Episode) && !grid.is_empty() && actor.manages(grid)
}

/// Whether a task may move from `from` to `to` in one step, by someone allowed to make
/// every move (a coordinator). Staying put is always allowed.
///
/// new → assigned → accepted → picked_up → delivered | failed; delivered | failed →
/// confirmed; assigned → new (unassigning); any of new, assigned, accepted, picked_up →
/// cancelled.
#[must_use]
pub fn transition_allowed(from: TaskStatus, to: TaskStatus) -> bool {
    from == to || task::coordinator_move(from, to)
}

/// Checks a change of one document by `actor`: `before` is the document as the server
/// has it (`None`: this change creates it), `after` the result of the change. `now_ms` is
/// the server's clock. See the module docs for the rules.
///
/// # Errors
///
/// The first rule broken, as a [`Violation`] naming the field.
pub fn check_change(
    actor: &Actor<'_>,
    before: Option<&DomainDoc>,
    after: &DomainDoc,
    limits: &DomainLimits,
    now_ms: i64,
) -> Result<(), Violation> {
    after.validate(limits)?;
    let ctx = Ctx { actor, limits, now_ms };
    let Some(before) = before else {
        return check_creation(&ctx, after);
    };
    if before.kind() != after.kind() {
        return Err(Violation::new("kind", "never changes"));
    }
    if before == after {
        return Ok(());
    }
    if let DomainDoc::Episode(b) = before {
        if b.erased {
            return Err(Violation::new("erased", "an erased episode never changes"));
        }
    }
    check_header(actor, before, after)?;
    match (before, after) {
        (DomainDoc::Household(b), DomainDoc::Household(a)) => {
            if actor.manages(&b.grid) {
                Ok(())
            } else {
                Err(Violation::new(first_changed(b, a), "only the grid's coordinators change a household"))
            }
        }
        (DomainDoc::Task(b), DomainDoc::Task(a)) => task::check(&ctx, b, a),
        (DomainDoc::Episode(b), DomainDoc::Episode(a)) => episode::check(&ctx, b, a),
        (DomainDoc::Medical(b), DomainDoc::Medical(a)) => episode::check_medical(&ctx, b, a),
        (DomainDoc::Readings(b), DomainDoc::Readings(a)) => episode::check_readings(&ctx, b, a),
        _ => Err(Violation::new("kind", format!("a {} is written only by the server", after.kind()))),
    }
}

fn check_creation(ctx: &Ctx<'_>, doc: &DomainDoc) -> Result<(), Violation> {
    let (actor, kind) = (ctx.actor, doc.kind());
    if !may_create(actor, kind, doc.grid()) {
        let creatable = matches!(kind, Kind::Household | Kind::Task | Kind::Episode);
        let field = if creatable && matches!(actor.role, Role::Admin | Role::Coordinator) { "grid" } else { "kind" };
        return Err(Violation::new(
            field,
            format!("a {} may not create a {kind} in grid `{}`", actor.role, doc.grid()),
        ));
    }
    match doc {
        DomainDoc::Task(t) => task::check_creation(ctx, t),
        DomainDoc::Episode(e) => episode::check_creation(e),
        _ => Ok(()),
    }
}

/// `schema` never changes; `grid` only by an admin or a coordinator of both grids.
fn check_header(actor: &Actor<'_>, before: &DomainDoc, after: &DomainDoc) -> Result<(), Violation> {
    let schema = |d: &DomainDoc| match d {
        DomainDoc::Household(x) => x.schema,
        DomainDoc::Task(x) => x.schema,
        DomainDoc::Episode(x) => x.schema,
        DomainDoc::Medical(x) => x.schema,
        DomainDoc::Readings(x) => x.schema,
        DomainDoc::GridIndex(x) => x.schema,
        DomainDoc::MedicIndex(x) => x.schema,
        DomainDoc::Inbox(x) => x.schema,
    };
    if schema(before) != schema(after) {
        return Err(Violation::new("schema", "never changes"));
    }
    let (from, to) = (before.grid(), after.grid());
    if from != to {
        let both = actor.role == Role::Coordinator && actor.in_grid(from) && actor.in_grid(to);
        if !(actor.role == Role::Admin || both) {
            return Err(Violation::new("grid", "only an admin or a coordinator of both grids moves a document"));
        }
    }
    Ok(())
}

/// What a check runs with.
struct Ctx<'a> {
    actor: &'a Actor<'a>,
    limits: &'a DomainLimits,
    now_ms: i64,
}

impl Ctx<'_> {
    /// A timestamp written by a phone is not ahead of the server's clock by more than the
    /// allowed skew.
    fn not_future(&self, field: &str, at: i64) -> Result<(), Violation> {
        if at > self.now_ms.saturating_add(self.limits.max_clock_skew_ms) {
            return Err(Violation::new(field, "is in the future"));
        }
        Ok(())
    }
}

/// The top-level fields whose values differ, in alphabetical order. Computed on the
/// serde form so a field added to a struct is covered without touching the rules.
fn changed_fields<T: Serialize>(before: &T, after: &T) -> Vec<String> {
    match (serde_json::to_value(before), serde_json::to_value(after)) {
        (Ok(Json::Object(b)), Ok(Json::Object(a))) => {
            a.iter().filter(|(k, v)| b.get(*k) != Some(*v)).map(|(k, _)| k.clone()).collect()
        }
        // Unreachable for the domain structs; name the whole document.
        _ => vec![String::new()],
    }
}

fn first_changed<T: Serialize>(before: &T, after: &T) -> String {
    changed_fields(before, after).into_iter().next().unwrap_or_default()
}

/// Refuses the first changed field not in `allowed`.
fn only(changed: &[String], allowed: &[&str], reason: &str) -> Result<(), Violation> {
    match changed.iter().find(|f| !allowed.contains(&f.as_str())) {
        Some(f) => Err(Violation::new(f.clone(), reason)),
        None => Ok(()),
    }
}

/// Checks that `after` extends `before` without changing any entry: the index of the
/// first entry changed or removed.
fn first_rewritten<T: PartialEq>(before: &[T], after: &[T]) -> Option<usize> {
    match before.iter().zip(after).position(|(b, a)| b != a) {
        Some(i) => Some(i),
        None if after.len() < before.len() => Some(after.len()),
        None => None,
    }
}
