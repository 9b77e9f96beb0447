//! Steady state: N connected peers; each document is shared by a small group (2–5 peers);
//! every peer changes its group's document every few seconds (the household's `notes`
//! carry the send time in ms), and the server fans the change out to the rest of the group. Each receiver
//! records fan-out latency = receive time − send time (both in this process, so one clock).

use crate::conn::{self, Conn};
use crate::peer::{peer_id, run_tag, sync_docs, PeerDoc};
use crate::procfs;
use crate::result::{histogram, quantile, RunResult};
use crate::ServerArgs;
use anyhow::Context;
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ChangeHash, ROOT};
use linli_shared::{DocumentId, Message};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, watch, Semaphore};

#[derive(Debug, Clone)]
pub struct Config {
    pub peers: usize,
    pub group_min: usize,
    pub group_max: usize,
    pub interval_ms: u64,
    pub duration_secs: u64,
    pub drain_secs: u64,
    pub connect_concurrency: usize,
}

/// Consecutive peers in groups of sizes cycling through `min..=max`; a last group of one
/// joins the previous group.
pub fn groups(peers: usize, min: usize, max: usize) -> Vec<Vec<usize>> {
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut next = 0;
    let mut size = min;
    while next < peers {
        let end = (next + size).min(peers);
        out.push((next..end).collect());
        next = end;
        size = if size >= max { min } else { size + 1 };
    }
    if out.len() > 1 && out.last().is_some_and(|g| g.len() < 2) {
        let last = out.pop().unwrap_or_default();
        if let Some(prev) = out.last_mut() {
            prev.extend(last);
        }
    }
    out
}

#[derive(Debug, Default)]
struct PeerStats {
    changes: u64,
    group_size: usize,
    latencies_us: Vec<u64>,
    error: Option<String>,
}

type SentAt = Arc<Mutex<HashMap<ChangeHash, Instant>>>;

pub async fn run(server: &ServerArgs, cfg: Config) -> anyhow::Result<RunResult> {
    let mut r = RunResult::new("steady", &server.server_name);
    r.param("peers", cfg.peers);
    r.param("group_size", format!("{}-{}", cfg.group_min, cfg.group_max));
    r.param("interval_ms", cfg.interval_ms);
    r.param("duration_secs", cfg.duration_secs);
    let target = server.target().await?;
    let tag = run_tag();
    let groups = groups(cfg.peers, cfg.group_min, cfg.group_max);
    r.param("documents", groups.len());

    let sent_at: SentAt = Arc::new(Mutex::new(HashMap::new()));
    let (start_tx, start_rx) = watch::channel::<Option<(Instant, Instant)>>(None);
    let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<Result<(), String>>();
    let sem = Arc::new(Semaphore::new(cfg.connect_concurrency.max(1)));
    let setup_started = Instant::now();
    let mut tasks = Vec::new();
    for group in &groups {
        // The group's document as its members hold it, as if they had synced it before.
        let creator = PeerDoc::create(&ActorId::random(), "group")?;
        let mut creator_doc = creator.doc;
        let saved = creator_doc.save();
        let id = DocumentId::random();
        for &idx in group {
            let doc = AutoCommit::load(&saved)?.with_actor(ActorId::random());
            let me = peer_id("steady", idx, &tag);
            let (target, sem, ready_tx, mut start_rx, sent_at, cfg) =
                (target.clone(), sem.clone(), ready_tx.clone(), start_rx.clone(), sent_at.clone(), cfg.clone());
            let storage = server.storage();
            let group_size = group.len();
            tasks.push(tokio::spawn(async move {
                let mut stats = PeerStats { group_size, ..Default::default() };
                let mut docs = HashMap::from([(id, PeerDoc::new(doc))]);
                let setup = async {
                    let _permit = sem.acquire().await?;
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
                        stats.error = Some(format!("setup: {e:#}"));
                        return (stats, None);
                    }
                };
                let Ok(()) = start_rx.wait_for(|s| s.is_some()).await.map(|_| ()) else { return (stats, Some(conn)) };
                let Some((start, end)) = *start_rx.borrow() else { return (stats, Some(conn)) };
                let mut d = docs.remove(&id).unwrap_or_else(PeerDoc::wanted);
                if let Err(e) = measured(&mut conn, id, &mut d, idx, start, end, &cfg, &sent_at, &mut stats).await {
                    stats.error = Some(format!("{e:#}"));
                }
                (stats, Some(conn))
            }));
        }
    }
    drop(ready_tx);
    let mut ready = 0;
    while let Some(res) = tokio::time::timeout(Duration::from_secs(600), ready_rx.recv()).await.ok().flatten() {
        if let Err(e) = res {
            r.error(format!("setup: {e}"));
        }
        ready += 1;
        if ready == cfg.peers {
            break;
        }
    }
    r.setup_secs = Some(setup_started.elapsed().as_secs_f64());
    tokio::time::sleep(Duration::from_secs(1)).await;

    let before = procfs::maybe_sample(server.server_pid)?;
    let metrics_before = server.metrics().await;
    let (sent0, recv0) = conn::wire_bytes();
    let start = Instant::now() + Duration::from_millis(200);
    let end = start + Duration::from_secs(cfg.duration_secs);
    let stop = end + Duration::from_secs(cfg.drain_secs);
    let _ = start_tx.send(Some((start, end)));
    tokio::time::sleep_until(stop.into()).await;
    let after = procfs::maybe_sample(server.server_pid)?;
    let (sent1, recv1) = conn::wire_bytes();
    r.server_metrics = crate::metric_deltas(&metrics_before, &server.metrics().await);

    let mut latencies: Vec<f64> = Vec::new();
    let (mut changes, mut expected, mut connected) = (0u64, 0u64, 0u64);
    let mut conns = Vec::new();
    for t in tasks {
        let (stats, conn) = t.await.context("peer task")?;
        if let Some(e) = stats.error {
            r.error(e);
        }
        if let Some(c) = conn {
            connected += 1;
            conns.push(c);
        }
        changes += stats.changes;
        expected += stats.changes * (stats.group_size as u64 - 1);
        latencies.extend(stats.latencies_us.iter().map(|us| *us as f64 / 1000.0));
    }
    latencies.sort_by(f64::total_cmp);
    r.peers = Some(connected);
    r.changes = Some(changes);
    r.deliveries = Some(latencies.len() as u64);
    r.expected_deliveries = Some(expected);
    r.latency_p50_ms = quantile(&latencies, 0.50);
    r.latency_p99_ms = quantile(&latencies, 0.99);
    r.latency_max_ms = latencies.last().copied();
    r.latency_histogram = histogram(&latencies);
    r.wall_secs = Some((stop - start).as_secs_f64());
    let wire = (sent1 - sent0) + (recv1 - recv0);
    r.wire_bytes = Some(wire);
    r.bytes_per_change = Some(wire as f64 / changes.max(1) as f64);
    if let (Some(b), Some(a)) = (before, after) {
        let cpu = a.cpu_secs - b.cpu_secs;
        r.server_cpu_secs = Some(cpu);
        r.cpu_per_1000_changes = Some(cpu / (changes.max(1) as f64 / 1000.0));
        r.peak_rss = Some(a.hwm);
        r.rss_before = Some(b.rss);
        r.rss_after = Some(a.rss);
    }
    if (latencies.len() as u64) < expected {
        r.error(format!(
            "{} of {expected} fan-out deliveries did not arrive in time",
            expected - latencies.len() as u64
        ));
    }
    r.notes.push(format!("connect retries: {}", conn::CONNECT_RETRIES.load(std::sync::atomic::Ordering::Relaxed)));
    futures_util::future::join_all(conns.into_iter().map(|c| c.close())).await;
    Ok(r)
}

#[allow(clippy::too_many_arguments)]
async fn measured(
    conn: &mut Conn,
    id: DocumentId,
    d: &mut PeerDoc,
    idx: usize,
    start: Instant,
    end: Instant,
    cfg: &Config,
    sent_at: &SentAt,
    stats: &mut PeerStats,
) -> anyhow::Result<()> {
    let interval = Duration::from_millis(cfg.interval_ms.max(1));
    let mut next = start + Duration::from_millis(rand::random::<u64>() % cfg.interval_ms.max(1));
    let stop = end + Duration::from_secs(cfg.drain_secs);
    let who = format!("peer {idx}");
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(next.into()), if next < end => {
                let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs_f64() * 1000.0;
                // `notes` is a field of the household schema: Linli refuses unknown keys.
                d.doc.put(ROOT, "notes", format!("{who} sent_ms={now_ms:.3}"))?;
                if let Some(hash) = d.doc.commit() {
                    sent_at.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.insert(hash, Instant::now());
                    stats.changes += 1;
                }
                if let Some(m) = d.outgoing(id, &conn.me, &conn.server) {
                    conn.send(&m).await?;
                }
                next += interval;
            }
            msg = conn.recv() => {
                if let Message::Sync { data, document_id, .. } = msg? {
                    if document_id != id {
                        continue;
                    }
                    let before = d.doc.get_heads();
                    d.receive(&data)?;
                    let now = Instant::now();
                    if d.doc.get_heads() != before {
                        let new: Vec<ChangeHash> = d.doc.get_changes(&before).iter().map(|c| c.hash()).collect();
                        let map = sent_at.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                        for h in new {
                            if let Some(t) = map.get(&h) {
                                stats.latencies_us.push(now.saturating_duration_since(*t).as_micros() as u64);
                            }
                        }
                    }
                    if let Some(m) = d.outgoing(id, &conn.me, &conn.server) {
                        conn.send(&m).await?;
                    }
                }
            }
            _ = tokio::time::sleep_until(stop.into()) => break,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_cover_every_peer_once_with_two_to_five_members() {
        for n in [2usize, 3, 7, 10, 1000, 1001] {
            let g = groups(n, 2, 5);
            let mut all: Vec<usize> = g.iter().flatten().copied().collect();
            all.sort();
            assert_eq!(all, (0..n).collect::<Vec<_>>());
            assert!(g.iter().all(|g| g.len() >= 2 && g.len() <= 6), "{g:?}");
        }
    }
}
