//! What the server computes from documents (DESIGN §3, §5): the projection row of every
//! task, episode and household (dashboard, exports), who may read which household
//! (access grants), the alerts, and the rows of the server-authored inboxes and grid
//! indexes ([`indexes`]). Time-based work — missed check-ins, overdue deliveries, closed
//! work leaving the lists, retention — runs in a periodic sweep ([`retention`]).
//!
//! The [`Projector`] is told of every accepted document state and batches them (one
//! write per index document per `flush_interval`, however many documents moved).
//!
//! Projections are derived, so they must not be lost in a crash between a change and its
//! projection: the change's chunk commits with a `dirty` marker for its document, and the
//! marker is cleared only once the projection and the index rows it caused are stored. At
//! start, every marked document is projected again.

pub mod erasure;
mod indexes;
pub mod medical;
pub mod policy;
pub mod readings;
pub mod redaction;
mod retention;

pub use indexes::{ensure_grid_index, ensure_user_inbox};

use crate::grids::medic_index;

use crate::audit::Audit;
use crate::store::{AccessGrant, Alert, AlertStatus, Holder, ProjRow, Store, StoreError, Write};
use crate::sync::Hub;
use automerge::Automerge;
use chrono::{NaiveDateTime, TimeZone};
use indexes::{IndexTarget, IndexWrites};
use linli_shared::domain::{episode_alerts, task_alerts, AlertFact, DomainDoc, Kind, Medical, Readings, SummaryRow};
use linli_shared::DocumentId;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Settings of the projector. Every field is a setting (see `config`).
#[derive(Debug, Clone)]
pub struct ProjectorSettings {
    /// How long closed work stays listed in inboxes and grid indexes.
    pub closed_days: u32,
    /// How often index updates are written (they are batched in between).
    pub flush_interval: Duration,
    /// How often time-based alerts and retention are checked.
    pub sweep_interval: Duration,
    /// An episode closed longer than this has its health details erased.
    pub retention_days: u32,
    /// Days after an episode's `end` before the server closes it.
    pub episode_grace_days: u32,
    /// The community's offset from UTC, for local dates and check-in deadlines.
    pub utc_offset_minutes: i32,
}

impl Default for ProjectorSettings {
    fn default() -> Self {
        ProjectorSettings {
            closed_days: 3,
            flush_interval: Duration::from_millis(200),
            sweep_interval: Duration::from_secs(60),
            retention_days: 30,
            episode_grace_days: 1,
            utc_offset_minutes: 8 * 60,
        }
    }
}

/// Loads the canonical state of a document from the store (the store holds every
/// acknowledged change). `Ok(None)` for an empty or unreadable document.
pub async fn load_doc(store: &Store, id: &DocumentId) -> Result<Option<DomainDoc>, StoreError> {
    let stored = store.load(id).await?;
    let Ok(doc) = stored.to_automerge() else { return Ok(None) };
    Ok(DomainDoc::hydrate(&doc).ok().flatten())
}

/// What erasing a household did: how many documents went, and whether every one of them
/// (and every list) was replaced.
pub type EraseResult = Result<(usize, bool), erasure::EraseError>;

enum Event {
    Changed(DocumentId, Box<DomainDoc>),
    /// Erase a household and everything that names it, for `by`.
    Erase {
        household: DocumentId,
        by: String,
        done: tokio::sync::oneshot::Sender<EraseResult>,
    },
    /// A sweep; the sender, if any, is told once its writes are applied.
    Sweep(Option<tokio::sync::oneshot::Sender<()>>),
    /// Check-ins to carry over into a readings document.
    CarryOver(DocumentId, BTreeMap<String, linli_shared::domain::Checkin>),
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Event::Changed(id, _) => write!(f, "Changed({id})"),
            Event::Erase { household, .. } => write!(f, "Erase({household})"),
            Event::Sweep(_) => write!(f, "Sweep"),
            Event::CarryOver(id, late) => write!(f, "CarryOver({id}, {} check-ins)", late.len()),
        }
    }
}

/// Handle to the projector task.
#[derive(Debug, Clone)]
pub struct Projector {
    tx: mpsc::UnboundedSender<Event>,
}

/// Everything the projector works with.
#[derive(Debug)]
pub(crate) struct ProjectorCore {
    store: Store,
    hub: Arc<Hub>,
    audit: Audit,
    settings: ProjectorSettings,
}

impl Projector {
    /// Starts the projector on the current tokio runtime. The hub is handed over through
    /// `hub` once built (the hub needs the gate, which needs this projector).
    pub fn start(
        store: Store,
        hub: tokio::sync::oneshot::Receiver<Arc<Hub>>,
        audit: Audit,
        settings: ProjectorSettings,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let sweep_tx = tx.clone();
        let sweep_every = settings.sweep_interval;
        tokio::spawn(async move {
            let Ok(hub) = hub.await else { return };
            let core = Arc::new(ProjectorCore { store, hub, audit, settings });
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
        Projector { tx }
    }

    /// Tells the projector of a document's new accepted state.
    pub fn changed(&self, doc: DocumentId, value: DomainDoc) {
        let _ = self.tx.send(Event::Changed(doc, Box::new(value)));
    }

    /// Erases a household and every task and episode that names it (DESIGN §9), in turn
    /// with the projector's other writes, so no list is rebuilt under a pending row.
    pub async fn erase_household(&self, household: DocumentId, by: &str) -> EraseResult {
        let (done, wait) = tokio::sync::oneshot::channel();
        let event = Event::Erase { household, by: by.to_owned(), done };
        if self.tx.send(event).is_err() {
            return Err(erasure::EraseError::Store(StoreError::Unavailable("the projector has stopped".into())));
        }
        wait.await.unwrap_or_else(|_| {
            Err(erasure::EraseError::Store(StoreError::Unavailable("the projector has stopped".into())))
        })
    }

    /// Carries check-ins written into a migrated episode's old map over into its
    /// `readings` (see `rules::RulesGate::check_late_checkins`), as the server's own change.
    pub fn carry_over(&self, readings: DocumentId, late: BTreeMap<String, linli_shared::domain::Checkin>) {
        let _ = self.tx.send(Event::CarryOver(readings, late));
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
    // Documents accepted but not projected before the last stop (or crash).
    let mut pending: BTreeMap<DocumentId, DomainDoc> = BTreeMap::new();
    match core.store.dirty_docs().await {
        Ok(dirty) => {
            for id in dirty {
                if let Ok(Some(value)) = load_doc(&core.store, &id).await {
                    pending.insert(id, value);
                }
            }
        }
        Err(e) => tracing::error!(error = %e, "could not list documents awaiting projection"),
    }
    loop {
        let first = if pending.is_empty() {
            match rx.recv().await {
                Some(e) => Some(e),
                None => break,
            }
        } else {
            None
        };
        let mut sweep = false;
        let mut waiting: Vec<tokio::sync::oneshot::Sender<()>> = Vec::new();
        let mut erasures = Vec::new();
        let mut take = |e: Event, pending: &mut BTreeMap<DocumentId, DomainDoc>| match e {
            Event::Changed(id, v) => {
                pending.insert(id, *v);
            }
            Event::Erase { household, by, done } => erasures.push((household, by, done)),
            Event::Sweep(done) => {
                sweep = true;
                waiting.extend(done);
            }
            Event::CarryOver(readings, late) => {
                let write = move |doc: &mut Automerge| readings::write_late(doc, &late);
                core.hub.dispatch(
                    readings,
                    crate::sync::DocCommand::ServerWrite {
                        write: crate::sync::ServerWriteFn(Box::new(write)),
                        done: None,
                    },
                );
            }
        };
        if let Some(e) = first {
            take(e, &mut pending);
        }
        // Batch: whatever arrives within the flush interval is written together.
        let deadline = tokio::time::Instant::now() + core.settings.flush_interval;
        while let Ok(Some(e)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            take(e, &mut pending);
        }
        let batch = std::mem::take(&mut pending);
        if let Err(e) = core.project_batch(batch.clone(), sweep).await {
            // The dirty markers stay: these documents are projected again once the store works.
            tracing::warn!(error = %e, documents = batch.len(), "projection not stored; retried later");
            if e.is_unavailable() {
                tokio::time::sleep(Duration::from_secs(1)).await;
                pending = batch;
            }
        }
        for (household, by, done) in erasures {
            let _ = done.send(core.erase_household(household, &by).await);
        }
        for done in waiting {
            let _ = done.send(());
        }
    }
}

impl ProjectorCore {
    async fn erase_household(&self, household: DocumentId, by: &str) -> EraseResult {
        let plan = erasure::plan_household(&self.store, household, by).await?;
        let n = plan.erased.len();
        let complete = erasure::apply_live(&self.store, &self.hub, plan).await?;
        Ok((n, complete))
    }

    /// Projects a batch of documents (and sweeps), stores the projections, writes the
    /// index rows, and then clears the documents' dirty markers.
    async fn project_batch(&self, batch: BTreeMap<DocumentId, DomainDoc>, sweep: bool) -> Result<(), StoreError> {
        let mut writes = Vec::new();
        let mut index = IndexWrites::default();
        let mut rows = RowCache::default();
        for (id, value) in &batch {
            self.project(*id, value, &mut rows, &mut writes, &mut index).await?;
        }
        // New check-ins change their episode's alerts (and its rows' counts).
        let mut episodes: Vec<DocumentId> = batch
            .values()
            .filter_map(|v| match v {
                DomainDoc::Readings(r) if !batch.contains_key(&r.episode) => Some(r.episode),
                _ => None,
            })
            .collect();
        episodes.sort_unstable();
        episodes.dedup();
        for id in episodes {
            if let Some(value) = load_doc(&self.store, &id).await? {
                self.project(id, &value, &mut rows, &mut writes, &mut index).await?;
            }
        }
        if sweep {
            self.sweep(&mut rows, &mut writes, &mut index).await?;
        }
        self.store.commit(writes).await?;
        if index.apply(&self.hub).await {
            let clean: Vec<Write> = batch.keys().map(|doc| Write::Dirty { doc: *doc, dirty: false }).collect();
            self.store.commit(clean).await?;
        }
        Ok(())
    }

    /// The community's local date and time at `ms`.
    fn local(&self, ms: i64) -> NaiveDateTime {
        let offset = chrono::FixedOffset::east_opt(self.settings.utc_offset_minutes * 60)
            .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("zero offset"));
        offset.timestamp_millis_opt(ms).single().map(|t| t.naive_local()).unwrap_or_default()
    }

    /// Updates projections, access, alerts and index rows for one document's new state.
    async fn project(
        &self,
        id: DocumentId,
        value: &DomainDoc,
        rows: &mut RowCache,
        writes: &mut Vec<Write>,
        index: &mut IndexWrites,
    ) -> Result<(), StoreError> {
        if erasure::is_erased(&self.store, &id).await? {
            // A change accepted just before the erasure: nothing of it is projected.
            return Ok(());
        }
        let key = id.to_string();
        let old = rows.get(&self.store, &key).await?;
        let now = self.store.now_ms();
        let (status, open, erased, care_flags) = match value {
            DomainDoc::Task(t) => (t.status.to_string(), t.status.is_open(), false, BTreeMap::new()),
            DomainDoc::Episode(e) => (e.status.to_string(), e.is_open(), e.erased, BTreeMap::new()),
            DomainDoc::Medical(_) => (String::new(), true, false, BTreeMap::new()),
            DomainDoc::Readings(r) => (r.status.to_string(), r.is_open(), false, BTreeMap::new()),
            DomainDoc::Household(h) => {
                let mut flags = BTreeMap::new();
                for m in &h.members {
                    for f in &m.flags {
                        *flags.entry(f.to_string()).or_insert(0) += 1;
                    }
                }
                (String::new(), true, false, flags)
            }
            _ => return Ok(()),
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
            slots: match value {
                DomainDoc::Episode(e) => Some(e.slots),
                _ => None,
            },
            slots_since: None,
        };
        // Check-ins a day changed (a risk level applied): slots added are due from now on.
        let slots_changed = old.as_ref().is_some_and(|o| o.slots.is_some() && o.slots != row.slots);
        let row = ProjRow {
            slots_since: if slots_changed { Some(now) } else { old.as_ref().and_then(|o| o.slots_since) },
            ..row
        };
        rows.put(row.clone());
        writes.push(Write::Row(row.clone()));
        if let DomainDoc::Medical(_) = value {
            // Listed in its grid's medic index alone, while its episode is (see
            // `medic_rows`): written once, when the server makes it.
            if old.is_none() {
                if let Some(grid) = self.store.grid(&row.grid).await? {
                    index.put(medic_index(&grid), IndexTarget::Medic(grid.id.clone()), &row.doc, value.summary());
                }
            }
            return Ok(());
        }
        let readings = match value {
            DomainDoc::Episode(e) => {
                let readings = self.readings_of(e).await?;
                medical::ensure(&self.hub, id, e);
                readings::ensure(&self.hub, id, e, readings.as_ref());
                readings
            }
            _ => None,
        };
        if value.kind() == Kind::Household {
            // Its grid index lists it by address: written when that row would change, not
            // on every edit of the household (members, notes…).
            let listed = old.as_ref().is_some_and(|o| o.grid == row.grid && o.title == row.title);
            if let (false, Some(summary), Some(grid)) = (listed, value.summary(), self.store.grid(&row.grid).await?) {
                // Its medics see its address only while an open episode refers to it.
                if self.store.has_grant(&id, &Holder::OpenEpisode).await? {
                    index.put(medic_index(&grid), IndexTarget::Medic(grid.id.clone()), &row.doc, Some(summary.clone()));
                }
                index.put(grid.index, IndexTarget::Grid(grid.id.clone()), &row.doc, Some(summary));
            }
            return Ok(());
        }
        // Readings open no household to anyone (their episode does) and raise no alerts of
        // their own (their episode's are computed from them).
        let open_alerts = if value.kind() == Kind::Readings {
            0
        } else {
            update_access(old.as_ref(), &row, writes);
            self.update_alerts(&row, value, readings.as_ref(), writes).await?
        };
        self.update_indexes(old.as_ref(), &row, value, open_alerts, index).await?;
        let assignment_changed = old.as_ref().map(|o| (&o.assignee, o.open)) != Some((&row.assignee, row.open));
        if assignment_changed {
            index.recheck.push(id);
            if let Some(h) = row.household.as_deref().and_then(|h| h.parse().ok()) {
                index.recheck.push(h);
            }
        }
        Ok(())
    }

    /// The readings an episode links, as the store has them.
    async fn readings_of(&self, e: &linli_shared::domain::Episode) -> Result<Option<Readings>, StoreError> {
        let Some(id) = e.readings else { return Ok(None) };
        match load_doc(&self.store, &id).await? {
            Some(DomainDoc::Readings(r)) => Ok(Some(r)),
            _ => Ok(None),
        }
    }

    /// Raises new alerts, resolves those whose cause is gone; returns the open count. An
    /// episode's check-ins are in its `readings`.
    async fn update_alerts(
        &self,
        row: &ProjRow,
        value: &DomainDoc,
        readings: Option<&Readings>,
        writes: &mut Vec<Write>,
    ) -> Result<u32, StoreError> {
        let doc = row.doc.as_str();
        let now = self.store.now_ms();
        let facts: Vec<AlertFact> = match value {
            DomainDoc::Episode(e) => {
                let known_since = row.first_seen.unwrap_or(now).max(row.slots_since.unwrap_or(i64::MIN));
                let none = BTreeMap::new();
                let checkins = readings.map_or(&none, |r| &r.checkins);
                episode_alerts(e, checkins, self.local(now), self.local(known_since))
            }
            DomainDoc::Task(t) => task_alerts(t, now),
            _ => Vec::new(),
        };
        let mut existing: HashMap<String, Alert> =
            self.store.alerts(Some(doc)).await?.into_iter().map(|a| (a.id.clone(), a)).collect();
        let mut open = 0;
        for fact in facts {
            let id = format!("{doc}/{}", fact.key);
            match existing.remove(&id) {
                Some(mut a) => {
                    if a.status != AlertStatus::Resolved {
                        open += 1;
                        // A delivery made urgent moves its overdue alert up the list.
                        if a.severity != fact.severity {
                            a.severity = fact.severity;
                            writes.push(Write::Alert(a));
                        }
                    }
                }
                None => {
                    writes.push(Write::Alert(Alert {
                        id,
                        doc: doc.to_owned(),
                        grid: row.grid.clone(),
                        kind: fact.kind,
                        date: fact.date,
                        detail: fact.detail,
                        status: AlertStatus::Open,
                        raised_at: now,
                        acknowledged_by: None,
                        acknowledged_at: None,
                        resolved_by: None,
                        resolved_at: None,
                        severity: fact.severity,
                        resolution_note: None,
                    }));
                    open += 1;
                }
            }
        }
        // Causes that are gone (a missed check-in made up, a delivery done): resolved by the server.
        for (_, mut a) in existing {
            if a.status != AlertStatus::Resolved {
                a.status = AlertStatus::Resolved;
                a.resolved_by = Some(crate::auth::SERVER_USER.to_owned());
                a.resolved_at = Some(now);
                writes.push(Write::Alert(a));
            }
        }
        Ok(open)
    }

    async fn update_indexes(
        &self,
        old: Option<&ProjRow>,
        row: &ProjRow,
        value: &DomainDoc,
        open_alerts: u32,
        index: &mut IndexWrites,
    ) -> Result<(), StoreError> {
        let listed = row.open || row.closed_at.is_some_and(|c| self.store.now_ms() - c < self.closed_window_ms());
        let household_id = row.household.as_deref().and_then(|h| h.parse::<DocumentId>().ok());
        let household = match household_id {
            Some(h) => match load_doc(&self.store, &h).await? {
                Some(DomainDoc::Household(h)) => Some(h),
                _ => None,
            },
            None => None,
        };
        // Only the grid index, which coordinators read and which lists every household of
        // the grid anyway, puts the address in a row's title. An inbox or a medic index
        // keeps every row it ever had in its history, long after its reader's access to
        // the household ended (DESIGN §9: the address only while the work is open); their
        // phones read the address from the household document while they may.
        let plain = value.summary().map(|s| SummaryRow { alerts: open_alerts, ..s });
        let addressed = plain.clone().map(|s| match &household {
            Some(h) => s.with_address(h),
            None => s,
        });
        let summary = if listed { plain.clone() } else { None };
        if let Some(grid) = self.store.grid(&row.grid).await? {
            if row.kind == Kind::Readings {
                // Beside their episode in the medic index; never in the grid index, which
                // coordinators read.
                index.put(medic_index(&grid), IndexTarget::Medic(grid.id.clone()), &row.doc, summary.clone());
            } else {
                index.put(
                    grid.index,
                    IndexTarget::Grid(grid.id.clone()),
                    &row.doc,
                    if listed { addressed } else { None },
                );
            }
            if row.kind == Kind::Episode {
                self.medic_rows(old, row, value, &grid, summary.clone(), household_id, household.as_ref(), index)
                    .await?;
            }
        }
        // The assignee's inbox lists it; a previous assignee's inbox no longer does.
        if let Some(old_assignee) = old.and_then(|o| o.assignee.as_deref()) {
            if Some(old_assignee) != row.assignee.as_deref() {
                self.inbox_put(old_assignee, &row.doc, None, index).await?;
            }
        }
        if let Some(a) = row.assignee.as_deref() {
            self.inbox_put(a, &row.doc, summary, index).await?;
        }
        Ok(())
    }

    /// An episode's rows in its grid's medic index: the episode, and the household while
    /// any open episode refers to it; neither with an address (see `update_indexes`).
    #[allow(clippy::too_many_arguments)]
    async fn medic_rows(
        &self,
        old: Option<&ProjRow>,
        row: &ProjRow,
        value: &DomainDoc,
        grid: &crate::store::Grid,
        episode_row: Option<SummaryRow>,
        household_id: Option<DocumentId>,
        household: Option<&linli_shared::domain::Household>,
        index: &mut IndexWrites,
    ) -> Result<(), StoreError> {
        let medic = medic_index(grid);
        let target = || IndexTarget::Medic(grid.id.clone());
        // Its medical record is listed while it is, with its status (a phone keeps the
        // record of an open episode only).
        if let (DomainDoc::Episode(e), Ok(episode)) = (value, row.doc.parse::<DocumentId>()) {
            if let Some(m) = e.medical {
                let record = DomainDoc::Medical(Medical::for_episode(&e.grid, episode, e.household));
                let record_row = episode_row
                    .as_ref()
                    .and_then(|er| record.summary().map(|r| SummaryRow { status: er.status.clone(), ..r }));
                index.put(medic, target(), &m.to_string(), record_row);
            }
        }
        index.put(medic, target(), &row.doc, episode_row);
        let (Some(h_id), Some(h)) = (household_id, household) else { return Ok(()) };
        // Open: listed (every time, so a server that gained the medic index lists the
        // households of episodes already open). Closed just now: listed only while another
        // open episode refers to it.
        let just_closed = !row.open && old.is_none_or(|o| o.open || o.household != row.household);
        let listed = if row.open {
            true
        } else if just_closed {
            let via: Option<DocumentId> = row.doc.parse().ok();
            self.store
                .grants()
                .await?
                .iter()
                .any(|g| g.household == h_id && g.holder == Holder::OpenEpisode && Some(g.via) != via)
        } else {
            return Ok(());
        };
        let household_row = if listed {
            DomainDoc::Household(h.clone()).summary().map(|r| SummaryRow { title: String::new(), ..r })
        } else {
            None
        };
        index.put(medic, target(), &h_id.to_string(), household_row);
        Ok(())
    }

    async fn inbox_put(
        &self,
        user_id: &str,
        doc: &str,
        row: Option<SummaryRow>,
        index: &mut IndexWrites,
    ) -> Result<(), StoreError> {
        if let Some(user) = self.store.user(user_id).await? {
            let grid = user.grids.first().cloned().unwrap_or_default();
            index.put(user.inbox, IndexTarget::Inbox { user: user.id.clone(), grid }, doc, row);
        }
        Ok(())
    }

    fn closed_window_ms(&self) -> i64 {
        i64::from(self.settings.closed_days) * 86_400_000
    }
}

/// Who may read a task's or episode's household while it is open: its assignee, and for
/// an episode the grid's medics (DESIGN §4).
fn grants(r: &ProjRow) -> Vec<AccessGrant> {
    let (Some(household), Ok(via), true) = (r.household.as_deref().and_then(|h| h.parse().ok()), r.doc.parse(), r.open)
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Some(a) = &r.assignee {
        out.push(AccessGrant { household, holder: Holder::User(a.clone()), via });
    }
    if r.kind == Kind::Episode {
        out.push(AccessGrant { household, holder: Holder::OpenEpisode, via });
    }
    out
}

fn update_access(old: Option<&ProjRow>, row: &ProjRow, writes: &mut Vec<Write>) {
    let now = grants(row);
    for g in old.map(grants).unwrap_or_default() {
        if !now.contains(&g) {
            writes.push(Write::RevokeGrant(g));
        }
    }
    writes.extend(now.into_iter().map(Write::Grant));
}

/// Rows read or written within one projection batch, so a document projected twice in
/// a batch (a change, then the sweep) sees its own new row.
#[derive(Debug, Default)]
pub(crate) struct RowCache {
    rows: HashMap<String, Option<ProjRow>>,
}

impl RowCache {
    async fn get(&mut self, store: &Store, doc: &str) -> Result<Option<ProjRow>, StoreError> {
        if let Some(r) = self.rows.get(doc) {
            return Ok(r.clone());
        }
        let r = store.row(doc).await?;
        self.rows.insert(doc.to_owned(), r.clone());
        Ok(r)
    }

    fn put(&mut self, row: ProjRow) {
        self.rows.insert(row.doc.clone(), Some(row));
    }

    /// Reads `doc`'s row from the store again next time (another writer changed it).
    fn forget(&mut self, doc: &str) {
        self.rows.remove(doc);
    }
}

/// The automerge document's domain value, for the projector (`None` if outside the schema).
pub fn domain_value(doc: &Automerge) -> Option<DomainDoc> {
    DomainDoc::hydrate(doc).ok().flatten()
}

/// Writes `value` onto `doc` as one change by the server, or nothing at all: `false` (and
/// the error logged) if autosurgeon could not reconcile it.
pub fn reconcile_in_one_change<T: autosurgeon::Reconcile>(doc: &mut Automerge, value: &T) -> bool {
    let mut tx = doc.transaction();
    if let Err(e) = autosurgeon::reconcile(&mut tx, value) {
        tracing::error!(error = %e, "could not write a server change");
        tx.rollback();
        return false;
    }
    tx.commit();
    true
}
