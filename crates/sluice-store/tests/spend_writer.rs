//! The spend writer: every test function runs on SQLite always and on PostgreSQL when
//! `SLUICE_TEST_POSTGRES_URL` is set.

#[macro_use]
mod common;

use std::time::Duration;

use sluice_core::period::Window;
use sluice_store::sql::GroupBy;
use sluice_store::{SpendEvent, SpendWriter, Store};

both_backends!(
    records_aggregate_and_survive_a_flush,
    background_task_flushes_on_its_own,
    failed_flush_keeps_and_retries,
    shutdown_flushes,
);

fn event<'a>(key: &'a str, model: &'a str, cost: i64) -> SpendEvent<'a> {
    SpendEvent {
        key_id: Some(key),
        team_id: Some("t1"),
        customer_id: None,
        provider: "openai",
        model,
        day: "2026-11-26",
        requests: 1,
        input: 100,
        output: 20,
        cached: 10,
        cost_nanos: cost,
        saved_nanos: 0,
        budget_windows: &[
            (
                "key-budget",
                Window {
                    start: 1_764_115_200,
                    end: 1_764_201_600,
                },
            ),
            ("team-budget", Window { start: 0, end: 60 }),
        ],
    }
}

async fn totals_for(store: &Store, group: GroupBy) -> Vec<(String, i64, i64)> {
    store
        .spend_report(group, "2026-11-26", "2026-11-26")
        .await
        .unwrap()
        .into_iter()
        .map(|(g, t)| (g, t.requests, t.cost_nanos))
        .collect()
}

async fn records_aggregate_and_survive_a_flush(store: Store) {
    // A long interval: only explicit flushes write.
    let writer = SpendWriter::start(store.clone(), Duration::from_secs(3600));
    for _ in 0..100 {
        writer.record(event("k1", "gpt-4o", 1_000));
    }
    writer.record(event("k2", "gpt-4o", 5));
    assert!(!writer.is_idle());
    writer.flush().await.unwrap();
    assert!(writer.is_idle());
    assert_eq!(
        totals_for(&store, GroupBy::Key).await,
        vec![("k1".into(), 100, 100_000), ("k2".into(), 1, 5)]
    );
    let rows = store.spend_rows("2026-11-26", "2026-11-26").await.unwrap();
    assert_eq!(rows[0].totals.input_tokens, 10_000);
    assert_eq!(rows[0].totals.cached_input_tokens, 1_000);
    assert_eq!(
        store
            .budget_spent("key-budget", 1_764_115_200)
            .await
            .unwrap(),
        100_005
    );
    assert_eq!(store.budget_spent("team-budget", 0).await.unwrap(), 100_005);

    // A second flush adds to the rows rather than replacing them.
    writer.record(event("k1", "gpt-4o", 1));
    writer.flush().await.unwrap();
    assert_eq!(
        totals_for(&store, GroupBy::Model).await,
        vec![("gpt-4o".into(), 102, 100_006)]
    );
    writer.shutdown().await.unwrap();
}

async fn background_task_flushes_on_its_own(store: Store) {
    let writer = SpendWriter::start(store.clone(), Duration::from_millis(50));
    writer.record(event("k1", "gpt-4o", 7));
    let mut waited = 0;
    while store.budget_spent("team-budget", 0).await.unwrap() == 0 && waited < 40 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    assert_eq!(store.budget_spent("team-budget", 0).await.unwrap(), 7);
    writer.shutdown().await.unwrap();
}

async fn failed_flush_keeps_and_retries(store: Store) {
    let writer = SpendWriter::start(store.clone(), Duration::from_secs(3600));
    writer.record(event("k1", "gpt-4o", 10));
    // Break the ledger table: the flush's transaction fails as a whole.
    sqlx::query("ALTER TABLE spend_ledger RENAME TO spend_ledger_away")
        .execute(store.pool())
        .await
        .unwrap();
    assert!(writer.flush().await.is_err());
    assert!(!writer.is_idle(), "a failed batch must be kept");
    // Nothing was half-written: the budget window is part of the same transaction.
    assert_eq!(store.budget_spent("team-budget", 0).await.unwrap(), 0);
    // More spend arrives while the database is broken; it merges with the kept batch.
    writer.record(event("k1", "gpt-4o", 5));
    assert!(writer.flush().await.is_err());
    sqlx::query("ALTER TABLE spend_ledger_away RENAME TO spend_ledger")
        .execute(store.pool())
        .await
        .unwrap();
    writer.flush().await.unwrap();
    assert!(writer.is_idle());
    assert_eq!(
        totals_for(&store, GroupBy::Key).await,
        vec![("k1".into(), 2, 15)]
    );
    assert_eq!(store.budget_spent("team-budget", 0).await.unwrap(), 15);
    writer.shutdown().await.unwrap();
}

async fn shutdown_flushes(store: Store) {
    let writer = SpendWriter::start(store.clone(), Duration::from_secs(3600));
    writer.record(event("k9", "claude", 3));
    writer.shutdown().await.unwrap();
    assert_eq!(
        totals_for(&store, GroupBy::Key).await,
        vec![("k9".into(), 1, 3)]
    );
    // Shutting down twice is harmless.
    writer.shutdown().await.unwrap();
}

/// A store that is gone (pool closed) fails the flush and keeps the data.
#[tokio::test]
async fn closed_store_keeps_spend() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    let writer = SpendWriter::start(store.clone(), Duration::from_secs(3600));
    writer.record(event("k1", "gpt-4o", 10));
    store.close().await;
    let err = writer.flush().await.unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(!writer.is_idle());
}
