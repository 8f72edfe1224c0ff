//! AWS Bedrock's runtime dialect: `POST /model/{modelId}/converse`, `/converse-stream`
//! (an `application/vnd.amazon.eventstream` body, see `eventstream.rs`) and `/invoke` for
//! embedding models (Titan text embeddings, Cohere embed).
//!
//! Requests must carry a SigV4 `Authorization` header and `x-amz-date`. Their shape is
//! checked (algorithm, credential scope for the `bedrock` service, signed headers, a
//! 64-hex signature, the scope's date against `x-amz-date`) but the signature is not
//! verified: the mock has no secret keys. Every credential scope seen is recorded
//! ([`crate::MockServer::aws_credential_scopes`]) so tests can check the region.
//!
//! The answer is the shared one of `chat.rs`. Stream events: `messageStart`, for a tool call
//! `contentBlockStart` (text blocks have none, as on Bedrock), one `contentBlockDelta` per
//! token, `contentBlockStop`, `messageStop`, `metadata`; every payload carries Bedrock's `p`
//! padding field. A `stream_error` fault is an exception message (`:message-type:
//! exception`, `:exception-type` by status: `throttlingException` for 429,
//! `internalServerException` for 500, `serviceUnavailableException` for 503,
//! `validationException` for 400, else `modelStreamErrorException`), then the body ends
//! cleanly; `cut_stream` aborts the body with no message.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Map, Value, json};

use super::eventstream;
use crate::app::{App, RECEIVED_CAPACITY, RequestCtx, ctx_of, with_pipeline};
use crate::chat::{self, ChatRequest, Completion, PromptTally};
use crate::embeddings::{self, Input};
use crate::errors::ErrorWriter;
use crate::faults;
use crate::stats::bump;
use crate::stream::{Step, StreamFault, Timing, sse_response};
use crate::tokens;
use crate::tools;

/// The content type of ConverseStream's body.
pub const EVENT_STREAM: &str = "application/vnd.amazon.eventstream";

/// Cohere embed on Bedrock takes at most this many texts.
pub const MAX_COHERE_TEXTS: usize = 96;

/// Bedrock's stream padding is a prefix of this alphabet.
const PADDING: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/// One SigV4 credential scope, as a request's `Authorization` header named it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsCredentialScope {
    pub access_key_id: String,
    /// `YYYYMMDD`.
    pub date: String,
    pub region: String,
    pub service: String,
}

/// The credential scopes seen, newest last, bounded like `received()`.
#[derive(Debug, Default)]
pub struct SigningLog(Mutex<VecDeque<AwsCredentialScope>>);

impl SigningLog {
    pub fn scopes(&self) -> Vec<AwsCredentialScope> {
        // A poisoned lock only means a panic elsewhere; the log itself is still sound.
        let log = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        log.iter().cloned().collect()
    }

    fn record(&self, scope: AwsCredentialScope) {
        let mut log = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if log.len() == RECEIVED_CAPACITY {
            log.pop_front();
        }
        log.push_back(scope);
    }
}

// ---- routes ----

pub(crate) fn routes(app: &Arc<App>) -> Router<Arc<App>> {
    let routes = Router::new().route("/model/{model_id}/{operation}", post(model_route));
    with_pipeline(routes, app, BEDROCK_ERRORS)
}

const BEDROCK_ERRORS: ErrorWriter = ErrorWriter {
    status: |status, retry_after| BedrockError::for_status(status, retry_after).into_response(),
    too_large: |limit| {
        BedrockError::validation(format!(
            "The request body exceeds the maximum size of {limit} bytes."
        ))
        .into_response()
    },
    unreadable: || BedrockError::validation("The request body could not be read.").into_response(),
};

async fn model_route(
    State(app): State<Arc<App>>,
    params: Result<Path<(String, String)>, PathRejection>,
    request: Request,
) -> Response {
    // axum has already percent-decoded the id (`%3A` is `:`).
    let Ok(Path((model_id, operation))) = params else {
        return BedrockError::new(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "The model id is not valid.",
        )
        .into_response();
    };
    match check_signature(request.headers()) {
        Ok(scope) => app.aws_signing.record(scope),
        Err(err) => return err.into_response(),
    }
    let ctx = ctx_of(&request);
    let result = match operation.as_str() {
        "converse" => converse(&app, &ctx, &model_id, false),
        "converse-stream" => converse(&app, &ctx, &model_id, true),
        "invoke" => invoke(&app, &model_id, &ctx.body),
        _ => Err(BedrockError::new(
            StatusCode::NOT_FOUND,
            "UnknownOperationException",
            format!("Unknown operation: {operation}"),
        )),
    };
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    if let Ok(id) = HeaderValue::from_str(&request_id(ctx.index)) {
        response.headers_mut().insert("x-amzn-requestid", id);
    }
    response
}

/// A UUID-shaped request id, fixed by the request's number.
fn request_id(index: u64) -> String {
    let a = tokens::mix(index);
    let b = tokens::mix(a);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

// ---- SigV4 shape ----

/// The SigV4 header's shape (see the module docs); the signature is not verified.
fn check_signature(headers: &HeaderMap) -> Result<AwsCredentialScope, BedrockError> {
    let forbidden = |kind: &'static str, message: String| {
        BedrockError::new(StatusCode::FORBIDDEN, kind, message)
    };
    let Some(authorization) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(forbidden(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token".into(),
        ));
    };
    let Some(fields) = authorization.strip_prefix("AWS4-HMAC-SHA256 ") else {
        // Bearer tokens (Bedrock API keys) included: the mock speaks SigV4 only.
        return Err(forbidden(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.".into(),
        ));
    };
    let field = |name: &str| {
        fields
            .split(',')
            .map(str::trim)
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
    };
    let incomplete = |what: &str| {
        forbidden(
            "IncompleteSignatureException",
            format!(
                "Authorization header requires '{what}' parameter. Authorization={authorization}"
            ),
        )
    };
    let credential = field("Credential").ok_or_else(|| incomplete("Credential"))?;
    let signed_headers = field("SignedHeaders").ok_or_else(|| incomplete("SignedHeaders"))?;
    let signature = field("Signature").ok_or_else(|| incomplete("Signature"))?;

    let scope: Vec<&str> = credential.split('/').collect();
    let [key_id, date, region, service, terminator] = scope.as_slice() else {
        return Err(forbidden(
            "IncompleteSignatureException",
            format!(
                "Credential should be scoped to a valid region, not '{credential}'. Authorization={authorization}"
            ),
        ));
    };
    if *terminator != "aws4_request" {
        return Err(forbidden(
            "InvalidSignatureException",
            format!(
                "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
            ),
        ));
    }
    if *service != "bedrock" {
        return Err(forbidden(
            "InvalidSignatureException",
            "Credential should be scoped to correct service: 'bedrock'.".into(),
        ));
    }
    if key_id.is_empty() || region.is_empty() {
        return Err(forbidden(
            "UnrecognizedClientException",
            "The security token included in the request is invalid.".into(),
        ));
    }
    let amz_date = headers.get("x-amz-date").and_then(|v| v.to_str().ok());
    let Some(amz_date) = amz_date.filter(|d| is_amz_date(d)) else {
        return Err(forbidden(
            "IncompleteSignatureException",
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
                .into(),
        ));
    };
    if amz_date.get(..8) != Some(*date) {
        return Err(forbidden(
            "InvalidSignatureException",
            format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date \
                 from HTTP: '{date}' != '{}', from '{amz_date}'.",
                amz_date.get(..8).unwrap_or_default()
            ),
        ));
    }
    if !signed_headers.split(';').any(|h| h == "host") {
        return Err(forbidden(
            "InvalidSignatureException",
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.".into(),
        ));
    }
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(forbidden(
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method."
                .into(),
        ));
    }
    Ok(AwsCredentialScope {
        access_key_id: (*key_id).to_owned(),
        date: (*date).to_owned(),
        region: (*region).to_owned(),
        service: (*service).to_owned(),
    })
}

/// `YYYYMMDDTHHMMSSZ`.
fn is_amz_date(date: &str) -> bool {
    let bytes = date.as_bytes();
    bytes.len() == 16
        && bytes.get(8) == Some(&b'T')
        && bytes.get(15) == Some(&b'Z')
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 8 || i == 15 || b.is_ascii_digit())
}

// ---- Converse ----

fn converse(
    app: &App,
    ctx: &RequestCtx,
    model_id: &str,
    stream: bool,
) -> Result<Response, BedrockError> {
    bump(&app.stats.chat_completions);
    let body = parse_object(&ctx.body)?;
    let mut request = parse_converse(&body, model_id)?;
    request.stream = stream;
    let completion = chat::complete(&request, &app.settings, ctx.index, app.fingerprint());
    let latency_ms = u64::try_from(app.settings.latency.get().as_millis()).unwrap_or(u64::MAX);
    if stream {
        let steps = plan_stream(&completion, ctx, Timing::of(app), latency_ms);
        let mut response = sse_response(app, steps, ctx.body_fault.is_some());
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(EVENT_STREAM));
        return Ok(response);
    }
    let content = match &completion.tool {
        Some((_, name)) => json!({"toolUse": {
            "toolUseId": tool_use_id(ctx.index),
            "name": name,
            "input": tool_input(&completion),
        }}),
        None => json!({"text": completion.text()}),
    };
    Ok(crate::json::ok(&json!({
        "output": {"message": {"role": "assistant", "content": [content]}},
        "stopReason": stop_reason(&completion),
        "usage": usage(&completion),
        "metrics": {"latencyMs": latency_ms},
    })))
}

/// A Converse request reduced to what the answer logic reads, validated the way Bedrock
/// validates it for the fields the mock reads.
fn parse_converse(body: &Map<String, Value>, model_id: &str) -> Result<ChatRequest, BedrockError> {
    let mut prompt = PromptTally::default();
    match body.get("system") {
        None | Some(Value::Null) => {}
        Some(Value::Array(blocks)) => {
            prompt.message("system", chat::joined_texts(blocks), 0);
        }
        Some(_) => return Err(BedrockError::validation("The system field must be a list.")),
    }

    let messages = match body.get("messages") {
        Some(Value::Array(messages)) if !messages.is_empty() => messages,
        None | Some(Value::Null) | Some(Value::Array(_)) => {
            return Err(BedrockError::validation(
                "A conversation must start with a user message. Try again with a conversation \
                 that starts with a user message.",
            ));
        }
        Some(_) => {
            return Err(BedrockError::validation(
                "The messages field must be a list.",
            ));
        }
    };
    let tool_config = body.get("toolConfig").filter(|c| !c.is_null());
    let mut expected_role = "user";
    for (i, message) in messages.iter().enumerate() {
        let role = message.get("role").and_then(Value::as_str);
        let role = match role {
            Some(role @ ("user" | "assistant")) => role,
            other => {
                return Err(BedrockError::validation(format!(
                    "1 validation error detected: Value '{}' at 'messages.{}.member.role' failed \
                     to satisfy constraint: Member must satisfy enum value set: [user, assistant]",
                    other.unwrap_or("null"),
                    i + 1
                )));
            }
        };
        if role != expected_role {
            return Err(BedrockError::validation(if i == 0 {
                "A conversation must start with a user message. Try again with a conversation \
                 that starts with a user message."
            } else {
                "A conversation must alternate between user and assistant roles. Make sure the \
                 conversation alternates between user and assistant roles and try again."
            }));
        }
        expected_role = if role == "user" { "assistant" } else { "user" };
        let blocks = match message.get("content") {
            Some(Value::Array(blocks)) if !blocks.is_empty() => blocks,
            _ => {
                return Err(BedrockError::validation(format!(
                    "The content field in the Message object at messages.{i} is empty. Add a \
                     ContentBlock object to the content field and try again."
                )));
            }
        };
        let summary = blocks_text(blocks, i)?;
        if tool_config.is_none() && summary.has_tool_blocks {
            return Err(BedrockError::validation(
                "The toolConfig field must be defined when using toolUse and toolResult content \
                 blocks.",
            ));
        }
        // A user turn made only of tool results answers a tool call, like OpenAI's `tool`
        // message: it must not become what the echo reply repeats.
        let tally_role = match role {
            "user" if summary.only_tool_results => "tool",
            _ => role,
        };
        prompt.message(tally_role, summary.text, summary.tool_tokens);
    }

    let max_tokens = match body.get("inferenceConfig").and_then(|c| c.get("maxTokens")) {
        None | Some(Value::Null) => None,
        Some(value) => match (value.as_u64(), value.as_i64()) {
            (Some(0), _) | (None, Some(_)) => {
                return Err(BedrockError::validation(format!(
                    "1 validation error detected: Value '{value}' at 'inferenceConfig.maxTokens' \
                     failed to satisfy constraint: Member must have value greater than or equal \
                     to 1"
                )));
            }
            (Some(max), _) => Some(max),
            _ => {
                return Err(BedrockError::validation(
                    "The value of inferenceConfig.maxTokens must be an integer.",
                ));
            }
        },
    };

    let tool_call = match tool_config {
        Some(config) => select_tool(config, &mut prompt)?,
        None => None,
    };

    Ok(prompt.into_chat_request(model_id.to_owned(), false, max_tokens, tool_call))
}

/// What the answer logic reads of a message's content blocks.
struct BlocksSummary {
    /// The text blocks, joined by spaces.
    text: String,
    /// The words of its tool blocks' names and JSON, as OpenAI's tool calls add.
    tool_tokens: u64,
    has_tool_blocks: bool,
    /// Tool results and nothing else: the answer to a tool call.
    only_tool_results: bool,
}

fn blocks_text(blocks: &[Value], i: usize) -> Result<BlocksSummary, BedrockError> {
    let mut texts = Vec::new();
    let mut extra = 0u64;
    let mut has_tool_blocks = false;
    let mut only_results = true;
    for (j, block) in blocks.iter().enumerate() {
        let Some(block) = block.as_object() else {
            return Err(BedrockError::validation(format!(
                "The content block at messages.{i}.content.{j} must be an object."
            )));
        };
        if let Some(text) = block.get("text") {
            let Some(text) = text.as_str() else {
                return Err(BedrockError::validation(format!(
                    "The text at messages.{i}.content.{j} must be a string."
                )));
            };
            texts.push(text);
            only_results = false;
        } else if let Some(tool_use) = block.get("toolUse") {
            has_tool_blocks = true;
            only_results = false;
            let name = tool_use.get("name").and_then(Value::as_str).unwrap_or("");
            let input = tool_use
                .get("input")
                .map(tools::spaced_json)
                .unwrap_or_default();
            extra = extra
                .saturating_add(tokens::count(name))
                .saturating_add(tokens::count(&input));
        } else if let Some(result) = block.get("toolResult") {
            has_tool_blocks = true;
            let parts = result.get("content").and_then(Value::as_array);
            for part in parts.into_iter().flatten() {
                let words = match (part.get("text"), part.get("json")) {
                    (Some(Value::String(text)), _) => tokens::count(text),
                    (_, Some(json)) => tokens::count(&tools::spaced_json(json)),
                    _ => 0,
                };
                extra = extra.saturating_add(words);
            }
        } else {
            // image, document, video, cachePoint…: accepted, no words.
            only_results = false;
        }
    }
    Ok(BlocksSummary {
        text: texts.join(" "),
        tool_tokens: extra,
        has_tool_blocks,
        only_tool_results: only_results && has_tool_blocks,
    })
}

/// `toolConfig` handed to the shared tool logic in OpenAI's shape; the tools are charged
/// the words of their JSON.
fn select_tool(
    config: &Value,
    prompt: &mut PromptTally,
) -> Result<Option<tools::ToolCall>, BedrockError> {
    let tools = match config.get("tools") {
        Some(Value::Array(tools)) if !tools.is_empty() => tools,
        _ => {
            return Err(BedrockError::validation(
                "1 validation error detected: Value '[]' at 'toolConfig.tools' failed to satisfy \
                 constraint: Member must have length greater than or equal to 1",
            ));
        }
    };
    prompt.tools(&Value::Array(tools.clone()));
    let mut functions = Vec::new();
    for (i, tool) in tools.iter().enumerate() {
        let Some(spec) = tool.get("toolSpec") else {
            // cachePoint and system tools: accepted, nothing the mock calls.
            continue;
        };
        let Some(name) = spec
            .get("name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        else {
            return Err(BedrockError::validation(format!(
                "1 validation error detected: Value null at 'toolConfig.tools.{}.member.toolSpec.name' \
                 failed to satisfy constraint: Member must not be null",
                i + 1
            )));
        };
        let mut function = json!({"name": name});
        if let Some(schema) = spec.get("inputSchema").and_then(|s| s.get("json")) {
            function["parameters"] = schema.clone();
        }
        functions.push(json!({"type": "function", "function": function}));
    }
    if functions.is_empty() {
        return Ok(None);
    }
    let choice = match config.get("toolChoice") {
        Some(choice) => match choice
            .get("tool")
            .and_then(|t| t.get("name"))
            .and_then(Value::as_str)
        {
            Some(name) => json!({"type": "function", "function": {"name": name}}),
            None => json!("auto"),
        },
        None => json!("auto"),
    };
    tools::select(Some(&Value::Array(functions)), Some(&choice))
        .map_err(|err| BedrockError::validation(err.message))
}

fn stop_reason(completion: &Completion) -> &'static str {
    match completion.finish_reason {
        "length" => "max_tokens",
        "tool_calls" => "tool_use",
        _ => "end_turn",
    }
}

fn usage(completion: &Completion) -> Value {
    json!({
        "inputTokens": completion.usage.prompt_tokens,
        "outputTokens": completion.usage.completion_tokens,
        "totalTokens": completion.usage.total_tokens,
    })
}

fn tool_use_id(index: u64) -> String {
    format!("tooluse_mock_{index}")
}

/// The tool's input object; a call cut short by `maxTokens` (no longer valid JSON) gets `{}`.
fn tool_input(completion: &Completion) -> Value {
    match serde_json::from_str::<Value>(&completion.text()) {
        Ok(input @ Value::Object(_)) => input,
        _ => Value::Object(Map::new()),
    }
}

/// The stream's messages (see the module docs), faults included.
fn plan_stream(
    completion: &Completion,
    ctx: &RequestCtx,
    timing: Timing,
    latency_ms: u64,
) -> VecDeque<Step> {
    let mut steps = VecDeque::new();
    let frame = |event_type: &str, mut payload: Value| {
        pad(&mut payload);
        eventstream::event(event_type, &crate::json::to_vec(&payload))
    };
    steps.push_back(Step::Frame(frame(
        "messageStart",
        json!({"role": "assistant"}),
    )));
    if let Some((_, name)) = &completion.tool {
        steps.push_back(Step::Frame(frame(
            "contentBlockStart",
            json!({"contentBlockIndex": 0, "start": {"toolUse": {
                "toolUseId": tool_use_id(ctx.index),
                "name": name,
            }}}),
        )));
    }

    let tokens = completion.pieces.len();
    let fault = StreamFault::new(ctx.body_fault, tokens);
    for (i, piece) in completion.pieces.iter().enumerate() {
        if play_fault(&fault, i, &mut steps) {
            return steps;
        }
        timing.wait_before(i, &mut steps);
        let delta = match completion.tool {
            Some(_) => json!({"toolUse": {"input": piece}}),
            None => json!({"text": piece}),
        };
        steps.push_back(Step::Frame(frame(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": delta}),
        )));
    }
    if play_fault(&fault, tokens, &mut steps) {
        return steps;
    }
    steps.push_back(Step::Frame(frame(
        "contentBlockStop",
        json!({"contentBlockIndex": 0}),
    )));
    steps.push_back(Step::Frame(frame(
        "messageStop",
        json!({"stopReason": stop_reason(completion)}),
    )));
    steps.push_back(Step::Done(frame(
        "metadata",
        json!({"usage": usage(completion), "metrics": {"latencyMs": latency_ms}}),
    )));
    steps
}

/// Plays the fault due before token `index` in event-stream form; true when the stream
/// ends there. A `stream_error` is an exception message, after which the body ends
/// cleanly, as Bedrock reports a failure mid-stream; `cut_stream` aborts the body with no
/// message; the garbage is a well-framed event whose payload is not JSON.
fn play_fault(fault: &StreamFault, index: usize, steps: &mut VecDeque<Step>) -> bool {
    if let Some(status) = fault.error_before(index) {
        steps.push_back(Step::Frame(stream_exception(status)));
        steps.push_back(Step::End);
        return true;
    }
    fault.before_token_framed(index, steps, || {
        eventstream::event("contentBlockDelta", faults::MALFORMED_BODY.as_bytes())
    })
}

/// The exception message ConverseStream sends for an error of `status`: one of the
/// stream's error members, by status.
fn stream_exception(status: u16) -> Bytes {
    let (exception_type, message) = match status {
        400 => (
            "validationException",
            "The input fails to satisfy the constraints.",
        ),
        429 => (
            "throttlingException",
            "Too many requests, please wait before trying again.",
        ),
        500 => (
            "internalServerException",
            "The server encountered an internal error. Please retry.",
        ),
        503 => (
            "serviceUnavailableException",
            "Bedrock is unable to process your request.",
        ),
        _ => (
            "modelStreamErrorException",
            "The model stream failed (injected by sluice-mock).",
        ),
    };
    let mut payload = json!({"message": message});
    if exception_type == "modelStreamErrorException" {
        payload["originalStatusCode"] = json!(status);
        payload["originalMessage"] = json!(message);
    }
    eventstream::exception(exception_type, &crate::json::to_vec(&payload))
}

/// Adds Bedrock's `p` field: a prefix of the alphabet, its length fixed by the payload.
fn pad(payload: &mut Value) {
    if let Value::Object(map) = payload {
        let seed = tokens::hash_text(0xb3d7, &Value::Object(map.clone()).to_string());
        let len = 1 + usize::try_from(seed % PADDING.len() as u64).unwrap_or(0);
        map.insert(
            "p".to_owned(),
            Value::String(PADDING.get(..len).unwrap_or(PADDING).to_owned()),
        );
    }
}

// ---- InvokeModel (embeddings) ----

/// Which embedding API a model id speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EmbeddingModel {
    /// `amazon.titan-embed-text-v2:0`: `dimensions` of 256, 512 or 1024.
    TitanV2,
    /// `amazon.titan-embed-text-v1`: 1536 dimensions, `inputText` only.
    TitanV1,
    /// `cohere.embed-*`.
    Cohere { dims: usize },
}

fn embedding_model(model_id: &str) -> Option<EmbeddingModel> {
    // Inference profiles and ARNs end with the model id.
    let id = model_id.rsplit('/').next().unwrap_or(model_id);
    let id = id.split_once('.').map_or(id, |(prefix, rest)| {
        // `us.amazon.titan…` (a cross-region profile) names the model after its region.
        if matches!(prefix, "us" | "eu" | "apac" | "global" | "jp" | "au" | "ca") {
            rest
        } else {
            id
        }
    });
    if id.starts_with("amazon.titan-embed-text-v2") {
        Some(EmbeddingModel::TitanV2)
    } else if id.starts_with("amazon.titan-embed-text-v1")
        || id.starts_with("amazon.titan-embed-g1-text")
    {
        Some(EmbeddingModel::TitanV1)
    } else if id.starts_with("cohere.embed-v4") {
        Some(EmbeddingModel::Cohere { dims: 1536 })
    } else if id.starts_with("cohere.embed-") {
        Some(EmbeddingModel::Cohere { dims: 1024 })
    } else {
        None
    }
}

fn invoke(app: &App, model_id: &str, body: &[u8]) -> Result<Response, BedrockError> {
    let Some(model) = embedding_model(model_id) else {
        return Err(BedrockError::validation(format!(
            "sluice-mock serves InvokeModel for embedding models only (amazon.titan-embed-text-*, \
             cohere.embed-*), not {model_id}; use Converse for chat."
        )));
    };
    bump(&app.stats.embeddings);
    let body = parse_object(body).map_err(|_| {
        BedrockError::validation(
            "Malformed input request, please reformat your input and try again.",
        )
    })?;
    let embed = |text: &str, dims: usize| {
        let words = embeddings::words(&Input::Text(text.to_owned()));
        let count = words.len() as u64;
        (embeddings::embed(&words, dims, app.settings.seed), count)
    };
    match model {
        EmbeddingModel::TitanV2 | EmbeddingModel::TitanV1 => {
            let allowed: &[&str] = if model == EmbeddingModel::TitanV2 {
                &["inputText", "dimensions", "normalize", "embeddingTypes"]
            } else {
                &["inputText"]
            };
            if let Some(extra) = body.keys().find(|k| !allowed.contains(&k.as_str())) {
                return Err(malformed(&format!(
                    "extraneous key [{extra}] is not permitted"
                )));
            }
            let Some(text) = body.get("inputText").and_then(Value::as_str) else {
                return Err(malformed("required key [inputText] not found"));
            };
            let dims = match (model, body.get("dimensions")) {
                (EmbeddingModel::TitanV1, _) => 1536,
                (_, None | Some(Value::Null)) => 1024,
                (_, Some(value)) => match value.as_u64() {
                    Some(dims @ (256 | 512 | 1024)) => dims as usize,
                    _ => {
                        return Err(malformed(&format!(
                            "#/dimensions: {value} is not a valid enum value"
                        )));
                    }
                },
            };
            let (vector, count) = embed(text, dims);
            let mut out = json!({"embedding": vector, "inputTextTokenCount": count});
            if body.get("embeddingTypes").is_some() {
                out["embeddingsByType"] = json!({"float": out["embedding"].clone()});
            }
            Ok(crate::json::ok(&out))
        }
        EmbeddingModel::Cohere { dims } => {
            let texts = match body.get("texts") {
                Some(Value::Array(texts)) if texts.len() <= MAX_COHERE_TEXTS => texts,
                Some(Value::Array(_)) => {
                    return Err(malformed(&format!(
                        "#/texts: expected maximum item count: {MAX_COHERE_TEXTS}"
                    )));
                }
                _ => return Err(malformed("required key [texts] not found")),
            };
            let texts: Option<Vec<&str>> = texts.iter().map(Value::as_str).collect();
            let Some(texts) = texts else {
                return Err(malformed("#/texts: expected type: String"));
            };
            match body.get("input_type").and_then(Value::as_str) {
                Some(
                    "search_document" | "search_query" | "classification" | "clustering" | "image",
                ) => {}
                Some(other) => {
                    return Err(malformed(&format!(
                        "#/input_type: {other} is not a valid enum value"
                    )));
                }
                None => return Err(malformed("required key [input_type] not found")),
            }
            let vectors: Vec<Vec<f32>> = texts.iter().map(|text| embed(text, dims).0).collect();
            Ok(crate::json::ok(&json!({
                "embeddings": vectors,
                "id": request_id(tokens::hash_text(app.settings.seed, &texts.join("\n"))),
                "response_type": "embeddings_floats",
                "texts": texts,
            })))
        }
    }
}

/// Bedrock's wording for a body the model's schema refuses.
fn malformed(why: &str) -> BedrockError {
    BedrockError::validation(format!(
        "Malformed input request: #: {why}, please reformat your input and try again."
    ))
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, BedrockError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(obj)) => Ok(obj),
        _ => Err(BedrockError::validation(
            "The request body is not a valid JSON object.",
        )),
    }
}

// ---- errors ----

/// Bedrock's error: the kind in `x-amzn-ErrorType`, `{"message"}` as the body.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{status} {kind}: {message}")]
pub struct BedrockError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
    /// Seconds for `Retry-After`.
    pub retry_after: Option<u64>,
}

impl BedrockError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ValidationException", message)
    }

    /// What an injected `status` fault answers.
    pub fn for_status(status: u16, retry_after: Option<u64>) -> Self {
        let code = StatusCode::from_u16(status)
            .ok()
            .filter(|c| c.as_u16() >= 400)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let (kind, message) = match code.as_u16() {
            400 => (
                "ValidationException",
                "Invalid request (injected by sluice-mock).",
            ),
            403 => (
                "AccessDeniedException",
                "You don't have access to the model with the specified model ID.",
            ),
            404 => (
                "ResourceNotFoundException",
                "The specified model was not found.",
            ),
            408 => (
                "ModelTimeoutException",
                "Model has timed out in processing the request.",
            ),
            424 => ("ModelErrorException", "The model returned an error."),
            429 => (
                "ThrottlingException",
                "Too many requests, please wait before trying again.",
            ),
            503 => (
                "ServiceUnavailableException",
                "Bedrock is unable to process your request.",
            ),
            s if s >= 500 => (
                "InternalServerException",
                "The server encountered an internal error. Please retry.",
            ),
            _ => (
                "ValidationException",
                "The request failed (injected by sluice-mock).",
            ),
        };
        Self {
            retry_after,
            ..Self::new(code, kind, message)
        }
    }
}

impl IntoResponse for BedrockError {
    fn into_response(self) -> Response {
        let body = crate::json::to_vec(&json!({"message": self.message}));
        let mut response = (self.status, Bytes::from(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert("x-amzn-errortype", HeaderValue::from_static(self.kind));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(authorization: &str, date: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(authorization).unwrap(),
        );
        h.insert("x-amz-date", HeaderValue::from_str(date).unwrap());
        h
    }

    const SIG: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn sigv4_shape() {
        let good = format!(
            "AWS4-HMAC-SHA256 Credential=AKID/20261126/eu-west-3/bedrock/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature={SIG}"
        );
        let scope = check_signature(&headers(&good, "20261126T120000Z")).expect("accepted");
        assert_eq!(scope.region, "eu-west-3");
        let kind = |h: HeaderMap| check_signature(&h).err().map(|e| e.kind);
        assert_eq!(
            kind(HeaderMap::new()),
            Some("MissingAuthenticationTokenException")
        );
        assert_eq!(
            kind(headers("Bearer abc", "20261126T120000Z")),
            Some("UnrecognizedClientException")
        );
        assert_eq!(
            kind(headers(&good, "20261127T120000Z")),
            Some("InvalidSignatureException")
        );
        assert_eq!(
            kind(headers(
                &good.replace("/bedrock/", "/s3/"),
                "20261126T120000Z"
            )),
            Some("InvalidSignatureException")
        );
        assert_eq!(
            kind(headers(&good, "yesterday")),
            Some("IncompleteSignatureException")
        );
        assert_eq!(
            kind(headers(&good.replace(SIG, "abc"), "20261126T120000Z")),
            Some("InvalidSignatureException")
        );
    }

    #[test]
    fn converse_validation() {
        let parse = |v: Value| match v {
            Value::Object(obj) => parse_converse(&obj, "m"),
            _ => Err(BedrockError::validation("x")),
        };
        let user = json!({"role": "user", "content": [{"text": "hello there"}]});
        let req = parse(json!({"messages": [user], "system": [{"text": "be brief"}]})).expect("ok");
        assert_eq!(req.prompt_tokens, 3 + 5 + 5);
        assert!(parse(json!({"messages": []})).is_err());
        assert!(
            parse(json!({"messages": [{"role": "assistant", "content": [{"text": "x"}]}]}))
                .is_err()
        );
        assert!(parse(json!({"messages": [user, user]})).is_err());
        assert!(parse(json!({"messages": [{"role": "user", "content": []}]})).is_err());
        assert!(parse(json!({"messages": [user], "inferenceConfig": {"maxTokens": 0}})).is_err());
        let tool_result = json!({"role": "user", "content": [{"toolResult": {"toolUseId": "t", "content": [{"text": "ok"}]}}]});
        assert!(parse(json!({"messages": [tool_result]})).is_err());
    }

    #[test]
    fn padding_is_an_alphabet_prefix() {
        let mut payload = json!({"contentBlockIndex": 0, "delta": {"text": "Hi"}});
        pad(&mut payload);
        let p = payload["p"].as_str().unwrap_or_default();
        assert!(!p.is_empty() && PADDING.starts_with(p));
    }

    #[test]
    fn embedding_models() {
        assert_eq!(
            embedding_model("amazon.titan-embed-text-v2:0"),
            Some(EmbeddingModel::TitanV2)
        );
        assert_eq!(
            embedding_model("us.cohere.embed-english-v3"),
            Some(EmbeddingModel::Cohere { dims: 1024 })
        );
        assert_eq!(embedding_model("anthropic.claude-3-haiku"), None);
    }
}
