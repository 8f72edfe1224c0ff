//! `GenerateContentResponse` both ways (whole answers; a stream chunk has the same shape).

use std::collections::HashMap;

use serde_json::{Value, json};
use sluice_core::chat::{ChatResponse, FinishReason, Part, ToolCall};

use super::parts::{
    CallIds, arguments_object, decode_finish_reason, decode_parts, decode_usage,
    encode_finish_reason, encode_parts, encode_usage, made_up_response_id,
};
use crate::TranslateError;

/// Reads a Gemini answer. Only the first candidate counts (the canonical exchange asks for
/// one). A prompt blocked before any candidate (`promptFeedback.blockReason`) is an
/// answer with `ContentFilter` and no content.
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, TranslateError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|err| TranslateError::upstream(format!("Gemini answer: {err}")))?;
    if !value.is_object() {
        return Err(TranslateError::upstream("Gemini answer is not an object"));
    }
    let id = value
        .get("responseId")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(made_up_response_id);
    let mut ids = CallIds::for_response(&id);
    let mut response = ChatResponse {
        model: value
            .get("modelVersion")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        usage: value
            .get("usageMetadata")
            .map(decode_usage)
            .unwrap_or_default(),
        id,
        ..ChatResponse::default()
    };

    let candidate = value
        .get("candidates")
        .and_then(Value::as_array)
        .and_then(|candidates| candidates.first());
    let Some(candidate) = candidate else {
        if value.pointer("/promptFeedback/blockReason").is_some() {
            response.finish_reason = Some(FinishReason::ContentFilter);
            return Ok(response);
        }
        return Err(TranslateError::upstream("Gemini answer has no candidate"));
    };
    let parts = candidate
        .pointer("/content/parts")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    response.content = decode_parts(parts, &mut ids, false).map_err(TranslateError::upstream)?;
    let called_tools = response
        .content
        .iter()
        .any(|part| matches!(part, Part::ToolCall(_)));
    response.finish_reason = candidate
        .get("finishReason")
        .and_then(Value::as_str)
        .map(|reason| decode_finish_reason(reason, called_tools));
    Ok(response)
}

/// Writes a Gemini answer (for Gemini-speaking clients).
pub fn encode_response(response: &ChatResponse) -> Vec<u8> {
    let mut tool_names = HashMap::new();
    let mut dropped = Vec::new();
    // Encoding cannot fail here: answers hold no tool results (left out), and arguments
    // that are no JSON object (a call cut by the token limit) become `{}`, as in streams.
    let parts: Vec<Value> = response
        .content
        .iter()
        .filter_map(|part| {
            let part = match part {
                Part::ToolCall(call) if arguments_object(&call.arguments).is_err() => {
                    Part::ToolCall(ToolCall {
                        arguments: "{}".into(),
                        ..call.clone()
                    })
                }
                other => other.clone(),
            };
            encode_parts(std::slice::from_ref(&part), &mut tool_names, &mut dropped).ok()
        })
        .flatten()
        .collect();
    let parts = merge_signature_carriers(parts);
    let mut candidate = json!({
        "content": {"role": "model", "parts": parts},
        "index": 0,
    });
    if let Some(reason) = &response.finish_reason {
        candidate["finishReason"] = json!(encode_finish_reason(reason));
    }
    let body = json!({
        "candidates": [candidate],
        "usageMetadata": encode_usage(&response.usage),
        "modelVersion": response.model,
        "responseId": response.id,
    });
    body.to_string().into_bytes()
}

/// Part-by-part encoding leaves each signature-only thinking part as its own carrier;
/// folding a carrier into the non-thought part after it restores what Gemini sent.
fn merge_signature_carriers(parts: Vec<Value>) -> Vec<Value> {
    let mut merged: Vec<Value> = Vec::with_capacity(parts.len());
    let mut pending: Option<Value> = None;
    for mut part in parts {
        let is_carrier = part.get("text").and_then(Value::as_str) == Some("")
            && part.get("thought").is_none()
            && part.get("thoughtSignature").is_some();
        if is_carrier {
            merged.extend(pending.replace(part));
            continue;
        }
        if let Some(carrier) = pending.take() {
            let takes_signature =
                part.get("thought").is_none() && part.get("thoughtSignature").is_none();
            match carrier.get("thoughtSignature") {
                Some(signature) if takes_signature => {
                    part["thoughtSignature"] = signature.clone();
                }
                _ => merged.push(carrier),
            }
        }
        merged.push(part);
    }
    merged.extend(pending);
    merged
}
