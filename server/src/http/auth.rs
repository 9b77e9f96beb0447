//! `POST /api/auth/login | refresh | logout` and `GET /api/me`.

use super::caller::{authenticate, SESSION_COOKIE};
use super::views::{grid_json, user_json};
use super::{ApiError, AppState};
use crate::auth::{Claims, User};
use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::{web, HttpRequest, HttpResponse};
use parking_lot::Mutex;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

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
    let verified = users.verify(&name, &password).await?;
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
    let caller = authenticate(&req, &state, false).await?;
    let (token, claims) = state.tokens.issue(&caller.user.id)?;
    state.tokens.revoke(&caller.claims).await?;
    Ok(session_response(&state, &caller.user, token, &claims))
}

/// `POST /api/auth/logout`: revokes the session and closes its sync connections.
pub async fn logout(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(&req, &state, false).await?;
    state.tokens.revoke(&caller.claims).await?;
    state.hub.close_token(&caller.claims.jti, "logged out");
    tracing::info!(user = %caller.user.id, "logout");
    let expired = Cookie::build(SESSION_COOKIE, "").path("/").max_age(CookieDuration::ZERO).finish();
    Ok(HttpResponse::Ok().cookie(expired).json(json!({"ok": true})))
}

/// `GET /api/me`
pub async fn me(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(&req, &state, false).await?;
    let user = &caller.user;
    let all = crate::grids::list(&state.store).await.map_err(ApiError::internal)?;
    let grids: Vec<_> = all
        .iter()
        .filter(|g| user.role == crate::auth::Role::Admin || user.grids.contains(&g.id))
        .map(|g| grid_json(g, user.role != crate::auth::Role::Volunteer))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "user": user_json(user),
        "inbox": user.inbox.to_url(),
        "grids": grids,
        "utc_offset_minutes": state.utc_offset_minutes,
    })))
}
