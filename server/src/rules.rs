//! The domain rules at the gate (DESIGN §4): who may read a document, and whether a
//! batch of changes may be merged. The decisions themselves are the pure functions of
//! `linli_shared::domain`; this module feeds them what only the server knows (the
//! authenticated user, actor bindings, who is assigned to which household) and records
//! the outcome (audit, quarantine, projections).

use crate::audit::Audit;
use crate::auth::SERVER_USER;
use crate::projector::Projector;
use crate::quarantine::Quarantine;
use crate::read_audit::{ReadAudit, Via};
use crate::store::{Holder, Store, StoreError, Write};
use crate::sync::conn::UserCtx;
use crate::sync::{ConnHandle, Deferral, Gate, GateError, Incoming, Refusal};
use async_trait::async_trait;
use automerge::{ActorId, Automerge};
use linli_shared::domain::{self, Actor, Checkin, DocFacts, DomainDoc, DomainLimits, Kind, Readings, Role};
use linli_shared::DocumentId;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug)]
pub struct RulesGate {
    store: Store,
    audit: Audit,
    quarantine: Quarantine,
    limits: DomainLimits,
    server_actor: ActorId,
    projector: Projector,
    reads: ReadAudit,
    /// How long a change may wait for a household the server does not have (ms).
    reference_wait_ms: i64,
    /// Since when (server clock, ms) each document's deferred changes wait.
    waiting_since: parking_lot::Mutex<HashMap<DocumentId, i64>>,
    /// Check-ins a phone that had not seen the schema-3 migration wrote into a migrated
    /// episode's old map, checked and waiting for the batch to be merged (then they go to
    /// the episode's readings). A document's batches pass the gate one at a time.
    late_checkins: parking_lot::Mutex<HashMap<DocumentId, LateCheckins>>,
}

/// Check-ins to carry over: the readings they go to, and the check-ins by key.
type LateCheckins = (DocumentId, BTreeMap<String, Checkin>);

/// Most documents whose waiting is remembered; beyond, those that waited longest are
/// forgotten (they start waiting again: a hostile phone cannot grow this without bound).
const MAX_WAITING: usize = 10_000;

impl RulesGate {
    pub async fn new(
        store: Store,
        reads: ReadAudit,
        quarantine: Quarantine,
        projector: Projector,
        server_actor: ActorId,
        utc_offset_minutes: i32,
        reference_wait: std::time::Duration,
    ) -> Result<Self, StoreError> {
        store.bind_actor(server_actor.to_bytes(), SERVER_USER).await?;
        Ok(RulesGate {
            store,
            audit: reads.audit().clone(),
            quarantine,
            limits: DomainLimits { utc_offset_minutes, ..DomainLimits::default() },
            server_actor,
            projector,
            reads,
            reference_wait_ms: i64::try_from(reference_wait.as_millis()).unwrap_or(i64::MAX),
            waiting_since: parking_lot::Mutex::new(HashMap::new()),
            late_checkins: parking_lot::Mutex::new(HashMap::new()),
        })
    }

    /// What a new or moved document names must exist: its grid, and for a task or an
    /// episode a household of the same grid. A household the server does not have yet (a
    /// phone created both offline; they arrive in either order) defers the change, until
    /// `reference_wait` has passed: then it is refused like a missing one.
    async fn check_references(
        &self,
        doc: DocumentId,
        before: Option<&DomainDoc>,
        after: &DomainDoc,
    ) -> Result<(), GateError> {
        let moved = before.is_none_or(|b| b.grid() != after.grid());
        if moved && self.store.grid(after.grid()).await?.is_none() {
            return Err(rule("grid", format!("there is no grid `{}`", after.grid())).into());
        }
        let Some(household) = after.household() else { return Ok(()) };
        if !moved && before.and_then(DomainDoc::household) == Some(household) {
            return Ok(());
        }
        let stored = self.store.load(&household).await?;
        if stored.chunks.is_empty() {
            let now = self.store.now_ms();
            let since = {
                let mut waiting = self.waiting_since.lock();
                if waiting.len() >= MAX_WAITING && !waiting.contains_key(&doc) {
                    waiting.retain(|_, t| now - *t < self.reference_wait_ms);
                    if waiting.len() >= MAX_WAITING {
                        waiting.clear();
                    }
                }
                *waiting.entry(doc).or_insert(now)
            };
            if now - since >= self.reference_wait_ms {
                self.waiting_since.lock().remove(&doc);
                return Err(rule("household", "there is no such household").into());
            }
            return Err(GateError::Deferred(Deferral {
                waits_for: household,
                reason: "waiting for the household it names".to_owned(),
            }));
        }
        self.waiting_since.lock().remove(&doc);
        let value = stored.to_automerge().ok().and_then(|d| DomainDoc::hydrate(&d).ok().flatten());
        match value {
            Some(DomainDoc::Household(h)) if h.grid == after.grid() => Ok(()),
            Some(DomainDoc::Household(_)) => Err(rule("household", "is a household of another grid").into()),
            _ => Err(rule("household", "is not a household").into()),
        }
    }

    /// `Some` if the connection's user may read the document as it is now, with its kind
    /// when it has one (a document outside the schema has none).
    async fn readable_kind(
        &self,
        conn: &ConnHandle,
        doc: DocumentId,
        current: &Automerge,
    ) -> Result<Option<Option<Kind>>, StoreError> {
        let who = conn.who();
        let value = match DomainDoc::hydrate(current) {
            Ok(Some(v)) => v,
            // A document outside the schema is shown to administrators only.
            _ => return Ok((who.role == Role::Admin).then_some(None)),
        };
        let facts = DocFacts::of(&value);
        let linked = match (facts.kind, who.role) {
            (Kind::Household, Role::Volunteer) => self.store.has_grant(&doc, &Holder::User(who.id.clone())).await?,
            (Kind::Household, Role::Medic) => self.store.has_grant(&doc, &Holder::OpenEpisode).await?,
            _ => false,
        };
        Ok(domain::may_read(&Self::actor(who), &facts, linked).then_some(Some(facts.kind)))
    }

    /// Check-ins written into a migrated episode's old `checkins` map by a phone that had
    /// not seen the migration (the map is no longer reachable from the episode's root, so
    /// nothing else looks at them): each is checked as if it were added to the episode's
    /// readings by the sender, and kept to be carried over there once the batch merges.
    async fn check_late_checkins(&self, incoming: &Incoming<'_>, after: &DomainDoc) -> Result<(), GateError> {
        self.late_checkins.lock().remove(&incoming.doc);
        let DomainDoc::Episode(episode) = after else { return Ok(()) };
        let Some(readings_id) = episode.readings else { return Ok(()) };
        let Some(legacy) = self.store.meta(&crate::migrate::legacy_checkins_key(&incoming.doc)).await? else {
            return Ok(());
        };
        let legacy = String::from_utf8_lossy(&legacy);
        let old = domain::migrate::legacy_checkins(incoming.before, &legacy);
        let new = domain::migrate::legacy_checkins(incoming.after, &legacy);
        if old == new {
            return Ok(());
        }
        let before = Readings::for_episode(incoming.doc, episode, old);
        let after_r = Readings { checkins: new.clone(), ..before.clone() };
        let who = incoming.conn.who();
        domain::check_change(
            &Self::actor(who),
            Some(&DomainDoc::Readings(before.clone())),
            &DomainDoc::Readings(after_r),
            &self.limits,
            self.store.now_ms(),
        )
        .map_err(|v| GateError::Refused(Refusal { code: "rule", reason: v.to_string() }))?;
        let late: BTreeMap<String, Checkin> =
            new.into_iter().filter(|(k, c)| before.checkins.get(k) != Some(c)).collect();
        self.late_checkins.lock().insert(incoming.doc, (readings_id, late));
        Ok(())
    }

    fn actor<'a>(who: &'a UserCtx) -> Actor<'a> {
        Actor { user_id: &who.id, role: who.role, grids: &who.grids }
    }

    /// Every change must come from an Automerge actor bound to this user; an actor seen
    /// for the first time is bound to the user sending it.
    async fn check_actors(&self, user: &str, incoming: &Incoming<'_>) -> Result<(), GateError> {
        let mut seen: Vec<&ActorId> = Vec::new();
        for change in incoming.changes {
            let actor = change.actor_id();
            if seen.contains(&actor) {
                continue;
            }
            seen.push(actor);
            if *actor == self.server_actor {
                // A phone still holding a list whose history the server replaced (an
                // erasure) sends the server's old changes back: it is to drop that copy.
                return Err(refusal(
                    "actor_binding",
                    "changes may not claim the server's actor id; if this is a copy of a list the server \
                     rebuilt, drop it and fetch it again",
                )
                .into());
            }
            let owner = self.store.bind_actor(actor.to_bytes(), user).await?;
            if owner != user {
                return Err(refusal("actor_binding", "these changes were made by another user's device").into());
            }
        }
        Ok(())
    }

    fn hydrate(doc: &Automerge, which: &str) -> Result<Option<DomainDoc>, Refusal> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| DomainDoc::hydrate(doc)))
            .map_err(|_| refusal("schema", format!("the {which} document cannot be read")))?
            .map_err(|v| Refusal { code: "schema", reason: v.to_string() })
    }
}

fn refusal(code: &'static str, reason: impl Into<String>) -> Refusal {
    Refusal { code, reason: reason.into() }
}

/// A refusal by a domain rule, naming the field as `check_change` does.
fn rule(field: &str, reason: impl Into<String>) -> Refusal {
    Refusal { code: "rule", reason: domain::Violation::new(field, reason.into()).to_string() }
}

#[async_trait]
impl Gate for RulesGate {
    async fn may_read(&self, conn: &ConnHandle, doc: DocumentId, current: &Automerge) -> Result<bool, StoreError> {
        Ok(self.readable_kind(conn, doc, current).await?.is_some())
    }

    async fn admit(&self, conn: &ConnHandle, doc: DocumentId, current: &Automerge) -> Result<bool, StoreError> {
        let Some(kind) = self.readable_kind(conn, doc, current).await? else { return Ok(false) };
        if let Some(kind) = kind {
            self.reads.record(&conn.who().id, kind, doc, Via::Sync).await?;
        }
        Ok(true)
    }

    async fn check(&self, incoming: &Incoming<'_>) -> Result<(), GateError> {
        let who = incoming.conn.who();
        if crate::projector::erasure::is_erased(&self.store, &incoming.doc).await? {
            return Err(refusal("erased", "this record was erased and takes no changes").into());
        }
        if crate::projector::redaction::is_redacted(&self.store, &incoming.doc).await? {
            return Err(refusal(
                "redacted",
                "this delivery was closed long ago; its items and notes were erased and it takes no changes",
            )
            .into());
        }
        let before = Self::hydrate(incoming.before, "stored")?;
        if let Some(DomainDoc::Episode(ep)) = &before {
            if ep.erased {
                return Err(
                    refusal("erased", "this record was erased under the retention rule and takes no changes").into()
                );
            }
        }
        if matches!(before, Some(DomainDoc::GridIndex(_) | DomainDoc::MedicIndex(_) | DomainDoc::Inbox(_))) {
            return Err(refusal("server_only", "only the server writes indexes and inboxes").into());
        }
        self.check_actors(&who.id, incoming).await?;
        let after = Self::hydrate(incoming.after, "changed")?
            .ok_or_else(|| refusal("schema", "a document may not be emptied"))?;
        if matches!(after, DomainDoc::GridIndex(_) | DomainDoc::MedicIndex(_) | DomainDoc::Inbox(_)) {
            return Err(refusal("server_only", "only the server writes indexes and inboxes").into());
        }
        domain::check_change(&Self::actor(who), before.as_ref(), &after, &self.limits, self.store.now_ms())
            .map_err(|v| GateError::Refused(Refusal { code: "rule", reason: v.to_string() }))?;
        self.check_late_checkins(incoming, &after).await?;
        self.check_references(incoming.doc, before.as_ref(), &after).await
    }

    fn accepted_writes(&self, conn: &ConnHandle, doc: DocumentId, changes: usize) -> Vec<Write> {
        vec![
            self.audit.entry(conn.user(), "change.accepted", Some(doc.to_string()), format!("{changes} changes")),
            Write::Dirty { doc, dirty: true },
        ]
    }

    fn accepted(&self, doc: DocumentId, after: &Automerge) {
        if let Some((readings, late)) = self.late_checkins.lock().remove(&doc) {
            self.projector.carry_over(readings, late);
        }
        if let Ok(Some(value)) = DomainDoc::hydrate(after) {
            self.projector.changed(doc, value);
        }
    }

    async fn refused(&self, incoming: &Incoming<'_>, refusal: &Refusal) -> Result<(), StoreError> {
        let user = incoming.conn.user();
        let doc = incoming.doc.to_string();
        self.audit.record(user, "change.refused", Some(doc.clone()), format!("{}: {}", refusal.code, refusal.reason));
        // Changes to an erased or redacted record would bring erased data back: keep
        // only their hashes, never their content.
        let keep_raw = !matches!(refusal.code, "erased" | "redacted");
        let changes: Vec<(String, Vec<u8>)> = incoming
            .changes
            .iter()
            .map(|c| (c.hash().to_string(), if keep_raw { c.raw_bytes().to_vec() } else { Vec::new() }))
            .collect();
        let entry = self.quarantine.entry(user, &doc, refusal.code, &refusal.reason, &changes);
        self.quarantine.keep(entry).await?;
        Ok(())
    }

    async fn refused_unread(
        &self,
        conn: &ConnHandle,
        doc: DocumentId,
        refusal: &Refusal,
        message: &[u8],
    ) -> Result<(), StoreError> {
        let (user, doc) = (conn.user(), doc.to_string());
        self.audit.record(user, "change.refused", Some(doc.clone()), format!("{}: {}", refusal.code, refusal.reason));
        let entry = self.quarantine.unread_entry(user, &doc, refusal.code, &refusal.reason, message);
        self.quarantine.keep(entry).await?;
        Ok(())
    }
}
