//! SQLite's group commit (issue 17): units that queued for the writer before
//! a group's first unit finished are committed together by one `COMMIT`, later
//! ones by the next (no finished unit waits for them); a unit that fails inside a
//! group rolls back alone; nobody is answered before the commit that covers
//! them; a unit that gives up waiting leaves nothing stuck.
//!
//! PostgreSQL has no groups (many writers, each commit its own), so these run
//! on SQLite only; the conformance suite runs every store method on both.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use domain::{OrgId, OrganisationKind, Ukprn};
use store::{NewOrganisation, Store, StoreError};
use store_sql::SqlStore;
use time::OffsetDateTime;

fn org(ukprn: &str) -> NewOrganisation {
    NewOrganisation {
        id: OrgId::random(),
        kind: OrganisationKind::Provider,
        name: format!("Provider {ukprn}"),
        ukprn: Some(Ukprn::parse(ukprn).unwrap()),
        accountable_officer_name: None,
        accountable_officer_email: None,
        created_at: OffsetDateTime::now_utc(),
    }
}

async fn exists(store: &SqlStore, id: OrgId) -> bool {
    store.organisation(id).await.unwrap().is_some()
}

/// Waits until `n` units are queued for the writer.
async fn until_waiting(store: &SqlStore, n: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.group_commit_stats().unwrap().waiting < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} units never queued for the writer: {:?}",
            store.group_commit_stats()
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_unit_inside_a_group_rolls_back_alone() {
    let db = testkit::TestDb::sqlite().await;
    let store: Arc<SqlStore> = db.store.clone();
    let before = store.group_commit_stats().unwrap();

    // The first unit holds the writer while three more queue behind it.
    let first = org("10000001");
    let mut tx = store.begin().await.unwrap();
    tx.insert_organisation(&first).await.unwrap();

    let spawn_unit = |o: NewOrganisation, fail: bool| {
        let store = store.clone();
        tokio::spawn(async move {
            let mut tx = store.begin().await?;
            tx.insert_organisation(&o).await?;
            if fail {
                // A second organisation with the same UKPRN: the statement
                // fails, and the unit (as every use case does on an error)
                // is dropped without commit.
                let mut twin = org("10000001");
                twin.ukprn = o.ukprn.clone();
                tx.insert_organisation(&twin).await?;
            }
            tx.commit().await
        })
    };
    let second = org("10000002");
    let failing = org("10000003");
    let fourth = org("10000004");
    let b = spawn_unit(second.clone(), false);
    until_waiting(&store, 1).await;
    let c = spawn_unit(failing.clone(), true);
    until_waiting(&store, 2).await;
    let d = spawn_unit(fourth.clone(), false);
    until_waiting(&store, 3).await;

    // The first unit sees others waiting: it leaves its commit to the group
    // and is answered only when the group's COMMIT has run.
    let first_done = tokio::spawn(async move { tx.commit().await });

    first_done.await.unwrap().unwrap();
    b.await.unwrap().unwrap();
    let failed = c.await.unwrap();
    assert!(
        matches!(failed, Err(StoreError::Conflict { .. })),
        "the twin UKPRN must be a conflict: {failed:?}"
    );
    d.await.unwrap().unwrap();

    // Everything but the failing unit is there; none of the failing unit's
    // work is, including the statement that succeeded before its failure.
    assert!(exists(&store, first.id).await);
    assert!(exists(&store, second.id).await);
    assert!(exists(&store, fourth.id).await);
    assert!(!exists(&store, failing.id).await);

    // One COMMIT (one fsync) covered the three units that kept their work.
    let after = store.group_commit_stats().unwrap();
    assert_eq!(after.commits - before.commits, 1, "{before:?} → {after:?}");
    assert_eq!(after.units - before.units, 3, "{before:?} → {after:?}");
    assert_eq!(after.rolled_back - before.rolled_back, 1);
    assert_eq!(after.waiting, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_unit_rolled_back_at_the_end_of_a_group_still_lets_the_group_commit() {
    let db = testkit::TestDb::sqlite().await;
    let store: Arc<SqlStore> = db.store.clone();

    let first = org("10000011");
    let mut tx = store.begin().await.unwrap();
    tx.insert_organisation(&first).await.unwrap();
    // The only unit queued behind the first writes, then is dropped.
    let dropped = org("10000012");
    let last = {
        let store = store.clone();
        let dropped = dropped.clone();
        tokio::spawn(async move {
            let mut tx = store.begin().await.unwrap();
            tx.insert_organisation(&dropped).await.unwrap();
            drop(tx);
        })
    };
    until_waiting(&store, 1).await;
    tokio::time::timeout(Duration::from_secs(10), tx.commit())
        .await
        .expect("the first unit's commit must not wait for ever")
        .unwrap();
    last.await.unwrap();
    assert!(exists(&store, first.id).await);
    assert!(!exists(&store, dropped.id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_unit_that_gives_up_waiting_leaves_no_group_stuck() {
    let db = testkit::TestDb::sqlite().await;
    let store: Arc<SqlStore> = db.store.clone();

    let first = org("10000021");
    let mut tx = store.begin().await.unwrap();
    tx.insert_organisation(&first).await.unwrap();
    // A unit queues for the writer, then its request goes away.
    let waiter = {
        let store = store.clone();
        tokio::spawn(async move {
            let _tx = store.begin().await;
            std::future::pending::<()>().await;
        })
    };
    until_waiting(&store, 1).await;
    let committed = tokio::spawn(async move { tx.commit().await });
    waiter.abort();
    tokio::time::timeout(Duration::from_secs(10), committed)
        .await
        .expect("the group must be committed although the unit counted on went away")
        .unwrap()
        .unwrap();
    assert!(exists(&store, first.id).await);

    // The writer is free again.
    let mut tx = tokio::time::timeout(Duration::from_secs(10), store.begin())
        .await
        .expect("the writer must be free")
        .unwrap();
    let next = org("10000022");
    tx.insert_organisation(&next).await.unwrap();
    tx.commit().await.unwrap();
    assert!(exists(&store, next.id).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_concurrent_units_share_commits_and_all_arrive() {
    let db = testkit::TestDb::sqlite().await;
    let store: Arc<SqlStore> = db.store.clone();
    let before = store.group_commit_stats().unwrap();
    let orgs: Vec<NewOrganisation> = (0..200).map(|i| org(&format!("1{:07}", 100 + i))).collect();
    let tasks: Vec<_> = orgs
        .iter()
        .cloned()
        .map(|o| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut tx = store.begin().await?;
                tx.insert_organisation(&o).await?;
                tokio::task::yield_now().await;
                tx.commit().await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    for o in &orgs {
        assert!(exists(&store, o.id).await);
    }
    let after = store.group_commit_stats().unwrap();
    assert_eq!(after.units - before.units, 200);
    assert!(after.commits - before.commits <= 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_group_waits_only_for_units_queued_when_its_first_unit_finished() {
    let db = testkit::TestDb::sqlite().await;
    let store: Arc<SqlStore> = db.store.clone();
    let before = store.group_commit_stats().unwrap();

    // The first unit holds the writer while a second queues behind it.
    let first = org("10000031");
    let mut tx = store.begin().await.unwrap();
    tx.insert_organisation(&first).await.unwrap();
    let second = org("10000032");
    let (has_writer, second_has_writer) = tokio::sync::oneshot::channel();
    let (go, second_may_commit) = tokio::sync::oneshot::channel::<()>();
    let b = {
        let store = store.clone();
        let second = second.clone();
        tokio::spawn(async move {
            let mut tx = store.begin().await?;
            tx.insert_organisation(&second).await?;
            let _ = has_writer.send(());
            let _ = second_may_commit.await;
            tx.commit().await
        })
    };
    until_waiting(&store, 1).await;
    // The first finishes with the second queued: the group waits for it.
    let a = tokio::spawn(async move { tx.commit().await });
    second_has_writer.await.unwrap();

    // A third arrives after the group's first unit finished: it belongs to
    // the next group, and the second must not leave the commit to it.
    let third = org("10000033");
    let c = {
        let store = store.clone();
        let third = third.clone();
        tokio::spawn(async move {
            let mut tx = store.begin().await?;
            tx.insert_organisation(&third).await?;
            tx.commit().await
        })
    };
    until_waiting(&store, 1).await;
    go.send(()).unwrap();
    for unit in [a, b, c] {
        tokio::time::timeout(Duration::from_secs(10), unit)
            .await
            .expect("every unit is answered")
            .unwrap()
            .unwrap();
    }
    for o in [&first, &second, &third] {
        assert!(exists(&store, o.id).await);
    }
    // Two COMMITs: the first two units together, then the third.
    let after = store.group_commit_stats().unwrap();
    assert_eq!(after.commits - before.commits, 2, "{before:?} → {after:?}");
    assert_eq!(after.units - before.units, 3, "{before:?} → {after:?}");
}
