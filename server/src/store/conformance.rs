//! One conformance suite per store trait, which every engine must pass, so the in-memory
//! engine of the simulations, sled and PostgreSQL behave alike. Each suite takes a fresh,
//! empty engine; [`run_all`] runs every suite, each on its own engine.

use super::*;
use automerge::{transaction::Transactable, AutoCommit, ReadDoc, ROOT};
use linli_shared::domain::{AlertKind, Kind, RiskLevel, Role};
use std::future::Future;

/// Runs every suite against fresh engines made by `make`. Panics on the first failure.
pub async fn run_all<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = SharedEngine>,
{
    docs(make().await.as_ref()).await;
    meta(make().await.as_ref()).await;
    users(make().await.as_ref()).await;
    sessions(make().await.as_ref()).await;
    actors(make().await.as_ref()).await;
    grids(make().await.as_ref()).await;
    audit(make().await.as_ref()).await;
    quarantine(make().await.as_ref()).await;
    projections(make().await.as_ref()).await;
    batches_are_atomic(make().await.as_ref()).await;
    any_text_is_kept(make().await.as_ref()).await;
}

async fn put(e: &dyn Engine, doc: DocumentId, bytes: &[u8]) -> ChunkKey {
    e.commit(vec![Write::Chunk { doc, bytes: bytes.to_vec() }]).await.expect("commit chunk");
    ChunkKey::incremental(doc, bytes)
}

/// [`DocStore`]: content-addressed chunks, compaction, deletion, documents kept apart.
pub async fn docs(e: &dyn Engine) {
    assert!(e.load(&DocumentId::random()).await.expect("load").is_empty());
    assert!(e.list_docs().await.expect("list").is_empty());
    // Idempotent puts.
    let doc = DocumentId::random();
    let k1 = put(e, doc, b"one").await;
    let k2 = put(e, doc, b"one").await;
    assert_eq!(k1, k2);
    put(e, doc, b"two").await;
    let mut bodies: Vec<_> = e.load(&doc).await.expect("load").chunks.into_iter().map(|(_, b)| b).collect();
    bodies.sort();
    assert_eq!(bodies, vec![b"one".to_vec(), b"two".to_vec()]);
    // Documents do not leak into each other.
    let other = DocumentId::random();
    put(e, other, b"x").await;
    assert_eq!(e.load(&other).await.expect("load").chunks.len(), 1);
    let mut expected = vec![doc, other];
    expected.sort();
    assert_eq!(e.list_docs().await.expect("list"), expected);
    // Compaction replaces only what it covers; snapshots load first.
    let c = DocumentId::random();
    let c1 = put(e, c, b"c1").await;
    let c2 = put(e, c, b"c2").await;
    put(e, c, b"c3").await;
    e.commit(vec![Write::Compact { doc: c, heads: vec![], snapshot: b"snap".to_vec(), covers: vec![c1, c2] }])
        .await
        .expect("compact");
    let loaded = e.load(&c).await.expect("load");
    assert_eq!(loaded.chunks.len(), 2);
    assert_eq!(loaded.chunks[0].0.kind, ChunkKind::Snapshot);
    assert_eq!(loaded.chunks[1].1, b"c3");
    let (snap, c3) = (loaded.chunks[0].0, loaded.chunks[1].0);
    let heads = vec![automerge::ChangeHash([7; 32])];
    e.commit(vec![Write::Compact {
        doc: c,
        heads: heads.clone(),
        snapshot: b"snap2".to_vec(),
        covers: vec![snap, c3],
    }])
    .await
    .expect("compact");
    assert_eq!(e.load(&c).await.expect("load").chunks, vec![(ChunkKey::snapshot(c, &heads), b"snap2".to_vec())]);
    // Delete removes one document only.
    e.commit(vec![Write::DeleteDoc(doc)]).await.expect("delete");
    assert!(e.load(&doc).await.expect("load").is_empty());
    assert_eq!(e.load(&other).await.expect("load").chunks.len(), 1);
    // Chunks rebuild the document.
    let id = DocumentId::random();
    let mut am = AutoCommit::new();
    am.put(ROOT, "kind", "task").expect("put");
    put(e, id, &am.save()).await;
    let heads = am.get_heads();
    am.put(ROOT, "status", "assigned").expect("put");
    put(e, id, &am.save_after(&heads)).await;
    let rebuilt = e.load(&id).await.expect("load").to_automerge().expect("rebuild");
    assert_eq!(rebuilt.get_heads(), am.get_heads());
    let (status, _) = rebuilt.get(ROOT, "status").expect("get").expect("present");
    assert_eq!(status.as_str(), Some("assigned"));
}

/// [`MetaStore`]: facts initialised once.
pub async fn meta(e: &dyn Engine) {
    assert_eq!(e.meta("storage_id").await.expect("meta"), None);
    assert_eq!(e.meta_or_init("storage_id", b"first".to_vec()).await.expect("init"), b"first");
    assert_eq!(e.meta_or_init("storage_id", b"second".to_vec()).await.expect("init"), b"first", "one winner");
    e.commit(vec![Write::Meta { key: "schema".into(), value: b"2".to_vec() }]).await.expect("meta");
    let all = e.meta_all().await.expect("all");
    assert!(all.contains(&("schema".to_owned(), b"2".to_vec())) && all.len() == 2, "{all:?}");
    e.commit(vec![Write::DeleteMeta("schema".into()), Write::DeleteMeta("never-there".into())]).await.expect("delete");
    assert_eq!(e.meta("schema").await.expect("meta"), None);
    assert_eq!(e.meta_all().await.expect("all").len(), 1);
}

pub(crate) fn user(name: &str, role: Role) -> User {
    User {
        id: format!("u-{name}"),
        username: name.to_owned(),
        role,
        grids: vec!["g1".into()],
        inbox: DocumentId::random(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        created_at: 1,
        disabled: false,
    }
}

/// [`UserStore`]: unique usernames, updates, listing by username.
pub async fn users(e: &dyn Engine) {
    let bob = user("bob", Role::Volunteer);
    let alice = user("alice", Role::Coordinator);
    e.commit(vec![Write::InsertUser(bob.clone())]).await.expect("insert");
    e.commit(vec![Write::InsertUser(alice.clone())]).await.expect("insert");
    let twin = User { id: "u-other".into(), ..bob.clone() };
    let err = e.commit(vec![Write::InsertUser(twin)]).await.expect_err("a taken username");
    assert!(matches!(err, StoreError::Conflict(Conflict::Username(ref n)) if n == "bob"), "{err:?}");
    assert_eq!(e.user("u-other").await.expect("get"), None, "nothing of the refused batch");
    assert_eq!(e.user(&bob.id).await.expect("get"), Some(bob.clone()));
    assert_eq!(e.user_by_name("alice").await.expect("by name"), Some(alice.clone()));
    assert_eq!(e.user_by_name("nobody").await.expect("by name"), None);
    let disabled = User { disabled: true, ..bob.clone() };
    e.commit(vec![Write::UpdateUser(disabled.clone())]).await.expect("update");
    let names: Vec<_> = e.users().await.expect("list").into_iter().map(|u| (u.username, u.disabled)).collect();
    assert_eq!(names, vec![("alice".to_owned(), false), ("bob".to_owned(), true)]);
}

/// [`SessionStore`]: revocations kept until they may be forgotten; per-user marks.
pub async fn sessions(e: &dyn Engine) {
    assert!(!e.is_revoked("t1").await.expect("revoked?"));
    e.commit(vec![Write::Revoke { id: "t1".into(), until: 100 }, Write::Revoke { id: "t2".into(), until: 300 }])
        .await
        .expect("revoke");
    assert!(e.is_revoked("t1").await.expect("revoked?"));
    assert_eq!(e.prune_revocations(200).await.expect("prune"), 1);
    assert!(!e.is_revoked("t1").await.expect("revoked?"), "pruned");
    assert!(e.is_revoked("t2").await.expect("revoked?"), "kept");
    assert_eq!(e.revocations().await.expect("list"), vec![("t2".to_owned(), 300)]);
    assert_eq!(e.sessions_not_before("u-1").await.expect("mark"), None);
    e.commit(vec![Write::SessionsNotBefore { user: "u-1".into(), secs: 42 }]).await.expect("mark");
    assert_eq!(e.sessions_not_before("u-1").await.expect("mark"), Some(42));
    assert_eq!(e.not_before_marks().await.expect("marks"), vec![("u-1".to_owned(), 42)]);
}

/// [`ActorStore`]: the first user to use an actor owns it.
pub async fn actors(e: &dyn Engine) {
    assert_eq!(e.bind_actor(b"actor-1", "u-a").await.expect("bind"), "u-a");
    assert_eq!(e.bind_actor(b"actor-1", "u-b").await.expect("bind"), "u-a", "first binding wins");
    assert_eq!(e.bind_actor(b"actor-2", "u-b").await.expect("bind"), "u-b");
    let mut all = e.actors().await.expect("list");
    all.sort();
    assert_eq!(all, vec![(b"actor-1".to_vec(), "u-a".to_owned()), (b"actor-2".to_vec(), "u-b".to_owned())]);
}

/// [`GridStore`]: unique ids, updates.
pub async fn grids(e: &dyn Engine) {
    let g = Grid {
        id: "g1".into(),
        name: "一网格".into(),
        risk_level: RiskLevel::Low,
        index: DocumentId::random(),
        risk_history: vec![],
    };
    e.commit(vec![Write::InsertGrid(g.clone())]).await.expect("insert");
    let err = e.commit(vec![Write::InsertGrid(g.clone())]).await.expect_err("a taken id");
    assert!(matches!(err, StoreError::Conflict(Conflict::Grid(_))), "{err:?}");
    let high = Grid { risk_level: RiskLevel::High, ..g.clone() };
    e.commit(vec![Write::UpdateGrid(high.clone())]).await.expect("update");
    assert_eq!(e.grid("g1").await.expect("get"), Some(high.clone()));
    assert_eq!(e.grid("g9").await.expect("get"), None);
    assert_eq!(e.grids().await.expect("list"), vec![high]);
}

fn entry(at: i64, user: &str, action: &str) -> AuditEntry {
    AuditEntry {
        at,
        user: user.into(),
        action: action.into(),
        doc: Some("d1".into()),
        detail: format!("{action} at {at}"),
    }
}

/// [`AuditStore`]: appended in order, numbered, chained, listed newest first by filter.
pub async fn audit(e: &dyn Engine) {
    assert_eq!(e.verify_audit().await.expect("verify"), AuditCheck::default());
    e.commit(vec![Write::Audit(entry(10, "u1", "change.accepted")), Write::Audit(entry(20, "u2", "export"))])
        .await
        .expect("append");
    e.commit(vec![Write::Audit(entry(30, "u1", "change.refused"))]).await.expect("append");
    let all = e.audit(&AuditFilter { limit: 10, ..Default::default() }).await.expect("list");
    assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![3, 2, 1], "newest first");
    assert_eq!(all[0].prev, all[1].hash, "chained");
    let f = |user: Option<&str>, action: Option<&str>, before: Option<i64>, limit| AuditFilter {
        user: user.map(str::to_owned),
        action: action.map(str::to_owned),
        before,
        limit,
    };
    assert_eq!(e.audit(&f(Some("u1"), None, None, 10)).await.expect("list").len(), 2);
    assert_eq!(e.audit(&f(None, Some("change."), None, 10)).await.expect("list").len(), 2);
    assert_eq!(e.audit(&f(None, None, Some(30), 10)).await.expect("list").len(), 2);
    assert_eq!(e.audit(&f(None, None, None, 1)).await.expect("list").len(), 1);
    assert_eq!(e.verify_audit().await.expect("verify"), AuditCheck { entries: 3, first_broken: None });
    let exported = e.audit_all().await.expect("all");
    assert_eq!(exported.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![1, 2, 3], "oldest first");
}

fn quarantined(id: &str, at: i64) -> QuarantineEntry {
    QuarantineEntry {
        id: id.into(),
        at,
        user: "u1".into(),
        doc: "d1".into(),
        code: "rule".into(),
        reason: "why".into(),
        hashes: vec!["ab".into()],
        changes: vec!["00ff".into()],
        dropped: None,
    }
}

/// [`QuarantineStore`]: kept once, listed newest first in pages, with its cost.
pub async fn quarantine(e: &dyn Engine) {
    for (id, at) in [("q1", 10), ("q2", 30), ("q3", 20)] {
        e.commit(vec![Write::Quarantine(quarantined(id, at))]).await.expect("keep");
    }
    e.commit(vec![Write::Quarantine(QuarantineEntry { reason: "again".into(), ..quarantined("q1", 99) })])
        .await
        .expect("keep again");
    let page = e.quarantined(None, 2).await.expect("list");
    assert_eq!(page.iter().map(|q| q.id.as_str()).collect::<Vec<_>>(), vec!["q2", "q3"]);
    let last = page.last().map(|q| (q.at, q.id.clone()));
    let next = e.quarantined(last, 2).await.expect("list");
    assert_eq!(next.iter().map(|q| q.id.as_str()).collect::<Vec<_>>(), vec!["q1"]);
    assert_eq!(next[0].reason, "why", "kept once: the first copy stays");
    let (count, bytes) = e.quarantine_usage().await.expect("usage");
    assert_eq!(count, 3);
    assert_eq!(bytes, 3 * quarantined("q", 0).cost());
    e.commit(vec![Write::DeleteQuarantine("q2".into())]).await.expect("delete");
    assert_eq!(e.quarantine_usage().await.expect("usage").0, 2);
}

/// [`ProjectionStore`]: rows by grid, grants by holder, alerts by document, dirty marks.
pub async fn projections(e: &dyn Engine) {
    let row = |doc: &str, grid: &str| ProjRow {
        doc: doc.into(),
        kind: Kind::Task,
        grid: grid.into(),
        status: "new".into(),
        open: true,
        assignee: None,
        household: None,
        due: Some(5),
        closed_at: None,
        updated_at: 1,
        care_flags: Default::default(),
        erased: false,
        title: String::new(),
        first_seen: Some(1),
        slots: None,
        slots_since: None,
    };
    e.commit(vec![Write::Row(row("a", "g1")), Write::Row(row("b", "g2"))]).await.expect("rows");
    assert_eq!(e.row("a").await.expect("row"), Some(row("a", "g1")));
    assert_eq!(e.rows(Some("g2")).await.expect("rows"), vec![row("b", "g2")]);
    assert_eq!(e.rows(None).await.expect("rows").len(), 2);
    e.commit(vec![Write::DeleteRow("a".into())]).await.expect("delete");
    assert_eq!(e.row("a").await.expect("row"), None);

    let (h, via, via2) = (DocumentId::random(), DocumentId::random(), DocumentId::random());
    let bob = Holder::User("u-bob".into());
    let g = AccessGrant { household: h, holder: bob.clone(), via };
    let g2 = AccessGrant { household: h, holder: bob.clone(), via: via2 };
    let ep = AccessGrant { household: h, holder: Holder::OpenEpisode, via: via2 };
    e.commit(vec![Write::Grant(g.clone()), Write::Grant(g2.clone()), Write::Grant(ep.clone())]).await.expect("grants");
    assert!(e.has_grant(&h, &bob).await.expect("grant"));
    assert!(!e.has_grant(&h, &Holder::User("u-bo".into())).await.expect("grant"), "no prefix match on user ids");
    assert!(!e.has_grant(&DocumentId::random(), &bob).await.expect("grant"));
    e.commit(vec![Write::RevokeGrant(g)]).await.expect("revoke");
    assert!(e.has_grant(&h, &bob).await.expect("grant"), "still granted through the other task");
    e.commit(vec![Write::RevokeGrant(g2)]).await.expect("revoke");
    assert!(!e.has_grant(&h, &bob).await.expect("grant"));
    assert_eq!(e.grants().await.expect("grants"), vec![ep]);

    let alert = |id: &str| alert(id, "g1", None, "");
    e.commit(vec![Write::Alert(alert("d1/fever:x")), Write::Alert(alert("d10/fever:y"))]).await.expect("alerts");
    assert_eq!(e.alerts(Some("d1")).await.expect("alerts"), vec![alert("d1/fever:x")], "d10 is not d1");
    assert_eq!(e.alerts(None).await.expect("alerts").len(), 2);
    assert_eq!(e.alert("d10/fever:y").await.expect("alert"), Some(alert("d10/fever:y")));
    e.commit(vec![Write::DeleteAlert("d1/fever:x".into())]).await.expect("delete");
    assert_eq!(e.alerts(None).await.expect("alerts").len(), 1);

    let d = DocumentId::random();
    e.commit(vec![Write::Dirty { doc: d, dirty: true }]).await.expect("dirty");
    assert_eq!(e.dirty_docs().await.expect("dirty"), vec![d]);
    e.commit(vec![Write::Dirty { doc: d, dirty: false }]).await.expect("clean");
    assert!(e.dirty_docs().await.expect("dirty").is_empty());
}

fn alert(id: &str, grid: &str, date: Option<&str>, detail: &str) -> Alert {
    Alert {
        id: id.into(),
        doc: id.split('/').next().unwrap_or("").into(),
        grid: grid.into(),
        kind: AlertKind::Fever,
        date: date.map(str::to_owned),
        detail: detail.into(),
        status: AlertStatus::Open,
        raised_at: 1,
        acknowledged_by: None,
        acknowledged_at: None,
        resolved_by: None,
        resolved_at: None,
        severity: linli_shared::domain::Severity::Amber,
        resolution_note: None,
    }
}

/// Text from documents reaches the store's records (a household's address in a
/// projection, a date in an alert's id, a reason in quarantine): whatever it holds, even
/// U+0000 (which PostgreSQL's `jsonb` and `text` refuse), the store keeps it exactly. A
/// store that refused it would stop the server's sync over one phone's text.
pub async fn any_text_is_kept(e: &dyn Engine) {
    let odd = "a\u{0}b\u{7f}\u{202e}é\"'\\%_";
    let row = ProjRow {
        doc: "d1".into(),
        kind: Kind::Household,
        grid: format!("g{odd}"),
        status: odd.into(),
        open: true,
        assignee: Some(odd.into()),
        household: None,
        due: None,
        closed_at: None,
        updated_at: 1,
        care_flags: [(odd.to_owned(), 1)].into(),
        erased: false,
        title: odd.into(),
        first_seen: None,
        slots: Some(2),
        slots_since: Some(3),
    };
    let alert = alert(&format!("d1/{odd}"), &row.grid, Some(odd), odd);
    let q = QuarantineEntry { reason: odd.into(), code: odd.into(), ..quarantined("q1", 1) };
    let a = AuditEntry { detail: odd.into(), ..entry(1, "u1", "change.refused") };
    e.commit(vec![Write::Row(row.clone()), Write::Alert(alert.clone()), Write::Quarantine(q.clone()), Write::Audit(a)])
        .await
        .expect("commit odd text");
    assert_eq!(e.rows(Some(&row.grid)).await.expect("rows"), vec![row]);
    assert_eq!(e.alert(&alert.id).await.expect("alert"), Some(alert.clone()));
    assert_eq!(e.alerts(Some("d1")).await.expect("alerts"), vec![alert]);
    assert_eq!(e.quarantined(None, 10).await.expect("quarantine"), vec![q]);
    assert_eq!(e.audit_all().await.expect("audit")[0].entry.detail, odd);
    assert_eq!(e.verify_audit().await.expect("verify").first_broken, None);
}

/// A batch that breaks a rule writes nothing, not even its other writes.
pub async fn batches_are_atomic(e: &dyn Engine) {
    e.commit(vec![Write::InsertUser(user("bob", Role::Volunteer))]).await.expect("insert");
    let doc = DocumentId::random();
    let batch = vec![
        Write::Chunk { doc, bytes: b"c".to_vec() },
        Write::Audit(entry(1, "u", "x")),
        Write::InsertUser(User { id: "u-2".into(), ..user("bob", Role::Volunteer) }),
    ];
    assert!(e.commit(batch).await.is_err());
    assert!(e.load(&doc).await.expect("load").is_empty(), "the chunk of a refused batch");
    assert_eq!(e.verify_audit().await.expect("verify").entries, 0, "the audit entry of a refused batch");
    // Several kinds in one batch commit together.
    let batch = vec![
        Write::Chunk { doc, bytes: b"c".to_vec() },
        Write::Audit(entry(1, "u", "x")),
        Write::Dirty { doc, dirty: true },
    ];
    e.commit(batch).await.expect("commit");
    assert_eq!(e.load(&doc).await.expect("load").chunks.len(), 1);
    assert_eq!(e.verify_audit().await.expect("verify").entries, 1);
    assert_eq!(e.dirty_docs().await.expect("dirty"), vec![doc]);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_memory_engine_conforms() {
        run_all(|| async { Arc::new(MemoryEngine::new()) as SharedEngine }).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_sled_engine_conforms() {
        let dirs = std::sync::Mutex::new(Vec::new());
        run_all(|| async {
            let dir = tempfile::tempdir().unwrap();
            let engine = SledEngine::open(dir.path(), Default::default()).await.unwrap();
            dirs.lock().unwrap().push(dir);
            Arc::new(engine) as SharedEngine
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_postgres_engine_conforms() {
        let Some(admin) = crate::store::postgres::testing::admin_url() else { return };
        run_all(|| async {
            let (engine, _) = crate::store::postgres::testing::fresh_engine(&admin, Default::default()).await;
            Arc::new(engine) as SharedEngine
        })
        .await;
    }
}
