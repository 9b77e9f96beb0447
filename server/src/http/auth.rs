//! `POST /api/auth/login | refresh | logout`, `GET /api/me`, and how a request proves who
//! it is: `Authorization: Bearer <jwt>`; on the WebSocket upgrade `?token=<jwt>`, for
//! non-browser clients that cannot set a header (the JS WebSocket adapter in Node); else
//! the `linli_session` cookie, only from an allowed `Origin` — how the PWA authenticates
//! `/sync`, so that its token is never in a URL.

use super::{ApiError, AppState};
use crate::auth::{Claims, User};
use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::{web, HttpRequest, HttpResponse};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

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
pub fn authenticate(req: &HttpRequest, state: &AppState, allow_query: bool) -> Result<Caller, ApiError> {
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
    let claims = state.tokens.verify(&token).map_err(|e| {
        let code = match e {
            crate::auth::TokenError::Expired => "expired",
            crate::auth::TokenError::Revoked => "revoked",
            _ => "invalid_token",
        };
        fail(code, e.into())
    })?;
    let user = state
        .users
        .get(&claims.sub)?
        .filter(|u| !u.disabled)
        .ok_or_else(|| fail("unknown_user", ApiError::Unauthorized("this account no longer exists")))?;
    Ok(Caller { user, claims })
}

/// Failed logins per username, per minute: slows password guessing down to a crawl.
#[derive(Debug)]
pub struct LoginLimiter {
    per_minute: u32,
    failures: Mutex<HashMap<String, (Instant, u32)>>,
}

impl LoginLimiter {
    pub fn new(per_minute: u32) -> Self {
        LoginLimiter { per_minute, failures: Mutex::new(HashMap::new()) }
    }

    fn blocked(&self, username: &str) -> bool {
        let mut f = self.failures.lock();
        match f.get(username) {
            Some((since, _)) if since.elapsed() > Duration::from_secs(60) => {
                f.remove(username);
                false
            }
            Some((_, n)) => *n >= self.per_minute,
            None => false,
        }
    }

    fn failed(&self, username: &str) {
        let mut f = self.failures.lock();
        if f.len() > 100_000 {
            f.retain(|_, (since, _)| since.elapsed() <= Duration::from_secs(60));
        }
        f.entry(username.to_owned()).or_insert((Instant::now(), 0)).1 += 1;
    }

    fn succeeded(&self, username: &str) {
        self.failures.lock().remove(username);
    }
}

#[derive(Deserialize)]
pub struct LoginBody {
    username: String,
    password: String,
}

impl std::fmt::Debug for LoginBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginBody").field("username", &self.username).field("password", &"<redacted>").finish()
    }
}

fn user_json(user: &User) -> serde_json::Value {
    json!({"id": user.id, "username": user.username, "role": user.role, "grids": user.grids})
}

fn session_response(state: &AppState, user: &User, token: String, claims: &Claims) -> HttpResponse {
    let cookie = Cookie::build(SESSION_COOKIE, token.clone())
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.cookie_secure)
        .path("/")
        .max_age(CookieDuration::seconds(claims.exp.saturating_sub(claims.iat) as i64))
        .finish();
    HttpResponse::Ok().cookie(cookie).json(json!({"token": token, "expires_at": claims.exp, "user": user_json(user)}))
}

/// `POST /api/auth/login`
pub async fn login(state: web::Data<AppState>, body: web::Json<LoginBody>) -> Result<HttpResponse, ApiError> {
    let LoginBody { username, password } = body.into_inner();
    if username.len() > 64 || password.len() > 1024 {
        return Err(ApiError::BadCredentials);
    }
    if state.login_limiter.blocked(&username) {
        state.metrics.auth_failures.get_or_create(&crate::metrics::CodeLabel { code: "login_rate_limited" }).inc();
        return Err(ApiError::TooManyAttempts);
    }
    let users = state.users.clone();
    let name = username.clone();
    let verified = web::block(move || users.verify(&name, &password)).await.map_err(ApiError::internal)??;
    let Some(user) = verified else {
        state.login_limiter.failed(&username);
        state.metrics.auth_failures.get_or_create(&crate::metrics::CodeLabel { code: "bad_credentials" }).inc();
        tracing::info!("login refused");
        return Err(ApiError::BadCredentials);
    };
    state.login_limiter.succeeded(&username);
    let (token, claims) = state.tokens.issue(&user.id)?;
    tracing::info!(user = %user.id, "login");
    Ok(session_response(&state, &user, token, &claims))
}

/// `POST /api/auth/refresh`: a fresh token for a valid one; the old one is revoked.
pub async fn refresh(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(&req, &state, false)?;
    let (token, claims) = state.tokens.issue(&caller.user.id)?;
    state.tokens.revoke(&caller.claims)?;
    Ok(session_response(&state, &caller.user, token, &claims))
}

/// `POST /api/auth/logout`: revokes the session and closes its sync connections.
pub async fn logout(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(&req, &state, false)?;
    state.tokens.revoke(&caller.claims)?;
    state.hub.close_token(&caller.claims.jti, "logged out");
    tracing::info!(user = %caller.user.id, "logout");
    let expired = Cookie::build(SESSION_COOKIE, "").path("/").max_age(CookieDuration::ZERO).finish();
    Ok(HttpResponse::Ok().cookie(expired).json(json!({"ok": true})))
}

/// `GET /api/me`
pub async fn me(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(&req, &state, false)?;
    let user = &caller.user;
    let all = crate::grids::list(&state.db).map_err(ApiError::internal)?;
    let grids: Vec<_> = all
        .iter()
        .filter(|g| user.role == crate::auth::Role::Admin || user.grids.contains(&g.id))
        .map(|g| super::admin::grid_json(g, user.role != crate::auth::Role::Volunteer))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "user": user_json(user),
        "inbox": user.inbox.to_url(),
        "grids": grids,
        "utc_offset_minutes": state.utc_offset_minutes,
    })))
}
