//! Decoding a sync frame and applying it to a document: what the server does for every
//! `sync` message a phone sends after working offline. The frame is a real
//! `linli_shared` CBOR frame carrying an Automerge sync message with K changes, captured
//! from an in-memory sync after a reconnect; the document is cloned outside the timing.

#![allow(clippy::unwrap_used)]

use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, Automerge, ROOT};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use linli_shared::{DocumentId, Message, PeerId, WireLimits};
use std::hint::black_box;

/// The server document and its sync state just before the frame that carries the client's
/// `k` offline changes, and that frame.
fn scenario(k: usize) -> (Automerge, sync::State, Vec<u8>) {
    let mut client = AutoCommit::new();
    client.put(ROOT, "kind", "task").unwrap();
    client.put(ROOT, "status", "new").unwrap();
    client.commit();
    let mut cs = sync::State::new();
    let mut server = Automerge::new();
    let mut ss = sync::State::new();
    // Setup: sync until quiet.
    loop {
        let a = client.sync().generate_sync_message(&mut cs);
        if let Some(m) = &a {
            server.receive_sync_message(&mut ss, m.clone()).unwrap();
        }
        let b = server.generate_sync_message(&mut ss);
        if let Some(m) = &b {
            client.sync().receive_sync_message(&mut cs, m.clone()).unwrap();
        }
        if a.is_none() && b.is_none() {
            break;
        }
    }
    for i in 0..k {
        client.put(ROOT, "progress", i as i64).unwrap();
        client.put(ROOT, format!("note{}", i % 4), format!("step {i}")).unwrap();
        client.commit();
    }
    // Reconnect: the client keeps its shared heads, the server starts afresh.
    let mut cs = sync::State::decode(&cs.encode()).unwrap();
    let mut ss = sync::State::new();
    let sender = PeerId::new("peer-bench".to_owned()).unwrap();
    let target = PeerId::new("linli-bench".to_owned()).unwrap();
    let doc = DocumentId::random();
    loop {
        let Some(m) = client.sync().generate_sync_message(&mut cs) else { panic!("no message carried the changes") };
        if !m.changes.is_empty() {
            let frame = linli_shared::encode(&Message::Sync {
                sender_id: sender.clone(),
                target_id: target.clone(),
                document_id: doc,
                data: m.encode(),
            });
            return (server, ss, frame);
        }
        server.receive_sync_message(&mut ss, m).unwrap();
        if let Some(reply) = server.generate_sync_message(&mut ss) {
            client.sync().receive_sync_message(&mut cs, reply).unwrap();
        }
    }
}

fn apply(server: &mut Automerge, state: &mut sync::State, frame: &[u8], limits: &WireLimits) {
    let Message::Sync { data, .. } = linli_shared::decode(frame, limits).unwrap() else { panic!("not a sync frame") };
    let msg = sync::Message::decode(&data).unwrap();
    server.receive_sync_message(state, msg).unwrap();
}

fn bench(c: &mut Criterion) {
    let limits = WireLimits::default();
    let mut group = c.benchmark_group("sync");
    for k in [1usize, 20] {
        let (server, state, frame) = scenario(k);
        group.throughput(Throughput::Elements(k as u64));
        group.bench_function(format!("decode_apply_{k}_changes"), |b| {
            b.iter_batched(
                || (server.clone(), state.clone()),
                |(mut s, mut st)| {
                    apply(&mut s, &mut st, black_box(&frame), &limits);
                    (s, st)
                },
                BatchSize::SmallInput,
            )
        });
        group.bench_function(format!("decode_apply_reply_{k}_changes"), |b| {
            b.iter_batched(
                || (server.clone(), state.clone()),
                |(mut s, mut st)| {
                    apply(&mut s, &mut st, black_box(&frame), &limits);
                    let reply = s.generate_sync_message(&mut st).map(|m| m.encode());
                    (s, st, reply)
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
