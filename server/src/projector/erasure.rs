//! Erasure (DESIGN §9, "Retention"): documents that must be gone everywhere — a household
//! on request, with every task and episode that names it; an episode once its retention
//! period is over. Erased means:
//!
//! - the document's history is replaced by an empty one, and a tombstone (`erased/<id>`
//!   in the store's meta facts) makes the gate refuse every later change to it, so a
//!   phone holding the old history cannot bring it back (its changes are refused and
//!   kept as hashes only);
//! - its projection row, alerts, access grants and quarantined changes are deleted, and
//!   the details of audit entries about it are blanked (the chain holds: it covers a hash
//!   of each detail); the audit keeps that an erasure happened, not what was erased;
//! - the server's lists that ever showed it (its grid's index and medic index, the
//!   inboxes of the grid's people) are rebuilt as fresh histories without its rows, since
//!   an Automerge history keeps every row it ever had.
//!
//! An erasure is planned from the store ([`plan`]) and applied either through the running
//! server's document actors ([`apply_live`]) or, with the server stopped, straight to the
//! store ([`apply_offline`], `linli erase`).

use crate::grids::medic_index;
use crate::store::{AuditEntry, Store, StoreError, Write};
use crate::sync::{DocCommand, Hub, ReplaceFn};
use automerge::{ActorId, Automerge};
use linli_shared::domain::DomainDoc;
use linli_shared::DocumentId;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The meta key of a document's tombstone.
pub fn tombstone_key(doc: &DocumentId) -> String {
    format!("erased/{doc}")
}

/// Whether `doc` was erased (and so takes no changes).
pub async fn is_erased(store: &Store, doc: &DocumentId) -> Result<bool, StoreError> {
    Ok(store.meta(&tombstone_key(doc)).await?.is_some())
}

/// What an erasure does.
#[derive(Debug, Default)]
pub struct Erasure {
    /// Documents emptied and tombstoned.
    pub erased: BTreeSet<DocumentId>,
    /// Server lists rebuilt without the erased documents' rows.
    pub lists: BTreeSet<DocumentId>,
    /// Rows, alerts, grants, quarantine, audit details: written after the documents.
    pub writes: Vec<Write>,
}

/// Why a household cannot be erased.
#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    #[error("there is no household {0}")]
    NoSuchHousehold(DocumentId),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Plans the erasure of `household` and of every task and episode that names it, by
/// `by` (audited).
///
/// # Errors
///
/// [`EraseError::NoSuchHousehold`] if `household` is not a household; a store error.
pub async fn plan_household(store: &Store, household: DocumentId, by: &str) -> Result<Erasure, EraseError> {
    let Some(DomainDoc::Household(h)) = super::load_doc(store, &household).await? else {
        return Err(EraseError::NoSuchHousehold(household));
    };
    let key = household.to_string();
    let mut docs: BTreeSet<DocumentId> = BTreeSet::from([household]);
    for row in store.rows(None).await? {
        if row.household.as_deref() == Some(key.as_str()) {
            docs.extend(row.doc.parse::<DocumentId>().ok());
        }
    }
    let mut erasure = plan(store, docs, std::slice::from_ref(&h.grid), false).await?;
    erasure.writes.push(Write::Audit(AuditEntry {
        at: store.now_ms(),
        user: by.to_owned(),
        action: "erase.household".to_owned(),
        doc: None,
        detail: format!("{} documents erased", erasure.erased.len()),
    }));
    Ok(erasure)
}

/// Plans the erasure of `docs`, whose rows are shown in the lists of `grids`. With
/// `keep_rows`, their projection rows stay, stripped of every link (an erased episode
/// still counts in the statistics: its grid, kind and closing time).
///
/// # Errors
///
/// A store error.
pub async fn plan(
    store: &Store,
    docs: BTreeSet<DocumentId>,
    grids: &[String],
    keep_rows: bool,
) -> Result<Erasure, StoreError> {
    let mut writes = Vec::new();
    let names: BTreeSet<String> = docs.iter().map(ToString::to_string).collect();
    for doc in &docs {
        let key = doc.to_string();
        writes.push(Write::Dirty { doc: *doc, dirty: false });
        match store.row(&key).await? {
            Some(mut row) if keep_rows => {
                row.household = None;
                row.assignee = None;
                row.title = String::new();
                row.care_flags.clear();
                row.erased = true;
                writes.push(Write::Row(row));
            }
            Some(_) => writes.push(Write::DeleteRow(key.clone())),
            None => {}
        }
        for alert in store.alerts(Some(&key)).await? {
            writes.push(Write::DeleteAlert(alert.id));
        }
    }
    for grant in store.grants().await? {
        if docs.contains(&grant.household) || docs.contains(&grant.via) {
            writes.push(Write::RevokeGrant(grant));
        }
    }
    let mut before = None;
    loop {
        let page = store.quarantined(before.clone(), 500).await?;
        let Some(last) = page.last() else { break };
        before = Some((last.at, last.id.clone()));
        writes.extend(page.iter().filter(|q| names.contains(&q.doc)).map(|q| Write::DeleteQuarantine(q.id.clone())));
    }
    for mut record in store.audit_all().await? {
        if record.entry.doc.as_ref().is_some_and(|d| names.contains(d)) && !record.entry.detail.is_empty() {
            record.entry.detail.clear();
            writes.push(Write::ImportAudit(record));
        }
    }
    let mut lists = BTreeSet::new();
    for grid in grids {
        if let Some(g) = store.grid(grid).await? {
            lists.insert(g.index);
            lists.insert(medic_index(&g));
        }
    }
    for user in store.users().await? {
        if user.role == linli_shared::domain::Role::Admin || user.grids.iter().any(|g| grids.contains(g)) {
            lists.insert(user.inbox);
        }
    }
    Ok(Erasure { erased: docs, lists, writes })
}

/// An empty document, saved: what an erased document's history becomes.
fn empty_snapshot() -> Vec<u8> {
    automerge::AutoCommit::new().save()
}

/// `value` as a fresh history: what a replaced history (an erasure's lists, a redacted
/// delivery, a migrated list) is made of. Its author is a fresh Automerge actor, never the
/// server's own: phones may still hold the old history, with the server's changes in it,
/// and a history that reused the server's sequence numbers would give them two different
/// changes with one actor and number, which Automerge refuses in a sync message whole.
/// The server goes on writing a list as its author (`sync::server_writer`).
#[must_use]
pub fn fresh_history(value: &DomainDoc) -> Option<Vec<u8>> {
    let mut fresh = automerge::AutoCommit::new().with_actor(ActorId::random());
    value.reconcile_into(&mut fresh).ok()?;
    Some(fresh.save())
}

/// A server list (grid index, medic index, inbox) without the rows of `erased`, as a
/// [`fresh_history`]; `None` if `current` is not such a list.
pub fn list_without(current: &Automerge, erased: &BTreeSet<String>) -> Option<Vec<u8>> {
    let mut value = DomainDoc::hydrate(current).ok().flatten()?;
    let docs = match &mut value {
        DomainDoc::GridIndex(g) => &mut g.docs,
        DomainDoc::MedicIndex(m) => &mut m.docs,
        DomainDoc::Inbox(i) => &mut i.docs,
        _ => return None,
    };
    docs.retain(|id, _| !erased.contains(id));
    fresh_history(&value)
}

/// Applies an erasure through the running server: tombstones first (from then on no
/// change to the documents is taken), then the documents and lists through their
/// actors, then the rest. Returns whether every document was replaced.
///
/// # Errors
///
/// A store error (the erasure can be run again: each step is idempotent).
pub async fn apply_live(store: &Store, hub: &Arc<Hub>, erasure: Erasure) -> Result<bool, StoreError> {
    let tombstones = erasure.erased.iter().map(|d| Write::Meta { key: tombstone_key(d), value: b"erased".to_vec() });
    store.commit(tombstones.chain([crate::store::vacuum::mark()]).collect()).await?;
    let names: Arc<BTreeSet<String>> = Arc::new(erasure.erased.iter().map(ToString::to_string).collect());
    let emptied = erasure.erased.iter().map(|doc| (*doc, ReplaceFn::snapshot(empty_snapshot())));
    let rebuilt = erasure.lists.iter().map(|list| {
        let names = names.clone();
        (*list, ReplaceFn(Box::new(move |current: &Automerge| list_without(current, &names))))
    });
    let wanted = erasure.erased.len() + erasure.lists.len();
    let all = replace_histories(hub, emptied.chain(rebuilt)).await == wanted;
    store.commit(erasure.writes).await?;
    for doc in &erasure.erased {
        hub.recheck(*doc);
    }
    Ok(all)
}

/// Replaces each document's history through its actor (all at once), by what its
/// function makes of the current state; returns how many replacements were stored.
pub(super) async fn replace_histories(
    hub: &Arc<Hub>,
    docs: impl IntoIterator<Item = (DocumentId, ReplaceFn)>,
) -> usize {
    let waiting: Vec<_> = docs
        .into_iter()
        .map(|(doc, with)| {
            let (done, wait) = tokio::sync::oneshot::channel();
            hub.dispatch(doc, DocCommand::Replace { with, done: Some(done) });
            wait
        })
        .collect();
    let mut replaced = 0;
    for wait in waiting {
        replaced += usize::from(wait.await.unwrap_or(false));
    }
    replaced
}

/// Applies an erasure straight to a store no server is running on (`linli erase`).
///
/// # Errors
///
/// A store error.
pub async fn apply_offline(store: &Store, erasure: Erasure) -> Result<(), StoreError> {
    let names: BTreeSet<String> = erasure.erased.iter().map(ToString::to_string).collect();
    let mut writes: Vec<Write> = vec![crate::store::vacuum::mark()];
    for doc in &erasure.erased {
        writes.push(Write::Meta { key: tombstone_key(doc), value: b"erased".to_vec() });
        writes.push(Write::DeleteDoc(*doc));
    }
    for list in &erasure.lists {
        let stored = store.load(list).await?;
        let Ok(current) = stored.to_automerge() else { continue };
        let Some(snapshot) = list_without(&current, &names) else { continue };
        let Ok(fresh) = Automerge::load(&snapshot) else { continue };
        let covers = stored.chunks.into_iter().map(|(k, _)| k).collect();
        writes.push(Write::Compact { doc: *list, heads: fresh.get_heads(), snapshot, covers });
    }
    writes.extend(erasure.writes);
    store.commit(writes).await
}
