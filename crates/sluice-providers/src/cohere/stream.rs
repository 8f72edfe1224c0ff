//! Streamed answers: Cohere's server-sent events (`event: <type>` with
//! `data: {"type": <type>, ...}`) to canonical stream events and back.
//!
//! Cohere numbers content blocks and tool calls with two separate counters and sends the
//! tool plan with no block around it; the decoder renumbers all of them into one series
//! of canonical blocks, and the encoder splits it again.

use bytes::BytesMut;
use serde_json::{Value, json};
use sluice_core::chat::{BlockKind, FinishReason, StreamEvent, Usage};
use sluice_core::{ApiError, ErrorKind};

use super::response::{decode_finish_reason, decode_usage, encode_finish_reason, encode_usage};
use super::wire::{StreamDeltaWire, StreamEventWire};
use crate::dialect::{StreamDecoder, StreamEncoder, TranslateError};
use crate::sse::{SseEvent, SseParser, write_event};

/// Where an open canonical block came from on Cohere's side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// A content block (`content-start`), by Cohere's content index.
    Content { index: u32, thinking: bool },
    /// The tool plan (`tool-plan-delta`), read as text.
    ToolPlan,
    /// A tool call (`tool-call-start`), by Cohere's tool-call index.
    ToolCall { index: u32 },
}

impl Source {
    fn content_index(self) -> Option<u32> {
        match self {
            Source::Content { index, .. } => Some(index),
            _ => None,
        }
    }

    fn tool_call_index(self) -> Option<u32> {
        match self {
            Source::ToolCall { index } => Some(index),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct OpenBlock {
    index: u32,
    source: Source,
}

/// Decodes Cohere's chat stream into canonical events.
#[derive(Debug, Default)]
pub struct CohereStreamDecoder {
    parser: SseParser,
    started: bool,
    /// `message-end` (or an error) arrived: nothing more is read.
    done: bool,
    next_index: u32,
    open: Option<OpenBlock>,
}

impl CohereStreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn handle(
        &mut self,
        event: SseEvent,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        let data = event.data.trim();
        if self.done || data.is_empty() || data == "[DONE]" {
            return Ok(());
        }
        let wire: StreamEventWire = serde_json::from_str(data)
            .map_err(|err| TranslateError::upstream(format!("Cohere stream event: {err}")))?;
        let kind = wire.kind.clone().or(event.event).unwrap_or_default();
        let delta = wire.delta.unwrap_or_default();
        let message = delta.message.as_ref();

        if kind == "message-start" {
            if !self.started {
                self.started = true;
                out.push(StreamEvent::Start {
                    id: wire.id.unwrap_or_default(),
                    model: String::new(),
                });
            }
            return Ok(());
        }
        let relevant = matches!(
            kind.as_str(),
            "content-start"
                | "content-delta"
                | "content-end"
                | "tool-plan-delta"
                | "tool-call-start"
                | "tool-call-delta"
                | "tool-call-end"
                | "message-end"
        );
        // Citations, debug events and newer kinds carry nothing canonical.
        if !relevant {
            return Ok(());
        }
        if !self.started {
            return Err(TranslateError::upstream(format!(
                "Cohere stream: `{kind}` before `message-start`"
            )));
        }

        match kind.as_str() {
            "content-start" | "content-delta" => {
                let index = wire.index.unwrap_or(0);
                let content = message.and_then(|message| message.content.as_ref());
                let thinking = match content {
                    Some(content) => {
                        content.kind.as_deref() == Some("thinking")
                            || (content.kind.is_none()
                                && content.thinking.is_some()
                                && content.text.is_none())
                    }
                    None => false,
                };
                // A delta continues the open block of its index, whatever field it fills.
                let source = match self.open {
                    Some(open) if open.source.content_index() == Some(index) => open.source,
                    _ => Source::Content { index, thinking },
                };
                let block = self.open_block(source, out);
                if let (Some(content), Source::Content { thinking, .. }) = (content, source) {
                    let piece = if thinking {
                        content.thinking.as_deref()
                    } else {
                        content.text.as_deref()
                    };
                    if let Some(piece) = piece.filter(|piece| !piece.is_empty()) {
                        out.push(if thinking {
                            StreamEvent::ThinkingDelta {
                                index: block,
                                text: piece.to_string(),
                            }
                        } else {
                            StreamEvent::TextDelta {
                                index: block,
                                text: piece.to_string(),
                            }
                        });
                    }
                }
            }
            "content-end" => {
                let index = wire.index.unwrap_or(0);
                if self.open.and_then(|open| open.source.content_index()) == Some(index) {
                    self.close_block(out);
                }
            }
            "tool-plan-delta" => {
                let block = self.open_block(Source::ToolPlan, out);
                if let Some(plan) = message
                    .and_then(|message| message.tool_plan.as_deref())
                    .filter(|plan| !plan.is_empty())
                {
                    out.push(StreamEvent::TextDelta {
                        index: block,
                        text: plan.to_string(),
                    });
                }
            }
            "tool-call-start" => {
                let index = wire.index.unwrap_or(0);
                let call = message.and_then(|message| message.tool_calls.as_ref());
                let function = call.and_then(|call| call.function.as_ref());
                let id = call.and_then(|call| call.id.clone()).unwrap_or_default();
                let name = function
                    .and_then(|function| function.name.clone())
                    .unwrap_or_default();
                self.close_block(out);
                let block = self.next_index;
                self.next_index += 1;
                self.open = Some(OpenBlock {
                    index: block,
                    source: Source::ToolCall { index },
                });
                out.push(StreamEvent::BlockStart {
                    index: block,
                    block: BlockKind::ToolCall { id, name },
                });
                if let Some(arguments) = function
                    .and_then(|function| function.arguments.as_deref())
                    .filter(|arguments| !arguments.is_empty())
                {
                    out.push(StreamEvent::ToolArgumentsDelta {
                        index: block,
                        json: arguments.to_string(),
                    });
                }
            }
            "tool-call-delta" => {
                let index = wire.index.unwrap_or(0);
                let Some(block) = self
                    .open
                    .filter(|open| open.source.tool_call_index() == Some(index))
                    .map(|open| open.index)
                else {
                    return Err(TranslateError::upstream(format!(
                        "Cohere stream: `tool-call-delta` for tool call {index}, which has not started"
                    )));
                };
                if let Some(arguments) = message
                    .and_then(|message| message.tool_calls.as_ref())
                    .and_then(|call| call.function.as_ref())
                    .and_then(|function| function.arguments.as_deref())
                    .filter(|arguments| !arguments.is_empty())
                {
                    out.push(StreamEvent::ToolArgumentsDelta {
                        index: block,
                        json: arguments.to_string(),
                    });
                }
            }
            "tool-call-end" => {
                let index = wire.index.unwrap_or(0);
                if self.open.and_then(|open| open.source.tool_call_index()) == Some(index) {
                    self.close_block(out);
                }
            }
            "message-end" => self.end(delta, out),
            _ => {}
        }
        Ok(())
    }

    /// The open block if it came from `source`, else a new one (closing the open one).
    fn open_block(&mut self, source: Source, out: &mut Vec<StreamEvent>) -> u32 {
        if let Some(open) = self.open
            && open.source == source
        {
            return open.index;
        }
        self.close_block(out);
        let index = self.next_index;
        self.next_index += 1;
        self.open = Some(OpenBlock { index, source });
        let block = match source {
            Source::Content { thinking: true, .. } => BlockKind::Thinking,
            _ => BlockKind::Text,
        };
        out.push(StreamEvent::BlockStart { index, block });
        index
    }

    fn close_block(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(open) = self.open.take() {
            out.push(StreamEvent::BlockStop { index: open.index });
        }
    }

    fn end(&mut self, delta: StreamDeltaWire, out: &mut Vec<StreamEvent>) {
        self.done = true;
        // A failed generation stops where it is: the open block is not closed.
        if let Some(error) = delta.error.filter(|error| !error.is_empty()) {
            out.push(StreamEvent::Error(ApiError::new(
                ErrorKind::ProviderError,
                error,
            )));
            return;
        }
        self.close_block(out);
        out.push(StreamEvent::Finish {
            reason: delta
                .finish_reason
                .as_deref()
                .map_or(FinishReason::EndTurn, decode_finish_reason),
            stop_sequence: None,
        });
        if let Some(usage) = &delta.usage {
            out.push(StreamEvent::Usage(decode_usage(usage)));
        }
        out.push(StreamEvent::End);
    }
}

impl StreamDecoder for CohereStreamDecoder {
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
                "the Cohere stream ended before `message-end`",
            ))
        }
    }
}

/// Which Cohere block a canonical block is written as.
#[derive(Clone, Copy, Debug)]
enum Target {
    Content {
        index: u32,
    },
    ToolCall {
        index: u32,
    },
    /// Redacted thinking: Cohere has no place for it.
    Skipped,
}

/// Writes canonical events as Cohere's chat stream. Text blocks become content blocks
/// (never `tool-plan-delta`: whether tool calls follow is not yet known); `Finish` and
/// `Usage` are held until `End`, which writes `message-end` with both.
#[derive(Debug, Default)]
pub struct CohereStreamEncoder {
    id: String,
    next_content: u32,
    next_tool_call: u32,
    open: Option<(u32, Target)>,
    finish_reason: Option<FinishReason>,
    usage: Option<Usage>,
    done: bool,
}

impl CohereStreamEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn target(&self, index: u32) -> Option<Target> {
        match self.open {
            Some((open, target)) if open == index => Some(target),
            _ => None,
        }
    }
}

fn write(out: &mut BytesMut, kind: &str, data: Value) {
    write_event(out, Some(kind), data.to_string().as_bytes());
}

impl StreamEncoder for CohereStreamEncoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut BytesMut) {
        if self.done {
            return;
        }
        match event {
            StreamEvent::Start { id, .. } => {
                self.id = id.clone();
                write(
                    out,
                    "message-start",
                    json!({"type": "message-start", "id": id, "delta": {"message": {"role": "assistant"}}}),
                );
            }
            StreamEvent::BlockStart { index, block } => {
                let target = match block {
                    BlockKind::Text | BlockKind::Thinking => {
                        let content = self.next_content;
                        self.next_content += 1;
                        let start = if matches!(block, BlockKind::Thinking) {
                            json!({"type": "thinking", "thinking": ""})
                        } else {
                            json!({"type": "text", "text": ""})
                        };
                        write(
                            out,
                            "content-start",
                            json!({"type": "content-start", "index": content, "delta": {"message": {"content": start}}}),
                        );
                        Target::Content { index: content }
                    }
                    BlockKind::ToolCall { id, name } => {
                        let call = self.next_tool_call;
                        self.next_tool_call += 1;
                        write(
                            out,
                            "tool-call-start",
                            json!({"type": "tool-call-start", "index": call, "delta": {"message": {"tool_calls": {
                                "id": id, "type": "function", "function": {"name": name, "arguments": ""}
                            }}}}),
                        );
                        Target::ToolCall { index: call }
                    }
                    BlockKind::RedactedThinking { .. } => Target::Skipped,
                };
                self.open = Some((*index, target));
            }
            StreamEvent::TextDelta { index, text } => {
                if let Some(Target::Content { index: content }) = self.target(*index) {
                    write(
                        out,
                        "content-delta",
                        json!({"type": "content-delta", "index": content, "delta": {"message": {"content": {"text": text}}}}),
                    );
                }
            }
            StreamEvent::ThinkingDelta { index, text } => {
                if let Some(Target::Content { index: content }) = self.target(*index) {
                    write(
                        out,
                        "content-delta",
                        json!({"type": "content-delta", "index": content, "delta": {"message": {"content": {"thinking": text}}}}),
                    );
                }
            }
            StreamEvent::ToolArgumentsDelta { index, json } => {
                if let Some(Target::ToolCall { index: call }) = self.target(*index) {
                    write(
                        out,
                        "tool-call-delta",
                        json!({"type": "tool-call-delta", "index": call, "delta": {"message": {"tool_calls": {"function": {"arguments": json}}}}}),
                    );
                }
            }
            // Cohere thinking carries no signature.
            StreamEvent::SignatureDelta { .. } => {}
            StreamEvent::BlockStop { index } => {
                let Some(target) = self.target(*index) else {
                    return;
                };
                self.open = None;
                match target {
                    Target::Content { index: content } => write(
                        out,
                        "content-end",
                        json!({"type": "content-end", "index": content}),
                    ),
                    Target::ToolCall { index: call } => write(
                        out,
                        "tool-call-end",
                        json!({"type": "tool-call-end", "index": call}),
                    ),
                    Target::Skipped => {}
                }
            }
            StreamEvent::Finish { reason, .. } => self.finish_reason = Some(reason.clone()),
            StreamEvent::Usage(usage) => match &mut self.usage {
                Some(known) => known.merge(usage),
                None => self.usage = Some(*usage),
            },
            StreamEvent::Error(error) => {
                self.done = true;
                write(
                    out,
                    "message-end",
                    json!({"type": "message-end", "id": self.id, "delta": {"error": error.message, "finish_reason": "ERROR"}}),
                );
            }
            StreamEvent::End => {
                self.done = true;
                let reason = self
                    .finish_reason
                    .as_ref()
                    .map_or("COMPLETE", encode_finish_reason);
                let mut delta = json!({"finish_reason": reason});
                if let (Some(usage), Some(fields)) = (&self.usage, delta.as_object_mut()) {
                    fields.insert(
                        "usage".to_string(),
                        serde_json::to_value(encode_usage(usage)).unwrap_or(Value::Null),
                    );
                }
                write(
                    out,
                    "message-end",
                    json!({"type": "message-end", "id": self.id, "delta": delta}),
                );
            }
        }
    }
}
