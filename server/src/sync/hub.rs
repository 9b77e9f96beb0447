//! The sync hub: routes each document's messages to that document's actor, keeps the set
//! of live connections, and bounds how many documents are held in memory.
//!
//! One actor per open document is the single writer of that document, so no lock is held
//! while Automerge works. The hub's own lock guards only maps and is never held across an
//! `.await`.
//!
//! Eviction: when more than `max_docs_in_memory` documents are open, the least recently
//! used one is retired (an idle one retires itself). Its actor finishes the messages
//! already queued, hands the peers it was syncing with back to the hub as *dormant
//! subscriptions* (their shared heads, and a request to restart their sync), and only then
//! releases the document's generation lock. The next message for that document starts a
//! fresh actor, which waits for that lock, takes the dormant subscriptions, and reloads
//! from the store; so a phone that stays connected still receives every later change, and
//! no actor serves the document before it knows who is subscribed.
//!
//! Storage failure: when an actor finds the store failing, the hub stops all sync. Every
//! connection gets an `error` message and is closed, every document leaves memory (an
//! actor may hold merged changes that are not on disk), and new connections are refused
//! with 503 until the store recovers (the watch started by [`Hub::watch_store`] retries).
//! Phones keep their changes and offer them again when they reconnect.

use super::conn::{ConnHandle, ConnId};
use super::doc_actor::{self, ActorSettings, DocCommand, Registry, Subscription};
use super::gate::Gate;
use crate::metrics::Metrics;
use crate::store::{Health, SharedEngine, StoreError};
use linli_shared::{DocumentId, PeerId};
use lru::LruCache;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Limits and timings of the hub. Every field is a setting (see `config`).
#[derive(Debug, Clone)]
pub struct HubSettings {
    pub max_docs_in_memory: usize,
    pub actors: ActorSettings,
    pub max_connections_per_user: usize,
    /// Sync connections in all, at most.
    pub max_connections: usize,
    /// While the store fails, how often the hub tries to bring it back.
    pub store_retry: Duration,
}

impl Default for HubSettings {
    fn default() -> Self {
        HubSettings {
            max_docs_in_memory: 10_000,
            actors: ActorSettings::default(),
            max_connections_per_user: 16,
            max_connections: 10_000,
            store_retry: Duration::from_secs(2),
        }
    }
}

/// How many sync connections the open-files limit leaves room for: each costs two
/// descriptors, and 512 are kept for the store, the HTTP API and logs.
pub fn connections_the_fd_limit_allows() -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current.unwrap_or(1 << 20);
    usize::try_from(limit.saturating_sub(512) / 2).unwrap_or(usize::MAX).max(64)
}

/// What every phone is told while the store fails.
pub const STORE_DOWN: &str =
    "the server cannot store changes right now; your changes stay on your phone and sync when it is back";

/// The server's Automerge actor id: derived from its peer id, so it is stable across
/// restarts of one store and distinct between stores.
pub fn server_actor_for(server_peer: &[u8]) -> automerge::ActorId {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(server_peer);
    automerge::ActorId::from(&digest[..16])
}

#[derive(Debug)]
struct DocEntry {
    tx: mpsc::UnboundedSender<DocCommand>,
    /// Held by the actor while it runs, so a successor waits for its predecessor.
    generation: Arc<tokio::sync::Mutex<()>>,
}

/// What a connection was authenticated with: its token, and the login that token belongs
/// to. Ending either closes the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenIds {
    /// The token's `jti`.
    pub token: String,
    /// The token's `sid` (the login).
    pub session: String,
}

#[derive(Debug)]
struct ConnInfo {
    handle: ConnHandle,
    ids: TokenIds,
}

/// A connection that has not joined yet: it can still be closed by revocation.
#[derive(Debug)]
struct Pending {
    user: String,
    ids: TokenIds,
    close: tokio_util::sync::CancellationToken,
    reason: Option<String>,
}

#[derive(Debug)]
struct Maps {
    pending: HashMap<ConnId, Pending>,
    docs: LruCache<DocumentId, DocEntry>,
    retiring: HashMap<DocumentId, Arc<tokio::sync::Mutex<()>>>,
    dormant: HashMap<DocumentId, Vec<Subscription>>,
    conns: HashMap<ConnId, ConnInfo>,
    peers: HashMap<(String, PeerId), ConnId>,
    /// Documents with deferred changes, by the document they wait for.
    waiting: HashMap<DocumentId, std::collections::HashSet<DocumentId>>,
    /// Documents with a retry timer running.
    retrying: std::collections::HashSet<DocumentId>,
}

/// See the module docs.
#[derive(Debug)]
pub struct Hub {
    pub(crate) store: SharedEngine,
    pub(crate) settings: HubSettings,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) server_peer: PeerId,
    pub(crate) gate: Arc<dyn Gate>,
    server_actor: automerge::ActorId,
    /// Document actors run here (the multi-threaded runtime the hub was built on), not on
    /// the HTTP workers' single-threaded runtimes, so Automerge work never delays a
    /// WebSocket handshake or a ping.
    runtime: tokio::runtime::Handle,
    maps: Mutex<Maps>,
    next_conn: AtomicU64,
    /// The server's own ephemeral session (for `rejected` messages) and its counter.
    session_id: String,
    ephemeral_count: AtomicU64,
    /// Why the store is failing, while it is: no sync until it recovers.
    store_down: Mutex<Option<String>>,
    /// This hub, for the timers it starts from `&self` (retries of deferred changes).
    me: std::sync::Weak<Hub>,
}

/// Why a new connection was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("too many connections for this user (limit {0})")]
    TooManyConnections(usize),
    #[error("{STORE_DOWN}")]
    StoreDown,
    #[error("the server has as many connections as it can hold ({0}); try again in a moment")]
    ServerFull(usize),
}

impl Hub {
    /// Must be called inside a tokio runtime: the document actors will run on it.
    pub fn new(
        store: SharedEngine,
        settings: HubSettings,
        metrics: Arc<Metrics>,
        server_peer: PeerId,
        gate: Arc<dyn Gate>,
    ) -> Arc<Self> {
        let server_peer_bytes = server_peer.as_str().as_bytes().to_vec();
        Arc::new_cyclic(|me| Hub {
            me: me.clone(),
            store,
            settings,
            metrics,
            server_peer,
            gate,
            server_actor: server_actor_for(&server_peer_bytes),
            runtime: tokio::runtime::Handle::current(),
            session_id: uuid::Uuid::new_v4().simple().to_string(),
            ephemeral_count: AtomicU64::new(1),
            maps: Mutex::new(Maps {
                pending: HashMap::new(),
                docs: LruCache::unbounded(),
                retiring: HashMap::new(),
                dormant: HashMap::new(),
                conns: HashMap::new(),
                peers: HashMap::new(),
                waiting: HashMap::new(),
                retrying: std::collections::HashSet::new(),
            }),
            next_conn: AtomicU64::new(1),
            store_down: Mutex::new(None),
        })
    }

    pub fn server_peer(&self) -> &PeerId {
        &self.server_peer
    }

    fn myself(&self) -> Option<Arc<Hub>> {
        self.me.upgrade()
    }

    /// The Automerge actor the server writes as (stable for a store).
    pub fn server_actor(&self) -> &automerge::ActorId {
        &self.server_actor
    }

    /// Asks a loaded document to re-check who may read it (not loading it if it is not).
    pub fn recheck(&self, doc: DocumentId) {
        let maps = self.maps.lock();
        if let Some(entry) = maps.docs.peek(&doc) {
            let _ = entry.tx.send(DocCommand::Recheck);
        }
    }

    pub fn session_id(&self) -> &str {
        &self.session_id
    }

    pub fn next_ephemeral_count(&self) -> u64 {
        self.ephemeral_count.fetch_add(1, Ordering::Relaxed)
    }

    pub fn next_conn_id(&self) -> ConnId {
        ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed))
    }

    /// Checks the per-user connection limit, and that the store works, before an upgrade.
    pub fn may_connect(&self, user: &str) -> Result<(), ConnectError> {
        if self.store_down.lock().is_some() {
            return Err(ConnectError::StoreDown);
        }
        let maps = self.maps.lock();
        if maps.conns.len() + maps.pending.len() >= self.settings.max_connections {
            return Err(ConnectError::ServerFull(self.settings.max_connections));
        }
        let n = maps.conns.values().filter(|c| c.handle.user() == user).count()
            + maps.pending.values().filter(|p| p.user == user).count();
        if n >= self.settings.max_connections_per_user {
            return Err(ConnectError::TooManyConnections(self.settings.max_connections_per_user));
        }
        Ok(())
    }

    /// Registers a connection that has not joined yet.
    pub fn register_pending(&self, id: ConnId, user: &str, ids: &TokenIds, close: tokio_util::sync::CancellationToken) {
        self.maps.lock().pending.insert(id, Pending { user: user.to_owned(), ids: ids.clone(), close, reason: None });
    }

    pub fn unregister_pending(&self, id: ConnId) {
        self.maps.lock().pending.remove(&id);
    }

    pub fn pending_reason(&self, id: ConnId) -> Option<String> {
        self.maps.lock().pending.get(&id).and_then(|p| p.reason.clone())
    }

    /// Registers a joined connection. A connection of the same user with the same peer id
    /// is replaced: it is closed, and its sync states go with it.
    pub fn register(&self, conn: &ConnHandle, ids: &TokenIds) {
        let replaced = {
            let mut maps = self.maps.lock();
            maps.pending.remove(&conn.id());
            maps.conns.insert(conn.id(), ConnInfo { handle: conn.clone(), ids: ids.clone() });
            let old = maps.peers.insert((conn.user().to_owned(), conn.peer().clone()), conn.id());
            old.and_then(|id| maps.conns.get(&id).map(|c| c.handle.clone()))
        };
        self.metrics.connections.set(self.connection_count() as i64);
        if let Some(old) = replaced.filter(|old| old.id() != conn.id()) {
            tracing::info!(conn = old.id().0, "peer rejoined; closing its previous connection");
            old.close("replaced by a new connection of the same peer");
        }
    }

    /// Forgets a closed connection and every sync state it had.
    pub fn unregister(&self, conn: &ConnHandle, docs: impl IntoIterator<Item = DocumentId>) {
        let mut maps = self.maps.lock();
        maps.conns.remove(&conn.id());
        let key = (conn.user().to_owned(), conn.peer().clone());
        if maps.peers.get(&key) == Some(&conn.id()) {
            maps.peers.remove(&key);
        }
        for doc in docs {
            if let Some(entry) = maps.docs.peek(&doc) {
                let _ = entry.tx.send(DocCommand::Leave { conn: conn.id() });
            }
            if let Some(subs) = maps.dormant.get_mut(&doc) {
                subs.retain(|s| s.conn.id() != conn.id());
                if subs.is_empty() {
                    maps.dormant.remove(&doc);
                }
            }
        }
        let n = maps.conns.len();
        drop(maps);
        self.metrics.connections.set(n as i64);
    }

    pub fn connection_count(&self) -> usize {
        self.maps.lock().conns.len()
    }

    /// Closes every connection authenticated by the token `jti` (revoked, or refreshed).
    pub fn close_token(&self, jti: &str, reason: &str) -> usize {
        self.close_where(reason, |_, ids| ids.token == jti)
    }

    /// Closes every connection of the login `sid`, whichever of its tokens opened it.
    pub fn close_session(&self, sid: &str, reason: &str) -> usize {
        self.close_where(reason, |_, ids| ids.session == sid)
    }

    /// Closes every connection of `user` (e.g. all sessions revoked).
    pub fn close_user(&self, user: &str, reason: &str) -> usize {
        self.close_where(reason, |u, _| u == user)
    }

    /// Closes every connection, joined or not, whose (user, token ids) match; how many.
    fn close_where(&self, reason: &str, matches: impl Fn(&str, &TokenIds) -> bool) -> usize {
        let mut maps = self.maps.lock();
        let mut closed = 0;
        for c in maps.conns.values().filter(|c| matches(c.handle.user(), &c.ids)) {
            c.handle.close(reason);
            closed += 1;
        }
        for p in maps.pending.values_mut().filter(|p| matches(&p.user, &p.ids)) {
            p.reason = Some(reason.to_owned());
            p.close.cancel();
            closed += 1;
        }
        closed
    }

    /// Sends `cmd` to the actor of `doc`, starting one if needed. While the store fails,
    /// nothing is started (a server write is told it was not stored).
    pub fn dispatch(self: &Arc<Self>, doc: DocumentId, cmd: DocCommand) {
        if self.store_down.lock().is_some() {
            if let DocCommand::ServerWrite { done: Some(done), .. } = cmd {
                let _ = done.send(false);
            }
            return;
        }
        let mut maps = self.maps.lock();
        let cmd = match maps.docs.get(&doc) {
            Some(entry) => match entry.tx.send(cmd) {
                Ok(()) => return,
                // The actor is gone (it exited on its own); start a new one below.
                Err(mpsc::error::SendError(cmd)) => {
                    maps.docs.pop(&doc);
                    cmd
                }
            },
            None => cmd,
        };
        while maps.docs.len() >= self.settings.max_docs_in_memory {
            let Some((old_id, old)) = maps.docs.pop_lru() else { break };
            // Dropping the entry drops the only sender: the actor drains its queue and exits.
            maps.retiring.insert(old_id, old.generation.clone());
            drop(old);
            self.metrics.evictions.inc();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let generation = maps.retiring.remove(&doc).unwrap_or_default();
        let _ = tx.send(cmd);
        maps.docs.put(doc, DocEntry { tx, generation: generation.clone() });
        self.metrics.docs_loaded.set(maps.docs.len() as i64);
        drop(maps);
        let registry: Arc<dyn Registry> = self.clone();
        self.runtime.spawn(doc_actor::run(registry, doc, rx, generation));
    }

    /// The subscriptions parked for `doc`, for the actor that now holds its generation lock.
    pub(crate) fn take_dormant(&self, doc: DocumentId) -> Vec<Subscription> {
        self.maps.lock().dormant.remove(&doc).unwrap_or_default()
    }

    /// Called by an idle actor: removes its entry if nothing is queued for it. Returns
    /// whether the actor may exit. Runs under the hub lock, so no message can slip in
    /// between the check and the removal.
    pub(crate) fn try_retire_idle(
        &self,
        doc: DocumentId,
        generation: &Arc<tokio::sync::Mutex<()>>,
        rx: &mpsc::UnboundedReceiver<DocCommand>,
    ) -> bool {
        let mut maps = self.maps.lock();
        let ours = maps.docs.peek(&doc).is_some_and(|e| Arc::ptr_eq(&e.generation, generation));
        if !ours {
            // Already evicted: the hub is waiting for us to drain and exit.
            return rx.is_empty();
        }
        if !rx.is_empty() {
            return false;
        }
        maps.docs.pop(&doc);
        // A successor started before we are gone must wait for our subscriptions.
        maps.retiring.insert(doc, generation.clone());
        self.metrics.docs_loaded.set(maps.docs.len() as i64);
        true
    }

    /// Called by an exiting actor: parks its subscriptions and forgets its generation lock.
    pub(crate) fn actor_exited(
        &self,
        doc: DocumentId,
        generation: &Arc<tokio::sync::Mutex<()>>,
        subscriptions: Vec<Subscription>,
    ) {
        let mut maps = self.maps.lock();
        if maps.retiring.get(&doc).is_some_and(|g| Arc::ptr_eq(g, generation)) {
            maps.retiring.remove(&doc);
        }
        let live: Vec<_> = subscriptions.into_iter().filter(|s| !s.conn.is_closed()).collect();
        if !live.is_empty() {
            match maps.docs.peek(&doc) {
                // A successor that does not wait for our generation lock is already
                // running: hand the subscriptions to it directly.
                Some(entry) if !Arc::ptr_eq(&entry.generation, generation) => {
                    let _ = entry.tx.send(DocCommand::Resume { subscriptions: live });
                }
                // Otherwise whoever takes the lock after us picks them up.
                _ => maps.dormant.entry(doc).or_default().extend(live),
            }
        }
        self.metrics.docs_loaded.set(maps.docs.len() as i64);
    }

    pub fn docs_in_memory(&self) -> usize {
        self.maps.lock().docs.len()
    }

    /// Why the store is failing, if it is.
    pub fn store_down(&self) -> Option<String> {
        self.store_down.lock().clone()
    }

    /// Stops all sync because the store failed (see the module docs).
    pub fn stop_sync(&self, reason: &str) {
        {
            let mut down = self.store_down.lock();
            if down.is_some() {
                return;
            }
            *down = Some(reason.to_owned());
        }
        self.metrics.store_up.set(0);
        tracing::error!(reason, "store failing: sync stopped until it recovers");
        self.close_all_and_evict();
    }

    fn close_all_and_evict(&self) {
        let mut maps = self.maps.lock();
        for c in maps.conns.values() {
            c.handle.send(linli_shared::Message::Error {
                sender_id: self.server_peer.clone(),
                target_id: c.handle.peer().clone(),
                message: STORE_DOWN.to_owned(),
            });
            c.handle.close(STORE_DOWN);
        }
        for p in maps.pending.values_mut() {
            p.reason = Some(STORE_DOWN.to_owned());
            p.close.cancel();
        }
        // Every actor drains its queue and exits; none of their memory is served again.
        while let Some((id, entry)) = maps.docs.pop_lru() {
            maps.retiring.insert(id, entry.generation.clone());
        }
        maps.dormant.clear();
        self.metrics.docs_loaded.set(0);
    }

    /// Sync resumes: the store works again.
    fn resume_sync(&self) {
        // Actors started while it failed (none should be) are dropped before phones return.
        self.close_all_and_evict();
        *self.store_down.lock() = None;
        self.metrics.store_up.set(1);
        tracing::info!("store recovered: sync resumes");
    }

    /// While the store fails, tries every `store_retry` to make it work again, and then
    /// resumes sync. Runs until the hub is dropped.
    pub fn watch_store(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let every = self.settings.store_retry;
        self.metrics.store_up.set(1);
        self.runtime.spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                let Some(hub) = weak.upgrade() else { break };
                let failing = match hub.store.health() {
                    Health::Failing(reason) => {
                        hub.stop_sync(&reason);
                        true
                    }
                    Health::Ok => hub.store_down().is_some(),
                };
                if failing {
                    match hub.store.recover().await {
                        Ok(()) => hub.resume_sync(),
                        Err(e) => tracing::warn!(error = %e, "the store is still failing"),
                    }
                }
            }
        });
    }
}

impl Registry for Hub {
    fn store(&self) -> &SharedEngine {
        &self.store
    }

    fn gate(&self) -> &dyn Gate {
        self.gate.as_ref()
    }

    fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    fn actor_settings(&self) -> &ActorSettings {
        &self.settings.actors
    }

    fn server_peer(&self) -> &PeerId {
        &self.server_peer
    }

    fn server_actor(&self) -> &automerge::ActorId {
        &self.server_actor
    }

    fn ephemeral_session(&self) -> (&str, u64) {
        (&self.session_id, self.next_ephemeral_count())
    }

    fn take_dormant(&self, doc: DocumentId) -> Vec<Subscription> {
        Hub::take_dormant(self, doc)
    }

    fn try_retire_idle(
        &self,
        doc: DocumentId,
        generation: &Arc<tokio::sync::Mutex<()>>,
        rx: &mpsc::UnboundedReceiver<DocCommand>,
    ) -> bool {
        Hub::try_retire_idle(self, doc, generation, rx)
    }

    fn actor_exited(
        &self,
        doc: DocumentId,
        generation: &Arc<tokio::sync::Mutex<()>>,
        subscriptions: Vec<Subscription>,
    ) {
        Hub::actor_exited(self, doc, generation, subscriptions)
    }

    fn store_failed(&self, error: &StoreError) {
        self.stop_sync(&error.to_string());
    }

    fn defer(&self, doc: DocumentId, waits_for: DocumentId) {
        let start_timer = {
            let mut maps = self.maps.lock();
            maps.waiting.entry(waits_for).or_default().insert(doc);
            maps.retrying.insert(doc)
        };
        if !start_timer {
            return;
        }
        let Some(hub) = self.myself() else { return };
        let after = self.settings.actors.reference_retry;
        self.runtime.spawn(async move {
            tokio::time::sleep(after).await;
            {
                // Forget what it waited for: if it still waits, it says so again.
                let mut maps = hub.maps.lock();
                maps.retrying.remove(&doc);
                maps.waiting.retain(|_, docs| {
                    docs.remove(&doc);
                    !docs.is_empty()
                });
            }
            hub.dispatch(doc, DocCommand::Retry);
        });
    }

    fn stored(&self, doc: DocumentId) {
        let waiting = {
            let mut maps = self.maps.lock();
            if maps.waiting.is_empty() {
                return;
            }
            maps.waiting.remove(&doc)
        };
        let Some(hub) = self.myself() else { return };
        for w in waiting.into_iter().flatten() {
            hub.dispatch(w, DocCommand::Retry);
        }
    }
}
