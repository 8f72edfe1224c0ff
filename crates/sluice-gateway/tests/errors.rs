//! Every error the gateway answers itself, in the OpenAI envelope with the right status,
//! and upstream errors passed through as the provider sent them.

mod common;

use std::time::{Duration, Instant};

use common::*;
use http::{Method, StatusCode};
use sluice_mock::{MockFault, MockSettings};

fn error_of(answer: &Answer) -> serde_json::Value {
    let json = answer.json();
    assert!(
        json["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{json}"
    );
    assert!(json["error"]["type"].is_string(), "{json}");
    assert!(
        json["error"].get("code").is_some() && json["error"].get("param").is_some(),
        "{json}"
    );
    assert_eq!(answer.header("content-type"), Some("application/json"));
    json["error"].clone()
}

async fn gateway_with_mock(
    settings: MockSettings,
    extra: &str,
) -> (TestGateway, sluice_mock::MockServer) {
    let mock = start_mock(settings).await;
    let yaml = format!(
        "server:\n  max_body_bytes: 2048\nproviders:\n{}{extra}",
        provider_yaml("up", &mock.base_url(), "sk-test")
    );
    (TestGateway::start(&yaml).await, mock)
}

#[tokio::test]
async fn malformed_and_incomplete_requests_get_400_naming_the_field() {
    let (gateway, mock) = gateway_with_mock(MockSettings::default(), "").await;
    let url = gateway.url("/v1/chat/completions");
    let cases: [(&str, Option<&str>); 6] = [
        ("{\"model\": \"up/x\", \"messages\": [", None),
        ("not json at all", None),
        (
            r#"{"messages":[{"role":"user","content":"hi"}]}"#,
            Some("model"),
        ),
        (r#"{"model":"up/x"}"#, Some("messages")),
        (r#"{"model":"up/x","messages":"hi"}"#, Some("messages")),
        (
            r#"{"model":"up/x","messages":[{"role":"user","content":"hi"}],"stream":"yes"}"#,
            Some("stream"),
        ),
    ];
    for (body, param) in cases {
        let answer = post(&url, body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        let error = error_of(&answer);
        assert_eq!(error["type"], "invalid_request_error");
        assert_eq!(error["param"].as_str(), param, "{body}: {error}");
    }
    let answer = post(&gateway.url("/v1/embeddings"), r#"{"model":"up/e"}"#).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(error_of(&answer)["param"], "input");
    assert!(
        mock.received().is_empty(),
        "a refused request reached the provider"
    );
}

#[tokio::test]
async fn unknown_models_get_404() {
    let (gateway, _mock) = gateway_with_mock(MockSettings::default(), "").await;
    for model in ["no-such-route", "nope/gpt-4o", "up/", "/x"] {
        let answer = post(&gateway.url("/v1/chat/completions"), chat_body(model, "hi")).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{model}");
        let error = error_of(&answer);
        assert_eq!(error["code"], "model_not_found");
        assert_eq!(error["param"], "model");
    }
}

#[tokio::test]
async fn oversized_bodies_get_413_declared_or_not() {
    let (gateway, mock) = gateway_with_mock(MockSettings::default(), "").await;
    let big = chat_body("up/x", &"word ".repeat(1000));
    let answer = post(&gateway.url("/v1/chat/completions"), big.clone()).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_of(&answer)["code"], "request_too_large");
    // Chunked, with no Content-Length to refuse up front.
    let (tx, rx) = tokio::sync::mpsc::channel::<
        Result<http_body::Frame<bytes::Bytes>, std::convert::Infallible>,
    >(4);
    tokio::spawn(async move {
        for chunk in big.as_bytes().chunks(512) {
            let _ = tx
                .send(Ok(http_body::Frame::data(bytes::Bytes::copy_from_slice(
                    chunk,
                ))))
                .await;
        }
    });
    let request = http::Request::post(gateway.url("/v1/chat/completions"))
        .header("content-type", "application/json")
        .body(http_body_util::StreamBody::new(ReceiverStream(rx)))
        .expect("request");
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let response = client.request(request).await.expect("answered");
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(mock.received().is_empty());
    // The gateway keeps serving.
    let answer = post(
        &gateway.url("/v1/chat/completions"),
        chat_body("up/x", "still there?"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn unreachable_upstream_gets_502() {
    // Bind then drop: nothing listens on this port.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let yaml = format!(
        "providers:\n{}",
        provider_yaml(
            "down",
            &format!("http://127.0.0.1:{port}/v1"),
            "sk-down-secret"
        )
    );
    let gateway = TestGateway::start(&yaml).await;
    let answer = post(
        &gateway.url("/v1/chat/completions"),
        chat_body("down/x", "hi"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    let error = error_of(&answer);
    assert_eq!(error["code"], "upstream_unreachable");
    assert!(error["message"].as_str().expect("message").contains("down"));
    assert!(!answer.text().contains("sk-down-secret"));
    assert_eq!(answer.header("x-sluice-provider"), Some("down"));
}

#[tokio::test]
async fn upstream_reset_gets_502() {
    let settings = with_fault(MockFault::Reset { rate: 1.0 });
    let (gateway, _mock) = gateway_with_mock(settings, "").await;
    let answer = post(
        &gateway.url("/v1/chat/completions"),
        chat_body("up/x", "hi"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    assert_eq!(error_of(&answer)["code"], "upstream_unreachable");
}

#[tokio::test]
async fn slow_upstream_gets_504_after_the_first_byte_timeout() {
    let mock = start_mock(with_fault(MockFault::Stall {
        rate: 1.0,
        duration: sluice_core::ConfigDuration::from_secs(30),
    }))
    .await;
    let yaml = format!(
        "providers:\n{}    timeouts:\n      first_byte: 300ms\n",
        provider_yaml("slow", &mock.base_url(), "sk-test")
    );
    let gateway = TestGateway::start(&yaml).await;
    let started = Instant::now();
    let answer = post(
        &gateway.url("/v1/chat/completions"),
        chat_body("slow/x", "hi"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(error_of(&answer)["code"], "upstream_timeout");
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn upstream_errors_pass_through_as_sent() {
    let settings = with_fault(MockFault::Status {
        rate: 1.0,
        status: 429,
        retry_after: Some(7),
    });
    let mock = start_mock(settings.clone()).await;
    let direct = post(
        &format!("{}/chat/completions", mock.base_url()),
        chat_body("x", "hi"),
    )
    .await;
    let yaml = format!(
        "providers:\n{}",
        provider_yaml("up", &mock.base_url(), "sk-test")
    );
    let gateway = TestGateway::start(&yaml).await;
    let answer = post(
        &gateway.url("/v1/chat/completions"),
        chat_body("up/x", "hi"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(answer.header("retry-after"), Some("7"));
    assert_eq!(
        answer.body, direct.body,
        "the provider's error body was changed"
    );
    assert_eq!(answer.header("x-sluice-provider"), Some("up"));
}

async fn gateway_cutting_after_two_tokens() -> (TestGateway, sluice_mock::MockServer) {
    let cut = MockFault::CutStream {
        rate: 1.0,
        after_tokens: 2,
    };
    gateway_with_mock(with_fault(cut), "").await
}

#[tokio::test]
async fn stream_cut_by_the_upstream_ends_with_an_error_event() {
    let (gateway, _mock) = gateway_cutting_after_two_tokens().await;
    let body = r#"{"model":"up/x","stream":true,"messages":[{"role":"user","content":"one two three four five six"}]}"#;
    let answer = post(&gateway.url("/v1/chat/completions"), body).await;
    assert_eq!(answer.status, StatusCode::OK);
    let data = sse_data(&answer.body);
    let last: serde_json::Value = serde_json::from_str(data.last().expect("events")).expect("json");
    assert_eq!(
        last["error"]["code"], "upstream_stream_interrupted",
        "{data:?}"
    );
    assert!(!data.iter().any(|d| d == "[DONE]"));
    // Tokens sent before the cut did reach the client.
    assert!(data.len() >= 3, "{data:?}");
    // And the gateway still serves.
    assert_eq!(get(&gateway.url("/health")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn whole_response_cut_by_the_upstream_is_not_completed() {
    let (gateway, _mock) = gateway_cutting_after_two_tokens().await;
    let response = post_streaming(
        &gateway.url("/v1/chat/completions"),
        chat_body("up/x", "one two three four"),
    )
    .await;
    // Headers were already sent: the only honest signal left is an incomplete body.
    let (_, error) = frames(response).await;
    assert!(
        error.is_some(),
        "a truncated JSON body was passed off as complete"
    );
    assert_eq!(get(&gateway.url("/health")).await.status, StatusCode::OK);
}

#[tokio::test]
async fn total_timeout_ends_a_stream_with_an_error_event() {
    let settings = paced(sluice_core::ConfigDuration::from_millis(200));
    let mock = start_mock(settings).await;
    let yaml = format!(
        "providers:\n{}    timeouts:\n      total: 500ms\n",
        provider_yaml("up", &mock.base_url(), "sk-test")
    );
    let gateway = TestGateway::start(&yaml).await;
    let body = r#"{"model":"up/x","stream":true,"messages":[{"role":"user","content":"a b c d e f g h i j"}]}"#;
    let answer = post(&gateway.url("/v1/chat/completions"), body).await;
    let data = sse_data(&answer.body);
    let last: serde_json::Value = serde_json::from_str(data.last().expect("events")).expect("json");
    assert_eq!(last["error"]["code"], "upstream_timeout", "{data:?}");
}

#[tokio::test]
async fn unknown_paths_and_methods_get_openai_errors() {
    let (gateway, _mock) = gateway_with_mock(MockSettings::default(), "").await;
    let answer = get(&gateway.url("/v1/nothing-here")).await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND);
    error_of(&answer);
    let response = send(
        Method::GET,
        &gateway.url("/v1/chat/completions"),
        &[],
        bytes::Bytes::new(),
    )
    .await
    .expect("answered");
    let answer = collect(response).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
    error_of(&answer);
}

#[tokio::test]
async fn garbage_bytes_never_break_the_gateway() {
    let (gateway, _mock) = gateway_with_mock(MockSettings::default(), "").await;
    let url = gateway.url("/v1/chat/completions");
    let mut rng = fastrand::Rng::with_seed(42);
    for _ in 0..200 {
        let len = rng.usize(0..300);
        let body: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        let answer = post(&url, body).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    }
    let answer = post(&url, chat_body("up/x", "alive")).await;
    assert_eq!(answer.status, StatusCode::OK);
}

#[tokio::test]
async fn https_base_urls_speak_tls() {
    // A plain-HTTP server behind an https:// URL: the TLS handshake (rustls) must fail,
    // proving https providers are reached over TLS and never silently in the clear.
    let mock = start_mock(MockSettings::default()).await;
    let yaml = format!(
        "providers:\n{}",
        provider_yaml(
            "tls",
            &format!("https://{}/v1", mock.addr()),
            "sk-tls-secret"
        )
    );
    let gateway = TestGateway::start(&yaml).await;
    let answer = post(
        &gateway.url("/v1/chat/completions"),
        chat_body("tls/x", "hi"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_GATEWAY);
    assert_eq!(error_of(&answer)["code"], "upstream_unreachable");
    assert_eq!(
        mock.stats().chat_completions(),
        0,
        "the request went out in the clear"
    );
    assert!(!answer.text().contains("sk-tls-secret"));
}

#[tokio::test]
async fn connect_timeout_gets_504() {
    // A listener whose accept queue is full and never drained: the kernel drops further
    // SYNs, so a new connection attempt hangs until the gateway's connect timeout.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let listener = socket.listen(1).expect("listen");
    let addr = listener.local_addr().expect("addr");
    let mut queued = Vec::new();
    for _ in 0..4 {
        if let Ok(stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200))
        {
            queued.push(stream);
        }
    }
    let yaml = format!(
        "providers:\n{}    timeouts:\n      connect: 300ms\n",
        provider_yaml("blackhole", &format!("http://{addr}/v1"), "sk-test")
    );
    let gateway = TestGateway::start(&yaml).await;
    let started = Instant::now();
    let answer = post(
        &gateway.url("/v1/chat/completions"),
        chat_body("blackhole/x", "hi"),
    )
    .await;
    assert_eq!(
        answer.status,
        StatusCode::GATEWAY_TIMEOUT,
        "{}",
        answer.text()
    );
    assert_eq!(error_of(&answer)["code"], "upstream_timeout");
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(listener);
}
