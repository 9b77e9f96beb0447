//! Password guessing against the real server: the login limits are atomic, count per
//! (username, address), per address and across the server, back off, lock out the
//! guesser and not the owner, and bound how many Argon2 checks run at once.
//!
//! Clients come from different loopback addresses (127.0.0.2, 127.0.0.3, …: the whole
//! 127.0.0.0/8 is this machine), so each test can be an attacker and an owner at once.

use linli_tests::server::{ALICE, BOB, CAROL, DAVE, ERIN, FRANK};
use linli_tests::{Community, ServerProcess};
use serde_json::Value;
use std::net::IpAddr;

/// What a login answered.
#[derive(Debug, Clone)]
struct Answer {
    status: u16,
    body: Value,
    retry_after: Option<u64>,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

/// A client whose connections come from `ip`.
fn client_from(ip: &str) -> reqwest::Client {
    let ip: IpAddr = ip.parse().expect("an IP address");
    reqwest::Client::builder().local_address(ip).build().expect("a client")
}

async fn login_as(
    client: &reqwest::Client,
    server: &ServerProcess,
    username: &str,
    password: &str,
    forwarded_for: Option<&str>,
) -> anyhow::Result<Answer> {
    let mut req = client
        .post(server.http("/api/auth/login"))
        .json(&serde_json::json!({"username": username, "password": password}));
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let body = resp.json().await.unwrap_or(Value::Null);
    Ok(Answer { status, body, retry_after })
}

async fn login(client: &reqwest::Client, server: &ServerProcess, who: (&str, &str)) -> anyhow::Result<Answer> {
    login_as(client, server, who.0, who.1, None).await
}

async fn guess(client: &reqwest::Client, server: &ServerProcess, username: &str) -> anyhow::Result<Answer> {
    login_as(client, server, username, "not-the-password-77", None).await
}

fn count(answers: &[Answer], status: u16) -> usize {
    answers.iter().filter(|a| a.status == status).count()
}

/// The attack: 30 wrong guesses at once were all checked, and the right password
/// inside the burst got in. Now the limit is reserved before the check.
#[tokio::test]
async fn concurrent_wrong_guesses_are_checked_at_most_the_limit() -> anyhow::Result<()> {
    // Enough Argon2 checks at once for the whole burst: the limit alone decides.
    let c = Community::start(&["--login-attempts-per-minute", "10", "--max-password-checks", "64"]).await?;
    let s = &c.server;
    let attacker = client_from("127.0.0.2");
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..30 {
        let (client, url) = (attacker.clone(), s.http("/api/auth/login"));
        burst.spawn(async move {
            let body = serde_json::json!({"username": ALICE.0, "password": format!("wrong-guess-{i}")});
            let resp = client.post(url).json(&body).send().await?;
            anyhow::Ok(resp.status().as_u16())
        });
    }
    let mut statuses = Vec::new();
    let mut right_inside_the_burst = None;
    while let Some(status) = burst.join_next().await {
        let status = status??;
        // The first refusal means the limit is full of guesses; those still in flight
        // cannot give their reservation back (they are wrong). The right password now:
        if status == 429 && right_inside_the_burst.is_none() {
            right_inside_the_burst = Some(login(&attacker, s, ALICE).await?);
        }
        statuses.push(status);
    }
    let checked = statuses.iter().filter(|&&st| st == 401).count();
    let refused = statuses.iter().filter(|&&st| st == 429).count();
    assert!(checked <= 10, "{checked} of 30 concurrent guesses were checked (limit 10): {statuses:?}");
    assert_eq!(checked + refused, 30, "{statuses:?}");
    assert!(s.metric("linli_auth_failures_total{code=\"bad_credentials\"}").await? <= 10.0);
    let right = right_inside_the_burst.expect("no guess of the burst was refused");
    assert_eq!(right.status, 429, "the right password inside the burst: {right:?}");
    assert_eq!(right.code(), "too_many_attempts", "{right:?}");
    assert!(right.retry_after.is_some_and(|secs| (1..=60).contains(&secs)), "{right:?}");
    // And after the burst, while the pair is locked out.
    assert_eq!(login(&attacker, s, ALICE).await?.status, 429);
    Ok(())
}

/// Guessing across five accounts from one address was unlimited.
#[tokio::test]
async fn guessing_across_accounts_from_one_address_is_limited() -> anyhow::Result<()> {
    let c = Community::start(&["--login-attempts-per-address-per-minute", "8"]).await?;
    let s = &c.server;
    let attacker = client_from("127.0.0.2");
    let mut answers = Vec::new();
    for who in [ALICE, BOB, CAROL, DAVE, ERIN] {
        for _ in 0..3 {
            answers.push(guess(&attacker, s, who.0).await?);
        }
    }
    // 3 per account is under the per-account limit (10); 8 in all is the address's.
    assert_eq!(count(&answers, 401), 8, "{answers:?}");
    assert_eq!(count(&answers, 429), 7, "{answers:?}");
    // The address is locked out for every account, the right password unchecked…
    let right = login(&attacker, s, FRANK).await?;
    assert_eq!(right.status, 429, "{right:?}");
    assert!(right.retry_after.is_some(), "{right:?}");
    // …and nobody else is.
    assert_eq!(login(&client_from("127.0.0.3"), s, FRANK).await?.status, 200);
    Ok(())
}

/// An attacker guessing one account locked its owner out (429 for the right password).
#[tokio::test]
async fn the_owner_gets_in_from_another_address_while_the_guesser_is_locked_out() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let s = &c.server;
    let attacker = client_from("127.0.0.2");
    for _ in 0..10 {
        assert_eq!(guess(&attacker, s, ALICE.0).await?.status, 401);
    }
    assert_eq!(guess(&attacker, s, ALICE.0).await?.status, 429);
    assert_eq!(login(&attacker, s, ALICE).await?.status, 429, "the guesser's right guess is not checked");
    let owner = login(&client_from("127.0.0.3"), s, ALICE).await?;
    assert_eq!(owner.status, 200, "the owner, from their own phone: {owner:?}");
    assert!(owner.body["token"].as_str().is_some(), "{owner:?}");
    // A typo of the owner's own is counted for the owner's address only.
    assert_eq!(guess(&client_from("127.0.0.3"), s, ALICE.0).await?.status, 401);
    assert_eq!(login(&client_from("127.0.0.3"), s, ALICE).await?.status, 200);
    Ok(())
}

/// Lockouts last a minute, then two, then four…: moved by the server's test clock.
#[tokio::test]
async fn lockouts_back_off_by_the_server_clock() -> anyhow::Result<()> {
    let c = Community::start(&["--login-attempts-per-minute", "3", "--login-lockout-max-secs", "240"]).await?;
    let s = &c.server;
    let attacker = client_from("127.0.0.2");
    let mut lockouts = Vec::new();
    for _ in 0..4 {
        for _ in 0..3 {
            assert_eq!(guess(&attacker, s, ALICE.0).await?.status, 401);
        }
        let refused = login(&attacker, s, ALICE).await?;
        assert_eq!(refused.status, 429, "{refused:?}");
        let secs = refused.retry_after.expect("Retry-After");
        lockouts.push(secs);
        s.advance_clock(secs as i64 - 1).await?;
        assert_eq!(guess(&attacker, s, ALICE.0).await?.status, 429, "a second before the lockout ends");
        s.advance_clock(1).await?;
    }
    assert_eq!(lockouts, [60, 120, 240, 240]);
    // When it ends, the pair may try again (here with the right password).
    assert_eq!(login(&attacker, s, ALICE).await?.status, 200);
    Ok(())
}

/// Many addresses each guessing a little: over the global limit, only addresses that
/// have not failed this minute are checked.
#[tokio::test]
async fn over_the_global_limit_only_addresses_that_have_not_failed_are_checked() -> anyhow::Result<()> {
    let c = Community::start(&["--login-attempts-global-per-minute", "5"]).await?;
    let s = &c.server;
    for i in 2..=6 {
        assert_eq!(guess(&client_from(&format!("127.0.0.{i}")), s, ALICE.0).await?.status, 401);
    }
    let again = guess(&client_from("127.0.0.2"), s, ALICE.0).await?;
    assert_eq!(again.status, 429, "{again:?}");
    assert_eq!(login(&client_from("127.0.0.3"), s, ALICE).await?.status, 429);
    // A fresh address is checked: a wrong password is told so, the right one gets in.
    assert_eq!(guess(&client_from("127.0.0.7"), s, BOB.0).await?.status, 401);
    assert_eq!(login(&client_from("127.0.0.8"), s, ALICE).await?.status, 200);
    // A minute later the window is fresh.
    s.advance_clock(60).await?;
    assert_eq!(login(&client_from("127.0.0.2"), s, ALICE).await?.status, 200);
    Ok(())
}

/// `X-Forwarded-For` names the client only when a trusted proxy sends it.
#[tokio::test]
async fn x_forwarded_for_counts_only_from_a_trusted_proxy() -> anyhow::Result<()> {
    let c = Community::start(&["--login-attempts-per-minute", "2", "--trusted-proxies", "127.0.0.9"]).await?;
    let s = &c.server;
    // A client inventing a new address for each guess is still one client.
    let attacker = client_from("127.0.0.2");
    let mut statuses = Vec::new();
    for i in 1..=4 {
        let xff = format!("198.51.100.{i}");
        statuses.push(login_as(&attacker, s, ALICE.0, "wrong-guess-1", Some(&xff)).await?.status);
    }
    assert_eq!(statuses, [401, 401, 429, 429]);
    // Behind the trusted proxy, two clients are two clients.
    let proxy = client_from("127.0.0.9");
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(login_as(&proxy, s, ALICE.0, "wrong-guess-1", Some("198.51.100.1")).await?.status);
    }
    assert_eq!(statuses, [401, 401, 429]);
    // A client of the proxy that forged a hop before the proxy's own is still itself.
    let forged = "198.51.100.2, 198.51.100.1";
    assert_eq!(login_as(&proxy, s, ALICE.0, ALICE.1, Some(forged)).await?.status, 429);
    assert_eq!(login_as(&proxy, s, ALICE.0, ALICE.1, Some("198.51.100.2")).await?.status, 200);
    Ok(())
}

/// Each Argon2 check takes ~19 MiB: 31 concurrent logins took +552 MB. Now at most
/// `max_password_checks` run at once, and the others are answered 503 at once.
#[tokio::test]
async fn concurrent_password_checks_are_bounded_in_number_and_memory() -> anyhow::Result<()> {
    let c = Community::start(&["--max-password-checks", "2"]).await?;
    let s = &c.server;
    // One login first, so the server has done its one-time allocations.
    assert_eq!(login(&client_from("127.0.0.2"), s, ALICE).await?.status, 200);
    s.reset_peak_memory()?;
    let before = s.memory()?;
    let mut burst = tokio::task::JoinSet::new();
    for i in 0..48usize {
        let who = [ALICE, BOB, CAROL, DAVE, ERIN, FRANK][i % 6];
        let (client, url) = (client_from(&format!("127.0.1.{}", i + 1)), s.http("/api/auth/login"));
        burst.spawn(async move {
            let body = serde_json::json!({"username": who.0, "password": who.1});
            let resp = client.post(url).json(&body).send().await?;
            let status = resp.status().as_u16();
            let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse().ok());
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            anyhow::Ok(Answer { status, body, retry_after })
        });
    }
    let mut answers = Vec::new();
    while let Some(answer) = burst.join_next().await {
        answers.push(answer??);
    }
    let after = s.memory()?;
    let growth = after.peak.saturating_sub(before.rss);
    let (ok, busy) = (count(&answers, 200), count(&answers, 503));
    println!("48 concurrent logins, 2 checks at once: {ok} in, {busy} busy; peak memory +{} MiB", growth >> 20);
    assert_eq!(ok + busy, 48, "{answers:?}");
    assert!(ok >= 2, "{answers:?}");
    assert!(busy >= 1, "no login was turned away while the checks were busy: {answers:?}");
    for a in answers.iter().filter(|a| a.status == 503) {
        assert_eq!(a.code(), "busy", "{a:?}");
        assert_eq!(a.retry_after, Some(1), "{a:?}");
    }
    // Two checks of ~19 MiB and the requests themselves; 48 unbounded checks took ~900 MiB.
    assert!(growth < 120 << 20, "peak memory grew by {} MiB", growth >> 20);
    // Busy logins were not failures: everyone gets in once the burst is over.
    for who in [ALICE, BOB, CAROL, DAVE, ERIN, FRANK] {
        assert_eq!(login(&client_from("127.0.0.3"), s, who).await?.status, 200);
    }
    assert!(s.metric("linli_auth_failures_total{code=\"login_busy\"}").await? >= 1.0);
    Ok(())
}
