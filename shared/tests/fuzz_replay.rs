//! Replays every fixture kept from the fuzz targets (`fuzz/`, `make fuzz`) through the
//! same function the target calls (`linli_shared::fuzz`): the seeds (real frames, real
//! phones' sync messages, real saved documents), interesting inputs the fuzzer found, and
//! every crasher, each with the outcome it must have now. A fixture that panics here
//! would crash the fuzz target (and, outside `catch_unwind`, the server).
//!
//! Files live in `shared/tests/fuzz_fixtures/<target>/`: `seed-*` from
//! `cargo run -p linli-shared --example fuzz_seeds`, `corpus-*` from the fuzzer's corpus,
//! `crash-*` / `oom-*` / `timeout-*` from its artifacts.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use linli_shared::fuzz::{self, Load, Reading, SyncOutcome};
use linli_shared::sync_guard::SyncMessageError;

fn fixtures(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_fixtures").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "too few fixtures in {}", dir.display());
    files
}

fn fixture(target: &str, name: &str) -> Vec<u8> {
    fixtures(target).into_iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no fixture {name}")).1
}

#[test]
fn wire_decode_fixtures_decode_or_are_refused_and_round_trip() {
    let mut decoded = 0;
    for (name, frame) in fixtures("wire_decode") {
        match fuzz::wire_decode(&frame) {
            Ok(_) => decoded += 1,
            Err(e) => assert!(!name.starts_with("seed-") && !name.starts_with("js-"), "{name}: {e}"),
        }
    }
    assert!(decoded >= 18);
}

#[test]
fn wire_decode_corpus_entries_have_the_outcome_their_name_says() {
    // `corpus-ok-<what>` decodes; `corpus-<error code>-<what>` is refused with that code.
    let corpus: Vec<_> = fixtures("wire_decode").into_iter().filter(|(n, _)| n.starts_with("corpus-")).collect();
    assert!(corpus.len() >= 10);
    for (name, frame) in corpus {
        let expected = name["corpus-".len()..].split('-').next().unwrap();
        match fuzz::wire_decode(&frame) {
            Ok(m) => assert_eq!(expected, "ok", "{name} decoded as {m:?}"),
            Err(e) => assert_eq!(e.code(), expected, "{name}: {e}"),
        }
    }
}

#[test]
fn sync_message_fixtures_have_their_outcomes() {
    for (name, input) in fixtures("sync_message") {
        let outcome = fuzz::sync_message(&input);
        // The seeds are real phones' messages: the first of each exchange carries no
        // changes, the next is the phone's change, merged unless it breaks a rule.
        if name.starts_with("seed-") {
            if name.ends_with("-0") {
                assert!(matches!(outcome, SyncOutcome::NoChanges { replies: 1 }), "{name}: {outcome:?}");
            } else if name.contains("volunteer-moves-due-date") {
                assert!(matches!(&outcome, SyncOutcome::Refused(v) if v.field == "due"), "{name}: {outcome:?}");
            } else if name.contains("medic-rewrites-note") {
                assert!(matches!(&outcome, SyncOutcome::Refused(v) if v.field == "notes.0"), "{name}: {outcome:?}");
            } else {
                assert_eq!(outcome, SyncOutcome::Accepted { changes: 1, replies: 1 }, "{name}");
            }
        }
    }
}

#[test]
fn hydrate_fixtures_read_as_documents_or_violations() {
    for (name, input) in fixtures("hydrate") {
        let outcome = fuzz::hydrate(&input);
        if name.starts_with("seed-") {
            let reading = if name.ends_with(".json") { outcome.json.as_ref() } else { outcome.loaded.reading() };
            assert!(matches!(reading, Some(Reading::Valid(_))), "{name}: {outcome:?}");
        }
        if name.ends_with(".chunk") {
            assert!(matches!(outcome.incremental.reading(), Some(Reading::Valid(_))), "{name}: {outcome:?}");
        }
    }
}

#[test]
fn sync_message_crash_bloom_without_bits_is_refused_before_automerge_answers_it() {
    // Found by the fuzzer in its first second: a `have` whose Bloom filter claims entries
    // but has no bits. Automerge accepted the message, then divided by zero generating
    // the reply, which the server does outside `catch_unwind`.
    let outcome = fuzz::sync_message(&fixture("sync_message", "crash-bloom-without-bits"));
    assert_eq!(outcome, SyncOutcome::Guarded(SyncMessageError::BadBloomFilter("entries without bits")));
}

#[test]
fn sync_message_oom_bundle_delta_column_is_refused_before_automerge_expands_it() {
    // Found after 7.4 million executions: 927 bytes carrying bundle chunks whose
    // delta-encoded column claims billions of entries. Automerge allocated 4 GiB for it
    // inside `receive_sync_message`: an abort, which `catch_unwind` cannot stop.
    let outcome = fuzz::sync_message(&fixture("sync_message", "oom-bundle-delta-column"));
    assert_eq!(outcome, SyncOutcome::Guarded(SyncMessageError::ChunkType(3)));
}

#[test]
fn sync_message_crash_need_twice_is_refused_before_automerge_answers_it() {
    // Found after 11.6 million executions: a sync message without changes whose `need`
    // names the stored document's head twice. Automerge accepted it, then panicked (an
    // `unwrap` on a missing dependency) generating the reply, outside `catch_unwind`.
    let outcome = fuzz::sync_message(&fixture("sync_message", "crash-need-twice"));
    assert_eq!(outcome, SyncOutcome::Guarded(SyncMessageError::RepeatedHash("need")));
}

#[test]
fn hydrate_crash_load_unpack_unwrap_is_not_loaded() {
    // Found after 11.4 million executions: a bundle chunk on which `Automerge::load`
    // panics (an `unwrap` in its column decoder) instead of returning an error. The server
    // loads under `catch_unwind`, and since bundles never reach its store (the sync guard
    // refuses them), it never loads such bytes at all.
    let bytes = fixture("hydrate", "crash-load-unpack-unwrap");
    let outcome = fuzz::hydrate(&bytes);
    assert_eq!(outcome.loaded, Load::Guarded(SyncMessageError::ChunkType(3)));
    assert_eq!(outcome.json, None);
    let panicked = fuzz::boundary(|| automerge::Automerge::load(&bytes)).is_err();
    assert!(panicked, "Automerge no longer panics on this: the bundle refusal may be relaxed");
}

#[test]
fn hydrate_oom_bundle_delta_column_is_not_loaded() {
    // Found after 7 million executions: the bundle chunk of the sync_message OOM, here as
    // a whole saved "document". `Automerge::load` allocated 4 GiB for it. Nothing but
    // documents and changes reaches the store, so such bytes are never loaded.
    let outcome = fuzz::hydrate(&fixture("hydrate", "oom-bundle-delta-column"));
    assert_eq!(outcome.loaded, Load::Guarded(SyncMessageError::ChunkType(3)));
}
