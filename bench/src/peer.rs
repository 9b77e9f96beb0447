//! The client side of the protocol as a phone does it: Automerge documents with one sync
//! state each (for the server), and the loop that syncs a set of documents until the server
//! has everything.

use crate::conn::Conn;
use anyhow::{anyhow, bail};
use automerge::sync::{self, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{ActorId, AutoCommit, ChangeHash, ObjType, ROOT};
use linli_shared::{DocumentId, Message, PeerId};
use std::collections::HashMap;
use std::time::Duration;

/// The grid every benchmark document belongs to (`bench/run.sh` creates it in Linli).
pub const GRID: &str = "g1";

/// One document as a client holds it.
#[derive(Debug)]
pub struct PeerDoc {
    pub doc: AutoCommit,
    pub state: sync::State,
    /// Heads the server announced in its last sync message (sorted): what it has.
    pub server_heads: Option<Vec<ChangeHash>>,
    /// The server answered `doc-unavailable`.
    pub unavailable: bool,
}

impl PeerDoc {
    pub fn new(doc: AutoCommit) -> Self {
        PeerDoc { doc, state: sync::State::new(), server_heads: None, unavailable: false }
    }

    /// An empty document we want from the server (`repo.find`).
    pub fn wanted() -> Self {
        Self::new(AutoCommit::new())
    }

    /// A new small document in one change, created by `actor`: a Linli `household`
    /// (DESIGN §3) in grid [`GRID`], so that Linli's schema and rules accept it; the
    /// reference server accepts any document.
    pub fn create(actor: &ActorId, note: &str) -> anyhow::Result<Self> {
        let mut doc = AutoCommit::new().with_actor(actor.clone());
        doc.put(ROOT, "kind", "household")?;
        doc.put(ROOT, "schema", 1_i64)?;
        doc.put(ROOT, "grid", GRID)?;
        doc.put(ROOT, "building", "3")?;
        doc.put(ROOT, "unit", "2")?;
        doc.put(ROOT, "room", "501")?;
        doc.put(ROOT, "phone", "13800000000")?;
        doc.put(ROOT, "notes", note)?;
        doc.put_object(ROOT, "members", ObjType::List)?;
        doc.commit();
        Ok(Self::new(doc))
    }

    pub fn heads(&mut self) -> Vec<ChangeHash> {
        let mut h = self.doc.get_heads();
        h.sort();
        h
    }

    /// The server has announced exactly our heads: it holds every change we have.
    pub fn in_sync(&mut self) -> bool {
        let ours = self.heads();
        self.server_heads.as_ref() == Some(&ours) && !ours.is_empty()
    }

    /// After a reconnect only the shared heads survive (what the JS repo does too).
    pub fn reconnect(&mut self) {
        self.state = sync::State::decode(&self.state.encode()).unwrap_or_default();
        self.server_heads = None;
    }

    /// The message to send for this document now, if any: `request` while we have
    /// nothing, `sync` otherwise.
    pub fn outgoing(&mut self, id: DocumentId, me: &PeerId, server: &PeerId) -> Option<Message> {
        let empty = self.doc.get_heads().is_empty();
        let data = self.doc.sync().generate_sync_message(&mut self.state)?.encode();
        let (sender_id, target_id, document_id) = (me.clone(), server.clone(), id);
        Some(if empty && !self.unavailable {
            Message::Request { sender_id, target_id, document_id, data }
        } else {
            Message::Sync { sender_id, target_id, document_id, data }
        })
    }

    /// Applies the server's sync message.
    pub fn receive(&mut self, data: &[u8]) -> anyhow::Result<()> {
        let msg = sync::Message::decode(data).map_err(|e| anyhow!("bad sync message from the server: {e}"))?;
        let mut heads = msg.heads.clone();
        heads.sort();
        self.unavailable = false;
        self.doc.sync().receive_sync_message(&mut self.state, msg)?;
        self.server_heads = Some(heads);
        Ok(())
    }
}

/// Syncs `docs` over `conn` until the server has announced our heads for every one of
/// them (or `doc-unavailable` for those we only asked for). Fails if nothing arrives for
/// `stall` while some document is still behind.
pub async fn sync_docs(
    conn: &mut Conn,
    docs: &mut HashMap<DocumentId, PeerDoc>,
    stall: Duration,
) -> anyhow::Result<()> {
    let mut pending: Vec<Message> = Vec::new();
    for (id, d) in docs.iter_mut() {
        if let Some(m) = d.outgoing(*id, &conn.me, &conn.server) {
            pending.push(m);
        }
    }
    conn.send_all(pending).await?;
    let mut behind = docs.values_mut().map(|d| !(d.in_sync() || d.unavailable)).filter(|b| *b).count();
    while behind > 0 {
        let msg = match tokio::time::timeout(stall, conn.recv()).await {
            Ok(m) => m?,
            Err(_) => bail!("{behind} documents still not in sync after {stall:?} without a message from the server"),
        };
        let Some(id) = msg.document_id().copied() else { continue };
        let Some(d) = docs.get_mut(&id) else { continue };
        let was_done = d.in_sync() || d.unavailable;
        match msg {
            Message::Sync { data, .. } => d.receive(&data)?,
            Message::DocUnavailable { .. } => d.unavailable = true,
            _ => continue,
        }
        if let Some(m) = d.outgoing(id, &conn.me, &conn.server) {
            conn.send(&m).await?;
        }
        let done = d.in_sync() || d.unavailable;
        match (was_done, done) {
            (false, true) => behind -= 1,
            (true, false) => behind += 1,
            _ => {}
        }
    }
    Ok(())
}

/// A peer id unique to this run.
pub fn peer_id(kind: &str, i: usize, run: &str) -> PeerId {
    PeerId::new(format!("bench-{kind}-{run}-{i}")).expect("a short ASCII peer id is valid")
}

/// A short random tag for this run, so peer ids never collide with a previous run.
pub fn run_tag() -> String {
    format!("{:08x}", rand::random::<u32>())
}
