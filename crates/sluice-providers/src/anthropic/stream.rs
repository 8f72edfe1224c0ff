//! Streamed answers: Anthropic's server-sent events to canonical events and back.
//!
//! The wire order is `message_start`, content blocks (`content_block_start`, deltas,
//! `content_block_stop`), `message_delta` (stop reason and cumulative usage) and
//! `message_stop`, with `ping` and `error` events at any point.

use bytes::BytesMut;
use serde_json::{Map, Value, json};
use sluice_core::chat::{BlockKind, FinishReason, StreamEvent, Usage};

use super::error::decode_stream_error;
use super::wire::{
    FieldError, WireUsage, as_object, decode_stop_reason, encode_stop_reason, optional,
    optional_str, optional_u64, required, required_str,
};
use crate::sse::{SseEvent, SseParser, write_event};
use crate::{StreamDecoder, StreamEncoder, TranslateError};

/// The content block being streamed.
#[derive(Debug)]
struct OpenBlock {
    /// Its `index` on the wire.
    wire_index: u64,
    /// Its canonical index, or `None` for a block of a type this decoder skips.
    index: Option<u32>,
}

/// Anthropic SSE → canonical events.
#[derive(Debug, Default)]
pub struct AnthropicStreamDecoder {
    parser: SseParser,
    started: bool,
    /// `message_stop` or `error` arrived: the stream is complete, later bytes are ignored.
    done: bool,
    open_block: Option<OpenBlock>,
    next_index: u32,
    finish_sent: bool,
    /// Cumulative: `message_delta` may repeat or leave out what `message_start` said.
    usage: WireUsage,
}

impl AnthropicStreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn handle(
        &mut self,
        event: SseEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        if self.done {
            return Ok(());
        }
        let data: Value = serde_json::from_str(&event.data).map_err(|err| {
            TranslateError::upstream(format!("a stream event is not JSON: {err}"))
        })?;
        let data = as_object(&data, "event").map_err(FieldError::into_upstream_error)?;
        // The data names its type; the `event:` line says the same and is the fallback.
        let event_type = match data.get("type").and_then(Value::as_str) {
            Some(event_type) => event_type.to_string(),
            None => event.event.unwrap_or_default(),
        };
        self.handle_event(&event_type, data, out)
            .map_err(Fault::into_translate_error)
    }

    fn handle_event(
        &mut self,
        event_type: &str,
        data: &Map<String, Value>,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), Fault> {
        match event_type {
            "ping" => {}
            "error" => {
                out.push(StreamEvent::Error(decode_stream_error(data.get("error"))));
                self.done = true;
            }
            "message_start" => {
                let message = as_object(required(data, "message", "")?, "message")?;
                if !self.started {
                    self.started = true;
                    out.push(StreamEvent::Start {
                        id: required_str(message, "id", "message")?.to_string(),
                        model: optional_str(message, "model", "message")?
                            .unwrap_or_default()
                            .to_string(),
                    });
                }
                if let Some(usage) = optional(message, "usage") {
                    self.usage
                        .update(as_object(usage, "message.usage")?, "message.usage")?;
                    out.push(StreamEvent::Usage(self.usage.to_canonical()));
                }
            }
            // Unknown events may appear at any point; the known ones need a message.
            _ if !self.started && is_known_event(event_type) => {
                return Err(Fault::Sequence(format!(
                    "`{event_type}` arrived before `message_start`"
                )));
            }
            "content_block_start" => {
                self.close_block(out);
                let wire_index = required_u64(data, "index")?;
                let block = as_object(required(data, "content_block", "")?, "content_block")?;
                self.start_block(wire_index, block, out)?;
            }
            "content_block_delta" => {
                let wire_index = required_u64(data, "index")?;
                let Some(index) = self.open_index(wire_index) else {
                    return Err(Fault::Sequence(format!(
                        "a delta for content block {wire_index}, which is not open"
                    )));
                };
                let delta = as_object(required(data, "delta", "")?, "delta")?;
                if let Some(index) = index
                    && let Some(event) = decode_delta(index, delta)?
                {
                    out.push(event);
                }
            }
            "content_block_stop" => {
                let wire_index = required_u64(data, "index")?;
                if self.open_index(wire_index).is_none() {
                    return Err(Fault::Sequence(format!(
                        "`content_block_stop` for content block {wire_index}, which is not open"
                    )));
                }
                self.close_block(out);
            }
            "message_delta" => {
                self.close_block(out);
                if let Some(delta) = optional(data, "delta") {
                    let delta = as_object(delta, "delta")?;
                    if let Some(stop_reason) = optional_str(delta, "stop_reason", "delta")?
                        && !self.finish_sent
                    {
                        self.finish_sent = true;
                        out.push(StreamEvent::Finish {
                            reason: decode_stop_reason(stop_reason),
                            stop_sequence: optional_str(delta, "stop_sequence", "delta")?
                                .map(str::to_string),
                        });
                    }
                }
                if let Some(usage) = optional(data, "usage") {
                    self.usage.update(as_object(usage, "usage")?, "usage")?;
                    out.push(StreamEvent::Usage(self.usage.to_canonical()));
                }
            }
            "message_stop" => {
                self.close_block(out);
                if !self.finish_sent {
                    // Every documented stream has a stop reason by now; one that lacks it
                    // still ended normally.
                    self.finish_sent = true;
                    out.push(StreamEvent::Finish {
                        reason: FinishReason::EndTurn,
                        stop_sequence: None,
                    });
                }
                out.push(StreamEvent::End);
                self.done = true;
            }
            // The API may add event types; they are ignored.
            _ => {}
        }
        Ok(())
    }

    fn start_block(
        &mut self,
        wire_index: u64,
        block: &Map<String, Value>,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), FieldError> {
        let path = "content_block";
        let index = self.next_index;
        let kind = match required_str(block, "type", path)? {
            "text" => BlockKind::Text,
            "thinking" => BlockKind::Thinking,
            "redacted_thinking" => BlockKind::RedactedThinking {
                data: required_str(block, "data", path)?.to_string(),
            },
            "tool_use" => BlockKind::ToolCall {
                id: required_str(block, "id", path)?.to_string(),
                name: required_str(block, "name", path)?.to_string(),
            },
            other => {
                // Server-tool blocks and later additions: see `decode_response`.
                tracing::warn!(
                    block_type = other,
                    "skipping an Anthropic content block of unknown type"
                );
                self.open_block = Some(OpenBlock {
                    wire_index,
                    index: None,
                });
                return Ok(());
            }
        };
        self.next_index += 1;
        self.open_block = Some(OpenBlock {
            wire_index,
            index: Some(index),
        });
        out.push(StreamEvent::BlockStart { index, block: kind });

        // Blocks normally start empty; content in the start event is passed on as deltas.
        match required_str(block, "type", path)? {
            "text" => {
                let text = required_str(block, "text", path)?;
                if !text.is_empty() {
                    out.push(StreamEvent::TextDelta {
                        index,
                        text: text.to_string(),
                    });
                }
            }
            "thinking" => {
                if let Some(text) = optional_str(block, "thinking", path)?
                    && !text.is_empty()
                {
                    out.push(StreamEvent::ThinkingDelta {
                        index,
                        text: text.to_string(),
                    });
                }
                if let Some(signature) = optional_str(block, "signature", path)?
                    && !signature.is_empty()
                {
                    out.push(StreamEvent::SignatureDelta {
                        index,
                        signature: signature.to_string(),
                    });
                }
            }
            "tool_use" => {
                if let Some(input) = optional(block, "input")
                    && input.as_object().is_none_or(|input| !input.is_empty())
                {
                    out.push(StreamEvent::ToolArgumentsDelta {
                        index,
                        json: input.to_string(),
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The canonical index of the open block when its wire index is `wire_index`
    /// (`Some(None)` for a skipped block), `None` when that block is not open.
    fn open_index(&self, wire_index: u64) -> Option<Option<u32>> {
        self.open_block
            .as_ref()
            .filter(|block| block.wire_index == wire_index)
            .map(|block| block.index)
    }

    fn close_block(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(OpenBlock {
            index: Some(index), ..
        }) = self.open_block.take()
        {
            out.push(StreamEvent::BlockStop { index });
        }
    }
}

/// Why a stream event could not be taken: a malformed event or one out of order.
enum Fault {
    Field(FieldError),
    Sequence(String),
}

impl From<FieldError> for Fault {
    fn from(error: FieldError) -> Self {
        Fault::Field(error)
    }
}

impl Fault {
    fn into_translate_error(self) -> TranslateError {
        match self {
            Fault::Field(error) => error.into_upstream_error(),
            Fault::Sequence(message) => TranslateError::upstream(message),
        }
    }
}

fn is_known_event(event_type: &str) -> bool {
    matches!(
        event_type,
        "content_block_start"
            | "content_block_delta"
            | "content_block_stop"
            | "message_delta"
            | "message_stop"
    )
}

fn required_u64(data: &Map<String, Value>, key: &str) -> Result<u64, FieldError> {
    optional_u64(data, key, "")?.ok_or_else(|| FieldError {
        path: key.to_string(),
        message: format!("Missing required field: `{key}`"),
    })
}

fn decode_delta(index: u32, delta: &Map<String, Value>) -> Result<Option<StreamEvent>, FieldError> {
    let path = "delta";
    Ok(Some(match required_str(delta, "type", path)? {
        "text_delta" => StreamEvent::TextDelta {
            index,
            text: required_str(delta, "text", path)?.to_string(),
        },
        "input_json_delta" => StreamEvent::ToolArgumentsDelta {
            index,
            json: required_str(delta, "partial_json", path)?.to_string(),
        },
        "thinking_delta" => StreamEvent::ThinkingDelta {
            index,
            text: required_str(delta, "thinking", path)?.to_string(),
        },
        "signature_delta" => StreamEvent::SignatureDelta {
            index,
            signature: required_str(delta, "signature", path)?.to_string(),
        },
        // `citations_delta` and later additions carry nothing other dialects can show.
        _ => return Ok(None),
    }))
}

impl StreamDecoder for AnthropicStreamDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        for event in self.parser.events(bytes) {
            self.handle(event, out)?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        if let Some(event) = self.parser.finish() {
            self.handle(event, out)?;
        }
        if self.done {
            Ok(())
        } else {
            Err(TranslateError::upstream(
                "the stream ended before `message_stop`",
            ))
        }
    }
}

/// Canonical events → Anthropic SSE.
#[derive(Debug, Default)]
pub struct AnthropicStreamEncoder {
    /// `Start` arrived and `message_start` waits for the next event, so that usage
    /// reported right after `Start` (the input counts) is written in it.
    pending_start: Option<(String, String)>,
    started: bool,
    /// `End` or `Error` was written: nothing may follow.
    done: bool,
    /// Held until `End`, so one `message_delta` carries the stop reason and the usage
    /// whichever of `Finish` and `Usage` came first.
    finish: Option<(FinishReason, Option<String>)>,
    usage: Usage,
}

impl AnthropicStreamEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn message_start(&mut self, id: &str, model: &str, out: &mut BytesMut) {
        self.started = true;
        let usage = WireUsage::from_canonical(&self.usage);
        let data = json!({
            "type": "message_start",
            "message": {
                "id": id,
                "type": "message",
                "role": "assistant",
                "content": [],
                "model": model,
                "stop_reason": null,
                "stop_sequence": null,
                // Often still zero on translated paths: the final counts follow in
                // `message_delta`.
                "usage": {
                    "input_tokens": usage.input_tokens,
                    "output_tokens": usage.output_tokens,
                    "cache_creation_input_tokens": usage.cache_creation_input_tokens,
                    "cache_read_input_tokens": usage.cache_read_input_tokens,
                },
            },
        });
        write(out, "message_start", &data);
    }
}

fn write(out: &mut BytesMut, name: &str, data: &Value) {
    write_event(out, Some(name), data.to_string().as_bytes());
}

fn write_delta(out: &mut BytesMut, index: u32, delta: Value) {
    write(
        out,
        "content_block_delta",
        &json!({"type": "content_block_delta", "index": index, "delta": delta}),
    );
}

impl StreamEncoder for AnthropicStreamEncoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut BytesMut) {
        if self.done {
            return;
        }
        match event {
            StreamEvent::Start { id, model } => {
                if !self.started && self.pending_start.is_none() {
                    self.pending_start = Some((id.clone(), model.clone()));
                }
                return;
            }
            StreamEvent::Usage(usage) => {
                self.usage.merge(usage);
                return;
            }
            _ => {}
        }
        if !self.started {
            match self.pending_start.take() {
                Some((id, model)) => self.message_start(&id, &model, out),
                // An error before anything else is written on its own.
                None if matches!(event, StreamEvent::Error(_)) => {}
                // A stream without `Start` still needs `message_start` first.
                None => self.message_start("", "", out),
            }
        }
        match event {
            StreamEvent::Start { .. } | StreamEvent::Usage(_) => {}
            StreamEvent::BlockStart { index, block } => {
                let content_block = match block {
                    BlockKind::Text => json!({"type": "text", "text": ""}),
                    BlockKind::Thinking => {
                        json!({"type": "thinking", "thinking": "", "signature": ""})
                    }
                    BlockKind::RedactedThinking { data } => {
                        json!({"type": "redacted_thinking", "data": data})
                    }
                    BlockKind::ToolCall { id, name } => {
                        json!({"type": "tool_use", "id": id, "name": name, "input": {}})
                    }
                };
                write(
                    out,
                    "content_block_start",
                    &json!({"type": "content_block_start", "index": index, "content_block": content_block}),
                );
            }
            StreamEvent::TextDelta { index, text } => {
                write_delta(out, *index, json!({"type": "text_delta", "text": text}));
            }
            StreamEvent::ThinkingDelta { index, text } => {
                write_delta(
                    out,
                    *index,
                    json!({"type": "thinking_delta", "thinking": text}),
                );
            }
            StreamEvent::SignatureDelta { index, signature } => write_delta(
                out,
                *index,
                json!({"type": "signature_delta", "signature": signature}),
            ),
            StreamEvent::ToolArgumentsDelta { index, json } => write_delta(
                out,
                *index,
                json!({"type": "input_json_delta", "partial_json": json}),
            ),
            StreamEvent::BlockStop { index } => write(
                out,
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            ),
            StreamEvent::Finish {
                reason,
                stop_sequence,
            } => self.finish = Some((reason.clone(), stop_sequence.clone())),
            StreamEvent::Error(error) => {
                write_event(out, Some("error"), &error.to_anthropic_json());
                self.done = true;
            }
            StreamEvent::End => {
                let (reason, stop_sequence) =
                    self.finish.take().unwrap_or((FinishReason::EndTurn, None));
                let usage = WireUsage::from_canonical(&self.usage);
                write(
                    out,
                    "message_delta",
                    &json!({
                        "type": "message_delta",
                        "delta": {
                            "stop_reason": encode_stop_reason(&reason),
                            "stop_sequence": stop_sequence,
                        },
                        "usage": {
                            "output_tokens": usage.output_tokens,
                            "input_tokens": usage.input_tokens,
                            "cache_read_input_tokens": usage.cache_read_input_tokens,
                            "cache_creation_input_tokens": usage.cache_creation_input_tokens,
                        },
                    }),
                );
                write(out, "message_stop", &json!({"type": "message_stop"}));
                self.done = true;
            }
        }
    }
}
