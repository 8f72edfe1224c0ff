//! Pieces shared by the request, response and stream codecs: reading fields out of JSON
//! objects with errors that name the field, stop reasons, usage, and content blocks.

use serde_json::{Map, Value, json};
use sluice_core::chat::{FinishReason, Part, ToolCall, Usage};

use crate::TranslateError;

/// The name `TranslateError::Unsupported` gives when Anthropic is the target.
pub(crate) const PROVIDER: &str = "anthropic";

/// A field that is missing or has the wrong type, with its path in the body.
#[derive(Debug)]
pub(crate) struct FieldError {
    pub path: String,
    pub message: String,
}

impl FieldError {
    fn new(path: &str, message: impl Into<String>) -> Self {
        Self {
            path: path.to_string(),
            message: message.into(),
        }
    }

    /// The client sent it: a 400 naming the field.
    pub fn into_request_error(self) -> TranslateError {
        TranslateError::invalid_param(self.path, self.message)
    }

    /// The provider sent it: a 502.
    pub fn into_upstream_error(self) -> TranslateError {
        TranslateError::upstream(format!("{}: {}", self.path, self.message))
    }
}

/// Joins a path and a key for error messages (`messages[0].content`).
pub(crate) fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

pub(crate) fn as_object<'a>(
    value: &'a Value,
    path: &str,
) -> Result<&'a Map<String, Value>, FieldError> {
    value
        .as_object()
        .ok_or_else(|| FieldError::new(path, format!("`{path}` must be an object")))
}

pub(crate) fn required<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a Value, FieldError> {
    let full = child(path, key);
    match object.get(key) {
        Some(value) if !value.is_null() => Ok(value),
        _ => Err(FieldError::new(
            &full,
            format!("Missing required parameter: `{full}`"),
        )),
    }
}

/// A field that may be absent or `null`.
pub(crate) fn optional<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|value| !value.is_null())
}

pub(crate) fn required_str<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<&'a str, FieldError> {
    let value = required(object, key, path)?;
    value_as_str(value, &child(path, key))
}

pub(crate) fn optional_str<'a>(
    object: &'a Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<&'a str>, FieldError> {
    optional(object, key)
        .map(|value| value_as_str(value, &child(path, key)))
        .transpose()
}

pub(crate) fn value_as_str<'a>(value: &'a Value, path: &str) -> Result<&'a str, FieldError> {
    value
        .as_str()
        .ok_or_else(|| FieldError::new(path, format!("`{path}` must be a string")))
}

pub(crate) fn optional_u64(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<u64>, FieldError> {
    optional(object, key)
        .map(|value| {
            value.as_u64().ok_or_else(|| {
                let full = child(path, key);
                FieldError::new(&full, format!("`{full}` must be a non-negative integer"))
            })
        })
        .transpose()
}

pub(crate) fn optional_u32(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<u32>, FieldError> {
    optional_u64(object, key, path)?
        .map(|number| {
            u32::try_from(number).map_err(|_| {
                let full = child(path, key);
                FieldError::new(&full, format!("`{full}` is too large"))
            })
        })
        .transpose()
}

pub(crate) fn optional_f64(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<f64>, FieldError> {
    optional(object, key)
        .map(|value| {
            value.as_f64().ok_or_else(|| {
                let full = child(path, key);
                FieldError::new(&full, format!("`{full}` must be a number"))
            })
        })
        .transpose()
}

pub(crate) fn optional_bool(
    object: &Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<bool>, FieldError> {
    optional(object, key)
        .map(|value| {
            value.as_bool().ok_or_else(|| {
                let full = child(path, key);
                FieldError::new(&full, format!("`{full}` must be a boolean"))
            })
        })
        .transpose()
}

pub(crate) fn as_array<'a>(value: &'a Value, path: &str) -> Result<&'a Vec<Value>, FieldError> {
    value
        .as_array()
        .ok_or_else(|| FieldError::new(path, format!("`{path}` must be an array")))
}

/// `stop_reason` → canonical.
pub(crate) fn decode_stop_reason(stop_reason: &str) -> FinishReason {
    match stop_reason {
        "end_turn" => FinishReason::EndTurn,
        "max_tokens" => FinishReason::MaxTokens,
        "stop_sequence" => FinishReason::StopSequence,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_string()),
    }
}

/// Canonical → `stop_reason`. Reasons Anthropic has no name for become `end_turn`, the
/// plain end of a turn, which is what they mean to a client.
pub(crate) fn encode_stop_reason(reason: &FinishReason) -> &'static str {
    match reason {
        FinishReason::EndTurn | FinishReason::Other(_) => "end_turn",
        FinishReason::StopSequence => "stop_sequence",
        FinishReason::MaxTokens => "max_tokens",
        FinishReason::ToolCalls => "tool_use",
        FinishReason::ContentFilter => "refusal",
    }
}

/// Anthropic's four usage counters, in its own meaning: `input_tokens` excludes the
/// tokens read from or written to the prompt cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WireUsage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub cache_creation_input_tokens: u64,
}

impl WireUsage {
    /// Reads the fields present in a `usage` object over `self` (stream reports are
    /// cumulative, and `message_delta` may carry only some fields).
    pub fn update(&mut self, usage: &Map<String, Value>, path: &str) -> Result<(), FieldError> {
        if let Some(value) = optional_u64(usage, "input_tokens", path)? {
            self.input_tokens = value;
        }
        if let Some(value) = optional_u64(usage, "output_tokens", path)? {
            self.output_tokens = value;
        }
        if let Some(value) = optional_u64(usage, "cache_read_input_tokens", path)? {
            self.cache_read_input_tokens = value;
        }
        if let Some(value) = optional_u64(usage, "cache_creation_input_tokens", path)? {
            self.cache_creation_input_tokens = value;
        }
        Ok(())
    }

    pub fn to_canonical(self) -> Usage {
        Usage {
            input_tokens: self
                .input_tokens
                .saturating_add(self.cache_read_input_tokens)
                .saturating_add(self.cache_creation_input_tokens),
            output_tokens: self.output_tokens,
            cached_input_tokens: self.cache_read_input_tokens,
            cache_write_tokens: self.cache_creation_input_tokens,
            // Anthropic bills thinking as output but does not count it apart.
            reasoning_tokens: 0,
        }
    }

    pub fn from_canonical(usage: &Usage) -> Self {
        Self {
            input_tokens: usage
                .input_tokens
                .saturating_sub(usage.cached_input_tokens)
                .saturating_sub(usage.cache_write_tokens),
            output_tokens: usage.output_tokens,
            cache_read_input_tokens: usage.cached_input_tokens,
            cache_creation_input_tokens: usage.cache_write_tokens,
        }
    }

    pub fn to_json(self) -> Value {
        json!({
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
        })
    }
}

/// What became of an assistant content block (`text`, `tool_use`, `thinking`,
/// `redacted_thinking`) the request and response decoders both read.
pub(crate) enum AssistantBlock {
    Part(Part),
    /// A block type this decoder does not know; the caller decides what that means.
    Unknown(String),
}

/// Reads one content block of the kinds a model produces. `text` keeps its
/// `cache_control` (requests have it) and drops `citations`, which only answers grounded
/// in documents carry, and document blocks are refused on the way in.
pub(crate) fn decode_assistant_block(
    block: &Map<String, Value>,
    path: &str,
) -> Result<AssistantBlock, FieldError> {
    let block_type = required_str(block, "type", path)?;
    let part = match block_type {
        "text" => Part::Text(sluice_core::chat::TextBlock {
            text: required_str(block, "text", path)?.to_string(),
            cache_control: optional(block, "cache_control")
                .map(|value| sluice_core::chat::CacheControl(value.clone())),
        }),
        "tool_use" => {
            let input = optional(block, "input")
                .cloned()
                .unwrap_or_else(|| Value::Object(Map::new()));
            Part::ToolCall(ToolCall {
                id: required_str(block, "id", path)?.to_string(),
                name: required_str(block, "name", path)?.to_string(),
                arguments: input.to_string(),
            })
        }
        "thinking" => Part::Thinking {
            text: required_str(block, "thinking", path)?.to_string(),
            signature: optional_str(block, "signature", path)?
                .filter(|signature| !signature.is_empty())
                .map(str::to_string),
        },
        "redacted_thinking" => Part::RedactedThinking {
            data: required_str(block, "data", path)?.to_string(),
        },
        other => return Ok(AssistantBlock::Unknown(other.to_string())),
    };
    Ok(AssistantBlock::Part(part))
}

/// Tool call arguments (JSON text) as the `input` object Anthropic wants. Empty text
/// means no arguments (some OpenAI-compatible providers send `""`).
pub(crate) fn arguments_to_input(arguments: &str) -> Option<Value> {
    if arguments.trim().is_empty() {
        return Some(Value::Object(Map::new()));
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(value @ Value::Object(_)) => Some(value),
        _ => None,
    }
}
