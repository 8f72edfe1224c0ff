//! Chat Completions (`POST /v1/chat/completions`) requests and whole responses, to and
//! from the canonical types.
//!
//! Rules this dialect applies on the way in (decode):
//! - `system` and `developer` messages become `ChatRequest.system`, in order, wherever
//!   they stand in the conversation.
//! - `tool` messages become `ToolResult` parts of one `User` turn; consecutive ones merge,
//!   and the user message right after them joins that same turn (results first), because
//!   Anthropic, Bedrock and Gemini need turns to alternate. A result's `name` is taken
//!   from the assistant tool call it answers (Gemini matches results by name).
//! - `max_completion_tokens` wins over `max_tokens`; `n > 1`, `logprobs` and
//!   `top_logprobs` are refused (a translated path would answer with one choice and no
//!   log probabilities); the legacy `function` role is refused.
//! - Fields without a canonical meaning go into `extra` by name; `stream_options` too
//!   (the gateway asks for usage itself).
//!
//! And on the way out (encode): see [`encode_request`].

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{Map, Value, json};
use sluice_core::chat::{
    ChatRequest, ChatResponse, FinishReason, Image, Message, Part, Reasoning, ResponseFormat, Role,
    TextBlock, Tool, ToolCall, ToolChoice, ToolResult, ToolResultContent, Usage,
};

use crate::dialect::{Encoded, TranslateError};

const PROVIDER: &str = "OpenAI";

// ---------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------

/// The request fields with a canonical meaning; everything else lands in `rest`.
#[derive(Deserialize)]
struct WireRequest {
    #[serde(default)]
    model: String,
    messages: Vec<Map<String, Value>>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    temperature: Option<f64>,
    top_p: Option<f64>,
    n: Option<u32>,
    stop: Option<Stop>,
    stream: Option<bool>,
    tools: Option<Vec<Value>>,
    tool_choice: Option<Value>,
    parallel_tool_calls: Option<bool>,
    response_format: Option<Value>,
    reasoning_effort: Option<String>,
    seed: Option<i64>,
    frequency_penalty: Option<f64>,
    presence_penalty: Option<f64>,
    user: Option<String>,
    logprobs: Option<bool>,
    top_logprobs: Option<u32>,
    #[serde(flatten)]
    rest: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Stop {
    One(String),
    Many(Vec<String>),
}

/// Decodes an OpenAI Chat Completions request body.
pub fn decode_request(body: &[u8]) -> Result<ChatRequest, TranslateError> {
    let wire: WireRequest = serde_json::from_slice(body)?;
    if wire.n.is_some_and(|n| n > 1) {
        return Err(unsupported(
            "n",
            "only one choice can be generated on a translated path",
        ));
    }
    if wire.logprobs == Some(true) {
        return Err(unsupported(
            "logprobs",
            "log probabilities are not available on a translated path",
        ));
    }
    if wire.top_logprobs.is_some_and(|count| count > 0) {
        return Err(unsupported(
            "top_logprobs",
            "log probabilities are not available on a translated path",
        ));
    }

    let mut extra = wire.rest;
    for legacy in ["functions", "function_call"] {
        if extra.get(legacy).is_some_and(|value| !value.is_null()) {
            return Err(unsupported(
                legacy,
                "the legacy function-calling parameters are not translated; send `tools`",
            ));
        }
    }

    let mut request = ChatRequest {
        model: wire.model,
        max_tokens: wire.max_completion_tokens.or(wire.max_tokens),
        temperature: wire.temperature,
        top_p: wire.top_p,
        stop: match wire.stop {
            None => Vec::new(),
            Some(Stop::One(sequence)) => vec![sequence],
            Some(Stop::Many(sequences)) => sequences,
        },
        stream: wire.stream.unwrap_or(false),
        parallel_tool_calls: wire.parallel_tool_calls,
        reasoning: wire.reasoning_effort.map(|effort| Reasoning {
            effort: Some(effort),
            budget_tokens: None,
        }),
        seed: wire.seed,
        frequency_penalty: wire.frequency_penalty,
        presence_penalty: wire.presence_penalty,
        user: wire.user,
        ..ChatRequest::default()
    };
    decode_messages(wire.messages, &mut request, &mut extra)?;
    for (position, tool) in wire.tools.unwrap_or_default().into_iter().enumerate() {
        request.tools.push(decode_tool(tool, position, &mut extra)?);
    }
    request.tool_choice = wire.tool_choice.map(decode_tool_choice).transpose()?;
    if let Some(format) = &wire.response_format
        && format.pointer("/json_schema/description").is_some()
    {
        extra.insert(
            "response_format.json_schema.description".into(),
            Value::Bool(true),
        );
    }
    request.response_format = wire
        .response_format
        .map(decode_response_format)
        .transpose()?;
    request.extra = extra;
    Ok(request)
}

fn unsupported(param: &str, reason: &str) -> TranslateError {
    TranslateError::Unsupported {
        param: param.to_string(),
        provider: PROVIDER,
        reason: reason.to_string(),
    }
}

fn decode_messages(
    messages: Vec<Map<String, Value>>,
    request: &mut ChatRequest,
    extra: &mut Map<String, Value>,
) -> Result<(), TranslateError> {
    // Tool call ids to names, so results can carry the function's name.
    let mut call_names: HashMap<String, String> = HashMap::new();
    // True while the last turn is a `User` turn opened by tool results, which the next
    // tool results and the next user message join.
    let mut in_tool_turn = false;
    for (position, mut message) in messages.into_iter().enumerate() {
        let role = match message.remove("role") {
            Some(Value::String(role)) => role,
            _ => {
                return Err(TranslateError::invalid_param(
                    format!("messages[{position}].role"),
                    format!("messages[{position}] needs a string `role`."),
                ));
            }
        };
        if message.contains_key("name") {
            // A participant name has no canonical place; report it like an unknown field.
            extra.insert("messages[].name".into(), Value::Bool(true));
        }
        let content = message.remove("content").unwrap_or(Value::Null);
        match role.as_str() {
            "system" | "developer" => {
                request.system.extend(
                    decode_text_content(content, position)?
                        .into_iter()
                        .map(TextBlock::new),
                );
            }
            "user" => {
                let parts = decode_user_content(content, position, extra)?;
                match request.messages.last_mut() {
                    Some(last) if in_tool_turn => last.content.extend(parts),
                    _ => request.messages.push(Message {
                        role: Role::User,
                        content: parts,
                    }),
                }
                in_tool_turn = false;
            }
            "assistant" => {
                let parts = decode_assistant_message(content, &mut message, position)?;
                for part in &parts {
                    if let Part::ToolCall(call) = part {
                        call_names.insert(call.id.clone(), call.name.clone());
                    }
                }
                // An empty assistant turn carries nothing, and some targets refuse one.
                if !parts.is_empty() {
                    request.messages.push(Message {
                        role: Role::Assistant,
                        content: parts,
                    });
                }
                in_tool_turn = false;
            }
            "tool" => {
                let call_id = match message.remove("tool_call_id") {
                    Some(Value::String(id)) => id,
                    _ => {
                        return Err(TranslateError::invalid_param(
                            format!("messages[{position}].tool_call_id"),
                            format!(
                                "messages[{position}] (a tool message) needs a `tool_call_id`."
                            ),
                        ));
                    }
                };
                let content = decode_text_content(content, position)?
                    .into_iter()
                    .filter(|text| !text.is_empty())
                    .map(ToolResultContent::Text)
                    .collect();
                let result = Part::ToolResult(ToolResult {
                    name: call_names.get(&call_id).cloned(),
                    call_id,
                    content,
                    is_error: false,
                });
                match request.messages.last_mut() {
                    Some(last) if in_tool_turn => last.content.push(result),
                    _ => request.messages.push(Message {
                        role: Role::User,
                        content: vec![result],
                    }),
                }
                in_tool_turn = true;
            }
            "function" => {
                return Err(unsupported(
                    "messages[].role",
                    "the legacy `function` role is not translated; send `tool` messages",
                ));
            }
            other => {
                return Err(TranslateError::invalid_param(
                    format!("messages[{position}].role"),
                    format!("messages[{position}] has an unknown role `{other}`."),
                ));
            }
        }
    }
    Ok(())
}

/// Content that may only hold text: a string or an array of `text` parts.
fn decode_text_content(content: Value, position: usize) -> Result<Vec<String>, TranslateError> {
    match content {
        Value::Null => Ok(Vec::new()),
        Value::String(text) => Ok(vec![text]),
        Value::Array(parts) => parts
            .into_iter()
            .map(|part| match part_type(&part) {
                Some("text") => part_text(&part, "text", position),
                _ => Err(TranslateError::invalid_param(
                    format!("messages[{position}].content"),
                    format!("messages[{position}] may only hold text parts."),
                )),
            })
            .collect(),
        _ => Err(bad_content(position)),
    }
}

fn decode_user_content(
    content: Value,
    position: usize,
    extra: &mut Map<String, Value>,
) -> Result<Vec<Part>, TranslateError> {
    match content {
        Value::String(text) => Ok(vec![Part::Text(TextBlock::new(text))]),
        Value::Array(parts) => {
            let mut decoded = Vec::with_capacity(parts.len());
            for part in parts {
                match part_type(&part) {
                    Some("text") => decoded.push(Part::Text(TextBlock::new(part_text(
                        &part, "text", position,
                    )?))),
                    Some("image_url") => {
                        let image = part.get("image_url");
                        // Older clients send `image_url` as the bare URL string.
                        let url = image
                            .and_then(|image| image.get("url").or(Some(image)))
                            .and_then(Value::as_str)
                            .ok_or_else(|| {
                                TranslateError::invalid_param(
                                    format!("messages[{position}].content"),
                                    format!("An image part of messages[{position}] needs `image_url.url`."),
                                )
                            })?;
                        if image.and_then(|image| image.get("detail")).is_some() {
                            extra.insert(
                                "messages[].content[].image_url.detail".into(),
                                Value::Bool(true),
                            );
                        }
                        decoded.push(Part::Image(Image::from_url(url)));
                    }
                    Some(other) => {
                        return Err(unsupported(
                            "messages[].content[].type",
                            &format!("`{other}` content parts are not translated"),
                        ));
                    }
                    None => return Err(bad_content(position)),
                }
            }
            Ok(decoded)
        }
        _ => Err(bad_content(position)),
    }
}

fn decode_assistant_message(
    content: Value,
    message: &mut Map<String, Value>,
    position: usize,
) -> Result<Vec<Part>, TranslateError> {
    let mut parts = Vec::new();
    // DeepSeek (and vLLM) return the reasoning as `reasoning_content`.
    if let Some(Value::String(reasoning)) = message.remove("reasoning_content")
        && !reasoning.is_empty()
    {
        parts.push(Part::Thinking {
            text: reasoning,
            signature: None,
        });
    }
    match content {
        Value::Null => {}
        Value::String(text) => {
            if !text.is_empty() {
                parts.push(Part::Text(TextBlock::new(text)));
            }
        }
        Value::Array(items) => {
            for item in items {
                let text = match part_type(&item) {
                    Some("text") => part_text(&item, "text", position)?,
                    Some("refusal") => part_text(&item, "refusal", position)?,
                    _ => return Err(bad_content(position)),
                };
                parts.push(Part::Text(TextBlock::new(text)));
            }
        }
        _ => return Err(bad_content(position)),
    }
    // A refusal is what the model said; the other dialects carry it as text.
    if let Some(Value::String(refusal)) = message.remove("refusal")
        && !refusal.is_empty()
    {
        parts.push(Part::Text(TextBlock::new(refusal)));
    }
    if let Some(calls) = message.remove("tool_calls")
        && !calls.is_null()
    {
        let calls: Vec<WireToolCall> = serde_json::from_value(calls).map_err(|err| {
            TranslateError::invalid_param(
                format!("messages[{position}].tool_calls"),
                format!("messages[{position}].tool_calls is not valid: {err}"),
            )
        })?;
        parts.extend(calls.into_iter().map(|call| {
            Part::ToolCall(ToolCall {
                id: call.id,
                name: call.function.name,
                arguments: call.function.arguments,
            })
        }));
    }
    Ok(parts)
}

fn part_type(part: &Value) -> Option<&str> {
    part.get("type").and_then(Value::as_str)
}

fn part_text(part: &Value, field: &str, position: usize) -> Result<String, TranslateError> {
    part.get(field)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| {
            TranslateError::invalid_param(
                format!("messages[{position}].content"),
                format!("A `{field}` part of messages[{position}] needs a string `{field}`."),
            )
        })
}

fn bad_content(position: usize) -> TranslateError {
    TranslateError::invalid_param(
        format!("messages[{position}].content"),
        format!("messages[{position}].content is not valid for its role."),
    )
}

#[derive(Deserialize)]
struct WireToolCall {
    id: String,
    function: WireFunctionCall,
}

#[derive(Deserialize)]
struct WireFunctionCall {
    #[serde(default)]
    name: String,
    #[serde(default)]
    arguments: String,
}

#[derive(Deserialize)]
struct WireFunction {
    name: String,
    description: Option<String>,
    parameters: Option<Value>,
    strict: Option<bool>,
}

fn decode_tool(
    tool: Value,
    position: usize,
    extra: &mut Map<String, Value>,
) -> Result<Tool, TranslateError> {
    if part_type(&tool) != Some("function") {
        return Err(unsupported(
            "tools[].type",
            "only `function` tools are translated",
        ));
    }
    let function: WireFunction = tool
        .get("function")
        .cloned()
        .map(serde_json::from_value)
        .transpose()
        .ok()
        .flatten()
        .ok_or_else(|| {
            TranslateError::invalid_param(
                format!("tools[{position}].function"),
                format!("tools[{position}] needs a `function` with a `name`."),
            )
        })?;
    if function.strict.is_some() {
        // No canonical place: reported as dropped on translated paths.
        extra.insert("tools[].function.strict".into(), Value::Bool(true));
    }
    Ok(Tool {
        name: function.name,
        description: function.description,
        // No `parameters` means a function without arguments.
        parameters: function
            .parameters
            .unwrap_or_else(|| json!({"type": "object", "properties": {}})),
        cache_control: None,
    })
}

fn decode_tool_choice(choice: Value) -> Result<ToolChoice, TranslateError> {
    match &choice {
        Value::String(mode) => match mode.as_str() {
            "auto" => Ok(ToolChoice::Auto),
            "none" => Ok(ToolChoice::None),
            "required" => Ok(ToolChoice::Required),
            other => Err(TranslateError::invalid_param(
                "tool_choice",
                format!("`tool_choice` `{other}` is not one of auto, none, required."),
            )),
        },
        Value::Object(_) if part_type(&choice) == Some("function") => choice
            .get("function")
            .and_then(|function| function.get("name"))
            .and_then(Value::as_str)
            .map(|name| ToolChoice::Tool(name.to_string()))
            .ok_or_else(|| {
                TranslateError::invalid_param(
                    "tool_choice",
                    "`tool_choice.function.name` is missing.",
                )
            }),
        _ => Err(unsupported(
            "tool_choice",
            "only auto, none, required and a named function are translated",
        )),
    }
}

fn decode_response_format(format: Value) -> Result<ResponseFormat, TranslateError> {
    match part_type(&format) {
        Some("text") => Ok(ResponseFormat::Text),
        Some("json_object") => Ok(ResponseFormat::JsonObject),
        Some("json_schema") => {
            let spec = format.get("json_schema");
            let field = |name: &str| spec.and_then(|spec| spec.get(name));
            Ok(ResponseFormat::JsonSchema {
                name: field("name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                schema: field("schema").cloned().unwrap_or_else(|| json!({})),
                strict: field("strict").and_then(Value::as_bool),
            })
        }
        _ => Err(TranslateError::invalid_param(
            "response_format",
            "`response_format.type` must be text, json_object or json_schema.",
        )),
    }
}

/// Encodes a canonical request as an OpenAI Chat Completions body for `model`.
///
/// Mapped: `max_tokens` → `max_completion_tokens` (the current name; o-series models
/// refuse `max_tokens`), `reasoning` → `reasoning_effort` (a budget becomes an effort via
/// [`Reasoning::effort`]), `stream` → `stream` plus `stream_options.include_usage` (the
/// gateway needs usage to charge spend). Tool results become one `tool` message each,
/// before the rest of their user turn.
///
/// Dropped by rule (named in `Encoded.dropped`): `top_k`; `thinking` (thinking parts of
/// assistant turns: OpenAI takes no reasoning back); `tool_result.is_error` (OpenAI tool
/// messages have no error flag; the result text still says what failed); every `extra`
/// entry by its name. `cache_control` is dropped silently: OpenAI caches prompt
/// prefixes by itself. `parallel_tool_calls` and `tool_choice` without tools are dropped
/// (OpenAI refuses them without tools).
///
/// Refused: images in tool results (OpenAI tool messages hold text only, and a model that
/// does not see the image would answer wrongly) and images in assistant turns.
pub fn encode_request(request: &ChatRequest, model: &str) -> Result<Encoded, TranslateError> {
    let mut dropped = Vec::new();
    let mut messages: Vec<Value> = Vec::new();
    for block in &request.system {
        messages.push(json!({"role": "system", "content": block.text}));
    }
    for message in &request.messages {
        match message.role {
            Role::User => encode_user_turn(message, &mut messages, &mut dropped)?,
            Role::Assistant => messages.push(encode_assistant_turn(message, &mut dropped)?),
        }
    }

    let mut body = Map::new();
    body.insert("model".into(), model.into());
    body.insert("messages".into(), messages.into());
    if let Some(max_tokens) = request.max_tokens {
        body.insert("max_completion_tokens".into(), max_tokens.into());
    }
    insert_some(&mut body, "temperature", request.temperature);
    insert_some(&mut body, "top_p", request.top_p);
    if request.top_k.is_some() {
        dropped.push("top_k".to_string());
    }
    if !request.stop.is_empty() {
        body.insert("stop".into(), request.stop.clone().into());
    }
    if request.stream {
        body.insert("stream".into(), true.into());
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    if request.tools.is_empty() {
        if request.tool_choice.is_some() {
            dropped.push("tool_choice".to_string());
        }
        if request.parallel_tool_calls.is_some() {
            dropped.push("parallel_tool_calls".to_string());
        }
    } else {
        let tools: Vec<Value> = request.tools.iter().map(encode_tool).collect();
        body.insert("tools".into(), tools.into());
        if let Some(choice) = &request.tool_choice {
            body.insert("tool_choice".into(), encode_tool_choice(choice));
        }
        insert_some(
            &mut body,
            "parallel_tool_calls",
            request.parallel_tool_calls,
        );
    }
    if let Some(format) = &request.response_format {
        body.insert("response_format".into(), encode_response_format(format));
    }
    if let Some(effort) = request.reasoning.as_ref().and_then(Reasoning::effort) {
        body.insert("reasoning_effort".into(), effort.into());
    }
    insert_some(&mut body, "seed", request.seed);
    insert_some(&mut body, "frequency_penalty", request.frequency_penalty);
    insert_some(&mut body, "presence_penalty", request.presence_penalty);
    insert_some(&mut body, "user", request.user.clone());
    for name in request.extra.keys() {
        // The gateway sets `stream_options` itself (above).
        if name != "stream_options" {
            dropped.push(name.clone());
        }
    }
    dropped.sort();
    dropped.dedup();
    Ok(Encoded {
        body: serde_json::to_vec(&Value::Object(body)).map_err(|err| {
            TranslateError::invalid(format!("The request could not be encoded: {err}"))
        })?,
        dropped,
    })
}

fn insert_some<T: Into<Value>>(body: &mut Map<String, Value>, name: &str, value: Option<T>) {
    if let Some(value) = value {
        body.insert(name.into(), value.into());
    }
}

/// A canonical user turn: its tool results as `tool` messages, then the rest as one
/// `user` message.
fn encode_user_turn(
    message: &Message,
    messages: &mut Vec<Value>,
    dropped: &mut Vec<String>,
) -> Result<(), TranslateError> {
    let mut parts: Vec<Value> = Vec::new();
    let mut only_text: Option<&str> = None;
    for part in &message.content {
        match part {
            Part::ToolResult(result) => messages.push(encode_tool_result(result, dropped)?),
            Part::Text(block) => {
                only_text = if parts.is_empty() {
                    Some(&block.text)
                } else {
                    None
                };
                parts.push(json!({"type": "text", "text": block.text}));
            }
            Part::Image(image) => {
                only_text = None;
                parts.push(json!({"type": "image_url", "image_url": {"url": image.to_url()}}));
            }
            Part::Thinking { .. } | Part::RedactedThinking { .. } => {
                dropped.push("thinking".to_string());
            }
            Part::ToolCall(_) => {
                return Err(TranslateError::invalid_param(
                    "messages",
                    "A tool call can only appear in an assistant turn.",
                ));
            }
        }
    }
    if parts.is_empty() {
        return Ok(());
    }
    // One text part travels as a plain string, the form every server accepts.
    let content = match (only_text, parts.len()) {
        (Some(text), 1) => Value::from(text),
        _ => Value::from(parts),
    };
    messages.push(json!({"role": "user", "content": content}));
    Ok(())
}

fn encode_tool_result(
    result: &ToolResult,
    dropped: &mut Vec<String>,
) -> Result<Value, TranslateError> {
    let mut texts = Vec::new();
    for content in &result.content {
        match content {
            ToolResultContent::Text(text) => texts.push(text.as_str()),
            ToolResultContent::Image(_) => {
                return Err(unsupported(
                    "tool_result.image",
                    "OpenAI tool messages hold text only",
                ));
            }
        }
    }
    if result.is_error {
        dropped.push("tool_result.is_error".to_string());
    }
    let content = match texts.as_slice() {
        [] => Value::from(""),
        [text] => Value::from(*text),
        several => Value::from(
            several
                .iter()
                .map(|text| json!({"type": "text", "text": text}))
                .collect::<Vec<_>>(),
        ),
    };
    Ok(json!({"role": "tool", "tool_call_id": result.call_id, "content": content}))
}

fn encode_assistant_turn(
    message: &Message,
    dropped: &mut Vec<String>,
) -> Result<Value, TranslateError> {
    let mut texts: Vec<&str> = Vec::new();
    let mut calls: Vec<Value> = Vec::new();
    for part in &message.content {
        match part {
            Part::Text(block) => texts.push(&block.text),
            Part::ToolCall(call) => calls.push(encode_tool_call(call)),
            Part::Thinking { .. } | Part::RedactedThinking { .. } => {
                dropped.push("thinking".to_string());
            }
            Part::Image(_) => {
                return Err(unsupported(
                    "messages[].content[].image",
                    "OpenAI assistant messages cannot hold images",
                ));
            }
            Part::ToolResult(_) => {
                return Err(TranslateError::invalid_param(
                    "messages",
                    "A tool result can only appear in a user turn.",
                ));
            }
        }
    }
    let content = match texts.as_slice() {
        [] if calls.is_empty() => Value::from(""),
        [] => Value::Null,
        [text] => Value::from(*text),
        several => Value::from(
            several
                .iter()
                .map(|text| json!({"type": "text", "text": text}))
                .collect::<Vec<_>>(),
        ),
    };
    let mut encoded = json!({"role": "assistant", "content": content});
    if !calls.is_empty()
        && let Some(object) = encoded.as_object_mut()
    {
        object.insert("tool_calls".into(), calls.into());
    }
    Ok(encoded)
}

fn encode_tool_call(call: &ToolCall) -> Value {
    json!({
        "id": call.id,
        "type": "function",
        "function": {"name": call.name, "arguments": call.arguments},
    })
}

fn encode_tool(tool: &Tool) -> Value {
    let mut function = Map::new();
    function.insert("name".into(), tool.name.clone().into());
    insert_some(&mut function, "description", tool.description.clone());
    function.insert("parameters".into(), tool.parameters.clone());
    json!({"type": "function", "function": function})
}

fn encode_tool_choice(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => "auto".into(),
        ToolChoice::None => "none".into(),
        ToolChoice::Required => "required".into(),
        ToolChoice::Tool(name) => json!({"type": "function", "function": {"name": name}}),
    }
}

fn encode_response_format(format: &ResponseFormat) -> Value {
    match format {
        ResponseFormat::Text => json!({"type": "text"}),
        ResponseFormat::JsonObject => json!({"type": "json_object"}),
        ResponseFormat::JsonSchema {
            name,
            schema,
            strict,
        } => {
            let mut spec = Map::new();
            spec.insert("name".into(), name.clone().into());
            spec.insert("schema".into(), schema.clone());
            insert_some(&mut spec, "strict", *strict);
            json!({"type": "json_schema", "json_schema": spec})
        }
    }
}

// ---------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct WireResponse {
    #[serde(default)]
    id: String,
    created: Option<u64>,
    #[serde(default)]
    model: String,
    #[serde(default)]
    choices: Vec<WireChoice>,
    usage: Option<WireUsage>,
}

#[derive(Deserialize)]
struct WireChoice {
    message: WireResponseMessage,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireResponseMessage {
    content: Option<String>,
    refusal: Option<String>,
    tool_calls: Option<Vec<WireToolCall>>,
    /// DeepSeek's and vLLM's reasoning text; OpenRouter calls it `reasoning`.
    reasoning_content: Option<String>,
    reasoning: Option<String>,
}

/// `usage` of a response or of the last stream chunk.
#[derive(Deserialize)]
pub(crate) struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    prompt_tokens_details: Option<PromptDetails>,
    completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Deserialize)]
struct PromptDetails {
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct CompletionDetails {
    reasoning_tokens: Option<u64>,
}

impl WireUsage {
    /// OpenAI's `prompt_tokens` already counts cached tokens: the canonical meaning.
    pub(crate) fn to_usage(&self) -> Usage {
        Usage {
            input_tokens: self.prompt_tokens,
            output_tokens: self.completion_tokens,
            cached_input_tokens: self
                .prompt_tokens_details
                .as_ref()
                .and_then(|details| details.cached_tokens)
                .unwrap_or(0),
            cache_write_tokens: 0,
            reasoning_tokens: self
                .completion_tokens_details
                .as_ref()
                .and_then(|details| details.reasoning_tokens)
                .unwrap_or(0),
        }
    }
}

/// OpenAI's usage object. Cache writes have no field (OpenAI does not bill them apart);
/// they stay counted in `prompt_tokens`.
pub(crate) fn encode_usage(usage: &Usage) -> Value {
    json!({
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens(),
        "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens},
    })
}

pub(crate) fn decode_finish_reason(reason: &str) -> FinishReason {
    match reason {
        "stop" => FinishReason::EndTurn,
        "length" => FinishReason::MaxTokens,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_string()),
    }
}

/// OpenAI reports a matched stop sequence and every other natural end as `stop`.
pub(crate) fn encode_finish_reason(reason: &FinishReason) -> &'static str {
    match reason {
        FinishReason::EndTurn | FinishReason::StopSequence | FinishReason::Other(_) => "stop",
        FinishReason::MaxTokens => "length",
        FinishReason::ToolCalls => "tool_calls",
        FinishReason::ContentFilter => "content_filter",
    }
}

/// Decodes a `chat.completion` object (its first choice).
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, TranslateError> {
    let wire: WireResponse = serde_json::from_slice(body)
        .map_err(|err| TranslateError::upstream(format!("chat.completion: {err}")))?;
    let choice = wire
        .choices
        .into_iter()
        .next()
        .ok_or_else(|| TranslateError::upstream("chat.completion without choices"))?;
    let message = choice.message;
    let mut content = Vec::new();
    if let Some(reasoning) = message.reasoning_content.or(message.reasoning)
        && !reasoning.is_empty()
    {
        content.push(Part::Thinking {
            text: reasoning,
            signature: None,
        });
    }
    for text in [message.content, message.refusal].into_iter().flatten() {
        if !text.is_empty() {
            content.push(Part::Text(TextBlock::new(text)));
        }
    }
    content.extend(
        message
            .tool_calls
            .unwrap_or_default()
            .into_iter()
            .map(|call| {
                Part::ToolCall(ToolCall {
                    id: call.id,
                    name: call.function.name,
                    arguments: call.function.arguments,
                })
            }),
    );
    Ok(ChatResponse {
        id: wire.id,
        model: wire.model,
        created: wire.created,
        content,
        finish_reason: choice.finish_reason.as_deref().map(decode_finish_reason),
        stop_sequence: None,
        usage: wire.usage.map(|usage| usage.to_usage()).unwrap_or_default(),
    })
}

/// Encodes a `chat.completion` object. Text parts are joined into `content` (`null`
/// when there is none); thinking goes into `reasoning_content`, as DeepSeek returns it
/// (OpenAI's own clients ignore the field); redacted thinking and signatures are left
/// out, since only their own dialect can use them.
pub fn encode_response(response: &ChatResponse) -> Vec<u8> {
    let mut text = String::new();
    let mut reasoning = String::new();
    let mut calls = Vec::new();
    let mut has_text = false;
    for part in &response.content {
        match part {
            Part::Text(block) => {
                has_text = true;
                text.push_str(&block.text);
            }
            Part::Thinking { text: thought, .. } => reasoning.push_str(thought),
            Part::ToolCall(call) => calls.push(encode_tool_call(call)),
            Part::RedactedThinking { .. } | Part::Image(_) | Part::ToolResult(_) => {}
        }
    }
    let mut message = Map::new();
    message.insert("role".into(), "assistant".into());
    message.insert(
        "content".into(),
        if has_text { text.into() } else { Value::Null },
    );
    message.insert("refusal".into(), Value::Null);
    if !reasoning.is_empty() {
        message.insert("reasoning_content".into(), reasoning.into());
    }
    if !calls.is_empty() {
        message.insert("tool_calls".into(), calls.into());
    }
    let body = json!({
        "id": response.id,
        "object": "chat.completion",
        "created": response.created.unwrap_or_else(unix_now),
        "model": response.model,
        "choices": [{
            "index": 0,
            "message": message,
            "logprobs": null,
            "finish_reason": response.finish_reason.as_ref().map(encode_finish_reason),
        }],
        "usage": encode_usage(&response.usage),
    });
    // Serialising a `Value` cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}
