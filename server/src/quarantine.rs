//! Refused changes are not merged, but they are not thrown away either: the quarantine
//! keeps who sent them, when, why, and the raw changes, for an admin to review
//! (DESIGN §4). A batch sent again (a phone retrying) is stored once.
//!
//! What it keeps is bounded, because what it keeps comes from the phones: an entry keeps
//! the raw changes only up to [`QuarantineLimits::entry_bytes`] (beyond, only their hashes
//! and why the bytes were dropped: [`Entry::dropped`]), and the whole quarantine costs at
//! most [`QuarantineLimits::total_bytes`] ([`Entry::cost`]): a new entry makes room by
//! removing the oldest ones, in the same write.

use crate::store::{QuarantineEntry, Store, StoreError, Write};
use sha2::{Digest, Sha256};

pub use crate::store::QuarantineEntry as Entry;

/// Default raw change bytes kept per entry: 64 KiB (128 KiB of hex in the API answer).
pub const DEFAULT_ENTRY_BYTES: usize = 64 * 1024;
/// Default cost of the whole quarantine: 64 MiB.
pub const DEFAULT_TOTAL_BYTES: usize = 64 * 1024 * 1024;

/// What the quarantine keeps. Both are settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuarantineLimits {
    /// Raw bytes of the refused changes kept in one entry.
    pub entry_bytes: usize,
    /// Total cost of every entry ([`Entry::cost`]).
    pub total_bytes: usize,
}

impl Default for QuarantineLimits {
    fn default() -> Self {
        QuarantineLimits { entry_bytes: DEFAULT_ENTRY_BYTES, total_bytes: DEFAULT_TOTAL_BYTES }
    }
}

#[derive(Debug, Clone)]
pub struct Quarantine {
    store: Store,
    limits: QuarantineLimits,
    /// What the quarantine costs, as far as this process knows (read from the store once,
    /// then kept up to date; an entry kept twice counts twice, which only errs towards
    /// making room early). Refusals stay cheap: the store is scanned only to make room.
    used: std::sync::Arc<tokio::sync::Mutex<Option<usize>>>,
}

/// One page of [`Quarantine::page`]: newest first, and the cursor of the next page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub entries: Vec<QuarantineEntry>,
    /// `<at>:<id>` of the last entry, when there may be more.
    pub next: Option<String>,
}

/// A cursor that is not `<at>:<id>`.
#[derive(Debug, thiserror::Error)]
#[error("`before` must be the `next` cursor of a previous page")]
pub struct BadCursor;

impl Quarantine {
    pub fn new(store: Store, limits: QuarantineLimits) -> Self {
        Quarantine { store, limits, used: Default::default() }
    }

    /// The quarantine entry of a refused batch; `changes` are (hash, raw bytes). Its id is
    /// a hash of the raw changes, so the same batch sent again is one entry. Raw changes
    /// beyond [`QuarantineLimits::entry_bytes`] are not kept: the entry says so.
    pub fn entry(
        &self,
        user: &str,
        doc: &str,
        code: &str,
        reason: &str,
        changes: &[(String, Vec<u8>)],
    ) -> QuarantineEntry {
        let mut h = Sha256::new();
        for (hash, raw) in changes {
            h.update(hash.as_bytes());
            h.update(raw);
        }
        let raw: usize = changes.iter().map(|(_, r)| r.len()).sum();
        let keep = raw <= self.limits.entry_bytes;
        QuarantineEntry {
            id: hex::encode(&h.finalize()[..12]),
            at: self.store.now_ms(),
            user: user.to_owned(),
            doc: doc.to_owned(),
            code: code.to_owned(),
            reason: reason.to_owned(),
            hashes: changes.iter().map(|(h, _)| h.clone()).collect(),
            changes: if keep { changes.iter().map(|(_, raw)| hex::encode(raw)).collect() } else { Vec::new() },
            dropped: (!keep).then(|| {
                format!("{raw} bytes of raw changes, more than quarantine_entry_bytes ({})", self.limits.entry_bytes)
            }),
        }
    }

    /// The entry of a message refused before its changes could be read (it would inflate
    /// beyond the limits): no hashes, no bytes, only who, when and why. Its id is a hash of
    /// the message as sent, so a phone sending it again is one entry.
    pub fn unread_entry(&self, user: &str, doc: &str, code: &str, reason: &str, message: &[u8]) -> QuarantineEntry {
        let id = hex::encode(&Sha256::digest(message)[..12]);
        QuarantineEntry {
            id,
            at: self.store.now_ms(),
            user: user.to_owned(),
            doc: doc.to_owned(),
            code: code.to_owned(),
            reason: reason.to_owned(),
            hashes: Vec::new(),
            changes: Vec::new(),
            dropped: Some(format!("a {}-byte sync message that was not inflated", message.len())),
        }
    }

    /// Keeps a refused batch, removing the oldest entries when the quarantine would cost
    /// more than [`QuarantineLimits::total_bytes`]. Durable on return.
    pub async fn keep(&self, entry: QuarantineEntry) -> Result<String, StoreError> {
        let id = entry.id.clone();
        let cost = entry.cost();
        let mut used = self.used.lock().await;
        let mut now = match *used {
            Some(u) => u,
            None => self.store.quarantine_usage().await?.1,
        };
        let mut batch = Vec::new();
        if now + cost > self.limits.total_bytes {
            // Make room, oldest first (last in the store's order), from the exact figures.
            let all = self.store.quarantined(None, usize::MAX).await?;
            if all.iter().any(|e| e.id == id) {
                return Ok(id); // kept already: keeping it again is a no-op
            }
            now = all.iter().map(QuarantineEntry::cost).sum();
            for old in all.iter().rev() {
                if now + cost <= self.limits.total_bytes {
                    break;
                }
                now -= old.cost();
                batch.push(Write::DeleteQuarantine(old.id.clone()));
            }
            tracing::info!(removed = batch.len(), "quarantine full: oldest entries removed");
        }
        batch.push(Write::Quarantine(entry));
        self.store.commit(batch).await?;
        *used = Some(now + cost);
        Ok(id)
    }

    /// Newest first, at most `limit`, older than `before` (the `at` and `id` of the last
    /// entry of the previous page).
    pub async fn list(&self, before: Option<(i64, String)>, limit: usize) -> Result<Vec<QuarantineEntry>, StoreError> {
        self.store.quarantined(before, limit).await
    }

    /// One page for the API: `before` is the `next` cursor of the previous page.
    pub async fn page(&self, before: Option<&str>, limit: usize) -> Result<Result<Page, BadCursor>, StoreError> {
        let before = match before.map(parse_cursor).transpose() {
            Ok(b) => b,
            Err(e) => return Ok(Err(e)),
        };
        let entries = self.list(before, limit).await?;
        let next = (entries.len() == limit).then(|| entries.last().map(|e| format!("{}:{}", e.at, e.id))).flatten();
        Ok(Ok(Page { entries, next }))
    }
}

fn parse_cursor(cursor: &str) -> Result<(i64, String), BadCursor> {
    let (at, id) = cursor.split_once(':').ok_or(BadCursor)?;
    let at = at.parse().map_err(|_| BadCursor)?;
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(BadCursor);
    }
    Ok((at, id.to_owned()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// On a manual clock that moves one second per entry kept, so "oldest" is well defined
    /// (and no test reads the wall clock).
    fn quarantine(limits: QuarantineLimits) -> (Quarantine, std::sync::Arc<crate::clock::ManualClock>) {
        let clock = std::sync::Arc::new(crate::clock::ManualClock::new(1_770_000_000_000));
        let store = Store::new(std::sync::Arc::new(crate::store::MemoryEngine::new()), clock.clone());
        (Quarantine::new(store, limits), clock)
    }

    #[tokio::test]
    async fn raw_changes_beyond_the_entry_limit_keep_only_their_hashes() {
        let (q, _) = quarantine(QuarantineLimits { entry_bytes: 1024, ..QuarantineLimits::default() });
        let small = q.entry("u1", "d1", "rule", "why", &[("aa".into(), vec![1; 100])]);
        assert_eq!(small.changes, vec!["01".repeat(100)]);
        assert_eq!(small.dropped, None);
        let big = q.entry("u1", "d1", "rule", "why", &[("bb".into(), vec![2; 1000]), ("cc".into(), vec![3; 1000])]);
        assert!(big.changes.is_empty(), "2000 raw bytes are not kept");
        assert_eq!(big.hashes, vec!["bb", "cc"]);
        assert!(big.dropped.as_deref().unwrap().contains("2000 bytes"), "{:?}", big.dropped);
        assert!(big.cost() < 1024, "the entry costs {} bytes", big.cost());
        q.keep(big.clone()).await.unwrap();
        assert_eq!(q.list(None, 10).await.unwrap(), vec![big]);
    }

    #[tokio::test]
    async fn the_oldest_entries_make_room_within_the_total_budget() {
        let one =
            quarantine(QuarantineLimits::default()).0.entry("u", "d", "rule", "why", &[("h".into(), vec![0; 400])]);
        let budget = one.cost() * 3;
        let (q, clock) = quarantine(QuarantineLimits { entry_bytes: 1024, total_bytes: budget });
        let mut ids = Vec::new();
        for i in 0..5u8 {
            clock.advance_ms(1000);
            let e = q.entry("u", "d", "rule", "why", &[(format!("h{i}"), vec![i; 400])]);
            ids.push(q.keep(e).await.unwrap());
            let (count, used) = q.store.quarantine_usage().await.unwrap();
            assert!(used <= budget, "{used} bytes in {count} entries, budget {budget}");
        }
        let kept: Vec<String> = q.list(None, 10).await.unwrap().into_iter().map(|e| e.id).collect();
        assert_eq!(kept.len(), 3);
        for old in &ids[..2] {
            assert!(!kept.contains(old), "an old entry survived: {kept:?}");
        }
        // The same batch again is one entry, whatever the budget.
        let again = q.entry("u", "d", "rule", "why", &[("h4".into(), vec![4; 400])]);
        q.keep(again).await.unwrap();
        assert_eq!(q.list(None, 10).await.unwrap().len(), 3);
    }

    #[tokio::test]
    async fn pages_follow_the_cursor_and_bad_cursors_are_refused() {
        let (q, clock) = quarantine(QuarantineLimits::default());
        for i in 0..5u8 {
            clock.advance_ms(i64::from(i % 2)); // two entries share an instant: the id breaks the tie
            q.keep(q.entry("u", "d", "rule", "why", &[(format!("h{i}"), vec![i])])).await.unwrap();
        }
        let first = q.page(None, 2).await.unwrap().unwrap();
        assert_eq!(first.entries.len(), 2);
        let second = q.page(first.next.as_deref(), 2).await.unwrap().unwrap();
        let third = q.page(second.next.as_deref(), 2).await.unwrap().unwrap();
        assert_eq!(third.entries.len(), 1);
        assert_eq!(third.next, None);
        let mut seen: Vec<String> =
            [first.entries, second.entries, third.entries].concat().into_iter().map(|e| e.id).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 5, "every entry once");
        for bad in ["", "12", "x:ab", "12:", "12:zz"] {
            assert!(q.page(Some(bad), 2).await.unwrap().is_err(), "{bad:?}");
        }
    }
}
