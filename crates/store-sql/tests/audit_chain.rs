#![allow(clippy::unwrap_used)]
//! The audit chain stays whole when this process's idea of its end is wrong:
//! another process appended, or the transaction that appended rolled back.

use std::sync::Arc;

use store::Store;
use store::conformance::{assert_chained, event};
use testkit::TestDb;

async fn append(store: &dyn Store, action: &str, commit: bool) {
    let mut tx = store.begin().await.unwrap();
    tx.append_audit(&event(action)).await.unwrap();
    if commit {
        tx.commit().await.unwrap();
    }
}

async fn chain_survives_other_writers_and_rollbacks(db: TestDb) {
    let here: Arc<dyn Store> = db.store.clone();
    let there = db.another_store().await;
    there
        .open_audit_chain(
            store::conformance::chain_key(),
            time::OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
    append(here.as_ref(), "a.1", true).await;
    append(here.as_ref(), "a.2", true).await;
    // Another process appends: this one's end of the chain is now stale.
    append(&there, "b.1", true).await;
    append(here.as_ref(), "a.3", true).await;
    // An append that rolls back leaves this process remembering a row that
    // is not there; the next append must still follow the real end.
    append(here.as_ref(), "a.rolled-back", false).await;
    append(here.as_ref(), "a.4", true).await;
    append(&there, "b.2", true).await;
    append(here.as_ref(), "a.5", true).await;

    let rows = here.audit_after(0, 100).await.unwrap();
    let actions: Vec<&str> = rows.iter().map(|r| r.entry.action.as_str()).collect();
    assert_eq!(actions, ["a.1", "a.2", "b.1", "a.3", "a.4", "b.2", "a.5"]);
    assert_chained(&rows);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_chain_survives_other_writers_and_rollbacks() {
    chain_survives_other_writers_and_rollbacks(TestDb::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_chain_survives_other_writers_and_rollbacks() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    chain_survives_other_writers_and_rollbacks(db).await;
}
