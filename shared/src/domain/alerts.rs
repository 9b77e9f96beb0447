//! Alerts computed from a document's state (DESIGN §5): the server recomputes them after
//! every merge (and on a timer, for missed check-ins and overdue deliveries), stores new
//! ones by key and resolves the ones that disappeared. Keys are stable across
//! recomputation; the server prefixes the document id.
//!
//! - **Fever**: a check-in with temperature ≥ 37.3 °C. Key `fever:<date>/<slot>`.
//! - **Symptoms**: a check-in with any symptom and no fever. Key `symptoms:<date>/<slot>`.
//!   One check-in raises at most one alert: a fever with symptoms is one fever alert
//!   whose detail names both.
//! - **Three days abnormal** (the plan's "连续3日以上健康状况异常"): a run of three or
//!   more consecutive calendar days each with an abnormal check-in (fever or any
//!   symptom), across month and year ends. One alert per run, keyed by the run's first
//!   day: `three_days_abnormal:<date>`; a run that grows keeps its key. A day without
//!   any check-in breaks the run: missing data is not evidence of illness, and the
//!   missed check-in raises its own alert.
//! - **Missed check-in**: for each day from `start` to the earlier of `end` and today,
//!   each slot whose deadline ([`slot_deadline`]) has passed without a check-in, and
//!   passed after the server first knew of the episode (an episode registered at 23:00
//!   has missed nothing that was due at 20:00); not for closed or erased episodes. Key
//!   `missed_checkin:<date>/<slot>`.
//! - **Overdue delivery**: a task past `due` still new, assigned, accepted or picked up.
//!   Key `overdue_delivery:<due>`, so moving the due date resolves the old alert.
//!
//! Every alert has a [`Severity`] for triage: red for a fever of 38.5 °C or more, three
//! days abnormal and an overdue urgent delivery; amber for other fevers, symptoms, missed
//! check-ins and overdue high-priority deliveries; info for other overdue deliveries.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::{AlertKind, Checkin, CheckinKey, Episode, EpisodeStatus, Priority, Severity, Task};

/// Temperature from which a check-in is a fever, °C.
pub const FEVER_THRESHOLD_C: f64 = 37.3;

/// Temperature from which a fever is a red alert, °C.
pub const HIGH_FEVER_C: f64 = 38.5;

/// Longest stretch of days examined for missed check-ins: a bound on the work, far above
/// any episode the schema accepts.
const MAX_DAYS_SCANNED: i64 = 400;

/// One alert condition found in a document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct AlertFact {
    /// Stable within the document, e.g. `fever:2026-02-01/0`.
    pub key: String,
    pub kind: AlertKind,
    /// The local day it concerns (`YYYY-MM-DD`), for check-in alerts.
    pub date: Option<String>,
    /// A short explanation for coordinators and medics, e.g. "38.2 °C".
    pub detail: String,
    /// How soon it needs somebody.
    pub severity: Severity,
}

/// The deadline of check-in `slot` (from 0) on an episode with `slots` check-ins a day:
/// 1 slot: 20:00; 2: 12:00, 20:00; 3: 10:00, 15:00, 20:00; 4: 08:00, 12:00, 16:00, 20:00.
/// Out-of-range arguments are clamped (slots to 1–4, slot to the last one).
#[must_use]
pub fn slot_deadline(slots: u32, slot: u32) -> NaiveTime {
    const TABLE: [&[u32]; 4] = [&[20], &[12, 20], &[10, 15, 20], &[8, 12, 16, 20]];
    let hours = TABLE[(slots.clamp(1, 4) - 1) as usize];
    let hour = hours[(slot as usize).min(hours.len() - 1)];
    NaiveTime::from_hms_opt(hour, 0, 0).unwrap_or(NaiveTime::MIN)
}

/// The alerts of an episode with `checkins` (from its readings) at local time `now_local`
/// (the community's wall clock), for an episode the server has known since
/// `known_since_local`. Check-ins under malformed keys are ignored (validation refuses
/// them anyway).
#[must_use]
pub fn episode_alerts(
    ep: &Episode,
    checkins: &BTreeMap<String, Checkin>,
    now_local: NaiveDateTime,
    known_since_local: NaiveDateTime,
) -> Vec<AlertFact> {
    if ep.erased {
        return Vec::new();
    }
    let mut alerts = Vec::new();
    let mut abnormal_days = BTreeSet::new();
    for (raw, c) in checkins {
        let Ok(key) = raw.parse::<CheckinKey>() else { continue };
        let date = Some(key.date.to_string());
        let fever = c.temp_c >= FEVER_THRESHOLD_C;
        let names: Vec<&str> = c.symptoms.iter().map(|s| s.as_str()).collect();
        if fever {
            let reading = format!("{:.1} °C", c.temp_c);
            alerts.push(AlertFact {
                key: format!("{}:{key}", AlertKind::Fever),
                kind: AlertKind::Fever,
                date,
                detail: if names.is_empty() { reading } else { format!("{reading}; {}", names.join(", ")) },
                severity: if c.temp_c >= HIGH_FEVER_C { Severity::Red } else { Severity::Amber },
            });
        } else if !names.is_empty() {
            alerts.push(AlertFact {
                key: format!("{}:{key}", AlertKind::Symptoms),
                kind: AlertKind::Symptoms,
                date,
                detail: names.join(", "),
                severity: Severity::Amber,
            });
        }
        if fever || !c.symptoms.is_empty() {
            abnormal_days.insert(key.date);
        }
    }
    for (first, last) in runs(&abnormal_days) {
        let days = (last - first).num_days() + 1;
        if days >= 3 {
            alerts.push(AlertFact {
                key: format!("{}:{first}", AlertKind::ThreeDaysAbnormal),
                kind: AlertKind::ThreeDaysAbnormal,
                date: Some(first.to_string()),
                detail: format!("abnormal {days} days in a row, {first} to {last}"),
                severity: Severity::Red,
            });
        }
    }
    if ep.status != EpisodeStatus::Closed {
        alerts.extend(missed_checkins(ep, checkins, now_local, known_since_local));
    }
    alerts
}

/// Maximal runs of consecutive days, as (first, last).
fn runs(days: &BTreeSet<NaiveDate>) -> Vec<(NaiveDate, NaiveDate)> {
    let mut runs: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for &d in days {
        match runs.last_mut() {
            Some((_, last)) if last.succ_opt() == Some(d) => *last = d,
            _ => runs.push((d, d)),
        }
    }
    runs
}

fn missed_checkins(
    ep: &Episode,
    checkins: &BTreeMap<String, Checkin>,
    now_local: NaiveDateTime,
    known_since_local: NaiveDateTime,
) -> Vec<AlertFact> {
    let (Some(start), Some(end)) = (ep.start_date(), ep.end_date()) else { return Vec::new() };
    let last = end.min(now_local.date());
    let mut alerts = Vec::new();
    for date in start.iter_days().take_while(|d| *d <= last).take(MAX_DAYS_SCANNED as usize) {
        for slot in 0..ep.slots.min(super::MAX_SLOTS) {
            let deadline = slot_deadline(ep.slots, slot);
            let due = date.and_time(deadline);
            let key = CheckinKey { date, slot };
            if now_local > due && due > known_since_local && !checkins.contains_key(&key.to_string()) {
                alerts.push(AlertFact {
                    key: format!("{}:{key}", AlertKind::MissedCheckin),
                    kind: AlertKind::MissedCheckin,
                    date: Some(date.to_string()),
                    detail: format!("check-in {} of {} due by {}", slot + 1, ep.slots, deadline.format("%H:%M")),
                    severity: Severity::Amber,
                });
            }
        }
    }
    alerts
}

/// The alerts of a task at `now_ms` (ms since the epoch).
#[must_use]
pub fn task_alerts(task: &Task, now_ms: i64) -> Vec<AlertFact> {
    if task.status.is_open() && now_ms > task.due {
        vec![AlertFact {
            key: format!("{}:{}", AlertKind::OverdueDelivery, task.due),
            kind: AlertKind::OverdueDelivery,
            date: None,
            detail: format!("{} delivery, {} priority", task.category, task.priority),
            severity: match task.priority {
                Priority::Urgent => Severity::Red,
                Priority::High => Severity::Amber,
                Priority::Normal => Severity::Info,
            },
        }]
    } else {
        Vec::new()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_follow_the_table_and_clamp() {
        let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap_or(NaiveTime::MIN);
        assert_eq!(slot_deadline(1, 0), t(20));
        assert_eq!([slot_deadline(2, 0), slot_deadline(2, 1)], [t(12), t(20)]);
        assert_eq!([slot_deadline(3, 0), slot_deadline(3, 1), slot_deadline(3, 2)], [t(10), t(15), t(20)]);
        assert_eq!((0..4).map(|s| slot_deadline(4, s)).collect::<Vec<_>>(), [t(8), t(12), t(16), t(20)]);
        assert_eq!(slot_deadline(0, 0), t(20));
        assert_eq!(slot_deadline(9, 9), t(20));
    }

    fn episode(checkins: serde_json::Value) -> (Episode, BTreeMap<String, Checkin>) {
        let ep = serde_json::from_value(serde_json::json!({
            "kind": "episode", "schema": crate::domain::Kind::Episode.schema_version(), "grid": "g1",
            "household": crate::DocumentId::from_bytes([1; 16]).to_string(),
            "person": {"name": "x", "age": 40}, "reason": "close_contact",
            "start": "2026-02-01", "end": "2026-02-14", "slots": 1, "assignee": null,
            "status": "active", "readings": null, "medical": null,
        }))
        .unwrap();
        (ep, serde_json::from_value(checkins).unwrap())
    }

    fn reading(temp_c: f64, symptoms: &[&str]) -> serde_json::Value {
        serde_json::json!({"temp_c": temp_c, "symptoms": symptoms, "method": "phone", "note": "", "by": "u-1", "at": 1})
    }

    fn facts((ep, checkins): &(Episode, BTreeMap<String, Checkin>)) -> Vec<AlertFact> {
        let at = |d: &str| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap().and_hms_opt(21, 0, 0).unwrap();
        // Known since long ago, looked at in the evening of the last check-in's day.
        episode_alerts(ep, checkins, at("2026-02-04"), at("2026-01-01"))
    }

    #[test]
    fn one_check_in_raises_at_most_one_alert() {
        let ep = episode(serde_json::json!({
            "2026-02-01/0": reading(38.2, &["cough", "fatigue"]),
            "2026-02-02/0": reading(36.6, &["cough"]),
            "2026-02-03/0": reading(37.5, &[]),
            "2026-02-04/0": reading(36.5, &[]),
        }));
        let per_checkin: Vec<(String, AlertKind)> = facts(&ep)
            .into_iter()
            .filter(|f| matches!(f.kind, AlertKind::Fever | AlertKind::Symptoms))
            .map(|f| (f.key, f.kind))
            .collect();
        assert_eq!(
            per_checkin,
            [
                ("fever:2026-02-01/0".to_owned(), AlertKind::Fever),
                ("symptoms:2026-02-02/0".to_owned(), AlertKind::Symptoms),
                ("fever:2026-02-03/0".to_owned(), AlertKind::Fever),
            ]
        );
        let first = facts(&ep).into_iter().next().unwrap();
        assert_eq!(first.detail, "38.2 °C; cough, fatigue", "the fever alert names the symptoms too");
    }

    #[test]
    fn severity_triages_alerts() {
        let ep = episode(serde_json::json!({
            "2026-02-01/0": reading(38.5, &[]),
            "2026-02-02/0": reading(38.4, &[]),
            "2026-02-03/0": reading(36.6, &["cough"]),
        }));
        let by_key: Vec<(String, Severity)> = facts(&ep).into_iter().map(|f| (f.key, f.severity)).collect();
        assert_eq!(
            by_key,
            [
                ("fever:2026-02-01/0".to_owned(), Severity::Red),
                ("fever:2026-02-02/0".to_owned(), Severity::Amber),
                ("symptoms:2026-02-03/0".to_owned(), Severity::Amber),
                ("three_days_abnormal:2026-02-01".to_owned(), Severity::Red),
                ("missed_checkin:2026-02-04/0".to_owned(), Severity::Amber),
            ]
        );
        assert!(Severity::Red < Severity::Amber && Severity::Amber < Severity::Info, "the list's order");
    }
}
