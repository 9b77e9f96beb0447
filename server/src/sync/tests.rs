//! Scenario tests of the hub and document actors, in process, on the in-memory store:
//! batching, the durability ordering, eviction with parked subscriptions, and a store
//! that fails. The scenarios in which documents leave memory and come back from the
//! store run on PostgreSQL too.
#![allow(clippy::unwrap_used)]

use super::conn::ConnHandle;
use super::doc_actor::DocCommand;
use super::hub::{Hub, HubSettings};
use crate::metrics::Metrics;
use crate::store::{DocStore, Engine, Faults, MemoryEngine, SharedEngine};
use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ChangeHash, ROOT};
use linli_shared::{DocumentId, Message, PeerId};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The in-memory engine, with faults that can be switched on (a full disk, held flushes).
fn hub(settings: HubSettings) -> (Arc<Hub>, Arc<MemoryEngine>, Faults) {
    hub_with_gate(settings, Arc::new(super::OpenGate))
}

fn hub_with_gate(settings: HubSettings, gate: Arc<dyn super::Gate>) -> (Arc<Hub>, Arc<MemoryEngine>, Faults) {
    let faults = Faults::default();
    let engine = Arc::new(MemoryEngine::with_faults(faults.clone()));
    let hub = Hub::new(engine.clone(), settings, Arc::new(Metrics::new()), PeerId::new("server").unwrap(), gate);
    (hub, engine, faults)
}

/// A hub on `engine`, with the open gate.
fn hub_on(engine: SharedEngine, settings: HubSettings) -> Arc<Hub> {
    Hub::new(engine, settings, Arc::new(Metrics::new()), PeerId::new("server").unwrap(), Arc::new(super::OpenGate))
}

/// Settings under which a third open document evicts the first.
fn two_in_memory() -> HubSettings {
    HubSettings { max_docs_in_memory: 2, ..HubSettings::default() }
}

async fn chunks(engine: &MemoryEngine, doc: &DocumentId) -> usize {
    engine.load(doc).await.unwrap().chunks.len()
}

/// A simulated phone: its own document copy and sync state, and the connection's queue.
struct Phone {
    conn: ConnHandle,
    rx: mpsc::Receiver<Message>,
    doc: AutoCommit,
    state: sync::State,
}

impl Phone {
    fn new(hub: &Hub, name: &str) -> Self {
        let (tx, rx) = mpsc::channel(1024);
        let who = Arc::new(super::conn::UserCtx { id: name.into(), role: crate::auth::Role::Admin, grids: vec![] });
        let conn = ConnHandle::new(hub.next_conn_id(), PeerId::new(name).unwrap(), who, tx);
        hub.register(&conn, &super::TokenIds { token: "token".into(), session: "session".into() });
        Phone { conn, rx, doc: AutoCommit::new(), state: sync::State::new() }
    }

    fn sync_cmd(&mut self) -> Option<DocCommand> {
        let msg = self.doc.sync().generate_sync_message(&mut self.state)?;
        Some(DocCommand::Sync { conn: self.conn.clone(), data: msg.encode(), request: false })
    }

    /// Applies the next message from the server; returns its sync heads if it was a sync.
    async fn recv(&mut self) -> Message {
        tokio::time::timeout(Duration::from_secs(5), self.rx.recv()).await.expect("no message in 5 s").unwrap()
    }

    async fn recv_sync(&mut self) -> Vec<ChangeHash> {
        match self.recv().await {
            Message::Sync { data, .. } => {
                let msg = sync::Message::decode(&data).unwrap();
                let heads = msg.heads.clone();
                self.doc.sync().receive_sync_message(&mut self.state, msg).unwrap();
                heads
            }
            other => panic!("expected sync, got {other:?}"),
        }
    }

    /// Runs the sync protocol with the hub until the server has our heads.
    async fn sync_with(&mut self, hub: &Arc<Hub>, doc: DocumentId) {
        for _ in 0..20 {
            if let Some(cmd) = self.sync_cmd() {
                hub.dispatch(doc, cmd);
            }
            if self.state.their_heads.as_deref() == Some(&self.doc.get_heads()[..]) {
                return;
            }
            self.recv_sync().await;
        }
        panic!("did not converge");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn queued_changes_from_many_peers_are_stored_as_one_chunk() {
    let (hub, _engine, faults) = hub(HubSettings::default());
    let doc = DocumentId::random();
    let mut first = Phone::new(&hub, "first");
    first.doc.put(ROOT, "kind", "task").unwrap();
    first.sync_with(&hub, doc).await;

    // Ten phones in sync with the server, then each makes a change; all ten messages are
    // queued before the actor runs again.
    let mut phones: Vec<Phone> = (0..10).map(|i| Phone::new(&hub, &format!("p{i}"))).collect();
    for p in phones.iter_mut() {
        p.sync_with(&hub, doc).await;
    }
    let puts_before = faults.writes();
    for (i, p) in phones.iter_mut().enumerate() {
        p.doc.put(ROOT, format!("k{i}"), i as i64).unwrap();
        // Each phone knows what the server has, so its next message carries its change.
        p.state.in_flight = false;
        let cmd = p.sync_cmd().unwrap();
        hub.dispatch(doc, cmd);
    }
    for p in phones.iter_mut() {
        p.sync_with(&hub, doc).await;
    }
    // The changes queued together were applied together: far fewer writes (fsyncs) than
    // changes. (Usually exactly one; scheduling can split the queue.)
    let writes = faults.writes() - puts_before;
    assert!((1..=3).contains(&writes), "{writes} writes for 10 queued changes");
    assert_eq!(hub.metrics.changes_accepted.get(), 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_reply_acknowledges_a_change_before_it_is_stored() {
    let (hub, engine, faults) = hub(HubSettings::default());
    faults.hold();
    let doc = DocumentId::random();
    let mut phone = Phone::new(&hub, "phone");
    phone.doc.put(ROOT, "kind", "task").unwrap();
    let change = phone.doc.get_heads();
    let cmd = phone.sync_cmd().unwrap();
    hub.dispatch(doc, cmd);
    // The server asks for the change; the phone sends it.
    phone.recv_sync().await;
    let cmd = phone.sync_cmd().unwrap();
    hub.dispatch(doc, cmd);
    // The store is holding the write: nothing may come back yet.
    let early = tokio::time::timeout(Duration::from_millis(300), phone.rx.recv()).await;
    assert!(early.is_err(), "a reply was sent before the change was stored: {early:?}");
    faults.release();
    let heads = phone.recv_sync().await;
    assert_eq!(heads, change, "the reply acknowledges the change once stored");
    assert_eq!(chunks(&engine, &doc).await, 1);
}

/// A phone whose link delays its messages sends its change, then (having heard something
/// else from the server meanwhile) a message without changes whose heads include it. Both
/// land in one batch; after the first merges, the second's heads equal the server's, and
/// Automerge would take the phone as told. The phone must still get the acknowledgement.
#[tokio::test(flavor = "current_thread")]
async fn a_change_merged_earlier_in_the_same_batch_is_still_acknowledged() {
    let (hub, engine, _faults) = hub(HubSettings::default());
    let doc = DocumentId::random();
    let mut phone = Phone::new(&hub, "phone");
    phone.doc.put(ROOT, "kind", "task").unwrap();
    phone.sync_with(&hub, doc).await;

    phone.doc.put(ROOT, "status", "delivered").unwrap();
    let with_change = phone.sync_cmd().unwrap();
    // A message from the server arrived in between (its reply to something earlier).
    phone.state.in_flight = false;
    let heads_only = phone.sync_cmd().unwrap();
    // Both are queued before the actor runs again (single-threaded runtime): one batch.
    hub.dispatch(doc, with_change);
    hub.dispatch(doc, heads_only);
    let heads = phone.recv_sync().await;
    assert_eq!(heads, phone.doc.get_heads(), "the reply acknowledges the change");
    assert_eq!(chunks(&engine, &doc).await, 2);
}

/// Waits (bounded) for the phone's connection to be closed; returns every message it
/// received meanwhile.
async fn until_closed(phone: &mut Phone) -> Vec<Message> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !phone.conn.is_closed() || !phone.rx.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "the connection was not closed: {got:?}");
        match tokio::time::timeout(Duration::from_millis(20), phone.rx.recv()).await {
            Ok(Some(m)) => got.push(m),
            Ok(None) => break,
            Err(_) => {}
        }
    }
    got
}

/// A failed write (disk full) is never acknowledged: the sender and every other peer are
/// told the server cannot store changes and are disconnected, nothing in memory is served
/// afterwards, new connections are refused; once the disk works again sync resumes and
/// the same change is stored and acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_is_never_acknowledged_and_sync_resumes_with_the_store() {
    let settings = HubSettings { store_retry: Duration::from_millis(50), ..HubSettings::default() };
    let (hub, engine, faults) = hub(settings);
    hub.watch_store();
    let doc = DocumentId::random();
    // A bystander syncing the same document, acknowledged before the fault.
    let mut bystander = Phone::new(&hub, "bystander");
    bystander.doc.put(ROOT, "kind", "task").unwrap();
    bystander.sync_with(&hub, doc).await;
    let before = bystander.doc.get_heads();

    faults.fail_flushes(true);
    let mut phone = Phone::new(&hub, "phone");
    phone.doc.merge(&mut bystander.doc.clone()).unwrap();
    phone.doc.put(ROOT, "status", "delivered").unwrap();
    let mut received = Vec::new();
    for _ in 0..3 {
        if phone.conn.is_closed() {
            break;
        }
        if let Some(cmd) = phone.sync_cmd() {
            hub.dispatch(doc, cmd);
        }
        match tokio::time::timeout(Duration::from_secs(5), phone.rx.recv()).await.unwrap().unwrap() {
            Message::Sync { data, .. } => {
                let msg = sync::Message::decode(&data).unwrap();
                received.push(msg.heads.clone());
                phone.doc.sync().receive_sync_message(&mut phone.state, msg).unwrap();
            }
            Message::Error { message, .. } => {
                assert!(message.contains("cannot store"), "{message}");
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    until_closed(&mut phone).await;
    for heads in &received {
        assert!(heads.iter().all(|h| before.contains(h)), "heads {heads:?} acknowledge the unstored change");
    }
    assert_eq!(phone.conn.close_reason().unwrap().0, super::hub::STORE_DOWN);
    let told = until_closed(&mut bystander).await;
    assert!(told.iter().any(|m| matches!(m, Message::Error { .. })), "the bystander is told: {told:?}");
    assert!(hub.store_down().is_some());
    assert!(hub.may_connect("phone").is_err(), "no new connections while the store fails");
    assert_eq!(hub.metrics.store_up.get(), 0);
    assert!(hub.metrics.store_errors.get() >= 1);

    // The disk works again: the hub brings the store back and the phone's change arrives.
    faults.fail_flushes(false);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while hub.store_down().is_some() {
        assert!(tokio::time::Instant::now() < deadline, "sync did not resume");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(hub.metrics.store_up.get(), 1);
    let mut again = Phone::new(&hub, "phone-again");
    again.doc = phone.doc.clone();
    again.sync_with(&hub, doc).await;
    assert_eq!(again.state.their_heads.clone().unwrap(), again.doc.get_heads());
    let stored = engine.load(&doc).await.unwrap().to_automerge().unwrap();
    assert_eq!(stored.get_heads(), again.doc.get_heads(), "stored once the disk is back");
}

/// A gate that looks something up in a failing store decides nothing: the change is
/// neither merged nor refused (a refusal makes the phone drop its work).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_failure_at_the_gate_is_not_a_refusal() {
    #[derive(Debug)]
    struct BindingGate(std::sync::OnceLock<Arc<MemoryEngine>>);
    #[async_trait::async_trait]
    impl super::Gate for BindingGate {
        async fn may_read(
            &self,
            _: &ConnHandle,
            _: DocumentId,
            _: &automerge::Automerge,
        ) -> Result<bool, crate::store::StoreError> {
            Ok(true)
        }
        async fn check(&self, incoming: &super::Incoming<'_>) -> Result<(), super::GateError> {
            use crate::store::ActorStore;
            let engine = self.0.get().unwrap();
            for c in incoming.changes {
                engine.bind_actor(c.actor_id().to_bytes(), incoming.conn.user()).await?;
            }
            Ok(())
        }
    }
    let gate = Arc::new(BindingGate(std::sync::OnceLock::new()));
    let (hub, engine, faults) = hub_with_gate(HubSettings::default(), gate.clone());
    gate.0.set(engine.clone()).unwrap();
    let doc = DocumentId::random();
    let mut phone = Phone::new(&hub, "phone");
    phone.doc.put(ROOT, "kind", "task").unwrap();
    faults.fail_writes(true);
    for _ in 0..3 {
        if phone.conn.is_closed() {
            break;
        }
        if let Some(cmd) = phone.sync_cmd() {
            hub.dispatch(doc, cmd);
        }
        if let Ok(Some(Message::Sync { data, .. })) =
            tokio::time::timeout(Duration::from_secs(5), phone.rx.recv()).await
        {
            phone.doc.sync().receive_sync_message(&mut phone.state, sync::Message::decode(&data).unwrap()).unwrap();
        }
    }
    let rest = until_closed(&mut phone).await;
    assert!(
        !rest.iter().any(|m| matches!(m, Message::Ephemeral { .. })),
        "a `rejected` message for a change the server could not check: {rest:?}"
    );
    assert!(engine.load(&doc).await.is_err() || chunks(&engine, &doc).await == 0);
    assert!(hub.store_down().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_evicted_document_still_reaches_its_connected_peers() {
    evicted_document_reaches_its_peers(hub(two_in_memory()).0).await;
}

async fn evicted_document_reaches_its_peers(hub: Arc<Hub>) {
    let doc = DocumentId::random();
    let mut reader = Phone::new(&hub, "reader");
    let mut writer = Phone::new(&hub, "writer");
    writer.doc.put(ROOT, "status", "new").unwrap();
    writer.sync_with(&hub, doc).await;
    reader.sync_with(&hub, doc).await;
    assert_eq!(reader.doc.get_heads(), writer.doc.get_heads());

    // Open other documents until ours is evicted.
    for _ in 0..3 {
        let mut p = Phone::new(&hub, "filler");
        p.doc.put(ROOT, "x", 1).unwrap();
        p.sync_with(&hub, DocumentId::random()).await;
    }
    assert!(hub.docs_in_memory() <= 2);
    assert!(hub.metrics.evictions.get() >= 2);

    // The writer changes the evicted document: the reader, still connected, hears of it.
    writer.doc.put(ROOT, "status", "delivered").unwrap();
    writer.sync_with(&hub, doc).await;
    let want = writer.doc.get_heads();
    for _ in 0..10 {
        if reader.doc.get_heads() == want {
            break;
        }
        reader.recv_sync().await;
        if let Some(cmd) = reader.sync_cmd() {
            hub.dispatch(doc, cmd);
        }
    }
    assert_eq!(reader.doc.get_heads(), want);
}

/// A change that arrives before its dependency waits in Automerge's queue, in memory. If
/// the document is evicted meanwhile, that queue is gone, but the phone remembers having
/// sent the change and would never offer it again. Back in memory, the server asks the
/// phone to start over, and the change arrives after all. Repeated, because the actor
/// that takes over must not serve the phone before its predecessor has parked it (a race
/// that lost the request to start over about once in 300 runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_held_for_its_dependency_survives_an_eviction() {
    for _ in 0..300 {
        let (hub, engine, _faults) = hub(two_in_memory());
        held_change_survives_an_eviction(hub, engine.as_ref()).await;
    }
}

async fn held_change_survives_an_eviction(hub: Arc<Hub>, engine: &dyn Engine) {
    let doc = DocumentId::random();
    let mut phone = Phone::new(&hub, "phone");
    phone.doc.put(ROOT, "kind", "task").unwrap();
    phone.sync_with(&hub, doc).await;

    // Two changes in two messages; the link delivers the second first.
    phone.doc.put(ROOT, "status", "assigned").unwrap();
    let first = phone.sync_cmd().unwrap();
    phone.state.in_flight = false;
    phone.doc.put(ROOT, "status", "delivered").unwrap();
    let second = phone.sync_cmd().unwrap();
    hub.dispatch(doc, second);
    // The server holds the second change and asks for its dependency.
    phone.recv_sync().await;

    // The document leaves memory with the held change in it.
    for _ in 0..3 {
        let mut p = Phone::new(&hub, "filler");
        p.doc.put(ROOT, "x", 1).unwrap();
        p.sync_with(&hub, DocumentId::random()).await;
    }
    assert!(hub.metrics.evictions.get() >= 1);

    hub.dispatch(doc, first);
    phone.sync_with(&hub, doc).await;
    assert_eq!(phone.state.their_heads.clone().unwrap(), phone.doc.get_heads());
    let stored = engine.load(&doc).await.unwrap().to_automerge().unwrap();
    assert_eq!(stored.get_heads(), phone.doc.get_heads(), "both changes are stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_documents_leave_memory() {
    let mut settings = HubSettings::default();
    settings.actors.doc_idle = Duration::from_millis(50);
    let (hub, _engine, _faults) = hub(settings);
    let mut phone = Phone::new(&hub, "phone");
    phone.doc.put(ROOT, "x", 1).unwrap();
    phone.sync_with(&hub, DocumentId::random()).await;
    assert_eq!(hub.docs_in_memory(), 1);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while hub.docs_in_memory() > 0 {
        assert!(tokio::time::Instant::now() < deadline, "idle document was not evicted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_for_an_unknown_document_gets_doc_unavailable_then_the_document_when_it_appears() {
    unknown_document_then_the_document(hub(HubSettings::default()).0).await;
}

async fn unknown_document_then_the_document(hub: Arc<Hub>) {
    let doc = DocumentId::random();
    let mut asker = Phone::new(&hub, "asker");
    let msg = asker.doc.sync().generate_sync_message(&mut asker.state).unwrap();
    hub.dispatch(doc, DocCommand::Sync { conn: asker.conn.clone(), data: msg.encode(), request: true });
    assert!(matches!(asker.recv().await, Message::DocUnavailable { .. }));

    let mut creator = Phone::new(&hub, "creator");
    creator.doc.put(ROOT, "kind", "household").unwrap();
    creator.sync_with(&hub, doc).await;
    // The asker is owed the document now that it exists.
    let heads = asker.recv_sync().await;
    assert_eq!(heads, creator.doc.get_heads());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_sync_message_closes_only_its_connection() {
    let (hub, engine, _faults) = hub(HubSettings::default());
    let doc = DocumentId::random();
    let mut good = Phone::new(&hub, "good");
    good.doc.put(ROOT, "x", 1).unwrap();
    good.sync_with(&hub, doc).await;
    let bad = Phone::new(&hub, "bad");
    hub.dispatch(doc, DocCommand::Sync { conn: bad.conn.clone(), data: vec![0x42, 1, 2, 3], request: false });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !bad.conn.is_closed() {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(bad.conn.close_reason().unwrap().0.contains("corrupt sync message"));
    assert!(!good.conn.is_closed());
    good.doc.put(ROOT, "x", 2).unwrap();
    good.sync_with(&hub, doc).await;
    assert_eq!(chunks(&engine, &doc).await, 2);
}

/// Logout ends a login, whichever of its tokens (a refresh gives a new one) opened a
/// connection; other logins of the same user stay, and so do the pending ones of them.
#[tokio::test]
async fn ending_a_login_closes_the_connections_of_each_of_its_tokens() {
    let (hub, _, _) = hub(HubSettings::default());
    let ids = |token: &str, session: &str| super::TokenIds { token: token.into(), session: session.into() };
    let who = Arc::new(super::conn::UserCtx { id: "u-1".into(), role: crate::auth::Role::Admin, grids: vec![] });
    let joined = |name: &str, token: &super::TokenIds| {
        let (tx, _rx) = mpsc::channel(16);
        let conn = ConnHandle::new(hub.next_conn_id(), PeerId::new(name).unwrap(), who.clone(), tx);
        hub.register(&conn, token);
        conn
    };
    let before_refresh = joined("phone-a", &ids("t1", "login-1"));
    let after_refresh = joined("phone-b", &ids("t2", "login-1"));
    let other_login = joined("laptop", &ids("t3", "login-2"));
    let (pending_same, pending_other) =
        (tokio_util::sync::CancellationToken::new(), tokio_util::sync::CancellationToken::new());
    hub.register_pending(hub.next_conn_id(), "u-1", &ids("t2", "login-1"), pending_same.clone());
    hub.register_pending(hub.next_conn_id(), "u-1", &ids("t3", "login-2"), pending_other.clone());

    assert_eq!(hub.close_session("login-1", "logged out"), 3);
    assert!(before_refresh.is_closed() && after_refresh.is_closed() && pending_same.is_cancelled());
    assert!(!other_login.is_closed() && !pending_other.is_cancelled());
    // A refresh closes only the old token's connections.
    assert_eq!(hub.close_token("t3", "session refreshed"), 2);
    assert!(other_login.is_closed() && pending_other.is_cancelled());
}

/// The scenarios in which the store matters to sync — a document evicted and loaded
/// again while peers stay connected, a held change across an eviction, a document that
/// appears after it was asked for — with the documents in PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_leave_memory_and_come_back_from_postgres() {
    let Some(admin) = crate::store::postgres::testing::admin_url() else { return };
    let (engine, _) = crate::store::postgres::testing::fresh_engine(&admin, Default::default()).await;
    let engine: SharedEngine = Arc::new(engine);
    evicted_document_reaches_its_peers(hub_on(engine.clone(), two_in_memory())).await;
    for _ in 0..30 {
        held_change_survives_an_eviction(hub_on(engine.clone(), two_in_memory()), engine.as_ref()).await;
    }
    unknown_document_then_the_document(hub_on(engine.clone(), HubSettings::default())).await;
}

/// A gate that defers every change until another document is in the store, as the rules
/// do for a task whose household has not arrived yet.
#[derive(Debug)]
struct WaitsFor {
    engine: std::sync::OnceLock<Arc<MemoryEngine>>,
    other: DocumentId,
}

#[async_trait::async_trait]
impl super::Gate for WaitsFor {
    async fn may_read(
        &self,
        _: &ConnHandle,
        _: DocumentId,
        _: &automerge::Automerge,
    ) -> Result<bool, crate::store::StoreError> {
        Ok(true)
    }
    async fn check(&self, incoming: &super::Incoming<'_>) -> Result<(), super::GateError> {
        let engine = self.engine.get().unwrap();
        if incoming.doc == self.other || !engine.load(&self.other).await?.chunks.is_empty() {
            return Ok(());
        }
        Err(super::GateError::Deferred(super::Deferral { waits_for: self.other, reason: "waiting".into() }))
    }
}

/// A deferred change is neither merged nor refused; once the document it waits for is
/// stored, its sender is asked for it again (it took it as sent) and it is merged. The
/// timed retry is set far beyond the test, so only the "stored" signal can do it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_change_is_merged_once_the_document_it_waits_for_is_stored() {
    let mut settings = HubSettings::default();
    settings.actors.reference_retry = Duration::from_secs(3600);
    let gate = Arc::new(WaitsFor { engine: std::sync::OnceLock::new(), other: DocumentId::random() });
    let (hub, engine, _faults) = hub_with_gate(settings, gate.clone());
    gate.engine.set(engine.clone()).unwrap();
    let doc = DocumentId::random();
    let mut phone = Phone::new(&hub, "phone");
    phone.doc.put(ROOT, "kind", "task").unwrap();
    for _ in 0..3 {
        if let Some(cmd) = phone.sync_cmd() {
            hub.dispatch(doc, cmd);
        }
        if hub.metrics.changes_deferred.get() > 0 {
            break;
        }
        if let Ok(Some(Message::Sync { data, .. })) =
            tokio::time::timeout(Duration::from_secs(1), phone.rx.recv()).await
        {
            phone.doc.sync().receive_sync_message(&mut phone.state, sync::Message::decode(&data).unwrap()).unwrap();
        }
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while hub.metrics.changes_deferred.get() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the change was not deferred");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(chunks(&engine, &doc).await, 0, "a deferred change was stored");
    assert!(
        !phone.rx.try_recv().is_ok_and(|m| matches!(m, Message::Ephemeral { .. })),
        "a deferred change was refused"
    );

    let mut other = Phone::new(&hub, "other");
    other.doc.put(ROOT, "kind", "household").unwrap();
    other.sync_with(&hub, gate.other).await;
    phone.sync_with(&hub, doc).await;
    let stored = engine.load(&doc).await.unwrap().to_automerge().unwrap();
    assert_eq!(stored.get_heads(), phone.doc.get_heads(), "merged once the other document is stored");
}

/// The sync messages fuzzing found that Automerge trusts and cannot survive (a Bloom
/// filter without bits, a bundle chunk whose column claims billions of entries, a `need`
/// naming a change twice) are refused before they reach the document: the sender is told
/// and closed, the document and its other readers carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fuzzers_crashers_are_refused_before_automerge_sees_them() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tests/fuzz_fixtures/sync_message");
    for name in ["crash-bloom-without-bits", "crash-need-twice", "oom-bundle-delta-column"] {
        let input = std::fs::read(dir.join(name)).unwrap();
        // The fixture's first byte picks the fuzz case; the rest is the sync message.
        let data = input[1..].to_vec();
        let (hub, engine, _faults) = hub(HubSettings::default());
        let doc = DocumentId::random();
        let mut good = Phone::new(&hub, "good");
        for i in 0..20 {
            good.doc.put(ROOT, format!("k{i}"), i).unwrap();
            good.doc.commit();
        }
        good.sync_with(&hub, doc).await;
        let bad = Phone::new(&hub, "bad");
        hub.dispatch(doc, DocCommand::Sync { conn: bad.conn.clone(), data, request: false });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !bad.conn.is_closed() {
            assert!(tokio::time::Instant::now() < deadline, "{name}: the sender was not refused");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let reason = bad.conn.close_reason().unwrap().0;
        assert!(reason.contains("corrupt sync message"), "{name}: {reason}");
        assert!(!good.conn.is_closed(), "{name}");
        good.doc.put(ROOT, "after", 1).unwrap();
        good.sync_with(&hub, doc).await;
        assert_eq!(chunks(&engine, &doc).await, 2, "{name}");
    }
}
