//! Cohere's v2 API: `POST /v2/chat` (whole and streamed, text and tool calls) and
//! `POST /v2/embed`.
//!
//! Requests need `Authorization: Bearer`; errors are `{"message": "..."}`. The answer is the
//! shared [`Completion`]: `stop` → `COMPLETE`, `length` → `MAX_TOKENS`, a tool call →
//! `TOOL_CALL` with a one-sentence `tool_plan`. Tools are already OpenAI-shaped function
//! tools; `tool_choice` `REQUIRED` / `NONE` map to `required` / `none`. `documents`,
//! `citation_options`, `response_format`, `safety_mode`, sampling fields and `seed` are
//! accepted and ignored.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::post;
use http::{HeaderMap, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::{bearer_token, event_frame, json_error, status_code};
use crate::app::{self, App, RequestCtx};
use crate::chat::{self, ChatRequest, Completion, PromptTally};
use crate::embeddings::{self, Input};
use crate::errors::ErrorWriter;
use crate::faults::BodyFault;
use crate::stats::bump;
use crate::stream::{self, Step, StreamFault, Timing};
use crate::tokens;
use crate::tools;

/// The pipeline's own errors in Cohere's envelope.
const ERRORS: ErrorWriter = ErrorWriter {
    status: |status, retry_after| CohereError::for_status(status, retry_after).into_response(),
    too_large: |limit| {
        CohereError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("request body too large: the limit is {limit} bytes"),
        )
        .into_response()
    },
    unreadable: || {
        CohereError::invalid("invalid request: the body could not be read").into_response()
    },
};

/// Most texts one embed request takes (Cohere's documented limit).
const MAX_TEXTS: usize = 96;

pub(crate) fn routes(app: &Arc<App>) -> Router<Arc<App>> {
    let routes = Router::new()
        .route("/v2/chat", post(chat_route))
        .route("/v2/embed", post(embed_route));
    app::with_pipeline(routes, app, ERRORS)
}

async fn chat_route(State(app): State<Arc<App>>, request: Request) -> Response {
    let ctx = app::ctx_of(&request);
    bump(&app.stats.chat_completions);
    match authorize(request.headers()).and_then(|()| parse_chat(&ctx.body)) {
        Ok(parsed) => answer(&app, &ctx, &parsed),
        Err(err) => err.into_response(),
    }
}

async fn embed_route(State(app): State<Arc<App>>, request: Request) -> Response {
    let ctx = app::ctx_of(&request);
    bump(&app.stats.embeddings);
    match authorize(request.headers()).and_then(|()| parse_embed(&ctx.body)) {
        Ok(parsed) => embed(&app, ctx.index, &parsed),
        Err(err) => err.into_response(),
    }
}

// ---- errors ----

/// A Cohere error answer: a status and `{"message"}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CohereError {
    pub status: StatusCode,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl CohereError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn missing(field: &str) -> Self {
        Self::invalid(format!("invalid request: {field} must not be empty"))
    }

    fn wrong_type(field: &str, expected: &str) -> Self {
        Self::invalid(format!("invalid request: {field} must be {expected}"))
    }

    /// What Cohere answers with for `status`.
    pub(crate) fn for_status(status: u16, retry_after: Option<u64>) -> Self {
        let code = status_code(status);
        let message = match code.as_u16() {
            400 => "invalid request (injected by sluice-mock)",
            401 => "invalid api token",
            404 => "model not found",
            422 => "unprocessable entity (injected by sluice-mock)",
            429 => {
                "You are using a Trial key, which is limited to 10 API calls / minute. Please try \
                 again later."
            }
            500 => "internal server error, this has been reported to our developers",
            503 => "service unavailable",
            s if s >= 500 => "internal server error",
            _ => "request failed (injected by sluice-mock)",
        };
        let mut err = Self::new(code, message);
        err.retry_after = retry_after;
        err
    }

    pub(crate) fn into_response(self) -> Response {
        json_error(
            self.status,
            &json!({"message": self.message}),
            self.retry_after,
        )
    }
}

fn authorize(headers: &HeaderMap) -> Result<(), CohereError> {
    match bearer_token(headers) {
        Some(_) => Ok(()),
        None => Err(CohereError::new(
            StatusCode::UNAUTHORIZED,
            "no api key supplied",
        )),
    }
}

fn object(body: &[u8]) -> Result<Map<String, Value>, CohereError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(_) => Err(CohereError::invalid(
            "invalid request: the body must be a JSON object",
        )),
        Err(_) => Err(CohereError::invalid(
            "invalid request: the body is not valid JSON",
        )),
    }
}

fn required_string(obj: &Map<String, Value>, field: &str) -> Result<String, CohereError> {
    match obj.get(field) {
        None | Some(Value::Null) => Err(CohereError::missing(field)),
        Some(Value::String(text)) if text.is_empty() => Err(CohereError::missing(field)),
        Some(Value::String(text)) => Ok(text.clone()),
        Some(_) => Err(CohereError::wrong_type(field, "a string")),
    }
}

// ---- chat ----

/// Checks a `/v2/chat` body the way Cohere does, for the fields the mock reads.
fn parse_chat(body: &[u8]) -> Result<ChatRequest, CohereError> {
    let obj = object(body)?;
    let model = required_string(&obj, "model")?;
    let messages = match obj.get("messages") {
        None | Some(Value::Null) => return Err(CohereError::missing("messages")),
        Some(Value::Array(messages)) if messages.is_empty() => {
            return Err(CohereError::missing("messages"));
        }
        Some(Value::Array(messages)) => messages,
        Some(_) => return Err(CohereError::wrong_type("messages", "an array")),
    };
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(stream)) => *stream,
        Some(_) => return Err(CohereError::wrong_type("stream", "a boolean")),
    };
    let max_tokens = match obj.get("max_tokens") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_u64() {
            Some(max) if max >= 1 => Some(max),
            _ => {
                return Err(CohereError::invalid(
                    "invalid request: max_tokens must be a positive integer",
                ));
            }
        },
        Some(_) => return Err(CohereError::wrong_type("max_tokens", "an integer")),
    };

    let mut prompt = PromptTally::default();
    for (i, message) in messages.iter().enumerate() {
        let Some(message) = message.as_object() else {
            return Err(CohereError::wrong_type(
                &format!("messages[{i}]"),
                "an object",
            ));
        };
        let role = match message.get("role").and_then(Value::as_str) {
            Some(role @ ("system" | "user" | "assistant" | "tool")) => role,
            Some(other) => {
                return Err(CohereError::invalid(format!(
                    "invalid request: messages[{i}].role must be one of system, user, assistant, \
                     tool; got '{other}'"
                )));
            }
            None => return Err(CohereError::missing(&format!("messages[{i}].role"))),
        };
        let content = match message.get("content") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(text)) => text.clone(),
            Some(Value::Array(parts)) => chat::joined_texts(parts),
            Some(_) => {
                return Err(CohereError::wrong_type(
                    &format!("messages[{i}].content"),
                    "a string or an array",
                ));
            }
        };
        if matches!(role, "user" | "system") && !message.contains_key("content") {
            return Err(CohereError::missing(&format!("messages[{i}].content")));
        }
        prompt.message(role, content, assistant_extra_tokens(message));
    }

    let choice = match obj.get("tool_choice") {
        None | Some(Value::Null) => None,
        Some(Value::String(mode)) if mode == "REQUIRED" => Some(json!("required")),
        Some(Value::String(mode)) if mode == "NONE" => Some(json!("none")),
        Some(_) => {
            return Err(CohereError::invalid(
                "invalid request: tool_choice must be one of REQUIRED, NONE",
            ));
        }
    };
    let tools_value = obj.get("tools").filter(|t| !t.is_null());
    if choice.is_some() && tools_value.is_none() {
        return Err(CohereError::invalid(
            "invalid request: tool_choice requires tools to be specified",
        ));
    }
    let tool_call = tools::select(tools_value, choice.as_ref())
        .map_err(|err| CohereError::invalid(format!("invalid request: {}", err.message)))?;
    if let Some(tools) = tools_value {
        prompt.tools(tools);
    }

    Ok(prompt.into_chat_request(model, stream, max_tokens, tool_call))
}

/// Words of an assistant message's `tool_plan` and tool calls (names and arguments).
fn assistant_extra_tokens(message: &Map<String, Value>) -> u64 {
    let plan = message
        .get("tool_plan")
        .and_then(Value::as_str)
        .map_or(0, tokens::count);
    let calls = chat::tool_calls_tokens(message);
    plan.saturating_add(calls)
}

fn answer(app: &App, ctx: &RequestCtx, request: &ChatRequest) -> Response {
    let completion = chat::complete(request, &app.settings, ctx.index, app.fingerprint());
    let answer = Answer::new(&completion, ctx.index);
    if request.stream {
        let steps = plan(&answer, ctx.body_fault, Timing::of(app));
        stream::sse_response(app, steps, ctx.body_fault.is_some())
    } else {
        crate::json::ok(&answer.whole())
    }
}

/// A [`Completion`] in Cohere's terms.
struct Answer<'a> {
    completion: &'a Completion,
    id: String,
    /// `(call id, name, tool plan)` of the tool called.
    tool: Option<(String, &'a str, String)>,
    finish_reason: &'static str,
}

impl<'a> Answer<'a> {
    fn new(completion: &'a Completion, index: u64) -> Self {
        Self {
            completion,
            id: mock_uuid(index),
            tool: completion.tool.as_ref().map(|(_, name)| {
                (
                    format!("{name}_mock{index}"),
                    name.as_str(),
                    format!("I will use the {name} tool to answer."),
                )
            }),
            finish_reason: match completion.finish_reason {
                "length" => "MAX_TOKENS",
                "tool_calls" => "TOOL_CALL",
                _ => "COMPLETE",
            },
        }
    }

    fn usage(&self) -> Value {
        let input = self.completion.usage.prompt_tokens;
        let output = self.completion.usage.completion_tokens;
        json!({
            "billed_units": {"input_tokens": input, "output_tokens": output},
            "tokens": {"input_tokens": input, "output_tokens": output},
        })
    }

    fn whole(&self) -> Value {
        let message = match &self.tool {
            Some((id, name, plan)) => json!({
                "role": "assistant",
                "tool_plan": plan,
                "tool_calls": [{
                    "id": id,
                    "type": "function",
                    "function": {"name": name, "arguments": self.completion.text()},
                }],
            }),
            None => json!({
                "role": "assistant",
                "content": [{"type": "text", "text": self.completion.text()}],
            }),
        };
        json!({
            "id": self.id,
            "finish_reason": self.finish_reason,
            "message": message,
            "usage": self.usage(),
        })
    }
}

/// A UUID-shaped id, as Cohere's are, fixed by the request's number.
fn mock_uuid(index: u64) -> String {
    format!("00000000-0000-4000-8000-{:012x}", index & 0xffff_ffff_ffff)
}

/// Cohere's event sequence: `message-start`, then either `content-start`, `content-delta`…,
/// `content-end`, or `tool-plan-delta`…, `tool-call-start`, `tool-call-delta`…,
/// `tool-call-end`; then `message-end` with the finish reason and usage.
fn plan(answer: &Answer, fault: Option<BodyFault>, timing: Timing) -> VecDeque<Step> {
    let mut steps = VecDeque::new();
    let push = |steps: &mut VecDeque<Step>, event: &str, data: Value| {
        steps.push_back(Step::Frame(event_frame(event, &data)));
    };
    push(
        &mut steps,
        "message-start",
        json!({"id": answer.id, "type": "message-start", "delta": {"message": {
            "role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []
        }}}),
    );
    match &answer.tool {
        Some((id, name, tool_plan)) => {
            for piece in tokens::pieces(tool_plan) {
                push(
                    &mut steps,
                    "tool-plan-delta",
                    json!({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": piece}}}),
                );
            }
            push(
                &mut steps,
                "tool-call-start",
                json!({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": {
                    "id": id, "type": "function", "function": {"name": name, "arguments": ""}
                }}}}),
            );
        }
        None => push(
            &mut steps,
            "content-start",
            json!({"type": "content-start", "index": 0, "delta": {"message": {
                "content": {"type": "text", "text": ""}
            }}}),
        ),
    }

    let pieces = &answer.completion.pieces;
    let stream_fault = StreamFault::new(fault, pieces.len());
    for (i, piece) in pieces.iter().enumerate() {
        if stream_fault.before_token(i, &mut steps) {
            return steps;
        }
        timing.wait_before(i, &mut steps);
        match answer.tool {
            Some(_) => push(
                &mut steps,
                "tool-call-delta",
                json!({"type": "tool-call-delta", "index": 0, "delta": {"message": {
                    "tool_calls": {"function": {"arguments": piece}}
                }}}),
            ),
            None => push(
                &mut steps,
                "content-delta",
                json!({"type": "content-delta", "index": 0, "delta": {"message": {
                    "content": {"text": piece}
                }}}),
            ),
        }
    }
    if stream_fault.before_token(pieces.len(), &mut steps) {
        return steps;
    }
    match answer.tool {
        Some(_) => push(
            &mut steps,
            "tool-call-end",
            json!({"type": "tool-call-end", "index": 0}),
        ),
        None => push(
            &mut steps,
            "content-end",
            json!({"type": "content-end", "index": 0}),
        ),
    }
    steps.push_back(Step::Done(event_frame(
        "message-end",
        &json!({"type": "message-end", "delta": {
            "finish_reason": answer.finish_reason, "usage": answer.usage()
        }}),
    )));
    steps
}

// ---- embed ----

/// A validated `/v2/embed` request.
#[derive(Clone, Debug, PartialEq)]
struct EmbedRequest {
    texts: Vec<String>,
    dimensions: Option<u32>,
}

/// `model`, `input_type` and `texts` are required; `embedding_types` may only ask for
/// `float` (the mock makes no quantised vectors); `output_dimension` sets the length.
fn parse_embed(body: &[u8]) -> Result<EmbedRequest, CohereError> {
    let obj = object(body)?;
    required_string(&obj, "model")?;
    let input_type = required_string(&obj, "input_type")?;
    if !matches!(
        input_type.as_str(),
        "search_document" | "search_query" | "classification" | "clustering" | "image"
    ) {
        return Err(CohereError::invalid(format!(
            "invalid request: input_type must be one of search_document, search_query, \
             classification, clustering, image; got '{input_type}'"
        )));
    }
    let texts = match obj.get("texts") {
        None | Some(Value::Null) => return Err(CohereError::missing("texts")),
        Some(Value::Array(texts)) if texts.is_empty() => {
            return Err(CohereError::missing("texts"));
        }
        Some(Value::Array(texts)) if texts.len() > MAX_TEXTS => {
            return Err(CohereError::invalid(format!(
                "invalid request: total number of texts must be at most {MAX_TEXTS} - received {}",
                texts.len()
            )));
        }
        Some(Value::Array(texts)) => texts
            .iter()
            .map(|text| text.as_str().map(str::to_owned))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| CohereError::wrong_type("texts", "an array of strings"))?,
        Some(_) => return Err(CohereError::wrong_type("texts", "an array of strings")),
    };
    match obj.get("embedding_types") {
        None | Some(Value::Null) => {}
        Some(Value::Array(kinds)) => {
            for kind in kinds {
                if kind.as_str() != Some("float") {
                    return Err(CohereError::invalid(format!(
                        "invalid request: embedding type {kind} is not supported by sluice-mock \
                         (only \"float\" is)"
                    )));
                }
            }
        }
        Some(_) => return Err(CohereError::wrong_type("embedding_types", "an array")),
    }
    let dimensions = match obj.get("output_dimension") {
        None | Some(Value::Null) => None,
        Some(value) => match value
            .as_u64()
            .filter(|d| (1..=embeddings::MAX_DIMENSIONS).contains(d))
        {
            Some(d) => u32::try_from(d).ok(),
            None => {
                return Err(CohereError::invalid(
                    "invalid request: output_dimension must be a positive integer",
                ));
            }
        },
    };
    Ok(EmbedRequest { texts, dimensions })
}

fn embed(app: &App, index: u64, request: &EmbedRequest) -> Response {
    let dims = request
        .dimensions
        .unwrap_or(app.settings.embedding_dimensions)
        .clamp(1, embeddings::MAX_DIMENSIONS as u32) as usize;
    let mut input_tokens = 0u64;
    let vectors: Vec<Vec<f32>> = request
        .texts
        .iter()
        .map(|text| {
            let words = embeddings::words(&Input::Text(text.clone()));
            input_tokens = input_tokens.saturating_add(words.len() as u64);
            embeddings::embed(&words, dims, app.settings.seed)
        })
        .collect();
    crate::json::ok(&EmbedResponse {
        id: mock_uuid(index),
        embeddings: EmbeddingsByType { float: vectors },
        texts: &request.texts,
        meta: json!({
            "api_version": {"version": "2"},
            "billed_units": {"input_tokens": input_tokens},
        }),
        response_type: "embeddings_by_type",
    })
}

/// A struct rather than `json!`, so the floats are written as the f32 they are (the same
/// digits as the OpenAI endpoint's), not widened to f64.
#[derive(Serialize)]
struct EmbedResponse<'a> {
    id: String,
    embeddings: EmbeddingsByType,
    texts: &'a [String],
    meta: Value,
    response_type: &'static str,
}

#[derive(Serialize)]
struct EmbeddingsByType {
    float: Vec<Vec<f32>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chat_validation() {
        let err = |v: Value| {
            parse_chat(v.to_string().as_bytes())
                .err()
                .map(|e| e.status.as_u16())
        };
        assert_eq!(
            err(json!({"model": "c", "messages": [{"role": "user", "content": "hi"}]})),
            None
        );
        assert_eq!(
            err(json!({"messages": [{"role": "user", "content": "hi"}]})),
            Some(400)
        );
        assert_eq!(err(json!({"model": "c"})), Some(400));
        assert_eq!(
            err(json!({"model": "c", "messages": [{"role": "bot", "content": "hi"}]})),
            Some(400)
        );
        assert_eq!(
            err(
                json!({"model": "c", "messages": [{"role": "user", "content": "hi"}],
                       "tool_choice": "REQUIRED"})
            ),
            Some(400)
        );
    }

    #[test]
    fn embed_validation() {
        let ok = |v: Value| parse_embed(v.to_string().as_bytes()).is_ok();
        assert!(ok(
            json!({"model": "e", "input_type": "search_query", "texts": ["a"]})
        ));
        assert!(!ok(json!({"model": "e", "texts": ["a"]})));
        assert!(!ok(
            json!({"model": "e", "input_type": "search_query", "texts": []})
        ));
        assert!(!ok(
            json!({"model": "e", "input_type": "search_query", "texts": ["a"],
                            "embedding_types": ["int8"]})
        ));
    }

    #[test]
    fn status_envelope_is_a_message() {
        let err = CohereError::for_status(429, Some(3));
        assert_eq!(err.status, 429);
        assert_eq!(err.retry_after, Some(3));
        assert_eq!(CohereError::for_status(1, None).status, 500);
    }
}
