//! The Bedrock dialect: fixtures from the AWS documentation (Converse, ConverseStream,
//! errors, InvokeModel embeddings), the SigV4 test-suite vectors, event-stream frames
//! checked byte by byte, and round trips canonical → Bedrock → canonical.

#[path = "common/helpers.rs"]
mod helpers;
#[path = "common/strategies.rs"]
mod strategies;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use helpers::{
    assert_invalid_upstream, body_json, decode_in_sizes, encode_all, unsupported_param, user_text,
};
use http::StatusCode;
use proptest::prelude::*;
use serde_json::{Value, json};
use sluice_core::ErrorKind;
use sluice_core::chat::{
    BlockKind, CacheControl, ChatRequest, ChatResponse, EmbeddingsRequest, FinishReason, Image,
    Message, Part, Reasoning, Role, StreamEvent, TextBlock, Tool, ToolCall, ToolChoice, ToolResult,
    ToolResultContent, Usage,
};
use sluice_providers::bedrock::{
    self, AwsCredentials, BedrockStreamDecoder, BedrockStreamEncoder, eventstream,
};
use sluice_providers::{StreamDecoder, TranslateError};
use strategies::{RequestShape, ResponseShape, StreamShape};

// ---------------------------------------------------------------------------------------
// SigV4
// ---------------------------------------------------------------------------------------

/// The credentials and time of AWS's Signature Version 4 test suite.
fn suite_credentials(session_token: Option<&str>) -> AwsCredentials {
    AwsCredentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        session_token.map(str::to_string),
    )
}

fn suite_time() -> SystemTime {
    // 2015-08-30T12:36:00Z
    UNIX_EPOCH + Duration::from_secs(1_440_938_160)
}

fn sign_suite(
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    session_token: Option<&str>,
    service: &str,
) -> http::request::Parts {
    let mut builder = http::Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let (mut parts, ()) = builder.body(()).unwrap().into_parts();
    bedrock::sign(
        &mut parts,
        body,
        &suite_credentials(session_token),
        "us-east-1",
        service,
        suite_time(),
    )
    .unwrap();
    parts
}

fn authorization(parts: &http::request::Parts) -> &str {
    parts.headers["authorization"].to_str().unwrap()
}

const SUITE_SCOPE: &str =
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";

/// Signs a request of the suite's `service` with no body and no session token.
fn sign_vanilla(method: &str, uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
    sign_suite(method, uri, headers, b"", None, "service")
}

/// Asserts `parts` are signed in the suite's scope with these headers and signature.
fn assert_suite_signature(parts: &http::request::Parts, signed_headers: &str, signature: &str) {
    assert_eq!(
        authorization(parts),
        format!("{SUITE_SCOPE}, SignedHeaders={signed_headers}, Signature={signature}")
    );
}

#[test]
fn sigv4_get_vanilla() {
    let parts = sign_vanilla("GET", "https://example.amazonaws.com/", &[]);
    assert_suite_signature(
        &parts,
        "host;x-amz-date",
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    );
    assert_eq!(parts.headers["x-amz-date"], "20150830T123600Z");
    assert!(parts.headers.get("x-amz-security-token").is_none());
    assert!(parts.headers.get("x-amz-content-sha256").is_none());
}

#[test]
fn sigv4_post_vanilla() {
    let parts = sign_vanilla("POST", "https://example.amazonaws.com/", &[]);
    assert_suite_signature(
        &parts,
        "host;x-amz-date",
        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    );
}

#[test]
fn sigv4_get_vanilla_query_order_key_case() {
    let parts = sign_vanilla(
        "GET",
        "https://example.amazonaws.com/?Param2=value2&Param1=value1",
        &[],
    );
    assert_suite_signature(
        &parts,
        "host;x-amz-date",
        "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
    );
}

#[test]
fn sigv4_post_header_key_sort() {
    let parts = sign_vanilla(
        "POST",
        "https://example.amazonaws.com/",
        &[("My-Header1", "value1")],
    );
    assert_suite_signature(
        &parts,
        "host;my-header1;x-amz-date",
        "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c",
    );
}

#[test]
fn sigv4_get_header_value_trim() {
    let parts = sign_vanilla(
        "GET",
        "https://example.amazonaws.com/",
        &[("My-Header1", " value1"), ("My-Header2", "\"a   b   c\"")],
    );
    assert_suite_signature(
        &parts,
        "host;my-header1;my-header2;x-amz-date",
        "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
    );
}

#[test]
fn sigv4_post_sts_header_before() {
    const TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";
    let parts = sign_suite(
        "POST",
        "https://example.amazonaws.com/",
        &[],
        b"",
        Some(TOKEN),
        "service",
    );
    assert_eq!(parts.headers["x-amz-security-token"], TOKEN);
    assert_suite_signature(
        &parts,
        "host;x-amz-date;x-amz-security-token",
        "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
    );
}

#[test]
fn model_ids_are_encoded_in_the_path_and_again_in_the_canonical_uri() {
    let model = "anthropic.claude-3-5-sonnet-20240620-v1:0";
    let path = bedrock::model_path(model, "converse");
    assert_eq!(
        path,
        "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"
    );
    assert_eq!(
        bedrock::model_path(
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x",
            "invoke"
        ),
        "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Ainference-profile%2Fus.x/invoke"
    );

    let body = br#"{"messages":[]}"#;
    let uri = format!("https://bedrock-runtime.us-east-1.amazonaws.com{path}");
    let parts = sign_suite(
        "POST",
        &uri,
        &[("content-type", "application/json")],
        body,
        None,
        bedrock::SIGNING_SERVICE,
    );
    let payload_hash = "5e4ce7b36ba37b78a5d5f9fd08e6b7b54ba6879d651aa46ec9e1d6fa24ebe30a";
    let (canonical, signed_headers) =
        bedrock::canonical_request(&parts, bedrock::SIGNING_SERVICE, payload_hash).unwrap();
    assert_eq!(
        canonical.lines().nth(1),
        Some("/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse")
    );
    assert_eq!(
        signed_headers, "content-type;host;x-amz-date",
        "the authorization header itself is never signed"
    );
    // The signature an independent implementation (Python hmac/hashlib, following the
    // published algorithm) computes for this request.
    assert_eq!(
        authorization(&parts),
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=40f11609b51d318bc71127993eb5b075cc12b3bde24aa11d2a25186d1fc1d196"
    );
}

#[test]
fn s3_gets_a_content_hash_and_single_encoding() {
    let parts = sign_suite(
        "GET",
        "https://examplebucket.s3.amazonaws.com/a%3Ab",
        &[],
        b"",
        None,
        "s3",
    );
    assert_eq!(
        parts.headers["x-amz-content-sha256"],
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let (canonical, _) = bedrock::canonical_request(&parts, "s3", "UNSIGNED").unwrap();
    assert_eq!(canonical.lines().nth(1), Some("/a%3Ab"));
}

#[test]
fn whole_requests_sign_like_their_parts_and_drop_stale_tokens() {
    let mut request = http::Request::builder()
        .method("GET")
        .uri("https://example.amazonaws.com/")
        .header("x-amz-security-token", "stale")
        .body(Vec::<u8>::new())
        .unwrap();
    bedrock::sign_request(
        &mut request,
        b"",
        &suite_credentials(None),
        "us-east-1",
        "service",
        suite_time(),
    )
    .unwrap();
    assert!(request.headers().get("x-amz-security-token").is_none());
    let parts = sign_vanilla("GET", "https://example.amazonaws.com/", &[]);
    assert_eq!(
        request.headers()["authorization"],
        parts.headers["authorization"]
    );
}

#[test]
fn secrets_stay_out_of_debug_output() {
    let credentials = suite_credentials(Some("token-value"));
    let shown = format!("{credentials:?}");
    assert!(shown.contains("AKIDEXAMPLE"));
    assert!(!shown.contains("wJalrXUtnFEMI"));
    assert!(!shown.contains("token-value"));
}

// ---------------------------------------------------------------------------------------
// Event-stream framing
// ---------------------------------------------------------------------------------------

/// A `messageStart` frame built and checksummed by an independent implementation
/// (Python `struct` + `zlib.crc32`): prelude CRC 0x96d5fade, message CRC 0x6fa8c599.
const MESSAGE_START_FRAME: &str = "000000760000005296d5fade0b3a6576656e742d7479706507000c6d65737361676553746172740d3a636f6e74656e742d747970650700106170706c69636174696f6e2f6a736f6e0d3a6d6573736167652d747970650700056576656e747b22726f6c65223a22617373697374616e74227d6fa8c599";

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&hex[at..at + 2], 16).unwrap())
        .collect()
}

#[test]
fn frames_match_a_hand_built_frame() {
    let expected = hex_bytes(MESSAGE_START_FRAME);
    let encoded = eventstream::encode_message(
        &[
            (":event-type", "messageStart"),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        br#"{"role":"assistant"}"#,
    );
    assert_eq!(encoded, expected);
    let messages = eventstream::MessageDecoder::new().feed(&expected).unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].header_str(":event-type"), Some("messageStart"));
    assert_eq!(messages[0].payload, br#"{"role":"assistant"}"#);
}

#[test]
fn a_bad_checksum_is_an_upstream_error() {
    let mut frame = hex_bytes(MESSAGE_START_FRAME);
    let last = frame.len() - 6;
    frame[last] ^= 0x01; // a payload byte: the message CRC no longer matches
    let mut out = Vec::new();
    let error = BedrockStreamDecoder::new()
        .feed(&frame, &mut out)
        .unwrap_err();
    assert!(
        matches!(error, TranslateError::InvalidUpstream(_)),
        "{error:?}"
    );

    let mut frame = hex_bytes(MESSAGE_START_FRAME);
    frame[3] ^= 0x01; // the length: the prelude CRC no longer matches
    let error = BedrockStreamDecoder::new()
        .feed(&frame, &mut out)
        .unwrap_err();
    assert!(
        matches!(error, TranslateError::InvalidUpstream(_)),
        "{error:?}"
    );
}

// ---------------------------------------------------------------------------------------
// Converse requests
// ---------------------------------------------------------------------------------------

/// The tool-use example of the Bedrock user guide ("What is the most popular song on
/// WZPZ?", tool `top_song`), continued to the turn that returns the tool's result.
const TOOL_USE_REQUEST: &str = r#"{
  "messages": [
    {"role": "user", "content": [{"text": "What is the most popular song on WZPZ?"}]},
    {"role": "assistant", "content": [
      {"toolUse": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "top_song", "input": {"sign": "WZPZ"}}}
    ]},
    {"role": "user", "content": [
      {"toolResult": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                      "content": [{"json": {"song": "Elemental Hotel", "artist": "8 Storey Hike"}}]}}
    ]}
  ],
  "system": [{"text": "You are a radio assistant."}, {"cachePoint": {"type": "default"}}],
  "inferenceConfig": {"maxTokens": 512, "temperature": 0.5, "topP": 0.9, "stopSequences": ["END"]},
  "toolConfig": {
    "tools": [{"toolSpec": {
      "name": "top_song",
      "description": "Get the most popular song played on a radio station.",
      "inputSchema": {"json": {"type": "object",
        "properties": {"sign": {"type": "string", "description": "The call sign for the radio station for which you want the most popular song. Example calls signs are WZPZ and WKRP."}},
        "required": ["sign"]}}
    }}],
    "toolChoice": {"auto": {}}
  },
  "additionalModelRequestFields": {"top_k": 200, "thinking": {"type": "enabled", "budget_tokens": 2048}, "anthropic_beta": ["x"]},
  "guardrailConfig": {"guardrailIdentifier": "gr-1", "guardrailVersion": "1"}
}"#;

#[test]
fn decodes_the_documented_tool_use_request() {
    let request = bedrock::decode_request(TOOL_USE_REQUEST.as_bytes()).unwrap();
    assert_eq!(request.system.len(), 1);
    assert_eq!(request.system[0].text, "You are a radio assistant.");
    assert!(request.system[0].cache_control.is_some());
    assert_eq!(request.max_tokens, Some(512));
    assert_eq!(request.temperature, Some(0.5));
    assert_eq!(request.top_p, Some(0.9));
    assert_eq!(request.top_k, Some(200));
    assert_eq!(request.stop, vec!["END".to_string()]);
    assert_eq!(
        request.reasoning,
        Some(Reasoning {
            effort: None,
            budget_tokens: Some(2048)
        })
    );
    assert_eq!(request.tool_choice, Some(ToolChoice::Auto));
    assert_eq!(request.tools[0].name, "top_song");
    assert_eq!(
        request.messages[1].content,
        vec![Part::ToolCall(ToolCall {
            id: "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q".into(),
            name: "top_song".into(),
            arguments: r#"{"sign":"WZPZ"}"#.into(),
        })]
    );
    let Part::ToolResult(result) = &request.messages[2].content[0] else {
        panic!("expected a tool result");
    };
    assert_eq!(result.call_id, "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q");
    assert!(!result.is_error);
    let ToolResultContent::Text(json_text) = &result.content[0] else {
        panic!("expected text");
    };
    assert_eq!(
        serde_json::from_str::<Value>(json_text).unwrap(),
        json!({"song": "Elemental Hotel", "artist": "8 Storey Hike"})
    );
    assert_eq!(
        request.extra.get("guardrailConfig"),
        Some(&json!({"guardrailIdentifier": "gr-1", "guardrailVersion": "1"}))
    );
    assert_eq!(
        request.extra.get("additionalModelRequestFields"),
        Some(&json!({"anthropic_beta": ["x"]}))
    );
}

#[test]
fn encodes_a_request_in_the_documented_shape() {
    let request = ChatRequest {
        model: "ignored".into(),
        system: vec![TextBlock {
            text: "Be brief.".into(),
            cache_control: Some(CacheControl(json!({"type": "ephemeral", "ttl": "1h"}))),
        }],
        messages: vec![
            Message {
                role: Role::User,
                content: vec![
                    Part::Text(TextBlock::new("What is in this image?")),
                    Part::Image(Image::Base64 {
                        media_type: "image/jpeg".into(),
                        data: "/9j/AA==".into(),
                    }),
                ],
            },
            Message {
                role: Role::Assistant,
                content: vec![
                    Part::Thinking {
                        text: "Let me look.".into(),
                        signature: Some("sig".into()),
                    },
                    Part::ToolCall(ToolCall {
                        id: "t1".into(),
                        name: "zoom".into(),
                        arguments: r#"{"factor":2}"#.into(),
                    }),
                ],
            },
            Message {
                role: Role::User,
                content: vec![Part::ToolResult(ToolResult {
                    call_id: "t1".into(),
                    name: Some("zoom".into()),
                    content: vec![ToolResultContent::Text("failed".into())],
                    is_error: true,
                })],
            },
        ],
        max_tokens: Some(100),
        temperature: Some(0.2),
        top_k: Some(5),
        stop: vec!["\n\n".into()],
        tools: vec![Tool {
            name: "zoom".into(),
            description: Some("Zooms.".into()),
            parameters: json!({"type": "object"}),
            cache_control: Some(CacheControl(json!({"type": "ephemeral"}))),
        }],
        tool_choice: Some(ToolChoice::Tool("zoom".into())),
        reasoning: Some(Reasoning {
            effort: Some("medium".into()),
            budget_tokens: None,
        }),
        seed: Some(7),
        user: Some("u".into()),
        parallel_tool_calls: Some(false),
        extra: [("logprobs".to_string(), json!(true))]
            .into_iter()
            .collect(),
        ..ChatRequest::default()
    };
    let encoded =
        bedrock::encode_request(&request, "anthropic.claude-3-7-sonnet-20250219-v1:0").unwrap();
    let body = body_json(&encoded.body);
    assert_eq!(
        body,
        json!({
            "messages": [
                {"role": "user", "content": [
                    {"text": "What is in this image?"},
                    {"image": {"format": "jpeg", "source": {"bytes": "/9j/AA=="}}}
                ]},
                {"role": "assistant", "content": [
                    {"reasoningContent": {"reasoningText": {"text": "Let me look.", "signature": "sig"}}},
                    {"toolUse": {"toolUseId": "t1", "name": "zoom", "input": {"factor": 2}}}
                ]},
                {"role": "user", "content": [
                    {"toolResult": {"toolUseId": "t1", "content": [{"text": "failed"}], "status": "error"}}
                ]}
            ],
            "system": [{"text": "Be brief."}, {"cachePoint": {"type": "default", "ttl": "1h"}}],
            "inferenceConfig": {"maxTokens": 100, "temperature": 0.2, "stopSequences": ["\n\n"]},
            "toolConfig": {
                "tools": [
                    {"toolSpec": {"name": "zoom", "description": "Zooms.", "inputSchema": {"json": {"type": "object"}}}},
                    {"cachePoint": {"type": "default"}}
                ],
                "toolChoice": {"tool": {"name": "zoom"}}
            },
            "additionalModelRequestFields": {"top_k": 5, "thinking": {"type": "enabled", "budget_tokens": 4096}}
        })
    );
    assert_eq!(
        encoded.dropped,
        vec!["seed", "user", "parallel_tool_calls", "logprobs"]
    );
}

#[test]
fn refuses_what_bedrock_cannot_honour() {
    let url_image = ChatRequest {
        messages: vec![Message {
            role: Role::User,
            content: vec![Part::Image(Image::Url("https://example.com/a.png".into()))],
        }],
        ..ChatRequest::default()
    };
    assert_eq!(
        unsupported_param(bedrock::encode_request(&url_image, "m")),
        "image_url"
    );

    let tiff = ChatRequest {
        messages: vec![Message {
            role: Role::User,
            content: vec![Part::Image(Image::Base64 {
                media_type: "image/tiff".into(),
                data: "AA==".into(),
            })],
        }],
        ..ChatRequest::default()
    };
    assert_eq!(
        unsupported_param(bedrock::encode_request(&tiff, "m")),
        "image_url"
    );

    let json_mode = ChatRequest {
        messages: vec![user_text("hi")],
        response_format: Some(sluice_core::chat::ResponseFormat::JsonObject),
        ..ChatRequest::default()
    };
    assert_eq!(
        unsupported_param(bedrock::encode_request(&json_mode, "m")),
        "response_format"
    );

    let tool = Tool {
        name: "f".into(),
        description: None,
        parameters: json!({"type": "object"}),
        cache_control: None,
    };
    let with_calls = ChatRequest {
        messages: vec![
            user_text("hi"),
            Message {
                role: Role::Assistant,
                content: vec![Part::ToolCall(ToolCall {
                    id: "c".into(),
                    name: "f".into(),
                    arguments: "{}".into(),
                })],
            },
        ],
        tools: vec![tool.clone()],
        tool_choice: Some(ToolChoice::None),
        ..ChatRequest::default()
    };
    assert_eq!(
        unsupported_param(bedrock::encode_request(&with_calls, "m")),
        "tool_choice"
    );

    // `none` with no tool blocks yet: the tools are left out, so nothing can be called.
    let fresh = ChatRequest {
        messages: vec![user_text("hi")],
        tools: vec![tool],
        tool_choice: Some(ToolChoice::None),
        ..ChatRequest::default()
    };
    let body = body_json(&bedrock::encode_request(&fresh, "m").unwrap().body);
    assert!(body.get("toolConfig").is_none());
}

#[test]
fn same_role_turns_are_merged_and_empty_text_is_left_out() {
    let request = ChatRequest {
        messages: vec![
            user_text("first"),
            Message {
                role: Role::User,
                content: vec![
                    Part::Text(TextBlock::new("")),
                    Part::Text(TextBlock::new("second")),
                ],
            },
        ],
        ..ChatRequest::default()
    };
    let body = body_json(
        &bedrock::encode_request(&request, "anthropic.claude-3-haiku-v1:0")
            .unwrap()
            .body,
    );
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": [{"text": "first"}, {"text": "second"}]}])
    );
}

// ---------------------------------------------------------------------------------------
// Converse responses
// ---------------------------------------------------------------------------------------

/// The documented answer to the tool-use example, with prompt-cache counts.
const TOOL_USE_RESPONSE: &str = r#"{
  "output": {"message": {"role": "assistant", "content": [
    {"text": "I'll look that up."},
    {"toolUse": {"toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "name": "top_song", "input": {"sign": "WZPZ"}}}
  ]}},
  "stopReason": "tool_use",
  "usage": {"inputTokens": 375, "outputTokens": 66, "totalTokens": 1441, "cacheReadInputTokens": 800, "cacheWriteInputTokens": 200},
  "metrics": {"latencyMs": 2164}
}"#;

#[test]
fn decodes_the_documented_response() {
    let response = bedrock::decode_response(TOOL_USE_RESPONSE.as_bytes()).unwrap();
    assert!(!response.id.is_empty());
    assert_eq!(response.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(
        response.content,
        vec![
            Part::Text(TextBlock::new("I'll look that up.")),
            Part::ToolCall(ToolCall {
                id: "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q".into(),
                name: "top_song".into(),
                arguments: r#"{"sign":"WZPZ"}"#.into(),
            }),
        ]
    );
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 1375,
            output_tokens: 66,
            cached_input_tokens: 800,
            cache_write_tokens: 200,
            reasoning_tokens: 0,
        }
    );
    assert_invalid_upstream(bedrock::decode_response(b"{\"output\":{}}"));
}

#[test]
fn encodes_a_response_with_bedrock_usage() {
    let response = ChatResponse {
        id: "x".into(),
        content: vec![Part::Text(TextBlock::new("Hi"))],
        finish_reason: Some(FinishReason::MaxTokens),
        usage: Usage {
            input_tokens: 1375,
            output_tokens: 66,
            cached_input_tokens: 800,
            cache_write_tokens: 200,
            reasoning_tokens: 0,
        },
        ..ChatResponse::default()
    };
    let body = body_json(&bedrock::encode_response(&response));
    assert_eq!(body["stopReason"], "max_tokens");
    assert_eq!(
        body["usage"],
        json!({"inputTokens": 375, "outputTokens": 66, "totalTokens": 1441,
               "cacheReadInputTokens": 800, "cacheWriteInputTokens": 200})
    );
    assert_eq!(
        body["output"]["message"]["content"],
        json!([{"text": "Hi"}])
    );
}

// ---------------------------------------------------------------------------------------
// ConverseStream
// ---------------------------------------------------------------------------------------

fn event(event_type: &str, payload: Value) -> Vec<u8> {
    eventstream::encode_message(
        &[
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload.to_string().as_bytes(),
    )
}

/// The event sequence the ConverseStream reference documents for an answer with text
/// then a tool call: text blocks have no contentBlockStart.
fn documented_stream() -> Vec<u8> {
    [
        event("messageStart", json!({"role": "assistant"})),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": "Let me check"}}),
        ),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": " the charts."}}),
        ),
        event("contentBlockStop", json!({"contentBlockIndex": 0})),
        event(
            "contentBlockStart",
            json!({"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "top_song"}}}),
        ),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "{\"sign\": "}}}),
        ),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"toolUse": {"input": "\"WZPZ\"}"}}}),
        ),
        event("contentBlockStop", json!({"contentBlockIndex": 1})),
        event("messageStop", json!({"stopReason": "tool_use"})),
        event(
            "metadata",
            json!({"usage": {"inputTokens": 10, "outputTokens": 20, "totalTokens": 30}, "metrics": {"latencyMs": 250}}),
        ),
    ]
    .concat()
}

fn expected_documented_events() -> Vec<StreamEvent> {
    vec![
        StreamEvent::BlockStart {
            index: 0,
            block: BlockKind::Text,
        },
        StreamEvent::TextDelta {
            index: 0,
            text: "Let me check".into(),
        },
        StreamEvent::TextDelta {
            index: 0,
            text: " the charts.".into(),
        },
        StreamEvent::BlockStop { index: 0 },
        StreamEvent::BlockStart {
            index: 1,
            block: BlockKind::ToolCall {
                id: "tooluse_1".into(),
                name: "top_song".into(),
            },
        },
        StreamEvent::ToolArgumentsDelta {
            index: 1,
            json: "{\"sign\": ".into(),
        },
        StreamEvent::ToolArgumentsDelta {
            index: 1,
            json: "\"WZPZ\"}".into(),
        },
        StreamEvent::BlockStop { index: 1 },
        StreamEvent::Finish {
            reason: FinishReason::ToolCalls,
            stop_sequence: None,
        },
        StreamEvent::Usage(Usage {
            input_tokens: 10,
            output_tokens: 20,
            ..Usage::default()
        }),
        StreamEvent::End,
    ]
}

fn without_start(events: Vec<StreamEvent>, model: &str) -> Vec<StreamEvent> {
    let mut events = events.into_iter();
    match events.next() {
        Some(StreamEvent::Start { id, model: named }) => {
            assert!(id.starts_with("bedrock-"));
            assert_eq!(named, model);
        }
        other => panic!("the stream must open with Start, got {other:?}"),
    }
    events.collect()
}

#[test]
fn decodes_the_documented_stream_whole_and_byte_by_byte() {
    let bytes = documented_stream();
    let whole = decode_in_sizes(
        BedrockStreamDecoder::with_model("m"),
        &bytes,
        std::iter::empty(),
    )
    .unwrap();
    assert_eq!(without_start(whole, "m"), expected_documented_events());
    let bytewise =
        decode_in_sizes(BedrockStreamDecoder::new(), &bytes, std::iter::repeat(1)).unwrap();
    assert_eq!(without_start(bytewise, ""), expected_documented_events());
}

#[test]
fn reasoning_stream_blocks_are_opened_by_their_first_delta() {
    let bytes = [
        event("messageStart", json!({"role": "assistant"})),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Hmm."}}}),
        ),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "c2ln"}}}),
        ),
        event("contentBlockStop", json!({"contentBlockIndex": 0})),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 1, "delta": {"reasoningContent": {"redactedContent": "ZW5j"}}}),
        ),
        event("contentBlockStop", json!({"contentBlockIndex": 1})),
        event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 2, "delta": {"text": "Yes."}}),
        ),
        event("contentBlockStop", json!({"contentBlockIndex": 2})),
        event("messageStop", json!({"stopReason": "end_turn"})),
    ]
    .concat();
    // No metadata: the answer is whole, so finish() accepts it.
    let events = decode_in_sizes(BedrockStreamDecoder::new(), &bytes, std::iter::empty()).unwrap();
    assert_eq!(
        without_start(events, ""),
        vec![
            StreamEvent::BlockStart {
                index: 0,
                block: BlockKind::Thinking
            },
            StreamEvent::ThinkingDelta {
                index: 0,
                text: "Hmm.".into()
            },
            StreamEvent::SignatureDelta {
                index: 0,
                signature: "c2ln".into()
            },
            StreamEvent::BlockStop { index: 0 },
            StreamEvent::BlockStart {
                index: 1,
                block: BlockKind::RedactedThinking {
                    data: "ZW5j".into()
                }
            },
            StreamEvent::BlockStop { index: 1 },
            StreamEvent::BlockStart {
                index: 2,
                block: BlockKind::Text
            },
            StreamEvent::TextDelta {
                index: 2,
                text: "Yes.".into()
            },
            StreamEvent::BlockStop { index: 2 },
            StreamEvent::Finish {
                reason: FinishReason::EndTurn,
                stop_sequence: None
            },
            StreamEvent::End,
        ]
    );
}

#[test]
fn a_cut_stream_is_an_error() {
    let bytes = documented_stream();
    // Cut after the tool block stops: no messageStop.
    let cut_at = bytes.len()
        - event("messageStop", json!({"stopReason": "tool_use"})).len()
        - event(
            "metadata",
            json!({"usage": {"inputTokens": 10, "outputTokens": 20, "totalTokens": 30}, "metrics": {"latencyMs": 250}}),
        )
        .len();
    let mut decoder = BedrockStreamDecoder::new();
    let mut out = Vec::new();
    decoder.feed(&bytes[..cut_at], &mut out).unwrap();
    assert_invalid_upstream(decoder.finish(&mut out));
    // Cut in the middle of a frame.
    let mut decoder = BedrockStreamDecoder::new();
    decoder.feed(&bytes[..bytes.len() - 3], &mut out).unwrap();
    assert_invalid_upstream(decoder.finish(&mut out));
}

#[test]
fn stream_exceptions_become_error_events() {
    let exception = eventstream::encode_message(
        &[
            (":exception-type", "throttlingException"),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        br#"{"message":"Too many requests, please wait before trying again."}"#,
    );
    let bytes = [
        event("messageStart", json!({"role": "assistant"})),
        exception,
    ]
    .concat();
    let events = decode_in_sizes(BedrockStreamDecoder::new(), &bytes, std::iter::empty()).unwrap();
    let events = without_start(events, "");
    let [StreamEvent::Error(error)] = events.as_slice() else {
        panic!("expected one error, got {events:?}");
    };
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert_eq!(
        error.message,
        "Too many requests, please wait before trying again."
    );
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

#[test]
fn decodes_documented_errors() {
    let cases: &[(u16, &str, &str, ErrorKind, u16)] = &[
        (
            400,
            "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/",
            r#"{"message":"Input is too long for requested model."}"#,
            ErrorKind::ContextTooLong,
            400,
        ),
        (
            400,
            "ValidationException",
            r#"{"message":"Malformed input request: temperature must be <= 1"}"#,
            ErrorKind::InvalidRequest,
            400,
        ),
        (
            403,
            "AccessDeniedException",
            r#"{"Message":"You don't have access to the model with the specified model ID."}"#,
            ErrorKind::PermissionDenied,
            403,
        ),
        (
            403,
            "UnrecognizedClientException",
            r#"{"message":"The security token included in the request is invalid."}"#,
            ErrorKind::Authentication,
            401,
        ),
        (
            403,
            "ExpiredTokenException",
            r#"{"message":"The security token included in the request is expired"}"#,
            ErrorKind::Authentication,
            401,
        ),
        (
            404,
            "ResourceNotFoundException",
            r#"{"message":"Model not found."}"#,
            ErrorKind::ModelNotFound,
            404,
        ),
        (
            429,
            "ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/",
            r#"{"message":"Too many requests, please wait before trying again."}"#,
            ErrorKind::RateLimited,
            429,
        ),
        (
            429,
            "ModelNotReadyException",
            r#"{"message":"Model is not ready."}"#,
            ErrorKind::RateLimited,
            429,
        ),
        (
            408,
            "ModelTimeoutException",
            r#"{"message":"Model has timed out in processing the request."}"#,
            ErrorKind::ProviderError,
            408,
        ),
        (
            503,
            "ServiceUnavailableException",
            r#"{"message":"Bedrock is unable to process your request."}"#,
            ErrorKind::Overloaded,
            503,
        ),
        (
            500,
            "InternalServerException",
            r#"{"message":"Internal server error"}"#,
            ErrorKind::ProviderError,
            500,
        ),
    ];
    for (status, error_type, body, kind, client_status) in cases {
        let status = StatusCode::from_u16(*status).unwrap();
        let error = bedrock::decode_error(status, Some(error_type), body.as_bytes());
        assert_eq!(error.kind, *kind, "{error_type}");
        assert_eq!(error.status().as_u16(), *client_status, "{error_type}");
        let message: Value = serde_json::from_str(body).unwrap();
        let message = message
            .get("message")
            .or_else(|| message.get("Message"))
            .unwrap();
        assert_eq!(error.message, message.as_str().unwrap());
    }
    // Without the header the status decides.
    let error = bedrock::decode_error(StatusCode::BAD_GATEWAY, None, b"upstream broke");
    assert_eq!(error.kind, ErrorKind::ProviderError);
    assert_eq!(error.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(error.message, "upstream broke");

    let mut headers = http::HeaderMap::new();
    headers.insert("x-amzn-errortype", "ThrottlingException".parse().unwrap());
    let error = bedrock::decode_error_response(
        StatusCode::TOO_MANY_REQUESTS,
        &headers,
        br#"{"message":"slow down"}"#,
    );
    assert_eq!(error.kind, ErrorKind::RateLimited);
}

// ---------------------------------------------------------------------------------------
// Embeddings
// ---------------------------------------------------------------------------------------

#[test]
fn titan_embeddings_take_one_text() {
    let request = EmbeddingsRequest {
        input: vec!["What are the different services that you offer?".into()],
        dimensions: Some(512),
        ..EmbeddingsRequest::default()
    };
    let body = body_json(
        &bedrock::encode_embeddings_request(&request, "amazon.titan-embed-text-v2:0").unwrap(),
    );
    assert_eq!(
        body,
        json!({"inputText": "What are the different services that you offer?", "dimensions": 512})
    );
    let two = EmbeddingsRequest {
        input: vec!["a".into(), "b".into()],
        ..EmbeddingsRequest::default()
    };
    assert_eq!(
        unsupported_param(bedrock::encode_embeddings_request(
            &two,
            "amazon.titan-embed-text-v2:0"
        )),
        "input"
    );
    assert_eq!(
        unsupported_param(bedrock::encode_embeddings_request(
            &request,
            "amazon.titan-embed-text-v1"
        )),
        "dimensions"
    );
    assert_eq!(
        unsupported_param(bedrock::encode_embeddings_request(
            &request,
            "meta.llama3-8b-instruct-v1:0"
        )),
        "model"
    );

    let response = bedrock::decode_embeddings_response(
        "amazon.titan-embed-text-v2:0",
        br#"{"embedding":[0.1,-0.25,0.5],"inputTextTokenCount":9}"#,
    )
    .unwrap();
    assert_eq!(response.vectors, vec![vec![0.1f32, -0.25, 0.5]]);
    assert_eq!(response.input_tokens, 9);
    assert_eq!(response.model, "amazon.titan-embed-text-v2:0");
}

#[test]
fn cohere_embeddings_take_a_batch() {
    let request = EmbeddingsRequest {
        input: vec!["hello".into(), "world".into()],
        input_type: Some("search_query".into()),
        ..EmbeddingsRequest::default()
    };
    let body = body_json(
        &bedrock::encode_embeddings_request(&request, "us.cohere.embed-english-v3").unwrap(),
    );
    assert_eq!(
        body,
        json!({"texts": ["hello", "world"], "input_type": "search_query", "embedding_types": ["float"]})
    );
    let by_type = bedrock::decode_embeddings_response(
        "cohere.embed-english-v3",
        br#"{"embeddings":{"float":[[0.5,1.0],[0.25,0.0]]},"id":"e1","response_type":"embeddings_by_type","texts":["hello","world"]}"#,
    )
    .unwrap();
    assert_eq!(by_type.vectors, vec![vec![0.5f32, 1.0], vec![0.25, 0.0]]);
    let floats = bedrock::decode_embeddings_response(
        "cohere.embed-multilingual-v3",
        br#"{"embeddings":[[0.5,1.0]],"id":"e2","response_type":"embeddings_floats","texts":["hello"]}"#,
    )
    .unwrap();
    assert_eq!(floats.vectors, vec![vec![0.5f32, 1.0]]);
}

// ---------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------

/// What a request keeps through Bedrock, by the rules above: Bedrock has no model field
/// (path), no stream flag (action) and no tool-result names, and thinks by budget (an
/// effort becomes its budget). Dropped parameters are switched off in the shape.
fn normalise_request(mut request: ChatRequest) -> ChatRequest {
    request.model = String::new();
    request.stream = false;
    for message in &mut request.messages {
        for part in &mut message.content {
            if let Part::ToolResult(result) = part {
                result.name = None;
            }
        }
    }
    if let Some(reasoning) = request.reasoning.take() {
        request.reasoning = Some(Reasoning {
            effort: None,
            budget_tokens: reasoning.budget(),
        });
    }
    if request.tool_choice == Some(ToolChoice::None) {
        request.tools.clear();
        request.tool_choice = None;
    }
    request
}

fn normalise_usage(usage: Usage) -> Usage {
    // Bedrock does not report reasoning tokens.
    Usage {
        reasoning_tokens: 0,
        ..usage
    }
}

/// Bedrock's stop reasons are a closed set: foreign ones become their nearest.
fn normalise_finish(reason: FinishReason) -> FinishReason {
    match reason {
        FinishReason::Other(name) if name == "refusal" => FinishReason::ContentFilter,
        FinishReason::Other(_) => FinishReason::EndTurn,
        other => other,
    }
}

fn request_shape() -> RequestShape {
    RequestShape {
        // Bedrock takes bytes, not URLs (refused, tested above).
        base64_images_only: true,
        // Dropped or refused by rule (tested above).
        seed: false,
        penalties: false,
        user: false,
        parallel_tool_calls: false,
        response_format: false,
        ..RequestShape::full()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn requests_round_trip(request in strategies::chat_request_with(request_shape())) {
        let encoded = match bedrock::encode_request(&request, "anthropic.claude-sonnet-4-5-v1:0") {
            // `none` cannot be expressed once the conversation holds tool blocks.
            Err(TranslateError::Unsupported { param, .. }) if param == "tool_choice" => {
                prop_assert_eq!(&request.tool_choice, &Some(ToolChoice::None));
                return Ok(());
            }
            other => other.unwrap(),
        };
        prop_assert!(encoded.dropped.is_empty(), "{:?}", encoded.dropped);
        let decoded = bedrock::decode_request(&encoded.body).unwrap();
        prop_assert_eq!(decoded, normalise_request(request));
    }

    #[test]
    fn responses_round_trip(response in strategies::chat_response_with(ResponseShape::full())) {
        let decoded = bedrock::decode_response(&bedrock::encode_response(&response)).unwrap();
        let expected = ChatResponse {
            // Bedrock answers carry no id, model or time.
            id: decoded.id.clone(),
            model: String::new(),
            created: None,
            usage: normalise_usage(response.usage),
            finish_reason: response.finish_reason.clone().map(normalise_finish),
            ..response
        };
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn streams_round_trip(
        events in strategies::stream_events_with(StreamShape::full()),
        cuts in proptest::collection::vec(1usize..64, 0..40),
    ) {
        let bytes = encode_all(&mut BedrockStreamEncoder::new(), &events);
        let decoded = decode_in_sizes(BedrockStreamDecoder::new(), &bytes, cuts.into_iter(),
        )
        .unwrap();
        prop_assert_eq!(normalise_stream(decoded), normalise_stream(events));
    }
}

/// What a stream keeps through ConverseStream: the id and model are not on the wire (the
/// decoder makes an id up), usage arrives once, merged, in the final `metadata` event
/// (none when an error cut the stream), and stop reasons are Bedrock's.
fn normalise_stream(events: Vec<StreamEvent>) -> Vec<StreamEvent> {
    let mut merged = Usage::default();
    let mut normalised = Vec::new();
    for event in events {
        match event {
            StreamEvent::Start { .. } => normalised.push(StreamEvent::Start {
                id: String::new(),
                model: String::new(),
            }),
            StreamEvent::Usage(usage) => merged.merge(&usage),
            StreamEvent::Finish {
                reason,
                stop_sequence,
            } => normalised.push(StreamEvent::Finish {
                reason: normalise_finish(reason),
                stop_sequence,
            }),
            StreamEvent::End => {
                normalised.push(StreamEvent::Usage(normalise_usage(merged)));
                normalised.push(StreamEvent::End);
            }
            other => normalised.push(other),
        }
    }
    normalised
}

#[test]
fn claude_only_fields_are_dropped_for_other_model_families() {
    let request = ChatRequest {
        messages: vec![Message {
            role: Role::User,
            content: vec![Part::Text(TextBlock::new("hi"))],
        }],
        top_k: Some(5),
        reasoning: Some(Reasoning {
            effort: Some("high".to_string()),
            budget_tokens: None,
        }),
        ..ChatRequest::default()
    };
    let nova = bedrock::encode_request(&request, "amazon.nova-pro-v1:0").unwrap();
    let body = body_json(&nova.body);
    assert!(body.get("additionalModelRequestFields").is_none(), "{body}");
    assert_eq!(nova.dropped, ["top_k", "reasoning"]);
    let claude =
        bedrock::encode_request(&request, "us.anthropic.claude-sonnet-4-5-20250929-v1:0").unwrap();
    let body = body_json(&claude.body);
    assert_eq!(body["additionalModelRequestFields"]["top_k"], 5);
    assert_eq!(
        body["additionalModelRequestFields"]["thinking"]["budget_tokens"],
        16384
    );
}
