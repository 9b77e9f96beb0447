//! What coordinators, medics and admins ask of the server (issue 3 items 4–6, DESIGN §5–6),
//! against the real binary: CSV exports (their grid only, volunteers refused, health
//! readings and medical notes only for medics, each export audited), the audit log of accepted and
//! refused changes and of household reads, the grid dashboard, alerts
//! (raised by a fever check-in, acknowledged, resolved) and the grid's risk level.

use linli_shared::DocumentId;
use linli_tests::api::{self, encode_segment};
use linli_tests::domain::{
    add_medic_note, checkin, checkin_key, create, episode, household, log_entry, medical_of, now_ms, put_checkin, read,
    readings_of, set, task, write,
};
use linli_tests::exports::{self, export, Csv};
use linli_tests::outcome::{fetch, push_change, Outcome};
use linli_tests::server::{ADMIN, ALICE, BOB, DAVE, FRANK};
use linli_tests::{Community, ServerProcess, TestPeer};
use serde_json::{json, Value};
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

async fn export_when(
    server: &ServerProcess,
    token: &str,
    name: &str,
    ready: impl Fn(&Csv) -> bool,
) -> anyhow::Result<Csv> {
    exports::export_when(server, token, name, T, ready).await
}

async fn count_exports(server: &ServerProcess, admin: &str, user: &str) -> anyhow::Result<usize> {
    Ok(exports::entries_of(server, admin, "export", user).await?.len())
}

#[tokio::test]
async fn exports_are_per_grid_masked_by_role_refused_to_volunteers_and_audited() -> anyhow::Result<()> {
    let c = Community::start_with_admin(&["--index-flush-ms", "50"]).await?;
    let (ta, alice_id) = c.login_full(ALICE).await?;
    let (tb, bob_id) = c.login_full(BOB).await?;
    let (td, dave_id) = c.login_full(DAVE).await?;
    let (tf, frank_id) = c.login_full(FRANK).await?;
    let (tadmin, _) = c.login_full(ADMIN).await?;
    let s = &c.server;

    // g1: alice's household, a task and an episode for bob, with a fever check-in.
    let mut alice = TestPeer::new("alice");
    alice.connect(&s.ws_url(&ta)).await?;
    let h1 = create(&mut alice, household("g1", "401"));
    let t1 = create(&mut alice, task("g1", &h1, Some(&bob_id), &alice_id));
    let e1 = create(&mut alice, episode("g1", &h1, Some(&bob_id)));
    alice.sync_all(T).await?;
    let mut bob = TestPeer::new("bob");
    bob.connect(&s.ws_url(&tb)).await?;
    bob.want(e1);
    bob.sync_all(T).await?;
    let r1 = readings_of(&mut bob, &e1, T).await?;
    put_checkin(&mut bob, &r1, &checkin_key(0, 0), checkin(38.2, &bob_id, "feverish"));
    assert_eq!(push_change(&mut bob, &r1, T).await?, Outcome::Accepted);
    // g2: frank's household, task and episode.
    let mut frank = TestPeer::new("frank");
    frank.connect(&s.ws_url(&tf)).await?;
    let h2 = create(&mut frank, household("g2", "402"));
    let t2 = create(&mut frank, task("g2", &h2, None, &frank_id));
    let e2 = create(&mut frank, episode("g2", &h2, None));
    frank.sync_all(T).await?;

    // A coordinator gets their grid's rows only, health details masked.
    let tasks = export_when(s, &ta, "tasks.csv", |c| c.has(&t1)).await?;
    assert!(tasks.has(&t1), "alice's tasks.csv lacks her task: {:?}", tasks.ids());
    assert!(!tasks.has(&t2), "alice's tasks.csv holds g2's task");
    assert_eq!(tasks.cell(&t1, "负责人"), "bob", "the assignee by name");
    let eps = export_when(s, &ta, "episodes.csv", |c| c.has(&e1) && c.cell(&e1, "打卡次数") == "1").await?;
    assert!(eps.has(&e1) && !eps.has(&e2), "alice's episodes.csv: {:?}", eps.ids());
    assert_eq!(eps.cell(&e1, "打卡次数"), "1");
    assert!(!eps.header.iter().any(|h| h.contains("体温")), "a coordinator gets no temperatures: {:?}", eps.header);
    assert!(!eps.text.contains("38.2") && !eps.text.contains("feverish"), "{}", eps.text);
    assert_eq!(eps.cell(&e1, "健康状况"), "异常");
    let hh = export_when(s, &ta, "households.csv", |c| c.has(&h1)).await?;
    assert!(hh.has(&h1) && !hh.has(&h2), "alice's households.csv: {:?}", hh.ids());
    assert_eq!(hh.cell(&h1, "房号"), "401");

    // A medic sees the temperatures; the coordinator of g2 sees g2 only; an admin all.
    let eps = export_when(s, &td, "episodes.csv", |c| c.has(&e1)).await?;
    assert_eq!(eps.cell(&e1, "最近体温(°C)"), "38.2", "a medic sees temperatures");
    assert!(!eps.has(&e2));
    // The temperatures come from the episode's readings: the export is a read of them.
    let read_readings = api::audit(s, &tadmin, Some("read.readings")).await?;
    assert!(
        read_readings.iter().any(|e| e["doc"] == r1.to_string() && e["user"] == json!(dave_id)),
        "the medic's export of the readings is not audited: {read_readings:#?}"
    );
    let tasks = export_when(s, &tf, "tasks.csv", |c| c.has(&t2)).await?;
    assert!(tasks.has(&t2) && !tasks.has(&t1), "frank's tasks.csv: {:?}", tasks.ids());
    let tasks = export_when(s, &tadmin, "tasks.csv", |c| c.has(&t1) && c.has(&t2)).await?;
    assert!(tasks.has(&t1) && tasks.has(&t2), "the admin's tasks.csv: {:?}", tasks.ids());

    // Volunteers export nothing.
    for name in ["tasks.csv", "episodes.csv", "households.csv"] {
        assert_eq!(export(s, &tb, name).await?.0, 403, "a volunteer exporting {name}");
    }

    // Each export adds one audit entry, `export`, by whoever exported.
    for (token, user, name) in [(&ta, &alice_id, "households.csv"), (&td, &dave_id, "episodes.csv")] {
        let before = count_exports(s, &tadmin, user).await?;
        assert_eq!(export(s, token, name).await?.0, 200);
        let after = count_exports(s, &tadmin, user).await?;
        assert_eq!(after, before + 1, "exporting {name} as {user} should add one audit entry");
    }
    let newest = &api::audit(s, &tadmin, Some("export")).await?[0];
    assert_eq!(newest["user"], json!(dave_id));
    assert!(newest["detail"].as_str().unwrap_or("").contains("episodes.csv"), "{newest}");
    assert!(newest["at"].as_i64().unwrap_or(0) > 0);

    // Accepted and refused changes are in the audit log (bob's check-in, in the readings).
    let accepted = api::audit(s, &tadmin, Some("change.accepted")).await?;
    for (doc, user) in [(&t1, &alice_id), (&r1, &bob_id), (&t2, &frank_id)] {
        assert!(
            accepted.iter().any(|e| e["doc"] == doc.to_string() && e["user"] == json!(user)),
            "no change.accepted entry for {doc} by {user}"
        );
    }
    let mut bob = TestPeer::new("bob");
    bob.connect(&s.ws_url(&tb)).await?;
    bob.want(t1);
    bob.sync_all(T).await?;
    set(&mut bob, &t1, "priority", json!("urgent"));
    assert!(matches!(push_change(&mut bob, &t1, T).await?, Outcome::Rejected(_)));
    let refused = api::audit(s, &tadmin, Some("change.refused")).await?;
    let entry = refused
        .iter()
        .find(|e| e["doc"] == t1.to_string() && e["user"] == json!(bob_id))
        .unwrap_or_else(|| panic!("no change.refused entry for bob's change: {refused:#?}"));
    assert!(entry["detail"].as_str().unwrap_or("").contains("priority"), "{entry}");

    // A volunteer reading a household's details is audited, and so is a coordinator's
    // (every role's: tests/read_audit.rs).
    let reads = |v: &[Value], user: &str| v.iter().filter(|e| e["doc"] == h1.to_string() && e["user"] == user).count();
    let before = api::audit(s, &tadmin, Some("read.household")).await?;
    assert!(fetch(&s.ws_url(&tb), &h1, T).await?.available(), "bob reads the household of his task");
    assert!(fetch(&s.ws_url(&ta), &h1, T).await?.available());
    let after = api::audit(s, &tadmin, Some("read.household")).await?;
    assert!(reads(&after, &bob_id) > reads(&before, &bob_id), "bob's read of the household is not audited");
    assert_eq!(reads(&after, &alice_id), 1, "a coordinator's read is audited once a day");

    // The audit log is for administrators.
    assert_eq!(api::get(s, &ta, "/api/audit").await?.status, 403);
    assert_eq!(api::get(s, &tb, "/api/audit").await?.status, 403);
    Ok(())
}

/// A coordinator assigns work by name: `GET /api/grids/{id}/people` lists the grid's
/// people with their roles, and nothing about them beyond that; only for the grid's
/// overseers.
#[tokio::test]
async fn a_grid_s_people_for_its_overseers_only() -> anyhow::Result<()> {
    let c = Community::start_with_admin(&[]).await?;
    let s = &c.server;
    let (ta, _) = c.login_full(ALICE).await?;
    let (td, _) = c.login_full(DAVE).await?;
    let (tb, bob_id) = c.login_full(BOB).await?;
    let (tf, _) = c.login_full(FRANK).await?;
    let (tadmin, _) = c.login_full(ADMIN).await?;

    let people = api::get_ok(s, &ta, "/api/grids/g1/people").await?;
    let list = people["people"].as_array().cloned().unwrap_or_default();
    let mut names: Vec<(String, String)> = list
        .iter()
        .map(|p| (p["username"].as_str().unwrap_or("").to_owned(), p["role"].as_str().unwrap_or("").to_owned()))
        .collect();
    names.sort();
    let want: Vec<(String, String)> = [
        ("alice", "coordinator"),
        ("bob", "volunteer"),
        ("carol", "coordinator"),
        ("dave", "medic"),
        ("erin", "volunteer"),
    ]
    .iter()
    .map(|(n, r)| ((*n).to_owned(), (*r).to_owned()))
    .collect();
    assert_eq!(names, want, "{people:#}");
    let bob = list.iter().find(|p| p["username"] == "bob").expect("bob");
    assert_eq!(bob["id"], bob_id.as_str());
    let keys: Vec<&String> = bob.as_object().map(|o| o.keys().collect()).unwrap_or_default();
    assert_eq!(keys, ["id", "role", "username"], "only names and roles: {bob}");

    assert_eq!(api::get(s, &td, "/api/grids/g1/people").await?.status, 200, "the grid's medic");
    assert_eq!(api::get(s, &tadmin, "/api/grids/g1/people").await?.status, 200, "an admin");
    assert_eq!(api::get(s, &tb, "/api/grids/g1/people").await?.status, 403, "a volunteer");
    assert_eq!(api::get(s, &tf, "/api/grids/g1/people").await?.status, 403, "another grid's coordinator");
    assert_eq!(api::get(s, &tadmin, "/api/grids/nope/people").await?.status, 404);
    assert_eq!(api::get(s, "not-a-token", "/api/grids/g1/people").await?.status, 401);
    Ok(())
}

/// Polls the dashboard of g1 until `ready` holds; returns the last answer.
async fn dashboard_when(server: &ServerProcess, token: &str, ready: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let d = api::get_ok(server, token, "/api/grids/g1/dashboard").await?;
        if ready(&d) || tokio::time::Instant::now() > deadline {
            return Ok(d);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn dashboard_alerts_and_risk_level() -> anyhow::Result<()> {
    let c = Community::start_with_admin(&["--index-flush-ms", "50"]).await?;
    let (ta, alice_id) = c.login_full(ALICE).await?;
    let (tb, bob_id) = c.login_full(BOB).await?;
    let (tf, frank_id) = c.login_full(FRANK).await?;
    let (tadmin, _) = c.login_full(ADMIN).await?;
    let s = &c.server;

    let mut alice = TestPeer::new("alice");
    alice.connect(&s.ws_url(&ta)).await?;
    let h = create(&mut alice, household("g1", "501"));
    let _assigned = create(&mut alice, task("g1", &h, Some(&bob_id), &alice_id));
    let _new = create(&mut alice, task("g1", &h, None, &alice_id));
    let cancelled = create(&mut alice, task("g1", &h, None, &alice_id));
    let mut late = task("g1", &h, Some(&bob_id), &alice_id);
    late["due"] = json!(now_ms() - 3_600_000);
    let late = create(&mut alice, late);
    let e = create(&mut alice, episode("g1", &h, Some(&bob_id)));
    alice.sync_all(T).await?;
    set(&mut alice, &cancelled, "status", json!("cancelled"));
    alice.sync_all(T).await?;
    // Another grid's work is not counted in g1.
    let mut frank = TestPeer::new("frank");
    frank.connect(&s.ws_url(&tf)).await?;
    let h2 = create(&mut frank, household("g2", "502"));
    let mut t2 = task("g2", &h2, None, &frank_id);
    t2["due"] = json!(now_ms() - 3_600_000);
    create(&mut frank, t2);
    frank.sync_all(T).await?;

    // Bob's check-in with 38.2 °C.
    let mut bob = TestPeer::new("bob");
    bob.connect(&s.ws_url(&tb)).await?;
    bob.want(e);
    bob.sync_all(T).await?;
    let r = readings_of(&mut bob, &e, T).await?;
    let key = checkin_key(0, 0);
    put_checkin(&mut bob, &r, &key, checkin(38.2, &bob_id, ""));
    assert_eq!(push_change(&mut bob, &r, T).await?, Outcome::Accepted);

    let want = json!({"assigned": 2, "new": 1, "cancelled": 1});
    let d = dashboard_when(s, &ta, |d| d["tasks"] == want && d["open_alerts"] == 2).await?;
    assert_eq!(d["tasks"], want, "tasks by status: {d:#}");
    assert_eq!(d["overdue_tasks"], 1, "{d:#}");
    assert_eq!(d["open_alerts"], 2, "a fever and an overdue delivery: {d:#}");
    assert_eq!(d["episodes"], json!({"active": 1}), "{d:#}");
    assert_eq!(d["households"], 1, "{d:#}");
    // Only g1's overseers see it.
    assert_eq!(api::get(s, &tf, "/api/grids/g1/dashboard").await?.status, 403);
    assert_eq!(api::get(s, &tb, "/api/grids/g1/dashboard").await?.status, 403);

    // The fever alert, as the coordinator sees it.
    let alerts = api::get_ok(s, &ta, "/api/alerts").await?;
    let list = alerts["alerts"].as_array().cloned().unwrap_or_default();
    let fever = list
        .iter()
        .find(|a| a["kind"] == "fever" && a["doc"] == e.to_string())
        .unwrap_or_else(|| panic!("no fever alert: {alerts:#}"))
        .clone();
    assert_eq!(fever["status"], "open");
    assert_eq!(fever["grid"], "g1");
    // Without the reading (DESIGN §9): the coordinator and the admin learn that a check-in
    // was abnormal, and when; the medic of the grid reads the temperature.
    assert!(!alerts.to_string().contains("38.2"), "the coordinator's alerts carry the reading: {alerts:#}");
    let admin_alerts = api::get_ok(s, &tadmin, "/api/alerts").await?;
    assert!(!admin_alerts.to_string().contains("38.2"), "the admin's alerts carry the reading: {admin_alerts:#}");
    let td = c.token(DAVE).await?;
    let medic = api::get_ok(s, &td, "/api/alerts").await?;
    let medic_fever = medic["alerts"].as_array().and_then(|l| l.iter().find(|a| a["id"] == fever["id"]).cloned());
    assert!(medic_fever.is_some_and(|a| a["detail"].as_str().unwrap_or("").contains("38.2")), "{medic:#}");
    assert!(list.iter().any(|a| a["kind"] == "overdue_delivery" && a["doc"] == late.to_string()), "{alerts:#}");
    assert!(list.iter().all(|a| a["grid"] == "g1"), "alice sees another grid's alerts: {alerts:#}");
    let id = fever["id"].as_str().expect("alert id").to_owned();
    assert!(id.contains('/') && id.contains(':'), "alert id {id}");
    let path = |action: &str| format!("/api/alerts/{}/{action}", encode_segment(&id));

    // Volunteers and other grids' coordinators may not touch it.
    assert_eq!(api::get(s, &tb, "/api/alerts").await?.status, 403, "a volunteer listing alerts");
    assert_eq!(api::post(s, &tb, &path("acknowledge"), None).await?.status, 403);
    let r = api::post(s, &tf, &path("acknowledge"), None).await?;
    assert!(matches!(r.status, 403 | 404), "frank acknowledging g1's alert: {} {}", r.status, r.body);
    assert!(
        !api::get_ok(s, &tf, "/api/alerts").await?["alerts"]
            .as_array()
            .is_some_and(|l| l.iter().any(|a| a["id"] == id.as_str())),
        "frank sees g1's alert"
    );

    // Acknowledge, then resolve.
    let r = api::post(s, &ta, &path("acknowledge"), None).await?;
    assert_eq!(r.status, 200, "acknowledge: {}", r.body);
    assert!(!r.body.contains("38.2"), "the acknowledged alert carries the reading: {}", r.body);
    let a = &r.json()["alert"];
    assert_eq!(a["status"], "acknowledged");
    assert_eq!(a["acknowledged_by"], json!(alice_id));
    assert_eq!(api::post(s, &ta, &path("acknowledge"), None).await?.status, 400, "acknowledging twice");
    // Resolving takes a note: none, a blank one or a long one is refused.
    for bad in [None, Some(json!({"note": "  "})), Some(json!({"note": "长".repeat(201)}))] {
        let r = api::post(s, &ta, &path("resolve"), bad.as_ref()).await?;
        assert_eq!(r.status, 400, "resolving with {bad:?}: {}", r.body);
    }
    let r = api::post(s, &ta, &path("resolve"), Some(&json!({"note": "已电话联系，明早复测"}))).await?;
    assert_eq!(r.status, 200, "resolve: {}", r.body);
    let a = &r.json()["alert"];
    assert_eq!(a["status"], "resolved");
    assert_eq!(a["resolved_by"], json!(alice_id));
    assert_eq!(a["resolution_note"], "已电话联系，明早复测");
    // The history of resolved alerts: who, when, with what note.
    let done = api::get_ok(s, &ta, "/api/alerts?status=resolved").await?;
    let listed = done["alerts"].as_array().and_then(|l| l.iter().find(|a| a["id"] == id.as_str()).cloned());
    let listed = listed.unwrap_or_else(|| panic!("not in the history: {done:#}"));
    assert_eq!(listed["resolution_note"], "已电话联系，明早复测", "{listed:#}");
    assert!(listed["resolved_at"].is_i64(), "{listed:#}");
    assert!(done["alerts"].as_array().is_some_and(|l| l.iter().all(|a| a["status"] == "resolved")), "{done:#}");
    let open = api::get_ok(s, &ta, "/api/alerts").await?;
    assert!(
        !open["alerts"].as_array().is_some_and(|l| l.iter().any(|a| a["id"] == id.as_str())),
        "resolved yet listed"
    );
    let all = api::get_ok(s, &ta, "/api/alerts?status=all").await?;
    assert!(
        all["alerts"].as_array().is_some_and(|l| l.iter().any(|a| a["id"] == id.as_str() && a["status"] == "resolved")),
        "{all:#}"
    );
    let d = dashboard_when(s, &ta, |d| d["open_alerts"] == 1).await?;
    assert_eq!(d["open_alerts"], 1, "after resolving the fever alert: {d:#}");
    let audit = api::audit(s, &tadmin, Some("alert.")).await?;
    for action in ["alert.acknowledge", "alert.resolve"] {
        assert!(audit.iter().any(|e| e["action"] == action && e["user"] == json!(alice_id)), "no {action} audited");
    }

    // Risk level: g1's coordinator sets it, with history and policy; g2's may not.
    let r = api::put(s, &ta, "/api/grids/g1/risk", &json!({"level": "high"})).await?;
    assert_eq!(r.status, 200, "{}", r.body);
    let g = &r.json()["grid"];
    assert_eq!(g["risk_level"], "high");
    let last = g["risk_history"].as_array().and_then(|h| h.last()).cloned().unwrap_or_default();
    assert_eq!(last["level"], "high", "{g:#}");
    assert_eq!(last["by"], json!(alice_id), "{g:#}");
    assert_eq!(g["policy"], json!({"checkins_per_day": 2, "contactless": true}), "{g:#}");
    let me = api::me(s, &ta).await?;
    assert_eq!(me["grids"][0]["risk_level"], "high", "{me:#}");
    let r = api::put(s, &tf, "/api/grids/g1/risk", &json!({"level": "low"})).await?;
    assert_eq!(r.status, 403, "frank setting g1's risk level: {}", r.body);
    assert_eq!(api::put(s, &tb, "/api/grids/g1/risk", &json!({"level": "low"})).await?.status, 403);
    assert_eq!(api::put(s, &ta, "/api/grids/g1/risk", &json!({"level": "extreme"})).await?.status, 400);
    let d = api::get_ok(s, &ta, "/api/grids/g1/dashboard").await?;
    assert_eq!(d["grid"]["risk_level"], "high", "frank's attempt changed the level: {d:#}");
    assert_eq!(d["grid"]["risk_history"].as_array().map(Vec::len), g["risk_history"].as_array().map(Vec::len));
    assert!(
        api::audit(s, &tadmin, Some("grid.risk")).await?.iter().any(|e| e["user"] == json!(alice_id)),
        "the risk change is not audited"
    );
    Ok(())
}

/// Moves a task of `peer`'s to `failed` with `reason`, as its grid's coordinator `by` may:
/// one change, with a log entry for each step from its current status.
fn fail_task(peer: &mut TestPeer, id: &DocumentId, by: &str, reason: &str) {
    let mut value = read(peer.doc(id));
    let mut from = value["status"].as_str().expect("a task's status").to_owned();
    for to in ["accepted", "picked_up", "failed"] {
        value["log"].as_array_mut().expect("a task's log").push(log_entry(by, &from, to));
        from = to.to_owned();
    }
    value["status"] = json!("failed");
    value["failure_reason"] = json!(reason);
    write(peer.doc(id), value);
}

/// CSV injection (issue 9 item 8): free text that a spreadsheet would run as a formula (a
/// household's notes, a delivery's failure reason) comes out of the exports as text, with
/// a leading `'`, in every export that carries it.
#[tokio::test]
async fn exported_cells_never_start_a_formula() -> anyhow::Result<()> {
    let c = Community::start(&["--index-flush-ms", "50"]).await?;
    let (ta, alice_id) = c.login_full(ALICE).await?;
    let (_, bob_id) = c.login_full(BOB).await?;
    let s = &c.server;
    let mut alice = TestPeer::new("alice");
    alice.connect(&s.ws_url(&ta)).await?;
    let mut h = household("g1", "601");
    h["notes"] = json!("=HYPERLINK(\"http://x\",\"y\")");
    let h = create(&mut alice, h);
    let t1 = create(&mut alice, task("g1", &h, Some(&bob_id), &alice_id));
    let t2 = create(&mut alice, task("g1", &h, Some(&bob_id), &alice_id));
    alice.sync_all(T).await?;
    fail_task(&mut alice, &t1, &alice_id, "+1+1");
    fail_task(&mut alice, &t2, &alice_id, "@SUM(1)");
    alice.sync_all(T).await?;

    let hh = export_when(s, &ta, "households.csv", |c| c.has(&h)).await?;
    assert_eq!(hh.cell(&h, "备注"), "'=HYPERLINK(\"http://x\",\"y\")");
    assert_eq!(hh.cell(&h, "房号"), "601", "a plain cell is unchanged");
    let failed =
        |c: &Csv| c.has(&t1) && c.has(&t2) && c.cell(&t1, "状态") == "未送达" && c.cell(&t2, "状态") == "未送达";
    let tasks = export_when(s, &ta, "tasks.csv", failed).await?;
    assert!(failed(&tasks), "the tasks did not fail: {:?}", tasks.rows);
    assert_eq!(tasks.cell(&t1, "未送达原因"), "'+1+1");
    assert_eq!(tasks.cell(&t2, "未送达原因"), "'@SUM(1)");
    Ok(())
}

/// Exports need a purpose, say in the file who made them, when and why, and carry only
/// the columns the exporter's role may see (issue 11 item 3, DESIGN §9): a temperature, a
/// symptom, a check-in note and a medical note planted in an episode are in the medic's
/// file and in no coordinator's or admin's; the file opens in Excel (a byte order mark,
/// Chinese names, local times, phone numbers as text — issue 14).
#[tokio::test]
async fn exports_need_a_purpose_name_who_when_and_why_and_follow_the_role() -> anyhow::Result<()> {
    let c = Community::start_with_admin(&["--index-flush-ms", "50"]).await?;
    let (ta, alice_id) = c.login_full(ALICE).await?;
    let (tb, bob_id) = c.login_full(BOB).await?;
    let (td, dave_id) = c.login_full(DAVE).await?;
    let (tadmin, admin_id) = c.login_full(ADMIN).await?;
    let s = &c.server;

    let mut alice = TestPeer::new("alice");
    alice.connect(&s.ws_url(&ta)).await?;
    let mut h = household("g1", "801");
    h["phone"] = json!("01012345678");
    let h = create(&mut alice, h);
    let t = create(&mut alice, task("g1", &h, Some(&bob_id), &alice_id));
    let e = create(&mut alice, episode("g1", &h, Some(&bob_id)));
    alice.sync_all(T).await?;
    let mut bob = TestPeer::new("bob");
    bob.connect(&s.ws_url(&tb)).await?;
    bob.want(e);
    bob.sync_all(T).await?;
    let mut reading = checkin(38.6, &bob_id, "夜间盗汗");
    reading["symptoms"] = json!(["jaundice"]);
    let r = readings_of(&mut bob, &e, T).await?;
    put_checkin(&mut bob, &r, &checkin_key(0, 0), reading);
    assert_eq!(push_change(&mut bob, &r, T).await?, Outcome::Accepted);
    let mut dave = TestPeer::new("dave");
    dave.connect(&s.ws_url(&td)).await?;
    dave.want(e);
    dave.sync_all(T).await?;
    let record = medical_of(&mut dave, &e, T).await?;
    add_medic_note(&mut dave, &record, &dave_id, "建议复查肝功能");
    assert_eq!(push_change(&mut dave, &record, T).await?, Outcome::Accepted);

    // No purpose, a blank one, one too long or with a line break: refused, and clearly.
    for purpose in [None, Some("   "), Some("a\nb")] {
        for name in ["tasks.csv", "episodes.csv", "households.csv"] {
            let (status, _) = exports::export_with(s, &ta, name, purpose).await?;
            assert_eq!(status, 400, "{name} with purpose {purpose:?}");
        }
    }
    let long = "目".repeat(201);
    assert_eq!(exports::export_with(s, &ta, "tasks.csv", Some(&long)).await?.0, 400);
    let r = api::get(s, &ta, "/api/export/tasks.csv").await?;
    assert_eq!(r.json()["error"]["code"], "bad_request", "{}", r.body);
    assert!(r.json()["error"]["message"].as_str().unwrap_or("").contains("purpose"), "{}", r.body);
    assert_eq!(count_exports(s, &tadmin, &alice_id).await?, 0, "a refused export is no export");

    // The coordinator's file: who, when (the server's clock, local time), why; no values.
    let ready = |c: &Csv| c.has(&e) && c.cell(&e, "打卡次数") == "1";
    let eps = export_when(s, &ta, "episodes.csv", ready).await?;
    assert!(ready(&eps), "{}", eps.text);
    assert_eq!(eps.meta("导出人"), Some("alice（网格员）"), "{:?}", eps.meta);
    assert_eq!(eps.meta("导出时间"), Some("2026-03-16 10:00 (UTC+08:00)"), "{:?}", eps.meta);
    assert_eq!(eps.meta("导出目的"), Some(exports::PURPOSE));
    assert_eq!(eps.meta("导出内容"), Some("居家观察"));
    assert!(eps.meta("网格").is_some_and(|g| g.contains("g1")), "{:?}", eps.meta);
    let planted = ["38.6", "黄疸", "jaundice", "夜间盗汗", "建议复查肝功能"];
    let absent = |csv: &Csv, who: &str| {
        for value in planted {
            assert!(!csv.text.contains(value), "{who}'s episodes.csv holds {value}: {}", csv.text);
        }
    };
    absent(&eps, "the coordinator");
    assert_eq!(eps.cell(&e, "健康状况"), "异常");
    assert_ne!(eps.cell(&e, "未处理预警"), "0");
    assert_eq!(eps.cell(&e, "观察原因"), "居家隔离");
    assert_eq!(eps.cell(&e, "地址"), "3号楼2单元801");
    let admin_eps = export_when(s, &tadmin, "episodes.csv", ready).await?;
    absent(&admin_eps, "the admin");
    assert_eq!(admin_eps.meta("导出人"), Some("root（管理员）"));
    assert_eq!(admin_eps.meta("网格"), Some("全部网格"));
    assert_eq!(admin_eps.header, eps.header, "admins see what coordinators see");

    // The medic's file holds every planted value, in its own column.
    let medic = export_when(s, &td, "episodes.csv", |c| c.has(&e) && c.text.contains("建议复查肝功能")).await?;
    assert_eq!(medic.cell(&e, "最近体温(°C)"), "38.6");
    assert_eq!(medic.cell(&e, "最近症状"), "黄疸");
    assert_eq!(medic.cell(&e, "最近打卡备注"), "夜间盗汗");
    assert!(medic.cell(&e, "医护备注").contains("建议复查肝功能"), "{}", medic.text);
    assert_eq!(medic.meta("导出人"), Some("dave（医护）"));

    // Tasks: names, local times, Chinese values; refused to medics.
    let tasks = export_when(s, &ta, "tasks.csv", |c| c.has(&t)).await?;
    assert_eq!(tasks.cell(&t, "截止时间"), "2026-03-16 11:00");
    assert_eq!(tasks.cell(&t, "创建时间"), "2026-03-16 10:00");
    assert_eq!(tasks.cell(&t, "创建人"), "alice");
    assert_eq!(tasks.cell(&t, "类别"), "食品");
    assert_eq!(tasks.cell(&t, "状态"), "已分配");
    assert_eq!(exports::export(s, &td, "tasks.csv").await?.0, 403);

    // Households: the phone as text (digits grouped, the leading zero kept); a medic sees
    // the contact of a household with an open episode.
    let hh = export_when(s, &ta, "households.csv", |c| c.has(&h)).await?;
    assert_eq!(hh.cell(&h, "联系电话"), "010 1234 5678");
    assert_eq!(hh.cell(&h, "重点关照"), "独居老人");
    assert_eq!(hh.cell(&h, "常用药"), "insulin");
    let hh = export_when(s, &td, "households.csv", |c| c.has(&h) && !c.cell(&h, "联系电话").is_empty()).await?;
    assert_eq!(hh.cell(&h, "联系电话"), "010 1234 5678", "the medic, with an open episode: {}", hh.text);

    // The audit entry names who, which export, how many rows, and the purpose.
    let mine = exports::entries_of(s, &tadmin, "export", &admin_id).await?;
    assert_eq!(mine.len(), 1, "{mine:#?}");
    let detail = mine[0]["detail"].as_str().unwrap_or("");
    assert!(detail.contains("episodes.csv") && detail.contains(exports::PURPOSE), "{detail}");
    assert!(detail.contains("1 rows"), "{detail}");
    Ok(())
}
