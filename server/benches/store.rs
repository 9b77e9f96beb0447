//! The sled engine: durable commits through the group commit (alone, and with concurrent
//! writers sharing fsyncs), and loading a document back into Automerge the way a document
//! actor does (`load`, then `load_incremental` of every chunk).
//! Runs on a real directory under the system temp dir, so the fsyncs are real.

#![allow(clippy::unwrap_used)]

use automerge::transaction::Transactable;
use automerge::{AutoCommit, Automerge, ROOT};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use linli_server::store::{DocStore, Engine, SledEngine, SledOptions, Write};
use linli_shared::DocumentId;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn open_store(rt: &tokio::runtime::Runtime, dir: &std::path::Path) -> (Arc<SledEngine>, Arc<AtomicU64>) {
    let flushes = Arc::new(AtomicU64::new(0));
    let counted = flushes.clone();
    let options = SledOptions {
        observe: Arc::new(move |_, _| {
            counted.fetch_add(1, Ordering::Relaxed);
        }),
        ..SledOptions::default()
    };
    (Arc::new(rt.block_on(SledEngine::open(dir, options)).unwrap()), flushes)
}

/// A chunk of `n` small changes, as a document actor writes after one batch.
fn chunk(seed: u64, n: usize) -> Vec<u8> {
    let mut doc = AutoCommit::new();
    for i in 0..n {
        doc.put(ROOT, "progress", i as i64).unwrap();
        doc.put(ROOT, "seed", seed as i64).unwrap();
        doc.commit();
    }
    doc.save()
}

fn put(doc: DocumentId, bytes: Vec<u8>) -> Vec<Write> {
    vec![Write::Chunk { doc, bytes }]
}

fn group_commit(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (store, flushes) = open_store(&rt, dir.path());
    let seq = AtomicU64::new(0);
    // Distinct contents each time: chunks are content addressed, and a re-put is cheap.
    let payloads: Vec<Vec<u8>> = (0..64).map(|i| chunk(i, 1)).collect();
    let mut group = c.benchmark_group("group_commit");
    group.throughput(Throughput::Elements(1));
    group.bench_function("put_chunk_durable_1_writer", |b| {
        b.iter(|| {
            let i = seq.fetch_add(1, Ordering::Relaxed);
            let mut bytes = payloads[(i % 64) as usize].clone();
            bytes.extend_from_slice(&i.to_le_bytes());
            rt.block_on(store.commit(put(DocumentId::random(), black_box(bytes)))).unwrap()
        })
    });
    for writers in [8u64, 32] {
        group.throughput(Throughput::Elements(writers));
        let before = flushes.load(Ordering::Relaxed);
        let mut rounds = 0u64;
        group.bench_function(format!("put_chunk_durable_{writers}_concurrent_writers"), |b| {
            b.iter_custom(|iters| {
                let started = Instant::now();
                for _ in 0..iters {
                    rounds += 1;
                    rt.block_on(async {
                        let tasks: Vec<_> = (0..writers)
                            .map(|w| {
                                let store = store.clone();
                                let i = seq.fetch_add(1, Ordering::Relaxed);
                                let mut bytes = payloads[(w % 64) as usize].clone();
                                bytes.extend_from_slice(&i.to_le_bytes());
                                tokio::spawn(
                                    async move { store.commit(put(DocumentId::random(), bytes)).await.unwrap() },
                                )
                            })
                            .collect();
                        for t in tasks {
                            t.await.unwrap();
                        }
                    });
                }
                started.elapsed()
            })
        });
        let used = flushes.load(Ordering::Relaxed) - before;
        if rounds > 0 {
            eprintln!(
                "group_commit/{writers} writers: {:.2} fsyncs per round of {writers} durable writes ({used} fsyncs, {rounds} rounds)",
                used as f64 / rounds as f64
            );
        }
    }
    group.finish();
}

/// Loads `doc` from the store and rebuilds it, as a document actor does on first use.
fn load(rt: &tokio::runtime::Runtime, store: &SledEngine, doc: &DocumentId) -> Automerge {
    let stored = rt.block_on(store.load(doc)).unwrap();
    let mut am = Automerge::new();
    for (_, bytes) in &stored.chunks {
        am.load_incremental(bytes).unwrap();
    }
    am
}

fn load_doc(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = open_store(&rt, dir.path());
    let mut group = c.benchmark_group("load");

    // A storm document: its first chunk, then one chunk with 20 offline changes.
    let small = DocumentId::random();
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "kind", "task").unwrap();
    doc.commit();
    rt.block_on(store.commit(put(small, doc.save()))).unwrap();
    let heads = doc.get_heads();
    for i in 0..20 {
        doc.put(ROOT, "progress", i as i64).unwrap();
        doc.put(ROOT, format!("note{}", i % 4), format!("step {i}")).unwrap();
        doc.commit();
    }
    rt.block_on(store.commit(put(small, doc.save_after(&heads)))).unwrap();
    group.bench_function("load_2_chunks_21_changes", |b| b.iter(|| load(&rt, &store, black_box(&small))));

    // A long-lived document: a compacted snapshot of 1,000 changes plus 63 chunks (the
    // most a document has before the next compaction).
    let big = DocumentId::random();
    let mut doc = AutoCommit::new();
    for i in 0..1000 {
        doc.put(ROOT, format!("k{}", i % 50), i as i64).unwrap();
        doc.commit();
    }
    let snap = Write::Compact { doc: big, heads: doc.get_heads(), snapshot: doc.save(), covers: vec![] };
    rt.block_on(store.commit(vec![snap])).unwrap();
    for i in 0..63 {
        let h = doc.get_heads();
        doc.put(ROOT, "progress", i as i64).unwrap();
        doc.commit();
        rt.block_on(store.commit(put(big, doc.save_after(&h)))).unwrap();
    }
    group
        .bench_function("load_snapshot_1000_changes_plus_63_chunks", |b| b.iter(|| load(&rt, &store, black_box(&big))));

    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_millis(500));
    targets = group_commit, load_doc
}
criterion_main!(benches);
