//! The Gemini dialect: fixtures built from the documented examples of the Gemini API and
//! Vertex AI references, and round trips canonical → Gemini → canonical.

#[path = "common/helpers.rs"]
mod helpers;
#[path = "common/strategies.rs"]
mod strategies;

use helpers::{
    assert_invalid_upstream, body_json, decode_at_cuts_partial, encode_all, message,
    unsupported_param,
};
use http::StatusCode;
use proptest::prelude::*;
use serde_json::{Value, json};
use sluice_core::ErrorKind;
use sluice_core::chat::{
    BlockKind, ChatRequest, ChatResponse, EmbeddingsRequest, FinishReason, Image, Message, Part,
    Reasoning, ResponseFormat, Role, StreamEvent, TextBlock, Tool, ToolCall, ToolChoice,
    ToolResult, ToolResultContent, Usage,
};
use sluice_providers::TranslateError;
use sluice_providers::gemini::{self, GeminiStreamDecoder, GeminiStreamEncoder};
use strategies::{RequestShape, ResponseShape, StreamShape, UsageShape};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/tests/fixtures/gemini/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

fn user(content: Vec<Part>) -> Message {
    message(Role::User, content)
}

fn assistant(content: Vec<Part>) -> Message {
    message(Role::Assistant, content)
}

fn text(text: &str) -> Part {
    Part::Text(TextBlock::new(text))
}

fn weather_tool() -> Tool {
    Tool {
        name: "get_current_weather".into(),
        description: Some("Get the current weather".into()),
        parameters: json!({"type": "object", "properties": {"location": {"type": "string"}}}),
        cache_control: None,
    }
}

// ------------------------------------------------------------------------------------
// Requests
// ------------------------------------------------------------------------------------

#[test]
fn documented_request_decodes() {
    let request = gemini::decode_request(&fixture("request.json")).unwrap();
    assert_eq!(
        request.system,
        vec![TextBlock::new("You are a cat. Your name is Neko.")]
    );
    assert_eq!(request.messages.len(), 3);
    assert_eq!(
        request.messages[0].content,
        vec![
            text("What is in this picture, and what is the weather in Boston?"),
            Part::Image(Image::Base64 {
                media_type: "image/jpeg".into(),
                data: "/9j/4AAQSkZJRg==".into()
            }),
            Part::Image(Image::Url("https://example.com/cat.png".into())),
        ]
    );
    assert_eq!(
        request.messages[1],
        assistant(vec![
            Part::Thinking {
                text: "I should look up the weather.".into(),
                signature: None
            },
            Part::Thinking {
                text: String::new(),
                signature: Some("c2lnbmF0dXJl".into())
            },
            Part::ToolCall(ToolCall {
                id: "call_0".into(),
                name: "get_current_weather".into(),
                arguments: r#"{"location":"Boston, MA"}"#.into(),
            }),
        ])
    );
    assert_eq!(
        request.messages[2],
        user(vec![Part::ToolResult(ToolResult {
            call_id: "call_0".into(),
            name: Some("get_current_weather".into()),
            content: vec![ToolResultContent::Text(
                r#"{"temperature":22,"unit":"celsius"}"#.into()
            )],
            is_error: false,
        })])
    );
    assert_eq!(request.tools.len(), 1);
    assert_eq!(request.tools[0].name, "get_current_weather");
    assert_eq!(request.tools[0].parameters["required"], json!(["location"]));
    assert_eq!(
        request.tool_choice,
        Some(ToolChoice::Tool("get_current_weather".into()))
    );
    assert_eq!(request.stop, vec!["Title".to_string()]);
    assert_eq!(request.temperature, Some(1.0));
    assert_eq!(request.max_tokens, Some(800));
    assert_eq!(request.top_p, Some(0.8));
    assert_eq!(request.top_k, Some(10));
    assert_eq!(request.seed, Some(42));
    assert_eq!(request.presence_penalty, Some(0.5));
    assert_eq!(request.frequency_penalty, Some(0.25));
    assert_eq!(
        request.response_format,
        Some(ResponseFormat::JsonSchema {
            name: "response".into(),
            schema: json!({"type": "object", "properties": {"answer": {"type": "string"}}}),
            strict: None,
        })
    );
    assert_eq!(
        request.reasoning,
        Some(Reasoning {
            effort: None,
            budget_tokens: Some(1024)
        })
    );
    // Unknown fields are kept for the raw path: safety settings, and the generation
    // settings without canonical meaning.
    assert!(request.extra.contains_key("safetySettings"));
    assert_eq!(
        request.extra["generationConfig"],
        json!({"responseModalities": ["TEXT"]})
    );
}

#[test]
fn documented_request_encodes_back() {
    let request = gemini::decode_request(&fixture("request.json")).unwrap();
    let encoded = gemini::encode_request(&request, "ignored-model").unwrap();
    let body = body_json(&encoded.body);
    assert!(body.get("model").is_none(), "the model belongs in the URL");
    assert_eq!(
        body["systemInstruction"],
        json!({"parts": [{"text": "You are a cat. Your name is Neko."}]})
    );
    assert_eq!(body["contents"][0]["role"], "user");
    assert_eq!(
        body["contents"][0]["parts"][1],
        json!({"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4AAQSkZJRg=="}})
    );
    assert_eq!(
        body["contents"][0]["parts"][2],
        json!({"fileData": {"mimeType": "image/png", "fileUri": "https://example.com/cat.png"}})
    );
    assert_eq!(body["contents"][1]["role"], "model");
    assert_eq!(
        body["contents"][1]["parts"],
        json!([
            {"text": "I should look up the weather.", "thought": true},
            {"functionCall": {"id": "call_0", "name": "get_current_weather", "args": {"location": "Boston, MA"}},
             "thoughtSignature": "c2lnbmF0dXJl"}
        ])
    );
    assert_eq!(
        body["contents"][2]["parts"][0],
        json!({"functionResponse": {"id": "call_0", "name": "get_current_weather",
               "response": {"output": {"temperature": 22, "unit": "celsius"}}}})
    );
    assert_eq!(
        body["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"]["required"],
        json!(["location"])
    );
    assert_eq!(
        body["toolConfig"],
        json!({"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_current_weather"]}})
    );
    let config = &body["generationConfig"];
    assert_eq!(config["maxOutputTokens"], 800);
    assert_eq!(config["temperature"], 1.0);
    assert_eq!(config["topP"], 0.8);
    assert_eq!(config["topK"], 10);
    assert_eq!(config["stopSequences"], json!(["Title"]));
    assert_eq!(config["seed"], 42);
    assert_eq!(config["presencePenalty"], 0.5);
    assert_eq!(config["frequencyPenalty"], 0.25);
    assert_eq!(config["responseMimeType"], "application/json");
    assert_eq!(config["responseJsonSchema"]["type"], "object");
    assert_eq!(
        config["thinkingConfig"],
        json!({"thinkingBudget": 1024, "includeThoughts": true})
    );
    let mut dropped = encoded.dropped.clone();
    dropped.sort();
    assert_eq!(dropped, vec!["generationConfig", "safetySettings"]);
}

#[test]
fn tool_results_find_the_name_of_their_call() {
    let request = ChatRequest {
        tools: vec![weather_tool()],
        messages: vec![
            user(vec![text("Weather in Paris?")]),
            assistant(vec![Part::ToolCall(ToolCall {
                id: "call_abc".into(),
                name: "get_current_weather".into(),
                arguments: r#"{"location":"Paris"}"#.into(),
            })]),
            user(vec![
                Part::ToolResult(ToolResult {
                    call_id: "call_abc".into(),
                    name: None,
                    content: vec![ToolResultContent::Text("sunny".into())],
                    is_error: false,
                }),
                text("Thanks"),
            ]),
        ],
        ..ChatRequest::default()
    };
    let body = body_json(&gemini::encode_request(&request, "m").unwrap().body);
    assert_eq!(
        body["contents"][2]["parts"][0],
        json!({"functionResponse": {"id": "call_abc", "name": "get_current_weather",
               "response": {"output": "sunny"}}})
    );

    let mut failed = request.clone();
    failed.messages[2].content[0] = Part::ToolResult(ToolResult {
        call_id: "call_unknown".into(),
        name: None,
        content: vec![ToolResultContent::Text("oops".into())],
        is_error: true,
    });
    assert!(matches!(
        gemini::encode_request(&failed, "m"),
        Err(TranslateError::InvalidRequest { .. })
    ));

    let mut errored = request;
    if let Part::ToolResult(result) = &mut errored.messages[2].content[0] {
        result.is_error = true;
        result.content = vec![ToolResultContent::Text("no such city".into())];
    }
    let body = body_json(&gemini::encode_request(&errored, "m").unwrap().body);
    assert_eq!(
        body["contents"][2]["parts"][0]["functionResponse"]["response"],
        json!({"error": "no such city"})
    );
}

#[test]
fn id_less_function_responses_pair_with_calls_by_name() {
    let body = json!({"contents": [
        {"role": "user", "parts": [{"text": "hi"}]},
        {"role": "model", "parts": [
            {"functionCall": {"name": "a", "args": {}}},
            {"functionCall": {"name": "b", "args": {"x": 1}}}
        ]},
        {"role": "user", "parts": [
            {"functionResponse": {"name": "b", "response": {"error": "bad"}}},
            {"functionResponse": {"name": "a", "response": {"value": 3}}}
        ]}
    ]});
    let request = gemini::decode_request(body.to_string().as_bytes()).unwrap();
    let Part::ToolResult(first) = &request.messages[2].content[0] else {
        panic!("not a tool result")
    };
    let Part::ToolResult(second) = &request.messages[2].content[1] else {
        panic!("not a tool result")
    };
    assert_eq!(first.call_id, "call_1");
    assert!(first.is_error);
    assert_eq!(first.text(), "bad");
    assert_eq!(second.call_id, "call_0");
    assert_eq!(second.text(), r#"{"value":3}"#);
}

#[test]
fn parameters_without_a_gemini_place_are_dropped_or_refused() {
    let mut request = ChatRequest {
        messages: vec![user(vec![Part::Text(TextBlock {
            text: "hi".into(),
            cache_control: Some(sluice_core::chat::CacheControl(
                json!({"type": "ephemeral"}),
            )),
        })])],
        tools: vec![weather_tool()],
        parallel_tool_calls: Some(false),
        user: Some("user-1".into()),
        ..ChatRequest::default()
    };
    request.extra.insert("logit_bias".into(), json!({}));
    let encoded = gemini::encode_request(&request, "m").unwrap();
    let mut dropped = encoded.dropped;
    dropped.sort();
    assert_eq!(
        dropped,
        vec!["cache_control", "logit_bias", "parallel_tool_calls", "user"]
    );

    let gif = ChatRequest {
        messages: vec![user(vec![Part::Image(Image::Url(
            "https://example.com/a.gif".into(),
        ))])],
        ..ChatRequest::default()
    };
    assert_eq!(
        unsupported_param(gemini::encode_request(&gif, "m")),
        "image_url"
    );
    let jpeg = ChatRequest {
        messages: vec![user(vec![Part::Image(Image::Url(
            "https://example.com/photo.JPG?size=large".into(),
        ))])],
        ..ChatRequest::default()
    };
    let body = body_json(&gemini::encode_request(&jpeg, "m").unwrap().body);
    assert_eq!(
        body["contents"][0]["parts"][0]["fileData"]["mimeType"],
        "image/jpeg"
    );

    let redacted = ChatRequest {
        messages: vec![
            user(vec![text("hi")]),
            assistant(vec![
                Part::RedactedThinking { data: "xyz".into() },
                text("hello"),
            ]),
            user(vec![text("again")]),
        ],
        ..ChatRequest::default()
    };
    let encoded = gemini::encode_request(&redacted, "m").unwrap();
    assert_eq!(encoded.dropped, vec!["redacted_thinking"]);
    assert_eq!(
        body_json(&encoded.body)["contents"][1]["parts"],
        json!([{"text": "hello"}])
    );

    let odd_effort = ChatRequest {
        messages: vec![user(vec![text("hi")])],
        reasoning: Some(Reasoning {
            effort: Some("extreme".into()),
            budget_tokens: None,
        }),
        ..ChatRequest::default()
    };
    assert!(matches!(
        gemini::encode_request(&odd_effort, "m"),
        Err(TranslateError::Unsupported { .. })
    ));
}

#[test]
fn image_urls_with_a_known_type_round_trip() {
    let request = ChatRequest {
        messages: vec![user(vec![
            Part::Image(Image::Url("https://example.com/a.png".into())),
            Part::Image(Image::Url("gs://bucket/b.webp".into())),
            text("Compare them."),
        ])],
        ..ChatRequest::default()
    };
    let encoded = gemini::encode_request(&request, "m").unwrap();
    let parts = &body_json(&encoded.body)["contents"][0]["parts"];
    assert_eq!(parts[1]["fileData"]["mimeType"], "image/webp");
    assert_eq!(gemini::decode_request(&encoded.body).unwrap(), request);
}

#[test]
fn tool_choice_and_reasoning_map_to_gemini_settings() {
    let base = ChatRequest {
        messages: vec![user(vec![text("hi")])],
        tools: vec![weather_tool()],
        ..ChatRequest::default()
    };
    for (choice, expected) in [
        (ToolChoice::Auto, json!({"mode": "AUTO"})),
        (ToolChoice::None, json!({"mode": "NONE"})),
        (ToolChoice::Required, json!({"mode": "ANY"})),
        (
            ToolChoice::Tool("get_current_weather".into()),
            json!({"mode": "ANY", "allowedFunctionNames": ["get_current_weather"]}),
        ),
    ] {
        let request = ChatRequest {
            tool_choice: Some(choice),
            ..base.clone()
        };
        let body = body_json(&gemini::encode_request(&request, "m").unwrap().body);
        assert_eq!(body["toolConfig"]["functionCallingConfig"], expected);
    }

    let request = ChatRequest {
        reasoning: Some(Reasoning {
            effort: Some("medium".into()),
            budget_tokens: None,
        }),
        response_format: Some(ResponseFormat::JsonObject),
        ..base
    };
    let body = body_json(&gemini::encode_request(&request, "m").unwrap().body);
    assert_eq!(
        body["generationConfig"]["thinkingConfig"],
        json!({"thinkingBudget": 4096, "includeThoughts": true})
    );
    assert_eq!(
        body["generationConfig"]["responseMimeType"],
        "application/json"
    );
    assert!(body["generationConfig"].get("responseJsonSchema").is_none());
}

#[test]
fn count_tokens_bodies() {
    let plain = ChatRequest {
        model: "gemini-2.5-flash".into(),
        messages: vec![user(vec![text("The quick brown fox")])],
        ..ChatRequest::default()
    };
    assert_eq!(
        body_json(&gemini::encode_count_tokens_request(&plain).unwrap()),
        json!({"contents": [{"role": "user", "parts": [{"text": "The quick brown fox"}]}]})
    );
    let with_system = ChatRequest {
        system: vec![TextBlock::new("Be brief.")],
        tools: vec![weather_tool()],
        ..plain
    };
    let body = body_json(&gemini::encode_count_tokens_request(&with_system).unwrap());
    let inner = &body["generateContentRequest"];
    assert_eq!(inner["model"], "models/gemini-2.5-flash");
    assert_eq!(inner["systemInstruction"]["parts"][0]["text"], "Be brief.");
    assert!(inner["tools"].is_array());
    assert!(body.get("contents").is_none());

    let vertex = body_json(&gemini::encode_vertex_count_tokens_request(&with_system).unwrap());
    assert!(vertex["contents"].is_array());
    assert_eq!(vertex["systemInstruction"]["parts"][0]["text"], "Be brief.");
    assert!(vertex["tools"].is_array());

    assert_eq!(
        gemini::decode_count_tokens_response(br#"{"totalTokens": 31, "promptTokensDetails": []}"#)
            .unwrap(),
        31
    );
    assert!(gemini::decode_count_tokens_response(b"oops").is_err());
}

// ------------------------------------------------------------------------------------
// Responses
// ------------------------------------------------------------------------------------

#[test]
fn documented_response_decodes() {
    let response = gemini::decode_response(&fixture("response_text.json")).unwrap();
    assert_eq!(response.id, "mAitaLmkHPPlz7IPvtfUqQ4");
    assert_eq!(response.model, "gemini-2.5-flash");
    assert_eq!(
        response.content,
        vec![
            Part::Thinking {
                text: "The user asks about a cat.".into(),
                signature: None
            },
            text(
                "In a quiet town nestled among rolling hills, lived a curious cat named Whiskers."
            ),
        ]
    );
    assert_eq!(response.finish_reason, Some(FinishReason::EndTurn));
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 8,
            output_tokens: 32,
            cached_input_tokens: 4,
            cache_write_tokens: 0,
            reasoning_tokens: 12,
        }
    );
}

#[test]
fn function_call_response_decodes_with_made_up_ids() {
    let response = gemini::decode_response(&fixture("response_function_call.json")).unwrap();
    assert_eq!(
        response.content,
        vec![
            Part::Thinking {
                text: String::new(),
                signature: Some("Q2lRQlZLaEc=".into())
            },
            Part::ToolCall(ToolCall {
                id: "call_resp-fc-1_0".into(),
                name: "set_light_values".into(),
                arguments: r#"{"brightness":25,"color_temp":"warm"}"#.into(),
            }),
            Part::ToolCall(ToolCall {
                id: "call_resp-fc-1_1".into(),
                name: "get_time".into(),
                arguments: "{}".into(),
            }),
        ]
    );
    assert_eq!(response.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(response.usage.input_tokens, 100);
    assert_eq!(response.usage.output_tokens, 20);

    // Encoding puts the signature back on the call it came with.
    let body = body_json(&gemini::encode_response(&response));
    assert_eq!(
        body["candidates"][0]["content"]["parts"][0],
        json!({"functionCall": {"id": "call_resp-fc-1_0", "name": "set_light_values",
               "args": {"brightness": 25, "color_temp": "warm"}},
               "thoughtSignature": "Q2lRQlZLaEc="})
    );
    assert_eq!(body["candidates"][0]["finishReason"], "STOP");
}

#[test]
fn blocked_prompt_is_a_content_filter_answer() {
    let response = gemini::decode_response(&fixture("response_blocked.json")).unwrap();
    assert_eq!(response.finish_reason, Some(FinishReason::ContentFilter));
    assert!(response.content.is_empty());
    assert_eq!(response.usage.input_tokens, 7);
    assert!(gemini::decode_response(br#"{"candidates": []}"#).is_err());
    assert!(gemini::decode_response(b"<html>").is_err());
}

#[test]
fn finish_reasons_map_both_ways() {
    for (wire, expected) in [
        ("MAX_TOKENS", FinishReason::MaxTokens),
        ("SAFETY", FinishReason::ContentFilter),
        ("RECITATION", FinishReason::ContentFilter),
        ("BLOCKLIST", FinishReason::ContentFilter),
        ("PROHIBITED_CONTENT", FinishReason::ContentFilter),
        ("SPII", FinishReason::ContentFilter),
        (
            "MALFORMED_FUNCTION_CALL",
            FinishReason::Other("MALFORMED_FUNCTION_CALL".into()),
        ),
    ] {
        let body = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "x"}]}, "finishReason": wire}]});
        let response = gemini::decode_response(body.to_string().as_bytes()).unwrap();
        assert_eq!(response.finish_reason, Some(expected.clone()), "{wire}");
        let encoded = body_json(&gemini::encode_response(&response));
        let back = if expected == FinishReason::ContentFilter {
            "SAFETY"
        } else {
            wire
        };
        assert_eq!(encoded["candidates"][0]["finishReason"], back);
    }
}

// ------------------------------------------------------------------------------------
// Streams
// ------------------------------------------------------------------------------------

/// Decodes a stream cut at `cuts`, returning the events so far and the first error.
fn decode_in_pieces(
    bytes: &[u8],
    cuts: &[usize],
) -> (Vec<StreamEvent>, Result<(), TranslateError>) {
    decode_at_cuts_partial(GeminiStreamDecoder::new(), bytes, cuts)
}

fn decode_bytewise(bytes: &[u8]) -> (Vec<StreamEvent>, Result<(), TranslateError>) {
    let cuts: Vec<usize> = (1..bytes.len()).collect();
    decode_in_pieces(bytes, &cuts)
}

fn text_stream_events() -> Vec<StreamEvent> {
    vec![
        StreamEvent::Start {
            id: "stream-1".into(),
            model: "gemini-2.5-flash".into(),
        },
        StreamEvent::BlockStart {
            index: 0,
            block: BlockKind::Thinking,
        },
        StreamEvent::ThinkingDelta {
            index: 0,
            text: "Let me think.".into(),
        },
        StreamEvent::BlockStop { index: 0 },
        StreamEvent::BlockStart {
            index: 1,
            block: BlockKind::Text,
        },
        StreamEvent::TextDelta {
            index: 1,
            text: "Once upon".into(),
        },
        StreamEvent::TextDelta {
            index: 1,
            text: " a time, there was a magic backpack.".into(),
        },
        StreamEvent::BlockStop { index: 1 },
        StreamEvent::Finish {
            reason: FinishReason::EndTurn,
            stop_sequence: None,
        },
        StreamEvent::Usage(Usage {
            input_tokens: 9,
            output_tokens: 32,
            reasoning_tokens: 20,
            ..Usage::default()
        }),
        StreamEvent::End,
    ]
}

#[test]
fn documented_text_stream_decodes_in_any_split() {
    let bytes = fixture("stream_text.sse");
    let (events, result) = decode_bytewise(&bytes);
    result.unwrap();
    assert_eq!(events, text_stream_events());
    let (events, result) = decode_in_pieces(&bytes, &[]);
    result.unwrap();
    assert_eq!(events, text_stream_events());
}

#[test]
fn function_call_stream_decodes() {
    let (events, result) = decode_bytewise(&fixture("stream_function_call.sse"));
    result.unwrap();
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: "stream-2".into(),
                model: "gemini-2.5-flash".into()
            },
            StreamEvent::BlockStart {
                index: 0,
                block: BlockKind::Text
            },
            StreamEvent::TextDelta {
                index: 0,
                text: "Checking the weather.".into()
            },
            StreamEvent::BlockStop { index: 0 },
            StreamEvent::BlockStart {
                index: 1,
                block: BlockKind::Thinking
            },
            StreamEvent::SignatureDelta {
                index: 1,
                signature: "c2ln".into()
            },
            StreamEvent::BlockStop { index: 1 },
            StreamEvent::BlockStart {
                index: 2,
                block: BlockKind::ToolCall {
                    id: "call_stream-2_0".into(),
                    name: "get_current_weather".into()
                }
            },
            StreamEvent::ToolArgumentsDelta {
                index: 2,
                json: r#"{"location":"Boston, MA"}"#.into()
            },
            StreamEvent::BlockStop { index: 2 },
            StreamEvent::Finish {
                reason: FinishReason::ToolCalls,
                stop_sequence: None
            },
            StreamEvent::Usage(Usage {
                input_tokens: 30,
                output_tokens: 8,
                ..Usage::default()
            }),
            StreamEvent::End,
        ]
    );
}

#[test]
fn error_chunk_ends_the_stream() {
    let (events, result) = decode_bytewise(&fixture("stream_error.sse"));
    result.unwrap();
    assert_eq!(events.len(), 5, "{events:?}");
    let Some(StreamEvent::Error(error)) = events.last() else {
        panic!("no error event: {events:?}")
    };
    assert_eq!(error.kind, ErrorKind::Overloaded);
    assert_eq!(
        error.message,
        "The model is overloaded. Please try again later."
    );
    assert_eq!(events[3], StreamEvent::BlockStop { index: 0 });
}

#[test]
fn a_stream_cut_before_its_finish_reason_is_an_error() {
    let bytes = fixture("stream_text.sse");
    let text = String::from_utf8(bytes).unwrap();
    let cut = text.rfind("data:").unwrap();
    let (events, result) = decode_in_pieces(&text.as_bytes()[..cut], &[7, 300]);
    assert_invalid_upstream(result);
    assert!(!events.contains(&StreamEvent::End));

    let (_, result) = decode_in_pieces(b"data: {not json}\n\n", &[]);
    assert_invalid_upstream(result);
}

#[test]
fn a_blocked_prompt_in_a_stream_finishes_with_content_filter() {
    let chunk = json!({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
                       "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5},
                       "modelVersion": "gemini-2.5-flash", "responseId": "blocked"});
    let bytes = format!("data: {chunk}\r\n\r\n");
    let (events, result) = decode_in_pieces(bytes.as_bytes(), &[]);
    result.unwrap();
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: "blocked".into(),
                model: "gemini-2.5-flash".into()
            },
            StreamEvent::Finish {
                reason: FinishReason::ContentFilter,
                stop_sequence: None
            },
            StreamEvent::Usage(Usage {
                input_tokens: 5,
                ..Usage::default()
            }),
            StreamEvent::End,
        ]
    );
}

#[test]
fn encoder_writes_gemini_chunks() {
    let out = encode_all(&mut GeminiStreamEncoder::new(), &text_stream_events());
    let text = String::from_utf8(out.to_vec()).unwrap();
    let chunks: Vec<Value> = text
        .split("\n\n")
        .filter_map(|event| event.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect();
    assert_eq!(chunks.len(), 4);
    assert_eq!(
        chunks[0]["candidates"][0]["content"]["parts"][0],
        json!({"text": "Let me think.", "thought": true})
    );
    assert_eq!(chunks[1]["responseId"], "stream-1");
    let last = &chunks[3];
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["promptTokenCount"], 9);
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 12);
    assert_eq!(last["usageMetadata"]["thoughtsTokenCount"], 20);
    assert_eq!(last["usageMetadata"]["totalTokenCount"], 41);
}

// ------------------------------------------------------------------------------------
// Errors
// ------------------------------------------------------------------------------------

#[test]
fn documented_errors_decode() {
    let error = gemini::decode_error(
        StatusCode::BAD_REQUEST,
        &fixture("error_invalid_argument.json"),
    );
    assert_eq!(error.kind, ErrorKind::InvalidRequest);
    assert_eq!(
        error.message,
        "API key not valid. Please pass a valid API key."
    );

    let error = gemini::decode_error(StatusCode::BAD_REQUEST, &fixture("error_context.json"));
    assert_eq!(error.kind, ErrorKind::ContextTooLong);

    let error = gemini::decode_error(
        StatusCode::TOO_MANY_REQUESTS,
        &fixture("error_rate_limit.json"),
    );
    assert_eq!(error.kind, ErrorKind::RateLimited);
    assert_eq!(error.status(), StatusCode::TOO_MANY_REQUESTS);

    let error = gemini::decode_error(
        StatusCode::GATEWAY_TIMEOUT,
        &fixture("error_vertex_array.json"),
    );
    assert_eq!(error.kind, ErrorKind::ProviderError);
    assert_eq!(error.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(error.message, "The request timed out. Please try again.");

    for (status, google, kind) in [
        (401, "UNAUTHENTICATED", ErrorKind::Authentication),
        (403, "PERMISSION_DENIED", ErrorKind::PermissionDenied),
        (404, "NOT_FOUND", ErrorKind::NotFound),
        (503, "UNAVAILABLE", ErrorKind::Overloaded),
        (500, "INTERNAL", ErrorKind::ProviderError),
        (400, "FAILED_PRECONDITION", ErrorKind::InvalidRequest),
    ] {
        let body = json!({"error": {"code": status, "message": "it failed", "status": google}});
        let status = StatusCode::from_u16(status).unwrap();
        let error = gemini::decode_error(status, body.to_string().as_bytes());
        assert_eq!(error.kind, kind, "{google}");
        assert_eq!(error.status(), status, "{google}");
        assert_eq!(error.message, "it failed");
    }

    let body = json!({"error": {"code": 404, "message": "models/gemini-9 is not found for API version v1beta", "status": "NOT_FOUND"}});
    let error = gemini::decode_error(StatusCode::NOT_FOUND, body.to_string().as_bytes());
    assert_eq!(error.kind, ErrorKind::ModelNotFound);

    let error = gemini::decode_error(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>");
    assert_eq!(error.kind, ErrorKind::ProviderError);
    assert_eq!(error.status(), StatusCode::BAD_GATEWAY);
    assert!(error.message.contains("bad gateway"));
}

// ------------------------------------------------------------------------------------
// Embeddings
// ------------------------------------------------------------------------------------

#[test]
fn embeddings_requests_and_answers() {
    let request = EmbeddingsRequest {
        model: "text-embedding-004".into(),
        input: vec!["What is the meaning of life?".into(), "How are you?".into()],
        dimensions: Some(256),
        input_type: Some("search_query".into()),
        user: Some("u".into()),
        ..EmbeddingsRequest::default()
    };
    let encoded = gemini::encode_embeddings_request(&request, "text-embedding-004").unwrap();
    assert_eq!(encoded.dropped, vec!["user"]);
    assert_eq!(
        body_json(&encoded.body),
        json!({"requests": [
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "What is the meaning of life?"}]},
             "taskType": "RETRIEVAL_QUERY", "outputDimensionality": 256},
            {"model": "models/text-embedding-004", "content": {"parts": [{"text": "How are you?"}]},
             "taskType": "RETRIEVAL_QUERY", "outputDimensionality": 256}
        ]})
    );
    let response =
        gemini::decode_embeddings_response(&fixture("embeddings_response.json")).unwrap();
    assert_eq!(response.vectors.len(), 2);
    assert_eq!(response.vectors[1], vec![0.5, -0.25, 0.125]);

    let vertex = gemini::encode_vertex_embeddings_request(&EmbeddingsRequest {
        input_type: Some("search_document".into()),
        ..request.clone()
    })
    .unwrap();
    assert_eq!(
        body_json(&vertex.body),
        json!({
            "instances": [
                {"content": "What is the meaning of life?", "task_type": "RETRIEVAL_DOCUMENT"},
                {"content": "How are you?", "task_type": "RETRIEVAL_DOCUMENT"}
            ],
            "parameters": {"outputDimensionality": 256}
        })
    );
    let response =
        gemini::decode_vertex_embeddings_response(&fixture("vertex_embeddings_response.json"))
            .unwrap();
    assert_eq!(response.input_tokens, 10);
    assert_eq!(response.vectors[0], vec![0.0233, -0.0211, 0.0412]);

    let odd = EmbeddingsRequest {
        input_type: Some("whatever".into()),
        user: None,
        ..request
    };
    let encoded = gemini::encode_embeddings_request(&odd, "models/text-embedding-004").unwrap();
    assert_eq!(encoded.dropped, vec!["input_type"]);
    assert!(
        body_json(&encoded.body)["requests"][0]
            .get("taskType")
            .is_none()
    );
    assert!(gemini::encode_embeddings_request(&EmbeddingsRequest::default(), "m").is_err());
}

// ------------------------------------------------------------------------------------
// Vertex service-account auth
// ------------------------------------------------------------------------------------

mod vertex_auth {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ring::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
    use serde_json::{Value, json};
    use sluice_providers::gemini::vertex_auth::{AuthError, ServiceAccount, parse_token_response};

    use super::fixture;

    fn key_file() -> String {
        String::from_utf8(fixture("TEST_ONLY_service_account_key.json")).unwrap()
    }

    #[test]
    fn token_request_carries_a_verifiable_rs256_jwt() {
        let account = ServiceAccount::from_json(&key_file()).unwrap();
        assert_eq!(account.token_uri(), "https://oauth2.googleapis.com/token");
        assert_eq!(account.project_id(), Some("sluice-test-project"));

        let body = account.token_request_body(1_700_000_000).unwrap();
        let assertion = body
            .strip_prefix(
                "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=",
            )
            .unwrap();
        let pieces: Vec<&str> = assertion.split('.').collect();
        assert_eq!(pieces.len(), 3);
        let decode = |piece: &str| -> Value {
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(piece).unwrap()).unwrap()
        };
        assert_eq!(
            decode(pieces[0]),
            json!({"alg": "RS256", "typ": "JWT", "kid": "0123456789abcdef0123456789abcdef01234567"})
        );
        assert_eq!(
            decode(pieces[1]),
            json!({
                "iss": "sluice-test@sluice-test-project.iam.gserviceaccount.com",
                "scope": "https://www.googleapis.com/auth/cloud-platform",
                "aud": "https://oauth2.googleapis.com/token",
                "iat": 1_700_000_000u64,
                "exp": 1_700_003_600u64,
            })
        );
        let signature = URL_SAFE_NO_PAD.decode(pieces[2]).unwrap();
        let public_key = fixture("TEST_ONLY_service_account_public_key.der");
        let signed = format!("{}.{}", pieces[0], pieces[1]);
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &public_key)
            .verify(signed.as_bytes(), &signature)
            .expect("the JWT signature verifies with the test key's public half");
        // A different message must not verify.
        assert!(
            UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &public_key)
                .verify(b"tampered", &signature)
                .is_err()
        );
    }

    #[test]
    fn key_material_never_shows() {
        let file = key_file();
        let account = ServiceAccount::from_json(&file).unwrap();
        let debug = format!("{account:?}");
        assert!(debug.contains("sluice-test@"));
        assert!(!debug.contains("PRIVATE KEY"));

        let mut broken: Value = serde_json::from_str(&file).unwrap();
        broken["private_key"] = json!(
            "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA\n-----END PRIVATE KEY-----\n"
        );
        let error = ServiceAccount::from_json(&broken.to_string()).unwrap_err();
        assert!(matches!(error, AuthError::InvalidPrivateKey(_)));
        assert!(!error.to_string().contains("MIIB"));
        assert!(!format!("{error:?}").contains("MIIB"));

        let mut user_key: Value = serde_json::from_str(&file).unwrap();
        user_key["type"] = json!("authorized_user");
        assert!(matches!(
            ServiceAccount::from_json(&user_key.to_string()),
            Err(AuthError::NotServiceAccount(_))
        ));
        let mut missing: Value = serde_json::from_str(&file).unwrap();
        missing.as_object_mut().unwrap().remove("client_email");
        assert!(matches!(
            ServiceAccount::from_json(&missing.to_string()),
            Err(AuthError::MissingField("client_email"))
        ));
    }

    #[test]
    fn token_answers() {
        let token = parse_token_response(
            br#"{"access_token":"ya29.secret-token","expires_in":3599,"token_type":"Bearer"}"#,
        )
        .unwrap();
        assert_eq!(token.access_token, "ya29.secret-token");
        assert_eq!(token.expires_in, 3599);
        assert!(!format!("{token:?}").contains("ya29"));

        let refused = parse_token_response(
            br#"{"error":"invalid_grant","error_description":"Invalid JWT Signature."}"#,
        )
        .unwrap_err();
        assert!(
            matches!(refused, AuthError::TokenRejected { ref error, .. } if error == "invalid_grant")
        );
        assert!(parse_token_response(b"{}").is_err());
        assert!(parse_token_response(b"nope").is_err());
    }
}

// ------------------------------------------------------------------------------------
// Round trips: canonical → Gemini → canonical
// ------------------------------------------------------------------------------------

/// JSON text as Gemini gives it back (parsed and written compactly), other text as is.
fn as_gemini_returns_json(text: &str) -> String {
    match serde_json::from_str::<Value>(text) {
        Ok(value @ (Value::Object(_) | Value::Array(_))) => value.to_string(),
        _ => text.to_string(),
    }
}

/// What the request keeps through Gemini. Gemini cannot carry: the model (URL), `stream`
/// (URL), a tool result's parts as separate texts (one `output` value), the schema's
/// `name` and `strict`, a reasoning effort (sent as its budget).
fn request_as_gemini_keeps_it(mut request: ChatRequest) -> ChatRequest {
    request.model = String::new();
    request.stream = false;
    let mut names = std::collections::HashMap::new();
    for message in &mut request.messages {
        for part in &mut message.content {
            match part {
                Part::ToolCall(call) => {
                    names.insert(call.id.clone(), call.name.clone());
                    call.arguments = as_gemini_returns_json(&call.arguments);
                }
                Part::ToolResult(result) => {
                    if result.name.is_none() {
                        result.name = names.get(&result.call_id).cloned();
                    }
                    let joined = as_gemini_returns_json(&result.text());
                    let images = result
                        .content
                        .iter()
                        .filter(|part| matches!(part, ToolResultContent::Image(_)))
                        .cloned();
                    let mut content = Vec::new();
                    if !joined.is_empty() {
                        content.push(ToolResultContent::Text(joined));
                    }
                    content.extend(images);
                    result.content = content;
                }
                _ => {}
            }
        }
    }
    if let Some(ResponseFormat::JsonSchema { name, strict, .. }) = &mut request.response_format {
        *name = "response".into();
        *strict = None;
    }
    if let Some(reasoning) = &mut request.reasoning {
        *reasoning = Reasoning {
            effort: None,
            budget_tokens: reasoning.budget(),
        };
    }
    request
}

/// Gemini's finish reasons: a stop sequence is reported as `STOP`, and another provider's
/// reason name (`pause_turn`) as `OTHER`.
fn finish_as_gemini_keeps_it(reason: FinishReason) -> FinishReason {
    match reason {
        FinishReason::StopSequence => FinishReason::EndTurn,
        FinishReason::Other(name)
            if !name
                .bytes()
                .all(|byte| byte.is_ascii_uppercase() || byte == b'_') =>
        {
            FinishReason::Other("OTHER".into())
        }
        other => other,
    }
}

/// Gemini has no `created`, no stop-sequence text.
fn response_as_gemini_keeps_it(mut response: ChatResponse) -> ChatResponse {
    response.created = None;
    response.stop_sequence = None;
    response.finish_reason = response.finish_reason.map(finish_as_gemini_keeps_it);
    for part in &mut response.content {
        if let Part::ToolCall(call) = part {
            call.arguments = as_gemini_returns_json(&call.arguments);
        }
    }
    response
}

/// What a canonical stream looks like after a trip through a Gemini stream: tool-call
/// arguments arrive whole; usage arrives once, after `Finish`, as the latest counts;
/// a tool call still open when an error cut the stream never reached the wire, and a
/// text block still open is closed before the error.
fn stream_as_gemini_keeps_it(events: Vec<StreamEvent>) -> Vec<StreamEvent> {
    let mut kept = Vec::new();
    let mut usage: Option<Usage> = None;
    let mut open_tool: Option<(StreamEvent, String)> = None;
    let mut open_other: Option<u32> = None;
    let mut content_before_error = false;
    for event in events {
        match event {
            StreamEvent::BlockStart {
                block: BlockKind::ToolCall { .. },
                ..
            } => open_tool = Some((event, String::new())),
            StreamEvent::ToolArgumentsDelta { json, .. } => {
                if let Some((_, arguments)) = &mut open_tool {
                    arguments.push_str(&json);
                }
            }
            StreamEvent::BlockStop { index } => {
                if let Some((start, arguments)) = open_tool.take() {
                    kept.push(start);
                    kept.push(StreamEvent::ToolArgumentsDelta {
                        index,
                        json: as_gemini_returns_json(&arguments),
                    });
                }
                open_other = None;
                kept.push(StreamEvent::BlockStop { index });
                content_before_error = true;
            }
            StreamEvent::BlockStart { index, .. } => {
                open_other = Some(index);
                kept.push(event);
            }
            StreamEvent::TextDelta { .. } | StreamEvent::ThinkingDelta { .. } => {
                content_before_error = true;
                kept.push(event);
            }
            StreamEvent::Usage(reported) => {
                usage.get_or_insert_with(Usage::default).merge(&reported);
            }
            StreamEvent::Finish { reason, .. } => kept.push(StreamEvent::Finish {
                reason: finish_as_gemini_keeps_it(reason),
                stop_sequence: None,
            }),
            StreamEvent::End => {
                if let Some(usage) = usage.take() {
                    kept.push(StreamEvent::Usage(usage));
                }
                kept.push(StreamEvent::End);
            }
            StreamEvent::Error(_) => {
                if let Some(index) = open_other.take() {
                    kept.push(StreamEvent::BlockStop { index });
                }
                if !content_before_error {
                    // The error was the first chunk on the wire: no `Start` came before.
                    kept.retain(|event| !matches!(event, StreamEvent::Start { .. }));
                }
                kept.push(event);
            }
            other => kept.push(other),
        }
    }
    kept
}

fn request_shape() -> RequestShape {
    RequestShape {
        // URL images need a Gemini image type (gif has none): tested apart.
        base64_images_only: true,
        // Dropped by rule (tested apart).
        redacted_thinking: false,
        cache_control: false,
        parallel_tool_calls: false,
        user: false,
        ..RequestShape::full()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn requests_round_trip(request in strategies::chat_request_with(request_shape())) {
        let encoded = gemini::encode_request(&request, "model").unwrap();
        prop_assert!(encoded.dropped.is_empty(), "dropped {:?}", encoded.dropped);
        let decoded = gemini::decode_request(&encoded.body).unwrap();
        prop_assert_eq!(decoded, request_as_gemini_keeps_it(request));
    }

    #[test]
    fn documented_streams_decode_in_random_splits(
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let (events, result) = decode_in_pieces(&fixture("stream_text.sse"), &cuts);
        prop_assert!(result.is_ok());
        prop_assert_eq!(events, text_stream_events());
        let whole = decode_in_pieces(&fixture("stream_function_call.sse"), &[]);
        let split = decode_in_pieces(&fixture("stream_function_call.sse"), &cuts);
        prop_assert_eq!(split.0, whole.0);
        prop_assert!(split.1.is_ok());
    }

    #[test]
    fn requests_with_nameless_tool_results_round_trip(request in strategies::chat_request_with(RequestShape {
        tool_result_names: false,
        ..request_shape()
    })) {
        let encoded = gemini::encode_request(&request, "model").unwrap();
        let decoded = gemini::decode_request(&encoded.body).unwrap();
        prop_assert_eq!(decoded, request_as_gemini_keeps_it(request));
    }

    #[test]
    fn responses_round_trip(response in strategies::chat_response_with(ResponseShape {
        redacted_thinking: false,
        usage: UsageShape { cache_write: false, ..UsageShape::full() },
        ..ResponseShape::full()
    })) {
        let decoded = gemini::decode_response(&gemini::encode_response(&response)).unwrap();
        prop_assert_eq!(decoded, response_as_gemini_keeps_it(response));
    }

    #[test]
    fn streams_round_trip(
        events in strategies::stream_events_with(StreamShape {
            redacted_thinking: false,
            // Gemini chunks of one kind extend one block.
            adjacent_same_kind: false,
            usage: UsageShape { cache_write: false, ..UsageShape::full() },
            ..StreamShape::full()
        }),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let bytes = encode_all(&mut GeminiStreamEncoder::new(), &events);
        let (decoded, result) = decode_in_pieces(&bytes, &cuts);
        prop_assert!(result.is_ok(), "{:?}", result);
        prop_assert_eq!(decoded, stream_as_gemini_keeps_it(events));
    }
}
