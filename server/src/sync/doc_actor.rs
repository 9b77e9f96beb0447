//! The actor that owns one open document: the only writer of its in-memory Automerge
//! state and of its chunks in the store.
//!
//! Messages are taken in batches: every sync message queued for the document is applied,
//! the new changes are written as **one** chunk and made durable (the store's group commit
//! shares that fsync with other documents), and only then are replies generated. That
//! ordering is the durability contract of DESIGN §2: no reply carries heads that are not
//! on disk, so a `kill -9` can never lose an acknowledged change.

use super::conn::{ConnHandle, ConnId};
use super::gate::{Incoming, Refusal};
use super::hub::{Hub, Subscription};
use crate::store::ChunkKey;
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
    /// indexes). The function returns whether it changed anything.
    ServerWrite { write: ServerWriteFn },
    /// Replaces the whole history by `snapshot` (retention): the old chunks are deleted.
    Replace { snapshot: Vec<u8> },
    /// Who may read this document may have changed: drop peers that no longer may.
    Recheck,
}

/// See [`DocCommand::ServerWrite`].
pub struct ServerWriteFn(pub Box<dyn FnOnce(&mut Automerge) -> bool + Send>);

impl std::fmt::Debug for ServerWriteFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerWriteFn")
    }
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
}

impl Peer {
    fn new(conn: ConnHandle) -> Self {
        Self::with_state(conn, sync::State::new())
    }

    fn with_state(conn: ConnHandle, state: sync::State) -> Self {
        Peer { conn, state, asked_while_empty: false, told_heads: Vec::new() }
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
fn parked(state: &sync::State) -> sync::State {
    sync::State {
        shared_heads: state.shared_heads.clone(),
        their_capabilities: state.their_capabilities.clone(),
        needs_reset: true,
        ..sync::State::new()
    }
}

struct DocActor {
    hub: Arc<Hub>,
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
}

/// What became of a sync message's changes.
enum Applied {
    Merged(usize),
    Refused(Refusal, Vec<ChangeHash>),
}

/// Bound on the ephemeral de-duplication table of one document.
const MAX_EPHEMERAL_SESSIONS: usize = 1024;

pub(crate) async fn run(
    hub: Arc<Hub>,
    id: DocumentId,
    mut rx: mpsc::UnboundedReceiver<DocCommand>,
    generation: Arc<tokio::sync::Mutex<()>>,
) {
    // Wait for a predecessor (evicted, still draining) so its last chunk is in the store
    // and its peers are parked; then take them over.
    let guard = generation.clone().lock_owned().await;
    let subscriptions = hub.take_dormant(id);
    let (doc, chunks) = load(&hub, id).await;
    let mut actor = DocActor {
        hub: hub.clone(),
        id,
        doc,
        chunks,
        peers: BTreeMap::new(),
        ephemeral_seen: HashMap::new(),
        contributors: Vec::new(),
    };
    actor.resume(subscriptions);
    let idle = hub.settings.doc_idle;
    loop {
        let first = match tokio::time::timeout(idle, rx.recv()).await {
            Ok(Some(cmd)) => cmd,
            // Evicted: our entry (and so the sender) is gone and the queue is drained.
            Ok(None) => break,
            Err(_elapsed) => {
                if hub.try_retire_idle(id, &generation, &rx) {
                    break;
                }
                continue;
            }
        };
        let mut batch = vec![first];
        while batch.len() < hub.settings.max_batch {
            match rx.try_recv() {
                Ok(cmd) => batch.push(cmd),
                Err(_) => break,
            }
        }
        actor.handle_batch(batch).await;
    }
    // Park our peers before a successor may start (it waits for the lock).
    hub.actor_exited(id, &generation, actor.into_subscriptions());
    drop(guard);
}

/// Loads a document from the store. A document that cannot be read is reported, counted
/// and served as unavailable; it is never overwritten.
async fn load(hub: &Arc<Hub>, id: DocumentId) -> (Option<Automerge>, Vec<ChunkKey>) {
    let store = hub.store.clone();
    let loaded = tokio::task::spawn_blocking(move || {
        let stored = store.load(&id)?;
        let keys: Vec<ChunkKey> = stored.chunks.iter().map(|(k, _)| *k).collect();
        let doc = std::panic::catch_unwind(AssertUnwindSafe(|| stored.to_automerge()));
        Ok::<_, crate::store::StoreError>((doc, keys))
    })
    .await;
    match loaded {
        Ok(Ok((Ok(Ok(doc)), keys))) => (Some(doc), keys),
        Ok(Ok((Ok(Err(e)), _))) => {
            hub.metrics.doc_load_errors.inc();
            tracing::error!(doc = %id, error = %e, "stored document is unreadable");
            (None, Vec::new())
        }
        Ok(Ok((Err(_panic), _))) => {
            hub.metrics.doc_load_errors.inc();
            tracing::error!(doc = %id, "automerge panicked while loading a stored document");
            (None, Vec::new())
        }
        Ok(Err(e)) => {
            hub.metrics.doc_load_errors.inc();
            tracing::error!(doc = %id, error = %e, "could not read document from the store");
            (None, Vec::new())
        }
        Err(e) => {
            hub.metrics.doc_load_errors.inc();
            tracing::error!(doc = %id, error = %e, "document load task failed");
            (None, Vec::new())
        }
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

    async fn handle_batch(&mut self, batch: Vec<DocCommand>) {
        let old_heads = self.heads();
        let mut touched: Vec<ConnId> = Vec::new();
        let mut panicked = false;
        let mut recheck = false;
        for cmd in batch {
            match cmd {
                DocCommand::Sync { conn, data, request } => {
                    if self.apply_sync(conn.clone(), &data, request, &mut panicked) {
                        touched.push(conn.id());
                    }
                }
                DocCommand::Ephemeral { conn, session_id, count, data } => {
                    self.relay_ephemeral(&conn, session_id, count, data);
                }
                DocCommand::Leave { conn } => {
                    self.peers.remove(&conn);
                }
                DocCommand::Resume { subscriptions } => {
                    let ids: Vec<_> = subscriptions.iter().map(|s| s.conn.id()).collect();
                    self.resume(subscriptions);
                    touched.extend(ids);
                }
                DocCommand::ServerWrite { write } => {
                    if let Some(doc) = self.doc.as_mut() {
                        doc.set_actor(self.hub.server_actor().clone());
                        if std::panic::catch_unwind(AssertUnwindSafe(|| (write.0)(doc))).is_err() {
                            tracing::error!(doc = %self.id, "a server write panicked");
                            panicked = true;
                        }
                    }
                }
                DocCommand::Replace { snapshot } => {
                    self.replace(snapshot).await;
                    touched = self.peers.keys().copied().collect();
                }
                DocCommand::Recheck => recheck = true,
            }
        }
        if panicked {
            // The in-memory document may be half-updated: go back to what is on disk and
            // start every peer's sync afresh (nothing unsaved was ever acknowledged).
            self.reload().await;
            touched = self.peers.keys().copied().collect();
        }
        let new_heads = self.heads();
        let contributors = std::mem::take(&mut self.contributors);
        let changed = new_heads != old_heads;
        if changed {
            if self.persist(&old_heads).await {
                touched = self.peers.keys().copied().collect();
                if let Some(doc) = self.doc.as_ref() {
                    for (conn, n) in &contributors {
                        self.hub.gate.accepted(conn, self.id, *n, doc);
                    }
                }
            } else {
                self.reload().await;
                touched = self.peers.keys().copied().collect();
            }
        }
        // Reply first: a change that ends the sender's own access (a volunteer delivering
        // their task) must still be acknowledged to them.
        self.reply(&touched);
        if changed || recheck {
            self.drop_unauthorised_readers();
        }
    }

    /// After a change of assignment, a peer that may no longer read the document stops
    /// receiving it (it is told the document is unavailable).
    fn drop_unauthorised_readers(&mut self) {
        let Some(doc) = self.doc.as_ref() else { return };
        if doc.get_heads().is_empty() {
            return;
        }
        let denied: Vec<ConnId> = self
            .peers
            .values()
            .filter(|p| !self.hub.gate.may_read(&p.conn, self.id, doc))
            .map(|p| p.conn.id())
            .collect();
        for id in denied {
            if let Some(peer) = self.peers.remove(&id) {
                peer.conn.send(Message::DocUnavailable {
                    sender_id: self.hub.server_peer().clone(),
                    target_id: peer.conn.peer().clone(),
                    document_id: self.id,
                });
            }
        }
    }

    /// Retention: the document becomes `snapshot`, a new history; every old chunk goes.
    async fn replace(&mut self, snapshot: Vec<u8>) {
        let doc = match Automerge::load(&snapshot) {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(doc = %self.id, error = %e, "replacement snapshot does not load");
                return;
            }
        };
        let heads = doc.get_heads();
        let store = self.hub.store.clone();
        let id = self.id;
        // Everything stored for the document, not only what this actor loaded.
        let done = tokio::task::spawn_blocking(move || {
            let covered: Vec<ChunkKey> = store.load(&id)?.chunks.into_iter().map(|(k, _)| k).collect();
            store.compact(&id, &heads, &snapshot, &covered)
        })
        .await;
        match done {
            Ok(Ok(key)) => {
                self.doc = Some(doc);
                self.chunks = vec![key];
                for peer in self.peers.values_mut() {
                    peer.restart_sync();
                }
            }
            Ok(Err(e)) => tracing::error!(doc = %self.id, error = %e, "could not replace document"),
            Err(e) => tracing::error!(doc = %self.id, error = %e, "replace task failed"),
        }
    }

    /// Applies one sync message. Returns whether the peer should get a reply.
    ///
    /// A message that carries changes is applied to a fork first; the gate sees the
    /// fork and the new changes, and only an accepted fork replaces the document.
    fn apply_sync(&mut self, conn: ConnHandle, data: &[u8], request: bool, panicked: &mut bool) -> bool {
        let id = conn.id();
        let Some(doc) = self.doc.as_mut() else {
            // Unreadable document: answer as if we did not have it.
            self.peers.entry(id).or_insert_with(|| Peer::new(conn.clone())).asked_while_empty = true;
            return true;
        };
        if !self.peers.contains_key(&id) && !doc.get_heads().is_empty() && !self.hub.gate.may_read(&conn, self.id, doc)
        {
            // Existence is not revealed: a document one may not read looks like a missing one.
            self.hub.metrics.protocol_error("read_denied");
            conn.send(Message::DocUnavailable {
                sender_id: self.hub.server_peer().clone(),
                target_id: conn.peer().clone(),
                document_id: self.id,
            });
            return false;
        }
        let peer = self.peers.entry(id).or_insert_with(|| Peer::new(conn.clone()));
        let message = match sync::Message::decode(data) {
            Ok(m) => m,
            Err(e) => {
                self.hub.metrics.protocol_error("corrupt_sync_message");
                tracing::warn!(conn = id.0, doc = %self.id, error = %e, "corrupt sync message");
                refuse(&self.hub, &conn, self.id, format!("corrupt sync message: {e}"));
                self.peers.remove(&id);
                return false;
            }
        };
        let outcome = if message.changes.is_empty() || peer.state.read_only {
            // Nothing to merge (or a peer whose changes we no longer take this session).
            std::panic::catch_unwind(AssertUnwindSafe(|| doc.receive_sync_message(&mut peer.state, message)))
                .map(|r| r.map(|()| Applied::Merged(0)))
        } else {
            let before_heads = doc.get_heads();
            let saved_state = peer.state.clone();
            let mut fork = doc.clone();
            let applied =
                std::panic::catch_unwind(AssertUnwindSafe(|| fork.receive_sync_message(&mut peer.state, message)));
            match applied {
                Ok(Ok(())) if fork.get_heads() == before_heads => {
                    // Nothing applied, but Automerge may be holding changes whose
                    // dependencies have not arrived yet (it asks for them by hash). Keep
                    // them: the sender will not send them again this session. They are
                    // checked together with their dependencies when those arrive.
                    *doc = fork;
                    Ok(Ok(Applied::Merged(0)))
                }
                Ok(Ok(())) => {
                    let changes = fork.get_changes(&before_heads);
                    let incoming = Incoming { conn: &conn, doc: self.id, before: doc, after: &fork, changes: &changes };
                    match self.hub.gate.check(&incoming) {
                        Ok(()) => {
                            let n = changes.len();
                            *doc = fork;
                            Ok(Ok(Applied::Merged(n)))
                        }
                        Err(refusal) => {
                            self.hub.gate.refused(&incoming, &refusal);
                            let hashes: Vec<ChangeHash> = changes.iter().map(|c| c.hash()).collect();
                            // Forget the refused message, and take no more changes from this
                            // peer for this document until it reconnects: it will recover
                            // the server's copy (the `rejected` message tells it so).
                            peer.state = saved_state;
                            peer.state.read_only = true;
                            Ok(Ok(Applied::Refused(refusal, hashes)))
                        }
                    }
                }
                other => other.map(|r| r.map(|()| Applied::Merged(0))),
            }
        };
        match outcome {
            Ok(Ok(Applied::Merged(n))) => {
                if n > 0 {
                    self.contributors.push((conn.clone(), n));
                }
                peer.asked_while_empty = request && doc.get_heads().is_empty();
                true
            }
            Ok(Ok(Applied::Refused(refusal, hashes))) => {
                self.hub.metrics.changes_refused.get_or_create(&crate::metrics::CodeLabel { code: refusal.code }).inc();
                tracing::info!(conn = id.0, doc = %self.id, code = refusal.code, "changes refused");
                send_rejected(&self.hub, &conn, self.id, &refusal.reason, &hashes);
                true
            }
            Ok(Err(e)) => {
                self.hub.metrics.protocol_error("sync_message_rejected");
                tracing::warn!(conn = id.0, doc = %self.id, error = %e, "sync message rejected by automerge");
                refuse(&self.hub, &conn, self.id, format!("sync message rejected: {e}"));
                self.peers.remove(&id);
                false
            }
            Err(_panic) => {
                self.hub.metrics.protocol_error("automerge_panic");
                tracing::error!(conn = id.0, doc = %self.id, "automerge panicked applying a sync message");
                refuse(&self.hub, &conn, self.id, "internal error applying sync message".to_owned());
                self.peers.remove(&id);
                *panicked = true;
                false
            }
        }
    }

    fn relay_ephemeral(&mut self, from: &ConnHandle, session_id: String, count: u64, data: Vec<u8>) {
        let key = (from.peer().clone(), session_id);
        if self.ephemeral_seen.get(&key).is_some_and(|&seen| count <= seen) {
            return;
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
    }

    /// Writes the changes made since `old_heads` as one durable chunk. Returns false if the
    /// store refused it (the changes are then not acknowledged).
    async fn persist(&mut self, old_heads: &[ChangeHash]) -> bool {
        let Some(doc) = self.doc.as_ref() else { return false };
        let new_changes = doc.get_changes(old_heads).len() as u64;
        let bytes = doc.save_after(old_heads);
        let store = self.hub.store.clone();
        let id = self.id;
        let written = tokio::task::spawn_blocking(move || store.put_chunk(&id, &bytes)).await;
        match written {
            Ok(Ok(key)) => {
                self.chunks.push(key);
                self.hub.metrics.changes_accepted.inc_by(new_changes);
                if self.chunks.len() > self.hub.settings.compact_after_chunks {
                    self.compact().await;
                }
                true
            }
            Ok(Err(e)) => {
                self.hub.metrics.store_errors.inc();
                tracing::error!(doc = %self.id, error = %e, "could not store changes; they are not acknowledged");
                false
            }
            Err(e) => {
                self.hub.metrics.store_errors.inc();
                tracing::error!(doc = %self.id, error = %e, "store task failed");
                false
            }
        }
    }

    /// Replaces the document's chunks by one snapshot. Failure is harmless: the chunks stay.
    async fn compact(&mut self) {
        let Some(doc) = self.doc.as_ref() else { return };
        let heads = doc.get_heads();
        let snapshot = doc.save();
        let covered = self.chunks.clone();
        let store = self.hub.store.clone();
        let id = self.id;
        let done = tokio::task::spawn_blocking(move || store.compact(&id, &heads, &snapshot, &covered)).await;
        match done {
            Ok(Ok(key)) => {
                self.chunks = vec![key];
                self.hub.metrics.compactions.inc();
            }
            Ok(Err(e)) => tracing::warn!(doc = %self.id, error = %e, "compaction failed; chunks kept"),
            Err(e) => tracing::warn!(doc = %self.id, error = %e, "compaction task failed; chunks kept"),
        }
    }

    async fn reload(&mut self) {
        let (doc, chunks) = load(&self.hub, self.id).await;
        self.doc = doc;
        self.chunks = chunks;
        for peer in self.peers.values_mut() {
            peer.restart_sync();
        }
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
        let server = self.hub.server_peer().clone();
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
fn send_rejected(hub: &Hub, conn: &ConnHandle, doc: DocumentId, reason: &str, hashes: &[ChangeHash]) {
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
    conn.send(Message::Ephemeral {
        sender_id: hub.server_peer().clone(),
        target_id: conn.peer().clone(),
        document_id: doc,
        session_id: hub.session_id().to_owned(),
        count: hub.next_ephemeral_count(),
        data,
    });
}

/// Tells a peer its message was refused, then closes its connection: a peer that sends
/// unreadable sync data is broken, and resyncing from scratch is the only safe recovery.
fn refuse(hub: &Hub, conn: &ConnHandle, doc: DocumentId, reason: String) {
    hub.metrics.changes_refused.get_or_create(&crate::metrics::CodeLabel { code: "bad_sync_message" }).inc();
    conn.send(Message::Error {
        sender_id: hub.server_peer().clone(),
        target_id: conn.peer().clone(),
        message: format!("{reason} (document {doc})"),
    });
    conn.close(reason);
}
