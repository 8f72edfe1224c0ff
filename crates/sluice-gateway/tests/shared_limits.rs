//! Several gateway instances sharing one PostgreSQL and one Redis enforce one limit and
//! one budget. Needs `SLUICE_TEST_POSTGRES_URL` and `SLUICE_TEST_REDIS_URL` (CI sets
//! both); without them the test says so and passes.

mod common;

use std::time::Duration;

use common::*;
use sluice_mock::MockSettings;

fn services() -> Option<(String, String)> {
    let postgres = std::env::var("SLUICE_TEST_POSTGRES_URL").ok();
    let redis = std::env::var("SLUICE_TEST_REDIS_URL").ok();
    match (postgres, redis) {
        (Some(postgres), Some(redis)) => Some((postgres, redis)),
        _ => {
            eprintln!(
                "skipped: shared limits need SLUICE_TEST_POSTGRES_URL and SLUICE_TEST_REDIS_URL"
            );
            None
        }
    }
}

#[tokio::test]
async fn three_instances_enforce_one_rate_limit_and_one_budget() {
    let Some((postgres, redis)) = services() else {
        return;
    };
    // Ids and keys unique to this run: the database is shared between runs.
    let run = format!("{:016x}", fastrand::u64(..));
    let limited = format!("limited-{run}");
    let budgeted = format!("budgeted-{run}");
    let limited_key = format!("sk-sluice-{run}{run}limited00");
    let budgeted_key = format!("sk-sluice-{run}{run}budgeted0");
    let mock = start_mock(MockSettings::default()).await;
    let yaml = format!(
        "providers:\n{}store: {{url: \"{postgres}\"}}\nredis: {{url: \"{redis}\", prefix: \"sluice-test-{run}:\"}}\ngovernance:\n  key_secret: shared-secret-of-enough-length\n  keys:\n    {limited}: {{key: {limited_key}, limits: {{requests: 30, window: 1m}}}}\n    {budgeted}: {{key: {budgeted_key}, budgets: [{{limit: 0.00003, period: 1d}}]}}\n",
        provider_yaml("mock", &mock.base_url(), "k"),
    );
    let instances = [
        TestGateway::start(&yaml).await,
        TestGateway::start(&yaml).await,
        TestGateway::start(&yaml).await,
    ];

    // 90 requests spread over the three instances at once: 30 pass, wherever they land.
    let mut tasks = Vec::new();
    for index in 0..90 {
        let url = instances[index % 3].url("/v1/chat/completions");
        let key = format!("Bearer {limited_key}");
        tasks.push(tokio::spawn(async move {
            post_with(
                &url,
                &[
                    ("content-type", "application/json"),
                    ("authorization", &key),
                ],
                chat_body("mock/gpt-4o-mini", "shared"),
            )
            .await
            .status
            .as_u16()
        }));
    }
    let mut ok = 0;
    for task in tasks {
        if task.await.expect("task") == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 30, "one limit across three instances");

    // The budget: spend it through the first instance...
    let key = format!("Bearer {budgeted_key}");
    let headers = [
        ("content-type", "application/json"),
        ("authorization", key.as_str()),
    ];
    let mut served = 0;
    loop {
        let answer = post_with(
            &instances[0].url("/v1/chat/completions"),
            &headers,
            chat_body("mock/gpt-4o-mini", "spend the shared budget"),
        )
        .await;
        if answer.status == 402 {
            break;
        }
        assert_eq!(answer.status, 200);
        served += 1;
        assert!(served < 50, "the budget never ran out");
    }
    assert!(
        served >= 4,
        "served {served}: the figures below need a few requests"
    );
    // ...and the others refuse it at once after their next synchronisation (every
    // 250 ms), where alone they would have served as many requests as the first did.
    tokio::time::sleep(Duration::from_millis(600)).await;
    for instance in &instances[1..] {
        let answer = post_with(
            &instance.url("/v1/chat/completions"),
            &headers,
            chat_body("mock/gpt-4o-mini", "spend the shared budget"),
        )
        .await;
        assert_eq!(answer.status, 402, "another instance spent a spent budget");
    }
}

/// A TCP relay to the real Redis that can be cut, to take Redis away from running gateways.
struct RedisRelay {
    url: String,
    accept: tokio::task::JoinHandle<()>,
    links: std::sync::Arc<std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl RedisRelay {
    async fn start(redis_url: &str) -> RedisRelay {
        let target = redis_url
            .trim_start_matches("redis://")
            .split('/')
            .next()
            .unwrap_or("127.0.0.1:6379")
            .to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("redis://{}", listener.local_addr().expect("addr"));
        let links = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let held = links.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let target = target.clone();
                let link = tokio::spawn(async move {
                    if let Ok(mut redis) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut redis).await;
                    }
                });
                held.lock().expect("links").push(link);
            }
        });
        RedisRelay { url, accept, links }
    }

    /// Closes every connection and refuses new ones.
    fn cut(&self) {
        self.accept.abort();
        for link in self.links.lock().expect("links").drain(..) {
            link.abort();
        }
    }
}

/// With Redis gone, `on_unavailable: closed` refuses with 503 and the default (`open`)
/// serves without the limits.
#[tokio::test]
async fn redis_down_fails_open_or_closed_as_configured() {
    let Some((postgres, redis)) = services() else {
        return;
    };
    let run = format!("{:016x}", fastrand::u64(..));
    let key = format!("sk-sluice-{run}{run}downdown00");
    let relay = RedisRelay::start(&redis).await;
    let mock = start_mock(MockSettings::default()).await;
    let yaml = |when: &str| {
        format!(
            "providers:\n{}store: {{url: \"{postgres}\"}}\nredis: {{url: \"{}\", prefix: \"sluice-test-{run}:\", on_unavailable: {when}}}\ngovernance:\n  key_secret: shared-secret-of-enough-length\n  keys:\n    down-{run}: {{key: {key}, limits: {{requests: 10, window: 1m}}}}\n",
            provider_yaml("mock", &mock.base_url(), "k"),
            relay.url,
        )
    };
    let closed = TestGateway::start(&yaml("closed")).await;
    let open = TestGateway::start(&yaml("open")).await;
    let bearer = format!("Bearer {key}");
    let headers = [
        ("content-type", "application/json"),
        ("authorization", bearer.as_str()),
    ];
    let ask = |gateway: &TestGateway| {
        let url = gateway.url("/v1/chat/completions");
        let headers = &headers;
        async move {
            post_with(
                &url,
                headers,
                chat_body("mock/gpt-4o-mini", "is redis there"),
            )
            .await
        }
    };
    assert_eq!(ask(&closed).await.status, 200);
    assert_eq!(ask(&open).await.status, 200);

    relay.cut();
    let refused = ask(&closed).await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(
        refused.json()["error"]["code"],
        "limits_unavailable",
        "{}",
        refused.text()
    );
    assert_eq!(ask(&open).await.status, 200);
}
