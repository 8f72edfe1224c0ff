//! ConverseStream: `application/vnd.amazon.eventstream` frames to canonical events and
//! back.
//!
//! Every frame carries `:message-type` (`event`, `exception` or `error`), and for events
//! `:event-type` (`messageStart`, `contentBlockStart`, `contentBlockDelta`,
//! `contentBlockStop`, `messageStop`, `metadata`) with the JSON of that member as payload.
//! Text and reasoning blocks get no `contentBlockStart`: the decoder opens them on their
//! first delta. The stream is complete once both `messageStop` and `metadata` arrived;
//! a stream that closes after `messageStop` without `metadata` is still accepted (the
//! answer is whole, only the usage is missing).

use std::collections::HashSet;

use bytes::BytesMut;
use serde_json::{Map, Value, json};
use sluice_core::chat::{BlockKind, StreamEvent, Usage};
use sluice_core::{ApiError, ErrorKind};

use super::converse::{
    finish_reason_from_wire, finish_reason_to_wire, new_message_id, usage_from_wire, usage_to_wire,
};
use super::eventstream::{Message, MessageDecoder, encode_message};
use super::{error_from_exception, exception_name};
use crate::{StreamDecoder, StreamEncoder, TranslateError};

/// What the open canonical block holds (decides whether a delta continues it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OpenKind {
    Text,
    Thinking,
    RedactedThinking,
    ToolCall,
}

#[derive(Clone, Copy, Debug)]
struct OpenBlock {
    /// Bedrock's `contentBlockIndex`.
    wire_index: u64,
    /// The canonical index.
    index: u32,
    kind: OpenKind,
}

/// Decodes a ConverseStream body into canonical events.
#[derive(Debug, Default)]
pub struct BedrockStreamDecoder {
    frames: MessageDecoder,
    /// Bedrock's stream does not name the model; the caller may.
    model: String,
    started: bool,
    open: Option<OpenBlock>,
    next_index: u32,
    /// Wire indexes that have had a block, to ignore a late `contentBlockStop`.
    seen_wire_indexes: HashSet<u64>,
    message_stopped: bool,
    metadata_seen: bool,
    ended: bool,
}

impl BedrockStreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// A decoder whose `Start` event names `model` (the id in the request path).
    pub fn with_model(model: impl Into<String>) -> Self {
        Self {
            model: model.into(),
            ..Self::default()
        }
    }

    fn handle(
        &mut self,
        message: &Message,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        match message.header_str(":message-type") {
            Some("event") => {}
            Some("exception") => {
                let exception = message.header_str(":exception-type").unwrap_or("unknown");
                let text = payload_message(&message.payload);
                out.push(StreamEvent::Error(error_from_exception(
                    exception, &text, None,
                )));
                self.ended = true;
                return Ok(());
            }
            Some("error") => {
                let code = message.header_str(":error-code").unwrap_or("unknown");
                let text = message.header_str(":error-message").unwrap_or_default();
                out.push(StreamEvent::Error(ApiError::new(
                    ErrorKind::ProviderError,
                    format!("{code}: {text}"),
                )));
                self.ended = true;
                return Ok(());
            }
            other => {
                return Err(TranslateError::upstream(format!(
                    "an event-stream message has the message type {other:?}"
                )));
            }
        }
        let event_type = message.header_str(":event-type").unwrap_or_default();
        let payload: Value = if message.payload.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(&message.payload).map_err(|err| {
                TranslateError::upstream(format!("the `{event_type}` event is not JSON: {err}"))
            })?
        };
        if event_type != "messageStart" {
            self.start(out);
        }
        match event_type {
            "messageStart" => self.start(out),
            "contentBlockStart" => {
                let wire_index = wire_index(&payload)?;
                let Some(tool_use) = payload.pointer("/start/toolUse") else {
                    return Err(TranslateError::upstream(
                        "a contentBlockStart event starts something other than a tool call",
                    ));
                };
                let id = tool_use.get("toolUseId").and_then(Value::as_str);
                let name = tool_use.get("name").and_then(Value::as_str);
                let (Some(id), Some(name)) = (id, name) else {
                    return Err(TranslateError::upstream(
                        "a toolUse start needs `toolUseId` and `name`",
                    ));
                };
                let block = BlockKind::ToolCall {
                    id: id.to_string(),
                    name: name.to_string(),
                };
                self.open_block(wire_index, OpenKind::ToolCall, block, out);
            }
            "contentBlockDelta" => self.delta(&payload, out)?,
            "contentBlockStop" => {
                let wire_index = wire_index(&payload)?;
                match self.open {
                    Some(open) if open.wire_index == wire_index => self.close_block(out),
                    _ if !self.seen_wire_indexes.contains(&wire_index) => {
                        // A text block that never had a delta: it still existed.
                        self.open_block(wire_index, OpenKind::Text, BlockKind::Text, out);
                        self.close_block(out);
                    }
                    _ => {}
                }
            }
            "messageStop" => {
                self.close_block(out);
                let reason = payload
                    .get("stopReason")
                    .and_then(Value::as_str)
                    .unwrap_or("end_turn");
                out.push(StreamEvent::Finish {
                    reason: finish_reason_from_wire(reason),
                    stop_sequence: payload
                        .pointer("/additionalModelResponseFields/stop_sequence")
                        .and_then(Value::as_str)
                        .map(str::to_string),
                });
                self.message_stopped = true;
                if self.metadata_seen {
                    self.end(out);
                }
            }
            "metadata" => {
                if let Some(usage) = payload.get("usage") {
                    out.push(StreamEvent::Usage(usage_from_wire(usage)));
                }
                self.metadata_seen = true;
                if self.message_stopped {
                    self.end(out);
                }
            }
            other => {
                // New event types are additive; skipping one loses no text.
                tracing::debug!(event = other, "skipping an unknown ConverseStream event");
            }
        }
        Ok(())
    }

    fn delta(&mut self, payload: &Value, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        let wire_index = wire_index(payload)?;
        let Some(delta) = payload.get("delta") else {
            return Err(TranslateError::upstream(
                "a contentBlockDelta has no `delta`",
            ));
        };
        if let Some(text) = delta.get("text").and_then(Value::as_str) {
            let index = self.ensure_block(wire_index, OpenKind::Text, || BlockKind::Text, out);
            if !text.is_empty() {
                out.push(StreamEvent::TextDelta {
                    index,
                    text: text.to_string(),
                });
            }
        } else if let Some(tool_use) = delta.get("toolUse") {
            let Some(open) = self
                .open
                .filter(|open| open.wire_index == wire_index && open.kind == OpenKind::ToolCall)
            else {
                return Err(TranslateError::upstream(
                    "a toolUse delta arrived for a block that was not started as a tool call",
                ));
            };
            let json = tool_use
                .get("input")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !json.is_empty() {
                out.push(StreamEvent::ToolArgumentsDelta {
                    index: open.index,
                    json: json.to_string(),
                });
            }
        } else if let Some(reasoning) = delta.get("reasoningContent") {
            if let Some(data) = reasoning.get("redactedContent").and_then(Value::as_str) {
                // Each redacted piece is a block of its own: its data comes whole.
                self.close_block(out);
                let block = BlockKind::RedactedThinking {
                    data: data.to_string(),
                };
                self.open_block(wire_index, OpenKind::RedactedThinking, block, out);
                return Ok(());
            }
            let index =
                self.ensure_block(wire_index, OpenKind::Thinking, || BlockKind::Thinking, out);
            if let Some(text) = reasoning.get("text").and_then(Value::as_str) {
                if !text.is_empty() {
                    out.push(StreamEvent::ThinkingDelta {
                        index,
                        text: text.to_string(),
                    });
                }
            } else if let Some(signature) = reasoning.get("signature").and_then(Value::as_str) {
                out.push(StreamEvent::SignatureDelta {
                    index,
                    signature: signature.to_string(),
                });
            }
        } else {
            // Citations and other annotations have no canonical form; the text they
            // annotate arrives in `text` deltas all the same.
            tracing::debug!("skipping a ConverseStream delta without a canonical form");
        }
        Ok(())
    }

    fn start(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.started {
            self.started = true;
            out.push(StreamEvent::Start {
                id: new_message_id(),
                model: self.model.clone(),
            });
        }
    }

    /// The canonical index of the block for `wire_index`, opening one of `kind` (and
    /// closing another) when needed.
    fn ensure_block(
        &mut self,
        wire_index: u64,
        kind: OpenKind,
        block: impl FnOnce() -> BlockKind,
        out: &mut Vec<StreamEvent>,
    ) -> u32 {
        match self.open {
            Some(open) if open.wire_index == wire_index && open.kind == kind => open.index,
            _ => self.open_block(wire_index, kind, block(), out),
        }
    }

    fn open_block(
        &mut self,
        wire_index: u64,
        kind: OpenKind,
        block: BlockKind,
        out: &mut Vec<StreamEvent>,
    ) -> u32 {
        self.close_block(out);
        let index = self.next_index;
        self.next_index += 1;
        self.seen_wire_indexes.insert(wire_index);
        self.open = Some(OpenBlock {
            wire_index,
            index,
            kind,
        });
        out.push(StreamEvent::BlockStart { index, block });
        index
    }

    fn close_block(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(open) = self.open.take() {
            out.push(StreamEvent::BlockStop { index: open.index });
        }
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) {
        if !self.ended {
            self.ended = true;
            out.push(StreamEvent::End);
        }
    }
}

fn wire_index(payload: &Value) -> Result<u64, TranslateError> {
    payload
        .get("contentBlockIndex")
        .and_then(Value::as_u64)
        .ok_or_else(|| TranslateError::upstream("a content block event has no `contentBlockIndex`"))
}

/// The `message` (or `Message`) of an exception payload, else the payload as text.
pub(crate) fn payload_message(payload: &[u8]) -> String {
    let parsed: Option<Value> = serde_json::from_slice(payload).ok();
    parsed
        .as_ref()
        .and_then(|value| value.get("message").or_else(|| value.get("Message")))
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| String::from_utf8_lossy(payload).into_owned())
}

impl StreamDecoder for BedrockStreamDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        if self.ended {
            return Ok(());
        }
        for message in self.frames.feed(bytes)? {
            self.handle(&message, out)?;
            if self.ended {
                break;
            }
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        if self.ended {
            return Ok(());
        }
        if self.frames.has_pending() {
            return Err(TranslateError::upstream(
                "the stream was cut in the middle of an event-stream message",
            ));
        }
        if self.message_stopped {
            // `metadata` (usage) never came, but the answer itself is complete.
            self.end(out);
            return Ok(());
        }
        Err(TranslateError::upstream(
            "the stream ended before its messageStop event",
        ))
    }
}

/// Writes canonical events as ConverseStream frames.
///
/// Usage is held until `End` and written as the one `metadata` event Bedrock sends last
/// (after `messageStop`), with the largest counts reported.
#[derive(Debug, Default)]
pub struct BedrockStreamEncoder {
    usage: Usage,
}

impl BedrockStreamEncoder {
    pub fn new() -> Self {
        Self::default()
    }
}

fn event_frame(event_type: &str, payload: &Value, out: &mut BytesMut) {
    let body = serde_json::to_vec(payload).unwrap_or_default();
    out.extend_from_slice(&encode_message(
        &[
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        &body,
    ));
}

fn delta_frame(index: u32, delta: Value, out: &mut BytesMut) {
    event_frame(
        "contentBlockDelta",
        &json!({"contentBlockIndex": index, "delta": delta}),
        out,
    );
}

impl StreamEncoder for BedrockStreamEncoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut BytesMut) {
        match event {
            StreamEvent::Start { .. } => {
                event_frame("messageStart", &json!({"role": "assistant"}), out)
            }
            StreamEvent::BlockStart { index, block } => match block {
                // Text blocks have no start event on the wire.
                BlockKind::Text => {}
                // An empty reasoning delta marks the block as thinking even when no text
                // follows (a signature-only block).
                BlockKind::Thinking => {
                    delta_frame(*index, json!({"reasoningContent": {"text": ""}}), out);
                }
                BlockKind::RedactedThinking { data } => {
                    delta_frame(
                        *index,
                        json!({"reasoningContent": {"redactedContent": data}}),
                        out,
                    );
                }
                BlockKind::ToolCall { id, name } => event_frame(
                    "contentBlockStart",
                    &json!({"contentBlockIndex": index, "start": {"toolUse": {"toolUseId": id, "name": name}}}),
                    out,
                ),
            },
            StreamEvent::TextDelta { index, text } => {
                delta_frame(*index, json!({"text": text}), out)
            }
            StreamEvent::ThinkingDelta { index, text } => {
                delta_frame(*index, json!({"reasoningContent": {"text": text}}), out);
            }
            StreamEvent::SignatureDelta { index, signature } => {
                delta_frame(
                    *index,
                    json!({"reasoningContent": {"signature": signature}}),
                    out,
                );
            }
            StreamEvent::ToolArgumentsDelta { index, json } => {
                delta_frame(*index, json!({"toolUse": {"input": json}}), out);
            }
            StreamEvent::BlockStop { index } => {
                event_frame(
                    "contentBlockStop",
                    &json!({"contentBlockIndex": index}),
                    out,
                );
            }
            StreamEvent::Finish {
                reason,
                stop_sequence,
            } => {
                let mut payload = Map::new();
                payload.insert(
                    "stopReason".to_string(),
                    json!(finish_reason_to_wire(Some(reason))),
                );
                if let Some(stop_sequence) = stop_sequence {
                    payload.insert(
                        "additionalModelResponseFields".to_string(),
                        json!({"stop_sequence": stop_sequence}),
                    );
                }
                event_frame("messageStop", &Value::Object(payload), out);
            }
            StreamEvent::Usage(usage) => self.usage.merge(usage),
            StreamEvent::Error(error) => {
                let body =
                    serde_json::to_vec(&json!({"message": error.message})).unwrap_or_default();
                out.extend_from_slice(&encode_message(
                    &[
                        (":exception-type", exception_name(error.kind)),
                        (":content-type", "application/json"),
                        (":message-type", "exception"),
                    ],
                    &body,
                ));
            }
            StreamEvent::End => event_frame(
                "metadata",
                &json!({"usage": usage_to_wire(&self.usage), "metrics": {"latencyMs": 0}}),
                out,
            ),
        }
    }
}
