//! One peer's protocol session, independent of the transport: frames in, messages out.
//!
//! It enforces the handshake (`join` first, protocol "1"), checks that every message
//! claims the peer id it joined with, applies the rate limit, and routes document
//! messages to the hub. Anything malformed gets an `error` message and a close reason;
//! it never reaches a document or another peer's session.

use super::conn::{ConnHandle, ConnId, UserCtx};
use super::doc_actor::DocCommand;
use super::hub::{Hub, TokenIds};
use super::rate::TokenBucket;
use crate::metrics::TypeLabel;
use linli_shared::{DocumentId, Message, PeerId, PeerMetadata, StorageId, WireLimits};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

/// Per-connection limits. Every field is a setting.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub wire: WireLimits,
    pub max_messages_per_sec: u32,
    pub message_burst: u32,
    pub outbound_queue: usize,
    pub max_docs_per_connection: usize,
}

impl Default for SessionSettings {
    fn default() -> Self {
        SessionSettings {
            wire: WireLimits::default(),
            max_messages_per_sec: 500,
            message_burst: 5_000,
            outbound_queue: 4_096,
            max_docs_per_connection: 50_000,
        }
    }
}

/// Why a session ends: the reason is sent as the WebSocket close reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Close(pub String);

#[derive(Debug)]
pub struct Session {
    hub: Arc<Hub>,
    settings: SessionSettings,
    id: ConnId,
    user: Arc<UserCtx>,
    token: TokenIds,
    storage_id: StorageId,
    out: mpsc::Sender<Message>,
    conn: Option<ConnHandle>,
    /// Closes the connection; registered with the hub from the start, so a revoked
    /// session closes also a socket that has not joined yet.
    close: tokio_util::sync::CancellationToken,
    docs: HashSet<DocumentId>,
    bucket: TokenBucket,
}

impl Session {
    /// A session for an authenticated `user`; outbound messages are queued on the returned
    /// receiver, which the transport drains.
    pub fn new(
        hub: Arc<Hub>,
        settings: SessionSettings,
        user: Arc<UserCtx>,
        token: TokenIds,
        storage_id: StorageId,
    ) -> (Self, mpsc::Receiver<Message>) {
        let (out, rx) = mpsc::channel(settings.outbound_queue);
        let bucket = TokenBucket::new(settings.max_messages_per_sec, settings.message_burst);
        let id = hub.next_conn_id();
        let close = tokio_util::sync::CancellationToken::new();
        hub.register_pending(id, &user.id, &token, close.clone());
        let session = Session {
            hub,
            settings,
            id,
            user,
            token,
            storage_id,
            out,
            conn: None,
            close,
            docs: HashSet::new(),
            bucket,
        };
        (session, rx)
    }

    pub fn id(&self) -> ConnId {
        self.id
    }

    /// The connection handle, once the peer has joined.
    pub fn conn(&self) -> Option<&ConnHandle> {
        self.conn.as_ref()
    }

    /// Handles one binary frame.
    pub fn on_frame(&mut self, frame: &[u8]) -> Result<(), Close> {
        self.hub.metrics.bytes_in.inc_by(frame.len() as u64);
        if !self.bucket.take(Instant::now()) {
            return Err(self.fail("rate_limited", "too many messages: slow down and reconnect".to_owned()));
        }
        let msg = match linli_shared::decode(frame, &self.settings.wire) {
            Ok(m) => m,
            Err(e) => return Err(self.fail(e.code(), format!("bad message: {e}"))),
        };
        self.hub.metrics.messages_in.get_or_create(&TypeLabel { r#type: static_kind(&msg) }).inc();
        let Some(conn) = self.conn.clone() else {
            return self.on_join(msg);
        };
        if let Some(sender) = msg.sender_id() {
            if sender != conn.peer() {
                if matches!(msg, Message::Ephemeral { .. }) {
                    // automerge-repo passes an ephemeral message it received on to its
                    // other peers under the original sender's id, so what we relayed to
                    // this peer comes back to us. We have it already; and nothing is ever
                    // relayed under a sender id other than the connection's own, so a peer
                    // cannot speak as another. Drop it, keep the connection.
                    tracing::trace!(conn = self.id.0, "ephemeral message of another sender dropped");
                    return Ok(());
                }
                return Err(self.fail(
                    "wrong_sender",
                    format!("senderId `{sender}` is not the peer id this connection joined with"),
                ));
            }
        }
        match msg {
            Message::Join { sender_id, .. } => {
                // A repeated join on the same socket: answer it again, harmlessly.
                self.send_peer(&sender_id);
                Ok(())
            }
            Message::Sync { document_id, data, .. } => {
                self.route(document_id, DocCommand::Sync { conn, data, request: false })
            }
            Message::Request { document_id, data, .. } => {
                self.route(document_id, DocCommand::Sync { conn, data, request: true })
            }
            Message::Ephemeral { document_id, session_id, count, data, .. } => {
                self.route(document_id, DocCommand::Ephemeral { conn, session_id, count, data })
            }
            Message::Error { message, .. } => {
                tracing::info!(conn = self.id.0, "peer reported an error and is closing");
                tracing::debug!(conn = self.id.0, message = %message, "peer error");
                Err(Close("peer reported an error".to_owned()))
            }
            Message::Peer { .. } => Err(self.fail("unexpected_message", "`peer` is sent by servers only".to_owned())),
            // A peer telling us it lacks a document, and heads gossip: nothing to do.
            Message::DocUnavailable { .. } | Message::Ignored { .. } => Ok(()),
        }
    }

    fn on_join(&mut self, msg: Message) -> Result<(), Close> {
        let Message::Join { sender_id, supported_protocol_versions, .. } = msg else {
            return Err(self.fail("before_join", format!("`{}` before `join`", msg.kind())));
        };
        let speaks_v1 = supported_protocol_versions.as_ref().is_none_or(|v| v.iter().any(|v| v == "1"));
        if !speaks_v1 {
            self.send_error(&sender_id, "unsupported protocol version: this server speaks \"1\"".to_owned());
            self.hub.metrics.protocol_error("unsupported_version");
            return Err(Close("unsupported protocol version".to_owned()));
        }
        if self.close.is_cancelled() {
            return Err(Close("the session was ended".to_owned()));
        }
        let conn =
            ConnHandle::with_token(self.id, sender_id.clone(), self.user.clone(), self.out.clone(), self.close.clone());
        self.hub.register(&conn, &self.token);
        self.conn = Some(conn);
        self.send_peer(&sender_id);
        tracing::debug!(conn = self.id.0, "peer joined");
        Ok(())
    }

    fn send_peer(&self, target: &PeerId) {
        let _ = self.out.try_send(Message::Peer {
            sender_id: self.hub.server_peer().clone(),
            target_id: target.clone(),
            peer_metadata: PeerMetadata { storage_id: Some(self.storage_id.clone()), is_ephemeral: false },
            selected_protocol_version: "1".to_owned(),
        });
    }

    fn route(&mut self, doc: DocumentId, cmd: DocCommand) -> Result<(), Close> {
        if !self.docs.contains(&doc) {
            if self.docs.len() >= self.settings.max_docs_per_connection {
                return Err(self.fail("too_many_documents", "too many documents on one connection".to_owned()));
            }
            self.docs.insert(doc);
        }
        self.hub.dispatch(doc, cmd);
        Ok(())
    }

    /// Counts and logs bad input, queues an `error` message, and returns the close reason.
    fn fail(&self, code: &'static str, reason: String) -> Close {
        self.hub.metrics.protocol_error(code);
        tracing::warn!(conn = self.id.0, code, reason = %reason, "closing connection after bad input");
        let target = self.conn.as_ref().map(|c| c.peer().clone());
        match target {
            Some(t) => self.send_error(&t, reason.clone()),
            None => {
                if let Ok(anon) = PeerId::new("unknown".to_owned()) {
                    self.send_error(&anon, reason.clone());
                }
            }
        }
        Close(reason)
    }

    fn send_error(&self, target: &PeerId, message: String) {
        let _ = self.out.try_send(Message::Error {
            sender_id: self.hub.server_peer().clone(),
            target_id: target.clone(),
            message,
        });
    }

    /// Called once when the transport is gone: forgets every sync state of this connection.
    pub fn on_close(&mut self) {
        match self.conn.take() {
            Some(conn) => {
                conn.close("connection closed");
                self.hub.unregister(&conn, self.docs.drain());
            }
            None => self.hub.unregister_pending(self.id),
        }
    }

    /// Resolves when the connection must close (revoked, replaced, too slow…).
    pub fn closed(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.close.cancelled()
    }

    /// Why the connection is closing, if known.
    pub fn close_reason(&self) -> Option<String> {
        self.conn.as_ref().and_then(|c| c.close_reason()).map(|r| r.0).or_else(|| self.hub.pending_reason(self.id))
    }
}

fn static_kind(msg: &Message) -> &'static str {
    match msg {
        Message::Join { .. } => "join",
        Message::Peer { .. } => "peer",
        Message::Error { .. } => "error",
        Message::Request { .. } => "request",
        Message::Sync { .. } => "sync",
        Message::DocUnavailable { .. } => "doc-unavailable",
        Message::Ephemeral { .. } => "ephemeral",
        Message::Ignored { .. } => "other",
    }
}
