//! Idle peers: N peers connect, join and sync one small document each, then stay connected
//! doing nothing (answering keep-alive pings). Measured: server RSS after − before, per peer.

use crate::conn::{self, Conn};
use crate::peer::{peer_id, run_tag, sync_docs, PeerDoc};
use crate::procfs;
use crate::result::RunResult;
use crate::ServerArgs;
use anyhow::Context;
use automerge::{ActorId, AutoCommit};
use linli_shared::DocumentId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};

/// File descriptors this process keeps for itself besides the peers' sockets.
const RESERVED_FDS: u64 = 256;

pub async fn run(
    server: &ServerArgs,
    wanted_peers: usize,
    peers_per_doc: usize,
    concurrency: usize,
    settle_secs: u64,
) -> anyhow::Result<RunResult> {
    let mut r = RunResult::new("idle", &server.server_name);
    let fd_limit = procfs::open_files_limit().unwrap_or(1024);
    let peers = wanted_peers.min(fd_limit.saturating_sub(RESERVED_FDS) as usize);
    if peers < wanted_peers {
        r.notes.push(format!(
            "asked for {wanted_peers} peers but the open-file limit is {fd_limit}: ran {peers} (raise `ulimit -n`)"
        ));
    }
    r.param("peers", peers);
    r.param("peers_per_doc", peers_per_doc);
    let target = server.target().await?;
    let tag = run_tag();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = procfs::maybe_sample(server.server_pid)?;

    let dropped = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel::<Result<(), String>>();
    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(peers);
    let mut shared: Option<(DocumentId, Vec<u8>)> = None;
    for i in 0..peers {
        if i % peers_per_doc == 0 {
            let mut d = PeerDoc::create(&ActorId::random(), "idle")?;
            shared = Some((DocumentId::random(), d.doc.save()));
        }
        let Some((id, saved)) = shared.clone() else { continue };
        let (target, sem, ready_tx, mut stop_rx, dropped) =
            (target.clone(), sem.clone(), ready_tx.clone(), stop_rx.clone(), dropped.clone());
        let me = peer_id("idle", i, &tag);
        let storage = server.storage();
        tasks.push(tokio::spawn(async move {
            let setup = async {
                let _permit = sem.acquire().await?;
                let doc = AutoCommit::load(&saved)?.with_actor(ActorId::random());
                let mut docs = HashMap::from([(id, PeerDoc::new(doc))]);
                let mut conn = Conn::open(&target, me, storage).await?;
                sync_docs(&mut conn, &mut docs, Duration::from_secs(120)).await?;
                anyhow::Ok(conn)
            }
            .await;
            let mut conn = match setup {
                Ok(c) => {
                    let _ = ready_tx.send(Ok(()));
                    c
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(format!("{e:#}")));
                    return None;
                }
            };
            // Idle: keep reading so keep-alive pings are answered.
            loop {
                tokio::select! {
                    m = conn.recv() => if m.is_err() {
                        dropped.fetch_add(1, Ordering::Relaxed);
                        return None;
                    },
                    _ = stop_rx.wait_for(|s| *s) => break,
                }
            }
            Some(conn)
        }));
    }
    drop(ready_tx);
    let (mut ok, mut failed) = (0u64, 0u64);
    while ok + failed < tasks.len() as u64 {
        let Some(res) = ready_rx.recv().await else { break };
        match res {
            Ok(()) => ok += 1,
            Err(e) => {
                failed += 1;
                r.error(format!("connect: {e}"));
            }
        }
    }
    r.setup_secs = Some(started.elapsed().as_secs_f64());
    tokio::time::sleep(Duration::from_secs(settle_secs)).await;
    let after = procfs::maybe_sample(server.server_pid)?;
    let still = ok - dropped.load(Ordering::Relaxed);
    r.peers = Some(still);
    if still < ok {
        r.error(format!("{} idle peers were disconnected by the server", ok - still));
    }
    if let (Some(b), Some(a)) = (before, after) {
        r.rss_before = Some(b.rss);
        r.rss_after = Some(a.rss);
        r.peak_rss = Some(a.hwm);
        r.rss_per_peer = Some((a.rss as f64 - b.rss as f64) / still.max(1) as f64);
        r.server_cpu_secs = Some(a.cpu_secs - b.cpu_secs);
    }
    r.notes.push(format!(
        "{ok} peers connected and synced in {:.1} s ({failed} failed, {} connect retries)",
        r.setup_secs.unwrap_or(0.0),
        conn::CONNECT_RETRIES.load(Ordering::Relaxed)
    ));
    let _ = stop_tx.send(true);
    let mut conns = Vec::new();
    for t in tasks {
        if let Some(c) = t.await.context("idle peer task")? {
            conns.push(c);
        }
    }
    // Close in bounded parallel batches.
    while !conns.is_empty() {
        let batch: Vec<Conn> = conns.drain(..conns.len().min(500)).collect();
        futures_util::future::join_all(batch.into_iter().map(|c| c.close())).await;
    }
    Ok(r)
}
