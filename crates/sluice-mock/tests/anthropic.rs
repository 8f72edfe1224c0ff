//! Anthropic's Messages dialect over real HTTP. Timing assertions are lower bounds only.

mod common;

use bytes::Bytes;
use common::*;
use http_body_util::Full;
use serde_json::{Value, json};
use sluice_mock::{MockServer, MockSettings};

const VERSION: &str = "2023-06-01";

fn messages_url(server: &MockServer) -> String {
    format!("{}/messages", server.base_url())
}

const AUTHED: &[(&str, &str)] = &[("x-api-key", "sk-ant-test"), ("anthropic-version", VERSION)];

async fn post(http: &HttpClient, server: &MockServer, body: &Value) -> Reply {
    read_reply(post_json_raw(http, &messages_url(server), AUTHED, body).await).await
}

fn ask(text: &str) -> Value {
    json!({"model": "claude-test", "max_tokens": 64,
           "messages": [{"role": "user", "content": text}]})
}

fn weather_tools(mut body: Value) -> Value {
    body["tools"] = json!([{
        "name": "get_weather",
        "description": "Weather at a place",
        "input_schema": {"type": "object", "properties": {
            "location": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}
        }, "required": ["location"]}
    }]);
    body
}

#[tokio::test]
async fn whole_message_shape_and_usage() {
    let server = start(MockSettings::default()).await;
    let reply = post(&client(), &server, &ask("hello there mock")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    let body = reply.json();
    assert_eq!(
        body,
        json!({
            "id": "msg_mock_0",
            "type": "message",
            "role": "assistant",
            "model": "claude-test",
            "content": [{"type": "text", "text": "hello there mock"}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            // 3 priming + 3 per message + 3 words
            "usage": {"input_tokens": 9, "output_tokens": 3,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        })
    );
    assert_eq!(server.stats().chat_completions(), 1);
    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].path, "/v1/messages");
    assert_eq!(received[0].header("x-api-key"), Some("sk-ant-test"));
}

#[tokio::test]
async fn max_tokens_cuts_with_max_tokens_stop_reason() {
    let server = start(MockSettings::default()).await;
    let mut body = ask("one two three four");
    body["max_tokens"] = json!(2);
    let reply = post(&client(), &server, &body).await.json();
    assert_eq!(reply["content"][0]["text"], "one two");
    assert_eq!(reply["stop_reason"], "max_tokens");
    assert_eq!(reply["usage"]["output_tokens"], 2);
}

#[tokio::test]
async fn stream_event_sequence_matches_the_whole_answer() {
    let server = start(MockSettings::default()).await;
    let http = client();
    let whole = post(&http, &server, &ask("the quick brown fox"))
        .await
        .json();
    let reply = post(&http, &server, &with_stream(ask("the quick brown fox"))).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    let events = named_events(std::str::from_utf8(&reply.body).unwrap());
    assert_eq!(
        event_names(&events),
        vec![
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop",
        ]
    );
    let start_message = &events[0].1["message"];
    assert_eq!(start_message["content"], json!([]));
    assert_eq!(start_message["stop_reason"], Value::Null);
    assert_eq!(
        start_message["usage"]["input_tokens"],
        whole["usage"]["input_tokens"]
    );
    assert_eq!(
        events[1].1["content_block"],
        json!({"type": "text", "text": ""})
    );
    let text: String = events
        .iter()
        .filter(|(name, _)| name == "content_block_delta")
        .map(|(_, data)| {
            assert_eq!(data["delta"]["type"], "text_delta");
            data["delta"]["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(text, whole["content"][0]["text"].as_str().unwrap());
    assert_eq!(
        events[8].1,
        json!({"type": "message_delta",
               "delta": {"stop_reason": "end_turn", "stop_sequence": null},
               "usage": {"output_tokens": 4}})
    );
    let stats = server.stats();
    assert_eq!(stats.streams_started(), 1);
    assert_eq!(stats.streams_completed(), 1);
}

#[tokio::test]
async fn tool_use_whole_and_streamed() {
    let server = start(MockSettings::default()).await;
    let http = client();
    let whole = post(&http, &server, &weather_tools(ask("weather in Paris?")))
        .await
        .json();
    assert_eq!(whole["stop_reason"], "tool_use");
    let block = &whole["content"][0];
    assert_eq!(block["type"], "tool_use");
    assert_eq!(block["id"], "toolu_mock_0");
    assert_eq!(block["name"], "get_weather");
    assert_eq!(block["input"], json!({"location": "mock", "unit": "c"}));

    let reply = post(&http, &server, &with_stream(weather_tools(ask("weather?")))).await;
    let events = named_events(std::str::from_utf8(&reply.body).unwrap());
    assert_eq!(
        events[1].1["content_block"],
        json!({"type": "tool_use", "id": "toolu_mock_1", "name": "get_weather", "input": {}})
    );
    let pieces: Vec<String> = events
        .iter()
        .filter(|(name, _)| name == "content_block_delta")
        .map(|(_, data)| {
            assert_eq!(data["delta"]["type"], "input_json_delta");
            data["delta"]["partial_json"].as_str().unwrap().to_owned()
        })
        .collect();
    assert!(pieces.len() > 1, "the input arrives in several pieces");
    let input: Value = serde_json::from_str(&pieces.concat()).expect("reassembles to JSON");
    assert_eq!(input, block["input"]);
    let delta = events
        .iter()
        .find(|(name, _)| name == "message_delta")
        .unwrap();
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn tool_choice_maps_to_the_shared_logic() {
    let server = start(MockSettings::default()).await;
    let http = client();
    let mut none = weather_tools(ask("hi"));
    none["tool_choice"] = json!({"type": "none"});
    assert_eq!(
        post(&http, &server, &none).await.json()["content"][0]["type"],
        "text"
    );
    let mut named = weather_tools(ask("hi"));
    named["tool_choice"] = json!({"type": "tool", "name": "nope"});
    let reply = post(&http, &server, &named).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn thinking_block_whole_and_streamed() {
    let server = start(MockSettings::default()).await;
    let http = client();
    let mut body = ask("think about it");
    body["max_tokens"] = json!(2048);
    body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024});
    let whole = post(&http, &server, &body).await.json();
    let thinking = &whole["content"][0];
    assert_eq!(thinking["type"], "thinking");
    assert!(!thinking["signature"].as_str().unwrap().is_empty());
    assert_eq!(whole["content"][1]["text"], "think about it");

    let events = named_events(
        std::str::from_utf8(&post(&http, &server, &with_stream(body)).await.body).unwrap(),
    );
    let thought: String = events
        .iter()
        .filter(|(_, data)| data["delta"]["type"] == "thinking_delta")
        .map(|(_, data)| data["delta"]["thinking"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(thought, thinking["thinking"].as_str().unwrap());
    assert!(
        events
            .iter()
            .any(|(_, data)| data["delta"]["type"] == "signature_delta")
    );
    assert_eq!(events[1].1["index"], 0);
    let text_start = events
        .iter()
        .filter(|(name, _)| name == "content_block_start")
        .nth(1)
        .unwrap();
    assert_eq!(text_start.1["index"], 1);
}

#[tokio::test]
async fn count_tokens_matches_usage() {
    let server = start(MockSettings::default()).await;
    let http = client();
    let mut body = ask("count these four words");
    let usage = post(&http, &server, &body).await.json()["usage"]["input_tokens"].clone();
    body.as_object_mut().unwrap().remove("max_tokens");
    let url = format!("{}/messages/count_tokens", server.base_url());
    let reply = read_reply(post_json_raw(&http, &url, AUTHED, &body).await).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json(), json!({"input_tokens": usage}));
}

#[tokio::test]
async fn auth_and_validation_errors() {
    let server = start(MockSettings::default()).await;
    let http = client();
    let url = messages_url(&server);
    let no_key =
        read_reply(post_json_raw(&http, &url, &[("anthropic-version", VERSION)], &ask("hi")).await)
            .await;
    assert_eq!(no_key.status, 401);
    assert_eq!(no_key.json()["type"], "error");
    assert_eq!(no_key.json()["error"]["type"], "authentication_error");

    let bearer = [
        ("authorization", "Bearer sk"),
        ("anthropic-version", VERSION),
    ];
    assert_eq!(
        read_reply(post_json_raw(&http, &url, &bearer, &ask("hi")).await)
            .await
            .status,
        200
    );

    let no_version =
        read_reply(post_json_raw(&http, &url, &[("x-api-key", "k")], &ask("hi")).await).await;
    assert_eq!(no_version.status, 400);
    assert_eq!(no_version.json()["error"]["type"], "invalid_request_error");
    assert!(
        no_version.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("anthropic-version")
    );

    for (body, needle) in [
        (
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
            "max_tokens",
        ),
        (json!({"model": "m", "max_tokens": 5}), "messages"),
        (
            json!({"max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}),
            "model",
        ),
        (
            json!({"model": "m", "max_tokens": "5", "messages": [{"role": "user", "content": "x"}]}),
            "max_tokens",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "bot", "content": "x"}]}),
            "role",
        ),
        (
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user"}]}),
            "content",
        ),
    ] {
        let reply = post(&http, &server, &body).await;
        assert_eq!(reply.status, 400, "{body}");
        let error = reply.json();
        assert_eq!(error["type"], "error");
        assert_eq!(error["error"]["type"], "invalid_request_error");
        assert!(
            error["error"]["message"].as_str().unwrap().contains(needle),
            "{error}"
        );
    }
    let not_json = http
        .request(
            http::Request::builder()
                .method("POST")
                .uri(&url)
                .header("x-api-key", "k")
                .header("anthropic-version", VERSION)
                .body(Full::new(Bytes::from_static(b"{nope")))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(not_json.status(), 400);
}

#[tokio::test]
async fn status_faults_in_anthropic_envelope() {
    for (status, kind) in [
        (429, "rate_limit_error"),
        (529, "overloaded_error"),
        (500, "api_error"),
    ] {
        let server = start_with_fault(
            json!({"kind": "status", "rate": 1.0, "status": status, "retry_after": 5}),
        )
        .await;
        // A stream asked for gets the status at once, as the API answers an overloaded stream.
        let reply = post(&client(), &server, &with_stream(ask("hi"))).await;
        assert_eq!(reply.status, status);
        assert_eq!(reply.header("retry-after"), Some("5"));
        assert_eq!(reply.header("content-type"), Some("application/json"));
        let body = reply.json();
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], kind);
        assert!(body["error"]["message"].is_string());
        assert_eq!(server.stats().faults_injected(), 1);
        assert_eq!(server.stats().streams_started(), 0);
    }
}

#[tokio::test]
async fn body_faults_in_streams() {
    let server =
        start_with_fault(json!({"kind": "cut_stream", "rate": 1.0, "after_tokens": 2})).await;
    let response = post_json_raw(
        &client(),
        &messages_url(&server),
        AUTHED,
        &with_stream(ask("one two three four five")),
    )
    .await;
    let frames = read_frames(response).await;
    assert!(frames.error.is_some(), "the body must end with an error");
    let events = named_events(&frames.text());
    let deltas = events
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .count();
    assert_eq!(deltas, 2);
    assert!(!event_names(&events).contains(&"message_stop"));
    assert_eq!(server.stats().streams_completed(), 0);

    let server = start_with_fault(json!({"kind": "malformed_json", "rate": 1.0})).await;
    let reply = post(&client(), &server, &with_stream(ask("one two three four"))).await;
    let text = String::from_utf8(reply.body.to_vec()).unwrap();
    assert!(text.contains("data: {not json\n\n"));
    assert!(text.ends_with("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"));
}

#[tokio::test]
async fn stream_is_paced_by_the_latency_settings() {
    let server = start_paced().await;
    let timed = timed_frames(post_json_raw(
        &client(),
        &messages_url(&server),
        AUTHED,
        &with_stream(ask("w1 w2 w3")),
    ))
    .await;
    // message_start, content_block_start, ping, 3 deltas, stop, message_delta, message_stop
    assert_eq!(timed.frames.frames.len(), 9);
    assert_paced_three_tokens(&timed, 3);
}

#[tokio::test]
async fn stream_error_is_an_error_event_midway() {
    let server =
        start_with_fault(json!({"kind": "stream_error", "rate": 1.0, "after_tokens": 2})).await;
    let http = client();
    let response = post_json_raw(
        &http,
        &messages_url(&server),
        AUTHED,
        &with_stream(ask("one two three four")),
    )
    .await;
    assert_eq!(response.status(), 200);
    let frames = read_frames(response).await;
    assert!(
        frames.error.is_none(),
        "the stream ends cleanly after the error"
    );
    let events = named_events(&frames.text());
    assert_eq!(
        event_names(&events),
        vec![
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "error",
        ]
    );
    assert_eq!(
        events[5].1,
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    );
    let stats = server.stats();
    assert_eq!(stats.streams_started(), 1);
    assert_eq!(stats.streams_completed(), 0);
    assert_eq!(stats.client_disconnects(), 0);

    // A whole answer has no stream to carry it: it gets the status.
    let whole = post(&http, &server, &ask("hi")).await;
    assert_eq!(whole.status, 529);
    assert_eq!(whole.json()["error"]["type"], "overloaded_error");
}
