//! Basic sync through the real server: create, fetch, concurrent edits, unavailable ids.

use automerge::transaction::Transactable;
use automerge::{ReadDoc, ROOT};
use linli_tests::server::{ALICE, BOB};
use linli_tests::{Community, TestPeer};
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

#[tokio::test]
async fn two_peers_converge_through_the_server() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let (ta, tb) = (c.token(ALICE).await?, c.token(BOB).await?);
    let mut alice = TestPeer::new("alice");
    let mut bob = TestPeer::new("bob");
    alice.connect(&c.server.ws_url(&ta)).await?;
    bob.connect(&c.server.ws_url(&tb)).await?;

    let id = alice.create();
    alice.doc(&id).put(ROOT, "kind", "task")?;
    alice.doc(&id).put(ROOT, "status", "new")?;
    alice.sync_all(T).await?;

    bob.want(id);
    bob.sync_all(T).await?;
    assert_eq!(bob.heads(&id), alice.heads(&id));
    let (status, _) = bob.doc(&id).get(ROOT, "status")?.expect("status");
    assert_eq!(status.as_str(), Some("new"));

    // Concurrent edits on both sides converge.
    bob.doc(&id).put(ROOT, "note", "到门口了")?;
    alice.doc(&id).put(ROOT, "status", "assigned")?;
    bob.sync_all(T).await?;
    alice.sync_all(T).await?;
    let merged = alice.heads(&id);
    bob.sync_until_heads(&id, &merged, T).await?;
    assert!(bob.doc(&id).get(ROOT, "status")?.is_some());
    assert!(alice.doc(&id).get(ROOT, "note")?.is_some());
    Ok(())
}

#[tokio::test]
async fn a_document_nobody_created_is_unavailable() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let mut bob = TestPeer::new("bob");
    bob.connect(&c.server.ws_url(&c.token(BOB).await?)).await?;
    let id = linli_shared::DocumentId::random();
    bob.want(id);
    bob.sync_all(T).await?;
    assert!(bob.docs[&id].unavailable, "expected doc-unavailable");
    Ok(())
}
