//! Time-dependent rules at fixed instants (issue "Hostile input", item 13): the server
//! runs on a test clock (`--test-clock`), so each case happens at the instant it is
//! about — just before and after a deadline, around midnight, at a month's end — and
//! `make test` gives the same answer at any hour.

use linli_shared::DocumentId;
use linli_tests::api;
use linli_tests::domain::{create, household, put_checkin, readings_of};
use linli_tests::outcome::{push_change, Outcome};
use linli_tests::server::{ALICE, BOB};
use linli_tests::{Community, ServerProcess, TestPeer};
use serde_json::{json, Value};
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

fn ms(instant: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(instant).expect("an RFC 3339 instant").timestamp_millis()
}

/// An episode of one check-in a day (due 20:00), `start`..=`end`, checked by `assignee`.
fn episode(household: &DocumentId, assignee: &str, start: &str, end: &str) -> Value {
    json!({
        "kind": "episode", "schema": 3, "grid": "g1", "household": household.to_string(),
        "person": {"name": "李建国", "age": 45}, "reason": "home_isolation",
        "start": start, "end": end, "slots": 1,
        "assignee": assignee, "status": "active", "closed_at": null,
        "readings": null, "medical": null, "erased": false,
    })
}

fn checkin(temp_c: f64, by: &str, at: i64) -> Value {
    json!({"temp_c": temp_c, "symptoms": [], "method": "visit", "note": "", "by": by, "at": at})
}

/// The open alerts of `doc` as (kind, date). Moving the test clock answers only once its
/// sweep is written, so right after it this is the state at the new instant.
async fn alerts_now(s: &ServerProcess, token: &str, doc: &DocumentId) -> anyhow::Result<Vec<(String, String)>> {
    let all = api::get_ok(s, token, "/api/alerts").await?;
    Ok(all["alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["doc"] == doc.to_string())
        .map(|a| (a["kind"].as_str().unwrap_or("").to_owned(), a["date"].as_str().unwrap_or("").to_owned()))
        .collect())
}

/// The open alerts of `doc`, polled until `ready` holds (bounded): after a change syncs,
/// the projector updates alerts asynchronously.
async fn alerts_when(
    s: &ServerProcess,
    token: &str,
    doc: &DocumentId,
    ready: impl Fn(&[(String, String)]) -> bool,
) -> anyhow::Result<Vec<(String, String)>> {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let mine = alerts_now(s, token, doc).await?;
        if ready(&mine) || tokio::time::Instant::now() > deadline {
            return Ok(mine);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn has(alerts: &[(String, String)], kind: &str, date: &str) -> bool {
    alerts.iter().any(|(k, d)| k == kind && d == date)
}

/// An episode registered at 23:14, after its first day's only slot (20:00) had passed,
/// misses nothing that day; a 38.2 °C check-in at 23:20 raises a fever alert; the next
/// day's slot is missed just after 20:00 and not just before.
#[tokio::test]
async fn late_evening_episode_fever_and_the_next_deadline() -> anyhow::Result<()> {
    let c = Community::start(&["--test-clock", "2026-03-16T23:14:00+08:00", "--index-flush-ms", "50"]).await?;
    let s = &c.server;
    let (ta, alice_id) = c.login_full(ALICE).await?;
    let (tb, bob_id) = c.login_full(BOB).await?;
    let mut alice = TestPeer::new("alice");
    alice.connect(&s.ws_url(&ta)).await?;
    let h = create(&mut alice, household("g1", "501"));
    let e = create(&mut alice, episode(&h, &bob_id, "2026-03-16", "2026-03-29"));
    alice.sync_all(T).await?;
    let _ = alice_id;

    s.advance_clock(6 * 60).await?; // 23:20
    let mut bob = TestPeer::new("bob");
    bob.connect(&s.ws_url(&tb)).await?;
    bob.want(e);
    bob.sync_all(T).await?;
    // Check-ins go in the episode's readings; the alerts are the episode's.
    let r = readings_of(&mut bob, &e, T).await?;
    put_checkin(&mut bob, &r, "2026-03-16/0", checkin(38.2, &bob_id, ms("2026-03-16T23:20:00+08:00")));
    assert_eq!(push_change(&mut bob, &r, T).await?, Outcome::Accepted);
    let alerts = alerts_when(s, &ta, &e, |a| has(a, "fever", "2026-03-16")).await?;
    assert!(has(&alerts, "fever", "2026-03-16"), "a fever at 23:20 raises its alert: {alerts:?}");
    assert!(!alerts.iter().any(|(k, _)| k == "missed_checkin"), "nothing was due after 23:14: {alerts:?}");

    // Just after midnight, and just before the next day's deadline: still nothing missed.
    s.set_clock("2026-03-17T00:01:00+08:00").await?;
    s.set_clock("2026-03-17T19:59:00+08:00").await?;
    let alerts = alerts_now(s, &ta, &e).await?;
    assert!(!has(&alerts, "missed_checkin", "2026-03-17"), "19:59 is before the deadline: {alerts:?}");
    // Just after it: the 17th's check-in is missed.
    s.set_clock("2026-03-17T20:01:00+08:00").await?;
    let alerts = alerts_when(s, &ta, &e, |a| has(a, "missed_checkin", "2026-03-17")).await?;
    assert!(has(&alerts, "missed_checkin", "2026-03-17"), "20:01: {alerts:?}");
    assert!(!has(&alerts, "missed_checkin", "2026-03-16"), "{alerts:?}");
    // A late check-in for it, taken after midnight, is accepted and resolves it.
    s.set_clock("2026-03-18T00:05:00+08:00").await?;
    put_checkin(&mut bob, &r, "2026-03-17/0", checkin(36.6, &bob_id, ms("2026-03-18T00:05:00+08:00")));
    assert_eq!(push_change(&mut bob, &r, T).await?, Outcome::Accepted);
    let alerts = alerts_when(s, &ta, &e, |a| !has(a, "missed_checkin", "2026-03-17")).await?;
    assert!(!has(&alerts, "missed_checkin", "2026-03-17"), "made up late: {alerts:?}");
    Ok(())
}

/// Across a month's end the community's date turns at local midnight: a check-in for
/// 1 April is refused at 23:59 on 31 March (the day has not begun) and accepted two
/// minutes later; a check-in taken in the future is refused.
#[tokio::test]
async fn month_end_midnight_in_community_time() -> anyhow::Result<()> {
    let c = Community::start(&["--test-clock", "2026-03-31T23:59:00+08:00"]).await?;
    let s = &c.server;
    let (ta, _) = c.login_full(ALICE).await?;
    let (tb, bob_id) = c.login_full(BOB).await?;
    let mut alice = TestPeer::new("alice");
    alice.connect(&s.ws_url(&ta)).await?;
    let h = create(&mut alice, household("g1", "502"));
    let e = create(&mut alice, episode(&h, &bob_id, "2026-03-25", "2026-04-07"));
    alice.sync_all(T).await?;

    let mut bob = TestPeer::new("bob");
    bob.connect(&s.ws_url(&tb)).await?;
    bob.want(e);
    bob.sync_all(T).await?;
    let r = readings_of(&mut bob, &e, T).await?;
    let at = ms("2026-03-31T23:59:00+08:00");
    put_checkin(&mut bob, &r, "2026-04-01/0", checkin(36.5, &bob_id, at));
    assert!(matches!(push_change(&mut bob, &r, T).await?, Outcome::Rejected(_)), "1 April has not begun");

    // Two minutes later it is 1 April in Beijing (still 31 March in UTC).
    s.advance_clock(120).await?;
    let mut bob = TestPeer::new("bob2");
    bob.connect(&s.ws_url(&tb)).await?;
    bob.want(e);
    bob.sync_all(T).await?;
    readings_of(&mut bob, &e, T).await?;
    let now = ms("2026-04-01T00:01:00+08:00");
    put_checkin(&mut bob, &r, "2026-04-01/0", checkin(36.5, &bob_id, now));
    assert_eq!(push_change(&mut bob, &r, T).await?, Outcome::Accepted, "1 April, 00:01");
    // A reading stamped two hours ahead of the server's clock is refused.
    put_checkin(&mut bob, &r, "2026-03-31/0", checkin(36.5, &bob_id, now + 2 * 3_600_000));
    assert!(matches!(push_change(&mut bob, &r, T).await?, Outcome::Rejected(_)), "a check-in from the future");
    Ok(())
}

/// A delivery is overdue one second after its due time, not at it.
#[tokio::test]
async fn a_delivery_is_overdue_just_after_its_due_time() -> anyhow::Result<()> {
    let c = Community::start(&["--test-clock", "2026-02-28T17:59:00+08:00", "--index-flush-ms", "50"]).await?;
    let s = &c.server;
    let (ta, alice_id) = c.login_full(ALICE).await?;
    let mut alice = TestPeer::new("alice");
    alice.connect(&s.ws_url(&ta)).await?;
    let h = create(&mut alice, household("g1", "503"));
    let due = ms("2026-02-28T18:00:00+08:00");
    let t = create(
        &mut alice,
        json!({
            "kind": "task", "schema": 1, "grid": "g1", "household": h.to_string(),
            "category": "medicine", "items": [{"name": "胰岛素", "qty": 1, "unit": "盒"}],
            "priority": "urgent", "due": due, "contactless": true,
            "assignee": null, "status": "new", "failure_reason": null, "log": [],
            "created_by": alice_id, "created_at": ms("2026-02-28T17:59:00+08:00"),
        }),
    );
    alice.sync_all(T).await?;
    s.set_clock("2026-02-28T18:00:00+08:00").await?;
    let alerts = alerts_now(s, &ta, &t).await?;
    assert!(alerts.is_empty(), "at its due time a delivery is not yet overdue: {alerts:?}");
    s.set_clock("2026-02-28T18:00:01+08:00").await?;
    let alerts = alerts_when(s, &ta, &t, |a| !a.is_empty()).await?;
    assert_eq!(alerts, vec![("overdue_delivery".to_owned(), String::new())], "one second later");
    Ok(())
}

/// An episode past its `end` date by `episode_grace_days` (1 by default) is closed by the
/// server at the next sweep, and its volunteer no longer reads the household or the
/// readings: at 23:59 on the day after the end it is open, a minute later (two days after)
/// it is closed.
#[tokio::test]
async fn an_episode_past_its_end_and_the_grace_day_is_closed_by_the_server() -> anyhow::Result<()> {
    let c = Community::start(&["--test-clock", "2026-03-16T10:00:00+08:00", "--index-flush-ms", "50"]).await?;
    let s = &c.server;
    let (ta, _) = c.login_full(ALICE).await?;
    let (tb, bob_id) = c.login_full(BOB).await?;
    let mut alice = TestPeer::new("alice");
    alice.connect(&s.ws_url(&ta)).await?;
    let h = create(&mut alice, household("g1", "502"));
    let e = create(&mut alice, episode(&h, &bob_id, "2026-03-16", "2026-03-18"));
    alice.sync_all(T).await?;
    let bob_reads = |id: DocumentId| {
        let url = s.ws_url(&tb);
        async move { Ok::<bool, anyhow::Error>(linli_tests::outcome::fetch(&url, &id, T).await?.available()) }
    };
    let status = |id: DocumentId| {
        let url = s.ws_url(&ta);
        async move {
            let mut f = linli_tests::outcome::fetch(&url, &id, T).await?;
            Ok::<String, anyhow::Error>(f.value()["status"].as_str().unwrap_or("").to_owned())
        }
    };
    // The grant is written by the projector, shortly after the episode syncs.
    let deadline = tokio::time::Instant::now() + T;
    while !bob_reads(h).await? {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "bob never got the household");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut bob = TestPeer::new("bob");
    bob.connect(&s.ws_url(&tb)).await?;
    let r = readings_of(&mut bob, &e, T).await?;
    drop(bob);
    s.set_clock("2026-03-19T23:59:00+08:00").await?;
    assert_eq!(status(e).await?, "active", "the grace day is not over");
    assert!(bob_reads(h).await? && bob_reads(r).await?);
    s.set_clock("2026-03-20T00:00:30+08:00").await?;
    let deadline = tokio::time::Instant::now() + T;
    while status(e).await? != "closed" {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "the episode was not closed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut f = linli_tests::outcome::fetch(&s.ws_url(&ta), &e, T).await?;
    assert_eq!(f.value()["closed_at"], json!(ms("2026-03-20T00:00:30+08:00")));
    let deadline = tokio::time::Instant::now() + T;
    while bob_reads(h).await? {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "bob still reads the household");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The server's copy of the status closes the readings too: no more check-ins, and
    // the volunteer's reach ends with the episode's.
    while bob_reads(r).await? {
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "bob still reads the closed episode's readings");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
