//! Sessions against a hostile user: a login is one session across its refreshes; a
//! refresh closes the old token's sockets, logout ends every token and socket of the
//! login, and an administrator can end every session of a user (API and CLI).

use linli_shared::DocumentId;
use linli_tests::api::{self, post};
use linli_tests::domain::{create, household};
use linli_tests::server::{linli_cli, ADMIN, ALICE, BOB, CAROL};
use linli_tests::{Community, RawConn, ServerProcess, TestPeer};
use serde_json::Value;
use std::time::Duration;

const T: Duration = Duration::from_secs(20);
const POLICY: u16 = 1008;

/// A fresh token of the same session for `token`.
async fn refresh(server: &ServerProcess, token: &str) -> anyhow::Result<String> {
    let r = post(server, token, "/api/auth/refresh", None).await?;
    anyhow::ensure!(r.status == 200, "refresh: {} {}", r.status, r.body);
    Ok(r.json()["token"].as_str().unwrap_or_default().to_owned())
}

async fn logout(server: &ServerProcess, token: &str) -> anyhow::Result<()> {
    let r = post(server, token, "/api/auth/logout", None).await?;
    anyhow::ensure!(r.status == 200, "logout: {} {}", r.status, r.body);
    Ok(())
}

/// The HTTP status of `GET /api/me` with `token`.
async fn me_status(server: &ServerProcess, token: &str) -> anyhow::Result<u16> {
    Ok(api::get(server, token, "/api/me").await?.status)
}

/// The status of a `/sync` upgrade with `?token=` (101 when it was accepted).
async fn upgrade_status(server: &ServerProcess, token: &str) -> u16 {
    match RawConn::connect(&server.ws_url(token)).await {
        Ok(_) => 101,
        Err(e) => match e.downcast_ref::<tokio_tungstenite::tungstenite::Error>() {
            Some(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
            _ => panic!("upgrade failed without an HTTP answer: {e}"),
        },
    }
}

/// A joined raw socket of `token`.
async fn socket(server: &ServerProcess, token: &str, peer: &str) -> anyhow::Result<RawConn> {
    let mut raw = RawConn::connect(&server.ws_url(token)).await?;
    raw.join(peer).await?;
    Ok(raw)
}

/// The socket still serves: a request for an unknown document gets `doc-unavailable`.
async fn assert_serves(raw: &mut RawConn, peer: &str) -> anyhow::Result<()> {
    raw.ask_for_unknown_document(peer, T).await
}

/// The socket is closed by the server with a policy close whose reason says `why`.
async fn assert_closed(raw: &mut RawConn, why: &str) -> anyhow::Result<()> {
    let (_, close) = raw.until_closed(T).await?;
    let (code, reason) = close.expect("a close frame");
    assert_eq!(code, POLICY, "{reason}");
    assert!(reason.contains(why), "close reason {reason:?}, expected it to say {why:?}");
    Ok(())
}

/// Carol (another coordinator of g1) writes a new household; its id and heads.
async fn new_household(c: &Community, room: &str) -> anyhow::Result<(DocumentId, Vec<automerge::ChangeHash>)> {
    let mut carol = TestPeer::new(&format!("carol-{room}"));
    carol.connect(&c.server.ws_url(&c.token(CAROL).await?)).await?;
    let id = create(&mut carol, household("g1", room));
    carol.sync_all(T).await?;
    Ok((id, carol.heads(&id)))
}

/// The scenario: a socket opened before a refresh kept reading new documents
/// after logout, until its token expired (12 h).
#[tokio::test]
async fn a_socket_opened_before_a_refresh_reads_nothing_after_logout() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let first = c.token(ALICE).await?;
    let mut phone = TestPeer::new("alice-phone");
    phone.connect(&c.server.ws_url(&first)).await?;
    let (before, heads) = new_household(&c, "101").await?;
    phone.want(before);
    phone.sync_until_heads(&before, &heads, T).await?;

    let second = refresh(&c.server, &first).await?;
    logout(&c.server, &second).await?;

    let (after, heads) = new_household(&c, "102").await?;
    phone.want(after);
    let read = phone.sync_until_heads(&after, &heads, Duration::from_secs(5)).await;
    assert!(read.is_err(), "the socket opened before the refresh read a document written after logout");
    assert!(phone.heads(&after).is_empty());
    assert!(!phone.is_connected(), "the socket is still open: {read:?}");
    for token in [&first, &second] {
        assert_eq!(me_status(&c.server, token).await?, 401);
        assert_eq!(upgrade_status(&c.server, token).await, 401);
    }
    Ok(())
}

#[tokio::test]
async fn a_refresh_closes_the_sockets_of_the_old_token_only() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let old = c.token(ALICE).await?;
    let other_login = c.token(ALICE).await?;
    let mut before = socket(&c.server, &old, "peer-before").await?;
    let mut elsewhere = socket(&c.server, &other_login, "peer-elsewhere").await?;
    let new = refresh(&c.server, &old).await?;
    assert_closed(&mut before, "refreshed").await?;
    // The new token dials again; the user's other login is untouched.
    let mut after = socket(&c.server, &new, "peer-after").await?;
    assert_serves(&mut after, "peer-after").await?;
    assert_serves(&mut elsewhere, "peer-elsewhere").await?;
    assert_eq!(upgrade_status(&c.server, &old).await, 401);
    Ok(())
}

#[tokio::test]
async fn logout_ends_every_socket_of_the_login_and_no_other() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let first = c.token(ALICE).await?;
    let other_login = c.token(ALICE).await?;
    let second = refresh(&c.server, &first).await?;
    let mut joined = socket(&c.server, &second, "peer-joined").await?;
    // A socket of the login that has not joined yet.
    let mut waiting = RawConn::connect(&c.server.ws_url(&second)).await?;
    let mut elsewhere = socket(&c.server, &other_login, "peer-elsewhere").await?;
    logout(&c.server, &second).await?;
    assert_closed(&mut joined, "logged out").await?;
    assert_closed(&mut waiting, "logged out").await?;
    assert_serves(&mut elsewhere, "peer-elsewhere").await?;
    assert_eq!(me_status(&c.server, &other_login).await?, 200);
    Ok(())
}

#[tokio::test]
async fn an_admin_ends_every_session_of_a_user_through_the_api() -> anyhow::Result<()> {
    let c = Community::start_with_admin(&[]).await?;
    let s = &c.server;
    let (phone, alice_id) = c.login_full(ALICE).await?;
    let laptop = c.token(ALICE).await?;
    let bob = c.token(BOB).await?;
    let admin = c.token(ADMIN).await?;
    let mut sockets = [socket(s, &phone, "alice-phone").await?, socket(s, &laptop, "alice-laptop").await?];
    let mut bobs = socket(s, &bob, "bob-phone").await?;
    let path = format!("/api/users/{alice_id}/end-sessions");

    assert_eq!(post(s, &bob, &path, None).await?.status, 403, "only an admin ends sessions");
    assert_eq!(post(s, &admin, "/api/users/u-nobody/end-sessions", None).await?.status, 404);
    let r = post(s, &admin, &path, None).await?;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["closed_connections"], 2, "{}", r.body);

    for raw in &mut sockets {
        assert_closed(raw, "ended by an administrator").await?;
    }
    for token in [&phone, &laptop] {
        assert_eq!(me_status(s, token).await?, 401);
        assert_eq!(upgrade_status(s, token).await, 401);
        assert_eq!(post(s, token, "/api/auth/refresh", None).await?.status, 401);
    }
    // Bob is untouched, and Alice may log in again at once.
    assert_serves(&mut bobs, "bob-phone").await?;
    let again = c.token(ALICE).await?;
    assert_eq!(me_status(s, &again).await?, 200);
    let mut fresh = socket(s, &again, "alice-again").await?;
    assert_serves(&mut fresh, "alice-again").await?;

    let admin_id = api::me(s, &admin).await?["user"]["id"].clone();
    let audited = api::audit(s, &admin, Some("user.end_sessions")).await?;
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["user"], admin_id, "{audited:?}");
    assert_eq!(audited[0]["detail"], Value::from(alice_id), "{audited:?}");
    Ok(())
}

#[tokio::test]
async fn the_cli_ends_every_session_of_a_user_on_a_stopped_server() -> anyhow::Result<()> {
    let mut c = Community::start_with_admin(&[]).await?;
    let (alices, alice_id) = c.login_full(ALICE).await?;
    let bobs = c.token(BOB).await?;
    c.server.kill9().await?;

    let out = linli_cli(&c.data_dir(), &["user", "end-sessions", "--username", ALICE.0], "")?;
    assert!(out.contains(&alice_id), "{out}");
    let unknown = linli_cli(&c.data_dir(), &["user", "end-sessions", "--username", "nobody"], "");
    assert!(unknown.is_err_and(|e| e.to_string().contains("no user `nobody`")));

    c.server.restart().await?;
    let s = &c.server;
    assert_eq!(me_status(s, &alices).await?, 401, "the next start refuses the ended sessions");
    assert_eq!(upgrade_status(s, &alices).await, 401);
    assert_eq!(me_status(s, &bobs).await?, 200);
    let again = c.token(ALICE).await?;
    assert_eq!(me_status(s, &again).await?, 200);

    let admin = c.token(ADMIN).await?;
    let audited = api::audit(s, &admin, Some("user.end_sessions")).await?;
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert_eq!(audited[0]["user"], "operator", "{audited:?}");
    assert_eq!(audited[0]["detail"], Value::from(alice_id), "{audited:?}");
    Ok(())
}
