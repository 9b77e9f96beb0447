//! The crash test of the durability contract (DESIGN §2): "a change is acknowledged when
//! the server's sync reply carries heads that include it; the server never sends such a
//! reply before the change is on disk".
//!
//! Several writers (phones of the two coordinators of grid g1) edit their own household
//! documents continuously: a member added, the room set, the notes rewritten, every few
//! ms. One writer per document, so each history is linear and the server's heads name
//! exactly the newest change it has.
//! Each writer remembers how far the server has acknowledged each of its documents. The
//! server is killed with SIGKILL at random moments while they write, and restarted on the
//! same data. Right after every restart, before any writer reconnects (a writer would
//! re-upload what the server lost and hide the loss), a fresh peer fetches every document
//! and every acknowledged change must be there. At the end the writers reconnect and
//! their full histories, acknowledged or not, must reach the server.
//!
//! Replay a failure with the seed it prints: `KILL9_SEED=<seed> cargo test -p
//! linli-tests --test kill9 -- --nocapture` (`KILL9_ROUNDS=<n>` for more kills).
//!
//! What a `kill -9` can and cannot show: the kernel keeps what the process has written,
//! so a kill loses only what was still in the server's own buffers. The test catches a
//! reply sent before the change was written out; a reply sent after `write` but before
//! `fsync` would only show on power loss.

use anyhow::{bail, ensure, Context};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ChangeHash, ObjType, ReadDoc, ROOT};
use linli_shared::DocumentId;
use linli_tests::domain::{household, write};
use linli_tests::server::{ALICE, CAROL};
use linli_tests::{Community, TestPeer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WRITERS: usize = 4;
const DOCS_PER_WRITER: usize = 3;
/// Kills per run; `KILL9_ROUNDS` overrides (e.g. 50 for a soak run).
const ROUNDS: usize = 8;
const T: Duration = Duration::from_secs(20);
/// Size range (characters) of the notes written with every change; the schema allows
/// 2000.
const NOTE_CHARS: std::ops::Range<usize> = 50..500;
/// Members kept in a household (the schema allows 200): the oldest goes when one is added.
const MEMBERS: usize = 40;

/// One document and everything its (single) writer knows about it.
#[derive(Debug)]
struct Tracked {
    id: DocumentId,
    /// Every change the writer made, oldest first: the document's whole (linear) history.
    history: Vec<ChangeHash>,
    /// Position of each change in `history`.
    position: HashMap<ChangeHash, usize>,
    /// `history[..acked]` has been acknowledged by the server.
    acked: usize,
    /// The name of the member added last.
    last_member: String,
}

#[derive(Debug)]
struct Writer {
    name: String,
    token: String,
    peer: TestPeer,
    docs: Vec<Tracked>,
    rng: StdRng,
    /// Round-robin position over `docs`.
    next: usize,
}

impl Writer {
    fn new(name: &str, token: String, seed: u64) -> anyhow::Result<Self> {
        let mut peer = TestPeer::new(name);
        let mut docs = Vec::new();
        for i in 0..DOCS_PER_WRITER {
            // The server takes only valid documents its writer may write: households of
            // grid g1, written by its coordinators.
            let id = peer.create();
            let doc = peer.doc(&id);
            write(doc, household("g1", &format!("{name}-{i}")));
            let first = *doc.get_heads().first().context("first change")?;
            docs.push(Tracked {
                id,
                history: vec![first],
                position: HashMap::from([(first, 0)]),
                acked: 0,
                last_member: String::new(),
            });
        }
        Ok(Writer { name: name.to_owned(), token, peer, docs, rng: StdRng::seed_from_u64(seed), next: 0 })
    }

    /// One change to the next document: add a member (dropping the oldest beyond
    /// [`MEMBERS`]), set the room, rewrite the notes.
    fn write_one(&mut self) -> anyhow::Result<()> {
        let i = self.next % self.docs.len();
        self.next += 1;
        let t = &mut self.docs[i];
        let seq = t.history.len();
        let doc: &mut AutoCommit = self.peer.doc(&t.id);
        let (_, members) = doc.get(ROOT, "members")?.context("members")?;
        let len = doc.length(&members);
        let m = doc.insert_object(&members, len, ObjType::Map)?;
        let name = format!("m{seq}");
        doc.put(&m, "name", name.as_str())?;
        doc.put(&m, "age", (seq % 100) as i64)?;
        doc.put_object(&m, "flags", ObjType::List)?;
        doc.put_object(&m, "medicines", ObjType::List)?;
        if len >= MEMBERS {
            doc.delete(&members, 0)?;
        }
        doc.put(ROOT, "room", format!("{seq}"))?;
        // A note of a few KB, as a volunteer's report might be: bigger writes keep the
        // store's flushes busy, so kills land while acknowledged bytes are in flight.
        let note_chars = self.rng.gen_range(NOTE_CHARS);
        doc.put(ROOT, "notes", "检".repeat(note_chars))?;
        let hash = doc.commit().context("a change was made")?;
        t.position.insert(hash, t.history.len());
        t.history.push(hash);
        t.last_member = name;
        Ok(())
    }

    /// Takes in the server heads the peer has seen: a change is acknowledged once the
    /// server's heads contain it or a later change of the same linear history. Returns how
    /// many changes became acknowledged.
    fn note_acks(&mut self) -> anyhow::Result<usize> {
        let before = self.acked_total();
        for t in &mut self.docs {
            let Some(heads) = self.peer.acked.get(&t.id) else { continue };
            for h in heads {
                let Some(&p) = t.position.get(h) else {
                    bail!("{}: server heads of {} name a change the writer never made: {h}", self.name, t.id);
                };
                t.acked = t.acked.max(p + 1);
            }
        }
        Ok(self.acked_total() - before)
    }

    fn acked_total(&self) -> usize {
        self.docs.iter().map(|t| t.acked).sum()
    }

    fn made_total(&self) -> usize {
        self.docs.iter().map(|t| t.history.len()).sum()
    }
}

/// What one writer saw in one round.
#[derive(Debug, Default)]
struct RoundLog {
    messages_sent: usize,
    /// Why the connection ended (expected: the kill).
    ended: Option<String>,
}

/// One writer's round: a few offline changes, connect, wait for `go` (every writer is
/// connected), then a change every few ms until `stop`, taking in acknowledgements as
/// they come. After `stop` (the server is dead by then) whatever the server sent before
/// it died is still read: those are real acks.
async fn run_writer(
    mut w: Writer,
    url: String,
    stop: Arc<AtomicBool>,
    ready: tokio::sync::mpsc::Sender<()>,
    mut go: tokio::sync::watch::Receiver<bool>,
    progress: Arc<AtomicUsize>,
) -> anyhow::Result<(Writer, RoundLog)> {
    let mut log = RoundLog::default();
    for _ in 0..w.rng.gen_range(0..=5) {
        w.write_one()?;
    }
    w.peer.connect(&url).await.with_context(|| format!("{} connecting", w.name))?;
    ready.send(()).await.ok();
    drop(ready);
    go.wait_for(|go| *go).await?;
    while !stop.load(Ordering::SeqCst) {
        w.write_one()?;
        if w.peer.is_connected() {
            match w.peer.push().await {
                Ok(n) => log.messages_sent += n,
                Err(e) => {
                    log.ended.get_or_insert(format!("push: {e}"));
                    w.peer.disconnect();
                }
            }
        }
        // Take in everything that has already arrived, without waiting.
        while w.peer.is_connected() {
            match w.peer.pump_one(Duration::ZERO).await {
                Ok(true) => {
                    progress.fetch_add(w.note_acks()?, Ordering::SeqCst);
                }
                Ok(false) => break,
                Err(e) => {
                    log.ended.get_or_insert(e.to_string());
                    w.peer.disconnect();
                }
            }
        }
        let pause = w.rng.gen_range(4..=10);
        tokio::time::sleep(Duration::from_millis(pause)).await;
    }
    // The server is dead: read what it sent before it died.
    while w.peer.is_connected() {
        match w.peer.pump_one(Duration::from_millis(200)).await {
            Ok(true) => {
                w.note_acks()?;
            }
            Ok(false) => {
                log.ended.get_or_insert("no EOF within 200 ms after the kill".to_owned());
                break;
            }
            Err(e) => {
                log.ended.get_or_insert(e.to_string());
            }
        }
    }
    w.peer.disconnect();
    Ok((w, log))
}

/// A fresh peer fetches every document from the server and checks that every
/// acknowledged change is there. Returns how many changes the server holds in total.
async fn check_acknowledged(c: &Community, writers: &[Writer], label: &str) -> anyhow::Result<usize> {
    let mut checker = TestPeer::new(&format!("checker-{label}"));
    checker.connect(&c.server.ws_url(&c.token(ALICE).await?)).await?;
    for w in writers {
        for t in &w.docs {
            checker.want(t.id);
        }
    }
    checker.sync_all(T).await.with_context(|| format!("{label}: fetching every document"))?;
    let mut held = 0;
    for w in writers {
        for t in &w.docs {
            if checker.docs[&t.id].unavailable {
                // Legitimate only if the server never acknowledged anything of it.
                ensure!(
                    t.acked == 0,
                    "{label}: DURABILITY VIOLATION: document {} of {} is unavailable, but {} of its changes \
                     were acknowledged",
                    t.id,
                    w.name,
                    t.acked
                );
                continue;
            }
            let doc = checker.doc(&t.id);
            let missing: Vec<usize> =
                (0..t.acked).filter(|&i| doc.get_change_by_hash(&t.history[i]).is_none()).collect();
            ensure!(
                missing.is_empty(),
                "{label}: DURABILITY VIOLATION: document {} of {} lost {} acknowledged change(s) \
                 (acknowledged {} of {} made; lost positions {:?}; server heads now {:?})",
                t.id,
                w.name,
                missing.len(),
                t.acked,
                t.history.len(),
                &missing[..missing.len().min(10)],
                doc.get_heads(),
            );
            // The server holds a prefix of the linear history: its heads name its length.
            let heads = doc.get_heads();
            ensure!(heads.len() == 1, "{label}: a single-writer document has heads {heads:?}");
            let p = *t.position.get(&heads[0]).context("server head is not a change of the writer")?;
            ensure!(doc.get_changes(&[]).len() == p + 1, "{label}: server history of {} is not a prefix", t.id);
            held += p + 1;
        }
    }
    checker.disconnect();
    Ok(held)
}

#[tokio::test]
async fn kill9_loses_no_acknowledged_change() -> anyhow::Result<()> {
    let started = Instant::now();
    let seed: u64 = match std::env::var("KILL9_SEED") {
        Ok(s) => s.parse().context("KILL9_SEED must be a u64")?,
        Err(_) => rand::random(),
    };
    let rounds: usize = match std::env::var("KILL9_ROUNDS") {
        Ok(s) => s.parse().context("KILL9_ROUNDS must be a number")?,
        Err(_) => ROUNDS,
    };
    println!("KILL9_SEED={seed} KILL9_ROUNDS={rounds}");
    let mut rng = StdRng::seed_from_u64(seed);

    // Compact often, so that kills also land during compactions (snapshot written and
    // covered chunks deleted in one batch).
    let mut c = Community::start(&["--compact-after-chunks", "8"]).await?;
    // Two coordinators of g1, so the writers' sockets are spread over two users.
    let tokens = [c.token(ALICE).await?, c.token(CAROL).await?];
    let mut writers: Vec<Writer> = (0..WRITERS)
        .map(|i| Writer::new(&format!("writer{i}"), tokens[i % 2].clone(), rng.gen()))
        .collect::<anyhow::Result<_>>()?;

    let mut per_round = Vec::new();
    for round in 0..rounds {
        let acked_before: usize = writers.iter().map(Writer::acked_total).sum();
        let made_before: usize = writers.iter().map(Writer::made_total).sum();
        let stop = Arc::new(AtomicBool::new(false));
        let progress = Arc::new(AtomicUsize::new(0));
        let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(WRITERS);
        let (go_tx, go_rx) = tokio::sync::watch::channel(false);
        let tasks: Vec<_> = writers
            .drain(..)
            .map(|w| {
                let url = c.server.ws_url(&w.token);
                tokio::spawn(run_writer(w, url, stop.clone(), ready_tx.clone(), go_rx.clone(), progress.clone()))
            })
            .collect();
        drop(ready_tx);
        // The writers start together once all are connected (phones coming back after an
        // outage), and the clock starts with them.
        for _ in 0..WRITERS {
            if !matches!(tokio::time::timeout(T, ready_rx.recv()).await, Ok(Some(()))) {
                stop.store(true, Ordering::SeqCst);
                go_tx.send_replace(true);
                let mut why = Vec::new();
                for t in tasks {
                    if let Err(e) = t.await? {
                        why.push(format!("{e:#}"));
                    }
                }
                let log = c.server.log();
                let tail: Vec<&str> = log.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect();
                bail!(
                    "round {round}: the writers did not all connect within {T:?}: {why:?}\nserver log:\n{}",
                    tail.join("\n")
                );
            }
        }
        go_tx.send_replace(true);
        let delay = rng.gen_range(100..=800);
        tokio::time::sleep(Duration::from_millis(delay)).await;
        // On a loaded machine the first acknowledgement of a round can come late: then
        // kill right after it, so that every round tests acknowledged writes.
        let waiting = Instant::now();
        while progress.load(Ordering::SeqCst) == 0 && waiting.elapsed() < T {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let late = waiting.elapsed().as_millis();
        c.server.kill9().await?;
        stop.store(true, Ordering::SeqCst);
        let mut logs = Vec::new();
        for t in tasks {
            let (w, log) = t.await??;
            writers.push(w);
            logs.push(log);
        }
        for (w, log) in writers.iter().zip(&logs) {
            // Every change is valid: a `rejected` message means the test is broken, or the rules.
            if let Some((doc, _, data)) = w.peer.ephemeral.first() {
                bail!(
                    "round {round}: the server rejected changes of {} to {doc}: {}",
                    w.name,
                    String::from_utf8_lossy(data)
                );
            }
            let ended = log.ended.as_deref().unwrap_or("still connected");
            // A kill shows as a dead socket; a close or `error` from the server means it
            // dropped the writer for some other reason, which this test must not hide.
            ensure!(
                !ended.starts_with("server closed") && !ended.starts_with("server error"),
                "round {round}: the server dropped {} before the kill: {ended}\n{}",
                w.name,
                c.server.log()
            );
        }
        let acked_after: usize = writers.iter().map(Writer::acked_total).sum();
        let made_after: usize = writers.iter().map(Writer::made_total).sum();
        let sent: usize = logs.iter().map(|l| l.messages_sent).sum();
        let acked = acked_after - acked_before;
        let mut ends: Vec<&str> = logs.iter().map(|l| l.ended.as_deref().unwrap_or("still connected")).collect();
        ends.dedup();

        c.server.restart().await?;
        let held = check_acknowledged(&c, &writers, &format!("round{round}")).await?;
        println!(
            "round {round}: kill after {delay:>3}+{late} ms; {:>4} changes made, {sent:>4} sync messages sent, \
             {acked:>4} newly acknowledged (total acknowledged {acked_after}/{made_after}); \
             after restart the server holds {held} (every acknowledged one); writers saw {ends:?}",
            made_after - made_before,
        );
        ensure!(acked > 0, "round {round}: no change was acknowledged in {delay} ms; the test wrote nothing");
        per_round.push(acked);
    }

    // Everything the writers have, acknowledged or not, must now reach the server.
    for w in &mut writers {
        let url = c.server.ws_url(&w.token);
        w.peer.connect(&url).await?;
    }
    for w in &mut writers {
        w.peer.sync_all(T).await.with_context(|| format!("final sync of {}", w.name))?;
        w.note_acks()?;
        for t in &w.docs {
            let ours = w.peer.heads(&t.id);
            ensure!(w.peer.acked.get(&t.id) == Some(&ours), "{}: server heads differ after the final sync", w.name);
            ensure!(t.acked == t.history.len(), "{}: not every change acknowledged after the final sync", w.name);
        }
    }
    // And survive one more crash: a fresh peer sees exactly the writers' documents.
    c.server.restart().await?;
    let held = check_acknowledged(&c, &writers, "final").await?;
    let made: usize = writers.iter().map(Writer::made_total).sum();
    ensure!(held == made, "after the final sync and a restart the server holds {held} of {made} changes");
    let mut fresh = TestPeer::new("fresh");
    fresh.connect(&c.server.ws_url(&tokens[1])).await?;
    for w in &writers {
        for t in &w.docs {
            fresh.want(t.id);
        }
    }
    fresh.sync_all(T).await?;
    for w in &mut writers {
        for t in &w.docs {
            let theirs = fresh.doc(&t.id);
            let ours = w.peer.doc(&t.id);
            ensure!(theirs.get_heads() == ours.get_heads(), "fresh peer: heads of {} differ", t.id);
            ensure!(
                theirs.hydrate(ROOT, None)? == ours.hydrate(ROOT, None)?,
                "fresh peer: content of {} differs",
                t.id
            );
            let (_, members) = theirs.get(ROOT, "members")?.context("members")?;
            let last = theirs.length(&members).checked_sub(1).context("no members")?;
            let (_, member) = theirs.get(&members, last)?.context("member")?;
            let (name, _) = theirs.get(&member, "name")?.context("name")?;
            ensure!(name.as_str() == Some(t.last_member.as_str()), "last member of {} is {name:?}", t.id);
        }
    }

    let total: usize = per_round.iter().sum();
    println!(
        "kill9: {rounds} kills, {total} changes acknowledged before a kill (per round {per_round:?}), \
         {made} changes made in all, all on the server; seed {seed}; {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
