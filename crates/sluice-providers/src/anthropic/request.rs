//! `POST /v1/messages` request bodies, both directions.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use sluice_core::chat::{
    CacheControl, ChatRequest, Image, Message, Part, Reasoning, ResponseFormat, Role, TextBlock,
    Tool, ToolChoice, ToolResult, ToolResultContent,
};

use super::wire::{
    AssistantBlock, FieldError, PROVIDER, arguments_to_input, as_array, as_object, child,
    decode_assistant_block, optional, optional_bool, optional_f64, optional_str, optional_u32,
    required, required_str, value_as_str,
};
use crate::dialect::{Hint, drop_hints};
use crate::{Encoded, TranslateError};

/// `max_tokens` is required by Anthropic; sent when the canonical request has none.
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

/// The `provider` of the errors for Anthropic requests whose content has no canonical
/// form: the decoder does not know the target, only that it is not Anthropic's raw path.
const TRANSLATED_ROUTE: &str = "a translated route";

/// Top-level fields this decoder maps; all others go to `ChatRequest::extra`.
const KNOWN_FIELDS: &[&str] = &[
    "model",
    "max_tokens",
    "system",
    "messages",
    "tools",
    "tool_choice",
    "stop_sequences",
    "temperature",
    "top_p",
    "top_k",
    "thinking",
    "metadata",
    "stream",
];

/// A field error of the client's request: a 400 naming the field.
fn field<T>(result: Result<T, FieldError>) -> Result<T, TranslateError> {
    result.map_err(FieldError::into_request_error)
}

/// Reads an Anthropic Messages request.
pub fn decode_request(body: &[u8]) -> Result<ChatRequest, TranslateError> {
    let root: Value = serde_json::from_slice(body)?;
    let root = field(as_object(&root, "body"))?;
    let request = decode_request_object(root)?;
    if request.max_tokens.is_none() {
        return Err(TranslateError::invalid_param(
            "max_tokens",
            "Missing required parameter: `max_tokens` (the Anthropic dialect requires it)",
        ));
    }
    Ok(request)
}

/// Reads a `POST /v1/messages/count_tokens` body: a Messages request without
/// `max_tokens` (nothing is generated).
pub fn decode_count_tokens_request(body: &[u8]) -> Result<ChatRequest, TranslateError> {
    let root: Value = serde_json::from_slice(body)?;
    let root = field(as_object(&root, "body"))?;
    decode_request_object(root)
}

fn decode_request_object(root: &Map<String, Value>) -> Result<ChatRequest, TranslateError> {
    let model = field(required_str(root, "model", ""))?.to_string();
    let max_tokens = field(optional_u32(root, "max_tokens", ""))?;
    let system = match optional(root, "system") {
        Some(system) => decode_system(system)?,
        None => Vec::new(),
    };
    let messages = decode_messages(field(required(root, "messages", ""))?)?;

    let tools = match optional(root, "tools") {
        Some(tools) => decode_tools(tools)?,
        None => Vec::new(),
    };
    let (tool_choice, parallel_tool_calls) = match optional(root, "tool_choice") {
        Some(choice) => decode_tool_choice(choice)?,
        None => (None, None),
    };

    let stop = match optional(root, "stop_sequences") {
        Some(stops) => field(as_array(stops, "stop_sequences"))?
            .iter()
            .enumerate()
            .map(|(index, stop)| {
                field(value_as_str(stop, &format!("stop_sequences[{index}]"))).map(str::to_string)
            })
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };

    let reasoning = match optional(root, "thinking") {
        Some(thinking) => decode_thinking(thinking)?,
        None => None,
    };

    let mut extra = Map::new();
    let mut user = None;
    if let Some(metadata) = optional(root, "metadata") {
        let metadata = field(as_object(metadata, "metadata"))?;
        user = field(optional_str(metadata, "user_id", "metadata"))?.map(str::to_string);
        // Metadata fields other than `user_id` have no canonical meaning: keep them as
        // the client's own parameter.
        let rest: Map<String, Value> = metadata
            .iter()
            .filter(|(key, _)| key.as_str() != "user_id")
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        if !rest.is_empty() {
            extra.insert("metadata".to_string(), Value::Object(rest));
        }
    }
    for (key, value) in root {
        if !KNOWN_FIELDS.contains(&key.as_str()) {
            extra.insert(key.clone(), value.clone());
        }
    }

    Ok(ChatRequest {
        model,
        system,
        messages,
        max_tokens,
        temperature: field(optional_f64(root, "temperature", ""))?,
        top_p: field(optional_f64(root, "top_p", ""))?,
        top_k: field(optional_u32(root, "top_k", ""))?,
        stop,
        stream: field(optional_bool(root, "stream", ""))?.unwrap_or(false),
        tools,
        tool_choice,
        parallel_tool_calls,
        response_format: None,
        reasoning,
        seed: None,
        frequency_penalty: None,
        presence_penalty: None,
        user,
        extra,
    })
}

fn decode_system(system: &Value) -> Result<Vec<TextBlock>, TranslateError> {
    if let Some(text) = system.as_str() {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        return Ok(vec![TextBlock::new(text)]);
    }
    let blocks = field(as_array(system, "system"))?;
    blocks
        .iter()
        .enumerate()
        .map(|(index, block)| {
            let path = format!("system[{index}]");
            let block = field(as_object(block, &path))?;
            let block_type = field(required_str(block, "type", &path))?;
            if block_type != "text" {
                return Err(TranslateError::invalid_param(
                    child(&path, "type"),
                    format!("`{path}` must be a `text` block, not `{block_type}`"),
                ));
            }
            Ok(TextBlock {
                text: field(required_str(block, "text", &path))?.to_string(),
                cache_control: optional(block, "cache_control").cloned().map(CacheControl),
            })
        })
        .collect()
}

fn decode_messages(messages: &Value) -> Result<Vec<Message>, TranslateError> {
    let messages = field(as_array(messages, "messages"))?;
    // Anthropic tool results carry only the call id; Gemini needs the function name, so
    // it is looked up from the assistant turn that made the call.
    let mut tool_names: HashMap<String, String> = HashMap::new();
    let mut decoded = Vec::with_capacity(messages.len());
    for (index, message) in messages.iter().enumerate() {
        let path = format!("messages[{index}]");
        let message = field(as_object(message, &path))?;
        let role = match field(required_str(message, "role", &path))? {
            "user" => Role::User,
            "assistant" => Role::Assistant,
            other => {
                return Err(TranslateError::invalid_param(
                    child(&path, "role"),
                    format!("`{path}.role` must be `user` or `assistant`, not `{other}`"),
                ));
            }
        };
        let content_path = child(&path, "content");
        let content = field(required(message, "content", &path))?;
        let content = match content {
            Value::String(text) => vec![Part::Text(TextBlock::new(text.clone()))],
            blocks => {
                let blocks = field(as_array(blocks, &content_path))?;
                let mut parts = Vec::with_capacity(blocks.len());
                for (block_index, block) in blocks.iter().enumerate() {
                    let block_path = format!("{content_path}[{block_index}]");
                    let part = decode_content_block(block, &block_path, &tool_names)?;
                    if let Part::ToolCall(call) = &part {
                        tool_names.insert(call.id.clone(), call.name.clone());
                    }
                    parts.push(part);
                }
                parts
            }
        };
        decoded.push(Message { role, content });
    }
    Ok(decoded)
}

fn decode_content_block(
    block: &Value,
    path: &str,
    tool_names: &HashMap<String, String>,
) -> Result<Part, TranslateError> {
    let block = field(as_object(block, path))?;
    let block_type = field(required_str(block, "type", path))?;
    match block_type {
        "image" => Ok(Part::Image(decode_image(block, path)?)),
        "tool_result" => {
            let call_id = field(required_str(block, "tool_use_id", path))?.to_string();
            let content = match optional(block, "content") {
                None => Vec::new(),
                Some(Value::String(text)) => vec![ToolResultContent::Text(text.clone())],
                Some(blocks) => {
                    let content_path = child(path, "content");
                    field(as_array(blocks, &content_path))?
                        .iter()
                        .enumerate()
                        .map(|(index, block)| {
                            decode_tool_result_block(block, &format!("{content_path}[{index}]"))
                        })
                        .collect::<Result<Vec<_>, _>>()?
                }
            };
            Ok(Part::ToolResult(ToolResult {
                name: tool_names.get(&call_id).cloned(),
                call_id,
                content,
                is_error: field(optional_bool(block, "is_error", path))?.unwrap_or(false),
            }))
        }
        _ => match field(decode_assistant_block(block, path))? {
            AssistantBlock::Part(part) => Ok(part),
            AssistantBlock::Unknown(block_type) => Err(unsupported_block(&block_type, path)),
        },
    }
}

fn decode_tool_result_block(
    block: &Value,
    path: &str,
) -> Result<ToolResultContent, TranslateError> {
    let block = field(as_object(block, path))?;
    match field(required_str(block, "type", path))? {
        "text" => Ok(ToolResultContent::Text(
            field(required_str(block, "text", path))?.to_string(),
        )),
        "image" => Ok(ToolResultContent::Image(decode_image(block, path)?)),
        other => Err(unsupported_block(other, path)),
    }
}

/// `document`, `search_result`, server-tool blocks and any type added later: the
/// canonical form cannot carry them to another dialect, and losing them would change
/// the answer.
fn unsupported_block(block_type: &str, path: &str) -> TranslateError {
    TranslateError::Unsupported {
        param: block_type.to_string(),
        provider: TRANSLATED_ROUTE,
        reason: format!(
            "`{block_type}` content blocks (at `{path}`) have no equivalent outside the Anthropic dialect; send this request to an Anthropic route"
        ),
    }
}

fn decode_image(block: &Map<String, Value>, path: &str) -> Result<Image, TranslateError> {
    let source_path = child(path, "source");
    let source = field(required(block, "source", path))?;
    let source = field(as_object(source, &source_path))?;
    match field(required_str(source, "type", &source_path))? {
        "base64" => Ok(Image::Base64 {
            media_type: field(required_str(source, "media_type", &source_path))?.to_string(),
            data: field(required_str(source, "data", &source_path))?.to_string(),
        }),
        "url" => Ok(Image::Url(
            field(required_str(source, "url", &source_path))?.to_string(),
        )),
        other => Err(TranslateError::Unsupported {
            param: child(&source_path, "type"),
            provider: TRANSLATED_ROUTE,
            reason: format!(
                "image sources of type `{other}` (at `{source_path}`) exist only in the Anthropic dialect"
            ),
        }),
    }
}

fn decode_tools(tools: &Value) -> Result<Vec<Tool>, TranslateError> {
    field(as_array(tools, "tools"))?
        .iter()
        .enumerate()
        .map(|(index, tool)| {
            let path = format!("tools[{index}]");
            let tool = field(as_object(tool, &path))?;
            if let Some(tool_type) = field(optional_str(tool, "type", &path))?
                && tool_type != "custom"
            {
                // Server and client tools Anthropic runs or defines itself (web search,
                // bash, computer use…) have no counterpart elsewhere.
                return Err(TranslateError::Unsupported {
                    param: tool_type.to_string(),
                    provider: TRANSLATED_ROUTE,
                    reason: format!(
                        "the Anthropic tool `{tool_type}` (at `{path}`) exists only in the Anthropic dialect"
                    ),
                });
            }
            Ok(Tool {
                name: field(required_str(tool, "name", &path))?.to_string(),
                description: field(optional_str(tool, "description", &path))?.map(str::to_string),
                parameters: field(required(tool, "input_schema", &path))?.clone(),
                cache_control: optional(tool, "cache_control").cloned().map(CacheControl),
            })
        })
        .collect()
}

fn decode_tool_choice(
    choice: &Value,
) -> Result<(Option<ToolChoice>, Option<bool>), TranslateError> {
    let path = "tool_choice";
    let choice = field(as_object(choice, path))?;
    let tool_choice = match field(required_str(choice, "type", path))? {
        "auto" => ToolChoice::Auto,
        "any" => ToolChoice::Required,
        "none" => ToolChoice::None,
        "tool" => ToolChoice::Tool(field(required_str(choice, "name", path))?.to_string()),
        other => {
            return Err(TranslateError::invalid_param(
                "tool_choice.type",
                format!(
                    "`tool_choice.type` must be `auto`, `any`, `tool` or `none`, not `{other}`"
                ),
            ));
        }
    };
    let parallel =
        field(optional_bool(choice, "disable_parallel_tool_use", path))?.map(|disable| !disable);
    Ok((Some(tool_choice), parallel))
}

fn decode_thinking(thinking: &Value) -> Result<Option<Reasoning>, TranslateError> {
    let thinking = field(as_object(thinking, "thinking"))?;
    match field(required_str(thinking, "type", "thinking"))? {
        "enabled" => Ok(Some(Reasoning {
            effort: None,
            budget_tokens: Some(
                field(optional_u32(thinking, "budget_tokens", "thinking"))?.ok_or_else(|| {
                    TranslateError::invalid_param(
                        "thinking.budget_tokens",
                        "Missing required parameter: `thinking.budget_tokens`",
                    )
                })?,
            ),
        })),
        "disabled" => Ok(None),
        other => Err(TranslateError::Unsupported {
            param: "thinking.type".to_string(),
            provider: TRANSLATED_ROUTE,
            reason: format!("thinking of type `{other}` has no canonical equivalent"),
        }),
    }
}

/// Writes the canonical request as an Anthropic Messages request for `model`.
pub fn encode_request(request: &ChatRequest, model: &str) -> Result<Encoded, TranslateError> {
    let mut dropped = Vec::new();
    let mut body = Map::new();
    body.insert("model".into(), json!(model));

    let thinking_budget = match &request.reasoning {
        Some(reasoning) => encode_reasoning(reasoning)?,
        None => None,
    };
    let max_tokens = request.max_tokens.unwrap_or_else(|| {
        // `budget_tokens` must stay below `max_tokens`: a default that ignored the
        // budget would make every such request fail.
        match thinking_budget {
            Some(budget) => DEFAULT_MAX_TOKENS.max(budget.saturating_add(DEFAULT_MAX_TOKENS)),
            None => DEFAULT_MAX_TOKENS,
        }
    });
    body.insert("max_tokens".into(), json!(max_tokens));

    if !request.system.is_empty() {
        body.insert("system".into(), encode_system(&request.system));
    }

    let mut messages = Vec::with_capacity(request.messages.len());
    for message in &request.messages {
        messages.push(encode_message(message, &mut dropped)?);
    }
    body.insert("messages".into(), Value::Array(messages));

    if !request.tools.is_empty() {
        let tools = request.tools.iter().map(encode_tool).collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    if let Some(choice) = encode_tool_choice(request) {
        body.insert("tool_choice".into(), choice);
    }
    if !request.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(request.stop));
    }
    if let Some(temperature) = request.temperature {
        body.insert("temperature".into(), json!(temperature));
    }
    if let Some(top_p) = request.top_p {
        body.insert("top_p".into(), json!(top_p));
    }
    if let Some(top_k) = request.top_k {
        body.insert("top_k".into(), json!(top_k));
    }
    if let Some(budget) = thinking_budget {
        body.insert(
            "thinking".into(),
            json!({"type": "enabled", "budget_tokens": budget}),
        );
    }
    if let Some(user) = &request.user {
        body.insert("metadata".into(), json!({"user_id": user}));
    }
    if request.stream {
        body.insert("stream".into(), json!(true));
    }

    match &request.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema { .. }) => {
            return Err(TranslateError::Unsupported {
                param: "response_format".into(),
                provider: PROVIDER,
                reason: "the Anthropic Messages API has no JSON mode; describe the format in the prompt or use a tool".into(),
            });
        }
    }
    // Sampling hints Anthropic does not have: the answer stays a valid answer without them.
    drop_hints(
        request,
        &[Hint::Seed, Hint::FrequencyPenalty, Hint::PresencePenalty],
        &mut dropped,
    );

    let body = serde_json::to_vec(&Value::Object(body))
        .map_err(|err| TranslateError::invalid(format!("the request cannot be encoded: {err}")))?;
    Ok(Encoded { body, dropped })
}

/// `Reasoning` → a thinking budget; `None` when the client asked for no reasoning.
fn encode_reasoning(reasoning: &Reasoning) -> Result<Option<u32>, TranslateError> {
    if let Some(budget) = reasoning.budget() {
        return Ok(Some(budget));
    }
    match reasoning.effort.as_deref() {
        None | Some("none") => Ok(None),
        Some(other) => Err(TranslateError::Unsupported {
            param: "reasoning_effort".into(),
            provider: PROVIDER,
            reason: format!(
                "the effort `{other}` has no thinking budget (use minimal, low, medium or high)"
            ),
        }),
    }
}

fn encode_text_block(block: &TextBlock) -> Value {
    let mut object = Map::new();
    object.insert("type".into(), json!("text"));
    object.insert("text".into(), json!(block.text));
    if let Some(CacheControl(cache_control)) = &block.cache_control {
        object.insert("cache_control".into(), cache_control.clone());
    }
    Value::Object(object)
}

fn encode_system(system: &[TextBlock]) -> Value {
    // One plain block is sent as a string, the form most clients use.
    if let [only] = system
        && only.cache_control.is_none()
    {
        return json!(only.text);
    }
    Value::Array(system.iter().map(encode_text_block).collect())
}

fn encode_image(image: &Image) -> Value {
    match image {
        Image::Url(url) => json!({"type": "image", "source": {"type": "url", "url": url}}),
        Image::Base64 { media_type, data } => json!({
            "type": "image",
            "source": {"type": "base64", "media_type": media_type, "data": data},
        }),
    }
}

fn encode_message(message: &Message, dropped: &mut Vec<String>) -> Result<Value, TranslateError> {
    let mut blocks = Vec::with_capacity(message.content.len());
    for part in &message.content {
        match part {
            // Anthropic rejects empty text blocks; they carry nothing (OpenAI assistant
            // turns with tool calls often have `content: ""`).
            Part::Text(block) if block.text.is_empty() && block.cache_control.is_none() => {}
            Part::Text(block) => blocks.push(encode_text_block(block)),
            Part::Image(image) => blocks.push(encode_image(image)),
            Part::ToolCall(call) => {
                let input = arguments_to_input(&call.arguments).ok_or_else(|| {
                    TranslateError::invalid_param(
                        "messages",
                        format!(
                            "the arguments of tool call `{}` ({}) are not a JSON object",
                            call.id, call.name
                        ),
                    )
                })?;
                blocks.push(json!({
                    "type": "tool_use", "id": call.id, "name": call.name, "input": input,
                }));
            }
            Part::ToolResult(result) => blocks.push(encode_tool_result(result)),
            Part::Thinking {
                text,
                signature: Some(signature),
            } => blocks.push(json!({
                "type": "thinking", "thinking": text, "signature": signature,
            })),
            // Anthropic verifies the signature of thinking sent back; thinking from
            // another provider has none and would be refused. It is context only.
            Part::Thinking {
                signature: None, ..
            } => {
                let name = "unsigned_thinking".to_string();
                if !dropped.contains(&name) {
                    dropped.push(name);
                }
            }
            Part::RedactedThinking { data } => {
                blocks.push(json!({"type": "redacted_thinking", "data": data}));
            }
        }
    }
    // A single plain text is sent as a string, the form most clients use.
    let content = match blocks.as_slice() {
        [Value::Object(only)] if only.len() == 2 && only.get("type") == Some(&json!("text")) => {
            only.get("text").cloned().unwrap_or_else(|| json!(""))
        }
        _ => Value::Array(blocks),
    };
    Ok(json!({"role": message.role.as_str(), "content": content}))
}

fn encode_tool_result(result: &ToolResult) -> Value {
    let mut object = Map::new();
    object.insert("type".into(), json!("tool_result"));
    object.insert("tool_use_id".into(), json!(result.call_id));
    match result.content.as_slice() {
        [] => {}
        [ToolResultContent::Text(text)] => {
            object.insert("content".into(), json!(text));
        }
        parts => {
            let blocks = parts
                .iter()
                .map(|part| match part {
                    ToolResultContent::Text(text) => json!({"type": "text", "text": text}),
                    ToolResultContent::Image(image) => encode_image(image),
                })
                .collect();
            object.insert("content".into(), Value::Array(blocks));
        }
    }
    if result.is_error {
        object.insert("is_error".into(), json!(true));
    }
    Value::Object(object)
}

fn encode_tool(tool: &Tool) -> Value {
    let mut object = Map::new();
    object.insert("name".into(), json!(tool.name));
    if let Some(description) = &tool.description {
        object.insert("description".into(), json!(description));
    }
    object.insert("input_schema".into(), tool.parameters.clone());
    if let Some(CacheControl(cache_control)) = &tool.cache_control {
        object.insert("cache_control".into(), cache_control.clone());
    }
    Value::Object(object)
}

/// `tool_choice`, carrying `parallel_tool_calls: Some(false)` as
/// `disable_parallel_tool_use` (on `auto` when no choice was given).
fn encode_tool_choice(request: &ChatRequest) -> Option<Value> {
    let disable_parallel = request.parallel_tool_calls.map(|parallel| !parallel);
    let choice = match (&request.tool_choice, disable_parallel) {
        (Some(choice), _) => choice.clone(),
        // Only a request with tools can have its calls limited.
        (None, Some(true)) if !request.tools.is_empty() => ToolChoice::Auto,
        (None, _) => return None,
    };
    let mut object = match &choice {
        ToolChoice::Auto => json!({"type": "auto"}),
        ToolChoice::Required => json!({"type": "any"}),
        ToolChoice::Tool(name) => json!({"type": "tool", "name": name}),
        // `none` has no `disable_parallel_tool_use`: no calls means no parallel calls.
        ToolChoice::None => return Some(json!({"type": "none"})),
    };
    if let (Some(disable), Some(object)) = (disable_parallel, object.as_object_mut()) {
        object.insert("disable_parallel_tool_use".into(), json!(disable));
    }
    Some(object)
}
