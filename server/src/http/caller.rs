//! How a request proves who it is: `Authorization: Bearer <jwt>`; on the WebSocket
//! upgrade `?token=<jwt>`, for non-browser clients that cannot set a header (the JS
//! WebSocket adapter in Node); else the `linli_session` cookie, only from an allowed
//! `Origin` — how the PWA authenticates `/sync`, so that its token is never in a URL.

use super::{ApiError, AppState};
use crate::auth::{Claims, User};
use actix_web::{web, HttpRequest};
use std::collections::HashMap;

pub const SESSION_COOKIE: &str = "linli_session";

/// A verified caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user: User,
    pub claims: Claims,
}

/// Where the token came from (cookie callers face the Origin check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenSource {
    Bearer,
    Cookie,
    Query,
}

fn token_from(req: &HttpRequest, allow_query: bool) -> Option<(String, TokenSource)> {
    if let Some(h) = req.headers().get(actix_web::http::header::AUTHORIZATION) {
        let value = h.to_str().ok()?;
        let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer "))?;
        return Some((token.trim().to_owned(), TokenSource::Bearer));
    }
    // On the WebSocket upgrade an explicit `?token=` wins over the cookie: a caller that
    // names a token means that one, even if its cookie jar holds another session. The PWA
    // names none; login and refresh keep its cookie fresh.
    if allow_query {
        if let Ok(query) = web::Query::<HashMap<String, String>>::from_query(req.query_string()) {
            if let Some(t) = query.get("token") {
                return Some((t.clone(), TokenSource::Query));
            }
        }
    }
    req.cookie(SESSION_COOKIE).map(|c| (c.value().to_owned(), TokenSource::Cookie))
}

/// Authenticates a request. `allow_query` is true only for the WebSocket upgrade.
pub async fn authenticate(req: &HttpRequest, state: &AppState, allow_query: bool) -> Result<Caller, ApiError> {
    let fail = |code: &'static str, e: ApiError| {
        state.metrics.auth_failures.get_or_create(&crate::metrics::CodeLabel { code }).inc();
        e
    };
    let (token, source) =
        token_from(req, allow_query).ok_or_else(|| fail("no_token", ApiError::Unauthorized("log in first")))?;
    if source == TokenSource::Cookie {
        let origin = req.headers().get(actix_web::http::header::ORIGIN).and_then(|o| o.to_str().ok());
        let allowed = origin.is_some_and(|o| state.allowed_origins.iter().any(|a| a == o));
        // Non-browser clients send no Origin; browsers always do on a WebSocket upgrade
        // and on cross-site requests, so a missing Origin is only allowed off the socket.
        if !(allowed || (origin.is_none() && !allow_query)) {
            return Err(fail("bad_origin", ApiError::Forbidden("this origin may not use the session cookie")));
        }
    }
    let claims = state.tokens.verify(&token).await.map_err(|e| {
        let code = match e {
            crate::auth::TokenError::Expired => "expired",
            crate::auth::TokenError::Revoked => "revoked",
            _ => "invalid_token",
        };
        fail(code, e.into())
    })?;
    let user = state
        .users
        .get(&claims.sub)
        .await?
        .filter(|u| !u.disabled)
        .ok_or_else(|| fail("unknown_user", ApiError::Unauthorized("this account no longer exists")))?;
    Ok(Caller { user, claims })
}
