//! Alert rules over generated check-in sequences: fever and symptoms, three abnormal days
//! in a row across month and year ends, missed slots, overdue deliveries.

#![allow(clippy::unwrap_used)]

mod domain_fixtures;

use std::collections::BTreeMap;

use chrono::NaiveDate;
use domain_fixtures::*;
use linli_shared::domain::*;

/// An episode with the check-ins of its readings, as the server computes its alerts.
struct Ep {
    episode: Episode,
    checkins: BTreeMap<String, Checkin>,
}

impl std::ops::Deref for Ep {
    type Target = Episode;
    fn deref(&self) -> &Episode {
        &self.episode
    }
}

impl std::ops::DerefMut for Ep {
    fn deref_mut(&mut self) -> &mut Episode {
        &mut self.episode
    }
}

fn sample() -> Ep {
    Ep { episode: episode(), checkins: readings().checkins }
}

fn alerts_of(ep: &Ep, now: chrono::NaiveDateTime, known_since: chrono::NaiveDateTime) -> Vec<AlertFact> {
    episode_alerts(&ep.episode, &ep.checkins, now, known_since)
}

fn date(s: &str) -> NaiveDate {
    parse_date(s).unwrap()
}

/// An episode from `start` to `end`, one slot a day, with a check-in on each listed day:
/// abnormal (37.5 °C) or normal (36.5 °C).
fn episode_with(start: &str, end: &str, days: &[(NaiveDate, bool)]) -> Ep {
    let mut checkins = BTreeMap::new();
    for &(d, abnormal) in days {
        let temp = if abnormal { 37.5 } else { 36.5 };
        checkins.insert(format!("{d}/0"), checkin(VOL, now(), temp, vec![]));
    }
    Ep { episode: Episode { start: start.into(), end: end.into(), slots: 1, ..episode() }, checkins }
}

/// An episode the server has known since long before any of its days.
fn long_ago() -> chrono::NaiveDateTime {
    local("2000-01-01 00:00")
}

fn of_kind(alerts: &[AlertFact], kind: AlertKind) -> Vec<&AlertFact> {
    alerts.iter().filter(|a| a.kind == kind).collect()
}

/// Alerts long after the episode, so missed check-ins are listed but do not matter here.
fn runs_of(ep: &Ep) -> Vec<String> {
    let alerts = alerts_of(ep, local("2030-01-01 00:00"), long_ago());
    of_kind(&alerts, AlertKind::ThreeDaysAbnormal).iter().map(|a| a.key.clone()).collect()
}

fn consecutive(first: &str, n: usize) -> Vec<(NaiveDate, bool)> {
    date(first).iter_days().take(n).map(|d| (d, true)).collect()
}

#[test]
fn fever_from_37_3_and_any_symptom() {
    let mut ep = sample();
    ep.checkins.insert("2026-02-01/0".into(), checkin(VOL, now(), 37.2, vec![]));
    ep.checkins.insert("2026-01-30/0".into(), checkin(VOL, now(), 37.3, vec![]));
    ep.checkins.insert("2026-01-30/1".into(), checkin(VOL, now(), 36.4, vec![Symptom::Cough, Symptom::SoreThroat]));
    let alerts = alerts_of(&ep, local("2026-02-01 12:30"), long_ago());
    let fever = of_kind(&alerts, AlertKind::Fever);
    assert_eq!(fever.len(), 1);
    assert_eq!(fever[0].key, "fever:2026-01-30/0");
    assert_eq!(fever[0].date.as_deref(), Some("2026-01-30"));
    assert_eq!(fever[0].detail, "37.3 °C");
    let symptoms = of_kind(&alerts, AlertKind::Symptoms);
    assert_eq!(symptoms.len(), 1);
    assert_eq!(symptoms[0].key, "symptoms:2026-01-30/1");
    assert_eq!(symptoms[0].detail, "cough, sore_throat");
}

#[test]
fn three_days_across_month_and_year_ends() {
    for (first, end) in [
        ("2026-01-30", "2026-02-10"), // Jan 30, 31 → Feb 1
        ("2026-12-30", "2027-01-10"), // Dec 30, 31 → Jan 1
        ("2026-02-27", "2026-03-10"), // Feb 27, 28 → Mar 1 (2026 is not a leap year)
    ] {
        let ep = episode_with(first, end, &consecutive(first, 3));
        assert_eq!(runs_of(&ep), vec![format!("three_days_abnormal:{first}")], "from {first}");
    }
    // In a leap year Feb 28 → Mar 1 skips Feb 29: no run.
    let leap = episode_with(
        "2024-02-27",
        "2024-03-05",
        &[(date("2024-02-27"), true), (date("2024-02-28"), true), (date("2024-03-01"), true)],
    );
    assert!(runs_of(&leap).is_empty());
}

#[test]
fn a_missing_or_normal_day_breaks_the_run() {
    let days = [
        (date("2026-01-29"), true),
        (date("2026-01-30"), true),
        // 2026-01-31: no check-in
        (date("2026-02-01"), true),
        (date("2026-02-02"), true),
    ];
    assert!(runs_of(&episode_with("2026-01-25", "2026-02-08", &days)).is_empty());
    let mut with_normal = days.to_vec();
    with_normal.push((date("2026-01-31"), false));
    assert!(runs_of(&episode_with("2026-01-25", "2026-02-08", &with_normal)).is_empty());
    let mut filled = days.to_vec();
    filled.push((date("2026-01-31"), true));
    assert_eq!(runs_of(&episode_with("2026-01-25", "2026-02-08", &filled)), ["three_days_abnormal:2026-01-29"]);
}

#[test]
fn one_alert_per_run_keyed_by_its_first_day() {
    let mut days = consecutive("2026-01-26", 5);
    days.extend(consecutive("2026-02-02", 3));
    let ep = episode_with("2026-01-25", "2026-02-08", &days);
    let alerts = alerts_of(&ep, local("2030-01-01 00:00"), long_ago());
    let runs = of_kind(&alerts, AlertKind::ThreeDaysAbnormal);
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].key, "three_days_abnormal:2026-01-26");
    assert_eq!(runs[0].detail, "abnormal 5 days in a row, 2026-01-26 to 2026-01-30");
    assert_eq!(runs[1].key, "three_days_abnormal:2026-02-02");
    // Symptoms alone make a day abnormal, and several check-ins a day count once.
    let mut ep = episode_with("2026-01-25", "2026-02-08", &[]);
    ep.slots = 2;
    for d in ["2026-01-31", "2026-02-01", "2026-02-02"] {
        ep.checkins.insert(format!("{d}/0"), checkin(VOL, now(), 36.5, vec![Symptom::Diarrhoea]));
        ep.checkins.insert(format!("{d}/1"), checkin(VOL, now(), 36.5, vec![Symptom::Vomiting]));
    }
    assert_eq!(runs_of(&ep), ["three_days_abnormal:2026-01-31"]);
}

/// Every pattern of abnormal / missing days over ten days around a month end agrees with
/// a plain count of runs of three or more.
#[test]
fn every_ten_day_pattern_matches_a_reference_count() {
    let first = date("2026-01-27");
    for bits in 0u32..(1 << 10) {
        let days: Vec<(NaiveDate, bool)> = first
            .iter_days()
            .take(10)
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, d)| (d, true))
            .collect();
        let ep = episode_with("2026-01-27", "2026-02-05", &days);
        let mut expected = Vec::new();
        let mut run_start = None;
        for i in 0..=10 {
            let set = i < 10 && bits & (1 << i) != 0;
            match (set, run_start) {
                (true, None) => run_start = Some(i),
                (false, Some(s)) => {
                    if i - s >= 3 {
                        expected.push(format!("three_days_abnormal:{}", first + chrono::Days::new(s as u64)));
                    }
                    run_start = None;
                }
                _ => {}
            }
        }
        assert_eq!(runs_of(&ep), expected, "pattern {bits:010b}");
    }
}

#[test]
fn missed_check_ins_count_passed_slots_only() {
    let mut ep = episode_with("2026-02-01", "2026-02-03", &[]);
    ep.slots = 2;
    ep.checkins.insert("2026-02-01/0".into(), checkin(VOL, now(), 36.5, vec![]));
    let keys = |now: &str, ep: &Ep| -> Vec<String> {
        of_kind(&alerts_of(ep, local(now), long_ago()), AlertKind::MissedCheckin)
            .iter()
            .map(|a| a.key.clone())
            .collect()
    };
    // 2 Feb 13:00: Feb 1 evening and Feb 2 noon have passed; Feb 2 evening has not.
    assert_eq!(keys("2026-02-02 13:00", &ep), ["missed_checkin:2026-02-01/1", "missed_checkin:2026-02-02/0"]);
    // Exactly at the deadline it is not yet missed.
    assert_eq!(keys("2026-02-02 12:00", &ep), ["missed_checkin:2026-02-01/1"]);
    // Before the episode, nothing; long after, only up to `end`.
    assert!(keys("2026-01-30 23:00", &ep).is_empty());
    assert_eq!(keys("2026-03-01 00:00", &ep).len(), 5);
    let missed = of_kind(&alerts_of(&ep, local("2026-02-02 13:00"), long_ago()), AlertKind::MissedCheckin)[0].clone();
    assert_eq!(missed.date.as_deref(), Some("2026-02-01"));
    assert_eq!(missed.detail, "check-in 2 of 2 due by 20:00");
    // A closed episode misses nothing.
    (ep.status, ep.closed_at) = (EpisodeStatus::Closed, Some(now()));
    assert!(keys("2026-03-01 00:00", &ep).is_empty());
}

#[test]
fn missed_check_ins_only_after_the_server_knew_the_episode() {
    // Registered at 23:14 on the first day, whose only slot was due at 20:00.
    let ep = episode_with("2026-02-01", "2026-02-14", &[]);
    let registered = local("2026-02-01 23:14");
    let missed =
        |now: &str| -> usize { of_kind(&alerts_of(&ep, local(now), registered), AlertKind::MissedCheckin).len() };
    assert_eq!(missed("2026-02-01 23:20"), 0, "nothing was due after it was registered");
    assert_eq!(missed("2026-02-02 00:01"), 0, "not at midnight either");
    assert_eq!(missed("2026-02-02 19:59"), 0);
    assert_eq!(missed("2026-02-02 20:01"), 1, "the second day's slot is missed");
    // Registered a minute before a deadline: that slot counts.
    let just_before = local("2026-02-01 19:59");
    assert_eq!(of_kind(&alerts_of(&ep, local("2026-02-01 20:01"), just_before), AlertKind::MissedCheckin).len(), 1);
}

#[test]
fn a_fever_raises_its_alert_at_any_hour() {
    // A 38.2 °C check-in for a slot whose deadline has passed (taken late, near midnight).
    let mut ep = episode_with("2026-02-01", "2026-02-14", &[]);
    ep.checkins.insert("2026-02-01/0".into(), checkin(VOL, now(), 38.2, vec![]));
    for at in ["2026-02-01 23:30", "2026-02-01 23:59", "2026-02-02 00:00", "2026-02-28 23:59"] {
        let alerts = alerts_of(&ep, local(at), local("2026-02-01 23:14"));
        let fever = of_kind(&alerts, AlertKind::Fever);
        assert_eq!(fever.len(), 1, "at {at}: {alerts:?}");
        assert_eq!(fever[0].key, "fever:2026-02-01/0");
        assert!(of_kind(&alerts, AlertKind::MissedCheckin).iter().all(|a| a.key != "missed_checkin:2026-02-01/0"));
    }
}

#[test]
fn erased_episodes_raise_nothing() {
    // Whatever check-ins are passed along (the readings go with the episode anyway).
    let mut ep = episode_with("2026-01-30", "2026-02-05", &consecutive("2026-01-30", 3));
    ep.episode = ep.erased_summary(now());
    assert!(alerts_of(&ep, local("2030-01-01 00:00"), long_ago()).is_empty());
}

#[test]
fn overdue_deliveries() {
    let t = task();
    assert!(task_alerts(&t, t.due).is_empty(), "due, not yet overdue");
    let alerts = task_alerts(&t, t.due + 1);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].kind, AlertKind::OverdueDelivery);
    assert_eq!(alerts[0].key, format!("overdue_delivery:{}", t.due));
    assert_eq!(alerts[0].date, None);
    for status in TaskStatus::ALL.iter().copied() {
        let done =
            !matches!(status, TaskStatus::New | TaskStatus::Assigned | TaskStatus::Accepted | TaskStatus::PickedUp);
        let t = Task { status, ..task() };
        assert_eq!(task_alerts(&t, t.due + 1).is_empty(), done, "{status}");
    }
}
