//! Checks an Automerge sync message from a peer before Automerge answers it. Automerge
//! 0.12 trusts the `have` part of a message when it generates the reply: a Bloom filter
//! that claims entries but has no bits divides by zero (a panic in
//! `generate_sync_message`, which the server runs outside `catch_unwind`), one that
//! claims four billion probes allocates 16 GiB for each change it tests, and every
//! `have` is tested against every change of the document. Automerge itself always sends
//! one `have` with 7 probes and 10 bits per entry; [`check_sync_message`] refuses the
//! shapes it never sends, so a message can only cost what its size says.
//!
//! The changes of a message are Automerge chunks. Automerge-repo clients send changes
//! (plain or compressed) and whole documents; Automerge 0.12 also reads *bundles*, whose
//! columns it expands before checking them: a 1 KiB bundle whose delta-encoded column
//! claims four billion entries made it allocate 4 GiB and more (an abort, not a panic that
//! `catch_unwind` could stop). Only the three chunk types clients send are accepted.
//!
//! A `need` list that names one of the document's changes twice makes the reply panic
//! too (an `unwrap` on a missing dependency while Automerge bundles the changes asked
//! for); Automerge never repeats a hash in `need` or `heads`, so neither may a peer.
//!
//! All three found by the `sync_message` fuzz target (fixtures `crash-bloom-without-bits`,
//! `oom-bundle-delta-column` and `crash-need-twice` in
//! `shared/tests/fuzz_fixtures/sync_message/`).
//!
//! ```
//! use automerge::sync::Message;
//! use linli_shared::sync_guard::{check_sync_message, SyncMessageError};
//!
//! // Version 0x42, no heads, no needs, one `have` with no last-sync heads and a Bloom
//! // filter of 1 entry, 0 bits per entry, 7 probes and no bits; no changes.
//! let bytes = [0x42, 0, 0, 1, 0, 3, 1, 0, 7, 0];
//! let message = Message::decode(&bytes).unwrap();
//! assert!(matches!(check_sync_message(&message), Err(SyncMessageError::BadBloomFilter(_))));
//! ```

use automerge::sync::Message;

/// Most `have` entries in one sync message. Automerge sends at most one.
pub const MAX_SYNC_HAVES: usize = 8;

/// Most probes a `have` Bloom filter may ask for. Automerge uses 7.
pub const MAX_BLOOM_PROBES: u64 = 32;

/// A sync message that Automerge decodes but must not be given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncMessageError {
    #[error("{count} `have` entries; at most {max} are accepted")]
    TooManyHaves {
        /// How many the message has.
        count: usize,
        /// [`MAX_SYNC_HAVES`].
        max: usize,
    },
    #[error("bad Bloom filter: {0}")]
    BadBloomFilter(&'static str),
    /// A chunk of a type clients never send in sync (a bundle: type 3).
    #[error("chunks of type {0} are not accepted in sync messages")]
    ChunkType(u8),
    #[error("malformed chunk: {0}")]
    BadChunk(&'static str),
    /// `heads` or `need` names a change more than once.
    #[error("`{0}` names a change more than once")]
    RepeatedHash(&'static str),
}

/// The magic bytes that open every Automerge chunk.
const CHUNK_MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
/// The chunk types clients send: a document, a change, a compressed change.
const CLIENT_CHUNK_TYPES: [u8; 3] = [0, 1, 2];

/// Refuses a sync message whose `have` part Automerge cannot safely answer (see the
/// module docs). Run it after `Message::decode` and before the message reaches the
/// document: the server treats a refusal like a corrupt message.
///
/// # Errors
///
/// What is wrong with the message.
pub fn check_sync_message(message: &Message) -> Result<(), SyncMessageError> {
    if message.have.len() > MAX_SYNC_HAVES {
        return Err(SyncMessageError::TooManyHaves { count: message.have.len(), max: MAX_SYNC_HAVES });
    }
    for have in &message.have {
        check_bloom(&have.bloom.to_bytes())?;
    }
    for (field, hashes) in [("heads", &message.heads), ("need", &message.need)] {
        let mut sorted = hashes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != hashes.len() {
            return Err(SyncMessageError::RepeatedHash(field));
        }
    }
    message.changes.iter().try_for_each(check_chunk_types)
}

/// Checks that `bytes` are Automerge chunks of the types clients send (a document, a
/// change, a compressed change), one after the other, each with a whole header: what
/// [`check_sync_message`] lets through to Automerge. The `hydrate` fuzz target loads only
/// such bytes, since nothing else reaches the server's store.
///
/// # Errors
///
/// The first chunk that is malformed or of another type.
pub fn check_chunk_types(bytes: &[u8]) -> Result<(), SyncMessageError> {
    let entry = bytes;
    let mut rest = entry;
    while !rest.is_empty() {
        let (Some(magic), Some(&kind)) = (rest.get(..4), rest.get(8)) else {
            return Err(SyncMessageError::BadChunk("truncated header"));
        };
        if magic != CHUNK_MAGIC {
            return Err(SyncMessageError::BadChunk("no magic bytes"));
        }
        if !CLIENT_CHUNK_TYPES.contains(&kind) {
            return Err(SyncMessageError::ChunkType(kind));
        }
        let mut body = &rest[9..];
        let len = leb128(&mut body).ok_or(SyncMessageError::BadChunk("truncated header"))?;
        let len = usize::try_from(len).ok().filter(|&len| len <= body.len());
        rest = &body[len.ok_or(SyncMessageError::BadChunk("truncated chunk"))?..];
    }
    Ok(())
}

/// Checks an encoded Bloom filter: empty (no entries), or entries, bits per entry and
/// probes as LEB128 numbers followed by the bits.
fn check_bloom(bytes: &[u8]) -> Result<(), SyncMessageError> {
    if bytes.is_empty() {
        return Ok(());
    }
    let mut rest = bytes;
    let mut next = || leb128(&mut rest).ok_or(SyncMessageError::BadBloomFilter("truncated header"));
    let (entries, bits_per_entry, probes) = (next()?, next()?, next()?);
    if entries == 0 {
        return Ok(());
    }
    if bits_per_entry == 0 || rest.is_empty() {
        return Err(SyncMessageError::BadBloomFilter("entries without bits"));
    }
    if probes == 0 || probes > MAX_BLOOM_PROBES {
        return Err(SyncMessageError::BadBloomFilter("number of probes out of range"));
    }
    Ok(())
}

/// Reads one unsigned LEB128 number of at most 64 bits.
fn leb128(input: &mut &[u8]) -> Option<u64> {
    let mut value: u64 = 0;
    for (i, &byte) in input.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f).checked_shl(7 * i as u32)?;
        if byte & 0x80 == 0 {
            *input = &input[i + 1..];
            return Some(value);
        }
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use automerge::sync::{State, SyncDoc};
    use automerge::transaction::Transactable;
    use automerge::{AutoCommit, Automerge};

    /// A sync message with `haves` copies of one `have` whose Bloom filter is `bloom`.
    fn message(haves: u8, bloom: &[u8]) -> Message {
        let mut bytes = vec![0x42, 0, 0, haves];
        for _ in 0..haves {
            bytes.push(0);
            bytes.push(u8::try_from(bloom.len()).unwrap());
            bytes.extend(bloom);
        }
        bytes.push(0);
        Message::decode(&bytes).unwrap()
    }

    fn doc_with_changes(n: usize) -> Automerge {
        let mut doc = AutoCommit::new();
        for i in 0..n {
            doc.put(automerge::ROOT, "n", i as i64).unwrap();
            doc.commit();
        }
        doc.document().clone()
    }

    /// Whether Automerge panics answering `msg` after taking it into a copy of `doc`.
    fn reply_panics(doc: &Automerge, msg: &Message) -> bool {
        let mut state = State::new();
        let mut fork = doc.clone();
        fork.receive_sync_message(&mut state, msg.clone()).unwrap();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fork.generate_sync_message(&mut state))).is_err()
    }

    #[test]
    fn what_automerge_sends_passes() {
        let ours = doc_with_changes(3);
        let mut theirs = ours.fork();
        let mut state = State::new();
        // A peer with changes we lack sends a real Bloom filter of its changes.
        theirs.merge(&mut doc_with_changes(2)).unwrap();
        let msg = theirs.generate_sync_message(&mut state).unwrap();
        assert!(!msg.have.is_empty());
        check_sync_message(&msg).unwrap();
        check_sync_message(&message(1, &[])).unwrap();
        check_sync_message(&message(1, &[0, 10, 7])).unwrap();
        check_sync_message(&message(1, &[2, 10, 7, 0xff, 0xff, 0xff])).unwrap();
    }

    #[test]
    fn bloom_filters_automerge_cannot_answer_are_refused() {
        for bloom in [
            &[1, 0, 7][..],
            &[1, 10, 0, 0xff, 0xff],
            &[1, 10, 33, 0xff, 0xff],
            &[1, 10, 0xff, 0xff, 0xff, 0xff, 0x0f, 0xff, 0xff],
        ] {
            assert!(
                matches!(check_sync_message(&message(1, bloom)), Err(SyncMessageError::BadBloomFilter(_))),
                "{bloom:?}"
            );
        }
    }

    #[test]
    fn a_filter_without_bits_panics_automerge_and_is_refused() {
        // What the check stands in front of: Automerge answering it divides by zero.
        let msg = message(1, &[1, 0, 7]);
        assert!(reply_panics(&doc_with_changes(1), &msg));
        assert!(check_sync_message(&msg).is_err());
    }

    #[test]
    fn clients_chunks_pass_and_bundles_are_refused() {
        let mut doc = AutoCommit::new();
        doc.put(automerge::ROOT, "a", 1).unwrap();
        doc.commit();
        let change = doc.get_last_local_change().unwrap().raw_bytes().to_vec();
        let bytes = [doc.save(), change.clone(), [change.clone(), doc.save_after(&[])].concat()];
        for chunks in bytes {
            let mut msg = message(0, &[]);
            msg.changes = vec![chunks].into();
            check_sync_message(&msg).unwrap();
        }
        let mut bundle = change.clone();
        bundle[8] = 3;
        let mut garbage = change.clone();
        garbage[0] = 0;
        let mut msg = message(0, &[]);
        for (chunks, error) in [
            (bundle, SyncMessageError::ChunkType(3)),
            (garbage, SyncMessageError::BadChunk("no magic bytes")),
            (change[..change.len() - 1].to_vec(), SyncMessageError::BadChunk("truncated chunk")),
            (change[..6].to_vec(), SyncMessageError::BadChunk("truncated header")),
        ] {
            msg.changes = vec![chunks].into();
            assert_eq!(check_sync_message(&msg), Err(error));
        }
    }

    #[test]
    fn a_hash_needed_twice_panics_automerge_and_is_refused() {
        let doc = doc_with_changes(1);
        let head = doc.get_heads()[0];
        let mut msg = message(0, &[]);
        msg.need = vec![head, head];
        assert!(reply_panics(&doc, &msg));
        assert_eq!(check_sync_message(&msg), Err(SyncMessageError::RepeatedHash("need")));
        msg.need = vec![head];
        check_sync_message(&msg).unwrap();
        msg.heads = vec![head, head];
        assert_eq!(check_sync_message(&msg), Err(SyncMessageError::RepeatedHash("heads")));
    }

    #[test]
    fn many_haves_are_refused() {
        check_sync_message(&message(8, &[])).unwrap();
        assert_eq!(check_sync_message(&message(9, &[])), Err(SyncMessageError::TooManyHaves { count: 9, max: 8 }));
    }

    #[test]
    fn leb128_reads_multibyte_numbers_and_refuses_overlong_ones() {
        assert_eq!(leb128(&mut &[0xe5, 0x8e, 0x26][..]), Some(624_485));
        assert_eq!(leb128(&mut &[0x80][..]), None);
        assert_eq!(leb128(&mut &[0xff; 11][..]), None);
    }
}
