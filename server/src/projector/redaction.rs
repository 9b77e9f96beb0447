//! Retention of closed deliveries (DESIGN §9): a task closed for `retention_days` keeps
//! what the statistics need — its grid, household, category, priority, dates, assignee,
//! status and the who-and-when of its steps — and loses what it said: its items (a list
//! of medicines says what a family is ill with), the failure reason and every note.
//!
//! "Loses" means gone from the document's history, not overwritten in it: the server
//! replaces the history by a fresh one written by its own actor, as an erasure does
//! ([`super::erasure`]). A marker `redacted/<id>` in the store's facts says it was done
//! (the sweep does it once) and makes the gate refuse every later change to the task: a
//! phone still holding the old history would otherwise bring the items back. Their
//! content is not kept in the quarantine either, only their hashes.

use crate::store::{Store, StoreError, Write};
use crate::sync::{Hub, ReplaceFn};
use automerge::Automerge;
use linli_shared::domain::{DomainDoc, Task};
use linli_shared::DocumentId;
use std::sync::Arc;

/// The marker of a task whose closed history was redacted.
#[must_use]
pub fn redaction_key(doc: &DocumentId) -> String {
    format!("redacted/{doc}")
}

/// Whether `doc` was redacted (and so takes no changes).
pub async fn is_redacted(store: &Store, doc: &DocumentId) -> Result<bool, StoreError> {
    Ok(store.meta(&redaction_key(doc)).await?.is_some())
}

/// The task without its items, failure reason and notes.
#[must_use]
pub fn without_texts(mut task: Task) -> Task {
    task.items.clear();
    task.failure_reason = None;
    for entry in &mut task.log {
        entry.note.clear();
    }
    task
}

/// The redacted task as a fresh history (by an actor of its own, see
/// [`super::erasure::fresh_history`]: the server may have written the task before, when
/// a risk level set `contactless`); `None` if `current` is not a task.
#[must_use]
pub fn redacted_history(current: &Automerge) -> Option<Vec<u8>> {
    let Ok(Some(DomainDoc::Task(task))) = DomainDoc::hydrate(current) else { return None };
    super::erasure::fresh_history(&DomainDoc::Task(without_texts(task)))
}

/// Redacts `tasks` through the running server: the markers first (from then on no
/// change to them is taken), then each history through its document's actor. Returns how
/// many were replaced.
///
/// # Errors
///
/// A store error (the sweep tries again: each step is idempotent).
pub async fn apply_live(store: &Store, hub: &Arc<Hub>, tasks: &[DocumentId]) -> Result<usize, StoreError> {
    let markers = tasks.iter().map(|d| Write::Meta { key: redaction_key(d), value: b"redacted".to_vec() });
    store.commit(markers.chain([crate::store::vacuum::mark()]).collect()).await?;
    let replacements =
        tasks.iter().map(|doc| (*doc, ReplaceFn(Box::new(move |current: &Automerge| redacted_history(current)))));
    Ok(super::erasure::replace_histories(hub, replacements).await)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use automerge::ActorId;

    #[test]
    fn a_redacted_history_holds_none_of_the_texts_and_merges_with_the_old_one() {
        let task = serde_json::json!({
            "kind": "task", "schema": 1, "grid": "g1",
            "household": DocumentId::random().to_string(), "category": "medicine",
            "items": [{"name": "胰岛素 REDACT-ME", "qty": 2, "unit": "支"}],
            "priority": "urgent", "due": 1, "contactless": false, "assignee": "u-vol",
            "status": "failed", "failure_reason": "家中无人 REDACT-ME",
            "log": [{"at": 2, "by": "u-vol", "from": "assigned", "to": "failed", "note": "REDACT-ME"}],
            "created_by": "u-coord", "created_at": 0
        });
        let Some(DomainDoc::Task(t)) = DomainDoc::from_json(task).unwrap() else { panic!("not a task") };
        // Written by a coordinator, then by the server (a risk level applied).
        let server = ActorId::random();
        let mut doc = automerge::AutoCommit::new();
        DomainDoc::Task(t.clone()).reconcile_into(&mut doc).unwrap();
        doc.set_actor(server.clone());
        let mut changed = t.clone();
        changed.contactless = true;
        DomainDoc::Task(changed).reconcile_into(&mut doc).unwrap();
        let old_phone = doc.clone();
        let saved = redacted_history(doc.document()).unwrap();
        let fresh = Automerge::load(&saved).unwrap();
        assert!(!saved.windows(9).any(|w| w == b"REDACT-ME"), "the texts are in the saved bytes");
        let Ok(Some(DomainDoc::Task(r))) = DomainDoc::hydrate(&fresh) else { panic!("not a task") };
        assert!(r.items.is_empty() && r.failure_reason.is_none() && r.log.iter().all(|e| e.note.is_empty()));
        assert_eq!((r.status, r.assignee.clone(), r.log.len(), r.due), (t.status, t.assignee.clone(), 1, t.due));
        let authors: Vec<_> = fresh.get_changes(&[]).iter().map(|c| c.actor_id().clone()).collect();
        assert!(authors.len() == 1 && authors[0] != server, "one author, not the server's actor: {authors:?}");
        // A phone still holding the old history can take the new one, and the other way
        // round: no actor has two different changes with one sequence number.
        let mut phone = old_phone;
        phone.merge(&mut automerge::AutoCommit::load(&saved).unwrap()).unwrap();
        let mut server_side = automerge::AutoCommit::load(&saved).unwrap();
        server_side.merge(&mut phone).unwrap();
    }
}
