//! The Cohere dialect: fixtures built from the documented examples of the API reference
//! (https://docs.cohere.com/reference/chat, /reference/chat-stream, /reference/embed,
//! /reference/errors), and round trips canonical → Cohere → canonical.

#[path = "common/helpers.rs"]
mod helpers;
#[path = "common/strategies.rs"]
mod strategies;

use helpers::{
    assert_invalid_upstream, body_json, decode_in_sizes, encode_all, invalid_request_param,
    user_text,
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
use sluice_providers::cohere::{
    CohereStreamDecoder, CohereStreamEncoder, decode_embeddings_response, decode_error,
    decode_request, decode_response, encode_embeddings_request, encode_request, encode_response,
};
use strategies::{
    RequestShape, ResponseShape, StreamShape, UsageShape, chat_request_with, chat_response_with,
    stream_events_with,
};

// ---------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------

fn sales_tools() -> Vec<Tool> {
    vec![
        Tool {
            name: "query_daily_sales_report".into(),
            description: Some(
                "Connects to a database to retrieve overall sales volumes and sales information for a given day.".into(),
            ),
            parameters: json!({
                "type": "object",
                "properties": {
                    "day": {
                        "description": "Retrieves sales data for this day, formatted as YYYY-MM-DD.",
                        "type": "string"
                    }
                }
            }),
            cache_control: None,
        },
        Tool {
            name: "query_product_catalog".into(),
            description: Some(
                "Connects to a a product catalog with information about all the products being sold, including categories, prices, and stock levels.".into(),
            ),
            parameters: json!({
                "type": "object",
                "properties": {
                    "category": {
                        "description": "Retrieves product information data for all products in this category.",
                        "type": "string"
                    }
                }
            }),
            cache_control: None,
        },
    ]
}

const SALES_QUESTION: &str = "Can you provide a sales summary for 29th September 2023, and also give me some details about the products in the 'Electronics' category, for example their prices and stock levels?";

/// The "Tools" example of the chat-stream reference, as Cohere documents the body.
fn documented_tools_request() -> Value {
    json!({
        "stream": true,
        "model": "command-a-plus-05-2026",
        "tools": [
            {"type": "function", "function": {
                "name": "query_daily_sales_report",
                "description": "Connects to a database to retrieve overall sales volumes and sales information for a given day.",
                "parameters": {"type": "object", "properties": {"day": {
                    "description": "Retrieves sales data for this day, formatted as YYYY-MM-DD.",
                    "type": "string"}}}
            }},
            {"type": "function", "function": {
                "name": "query_product_catalog",
                "description": "Connects to a a product catalog with information about all the products being sold, including categories, prices, and stock levels.",
                "parameters": {"type": "object", "properties": {"category": {
                    "description": "Retrieves product information data for all products in this category.",
                    "type": "string"}}}
            }}
        ],
        "messages": [{"role": "user", "content": SALES_QUESTION}]
    })
}

#[test]
fn the_documented_tools_request_is_encoded_as_cohere_writes_it() {
    let request = ChatRequest {
        model: "my-route".into(),
        messages: vec![user_text(SALES_QUESTION)],
        tools: sales_tools(),
        stream: true,
        ..ChatRequest::default()
    };
    let encoded = encode_request(&request, "command-a-plus-05-2026").unwrap();
    assert_eq!(body_json(&encoded.body), documented_tools_request());
    assert!(encoded.dropped.is_empty());
}

#[test]
fn the_documented_tools_request_decodes() {
    let body = serde_json::to_vec(&documented_tools_request()).unwrap();
    let request = decode_request(&body).unwrap();
    assert_eq!(request.model, "command-a-plus-05-2026");
    assert!(request.stream);
    assert_eq!(request.messages, vec![user_text(SALES_QUESTION)]);
    assert_eq!(request.tools, sales_tools());
    assert_eq!(request.tool_choice, None);
    assert!(request.extra.is_empty());
}

#[test]
fn a_tool_round_trip_conversation_decodes_into_canonical_turns() {
    // The multi-step shape of the tool-use guide: system, user, the assistant's plan and
    // calls, one `tool` message per call (a document and a string), then sampling knobs.
    let body = json!({
        "model": "command-a-03-2025",
        "messages": [
            {"role": "system", "content": "You are a sales assistant."},
            {"role": "user", "content": [
                {"type": "text", "text": "What is in this picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo=", "detail": "low"}}
            ]},
            {"role": "assistant",
             "tool_plan": "I will look up the sales report.",
             "tool_calls": [{"id": "query_daily_sales_report_hgxxmkby3wta", "type": "function",
                             "function": {"name": "query_daily_sales_report", "arguments": "{\"day\": \"2023-09-29\"}"}}]},
            {"role": "tool", "tool_call_id": "query_daily_sales_report_hgxxmkby3wta",
             "content": [{"type": "document", "document": {"data": {"total_sales_amount": 10000}}}]},
            {"role": "tool", "tool_call_id": "other_call", "content": "plain"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "Summing up."},
                {"type": "text", "text": "Sales were 10000."}
            ]},
            {"role": "user", "content": "Thanks"}
        ],
        "tool_choice": "REQUIRED",
        "max_tokens": 300,
        "stop_sequences": ["END"],
        "temperature": 0.3,
        "p": 0.75,
        "k": 40,
        "seed": 7,
        "frequency_penalty": 0.1,
        "presence_penalty": 0.2,
        "response_format": {"type": "json_object", "json_schema": {"type": "object"}},
        "thinking": {"type": "enabled", "token_budget": 500},
        "safety_mode": "STRICT",
        "documents": ["doc one"],
        "citation_options": {"mode": "FAST"},
        "strict_tools": true
    });
    let request = decode_request(&serde_json::to_vec(&body).unwrap()).unwrap();
    assert_eq!(
        request.system,
        vec![TextBlock::new("You are a sales assistant.")]
    );
    assert_eq!(
        request.messages,
        vec![
            Message {
                role: Role::User,
                content: vec![
                    Part::Text(TextBlock::new("What is in this picture?")),
                    Part::Image(Image::Base64 {
                        media_type: "image/png".into(),
                        data: "iVBORw0KGgo=".into()
                    }),
                ],
            },
            Message {
                role: Role::Assistant,
                content: vec![
                    Part::Text(TextBlock::new("I will look up the sales report.")),
                    Part::ToolCall(ToolCall {
                        id: "query_daily_sales_report_hgxxmkby3wta".into(),
                        name: "query_daily_sales_report".into(),
                        arguments: "{\"day\": \"2023-09-29\"}".into(),
                    }),
                ],
            },
            Message {
                role: Role::User,
                content: vec![
                    Part::ToolResult(ToolResult {
                        call_id: "query_daily_sales_report_hgxxmkby3wta".into(),
                        name: None,
                        content: vec![ToolResultContent::Text(
                            "{\"total_sales_amount\":10000}".into()
                        )],
                        is_error: false,
                    }),
                    Part::ToolResult(ToolResult {
                        call_id: "other_call".into(),
                        name: None,
                        content: vec![ToolResultContent::Text("plain".into())],
                        is_error: false,
                    }),
                ],
            },
            Message {
                role: Role::Assistant,
                content: vec![
                    Part::Thinking {
                        text: "Summing up.".into(),
                        signature: None
                    },
                    Part::Text(TextBlock::new("Sales were 10000.")),
                ],
            },
            user_text("Thanks"),
        ]
    );
    assert_eq!(request.tool_choice, Some(ToolChoice::Required));
    assert_eq!(request.max_tokens, Some(300));
    assert_eq!(request.stop, vec!["END".to_string()]);
    assert_eq!(request.temperature, Some(0.3));
    assert_eq!(request.top_p, Some(0.75));
    assert_eq!(request.top_k, Some(40));
    assert_eq!(request.seed, Some(7));
    assert_eq!(request.frequency_penalty, Some(0.1));
    assert_eq!(request.presence_penalty, Some(0.2));
    assert_eq!(
        request.response_format,
        Some(ResponseFormat::JsonSchema {
            name: "response".into(),
            schema: json!({"type": "object"}),
            strict: None
        })
    );
    assert_eq!(
        request.reasoning,
        Some(Reasoning {
            effort: None,
            budget_tokens: Some(500)
        })
    );
    let mut extra: Vec<&str> = request.extra.keys().map(String::as_str).collect();
    extra.sort_unstable();
    assert_eq!(
        extra,
        [
            "citation_options",
            "documents",
            "safety_mode",
            "strict_tools"
        ]
    );
}

#[test]
fn disabled_thinking_is_a_zero_budget_both_ways() {
    let body = json!({"model": "m", "messages": [], "thinking": {"type": "disabled"}});
    let request = decode_request(&serde_json::to_vec(&body).unwrap()).unwrap();
    assert_eq!(
        request.reasoning,
        Some(Reasoning {
            effort: None,
            budget_tokens: Some(0)
        })
    );
    let encoded = encode_request(&request, "m").unwrap();
    assert_eq!(
        body_json(&encoded.body)["thinking"],
        json!({"type": "disabled"})
    );

    let effort_only = ChatRequest {
        reasoning: Some(Reasoning {
            effort: Some("medium".into()),
            budget_tokens: None,
        }),
        ..ChatRequest::default()
    };
    let encoded = encode_request(&effort_only, "m").unwrap();
    assert_eq!(
        body_json(&encoded.body)["thinking"],
        json!({"type": "enabled", "token_budget": 4096})
    );
}

#[test]
fn a_named_tool_choice_offers_only_that_tool_as_required() {
    let request = ChatRequest {
        messages: vec![user_text("Sales?")],
        tools: sales_tools(),
        tool_choice: Some(ToolChoice::Tool("query_product_catalog".into())),
        ..ChatRequest::default()
    };
    let body = body_json(&encode_request(&request, "m").unwrap().body);
    assert_eq!(body["tool_choice"], "REQUIRED");
    let tools = body["tools"].as_array().unwrap();
    assert_eq!(tools.len(), 1);
    assert_eq!(tools[0]["function"]["name"], "query_product_catalog");

    let unknown = ChatRequest {
        tool_choice: Some(ToolChoice::Tool("nope".into())),
        ..request
    };
    assert_eq!(
        invalid_request_param(encode_request(&unknown, "m")).as_deref(),
        Some("tool_choice")
    );
}

#[test]
fn parameters_without_a_cohere_field_are_dropped_by_name() {
    let mut request = ChatRequest {
        system: vec![TextBlock {
            text: "Be brief.".into(),
            cache_control: Some(sluice_core::chat::CacheControl(
                json!({"type": "ephemeral"}),
            )),
        }],
        messages: vec![
            user_text("Hi"),
            Message {
                role: Role::Assistant,
                content: vec![
                    Part::Thinking {
                        text: "hmm".into(),
                        signature: Some("sig".into()),
                    },
                    Part::RedactedThinking { data: "x".into() },
                    Part::ToolCall(ToolCall {
                        id: "call_1".into(),
                        name: "f".into(),
                        arguments: "{}".into(),
                    }),
                ],
            },
            Message {
                role: Role::User,
                content: vec![Part::ToolResult(ToolResult {
                    call_id: "call_1".into(),
                    name: Some("f".into()),
                    content: vec![ToolResultContent::Text("boom".into())],
                    is_error: true,
                })],
            },
        ],
        parallel_tool_calls: Some(false),
        user: Some("user-1".into()),
        ..ChatRequest::default()
    };
    request.extra.insert("logit_bias".into(), json!({}));
    let encoded = encode_request(&request, "m").unwrap();
    assert_eq!(
        encoded.dropped,
        [
            "cache_control",
            "signature",
            "redacted_thinking",
            "is_error",
            "parallel_tool_calls",
            "user",
            "logit_bias"
        ]
    );
    let body = body_json(&encoded.body);
    assert_eq!(
        body["messages"],
        json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant",
             "content": [{"type": "thinking", "thinking": "hmm"}],
             "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "boom"}
        ])
    );
    assert!(body.get("user").is_none());
    assert!(body.get("logit_bias").is_none());
}

#[test]
fn images_in_tool_results_are_refused() {
    let request = ChatRequest {
        messages: vec![Message {
            role: Role::User,
            content: vec![Part::ToolResult(ToolResult {
                call_id: "c".into(),
                name: None,
                content: vec![ToolResultContent::Image(Image::Url(
                    "https://example.com/a.png".into(),
                ))],
                is_error: false,
            })],
        }],
        ..ChatRequest::default()
    };
    let error = encode_request(&request, "m").unwrap_err();
    assert!(matches!(
        error,
        TranslateError::Unsupported {
            provider: "Cohere",
            ..
        }
    ));
    assert_eq!(error.to_api_error().status(), StatusCode::BAD_REQUEST);
}

#[test]
fn inline_images_are_sent_as_data_urls() {
    let request = ChatRequest {
        messages: vec![Message {
            role: Role::User,
            content: vec![
                Part::Text(TextBlock::new("Describe this image")),
                Part::Image(Image::Base64 {
                    media_type: "image/png".into(),
                    data: "AAAA".into(),
                }),
                Part::Image(Image::Url("https://cohere.com/favicon-32x32.png".into())),
            ],
        }],
        ..ChatRequest::default()
    };
    let body = body_json(
        &encode_request(&request, "command-a-vision-07-2025")
            .unwrap()
            .body,
    );
    assert_eq!(
        body["messages"][0]["content"],
        json!([
            {"type": "text", "text": "Describe this image"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            {"type": "image_url", "image_url": {"url": "https://cohere.com/favicon-32x32.png"}}
        ])
    );
}

// ---------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------

#[test]
fn the_documented_tool_call_response_decodes() {
    let body = json!({
        "id": "9e5f00aa-bf1e-481a-abe3-0eceac18c3ec",
        "message": {
            "role": "assistant",
            "content": [{"type": "thinking", "thinking": "I will first find the sales summary for 29th September 2023. Then, I will find the details of the products in the 'Electronics' category."}],
            "tool_calls": [
                {"id": "query_daily_sales_report_hgxxmkby3wta", "type": "function",
                 "function": {"name": "query_daily_sales_report", "arguments": "{\"day\": \"2023-09-29\"}"}},
                {"id": "query_product_catalog_rpg0z5h8yyz2", "type": "function",
                 "function": {"name": "query_product_catalog", "arguments": "{\"category\": \"Electronics\"}"}}
            ]
        },
        "finish_reason": "TOOL_CALL",
        "usage": {"billed_units": {"input_tokens": 127, "output_tokens": 69},
                  "tokens": {"input_tokens": 1032, "output_tokens": 124}}
    });
    let response = decode_response(&serde_json::to_vec(&body).unwrap()).unwrap();
    assert_eq!(response.id, "9e5f00aa-bf1e-481a-abe3-0eceac18c3ec");
    assert_eq!(response.finish_reason, Some(FinishReason::ToolCalls));
    assert_eq!(response.content.len(), 3);
    assert!(matches!(
        &response.content[0],
        Part::Thinking {
            signature: None,
            ..
        }
    ));
    assert_eq!(
        response.content[2],
        Part::ToolCall(ToolCall {
            id: "query_product_catalog_rpg0z5h8yyz2".into(),
            name: "query_product_catalog".into(),
            arguments: "{\"category\": \"Electronics\"}".into(),
        })
    );
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 1032,
            output_tokens: 124,
            ..Usage::default()
        }
    );
}

#[test]
fn a_text_response_with_tool_plan_and_cache_decodes() {
    let body = json!({
        "id": "c14c80c3-18eb-4519-9460-6c92edd8cfb4",
        "finish_reason": "COMPLETE",
        "message": {"role": "assistant", "tool_plan": "I will answer directly.",
                    "content": [{"type": "text", "text": "LLMs stand for Large Language Models."}],
                    "citations": [{"start": 0, "end": 4, "text": "LLMs", "sources": []}]},
        "usage": {"billed_units": {"input_tokens": 5, "output_tokens": 198}, "cached_tokens": 64.0}
    });
    let response = decode_response(&serde_json::to_vec(&body).unwrap()).unwrap();
    assert_eq!(
        response.content,
        vec![
            Part::Text(TextBlock::new("LLMs stand for Large Language Models.")),
            Part::Text(TextBlock::new("I will answer directly.")),
        ]
    );
    assert_eq!(response.finish_reason, Some(FinishReason::EndTurn));
    // No `tokens`: the billed units stand in.
    assert_eq!(
        response.usage,
        Usage {
            input_tokens: 5,
            output_tokens: 198,
            cached_input_tokens: 64,
            ..Usage::default()
        }
    );
}

#[test]
fn finish_reasons_map_both_ways() {
    for (wire, canonical) in [
        ("COMPLETE", FinishReason::EndTurn),
        ("STOP_SEQUENCE", FinishReason::StopSequence),
        ("MAX_TOKENS", FinishReason::MaxTokens),
        ("TOOL_CALL", FinishReason::ToolCalls),
        ("ERROR", FinishReason::Other("ERROR".into())),
        ("TIMEOUT", FinishReason::Other("TIMEOUT".into())),
    ] {
        let body = json!({"id": "x", "finish_reason": wire, "message": {"role": "assistant"}});
        let response = decode_response(&serde_json::to_vec(&body).unwrap()).unwrap();
        assert_eq!(response.finish_reason.as_ref(), Some(&canonical), "{wire}");
        let encoded = body_json(&encode_response(&response));
        assert_eq!(encoded["finish_reason"], wire);
    }
}

#[test]
fn a_response_that_is_not_cohere_json_is_an_upstream_error() {
    assert_invalid_upstream(decode_response(b"<html>"));
}

#[test]
fn responses_with_tool_calls_carry_their_text_as_the_tool_plan() {
    let response = ChatResponse {
        id: "r1".into(),
        content: vec![
            Part::Text(TextBlock::new("I will call f.")),
            Part::ToolCall(ToolCall {
                id: "call_1".into(),
                name: "f".into(),
                arguments: "{\"a\":1}".into(),
            }),
        ],
        finish_reason: Some(FinishReason::ToolCalls),
        usage: Usage {
            input_tokens: 10,
            output_tokens: 5,
            cached_input_tokens: 4,
            ..Usage::default()
        },
        ..ChatResponse::default()
    };
    assert_eq!(
        body_json(&encode_response(&response)),
        json!({
            "id": "r1",
            "finish_reason": "TOOL_CALL",
            "message": {
                "role": "assistant",
                "tool_plan": "I will call f.",
                "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]
            },
            "usage": {
                "billed_units": {"input_tokens": 10, "output_tokens": 5},
                "tokens": {"input_tokens": 10, "output_tokens": 5},
                "cached_tokens": 4
            }
        })
    );
}

// ---------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------

fn sse(events: &[Value]) -> Vec<u8> {
    let mut out = String::new();
    for event in events {
        out.push_str(&format!(
            "event: {}\ndata: {}\n\n",
            event["type"].as_str().unwrap(),
            event
        ));
    }
    out.into_bytes()
}

/// The basic stream of the chat-stream reference (fewer deltas).
fn documented_text_stream() -> Vec<u8> {
    sse(&[
        json!({"type": "message-start", "id": "29f14a5a-11de-4cae-9800-25e4747408ea",
               "delta": {"message": {"role": "assistant"}}}),
        json!({"type": "content-start", "index": 0,
               "delta": {"message": {"content": {"type": "text", "text": ""}}}}),
        json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "LL"}}}}),
        json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": "Ms"}}}}),
        json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": " stand"}}}}),
        json!({"type": "content-end", "index": 0}),
        json!({"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": {
            "billed_units": {"input_tokens": 5, "output_tokens": 26},
            "tokens": {"input_tokens": 71, "output_tokens": 26}}}}),
    ])
}

/// The "Tools" stream of the chat-stream reference (fewer deltas): a tool plan, then two
/// tool calls whose indexes restart at 0.
fn documented_tool_stream() -> Vec<u8> {
    let plan = |piece: &str| json!({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": piece}}});
    let arguments = |index: u32, piece: &str| {
        json!({"type": "tool-call-delta", "index": index,
               "delta": {"message": {"tool_calls": {"function": {"arguments": piece}}}}})
    };
    sse(&[
        json!({"type": "message-start", "id": "2edfdf70-019c-4f7a-be20-3cdbfaa3dca6",
               "delta": {"message": {"role": "assistant"}}}),
        plan("I"),
        plan(" will use the query_daily_sales_report tool."),
        json!({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": {
            "id": "query_daily_sales_report_j3f0adww9pmr", "type": "function",
            "function": {"name": "query_daily_sales_report", "arguments": ""}}}}}),
        arguments(0, "{\""),
        arguments(0, "day\": \"2023-09-29\"}"),
        json!({"type": "tool-call-end", "index": 0}),
        json!({"type": "tool-call-start", "index": 1, "delta": {"message": {"tool_calls": {
            "id": "query_product_catalog_c66nf11r6s8g", "type": "function",
            "function": {"name": "query_product_catalog", "arguments": ""}}}}}),
        arguments(1, "{\"category\": \"Electron"),
        arguments(1, "ics\"}"),
        json!({"type": "tool-call-end", "index": 1}),
        json!({"type": "message-end", "delta": {"finish_reason": "TOOL_CALL", "usage": {
            "billed_units": {"input_tokens": 126, "output_tokens": 84},
            "tokens": {"input_tokens": 1589, "output_tokens": 135}}}}),
    ])
}

/// Decodes a stream fed in pieces of the sizes `pieces` gives, over and over.
fn decode_in_pieces(bytes: &[u8], pieces: &[usize]) -> Result<Vec<StreamEvent>, TranslateError> {
    decode_in_sizes(
        CohereStreamDecoder::new(),
        bytes,
        pieces.iter().copied().cycle(),
    )
}

fn expected_text_stream() -> Vec<StreamEvent> {
    vec![
        StreamEvent::Start {
            id: "29f14a5a-11de-4cae-9800-25e4747408ea".into(),
            model: String::new(),
        },
        StreamEvent::BlockStart {
            index: 0,
            block: BlockKind::Text,
        },
        StreamEvent::TextDelta {
            index: 0,
            text: "LL".into(),
        },
        StreamEvent::TextDelta {
            index: 0,
            text: "Ms".into(),
        },
        StreamEvent::TextDelta {
            index: 0,
            text: " stand".into(),
        },
        StreamEvent::BlockStop { index: 0 },
        StreamEvent::Finish {
            reason: FinishReason::EndTurn,
            stop_sequence: None,
        },
        StreamEvent::Usage(Usage {
            input_tokens: 71,
            output_tokens: 26,
            ..Usage::default()
        }),
        StreamEvent::End,
    ]
}

fn expected_tool_stream() -> Vec<StreamEvent> {
    vec![
        StreamEvent::Start {
            id: "2edfdf70-019c-4f7a-be20-3cdbfaa3dca6".into(),
            model: String::new(),
        },
        StreamEvent::BlockStart {
            index: 0,
            block: BlockKind::Text,
        },
        StreamEvent::TextDelta {
            index: 0,
            text: "I".into(),
        },
        StreamEvent::TextDelta {
            index: 0,
            text: " will use the query_daily_sales_report tool.".into(),
        },
        StreamEvent::BlockStop { index: 0 },
        StreamEvent::BlockStart {
            index: 1,
            block: BlockKind::ToolCall {
                id: "query_daily_sales_report_j3f0adww9pmr".into(),
                name: "query_daily_sales_report".into(),
            },
        },
        StreamEvent::ToolArgumentsDelta {
            index: 1,
            json: "{\"".into(),
        },
        StreamEvent::ToolArgumentsDelta {
            index: 1,
            json: "day\": \"2023-09-29\"}".into(),
        },
        StreamEvent::BlockStop { index: 1 },
        StreamEvent::BlockStart {
            index: 2,
            block: BlockKind::ToolCall {
                id: "query_product_catalog_c66nf11r6s8g".into(),
                name: "query_product_catalog".into(),
            },
        },
        StreamEvent::ToolArgumentsDelta {
            index: 2,
            json: "{\"category\": \"Electron".into(),
        },
        StreamEvent::ToolArgumentsDelta {
            index: 2,
            json: "ics\"}".into(),
        },
        StreamEvent::BlockStop { index: 2 },
        StreamEvent::Finish {
            reason: FinishReason::ToolCalls,
            stop_sequence: None,
        },
        StreamEvent::Usage(Usage {
            input_tokens: 1589,
            output_tokens: 135,
            ..Usage::default()
        }),
        StreamEvent::End,
    ]
}

#[test]
fn the_documented_text_stream_decodes_in_any_split() {
    let bytes = documented_text_stream();
    assert_eq!(
        decode_in_pieces(&bytes, &[bytes.len()]).unwrap(),
        expected_text_stream()
    );
    assert_eq!(
        decode_in_pieces(&bytes, &[1]).unwrap(),
        expected_text_stream()
    );
    assert_decodes_in_random_pieces(&bytes, &expected_text_stream());
}

#[test]
fn the_documented_tool_stream_renumbers_plan_and_calls_into_one_series() {
    let bytes = documented_tool_stream();
    assert_eq!(
        decode_in_pieces(&bytes, &[1]).unwrap(),
        expected_tool_stream()
    );
    assert_decodes_in_random_pieces(&bytes, &expected_tool_stream());
}

/// Asserts `bytes` decodes to `expected` in 50 seeded series of 32 random piece sizes.
fn assert_decodes_in_random_pieces(bytes: &[u8], expected: &[StreamEvent]) {
    for seed in 0..50u64 {
        let mut rng = fastrand_sizes(seed);
        let sizes: Vec<usize> = (0..32).map(|_| rng()).collect();
        assert_eq!(decode_in_pieces(bytes, &sizes).unwrap(), expected);
    }
}

/// Piece sizes 1..=40 from a tiny deterministic generator (no extra dependency).
fn fastrand_sizes(seed: u64) -> impl FnMut() -> usize {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        usize::try_from(state >> 58).unwrap() % 40 + 1
    }
}

#[test]
fn thinking_then_text_blocks_are_separate_blocks() {
    let bytes = sse(&[
        json!({"type": "message-start", "id": "m1"}),
        json!({"type": "content-start", "index": 0,
               "delta": {"message": {"content": {"type": "thinking", "thinking": ""}}}}),
        json!({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"thinking": "Alice has"}}}}),
        json!({"type": "content-end", "index": 0}),
        json!({"type": "content-start", "index": 1,
               "delta": {"message": {"content": {"type": "text", "text": ""}}}}),
        json!({"type": "content-delta", "index": 1, "delta": {"message": {"content": {"text": "Three."}}}}),
        json!({"type": "citation-start", "index": 0, "delta": {"message": {"citations": {"start": 0, "end": 5, "text": "Three", "sources": []}}}}),
        json!({"type": "citation-end", "index": 0}),
        json!({"type": "content-end", "index": 1}),
        json!({"type": "message-end", "delta": {"finish_reason": "MAX_TOKENS"}}),
    ]);
    let events = decode_in_pieces(&bytes, &[7]).unwrap();
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: "m1".into(),
                model: String::new()
            },
            StreamEvent::BlockStart {
                index: 0,
                block: BlockKind::Thinking
            },
            StreamEvent::ThinkingDelta {
                index: 0,
                text: "Alice has".into()
            },
            StreamEvent::BlockStop { index: 0 },
            StreamEvent::BlockStart {
                index: 1,
                block: BlockKind::Text
            },
            StreamEvent::TextDelta {
                index: 1,
                text: "Three.".into()
            },
            StreamEvent::BlockStop { index: 1 },
            StreamEvent::Finish {
                reason: FinishReason::MaxTokens,
                stop_sequence: None
            },
            StreamEvent::End,
        ]
    );
}

#[test]
fn an_error_in_message_end_becomes_an_error_event() {
    let bytes = sse(&[
        json!({"type": "message-start", "id": "m1"}),
        json!({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": "Hel"}}}}),
        json!({"type": "message-end", "delta": {"error": "internal server error", "finish_reason": "ERROR"}}),
    ]);
    let events = decode_in_pieces(&bytes, &[3]).unwrap();
    let Some(StreamEvent::Error(error)) = events.last() else {
        panic!("no error event: {events:?}");
    };
    assert_eq!(error.kind, ErrorKind::ProviderError);
    assert_eq!(error.message, "internal server error");
    assert_eq!(
        events[2],
        StreamEvent::TextDelta {
            index: 0,
            text: "Hel".into()
        }
    );
}

#[test]
fn debug_events_and_the_done_terminator_are_skipped() {
    // The API definition names `[DONE]` as the stream's terminator and lists a `debug`
    // event; neither carries anything canonical.
    let mut bytes = sse(&[
        json!({"type": "message-start", "id": "m1"}),
        json!({"type": "debug", "prompt": "<prompt>"}),
        json!({"type": "message-end", "delta": {"finish_reason": "COMPLETE"}}),
    ]);
    bytes.extend_from_slice(b"data: [DONE]\n\n");
    assert_eq!(
        decode_in_pieces(&bytes, &[2]).unwrap(),
        vec![
            StreamEvent::Start {
                id: "m1".into(),
                model: String::new()
            },
            StreamEvent::Finish {
                reason: FinishReason::EndTurn,
                stop_sequence: None
            },
            StreamEvent::End,
        ]
    );
}

#[test]
fn a_stream_cut_before_message_end_is_an_error() {
    let bytes = documented_text_stream();
    let cut = &bytes[..bytes.len() - 40];
    assert_invalid_upstream(decode_in_pieces(cut, &[5]));
}

#[test]
fn the_encoder_writes_what_the_decoder_reads_back() {
    let out = encode_all(&mut CohereStreamEncoder::new(), &expected_tool_stream());
    let text = String::from_utf8(out.to_vec()).unwrap();
    assert!(text.starts_with("event: message-start\ndata: {"));
    // Text blocks are written as content blocks, tool calls with their own counter.
    assert!(text.contains("event: content-start\n"));
    assert_eq!(text.matches("event: tool-call-start\n").count(), 2);
    assert!(text.contains("\"index\":1,\"type\":\"tool-call-start\""));
    assert!(text.ends_with("\n\n"));
    assert_eq!(
        decode_in_pieces(&out, &[1]).unwrap(),
        expected_tool_stream()
    );
}

// ---------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------

#[test]
fn documented_errors_map_to_their_kinds() {
    let cases = [
        (
            400,
            "invalid request: temperature must be between 0 and 1.0 inclusive.",
            ErrorKind::InvalidRequest,
        ),
        (
            400,
            "too many tokens: size limit exceeded by 11326 tokens. Try using shorter or fewer inputs, or setting prompt_truncation='AUTO'.",
            ErrorKind::ContextTooLong,
        ),
        (
            400,
            "too many tokens: max tokens must be less than or equal to 4096, the maximum output for this model - received 8192.",
            ErrorKind::InvalidRequest,
        ),
        (401, "invalid api token", ErrorKind::Authentication),
        (
            402,
            "Please add or update your payment method at https://dashboard.cohere.com/billing?tab=payment to continue",
            ErrorKind::PermissionDenied,
        ),
        (
            404,
            "model 'xyz' not found, make sure the correct model ID was used and that you have access to the model.",
            ErrorKind::ModelNotFound,
        ),
        (404, "404 page not found", ErrorKind::NotFound),
        (422, "invalid request", ErrorKind::InvalidRequest),
        (
            429,
            "You are past the per minute request limit, please wait and try again later.",
            ErrorKind::RateLimited,
        ),
        (499, "request cancelled", ErrorKind::ProviderError),
        (500, "internal server error", ErrorKind::ProviderError),
        (503, "service unavailable", ErrorKind::Overloaded),
        (504, "gateway timeout", ErrorKind::UpstreamTimeout),
    ];
    for (status, message, kind) in cases {
        let body = json!({"id": "e1", "message": message}).to_string();
        let error = decode_error(StatusCode::from_u16(status).unwrap(), body.as_bytes());
        assert_eq!(error.kind, kind, "{status} {message}");
        assert_eq!(error.message, message);
    }
}

#[test]
fn error_statuses_and_codes_are_kept_where_they_say_more() {
    let payment = decode_error(StatusCode::PAYMENT_REQUIRED, br#"{"message":"pay"}"#);
    assert_eq!(payment.code.as_deref(), Some("payment_required"));
    let not_implemented = decode_error(StatusCode::NOT_IMPLEMENTED, br#"{"message":"no"}"#);
    assert_eq!(not_implemented.status(), StatusCode::NOT_IMPLEMENTED);
    let internal = decode_error(StatusCode::INTERNAL_SERVER_ERROR, br#"{"message":"x"}"#);
    assert_eq!(internal.status_override, None);
    let unreadable = decode_error(StatusCode::BAD_GATEWAY, b"upstream connect error");
    assert_eq!(unreadable.message, "upstream connect error");
    assert_eq!(unreadable.status(), StatusCode::BAD_GATEWAY);
}

// ---------------------------------------------------------------------------------------
// Embeddings
// ---------------------------------------------------------------------------------------

#[test]
fn the_documented_embed_request_is_encoded() {
    let request = EmbeddingsRequest {
        model: "route".into(),
        input: vec!["hello".into(), "goodbye".into()],
        input_type: Some("classification".into()),
        ..EmbeddingsRequest::default()
    };
    let encoded = encode_embeddings_request(&request, "embed-v4.0").unwrap();
    assert_eq!(
        body_json(&encoded.body),
        json!({"model": "embed-v4.0", "texts": ["hello", "goodbye"],
               "input_type": "classification", "embedding_types": ["float"]})
    );

    let defaults = EmbeddingsRequest {
        input: vec!["a".into()],
        dimensions: Some(256),
        user: Some("u".into()),
        ..EmbeddingsRequest::default()
    };
    let encoded = encode_embeddings_request(&defaults, "embed-v4.0").unwrap();
    let body = body_json(&encoded.body);
    assert_eq!(body["input_type"], "search_document");
    assert_eq!(body["output_dimension"], 256);
    assert_eq!(encoded.dropped, ["user"]);

    let gemini_task = EmbeddingsRequest {
        input: vec!["a".into()],
        input_type: Some("RETRIEVAL_QUERY".into()),
        ..EmbeddingsRequest::default()
    };
    let body = body_json(
        &encode_embeddings_request(&gemini_task, "embed-v4.0")
            .unwrap()
            .body,
    );
    assert_eq!(body["input_type"], "search_query");
}

#[test]
fn top_p_is_kept_within_cohere_range() {
    let request = ChatRequest {
        top_p: Some(1.0),
        ..ChatRequest::default()
    };
    let body = body_json(&encode_request(&request, "m").unwrap().body);
    assert_eq!(body["p"], 0.99);
}

#[test]
fn the_documented_embed_response_decodes() {
    let body = json!({
        "id": "da6e531f-54c6-4a73-bf92-f60566d8d753",
        "texts": ["hello", "goodbye"],
        "embeddings": {"float": [[0.016296387, -0.008354187], [-0.04699707, -0.07104492]]},
        "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": 2}}
    });
    let response = decode_embeddings_response(&serde_json::to_vec(&body).unwrap()).unwrap();
    assert_eq!(
        response.vectors,
        vec![
            vec![0.016296387, -0.008354187],
            vec![-0.04699707, -0.07104492]
        ]
    );
    assert_eq!(response.input_tokens, 2);
    assert_invalid_upstream(decode_embeddings_response(
        br#"{"embeddings":{"int8":[[1]]}}"#,
    ));
}

// ---------------------------------------------------------------------------------------
// Round trips
// ---------------------------------------------------------------------------------------

/// What Cohere cannot carry, switched off: signatures, redacted thinking, images in tool
/// results, error flags and names on tool results, user text beside tool results (it
/// becomes its own turn), cache control, `parallel_tool_calls`, `user`.
fn cohere_request_shape() -> RequestShape {
    RequestShape {
        thinking_signatures: false,
        redacted_thinking: false,
        tool_results_with_images: false,
        tool_result_errors: false,
        tool_result_names: false,
        text_after_tool_results: false,
        cache_control: false,
        parallel_tool_calls: false,
        user: false,
        ..RequestShape::full()
    }
}

/// What the round trip changes by rule: an assistant turn's text beside tool calls is
/// one `tool_plan` (joined); a named tool choice is `REQUIRED` with only that tool;
/// `auto` is no choice; a schema has no name or `strict`; reasoning is a budget only;
/// `top_p` is kept within Cohere's range.
fn normalise_request(mut request: ChatRequest) -> ChatRequest {
    for message in &mut request.messages {
        if message.role == Role::Assistant && has_tool_calls(&message.content) {
            message.content = as_tool_plan(&message.content);
        }
    }
    match request.tool_choice.take() {
        Some(ToolChoice::Tool(name)) => {
            request.tools.retain(|tool| tool.name == name);
            request.tool_choice = Some(ToolChoice::Required);
        }
        Some(ToolChoice::Auto) | None => {}
        Some(other) => request.tool_choice = Some(other),
    }
    request.response_format = request.response_format.map(|format| match format {
        ResponseFormat::JsonSchema { schema, .. } => ResponseFormat::JsonSchema {
            name: "response".into(),
            schema,
            strict: None,
        },
        other => other,
    });
    request.top_p = request.top_p.map(|top_p| top_p.clamp(0.01, 0.99));
    request.reasoning = request.reasoning.map(|reasoning| Reasoning {
        effort: None,
        budget_tokens: reasoning.budget(),
    });
    request
}

/// Whether `content` holds a tool call.
fn has_tool_calls(content: &[Part]) -> bool {
    content.iter().any(|part| matches!(part, Part::ToolCall(_)))
}

/// Content with tool calls as Cohere gives it back: thinking, the text joined into one
/// plan, then the calls.
fn as_tool_plan(content: &[Part]) -> Vec<Part> {
    let plan: String = content
        .iter()
        .filter_map(|part| match part {
            Part::Text(block) => Some(block.text.as_str()),
            _ => None,
        })
        .collect();
    let mut parts: Vec<Part> = content
        .iter()
        .filter(|part| matches!(part, Part::Thinking { .. }))
        .cloned()
        .collect();
    if !plan.is_empty() {
        parts.push(Part::Text(TextBlock::new(plan)));
    }
    parts.extend(
        content
            .iter()
            .filter(|part| matches!(part, Part::ToolCall(_)))
            .cloned(),
    );
    parts
}

fn cohere_response_shape() -> ResponseShape {
    ResponseShape {
        thinking_signatures: false,
        redacted_thinking: false,
        usage: UsageShape {
            cached_input: true,
            cache_write: false,
            reasoning: false,
        },
        ..ResponseShape::full()
    }
}

/// Cohere answers carry no model, time or stop sequence; other providers' finish
/// reasons become `COMPLETE`, a content filter `ERROR`; text beside tool calls is one
/// `tool_plan`.
fn normalise_response(mut response: ChatResponse) -> ChatResponse {
    response.model = String::new();
    response.created = None;
    response.stop_sequence = None;
    response.finish_reason = response.finish_reason.map(normalise_finish);
    if has_tool_calls(&response.content) {
        response.content = as_tool_plan(&response.content);
    }
    response
}

fn normalise_finish(reason: FinishReason) -> FinishReason {
    match reason {
        FinishReason::ContentFilter => FinishReason::Other("ERROR".into()),
        FinishReason::Other(name) if name != "ERROR" && name != "TIMEOUT" => FinishReason::EndTurn,
        other => other,
    }
}

fn cohere_stream_shape() -> StreamShape {
    StreamShape {
        thinking_signatures: false,
        redacted_thinking: false,
        usage: UsageShape {
            cached_input: true,
            cache_write: false,
            reasoning: false,
        },
        ..StreamShape::full()
    }
}

/// The stream names no model; usage arrives once, merged, in `message-end` (none when
/// the stream ends in an error); errors are provider errors with their message; no stop
/// sequence; finish reasons as for responses.
fn normalise_stream(events: Vec<StreamEvent>) -> Vec<StreamEvent> {
    let mut usage: Option<Usage> = None;
    let mut out = Vec::new();
    for event in events {
        match event {
            StreamEvent::Start { id, .. } => out.push(StreamEvent::Start {
                id,
                model: String::new(),
            }),
            StreamEvent::Usage(report) => match &mut usage {
                Some(known) => known.merge(&report),
                None => usage = Some(report),
            },
            StreamEvent::Finish { reason, .. } => out.push(StreamEvent::Finish {
                reason: normalise_finish(reason),
                stop_sequence: None,
            }),
            StreamEvent::End => {
                out.extend(usage.take().map(StreamEvent::Usage));
                out.push(StreamEvent::End);
            }
            StreamEvent::Error(error) => out.push(StreamEvent::Error(sluice_core::ApiError::new(
                ErrorKind::ProviderError,
                error.message,
            ))),
            other => out.push(other),
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn requests_round_trip(request in chat_request_with(cohere_request_shape())) {
        let encoded = encode_request(&request, &request.model).unwrap();
        prop_assert!(encoded.dropped.is_empty(), "dropped {:?}", encoded.dropped);
        let decoded = decode_request(&encoded.body).unwrap();
        prop_assert_eq!(decoded, normalise_request(request));
    }

    #[test]
    fn responses_round_trip(response in chat_response_with(cohere_response_shape())) {
        let decoded = decode_response(&encode_response(&response)).unwrap();
        prop_assert_eq!(decoded, normalise_response(response));
    }

    #[test]
    fn streams_round_trip(
        events in stream_events_with(cohere_stream_shape()),
        piece in 1usize..64,
    ) {
        let bytes = encode_all(&mut CohereStreamEncoder::new(), &events);
        let decoded = decode_in_pieces(&bytes, &[piece]).unwrap();
        prop_assert_eq!(decoded, normalise_stream(events));
    }
}
