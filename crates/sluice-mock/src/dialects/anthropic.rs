//! Anthropic's Messages API: `POST /v1/messages` (whole and streamed, text, tool use and
//! extended thinking) and `POST /v1/messages/count_tokens`.
//!
//! Requests need `x-api-key` (or `Authorization: Bearer`) and `anthropic-version`; errors
//! are `{"type":"error","error":{"type","message"}}` with Anthropic's statuses. The answer
//! is the shared [`Completion`]: `stop` → `end_turn`, `length` → `max_tokens`, a tool call
//! → a `tool_use` block and `tool_use`. Tools are Anthropic's `{name, input_schema}`,
//! handed to the shared tool logic as OpenAI function tools; `tool_choice` `auto`, `any`,
//! `tool` and `none` map to `auto`, `required`, the named function and `none`.
//! `stop_sequences`, `temperature`, `top_p`, `top_k`, `metadata` are accepted and ignored
//! (`stop_sequence` is always null); server tools (with a `type`) are accepted, never called.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::post;
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value, json};

use super::{bearer_token, event_frame, header_text, json_error, status_code};
use crate::app::{self, App, RequestCtx};
use crate::chat::{self, ChatRequest, Completion, PromptTally};
use crate::errors::ErrorWriter;
use crate::faults::BodyFault;
use crate::stats::bump;
use crate::stream::{self, Step, StreamFault, Timing};
use crate::tokens;
use crate::tools;

/// The pipeline's own errors in Anthropic's envelope.
const ERRORS: ErrorWriter = ErrorWriter {
    status: |status, retry_after| AnthropicError::for_status(status, retry_after).into_response(),
    too_large: |limit| {
        AnthropicError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            format!("Request exceeds the maximum allowed number of bytes ({limit})."),
        )
        .into_response()
    },
    unreadable: || AnthropicError::invalid("The request body is not valid JSON.").into_response(),
};

pub(crate) fn routes(app: &Arc<App>) -> Router<Arc<App>> {
    let routes = Router::new()
        .route("/v1/messages", post(messages_route))
        .route("/v1/messages/count_tokens", post(count_tokens_route));
    app::with_pipeline(routes, app, ERRORS)
}

async fn messages_route(State(app): State<Arc<App>>, request: Request) -> Response {
    let ctx = app::ctx_of(&request);
    bump(&app.stats.chat_completions);
    match parse(request.headers(), &ctx.body, true) {
        Ok(parsed) => answer(&app, &ctx, &parsed),
        Err(err) => err.into_response(),
    }
}

async fn count_tokens_route(request: Request) -> Response {
    let ctx = app::ctx_of(&request);
    match parse(request.headers(), &ctx.body, false) {
        Ok(parsed) => crate::json::ok(&json!({"input_tokens": parsed.chat.prompt_tokens})),
        Err(err) => err.into_response(),
    }
}

// ---- errors ----

/// An Anthropic error answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AnthropicError {
    pub status: StatusCode,
    /// The `error.type` field.
    pub kind: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl AnthropicError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    /// Pydantic-style wording, as the API reports body errors: `messages.0.role: …`.
    fn missing(path: &str) -> Self {
        Self::invalid(format!("{path}: Field required"))
    }

    fn wrong_type(path: &str, expected: &str) -> Self {
        Self::invalid(format!("{path}: Input should be {expected}"))
    }

    /// What Anthropic answers with for `status` (the type its errors page lists for it).
    pub(crate) fn for_status(status: u16, retry_after: Option<u64>) -> Self {
        let code = status_code(status);
        let (kind, message) = match code.as_u16() {
            400 => (
                "invalid_request_error",
                "Invalid request (injected by sluice-mock).",
            ),
            401 => ("authentication_error", "invalid x-api-key"),
            403 => (
                "permission_error",
                "Your API key does not have permission to use the specified resource.",
            ),
            404 => ("not_found_error", "Not found"),
            413 => (
                "request_too_large",
                "Request exceeds the maximum allowed number of bytes.",
            ),
            429 => (
                "rate_limit_error",
                "This request would exceed the rate limit for your organization of 50 requests \
                 per minute. Please try again later.",
            ),
            500 => ("api_error", "Internal server error"),
            529 => ("overloaded_error", "Overloaded"),
            s if s >= 500 => ("api_error", "Internal server error"),
            _ => (
                "invalid_request_error",
                "Request failed (injected by sluice-mock).",
            ),
        };
        let mut err = Self::new(code, kind, message);
        err.retry_after = retry_after;
        err
    }

    fn body(&self) -> Value {
        json!({"type": "error", "error": {"type": self.kind, "message": self.message}})
    }

    pub(crate) fn into_response(self) -> Response {
        json_error(self.status, &self.body(), self.retry_after)
    }
}

// ---- requests ----

/// A validated Messages request.
#[derive(Clone, Debug, PartialEq)]
struct MessagesRequest {
    chat: ChatRequest,
    /// `thinking: {"type": "enabled"}`.
    thinking: bool,
}

/// Checks the headers and body the way the Messages API does, for the fields the mock
/// reads. `needs_max_tokens` is false for `count_tokens`, which takes no `max_tokens`.
fn parse(
    headers: &HeaderMap,
    body: &[u8],
    needs_max_tokens: bool,
) -> Result<MessagesRequest, AnthropicError> {
    if header_text(headers, "x-api-key").is_none() && bearer_token(headers).is_none() {
        return Err(AnthropicError::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "x-api-key header is required",
        ));
    }
    if header_text(headers, "anthropic-version").is_none() {
        return Err(AnthropicError::invalid(
            "anthropic-version: header is required",
        ));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|_| AnthropicError::invalid("The request body is not valid JSON."))?;
    let Value::Object(obj) = value else {
        return Err(AnthropicError::invalid(
            "Input should be a valid dictionary or object to extract fields from",
        ));
    };
    let model = match obj.get("model") {
        None | Some(Value::Null) => return Err(AnthropicError::missing("model")),
        Some(Value::String(model)) => model.clone(),
        Some(_) => return Err(AnthropicError::wrong_type("model", "a valid string")),
    };
    let max_tokens = match obj.get("max_tokens") {
        None | Some(Value::Null) if needs_max_tokens => {
            return Err(AnthropicError::missing("max_tokens"));
        }
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(0) => {
                return Err(AnthropicError::invalid(
                    "max_tokens: Input should be greater than or equal to 1",
                ));
            }
            Some(max) => Some(max),
            None => return Err(AnthropicError::wrong_type("max_tokens", "a valid integer")),
        },
        Some(_) => return Err(AnthropicError::wrong_type("max_tokens", "a valid integer")),
    };
    let messages = match obj.get("messages") {
        None | Some(Value::Null) => return Err(AnthropicError::missing("messages")),
        Some(Value::Array(messages)) if messages.is_empty() => {
            return Err(AnthropicError::invalid(
                "messages: at least one message is required",
            ));
        }
        Some(Value::Array(messages)) => messages,
        Some(_) => return Err(AnthropicError::wrong_type("messages", "a valid list")),
    };
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(stream)) => *stream,
        Some(_) => return Err(AnthropicError::wrong_type("stream", "a valid boolean")),
    };
    let thinking = parse_thinking(obj.get("thinking"), max_tokens)?;

    let mut prompt = PromptTally::default();
    match obj.get("system") {
        None | Some(Value::Null) => {}
        Some(system @ (Value::String(_) | Value::Array(_))) => {
            prompt.message("system", blocks_text(system, "system")?.text, 0);
        }
        Some(_) => {
            return Err(AnthropicError::wrong_type(
                "system",
                "a valid string or a list of text blocks",
            ));
        }
    }
    for (i, message) in messages.iter().enumerate() {
        let Some(message) = message.as_object() else {
            return Err(AnthropicError::wrong_type(
                &format!("messages.{i}"),
                "a valid dictionary",
            ));
        };
        let role = match message.get("role").and_then(Value::as_str) {
            None => return Err(AnthropicError::missing(&format!("messages.{i}.role"))),
            Some(role @ ("user" | "assistant")) => role,
            Some("system") => {
                return Err(AnthropicError::invalid(
                    "Unexpected role \"system\". The Messages API accepts a top-level `system` \
                     parameter, not \"system\" as an input message role.",
                ));
            }
            Some(_) => {
                return Err(AnthropicError::invalid(format!(
                    "messages.{i}.role: Input should be 'user' or 'assistant'"
                )));
            }
        };
        let content = match message.get("content") {
            None | Some(Value::Null) => {
                return Err(AnthropicError::missing(&format!("messages.{i}.content")));
            }
            Some(content) => blocks_text(content, &format!("messages.{i}.content"))?,
        };
        // A user turn of tool results only is not what the echo reply listens to, as an
        // OpenAI `tool` message is not.
        let role = if role == "user" && !content.has_text {
            "tool"
        } else {
            role
        };
        prompt.message(role, content.text, content.extra_tokens);
    }

    let (tool_call, tools_charged) = select_tool(obj.get("tools"), obj.get("tool_choice"))?;
    if let Some(tools) = tools_charged {
        prompt.tools(tools);
    }

    Ok(MessagesRequest {
        chat: prompt.into_chat_request(model, stream, max_tokens, tool_call),
        thinking,
    })
}

/// `thinking`: `{"type": "enabled", "budget_tokens": N}` (N ≥ 1024 and below
/// `max_tokens`, as documented) or `{"type": "disabled"}`.
fn parse_thinking(
    thinking: Option<&Value>,
    max_tokens: Option<u64>,
) -> Result<bool, AnthropicError> {
    let Some(thinking) = thinking.filter(|t| !t.is_null()) else {
        return Ok(false);
    };
    let Some(obj) = thinking.as_object() else {
        return Err(AnthropicError::wrong_type("thinking", "a valid dictionary"));
    };
    match obj.get("type").and_then(Value::as_str) {
        Some("disabled") => Ok(false),
        Some("enabled") => {
            let Some(budget) = obj.get("budget_tokens").and_then(Value::as_u64) else {
                return Err(AnthropicError::missing("thinking.enabled.budget_tokens"));
            };
            if budget < 1024 {
                return Err(AnthropicError::invalid(
                    "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
                ));
            }
            if max_tokens.is_some_and(|max| budget >= max) {
                return Err(AnthropicError::invalid(
                    "`max_tokens` must be greater than `thinking.budget_tokens`.",
                ));
            }
            Ok(true)
        }
        _ => Err(AnthropicError::invalid(
            "thinking: Input tag does not match any of the expected tags: 'enabled', 'disabled'",
        )),
    }
}

/// What the token rule sees of a `content` (or `system`) value.
struct ContentText {
    /// The `text` blocks (and tool results' text) joined by spaces.
    text: String,
    /// Whether any `text` block (or string content) was there.
    has_text: bool,
    /// Words of `tool_use` names and inputs, like an OpenAI assistant's tool calls.
    extra_tokens: u64,
}

/// A string, or a list of content blocks each with a `type`. Images, documents and other
/// blocks are accepted and carry no words.
fn blocks_text(content: &Value, path: &str) -> Result<ContentText, AnthropicError> {
    let blocks = match content {
        Value::String(text) => {
            return Ok(ContentText {
                text: text.clone(),
                has_text: true,
                extra_tokens: 0,
            });
        }
        Value::Array(blocks) => blocks,
        _ => {
            return Err(AnthropicError::wrong_type(
                path,
                "a valid string or a list of content blocks",
            ));
        }
    };
    let mut texts = Vec::new();
    let mut has_text = false;
    let mut extra_tokens = 0u64;
    for (i, block) in blocks.iter().enumerate() {
        let Some(kind) = block.get("type").and_then(Value::as_str) else {
            return Err(AnthropicError::missing(&format!("{path}.{i}.type")));
        };
        match kind {
            "text" => match block.get("text") {
                Some(Value::String(text)) => {
                    has_text = true;
                    texts.push(text.clone());
                }
                _ => return Err(AnthropicError::missing(&format!("{path}.{i}.text"))),
            },
            "tool_use" => {
                let name = block.get("name").and_then(Value::as_str).unwrap_or("");
                let input = block.get("input").map(Value::to_string).unwrap_or_default();
                extra_tokens = extra_tokens
                    .saturating_add(tokens::count(name))
                    .saturating_add(tokens::count(&input));
            }
            "tool_result" => match block.get("content") {
                Some(Value::String(text)) => texts.push(text.clone()),
                Some(Value::Array(parts)) => texts.extend(
                    parts
                        .iter()
                        .filter_map(|part| part.get("text").and_then(Value::as_str))
                        .map(str::to_owned),
                ),
                _ => {}
            },
            _ => {}
        }
    }
    Ok(ContentText {
        text: texts.join(" "),
        has_text,
        extra_tokens,
    })
}

/// The tool call (if any) and the tools to charge to the prompt. Custom tools are
/// rewritten as OpenAI function tools for the shared choice and argument logic.
fn select_tool<'a>(
    tools: Option<&'a Value>,
    tool_choice: Option<&Value>,
) -> Result<(Option<tools::ToolCall>, Option<&'a Value>), AnthropicError> {
    let list = match tools {
        None | Some(Value::Null) => return Ok((None, None)),
        Some(Value::Array(list)) if list.is_empty() => return Ok((None, tools)),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(AnthropicError::wrong_type("tools", "a valid list")),
    };
    let mut functions = Vec::new();
    for (i, tool) in list.iter().enumerate() {
        let Some(tool) = tool.as_object() else {
            return Err(AnthropicError::wrong_type(
                &format!("tools.{i}"),
                "a valid dictionary",
            ));
        };
        // Server tools (`web_search_…`, `bash_…`) name a versioned type; the mock runs none.
        if tool
            .get("type")
            .and_then(Value::as_str)
            .is_some_and(|kind| kind != "custom")
        {
            continue;
        }
        let Some(name) = tool.get("name").and_then(Value::as_str) else {
            return Err(AnthropicError::missing(&format!("tools.{i}.name")));
        };
        let Some(schema) = tool.get("input_schema").filter(|s| s.is_object()) else {
            return Err(AnthropicError::missing(&format!("tools.{i}.input_schema")));
        };
        functions
            .push(json!({"type": "function", "function": {"name": name, "parameters": schema}}));
    }
    if functions.is_empty() {
        return Ok((None, tools));
    }
    let choice = match tool_choice {
        None | Some(Value::Null) => None,
        Some(Value::Object(choice)) => match choice.get("type").and_then(Value::as_str) {
            Some("auto") => None,
            Some("none") => Some(json!("none")),
            Some("any") => Some(json!("required")),
            Some("tool") => {
                let Some(name) = choice.get("name").and_then(Value::as_str) else {
                    return Err(AnthropicError::missing("tool_choice.tool.name"));
                };
                Some(json!({"type": "function", "function": {"name": name}}))
            }
            _ => {
                return Err(AnthropicError::invalid(
                    "tool_choice: Input tag does not match any of the expected tags: 'auto', \
                     'any', 'tool', 'none'",
                ));
            }
        },
        Some(_) => {
            return Err(AnthropicError::wrong_type(
                "tool_choice",
                "a valid dictionary",
            ));
        }
    };
    let call = tools::select(Some(&Value::Array(functions)), choice.as_ref())
        .map_err(|err| AnthropicError::invalid(err.message))?;
    Ok((call, tools))
}

// ---- answers ----

/// The fixed reasoning a thinking-enabled answer starts with.
const THINKING_TEXT: &str = "The mock considers the request and answers it.";

/// A stand-in for the opaque signature real thinking blocks carry.
const THINKING_SIGNATURE: &str = "c2x1aWNlLW1vY2stdGhpbmtpbmctc2lnbmF0dXJl";

fn answer(app: &App, ctx: &RequestCtx, request: &MessagesRequest) -> Response {
    let completion = chat::complete(&request.chat, &app.settings, ctx.index, app.fingerprint());
    let answer = Answer::new(&completion, ctx.index, request.thinking);
    if request.chat.stream {
        let steps = plan(&answer, ctx.body_fault, Timing::of(app));
        stream::sse_response(app, steps, ctx.body_fault.is_some())
    } else {
        crate::json::ok(&answer.whole())
    }
}

/// A [`Completion`] in Anthropic's terms.
struct Answer<'a> {
    completion: &'a Completion,
    id: String,
    /// `(toolu_… id, name)` of the tool called.
    tool: Option<(String, &'a str)>,
    stop_reason: &'static str,
    thinking: bool,
}

impl<'a> Answer<'a> {
    fn new(completion: &'a Completion, index: u64, thinking: bool) -> Self {
        Self {
            completion,
            id: format!("msg_mock_{index}"),
            tool: completion
                .tool
                .as_ref()
                .map(|(_, name)| (format!("toolu_mock_{index}"), name.as_str())),
            stop_reason: match completion.finish_reason {
                "length" => "max_tokens",
                "tool_calls" => "tool_use",
                _ => "end_turn",
            },
            thinking,
        }
    }

    /// Output tokens: the answer's, plus the thinking's (billed as output).
    fn output_tokens(&self) -> u64 {
        let thinking = if self.thinking {
            tokens::count(THINKING_TEXT)
        } else {
            0
        };
        self.completion
            .usage
            .completion_tokens
            .saturating_add(thinking)
    }

    fn usage(&self, output_tokens: u64) -> Value {
        json!({
            "input_tokens": self.completion.usage.prompt_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": output_tokens,
        })
    }

    /// The `message` object, with `content` and the usage given.
    fn message(&self, content: Vec<Value>, stop_reason: Option<&str>, output_tokens: u64) -> Value {
        json!({
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.completion.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": null,
            "usage": self.usage(output_tokens),
        })
    }

    fn whole(&self) -> Value {
        let mut content = Vec::new();
        if self.thinking {
            content.push(json!({
                "type": "thinking",
                "thinking": THINKING_TEXT,
                "signature": THINKING_SIGNATURE,
            }));
        }
        let text = self.completion.text();
        content.push(match &self.tool {
            Some((id, name)) => json!({
                "type": "tool_use",
                "id": id,
                "name": name,
                // Arguments cut by `max_tokens` are not JSON: the input is then left empty.
                "input": serde_json::from_str::<Value>(&text)
                    .unwrap_or_else(|_| Value::Object(Map::new())),
            }),
            None => json!({"type": "text", "text": text}),
        });
        self.message(content, Some(self.stop_reason), self.output_tokens())
    }
}

/// The documented event sequence: `message_start`, per block `content_block_start`,
/// deltas, `content_block_stop` (a `ping` after the first start), then `message_delta`
/// and `message_stop`. Only the answer's pieces count as tokens for pacing and faults.
fn plan(answer: &Answer, fault: Option<BodyFault>, timing: Timing) -> VecDeque<Step> {
    let mut steps = VecDeque::new();
    let push = |steps: &mut VecDeque<Step>, event: &str, data: Value| {
        steps.push_back(Step::Frame(event_frame(event, &data)));
    };
    push(
        &mut steps,
        "message_start",
        json!({"type": "message_start", "message": answer.message(Vec::new(), None, 1)}),
    );

    let mut index = 0u32;
    if answer.thinking {
        push(
            &mut steps,
            "content_block_start",
            json!({"type": "content_block_start", "index": index,
                   "content_block": {"type": "thinking", "thinking": "", "signature": ""}}),
        );
        push(&mut steps, "ping", json!({"type": "ping"}));
        for piece in tokens::pieces(THINKING_TEXT) {
            push(
                &mut steps,
                "content_block_delta",
                json!({"type": "content_block_delta", "index": index,
                       "delta": {"type": "thinking_delta", "thinking": piece}}),
            );
        }
        push(
            &mut steps,
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index,
                   "delta": {"type": "signature_delta", "signature": THINKING_SIGNATURE}}),
        );
        push(
            &mut steps,
            "content_block_stop",
            json!({"type": "content_block_stop", "index": index}),
        );
        index += 1;
    }

    let block = match &answer.tool {
        Some((id, name)) => json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
        None => json!({"type": "text", "text": ""}),
    };
    push(
        &mut steps,
        "content_block_start",
        json!({"type": "content_block_start", "index": index, "content_block": block}),
    );
    if !answer.thinking {
        push(&mut steps, "ping", json!({"type": "ping"}));
    }

    let pieces = &answer.completion.pieces;
    let stream_fault = StreamFault::new(fault, pieces.len());
    for (i, piece) in pieces.iter().enumerate() {
        if play_fault(&stream_fault, i, &mut steps) {
            return steps;
        }
        timing.wait_before(i, &mut steps);
        let delta = match answer.tool {
            Some(_) => json!({"type": "input_json_delta", "partial_json": piece}),
            None => json!({"type": "text_delta", "text": piece}),
        };
        push(
            &mut steps,
            "content_block_delta",
            json!({"type": "content_block_delta", "index": index, "delta": delta}),
        );
    }
    if play_fault(&stream_fault, pieces.len(), &mut steps) {
        return steps;
    }
    push(
        &mut steps,
        "content_block_stop",
        json!({"type": "content_block_stop", "index": index}),
    );
    push(
        &mut steps,
        "message_delta",
        json!({"type": "message_delta",
               "delta": {"stop_reason": answer.stop_reason, "stop_sequence": null},
               "usage": {"output_tokens": answer.output_tokens()}}),
    );
    steps.push_back(Step::Done(event_frame(
        "message_stop",
        &json!({"type": "message_stop"}),
    )));
    steps
}

/// Plays the fault due before token `index`; true when the stream ends there. A
/// `stream_error` is the documented `event: error`, after which the stream ends.
fn play_fault(fault: &StreamFault, index: usize, steps: &mut VecDeque<Step>) -> bool {
    if let Some(status) = fault.error_before(index) {
        let error = AnthropicError::for_status(status, None);
        steps.push_back(Step::Frame(event_frame("error", &error.body())));
        steps.push_back(Step::End);
        return true;
    }
    fault.before_token(index, steps)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", HeaderValue::from_static("k"));
        headers.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        headers
    }

    fn parse_json(body: Value) -> Result<MessagesRequest, AnthropicError> {
        parse(&headers(), body.to_string().as_bytes(), true)
    }

    #[test]
    fn counts_like_the_openai_path() {
        let request = parse_json(json!({
            "model": "claude", "max_tokens": 10, "system": "be brief",
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hello there"}]}]
        }))
        .map(|r| r.chat);
        // 3 (priming) + (3 + 2) system + (3 + 2) user
        assert_eq!(request.as_ref().map(|r| r.prompt_tokens), Ok(13));
        assert_eq!(
            request.map(|r| r.last_user_text),
            Ok("hello there".to_owned())
        );
    }

    #[test]
    fn refuses_what_the_api_refuses() {
        let kind = |body: Value| {
            parse_json(body)
                .err()
                .map(|e| (e.status.as_u16(), e.message))
        };
        let ok =
            json!({"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]});
        assert_eq!(kind(ok.clone()), None);
        let mut no_max = ok.clone();
        no_max.as_object_mut().map(|o| o.remove("max_tokens"));
        assert_eq!(
            kind(no_max),
            Some((400, "max_tokens: Field required".into()))
        );
        let mut system_role = ok.clone();
        system_role["messages"][0]["role"] = json!("system");
        assert!(kind(system_role).is_some());
        let mut bad_thinking = ok.clone();
        bad_thinking["thinking"] = json!({"type": "enabled", "budget_tokens": 10});
        assert!(kind(bad_thinking).is_some());
        let no_key = parse(&HeaderMap::new(), ok.to_string().as_bytes(), true);
        assert_eq!(no_key.err().map(|e| e.kind), Some("authentication_error"));
    }

    #[test]
    fn status_types_follow_the_errors_page() {
        for (status, kind) in [
            (400, "invalid_request_error"),
            (401, "authentication_error"),
            (403, "permission_error"),
            (404, "not_found_error"),
            (413, "request_too_large"),
            (429, "rate_limit_error"),
            (500, "api_error"),
            (529, "overloaded_error"),
        ] {
            assert_eq!(AnthropicError::for_status(status, None).kind, kind);
        }
        assert_eq!(AnthropicError::for_status(9999, None).status, 500);
    }
}
