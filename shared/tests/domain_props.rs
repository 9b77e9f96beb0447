//! Property tests of the domain: `check_change`, validation and the alert rules never
//! panic on arbitrary documents and users; what a volunteer or a medic gets accepted never
//! touches more than the rules allow; valid-shaped documents survive an automerge round
//! trip.

#![allow(clippy::unwrap_used)]

mod domain_fixtures;

use std::collections::BTreeMap;

use domain_fixtures::*;
use linli_shared::domain::*;
use linli_shared::DocumentId;
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;

fn user() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(vec![ADMIN, COORD, COORD2, MEDIC, VOL, VOL2]).prop_map(String::from),
        1 => ".{0,4}",
    ]
}

fn grid() -> impl Strategy<Value = String> {
    prop_oneof![4 => select(vec![GRID, OTHER_GRID]).prop_map(String::from), 1 => ".{0,4}"]
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[a-z 王]{0,8}", 1 => ".{0,20}"]
}

fn time() -> impl Strategy<Value = i64> {
    prop_oneof![4 => (now() - 86_400_000 * 10)..(now() + 86_400_000), 1 => any::<i64>()]
}

fn temp() -> impl Strategy<Value = f64> {
    prop_oneof![4 => 33.0..44.0f64, 1 => any::<f64>()]
}

fn date() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (0u64..20).prop_map(|d| (parse_date("2026-01-25").unwrap() + chrono::Days::new(d)).to_string()),
        1 => "[0-9]{4}-[0-9]{2}-[0-9]{2}",
        1 => ".{0,12}",
    ]
}

fn status() -> impl Strategy<Value = TaskStatus> {
    select(TaskStatus::ALL.to_vec())
}

fn log_entry() -> impl Strategy<Value = LogEntry> {
    (time(), user(), status(), status(), text()).prop_map(|(at, by, from, to, note)| LogEntry {
        at,
        by,
        from,
        to,
        note,
    })
}

fn item() -> impl Strategy<Value = Item> {
    (text(), prop_oneof![3 => 0.1..100.0f64, 1 => any::<f64>()], text()).prop_map(|(name, qty, unit)| Item {
        name,
        qty,
        unit,
    })
}

fn task_strategy() -> impl Strategy<Value = Task> {
    (
        (
            grid(),
            select(Category::ALL.to_vec()),
            vec(item(), 0..4),
            select(Priority::ALL.to_vec()),
            time(),
            any::<bool>(),
        ),
        (option::of(user()), status(), option::of(text()), vec(log_entry(), 0..4), user(), time()),
        prop_oneof![9 => Just(SCHEMA_VERSION), 1 => any::<u64>()],
    )
        .prop_map(
            |(
                (grid, category, items, priority, due, contactless),
                (assignee, status, failure_reason, log, created_by, created_at),
                schema,
            )| {
                Task {
                    kind: Kind::Task,
                    schema,
                    grid,
                    household: household_id(),
                    category,
                    items,
                    priority,
                    due,
                    contactless,
                    assignee,
                    status,
                    failure_reason,
                    log,
                    created_by,
                    created_at,
                }
            },
        )
}

fn checkin_strategy() -> impl Strategy<Value = Checkin> {
    (temp(), vec(select(Symptom::ALL.to_vec()), 0..3), select(Method::ALL.to_vec()), text(), user(), time())
        .prop_map(|(temp_c, symptoms, method, note, by, at)| Checkin { temp_c, symptoms, method, note, by, at })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![5 => (date(), 0u32..5).prop_map(|(d, s)| format!("{d}/{s}")), 1 => ".{1,14}"]
}

fn episode_strategy() -> impl Strategy<Value = Episode> {
    (
        (grid(), text(), 0u32..200, select(Reason::ALL.to_vec()), date(), date(), 0u32..6),
        (option::of(user()), select(EpisodeStatus::ALL.to_vec()), option::of(time())),
        (
            option::of(doc_id()),
            option::of(doc_id()),
            prop_oneof![9 => Just(false), 1 => Just(true)],
            schema(Kind::Episode),
        ),
    )
        .prop_map(
            |(
                (grid, name, age, reason, start, end, slots),
                (assignee, status, closed_at),
                (readings, medical, erased, schema),
            )| Episode {
                kind: Kind::Episode,
                schema,
                grid,
                household: household_id(),
                person: Person { name, age },
                reason,
                start,
                end,
                slots,
                assignee,
                status,
                closed_at,
                readings,
                medical,
                erased,
            },
        )
}

fn readings_strategy() -> impl Strategy<Value = Readings> {
    (
        (grid(), date(), date(), 0u32..6, option::of(user()), select(EpisodeStatus::ALL.to_vec())),
        (btree_map(key(), checkin_strategy(), 0..5), schema(Kind::Readings)),
    )
        .prop_map(|((grid, start, end, slots, assignee, status), (checkins, schema))| Readings {
            kind: Kind::Readings,
            schema,
            grid,
            episode: episode_id(),
            household: household_id(),
            start,
            end,
            slots,
            assignee,
            status,
            checkins,
        })
}

/// Mostly the kind's own version, sometimes another (the previous one, or anything).
fn schema(kind: Kind) -> impl Strategy<Value = u64> {
    let v = kind.schema_version();
    prop_oneof![8 => Just(v), 1 => Just(v.saturating_sub(1)), 1 => any::<u64>()]
}

fn doc_id() -> impl Strategy<Value = DocumentId> {
    prop_oneof![
        3 => select(vec![medical_id(), readings_id(), episode_id(), household_id(), task_id()]),
        1 => any::<[u8; 16]>().prop_map(DocumentId::from_bytes),
    ]
}

fn note_strategy() -> impl Strategy<Value = MedicNote> {
    (time(), user(), text()).prop_map(|(at, by, text)| MedicNote { at, by, text })
}

fn medical_strategy() -> impl Strategy<Value = Medical> {
    (grid(), doc_id(), doc_id(), vec(note_strategy(), 0..4), schema(Kind::Medical)).prop_map(
        |(grid, episode, household, notes, schema)| Medical {
            kind: Kind::Medical,
            schema,
            grid,
            episode,
            household,
            notes,
        },
    )
}

/// An edit of a medical record by one of a few likely changes, or none.
fn apply_medical_edit(mut m: Medical, edits: &[u8], by: &str) -> Medical {
    for e in edits {
        match e {
            0 | 1 => m.notes.push(MedicNote { at: now(), by: by.into(), text: "call tomorrow".into() }),
            2 => m.notes.push(MedicNote { at: now(), by: MEDIC2.into(), text: "forged".into() }),
            3 => m.notes.push(MedicNote { at: now() + 86_400_000, by: by.into(), text: "tomorrow".into() }),
            4 => {
                m.notes.pop();
            }
            5 => {
                if let Some(n) = m.notes.first_mut() {
                    n.text.push('!');
                }
            }
            6 => m.episode = task_id(),
            7 => m.household = task_id(),
            8 => m.grid = OTHER_GRID.into(),
            _ => m.notes.insert(0, MedicNote { at: now(), by: by.into(), text: "first".into() }),
        }
    }
    m
}

fn role() -> impl Strategy<Value = Role> {
    select(Role::ALL.to_vec())
}

fn grids() -> impl Strategy<Value = &'static [String]> {
    select(vec![&G1[..], &G2[..], &BOTH[..], &[][..]])
}

/// An edit of a task by one of a few likely changes, or none.
fn task_edit() -> impl Strategy<Value = Vec<u8>> {
    vec(0u8..10, 0..4)
}

fn apply_task_edit(mut t: Task, edits: &[u8], by: &str) -> Task {
    for e in edits {
        match e {
            0 => t.status = TaskStatus::ALL[(t.status as usize + 1) % TaskStatus::ALL.len()],
            1 => t.log.push(LogEntry { at: now(), by: by.into(), from: t.status, to: t.status, note: "note".into() }),
            2 => t.due += 1,
            3 => t.assignee = Some(VOL2.into()),
            4 => t.failure_reason = Some("reason".into()),
            5 => t.items.push(Item { name: "salt".into(), qty: 1.0, unit: String::new() }),
            6 => t.log.clear(),
            7 => t.grid = OTHER_GRID.into(),
            8 => t.created_by = by.into(),
            _ => t.contactless = !t.contactless,
        }
    }
    t
}

proptest! {
    #[test]
    fn check_change_never_panics_on_tasks(
        role in role(), user in user(), grids in grids(),
        before in option::of(task_strategy()), after in task_strategy(), now_ms in time(),
    ) {
        let actor = Actor { user_id: &user, role, grids };
        let before = before.map(DomainDoc::Task);
        let after = DomainDoc::Task(after);
        let _ = check_change(&actor, before.as_ref(), &after, &limits(), now_ms);
        let _ = check_change(&actor, Some(&after), &after, &limits(), now_ms);
        let _ = after.summary();
        let _ = DocFacts::of(&after);
    }

    #[test]
    fn check_change_never_panics_on_episodes(
        role in role(), user in user(), grids in grids(),
        before in option::of(episode_strategy()), after in episode_strategy(), now_ms in time(),
    ) {
        let actor = Actor { user_id: &user, role, grids };
        let before = before.map(DomainDoc::Episode);
        let after = DomainDoc::Episode(after);
        let _ = check_change(&actor, before.as_ref(), &after, &limits(), now_ms);
        let _ = check_change(&actor, Some(&DomainDoc::Task(task())), &after, &limits(), now_ms);
    }

    #[test]
    fn check_change_never_panics_on_readings(
        role in role(), user in user(), grids in grids(),
        before in option::of(readings_strategy()), after in readings_strategy(), now_ms in time(),
    ) {
        let actor = Actor { user_id: &user, role, grids };
        let before = before.map(DomainDoc::Readings);
        let after = DomainDoc::Readings(after);
        let r = check_change(&actor, before.as_ref(), &after, &limits(), now_ms);
        // Nobody creates readings through sync, and coordinators and admins write none.
        prop_assert!(before.is_some() || r.is_err());
        if matches!(role, Role::Admin | Role::Coordinator) && before.as_ref() != Some(&after) {
            prop_assert!(r.is_err());
        }
    }

    #[test]
    fn check_change_never_panics_on_small_edits_of_readings(
        role in role(), user in user(), ep in readings_strategy(), extra in btree_map(key(), checkin_strategy(), 0..3),
    ) {
        let actor = Actor { user_id: &user, role, grids: &G1 };
        let mut after = ep.clone();
        after.checkins.extend(extra);
        let r = check_change(&actor, Some(&DomainDoc::Readings(ep.clone())), &DomainDoc::Readings(after.clone()), &limits(), now());
        // Whatever a volunteer gets accepted only adds check-ins signed by them.
        if r.is_ok() && role == Role::Volunteer && after != ep {
            for (k, c) in &ep.checkins {
                prop_assert_eq!(after.checkins.get(k), Some(c));
            }
            for (k, c) in &after.checkins {
                if !ep.checkins.contains_key(k) {
                    prop_assert_eq!(&c.by, &user);
                }
            }
        }
    }

    #[test]
    fn check_change_never_panics_on_medical_records(
        role in role(), user in user(), grids in grids(),
        before in option::of(medical_strategy()), after in medical_strategy(), now_ms in time(),
    ) {
        let actor = Actor { user_id: &user, role, grids };
        let before = before.map(DomainDoc::Medical);
        let after = DomainDoc::Medical(after);
        let r = check_change(&actor, before.as_ref(), &after, &limits(), now_ms);
        // Nobody creates one through sync.
        if before.is_none() {
            prop_assert!(r.is_err());
        }
        let _ = check_change(&actor, Some(&after), &after, &limits(), now_ms);
        let _ = check_change(&actor, Some(&DomainDoc::Episode(episode())), &after, &limits(), now_ms);
        let _ = after.summary();
        let _ = DocFacts::of(&after);
    }

    #[test]
    fn a_medic_only_ever_appends_own_notes(
        role in role(), user in user(), grids in grids(), edits in vec(0u8..10, 0..4),
    ) {
        let before = medical();
        let after = apply_medical_edit(before.clone(), &edits, &user);
        let actor = Actor { user_id: &user, role, grids };
        let r = check_change(&actor, Some(&DomainDoc::Medical(before.clone())), &DomainDoc::Medical(after.clone()), &limits(), now());
        if r.is_ok() && after != before {
            prop_assert_eq!(role, Role::Medic);
            prop_assert!(grids.iter().any(|g| g == GRID));
            prop_assert!(after.notes.starts_with(&before.notes));
            for n in &after.notes[before.notes.len()..] {
                prop_assert_eq!(&n.by, &user);
                prop_assert!(n.at <= now() + limits().max_clock_skew_ms);
            }
            prop_assert_eq!(Medical { notes: vec![], ..after }, Medical { notes: vec![], ..before });
        }
    }

    #[test]
    fn a_volunteer_only_ever_moves_status_and_writes_the_log(
        user in select(vec![VOL, VOL2]), edits in task_edit(), from in status(),
    ) {
        let mut before = task();
        before.status = from;
        before.assignee = (from != TaskStatus::New).then(|| VOL.to_string());
        let after = apply_task_edit(before.clone(), &edits, user);
        let actor = Actor { user_id: user, role: Role::Volunteer, grids: &G1 };
        let r = check_change(&actor, Some(&DomainDoc::Task(before.clone())), &DomainDoc::Task(after.clone()), &limits(), now());
        if r.is_ok() && after != before {
            prop_assert_eq!(user, VOL);
            let strip = |t: &Task| Task { status: TaskStatus::New, failure_reason: None, log: vec![], ..t.clone() };
            prop_assert_eq!(strip(&before), strip(&after));
            prop_assert!(after.log.starts_with(&before.log));
            prop_assert!(!matches!(after.status, TaskStatus::Confirmed | TaskStatus::Cancelled | TaskStatus::New) || after.status == before.status);
        }
    }

    #[test]
    fn alerts_never_panic(ep in episode_strategy(), r in readings_strategy(), t in task_strategy(), secs in any::<i32>(), since in any::<i32>(), now_ms in any::<i64>()) {
        let at = |s: i32| chrono::DateTime::from_timestamp(i64::from(s) * 4, 0).unwrap().naive_utc();
        let alerts = episode_alerts(&ep, &r.checkins, at(secs), at(since));
        // Keys are unique within a document.
        let mut keys: Vec<&str> = alerts.iter().map(|a| a.key.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        prop_assert_eq!(keys.len(), alerts.len());
        let _ = task_alerts(&t, now_ms);
        let _ = DomainDoc::Episode(ep).validate(&limits());
        let _ = DomainDoc::Readings(r).validate(&limits());
        let _ = DomainDoc::Task(t).validate(&limits());
    }

    #[test]
    fn documents_survive_an_automerge_round_trip(t in task_strategy(), ep in episode_strategy(), r in readings_strategy(), m in medical_strategy()) {
        let finite = |x: f64| if x.is_finite() { x } else { 1.0 };
        let mut t = t;
        for item in &mut t.items {
            item.qty = finite(item.qty);
        }
        let mut r = r;
        for c in r.checkins.values_mut() {
            c.temp_c = finite(c.temp_c);
        }
        for doc in [DomainDoc::Task(t), DomainDoc::Episode(ep), DomainDoc::Readings(r), DomainDoc::Medical(m)] {
            let am = through_automerge(&doc);
            prop_assert_eq!(DomainDoc::hydrate(&am).unwrap(), Some(doc));
        }
    }
}

#[test]
fn an_index_of_random_ids_round_trips() {
    let mut docs = BTreeMap::new();
    for _ in 0..50 {
        docs.insert(DocumentId::random().to_string(), DomainDoc::Task(task()).summary().unwrap());
    }
    let doc = DomainDoc::GridIndex(GridIndex { docs, ..grid_index() });
    assert_eq!(DomainDoc::hydrate(&through_automerge(&doc)).unwrap(), Some(doc));
}
