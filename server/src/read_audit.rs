//! Reads of health and care data, audited (DESIGN §9): every time a document of a kind
//! that holds readings, medical notes, care flags or medicines reaches a user — over
//! `/sync` or in an API answer — the audit log gets `read.<kind>` with the user and the
//! document, once per user, document and community day.
//!
//! Which kinds count is [`read_action`], the one place that says so. "Once a day" is kept
//! durably: each entry commits together with a marker `read_audit/<day>/<user>/<doc>` in
//! the store's `meta` facts, so a restart on the same day writes no second entry; markers
//! of past days are dropped when the day turns. A read is let through only once its entry
//! is durable: when the store fails, [`ReadAudit::record`] fails and the caller refuses
//! the read.
//!
//! ```
//! use linli_server::read_audit::read_action;
//! use linli_shared::domain::Kind;
//!
//! assert_eq!(read_action(Kind::Episode), Some("read.episode"));
//! assert_eq!(read_action(Kind::Task), None);
//! ```

use crate::audit::Audit;
use crate::store::{Store, StoreError, Write};
use linli_shared::domain::Kind;
use linli_shared::DocumentId;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// The audit action of a read of a document of `kind`, or `None` if such reads are not
/// audited: the kinds that hold readings, medical notes, care flags or medicines.
#[must_use]
pub fn read_action(kind: Kind) -> Option<&'static str> {
    match kind {
        Kind::Household => Some("read.household"),
        Kind::Episode => Some("read.episode"),
        Kind::Medical => Some("read.medical"),
        Kind::Readings => Some("read.readings"),
        Kind::Task | Kind::GridIndex | Kind::MedicIndex | Kind::Inbox => None,
    }
}

/// Prefix of the "already audited today" markers in the `meta` facts.
const MARKER_PREFIX: &str = "read_audit/";

/// Most (user, document) pairs remembered in memory for one day; beyond, the memory is
/// cleared and the durable markers answer (a hostile client cannot grow it without bound).
const MAX_REMEMBERED: usize = 200_000;

/// How a document was read, for the entry's detail (never any of its content).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via<'a> {
    /// Sent to a phone over `/sync`.
    Sync,
    /// In an API answer, e.g. `export episodes.csv`.
    Api(&'a str),
}

impl std::fmt::Display for Via<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Via::Sync => f.write_str("sync"),
            Via::Api(what) => write!(f, "api: {what}"),
        }
    }
}

type Key = (String, DocumentId);

#[derive(Debug, Default)]
struct Today {
    /// The community-local date (`YYYY-MM-DD`) the cells are for.
    day: String,
    /// One cell per (user, document) read today: initialised once its entry is durable.
    cells: HashMap<Key, Arc<OnceCell<()>>>,
}

/// Records audited reads, once per user, document and day. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ReadAudit {
    store: Store,
    audit: Audit,
    utc_offset_minutes: i32,
    today: Arc<Mutex<Today>>,
}

impl ReadAudit {
    pub fn new(store: Store, audit: Audit, utc_offset_minutes: i32) -> Self {
        ReadAudit { store, audit, utc_offset_minutes, today: Arc::default() }
    }

    /// The audit log it writes to.
    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// The community-local date now, by the server's clock.
    fn day_now(&self) -> String {
        let limits = linli_shared::domain::DomainLimits {
            utc_offset_minutes: self.utc_offset_minutes,
            ..linli_shared::domain::DomainLimits::default()
        };
        limits.local_datetime(self.store.now_ms()).map(|t| t.date().to_string()).unwrap_or_default()
    }

    /// Records that `user` read the document `doc` of `kind` (nothing if such reads are not
    /// audited). Returns once the entry of today's first such read is durable; an error
    /// means it may not be, and the read must be refused.
    pub async fn record(&self, user: &str, kind: Kind, doc: DocumentId, via: Via<'_>) -> Result<(), StoreError> {
        self.record_all(user, &[(kind, doc)], via).await
    }

    /// [`ReadAudit::record`] for every document of an answer (their entries commit
    /// concurrently, sharing the store's group commit).
    pub async fn record_all(&self, user: &str, reads: &[(Kind, DocumentId)], via: Via<'_>) -> Result<(), StoreError> {
        let day = self.day_now();
        let cells: Vec<(&'static str, DocumentId, Arc<OnceCell<()>>)> = {
            let mut today = self.today.lock();
            if today.day != day {
                today.cells.clear();
                today.day.clone_from(&day);
                self.forget_before(day.clone());
            }
            if today.cells.len() >= MAX_REMEMBERED {
                today.cells.clear();
            }
            reads
                .iter()
                .filter_map(|(kind, doc)| read_action(*kind).map(|action| (action, *doc)))
                .map(|(action, doc)| {
                    let cell = today.cells.entry((user.to_owned(), doc)).or_default().clone();
                    (action, doc, cell)
                })
                .collect()
        };
        let pending = cells
            .iter()
            .filter(|(_, _, cell)| !cell.initialized())
            .map(|(action, doc, cell)| cell.get_or_try_init(|| self.write_once(&day, user, action, *doc, via)));
        futures_util::future::try_join_all(pending).await?;
        Ok(())
    }

    /// Writes the entry and its marker, unless a marker of today says an earlier run of
    /// the server already did.
    async fn write_once(
        &self,
        day: &str,
        user: &str,
        action: &str,
        doc: DocumentId,
        via: Via<'_>,
    ) -> Result<(), StoreError> {
        let marker = format!("{MARKER_PREFIX}{day}/{user}/{doc}");
        if self.store.meta(&marker).await?.is_some() {
            return Ok(());
        }
        let entry = self.audit.entry(user, action, Some(doc.to_string()), via.to_string());
        self.store.commit(vec![entry, Write::Meta { key: marker, value: Vec::new() }]).await
    }

    /// Drops, in the background, the markers of days before `day` (a failure is logged
    /// and retried when the day turns again).
    fn forget_before(&self, day: String) {
        let store = self.store.clone();
        tokio::spawn(async move {
            let stale = |key: &str| key.strip_prefix(MARKER_PREFIX).is_some_and(|rest| rest < day.as_str());
            let result = match store.meta_all().await {
                Ok(all) => {
                    let batch: Vec<Write> =
                        all.into_iter().filter(|(k, _)| stale(k)).map(|(k, _)| Write::DeleteMeta(k)).collect();
                    if batch.is_empty() {
                        Ok(())
                    } else {
                        store.commit(batch).await
                    }
                }
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "could not drop the read-audit markers of past days");
            }
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::store::{Engine, MemoryEngine};

    fn setup(at: &str) -> (ReadAudit, Arc<ManualClock>, Store) {
        let clock = Arc::new(ManualClock::at_rfc3339(at).unwrap());
        let store = Store::new(Arc::new(MemoryEngine::new()), clock.clone());
        let audit = Audit::start(store.clone());
        (ReadAudit::new(store.clone(), audit, 480), clock, store)
    }

    async fn reads(store: &Store) -> Vec<(String, String, Option<String>)> {
        let filter = crate::store::AuditFilter { action: Some("read.".into()), limit: 100, ..Default::default() };
        store.audit(&filter).await.unwrap().into_iter().map(|r| (r.entry.user, r.entry.action, r.entry.doc)).collect()
    }

    #[tokio::test]
    async fn once_per_user_document_and_local_day() {
        let (ra, clock, store) = setup("2026-03-16T23:58:00+08:00");
        let (h, e) = (DocumentId::random(), DocumentId::random());
        ra.record("u1", Kind::Household, h, Via::Sync).await.unwrap();
        ra.record("u1", Kind::Household, h, Via::Api("x")).await.unwrap();
        ra.record_all("u1", &[(Kind::Episode, e), (Kind::Task, DocumentId::random())], Via::Sync).await.unwrap();
        ra.record("u2", Kind::Household, h, Via::Sync).await.unwrap();
        assert_eq!(reads(&store).await.len(), 3, "{:?}", reads(&store).await);
        // 00:01 in Beijing (16:01 UTC): a new day.
        clock.advance_ms(3 * 60_000);
        ra.record("u1", Kind::Household, h, Via::Sync).await.unwrap();
        ra.record("u1", Kind::Household, h, Via::Sync).await.unwrap();
        assert_eq!(reads(&store).await.len(), 4);
    }

    #[tokio::test]
    async fn a_new_instance_on_the_same_store_and_day_writes_no_second_entry() {
        let (ra, _clock, store) = setup("2026-03-16T10:00:00+08:00");
        let h = DocumentId::random();
        ra.record("u1", Kind::Household, h, Via::Sync).await.unwrap();
        let again = ReadAudit::new(store.clone(), Audit::start(store.clone()), 480);
        again.record("u1", Kind::Household, h, Via::Sync).await.unwrap();
        assert_eq!(reads(&store).await.len(), 1);
    }

    #[tokio::test]
    async fn concurrent_first_reads_write_one_entry() {
        let (ra, _clock, store) = setup("2026-03-16T10:00:00+08:00");
        let h = DocumentId::random();
        let all = (0..20).map(|_| ra.record("u1", Kind::Household, h, Via::Sync));
        futures_util::future::try_join_all(all).await.unwrap();
        assert_eq!(reads(&store).await.len(), 1);
    }

    #[tokio::test]
    async fn markers_of_past_days_are_dropped() {
        let (ra, clock, store) = setup("2026-03-16T10:00:00+08:00");
        ra.record("u1", Kind::Episode, DocumentId::random(), Via::Sync).await.unwrap();
        let markers =
            |all: Vec<(String, Vec<u8>)>| all.into_iter().filter(|(k, _)| k.starts_with(MARKER_PREFIX)).count();
        assert_eq!(markers(store.meta_all().await.unwrap()), 1);
        clock.advance_ms(86_400_000);
        ra.record("u1", Kind::Episode, DocumentId::random(), Via::Sync).await.unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while markers(store.meta_all().await.unwrap()) != 1 && std::time::Instant::now() < deadline {
            tokio::task::yield_now().await;
        }
        let left: Vec<String> = store.meta_all().await.unwrap().into_iter().map(|(k, _)| k).collect();
        assert_eq!(markers(store.meta_all().await.unwrap()), 1, "{left:?}");
        assert!(left.iter().any(|k| k.starts_with("read_audit/2026-03-17/")), "{left:?}");
    }

    #[tokio::test]
    async fn a_failing_store_fails_the_read() {
        let clock = Arc::new(ManualClock::at_rfc3339("2026-03-16T10:00:00+08:00").unwrap());
        let faults = crate::store::Faults::default();
        let engine = Arc::new(MemoryEngine::with_faults(faults.clone()));
        let store = Store::new(engine.clone(), clock);
        let ra = ReadAudit::new(store.clone(), Audit::start(store.clone()), 480);
        faults.fail_writes(true);
        let h = DocumentId::random();
        assert!(ra.record("u1", Kind::Household, h, Via::Sync).await.is_err());
        faults.fail_writes(false);
        engine.recover().await.unwrap();
        ra.record("u1", Kind::Household, h, Via::Sync).await.unwrap();
        assert_eq!(reads(&store).await.len(), 1, "retried once the store is back");
    }
}
