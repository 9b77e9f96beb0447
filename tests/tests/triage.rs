//! Issue 14, the coordinator's desk: alerts triaged by severity (one alert per check-in),
//! resolved with a note into a history, daily counts for the dashboard's charts, and a
//! grid's risk level applied to its open work. On the test clock (2026-03-16 10:00 in
//! the community), so the days counted do not depend on when the test runs.

use linli_shared::DocumentId;
use linli_tests::api::{self, encode_segment};
use linli_tests::domain::{
    create, household, move_task, now_ms, put_checkin, read, readings_of, sync_until, task, write,
};
use linli_tests::outcome::{push_change, Outcome};
use linli_tests::server::{ALICE, BOB, DAVE};
use linli_tests::{Community, TestPeer};
use serde_json::{json, Value};
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

fn episode(household: &DocumentId, assignee: &str) -> Value {
    json!({
        "kind": "episode", "schema": 3, "grid": "g1", "household": household.to_string(),
        "person": {"name": "李建国", "age": 45}, "reason": "home_isolation",
        "start": "2026-03-14", "end": "2026-03-27", "slots": 1,
        "assignee": assignee, "status": "active", "closed_at": null,
        "readings": null, "medical": null, "erased": false,
    })
}

fn reading(temp_c: f64, symptoms: &[&str], by: &str) -> Value {
    json!({"temp_c": temp_c, "symptoms": symptoms, "method": "visit", "note": "", "by": by, "at": now_ms()})
}

fn list(v: &Value, field: &str) -> Vec<Value> {
    v[field].as_array().cloned().unwrap_or_default()
}

/// Polls `path` until `ready` holds (the projector works asynchronously).
async fn get_when(c: &Community, token: &str, path: &str, ready: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let v = api::get_ok(&c.server, token, path).await?;
        if ready(&v) || tokio::time::Instant::now() > deadline {
            return Ok(v);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn triage_history_daily_counts_and_risk_level() -> anyhow::Result<()> {
    let c = Community::start(&["--index-flush-ms", "50"]).await?;
    let s = &c.server;
    let (ta, alice_id) = c.login_full(ALICE).await?;
    let (tb, bob_id) = c.login_full(BOB).await?;
    let td = c.token(DAVE).await?;

    let mut alice = TestPeer::new("alice");
    alice.connect(&s.ws_url(&ta)).await?;
    let h = create(&mut alice, household("g1", "601"));
    let e = create(&mut alice, episode(&h, &bob_id));
    let mut late = task("g1", &h, Some(&bob_id), &alice_id);
    late["due"] = json!(now_ms() - 3_600_000);
    late["contactless"] = json!(false);
    let late = create(&mut alice, late);
    let mut done = task("g1", &h, Some(&bob_id), &alice_id);
    done["contactless"] = json!(false);
    let done = create(&mut alice, done);
    alice.sync_all(T).await?;

    // Three days abnormal; the first day's check-in has a high fever and a cough.
    let mut bob = TestPeer::new("bob");
    bob.connect(&s.ws_url(&tb)).await?;
    for id in [e, done] {
        bob.want(id);
    }
    bob.sync_all(T).await?;
    // The check-ins go in the episode's readings (DESIGN §9); the alerts are the episode's.
    let rd = readings_of(&mut bob, &e, T).await?;
    put_checkin(&mut bob, &rd, "2026-03-14/0", reading(38.6, &["cough"], &bob_id));
    put_checkin(&mut bob, &rd, "2026-03-15/0", reading(37.6, &[], &bob_id));
    put_checkin(&mut bob, &rd, "2026-03-16/0", reading(36.6, &["fatigue"], &bob_id));
    assert_eq!(push_change(&mut bob, &rd, T).await?, Outcome::Accepted);
    for to in ["accepted", "picked_up", "delivered"] {
        move_task(&mut bob, &done, &bob_id, to);
        assert_eq!(push_change(&mut bob, &done, T).await?, Outcome::Accepted, "→ {to}");
    }

    // One alert per check-in, three-days and the overdue delivery: five, red first.
    let alerts = get_when(&c, &ta, "/api/alerts?grid=g1", |v| list(v, "alerts").len() >= 5).await?;
    let got: Vec<(String, String)> = list(&alerts, "alerts")
        .iter()
        .map(|a| (a["severity"].as_str().unwrap_or("").to_owned(), a["kind"].as_str().unwrap_or("").to_owned()))
        .collect();
    let checkin_alerts = got.iter().filter(|(_, k)| k == "fever" || k == "symptoms").count();
    assert_eq!(checkin_alerts, 3, "one alert per check-in: {got:?}");
    let rank = |s: &str| ["red", "amber", "info"].iter().position(|x| *x == s).unwrap_or(9);
    assert!(got.windows(2).all(|w| rank(&w[0].0) <= rank(&w[1].0)), "ordered by severity: {got:?}");
    let reds: Vec<&str> = got.iter().filter(|(s, _)| s == "red").map(|(_, k)| k.as_str()).collect();
    assert_eq!(reds.len(), 2, "38.6 °C and three days abnormal are red: {got:?}");
    assert!(reds.contains(&"three_days_abnormal") && reds.contains(&"fever"), "{got:?}");
    assert_eq!(got.last().map(|(s, k)| (s.as_str(), k.as_str())), Some(("info", "overdue_delivery")), "{got:?}");
    assert!(!alerts.to_string().contains("38.6"), "the coordinator's alerts carry a reading: {alerts:#}");

    // Resolved with a note, it moves to the history.
    let three = list(&alerts, "alerts").into_iter().find(|a| a["kind"] == "three_days_abnormal").expect("three days");
    let id = three["id"].as_str().unwrap_or_default().to_owned();
    let path = format!("/api/alerts/{}/resolve", encode_segment(&id));
    assert_eq!(api::post(s, &ta, &path, Some(&json!({"note": ""}))).await?.status, 400, "a note is required");
    let r = api::post(s, &ta, &path, Some(&json!({"note": "已联系社区医生上门"}))).await?;
    assert_eq!(r.status, 200, "{}", r.body);
    let history = api::get_ok(s, &ta, "/api/alerts?grid=g1&status=resolved").await?;
    let h0 = list(&history, "alerts").into_iter().find(|a| a["id"] == id.as_str()).expect("in the history");
    assert_eq!(
        (h0["resolved_by"].clone(), h0["resolution_note"].clone()),
        (json!(alice_id), json!("已联系社区医生上门"))
    );
    let open = api::get_ok(s, &ta, "/api/alerts?grid=g1").await?;
    assert!(!list(&open, "alerts").iter().any(|a| a["id"] == id.as_str()), "resolved yet open");

    // Daily counts, by the community's days on the server's clock.
    let stats = get_when(&c, &ta, "/api/stats/daily?grid=g1&days=14", |v| {
        list(v, "days").last().is_some_and(|d| d["deliveries_done"] == 1 && d["alerts_resolved"] == 1)
    })
    .await?;
    let days = list(&stats, "days");
    assert_eq!(days.len(), 14, "{stats:#}");
    assert_eq!(days[0]["date"], "2026-03-03");
    let today = &days[13];
    assert_eq!(today["date"], "2026-03-16", "{stats:#}");
    assert_eq!((today["checkins_done"].clone(), today["checkins_due"].clone()), (json!(1), json!(1)), "{today}");
    assert_eq!(today["alerts_raised"], 5, "{today}");
    assert_eq!(today["alerts_resolved"], 1, "{today}");
    assert_eq!(today["deliveries_done"], 1, "{today}");
    assert_eq!((days[11]["checkins_due"].clone(), days[11]["checkins_done"].clone()), (json!(1), json!(1)));
    assert_eq!(days[10]["checkins_due"], 0, "before the episode began");
    assert!(!stats.to_string().contains("38.6") && !stats.to_string().contains("李建国"), "counts only: {stats:#}");
    assert_eq!(api::get(s, &tb, "/api/stats/daily?grid=g1").await?.status, 403, "a volunteer");
    assert_eq!(api::get(s, &ta, "/api/stats/daily?grid=g2").await?.status, 403, "another grid");
    assert_eq!(api::get(s, &ta, "/api/stats/daily?grid=g1&days=0").await?.status, 400);
    let medic = api::get_ok(s, &td, "/api/stats/daily?grid=g1").await?;
    assert!(list(&medic, "days").iter().all(|d| d["deliveries_done"].is_null()), "no deliveries for medics: {medic:#}");

    // Risk high: the server gives open work the policy; the delivered task keeps its own.
    let r = api::put(s, &ta, "/api/grids/g1/risk", &json!({"level": "high"})).await?;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["applied"], json!({"episodes": 1, "tasks": 1}), "{}", r.body);
    sync_until(&mut alice, &e, T, |v| v["slots"] == 2).await?;
    sync_until(&mut alice, &late, T, |v| v["contactless"] == true).await?;
    assert_eq!(read(alice.doc(&done))["contactless"], false, "closed work keeps what it had");
    // The second slot exists now, once the server has copied it into the readings.
    sync_until(&mut bob, &rd, T, |v| v["slots"] == 2).await?;
    put_checkin(&mut bob, &rd, "2026-03-16/1", reading(36.5, &[], &bob_id));
    assert_eq!(push_change(&mut bob, &rd, T).await?, Outcome::Accepted, "slot 1 of 2");

    // Risk low: one slot again. The check-in already in slot 1 stays valid (the episode
    // still takes changes); a new one in slot 1 is refused.
    let r = api::put(s, &ta, "/api/grids/g1/risk", &json!({"level": "low"})).await?;
    assert_eq!(r.status, 200, "{}", r.body);
    let readings = sync_until(&mut bob, &rd, T, |v| v["slots"] == 1).await?;
    assert!(readings["checkins"].get("2026-03-16/1").is_some(), "{readings:#}");
    put_checkin(&mut bob, &rd, "2026-03-15/1", reading(36.5, &[], &bob_id));
    assert!(matches!(push_change(&mut bob, &rd, T).await?, Outcome::Rejected(_)), "slot 1 of 1");
    sync_until(&mut alice, &e, T, |v| v["slots"] == 1).await?;
    let mut v = read(alice.doc(&e));
    v["end"] = json!("2026-03-28");
    write(alice.doc(&e), v);
    assert_eq!(push_change(&mut alice, &e, T).await?, Outcome::Accepted, "the episode is still valid");
    Ok(())
}
