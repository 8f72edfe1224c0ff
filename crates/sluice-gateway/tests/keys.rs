//! Provider keys: sent upstream, rotated by weight, and never shown to anyone else.

mod common;

use common::*;
use http::StatusCode;
use sluice_mock::{MockFault, MockSettings};

#[tokio::test]
async fn provider_key_goes_upstream_and_client_credentials_do_not() {
    let mock = start_mock(MockSettings::default()).await;
    let yaml = format!(
        "providers:\n{}",
        provider_yaml("up", &mock.base_url(), "sk-provider-secret")
    );
    let gateway = TestGateway::start(&yaml).await;
    let answer = post_with(
        &gateway.url("/v1/chat/completions"),
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer sk-client-own-key"),
        ],
        chat_body("up/m", "hello"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let received = mock.received();
    let headers = &received.last().expect("request").headers;
    let auth: Vec<&str> = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("authorization"))
        .map(|(_, value)| value.as_str())
        .collect();
    assert_eq!(auth, vec!["Bearer sk-provider-secret"]);
    assert!(
        !headers
            .iter()
            .any(|(_, value)| value.contains("sk-client-own-key"))
    );
    assert_no_secret(&answer, "sk-provider-secret");
}

#[tokio::test]
async fn keys_never_leak_in_errors_headers_or_metrics() {
    let failing = start_mock(with_fault(MockFault::Status {
        rate: 1.0,
        status: 401,
        retry_after: None,
    }))
    .await;
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let yaml = format!(
        "providers:\n{}{}",
        provider_yaml("bad", &failing.base_url(), "sk-secret-one"),
        provider_yaml(
            "gone",
            &format!("http://127.0.0.1:{port}/v1"),
            "sk-secret-two"
        ),
    );
    let gateway = TestGateway::start(&yaml).await;
    let answers = [
        post(
            &gateway.url("/v1/chat/completions"),
            chat_body("bad/m", "hi"),
        )
        .await,
        post(
            &gateway.url("/v1/chat/completions"),
            chat_body("gone/m", "hi"),
        )
        .await,
        post(&gateway.url("/v1/chat/completions"), "{broken").await,
        get(&gateway.url("/metrics")).await,
        get(&gateway.url("/v1/models")).await,
    ];
    for answer in &answers {
        assert_no_secret(answer, "sk-secret-one");
        assert_no_secret(answer, "sk-secret-two");
    }
    assert_eq!(answers[0].status, StatusCode::UNAUTHORIZED);
    assert_eq!(answers[1].status, StatusCode::BAD_GATEWAY);
}

#[tokio::test]
async fn several_keys_are_used_by_weight() {
    let mock = start_mock(MockSettings::default()).await;
    let yaml = format!(
        "providers:\n  up:\n    kind: openai-compatible\n    base_url: {}\n    keys:\n      - key: key-heavy\n        weight: 3\n      - key: key-light\n        weight: 1\n      - key: key-off\n        weight: 0\n",
        mock.base_url()
    );
    let gateway = TestGateway::start(&yaml).await;
    for _ in 0..200 {
        let answer = post(
            &gateway.url("/v1/chat/completions"),
            chat_body("up/m", "hi"),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    let mut heavy = 0;
    let mut light = 0;
    for request in mock.received() {
        for (name, value) in &request.headers {
            if name.eq_ignore_ascii_case("authorization") {
                match value.as_str() {
                    "Bearer key-heavy" => heavy += 1,
                    "Bearer key-light" => light += 1,
                    other => panic!("unexpected key {other}"),
                }
            }
        }
    }
    assert_eq!(heavy + light, 200);
    // 3:1 → 150 expected; ±40 is over 5 standard deviations.
    assert!((110..=190).contains(&heavy), "heavy {heavy}, light {light}");
}

fn assert_no_secret(answer: &Answer, secret: &str) {
    assert!(
        !answer.text().contains(secret),
        "secret in body: {}",
        answer.text()
    );
    for (name, value) in &answer.headers {
        assert!(
            !String::from_utf8_lossy(value.as_bytes()).contains(secret),
            "secret in header {name}"
        );
    }
}
