//! The actor that owns one open document: the only writer of its in-memory Automerge
//! state and of its chunks in the store.
//!
//! Messages are taken in batches: every sync message queued for the document is applied,
//! the new changes are written as **one** chunk and made durable (the store's group commit
//! shares that fsync with other documents), and only then are replies generated. That
//! ordering is the durability contract of DESIGN §2: no reply carries heads that are not
//! on disk, so a `kill -9` can never lose an acknowledged change.
//!
//! When the store fails (a full disk, a failed fsync, the database gone) the actor
//! replies to nobody, forgets its in-memory state (it may hold merged changes that are not
//! on disk) and stops; the registry tells every peer the server cannot store changes now.
//! A storage failure is never a refusal: the phones keep their work and offer it again.

use super::conn::{ConnHandle, ConnId};
use super::gate::{Gate, GateError, Incoming, Refusal};
use crate::metrics::Metrics;
use crate::store::{ChunkKey, SharedEngine, StoreError, Write};
use automerge::sync::{self, SyncDoc};
use automerge::{Automerge, ChangeHash};
use linli_shared::{DocumentId, Message, PeerId};
use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use tokio::sync::mpsc;

/// What a connection asks of a document's actor.
#[derive(Debug)]
pub enum DocCommand {
    /// A `sync` or `request` message; `request` means the peer has nothing of the document.
    Sync { conn: ConnHandle, data: Vec<u8>, request: bool },
    /// An `ephemeral` message to relay to the document's other peers.
    Ephemeral { conn: ConnHandle, session_id: String, count: u64, data: Vec<u8> },
    /// The connection closed.
    Leave { conn: ConnId },
    /// Peers of a predecessor that exited while this actor was already running (one that
    /// did not wait for its generation lock); usually the successor takes them at start.
    Resume { subscriptions: Vec<Subscription> },
    /// A change written by the server itself, as its own Automerge actor (inboxes, grid
    /// indexes). The function returns whether it changed anything; `done`, if given, is
    /// told whether the write is stored (or needed none).
    ServerWrite { write: ServerWriteFn, done: Option<tokio::sync::oneshot::Sender<bool>> },
    /// Replaces the whole history (retention, erasure): the function is given the current
    /// state and returns the saved document that replaces it, or `None` to leave it; the
    /// old chunks are deleted. `done`, if given, is told whether the replacement is stored.
    Replace { with: ReplaceFn, done: Option<tokio::sync::oneshot::Sender<bool>> },
    /// Who may read this document may have changed: drop peers that no longer may.
    Recheck,
    /// Changes the gate deferred may be decidable now (the document they name arrived, or
    /// a while passed): their senders are asked for them again.
    Retry,
}

/// Given a document's current state, the saved document that replaces it (`None`: keep it).
pub type Replacement = dyn FnOnce(&Automerge) -> Option<Vec<u8>> + Send;

/// See [`DocCommand::Replace`].
pub struct ReplaceFn(pub Box<Replacement>);

impl ReplaceFn {
    /// Replaces the history by this saved document, whatever the current state.
    pub fn snapshot(snapshot: Vec<u8>) -> Self {
        ReplaceFn(Box::new(move |_| Some(snapshot)))
    }
}

impl std::fmt::Debug for ReplaceFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReplaceFn")
    }
}

/// What a phone holding a replaced list is told (see `DocActor::tell_if_stale_list`).
pub const STALE_LIST: &str =
    "the server rebuilt this list (an erasure): this copy is out of date; drop it and fetch it again";

/// Whether `doc` is a list only the server writes: an inbox, a grid index, a medic index.
fn is_server_list(doc: &Automerge) -> bool {
    use automerge::ReadDoc;
    // `kind` is a string, or a text object when an automerge-repo client wrote it.
    let kind = match doc.get(automerge::ROOT, "kind") {
        Ok(Some((automerge::Value::Scalar(s), _))) => s.as_str().map(str::to_owned),
        Ok(Some((automerge::Value::Object(automerge::ObjType::Text), obj))) => doc.text(&obj).ok(),
        _ => None,
    };
    use linli_shared::domain::Kind;
    matches!(kind.and_then(|k| k.parse().ok()), Some(Kind::Inbox | Kind::GridIndex | Kind::MedicIndex))
}

/// The Automerge actor the server writes `doc` with: its own, except that a list only the
/// server writes (an inbox, a grid index, a medic index) goes on with the author of its
/// history. An erasure replaces a list's history by one written by a fresh actor, and
/// phones may still hold the old one: had the server gone on writing as itself, its next
/// change would reuse a sequence number of its old changes, and Automerge refuses a sync
/// message holding two different changes with one actor and sequence number (the phone's
/// whole message, each time it connects).
pub fn server_writer(doc: &Automerge, server: &automerge::ActorId) -> automerge::ActorId {
    use automerge::ReadDoc;
    let list = is_server_list(doc);
    let author = || doc.get_heads().first().and_then(|h| doc.get_change_by_hash(h)).map(|c| c.actor_id().clone());
    match list.then(author).flatten() {
        Some(actor) => actor,
        None => server.clone(),
    }
}

/// See [`DocCommand::ServerWrite`].
pub struct ServerWriteFn(pub Box<dyn FnOnce(&mut Automerge) -> bool + Send>);

impl std::fmt::Debug for ServerWriteFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerWriteFn")
    }
}

/// A peer that was syncing a document when its actor was evicted.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub conn: ConnHandle,
    /// What survives of the peer's sync state while the document is out of memory: the
    /// shared heads, and a request that the peer start over (see [`parked`]).
    pub state: sync::State,
}

/// Limits and timings the actors run with. Every field is a setting (see `config`).
#[derive(Debug, Clone)]
pub struct ActorSettings {
    pub doc_idle: std::time::Duration,
    pub max_batch: usize,
    pub compact_after_chunks: usize,
    /// What one peer's sync message may inflate to (checked before Automerge reads it).
    pub inflate: linli_shared::inflate::InflateLimits,
    /// How often changes the gate deferred are asked for again.
    pub reference_retry: std::time::Duration,
}

impl Default for ActorSettings {
    fn default() -> Self {
        ActorSettings {
            doc_idle: std::time::Duration::from_secs(60),
            max_batch: 256,
            compact_after_chunks: 64,
            inflate: linli_shared::inflate::InflateLimits::default(),
            reference_retry: std::time::Duration::from_secs(2),
        }
    }
}

/// What an actor needs of the hub that runs it (implemented by [`super::Hub`]), so the
/// actor does not depend on the hub's internals.
pub trait Registry: std::fmt::Debug + Send + Sync + 'static {
    fn store(&self) -> &SharedEngine;
    fn gate(&self) -> &dyn Gate;
    fn metrics(&self) -> &Metrics;
    fn actor_settings(&self) -> &ActorSettings;
    fn server_peer(&self) -> &PeerId;
    fn server_actor(&self) -> &automerge::ActorId;
    /// The server's own ephemeral session id (for `rejected` messages) and its next count.
    fn ephemeral_session(&self) -> (&str, u64);
    /// The subscriptions parked for `doc`, for the actor that now holds its generation lock.
    fn take_dormant(&self, doc: DocumentId) -> Vec<Subscription>;
    /// Called by an idle actor: whether it may exit (nothing queued for it).
    fn try_retire_idle(
        &self,
        doc: DocumentId,
        generation: &Arc<tokio::sync::Mutex<()>>,
        rx: &mpsc::UnboundedReceiver<DocCommand>,
    ) -> bool;
    /// Called by an exiting actor: parks its subscriptions.
    fn actor_exited(&self, doc: DocumentId, generation: &Arc<tokio::sync::Mutex<()>>, subscriptions: Vec<Subscription>);
    /// The store failed: no change may be acknowledged until it recovers.
    fn store_failed(&self, error: &StoreError);
    /// `doc` deferred changes until `waits_for` is stored: send `doc` a
    /// [`DocCommand::Retry`] then, or after [`ActorSettings::reference_retry`] at the latest.
    fn defer(&self, doc: DocumentId, waits_for: DocumentId);
    /// `doc` has new changes in the store: documents waiting for it may retry.
    fn stored(&self, doc: DocumentId);
}

#[derive(Debug)]
struct Peer {
    conn: ConnHandle,
    state: sync::State,
    /// The peer asked for the document while we had none of it: it is owed either
    /// `doc-unavailable` now or the document as soon as it exists.
    asked_while_empty: bool,
    /// The heads of the last sync message actually sent to this peer. See [`DocActor::reply`].
    told_heads: Vec<ChangeHash>,
    /// The gate deferred this peer's changes: we take none of its changes (read-only)
    /// until a [`DocCommand::Retry`] asks it to send them again.
    deferred: bool,
}

impl Peer {
    fn new(conn: ConnHandle) -> Self {
        Self::with_state(conn, sync::State::new())
    }

    fn with_state(conn: ConnHandle, state: sync::State) -> Self {
        Peer { conn, state, asked_while_empty: false, told_heads: Vec::new(), deferred: false }
    }

    /// Starts this peer's sync afresh: our document was reloaded or replaced, so the
    /// shared heads may no longer hold either.
    fn restart_sync(&mut self) {
        self.state = sync::State { shared_heads: Vec::new(), ..parked(&self.state) };
        self.told_heads.clear();
    }
}

/// What a peer's sync state keeps when the server forgets the session's details (the
/// document leaves memory, or is reloaded) while the peer stays connected: the shared
/// heads and what the peer said it understands. What we sent it, what it told us it has,
/// and the changes Automerge was holding for missing dependencies are gone; but the peer
/// still remembers having sent them and would never offer them again. So the peer is
/// asked to start over (`needs_reset`: Automerge's sync-reset flag, or empty heads for a
/// peer that does not know it), and it offers again whatever we lack.
pub(crate) fn parked(state: &sync::State) -> sync::State {
    sync::State {
        shared_heads: state.shared_heads.clone(),
        their_capabilities: state.their_capabilities.clone(),
        needs_reset: true,
        ..sync::State::new()
    }
}

/// The store failed; the actor stops (see the module docs).
#[derive(Debug)]
struct Stop;

struct DocActor {
    reg: Arc<dyn Registry>,
    id: DocumentId,
    /// `None` when the stored document cannot be read: every request gets `doc-unavailable`.
    doc: Option<Automerge>,
    /// The chunks that make up `doc` in the store; exactly what a compaction may delete.
    chunks: Vec<ChunkKey>,
    peers: BTreeMap<ConnId, Peer>,
    /// Last ephemeral count seen per (sender, session): repeats are dropped, not relayed.
    ephemeral_seen: HashMap<(PeerId, String), u64>,
    /// Connections whose changes were merged in the current batch, with their change count.
    contributors: Vec<(ConnHandle, usize)>,
    /// Told once the current batch's server writes are stored (or not).
    server_writes_done: Vec<tokio::sync::oneshot::Sender<bool>>,
}

/// What became of a sync message's changes.
enum Applied {
    Merged(usize),
    Refused(Refusal, Vec<ChangeHash>),
    /// Neither merged nor refused: asked for again later.
    Deferred,
}

/// Bound on the ephemeral de-duplication table of one document.
const MAX_EPHEMERAL_SESSIONS: usize = 1024;

pub(crate) async fn run(
    reg: Arc<dyn Registry>,
    id: DocumentId,
    mut rx: mpsc::UnboundedReceiver<DocCommand>,
    generation: Arc<tokio::sync::Mutex<()>>,
) {
    // Wait for a predecessor (evicted, still draining) so its last chunk is in the store
    // and its peers are parked; then take them over.
    let guard = generation.clone().lock_owned().await;
    let subscriptions = reg.take_dormant(id);
    let mut actor = DocActor {
        reg: reg.clone(),
        id,
        doc: None,
        chunks: Vec::new(),
        peers: BTreeMap::new(),
        ephemeral_seen: HashMap::new(),
        contributors: Vec::new(),
        server_writes_done: Vec::new(),
    };
    let mut stopped = match actor.reload().await {
        Ok(()) => false,
        Err(e) => {
            actor.stop(e);
            true
        }
    };
    actor.resume(subscriptions);
    let idle = reg.actor_settings().doc_idle;
    while !stopped {
        let first = match tokio::time::timeout(idle, rx.recv()).await {
            Ok(Some(cmd)) => cmd,
            // Evicted: our entry (and so the sender) is gone and the queue is drained.
            Ok(None) => break,
            Err(_elapsed) => {
                if reg.try_retire_idle(id, &generation, &rx) {
                    break;
                }
                continue;
            }
        };
        let mut batch = vec![first];
        while batch.len() < reg.actor_settings().max_batch {
            match rx.try_recv() {
                Ok(cmd) => batch.push(cmd),
                Err(_) => break,
            }
        }
        stopped = actor.handle_batch(batch).await.is_err();
    }
    if stopped {
        // Nothing of what is in memory may be served again: drop it, and what is queued.
        actor.doc = None;
        actor.peers.clear();
        rx.close();
        while let Ok(cmd) = rx.try_recv() {
            if let DocCommand::ServerWrite { done: Some(done), .. } = cmd {
                let _ = done.send(false);
            }
        }
    }
    // Park our peers before a successor may start (it waits for the lock).
    reg.actor_exited(id, &generation, actor.into_subscriptions());
    drop(guard);
}

/// Loads a document from the store. A document that cannot be read is reported, counted
/// and served as unavailable; it is never overwritten. A store that cannot be read at
/// all is a storage failure.
async fn load(reg: &dyn Registry, id: DocumentId) -> Result<(Option<Automerge>, Vec<ChunkKey>), StoreError> {
    let stored = match reg.store().load(&id).await {
        Ok(s) => s,
        Err(e) if e.is_unavailable() => return Err(e),
        Err(e) => {
            reg.metrics().doc_load_errors.inc();
            tracing::error!(doc = %id, error = %e, "could not read document from the store");
            return Ok((None, Vec::new()));
        }
    };
    let keys: Vec<ChunkKey> = stored.chunks.iter().map(|(k, _)| *k).collect();
    let built =
        tokio::task::spawn_blocking(move || std::panic::catch_unwind(AssertUnwindSafe(|| stored.to_automerge()))).await;
    match built {
        Ok(Ok(Ok(doc))) => Ok((Some(doc), keys)),
        Ok(Ok(Err(e))) => {
            reg.metrics().doc_load_errors.inc();
            tracing::error!(doc = %id, error = %e, "stored document is unreadable");
            Ok((None, Vec::new()))
        }
        Ok(Err(_panic)) => {
            reg.metrics().doc_load_errors.inc();
            tracing::error!(doc = %id, "automerge panicked while loading a stored document");
            Ok((None, Vec::new()))
        }
        Err(e) => Err(StoreError::Unavailable(format!("document load task failed: {e}"))),
    }
}

impl DocActor {
    fn resume(&mut self, subscriptions: Vec<Subscription>) {
        for sub in subscriptions {
            if sub.conn.is_closed() {
                continue;
            }
            match self.peers.get_mut(&sub.conn.id()) {
                // Already syncing with us: keep that, but what the predecessor held for
                // this peer is gone, so it restarts its sync all the same.
                Some(peer) => peer.state.needs_reset = true,
                None => {
                    self.peers.insert(sub.conn.id(), Peer::with_state(sub.conn, sub.state));
                }
            }
        }
    }

    fn into_subscriptions(self) -> Vec<Subscription> {
        self.peers
            .into_values()
            .filter(|p| !p.conn.is_closed())
            .map(|p| Subscription { state: parked(&p.state), conn: p.conn })
            .collect()
    }

    fn heads(&self) -> Vec<ChangeHash> {
        self.doc.as_ref().map(|d| d.get_heads()).unwrap_or_default()
    }

    /// The store failed: tell the registry, and stop.
    fn stop(&mut self, e: StoreError) -> Stop {
        self.reg.metrics().store_errors.inc();
        tracing::error!(doc = %self.id, error = %e, "the store failed; nothing of this batch is acknowledged");
        self.reg.store_failed(&e);
        for done in self.server_writes_done.drain(..) {
            let _ = done.send(false);
        }
        Stop
    }

    async fn handle_batch(&mut self, batch: Vec<DocCommand>) -> Result<(), Stop> {
        let old_heads = self.heads();
        let mut touched: Vec<ConnId> = Vec::new();
        let mut panicked = false;
        let mut recheck = false;
        for cmd in batch {
            match cmd {
                DocCommand::Sync { conn, data, request } => {
                    match self.apply_sync(conn.clone(), &data, request, &mut panicked).await {
                        Ok(true) => touched.push(conn.id()),
                        Ok(false) => {}
                        Err(e) => return Err(self.stop(e)),
                    }
                }
                DocCommand::Ephemeral { conn, session_id, count, data } => {
                    self.relay_ephemeral(&conn, session_id, count, data).await.map_err(|e| self.stop(e))?;
                }
                DocCommand::Leave { conn } => {
                    self.peers.remove(&conn);
                }
                DocCommand::Resume { subscriptions } => {
                    let ids: Vec<_> = subscriptions.iter().map(|s| s.conn.id()).collect();
                    self.resume(subscriptions);
                    touched.extend(ids);
                }
                DocCommand::ServerWrite { write, done } => {
                    if let Some(doc) = self.doc.as_mut() {
                        doc.set_actor(server_writer(doc, self.reg.server_actor()));
                        if std::panic::catch_unwind(AssertUnwindSafe(|| (write.0)(doc))).is_err() {
                            tracing::error!(doc = %self.id, "a server write panicked");
                            panicked = true;
                        }
                    }
                    self.server_writes_done.extend(done);
                }
                DocCommand::Replace { with, done } => {
                    let empty = Automerge::new();
                    let current = self.doc.as_ref().unwrap_or(&empty);
                    let snapshot = match std::panic::catch_unwind(AssertUnwindSafe(|| (with.0)(current))) {
                        Ok(s) => s,
                        Err(_) => {
                            tracing::error!(doc = %self.id, "a replacement panicked");
                            None
                        }
                    };
                    let replaced = match snapshot {
                        Some(snapshot) => self.replace(snapshot).await.map_err(|e| self.stop(e))?,
                        None => true,
                    };
                    if let Some(done) = done {
                        let _ = done.send(replaced);
                    }
                    touched = self.peers.keys().copied().collect();
                }
                DocCommand::Recheck => recheck = true,
                DocCommand::Retry => {
                    // Deferred peers, and peers parked while they were (an eviction in
                    // between: they come back asked to start over, which this sends).
                    for (id, peer) in self.peers.iter_mut().filter(|(_, p)| p.deferred || p.state.needs_reset) {
                        // Take its changes again, and ask it to send them again: it took
                        // them as sent (Automerge's sync reset, or empty heads for a peer
                        // that does not know it).
                        if peer.deferred {
                            peer.deferred = false;
                            peer.state.read_only = false;
                        }
                        peer.state.needs_reset = true;
                        // It is waiting for us, not we for it: this message must go.
                        peer.state.in_flight = false;
                        touched.push(*id);
                    }
                }
            }
        }
        if panicked {
            // The in-memory document may be half-updated: go back to what is on disk and
            // start every peer's sync afresh (nothing unsaved was ever acknowledged).
            self.contributors.clear();
            self.reload().await.map_err(|e| self.stop(e))?;
            touched = self.peers.keys().copied().collect();
        }
        let new_heads = self.heads();
        let contributors = std::mem::take(&mut self.contributors);
        let changed = new_heads != old_heads;
        if changed {
            self.persist(&old_heads, &contributors).await.map_err(|e| self.stop(e))?;
            touched = self.peers.keys().copied().collect();
            if let Some(doc) = self.doc.as_ref() {
                self.reg.gate().accepted(self.id, doc);
            }
            self.reg.stored(self.id);
        }
        for done in self.server_writes_done.drain(..) {
            let _ = done.send(true);
        }
        // Who may no longer read the document as it is now (a task reassigned away from
        // its volunteer) gets nothing of this batch, only `doc-unavailable`; but the
        // author of a change that ends their own access (a volunteer delivering their
        // task) still gets its acknowledgement first.
        let denied =
            if changed || recheck { self.unauthorised_readers().await.map_err(|e| self.stop(e))? } else { Vec::new() };
        touched.retain(|id| !denied.contains(id) || contributors.iter().any(|(c, _)| c.id() == *id));
        self.reply(&touched);
        self.drop_readers(denied);
        Ok(())
    }

    /// The peers that may not read the document as it is now.
    async fn unauthorised_readers(&self) -> Result<Vec<ConnId>, StoreError> {
        let Some(doc) = self.doc.as_ref() else { return Ok(Vec::new()) };
        if doc.get_heads().is_empty() {
            return Ok(Vec::new());
        }
        let mut denied = Vec::new();
        for p in self.peers.values() {
            if !self.reg.gate().admit(&p.conn, self.id, doc).await? {
                denied.push(p.conn.id());
            }
        }
        Ok(denied)
    }

    /// Stops syncing with `denied`: each is told the document is unavailable.
    fn drop_readers(&mut self, denied: Vec<ConnId>) {
        for id in denied {
            if let Some(peer) = self.peers.remove(&id) {
                peer.conn.send(Message::DocUnavailable {
                    sender_id: self.reg.server_peer().clone(),
                    target_id: peer.conn.peer().clone(),
                    document_id: self.id,
                });
            }
        }
    }

    /// Retention: the document becomes `snapshot`, a new history; every old chunk goes.
    /// Returns whether the replacement was stored (`false`: the snapshot does not load).
    async fn replace(&mut self, snapshot: Vec<u8>) -> Result<bool, StoreError> {
        let doc = match Automerge::load(&snapshot) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(doc = %self.id, error = %e, "replacement snapshot does not load");
                return Ok(false);
            }
        };
        let heads = doc.get_heads();
        // Everything stored for the document, not only what this actor loaded.
        let covers: Vec<ChunkKey> = self.reg.store().load(&self.id).await?.chunks.into_iter().map(|(k, _)| k).collect();
        self.reg.store().commit(vec![Write::Compact { doc: self.id, heads: heads.clone(), snapshot, covers }]).await?;
        self.doc = Some(doc);
        self.chunks = vec![ChunkKey::snapshot(self.id, &heads)];
        for peer in self.peers.values_mut() {
            peer.restart_sync();
        }
        Ok(true)
    }

    /// Applies one sync message. Returns whether the peer should get a reply.
    ///
    /// A message that carries changes is applied to a fork first; the gate sees the
    /// fork and the new changes, and only an accepted fork replaces the document.
    async fn apply_sync(
        &mut self,
        conn: ConnHandle,
        data: &[u8],
        request: bool,
        panicked: &mut bool,
    ) -> Result<bool, StoreError> {
        let id = conn.id();
        let Some(doc) = self.doc.as_ref() else {
            // Unreadable document: answer as if we did not have it.
            self.peers.entry(id).or_insert_with(|| Peer::new(conn.clone())).asked_while_empty = true;
            return Ok(true);
        };
        if !self.peers.contains_key(&id)
            && !doc.get_heads().is_empty()
            && !self.reg.gate().admit(&conn, self.id, doc).await?
        {
            // Existence is not revealed: a document one may not read looks like a missing one.
            self.reg.metrics().protocol_error("read_denied");
            conn.send(Message::DocUnavailable {
                sender_id: self.reg.server_peer().clone(),
                target_id: conn.peer().clone(),
                document_id: self.id,
            });
            return Ok(false);
        }
        // Shapes Automerge itself never sends but would trust (found by fuzzing: a Bloom
        // filter without bits divides by zero, a bundle chunk allocates gigabytes, a `need`
        // naming a change twice panics) are refused like a corrupt message.
        let message = match sync::Message::decode(data)
            .map_err(|e| e.to_string())
            .and_then(|m| linli_shared::sync_guard::check_sync_message(&m).map(|()| m).map_err(|e| e.to_string()))
        {
            Ok(m) => m,
            Err(e) => {
                self.reg.metrics().protocol_error("corrupt_sync_message");
                tracing::warn!(conn = id.0, doc = %self.id, error = %e, "corrupt sync message");
                refuse(self.reg.as_ref(), &conn, self.id, format!("corrupt sync message: {e}"));
                self.peers.remove(&id);
                return Ok(false);
            }
        };
        if let Err(e) = linli_shared::inflate::check_all(message.changes.iter(), &self.reg.actor_settings().inflate) {
            return self.refuse_unread(&conn, data, &message, e).await;
        }
        let mut peer = self.peers.remove(&id).unwrap_or_else(|| Peer::new(conn.clone()));
        self.tell_if_stale_list(&conn, &mut peer, &message);
        let outcome = self.apply_to_fork(&conn, &mut peer, message).await;
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                self.peers.insert(id, peer);
                return Err(e);
            }
        };
        let reply = match outcome {
            Ok(Ok(Applied::Merged(n))) => {
                if n > 0 {
                    self.contributors.push((conn.clone(), n));
                }
                peer.asked_while_empty = request && self.heads().is_empty();
                self.peers.insert(id, peer);
                true
            }
            Ok(Ok(Applied::Deferred)) => {
                self.reg.metrics().changes_deferred.inc();
                self.peers.insert(id, peer);
                true
            }
            Ok(Ok(Applied::Refused(refusal, hashes))) => {
                self.reg
                    .metrics()
                    .changes_refused
                    .get_or_create(&crate::metrics::CodeLabel { code: refusal.code })
                    .inc();
                tracing::info!(conn = id.0, doc = %self.id, code = refusal.code, "changes refused");
                send_rejected(self.reg.as_ref(), &conn, self.id, &refusal.reason, &hashes);
                self.peers.insert(id, peer);
                true
            }
            Ok(Err(e)) => {
                self.reg.metrics().protocol_error("sync_message_rejected");
                tracing::warn!(conn = id.0, doc = %self.id, error = %e, "sync message rejected by automerge");
                refuse(self.reg.as_ref(), &conn, self.id, format!("sync message rejected: {e}"));
                false
            }
            Err(_panic) => {
                self.reg.metrics().protocol_error("automerge_panic");
                tracing::error!(conn = id.0, doc = %self.id, "automerge panicked applying a sync message");
                refuse(self.reg.as_ref(), &conn, self.id, "internal error applying sync message".to_owned());
                *panicked = true;
                false
            }
        };
        Ok(reply)
    }

    /// A phone holding a list (inbox, grid index, medic index) with heads the server does
    /// not have holds a history the server replaced (an erasure rebuilds the lists that
    /// showed what it erased): phones never write lists. Automerge would merge the two
    /// histories on the phone, and the old rows would stay there. The phone is told, as a
    /// refusal naming those heads, to drop its copy and fetch the list again; its changes
    /// to the list are not taken this session.
    fn tell_if_stale_list(&self, conn: &ConnHandle, peer: &mut Peer, message: &sync::Message) {
        let Some(doc) = self.doc.as_ref() else { return };
        if peer.state.read_only || !is_server_list(doc) {
            return;
        }
        let unknown: Vec<ChangeHash> = message
            .heads
            .iter()
            .copied()
            .filter(|h| automerge::ReadDoc::get_change_by_hash(doc, h).is_none())
            .collect();
        if unknown.is_empty() {
            return;
        }
        self.reg.metrics().changes_refused.get_or_create(&crate::metrics::CodeLabel { code: "stale_list" }).inc();
        tracing::info!(conn = conn.id().0, doc = %self.id, "a phone holds a list history the server replaced");
        send_rejected(self.reg.as_ref(), conn, self.id, STALE_LIST, &unknown);
        peer.state.read_only = true;
    }

    /// A sync message whose changes would inflate beyond the limits is refused before
    /// Automerge reads them: the sender is told (naming its heads, as the changes cannot be
    /// read), the quarantine keeps who, when and why, and this peer's changes to the
    /// document are not taken again until it reconnects. A message this reader cannot even
    /// parse is corrupt: the connection closes, as for any corrupt sync message.
    async fn refuse_unread(
        &mut self,
        conn: &ConnHandle,
        data: &[u8],
        message: &sync::Message,
        error: linli_shared::inflate::InflateError,
    ) -> Result<bool, StoreError> {
        if matches!(error, linli_shared::inflate::InflateError::Malformed(_)) {
            self.reg.metrics().protocol_error("corrupt_sync_message");
            tracing::warn!(conn = conn.id().0, doc = %self.id, error = %error, "corrupt chunk in a sync message");
            refuse(self.reg.as_ref(), conn, self.id, format!("corrupt sync message: {error}"));
            self.peers.remove(&conn.id());
            return Ok(false);
        }
        let refusal = Refusal { code: "too_big", reason: error.to_string() };
        self.reg.metrics().changes_refused.get_or_create(&crate::metrics::CodeLabel { code: refusal.code }).inc();
        tracing::warn!(conn = conn.id().0, doc = %self.id, error = %error, "sync message refused before inflating it");
        self.reg.gate().refused_unread(conn, self.id, &refusal, data).await?;
        let unknown: Vec<ChangeHash> = match self.doc.as_ref() {
            Some(doc) => message
                .heads
                .iter()
                .copied()
                .filter(|h| automerge::ReadDoc::get_change_by_hash(doc, h).is_none())
                .collect(),
            None => message.heads.clone(),
        };
        send_rejected(self.reg.as_ref(), conn, self.id, &refusal.reason, &unknown);
        self.peers.entry(conn.id()).or_insert_with(|| Peer::new(conn.clone())).state.read_only = true;
        Ok(true)
    }

    /// The heart of [`DocActor::apply_sync`]: merges a message without changes, or applies
    /// one with changes to a fork and asks the gate.
    #[allow(clippy::type_complexity)]
    async fn apply_to_fork(
        &mut self,
        conn: &ConnHandle,
        peer: &mut Peer,
        message: sync::Message,
    ) -> Result<std::thread::Result<Result<Applied, automerge::AutomergeError>>, StoreError> {
        let Some(doc) = self.doc.as_mut() else { return Ok(Ok(Ok(Applied::Merged(0)))) };
        if message.changes.is_empty() || peer.state.read_only {
            // Nothing to merge (or a peer whose changes we no longer take this session).
            return Ok(std::panic::catch_unwind(AssertUnwindSafe(|| {
                doc.receive_sync_message(&mut peer.state, message)
            }))
            .map(|r| r.map(|()| Applied::Merged(0))));
        }
        let before_heads = doc.get_heads();
        let saved_state = peer.state.clone();
        let mut fork = doc.clone();
        let applied =
            std::panic::catch_unwind(AssertUnwindSafe(|| fork.receive_sync_message(&mut peer.state, message)));
        match applied {
            Ok(Ok(())) if fork.get_heads() == before_heads => {
                // Nothing applied, but Automerge may be holding changes whose dependencies
                // have not arrived yet (it asks for them by hash). Keep them: the sender
                // will not send them again this session. They are checked together with
                // their dependencies when those arrive.
                *doc = fork;
                Ok(Ok(Ok(Applied::Merged(0))))
            }
            Ok(Ok(())) => {
                let changes = fork.get_changes(&before_heads);
                let before: &Automerge = doc;
                let incoming = Incoming { conn, doc: self.id, before, after: &fork, changes: &changes };
                match self.reg.gate().check(&incoming).await {
                    Ok(()) => {
                        let n = changes.len();
                        self.doc = Some(fork);
                        Ok(Ok(Ok(Applied::Merged(n))))
                    }
                    Err(GateError::Refused(refusal)) => {
                        self.reg.gate().refused(&incoming, &refusal).await?;
                        let hashes: Vec<ChangeHash> = changes.iter().map(|c| c.hash()).collect();
                        // Forget the refused message, and take no more changes from this
                        // peer for this document until it reconnects: it will recover the
                        // server's copy (the `rejected` message tells it so).
                        peer.state = saved_state;
                        peer.state.read_only = true;
                        Ok(Ok(Ok(Applied::Refused(refusal, hashes))))
                    }
                    Err(GateError::Deferred(deferral)) => {
                        tracing::info!(
                            conn = conn.id().0, doc = %self.id, waits_for = %deferral.waits_for,
                            reason = %deferral.reason, "changes deferred"
                        );
                        // Forget the message and take no changes from this peer until it is
                        // asked to send them again (it considers them sent).
                        peer.state = saved_state;
                        peer.state.read_only = true;
                        peer.state.in_flight = false;
                        peer.deferred = true;
                        self.reg.defer(self.id, deferral.waits_for);
                        Ok(Ok(Ok(Applied::Deferred)))
                    }
                    Err(GateError::Store(e)) => {
                        // Undecided: forget the message; the peer offers it again later.
                        peer.state = saved_state;
                        Err(e)
                    }
                }
            }
            other => Ok(other.map(|r| r.map(|()| Applied::Merged(0)))),
        }
    }

    /// Relays a peer's ephemeral message to the document's other peers. Only a peer that
    /// may read the document may send on it (its other peers all may: they are dropped as
    /// soon as they may not), and never the server's own `linli` key.
    async fn relay_ephemeral(
        &mut self,
        from: &ConnHandle,
        session_id: String,
        count: u64,
        data: Vec<u8>,
    ) -> Result<(), StoreError> {
        let Some(doc) = self.doc.as_ref().filter(|d| !d.get_heads().is_empty()) else {
            // Nothing to read, so nobody to relay to: a missing document is not revealed.
            return Ok(());
        };
        if !self.peers.contains_key(&from.id()) && !self.reg.gate().may_read(from, self.id, doc).await? {
            self.reg.metrics().protocol_error("ephemeral_denied");
            return Ok(());
        }
        if let Err(e) = linli_shared::check_peer_ephemeral(&data) {
            self.reg.metrics().protocol_error("ephemeral_refused");
            tracing::info!(conn = from.id().0, doc = %self.id, error = %e, "ephemeral message dropped");
            return Ok(());
        }
        let key = (from.peer().clone(), session_id);
        if self.ephemeral_seen.get(&key).is_some_and(|&seen| count <= seen) {
            return Ok(());
        }
        if self.ephemeral_seen.len() >= MAX_EPHEMERAL_SESSIONS {
            self.ephemeral_seen.clear();
        }
        let session_id = key.1.clone();
        self.ephemeral_seen.insert(key, count);
        for peer in self.peers.values().filter(|p| p.conn.id() != from.id()) {
            peer.conn.send(Message::Ephemeral {
                sender_id: from.peer().clone(),
                target_id: peer.conn.peer().clone(),
                document_id: self.id,
                session_id: session_id.clone(),
                count,
                data: data.clone(),
            });
        }
        Ok(())
    }

    /// Writes the changes made since `old_heads` as one durable chunk, with what the gate
    /// wants committed with it (the contributors' audit entries…).
    async fn persist(
        &mut self,
        old_heads: &[ChangeHash],
        contributors: &[(ConnHandle, usize)],
    ) -> Result<(), StoreError> {
        let Some(doc) = self.doc.as_ref() else { return Ok(()) };
        let new_changes = doc.get_changes(old_heads).len() as u64;
        let bytes = doc.save_after(old_heads);
        let key = ChunkKey::incremental(self.id, &bytes);
        let mut batch = vec![Write::Chunk { doc: self.id, bytes }];
        for (conn, n) in contributors {
            batch.extend(self.reg.gate().accepted_writes(conn, self.id, *n));
        }
        self.reg.store().commit(batch).await?;
        self.chunks.push(key);
        self.reg.metrics().changes_accepted.inc_by(new_changes);
        if self.chunks.len() > self.reg.actor_settings().compact_after_chunks {
            self.compact().await?;
        }
        Ok(())
    }

    /// Replaces the document's chunks by one snapshot. A document that cannot be saved
    /// keeps its chunks; a store that fails is a storage failure like any other.
    async fn compact(&mut self) -> Result<(), StoreError> {
        let Some(doc) = self.doc.as_ref() else { return Ok(()) };
        let heads = doc.get_heads();
        let snapshot = doc.save();
        let covers = self.chunks.clone();
        self.reg.store().commit(vec![Write::Compact { doc: self.id, heads: heads.clone(), snapshot, covers }]).await?;
        self.chunks = vec![ChunkKey::snapshot(self.id, &heads)];
        self.reg.metrics().compactions.inc();
        Ok(())
    }

    async fn reload(&mut self) -> Result<(), StoreError> {
        let (doc, chunks) = load(self.reg.as_ref(), self.id).await?;
        self.doc = doc;
        self.chunks = chunks;
        for peer in self.peers.values_mut() {
            peer.restart_sync();
        }
        Ok(())
    }

    /// Generates and sends the reply of every touched peer.
    ///
    /// Automerge assumes a reply follows every message. When a message carries no changes
    /// and the sender's heads equal ours, `receive_sync_message` records those heads as
    /// "last sent" to the sender, so no reply is made. In a batch that is wrong: if the
    /// sender's own changes were merged by an earlier message of the same batch, our heads
    /// equal its heads only because of them, and it was never told; it would wait for
    /// the acknowledgement forever (a phone showing "1 change waiting"). So before
    /// generating, "last sent" is put back to what this peer was really sent.
    fn reply(&mut self, touched: &[ConnId]) {
        let server = self.reg.server_peer().clone();
        for id in touched {
            let Some(peer) = self.peers.get_mut(id) else { continue };
            let doc = match self.doc.as_ref() {
                Some(doc) if !(peer.asked_while_empty && doc.get_heads().is_empty()) => doc,
                _ => {
                    peer.conn.send(Message::DocUnavailable {
                        sender_id: server.clone(),
                        target_id: peer.conn.peer().clone(),
                        document_id: self.id,
                    });
                    continue;
                }
            };
            peer.asked_while_empty = false;
            peer.state.last_sent_heads.clone_from(&peer.told_heads);
            if let Some(msg) = doc.generate_sync_message(&mut peer.state) {
                peer.told_heads.clone_from(&peer.state.last_sent_heads);
                peer.conn.send(Message::Sync {
                    sender_id: server.clone(),
                    target_id: peer.conn.peer().clone(),
                    document_id: self.id,
                    data: msg.encode(),
                });
            }
        }
    }
}

/// Tells a peer its changes were refused, as an `ephemeral` message on the document:
/// `{"linli": "rejected", "reason": …, "changes": [hex hashes]}` (DESIGN §4).
fn send_rejected(reg: &dyn Registry, conn: &ConnHandle, doc: DocumentId, reason: &str, hashes: &[ChangeHash]) {
    let mut data = Vec::new();
    let mut enc = minicbor::Encoder::new(&mut data);
    let written = (|| -> Result<(), minicbor::encode::Error<std::convert::Infallible>> {
        enc.map(3)?.str("linli")?.str("rejected")?.str("reason")?.str(reason)?.str("changes")?;
        enc.array(hashes.len() as u64)?;
        for h in hashes {
            enc.str(&h.to_string())?;
        }
        Ok(())
    })();
    if written.is_err() {
        return;
    }
    let (session_id, count) = reg.ephemeral_session();
    conn.send(Message::Ephemeral {
        sender_id: reg.server_peer().clone(),
        target_id: conn.peer().clone(),
        document_id: doc,
        session_id: session_id.to_owned(),
        count,
        data,
    });
}

/// Tells a peer its message was refused, then closes its connection: a peer that sends
/// unreadable sync data is broken, and resyncing from scratch is the only safe recovery.
fn refuse(reg: &dyn Registry, conn: &ConnHandle, doc: DocumentId, reason: String) {
    reg.metrics().changes_refused.get_or_create(&crate::metrics::CodeLabel { code: "bad_sync_message" }).inc();
    conn.send(Message::Error {
        sender_id: reg.server_peer().clone(),
        target_id: conn.peer().clone(),
        message: format!("{reason} (document {doc})"),
    });
    conn.close(reason);
}
