//! What coordinators, medics and admins ask of the server (DESIGN §5, §6): the grid
//! dashboard and alerts (list, acknowledge, resolve); CSV exports are [`super::exports`].
//!
//! Volunteers get none of this: their work reaches them through their inbox. An alert
//! list carries what the episodes' check-ins said, so it counts as a read of them
//! ([`crate::read_audit`]).

use super::caller::{authenticate, Caller};
use super::{ApiError, AppState};
use crate::store::{Alert, AlertStatus, Write};
use actix_web::{web, HttpRequest, HttpResponse};
use linli_shared::domain::{AlertKind, Kind, Role};
use linli_shared::DocumentId;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

/// Grids a caller oversees: all for an admin, their own for coordinators and medics.
pub(super) fn oversees(caller: &Caller, grid: &str) -> bool {
    match caller.user.role {
        Role::Admin => true,
        Role::Coordinator | Role::Medic => caller.user.grids.iter().any(|g| g == grid),
        Role::Volunteer => false,
    }
}

fn no_volunteers(caller: &Caller) -> Result<(), ApiError> {
    if caller.user.role == Role::Volunteer {
        Err(ApiError::Forbidden("volunteers see their work in their inbox"))
    } else {
        Ok(())
    }
}

/// The grid `id`, if the caller oversees it (403 otherwise, 404 if there is no such grid).
pub(super) async fn overseen_grid(
    req: &HttpRequest,
    state: &AppState,
    id: String,
) -> Result<(Caller, crate::grids::Grid), ApiError> {
    let caller = authenticate(req, state, false).await?;
    if !oversees(&caller, &id) {
        return Err(ApiError::Forbidden("not your grid"));
    }
    let grid = state.store.grid(&id).await?.ok_or(ApiError::NotFound("no such grid"))?;
    Ok((caller, grid))
}

/// `GET /api/grids/{id}/people`: who works in the grid (id, username, role), so that a
/// coordinator can assign work by name. For those who oversee the grid; nothing more
/// than names and roles (no contact details, no other grids).
pub async fn people(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let grid = overseen_grid(&req, &state, path.into_inner()).await?.1.id;
    let people: Vec<_> = state
        .users
        .list()
        .await?
        .into_iter()
        .filter(|u| !u.disabled && u.grids.contains(&grid))
        .map(|u| json!({"id": u.id, "username": u.username, "role": u.role}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"people": people})))
}

/// `GET /api/grids/{id}/dashboard`
pub async fn dashboard(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (caller, info) = overseen_grid(&req, &state, path.into_inner()).await?;
    let caller_role = caller.user.role;
    let grid = info.id.clone();
    let now = state.store.now_ms();
    let mut tasks_by_status: BTreeMap<String, u32> = BTreeMap::new();
    let mut episodes_by_status: BTreeMap<String, u32> = BTreeMap::new();
    let mut care_flags: BTreeMap<String, u32> = BTreeMap::new();
    let (mut overdue, mut households) = (0u32, 0u32);
    for row in state.store.rows(Some(&grid)).await? {
        match row.kind {
            Kind::Task => {
                *tasks_by_status.entry(row.status.clone()).or_default() += 1;
                if row.open && row.due.is_some_and(|d| d < now) {
                    overdue += 1;
                }
            }
            Kind::Episode => *episodes_by_status.entry(row.status.clone()).or_default() += 1,
            Kind::Household => {
                households += 1;
                for (flag, n) in &row.care_flags {
                    *care_flags.entry(flag.clone()).or_default() += n;
                }
            }
            _ => {}
        }
    }
    let open_alerts: Vec<Alert> = state
        .store
        .alerts(None)
        .await?
        .into_iter()
        .filter(|a| a.grid == grid && a.status != AlertStatus::Resolved)
        .collect();
    let missing_checkins = open_alerts
        .iter()
        .filter(|a| a.kind == linli_shared::domain::AlertKind::MissedCheckin && a.status == AlertStatus::Open)
        .count();
    Ok(HttpResponse::Ok().json(json!({
        "grid": super::views::grid_json(&info, caller_role),
        "households": households,
        "care_flags": care_flags,
        "tasks": tasks_by_status,
        "overdue_tasks": overdue,
        "episodes": episodes_by_status,
        "missing_checkins": missing_checkins,
        "open_alerts": open_alerts.len(),
    })))
}

#[derive(Debug, Deserialize)]
pub struct AlertQuery {
    grid: Option<String>,
    /// `open` (default: open and acknowledged), `resolved` (the history), `all`
    status: Option<String>,
}

/// `GET /api/alerts`: alerts of the caller's grids. Open ones (the default) by severity
/// (red, amber, info), newest first within each; resolved ones (`status=resolved`, the
/// history: who resolved, when, with what note) newest resolved first.
pub async fn list_alerts(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<AlertQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(&req, &state, false).await?;
    no_volunteers(&caller)?;
    let wanted = |a: &Alert| match q.status.as_deref() {
        Some("all") => true,
        Some("resolved") => a.status == AlertStatus::Resolved,
        _ => a.status != AlertStatus::Resolved,
    };
    let mut list: Vec<Alert> = state
        .store
        .alerts(None)
        .await?
        .into_iter()
        .filter(|a| oversees(&caller, &a.grid))
        .filter(|a| q.grid.as_deref().is_none_or(|g| a.grid == g))
        .filter(wanted)
        .collect();
    if q.status.as_deref() == Some("resolved") {
        list.sort_by_key(|a| std::cmp::Reverse(a.resolved_at));
    } else {
        list.sort_by_key(|a| (a.status == AlertStatus::Resolved, a.severity, std::cmp::Reverse(a.raised_at)));
    }
    // Check-in alerts tell what an episode's check-ins said: reads of those episodes.
    let read: Vec<(Kind, DocumentId)> = list
        .iter()
        .filter(|a| a.kind != AlertKind::OverdueDelivery)
        .filter_map(|a| a.doc.parse().ok().map(|doc| (Kind::Episode, doc)))
        .collect();
    state.reads.record_all(&caller.user.id, &read, crate::read_audit::Via::Api("alerts")).await?;
    let list: Vec<Alert> = list.into_iter().map(|a| a.seen_by(caller.user.role)).collect();
    Ok(HttpResponse::Ok().json(json!({"alerts": list})))
}

/// Longest resolution note, in characters: a line on what was done, not a record.
pub const MAX_RESOLUTION_NOTE: usize = 200;

async fn update_alert(
    req: &HttpRequest,
    state: &AppState,
    id: &str,
    to: AlertStatus,
    note: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(req, state, false).await?;
    no_volunteers(&caller)?;
    let mut alert = state.store.alert(id).await?.ok_or(ApiError::NotFound("no such alert"))?;
    if !oversees(&caller, &alert.grid) {
        return Err(ApiError::NotFound("no such alert"));
    }
    let now = state.store.now_ms();
    match to {
        AlertStatus::Acknowledged if alert.status == AlertStatus::Open => {
            alert.status = to;
            alert.acknowledged_by = Some(caller.user.id.clone());
            alert.acknowledged_at = Some(now);
        }
        AlertStatus::Resolved if alert.status != AlertStatus::Resolved => {
            alert.status = to;
            alert.resolved_by = Some(caller.user.id.clone());
            alert.resolved_at = Some(now);
            alert.resolution_note = note;
        }
        _ => return Err(ApiError::BadRequest(format!("the alert is already {:?}", alert.status).to_lowercase())),
    }
    let action = if to == AlertStatus::Resolved { "alert.resolve" } else { "alert.acknowledge" };
    let audited = state.audit.entry(&caller.user.id, action, Some(alert.doc.clone()), alert.id.clone());
    state.store.commit(vec![Write::Alert(alert.clone()), audited]).await?;
    Ok(HttpResponse::Ok().json(json!({"alert": alert.seen_by(caller.user.role)})))
}

/// `POST /api/alerts/{id}/acknowledge`
pub async fn acknowledge(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    update_alert(&req, &state, &path.into_inner(), AlertStatus::Acknowledged, None).await
}

#[derive(Debug, Deserialize)]
pub struct ResolveBody {
    /// What was done (required, at most [`MAX_RESOLUTION_NOTE`] characters).
    note: String,
}

/// `POST /api/alerts/{id}/resolve` with `{"note": "…"}`: what was done, kept with the alert.
pub async fn resolve(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<ResolveBody>,
) -> Result<HttpResponse, ApiError> {
    let note = body.into_inner().note.trim().to_owned();
    if note.is_empty() {
        return Err(ApiError::BadRequest("a resolution needs a note: what was done".into()));
    }
    if note.chars().count() > MAX_RESOLUTION_NOTE {
        return Err(ApiError::BadRequest(format!("the note is longer than {MAX_RESOLUTION_NOTE} characters")));
    }
    update_alert(&req, &state, &path.into_inner(), AlertStatus::Resolved, Some(note)).await
}
