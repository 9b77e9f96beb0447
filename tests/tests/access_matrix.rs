//! The access matrix (issue 3, DESIGN §4), through the real `/sync` endpoint of the real
//! binary: every role × document kind × read / write a field / create, allowed or denied.
//!
//! - **read**: a fresh peer of the user asks for the document (`want` + sync): content, or
//!   `doc-unavailable`.
//! - **write**: a fresh peer of the user holds a copy of the canonical document (as a phone
//!   that had it would), changes one field and syncs: merged (the server's heads include
//!   the change), refused (the `rejected` ephemeral message), or — for users who may not
//!   read the document — `doc-unavailable` without the change being looked at. Every
//!   denial is then checked from the outside: a fresh administrator's peer does not find
//!   the change in the canonical history, and (for documents only people write) sees the
//!   same content as before.
//! - **create**: a fresh peer creates a new document of that kind and syncs; a refused
//!   creation leaves nothing on the server (an administrator gets `doc-unavailable`).
//!
//! One server runs the whole table; every cell that disagrees is listed in the failure.
//!
//! An episode's check-ins are in its `readings` (DESIGN §9): the assigned volunteer and
//! the grid's medics read and write them; coordinators, admins and another grid's medic
//! are not even shown them.

use linli_shared::DocumentId;
use linli_tests::api;
use linli_tests::domain::{
    checkin, create, episode, household, local_date, medical_of, now_ms, put_old_medic_note, read, readings_of, task,
    write,
};
use linli_tests::outcome::{fetch, give_copy, push_change, wait_for_doc, Outcome};
use linli_tests::server::{ADMIN, ALICE, BOB, DAVE, ERIN, FRANK};
use linli_tests::{Community, TestPeer};
use serde_json::{json, Value};
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

/// A medic of `g2`, added by the administrator through the API before the table runs:
/// a medic reads readings of their own grids only.
const GINA: (&str, &str) = ("gina", "gina-password-1");

/// The roles, in the column order of [`MATRIX`].
const ROLES: [(&str, (&str, &str), &str); 7] = [
    ("admin", ADMIN, "g1"),
    ("coordinator", ALICE, "g1"),
    ("coordinator of g2", FRANK, "g2"),
    ("medic", DAVE, "g1"),
    ("volunteer (assigned)", BOB, "g1"),
    ("volunteer (not assigned)", ERIN, "g1"),
    ("medic of g2", GINA, "g2"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Household,
    Task,
    Episode,
    /// The episode's medical record (medics' notes; DESIGN §9).
    Medical,
    /// The episode's readings (its check-ins; DESIGN §9).
    Readings,
    GridIndex,
    /// g1's medic index (its episodes and the households with an open episode).
    MedicIndex,
    /// The inbox of the user acting.
    OwnInbox,
    /// The assigned volunteer's (bob's) inbox.
    BobsInbox,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edit {
    /// `notes` of a household (coordinators' field).
    Notes,
    /// `priority` of a task (coordinators' field).
    Priority,
    /// A note appended to a task's log (the assignee may).
    LogNote,
    /// The person of an episode (coordinators' field).
    Person,
    /// A check-in added to an episode's readings, each role in a slot of its own (the
    /// assignee and the grid's medics may).
    Checkin,
    /// The check-in the acting user added in the [`Edit::Checkin`] row, corrected (a medic
    /// may correct their own; a volunteer's stays as recorded).
    FixOwnCheckin,
    /// Someone else's check-in corrected (the medic's by the volunteer, the volunteer's by
    /// anyone else): nobody may.
    FixOthersCheckin,
    /// The readings' copy of the episode's check-ins a day (only the server writes it).
    ReadingsSlots,
    /// A medical note appended to a medical record (the grid's medics may).
    MedicNote,
    /// A note in the old shape (schema 1): `medic_notes` on the episode itself.
    OldMedicNote,
    /// The episode's link to its medical record (only the server sets it).
    MedicalLink,
    /// The episode's link to its readings (only the server sets it).
    ReadingsLink,
    /// A row added to a grid index or inbox (only the server writes them).
    Row,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NewDoc {
    Household,
    /// A household in the acting user's own grid (g2 for frank).
    HouseholdOwnGrid,
    Task,
    Episode,
    Medical,
    Readings,
    GridIndex,
    MedicIndex,
    Inbox,
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Read(Target),
    Write(Target, Edit),
    Create(NewDoc),
}

/// Expected outcome per role, in [`ROLES`] order: `A` allowed, `R` refused with the
/// `rejected` message, `H` hidden (`doc-unavailable`).
#[rustfmt::skip]
const MATRIX: &[(&str, Action, &str)] = &[
    //                                                                          admin coord g2co medic bob erin g2me
    ("read household",                Action::Read(Target::Household),                         "A A H A A H H"),
    ("read task",                     Action::Read(Target::Task),                              "A A H H A H H"),
    ("read episode",                  Action::Read(Target::Episode),                           "A A H A A H H"),
    ("read medical record",           Action::Read(Target::Medical),                           "H H H A H H H"),
    ("read readings",                 Action::Read(Target::Readings),                          "H H H A A H H"),
    ("read grid-index g1",            Action::Read(Target::GridIndex),                         "A A H H H H H"),
    ("read medic-index g1",           Action::Read(Target::MedicIndex),                        "A A H A H H H"),
    ("read own inbox",                Action::Read(Target::OwnInbox),                          "A A A A A A A"),
    ("read bob's inbox",              Action::Read(Target::BobsInbox),                         "A H H H A H H"),
    ("write household.notes",         Action::Write(Target::Household, Edit::Notes),           "A A H R R H H"),
    ("write task.priority",           Action::Write(Target::Task, Edit::Priority),             "A A H H R H H"),
    ("append task.log note",          Action::Write(Target::Task, Edit::LogNote),              "A A H H A H H"),
    ("write episode.person",          Action::Write(Target::Episode, Edit::Person),            "A A H R R H H"),
    ("add readings check-in",         Action::Write(Target::Readings, Edit::Checkin),          "H H H A A H H"),
    ("correct own check-in",          Action::Write(Target::Readings, Edit::FixOwnCheckin),    "H H H A R H H"),
    ("correct another's check-in",    Action::Write(Target::Readings, Edit::FixOthersCheckin), "H H H R R H H"),
    ("write readings.slots",          Action::Write(Target::Readings, Edit::ReadingsSlots),    "H H H R R H H"),
    ("append medical note",           Action::Write(Target::Medical, Edit::MedicNote),         "H H H A H H H"),
    ("append old-shape episode note", Action::Write(Target::Episode, Edit::OldMedicNote),      "R R H R R H H"),
    ("write episode.medical link",    Action::Write(Target::Episode, Edit::MedicalLink),       "R R H R R H H"),
    ("write episode.readings link",   Action::Write(Target::Episode, Edit::ReadingsLink),      "R R H R R H H"),
    ("write grid-index row",          Action::Write(Target::GridIndex, Edit::Row),             "R R H H H H H"),
    ("write medic-index row",         Action::Write(Target::MedicIndex, Edit::Row),            "R R H R H H H"),
    ("write own inbox row",           Action::Write(Target::OwnInbox, Edit::Row),              "R R R R R R R"),
    ("write bob's inbox row",         Action::Write(Target::BobsInbox, Edit::Row),             "R H H H R H H"),
    ("create household in g1",        Action::Create(NewDoc::Household),                       "A A R R R R R"),
    ("create household in own grid",  Action::Create(NewDoc::HouseholdOwnGrid),                "A A A R R R R"),
    ("create task in g1",             Action::Create(NewDoc::Task),                            "A A R R R R R"),
    ("create episode in g1",          Action::Create(NewDoc::Episode),                         "A A R R R R R"),
    ("create medical record in g1",   Action::Create(NewDoc::Medical),                         "R R R R R R R"),
    ("create readings in g1",         Action::Create(NewDoc::Readings),                        "R R R R R R R"),
    ("create grid-index",             Action::Create(NewDoc::GridIndex),                       "R R R R R R R"),
    ("create medic-index",            Action::Create(NewDoc::MedicIndex),                      "R R R R R R R"),
    ("create inbox",                  Action::Create(NewDoc::Inbox),                           "R R R R R R R"),
];

struct User {
    role: &'static str,
    grid: &'static str,
    token: String,
    id: String,
    inbox: DocumentId,
}

struct World {
    c: Community,
    users: Vec<User>,
    admin_url: String,
    household: DocumentId,
    task: DocumentId,
    episode: DocumentId,
    medical: DocumentId,
    readings: DocumentId,
    index: DocumentId,
    medic_index: DocumentId,
    bobs_inbox: DocumentId,
}

impl World {
    fn doc(&self, target: Target, user: &User) -> DocumentId {
        match target {
            Target::Household => self.household,
            Target::Task => self.task,
            Target::Episode => self.episode,
            Target::Medical => self.medical,
            Target::Readings => self.readings,
            Target::GridIndex => self.index,
            Target::MedicIndex => self.medic_index,
            Target::OwnInbox => user.inbox,
            Target::BobsInbox => self.bobs_inbox,
        }
    }

    fn url(&self, user: &User) -> String {
        self.c.server.ws_url(&user.token)
    }

    /// Who checks the canonical document from the outside: an administrator, except for
    /// medical records and readings, which administrators do not read (the grid's medics do).
    fn checker_url(&self, target: Target) -> String {
        match target {
            Target::Medical | Target::Readings => self.url(&self.users[3]),
            _ => self.admin_url.clone(),
        }
    }
}

/// A row for an index document, listing a made-up task.
fn fake_row() -> Value {
    json!({"kind": "task", "status": "assigned", "assignee": null, "priority": "urgent", "due": null,
           "alerts": 0, "household": null, "title": "made up"})
}

/// The slot of today's check-ins that `role` takes in the [`Edit::Checkin`] row.
fn slot_of(role: &str) -> u32 {
    match role {
        "medic" => 0,
        "volunteer (assigned)" => 1,
        "admin" => 2,
        _ => 3,
    }
}

/// The key of check-in `slot` on the readings' first day (today).
fn slot_key(readings: &Value, slot: u32) -> String {
    format!("{}/{slot}", readings["start"].as_str().expect("start"))
}

fn edit(value: &mut Value, e: Edit, user: &User) {
    match e {
        Edit::Notes => value["notes"] = json!(format!("notes by {}", user.role)),
        Edit::Priority => {
            value["priority"] = json!(if value["priority"] == "urgent" { "high" } else { "urgent" });
        }
        Edit::LogNote => {
            let status = value["status"].clone();
            value["log"].as_array_mut().expect("log").push(json!({
                "at": now_ms(), "by": user.id, "from": status, "to": status, "note": format!("note by {}", user.role),
            }));
        }
        Edit::Person => {
            let age = value["person"]["age"].as_u64().unwrap_or(0);
            value["person"]["age"] = json!(age + 1);
        }
        Edit::Checkin => {
            // Four check-ins a day: each role that may add one takes its own slot today.
            let key = slot_key(value, slot_of(user.role));
            value["checkins"][key] = checkin(36.6, &user.id, &format!("by {}", user.role));
        }
        Edit::FixOwnCheckin | Edit::FixOthersCheckin => {
            let slot = match (e, user.role) {
                (Edit::FixOwnCheckin, role) => slot_of(role),
                (_, "volunteer (assigned)") => slot_of("medic"),
                _ => slot_of("volunteer (assigned)"),
            };
            let key = slot_key(value, slot);
            let note = format!("corrected by {}", user.role);
            if value["checkins"][&key].is_object() {
                value["checkins"][&key]["temp_c"] = json!(37.1);
                value["checkins"][&key]["note"] = json!(note);
            } else {
                // The check-in row went wrong for this slot (reported there): add one, so
                // that this row still asks the server something.
                value["checkins"][key] = checkin(37.1, &user.id, &note);
            }
        }
        // A valid number (1 to 4), so that it is the rule that answers, not the schema.
        Edit::ReadingsSlots => value["slots"] = json!(if value["slots"] == 1 { 2 } else { 1 }),
        Edit::MedicNote => {
            value["notes"].as_array_mut().expect("notes").push(json!({
                "at": now_ms(), "by": user.id, "text": format!("note by {}", user.role),
            }));
        }
        Edit::OldMedicNote => unreachable!("written as raw operations: put_old_medic_note"),
        Edit::MedicalLink => value["medical"] = json!(DocumentId::random().to_string()),
        Edit::ReadingsLink => value["readings"] = json!(DocumentId::random().to_string()),
        Edit::Row => value["docs"][DocumentId::random().to_string()] = fake_row(),
    }
}

fn new_doc(kind: NewDoc, user: &User, w: &World) -> Value {
    match kind {
        NewDoc::Household => household("g1", "901"),
        NewDoc::HouseholdOwnGrid => household(user.grid, "902"),
        NewDoc::Task => task("g1", &w.household, Some(&w.users[4].id), &user.id),
        NewDoc::Episode => episode("g1", &w.household, Some(&w.users[4].id)),
        NewDoc::Medical => json!({"kind": "medical", "schema": 1, "grid": "g1", "episode": w.episode.to_string(),
                                  "household": w.household.to_string(), "notes": []}),
        NewDoc::Readings => json!({"kind": "readings", "schema": 1, "grid": "g1", "episode": w.episode.to_string(),
                                   "household": w.household.to_string(), "start": local_date(0),
                                   "end": local_date(13), "slots": 4, "assignee": w.users[4].id,
                                   "status": "active", "checkins": {}}),
        NewDoc::GridIndex => json!({"kind": "grid-index", "schema": 1, "grid": "g1", "docs": {}}),
        NewDoc::MedicIndex => json!({"kind": "medic-index", "schema": 1, "grid": "g1", "docs": {}}),
        NewDoc::Inbox => json!({"kind": "inbox", "schema": 1, "grid": user.grid, "user": user.id, "docs": {}}),
    }
}

/// Documents the server writes by itself: their content may move while a cell runs.
fn server_written(t: Target) -> bool {
    matches!(t, Target::GridIndex | Target::MedicIndex | Target::OwnInbox | Target::BobsInbox)
}

/// Runs one cell; returns the outcome letter, or a description of what went wrong.
async fn run_cell(w: &World, action: Action, user: &User) -> anyhow::Result<(char, String)> {
    match action {
        Action::Read(target) => {
            let id = w.doc(target, user);
            let mut f = fetch(&w.url(user), &id, T).await?;
            if !f.available() {
                return Ok(('H', String::new()));
            }
            let kind = f.value()["kind"].clone();
            let want = match target {
                Target::Household => "household",
                Target::Task => "task",
                Target::Episode => "episode",
                Target::Medical => "medical",
                Target::Readings => "readings",
                Target::GridIndex => "grid-index",
                Target::MedicIndex => "medic-index",
                Target::OwnInbox | Target::BobsInbox => "inbox",
            };
            anyhow::ensure!(kind == want, "read a document of kind {kind}, expected {want}");
            Ok(('A', String::new()))
        }
        Action::Write(target, e) => {
            let id = w.doc(target, user);
            let mut before = fetch(&w.checker_url(target), &id, T).await?;
            anyhow::ensure!(before.available(), "the checker cannot fetch {target:?}");
            let before_value = before.value();
            let mut peer = TestPeer::new("writer");
            peer.connect(&w.url(user)).await?;
            give_copy(&mut peer, id, before.doc.as_mut().expect("available"))?;
            if e == Edit::OldMedicNote {
                // Not a schema-2 document any more: written as raw operations.
                put_old_medic_note(peer.doc(&id), &user.id, &format!("note by {}", user.role));
            } else {
                let mut value = read(peer.doc(&id));
                edit(&mut value, e, user);
                write(peer.doc(&id), value);
            }
            let mine = peer.heads(&id);
            let outcome = push_change(&mut peer, &id, T).await?;
            let mut after = fetch(&w.checker_url(target), &id, T).await?;
            let merged = mine.iter().all(|h| after.has_change(h));
            let detail = match &outcome {
                Outcome::Rejected(r) => format!("rejected: {}", r.reason),
                _ => String::new(),
            };
            if outcome == Outcome::Accepted {
                anyhow::ensure!(merged, "acknowledged, but the canonical history lacks the change");
            } else {
                anyhow::ensure!(!merged && mine.iter().all(|h| !after.has_change(h)), "denied ({detail}), yet merged");
                if !server_written(target) {
                    anyhow::ensure!(after.value() == before_value, "denied ({detail}), yet the document changed");
                }
            }
            Ok((outcome.letter(), detail))
        }
        Action::Create(kind) => {
            let mut peer = TestPeer::new("creator");
            peer.connect(&w.url(user)).await?;
            let id = create(&mut peer, new_doc(kind, user, w));
            let outcome = push_change(&mut peer, &id, T).await?;
            let checker = match kind {
                NewDoc::Medical => Target::Medical,
                NewDoc::Readings => Target::Readings,
                _ => Target::Household,
            };
            let mut after = fetch(&w.checker_url(checker), &id, T).await?;
            let detail = match &outcome {
                Outcome::Rejected(r) => format!("rejected: {}", r.reason),
                _ => String::new(),
            };
            if outcome == Outcome::Accepted {
                anyhow::ensure!(after.available(), "acknowledged, but the administrator cannot fetch it");
                // Every change of the creator's is the server's; the server may have added its
                // own on top (an episode's link to its medical record).
                let mine = peer.heads(&id);
                anyhow::ensure!(
                    mine.iter().all(|h| after.has_change(h)),
                    "acknowledged, but the server lacks the creator's changes"
                );
            } else {
                anyhow::ensure!(!after.available(), "denied ({detail}), yet the server serves the document");
            }
            Ok((outcome.letter(), detail))
        }
    }
}

#[tokio::test]
async fn every_role_kind_and_operation_is_allowed_or_denied_as_designed() -> anyhow::Result<()> {
    let c = Community::start_with_admin(&["--index-flush-ms", "50", "--max-connections-per-user", "1000"]).await?;
    let admin_token = c.token(ADMIN).await?;
    let gina = json!({"username": GINA.0, "password": GINA.1, "role": "medic", "grids": ["g2"]});
    let added = api::post(&c.server, &admin_token, "/api/users", Some(&gina)).await?;
    anyhow::ensure!(added.status == 201, "adding the medic of g2: {} {}", added.status, added.body);
    let mut users = Vec::new();
    for (role, who, grid) in ROLES {
        let (token, id) = c.login_full(who).await?;
        let inbox = api::inbox_of(&c.server, &token).await?;
        users.push(User { role, grid, token, id, inbox });
    }
    let alice = &users[1];
    let bob_id = users[4].id.clone();

    // Alice sets the scene: a household, a task and an episode there, both bob's.
    let mut setup = TestPeer::new("alice");
    setup.connect(&c.server.ws_url(&alice.token)).await?;
    let household_id = create(&mut setup, household("g1", "501"));
    let task_id = create(&mut setup, task("g1", &household_id, Some(&bob_id), &alice.id));
    let mut ep = episode("g1", &household_id, Some(&bob_id));
    ep["slots"] = json!(4);
    let episode_id = create(&mut setup, ep);
    setup.sync_all(T).await?;
    let index = api::index_of(&c.server, &alice.token, "g1").await?;
    let medic_index = api::medic_index_of(&c.server, &users[3].token, "g1").await?;
    // Reads of the household by bob and the medic follow the server's projections: wait
    // until the server has taken in the task and episode (its grid index lists them).
    let (t, e) = (task_id.to_string(), episode_id.to_string());
    wait_for_doc(&c.server.ws_url(&alice.token), &index, T, |v| {
        v["docs"].get(&t).is_some() && v["docs"].get(&e).is_some()
    })
    .await?;

    // The server makes the episode's medical record and readings and links them; the
    // readings are bob's once the server has copied the episode's assignee into them.
    let mut medic = TestPeer::new("dave");
    medic.connect(&c.server.ws_url(&users[3].token)).await?;
    let medical = medical_of(&mut medic, &episode_id, T).await?;
    let readings = readings_of(&mut medic, &episode_id, T).await?;
    drop(medic);
    let mut bob = TestPeer::new("bob");
    bob.connect(&c.server.ws_url(&users[4].token)).await?;
    readings_of(&mut bob, &episode_id, T).await?;
    drop(bob);
    let admin_url = c.server.ws_url(&users[0].token);
    let bobs_inbox = users[4].inbox;
    let w = World {
        c,
        users,
        admin_url,
        household: household_id,
        task: task_id,
        episode: episode_id,
        medical,
        readings,
        index,
        medic_index,
        bobs_inbox,
    };

    let started = std::time::Instant::now();
    let mut failures = Vec::new();
    let mut cells = 0;
    for (name, action, expected) in MATRIX {
        let expected: Vec<char> = expected.split_whitespace().map(|s| s.chars().next().unwrap_or('?')).collect();
        assert_eq!(expected.len(), w.users.len(), "row {name} has a wrong number of columns");
        for (user, want) in w.users.iter().zip(expected) {
            cells += 1;
            match run_cell(&w, *action, user).await {
                Ok((got, _)) if got == want => {}
                Ok((got, detail)) => {
                    failures.push(format!("[{name} × {}]: expected {want}, got {got} {detail}", user.role))
                }
                Err(e) => failures.push(format!("[{name} × {}]: expected {want}, but: {e:#}", user.role)),
            }
        }
    }
    eprintln!("{cells} cells in {:?}", started.elapsed());
    assert!(
        failures.is_empty(),
        "{} of {cells} cells disagree with the access rules (A allowed, R rejected, H doc-unavailable):\n{}\n\nserver log tail:\n{}",
        failures.len(),
        failures.join("\n"),
        tail(&w.c.server.log(), 40)
    );
    Ok(())
}

fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
