//! Google's dialect: the Gemini API (`/v1beta/models/{model}:{action}`, API key) and Vertex
//! AI (`/v1/projects/{p}/locations/{l}/publishers/google/models/{model}:{action}`, OAuth
//! bearer token), with the service-account token endpoint Vertex clients call first.
//!
//! Both take the same `GenerateContentRequest` and give the same `GenerateContentResponse`;
//! they differ in auth, in embeddings (`:embedContent` / `:batchEmbedContents` on Gemini,
//! `:predict` on Vertex) and in `countTokens`' extra fields. The answer itself is the shared
//! one of `chat.rs`: the request is reduced to a [`ChatRequest`] (turns tallied by
//! [`PromptTally`], function declarations handed to `tools::select` in OpenAI's shape).
//!
//! Streams (`:streamGenerateContent?alt=sse`) send one `GenerateContentResponse` per token
//! as `data: {…}\r\n\r\n` frames (Google's SSE uses CRLF), no `[DONE]`; a last chunk carries
//! an empty text part and `finishReason`. Every chunk carries `usageMetadata`, cumulative
//! (as Google sends it), so the last one holds the totals. A function call arrives whole,
//! in one chunk that also carries the finish reason. This API has no in-stream error
//! event, so a `stream_error` fault cuts the stream where the error would be (and answers
//! a whole request with its status, in Google's envelope). Without `alt=sse` the same
//! chunks come as one streamed JSON array, as Google sends them.
//!
//! The token endpoint checks the JWT's shape (three base64url parts, an RS256 header,
//! `iss`, `scope`, `aud`, `iat`, `exp` claims, a lifetime of at most an hour) but does not
//! verify its signature: the mock has no key to verify it with.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;
use serde_json::{Map, Value, json};
use sluice_core::mock::MockSettings;

use crate::app::{App, RequestCtx, ctx_of, with_pipeline};
use crate::chat::{self, ChatRequest, Completion, PromptTally};
use crate::embeddings::{self, Input, MAX_DIMENSIONS, MAX_INPUTS};
use crate::errors::ErrorWriter;
use crate::stats::bump;
use crate::stream::{Step, StreamFault, Timing, sse_response};
use crate::tokens;
use crate::tools;

/// What Google answers when a request names no API key.
const NO_API_KEY: &str = "Method doesn't allow unregistered callers (callers without established \
     identity). Please use API Key or other form of API consumer identity to call this API.";

/// Vertex's answer to a request without a bearer token.
const NO_CREDENTIAL: &str = "Request is missing required authentication credential. Expected \
     OAuth 2 access token, login cookie or other valid authentication credential. See \
     https://developers.google.com/identity/sign-in/web/devconsole-project.";

/// Vertex's answer to a bearer token it did not issue.
const BAD_CREDENTIAL: &str = "Request had invalid authentication credentials. Expected OAuth 2 \
     access token, login cookie or other valid authentication credential. See \
     https://developers.google.com/identity/sign-in/web/devconsole-project.";

/// Vertex's answer to an API key.
const API_KEY_ON_VERTEX: &str = "API keys are not supported by this API. Expected OAuth2 access \
     token or other authentication credentials that assert a principal. See \
     https://cloud.google.com/docs/authentication";

/// The only grant the token endpoint serves: a service account's signed JWT.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
pub const CLIENT_CREDENTIALS_GRANT: &str = "client_credentials";

/// Lifetime of an issued access token, and the longest JWT lifetime Google accepts.
pub const TOKEN_LIFETIME_SECS: u64 = 3600;

/// Most requests in one `batchEmbedContents` (the Gemini API's limit).
pub const MAX_BATCH_EMBED: usize = 100;

/// Every top-level field of `GenerateContentRequest`, in both JSON spellings protobuf
/// accepts: Google refuses any other name, which catches OpenAI-shaped bodies.
const REQUEST_FIELDS: &[&str] = &[
    "model",
    "contents",
    "tools",
    "toolConfig",
    "tool_config",
    "safetySettings",
    "safety_settings",
    "systemInstruction",
    "system_instruction",
    "generationConfig",
    "generation_config",
    "cachedContent",
    "cached_content",
    "labels",
    "serviceTier",
    "service_tier",
    "store",
];

// ---- routes ----

pub(crate) fn routes(app: &Arc<App>) -> Router<Arc<App>> {
    let google = Router::new()
        .route("/v1beta/models/{model_action}", post(gemini_route))
        .route(
            "/v1/projects/{project}/locations/{location}/publishers/google/models/{model_action}",
            post(vertex_route),
        )
        .route(
            "/v1beta1/projects/{project}/locations/{location}/publishers/google/models/{model_action}",
            post(vertex_route),
        );
    let oauth = Router::new().route("/token", post(token_route));
    with_pipeline(google, app, GOOGLE_ERRORS).merge(with_pipeline(oauth, app, OAUTH_ERRORS))
}

/// Google's envelope for the errors the pipeline answers itself.
pub(crate) const GOOGLE_ERRORS: ErrorWriter = ErrorWriter {
    status: |status, retry_after| GoogleError::for_status(status, retry_after).into_response(),
    too_large: |limit| {
        GoogleError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("Request payload size exceeds the limit: {limit} bytes."),
        )
        .into_response()
    },
    unreadable: || GoogleError::invalid_json().into_response(),
};

/// OAuth's `{"error","error_description"}` for the token endpoint.
const OAUTH_ERRORS: ErrorWriter = ErrorWriter {
    status: |status, retry_after| OAuthError::for_status(status, retry_after).into_response(),
    too_large: |_| OAuthError::invalid_request("Request too large.").into_response(),
    unreadable: || OAuthError::invalid_request("Unreadable request body.").into_response(),
};

/// Which of Google's two APIs a request came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    Gemini,
    Vertex,
}

async fn gemini_route(
    State(app): State<Arc<App>>,
    model_action: Result<Path<String>, PathRejection>,
    request: Request,
) -> Response {
    let Ok(Path(model_action)) = model_action else {
        return GoogleError::not_found("Method not found.").into_response();
    };
    if let Err(err) = gemini_auth(request.headers(), request.uri().query()) {
        return err.into_response();
    }
    serve(&app, Api::Gemini, &model_action, &request)
}

async fn vertex_route(
    State(app): State<Arc<App>>,
    params: Result<Path<(String, String, String)>, PathRejection>,
    request: Request,
) -> Response {
    let Ok(Path((_project, _location, model_action))) = params else {
        return GoogleError::not_found("Method not found.").into_response();
    };
    if let Err(err) = vertex_auth(&app, request.headers()) {
        return err.into_response();
    }
    serve(&app, Api::Vertex, &model_action, &request)
}

/// Splits `{model}:{action}` (axum cannot split a segment on `:`) and runs the action.
fn serve(app: &App, api: Api, model_action: &str, request: &Request) -> Response {
    let ctx = ctx_of(request);
    let Some((model, action)) = model_action.rsplit_once(':') else {
        return GoogleError::not_found("Method not found.").into_response();
    };
    let query = request.uri().query();
    let result = match (api, action) {
        (_, "generateContent") => generate(app, &ctx, model, None),
        (_, "streamGenerateContent") => {
            let framing = if query_param(query, "alt").as_deref() == Some("sse") {
                Framing::Sse
            } else {
                Framing::JsonArray
            };
            generate(app, &ctx, model, Some(framing))
        }
        (_, "countTokens") => count_tokens(&ctx.body),
        (Api::Gemini, "embedContent") => embed_content(app, &ctx.body),
        (Api::Gemini, "batchEmbedContents") => batch_embed_contents(app, model, &ctx.body),
        (Api::Vertex, "predict") => predict(app, &ctx.body),
        _ => Err(GoogleError::not_found(format!(
            "Method not found: {action}. It is not supported for {model}."
        ))),
    };
    result.unwrap_or_else(IntoResponse::into_response)
}

// ---- auth ----

/// The Gemini API takes its key from `x-goog-api-key` or the `key` query parameter. Any
/// non-empty key is accepted; none at all is refused the way Google refuses it.
fn gemini_auth(headers: &HeaderMap, query: Option<&str>) -> Result<(), GoogleError> {
    let header_key = headers
        .get("x-goog-api-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.trim().is_empty());
    let query_key = query_param(query, "key").filter(|k| !k.trim().is_empty());
    if header_key.is_some() || query_key.is_some() {
        Ok(())
    } else {
        Err(GoogleError::new(StatusCode::FORBIDDEN, NO_API_KEY))
    }
}

/// Vertex takes only a bearer token, and only one this mock issued.
fn vertex_auth(app: &App, headers: &HeaderMap) -> Result<(), GoogleError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let Some(authorization) = authorization else {
        let message = if headers.contains_key("x-goog-api-key") {
            API_KEY_ON_VERTEX
        } else {
            NO_CREDENTIAL
        };
        return Err(GoogleError::new(StatusCode::UNAUTHORIZED, message));
    };
    let token = authorization
        .strip_prefix("Bearer ")
        .or_else(|| authorization.strip_prefix("bearer "))
        .map(str::trim);
    match token {
        Some(token) if issued_here(app, token) => Ok(()),
        _ => Err(GoogleError::new(StatusCode::UNAUTHORIZED, BAD_CREDENTIAL)),
    }
}

/// `ya29.mock-{n}-{tag}`: `n` counts the tokens this server issued, `tag` binds it to the
/// server's seed. Checking it needs no state, so the mock keeps no token list.
fn access_token(settings: &MockSettings, n: u64) -> String {
    format!("ya29.mock-{n}-{:016x}", token_tag(settings, n))
}

fn token_tag(settings: &MockSettings, n: u64) -> u64 {
    tokens::mix(settings.seed ^ tokens::mix(n ^ 0x7a29_0a75_7468))
}

fn issued_here(app: &App, token: &str) -> bool {
    let Some((n, tag)) = token
        .strip_prefix("ya29.mock-")
        .and_then(|rest| rest.split_once('-'))
    else {
        return false;
    };
    let (Ok(n), Ok(tag)) = (n.parse::<u64>(), u64::from_str_radix(tag, 16)) else {
        return false;
    };
    n < app.stats.oauth_tokens_issued() && tag == token_tag(&app.settings, n)
}

// ---- the token endpoint ----

async fn token_route(State(app): State<Arc<App>>, request: Request) -> Response {
    let ctx = ctx_of(&request);
    match issue_token(&app, &ctx.body) {
        Ok(token) => crate::json::ok(&json!({
            "access_token": token,
            "expires_in": TOKEN_LIFETIME_SECS,
            "token_type": "Bearer",
        })),
        Err(err) => err.into_response(),
    }
}

/// Checks the grant and the JWT's shape, then issues the next token.
fn issue_token(app: &App, body: &[u8]) -> Result<String, OAuthError> {
    let form = parse_form(body);
    let field = |name: &str| {
        form.iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    };
    match field("grant_type") {
        Some(JWT_BEARER_GRANT) => {}
        // Microsoft Entra ID's client-credentials grant, as Azure OpenAI clients use it.
        Some(CLIENT_CREDENTIALS_GRANT) => {
            for name in ["client_id", "client_secret", "scope"] {
                if field(name).is_none_or(str::is_empty) {
                    return Err(OAuthError::invalid_request(format!(
                        "Missing required parameter: {name}"
                    )));
                }
            }
            let n = bump(&app.stats.oauth_tokens_issued);
            return Ok(access_token(&app.settings, n));
        }
        Some(other) => {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                format!("Invalid grant_type: {other}"),
            ));
        }
        None => {
            return Err(OAuthError::new(
                "unsupported_grant_type",
                "Invalid grant_type: ",
            ));
        }
    }
    let Some(assertion) = field("assertion").filter(|a| !a.is_empty()) else {
        return Err(OAuthError::invalid_request(
            "Missing required parameter: assertion",
        ));
    };
    check_assertion(assertion)?;
    let n = bump(&app.stats.oauth_tokens_issued);
    Ok(access_token(&app.settings, n))
}

/// The JWT's shape and claims; the signature is not verified (see the module docs).
fn check_assertion(assertion: &str) -> Result<(), OAuthError> {
    let invalid = |why: &str| OAuthError::new("invalid_grant", format!("Invalid JWT: {why}"));
    let parts: Vec<&str> = assertion.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return Err(invalid("the assertion is not three dot-separated parts."));
    };
    let header = decode_jwt_part(header).ok_or_else(|| invalid("unreadable header."))?;
    let claims = decode_jwt_part(claims).ok_or_else(|| invalid("unreadable claims."))?;
    if signature.is_empty() || base64url().decode(signature).is_err() {
        return Err(OAuthError::new("invalid_grant", "Invalid JWT Signature."));
    }
    if header.get("alg").and_then(Value::as_str) != Some("RS256") {
        return Err(invalid("the header's alg must be RS256."));
    }
    for claim in ["iss", "scope", "aud"] {
        if claims
            .get(claim)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(invalid(&format!("the claim '{claim}' is missing.")));
        }
    }
    let time = |claim: &str| claims.get(claim).and_then(Value::as_u64);
    let (Some(iat), Some(exp)) = (time("iat"), time("exp")) else {
        return Err(invalid(
            "the claims 'iat' and 'exp' must be present, in seconds since the epoch.",
        ));
    };
    if exp <= iat || exp - iat > TOKEN_LIFETIME_SECS {
        return Err(invalid(
            "Token must be a short-lived token (60 minutes) and in a reasonable timeframe. \
             Check your iat and exp values in the JWT claim.",
        ));
    }
    Ok(())
}

/// base64url, with or without padding (encoders differ).
fn base64url() -> base64::engine::GeneralPurpose {
    base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    )
}

fn decode_jwt_part(part: &str) -> Option<Map<String, Value>> {
    let bytes = base64url().decode(part).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// `application/x-www-form-urlencoded` pairs (also a query string), decoded.
pub(crate) fn parse_form(body: &[u8]) -> Vec<(String, String)> {
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(key), form_decode(value))
        })
        .collect()
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    parse_form(query.unwrap_or_default().as_bytes())
        .into_iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value)
}

/// `+` is a space and `%XX` a byte; a broken escape is kept as it is.
fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let escaped = (byte == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (byte, escaped) {
            (_, Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            (b'+', None) => {
                out.push(b' ');
                i += 1;
            }
            (other, None) => {
                out.push(other);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

// ---- generateContent ----

/// How a stream's chunks are framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    /// `?alt=sse`: `data: {…}` events.
    Sse,
    /// No `alt`: one JSON array, streamed element by element.
    JsonArray,
}

fn generate(
    app: &App,
    ctx: &RequestCtx,
    model: &str,
    stream: Option<Framing>,
) -> Result<Response, GoogleError> {
    bump(&app.stats.chat_completions);
    let body = parse_object(&ctx.body)?;
    let mut request = parse_generate(&body, model)?;
    request.stream = stream.is_some();
    let completion = chat::complete(&request, &app.settings, ctx.index, app.fingerprint());
    let response_id = format!("mock-response-{}", ctx.index);
    Ok(match stream {
        None => crate::json::ok(&whole(&completion, &response_id)),
        Some(framing) => respond_stream(app, &completion, &response_id, framing, ctx),
    })
}

/// A `GenerateContentRequest` reduced to what the answer logic reads, validated the way
/// Google validates it for the fields the mock reads.
fn parse_generate(body: &Map<String, Value>, model: &str) -> Result<ChatRequest, GoogleError> {
    if let Some(unknown) = body.keys().find(|k| !REQUEST_FIELDS.contains(&k.as_str())) {
        return Err(GoogleError::invalid_argument(format!(
            "Invalid JSON payload received. Unknown name \"{unknown}\": Cannot find field."
        )));
    }
    let mut prompt = PromptTally::default();
    if let Some(system) = field(body, "systemInstruction", "system_instruction") {
        let (text, extra) = content_text(system, "systemInstruction")?;
        prompt.message("system", text, extra);
    }
    let contents = match body.get("contents") {
        Some(Value::Array(contents)) if !contents.is_empty() => contents,
        None | Some(Value::Null) | Some(Value::Array(_)) => {
            return Err(GoogleError::invalid_argument(
                "* GenerateContentRequest.contents: contents is not specified\n",
            ));
        }
        Some(_) => {
            return Err(GoogleError::invalid_argument(
                "Invalid value at 'contents' (type.googleapis.com/google.ai.generativelanguage.\
                 v1beta.Content), expected a list",
            ));
        }
    };
    for (i, content) in contents.iter().enumerate() {
        let path = format!("contents[{i}]");
        let role = match content.get("role") {
            None | Some(Value::Null) => "user",
            Some(Value::String(role)) => role.as_str(),
            Some(_) => {
                return Err(GoogleError::invalid_argument(format!(
                    "Invalid value at '{path}.role' (TYPE_STRING)"
                )));
            }
        };
        let (text, extra) = content_text(content, &path)?;
        let role = match role {
            // A user turn made only of function results is the answer to a tool call, as
            // OpenAI's `tool` message is: it must not become what the echo reply repeats.
            "user" if text.is_empty() && has_part(content, "functionResponse") => "tool",
            "user" => "user",
            "model" => "assistant",
            "function" => "tool",
            _ => {
                return Err(GoogleError::invalid_argument(
                    "Please use a valid role: user, model.",
                ));
            }
        };
        prompt.message(role, text, extra);
    }

    let max_tokens = match field(body, "generationConfig", "generation_config") {
        None | Some(Value::Null) => None,
        Some(Value::Object(config)) => max_output_tokens(config)?,
        Some(_) => {
            return Err(GoogleError::invalid_argument(
                "Invalid value at 'generation_config' (type.googleapis.com/google.ai.\
                 generativelanguage.v1beta.GenerationConfig), expected an object",
            ));
        }
    };

    let tools = body.get("tools").filter(|t| !t.is_null());
    let tool_call = match tools {
        Some(tools) => {
            prompt.tools(tools);
            select_tool(tools, field(body, "toolConfig", "tool_config"))?
        }
        None => None,
    };

    Ok(prompt.into_chat_request(model.to_owned(), false, max_tokens, tool_call))
}

/// `generationConfig.maxOutputTokens`, which must be a positive integer.
fn max_output_tokens(config: &Map<String, Value>) -> Result<Option<u64>, GoogleError> {
    match field(config, "maxOutputTokens", "max_output_tokens") {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match (value.as_u64(), value.as_i64()) {
            (Some(0), _) | (None, Some(_)) => Err(GoogleError::invalid_argument(format!(
                "* GenerateContentRequest.generation_config.max_output_tokens: \
                 max_output_tokens must be positive, got {value}.\n"
            ))),
            (Some(max), _) => Ok(Some(max)),
            _ => Err(GoogleError::invalid_argument(format!(
                "Invalid value at 'generation_config.max_output_tokens' (TYPE_INT32), {value}"
            ))),
        },
    }
}

/// The words of a `Content`'s text parts (joined by spaces), and the tokens its function
/// calls and results add (the words of their name and JSON, as OpenAI's tool calls add).
fn content_text(content: &Value, path: &str) -> Result<(String, u64), GoogleError> {
    let parts = match content.get("parts") {
        Some(Value::Array(parts)) if !parts.is_empty() => parts,
        Some(Value::Array(_)) | None | Some(Value::Null) => {
            return Err(GoogleError::invalid_argument(format!(
                "* GenerateContentRequest.{path}.parts: contents.parts must not be empty.\n"
            )));
        }
        Some(_) => {
            return Err(GoogleError::invalid_argument(format!(
                "Invalid value at '{path}.parts', expected a list"
            )));
        }
    };
    let mut texts = Vec::new();
    let mut extra = 0u64;
    for (j, part) in parts.iter().enumerate() {
        let Some(part) = part.as_object() else {
            return Err(GoogleError::invalid_argument(format!(
                "Invalid value at '{path}.parts[{j}]' (type.googleapis.com/google.ai.\
                 generativelanguage.v1beta.Part), expected an object"
            )));
        };
        match part.get("text") {
            Some(Value::String(text)) => texts.push(text.as_str()),
            Some(Value::Null) | None => {}
            Some(other) => {
                return Err(GoogleError::invalid_argument(format!(
                    "Invalid value at '{path}.parts[{j}].text' (TYPE_STRING), {other}"
                )));
            }
        }
        if let Some(call) = field(part, "functionCall", "function_call") {
            extra = extra.saturating_add(function_words(call, "args", path, j)?);
        }
        if let Some(result) = field(part, "functionResponse", "function_response") {
            extra = extra.saturating_add(function_words(result, "response", path, j)?);
        }
    }
    Ok((texts.join(" "), extra))
}

fn function_words(call: &Value, payload: &str, path: &str, j: usize) -> Result<u64, GoogleError> {
    let Some(name) = call.get("name").and_then(Value::as_str) else {
        return Err(GoogleError::invalid_argument(format!(
            "* GenerateContentRequest.{path}.parts[{j}]: name is not specified\n"
        )));
    };
    let body = call
        .get(payload)
        .map(tools::spaced_json)
        .unwrap_or_default();
    Ok(tokens::count(name).saturating_add(tokens::count(&body)))
}

fn has_part(content: &Value, kind: &str) -> bool {
    content
        .get("parts")
        .and_then(Value::as_array)
        .is_some_and(|parts| parts.iter().any(|part| part.get(kind).is_some()))
}

/// Hands the function declarations and `toolConfig.functionCallingConfig` to the shared
/// tool logic, in OpenAI's shape.
fn select_tool(
    tools: &Value,
    tool_config: Option<&Value>,
) -> Result<Option<tools::ToolCall>, GoogleError> {
    let Some(tools) = tools.as_array() else {
        return Err(GoogleError::invalid_argument(
            "Invalid value at 'tools', expected a list",
        ));
    };
    let mut functions = Vec::new();
    for (i, tool) in tools.iter().enumerate() {
        let declarations = field_value(tool, "functionDeclarations", "function_declarations");
        let Some(declarations) = declarations.and_then(Value::as_array) else {
            // googleSearch, codeExecution…: accepted, nothing the mock calls.
            continue;
        };
        for (j, declaration) in declarations.iter().enumerate() {
            let name = declaration.get("name").and_then(Value::as_str);
            let Some(name) = name.filter(|n| !n.is_empty()) else {
                return Err(GoogleError::invalid_argument(format!(
                    "* GenerateContentRequest.tools[{i}].function_declarations[{j}].name: \
                     [FIELD_INVALID] Invalid function name. Must start with a letter or an \
                     underscore. Must be a-z, A-Z, 0-9, or contain underscores, dots and \
                     dashes, with a maximum length of 64.\n"
                )));
            };
            let parameters = field_value(
                declaration,
                "parametersJsonSchema",
                "parameters_json_schema",
            )
            .cloned()
            .or_else(|| declaration.get("parameters").map(lowercase_types));
            let mut function = json!({"name": name});
            if let Some(parameters) = parameters {
                function["parameters"] = parameters;
            }
            functions.push(json!({"type": "function", "function": function}));
        }
    }
    if functions.is_empty() {
        return Ok(None);
    }
    let calling = tool_config
        .and_then(|c| field_value(c, "functionCallingConfig", "function_calling_config"));
    let mode = calling
        .and_then(|c| c.get("mode"))
        .and_then(Value::as_str)
        .unwrap_or("AUTO");
    let allowed = calling
        .and_then(|c| field_value(c, "allowedFunctionNames", "allowed_function_names"))
        .and_then(Value::as_array)
        .and_then(|names| names.first())
        .and_then(Value::as_str);
    let choice = match (mode, allowed) {
        ("NONE", _) => json!("none"),
        ("ANY", Some(name)) => json!({"type": "function", "function": {"name": name}}),
        ("AUTO" | "ANY" | "VALIDATED" | "MODE_UNSPECIFIED", _) => json!("auto"),
        (other, _) => {
            return Err(GoogleError::invalid_argument(format!(
                "Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.\
                 com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), \"{other}\""
            )));
        }
    };
    tools::select(Some(&Value::Array(functions)), Some(&choice))
        .map_err(|err| GoogleError::invalid_argument(err.message))
}

/// Gemini's schemas may spell types as the proto enum (`STRING`, `OBJECT`); the shared
/// argument builder reads JSON Schema's lowercase names.
fn lowercase_types(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| {
                    let value = match (key.as_str(), value) {
                        ("type", Value::String(kind)) => Value::String(kind.to_lowercase()),
                        _ => lowercase_types(value),
                    };
                    (key.clone(), value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(lowercase_types).collect()),
        other => other.clone(),
    }
}

/// A field under either of protobuf's JSON spellings.
fn field<'a>(obj: &'a Map<String, Value>, camel: &str, snake: &str) -> Option<&'a Value> {
    obj.get(camel).or_else(|| obj.get(snake))
}

fn field_value<'a>(value: &'a Value, camel: &str, snake: &str) -> Option<&'a Value> {
    value.as_object().and_then(|obj| field(obj, camel, snake))
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, GoogleError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(obj)) => Ok(obj),
        Ok(_) => Err(GoogleError::invalid_argument(
            "Invalid JSON payload received. Expected an object.",
        )),
        Err(_) => Err(GoogleError::invalid_json()),
    }
}

// ---- the response ----

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GenerateContentResponse<'a> {
    candidates: [Candidate; 1],
    usage_metadata: UsageMetadata,
    model_version: &'a str,
    response_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Candidate {
    content: CandidateContent,
    #[serde(skip_serializing_if = "Option::is_none")]
    finish_reason: Option<&'static str>,
    index: u32,
}

#[derive(Serialize)]
struct CandidateContent {
    parts: Vec<Value>,
    role: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    prompt_token_count: u64,
    candidates_token_count: u64,
    total_token_count: u64,
}

/// The usage after `generated` tokens: Google sends it on every chunk, cumulative, so a
/// client must keep the last one rather than add them up.
fn usage(completion: &Completion, generated: u64) -> UsageMetadata {
    UsageMetadata {
        prompt_token_count: completion.usage.prompt_tokens,
        candidates_token_count: generated,
        total_token_count: completion.usage.prompt_tokens.saturating_add(generated),
    }
}

/// `finishReason`: a cut by `maxOutputTokens` is `MAX_TOKENS`; a text or a call is `STOP`.
fn finish_reason(completion: &Completion) -> &'static str {
    if completion.finish_reason == "length" {
        "MAX_TOKENS"
    } else {
        "STOP"
    }
}

/// The `functionCall` part. Its `args` must be an object: a call cut short by
/// `maxOutputTokens` (no longer valid JSON) gets `{}`.
fn function_call_part(completion: &Completion, name: &str) -> Value {
    let args = match serde_json::from_str::<Value>(&completion.text()) {
        Ok(args @ Value::Object(_)) => args,
        _ => Value::Object(Map::new()),
    };
    json!({"functionCall": {"name": name, "args": args}})
}

fn chunk<'a>(
    completion: &'a Completion,
    response_id: &'a str,
    parts: Vec<Value>,
    generated: u64,
    last: bool,
) -> GenerateContentResponse<'a> {
    GenerateContentResponse {
        candidates: [Candidate {
            content: CandidateContent {
                parts,
                role: "model",
            },
            finish_reason: last.then(|| finish_reason(completion)),
            index: 0,
        }],
        usage_metadata: usage(completion, generated),
        model_version: &completion.model,
        response_id,
    }
}

fn whole<'a>(completion: &'a Completion, response_id: &'a str) -> GenerateContentResponse<'a> {
    let part = match &completion.tool {
        Some((_, name)) => function_call_part(completion, name),
        None => json!({"text": completion.text()}),
    };
    let generated = completion.usage.completion_tokens;
    chunk(completion, response_id, vec![part], generated, true)
}

fn respond_stream(
    app: &App,
    completion: &Completion,
    response_id: &str,
    framing: Framing,
    ctx: &RequestCtx,
) -> Response {
    let steps = plan_stream(completion, response_id, framing, ctx, Timing::of(app));
    match framing {
        Framing::Sse => sse_response(app, steps, ctx.body_fault.is_some()),
        Framing::JsonArray => json_array_response(app, steps, ctx.body_fault.is_some()),
    }
}

/// The chunks of a streamed answer (see the module docs), faults included.
fn plan_stream(
    completion: &Completion,
    response_id: &str,
    framing: Framing,
    ctx: &RequestCtx,
    timing: Timing,
) -> VecDeque<Step> {
    let mut encoder = ChunkEncoder {
        framing,
        started: false,
    };
    let mut steps = VecDeque::new();
    if let Some((_, name)) = &completion.tool {
        // The call comes whole: a fault falls before it.
        let fault = StreamFault::new(ctx.body_fault, 0);
        if play_fault(&fault, 0, &mut steps, &mut encoder) {
            return steps;
        }
        if !timing.first_token.is_zero() {
            steps.push_back(Step::Wait(timing.first_token));
        }
        let parts = vec![function_call_part(completion, name)];
        let generated = completion.usage.completion_tokens;
        let last = encoder.encode(&chunk(completion, response_id, parts, generated, true));
        steps.push_back(Step::Done(encoder.close(last)));
        return steps;
    }

    let tokens = completion.pieces.len();
    let fault = StreamFault::new(ctx.body_fault, tokens);
    for (i, piece) in completion.pieces.iter().enumerate() {
        if play_fault(&fault, i, &mut steps, &mut encoder) {
            return steps;
        }
        timing.wait_before(i, &mut steps);
        let parts = vec![json!({"text": piece})];
        let generated = i as u64 + 1;
        let frame = encoder.encode(&chunk(completion, response_id, parts, generated, false));
        steps.push_back(Step::Frame(frame));
    }
    if play_fault(&fault, tokens, &mut steps, &mut encoder) {
        return steps;
    }
    let parts = vec![json!({"text": ""})];
    let generated = completion.usage.completion_tokens;
    let last = encoder.encode(&chunk(completion, response_id, parts, generated, true));
    steps.push_back(Step::Done(encoder.close(last)));
    steps
}

/// Plays the fault due before token `index` with this framing's garbage frame; true when
/// the stream ends there.
fn play_fault(
    fault: &StreamFault,
    index: usize,
    steps: &mut VecDeque<Step>,
    encoder: &mut ChunkEncoder,
) -> bool {
    fault.before_token_framed(index, steps, || encoder.garbage())
}

/// Frames chunks as SSE events or as the elements of one JSON array.
struct ChunkEncoder {
    framing: Framing,
    /// Whether the array's `[` was sent.
    started: bool,
}

impl ChunkEncoder {
    fn encode<T: Serialize>(&mut self, chunk: &T) -> Bytes {
        let json = crate::json::to_vec(chunk);
        let mut out = Vec::with_capacity(json.len() + 8);
        match self.framing {
            Framing::Sse => {
                out.extend_from_slice(b"data: ");
                out.extend_from_slice(&json);
                out.extend_from_slice(b"\r\n\r\n");
            }
            Framing::JsonArray => {
                out.extend_from_slice(self.separator());
                out.extend_from_slice(&json);
            }
        }
        Bytes::from(out)
    }

    /// The last chunk, with the array's closing bracket.
    fn close(&self, last: Bytes) -> Bytes {
        match self.framing {
            Framing::Sse => last,
            Framing::JsonArray => {
                let mut out = last.to_vec();
                out.extend_from_slice(b"]");
                Bytes::from(out)
            }
        }
    }

    /// What `malformed_json` slips in: an event (or element) that is not JSON.
    fn garbage(&mut self) -> Bytes {
        match self.framing {
            Framing::Sse => Bytes::from_static(b"data: {not json\r\n\r\n"),
            Framing::JsonArray => {
                let mut out = self.separator().to_vec();
                out.extend_from_slice(b"{not json");
                Bytes::from(out)
            }
        }
    }

    fn separator(&mut self) -> &'static [u8] {
        if std::mem::replace(&mut self.started, true) {
            b",\r\n"
        } else {
            b"["
        }
    }
}

/// A streamed `application/json` array: the SSE response's body with another content type.
fn json_array_response(app: &App, steps: VecDeque<Step>, fault_applied: bool) -> Response {
    let mut response = sse_response(app, steps, fault_applied);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    response
}

// ---- countTokens ----

/// `{contents}` or `{generateContentRequest}`: the prompt tokens generateContent would
/// report for the same request.
fn count_tokens(body: &[u8]) -> Result<Response, GoogleError> {
    let body = parse_object(body)?;
    let request = match field(&body, "generateContentRequest", "generate_content_request") {
        Some(Value::Object(inner)) => parse_generate(inner, "")?,
        Some(_) => {
            return Err(GoogleError::invalid_argument(
                "Invalid value at 'generate_content_request', expected an object",
            ));
        }
        None => {
            // Vertex also takes `instances` (for non-Gemini models): not counted here.
            let mut request = body.clone();
            request.remove("instances");
            parse_generate(&request, "")?
        }
    };
    let total = request.prompt_tokens;
    Ok(crate::json::ok(&json!({
        "totalTokens": total,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}],
    })))
}

// ---- embeddings ----

/// The vector of a `Content`'s text parts.
fn embed_one(
    settings: &MockSettings,
    content: &Value,
    dims: usize,
    path: &str,
) -> Result<Vec<f32>, GoogleError> {
    let (text, _) = content_text(content, path)?;
    let words = embeddings::words(&Input::Text(text));
    Ok(embeddings::embed(&words, dims, settings.seed))
}

/// `outputDimensionality`, else the configured default.
fn dimensions(settings: &MockSettings, value: Option<&Value>) -> Result<usize, GoogleError> {
    let dims = match value {
        None | Some(Value::Null) => u64::from(settings.embedding_dimensions),
        Some(value) => match value.as_u64() {
            Some(dims) if (1..=MAX_DIMENSIONS).contains(&dims) => dims,
            _ => {
                return Err(GoogleError::invalid_argument(format!(
                    "* EmbedContentRequest.output_dimensionality: output_dimensionality must \
                     be between 1 and {MAX_DIMENSIONS}, got {value}.\n"
                )));
            }
        },
    };
    Ok(usize::try_from(dims.clamp(1, MAX_DIMENSIONS)).unwrap_or(1))
}

fn embed_content(app: &App, body: &[u8]) -> Result<Response, GoogleError> {
    bump(&app.stats.embeddings);
    let body = parse_object(body)?;
    let values = embed_request(&app.settings, &body, "content")?;
    Ok(crate::json::ok(&json!({"embedding": {"values": values}})))
}

/// One `EmbedContentRequest`'s vector.
fn embed_request(
    settings: &MockSettings,
    request: &Map<String, Value>,
    path: &str,
) -> Result<Vec<f32>, GoogleError> {
    let Some(content) = request.get("content").filter(|c| !c.is_null()) else {
        return Err(GoogleError::invalid_argument(format!(
            "* EmbedContentRequest.{path}: content is not specified\n"
        )));
    };
    let dims = dimensions(
        settings,
        field(request, "outputDimensionality", "output_dimensionality"),
    )?;
    embed_one(settings, content, dims, path)
}

fn batch_embed_contents(app: &App, model: &str, body: &[u8]) -> Result<Response, GoogleError> {
    bump(&app.stats.embeddings);
    let body = parse_object(body)?;
    let requests = match body.get("requests") {
        Some(Value::Array(requests)) if !requests.is_empty() => requests,
        _ => {
            return Err(GoogleError::invalid_argument(
                "* BatchEmbedContentsRequest.requests: requests is not specified\n",
            ));
        }
    };
    if requests.len() > MAX_BATCH_EMBED {
        return Err(GoogleError::invalid_argument(format!(
            "* BatchEmbedContentsRequest.requests: at most {MAX_BATCH_EMBED} requests can be in \
             one batch\n"
        )));
    }
    let expected_model = format!("models/{model}");
    let mut embeddings = Vec::with_capacity(requests.len());
    for (i, request) in requests.iter().enumerate() {
        let Some(request) = request.as_object() else {
            return Err(GoogleError::invalid_argument(format!(
                "Invalid value at 'requests[{i}]', expected an object"
            )));
        };
        match request.get("model").and_then(Value::as_str) {
            Some(named) if named != expected_model => {
                return Err(GoogleError::invalid_argument(format!(
                    "* BatchEmbedContentsRequest.requests[{i}].model: model must be the same as \
                     the batch's, {expected_model}, got {named}.\n"
                )));
            }
            _ => {}
        }
        let values = embed_request(&app.settings, request, &format!("requests[{i}].content"))?;
        embeddings.push(json!({"values": values}));
    }
    Ok(crate::json::ok(&json!({"embeddings": embeddings})))
}

/// Vertex's `:predict` for text embedding models.
fn predict(app: &App, body: &[u8]) -> Result<Response, GoogleError> {
    bump(&app.stats.embeddings);
    let body = parse_object(body)?;
    let instances = match body.get("instances") {
        Some(Value::Array(instances)) if !instances.is_empty() => instances,
        _ => {
            return Err(GoogleError::invalid_argument(
                "Invalid request: instances must be a non-empty list.",
            ));
        }
    };
    if instances.len() > MAX_INPUTS {
        return Err(GoogleError::invalid_argument(format!(
            "Invalid request: at most {MAX_INPUTS} instances are allowed."
        )));
    }
    let parameters = body.get("parameters").and_then(Value::as_object);
    let dims = dimensions(
        &app.settings,
        parameters.and_then(|p| field(p, "outputDimensionality", "output_dimensionality")),
    )?;
    let mut predictions = Vec::with_capacity(instances.len());
    let mut characters = 0usize;
    for (i, instance) in instances.iter().enumerate() {
        let Some(text) = instance.get("content").and_then(Value::as_str) else {
            return Err(GoogleError::invalid_argument(format!(
                "Invalid request: instances[{i}].content must be a string."
            )));
        };
        characters += text.chars().filter(|c| !c.is_whitespace()).count();
        let words = embeddings::words(&Input::Text(text.to_owned()));
        let token_count = words.len();
        let values = embeddings::embed(&words, dims, app.settings.seed);
        predictions.push(json!({"embeddings": {
            "values": values,
            "statistics": {"token_count": token_count, "truncated": false},
        }}));
    }
    Ok(crate::json::ok(&json!({
        "predictions": predictions,
        "metadata": {"billableCharacterCount": characters},
    })))
}

// ---- errors ----

/// Google's error: `{"error":{"code","message","status"}}` (with `details` carrying a
/// `RetryInfo` when a retry delay is known).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code} {status}: {message}")]
pub struct GoogleError {
    pub code: StatusCode,
    pub status: &'static str,
    pub message: String,
    /// Seconds for `Retry-After` and the `RetryInfo` detail.
    pub retry_after: Option<u64>,
}

impl GoogleError {
    /// An error with the canonical status name of `code`.
    pub fn new(code: StatusCode, message: impl Into<String>) -> Self {
        Self {
            code,
            status: canonical_status(code),
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn invalid_json() -> Self {
        Self::invalid_argument("Invalid JSON payload received. Unexpected token.")
    }

    /// What an injected `status` fault answers.
    pub fn for_status(status: u16, retry_after: Option<u64>) -> Self {
        let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let code = if code.as_u16() < 400 {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            code
        };
        let message = match code.as_u16() {
            400 => "Request contains an invalid argument.",
            401 => BAD_CREDENTIAL,
            403 => "The caller does not have permission",
            404 => "Requested entity was not found.",
            429 => {
                "You exceeded your current quota, please check your plan and billing details. \
                 (injected by sluice-mock)"
            }
            500 => {
                "An internal error has occurred. Please retry or report in \
                 https://developers.generativeai.google/guide/troubleshooting"
            }
            503 => "The model is overloaded. Please try again later.",
            504 => "Deadline expired before operation could complete.",
            _ => "The request failed (injected by sluice-mock).",
        };
        Self {
            retry_after,
            ..Self::new(code, message)
        }
    }

    fn body(&self) -> Value {
        let mut error = json!({
            "code": self.code.as_u16(),
            "message": self.message,
            "status": self.status,
        });
        if let Some(secs) = self.retry_after {
            error["details"] = json!([{
                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                "retryDelay": format!("{secs}s"),
            }]);
        }
        json!({"error": error})
    }
}

impl IntoResponse for GoogleError {
    fn into_response(self) -> Response {
        let mut response = (self.code, crate::json::to_vec(&self.body())).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=UTF-8"),
        );
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// google.rpc.Code's name for an HTTP status, as Google maps them.
fn canonical_status(code: StatusCode) -> &'static str {
    match code.as_u16() {
        400 | 413 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        409 => "ABORTED",
        429 => "RESOURCE_EXHAUSTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        503 => "UNAVAILABLE",
        504 => "DEADLINE_EXCEEDED",
        s if s >= 500 => "INTERNAL",
        _ => "FAILED_PRECONDITION",
    }
}

/// The OAuth token endpoint's error: `{"error","error_description"}`, status 400 unless a
/// fault says otherwise.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {description}")]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    pub retry_after: Option<u64>,
}

impl OAuthError {
    fn new(error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            error,
            description: description.into(),
            retry_after: None,
        }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        Self::new("invalid_request", description)
    }

    fn for_status(status: u16, retry_after: Option<u64>) -> Self {
        let code = StatusCode::from_u16(status)
            .ok()
            .filter(|c| c.as_u16() >= 400)
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let error = match code.as_u16() {
            400 => "invalid_request",
            401 => "invalid_client",
            403 => "access_denied",
            429 => "rate_limit_exceeded",
            503 => "temporarily_unavailable",
            _ => "server_error",
        };
        Self {
            status: code,
            retry_after,
            ..Self::new(error, "Injected by sluice-mock.")
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({"error": self.error, "error_description": self.description});
        let mut response = (self.status, crate::json::to_vec(&body)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<ChatRequest, GoogleError> {
        match v {
            Value::Object(obj) => parse_generate(&obj, "gemini-test"),
            _ => Err(GoogleError::invalid_json()),
        }
    }

    #[test]
    fn tallies_like_openai() {
        let req = parse(json!({
            "systemInstruction": {"parts": [{"text": "be brief"}]},
            "contents": [{"role": "user", "parts": [{"text": "hello there"}, {"text": "friend"}]}]
        }))
        .expect("valid");
        // 3 (priming) + (3 + 2) + (3 + 3), as the OpenAI path counts the same prompt.
        assert_eq!(req.prompt_tokens, 14);
        assert_eq!(req.last_user_text, "hello there friend");
    }

    #[test]
    fn function_results_are_not_echoed() {
        let req = parse(json!({"contents": [
            {"role": "user", "parts": [{"text": "weather?"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "get", "args": {"a": 1}}}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "get", "response": {"t": 3}}}]}
        ]}))
        .expect("valid");
        assert_eq!(req.last_user_text, "weather?");
    }

    #[test]
    fn refuses_like_google() {
        let status = |v: Value| parse(v).err().map(|e| (e.code.as_u16(), e.status));
        assert_eq!(status(json!({})), Some((400, "INVALID_ARGUMENT")));
        assert_eq!(
            status(json!({"contents": []})),
            Some((400, "INVALID_ARGUMENT"))
        );
        assert_eq!(
            status(json!({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]})),
            Some((400, "INVALID_ARGUMENT"))
        );
        assert_eq!(
            status(json!({"contents": [{"parts": []}]})),
            Some((400, "INVALID_ARGUMENT"))
        );
        let unknown = parse(json!({"contents": [{"parts": [{"text": "x"}]}], "max_tokens": 5}));
        assert!(unknown.is_err_and(|e| e.message.contains("Unknown name \"max_tokens\"")));
        assert!(
            parse(json!({"contents": [{"parts": [{"text": "x"}]}],
                "generationConfig": {"maxOutputTokens": 0}}))
            .is_err()
        );
    }

    #[test]
    fn tools_go_through_the_shared_logic() {
        let req = parse(json!({
            "contents": [{"parts": [{"text": "x"}]}],
            "tools": [{"functionDeclarations": [{"name": "get_weather", "parameters": {
                "type": "OBJECT",
                "properties": {"city": {"type": "STRING"}, "days": {"type": "INTEGER"}}
            }}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY"}}
        }))
        .expect("valid");
        let call = req.tool_call.expect("a call");
        assert_eq!(call.name, "get_weather");
        assert_eq!(call.arguments, r#"{"city": "mock", "days": 1}"#);
        let none = parse(json!({
            "contents": [{"parts": [{"text": "x"}]}],
            "tools": [{"functionDeclarations": [{"name": "f"}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "NONE"}}
        }))
        .expect("valid");
        assert!(none.tool_call.is_none());
    }

    #[test]
    fn jwt_shape_is_checked() {
        let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
        let header = b64(json!({"alg": "RS256", "typ": "JWT"}));
        let claims =
            b64(json!({"iss": "sa@p.iam", "scope": "s", "aud": "a", "iat": 100, "exp": 3700}));
        assert!(check_assertion(&format!("{header}.{claims}.c2ln")).is_ok());
        assert!(check_assertion(&format!("{header}.{claims}")).is_err());
        let long = b64(json!({"iss": "i", "scope": "s", "aud": "a", "iat": 100, "exp": 9000}));
        assert!(check_assertion(&format!("{header}.{long}.c2ln")).is_err());
        let hs = b64(json!({"alg": "HS256"}));
        assert!(check_assertion(&format!("{hs}.{claims}.c2ln")).is_err());
        let no_scope = b64(json!({"iss": "i", "aud": "a", "iat": 1, "exp": 2}));
        assert!(check_assertion(&format!("{header}.{no_scope}.c2ln")).is_err());
    }

    #[test]
    fn form_decoding() {
        assert_eq!(
            parse_form(b"grant_type=urn%3Aietf%3Aparams&x=a+b&flag"),
            vec![
                ("grant_type".to_owned(), "urn:ietf:params".to_owned()),
                ("x".to_owned(), "a b".to_owned()),
                ("flag".to_owned(), String::new()),
            ]
        );
        assert_eq!(form_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn tokens_are_bound_to_the_seed() {
        let a = MockSettings::default();
        let b = MockSettings {
            seed: 9,
            ..MockSettings::default()
        };
        assert_ne!(access_token(&a, 0), access_token(&b, 0));
        assert!(access_token(&a, 3).starts_with("ya29.mock-3-"));
    }
}
