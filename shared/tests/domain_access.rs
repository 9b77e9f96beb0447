//! The access rules as tables: every role × kind × read / create / write of each field,
//! the whole task status graph, and the check-in cases.

#![allow(clippy::unwrap_used)]

mod domain_fixtures;

use domain_fixtures::*;
use linli_shared::domain::*;

/// The actors of the tables, in column order.
fn actors() -> [(&'static str, Actor<'static>); 6] {
    [
        ("admin", admin()),
        ("coordinator", coord()),
        ("coordinator of g2", coord_other()),
        ("medic", medic()),
        ("assigned volunteer", vol()),
        ("other volunteer", vol2()),
    ]
}

fn yes_no(pattern: &str) -> Vec<bool> {
    pattern.chars().filter(|c| !c.is_whitespace()).map(|c| c == 'Y').collect()
}

fn facts(kind: Kind, grid: &str, assignee: Option<&str>, owner: Option<&str>, open: bool) -> DocFacts {
    DocFacts { kind, grid: grid.into(), assignee: assignee.map(Into::into), owner: owner.map(Into::into), open }
}

#[test]
fn read_matrix() {
    use Kind::*;
    // Columns: admin, coordinator, coordinator of g2, medic, assigned volunteer, other volunteer.
    let table: Vec<(&str, DocFacts, bool, &str)> = vec![
        ("household, no linked work", facts(Household, GRID, None, None, true), false, "YY nn nn"),
        ("household, linked work", facts(Household, GRID, None, None, true), true, "YY nY YY"),
        ("household of g2, linked work", facts(Household, OTHER_GRID, None, None, true), true, "Yn Yn YY"),
        ("open task", facts(Task, GRID, Some(VOL), None, true), false, "YY nn Yn"),
        ("done task", facts(Task, GRID, Some(VOL), None, false), false, "YY nn nn"),
        ("unassigned task", facts(Task, GRID, None, None, true), false, "YY nn nn"),
        ("open episode", facts(Episode, GRID, Some(VOL), None, true), false, "YY nY Yn"),
        ("closed episode", facts(Episode, GRID, Some(VOL), None, false), false, "YY nY nn"),
        ("episode of g2", facts(Episode, OTHER_GRID, Some(VOL), None, true), false, "Yn Yn Yn"),
        // Medical notes are for the grid's medics alone (DESIGN §9): not admins, not
        // coordinators, not the volunteer, whatever the server passes.
        ("medical record", facts(Medical, GRID, None, None, true), false, "nn nY nn"),
        ("medical record, linked household", facts(Medical, GRID, None, None, true), true, "nn nY nn"),
        ("medical record naming the volunteer", facts(Medical, GRID, Some(VOL), None, true), true, "nn nY nn"),
        ("closed medical record", facts(Medical, GRID, None, None, false), false, "nn nY nn"),
        ("medical record of g2", facts(Medical, OTHER_GRID, None, None, true), true, "nn nn nn"),
        // Readings are for the volunteer taking them, while the episode is open, and the
        // grid's medics (DESIGN §9): not admins, not coordinators.
        ("open readings", facts(Readings, GRID, Some(VOL), None, true), true, "nn nY Yn"),
        ("closed readings", facts(Readings, GRID, Some(VOL), None, false), true, "nn nY nn"),
        ("unassigned readings", facts(Readings, GRID, None, None, true), true, "nn nY nn"),
        ("readings of g2", facts(Readings, OTHER_GRID, Some(VOL), None, true), true, "nn nn Yn"),
        // It lists every delivery (address, status, assignee, due): not for medics.
        ("grid index", facts(GridIndex, GRID, None, None, true), true, "YY nn nn"),
        ("medic index", facts(MedicIndex, GRID, None, None, true), true, "YY nY nn"),
        ("medic index of g2", facts(MedicIndex, OTHER_GRID, None, None, true), true, "Yn Yn nn"),
        ("volunteer's inbox", facts(Inbox, GRID, None, Some(VOL), true), false, "Yn nn Yn"),
        ("coordinator's inbox", facts(Inbox, GRID, None, Some(COORD), true), false, "YY nn nn"),
    ];
    for (name, f, linked, pattern) in table {
        for ((who, actor), want) in actors().iter().zip(yes_no(pattern)) {
            assert_eq!(may_read(actor, &f, linked), want, "{who} reading {name}");
        }
    }
}

#[test]
fn medical_records_are_read_by_the_grid_s_medics_only() {
    let record = DocFacts::of(&DomainDoc::Medical(medical()));
    assert_eq!(record, DocFacts { kind: Kind::Medical, grid: GRID.into(), assignee: None, owner: None, open: true });
    let of_g2 = DocFacts { grid: OTHER_GRID.into(), ..record.clone() };
    let medic_of_both = Actor { user_id: MEDIC, role: Role::Medic, grids: &BOTH };
    let admin_of_g1 = Actor { user_id: ADMIN, role: Role::Admin, grids: &G1 };
    let cases = [
        ("medic of the grid", medic(), &record, true),
        ("medic of both grids", medic_of_both, &record, true),
        ("medic of both grids, g2's record", medic_of_both, &of_g2, true),
        ("medic of another grid", medic_other(), &record, false),
        ("medic of g2, g2's record", medic_other(), &of_g2, true),
        ("medic of g1, g2's record", medic(), &of_g2, false),
        ("coordinator", coord(), &record, false),
        ("coordinator of another grid", coord_other(), &record, false),
        ("admin", admin(), &record, false),
        ("admin listed in the grid", admin_of_g1, &record, false),
        ("assigned volunteer", vol(), &record, false),
        ("other volunteer", vol2(), &record, false),
    ];
    for (who, actor, facts, want) in cases {
        for linked in [false, true] {
            assert_eq!(may_read(&actor, facts, linked), want, "{who} reading a medical record (linked: {linked})");
        }
    }
}

#[test]
fn create_matrix() {
    for kind in Kind::ALL.iter().copied() {
        for grid in [GRID, OTHER_GRID] {
            let pattern = match (kind, grid) {
                (Kind::Medical | Kind::Readings | Kind::GridIndex | Kind::MedicIndex | Kind::Inbox, _) => "nn nn nn",
                (_, GRID) => "YY nn nn",
                _ => "Yn Yn nn",
            };
            for ((who, actor), want) in actors().iter().zip(yes_no(pattern)) {
                assert_eq!(may_create(actor, kind, grid), want, "{who} creating a {kind} in {grid}");
            }
        }
        for (_, actor) in actors() {
            assert!(!may_create(&actor, kind, ""), "nobody creates outside a grid");
        }
    }
}

/// The sample of each kind as `actor` would create it.
fn created_by(actor: &Actor<'_>, kind: Kind) -> DomainDoc {
    match kind {
        Kind::Household => DomainDoc::Household(household()),
        Kind::Task => {
            let mut t = task();
            t.created_by = actor.user_id.into();
            t.log.clear();
            DomainDoc::Task(t)
        }
        Kind::Episode => {
            let mut e = episode();
            e.readings = None;
            e.medical = None;
            DomainDoc::Episode(e)
        }
        Kind::Medical => DomainDoc::Medical(Medical::for_episode(GRID, episode_id(), household_id())),
        Kind::Readings => DomainDoc::Readings(readings()),
        Kind::GridIndex => DomainDoc::GridIndex(grid_index()),
        Kind::MedicIndex => DomainDoc::MedicIndex(medic_index()),
        Kind::Inbox => DomainDoc::Inbox(inbox()),
    }
}

#[test]
fn check_change_agrees_with_may_create() {
    for kind in Kind::ALL.iter().copied() {
        for (who, actor) in actors() {
            let doc = created_by(&actor, kind);
            let r = check_change(&actor, None, &doc, &limits(), now());
            assert_eq!(r.is_ok(), may_create(&actor, kind, GRID), "{who} creating a {kind}: {r:?}");
            if let Err(v) = r {
                assert!(v.field == "kind" || v.field == "grid", "{v}");
            }
        }
    }
}

#[test]
fn creation_rules() {
    let create = |doc: DomainDoc| verdict(check_change(&coord(), None, &doc, &limits(), now()));
    let mut t = task();
    t.log.clear();
    t.created_by = COORD.into();
    assert_eq!(create(DomainDoc::Task(t.clone())), "ok");
    assert_eq!(create(DomainDoc::Task(Task { created_by: ADMIN.into(), ..t.clone() })), "created_by");
    assert_eq!(create(DomainDoc::Task(Task { created_at: now() + 2 * 3_600_000, ..t.clone() })), "created_at");
    let delivered = Task { status: TaskStatus::Delivered, ..t.clone() };
    assert_eq!(create(DomainDoc::Task(delivered)), "status");
    let unassigned = Task { status: TaskStatus::New, assignee: None, ..t.clone() };
    assert_eq!(create(DomainDoc::Task(unassigned)), "ok");
    // A log on a new task is the creator's and follows the graph from `new`.
    let mut logged = t.clone();
    logged.log = task().log;
    logged.log[0].by = VOL.into();
    assert_eq!(create(DomainDoc::Task(logged.clone())), "log.0.by");
    logged.log[0].by = COORD.into();
    assert_eq!(create(DomainDoc::Task(logged)), "ok");

    let e = match created_by(&coord(), Kind::Episode) {
        DomainDoc::Episode(e) => e,
        _ => unreachable!(),
    };
    assert_eq!(create(DomainDoc::Episode(e.clone())), "ok");
    assert_eq!(create(DomainDoc::Episode(Episode { medical: None, ..episode() })), "readings");
    assert_eq!(create(DomainDoc::Episode(Episode { status: EpisodeStatus::Escalated, ..e.clone() })), "status");
    assert_eq!(create(DomainDoc::Episode(e.erased_summary(now()))), "status");
    // Only the server links an episode to its medical record, after creating both.
    let linked = Episode { medical: Some(medical_id()), ..e.clone() };
    assert_eq!(create(DomainDoc::Episode(linked.clone())), "medical");
    // …and to its readings.
    let readings_linked = Episode { readings: Some(readings_id()), ..e.clone() };
    assert_eq!(create(DomainDoc::Episode(readings_linked)), "readings");
    assert_eq!(verdict(check_change(&admin(), None, &DomainDoc::Episode(linked), &limits(), now())), "medical");
    // A coordinator of g1 cannot create in g2, an invalid document is refused first.
    assert_eq!(create(DomainDoc::Household(Household { grid: OTHER_GRID.into(), ..household() })), "grid");
    assert_eq!(create(DomainDoc::Household(Household { schema: 0, ..household() })), "schema");
}

type Mutation = fn(DomainDoc, &Actor<'_>) -> DomainDoc;

fn on_task(d: DomainDoc, f: impl FnOnce(&mut Task)) -> DomainDoc {
    let DomainDoc::Task(mut t) = d else { unreachable!() };
    f(&mut t);
    DomainDoc::Task(t)
}

fn on_episode(d: DomainDoc, f: impl FnOnce(&mut Episode)) -> DomainDoc {
    let DomainDoc::Episode(mut e) = d else { unreachable!() };
    f(&mut e);
    DomainDoc::Episode(e)
}

fn on_readings(d: DomainDoc, f: impl FnOnce(&mut Readings)) -> DomainDoc {
    let DomainDoc::Readings(mut r) = d else { unreachable!() };
    f(&mut r);
    DomainDoc::Readings(r)
}

fn on_medical(d: DomainDoc, f: impl FnOnce(&mut Medical)) -> DomainDoc {
    let DomainDoc::Medical(mut m) = d else { unreachable!() };
    f(&mut m);
    DomainDoc::Medical(m)
}

fn note(by: &str, at: i64, text: &str) -> MedicNote {
    MedicNote { at, by: by.into(), text: text.into() }
}

fn on_household(d: DomainDoc, f: impl FnOnce(&mut Household)) -> DomainDoc {
    let DomainDoc::Household(mut h) = d else { unreachable!() };
    f(&mut h);
    DomainDoc::Household(h)
}

fn log_entry(by: &str, from: TaskStatus, to: TaskStatus) -> LogEntry {
    LogEntry { at: now(), by: by.into(), from, to, note: String::new() }
}

#[test]
fn write_matrix() {
    use TaskStatus as S;
    // Columns: admin, coordinator, coordinator of g2, medic, assigned volunteer, other volunteer.
    let table: Vec<(&str, DomainDoc, Mutation, &str)> = vec![
        (
            "household.notes",
            DomainDoc::Household(household()),
            |d, _| on_household(d, |h| h.notes = "dog".into()),
            "YY nn nn",
        ),
        (
            "household.members",
            DomainDoc::Household(household()),
            |d, _| on_household(d, |h| h.members.pop().map(drop).unwrap_or(())),
            "YY nn nn",
        ),
        (
            "household.phone",
            DomainDoc::Household(household()),
            |d, _| on_household(d, |h| h.phone = "110".into()),
            "YY nn nn",
        ),
        (
            "household.grid",
            DomainDoc::Household(household()),
            |d, _| on_household(d, |h| h.grid = OTHER_GRID.into()),
            "Yn nn nn",
        ),
        ("task.due", DomainDoc::Task(task()), |d, _| on_task(d, |t| t.due += 60_000), "YY nn nn"),
        ("task.items", DomainDoc::Task(task()), |d, _| on_task(d, |t| t.items[0].qty = 10.0), "YY nn nn"),
        ("task.priority", DomainDoc::Task(task()), |d, _| on_task(d, |t| t.priority = Priority::Urgent), "YY nn nn"),
        ("task.contactless", DomainDoc::Task(task()), |d, _| on_task(d, |t| t.contactless = false), "YY nn nn"),
        ("task.assignee", DomainDoc::Task(task()), |d, _| on_task(d, |t| t.assignee = Some(VOL2.into())), "YY nn nn"),
        ("task.household", DomainDoc::Task(task()), |d, _| on_task(d, |t| t.household = task_id()), "nn nn nn"),
        (
            "task.created_by",
            DomainDoc::Task(task()),
            |d, _| on_task(d, |t| t.created_by = "u-someone".into()),
            "nn nn nn",
        ),
        ("task.created_at", DomainDoc::Task(task()), |d, _| on_task(d, |t| t.created_at += 1), "nn nn nn"),
        (
            "task.status accepted + log",
            DomainDoc::Task(task()),
            |d, a| {
                on_task(d, |t| {
                    t.status = S::Accepted;
                    t.log.push(log_entry(a.user_id, S::Assigned, S::Accepted));
                })
            },
            "YY nn Yn",
        ),
        (
            "task.status accepted, no log",
            DomainDoc::Task(task()),
            |d, _| on_task(d, |t| t.status = S::Accepted),
            "YY nn Yn",
        ),
        ("task.status cancelled", DomainDoc::Task(task()), |d, _| on_task(d, |t| t.status = S::Cancelled), "YY nn nn"),
        (
            "task.status unassigned",
            DomainDoc::Task(task()),
            |d, _| on_task(d, |t| (t.status, t.assignee) = (S::New, None)),
            "YY nn nn",
        ),
        (
            "task.log note",
            DomainDoc::Task(task()),
            |d, a| on_task(d, |t| t.log.push(log_entry(a.user_id, S::Assigned, S::Assigned))),
            "YY nn Yn",
        ),
        (
            "task.log rewrite",
            DomainDoc::Task(task()),
            |d, _| on_task(d, |t| t.log[0].note = "edited".into()),
            "nn nn nn",
        ),
        ("task.log delete", DomainDoc::Task(task()), |d, _| on_task(d, |t| t.log.clear()), "nn nn nn"),
        (
            "readings.add checkin",
            DomainDoc::Readings(readings()),
            |d, a| {
                on_readings(d, |r| {
                    r.checkins.insert("2026-02-01/0".into(), checkin(a.user_id, now(), 36.5, vec![]));
                })
            },
            "nn nY Yn",
        ),
        (
            "readings.edit volunteer's checkin",
            DomainDoc::Readings(readings()),
            |d, _| {
                on_readings(d, |r| {
                    r.checkins.get_mut("2026-01-31/0").unwrap().temp_c = 36.9;
                })
            },
            "nn nn nn",
        ),
        (
            "readings.remove volunteer's checkin",
            DomainDoc::Readings(readings()),
            |d, _| {
                on_readings(d, |r| {
                    r.checkins.remove("2026-01-31/0");
                })
            },
            "nn nn nn",
        ),
        ("readings.slots", DomainDoc::Readings(readings()), |d, _| on_readings(d, |r| r.slots = 1), "nn nn nn"),
        (
            "readings.assignee",
            DomainDoc::Readings(readings()),
            |d, _| on_readings(d, |r| r.assignee = Some(VOL2.into())),
            "nn nn nn",
        ),
        (
            "readings.status",
            DomainDoc::Readings(readings()),
            |d, _| on_readings(d, |r| r.status = EpisodeStatus::Escalated),
            "nn nn nn",
        ),
        (
            "readings.episode",
            DomainDoc::Readings(readings()),
            |d, _| on_readings(d, |r| r.episode = task_id()),
            "nn nn nn",
        ),
        (
            "episode.readings relinked",
            DomainDoc::Episode(episode()),
            |d, _| on_episode(d, |e| e.readings = Some(task_id())),
            "nn nn nn",
        ),
        (
            "episode.medical relinked",
            DomainDoc::Episode(episode()),
            |d, _| on_episode(d, |e| e.medical = Some(task_id())),
            "nn nn nn",
        ),
        (
            "episode.medical unlinked",
            DomainDoc::Episode(episode()),
            |d, _| on_episode(d, |e| e.medical = None),
            "nn nn nn",
        ),
        (
            "medical.add note",
            DomainDoc::Medical(medical()),
            |d, a| on_medical(d, |m| m.notes.push(note(a.user_id, now(), "call GP"))),
            "nn nY nn",
        ),
        (
            "medical.edit note",
            DomainDoc::Medical(medical()),
            |d, _| on_medical(d, |m| m.notes[0].text = "x".into()),
            "nn nn nn",
        ),
        ("medical.remove note", DomainDoc::Medical(medical()), |d, _| on_medical(d, |m| m.notes.clear()), "nn nn nn"),
        ("medical.episode", DomainDoc::Medical(medical()), |d, _| on_medical(d, |m| m.episode = task_id()), "nn nn nn"),
        (
            "medical.household",
            DomainDoc::Medical(medical()),
            |d, _| on_medical(d, |m| m.household = task_id()),
            "nn nn nn",
        ),
        (
            "medical.grid",
            DomainDoc::Medical(medical()),
            |d, _| on_medical(d, |m| m.grid = OTHER_GRID.into()),
            "nn nn nn",
        ),
        (
            "episode.escalate",
            DomainDoc::Episode(episode()),
            |d, _| on_episode(d, |e| e.status = EpisodeStatus::Escalated),
            "YY nY nn",
        ),
        (
            "episode.close",
            DomainDoc::Episode(episode()),
            |d, _| {
                on_episode(d, |e| {
                    (e.status, e.closed_at) = (EpisodeStatus::Closed, Some(now()));
                })
            },
            "YY nn nn",
        ),
        ("episode.slots", DomainDoc::Episode(episode()), |d, _| on_episode(d, |e| e.slots = 3), "YY nn nn"),
        (
            "episode.end",
            DomainDoc::Episode(episode()),
            |d, _| on_episode(d, |e| e.end = "2026-02-10".into()),
            "YY nn nn",
        ),
        (
            "episode.assignee",
            DomainDoc::Episode(episode()),
            |d, _| on_episode(d, |e| e.assignee = Some(VOL2.into())),
            "YY nn nn",
        ),
        ("episode.person", DomainDoc::Episode(episode()), |d, _| on_episode(d, |e| e.person.age = 46), "YY nn nn"),
        (
            "episode.household",
            DomainDoc::Episode(episode()),
            |d, _| on_episode(d, |e| e.household = task_id()),
            "nn nn nn",
        ),
        (
            "episode.erase",
            DomainDoc::Episode(episode()),
            |d, _| on_episode(d, |e| *e = e.erased_summary(now())),
            "nn nn nn",
        ),
        (
            "grid-index.docs",
            DomainDoc::GridIndex(grid_index()),
            |d, _| match d {
                DomainDoc::GridIndex(mut g) => {
                    g.docs.pop_first();
                    DomainDoc::GridIndex(g)
                }
                _ => unreachable!(),
            },
            "nn nn nn",
        ),
        (
            "inbox.docs",
            DomainDoc::Inbox(inbox()),
            |d, _| match d {
                DomainDoc::Inbox(mut i) => {
                    i.docs.pop_first();
                    DomainDoc::Inbox(i)
                }
                _ => unreachable!(),
            },
            "nn nn nn",
        ),
    ];
    for (name, before, mutate, pattern) in table {
        for ((who, actor), want) in actors().iter().zip(yes_no(pattern)) {
            let after = mutate(before.clone(), actor);
            assert_ne!(after, before, "{name} changes nothing");
            let r = change(actor, &before, &after);
            assert_eq!(r.is_ok(), want, "{who}: {name}: {r:?}");
        }
    }
}

#[test]
fn an_unchanged_document_is_always_accepted() {
    for doc in samples() {
        for (who, actor) in actors() {
            assert_eq!(change(&actor, &doc, &doc), Ok(()), "{who}");
        }
    }
}

#[test]
fn moving_between_grids_needs_both() {
    let both = Actor { user_id: COORD, role: Role::Coordinator, grids: &BOTH };
    let before = DomainDoc::Task(task());
    let after = on_task(before.clone(), |t| t.grid = OTHER_GRID.into());
    assert_eq!(verdict(change(&both, &before, &after)), "ok");
    assert_eq!(verdict(change(&coord(), &before, &after)), "grid");
    assert_eq!(verdict(change(&coord_other(), &before, &after)), "grid");
    assert_eq!(verdict(change(&admin(), &before, &after)), "ok");
    assert_eq!(verdict(change(&vol(), &before, &after)), "grid");
}

#[test]
fn refusals_name_the_field() {
    let t = DomainDoc::Task(task());
    assert_eq!(verdict(change(&vol(), &t, &on_task(t.clone(), |t| t.due += 1))), "due");
    assert_eq!(verdict(change(&vol(), &t, &on_task(t.clone(), |t| t.items[2].qty = 3.0))), "items");
    assert_eq!(verdict(change(&vol2(), &t, &on_task(t.clone(), |t| t.status = TaskStatus::Accepted))), "status");
    assert_eq!(verdict(change(&coord(), &t, &on_task(t.clone(), |t| t.household = task_id()))), "household");
    assert_eq!(verdict(change(&coord(), &t, &on_task(t.clone(), |t| t.log[0].note = "x".into()))), "log.0");
    assert_eq!(verdict(change(&coord(), &t, &on_task(t.clone(), |t| t.log.clear()))), "log.0");
    let e = DomainDoc::Episode(episode());
    // Fewer slots keep the check-ins taken in later ones valid; a medic may not change them.
    assert_eq!(verdict(change(&medic(), &e, &on_episode(e.clone(), |e| e.slots = 1))), "slots");
    assert_eq!(verdict(change(&coord(), &e, &on_episode(e.clone(), |e| e.slots = 1))), "ok");
    assert_eq!(verdict(change(&medic(), &e, &on_episode(e.clone(), |e| e.end = "2026-02-09".into()))), "end");
    let h = DomainDoc::Household(household());
    assert_eq!(verdict(change(&vol(), &h, &on_household(h.clone(), |h| h.notes.clear()))), "notes");
    let i = DomainDoc::Inbox(inbox());
    let emptied = DomainDoc::Inbox(Inbox { docs: Default::default(), ..inbox() });
    assert_eq!(verdict(change(&admin(), &i, &emptied)), "kind");
    assert_eq!(verdict(change(&coord(), &t, &DomainDoc::Household(household()))), "kind");
}

#[test]
fn status_graph_every_pair() {
    use TaskStatus::*;
    let edges = [
        (New, Assigned),
        (Assigned, Accepted),
        (Accepted, PickedUp),
        (PickedUp, Delivered),
        (PickedUp, Failed),
        (Delivered, Confirmed),
        (Failed, Confirmed),
        // A failed delivery sent again (issue 14).
        (Failed, Assigned),
        (Assigned, New),
        (New, Cancelled),
        (Assigned, Cancelled),
        (Accepted, Cancelled),
        (PickedUp, Cancelled),
    ];
    let mut allowed = 0;
    for &from in TaskStatus::ALL {
        for &to in TaskStatus::ALL {
            let want = from == to || edges.contains(&(from, to));
            assert_eq!(transition_allowed(from, to), want, "{from} → {to}");
            allowed += usize::from(want);
        }
    }
    assert_eq!(allowed, 8 + edges.len());
}

/// The sample task in `status`, with the assignment and reason that status needs.
fn task_in(status: TaskStatus) -> Task {
    let mut t = task();
    t.status = status;
    t.assignee = (status != TaskStatus::New).then(|| VOL.to_string());
    t.failure_reason = (status == TaskStatus::Failed).then(|| "nobody home".to_string());
    t
}

#[test]
fn single_logged_moves_by_role() {
    use TaskStatus::*;
    let volunteer_edges = [(Assigned, Accepted), (Accepted, PickedUp), (PickedUp, Delivered), (PickedUp, Failed)];
    for &from in TaskStatus::ALL {
        for &to in TaskStatus::ALL {
            let before = task_in(from);
            let mut after = task_in(to);
            after.failure_reason = before.failure_reason.clone().or(after.failure_reason);
            let b = DomainDoc::Task(before);
            let logged_by = |who: &str| {
                let mut a = after.clone();
                a.log.push(log_entry(who, from, to));
                DomainDoc::Task(a)
            };
            for (who, actor) in [("coordinator", coord()), ("admin", admin())] {
                let r = change(&actor, &b, &logged_by(actor.user_id));
                assert_eq!(r.is_ok(), transition_allowed(from, to), "{who} {from} → {to}: {r:?}");
            }
            // The volunteer keeps the assignment, which `new` does not have.
            if to != New && from != New {
                let want = from == to || volunteer_edges.contains(&(from, to));
                let r = change(&vol(), &b, &logged_by(VOL));
                assert_eq!(r.is_ok(), want, "volunteer {from} → {to}: {r:?}");
                let r = change(&vol2(), &b, &logged_by(VOL2));
                assert!(r.is_err(), "other volunteer {from} → {to}");
            }
            assert!(change(&medic(), &b, &logged_by(MEDIC)).is_err(), "medic {from} → {to}");
        }
    }
}

#[test]
fn unlogged_status_changes_must_be_reachable() {
    use TaskStatus::*;
    let status_change = |actor: &Actor<'_>, from, to| {
        let mut after = task_in(to);
        after.failure_reason = task_in(from).failure_reason.or(after.failure_reason);
        verdict(change(actor, &DomainDoc::Task(task_in(from)), &DomainDoc::Task(after)))
    };
    assert_eq!(status_change(&coord(), New, Accepted), "ok");
    assert_eq!(status_change(&coord(), Assigned, Confirmed), "ok");
    assert_eq!(status_change(&coord(), Delivered, Cancelled), "status");
    assert_eq!(status_change(&coord(), Confirmed, Assigned), "status");
    assert_eq!(status_change(&coord(), Cancelled, New), "status");
    // A failed delivery can be sent again, so what follows `assigned` is reachable.
    assert_eq!(status_change(&coord(), Failed, PickedUp), "ok");
    assert_eq!(status_change(&coord(), Confirmed, PickedUp), "status");
    assert_eq!(status_change(&vol(), Failed, Assigned), "status");
    assert_eq!(status_change(&vol(), Assigned, Delivered), "ok");
    assert_eq!(status_change(&vol(), Accepted, Failed), "ok");
    assert_eq!(status_change(&vol(), Assigned, Confirmed), "status");
    assert_eq!(status_change(&vol(), PickedUp, Accepted), "status");
    assert_eq!(status_change(&vol(), Delivered, Failed), "status");
}

#[test]
fn a_volunteer_syncs_a_whole_offline_delivery_at_once() {
    use TaskStatus::*;
    let before = DomainDoc::Task(task());
    let mut t = task();
    t.status = Delivered;
    assert_eq!(verdict(change(&vol(), &before, &DomainDoc::Task(t.clone()))), "ok");
    t.log.push(log_entry(VOL, Assigned, Accepted));
    t.log.push(log_entry(VOL, Accepted, Accepted)); // a note
    t.log.push(log_entry(VOL, Accepted, PickedUp));
    t.log.push(log_entry(VOL, PickedUp, Delivered));
    assert_eq!(verdict(change(&vol(), &before, &DomainDoc::Task(t.clone()))), "ok");
    // The chain must be unbroken and end at the status.
    let mut gap = t.clone();
    gap.log.remove(3);
    assert_eq!(verdict(change(&vol(), &before, &DomainDoc::Task(gap))), "log.3.from");
    let mut short = t.clone();
    short.log.pop();
    assert_eq!(verdict(change(&vol(), &before, &DomainDoc::Task(short))), "status");
    let mut signed = t.clone();
    signed.log[2].by = VOL2.into();
    assert_eq!(verdict(change(&vol(), &before, &DomainDoc::Task(signed))), "log.2.by");
    let mut future = t.clone();
    future.log[1].at = now() + 2 * 3_600_000;
    assert_eq!(verdict(change(&vol(), &before, &DomainDoc::Task(future))), "log.1.at");
    // …and never reach the coordinator's moves.
    let mut confirmed = t;
    confirmed.status = Confirmed;
    confirmed.log.push(log_entry(VOL, Delivered, Confirmed));
    assert_eq!(verdict(change(&vol(), &before, &DomainDoc::Task(confirmed))), "log.5.to");
}

#[test]
fn a_volunteer_gives_the_failure_reason_when_failing() {
    use TaskStatus::*;
    let before = DomainDoc::Task(task_in(PickedUp));
    let mut failed = task_in(PickedUp);
    failed.status = Failed;
    assert_eq!(verdict(change(&vol(), &before, &DomainDoc::Task(failed.clone()))), "failure_reason");
    failed.failure_reason = Some("no answer, phone off".into());
    assert_eq!(verdict(change(&vol(), &before, &DomainDoc::Task(failed))), "ok");
    let mut reason_only = task_in(PickedUp);
    reason_only.failure_reason = Some("might fail".into());
    assert_eq!(verdict(change(&vol(), &before, &DomainDoc::Task(reason_only))), "failure_reason");
}

// ---- check-ins ----

fn with_checkin(key: &str, c: Checkin) -> DomainDoc {
    on_readings(DomainDoc::Readings(readings()), |r| {
        r.checkins.insert(key.into(), c);
    })
}

#[test]
fn volunteer_check_in_cases() {
    let before = DomainDoc::Readings(readings());
    let add = |actor: &Actor<'_>, key: &str, c: Checkin| verdict(change(actor, &before, &with_checkin(key, c)));
    let ok = |by: &str| checkin(by, now(), 36.7, vec![]);

    assert_eq!(add(&vol(), "2026-02-01/0", ok(VOL)), "ok", "own episode");
    assert_eq!(add(&vol(), "2026-01-28/1", ok(VOL)), "ok", "late, for an earlier day");
    assert_eq!(add(&vol2(), "2026-02-01/0", ok(VOL2)), "checkins", "someone else's episode");
    assert_eq!(add(&vol(), "2026-02-01/0", ok(VOL2)), "checkins.2026-02-01/0.by", "signed by another");
    assert_eq!(add(&vol(), "2026-02-09/0", ok(VOL)), "checkins.2026-02-09/0", "after the end");
    assert_eq!(add(&vol(), "2026-01-24/0", ok(VOL)), "checkins.2026-01-24/0", "before the start");
    assert_eq!(add(&vol(), "2026-02-01/2", ok(VOL)), "checkins.2026-02-01/2", "no third slot");
    assert_eq!(add(&vol(), "2026-02-02/0", ok(VOL)), "checkins.2026-02-02/0.at", "for tomorrow");
    assert_eq!(
        add(&vol(), "2026-02-01/0", checkin(VOL, now() + 2 * 3_600_000, 36.5, vec![])),
        "checkins.2026-02-01/0.at"
    );
    assert_eq!(add(&vol(), "2026-02-01/0", checkin(VOL, now() + 60_000, 36.5, vec![])), "ok", "within clock skew");
    for (temp, want) in
        [(34.0, "ok"), (43.0, "ok"), (33.9, "checkins.2026-02-01/0.temp_c"), (43.1, "checkins.2026-02-01/0.temp_c")]
    {
        assert_eq!(add(&vol(), "2026-02-01/0", checkin(VOL, now(), temp, vec![])), want, "{temp} °C");
    }
    let sick = checkin(VOL, now(), 38.4, vec![Symptom::Fever, Symptom::Cough, Symptom::ConjunctivalCongestion]);
    assert_eq!(add(&vol(), "2026-02-01/1", sick), "ok");
    let twice = checkin(VOL, now(), 36.5, vec![Symptom::Rash, Symptom::Rash]);
    assert_eq!(add(&vol(), "2026-02-01/1", twice), "checkins.2026-02-01/1.symptoms");

    // Overwriting or removing, even one's own, is refused.
    assert_eq!(add(&vol(), "2026-01-31/0", ok(VOL)), "checkins.2026-01-31/0", "overwrite own");
    assert_eq!(add(&vol(), "2026-01-31/1", ok(VOL)), "checkins.2026-01-31/1", "overwrite the medic's");
    let removed = on_readings(before.clone(), |r| {
        r.checkins.remove("2026-01-31/0");
    });
    assert_eq!(verdict(change(&vol(), &before, &removed)), "checkins.2026-01-31/0");
    // A volunteer changes nothing else on the way: the rest is the server's copy.
    let sneaky = on_readings(with_checkin("2026-02-01/0", ok(VOL)), |r| r.end = "2026-02-20".into());
    assert_eq!(verdict(change(&vol(), &before, &sneaky)), "end");
    // Coordinators and admins take no readings (DESIGN §9: they do not see them).
    assert_eq!(add(&coord(), "2026-02-01/0", ok(COORD)), "checkins");
    assert_eq!(add(&admin(), "2026-02-01/0", ok(ADMIN)), "checkins");
    // Nor does the volunteer in the episode itself: check-ins are not part of it.
    let episode_before = DomainDoc::Episode(episode());
    let moved = on_episode(episode_before.clone(), |e| e.slots = 1);
    assert_eq!(verdict(change(&vol(), &episode_before, &moved)), "slots");
}

#[test]
fn no_check_ins_on_closed_episodes() {
    let mut closed = readings();
    closed.status = EpisodeStatus::Closed;
    let before = DomainDoc::Readings(closed.clone());
    let mut after = closed.clone();
    after.checkins.insert("2026-02-01/0".into(), checkin(VOL, now(), 36.5, vec![]));
    assert_eq!(verdict(change(&vol(), &before, &DomainDoc::Readings(after.clone()))), "checkins.2026-02-01/0");
    after.checkins.get_mut("2026-02-01/0").unwrap().by = MEDIC.into();
    assert_eq!(verdict(change(&medic(), &before, &DomainDoc::Readings(after))), "checkins.2026-02-01/0");

    let erased = DomainDoc::Episode(episode().erased_summary(now()));
    let mut touched = episode().erased_summary(now());
    touched.end = "2026-02-07".into();
    for (who, actor) in actors() {
        assert_eq!(verdict(change(&actor, &erased, &DomainDoc::Episode(touched.clone()))), "erased", "{who}");
    }
}

#[test]
fn medics_correct_their_own_check_ins_only() {
    let before = DomainDoc::Readings(readings());
    let fixed = on_readings(before.clone(), |r| r.checkins.get_mut("2026-01-31/1").unwrap().temp_c = 36.9);
    assert_eq!(verdict(change(&medic(), &before, &fixed)), "ok");
    let removed = on_readings(before.clone(), |r| {
        r.checkins.remove("2026-01-31/1");
    });
    assert_eq!(verdict(change(&medic(), &before, &removed)), "ok");
    let theirs = on_readings(before.clone(), |r| r.checkins.get_mut("2026-01-31/0").unwrap().temp_c = 36.9);
    assert_eq!(verdict(change(&medic(), &before, &theirs)), "checkins.2026-01-31/0");
    let phone = on_readings(before.clone(), |r| {
        let mut c = checkin(MEDIC, now(), 36.5, vec![]);
        c.method = Method::Phone;
        r.checkins.insert("2026-02-01/0".into(), c);
    });
    assert_eq!(verdict(change(&medic(), &before, &phone)), "ok");
    // A medic of another grid takes none.
    let mut other = checkin(MEDIC2, now(), 36.5, vec![]);
    other.method = Method::Phone;
    let from_g2 = on_readings(before.clone(), |r| {
        r.checkins.insert("2026-02-01/0".into(), other);
    });
    assert_eq!(verdict(change(&medic_other(), &before, &from_g2)), "checkins");
}

#[test]
fn medics_only_escalate_episodes() {
    let before = DomainDoc::Episode(episode());
    let escalated = on_episode(before.clone(), |e| e.status = EpisodeStatus::Escalated);
    assert_eq!(verdict(change(&medic(), &before, &escalated)), "ok");
    assert_eq!(verdict(change(&medic(), &escalated, &before)), "ok", "back to active");
    let closed = on_episode(before.clone(), |e| (e.status, e.closed_at) = (EpisodeStatus::Closed, Some(now())));
    assert_eq!(verdict(change(&medic(), &before, &closed)), "closed_at");
    let reassigned = on_episode(before.clone(), |e| e.assignee = Some(VOL2.into()));
    assert_eq!(verdict(change(&medic(), &before, &reassigned)), "assignee");
    // The link to the medical record is the server's, for medics too.
    let unlinked = on_episode(escalated.clone(), |e| e.medical = None);
    assert_eq!(verdict(change(&medic(), &before, &unlinked)), "medical");
    assert_eq!(verdict(change(&medic_other(), &before, &escalated)), "status", "a medic of another grid");
}

#[test]
fn only_the_server_links_an_episode_to_its_medical_record() {
    let before = DomainDoc::Episode(episode());
    let relinked = on_episode(before.clone(), |e| e.medical = Some(task_id()));
    let unlinked = on_episode(before.clone(), |e| e.medical = None);
    for (who, actor) in actors() {
        assert_eq!(verdict(change(&actor, &before, &relinked)), "medical", "{who} relinking");
        assert_eq!(verdict(change(&actor, &before, &unlinked)), "medical", "{who} unlinking");
    }
    // Not even along with a change the coordinator may make, nor on an episode not linked yet.
    let along = on_episode(unlinked.clone(), |e| e.slots = 3);
    assert_eq!(verdict(change(&coord(), &before, &along)), "medical");
    assert_eq!(verdict(change(&coord(), &unlinked, &before)), "medical", "linking an unlinked episode");
    assert_eq!(verdict(change(&coord(), &unlinked, &on_episode(unlinked.clone(), |e| e.slots = 3))), "ok");
}

#[test]
fn medics_append_notes_to_the_medical_record() {
    let before = DomainDoc::Medical(medical());
    let with = |notes: &[MedicNote]| on_medical(before.clone(), |m| m.notes.extend_from_slice(notes));
    let ok = |by: &str| note(by, now(), "fever clinic");

    assert_eq!(verdict(change(&medic(), &before, &with(&[ok(MEDIC)]))), "ok");
    assert_eq!(verdict(change(&medic(), &before, &with(&[ok(MEDIC), ok(MEDIC)]))), "ok", "two at once");
    let medic_of_both = Actor { user_id: MEDIC, role: Role::Medic, grids: &BOTH };
    assert_eq!(verdict(change(&medic_of_both, &before, &with(&[ok(MEDIC)]))), "ok");
    // Each new note is signed by its writer…
    assert_eq!(verdict(change(&medic(), &before, &with(&[ok(COORD)]))), "notes.1.by");
    assert_eq!(verdict(change(&medic(), &before, &with(&[ok(MEDIC), ok(MEDIC2)]))), "notes.2.by");
    // …and not in the future beyond the clock skew.
    let future = note(MEDIC, now() + 2 * 3_600_000, "tomorrow");
    assert_eq!(verdict(change(&medic(), &before, &with(&[future]))), "notes.1.at");
    assert_eq!(verdict(change(&medic(), &before, &with(&[note(MEDIC, now() + 60_000, "x")]))), "ok", "within skew");
    // Notes already there are never changed or removed, not even the writer's own.
    let edit = |f: fn(&mut Medical)| verdict(change(&medic(), &before, &on_medical(before.clone(), f)));
    assert_eq!(edit(|m| m.notes[0].text = "unstable".into()), "notes.0");
    assert_eq!(edit(|m| m.notes[0].at += 1), "notes.0");
    assert_eq!(edit(|m| m.notes.clear()), "notes.0");
    assert_eq!(edit(|m| m.notes[0] = note(MEDIC, now(), "replaced")), "notes.0");
    assert_eq!(edit(|m| m.notes.insert(0, note(MEDIC, now(), "first"))), "notes.0");
    // Nothing but the notes changes, by anyone.
    assert_eq!(edit(|m| m.episode = task_id()), "episode");
    assert_eq!(edit(|m| m.household = task_id()), "household");
    assert_eq!(edit(|m| m.grid = OTHER_GRID.into()), "grid");
    assert_eq!(edit(|m| m.schema = 2), "schema");
    let sneaky = on_medical(with(&[ok(MEDIC)]), |m| m.episode = task_id());
    assert_eq!(verdict(change(&medic(), &before, &sneaky)), "episode");
    let moved = on_medical(before.clone(), |m| m.grid = OTHER_GRID.into());
    assert_eq!(verdict(change(&admin(), &before, &moved)), "grid", "an admin moves documents, not this one");
    // Only the grid's medics write notes.
    let others = [
        ("admin", admin()),
        ("coordinator", coord()),
        ("coordinator of g2", coord_other()),
        ("assigned volunteer", vol()),
        ("other volunteer", vol2()),
        ("medic of g2", medic_other()),
    ];
    for (who, actor) in others {
        assert_eq!(verdict(change(&actor, &before, &with(&[ok(actor.user_id)]))), "notes", "{who}");
    }
}

#[test]
fn nobody_creates_a_medical_record_through_sync() {
    let fresh = DomainDoc::Medical(Medical::for_episode(GRID, episode_id(), household_id()));
    let noted = DomainDoc::Medical(medical());
    let everyone = actors().into_iter().chain([("medic of g2", medic_other())]);
    for (who, actor) in everyone {
        for grid in [GRID, OTHER_GRID] {
            assert!(!may_create(&actor, Kind::Medical, grid), "{who} may create a medical record in {grid}");
        }
        for doc in [&fresh, &noted] {
            assert_eq!(verdict(check_change(&actor, None, doc, &limits(), now())), "kind", "{who}");
        }
    }
}
