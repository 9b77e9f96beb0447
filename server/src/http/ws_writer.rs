//! The writing half of a sync WebSocket: one task per socket that drains the session's
//! bounded outbound queue into the socket, so that the session loop (reads, pings,
//! closes) never waits on a socket write.
//!
//! A peer that stops reading fills its TCP window, then actix's small queue in front of
//! the socket, and the writer waits there. The session loop notices it through
//! [`SocketWriter::stalled`] (no write has finished in a whole ping interval) or because
//! the ping it queued is never answered, and drops the peer; meanwhile the document
//! actors' sends go to the bounded outbound queue, never to the socket.

use crate::metrics::Metrics;
use actix_web::web::Bytes;
use actix_ws::CloseReason;
use linli_shared::Message;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Frames the session loop asks for besides the outbound messages; they go first.
#[derive(Debug)]
enum Control {
    Ping,
    Pong(Bytes),
    /// Send what is still queued (if `deliver_queued`), then this close frame, and stop.
    Close {
        reason: CloseReason,
        deliver_queued: bool,
    },
}

/// What the writer has done, for the session loop's stall check.
#[derive(Debug, Default)]
struct Progress {
    /// A write is under way (waiting for room in front of the socket).
    busy: AtomicBool,
    /// Writes finished so far.
    writes: AtomicU64,
}

/// The writer task of one socket, and the session loop's handle on it.
#[derive(Debug)]
pub struct SocketWriter {
    task: tokio::task::JoinHandle<()>,
    control: mpsc::Sender<Control>,
    progress: Arc<Progress>,
    /// Cancelled when the task has ended (the socket is closed or broken).
    done: CancellationToken,
    /// The progress seen at the previous [`SocketWriter::stalled`] call.
    seen: (bool, u64),
}

/// Room for control frames: a ping, a pong, a close. A peer pinging faster than pongs can
/// be written loses pongs, not memory.
const CONTROL_QUEUE: usize = 4;

impl SocketWriter {
    /// Spawns the writer of `ws` (on the current thread's local set, as actix handlers do).
    pub fn spawn(ws: actix_ws::Session, outbound: mpsc::Receiver<Message>, metrics: Arc<Metrics>) -> Self {
        let (control, control_rx) = mpsc::channel(CONTROL_QUEUE);
        let progress = Arc::new(Progress::default());
        let done = CancellationToken::new();
        let task = actix_web::rt::spawn(write_loop(ws, outbound, control_rx, progress.clone(), metrics, done.clone()));
        SocketWriter { task, control, progress, done, seen: (false, 0) }
    }

    /// Queues a ping; false if the control queue is full (the writer is stuck).
    pub fn ping(&self) -> bool {
        self.control.try_send(Control::Ping).is_ok()
    }

    /// Queues a pong for the peer's ping (dropped if the control queue is full).
    pub fn pong(&self, payload: Bytes) {
        let _ = self.control.try_send(Control::Pong(payload));
    }

    /// Whether no write has finished since the previous call while one was under way then
    /// and still is: called once per ping interval, true when the peer has taken nothing
    /// for at least that long.
    pub fn stalled(&mut self) -> bool {
        let now = (self.progress.busy.load(Ordering::Acquire), self.progress.writes.load(Ordering::Acquire));
        let stalled = now.0 && self.seen.0 && now.1 == self.seen.1;
        self.seen = now;
        stalled
    }

    /// Resolves when the writer has ended: the socket is closed or could not be written.
    pub fn finished(&self) -> tokio_util::sync::WaitForCancellationFuture<'_> {
        self.done.cancelled()
    }

    /// Sends what is queued (if `deliver_queued`), then the close frame, within `grace`.
    /// Returns false (and stops the writer) if that did not finish in time or the writer
    /// could not be asked.
    pub async fn close_within(self, reason: CloseReason, deliver_queued: bool, grace: Duration) -> bool {
        let asked = self.control.try_send(Control::Close { reason, deliver_queued }).is_ok();
        let finished = asked && tokio::time::timeout(grace, self.done.cancelled()).await.is_ok();
        if !finished {
            self.task.abort();
        }
        finished
    }

    /// Stops the writer now, dropping what it had not written.
    pub fn abort(self) {
        self.task.abort();
    }
}

async fn write_loop(
    mut ws: actix_ws::Session,
    mut outbound: mpsc::Receiver<Message>,
    mut control: mpsc::Receiver<Control>,
    progress: Arc<Progress>,
    metrics: Arc<Metrics>,
    done: CancellationToken,
) {
    let _done = done.drop_guard();
    let send = |msg: &Message| {
        let bytes = linli_shared::encode(msg);
        metrics.bytes_out.inc_by(bytes.len() as u64);
        bytes
    };
    loop {
        let next = tokio::select! {
            biased;
            c = control.recv() => c.map(Ok),
            m = outbound.recv() => m.map(Err),
        };
        let Some(next) = next else { return };
        progress.busy.store(true, Ordering::Release);
        let written = match next {
            Ok(Control::Ping) => ws.ping(b"").await,
            Ok(Control::Pong(payload)) => ws.pong(&payload).await,
            Ok(Control::Close { reason, deliver_queued }) => {
                // Deliver what is queued (an `error` message explaining the close, typically).
                while let Some(msg) = deliver_queued.then(|| outbound.try_recv().ok()).flatten() {
                    if ws.binary(send(&msg)).await.is_err() {
                        return;
                    }
                }
                let _ = ws.close(Some(reason)).await;
                return;
            }
            Err(msg) => ws.binary(send(&msg)).await,
        };
        progress.busy.store(false, Ordering::Release);
        progress.writes.fetch_add(1, Ordering::AcqRel);
        if written.is_err() {
            return;
        }
    }
}
