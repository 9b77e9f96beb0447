//! `GET /api/stats/daily?grid=<id>&days=<n>`: the dashboard's charts (issue 14) — per
//! community-local day, over the last `days` days (14 by default, at most 60) up to
//! today by the server's clock: check-ins done and due, alerts raised and resolved, and
//! deliveries done.
//!
//! Counts only: no reading, no name, no address (DESIGN §9). Medics get no delivery
//! counts and no overdue-delivery alerts in theirs (deliveries are not theirs to see).
//!
//! - **Check-ins due**: for each episode not erased, `slots` on every day from its
//!   `start` to the earliest of its `end`, the day it was closed and today.
//! - **Check-ins done**: the check-ins recorded under those days.
//! - **Alerts raised / resolved**: by the day of `raised_at` / `resolved_at`.
//! - **Deliveries done**: moves to `delivered` in the tasks' logs, by the day of the move.

use super::work::overseen_grid;
use super::{ApiError, AppState};
use crate::store::AlertStatus;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::NaiveDate;
use linli_shared::domain::{AlertKind, DomainDoc, DomainLimits, Kind, Role, TaskStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Longest window a caller may ask for, in days.
pub const MAX_DAYS: i64 = 60;

#[derive(Debug, Deserialize)]
pub struct DailyQuery {
    grid: String,
    days: Option<i64>,
}

/// One day's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Day {
    /// `YYYY-MM-DD`, community local date.
    pub date: String,
    pub checkins_done: u32,
    pub checkins_due: u32,
    pub alerts_raised: u32,
    pub alerts_resolved: u32,
    /// `null` for medics.
    pub deliveries_done: Option<u32>,
}

/// `GET /api/stats/daily`
pub async fn daily(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<DailyQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let (caller, grid) = overseen_grid(&req, &state, q.grid).await?;
    let n = q.days.unwrap_or(14);
    if !(1..=MAX_DAYS).contains(&n) {
        return Err(ApiError::BadRequest(format!("days must be 1 to {MAX_DAYS}")));
    }
    let deliveries = caller.user.role != Role::Medic;
    let limits = DomainLimits { utc_offset_minutes: state.utc_offset_minutes, ..DomainLimits::default() };
    let local_date = |ms: i64| limits.local_datetime(ms).map(|t| t.date());
    let today = local_date(state.store.now_ms()).ok_or_else(|| ApiError::internal("the clock is out of range"))?;
    let first = today - chrono::Duration::days(n - 1);
    let mut days: BTreeMap<NaiveDate, Day> = first
        .iter_days()
        .take_while(|d| *d <= today)
        .map(|d| (d, Day { date: d.to_string(), deliveries_done: deliveries.then_some(0), ..Day::default() }))
        .collect();

    for row in state.store.rows(Some(&grid.id)).await? {
        let wanted = match row.kind {
            Kind::Episode => !row.erased && row.closed_at.is_none_or(|c| local_date(c).is_some_and(|d| d >= first)),
            Kind::Task => {
                deliveries
                    && (row.status == TaskStatus::Delivered.as_str() || row.status == TaskStatus::Confirmed.as_str())
                    && row.closed_at.is_some_and(|c| local_date(c).is_some_and(|d| d >= first))
            }
            _ => false,
        };
        let Some(id) = wanted.then(|| row.doc.parse().ok()).flatten() else { continue };
        match crate::projector::load_doc(&state.store, &id).await? {
            Some(DomainDoc::Episode(ep)) if !ep.erased => {
                let (Some(start), Some(end)) = (ep.start_date(), ep.end_date()) else { continue };
                let closed = ep.closed_at.and_then(local_date);
                let last = [Some(end), closed, Some(today)].into_iter().flatten().min().unwrap_or(today);
                // How many were taken, not what they said: the keys of its readings.
                let keys: Vec<String> = match ep.readings {
                    Some(r) => match crate::projector::load_doc(&state.store, &r).await? {
                        Some(DomainDoc::Readings(r)) => r.checkins.into_keys().collect(),
                        _ => Vec::new(),
                    },
                    None => Vec::new(),
                };
                for (date, day) in days.range_mut(start.max(first)..=last) {
                    day.checkins_due += ep.slots;
                    let prefix = format!("{date}/");
                    let done = keys.iter().filter(|k| k.starts_with(&prefix)).count();
                    day.checkins_done += u32::try_from(done).unwrap_or(u32::MAX);
                }
            }
            Some(DomainDoc::Task(t)) => {
                for e in t.log.iter().filter(|e| e.to == TaskStatus::Delivered && e.from != e.to) {
                    if let Some(day) = local_date(e.at).and_then(|d| days.get_mut(&d)) {
                        *day.deliveries_done.get_or_insert(0) += 1;
                    }
                }
            }
            _ => {}
        }
    }

    for a in state.store.alerts(None).await? {
        if a.grid != grid.id || (!deliveries && a.kind == AlertKind::OverdueDelivery) {
            continue;
        }
        if let Some(day) = local_date(a.raised_at).and_then(|d| days.get_mut(&d)) {
            day.alerts_raised += 1;
        }
        let resolved = a.resolved_at.filter(|_| a.status == AlertStatus::Resolved);
        if let Some(day) = resolved.and_then(local_date).and_then(|d| days.get_mut(&d)) {
            day.alerts_resolved += 1;
        }
    }
    let days: Vec<Day> = days.into_values().collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({"grid": grid.id, "days": days})))
}
