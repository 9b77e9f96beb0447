//! The audit chain, the same in every engine: each record is numbered and carries the
//! hash of the record before it, so an edited, removed or inserted record is found, and a
//! store copied between engines verifies (see [`super::AuditRecord`]).

use super::records::{AuditEntry, AuditRecord};
use super::AuditCheck;
use sha2::{Digest, Sha256};

/// The head of the audit chain: the last sequence number and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AuditHead {
    pub(crate) seq: u64,
    pub(crate) hash: String,
}

pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The next record of the chain after `head`.
pub(crate) fn chain(head: &AuditHead, entry: AuditEntry) -> AuditRecord {
    let seq = head.seq + 1;
    let detail_hash = hex::encode(Sha256::digest(entry.detail.as_bytes()));
    let hash = record_hash(&head.hash, seq, &entry, &detail_hash);
    AuditRecord { seq, entry, detail_hash, prev: head.hash.clone(), hash }
}

/// The hash of one audit record (see [`AuditRecord`]). Every field is length-prefixed, so
/// no two different records hash the same input.
pub(crate) fn record_hash(prev: &str, seq: u64, e: &AuditEntry, detail_hash: &str) -> String {
    let mut h = Sha256::new();
    for part in
        [prev, &seq.to_string(), &e.at.to_string(), &e.user, &e.action, e.doc.as_deref().unwrap_or(""), detail_hash]
    {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Checks a chain of records, oldest first.
pub(crate) fn verify_chain(records: impl IntoIterator<Item = AuditRecord>) -> AuditCheck {
    let mut check = AuditCheck::default();
    let mut prev = GENESIS.to_owned();
    let mut expected_seq = 1;
    for r in records {
        check.entries += 1;
        if check.first_broken.is_some() {
            continue;
        }
        let problem = if r.seq != expected_seq {
            Some(format!("sequence number {} where {expected_seq} was expected (a record is missing)", r.seq))
        } else if r.prev != prev {
            Some("its link to the record before does not match".to_owned())
        } else if !r.entry.detail.is_empty() && hex::encode(Sha256::digest(r.entry.detail.as_bytes())) != r.detail_hash
        {
            Some("its detail was changed".to_owned())
        } else if record_hash(&r.prev, r.seq, &r.entry, &r.detail_hash) != r.hash {
            Some("its content was changed".to_owned())
        } else {
            None
        };
        if let Some(p) = problem {
            check.first_broken = Some((r.seq, p));
        }
        prev = r.hash;
        expected_seq = r.seq + 1;
    }
    check
}

/// Checks a chain as stored: `(seq, JSON record)`, oldest first. An unreadable record
/// breaks the chain there.
pub(crate) fn verify_stored<'a>(stored: impl IntoIterator<Item = (u64, &'a [u8])>) -> AuditCheck {
    let mut records = Vec::new();
    for (seq, bytes) in stored {
        match serde_json::from_slice::<AuditRecord>(bytes) {
            Ok(r) => records.push(r),
            Err(e) => {
                let mut check = verify_chain(records);
                check.entries += 1;
                check.first_broken.get_or_insert((seq, format!("unreadable: {e}")));
                return check;
            }
        }
    }
    verify_chain(records)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn entry(n: i64) -> AuditEntry {
        AuditEntry { at: n, user: "u".into(), action: "a".into(), doc: None, detail: format!("detail {n}") }
    }

    #[test]
    fn the_audit_chain_finds_edits_removals_and_insertions() {
        let mut head = AuditHead { seq: 0, hash: GENESIS.into() };
        let mut records = Vec::new();
        for n in 0..5 {
            let r = chain(&head, entry(n));
            head = AuditHead { seq: r.seq, hash: r.hash.clone() };
            records.push(r);
        }
        assert_eq!(verify_chain(records.clone()), AuditCheck { entries: 5, first_broken: None });
        // An erased detail (blanked) keeps the chain.
        let mut erased = records.clone();
        erased[1].entry.detail.clear();
        assert_eq!(verify_chain(erased).first_broken, None);
        // An edited detail, an edited field, a removed record.
        let mut edited = records.clone();
        edited[2].entry.detail = "something else".into();
        assert_eq!(verify_chain(edited).first_broken.map(|b| b.0), Some(3));
        let mut edited = records.clone();
        edited[3].entry.user = "mallory".into();
        assert_eq!(verify_chain(edited).first_broken.map(|b| b.0), Some(4));
        let mut removed = records.clone();
        removed.remove(1);
        assert_eq!(verify_chain(removed).first_broken.map(|b| b.0), Some(3));
    }
}
