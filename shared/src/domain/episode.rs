//! `episode` documents: one per person under home medical observation (居家隔离医学观察).
//! The coordinator opens and closes it; medics escalate it. What is seen about the
//! person's health lives in documents of their own, which the server makes for every
//! episode and links from it (DESIGN §9): the check-ins in its `readings` (schema 3;
//! before, they were here, and so on every coordinator's and admin's phone), the medics'
//! notes in its `medical` record (schema 2). After the retention period the server erases
//! the health details and only the non-sensitive summary remains, with `erased` set.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::check::{self, at_most, timestamp, Check};
use super::household::first_duplicate;
use super::names::{EpisodeStatus, Kind, Method, Reason, Symptom};
use super::violation::Violation;
use crate::DocumentId;

/// Lowest body temperature accepted in a check-in, °C. Below it the reading is a mistake.
pub const MIN_TEMP_C: f64 = 34.0;
/// Highest body temperature accepted in a check-in, °C.
pub const MAX_TEMP_C: f64 = 43.0;
/// Most check-ins a day an episode can ask for.
pub const MAX_SLOTS: u32 = 4;

/// A home-observation episode (DESIGN §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct Episode {
    /// Always `"episode"`.
    #[ts(type = "\"episode\"")]
    pub kind: Kind,
    pub schema: u64,
    pub grid: String,
    /// The household the person lives in: a bare DocumentId. Never changes.
    #[ts(type = "string")]
    pub household: DocumentId,
    pub person: Person,
    pub reason: Reason,
    /// First day, `YYYY-MM-DD` (community local date).
    pub start: String,
    /// Last day, `YYYY-MM-DD`; by default `start` + 14 days.
    pub end: String,
    /// Check-ins per day, 1–4.
    pub slots: u32,
    /// The volunteer who does the check-ins; `null` if none.
    #[serde(default)]
    pub assignee: Option<String>,
    pub status: EpisodeStatus,
    /// When it was closed, ms since the epoch; set exactly when `status` is `closed`.
    #[serde(default)]
    pub closed_at: Option<i64>,
    /// The `readings` document holding this episode's check-ins, which only the assigned
    /// volunteer and the grid's medics read (DESIGN §9). Set by the server; `null` until
    /// it has made it.
    #[serde(default)]
    #[ts(type = "string | null")]
    pub readings: Option<DocumentId>,
    /// The `medical` document holding the medics' notes on this episode, which only the
    /// grid's medics read (DESIGN §9). Set by the server; `null` until it has made it.
    #[serde(default)]
    #[ts(type = "string | null")]
    pub medical: Option<DocumentId>,
    /// Set by the server's retention: the health details are gone and nothing may change.
    #[serde(default)]
    pub erased: bool,
}

/// The person under observation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct Person {
    pub name: String,
    pub age: u32,
}

/// One health check: temperature and symptoms.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct Checkin {
    /// Body temperature, °C, 34.0–43.0.
    pub temp_c: f64,
    /// Symptoms from the plan's list; empty when none; no duplicates.
    pub symptoms: Vec<Symptom>,
    pub method: Method,
    pub note: String,
    /// User id of whoever took it.
    pub by: String,
    /// When it was taken, ms since the epoch.
    pub at: i64,
}

/// A medic's note on an episode (in its `medical` document).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
pub struct MedicNote {
    pub at: i64,
    pub by: String,
    pub text: String,
}

super::am_json::via_json!(Episode);
super::am_json::via_json!(Person);
super::am_json::via_json!(Checkin);
super::am_json::via_json!(MedicNote);

/// The key of a check-in: a local date and a slot of that day, written `YYYY-MM-DD/<slot>`
/// with the slot in plain decimal (no sign, no leading zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CheckinKey {
    pub date: NaiveDate,
    pub slot: u32,
}

impl fmt::Display for CheckinKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.date.format("%Y-%m-%d"), self.slot)
    }
}

impl FromStr for CheckinKey {
    type Err = Violation;

    fn from_str(s: &str) -> Result<Self, Violation> {
        let bad = || Violation::new(format!("checkins.{s}"), "a check-in key is written YYYY-MM-DD/<slot>");
        let (date, slot) = s.split_once('/').ok_or_else(bad)?;
        let date = check::parse_date(date).ok_or_else(bad)?;
        let canonical = !slot.is_empty() && slot.len() <= 2 && slot.bytes().all(|b| b.is_ascii_digit());
        if !canonical || (slot.len() > 1 && slot.starts_with('0')) {
            return Err(bad());
        }
        Ok(Self { date, slot: slot.parse().map_err(|_| bad())? })
    }
}

impl Episode {
    /// `start` as a date, if it is one.
    #[must_use]
    pub fn start_date(&self) -> Option<NaiveDate> {
        check::parse_date(&self.start)
    }

    /// `end` as a date, if it is one.
    #[must_use]
    pub fn end_date(&self) -> Option<NaiveDate> {
        check::parse_date(&self.end)
    }

    /// Open: neither closed nor erased.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.status != EpisodeStatus::Closed && !self.erased
    }

    /// What retention leaves of this episode: the grid, the household, why and when,
    /// and nothing about the person's health or identity. The result has `erased` set,
    /// is closed (at `now_ms` if it was not yet), and passes validation; the server writes
    /// it as a fresh history.
    #[must_use]
    pub fn erased_summary(&self, now_ms: i64) -> Episode {
        Episode {
            person: Person { name: String::new(), age: 0 },
            assignee: None,
            status: EpisodeStatus::Closed,
            closed_at: self.closed_at.or(Some(now_ms)),
            readings: None,
            medical: None,
            erased: true,
            ..self.clone()
        }
    }

    pub(crate) fn validate_fields(&self, c: Check<'_>) -> Result<(), Violation> {
        if self.erased {
            c.short("person.name", &self.person.name)?;
        } else {
            c.short_required("person.name", &self.person.name)?;
        }
        if self.person.age > super::household::MAX_AGE {
            return Err(Violation::new("person.age", format!("must be at most {}", super::household::MAX_AGE)));
        }
        validate_days(c, &self.start, &self.end, self.slots)?;
        c.opt_user("assignee", self.assignee.as_deref())?;
        match (self.status, self.closed_at) {
            (EpisodeStatus::Closed, None) => return Err(Violation::new("closed_at", "a closed episode says when")),
            (EpisodeStatus::Closed, Some(at)) => timestamp("closed_at", at)?,
            (_, Some(_)) => return Err(Violation::new("closed_at", "only a closed episode has a closing time")),
            (_, None) => {}
        }
        if self.erased {
            if self.status != EpisodeStatus::Closed {
                return Err(Violation::new("status", "an erased episode is closed"));
            }
            if self.readings.is_some() {
                return Err(Violation::new("readings", "an erased episode keeps no readings"));
            }
            if self.medical.is_some() {
                return Err(Violation::new("medical", "an erased episode keeps no medical record"));
            }
        }
        Ok(())
    }
}

/// `start` and `end` are dates, in order, within the longest episode; `slots` is 1–4.
pub(crate) fn validate_days(c: Check<'_>, start: &str, end: &str, slots: u32) -> Result<(), Violation> {
    let start = check::date("start", start)?;
    let end = check::date("end", end)?;
    if end < start {
        return Err(Violation::new("end", "must not be before `start`"));
    }
    let days = (end - start).num_days();
    if days > c.limits.max_episode_days {
        return Err(Violation::new(
            "end",
            format!("the episode spans {days} days; the limit is {}", c.limits.max_episode_days),
        ));
    }
    if !(1..=MAX_SLOTS).contains(&slots) {
        return Err(Violation::new("slots", format!("must be 1 to {MAX_SLOTS} check-ins a day")));
    }
    Ok(())
}

/// The check-ins of an episode from `start` to `end`: at most the limit, each under a
/// well-formed key of a day of the episode, each a plausible reading.
pub(crate) fn validate_checkins(
    c: Check<'_>,
    checkins: &BTreeMap<String, Checkin>,
    start: &str,
    end: &str,
) -> Result<(), Violation> {
    at_most("checkins", checkins.len(), c.limits.max_checkins)?;
    let (start, end) = (check::date("start", start)?, check::date("end", end)?);
    for (key, checkin) in checkins {
        validate_checkin(c, key, checkin, start, end)?;
    }
    Ok(())
}

fn validate_checkin(
    c: Check<'_>,
    key: &str,
    checkin: &Checkin,
    start: NaiveDate,
    end: NaiveDate,
) -> Result<(), Violation> {
    let parsed: CheckinKey = key.parse()?;
    let field = format!("checkins.{key}");
    if parsed.date < start || parsed.date > end {
        return Err(Violation::new(field, format!("the date is outside the episode, {start}..{end}")));
    }
    // Any slot an episode can have: `slots` may go down (a lower risk level) after a
    // check-in was taken in a later slot, and that check-in stays valid. New check-ins
    // are held to `slots` by the change rules.
    if parsed.slot >= MAX_SLOTS {
        return Err(Violation::new(
            field,
            format!("slot {} does not exist: at most {MAX_SLOTS} check-ins a day", parsed.slot),
        ));
    }
    if !(checkin.temp_c.is_finite() && (MIN_TEMP_C..=MAX_TEMP_C).contains(&checkin.temp_c)) {
        return Err(Violation::new(
            format!("{field}.temp_c"),
            format!("must be a body temperature from {MIN_TEMP_C:.1} to {MAX_TEMP_C:.1} °C"),
        ));
    }
    if let Some(dup) = first_duplicate(&checkin.symptoms) {
        return Err(Violation::new(format!("{field}.symptoms"), format!("`{dup}` is listed twice")));
    }
    c.text(&format!("{field}.note"), &checkin.note)?;
    c.user(&format!("{field}.by"), &checkin.by)?;
    timestamp(&format!("{field}.at"), checkin.at)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn checkin_keys_parse_and_print_canonically() {
        let k: CheckinKey = "2026-12-01/1".parse().unwrap();
        assert_eq!(k.slot, 1);
        assert_eq!(k.to_string(), "2026-12-01/1");
        for bad in
            ["2026-12-01", "2026-12-01/", "2026-12-01/01", "2026-12-01/-1", "2026-12-1/0", "x/0", "2026-12-01/1/2"]
        {
            let e = bad.parse::<CheckinKey>().unwrap_err();
            assert_eq!(e.field, format!("checkins.{bad}"), "{bad}");
        }
    }
}
