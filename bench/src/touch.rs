//! Many stored documents, each touched once. `setup` creates M small documents through the
//! protocol (many documents per connection, several connections at once) and writes their
//! ids to a file; the server is then restarted, and `run` asks for every document once
//! (`request`, like `repo.find` on a phone that has nothing), a batch per connection.
//! Measured: the server's peak RSS against its document cache + 64 MB, where the cache's
//! cost in bytes is what the RSS grew by while the first `cache_docs` documents were touched.

use crate::conn::{self, Conn};
use crate::peer::{peer_id, run_tag, sync_docs, PeerDoc};
use crate::procfs;
use crate::result::RunResult;
use crate::ServerArgs;
use anyhow::Context;
use automerge::ActorId;
use linli_shared::DocumentId;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const STALL: Duration = Duration::from_secs(120);

/// Runs `workers` connections over `ids` in batches of `batch`, each batch on a fresh
/// connection. `make` builds the documents a batch syncs. Returns how many came back
/// unavailable, and the errors.
async fn batches<F>(
    server: &ServerArgs,
    target: &conn::Target,
    ids: Arc<Vec<DocumentId>>,
    workers: usize,
    batch: usize,
    make: F,
) -> anyhow::Result<(u64, Vec<String>)>
where
    F: Fn(usize) -> anyhow::Result<PeerDoc> + Send + Sync + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let unavailable = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(Mutex::new(Vec::new()));
    let make = Arc::new(make);
    let tag = run_tag();
    let mut tasks = Vec::new();
    for w in 0..workers.max(1) {
        let (ids, next, done, unavailable, errors, make, target, tag) = (
            ids.clone(),
            next.clone(),
            done.clone(),
            unavailable.clone(),
            errors.clone(),
            make.clone(),
            target.clone(),
            tag.clone(),
        );
        let storage = server.storage();
        tasks.push(tokio::spawn(async move {
            let mut round = 0;
            loop {
                let from = next.fetch_add(batch, Ordering::SeqCst);
                if from >= ids.len() {
                    break;
                }
                let to = (from + batch).min(ids.len());
                let res = async {
                    let mut docs = HashMap::new();
                    for (i, id) in ids[from..to].iter().enumerate() {
                        docs.insert(*id, make(from + i)?);
                    }
                    let me = peer_id(&format!("touch{w}"), round, &tag);
                    let mut conn = Conn::open(&target, me, storage.clone()).await?;
                    sync_docs(&mut conn, &mut docs, STALL).await?;
                    conn.close().await;
                    let n = docs.values().filter(|d| d.unavailable).count() as u64;
                    unavailable.fetch_add(n, Ordering::Relaxed);
                    anyhow::Ok(())
                }
                .await;
                if let Err(e) = res {
                    if let Ok(mut errs) = errors.lock() {
                        errs.push(format!("batch {from}..{to}: {e:#}"));
                    }
                }
                round += 1;
                let d = done.fetch_add(to - from, Ordering::SeqCst) + (to - from);
                if d / 10_000 != (d - (to - from)) / 10_000 {
                    eprintln!("  {d} of {} documents", ids.len());
                }
            }
        }));
    }
    for t in tasks {
        t.await.context("touch worker")?;
    }
    let errors = errors.lock().map(|e| e.clone()).unwrap_or_default();
    Ok((unavailable.load(Ordering::Relaxed), errors))
}

/// Creates `docs` documents on the server and writes their ids, one per line, to `ids_file`.
pub async fn setup(
    server: &ServerArgs,
    docs: usize,
    ids_file: &Path,
    workers: usize,
    batch: usize,
) -> anyhow::Result<RunResult> {
    let mut r = RunResult::new("touch-setup", &server.server_name);
    r.param("docs", docs);
    let target = server.target().await?;
    let ids: Arc<Vec<DocumentId>> = Arc::new((0..docs).map(|_| DocumentId::random()).collect());
    let started = Instant::now();
    let actor = ActorId::random();
    let (unavailable, errors) =
        batches(server, &target, ids.clone(), workers, batch, move |i| PeerDoc::create(&actor, &format!("doc {i}")))
            .await?;
    r.setup_secs = Some(started.elapsed().as_secs_f64());
    r.docs = Some(docs as u64);
    for e in errors {
        r.error(e);
    }
    if unavailable > 0 {
        r.error(format!("{unavailable} new documents were answered doc-unavailable"));
    }
    let text: String = ids.iter().map(|id| format!("{id}\n")).collect();
    std::fs::write(ids_file, text)?;
    Ok(r)
}

/// Touches every document of `ids_file` once; see the module docs.
pub async fn run(
    server: &ServerArgs,
    ids_file: &Path,
    workers: usize,
    batch: usize,
    cache_docs: usize,
) -> anyhow::Result<RunResult> {
    let mut r = RunResult::new("touch", &server.server_name);
    let ids: Vec<DocumentId> = std::fs::read_to_string(ids_file)?
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.parse().map_err(|e| anyhow::anyhow!("bad id {l}: {e:?}")))
        .collect::<anyhow::Result<_>>()?;
    r.param("docs", ids.len());
    r.param("cache_docs", cache_docs);
    r.docs = Some(ids.len() as u64);
    let target = server.target().await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = procfs::maybe_sample(server.server_pid)?;
    let started = Instant::now();
    // Phase 1 fills the cache exactly; phase 2 touches the rest.
    let split = if cache_docs > 0 { cache_docs.min(ids.len()) } else { 0 };
    let (first, rest) = ids.split_at(split);
    let mut unavailable = 0;
    if !first.is_empty() {
        let (u, errs) =
            batches(server, &target, Arc::new(first.to_vec()), workers, batch, |_| Ok(PeerDoc::wanted())).await?;
        unavailable += u;
        errs.into_iter().for_each(|e| r.error(e));
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Some(s) = procfs::maybe_sample(server.server_pid)? {
            r.rss_at_cache_full = Some(s.rss);
            if let Some(b) = before {
                let cache = s.rss.saturating_sub(b.rss);
                r.cache_bytes = Some(cache);
                r.limit_bytes = Some(cache + (64 << 20));
            }
        }
    }
    let (u, errs) =
        batches(server, &target, Arc::new(rest.to_vec()), workers, batch, |_| Ok(PeerDoc::wanted())).await?;
    unavailable += u;
    errs.into_iter().for_each(|e| r.error(e));
    r.wall_secs = Some(started.elapsed().as_secs_f64());
    let after = procfs::maybe_sample(server.server_pid)?;
    r.cache_docs = (cache_docs > 0).then_some(cache_docs as u64);
    r.unavailable = Some(unavailable);
    if unavailable > 0 {
        r.error(format!("{unavailable} stored documents were answered doc-unavailable"));
    }
    if let (Some(b), Some(a)) = (before, after) {
        r.rss_before = Some(b.rss);
        r.rss_after = Some(a.rss);
        r.peak_rss = Some(a.hwm);
        r.server_cpu_secs = Some(a.cpu_secs - b.cpu_secs);
    }
    let (s, rv) = conn::wire_bytes();
    r.wire_bytes = Some(s + rv);
    Ok(r)
}
