//! The AWS Bedrock dialect over real HTTP, its event stream read by a parser of its own.

mod common;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use sluice_mock::MockServer;

const MODEL: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const SIGNATURE: &str = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
const AMZ_DATE: &str = "20261126T120000Z";

fn url(server: &MockServer, model: &str, operation: &str) -> String {
    // The id goes percent-encoded, as the AWS SDKs send it.
    let model = model.replace(':', "%3A");
    format!("http://{}/model/{model}/{operation}", server.addr())
}

fn sigv4(region: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261126/{region}/bedrock/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date, Signature={SIGNATURE}"
    )
}

async fn post_signed(
    client: &HttpClient,
    url: &str,
    authorization: Option<&str>,
    body: &Value,
) -> http::Response<hyper::body::Incoming> {
    let mut request = http::Request::builder()
        .method("POST")
        .uri(url)
        .header("content-type", "application/json")
        .header("x-amz-date", AMZ_DATE);
    if let Some(authorization) = authorization {
        request = request.header("authorization", authorization);
    }
    client
        .request(
            request
                .body(Full::new(Bytes::from(body.to_string())))
                .unwrap(),
        )
        .await
        .expect("response")
}

async fn call_signed(client: &HttpClient, url: &str, body: &Value) -> Reply {
    read_reply(post_signed(client, url, Some(&sigv4("us-east-1")), body).await).await
}

/// Starts a ConverseStream of `MODEL`, signed for us-east-1.
async fn converse_stream(
    client: &HttpClient,
    server: &MockServer,
    body: &Value,
) -> http::Response<hyper::body::Incoming> {
    let url = url(server, MODEL, "converse-stream");
    post_signed(client, &url, Some(&sigv4("us-east-1")), body).await
}

fn ask(text: &str) -> Value {
    json!({"messages": [{"role": "user", "content": [{"text": text}]}]})
}

fn with_tools(mut request: Value) -> Value {
    request["toolConfig"] = json!({"tools": [{"toolSpec": {
        "name": "get_weather",
        "description": "Weather in a city",
        "inputSchema": {"json": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city"]
        }}
    }}]});
    request
}

// ---- an event-stream reader of the test's own ----

/// CRC-32 (IEEE, reflected), bit by bit: independent of the mock's crc32fast.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[derive(Debug)]
struct Message {
    headers: Vec<(String, String)>,
    payload: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.payload).expect("JSON payload")
    }
}

fn be32(bytes: &[u8]) -> u32 {
    u32::from_be_bytes(bytes.try_into().unwrap())
}

/// Splits a body into messages, checking both CRCs of each.
fn decode(mut body: &[u8]) -> Vec<Message> {
    let mut messages = Vec::new();
    while !body.is_empty() {
        let total = be32(&body[0..4]) as usize;
        let headers_len = be32(&body[4..8]) as usize;
        assert_eq!(be32(&body[8..12]), crc32(&body[..8]), "prelude CRC");
        assert_eq!(
            be32(&body[total - 4..total]),
            crc32(&body[..total - 4]),
            "message CRC"
        );
        let mut headers = Vec::new();
        let mut rest = &body[12..12 + headers_len];
        while !rest.is_empty() {
            let name_len = rest[0] as usize;
            let name = String::from_utf8(rest[1..1 + name_len].to_vec()).unwrap();
            assert_eq!(rest[1 + name_len], 7, "string header");
            let value_len = u16::from_be_bytes([rest[2 + name_len], rest[3 + name_len]]) as usize;
            let value =
                String::from_utf8(rest[4 + name_len..4 + name_len + value_len].to_vec()).unwrap();
            headers.push((name, value));
            rest = &rest[4 + name_len + value_len..];
        }
        messages.push(Message {
            headers,
            payload: body[12 + headers_len..total - 4].to_vec(),
        });
        body = &body[total..];
    }
    messages
}

fn event_types(messages: &[Message]) -> Vec<&str> {
    messages
        .iter()
        .map(|m| {
            m.header(":event-type")
                .or(m.header(":exception-type"))
                .unwrap()
        })
        .collect()
}

// ---- tests ----

#[tokio::test]
async fn converse_whole() {
    let server = start(settings(json!({}))).await;
    let reply = call_signed(
        &client(),
        &url(&server, MODEL, "converse"),
        &ask("Hello there friend"),
    )
    .await;
    assert_eq!(reply.status, 200);
    let body = reply.json();
    assert_eq!(
        body["output"]["message"],
        json!({"role": "assistant", "content": [{"text": "Hello there friend"}]})
    );
    assert_eq!(body["stopReason"], "end_turn");
    assert_eq!(
        body["usage"],
        json!({"inputTokens": 9, "outputTokens": 3, "totalTokens": 12})
    );
    assert!(body["metrics"]["latencyMs"].is_u64());
    assert!(reply.header("x-amzn-requestid").is_some());
    assert_eq!(server.stats().chat_completions(), 1);
    let received = server.received();
    assert_eq!(
        received[0].path,
        "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    );
    let scopes = server.aws_credential_scopes();
    assert_eq!(scopes.len(), 1);
    assert_eq!(scopes[0].region, "us-east-1");
    assert_eq!(scopes[0].service, "bedrock");
    assert_eq!(scopes[0].access_key_id, "AKIAIOSFODNN7EXAMPLE");
}

#[tokio::test]
async fn converse_stream_frames() {
    let server = start(settings(json!({"reply": "lorem", "reply_tokens": 5}))).await;
    let http = client();
    let whole = call_signed(&http, &url(&server, MODEL, "converse"), &ask("hi")).await;
    let whole = whole.json();
    let response = post_signed(
        &http,
        &url(&server, MODEL, "converse-stream"),
        Some(&sigv4("eu-west-1")),
        &ask("hi"),
    )
    .await;
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.amazon.eventstream"
    );
    let frames = read_frames(response).await;
    assert!(frames.error.is_none());
    let body: Vec<u8> = frames.bytes();
    let messages = decode(&body);
    assert_eq!(
        event_types(&messages),
        [
            "messageStart",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata"
        ]
    );
    for message in &messages {
        assert_eq!(message.header(":message-type"), Some("event"));
        assert_eq!(message.header(":content-type"), Some("application/json"));
        let padding = message.json()["p"].as_str().unwrap().to_owned();
        assert!(
            "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".starts_with(&padding)
        );
    }
    assert_eq!(messages[0].json()["role"], "assistant");
    let text: String = messages[1..6]
        .iter()
        .map(|m| {
            let event = m.json();
            assert_eq!(event["contentBlockIndex"], 0);
            event["delta"]["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        text,
        whole["output"]["message"]["content"][0]["text"]
            .as_str()
            .unwrap()
    );
    assert_eq!(messages[6].json()["contentBlockIndex"], 0);
    assert_eq!(messages[7].json()["stopReason"], "end_turn");
    assert_eq!(messages[8].json()["usage"], whole["usage"]);
    assert_eq!(server.stats().streams_completed(), 1);
    assert_eq!(server.aws_credential_scopes()[1].region, "eu-west-1");
}

#[tokio::test]
async fn tool_use_whole_and_streamed() {
    let server = start(settings(json!({}))).await;
    let http = client();
    let request = with_tools(ask("weather in Paris?"));
    let whole = call_signed(&http, &url(&server, MODEL, "converse"), &request).await;
    let whole = whole.json();
    assert_eq!(whole["stopReason"], "tool_use");
    let tool_use = &whole["output"]["message"]["content"][0]["toolUse"];
    assert_eq!(tool_use["name"], "get_weather");
    assert_eq!(tool_use["input"], json!({"city": "mock", "days": 1}));
    assert!(tool_use["toolUseId"].is_string());

    let response = converse_stream(&http, &server, &request).await;
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let messages = decode(&body);
    let types = event_types(&messages);
    assert_eq!(types[..2], ["messageStart", "contentBlockStart"]);
    assert_eq!(
        types[types.len() - 3..],
        ["contentBlockStop", "messageStop", "metadata"]
    );
    let start = messages[1].json();
    assert_eq!(start["start"]["toolUse"]["name"], "get_weather");
    let input: String = messages[2..messages.len() - 3]
        .iter()
        .map(|m| {
            m.json()["delta"]["toolUse"]["input"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&input).unwrap(),
        tool_use["input"]
    );
    assert_eq!(
        messages[messages.len() - 2].json()["stopReason"],
        "tool_use"
    );

    // The result goes back as a toolResult block; the echo still answers the question.
    let mut follow_up = request.clone();
    follow_up["messages"].as_array_mut().unwrap().extend([
        json!({"role": "assistant", "content": [{"toolUse": tool_use}]}),
        json!({"role": "user", "content": [{"toolResult": {
            "toolUseId": tool_use["toolUseId"], "content": [{"json": {"temp": 21}}]
        }}]}),
    ]);
    follow_up["toolConfig"]["toolChoice"] = json!({"auto": {}});
    let answer = call_signed(&http, &url(&server, MODEL, "converse"), &follow_up).await;
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn auth_errors() {
    let server = start(settings(json!({}))).await;
    let http = client();
    let target = url(&server, MODEL, "converse");
    for (authorization, kind) in [
        (None, "MissingAuthenticationTokenException"),
        (
            Some("Bearer bedrock-api-key"),
            "UnrecognizedClientException",
        ),
        (
            Some("AWS4-HMAC-SHA256 Credential=AKID/20261126/us-east-1/bedrock/aws4_request"),
            "IncompleteSignatureException",
        ),
    ] {
        let response = post_signed(&http, &target, authorization, &ask("hi")).await;
        assert_eq!(response.status(), 403);
        assert_eq!(response.headers()["x-amzn-errortype"], kind);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert!(body["message"].is_string(), "{body}");
    }
    assert!(server.aws_credential_scopes().is_empty());
}

#[tokio::test]
async fn validation_errors() {
    let server = start(settings(json!({}))).await;
    let http = client();
    let target = url(&server, MODEL, "converse");
    for bad in [
        json!({"messages": []}),
        json!({"messages": [{"role": "assistant", "content": [{"text": "x"}]}]}),
        json!({"messages": [{"role": "user", "content": [{"text": "x"}]}], "inferenceConfig": {"maxTokens": 0}}),
        json!({"messages": [{"role": "user", "content": [{"toolResult": {"toolUseId": "t", "content": []}}]}]}),
    ] {
        let reply = call_signed(&http, &target, &bad).await;
        assert_eq!(reply.status, 400, "{bad}");
        assert_eq!(
            reply.header("x-amzn-errortype"),
            Some("ValidationException")
        );
        assert!(reply.json()["message"].is_string());
    }
}

#[tokio::test]
async fn status_fault_in_bedrock_format() {
    let server =
        start_with_fault(json!({"kind": "status", "rate": 1.0, "status": 429, "retry_after": 3}))
            .await;
    let reply = call_signed(&client(), &url(&server, MODEL, "converse"), &ask("hi")).await;
    assert_eq!(reply.status, 429);
    assert_eq!(
        reply.header("x-amzn-errortype"),
        Some("ThrottlingException")
    );
    assert_eq!(reply.header("retry-after"), Some("3"));
    assert_eq!(
        reply.json(),
        json!({"message": "Too many requests, please wait before trying again."})
    );
    assert_eq!(server.stats().faults_injected(), 1);
}

#[tokio::test]
async fn cut_stream_aborts_the_body() {
    let server =
        start_with_fault(json!({"kind": "cut_stream", "rate": 1.0, "after_tokens": 2})).await;
    let response = converse_stream(&client(), &server, &ask("one two three four")).await;
    let frames = read_frames(response).await;
    assert!(frames.error.is_some(), "the body ends in an error");
    let body: Vec<u8> = frames.bytes();
    assert_eq!(
        event_types(&decode(&body)),
        ["messageStart", "contentBlockDelta", "contentBlockDelta"]
    );
}

#[tokio::test]
async fn stream_error_is_an_exception_message() {
    for (status, exception) in [
        (429, "throttlingException"),
        (529, "modelStreamErrorException"),
    ] {
        let server = start_with_fault(
            json!({"kind": "stream_error", "rate": 1.0, "after_tokens": 1, "status": status}),
        )
        .await;
        let response = converse_stream(&client(), &server, &ask("one two three")).await;
        let frames = read_frames(response).await;
        assert!(frames.error.is_none(), "the body ends cleanly");
        let body: Vec<u8> = frames.bytes();
        let messages = decode(&body);
        assert_eq!(
            event_types(&messages),
            ["messageStart", "contentBlockDelta", exception]
        );
        let last = messages.last().unwrap();
        assert_eq!(last.header(":message-type"), Some("exception"));
        assert!(last.json()["message"].is_string());
        assert_eq!(server.stats().streams_completed(), 0);
    }
}

#[tokio::test]
async fn invoke_embeddings() {
    let server = start(settings(json!({}))).await;
    let http = client();
    let titan = call_signed(
        &http,
        &url(&server, "amazon.titan-embed-text-v2:0", "invoke"),
        &json!({"inputText": "hello brave world", "dimensions": 256, "normalize": true}),
    )
    .await;
    assert_eq!(titan.status, 200);
    let titan = titan.json();
    assert_eq!(titan["embedding"].as_array().unwrap().len(), 256);
    assert_eq!(titan["inputTextTokenCount"], 3);

    let refused = call_signed(
        &http,
        &url(&server, "amazon.titan-embed-text-v2:0", "invoke"),
        &json!({"inputText": "x", "dimensions": 300}),
    )
    .await;
    assert_eq!(refused.status, 400);
    assert_eq!(
        refused.header("x-amzn-errortype"),
        Some("ValidationException")
    );

    let cohere = call_signed(
        &http,
        &url(&server, "cohere.embed-english-v3", "invoke"),
        &json!({"texts": ["hello", "world"], "input_type": "search_document"}),
    )
    .await;
    let cohere = cohere.json();
    assert_eq!(cohere["response_type"], "embeddings_floats");
    assert_eq!(cohere["embeddings"].as_array().unwrap().len(), 2);
    assert_eq!(cohere["embeddings"][0].as_array().unwrap().len(), 1024);
    assert_eq!(cohere["texts"], json!(["hello", "world"]));
    assert!(cohere["id"].is_string());
    assert_eq!(server.stats().embeddings(), 3);
}

#[tokio::test]
async fn malformed_fault_is_a_well_framed_bad_payload() {
    let server = start_with_fault(json!({"kind": "malformed_json", "rate": 1.0})).await;
    let response = converse_stream(&client(), &server, &ask("one two three four")).await;
    let body = response.into_body().collect().await.unwrap().to_bytes();
    // The frames (and their CRCs) stay sound; one payload is not JSON.
    let messages = decode(&body);
    let bad: Vec<&Message> = messages
        .iter()
        .filter(|m| serde_json::from_slice::<Value>(&m.payload).is_err())
        .collect();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].header(":event-type"), Some("contentBlockDelta"));
    assert_eq!(event_types(&messages).last(), Some(&"metadata"));
}
