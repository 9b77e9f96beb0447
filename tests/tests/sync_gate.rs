//! Hostile phones at the sync gate (issue 9, items 4 and 6): who may send and receive a
//! document's ephemeral messages, and a change that ends a reader's access never reaching
//! that reader.

use linli_shared::{DocumentId, Message, PeerId};
use linli_tests::domain::{create, household, read, task, write};
use linli_tests::server::{ALICE, BOB, ERIN, FRANK};
use linli_tests::{Community, TestPeer};
use serde_json::json;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

/// A CBOR map of text keys and text values, as an app's ephemeral data.
fn cbor_map(entries: &[(&str, &str)]) -> Vec<u8> {
    fn text(out: &mut Vec<u8>, s: &str) {
        assert!(s.len() < 24, "short strings only");
        out.push(0x60 | s.len() as u8);
        out.extend(s.as_bytes());
    }
    let mut out = vec![0xa0 | entries.len() as u8];
    for (k, v) in entries {
        text(&mut out, k);
        text(&mut out, v);
    }
    out
}

fn ephemeral(from: &TestPeer, doc: DocumentId, count: u64, data: Vec<u8>) -> Message {
    Message::Ephemeral {
        sender_id: from.peer_id.clone(),
        target_id: PeerId::new("server").expect("peer id"),
        document_id: doc,
        session_id: format!("{}-session", from.peer_id),
        count,
        data,
    }
}

/// Pumps `peer` until it has received an ephemeral message on `doc` whose data is `want`;
/// returns the data of every ephemeral message it received on `doc`.
async fn until_ephemeral(peer: &mut TestPeer, doc: DocumentId, want: &[u8]) -> anyhow::Result<Vec<Vec<u8>>> {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let got: Vec<Vec<u8>> =
            peer.ephemeral.iter().filter(|(d, _, _)| *d == doc).map(|(_, _, data)| data.clone()).collect();
        if got.iter().any(|d| d == want) {
            return Ok(got);
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "no ephemeral {want:?} within {T:?}; got {got:?}");
        peer.pump_one(Duration::from_millis(100)).await?;
    }
}

/// A community where alice (coordinator) created a household and a task assigned to bob,
/// and bob's phone holds the task.
struct Assigned {
    c: Community,
    alice: TestPeer,
    bob: TestPeer,
    task: DocumentId,
}

async fn assigned_task() -> anyhow::Result<Assigned> {
    let c = Community::start(&[]).await?;
    let (ta, alice_id) = c.login_full(ALICE).await?;
    let (tb, bob_id) = c.login_full(BOB).await?;
    let mut alice = TestPeer::new("alice");
    alice.connect(&c.server.ws_url(&ta)).await?;
    let h = create(&mut alice, household("g1", "101"));
    let task = create(&mut alice, task("g1", &h, Some(&bob_id), &alice_id));
    alice.sync_all(T).await?;
    let mut bob = TestPeer::new("bob");
    bob.connect(&c.server.ws_url(&tb)).await?;
    bob.want(task);
    bob.sync_all(T).await?;
    Ok(Assigned { c, alice, bob, task })
}

/// Item 4a: a peer that may not read a document cannot speak on it, and nobody but the
/// server may send a `linli` notice; the document's readers hear only legitimate messages.
#[tokio::test]
async fn only_readers_speak_on_a_document_and_the_linli_key_is_the_servers() -> anyhow::Result<()> {
    let Assigned { c, mut alice, mut bob, task: t, .. } = assigned_task().await?;
    let (tf, _) = c.login_full(FRANK).await?;

    // Frank (another grid) knows the task's id and speaks on it. His `request` after it
    // is answered only once the ephemeral message before it was handled.
    let mut frank = TestPeer::new("frank");
    frank.connect(&c.server.ws_url(&tf)).await?;
    let forged = cbor_map(&[("linli", "rejected"), ("reason", "frank says so")]);
    assert!(frank.send_message(&ephemeral(&frank, t, 1, cbor_map(&[("from", "frank")]))).await);
    assert!(frank.send_message(&ephemeral(&frank, t, 2, forged.clone())).await);
    frank.want(t);
    frank.sync_all(T).await?;
    assert!(frank.docs[&t].unavailable, "frank may not read the task");

    // Bob may read it, but may not send the server's notice; his presence goes through.
    assert!(bob.send_message(&ephemeral(&bob, t, 1, cbor_map(&[("linli", "rejected"), ("reason", "x")]))).await);
    let hello = cbor_map(&[("type", "heartbeat"), ("from", "bob")]);
    assert!(bob.send_message(&ephemeral(&bob, t, 2, hello.clone())).await);

    let heard = until_ephemeral(&mut alice, t, &hello).await?;
    assert_eq!(heard, vec![hello], "alice heard only bob's heartbeat");
    assert!(bob.is_connected() && frank.is_connected(), "dropping a message closes nobody");
    Ok(())
}

/// Item 6: a coordinator's one change reassigns a task away from bob and edits it. Bob gets
/// `doc-unavailable` and nothing of the change; alice gets her acknowledgement; erin, the new
/// assignee, gets the change.
#[tokio::test]
async fn the_change_that_removes_a_reader_never_reaches_that_reader() -> anyhow::Result<()> {
    let Assigned { c, mut alice, mut bob, task: t, .. } = assigned_task().await?;
    let (te, erin_id) = c.login_full(ERIN).await?;
    let before = bob.heads(&t);

    // One change: reassigned to erin, and the quantity changed.
    let mut v = read(alice.doc(&t));
    v["assignee"] = json!(erin_id);
    v["items"][0]["qty"] = json!(9);
    write(alice.doc(&t), v);
    let change = alice.heads(&t);
    alice.sync_all(T).await?;
    assert!(linli_tests::domain::acknowledged(&mut alice, &t), "the author is acknowledged");

    // Bob hears that the task is unavailable, and nothing before it.
    let deadline = tokio::time::Instant::now() + T;
    let mut synced = Vec::new();
    while !bob.docs[&t].unavailable {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        anyhow::ensure!(!left.is_zero(), "bob was not told the task is unavailable");
        if let Some(m) = bob.recv_message(left).await? {
            if let Message::Sync { document_id, data, .. } = &m {
                if *document_id == t {
                    synced.push(automerge::sync::Message::decode(data)?.changes.len());
                }
            }
            bob.apply_message(m)?;
        }
    }
    assert!(synced.iter().all(|&n| n == 0), "bob received changes of the task after losing it: {synced:?}");
    assert_eq!(bob.heads(&t), before, "bob's copy has nothing of alice's change");
    assert_eq!(read(bob.doc(&t))["items"][0]["qty"], json!(5.0));

    // Erin, the new assignee, reads it with the change.
    let mut erin = TestPeer::new("erin");
    erin.connect(&c.server.ws_url(&te)).await?;
    erin.want(t);
    erin.sync_all(T).await?;
    assert_eq!(erin.heads(&t), change);

    // And the document's ephemeral messages reach its readers only: erin, not bob.
    let hello = cbor_map(&[("type", "heartbeat"), ("from", "alice")]);
    assert!(alice.send_message(&ephemeral(&alice, t, 1, hello.clone())).await);
    until_ephemeral(&mut erin, t, &hello).await?;
    while bob.pump_one(Duration::from_millis(200)).await? {}
    assert!(bob.ephemeral.iter().all(|(d, _, _)| *d != t), "bob heard the task's ephemeral messages");
    Ok(())
}
