//! `GET /sync`: authenticates the upgrade, then pumps frames between the WebSocket and a
//! [`Session`]. Keeps the socket alive with a ping every few seconds, drops it when a
//! pong is missed, and closes it when the token expires or is revoked.

use super::caller::authenticate;
use super::{ApiError, AppState};
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
    })?;
    let (response, ws, stream) = actix_ws::handle(&req, body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let max = state.session.wire.max_frame_bytes;
    let stream = stream.max_frame_size(max).aggregate_continuations().max_continuation_size(max);
    let (session, outbound) = Session::new(
        state.hub.clone(),
        state.session.clone(),
        std::sync::Arc::new(crate::sync::conn::UserCtx {
            id: caller.user.id.clone(),
            role: caller.user.role,
            grids: caller.user.grids.clone(),
        }),
        caller.claims.jti.clone(),
        state.storage_id.clone(),
    );
    let expires_in = Duration::from_secs(caller.claims.exp)
        .saturating_sub(SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default());
    state.metrics.connections_total.inc();
    tracing::info!(conn = session.id().0, user = %caller.user.id, "sync connection opened");
    actix_web::rt::spawn(pump(state.into_inner(), session, outbound, ws, stream, expires_in));
    Ok(response)
}

async fn pump(
    state: std::sync::Arc<AppState>,
    mut session: Session,
    mut outbound: tokio::sync::mpsc::Receiver<linli_shared::Message>,
    mut ws: actix_ws::Session,
    mut stream: actix_ws::AggregatedMessageStream,
    expires_in: Duration,
) {
    let mut ping = tokio::time::interval(state.ping_interval);
    ping.tick().await;
    let expiry = tokio::time::sleep(expires_in);
    tokio::pin!(expiry);
    let mut alive = true;
    let close: CloseReason = loop {
        tokio::select! {
            biased;
            _ = session.closed() => {
                break policy(session.close_reason().unwrap_or_else(|| "closed by the server".into()));
            }
            _ = &mut expiry => break policy("the session has expired; log in again".into()),
            out = outbound.recv() => {
                let Some(msg) = out else { break policy("internal: outbound closed".into()) };
                let bytes = linli_shared::encode(&msg);
                state.metrics.bytes_out.inc_by(bytes.len() as u64);
                if ws.binary(bytes).await.is_err() { break normal(); }
            }
            incoming = stream.recv() => {
                alive = true;
                match incoming {
                    Some(Ok(AggregatedMessage::Binary(frame))) => {
                        if let Err(Close(reason)) = session.on_frame(&frame) {
                            break policy(reason);
                        }
                    }
                    Some(Ok(AggregatedMessage::Text(_))) => {
                        state.metrics.protocol_error("text_frame");
                        break CloseReason { code: CloseCode::Unsupported, description: Some("binary CBOR frames only".into()) };
                    }
                    Some(Ok(AggregatedMessage::Ping(p))) => { if ws.pong(&p).await.is_err() { break normal(); } }
                    Some(Ok(AggregatedMessage::Pong(_))) => {}
                    Some(Ok(AggregatedMessage::Close(_))) | None => break normal(),
                    Some(Err(e)) => {
                        let (code, text) = match e {
                            actix_ws::ProtocolError::Overflow => (CloseCode::Size, "frame too large"),
                            _ => (CloseCode::Protocol, "WebSocket protocol error"),
                        };
                        state.metrics.protocol_error(if code == CloseCode::Size { "frame_too_large" } else { "ws_protocol" });
                        tracing::warn!(conn = session.id().0, error = %e, "closing connection after bad frame");
                        break CloseReason { code, description: Some(text.into()) };
                    }
                }
            }
            _ = ping.tick() => {
                if !alive {
                    tracing::info!(conn = session.id().0, "no pong: dropping dead connection");
                    break CloseReason { code: CloseCode::Away, description: Some("no pong".into()) };
                }
                alive = false;
                if ws.ping(b"").await.is_err() { break normal(); }
            }
        }
    };
    // Deliver what is queued (an `error` message explaining the close, typically).
    while let Ok(msg) = outbound.try_recv() {
        let bytes = linli_shared::encode(&msg);
        state.metrics.bytes_out.inc_by(bytes.len() as u64);
        if ws.binary(bytes).await.is_err() {
            break;
        }
    }
    tracing::info!(conn = session.id().0, reason = ?close.description, "sync connection closed");
    session.on_close();
    let _ = ws.close(Some(close)).await;
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
