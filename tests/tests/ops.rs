//! What an operator and a phone can rely on: health and metrics, one connection per peer
//! id, dead sockets dropped, no document sent unasked, and a storage id that survives a
//! restart.

use automerge::sync::SyncDoc;
use linli_shared::{DocumentId, Message, PeerId};
use linli_tests::domain::{create, household, set};
use linli_tests::peer::Received;
use linli_tests::server::{metric_value, ALICE, BOB, CAROL};
use linli_tests::{Community, RawConn, ServerProcess, TestPeer};
use serde_json::json;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);
const POLICY: u16 = 1008;
const GOING_AWAY: u16 = 1001;

fn empty_sync_message() -> Vec<u8> {
    let mut doc = automerge::AutoCommit::new();
    let msg = doc.sync().generate_sync_message(&mut automerge::sync::State::new()).expect("first message");
    msg.encode()
}

fn request(peer: &str, doc: DocumentId) -> Message {
    Message::Request {
        sender_id: PeerId::new(peer.to_owned()).expect("peer id"),
        target_id: PeerId::new("server".to_owned()).expect("peer id"),
        document_id: doc,
        data: empty_sync_message(),
    }
}

/// Polls `series` of `/metrics` until `ok` holds for it, within `within`.
async fn wait_metric(server: &ServerProcess, series: &str, within: Duration, ok: impl Fn(f64) -> bool) -> f64 {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let v = server.metric(series).await.expect("GET /metrics");
        if ok(v) {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "{series} is still {v} after {within:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn healthz_is_ok() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let resp = reqwest::get(c.server.http("/healthz")).await?;
    assert_eq!(resp.status(), 200);
    let body: serde_json::Value = resp.json().await?;
    assert_eq!(body["status"], "ok");
    Ok(())
}

#[tokio::test]
async fn metrics_is_prometheus_text_with_every_documented_series() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let resp = reqwest::get(c.server.http("/metrics")).await?;
    assert_eq!(resp.status(), 200);
    let ctype = resp.headers().get("content-type").expect("content-type").to_str()?.to_owned();
    assert!(ctype.starts_with("application/openmetrics-text") || ctype.starts_with("text/plain"), "{ctype}");
    let text = resp.text().await?;
    for (name, kind) in [
        ("linli_connections", "gauge"),
        ("linli_docs_loaded", "gauge"),
        ("linli_changes_accepted", "counter"),
        ("linli_bytes_in", "counter"),
        ("linli_bytes_out", "counter"),
        ("linli_flush_seconds", "histogram"),
        ("linli_evictions", "counter"),
        ("linli_protocol_errors", "counter"),
    ] {
        assert!(text.contains(&format!("# TYPE {name} {kind}\n")), "no `# TYPE {name} {kind}` in:\n{text}");
        assert!(text.contains(&format!("# HELP {name} ")), "no help for {name}");
    }
    for series in [
        "linli_connections",
        "linli_docs_loaded",
        "linli_changes_accepted_total",
        "linli_bytes_in_total",
        "linli_bytes_out_total",
        "linli_evictions_total",
        "linli_flush_seconds_count",
        "linli_flush_seconds_bucket{le=\"+Inf\"}",
    ] {
        assert!(metric_value(&text, series).is_some(), "no value for {series} in:\n{text}");
    }
    assert_eq!(text.lines().last(), Some("# EOF"), "OpenMetrics text ends with `# EOF`");
    Ok(())
}

#[tokio::test]
async fn metrics_count_a_synced_document() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let s = &c.server;
    let text = s.metrics_text().await?;
    let get = |t: &str, k: &str| metric_value(t, k).unwrap_or(0.0);
    let (changes0, in0, out0, flushes0) = (
        get(&text, "linli_changes_accepted_total"),
        get(&text, "linli_bytes_in_total"),
        get(&text, "linli_bytes_out_total"),
        get(&text, "linli_flush_seconds_count"),
    );

    let mut alice = TestPeer::new("alice");
    alice.connect(&s.ws_url(&c.token(ALICE).await?)).await?;
    // Three changes: the household as registered, then two edits.
    let id = create(&mut alice, household("g1", "501"));
    set(&mut alice, &id, "phone", json!("13912345678"));
    set(&mut alice, &id, "notes", json!("独居老人"));
    assert_eq!(alice.doc(&id).get_changes(&[]).len(), 3);
    alice.sync_all(T).await?;

    let text = s.metrics_text().await?;
    assert!(get(&text, "linli_changes_accepted_total") >= changes0 + 3.0, "{text}");
    assert!(get(&text, "linli_docs_loaded") >= 1.0, "{text}");
    assert!(get(&text, "linli_connections") >= 1.0, "{text}");
    assert!(get(&text, "linli_bytes_in_total") > in0, "{text}");
    assert!(get(&text, "linli_bytes_out_total") > out0, "{text}");
    assert!(get(&text, "linli_flush_seconds_count") > flushes0, "the changes were not flushed: {text}");
    assert!(get(&text, "linli_messages_in_total{type=\"join\"}") >= 1.0, "{text}");
    // Labels carry fixed codes only: no document ids, user names or content.
    for private in [id.to_string(), "alice".to_owned(), "13912345678".to_owned(), "独居老人".to_owned()] {
        assert!(!text.contains(&private), "/metrics mentions {private:?}");
    }

    // The connection gauge goes down when the phone drops off without a goodbye.
    alice.disconnect();
    wait_metric(s, "linli_connections", Duration::from_secs(10), |v| v == 0.0).await;
    Ok(())
}

#[tokio::test]
async fn a_rejoin_with_the_same_peer_id_replaces_the_old_connection() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let token = c.token(ALICE).await?;
    let mut old = RawConn::connect(&c.server.ws_url(&token)).await?;
    old.join("peer-phone").await?;
    let mut new = RawConn::connect(&c.server.ws_url(&c.token(ALICE).await?)).await?;
    new.join("peer-phone").await?;

    let (_, close) = old.until_closed(T).await?;
    let (code, reason) = close.expect("a close frame for the replaced connection");
    assert_eq!(code, POLICY);
    assert!(reason.contains("replaced"), "close reason {reason:?}");

    // The same peer id of another user is another peer: it replaces nothing.
    let mut bobs = RawConn::connect(&c.server.ws_url(&c.token(BOB).await?)).await?;
    bobs.join("peer-phone").await?;

    for (raw, who) in [(&mut new, "alice"), (&mut bobs, "bob")] {
        let id = DocumentId::random();
        raw.send(&request("peer-phone", id)).await?;
        match raw.recv(T).await? {
            Received::Message(Message::DocUnavailable { document_id, .. }) => assert_eq!(document_id, id),
            other => panic!("{who}'s connection: expected doc-unavailable, got {other:?}"),
        }
    }
    wait_metric(&c.server, "linli_connections", T, |v| v == 2.0).await;
    Ok(())
}

#[tokio::test]
async fn a_socket_that_never_answers_pings_is_dropped() -> anyhow::Result<()> {
    let c = Community::start(&["--ping-interval-secs", "1"]).await?;
    let token = c.token(ALICE).await?;
    let mut dead = RawConn::connect(&c.server.ws_url(&token)).await?;
    dead.join("peer-dead").await?;
    let mut live = RawConn::connect(&c.server.ws_url(&token)).await?;
    live.join("peer-live").await?;
    wait_metric(&c.server, "linli_connections", T, |v| v == 2.0).await;

    // `dead` is never read again, so it never answers a ping. `live` keeps reading (and so
    // answering pings) for several ping intervals and receives nothing, not even a close.
    assert!(live.recv(Duration::from_millis(3500)).await.is_err(), "the live connection received something");
    wait_metric(&c.server, "linli_connections", Duration::from_secs(10), |v| v == 1.0).await;

    // The live connection still works.
    let id = DocumentId::random();
    live.send(&request("peer-live", id)).await?;
    match live.recv(T).await? {
        Received::Message(Message::DocUnavailable { document_id, .. }) => assert_eq!(document_id, id),
        other => panic!("expected doc-unavailable, got {other:?}"),
    }
    // What the dead socket would have read, had it read: a going-away close for no pong.
    let (_, close) = dead.until_closed(T).await?;
    let (code, reason) = close.expect("a close frame");
    assert_eq!(code, GOING_AWAY);
    assert!(reason.contains("pong"), "close reason {reason:?}");
    Ok(())
}

#[tokio::test]
async fn a_request_for_an_unknown_document_gets_doc_unavailable() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let mut raw = RawConn::connect(&c.server.ws_url(&c.token(BOB).await?)).await?;
    let Message::Peer { sender_id: server_peer, .. } = raw.join("peer-asker").await? else { unreachable!() };
    let id = DocumentId::random();
    raw.send(&request("peer-asker", id)).await?;
    match raw.recv(T).await? {
        Received::Message(Message::DocUnavailable { sender_id, target_id, document_id }) => {
            assert_eq!(document_id, id);
            assert_eq!(target_id.as_str(), "peer-asker");
            assert_eq!(sender_id, server_peer);
        }
        other => panic!("expected doc-unavailable, got {other:?}"),
    }
    // Nothing was created by asking: asking again gives the same answer.
    raw.send(&request("peer-asker", id)).await?;
    assert!(matches!(raw.recv(T).await?, Received::Message(Message::DocUnavailable { .. })));
    Ok(())
}

#[tokio::test]
async fn the_server_sends_no_document_nobody_asked_for() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let mut a = TestPeer::new("a");
    a.connect(&c.server.ws_url(&c.token(ALICE).await?)).await?;
    let mut b = RawConn::connect(&c.server.ws_url(&c.token(ALICE).await?)).await?;
    b.join("peer-b").await?;
    // B is an active peer of some other document.
    let other = DocumentId::random();
    b.send(&request("peer-b", other)).await?;
    assert!(matches!(b.recv(T).await?, Received::Message(Message::DocUnavailable { .. })));

    let id = create(&mut a, household("g1", "501"));
    a.sync_all(T).await?;
    // Another edit while B is connected: still nothing for B.
    set(&mut a, &id, "notes", json!("独居老人"));
    a.sync_all(T).await?;
    match b.recv(Duration::from_millis(1500)).await {
        Err(_) => {}
        Ok(got) => panic!("B received something it did not ask for: {got:?}"),
    }
    // A peer that joins later is not told about it either, though it may read it (carol
    // coordinates the same grid).
    let mut late = RawConn::connect(&c.server.ws_url(&c.token(CAROL).await?)).await?;
    late.join("peer-late").await?;
    assert!(late.recv(Duration::from_millis(1000)).await.is_err(), "a new peer was sent something unasked");

    // Once B asks, it gets the document, and from then on A's changes reach it.
    b.send(&request("peer-b", id)).await?;
    match b.recv(T).await? {
        Received::Message(Message::Sync { document_id, data, .. }) => {
            assert_eq!(document_id, id);
            assert!(!automerge::sync::Message::decode(&data)?.heads.is_empty());
        }
        other => panic!("expected the document, got {other:?}"),
    }
    set(&mut a, &id, "notes", json!("独居老人，需要药品"));
    a.sync_all(T).await?;
    let deadline = tokio::time::Instant::now() + T;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match b.recv(left).await? {
            Received::Message(Message::Sync { document_id, .. }) if document_id == id => break,
            Received::Message(Message::Sync { document_id, .. }) => panic!("a sync for {document_id}, unasked"),
            Received::Message(_) => continue,
            Received::Closed(c) => panic!("B was closed: {c:?}"),
        }
    }
    Ok(())
}

#[tokio::test]
async fn the_storage_id_survives_a_restart() -> anyhow::Result<()> {
    let mut c = Community::start(&[]).await?;
    let token = c.token(ALICE).await?;
    let peer_reply = |m: Message| match m {
        Message::Peer { sender_id, peer_metadata, selected_protocol_version, target_id } => {
            assert_eq!(selected_protocol_version, "1");
            assert_eq!(target_id.as_str(), "peer-phone");
            assert!(!peer_metadata.is_ephemeral, "the server must not call itself ephemeral");
            (sender_id, peer_metadata.storage_id.expect("the server advertises a storageId"))
        }
        other => panic!("expected peer, got {other:?}"),
    };
    let mut raw = RawConn::connect(&c.server.ws_url(&token)).await?;
    let (peer1, storage1) = peer_reply(raw.join("peer-phone").await?);
    assert!(!storage1.as_str().is_empty());
    drop(raw);

    c.server.restart().await?;
    // Tokens survive the restart too (the signing key is kept in the store).
    let mut raw = RawConn::connect(&c.server.ws_url(&token)).await?;
    let (peer2, storage2) = peer_reply(raw.join("peer-phone").await?);
    assert_eq!(storage2, storage1, "storageId changed across a restart");
    assert_eq!(peer2, peer1, "the server's peer id changed across a restart");

    // A different store has a different storage id.
    let other = Community::start(&[]).await?;
    let mut raw = RawConn::connect(&other.server.ws_url(&other.token(ALICE).await?)).await?;
    let (_, storage3) = peer_reply(raw.join("peer-phone").await?);
    assert_ne!(storage3, storage1);
    Ok(())
}

/// The server holds as many sockets as `max_connections` (by default as many as its
/// open-files limit leaves room for); one more is refused with 503 `busy`, before it can
/// exhaust the descriptors the store needs — and the sockets already open keep working.
#[tokio::test]
async fn connections_beyond_max_connections_are_refused_busy() -> anyhow::Result<()> {
    let c = Community::start(&["--max-connections", "2"]).await?;
    let (ta, tb) = (c.token(ALICE).await?, c.token(BOB).await?);
    let mut first = TestPeer::new("first");
    first.connect(&c.server.ws_url(&ta)).await?;
    let mut second = TestPeer::new("second");
    second.connect(&c.server.ws_url(&tb)).await?;
    let mut third = TestPeer::new("third");
    let err = third.connect(&c.server.ws_url(&ta)).await.expect_err("a third socket was accepted");
    assert!(format!("{err:#}").contains("503"), "{err:#}");
    assert_eq!(c.server.metric("linli_auth_failures_total{code=\"server_full\"}").await?, 1.0);
    let id = create(&mut first, household("g1", "701"));
    first.sync_all(Duration::from_secs(15)).await?;
    assert!(!first.docs[&id].unavailable);
    // One leaves: there is room again.
    second.disconnect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut again = TestPeer::new("again");
        if again.connect(&c.server.ws_url(&tb)).await.is_ok() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no room after a socket closed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
