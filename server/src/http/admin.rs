//! Administration: users, grids and risk levels, the audit log and the quarantine.
//! Only admins manage users and read the audit log and quarantine; a coordinator may set
//! the risk level of their own grids.

use super::caller::{authenticate, Caller};
use super::views::{grid_json, user_json};
use super::{ApiError, AppState};
use crate::auth::{NewUser, Role, UserError};
use crate::grids::{self, GridError, RiskLevel};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

pub fn require_admin(caller: &Caller) -> Result<(), ApiError> {
    if caller.user.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::Forbidden("administrators only"))
    }
}

/// `GET /api/users` (admin)
pub async fn list_users(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    require_admin(&authenticate(&req, &state, false).await?)?;
    let users: Vec<_> = state.users.list().await?.iter().map(user_json).collect();
    Ok(HttpResponse::Ok().json(json!({"users": users})))
}

#[derive(Deserialize)]
pub struct NewUserBody {
    username: String,
    password: String,
    role: Role,
    #[serde(default)]
    grids: Vec<String>,
}

impl std::fmt::Debug for NewUserBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUserBody")
            .field("username", &self.username)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// `POST /api/users` (admin)
pub async fn add_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<NewUserBody>,
) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(&req, &state, false).await?;
    require_admin(&caller)?;
    let NewUserBody { username, password, role, grids } = body.into_inner();
    let added = state.users.add(NewUser { username, password, role, grids }).await;
    let user = added.map_err(|e| match e {
        UserError::Store(e) => ApiError::from(e),
        UserError::Hash => ApiError::internal("password hashing failed"),
        other => ApiError::BadRequest(other.to_string()),
    })?;
    state.audit.record(&caller.user.id, "user.add", None, format!("{} as {}", user.id, user.role));
    crate::projector::ensure_user_inbox(&state.hub, &user);
    Ok(HttpResponse::Created().json(json!({"user": user_json(&user)})))
}

/// `POST /api/users/{id}/end-sessions` (admin): ends every session the user has now —
/// their tokens stop working and their sockets are closed; audited. They may log in again.
pub async fn end_sessions(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(&req, &state, false).await?;
    require_admin(&caller)?;
    let user = state.users.get(&path.into_inner()).await?.ok_or(ApiError::NotFound("no such user"))?;
    let mark = crate::auth::tokens::end_all_sessions(&state.store, &user.id).await?;
    let audited = state.audit.entry(&caller.user.id, "user.end_sessions", None, user.id.clone());
    state.store.commit(vec![mark, audited]).await?;
    let closed = state.hub.close_user(&user.id, "all sessions were ended by an administrator");
    tracing::info!(user = %user.id, by = %caller.user.id, sockets = closed, "sessions ended");
    Ok(HttpResponse::Ok().json(json!({"ok": true, "closed_connections": closed})))
}

/// `POST /api/households/{id}/erase` (admin): erases a household and every task and
/// episode that names it (DESIGN §9; see `projector::erasure`).
pub async fn erase_household(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(&req, &state, false).await?;
    require_admin(&caller)?;
    let household: linli_shared::DocumentId =
        path.into_inner().parse().map_err(|_| ApiError::NotFound("no such household"))?;
    match state.projector.erase_household(household, &caller.user.id).await {
        Ok((n, complete)) => {
            tracing::info!(by = %caller.user.id, documents = n, complete, "household erased");
            Ok(HttpResponse::Ok().json(json!({"ok": true, "erased_documents": n, "complete": complete})))
        }
        Err(crate::projector::erasure::EraseError::NoSuchHousehold(_)) => Err(ApiError::NotFound("no such household")),
        Err(crate::projector::erasure::EraseError::Store(e)) => Err(e.into()),
    }
}

/// `GET /api/grids`: all grids for an admin, one's own grids otherwise.
pub async fn list_grids(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(&req, &state, false).await?;
    let all = grids::list(&state.store).await.map_err(ApiError::internal)?;
    let visible: Vec<_> = all
        .into_iter()
        .filter(|g| caller.user.role == Role::Admin || caller.user.grids.contains(&g.id))
        .map(|g| grid_json(&g, caller.user.role))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"grids": visible})))
}

#[derive(Debug, Deserialize)]
pub struct NewGridBody {
    id: String,
    name: String,
}

/// `POST /api/grids` (admin)
pub async fn add_grid(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<NewGridBody>,
) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(&req, &state, false).await?;
    require_admin(&caller)?;
    let grid = grids::add(&state.store, &body.id, &body.name).await.map_err(|e| match e {
        GridError::Store(e) => ApiError::from(e),
        other => ApiError::BadRequest(other.to_string()),
    })?;
    state.audit.record(&caller.user.id, "grid.add", None, grid.id.clone());
    crate::projector::ensure_grid_index(&state.hub, &grid);
    Ok(HttpResponse::Created().json(json!({"grid": grid_json(&grid, caller.user.role)})))
}

#[derive(Debug, Deserialize)]
pub struct RiskBody {
    level: String,
}

/// `PUT /api/grids/{id}/risk`: admin, or a coordinator of that grid.
pub async fn set_risk(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<RiskBody>,
) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(&req, &state, false).await?;
    let id = path.into_inner();
    let allowed =
        caller.user.role == Role::Admin || (caller.user.role == Role::Coordinator && caller.user.grids.contains(&id));
    if !allowed {
        return Err(ApiError::Forbidden("only an admin or this grid's coordinator sets its risk level"));
    }
    let level: RiskLevel =
        body.level.parse().map_err(|e: linli_shared::domain::UnknownName| ApiError::BadRequest(e.to_string()))?;
    let audited = state.audit.entry(&caller.user.id, "grid.risk", None, format!("{id} → {level}"));
    let grid = grids::set_risk(&state.store, &id, level, &caller.user.id, vec![audited])
        .await
        .map_err(|e| match e {
            GridError::Store(e) => ApiError::from(e),
            other => ApiError::internal(other),
        })?
        .ok_or(ApiError::NotFound("no such grid"))?;
    // The new policy reaches the grid's open work, written by the server itself.
    let applied =
        crate::projector::policy::apply(&state.store, &state.hub, &state.projector, &grid.id, level.policy()).await?;
    state.audit.record(
        crate::auth::SERVER_USER,
        "grid.risk.apply",
        None,
        format!("{}: {} episodes, {} deliveries", grid.id, applied.episodes, applied.tasks),
    );
    Ok(HttpResponse::Ok().json(json!({"grid": grid_json(&grid, caller.user.role), "applied": applied})))
}

#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    user: Option<String>,
    action: Option<String>,
    before: Option<i64>,
    limit: Option<usize>,
}

/// `GET /api/audit` (admin)
pub async fn audit(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&authenticate(&req, &state, false).await?)?;
    let limit = q.limit.unwrap_or(200).min(5_000);
    let entries = state.audit.list(q.user.as_deref(), q.action.as_deref(), q.before, limit).await?;
    Ok(HttpResponse::Ok().json(json!({"entries": entries})))
}

#[derive(Debug, Deserialize)]
pub struct QuarantineQuery {
    /// The `next` cursor of the previous page.
    before: Option<String>,
    limit: Option<usize>,
}

/// Entries per page of `GET /api/quarantine`, unless asked for fewer.
const QUARANTINE_PAGE: usize = 100;

/// `GET /api/quarantine?before=<cursor>&limit=<n>` (admin): newest first, at most `limit`
/// (100 by default and at most), and `next`, the cursor of the following page (`null` on
/// the last).
pub async fn quarantine(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<QuarantineQuery>,
) -> Result<HttpResponse, ApiError> {
    require_admin(&authenticate(&req, &state, false).await?)?;
    let limit = q.limit.unwrap_or(QUARANTINE_PAGE).clamp(1, QUARANTINE_PAGE);
    let page =
        state.quarantine.page(q.before.as_deref(), limit).await?.map_err(|e| ApiError::BadRequest(e.to_string()))?;
    Ok(HttpResponse::Ok().json(json!({"entries": page.entries, "next": page.next})))
}
