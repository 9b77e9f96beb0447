//! Refused changes (issue 3, "Bad input" and "Tests"; DESIGN §4): a change that breaks a
//! field rule or the schema is refused with a reason naming the field, nothing of it is
//! merged, the quarantine keeps it (who, when, why), and the sender's other documents keep
//! syncing on the same connection.

use automerge::transaction::Transactable;
use automerge::ROOT;
use linli_shared::DocumentId;
use linli_tests::api;
use linli_tests::domain::{
    checkin, checkin_key, create, episode, household, local_date, local_date_at, now_ms, put_checkin, read,
    readings_of, set, task, write,
};
use linli_tests::outcome::{fetch, give_copy, push_change, sync_docs, wait_for_doc, Outcome};
use linli_tests::server::{ADMIN, ALICE, BOB, DAVE, ERIN};
use linli_tests::{Community, TestPeer};
use serde_json::{json, Value};
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn expect_rejected(outcome: &Outcome, field: &str, what: &str) -> String {
    match outcome {
        Outcome::Rejected(r) => {
            assert!(
                r.reason.contains(&format!("`{field}")),
                "{what}: the reason should name the field `{field}`, got: {}",
                r.reason
            );
            r.reason.clone()
        }
        other => panic!("{what}: expected a `rejected` message naming `{field}`, got {other:?}"),
    }
}

/// Pumps `peer` until `ready` holds for its copy of `id` (changes the server sends on its own).
async fn until_local(
    peer: &mut TestPeer,
    id: &DocumentId,
    what: &str,
    mut ready: impl FnMut(&Value) -> bool,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + T;
    loop {
        if let Some(v) =
            peer.docs.get_mut(id).and_then(|d| linli_shared::domain::DomainDoc::hydrate_from(&d.doc).ok().flatten())
        {
            if ready(&serde_json::to_value(v)?) {
                return Ok(());
            }
        }
        anyhow::ensure!(tokio::time::Instant::now() < deadline, "{what}: not seen within {T:?}");
        peer.push().await?;
        peer.pump_one(Duration::from_millis(100)).await?;
    }
}

#[tokio::test]
async fn a_volunteers_refused_changes_leave_the_canonical_documents_unchanged_and_the_rest_keeps_syncing(
) -> anyhow::Result<()> {
    let c = Community::start_with_admin(&["--index-flush-ms", "50"]).await?;
    let (ta, alice_id) = c.login_full(ALICE).await?;
    let (tb, bob_id) = c.login_full(BOB).await?;
    let (te, erin_id) = c.login_full(ERIN).await?;
    let (tadmin, _) = c.login_full(ADMIN).await?;
    let (td, _) = c.login_full(DAVE).await?;
    let (alice_url, admin_url) = (c.server.ws_url(&ta), c.server.ws_url(&tadmin));
    // The readings are checked from the outside by the grid's medic: nobody else who is
    // not on them reads them.
    let dave_url = c.server.ws_url(&td);

    // Alice: a household, two tasks for bob, and an episode whose check-ins erin does first.
    let mut alice = TestPeer::new("alice");
    alice.connect(&alice_url).await?;
    let h = create(&mut alice, household("g1", "301"));
    let t1 = create(&mut alice, task("g1", &h, Some(&bob_id), &alice_id));
    let t2 = create(&mut alice, task("g1", &h, Some(&bob_id), &alice_id));
    let e = create(&mut alice, episode("g1", &h, Some(&erin_id)));
    alice.sync_all(T).await?;
    // The server links the episode's medical record and readings: changes of its own,
    // made once.
    wait_for_doc(&alice_url, &e, T, |v| v["medical"].is_string() && v["readings"].is_string()).await?;

    // Erin takes today's check-in (in the readings), then alice hands the episode over to bob.
    let key = checkin_key(0, 0);
    let mut erin = TestPeer::new("erin");
    erin.connect(&c.server.ws_url(&te)).await?;
    erin.want(e);
    erin.sync_all(T).await?;
    let r = readings_of(&mut erin, &e, T).await?;
    put_checkin(&mut erin, &r, &key, checkin(37.0, &erin_id, "erin's visit"));
    assert_eq!(push_change(&mut erin, &r, T).await?, Outcome::Accepted, "erin's own check-in");
    alice.sync_all(T).await?;
    set(&mut alice, &e, "assignee", json!(bob_id));
    alice.sync_all(T).await?;

    let index = api::index_of(&c.server, &ta, "g1").await?;
    let inbox = api::inbox_of(&c.server, &tb).await?;
    let (s1, s2, se, sr) = (t1.to_string(), t2.to_string(), e.to_string(), r.to_string());
    // Bob's inbox lists the readings once the server has made them his (its copy of the
    // episode's assignee).
    wait_for_doc(&c.server.ws_url(&tb), &inbox, T, |v| {
        [&s1, &s2, &se, &sr].iter().all(|id| v["docs"].get(id.as_str()).is_some())
    })
    .await?;

    // Bob's phone: one connection, his two tasks, the episode and its readings, his
    // inbox, and a copy of the grid index that came to it somehow.
    let mut bob = TestPeer::new("bob");
    bob.connect(&c.server.ws_url(&tb)).await?;
    for id in [t1, t2, e, r, inbox] {
        bob.want(id);
    }
    bob.sync_all(T).await?;
    let mut index_copy = fetch(&alice_url, &index, T).await?;
    give_copy(&mut bob, index, index_copy.doc.as_mut().expect("alice reads the index"))?;
    let mut before_t1 = fetch(&alice_url, &t1, T).await?;
    let mut before_r = fetch(&dave_url, &r, T).await?;

    // The four refused edits, all on this one connection.
    set(&mut bob, &t1, "assignee", json!(erin_id));
    let mut readings = read(bob.doc(&r));
    readings["checkins"][&key]["temp_c"] = json!(36.2);
    write(bob.doc(&r), readings);
    let fake = DocumentId::random().to_string();
    for id in [index, inbox] {
        let mut v = read(bob.doc(&id));
        v["docs"][&fake] = json!({"kind": "task", "status": "assigned", "assignee": bob_id, "priority": "urgent",
                                  "due": null, "alerts": 0, "household": null, "title": "made up"});
        write(bob.doc(&id), v);
    }
    let (bt1, br, bindex, binbox) = (bob.heads(&t1), bob.heads(&r), bob.heads(&index), bob.heads(&inbox));

    let o = push_change(&mut bob, &t1, T).await?;
    expect_rejected(&o, "assignee", "bob reassigning his task to erin");
    let o = push_change(&mut bob, &r, T).await?;
    expect_rejected(&o, &format!("checkins.{key}"), "bob changing erin's check-in");
    let o = push_change(&mut bob, &inbox, T).await?;
    assert!(matches!(o, Outcome::Rejected(_)), "bob writing his own inbox: {o:?}");
    // Bob may not even read the grid index: his change is never looked at.
    let o = push_change(&mut bob, &index, T).await?;
    assert_eq!(o, Outcome::Unavailable, "bob writing the grid index");

    // The canonical documents are as they were.
    let mut after_t1 = fetch(&alice_url, &t1, T).await?;
    assert_eq!(after_t1.heads(), before_t1.heads(), "task heads moved");
    assert_eq!(after_t1.value(), before_t1.value());
    assert_eq!(after_t1.value()["assignee"], json!(bob_id));
    let mut after_r = fetch(&dave_url, &r, T).await?;
    assert_eq!(after_r.heads(), before_r.heads(), "readings heads moved");
    assert_eq!(after_r.value()["checkins"][&key]["temp_c"], json!(37.0));
    let mut after_index = fetch(&alice_url, &index, T).await?;
    assert!(after_index.value()["docs"].get(&fake).is_none(), "the made-up row reached the grid index");
    let mut after_inbox = fetch(&admin_url, &inbox, T).await?;
    assert!(after_inbox.value()["docs"].get(&fake).is_none(), "the made-up row reached bob's inbox");
    for (heads, f, what) in [
        (&bt1, &mut after_t1, "task"),
        (&br, &mut after_r, "readings"),
        (&bindex, &mut after_index, "grid index"),
        (&binbox, &mut after_inbox, "inbox"),
    ] {
        assert!(heads.iter().all(|h| !f.has_change(h)), "bob's refused change to the {what} was merged");
    }

    // Bob's valid work keeps syncing on the same connection: he accepts his other task…
    let mut v2 = read(bob.doc(&t2));
    v2["status"] = json!("accepted");
    v2["log"] = json!([{"at": now_ms(), "by": bob_id, "from": "assigned", "to": "accepted", "note": ""}]);
    write(bob.doc(&t2), v2);
    assert_eq!(push_change(&mut bob, &t2, T).await?, Outcome::Accepted, "bob accepting his other task");
    sync_docs(&mut bob, &[t2], T).await?;
    let mut canon_t2 = fetch(&alice_url, &t2, T).await?;
    assert_eq!(canon_t2.value()["status"], "accepted");
    // …alice's change to it reaches him…
    alice.sync_all(T).await?;
    set(&mut alice, &t2, "priority", json!("urgent"));
    alice.sync_all(T).await?;
    until_local(&mut bob, &t2, "alice's new priority on bob's phone", |v| v["priority"] == "urgent").await?;
    // …and the server's update of his inbox too, though his own edit of it was refused.
    until_local(&mut bob, &inbox, "the accepted status in bob's inbox", |v| v["docs"][&s2]["status"] == "accepted")
        .await?;
    assert!(bob.is_connected(), "bob's connection was closed");
    Ok(())
}

/// How a bad change is made on a copy of the document.
enum Bad {
    /// A top-level field set to a raw scalar (wrong type, unknown enum string).
    Raw(&'static str, automerge::ScalarValue),
    /// An edit of the document's JSON form.
    Json(Box<dyn Fn(&mut Value)>),
}

struct Case {
    name: &'static str,
    /// Who sends it: "alice" (coordinator) or "bob" (the assigned volunteer).
    by: &'static str,
    doc: DocumentId,
    bad: Bad,
    /// The field the reason must name.
    field: String,
}

#[tokio::test]
async fn schema_breaking_changes_are_refused_naming_the_field_and_quarantined() -> anyhow::Result<()> {
    let c = Community::start_with_admin(&["--index-flush-ms", "50"]).await?;
    let (ta, alice_id) = c.login_full(ALICE).await?;
    let (tb, bob_id) = c.login_full(BOB).await?;
    let (tadmin, _) = c.login_full(ADMIN).await?;
    let (td, _) = c.login_full(DAVE).await?;
    let (alice_url, dave_url) = (c.server.ws_url(&ta), c.server.ws_url(&td));

    let mut alice = TestPeer::new("alice");
    alice.connect(&alice_url).await?;
    let h = create(&mut alice, household("g1", "302"));
    let t = create(&mut alice, task("g1", &h, Some(&bob_id), &alice_id));
    let cancelled = create(&mut alice, task("g1", &h, None, &alice_id));
    let e = create(&mut alice, episode("g1", &h, Some(&bob_id)));
    alice.sync_all(T).await?;
    // The server's own changes to the episode (its medical and readings links) are in
    // before the cases; the check-ins go in the readings.
    wait_for_doc(&alice_url, &e, T, |v| v["medical"].is_string() && v["readings"].is_string()).await?;
    let mut bob = TestPeer::new("bob");
    bob.connect(&c.server.ws_url(&tb)).await?;
    let r = readings_of(&mut bob, &e, T).await?;
    drop(bob);
    set(&mut alice, &cancelled, "status", json!("cancelled"));
    alice.sync_all(T).await?;
    let start = now_ms();
    // Who fetches the canonical document before and after: alice, but for the readings,
    // which a coordinator does not read (the grid's medic does).
    let checker = |doc: &DocumentId| if *doc == r { dave_url.clone() } else { alice_url.clone() };

    let today = checkin_key(0, 0);
    let before_start = format!("{}/0", local_date(-1));
    let after_end = format!("{}/0", local_date(14));
    let long = |n: usize| "长".repeat(n);
    let bob_checkin = {
        let bob_id = bob_id.clone();
        move |key: String, temp: f64, note: String| -> Box<dyn Fn(&mut Value)> {
            let bob_id = bob_id.clone();
            Box::new(move |v: &mut Value| v["checkins"][&key] = checkin(temp, &bob_id, &note))
        }
    };
    let cases = vec![
        Case {
            name: "wrong type: task priority as a number",
            by: "alice",
            doc: t,
            bad: Bad::Raw("priority", automerge::ScalarValue::Int(5)),
            field: "priority".into(),
        },
        Case {
            name: "wrong type: household members as a string",
            by: "alice",
            doc: h,
            bad: Bad::Raw("members", automerge::ScalarValue::Str("nobody".into())),
            field: "members".into(),
        },
        Case {
            name: "unknown task status",
            by: "alice",
            doc: t,
            bad: Bad::Raw("status", automerge::ScalarValue::Str("teleported".into())),
            field: "status".into(),
        },
        Case {
            name: "status jump off the graph by the volunteer: assigned → confirmed",
            by: "bob",
            doc: t,
            bad: Bad::Json(Box::new(|v| v["status"] = json!("confirmed"))),
            field: "status".into(),
        },
        Case {
            name: "status jump off the graph by the coordinator: cancelled → new",
            by: "alice",
            doc: cancelled,
            bad: Bad::Json(Box::new(|v| v["status"] = json!("new"))),
            field: "status".into(),
        },
        Case {
            name: "temperature above 43 °C",
            by: "bob",
            doc: r,
            bad: Bad::Json(bob_checkin(today.clone(), 45.0, String::new())),
            field: format!("checkins.{today}.temp_c"),
        },
        Case {
            name: "temperature below 34 °C",
            by: "bob",
            doc: r,
            bad: Bad::Json(bob_checkin(today.clone(), 33.9, String::new())),
            field: format!("checkins.{today}.temp_c"),
        },
        Case {
            name: "check-in for the day before the episode",
            by: "bob",
            doc: r,
            bad: Bad::Json(bob_checkin(before_start.clone(), 36.5, String::new())),
            field: format!("checkins.{before_start}"),
        },
        Case {
            name: "check-in for the day after the episode",
            by: "bob",
            doc: r,
            bad: Bad::Json(bob_checkin(after_end.clone(), 36.5, String::new())),
            field: format!("checkins.{after_end}"),
        },
        Case {
            name: "oversized check-in note (2,001 characters)",
            by: "bob",
            doc: r,
            bad: Bad::Json(bob_checkin(today.clone(), 36.5, long(2001))),
            field: format!("checkins.{today}.note"),
        },
        Case {
            name: "the volunteer changing the readings' copy of the episode (its slots)",
            by: "bob",
            doc: r,
            bad: Bad::Json(Box::new(|v| v["slots"] = json!(3))),
            field: "slots".into(),
        },
        Case {
            name: "oversized household notes (2,001 characters)",
            by: "alice",
            doc: h,
            bad: Bad::Json(Box::new(move |v| v["notes"] = json!(long(2001)))),
            field: "notes".into(),
        },
        Case {
            name: "oversized room (101 characters)",
            by: "alice",
            doc: h,
            bad: Bad::Json(Box::new(move |v| v["room"] = json!(long(101)))),
            field: "room".into(),
        },
        Case {
            name: "oversized item list (201 items)",
            by: "alice",
            doc: t,
            bad: Bad::Json(Box::new(|v| {
                v["items"] = json!((0..201)
                    .map(|i| json!({"name": format!("item {i}"), "qty": 1, "unit": ""}))
                    .collect::<Vec<_>>());
            })),
            field: "items".into(),
        },
        Case {
            name: "oversized member list (201 members)",
            by: "alice",
            doc: h,
            bad: Bad::Json(Box::new(|v| {
                v["members"] = json!((0..201)
                    .map(|i| json!({"name": format!("m{i}"), "age": 30, "flags": [], "medicines": []}))
                    .collect::<Vec<_>>());
            })),
            field: "members".into(),
        },
        Case {
            name: "a field the schema does not have",
            by: "alice",
            doc: h,
            bad: Bad::Raw("id_card_number", automerge::ScalarValue::Str("110101199003077777".into())),
            field: "id_card_number".into(),
        },
    ];

    let mut refused: Vec<(&str, DocumentId, Vec<String>, String)> = Vec::new();
    let mut failures = Vec::new();
    for case in &cases {
        let (token, user_id) = if case.by == "alice" { (&ta, &alice_id) } else { (&tb, &bob_id) };
        let mut before = fetch(&checker(&case.doc), &case.doc, T).await?;
        let before_value = before.value();
        let mut peer = TestPeer::new(case.by);
        peer.connect(&c.server.ws_url(token)).await?;
        give_copy(&mut peer, case.doc, before.doc.as_mut().expect("the checker reads it"))?;
        match &case.bad {
            Bad::Raw(field, v) => {
                peer.doc(&case.doc).put(ROOT, *field, v.clone())?;
                peer.doc(&case.doc).commit();
            }
            Bad::Json(f) => {
                let mut v = read(peer.doc(&case.doc));
                f(&mut v);
                write(peer.doc(&case.doc), v);
            }
        }
        let mine: Vec<String> = peer.heads(&case.doc).iter().map(ToString::to_string).collect();
        let outcome = push_change(&mut peer, &case.doc, T).await?;
        let mut after = fetch(&checker(&case.doc), &case.doc, T).await?;
        let unchanged = after.heads() == before.heads() && after.value() == before_value;
        match outcome {
            Outcome::Rejected(r) if r.reason.contains(&format!("`{}`", case.field)) && unchanged => {
                eprintln!("refused as expected: {}: {}", case.name, r.reason);
                refused.push((case.name, case.doc, mine, user_id.clone()));
            }
            Outcome::Rejected(r) if !unchanged => {
                failures.push(format!("{}: rejected ({}) yet the canonical document changed", case.name, r.reason))
            }
            Outcome::Rejected(r) => {
                failures.push(format!("{}: the reason should name `{}`, got: {}", case.name, case.field, r.reason))
            }
            other => {
                failures.push(format!("{}: expected a rejection naming `{}`, got {other:?}", case.name, case.field))
            }
        }
    }
    assert!(failures.is_empty(), "{}\n\nserver log:\n{}", failures.join("\n"), tail(&c.server.log(), 30));

    // The quarantine keeps every refused batch: who, when, why, and the raw changes.
    let entries = api::quarantine(&c.server, &tadmin).await?;
    let now = now_ms();
    for (name, doc, hashes, user) in &refused {
        let case = cases.iter().find(|c| c.name == *name).expect("case");
        let entry = entries
            .iter()
            .find(|q| {
                q["doc"] == doc.to_string()
                    && q["hashes"].as_array().is_some_and(|hs| hs.iter().any(|h| hashes.iter().any(|m| h == m)))
            })
            .unwrap_or_else(|| panic!("{name}: not in the quarantine: {entries:#?}"));
        assert_eq!(entry["user"], json!(user), "{name}: who");
        let at = entry["at"].as_i64().unwrap_or(0);
        assert!(at >= start && at <= now, "{name}: when ({at} not in {start}..={now})");
        let reason = entry["reason"].as_str().unwrap_or("");
        assert!(reason.contains(&format!("`{}`", case.field)), "{name}: why: {reason}");
        assert!(!entry["code"].as_str().unwrap_or("").is_empty(), "{name}: no code");
        assert!(
            entry["changes"]
                .as_array()
                .is_some_and(|c| !c.is_empty() && c.iter().all(|x| x.as_str().is_some_and(|s| !s.is_empty()))),
            "{name}: the raw changes are not kept: {entry}"
        );
    }
    // Only admins review the quarantine.
    assert_eq!(api::get(&c.server, &ta, "/api/quarantine").await?.status, 403);
    assert_eq!(api::get(&c.server, &tb, "/api/quarantine").await?.status, 403);
    Ok(())
}

/// Check-in dates are the community's local dates, in the time zone the server is
/// configured with (`--utc-offset-minutes`): a check-in for the community's today,
/// taken now, is accepted; one for tomorrow, taken now, is early and refused.
#[tokio::test]
async fn checkin_days_follow_the_configured_time_zone() -> anyhow::Result<()> {
    // An offset whose local date differs from UTC+8's right now.
    let offset = if local_date_at(-720, 0) != local_date_at(480, 0) { -720 } else { 840 };
    assert_ne!(local_date_at(offset, 0), local_date_at(480, 0));
    let c = Community::start(&["--utc-offset-minutes", &offset.to_string()]).await?;
    let (ta, alice_id) = c.login_full(ALICE).await?;
    let (tb, bob_id) = c.login_full(BOB).await?;
    let mut alice = TestPeer::new("alice");
    alice.connect(&c.server.ws_url(&ta)).await?;
    let h = create(&mut alice, household("g1", "303"));
    let mut ep = episode("g1", &h, Some(&bob_id));
    ep["start"] = json!(local_date_at(offset, 0));
    ep["end"] = json!(local_date_at(offset, 13));
    let e = create(&mut alice, ep);
    alice.sync_all(T).await?;
    let _ = alice_id;

    let today = format!("{}/0", local_date_at(offset, 0));
    let tomorrow = format!("{}/0", local_date_at(offset, 1));
    let mut failures = Vec::new();
    for (key, want_accepted) in [(tomorrow, false), (today, true)] {
        let mut bob = TestPeer::new("bob");
        bob.connect(&c.server.ws_url(&tb)).await?;
        bob.want(e);
        bob.sync_all(T).await?;
        let r = readings_of(&mut bob, &e, T).await?;
        put_checkin(&mut bob, &r, &key, checkin(36.5, &bob_id, ""));
        let o = push_change(&mut bob, &r, T).await?;
        if (o == Outcome::Accepted) != want_accepted {
            failures.push(format!(
                "check-in {key} taken now at UTC{:+}h: expected {}, got {o:?}",
                offset / 60,
                if want_accepted { "accepted" } else { "refused" }
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}
