//! Server-authored documents (issue 3 item 3, DESIGN §3–4): every user's `inbox` and every
//! grid's `grid-index` follow assignments and statuses, so a phone learns its work by
//! syncing; a volunteer's reach (task and household, an episode's readings) ends with the
//! assignment.

use linli_shared::DocumentId;
use linli_tests::api;
use linli_tests::domain::{create, episode, household, now_ms, read, set, task, write};
use linli_tests::outcome::{fetch, push_change, wait_for_doc};
use linli_tests::server::{ALICE, BOB, ERIN, FRANK};
use linli_tests::{Community, TestPeer};
use serde_json::{json, Value};
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

/// The assignee's phone moves task `t` from assigned to delivered (three moves made
/// offline, synced at once); returns its heads after the change.
async fn deliver(phone: &mut TestPeer, t: &DocumentId, user_id: &str) -> anyhow::Result<Vec<automerge::ChangeHash>> {
    phone.want(*t);
    phone.sync_all(T).await?;
    let mut v = read(phone.doc(t));
    let moves = [("assigned", "accepted"), ("accepted", "picked_up"), ("picked_up", "delivered")];
    v["log"] = json!(moves
        .iter()
        .map(|(from, to)| json!({"at": now_ms(), "by": user_id, "from": from, "to": to, "note": ""}))
        .collect::<Vec<_>>());
    v["status"] = json!("delivered");
    write(phone.doc(t), v);
    let heads = phone.heads(t);
    // Let the server decide (merged, or the phone is told the task is no longer its).
    let _ = push_change(phone, t, T).await?;
    Ok(heads)
}

fn row<'a>(v: &'a Value, id: &DocumentId) -> Option<&'a Value> {
    v["docs"].get(id.to_string())
}

#[tokio::test]
async fn inboxes_and_grid_indexes_follow_assignments() -> anyhow::Result<()> {
    let c = Community::start(&["--index-flush-ms", "50"]).await?;
    let (ta, alice_id) = c.login_full(ALICE).await?;
    let (tb, bob_id) = c.login_full(BOB).await?;
    let (te, erin_id) = c.login_full(ERIN).await?;
    let (tf, frank_id) = c.login_full(FRANK).await?;
    let s = &c.server;
    let (alice_url, bob_url, erin_url) = (s.ws_url(&ta), s.ws_url(&tb), s.ws_url(&te));
    let bob_inbox = api::inbox_of(s, &tb).await?;
    let erin_inbox = api::inbox_of(s, &te).await?;
    let g1_index = api::index_of(s, &ta, "g1").await?;
    let g2_index = api::index_of(s, &tf, "g2").await?;
    let me = api::me(s, &tb).await?;
    assert!(me["grids"][0].get("index").is_none(), "a volunteer is given the grid index: {me}");

    // Alice assigns a delivery to bob.
    let mut alice = TestPeer::new("alice");
    alice.connect(&alice_url).await?;
    let h = create(&mut alice, household("g1", "601"));
    let t = create(&mut alice, task("g1", &h, Some(&bob_id), &alice_id));
    alice.sync_all(T).await?;

    let inbox = wait_for_doc(&bob_url, &bob_inbox, T, |v| row(v, &t).is_some()).await?;
    let r = row(&inbox, &t).expect("listed");
    assert_eq!(inbox["user"], json!(bob_id));
    assert_eq!(
        (r["kind"].clone(), r["status"].clone(), r["assignee"].clone()),
        (json!("task"), json!("assigned"), json!(bob_id))
    );
    assert_eq!(r["household"], json!(h.to_string()));
    assert_eq!(r["title"], "food", "the row shows the kind of work: no address, no names");
    let index = wait_for_doc(&alice_url, &g1_index, T, |v| row(v, &t).is_some() && row(v, &h).is_some()).await?;
    assert_eq!(row(&index, &t).expect("listed")["assignee"], json!(bob_id));
    // Every household of the grid is listed too, by address only (coordinators' phones
    // hold them all); a volunteer's inbox does not list households.
    let hr = row(&index, &h).expect("household listed");
    assert_eq!((hr["kind"].clone(), hr["title"].clone()), (json!("household"), json!("3-2-601")), "{hr}");
    assert_eq!(hr.as_object().map(|o| o.get("assignee").is_none_or(Value::is_null)), Some(true), "{hr}");
    assert!(row(&inbox, &h).is_none(), "a household in a volunteer's inbox");
    // A new address reaches the row (other edits of the household leave it as it is).
    set(&mut alice, &h, "room", json!("611"));
    alice.sync_all(T).await?;
    wait_for_doc(&alice_url, &g1_index, T, |v| row(v, &h).is_some_and(|r| r["title"] == "3-2-611")).await?;

    // Bob's phone learns its work by syncing: the inbox, then every document it lists.
    let mut bob = TestPeer::new("bob");
    bob.connect(&bob_url).await?;
    bob.want(bob_inbox);
    bob.sync_all(T).await?;
    let listed = read(bob.doc(&bob_inbox));
    for (id, r) in listed["docs"].as_object().expect("docs") {
        bob.want(id.parse()?);
        bob.want(r["household"].as_str().expect("household").parse()?);
    }
    bob.sync_all(T).await?;
    assert_eq!(read(bob.doc(&t))["assignee"], json!(bob_id));
    assert_eq!(read(bob.doc(&h))["room"], "611");

    // Alice hands it to erin: it leaves bob's inbox and reach, and reaches erin's.
    alice.sync_all(T).await?;
    set(&mut alice, &t, "assignee", json!(erin_id));
    alice.sync_all(T).await?;
    wait_for_doc(&bob_url, &bob_inbox, T, |v| row(v, &t).is_none()).await?;
    let inbox = wait_for_doc(&erin_url, &erin_inbox, T, |v| row(v, &t).is_some()).await?;
    assert_eq!(row(&inbox, &t).expect("listed")["assignee"], json!(erin_id));
    let index =
        wait_for_doc(&alice_url, &g1_index, T, |v| row(v, &t).is_some_and(|r| r["assignee"] == json!(erin_id))).await?;
    assert_eq!(row(&index, &t).expect("listed")["status"], "assigned");
    assert!(!fetch(&bob_url, &t, T).await?.available(), "bob can still fetch the reassigned task");
    assert!(!fetch(&bob_url, &h, T).await?.available(), "bob can still fetch the household");
    assert!(fetch(&erin_url, &t, T).await?.available(), "erin cannot fetch her task");
    assert!(fetch(&erin_url, &h, T).await?.available(), "erin cannot fetch its household");
    // Bob's open connection is told too.
    let deadline = tokio::time::Instant::now() + T;
    while !(bob.docs[&t].unavailable && bob.docs[&h].unavailable) && tokio::time::Instant::now() < deadline {
        bob.pump_one(Duration::from_millis(100)).await?;
    }
    assert!(
        bob.docs[&t].unavailable && bob.docs[&h].unavailable,
        "bob's open phone keeps receiving the task or household"
    );

    // Erin delivers it (offline moves, synced at once): the grid index shows it delivered,
    // and the address leaves her reach. (Whether her phone gets the acknowledgment is
    // `the_volunteer_who_delivers_gets_the_acknowledgment`.)
    let mut erin = TestPeer::new("erin");
    erin.connect(&erin_url).await?;
    let heads = deliver(&mut erin, &t, &erin_id).await?;
    let mut canon = fetch(&alice_url, &t, T).await?;
    assert!(heads.iter().all(|h| canon.has_change(h)), "erin's delivery was not merged");
    assert_eq!(canon.value()["status"], "delivered");
    wait_for_doc(&alice_url, &g1_index, T, |v| row(v, &t).is_some_and(|r| r["status"] == "delivered")).await?;
    assert!(!fetch(&erin_url, &h, T).await?.available(), "erin keeps the address of a delivered task");
    assert!(!fetch(&erin_url, &t, T).await?.available(), "erin keeps a delivered task");

    // A task of g2 is listed in g2's index, never in g1's.
    let mut frank = TestPeer::new("frank");
    frank.connect(&s.ws_url(&tf)).await?;
    let h2 = create(&mut frank, household("g2", "602"));
    let t2 = create(&mut frank, task("g2", &h2, None, &frank_id));
    frank.sync_all(T).await?;
    wait_for_doc(&s.ws_url(&tf), &g2_index, T, |v| row(v, &t2).is_some()).await?;
    let index = fetch(&alice_url, &g1_index, T).await?.value();
    assert!(row(&index, &t2).is_none(), "g2's task is listed in g1's index");
    assert!(row(&index, &h2).is_none(), "g2's household is listed in g1's index");
    assert!(row(&wait_for_doc(&s.ws_url(&tf), &g2_index, T, |v| row(v, &h2).is_some()).await?, &h2).is_some());
    assert!(row(&index, &t).is_some());
    assert!(!fetch(&alice_url, &g2_index, T).await?.available(), "alice reads g2's index");
    Ok(())
}

/// DESIGN §2: a change is acknowledged when the server's sync reply carries heads that
/// include it. The change that completes a volunteer's task also ends their right to read
/// it; the acknowledgment must still reach the phone, or it cannot know its delivery
/// arrived.
#[tokio::test]
async fn the_volunteer_who_delivers_gets_the_acknowledgment() -> anyhow::Result<()> {
    let c = Community::start(&["--index-flush-ms", "50"]).await?;
    let (ta, alice_id) = c.login_full(ALICE).await?;
    let (tb, bob_id) = c.login_full(BOB).await?;
    let mut alice = TestPeer::new("alice");
    alice.connect(&c.server.ws_url(&ta)).await?;
    let h = create(&mut alice, household("g1", "603"));
    let t = create(&mut alice, task("g1", &h, Some(&bob_id), &alice_id));
    alice.sync_all(T).await?;
    let mut bob = TestPeer::new("bob");
    bob.connect(&c.server.ws_url(&tb)).await?;
    let heads = deliver(&mut bob, &t, &bob_id).await?;
    let mut canon = fetch(&c.server.ws_url(&ta), &t, T).await?;
    assert!(heads.iter().all(|h| canon.has_change(h)), "the delivery was not merged");
    let mut acked = bob.acked.get(&t).cloned().unwrap_or_default();
    let mut ours = heads.clone();
    acked.sort();
    ours.sort();
    assert_eq!(
        acked, ours,
        "the server merged and stored bob's delivery but never acknowledged it (unavailable: {})",
        bob.docs[&t].unavailable
    );
    Ok(())
}

/// An episode's readings (DESIGN §9) are listed beside it in its volunteer's inbox, so the
/// phone learns both by syncing, and never in the grid index, which coordinators read:
/// the grid index lists the episode alone. Handing the episode over moves both rows, and
/// the readings leave the first volunteer's reach with the episode.
#[tokio::test]
async fn an_episode_s_readings_follow_it_into_the_volunteer_s_inbox_only() -> anyhow::Result<()> {
    let c = Community::start(&["--index-flush-ms", "50"]).await?;
    let (ta, _) = c.login_full(ALICE).await?;
    let (tb, bob_id) = c.login_full(BOB).await?;
    let (te, erin_id) = c.login_full(ERIN).await?;
    let s = &c.server;
    let (alice_url, bob_url, erin_url) = (s.ws_url(&ta), s.ws_url(&tb), s.ws_url(&te));
    let bob_inbox = api::inbox_of(s, &tb).await?;
    let erin_inbox = api::inbox_of(s, &te).await?;
    let g1_index = api::index_of(s, &ta, "g1").await?;

    let mut alice = TestPeer::new("alice");
    alice.connect(&alice_url).await?;
    let h = create(&mut alice, household("g1", "604"));
    let e = create(&mut alice, episode("g1", &h, Some(&bob_id)));
    alice.sync_all(T).await?;
    let linked = wait_for_doc(&alice_url, &e, T, |v| v["readings"].is_string()).await?;
    let r: DocumentId = linked["readings"].as_str().expect("linked").parse()?;

    let inbox = wait_for_doc(&bob_url, &bob_inbox, T, |v| row(v, &e).is_some() && row(v, &r).is_some()).await?;
    let rr = row(&inbox, &r).expect("listed");
    assert_eq!(
        (rr["kind"].clone(), rr["status"].clone(), rr["assignee"].clone()),
        (json!("readings"), json!("active"), json!(bob_id)),
        "{rr}"
    );
    assert_eq!(rr["household"], json!(h.to_string()), "{rr}");
    assert_eq!(row(&inbox, &e).expect("listed")["kind"], "episode");
    let index = wait_for_doc(&alice_url, &g1_index, T, |v| row(v, &e).is_some()).await?;
    assert!(row(&index, &r).is_none(), "the readings are listed in the grid index: {index}");
    assert!(fetch(&bob_url, &r, T).await?.available(), "bob cannot fetch the readings of his episode");

    // Alice hands the episode to erin: both rows move, and bob loses the readings.
    alice.sync_all(T).await?;
    set(&mut alice, &e, "assignee", json!(erin_id));
    alice.sync_all(T).await?;
    let inbox = wait_for_doc(&erin_url, &erin_inbox, T, |v| row(v, &e).is_some() && row(v, &r).is_some()).await?;
    assert_eq!(row(&inbox, &r).expect("listed")["assignee"], json!(erin_id));
    wait_for_doc(&bob_url, &bob_inbox, T, |v| row(v, &e).is_none() && row(v, &r).is_none()).await?;
    let deadline = tokio::time::Instant::now() + T;
    while fetch(&bob_url, &r, T).await?.available() {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "bob still reads the readings of a reassigned episode");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(fetch(&erin_url, &r, T).await?.available(), "erin cannot fetch the readings of her episode");
    let index = fetch(&alice_url, &g1_index, T).await?.value();
    assert!(row(&index, &e).is_some() && row(&index, &r).is_none(), "{index}");
    Ok(())
}
