//! `POST /api/auth/login | refresh | logout` and `GET /api/me`.
//!
//! A login is reserved with the [`LoginLimiter`](super::login_limiter) before its
//! password is checked, and the check waits for none of the bounded Argon2 runs: a
//! login that finds them all in use is answered 503 at once. Each login is a session
//! (`sid`); a refresh gives a new token of it and closes the sockets of the old token;
//! logout ends the session — all its tokens and all its sockets.

use super::caller::{authenticate, SESSION_COOKIE};
use super::views::{grid_json, user_json};
use super::{ApiError, AppState};
use crate::auth::{Claims, User, UserError};
use crate::metrics::CodeLabel;
use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

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
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let LoginBody { username, password } = body.into_inner();
    if username.len() > 64 || password.len() > crate::auth::password_policy::MAX_PASSWORD_BYTES {
        return Err(ApiError::BadCredentials);
    }
    let count = |code: &'static str| state.metrics.auth_failures.get_or_create(&CodeLabel { code }).inc();
    let client = state.client_addresses.client_of(&req);
    let attempt = state.login_limiter.begin(&username, client, state.store.now_ms()).map_err(|refused| {
        count("login_rate_limited");
        tracing::info!(limit = ?refused.limit, "login refused: too many failures");
        ApiError::TooManyAttempts(refused.retry_after_secs())
    })?;
    let user = match state.users.verify(&username, &password).await {
        Ok(Some(user)) => {
            attempt.succeeded();
            user
        }
        Ok(None) => {
            attempt.failed(state.store.now_ms());
            count("bad_credentials");
            tracing::info!("login refused");
            return Err(ApiError::BadCredentials);
        }
        Err(UserError::Busy) => {
            attempt.not_checked();
            count("login_busy");
            return Err(ApiError::Busy);
        }
        Err(e) => {
            attempt.not_checked();
            return Err(e.into());
        }
    };
    let (token, claims) = state.tokens.issue(&user.id).await?;
    tracing::info!(user = %user.id, "login");
    Ok(session_response(&state, &user, token, &claims))
}

/// `POST /api/auth/refresh`: a fresh token of the same session for a valid one. The old
/// token is revoked and the sockets it opened are closed (the app dials again with the
/// new cookie).
pub async fn refresh(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(&req, &state, false).await?;
    let (token, claims) = state.tokens.refresh(&caller.claims).await?;
    state.hub.close_token(&caller.claims.jti, "session refreshed; connect again with the new token");
    Ok(session_response(&state, &caller.user, token, &claims))
}

/// `POST /api/auth/logout`: ends the session — every token a refresh gave it — and
/// closes its sync connections.
pub async fn logout(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(&req, &state, false).await?;
    state.tokens.end_session(&caller.claims).await?;
    state.hub.close_session(caller.claims.session_id(), "logged out");
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
        .map(|g| grid_json(g, user.role))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "user": user_json(user),
        "inbox": user.inbox.to_url(),
        "grids": grids,
        "utc_offset_minutes": state.utc_offset_minutes,
    })))
}
