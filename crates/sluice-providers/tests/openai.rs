//! The OpenAI dialect codec: fixtures built from the API reference's documented examples,
//! and round-trip properties (canonical → OpenAI → canonical keeps the meaning).

#[path = "common/helpers.rs"]
mod helpers;
#[path = "common/strategies.rs"]
mod strategies;

use helpers::{
    assert_invalid_upstream, body_json, decode_at_cuts, decode_every_way, encode_all,
    unsupported_param,
};
use http::StatusCode;
use proptest::prelude::*;
use serde_json::{Value, json};
use sluice_core::ErrorKind;
use sluice_core::chat::{
    BlockKind, ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse, FinishReason,
    Image, Message, Part, Reasoning, ResponseFormat, Role, StreamEvent, TextBlock, Tool, ToolCall,
    ToolChoice, ToolResult, ToolResultContent, Usage,
};
use sluice_providers::TranslateError;
use sluice_providers::openai::{
    OpenAiStreamDecoder, OpenAiStreamEncoder, decode_embeddings_request,
    decode_embeddings_response, decode_error, decode_request, decode_response,
    encode_embeddings_request, encode_embeddings_response, encode_request, encode_response,
};
use strategies::{RequestShape, ResponseShape, StreamShape, UsageShape};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// Feeds `input` in pieces cut at `cuts` (byte offsets) and finishes the stream.
fn decode_stream_split(input: &[u8], cuts: &[usize]) -> Result<Vec<StreamEvent>, TranslateError> {
    decode_at_cuts(OpenAiStreamDecoder::new(), input, cuts)
}

fn decode_stream(input: &[u8]) -> Result<Vec<StreamEvent>, TranslateError> {
    decode_stream_split(input, &[])
}

/// Decodes whole, one byte at a time and in pseudo-random splits; all must agree.
fn decode_stream_every_way(input: &[u8]) -> Vec<StreamEvent> {
    decode_every_way(OpenAiStreamDecoder::new, input)
}

fn sse(chunks: &[Value]) -> Vec<u8> {
    let mut out = String::new();
    for chunk in chunks {
        out.push_str(&format!("data: {chunk}\n\n"));
    }
    out.into_bytes()
}

/// The `data:` payloads of an SSE byte stream.
fn data_lines(bytes: &[u8]) -> Vec<String> {
    String::from_utf8(bytes.to_vec())
        .unwrap()
        .lines()
        .filter_map(|line| line.strip_prefix("data: ").map(str::to_string))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Requests: fixtures
// ---------------------------------------------------------------------------------------

/// The function-calling example of the Chat Completions reference.
const TOOLS_REQUEST: &str = r#"{
  "model": "gpt-4.1",
  "messages": [
    {"role": "user", "content": "What is the weather like in Boston today?"}
  ],
  "tools": [
    {
      "type": "function",
      "function": {
        "name": "get_current_weather",
        "description": "Get the current weather in a given location",
        "parameters": {
          "type": "object",
          "properties": {
            "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}
          },
          "required": ["location"]
        }
      }
    }
  ],
  "tool_choice": "auto"
}"#;

#[test]
fn decodes_the_documented_function_calling_request() {
    let request = decode_request(TOOLS_REQUEST.as_bytes()).unwrap();
    assert_eq!(request.model, "gpt-4.1");
    assert_eq!(
        request.messages,
        vec![Message {
            role: Role::User,
            content: vec![Part::Text(TextBlock::new(
                "What is the weather like in Boston today?"
            ))],
        }]
    );
    assert_eq!(request.tools.len(), 1);
    assert_eq!(request.tools[0].name, "get_current_weather");
    assert_eq!(
        request.tools[0].description.as_deref(),
        Some("Get the current weather in a given location")
    );
    assert_eq!(request.tools[0].parameters["required"], json!(["location"]));
    assert_eq!(request.tool_choice, Some(ToolChoice::Auto));
    assert!(request.extra.is_empty());
}

#[test]
fn decodes_a_full_conversation() {
    let body = json!({
        "model": "gpt-4o",
        "messages": [
            {"role": "developer", "content": "Be brief."},
            {"role": "system", "content": [{"type": "text", "text": "Answer in English."}]},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in these images?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/boardwalk.jpg", "detail": "high"}},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
            ]},
            {"role": "assistant", "content": null, "reasoning_content": "Look it up.", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"a\"}"}},
                {"id": "call_2", "type": "function", "function": {"name": "search", "arguments": "{}"}}
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": "found a"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "nothing"}]},
            {"role": "user", "content": "Thanks, and?"},
            {"role": "assistant", "content": "A boardwalk.", "refusal": null},
            {"role": "user", "content": "More."}
        ],
        "max_tokens": 10,
        "max_completion_tokens": 300,
        "stop": "END",
        "temperature": 0.5,
        "top_p": 0.9,
        "seed": 42,
        "frequency_penalty": 0.1,
        "presence_penalty": -0.2,
        "user": "user-1234",
        "n": 1,
        "stream": true,
        "stream_options": {"include_usage": true},
        "parallel_tool_calls": false,
        "tool_choice": {"type": "function", "function": {"name": "lookup"}},
        "response_format": {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}, "strict": true}},
        "reasoning_effort": "low",
        "store": true,
        "metadata": {"team": "a"}
    });
    let request = decode_request(body.to_string().as_bytes()).unwrap();
    assert_eq!(
        request.system,
        vec![
            TextBlock::new("Be brief."),
            TextBlock::new("Answer in English.")
        ]
    );
    assert_eq!(request.messages.len(), 5, "{:#?}", request.messages);
    assert_eq!(
        request.messages[0].content,
        vec![
            Part::Text(TextBlock::new("What is in these images?")),
            Part::Image(Image::Url("https://example.com/boardwalk.jpg".into())),
            Part::Image(Image::Base64 {
                media_type: "image/png".into(),
                data: "iVBORw0KGgo=".into()
            }),
        ]
    );
    assert_eq!(
        request.messages[1],
        Message {
            role: Role::Assistant,
            content: vec![
                Part::Thinking {
                    text: "Look it up.".into(),
                    signature: None
                },
                Part::ToolCall(ToolCall {
                    id: "call_1".into(),
                    name: "lookup".into(),
                    arguments: "{\"q\":\"a\"}".into()
                }),
                Part::ToolCall(ToolCall {
                    id: "call_2".into(),
                    name: "search".into(),
                    arguments: "{}".into()
                }),
            ],
        }
    );
    // Both results and the user message after them form one user turn.
    assert_eq!(
        request.messages[2],
        Message {
            role: Role::User,
            content: vec![
                Part::ToolResult(ToolResult {
                    call_id: "call_1".into(),
                    name: Some("lookup".into()),
                    content: vec![ToolResultContent::Text("found a".into())],
                    is_error: false,
                }),
                Part::ToolResult(ToolResult {
                    call_id: "call_2".into(),
                    name: Some("search".into()),
                    content: vec![ToolResultContent::Text("nothing".into())],
                    is_error: false,
                }),
                Part::Text(TextBlock::new("Thanks, and?")),
            ],
        }
    );
    assert_eq!(request.messages[3].role, Role::Assistant);
    assert_eq!(request.messages[4].role, Role::User);
    assert_eq!(request.max_tokens, Some(300));
    assert_eq!(request.stop, vec!["END".to_string()]);
    assert_eq!(request.temperature, Some(0.5));
    assert_eq!(request.top_p, Some(0.9));
    assert_eq!(request.seed, Some(42));
    assert_eq!(request.frequency_penalty, Some(0.1));
    assert_eq!(request.presence_penalty, Some(-0.2));
    assert_eq!(request.user.as_deref(), Some("user-1234"));
    assert!(request.stream);
    assert_eq!(request.parallel_tool_calls, Some(false));
    assert_eq!(request.tool_choice, Some(ToolChoice::Tool("lookup".into())));
    assert_eq!(
        request.response_format,
        Some(ResponseFormat::JsonSchema {
            name: "answer".into(),
            schema: json!({"type": "object"}),
            strict: Some(true)
        })
    );
    assert_eq!(
        request.reasoning,
        Some(Reasoning {
            effort: Some("low".into()),
            budget_tokens: None
        })
    );
    let mut extra: Vec<&str> = request.extra.keys().map(String::as_str).collect();
    extra.sort_unstable();
    assert_eq!(
        extra,
        vec![
            "messages[].content[].image_url.detail",
            "metadata",
            "store",
            "stream_options"
        ]
    );
}

#[test]
fn max_tokens_alone_and_stop_arrays_are_read() {
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 7, "stop": ["a", "b"], "tools": null, "stop_sequences": null});
    let request = decode_request(body.to_string().as_bytes()).unwrap();
    assert_eq!(request.max_tokens, Some(7));
    assert_eq!(request.stop, vec!["a".to_string(), "b".to_string()]);
}

#[test]
fn refuses_what_a_translated_path_would_answer_wrongly() {
    let cases = [
        (json!({"n": 2}), "n"),
        (json!({"logprobs": true}), "logprobs"),
        (json!({"top_logprobs": 3}), "top_logprobs"),
    ];
    for (fields, param) in cases {
        let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
        for (name, value) in fields.as_object().unwrap() {
            body[name] = value.clone();
        }
        match decode_request(body.to_string().as_bytes()) {
            Err(TranslateError::Unsupported { param: got, .. }) => assert_eq!(got, param),
            other => panic!("{param}: {other:?}"),
        }
    }
    let legacy_functions = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "functions": [{"name": "f", "parameters": {}}]});
    assert_eq!(
        unsupported_param(decode_request(legacy_functions.to_string().as_bytes())),
        "functions"
    );
    let function_role = json!({"model": "m", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "function", "name": "f", "content": "{}"}
    ]});
    assert!(matches!(
        decode_request(function_role.to_string().as_bytes()),
        Err(TranslateError::Unsupported { .. })
    ));
    let ok = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": 1, "logprobs": false});
    let request = decode_request(ok.to_string().as_bytes()).unwrap();
    assert!(request.extra.is_empty());
}

#[test]
fn malformed_requests_are_invalid() {
    for body in [
        "not json",
        r#"{"model":"m"}"#,
        r#"{"model":"m","messages":[{"content":"x"}]}"#,
        r#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#,
        r#"{"model":"m","messages":[{"role":"tool","content":"x"}]}"#,
        r#"{"model":"m","messages":[{"role":"user","content":42}]}"#,
    ] {
        assert!(
            matches!(
                decode_request(body.as_bytes()),
                Err(TranslateError::InvalidRequest { .. })
            ),
            "{body}"
        );
    }
}

fn sample_request() -> ChatRequest {
    ChatRequest {
        model: "claude-style".into(),
        system: vec![TextBlock::new("Be brief.")],
        messages: vec![
            Message {
                role: Role::User,
                content: vec![
                    Part::Text(TextBlock::new("What is in this image?")),
                    Part::Image(Image::Base64 {
                        media_type: "image/png".into(),
                        data: "iVBORw0KGgo=".into(),
                    }),
                ],
            },
            Message {
                role: Role::Assistant,
                content: vec![
                    Part::Thinking {
                        text: "hmm".into(),
                        signature: Some("sig".into()),
                    },
                    Part::Text(TextBlock::new("Let me check.")),
                    Part::ToolCall(ToolCall {
                        id: "toolu_1".into(),
                        name: "lookup".into(),
                        arguments: "{\"q\":\"cat\"}".into(),
                    }),
                ],
            },
            Message {
                role: Role::User,
                content: vec![
                    Part::ToolResult(ToolResult {
                        call_id: "toolu_1".into(),
                        name: Some("lookup".into()),
                        content: vec![ToolResultContent::Text("a cat".into())],
                        is_error: true,
                    }),
                    Part::Text(TextBlock::new("So?")),
                ],
            },
        ],
        max_tokens: Some(1024),
        temperature: Some(0.7),
        top_k: Some(40),
        stop: vec!["\n\nHuman:".into()],
        stream: true,
        tools: vec![Tool {
            name: "lookup".into(),
            description: None,
            parameters: json!({"type": "object", "properties": {"q": {"type": "string"}}}),
            cache_control: None,
        }],
        tool_choice: Some(ToolChoice::Required),
        reasoning: Some(Reasoning {
            effort: None,
            budget_tokens: Some(5000),
        }),
        extra: [("metadata".to_string(), json!({"user_id": "u"}))]
            .into_iter()
            .collect(),
        ..ChatRequest::default()
    }
}

#[test]
fn encodes_a_request_with_its_drop_rules() {
    let encoded = encode_request(&sample_request(), "gpt-4o").unwrap();
    assert_eq!(
        body_json(&encoded.body),
        json!({
            "model": "gpt-4o",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [
                    {"type": "text", "text": "What is in this image?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
                ]},
                {"role": "assistant", "content": "Let me check.", "tool_calls": [
                    {"id": "toolu_1", "type": "function", "function": {"name": "lookup", "arguments": "{\"q\":\"cat\"}"}}
                ]},
                {"role": "tool", "tool_call_id": "toolu_1", "content": "a cat"},
                {"role": "user", "content": "So?"}
            ],
            "max_completion_tokens": 1024,
            "temperature": 0.7,
            "stop": ["\n\nHuman:"],
            "stream": true,
            "stream_options": {"include_usage": true},
            "tools": [{"type": "function", "function": {"name": "lookup",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}],
            "tool_choice": "required",
            "reasoning_effort": "medium"
        })
    );
    assert_eq!(
        encoded.dropped,
        vec!["metadata", "thinking", "tool_result.is_error", "top_k"]
    );
}

#[test]
fn tool_settings_without_tools_are_dropped() {
    let request = ChatRequest {
        messages: vec![Message {
            role: Role::User,
            content: vec![Part::Text(TextBlock::new("hi"))],
        }],
        tool_choice: Some(ToolChoice::Auto),
        parallel_tool_calls: Some(true),
        ..ChatRequest::default()
    };
    let encoded = encode_request(&request, "m").unwrap();
    let body = body_json(&encoded.body);
    assert!(body.get("tool_choice").is_none());
    assert!(body.get("parallel_tool_calls").is_none());
    assert_eq!(encoded.dropped, vec!["parallel_tool_calls", "tool_choice"]);
}

#[test]
fn images_in_tool_results_are_refused() {
    let mut request = sample_request();
    request.messages[2].content[0] = Part::ToolResult(ToolResult {
        call_id: "toolu_1".into(),
        name: None,
        content: vec![ToolResultContent::Image(Image::Url(
            "https://example.com/screen.png".into(),
        ))],
        is_error: false,
    });
    assert!(matches!(
        encode_request(&request, "m"),
        Err(TranslateError::Unsupported { .. })
    ));
}

// ---------------------------------------------------------------------------------------
// Responses: fixtures
// ---------------------------------------------------------------------------------------

/// The chat completion object of the reference.
const TEXT_RESPONSE: &str = r#"{
  "id": "chatcmpl-123",
  "object": "chat.completion",
  "created": 1677652288,
  "model": "gpt-4o-mini",
  "system_fingerprint": "fp_44709d6fcb",
  "choices": [{
    "index": 0,
    "message": {
      "role": "assistant",
      "content": "\n\nHello there, how may I assist you today?"
    },
    "logprobs": null,
    "finish_reason": "stop"
  }],
  "usage": {
    "prompt_tokens": 9,
    "completion_tokens": 12,
    "total_tokens": 21,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {
      "reasoning_tokens": 0,
      "accepted_prediction_tokens": 0,
      "rejected_prediction_tokens": 0
    }
  }
}"#;

/// The function-calling answer of the reference.
const TOOL_RESPONSE: &str = r#"{
  "id": "chatcmpl-abc123",
  "object": "chat.completion",
  "created": 1699896916,
  "model": "gpt-4o-mini",
  "choices": [{
    "index": 0,
    "message": {
      "role": "assistant",
      "content": null,
      "tool_calls": [{
        "id": "call_abc123",
        "type": "function",
        "function": {"name": "get_current_weather", "arguments": "{\n\"location\": \"Boston, MA\"\n}"}
      }]
    },
    "logprobs": null,
    "finish_reason": "tool_calls"
  }],
  "usage": {
    "prompt_tokens": 82,
    "completion_tokens": 17,
    "total_tokens": 99,
    "prompt_tokens_details": {"cached_tokens": 64},
    "completion_tokens_details": {"reasoning_tokens": 5}
  }
}"#;

#[test]
fn decodes_the_documented_responses() {
    let response = decode_response(TEXT_RESPONSE.as_bytes()).unwrap();
    assert_eq!(
        response,
        ChatResponse {
            id: "chatcmpl-123".into(),
            model: "gpt-4o-mini".into(),
            created: Some(1_677_652_288),
            content: vec![Part::Text(TextBlock::new(
                "\n\nHello there, how may I assist you today?"
            ))],
            finish_reason: Some(FinishReason::EndTurn),
            stop_sequence: None,
            usage: Usage {
                input_tokens: 9,
                output_tokens: 12,
                ..Usage::default()
            },
        }
    );

    let response = decode_response(TOOL_RESPONSE.as_bytes()).unwrap();
    assert_eq!(
        response.content,
        vec![Part::ToolCall(ToolCall {
            id: "call_abc123".into(),
            name: "get_current_weather".into(),
            arguments: "{\n\"location\": \"Boston, MA\"\n}".into(),
        })]
    );
    assert_eq!(response.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 82,
            output_tokens: 17,
            cached_input_tokens: 64,
            cache_write_tokens: 0,
            reasoning_tokens: 5,
        }
    );
}

#[test]
fn finish_reasons_and_refusals_decode() {
    for (wire, canonical) in [
        ("stop", FinishReason::EndTurn),
        ("length", FinishReason::MaxTokens),
        ("tool_calls", FinishReason::ToolCalls),
        ("function_call", FinishReason::ToolCalls),
        ("content_filter", FinishReason::ContentFilter),
        (
            "insufficient_system_resource",
            FinishReason::Other("insufficient_system_resource".into()),
        ),
    ] {
        let body = json!({"id": "x", "model": "m", "choices": [{"index": 0,
            "message": {"role": "assistant", "content": null, "refusal": "I can't help with that."},
            "finish_reason": wire}]});
        let response = decode_response(body.to_string().as_bytes()).unwrap();
        assert_eq!(response.finish_reason, Some(canonical));
        assert_eq!(
            response.content,
            vec![Part::Text(TextBlock::new("I can't help with that."))]
        );
    }
    assert_invalid_upstream(decode_response(b"{\"error\":{\"message\":\"x\"}}"));
}

#[test]
fn encodes_a_response() {
    let response = ChatResponse {
        id: "msg_1".into(),
        model: "claude".into(),
        created: Some(1_700_000_000),
        content: vec![
            Part::Thinking {
                text: "Let me think.".into(),
                signature: Some("sig".into()),
            },
            Part::ToolCall(ToolCall {
                id: "toolu_1".into(),
                name: "lookup".into(),
                arguments: "{}".into(),
            }),
        ],
        finish_reason: Some(FinishReason::ToolCalls),
        stop_sequence: None,
        usage: Usage {
            input_tokens: 100,
            output_tokens: 20,
            cached_input_tokens: 30,
            cache_write_tokens: 10,
            reasoning_tokens: 8,
        },
    };
    assert_eq!(
        body_json(&encode_response(&response)),
        json!({
            "id": "msg_1",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": "claude",
            "choices": [{
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": null,
                    "refusal": null,
                    "reasoning_content": "Let me think.",
                    "tool_calls": [{"id": "toolu_1", "type": "function",
                        "function": {"name": "lookup", "arguments": "{}"}}]
                },
                "logprobs": null,
                "finish_reason": "tool_calls"
            }],
            "usage": {
                "prompt_tokens": 100,
                "completion_tokens": 20,
                "total_tokens": 120,
                "prompt_tokens_details": {"cached_tokens": 30},
                "completion_tokens_details": {"reasoning_tokens": 8}
            }
        })
    );
    let stopped = ChatResponse {
        content: vec![
            Part::Text(TextBlock::new("Hello")),
            Part::Text(TextBlock::new(", world")),
        ],
        finish_reason: Some(FinishReason::StopSequence),
        stop_sequence: Some("###".into()),
        ..response
    };
    let body = body_json(&encode_response(&stopped));
    assert_eq!(body["choices"][0]["message"]["content"], "Hello, world");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
}

// ---------------------------------------------------------------------------------------
// Streams: fixtures
// ---------------------------------------------------------------------------------------

fn chunk(delta: Value, finish_reason: Value) -> Value {
    json!({"id": "chatcmpl-123", "object": "chat.completion.chunk", "created": 1694268190,
        "model": "gpt-4o-mini", "system_fingerprint": "fp_44709d6fcb",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}]})
}

/// The streaming example of the reference, with the usage chunk that
/// `stream_options.include_usage` adds and the closing `[DONE]`.
fn documented_text_stream() -> Vec<u8> {
    let mut bytes = sse(&[
        chunk(json!({"role": "assistant", "content": ""}), Value::Null),
        chunk(json!({"content": "Hello"}), Value::Null),
        chunk(json!({"content": " there"}), Value::Null),
        chunk(json!({}), json!("stop")),
        json!({"id": "chatcmpl-123", "object": "chat.completion.chunk", "created": 1694268190,
            "model": "gpt-4o-mini", "choices": [],
            "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11,
                "prompt_tokens_details": {"cached_tokens": 4},
                "completion_tokens_details": {"reasoning_tokens": 0}}}),
    ]);
    bytes.extend_from_slice(b"data: [DONE]\n\n");
    bytes
}

#[test]
fn decodes_the_documented_text_stream_in_any_split() {
    let events = decode_stream_every_way(&documented_text_stream());
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: "chatcmpl-123".into(),
                model: "gpt-4o-mini".into()
            },
            StreamEvent::BlockStart {
                index: 0,
                block: BlockKind::Text
            },
            StreamEvent::TextDelta {
                index: 0,
                text: "Hello".into()
            },
            StreamEvent::TextDelta {
                index: 0,
                text: " there".into()
            },
            StreamEvent::BlockStop { index: 0 },
            StreamEvent::Finish {
                reason: FinishReason::EndTurn,
                stop_sequence: None
            },
            StreamEvent::Usage(Usage {
                input_tokens: 9,
                output_tokens: 2,
                cached_input_tokens: 4,
                ..Usage::default()
            }),
            StreamEvent::End,
        ]
    );
}

/// The function-calling guide's streamed tool calls: the first piece carries `id` and
/// `name`, later pieces `id: null` and argument text. Preceded by Azure's prompt-filter
/// chunk (no choices), which must not count as the start.
#[test]
fn decodes_streamed_tool_calls_in_any_split() {
    let call = |index: u32, id: Value, name: Value, arguments: &str| {
        json!({"tool_calls": [{"index": index, "id": id, "type": if id.is_null() { Value::Null } else { json!("function") },
            "function": {"name": name, "arguments": arguments}}]})
    };
    let mut bytes = sse(&[
        json!({"id": "", "object": "", "created": 0, "model": "", "choices": [],
            "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": {}}]}),
        chunk(
            json!({"role": "assistant", "content": null, "reasoning_content": "Need weather."}),
            Value::Null,
        ),
        chunk(json!({"content": "Checking."}), Value::Null),
        chunk(
            call(
                0,
                json!("call_DdmO9pD3xa9XTPNJ32zg2hcA"),
                json!("get_weather"),
                "",
            ),
            Value::Null,
        ),
        chunk(call(0, Value::Null, Value::Null, "{\""), Value::Null),
        chunk(call(0, Value::Null, Value::Null, "location"), Value::Null),
        chunk(
            call(0, Value::Null, Value::Null, "\":\"Paris\"}"),
            Value::Null,
        ),
        chunk(
            call(1, json!("call_2"), json!("get_time"), "{}"),
            Value::Null,
        ),
        chunk(json!({}), json!("tool_calls")),
    ]);
    bytes.extend_from_slice(b"data: [DONE]\n\n");
    let events = decode_stream_every_way(&bytes);
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: "chatcmpl-123".into(),
                model: "gpt-4o-mini".into()
            },
            StreamEvent::BlockStart {
                index: 0,
                block: BlockKind::Thinking
            },
            StreamEvent::ThinkingDelta {
                index: 0,
                text: "Need weather.".into()
            },
            StreamEvent::BlockStop { index: 0 },
            StreamEvent::BlockStart {
                index: 1,
                block: BlockKind::Text
            },
            StreamEvent::TextDelta {
                index: 1,
                text: "Checking.".into()
            },
            StreamEvent::BlockStop { index: 1 },
            StreamEvent::BlockStart {
                index: 2,
                block: BlockKind::ToolCall {
                    id: "call_DdmO9pD3xa9XTPNJ32zg2hcA".into(),
                    name: "get_weather".into()
                }
            },
            StreamEvent::ToolArgumentsDelta {
                index: 2,
                json: "{\"".into()
            },
            StreamEvent::ToolArgumentsDelta {
                index: 2,
                json: "location".into()
            },
            StreamEvent::ToolArgumentsDelta {
                index: 2,
                json: "\":\"Paris\"}".into()
            },
            StreamEvent::BlockStop { index: 2 },
            StreamEvent::BlockStart {
                index: 3,
                block: BlockKind::ToolCall {
                    id: "call_2".into(),
                    name: "get_time".into()
                }
            },
            StreamEvent::ToolArgumentsDelta {
                index: 3,
                json: "{}".into()
            },
            StreamEvent::BlockStop { index: 3 },
            StreamEvent::Finish {
                reason: FinishReason::ToolCalls,
                stop_sequence: None
            },
            StreamEvent::End,
        ]
    );
}

#[test]
fn an_error_event_ends_the_stream() {
    let mut bytes = sse(&[
        chunk(json!({"role": "assistant", "content": "Hi"}), Value::Null),
        json!({"error": {"message": "The server had an error while processing your request.",
            "type": "server_error", "param": null, "code": null}}),
    ]);
    bytes.extend_from_slice(b"data: [DONE]\n\n");
    let events = decode_stream_every_way(&bytes);
    assert_eq!(events.len(), 5, "{events:#?}");
    assert_eq!(events[3], StreamEvent::BlockStop { index: 0 });
    match &events[4] {
        StreamEvent::Error(error) => {
            assert_eq!(error.kind, ErrorKind::ProviderError);
            assert_eq!(
                error.message,
                "The server had an error while processing your request."
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_top_level_error_object_in_a_stream_keeps_its_status() {
    let bytes = sse(&[json!({"object": "error", "message": "Too many requests",
        "type": "TooManyRequests", "param": null, "code": 429})]);
    let events = decode_stream(&bytes).unwrap();
    match events.as_slice() {
        [StreamEvent::Error(error)] => {
            assert_eq!(error.kind, ErrorKind::RateLimited);
            assert_eq!(error.message, "Too many requests");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn stream_endings() {
    // Finished but no `[DONE]` (some compatible servers): a normal end.
    let finished = sse(&[
        chunk(json!({"content": "Hi"}), Value::Null),
        chunk(json!({}), json!("length")),
    ]);
    let events = decode_stream_every_way(&finished);
    assert_eq!(events.last(), Some(&StreamEvent::End));
    assert!(events.contains(&StreamEvent::Finish {
        reason: FinishReason::MaxTokens,
        stop_sequence: None
    }));

    // Cut before any finish_reason: an invalid upstream, split anywhere.
    let cut = sse(&[chunk(json!({"content": "Hi"}), Value::Null)]);
    for at in 0..cut.len() {
        assert_invalid_upstream(decode_stream_split(&cut, &[at]));
    }
    // Deltas after the finish_reason are not part of the answer; usage still is.
    let late = sse(&[
        chunk(json!({"content": "Hi"}), json!("stop")),
        chunk(json!({"content": " again"}), Value::Null),
    ]);
    let events = decode_stream(&late).unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|event| matches!(event, StreamEvent::TextDelta { .. }))
            .count(),
        1
    );
    // An unterminated last event still counts.
    let mut unterminated = sse(&[chunk(json!({"content": "Hi"}), Value::Null)]);
    unterminated.extend_from_slice(
        br#"data: {"id":"x","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
    );
    assert_eq!(
        decode_stream(&unterminated).unwrap().last(),
        Some(&StreamEvent::End)
    );
    // `[DONE]` without a finish_reason is not a whole answer.
    let mut early_done = sse(&[chunk(json!({"content": "Hi"}), Value::Null)]);
    early_done.extend_from_slice(b"data: [DONE]\n\n");
    assert_invalid_upstream(decode_stream(&early_done));
    assert_invalid_upstream(decode_stream(b"data: {not json}\n\n"));
}

#[test]
fn encodes_a_stream() {
    let events = vec![
        StreamEvent::Start {
            id: "msg_1".into(),
            model: "claude".into(),
        },
        StreamEvent::Usage(Usage {
            input_tokens: 50,
            ..Usage::default()
        }),
        StreamEvent::BlockStart {
            index: 0,
            block: BlockKind::Thinking,
        },
        StreamEvent::ThinkingDelta {
            index: 0,
            text: "Hmm.".into(),
        },
        StreamEvent::SignatureDelta {
            index: 0,
            signature: "sig".into(),
        },
        StreamEvent::BlockStop { index: 0 },
        StreamEvent::BlockStart {
            index: 1,
            block: BlockKind::Text,
        },
        StreamEvent::TextDelta {
            index: 1,
            text: "Hi".into(),
        },
        StreamEvent::BlockStop { index: 1 },
        StreamEvent::BlockStart {
            index: 2,
            block: BlockKind::ToolCall {
                id: "toolu_1".into(),
                name: "lookup".into(),
            },
        },
        StreamEvent::ToolArgumentsDelta {
            index: 2,
            json: "{\"q\":".into(),
        },
        StreamEvent::ToolArgumentsDelta {
            index: 2,
            json: "1}".into(),
        },
        StreamEvent::BlockStop { index: 2 },
        StreamEvent::Finish {
            reason: FinishReason::ToolCalls,
            stop_sequence: None,
        },
        StreamEvent::Usage(Usage {
            input_tokens: 50,
            output_tokens: 9,
            ..Usage::default()
        }),
        StreamEvent::End,
    ];
    let bytes = encode_all(&mut OpenAiStreamEncoder::new(true), &events);
    let lines = data_lines(&bytes);
    let chunks: Vec<Value> = lines[..lines.len() - 1]
        .iter()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let deltas: Vec<Value> = chunks
        .iter()
        .filter_map(|chunk| {
            chunk["choices"]
                .get(0)
                .map(|choice| choice["delta"].clone())
        })
        .collect();
    assert_eq!(
        deltas,
        vec![
            json!({"role": "assistant", "content": ""}),
            json!({"reasoning_content": "Hmm."}),
            json!({"content": "Hi"}),
            json!({"tool_calls": [{"index": 0, "id": "toolu_1", "type": "function",
                "function": {"name": "lookup", "arguments": ""}}]}),
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"q\":"}}]}),
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
            json!({}),
        ]
    );
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["id"], "msg_1");
        assert_eq!(chunk["model"], "claude");
    }
    assert_eq!(chunks[6]["choices"][0]["finish_reason"], "tool_calls");
    assert_eq!(chunks[0]["usage"], Value::Null);
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(last["usage"]["prompt_tokens"], 50);
    assert_eq!(last["usage"]["completion_tokens"], 9);
    assert_eq!(last["usage"]["total_tokens"], 59);
    assert_eq!(lines.last().unwrap(), "[DONE]");

    // Without include_usage: no usage chunk, no `usage` fields.
    let bytes = encode_all(&mut OpenAiStreamEncoder::new(false), &events);
    let lines = data_lines(&bytes);
    assert_eq!(lines.len(), 8);
    assert!(!lines.iter().any(|line| line.contains("\"usage\"")));
}

#[test]
fn an_encoded_error_ends_the_stream() {
    let events = [
        StreamEvent::Start {
            id: "msg_1".into(),
            model: "claude".into(),
        },
        StreamEvent::Error(sluice_core::ApiError::new(
            ErrorKind::Overloaded,
            "Overloaded",
        )),
        StreamEvent::End,
    ];
    let bytes = encode_all(&mut OpenAiStreamEncoder::new(true), &events);
    let lines = data_lines(&bytes);
    assert_eq!(lines.len(), 2);
    assert_eq!(
        serde_json::from_str::<Value>(&lines[1]).unwrap(),
        json!({"error": {"message": "Overloaded", "type": "server_error", "param": null, "code": "overloaded"}})
    );
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

#[test]
fn decodes_documented_errors() {
    let envelope = |message: &str, kind: &str, param: Value, code: Value| {
        json!({"error": {"message": message, "type": kind, "param": param, "code": code}})
            .to_string()
    };
    let cases = [
        (
            400,
            envelope(
                "This model's maximum context length is 4097 tokens. However, your messages resulted in 4135 tokens. Please reduce the length of the messages.",
                "invalid_request_error",
                json!("messages"),
                json!("context_length_exceeded"),
            ),
            ErrorKind::ContextTooLong,
            Some("context_length_exceeded"),
            None,
        ),
        (
            400,
            envelope(
                "Invalid value for 'temperature'.",
                "invalid_request_error",
                json!("temperature"),
                Value::Null,
            ),
            ErrorKind::InvalidRequest,
            None,
            None,
        ),
        (
            401,
            envelope(
                "Incorrect API key provided: sk-abc.",
                "invalid_request_error",
                Value::Null,
                json!("invalid_api_key"),
            ),
            ErrorKind::Authentication,
            Some("invalid_api_key"),
            None,
        ),
        (
            403,
            envelope(
                "You are not allowed to sample from this model",
                "invalid_request_error",
                Value::Null,
                Value::Null,
            ),
            ErrorKind::PermissionDenied,
            Some("permission_denied"),
            None,
        ),
        (
            404,
            envelope(
                "The model `gpt-9` does not exist or you do not have access to it.",
                "invalid_request_error",
                Value::Null,
                json!("model_not_found"),
            ),
            ErrorKind::NotFound,
            Some("model_not_found"),
            None,
        ),
        (
            429,
            envelope(
                "You exceeded your current quota, please check your plan and billing details.",
                "insufficient_quota",
                Value::Null,
                json!("insufficient_quota"),
            ),
            ErrorKind::RateLimited,
            Some("insufficient_quota"),
            None,
        ),
        (
            429,
            envelope(
                "Rate limit reached for requests",
                "requests",
                Value::Null,
                json!("rate_limit_exceeded"),
            ),
            ErrorKind::RateLimited,
            Some("rate_limit_exceeded"),
            None,
        ),
        (
            503,
            envelope(
                "The engine is currently overloaded, please try again later",
                "server_error",
                Value::Null,
                Value::Null,
            ),
            ErrorKind::Overloaded,
            Some("overloaded"),
            None,
        ),
        (
            500,
            envelope(
                "The server had an error while processing your request.",
                "server_error",
                Value::Null,
                Value::Null,
            ),
            ErrorKind::ProviderError,
            Some("provider_error"),
            None,
        ),
        (
            502,
            envelope("Bad gateway.", "server_error", Value::Null, Value::Null),
            ErrorKind::ProviderError,
            Some("provider_error"),
            Some(StatusCode::BAD_GATEWAY),
        ),
    ];
    for (status, body, kind, code, status_override) in cases {
        let status = StatusCode::from_u16(status).unwrap();
        let error = decode_error(status, body.as_bytes());
        let message = body_json(body.as_bytes())["error"]["message"].clone();
        assert_eq!(error.kind, kind, "{body}");
        assert_eq!(error.message, message.as_str().unwrap());
        assert_eq!(error.code.as_deref(), code, "{body}");
        assert_eq!(error.status_override, status_override, "{body}");
    }
    let context = decode_error(
        StatusCode::BAD_REQUEST,
        envelope(
            "too long",
            "invalid_request_error",
            json!("messages"),
            json!("context_length_exceeded"),
        )
        .as_bytes(),
    );
    assert_eq!(context.param.as_deref(), Some("messages"));
}

#[test]
fn decodes_bodies_that_are_not_the_envelope() {
    let error = decode_error(
        StatusCode::BAD_GATEWAY,
        b"<html>upstream connect error</html>",
    );
    assert_eq!(error.kind, ErrorKind::ProviderError);
    assert_eq!(error.status(), StatusCode::BAD_GATEWAY);
    assert!(error.message.contains("502"));
    assert!(error.message.contains("upstream connect error"));

    let long = "x".repeat(5000);
    let error = decode_error(StatusCode::BAD_REQUEST, long.as_bytes());
    assert_eq!(error.kind, ErrorKind::InvalidRequest);
    assert!(error.message.len() < 400);

    let error = decode_error(StatusCode::TOO_MANY_REQUESTS, br#"{"error":"slow down"}"#);
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert_eq!(error.message, "slow down");
}

// ---------------------------------------------------------------------------------------
// Embeddings
// ---------------------------------------------------------------------------------------

#[test]
fn embeddings_requests() {
    let request = decode_embeddings_request(
        br#"{"input": "The food was delicious and the waiter...", "model": "text-embedding-ada-002", "encoding_format": "float"}"#,
    )
    .unwrap();
    assert_eq!(
        request,
        EmbeddingsRequest {
            model: "text-embedding-ada-002".into(),
            input: vec!["The food was delicious and the waiter...".into()],
            encoding_format: Some("float".into()),
            ..EmbeddingsRequest::default()
        }
    );
    let request = decode_embeddings_request(
        br#"{"input": ["a", "b"], "model": "text-embedding-3-small", "dimensions": 256, "user": "u1"}"#,
    )
    .unwrap();
    assert_eq!(request.input, vec!["a".to_string(), "b".to_string()]);
    assert_eq!(request.dimensions, Some(256));
    assert_eq!(request.user.as_deref(), Some("u1"));
    for tokens in [r#"[1, 2, 3]"#, r#"[[1, 2], [3]]"#] {
        let body = format!(r#"{{"input": {tokens}, "model": "m"}}"#);
        assert!(matches!(
            decode_embeddings_request(body.as_bytes()),
            Err(TranslateError::Unsupported { .. })
        ));
    }

    let encoded = encode_embeddings_request(
        &EmbeddingsRequest {
            model: "ignored".into(),
            input: vec!["hello".into()],
            dimensions: Some(64),
            encoding_format: Some("base64".into()),
            input_type: Some("search_query".into()),
            user: None,
        },
        "text-embedding-3-small",
    )
    .unwrap();
    assert_eq!(
        body_json(&encoded),
        json!({"model": "text-embedding-3-small", "input": ["hello"], "encoding_format": "float", "dimensions": 64})
    );
}

#[test]
fn embeddings_responses() {
    let documented = br#"{
      "object": "list",
      "data": [
        {"object": "embedding", "embedding": [0.0023064255, -0.009327292, -0.0028842222], "index": 0}
      ],
      "model": "text-embedding-ada-002",
      "usage": {"prompt_tokens": 8, "total_tokens": 8}
    }"#;
    let response = decode_embeddings_response(documented).unwrap();
    assert_eq!(
        response,
        EmbeddingsResponse {
            model: "text-embedding-ada-002".into(),
            vectors: vec![vec![0.002_306_425_5, -0.009_327_292, -0.002_884_222_2]],
            input_tokens: 8,
        }
    );

    let two = EmbeddingsResponse {
        model: "m".into(),
        vectors: vec![vec![0.5, -1.25, 3.0], vec![0.1]],
        input_tokens: 3,
    };
    let floats = body_json(&encode_embeddings_response(&two, None));
    assert_eq!(
        floats,
        json!({"object": "list", "data": [
            {"object": "embedding", "index": 0, "embedding": [0.5, -1.25, 3.0]},
            {"object": "embedding", "index": 1, "embedding": [0.1]}
        ], "model": "m", "usage": {"prompt_tokens": 3, "total_tokens": 3}})
    );
    let base64 = encode_embeddings_response(&two, Some("base64"));
    assert!(body_json(&base64)["data"][0]["embedding"].is_string());
    assert_eq!(decode_embeddings_response(&base64).unwrap(), two);

    // Out-of-order data is put back in index order.
    let shuffled = br#"{"object":"list","model":"m","data":[
        {"object":"embedding","index":1,"embedding":[2.0]},
        {"object":"embedding","index":0,"embedding":[1.0]}]}"#;
    assert_eq!(
        decode_embeddings_response(shuffled).unwrap().vectors,
        vec![vec![1.0], vec![2.0]]
    );
}

// ---------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------

/// What OpenAI can carry of a request: no `top_k`, no thinking in assistant turns, no
/// error flag on tool results, no images in tool results (refused), no `cache_control`,
/// reasoning only as an effort; tool results always carry the called function's name.
fn openai_request_shape() -> RequestShape {
    RequestShape {
        tool_results_with_images: false,
        tool_result_names: true,
        ..RequestShape::full()
    }
}

/// The request as it comes back through OpenAI: what the dialect cannot carry removed.
fn normalise_request(mut request: ChatRequest, model: &str) -> ChatRequest {
    request.model = model.to_string();
    request.top_k = None;
    for block in &mut request.system {
        block.cache_control = None;
    }
    for tool in &mut request.tools {
        tool.cache_control = None;
    }
    for message in &mut request.messages {
        message
            .content
            .retain(|part| !matches!(part, Part::Thinking { .. } | Part::RedactedThinking { .. }));
        for part in &mut message.content {
            match part {
                Part::Text(block) => block.cache_control = None,
                Part::ToolResult(result) => result.is_error = false,
                _ => {}
            }
        }
    }
    request.reasoning = request.reasoning.map(|reasoning| Reasoning {
        effort: reasoning.effort().map(str::to_string),
        budget_tokens: None,
    });
    request
}

/// What OpenAI can carry of a response: one text, one thinking text without signature,
/// no redacted thinking, `stop` for every natural end, no cache writes.
fn normalise_response(response: ChatResponse) -> ChatResponse {
    let mut thinking = String::new();
    let mut text = String::new();
    let mut has_text = false;
    let mut calls = Vec::new();
    for part in response.content {
        match part {
            Part::Thinking { text: thought, .. } => thinking.push_str(&thought),
            Part::Text(block) => {
                has_text = true;
                text.push_str(&block.text);
            }
            Part::ToolCall(call) => calls.push(Part::ToolCall(call)),
            _ => {}
        }
    }
    let mut content = Vec::new();
    if !thinking.is_empty() {
        content.push(Part::Thinking {
            text: thinking,
            signature: None,
        });
    }
    if has_text && !text.is_empty() {
        content.push(Part::Text(TextBlock::new(text)));
    }
    content.extend(calls);
    ChatResponse {
        content,
        finish_reason: response.finish_reason.map(normalise_finish),
        stop_sequence: None,
        usage: Usage {
            cache_write_tokens: 0,
            ..response.usage
        },
        ..response
    }
}

fn normalise_finish(reason: FinishReason) -> FinishReason {
    match reason {
        FinishReason::StopSequence | FinishReason::Other(_) => FinishReason::EndTurn,
        other => other,
    }
}

/// What OpenAI can carry of a stream: no signatures or redacted thinking, adjacent text
/// (or thinking) blocks merge, usage is reported once after `Finish` without cache
/// writes, and the open block is closed before an error.
fn normalise_events(events: Vec<StreamEvent>) -> Vec<StreamEvent> {
    #[derive(PartialEq, Clone, Copy)]
    enum Kind {
        Text,
        Thinking,
        Tool,
    }
    let mut out = Vec::new();
    let mut usage: Option<Usage> = None;
    let mut open: Option<(Kind, u32)> = None;
    let mut last_closed: Option<(Kind, u32)> = None;
    let mut next_index = 0;
    let mut skipping = false;
    for event in events {
        match event {
            StreamEvent::BlockStart { block, .. } => {
                let kind = match block {
                    BlockKind::Text => Kind::Text,
                    BlockKind::Thinking => Kind::Thinking,
                    BlockKind::ToolCall { .. } => Kind::Tool,
                    BlockKind::RedactedThinking { .. } => {
                        skipping = true;
                        continue;
                    }
                };
                // A text or thinking block right after one of its kind continues it.
                if let Some((closed_kind, index)) = last_closed
                    && closed_kind == kind
                    && kind != Kind::Tool
                {
                    // Reopen: drop the BlockStop emitted for it.
                    if let Some(position) = out
                        .iter()
                        .rposition(|event| *event == StreamEvent::BlockStop { index })
                    {
                        out.remove(position);
                    }
                    open = Some((kind, index));
                    continue;
                }
                let index = next_index;
                next_index += 1;
                open = Some((kind, index));
                out.push(StreamEvent::BlockStart { index, block });
            }
            StreamEvent::BlockStop { .. } => {
                if skipping {
                    skipping = false;
                    continue;
                }
                if let Some((kind, index)) = open.take() {
                    out.push(StreamEvent::BlockStop { index });
                    last_closed = Some((kind, index));
                }
            }
            StreamEvent::TextDelta { text, .. } => {
                if let Some((_, index)) = open {
                    out.push(StreamEvent::TextDelta { index, text });
                }
            }
            StreamEvent::ThinkingDelta { text, .. } => {
                if let Some((_, index)) = open {
                    out.push(StreamEvent::ThinkingDelta { index, text });
                }
            }
            StreamEvent::ToolArgumentsDelta { json, .. } => {
                if let Some((_, index)) = open {
                    out.push(StreamEvent::ToolArgumentsDelta { index, json });
                }
            }
            StreamEvent::SignatureDelta { .. } => {}
            StreamEvent::Usage(report) => {
                usage.get_or_insert_with(Usage::default).merge(&report);
            }
            StreamEvent::Finish { reason, .. } => {
                out.push(StreamEvent::Finish {
                    reason: normalise_finish(reason),
                    stop_sequence: None,
                });
            }
            StreamEvent::Error(error) => {
                if let Some((_, index)) = open.take() {
                    out.push(StreamEvent::BlockStop { index });
                }
                out.push(StreamEvent::Error(error));
                return out;
            }
            StreamEvent::End => {
                out.push(StreamEvent::Usage(Usage {
                    cache_write_tokens: 0,
                    ..usage.unwrap_or_default()
                }));
                out.push(StreamEvent::End);
            }
            StreamEvent::Start { .. } => out.push(event),
        }
        if !matches!(out.last(), Some(StreamEvent::BlockStop { .. })) {
            last_closed = None;
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn requests_round_trip(request in strategies::chat_request_with(openai_request_shape())) {
        let encoded = encode_request(&request, "gpt-4o").unwrap();
        let mut decoded = decode_request(&encoded.body).unwrap();
        // The gateway's own `stream_options` is the one extra a streamed request gains.
        decoded.extra.remove("stream_options");
        prop_assert_eq!(decoded, normalise_request(request, "gpt-4o"));
    }

    #[test]
    fn responses_round_trip(response in strategies::chat_response()) {
        let decoded = decode_response(&encode_response(&response)).unwrap();
        let mut expected = normalise_response(response);
        if expected.created.is_none() {
            // The encoder fills in the current time.
            prop_assert!(decoded.created.is_some());
            expected.created = decoded.created;
        }
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn streams_round_trip(
        events in strategies::stream_events(),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let bytes = encode_all(&mut OpenAiStreamEncoder::new(true), &events);
        let decoded = decode_stream_split(&bytes, &cuts).unwrap();
        prop_assert_eq!(decoded, normalise_events(events));
    }

    #[test]
    fn streams_without_usage_round_trip(
        events in strategies::stream_events_with(StreamShape {
            usage: UsageShape::minimal(),
            ..StreamShape::minimal()
        }),
    ) {
        let bytes = encode_all(&mut OpenAiStreamEncoder::new(false), &events);
        let decoded = decode_stream(&bytes).unwrap();
        let expected: Vec<StreamEvent> = normalise_events(events)
            .into_iter()
            .filter(|event| !matches!(event, StreamEvent::Usage(_)))
            .collect();
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn minimal_responses_round_trip_exactly(response in strategies::chat_response_with(ResponseShape::minimal())) {
        let decoded = decode_response(&encode_response(&response)).unwrap();
        prop_assert_eq!(decoded, response);
    }
}
