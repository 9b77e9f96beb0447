//! Reads of health and care data are audited by every role (issue 11 item 2, DESIGN §9):
//! a household, an episode or an episode's readings sent to a user over `/sync`, or
//! carried in an API answer, leaves one `read.<kind>` entry per user, document and
//! community day — not one per read, also across a restart — and a new one the next day.

use linli_shared::DocumentId;
use linli_tests::api;
use linli_tests::domain::{checkin, checkin_key, create, episode, household, put_checkin, readings_of};
use linli_tests::exports::export_when;
use linli_tests::outcome::{fetch, push_change, wait_for_doc, Outcome};
use linli_tests::server::{ADMIN, ALICE, BOB, CAROL, DAVE};
use linli_tests::{Community, ServerProcess, TestPeer};
use serde_json::Value;
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

/// The `read.<kind>` entries of `user` for `doc`.
async fn reads(s: &ServerProcess, admin: &str, user: &str, doc: &DocumentId) -> anyhow::Result<Vec<Value>> {
    Ok(api::audit(s, admin, Some("read."))
        .await?
        .into_iter()
        .filter(|e| e["user"] == user && e["doc"] == doc.to_string())
        .collect())
}

/// Every role's phone fetches the documents (a fresh automerge-repo peer each time, as a
/// phone that opens the app); polled, since a medic's access to the household comes with
/// the projection of its open episode.
async fn everyone_reads(s: &ServerProcess, tokens: &[(String, String)], docs: &[DocumentId]) -> anyhow::Result<()> {
    for (token, _) in tokens {
        for doc in docs {
            wait_for_doc(&s.ws_url(token), doc, T, |_| true).await?;
        }
    }
    Ok(())
}

async fn assert_entries(
    s: &ServerProcess,
    admin: &str,
    tokens: &[(String, String)],
    docs: &[(DocumentId, &str)],
    want: usize,
    when: &str,
) -> anyhow::Result<()> {
    for (_, user) in tokens {
        for (doc, kind) in docs {
            let found = reads(s, admin, user, doc).await?;
            assert_eq!(found.len(), want, "{when}: read.{kind} entries of {user} for {doc}: {found:#?}");
            for e in &found {
                assert_eq!(e["action"], format!("read.{kind}"), "{e}");
                assert_eq!(e["detail"], "sync", "the detail says how, and nothing of the document: {e}");
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn every_role_s_sync_reads_are_audited_once_a_day_across_restarts() -> anyhow::Result<()> {
    let mut c = Community::start_with_admin(&["--index-flush-ms", "50"]).await?;
    let (ta, alice_id) = c.login_full(ALICE).await?;
    let (_, bob_id) = c.login_full(BOB).await?;

    let mut alice = TestPeer::new("alice");
    alice.connect(&c.server.ws_url(&ta)).await?;
    let h = create(&mut alice, household("g1", "701"));
    let e = create(&mut alice, episode("g1", &h, Some(&bob_id)));
    alice.sync_all(T).await?;
    drop(alice);

    let mut tokens = Vec::new();
    for who in [ALICE, BOB, DAVE, ADMIN] {
        tokens.push(c.login_full(who).await?);
    }
    let admin = tokens[3].0.clone();
    let docs = [(h, "household"), (e, "episode")];
    let ids = [h, e];

    // The coordinator created both: she was sent them back as she wrote them (one entry
    // each already); the others read them now. Twice the same day: still one entry each.
    everyone_reads(&c.server, &tokens, &ids).await?;
    everyone_reads(&c.server, &tokens, &ids).await?;
    assert_entries(&c.server, &admin, &tokens, &docs, 1, "two reads on one day").await?;
    assert!(!reads(&c.server, &admin, &alice_id, &h).await?.is_empty());

    // The readings are read by the volunteer and the medic alone (the coordinator and
    // the admin are refused them, and so have no entry), once a day as well.
    let mut bob = TestPeer::new("bob");
    bob.connect(&c.server.ws_url(&tokens[1].0)).await?;
    let r = readings_of(&mut bob, &e, T).await?;
    drop(bob);
    let readers = &tokens[1..3];
    let read_readings = [(r, "readings")];
    everyone_reads(&c.server, readers, &[r]).await?;
    everyone_reads(&c.server, readers, &[r]).await?;
    assert_entries(&c.server, &admin, readers, &read_readings, 1, "two reads of the readings on one day").await?;
    for (token, user) in [&tokens[0], &tokens[3]] {
        assert!(!fetch(&c.server.ws_url(token), &r, T).await?.available(), "{user} was sent the readings");
        assert!(reads(&c.server, &admin, user, &r).await?.is_empty(), "{user} has a read of the readings");
    }

    // A restart on the same day remembers what was audited.
    c.server.restart().await?;
    let mut tokens2 = Vec::new();
    for who in [ALICE, BOB, DAVE, ADMIN] {
        tokens2.push(c.login_full(who).await?);
    }
    everyone_reads(&c.server, &tokens2, &ids).await?;
    assert_entries(&c.server, &tokens2[3].0, &tokens2, &docs, 1, "after a restart on the same day").await?;
    let readers = &tokens2[1..3];
    everyone_reads(&c.server, readers, &[r]).await?;
    assert_entries(&c.server, &tokens2[3].0, readers, &read_readings, 1, "the readings, after a restart").await?;

    // Just past midnight (community time) the next read is a new day's.
    c.server.set_clock("2026-03-17T00:01:00+08:00").await?;
    everyone_reads(&c.server, &tokens2, &ids).await?;
    everyone_reads(&c.server, &tokens2, &ids).await?;
    assert_entries(&c.server, &tokens2[3].0, &tokens2, &docs, 2, "the next day").await?;
    everyone_reads(&c.server, readers, &[r]).await?;
    everyone_reads(&c.server, readers, &[r]).await?;
    assert_entries(&c.server, &tokens2[3].0, readers, &read_readings, 2, "the readings, the next day").await?;
    Ok(())
}

/// Through the API: an export's rows and an alert list's check-in alerts are reads of
/// their documents, audited the same way — once per user, document and day, across a
/// restart, again the next day — with what carried them in the detail. An episodes
/// export loads the episodes' readings (for the counts and normal / abnormal, and for a
/// medic the values): a read of the readings too, whoever exports.
#[tokio::test]
async fn api_answers_that_carry_health_or_care_data_are_audited_once_a_day() -> anyhow::Result<()> {
    let mut c = Community::start_with_admin(&["--index-flush-ms", "50"]).await?;
    let (ta, _) = c.login_full(ALICE).await?;
    let (tb, bob_id) = c.login_full(BOB).await?;
    let mut alice = TestPeer::new("alice");
    alice.connect(&c.server.ws_url(&ta)).await?;
    let h = create(&mut alice, household("g1", "702"));
    let e = create(&mut alice, episode("g1", &h, Some(&bob_id)));
    alice.sync_all(T).await?;
    let mut bob = TestPeer::new("bob");
    bob.connect(&c.server.ws_url(&tb)).await?;
    bob.want(e);
    bob.sync_all(T).await?;
    let r = readings_of(&mut bob, &e, T).await?;
    put_checkin(&mut bob, &r, &checkin_key(0, 0), checkin(38.4, &bob_id, ""));
    assert_eq!(push_change(&mut bob, &r, T).await?, Outcome::Accepted);
    drop((alice, bob));

    // Carol (coordinator), dave (medic) and the admin never sync these documents: every
    // entry of theirs comes from the API.
    let users = ask_api(&c, &h, &e).await?;
    ask_api(&c, &h, &e).await?;
    check_api(&c, &users, &[(h, "household"), (e, "episode"), (r, "readings")], 1, "two answers on one day").await?;
    c.server.restart().await?;
    ask_api(&c, &h, &e).await?;
    check_api(&c, &users, &[(h, "household"), (e, "episode"), (r, "readings")], 1, "after a restart").await?;
    c.server.set_clock("2026-03-17T00:01:00+08:00").await?;
    ask_api(&c, &h, &e).await?;
    ask_api(&c, &h, &e).await?;
    check_api(&c, &users, &[(h, "household"), (e, "episode"), (r, "readings")], 2, "the next day").await?;
    Ok(())
}

/// Carol, dave and the admin ask for both exports and the alert list; their user ids.
async fn ask_api(c: &Community, h: &DocumentId, e: &DocumentId) -> anyhow::Result<Vec<String>> {
    let s = &c.server;
    let mut users = Vec::new();
    for who in [CAROL, DAVE, ADMIN] {
        let (token, id) = c.login_full(who).await?;
        for name in ["episodes.csv", "households.csv"] {
            let csv = export_when(s, &token, name, T, |csv| csv.has(e) || csv.has(h)).await?;
            anyhow::ensure!(csv.has(e) || csv.has(h), "{} {name}: {}", who.0, csv.text);
        }
        // The fever alert is raised in the background, after the check-in's projection.
        let deadline = tokio::time::Instant::now() + T;
        loop {
            let alerts = api::get_ok(s, &token, "/api/alerts").await?;
            if alerts.to_string().contains(&e.to_string()) {
                break;
            }
            anyhow::ensure!(tokio::time::Instant::now() < deadline, "no alert of the episode: {alerts}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        users.push(id);
    }
    Ok(users)
}

/// Each of `users` has `want` API read entries of each of `docs` (the household, the
/// episode and its readings), of their kind.
async fn check_api(
    c: &Community,
    users: &[String],
    docs: &[(DocumentId, &str)],
    want: usize,
    when: &str,
) -> anyhow::Result<()> {
    let admin = c.token(ADMIN).await?;
    for user in users {
        for (doc, kind) in docs {
            let found = reads(&c.server, &admin, user, doc).await?;
            assert_eq!(found.len(), want, "{when}: read.{kind} entries of {user}: {found:#?}");
            for entry in &found {
                assert_eq!(entry["action"], format!("read.{kind}"), "{entry}");
                let detail = entry["detail"].as_str().unwrap_or("");
                assert!(detail.starts_with("api: "), "{entry}");
            }
        }
    }
    Ok(())
}
