//! Documents through real automerge documents: every kind survives reconcile → save →
//! load → hydrate; what the JavaScript client writes (text strings, integer numbers,
//! nulls) hydrates; bad documents are refused naming the field; validation rules.

#![allow(clippy::unwrap_used)]

mod domain_fixtures;

use automerge::transaction::Transactable;
use automerge::{ObjType, ReadDoc, ScalarValue, Value, ROOT};
use domain_fixtures::*;
use linli_shared::domain::*;
use linli_shared::DocumentId;

#[test]
fn every_kind_round_trips_through_an_automerge_document() {
    for doc in samples() {
        let am = through_automerge(&doc);
        assert_eq!(DomainDoc::hydrate(&am).unwrap(), Some(doc.clone()), "{:?}", doc.kind());
        doc.validate(&limits()).unwrap();
    }
    // The per-struct autosurgeon impls read the same documents.
    let am = through_automerge(&DomainDoc::Task(task()));
    assert_eq!(autosurgeon::hydrate::<_, Task>(&am).unwrap(), task());
    let am = through_automerge(&DomainDoc::Episode(episode()));
    assert_eq!(autosurgeon::hydrate::<_, Episode>(&am).unwrap(), episode());
    let am = through_automerge(&DomainDoc::Medical(medical()));
    assert_eq!(autosurgeon::hydrate::<_, Medical>(&am).unwrap(), medical());
}

#[test]
fn each_kind_has_its_schema_version() {
    assert_eq!(
        Kind::Episode.schema_version(),
        3,
        "episode 2: the medics' notes moved to `medical`; 3: check-ins to `readings`"
    );
    for kind in
        [Kind::Household, Kind::Task, Kind::Medical, Kind::Readings, Kind::GridIndex, Kind::MedicIndex, Kind::Inbox]
    {
        assert_eq!(kind.schema_version(), SCHEMA_VERSION, "{kind}");
    }
    for doc in samples() {
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(json["schema"], doc.kind().schema_version(), "{}", doc.kind());
    }
    let fresh = Medical::for_episode(GRID, episode_id(), household_id());
    assert_eq!((fresh.kind, fresh.schema, fresh.notes.len()), (Kind::Medical, 1, 0));
    DomainDoc::Medical(fresh).validate(&limits()).unwrap();
}

#[test]
fn an_episode_of_an_older_schema_is_refused() {
    // What a phone still on schema 1 or 2 writes without notes or check-ins: valid in
    // every field but `schema`.
    let old = DomainDoc::Episode(Episode { schema: 2, medical: None, readings: None, ..episode() });
    let v = old.validate(&limits()).unwrap_err();
    assert_eq!((v.field.as_str(), v.reason.as_str()), ("schema", "must be 3"));
    assert_eq!(verdict(check_change(&coord(), None, &old, &limits(), now())), "schema");
    assert_eq!(verdict(change(&coord(), &DomainDoc::Episode(episode()), &old)), "schema");
    // Through automerge too, and the other way round for the kinds still at 1.
    let mut am = automerge::AutoCommit::new();
    DomainDoc::Episode(episode()).reconcile_into(&mut am).unwrap();
    am.put(&ROOT, "schema", ScalarValue::Int(1)).unwrap();
    let hydrated = DomainDoc::hydrate(am.document()).unwrap().unwrap();
    assert_eq!(hydrated.validate(&limits()).unwrap_err().field, "schema");
    let v = DomainDoc::Medical(Medical { schema: 2, ..medical() }).validate(&limits()).unwrap_err();
    assert_eq!((v.field.as_str(), v.reason.as_str()), ("schema", "must be 1"));
}

#[test]
fn episodes_carry_no_medic_notes() {
    // A `medic_notes` key (schema 1's) is a field the schema does not know.
    let mut json = serde_json::to_value(DomainDoc::Episode(episode())).unwrap();
    json["medic_notes"] = serde_json::json!([{"at": now(), "by": MEDIC, "text": "stable"}]);
    assert_eq!(DomainDoc::from_json(json.clone()).unwrap_err().field, "medic_notes");
    json["medic_notes"] = serde_json::json!([]);
    assert_eq!(DomainDoc::from_json(json).unwrap_err().field, "medic_notes", "even an empty list");
    let field = refused_field(DomainDoc::Episode(episode()), |d| {
        let notes = d.put_object(&ROOT, "medic_notes", ObjType::List).unwrap();
        let n = d.insert_object(&notes, 0, ObjType::Map).unwrap();
        d.put(&n, "text", "stable").unwrap();
    });
    assert_eq!(field, "medic_notes");
    // The notes are in the medical record, which the episode links; an absent link reads
    // as `null`, as the JavaScript client may leave it out.
    let mut json = serde_json::to_value(DomainDoc::Episode(episode())).unwrap();
    assert_eq!(json["medical"], medical_id().to_string());
    json.as_object_mut().unwrap().remove("medical");
    let Some(DomainDoc::Episode(e)) = DomainDoc::from_json(json).unwrap() else { panic!("not an episode") };
    assert_eq!(e, Episode { medical: None, ..episode() });
    assert_eq!(refused_field(DomainDoc::Episode(episode()), |d| d.put(&ROOT, "medical", "nope").unwrap()), "medical");
}

#[test]
fn json_form_round_trips_and_dispatches_on_kind() {
    for doc in samples() {
        let json = serde_json::to_value(&doc).unwrap();
        assert_eq!(json["kind"], doc.kind().to_string());
        assert_eq!(DomainDoc::from_json(json.clone()).unwrap(), Some(doc.clone()));
        assert_eq!(serde_json::from_value::<DomainDoc>(json).unwrap(), doc);
    }
}

#[test]
fn strings_are_written_as_text_and_integers_as_int() {
    let am = through_automerge(&DomainDoc::Task(task()));
    assert!(matches!(am.get(ROOT, "grid").unwrap(), Some((Value::Object(ObjType::Text), _))));
    assert!(matches!(am.get(ROOT, "status").unwrap(), Some((Value::Object(ObjType::Text), _))));
    let due = am.get(ROOT, "due").unwrap().unwrap().0;
    assert_eq!(due, Value::Scalar(std::borrow::Cow::Owned(ScalarValue::Int(task().due))));
    assert_eq!(
        am.get(ROOT, "failure_reason").unwrap().unwrap().0,
        Value::Scalar(std::borrow::Cow::Owned(ScalarValue::Null))
    );
}

#[test]
fn reconciling_an_unchanged_value_writes_nothing() {
    for doc in samples() {
        let mut am = automerge::AutoCommit::new();
        doc.reconcile_into(&mut am).unwrap();
        am.commit();
        let heads = am.get_heads();
        doc.reconcile_into(&mut am).unwrap();
        am.commit();
        assert_eq!(am.get_heads(), heads, "{:?} rewrote unchanged values", doc.kind());
    }
}

#[test]
fn reconciling_a_small_change_to_a_large_index_is_a_small_change() {
    let mut index = grid_index();
    let row = index.docs.values().next().unwrap().clone();
    for i in 0..500u32 {
        let mut id = [0u8; 16];
        id[..4].copy_from_slice(&i.to_be_bytes());
        index.docs.insert(DocumentId::from_bytes(id).to_string(), row.clone());
    }
    let mut am = automerge::AutoCommit::new();
    DomainDoc::GridIndex(index.clone()).reconcile_into(&mut am).unwrap();
    am.commit();
    let heads = am.get_heads();

    let key = index.docs.keys().nth(250).unwrap().clone();
    let row = index.docs.get_mut(&key).unwrap();
    row.status = "accepted".into();
    row.alerts = 2;
    DomainDoc::GridIndex(index.clone()).reconcile_into(&mut am).unwrap();
    am.commit();
    let ops: usize = am.get_changes(&heads).iter().map(|c| c.len()).sum();
    assert!(ops > 0 && ops < 30, "one row's status and alert count took {ops} ops");
    assert_eq!(DomainDoc::hydrate(am.document()).unwrap(), Some(DomainDoc::GridIndex(index)));
}

#[test]
fn appending_a_log_entry_keeps_the_earlier_entries() {
    let mut am = automerge::AutoCommit::new();
    let mut t = task();
    DomainDoc::Task(t.clone()).reconcile_into(&mut am).unwrap();
    am.commit();
    let heads = am.get_heads();
    t.status = TaskStatus::Accepted;
    t.log.push(LogEntry {
        at: now(),
        by: VOL.into(),
        from: TaskStatus::Assigned,
        to: TaskStatus::Accepted,
        note: "on my way".into(),
    });
    DomainDoc::Task(t.clone()).reconcile_into(&mut am).unwrap();
    am.commit();
    let ops: usize = am.get_changes(&heads).iter().map(|c| c.len()).sum();
    assert!(ops < 60, "accepting took {ops} ops");
    assert_eq!(DomainDoc::hydrate(am.document()).unwrap(), Some(DomainDoc::Task(t)));
}

/// Builds a task the way `@automerge/automerge` 3 does from JavaScript: every string a
/// text object, whole numbers as `Int`, `null` for nothing.
fn js_written_task(text_strings: bool) -> automerge::AutoCommit {
    let mut d = automerge::AutoCommit::new();
    let put_str = |d: &mut automerge::AutoCommit, obj: &automerge::ObjId, key: &str, s: &str| {
        if text_strings {
            let t = d.put_object(obj, key, ObjType::Text).unwrap();
            d.splice_text(&t, 0, 0, s).unwrap();
        } else {
            d.put(obj, key, s).unwrap();
        }
    };
    put_str(&mut d, &ROOT, "kind", "task");
    d.put(&ROOT, "schema", ScalarValue::Int(1)).unwrap();
    put_str(&mut d, &ROOT, "grid", GRID);
    put_str(&mut d, &ROOT, "household", &household_id().to_string());
    put_str(&mut d, &ROOT, "category", "medicine");
    let items = d.put_object(&ROOT, "items", ObjType::List).unwrap();
    let item = d.insert_object(&items, 0, ObjType::Map).unwrap();
    put_str(&mut d, &item, "name", "insulin");
    d.put(&item, "qty", ScalarValue::Int(2)).unwrap();
    put_str(&mut d, &item, "unit", "pen");
    put_str(&mut d, &ROOT, "priority", "urgent");
    d.put(&ROOT, "due", ScalarValue::Int(1_769_940_000_000)).unwrap();
    d.put(&ROOT, "contactless", false).unwrap();
    d.put(&ROOT, "assignee", ScalarValue::Null).unwrap();
    put_str(&mut d, &ROOT, "status", "new");
    // failure_reason left out entirely: an absent optional field reads as null.
    d.put_object(&ROOT, "log", ObjType::List).unwrap();
    put_str(&mut d, &ROOT, "created_by", COORD);
    d.put(&ROOT, "created_at", ScalarValue::Int(1_769_900_000_000)).unwrap();
    d
}

#[test]
fn hydrates_what_the_javascript_client_writes() {
    for text_strings in [true, false] {
        let mut d = js_written_task(text_strings);
        let Some(DomainDoc::Task(t)) = DomainDoc::hydrate(d.document()).unwrap() else { panic!("not a task") };
        assert_eq!(t.category, Category::Medicine);
        assert_eq!(t.items[0].qty, 2.0);
        assert_eq!(t.items[0].name, "insulin");
        assert_eq!(t.assignee, None);
        assert_eq!(t.failure_reason, None);
        assert_eq!(t.status, TaskStatus::New);
        DomainDoc::Task(t).validate(&limits()).unwrap();
    }
}

#[test]
fn integral_temperatures_and_ages_from_javascript_hydrate() {
    let mut d = automerge::AutoCommit::new();
    DomainDoc::Readings(readings()).reconcile_into(&mut d).unwrap();
    let checkins = d.get(&ROOT, "checkins").unwrap().unwrap().1;
    let c = d.get(&checkins, "2026-01-31/0").unwrap().unwrap().1;
    d.put(&c, "temp_c", ScalarValue::Int(37)).unwrap();
    let Some(DomainDoc::Readings(r)) = DomainDoc::hydrate(d.document()).unwrap() else { panic!() };
    assert_eq!(r.checkins["2026-01-31/0"].temp_c, 37.0);
}

#[test]
fn an_empty_document_is_none() {
    assert_eq!(DomainDoc::hydrate(&automerge::Automerge::new()).unwrap(), None);
    assert_eq!(DomainDoc::from_json(serde_json::json!({})).unwrap(), None);
}

/// Hydrates the sample `doc` after `edit` on its automerge form; the field refused.
fn refused_field(doc: DomainDoc, edit: impl FnOnce(&mut automerge::AutoCommit)) -> String {
    let mut am = automerge::AutoCommit::new();
    doc.reconcile_into(&mut am).unwrap();
    edit(&mut am);
    DomainDoc::hydrate(am.document()).unwrap_err().field
}

#[test]
fn hydration_names_the_field_it_refuses() {
    let t = || DomainDoc::Task(task());
    let e = || DomainDoc::Episode(episode());
    let r = || DomainDoc::Readings(readings());
    assert_eq!(refused_field(t(), |d| d.delete(&ROOT, "kind").unwrap()), "kind");
    assert_eq!(refused_field(t(), |d| d.put(&ROOT, "kind", "tasks").unwrap()), "kind");
    assert_eq!(refused_field(t(), |d| d.put(&ROOT, "kind", 3).unwrap()), "kind");
    assert_eq!(refused_field(t(), |d| d.delete(&ROOT, "due").unwrap()), "due");
    assert_eq!(refused_field(t(), |d| d.put(&ROOT, "due", "tomorrow").unwrap()), "due");
    assert_eq!(refused_field(t(), |d| d.put(&ROOT, "status", "lost").unwrap()), "status");
    assert_eq!(refused_field(t(), |d| d.put(&ROOT, "household", "nope").unwrap()), "household");
    assert_eq!(refused_field(t(), |d| d.put(&ROOT, "password", "x").unwrap()), "password");
    assert_eq!(refused_field(t(), |d| d.put(&ROOT, "contactless", vec![1u8, 2]).unwrap()), "contactless");
    assert_eq!(
        refused_field(t(), |d| {
            let items = d.get(&ROOT, "items").unwrap().unwrap().1;
            let item = d.get(&items, 3).unwrap().unwrap().1;
            d.put(&item, "qty", "two").unwrap();
        }),
        "items.3.qty"
    );
    assert_eq!(
        refused_field(t(), |d| {
            let log = d.get(&ROOT, "log").unwrap().unwrap().1;
            let entry = d.get(&log, 0).unwrap().unwrap().1;
            d.put(&entry, "to", "teleported").unwrap();
        }),
        "log.0.to"
    );
    assert_eq!(
        refused_field(r(), |d| {
            let checkins = d.get(&ROOT, "checkins").unwrap().unwrap().1;
            let c = d.get(&checkins, "2026-01-31/1").unwrap().unwrap().1;
            d.put(&c, "temp_c", "hot").unwrap();
        }),
        "checkins.2026-01-31/1.temp_c"
    );
    assert_eq!(
        refused_field(r(), |d| {
            let checkins = d.get(&ROOT, "checkins").unwrap().unwrap().1;
            let c = d.get(&checkins, "2026-01-31/1").unwrap().unwrap().1;
            let symptoms = d.get(&c, "symptoms").unwrap().unwrap().1;
            d.insert(&symptoms, 0, "headache").unwrap();
        }),
        "checkins.2026-01-31/1.symptoms.0"
    );
    assert_eq!(
        refused_field(e(), |d| {
            d.put(&ROOT, "person", ScalarValue::Null).unwrap();
        }),
        "person"
    );
    let m = || DomainDoc::Medical(medical());
    assert_eq!(refused_field(m(), |d| d.put(&ROOT, "episode", "nope").unwrap()), "episode");
    assert_eq!(refused_field(m(), |d| d.delete(&ROOT, "household").unwrap()), "household");
    assert_eq!(refused_field(m(), |d| d.put(&ROOT, "erased", true).unwrap()), "erased");
    assert_eq!(
        refused_field(m(), |d| {
            let notes = d.get(&ROOT, "notes").unwrap().unwrap().1;
            let n = d.get(&notes, 0).unwrap().unwrap().1;
            d.put(&n, "at", "yesterday").unwrap();
        }),
        "notes.0.at"
    );
}

#[test]
fn absurdly_nested_documents_are_refused() {
    let mut am = automerge::AutoCommit::new();
    let mut obj = ROOT;
    for _ in 0..40 {
        obj = am.put_object(&obj, "x", ObjType::Map).unwrap();
    }
    am.put(&ROOT, "kind", "task").unwrap();
    let v = DomainDoc::hydrate(am.document()).unwrap_err();
    assert!(v.reason.contains("nested"), "{v}");
}

/// Validates the sample after `edit`: the field refused, or "ok".
fn validated<T>(make: fn() -> T, wrap: fn(T) -> DomainDoc, edit: impl FnOnce(&mut T)) -> String {
    let mut x = make();
    edit(&mut x);
    verdict(wrap(x).validate(&limits()))
}

fn long(n: usize) -> String {
    "字".repeat(n)
}

#[test]
fn validation_names_the_field() {
    let h = |f: fn(&mut Household)| validated(household, DomainDoc::Household, f);
    let t = |f: fn(&mut Task)| validated(task, DomainDoc::Task, f);
    let e = |f: fn(&mut Episode)| validated(episode, DomainDoc::Episode, f);
    let i = |f: fn(&mut Inbox)| validated(inbox, DomainDoc::Inbox, f);
    let g = |f: fn(&mut GridIndex)| validated(grid_index, DomainDoc::GridIndex, f);
    let m = |f: fn(&mut Medical)| validated(medical, DomainDoc::Medical, f);
    let r = |f: fn(&mut Readings)| validated(readings, DomainDoc::Readings, f);

    let cases: Vec<(String, &str)> = vec![
        (h(|_| {}), "ok"),
        (h(|x| x.kind = Kind::Task), "kind"),
        (h(|x| x.schema = 2), "schema"),
        (h(|x| x.grid = String::new()), "grid"),
        (h(|x| x.grid = "g".repeat(101)), "grid"),
        (h(|x| x.room = long(101)), "room"),
        (h(|x| x.notes = long(2000)), "ok"),
        (h(|x| x.notes = long(2001)), "notes"),
        (h(|x| x.members = vec![x.members[1].clone(); 201]), "members"),
        (h(|x| x.members[1].age = 151), "members.1.age"),
        (h(|x| x.members[0].flags.push(CareFlag::Chronic)), "members.0.flags"),
        (h(|x| x.members[0].medicines.push(String::new())), "members.0.medicines.1"),
        (t(|_| {}), "ok"),
        (t(|x| x.items[3].qty = 0.0), "items.3.qty"),
        (t(|x| x.items[1].qty = f64::NAN), "items.1.qty"),
        (t(|x| x.items[0].name = " ".into()), "items.0.name"),
        (t(|x| x.items = vec![x.items[0].clone(); 201]), "items"),
        (t(|x| x.due = 0), "due"),
        (t(|x| x.assignee = Some(String::new())), "assignee"),
        (t(|x| x.status = TaskStatus::New), "assignee"),
        (t(|x| x.assignee = None), "assignee"),
        (t(|x| x.status = TaskStatus::Failed), "failure_reason"),
        (t(|x| (x.status, x.failure_reason) = (TaskStatus::Failed, Some("not home".into()))), "ok"),
        (t(|x| x.log[0].at = -5), "log.0.at"),
        (t(|x| x.log[0].by = String::new()), "log.0.by"),
        (t(|x| x.created_by = String::new()), "created_by"),
        (e(|_| {}), "ok"),
        (e(|x| x.person.name = String::new()), "person.name"),
        (e(|x| x.person.age = 200), "person.age"),
        (e(|x| x.start = "2026-02-30".into()), "start"),
        (e(|x| x.end = "2026/02/08".into()), "end"),
        (e(|x| x.end = "2026-01-24".into()), "end"),
        (e(|x| x.end = "2026-12-31".into()), "end"),
        (e(|x| x.slots = 0), "slots"),
        (e(|x| x.slots = 5), "slots"),
        // A check-in in a slot beyond `slots` stays valid (slots went down after it).
        (r(|x| x.slots = 1), "ok"),
        (
            r(|x| {
                let c = x.checkins["2026-01-31/0"].clone();
                x.checkins.insert("2026-01-31/4".into(), c);
            }),
            "checkins.2026-01-31/4",
        ),
        (r(|x| x.start = "2026-02-01".into()), "checkins.2026-01-31/0"),
        (r(|x| x.checkins.get_mut("2026-01-31/0").unwrap().temp_c = 33.9), "checkins.2026-01-31/0.temp_c"),
        (r(|x| x.checkins.get_mut("2026-01-31/0").unwrap().temp_c = 43.1), "checkins.2026-01-31/0.temp_c"),
        (r(|x| x.checkins.get_mut("2026-01-31/0").unwrap().temp_c = 34.0), "ok"),
        (r(|x| x.checkins.get_mut("2026-01-31/0").unwrap().temp_c = 43.0), "ok"),
        (
            r(|x| x.checkins.get_mut("2026-01-31/0").unwrap().symptoms = vec![Symptom::Cough, Symptom::Cough]),
            "checkins.2026-01-31/0.symptoms",
        ),
        (r(|x| x.checkins.get_mut("2026-01-31/0").unwrap().by = String::new()), "checkins.2026-01-31/0.by"),
        (
            r(|x| {
                let c = x.checkins["2026-01-31/0"].clone();
                x.checkins.insert("2026-1-31/0".into(), c);
            }),
            "checkins.2026-1-31/0",
        ),
        (r(|_| {}), "ok"),
        (r(|x| x.slots = 0), "slots"),
        (r(|x| x.end = "2026-01-24".into()), "end"),
        (r(|x| x.assignee = Some(String::new())), "assignee"),
        (r(|x| x.schema = 2), "schema"),
        (e(|x| x.status = EpisodeStatus::Closed), "closed_at"),
        (e(|x| x.closed_at = Some(now())), "closed_at"),
        (e(|x| (x.status, x.closed_at) = (EpisodeStatus::Closed, Some(now()))), "ok"),
        (e(|x| x.erased = true), "status"),
        (e(|x| x.schema = 2), "schema"),
        (e(|x| x.medical = None), "ok"),
        (e(|x| x.readings = None), "ok"),
        (
            e(|x| {
                (x.status, x.closed_at, x.erased) = (EpisodeStatus::Closed, Some(now()), true);
                x.medical = None;
            }),
            "readings",
        ),
        (
            e(|x| {
                (x.status, x.closed_at, x.erased) = (EpisodeStatus::Closed, Some(now()), true);
                x.readings = None;
            }),
            "medical",
        ),
        (m(|_| {}), "ok"),
        (m(|x| x.kind = Kind::Episode), "kind"),
        (m(|x| x.schema = 2), "schema"),
        (m(|x| x.grid = String::new()), "grid"),
        (m(|x| x.notes.clear()), "ok"),
        (m(|x| x.notes[0].text = long(2000)), "ok"),
        (m(|x| x.notes[0].text = long(2001)), "notes.0.text"),
        (m(|x| x.notes[0].by = String::new()), "notes.0.by"),
        (m(|x| x.notes[0].at = 0), "notes.0.at"),
        (m(|x| x.notes = vec![x.notes[0].clone(); 201]), "notes"),
        (i(|_| {}), "ok"),
        (i(|x| x.grid = String::new()), "ok"),
        (i(|x| x.user = String::new()), "user"),
        (
            g(|x| {
                let row = x.docs.values().next().unwrap().clone();
                x.docs.insert("not-an-id".into(), row);
            }),
            "docs.not-an-id",
        ),
        (g(|x| x.docs.values_mut().next().unwrap().kind = Kind::Inbox), ""),
        (g(|x| x.docs.values_mut().next().unwrap().title = long(101)), ""),
    ];
    for (n, (got, want)) in cases.iter().enumerate() {
        if want.is_empty() {
            assert!(got.starts_with("docs.") && got != "ok", "case {n}: {got}");
        } else {
            assert_eq!(got, want, "case {n}");
        }
    }
}

#[test]
fn check_in_count_is_bounded() {
    let mut r = readings();
    let small = DomainLimits { max_checkins: 2, ..limits() };
    DomainDoc::Readings(r.clone()).validate(&small).unwrap();
    r.checkins.insert("2026-02-01/0".into(), checkin(VOL, now(), 36.5, vec![]));
    assert_eq!(DomainDoc::Readings(r).validate(&small).unwrap_err().field, "checkins");
}

#[test]
fn summaries_are_short_and_carry_no_names_or_health_data() {
    let row = DomainDoc::Task(task()).summary().unwrap();
    assert_eq!(row.kind, Kind::Task);
    assert_eq!(row.status, "assigned");
    assert_eq!(row.assignee.as_deref(), Some(VOL));
    assert_eq!(row.priority, Some(Priority::High));
    assert_eq!(row.due, Some(task().due));
    assert_eq!(row.household, Some(household_id().to_string()));
    assert_eq!(row.clone().with_address(&household()).title, "3-2-501 food");

    let row = DomainDoc::Episode(episode()).summary().unwrap();
    let json = serde_json::to_string(&row).unwrap();
    for secret in ["张三", "close_contact"] {
        assert!(!json.contains(secret), "{secret} leaked into {json}");
    }
    assert_eq!(row.status, "active");
    // Nor does the readings' row, in the volunteer's inbox and the medic index, say what
    // the readings are.
    let mut r = readings();
    r.checkins.insert("2026-02-01/0".into(), checkin(VOL, now(), 38.5, vec![Symptom::Cough]));
    let row = DomainDoc::Readings(r).summary().unwrap();
    assert_eq!((row.kind, row.status.as_str(), row.assignee.as_deref()), (Kind::Readings, "active", Some(VOL)));
    let json = serde_json::to_string(&row).unwrap();
    for secret in ["38.5", "cough", "36.6"] {
        assert!(!json.contains(secret), "{secret} leaked into {json}");
    }
    // A medical record's row, in its grid's medic index, says nothing of the notes.
    let mut m = medical();
    m.notes.push(MedicNote { at: now(), by: MEDIC.into(), text: "suspected pneumonia".into() });
    let row = DomainDoc::Medical(m).summary().unwrap();
    assert_eq!((row.kind, row.household.clone()), (Kind::Medical, Some(household_id().to_string())));
    let json = serde_json::to_string(&row).unwrap();
    for secret in ["stable", "pneumonia", MEDIC] {
        assert!(!json.contains(secret), "{secret} leaked into {json}");
    }
    // A household is listed by its address: no names, phone, flags or medicines.
    let row = DomainDoc::Household(household()).summary().unwrap();
    assert_eq!((row.kind, row.status.as_str(), row.title.as_str()), (Kind::Household, "active", "3-2-501"));
    let json = serde_json::to_string(&row).unwrap();
    let h = household();
    let mut secrets: Vec<String> = vec![h.phone.clone()];
    for m in &h.members {
        secrets.push(m.name.clone());
        secrets.extend(m.medicines.iter().cloned());
        secrets.extend(m.flags.iter().map(ToString::to_string));
    }
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        assert!(!json.contains(secret.as_str()), "{secret} leaked into {json}");
    }
    assert!(DomainDoc::GridIndex(grid_index()).summary().is_none());
}

#[test]
fn address_labels_skip_empty_parts() {
    let mut h = household();
    h.unit = String::new();
    assert_eq!(h.address_label(), "3-501");
}

#[test]
fn facts_describe_the_document() {
    let f = DocFacts::of(&DomainDoc::Task(task()));
    assert_eq!(
        f,
        DocFacts { kind: Kind::Task, grid: GRID.into(), assignee: Some(VOL.into()), owner: None, open: true }
    );
    let mut t = task();
    t.status = TaskStatus::Delivered;
    assert!(!DocFacts::of(&DomainDoc::Task(t)).open);
    let f = DocFacts::of(&DomainDoc::Inbox(inbox()));
    assert_eq!(f.owner.as_deref(), Some(VOL));
    let mut e = episode();
    (e.status, e.closed_at) = (EpisodeStatus::Closed, Some(now()));
    assert!(!DocFacts::of(&DomainDoc::Episode(e)).open);
    let d = DomainDoc::Episode(episode());
    assert_eq!(
        (d.kind(), d.grid(), d.assignee(), d.household()),
        (Kind::Episode, GRID, Some(VOL), Some(household_id()))
    );
    let d = DomainDoc::Medical(medical());
    assert_eq!((d.kind(), d.grid(), d.assignee(), d.household()), (Kind::Medical, GRID, None, Some(household_id())));
    assert_eq!(
        DocFacts::of(&d),
        DocFacts { kind: Kind::Medical, grid: GRID.into(), assignee: None, owner: None, open: true }
    );
    // Readings decide their own reads: the server's copies of the episode's assignee and
    // status.
    let mut r = readings();
    assert_eq!(
        DocFacts::of(&DomainDoc::Readings(r.clone())),
        DocFacts { kind: Kind::Readings, grid: GRID.into(), assignee: Some(VOL.into()), owner: None, open: true }
    );
    r.status = EpisodeStatus::Closed;
    assert!(!DocFacts::of(&DomainDoc::Readings(r)).open);
}

#[test]
fn erasure_keeps_only_the_non_sensitive_summary() {
    let erased = episode().erased_summary(now());
    DomainDoc::Episode(erased.clone()).validate(&limits()).unwrap();
    assert!(erased.erased);
    assert_eq!(erased.medical, None, "the link to the medical record goes too");
    assert_eq!(erased.readings, None, "and to the readings");
    assert_eq!(erased.person.name, "");
    assert_eq!(erased.status, EpisodeStatus::Closed);
    assert_eq!(erased.closed_at, Some(now()));
    assert_eq!((erased.household, erased.start.as_str(), erased.grid.as_str()), (household_id(), "2026-01-25", GRID));
    let json = serde_json::to_string(&erased).unwrap();
    assert!(!json.contains("张三") && !json.contains("36.6"));
    assert!(!json.contains(&medical_id().to_string()), "{json}");
    assert!(!json.contains(&readings_id().to_string()), "{json}");
}
