//! Every client dialect against every provider dialect, over real HTTP: the gateway in
//! front of the mock provider, which answers each dialect on its own paths. The mock
//! echoes the last user message word for word, so the text that comes back proves the
//! prompt went through, and its usage counts a token per word.

mod common;

use std::path::PathBuf;

use common::*;
use serde_json::{Value, json};
use sluice_mock::{MockFault, MockServer, MockSettings};

/// Every provider kind under test, by the model name that addresses it.
const OPENAI: &str = "openai/gpt-4o-mini";
const ANTHROPIC: &str = "anthropic/claude-sonnet-4-5";
const GEMINI: &str = "gemini/gemini-2.5-flash";
const VERTEX: &str = "vertex/gemini-2.5-pro";
const BEDROCK: &str = "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0";
const COHERE: &str = "cohere/command-a-03-2025";
const AZURE: &str = "azure/gpt-4o-prod";
const GROQ: &str = "groq/llama-3.3-70b-versatile";
const MISTRAL: &str = "mistral/mistral-large-latest";

/// Models an OpenAI client is translated for (or passed through to).
const ALL_FOR_OPENAI: [&str; 9] = [
    OPENAI, ANTHROPIC, GEMINI, VERTEX, BEDROCK, COHERE, AZURE, GROQ, MISTRAL,
];

struct Setup {
    mock: MockServer,
    gateway: TestGateway,
    _credentials: TempFile,
}

/// A file removed when dropped.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A Vertex service-account file whose token endpoint is the mock's.
fn vertex_credentials(mock: &MockServer) -> TempFile {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../sluice-providers/tests/fixtures/gemini/TEST_ONLY_service_account_key.json"
    );
    let mut account: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).expect("fixture")).expect("json");
    account["token_uri"] = json!(format!("http://{}/token", mock.addr()));
    let path = std::env::temp_dir().join(format!(
        "sluice-vertex-{}-{}.json",
        std::process::id(),
        mock.addr().port()
    ));
    std::fs::write(&path, account.to_string()).expect("write credentials");
    TempFile(path)
}

impl Setup {
    /// `POST /v1/chat/completions` (the OpenAI dialect).
    async fn chat(&self, body: String) -> Answer {
        post(&self.gateway.url("/v1/chat/completions"), body).await
    }

    /// `POST /v1/messages` with the headers the Anthropic SDK sends.
    async fn messages(&self, body: String) -> Answer {
        post_with(&self.gateway.url("/v1/messages"), &ANTHROPIC_HEADERS, body).await
    }
}

async fn setup(settings: MockSettings) -> Setup {
    let mock = start_mock(settings).await;
    let root = format!("http://{}", mock.addr());
    let credentials = vertex_credentials(&mock);
    let yaml = format!(
        r#"
providers:
  openai:
    kind: openai-compatible
    base_url: {root}/v1
    api_key: sk-openai-key
  anthropic:
    kind: anthropic
    base_url: {root}
    api_key: sk-ant-provider-key
    models: [claude-sonnet-4-5]
  gemini:
    kind: gemini
    base_url: {root}
    api_key: gemini-key
  vertex:
    kind: vertex
    base_url: {root}
    credentials_file: {credentials}
    project: sluice-test
    region: europe-west4
  bedrock:
    kind: bedrock
    base_url: {root}
    region: eu-west-1
    aws:
      access_key_id: AKIDEXAMPLE
      secret_access_key: wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
  cohere:
    kind: cohere
    base_url: {root}
    api_key: cohere-key
  azure:
    kind: azure
    base_url: {root}
    api_key: azure-key
    deployments:
      gpt-4o-prod: prod-deployment
  groq:
    kind: groq
    base_url: {root}/v1
    api_key: gsk-key
  mistral:
    kind: mistral
    base_url: {root}/v1
    api_key: mistral-key
"#,
        credentials = credentials.0.display()
    );
    let gateway = TestGateway::start(&yaml).await;
    Setup {
        mock,
        gateway,
        _credentials: credentials,
    }
}

fn openai_chat(model: &str, text: &str, stream: bool) -> String {
    json!({
        "model": model,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": text},
        ],
        "max_tokens": 100,
        "stream": stream,
        "stream_options": if stream { json!({"include_usage": true}) } else { Value::Null },
    })
    .to_string()
}

fn weather_tool_openai(model: &str, stream: bool) -> String {
    json!({
        "model": model,
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [{
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                    "required": ["city"],
                },
            },
        }],
        "tool_choice": "required",
        "stream": stream,
    })
    .to_string()
}

fn anthropic_messages(model: &str, text: &str, stream: bool) -> String {
    json!({
        "model": model,
        "max_tokens": 256,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
        "stream": stream,
    })
    .to_string()
}

fn weather_tool_anthropic(model: &str, stream: bool) -> String {
    json!({
        "model": model,
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
        "tools": [{
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
                "required": ["city"],
            },
        }],
        "tool_choice": {"type": "any"},
        "stream": stream,
    })
    .to_string()
}

const ANTHROPIC_HEADERS: [(&str, &str); 3] = [
    ("content-type", "application/json"),
    ("x-api-key", "sk-client-key-never-forwarded"),
    ("anthropic-version", "2023-06-01"),
];

/// The `data:` payloads of an SSE body, parsed, `[DONE]` excluded.
fn openai_chunks(body: &[u8]) -> (Vec<Value>, bool) {
    let data = sse_data(body);
    let done = data.last().is_some_and(|last| last == "[DONE]");
    let chunks = data
        .iter()
        .filter(|data| *data != "[DONE]")
        .map(|data| serde_json::from_str(data).unwrap_or_else(|_| panic!("chunk {data}")))
        .collect();
    (chunks, done)
}

/// `(event name, data)` of an Anthropic SSE body.
fn anthropic_events(body: &[u8]) -> Vec<(String, Value)> {
    String::from_utf8_lossy(body)
        .split("\n\n")
        .filter(|event| !event.trim().is_empty())
        .map(|event| {
            let mut name = String::new();
            let mut data = String::new();
            for line in event.lines() {
                if let Some(value) = line.strip_prefix("event: ") {
                    name = value.to_string();
                } else if let Some(value) = line.strip_prefix("data: ") {
                    data.push_str(value);
                }
            }
            let data = serde_json::from_str(&data).unwrap_or_else(|_| panic!("event {event}"));
            (name, data)
        })
        .collect()
}

#[tokio::test]
async fn openai_clients_get_whole_answers_from_every_dialect() {
    let setup = setup(MockSettings::default()).await;
    for model in ALL_FOR_OPENAI {
        let answer = setup
            .chat(openai_chat(model, "alpha beta gamma", false))
            .await;
        assert_eq!(answer.status, 200, "{model}: {}", answer.text());
        let body = answer.json();
        assert_eq!(body["object"], "chat.completion", "{model}");
        assert_eq!(
            body["choices"][0]["message"]["content"], "alpha beta gamma",
            "{model}"
        );
        assert_eq!(
            body["choices"][0]["message"]["role"], "assistant",
            "{model}"
        );
        assert_eq!(body["choices"][0]["finish_reason"], "stop", "{model}");
        assert_eq!(body["usage"]["completion_tokens"], 3, "{model}: {body}");
        assert!(
            body["usage"]["prompt_tokens"].as_u64().unwrap_or(0) >= 3,
            "{model}: {body}"
        );
        let provider = model.split('/').next().unwrap_or_default();
        assert_eq!(answer.header("x-sluice-provider"), Some(provider));
    }
}

#[tokio::test]
async fn each_dialect_reaches_its_own_paths_with_its_own_credentials() {
    let setup = setup(MockSettings::default()).await;
    let expectations: [(&str, &str, &str, &str); 8] = [
        (
            ANTHROPIC,
            "/v1/messages",
            "x-api-key",
            "sk-ant-provider-key",
        ),
        (
            GEMINI,
            "/v1beta/models/gemini-2.5-flash:generateContent",
            "x-goog-api-key",
            "gemini-key",
        ),
        (
            VERTEX,
            "/v1/projects/sluice-test/locations/europe-west4/publishers/google/models/gemini-2.5-pro:generateContent",
            "authorization",
            "Bearer ya29.",
        ),
        (
            BEDROCK,
            "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse",
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/",
        ),
        (COHERE, "/v2/chat", "authorization", "Bearer cohere-key"),
        (
            AZURE,
            "/openai/deployments/prod-deployment/chat/completions?api-version=2024-10-21",
            "api-key",
            "azure-key",
        ),
        (
            GROQ,
            "/v1/chat/completions",
            "authorization",
            "Bearer gsk-key",
        ),
        (
            OPENAI,
            "/v1/chat/completions",
            "authorization",
            "Bearer sk-openai-key",
        ),
    ];
    for (model, path, header, value) in expectations {
        let answer = post_with(
            &setup.gateway.url("/v1/chat/completions"),
            &[
                ("content-type", "application/json"),
                ("authorization", "Bearer sk-client-key-never-forwarded"),
            ],
            openai_chat(model, "one two", false),
        )
        .await;
        assert_eq!(answer.status, 200, "{model}: {}", answer.text());
        let received = setup.mock.received();
        let last = received.last().expect("the mock got the request");
        assert_eq!(last.path, path, "{model}");
        let sent = last.header(header).unwrap_or_default();
        assert!(sent.starts_with(value), "{model}: {header}: {sent}");
        assert!(
            last.headers
                .iter()
                .all(|(_, value)| !value.contains("sk-client-key")),
            "{model}: the client's key went upstream"
        );
    }
    // Anthropic's version header is the default on a translated path.
    let anthropic = setup
        .mock
        .received()
        .into_iter()
        .find(|request| request.path == "/v1/messages")
        .expect("anthropic request");
    assert_eq!(anthropic.header("anthropic-version"), Some("2023-06-01"));
    // SigV4 is scoped to the configured region; the Vertex token was fetched once.
    let scopes = setup.mock.aws_credential_scopes();
    assert_eq!(
        scopes.last().map(|scope| scope.region.as_str()),
        Some("eu-west-1")
    );
    for _ in 0..3 {
        let answer = setup.chat(openai_chat(VERTEX, "again", false)).await;
        assert_eq!(answer.status, 200);
    }
    assert_eq!(setup.mock.stats().oauth_tokens_issued(), 1);
}

#[tokio::test]
async fn openai_clients_get_streams_translated_chunk_by_chunk() {
    let setup = setup(MockSettings::default()).await;
    for model in ALL_FOR_OPENAI {
        let answer = setup
            .chat(openai_chat(model, "one two three four", true))
            .await;
        assert_eq!(answer.status, 200, "{model}: {}", answer.text());
        assert!(
            answer
                .header("content-type")
                .is_some_and(|value| value.starts_with("text/event-stream")),
            "{model}"
        );
        let (chunks, done) = openai_chunks(&answer.body);
        assert!(done, "{model}: no [DONE]: {}", answer.text());
        let text: String = chunks
            .iter()
            .filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str())
            .collect();
        assert_eq!(text, "one two three four", "{model}");
        assert!(
            chunks
                .iter()
                .all(|chunk| chunk["object"] == "chat.completion.chunk"),
            "{model}"
        );
        let finish: Vec<&Value> = chunks
            .iter()
            .map(|chunk| &chunk["choices"][0]["finish_reason"])
            .filter(|reason| !reason.is_null())
            .collect();
        assert_eq!(finish, [&json!("stop")], "{model}");
        let usage = chunks
            .iter()
            .rev()
            .find(|chunk| chunk["usage"].is_object())
            .unwrap_or_else(|| panic!("{model}: no usage chunk"));
        assert_eq!(usage["usage"]["completion_tokens"], 4, "{model}: {usage}");
        assert_eq!(usage["choices"], json!([]), "{model}");
    }
}

#[tokio::test]
async fn openai_clients_get_tool_calls_from_every_dialect_whole_and_streamed() {
    let setup = setup(MockSettings::default()).await;
    for model in ALL_FOR_OPENAI {
        let whole = setup.chat(weather_tool_openai(model, false)).await;
        assert_eq!(whole.status, 200, "{model}: {}", whole.text());
        let body = whole.json();
        let call = &body["choices"][0]["message"]["tool_calls"][0];
        assert_eq!(call["type"], "function", "{model}");
        assert_eq!(call["function"]["name"], "get_weather", "{model}");
        assert!(
            call["id"].as_str().is_some_and(|id| !id.is_empty()),
            "{model}"
        );
        let arguments: Value = serde_json::from_str(
            call["function"]["arguments"]
                .as_str()
                .expect("arguments are a string"),
        )
        .expect("arguments are JSON");
        assert_eq!(arguments["city"], "mock", "{model}");
        assert_eq!(body["choices"][0]["finish_reason"], "tool_calls", "{model}");

        let streamed = setup.chat(weather_tool_openai(model, true)).await;
        assert_eq!(streamed.status, 200, "{model}");
        let (chunks, done) = openai_chunks(&streamed.body);
        assert!(done, "{model}");
        let mut name = String::new();
        let mut streamed_arguments = String::new();
        for chunk in &chunks {
            let call = &chunk["choices"][0]["delta"]["tool_calls"][0];
            if let Some(piece) = call["function"]["name"].as_str() {
                name.push_str(piece);
            }
            if let Some(piece) = call["function"]["arguments"].as_str() {
                streamed_arguments.push_str(piece);
            }
        }
        assert_eq!(name, "get_weather", "{model}");
        let streamed_arguments: Value =
            serde_json::from_str(&streamed_arguments).expect("streamed arguments reassemble");
        assert_eq!(streamed_arguments, arguments, "{model}");
    }
}

/// Models an Anthropic client reaches: its own dialect passes through, the rest translate.
const ALL_FOR_ANTHROPIC: [&str; 7] = [ANTHROPIC, OPENAI, GEMINI, VERTEX, BEDROCK, COHERE, AZURE];

#[tokio::test]
async fn anthropic_clients_get_messages_from_every_dialect() {
    let setup = setup(MockSettings::default()).await;
    for prefix in ["", "/anthropic"] {
        for model in ALL_FOR_ANTHROPIC {
            let answer = post_with(
                &setup.gateway.url(&format!("{prefix}/v1/messages")),
                &ANTHROPIC_HEADERS,
                anthropic_messages(model, "red green blue", false),
            )
            .await;
            assert_eq!(answer.status, 200, "{model}: {}", answer.text());
            let body = answer.json();
            assert_eq!(body["type"], "message", "{model}: {body}");
            assert_eq!(body["role"], "assistant", "{model}");
            assert_eq!(body["content"][0]["type"], "text", "{model}");
            assert_eq!(body["content"][0]["text"], "red green blue", "{model}");
            assert_eq!(body["stop_reason"], "end_turn", "{model}");
            assert_eq!(body["usage"]["output_tokens"], 3, "{model}: {body}");
            assert!(
                body["usage"]["input_tokens"].as_u64().unwrap_or(0) >= 3,
                "{model}"
            );
        }
    }
}

#[tokio::test]
async fn anthropic_clients_get_the_documented_event_sequence_from_every_dialect() {
    let setup = setup(MockSettings::default()).await;
    for model in ALL_FOR_ANTHROPIC {
        let answer = setup
            .messages(anthropic_messages(model, "one two three", true))
            .await;
        assert_eq!(answer.status, 200, "{model}: {}", answer.text());
        let events = anthropic_events(&answer.body);
        let names: Vec<&str> = events
            .iter()
            .map(|(name, _)| name.as_str())
            .filter(|name| *name != "ping")
            .collect();
        assert_eq!(names.first(), Some(&"message_start"), "{model}: {names:?}");
        assert_eq!(
            names.get(1),
            Some(&"content_block_start"),
            "{model}: {names:?}"
        );
        assert_eq!(
            &names[names.len() - 3..],
            ["content_block_stop", "message_delta", "message_stop"],
            "{model}: {names:?}"
        );
        for (name, data) in &events {
            assert_eq!(
                data["type"],
                name.as_str(),
                "{model}: data.type matches event"
            );
        }
        let text: String = events
            .iter()
            .filter(|(name, _)| name == "content_block_delta")
            .filter_map(|(_, data)| data["delta"]["text"].as_str())
            .collect();
        assert_eq!(text, "one two three", "{model}");
        let delta = &events
            .iter()
            .find(|(name, _)| name == "message_delta")
            .expect("message_delta")
            .1;
        assert_eq!(delta["delta"]["stop_reason"], "end_turn", "{model}");
        assert_eq!(delta["usage"]["output_tokens"], 3, "{model}: {delta}");
    }
}

#[tokio::test]
async fn anthropic_clients_get_tool_use_from_every_dialect_whole_and_streamed() {
    let setup = setup(MockSettings::default()).await;
    for model in ALL_FOR_ANTHROPIC {
        let whole = setup.messages(weather_tool_anthropic(model, false)).await;
        assert_eq!(whole.status, 200, "{model}: {}", whole.text());
        let body = whole.json();
        let tool_use = body["content"]
            .as_array()
            .and_then(|blocks| blocks.iter().find(|block| block["type"] == "tool_use"))
            .unwrap_or_else(|| panic!("{model}: no tool_use in {body}"));
        assert_eq!(tool_use["name"], "get_weather", "{model}");
        assert_eq!(tool_use["input"]["city"], "mock", "{model}");
        assert_eq!(body["stop_reason"], "tool_use", "{model}");

        let streamed = setup.messages(weather_tool_anthropic(model, true)).await;
        assert_eq!(streamed.status, 200, "{model}");
        let events = anthropic_events(&streamed.body);
        let start = events
            .iter()
            .find(|(name, data)| {
                name == "content_block_start" && data["content_block"]["type"] == "tool_use"
            })
            .unwrap_or_else(|| panic!("{model}: no tool_use block"));
        assert_eq!(start.1["content_block"]["name"], "get_weather", "{model}");
        let json: String = events
            .iter()
            .filter_map(|(_, data)| data["delta"]["partial_json"].as_str())
            .collect();
        let input: Value = serde_json::from_str(&json).expect("partial_json reassembles");
        assert_eq!(&input, &tool_use["input"], "{model}");
    }
}

#[tokio::test]
async fn anthropic_pass_through_keeps_the_clients_version_and_betas() {
    let setup = setup(MockSettings::default()).await;
    let answer = post_with(
        &setup.gateway.url("/anthropic/v1/messages"),
        &[
            ("content-type", "application/json"),
            ("authorization", "Bearer sk-client-key-never-forwarded"),
            ("anthropic-version", "2031-01-01"),
            ("anthropic-beta", "some-future-beta-2031"),
        ],
        anthropic_messages(ANTHROPIC, "hello", false),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let received = setup.mock.received();
    let last = received.last().expect("request");
    assert_eq!(last.header("anthropic-version"), Some("2031-01-01"));
    assert_eq!(last.header("anthropic-beta"), Some("some-future-beta-2031"));
    assert_eq!(last.header("x-api-key"), Some("sk-ant-provider-key"));
    let sent: Value = serde_json::from_slice(&last.body).expect("json");
    assert_eq!(sent["model"], "claude-sonnet-4-5");
}

async fn faulty(status: u16) -> Setup {
    setup(with_fault(MockFault::Status {
        rate: 1.0,
        status,
        retry_after: Some(7),
    }))
    .await
}

#[tokio::test]
async fn provider_errors_reach_openai_clients_in_their_envelope_with_the_equivalent_status() {
    // (Vertex is left out: the fault hits its token endpoint first, a 502.)
    let limited = faulty(429).await;
    for model in [ANTHROPIC, GEMINI, BEDROCK, COHERE] {
        let answer = limited.chat(openai_chat(model, "hi", false)).await;
        assert_eq!(answer.status, 429, "{model}: {}", answer.text());
        assert_eq!(answer.header("retry-after"), Some("7"), "{model}");
        let body = answer.json();
        assert_eq!(
            body["error"]["type"], "rate_limit_exceeded",
            "{model}: {body}"
        );
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let overloaded = faulty(529).await;
    let answer = overloaded.chat(openai_chat(ANTHROPIC, "hi", false)).await;
    assert_eq!(answer.status, 503, "{}", answer.text());
    assert_eq!(answer.json()["error"]["code"], "overloaded");
}

#[tokio::test]
async fn provider_errors_reach_anthropic_clients_in_their_envelope() {
    let failing = faulty(500).await;
    for model in [OPENAI, GEMINI, BEDROCK, COHERE] {
        let answer = failing
            .messages(anthropic_messages(model, "hi", false))
            .await;
        assert_eq!(answer.status, 500, "{model}: {}", answer.text());
        let body = answer.json();
        assert_eq!(body["type"], "error", "{model}: {body}");
        assert_eq!(body["error"]["type"], "api_error", "{model}: {body}");
    }
    let limited = faulty(429).await;
    let answer = limited
        .messages(anthropic_messages(GEMINI, "hi", false))
        .await;
    assert_eq!(answer.status, 429);
    assert_eq!(answer.json()["error"]["type"], "rate_limit_error");
    assert_eq!(answer.header("retry-after"), Some("7"));
    // The gateway's own errors speak Anthropic too.
    let unknown = limited
        .messages(anthropic_messages("nowhere/model", "hi", false))
        .await;
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"]["type"], "not_found_error");
}

#[tokio::test]
async fn a_stream_cut_on_a_translated_path_ends_with_an_error_in_the_clients_dialect() {
    let setup = setup(with_fault(MockFault::CutStream {
        rate: 1.0,
        after_tokens: 2,
    }))
    .await;
    let words = "w1 w2 w3 w4 w5 w6";
    let openai = setup.chat(openai_chat(ANTHROPIC, words, true)).await;
    let data = sse_data(&openai.body);
    assert!(
        data.last().is_some_and(|last| last.contains("\"error\"")),
        "{data:?}"
    );
    assert!(!data.iter().any(|event| event == "[DONE]"), "{data:?}");

    let anthropic = setup
        .messages(anthropic_messages(GEMINI, words, true))
        .await;
    let events = anthropic_events(&anthropic.body);
    let (name, data) = events.last().expect("events");
    assert_eq!(name, "error", "{events:?}");
    assert_eq!(data["type"], "error");
    assert!(!events.iter().any(|(name, _)| name == "message_stop"));
}

#[tokio::test]
async fn an_in_stream_overload_reaches_an_openai_client_as_an_error_event() {
    let setup = setup(with_fault(MockFault::StreamError {
        rate: 1.0,
        after_tokens: 2,
        status: 529,
    }))
    .await;
    let answer = setup.chat(openai_chat(ANTHROPIC, "a b c d e", true)).await;
    let (chunks, done) = openai_chunks(&answer.body);
    assert!(!done);
    let error = chunks.last().expect("chunks");
    assert_eq!(error["error"]["code"], "overloaded", "{error}");
    let text: String = chunks
        .iter()
        .filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "a b", "the tokens before the error arrive");
}

#[tokio::test]
async fn embeddings_from_every_provider_that_has_them_match_the_openai_vectors() {
    let setup = setup(MockSettings::default()).await;
    let request = |model: &str| {
        json!({"model": model, "input": ["first text", "second one here"], "dimensions": 8})
            .to_string()
    };
    let reference = post(
        &setup.gateway.url("/v1/embeddings"),
        request("openai/text-embedding-3-small"),
    )
    .await;
    assert_eq!(reference.status, 200, "{}", reference.text());
    let reference = reference.json();
    for model in [
        "gemini/gemini-embedding-001",
        "vertex/text-embedding-005",
        "cohere/embed-v4.0",
        "azure/text-embedding-3-small",
    ] {
        let answer = post(&setup.gateway.url("/v1/embeddings"), request(model)).await;
        assert_eq!(answer.status, 200, "{model}: {}", answer.text());
        let body = answer.json();
        assert_eq!(body["object"], "list", "{model}");
        assert_eq!(body["data"].as_array().map(Vec::len), Some(2), "{model}");
        assert_eq!(body["data"][1]["index"], 1, "{model}");
        let vector = body["data"][0]["embedding"].as_array().expect("floats");
        assert_eq!(vector.len(), 8, "{model}");
        assert_eq!(
            body["data"][0]["embedding"], reference["data"][0]["embedding"],
            "{model}: the mock embeds deterministically in every dialect"
        );
    }
    let bedrock_cohere = post(
        &setup.gateway.url("/v1/embeddings"),
        json!({"model": "bedrock/cohere.embed-english-v3", "input": ["a b", "c d"]}).to_string(),
    )
    .await;
    assert_eq!(bedrock_cohere.status, 200, "{}", bedrock_cohere.text());
    assert_eq!(
        bedrock_cohere.json()["data"].as_array().map(Vec::len),
        Some(2)
    );
    // Titan takes one text per call, and base64 is applied by the gateway.
    let titan = post(
        &setup.gateway.url("/v1/embeddings"),
        json!({"model": "bedrock/amazon.titan-embed-text-v2:0", "input": "one text",
               "dimensions": 256, "encoding_format": "base64"})
        .to_string(),
    )
    .await;
    assert_eq!(titan.status, 200, "{}", titan.text());
    assert!(titan.json()["data"][0]["embedding"].is_string());
    let refused = post(
        &setup.gateway.url("/v1/embeddings"),
        json!({"model": "anthropic/claude-sonnet-4-5", "input": "x"}).to_string(),
    )
    .await;
    assert_eq!(refused.status, 400, "{}", refused.text());
}

#[tokio::test]
async fn count_tokens_is_answered_where_the_provider_can_count() {
    let setup = setup(MockSettings::default()).await;
    for model in [ANTHROPIC, GEMINI, VERTEX] {
        let answer = post_with(
            &setup.gateway.url("/v1/messages/count_tokens"),
            &ANTHROPIC_HEADERS,
            json!({"model": model, "messages": [{"role": "user", "content": "a b c d"}]})
                .to_string(),
        )
        .await;
        assert_eq!(answer.status, 200, "{model}: {}", answer.text());
        assert!(
            answer.json()["input_tokens"]
                .as_u64()
                .is_some_and(|n| n >= 4),
            "{model}: {}",
            answer.text()
        );
    }
    let answer = post_with(
        &setup.gateway.url("/v1/messages/count_tokens"),
        &ANTHROPIC_HEADERS,
        json!({"model": OPENAI, "messages": [{"role": "user", "content": "a"}]}).to_string(),
    )
    .await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    let body = answer.json();
    assert_eq!(body["error"]["type"], "invalid_request_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("token")),
        "{body}"
    );
}

#[tokio::test]
async fn parameters_a_provider_cannot_honour_are_dropped_by_rule_or_refused() {
    let setup = setup(MockSettings::default()).await;
    let dropped = setup
        .chat(
            json!({"model": ANTHROPIC, "messages": [{"role": "user", "content": "x"}],
               "seed": 7, "logit_bias": {"50256": -100}})
            .to_string(),
        )
        .await;
    assert_eq!(dropped.status, 200, "{}", dropped.text());
    let header = dropped
        .header("x-sluice-dropped-params")
        .unwrap_or_default();
    assert!(
        header.contains("seed") && header.contains("logit_bias"),
        "{header}"
    );

    let refused = setup
        .chat(
            json!({"model": ANTHROPIC, "messages": [{"role": "user", "content": "x"}],
               "response_format": {"type": "json_object"}})
            .to_string(),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert_eq!(refused.json()["error"]["param"], "response_format");

    let several = setup
        .chat(
            json!({"model": GEMINI, "messages": [{"role": "user", "content": "x"}], "n": 2})
                .to_string(),
        )
        .await;
    assert_eq!(several.status, 400, "{}", several.text());
    assert_eq!(several.json()["error"]["param"], "n");

    // The same parameters pass through untouched to a provider of the client's dialect.
    let same_dialect = setup
        .chat(
            json!({"model": OPENAI, "messages": [{"role": "user", "content": "x"}],
               "seed": 7, "logit_bias": {"50256": -100}})
            .to_string(),
        )
        .await;
    assert_eq!(same_dialect.status, 200);
    assert_eq!(same_dialect.header("x-sluice-dropped-params"), None);
}

#[tokio::test]
async fn a_conversation_with_tool_results_translates_to_every_dialect() {
    let setup = setup(MockSettings::default()).await;
    for model in ALL_FOR_OPENAI {
        let answer = setup.chat(json!({
                "model": model,
                "messages": [
                    {"role": "user", "content": "What is the weather in Paris?"},
                    {"role": "assistant", "content": null, "tool_calls": [{
                        "id": "call_1", "type": "function",
                        "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}
                    }]},
                    {"role": "tool", "tool_call_id": "call_1", "content": "18 degrees and sunny"},
                    {"role": "user", "content": "thanks so much"},
                ],
                "tools": [{"type": "function", "function": {
                    "name": "get_weather",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}
                }}],
                "tool_choice": "none",
            })
            .to_string()).await;
        // Bedrock has no "none" tool choice once the conversation holds tool blocks:
        // the documented rule refuses it rather than let the model call a tool.
        if model == BEDROCK {
            assert_eq!(answer.status, 400, "{model}: {}", answer.text());
            continue;
        }
        assert_eq!(answer.status, 200, "{model}: {}", answer.text());
        let content = answer.json()["choices"][0]["message"]["content"].clone();
        assert!(
            content
                .as_str()
                .is_some_and(|text| text.ends_with("thanks so much")),
            "{model}: {content}"
        );
    }
}

#[tokio::test]
async fn the_model_list_answers_in_the_anthropic_shape_to_anthropic_clients() {
    let setup = setup(MockSettings::default()).await;
    let openai = get(&setup.gateway.url("/v1/models")).await.json();
    assert_eq!(openai["object"], "list");
    let response = send(
        http::Method::GET,
        &setup.gateway.url("/anthropic/v1/models"),
        &[("anthropic-version", "2023-06-01")],
        bytes::Bytes::new(),
    )
    .await
    .expect("answered");
    let anthropic = collect(response).await.json();
    assert_eq!(anthropic["has_more"], false);
    assert_eq!(anthropic["data"][0]["type"], "model");
    assert_eq!(anthropic["data"][0]["id"], "anthropic/claude-sonnet-4-5");
    assert_eq!(anthropic["first_id"], "anthropic/claude-sonnet-4-5");
    assert!(anthropic.get("object").is_none());
    assert_eq!(openai["data"][0]["id"], "anthropic/claude-sonnet-4-5");
}

/// A 1x1 PNG, inline.
const PIXEL: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

#[tokio::test]
async fn inline_images_reach_every_dialect_in_its_own_form() {
    let setup = setup(MockSettings::default()).await;
    let cases: [(&str, &str); 5] = [
        (ANTHROPIC, "/messages/0/content/0/source/data"),
        (GEMINI, "/contents/0/parts/0/inlineData/data"),
        (BEDROCK, "/messages/0/content/0/image/source/bytes"),
        (COHERE, "/messages/0/content/0/image_url/url"),
        (OPENAI, "/messages/0/content/0/image_url/url"),
    ];
    for (model, pointer) in cases {
        let answer = setup.chat(json!({"model": model, "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{PIXEL}")}},
                {"type": "text", "text": "what is this"},
            ]}]})
            .to_string()).await;
        assert_eq!(answer.status, 200, "{model}: {}", answer.text());
        let received = setup.mock.received();
        let sent: Value =
            serde_json::from_slice(&received.last().expect("request").body).expect("json");
        let image = sent
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{model}: no image at {pointer}: {sent}"));
        assert!(image.ends_with(PIXEL), "{model}: {image}");
    }
    // An image by URL cannot reach Bedrock (it takes bytes): refused, not dropped.
    let refused = setup
        .chat(
            json!({"model": BEDROCK, "messages": [{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ]}]})
            .to_string(),
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.text());
}

#[tokio::test]
async fn extended_thinking_crosses_dialects() {
    let setup = setup(MockSettings::default()).await;
    // An OpenAI client's reasoning effort becomes Anthropic's thinking budget, and the
    // thinking streams back as `reasoning_content`.
    let answer = setup.chat(json!({"model": ANTHROPIC, "reasoning_effort": "low", "max_tokens": 4000, "stream": true,
               "messages": [{"role": "user", "content": "think first"}]})
        .to_string()).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let received = setup.mock.received();
    let sent: Value =
        serde_json::from_slice(&received.last().expect("request").body).expect("json");
    assert_eq!(sent["thinking"]["type"], "enabled");
    assert_eq!(sent["thinking"]["budget_tokens"], 1024);
    let (chunks, done) = openai_chunks(&answer.body);
    assert!(done);
    let reasoning: String = chunks
        .iter()
        .filter_map(|chunk| chunk["choices"][0]["delta"]["reasoning_content"].as_str())
        .collect();
    assert!(!reasoning.is_empty(), "{}", answer.text());
    let text: String = chunks
        .iter()
        .filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "think first");

    // An Anthropic client's thinking and cache_control reach Bedrock as reasoning
    // configuration and a cache point.
    let answer = setup
        .messages(
            json!({"model": BEDROCK, "max_tokens": 4000,
               "thinking": {"type": "enabled", "budget_tokens": 2048},
               "system": [{"type": "text", "text": "long shared prefix",
                           "cache_control": {"type": "ephemeral"}}],
               "messages": [{"role": "user", "content": "hi"}]})
            .to_string(),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let received = setup.mock.received();
    let sent: Value =
        serde_json::from_slice(&received.last().expect("request").body).expect("json");
    assert_eq!(
        sent["additionalModelRequestFields"]["thinking"]["budget_tokens"],
        2048
    );
    assert_eq!(sent["system"][1]["cachePoint"]["type"], "default", "{sent}");
}

#[tokio::test]
async fn provider_garbage_on_a_translated_path_is_a_502_or_an_error_event() {
    let setup = setup(with_fault(MockFault::MalformedJson { rate: 1.0 })).await;
    for model in [ANTHROPIC, GEMINI, COHERE] {
        let whole = setup.chat(openai_chat(model, "a b c", false)).await;
        assert_eq!(whole.status, 502, "{model}: {}", whole.text());
        assert_eq!(
            whole.json()["error"]["code"],
            "upstream_invalid_response",
            "{model}"
        );
        let streamed = setup.chat(openai_chat(model, "a b c", true)).await;
        let data = sse_data(&streamed.body);
        assert!(
            data.last()
                .is_some_and(|last| last.contains("upstream_invalid_response")),
            "{model}: {data:?}"
        );
    }
    // An Anthropic client gets Anthropic's error event from a translated stream.
    let streamed = setup
        .messages(anthropic_messages(GEMINI, "a b c", true))
        .await;
    let events = anthropic_events_lenient(&streamed.body);
    assert_eq!(
        events.last().map(String::as_str),
        Some("error"),
        "{}",
        streamed.text()
    );
    // The gateway is still serving.
    let healthy = get(&setup.gateway.url("/health")).await;
    assert_eq!(healthy.status, 200);
}

/// The event names of an Anthropic SSE body.
fn anthropic_events_lenient(body: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(body)
        .lines()
        .filter_map(|line| line.strip_prefix("event: ").map(str::to_string))
        .collect()
}
