//! The domain rules at the gate (DESIGN §4): who may read a document, and whether a
//! batch of changes may be merged. The decisions themselves are the pure functions of
//! `linli_shared::domain`; this module feeds them what only the server knows (the
//! authenticated user, actor bindings, who is assigned to which household) and records
//! the outcome (audit, quarantine, projections).

use crate::audit::Audit;
use crate::clock::SharedClock;
use crate::db::{Db, DbError};
use crate::index::Projector;
use crate::quarantine::Quarantine;
use crate::sync::conn::UserCtx;
use crate::sync::{ConnHandle, Gate, Incoming, Refusal};
use automerge::{ActorId, Automerge};
use linli_shared::domain::{self, Actor, DocFacts, DomainDoc, DomainLimits, Kind, Role};
use linli_shared::DocumentId;
use std::sync::Arc;

/// The user id the server writes as, bound to the server's own Automerge actor.
pub const SERVER_USER: &str = "server";

#[derive(Debug)]
pub struct RulesGate {
    actors: sled::Tree,
    access: sled::Tree,
    audit: Arc<Audit>,
    quarantine: Quarantine,
    limits: DomainLimits,
    server_actor: ActorId,
    projector: Projector,
    clock: SharedClock,
}

impl RulesGate {
    pub fn new(
        db: Db,
        audit: Arc<Audit>,
        quarantine: Quarantine,
        projector: Projector,
        server_actor: ActorId,
        utc_offset_minutes: i32,
    ) -> Result<Self, DbError> {
        let actors = db.sled.open_tree("actors")?;
        actors.insert(server_actor.to_bytes(), SERVER_USER.as_bytes())?;
        Ok(RulesGate {
            access: crate::index::access_tree(&db)?,
            actors,
            audit,
            quarantine,
            limits: DomainLimits { utc_offset_minutes, ..DomainLimits::default() },
            server_actor,
            projector,
            clock: db.clock.clone(),
        })
    }

    fn actor<'a>(who: &'a UserCtx) -> Actor<'a> {
        Actor { user_id: &who.id, role: who.role, grids: &who.grids }
    }

    /// Every change must come from an Automerge actor bound to this user; an actor seen
    /// for the first time is bound to the user sending it.
    fn check_actors(&self, user: &str, incoming: &Incoming<'_>) -> Result<(), Refusal> {
        for change in incoming.changes {
            let actor = change.actor_id();
            if *actor == self.server_actor {
                return Err(refusal("actor_binding", "changes may not claim the server's actor id"));
            }
            let bytes = actor.to_bytes();
            let bound = self
                .actors
                .compare_and_swap(bytes, None as Option<&[u8]>, Some(user.as_bytes()))
                .map_err(|_| refusal("internal", "the server could not check the change's author"))?;
            if let Err(current) = bound {
                if current.current.as_deref() != Some(user.as_bytes()) {
                    return Err(refusal("actor_binding", "these changes were made by another user's device"));
                }
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

impl Gate for RulesGate {
    fn may_read(&self, conn: &ConnHandle, doc: DocumentId, current: &Automerge) -> bool {
        let who = conn.who();
        let value = match DomainDoc::hydrate(current) {
            Ok(Some(v)) => v,
            // A document outside the schema is shown to administrators only.
            _ => return who.role == Role::Admin,
        };
        let facts = DocFacts::of(&value);
        let linked = facts.kind == Kind::Household
            && matches!(who.role, Role::Volunteer | Role::Medic)
            && crate::index::household_linked(&self.access, &doc, who);
        let allowed = domain::may_read(&Self::actor(who), &facts, linked);
        if allowed && facts.kind == Kind::Household && who.role == Role::Volunteer {
            self.audit.record(&who.id, "read.household", Some(doc.to_string()), "volunteer opened household details");
        }
        allowed
    }

    fn check(&self, incoming: &Incoming<'_>) -> Result<(), Refusal> {
        let who = incoming.conn.who();
        let before = Self::hydrate(incoming.before, "stored")?;
        if let Some(DomainDoc::Episode(ep)) = &before {
            if ep.erased {
                return Err(refusal("erased", "this record was erased under the retention rule and takes no changes"));
            }
        }
        if matches!(before, Some(DomainDoc::GridIndex(_) | DomainDoc::Inbox(_))) {
            return Err(refusal("server_only", "only the server writes grid indexes and inboxes"));
        }
        self.check_actors(&who.id, incoming)?;
        let after = Self::hydrate(incoming.after, "changed")?
            .ok_or_else(|| refusal("schema", "a document may not be emptied"))?;
        if matches!(after, DomainDoc::GridIndex(_) | DomainDoc::Inbox(_)) {
            return Err(refusal("server_only", "only the server writes grid indexes and inboxes"));
        }
        domain::check_change(&Self::actor(who), before.as_ref(), &after, &self.limits, self.clock.now_ms())
            .map_err(|v| Refusal { code: "rule", reason: v.to_string() })
    }

    fn accepted(&self, conn: &ConnHandle, doc: DocumentId, changes: usize, after: &Automerge) {
        self.audit.record(conn.user(), "change.accepted", Some(doc.to_string()), format!("{changes} changes"));
        if let Ok(Some(value)) = DomainDoc::hydrate(after) {
            self.projector.changed(doc, value);
        }
    }

    fn refused(&self, incoming: &Incoming<'_>, refusal: &Refusal) {
        let user = incoming.conn.user();
        let doc = incoming.doc.to_string();
        self.audit.record(user, "change.refused", Some(doc.clone()), format!("{}: {}", refusal.code, refusal.reason));
        // Changes to an erased record would bring erased health data back: keep only
        // their hashes, never their content.
        let keep_raw = refusal.code != "erased";
        let changes: Vec<(String, Vec<u8>)> = incoming
            .changes
            .iter()
            .map(|c| (c.hash().to_string(), if keep_raw { c.raw_bytes().to_vec() } else { Vec::new() }))
            .collect();
        if let Err(e) = self.quarantine.keep(user, &doc, refusal.code, &refusal.reason, &changes) {
            tracing::error!(error = %e, "could not quarantine refused changes");
        }
    }
}
