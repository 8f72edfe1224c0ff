//! The Anthropic Messages dialect: fixtures built from the documented examples of
//! https://docs.anthropic.com/en/api/messages, the streaming and error pages, and
//! round-trip properties (canonical → Anthropic → canonical keeps the meaning).

#[path = "common/helpers.rs"]
mod helpers;
#[path = "common/strategies.rs"]
mod strategies;

use helpers::{
    assert_invalid_upstream, body_json, decode_at_cuts, decode_in_sizes, encode_all,
    invalid_request_param, unsupported_param, user_text,
};
use http::StatusCode;
use proptest::prelude::*;
use serde_json::{Value, json};
use sluice_core::chat::{
    BlockKind, CacheControl, ChatRequest, ChatResponse, FinishReason, Image, Message, Part,
    Reasoning, ResponseFormat, Role, StreamEvent, TextBlock, Tool, ToolCall, ToolChoice,
    ToolResult, ToolResultContent, Usage,
};
use sluice_core::{ApiError, ErrorKind};
use sluice_providers::TranslateError;
use sluice_providers::anthropic::{
    AnthropicStreamDecoder, AnthropicStreamEncoder, decode_count_tokens_response, decode_error,
    decode_request, decode_response, encode_count_tokens_response, encode_request, encode_response,
};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Decodes a whole stream fed in pieces of `piece` bytes.
fn decode_stream_in_pieces(
    stream: &[u8],
    piece: usize,
) -> Result<Vec<StreamEvent>, TranslateError> {
    decode_in_sizes(
        AnthropicStreamDecoder::new(),
        stream,
        std::iter::repeat(piece),
    )
}

/// Decodes a whole stream cut at the given byte offsets.
fn decode_stream_at(stream: &[u8], cuts: &[usize]) -> Result<Vec<StreamEvent>, TranslateError> {
    decode_at_cuts(AnthropicStreamDecoder::new(), stream, cuts)
}

fn encode_stream(events: &[StreamEvent]) -> Vec<u8> {
    encode_all(&mut AnthropicStreamEncoder::new(), events).to_vec()
}

/// The `(event name, data)` pairs of an encoded stream.
fn sse_events(stream: &[u8]) -> Vec<(String, Value)> {
    let text = std::str::from_utf8(stream).unwrap();
    text.split("\n\n")
        .filter(|event| !event.is_empty())
        .map(|event| {
            let mut lines = event.lines();
            let name = lines.next().unwrap().strip_prefix("event: ").unwrap();
            let data = lines.next().unwrap().strip_prefix("data: ").unwrap();
            (name.to_string(), serde_json::from_str(data).unwrap())
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Requests: decoding
// ---------------------------------------------------------------------------------------

#[test]
fn decodes_the_documented_basic_request() {
    let body = br#"{
        "model": "claude-sonnet-4-20250514",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Hello, world"}]
    }"#;
    let request = decode_request(body).unwrap();
    assert_eq!(request.model, "claude-sonnet-4-20250514");
    assert_eq!(request.max_tokens, Some(1024));
    assert_eq!(
        request.messages,
        vec![Message {
            role: Role::User,
            content: vec![Part::Text(TextBlock::new("Hello, world"))],
        }]
    );
    assert!(!request.stream);
    assert!(request.extra.is_empty());
}

#[test]
fn decodes_a_request_with_every_mapped_field() {
    let body = json!({
        "model": "claude-opus-4-1-20250805",
        "max_tokens": 2048,
        "system": [
            {"type": "text", "text": "You are an AI assistant tasked with analyzing literary works."},
            {"type": "text", "text": "<the entire contents of Pride and Prejudice>", "cache_control": {"type": "ephemeral"}}
        ],
        "tools": [{
            "name": "get_weather",
            "description": "Get the current weather in a given location",
            "input_schema": {
                "type": "object",
                "properties": {"location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"}},
                "required": ["location"]
            },
            "cache_control": {"type": "ephemeral"}
        }],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "What's the weather like in San Francisco?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQSkZJRg=="}},
                {"type": "image", "source": {"type": "url", "url": "https://upload.wikimedia.org/a.jpg"}}
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Let me check the weather.", "signature": "EqQBCgIYAhIM"},
                {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
                {"type": "text", "text": "I'll check."},
                {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather", "input": {"location": "San Francisco, CA"}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": "15 degrees"},
                {"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "is_error": true, "content": [
                    {"type": "text", "text": "ConnectionError: the weather service API is not available (HTTP 500)"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
                ]}
            ]}
        ],
        "stop_sequences": ["\n\nHuman:"],
        "temperature": 0.5,
        "top_p": 0.9,
        "top_k": 40,
        "thinking": {"type": "enabled", "budget_tokens": 10000},
        "metadata": {"user_id": "13803d75-b4b5-4c3e-b2a2-6f21399b021b"},
        "stream": true,
        "service_tier": "auto"
    });
    let request = decode_request(body.to_string().as_bytes()).unwrap();

    assert_eq!(request.system.len(), 2);
    assert_eq!(
        request.system[1].cache_control,
        Some(CacheControl(json!({"type": "ephemeral"})))
    );
    assert_eq!(request.tools.len(), 1);
    assert_eq!(request.tools[0].name, "get_weather");
    assert_eq!(request.tools[0].parameters["required"], json!(["location"]));
    assert!(request.tools[0].cache_control.is_some());
    assert_eq!(request.tool_choice, Some(ToolChoice::Auto));
    assert_eq!(request.parallel_tool_calls, Some(false));
    assert_eq!(request.stop, vec!["\n\nHuman:".to_string()]);
    assert_eq!(request.temperature, Some(0.5));
    assert_eq!(request.top_p, Some(0.9));
    assert_eq!(request.top_k, Some(40));
    assert_eq!(
        request.reasoning,
        Some(Reasoning {
            effort: None,
            budget_tokens: Some(10000)
        })
    );
    assert_eq!(
        request.user.as_deref(),
        Some("13803d75-b4b5-4c3e-b2a2-6f21399b021b")
    );
    assert!(request.stream);
    assert_eq!(request.extra.get("service_tier"), Some(&json!("auto")));

    let user = &request.messages[0].content;
    assert_eq!(
        user[1],
        Part::Image(Image::Base64 {
            media_type: "image/jpeg".into(),
            data: "/9j/4AAQSkZJRg==".into()
        })
    );
    assert_eq!(
        user[2],
        Part::Image(Image::Url("https://upload.wikimedia.org/a.jpg".into()))
    );
    let assistant = &request.messages[1].content;
    assert_eq!(
        assistant[0],
        Part::Thinking {
            text: "Let me check the weather.".into(),
            signature: Some("EqQBCgIYAhIM".into())
        }
    );
    assert_eq!(
        assistant[1],
        Part::RedactedThinking {
            data: "EmwKAhgBEgy3va3pzix".into()
        }
    );
    let Part::ToolCall(call) = &assistant[3] else {
        panic!("expected a tool call, got {:?}", assistant[3]);
    };
    assert_eq!(call.id, "toolu_01A09q90qw90lq917835lq9");
    assert_eq!(
        serde_json::from_str::<Value>(&call.arguments).unwrap(),
        json!({"location": "San Francisco, CA"})
    );
    let results = &request.messages[2].content;
    assert_eq!(
        results[0],
        Part::ToolResult(ToolResult {
            call_id: "toolu_01A09q90qw90lq917835lq9".into(),
            // Looked up from the call, for dialects that match results by name.
            name: Some("get_weather".into()),
            content: vec![ToolResultContent::Text("15 degrees".into())],
            is_error: false,
        })
    );
    let Part::ToolResult(failed) = &results[1] else {
        panic!("expected a tool result");
    };
    assert!(failed.is_error);
    assert_eq!(failed.content.len(), 2);
}

#[test]
fn missing_max_tokens_is_an_invalid_request_naming_it() {
    let body = br#"{"model": "claude-sonnet-4-20250514", "messages": [{"role": "user", "content": "Hi"}]}"#;
    assert_eq!(
        invalid_request_param(decode_request(body)).as_deref(),
        Some("max_tokens")
    );
}

#[test]
fn malformed_requests_are_invalid() {
    for body in [
        &br#"not json"#[..],
        br#"{"model": "m", "max_tokens": 1}"#,
        br#"{"model": "m", "max_tokens": "many", "messages": []}"#,
        br#"{"model": "m", "max_tokens": 1, "messages": [{"role": "system", "content": "x"}]}"#,
        br#"{"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64"}}]}]}"#,
    ] {
        assert!(
            matches!(decode_request(body), Err(TranslateError::InvalidRequest { .. })),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn blocks_and_tools_without_a_canonical_form_are_refused() {
    let document = json!({
        "model": "m", "max_tokens": 10,
        "messages": [{"role": "user", "content": [
            {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}},
            {"type": "text", "text": "Summarise"}
        ]}]
    });
    assert_eq!(
        unsupported_param(decode_request(document.to_string().as_bytes())),
        "document"
    );

    let search_result = json!({
        "model": "m", "max_tokens": 10,
        "messages": [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t", "content": [
                {"type": "search_result", "source": "https://example.com", "title": "t", "content": []}
            ]}
        ]}]
    });
    assert_eq!(
        unsupported_param(decode_request(search_result.to_string().as_bytes())),
        "search_result"
    );

    let web_search = json!({
        "model": "m", "max_tokens": 10,
        "messages": [{"role": "user", "content": "What is new?"}],
        "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]
    });
    assert_eq!(
        unsupported_param(decode_request(web_search.to_string().as_bytes())),
        "web_search_20250305"
    );

    // `custom` is the documented type of ordinary tools.
    let custom = json!({
        "model": "m", "max_tokens": 10,
        "messages": [{"role": "user", "content": "Hi"}],
        "tools": [{"type": "custom", "name": "f", "input_schema": {"type": "object"}}]
    });
    assert_eq!(
        decode_request(custom.to_string().as_bytes())
            .unwrap()
            .tools
            .len(),
        1
    );
}

#[test]
fn tool_choice_variants_decode() {
    for (choice, expected, parallel) in [
        (json!({"type": "auto"}), ToolChoice::Auto, None),
        (json!({"type": "any"}), ToolChoice::Required, None),
        (json!({"type": "none"}), ToolChoice::None, None),
        (
            json!({"type": "tool", "name": "get_weather", "disable_parallel_tool_use": false}),
            ToolChoice::Tool("get_weather".into()),
            Some(true),
        ),
    ] {
        let body = json!({
            "model": "m", "max_tokens": 10,
            "messages": [{"role": "user", "content": "Hi"}],
            "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
            "tool_choice": choice,
        });
        let request = decode_request(body.to_string().as_bytes()).unwrap();
        assert_eq!(request.tool_choice, Some(expected));
        assert_eq!(request.parallel_tool_calls, parallel);
    }
}

#[test]
fn disabled_thinking_is_no_reasoning() {
    let body = br#"{"model": "m", "max_tokens": 10, "thinking": {"type": "disabled"}, "messages": [{"role": "user", "content": "Hi"}]}"#;
    assert_eq!(decode_request(body).unwrap().reasoning, None);
}

// ---------------------------------------------------------------------------------------
// Requests: encoding
// ---------------------------------------------------------------------------------------

fn weather_tool() -> Tool {
    Tool {
        name: "get_weather".into(),
        description: Some("Get the current weather in a given location".into()),
        parameters: json!({
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"]
        }),
        cache_control: None,
    }
}

#[test]
fn encodes_the_documented_tool_use_conversation() {
    let request = ChatRequest {
        model: "gpt-4o".into(),
        system: vec![TextBlock::new("Be brief.")],
        messages: vec![
            user_text("What's the weather like in San Francisco?"),
            Message {
                role: Role::Assistant,
                content: vec![
                    // OpenAI assistant turns with tool calls often carry an empty text.
                    Part::Text(TextBlock::new("")),
                    Part::ToolCall(ToolCall {
                        id: "toolu_01A09q90qw90lq917835lq9".into(),
                        name: "get_weather".into(),
                        arguments: r#"{"location": "San Francisco, CA"}"#.into(),
                    }),
                ],
            },
            Message {
                role: Role::User,
                content: vec![Part::ToolResult(ToolResult {
                    call_id: "toolu_01A09q90qw90lq917835lq9".into(),
                    name: Some("get_weather".into()),
                    content: vec![ToolResultContent::Text("15 degrees".into())],
                    is_error: false,
                })],
            },
        ],
        tools: vec![weather_tool()],
        stream: true,
        user: Some("user-1".into()),
        ..ChatRequest::default()
    };
    let encoded = encode_request(&request, "claude-opus-4-1-20250805").unwrap();
    assert!(encoded.dropped.is_empty());
    assert_eq!(
        body_json(&encoded.body),
        json!({
            "model": "claude-opus-4-1-20250805",
            "max_tokens": 4096,
            "system": "Be brief.",
            "messages": [
                {"role": "user", "content": "What's the weather like in San Francisco?"},
                {"role": "assistant", "content": [
                    {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
                     "input": {"location": "San Francisco, CA"}}
                ]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": "15 degrees"}
                ]}
            ],
            "tools": [{
                "name": "get_weather",
                "description": "Get the current weather in a given location",
                "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}, "required": ["location"]}
            }],
            "metadata": {"user_id": "user-1"},
            "stream": true
        })
    );
}

#[test]
fn encodes_sampling_thinking_images_and_cache_control() {
    let request = ChatRequest {
        model: "m".into(),
        system: vec![TextBlock {
            text: "Long context".into(),
            cache_control: Some(CacheControl(json!({"type": "ephemeral", "ttl": "1h"}))),
        }],
        messages: vec![Message {
            role: Role::User,
            content: vec![
                Part::Text(TextBlock::new("Describe")),
                Part::Image(Image::Url("https://example.com/cat.png".into())),
                Part::Image(Image::Base64 {
                    media_type: "image/png".into(),
                    data: "iVBORw0KGgo=".into(),
                }),
            ],
        }],
        max_tokens: Some(20000),
        temperature: Some(0.7),
        top_p: Some(0.95),
        top_k: Some(5),
        stop: vec!["END".into()],
        reasoning: Some(Reasoning {
            effort: Some("medium".into()),
            budget_tokens: None,
        }),
        ..ChatRequest::default()
    };
    let body = body_json(&encode_request(&request, "claude-sonnet-4-5").unwrap().body);
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": "Long context", "cache_control": {"type": "ephemeral", "ttl": "1h"}}])
    );
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            {"type": "text", "text": "Describe"},
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
        ])
    );
    assert_eq!(body["max_tokens"], 20000);
    assert_eq!(body["temperature"], 0.7);
    assert_eq!(body["top_p"], 0.95);
    assert_eq!(body["top_k"], 5);
    assert_eq!(body["stop_sequences"], json!(["END"]));
    assert_eq!(
        body["thinking"],
        json!({"type": "enabled", "budget_tokens": 4096})
    );
}

#[test]
fn default_max_tokens_leaves_room_for_the_thinking_budget() {
    let request = ChatRequest {
        messages: vec![user_text("Hi")],
        reasoning: Some(Reasoning {
            effort: Some("high".into()),
            budget_tokens: None,
        }),
        ..ChatRequest::default()
    };
    let body = body_json(&encode_request(&request, "m").unwrap().body);
    assert_eq!(body["thinking"]["budget_tokens"], 16384);
    assert_eq!(body["max_tokens"], 16384 + 4096);
}

#[test]
fn tool_choice_and_parallel_calls_encode() {
    let base = ChatRequest {
        messages: vec![user_text("Hi")],
        tools: vec![weather_tool()],
        ..ChatRequest::default()
    };
    let cases = [
        (
            None,
            Some(false),
            json!({"type": "auto", "disable_parallel_tool_use": true}),
        ),
        (Some(ToolChoice::None), Some(false), json!({"type": "none"})),
        (Some(ToolChoice::Required), None, json!({"type": "any"})),
        (
            Some(ToolChoice::Tool("get_weather".into())),
            Some(true),
            json!({"type": "tool", "name": "get_weather", "disable_parallel_tool_use": false}),
        ),
    ];
    for (choice, parallel, expected) in cases {
        let request = ChatRequest {
            tool_choice: choice,
            parallel_tool_calls: parallel,
            ..base.clone()
        };
        let body = body_json(&encode_request(&request, "m").unwrap().body);
        assert_eq!(body["tool_choice"], expected);
    }
    let unlimited = ChatRequest {
        parallel_tool_calls: Some(true),
        ..base
    };
    assert!(
        body_json(&encode_request(&unlimited, "m").unwrap().body)
            .get("tool_choice")
            .is_none()
    );
}

#[test]
fn json_mode_is_refused() {
    for format in [
        ResponseFormat::JsonObject,
        ResponseFormat::JsonSchema {
            name: "answer".into(),
            schema: json!({"type": "object"}),
            strict: Some(true),
        },
    ] {
        let request = ChatRequest {
            messages: vec![user_text("Hi")],
            response_format: Some(format),
            ..ChatRequest::default()
        };
        match encode_request(&request, "m") {
            Err(TranslateError::Unsupported {
                param, provider, ..
            }) => {
                assert_eq!(param, "response_format");
                assert_eq!(provider, "anthropic");
            }
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }
    let text = ChatRequest {
        messages: vec![user_text("Hi")],
        response_format: Some(ResponseFormat::Text),
        ..ChatRequest::default()
    };
    assert!(encode_request(&text, "m").is_ok());
}

#[test]
fn hints_and_extra_parameters_are_dropped_by_name() {
    let mut extra = serde_json::Map::new();
    extra.insert("logit_bias".into(), json!({"50256": -100}));
    let request = ChatRequest {
        messages: vec![
            user_text("Hi"),
            Message {
                role: Role::Assistant,
                content: vec![
                    Part::Thinking {
                        text: "reasoning from another provider".into(),
                        signature: None,
                    },
                    Part::Text(TextBlock::new("Hello")),
                ],
            },
            user_text("Again"),
        ],
        seed: Some(7),
        frequency_penalty: Some(0.5),
        presence_penalty: Some(0.5),
        extra,
        ..ChatRequest::default()
    };
    let encoded = encode_request(&request, "m").unwrap();
    assert_eq!(
        encoded.dropped,
        vec![
            "unsigned_thinking",
            "seed",
            "frequency_penalty",
            "presence_penalty",
            "logit_bias"
        ]
    );
    let body = body_json(&encoded.body);
    assert_eq!(body["messages"][1]["content"], "Hello");
    for name in [
        "seed",
        "frequency_penalty",
        "presence_penalty",
        "logit_bias",
    ] {
        assert!(body.get(name).is_none(), "{name}");
    }
}

#[test]
fn tool_arguments_that_are_not_an_object_are_refused() {
    let request = ChatRequest {
        messages: vec![
            user_text("Hi"),
            Message {
                role: Role::Assistant,
                content: vec![Part::ToolCall(ToolCall {
                    id: "call_1".into(),
                    name: "f".into(),
                    arguments: "{not json".into(),
                })],
            },
        ],
        ..ChatRequest::default()
    };
    match encode_request(&request, "m") {
        Err(TranslateError::InvalidRequest { message, .. }) => assert!(message.contains("call_1")),
        other => panic!("expected InvalidRequest, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------

#[test]
fn decodes_the_documented_response() {
    let body = br#"{
        "content": [{"text": "Hi! My name is Claude.", "type": "text"}],
        "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
        "model": "claude-sonnet-4-20250514",
        "role": "assistant",
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "type": "message",
        "usage": {"input_tokens": 2095, "output_tokens": 503}
    }"#;
    let response = decode_response(body).unwrap();
    assert_eq!(
        response,
        ChatResponse {
            id: "msg_013Zva2CMHLNnXjNJJKqJ2EF".into(),
            model: "claude-sonnet-4-20250514".into(),
            created: None,
            content: vec![Part::Text(TextBlock::new("Hi! My name is Claude."))],
            finish_reason: Some(FinishReason::EndTurn),
            stop_sequence: None,
            usage: Usage {
                input_tokens: 2095,
                output_tokens: 503,
                ..Usage::default()
            },
        }
    );
}

#[test]
fn decodes_a_tool_use_response_with_cache_usage() {
    let body = br#"{
        "id": "msg_01Aq9w938a90dw8q",
        "type": "message",
        "model": "claude-opus-4-1-20250805",
        "stop_reason": "tool_use",
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "The user wants SF.", "signature": "EqQBCgIYAhIM"},
            {"type": "text", "text": "I'll check the weather."},
            {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
             "input": {"location": "San Francisco, CA", "unit": "celsius"}}
        ],
        "usage": {"cache_creation_input_tokens": 248, "cache_read_input_tokens": 1800, "input_tokens": 21, "output_tokens": 393}
    }"#;
    let response = decode_response(body).unwrap();
    assert_eq!(response.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 21 + 1800 + 248,
            output_tokens: 393,
            cached_input_tokens: 1800,
            cache_write_tokens: 248,
            reasoning_tokens: 0,
        }
    );
    let Part::ToolCall(call) = &response.content[2] else {
        panic!("expected a tool call");
    };
    assert_eq!(
        serde_json::from_str::<Value>(&call.arguments).unwrap(),
        json!({"location": "San Francisco, CA", "unit": "celsius"})
    );
}

#[test]
fn stop_reasons_decode() {
    for (wire, expected) in [
        ("end_turn", FinishReason::EndTurn),
        ("max_tokens", FinishReason::MaxTokens),
        ("stop_sequence", FinishReason::StopSequence),
        ("tool_use", FinishReason::ToolCalls),
        ("refusal", FinishReason::ContentFilter),
        ("pause_turn", FinishReason::Other("pause_turn".into())),
    ] {
        let body = json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": "m",
            "content": [], "stop_reason": wire, "stop_sequence": null,
            "usage": {"input_tokens": 1, "output_tokens": 1}
        });
        assert_eq!(
            decode_response(body.to_string().as_bytes())
                .unwrap()
                .finish_reason,
            Some(expected)
        );
    }
}

#[test]
fn an_unreadable_response_is_an_upstream_error() {
    for body in [&b"<html>"[..], br#"{"type": "message"}"#] {
        assert_invalid_upstream(decode_response(body));
    }
}

#[test]
fn encodes_a_response_in_anthropic_usage_terms() {
    let response = ChatResponse {
        id: "chatcmpl-1".into(),
        model: "gpt-4o".into(),
        created: Some(1_700_000_000),
        content: vec![
            Part::Text(TextBlock::new("Checking.")),
            Part::ToolCall(ToolCall {
                id: "call_1".into(),
                name: "get_weather".into(),
                arguments: r#"{"location":"Paris"}"#.into(),
            }),
        ],
        finish_reason: Some(FinishReason::ToolCalls),
        stop_sequence: None,
        usage: Usage {
            input_tokens: 100,
            output_tokens: 20,
            cached_input_tokens: 60,
            cache_write_tokens: 0,
            reasoning_tokens: 5,
        },
    };
    assert_eq!(
        body_json(&encode_response(&response)),
        json!({
            "id": "chatcmpl-1",
            "type": "message",
            "role": "assistant",
            "model": "gpt-4o",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"location": "Paris"}}
            ],
            "stop_reason": "tool_use",
            "stop_sequence": null,
            "usage": {"input_tokens": 40, "output_tokens": 20, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 60}
        })
    );
}

#[test]
fn finish_reasons_encode() {
    for (reason, wire) in [
        (FinishReason::EndTurn, "end_turn"),
        (FinishReason::StopSequence, "stop_sequence"),
        (FinishReason::MaxTokens, "max_tokens"),
        (FinishReason::ToolCalls, "tool_use"),
        (FinishReason::ContentFilter, "refusal"),
        (
            FinishReason::Other("MALFORMED_FUNCTION_CALL".into()),
            "end_turn",
        ),
    ] {
        let response = ChatResponse {
            finish_reason: Some(reason),
            ..ChatResponse::default()
        };
        assert_eq!(body_json(&encode_response(&response))["stop_reason"], wire);
    }
}

// ---------------------------------------------------------------------------------------
// Streams: decoding
// ---------------------------------------------------------------------------------------

/// The documented basic stream (streaming page), with its `ping`.
const BASIC_STREAM: &str = r#"event: message_start
data: {"type": "message_start", "message": {"id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "type": "message", "role": "assistant", "content": [], "model": "claude-opus-4-20250514", "stop_reason": null, "stop_sequence": null, "usage": {"input_tokens": 25, "output_tokens": 1}}}

event: content_block_start
data: {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 0}

event: message_delta
data: {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence":null}, "usage": {"output_tokens": 15}}

event: message_stop
data: {"type": "message_stop"}

"#;

fn basic_stream_events() -> Vec<StreamEvent> {
    vec![
        StreamEvent::Start {
            id: "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY".into(),
            model: "claude-opus-4-20250514".into(),
        },
        // `message_start` reports the input side at once.
        StreamEvent::Usage(Usage {
            input_tokens: 25,
            output_tokens: 1,
            ..Usage::default()
        }),
        StreamEvent::BlockStart {
            index: 0,
            block: BlockKind::Text,
        },
        StreamEvent::TextDelta {
            index: 0,
            text: "Hello".into(),
        },
        StreamEvent::TextDelta {
            index: 0,
            text: "!".into(),
        },
        StreamEvent::BlockStop { index: 0 },
        StreamEvent::Finish {
            reason: FinishReason::EndTurn,
            stop_sequence: None,
        },
        StreamEvent::Usage(Usage {
            input_tokens: 25,
            output_tokens: 15,
            ..Usage::default()
        }),
        StreamEvent::End,
    ]
}

/// The documented tool-use stream, cut short in the number of deltas, with cache usage
/// reported in `message_delta` as the API now does.
const TOOL_STREAM: &str = r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_014p7gG3wDgGV9EUtLvnow3U","type":"message","role":"assistant","model":"claude-opus-4-20250514","stop_sequence":null,"usage":{"input_tokens":472,"output_tokens":2},"content":[],"stop_reason":null}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: ping
data: {"type": "ping"}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Okay"}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":", let's check the weather for San Francisco, CA:"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"location\":"}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":" \"San Francisco, CA\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":472,"cache_creation_input_tokens":0,"cache_read_input_tokens":100,"output_tokens":89}}

event: message_stop
data: {"type":"message_stop"}

"#;

/// The documented extended-thinking stream: no usage at all, a `signature_delta`.
const THINKING_STREAM: &str = r#"event: message_start
data: {"type": "message_start", "message": {"id": "msg_01ABC", "type": "message", "role": "assistant", "content": [], "model": "claude-sonnet-4-5", "stop_reason": null, "stop_sequence": null}}

event: content_block_start
data: {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Let me solve this step by step:\n\n1. First break down 27 * 453"}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 0}

event: content_block_start
data: {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}

event: content_block_delta
data: {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "27 * 453 = 12,231"}}

event: content_block_stop
data: {"type": "content_block_stop", "index": 1}

event: message_delta
data: {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null}}

event: message_stop
data: {"type": "message_stop"}

"#;

#[test]
fn decodes_the_documented_basic_stream_in_every_split() {
    for piece in [1, 2, 3, 7, 64, BASIC_STREAM.len()] {
        assert_eq!(
            decode_stream_in_pieces(BASIC_STREAM.as_bytes(), piece).unwrap(),
            basic_stream_events(),
            "pieces of {piece} bytes"
        );
    }
}

#[test]
fn decodes_the_documented_tool_use_stream() {
    let events = decode_stream_in_pieces(TOOL_STREAM.as_bytes(), 1).unwrap();
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: "msg_014p7gG3wDgGV9EUtLvnow3U".into(),
                model: "claude-opus-4-20250514".into(),
            },
            StreamEvent::Usage(Usage {
                input_tokens: 472,
                output_tokens: 2,
                ..Usage::default()
            }),
            StreamEvent::BlockStart {
                index: 0,
                block: BlockKind::Text
            },
            StreamEvent::TextDelta {
                index: 0,
                text: "Okay".into()
            },
            StreamEvent::TextDelta {
                index: 0,
                text: ", let's check the weather for San Francisco, CA:".into()
            },
            StreamEvent::BlockStop { index: 0 },
            StreamEvent::BlockStart {
                index: 1,
                block: BlockKind::ToolCall {
                    id: "toolu_01T1x1fJ34qAmk2tNTrN7Up6".into(),
                    name: "get_weather".into()
                }
            },
            StreamEvent::ToolArgumentsDelta {
                index: 1,
                json: "".into()
            },
            StreamEvent::ToolArgumentsDelta {
                index: 1,
                json: "{\"location\":".into()
            },
            StreamEvent::ToolArgumentsDelta {
                index: 1,
                json: " \"San Francisco, CA\"}".into()
            },
            StreamEvent::BlockStop { index: 1 },
            StreamEvent::Finish {
                reason: FinishReason::ToolCalls,
                stop_sequence: None
            },
            StreamEvent::Usage(Usage {
                input_tokens: 572,
                output_tokens: 89,
                cached_input_tokens: 100,
                cache_write_tokens: 0,
                reasoning_tokens: 0,
            }),
            StreamEvent::End,
        ]
    );
}

#[test]
fn decodes_the_documented_thinking_stream() {
    let events = decode_stream_in_pieces(THINKING_STREAM.as_bytes(), 5).unwrap();
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: "msg_01ABC".into(),
                model: "claude-sonnet-4-5".into()
            },
            StreamEvent::BlockStart {
                index: 0,
                block: BlockKind::Thinking
            },
            StreamEvent::ThinkingDelta {
                index: 0,
                text: "Let me solve this step by step:\n\n1. First break down 27 * 453".into()
            },
            StreamEvent::SignatureDelta {
                index: 0,
                signature: "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds".into()
            },
            StreamEvent::BlockStop { index: 0 },
            StreamEvent::BlockStart {
                index: 1,
                block: BlockKind::Text
            },
            StreamEvent::TextDelta {
                index: 1,
                text: "27 * 453 = 12,231".into()
            },
            StreamEvent::BlockStop { index: 1 },
            StreamEvent::Finish {
                reason: FinishReason::EndTurn,
                stop_sequence: None
            },
            StreamEvent::End,
        ]
    );
}

#[test]
fn an_error_event_ends_the_stream() {
    let stream = "event: message_start\ndata: {\"type\": \"message_start\", \"message\": {\"id\": \"msg_1\", \"type\": \"message\", \"role\": \"assistant\", \"content\": [], \"model\": \"m\", \"stop_reason\": null, \"stop_sequence\": null, \"usage\": {\"input_tokens\": 3, \"output_tokens\": 1}}}\n\n\
                  event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}\n\n\
                  event: ping\ndata: {\"type\": \"ping\"}\n\n";
    let events = decode_stream_in_pieces(stream.as_bytes(), 1).unwrap();
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: "msg_1".into(),
                model: "m".into()
            },
            StreamEvent::Usage(Usage {
                input_tokens: 3,
                output_tokens: 1,
                ..Usage::default()
            }),
            StreamEvent::Error(ApiError::new(ErrorKind::Overloaded, "Overloaded")),
        ]
    );
}

#[test]
fn block_indexes_are_renumbered_and_unknown_blocks_skipped() {
    // A server-tool block the canonical form cannot carry sits between two text blocks.
    let stream = r#"event: message_start
data: {"type":"message_start","message":{"id":"msg_2","type":"message","role":"assistant","content":[],"model":"m","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":1,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":"A"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: some_future_event
data: {"type":"some_future_event"}

event: content_block_start
data: {"type":"content_block_start","index":2,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":2,"delta":{"type":"text_delta","text":"B"}}

event: content_block_stop
data: {"type":"content_block_stop","index":2}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":2}}

event: message_stop
data: {"type":"message_stop"}

"#;
    let events = decode_stream_in_pieces(stream.as_bytes(), 3).unwrap();
    assert_eq!(
        events[2..7],
        [
            StreamEvent::BlockStart {
                index: 0,
                block: BlockKind::Text
            },
            StreamEvent::TextDelta {
                index: 0,
                text: "A".into()
            },
            StreamEvent::BlockStop { index: 0 },
            StreamEvent::BlockStart {
                index: 1,
                block: BlockKind::Text
            },
            StreamEvent::TextDelta {
                index: 1,
                text: "B".into()
            },
        ]
    );
}

#[test]
fn a_cut_stream_is_an_upstream_error() {
    let cut = &BASIC_STREAM[..BASIC_STREAM.find("event: message_stop").unwrap()];
    assert_invalid_upstream(decode_stream_in_pieces(cut.as_bytes(), 4));
    assert_invalid_upstream(decode_stream_in_pieces(b"", 1));
}

#[test]
fn malformed_stream_events_are_upstream_errors() {
    for stream in [
        "event: message_start\ndata: {not json\n\n",
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n",
    ] {
        assert_invalid_upstream(decode_stream_in_pieces(stream.as_bytes(), 1));
    }
}

proptest! {
    #[test]
    fn documented_streams_decode_in_random_splits(cuts in proptest::collection::vec(any::<usize>(), 0..12)) {
        prop_assert_eq!(decode_stream_at(BASIC_STREAM.as_bytes(), &cuts).unwrap(), basic_stream_events());
        prop_assert_eq!(
            decode_stream_at(TOOL_STREAM.as_bytes(), &cuts).unwrap(),
            decode_stream_in_pieces(TOOL_STREAM.as_bytes(), TOOL_STREAM.len()).unwrap()
        );
        prop_assert_eq!(
            decode_stream_at(THINKING_STREAM.as_bytes(), &cuts).unwrap(),
            decode_stream_in_pieces(THINKING_STREAM.as_bytes(), THINKING_STREAM.len()).unwrap()
        );
    }
}

// ---------------------------------------------------------------------------------------
// Streams: encoding
// ---------------------------------------------------------------------------------------

#[test]
fn encodes_events_in_the_documented_order() {
    let mut events = basic_stream_events();
    // Input usage right after `Start` goes into `message_start`; the final usage may come
    // before `Finish`: one `message_delta` still carries both.
    events[1] = StreamEvent::Usage(Usage {
        input_tokens: 125,
        output_tokens: 1,
        cached_input_tokens: 100,
        cache_write_tokens: 0,
        reasoning_tokens: 0,
    });
    events.swap(6, 7);
    events[6] = StreamEvent::Usage(Usage {
        input_tokens: 125,
        output_tokens: 15,
        cached_input_tokens: 100,
        cache_write_tokens: 0,
        reasoning_tokens: 0,
    });
    let written = sse_events(&encode_stream(&events));
    let names: Vec<&str> = written.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    for (name, data) in &written {
        assert_eq!(data["type"], name.as_str());
    }
    assert_eq!(
        written[0].1,
        json!({"type": "message_start", "message": {
            "id": "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY", "type": "message", "role": "assistant",
            "content": [], "model": "claude-opus-4-20250514", "stop_reason": null,
            "stop_sequence": null, "usage": {"input_tokens": 25, "output_tokens": 1,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 100}
        }})
    );
    assert_eq!(
        written[1].1,
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    );
    assert_eq!(
        written[2].1,
        json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}})
    );
    assert_eq!(
        written[5].1,
        json!({"type": "message_delta",
               "delta": {"stop_reason": "end_turn", "stop_sequence": null},
               "usage": {"output_tokens": 15, "input_tokens": 25, "cache_read_input_tokens": 100, "cache_creation_input_tokens": 0}})
    );
}

#[test]
fn encodes_tool_and_thinking_blocks() {
    let events = vec![
        StreamEvent::Start {
            id: "msg_1".into(),
            model: "m".into(),
        },
        StreamEvent::BlockStart {
            index: 0,
            block: BlockKind::Thinking,
        },
        StreamEvent::ThinkingDelta {
            index: 0,
            text: "Hmm".into(),
        },
        StreamEvent::SignatureDelta {
            index: 0,
            signature: "sig".into(),
        },
        StreamEvent::BlockStop { index: 0 },
        StreamEvent::BlockStart {
            index: 1,
            block: BlockKind::ToolCall {
                id: "toolu_1".into(),
                name: "get_weather".into(),
            },
        },
        StreamEvent::ToolArgumentsDelta {
            index: 1,
            json: "{\"location\":".into(),
        },
        StreamEvent::BlockStop { index: 1 },
        StreamEvent::Finish {
            reason: FinishReason::ToolCalls,
            stop_sequence: None,
        },
        StreamEvent::End,
    ];
    let written = sse_events(&encode_stream(&events));
    assert_eq!(
        written[1].1["content_block"],
        json!({"type": "thinking", "thinking": "", "signature": ""})
    );
    assert_eq!(
        written[2].1["delta"],
        json!({"type": "thinking_delta", "thinking": "Hmm"})
    );
    assert_eq!(
        written[3].1["delta"],
        json!({"type": "signature_delta", "signature": "sig"})
    );
    assert_eq!(
        written[5].1["content_block"],
        json!({"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}})
    );
    assert_eq!(
        written[6].1["delta"],
        json!({"type": "input_json_delta", "partial_json": "{\"location\":"})
    );
    assert_eq!(written[8].1["delta"]["stop_reason"], "tool_use");
}

#[test]
fn an_error_is_written_as_an_error_event_and_ends_the_stream() {
    let events = vec![
        StreamEvent::Start {
            id: "msg_1".into(),
            model: "m".into(),
        },
        StreamEvent::Error(ApiError::new(ErrorKind::RateLimited, "slow down")),
        StreamEvent::End,
    ];
    let written = sse_events(&encode_stream(&events));
    assert_eq!(written.len(), 2);
    assert_eq!(written[1].0, "error");
    assert_eq!(
        written[1].1,
        json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})
    );
}

// ---------------------------------------------------------------------------------------
// Errors and token counts
// ---------------------------------------------------------------------------------------

#[test]
fn decodes_the_documented_errors() {
    let cases = [
        (400, "invalid_request_error", ErrorKind::InvalidRequest),
        (401, "authentication_error", ErrorKind::Authentication),
        (403, "permission_error", ErrorKind::PermissionDenied),
        (404, "not_found_error", ErrorKind::NotFound),
        (413, "request_too_large", ErrorKind::PayloadTooLarge),
        (429, "rate_limit_error", ErrorKind::RateLimited),
        (500, "api_error", ErrorKind::ProviderError),
        (529, "overloaded_error", ErrorKind::Overloaded),
    ];
    for (status, error_type, kind) in cases {
        let body = json!({
            "type": "error",
            "error": {"type": error_type, "message": "The message"},
            "request_id": "req_011CSHoEeqs5C35K2UUqR7Fy"
        });
        let error = decode_error(
            StatusCode::from_u16(status).unwrap(),
            body.to_string().as_bytes(),
        );
        assert_eq!(error.kind, kind, "{error_type}");
        assert_eq!(error.message, "The message");
        assert_eq!(error.status_override, None, "{error_type}");
    }
}

#[test]
fn an_overlong_prompt_is_context_too_long() {
    let body = br#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 208310 tokens > 200000 maximum"}}"#;
    let error = decode_error(StatusCode::BAD_REQUEST, body);
    assert_eq!(error.kind, ErrorKind::ContextTooLong);
    assert!(error.message.contains("208310"));
}

#[test]
fn other_bodies_are_classified_by_status() {
    let error = decode_error(StatusCode::BAD_GATEWAY, b"<html>Bad gateway</html>");
    assert_eq!(error.kind, ErrorKind::ProviderError);
    assert_eq!(error.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(error.message, "<html>Bad gateway</html>");

    let error = decode_error(StatusCode::TOO_MANY_REQUESTS, b"");
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert!(!error.message.is_empty());

    let error = decode_error(StatusCode::from_u16(529).unwrap(), b"overloaded");
    assert_eq!(error.kind, ErrorKind::Overloaded);
    assert_eq!(error.anthropic_status().as_u16(), 529);

    // An `api_error` with the provider's own 5xx keeps that status.
    let error = decode_error(
        StatusCode::SERVICE_UNAVAILABLE,
        br#"{"type":"error","error":{"type":"api_error","message":"Internal server error"}}"#,
    );
    assert_eq!(error.kind, ErrorKind::ProviderError);
    assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE);
}

#[test]
fn token_counts_round_trip() {
    assert_eq!(
        decode_count_tokens_response(br#"{"input_tokens": 2095}"#).unwrap(),
        2095
    );
    assert_eq!(
        decode_count_tokens_response(&encode_count_tokens_response(14)).unwrap(),
        14
    );
    assert_eq!(
        body_json(&encode_count_tokens_response(14)),
        json!({"input_tokens": 14})
    );
    assert_invalid_upstream(decode_count_tokens_response(br#"{"tokens": 1}"#));
}

// ---------------------------------------------------------------------------------------
// Round trips: canonical → Anthropic → canonical
// ---------------------------------------------------------------------------------------

/// What an Anthropic round trip keeps of a request.
fn normalise_request(mut request: ChatRequest) -> ChatRequest {
    // Anthropic requires `max_tokens`: the encoder fills in its default.
    let budget = request.reasoning.as_ref().and_then(Reasoning::budget);
    request.max_tokens = Some(request.max_tokens.unwrap_or(match budget {
        Some(budget) => 4096 + budget,
        None => 4096,
    }));
    // Thinking is a budget in this dialect; an effort travels as its budget.
    request.reasoning = budget.map(|budget| Reasoning {
        effort: None,
        budget_tokens: Some(budget),
    });
    // `text` is the default format; the JSON formats are refused before this point.
    request.response_format = None;
    // Dropped by rule (reported in `Encoded::dropped`).
    request.seed = None;
    request.frequency_penalty = None;
    request.presence_penalty = None;
    // `none` has no `disable_parallel_tool_use`; `Some(true)` without a choice is the
    // default and not written.
    match (&request.tool_choice, request.parallel_tool_calls) {
        (Some(ToolChoice::None), _) => request.parallel_tool_calls = None,
        (None, Some(false)) => request.tool_choice = Some(ToolChoice::Auto),
        (None, Some(true)) => request.parallel_tool_calls = None,
        _ => {}
    }
    // Results get the name of their call back from the assistant turn.
    let mut names = std::collections::HashMap::new();
    for message in &mut request.messages {
        // Unsigned thinking cannot be sent back to Anthropic; it is dropped by rule.
        message.content.retain(|part| {
            !matches!(
                part,
                Part::Thinking {
                    signature: None,
                    ..
                }
            )
        });
        for part in &mut message.content {
            match part {
                Part::ToolCall(call) => {
                    names.insert(call.id.clone(), call.name.clone());
                }
                Part::ToolResult(result) => result.name = names.get(&result.call_id).cloned(),
                _ => {}
            }
        }
    }
    request
}

fn normalise_finish(reason: FinishReason) -> FinishReason {
    match reason {
        // Anthropic has no name for other reasons: they are written as `end_turn`.
        FinishReason::Other(_) => FinishReason::EndTurn,
        reason => reason,
    }
}

/// What an Anthropic round trip keeps of usage: reasoning tokens are not reported apart.
fn normalise_usage(usage: Usage) -> Usage {
    Usage {
        reasoning_tokens: 0,
        ..usage
    }
}

fn normalise_response(mut response: ChatResponse) -> ChatResponse {
    // Anthropic answers carry no creation time.
    response.created = None;
    response.finish_reason = response.finish_reason.map(normalise_finish);
    response.usage = normalise_usage(response.usage);
    response
}

/// The events the decoder gives back for `events` encoded. Usage travels twice:
/// what was reported before the first block goes into `message_start` (zeros when
/// nothing was) and comes back right after `Start`; the rest is written once, in
/// `message_delta`, and comes back right after `Finish`. A stream ended by an error
/// reports only the first.
fn normalise_events(events: &[StreamEvent]) -> Vec<StreamEvent> {
    let mut usage = Usage::default();
    let mut normalised = Vec::new();
    let mut start_usage_written = false;
    for event in events {
        if !matches!(event, StreamEvent::Start { .. } | StreamEvent::Usage(_))
            && !start_usage_written
        {
            start_usage_written = true;
            normalised.push(StreamEvent::Usage(normalise_usage(usage)));
        }
        match event {
            StreamEvent::Usage(report) => usage.merge(report),
            StreamEvent::Finish {
                reason,
                stop_sequence,
            } => normalised.push(StreamEvent::Finish {
                reason: normalise_finish(reason.clone()),
                stop_sequence: stop_sequence.clone(),
            }),
            StreamEvent::End => {
                normalised.push(StreamEvent::Usage(normalise_usage(usage)));
                normalised.push(StreamEvent::End);
            }
            other => normalised.push(other.clone()),
        }
    }
    normalised
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn requests_round_trip(request in strategies::chat_request()) {
        match encode_request(&request, &request.model) {
            Ok(encoded) => {
                prop_assert!(hints_are_named(&encoded, &request));
                let decoded = decode_request(&encoded.body).unwrap();
                prop_assert_eq!(decoded, normalise_request(request));
            }
            Err(TranslateError::Unsupported { param, .. }) => {
                prop_assert_eq!(param, "response_format");
                let is_json_mode = matches!(
                    request.response_format,
                    Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema { .. })
                );
                prop_assert!(is_json_mode);
            }
            Err(other) => prop_assert!(false, "unexpected error {other:?}"),
        }
    }

    #[test]
    fn responses_round_trip(response in strategies::chat_response()) {
        let decoded = decode_response(&encode_response(&response)).unwrap();
        prop_assert_eq!(decoded, normalise_response(response));
    }

    #[test]
    fn streams_round_trip(
        events in strategies::stream_events(),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let stream = encode_stream(&events);
        let decoded = decode_stream_at(&stream, &cuts).unwrap();
        prop_assert_eq!(decoded, normalise_events(&events));
    }
}

/// The hints a request carried, and only those, are named in `dropped`.
fn hints_are_named(encoded: &sluice_providers::Encoded, request: &ChatRequest) -> bool {
    let named = |name: &str| encoded.dropped.iter().any(|dropped| dropped == name);
    request.seed.is_some() == named("seed")
        && request.frequency_penalty.is_some() == named("frequency_penalty")
        && request.presence_penalty.is_some() == named("presence_penalty")
}
