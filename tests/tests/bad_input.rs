//! Bad input gets a clear answer and loses nothing.
//!
//! Every case follows the same script ([`Scene`]): a document is stored first; a
//! well-behaved peer starts syncing another document; a bad connection sends one kind of
//! bad input and must get an `error` message and/or a close frame whose code and reason
//! name the problem; the protocol-error counter of `/metrics` for that problem goes up;
//! then the well-behaved peer finishes its sync on the same, still open connection, the
//! bad connection is no longer counted, and a fresh peer fetches the stored document with
//! exactly the heads and content it had before.

use automerge::sync::SyncDoc;
use automerge::{ChangeHash, ReadDoc, ROOT};
use linli_shared::{DocumentId, Message, PeerId};
use linli_tests::domain::{create, household, read, set};
use linli_tests::peer::Received;
use linli_tests::server::{ALICE, CAROL};
use linli_tests::{Community, RawConn, TestPeer};
use serde_json::json;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);

/// WebSocket close codes (RFC 6455 §7.4.1).
const POLICY: u16 = 1008;
const UNSUPPORTED_DATA: u16 = 1003;
const TOO_BIG: u16 = 1009;

struct Scene {
    c: Community,
    /// Alice's token: the bad connections use it (a real, authenticated user misbehaving).
    token: String,
    /// A document stored before the bad input: a household of g1, written by alice.
    stored: DocumentId,
    stored_heads: Vec<ChangeHash>,
    /// The peer that wrote `stored`, still connected and in sync with the server, holding
    /// one more local change that the server has not seen: its sync message for that
    /// change is what the impersonation and before-join cases send.
    writer: TestPeer,
    /// A well-behaved peer (carol, the grid's other coordinator), in the middle of syncing
    /// `syncing` (another household) while the bad input arrives.
    good: TestPeer,
    syncing: DocumentId,
    /// Value of the protocol-error counter for the case's code before the bad input.
    errors_before: f64,
    code: &'static str,
}

fn errors_series(code: &str) -> String {
    format!("linli_protocol_errors_total{{code=\"{code}\"}}")
}

impl Scene {
    async fn new(extra: &[&str], code: &'static str) -> anyhow::Result<Self> {
        let c = Community::start(extra).await?;
        let token = c.token(ALICE).await?;

        let mut writer = TestPeer::new("writer");
        writer.connect(&c.server.ws_url(&token)).await?;
        let stored = create(&mut writer, household("g1", "501"));
        set(&mut writer, &stored, "notes", json!("三号楼二单元"));
        writer.sync_all(T).await?;
        let stored_heads = writer.heads(&stored);
        // One more (valid) change the server must never take from anyone but the writer.
        set(&mut writer, &stored, "notes", json!("已搬走"));

        let mut good = TestPeer::new("good");
        good.connect(&c.server.ws_url(&c.token(CAROL).await?)).await?;
        let syncing = create(&mut good, household("g1", "502"));
        // Start the sync; it completes only after the bad input (in `finish`).
        assert!(good.push().await? > 0, "the good peer had nothing to send");

        let errors_before = c.server.metric(&errors_series(code)).await?;
        Ok(Scene { c, token, stored, stored_heads, writer, good, syncing, errors_before, code })
    }

    fn url(&self) -> String {
        self.c.server.ws_url(&self.token)
    }

    /// A connection that has joined as `peer-bad`.
    async fn joined(&self) -> anyhow::Result<RawConn> {
        let mut raw = RawConn::connect(&self.url()).await?;
        raw.join("peer-bad").await?;
        Ok(raw)
    }

    /// The writer's sync message carrying its unsent change to `stored`.
    fn change_carrying_sync_data(&mut self) -> Vec<u8> {
        let d = self.writer.docs.get_mut(&self.stored).expect("stored doc");
        let mut state = d.state.clone();
        let msg = d.doc.sync().generate_sync_message(&mut state).expect("a sync message");
        assert!(!msg.changes.is_empty(), "the writer's sync message should carry its change");
        msg.encode()
    }

    fn server_peer(&self) -> PeerId {
        PeerId::new("server".to_owned()).expect("peer id")
    }

    /// Everything that must hold after the bad input.
    async fn finish(mut self) -> anyhow::Result<()> {
        let server = &self.c.server;
        // The problem was counted under its code.
        let after = server.metric(&errors_series(self.code)).await?;
        assert!(
            after >= self.errors_before + 1.0,
            "{} went from {} to {after}; /metrics:\n{}",
            errors_series(self.code),
            self.errors_before,
            server.metrics_text().await?
        );

        // The bad connection is gone; the writer and the good peer are still counted.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let n = server.metric("linli_connections").await?;
            if n == 2.0 {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "linli_connections stays at {n}, expected 2");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        // The good peer's sync completes on the same connection, which stays usable.
        self.good.sync_all(T).await?;
        assert!(self.good.is_connected(), "the good peer was disconnected");
        set(&mut self.good, &self.syncing, "phone", json!("13900000000"));
        self.good.sync_all(T).await?;
        assert!(self.good.is_connected(), "the good peer was disconnected");
        let mut acked = self.good.acked[&self.syncing].clone();
        let mut ours = self.good.heads(&self.syncing);
        acked.sort();
        ours.sort();
        assert_eq!(acked, ours, "the server did not acknowledge the good peer's changes");

        // The stored document is exactly what it was.
        let mut fresh = TestPeer::new("fresh");
        fresh.connect(&server.ws_url(&self.token)).await?;
        fresh.want(self.stored);
        fresh.sync_all(T).await?;
        assert!(!fresh.docs[&self.stored].unavailable, "the stored document became unavailable");
        let mut got = fresh.heads(&self.stored);
        let mut want = self.stored_heads.clone();
        got.sort();
        want.sort();
        assert_eq!(got, want, "the stored document's heads changed");
        let mut want = household("g1", "501");
        want["notes"] = json!("三号楼二单元");
        let doc = fresh.doc(&self.stored);
        for key in ["kind", "grid", "room", "notes"] {
            assert!(doc.get(ROOT, key)?.is_some(), "`{key}` is missing");
        }
        let mut keys: Vec<String> = doc.keys(ROOT).collect();
        let mut want_keys: Vec<String> = want.as_object().expect("an object").keys().cloned().collect();
        keys.sort();
        want_keys.sort();
        assert_eq!(keys, want_keys, "the stored document gained or lost keys");
        assert_eq!(read(doc), want, "the stored document changed");

        // The server is still serving.
        let health = reqwest::get(server.http("/healthz")).await?;
        assert_eq!(health.status(), 200);
        Ok(())
    }
}

/// Reads until the server closes; asserts the close code and that the reason contains
/// `reason`, and returns the `error` messages received before the close.
async fn expect_close(raw: &mut RawConn, code: u16, reason: &str) -> anyhow::Result<Vec<String>> {
    let (msgs, close) = raw.until_closed(T).await?;
    let (got_code, got_reason) = close.unwrap_or_else(|| panic!("no close frame (messages: {msgs:?})"));
    assert_eq!(got_code, code, "close code (reason {got_reason:?})");
    assert!(got_reason.contains(reason), "close reason {got_reason:?} does not mention {reason:?}");
    Ok(msgs
        .into_iter()
        .filter_map(|m| match m {
            Message::Error { message, .. } => Some(message),
            _ => None,
        })
        .collect())
}

fn assert_error_names(errors: &[String], what: &str) {
    assert!(errors.iter().any(|e| e.contains(what)), "no `error` message mentioning {what:?}: {errors:?}");
}

/// A `sync` frame encoded by the shared codec.
fn sync_frame(sender: &str, target: PeerId, doc: DocumentId, data: Vec<u8>) -> Vec<u8> {
    linli_shared::encode(&Message::Sync {
        sender_id: PeerId::new(sender.to_owned()).expect("peer id"),
        target_id: target,
        document_id: doc,
        data,
    })
}

#[tokio::test]
async fn malformed_cbor() -> anyhow::Result<()> {
    let s = Scene::new(&[], "malformed").await?;
    let mut raw = s.joined().await?;
    // A map of two entries whose first key is cut short.
    raw.send_bytes(vec![0xa2, 0x64, b't', b'y']).await?;
    let errors = expect_close(&mut raw, POLICY, "malformed CBOR").await?;
    assert_error_names(&errors, "malformed CBOR");
    // A map whose key uses a reserved additional-info value (28).
    let mut raw = s.joined().await?;
    raw.send_bytes(vec![0xa1, 0x1c, 0x00]).await?;
    let errors = expect_close(&mut raw, POLICY, "malformed CBOR").await?;
    assert_error_names(&errors, "malformed CBOR");
    // A valid message followed by a stray byte.
    let mut raw = s.joined().await?;
    let mut frame = linli_shared::encode(&Message::DocUnavailable {
        sender_id: PeerId::new("peer-bad".to_owned())?,
        target_id: s.server_peer(),
        document_id: s.stored,
    });
    frame.push(0x00);
    raw.send_bytes(frame).await?;
    let errors = expect_close(&mut raw, POLICY, "malformed CBOR").await?;
    assert_error_names(&errors, "malformed CBOR");
    s.finish().await
}

#[tokio::test]
async fn cbor_that_is_not_a_map() -> anyhow::Result<()> {
    let s = Scene::new(&[], "not_a_map").await?;
    let mut raw = s.joined().await?;
    // [1, "sync"]: well-formed CBOR, but an array.
    raw.send_bytes(vec![0x82, 0x01, 0x64, b's', b'y', b'n', b'c']).await?;
    let errors = expect_close(&mut raw, POLICY, "not a CBOR map").await?;
    assert_error_names(&errors, "not a CBOR map");
    s.finish().await
}

#[tokio::test]
async fn frame_over_the_size_limit() -> anyhow::Result<()> {
    let s = Scene::new(&["--max-frame-bytes", "65536"], "frame_too_large").await?;
    let mut raw = s.joined().await?;
    // A well-formed `sync` of about 100 KB: only its size is wrong.
    let frame = sync_frame("peer-bad", s.server_peer(), s.stored, vec![0x42; 100 * 1024]);
    assert!(frame.len() > 100_000);
    raw.send_bytes(frame).await?;
    expect_close(&mut raw, TOO_BIG, "too large").await?;
    s.finish().await
}

#[tokio::test]
async fn sync_data_that_is_not_an_automerge_sync_message() -> anyhow::Result<()> {
    let s = Scene::new(&[], "corrupt_sync_message").await?;
    let mut raw = s.joined().await?;
    // Aimed at the stored document itself.
    raw.send_bytes(sync_frame("peer-bad", s.server_peer(), s.stored, b"definitely not automerge".to_vec())).await?;
    let errors = expect_close(&mut raw, POLICY, "corrupt sync message").await?;
    assert_error_names(&errors, "corrupt sync message");
    assert_error_names(&errors, &s.stored.to_string());
    s.finish().await
}

#[tokio::test]
async fn document_id_that_is_not_bs58check() -> anyhow::Result<()> {
    let s = Scene::new(&[], "invalid_document_id").await?;
    let mut raw = s.joined().await?;
    let mut frame = sync_frame("peer-bad", s.server_peer(), s.stored, Vec::new());
    // Patch the last character of the id in place: still a CBOR text string of the same
    // length, still base58, but the checksum no longer matches.
    let id = s.stored.to_string();
    let at = frame.windows(id.len()).position(|w| w == id.as_bytes()).expect("document id in the frame");
    let last = at + id.len() - 1;
    frame[last] = if frame[last] == b'a' { b'b' } else { b'a' };
    raw.send_bytes(frame).await?;
    let errors = expect_close(&mut raw, POLICY, "invalid document id").await?;
    assert_error_names(&errors, "invalid document id");
    s.finish().await
}

#[tokio::test]
async fn a_message_before_join() -> anyhow::Result<()> {
    let mut s = Scene::new(&[], "before_join").await?;
    let data = s.change_carrying_sync_data();
    let mut raw = RawConn::connect(&s.url()).await?;
    // A real change to the stored document, sent without joining first.
    raw.send_bytes(sync_frame("peer-bad", s.server_peer(), s.stored, data)).await?;
    let errors = expect_close(&mut raw, POLICY, "before `join`").await?;
    assert_error_names(&errors, "`sync` before `join`");
    s.finish().await
}

#[tokio::test]
async fn join_offering_only_protocol_2() -> anyhow::Result<()> {
    let s = Scene::new(&[], "unsupported_version").await?;
    let mut raw = RawConn::connect(&s.url()).await?;
    raw.send(&Message::Join {
        sender_id: PeerId::new("peer-bad".to_owned())?,
        peer_metadata: None,
        supported_protocol_versions: Some(vec!["2".to_owned()]),
    })
    .await?;
    let (msgs, close) = raw.until_closed(T).await?;
    // The peer is told which version the server speaks, is not accepted, and is closed.
    assert!(!msgs.iter().any(|m| matches!(m, Message::Peer { .. })), "a `peer` reply to protocol 2: {msgs:?}");
    let errors: Vec<_> = msgs
        .iter()
        .filter_map(|m| match m {
            Message::Error { message, target_id, .. } => {
                assert_eq!(target_id.as_str(), "peer-bad", "the error is addressed to the joining peer");
                Some(message.clone())
            }
            _ => None,
        })
        .collect();
    assert_error_names(&errors, "unsupported protocol version");
    assert_error_names(&errors, "\"1\"");
    let (code, reason) = close.expect("a close frame");
    assert_eq!(code, POLICY);
    assert!(reason.contains("protocol version"), "close reason {reason:?}");
    s.finish().await
}

#[tokio::test]
async fn sync_with_another_peers_sender_id() -> anyhow::Result<()> {
    let mut s = Scene::new(&[], "wrong_sender").await?;
    let data = s.change_carrying_sync_data();
    let mut raw = s.joined().await?;
    // Joined as `peer-bad`, it sends the writer's change claiming to be the writer.
    raw.send_bytes(sync_frame("peer-writer", s.server_peer(), s.stored, data)).await?;
    let errors = expect_close(&mut raw, POLICY, "senderId").await?;
    assert_error_names(&errors, "senderId `peer-writer`");
    // The impersonated writer is still connected and unaffected.
    s.writer.pump_one(Duration::from_millis(50)).await?;
    assert!(s.writer.is_connected(), "the impersonated peer was disconnected");
    s.finish().await
}

#[tokio::test]
async fn a_text_frame() -> anyhow::Result<()> {
    let s = Scene::new(&[], "text_frame").await?;
    let mut raw = s.joined().await?;
    raw.send_text(r#"{"type":"sync"}"#).await?;
    expect_close(&mut raw, UNSUPPORTED_DATA, "binary").await?;
    s.finish().await
}

#[tokio::test]
async fn a_flood_of_small_messages() -> anyhow::Result<()> {
    let s = Scene::new(&["--max-messages-per-sec", "50", "--message-burst", "100"], "rate_limited").await?;
    let mut raw = s.joined().await?;
    // 1,000 valid, harmless messages (`doc-unavailable` about the stored document).
    let frame = linli_shared::encode(&Message::DocUnavailable {
        sender_id: PeerId::new("peer-bad".to_owned())?,
        target_id: s.server_peer(),
        document_id: s.stored,
    });
    let (sent, msgs, close) = raw.flood(vec![frame; 1000], T).await?;
    let (code, reason) = close.unwrap_or_else(|| panic!("no close frame after {sent} messages (got {msgs:?})"));
    assert_eq!(code, POLICY, "close code (reason {reason:?})");
    assert!(reason.contains("too many messages"), "close reason {reason:?}");
    let errors: Vec<_> = msgs
        .iter()
        .filter_map(|m| match m {
            Message::Error { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect();
    assert_error_names(&errors, "too many messages");
    // The server took the burst allowance (the join used one token), then cut the flood.
    let taken = s.c.server.metric("linli_messages_in_total{type=\"doc-unavailable\"}").await?;
    assert!(taken >= 90.0, "only {taken} messages were taken before the close: the burst is 100");
    assert!(taken < 1000.0 && sent > 0, "all {taken} messages were taken: no rate limit");
    s.finish().await
}

/// A burst within the limit is fine: the rate limit does not close a peer that
/// reconnects with a backlog.
#[tokio::test]
async fn a_burst_within_the_limit_is_served() -> anyhow::Result<()> {
    let c = Community::start(&["--max-messages-per-sec", "50", "--message-burst", "100"]).await?;
    let token = c.token(ALICE).await?;
    let mut raw = RawConn::connect(&c.server.ws_url(&token)).await?;
    raw.join("peer-burst").await?;
    // 90 requests for documents nobody has: each gets its own `doc-unavailable`.
    let empty = automerge::AutoCommit::new().sync().generate_sync_message(&mut automerge::sync::State::new());
    let data = empty.expect("a first sync message").encode();
    let mut ids = std::collections::HashSet::new();
    for _ in 0..90 {
        let id = DocumentId::random();
        ids.insert(id);
        raw.send(&Message::Request {
            sender_id: PeerId::new("peer-burst".to_owned())?,
            target_id: PeerId::new("server".to_owned())?,
            document_id: id,
            data: data.clone(),
        })
        .await?;
    }
    while !ids.is_empty() {
        match raw.recv(T).await? {
            Received::Message(Message::DocUnavailable { document_id, .. }) => {
                ids.remove(&document_id);
            }
            Received::Message(other) => panic!("unexpected {other:?}"),
            Received::Closed(c) => panic!("closed within the burst allowance: {c:?}"),
        }
    }
    Ok(())
}
