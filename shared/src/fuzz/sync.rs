//! A peer's `sync` message, taken the way the server takes it (server/src/sync/doc_actor.rs
//! `apply_sync` and `apply_to_fork`, then the gate in server/src/rules.rs): the frame is
//! decoded, the data parsed as an Automerge sync message and checked with
//! [`check_sync_message`] (which the server must call where it decodes the message), then
//! applied to a fork of the stored document under `catch_unwind`; if the fork has new
//! changes, both versions are read as Linli documents and the change checked against the
//! rules; then the changes are listed, saved and answered with a reply, as the server does
//! for an accepted or refused batch.

use std::hint::black_box;

use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, ChangeHash};

use super::base::{base_document, Case, NOW_MS};
use super::boundary;
use crate::domain::{check_change, DomainDoc, DomainLimits, Violation};
use crate::sync_guard::{check_sync_message, SyncMessageError};
use crate::{decode, encode, DocumentId, Message, PeerId, WireLimits};

/// What the server did with one sync message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    /// No selector byte: nothing to do.
    Empty,
    /// The wire frame carrying the message was refused (only a message bigger than the
    /// frame limit can be).
    WireRefused(String),
    /// Not an Automerge sync message: the server answers "corrupt sync message".
    Corrupt(String),
    /// A sync message Automerge must not be given ([`check_sync_message`]); refused like
    /// a corrupt one.
    Guarded(SyncMessageError),
    /// Automerge refused to apply it (bad change chunks).
    AutomergeRefused(String),
    /// Automerge panicked applying it; the server catches this and drops the peer.
    AutomergePanicked,
    /// Applied, with no new change (heads, a `have`, or changes still missing their
    /// dependencies); answered with `replies` sync messages.
    NoChanges { replies: usize },
    /// Its changes break the schema or the rules: refused and quarantined.
    Refused(Violation),
    /// Its changes were merged.
    Accepted { changes: usize, replies: usize },
}

/// Applies `input` as the server would: its first byte picks the [`Case`] (who sends it,
/// to which stored document), the rest is the Automerge sync message, carried in a
/// `sync` frame.
#[must_use]
pub fn sync_message(input: &[u8]) -> SyncOutcome {
    let Some((&selector, data)) = input.split_first() else { return SyncOutcome::Empty };
    let case = Case::from_selector(selector);
    let data = match through_the_wire(data) {
        Ok(data) => data,
        Err(e) => return SyncOutcome::WireRefused(e),
    };
    let message = match sync::Message::decode(&data) {
        Ok(m) => m,
        Err(e) => return SyncOutcome::Corrupt(e.to_string()),
    };
    if let Err(e) = check_sync_message(&message) {
        return SyncOutcome::Guarded(e);
    }
    let stored = base_document(case.base);
    let mut state = sync::State::new();
    let saved_state = state.clone();
    let before_heads = stored.get_heads();
    let mut fork = stored.clone();
    match boundary(|| fork.receive_sync_message(&mut state, message)) {
        Err(_panic) => return SyncOutcome::AutomergePanicked,
        Ok(Err(e)) => return SyncOutcome::AutomergeRefused(e.to_string()),
        Ok(Ok(())) => {}
    }
    if fork.get_heads() == before_heads {
        // The server keeps the fork: it may hold changes waiting for their dependencies.
        return SyncOutcome::NoChanges { replies: reply(&fork, &mut state) };
    }
    let changes = fork.get_changes(&before_heads);
    // What the gate and the quarantine read of each change.
    let hashes: Vec<ChangeHash> = changes.iter().map(|c| c.hash()).collect();
    black_box(changes.iter().map(|c| c.actor_id().to_bytes()).collect::<Vec<_>>());
    match gate(case, stored, &fork) {
        Err(violation) => {
            black_box((hashes, changes.iter().map(|c| c.raw_bytes().to_vec()).collect::<Vec<_>>()));
            // Refused: the peer's state goes back to what it was, read-only from now on.
            let mut state = saved_state;
            state.read_only = true;
            reply(stored, &mut state);
            SyncOutcome::Refused(violation)
        }
        Ok(after) => {
            super::project(&after);
            black_box((fork.save_after(&before_heads), fork.save()));
            SyncOutcome::Accepted { changes: changes.len(), replies: reply(&fork, &mut state) }
        }
    }
}

/// The data as the server receives it: in a `sync` frame, encoded and decoded.
fn through_the_wire(data: &[u8]) -> Result<Vec<u8>, String> {
    let peer = |s: &str| PeerId::new(s).map_err(|e| e.to_string());
    let frame = encode(&Message::Sync {
        sender_id: peer("peer-fuzz")?,
        target_id: peer("server")?,
        document_id: DocumentId::from_bytes([8; 16]),
        data: data.to_vec(),
    });
    match decode(&frame, &WireLimits::default()) {
        Ok(Message::Sync { data, .. }) => Ok(data),
        Ok(other) => Err(format!("a sync frame decoded as `{}`", other.kind())),
        Err(e) => Err(e.to_string()),
    }
}

/// The gate's decision on a fork with new changes: both versions read as Linli
/// documents, then the rules.
fn gate(case: Case, stored: &Automerge, fork: &Automerge) -> Result<DomainDoc, Violation> {
    let before = DomainDoc::hydrate(stored)?;
    let after = DomainDoc::hydrate(fork)?.ok_or_else(|| Violation::new("", "a document may not be emptied"))?;
    check_change(&case.actor(), before.as_ref(), &after, &DomainLimits::default(), NOW_MS)?;
    Ok(after)
}

/// The server's answer to the peer, as `reply` generates it; returns how many messages.
fn reply(doc: &Automerge, state: &mut sync::State) -> usize {
    let mut replies = 0;
    // A second call must find nothing more to say until the peer answers.
    for _ in 0..2 {
        if let Some(msg) = doc.generate_sync_message(state) {
            black_box(msg.encode());
            replies += 1;
        }
    }
    replies
}
