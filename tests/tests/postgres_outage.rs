//! The database going away under load (issue 10): a server on PostgreSQL whose cluster is
//! stopped while a phone writes must acknowledge nothing that did not commit, report the
//! failure (`/healthz` 503, `linli_store_up 0`), stay up, and resume by itself once the
//! database is back; every acknowledged change is then there, and the phone's changes
//! made meanwhile reach it.
//!
//! The test starts a cluster of its own ([`PgCluster`]) so that it can crash it
//! (`pg_ctl stop -m immediate`) without disturbing the other tests.

use anyhow::{ensure, Context};
use automerge::ChangeHash;
use linli_shared::DocumentId;
use linli_tests::domain::{create, household, set};
use linli_tests::postgres::{self, PgCluster};
use linli_tests::server::ALICE;
use linli_tests::{Community, TestPeer};
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

const T: Duration = Duration::from_secs(60);

/// One writer of one document: a linear history, and how much of it the server acknowledged.
struct Writer {
    peer: TestPeer,
    id: DocumentId,
    history: Vec<ChangeHash>,
    position: HashMap<ChangeHash, usize>,
    acked: usize,
}

impl Writer {
    fn new() -> Self {
        let mut peer = TestPeer::new("writer");
        let id = create(&mut peer, household("g1", "0"));
        let first = peer.heads(&id)[0];
        Writer { peer, id, history: vec![first], position: HashMap::from([(first, 0)]), acked: 0 }
    }

    fn change(&mut self) {
        let n = self.history.len();
        set(&mut self.peer, &self.id, "room", json!(n.to_string()));
        let head = self.peer.heads(&self.id)[0];
        self.position.insert(head, n);
        self.history.push(head);
    }

    /// Makes a change and, if connected, sends it and takes in what arrived. A socket the
    /// server closes is simply closed: the phone keeps its changes.
    async fn step(&mut self) -> anyhow::Result<()> {
        self.change();
        if self.peer.is_connected() && self.peer.push().await.is_err() {
            self.peer.disconnect();
        }
        while self.peer.is_connected() {
            match self.peer.pump_one(Duration::from_millis(5)).await {
                Ok(true) => {}
                Ok(false) => break,
                Err(_) => self.peer.disconnect(),
            }
        }
        for h in self.peer.acked.get(&self.id).cloned().unwrap_or_default() {
            let p = *self.position.get(&h).context("the server acknowledged a change nobody made")?;
            self.acked = self.acked.max(p + 1);
        }
        Ok(())
    }
}

async fn healthz(c: &Community) -> anyhow::Result<u16> {
    Ok(reqwest::get(c.server.http("/healthz")).await?.status().as_u16())
}

/// A fresh peer's copy of the document (from the store: the server dropped every document
/// from memory when the database failed).
async fn fetch(c: &Community, id: DocumentId) -> anyhow::Result<TestPeer> {
    let mut checker = TestPeer::new("checker");
    checker.connect(&c.server.ws_url(&c.token(ALICE).await?)).await?;
    checker.want(id);
    checker.sync_all(T).await?;
    Ok(checker)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_going_away_mid_load_loses_nothing_acknowledged_and_the_server_resumes() -> anyhow::Result<()> {
    if !postgres::available()? {
        return Ok(());
    }
    let cluster = std::sync::Arc::new(PgCluster::start()?);
    let db = postgres::create_database(&cluster.url)?;
    let mut c = Community::start_on_database(&db, &["--store-retry-secs", "1", "--database-timeout-secs", "3"]).await?;
    let token = c.token(ALICE).await?;
    let mut w = Writer::new();
    w.peer.connect(&c.server.ws_url(&token)).await?;

    // Load: a change every few ms, acknowledged as it commits.
    let deadline = tokio::time::Instant::now() + T;
    while w.acked < 30 {
        ensure!(tokio::time::Instant::now() < deadline, "only {} changes acknowledged", w.acked);
        w.step().await?;
    }
    ensure!(healthz(&c).await? == 200 && c.server.metric("linli_store_up").await? == 1.0);

    // The database crashes mid-load: the phone writes on while it goes down.
    let made_before_outage = w.history.len();
    let crash = tokio::task::spawn_blocking({
        let cluster = cluster.clone();
        move || cluster.stop("immediate")
    });
    while !crash.is_finished() {
        w.step().await?;
    }
    crash.await??;
    let deadline = tokio::time::Instant::now() + T;
    // Whatever notices first (a commit, a read, the health check), /healthz and the metric
    // report it within one store_retry_secs.
    while healthz(&c).await? != 503 || c.server.metric("linli_store_up").await? != 0.0 {
        ensure!(tokio::time::Instant::now() < deadline, "/healthz and linli_store_up never reported the failure");
        w.step().await?;
    }
    let acked_at_outage = w.acked;
    let health: serde_json::Value = reqwest::get(c.server.http("/healthz")).await?.json().await?;
    ensure!(health["store"] == "postgres", "{health}");
    ensure!(!health.to_string().contains(&db[db.find(':').unwrap_or(0) + 3..]), "/healthz shows the URL: {health}");
    // The phone goes on working offline; the server stays up and refuses to sync.
    for _ in 0..10 {
        w.step().await?;
    }
    ensure!(w.acked == acked_at_outage, "a change was acknowledged while the database was down");
    ensure!(c.server.pid().is_some() && healthz(&c).await? == 503, "the server must stay up, reporting the failure");

    // The database comes back: the server resumes by itself.
    cluster.restart()?;
    let deadline = tokio::time::Instant::now() + T;
    while healthz(&c).await? != 200 {
        ensure!(tokio::time::Instant::now() < deadline, "the server did not resume within {T:?}:\n{}", c.server.log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ensure!(c.server.metric("linli_store_up").await? == 1.0);

    // Every acknowledged change committed.
    let mut checker = fetch(&c, w.id).await?;
    let doc = checker.doc(&w.id);
    let lost: Vec<usize> = (0..w.acked).filter(|&i| doc.get_change_by_hash(&w.history[i]).is_none()).collect();
    ensure!(lost.is_empty(), "acknowledged changes lost with the database: positions {lost:?}");
    println!(
        "outage: {} changes made before the crash, {} acknowledged by the time it was reported, none after \
         ({} made since); resumed",
        made_before_outage,
        acked_at_outage,
        w.history.len() - made_before_outage
    );

    // The phone's changes made meanwhile reach the server, and survive a crash of it.
    w.peer.connect(&c.server.ws_url(&token)).await?;
    w.peer.sync_all(T).await?;
    let heads = w.peer.heads(&w.id);
    ensure!(w.peer.acked.get(&w.id) == Some(&heads), "the server has the phone's heads after the outage");
    c.server.restart().await?;
    let mut checker = fetch(&c, w.id).await?;
    ensure!(checker.heads(&w.id) == heads, "after a restart the server holds every change");
    Ok(())
}
