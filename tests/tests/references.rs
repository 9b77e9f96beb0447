//! References between documents (issue 9, item 3): a task's or an episode's `household`
//! must be a household of the same grid, and every new document's grid must exist. A
//! household the server does not have *yet* (a phone made both offline; they reach the
//! server in either order) is neither merged nor refused: the change waits for it.

use linli_shared::DocumentId;
use linli_tests::domain::{acknowledged, create, episode, household, task};
use linli_tests::outcome::{push_change, rejections, Outcome};
use linli_tests::server::{ADMIN, ALICE, BOB, FRANK};
use linli_tests::{Community, TestPeer};
use std::time::Duration;

const T: Duration = Duration::from_secs(15);

fn expect_refused(outcome: &Outcome, field: &str, what: &str) {
    match outcome {
        Outcome::Rejected(r) => {
            assert!(r.reason.contains(&format!("`{field}`")), "{what}: the reason should name `{field}`: {}", r.reason)
        }
        other => panic!("{what}: expected a refusal naming `{field}`, got {other:?}"),
    }
}

/// Syncs `peer` for `window` (an observation window, not a wait for readiness) and
/// asserts that `doc` was neither acknowledged nor refused meanwhile.
async fn undecided_for(peer: &mut TestPeer, doc: &DocumentId, window: Duration) -> anyhow::Result<()> {
    let end = tokio::time::Instant::now() + window;
    while tokio::time::Instant::now() < end {
        peer.push().await?;
        peer.pump_one(Duration::from_millis(100)).await?;
    }
    assert!(!acknowledged(peer, doc), "a task naming a household the server does not have was merged");
    assert!(rejections(peer, doc).is_empty(), "it was refused: {:?}", rejections(peer, doc));
    Ok(())
}

#[tokio::test]
async fn a_task_and_its_household_made_offline_are_accepted_in_either_order() -> anyhow::Result<()> {
    let c = Community::start(&[]).await?;
    let (ta, alice_id) = c.login_full(ALICE).await?;
    let (_, bob_id) = c.login_full(BOB).await?;
    let url = c.server.ws_url(&ta);

    // The task (and an episode) first: they wait, then go through once the household is in.
    let mut works = TestPeer::new("alice-works");
    let mut homes = TestPeer::new("alice-homes");
    let h = create(&mut homes, household("g1", "201"));
    let t = create(&mut works, task("g1", &h, Some(&bob_id), &alice_id));
    let e = create(&mut works, episode("g1", &h, Some(&bob_id)));
    works.connect(&url).await?;
    undecided_for(&mut works, &t, Duration::from_millis(1500)).await?;
    assert!(!acknowledged(&mut works, &e), "the episode was merged before its household");
    homes.connect(&url).await?;
    assert_eq!(push_change(&mut homes, &h, T).await?, Outcome::Accepted, "the household");
    works.sync_all(T).await?;
    for d in [t, e] {
        assert!(acknowledged(&mut works, &d), "{d} is accepted once its household is in");
        assert!(rejections(&works, &d).is_empty(), "{d} was refused: {:?}", rejections(&works, &d));
    }

    // The household first, then its task: accepted at once.
    let h2 = create(&mut homes, household("g1", "202"));
    assert_eq!(push_change(&mut homes, &h2, T).await?, Outcome::Accepted);
    let t2 = create(&mut works, task("g1", &h2, None, &alice_id));
    assert_eq!(push_change(&mut works, &t2, T).await?, Outcome::Accepted);

    // Both on one phone, sent together: whichever the server sees first, both go in.
    let mut phone = TestPeer::new("alice-phone");
    let h3 = create(&mut phone, household("g1", "203"));
    let t3 = create(&mut phone, task("g1", &h3, Some(&bob_id), &alice_id));
    phone.connect(&url).await?;
    phone.sync_all(T).await?;
    assert!(acknowledged(&mut phone, &h3) && acknowledged(&mut phone, &t3));
    Ok(())
}

#[tokio::test]
async fn references_to_another_grid_or_kind_and_unknown_grids_are_refused() -> anyhow::Result<()> {
    let c = Community::start_with_admin(&[]).await?;
    let (ta, alice_id) = c.login_full(ALICE).await?;
    let (tb, bob_id) = c.login_full(BOB).await?;
    let (tf, _) = c.login_full(FRANK).await?;
    let (tadmin, _) = c.login_full(ADMIN).await?;

    let mut frank = TestPeer::new("frank");
    frank.connect(&c.server.ws_url(&tf)).await?;
    let g2_home = create(&mut frank, household("g2", "301"));
    assert_eq!(push_change(&mut frank, &g2_home, T).await?, Outcome::Accepted);

    let mut alice = TestPeer::new("alice");
    alice.connect(&c.server.ws_url(&ta)).await?;
    let cross = create(&mut alice, task("g1", &g2_home, Some(&bob_id), &alice_id));
    expect_refused(&push_change(&mut alice, &cross, T).await?, "household", "a g1 task for a g2 household");
    let cross_ep = create(&mut alice, episode("g1", &g2_home, Some(&bob_id)));
    expect_refused(&push_change(&mut alice, &cross_ep, T).await?, "household", "a g1 episode for a g2 household");

    let h = create(&mut alice, household("g1", "302"));
    let t = create(&mut alice, task("g1", &h, Some(&bob_id), &alice_id));
    for d in [h, t] {
        assert_eq!(push_change(&mut alice, &d, T).await?, Outcome::Accepted);
    }
    let not_a_home = create(&mut alice, episode("g1", &t, Some(&bob_id)));
    expect_refused(
        &push_change(&mut alice, &not_a_home, T).await?,
        "household",
        "an episode whose household is a task",
    );

    let mut admin = TestPeer::new("admin");
    admin.connect(&c.server.ws_url(&tadmin)).await?;
    let nowhere = create(&mut admin, household("g9", "303"));
    expect_refused(&push_change(&mut admin, &nowhere, T).await?, "grid", "a household of a grid that does not exist");

    // Bob, assigned to the refused task, reads nothing of the g2 household.
    let mut bob = TestPeer::new("bob");
    bob.connect(&c.server.ws_url(&tb)).await?;
    bob.want(cross);
    bob.want(g2_home);
    bob.sync_all(T).await?;
    assert!(bob.docs[&cross].unavailable && bob.docs[&g2_home].unavailable);
    Ok(())
}

#[tokio::test]
async fn a_household_that_never_comes_is_refused_after_the_wait() -> anyhow::Result<()> {
    // The defaults: a change waits up to `reference_wait_secs` (300), asked again every 2 s.
    let c = Community::start(&[]).await?;
    let (ta, alice_id) = c.login_full(ALICE).await?;
    let mut alice = TestPeer::new("alice");
    alice.connect(&c.server.ws_url(&ta)).await?;
    let t = create(&mut alice, task("g1", &DocumentId::random(), None, &alice_id));
    undecided_for(&mut alice, &t, Duration::from_millis(1000)).await?;
    c.server.advance_clock(301).await?;
    expect_refused(&push_change(&mut alice, &t, T).await?, "household", "a household that never came");
    Ok(())
}
