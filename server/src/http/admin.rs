//! Administration: users, grids and risk levels, the audit log and the quarantine.
//! Only admins manage users and read the audit log and quarantine; a coordinator may set
//! the risk level of their own grids.

use super::auth::{authenticate, Caller};
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

fn user_json(u: &crate::auth::User) -> serde_json::Value {
    json!({"id": u.id, "username": u.username, "role": u.role, "grids": u.grids, "disabled": u.disabled})
}

/// `GET /api/users` (admin)
pub async fn list_users(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    require_admin(&authenticate(&req, &state, false)?)?;
    let users: Vec<_> = state.users.list()?.iter().map(user_json).collect();
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
    let caller = authenticate(&req, &state, false)?;
    require_admin(&caller)?;
    let NewUserBody { username, password, role, grids } = body.into_inner();
    let users = state.users.clone();
    let added =
        web::block(move || users.add(NewUser { username, password, role, grids })).await.map_err(ApiError::internal)?;
    let user = added.map_err(|e| match e {
        UserError::Db(e) => ApiError::internal(e),
        UserError::Hash => ApiError::internal("password hashing failed"),
        other => ApiError::BadRequest(other.to_string()),
    })?;
    state.audit.record(&caller.user.id, "user.add", None, format!("{} as {}", user.id, user.role));
    crate::index::ensure_user_inbox(&state.hub, &user);
    Ok(HttpResponse::Created().json(json!({"user": user_json(&user)})))
}

/// `GET /api/grids`: all grids for an admin, one's own grids otherwise.
pub async fn list_grids(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(&req, &state, false)?;
    let all = grids::list(&state.db).map_err(ApiError::internal)?;
    let visible: Vec<_> = all
        .into_iter()
        .filter(|g| caller.user.role == Role::Admin || caller.user.grids.contains(&g.id))
        .map(|g| grid_json(&g, caller.user.role != Role::Volunteer))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"grids": visible})))
}

pub fn grid_json(g: &grids::Grid, with_index: bool) -> serde_json::Value {
    let mut v = json!({
        "id": g.id, "name": g.name, "risk_level": g.risk_level,
        "policy": g.risk_level.policy(), "risk_history": g.risk_history,
    });
    if with_index {
        v["index"] = json!(g.index.to_url());
    }
    v
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
    let caller = authenticate(&req, &state, false)?;
    require_admin(&caller)?;
    let grid = grids::add(&state.db, &body.id, &body.name).map_err(|e| match e {
        GridError::Db(e) => ApiError::internal(e),
        other => ApiError::BadRequest(other.to_string()),
    })?;
    state.audit.record(&caller.user.id, "grid.add", None, grid.id.clone());
    crate::index::ensure_grid_index(&state.hub, &grid);
    Ok(HttpResponse::Created().json(json!({"grid": grid_json(&grid, true)})))
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
    let caller = authenticate(&req, &state, false)?;
    let id = path.into_inner();
    let allowed =
        caller.user.role == Role::Admin || (caller.user.role == Role::Coordinator && caller.user.grids.contains(&id));
    if !allowed {
        return Err(ApiError::Forbidden("only an admin or this grid's coordinator sets its risk level"));
    }
    let level: RiskLevel = body.level.parse().map_err(ApiError::BadRequest)?;
    let grid = grids::set_risk(&state.db, &id, level, &caller.user.id)
        .map_err(ApiError::internal)?
        .ok_or(ApiError::NotFound("no such grid"))?;
    state.audit.record(&caller.user.id, "grid.risk", None, format!("{id} → {}", body.level));
    Ok(HttpResponse::Ok().json(json!({"grid": grid_json(&grid, true)})))
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
    require_admin(&authenticate(&req, &state, false)?)?;
    let limit = q.limit.unwrap_or(200).min(5_000);
    let entries =
        state.audit.list(q.user.as_deref(), q.action.as_deref(), q.before, limit).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(json!({"entries": entries})))
}

/// `GET /api/quarantine` (admin)
pub async fn quarantine(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    require_admin(&authenticate(&req, &state, false)?)?;
    let entries = state.quarantine.list(1_000).map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(json!({"entries": entries})))
}
