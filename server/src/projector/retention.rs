//! Time-based work of the projector: alerts that appear with the clock (missed check-ins,
//! overdue deliveries), closed work leaving the inboxes and grid indexes, and retention
//! (DESIGN §9): an episode past its `end` date by `episode_grace_days` is closed by the
//! server; an episode closed for `retention_days` is erased for real, with its readings
//! and medical record ([`super::erasure`]),
//! leaving only an anonymous row for the statistics; a task closed for `retention_days`
//! loses its items, failure reason and notes ([`super::redaction`]); refused changes kept
//! in the quarantine longer than `retention_days` are dropped.

use super::{erasure, indexes::IndexWrites, load_doc, redaction, ProjectorCore, RowCache};
use crate::store::{StoreError, Write};
use crate::sync::{DocCommand, ServerWriteFn};
use linli_shared::domain::{DomainDoc, EpisodeStatus, Kind};
use linli_shared::DocumentId;
use std::collections::BTreeSet;

impl ProjectorCore {
    /// Re-projects open work (and closed work leaving the lists), closes episodes that
    /// are over, and erases what retention says.
    pub(super) async fn sweep(
        &self,
        rows: &mut RowCache,
        writes: &mut Vec<Write>,
        index: &mut IndexWrites,
    ) -> Result<(), StoreError> {
        let now = self.store.now_ms();
        let retention_ms = i64::from(self.settings.retention_days) * 86_400_000;
        let mut expired: BTreeSet<DocumentId> = BTreeSet::new();
        let mut episodes = 0usize;
        let mut grids: BTreeSet<String> = BTreeSet::new();
        let mut to_redact: Vec<DocumentId> = Vec::new();
        for row in self.store.rows(None).await? {
            // A household stays until erased; a medical record goes with its episode.
            if matches!(row.kind, Kind::Household | Kind::Medical) {
                continue;
            }
            let Ok(id) = row.doc.parse::<DocumentId>() else { continue };
            let expired_from_index = !row.open && row.closed_at.is_some_and(|c| now - c >= self.closed_window_ms());
            if row.kind == Kind::Episode
                && !row.open
                && row.closed_at.is_some_and(|c| now - c >= retention_ms)
                && !erasure::is_erased(&self.store, &id).await?
            {
                expired.insert(id);
                // Its readings and medical record go with it, whatever its links say.
                expired.insert(super::medical::medical_id(&id));
                expired.insert(super::readings::readings_id(&id));
                episodes += 1;
                grids.insert(row.grid.clone());
                continue;
            }
            if row.kind == Kind::Task
                && !row.open
                && row.closed_at.is_some_and(|c| now - c >= retention_ms)
                && !redaction::is_redacted(&self.store, &id).await?
            {
                to_redact.push(id);
            }
            if row.open || expired_from_index {
                if let Some(value) = load_doc(&self.store, &id).await? {
                    let value = self.close_if_over(id, value, now);
                    self.project(id, &value, rows, writes, index).await?;
                }
            }
        }
        self.expire_quarantine(now - retention_ms, writes).await?;
        if !to_redact.is_empty() {
            let n = redaction::apply_live(&self.store, &self.hub, &to_redact).await?;
            writes.push(self.audit.entry(
                crate::auth::SERVER_USER,
                "retention.redact",
                None,
                format!("{n} closed tasks lost their items and texts"),
            ));
        }
        if !expired.is_empty() {
            let grids: Vec<String> = grids.into_iter().collect();
            let plan = erasure::plan(&self.store, expired.clone(), &grids, true).await?;
            erasure::apply_live(&self.store, &self.hub, plan).await?;
            for id in &expired {
                rows.forget(&id.to_string());
            }
            writes.push(self.audit.entry(
                crate::auth::SERVER_USER,
                "retention.erase",
                None,
                format!("{episodes} episodes erased, with their readings and medical records"),
            ));
        }
        Ok(())
    }

    /// An open episode whose `end` lies `episode_grace_days` behind today is closed by the
    /// server (as its own actor); returns the value to project.
    fn close_if_over(&self, id: DocumentId, value: DomainDoc, now: i64) -> DomainDoc {
        let DomainDoc::Episode(mut ep) = value else { return value };
        let today = self.local(now).date();
        let over = ep.is_open()
            && ep.end_date().is_some_and(|end| (today - end).num_days() > i64::from(self.settings.episode_grace_days));
        if !over {
            return DomainDoc::Episode(ep);
        }
        ep.status = EpisodeStatus::Closed;
        ep.closed_at = Some(now);
        let closed = DomainDoc::Episode(ep);
        let write = closed.clone();
        self.hub.dispatch(
            id,
            DocCommand::ServerWrite {
                write: ServerWriteFn(Box::new(move |doc| {
                    // Only the status moves: whatever else changed meanwhile stays.
                    let Ok(Some(DomainDoc::Episode(mut current))) = DomainDoc::hydrate(doc) else { return false };
                    let DomainDoc::Episode(target) = &write else { return false };
                    if !current.is_open() {
                        return false;
                    }
                    current.status = target.status;
                    current.closed_at = target.closed_at;
                    super::reconcile_in_one_change(doc, &current)
                })),
                done: None,
            },
        );
        self.audit.record(crate::auth::SERVER_USER, "episode.close", Some(id.to_string()), "past its end date");
        closed
    }

    /// Drops refused changes kept longer than the retention period.
    async fn expire_quarantine(&self, before_ms: i64, writes: &mut Vec<Write>) -> Result<(), StoreError> {
        let mut page_from = Some((before_ms, String::new()));
        loop {
            let page = self.store.quarantined(page_from.clone(), 500).await?;
            let Some(last) = page.last() else { return Ok(()) };
            if page_from.as_ref().is_some_and(|(at, id)| *at == before_ms && id.is_empty()) {
                // The refused changes' bytes go from the files at the next vacuum.
                writes.push(crate::store::vacuum::mark());
            }
            page_from = Some((last.at, last.id.clone()));
            writes.extend(page.into_iter().map(|q| Write::DeleteQuarantine(q.id)));
        }
    }
}
