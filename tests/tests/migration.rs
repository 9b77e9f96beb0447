//! A store written by the schema-1 release, and one written by the schema-2 release (the
//! one before the readings split, `store-schema2.backup`), open in this one, are migrated
//! once, and keep every datum (issue 11, DESIGN §9; docs/need-to-know.md). What follows is
//! the schema-1 test; the schema-2 one does the same on its store, with an offline check-in
//! of that release's app.
//!
//! The store is `tests/fixtures/store-schema1.backup`, made by that release's own binary
//! from its demo community (see tests/fixtures/README.md). Its demo wrote no medical notes,
//! so before restoring it the test appends, to two of its episodes, the change a medic of
//! that release made to add one (`medic_notes` on the episode, by the medic's own actor):
//! the backup format is plain records, rewritten with its checksum.
//!
//! Then, with this tree's binary: restore, serve (the migration runs before the server
//! listens), stop, back up again, and compare document by document: households and tasks
//! unchanged; every episode brought to schema 3 (through 2) with its history kept,
//! `medic_notes` gone and its notes in the linked `medical` record, `checkins` gone and
//! its check-ins in the linked `readings`; the record readable by the grid's medic and by
//! no one else, the readings by the medic and the episode's volunteer and not by the
//! coordinator; a check-in made offline on the old shape, in the old `checkins` map,
//! carried over into the readings; a second start migrates nothing.

use automerge::{AutoCommit, Automerge, ChangeHash, ReadDoc};
use linli_shared::DocumentId;
use linli_tests::backup::{backup_entries, parse_backup, write_backup};
use linli_tests::domain::{acknowledged, checkin, checkin_key, login, read, sync_until};
use linli_tests::outcome::{push_change, Outcome};
use linli_tests::peer::PeerDoc;
use linli_tests::server::linli_cli;
use linli_tests::{ServerProcess, TestPeer};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const T: Duration = Duration::from_secs(30);
const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/store-schema1.backup");
/// A store written by the release before the readings split (schema 2: medical notes in
/// records of their own, check-ins still in the episodes), made the same way.
const FIXTURE_2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/store-schema2.backup");
/// The instant the fixture was made at: the server's clock stands there, so that nothing
/// (retention, the end of an episode) moves but the migration.
const CLOCK: &str = "2026-03-16T10:00:00+08:00";
const MEDIC: (&str, &str) = ("zhao.medic", "demo-medic-2026");
const COORD: (&str, &str) = ("wang.coord", "demo-coord-2026");
const VOLUNTEER_PASSWORD: &str = "demo-vol-2026";
const NOTES: [&str; 2] = ["建议明日复查血常规", "已电话随访，情况稳定"];

/// The documents of a backup, each loaded from all its chunks.
fn documents(backup: &[u8]) -> BTreeMap<DocumentId, Automerge> {
    let mut docs: BTreeMap<DocumentId, Automerge> = BTreeMap::new();
    for (tree, key, bytes) in backup_entries(backup).expect("a readable backup") {
        if tree != "docs" {
            continue;
        }
        // doc/<id>/<c|s>/<hash>
        let key = String::from_utf8(key).expect("utf-8 key");
        let id: DocumentId = key.split('/').nth(1).expect("doc/<id>/…").parse().expect("a document id");
        docs.entry(id).or_default().load_incremental(&bytes).expect("a loadable chunk");
    }
    docs
}

/// A document's current value as JSON, whatever its schema (Text as strings).
fn json_of(doc: &Automerge) -> Value {
    serde_json::to_value(automerge::AutoSerde::from(doc)).expect("json")
}

/// The users of a backup (its `U` records).
fn users(backup: &[u8]) -> Vec<Value> {
    parse_backup(backup)
        .into_iter()
        .filter(|(tag, _)| *tag == b'U')
        .map(|(_, payload)| serde_json::from_slice(&payload).expect("a user record"))
        .collect()
}

/// The fixture, with a note by `medic` (as that release's medics wrote them) on each of the
/// first two episodes that have check-ins. Returns the backup and those episodes.
fn fixture_with_notes(medic: &str) -> (Vec<u8>, Vec<DocumentId>) {
    let bytes = std::fs::read(FIXTURE).expect("the fixture");
    let docs = documents(&bytes);
    let noted: Vec<DocumentId> = docs
        .iter()
        .filter(|(_, d)| {
            let v = json_of(d);
            v["kind"] == "episode" && v["schema"] == 1 && v["checkins"].as_object().is_some_and(|c| !c.is_empty())
        })
        .map(|(id, _)| *id)
        .take(NOTES.len())
        .collect();
    assert_eq!(noted.len(), NOTES.len(), "the fixture has episodes with check-ins");
    let mut records = parse_backup(&bytes);
    let at = records.iter().rposition(|(tag, _)| *tag == b'C').expect("chunk records");
    for (i, (id, text)) in noted.iter().zip(NOTES).enumerate() {
        let mut doc = AutoCommit::load(&docs[id].save())
            .expect("load")
            .with_actor(automerge::ActorId::from(format!("release-1-medic-{i}").into_bytes()));
        let before = doc.get_heads();
        let list = match doc.get(automerge::ROOT, "medic_notes").expect("read") {
            Some((automerge::Value::Object(automerge::ObjType::List), list)) => list,
            other => panic!("{id}: medic_notes is {other:?}"),
        };
        use automerge::transaction::Transactable;
        let note = doc.insert_object(&list, 0, automerge::ObjType::Map).expect("insert");
        doc.put(&note, "at", 1_773_620_000_000_i64 + i as i64).expect("at");
        doc.put(&note, "by", medic).expect("by");
        let t = doc.put_object(&note, "text", automerge::ObjType::Text).expect("text");
        doc.splice_text(&t, 0, 0, text).expect("text");
        doc.commit();
        let chunk = doc.save_after(&before);
        // A chunk record: <len><key><len><bytes>, the key content-addressed as the store does.
        let hash = linli_tests::backup::sha256(&chunk);
        let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
        let key = format!("doc/{id}/c/{hex}");
        let mut payload = Vec::new();
        for part in [key.as_bytes(), &chunk] {
            payload.extend_from_slice(&(part.len() as u32).to_le_bytes());
            payload.extend_from_slice(part);
        }
        records.insert(at + 1, (b'C', payload));
    }
    (write_backup(&records), noted)
}

fn restore(dir: &Path, backup: &[u8]) -> std::path::PathBuf {
    let file = dir.join("schema1.backup");
    std::fs::write(&file, backup).expect("write the backup");
    let data = dir.join("data");
    linli_cli(&data, &["restore", file.to_str().expect("utf-8")], "").expect("linli restore");
    data
}

fn backup_of(dir: &Path, data: &Path, name: &str) -> Vec<u8> {
    let file = dir.join(name);
    linli_cli(data, &["backup", file.to_str().expect("utf-8")], "").expect("linli backup");
    std::fs::read(file).expect("the backup")
}

fn sorted(mut heads: Vec<ChangeHash>) -> Vec<ChangeHash> {
    heads.sort();
    heads
}

#[tokio::test]
async fn a_schema_1_store_is_migrated_once_and_keeps_every_datum() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let fixture = std::fs::read(FIXTURE)?;
    let medic_id = users(&fixture)
        .into_iter()
        .find(|u| u["username"] == MEDIC.0)
        .and_then(|u| u["id"].as_str().map(str::to_owned))
        .expect("the demo's medic in the fixture");
    let (backup, noted) = fixture_with_notes(&medic_id);
    let before = documents(&backup);
    let data = restore(dir.path(), &backup);

    // ---- the first start migrates, before it listens --------------------------------------
    let mut server = ServerProcess::start(&data, 0, &["--test-clock", CLOCK]).await?;
    // The grid's medic reads a migrated episode's record; its coordinator gets none.
    let (medic_token, _) = login(&server, MEDIC).await?;
    let mut medic = TestPeer::new("medic");
    medic.connect(&server.ws_url(&medic_token)).await?;
    let episode = sync_until(&mut medic, &noted[0], T, |v| v["schema"] == 3).await?;
    let record: DocumentId = episode["medical"].as_str().expect("linked").parse()?;
    let seen = sync_until(&mut medic, &record, T, |v| v["kind"] == "medical").await?;
    assert_eq!(seen["notes"][0]["text"], NOTES[0], "the medic reads the note where it moved");
    let readings: DocumentId = episode["readings"].as_str().expect("linked").parse()?;
    let seen = sync_until(&mut medic, &readings, T, |v| v["kind"] == "readings").await?;
    let old_checkins = json_of(&before[&noted[0]])["checkins"].clone();
    assert_eq!(seen["checkins"], old_checkins, "the medic reads the check-ins where they moved");
    let (coord_token, _) = login(&server, COORD).await?;
    let mut coord = TestPeer::new("coord");
    coord.connect(&server.ws_url(&coord_token)).await?;
    coord.want(record);
    coord.sync_all(T).await?;
    assert!(coord.docs[&record].unavailable, "the coordinator is refused the medical record");
    assert!(coord.heads(&record).is_empty(), "and receives nothing of it");
    coord.want(readings);
    coord.sync_all(T).await?;
    assert!(coord.docs[&readings].unavailable, "the coordinator is refused the readings");
    assert!(coord.heads(&readings).is_empty(), "and receives nothing of them");

    // An old app's check-in, made offline on a schema-1 episode, arrives after the upgrade.
    let (offline, username, slot) = offline_case(&before, &fixture);
    let (vol_token, vol_id) = login(&server, (&username, VOLUNTEER_PASSWORD)).await?;
    let mut phone = phone_holding("old-phone", &before[&offline], offline)?;
    put_checkin_raw(&mut phone, &offline, &slot, checkin(37.9, &vol_id, "离线打卡"));
    phone.connect(&server.ws_url(&vol_token)).await?;
    // The phone's copy takes the migration: schema 3, no check-ins in the episode; its
    // check-in went into the old map, which the server carries over into the readings.
    let merged = sync_until(&mut phone, &offline, T, |v| v["schema"] == 3 && v["readings"].is_string()).await?;
    assert!(merged.get("checkins").is_none(), "no check-ins in the migrated episode: {merged}");
    phone.sync_all(T).await?;
    assert!(acknowledged(&mut phone, &offline), "the server took the old phone's change");
    let offline_readings: DocumentId = merged["readings"].as_str().expect("linked").parse()?;
    let carried = sync_until(&mut phone, &offline_readings, T, |v| v["checkins"].get(&slot).is_some()).await?;
    assert_eq!(carried["checkins"][&slot]["temp_c"], 37.9, "the old phone's check-in is in the readings");
    assert_eq!(carried["checkins"][&slot]["by"], vol_id.as_str(), "as the volunteer's");
    server.kill9().await?;

    // ---- document by document ------------------------------------------------------------
    let after_bytes = backup_of(dir.path(), &data, "after.backup");
    let after = documents(&after_bytes);
    let (mut episodes, mut others, mut addressed_lists) = (0, 0, 0);
    for (id, old_doc) in &before {
        let old = json_of(old_doc);
        let new_doc = after.get(id).unwrap_or_else(|| panic!("{id} ({}) is gone", old["kind"]));
        let new = json_of(new_doc);
        let list = matches!(old["kind"].as_str(), Some("inbox" | "medic-index"));
        // Every change of before is still in the history (but a list's: rebuilt).
        for h in old_doc.get_heads().iter().filter(|_| !list) {
            assert!(new_doc.get_change_by_hash(h).is_some(), "{id} lost change {h}");
        }
        match old["kind"].as_str() {
            Some("inbox" | "medic-index") => {
                // Rebuilt without the addresses its rows had: in no state of its history.
                let titled = |v: &Value| {
                    v["docs"].as_object().is_some_and(|r| {
                        r.values().any(|r| {
                            r["title"]
                                .as_str()
                                .is_some_and(|t| t.contains(' ') || (r["kind"] == "household" && !t.is_empty()))
                        })
                    })
                };
                addressed_lists += usize::from(titled(&old));
                for change in new_doc.get_changes(&[]) {
                    let state = json_of(&new_doc.fork_at(&[change.hash()])?);
                    assert!(!titled(&state), "{id}: an address in its history: {state}");
                }
                let rebuilt = !old_doc.get_heads().iter().any(|h| new_doc.get_change_by_hash(h).is_some());
                assert_eq!(rebuilt, titled(&old), "{id}: rebuilt exactly when it had addresses");
                // The same rows, but titles.
                let rows = |v: &Value| v["docs"].as_object().map(|r| r.keys().cloned().collect::<Vec<_>>());
                assert!(rows(&old).into_iter().flatten().all(|r| new["docs"].get(&r).is_some()), "{id} lost a row");
            }
            Some("household" | "task") => {
                others += 1;
                assert_eq!(new, old, "{id} changed");
            }
            Some("episode") => {
                episodes += 1;
                let record: DocumentId = new["medical"].as_str().unwrap_or_else(|| panic!("{id}: no link")).parse()?;
                let linked: DocumentId =
                    new["readings"].as_str().unwrap_or_else(|| panic!("{id}: no readings")).parse()?;
                let mut want = old.clone();
                let notes = want.as_object_mut().expect("map").remove("medic_notes").expect("schema 1 had notes");
                let checkins = want.as_object_mut().expect("map").remove("checkins").expect("schema 1 had them");
                want["schema"] = json!(3);
                want["medical"] = json!(record.to_string());
                want["readings"] = json!(linked.to_string());
                assert_eq!(new, want, "{id}: the episode keeps every datum but its notes and check-ins");
                assert_readings(id, &old, new_doc, &after, checkins, (*id == offline).then_some(slot.as_str()));
                let rec = json_of(after.get(&record).unwrap_or_else(|| panic!("{id}: no record {record}")));
                assert_eq!(
                    rec,
                    json!({"kind": "medical", "schema": 1, "grid": old["grid"], "episode": id.to_string(),
                           "household": old["household"], "notes": notes}),
                    "{id}'s medical record"
                );
                // Readable by this release's schema reader, as a domain document.
                let mut reread = AutoCommit::load(&new_doc.save())?;
                assert_eq!(read(&mut reread)["schema"], 3);
            }
            _ => {}
        }
    }
    assert!(episodes >= 2 && others > 40, "{episodes} episodes and {others} households and tasks compared");
    assert!(addressed_lists >= 2, "the old store had {addressed_lists} lists with addresses: proves nothing");
    for (id, text) in noted.iter().zip(NOTES) {
        let record: DocumentId = json_of(&after[id])["medical"].as_str().expect("link").parse()?;
        let rec = json_of(&after[&record]);
        assert_eq!(rec["notes"][0]["text"], text, "{id}'s note moved");
        assert_eq!(rec["notes"][0]["by"], medic_id.as_str());
    }
    let report = linli_cli(&data, &["check"], "")?;
    assert!(report.contains("store OK"), "{report}");

    // ---- a second start migrates nothing -------------------------------------------------
    let mut again = ServerProcess::start(&data, 0, &["--test-clock", CLOCK]).await?;
    again.login(MEDIC.0, MEDIC.1).await?;
    again.kill9().await?;
    let again_bytes = backup_of(dir.path(), &data, "again.backup");
    let twice = documents(&again_bytes);
    for id in before.keys() {
        if json_of(&before[id])["kind"] == "episode" {
            assert_eq!(sorted(twice[id].get_heads()), sorted(after[id].get_heads()), "{id} was migrated again");
        }
    }
    for (name, bytes) in [("after the first start", &after_bytes), ("after the second", &again_bytes)] {
        let audit = String::from_utf8_lossy(bytes).matches("schema.migrate").count();
        assert_eq!(audit, 1, "one audit entry for the migration {name}");
    }
    Ok(())
}

#[tokio::test]
async fn a_store_of_the_release_before_the_readings_is_migrated_once_and_keeps_every_datum() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let fixture = std::fs::read(FIXTURE_2)?;
    let before = documents(&fixture);
    let data = restore(dir.path(), &fixture);
    let episodes_with_checkins: Vec<DocumentId> = before
        .iter()
        .filter(|(_, d)| {
            let v = json_of(d);
            v["kind"] == "episode" && v["schema"] == 2 && v["checkins"].as_object().is_some_and(|c| !c.is_empty())
        })
        .map(|(id, _)| *id)
        .collect();
    assert!(episodes_with_checkins.len() >= 2, "the fixture has episodes with check-ins");

    let mut server = ServerProcess::start(&data, 0, &["--test-clock", CLOCK]).await?;
    // The grid's medic reads the check-ins where they moved; the coordinator gets none.
    let (medic_token, _) = login(&server, MEDIC).await?;
    let mut medic = TestPeer::new("medic");
    medic.connect(&server.ws_url(&medic_token)).await?;
    // An episode of the coordinator's (and the medic's) grid.
    let coord_grids = users(&fixture)
        .into_iter()
        .find(|u| u["username"] == COORD.0)
        .map(|u| u["grids"].clone())
        .expect("the demo's coordinator in the fixture");
    let first = *episodes_with_checkins
        .iter()
        .find(|id| coord_grids.as_array().is_some_and(|g| g.contains(&json_of(&before[id])["grid"])))
        .expect("an episode with check-ins in the coordinator's grid");
    let episode = sync_until(&mut medic, &first, T, |v| v["schema"] == 3).await?;
    assert!(episode.get("checkins").is_none(), "no check-ins left in the episode: {episode}");
    let readings: DocumentId = episode["readings"].as_str().expect("linked").parse()?;
    let seen = sync_until(&mut medic, &readings, T, |v| v["kind"] == "readings").await?;
    assert_eq!(seen["checkins"], json_of(&before[&first])["checkins"], "the medic reads the check-ins");
    let (coord_token, _) = login(&server, COORD).await?;
    let mut coord = TestPeer::new("coord");
    coord.connect(&server.ws_url(&coord_token)).await?;
    coord.want(first);
    coord.want(readings);
    coord.sync_all(T).await?;
    assert!(coord.docs[&readings].unavailable && coord.heads(&readings).is_empty(), "the coordinator gets no readings");
    let seen = read(coord.doc(&first));
    assert!(seen.get("checkins").is_none() && seen["schema"] == 3, "nor check-ins in the episode: {seen}");

    // The release's app checked in offline, on its schema-2 copy of an open episode.
    let (offline, username, slot) = offline_case(&before, &fixture);
    let old = json_of(&before[&offline]);
    let (vol_token, vol_id) = login(&server, (&username, VOLUNTEER_PASSWORD)).await?;
    let mut phone = phone_holding("release-2-phone", &before[&offline], offline)?;
    put_checkin_raw(&mut phone, &offline, &slot, checkin(38.1, &vol_id, "离线打卡"));
    phone.connect(&server.ws_url(&vol_token)).await?;
    let merged = sync_until(&mut phone, &offline, T, |v| v["schema"] == 3 && v["readings"].is_string()).await?;
    phone.sync_all(T).await?;
    assert!(acknowledged(&mut phone, &offline), "the server took the old app's change");
    let linked: DocumentId = merged["readings"].as_str().expect("linked").parse()?;
    let carried = sync_until(&mut phone, &linked, T, |v| v["checkins"].get(&slot).is_some()).await?;
    assert_eq!(carried["checkins"][&slot]["temp_c"], 38.1, "the old app's check-in is in the readings");
    assert_eq!(carried["checkins"][&slot]["by"], vol_id.as_str());
    // The old map is no back door: a check-in there that the readings' rules refuse (signed
    // by someone else, or overwriting the one just taken) is refused like one in the
    // readings, and nothing of it reaches them.
    let other = checkin_key(1, 0);
    assert!(old["checkins"].get(&other).is_none() && other.as_str() <= old["end"].as_str().expect("end"));
    // A hostile phone addresses the old map by its id, as the release's app had it.
    let legacy = match before[&offline].get(automerge::ROOT, "checkins")? {
        Some((automerge::Value::Object(automerge::ObjType::Map), m)) => m,
        other => panic!("the release's episode has checkins: {other:?}"),
    };
    put_checkin_into(&mut phone, &offline, &legacy, &other, checkin(39.5, "u-someone-else", "伪造"));
    match push_change(&mut phone, &offline, T).await? {
        Outcome::Rejected(r) => assert!(r.reason.contains(&format!("checkins.{other}.by")), "{}", r.reason),
        other => panic!("a check-in signed by another user, through the old map: {other:?}"),
    }
    // A fresh copy of the release's episode, so that only the rewrite is in question.
    let mut again = phone_holding("release-2-phone-b", &before[&offline], offline)?;
    put_checkin_into(&mut again, &offline, &legacy, &slot, checkin(36.0, &vol_id, "改写"));
    again.connect(&server.ws_url(&vol_token)).await?;
    match push_change(&mut again, &offline, T).await? {
        Outcome::Rejected(r) => assert!(r.reason.contains(&format!("checkins.{slot}")), "{}", r.reason),
        other => panic!("the check-in taken, rewritten through the old map: {other:?}"),
    }
    let mut medic_view = TestPeer::new("medic-2");
    medic_view.connect(&server.ws_url(&medic_token)).await?;
    let kept = sync_until(&mut medic_view, &linked, T, |v| v["kind"] == "readings").await?;
    assert_eq!(kept["checkins"], carried["checkins"], "nothing refused reached the readings");
    server.kill9().await?;

    // ---- document by document ------------------------------------------------------------
    let after_bytes = backup_of(dir.path(), &data, "after.backup");
    let after = documents(&after_bytes);
    let (mut episodes, mut others) = (0, 0);
    for (id, old_doc) in &before {
        let old = json_of(old_doc);
        let new_doc = after.get(id).unwrap_or_else(|| panic!("{id} ({}) is gone", old["kind"]));
        let new = json_of(new_doc);
        for h in old_doc.get_heads() {
            assert!(new_doc.get_change_by_hash(&h).is_some(), "{id} lost change {h}");
        }
        match old["kind"].as_str() {
            Some("household" | "task" | "medical") => {
                others += 1;
                assert_eq!(new, old, "{id} changed");
            }
            Some("episode") => {
                episodes += 1;
                let linked: DocumentId = new["readings"].as_str().unwrap_or_else(|| panic!("{id}: no link")).parse()?;
                let mut want = old.clone();
                let checkins = want.as_object_mut().expect("map").remove("checkins").expect("schema 2 had them");
                want["schema"] = json!(3);
                want["readings"] = json!(linked.to_string());
                assert_eq!(new, want, "{id}: the episode keeps every datum but its check-ins");
                assert_readings(id, &old, new_doc, &after, checkins, (*id == offline).then_some(slot.as_str()));
            }
            _ => {}
        }
    }
    assert!(episodes >= 2 && others > 40, "{episodes} episodes and {others} other documents compared");
    let report = linli_cli(&data, &["check"], "")?;
    assert!(report.contains("store OK"), "{report}");

    // ---- a second start migrates nothing -------------------------------------------------
    let mut again = ServerProcess::start(&data, 0, &["--test-clock", CLOCK]).await?;
    again.login(MEDIC.0, MEDIC.1).await?;
    again.kill9().await?;
    let again_bytes = backup_of(dir.path(), &data, "again.backup");
    let twice = documents(&again_bytes);
    for id in before.keys().filter(|id| json_of(&before[id])["kind"] == "episode") {
        assert_eq!(sorted(twice[id].get_heads()), sorted(after[id].get_heads()), "{id} was migrated again");
    }
    for (name, bytes) in
        [("before", &fixture), ("after the first start", &after_bytes), ("after the second", &again_bytes)]
    {
        let audit = String::from_utf8_lossy(bytes).matches("schema.migrate").count();
        assert_eq!(audit, usize::from(name != "before"), "audit entries for the migration {name}");
    }
    Ok(())
}

/// The readings the migrated episode `id` (`old` before, `new_doc` after) links, in the
/// store `after`: the episode's `checkins` (and the late check-in under `late`, carried
/// over from an old phone, as found), the server's copies of its fields, and a fresh
/// history, so the readings reach no phone that did not have them.
fn assert_readings(
    id: &DocumentId,
    old: &Value,
    new_doc: &Automerge,
    after: &BTreeMap<DocumentId, Automerge>,
    mut checkins: Value,
    late: Option<&str>,
) {
    let new = json_of(new_doc);
    let linked: DocumentId =
        new["readings"].as_str().unwrap_or_else(|| panic!("{id}: no readings")).parse().expect("an id");
    let readings = after.get(&linked).unwrap_or_else(|| panic!("{id}: no readings {linked}"));
    let got = json_of(readings);
    if let Some(slot) = late {
        checkins[slot] = got["checkins"][slot].clone();
    }
    assert_eq!(
        got,
        json!({"kind": "readings", "schema": 1, "grid": old["grid"], "episode": id.to_string(),
               "household": old["household"], "start": old["start"], "end": old["end"],
               "slots": old["slots"], "assignee": old["assignee"], "status": old["status"],
               "checkins": checkins}),
        "{id}'s readings"
    );
    assert!(
        readings.get_changes(&[]).iter().all(|c| new_doc.get_change_by_hash(&c.hash()).is_none()),
        "{id}: the readings share no change with the episode"
    );
}

/// The old app's offline check-in of a migration test: the store's first open, assigned
/// episode, its volunteer's username, and a slot of it not taken yet (today or earlier,
/// not before the episode started).
fn offline_case(before: &BTreeMap<DocumentId, Automerge>, backup: &[u8]) -> (DocumentId, String, String) {
    let (offline, old) = before
        .iter()
        .map(|(id, d)| (*id, json_of(d)))
        .find(|(_, v)| v["kind"] == "episode" && v["status"] == "active" && v["assignee"].is_string())
        .expect("an open, assigned episode in the fixture");
    let username = users(backup)
        .into_iter()
        .find(|u| u["id"] == old["assignee"])
        .and_then(|u| u["username"].as_str().map(str::to_owned))
        .expect("the assignee in the fixture");
    let (slots, start) = (old["slots"].as_u64().expect("slots") as u32, old["start"].as_str().expect("start"));
    let slot = (0..14)
        .flat_map(|d| (0..slots).map(move |s| checkin_key(-d, s)))
        .find(|k| old["checkins"].get(k).is_none() && k.as_str() >= start)
        .expect("a free slot");
    (offline, username, slot)
}

/// A phone named `name` holding `doc` (document `id`) as an older release stored it, under
/// an Automerge actor of its own (`name`), not yet connected.
fn phone_holding(name: &str, doc: &Automerge, id: DocumentId) -> anyhow::Result<TestPeer> {
    let mut phone = TestPeer::new(name);
    let mut copy = AutoCommit::load(&doc.save())?;
    copy.set_actor(automerge::ActorId::from(name.as_bytes().to_vec()));
    phone.docs.insert(id, PeerDoc { doc: copy, state: automerge::sync::State::new(), unavailable: false });
    Ok(phone)
}

/// `put_checkin` without the domain reader, which reads schema 3: the document is in an
/// old shape.
fn put_checkin_raw(peer: &mut TestPeer, id: &DocumentId, key: &str, value: Value) {
    let checkins = match peer.doc(id).get(automerge::ROOT, "checkins").expect("read") {
        Some((automerge::Value::Object(automerge::ObjType::Map), m)) => m,
        other => panic!("checkins is {other:?}"),
    };
    put_checkin_into(peer, id, &checkins, key, value);
}

/// A check-in written into the map `checkins` of document `id` on `peer`, wherever that
/// map is (a migrated episode's old one is no longer reachable from its root).
fn put_checkin_into(peer: &mut TestPeer, id: &DocumentId, checkins: &automerge::ObjId, key: &str, value: Value) {
    use automerge::transaction::Transactable;
    let doc = peer.doc(id);
    let c = doc.put_object(checkins, key, automerge::ObjType::Map).expect("checkin");
    for (k, v) in value.as_object().expect("a check-in") {
        match v {
            Value::Number(n) if n.is_i64() => doc.put(&c, k, n.as_i64().expect("i64")),
            Value::Number(n) => doc.put(&c, k, n.as_f64().expect("f64")),
            Value::String(s) => {
                let t = doc.put_object(&c, k, automerge::ObjType::Text).expect("text");
                doc.splice_text(&t, 0, 0, s)
            }
            Value::Array(items) => {
                let l = doc.put_object(&c, k, automerge::ObjType::List).expect("list");
                items
                    .iter()
                    .enumerate()
                    .try_for_each(|(i, item)| doc.insert(&l, i, item.as_str().expect("a string item")).map(|_| ()))
            }
            Value::Null => doc.put(&c, k, ()),
            other => panic!("{k}: {other}"),
        }
        .expect("put");
    }
    doc.commit();
}
