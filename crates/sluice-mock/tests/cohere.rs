//! Cohere's v2 dialect over real HTTP. Timing assertions are lower bounds only.

mod common;

use common::*;
use serde_json::{Value, json};
use sluice_mock::{MockServer, MockSettings};

/// `http://127.0.0.1:PORT` (the base URL without OpenAI's `/v1`).
fn root(server: &MockServer) -> String {
    format!("http://{}", server.addr())
}

fn chat_v2(server: &MockServer) -> String {
    format!("{}/v2/chat", root(server))
}

fn embed_v2(server: &MockServer) -> String {
    format!("{}/v2/embed", root(server))
}

fn ask(text: &str) -> Value {
    json!({"model": "command-test", "messages": [{"role": "user", "content": text}]})
}

fn weather_tools(mut body: Value) -> Value {
    body["tools"] = json!([{"type": "function", "function": {
        "name": "get_weather",
        "description": "Weather at a place",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                       "required": ["location"]}
    }}]);
    body
}

async fn post_unauthenticated(http: &HttpClient, url: &str, body: &Value) -> Reply {
    read_reply(post_json_raw(http, url, &[], body).await).await
}

#[tokio::test]
async fn whole_chat_shape_and_usage() {
    let server = start(MockSettings::default()).await;
    let reply = post_json(&client(), &chat_v2(&server), &ask("hello there cohere")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.json(),
        json!({
            "id": "00000000-0000-4000-8000-000000000000",
            "finish_reason": "COMPLETE",
            "message": {"role": "assistant",
                        "content": [{"type": "text", "text": "hello there cohere"}]},
            "usage": {"billed_units": {"input_tokens": 9, "output_tokens": 3},
                      "tokens": {"input_tokens": 9, "output_tokens": 3}}
        })
    );
    assert_eq!(server.stats().chat_completions(), 1);
    assert_eq!(server.received()[0].path, "/v2/chat");
}

#[tokio::test]
async fn max_tokens_finishes_with_max_tokens() {
    let server = start(MockSettings::default()).await;
    let mut body = ask("one two three");
    body["max_tokens"] = json!(1);
    let reply = post_json(&client(), &chat_v2(&server), &body).await.json();
    assert_eq!(reply["finish_reason"], "MAX_TOKENS");
    assert_eq!(reply["message"]["content"][0]["text"], "one");
}

#[tokio::test]
async fn stream_event_sequence_matches_the_whole_answer() {
    let server = start(settings(json!({"reply": "lorem", "reply_tokens": 5}))).await;
    let http = client();
    let whole = post_json(&http, &chat_v2(&server), &ask("tell me"))
        .await
        .json();
    let reply = post_json(&http, &chat_v2(&server), &with_stream(ask("tell me"))).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("content-type"),
        Some("text/event-stream; charset=utf-8")
    );
    let events = named_events(std::str::from_utf8(&reply.body).unwrap());
    assert_eq!(
        event_names(&events),
        vec![
            "message-start",
            "content-start",
            "content-delta",
            "content-delta",
            "content-delta",
            "content-delta",
            "content-delta",
            "content-end",
            "message-end",
        ]
    );
    assert_eq!(events[0].1["delta"]["message"]["role"], "assistant");
    assert_eq!(
        events[1].1["delta"]["message"]["content"],
        json!({"type": "text", "text": ""})
    );
    let text: String = events
        .iter()
        .filter(|(name, _)| name == "content-delta")
        .map(|(_, data)| {
            data["delta"]["message"]["content"]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        text,
        whole["message"]["content"][0]["text"].as_str().unwrap()
    );
    let end = &events[8].1["delta"];
    assert_eq!(end["finish_reason"], "COMPLETE");
    assert_eq!(end["usage"], whole["usage"]);
    assert_eq!(server.stats().streams_completed(), 1);
}

#[tokio::test]
async fn tool_calls_whole_and_streamed() {
    let server = start(MockSettings::default()).await;
    let http = client();
    let whole = post_json(&http, &chat_v2(&server), &weather_tools(ask("weather?")))
        .await
        .json();
    assert_eq!(whole["finish_reason"], "TOOL_CALL");
    let message = &whole["message"];
    assert!(
        message["tool_plan"]
            .as_str()
            .unwrap()
            .contains("get_weather")
    );
    let call = &message["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let arguments = call["function"]["arguments"].as_str().unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(arguments).unwrap(),
        json!({"location": "mock"})
    );

    let reply = post_json(
        &http,
        &chat_v2(&server),
        &with_stream(weather_tools(ask("weather?"))),
    )
    .await;
    let events = named_events(std::str::from_utf8(&reply.body).unwrap());
    let sequence = event_names(&events);
    let first_call = sequence
        .iter()
        .position(|n| *n == "tool-call-start")
        .unwrap();
    assert_eq!(sequence[0], "message-start");
    assert!(
        sequence[1..first_call]
            .iter()
            .all(|n| *n == "tool-plan-delta")
    );
    assert!(first_call > 1);
    assert_eq!(
        &sequence[sequence.len() - 2..],
        &["tool-call-end", "message-end"]
    );
    let plan: String = events
        .iter()
        .filter(|(name, _)| name == "tool-plan-delta")
        .map(|(_, d)| {
            d["delta"]["message"]["tool_plan"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(plan, message["tool_plan"].as_str().unwrap());
    let start = &events[first_call].1["delta"]["message"]["tool_calls"];
    assert_eq!(start["function"]["name"], "get_weather");
    assert_eq!(start["type"], "function");
    let pieces: Vec<String> = events
        .iter()
        .filter(|(name, _)| name == "tool-call-delta")
        .map(|(_, d)| {
            d["delta"]["message"]["tool_calls"]["function"]["arguments"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(pieces.len() > 1, "arguments arrive in several pieces");
    assert_eq!(pieces.concat(), arguments);
    let end = &events.last().unwrap().1["delta"];
    assert_eq!(end["finish_reason"], "TOOL_CALL");
}

#[tokio::test]
async fn embed_by_type() {
    let server = start(settings(json!({"embedding_dimensions": 8}))).await;
    let http = client();
    let body = json!({"model": "embed-test", "texts": ["hello world", "bye"],
                      "input_type": "search_document", "embedding_types": ["float"]});
    let reply = post_json(&http, &embed_v2(&server), &body).await;
    assert_eq!(reply.status, 200);
    let answer = reply.json();
    assert_eq!(answer["response_type"], "embeddings_by_type");
    assert_eq!(answer["texts"], json!(["hello world", "bye"]));
    assert_eq!(answer["meta"]["api_version"]["version"], "2");
    assert_eq!(answer["meta"]["billed_units"]["input_tokens"], 3);
    let vectors = answer["embeddings"]["float"].as_array().unwrap();
    assert_eq!(vectors.len(), 2);
    assert_eq!(vectors[0].as_array().unwrap().len(), 8);
    // The same deterministic vectors as the OpenAI endpoint's.
    let openai = post_json(
        &http,
        &format!("{}/embeddings", server.base_url()),
        &json!({"model": "e", "input": "hello world"}),
    )
    .await
    .json();
    assert_eq!(openai["data"][0]["embedding"], vectors[0]);
    assert_eq!(server.stats().embeddings(), 2);

    let mut sized = body.clone();
    sized["output_dimension"] = json!(4);
    let sized = post_json(&http, &embed_v2(&server), &sized).await.json();
    assert_eq!(sized["embeddings"]["float"][0].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn auth_and_validation_errors() {
    let server = start(MockSettings::default()).await;
    let http = client();
    for url in [chat_v2(&server), embed_v2(&server)] {
        let reply = post_unauthenticated(&http, &url, &ask("hi")).await;
        assert_eq!(reply.status, 401);
        assert!(reply.json()["message"].is_string());
        assert_eq!(reply.json().as_object().unwrap().len(), 1);
    }
    for body in [
        json!({"messages": [{"role": "user", "content": "x"}]}),
        json!({"model": "m"}),
        json!({"model": "m", "messages": []}),
        json!({"model": "m", "messages": [{"role": "robot", "content": "x"}]}),
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}),
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tool_choice": "ANY"}),
    ] {
        let reply = post_json(&http, &chat_v2(&server), &body).await;
        assert_eq!(reply.status, 400, "{body}");
        assert!(reply.json()["message"].is_string(), "{body}");
    }
    for body in [
        json!({"model": "e", "texts": ["a"]}),
        json!({"model": "e", "input_type": "search_query"}),
        json!({"model": "e", "input_type": "nonsense", "texts": ["a"]}),
        json!({"model": "e", "input_type": "search_query", "texts": ["a"], "embedding_types": ["int8"]}),
    ] {
        let reply = post_json(&http, &embed_v2(&server), &body).await;
        assert_eq!(reply.status, 400, "{body}");
        assert!(reply.json()["message"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn status_faults_in_cohere_envelope() {
    for status in [429, 500, 422] {
        let server = start_with_fault(
            json!({"kind": "status", "rate": 1.0, "status": status, "retry_after": 4}),
        )
        .await;
        let reply = post_json(&client(), &chat_v2(&server), &ask("hi")).await;
        assert_eq!(reply.status, status);
        assert_eq!(reply.header("retry-after"), Some("4"));
        let body = reply.json();
        assert!(body["message"].is_string());
        assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
    }
}

#[tokio::test]
async fn cut_stream_and_malformed() {
    let server =
        start_with_fault(json!({"kind": "cut_stream", "rate": 1.0, "after_tokens": 1})).await;
    let response = open_stream(
        &client(),
        &chat_v2(&server),
        &with_stream(ask("one two three")),
    )
    .await;
    let frames = read_frames(response).await;
    assert!(frames.error.is_some());
    let events = named_events(&frames.text());
    assert_eq!(
        event_names(&events),
        vec!["message-start", "content-start", "content-delta"]
    );

    let server = start_with_fault(json!({"kind": "malformed_json", "rate": 1.0})).await;
    let whole = post_json(&client(), &chat_v2(&server), &ask("hi")).await;
    assert_eq!(whole.status, 200);
    assert!(serde_json::from_slice::<Value>(&whole.body).is_err());
}

#[tokio::test]
async fn stream_is_paced_by_the_latency_settings() {
    let server = start_paced().await;
    let timed = timed_frames(open_stream(
        &client(),
        &chat_v2(&server),
        &with_stream(ask("w1 w2 w3")),
    ))
    .await;
    // message-start, content-start, 3 deltas, content-end, message-end
    assert_eq!(timed.frames.frames.len(), 7);
    assert_paced_three_tokens(&timed, 2);
}

#[tokio::test]
async fn stream_error_without_an_error_event_is_a_cut() {
    let server = start_with_fault(
        json!({"kind": "stream_error", "rate": 1.0, "after_tokens": 1, "status": 500}),
    )
    .await;
    let response = open_stream(
        &client(),
        &chat_v2(&server),
        &with_stream(ask("one two three")),
    )
    .await;
    let frames = read_frames(response).await;
    assert!(frames.error.is_some());
    let events = named_events(&frames.text());
    assert_eq!(event_names(&events).last(), Some(&"content-delta"));

    let whole = post_json(&client(), &chat_v2(&server), &ask("hi")).await;
    assert_eq!(whole.status, 500);
    assert!(whole.json()["message"].is_string());
}
