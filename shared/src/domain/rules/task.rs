//! Change rules for `task` documents: the status graph, who moves what, the log.

use super::{first_rewritten, only, Ctx};
use crate::domain::{LogEntry, Role, Task, TaskStatus, Violation};

/// One step of the graph, for coordinators and admins (who may make every move).
pub(super) fn coordinator_move(from: TaskStatus, to: TaskStatus) -> bool {
    use TaskStatus as S;
    let forward = matches!(
        (from, to),
        (S::New, S::Assigned)
            | (S::Assigned, S::Accepted)
            | (S::Accepted, S::PickedUp)
            | (S::PickedUp, S::Delivered | S::Failed)
            | (S::Delivered | S::Failed, S::Confirmed)
            | (S::Assigned, S::New)
            // A failed delivery is sent again (to the same or another volunteer); the
            // log keeps the failure.
            | (S::Failed, S::Assigned)
    );
    forward || (to == S::Cancelled && from.is_open())
}

/// One step of the graph the assigned volunteer may make.
pub(super) fn volunteer_move(from: TaskStatus, to: TaskStatus) -> bool {
    use TaskStatus as S;
    matches!(
        (from, to),
        (S::Assigned, S::Accepted) | (S::Accepted, S::PickedUp) | (S::PickedUp, S::Delivered | S::Failed)
    )
}

/// Whether `to` can be reached from `from` by zero or more `step`s.
fn reachable(from: TaskStatus, to: TaskStatus, step: fn(TaskStatus, TaskStatus) -> bool) -> bool {
    let mut seen = vec![from];
    let mut next = 0;
    while let Some(&s) = seen.get(next) {
        if s == to {
            return true;
        }
        for &t in TaskStatus::ALL {
            if step(s, t) && !seen.contains(&t) {
                seen.push(t);
            }
        }
        next += 1;
    }
    false
}

pub(super) fn check_creation(ctx: &Ctx<'_>, t: &Task) -> Result<(), Violation> {
    if t.created_by != ctx.actor.user_id {
        return Err(Violation::new("created_by", "must be the creator's own user id"));
    }
    ctx.not_future("created_at", t.created_at)?;
    if !matches!(t.status, TaskStatus::New | TaskStatus::Assigned) {
        return Err(Violation::new("status", "a new task starts `new` or `assigned`"));
    }
    check_new_entries(ctx, &t.log, 0, TaskStatus::New, t.status, coordinator_move)
}

pub(super) fn check(ctx: &Ctx<'_>, b: &Task, a: &Task) -> Result<(), Violation> {
    if b.household != a.household {
        return Err(Violation::new("household", "never changes"));
    }
    if b.created_by != a.created_by {
        return Err(Violation::new("created_by", "never changes"));
    }
    if b.created_at != a.created_at {
        return Err(Violation::new("created_at", "never changes"));
    }
    let actor = ctx.actor;
    let step = if actor.manages(&b.grid) {
        coordinator_move
    } else if actor.role == Role::Volunteer && b.assignee.as_deref() == Some(actor.user_id) {
        let changed = super::changed_fields(b, a);
        only(
            &changed,
            &["status", "failure_reason", "log"],
            "a volunteer moves the status and writes the log, nothing else",
        )?;
        let fails_now = a.status == TaskStatus::Failed && b.status != TaskStatus::Failed;
        if b.failure_reason != a.failure_reason && !fails_now {
            return Err(Violation::new("failure_reason", "is given in the change that fails the delivery"));
        }
        volunteer_move
    } else {
        let field = super::first_changed(b, a);
        return Err(Violation::new(field, "only the grid's coordinators and the assigned volunteer change a task"));
    };
    if let Some(i) = first_rewritten(&b.log, &a.log) {
        return Err(Violation::new(format!("log.{i}"), "log entries are never changed or removed"));
    }
    check_new_entries(ctx, &a.log[b.log.len()..], b.log.len(), b.status, a.status, step)
}

/// New log entries are signed by the writer, not in the future, and chain from the old
/// status to the new one by allowed steps (or notes, `from` = `to`). Without entries, the
/// new status must be reachable by allowed steps.
fn check_new_entries(
    ctx: &Ctx<'_>,
    entries: &[LogEntry],
    offset: usize,
    from: TaskStatus,
    to: TaskStatus,
    step: fn(TaskStatus, TaskStatus) -> bool,
) -> Result<(), Violation> {
    let mut current = from;
    for (k, e) in entries.iter().enumerate() {
        let i = offset + k;
        if e.by != ctx.actor.user_id {
            return Err(Violation::new(format!("log.{i}.by"), "must be the writer's own user id"));
        }
        ctx.not_future(&format!("log.{i}.at"), e.at)?;
        if e.from != current {
            return Err(Violation::new(
                format!("log.{i}.from"),
                format!("must be `{current}`, the status at that point"),
            ));
        }
        if e.from != e.to && !step(e.from, e.to) {
            return Err(Violation::new(
                format!("log.{i}.to"),
                format!("`{}` → `{}` is not allowed here", e.from, e.to),
            ));
        }
        current = e.to;
    }
    if entries.is_empty() {
        if !reachable(from, to, step) {
            return Err(Violation::new("status", format!("`{from}` → `{to}` is not allowed here")));
        }
    } else if current != to {
        return Err(Violation::new("status", format!("is `{to}` but the log ends at `{current}`")));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn volunteer_moves_are_coordinator_moves() {
        for &f in TaskStatus::ALL {
            for &t in TaskStatus::ALL {
                assert!(!volunteer_move(f, t) || coordinator_move(f, t), "{f} → {t}");
            }
        }
    }

    #[test]
    fn reachability_follows_the_graph() {
        use TaskStatus as S;
        assert!(reachable(S::Assigned, S::Delivered, volunteer_move));
        assert!(!reachable(S::Assigned, S::Confirmed, volunteer_move));
        assert!(!reachable(S::New, S::Accepted, volunteer_move));
        assert!(reachable(S::New, S::Confirmed, coordinator_move));
        assert!(!reachable(S::Cancelled, S::New, coordinator_move));
        assert!(!reachable(S::Delivered, S::Cancelled, coordinator_move));
    }

    #[test]
    fn a_failed_delivery_is_sent_again_by_coordinators_only() {
        use TaskStatus as S;
        assert!(coordinator_move(S::Failed, S::Assigned));
        assert!(!volunteer_move(S::Failed, S::Assigned), "a volunteer cannot undo their own failure");
        assert!(!coordinator_move(S::Failed, S::New) && !coordinator_move(S::Failed, S::Accepted));
        assert!(reachable(S::Failed, S::Delivered, coordinator_move), "and it can still be delivered");
        assert!(!coordinator_move(S::Confirmed, S::Assigned), "a confirmed failure is final");
    }
}
