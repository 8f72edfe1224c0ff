//! `generateContent` request bodies both ways, and `countTokens`.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use sluice_core::chat::{
    ChatRequest, Message, Reasoning, ResponseFormat, Role, TextBlock, Tool, ToolChoice,
};

use super::PROVIDER;
use super::parts::{CallIds, decode_parts, encode_parts, note_dropped};
use crate::{Encoded, TranslateError};

/// Top-level fields read by [`decode_request`] (camelCase and the snake_case forms the
/// REST API also accepts); the rest goes to `extra`.
const KNOWN_FIELDS: &[&str] = &[
    "contents",
    "systemInstruction",
    "system_instruction",
    "tools",
    "toolConfig",
    "tool_config",
    "generationConfig",
    "generation_config",
    "model",
];

/// Reads a Gemini `generateContent` body (as a Gemini client sends it).
pub fn decode_request(body: &[u8]) -> Result<ChatRequest, TranslateError> {
    let value: Value = serde_json::from_slice(body)?;
    let Value::Object(object) = value else {
        return Err(TranslateError::invalid(
            "The request body must be a JSON object.",
        ));
    };
    let field = |camel: &str, snake: &str| object.get(camel).or_else(|| object.get(snake));
    let mut request = ChatRequest {
        model: object
            .get("model")
            .and_then(Value::as_str)
            .map(|model| model.trim_start_matches("models/").to_string())
            .unwrap_or_default(),
        ..ChatRequest::default()
    };

    let mut ids = CallIds::new("call_".into());
    for (index, content) in array_field(object.get("contents"), "contents")?
        .iter()
        .enumerate()
    {
        let role = match content.get("role").and_then(Value::as_str) {
            Some("model") => Role::Assistant,
            // `user`, the older `function` role of tool results, or none.
            _ => Role::User,
        };
        let parts = array_field(content.get("parts"), "contents.parts")?;
        let content = decode_parts(parts, &mut ids, true)
            .map_err(|message| invalid(format!("contents[{index}]"), message))?;
        request.messages.push(Message { role, content });
    }

    if let Some(system) = field("systemInstruction", "system_instruction") {
        for part in array_field(system.get("parts"), "systemInstruction.parts")? {
            let text = part.get("text").and_then(Value::as_str).ok_or_else(|| {
                invalid(
                    "systemInstruction",
                    "system instructions may hold only text parts",
                )
            })?;
            request.system.push(TextBlock::new(text));
        }
    }

    decode_tools(object.get("tools"), &mut request)?;
    if let Some(config) = field("toolConfig", "tool_config") {
        decode_tool_config(config, &mut request);
    }
    if let Some(config) = field("generationConfig", "generation_config") {
        decode_generation_config(config, &mut request)?;
    }
    for (name, value) in &object {
        if !KNOWN_FIELDS.contains(&name.as_str()) {
            request.extra.insert(name.clone(), value.clone());
        }
    }
    Ok(request)
}

fn invalid(param: impl Into<String>, message: impl Into<String>) -> TranslateError {
    TranslateError::invalid_param(param, message)
}

fn array_field<'a>(value: Option<&'a Value>, name: &str) -> Result<&'a [Value], TranslateError> {
    match value {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(invalid(name, format!("`{name}` must be an array"))),
    }
}

fn decode_tools(tools: Option<&Value>, request: &mut ChatRequest) -> Result<(), TranslateError> {
    let mut other_tools = Vec::new();
    for tool in array_field(tools, "tools")? {
        let declarations = tool
            .get("functionDeclarations")
            .or_else(|| tool.get("function_declarations"));
        let Some(declarations) = declarations else {
            // Built-in tools (googleSearch, codeExecution, …) have no canonical form.
            other_tools.push(tool.clone());
            continue;
        };
        for declaration in array_field(Some(declarations), "tools.functionDeclarations")? {
            let name = declaration
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid("tools", "a function declaration needs a `name`"))?;
            let parameters = declaration
                .get("parametersJsonSchema")
                .or_else(|| declaration.get("parameters"))
                .cloned()
                .unwrap_or(Value::Null);
            request.tools.push(Tool {
                name: name.to_string(),
                description: declaration
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                parameters,
                cache_control: None,
            });
        }
    }
    if !other_tools.is_empty() {
        request
            .extra
            .insert("tools".to_string(), Value::Array(other_tools));
    }
    Ok(())
}

fn decode_tool_config(config: &Value, request: &mut ChatRequest) {
    let calling = config
        .get("functionCallingConfig")
        .or_else(|| config.get("function_calling_config"));
    let mode = calling
        .and_then(|calling| calling.get("mode"))
        .and_then(Value::as_str);
    let allowed: Vec<&str> = calling
        .and_then(|calling| calling.get("allowedFunctionNames"))
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    request.tool_choice = match (mode, allowed.as_slice()) {
        (Some("AUTO"), _) => Some(ToolChoice::Auto),
        (Some("NONE"), _) => Some(ToolChoice::None),
        (Some("ANY"), [only]) => Some(ToolChoice::Tool((*only).to_string())),
        (Some("ANY"), []) => Some(ToolChoice::Required),
        _ => None,
    };
    // A restriction to several functions, or a mode without canonical meaning, is kept
    // whole for the raw path.
    let canonical =
        matches!(mode, Some("AUTO" | "NONE")) || (mode == Some("ANY") && allowed.len() <= 1);
    if !canonical {
        if mode == Some("ANY") {
            request.tool_choice = Some(ToolChoice::Required);
        }
        request
            .extra
            .insert("toolConfig".to_string(), config.clone());
    }
}

fn number(config: &Map<String, Value>, field: &str) -> Result<Option<f64>, TranslateError> {
    match config.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_f64()
            .map(Some)
            .ok_or_else(|| invalid(field, format!("`{field}` must be a number"))),
    }
}

fn unsigned(config: &Map<String, Value>, field: &str) -> Result<Option<u32>, TranslateError> {
    match config.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .and_then(|value| u32::try_from(value).ok())
            .map(Some)
            .ok_or_else(|| invalid(field, format!("`{field}` must be a non-negative integer"))),
    }
}

fn decode_generation_config(
    config: &Value,
    request: &mut ChatRequest,
) -> Result<(), TranslateError> {
    let Value::Object(config) = config else {
        return Err(invalid(
            "generationConfig",
            "`generationConfig` must be an object",
        ));
    };
    request.temperature = number(config, "temperature")?;
    request.top_p = number(config, "topP")?;
    request.top_k = unsigned(config, "topK")?;
    request.max_tokens = unsigned(config, "maxOutputTokens")?;
    request.presence_penalty = number(config, "presencePenalty")?;
    request.frequency_penalty = number(config, "frequencyPenalty")?;
    request.seed = match config.get("seed") {
        None | Some(Value::Null) => None,
        Some(seed) => Some(
            seed.as_i64()
                .ok_or_else(|| invalid("seed", "`seed` must be an integer"))?,
        ),
    };
    for stop in array_field(config.get("stopSequences"), "stopSequences")? {
        let stop = stop
            .as_str()
            .ok_or_else(|| invalid("stopSequences", "stop sequences must be strings"))?;
        request.stop.push(stop.to_string());
    }
    let schema = config
        .get("responseJsonSchema")
        .or_else(|| config.get("responseSchema"));
    request.response_format = match (
        config.get("responseMimeType").and_then(Value::as_str),
        schema,
    ) {
        (_, Some(schema)) => Some(ResponseFormat::JsonSchema {
            name: "response".to_string(),
            schema: schema.clone(),
            strict: None,
        }),
        (Some("application/json"), None) => Some(ResponseFormat::JsonObject),
        (Some("text/plain"), None) => Some(ResponseFormat::Text),
        _ => None,
    };
    if let Some(thinking) = config.get("thinkingConfig") {
        request.reasoning = Some(decode_thinking(thinking));
    }

    let mut unknown = Map::new();
    for (name, value) in config {
        let known = matches!(
            name.as_str(),
            "temperature"
                | "topP"
                | "topK"
                | "maxOutputTokens"
                | "presencePenalty"
                | "frequencyPenalty"
                | "seed"
                | "stopSequences"
                | "responseJsonSchema"
                | "responseSchema"
                | "thinkingConfig"
        );
        let canonical_mime = name == "responseMimeType"
            && matches!(value.as_str(), Some("application/json" | "text/plain"));
        // One candidate is what every canonical exchange means.
        let single_candidate = name == "candidateCount" && value.as_u64() == Some(1);
        if !known && !canonical_mime && !single_candidate {
            unknown.insert(name.clone(), value.clone());
        }
    }
    if !unknown.is_empty() {
        request
            .extra
            .insert("generationConfig".to_string(), Value::Object(unknown));
    }
    Ok(())
}

/// `thinkingBudget` -1 (dynamic) is the canonical "reasoning, no budget".
fn decode_thinking(thinking: &Value) -> Reasoning {
    Reasoning {
        budget_tokens: thinking
            .get("thinkingBudget")
            .and_then(Value::as_u64)
            .and_then(|budget| u32::try_from(budget).ok()),
        effort: thinking
            .get("thinkingLevel")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase),
    }
}

/// Writes a Gemini `generateContent` body. `_model` is unused: Gemini names the model in
/// the URL.
pub fn encode_request(request: &ChatRequest, _model: &str) -> Result<Encoded, TranslateError> {
    let mut dropped = Vec::new();
    let mut body = Map::new();

    let mut tool_names = HashMap::new();
    let mut contents = Vec::new();
    for message in &request.messages {
        let parts = encode_parts(&message.content, &mut tool_names, &mut dropped)?;
        // Gemini refuses a turn without parts; an empty turn says nothing anyway.
        if parts.is_empty() {
            continue;
        }
        let role = match message.role {
            Role::User => "user",
            Role::Assistant => "model",
        };
        contents.push(json!({"role": role, "parts": parts}));
    }
    body.insert("contents".into(), Value::Array(contents));

    if !request.system.is_empty() {
        let parts: Vec<Value> = request
            .system
            .iter()
            .map(|block| {
                if block.cache_control.is_some() {
                    note_dropped(&mut dropped, "cache_control");
                }
                json!({"text": block.text})
            })
            .collect();
        body.insert("systemInstruction".into(), json!({"parts": parts}));
    }

    if !request.tools.is_empty() {
        let declarations: Vec<Value> = request
            .tools
            .iter()
            .map(|tool| {
                if tool.cache_control.is_some() {
                    note_dropped(&mut dropped, "cache_control");
                }
                let mut declaration = json!({"name": tool.name});
                if let Some(description) = &tool.description {
                    declaration["description"] = json!(description);
                }
                // `parametersJsonSchema` takes plain JSON Schema (`parameters` only an
                // OpenAPI subset).
                if !tool.parameters.is_null() {
                    declaration["parametersJsonSchema"] = tool.parameters.clone();
                }
                declaration
            })
            .collect();
        body.insert(
            "tools".into(),
            json!([{"functionDeclarations": declarations}]),
        );
    }
    if let Some(choice) = &request.tool_choice
        && let Some(config) = encode_tool_choice(choice, !request.tools.is_empty())?
    {
        body.insert("toolConfig".into(), config);
    }

    let generation_config = encode_generation_config(request)?;
    if !generation_config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(generation_config));
    }

    if request.parallel_tool_calls.is_some() {
        note_dropped(&mut dropped, "parallel_tool_calls");
    }
    if request.user.is_some() {
        note_dropped(&mut dropped, "user");
    }
    for name in request.extra.keys() {
        note_dropped(&mut dropped, name);
    }

    let body = serde_json::to_vec(&Value::Object(body))
        .map_err(|err| TranslateError::invalid(format!("cannot encode the request: {err}")))?;
    Ok(Encoded { body, dropped })
}

fn encode_tool_choice(
    choice: &ToolChoice,
    has_tools: bool,
) -> Result<Option<Value>, TranslateError> {
    let config = match choice {
        ToolChoice::Auto => json!({"mode": "AUTO"}),
        ToolChoice::None => json!({"mode": "NONE"}),
        ToolChoice::Required => json!({"mode": "ANY"}),
        ToolChoice::Tool(name) => json!({"mode": "ANY", "allowedFunctionNames": [name]}),
    };
    if !has_tools {
        return match choice {
            // Without tools these say nothing.
            ToolChoice::Auto | ToolChoice::None => Ok(None),
            _ => Err(invalid("tool_choice", "`tool_choice` requires `tools`")),
        };
    }
    Ok(Some(json!({"functionCallingConfig": config})))
}

fn encode_generation_config(request: &ChatRequest) -> Result<Map<String, Value>, TranslateError> {
    let mut config = Map::new();
    let mut put = |name: &str, value: Value| {
        config.insert(name.to_string(), value);
    };
    if let Some(max_tokens) = request.max_tokens {
        put("maxOutputTokens", json!(max_tokens));
    }
    if let Some(temperature) = request.temperature {
        put("temperature", json!(temperature));
    }
    if let Some(top_p) = request.top_p {
        put("topP", json!(top_p));
    }
    if let Some(top_k) = request.top_k {
        put("topK", json!(top_k));
    }
    if !request.stop.is_empty() {
        put("stopSequences", json!(request.stop));
    }
    if let Some(seed) = request.seed {
        put("seed", json!(seed));
    }
    if let Some(presence_penalty) = request.presence_penalty {
        put("presencePenalty", json!(presence_penalty));
    }
    if let Some(frequency_penalty) = request.frequency_penalty {
        put("frequencyPenalty", json!(frequency_penalty));
    }
    match &request.response_format {
        None => {}
        Some(ResponseFormat::Text) => put("responseMimeType", json!("text/plain")),
        Some(ResponseFormat::JsonObject) => put("responseMimeType", json!("application/json")),
        Some(ResponseFormat::JsonSchema { schema, .. }) => {
            put("responseMimeType", json!("application/json"));
            // `responseJsonSchema` takes plain JSON Schema; `name` and `strict` have no
            // place (Gemini always keeps to the schema).
            put("responseJsonSchema", schema.clone());
        }
    }
    if let Some(reasoning) = &request.reasoning {
        let mut thinking = json!({"includeThoughts": true});
        match reasoning.budget() {
            Some(budget) => thinking["thinkingBudget"] = json!(budget),
            None => {
                if let Some(effort) = &reasoning.effort {
                    return Err(TranslateError::Unsupported {
                        param: "reasoning_effort".into(),
                        provider: PROVIDER,
                        reason: format!(
                            "`{effort}` is not an effort Sluice maps to a thinking budget \
                             (minimal, low, medium, high)"
                        ),
                    });
                }
            }
        }
        put("thinkingConfig", thinking);
    }
    Ok(config)
}

/// Body of the Gemini API's `:countTokens`. Plain `contents` when that is all there is;
/// with system instructions or tools the API wants them in a whole
/// `generateContentRequest`, which must name the model (`request.model`).
pub fn encode_count_tokens_request(request: &ChatRequest) -> Result<Vec<u8>, TranslateError> {
    let mut inner = generate_content_value(request)?;
    let body = if inner.get("systemInstruction").is_none() && inner.get("tools").is_none() {
        json!({"contents": inner.get("contents").cloned().unwrap_or_else(|| json!([]))})
    } else {
        if request.model.is_empty() {
            return Err(invalid(
                "model",
                "counting tokens with tools or system instructions needs the model",
            ));
        }
        let model = if request.model.starts_with("models/") {
            request.model.clone()
        } else {
            format!("models/{}", request.model)
        };
        inner.insert("model".into(), json!(model));
        json!({"generateContentRequest": Value::Object(inner)})
    };
    Ok(body.to_string().into_bytes())
}

/// Body of Vertex AI's `:countTokens`: `contents`, `systemInstruction` and `tools` at the
/// top level.
pub fn encode_vertex_count_tokens_request(
    request: &ChatRequest,
) -> Result<Vec<u8>, TranslateError> {
    let full = generate_content_value(request)?;
    let mut body = Map::new();
    for field in ["contents", "systemInstruction", "tools"] {
        if let Some(value) = full.get(field) {
            body.insert(field.into(), value.clone());
        }
    }
    Ok(Value::Object(body).to_string().into_bytes())
}

fn generate_content_value(request: &ChatRequest) -> Result<Map<String, Value>, TranslateError> {
    let encoded = encode_request(request, &request.model)?;
    match serde_json::from_slice(&encoded.body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(TranslateError::invalid("cannot encode the request")),
    }
}

/// `totalTokens` of a `:countTokens` answer (absent means zero, as proto3 JSON omits it).
pub fn decode_count_tokens_response(body: &[u8]) -> Result<u64, TranslateError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|err| TranslateError::upstream(format!("countTokens answer: {err}")))?;
    if !value.is_object() {
        return Err(TranslateError::upstream(
            "countTokens answer is not an object",
        ));
    }
    match value.get("totalTokens") {
        None => Ok(0),
        Some(total) => total
            .as_u64()
            .ok_or_else(|| TranslateError::upstream("countTokens `totalTokens` is not a count")),
    }
}
