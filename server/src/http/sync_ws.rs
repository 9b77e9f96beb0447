//! `GET /sync`: authenticates the upgrade, then runs a [`Session`] over the WebSocket.
//!
//! Frames over the size limit are refused at their header ([`frame_limit`]). Writing is
//! a task of its own ([`SocketWriter`]), so the session loop never waits on the socket: it
//! pings every ping interval, and drops a peer that has not answered the previous ping
//! or whose writes have not moved for an interval (a peer that stopped reading), cutting
//! its TCP connection. It closes the socket when the token expires or is revoked.

use super::caller::authenticate;
use super::socket::SocketControl;
use super::ws_writer::SocketWriter;
use super::{frame_limit, ApiError, AppState};
use crate::sync::session::Close;
use crate::sync::Session;
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(&req, &state, true).await?;
    state.hub.may_connect(&caller.user.id).map_err(|e| match e {
        crate::sync::hub::ConnectError::TooManyConnections(_) => {
            state
                .metrics
                .auth_failures
                .get_or_create(&crate::metrics::CodeLabel { code: "too_many_connections" })
                .inc();
            ApiError::TooManyConnections
        }
        crate::sync::hub::ConnectError::StoreDown => ApiError::StoreDown(e.to_string()),
        crate::sync::hub::ConnectError::ServerFull(_) => {
            state.metrics.auth_failures.get_or_create(&crate::metrics::CodeLabel { code: "server_full" }).inc();
            ApiError::Busy
        }
    })?;
    let socket = req.conn_data::<SocketControl>().cloned();
    let max = state.session.wire.max_frame_bytes;
    let (body, refused) = frame_limit::limit_payload(&req, body, max, socket.clone())
        .await
        .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let (response, ws, stream) = actix_ws::handle(&req, body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let stream = stream.max_frame_size(max).aggregate_continuations().max_continuation_size(max);
    let (mut session, outbound) = Session::new(
        state.hub.clone(),
        state.session.clone(),
        std::sync::Arc::new(crate::sync::conn::UserCtx {
            id: caller.user.id.clone(),
            role: caller.user.role,
            grids: caller.user.grids.clone(),
        }),
        crate::sync::TokenIds { token: caller.claims.jti.clone(), session: caller.claims.session_id().to_owned() },
        state.storage_id.clone(),
    );
    // The session is registered with the hub now, so an ending of its token or login from
    // here on closes it; one that was committed since `authenticate` is seen here (ending a
    // session commits before it closes the connections).
    if let Err(e) = state.tokens.not_ended(&caller.claims).await {
        session.on_close();
        return Err(e.into());
    }
    let expires_in = Duration::from_secs(caller.claims.exp)
        .saturating_sub(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default());
    state.metrics.connections_total.inc();
    tracing::info!(conn = session.id().0, user = %caller.user.id, "sync connection opened");
    let writer = SocketWriter::spawn(ws, outbound, state.metrics.clone());
    let socket = Socket { stream, refused, control: socket };
    actix_web::rt::spawn(run(state.into_inner(), session, writer, socket, expires_in));
    Ok(response)
}

/// The reading side of one socket.
struct Socket {
    stream: actix_ws::AggregatedMessageStream,
    /// Set when a frame was refused at its header (the stream then ends with an error).
    refused: frame_limit::Refused,
    /// The TCP socket, to abort the connection of a peer that does not read.
    control: Option<SocketControl>,
}

/// How a session ends.
enum Ending {
    /// Close with this reason, after what is queued.
    Close(CloseReason),
    /// The peer does not read or answer (the reason, for the metric): close without what
    /// is queued, and cut the connection if even the close frame cannot be written.
    Drop(&'static str),
    /// The socket is gone already.
    Gone,
}

/// The session loop: reads frames, pings, and watches for the reasons to close. It never
/// waits on a socket write (the writer task does the writing).
async fn run(
    state: std::sync::Arc<AppState>,
    mut session: Session,
    mut writer: SocketWriter,
    mut socket: Socket,
    expires_in: Duration,
) {
    let mut ping = tokio::time::interval(state.ping_interval);
    ping.tick().await;
    let expiry = tokio::time::sleep(expires_in);
    tokio::pin!(expiry);
    // Whether the peer sent anything since the last ping.
    let mut heard = true;
    let ending = loop {
        tokio::select! {
            biased;
            _ = session.closed() => {
                break Ending::Close(policy(session.close_reason().unwrap_or_else(|| "closed by the server".into())));
            }
            _ = &mut expiry => break Ending::Close(policy("the session has expired; log in again".into())),
            _ = writer.finished() => break Ending::Gone,
            incoming = socket.stream.recv() => {
                heard = true;
                match incoming {
                    Some(Ok(AggregatedMessage::Binary(frame))) => {
                        if let Err(Close(reason)) = session.on_frame(&frame) {
                            break Ending::Close(policy(reason));
                        }
                    }
                    Some(Ok(AggregatedMessage::Text(_))) => {
                        state.metrics.protocol_error("text_frame");
                        break Ending::Close(CloseReason { code: CloseCode::Unsupported, description: Some("binary CBOR frames only".into()) });
                    }
                    Some(Ok(AggregatedMessage::Ping(p))) => writer.pong(p),
                    Some(Ok(AggregatedMessage::Pong(_))) => {}
                    Some(Ok(AggregatedMessage::Close(_))) | None => break Ending::Close(normal()),
                    Some(Err(e)) => break Ending::Close(bad_frame(&state, &session, &socket.refused, e)),
                }
            }
            _ = ping.tick() => {
                if !heard {
                    break Ending::Drop("no_pong");
                }
                if writer.stalled() {
                    break Ending::Drop("not_reading");
                }
                heard = false;
                if !writer.ping() {
                    break Ending::Drop("not_reading");
                }
            }
        }
    };
    session.on_close();
    let conn = session.id().0;
    // A peer that reads gets the close frame (after what is queued, on a normal close)
    // within one ping interval; one that does not is cut off then.
    let (reason, deliver_queued) = match ending {
        Ending::Close(reason) => {
            tracing::info!(conn, reason = ?reason.description, "sync connection closed");
            (reason, true)
        }
        Ending::Drop(why) => {
            tracing::info!(conn, reason = why, "dropping a peer that does not read its socket");
            state.metrics.peers_dropped.get_or_create(&crate::metrics::CodeLabel { code: why }).inc();
            let text = if why == "no_pong" { "no pong" } else { "not reading" };
            (CloseReason { code: CloseCode::Away, description: Some(text.into()) }, false)
        }
        Ending::Gone => {
            tracing::info!(conn, "sync connection closed by the peer");
            return;
        }
    };
    if !writer.close_within(reason, deliver_queued, state.ping_interval).await {
        tracing::info!(conn, "the peer did not take the close: resetting its connection");
        abort(&socket);
    }
}

/// Ends the TCP connection of `socket` now (see [`SocketControl::abort`]).
fn abort(socket: &Socket) {
    if let Some(control) = &socket.control {
        control.abort();
    }
}

/// The close for a frame the WebSocket layer refused.
fn bad_frame(
    state: &AppState,
    session: &Session,
    refused: &frame_limit::Refused,
    e: actix_ws::ProtocolError,
) -> CloseReason {
    let (code, metric, text) = match (refused.get(), e) {
        (Some(frame_limit::Refusal::TooBig { .. }), _) | (None, actix_ws::ProtocolError::Overflow) => {
            (CloseCode::Size, "frame_too_large", "frame too large")
        }
        (Some(frame_limit::Refusal::ControlTooLong(_)), _) => {
            (CloseCode::Protocol, "control_frame_too_long", "control frame too long")
        }
        (None, _) => (CloseCode::Protocol, "ws_protocol", "WebSocket protocol error"),
    };
    state.metrics.protocol_error(metric);
    tracing::warn!(conn = session.id().0, code = metric, "closing connection after bad frame");
    CloseReason { code, description: Some(text.into()) }
}

fn policy(reason: String) -> CloseReason {
    // Close reasons are limited to 123 bytes by the WebSocket spec.
    let mut reason = reason;
    if reason.len() > 120 {
        let mut cut = 120;
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        reason.truncate(cut);
    }
    CloseReason { code: CloseCode::Policy, description: Some(reason) }
}

fn normal() -> CloseReason {
    CloseReason { code: CloseCode::Normal, description: None }
}
