//! A hostile or broken peer at the WebSocket layer, below anything a WebSocket library
//! would send (issue 9 items 9 and 10), against the real binary: a raw TCP client does the
//! upgrade by hand, then announces a 4 GiB frame, splits a message into fragments whose
//! sum is over the limit, or stops reading its socket. The server must refuse at the frame
//! header without buffering the payload, and drop a peer that does not read, without
//! either one holding memory or blocking the server.

use linli_shared::{Message, PeerId};
use linli_tests::domain::{create, household};
use linli_tests::server::{metric_value, ALICE, CAROL};
use linli_tests::{Community, ServerProcess, TestPeer};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const T: Duration = Duration::from_secs(20);
const MIB: u64 = 1024 * 1024;
/// Close code 1009, "message too big" (RFC 6455 §7.4.1).
const TOO_BIG: u16 = 1009;

const OP_CONTINUATION: u8 = 0x0;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const FIN: u8 = 0x80;
/// Every client frame is masked (RFC 6455 §5.3); the key is arbitrary.
const MASK: [u8; 4] = [0x1f, 0x2e, 0x3d, 0x4c];

/// Socket buffer sizes the raw client asks for (0: the kernel's default).
#[derive(Debug, Clone, Copy, Default)]
struct Buffers {
    send: u32,
    recv: u32,
}

/// Opens a TCP connection to the server and upgrades it to the `/sync` WebSocket by hand.
async fn upgrade(server: &ServerProcess, token: &str, buffers: Buffers) -> anyhow::Result<TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    if buffers.send > 0 {
        socket.set_send_buffer_size(buffers.send)?;
    }
    if buffers.recv > 0 {
        socket.set_recv_buffer_size(buffers.recv)?;
    }
    let mut stream = socket.connect(server.addr).await?;
    let request = format!(
        "GET /sync?token={token} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        server.addr
    );
    stream.write_all(request.as_bytes()).await?;
    // The response head, byte by byte so that nothing after it is consumed.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        anyhow::ensure!(head.len() < 8192, "no end of the upgrade response head");
        head.push(stream.read_u8().await?);
    }
    let head = String::from_utf8_lossy(&head);
    anyhow::ensure!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
    Ok(stream)
}

/// The header of a masked client frame: `first` is FIN and opcode, `len` the payload
/// length it announces.
fn frame_header(first: u8, len: u64) -> Vec<u8> {
    let mut h = vec![first];
    match len {
        0..=125 => h.push(0x80 | len as u8),
        126..=0xffff => {
            h.push(0x80 | 126);
            h.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            h.push(0x80 | 127);
            h.extend_from_slice(&len.to_be_bytes());
        }
    }
    h.extend_from_slice(&MASK);
    h
}

/// A whole masked client frame.
fn frame(first: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = frame_header(first, payload.len() as u64);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ MASK[i % 4]));
    f
}

/// Reads one server frame (unmasked): its first byte (FIN, opcode) and payload; `None`
/// when the connection ends.
async fn read_frame(r: &mut (impl AsyncRead + Unpin)) -> Option<(u8, Vec<u8>)> {
    let mut h = [0u8; 2];
    r.read_exact(&mut h).await.ok()?;
    let len = match h[1] & 0x7f {
        126 => u64::from(r.read_u16().await.ok()?),
        127 => r.read_u64().await.ok()?,
        n => u64::from(n),
    };
    let mut payload = vec![0u8; usize::try_from(len).ok()?];
    r.read_exact(&mut payload).await.ok()?;
    Some((h[0], payload))
}

/// Reads server frames until a close frame (its code) or the end of the connection (`None`).
async fn read_until_close(r: &mut (impl AsyncRead + Unpin)) -> Option<u16> {
    loop {
        let (first, payload) = read_frame(r).await?;
        if first & 0x0f == OP_CLOSE {
            return Some(payload.get(..2).map(|c| u16::from_be_bytes([c[0], c[1]])).unwrap_or(1005));
        }
    }
}

/// Reads server frames until a protocol message.
async fn read_message(r: &mut (impl AsyncRead + Unpin)) -> anyhow::Result<Message> {
    loop {
        let (first, payload) = read_frame(r).await.ok_or_else(|| anyhow::anyhow!("the connection ended"))?;
        if first & 0x0f == OP_BINARY {
            return Ok(linli_shared::decode(&payload, &Default::default())?);
        }
    }
}

/// Item 9: a frame whose header announces 4 GiB is refused at its header with 1009. The
/// client then streams 48 MiB of "payload": the server reads no more of it (the client's
/// writes fail after a little), and its memory does not grow with what was sent.
#[tokio::test]
async fn a_frame_announcing_4_gib_is_refused_at_its_header() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let token = c.token(ALICE).await?;
    // A small send buffer, so that what the client's writes "accept" is what the server's
    // side took, not what the client's own kernel queued.
    let stream = upgrade(&c.server, &token, Buffers { send: 64 * 1024, recv: 0 }).await?;
    c.server.reset_peak_memory()?;
    let before = c.server.memory()?;
    let (mut rd, mut wr) = stream.into_split();
    let streaming = tokio::spawn(async move {
        let mut sent = 0u64;
        if wr.write_all(&frame_header(FIN | OP_BINARY, 4 << 30)).await.is_err() {
            return sent;
        }
        let chunk = vec![0x5a; 64 * 1024];
        while sent < 48 * MIB {
            if wr.write_all(&chunk).await.is_err() {
                break;
            }
            sent += chunk.len() as u64;
        }
        sent
    });
    let sent = tokio::time::timeout(T, streaming)
        .await
        .map_err(|_| anyhow::anyhow!("the server neither read nor refused the payload within {T:?}"))??;
    let after = c.server.memory()?;
    println!(
        "accepted {:.2} MiB of 48; server RSS {:.1} → {:.1} MiB (peak {:.1} MiB)",
        sent as f64 / MIB as f64,
        before.rss as f64 / MIB as f64,
        after.rss as f64 / MIB as f64,
        after.peak as f64 / MIB as f64
    );
    assert!(sent < 8 * MIB, "the server accepted {sent} bytes of a frame it should have refused at its header");
    let grown = after.peak.saturating_sub(before.rss);
    assert!(grown < 16 * MIB, "the server's memory grew by {grown} bytes ({before:?} → {after:?})");
    let close = tokio::time::timeout(T, read_until_close(&mut rd)).await?;
    assert_eq!(close, Some(TOO_BIG), "the server should close with 1009 (message too big)");
    Ok(())
}

/// Item 9: fragments of one message, each under the limit, whose sum is over it: refused
/// at the header of the fragment that goes over, before its payload is sent.
#[tokio::test]
async fn fragments_over_the_limit_in_sum_are_refused_at_the_header() -> anyhow::Result<()> {
    let c = Community::start(&["--max-frame-bytes", "65536"]).await?;
    let token = c.token(ALICE).await?;
    let mut stream = upgrade(&c.server, &token, Buffers::default()).await?;
    // 40 KiB, then a continuation announcing 40 KiB more: 80 KiB > 64 KiB. Its payload
    // never comes, so only a refusal at the header closes the connection.
    stream.write_all(&frame(OP_BINARY, &[0x42; 40 * 1024])).await?;
    stream.write_all(&frame_header(OP_CONTINUATION, 40 * 1024)).await?;
    let close = tokio::time::timeout(T, read_until_close(&mut stream))
        .await
        .map_err(|_| anyhow::anyhow!("no close within {T:?}: the server waited for the fragment's payload"))?;
    assert_eq!(close, Some(TOO_BIG));
    Ok(())
}

/// An empty Automerge sync message: "I have nothing of this document".
fn nothing_yet() -> Vec<u8> {
    use automerge::sync::SyncDoc;
    let mut doc = automerge::AutoCommit::new();
    let msg = doc.sync().generate_sync_message(&mut automerge::sync::State::new()).expect("a first message");
    msg.encode()
}

/// Ephemeral data as automerge-repo sends presence: a CBOR map, here `{"presence": <n bytes>}`.
fn presence(n: u32) -> Vec<u8> {
    let mut data = vec![0xa1, 0x68];
    data.extend_from_slice(b"presence");
    data.push(0x5a);
    data.extend_from_slice(&n.to_be_bytes());
    data.extend((0..n).map(|i| (i % 251) as u8));
    data
}

/// Item 10: a peer that joins, asks for a document, then never reads its socket while the
/// server has a lot to send it (another reader of the document broadcasts 12 MiB of
/// presence). With a ping every second it is dropped within about two intervals, its TCP
/// connection is reset, and the other peer is served as before.
#[tokio::test]
async fn a_peer_that_stops_reading_is_dropped_within_two_ping_intervals() -> anyhow::Result<()> {
    let c = Community::start(&["--ping-interval-secs", "1"]).await?;
    let s = &c.server;
    let mut alice = TestPeer::new("alice");
    alice.connect(&s.ws_url(&c.token(ALICE).await?)).await?;
    let h = create(&mut alice, household("g1", "701"));
    alice.sync_all(T).await?;

    // Carol, a reader of the household, with a small receive buffer, joins and asks for it.
    let stream = upgrade(s, &c.token(CAROL).await?, Buffers { send: 0, recv: 4096 }).await?;
    let connected = tokio::time::Instant::now();
    let (mut rd, mut wr) = stream.into_split();
    let carol = PeerId::new("peer-carol".to_owned())?;
    let join = Message::Join { sender_id: carol.clone(), peer_metadata: None, supported_protocol_versions: None };
    wr.write_all(&frame(FIN | OP_BINARY, &linli_shared::encode(&join))).await?;
    let Message::Peer { sender_id: server, .. } = read_message(&mut rd).await? else { anyhow::bail!("no `peer`") };
    let request = Message::Request { sender_id: carol, target_id: server.clone(), document_id: h, data: nothing_yet() };
    wr.write_all(&frame(FIN | OP_BINARY, &linli_shared::encode(&request))).await?;
    loop {
        match read_message(&mut rd).await? {
            Message::Sync { document_id, .. } if document_id == h => break,
            Message::DocUnavailable { .. } => anyhow::bail!("carol may read the household"),
            _ => {}
        }
    }
    // From here on carol reads nothing, and alice broadcasts 200 × 60 KiB to the household.
    for count in 1..=200 {
        let msg = Message::Ephemeral {
            sender_id: alice.peer_id.clone(),
            target_id: server.clone(),
            document_id: h,
            session_id: "presence".to_owned(),
            count,
            data: presence(60 * 1024),
        };
        anyhow::ensure!(alice.send_message(&msg).await, "alice's connection broke");
    }
    let dropped = wait_for_drop(s, &mut alice, Duration::from_secs(10)).await?;
    let after = connected.elapsed();
    println!(
        "the peer that stopped reading was dropped {:.2} s after it connected (ping every 1 s)",
        after.as_secs_f64()
    );
    anyhow::ensure!(dropped, "the peer that stopped reading is still connected {after:?} after it connected");
    assert!(after < Duration::from_secs(4), "dropped only {after:?} after connecting, with a ping every second");
    let text = s.metrics_text().await?;
    let counted: f64 = ["no_pong", "not_reading"]
        .iter()
        .filter_map(|code| metric_value(&text, &format!("linli_peers_dropped_total{{code=\"{code}\"}}")))
        .sum();
    assert_eq!(counted, 1.0, "one peer dropped for not reading, in linli_peers_dropped_total");
    // Its TCP connection is gone: reading ends (what was still buffered, then a reset).
    let mut sink = vec![0u8; 64 * 1024];
    let ended = tokio::time::timeout(T, async {
        loop {
            match rd.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the dropped peer's TCP connection is still open");
    // The peer that reads is still served.
    anyhow::ensure!(alice.is_connected(), "alice was dropped too");
    alice.sync_all(T).await?;
    Ok(())
}

/// Polls the metrics until only one connection is left (true) or `within` passed (false),
/// keeping `alice` reading meanwhile (she answers the server's pings).
async fn wait_for_drop(s: &ServerProcess, alice: &mut TestPeer, within: Duration) -> anyhow::Result<bool> {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if s.metric("linli_connections").await? == 1.0 {
            return Ok(true);
        }
        alice.pump_one(Duration::from_millis(50)).await?;
    }
    Ok(false)
}
