//! The reconnect storm: C clients each own D documents. Setup: every client creates its
//! documents and syncs them to the server, then disconnects. Offline, every client makes
//! K changes to each of its documents. Then all clients reconnect at the same instant and
//! sync until the server has announced every client's heads for every document. Measured:
//! wall time from the reconnect to the last convergence, server CPU in that window, bytes
//! on the wire, and the server's peak RSS.

use crate::conn::{self, Conn};
use crate::peer::{peer_id, run_tag, sync_docs, PeerDoc};
use crate::procfs;
use crate::result::RunResult;
use crate::ServerArgs;
use anyhow::Context;
use automerge::transaction::Transactable;
use automerge::{ActorId, ROOT};
use linli_shared::{DocumentId, PeerId, StorageId};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Client {
    me: PeerId,
    storage: Option<StorageId>,
    docs: HashMap<DocumentId, PeerDoc>,
}

/// The K offline changes a phone makes to one document: small edits of a household
/// record (its notes and phone), one Automerge change each.
pub fn offline_changes(d: &mut PeerDoc, k: usize, who: &str) -> anyhow::Result<()> {
    for i in 0..k {
        d.doc.put(ROOT, "notes", format!("visit {i} by {who}: left supplies at the door"))?;
        d.doc.put(ROOT, "phone", format!("1380000{:04}", i % 10_000))?;
        d.doc.commit();
    }
    Ok(())
}

pub async fn run(
    server: &ServerArgs,
    clients: usize,
    docs: usize,
    changes: usize,
    stall_secs: u64,
) -> anyhow::Result<RunResult> {
    let mut r = RunResult::new("storm", &server.server_name);
    r.param("clients", clients);
    r.param("docs_per_client", docs);
    r.param("changes_per_doc", changes);
    let target = server.target().await?;
    let tag = run_tag();
    let stall = Duration::from_secs(stall_secs);

    let mut all = Vec::with_capacity(clients);
    for i in 0..clients {
        let me = peer_id("storm", i, &tag);
        let actor = ActorId::random();
        let mut ds = HashMap::new();
        for _ in 0..docs {
            ds.insert(DocumentId::random(), PeerDoc::create(&actor, me.as_str())?);
        }
        all.push(Client { me, storage: server.storage(), docs: ds });
    }

    // Setup: every client creates its documents on the server, then goes offline.
    let started = Instant::now();
    let mut tasks = Vec::new();
    for mut c in all {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let res = async {
                let mut conn = Conn::open(&target, c.me.clone(), c.storage.clone()).await?;
                sync_docs(&mut conn, &mut c.docs, stall).await?;
                conn.close().await;
                anyhow::Ok(())
            }
            .await;
            (c, res)
        }));
    }
    let mut all = Vec::with_capacity(clients);
    for t in tasks {
        let (c, res) = t.await.context("setup task")?;
        if let Err(e) = res {
            r.error(format!("setup: {e:#}"));
        }
        all.push(c);
    }
    r.setup_secs = Some(started.elapsed().as_secs_f64());
    if !r.ok {
        anyhow::bail!("setup failed: {:?}", r.errors);
    }

    // Offline work.
    for c in all.iter_mut() {
        let who = c.me.as_str().to_owned();
        for d in c.docs.values_mut() {
            offline_changes(d, changes, &who)?;
            d.reconnect();
        }
    }
    // Let the server finish whatever it does after the last disconnect (the reference
    // server saves in the background) so that it is not counted as storm work.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // The storm.
    let total_changes = (clients * docs * changes) as u64;
    let before = procfs::maybe_sample(server.server_pid)?;
    let metrics_before = server.metrics().await;
    let (sent0, recv0) = conn::wire_bytes();
    let barrier = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let mut tasks = Vec::new();
    for mut c in all {
        let target = target.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut conn = None;
            let res = async {
                let mut cn = Conn::open(&target, c.me.clone(), c.storage.clone()).await?;
                let synced = sync_docs(&mut cn, &mut c.docs, stall).await;
                conn = Some(cn);
                synced
            }
            .await;
            (c, conn, res, Instant::now())
        }));
    }
    barrier.wait().await;
    let t0 = Instant::now();
    let mut last = t0;
    let mut all = Vec::with_capacity(clients);
    let mut conns = Vec::new();
    for t in tasks {
        let (c, cn, res, done) = t.await.context("storm task")?;
        if let Err(e) = res {
            r.error(format!("storm: {e:#}"));
        }
        last = last.max(done);
        conns.extend(cn);
        all.push(c);
    }
    let after = procfs::maybe_sample(server.server_pid)?;
    let (sent1, recv1) = conn::wire_bytes();
    r.wall_secs = Some((last - t0).as_secs_f64());
    r.changes = Some(total_changes);
    let wire = (sent1 - sent0) + (recv1 - recv0);
    r.wire_bytes = Some(wire);
    r.bytes_per_change = Some(wire as f64 / total_changes.max(1) as f64);
    if let (Some(b), Some(a)) = (before, after) {
        let cpu = a.cpu_secs - b.cpu_secs;
        r.server_cpu_secs = Some(cpu);
        r.cpu_per_1000_changes = Some(cpu / (total_changes.max(1) as f64 / 1000.0));
        r.peak_rss = Some(a.hwm);
        r.rss_before = Some(b.rss);
        r.rss_after = Some(a.rss);
    }
    r.server_metrics = crate::metric_deltas(&metrics_before, &server.metrics().await);

    let behind: usize = all.iter_mut().map(|c| c.docs.values_mut().map(|d| !d.in_sync()).filter(|b| *b).count()).sum();
    if behind > 0 {
        r.error(format!("{behind} of {} documents did not converge", clients * docs));
    }
    r.notes.push(format!("connect retries: {}", conn::CONNECT_RETRIES.load(std::sync::atomic::Ordering::Relaxed)));
    futures_util::future::join_all(conns.into_iter().map(|c| c.close())).await;
    Ok(r)
}
