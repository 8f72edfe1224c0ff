//! Chat requests: Cohere's `POST /v2/chat` body to the canonical request and back.

use sluice_core::chat::{
    ChatRequest, Image, Message, Part, Reasoning, ResponseFormat, Role, TextBlock, Tool, ToolCall,
    ToolChoice, ToolResult, ToolResultContent,
};

use super::PROVIDER;
use super::wire::{
    AssistantBlockWire, ChatRequestWire, Content, FunctionCallWire, FunctionWire, ImageUrlWire,
    MessageWire, ResponseFormatWire, TextBlockWire, ThinkingWire, ToolBlockWire, ToolCallWire,
    ToolWire, UserBlockWire, function_type,
};
use crate::dialect::{Encoded, TranslateError};

/// Cohere takes `p` in 0.01..=0.99 only; the ends (a common `top_p: 1`, meaning "no
/// cut") are brought to the nearest value it takes rather than refused.
const MIN_P: f64 = 0.01;
const MAX_P: f64 = 0.99;

/// The name canonical JSON-schema formats get, since Cohere's `json_schema` has none.
const SCHEMA_NAME: &str = "response";

/// Reads a Cohere chat request.
///
/// `system` messages become `system` blocks (wherever they stand); `tool` messages become
/// tool results in a user turn (consecutive ones share it); an assistant's `tool_plan`
/// becomes a text part before its tool calls. `thinking: {"type":"disabled"}` becomes a
/// zero thinking budget (Gemini's way of saying "off").
pub fn decode_request(body: &[u8]) -> Result<ChatRequest, TranslateError> {
    let wire: ChatRequestWire = serde_json::from_slice(body)?;
    let mut request = ChatRequest {
        model: wire.model,
        max_tokens: wire.max_tokens,
        temperature: wire.temperature,
        top_p: wire.p,
        top_k: wire.k,
        stop: wire.stop_sequences,
        stream: wire.stream,
        seed: wire.seed,
        frequency_penalty: wire.frequency_penalty,
        presence_penalty: wire.presence_penalty,
        extra: wire.extra,
        ..ChatRequest::default()
    };

    for message in wire.messages {
        decode_message(message, &mut request)?;
    }

    request.tools = wire
        .tools
        .into_iter()
        .map(|tool| Tool {
            name: tool.function.name,
            description: tool.function.description,
            parameters: tool.function.parameters,
            cache_control: None,
        })
        .collect();

    request.tool_choice = match wire.tool_choice.as_deref() {
        None => None,
        Some(choice) if choice.eq_ignore_ascii_case("REQUIRED") => Some(ToolChoice::Required),
        Some(choice) if choice.eq_ignore_ascii_case("NONE") => Some(ToolChoice::None),
        Some(other) => {
            return Err(TranslateError::invalid_param(
                "tool_choice",
                format!("`tool_choice` must be REQUIRED or NONE, not `{other}`."),
            ));
        }
    };

    request.response_format = wire
        .response_format
        .map(decode_response_format)
        .transpose()?;

    request.reasoning = wire.thinking.map(|thinking| {
        if thinking.kind.eq_ignore_ascii_case("disabled") {
            Reasoning {
                effort: None,
                budget_tokens: Some(0),
            }
        } else {
            Reasoning {
                effort: None,
                budget_tokens: thinking.token_budget,
            }
        }
    });

    Ok(request)
}

fn decode_message(message: MessageWire, request: &mut ChatRequest) -> Result<(), TranslateError> {
    match message {
        MessageWire::System { content } => {
            let blocks = match content {
                Content::Text(text) => vec![TextBlock::new(text)],
                Content::Blocks(blocks) => blocks
                    .into_iter()
                    .map(|TextBlockWire::Text { text }| TextBlock::new(text))
                    .collect(),
            };
            request.system.extend(blocks);
        }
        MessageWire::User { content } => {
            let content = match content {
                Content::Text(text) => vec![Part::Text(TextBlock::new(text))],
                Content::Blocks(blocks) => blocks
                    .into_iter()
                    .map(|block| match block {
                        UserBlockWire::Text { text } => Part::Text(TextBlock::new(text)),
                        UserBlockWire::ImageUrl { image_url } => {
                            Part::Image(Image::from_url(&image_url.url))
                        }
                    })
                    .collect(),
            };
            request.messages.push(Message {
                role: Role::User,
                content,
            });
        }
        MessageWire::Assistant {
            content,
            tool_plan,
            tool_calls,
        } => {
            let mut parts = match content {
                None => Vec::new(),
                Some(Content::Text(text)) => vec![Part::Text(TextBlock::new(text))],
                Some(Content::Blocks(blocks)) => {
                    blocks.into_iter().map(assistant_block_to_part).collect()
                }
            };
            if let Some(plan) = tool_plan.filter(|plan| !plan.is_empty()) {
                parts.push(Part::Text(TextBlock::new(plan)));
            }
            parts.extend(tool_calls.into_iter().map(tool_call_to_part));
            request.messages.push(Message {
                role: Role::Assistant,
                content: parts,
            });
        }
        MessageWire::Tool {
            tool_call_id,
            content,
        } => {
            let content = match content {
                Content::Text(text) => vec![ToolResultContent::Text(text)],
                Content::Blocks(blocks) => blocks
                    .into_iter()
                    .map(|block| match block {
                        ToolBlockWire::Text { text } => ToolResultContent::Text(text),
                        // A document is JSON data the model reads; as text it keeps its meaning.
                        ToolBlockWire::Document { document } => {
                            ToolResultContent::Text(document.data.to_string())
                        }
                    })
                    .collect(),
            };
            let result = Part::ToolResult(ToolResult {
                call_id: tool_call_id,
                name: None,
                content,
                is_error: false,
            });
            // Results of one round of calls travel in one user turn.
            match request.messages.last_mut() {
                Some(last)
                    if last.role == Role::User
                        && last
                            .content
                            .iter()
                            .all(|part| matches!(part, Part::ToolResult(_))) =>
                {
                    last.content.push(result);
                }
                _ => request.messages.push(Message {
                    role: Role::User,
                    content: vec![result],
                }),
            }
        }
    }
    Ok(())
}

pub(crate) fn assistant_block_to_part(block: AssistantBlockWire) -> Part {
    match block {
        AssistantBlockWire::Text { text } => Part::Text(TextBlock::new(text)),
        AssistantBlockWire::Thinking { thinking } => Part::Thinking {
            text: thinking,
            signature: None,
        },
    }
}

pub(crate) fn tool_call_to_part(call: ToolCallWire) -> Part {
    Part::ToolCall(ToolCall {
        id: call.id,
        name: call.function.name,
        arguments: call.function.arguments,
    })
}

fn decode_response_format(format: ResponseFormatWire) -> Result<ResponseFormat, TranslateError> {
    match (format.kind.as_str(), format.json_schema) {
        ("text", _) => Ok(ResponseFormat::Text),
        ("json_object", None) => Ok(ResponseFormat::JsonObject),
        ("json_object", Some(schema)) => Ok(ResponseFormat::JsonSchema {
            name: SCHEMA_NAME.to_string(),
            schema,
            strict: None,
        }),
        (other, _) => Err(TranslateError::invalid_param(
            "response_format",
            format!("`response_format.type` must be text or json_object, not `{other}`."),
        )),
    }
}

/// Writes a canonical request as a Cohere chat request for `model`.
///
/// See the module docs of [`super`] for what is mapped, dropped and refused.
pub fn encode_request(request: &ChatRequest, model: &str) -> Result<Encoded, TranslateError> {
    let mut dropped = Dropped::default();
    let mut messages = Vec::with_capacity(request.messages.len() + 1);

    if !request.system.is_empty() {
        if request
            .system
            .iter()
            .any(|block| block.cache_control.is_some())
        {
            dropped.push("cache_control");
        }
        let content = match request.system.as_slice() {
            [only] => Content::Text(only.text.clone()),
            blocks => Content::Blocks(
                blocks
                    .iter()
                    .map(|block| TextBlockWire::Text {
                        text: block.text.clone(),
                    })
                    .collect(),
            ),
        };
        messages.push(MessageWire::System { content });
    }

    for message in &request.messages {
        match message.role {
            Role::User => encode_user_message(message, &mut messages, &mut dropped)?,
            Role::Assistant => messages.push(encode_assistant_message(message, &mut dropped)?),
        }
    }

    let (tools, tool_choice) = encode_tools(request, &mut dropped)?;

    if request.parallel_tool_calls == Some(false) {
        // Cohere may call several tools in one turn and cannot be told not to.
        dropped.push("parallel_tool_calls");
    }
    if request.user.is_some() {
        dropped.push("user");
    }
    for name in request.extra.keys() {
        dropped.push(name);
    }

    let wire = ChatRequestWire {
        model: model.to_string(),
        messages,
        tools,
        tool_choice,
        stream: request.stream,
        max_tokens: request.max_tokens,
        stop_sequences: request.stop.clone(),
        temperature: request.temperature,
        p: request.top_p.map(|top_p| top_p.clamp(MIN_P, MAX_P)),
        k: request.top_k,
        seed: request.seed,
        frequency_penalty: request.frequency_penalty,
        presence_penalty: request.presence_penalty,
        response_format: request.response_format.as_ref().map(encode_response_format),
        thinking: request.reasoning.as_ref().map(encode_reasoning),
        extra: serde_json::Map::new(),
    };
    let body = serde_json::to_vec(&wire)
        .map_err(|err| TranslateError::invalid(format!("The request cannot be encoded: {err}")))?;
    Ok(Encoded {
        body,
        dropped: dropped.names,
    })
}

/// Dropped parameter names, each once, in the order first met.
#[derive(Default)]
struct Dropped {
    names: Vec<String>,
}

impl Dropped {
    fn push(&mut self, name: &str) {
        if !self.names.iter().any(|known| known == name) {
            self.names.push(name.to_string());
        }
    }
}

/// A user turn: its tool results become `tool` messages (first, since they answer the
/// previous assistant turn), the rest one `user` message.
fn encode_user_message(
    message: &Message,
    out: &mut Vec<MessageWire>,
    dropped: &mut Dropped,
) -> Result<(), TranslateError> {
    let mut blocks = Vec::new();
    for part in &message.content {
        match part {
            Part::Text(block) => {
                if block.cache_control.is_some() {
                    dropped.push("cache_control");
                }
                blocks.push(UserBlockWire::Text {
                    text: block.text.clone(),
                });
            }
            Part::Image(image) => blocks.push(UserBlockWire::ImageUrl {
                image_url: ImageUrlWire {
                    url: image.to_url(),
                    detail: None,
                },
            }),
            Part::ToolResult(result) => out.push(encode_tool_result(result, dropped)?),
            Part::ToolCall(_) => {
                return Err(TranslateError::invalid_param(
                    "messages",
                    "Tool calls can only appear in assistant turns.",
                ));
            }
            Part::Thinking { .. } | Part::RedactedThinking { .. } => {
                return Err(TranslateError::invalid_param(
                    "messages",
                    "Thinking can only appear in assistant turns.",
                ));
            }
        }
    }
    if blocks.is_empty() {
        return Ok(());
    }
    let content = match blocks.as_slice() {
        [UserBlockWire::Text { text }] => Content::Text(text.clone()),
        _ => Content::Blocks(blocks),
    };
    out.push(MessageWire::User { content });
    Ok(())
}

fn encode_tool_result(
    result: &ToolResult,
    dropped: &mut Dropped,
) -> Result<MessageWire, TranslateError> {
    if result.is_error {
        // Cohere has no error flag on tool results; the result text still says what failed.
        dropped.push("is_error");
    }
    let mut blocks = Vec::with_capacity(result.content.len());
    for piece in &result.content {
        match piece {
            ToolResultContent::Text(text) => {
                blocks.push(ToolBlockWire::Text { text: text.clone() })
            }
            ToolResultContent::Image(_) => {
                return Err(TranslateError::Unsupported {
                    param: "messages".to_string(),
                    provider: PROVIDER,
                    reason: "tool results can hold only text and documents, not images".to_string(),
                });
            }
        }
    }
    let content = match blocks.as_slice() {
        [ToolBlockWire::Text { text }] => Content::Text(text.clone()),
        _ => Content::Blocks(blocks),
    };
    Ok(MessageWire::Tool {
        tool_call_id: result.call_id.clone(),
        content,
    })
}

/// An assistant turn. With tool calls, its text goes into `tool_plan` (where Cohere puts
/// the text it writes before calling tools); without, into `content`.
fn encode_assistant_message(
    message: &Message,
    dropped: &mut Dropped,
) -> Result<MessageWire, TranslateError> {
    let has_tool_calls = message
        .content
        .iter()
        .any(|part| matches!(part, Part::ToolCall(_)));
    let mut blocks = Vec::new();
    let mut plan = String::new();
    let mut tool_calls = Vec::new();
    for part in &message.content {
        match part {
            Part::Text(block) => {
                if block.cache_control.is_some() {
                    dropped.push("cache_control");
                }
                if has_tool_calls {
                    plan.push_str(&block.text);
                } else {
                    blocks.push(AssistantBlockWire::Text {
                        text: block.text.clone(),
                    });
                }
            }
            Part::Thinking { text, signature } => {
                if signature.is_some() {
                    dropped.push("signature");
                }
                blocks.push(AssistantBlockWire::Thinking {
                    thinking: text.clone(),
                });
            }
            Part::RedactedThinking { .. } => dropped.push("redacted_thinking"),
            Part::ToolCall(call) => tool_calls.push(ToolCallWire {
                id: call.id.clone(),
                kind: function_type(),
                function: FunctionCallWire {
                    name: call.name.clone(),
                    arguments: call.arguments.clone(),
                },
            }),
            Part::Image(_) => {
                return Err(TranslateError::Unsupported {
                    param: "messages".to_string(),
                    provider: PROVIDER,
                    reason: "assistant turns can hold only text, thinking and tool calls"
                        .to_string(),
                });
            }
            Part::ToolResult(_) => {
                return Err(TranslateError::invalid_param(
                    "messages",
                    "Tool results can only appear in user turns.",
                ));
            }
        }
    }
    let content = match blocks.as_slice() {
        [] => None,
        [AssistantBlockWire::Text { text }] => Some(Content::Text(text.clone())),
        _ => Some(Content::Blocks(blocks)),
    };
    Ok(MessageWire::Assistant {
        content,
        tool_plan: (!plan.is_empty()).then_some(plan),
        tool_calls,
    })
}

/// Tools and `tool_choice`. Cohere cannot force one named tool: `ToolChoice::Tool(name)`
/// becomes `REQUIRED` with only that tool offered, which forces exactly that call.
fn encode_tools(
    request: &ChatRequest,
    dropped: &mut Dropped,
) -> Result<(Vec<ToolWire>, Option<String>), TranslateError> {
    let encode = |tool: &Tool, dropped: &mut Dropped| {
        if tool.cache_control.is_some() {
            dropped.push("cache_control");
        }
        ToolWire {
            kind: function_type(),
            function: FunctionWire {
                name: tool.name.clone(),
                description: tool.description.clone(),
                parameters: tool.parameters.clone(),
            },
        }
    };
    match &request.tool_choice {
        Some(ToolChoice::Tool(name)) => {
            let tool = request
                .tools
                .iter()
                .find(|tool| &tool.name == name)
                .ok_or_else(|| {
                    TranslateError::invalid_param(
                        "tool_choice",
                        format!("`tool_choice` names the tool `{name}`, which is not in `tools`."),
                    )
                })?;
            Ok((vec![encode(tool, dropped)], Some("REQUIRED".to_string())))
        }
        choice => {
            let tools = request
                .tools
                .iter()
                .map(|tool| encode(tool, dropped))
                .collect();
            let choice = match choice {
                Some(ToolChoice::Required) => Some("REQUIRED".to_string()),
                Some(ToolChoice::None) => Some("NONE".to_string()),
                // Absent is auto.
                _ => None,
            };
            Ok((tools, choice))
        }
    }
}

fn encode_response_format(format: &ResponseFormat) -> ResponseFormatWire {
    match format {
        ResponseFormat::Text => ResponseFormatWire {
            kind: "text".to_string(),
            json_schema: None,
        },
        ResponseFormat::JsonObject => ResponseFormatWire {
            kind: "json_object".to_string(),
            json_schema: None,
        },
        // Cohere always holds the output to the schema, so `strict` needs no field; the
        // name is only a label.
        ResponseFormat::JsonSchema { schema, .. } => ResponseFormatWire {
            kind: "json_object".to_string(),
            json_schema: Some(schema.clone()),
        },
    }
}

/// A zero budget or effort `none` turns thinking off; otherwise the budget (or the
/// effort's documented budget) caps it.
fn encode_reasoning(reasoning: &Reasoning) -> ThinkingWire {
    let disabled =
        reasoning.budget_tokens == Some(0) || reasoning.effort.as_deref() == Some("none");
    if disabled {
        ThinkingWire {
            kind: "disabled".to_string(),
            token_budget: None,
        }
    } else {
        ThinkingWire {
            kind: "enabled".to_string(),
            token_budget: reasoning.budget(),
        }
    }
}
