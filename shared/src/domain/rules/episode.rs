//! Change rules for `episode` documents: who adds check-ins, who closes and escalates,
//! and what a check-in must look like to be added.

use super::{first_rewritten, only, Ctx};
use crate::domain::{Checkin, CheckinKey, Episode, EpisodeStatus, Role, Violation};

pub(super) fn check_creation(e: &Episode) -> Result<(), Violation> {
    if e.status != EpisodeStatus::Active {
        return Err(Violation::new("status", "a new episode starts `active`"));
    }
    if e.erased {
        return Err(Violation::new("erased", "only the server's retention erases an episode"));
    }
    if let Some(key) = e.checkins.keys().next() {
        return Err(Violation::new(format!("checkins.{key}"), "a new episode has no check-ins yet"));
    }
    if !e.medic_notes.is_empty() {
        return Err(Violation::new("medic_notes.0", "a new episode has no medical notes yet"));
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
    let actor = ctx.actor;
    if actor.manages(&b.grid) {
        check_checkins(ctx, b, a, true)?;
        check_medic_notes(ctx, b, a)
    } else if actor.role == Role::Medic && actor.in_grid(&b.grid) {
        let changed = super::changed_fields(b, a);
        only(&changed, &["status", "medic_notes"], "a medic writes notes and escalates, nothing else")?;
        let medical = |s: EpisodeStatus| matches!(s, EpisodeStatus::Active | EpisodeStatus::Escalated);
        if b.status != a.status && !(medical(b.status) && medical(a.status)) {
            return Err(Violation::new("status", "a medic moves an episode only between `active` and `escalated`"));
        }
        check_medic_notes(ctx, b, a)
    } else if actor.role == Role::Volunteer && b.assignee.as_deref() == Some(actor.user_id) {
        let changed = super::changed_fields(b, a);
        only(&changed, &["checkins"], "the assigned volunteer adds check-ins, nothing else")?;
        check_checkins(ctx, b, a, false)
    } else {
        let field = super::first_changed(b, a);
        Err(Violation::new(
            field,
            "only the grid's coordinators and medics and the assigned volunteer change an episode",
        ))
    }
}

/// Recorded check-ins stay as they are, except that a coordinator (`may_fix_own`) may
/// correct or remove one they took themselves; every added or corrected one is valid.
fn check_checkins(ctx: &Ctx<'_>, b: &Episode, a: &Episode, may_fix_own: bool) -> Result<(), Violation> {
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

fn check_added(ctx: &Ctx<'_>, b: &Episode, a: &Episode, key: &str, c: &Checkin) -> Result<(), Violation> {
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

/// Medics' notes are append-only; each new one is signed by its writer and not in the
/// future.
fn check_medic_notes(ctx: &Ctx<'_>, b: &Episode, a: &Episode) -> Result<(), Violation> {
    if let Some(i) = first_rewritten(&b.medic_notes, &a.medic_notes) {
        return Err(Violation::new(format!("medic_notes.{i}"), "medical notes are never changed or removed"));
    }
    for (i, note) in a.medic_notes.iter().enumerate().skip(b.medic_notes.len()) {
        if note.by != ctx.actor.user_id {
            return Err(Violation::new(format!("medic_notes.{i}.by"), "must be the writer's own user id"));
        }
        ctx.not_future(&format!("medic_notes.{i}.at"), note.at)?;
    }
    Ok(())
}
