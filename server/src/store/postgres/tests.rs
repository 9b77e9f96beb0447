//! Tests of what the PostgreSQL engine does beyond the conformance suite (which it passes
//! too: `store::conformance`). Each runs on a database of its own on the tests' cluster.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::committer::{commit_group, Job};
use super::testing::{admin, admin_url, fresh_database, fresh_engine, with_database};
use super::*;
use crate::store::conformance::user;
use crate::store::{AuditEntry, AuditStore, Conflict, DocStore, Engine, MemoryEngine, SharedEngine, User, UserStore};
use linli_shared::domain::Role;
use linli_shared::DocumentId;
use std::sync::atomic::{AtomicU64, Ordering};

#[test]
fn urls_get_another_database() {
    assert_eq!(with_database("postgres://u:p@h:1/postgres", "x"), "postgres://u:p@h:1/x");
    assert_eq!(
        with_database("postgres://u:p@h:1/postgres?sslmode=disable", "x"),
        "postgres://u:p@h:1/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
}

fn db_name(url: &str) -> String {
    url.rsplit('/').next().unwrap().split('?').next().unwrap().to_owned()
}

fn chunk(doc: DocumentId, bytes: &[u8]) -> Write {
    Write::Chunk { doc, bytes: bytes.to_vec() }
}

fn audit(n: i64) -> Write {
    Write::Audit(AuditEntry {
        at: n,
        user: "u-1".into(),
        action: "change.accepted".into(),
        doc: None,
        detail: format!("{n}"),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commits_share_transactions() {
    let Some(admin) = admin_url() else { return };
    let (groups, batches) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let (g, b) = (groups.clone(), batches.clone());
    let options = PgOptions {
        observe: Arc::new(move |_, served| {
            g.fetch_add(1, Ordering::SeqCst);
            b.fetch_add(served, Ordering::SeqCst);
        }),
        ..Default::default()
    };
    let (engine, _) = fresh_engine(&admin, options).await;
    let engine: SharedEngine = Arc::new(engine);
    let docs: Vec<DocumentId> = (0..32).map(|_| DocumentId::random()).collect();
    let tasks: Vec<_> = docs
        .iter()
        .map(|&doc| {
            let engine = engine.clone();
            tokio::spawn(async move {
                for i in 0..8u8 {
                    engine.commit(vec![chunk(doc, &[i]), audit(i64::from(i))]).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(batches.load(Ordering::SeqCst), 256);
    let n = groups.load(Ordering::SeqCst);
    assert!(n < 256, "256 concurrent commits must share transactions, got {n}");
    for doc in docs {
        assert_eq!(engine.load(&doc).await.unwrap().chunks.len(), 8);
    }
    let check = engine.verify_audit().await.unwrap();
    assert_eq!((check.entries, check.first_broken), (256, None), "appends serialised, the chain whole");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_that_breaks_a_rule_fails_alone_in_its_group() {
    let Some(admin) = admin_url() else { return };
    let (engine, _) = fresh_engine(&admin, Default::default()).await;
    let (d1, d2, d3) = (DocumentId::random(), DocumentId::random(), DocumentId::random());
    let bob = user("bob", Role::Volunteer);
    let twin = User { id: "u-twin".into(), ..bob.clone() };
    let batches = vec![
        vec![Write::InsertUser(bob.clone()), chunk(d1, b"1"), audit(1)],
        vec![chunk(d2, b"2"), audit(2), Write::InsertUser(twin)],
        vec![chunk(d3, b"3"), audit(3)],
    ];
    let mut answers = Vec::new();
    let jobs = batches
        .into_iter()
        .map(|batch| {
            let (done, answer) = tokio::sync::oneshot::channel();
            answers.push(answer);
            Job { batch, done }
        })
        .collect();
    // One group, as the committer forms it when the three arrive together.
    commit_group(&engine.shared, &mut None, jobs).await;
    let mut outcomes = Vec::new();
    for a in answers {
        outcomes.push(a.await.unwrap());
    }
    assert!(outcomes[0].is_ok() && outcomes[2].is_ok(), "{outcomes:?}");
    assert!(matches!(&outcomes[1], Err(StoreError::Conflict(Conflict::Username(n))) if n == "bob"), "{outcomes:?}");
    assert_eq!(engine.user_by_name("bob").await.unwrap().map(|u| u.id), Some(bob.id));
    assert!(engine.load(&d2).await.unwrap().is_empty(), "nothing of the refused batch");
    assert_eq!(engine.load(&d3).await.unwrap().chunks.len(), 1);
    let all = engine.audit_all().await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.entry.at).collect::<Vec<_>>(),
        vec![1, 3],
        "the refused batch's entry is not chained"
    );
    assert_eq!(engine.verify_audit().await.unwrap().first_broken, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_connection_commits_synchronously() {
    let Some(admin_url) = admin_url() else { return };
    let url = fresh_database(&admin_url).await;
    // A database whose default would acknowledge commits before they are on disk.
    admin(&admin_url, &format!("ALTER DATABASE {} SET synchronous_commit = off", db_name(&url))).await;
    let engine = PgEngine::open(&url, Default::default(), SchemaUse::Migrate).await.unwrap();
    let clients: Vec<_> = futures_util::future::join_all((0..3).map(|_| engine.shared.pool.get())).await;
    for client in clients {
        let client = client.unwrap();
        let value: String = client.query_one("SHOW synchronous_commit", &[]).await.unwrap().get(0);
        assert_eq!(value, "on");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_starters_migrate_once() {
    let Some(admin_url) = admin_url() else { return };
    let url = fresh_database(&admin_url).await;
    let opened =
        futures_util::future::join_all((0..4).map(|_| PgEngine::open(&url, Default::default(), SchemaUse::Migrate)))
            .await;
    let engines: Vec<PgEngine> = opened.into_iter().map(|o| o.expect("every starter opens")).collect();
    let mut client = engines[0].shared.pool.get().await.unwrap();
    let rows = client.query("SELECT version, count(*) FROM linli_schema_versions GROUP BY version", &[]).await.unwrap();
    assert_eq!(rows.len(), schema::MIGRATIONS.len());
    assert!(rows.iter().all(|r| r.get::<_, i64>(1) == 1));
    let again = schema::migrate(&mut client).await.unwrap();
    assert_eq!(again, Migrated { applied: vec![], version: schema::current_version() }, "idempotent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_without_the_schema_or_with_a_newer_one_is_refused() {
    let Some(admin_url) = admin_url() else { return };
    let url = fresh_database(&admin_url).await;
    let err = PgEngine::open(&url, Default::default(), SchemaUse::Require).await.unwrap_err();
    assert!(err.to_string().contains("holds no Linli store"), "{err}");
    let engine = PgEngine::open(&url, Default::default(), SchemaUse::Migrate).await.unwrap();
    let client = engine.shared.pool.get().await.unwrap();
    client
        .execute("INSERT INTO linli_schema_versions (version, description) VALUES (999, 'future')", &[])
        .await
        .unwrap();
    let err = PgEngine::open(&url, Default::default(), SchemaUse::Migrate).await.unwrap_err();
    assert!(err.to_string().contains("newer than this linli"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_goes_away_fails_the_engine_until_it_is_back() {
    let Some(admin_url) = admin_url() else { return };
    let (engine, url) =
        fresh_engine(&admin_url, PgOptions { timeout: Duration::from_secs(5), ..Default::default() }).await;
    let name = db_name(&url);
    let doc = DocumentId::random();
    engine.commit(vec![chunk(doc, b"before")]).await.unwrap();
    // The database refuses new connections and drops the ones it has.
    admin(
        &admin_url,
        &format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ),
    )
    .await;
    let lost = DocumentId::random();
    let err = engine.commit(vec![chunk(lost, b"during")]).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(matches!(engine.health(), Health::Failing(_)));
    let refused = engine.load(&doc).await.unwrap_err();
    assert!(refused.is_unavailable(), "a failing engine refuses reads too: {refused:?}");
    assert!(engine.recover().await.is_err(), "still gone");
    admin(&admin_url, &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")).await;
    engine.recover().await.unwrap();
    assert_eq!(engine.health(), Health::Ok);
    assert!(engine.load(&lost).await.unwrap().is_empty(), "the failed commit was not made");
    assert_eq!(engine.load(&doc).await.unwrap().chunks.len(), 1);
    engine.commit(vec![chunk(lost, b"after")]).await.unwrap();
    assert_eq!(engine.load(&lost).await.unwrap().chunks.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_that_hangs_fails_within_the_timeout() {
    let Some(admin_url) = admin_url() else { return };
    let options = PgOptions { timeout: Duration::from_secs(1), ..Default::default() };
    let (engine, url) = fresh_engine(&admin_url, options).await;
    // Another session holds the audit head's lock and never lets go.
    let (blocker, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    let conn = tokio::spawn(conn);
    blocker.batch_execute("BEGIN; SELECT seq FROM linli_audit_head WHERE id = 1 FOR UPDATE").await.unwrap();
    let err = engine.commit(vec![audit(1)]).await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(matches!(engine.health(), Health::Failing(_)));
    blocker.batch_execute("ROLLBACK").await.unwrap();
    drop(blocker);
    let _ = conn.await;
    engine.recover().await.unwrap();
    engine.commit(vec![audit(2)]).await.unwrap();
    assert_eq!(engine.audit_all().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_import_is_invisible_until_finished_and_leaves_nothing_when_it_fails() {
    let Some(admin_url) = admin_url() else { return };
    let (engine, _) = fresh_engine(&admin_url, Default::default()).await;
    let doc = DocumentId::random();
    let mut bulk = engine.bulk_import().await.unwrap().expect("PostgreSQL imports in bulk");
    bulk.write(vec![Write::InsertUser(user("bob", Role::Volunteer)), chunk(doc, b"1"), audit(1)]).await.unwrap();
    assert!(engine.users().await.unwrap().is_empty(), "not visible before it is finished");
    let twin = User { id: "u-twin".into(), ..user("bob", Role::Volunteer) };
    assert!(bulk.write(vec![Write::InsertUser(twin)]).await.is_err());
    drop(bulk);
    assert!(engine.users().await.unwrap().is_empty());
    assert!(engine.load(&doc).await.unwrap().is_empty());
    assert_eq!(engine.verify_audit().await.unwrap().entries, 0);
    assert_eq!(engine.health(), Health::Ok, "a refused import is not a storage failure");

    let mut bulk = engine.bulk_import().await.unwrap().unwrap();
    bulk.write(vec![Write::InsertUser(user("bob", Role::Volunteer)), chunk(doc, b"1"), audit(1)]).await.unwrap();
    bulk.write(vec![audit(2)]).await.unwrap();
    bulk.finish().await.unwrap();
    assert_eq!(engine.users().await.unwrap().len(), 1);
    assert_eq!(engine.verify_audit().await.unwrap().entries, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_chain_is_the_same_as_the_key_value_engines() {
    let Some(admin_url) = admin_url() else { return };
    let (pg, _) = fresh_engine(&admin_url, Default::default()).await;
    let memory = MemoryEngine::new();
    for batch in [vec![audit(1), audit(2)], vec![audit(3)]] {
        pg.commit(batch.clone()).await.unwrap();
        memory.commit(batch).await.unwrap();
    }
    assert_eq!(pg.audit_all().await.unwrap(), memory.audit_all().await.unwrap());
}

#[test]
fn debug_never_shows_the_password() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    // Nothing listens on port 9 of loopback: the open fails, and says so without the password.
    let err = runtime
        .block_on(PgEngine::open(
            "postgres://linli:hunter2-secret@127.0.0.1:9/linli",
            PgOptions { timeout: Duration::from_secs(2), ..Default::default() },
            SchemaUse::Migrate,
        ))
        .unwrap_err();
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
}
