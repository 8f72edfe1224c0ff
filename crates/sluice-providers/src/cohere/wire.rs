//! The JSON shapes of Cohere's Chat API v2 (`POST /v2/chat`) and Embed API v2
//! (`POST /v2/embed`), as the API reference (https://docs.cohere.com/reference/chat)
//! documents them. Used in both directions, so every optional field is skipped when empty.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

/// The body of `POST /v2/chat`.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct ChatRequestWire {
    #[serde(default)]
    pub model: String,
    pub messages: Vec<MessageWire>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolWire>,
    /// `REQUIRED` or `NONE`; absent lets the model decide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stream: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop_sequences: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// Nucleus sampling (`top_p` elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p: Option<f64>,
    /// Top-k sampling (`top_k` elsewhere).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence_penalty: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<ResponseFormatWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thinking: Option<ThinkingWire>,
    /// Everything else (`documents`, `citation_options`, `safety_mode`, `strict_tools`,
    /// `logprobs`, `priority`, …): no canonical meaning.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One message, told apart by `role`.
#[derive(Debug, Deserialize, Serialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub(crate) enum MessageWire {
    System {
        content: Content<TextBlockWire>,
    },
    User {
        content: Content<UserBlockWire>,
    },
    Assistant {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<Content<AssistantBlockWire>>,
        /// The model's plan before it calls tools.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tool_plan: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tool_calls: Vec<ToolCallWire>,
    },
    Tool {
        tool_call_id: String,
        content: Content<ToolBlockWire>,
    },
}

/// Message content: a plain string or a list of typed blocks.
#[derive(Debug, Deserialize, Serialize)]
#[serde(untagged)]
pub(crate) enum Content<Block> {
    Text(String),
    Blocks(Vec<Block>),
}

/// `{"type":"text","text":...}`, the only block a system message takes.
#[derive(Debug, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum TextBlockWire {
    Text { text: String },
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum UserBlockWire {
    Text { text: String },
    ImageUrl { image_url: ImageUrlWire },
}

#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct ImageUrlWire {
    /// A web URL or a `data:` URI.
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum AssistantBlockWire {
    Text { text: String },
    Thinking { thinking: String },
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ToolBlockWire {
    Text { text: String },
    Document { document: DocumentWire },
}

#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct DocumentWire {
    pub data: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct ToolCallWire {
    #[serde(default)]
    pub id: String,
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    #[serde(default)]
    pub function: FunctionCallWire,
}

#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct FunctionCallWire {
    #[serde(default)]
    pub name: String,
    /// JSON text, as OpenAI carries it.
    #[serde(default)]
    pub arguments: String,
}

#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct ToolWire {
    #[serde(rename = "type", default = "function_type")]
    pub kind: String,
    pub function: FunctionWire,
}

#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct FunctionWire {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default)]
    pub parameters: Value,
}

pub(crate) fn function_type() -> String {
    "function".to_string()
}

/// `{"type":"text"}` or `{"type":"json_object","json_schema":{...}}`.
#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct ResponseFormatWire {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_schema: Option<Value>,
}

/// `{"type":"enabled"|"disabled","token_budget":n}`.
#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct ThinkingWire {
    #[serde(rename = "type", default = "enabled_type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_budget: Option<u32>,
}

fn enabled_type() -> String {
    "enabled".to_string()
}

/// A whole (non-streamed) answer.
#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct ChatResponseWire {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    pub message: AssistantResponseWire,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<UsageWire>,
}

#[derive(Debug, Deserialize, Serialize)]
pub(crate) struct AssistantResponseWire {
    #[serde(default = "assistant_role")]
    pub role: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<AssistantBlockWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_plan: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCallWire>,
}

fn assistant_role() -> String {
    "assistant".to_string()
}

/// `usage`: what was billed and what the model actually processed.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct UsageWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub billed_units: Option<TokenCountsWire>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<TokenCountsWire>,
    /// Prompt tokens served from the cache (part of `tokens.input_tokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_tokens: Option<Number>,
}

/// The reference types these counts as `number`, so they are read as any JSON number.
#[derive(Debug, Default, Deserialize, Serialize)]
pub(crate) struct TokenCountsWire {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<Number>,
}

/// A token count from a JSON number: negative or non-finite counts read as zero.
pub(crate) fn count(number: Option<&Number>) -> Option<u64> {
    let number = number?;
    number.as_u64().or_else(|| {
        number
            .as_f64()
            .filter(|value| value.is_finite() && *value >= 0.0)
            // Truncation is intended: counts are whole numbers sent as floats.
            .map(|value| value as u64)
    })
}

/// One streamed event's `data`, every event type in one permissive shape.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct StreamEventWire {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub index: Option<u32>,
    #[serde(default)]
    pub delta: Option<StreamDeltaWire>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct StreamDeltaWire {
    #[serde(default)]
    pub message: Option<StreamMessageWire>,
    #[serde(default)]
    pub finish_reason: Option<String>,
    #[serde(default)]
    pub usage: Option<UsageWire>,
    /// Set on `message-end` when generation failed.
    #[serde(default)]
    pub error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct StreamMessageWire {
    #[serde(default)]
    pub content: Option<StreamContentWire>,
    #[serde(default)]
    pub tool_plan: Option<String>,
    #[serde(default)]
    pub tool_calls: Option<StreamToolCallWire>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct StreamContentWire {
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub thinking: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct StreamToolCallWire {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub function: Option<StreamFunctionWire>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct StreamFunctionWire {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub arguments: Option<String>,
}

/// The body of `POST /v2/embed` (texts only).
#[derive(Debug, Serialize)]
pub(crate) struct EmbedRequestWire<'a> {
    pub model: &'a str,
    pub texts: &'a [String],
    pub input_type: &'a str,
    pub embedding_types: [&'static str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_dimension: Option<u32>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct EmbedResponseWire {
    #[serde(default)]
    pub embeddings: Option<EmbeddingsWire>,
    #[serde(default)]
    pub meta: Option<EmbedMetaWire>,
}

/// By type (`{"float":[[...]]}`, when `embedding_types` was sent) or, from older
/// models, a bare list of float vectors.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum EmbeddingsWire {
    ByType { float: Option<Vec<Vec<f32>>> },
    Floats(Vec<Vec<f32>>),
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct EmbedMetaWire {
    #[serde(default)]
    pub billed_units: Option<TokenCountsWire>,
}
