//! Counters: every test function runs against the memory variant always and the Redis
//! variant when `SLUICE_TEST_REDIS_URL` is set.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sluice_store::{Counters, Denied, InFlightDenied, RateRequest, StoreError};

/// One `#[tokio::test]` per backend for each shared test function.
macro_rules! both_backends {
    ($($name:ident),+ $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(sluice_store::Counters::memory()).await;
                }
            )+
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    crate::common::with_redis(
                        concat!("redis::", stringify!($name)),
                        |c, _, _| async move { super::$name(c).await },
                    )
                    .await;
                }
            )+
        }
    };
}

both_backends!(
    spend_windows_add_get_seed,
    rate_limit_admits_limit_then_denies,
    rate_limit_is_all_or_nothing,
    rate_limit_refills_over_time,
    rate_adjust_charges_and_gives_back,
    rate_impossible_requests_are_denied,
    rate_concurrency_admits_exactly_limit,
    in_flight_all_or_nothing_and_release,
    in_flight_concurrency_admits_exactly_limit,
    in_flight_leases_expire,
    admit_races_admit_exactly_the_rate_limit,
    admit_races_take_exactly_the_slots,
);

fn req(key: &str, limit: u64, window_ms: u64, amount: u64) -> RateRequest<'_> {
    RateRequest {
        key,
        limit,
        window_ms,
        amount,
        slot: None,
    }
}

async fn spend_windows_add_get_seed(c: Counters) {
    assert_eq!(c.spend_get("b1", 100).await.unwrap(), 0);
    assert_eq!(c.spend_add("b1", 100, 60, 5).await.unwrap(), 5);
    assert_eq!(c.spend_add("b1", 100, 60, 7).await.unwrap(), 12);
    assert_eq!(c.spend_get("b1", 100).await.unwrap(), 12);
    // Another window is separate.
    assert_eq!(c.spend_get("b1", 200).await.unwrap(), 0);
    // Seeding only raises.
    assert_eq!(c.spend_seed("b1", 100, 60, 3).await.unwrap(), 12);
    assert_eq!(c.spend_seed("b1", 100, 60, 50).await.unwrap(), 50);
    assert_eq!(c.spend_get("b1", 100).await.unwrap(), 50);
    assert_eq!(c.spend_seed("b2", 100, 60, 9).await.unwrap(), 9);
    assert_eq!(c.spend_add("b2", 100, 60, 1).await.unwrap(), 10);
    // Large nanodollar amounts stay exact ($5M).
    let big = 5_000_000_000_000_123_i64;
    assert_eq!(c.spend_seed("big", 1, 60, big).await.unwrap(), big);
    assert_eq!(c.spend_add("big", 1, 60, 2).await.unwrap(), big + 2);
}

async fn rate_limit_admits_limit_then_denies(c: Counters) {
    for _ in 0..5 {
        assert_eq!(
            c.rate_acquire(&[req("k", 5, 60_000, 1)]).await.unwrap(),
            Ok(())
        );
    }
    let denied = c
        .rate_acquire(&[req("k", 5, 60_000, 1)])
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(denied.index, 0);
    assert_eq!(denied.limit, 5);
    assert_eq!(denied.remaining, 0);
    // One unit drains every 12 s; the bucket is empty again after ~60 s.
    assert!(
        (11_000..=12_000).contains(&denied.retry_after_ms),
        "{denied:?}"
    );
    assert!((59_000..=60_000).contains(&denied.reset_ms), "{denied:?}");
    // A different window on the same name is a different counter.
    assert_eq!(
        c.rate_acquire(&[req("k", 5, 1_000, 1)]).await.unwrap(),
        Ok(())
    );
}

async fn rate_limit_is_all_or_nothing(c: Counters) {
    let levels = |amount| {
        [
            req("cust", 10, 60_000, amount),
            req("key", 2, 60_000, amount),
        ]
    };
    assert_eq!(c.rate_acquire(&levels(1)).await.unwrap(), Ok(()));
    assert_eq!(c.rate_acquire(&levels(1)).await.unwrap(), Ok(()));
    let denied = c.rate_acquire(&levels(1)).await.unwrap().unwrap_err();
    assert_eq!(denied.index, 1);
    // The customer level was not charged by the refused request: 8 of 10 remain.
    for _ in 0..8 {
        assert_eq!(
            c.rate_acquire(&[req("cust", 10, 60_000, 1)]).await.unwrap(),
            Ok(())
        );
    }
    let denied = c
        .rate_acquire(&[req("cust", 10, 60_000, 1)])
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!((denied.index, denied.remaining), (0, 0));
    // The same key twice in one call counts twice.
    let twice = [req("dup", 3, 60_000, 2), req("dup", 3, 60_000, 2)];
    assert!(c.rate_acquire(&twice).await.unwrap().is_err());
    assert_eq!(
        c.rate_acquire(&[req("dup", 3, 60_000, 3)]).await.unwrap(),
        Ok(())
    );
}

async fn rate_limit_refills_over_time(c: Counters) {
    let r = [req("fast", 2, 300, 1)];
    assert_eq!(c.rate_acquire(&r).await.unwrap(), Ok(()));
    assert_eq!(c.rate_acquire(&r).await.unwrap(), Ok(()));
    let denied = c.rate_acquire(&r).await.unwrap().unwrap_err();
    assert!(denied.retry_after_ms <= 150, "{denied:?}");
    tokio::time::sleep(Duration::from_millis(denied.retry_after_ms + 20)).await;
    assert_eq!(c.rate_acquire(&r).await.unwrap(), Ok(()));
}

async fn rate_adjust_charges_and_gives_back(c: Counters) {
    let tokens = |n| [req("tpm", 100, 60_000, n)];
    assert_eq!(c.rate_acquire(&tokens(80)).await.unwrap(), Ok(()));
    // The estimate was 80, the call used 30: give 50 back.
    c.rate_adjust("tpm", 60_000, 100, -50).await.unwrap();
    assert_eq!(c.rate_acquire(&tokens(70)).await.unwrap(), Ok(()));
    // Now 100 used; the next call went over its estimate by 20: the level is in debt.
    c.rate_adjust("tpm", 60_000, 100, 20).await.unwrap();
    let denied = c.rate_acquire(&tokens(1)).await.unwrap().unwrap_err();
    assert_eq!(denied.remaining, 0);
    // Giving back more than was taken only empties the bucket.
    c.rate_adjust("tpm", 60_000, 100, -1_000).await.unwrap();
    assert_eq!(c.rate_acquire(&tokens(100)).await.unwrap(), Ok(()));
    // Adjusting an unknown level is a no-op.
    c.rate_adjust("never-used", 60_000, 10, 10).await.unwrap();
    assert_eq!(
        c.rate_acquire(&[req("never-used", 10, 60_000, 10)])
            .await
            .unwrap(),
        Ok(())
    );
}

async fn rate_impossible_requests_are_denied(c: Counters) {
    let too_big = c
        .rate_acquire(&[req("big", 10, 1_000, 11)])
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(
        (too_big.index, too_big.remaining, too_big.limit),
        (0, 10, 10)
    );
    assert!(
        c.rate_acquire(&[req("zero", 0, 1_000, 1)])
            .await
            .unwrap()
            .is_err()
    );
    assert!(matches!(
        c.rate_acquire(&[req("bad", 1, 0, 1)]).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(c.rate_acquire(&[]).await.unwrap(), Ok(()));
}

/// 64 tasks race for a limit of 20 in a 60 s window: exactly 20 win.
async fn rate_concurrency_admits_exactly_limit(c: Counters) {
    let admitted = common::race(64, |_| {
        let c = c.clone();
        async move {
            let levels = [
                req("race-team", 1_000, 60_000, 1),
                req("race", 20, 60_000, 1),
            ];
            c.rate_acquire(&levels).await.unwrap().ok()
        }
    })
    .await;
    assert_eq!(admitted.len(), 20);
}

async fn in_flight_all_or_nothing_and_release(c: Counters) {
    let t1 = c
        .in_flight_acquire(&[("team", 5), ("key", 1)], 60_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c.in_flight_count("team").await.unwrap(), 1);
    let denied = c
        .in_flight_acquire(&[("team", 5), ("key", 1)], 60_000)
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(denied, InFlightDenied { index: 1 });
    // The refused request took nothing at the team level.
    assert_eq!(c.in_flight_count("team").await.unwrap(), 1);
    c.in_flight_release(t1).await.unwrap();
    assert_eq!(c.in_flight_count("team").await.unwrap(), 0);
    assert_eq!(c.in_flight_count("key").await.unwrap(), 0);
    let t2 = c
        .in_flight_acquire(&[("team", 5), ("key", 1)], 60_000)
        .await
        .unwrap()
        .unwrap();
    c.in_flight_release(t2).await.unwrap();
    assert!(matches!(
        c.in_flight_acquire(&[("x", 1)], 0).await,
        Err(StoreError::Invalid(_))
    ));
}

/// 64 tasks race for 8 concurrency slots and hold them: exactly 8 win.
async fn in_flight_concurrency_admits_exactly_limit(c: Counters) {
    let tickets = common::race(64, |_| {
        let c = c.clone();
        async move {
            c.in_flight_acquire(&[("cust-race", 100), ("race", 8)], 60_000)
                .await
                .unwrap()
                .ok()
        }
    })
    .await;
    assert_eq!(tickets.len(), 8);
    assert_eq!(c.in_flight_count("race").await.unwrap(), 8);
    assert_eq!(c.in_flight_count("cust-race").await.unwrap(), 8);
    for t in tickets {
        c.in_flight_release(t).await.unwrap();
    }
    assert_eq!(c.in_flight_count("race").await.unwrap(), 0);
}

/// A lease never released (a crashed instance, a dropped future) frees its slot after
/// the TTL.
async fn in_flight_leases_expire(c: Counters) {
    let _forgotten = c
        .in_flight_acquire(&[("lease", 1)], 200)
        .await
        .unwrap()
        .unwrap();
    assert!(
        c.in_flight_acquire(&[("lease", 1)], 200)
            .await
            .unwrap()
            .is_err()
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(c.in_flight_count("lease").await.unwrap(), 0);
    let t = c
        .in_flight_acquire(&[("lease", 1)], 200)
        .await
        .unwrap()
        .unwrap();
    c.in_flight_release(t).await.unwrap();
}

/// `admit`, the request path's call: 64 tasks of one key race for 20 requests a minute.
async fn admit_races_admit_exactly_the_rate_limit(c: Counters) {
    let admitted = common::race(64, |_| {
        let c = c.clone();
        async move {
            let rates = [
                req("admit-team", 1_000_000, 60_000, 1),
                req("admit-key", 20, 60_000, 1),
            ];
            let ticket = c.admit("key", &rates, &[]).await.unwrap().ok()?;
            c.release(ticket);
            Some(())
        }
    })
    .await;
    assert_eq!(admitted.len(), 20);
}

/// `admit` with concurrency: 64 tasks hold their slots, 8 win; released, 8 more fit, and
/// a refused slot gives its rate units back.
async fn admit_races_take_exactly_the_slots(c: Counters) {
    let held = common::race(64, |_| {
        let c = c.clone();
        async move {
            let rates = [req("slots-rpm", 1_000_000, 60_000, 1)];
            c.admit("key", &rates, &[("slots-team", 1_000), ("slots-key", 8)])
                .await
                .unwrap()
                .ok()
        }
    })
    .await;
    assert_eq!(held.len(), 8);
    let tokens = [req("slots-tpm", 10, 60_000, 10)];
    let ten_tokens = || c.admit("key", &tokens, &[("slots-key", 8)]);
    let refused = ten_tokens().await.unwrap().unwrap_err();
    assert_eq!(refused, Denied::InFlight(InFlightDenied { index: 0 }));
    for ticket in held {
        c.release(ticket);
    }
    // The refused request took no tokens: all 10 are still there.
    let ticket = ten_tokens().await.unwrap().unwrap();
    c.release(ticket);
    let mut again = Vec::new();
    for _ in 0..8 {
        again.push(
            c.admit("key", &[], &[("slots-key", 8)])
                .await
                .unwrap()
                .unwrap(),
        );
    }
    assert!(
        c.admit("key", &[], &[("slots-key", 8)])
            .await
            .unwrap()
            .is_err()
    );
    for ticket in again {
        c.release(ticket);
    }
}

/// Two instances (two connection managers) on one Redis enforce one limit together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_two_instances_share_one_limit() {
    common::with_redis(
        "redis_two_instances_share_one_limit",
        |a, url, prefix| async move {
            let b = Counters::redis(&url, &prefix).await.unwrap();
            let admitted = Arc::new(AtomicU64::new(0));
            let mut tasks = Vec::new();
            for i in 0..64 {
                let c = if i % 2 == 0 { a.clone() } else { b.clone() };
                let admitted = admitted.clone();
                tasks.push(tokio::spawn(async move {
                    if c.rate_acquire(&[req("shared", 25, 60_000, 1)])
                        .await
                        .unwrap()
                        .is_ok()
                    {
                        admitted.fetch_add(1, Ordering::SeqCst);
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            assert_eq!(admitted.load(Ordering::SeqCst), 25);

            // Concurrency leases and spend are shared too.
            let held = a
                .in_flight_acquire(&[("conc", 1)], 60_000)
                .await
                .unwrap()
                .unwrap();
            assert!(
                b.in_flight_acquire(&[("conc", 1)], 60_000)
                    .await
                    .unwrap()
                    .is_err()
            );
            b.in_flight_release(held).await.unwrap();
            assert!(
                b.in_flight_acquire(&[("conc", 1)], 60_000)
                    .await
                    .unwrap()
                    .is_ok()
            );
            a.spend_add("budget", 0, 60, 10).await.unwrap();
            assert_eq!(b.spend_add("budget", 0, 60, 5).await.unwrap(), 15);
        },
    )
    .await;
}

/// Keys live under the prefix, and spend windows expire with their TTL.
#[tokio::test]
async fn redis_keys_are_prefixed_and_expire() {
    common::with_redis(
        "redis_keys_are_prefixed_and_expire",
        |c, url, prefix| async move {
            c.spend_add("b", 7, 1, 1).await.unwrap();
            c.rate_acquire(&[req("k", 1, 1_000, 1)])
                .await
                .unwrap()
                .unwrap();
            let client = ::redis::Client::open(url.as_str()).unwrap();
            let mut conn = client.get_multiplexed_async_connection().await.unwrap();
            let mut keys: Vec<String> = ::redis::cmd("KEYS")
                .arg(format!("{prefix}*"))
                .query_async(&mut conn)
                .await
                .unwrap();
            keys.sort();
            assert_eq!(
                keys,
                vec![format!("{prefix}rl:1000:k"), format!("{prefix}spend:b:7")]
            );
            let ttl: i64 = ::redis::cmd("TTL")
                .arg(format!("{prefix}spend:b:7"))
                .query_async(&mut conn)
                .await
                .unwrap();
            assert!((0..=1).contains(&ttl), "{ttl}");
        },
    )
    .await;
}

/// With nothing listening, connecting reports `Unavailable` (no Redis needed).
#[tokio::test]
async fn redis_down_is_unavailable() {
    let err = Counters::redis("redis://:hunter2@127.0.0.1:1/0", "sluice:")
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err:?}");
    assert!(!err.to_string().contains("hunter2"), "{err}");
}

/// A rule resolves its counter once and asks with the slot: the slot and the name reach
/// the same state, in both directions, and a give-back through the slot frees units.
#[tokio::test]
async fn memory_asks_with_a_resolved_slot_share_the_named_counter() {
    let c = Counters::memory();
    let slot = c.rate_slot("rpm", 60_000);
    assert!(slot.is_some());
    assert_eq!(c.rate_slot("rpm", 60_000), slot, "one counter, one slot");
    assert_ne!(
        c.rate_slot("rpm", 1_000),
        slot,
        "another window is another counter"
    );
    let by_slot = |amount| RateRequest {
        slot,
        ..req("rpm", 3, 60_000, amount)
    };
    assert_eq!(c.rate_acquire(&[by_slot(2)]).await.unwrap(), Ok(()));
    let by_name = |amount| [req("rpm", 3, 60_000, amount)];
    assert!(c.rate_acquire(&by_name(2)).await.unwrap().is_err());
    assert_eq!(c.rate_acquire(&by_name(1)).await.unwrap(), Ok(()));
    assert!(c.rate_acquire(&[by_slot(1)]).await.unwrap().is_err());
    c.give_back([by_slot(2)]);
    assert_eq!(c.rate_acquire(&by_name(2)).await.unwrap(), Ok(()));
    assert!(c.rate_acquire(&by_name(1)).await.unwrap().is_err());
}
