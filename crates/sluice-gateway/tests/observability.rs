//! `/health`, `/metrics` and graceful shutdown.

mod common;

use std::time::Duration;

use common::*;
use http::{Method, StatusCode};
use sluice_core::ConfigDuration;

#[tokio::test]
async fn health_answers() {
    let gateway = TestGateway::start("providers:\n  m:\n    kind: mock\n").await;
    let answer = get(&gateway.url("/health")).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.json()["status"], "ok");
}

#[tokio::test]
async fn metrics_count_requests_errors_latency_and_streams() {
    let gateway = TestGateway::start(
        "providers:\n  metered:\n    kind: mock\n    models: [known]\nroutes:\n  metered-route:\n    targets:\n      - provider: metered\n        model: known\n",
    )
    .await;
    let url = gateway.url("/v1/chat/completions");
    assert_eq!(
        post(&url, chat_body("metered-route", "hi")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        post(&url, chat_body("metered/known", "hi")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        post(&url, chat_body("metered/made-up-name", "hi"))
            .await
            .status,
        StatusCode::OK
    );
    let stream =
        r#"{"model":"metered-route","stream":true,"messages":[{"role":"user","content":"a b c"}]}"#;
    assert_eq!(post(&url, stream).await.status, StatusCode::OK);
    assert_eq!(post(&url, "{oops").await.status, StatusCode::BAD_REQUEST);

    let text = get(&gateway.url("/metrics")).await.text();
    let has = |needle: &str| text.lines().any(|line| line.contains(needle));
    assert!(
        has(
            r#"sluice_requests_total{endpoint="chat_completions",route="metered-route",provider="metered",status="200"} 2"#
        ),
        "{text}"
    );
    assert!(
        has(r#"route="metered/known""#),
        "advertised model labelled by name"
    );
    assert!(
        has(r#"route="metered/*""#),
        "unknown model names are folded"
    );
    assert!(
        !has("made-up-name"),
        "client-chosen names must not become labels"
    );
    assert!(has(
        r#"sluice_request_errors_total{endpoint="chat_completions",route="",provider="",status="400",reason="invalid_request"}"#
    ));
    assert!(has(
        r#"sluice_request_duration_seconds_bucket{endpoint="chat_completions",route="metered-route""#
    ));
    assert!(has(
        r#"sluice_upstream_duration_seconds_bucket{provider="metered""#
    ));
    assert!(
        has(
            r#"sluice_stream_first_byte_seconds_count{route="metered-route",provider="metered"} 1"#
        ),
        "{text}"
    );
    assert!(has("sluice_overhead_seconds_bucket"));
    assert!(has("sluice_requests_in_flight"));
    // Every request above ran to completion: none may be counted as a disconnect.
    assert!(
        !has(
            r#"route="metered-route",provider="metered",status="200",reason="client_disconnected""#
        ),
        "{text}"
    );
}

#[tokio::test]
async fn shutdown_drains_an_inflight_stream_and_refuses_new_connections() {
    let settings = paced(ConfigDuration::from_millis(100));
    let mock = start_mock(settings).await;
    let yaml = format!("providers:\n{}", provider_yaml("up", &mock.base_url(), "k"));
    let mut gateway = TestGateway::start(&yaml).await;
    let body = r#"{"model":"up/m","stream":true,"messages":[{"role":"user","content":"one two three four five six seven eight"}]}"#;
    let response = post_streaming(&gateway.url("/v1/chat/completions"), body).await;
    assert_eq!(response.status(), StatusCode::OK);
    gateway.begin_shutdown();
    let (frames, error) = frames(response).await;
    assert!(error.is_none(), "stream was cut by shutdown: {error:?}");
    let joined: Vec<u8> = frames.iter().flat_map(|(_, d)| d.to_vec()).collect();
    assert!(String::from_utf8_lossy(&joined).contains("data: [DONE]"));
    let finished = tokio::time::timeout(Duration::from_secs(5), &mut gateway.task).await;
    assert!(finished.is_ok(), "server did not stop after draining");
    assert!(
        send(
            Method::GET,
            &gateway.url("/health"),
            &[],
            bytes::Bytes::new()
        )
        .await
        .is_err()
    );
}

#[tokio::test]
async fn shutdown_gives_up_after_the_grace_period() {
    let settings = paced(ConfigDuration::from_secs(5));
    let mock = start_mock(settings).await;
    let yaml = format!("providers:\n{}", provider_yaml("up", &mock.base_url(), "k"));
    let mut gateway = TestGateway::start_with_grace(&yaml, Duration::from_millis(300)).await;
    let body =
        r#"{"model":"up/m","stream":true,"messages":[{"role":"user","content":"one two three"}]}"#;
    let _response = post_streaming(&gateway.url("/v1/chat/completions"), body).await;
    gateway.begin_shutdown();
    let finished = tokio::time::timeout(Duration::from_secs(3), &mut gateway.task).await;
    assert!(finished.is_ok(), "shutdown waited past its grace period");
}
