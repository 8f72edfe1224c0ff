//! The pass-through path over real HTTP: bodies go upstream with only the model
//! replaced, answers come back byte for byte and, for streams, frame by frame.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use http::StatusCode;
use sluice_mock::MockSettings;

fn config_for(base_url: &str) -> String {
    format!(
        "providers:\n{}routes:\n  fast:\n    targets:\n      - provider: up\n        model: upstream-model\n",
        provider_yaml("up", base_url, "sk-upstream-secret")
    )
}

#[tokio::test]
async fn request_body_goes_upstream_with_only_the_model_replaced() {
    let mock = start_mock(MockSettings::default()).await;
    let gateway = TestGateway::start(&config_for(&mock.base_url())).await;
    // Unknown fields, odd spacing, multimodal parts, tools: all must arrive untouched.
    let body = r#"{ "messages" : [{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}],
  "model":"fast", "temperature":0.25, "x_custom": {"nested": [1, 2.50, "three"]}, "seed": 7 }"#;
    let answer = post(&gateway.url("/v1/chat/completions"), body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let received = mock.received();
    let upstream = received.last().expect("mock saw the request");
    assert_eq!(upstream.path, "/v1/chat/completions");
    assert_eq!(
        std::str::from_utf8(&upstream.body).expect("utf8"),
        body.replace(r#""model":"fast""#, r#""model":"upstream-model""#)
    );
    assert_eq!(answer.json()["model"], "upstream-model");
    assert_eq!(answer.header("x-sluice-provider"), Some("up"));
    assert_eq!(answer.header("x-sluice-model"), Some("upstream-model"));
    assert_eq!(answer.header("x-sluice-attempts"), Some("1"));
    let overhead: u64 = answer
        .header("x-sluice-overhead-us")
        .expect("overhead header")
        .parse()
        .expect("a number of microseconds");
    assert!(overhead < 1_000_000);
}

#[tokio::test]
async fn whole_response_is_returned_byte_for_byte() {
    let upstream_body = Bytes::from_static(
        b"{\"id\":\"chatcmpl-x\",  \"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"caf\\u00e9\"},\"finish_reason\":\"stop\"}],\"unknown_field\":{\"kept\":true},\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n",
    );
    let fixture = FixtureUpstream::start(Fixture {
        status: StatusCode::OK,
        headers: vec![
            ("content-type", "application/json"),
            ("x-request-id", "req_123"),
            ("openai-processing-ms", "42"),
        ],
        chunks: vec![(Duration::ZERO, upstream_body.clone())],
    })
    .await;
    let gateway = TestGateway::start(&config_for(&fixture.base_url())).await;
    let answer = post(
        &gateway.url("/v1/chat/completions"),
        chat_body("up/any-model", "hi"),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body, upstream_body);
    assert_eq!(answer.header("x-request-id"), Some("req_123"));
    assert_eq!(answer.header("openai-processing-ms"), Some("42"));
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let received = fixture.received.lock().expect("lock");
    let sent: serde_json::Value = serde_json::from_slice(&received[0].1).expect("json");
    assert_eq!(sent["model"], "any-model");
}

#[tokio::test]
async fn streams_are_forwarded_frame_by_frame_as_they_arrive() {
    let events: Vec<Bytes> = (0..4)
        .map(|i| Bytes::from(format!("data: {{\"id\":\"c\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"w{i}\"}}}}]}}\n\n")))
        .chain(std::iter::once(Bytes::from_static(b"data: [DONE]\n\n")))
        .collect();
    let gap = Duration::from_millis(150);
    let fixture = FixtureUpstream::start(Fixture {
        status: StatusCode::OK,
        headers: vec![("content-type", "text/event-stream")],
        chunks: events.iter().map(|event| (gap, event.clone())).collect(),
    })
    .await;
    let gateway = TestGateway::start(&config_for(&fixture.base_url())).await;
    let body = r#"{"model":"fast","stream":true,"messages":[{"role":"user","content":"hi"}]}"#;
    let response = post_streaming(&gateway.url("/v1/chat/completions"), body).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    let (frames, error) = frames(response).await;
    assert!(error.is_none(), "{error:?}");
    let joined: Vec<u8> = frames.iter().flat_map(|(_, data)| data.to_vec()).collect();
    let expected: Vec<u8> = events.iter().flat_map(|event| event.to_vec()).collect();
    assert_eq!(joined, expected, "stream bytes changed");
    // Not buffered: the events came as separate frames, spread over time.
    assert!(frames.len() >= events.len(), "{} frames", frames.len());
    let spread = frames.last().expect("frames").0 - frames[0].0;
    assert!(spread >= gap * 3, "all frames arrived within {spread:?}");
}

#[tokio::test]
async fn mock_stream_with_usage_and_tool_calls_passes_through() {
    let mock = start_mock(MockSettings::default()).await;
    let gateway = TestGateway::start(&config_for(&mock.base_url())).await;
    let body = serde_json::json!({
        "model": "fast",
        "stream": true,
        "stream_options": {"include_usage": true},
        "messages": [{"role": "user", "content": "what is the weather"}],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
    });
    let answer = post(&gateway.url("/v1/chat/completions"), body.to_string()).await;
    assert_eq!(answer.status, StatusCode::OK);
    let data = sse_data(&answer.body);
    assert_eq!(data.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<serde_json::Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).expect("chunk json"))
        .collect();
    let arguments: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .collect();
    let arguments: serde_json::Value =
        serde_json::from_str(&arguments).expect("arguments reassemble");
    assert!(arguments.get("city").is_some());
    let usage = &chunks.last().expect("usage chunk")["usage"];
    assert!(usage["total_tokens"].as_u64().expect("usage") > 0);
    assert!(
        chunks
            .iter()
            .any(|c| c["choices"][0]["finish_reason"] == "tool_calls")
    );
}

#[tokio::test]
async fn embeddings_pass_through() {
    let mock = start_mock(MockSettings::default()).await;
    let gateway = TestGateway::start(&config_for(&mock.base_url())).await;
    let body = r#"{"model":"up/text-embedding-3-small","input":["one","two"],"dimensions":8}"#;
    let answer = post(&gateway.url("/v1/embeddings"), body).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let json = answer.json();
    assert_eq!(json["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        json["data"][0]["embedding"].as_array().map(Vec::len),
        Some(8)
    );
    assert_eq!(json["model"], "text-embedding-3-small");
    assert_eq!(
        mock.received().last().map(|r| r.path.clone()).as_deref(),
        Some("/v1/embeddings")
    );
}

#[tokio::test]
async fn upstream_connections_are_pooled_and_kept_alive() {
    let mock = start_mock(MockSettings::default()).await;
    let gateway = TestGateway::start(&config_for(&mock.base_url())).await;
    for _ in 0..50 {
        let answer = post(
            &gateway.url("/v1/chat/completions"),
            chat_body("fast", "hi"),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    assert_eq!(mock.stats().chat_completions(), 50);
    // Sequential requests reuse one kept-alive connection instead of dialling each time.
    assert!(
        mock.stats().connections() <= 2,
        "{} connections for 50 requests",
        mock.stats().connections()
    );
}
