//! What coordinators, medics and admins ask of the server (issue 3 items 4–6, DESIGN §5–6),
//! against the real binary: CSV exports (their grid only, volunteers refused, health
//! details masked but for medics, each export audited), the audit log of accepted and
//! refused changes and of household reads, the grid dashboard, alerts
//! (raised by a fever check-in, acknowledged, resolved) and the grid's risk level.

use linli_shared::DocumentId;
use linli_tests::api::{self, encode_segment};
use linli_tests::domain::{
    checkin, checkin_key, create, episode, household, log_entry, now_ms, put_checkin, read, set, task, write,
};
use linli_tests::outcome::{fetch, push_change, Outcome};
use linli_tests::server::{ADMIN, ALICE, BOB, DAVE, FRANK};
use linli_tests::{Community, ServerProcess, TestPeer};
use serde_json::{json, Value};
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

/// A small CSV reader (RFC 4180 quoting): rows of fields.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let (mut row, mut field, mut quoted, mut chars) = (Vec::new(), String::new(), false, text.chars().peekable());
    while let Some(ch) = chars.next() {
        match (quoted, ch) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\r') => {}
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// An export as (header, rows by id).
struct Csv {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Csv {
    fn ids(&self) -> Vec<&str> {
        self.rows.iter().map(|r| r[0].as_str()).collect()
    }

    fn has(&self, id: &DocumentId) -> bool {
        self.ids().contains(&id.to_string().as_str())
    }

    fn cell(&self, id: &DocumentId, column: &str) -> String {
        let col = self.header.iter().position(|h| h == column).unwrap_or_else(|| panic!("no column {column}"));
        let row = self.rows.iter().find(|r| r[0] == id.to_string()).unwrap_or_else(|| panic!("no row {id}"));
        row[col].clone()
    }
}

async fn export(server: &ServerProcess, token: &str, name: &str) -> anyhow::Result<(u16, Option<Csv>)> {
    let r = api::get(server, token, &format!("/api/export/{name}")).await?;
    if r.status != 200 {
        return Ok((r.status, None));
    }
    let mut rows = parse_csv(&r.body);
    anyhow::ensure!(!rows.is_empty(), "{name}: empty body");
    let header = rows.remove(0);
    Ok((200, Some(Csv { header, rows })))
}

/// Exports `name` until `ready` holds (the exports read projections the server updates
/// in the background).
async fn export_when(
    server: &ServerProcess,
    token: &str,
    name: &str,
    ready: impl Fn(&Csv) -> bool,
) -> anyhow::Result<Csv> {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let (status, csv) = export(server, token, name).await?;
        anyhow::ensure!(status == 200, "{name}: {status}");
        let csv = csv.expect("200 has a body");
        if ready(&csv) || tokio::time::Instant::now() > deadline {
            return Ok(csv);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn count_exports(server: &ServerProcess, admin: &str, user: &str) -> anyhow::Result<usize> {
    Ok(api::audit(server, admin, Some("export")).await?.iter().filter(|e| e["user"] == user).count())
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
    put_checkin(&mut bob, &e1, &checkin_key(0, 0), checkin(38.2, &bob_id, "feverish"));
    assert_eq!(push_change(&mut bob, &e1, T).await?, Outcome::Accepted);
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
    assert_eq!(tasks.cell(&t1, "assignee"), bob_id);
    let eps = export_when(s, &ta, "episodes.csv", |c| c.has(&e1) && c.cell(&e1, "checkins") == "1").await?;
    assert!(eps.has(&e1) && !eps.has(&e2), "alice's episodes.csv: {:?}", eps.ids());
    assert_eq!(eps.cell(&e1, "checkins"), "1");
    assert_eq!(eps.cell(&e1, "latest_temp_c"), "***", "a coordinator sees temperatures masked");
    assert_eq!(eps.cell(&e1, "symptoms"), "***");
    let hh = export_when(s, &ta, "households.csv", |c| c.has(&h1)).await?;
    assert!(hh.has(&h1) && !hh.has(&h2), "alice's households.csv: {:?}", hh.ids());
    assert_eq!(hh.cell(&h1, "room"), "401");

    // A medic sees the temperatures; the coordinator of g2 sees g2 only; an admin all.
    let eps = export_when(s, &td, "episodes.csv", |c| c.has(&e1)).await?;
    assert_eq!(eps.cell(&e1, "latest_temp_c"), "38.2", "a medic sees temperatures");
    assert!(!eps.has(&e2));
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

    // Accepted and refused changes are in the audit log.
    let accepted = api::audit(s, &tadmin, Some("change.accepted")).await?;
    for (doc, user) in [(&t1, &alice_id), (&e1, &bob_id), (&t2, &frank_id)] {
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
    let key = checkin_key(0, 0);
    put_checkin(&mut bob, &e, &key, checkin(38.2, &bob_id, ""));
    assert_eq!(push_change(&mut bob, &e, T).await?, Outcome::Accepted);

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
    assert!(fever["detail"].as_str().unwrap_or("").contains("38.2"), "{fever}");
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
    let a = &r.json()["alert"];
    assert_eq!(a["status"], "acknowledged");
    assert_eq!(a["acknowledged_by"], json!(alice_id));
    assert_eq!(api::post(s, &ta, &path("acknowledge"), None).await?.status, 400, "acknowledging twice");
    let r = api::post(s, &ta, &path("resolve"), None).await?;
    assert_eq!(r.status, 200, "resolve: {}", r.body);
    let a = &r.json()["alert"];
    assert_eq!(a["status"], "resolved");
    assert_eq!(a["resolved_by"], json!(alice_id));
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
    assert_eq!(hh.cell(&h, "notes"), "'=HYPERLINK(\"http://x\",\"y\")");
    assert_eq!(hh.cell(&h, "room"), "601", "a plain cell is unchanged");
    let failed =
        |c: &Csv| c.has(&t1) && c.has(&t2) && c.cell(&t1, "status") == "failed" && c.cell(&t2, "status") == "failed";
    let tasks = export_when(s, &ta, "tasks.csv", failed).await?;
    assert!(failed(&tasks), "the tasks did not fail: {:?}", tasks.rows);
    assert_eq!(tasks.cell(&t1, "failure_reason"), "'+1+1");
    assert_eq!(tasks.cell(&t2, "failure_reason"), "'@SUM(1)");
    Ok(())
}
