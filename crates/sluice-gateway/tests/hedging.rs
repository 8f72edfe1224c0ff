//! Hedged requests over real HTTP: a route whose first target is slow to produce its
//! first token starts the next target after the hedge delay; the first to answer serves,
//! the other is cancelled (its provider sees the disconnect), and both are counted.

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use sluice_core::ConfigDuration;
use sluice_mock::MockSettings;

/// A priority route named `route` over `targets` (each serving model `m`) with `hedge`.
fn hedged_route(route: &str, providers: &str, targets: &[&str], hedge: &str) -> String {
    let mut yaml = format!(
        "providers:\n{providers}routes:\n  {route}:\n    strategy: priority\n    hedge: {hedge}\n    targets:\n"
    );
    for target in targets {
        yaml.push_str(&format!("      - {{provider: {target}, model: m}}\n"));
    }
    yaml
}

fn stream_request(route: &str) -> String {
    serde_json::json!({
        "model": route,
        "stream": true,
        "messages": [{"role": "user", "content": "hedge me"}],
    })
    .to_string()
}

/// Waits up to two seconds for `check` to hold.
async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    check()
}

#[tokio::test]
async fn a_stalled_first_token_is_hedged_and_the_stalled_stream_is_cancelled() {
    let stalled = start_mock(MockSettings {
        first_token: ConfigDuration::from_secs(5),
        ..MockSettings::default()
    })
    .await;
    let fast = start_mock(MockSettings {
        latency: ConfigDuration::from_millis(40),
        ..MockSettings::default()
    })
    .await;
    let providers = format!(
        "{}{}",
        provider_yaml("stalled", &stalled.base_url(), "k"),
        provider_yaml("fast", &fast.base_url(), "k")
    );
    let gateway = TestGateway::start(&hedged_route(
        "stalled-first",
        &providers,
        &["stalled", "fast"],
        "{delay: 150ms}",
    ))
    .await;

    let began = Instant::now();
    let response = post_streaming(
        &gateway.url("/v1/chat/completions"),
        stream_request("stalled-first"),
    )
    .await;
    let answer = collect(response).await;
    let took = began.elapsed();
    assert_eq!(answer.status, 200);
    // About the hedge delay plus the second target's latency: far from the 5 s stall.
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_millis(2500),
        "took {took:?}"
    );
    assert_eq!(answer.header("x-sluice-provider"), Some("fast"));
    assert_eq!(
        answer.header("x-sluice-attempts"),
        Some("2 (stalled/m cancelled; fast/m 200)")
    );
    let events = sse_data(&answer.body);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    assert!(answer.text().contains("hedge"), "{}", answer.text());

    // The stalled provider had started its stream and saw the gateway hang up.
    assert_eq!(stalled.stats().streams_started(), 1);
    assert!(
        eventually(|| stalled.stats().client_disconnects() == 1).await,
        "the stalled stream was not cancelled"
    );
    assert_eq!(stalled.stats().streams_completed(), 0);

    let metrics = get(&gateway.url("/metrics")).await.text();
    assert!(
        metrics.contains(r#"sluice_hedges_total{route="stalled-first",winner="hedge"} 1"#),
        "{metrics}"
    );
    // Both attempts are counted: the cancelled one under its own provider.
    assert!(
        metrics
            .lines()
            .any(|line| line.starts_with("sluice_requests_total")
                && line.contains(r#"provider="stalled""#)
                && line.contains(r#"status="499""#)),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_first_target_answering_within_the_delay_is_not_hedged() {
    let (first, second) = tokio::join!(
        start_mock(MockSettings::default()),
        start_mock(MockSettings::default())
    );
    let providers = format!(
        "{}{}",
        provider_yaml("first", &first.base_url(), "k"),
        provider_yaml("second", &second.base_url(), "k")
    );
    let gateway = TestGateway::start(&hedged_route(
        "quick-first",
        &providers,
        &["first", "second"],
        "{delay: 500ms}",
    ))
    .await;
    for _ in 0..5 {
        let answer = post(
            &gateway.url("/v1/chat/completions"),
            stream_request("quick-first"),
        )
        .await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("x-sluice-provider"), Some("first"));
        assert_eq!(answer.header("x-sluice-attempts"), Some("1"));
    }
    assert_eq!(second.stats().requests(), 0);
    let metrics = get(&gateway.url("/metrics")).await.text();
    for winner in ["first", "hedge", "neither"] {
        let line = format!(r#"sluice_hedges_total{{route="quick-first",winner="{winner}"}} 0"#);
        assert!(metrics.contains(&line), "{metrics}");
    }
}

#[tokio::test]
async fn a_slow_whole_answer_is_hedged_too() {
    let slow = start_mock(MockSettings {
        latency: ConfigDuration::from_secs(5),
        ..MockSettings::default()
    })
    .await;
    let fast = start_mock(MockSettings::default()).await;
    let providers = format!(
        "{}{}",
        provider_yaml("slow", &slow.base_url(), "k"),
        provider_yaml("fast", &fast.base_url(), "k")
    );
    let gateway = TestGateway::start(&hedged_route(
        "slow-whole",
        &providers,
        &["slow", "fast"],
        "{delay: 100ms}",
    ))
    .await;
    let began = Instant::now();
    let answer = post(
        &gateway.url("/v1/chat/completions"),
        chat_body("slow-whole", "whole please"),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert!(began.elapsed() < Duration::from_millis(2500));
    assert_eq!(answer.header("x-sluice-provider"), Some("fast"));
    assert_eq!(
        answer.json()["choices"][0]["message"]["content"],
        "whole please"
    );
    assert!(
        eventually(|| slow.stats().client_disconnects() == 1).await,
        "the slow request was not cancelled"
    );
}

/// An SSE answer from a fixture upstream: the delay before it is its time to first token.
fn sse_fixture() -> Fixture {
    let chunk = serde_json::json!({
        "id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
        "choices": [{"index": 0, "delta": {"content": "fixture"}, "finish_reason": null}],
    });
    Fixture {
        status: http::StatusCode::OK,
        headers: vec![("content-type", "text/event-stream")],
        chunks: vec![(
            Duration::ZERO,
            Bytes::from(format!("data: {chunk}\n\ndata: [DONE]\n\n")),
        )],
    }
}

#[tokio::test]
async fn a_p95_delay_follows_the_first_targets_recent_times_to_first_token() {
    let first = FixtureUpstream::start(sse_fixture()).await;
    first.set_delay(Duration::from_millis(30));
    let second = start_mock(MockSettings::default()).await;
    let providers = format!(
        "{}{}",
        provider_yaml("first", &first.base_url(), "k"),
        provider_yaml("second", &second.base_url(), "k")
    );
    // Until the first target has samples, the hedge waits `initial`: 3 s.
    let gateway = TestGateway::start(&hedged_route(
        "p95",
        &providers,
        &["first", "second"],
        "{delay: p95, initial: 3s}",
    ))
    .await;
    let url = gateway.url("/v1/chat/completions");
    // Exactly enough samples for a percentile: each of these still waits `initial`, so none
    // is hedged (a ninth could be, its delay being the p95 of equal samples).
    for _ in 0..sluice_routing::MIN_PERCENTILE_SAMPLES {
        let answer = post(&url, stream_request("p95")).await;
        assert_eq!(answer.header("x-sluice-provider"), Some("first"));
    }
    // Now the first target stalls: the hedge starts after its recent p95 (tens of
    // milliseconds), not after `initial`.
    first.set_delay(Duration::from_secs(5));
    let began = Instant::now();
    let answer = post(&url, stream_request("p95")).await;
    let took = began.elapsed();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-sluice-provider"), Some("second"));
    assert!(took < Duration::from_millis(2000), "took {took:?}");
}

#[tokio::test]
async fn when_both_hedged_attempts_fail_the_route_fails_over_to_the_next_target() {
    let slow_failing = FixtureUpstream::start(chat_fixture()).await;
    slow_failing.set_delay(Duration::from_millis(300));
    slow_failing.set_status(500);
    let failing = FixtureUpstream::start(chat_fixture()).await;
    failing.set_status(503);
    let healthy = start_mock(MockSettings::default()).await;
    let providers = format!(
        "{}{}{}",
        provider_yaml("slow", &slow_failing.base_url(), "k"),
        provider_yaml("failing", &failing.base_url(), "k"),
        provider_yaml("healthy", &healthy.base_url(), "k")
    );
    let gateway = TestGateway::start(&hedged_route(
        "both-fail",
        &providers,
        &["slow", "failing", "healthy"],
        "{delay: 50ms}",
    ))
    .await;
    let answer = post(
        &gateway.url("/v1/chat/completions"),
        chat_body("both-fail", "third time"),
    )
    .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header("x-sluice-provider"), Some("healthy"));
    assert_eq!(
        answer.header("x-sluice-attempts"),
        Some("3 (slow/m 500; failing/m 503; healthy/m 200)")
    );
    let metrics = get(&gateway.url("/metrics")).await.text();
    assert!(
        metrics.contains(r#"sluice_hedges_total{route="both-fail",winner="neither"} 1"#),
        "{metrics}"
    );
}
