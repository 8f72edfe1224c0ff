//! `POST /v1/chat/completions`: validation, the reply, and the whole `chat.completion` object.
//!
//! Streams are rendered from the same [`Completion`] by `stream.rs`, so a streamed and a
//! whole answer to one request always carry the same text, tool call and usage.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Map, Value};
use sluice_core::mock::{MockReply, MockSettings};

use crate::app::{App, RequestCtx};
use crate::errors::ApiError;
use crate::stats::bump;
use crate::tokens;
use crate::tools::{self, ToolCall};

/// What an echo reply says when the last user message has no text.
pub const FALLBACK_REPLY: &str = "This is a mock response from Sluice.";

/// The parts of a chat request the mock acts on, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub stream: bool,
    pub stream_options: StreamOptions,
    /// `max_completion_tokens`, else `max_tokens`.
    pub max_tokens: Option<u64>,
    pub prompt_tokens: u64,
    /// The text of the last `user` message (text parts joined by spaces).
    pub last_user_text: String,
    /// Every message text, for seeding lorem replies from the prompt.
    pub prompt_text: String,
    pub tool_call: Option<ToolCall>,
}

/// A prompt counted by the token rule, message by message: what every dialect's parser
/// feeds, so all dialects charge and echo the same way.
#[derive(Clone, Debug, PartialEq)]
pub struct PromptTally {
    pub prompt_tokens: u64,
    /// Every message text, with its role, for seeding lorem replies from the prompt.
    pub prompt_text: String,
    /// The text of the last `user` message.
    pub last_user_text: String,
}

impl Default for PromptTally {
    fn default() -> Self {
        Self {
            prompt_tokens: tokens::REPLY_PRIMING_TOKENS,
            prompt_text: String::new(),
            last_user_text: String::new(),
        }
    }
}

impl PromptTally {
    /// Counts one message: its words, the per-message tokens, and `extra_tokens` (the
    /// words of tool calls it carries). `role` is the dialect's own spelling; "user" is
    /// what the echo reply listens to.
    pub fn message(&mut self, role: &str, text: String, extra_tokens: u64) {
        self.prompt_tokens = self
            .prompt_tokens
            .saturating_add(tokens::PER_MESSAGE_TOKENS)
            .saturating_add(tokens::count(&text))
            .saturating_add(extra_tokens);
        self.prompt_text.push_str(role);
        self.prompt_text.push('\n');
        self.prompt_text.push_str(&text);
        self.prompt_text.push('\n');
        if role == "user" {
            self.last_user_text = text;
        }
    }

    /// Tools are charged the words of their (compact) JSON definition.
    pub fn tools(&mut self, tools: &Value) {
        self.prompt_tokens = self
            .prompt_tokens
            .saturating_add(tokens::count(&tools.to_string()));
    }

    /// The [`ChatRequest`] a dialect's parser hands to the shared answer logic, with the
    /// tally's counts and texts and OpenAI's default `stream_options` (the other dialects
    /// have none), so every parser ends the same way.
    pub fn into_chat_request(
        self,
        model: String,
        stream: bool,
        max_tokens: Option<u64>,
        tool_call: Option<ToolCall>,
    ) -> ChatRequest {
        ChatRequest {
            model,
            stream,
            stream_options: StreamOptions::default(),
            max_tokens,
            prompt_tokens: self.prompt_tokens,
            last_user_text: self.last_user_text,
            prompt_text: self.prompt_text,
            tool_call,
        }
    }
}

/// `stream_options`, with OpenAI's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamOptions {
    /// A last chunk with the usage (and `"usage": null` on the others).
    pub include_usage: bool,
    /// An `obfuscation` padding field on every chunk (OpenAI's default since 2025).
    pub include_obfuscation: bool,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            include_usage: false,
            include_obfuscation: true,
        }
    }
}

/// One answer, ready to be sent whole or streamed.
#[derive(Clone, Debug)]
pub struct Completion {
    pub id: String,
    pub created: u64,
    pub model: String,
    pub system_fingerprint: String,
    /// The tool called, with its call id; `None` for a text answer.
    pub tool: Option<(String, String)>,
    /// The content (or the tool arguments) as token pieces: concatenated they are the text.
    pub pieces: Vec<String>,
    pub finish_reason: &'static str,
    pub usage: Usage,
}

impl Completion {
    /// The whole content (or arguments) string.
    pub fn text(&self) -> String {
        self.pieces.concat()
    }
}

#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
    pub prompt_tokens_details: PromptTokensDetails,
    pub completion_tokens_details: CompletionTokensDetails,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct PromptTokensDetails {
    pub cached_tokens: u64,
    pub audio_tokens: u64,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct CompletionTokensDetails {
    pub reasoning_tokens: u64,
    pub audio_tokens: u64,
    pub accepted_prediction_tokens: u64,
    pub rejected_prediction_tokens: u64,
}

impl Usage {
    pub fn new(prompt_tokens: u64, completion_tokens: u64) -> Self {
        Self {
            prompt_tokens,
            completion_tokens,
            total_tokens: prompt_tokens.saturating_add(completion_tokens),
            prompt_tokens_details: PromptTokensDetails::default(),
            completion_tokens_details: CompletionTokensDetails::default(),
        }
    }
}

/// Serves one chat completion request.
pub async fn handle(app: &App, ctx: &RequestCtx) -> Response {
    bump(&app.stats.chat_completions);
    let request = match parse(&ctx.body) {
        Ok(request) => request,
        Err(err) => return err.into_response(),
    };
    let completion = complete(&request, &app.settings, ctx.index, app.fingerprint());
    if request.stream {
        crate::stream::respond(app, &completion, request.stream_options, ctx.body_fault)
    } else {
        crate::json::ok(&whole(&completion))
    }
}

/// Validates the request the way OpenAI does, for the fields the mock reads. Unknown
/// fields are ignored.
pub fn parse(body: &[u8]) -> Result<ChatRequest, ApiError> {
    let (obj, model) = crate::json::object_with_model(body)?;
    let messages = match obj.get("messages") {
        None | Some(Value::Null) => return Err(ApiError::missing("messages")),
        Some(Value::Array(messages)) if messages.is_empty() => {
            return Err(ApiError::empty_array("messages"));
        }
        Some(Value::Array(messages)) => messages,
        Some(other) => return Err(ApiError::invalid_type("messages", "an array", other)),
    };

    let stream = optional_bool(&obj, "stream", "stream")?.unwrap_or(false);
    let stream_options = match obj.get("stream_options") {
        None | Some(Value::Null) => StreamOptions::default(),
        Some(Value::Object(options)) => {
            if !stream {
                return Err(ApiError::invalid_value(
                    "stream_options",
                    "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                ));
            }
            let defaults = StreamOptions::default();
            StreamOptions {
                include_usage: optional_bool(
                    options,
                    "include_usage",
                    "stream_options.include_usage",
                )?
                .unwrap_or(defaults.include_usage),
                include_obfuscation: optional_bool(
                    options,
                    "include_obfuscation",
                    "stream_options.include_obfuscation",
                )?
                .unwrap_or(defaults.include_obfuscation),
            }
        }
        Some(other) => return Err(ApiError::invalid_type("stream_options", "an object", other)),
    };
    let max_tokens = match optional_count(&obj, "max_completion_tokens")? {
        Some(max) => Some(max),
        None => optional_count(&obj, "max_tokens")?,
    };

    let mut prompt = PromptTally::default();
    for (i, message) in messages.iter().enumerate() {
        let Some(message) = message.as_object() else {
            return Err(ApiError::invalid_type(
                &format!("messages[{i}]"),
                "an object",
                message,
            ));
        };
        let role = match message.get("role") {
            None | Some(Value::Null) => {
                return Err(ApiError::missing(&format!("messages[{i}].role")));
            }
            Some(Value::String(role)) => role.as_str(),
            Some(other) => {
                return Err(ApiError::invalid_type(
                    &format!("messages[{i}].role"),
                    "a string",
                    other,
                ));
            }
        };
        prompt.message(role, message_text(message), tool_calls_tokens(message));
    }

    let tool_call = tools::select(obj.get("tools"), obj.get("tool_choice"))?;
    if let Some(tools) = obj.get("tools").filter(|t| !t.is_null()) {
        prompt.tools(tools);
    }

    Ok(ChatRequest {
        model,
        stream,
        stream_options,
        max_tokens,
        prompt_tokens: prompt.prompt_tokens,
        last_user_text: prompt.last_user_text,
        prompt_text: prompt.prompt_text,
        tool_call,
    })
}

/// Builds the answer to `request`. `index` (the server's request counter) only feeds the ids.
pub fn complete(
    request: &ChatRequest,
    settings: &MockSettings,
    index: u64,
    fingerprint: &str,
) -> Completion {
    let (tool, text) = match &request.tool_call {
        Some(call) => (
            Some((format!("call_mock_{index}"), call.name.clone())),
            call.arguments.clone(),
        ),
        None => (None, reply_text(request, settings)),
    };
    let mut pieces: Vec<String> = tokens::pieces(&text)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let mut finish_reason = if tool.is_some() { "tool_calls" } else { "stop" };
    if let Some(max) = request.max_tokens {
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        if pieces.len() > max {
            pieces.truncate(max);
            finish_reason = "length";
        }
    }
    let completion_tokens = pieces.len() as u64;
    Completion {
        id: format!("chatcmpl-mock-{index}"),
        created: now_secs(),
        model: request.model.clone(),
        system_fingerprint: fingerprint.to_owned(),
        tool,
        pieces,
        finish_reason,
        usage: Usage::new(request.prompt_tokens, completion_tokens),
    }
}

fn reply_text(request: &ChatRequest, settings: &MockSettings) -> String {
    match settings.reply {
        MockReply::Echo => {
            let echo = tokens::normalize(&request.last_user_text);
            if echo.is_empty() {
                FALLBACK_REPLY.to_owned()
            } else {
                echo
            }
        }
        // Seeded by the prompt too, so different prompts get different (but stable) replies.
        MockReply::Lorem => tokens::lorem(
            settings.reply_tokens,
            tokens::hash_text(settings.seed, &request.prompt_text),
        ),
    }
}

/// The text of a message: its string content, or its `text` parts joined by spaces. Other
/// parts (images, audio, files) are accepted and carry no words.
fn message_text(message: &Map<String, Value>) -> String {
    match message.get("content") {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => joined_texts(parts),
        _ => String::new(),
    }
}

/// The `text` fields of a list of content parts (or blocks), joined by spaces; parts
/// without text (images, …) add nothing. Shared so that a multi-part message is counted
/// and echoed the same in every dialect whose parts carry a plain `text`.
pub(crate) fn joined_texts(parts: &[Value]) -> String {
    let texts: Vec<&str> = parts
        .iter()
        .filter_map(|part| part.get("text").and_then(Value::as_str))
        .collect();
    texts.join(" ")
}

/// Words of the function names and arguments of an assistant message's tool calls
/// (OpenAI's `tool_calls` shape, which Cohere's v2 messages share).
pub(crate) fn tool_calls_tokens(message: &Map<String, Value>) -> u64 {
    let Some(calls) = message.get("tool_calls").and_then(Value::as_array) else {
        return 0;
    };
    calls
        .iter()
        .filter_map(|call| call.get("function"))
        .map(|function| {
            let words = |key: &str| {
                function
                    .get(key)
                    .and_then(Value::as_str)
                    .map_or(0, tokens::count)
            };
            words("name") + words("arguments")
        })
        .sum()
}

/// An optional boolean; `param` names it in errors.
fn optional_bool(
    obj: &Map<String, Value>,
    key: &str,
    param: &str,
) -> Result<Option<bool>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(ApiError::invalid_type(param, "a boolean", other)),
    }
}

/// An optional integer that must be at least 1.
fn optional_count(obj: &Map<String, Value>, key: &str) -> Result<Option<u64>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value @ Value::Number(n)) => match (n.as_u64(), n.as_i64()) {
            (Some(0), _) | (None, Some(_)) => Err(ApiError::below_min(key, 1, value)),
            (Some(count), _) => Ok(Some(count)),
            _ => Err(ApiError::invalid_type(key, "an integer", value)),
        },
        Some(other) => Err(ApiError::invalid_type(key, "an integer", other)),
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

// ---- the whole `chat.completion` object ----

#[derive(Serialize)]
struct ChatCompletionObject<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    usage: &'a Usage,
    service_tier: &'static str,
    system_fingerprint: &'a str,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: Message<'a>,
    logprobs: Option<()>,
    finish_reason: &'a str,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCallObject<'a>; 1]>,
    refusal: Option<()>,
    annotations: &'static [()],
}

#[derive(Serialize)]
pub struct ToolCallObject<'a> {
    pub id: &'a str,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionObject<'a>,
}

#[derive(Serialize)]
pub struct FunctionObject<'a> {
    pub name: &'a str,
    pub arguments: String,
}

/// The object a non-streaming request gets. Serialise it with `json::to_vec`.
pub fn whole(completion: &Completion) -> impl Serialize + '_ {
    let (content, tool_calls) = match &completion.tool {
        Some((id, name)) => (
            None,
            Some([ToolCallObject {
                id,
                kind: "function",
                function: FunctionObject {
                    name,
                    arguments: completion.text(),
                },
            }]),
        ),
        None => (Some(completion.text()), None),
    };
    ChatCompletionObject {
        id: &completion.id,
        object: "chat.completion",
        created: completion.created,
        model: &completion.model,
        choices: [Choice {
            index: 0,
            message: Message {
                role: "assistant",
                content,
                tool_calls,
                refusal: None,
                annotations: &[],
            },
            logprobs: None,
            finish_reason: completion.finish_reason,
        }],
        usage: &completion.usage,
        service_tier: "default",
        system_fingerprint: &completion.system_fingerprint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse_json(v: Value) -> Result<ChatRequest, ApiError> {
        parse(v.to_string().as_bytes())
    }

    #[test]
    fn counts_prompt_tokens() {
        let req = parse_json(json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [
                    {"type": "text", "text": "hello there"},
                    {"type": "image_url", "image_url": {"url": "data:,"}},
                    {"type": "text", "text": "friend"}
                ]}
            ]
        }));
        let req = req.expect("valid");
        // 3 (priming) + (3 + 2) + (3 + 3)
        assert_eq!(req.prompt_tokens, 14);
        assert_eq!(req.last_user_text, "hello there friend");
    }

    #[test]
    fn validates_like_openai() {
        let err = |v: Value| {
            parse_json(v)
                .err()
                .map(|e| (e.status.as_u16(), e.param, e.code))
        };
        assert_eq!(
            err(json!({"messages": []})),
            Some((
                400,
                Some("model".into()),
                Some("missing_required_parameter")
            ))
        );
        assert_eq!(
            err(json!({"model": "m"})),
            Some((
                400,
                Some("messages".into()),
                Some("missing_required_parameter")
            ))
        );
        assert_eq!(
            err(json!({"model": "m", "messages": []})),
            Some((400, Some("messages".into()), Some("empty_array")))
        );
        assert_eq!(
            err(json!({"model": 1, "messages": [{"role": "user"}]})),
            Some((400, Some("model".into()), Some("invalid_type")))
        );
        assert_eq!(
            err(
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 0})
            ),
            Some((
                400,
                Some("max_tokens".into()),
                Some("integer_below_min_value")
            ))
        );
        assert_eq!(
            err(
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": -3})
            ),
            Some((
                400,
                Some("max_tokens".into()),
                Some("integer_below_min_value")
            ))
        );
        assert_eq!(
            err(
                json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": 1.5})
            ),
            Some((400, Some("max_tokens".into()), Some("invalid_type")))
        );
        assert_eq!(
            err(json!({"model": "m", "messages": ["hi"]})),
            Some((400, Some("messages[0]".into()), Some("invalid_type")))
        );
        assert_eq!(
            err(
                json!({"model": "m", "messages": [{"role": "user"}], "stream_options": {"include_usage": true}})
            ),
            Some((400, Some("stream_options".into()), Some("invalid_value")))
        );
        assert!(parse(b"{not json").is_err());
        assert!(parse(b"[]").is_err());
        assert!(parse(b"").is_err());
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let req = parse_json(json!({
            "model": "m", "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0.2, "frobnicate": {"x": 1}, "n": 1
        }));
        assert!(req.is_ok());
    }

    #[test]
    fn max_tokens_cuts_with_length() {
        let req = parse_json(json!({
            "model": "m",
            "messages": [{"role": "user", "content": "one two three four"}],
            "max_completion_tokens": 2
        }))
        .expect("valid");
        let c = complete(&req, &MockSettings::default(), 0, "fp");
        assert_eq!(c.text(), "one two");
        assert_eq!(c.finish_reason, "length");
        assert_eq!(c.usage.completion_tokens, 2);
    }

    #[test]
    fn echo_falls_back_when_empty() {
        let req =
            parse_json(json!({"model": "m", "messages": [{"role": "system", "content": "x"}]}))
                .expect("valid");
        let c = complete(&req, &MockSettings::default(), 0, "fp");
        assert_eq!(c.text(), FALLBACK_REPLY);
        assert_eq!(c.finish_reason, "stop");
    }
}
