//! A handle on the TCP socket under one HTTP connection, for the cases where the HTTP
//! layer cannot end it by itself.
//!
//! actix-http ends a connection only when it can write: a WebSocket peer that stops
//! reading keeps it waiting on a full socket forever, and a refused upload is drained
//! (read and thrown away) for the disconnect timeout. [`SocketControl`] holds a duplicate
//! of the connection's socket (made when the connection is accepted), so a handler can
//! stop reading at once ([`SocketControl::stop_reading`]: the kernel reports end of input,
//! the peer's further bytes are never taken in) or abort the connection
//! ([`SocketControl::abort`]: reset, whatever is queued is dropped, the pending write
//! fails and actix-http lets the connection go).

use actix_web::dev::Extensions;
use std::any::Any;
use std::net::Shutdown;
use std::sync::Arc;
use std::time::Duration;

/// See the module docs. Cheap to clone; the duplicate socket closes with its last clone.
#[derive(Debug, Clone)]
pub struct SocketControl(Arc<socket2::Socket>);

impl SocketControl {
    /// For `HttpServer::on_connect`: puts a `SocketControl` into the connection's data,
    /// where handlers find it with `req.conn_data::<SocketControl>()`. Plain TCP only; a
    /// connection of another type gets none (handlers then fall back on what actix does).
    pub fn on_connect(conn: &dyn Any, data: &mut Extensions) {
        let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() else { return };
        match socket2::SockRef::from(tcp).try_clone() {
            Ok(socket) => {
                data.insert(SocketControl(Arc::new(socket)));
            }
            Err(e) => tracing::warn!(error = %e, "cannot duplicate a connection's socket"),
        }
    }

    /// Reads no more from the peer: the connection sees the end of its input, and the
    /// kernel's receive buffer shrinks to its minimum, so that it too takes in little more
    /// of what the peer keeps sending until the connection is closed.
    pub fn stop_reading(&self) {
        if let Err(e) = self.0.set_recv_buffer_size(0) {
            tracing::debug!(error = %e, "SO_RCVBUF on a connection");
        }
        if let Err(e) = self.0.shutdown(Shutdown::Read) {
            tracing::debug!(error = %e, "shutdown(read) of a connection");
        }
    }

    /// Ends the connection now, with a reset: nothing more is read or written.
    pub fn abort(&self) {
        // Linger 0: closing the socket sends a reset and drops unsent data, instead of
        // keeping it for a peer that does not read.
        if let Err(e) = self.0.set_linger(Some(Duration::ZERO)) {
            tracing::debug!(error = %e, "SO_LINGER on a connection");
        }
        if let Err(e) = self.0.shutdown(Shutdown::Both) {
            tracing::debug!(error = %e, "shutdown of a connection");
        }
    }
}
