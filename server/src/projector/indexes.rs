//! The documents the server writes itself: each user's `inbox` (the work assigned to
//! them), each grid's `grid-index` (its work and households, for coordinators) and each
//! grid's `medic-index` (its episodes and the households with an open episode, for
//! medics: nothing of deliveries). They are written as the
//! server's own Automerge actor, through the same document actors as every other change,
//! so phones learn their work by syncing.

use crate::sync::{DocCommand, Hub, ServerWriteFn};
use automerge::Automerge;
use linli_shared::domain::{DomainDoc, GridIndex, Inbox, Kind, MedicIndex, SummaryRow, SCHEMA_VERSION};
use linli_shared::DocumentId;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Which index document a row goes to.
#[derive(Debug, Clone)]
pub(crate) enum IndexTarget {
    Grid(String),
    Medic(String),
    Inbox { user: String, grid: String },
}

/// Row changes for index documents, grouped by target document.
#[derive(Debug, Default)]
pub(crate) struct IndexWrites {
    /// target index doc → (target kind, rows to upsert or remove)
    targets: BTreeMap<DocumentId, (IndexTarget, BTreeMap<String, Option<SummaryRow>>)>,
    /// documents whose readers must be re-checked (assignment changed)
    pub(crate) recheck: Vec<DocumentId>,
}

impl IndexWrites {
    pub(crate) fn put(&mut self, target: DocumentId, kind: IndexTarget, doc: &str, row: Option<SummaryRow>) {
        self.targets.entry(target).or_insert_with(|| (kind, BTreeMap::new())).1.insert(doc.to_owned(), row);
    }

    /// Sends every write to its index document's actor; resolves with whether all of them
    /// were stored.
    pub(crate) async fn apply(self, hub: &Arc<Hub>) -> bool {
        let mut waiting = Vec::new();
        for (target, (kind, rows)) in self.targets {
            let (done, wait) = tokio::sync::oneshot::channel();
            hub.dispatch(
                target,
                DocCommand::ServerWrite {
                    write: ServerWriteFn(Box::new(move |doc| write_rows(doc, &kind, rows))),
                    done: Some(done),
                },
            );
            waiting.push(wait);
        }
        for doc in self.recheck {
            hub.recheck(doc);
        }
        let mut all = true;
        for wait in waiting {
            all &= wait.await.unwrap_or(false);
        }
        all
    }
}

/// Applies row updates to an index document (creating it if it is empty).
pub(crate) fn write_rows(doc: &mut Automerge, kind: &IndexTarget, rows: BTreeMap<String, Option<SummaryRow>>) -> bool {
    let current = DomainDoc::hydrate(doc).ok().flatten();
    let mut value = match (current, kind) {
        (Some(DomainDoc::GridIndex(g)), IndexTarget::Grid(_)) => DomainDoc::GridIndex(g),
        (Some(DomainDoc::MedicIndex(m)), IndexTarget::Medic(_)) => DomainDoc::MedicIndex(m),
        (Some(DomainDoc::Inbox(i)), IndexTarget::Inbox { .. }) => DomainDoc::Inbox(i),
        (_, IndexTarget::Grid(grid)) => DomainDoc::GridIndex(GridIndex {
            kind: Kind::GridIndex,
            schema: SCHEMA_VERSION,
            grid: grid.clone(),
            docs: BTreeMap::new(),
        }),
        (_, IndexTarget::Medic(grid)) => DomainDoc::MedicIndex(MedicIndex {
            kind: Kind::MedicIndex,
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
        DomainDoc::MedicIndex(m) => &mut m.docs,
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
    match &value {
        DomainDoc::GridIndex(g) => super::reconcile_in_one_change(doc, g),
        DomainDoc::MedicIndex(m) => super::reconcile_in_one_change(doc, m),
        DomainDoc::Inbox(i) => super::reconcile_in_one_change(doc, i),
        _ => true,
    }
}

fn ensure(hub: &Arc<Hub>, doc: DocumentId, target: IndexTarget) {
    hub.dispatch(
        doc,
        DocCommand::ServerWrite {
            write: ServerWriteFn(Box::new(move |d| {
                d.get_heads().is_empty() && write_rows(d, &target, BTreeMap::new())
            })),
            done: None,
        },
    );
}

/// Makes sure a new user's inbox document exists, so their phone can open it at once.
pub fn ensure_user_inbox(hub: &Arc<Hub>, user: &crate::store::User) {
    let target = IndexTarget::Inbox { user: user.id.clone(), grid: user.grids.first().cloned().unwrap_or_default() };
    ensure(hub, user.inbox, target);
}

/// Makes sure a new grid's index documents exist (its grid index and its medic index).
pub fn ensure_grid_index(hub: &Arc<Hub>, grid: &crate::store::Grid) {
    ensure(hub, grid.index, IndexTarget::Grid(grid.id.clone()));
    ensure(hub, crate::grids::medic_index(grid), IndexTarget::Medic(grid.id.clone()));
}
