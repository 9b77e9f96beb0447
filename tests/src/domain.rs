//! Valid Linli documents for tests: the server refuses anything outside the schema
//! (DESIGN §3–4), so test peers write real households, tasks and episodes.

use crate::TestPeer;
use automerge::AutoCommit;
use linli_shared::domain::DomainDoc;
use linli_shared::DocumentId;
use serde_json::{json, Value};

/// A household of `grid` as a coordinator registers it.
pub fn household(grid: &str, room: &str) -> Value {
    json!({
        "kind": "household", "schema": 1, "grid": grid,
        "building": "3", "unit": "2", "room": room, "phone": "13800000000", "notes": "",
        "members": [{"name": "王秀英", "age": 78, "flags": ["elderly_alone"], "medicines": ["insulin"]}],
    })
}

/// A delivery task for `household`, assigned to `assignee` (or new when `None`).
pub fn task(grid: &str, household: &DocumentId, assignee: Option<&str>, created_by: &str) -> Value {
    let now = now_ms();
    json!({
        "kind": "task", "schema": 1, "grid": grid, "household": household.to_string(),
        "category": "food", "items": [{"name": "大米", "qty": 5, "unit": "kg"}],
        "priority": "normal", "due": now + 3_600_000, "contactless": true,
        "assignee": assignee, "status": if assignee.is_some() { "assigned" } else { "new" },
        "failure_reason": null, "log": [], "created_by": created_by, "created_at": now,
    })
}

/// Now, as the test servers see it: their clock stands at [`crate::server::TEST_CLOCK`].
pub fn now_ms() -> i64 {
    crate::server::test_clock_ms()
}

/// Writes `value` (a full document in its JSON form) into `doc`, changing only what differs.
pub fn write(doc: &mut AutoCommit, value: Value) {
    let value = DomainDoc::from_json(value).expect("valid document").expect("not empty");
    value.reconcile_into(doc).expect("reconcile");
    doc.commit();
}

/// Reads a document back in its JSON form.
pub fn read(doc: &mut AutoCommit) -> Value {
    let value = DomainDoc::hydrate_from(doc).expect("readable").expect("not empty");
    serde_json::to_value(value).expect("json")
}

/// Creates a new document on `peer` holding `value`.
pub fn create(peer: &mut TestPeer, value: Value) -> DocumentId {
    let id = peer.create();
    write(peer.doc(&id), value);
    id
}

/// Changes one top-level field of a document on `peer`.
pub fn set(peer: &mut TestPeer, id: &DocumentId, field: &str, v: Value) {
    let mut value = read(peer.doc(id));
    value[field] = v;
    write(peer.doc(id), value);
}

/// The community's local date `days` from today, `YYYY-MM-DD`, at UTC offset
/// `utc_offset_minutes` (the server's default is +480, China).
pub fn local_date_at(utc_offset_minutes: i32, days: i64) -> String {
    let limits = linli_shared::domain::DomainLimits { utc_offset_minutes, ..Default::default() };
    let mut date = limits.local_datetime(now_ms()).expect("a current time").date();
    for _ in 0..days.unsigned_abs() {
        date = if days > 0 { date.succ_opt() } else { date.pred_opt() }.expect("a date");
    }
    date.to_string()
}

/// The local date (UTC+8, the server's default) `days` from today, `YYYY-MM-DD`.
pub fn local_date(days: i64) -> String {
    local_date_at(linli_shared::domain::DomainLimits::default().utc_offset_minutes, days)
}

/// A home-isolation episode in `grid` for a person of `household`, from today (UTC+8) for
/// 14 days, one check-in a day, with the check-ins done by `assignee`.
pub fn episode(grid: &str, household: &DocumentId, assignee: Option<&str>) -> Value {
    json!({
        "kind": "episode", "schema": 3, "grid": grid, "household": household.to_string(),
        "person": {"name": "李建国", "age": 45}, "reason": "home_isolation",
        "start": local_date(0), "end": local_date(13), "slots": 1,
        "assignee": assignee, "status": "active", "closed_at": null,
        "readings": null, "medical": null, "erased": false,
    })
}

/// The key of check-in `slot` on the local day `days` from today: `YYYY-MM-DD/<slot>`.
pub fn checkin_key(days: i64, slot: u32) -> String {
    format!("{}/{slot}", local_date(days))
}

/// A check-in taken now by user `by`: a visit, no symptoms.
pub fn checkin(temp_c: f64, by: &str, note: &str) -> Value {
    json!({"temp_c": temp_c, "symptoms": [], "method": "visit", "note": note, "by": by, "at": now_ms()})
}

/// Adds (or replaces) check-in `key` in the readings `readings` (see [`readings_of`]) on
/// `peer`. Not pushed.
pub fn put_checkin(peer: &mut TestPeer, readings: &DocumentId, key: &str, checkin: Value) {
    let mut value = read(peer.doc(readings));
    value["checkins"][key] = checkin;
    write(peer.doc(readings), value);
}

/// A status move (or a note, `from` = `to`) for a task's `log`, signed by `by`, now.
pub fn log_entry(by: &str, from: &str, to: &str) -> Value {
    json!({"at": now_ms(), "by": by, "from": from, "to": to, "note": ""})
}

/// Moves a task on `peer` from its current status to `to`, appending the matching log
/// entry signed by `by`: one change, as a phone makes it.
pub fn move_task(peer: &mut TestPeer, id: &DocumentId, by: &str, to: &str) {
    let mut value = read(peer.doc(id));
    let from = value["status"].as_str().expect("a task's status").to_owned();
    value["log"].as_array_mut().expect("a task's log").push(log_entry(by, &from, to));
    value["status"] = json!(to);
    write(peer.doc(id), value);
}

/// Logs `who` in through the HTTP API: their token and their user id.
pub async fn login(server: &crate::ServerProcess, who: (&str, &str)) -> anyhow::Result<(String, String)> {
    let resp = reqwest::Client::new()
        .post(server.http("/api/auth/login"))
        .json(&json!({"username": who.0, "password": who.1}))
        .send()
        .await?;
    anyhow::ensure!(resp.status().is_success(), "login of {} failed: {}", who.0, resp.status());
    let body: Value = resp.json().await?;
    let token = body["token"].as_str().ok_or_else(|| anyhow::anyhow!("no token in {body}"))?;
    let id = body["user"]["id"].as_str().ok_or_else(|| anyhow::anyhow!("no user id in {body}"))?;
    Ok((token.to_owned(), id.to_owned()))
}

/// `GET path` of the HTTP API with a bearer token; fails unless 200.
pub async fn api_get(server: &crate::ServerProcess, token: &str, path: &str) -> anyhow::Result<Value> {
    let resp = reqwest::Client::new().get(server.http(path)).bearer_auth(token).send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    anyhow::ensure!(status.is_success(), "GET {path}: {status}: {text}");
    Ok(serde_json::from_str(&text)?)
}

/// A DocumentId from its URL form `automerge:<id>` (or a bare id).
pub fn doc_id(url: &str) -> DocumentId {
    url.strip_prefix("automerge:").unwrap_or(url).parse().expect("a DocumentId")
}

/// Syncs `peer` until document `id` reads as a value for which `ok` holds (documents the
/// server writes itself, such as inboxes, change without the peer asking). Returns it.
pub async fn sync_until(
    peer: &mut TestPeer,
    id: &DocumentId,
    timeout: std::time::Duration,
    ok: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + timeout;
    peer.want(*id);
    let mut last = Value::Null;
    loop {
        peer.push().await?;
        if !peer.heads(id).is_empty() {
            // A document part-way through its history (or in an older schema, on an old
            // phone) need not be a valid domain document yet: read it raw until it is.
            let doc = peer.doc(id);
            last = match DomainDoc::hydrate_from(doc) {
                Ok(Some(value)) => serde_json::to_value(value).expect("json"),
                _ => serde_json::to_value(automerge::AutoSerde::from(&*doc)).expect("json"),
            };
            if ok(&last) {
                return Ok(last);
            }
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        anyhow::ensure!(
            !left.is_zero(),
            "document {id} did not reach the expected state within {timeout:?} (unavailable: {}); last: {last}",
            peer.docs[id].unavailable
        );
        peer.pump_one(left.min(std::time::Duration::from_millis(200))).await?;
    }
}

/// The ephemeral messages `peer` received for `id` (such as the server's `rejected`
/// notices, a CBOR map whose `reason` is readable in the lossy text), for failure messages.
pub fn rejections(peer: &TestPeer, id: &DocumentId) -> Vec<String> {
    peer.ephemeral
        .iter()
        .filter(|(d, _, _)| d == id)
        .map(|(_, _, data)| format!("{:?}", String::from_utf8_lossy(data)))
        .collect()
}

/// Whether the server's last sync message for `id` acknowledged every change `peer` has.
pub fn acknowledged(peer: &mut TestPeer, id: &DocumentId) -> bool {
    let mut ours = peer.heads(id);
    let Some(acked) = peer.acked.get(id) else { return false };
    let mut acked = acked.clone();
    ours.sort();
    acked.sort();
    ours == acked
}

/// The `medical` record of episode `episode` (DESIGN §9: medics' notes live there), once
/// the server has made and linked it: syncs `peer` (a medic) until both are there.
pub async fn medical_of(
    peer: &mut TestPeer,
    episode: &DocumentId,
    timeout: std::time::Duration,
) -> anyhow::Result<DocumentId> {
    let ep = sync_until(peer, episode, timeout, |v| v["medical"].is_string()).await?;
    let id: DocumentId = ep["medical"].as_str().unwrap_or_default().parse()?;
    sync_until(peer, &id, timeout, |v| v["kind"] == "medical").await?;
    Ok(id)
}

/// The `readings` of episode `episode` (DESIGN §9: its check-ins live there), once the
/// server has made and linked them: syncs `peer` (the episode's volunteer or a medic)
/// until both are there.
pub async fn readings_of(
    peer: &mut TestPeer,
    episode: &DocumentId,
    timeout: std::time::Duration,
) -> anyhow::Result<DocumentId> {
    let ep = sync_until(peer, episode, timeout, |v| v["readings"].is_string()).await?;
    let id: DocumentId = ep["readings"].as_str().unwrap_or_default().parse()?;
    sync_until(peer, &id, timeout, |v| v["kind"] == "readings").await?;
    Ok(id)
}

/// A medical note in schema 1's shape, `medic_notes: [{at, by, text}]` on the episode
/// itself, as an app of that release writes it (raw operations: schema 2 has no such
/// field, so the domain writer cannot). Not pushed.
pub fn put_old_medic_note(doc: &mut AutoCommit, by: &str, text: &str) {
    use automerge::transaction::Transactable;
    use automerge::{ObjType, ROOT};
    let list = doc.put_object(ROOT, "medic_notes", ObjType::List).expect("medic_notes");
    let note = doc.insert_object(&list, 0, ObjType::Map).expect("a note");
    doc.put(&note, "at", now_ms()).expect("at");
    let by_text = doc.put_object(&note, "by", ObjType::Text).expect("by");
    doc.splice_text(&by_text, 0, 0, by).expect("by");
    let t = doc.put_object(&note, "text", ObjType::Text).expect("text");
    doc.splice_text(&t, 0, 0, text).expect("text");
    doc.commit();
}

/// Appends a note by `by` to the medical record `medical` (not pushed).
pub fn add_medic_note(peer: &mut TestPeer, medical: &DocumentId, by: &str, text: &str) {
    let mut v = read(peer.doc(medical));
    v["notes"].as_array_mut().expect("notes").push(serde_json::json!({"at": now_ms(), "by": by, "text": text}));
    write(peer.doc(medical), v);
}
