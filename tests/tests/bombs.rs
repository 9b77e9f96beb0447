//! Decompression bombs (issue 9, item 1): a sync message of a few KiB that carries a saved
//! document or a compressed change inflating to tens of MiB is refused before the server
//! inflates it, costs the server almost no memory and no disk, and leaves a small
//! quarantine entry (who, when, why; no bytes). Refused changes too big to keep are kept as
//! hashes only, and `GET /api/quarantine` comes in pages.

use automerge::sync::{ChunkList, Message as SyncMessage, MessageVersion};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT};
use linli_shared::{DocumentId, Message, PeerId};
use linli_tests::domain::{create, household, write};
use linli_tests::outcome::{decode_rejected, push_change, Outcome};
use linli_tests::server::{ADMIN, ALICE};
use linli_tests::{api, Community, TestPeer};
use std::time::Duration;

const T: Duration = Duration::from_secs(30);
const MIB: u64 = 1024 * 1024;

/// A valid household whose notes are `chars` times "x", as one scalar string: the saved
/// document compresses it to a few KiB.
fn bomb_doc(chars: usize) -> AutoCommit {
    let mut doc = AutoCommit::new();
    write(&mut doc, household("g1", "901"));
    doc.put(ROOT, "notes", "x".repeat(chars)).expect("put");
    doc
}

/// A sync message that carries `chunk` as its changes, claiming `heads`.
fn sync_carrying(peer: &TestPeer, doc: DocumentId, heads: Vec<automerge::ChangeHash>, chunk: Vec<u8>) -> Message {
    let msg = SyncMessage {
        heads,
        need: Vec::new(),
        have: Vec::new(),
        changes: ChunkList::from(chunk),
        flags: None,
        version: MessageVersion::V1,
    };
    Message::Sync {
        sender_id: peer.peer_id.clone(),
        target_id: PeerId::new("server").expect("peer id"),
        document_id: doc,
        data: msg.encode(),
    }
}

/// Pumps `peer` until it got a `rejected` notice for each of `docs`; returns their reasons.
async fn rejected_all(peer: &mut TestPeer, docs: &[DocumentId]) -> anyhow::Result<Vec<String>> {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let reasons: Vec<Option<String>> = docs
            .iter()
            .map(|d| {
                peer.ephemeral
                    .iter()
                    .filter(|(doc, _, _)| doc == d)
                    .find_map(|(_, _, data)| decode_rejected(data).map(|r| r.reason))
            })
            .collect();
        if reasons.iter().all(Option::is_some) {
            return Ok(reasons.into_iter().flatten().collect());
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "not every bomb was refused: {reasons:?}");
        peer.pump_one(Duration::from_millis(200)).await?;
    }
}

#[tokio::test]
async fn a_decompression_bomb_is_refused_before_it_costs_memory_or_disk() -> anyhow::Result<()> {
    let c = Community::start_with_admin(&[]).await?;
    let (ta, _) = c.login_full(ALICE).await?;
    let (tadmin, _) = c.login_full(ADMIN).await?;
    let mut alice = TestPeer::new("alice");
    alice.connect(&c.server.ws_url(&ta)).await?;

    // Three saved documents of 32 MiB each, and a compressed change of 16 MiB.
    let mut messages = Vec::new();
    let mut docs = Vec::new();
    let mut sent = 0;
    for _ in 0..3 {
        let mut bomb = bomb_doc(32 << 20);
        let saved = bomb.save();
        assert!(saved.len() < 64 * 1024, "the saved bomb is {} bytes", saved.len());
        sent += saved.len();
        let doc = DocumentId::random();
        messages.push(sync_carrying(&alice, doc, bomb.get_heads(), saved));
        docs.push(doc);
    }
    let mut bomb = bomb_doc(16 << 20);
    let mut change = bomb.get_last_local_change().expect("a change");
    let compressed = change.bytes().into_owned();
    assert!(compressed.len() < 64 * 1024, "the compressed change is {} bytes", compressed.len());
    sent += compressed.len();
    let doc = DocumentId::random();
    messages.push(sync_carrying(&alice, doc, bomb.get_heads(), compressed));
    docs.push(doc);
    drop(bomb);

    let disk_before = dir_size(&c.data_dir());
    c.server.reset_peak_memory()?;
    let before = c.server.memory()?;
    for m in &messages {
        assert!(alice.send_message(m).await, "sent");
    }
    let reasons = rejected_all(&mut alice, &docs).await?;
    let after = c.server.memory()?;
    let grew = after.peak.saturating_sub(before.rss);
    eprintln!(
        "{sent} bytes of bombs (inflating to 112 MiB): server peak +{:.1} MiB, disk +{:.1} MiB",
        grew as f64 / MIB as f64,
        dir_size(&c.data_dir()).saturating_sub(disk_before) as f64 / MIB as f64
    );
    for r in &reasons[..3] {
        assert!(r.contains("max_document_bytes"), "{r}");
    }
    assert!(reasons[3].contains("max_change_bytes"), "{}", reasons[3]);
    assert!(grew < 24 * MIB, "the server's peak memory grew by {} MiB for {sent} bytes of bombs", grew / MIB);
    assert!(
        dir_size(&c.data_dir()).saturating_sub(disk_before) < 4 * MIB,
        "the store grew by more than 4 MiB for refused bombs"
    );

    // The quarantine says who, when and why, and keeps no bytes.
    let q = api::get(&c.server, &tadmin, "/api/quarantine").await?;
    assert_eq!(q.status, 200);
    assert!(q.body.len() < 16 * 1024, "GET /api/quarantine answered {} bytes", q.body.len());
    let entries = q.json()["entries"].as_array().cloned().unwrap_or_default();
    for d in &docs {
        let e = entries.iter().find(|e| e["doc"] == d.to_string()).expect("a quarantine entry per bomb");
        assert_eq!(e["code"], "too_big");
        assert!(
            e["changes"].as_array().is_some_and(Vec::is_empty),
            "{} raw changes kept",
            e["changes"].as_array().map_or(0, Vec::len)
        );
        assert!(e["dropped"].is_string(), "{}", e["code"]);
    }

    // The connection still works for honest documents.
    let h = create(&mut alice, household("g1", "902"));
    assert_eq!(push_change(&mut alice, &h, T).await?, Outcome::Accepted);
    Ok(())
}

/// Run-length encoding is a bomb of its own: a saved document of a few hundred bytes
/// declaring 30,000 operations cost the server 12 MiB once Automerge built them. The
/// server counts the operations from the runs, without expanding them, and refuses the
/// message over `max_message_ops`.
#[tokio::test]
async fn a_run_length_bomb_is_refused_by_its_operation_count() -> anyhow::Result<()> {
    let c = Community::start(&["--max-message-ops", "5000"]).await?;
    let (ta, _) = c.login_full(ALICE).await?;
    let mut counter = AutoCommit::new();
    counter.put(ROOT, "c", automerge::ScalarValue::counter(0))?;
    for _ in 0..30_000 {
        counter.increment(ROOT, "c", 1)?;
    }
    let saved = counter.save();
    assert!(saved.len() < 1024, "30,000 operations in {} bytes", saved.len());
    let mut alice = TestPeer::new("alice");
    alice.connect(&c.server.ws_url(&ta)).await?;
    let doc = DocumentId::random();
    c.server.reset_peak_memory()?;
    let before = c.server.memory()?;
    assert!(alice.send_message(&sync_carrying(&alice, doc, counter.get_heads(), saved)).await);
    let reasons = rejected_all(&mut alice, &[doc]).await?;
    let grew = c.server.memory()?.peak.saturating_sub(before.rss);
    eprintln!("30,000 run-length encoded operations: server peak +{:.1} MiB", grew as f64 / MIB as f64);
    assert!(reasons[0].contains("max_message_ops"), "{}", reasons[0]);
    assert!(grew < 6 * MIB, "the server's peak memory grew by {} MiB", grew / MIB);
    Ok(())
}

/// A refused change too big to keep (a 300 KB note: within the change limit, far over the
/// schema's) leaves its hashes and the reason, not its bytes; the quarantine comes in pages.
#[tokio::test]
async fn the_quarantine_keeps_big_refusals_as_hashes_and_answers_in_pages() -> anyhow::Result<()> {
    let c = Community::start_with_admin(&[]).await?;
    let (ta, _) = c.login_full(ALICE).await?;
    let (tadmin, _) = c.login_full(ADMIN).await?;
    let mut alice = TestPeer::new("alice");
    alice.connect(&c.server.ws_url(&ta)).await?;
    let big = create(&mut alice, household("g1", "903"));
    alice.doc(&big).put(ROOT, "notes", "长".repeat(100_000))?;
    let small_doc = alice.create();
    alice.doc(&small_doc).put(ROOT, "kind", "household")?;
    alice.doc(&small_doc).put(ROOT, "nickname", "not in the schema")?;
    for d in [big, small_doc] {
        assert!(matches!(push_change(&mut alice, &d, T).await?, Outcome::Rejected(_)), "{d} is refused");
    }

    let first = api::get_ok(&c.server, &tadmin, "/api/quarantine?limit=1").await?;
    let page1 = first["entries"].as_array().cloned().unwrap_or_default();
    assert_eq!(page1.len(), 1, "a page of one entry");
    let next = first["next"].as_str().expect("a cursor to the next page").to_owned();
    let second =
        api::get_ok(&c.server, &tadmin, &format!("/api/quarantine?limit=1&before={}", api::encode_segment(&next)))
            .await?;
    let page2 = second["entries"].as_array().cloned().unwrap_or_default();
    assert_eq!(page2.len(), 1, "a second page of one entry");
    assert_ne!(page1[0]["id"], page2[0]["id"]);
    let bad = api::get(&c.server, &tadmin, "/api/quarantine?before=nonsense").await?;
    assert_eq!(bad.status, 400, "{}", bad.body);

    let all = api::quarantine(&c.server, &tadmin).await?;
    let of = |d: &DocumentId| all.iter().find(|e| e["doc"] == d.to_string()).cloned().expect("an entry");
    let (b, s) = (of(&big), of(&small_doc));
    assert!(b["changes"].as_array().is_some_and(Vec::is_empty), "the 300 KB change is not kept: {}", b["dropped"]);
    assert!(b["dropped"].as_str().is_some_and(|d| d.contains("quarantine_entry_bytes")), "{}", b["dropped"]);
    assert!(!b["hashes"].as_array().is_some_and(Vec::is_empty), "its hashes are kept");
    assert!(b["reason"].as_str().is_some_and(|r| r.contains("notes")), "{}", b["reason"]);
    assert!(s["changes"].as_array().is_some_and(|c| !c.is_empty()), "a small refusal keeps its changes");
    assert!(s["dropped"].is_null(), "{}", s["dropped"]);
    Ok(())
}

/// Bytes of every file under `dir`.
fn dir_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
