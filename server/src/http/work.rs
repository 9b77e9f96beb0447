//! What coordinators, medics and admins ask of the server (DESIGN §5, §6): the grid
//! dashboard, alerts (list, acknowledge, resolve) and CSV exports.
//!
//! Volunteers get none of this: their work reaches them through their inbox. Exports are
//! audited, and health details (temperatures, symptoms, medical notes) appear only in a
//! medic's export; coordinators and admins see that a person is under observation, its
//! status and its alert count, not the readings.

use super::caller::{authenticate, Caller};
use super::{ApiError, AppState};
use crate::store::{Alert, AlertStatus, ProjRow, Store, Write};
use actix_web::{web, HttpRequest, HttpResponse};
use linli_shared::domain::{DomainDoc, Kind, Role};
use linli_shared::DocumentId;
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

/// Grids a caller oversees: all for an admin, their own for coordinators and medics.
fn oversees(caller: &Caller, grid: &str) -> bool {
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
async fn overseen_grid(
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
    /// `open` (default: open and acknowledged), `all`
    status: Option<String>,
}

/// `GET /api/alerts`: alerts of the caller's grids, newest first.
pub async fn list_alerts(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<AlertQuery>,
) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(&req, &state, false).await?;
    no_volunteers(&caller)?;
    let all = q.status.as_deref() == Some("all");
    let mut list: Vec<Alert> = state
        .store
        .alerts(None)
        .await?
        .into_iter()
        .filter(|a| oversees(&caller, &a.grid))
        .filter(|a| q.grid.as_deref().is_none_or(|g| a.grid == g))
        .filter(|a| all || a.status != AlertStatus::Resolved)
        .collect();
    list.sort_by_key(|a| std::cmp::Reverse(a.raised_at));
    Ok(HttpResponse::Ok().json(json!({"alerts": list})))
}

async fn update_alert(
    req: &HttpRequest,
    state: &AppState,
    id: &str,
    to: AlertStatus,
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
        }
        _ => return Err(ApiError::BadRequest(format!("the alert is already {:?}", alert.status).to_lowercase())),
    }
    let action = if to == AlertStatus::Resolved { "alert.resolve" } else { "alert.acknowledge" };
    let audited = state.audit.entry(&caller.user.id, action, Some(alert.doc.clone()), alert.id.clone());
    state.store.commit(vec![Write::Alert(alert.clone()), audited]).await?;
    Ok(HttpResponse::Ok().json(json!({"alert": alert})))
}

/// `POST /api/alerts/{id}/acknowledge`
pub async fn acknowledge(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    update_alert(&req, &state, &path.into_inner(), AlertStatus::Acknowledged).await
}

/// `POST /api/alerts/{id}/resolve`
pub async fn resolve(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    update_alert(&req, &state, &path.into_inner(), AlertStatus::Resolved).await
}

const MASKED: &str = "***";

/// Characters that make a spreadsheet read a cell as a formula (OWASP "CSV injection"):
/// `=`, `+`, `-`, `@`, and tab and carriage return, which some importers strip before
/// looking at the next character; plus their fullwidth forms, which Excel and WPS in a
/// Chinese locale (IME input) also accept as a formula's start.
const FORMULA_STARTS: [char; 10] = ['=', '+', '-', '@', '\t', '\r', '＝', '＋', '－', '＠'];

/// One exported cell, neutralised against CSV injection: a cell that would start a formula
/// gets a leading `'`, which spreadsheets show as text and do not evaluate. "Would start"
/// also covers a formula character after leading whitespace (ASCII or the ideographic
/// space U+3000), since some spreadsheets trim it on import. Any other cell is unchanged,
/// so ids, dates and numbers read as before. Quoting of commas, quotes and line breaks is
/// the CSV writer's job, not this function's.
pub fn csv_cell(cell: String) -> String {
    let first = cell.trim_start_matches([' ', '\n', '\u{3000}']).chars().next();
    if first.is_some_and(|c| FORMULA_STARTS.contains(&c)) {
        format!("'{cell}")
    } else {
        cell
    }
}

/// `GET /api/export/{tasks|episodes|households}.csv`
pub async fn export(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let caller = authenticate(&req, &state, false).await?;
    if caller.user.role == Role::Volunteer {
        return Err(ApiError::Forbidden("volunteers cannot export"));
    }
    let name = path.into_inner();
    let kind = match name.as_str() {
        "tasks.csv" => Kind::Task,
        "episodes.csv" => Kind::Episode,
        "households.csv" => Kind::Household,
        _ => return Err(ApiError::NotFound("exports are tasks.csv, episodes.csv and households.csv")),
    };
    if caller.user.role == Role::Medic && kind == Kind::Task {
        return Err(ApiError::Forbidden("medics export episodes and households"));
    }
    let rows: Vec<ProjRow> =
        state.store.rows(None).await?.into_iter().filter(|r| r.kind == kind && oversees(&caller, &r.grid)).collect();
    let health = caller.user.role == Role::Medic;
    let role = caller.user.role;
    let body = render_csv(&state.store, kind, &rows, health, role).await?;
    let detail = format!("{name}{}", if health { "" } else { " (health details masked)" });
    state.store.commit(vec![state.audit.entry(&caller.user.id, "export", None, detail)]).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header(("Content-Disposition", format!("attachment; filename=\"linli-{name}\"")))
        .insert_header(("Cache-Control", "no-store"))
        .body(body))
}

async fn render_csv(
    store: &Store,
    kind: Kind,
    rows: &[ProjRow],
    health: bool,
    role: Role,
) -> Result<Vec<u8>, ApiError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    // Every cell, header included, passes through `csv_cell`: none can start a formula.
    let mut write = |fields: Vec<String>| w.write_record(fields.into_iter().map(csv_cell)).map_err(ApiError::internal);
    match kind {
        Kind::Task => write(
            [
                "id",
                "grid",
                "household",
                "category",
                "items",
                "priority",
                "due",
                "contactless",
                "assignee",
                "status",
                "failure_reason",
                "created_by",
                "created_at",
            ]
            .map(String::from)
            .to_vec(),
        )?,
        Kind::Episode => write(
            [
                "id",
                "grid",
                "household",
                "person",
                "age",
                "reason",
                "start",
                "end",
                "slots",
                "assignee",
                "status",
                "checkins",
                "latest_temp_c",
                "symptoms",
                "medic_notes",
            ]
            .map(String::from)
            .to_vec(),
        )?,
        _ => write(
            ["id", "grid", "building", "unit", "room", "phone", "members", "care_flags", "medicines", "notes"]
                .map(String::from)
                .to_vec(),
        )?,
    }
    for row in rows {
        let Ok(id) = row.doc.parse::<DocumentId>() else { continue };
        let Some(doc) = crate::projector::load_doc(store, &id).await? else { continue };
        let mask = |s: String| if health { s } else { MASKED.to_owned() };
        match doc {
            DomainDoc::Task(t) => write(vec![
                row.doc.clone(),
                t.grid,
                t.household.to_string(),
                t.category.to_string(),
                t.items.iter().map(|i| format!("{} {}{}", i.name, i.qty, i.unit)).collect::<Vec<_>>().join("; "),
                t.priority.to_string(),
                t.due.to_string(),
                t.contactless.to_string(),
                t.assignee.unwrap_or_default(),
                t.status.to_string(),
                t.failure_reason.unwrap_or_default(),
                t.created_by,
                t.created_at.to_string(),
            ])?,
            DomainDoc::Episode(e) => {
                let latest = e.checkins.values().max_by_key(|c| c.at);
                write(vec![
                    row.doc.clone(),
                    e.grid.clone(),
                    e.household.to_string(),
                    e.person.name.clone(),
                    e.person.age.to_string(),
                    e.reason.to_string(),
                    e.start.clone(),
                    e.end.clone(),
                    e.slots.to_string(),
                    e.assignee.clone().unwrap_or_default(),
                    e.status.to_string(),
                    e.checkins.len().to_string(),
                    mask(latest.map(|c| format!("{:.1}", c.temp_c)).unwrap_or_default()),
                    mask(
                        latest
                            .map(|c| c.symptoms.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(" "))
                            .unwrap_or_default(),
                    ),
                    mask(e.medic_notes.iter().map(|n| n.text.clone()).collect::<Vec<_>>().join(" | ")),
                ])?
            }
            DomainDoc::Household(h) => {
                // Medics see who lives there and their medicines, not how to reach them.
                let contact = |s: String| if role == Role::Medic { MASKED.to_owned() } else { s };
                write(vec![
                    row.doc.clone(),
                    h.grid.clone(),
                    h.building.clone(),
                    h.unit.clone(),
                    h.room.clone(),
                    contact(h.phone.clone()),
                    h.members.iter().map(|m| format!("{} ({})", m.name, m.age)).collect::<Vec<_>>().join("; "),
                    h.members.iter().flat_map(|m| m.flags.iter().map(|f| f.to_string())).collect::<Vec<_>>().join(" "),
                    h.members.iter().flat_map(|m| m.medicines.iter().cloned()).collect::<Vec<_>>().join("; "),
                    contact(h.notes.clone()),
                ])?
            }
            _ => {}
        }
    }
    w.into_inner().map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    #[test]
    fn formula_cells_are_neutralised() {
        for cell in [
            "=HYPERLINK(\"http://x\",\"y\")",
            "=WEBSERVICE(\"http://x\")",
            "+1+1",
            "-1+1",
            "@SUM(1)",
            "\t=1+1",
            "\r=1+1",
            "  =1+1",
            "\n=1+1",
            "\u{3000}=1+1",
            "＝1+1",
            "＋1",
            "－1",
            "＠SUM(1)",
        ] {
            assert_eq!(csv_cell(cell.to_owned()), format!("'{cell}"), "{cell:?}");
        }
    }

    #[test]
    fn other_cells_are_unchanged() {
        for cell in ["", "3", "401", "王秀英 (78)", "a=b", "1+1", "x@y", "'quoted", "2026-03-01", "***", "  text"] {
            assert_eq!(csv_cell(cell.to_owned()), cell, "{cell:?}");
        }
    }
}
