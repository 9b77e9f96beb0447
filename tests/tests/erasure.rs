//! Erasing a household (DESIGN §9): `POST /api/households/{id}/erase` (an administrator,
//! with the server running) and `linli erase --household` (the server stopped) erase the
//! household and every task and episode that names it, with the episodes' readings and
//! medical records — their histories, projections, alerts, quarantined changes, and the
//! server's lists that ever showed them — and a phone holding the old history cannot bring
//! any of it back. The proof is read from the store itself (a backup made afterwards), with
//! a control: the same search finds what another household planted, which was not erased.

use linli_shared::DocumentId;
use linli_tests::backup::{backup_entries, raw_finds, readable_text};
use linli_tests::domain::{checkin, checkin_key, create, episode, household, put_checkin, readings_of, set, task};
use linli_tests::outcome::{fetch, give_copy, push_change, Outcome};
use linli_tests::server::{linli_cli, ADMIN, ALICE, BOB, DAVE};
use linli_tests::{api, Community, TestPeer};
use serde_json::json;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

/// Planted in the household that is erased, its task and its episode…
const GONE_NAME: &str = "ERASE-NAME-4417";
const GONE_MEDICINE: &str = "ERASE-MEDICINE-4417";
const GONE_ITEM: &str = "ERASE-ITEM-4417";
const GONE_CHECKIN: &str = "ERASE-CHECKIN-4417";
const GONE_REFUSED: &str = "ERASE-REFUSED-4417";
const GONE_NOTE: &str = "ERASE-NOTE-4417";
/// The erased household's room: distinctive, because a bare "1201" turns up by chance in
/// the digits of a timestamp somewhere in the store (seen once in `make test`).
const GONE_ROOM: &str = "R1201";
/// …and in a household that stays.
const KEPT_NAME: &str = "KEEP-NAME-9023";

struct Scene {
    c: Community,
    tadmin: String,
    alice_url: String,
    bob_url: String,
    bob_id: String,
    h: DocumentId,
    t: DocumentId,
    e: DocumentId,
    /// The episode's medical record (the server made it; a medic wrote a note in it).
    m: DocumentId,
    /// The episode's readings (the server made them; bob checked in there).
    r: DocumentId,
    kept: DocumentId,
    /// Alice's phone's copy of the task, as it was before the erasure.
    old_task: automerge::AutoCommit,
}

/// A household with a delivery task for bob and an episode bob checks on (a check-in, a
/// medic's note), a change of bob's the server refused (kept in the quarantine), and a
/// second household that stays.
async fn scene() -> anyhow::Result<Scene> {
    let c = Community::start_with_admin(&["--index-flush-ms", "50"]).await?;
    let (ta, alice_id) = c.login_full(ALICE).await?;
    let (tb, bob_id) = c.login_full(BOB).await?;
    let (td, dave_id) = c.login_full(DAVE).await?;
    let (tadmin, _) = c.login_full(ADMIN).await?;
    let (alice_url, bob_url) = (c.server.ws_url(&ta), c.server.ws_url(&tb));

    let mut alice = TestPeer::new("alice");
    alice.connect(&alice_url).await?;
    let mut hh = household("g1", GONE_ROOM);
    hh["members"][0]["name"] = json!(format!("王{GONE_NAME}"));
    hh["members"][0]["medicines"] = json!([GONE_MEDICINE]);
    let h = create(&mut alice, hh);
    let mut other = household("g1", "1202");
    other["members"][0]["name"] = json!(format!("李{KEPT_NAME}"));
    let kept = create(&mut alice, other);
    let mut tv = task("g1", &h, Some(&bob_id), &alice_id);
    tv["items"] = json!([{"name": GONE_ITEM, "qty": 1, "unit": "盒"}]);
    let t = create(&mut alice, tv);
    let e = create(&mut alice, episode("g1", &h, Some(&bob_id)));
    alice.sync_all(T).await?;
    for id in [h, kept, t, e] {
        assert_eq!(push_change(&mut alice, &id, T).await?, Outcome::Accepted, "{id}");
    }
    let old_task = automerge::AutoCommit::load(&alice.doc(&t).save())?;

    let mut bob = TestPeer::new("bob");
    bob.connect(&bob_url).await?;
    bob.want(e);
    bob.want(t);
    bob.sync_all(T).await?;
    let r = readings_of(&mut bob, &e, T).await?;
    put_checkin(&mut bob, &r, &checkin_key(0, 0), checkin(38.6, &bob_id, GONE_CHECKIN));
    assert_eq!(push_change(&mut bob, &r, T).await?, Outcome::Accepted);
    // A volunteer may not change the items: refused, and kept in the quarantine.
    set(&mut bob, &t, "items", json!([{"name": GONE_REFUSED, "qty": 2, "unit": "盒"}]));
    assert!(matches!(push_change(&mut bob, &t, T).await?, Outcome::Rejected(_)));
    let mut dave = TestPeer::new("dave");
    dave.connect(&c.server.ws_url(&td)).await?;
    dave.want(e);
    dave.sync_all(T).await?;
    let record = linli_tests::domain::medical_of(&mut dave, &e, T).await?;
    linli_tests::domain::add_medic_note(&mut dave, &record, &dave_id, GONE_NOTE);
    assert_eq!(push_change(&mut dave, &record, T).await?, Outcome::Accepted);
    assert!(
        api::quarantine(&c.server, &tadmin).await?.iter().any(|q| q["doc"] == t.to_string()),
        "the refused change is not in the quarantine: the test proves nothing"
    );
    Ok(Scene { c, tadmin, alice_url, bob_url, bob_id, h, t, e, m: record, r, kept, old_task })
}

/// Stops the server, backs the store up, and checks what the backup holds.
async fn assert_gone_from_the_store(c: &mut Community) -> anyhow::Result<()> {
    c.server.kill9().await?;
    let file = c.dir.path().join("after-erasure.backup");
    linli_cli(&c.data_dir(), &["backup", file.to_str().expect("utf-8 path")], "")?;
    let entries = backup_entries(&std::fs::read(&file)?)?;
    let text = readable_text(&entries);
    assert!(text.contains(KEPT_NAME), "the search does not find {KEPT_NAME}, which was not erased: it proves nothing");
    for gone in [GONE_NAME, GONE_MEDICINE, GONE_ITEM, GONE_CHECKIN, GONE_REFUSED, GONE_NOTE, GONE_ROOM] {
        if let Some(at) = text.find(gone) {
            let from = (0..=at.saturating_sub(80)).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
            let around: String = text[from..].chars().take(200).collect();
            panic!("{gone} can still be read from the store after the erasure, in: {around:?}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn an_admin_erases_a_household_and_everything_that_names_it() -> anyhow::Result<()> {
    let Scene { mut c, tadmin, alice_url, bob_url, bob_id, h, t, e, m, r, kept, mut old_task } = scene().await?;
    let (ta, _) = c.login_full(ALICE).await?;
    let path = format!("/api/households/{h}/erase");
    assert_eq!(api::post(&c.server, &ta, &path, None).await?.status, 403, "a coordinator may not erase");
    let nowhere = format!("/api/households/{}/erase", DocumentId::random());
    assert_eq!(api::post(&c.server, &tadmin, &nowhere, None).await?.status, 404);
    let reply = api::post(&c.server, &tadmin, &path, None).await?;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // The household, its task, its episode and the episode's medical record and readings.
    assert_eq!(reply.json()["erased_documents"], 5, "{}", reply.body);
    assert_eq!(reply.json()["complete"], true, "{}", reply.body);

    for id in [h, t, e] {
        assert!(!fetch(&alice_url, &id, T).await?.available(), "{id} can still be fetched");
    }
    let (td, _) = c.login_full(DAVE).await?;
    assert!(!fetch(&c.server.ws_url(&td), &m, T).await?.available(), "the medic can still fetch the medical record");
    assert!(!fetch(&c.server.ws_url(&td), &r, T).await?.available(), "the medic can still fetch the readings");
    assert!(!fetch(&bob_url, &r, T).await?.available(), "the volunteer can still fetch the readings");
    assert!(fetch(&alice_url, &kept, T).await?.available(), "the other household went too");
    let alerts = api::get_ok(&c.server, &tadmin, "/api/alerts?status=all").await?;
    let named = |v: &serde_json::Value| [h, t, e, r].iter().any(|id| v["doc"] == id.to_string());
    assert!(!alerts["alerts"].as_array().is_some_and(|l| l.iter().any(named)), "{alerts:#}");
    assert!(!api::quarantine(&c.server, &tadmin).await?.iter().any(named), "quarantined changes remain");
    assert_eq!(api::audit(&c.server, &tadmin, Some("erase.household")).await?.len(), 1);
    // The grid index lists the other household, and its history never the erased one.
    let index = api::index_of(&c.server, &ta, "g1").await?;
    let mut listed = fetch(&alice_url, &index, T).await?;
    let saved = listed.value();
    assert!(saved["docs"].get(kept.to_string()).is_some(), "{saved:#}");
    let history = readable_text(&[("index".into(), Vec::new(), listed.doc.as_mut().expect("available").save())]);
    assert!(!history.contains(&h.to_string()), "the grid index's history still names the household");

    // A phone with the old history cannot bring it back.
    let mut old_alice = TestPeer::new("alice-old-phone");
    old_alice.connect(&alice_url).await?;
    give_copy(&mut old_alice, t, &mut old_task)?;
    set(&mut old_alice, &t, "priority", json!("urgent"));
    match push_change(&mut old_alice, &t, T).await? {
        Outcome::Rejected(r) => assert!(r.reason.contains("erased"), "reason: {}", r.reason),
        other => panic!("the old phone: expected a rejection, got {other:?}"),
    }
    assert!(!fetch(&alice_url, &t, T).await?.available(), "the erased task came back");
    let mut bob = TestPeer::new("bob-again");
    bob.connect(&bob_url).await?;
    bob.want(e);
    bob.sync_all(T).await?;
    let _ = bob_id;
    assert!(!fetch(&bob_url, &e, T).await?.available());
    assert_gone_from_the_store(&mut c).await
}

#[tokio::test]
async fn the_cli_erases_a_household_on_a_stopped_server() -> anyhow::Result<()> {
    let Scene { mut c, tadmin: _, alice_url: _, bob_url: _, bob_id: _, h, t, e, m, r, kept, old_task: _ } =
        scene().await?;
    c.server.kill9().await?;
    let store = c.data_dir().join("store");
    let gone = [GONE_NAME, GONE_MEDICINE, GONE_ITEM, GONE_CHECKIN, GONE_REFUSED, GONE_NOTE];
    assert!(!raw_finds(&store, KEPT_NAME, &gone)?.is_empty(), "nothing to erase in sled's files: proves nothing");
    let out = linli_cli(&c.data_dir(), &["erase", "--household", &h.to_string()], "")?;
    // The task, the episode and its medical record and readings.
    assert!(out.contains("4 documents") && out.contains("vacuumed"), "{out}");
    // Not only through the API: the bytes are gone from the store's files.
    let left = raw_finds(&store, KEPT_NAME, &gone)?;
    assert!(left.is_empty(), "erased values in the files after `linli erase`:\n{}", left.join("\n"));
    c.server.restart().await?;
    let (ta, _) = c.login_full(ALICE).await?;
    let alice_url = c.server.ws_url(&ta);
    for id in [h, t, e] {
        assert!(!fetch(&alice_url, &id, T).await?.available(), "{id} can still be fetched");
    }
    let (td, _) = c.login_full(DAVE).await?;
    assert!(!fetch(&c.server.ws_url(&td), &m, T).await?.available(), "the medic can still fetch the medical record");
    assert!(!fetch(&c.server.ws_url(&td), &r, T).await?.available(), "the medic can still fetch the readings");
    assert!(fetch(&alice_url, &kept, T).await?.available());
    assert_gone_from_the_store(&mut c).await
}

/// Refused changes follow the retention rule too: kept `retention_days` (30 by default),
/// then dropped with their raw bytes.
#[tokio::test]
async fn quarantined_changes_are_dropped_after_the_retention_period() -> anyhow::Result<()> {
    let c = Community::start_with_admin(&["--index-flush-ms", "50"]).await?;
    let (ta, alice_id) = c.login_full(ALICE).await?;
    let (tb, bob_id) = c.login_full(BOB).await?;
    let (tadmin, _) = c.login_full(ADMIN).await?;
    let mut alice = TestPeer::new("alice");
    alice.connect(&c.server.ws_url(&ta)).await?;
    let h = create(&mut alice, household("g1", "1301"));
    let t = create(&mut alice, task("g1", &h, Some(&bob_id), &alice_id));
    alice.sync_all(T).await?;
    let mut bob = TestPeer::new("bob");
    bob.connect(&c.server.ws_url(&tb)).await?;
    bob.want(t);
    bob.sync_all(T).await?;
    set(&mut bob, &t, "items", json!([{"name": GONE_REFUSED, "qty": 2, "unit": "盒"}]));
    assert!(matches!(push_change(&mut bob, &t, T).await?, Outcome::Rejected(_)));
    assert_eq!(api::quarantine(&c.server, &tadmin).await?.len(), 1);
    c.server.advance_clock(29 * 86_400).await?;
    assert_eq!(api::quarantine(&c.server, &tadmin).await?.len(), 1, "29 days: still kept");
    c.server.advance_clock(2 * 86_400).await?;
    assert_eq!(api::quarantine(&c.server, &tadmin).await?.len(), 0, "31 days: dropped");
    Ok(())
}
