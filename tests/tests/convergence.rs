//! The convergence property: whatever happens on the way (edits on any peer, also
//! offline; peers leaving and coming back; `kill -9` of the server; links that reorder,
//! duplicate and drop messages), once every peer reconnects on a reliable link and syncs
//! until quiet, every peer holds the same document (same heads, same content), no edit is
//! lost, and a fresh peer fetching from the (restarted) server gets exactly that too.
//!
//! A generated scenario: 3–6 peers (phones of the two coordinators of grid g1), 1–4
//! household documents, each created by one peer and wanted by some others from the
//! start, 60–200 steps (edits, also offline: fields, typing into the notes, members and
//! their medicines; exchanges through each peer's [`FaultyLink`]; going offline and
//! back; `want`; `kill -9` + restart), and server flags that force compaction and
//! evictions. The edits stay inside the schema however they merge (see the budgets), so
//! the server's rules never refuse one; a refusal fails the case.
//!
//! Two properties: `peers_and_server_converge_through_crashes_and_a_faulty_link`
//! (every peer reconnects before healing) and `lossless_links_converge_without_reconnecting`
//! (links that only reorder and duplicate; online peers heal on their old connection).
//!
//! Cases default to 8: `PROPTEST_CASES=64 cargo test -p linli-tests --test convergence --
//! --nocapture` runs more. Shrinking is bounded (`PROPTEST_MAX_SHRINK_ITERS`, default 24)
//! because every case starts a real server.

use anyhow::{bail, ensure, Context};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ChangeHash, ObjId, ObjType, ReadDoc, ROOT};
use linli_shared::DocumentId;
use linli_tests::domain::{household, write};
use linli_tests::faulty::{Faults, FaultyLink, LinkStats};
use linli_tests::server::{ALICE, CAROL};
use linli_tests::{Community, TestPeer};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{FileFailurePersistence, TestCaseError};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);
/// How long a peer keeps reading after it sent something, before the scenario moves on
/// (anything later stays in the socket for its next exchange).
const QUIET: Duration = Duration::from_millis(15);
/// The short text fields of a household: registers every peer fights over.
const FIELDS: [&str; 4] = ["building", "unit", "room", "phone"];
/// Budgets per document, over all peers, that keep every merge inside the schema (lists
/// of at most 200, notes of at most 2000 characters) however the edits interleave.
const MAX_MEMBER_INSERTS: usize = 120;
const MAX_MEDICINE_INSERTS: usize = 120;
const MAX_NOTE_CHARS: usize = 1_500;
/// Reconnects a peer may make while healing after its connection failed (as the JS
/// client does when the server drops it); each is reported. None is expected on the
/// fresh connections of the healing phase (none in 900 local cases), but the bound keeps
/// a failure readable. `lossless_links_converge_without_reconnecting` allows none.
const HEAL_RETRIES: usize = 3;

/// The edits, on household documents (the server takes only valid Linli documents;
/// households are written by the grid's coordinators).
#[derive(Debug, Clone)]
enum Op {
    /// Overwrite one of [`FIELDS`].
    Field {
        which: usize,
        value: u16,
    },
    /// Type into the notes (a text object) at a random position.
    Note {
        at: Index,
        text: String,
    },
    /// Insert a member into the shared list at a random position.
    AddMember {
        at: Index,
        age: u32,
    },
    RemoveMember {
        at: Index,
    },
    SetAge {
        at: Index,
        age: u32,
    },
    /// Append a medicine to a member's list.
    AddMedicine {
        at: Index,
        which: u8,
    },
}

#[derive(Debug, Clone)]
enum Step {
    /// One change per op by `peer` to one of the documents it has received (skipped if it
    /// has none yet), online or not.
    Edit {
        peer: Index,
        doc: Index,
        ops: Vec<Op>,
    },
    /// The peer queues what it has to say; if `flush`, its link sends the queue (shuffled,
    /// duplicated, dropped); then it reads what comes back for a moment.
    Exchange {
        peer: Index,
        flush: bool,
    },
    Offline {
        peer: Index,
    },
    /// Reconnect: a fresh connection and fresh sync states (shared heads kept).
    Online {
        peer: Index,
    },
    /// The peer starts tracking a document (like `repo.find`).
    Want {
        peer: Index,
        doc: Index,
    },
    /// `kill -9` the server and start it again on the same data; online peers reconnect.
    Restart,
}

#[derive(Debug, Clone)]
struct Scenario {
    peers: usize,
    /// The creator of each document (an index into the peers).
    creators: Vec<Index>,
    /// `wants[p][d]`: peer `p` tracks document `d` from the start.
    wants: Vec<Vec<bool>>,
    /// The link of each peer.
    faults: Vec<Faults>,
    link_seed: u64,
    /// Server flags: `--max-docs-in-memory` and `--doc-idle-secs` (small values evict
    /// documents while peers stay subscribed) and `--compact-after-chunks`.
    max_docs_in_memory: Option<usize>,
    compact_after_chunks: usize,
    doc_idle_secs: Option<u64>,
    steps: Vec<Step>,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (0..FIELDS.len(), any::<u16>()).prop_map(|(which, value)| Op::Field { which, value }),
        3 => (any::<Index>(), "[a-z ]{1,5}").prop_map(|(at, text)| Op::Note { at, text }),
        3 => (any::<Index>(), 0u32..=150).prop_map(|(at, age)| Op::AddMember { at, age }),
        1 => any::<Index>().prop_map(|at| Op::RemoveMember { at }),
        2 => (any::<Index>(), 0u32..=150).prop_map(|(at, age)| Op::SetAge { at, age }),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(at, which)| Op::AddMedicine { at, which }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        14 => (any::<Index>(), any::<Index>(), prop::collection::vec(op(), 1..=3))
            .prop_map(|(peer, doc, ops)| Step::Edit { peer, doc, ops }),
        16 => (any::<Index>(), prop::bool::weighted(0.5)).prop_map(|(peer, flush)| Step::Exchange { peer, flush }),
        2 => any::<Index>().prop_map(|peer| Step::Offline { peer }),
        3 => any::<Index>().prop_map(|peer| Step::Online { peer }),
        1 => (any::<Index>(), any::<Index>()).prop_map(|(peer, doc)| Step::Want { peer, doc }),
        1 => Just(Step::Restart),
    ]
}

/// Links that reorder and duplicate but never lose a message.
fn lossless_faults() -> impl Strategy<Value = Faults> {
    let p = |max: u8| (0..=max).prop_map(|x| f64::from(x) / 10.0);
    (p(3), p(3)).prop_map(|(dup_out, dup_in)| Faults { drop_out: 0.0, dup_out, reorder: true, drop_in: 0.0, dup_in })
}

fn faults() -> impl Strategy<Value = Faults> {
    let p = |max: u8| (0..=max).prop_map(|x| f64::from(x) / 10.0);
    prop_oneof![
        // Some peers have a good link, so sync also makes progress during the steps.
        1 => Just(Faults::NONE),
        3 => (p(3), p(3), any::<bool>(), p(2), p(3)).prop_map(|(drop_out, dup_out, reorder, drop_in, dup_in)| {
            Faults { drop_out, dup_out, reorder, drop_in, dup_in }
        }),
    ]
}

/// `lossless`: every link reorders and duplicates but drops nothing.
fn scenario(lossless: bool) -> impl Strategy<Value = Scenario> {
    (3usize..=6, 1usize..=4)
        .prop_flat_map(move |(peers, docs)| {
            (
                Just(peers),
                prop::collection::vec(any::<Index>(), docs),
                prop::collection::vec(prop::collection::vec(any::<bool>(), docs), peers),
                prop::collection::vec(if lossless { lossless_faults().boxed() } else { faults().boxed() }, peers),
                any::<u64>(),
                prop_oneof![2 => Just(None), 1 => (1usize..=2).prop_map(Some)],
                prop_oneof![Just(2usize), Just(4), Just(64)],
                prop_oneof![2 => Just(None), 1 => Just(Some(1u64))],
                prop::collection::vec(step(), 60..200),
            )
        })
        .prop_map(
            |(
                peers,
                creators,
                wants,
                faults,
                link_seed,
                max_docs_in_memory,
                compact_after_chunks,
                doc_idle_secs,
                steps,
            )| {
                Scenario {
                    peers,
                    creators,
                    wants,
                    faults,
                    link_seed,
                    max_docs_in_memory,
                    compact_after_chunks,
                    doc_idle_secs,
                    steps,
                }
            },
        )
}

/// What was done to a document, over all peers. Every character typed into the notes
/// must survive whatever the interleaving (nothing deletes text).
#[derive(Debug, Clone, Default)]
struct Expected {
    note_chars: usize,
    member_inserts: usize,
    medicine_inserts: usize,
}

#[derive(Debug, Default)]
struct Counts {
    edits: usize,
    skipped_edits: usize,
    exchanges: usize,
    restarts: usize,
    reconnects: usize,
    heal_rounds: usize,
    /// Why a peer had to reconnect during healing (see `heal_retries`).
    heal_errors: Vec<String>,
}

fn obj(doc: &AutoCommit, key: &str) -> anyhow::Result<Option<ObjId>> {
    Ok(doc.get(ROOT, key)?.map(|(_, id)| id))
}

/// Whether the document has the creator's first change (its structure).
fn has_structure(doc: &AutoCommit) -> anyhow::Result<bool> {
    Ok(obj(doc, "members")?.is_some() && obj(doc, "notes")?.is_some())
}

/// The member at `at`, if there is any.
fn member(doc: &AutoCommit, members: &ObjId, at: &Index) -> anyhow::Result<Option<ObjId>> {
    let len = doc.length(members);
    if len == 0 {
        return Ok(None);
    }
    Ok(doc.get(members, at.index(len))?.map(|(_, id)| id))
}

/// Applies `op` as one change to a document that has its structure. An op that would
/// break a budget, or has nothing to work on, is skipped.
fn apply(doc: &mut AutoCommit, op: &Op, expected: &mut Expected) -> anyhow::Result<()> {
    let members = obj(doc, "members")?.context("members")?;
    let notes = obj(doc, "notes")?.context("notes is a text object")?;
    match op {
        Op::Field { which, value } => doc.put(ROOT, FIELDS[*which], value.to_string())?,
        Op::Note { at, text } => {
            if expected.note_chars + text.len() <= MAX_NOTE_CHARS {
                let len = doc.length(&notes);
                doc.splice_text(&notes, at.index(len + 1), 0, text)?;
                expected.note_chars += text.len();
            }
        }
        Op::AddMember { at, age } => {
            if expected.member_inserts < MAX_MEMBER_INSERTS {
                let len = doc.length(&members);
                let m = doc.insert_object(&members, at.index(len + 1), ObjType::Map)?;
                doc.put(&m, "name", format!("居民{}", expected.member_inserts))?;
                doc.put(&m, "age", i64::from(*age))?;
                doc.put_object(&m, "flags", ObjType::List)?;
                doc.put_object(&m, "medicines", ObjType::List)?;
                expected.member_inserts += 1;
            }
        }
        Op::RemoveMember { at } => {
            let len = doc.length(&members);
            if len > 0 {
                doc.delete(&members, at.index(len))?;
            }
        }
        Op::SetAge { at, age } => {
            if let Some(m) = member(doc, &members, at)? {
                doc.put(&m, "age", i64::from(*age))?;
            }
        }
        Op::AddMedicine { at, which } => {
            if expected.medicine_inserts < MAX_MEDICINE_INSERTS {
                if let Some(m) = member(doc, &members, at)? {
                    if let Some((_, meds)) = doc.get(&m, "medicines")? {
                        let len = doc.length(&meds);
                        doc.insert(&meds, len, format!("药{which}"))?;
                        expected.medicine_inserts += 1;
                    }
                }
            }
        }
    }
    doc.commit();
    Ok(())
}

fn sorted(mut h: Vec<ChangeHash>) -> Vec<ChangeHash> {
    h.sort();
    h
}

/// Where each document's sync stands on one peer, for failure messages.
fn sync_report(peer: &mut TestPeer, docs: &[DocumentId]) -> String {
    let mut out = String::new();
    for (d, id) in docs.iter().enumerate() {
        let acked = peer.acked.get(id).cloned();
        let Some(pd) = peer.docs.get_mut(id) else { continue };
        let ours = pd.doc.get_heads();
        let missing = pd.doc.get_missing_deps(&[]);
        let st = &pd.state;
        out += &format!(
            "doc{d}: heads {ours:?}, server heads {acked:?}, their_heads {:?}, their_need {:?}, \
             in_flight {}, sent_hashes {}, missing deps {missing:?}, unavailable {}\n",
            st.their_heads,
            st.their_need,
            st.in_flight,
            st.sent_hashes.len(),
            pd.unavailable
        );
    }
    out
}

/// Warnings and errors from the server's log, for failure messages.
fn server_trouble(c: &Community) -> String {
    let log = c.server.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains("WARN") || l.contains("ERROR")).collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Runs one scenario. With `keep_connections`, a peer that is online at the end keeps its
/// connection and sync state for the healing phase (sound only if its link lost nothing:
/// a lost message can leave a sync state waiting for good). `heal_retries`: how often a
/// peer whose connection fails while healing may reconnect and go on (0: never).
async fn run(s: &Scenario, keep_connections: bool, heal_retries: usize) -> anyhow::Result<String> {
    let started = Instant::now();
    let mut flags = vec!["--compact-after-chunks".to_owned(), s.compact_after_chunks.to_string()];
    if let Some(n) = s.max_docs_in_memory {
        flags.extend(["--max-docs-in-memory".to_owned(), n.to_string()]);
    }
    if let Some(secs) = s.doc_idle_secs {
        flags.extend(["--doc-idle-secs".to_owned(), secs.to_string()]);
    }
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut c = Community::start(&flags).await?;
    // Two coordinators of g1: both may write every household of the grid.
    let tokens = [c.token(ALICE).await?, c.token(CAROL).await?];
    let n = s.peers;
    let mut peers: Vec<TestPeer> = (0..n).map(|i| TestPeer::new(&format!("p{i}"))).collect();
    let mut links: Vec<FaultyLink> =
        (0..n).map(|i| FaultyLink::new(s.link_seed.wrapping_add(i as u64), s.faults[i])).collect();
    let mut online = vec![false; n];
    let mut counts = Counts::default();

    let mut docs: Vec<DocumentId> = Vec::new();
    let mut expected = vec![Expected::default(); s.creators.len()];
    for creator in &s.creators {
        let p = &mut peers[creator.index(n)];
        let id = p.create();
        write(p.doc(&id), household("g1", &format!("{}", docs.len() + 1)));
        docs.push(id);
    }
    for (p, wants) in s.wants.iter().enumerate() {
        for (d, &w) in wants.iter().enumerate() {
            if w {
                peers[p].want(docs[d]);
            }
        }
    }
    for (p, peer) in peers.iter_mut().enumerate() {
        peer.connect(&c.server.ws_url(&tokens[p % 2])).await?;
        online[p] = true;
    }

    for (i, step) in s.steps.iter().enumerate() {
        let at = || format!("step {i} ({step:?})");
        match step {
            Step::Edit { peer, doc, ops } => {
                let p = peer.index(n);
                let mut have = Vec::new();
                for (d, id) in docs.iter().enumerate() {
                    if let Some(pd) = peers[p].docs.get(id) {
                        if has_structure(&pd.doc)? {
                            have.push(d);
                        }
                    }
                }
                if have.is_empty() {
                    counts.skipped_edits += 1;
                    continue;
                }
                let d = have[doc.index(have.len())];
                let pd = peers[p].docs.get_mut(&docs[d]).context("tracked")?;
                for op in ops {
                    apply(&mut pd.doc, op, &mut expected[d]).with_context(at)?;
                    counts.edits += 1;
                }
            }
            Step::Exchange { peer, flush } => {
                let p = peer.index(n);
                if !online[p] {
                    continue;
                }
                counts.exchanges += 1;
                links[p].enqueue(&mut peers[p]);
                if *flush {
                    links[p].flush(&mut peers[p]).await;
                }
                if let Err(e) = links[p].pump(&mut peers[p], QUIET, 1_000).await {
                    bail!("{}: peer p{p} lost its connection: {e:#}\n{}", at(), server_trouble(&c));
                }
            }
            Step::Offline { peer } => {
                let p = peer.index(n);
                if online[p] {
                    links[p].clear();
                    peers[p].disconnect();
                    online[p] = false;
                }
            }
            Step::Online { peer } => {
                let p = peer.index(n);
                if !online[p] {
                    links[p].clear();
                    peers[p].connect(&c.server.ws_url(&tokens[p % 2])).await.with_context(at)?;
                    online[p] = true;
                    counts.reconnects += 1;
                }
            }
            Step::Want { peer, doc } => {
                let (p, d) = (peer.index(n), doc.index(docs.len()));
                peers[p].want(docs[d]);
            }
            Step::Restart => {
                counts.restarts += 1;
                c.server.restart().await.with_context(at)?;
                // Like the JS client: a peer that was online reconnects as soon as it can.
                for p in 0..n {
                    if online[p] {
                        links[p].clear();
                        peers[p].disconnect();
                        peers[p].connect(&c.server.ws_url(&tokens[p % 2])).await.with_context(at)?;
                        counts.reconnects += 1;
                    }
                }
            }
        }
    }

    // Healing: every peer tracks every document, reconnects on a reliable link, and syncs
    // until nothing changes. The server pushes each new change to every connected peer,
    // so a few rounds of `sync_all` over all peers must converge, without reconnecting.
    // With `keep_connections`, online peers first send what their link still holds
    // (shuffled and duplicated, as before) and carry on with the same sync states.
    let mut stats = LinkStats::default();
    for (p, peer) in peers.iter_mut().enumerate() {
        for &id in &docs {
            peer.want(id);
        }
        if keep_connections && online[p] {
            links[p].flush(peer).await;
        } else {
            links[p].clear();
            peer.disconnect();
            peer.connect(&c.server.ws_url(&tokens[p % 2])).await?;
        }
        stats += links[p].stats;
    }
    // Every edit is valid whatever the interleaving: a `rejected` message means a merge
    // broke the schema (the budgets are wrong) or the server's rules misjudged one.
    for (p, peer) in peers.iter().enumerate() {
        if let Some((doc, _, data)) = peer.ephemeral.first() {
            bail!("the server rejected changes of p{p} to {doc}: {}", String::from_utf8_lossy(data));
        }
    }
    let mut converged = false;
    let mut retries = vec![0; n];
    for round in 1..=6 {
        counts.heal_rounds = round;
        for (p, peer) in peers.iter_mut().enumerate() {
            if let Err(e) = peer.sync_all(T).await {
                if retries[p] < heal_retries {
                    // Like the JS client after the server dropped it: reconnect, go on.
                    retries[p] += 1;
                    counts.heal_errors.push(format!("p{p}: {e:#}"));
                    peer.disconnect();
                    peer.connect(&c.server.ws_url(&tokens[p % 2])).await?;
                    continue;
                }
                let rejected: Vec<String> =
                    peer.ephemeral.iter().map(|(_, _, data)| String::from_utf8_lossy(data).into_owned()).collect();
                bail!(
                    "healing round {round}: p{p}: {e:#}\n{}rejected: {rejected:?}\n{}",
                    sync_report(peer, &docs),
                    server_trouble(&c)
                );
            }
        }
        converged = docs.iter().all(|id| {
            let first = sorted(peers[0].heads(id));
            !first.is_empty()
                && peers.iter_mut().all(|peer| {
                    sorted(peer.heads(id)) == first && peer.acked.get(id).cloned().map(sorted) == Some(first.clone())
                })
        });
        if converged {
            break;
        }
    }
    if !converged {
        let mut report = String::new();
        for (d, id) in docs.iter().enumerate() {
            for (p, peer) in peers.iter_mut().enumerate() {
                report += &format!(
                    "doc{d} p{p}: heads {:?} server {:?} unavailable {}\n",
                    peer.heads(id),
                    peer.acked.get(id),
                    peer.docs[id].unavailable
                );
            }
        }
        bail!("peers did not converge after 6 rounds of sync on a reliable link:\n{report}{}", server_trouble(&c));
    }

    // Same content everywhere, and nothing that was made is missing.
    for (d, id) in docs.iter().enumerate() {
        let want = peers[0].doc(id).hydrate(ROOT, None)?;
        for (p, peer) in peers.iter_mut().enumerate() {
            ensure!(peer.doc(id).hydrate(ROOT, None)? == want, "doc{d}: content of p{p} differs from p0");
        }
        let doc = peers[0].doc(id);
        let notes = obj(doc, "notes")?.context("notes")?;
        ensure!(
            doc.length(&notes) == expected[d].note_chars,
            "doc{d}: the notes hold {} characters, {} were typed",
            doc.length(&notes),
            expected[d].note_chars
        );
    }

    // The server has all of it on disk: after one more crash a fresh peer gets the same.
    c.server.restart().await?;
    let mut fresh = TestPeer::new("fresh");
    fresh.connect(&c.server.ws_url(&tokens[0])).await?;
    for &id in &docs {
        fresh.want(id);
    }
    fresh.sync_all(T).await.context("fresh peer")?;
    for (d, id) in docs.iter().enumerate() {
        ensure!(!fresh.docs[id].unavailable, "doc{d}: unavailable to a fresh peer after the restart");
        ensure!(
            sorted(fresh.heads(id)) == sorted(peers[0].heads(id)),
            "doc{d}: a fresh peer gets heads {:?}, the peers have {:?}",
            fresh.heads(id),
            peers[0].heads(id)
        );
        ensure!(
            fresh.doc(id).hydrate(ROOT, None)? == peers[0].doc(id).hydrate(ROOT, None)?,
            "doc{d}: a fresh peer gets other content"
        );
    }

    let changes: usize = docs.iter().map(|id| peers[0].doc(id).get_changes(&[]).len()).sum();
    Ok(format!(
        "{n} peers, {} docs, {} steps: {} edits ({} skipped), {} exchanges, {} restarts, {} reconnects, \
         {changes} changes; link: {} queued, {} sent, {} dropped out, {} duplicated out, {} reordered flushes, \
         {} lost with a connection, {} received, {} dropped in, {} duplicated in; healed in {} round(s) \
         with {} reconnect(s) after errors {:?}; flags {flags:?}; {:.1} s",
        docs.len(),
        s.steps.len(),
        counts.edits,
        counts.skipped_edits,
        counts.exchanges,
        counts.restarts,
        counts.reconnects,
        stats.queued,
        stats.sent,
        stats.dropped_out,
        stats.duplicated_out,
        stats.reordered_flushes,
        stats.lost_with_connection,
        stats.received,
        stats.dropped_in,
        stats.duplicated_in,
        counts.heal_rounds,
        counts.heal_errors.len(),
        counts.heal_errors,
        started.elapsed().as_secs_f64()
    ))
}

fn env_or(name: &str, default: u32) -> u32 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: env_or("PROPTEST_CASES", 8),
        max_shrink_iters: env_or("PROPTEST_MAX_SHRINK_ITERS", 24),
        // Failing inputs are kept in tests/tests/convergence.proptest-regressions.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn peers_and_server_converge_through_crashes_and_a_faulty_link(s in scenario(false)) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        match rt.block_on(run(&s, false, HEAL_RETRIES)) {
            Ok(summary) => println!("convergence: {summary}"),
            Err(e) => return Err(TestCaseError::fail(format!("{e:#}"))),
        }
    }

    /// Without lost messages no reconnect is needed: a change that arrives before its
    /// dependency is queued by the server until the dependency comes (see
    /// `orphan_changes.rs` for the deterministic reproductions).
    #[test]
    fn lossless_links_converge_without_reconnecting(s in scenario(true)) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        match rt.block_on(run(&s, true, 0)) {
            Ok(summary) => println!("lossless convergence: {summary}"),
            Err(e) => return Err(TestCaseError::fail(format!("{e:#}"))),
        }
    }
}
