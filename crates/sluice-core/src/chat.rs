//! The canonical chat exchange: one request, response and stream-event shape that every
//! dialect translates to and from.
//!
//! A request that arrives in a provider's own dialect never passes through these types
//! (it is forwarded raw). They exist for the cross-dialect path: OpenAI client to
//! Anthropic upstream, Anthropic client to Gemini, and so on. The shape follows the
//! richest of the dialects (content blocks, as Anthropic, Gemini and Bedrock have them),
//! so that translating into it loses nothing any target can express.

use serde_json::{Map, Value};

/// A chat request in canonical form.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatRequest {
    /// The model the client asked for (the router replaces it before encoding).
    pub model: String,
    /// System instructions, in order. OpenAI `system`/`developer` messages, Anthropic's
    /// `system`, Gemini's `systemInstruction`, Bedrock's `system`.
    pub system: Vec<TextBlock>,
    /// The conversation, alternating roles as the client sent it.
    pub messages: Vec<Message>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub top_p: Option<f64>,
    /// Anthropic, Gemini and Cohere have it; OpenAI does not.
    pub top_k: Option<u32>,
    pub stop: Vec<String>,
    pub stream: bool,
    pub tools: Vec<Tool>,
    pub tool_choice: Option<ToolChoice>,
    /// `Some(false)` asks for at most one tool call per turn.
    pub parallel_tool_calls: Option<bool>,
    pub response_format: Option<ResponseFormat>,
    /// Extended thinking / reasoning effort.
    pub reasoning: Option<Reasoning>,
    pub seed: Option<i64>,
    pub frequency_penalty: Option<f64>,
    pub presence_penalty: Option<f64>,
    /// An end-user id (OpenAI `user`, Anthropic `metadata.user_id`).
    pub user: Option<String>,
    /// Parameters of the client's dialect that have no canonical meaning, by name. They
    /// reach the provider only when it speaks the client's dialect (the raw path); on a
    /// translated path they are dropped and named in `x-sluice-dropped-params`.
    pub extra: Map<String, Value>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One turn. Tool results travel in a `User` turn (as Anthropic, Gemini and Bedrock
/// carry them); the OpenAI encoder turns them into `tool` messages.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Part>,
}

/// A piece of a message or of a response.
#[derive(Clone, Debug, PartialEq)]
pub enum Part {
    Text(TextBlock),
    Image(Image),
    /// The model calls a tool (only in assistant turns and responses).
    ToolCall(ToolCall),
    /// The result of a tool call (only in user turns).
    ToolResult(ToolResult),
    /// Extended thinking: the model's reasoning text, with the provider's signature that
    /// must be sent back unchanged in the next turn (Anthropic, Bedrock).
    Thinking {
        text: String,
        signature: Option<String>,
    },
    /// Thinking the provider encrypted; only its own dialect can take it back.
    RedactedThinking {
        data: String,
    },
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct TextBlock {
    pub text: String,
    /// Anthropic prompt caching: this block ends a cacheable prefix.
    pub cache_control: Option<CacheControl>,
}

impl TextBlock {
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            cache_control: None,
        }
    }
}

/// `{"type":"ephemeral","ttl":"1h"}`: kept as sent, since its fields still grow.
#[derive(Clone, Debug, PartialEq)]
pub struct CacheControl(pub Value);

#[derive(Clone, Debug, PartialEq)]
pub enum Image {
    /// An `http(s)` URL the provider fetches itself.
    Url(String),
    /// Inline bytes, base64-encoded as every dialect carries them.
    Base64 { media_type: String, data: String },
}

impl Image {
    /// Parses `data:<media type>;base64,<data>`, the form OpenAI clients send inline
    /// images in; any other URL stays a URL.
    pub fn from_url(url: &str) -> Image {
        if let Some(rest) = url.strip_prefix("data:")
            && let Some((media_type, data)) = rest.split_once(";base64,")
        {
            return Image::Base64 {
                media_type: media_type.to_string(),
                data: data.to_string(),
            };
        }
        Image::Url(url.to_string())
    }

    /// The image as a URL, a `data:` URL for inline bytes.
    pub fn to_url(&self) -> String {
        match self {
            Image::Url(url) => url.clone(),
            Image::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    /// The provider's call id; Gemini has none, so its decoder makes one up.
    pub id: String,
    pub name: String,
    /// The arguments as JSON text, exactly as the model produced them (OpenAI carries
    /// them as a string, the others as an object: the encoders convert).
    pub arguments: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ToolResult {
    pub call_id: String,
    /// Gemini matches results to calls by function name, not id.
    pub name: Option<String>,
    pub content: Vec<ToolResultContent>,
    pub is_error: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ToolResultContent {
    Text(String),
    Image(Image),
}

impl ToolResult {
    /// The text parts joined, for dialects whose tool results are one string.
    pub fn text(&self) -> String {
        let mut text = String::new();
        for part in &self.content {
            if let ToolResultContent::Text(piece) = part {
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(piece);
            }
        }
        text
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    /// The JSON Schema of the arguments.
    pub parameters: Value,
    pub cache_control: Option<CacheControl>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model decides.
    Auto,
    /// No tool may be called.
    None,
    /// Some tool must be called (OpenAI `required`, Anthropic `any`).
    Required,
    /// This tool must be called.
    Tool(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ResponseFormat {
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON matching a schema.
    JsonSchema {
        name: String,
        schema: Value,
        strict: Option<bool>,
    },
}

/// How much the model may think before answering.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reasoning {
    /// OpenAI `reasoning_effort`: `minimal`, `low`, `medium`, `high`.
    pub effort: Option<String>,
    /// Anthropic/Bedrock `thinking.budget_tokens`, Gemini `thinkingBudget`.
    pub budget_tokens: Option<u32>,
}

impl Reasoning {
    /// A token budget, from the effort when only that was given (the mapping the docs
    /// list: low 1024, medium 4096, high 16384).
    pub fn budget(&self) -> Option<u32> {
        self.budget_tokens
            .or_else(|| match self.effort.as_deref()? {
                "minimal" | "low" => Some(1024),
                "medium" => Some(4096),
                "high" => Some(16384),
                _ => None,
            })
    }

    /// An effort, from the budget when only that was given.
    pub fn effort(&self) -> Option<&str> {
        if let Some(effort) = self.effort.as_deref() {
            return Some(effort);
        }
        Some(match self.budget_tokens? {
            0..=2047 => "low",
            2048..=8191 => "medium",
            _ => "high",
        })
    }
}

/// A whole (non-streamed) chat answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ChatResponse {
    pub id: String,
    /// The model the provider says answered.
    pub model: String,
    /// Unix seconds; encoders use the current time when absent.
    pub created: Option<u64>,
    /// Text, thinking and tool calls, in the order the model produced them.
    pub content: Vec<Part>,
    pub finish_reason: Option<FinishReason>,
    /// The stop sequence that ended the answer, when the provider says which.
    pub stop_sequence: Option<String>,
    pub usage: Usage,
}

/// Why the model stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// A natural end of the turn (OpenAI `stop`, Anthropic `end_turn`, Gemini `STOP`).
    EndTurn,
    /// A stop sequence matched (OpenAI reports it as `stop`).
    StopSequence,
    /// The token limit was reached.
    MaxTokens,
    /// The model called tools and waits for their results.
    ToolCalls,
    /// A safety or content filter ended the answer.
    ContentFilter,
    /// Anything else, by the provider's own name (Anthropic `pause_turn`, Gemini
    /// `MALFORMED_FUNCTION_CALL`, …); encoders fall back to their nearest value.
    Other(String),
}

/// Token counts, normalised across providers.
///
/// `input_tokens` counts every input token, cached or not (OpenAI's `prompt_tokens`
/// meaning). Anthropic reports cache reads and writes apart from `input_tokens`: its
/// decoder adds them in, its encoder takes them out again.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Input tokens read from the provider's prompt cache (part of `input_tokens`).
    pub cached_input_tokens: u64,
    /// Input tokens written to the provider's prompt cache (part of `input_tokens`).
    pub cache_write_tokens: u64,
    /// Output tokens spent on reasoning (part of `output_tokens`).
    pub reasoning_tokens: u64,
}

impl Usage {
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }

    /// Folds in a later report: providers send cumulative counts, so the larger wins.
    pub fn merge(&mut self, later: &Usage) {
        self.input_tokens = self.input_tokens.max(later.input_tokens);
        self.output_tokens = self.output_tokens.max(later.output_tokens);
        self.cached_input_tokens = self.cached_input_tokens.max(later.cached_input_tokens);
        self.cache_write_tokens = self.cache_write_tokens.max(later.cache_write_tokens);
        self.reasoning_tokens = self.reasoning_tokens.max(later.reasoning_tokens);
    }
}

/// One step of a streamed answer, as the decoders of every provider dialect emit them
/// and the encoders of every client dialect consume them.
///
/// A well-formed stream is `Start`, then content blocks (`BlockStart`, deltas,
/// `BlockStop`, by increasing `index`, one open at a time), then `Finish`, any number of
/// `Usage`, and `End`. Decoders emit `Usage` whenever the provider reports it (cumulative
/// counts); encoders emit it where their dialect carries it.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    Start {
        id: String,
        model: String,
    },
    BlockStart {
        index: u32,
        block: BlockKind,
    },
    TextDelta {
        index: u32,
        text: String,
    },
    ThinkingDelta {
        index: u32,
        text: String,
    },
    /// The signature of a thinking block, sent at its end.
    SignatureDelta {
        index: u32,
        signature: String,
    },
    /// A piece of a tool call's JSON arguments; the pieces concatenated are the whole.
    ToolArgumentsDelta {
        index: u32,
        json: String,
    },
    BlockStop {
        index: u32,
    },
    Finish {
        reason: FinishReason,
        stop_sequence: Option<String>,
    },
    Usage(Usage),
    /// The provider reported an error in the stream (Anthropic's `overloaded_error`
    /// event, say); the encoder writes it in the client's dialect and the stream ends.
    Error(crate::ApiError),
    End,
}

/// What a content block holds, announced when it starts.
#[derive(Clone, Debug, PartialEq)]
pub enum BlockKind {
    Text,
    Thinking,
    RedactedThinking { data: String },
    ToolCall { id: String, name: String },
}

/// A canonical embeddings request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EmbeddingsRequest {
    pub model: String,
    pub input: Vec<String>,
    pub dimensions: Option<u32>,
    /// `float` (the default) or `base64`: how the client wants vectors encoded. Providers
    /// always return floats; the OpenAI encoder applies it.
    pub encoding_format: Option<String>,
    /// Cohere/Gemini task hint (`search_document`, `search_query`, …); OpenAI has none.
    pub input_type: Option<String>,
    pub user: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct EmbeddingsResponse {
    pub model: String,
    pub vectors: Vec<Vec<f32>>,
    pub input_tokens: u64,
}
