//! A Rust automerge-repo peer that behaves like a phone: it keeps its own Automerge
//! documents, edits them offline, and syncs them with the server over the real `/sync`
//! WebSocket. Also [`RawConn`], for sending arbitrary (bad) frames.

use anyhow::{anyhow, bail, Context};
use automerge::sync::{self, SyncDoc};
use automerge::{AutoCommit, ChangeHash};
use futures_util::{SinkExt, StreamExt};
use linli_shared::{DocumentId, Message, PeerId, WireLimits};
use std::collections::HashMap;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What came back from the server on a raw connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    Message(Message),
    /// The server closed the connection, with this close code and reason.
    Closed(Option<(u16, String)>),
}

/// A WebSocket to `/sync` with no protocol logic: send any bytes, read what comes back.
#[derive(Debug)]
pub struct RawConn {
    ws: Ws,
}

impl RawConn {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let (ws, _) = tokio_tungstenite::connect_async(url).await.context("connecting")?;
        Ok(RawConn { ws })
    }

    pub async fn send_bytes(&mut self, bytes: Vec<u8>) -> anyhow::Result<()> {
        self.ws.send(WsMessage::Binary(bytes)).await?;
        Ok(())
    }

    pub async fn send_text(&mut self, text: &str) -> anyhow::Result<()> {
        self.ws.send(WsMessage::Text(text.to_owned())).await?;
        Ok(())
    }

    pub async fn send(&mut self, msg: &Message) -> anyhow::Result<()> {
        self.send_bytes(linli_shared::encode(msg)).await
    }

    /// Connects with a hand-built upgrade request (extra headers such as `Authorization`,
    /// `Cookie` or `Origin`). A refused upgrade is `Err(Error::Http(response))`, which
    /// carries the HTTP status.
    pub async fn connect_request(
        req: tokio_tungstenite::tungstenite::handshake::client::Request,
    ) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        let (ws, _) = tokio_tungstenite::connect_async(req).await?;
        Ok(RawConn { ws })
    }

    /// Sends `frames` as fast as the socket takes them while reading what comes back, until
    /// the server closes the connection (bounded by `timeout`). Reading at the same time
    /// means the server's close frame is seen even if it closes mid-flood. Returns how many
    /// frames were sent, the messages received, and the close.
    pub async fn flood(
        &mut self,
        frames: Vec<Vec<u8>>,
        timeout: Duration,
    ) -> anyhow::Result<(usize, Vec<Message>, Option<(u16, String)>)> {
        let (mut tx, mut rx) = (&mut self.ws).split();
        let sending = async move {
            let mut sent = 0;
            for f in frames {
                if tx.send(WsMessage::Binary(f)).await.is_err() {
                    break;
                }
                sent += 1;
            }
            sent
        };
        let reading = async move {
            let mut msgs = Vec::new();
            loop {
                match rx.next().await {
                    Some(Ok(WsMessage::Binary(b))) => msgs.push(linli_shared::decode(&b, &WireLimits::default())?),
                    Some(Ok(WsMessage::Close(frame))) => return anyhow::Ok((msgs, close_of(frame))),
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return anyhow::Ok((msgs, None)),
                }
            }
        };
        let (sent, read) = tokio::time::timeout(timeout, async { tokio::join!(sending, reading) })
            .await
            .map_err(|_| anyhow!("the server did not close the connection within {timeout:?}"))?;
        let (msgs, close) = read?;
        Ok((sent, msgs, close))
    }

    /// Sends `join` for `peer` and waits for the server's `peer` reply.
    pub async fn join(&mut self, peer: &str) -> anyhow::Result<Message> {
        self.send(&Message::Join {
            sender_id: PeerId::new(peer.to_owned())?,
            peer_metadata: None,
            supported_protocol_versions: Some(vec!["1".to_owned()]),
        })
        .await?;
        match self.recv(Duration::from_secs(10)).await? {
            Received::Message(m @ Message::Peer { .. }) => Ok(m),
            other => bail!("expected `peer`, got {other:?}"),
        }
    }

    /// Asks for a document the server does not have: the connection serves if the answer
    /// is `doc-unavailable` (within `timeout`); anything else, or a close, is an error.
    pub async fn ask_for_unknown_document(&mut self, peer: &str, timeout: Duration) -> anyhow::Result<()> {
        let id = DocumentId::random();
        self.send(&Message::Request {
            sender_id: PeerId::new(peer.to_owned())?,
            target_id: PeerId::new("server".to_owned())?,
            document_id: id,
            data: empty_sync_message(),
        })
        .await?;
        match self.recv(timeout).await? {
            Received::Message(Message::DocUnavailable { document_id, .. }) if document_id == id => Ok(()),
            other => bail!("expected doc-unavailable for {id}, got {other:?}"),
        }
    }

    /// The next message or close, within `timeout`.
    pub async fn recv(&mut self, timeout: Duration) -> anyhow::Result<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let next = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .map_err(|_| anyhow!("nothing received within {timeout:?}"))?;
            match next {
                Some(Ok(WsMessage::Binary(b))) => {
                    return Ok(Received::Message(linli_shared::decode(&b, &WireLimits::default())?));
                }
                Some(Ok(WsMessage::Close(frame))) => return Ok(Received::Closed(close_of(frame))),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Ok(Received::Closed(None)),
            }
        }
    }

    /// Reads until the server closes; returns the messages before the close and the close.
    pub async fn until_closed(&mut self, timeout: Duration) -> anyhow::Result<(Vec<Message>, Option<(u16, String)>)> {
        let mut msgs = Vec::new();
        loop {
            match self.recv(timeout).await? {
                Received::Message(m) => msgs.push(m),
                Received::Closed(c) => return Ok((msgs, c)),
            }
        }
    }
}

/// The first sync message of an empty document (what `repo.find` sends for a document it
/// does not have).
pub fn empty_sync_message() -> Vec<u8> {
    let mut doc = AutoCommit::new();
    let message = doc.sync().generate_sync_message(&mut sync::State::new());
    message.map(|m| m.encode()).unwrap_or_default()
}

fn close_of(frame: Option<CloseFrame<'_>>) -> Option<(u16, String)> {
    frame.map(|f| (u16::from(f.code), f.reason.into_owned()))
}

/// One document as a peer holds it.
#[derive(Debug)]
pub struct PeerDoc {
    pub doc: AutoCommit,
    pub state: sync::State,
    /// Set when the server answered `doc-unavailable`.
    pub unavailable: bool,
}

/// A phone-like peer. See the module docs.
#[derive(Debug)]
pub struct TestPeer {
    pub peer_id: PeerId,
    ws: Option<Ws>,
    server: Option<PeerId>,
    pub docs: HashMap<DocumentId, PeerDoc>,
    /// Server heads last seen per document: what the server has acknowledged.
    pub acked: HashMap<DocumentId, Vec<ChangeHash>>,
    /// Ephemeral messages received: (document, sender, data).
    pub ephemeral: Vec<(DocumentId, PeerId, Vec<u8>)>,
}

impl TestPeer {
    /// An offline peer with no documents.
    pub fn new(name: &str) -> Self {
        TestPeer {
            peer_id: PeerId::new(format!("peer-{name}")).unwrap_or_else(|_| unreachable_peer()),
            ws: None,
            server: None,
            docs: HashMap::new(),
            acked: HashMap::new(),
            ephemeral: Vec::new(),
        }
    }

    /// Connects and joins; sync states start fresh, as after a reconnect of the JS client.
    pub async fn connect(&mut self, url: &str) -> anyhow::Result<()> {
        let mut raw = RawConn::connect(url).await?;
        let peer = raw.join(self.peer_id.as_str()).await?;
        if let Message::Peer { sender_id, .. } = peer {
            self.server = Some(sender_id);
        }
        for d in self.docs.values_mut() {
            // Keep only what survives a reconnect (shared heads), like the JS repo does.
            d.state = sync::State::decode(&d.state.encode()).unwrap_or_default();
        }
        self.ws = Some(raw.ws);
        Ok(())
    }

    /// Drops the connection without a goodbye (a phone entering a stairwell).
    pub fn disconnect(&mut self) {
        self.ws = None;
    }

    pub fn is_connected(&self) -> bool {
        self.ws.is_some()
    }

    /// Creates a new local document (not yet synced).
    pub fn create(&mut self) -> DocumentId {
        let id = DocumentId::random();
        self.docs.insert(id, PeerDoc { doc: AutoCommit::new(), state: sync::State::new(), unavailable: false });
        id
    }

    /// Starts tracking a document we do not have yet (like `repo.find`).
    pub fn want(&mut self, id: DocumentId) {
        self.docs.entry(id).or_insert_with(|| PeerDoc {
            doc: AutoCommit::new(),
            state: sync::State::new(),
            unavailable: false,
        });
    }

    pub fn doc(&mut self, id: &DocumentId) -> &mut AutoCommit {
        &mut self.docs.get_mut(id).expect("unknown document").doc
    }

    pub fn heads(&mut self, id: &DocumentId) -> Vec<ChangeHash> {
        self.doc(id).get_heads()
    }

    /// Sends a sync (or request, for an empty document) for every document that has
    /// something to say. Returns how many messages were sent.
    pub async fn push(&mut self) -> anyhow::Result<usize> {
        let out = self.outgoing();
        let Some(ws) = self.ws.as_mut() else { return Ok(0) };
        for m in &out {
            ws.send(WsMessage::Binary(linli_shared::encode(m))).await?;
        }
        Ok(out.len())
    }

    /// Handles one incoming message, waiting at most `timeout`. Returns false on timeout.
    pub async fn pump_one(&mut self, timeout: Duration) -> anyhow::Result<bool> {
        let Some(ws) = self.ws.as_mut() else { bail!("not connected") };
        let next = match tokio::time::timeout(timeout, ws.next()).await {
            Err(_) => return Ok(false),
            Ok(n) => n,
        };
        let bytes = match next {
            Some(Ok(WsMessage::Binary(b))) => b,
            Some(Ok(WsMessage::Close(frame))) => {
                self.ws = None;
                bail!("server closed the connection: {:?}", close_of(frame));
            }
            Some(Ok(_)) => return Ok(true),
            Some(Err(e)) => {
                self.ws = None;
                bail!("connection failed: {e}");
            }
            None => {
                self.ws = None;
                bail!("connection closed");
            }
        };
        self.apply_message(linli_shared::decode(&bytes, &WireLimits::default())?)?;
        Ok(true)
    }

    /// Syncs until every document agrees with the server (both sides' heads equal) or is
    /// unavailable, within `timeout`.
    pub async fn sync_all(&mut self, timeout: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        // First take in whatever the server already sent (e.g. other peers' changes).
        while self.pump_one(Duration::from_millis(20)).await? {}
        loop {
            self.push().await?;
            if self.in_sync() {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                bail!("not in sync after {timeout:?}");
            }
            self.pump_one(left.min(Duration::from_millis(500))).await?;
        }
    }

    /// Syncs until document `id` has exactly `heads`, within `timeout`.
    pub async fn sync_until_heads(
        &mut self,
        id: &DocumentId,
        heads: &[ChangeHash],
        timeout: Duration,
    ) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut want = heads.to_vec();
        want.sort();
        loop {
            self.push().await?;
            let mut ours = self.heads(id);
            ours.sort();
            if ours == want {
                return Ok(());
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                bail!("document {id} did not reach heads {want:?} within {timeout:?} (has {ours:?})");
            }
            self.pump_one(left.min(Duration::from_millis(500))).await?;
        }
    }

    /// Every document: the server's last heads equal ours (or the server has none).
    pub fn in_sync(&mut self) -> bool {
        self.docs.iter_mut().all(|(id, d)| {
            let ours = d.doc.get_heads();
            if d.unavailable {
                return true;
            }
            match &d.state.their_heads {
                Some(theirs) => {
                    let mut a = theirs.clone();
                    let mut b = ours;
                    a.sort();
                    b.sort();
                    a == b && self.acked.contains_key(id)
                }
                None => false,
            }
        })
    }
}

fn unreachable_peer() -> PeerId {
    PeerId::new("peer-x".to_owned()).expect("valid peer id")
}

/// The two halves of [`TestPeer::push`] and [`TestPeer::pump_one`] taken apart, for tests
/// that put something between the peer and its socket (see [`crate::faulty::FaultyLink`]).
/// They leave `push` and `pump_one` as they are.
impl TestPeer {
    /// The messages [`TestPeer::push`] would send now, without sending them: the sync
    /// states advance exactly as if they had been sent. Empty when not connected.
    pub fn outgoing(&mut self) -> Vec<Message> {
        let (true, Some(server)) = (self.ws.is_some(), self.server.clone()) else { return Vec::new() };
        let mut out = Vec::new();
        for (id, d) in self.docs.iter_mut() {
            let empty = d.doc.get_heads().is_empty();
            if let Some(msg) = d.doc.sync().generate_sync_message(&mut d.state) {
                let data = msg.encode();
                out.push(if empty && !d.unavailable {
                    Message::Request {
                        sender_id: self.peer_id.clone(),
                        target_id: server.clone(),
                        document_id: *id,
                        data,
                    }
                } else {
                    Message::Sync { sender_id: self.peer_id.clone(), target_id: server.clone(), document_id: *id, data }
                });
            }
        }
        out
    }

    /// Sends one message as it is. A failed send drops the connection; returns whether it
    /// was sent.
    pub async fn send_message(&mut self, msg: &Message) -> bool {
        let Some(ws) = self.ws.as_mut() else { return false };
        if ws.send(WsMessage::Binary(linli_shared::encode(msg))).await.is_err() {
            self.ws = None;
            return false;
        }
        true
    }

    /// The next message from the server within `timeout`, without applying it: `Ok(None)`
    /// on timeout. A closed or failed connection is dropped and reported as an error.
    pub async fn recv_message(&mut self, timeout: Duration) -> anyhow::Result<Option<Message>> {
        let Some(ws) = self.ws.as_mut() else { bail!("not connected") };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let next = match tokio::time::timeout_at(deadline, ws.next()).await {
                Err(_) => return Ok(None),
                Ok(n) => n,
            };
            match next {
                Some(Ok(WsMessage::Binary(b))) => {
                    return Ok(Some(linli_shared::decode(&b, &WireLimits::default())?));
                }
                Some(Ok(WsMessage::Close(frame))) => {
                    self.ws = None;
                    bail!("server closed the connection: {:?}", close_of(frame));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => {
                    self.ws = None;
                    bail!("connection failed: {e}");
                }
                None => {
                    self.ws = None;
                    bail!("connection closed");
                }
            }
        }
    }

    /// Applies one message from the server (what [`TestPeer::pump_one`] does with each).
    pub fn apply_message(&mut self, msg: Message) -> anyhow::Result<()> {
        match msg {
            Message::Sync { document_id, data, .. } => {
                let msg = sync::Message::decode(&data)?;
                let heads = msg.heads.clone();
                let d = self.docs.entry(document_id).or_insert_with(|| PeerDoc {
                    doc: AutoCommit::new(),
                    state: sync::State::new(),
                    unavailable: false,
                });
                d.unavailable = false;
                d.doc.sync().receive_sync_message(&mut d.state, msg)?;
                self.acked.insert(document_id, heads);
            }
            Message::DocUnavailable { document_id, .. } => {
                if let Some(d) = self.docs.get_mut(&document_id) {
                    d.unavailable = true;
                }
            }
            Message::Ephemeral { document_id, sender_id, data, .. } => {
                self.ephemeral.push((document_id, sender_id, data))
            }
            Message::Error { message, .. } => bail!("server error: {message}"),
            _ => {}
        }
        Ok(())
    }
}
