//! Whole chat answers: Cohere's response body to the canonical response and back, with
//! the finish reasons and usage both directions share with the stream.

use sluice_core::chat::{ChatResponse, FinishReason, Part, Usage};

use super::request::{assistant_block_to_part, tool_call_to_part};
use super::wire::{
    AssistantBlockWire, AssistantResponseWire, ChatResponseWire, FunctionCallWire, TokenCountsWire,
    ToolCallWire, UsageWire, count, function_type,
};
use crate::dialect::TranslateError;

/// Reads a Cohere chat answer. Content blocks come first, then `tool_plan` as a text
/// part, then the tool calls (the order the stream sends them in). Citations are not
/// carried. Cohere names no model in its answer, so `model` is empty.
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, TranslateError> {
    let wire: ChatResponseWire = serde_json::from_slice(body)
        .map_err(|err| TranslateError::upstream(format!("Cohere chat response: {err}")))?;
    let message = wire.message;
    let mut content: Vec<Part> = message
        .content
        .into_iter()
        .map(assistant_block_to_part)
        .collect();
    if let Some(plan) = message.tool_plan.filter(|plan| !plan.is_empty()) {
        content.push(Part::Text(sluice_core::chat::TextBlock::new(plan)));
    }
    content.extend(message.tool_calls.into_iter().map(tool_call_to_part));
    Ok(ChatResponse {
        id: wire.id,
        model: String::new(),
        created: None,
        content,
        finish_reason: wire.finish_reason.as_deref().map(decode_finish_reason),
        stop_sequence: None,
        usage: wire.usage.as_ref().map(decode_usage).unwrap_or_default(),
    })
}

/// Writes a canonical answer as Cohere's. With tool calls, the text goes into `tool_plan`
/// (as Cohere writes it); thinking stays in `content`.
pub fn encode_response(response: &ChatResponse) -> Vec<u8> {
    let has_tool_calls = response
        .content
        .iter()
        .any(|part| matches!(part, Part::ToolCall(_)));
    let mut content = Vec::new();
    let mut plan = String::new();
    let mut tool_calls = Vec::new();
    for part in &response.content {
        match part {
            Part::Text(block) if has_tool_calls => plan.push_str(&block.text),
            Part::Text(block) => content.push(AssistantBlockWire::Text {
                text: block.text.clone(),
            }),
            Part::Thinking { text, .. } => content.push(AssistantBlockWire::Thinking {
                thinking: text.clone(),
            }),
            Part::ToolCall(call) => tool_calls.push(ToolCallWire {
                id: call.id.clone(),
                kind: function_type(),
                function: FunctionCallWire {
                    name: call.name.clone(),
                    arguments: call.arguments.clone(),
                },
            }),
            // Nothing in Cohere's answer can hold these; no answer carries images or
            // tool results, and redacted thinking only means something to its provider.
            Part::RedactedThinking { .. } | Part::Image(_) | Part::ToolResult(_) => {}
        }
    }
    let wire = ChatResponseWire {
        id: response.id.clone(),
        finish_reason: Some(
            response
                .finish_reason
                .as_ref()
                .map_or("COMPLETE", encode_finish_reason)
                .to_string(),
        ),
        message: AssistantResponseWire {
            role: "assistant".to_string(),
            content,
            tool_plan: (!plan.is_empty()).then_some(plan),
            tool_calls,
        },
        usage: Some(encode_usage(&response.usage)),
    };
    // Plain strings and numbers: serialising cannot fail.
    serde_json::to_vec(&wire).unwrap_or_default()
}

/// `COMPLETE`, `STOP_SEQUENCE`, `MAX_TOKENS`, `TOOL_CALL`; `ERROR` and `TIMEOUT` (and any
/// newer value) are kept by name.
pub(crate) fn decode_finish_reason(reason: &str) -> FinishReason {
    match reason {
        "COMPLETE" => FinishReason::EndTurn,
        "STOP_SEQUENCE" => FinishReason::StopSequence,
        "MAX_TOKENS" => FinishReason::MaxTokens,
        "TOOL_CALL" => FinishReason::ToolCalls,
        other => FinishReason::Other(other.to_string()),
    }
}

/// Cohere has no content-filter reason: a filtered answer is reported as `ERROR`, and
/// any other provider's reason as `COMPLETE`, the nearest.
pub(crate) fn encode_finish_reason(reason: &FinishReason) -> &'static str {
    match reason {
        FinishReason::EndTurn => "COMPLETE",
        FinishReason::StopSequence => "STOP_SEQUENCE",
        FinishReason::MaxTokens => "MAX_TOKENS",
        FinishReason::ToolCalls => "TOOL_CALL",
        FinishReason::ContentFilter => "ERROR",
        FinishReason::Other(name) => match name.as_str() {
            "ERROR" => "ERROR",
            "TIMEOUT" => "TIMEOUT",
            _ => "COMPLETE",
        },
    }
}

/// `tokens` counts what the model processed; `billed_units` (fewer: Cohere does not bill
/// its own prompt template) stands in when `tokens` is absent. `cached_tokens` are part
/// of the input, as canonical cached tokens are.
pub(crate) fn decode_usage(usage: &UsageWire) -> Usage {
    let tokens = usage.tokens.as_ref();
    let billed = usage.billed_units.as_ref();
    let pick = |field: fn(&TokenCountsWire) -> Option<&serde_json::Number>| {
        count(tokens.and_then(field))
            .or_else(|| count(billed.and_then(field)))
            .unwrap_or(0)
    };
    Usage {
        input_tokens: pick(|counts| counts.input_tokens.as_ref()),
        output_tokens: pick(|counts| counts.output_tokens.as_ref()),
        cached_input_tokens: count(usage.cached_tokens.as_ref()).unwrap_or(0),
        cache_write_tokens: 0,
        reasoning_tokens: 0,
    }
}

/// Both `tokens` and `billed_units` carry the canonical counts (the gateway cannot know
/// Cohere's billing). Cache writes and reasoning tokens have no field.
pub(crate) fn encode_usage(usage: &Usage) -> UsageWire {
    let counts = || TokenCountsWire {
        input_tokens: Some(usage.input_tokens.into()),
        output_tokens: Some(usage.output_tokens.into()),
    };
    UsageWire {
        billed_units: Some(counts()),
        tokens: Some(counts()),
        cached_tokens: (usage.cached_input_tokens > 0).then(|| usage.cached_input_tokens.into()),
    }
}
