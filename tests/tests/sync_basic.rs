//! Basic sync through the real server: create, fetch, concurrent edits, unavailable ids.

use linli_tests::domain::{create, household, read, set};
use linli_tests::server::{ALICE, BOB, CAROL};
use linli_tests::{Community, TestPeer};
use serde_json::json;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

#[tokio::test]
async fn two_coordinators_converge_through_the_server() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let (ta, tc) = (c.token(ALICE).await?, c.token(CAROL).await?);
    let mut alice = TestPeer::new("alice");
    let mut carol = TestPeer::new("carol");
    alice.connect(&c.server.ws_url(&ta)).await?;
    carol.connect(&c.server.ws_url(&tc)).await?;

    let id = create(&mut alice, household("g1", "501"));
    alice.sync_all(T).await?;

    carol.want(id);
    carol.sync_all(T).await?;
    assert_eq!(carol.heads(&id), alice.heads(&id));
    assert_eq!(read(carol.doc(&id))["room"], "501");

    // Concurrent edits of different fields on both sides converge.
    set(&mut carol, &id, "notes", json!("到门口了"));
    set(&mut alice, &id, "phone", json!("13900000000"));
    carol.sync_all(T).await?;
    alice.sync_all(T).await?;
    let merged = alice.heads(&id);
    carol.sync_until_heads(&id, &merged, T).await?;
    let (a, b) = (read(alice.doc(&id)), read(carol.doc(&id)));
    assert_eq!(a, b);
    assert_eq!(a["notes"], "到门口了");
    assert_eq!(a["phone"], "13900000000");
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
