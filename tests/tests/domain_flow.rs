//! The coordinator → volunteer flow through the real server (DESIGN §3–5): a coordinator
//! registers a household and assigns a delivery; the volunteer learns of it through the
//! inbox the server writes, delivers it offline and reconnects; the coordinator's copy,
//! the dashboard and the grid index show it delivered. And a volunteer reads a household
//! only while assigned to work there.

use linli_shared::DocumentId;
use linli_tests::domain::{
    acknowledged, api_get, create, doc_id, household, login, move_task, read, rejections, sync_until, task,
};
use linli_tests::server::{ALICE, BOB, ERIN};
use linli_tests::{Community, ServerProcess, TestPeer};
use serde_json::Value;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// Whether `who` (a fresh peer, as after a reinstall) can get document `id` now.
async fn can_find(server: &ServerProcess, token: &str, who: &str, id: DocumentId) -> anyhow::Result<bool> {
    let mut p = TestPeer::new(&format!("{who}-probe-{}", rand_suffix()));
    p.connect(&server.ws_url(token)).await?;
    p.want(id);
    p.sync_all(T).await?;
    Ok(!p.docs[&id].unavailable && !p.heads(&id).is_empty())
}

fn rand_suffix() -> u32 {
    rand::random::<u32>()
}

/// Polls [`can_find`] until it answers `want`, within `within` (the server's access
/// facts for households are updated by its batched projector).
async fn until_can_find(
    server: &ServerProcess,
    token: &str,
    who: &str,
    id: DocumentId,
    want: bool,
    within: Duration,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if can_find(server, token, who, id).await? == want {
            return Ok(());
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{who} {} find {id} after {within:?}",
            if want { "still cannot" } else { "can still" }
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_volunteer_delivers_an_assigned_task_offline_and_the_coordinator_sees_it() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let s = &c.server;
    let (ta, alice_id) = login(s, ALICE).await?;
    let (tb, bob_id) = login(s, BOB).await?;

    // Where each looks for work: bob's inbox; alice's grid index.
    let bob_me = api_get(s, &tb, "/api/me").await?;
    let inbox = doc_id(bob_me["inbox"].as_str().expect("an inbox url"));
    assert!(bob_me["grids"][0].get("index").is_none_or(Value::is_null), "a volunteer got a grid index: {bob_me}");
    let alice_me = api_get(s, &ta, "/api/me").await?;
    let g1 = alice_me["grids"].as_array().expect("grids").iter().find(|g| g["id"] == "g1").expect("g1").clone();
    let index = doc_id(g1["index"].as_str().expect("an index url"));

    // The coordinator registers a household and assigns a delivery to bob.
    let mut alice = TestPeer::new("alice");
    alice.connect(&s.ws_url(&ta)).await?;
    let hh = create(&mut alice, household("g1", "501"));
    let t = create(&mut alice, task("g1", &hh, Some(&bob_id), &alice_id));
    alice.sync_all(T).await?;
    assert!(acknowledged(&mut alice, &hh) && acknowledged(&mut alice, &t), "alice's documents were not acknowledged");
    assert!(alice.ephemeral.is_empty(), "alice's documents were refused: {:?}", rejections(&alice, &t));

    // The volunteer's phone opens its inbox and finds the task listed there.
    let mut bob = TestPeer::new("bob");
    bob.connect(&s.ws_url(&tb)).await?;
    let key = t.to_string();
    let listed = sync_until(&mut bob, &inbox, T, |v| v["docs"].get(&key).is_some()).await?;
    let row = &listed["docs"][&key];
    assert_eq!(row["kind"], "task", "{listed}");
    assert_eq!(row["status"], "assigned", "{listed}");
    assert_eq!(row["assignee"], bob_id.as_str(), "{listed}");
    assert_eq!(listed["user"], bob_id.as_str(), "{listed}");

    // It finds the task, and the household the task refers to.
    bob.want(t);
    bob.sync_all(T).await?;
    assert!(!bob.docs[&t].unavailable, "bob cannot find the task assigned to him");
    assert_eq!(read(bob.doc(&t)), read(alice.doc(&t)));
    let hh_in_task = doc_id(read(bob.doc(&t))["household"].as_str().expect("a household id"));
    assert_eq!(hh_in_task, hh);
    // (Access to households follows the server's batched projection of the assignment.)
    until_can_find(s, &tb, "bob", hh, true, Duration::from_secs(5)).await?;
    bob.want(hh);
    bob.sync_all(T).await?;
    assert!(!bob.docs[&hh].unavailable, "bob cannot find the household of his task");
    assert_eq!(read(bob.doc(&hh))["room"], "501");

    // Offline: accepted → picked up → delivered, each move logged and signed by bob.
    bob.disconnect();
    for to in ["accepted", "picked_up", "delivered"] {
        move_task(&mut bob, &t, &bob_id, to);
    }
    let offline = read(bob.doc(&t));
    assert_eq!(offline["log"].as_array().map(Vec::len), Some(3));

    // Back online: the whole offline batch is accepted.
    bob.connect(&s.ws_url(&tb)).await?;
    bob.sync_all(T).await?;
    assert!(bob.ephemeral.is_empty(), "bob's delivery was refused: {:?}\n{}", rejections(&bob, &t), s.log());

    // The coordinator's copy shows it delivered, with bob's log.
    let seen = sync_until(&mut alice, &t, T, |v| v["status"] == "delivered").await?;
    assert_eq!(seen, offline, "alice's copy differs from what bob delivered");
    let log = seen["log"].as_array().expect("log");
    let moves: Vec<(&str, &str)> =
        log.iter().map(|e| (e["from"].as_str().unwrap_or(""), e["to"].as_str().unwrap_or(""))).collect();
    assert_eq!(moves, [("assigned", "accepted"), ("accepted", "picked_up"), ("picked_up", "delivered")]);
    assert!(log.iter().all(|e| e["by"] == bob_id.as_str()));

    // The dashboard counts it…
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let dash = api_get(s, &ta, "/api/grids/g1/dashboard").await?;
        if dash["tasks"]["delivered"].as_u64().unwrap_or(0) >= 1 {
            assert_eq!(dash["tasks"]["assigned"].as_u64().unwrap_or(0), 0, "{dash}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the dashboard does not count the delivery: {dash}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // …and the grid index lists it delivered.
    let listed = sync_until(&mut alice, &index, T, |v| v["docs"][&key]["status"] == "delivered").await?;
    assert_eq!(listed["docs"][&key]["kind"], "task");
    assert_eq!(listed["docs"][&key]["assignee"], bob_id.as_str());
    assert_eq!(listed["grid"], "g1");

    // Bob's phone learns the delivery reached the server from his inbox. (The sync-level
    // acknowledgement is checked in `the_change_that_closes_a_task_is_acknowledged`.)
    let mine = sync_until(&mut bob, &inbox, T, |v| v["docs"][&key]["status"] == "delivered").await?;
    assert_eq!(mine["docs"][&key]["assignee"], bob_id.as_str());

    // Done: the task and its household are out of bob's reach (DESIGN §4, "only while
    // assigned").
    until_can_find(s, &tb, "bob", t, false, T).await?;
    until_can_find(s, &tb, "bob", hh, false, T).await?;
    Ok(())
}

#[tokio::test]
async fn a_volunteer_finds_a_household_only_once_assigned_to_it() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let s = &c.server;
    let (ta, alice_id) = login(s, ALICE).await?;
    let (tb, bob_id) = login(s, BOB).await?;
    let (te, _) = login(s, ERIN).await?;

    let mut alice = TestPeer::new("alice");
    alice.connect(&s.ws_url(&ta)).await?;
    let hh = create(&mut alice, household("g1", "502"));
    alice.sync_all(T).await?;
    assert!(acknowledged(&mut alice, &hh));

    // Not assigned: the household is unavailable to bob (as if it did not exist).
    assert!(!can_find(s, &tb, "bob", hh).await?, "bob found a household he has no work in");

    // Assigned: bob may read it, once the server has taken in the assignment.
    let t = create(&mut alice, task("g1", &hh, Some(&bob_id), &alice_id));
    alice.sync_all(T).await?;
    assert!(acknowledged(&mut alice, &t), "the task was not acknowledged: {:?}", rejections(&alice, &t));
    until_can_find(s, &tb, "bob", hh, true, Duration::from_secs(5)).await?;
    assert!(can_find(s, &tb, "bob", t).await?, "bob cannot find the task assigned to him");

    // Another volunteer of the same grid still may not.
    assert!(!can_find(s, &te, "erin", hh).await?, "erin found a household she has no work in");
    assert!(!can_find(s, &te, "erin", t).await?, "erin found a task assigned to bob");
    Ok(())
}

/// DESIGN §2: "a change is acknowledged when the server's sync reply carries heads that
/// include it". The volunteer's change that delivers a task also ends their right to read
/// it (§4); the reply acknowledging it must still reach them before `doc-unavailable`,
/// or their phone cannot tell a stored delivery from a lost one.
#[tokio::test]
async fn the_change_that_closes_a_task_is_acknowledged() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let s = &c.server;
    let (ta, alice_id) = login(s, ALICE).await?;
    let (tb, bob_id) = login(s, BOB).await?;
    let mut alice = TestPeer::new("alice");
    alice.connect(&s.ws_url(&ta)).await?;
    let hh = create(&mut alice, household("g1", "503"));
    let t = create(&mut alice, task("g1", &hh, Some(&bob_id), &alice_id));
    alice.sync_all(T).await?;

    let mut bob = TestPeer::new("bob");
    bob.connect(&s.ws_url(&tb)).await?;
    bob.want(t);
    bob.sync_all(T).await?;
    assert!(!bob.docs[&t].unavailable, "bob cannot find the task assigned to him");
    // Online, move by move: each move is acknowledged…
    for to in ["accepted", "picked_up"] {
        move_task(&mut bob, &t, &bob_id, to);
        bob.sync_all(T).await?;
        assert!(acknowledged(&mut bob, &t), "`{to}` was not acknowledged");
    }
    // …and so is the last one, which closes the task.
    move_task(&mut bob, &t, &bob_id, "delivered");
    let _ = bob.sync_all(T).await;
    let stored = sync_until(&mut alice, &t, T, |v| v["status"] == "delivered").await?;
    assert_eq!(stored["status"], "delivered", "the server did not take the delivery");
    assert!(
        acknowledged(&mut bob, &t),
        "the server stored bob's delivery but never acknowledged it (bob got doc-unavailable: {})",
        bob.docs[&t].unavailable
    );
    Ok(())
}
