//! Retention (DESIGN §9): an episode closed longer than the retention period is erased
//! for real, and its readings with it. With `--retention-days 0` and a sweep every second,
//! a closed episode is erased at the next sweep: a fresh peer finds nothing (no summary
//! keeps its reason or its household, no readings are left), a phone holding the old
//! history cannot bring it back, and —
//! with the server stopped — nothing in the store (read through `linli backup`) holds the
//! old values any more, while the same search finds the values of documents that were not
//! erased.

use automerge::ChangeHash;
use linli_shared::DocumentId;
use linli_tests::api;
use linli_tests::backup::{backup_entries, raw_finds, readable_text};
use linli_tests::domain::{
    add_medic_note, checkin, checkin_key, create, episode, household, medical_of, now_ms, put_checkin, read,
    readings_of, set, task, write,
};
use linli_tests::outcome::{fetch, give_copy, push_change, Outcome};
use linli_tests::server::{linli_cli, ADMIN, ALICE, BOB, DAVE};
use linli_tests::{Community, TestPeer};
use serde_json::json;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

/// Unique strings written into the episode that is erased…
const ERASED_NAME: &str = "RETENTION-NAME-7731";
const ERASED_NOTE: &str = "RETENTION-MARKER-7731";
const ERASED_MEDIC: &str = "RETENTION-MEDIC-7731";
/// …and into documents that are not.
const KEPT_NAME: &str = "CONTROL-NAME-5512";
const KEPT_NOTE: &str = "CONTROL-NOTE-5512";

fn hashes(doc: &mut automerge::AutoCommit) -> Vec<ChangeHash> {
    doc.get_changes(&[]).iter().map(|c| c.hash()).collect()
}

/// The flags that make the server erase a closed episode at its next sweep (every second).
const RETENTION_NOW: &[&str] = &["--index-flush-ms", "50", "--retention-days", "0", "--sweep-secs", "1"];

/// A server that has just erased an episode, with everything the tests look at after.
struct Scene {
    c: Community,
    tb: String,
    bob_id: String,
    tadmin: String,
    alice_url: String,
    /// A medic's (dave's): readings are for medics and the assigned volunteer alone.
    dave_url: String,
    /// The erased episode, and the one that stays open.
    e: DocumentId,
    kept: DocumentId,
    /// Their readings.
    r: DocumentId,
    kept_r: DocumentId,
    /// The episode's history as a phone had it before the erasure.
    old_copy: automerge::AutoCommit,
    old_hashes: Vec<ChangeHash>,
    /// Bob's phone, offline, still holding the old history.
    bob: TestPeer,
    h: DocumentId,
}

/// Two people under observation: one episode gets check-ins (a fever, symptoms, a note)
/// and a medic's note, then its coordinator closes it; the server erases it at the next
/// sweep. The other stays open.
async fn erased_episode() -> anyhow::Result<Scene> {
    let c = Community::start_with_admin(RETENTION_NOW).await?;
    let (ta, _) = c.login_full(ALICE).await?;
    let (tb, bob_id) = c.login_full(BOB).await?;
    let (td, dave_id) = c.login_full(DAVE).await?;
    let (tadmin, _) = c.login_full(ADMIN).await?;
    let alice_url = c.server.ws_url(&ta);

    let mut alice = TestPeer::new("alice");
    alice.connect(&alice_url).await?;
    let h = create(&mut alice, household("g1", "701"));
    let mut ep = episode("g1", &h, Some(&bob_id));
    ep["person"] = json!({"name": format!("王{ERASED_NAME}"), "age": 61});
    let e = create(&mut alice, ep);
    let mut ep = episode("g1", &h, Some(&bob_id));
    ep["person"] = json!({"name": format!("李{KEPT_NAME}"), "age": 34});
    let kept = create(&mut alice, ep);
    alice.sync_all(T).await?;

    // Bob's check-ins and the medic's note.
    let mut bob = TestPeer::new("bob-old-phone");
    bob.connect(&c.server.ws_url(&tb)).await?;
    bob.want(e);
    bob.want(kept);
    bob.sync_all(T).await?;
    let r = readings_of(&mut bob, &e, T).await?;
    let kept_r = readings_of(&mut bob, &kept, T).await?;
    let key = checkin_key(0, 0);
    let mut sick = checkin(38.4, &bob_id, &format!("{ERASED_NOTE} 咳嗽两天"));
    sick["symptoms"] = json!(["cough", "fever"]);
    put_checkin(&mut bob, &r, &key, sick);
    put_checkin(&mut bob, &kept_r, &key, checkin(36.4, &bob_id, KEPT_NOTE));
    assert_eq!(push_change(&mut bob, &r, T).await?, Outcome::Accepted);
    assert_eq!(push_change(&mut bob, &kept_r, T).await?, Outcome::Accepted);
    let dave_url = c.server.ws_url(&td);
    let mut dave = TestPeer::new("dave");
    dave.connect(&dave_url).await?;
    dave.want(e);
    dave.sync_all(T).await?;
    let record = medical_of(&mut dave, &e, T).await?;
    add_medic_note(&mut dave, &record, &dave_id, ERASED_MEDIC);
    assert_eq!(push_change(&mut dave, &record, T).await?, Outcome::Accepted);
    drop(dave);
    bob.disconnect(); // the phone goes offline, keeping the full history

    // The coordinator closes the episode; a phone of hers keeps the old history too.
    alice.sync_all(T).await?;
    let mut v = read(alice.doc(&e));
    v["status"] = json!("closed");
    v["closed_at"] = json!(now_ms());
    write(alice.doc(&e), v);
    assert_eq!(push_change(&mut alice, &e, T).await?, Outcome::Accepted, "closing the episode");
    let mut old_copy = automerge::AutoCommit::load(&alice.doc(&e).save())?;
    let old_hashes = hashes(&mut old_copy);
    alice.disconnect();

    // Within a bounded wait the server erases it, and its readings (which only a medic or
    // the volunteer could fetch; the volunteer's reach ended with the episode).
    wait_until_gone(&alice_url, &e).await.map_err(|err| anyhow::anyhow!("{err:#}\nserver log:\n{}", c.server.log()))?;
    wait_until_gone(&dave_url, &r).await.map_err(|err| anyhow::anyhow!("{err:#}\nserver log:\n{}", c.server.log()))?;
    Ok(Scene { c, tb, bob_id, tadmin, alice_url, dave_url, e, kept, r, kept_r, old_copy, old_hashes, bob, h })
}

/// Waits (bounded) until a fresh peer finds nothing of `id`.
async fn wait_until_gone(url: &str, id: &DocumentId) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        if !fetch(url, id, T).await?.available() {
            return Ok(());
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "{id} is still there after {T:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_closed_episode_is_erased_for_real() -> anyhow::Result<()> {
    let Scene {
        mut c,
        tb,
        bob_id,
        tadmin,
        alice_url,
        dave_url,
        e,
        kept,
        r,
        kept_r,
        mut old_copy,
        old_hashes,
        mut bob,
        h,
    } = erased_episode().await?;

    // A fresh peer finds nothing: no summary keeps the reason or the household.
    let _ = h;
    assert!(!fetch(&alice_url, &e, T).await?.available(), "the erased episode can still be fetched");
    assert!(!api::audit(&c.server, &tadmin, Some("retention.erase")).await?.is_empty(), "the erasure is not audited");
    assert!(!fetch(&dave_url, &r, T).await?.available(), "the erased episode's readings can still be fetched");
    let alerts = api::get_ok(&c.server, &tadmin, "/api/alerts?status=all").await?;
    assert!(
        !alerts["alerts"].as_array().is_some_and(|l| l.iter().any(|a| a["doc"] == e.to_string())),
        "alerts of the erased episode remain: {alerts:#}"
    );

    // Phones holding the old history cannot push it back: bob's (the volunteer's, the
    // episode is closed to him) and alice's (the coordinator's).
    bob.connect(&c.server.ws_url(&tb)).await?;
    put_checkin(&mut bob, &r, &checkin_key(0, 0), checkin(36.9, &bob_id, "late edit"));
    let o = push_change(&mut bob, &r, T).await?;
    assert!(matches!(o, Outcome::Unavailable | Outcome::Rejected(_)), "bob's old phone: {o:?}");
    let mut after = fetch(&dave_url, &r, T).await?;
    assert!(!after.available(), "the erased readings came back: {:?}", after.available().then(|| after.value()));
    let mut old_alice = TestPeer::new("alice-old-phone");
    old_alice.connect(&alice_url).await?;
    give_copy(&mut old_alice, e, &mut old_copy)?;
    set(&mut old_alice, &e, "slots", json!(2));
    let o = push_change(&mut old_alice, &e, T).await?;
    match &o {
        Outcome::Rejected(r) => assert!(r.reason.contains("erased"), "reason: {}", r.reason),
        other => panic!("alice's old phone: expected a rejection, got {other:?}"),
    }
    let mut after = fetch(&alice_url, &e, T).await?;
    assert!(!after.available(), "the erased episode came back: {:?}", after.available().then(|| after.value()));
    let _ = &old_hashes;
    drop((bob, old_alice));

    // The server's copy of the episode that stays open still has everything, readings too.
    let mut k = fetch(&alice_url, &kept, T).await?;
    assert!(k.value()["person"]["name"].as_str().is_some_and(|n| n.contains(KEPT_NAME)), "{}", k.value());
    let mut k = fetch(&dave_url, &kept_r, T).await?;
    assert_eq!(k.value()["checkins"][&checkin_key(0, 0)]["note"], KEPT_NOTE);

    // Stop the server and read the store directly.
    c.server.kill9().await?;
    let file = c.dir.path().join("store.backup");
    linli_cli(&c.data_dir(), &["backup", file.to_str().expect("utf-8 path")], "")?;
    let entries = backup_entries(&std::fs::read(&file)?)?;
    let text = readable_text(&entries);
    for kept in [KEPT_NAME, KEPT_NOTE] {
        assert!(text.contains(kept), "the search does not find {kept}, which was not erased: it proves nothing");
    }
    for gone in [ERASED_NAME, ERASED_NOTE, ERASED_MEDIC] {
        let trees: Vec<&str> = entries
            .iter()
            .filter(|(_, k, v)| readable_text(&[(String::new(), k.clone(), v.clone())]).contains(gone))
            .map(|(t, _, _)| t.as_str())
            .collect();
        assert!(trees.is_empty(), "{gone} can still be read from the store, in trees {trees:?}");
    }
    let raw = std::fs::read(&file)?;
    for gone in [ERASED_NAME, ERASED_NOTE, ERASED_MEDIC] {
        assert!(!raw.windows(gone.len()).any(|w| w == gone.as_bytes()), "{gone} is in the backup bytes");
    }
    Ok(())
}

/// The sweep erases an episode once; later sweeps leave the summary (and the audit log)
/// alone.
#[tokio::test]
async fn an_episode_is_erased_once() -> anyhow::Result<()> {
    let scene = erased_episode().await?;
    // Three more sweeps.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let erasures = api::audit(&scene.c.server, &scene.tadmin, Some("retention.erase")).await?;
    let n = erasures.len();
    assert_eq!(n, 1, "the episode was erased {n} times in ~4 sweeps: {erasures:#?}");
    Ok(())
}

/// What the plan asks of erasure ("for real") reaches the disk: the erased values are not
/// left in the store's files, where anyone with the disk could read them. sled keeps the
/// bytes of deleted records in its log; the erasure marks the store, and the next start
/// rewrites it (a vacuum) before it serves — here right after a `kill -9`.
#[tokio::test]
async fn erased_values_are_not_left_in_the_store_files() -> anyhow::Result<()> {
    let mut scene = erased_episode().await?;
    scene.c.server.kill9().await?;
    let store = scene.c.data_dir().join("store");
    let on_disk = || raw_finds(&store, KEPT_NOTE, &[ERASED_NAME, ERASED_NOTE, ERASED_MEDIC]);
    let before = on_disk()?;
    assert!(!before.is_empty(), "nothing erased was left in sled's files before the vacuum: the check proves nothing");
    scene.c.server.restart().await?;
    let mut k = fetch(&scene.dave_url, &scene.kept_r, T).await?;
    assert_eq!(k.value()["checkins"][&checkin_key(0, 0)]["note"], KEPT_NOTE, "the vacuum lost what it kept");
    scene.c.server.kill9().await?;
    let after = on_disk()?;
    assert!(after.is_empty(), "erased values still on disk after the vacuum:\n{}", after.join("\n"));
    Ok(())
}

/// A delivery closed for the retention period keeps what the statistics need and loses
/// what it said (DESIGN §9): its items, its failure reason and its notes — from its
/// history, not only from its current value. A phone holding the old history cannot
/// bring them back, and after the next start (a vacuum) they are not in the store's files.
#[tokio::test]
async fn a_closed_delivery_loses_its_items_and_notes_for_real() -> anyhow::Result<()> {
    const ITEM: &str = "REDACT-ITEM-3391";
    const NOTE: &str = "REDACT-NOTE-3391";
    let mut c = Community::start_with_admin(RETENTION_NOW).await?;
    let (ta, alice_id) = c.login_full(ALICE).await?;
    let tadmin = c.token(ADMIN).await?;
    let alice_url = c.server.ws_url(&ta);
    let mut alice = TestPeer::new("alice");
    alice.connect(&alice_url).await?;
    let h = create(&mut alice, household("g1", "702"));
    let mut open = task("g1", &h, None, &alice_id);
    open["items"] = json!([{"name": KEPT_NOTE, "qty": 1, "unit": "袋"}]);
    let open = create(&mut alice, open);
    let mut t = task("g1", &h, None, &alice_id);
    t["items"] = json!([{"name": format!("胰岛素 {ITEM}"), "qty": 2, "unit": "支"}]);
    let t = create(&mut alice, t);
    alice.sync_all(T).await?;
    let mut v = read(alice.doc(&t));
    v["log"] = json!([{"at": now_ms(), "by": alice_id, "from": "new", "to": "cancelled", "note": NOTE}]);
    v["status"] = json!("cancelled");
    write(alice.doc(&t), v);
    assert_eq!(push_change(&mut alice, &t, T).await?, Outcome::Accepted, "cancelling the delivery");
    let mut old_copy = automerge::AutoCommit::load(&alice.doc(&t).save())?;
    alice.disconnect();

    // Within a bounded wait the server redacts it: a fresh peer gets the task without
    // its texts, and a history without them.
    let deadline = tokio::time::Instant::now() + T;
    let mut fresh = loop {
        let mut f = fetch(&alice_url, &t, T).await?;
        if f.available() && f.value()["items"] == json!([]) {
            break f;
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "not redacted:\n{}", c.server.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let value = fresh.value();
    assert_eq!(value["status"], "cancelled", "{value:#}");
    assert_eq!(value["log"][0]["to"], "cancelled", "the steps stay: {value:#}");
    assert_eq!(value["log"][0]["note"], "", "{value:#}");
    for hash in hashes(&mut old_copy) {
        assert!(!fresh.has_change(&hash), "the old history's change {hash} is still in the history");
    }
    assert!(!api::audit(&c.server, &tadmin, Some("retention.redact")).await?.is_empty(), "not audited");

    // The old history is refused, and only its hashes are kept.
    let mut old = TestPeer::new("alice-old-phone");
    old.connect(&alice_url).await?;
    give_copy(&mut old, t, &mut old_copy)?;
    set(&mut old, &t, "priority", json!("urgent"));
    match push_change(&mut old, &t, T).await? {
        Outcome::Rejected(r) => assert!(r.reason.contains("items and notes were erased"), "{}", r.reason),
        other => panic!("the old phone: expected a rejection, got {other:?}"),
    }
    drop(old);
    let quarantine = api::quarantine(&c.server, &tadmin).await?;
    assert!(!serde_json::to_string(&quarantine)?.contains(&hex(ITEM)), "the refusal kept the item");
    // The open delivery keeps its items.
    assert_eq!(fetch(&alice_url, &open, T).await?.value()["items"][0]["name"], KEPT_NOTE);

    // In the files: gone after the vacuum of the next start.
    c.server.restart().await?;
    c.token(ADMIN).await?;
    c.server.kill9().await?;
    let left = raw_finds(&c.data_dir().join("store"), KEPT_NOTE, &[ITEM, NOTE])?;
    assert!(left.is_empty(), "redacted texts still on disk:\n{}", left.join("\n"));
    Ok(())
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}
