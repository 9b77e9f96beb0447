//! A grid's risk level applied to its open work (issue 14): when the level is set, the
//! server, as its own actor, gives every open episode of the grid the policy's check-ins
//! a day (`slots`) and every open delivery its `contactless`. Closed work keeps what it
//! had. Check-ins already taken stay valid when `slots` goes down (validation accepts any
//! slot below `MAX_SLOTS`; only new check-ins are held to `slots`), and a slot that a
//! rise adds is not "missed" before the rise ([`super::ProjectorCore`] counts missed
//! check-ins from the last change of `slots`).

use super::{load_doc, Projector};
use crate::store::{Store, StoreError};
use crate::sync::{DocCommand, Hub, ServerWriteFn};
use linli_shared::domain::{DomainDoc, Kind, RiskPolicy};
use linli_shared::DocumentId;
use std::sync::Arc;

/// What applying a policy changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Applied {
    /// Open episodes whose check-ins a day changed.
    pub episodes: usize,
    /// Open deliveries whose contactless changed.
    pub tasks: usize,
}

/// Applies `policy` to the open work of `grid`; returns once the documents are written
/// (and told to the projector).
pub async fn apply(
    store: &Store,
    hub: &Arc<Hub>,
    projector: &Projector,
    grid: &str,
    policy: RiskPolicy,
) -> Result<Applied, StoreError> {
    let mut applied = Applied::default();
    let mut waits = Vec::new();
    for row in store.rows(Some(grid)).await? {
        if !row.open || !matches!(row.kind, Kind::Episode | Kind::Task) {
            continue;
        }
        let Ok(id) = row.doc.parse::<DocumentId>() else { continue };
        let needs = match load_doc(store, &id).await? {
            Some(DomainDoc::Episode(e)) => e.is_open() && e.slots != policy.checkins_per_day,
            Some(DomainDoc::Task(t)) => t.status.is_open() && t.contactless != policy.contactless,
            _ => false,
        };
        if !needs {
            continue;
        }
        match row.kind {
            Kind::Episode => applied.episodes += 1,
            _ => applied.tasks += 1,
        }
        let (done, wait) = tokio::sync::oneshot::channel();
        hub.dispatch(
            id,
            DocCommand::ServerWrite { write: ServerWriteFn(Box::new(move |doc| write(doc, policy))), done: Some(done) },
        );
        waits.push((id, wait));
    }
    for (id, wait) in waits {
        if wait.await.unwrap_or(false) {
            if let Some(value) = load_doc(store, &id).await? {
                projector.changed(id, value);
            }
        }
    }
    Ok(applied)
}

/// Sets the policy's field on the document as it is now (whatever else changed
/// meanwhile stays); `false` if there is nothing to change.
fn write(doc: &mut automerge::Automerge, policy: RiskPolicy) -> bool {
    let value = match DomainDoc::hydrate(doc) {
        Ok(Some(DomainDoc::Episode(mut e))) if e.is_open() && e.slots != policy.checkins_per_day => {
            e.slots = policy.checkins_per_day;
            DomainDoc::Episode(e)
        }
        Ok(Some(DomainDoc::Task(mut t))) if t.status.is_open() && t.contactless != policy.contactless => {
            t.contactless = policy.contactless;
            DomainDoc::Task(t)
        }
        _ => return false,
    };
    match &value {
        DomainDoc::Episode(e) => super::reconcile_in_one_change(doc, e),
        DomainDoc::Task(t) => super::reconcile_in_one_change(doc, t),
        _ => false,
    }
}
