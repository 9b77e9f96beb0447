//! What the server computes from documents (DESIGN §3, §5): the server-authored `inbox`
//! of every user and `grid-index` of every grid, the projections behind the dashboard
//! and exports, the alerts, and retention.
//!
//! The [`Projector`] is told of every accepted document state. It batches them (one
//! write per index document per `flush_interval`, however many documents moved) and
//! applies the updates as the server's own Automerge actor, through the same document
//! actors as every other change, so phones learn their work by syncing. A periodic sweep
//! raises time-based alerts (missed check-ins, overdue deliveries) and erases episodes
//! closed longer than the retention period.
//!
//! Trees: `proj` (one row per task/episode/household: kind, grid, status, assignee,
//! household, due — never health data), `access` (`<household>/<user>/<doc>` for open
//! assigned work, `<household>/#episode/<doc>` for open episodes: who may read which
//! household), `alerts` (`<doc>/<key>`).

use crate::audit::Audit;
use crate::db::{Db, DbError};
use crate::store::DocStore;
use crate::sync::conn::UserCtx;
use crate::sync::doc_actor::{DocCommand, ServerWriteFn};
use crate::sync::Hub;
use automerge::Automerge;
use chrono::{NaiveDateTime, TimeZone};
use linli_shared::domain::{
    episode_alerts, task_alerts, AlertFact, AlertKind, DomainDoc, GridIndex, Inbox, Kind, Role, SummaryRow,
    SCHEMA_VERSION,
};
use linli_shared::DocumentId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Settings of the projector. Every field is a setting (see `config`).
#[derive(Debug, Clone)]
pub struct IndexSettings {
    /// How long closed work stays listed in inboxes and grid indexes.
    pub closed_days: u32,
    /// How often index updates are written (they are batched in between).
    pub flush_interval: Duration,
    /// How often time-based alerts and retention are checked.
    pub sweep_interval: Duration,
    /// An episode closed longer than this has its health details erased.
    pub retention_days: u32,
    /// The community's offset from UTC, for local dates and check-in deadlines.
    pub utc_offset_minutes: i32,
}

impl Default for IndexSettings {
    fn default() -> Self {
        IndexSettings {
            closed_days: 3,
            flush_interval: Duration::from_millis(200),
            sweep_interval: Duration::from_secs(60),
            retention_days: 30,
            utc_offset_minutes: 8 * 60,
        }
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
}

/// An alert: raised by the server, acknowledged and resolved by people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Open,
    Acknowledged,
    Resolved,
}

pub fn access_tree(db: &Db) -> Result<sled::Tree, DbError> {
    Ok(db.sled.open_tree("access")?)
}

pub fn proj_tree(db: &Db) -> Result<sled::Tree, DbError> {
    Ok(db.sled.open_tree("proj")?)
}

pub fn alerts_tree(db: &Db) -> Result<sled::Tree, DbError> {
    Ok(db.sled.open_tree("alerts")?)
}

/// Whether `who` is linked to `household` through open work: a volunteer assigned to an
/// open task or episode there, a medic when an open episode refers to it.
pub fn household_linked(access: &sled::Tree, household: &DocumentId, who: &UserCtx) -> bool {
    let prefix = match who.role {
        Role::Volunteer => format!("{household}/{}/", who.id),
        Role::Medic => format!("{household}/#episode/"),
        _ => return false,
    };
    access.scan_prefix(prefix).next().is_some()
}

pub fn get_row(proj: &sled::Tree, doc: &str) -> Option<ProjRow> {
    proj.get(doc).ok().flatten().and_then(|v| serde_json::from_slice(&v).ok())
}

pub fn rows(proj: &sled::Tree) -> impl Iterator<Item = ProjRow> + '_ {
    proj.iter().values().filter_map(|v| v.ok().and_then(|v| serde_json::from_slice(&v).ok()))
}

pub fn alerts(tree: &sled::Tree) -> impl Iterator<Item = Alert> + '_ {
    tree.iter().values().filter_map(|v| v.ok().and_then(|v| serde_json::from_slice(&v).ok()))
}

/// Loads the canonical state of a document from the store (read-only; the store holds
/// every acknowledged change).
pub fn load_doc(store: &dyn DocStore, id: &DocumentId) -> Option<DomainDoc> {
    let stored = store.load(id).ok()?;
    let mut doc = Automerge::new();
    for (_, bytes) in &stored.chunks {
        doc.load_incremental(bytes).ok()?;
    }
    DomainDoc::hydrate(&doc).ok().flatten()
}

enum Event {
    Changed(DocumentId, Box<DomainDoc>),
    /// A sweep; the sender, if any, is told once its writes are applied.
    Sweep(Option<tokio::sync::oneshot::Sender<()>>),
}

/// Handle to the projector task.
#[derive(Debug, Clone)]
pub struct Projector {
    tx: mpsc::UnboundedSender<Event>,
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Changed(id, _) => write!(f, "Changed({id})"),
            Event::Sweep(_) => write!(f, "Sweep"),
        }
    }
}

/// Everything the projector works with.
#[derive(Debug)]
pub struct ProjectorCore {
    pub db: Db,
    pub hub: Arc<Hub>,
    pub audit: Arc<Audit>,
    pub settings: IndexSettings,
    proj: sled::Tree,
    access: sled::Tree,
    alerts: sled::Tree,
}

impl Projector {
    /// Starts the projector on the current tokio runtime.
    /// The hub is handed over through `hub_cell` once built (it needs the gate, which
    /// needs this projector).
    pub fn start(
        db: Db,
        hub_cell: Arc<std::sync::OnceLock<Arc<Hub>>>,
        audit: Arc<Audit>,
        settings: IndexSettings,
    ) -> Result<Self, DbError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let proj = proj_tree(&db)?;
        let access = access_tree(&db)?;
        let alerts = alerts_tree(&db)?;
        let sweep_tx = tx.clone();
        let sweep_every = settings.sweep_interval;
        tokio::spawn(async move {
            // The hub needs the gate, which needs this projector: wait for the hub.
            let hub = loop {
                if let Some(h) = hub_cell.get() {
                    break h.clone();
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            };
            let core = Arc::new(ProjectorCore { db, hub, audit, settings, proj, access, alerts });
            run(core, rx).await;
        });
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(sweep_every);
            loop {
                tick.tick().await;
                if sweep_tx.send(Event::Sweep(None)).is_err() {
                    break;
                }
            }
        });
        Ok(Projector { tx })
    }

    /// Tells the projector of a document's new accepted state.
    pub fn changed(&self, doc: DocumentId, value: DomainDoc) {
        let _ = self.tx.send(Event::Changed(doc, Box::new(value)));
    }

    /// Asks for a sweep now (time-based alerts, retention).
    pub fn sweep(&self) {
        let _ = self.tx.send(Event::Sweep(None));
    }

    /// Sweeps now and resolves once the sweep's projections and alerts are written (the
    /// index documents it updates follow asynchronously, through their actors).
    pub async fn sweep_done(&self) {
        let (done, wait) = tokio::sync::oneshot::channel();
        if self.tx.send(Event::Sweep(Some(done))).is_ok() {
            let _ = wait.await;
        }
    }
}

async fn run(core: Arc<ProjectorCore>, mut rx: mpsc::UnboundedReceiver<Event>) {
    let mut pending: BTreeMap<DocumentId, DomainDoc> = BTreeMap::new();
    loop {
        let Some(first) = rx.recv().await else { break };
        let mut sweep = false;
        let mut waiting: Vec<tokio::sync::oneshot::Sender<()>> = Vec::new();
        let mut take = |e: Event, pending: &mut BTreeMap<DocumentId, DomainDoc>| match e {
            Event::Changed(id, v) => {
                pending.insert(id, *v);
            }
            Event::Sweep(done) => {
                sweep = true;
                waiting.extend(done);
            }
        };
        take(first, &mut pending);
        // Batch: whatever arrives within the flush interval is written together.
        let deadline = tokio::time::Instant::now() + core.settings.flush_interval;
        while let Ok(Some(e)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            take(e, &mut pending);
        }
        let batch = std::mem::take(&mut pending);
        let core2 = core.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut writes = IndexWrites::default();
            for (id, value) in batch {
                core2.project(id, &value, &mut writes);
            }
            if sweep {
                core2.sweep(&mut writes);
            }
            writes
        })
        .await;
        match result {
            Ok(writes) => writes.apply(&core),
            Err(e) => tracing::error!(error = %e, "projector batch failed"),
        }
        for done in waiting {
            let _ = done.send(());
        }
    }
}

/// Row changes for index documents, grouped by target document.
#[derive(Debug, Default)]
struct IndexWrites {
    /// target index doc → (target kind info, rows to upsert or remove)
    targets: BTreeMap<DocumentId, (IndexTarget, BTreeMap<String, Option<SummaryRow>>)>,
    /// documents whose readers must be re-checked (assignment changed)
    recheck: Vec<DocumentId>,
}

#[derive(Debug, Clone)]
enum IndexTarget {
    Grid(String),
    Inbox { user: String, grid: String },
}

impl IndexWrites {
    fn put(&mut self, target: DocumentId, kind: IndexTarget, doc: &str, row: Option<SummaryRow>) {
        self.targets.entry(target).or_insert_with(|| (kind, BTreeMap::new())).1.insert(doc.to_owned(), row);
    }

    fn apply(self, core: &ProjectorCore) {
        for (target, (kind, rows)) in self.targets {
            core.hub.dispatch(
                target,
                DocCommand::ServerWrite { write: ServerWriteFn(Box::new(move |doc| write_rows(doc, &kind, rows))) },
            );
        }
        for doc in self.recheck {
            core.hub.recheck(doc);
        }
    }
}

/// Applies row updates to an index document (creating it if it is empty).
fn write_rows(doc: &mut Automerge, kind: &IndexTarget, rows: BTreeMap<String, Option<SummaryRow>>) -> bool {
    let current = DomainDoc::hydrate(doc).ok().flatten();
    let mut value = match (current, kind) {
        (Some(DomainDoc::GridIndex(g)), IndexTarget::Grid(_)) => DomainDoc::GridIndex(g),
        (Some(DomainDoc::Inbox(i)), IndexTarget::Inbox { .. }) => DomainDoc::Inbox(i),
        (_, IndexTarget::Grid(grid)) => DomainDoc::GridIndex(GridIndex {
            kind: Kind::GridIndex,
            schema: SCHEMA_VERSION,
            grid: grid.clone(),
            docs: BTreeMap::new(),
        }),
        (_, IndexTarget::Inbox { user, grid }) => DomainDoc::Inbox(Inbox {
            kind: Kind::Inbox,
            schema: SCHEMA_VERSION,
            grid: grid.clone(),
            user: user.clone(),
            docs: BTreeMap::new(),
        }),
    };
    let docs = match &mut value {
        DomainDoc::GridIndex(g) => &mut g.docs,
        DomainDoc::Inbox(i) => &mut i.docs,
        _ => return false,
    };
    for (id, row) in rows {
        match row {
            Some(r) => {
                docs.insert(id, r);
            }
            None => {
                docs.remove(&id);
            }
        }
    }
    let mut tx = doc.transaction();
    let reconciled = match &value {
        DomainDoc::GridIndex(g) => autosurgeon::reconcile(&mut tx, g),
        DomainDoc::Inbox(i) => autosurgeon::reconcile(&mut tx, i),
        _ => Ok(()),
    };
    if let Err(e) = reconciled {
        tracing::error!(error = %e, "could not write index document");
        tx.rollback();
        return false;
    }
    tx.commit();
    true
}

impl ProjectorCore {
    /// The community's local date and time at `ms`.
    fn local(&self, ms: i64) -> NaiveDateTime {
        let offset = chrono::FixedOffset::east_opt(self.settings.utc_offset_minutes * 60)
            .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("zero offset"));
        offset.timestamp_millis_opt(ms).single().map(|t| t.naive_local()).unwrap_or_default()
    }

    fn put_row(&self, row: &ProjRow) {
        if let Ok(json) = serde_json::to_vec(row) {
            if let Err(e) = self.proj.insert(row.doc.as_bytes(), json) {
                tracing::error!(error = %e, "could not write projection");
            }
        }
    }

    /// Updates projections, access, alerts and index rows for one document's new state.
    fn project(&self, id: DocumentId, value: &DomainDoc, writes: &mut IndexWrites) {
        let key = id.to_string();
        let old = get_row(&self.proj, &key);
        let now = self.db.now_ms();
        let (status, open, erased, care_flags) = match value {
            DomainDoc::Task(t) => (t.status.to_string(), t.status.is_open(), false, BTreeMap::new()),
            DomainDoc::Episode(e) => (e.status.to_string(), e.is_open(), e.erased, BTreeMap::new()),
            DomainDoc::Household(h) => {
                let mut flags = BTreeMap::new();
                for m in &h.members {
                    for f in &m.flags {
                        *flags.entry(f.to_string()).or_insert(0) += 1;
                    }
                }
                (String::new(), true, false, flags)
            }
            _ => return,
        };
        let closed_at = if open { None } else { old.as_ref().and_then(|o| o.closed_at).or(Some(now)) };
        let row = ProjRow {
            doc: key.clone(),
            kind: value.kind(),
            grid: value.grid().to_owned(),
            status,
            open,
            assignee: value.assignee().map(str::to_owned),
            household: value.household().map(|h| h.to_string()),
            due: match value {
                DomainDoc::Task(t) => Some(t.due),
                _ => None,
            },
            closed_at,
            updated_at: now,
            care_flags,
            erased,
            title: match value {
                DomainDoc::Household(h) => h.address_label(),
                _ => String::new(),
            },
            first_seen: old.as_ref().and_then(|o| o.first_seen).or(Some(now)),
        };
        self.put_row(&row);
        if value.kind() == Kind::Household {
            // Its grid index lists it by address: written when that row would change, not
            // on every edit of the household (members, notes…).
            let listed = old.as_ref().is_some_and(|o| o.grid == row.grid && o.title == row.title);
            if let (false, Some(summary), Some(grid)) =
                (listed, value.summary(), crate::grids::get(&self.db, &row.grid).ok().flatten())
            {
                writes.put(grid.index, IndexTarget::Grid(grid.id.clone()), &row.doc, Some(summary));
            }
            return;
        }
        self.update_access(old.as_ref(), &row);
        let open_alerts = self.update_alerts(&row, value);
        self.update_indexes(old.as_ref(), &row, value, open_alerts, writes);
        let assignment_changed = old.as_ref().map(|o| (&o.assignee, o.open)) != Some((&row.assignee, row.open));
        if assignment_changed {
            writes.recheck.push(id);
            if let Some(h) = row.household.as_deref().and_then(|h| h.parse().ok()) {
                writes.recheck.push(h);
            }
        }
    }

    fn update_access(&self, old: Option<&ProjRow>, row: &ProjRow) {
        let entries = |r: &ProjRow| -> Vec<String> {
            let (Some(h), true) = (r.household.as_deref(), r.open) else { return Vec::new() };
            let mut keys = Vec::new();
            if let Some(a) = &r.assignee {
                keys.push(format!("{h}/{a}/{}", r.doc));
            }
            if r.kind == Kind::Episode {
                keys.push(format!("{h}/#episode/{}", r.doc));
            }
            keys
        };
        for k in old.map(entries).unwrap_or_default() {
            let _ = self.access.remove(k);
        }
        for k in entries(row) {
            let _ = self.access.insert(k, &[]);
        }
    }

    /// Raises new alerts, resolves those whose cause is gone; returns the open count.
    fn update_alerts(&self, row: &ProjRow, value: &DomainDoc) -> u32 {
        let (doc, grid) = (row.doc.as_str(), row.grid.as_str());
        let now = self.db.now_ms();
        let facts: Vec<AlertFact> = match value {
            DomainDoc::Episode(e) => episode_alerts(e, self.local(now), self.local(row.first_seen.unwrap_or(now))),
            DomainDoc::Task(t) => task_alerts(t, self.db.now_ms()),
            _ => Vec::new(),
        };
        let prefix = format!("{doc}/");
        let mut existing: HashMap<String, Alert> = self
            .alerts
            .scan_prefix(&prefix)
            .values()
            .filter_map(|v| v.ok().and_then(|v| serde_json::from_slice::<Alert>(&v).ok()))
            .map(|a| (a.id.clone(), a))
            .collect();
        let mut open = 0;
        for fact in facts {
            let id = format!("{doc}/{}", fact.key);
            match existing.remove(&id) {
                Some(a) => {
                    if a.status != AlertStatus::Resolved {
                        open += 1;
                    }
                }
                None => {
                    let alert = Alert {
                        id: id.clone(),
                        doc: doc.to_owned(),
                        grid: grid.to_owned(),
                        kind: fact.kind,
                        date: fact.date,
                        detail: fact.detail,
                        status: AlertStatus::Open,
                        raised_at: now,
                        acknowledged_by: None,
                        acknowledged_at: None,
                        resolved_by: None,
                        resolved_at: None,
                    };
                    if let Ok(json) = serde_json::to_vec(&alert) {
                        let _ = self.alerts.insert(id.as_bytes(), json);
                    }
                    open += 1;
                }
            }
        }
        // Causes that are gone (a missed check-in made up, a delivery done): resolved by the server.
        for (id, mut a) in existing {
            if a.status != AlertStatus::Resolved {
                a.status = AlertStatus::Resolved;
                a.resolved_by = Some(crate::rules::SERVER_USER.to_owned());
                a.resolved_at = Some(now);
                if let Ok(json) = serde_json::to_vec(&a) {
                    let _ = self.alerts.insert(id.as_bytes(), json);
                }
            }
        }
        open
    }

    fn update_indexes(
        &self,
        old: Option<&ProjRow>,
        row: &ProjRow,
        value: &DomainDoc,
        open_alerts: u32,
        writes: &mut IndexWrites,
    ) {
        let listed = row.open || row.closed_at.is_some_and(|c| self.db.now_ms() - c < self.closed_window_ms());
        let summary = value.summary().map(|mut s| {
            s.alerts = open_alerts;
            if let Some(DomainDoc::Household(h)) = row
                .household
                .as_deref()
                .and_then(|h| h.parse::<DocumentId>().ok())
                .and_then(|h| load_doc(&self.db.docs, &h))
            {
                s = s.with_address(&h);
            }
            s
        });
        let summary = if listed { summary } else { None };
        if let Some(grid) = crate::grids::get(&self.db, &row.grid).ok().flatten() {
            writes.put(grid.index, IndexTarget::Grid(grid.id.clone()), &row.doc, summary.clone());
        }
        // The assignee's inbox lists it; a previous assignee's inbox no longer does.
        if let Some(old_assignee) = old.and_then(|o| o.assignee.as_deref()) {
            if Some(old_assignee) != row.assignee.as_deref() {
                self.inbox_put(old_assignee, &row.doc, None, writes);
            }
        }
        if let Some(a) = row.assignee.as_deref() {
            self.inbox_put(a, &row.doc, summary, writes);
        }
    }

    fn inbox_put(&self, user_id: &str, doc: &str, row: Option<SummaryRow>, writes: &mut IndexWrites) {
        let users = crate::auth::Users::new(self.db.clone());
        if let Ok(Some(user)) = users.get(user_id) {
            let grid = user.grids.first().cloned().unwrap_or_default();
            writes.put(user.inbox, IndexTarget::Inbox { user: user.id.clone(), grid }, doc, row);
        }
    }

    fn closed_window_ms(&self) -> i64 {
        i64::from(self.settings.closed_days) * 86_400_000
    }

    /// Time-based work: alerts that appear with the clock, closed work leaving the
    /// indexes, and retention.
    fn sweep(&self, writes: &mut IndexWrites) {
        let now = self.db.now_ms();
        let retention_ms = i64::from(self.settings.retention_days) * 86_400_000;
        let all: Vec<ProjRow> = rows(&self.proj).collect();
        for row in all {
            if row.kind == Kind::Household {
                continue;
            }
            let Ok(id) = row.doc.parse::<DocumentId>() else { continue };
            let expired_from_index = !row.open && row.closed_at.is_some_and(|c| now - c >= self.closed_window_ms());
            if row.kind == Kind::Episode
                && !row.open
                && !row.erased
                && row.closed_at.is_some_and(|c| now - c >= retention_ms)
            {
                self.erase(id);
                continue;
            }
            if row.open || expired_from_index {
                if let Some(value) = load_doc(&self.db.docs, &id) {
                    self.project(id, &value, writes);
                }
            }
        }
    }

    /// Retention: replaces an episode by a fresh history holding only its non-sensitive
    /// summary, deletes its old chunks and its alerts.
    fn erase(&self, id: DocumentId) {
        let Some(DomainDoc::Episode(ep)) = load_doc(&self.db.docs, &id) else { return };
        if ep.erased {
            return;
        }
        let summary = DomainDoc::Episode(ep.erased_summary(self.db.now_ms()));
        let mut fresh = automerge::AutoCommit::new().with_actor(self.hub.server_actor().clone());
        if summary.reconcile_into(&mut fresh).is_err() {
            return;
        }
        let bytes = fresh.save();
        self.hub.dispatch(id, DocCommand::Replace { snapshot: bytes });
        // Erased once: later sweeps skip it (the replacement is written asynchronously).
        if let Some(mut row) = get_row(&self.proj, &id.to_string()) {
            row.erased = true;
            self.put_row(&row);
        }
        for k in self.alerts.scan_prefix(format!("{id}/")).keys().flatten() {
            let _ = self.alerts.remove(k);
        }
        self.audit.record(crate::rules::SERVER_USER, "retention.erase", Some(id.to_string()), "health details erased");
    }
}

/// Makes sure a new user's inbox document exists, so their phone can open it at once.
pub fn ensure_user_inbox(hub: &Arc<Hub>, user: &crate::auth::User) {
    let target = IndexTarget::Inbox { user: user.id.clone(), grid: user.grids.first().cloned().unwrap_or_default() };
    hub.dispatch(
        user.inbox,
        DocCommand::ServerWrite {
            write: ServerWriteFn(Box::new(move |doc| {
                doc.get_heads().is_empty() && write_rows(doc, &target, BTreeMap::new())
            })),
        },
    );
}

/// Makes sure a new grid's index document exists.
pub fn ensure_grid_index(hub: &Arc<Hub>, grid: &crate::grids::Grid) {
    let target = IndexTarget::Grid(grid.id.clone());
    hub.dispatch(
        grid.index,
        DocCommand::ServerWrite {
            write: ServerWriteFn(Box::new(move |doc| {
                doc.get_heads().is_empty() && write_rows(doc, &target, BTreeMap::new())
            })),
        },
    );
}
