//! Azure OpenAI's dialect over real HTTP. Timing assertions are lower bounds only.

mod common;

use common::*;
use serde_json::{Value, json};
use sluice_mock::{MockServer, MockSettings};

const API_VERSION: &str = "2024-10-21";

fn deployment_url(server: &MockServer, deployment: &str, operation: &str) -> String {
    format!(
        "http://{}/openai/deployments/{deployment}/{operation}?api-version={API_VERSION}",
        server.addr()
    )
}

fn chat(server: &MockServer) -> String {
    deployment_url(server, "gpt4o-prod", "chat/completions")
}

/// An Azure chat body: no `model`, the deployment names it.
fn ask(text: &str) -> Value {
    json!({"messages": [{"role": "user", "content": text}]})
}

/// Sends `body` with exactly `headers` (plus a JSON content type).
async fn post_with(http: &HttpClient, url: &str, headers: &[(&str, &str)], body: &Value) -> Reply {
    read_reply(post_json_raw(http, url, headers, body).await).await
}

const API_KEY: &[(&str, &str)] = &[("api-key", "azure-key")];

#[tokio::test]
async fn whole_chat_names_the_deployment_and_adds_filter_results() {
    let server = start(MockSettings::default()).await;
    let reply = post_with(&client(), &chat(&server), API_KEY, &ask("hello azure")).await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["model"], "gpt4o-prod");
    assert_eq!(body["choices"][0]["message"]["content"], "hello azure");
    assert_eq!(body["usage"]["prompt_tokens"], 8);
    let safe = json!({"filtered": false, "severity": "safe"});
    let filters = json!({"hate": safe, "self_harm": safe, "sexual": safe, "violence": safe});
    assert_eq!(
        body["prompt_filter_results"],
        json!([{"prompt_index": 0, "content_filter_results": filters}])
    );
    assert_eq!(body["choices"][0]["content_filter_results"], filters);
    assert_eq!(server.stats().chat_completions(), 1);
    let received = server.received();
    assert_eq!(
        received[0].path,
        format!("/openai/deployments/gpt4o-prod/chat/completions?api-version={API_VERSION}")
    );
    assert_eq!(received[0].header("api-key"), Some("azure-key"));
}

#[tokio::test]
async fn a_model_in_the_body_is_overridden_by_the_deployment() {
    let server = start(MockSettings::default()).await;
    let mut body = ask("hi");
    body["model"] = json!("something-else");
    // Bearer (Entra ID) auth is accepted too.
    let reply = post_json(&client(), &chat(&server), &body).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["model"], "gpt4o-prod");
}

#[tokio::test]
async fn stream_matches_the_whole_answer() {
    let server = start(MockSettings::default()).await;
    let http = client();
    let whole = post_with(&http, &chat(&server), API_KEY, &ask("one two three"))
        .await
        .json();
    let reply = post_with(
        &http,
        &chat(&server),
        API_KEY,
        &with_stream(ask("one two three")),
    )
    .await;
    assert_eq!(reply.status, 200);
    let text = String::from_utf8(reply.body.to_vec()).unwrap();
    let chunks = sse_chunks(&text);
    // role, 3 tokens, finish; then [DONE]
    assert_eq!(chunks.len(), 5);
    assert!(chunks.iter().all(|c| c["model"] == "gpt4o-prod"));
    let content: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(
        content,
        whole["choices"][0]["message"]["content"].as_str().unwrap()
    );
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], "stop");
    assert!(text.ends_with("data: [DONE]\n\n"));
}

#[tokio::test]
async fn tool_call_arguments_reassemble() {
    let server = start(MockSettings::default()).await;
    let mut body = with_stream(ask("weather?"));
    body["tools"] = json!([{"type": "function", "function": {"name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let reply = post_with(&client(), &chat(&server), API_KEY, &body).await;
    let chunks = sse_chunks(std::str::from_utf8(&reply.body).unwrap());
    let pieces: Vec<&str> = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"].as_str())
        .filter(|piece| !piece.is_empty())
        .collect();
    assert!(pieces.len() > 1);
    let arguments: Value = serde_json::from_str(&pieces.concat()).expect("valid JSON");
    assert_eq!(arguments, json!({"city": "mock"}));
}

#[tokio::test]
async fn embeddings_through_the_deployment() {
    let server = start(settings(json!({"embedding_dimensions": 4}))).await;
    let url = deployment_url(&server, "embed-prod", "embeddings");
    let reply = post_with(&client(), &url, API_KEY, &json!({"input": ["a b", "c"]})).await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(body["model"], "embed-prod");
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    assert_eq!(body["data"][0]["embedding"].as_array().unwrap().len(), 4);
    assert_eq!(body["usage"]["prompt_tokens"], 3);
    assert_eq!(server.stats().embeddings(), 1);
}

#[tokio::test]
async fn api_version_auth_and_validation_errors() {
    let server = start(MockSettings::default()).await;
    let http = client();
    let no_version = format!(
        "http://{}/openai/deployments/d/chat/completions",
        server.addr()
    );
    let reply = post_with(&http, &no_version, API_KEY, &ask("hi")).await;
    assert_eq!(reply.status, 404);
    assert_eq!(
        reply.json(),
        json!({"error": {"code": "404", "message": "Resource not found"}})
    );

    let reply = post_with(&http, &chat(&server), &[], &ask("hi")).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["error"]["code"], "401");
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Access denied due to invalid subscription key")
    );

    // Body errors are the OpenAI ones Azure passes on.
    let reply = post_with(&http, &chat(&server), API_KEY, &json!({"messages": []})).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["code"], "empty_array");
    let reply = post_with(&http, &chat(&server), API_KEY, &json!({})).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.json()["error"]["param"], "messages");
}

#[tokio::test]
async fn status_faults_in_azure_envelope() {
    let server =
        start_with_fault(json!({"kind": "status", "rate": 1.0, "status": 429, "retry_after": 6}))
            .await;
    let reply = post_with(&client(), &chat(&server), API_KEY, &ask("hi")).await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.header("retry-after"), Some("6"));
    let error = &reply.json()["error"];
    assert_eq!(error["code"], "429");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("retry after 6 seconds")
    );
    assert_eq!(server.stats().faults_injected(), 1);
}

#[tokio::test]
async fn malformed_whole_answer_stays_malformed() {
    let server = start_with_fault(json!({"kind": "malformed_json", "rate": 1.0})).await;
    let reply = post_with(&client(), &chat(&server), API_KEY, &ask("hi")).await;
    assert_eq!(reply.status, 200);
    assert!(serde_json::from_slice::<Value>(&reply.body).is_err());
}

#[tokio::test]
async fn stream_is_paced_by_the_latency_settings() {
    let server = start_paced().await;
    let timed = timed_frames(open_stream(
        &client(),
        &chat(&server),
        &with_stream(ask("w1 w2 w3")),
    ))
    .await;
    // role, 3 tokens, finish, [DONE]
    assert_eq!(timed.frames.frames.len(), 6);
    assert_paced_three_tokens(&timed, 1);
}
