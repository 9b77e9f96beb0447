//! Change rules for `episode` documents (who closes and escalates), for their `readings`
//! (who adds check-ins, and what a check-in must look like to be added) and for their
//! `medical` records.

use super::{first_rewritten, only, Ctx};
use crate::domain::{Checkin, CheckinKey, Episode, EpisodeStatus, MedicNote, Medical, Readings, Role, Violation};

pub(super) fn check_creation(e: &Episode) -> Result<(), Violation> {
    if e.status != EpisodeStatus::Active {
        return Err(Violation::new("status", "a new episode starts `active`"));
    }
    if e.erased {
        return Err(Violation::new("erased", "only the server's retention erases an episode"));
    }
    if e.readings.is_some() {
        return Err(Violation::new("readings", "only the server links an episode's readings"));
    }
    if e.medical.is_some() {
        return Err(Violation::new("medical", "only the server links an episode's medical record"));
    }
    Ok(())
}

pub(super) fn check(ctx: &Ctx<'_>, b: &Episode, a: &Episode) -> Result<(), Violation> {
    if b.household != a.household {
        return Err(Violation::new("household", "never changes"));
    }
    if b.erased != a.erased {
        return Err(Violation::new("erased", "only the server's retention erases an episode"));
    }
    if b.medical != a.medical {
        return Err(Violation::new("medical", "only the server links an episode's medical record"));
    }
    if b.readings != a.readings {
        return Err(Violation::new("readings", "only the server links an episode's readings"));
    }
    let actor = ctx.actor;
    if actor.manages(&b.grid) {
        Ok(())
    } else if actor.role == Role::Medic && actor.in_grid(&b.grid) {
        let changed = super::changed_fields(b, a);
        only(
            &changed,
            &["status"],
            "a medic escalates an episode, nothing else; check-ins go in its readings, notes in its medical record",
        )?;
        let medical = |s: EpisodeStatus| matches!(s, EpisodeStatus::Active | EpisodeStatus::Escalated);
        if b.status != a.status && !(medical(b.status) && medical(a.status)) {
            return Err(Violation::new("status", "a medic moves an episode only between `active` and `escalated`"));
        }
        Ok(())
    } else if actor.role == Role::Volunteer && b.assignee.as_deref() == Some(actor.user_id) {
        Err(Violation::new(
            super::first_changed(b, a),
            "the assigned volunteer's check-ins go in the episode's readings",
        ))
    } else {
        let field = super::first_changed(b, a);
        Err(Violation::new(field, "only the grid's coordinators and medics change an episode"))
    }
}

/// An episode's readings: phones change only the check-ins. The assigned volunteer adds
/// theirs; the grid's medics add theirs and may correct their own.
pub(super) fn check_readings(ctx: &Ctx<'_>, b: &Readings, a: &Readings) -> Result<(), Violation> {
    let changed = super::changed_fields(b, a);
    only(&changed, &["checkins"], "only check-ins are written here; the rest is the server's copy of the episode")?;
    let actor = ctx.actor;
    if actor.role == Role::Medic && actor.in_grid(&b.grid) {
        check_checkins(ctx, b, a, true)
    } else if actor.role == Role::Volunteer && b.assignee.as_deref() == Some(actor.user_id) {
        check_checkins(ctx, b, a, false)
    } else {
        Err(Violation::new(
            super::first_changed(b, a),
            "only the episode's volunteer and the grid's medics take check-ins",
        ))
    }
}

/// Recorded check-ins stay as they are, except that a medic (`may_fix_own`) may correct
/// or remove one they took themselves; every added or corrected one is valid.
fn check_checkins(ctx: &Ctx<'_>, b: &Readings, a: &Readings, may_fix_own: bool) -> Result<(), Violation> {
    for (key, old) in &b.checkins {
        let new = a.checkins.get(key);
        if new == Some(old) {
            continue;
        }
        if !(may_fix_own && old.by == ctx.actor.user_id) {
            let what = if new.is_some() { "changed" } else { "removed" };
            let who = if may_fix_own { " except by whoever took it" } else { "" };
            return Err(Violation::new(format!("checkins.{key}"), format!("a recorded check-in is never {what}{who}")));
        }
        if !(b.is_open() && a.is_open()) {
            return Err(Violation::new(format!("checkins.{key}"), "the episode is closed"));
        }
    }
    for (key, checkin) in &a.checkins {
        if b.checkins.get(key) != Some(checkin) {
            check_added(ctx, b, a, key, checkin)?;
        }
    }
    Ok(())
}

fn check_added(ctx: &Ctx<'_>, b: &Readings, a: &Readings, key: &str, c: &Checkin) -> Result<(), Violation> {
    let field = format!("checkins.{key}");
    if !(b.is_open() && a.is_open()) {
        return Err(Violation::new(field, "the episode is closed: no more check-ins"));
    }
    if c.by != ctx.actor.user_id {
        return Err(Violation::new(format!("{field}.by"), "must be the user id of whoever takes the check-in"));
    }
    ctx.not_future(&format!("{field}.at"), c.at)?;
    // The schema already checked the key; a late check-in is fine, an early one is not.
    let parsed = key.parse::<CheckinKey>()?;
    if parsed.slot >= a.slots {
        return Err(Violation::new(field, format!("slot {} does not exist: {} check-ins a day", parsed.slot, a.slots)));
    }
    let day = parsed.date;
    match ctx.limits.local_datetime(c.at) {
        Some(taken) if taken.date() >= day => Ok(()),
        _ => Err(Violation::new(format!("{field}.at"), "is before the day the check-in is for")),
    }
}

/// A medical record: the grid's medics append notes, each signed by its writer and not in
/// the future; nothing else of it changes, and no note is changed or removed.
pub(super) fn check_medical(ctx: &Ctx<'_>, b: &Medical, a: &Medical) -> Result<(), Violation> {
    if !(ctx.actor.role == Role::Medic && ctx.actor.in_grid(&b.grid)) {
        return Err(Violation::new(super::first_changed(b, a), "only the grid's medics write medical notes"));
    }
    let changed = super::changed_fields(b, a);
    only(&changed, &["notes"], "a medic appends notes to a medical record, nothing else")?;
    check_notes(ctx, &b.notes, &a.notes)
}

fn check_notes(ctx: &Ctx<'_>, before: &[MedicNote], after: &[MedicNote]) -> Result<(), Violation> {
    if let Some(i) = first_rewritten(before, after) {
        return Err(Violation::new(format!("notes.{i}"), "medical notes are never changed or removed"));
    }
    for (i, note) in after.iter().enumerate().skip(before.len()) {
        if note.by != ctx.actor.user_id {
            return Err(Violation::new(format!("notes.{i}.by"), "must be the writer's own user id"));
        }
        ctx.not_future(&format!("notes.{i}.at"), note.at)?;
    }
    Ok(())
}
