//! The in-process limit: the storm's workload (C × D documents, K offline changes each)
//! with no network, no framing and no storage: what Automerge itself costs a server.
//!
//! For each document a client and a "server" Automerge document are first synced in
//! memory (the storm's setup). The client then makes its K changes offline, and the
//! client/server exchange after the reconnect is recorded (the client's sync messages).
//! Measured: replaying those client messages into fresh copies of the server documents,
//! each decoded and applied with `receive_sync_message`, and each server reply generated and
//! encoded with `generate_sync_message`: the Automerge work a sync server cannot avoid for
//! these changes. Server CPU only (the client's side is not counted, as in the network
//! runs). The `apply_changes` floor (the same changes handed over already decoded, no sync
//! protocol) is reported beside it for reference.

use crate::peer::PeerDoc;
use crate::procfs;
use crate::result::RunResult;
use crate::storm::offline_changes;
use automerge::sync::{self, SyncDoc};
use automerge::{ActorId, Automerge, Change, ChangeHash};
use std::hint::black_box;
use std::time::Instant;

/// Runs the sync protocol between `client` and `server` in memory until both are quiet;
/// returns the client's messages in order.
fn exchange(client: &mut PeerDoc, server: &mut Automerge, ss: &mut sync::State) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut sent = Vec::new();
    for _ in 0..100 {
        let to_server = client.doc.sync().generate_sync_message(&mut client.state).map(|m| m.encode());
        if let Some(bytes) = &to_server {
            sent.push(bytes.clone());
            server.receive_sync_message(ss, sync::Message::decode(bytes)?)?;
        }
        let to_client = server.generate_sync_message(ss).map(|m| m.encode());
        if let Some(bytes) = &to_client {
            client.receive(bytes)?;
        }
        if to_server.is_none() && to_client.is_none() {
            return Ok(sent);
        }
    }
    anyhow::bail!("in-memory sync did not settle")
}

struct Case {
    /// The server's copy after the setup sync.
    server: Automerge,
    /// The client's messages after the reconnect.
    messages: Vec<Vec<u8>>,
    /// The offline changes, decoded (for the `apply_changes` floor).
    changes: Vec<Change>,
}

pub fn run(clients: usize, docs: usize, changes: usize, repeats: usize) -> anyhow::Result<RunResult> {
    let mut r = RunResult::new("limit", "in-process");
    r.param("clients", clients);
    r.param("docs_per_client", docs);
    r.param("changes_per_doc", changes);
    r.param("repeats", repeats);
    let mut cases = Vec::with_capacity(clients * docs);
    for c in 0..clients {
        let actor = ActorId::random();
        let who = format!("client {c}");
        for _ in 0..docs {
            let mut client = PeerDoc::create(&actor, &who)?;
            let mut server = Automerge::new();
            exchange(&mut client, &mut server, &mut sync::State::new())?;
            let setup_heads: Vec<ChangeHash> = client.doc.get_heads();
            let prototype = server.clone();
            offline_changes(&mut client, changes, &who)?;
            client.reconnect();
            // After a reconnect the server starts with a fresh sync state for this peer.
            let messages = exchange(&mut client, &mut server, &mut sync::State::new())?;
            if server.get_heads() != client.doc.get_heads() {
                anyhow::bail!("in-memory sync did not converge");
            }
            let changes = client.doc.get_changes(&setup_heads);
            cases.push(Case { server: prototype, messages, changes });
        }
    }
    let total = (clients * docs * changes) as f64;

    let mut sync_cpu = Vec::new();
    let mut apply_cpu = Vec::new();
    let mut walls = Vec::new();
    for _ in 0..repeats {
        // Copies made outside the measurement.
        let mut servers: Vec<Automerge> = cases.iter().map(|c| c.server.clone()).collect();
        let wall = Instant::now();
        let t0 = procfs::thread_cpu_secs()?;
        for (server, case) in servers.iter_mut().zip(&cases) {
            let mut state = sync::State::new();
            for bytes in &case.messages {
                server.receive_sync_message(&mut state, sync::Message::decode(bytes)?)?;
                if let Some(reply) = server.generate_sync_message(&mut state) {
                    black_box(reply.encode());
                }
            }
        }
        sync_cpu.push(procfs::thread_cpu_secs()? - t0);
        walls.push(wall.elapsed().as_secs_f64());
        black_box(&servers);

        let mut servers: Vec<Automerge> = cases.iter().map(|c| c.server.clone()).collect();
        let batches: Vec<Vec<Change>> = cases.iter().map(|c| c.changes.clone()).collect();
        let t0 = procfs::thread_cpu_secs()?;
        for (server, changes) in servers.iter_mut().zip(batches) {
            server.apply_changes(changes)?;
        }
        apply_cpu.push(procfs::thread_cpu_secs()? - t0);
        black_box(&servers);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let cpu = median(&mut sync_cpu);
    r.server_cpu_secs = Some(cpu);
    r.wall_secs = Some(median(&mut walls));
    r.changes = Some(total as u64);
    r.cpu_per_1000_changes = Some(cpu / (total / 1000.0));
    r.apply_changes_cpu_per_1000 = Some(median(&mut apply_cpu) / (total / 1000.0));
    r.notes.push(format!(
        "median of {repeats} runs; CPU time of the measuring thread (/proc/thread-self/schedstat); wall {:.3} s",
        r.wall_secs.unwrap_or(0.0)
    ));
    Ok(r)
}
