//! A handle on one live sync connection, as seen by the document actors.
//!
//! Actors never block on a slow phone: outbound messages go into a bounded queue, and a
//! connection whose queue is full is closed (it will reconnect and resync) rather than
//! letting it hold memory or stall other peers.

use linli_shared::{Message, PeerId};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Process-unique id of one WebSocket connection (a peer id can reconnect many times).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Why the server closes a connection; sent to the peer as the close reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReason(pub String);

/// The authenticated user behind a connection, as the rules need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserCtx {
    pub id: String,
    pub role: crate::auth::Role,
    pub grids: Vec<String>,
}

#[derive(Debug)]
struct Inner {
    id: ConnId,
    peer: PeerId,
    user: Arc<UserCtx>,
    out: mpsc::Sender<Message>,
    close: CancellationToken,
    reason: parking_lot::Mutex<Option<CloseReason>>,
}

/// Cloneable, cheap handle: send a message or close the connection.
#[derive(Debug, Clone)]
pub struct ConnHandle(Arc<Inner>);

impl ConnHandle {
    pub fn new(id: ConnId, peer: PeerId, user: Arc<UserCtx>, out: mpsc::Sender<Message>) -> Self {
        Self::with_token(id, peer, user, out, CancellationToken::new())
    }

    /// A handle whose close signal is `close` (shared with the transport, which may have
    /// been told to close before the peer joined).
    pub fn with_token(
        id: ConnId,
        peer: PeerId,
        user: Arc<UserCtx>,
        out: mpsc::Sender<Message>,
        close: CancellationToken,
    ) -> Self {
        ConnHandle(Arc::new(Inner { id, peer, user, out, close, reason: parking_lot::Mutex::new(None) }))
    }

    pub fn id(&self) -> ConnId {
        self.0.id
    }

    pub fn peer(&self) -> &PeerId {
        &self.0.peer
    }

    /// The authenticated user id behind this connection.
    pub fn user(&self) -> &str {
        &self.0.user.id
    }

    /// Role and grids of the user behind this connection.
    pub fn who(&self) -> &UserCtx {
        &self.0.user
    }

    /// Queues `msg`; closes the connection if its queue is full. Returns whether it was queued.
    pub fn send(&self, msg: Message) -> bool {
        match self.0.out.try_send(msg) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.close("outbound queue full: the peer is not reading");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    /// Asks the connection to close with `reason` (the first reason wins).
    pub fn close(&self, reason: impl Into<String>) {
        let mut r = self.0.reason.lock();
        if r.is_none() {
            *r = Some(CloseReason(reason.into()));
        }
        self.0.close.cancel();
    }

    pub fn close_reason(&self) -> Option<CloseReason> {
        self.0.reason.lock().clone()
    }

    pub fn closed(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.0.close.cancelled()
    }

    pub fn is_closed(&self) -> bool {
        self.0.close.is_cancelled()
    }
}
