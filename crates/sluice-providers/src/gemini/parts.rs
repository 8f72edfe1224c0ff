//! `Part` objects both ways, shared by requests, answers and streams; plus the usage and
//! finish-reason conversions.

use std::collections::HashMap;

use serde_json::{Map, Value, json};
use sluice_core::chat::{
    FinishReason, Image, Part, TextBlock, ToolCall, ToolResult, ToolResultContent, Usage,
};

use super::PROVIDER;
use crate::TranslateError;

/// Makes up tool-call ids where Gemini sends none, and pairs id-less function responses
/// with the calls they answer.
#[derive(Debug, Default)]
pub(crate) struct CallIds {
    prefix: String,
    next: usize,
    /// Calls not yet answered, oldest first: (name, id).
    pending: Vec<(String, String)>,
}

impl CallIds {
    pub(crate) fn new(prefix: String) -> Self {
        Self {
            prefix,
            ..Self::default()
        }
    }

    /// Ids of answers: `call_<responseId>_<n>`, unique across turns of a conversation.
    pub(crate) fn for_response(response_id: &str) -> Self {
        if response_id.is_empty() {
            Self::new("call_".into())
        } else {
            Self::new(format!("call_{response_id}_"))
        }
    }

    fn fresh(&mut self) -> String {
        let id = format!("{}{}", self.prefix, self.next);
        self.next += 1;
        id
    }

    pub(crate) fn call(&mut self, explicit: Option<&str>, name: &str) -> String {
        let id = match explicit {
            Some(id) if !id.is_empty() => id.to_string(),
            _ => self.fresh(),
        };
        self.pending.push((name.to_string(), id.clone()));
        id
    }

    fn result(&mut self, explicit: Option<&str>, name: &str) -> String {
        if let Some(id) = explicit.filter(|id| !id.is_empty()) {
            self.pending.retain(|(_, pending)| pending != id);
            return id.to_string();
        }
        match self
            .pending
            .iter()
            .rposition(|(pending, _)| pending == name)
        {
            Some(position) => self.pending.remove(position).1,
            None => self.fresh(),
        }
    }
}

fn str_field<'a>(value: &'a Value, field: &str) -> Option<&'a str> {
    value.get(field).and_then(Value::as_str)
}

/// Decodes `parts`. `strict` refuses part kinds the canonical shape cannot hold (requests);
/// answers skip them (code-execution parts of built-in tools, say).
pub(crate) fn decode_parts(
    parts: &[Value],
    ids: &mut CallIds,
    strict: bool,
) -> Result<Vec<Part>, String> {
    let mut decoded = Vec::new();
    for part in parts {
        let signature = str_field(part, "thoughtSignature").map(str::to_string);
        if part.get("thought").and_then(Value::as_bool) == Some(true) {
            decoded.push(Part::Thinking {
                text: str_field(part, "text").unwrap_or_default().to_string(),
                signature,
            });
            continue;
        }
        if let Some(signature) = signature {
            decoded.push(Part::Thinking {
                text: String::new(),
                signature: Some(signature),
            });
        }
        if let Some(text) = str_field(part, "text") {
            // An empty text part only carries a signature (Gemini ends streams so).
            if !text.is_empty() || part.get("thoughtSignature").is_none() {
                decoded.push(Part::Text(TextBlock::new(text)));
            }
        } else if let Some(blob) = part.get("inlineData") {
            decoded.push(Part::Image(decode_blob(blob)?));
        } else if let Some(file) = part.get("fileData") {
            let uri = str_field(file, "fileUri").ok_or("`fileData` without `fileUri`")?;
            decoded.push(Part::Image(Image::Url(uri.to_string())));
        } else if let Some(call) = part.get("functionCall") {
            let name = str_field(call, "name").ok_or("`functionCall` without `name`")?;
            let arguments = match call.get("args") {
                None | Some(Value::Null) => "{}".to_string(),
                Some(args) => args.to_string(),
            };
            let id = ids.call(str_field(call, "id"), name);
            decoded.push(Part::ToolCall(ToolCall {
                id,
                name: name.to_string(),
                arguments,
            }));
        } else if let Some(response) = part.get("functionResponse") {
            decoded.push(Part::ToolResult(decode_function_response(response, ids)?));
        } else if strict {
            // A part of signature alone is fine (its `Thinking` is already pushed).
            let kind = part.as_object().and_then(|object| {
                object
                    .keys()
                    .find(|key| !matches!(key.as_str(), "thoughtSignature" | "thought"))
            });
            if let Some(kind) = kind {
                return Err(format!("parts of kind `{kind}` are not supported"));
            }
        }
    }
    Ok(decoded)
}

fn decode_blob(blob: &Value) -> Result<Image, String> {
    let media_type = str_field(blob, "mimeType").ok_or("`inlineData` without `mimeType`")?;
    let data = str_field(blob, "data").ok_or("`inlineData` without `data`")?;
    Ok(Image::Base64 {
        media_type: media_type.to_string(),
        data: data.to_string(),
    })
}

fn decode_function_response(response: &Value, ids: &mut CallIds) -> Result<ToolResult, String> {
    let name = str_field(response, "name").ok_or("`functionResponse` without `name`")?;
    let call_id = ids.result(str_field(response, "id"), name);
    let (text, is_error) = match response.get("response") {
        Some(Value::Object(object)) => unwrap_response_object(object),
        Some(Value::Null) | None => (String::new(), false),
        Some(other) => (other.to_string(), false),
    };
    let mut content = Vec::new();
    if !text.is_empty() {
        content.push(ToolResultContent::Text(text));
    }
    for part in response
        .get("parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(blob) = part.get("inlineData") {
            content.push(ToolResultContent::Image(decode_blob(blob)?));
        }
    }
    Ok(ToolResult {
        call_id,
        name: Some(name.to_string()),
        content,
        is_error,
    })
}

/// `{"output": v}` / `{"error": v}` give `v` (as text unless it is a string); any other
/// object is the output as a whole.
fn unwrap_response_object(object: &Map<String, Value>) -> (String, bool) {
    if object.len() == 1 {
        for (key, is_error) in [("output", false), ("error", true)] {
            if let Some(value) = object.get(key) {
                let text = match value {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                return (text, is_error);
            }
        }
    }
    (Value::Object(object.clone()).to_string(), false)
}

/// Encodes canonical parts. `tool_names` maps call ids to function names for tool results
/// whose name is absent; it learns the calls it meets.
pub(crate) fn encode_parts(
    parts: &[Part],
    tool_names: &mut HashMap<String, String>,
    dropped: &mut Vec<String>,
) -> Result<Vec<Value>, TranslateError> {
    let mut encoded: Vec<Value> = Vec::new();
    // A signature-only thinking part rides on the part after it.
    let mut pending_signature: Option<String> = None;
    for part in parts {
        let mut value = match part {
            Part::Text(block) => {
                if block.cache_control.is_some() {
                    note_dropped(dropped, "cache_control");
                }
                json!({"text": block.text})
            }
            Part::Image(image) => encode_image(image)?,
            Part::ToolCall(call) => {
                tool_names.insert(call.id.clone(), call.name.clone());
                json!({"functionCall": {
                    "id": call.id,
                    "name": call.name,
                    "args": arguments_object(&call.arguments)?,
                }})
            }
            Part::ToolResult(result) => encode_tool_result(result, tool_names)?,
            Part::Thinking { text, signature } => {
                if text.is_empty() {
                    if let Some(signature) = signature
                        && let Some(previous) = pending_signature.replace(signature.clone())
                    {
                        encoded.push(signature_carrier(previous));
                    }
                    continue;
                }
                let mut value = json!({"text": text, "thought": true});
                if let Some(signature) = signature {
                    value["thoughtSignature"] = Value::String(signature.clone());
                }
                value
            }
            Part::RedactedThinking { .. } => {
                // Another provider's encrypted reasoning: Gemini cannot read it back.
                note_dropped(dropped, "redacted_thinking");
                continue;
            }
        };
        if let Some(signature) = pending_signature.take() {
            // A thought part has its own signature slot: never lend it another's.
            if matches!(part, Part::Thinking { .. }) {
                encoded.push(signature_carrier(signature));
            } else {
                value["thoughtSignature"] = Value::String(signature);
            }
        }
        encoded.push(value);
    }
    if let Some(signature) = pending_signature {
        encoded.push(signature_carrier(signature));
    }
    Ok(encoded)
}

/// An empty text part holding only a signature, as Gemini itself ends some answers.
fn signature_carrier(signature: String) -> Value {
    json!({"text": "", "thoughtSignature": signature})
}

pub(crate) fn note_dropped(dropped: &mut Vec<String>, name: &str) {
    if !dropped.iter().any(|known| known == name) {
        dropped.push(name.to_string());
    }
}

/// Tool-call arguments as the object Gemini's `args` wants.
pub(crate) fn arguments_object(arguments: &str) -> Result<Value, TranslateError> {
    if arguments.trim().is_empty() {
        return Ok(json!({}));
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(Value::Object(object)) => Ok(Value::Object(object)),
        _ => Err(TranslateError::invalid_param(
            "tool_calls.arguments",
            "tool call arguments must be a JSON object for Gemini",
        )),
    }
}

fn encode_image(image: &Image) -> Result<Value, TranslateError> {
    match image {
        Image::Base64 { media_type, data } => {
            Ok(json!({"inlineData": {"mimeType": media_type, "data": data}}))
        }
        Image::Url(url) => {
            let mime_type = mime_type_of_url(url).ok_or_else(|| TranslateError::Unsupported {
                param: "image_url".into(),
                provider: PROVIDER,
                reason: "Gemini needs the image type of a URL: send the image inline (base64) \
                         or use a URL ending in .png, .jpg, .jpeg, .webp, .heic or .heif"
                    .into(),
            })?;
            Ok(json!({"fileData": {"mimeType": mime_type, "fileUri": url}}))
        }
    }
}

/// The image type named by a URL's extension (query and fragment ignored).
pub(crate) fn mime_type_of_url(url: &str) -> Option<&'static str> {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let file = path.rsplit('/').next().unwrap_or(path);
    let (_, extension) = file.rsplit_once('.')?;
    match extension.to_ascii_lowercase().as_str() {
        "png" => Some("image/png"),
        "jpg" | "jpeg" => Some("image/jpeg"),
        "webp" => Some("image/webp"),
        "heic" => Some("image/heic"),
        "heif" => Some("image/heif"),
        _ => None,
    }
}

fn encode_tool_result(
    result: &ToolResult,
    tool_names: &HashMap<String, String>,
) -> Result<Value, TranslateError> {
    let name = match &result.name {
        Some(name) => name.clone(),
        None => tool_names.get(&result.call_id).cloned().ok_or_else(|| {
            TranslateError::invalid_param(
                "tool_call_id",
                format!(
                    "the tool result for call `{}` answers no earlier tool call; Gemini needs \
                     the function's name",
                    result.call_id
                ),
            )
        })?,
    };
    let text = result.text();
    let value = match serde_json::from_str::<Value>(&text) {
        Ok(parsed @ (Value::Object(_) | Value::Array(_))) => parsed,
        _ => Value::String(text),
    };
    let key = if result.is_error { "error" } else { "output" };
    let mut response = json!({
        "id": result.call_id,
        "name": name,
        "response": {key: value},
    });
    let mut images = Vec::new();
    for part in &result.content {
        if let ToolResultContent::Image(image) = part {
            match image {
                Image::Base64 { .. } => images.push(encode_image(image)?),
                Image::Url(_) => {
                    return Err(TranslateError::Unsupported {
                        param: "tool_result.image_url".into(),
                        provider: PROVIDER,
                        reason: "Gemini takes only inline (base64) images in tool results".into(),
                    });
                }
            }
        }
    }
    if !images.is_empty() {
        response["parts"] = Value::Array(images);
    }
    Ok(json!({"functionResponse": response}))
}

/// `usageMetadata` → canonical (input counts everything; output includes thoughts).
pub(crate) fn decode_usage(metadata: &Value) -> Usage {
    let count = |field: &str| metadata.get(field).and_then(Value::as_u64).unwrap_or(0);
    let thoughts = count("thoughtsTokenCount");
    Usage {
        input_tokens: count("promptTokenCount") + count("toolUsePromptTokenCount"),
        output_tokens: count("candidatesTokenCount") + thoughts,
        cached_input_tokens: count("cachedContentTokenCount"),
        cache_write_tokens: 0,
        reasoning_tokens: thoughts,
    }
}

/// Canonical → `usageMetadata`. Gemini has no cache-write count (its caching is a separate
/// API), so `cache_write_tokens` has no place.
pub(crate) fn encode_usage(usage: &Usage) -> Value {
    let candidates = usage.output_tokens.saturating_sub(usage.reasoning_tokens);
    let mut metadata = json!({
        "promptTokenCount": usage.input_tokens,
        "candidatesTokenCount": candidates,
        "totalTokenCount": usage.input_tokens + candidates + usage.reasoning_tokens,
    });
    if usage.cached_input_tokens > 0 {
        metadata["cachedContentTokenCount"] = json!(usage.cached_input_tokens);
    }
    if usage.reasoning_tokens > 0 {
        metadata["thoughtsTokenCount"] = json!(usage.reasoning_tokens);
    }
    metadata
}

/// `finishReason` → canonical; `STOP` after a function call means the model awaits results.
pub(crate) fn decode_finish_reason(reason: &str, called_tools: bool) -> FinishReason {
    match reason {
        "STOP" if called_tools => FinishReason::ToolCalls,
        "STOP" => FinishReason::EndTurn,
        "MAX_TOKENS" => FinishReason::MaxTokens,
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            FinishReason::ContentFilter
        }
        other => FinishReason::Other(other.to_string()),
    }
}

pub(crate) fn encode_finish_reason(reason: &FinishReason) -> String {
    match reason {
        FinishReason::EndTurn | FinishReason::StopSequence | FinishReason::ToolCalls => {
            "STOP".into()
        }
        FinishReason::MaxTokens => "MAX_TOKENS".into(),
        FinishReason::ContentFilter => "SAFETY".into(),
        // Another provider's name (`pause_turn`) means nothing to a Gemini client.
        FinishReason::Other(name) if is_enum_name(name) => name.clone(),
        FinishReason::Other(_) => "OTHER".into(),
    }
}

fn is_enum_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|byte| byte.is_ascii_uppercase() || byte == b'_' || byte.is_ascii_digit())
}

/// A response id for answers that carry none.
pub(crate) fn made_up_response_id() -> String {
    format!("gemini-{:016x}", fastrand::u64(..))
}
