//! One error type for the JSON API: `{"error": {"code", "message"}}` with a stable code.
//! Causes are logged; users get a short reason.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid username or password")]
    BadCredentials,
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(&'static str),
    /// Refused before the password was checked; may be tried again in this many seconds.
    #[error("too many failed attempts; try again in {0} s")]
    TooManyAttempts(u64),
    /// Every password check is in use: try again in a moment.
    #[error("the server is busy; try again in a moment")]
    Busy,
    #[error("too many connections")]
    TooManyConnections,
    #[error("the server cannot store anything right now; try again in a moment")]
    StoreDown(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadCredentials => "bad_credentials",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::NotFound(_) => "not_found",
            ApiError::TooManyAttempts(_) => "too_many_attempts",
            ApiError::Busy => "busy",
            ApiError::TooManyConnections => "too_many_connections",
            ApiError::StoreDown(_) => "store_unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    /// When the request may be made again (`Retry-After`), for refusals that say.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            ApiError::TooManyAttempts(secs) => Some(*secs),
            ApiError::Busy => Some(1),
            _ => None,
        }
    }

    /// For `?` on internal failures: the cause goes to the log only.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadCredentials | ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::TooManyAttempts(_) | ApiError::TooManyConnections => StatusCode::TOO_MANY_REQUESTS,
            ApiError::StoreDown(_) | ApiError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(cause) => tracing::error!(cause = %cause, "internal error"),
            ApiError::StoreDown(cause) => tracing::warn!(cause = %cause, "request failed: the store is unavailable"),
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        if let Some(secs) = self.retry_after_secs() {
            response.insert_header((actix_web::http::header::RETRY_AFTER, secs.to_string()));
        }
        response.json(json!({"error": {"code": self.code(), "message": self.to_string()}}))
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Unavailable(cause) => ApiError::StoreDown(cause),
            other => ApiError::internal(other),
        }
    }
}

impl From<crate::auth::UserError> for ApiError {
    fn from(e: crate::auth::UserError) -> Self {
        match e {
            crate::auth::UserError::Store(e) => e.into(),
            crate::auth::UserError::Busy => ApiError::Busy,
            other => ApiError::internal(other),
        }
    }
}

impl From<crate::auth::TokenError> for ApiError {
    fn from(e: crate::auth::TokenError) -> Self {
        use crate::auth::TokenError;
        match e {
            TokenError::Expired => ApiError::Unauthorized("the session has expired; log in again"),
            TokenError::Revoked => ApiError::Unauthorized("the session was ended; log in again"),
            TokenError::Invalid => ApiError::Unauthorized("invalid session token"),
            TokenError::Store(e) => e.into(),
        }
    }
}
