//! Time-based work of the projector: alerts that appear with the clock (missed check-ins,
//! overdue deliveries), closed work leaving the inboxes and grid indexes, and retention —
//! an episode closed for `retention_days` loses its health details for real.

use super::{indexes::IndexWrites, load_doc, ProjectorCore, RowCache};
use crate::store::{StoreError, Write};
use crate::sync::DocCommand;
use linli_shared::domain::{DomainDoc, Kind};
use linli_shared::DocumentId;

impl ProjectorCore {
    /// Re-projects open work (and closed work leaving the lists), and erases what retention says.
    pub(super) async fn sweep(
        &self,
        rows: &mut RowCache,
        writes: &mut Vec<Write>,
        index: &mut IndexWrites,
    ) -> Result<(), StoreError> {
        let now = self.store.now_ms();
        let retention_ms = i64::from(self.settings.retention_days) * 86_400_000;
        for row in self.store.rows(None).await? {
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
                self.erase(id, rows, writes).await?;
                continue;
            }
            if row.open || expired_from_index {
                if let Some(value) = load_doc(&self.store, &id).await? {
                    self.project(id, &value, rows, writes, index).await?;
                }
            }
        }
        Ok(())
    }

    /// Retention: replaces an episode by a fresh history holding only its non-sensitive
    /// summary, deletes its old chunks and its alerts.
    async fn erase(&self, id: DocumentId, rows: &mut RowCache, writes: &mut Vec<Write>) -> Result<(), StoreError> {
        let Some(DomainDoc::Episode(ep)) = load_doc(&self.store, &id).await? else { return Ok(()) };
        if ep.erased {
            return Ok(());
        }
        let summary = DomainDoc::Episode(ep.erased_summary(self.store.now_ms()));
        let mut fresh = automerge::AutoCommit::new().with_actor(self.hub.server_actor().clone());
        if summary.reconcile_into(&mut fresh).is_err() {
            return Ok(());
        }
        self.hub.dispatch(id, DocCommand::Replace { snapshot: fresh.save() });
        // Erased once: later sweeps skip it (the replacement is written asynchronously).
        if let Some(mut row) = rows.get(&self.store, &id.to_string()).await? {
            row.erased = true;
            rows.put(row.clone());
            writes.push(Write::Row(row));
        }
        for a in self.store.alerts(Some(&id.to_string())).await? {
            writes.push(Write::DeleteAlert(a.id));
        }
        writes.push(self.audit.entry(
            crate::auth::SERVER_USER,
            "retention.erase",
            Some(id.to_string()),
            "health details erased",
        ));
        Ok(())
    }
}
