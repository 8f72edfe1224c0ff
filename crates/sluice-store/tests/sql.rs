//! The SQL store: every test function runs on SQLite always and on PostgreSQL when
//! `SLUICE_TEST_POSTGRES_URL` is set.

#[macro_use]
mod common;

use sluice_store::sql::{
    Alignment, Budget, BudgetUpdate, ConfigRecords, Customer, CustomerUpdate, GroupBy, KeyUpdate,
    Level, RateLimit, RateLimitUpdate, Source, SpendBatch, SpendKey, SpendTotals, Team, TeamUpdate,
    VirtualKey,
};
use sluice_store::{FastMap, Store, StoreError};

both_backends!(
    customers_crud,
    teams_and_parents,
    keys_crud_and_lookup,
    conflicts_and_unknown_parents,
    budgets_and_rate_limits,
    config_upsert_never_clobbers_api,
    spend_upsert_adds_and_reports,
);

fn customer(id: &str) -> Customer {
    Customer {
        id: id.into(),
        name: format!("Customer {id}"),
        disabled: false,
        created_at: 1_700_000_000,
        metadata: Some(serde_json::json!({"tier": "gold"})),
        source: Source::Api,
    }
}

fn team(id: &str, customer_id: Option<&str>) -> Team {
    Team {
        id: id.into(),
        customer_id: customer_id.map(Into::into),
        name: format!("Team {id}"),
        disabled: false,
        created_at: 1_700_000_001,
        source: Source::Api,
    }
}

fn key(id: &str, hash: &str, team_id: Option<&str>) -> VirtualKey {
    VirtualKey {
        id: id.into(),
        name: format!("Key {id}"),
        key_hash: hash.into(),
        display_prefix: "sk-sluice-ab12".into(),
        team_id: team_id.map(Into::into),
        customer_id: None,
        disabled: false,
        expires_at: None,
        allowed_models: Some(vec!["gpt-4o".into(), "claude-sonnet".into()]),
        allowed_providers: None,
        created_at: 1_700_000_002,
        source: Source::Api,
    }
}

fn budget(id: &str, level: Level, owner: &str) -> Budget {
    Budget {
        id: id.into(),
        level,
        owner: owner.into(),
        limit_nanos: 5_000_000_000,
        period: "1d".into(),
        alignment: Alignment::Calendar,
        anchor: 0,
        source: Source::Api,
    }
}

fn rate(id: &str, level: Level, owner: &str) -> RateLimit {
    RateLimit {
        id: id.into(),
        level,
        owner: owner.into(),
        requests: Some(60),
        tokens: Some(100_000),
        window_secs: 60,
        concurrent: None,
        source: Source::Api,
    }
}

async fn customers_crud(store: Store) {
    let created = store.create_customer(&customer("acme")).await.unwrap();
    assert_eq!(created, customer("acme"));
    store.create_customer(&customer("beta")).await.unwrap();

    let all = store.list_customers().await.unwrap();
    assert_eq!(
        all.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["acme", "beta"]
    );

    let updated = store
        .update_customer(
            "acme",
            &CustomerUpdate {
                name: Some("ACME Corp".into()),
                metadata: Some(None),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.name, "ACME Corp");
    assert_eq!(updated.metadata, None);
    assert!(!updated.disabled);

    store.disable_customer("acme").await.unwrap();
    assert!(store.get_customer("acme").await.unwrap().disabled);

    assert!(matches!(
        store.get_customer("nope").await,
        Err(StoreError::NotFound {
            what: "customer",
            ..
        })
    ));
    assert!(matches!(
        store.disable_customer("nope").await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store
            .update_customer(
                "nope",
                &CustomerUpdate {
                    name: Some("x".into()),
                    ..Default::default()
                }
            )
            .await,
        Err(StoreError::NotFound { .. })
    ));
}

async fn teams_and_parents(store: Store) {
    store.create_customer(&customer("acme")).await.unwrap();
    store.create_customer(&customer("beta")).await.unwrap();
    store.create_team(&team("t1", Some("acme"))).await.unwrap();
    store.create_team(&team("t2", Some("beta"))).await.unwrap();
    store.create_team(&team("t3", None)).await.unwrap();

    let acme = store.list_teams(Some("acme")).await.unwrap();
    assert_eq!(acme, vec![team("t1", Some("acme"))]);
    assert_eq!(store.list_teams(None).await.unwrap().len(), 3);

    let moved = store
        .update_team(
            "t3",
            &TeamUpdate {
                customer_id: Some(Some("acme".into())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(moved.customer_id.as_deref(), Some("acme"));
    assert_eq!(store.list_teams(Some("acme")).await.unwrap().len(), 2);

    let detached = store
        .update_team(
            "t3",
            &TeamUpdate {
                customer_id: Some(None),
                disabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(detached.customer_id, None);
    assert!(detached.disabled);

    assert!(matches!(
        store
            .update_team(
                "t1",
                &TeamUpdate {
                    customer_id: Some(Some("ghost".into())),
                    ..Default::default()
                }
            )
            .await,
        Err(StoreError::UnknownParent(_))
    ));
}

async fn keys_crud_and_lookup(store: Store) {
    store.create_customer(&customer("acme")).await.unwrap();
    store.create_team(&team("t1", Some("acme"))).await.unwrap();
    let k = key("k1", "hash-1", Some("t1"));
    assert_eq!(store.create_key(&k).await.unwrap(), k);
    store.create_key(&key("k2", "hash-2", None)).await.unwrap();

    let found = store.find_key_by_hash("hash-1").await.unwrap();
    assert_eq!(found.as_ref().map(|k| k.id.as_str()), Some("k1"));
    assert_eq!(store.find_key_by_hash("hash-none").await.unwrap(), None);

    assert_eq!(store.list_keys(Some("t1"), None).await.unwrap().len(), 1);
    assert_eq!(store.list_keys(None, None).await.unwrap().len(), 2);

    let updated = store
        .update_key(
            "k1",
            &KeyUpdate {
                expires_at: Some(Some(1_800_000_000)),
                allowed_models: Some(None),
                allowed_providers: Some(Some(vec!["openai".into()])),
                customer_id: Some(Some("acme".into())),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.expires_at, Some(1_800_000_000));
    assert_eq!(updated.allowed_models, None);
    assert_eq!(updated.allowed_providers, Some(vec!["openai".to_string()]));
    assert_eq!(store.list_keys(None, Some("acme")).await.unwrap().len(), 1);
    assert_eq!(
        store
            .list_keys(Some("t1"), Some("acme"))
            .await
            .unwrap()
            .len(),
        1
    );

    store.disable_key("k1").await.unwrap();
    assert!(store.get_key("k1").await.unwrap().disabled);
    // An empty update changes nothing and returns the record.
    let same = store.update_key("k2", &KeyUpdate::default()).await.unwrap();
    assert_eq!(same, key("k2", "hash-2", None));
}

async fn conflicts_and_unknown_parents(store: Store) {
    store.create_customer(&customer("acme")).await.unwrap();
    assert!(matches!(
        store.create_customer(&customer("acme")).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.create_team(&team("t1", Some("ghost"))).await,
        Err(StoreError::UnknownParent(_))
    ));
    store.create_key(&key("k1", "hash-1", None)).await.unwrap();
    // Same hash under another id: the unique index refuses it.
    assert!(matches!(
        store.create_key(&key("k2", "hash-1", None)).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        store.create_key(&key("k3", "hash-3", Some("ghost"))).await,
        Err(StoreError::UnknownParent(_))
    ));
    let mut bad = budget("b1", Level::Key, "k1");
    bad.limit_nanos = -1;
    assert!(matches!(
        store.create_budget(&bad).await,
        Err(StoreError::Invalid(_))
    ));
}

async fn budgets_and_rate_limits(store: Store) {
    store
        .create_budget(&budget("b1", Level::Key, "k1"))
        .await
        .unwrap();
    store
        .create_budget(&budget("b2", Level::Team, "t1"))
        .await
        .unwrap();
    store
        .create_budget(&budget("b3", Level::Key, "k2"))
        .await
        .unwrap();
    let k1 = store.list_budgets(Some((Level::Key, "k1"))).await.unwrap();
    assert_eq!(k1, vec![budget("b1", Level::Key, "k1")]);
    assert_eq!(store.list_budgets(None).await.unwrap().len(), 3);

    let b = store
        .update_budget(
            "b1",
            &BudgetUpdate {
                limit_nanos: Some(7),
                alignment: Some(Alignment::Rolling),
                anchor: Some(1_700_000_000),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (b.limit_nanos, b.alignment, b.anchor, b.period.as_str()),
        (7, Alignment::Rolling, 1_700_000_000, "1d")
    );
    store.delete_budget("b3").await.unwrap();
    assert!(matches!(
        store.get_budget("b3").await,
        Err(StoreError::NotFound { .. })
    ));

    store
        .create_rate_limit(&rate("r1", Level::Provider, "openai"))
        .await
        .unwrap();
    let r = store
        .update_rate_limit(
            "r1",
            &RateLimitUpdate {
                tokens: Some(None),
                concurrent: Some(Some(4)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (r.requests, r.tokens, r.concurrent),
        (Some(60), None, Some(4))
    );
    assert_eq!(
        store
            .list_rate_limits(Some((Level::Provider, "openai")))
            .await
            .unwrap()
            .len(),
        1
    );
    let mut bad = rate("r2", Level::Key, "k1");
    bad.window_secs = 0;
    assert!(matches!(
        store.create_rate_limit(&bad).await,
        Err(StoreError::Invalid(_))
    ));
    store.delete_rate_limit("r1").await.unwrap();
    assert!(store.list_rate_limits(None).await.unwrap().is_empty());
}

async fn config_upsert_never_clobbers_api(store: Store) {
    // An API record with the id the config will also use.
    store.create_customer(&customer("acme")).await.unwrap();

    let mut from_file = customer("acme");
    from_file.name = "From the file".into();
    let mut records = ConfigRecords {
        customers: vec![from_file, customer("cfg")],
        teams: vec![team("cfg-team", Some("cfg"))],
        keys: vec![key("cfg-key", "cfg-hash", Some("cfg-team"))],
        budgets: vec![budget("cfg-budget", Level::Team, "cfg-team")],
        rate_limits: vec![rate("cfg-rate", Level::Key, "cfg-key")],
    };
    let outcome = store.upsert_from_config(&records).await.unwrap();
    assert_eq!((outcome.written, outcome.skipped_api), (5, 1));
    let acme = store.get_customer("acme").await.unwrap();
    assert_eq!(
        (acme.name.as_str(), acme.source),
        ("Customer acme", Source::Api)
    );
    assert_eq!(
        store.get_customer("cfg").await.unwrap().source,
        Source::Config
    );
    assert_eq!(
        store.get_key("cfg-key").await.unwrap().source,
        Source::Config
    );

    // A reload replaces config records.
    records.customers[1].name = "Renamed".into();
    records.budgets[0].limit_nanos = 42;
    records.keys[0].disabled = true;
    let outcome = store.upsert_from_config(&records).await.unwrap();
    assert_eq!((outcome.written, outcome.skipped_api), (5, 1));
    assert_eq!(store.get_customer("cfg").await.unwrap().name, "Renamed");
    assert_eq!(
        store.get_budget("cfg-budget").await.unwrap().limit_nanos,
        42
    );
    assert!(store.get_key("cfg-key").await.unwrap().disabled);

    // A broken reload (unknown parent) changes nothing: it is one transaction.
    records.customers[1].name = "Never".into();
    records.teams.push(team("orphan", Some("ghost")));
    assert!(matches!(
        store.upsert_from_config(&records).await,
        Err(StoreError::UnknownParent(_))
    ));
    assert_eq!(store.get_customer("cfg").await.unwrap().name, "Renamed");
}

fn spend_key(day: &str, key_id: Option<&str>, model: &str) -> SpendKey {
    SpendKey {
        day: day.into(),
        key_id: key_id.map(Into::into),
        team_id: Some("t1".into()),
        customer_id: None,
        provider: "openai".into(),
        model: model.into(),
    }
}

fn totals(requests: i64, cost: i64) -> SpendTotals {
    SpendTotals {
        requests,
        input_tokens: 10 * requests,
        output_tokens: 5 * requests,
        cached_input_tokens: requests,
        cost_nanos: cost,
        saved_nanos: 1,
    }
}

async fn spend_upsert_adds_and_reports(store: Store) {
    let batch = SpendBatch {
        ledger: FastMap::from_iter([
            (
                spend_key("2026-11-01", Some("k1"), "gpt-4o"),
                totals(2, 100),
            ),
            (spend_key("2026-11-01", None, "gpt-4o"), totals(1, 50)),
            (
                spend_key("2026-11-02", Some("k1"), "gpt-4o-mini"),
                totals(3, 30),
            ),
        ]),
        budgets: FastMap::from_iter([(("b1".to_string(), 1_700_000_000), 150)]),
    };
    store.apply_spend(&batch).await.unwrap();
    store.apply_spend(&batch).await.unwrap();
    store.apply_spend(&SpendBatch::default()).await.unwrap();

    assert_eq!(store.budget_spent("b1", 1_700_000_000).await.unwrap(), 300);
    assert_eq!(store.budget_spent("b1", 0).await.unwrap(), 0);

    let by_key = store
        .spend_report(GroupBy::Key, "2026-11-01", "2026-11-30")
        .await
        .unwrap();
    assert_eq!(
        by_key,
        vec![
            ("".to_string(), with_saved(totals(2, 100), 2)),
            ("k1".to_string(), with_saved(totals(10, 260), 4)),
        ]
    );
    let by_day = store
        .spend_report(GroupBy::Day, "2026-11-02", "2026-11-02")
        .await
        .unwrap();
    assert_eq!(by_day.len(), 1);
    assert_eq!(by_day[0].0, "2026-11-02");
    assert_eq!(by_day[0].1.cost_nanos, 60);
    let by_model = store
        .spend_report(GroupBy::Model, "2026-01-01", "2026-12-31")
        .await
        .unwrap();
    assert_eq!(
        by_model
            .iter()
            .map(|(m, t)| (m.as_str(), t.requests))
            .collect::<Vec<_>>(),
        [("gpt-4o", 6), ("gpt-4o-mini", 6)]
    );
    for g in [GroupBy::Team, GroupBy::Customer, GroupBy::Provider] {
        let r = store
            .spend_report(g, "2026-11-01", "2026-11-30")
            .await
            .unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].1.cost_nanos, 360);
    }
    let empty = store
        .spend_report(GroupBy::Key, "2025-01-01", "2025-12-31")
        .await
        .unwrap();
    assert!(empty.is_empty());

    let rows = store.spend_rows("2026-11-01", "2026-11-01").await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].key.key_id, None);
    assert_eq!(rows[0].key.customer_id, None);
    assert_eq!(rows[1].totals, with_saved(totals(4, 200), 2));
}

fn with_saved(mut t: SpendTotals, saved: i64) -> SpendTotals {
    t.saved_nanos = saved;
    t
}

#[tokio::test]
async fn sqlite_file_is_created_in_wal_mode_and_reopens() {
    use sqlx::Row;
    let dir = std::env::temp_dir().join(common::unique("reopen"));
    let path = dir.join("nested").join("gov.db");
    let url = format!("sqlite://{}", path.display());
    {
        let store = Store::connect(&url).await.unwrap();
        assert!(path.exists());
        let mode: String = sqlx::query("PRAGMA journal_mode")
            .fetch_one(store.pool())
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = sqlx::query("PRAGMA foreign_keys")
            .fetch_one(store.pool())
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert_eq!(fk, 1);
        store.create_customer(&customer("acme")).await.unwrap();
        store.close().await;
    }
    // Migrations are idempotent and the data is still there.
    let store = Store::connect(&url).await.unwrap();
    assert_eq!(
        store.get_customer("acme").await.unwrap().name,
        "Customer acme"
    );
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn sqlite_memory_works_and_enforces_foreign_keys() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    store.create_customer(&customer("acme")).await.unwrap();
    assert_eq!(store.list_customers().await.unwrap().len(), 1);
    assert!(matches!(
        store.create_team(&team("t", Some("ghost"))).await,
        Err(StoreError::UnknownParent(_))
    ));
}

#[tokio::test]
async fn bad_urls_are_invalid_and_redacted() {
    let err = Store::connect("mysql://root:hunter2@localhost/db")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)));
    assert!(!err.to_string().contains("hunter2"), "{err}");

    // Nothing listens on port 1: unavailable, and the password is not in the message.
    let err = Store::connect("postgres://app:hunter2@127.0.0.1:1/sluice?connect_timeout=1")
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(!format!("{err:?}").contains("hunter2"), "{err:?}");
}
