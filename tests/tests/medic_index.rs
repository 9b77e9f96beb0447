//! Medics and deliveries (issue 9, item 7): a medic may not read deliveries, so may not
//! read the grid index that lists them (address, category, status, assignee and due of
//! every task). Medics open their grid's medic index instead: its episodes, their readings
//! and medical records (DESIGN §9), and the households with an open episode — nothing else.

use linli_tests::domain::{create, episode, household, now_ms, set, task};
use linli_tests::outcome::{fetch, push_change, wait_for_doc, Outcome};
use linli_tests::server::{ALICE, BOB, DAVE};
use linli_tests::{api, Community, TestPeer};
use serde_json::{json, Value};
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

fn rows(index: &Value) -> Vec<(String, Value)> {
    index["docs"].as_object().map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
}

#[tokio::test]
async fn medics_read_episodes_and_their_households_but_no_deliveries() -> anyhow::Result<()> {
    let c = Community::start(&["--index-flush-ms", "50"]).await?;
    let (ta, alice_id) = c.login_full(ALICE).await?;
    let (_, bob_id) = c.login_full(BOB).await?;
    let (td, _) = c.login_full(DAVE).await?;

    let mut alice = TestPeer::new("alice");
    alice.connect(&c.server.ws_url(&ta)).await?;
    let observed = create(&mut alice, household("g1", "401"));
    let delivered_to = create(&mut alice, household("g1", "402"));
    let e = create(&mut alice, episode("g1", &observed, Some(&bob_id)));
    let t = create(&mut alice, task("g1", &delivered_to, Some(&bob_id), &alice_id));
    alice.sync_all(T).await?;

    // Dave's /api/me names his grid's medic index; the grid index is closed to him.
    let me = api::me(&c.server, &td).await?;
    let g1 = me["grids"].as_array().and_then(|g| g.iter().find(|g| g["id"] == "g1")).cloned().unwrap_or_default();
    let medic_index = api::doc_id(&g1["medic_index"])?;
    let grid_index = api::index_of(&c.server, &ta, "g1").await?;
    assert!(!fetch(&c.server.ws_url(&td), &grid_index, T).await?.available(), "a medic read the grid index");

    let dave_url = c.server.ws_url(&td);
    let (es, hs) = (e.to_string(), observed.to_string());
    // The server makes the episode's medical record and readings and links them; the index
    // lists them too.
    let episode_seen =
        wait_for_doc(&dave_url, &e, T, |v| v["medical"].is_string() && v["readings"].is_string()).await?;
    let ms = episode_seen["medical"].as_str().expect("linked").to_owned();
    let rs = episode_seen["readings"].as_str().expect("linked").to_owned();
    let index = wait_for_doc(&dave_url, &medic_index, T, |v| {
        [&es, &hs, &ms, &rs].iter().all(|id| v["docs"].get(id.as_str()).is_some())
    })
    .await?;
    assert_eq!(index["kind"], "medic-index");
    for (id, row) in rows(&index) {
        assert_ne!(row["kind"], "task", "a delivery in the medic index: {id} {row}");
        assert_ne!(id, t.to_string(), "the task is listed");
        assert_ne!(id, delivered_to.to_string(), "a household without an episode is listed: {row}");
    }
    assert_eq!(rows(&index).len(), 4, "the episode, its readings, its medical record and its household: {index}");
    assert_eq!(index["docs"][&ms]["kind"], "medical", "{index}");
    assert_eq!(index["docs"][&ms]["status"], "active", "the record follows its episode's status: {index}");
    assert_eq!(index["docs"][&rs]["kind"], "readings", "{index}");
    assert_eq!(index["docs"][&rs]["status"], "active", "the readings follow their episode's status: {index}");
    // No address in the medic index: its history would keep it after the episode closes.
    assert_eq!(index["docs"][&es]["title"], "check-in", "{}", index["docs"][&es]);
    assert_eq!(index["docs"][&hs]["title"], "", "{}", index["docs"][&hs]);
    // Dave reads what the index lists, and not the task.
    let dave_reads = |id| fetch(&dave_url, id, T);
    assert!(dave_reads(&e).await?.available() && dave_reads(&observed).await?.available());
    let readings: linli_shared::DocumentId = rs.parse()?;
    assert!(dave_reads(&readings).await?.available(), "a medic cannot read the episode's readings");
    assert!(!dave_reads(&t).await?.available(), "a medic read a delivery");

    // A second person of the household is observed too; the first episode closes: the
    // household stays listed (an episode there is still open). When the second closes
    // too, the household leaves the medic index.
    let e2 = create(&mut alice, episode("g1", &observed, Some(&bob_id)));
    assert_eq!(push_change(&mut alice, &e2, T).await?, Outcome::Accepted);
    let e2s = e2.to_string();
    wait_for_doc(&dave_url, &medic_index, T, |v| v["docs"].get(&e2s).is_some()).await?;
    close(&mut alice, &e).await?;
    let index = wait_for_doc(&dave_url, &medic_index, T, |v| {
        [&es, &ms, &rs].iter().all(|id| v["docs"][id.as_str()]["status"] == "closed")
    })
    .await?;
    assert!(index["docs"].get(&hs).is_some(), "the household left while an episode there is open");
    close(&mut alice, &e2).await?;
    let index = wait_for_doc(&dave_url, &medic_index, T, |v| v["docs"].get(&hs).is_none()).await?;
    assert_eq!(index["docs"][&es]["status"], "closed", "recently closed work stays listed");
    Ok(())
}

async fn close(alice: &mut TestPeer, e: &linli_shared::DocumentId) -> anyhow::Result<()> {
    set(alice, e, "status", json!("closed"));
    set(alice, e, "closed_at", json!(now_ms()));
    anyhow::ensure!(push_change(alice, e, T).await? == Outcome::Accepted, "closing {e}");
    Ok(())
}
