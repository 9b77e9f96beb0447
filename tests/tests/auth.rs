//! Authentication at the WebSocket upgrade and the session API: who may open `/sync`, how
//! a token is presented (query, bearer header, cookie with an allowed Origin), and that an
//! expired, revoked or replaced token stops working, closing open sockets where it must.

use linli_shared::{Message, PeerId};
use linli_tests::peer::Received;
use linli_tests::server::{linli_cli, ALICE, BOB};
use linli_tests::{Community, RawConn, ServerProcess};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const T: Duration = Duration::from_secs(20);
const POLICY: u16 = 1008;

/// An upgrade request to `/sync` of `server` (no token) with extra headers.
fn sync_request(server: &ServerProcess, query: &str, headers: &[(&str, &str)]) -> Request {
    let mut req = format!("ws://{}/sync{query}", server.addr).into_client_request().expect("request");
    for (k, v) in headers {
        let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).expect("header name");
        req.headers_mut().insert(name, HeaderValue::from_str(v).expect("header value"));
    }
    req
}

/// Attempts the upgrade: the connection, or the HTTP status it was refused with.
async fn upgrade(req: Request) -> Result<RawConn, u16> {
    match RawConn::connect_request(req).await {
        Ok(raw) => Ok(raw),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("upgrade failed without an HTTP answer: {e}"),
    }
}

/// The upgrade must be refused with `status`.
async fn assert_refused(req: Request, status: u16) {
    match upgrade(req).await {
        Ok(_) => panic!("the upgrade was accepted; expected HTTP {status}"),
        Err(got) => assert_eq!(got, status, "HTTP status of the refused upgrade"),
    }
}

/// The connection works: `join` gets `peer`, and a request for an unknown document gets
/// `doc-unavailable`.
async fn assert_works(mut raw: RawConn, peer: &str) -> anyhow::Result<RawConn> {
    raw.join(peer).await?;
    raw.ask_for_unknown_document(peer, T).await?;
    Ok(raw)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn me(server: &ServerProcess, token: &str) -> anyhow::Result<(u16, Value)> {
    let resp = reqwest::Client::new().get(server.http("/api/me")).header("authorization", bearer(token)).send().await?;
    let status = resp.status().as_u16();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

async fn login_response(server: &ServerProcess, user: &str, password: &str) -> anyhow::Result<reqwest::Response> {
    Ok(reqwest::Client::new()
        .post(server.http("/api/auth/login"))
        .json(&serde_json::json!({"username": user, "password": password}))
        .send()
        .await?)
}

// Minimal base64url (no padding), to take tokens apart and forge bad ones.
const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64url_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn b64url_decode(s: &str) -> Vec<u8> {
    let vals: Vec<u32> =
        s.bytes().map(|c| B64.iter().position(|&b| b == c).expect("base64url character") as u32).collect();
    let mut out = Vec::new();
    for chunk in vals.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, v)| acc | (v << (18 - 6 * i)));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    serde_json::from_slice(&b64url_decode(payload)).expect("JSON claims")
}

/// `token` with its claims replaced by `claims`, keeping the original header and signature.
fn with_claims(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    format!("{}.{}.{}", parts[0], b64url_encode(claims.to_string().as_bytes()), parts[2])
}

#[test]
fn base64url_round_trips() {
    for len in 0..10 {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 5) as u8).collect();
        assert_eq!(b64url_decode(&b64url_encode(&bytes)), bytes);
    }
    assert_eq!(b64url_encode(b"{\"a\"}"), "eyJhIn0");
}

/// The phone computes check-in days in the community's time: `/api/me` says which.
#[tokio::test]
async fn me_tells_the_community_s_utc_offset() -> anyhow::Result<()> {
    let c = Community::start(&["--utc-offset-minutes", "-300"]).await?;
    let (status, body) = me(&c.server, &c.token(ALICE).await?).await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["utc_offset_minutes"], -300, "{body}");
    assert_eq!(body["user"]["username"], "alice");
    Ok(())
}

#[tokio::test]
async fn upgrade_without_a_valid_token_is_401() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let s = &c.server;
    let token = c.token(ALICE).await?;
    let bob_token = c.token(BOB).await?;

    assert_refused(sync_request(s, "", &[]), 401).await;
    assert_refused(sync_request(s, "?token=", &[]), 401).await;
    assert_refused(sync_request(s, "?token=garbage", &[]), 401).await;
    assert_refused(sync_request(s, "", &[("authorization", "Bearer not.a.jwt")]), 401).await;
    assert_refused(sync_request(s, "", &[("authorization", &format!("Basic {token}"))]), 401).await;

    // Alice's token with Bob's user id (or a later expiry) and Alice's signature.
    let bob_id = claims_of(&bob_token)["sub"].clone();
    let mut claims = claims_of(&token);
    claims["sub"] = bob_id;
    let forged = with_claims(&token, &claims);
    assert_refused(sync_request(s, &format!("?token={forged}"), &[]), 401).await;
    let mut claims = claims_of(&token);
    claims["exp"] = Value::from(claims["exp"].as_u64().unwrap_or(0) + 86_400 * 365);
    let extended = with_claims(&token, &claims);
    assert_refused(sync_request(s, &format!("?token={extended}"), &[]), 401).await;
    // `alg: none`, no signature.
    let none = format!(
        "{}.{}.",
        b64url_encode(br#"{"alg":"none","typ":"JWT"}"#),
        b64url_encode(claims_of(&token).to_string().as_bytes())
    );
    assert_refused(sync_request(s, &format!("?token={none}"), &[]), 401).await;

    // The same refusals on the JSON API, with the error body of the API.
    for bad in [&forged, &extended, &none] {
        let (status, body) = me(s, bad).await?;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"]["code"], "unauthorized", "{body}");
    }
    // And the genuine token works.
    assert_works(upgrade(sync_request(s, &format!("?token={token}"), &[])).await.expect("upgrade"), "peer-a").await?;
    assert!(s.metric("linli_auth_failures_total{code=\"invalid_token\"}").await? >= 1.0);
    assert!(s.metric("linli_auth_failures_total{code=\"no_token\"}").await? >= 1.0);
    Ok(())
}

#[tokio::test]
async fn a_token_signed_by_another_servers_key_is_401() -> anyhow::Result<()> {
    // Two stores with the same users (one restored from a backup of the other, before
    // either server ran): each server generates its own signing key.
    let dir = tempfile::tempdir()?;
    let (a, b, file) = (dir.path().join("a"), dir.path().join("b"), dir.path().join("users.backup"));
    linli_cli(&a, &["grid", "add", "g1", "--name", "一网格"], "")?;
    linli_cli(&a, &["user", "add", "--username", ALICE.0, "--role", "coordinator", "--grid", "g1"], ALICE.1)?;
    linli_cli(&a, &["backup", file.to_str().expect("utf-8 path")], "")?;
    linli_cli(&b, &["restore", file.to_str().expect("utf-8 path")], "")?;
    let sa = ServerProcess::start(&a, 0, &[]).await?;
    let sb = ServerProcess::start(&b, 0, &[]).await?;
    let ta = sa.login(ALICE.0, ALICE.1).await?;
    let tb = sb.login(ALICE.0, ALICE.1).await?;
    // Same user, same issuer and audience: only the key differs.
    assert_eq!(claims_of(&ta)["sub"], claims_of(&tb)["sub"]);

    assert_refused(sync_request(&sa, &format!("?token={tb}"), &[]), 401).await;
    assert_refused(sync_request(&sa, "", &[("authorization", &bearer(&tb))]), 401).await;
    assert_eq!(me(&sa, &tb).await?.0, 401);
    // Each token works where it was issued.
    assert_works(upgrade(sync_request(&sb, &format!("?token={tb}"), &[])).await.expect("upgrade"), "peer-b").await?;
    assert_works(upgrade(sync_request(&sa, &format!("?token={ta}"), &[])).await.expect("upgrade"), "peer-a").await?;
    Ok(())
}

#[tokio::test]
async fn login_with_a_wrong_password_is_401_bad_credentials() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    for (user, password) in [(ALICE.0, "not-alices-password"), ("nobody", "whatever-password")] {
        let resp = login_response(&c.server, user, password).await?;
        assert_eq!(resp.status(), 401);
        assert!(resp.headers().get("set-cookie").is_none(), "a failed login set a cookie");
        let body: Value = resp.json().await?;
        // An unknown user gets the same answer: existence is not revealed.
        assert_eq!(body["error"]["code"], "bad_credentials", "{body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
        assert!(body.get("token").is_none());
    }
    Ok(())
}

#[tokio::test]
async fn too_many_failed_logins_for_one_username_is_429() -> anyhow::Result<()> {
    let c = Community::start(&["--login-attempts-per-minute", "3"]).await?;
    for _ in 0..3 {
        assert_eq!(login_response(&c.server, ALICE.0, "wrong-password").await?.status(), 401);
    }
    // Now even the right password is refused for a while.
    for password in ["wrong-password", ALICE.1] {
        let resp = login_response(&c.server, ALICE.0, password).await?;
        assert_eq!(resp.status(), 429);
        let body: Value = resp.json().await?;
        assert_eq!(body["error"]["code"], "too_many_attempts", "{body}");
    }
    // Other usernames are not affected.
    assert_eq!(login_response(&c.server, BOB.0, BOB.1).await?.status(), 200);
    assert!(c.server.metric("linli_auth_failures_total{code=\"login_rate_limited\"}").await? >= 2.0);
    Ok(())
}

#[tokio::test]
async fn login_sets_an_http_only_same_site_strict_cookie() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let resp = login_response(&c.server, ALICE.0, ALICE.1).await?;
    assert_eq!(resp.status(), 200);
    let cookie = resp.headers().get("set-cookie").expect("a Set-Cookie header").to_str()?.to_owned();
    let body: Value = resp.json().await?;
    let token = body["token"].as_str().expect("token");
    assert!(cookie.starts_with(&format!("linli_session={token}")), "{cookie}");
    let attrs: Vec<String> = cookie.split(';').map(|a| a.trim().to_ascii_lowercase()).collect();
    assert!(attrs.iter().any(|a| a == "httponly"), "{cookie}");
    assert!(attrs.iter().any(|a| a == "samesite=strict"), "{cookie}");
    assert!(attrs.iter().any(|a| a == "secure"), "cookie_secure defaults to true: {cookie}");
    assert!(attrs.iter().any(|a| a == "path=/"), "{cookie}");
    assert!(body["expires_at"].as_u64().is_some(), "{body}");
    assert_eq!(body["user"]["username"], ALICE.0);
    Ok(())
}

#[tokio::test]
async fn token_in_query_and_bearer_header_both_work() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let token = c.token(ALICE).await?;
    let raw = upgrade(sync_request(&c.server, &format!("?token={token}"), &[])).await.expect("?token= upgrade");
    assert_works(raw, "peer-query").await?;
    let raw =
        upgrade(sync_request(&c.server, "", &[("authorization", &bearer(&token))])).await.expect("bearer upgrade");
    assert_works(raw, "peer-bearer").await?;
    Ok(())
}

#[tokio::test]
async fn the_session_cookie_works_only_from_an_allowed_origin() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let s = &c.server;
    let token = c.token(ALICE).await?;
    let cookie = format!("linli_session={token}");
    let own = format!("http://{}", s.addr);
    let localhost = format!("http://localhost:{}", s.addr.port());

    for origin in [&own, &localhost] {
        let raw = upgrade(sync_request(s, "", &[("cookie", &cookie), ("origin", origin)]))
            .await
            .unwrap_or_else(|status| panic!("cookie upgrade from {origin} refused with {status}"));
        assert_works(raw, "peer-cookie").await?;
    }
    assert_refused(sync_request(s, "", &[("cookie", &cookie), ("origin", "http://evil.example")]), 403).await;
    // A browser always sends Origin on a WebSocket upgrade: none at all is refused too.
    assert_refused(sync_request(s, "", &[("cookie", &cookie)]), 403).await;
    // A port of our own host that is not the server is another origin.
    let other_port = format!("http://127.0.0.1:{}", s.addr.port().wrapping_add(1));
    assert_refused(sync_request(s, "", &[("cookie", &cookie), ("origin", &other_port)]), 403).await;

    // The JSON API: the cookie is refused from a foreign origin.
    let resp = reqwest::Client::new()
        .get(s.http("/api/me"))
        .header("cookie", &cookie)
        .header("origin", "http://evil.example")
        .send()
        .await?;
    assert_eq!(resp.status(), 403);
    let body: Value = resp.json().await?;
    assert_eq!(body["error"]["code"], "forbidden", "{body}");
    let resp =
        reqwest::Client::new().get(s.http("/api/me")).header("cookie", &cookie).header("origin", &own).send().await?;
    assert_eq!(resp.status(), 200);
    assert!(s.metric("linli_auth_failures_total{code=\"bad_origin\"}").await? >= 3.0);
    Ok(())
}

/// The PWA authenticates `/sync` by its cookie alone; a non-browser caller that names a
/// token in the URL is authenticated by that token, whatever cookie it also sends.
#[tokio::test]
async fn on_the_upgrade_an_explicit_query_token_wins_over_the_cookie() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let s = &c.server;
    let token = c.token(ALICE).await?;
    let own = format!("http://{}", s.addr);
    let query = format!("?token={token}");
    let raw = upgrade(sync_request(s, &query, &[("cookie", "linli_session=stale")]))
        .await
        .unwrap_or_else(|status| panic!("a valid ?token= beside a stale cookie refused with {status}"));
    assert_works(raw, "peer-query").await?;
    let cookie = format!("linli_session={token}");
    assert_refused(sync_request(s, "?token=not-a-jwt", &[("cookie", &cookie), ("origin", &own)]), 401).await;
    Ok(())
}

#[tokio::test]
async fn an_expiring_token_closes_the_open_socket() -> anyhow::Result<()> {
    let c = Community::start(&["--token-ttl-secs", "3"]).await?;
    let issued = Instant::now();
    let token = c.token(ALICE).await?;
    let mut raw = RawConn::connect(&c.server.ws_url(&token)).await?;
    raw.join("peer-expiring").await?;
    let (_, close) = raw.until_closed(Duration::from_secs(10)).await?;
    let elapsed = issued.elapsed();
    let (code, reason) = close.expect("a close frame");
    assert_eq!(code, POLICY);
    assert!(reason.contains("expired"), "close reason {reason:?}");
    assert!(elapsed >= Duration::from_millis(1500), "closed after {elapsed:?}, before the token expired");
    assert!(elapsed <= Duration::from_secs(10), "closed only after {elapsed:?}");

    // The expired token does not give a working connection again: the upgrade is refused,
    // or (within the validation leeway) the socket is closed at once as expired.
    match upgrade(sync_request(&c.server, &format!("?token={token}"), &[])).await {
        Err(status) => assert_eq!(status, 401),
        Ok(mut raw) => {
            let (msgs, close) = raw.until_closed(Duration::from_secs(5)).await?;
            assert!(msgs.is_empty(), "{msgs:?}");
            let (code, reason) = close.expect("a close frame");
            assert_eq!(code, POLICY);
            assert!(reason.contains("expired"), "close reason {reason:?}");
        }
    }
    Ok(())
}

#[tokio::test]
async fn logout_closes_the_open_socket_and_revokes_the_token() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let token = c.token(ALICE).await?;
    let other = c.token(ALICE).await?; // another session of the same user
    let mut raw = RawConn::connect(&c.server.ws_url(&token)).await?;
    raw.join("peer-leaving").await?;
    let mut stays = RawConn::connect(&c.server.ws_url(&other)).await?;
    stays.join("peer-staying").await?;

    let resp = reqwest::Client::new()
        .post(c.server.http("/api/auth/logout"))
        .header("authorization", bearer(&token))
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    let clear = resp.headers().get("set-cookie").map(|v| v.to_str().unwrap_or("").to_owned()).unwrap_or_default();
    assert!(clear.starts_with("linli_session=") && clear.to_ascii_lowercase().contains("max-age=0"), "{clear:?}");

    let (_, close) = raw.until_closed(Duration::from_secs(10)).await?;
    let (code, reason) = close.expect("a close frame");
    assert_eq!(code, POLICY);
    assert!(reason.contains("logged out"), "close reason {reason:?}");

    assert_refused(sync_request(&c.server, &format!("?token={token}"), &[]), 401).await;
    let (status, body) = me(&c.server, &token).await?;
    assert_eq!(status, 401, "{body}");
    // Only that session ended: the user's other session still works.
    assert_works(stays, "peer-staying").await.map(|_| ())?;
    assert_eq!(me(&c.server, &other).await?.0, 200);
    Ok(())
}

/// A socket that was opened with a token but had not sent `join` yet when the token was
/// revoked must not become a working sync connection afterwards.
#[tokio::test]
async fn logout_also_ends_a_socket_that_has_not_joined_yet() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let token = c.token(ALICE).await?;
    let mut raw = RawConn::connect(&c.server.ws_url(&token)).await?;
    let resp = reqwest::Client::new()
        .post(c.server.http("/api/auth/logout"))
        .header("authorization", bearer(&token))
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    // The revoked session must not get a `peer` reply or any document.
    let _ = raw
        .send(&Message::Join {
            sender_id: PeerId::new("peer-late".to_owned())?,
            peer_metadata: None,
            supported_protocol_versions: Some(vec!["1".to_owned()]),
        })
        .await;
    let mut msgs = Vec::new();
    let close = loop {
        match raw.recv(Duration::from_secs(5)).await {
            Ok(Received::Message(m)) => msgs.push(m),
            Ok(Received::Closed(c)) => break c,
            Err(_) => break None, // still open, 5 s after the join
        }
    };
    assert!(
        !msgs.iter().any(|m| matches!(m, Message::Peer { .. })),
        "a socket of a revoked session was accepted by `join` (close: {close:?}; messages: {msgs:?})"
    );
    let (code, _) = close.expect("the socket of a revoked session stayed open");
    assert_eq!(code, POLICY);
    Ok(())
}

#[tokio::test]
async fn refresh_gives_a_new_token_and_the_old_one_stops_working() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let old = c.token(ALICE).await?;
    let resp = reqwest::Client::new()
        .post(c.server.http("/api/auth/refresh"))
        .header("authorization", bearer(&old))
        .send()
        .await?;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await?;
    let new = body["token"].as_str().expect("token").to_owned();
    assert_ne!(new, old);
    assert_eq!(body["user"]["username"], ALICE.0);
    assert!(body["expires_at"].as_u64() >= claims_of(&old)["exp"].as_u64(), "{body}");

    let (status, err) = me(&c.server, &old).await?;
    assert_eq!(status, 401, "{err}");
    assert_refused(sync_request(&c.server, &format!("?token={old}"), &[]), 401).await;
    // A revoked token cannot be refreshed again either.
    let again = reqwest::Client::new()
        .post(c.server.http("/api/auth/refresh"))
        .header("authorization", bearer(&old))
        .send()
        .await?;
    assert_eq!(again.status(), 401);

    assert_eq!(me(&c.server, &new).await?.0, 200);
    let raw = upgrade(sync_request(&c.server, &format!("?token={new}"), &[])).await.expect("upgrade");
    assert_works(raw, "peer-refreshed").await?;
    Ok(())
}

#[tokio::test]
async fn me_returns_the_user_of_the_token() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let (status, body) = me(&c.server, &c.token(ALICE).await?).await?;
    assert_eq!(status, 200, "{body}");
    let user = &body["user"];
    assert_eq!(user["username"], "alice");
    assert_eq!(user["role"], "coordinator");
    assert_eq!(user["grids"], serde_json::json!(["g1"]));
    assert!(user["id"].as_str().is_some_and(|id| !id.is_empty()), "{body}");
    assert!(user.get("password_hash").is_none() && !body.to_string().contains("argon2"), "{body}");

    let (status, body) = me(&c.server, &c.token(BOB).await?).await?;
    assert_eq!(status, 200);
    assert_eq!(body["user"]["username"], "bob");
    assert_eq!(body["user"]["role"], "volunteer");

    let resp = reqwest::get(c.server.http("/api/me")).await?;
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await?;
    assert_eq!(body["error"]["code"], "unauthorized", "{body}");
    Ok(())
}
