//! The Converse request and response bodies, both directions.
//!
//! Wire reference: the Bedrock runtime API's `Converse` and `ConverseStream` actions. The
//! model id travels in the URL path (see [`super::model_path`]), never in the body.

use serde_json::{Map, Value, json};
use sluice_core::chat::{
    CacheControl, ChatRequest, ChatResponse, FinishReason, Image, Message, Part, Reasoning,
    ResponseFormat, Role, TextBlock, Tool, ToolCall, ToolChoice, ToolResult, ToolResultContent,
    Usage,
};

use crate::dialect::{Hint, drop_hints};
use crate::{Encoded, TranslateError};

pub(crate) const PROVIDER: &str = "Amazon Bedrock";

/// The stop reasons Converse documents; anything else is encoded as `end_turn`.
const STOP_REASONS: &[&str] = &[
    "end_turn",
    "tool_use",
    "max_tokens",
    "stop_sequence",
    "guardrail_intervened",
    "content_filtered",
    "malformed_model_output",
    "malformed_tool_use",
    "model_context_window_exceeded",
];

/// Request fields this module reads; the others go to `ChatRequest.extra`.
const KNOWN_REQUEST_FIELDS: &[&str] = &[
    "messages",
    "system",
    "inferenceConfig",
    "toolConfig",
    "additionalModelRequestFields",
];

type ErrorFn = fn(String) -> TranslateError;

fn invalid(message: String) -> TranslateError {
    TranslateError::invalid(message)
}

fn upstream(message: String) -> TranslateError {
    TranslateError::InvalidUpstream(message)
}

fn unsupported(param: &str, reason: impl Into<String>) -> TranslateError {
    TranslateError::Unsupported {
        param: param.to_string(),
        provider: PROVIDER,
        reason: reason.into(),
    }
}

// ---------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------

/// Reads a Converse request body. The model is in the URL path, so `model` stays empty;
/// whether it streams depends on the action (`converse-stream`), so `stream` stays false:
/// the caller sets both.
pub fn decode_request(body: &[u8]) -> Result<ChatRequest, TranslateError> {
    let root: Value = serde_json::from_slice(body)?;
    let Value::Object(object) = root else {
        return Err(TranslateError::invalid(
            "The request body must be a JSON object.",
        ));
    };
    let mut request = ChatRequest::default();

    let messages = object
        .get("messages")
        .and_then(Value::as_array)
        .ok_or_else(|| TranslateError::invalid_param("messages", "`messages` must be an array."))?;
    for message in messages {
        let role = match message.get("role").and_then(Value::as_str) {
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            _ => {
                return Err(TranslateError::invalid_param(
                    "messages.role",
                    "A message role must be `user` or `assistant`.",
                ));
            }
        };
        let blocks = message
            .get("content")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                TranslateError::invalid_param("messages.content", "`content` must be an array.")
            })?;
        request.messages.push(Message {
            role,
            content: decode_blocks(blocks, invalid)?,
        });
    }

    if let Some(system) = object.get("system") {
        let blocks = system
            .as_array()
            .ok_or_else(|| TranslateError::invalid_param("system", "`system` must be an array."))?;
        for block in blocks {
            if let Some(text) = block.get("text").and_then(Value::as_str) {
                request.system.push(TextBlock::new(text));
            } else if let Some(point) = block.get("cachePoint") {
                if let Some(last) = request.system.last_mut() {
                    last.cache_control = Some(cache_control_of(point));
                }
            } else {
                return Err(TranslateError::invalid_param(
                    "system",
                    "Only `text` and `cachePoint` system blocks can be translated.",
                ));
            }
        }
    }

    if let Some(config) = object.get("inferenceConfig") {
        request.max_tokens = get_u32(config, "maxTokens", "inferenceConfig.maxTokens")?;
        request.temperature = get_f64(config, "temperature", "inferenceConfig.temperature")?;
        request.top_p = get_f64(config, "topP", "inferenceConfig.topP")?;
        if let Some(stops) = config.get("stopSequences") {
            request.stop = serde_json::from_value(stops.clone()).map_err(|_| {
                TranslateError::invalid_param(
                    "inferenceConfig.stopSequences",
                    "`stopSequences` must be an array of strings.",
                )
            })?;
        }
    }

    if let Some(config) = object.get("toolConfig") {
        decode_tool_config(config, &mut request)?;
    }

    if let Some(additional) = object.get("additionalModelRequestFields") {
        let mut rest = additional.as_object().cloned().ok_or_else(|| {
            TranslateError::invalid_param(
                "additionalModelRequestFields",
                "`additionalModelRequestFields` must be an object.",
            )
        })?;
        if let Some(top_k) = rest.remove("top_k") {
            request.top_k = Some(value_to_u32(&top_k).ok_or_else(|| {
                TranslateError::invalid_param(
                    "additionalModelRequestFields.top_k",
                    "`top_k` must be a non-negative integer.",
                )
            })?);
        }
        if let Some(thinking) = rest.remove("thinking") {
            match thinking.get("type").and_then(Value::as_str) {
                Some("enabled") => {
                    request.reasoning = Some(Reasoning {
                        effort: None,
                        budget_tokens: get_u32(
                            &thinking,
                            "budget_tokens",
                            "additionalModelRequestFields.thinking.budget_tokens",
                        )?,
                    });
                }
                Some("disabled") => {}
                _ => {
                    // Not a shape this module knows: keep it for the raw path.
                    rest.insert("thinking".to_string(), thinking);
                }
            }
        }
        if !rest.is_empty() {
            request.extra.insert(
                "additionalModelRequestFields".to_string(),
                Value::Object(rest),
            );
        }
    }

    for (key, value) in object {
        if !KNOWN_REQUEST_FIELDS.contains(&key.as_str()) {
            request.extra.insert(key, value);
        }
    }
    Ok(request)
}

fn decode_tool_config(config: &Value, request: &mut ChatRequest) -> Result<(), TranslateError> {
    let tools = config
        .get("tools")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            TranslateError::invalid_param(
                "toolConfig.tools",
                "`toolConfig.tools` must be an array.",
            )
        })?;
    for tool in tools {
        if let Some(spec) = tool.get("toolSpec") {
            let name = spec.get("name").and_then(Value::as_str).ok_or_else(|| {
                TranslateError::invalid_param(
                    "toolConfig.tools.toolSpec.name",
                    "A tool needs a name.",
                )
            })?;
            request.tools.push(Tool {
                name: name.to_string(),
                description: spec
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                parameters: spec
                    .pointer("/inputSchema/json")
                    .cloned()
                    .unwrap_or_else(|| json!({"type": "object"})),
                cache_control: None,
            });
        } else if let Some(point) = tool.get("cachePoint") {
            if let Some(last) = request.tools.last_mut() {
                last.cache_control = Some(cache_control_of(point));
            }
        } else {
            return Err(TranslateError::invalid_param(
                "toolConfig.tools",
                "Only `toolSpec` and `cachePoint` tool entries can be translated.",
            ));
        }
    }
    if let Some(choice) = config.get("toolChoice") {
        request.tool_choice = Some(if choice.get("auto").is_some() {
            ToolChoice::Auto
        } else if choice.get("any").is_some() {
            ToolChoice::Required
        } else if let Some(name) = choice.pointer("/tool/name").and_then(Value::as_str) {
            ToolChoice::Tool(name.to_string())
        } else {
            return Err(TranslateError::invalid_param(
                "toolConfig.toolChoice",
                "`toolChoice` must be `auto`, `any` or `tool`.",
            ));
        });
    }
    Ok(())
}

/// Writes a Converse request body. Bedrock takes the model id in the URL path
/// ([`super::model_path`]); here it only decides the model-specific fields.
///
/// Mapping rules: for Anthropic models, `top_k` and `reasoning` go to
/// `additionalModelRequestFields` (`top_k`, `thinking`, the Anthropic-on-Bedrock names);
/// other model families (Nova, Llama, Mistral, …) reject those names, so there they are
/// dropped and listed;
/// `seed`, the penalties, `user`, `parallel_tool_calls` and `extra` are dropped and
/// listed; JSON response formats, image URLs and `tool_choice: none` in a conversation
/// that already holds tool blocks are refused.
pub fn encode_request(request: &ChatRequest, model: &str) -> Result<Encoded, TranslateError> {
    let mut body = Map::new();
    let mut dropped = Vec::new();

    // Bedrock refuses two turns of the same role in a row; their content in one turn
    // means the same.
    let mut turns: Vec<(Role, Vec<Value>)> = Vec::with_capacity(request.messages.len());
    for message in &request.messages {
        let mut content = Vec::with_capacity(message.content.len());
        for part in &message.content {
            encode_part(part, &mut content)?;
        }
        match turns.last_mut() {
            Some((role, previous)) if *role == message.role => previous.extend(content),
            _ => turns.push((message.role, content)),
        }
    }
    let messages = turns
        .into_iter()
        .map(|(role, content)| json!({"role": role.as_str(), "content": content}))
        .collect();
    body.insert("messages".to_string(), Value::Array(messages));

    if !request.system.is_empty() {
        let mut system = Vec::new();
        for block in &request.system {
            system.push(json!({"text": block.text}));
            if let Some(control) = &block.cache_control {
                system.push(cache_point(control));
            }
        }
        body.insert("system".to_string(), Value::Array(system));
    }

    let mut inference = Map::new();
    if let Some(max_tokens) = request.max_tokens {
        inference.insert("maxTokens".to_string(), json!(max_tokens));
    }
    if let Some(temperature) = request.temperature {
        inference.insert("temperature".to_string(), json!(temperature));
    }
    if let Some(top_p) = request.top_p {
        inference.insert("topP".to_string(), json!(top_p));
    }
    if !request.stop.is_empty() {
        inference.insert("stopSequences".to_string(), json!(request.stop));
    }
    if !inference.is_empty() {
        body.insert("inferenceConfig".to_string(), Value::Object(inference));
    }

    if let Some(config) = encode_tool_config(request)? {
        body.insert("toolConfig".to_string(), config);
    }

    let mut additional = Map::new();
    // `anthropic.claude-…`, a cross-region profile `us.anthropic.claude-…`, or its ARN.
    let anthropic_model = model.contains("anthropic.");
    if let Some(top_k) = request.top_k {
        if anthropic_model {
            additional.insert("top_k".to_string(), json!(top_k));
        } else {
            dropped.push("top_k".to_string());
        }
    }
    // Effort `none` (and an empty setting) asks for no thinking, Bedrock's default.
    let thinking = request.reasoning.as_ref().filter(|reasoning| {
        reasoning.effort.as_deref() != Some("none")
            && (reasoning.effort.is_some() || reasoning.budget_tokens.is_some())
    });
    if thinking.is_some() && !anthropic_model {
        dropped.push("reasoning".to_string());
    }
    if let Some(reasoning) = thinking.filter(|_| anthropic_model) {
        let budget = reasoning.budget().ok_or_else(|| {
            unsupported(
                "reasoning_effort",
                format!(
                    "the effort `{}` has no token budget; use minimal, low, medium or high",
                    reasoning.effort.as_deref().unwrap_or_default()
                ),
            )
        })?;
        additional.insert(
            "thinking".to_string(),
            json!({"type": "enabled", "budget_tokens": budget}),
        );
    }
    if !additional.is_empty() {
        body.insert(
            "additionalModelRequestFields".to_string(),
            Value::Object(additional),
        );
    }

    match &request.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema { .. }) => {
            return Err(unsupported(
                "response_format",
                "Converse has no JSON mode; describe the format in the prompt or use a tool",
            ));
        }
    }

    // Hints Bedrock has no field for: dropped by rule, reported to the client.
    drop_hints(
        request,
        &[
            Hint::Seed,
            Hint::FrequencyPenalty,
            Hint::PresencePenalty,
            Hint::User,
            Hint::ParallelToolCalls,
        ],
        &mut dropped,
    );

    let body = serde_json::to_vec(&Value::Object(body)).map_err(|err| {
        TranslateError::invalid(format!("The request could not be encoded: {err}"))
    })?;
    Ok(Encoded { body, dropped })
}

fn encode_tool_config(request: &ChatRequest) -> Result<Option<Value>, TranslateError> {
    let tool_choice = match &request.tool_choice {
        None => None,
        Some(ToolChoice::Auto) => Some(json!({"auto": {}})),
        Some(ToolChoice::Required) => Some(json!({"any": {}})),
        Some(ToolChoice::Tool(name)) => Some(json!({"tool": {"name": name}})),
        Some(ToolChoice::None) => {
            // Bedrock has no "none". Without `toolConfig` the model cannot call a tool,
            // but Bedrock refuses a conversation holding tool blocks without it.
            let has_tool_blocks = request.messages.iter().any(|message| {
                message
                    .content
                    .iter()
                    .any(|part| matches!(part, Part::ToolCall(_) | Part::ToolResult(_)))
            });
            if has_tool_blocks {
                return Err(unsupported(
                    "tool_choice",
                    "Bedrock cannot forbid tool calls in a conversation that already holds tool calls or results",
                ));
            }
            return Ok(None);
        }
    };
    if request.tools.is_empty() {
        // `auto` without tools means nothing; forcing a call without tools is an error.
        if matches!(
            request.tool_choice,
            Some(ToolChoice::Required | ToolChoice::Tool(_))
        ) {
            return Err(TranslateError::invalid_param(
                "tool_choice",
                "`tool_choice` requires at least one tool.",
            ));
        }
        return Ok(None);
    }
    let mut tools = Vec::with_capacity(request.tools.len());
    for tool in &request.tools {
        let mut spec = Map::new();
        spec.insert("name".to_string(), json!(tool.name));
        if let Some(description) = &tool.description {
            spec.insert("description".to_string(), json!(description));
        }
        spec.insert("inputSchema".to_string(), json!({"json": tool.parameters}));
        tools.push(json!({"toolSpec": spec}));
        if let Some(control) = &tool.cache_control {
            tools.push(cache_point(control));
        }
    }
    let mut config = Map::new();
    config.insert("tools".to_string(), Value::Array(tools));
    if let Some(choice) = tool_choice {
        config.insert("toolChoice".to_string(), choice);
    }
    Ok(Some(Value::Object(config)))
}

// ---------------------------------------------------------------------------------------
// Content blocks
// ---------------------------------------------------------------------------------------

/// `cachePoint` marks the end of a cacheable prefix, which canonical form carries as the
/// `cache_control` of the block before it. Both know the TTLs `5m` and `1h`; another TTL
/// is left to Bedrock's default (caching is a cost hint, never a change of answer).
fn cache_point(control: &CacheControl) -> Value {
    match control.0.get("ttl").and_then(Value::as_str) {
        Some(ttl @ ("5m" | "1h")) => json!({"cachePoint": {"type": "default", "ttl": ttl}}),
        _ => json!({"cachePoint": {"type": "default"}}),
    }
}

/// The `cache_control` a `cachePoint` (the value of that key) stands for.
fn cache_control_of(point: &Value) -> CacheControl {
    match point.get("ttl").and_then(Value::as_str) {
        Some(ttl) => CacheControl(json!({"type": "ephemeral", "ttl": ttl})),
        None => CacheControl(json!({"type": "ephemeral"})),
    }
}

fn encode_part(part: &Part, out: &mut Vec<Value>) -> Result<(), TranslateError> {
    match part {
        Part::Text(block) => {
            // Bedrock refuses blank text blocks, and an empty one says nothing.
            if !block.text.is_empty() {
                out.push(json!({"text": block.text}));
            }
            // A cache point needs a block before it to end the prefix at.
            if let Some(control) = &block.cache_control
                && !out.is_empty()
            {
                out.push(cache_point(control));
            }
        }
        Part::Image(image) => out.push(json!({"image": encode_image(image)?})),
        Part::ToolCall(call) => out.push(json!({"toolUse": {
            "toolUseId": call.id,
            "name": call.name,
            "input": parse_arguments(&call.arguments)?,
        }})),
        Part::ToolResult(result) => {
            let mut content = Vec::with_capacity(result.content.len());
            for item in &result.content {
                content.push(match item {
                    ToolResultContent::Text(text) => json!({"text": text}),
                    ToolResultContent::Image(image) => json!({"image": encode_image(image)?}),
                });
            }
            let mut block = Map::new();
            block.insert("toolUseId".to_string(), json!(result.call_id));
            block.insert("content".to_string(), Value::Array(content));
            // `status` is only accepted by some models (Claude); "success" is the default
            // meaning, so it is sent only when it says something.
            if result.is_error {
                block.insert("status".to_string(), json!("error"));
            }
            out.push(json!({"toolResult": block}));
        }
        Part::Thinking { text, signature } => {
            let mut reasoning = Map::new();
            reasoning.insert("text".to_string(), json!(text));
            if let Some(signature) = signature {
                reasoning.insert("signature".to_string(), json!(signature));
            }
            out.push(json!({"reasoningContent": {"reasoningText": reasoning}}));
        }
        Part::RedactedThinking { data } => {
            out.push(json!({"reasoningContent": {"redactedContent": data}}));
        }
    }
    Ok(())
}

fn encode_image(image: &Image) -> Result<Value, TranslateError> {
    match image {
        Image::Url(_) => Err(unsupported(
            "image_url",
            "Bedrock takes images as inline bytes or from S3, not from a URL; send a base64 data URL",
        )),
        Image::Base64 { media_type, data } => {
            let format = match media_type.to_ascii_lowercase().as_str() {
                "image/png" => "png",
                "image/jpeg" | "image/jpg" => "jpeg",
                "image/gif" => "gif",
                "image/webp" => "webp",
                other => {
                    return Err(unsupported(
                        "image_url",
                        format!("the image type `{other}` is not one of png, jpeg, gif, webp"),
                    ));
                }
            };
            Ok(json!({"format": format, "source": {"bytes": data}}))
        }
    }
}

/// Tool arguments are JSON text canonically, an object on the wire.
fn parse_arguments(arguments: &str) -> Result<Value, TranslateError> {
    if arguments.trim().is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_str(arguments).map_err(|err| {
        TranslateError::invalid_param(
            "tool_calls.function.arguments",
            format!("Tool call arguments are not valid JSON: {err}"),
        )
    })
}

fn decode_image(image: &Value, error: ErrorFn) -> Result<Image, TranslateError> {
    let format = image
        .get("format")
        .and_then(Value::as_str)
        .ok_or_else(|| error("An image block has no `format`.".to_string()))?;
    let Some(data) = image.pointer("/source/bytes").and_then(Value::as_str) else {
        return Err(error(
            "Only images with inline `source.bytes` can be translated (not S3 locations)."
                .to_string(),
        ));
    };
    Ok(Image::Base64 {
        media_type: format!("image/{format}"),
        data: data.to_string(),
    })
}

/// Reads content blocks; `error` makes a request error or an upstream error.
pub(crate) fn decode_blocks(blocks: &[Value], error: ErrorFn) -> Result<Vec<Part>, TranslateError> {
    let mut parts: Vec<Part> = Vec::with_capacity(blocks.len());
    for block in blocks {
        if let Some(text) = block.get("text").and_then(Value::as_str) {
            parts.push(Part::Text(TextBlock::new(text)));
        } else if let Some(point) = block.get("cachePoint") {
            // A point after a non-text block has no canonical place: it only makes the
            // cache prefix shorter, so losing it costs money, never correctness.
            if let Some(Part::Text(last)) = parts.last_mut() {
                last.cache_control = Some(cache_control_of(point));
            }
        } else if let Some(image) = block.get("image") {
            parts.push(Part::Image(decode_image(image, error)?));
        } else if let Some(tool_use) = block.get("toolUse") {
            let id = tool_use.get("toolUseId").and_then(Value::as_str);
            let name = tool_use.get("name").and_then(Value::as_str);
            let (Some(id), Some(name)) = (id, name) else {
                return Err(error(
                    "A toolUse block needs `toolUseId` and `name`.".to_string(),
                ));
            };
            let input = tool_use.get("input").cloned().unwrap_or_else(|| json!({}));
            parts.push(Part::ToolCall(ToolCall {
                id: id.to_string(),
                name: name.to_string(),
                arguments: input.to_string(),
            }));
        } else if let Some(result) = block.get("toolResult") {
            parts.push(Part::ToolResult(decode_tool_result(result, error)?));
        } else if let Some(reasoning) = block.get("reasoningContent") {
            if let Some(text_block) = reasoning.get("reasoningText") {
                parts.push(Part::Thinking {
                    text: text_block
                        .get("text")
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_string(),
                    signature: text_block
                        .get("signature")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                });
            } else if let Some(data) = reasoning.get("redactedContent").and_then(Value::as_str) {
                parts.push(Part::RedactedThinking {
                    data: data.to_string(),
                });
            } else {
                return Err(error(
                    "A reasoningContent block needs `reasoningText` or `redactedContent`."
                        .to_string(),
                ));
            }
        } else {
            let kind = block
                .as_object()
                .and_then(|object| object.keys().next().cloned())
                .unwrap_or_else(|| "(empty)".to_string());
            return Err(error(format!(
                "The content block `{kind}` cannot be translated to another dialect."
            )));
        }
    }
    Ok(parts)
}

fn decode_tool_result(result: &Value, error: ErrorFn) -> Result<ToolResult, TranslateError> {
    let call_id = result
        .get("toolUseId")
        .and_then(Value::as_str)
        .ok_or_else(|| error("A toolResult block needs `toolUseId`.".to_string()))?;
    let mut content = Vec::new();
    for item in result
        .get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default()
    {
        if let Some(text) = item.get("text").and_then(Value::as_str) {
            content.push(ToolResultContent::Text(text.to_string()));
        } else if let Some(json_value) = item.get("json") {
            // Canonical results carry text; JSON travels as its serialisation.
            content.push(ToolResultContent::Text(json_value.to_string()));
        } else if let Some(image) = item.get("image") {
            content.push(ToolResultContent::Image(decode_image(image, error)?));
        } else {
            return Err(error(
                "Only text, json and image tool results can be translated.".to_string(),
            ));
        }
    }
    Ok(ToolResult {
        call_id: call_id.to_string(),
        name: None,
        content,
        is_error: result.get("status").and_then(Value::as_str) == Some("error"),
    })
}

// ---------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------

/// Reads a Converse response. Bedrock gives it no id (one is made up) and does not name
/// the model (left empty for the caller, who knows it from the path).
pub fn decode_response(body: &[u8]) -> Result<ChatResponse, TranslateError> {
    let root: Value = serde_json::from_slice(body)
        .map_err(|err| TranslateError::upstream(format!("invalid JSON: {err}")))?;
    let blocks = root
        .pointer("/output/message/content")
        .and_then(Value::as_array)
        .ok_or_else(|| TranslateError::upstream("the response has no `output.message.content`"))?;
    let content = decode_blocks(blocks, upstream)?;
    Ok(ChatResponse {
        id: new_message_id(),
        model: String::new(),
        created: None,
        content,
        finish_reason: root
            .get("stopReason")
            .and_then(Value::as_str)
            .map(finish_reason_from_wire),
        stop_sequence: root
            .pointer("/additionalModelResponseFields/stop_sequence")
            .and_then(Value::as_str)
            .map(str::to_string),
        usage: root.get("usage").map(usage_from_wire).unwrap_or_default(),
    })
}

/// Writes a Converse response. Parts Converse cannot hold in a response (an image by URL)
/// are left out; no decoder produces them.
pub fn encode_response(response: &ChatResponse) -> Vec<u8> {
    let mut content = Vec::with_capacity(response.content.len());
    for part in &response.content {
        if let Err(err) = encode_part(part, &mut content) {
            tracing::warn!(error = %err, "a response part has no Converse form");
        }
    }
    let mut root = Map::new();
    root.insert(
        "output".to_string(),
        json!({"message": {"role": "assistant", "content": content}}),
    );
    root.insert(
        "stopReason".to_string(),
        json!(finish_reason_to_wire(response.finish_reason.as_ref())),
    );
    root.insert("usage".to_string(), usage_to_wire(&response.usage));
    root.insert("metrics".to_string(), json!({"latencyMs": 0}));
    if let Some(stop_sequence) = &response.stop_sequence {
        // Where Claude on Bedrock reports it when asked through
        // `additionalModelResponseFieldPaths`.
        root.insert(
            "additionalModelResponseFields".to_string(),
            json!({"stop_sequence": stop_sequence}),
        );
    }
    serde_json::to_vec(&Value::Object(root)).unwrap_or_default()
}

pub(crate) fn new_message_id() -> String {
    format!(
        "bedrock-{:016x}{:08x}",
        fastrand::u64(..),
        fastrand::u32(..)
    )
}

pub(crate) fn finish_reason_from_wire(reason: &str) -> FinishReason {
    match reason {
        "end_turn" => FinishReason::EndTurn,
        "tool_use" => FinishReason::ToolCalls,
        "max_tokens" => FinishReason::MaxTokens,
        "stop_sequence" => FinishReason::StopSequence,
        "guardrail_intervened" | "content_filtered" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_string()),
    }
}

pub(crate) fn finish_reason_to_wire(reason: Option<&FinishReason>) -> &str {
    match reason {
        None | Some(FinishReason::EndTurn) => "end_turn",
        Some(FinishReason::ToolCalls) => "tool_use",
        Some(FinishReason::MaxTokens) => "max_tokens",
        Some(FinishReason::StopSequence) => "stop_sequence",
        Some(FinishReason::ContentFilter) => "content_filtered",
        // Anthropic's refusal is what Bedrock reports as a filtered answer.
        Some(FinishReason::Other(other)) if other == "refusal" => "content_filtered",
        Some(FinishReason::Other(other)) => STOP_REASONS
            .iter()
            .find(|known| **known == other.as_str())
            .copied()
            .unwrap_or("end_turn"),
    }
}

/// Bedrock's `inputTokens` leaves out cache reads and writes (as Anthropic's does); the
/// canonical count includes them.
pub(crate) fn usage_from_wire(usage: &Value) -> Usage {
    let count = |key: &str| usage.get(key).and_then(Value::as_u64).unwrap_or(0);
    let cached = count("cacheReadInputTokens");
    let written = count("cacheWriteInputTokens");
    Usage {
        input_tokens: count("inputTokens") + cached + written,
        output_tokens: count("outputTokens"),
        cached_input_tokens: cached,
        cache_write_tokens: written,
        reasoning_tokens: 0,
    }
}

pub(crate) fn usage_to_wire(usage: &Usage) -> Value {
    let uncached = usage
        .input_tokens
        .saturating_sub(usage.cached_input_tokens)
        .saturating_sub(usage.cache_write_tokens);
    let mut wire = Map::new();
    wire.insert("inputTokens".to_string(), json!(uncached));
    wire.insert("outputTokens".to_string(), json!(usage.output_tokens));
    wire.insert("totalTokens".to_string(), json!(usage.total_tokens()));
    if usage.cached_input_tokens > 0 {
        wire.insert(
            "cacheReadInputTokens".to_string(),
            json!(usage.cached_input_tokens),
        );
    }
    if usage.cache_write_tokens > 0 {
        wire.insert(
            "cacheWriteInputTokens".to_string(),
            json!(usage.cache_write_tokens),
        );
    }
    Value::Object(wire)
}

// ---------------------------------------------------------------------------------------
// Field helpers
// ---------------------------------------------------------------------------------------

fn value_to_u32(value: &Value) -> Option<u32> {
    value.as_u64().and_then(|number| u32::try_from(number).ok())
}

fn get_u32(object: &Value, key: &str, param: &str) -> Result<Option<u32>, TranslateError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value_to_u32(value).map(Some).ok_or_else(|| {
            TranslateError::invalid_param(param, format!("`{key}` must be a non-negative integer."))
        }),
    }
}

fn get_f64(object: &Value, key: &str, param: &str) -> Result<Option<f64>, TranslateError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value.as_f64().map(Some).ok_or_else(|| {
            TranslateError::invalid_param(param, format!("`{key}` must be a number."))
        }),
    }
}
