//! One automerge-repo WebSocket connection to the server under test, with every payload
//! byte counted (both directions) for the "bytes on the wire per change" figure.

use anyhow::{anyhow, bail, Context};
use futures_util::{SinkExt, StreamExt};
use linli_shared::{Message, PeerId, PeerMetadata, StorageId, WireLimits};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// WebSocket payload bytes sent by every connection of this process.
pub static BYTES_SENT: AtomicU64 = AtomicU64::new(0);
/// WebSocket payload bytes received by every connection of this process.
pub static BYTES_RECEIVED: AtomicU64 = AtomicU64::new(0);
/// Connection attempts that failed and were retried.
pub static CONNECT_RETRIES: AtomicU64 = AtomicU64::new(0);

/// Bytes sent and received so far.
pub fn wire_bytes() -> (u64, u64) {
    (BYTES_SENT.load(Ordering::Relaxed), BYTES_RECEIVED.load(Ordering::Relaxed))
}

/// Where the server under test is, with its token already in the URL.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
}

impl Target {
    /// `url` plus `?token=` when a token is given.
    pub fn new(url: &str, token: Option<&str>) -> Self {
        let url = match token {
            Some(t) => {
                let sep = if url.contains('?') { '&' } else { '?' };
                format!("{url}{sep}token={t}")
            }
            None => url.to_owned(),
        };
        Target { url }
    }
}

/// Logs in to a Linli server (`POST /api/auth/login`) and returns the session token.
pub async fn login(http_base: &str, username: &str, password: &str) -> anyhow::Result<String> {
    let resp = reqwest::Client::new()
        .post(format!("{}/api/auth/login", http_base.trim_end_matches('/')))
        .json(&serde_json::json!({"username": username, "password": password}))
        .send()
        .await
        .context("login request")?;
    if !resp.status().is_success() {
        bail!("login of {username} failed: {}", resp.status());
    }
    let body: serde_json::Value = resp.json().await?;
    body["token"].as_str().map(str::to_owned).ok_or_else(|| anyhow!("no token in the login answer"))
}

/// A joined connection.
#[derive(Debug)]
pub struct Conn {
    ws: Ws,
    pub me: PeerId,
    pub server: PeerId,
}

fn ws_config() -> WebSocketConfig {
    // Small write buffers: the idle workload holds ten thousand of these in one process.
    WebSocketConfig {
        write_buffer_size: 0,
        max_frame_size: Some(64 << 20),
        max_message_size: Some(64 << 20),
        ..Default::default()
    }
}

impl Conn {
    /// Connects (retrying refused or reset attempts for a while: a burst of connects can
    /// overflow the listen backlog), sends `join` and waits for the server's `peer`.
    pub async fn open(target: &Target, me: PeerId, storage: Option<StorageId>) -> anyhow::Result<Conn> {
        let mut delay = Duration::from_millis(20);
        let mut attempt = 0;
        let mut ws = loop {
            attempt += 1;
            match tokio::time::timeout(
                Duration::from_secs(30),
                tokio_tungstenite::connect_async_with_config(target.url.as_str(), Some(ws_config()), true),
            )
            .await
            {
                Ok(Ok((ws, _))) => break ws,
                Ok(Err(e)) if attempt >= 30 => return Err(e).context("connecting"),
                Err(_) if attempt >= 30 => bail!("connecting timed out"),
                Ok(Err(tokio_tungstenite::tungstenite::Error::Http(resp))) if resp.status().is_client_error() => {
                    bail!("the server refused the upgrade: {}", resp.status())
                }
                _ => {
                    CONNECT_RETRIES.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(1));
                }
            }
        };
        let join = Message::Join {
            sender_id: me.clone(),
            peer_metadata: Some(PeerMetadata { is_ephemeral: storage.is_none(), storage_id: storage }),
            supported_protocol_versions: Some(vec!["1".to_owned()]),
        };
        let bytes = linli_shared::encode(&join);
        BYTES_SENT.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        ws.send(WsMessage::Binary(bytes)).await.context("sending join")?;
        let server = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                match next_message(&mut ws).await? {
                    Message::Peer { sender_id, .. } => return Ok(sender_id),
                    Message::Error { message, .. } => bail!("server error on join: {message}"),
                    _ => continue,
                }
            }
        })
        .await
        .map_err(|_| anyhow!("no `peer` answer to `join` within 60 s"))??;
        Ok(Conn { ws, me, server })
    }

    /// Sends one message.
    pub async fn send(&mut self, msg: &Message) -> anyhow::Result<()> {
        let bytes = linli_shared::encode(msg);
        BYTES_SENT.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        self.ws.send(WsMessage::Binary(bytes)).await.context("sending")?;
        Ok(())
    }

    /// Sends several messages with one flush.
    pub async fn send_all(&mut self, msgs: Vec<Message>) -> anyhow::Result<()> {
        if msgs.is_empty() {
            return Ok(());
        }
        for msg in &msgs {
            let bytes = linli_shared::encode(msg);
            BYTES_SENT.fetch_add(bytes.len() as u64, Ordering::Relaxed);
            self.ws.feed(WsMessage::Binary(bytes)).await.context("sending")?;
        }
        self.ws.flush().await.context("sending")?;
        Ok(())
    }

    /// The next protocol message. A close, a failure or an `error` message is an error.
    /// Cancel safe.
    pub async fn recv(&mut self) -> anyhow::Result<Message> {
        match next_message(&mut self.ws).await? {
            Message::Error { message, .. } => bail!("server error: {message}"),
            m => Ok(m),
        }
    }

    /// Closes the connection politely and waits (briefly) for the server's close.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), async { while let Some(Ok(_)) = self.ws.next().await {} })
            .await;
    }
}

async fn next_message(ws: &mut Ws) -> anyhow::Result<Message> {
    loop {
        match ws.next().await {
            Some(Ok(WsMessage::Binary(b))) => {
                BYTES_RECEIVED.fetch_add(b.len() as u64, Ordering::Relaxed);
                let limits = WireLimits { max_frame_bytes: 64 << 20, ..WireLimits::default() };
                return linli_shared::decode(&b, &limits).map_err(|e| anyhow!("undecodable frame: {e}"));
            }
            Some(Ok(WsMessage::Close(frame))) => {
                bail!(
                    "the server closed the connection: {:?}",
                    frame.map(|f| (u16::from(f.code), f.reason.into_owned()))
                )
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => bail!("connection failed: {e}"),
            None => bail!("connection closed"),
        }
    }
}
