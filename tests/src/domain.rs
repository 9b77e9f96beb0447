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

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
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
