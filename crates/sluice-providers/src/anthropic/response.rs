//! Whole (non-streamed) `message` answers, both directions.

use serde_json::{Map, Value, json};
use sluice_core::chat::{ChatResponse, Part};

use super::wire::{
    AssistantBlock, FieldError, WireUsage, arguments_to_input, as_array, as_object,
    decode_assistant_block, decode_stop_reason, encode_stop_reason, optional, optional_str,
    required, required_str,
};
use crate::TranslateError;

/// Reads an Anthropic `message` answer.
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, TranslateError> {
    let root: Value = serde_json::from_slice(body)
        .map_err(|err| TranslateError::upstream(format!("the body is not JSON: {err}")))?;
    decode_response_value(&root).map_err(FieldError::into_upstream_error)
}

fn decode_response_value(root: &Value) -> Result<ChatResponse, FieldError> {
    let root = as_object(root, "message")?;
    let mut content = Vec::new();
    for (index, block) in as_array(required(root, "content", "")?, "content")?
        .iter()
        .enumerate()
    {
        let path = format!("content[{index}]");
        match decode_assistant_block(as_object(block, &path)?, &path)? {
            AssistantBlock::Part(part) => content.push(part),
            // Server-tool blocks and types added later: the request side refuses what
            // produces the known ones, so this is a new kind no other dialect can show.
            AssistantBlock::Unknown(block_type) => {
                tracing::warn!(
                    block_type,
                    "skipping an Anthropic content block of unknown type"
                );
            }
        }
    }
    let mut usage = WireUsage::default();
    if let Some(wire_usage) = optional(root, "usage") {
        usage.update(as_object(wire_usage, "usage")?, "usage")?;
    }
    Ok(ChatResponse {
        id: required_str(root, "id", "")?.to_string(),
        model: optional_str(root, "model", "")?
            .unwrap_or_default()
            .to_string(),
        created: None,
        content,
        finish_reason: optional_str(root, "stop_reason", "")?.map(decode_stop_reason),
        stop_sequence: optional_str(root, "stop_sequence", "")?.map(str::to_string),
        usage: usage.to_canonical(),
    })
}

/// Writes the canonical answer as an Anthropic `message`.
pub fn encode_response(response: &ChatResponse) -> Vec<u8> {
    let content: Vec<Value> = response.content.iter().filter_map(encode_part).collect();
    let body = json!({
        "id": response.id,
        "type": "message",
        "role": "assistant",
        "model": response.model,
        "content": content,
        "stop_reason": response.finish_reason.as_ref().map(encode_stop_reason),
        "stop_sequence": response.stop_sequence,
        "usage": WireUsage::from_canonical(&response.usage).to_json(),
    });
    // A `Value` always serialises.
    serde_json::to_vec(&body).unwrap_or_default()
}

/// One answer block; parts that only requests have (images, tool results) are skipped.
fn encode_part(part: &Part) -> Option<Value> {
    Some(match part {
        Part::Text(block) => json!({"type": "text", "text": block.text}),
        Part::ToolCall(call) => json!({
            "type": "tool_use",
            "id": call.id,
            "name": call.name,
            "input": tool_input(&call.arguments),
        }),
        Part::Thinking { text, signature } => json!({
            "type": "thinking",
            "thinking": text,
            "signature": signature.as_deref().unwrap_or_default(),
        }),
        Part::RedactedThinking { data } => json!({"type": "redacted_thinking", "data": data}),
        Part::Image(_) | Part::ToolResult(_) => return None,
    })
}

/// The `input` of a tool call a model produced. Some models emit arguments that are not
/// a JSON object; they are passed on as a string rather than replaced by `{}`, so the
/// client sees what the model said.
pub(crate) fn tool_input(arguments: &str) -> Value {
    arguments_to_input(arguments).unwrap_or_else(|| Value::String(arguments.to_string()))
}

/// Reads a `POST /v1/messages/count_tokens` answer: `{"input_tokens": N}`.
pub fn decode_count_tokens_response(body: &[u8]) -> Result<u64, TranslateError> {
    let root: Value = serde_json::from_slice(body)
        .map_err(|err| TranslateError::upstream(format!("the body is not JSON: {err}")))?;
    let root: &Map<String, Value> =
        as_object(&root, "body").map_err(FieldError::into_upstream_error)?;
    required(root, "input_tokens", "")
        .map_err(FieldError::into_upstream_error)?
        .as_u64()
        .ok_or_else(|| TranslateError::upstream("`input_tokens` must be a non-negative integer"))
}

/// Writes a count-tokens answer.
pub fn encode_count_tokens_response(input_tokens: u64) -> Vec<u8> {
    json!({"input_tokens": input_tokens})
        .to_string()
        .into_bytes()
}
