//! Route strategies and target health over real HTTP: the gateway in front of mock
//! providers and fixture upstreams whose latency and status change while it runs.

mod common;

use std::time::Duration;

use common::*;
use sluice_mock::MockSettings;

/// A provider entry pointing at `base_url`.
fn provider(name: &str, base_url: &str) -> String {
    provider_yaml(name, base_url, "key")
}

fn route_request(route: &str) -> String {
    chat_body(route, "route me")
}

#[tokio::test]
async fn weights_hold_exactly_over_ten_thousand_requests_and_zero_weight_gets_none() {
    let (a, b, c) = tokio::join!(
        start_mock(MockSettings::default()),
        start_mock(MockSettings::default()),
        start_mock(MockSettings::default())
    );
    let yaml = format!(
        "providers:\n{}{}{}routes:\n  split-exact:\n    targets:\n      - {{provider: a, model: m, weight: 70}}\n      - {{provider: b, model: m, weight: 30}}\n      - {{provider: c, model: m, weight: 0}}\n",
        provider("a", &a.base_url()),
        provider("b", &b.base_url()),
        provider("c", &c.base_url()),
    );
    let gateway = TestGateway::start(&yaml).await;
    let url = gateway.url("/v1/chat/completions");
    let mut workers = Vec::new();
    for _ in 0..8 {
        let url = url.clone();
        workers.push(tokio::spawn(async move {
            for _ in 0..1250 {
                let answer = post(&url, route_request("split-exact")).await;
                assert_eq!(answer.status, 200);
            }
        }));
    }
    for worker in workers {
        worker.await.expect("worker");
    }
    // Smooth weighted round-robin: exact in aggregate, whatever the interleaving.
    assert_eq!(a.stats().chat_completions(), 7000);
    assert_eq!(b.stats().chat_completions(), 3000);
    assert_eq!(c.stats().chat_completions(), 0);
}

fn breaker_yaml(strategy: &str, targets: &[(&str, &str)], providers: &str) -> String {
    let mut yaml = format!(
        "providers:\n{providers}routes:\n  guarded:\n    strategy: {strategy}\n    circuit_breaker:\n      consecutive_failures: 3\n      cool_down: 400ms\n    targets:\n"
    );
    for (provider, extra) in targets {
        yaml.push_str(&format!(
            "      - {{provider: {provider}, model: m{extra}}}\n"
        ));
    }
    yaml
}

#[tokio::test]
async fn priority_skips_an_open_circuit_probes_after_the_cool_down_and_comes_back() {
    let primary = FixtureUpstream::start(chat_fixture()).await;
    primary.set_status(500);
    let backup = start_mock(MockSettings::default()).await;
    let providers = format!(
        "{}{}",
        provider("primary", &primary.base_url()),
        provider("backup", &backup.base_url())
    );
    let gateway = TestGateway::start(&breaker_yaml(
        "priority",
        &[("primary", ""), ("backup", "")],
        &providers,
    ))
    .await;
    let url = gateway.url("/v1/chat/completions");
    for _ in 0..3 {
        let answer = post(&url, route_request("guarded")).await;
        assert_eq!(
            answer.status, 200,
            "the backup serves after the primary's 500"
        );
        assert_eq!(answer.header("x-sluice-provider"), Some("backup"));
        assert_eq!(
            answer.header("x-sluice-attempts"),
            Some("2 (primary/m 500; backup/m 200)")
        );
    }
    // Open: the primary is not called at all.
    for _ in 0..3 {
        let answer = post(&url, route_request("guarded")).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("x-sluice-provider"), Some("backup"));
    }
    assert_eq!(primary.requests(), 3);
    let admin = get(&gateway.url("/admin/routes")).await.json();
    let targets = &admin["routes"][0]["targets"];
    assert_eq!(targets[0]["target"], "primary/m");
    assert_eq!(targets[0]["circuit"], "open");
    assert_eq!(targets[1]["circuit"], "closed");
    let metrics = get(&gateway.url("/metrics")).await.text();
    assert!(
        metrics.contains(r#"sluice_target_circuit_open{route="guarded",target="primary/m"} 1"#),
        "{metrics}"
    );

    // After the cool-down one probe reaches the primary; it fails, so it opens again.
    tokio::time::sleep(Duration::from_millis(450)).await;
    let probe = post(&url, route_request("guarded")).await;
    assert_eq!(
        probe.header("x-sluice-attempts"),
        Some("2 (primary/m 500; backup/m 200)")
    );
    assert_eq!(primary.requests(), 4);
    let after = post(&url, route_request("guarded")).await;
    assert_eq!(after.header("x-sluice-provider"), Some("backup"));

    // The primary recovers: the next probe succeeds and closes the circuit.
    primary.set_status(0);
    tokio::time::sleep(Duration::from_millis(450)).await;
    for _ in 0..3 {
        let answer = post(&url, route_request("guarded")).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("x-sluice-provider"), Some("primary"));
    }
    let admin = get(&gateway.url("/admin/routes")).await.json();
    assert_eq!(admin["routes"][0]["targets"][0]["circuit"], "closed");
}

#[tokio::test]
async fn an_open_circuit_on_a_single_target_route_answers_503_without_calling_it() {
    let failing = FixtureUpstream::start(chat_fixture()).await;
    failing.set_status(502);
    let gateway = TestGateway::start(&breaker_yaml(
        "weighted",
        &[("only", "")],
        &provider("only", &failing.base_url()),
    ))
    .await;
    let url = gateway.url("/v1/chat/completions");
    for _ in 0..3 {
        assert_eq!(post(&url, route_request("guarded")).await.status, 502);
    }
    let refused = post_with(
        &url,
        &[
            ("content-type", "application/json"),
            ("x-sluice-route-trace", "1"),
        ],
        route_request("guarded"),
    )
    .await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(refused.json()["error"]["code"], "unavailable");
    assert_eq!(
        refused.header("x-sluice-route-trace"),
        Some("only/m=skipped(circuit_open)")
    );
    assert_eq!(failing.requests(), 3);
}

#[tokio::test]
async fn retry_after_rests_a_target_until_it_passes() {
    let limited = FixtureUpstream::start(Fixture {
        headers: vec![("content-type", "application/json"), ("retry-after", "1")],
        ..chat_fixture()
    })
    .await;
    limited.set_status(429);
    let other = start_mock(MockSettings::default()).await;
    let providers = format!(
        "{}{}",
        provider("limited", &limited.base_url()),
        provider("other", &other.base_url())
    );
    let gateway = TestGateway::start(&breaker_yaml(
        "priority",
        &[("limited", ""), ("other", "")],
        &providers,
    ))
    .await;
    let url = gateway.url("/v1/chat/completions");
    let first = post(&url, route_request("guarded")).await;
    assert_eq!(first.status, 200);
    assert_eq!(
        first.header("x-sluice-attempts"),
        Some("2 (limited/m 429; other/m 200)")
    );
    limited.set_status(0);
    let resting = post(&url, route_request("guarded")).await;
    assert_eq!(resting.header("x-sluice-provider"), Some("other"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let back = post(&url, route_request("guarded")).await;
    assert_eq!(back.header("x-sluice-provider"), Some("limited"));
}

#[tokio::test]
async fn latency_routing_moves_to_the_faster_target_and_back_after_a_swap() {
    let (fast, slow) = tokio::join!(
        FixtureUpstream::start(chat_fixture()),
        FixtureUpstream::start(chat_fixture())
    );
    fast.set_delay(Duration::from_millis(20));
    slow.set_delay(Duration::from_millis(200));
    let yaml = format!(
        "providers:\n{}{}routes:\n  quick:\n    strategy: latency\n    targets:\n      - {{provider: fast, model: m}}\n      - {{provider: slow, model: m}}\n",
        provider("fast", &fast.base_url()),
        provider("slow", &slow.base_url()),
    );
    let gateway = TestGateway::start(&yaml).await;
    let url = gateway.url("/v1/chat/completions");
    let mut to_fast = 0;
    for _ in 0..200 {
        let answer = post(&url, route_request("quick")).await;
        if answer.header("x-sluice-provider") == Some("fast") {
            to_fast += 1;
        }
    }
    assert!(to_fast >= 160, "{to_fast} of 200 went to the faster target");

    // The latencies swap: the other target is now the fast one.
    fast.set_delay(Duration::from_millis(200));
    slow.set_delay(Duration::from_millis(20));
    let mut recent = Vec::new();
    for _ in 0..200 {
        let answer = post(&url, route_request("quick")).await;
        recent.push(answer.header("x-sluice-provider") == Some("slow"));
    }
    let moved = recent[100..]
        .iter()
        .filter(|&&to_new_fast| to_new_fast)
        .count();
    assert!(
        moved >= 80,
        "{moved} of the last 100 went to the now faster target"
    );
}

#[tokio::test]
async fn least_busy_spreads_concurrent_requests_evenly() {
    let (a, b) = tokio::join!(
        FixtureUpstream::start(chat_fixture()),
        FixtureUpstream::start(chat_fixture())
    );
    a.set_delay(Duration::from_millis(300));
    b.set_delay(Duration::from_millis(300));
    let yaml = format!(
        "providers:\n{}{}routes:\n  spread:\n    strategy: least-busy\n    targets:\n      - {{provider: a, model: m}}\n      - {{provider: b, model: m}}\n",
        provider("a", &a.base_url()),
        provider("b", &b.base_url()),
    );
    let gateway = TestGateway::start(&yaml).await;
    let url = gateway.url("/v1/chat/completions");
    let mut requests = Vec::new();
    for _ in 0..10 {
        let url = url.clone();
        requests.push(tokio::spawn(async move {
            post(&url, route_request("spread")).await.status
        }));
        // Each request is admitted (and counted in flight) before the next starts.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for request in requests {
        assert_eq!(request.await.expect("request"), 200);
    }
    assert_eq!((a.requests(), b.requests()), (5, 5));
}

#[tokio::test]
async fn cost_picks_the_cheapest_target_and_falls_back_when_its_circuit_opens() {
    let (cheap, dear) = tokio::join!(
        FixtureUpstream::start(chat_fixture()),
        start_mock(MockSettings::default())
    );
    let providers = format!(
        "{}{}",
        provider("cheap", &cheap.base_url()),
        provider("dear", &dear.base_url())
    );
    let gateway = TestGateway::start(&breaker_yaml(
        "cost",
        &[("dear", ", cost: 10.0"), ("cheap", ", cost: 0.5")],
        &providers,
    ))
    .await;
    let url = gateway.url("/v1/chat/completions");
    for _ in 0..5 {
        let answer = post(&url, route_request("guarded")).await;
        assert_eq!(answer.header("x-sluice-provider"), Some("cheap"));
    }
    cheap.set_status(503);
    for _ in 0..3 {
        let answer = post(&url, route_request("guarded")).await;
        assert_eq!(answer.header("x-sluice-provider"), Some("dear"));
        assert_eq!(
            answer.header("x-sluice-attempts"),
            Some("2 (cheap/m 503; dear/m 200)")
        );
    }
    // The cheap target's circuit is open: the dearer one serves at once.
    let fallback = post(&url, route_request("guarded")).await;
    assert_eq!(fallback.status, 200);
    assert_eq!(fallback.header("x-sluice-provider"), Some("dear"));
    assert_eq!(fallback.header("x-sluice-attempts"), Some("1"));
    assert_eq!(cheap.requests(), 8);
    assert_eq!(dear.stats().chat_completions(), 4);
}

#[tokio::test]
async fn the_route_trace_explains_the_choice_when_asked() {
    let (a, b) = tokio::join!(
        start_mock(MockSettings::default()),
        start_mock(MockSettings::default())
    );
    let yaml = format!(
        "providers:\n{}{}routes:\n  ordered:\n    strategy: priority\n    targets:\n      - {{provider: a, model: first}}\n      - {{provider: b, model: second}}\n",
        provider("a", &a.base_url()),
        provider("b", &b.base_url()),
    );
    let gateway = TestGateway::start(&yaml).await;
    let url = gateway.url("/v1/chat/completions");
    let plain = post(&url, route_request("ordered")).await;
    assert_eq!(plain.header("x-sluice-route-trace"), None);
    let traced = post_with(
        &url,
        &[
            ("content-type", "application/json"),
            ("x-sluice-route-trace", "1"),
        ],
        route_request("ordered"),
    )
    .await;
    let trace = traced.header("x-sluice-route-trace").unwrap_or_default();
    assert!(trace.starts_with("a/first=chosen"), "{trace}");
    assert!(trace.contains("b/second=fallback"), "{trace}");
}
