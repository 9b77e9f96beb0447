//! What became of a change a test peer pushed through the server's gate (DESIGN §4):
//! merged (the server's heads include it), refused (the `rejected` ephemeral message came
//! back), or never considered because the user may not read the document
//! (`doc-unavailable`). Also: fetching a document's canonical state with a fresh peer,
//! and syncing some documents of a peer while others are stuck in a refusal.

use crate::domain::read;
use crate::TestPeer;
use automerge::{AutoCommit, ChangeHash};
use linli_shared::DocumentId;
use serde_json::Value;
use std::time::Duration;

/// The `{"linli": "rejected", "reason", "changes"}` message of a refused batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub reason: String,
    /// Hex hashes of the refused changes.
    pub changes: Vec<String>,
}

/// Decodes the data of an ephemeral message as a `rejected` notice (`None` for anything else).
pub fn decode_rejected(data: &[u8]) -> Option<Rejected> {
    let v = decode_cbor(data)?;
    if v["linli"] != "rejected" {
        return None;
    }
    let reason = v["reason"].as_str()?.to_owned();
    let changes = v["changes"].as_array()?.iter().filter_map(|c| c.as_str().map(str::to_owned)).collect();
    Some(Rejected { reason, changes })
}

/// Decodes one CBOR item (definite lengths; what the server writes) as JSON.
pub fn decode_cbor(data: &[u8]) -> Option<Value> {
    let mut pos = 0;
    let v = cbor_item(data, &mut pos, 0)?;
    (pos == data.len()).then_some(v)
}

fn cbor_item(d: &[u8], pos: &mut usize, depth: usize) -> Option<Value> {
    if depth > 32 {
        return None;
    }
    let first = *d.get(*pos)?;
    *pos += 1;
    let (major, info) = (first >> 5, first & 0x1f);
    let mut arg = |info: u8| -> Option<u64> {
        let n = match info {
            0..=23 => return Some(u64::from(info)),
            24 => 1,
            25 => 2,
            26 => 4,
            27 => 8,
            _ => return None,
        };
        let bytes = d.get(*pos..*pos + n)?;
        *pos += n;
        Some(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    };
    match major {
        0 => Some(Value::from(arg(info)?)),
        1 => Some(Value::from(-1 - i64::try_from(arg(info)?).ok()?)),
        2 | 3 => {
            let n = usize::try_from(arg(info)?).ok()?;
            let bytes = d.get(*pos..*pos + n)?;
            *pos += n;
            if major == 3 {
                Some(Value::from(std::str::from_utf8(bytes).ok()?))
            } else {
                Some(Value::from(bytes.to_vec()))
            }
        }
        4 => {
            let n = arg(info)?;
            let mut items = Vec::new();
            for _ in 0..n {
                items.push(cbor_item(d, pos, depth + 1)?);
            }
            Some(Value::Array(items))
        }
        5 => {
            let n = arg(info)?;
            let mut map = serde_json::Map::new();
            for _ in 0..n {
                let k = cbor_item(d, pos, depth + 1)?;
                let v = cbor_item(d, pos, depth + 1)?;
                map.insert(k.as_str().map_or_else(|| k.to_string(), str::to_owned), v);
            }
            Some(Value::Object(map))
        }
        7 => match info {
            20 => Some(Value::Bool(false)),
            21 => Some(Value::Bool(true)),
            22 | 23 => Some(Value::Null),
            26 => {
                let bits = u32::try_from(arg(info)?).ok()?;
                Some(Value::from(f64::from(f32::from_bits(bits))))
            }
            27 => Some(Value::from(f64::from_bits(arg(info)?))),
            _ => None,
        },
        _ => None,
    }
}

/// What the server did with a pushed change.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The server's heads for the document equal the peer's: merged.
    Accepted,
    /// The `rejected` ephemeral message, with its reason.
    Rejected(Rejected),
    /// `doc-unavailable`: the user may not read the document, so nothing was considered.
    Unavailable,
}

impl Outcome {
    /// A one-letter code: `A`ccepted, `R`ejected, `H`idden (doc-unavailable).
    pub fn letter(&self) -> char {
        match self {
            Outcome::Accepted => 'A',
            Outcome::Rejected(_) => 'R',
            Outcome::Unavailable => 'H',
        }
    }
}

/// The `rejected` notices `peer` received for `id` so far.
pub fn rejections(peer: &TestPeer, id: &DocumentId) -> Vec<Rejected> {
    peer.ephemeral.iter().filter(|(d, _, _)| d == id).filter_map(|(_, _, data)| decode_rejected(data)).collect()
}

fn sorted(mut h: Vec<ChangeHash>) -> Vec<ChangeHash> {
    h.sort();
    h
}

/// Syncs `peer` until the server has decided on its local changes to `id`: merged,
/// refused (a `rejected` notice listing one of the document's current head changes), or
/// the document is unavailable to this user. Other documents of the peer are synced along
/// the way, as a phone would.
pub async fn push_change(peer: &mut TestPeer, id: &DocumentId, timeout: Duration) -> anyhow::Result<Outcome> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        peer.push().await?;
        let heads: Vec<String> = peer.heads(id).iter().map(ToString::to_string).collect();
        if let Some(r) = rejections(peer, id).into_iter().find(|r| r.changes.iter().any(|c| heads.contains(c))) {
            return Ok(Outcome::Rejected(r));
        }
        if peer.docs.get(id).is_some_and(|d| d.unavailable) {
            return Ok(Outcome::Unavailable);
        }
        let ours = sorted(peer.heads(id));
        if peer.acked.get(id).is_some_and(|theirs| sorted(theirs.clone()) == ours) {
            return Ok(Outcome::Accepted);
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            anyhow::bail!(
                "no decision on document {id} within {timeout:?} (no merge, no rejection, no doc-unavailable)"
            );
        }
        peer.pump_one(left.min(Duration::from_millis(200))).await?;
    }
}

/// Syncs `peer` until each of `ids` agrees with the server (or is unavailable), ignoring
/// the peer's other documents (e.g. one stuck with refused changes).
pub async fn sync_docs(peer: &mut TestPeer, ids: &[DocumentId], timeout: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    while peer.pump_one(Duration::from_millis(20)).await? {}
    loop {
        peer.push().await?;
        let mut pending = Vec::new();
        for id in ids {
            let Some(d) = peer.docs.get_mut(id) else {
                pending.push(*id);
                continue;
            };
            if d.unavailable {
                continue;
            }
            let ours = sorted(d.doc.get_heads());
            let agreed = d.state.their_heads.as_ref().is_some_and(|t| sorted(t.clone()) == ours)
                && peer.acked.get(id).is_some_and(|a| sorted(a.clone()) == ours);
            if !agreed {
                pending.push(*id);
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            anyhow::bail!("documents {pending:?} not in sync after {timeout:?}");
        }
        peer.pump_one(left.min(Duration::from_millis(200))).await?;
    }
}

/// A document as a fresh peer of some user fetched it.
#[derive(Debug)]
pub struct Fetched {
    /// `None`: the server answered `doc-unavailable`.
    pub doc: Option<AutoCommit>,
}

impl Fetched {
    pub fn available(&self) -> bool {
        self.doc.is_some()
    }

    /// The document's JSON form (panics if unavailable or outside the schema).
    pub fn value(&mut self) -> Value {
        read(self.doc.as_mut().expect("document unavailable"))
    }

    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.as_mut().map(|d| d.get_heads()).unwrap_or_default()
    }

    /// Whether the fetched history holds the change `hash`.
    pub fn has_change(&mut self, hash: &ChangeHash) -> bool {
        self.doc.as_mut().is_some_and(|d| d.get_change_by_hash(hash).is_some())
    }
}

/// Fetches `id` with a fresh peer connected to `ws_url` (a user's `/sync` URL): what a
/// phone of that user that asks for the document now gets.
pub async fn fetch(ws_url: &str, id: &DocumentId, timeout: Duration) -> anyhow::Result<Fetched> {
    let mut p = TestPeer::new("fetcher");
    p.connect(ws_url).await?;
    p.want(*id);
    p.sync_all(timeout).await?;
    let d = p.docs.remove(id).expect("wanted document");
    Ok(Fetched { doc: if d.unavailable { None } else { Some(d.doc) } })
}

/// Puts a copy of `doc` (the canonical state, e.g. fetched by someone else) on `peer` as
/// if the phone had it, under a new actor of its own: how a user who may not read a
/// document could still try to change it.
pub fn give_copy(peer: &mut TestPeer, id: DocumentId, doc: &mut AutoCommit) -> anyhow::Result<()> {
    let copy = AutoCommit::load(&doc.save())?;
    peer.want(id);
    let d = peer.docs.get_mut(&id).expect("just added");
    d.doc = copy;
    Ok(())
}

/// Fetches `id` with fresh peers until its JSON form satisfies `ready` (bounded by
/// `timeout`): for documents the server writes on its own time (inboxes, grid indexes,
/// erased episodes). Returns the first value that does; the error shows the last one seen.
pub async fn wait_for_doc(
    ws_url: &str,
    id: &DocumentId,
    timeout: Duration,
    mut ready: impl FnMut(&Value) -> bool,
) -> anyhow::Result<Value> {
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = None;
    loop {
        let mut f = fetch(ws_url, id, timeout).await?;
        if f.available() {
            let v = f.value();
            if ready(&v) {
                return Ok(v);
            }
            last = Some(v);
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!("document {id} not as expected within {timeout:?}; last seen: {last:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
