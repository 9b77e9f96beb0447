//! Writes the seed inputs of the fuzz targets (`fuzz/`): real frames, real sync messages
//! of phones changing the base documents, and real saved documents, into
//! `<dir>/<target>/seed-<name>`. The committed fixtures under `shared/tests/fuzz_fixtures/`
//! were made with it:
//!
//! ```text
//! cargo run -p linli-shared --example fuzz_seeds -- shared/tests/fuzz_fixtures
//! ```

use std::path::{Path, PathBuf};

use automerge::sync::{self, SyncDoc};
use automerge::{ActorId, AutoCommit, Automerge};
use linli_shared::domain::{DomainDoc, Role};
use linli_shared::fuzz::{base_document, sync_message, BaseDoc, Case, SyncOutcome};
use linli_shared::{encode, DocumentId, Message, PeerId, PeerMetadata, StorageId};
use serde_json::{json, Value as Json};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;
/// A change a phone makes to a document's JSON form.
type Edit = Box<dyn Fn(&mut Json)>;

/// Appends `item` to the list at `key` of `json`.
fn push(json: &mut Json, key: &str, item: Json) {
    if let Some(list) = json[key].as_array_mut() {
        list.push(item);
    }
}

fn main() -> Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).ok_or("usage: fuzz_seeds DIR")?);
    wire_seeds(&dir.join("wire_decode"))?;
    let docs = sync_seeds(&dir.join("sync_message"))?;
    hydrate_seeds(&dir.join("hydrate"), &docs)?;
    Ok(())
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(format!("seed-{name}")), bytes)?;
    Ok(())
}

/// One frame of every message type our encoder writes.
fn wire_seeds(dir: &Path) -> Result<()> {
    let (peer, server) = (PeerId::new("peer-abc")?, PeerId::new("server")?);
    let doc = DocumentId::from_bytes(*b"0123456789abcdef");
    let storage = StorageId::new("3760df37-a4c6-4f66-9ecd-732039a9385d")?;
    let messages = [
        (
            "join",
            Message::Join {
                sender_id: peer.clone(),
                peer_metadata: Some(PeerMetadata { storage_id: Some(storage.clone()), is_ephemeral: false }),
                supported_protocol_versions: Some(vec!["1".into()]),
            },
        ),
        (
            "peer",
            Message::Peer {
                sender_id: server.clone(),
                target_id: peer.clone(),
                peer_metadata: PeerMetadata { storage_id: Some(storage), is_ephemeral: false },
                selected_protocol_version: "1".into(),
            },
        ),
        ("error", Message::Error { sender_id: server.clone(), target_id: peer.clone(), message: "unsupported".into() }),
        (
            "request",
            Message::Request {
                sender_id: peer.clone(),
                target_id: server.clone(),
                document_id: doc,
                data: vec![0x42, 0],
            },
        ),
        (
            "sync",
            Message::Sync { sender_id: peer.clone(), target_id: server.clone(), document_id: doc, data: vec![1, 2, 3] },
        ),
        (
            "doc-unavailable",
            Message::DocUnavailable { sender_id: server.clone(), target_id: peer.clone(), document_id: doc },
        ),
        (
            "ephemeral",
            Message::Ephemeral {
                sender_id: peer,
                target_id: server,
                document_id: doc,
                session_id: "k3j2h1".into(),
                count: 3,
                data: vec![0xa1, 0x61, 0x78, 0x01],
            },
        ),
        ("ignored", Message::Ignored { kind: "remote-heads-changed".into() }),
    ];
    for (name, m) in messages {
        write(dir, name, &encode(&m))?;
    }
    Ok(())
}

/// A phone that holds the stored document (or nothing) and its own actor.
struct Phone {
    doc: AutoCommit,
}

impl Phone {
    fn new(base: BaseDoc, actor: u8) -> Self {
        let doc = AutoCommit::load(&base_document(base).save()).map(|d| d.with_actor(ActorId::from([actor; 16])));
        Self { doc: doc.unwrap_or_else(|_| AutoCommit::new().with_actor(ActorId::from([actor; 16]))) }
    }

    /// Rewrites the document's JSON form with `edit` and reconciles it in.
    fn edit(&mut self, edit: impl FnOnce(&mut Json)) -> Result<()> {
        let mut json = match DomainDoc::hydrate_from(&self.doc)? {
            Some(d) => serde_json::to_value(d)?,
            None => json!({}),
        };
        edit(&mut json);
        let value = DomainDoc::from_json(json)?.ok_or("edited into an empty document")?;
        value.reconcile_into(&mut self.doc)?;
        self.doc.commit();
        Ok(())
    }

    /// Syncs with a copy of the stored document until neither side has anything to say;
    /// returns every message the phone sent.
    fn sync_messages(&mut self, base: BaseDoc) -> Vec<Vec<u8>> {
        let mut server = base_document(base).clone();
        let (mut phone_state, mut server_state) = (sync::State::new(), sync::State::new());
        let mut sent = Vec::new();
        for _ in 0..10 {
            let from_phone = self.doc.sync().generate_sync_message(&mut phone_state);
            if let Some(m) = &from_phone {
                sent.push(m.clone().encode());
                let _ = server.receive_sync_message(&mut server_state, m.clone());
            }
            let from_server = server.generate_sync_message(&mut server_state);
            if let Some(m) = &from_server {
                let _ = self.doc.sync().receive_sync_message(&mut phone_state, m.clone());
            }
            if from_phone.is_none() && from_server.is_none() {
                break;
            }
        }
        sent
    }
}

/// Real phones' sync messages, each prefixed with the selector of its case; returns the
/// changed documents for the hydrate seeds.
fn sync_seeds(dir: &Path) -> Result<Vec<(String, Automerge)>> {
    let mut changed = Vec::new();
    let scenarios: Vec<(&str, Case, Edit)> = vec![
        (
            "volunteer-accepts-task",
            Case { role: Role::Volunteer, base: BaseDoc::Task },
            Box::new(|t| {
                t["status"] = json!("accepted");
                push(
                    t,
                    "log",
                    json!({"at": 1_769_919_000_000_i64, "by": "u-vol", "from": "assigned", "to": "accepted", "note": "on my way"}),
                );
            }),
        ),
        (
            "volunteer-moves-due-date",
            Case { role: Role::Volunteer, base: BaseDoc::Task },
            Box::new(|t| t["due"] = json!(1_769_999_999_000_i64)),
        ),
        (
            "coordinator-adds-item",
            Case { role: Role::Coordinator, base: BaseDoc::Task },
            Box::new(|t| {
                push(t, "items", json!({"name": "药", "qty": 2, "unit": "盒"}));
            }),
        ),
        (
            "volunteer-checks-in",
            Case { role: Role::Volunteer, base: BaseDoc::Readings },
            Box::new(|e| {
                e["checkins"]["2026-02-01/0"] = json!({"temp_c": 38.2, "symptoms": ["fever", "cough"], "method": "visit", "note": "", "by": "u-vol", "at": 1_769_918_000_000_i64});
            }),
        ),
        (
            "medic-escalates",
            Case { role: Role::Medic, base: BaseDoc::Episode },
            Box::new(|e| e["status"] = json!("escalated")),
        ),
        (
            "medic-adds-note",
            Case { role: Role::Medic, base: BaseDoc::Medical },
            Box::new(|m| {
                push(m, "notes", json!({"at": 1_769_918_000_000_i64, "by": "u-medic", "text": "call tomorrow"}));
            }),
        ),
        (
            "medic-rewrites-note",
            Case { role: Role::Medic, base: BaseDoc::Medical },
            Box::new(|m| m["notes"][0]["text"] = json!("stable, no fever")),
        ),
        (
            "coordinator-edits-household",
            Case { role: Role::Coordinator, base: BaseDoc::Household },
            Box::new(|h| {
                h["notes"] = json!("ring twice; dog");
                h["members"][0]["medicines"] = json!(["amlodipine", "metformin"]);
            }),
        ),
        (
            "coordinator-creates-task",
            Case { role: Role::Coordinator, base: BaseDoc::Empty },
            Box::new(|t| {
                *t = json!({
                    "kind": "task", "schema": 1, "grid": "g1", "household": "1Bhh3pU9gLXZiNDL6PEa1Gs9fh",
                    "category": "medicine", "items": [{"name": "insulin", "qty": 1, "unit": "box"}],
                    "priority": "urgent", "due": 1_769_930_000_000_i64, "contactless": false,
                    "assignee": null, "status": "new", "failure_reason": null, "log": [],
                    "created_by": "u-coord", "created_at": 1_769_919_000_000_i64,
                });
            }),
        ),
    ];
    for (name, case, edit) in scenarios {
        let mut phone = Phone::new(case.base, 0x10 + case.selector());
        phone.edit(edit)?;
        for (i, msg) in phone.sync_messages(case.base).into_iter().enumerate() {
            let mut input = vec![case.selector()];
            input.extend(msg);
            let outcome = sync_message(&input);
            println!("sync_message {name}-{i}: {outcome:?}");
            if matches!(outcome, SyncOutcome::Accepted { .. } | SyncOutcome::Refused(_)) || i == 0 {
                write(dir, &format!("{name}-{i}"), &input)?;
            }
        }
        changed.push((name.to_string(), phone.doc.document().clone()));
    }
    Ok(changed)
}

/// Saved documents (whole and as one incremental chunk) and their JSON forms.
fn hydrate_seeds(dir: &Path, changed: &[(String, Automerge)]) -> Result<()> {
    let bases = [
        ("household", BaseDoc::Household),
        ("task", BaseDoc::Task),
        ("episode", BaseDoc::Episode),
        ("medical", BaseDoc::Medical),
        ("readings", BaseDoc::Readings),
    ];
    for (name, base) in bases {
        let doc = base_document(base);
        write(dir, &format!("{name}.automerge"), &doc.save())?;
        if let Some(value) = DomainDoc::hydrate(doc)? {
            write(dir, &format!("{name}.json"), &serde_json::to_vec(&value)?)?;
        }
    }
    for (name, doc) in changed {
        write(dir, &format!("{name}.automerge"), &doc.save())?;
        write(dir, &format!("{name}.chunk"), &doc.save_after(&[]))?;
    }
    Ok(())
}
