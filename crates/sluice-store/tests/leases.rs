//! Redis leases: requests spend spare leased from Redis without a round trip, limits
//! still hold across instances, and unused spare goes back. Needs `SLUICE_TEST_REDIS_URL`.

mod common;

use std::time::Duration;

use sluice_store::{Counters, LeaseSettings, RateRequest, RedisLeases};

fn req(key: &str, limit: u64, amount: u64) -> RateRequest<'_> {
    RateRequest {
        key,
        limit,
        window_ms: 60_000,
        amount,
        slot: None,
    }
}

fn leases(counters: &Counters) -> &RedisLeases {
    match counters {
        Counters::Redis(leases) => leases,
        Counters::Memory(_) => panic!("these tests need Redis counters"),
    }
}

/// Far from every limit, most requests are admitted from spare.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn far_from_the_limit_few_requests_go_to_redis() {
    common::with_redis("far_from_the_limit", |c, _, _| async move {
        for _ in 0..1_000 {
            let rates = [
                req("far-rpm", 1_000_000, 1),
                req("far-tpm", 100_000_000, 300),
            ];
            let ticket = c
                .admit("key", &rates, &[("far-conc", 1_000)])
                .await
                .unwrap()
                .unwrap();
            c.release(ticket);
        }
        let trips = leases(&c).trips();
        assert!(trips <= 10, "{trips} round trips for 1000 requests");
    })
    .await;
}

/// Three instances, 90 concurrent requests of one key, a limit of 30: exactly 30 pass,
/// and concurrency across them never exceeds its limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_instances_admit_exactly_the_limit() {
    common::with_redis("three_instances_exact", |a, url, prefix| async move {
        let b = Counters::redis(&url, &prefix).await.unwrap();
        let c = Counters::redis(&url, &prefix).await.unwrap();
        let instances = [a, b, c];
        let admitted = common::race(90, |i| {
            let counters = instances[i % 3].clone();
            async move {
                let rates = [req("exact-team", 10_000, 1), req("exact-key", 30, 1)];
                let ticket = counters.admit("key", &rates, &[]).await.unwrap().ok()?;
                counters.release(ticket);
                Some(())
            }
        })
        .await;
        assert_eq!(admitted.len(), 30);

        let held = common::race(64, |i| {
            let counters = instances[i % 3].clone();
            async move {
                let slots = [("exact-team-conc", 1_000), ("exact-conc", 8)];
                let ticket = counters.admit("key", &[], &slots).await.unwrap().ok()?;
                Some((i % 3, ticket))
            }
        })
        .await;
        assert_eq!(held.len(), 8, "slots held across the instances");
        for (instance, ticket) in held {
            instances[instance].release(ticket);
        }
        for counters in &instances {
            leases(counters).return_all().await;
        }
        assert_eq!(instances[0].in_flight_count("exact-conc").await.unwrap(), 0);
    })
    .await;
}

/// Spare one instance holds is kept from the others only until it is given back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unused_spare_goes_back_to_redis() {
    common::with_redis("spare_goes_back", |_, url, prefix| async move {
        let settings = LeaseSettings {
            hold: Duration::from_millis(200),
            ..LeaseSettings::default()
        };
        let a = Counters::redis_with(&url, &prefix, settings).await.unwrap();
        let b = Counters::redis_with(&url, &prefix, settings).await.unwrap();
        let rates = [req("spare", 640, 1)];
        // a's trip leases 640/64 = 10 spare units besides its own.
        let ticket = a.admit("key", &rates, &[]).await.unwrap().unwrap();
        a.release(ticket);
        let mut served = 0;
        while b.admit("key", &rates, &[]).await.unwrap().is_ok() {
            served += 1;
        }
        assert_eq!(
            served,
            640 - 1 - 10,
            "b gets all but a's request and a's spare"
        );
        // After the hold time a gives its spare back, and b can use it.
        tokio::time::sleep(Duration::from_millis(600)).await;
        let mut more = 0;
        while b.admit("key", &rates, &[]).await.unwrap().is_ok() {
            more += 1;
        }
        // 640 a minute drains about 7 units in those 0.6 s; a's 10 come on top.
        assert!(
            (14..=22).contains(&more),
            "{more} units: a's 10 and what drained"
        );
    })
    .await;
}
