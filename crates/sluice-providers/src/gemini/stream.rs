//! `streamGenerateContent?alt=sse`: every `data:` is a whole `GenerateContentResponse`
//! chunk; there is no end marker, so a stream is complete when a chunk carried a
//! `finishReason` and the body then ended.

use bytes::BytesMut;
use serde_json::{Value, json};
use sluice_core::chat::{BlockKind, FinishReason, StreamEvent, Usage};

use super::error::{api_error_for, error_object, google_status_for};
use super::parts::{
    CallIds, decode_finish_reason, decode_usage, encode_finish_reason, encode_usage,
    made_up_response_id,
};
use crate::sse::{SseParser, write_event};
use crate::{StreamDecoder, StreamEncoder, TranslateError};

/// What kind of content block is open in the canonical stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OpenBlock {
    Text,
    Thinking,
}

/// Turns a Gemini SSE stream into canonical events.
#[derive(Debug, Default)]
pub struct GeminiStreamDecoder {
    parser: SseParser,
    started: bool,
    ids: Option<CallIds>,
    next_index: u32,
    open: Option<(u32, OpenBlock)>,
    called_tools: bool,
    finished: bool,
    usage: Option<Usage>,
    /// An error ended the stream: the rest is ignored.
    failed: bool,
    /// The first malformed chunk, reported on the next `feed`/`finish`.
    broken: Option<String>,
}

impl GeminiStreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn chunk(&mut self, data: &str, out: &mut Vec<StreamEvent>) {
        if self.failed || self.broken.is_some() || data.trim().is_empty() {
            return;
        }
        let value: Value = match serde_json::from_str(data) {
            Ok(value) => value,
            Err(err) => {
                self.broken = Some(format!("Gemini stream chunk: {err}"));
                return;
            }
        };
        if let Some(error) = error_object(&value) {
            let message = error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("Gemini reported an error in the stream")
                .to_string();
            let status = error.get("status").and_then(Value::as_str).unwrap_or("");
            let code = error
                .get("code")
                .and_then(Value::as_u64)
                .and_then(|code| u16::try_from(code).ok())
                .and_then(|code| http::StatusCode::from_u16(code).ok())
                .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
            self.close_block(out);
            out.push(StreamEvent::Error(api_error_for(status, code, message)));
            self.failed = true;
            return;
        }
        if !self.started {
            let id = value
                .get("responseId")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(made_up_response_id);
            let model = value
                .get("modelVersion")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            self.ids = Some(CallIds::for_response(&id));
            out.push(StreamEvent::Start { id, model });
            self.started = true;
        }
        let candidate = value
            .get("candidates")
            .and_then(Value::as_array)
            .and_then(|candidates| candidates.first());
        // Parts after the finishing chunk would have no block to go in.
        if !self.finished
            && let Some(parts) = candidate
                .and_then(|candidate| candidate.pointer("/content/parts"))
                .and_then(Value::as_array)
        {
            for part in parts {
                self.part(part, out);
            }
        }
        if let Some(usage) = value.get("usageMetadata").map(decode_usage) {
            self.usage.get_or_insert_with(Usage::default).merge(&usage);
        }
        let reason = candidate
            .and_then(|candidate| candidate.get("finishReason"))
            .and_then(Value::as_str)
            .map(|reason| decode_finish_reason(reason, self.called_tools))
            .or_else(|| {
                // A blocked prompt has no candidate at all.
                (candidate.is_none() && value.pointer("/promptFeedback/blockReason").is_some())
                    .then_some(FinishReason::ContentFilter)
            });
        let already_finished = self.finished;
        if let Some(reason) = reason.filter(|_| !self.finished) {
            self.close_block(out);
            out.push(StreamEvent::Finish {
                reason,
                stop_sequence: None,
            });
            self.finished = true;
        }
        // Usage is held until the answer is finished, so it never interrupts content;
        // after that every report is passed on.
        let report = (self.finished && !already_finished)
            || (already_finished && value.get("usageMetadata").is_some());
        if report && let Some(usage) = self.usage {
            out.push(StreamEvent::Usage(usage));
        }
    }

    fn part(&mut self, part: &Value, out: &mut Vec<StreamEvent>) {
        let signature = part.get("thoughtSignature").and_then(Value::as_str);
        let text = part.get("text").and_then(Value::as_str);
        if part.get("thought").and_then(Value::as_bool) == Some(true) {
            let index = self.ensure_open(OpenBlock::Thinking, out);
            if let Some(text) = text.filter(|text| !text.is_empty()) {
                out.push(StreamEvent::ThinkingDelta {
                    index,
                    text: text.to_string(),
                });
            }
            if let Some(signature) = signature {
                out.push(StreamEvent::SignatureDelta {
                    index,
                    signature: signature.to_string(),
                });
                // A signature ends its thinking block.
                self.close_block(out);
            }
            return;
        }
        if let Some(signature) = signature {
            self.close_block(out);
            let index = self.ensure_open(OpenBlock::Thinking, out);
            out.push(StreamEvent::SignatureDelta {
                index,
                signature: signature.to_string(),
            });
            self.close_block(out);
        }
        if let Some(text) = text {
            if !text.is_empty() {
                let index = self.ensure_open(OpenBlock::Text, out);
                out.push(StreamEvent::TextDelta {
                    index,
                    text: text.to_string(),
                });
            }
        } else if let Some(call) = part.get("functionCall") {
            self.close_block(out);
            let name = call
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let explicit = call.get("id").and_then(Value::as_str);
            let id = self
                .ids
                .get_or_insert_with(|| CallIds::new("call_".into()))
                .call(explicit, &name);
            let json = match call.get("args") {
                None | Some(Value::Null) => "{}".to_string(),
                Some(args) => args.to_string(),
            };
            let index = self.next_index;
            self.next_index += 1;
            out.push(StreamEvent::BlockStart {
                index,
                block: BlockKind::ToolCall { id, name },
            });
            out.push(StreamEvent::ToolArgumentsDelta { index, json });
            out.push(StreamEvent::BlockStop { index });
            self.called_tools = true;
        }
        // Inline media and code-execution parts have no place in a canonical stream.
    }

    fn ensure_open(&mut self, kind: OpenBlock, out: &mut Vec<StreamEvent>) -> u32 {
        if let Some((index, open)) = self.open {
            if open == kind {
                return index;
            }
            self.close_block(out);
        }
        let index = self.next_index;
        self.next_index += 1;
        out.push(StreamEvent::BlockStart {
            index,
            block: match kind {
                OpenBlock::Text => BlockKind::Text,
                OpenBlock::Thinking => BlockKind::Thinking,
            },
        });
        self.open = Some((index, kind));
        index
    }

    fn close_block(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some((index, _)) = self.open.take() {
            out.push(StreamEvent::BlockStop { index });
        }
    }

    fn take_broken(&mut self) -> Result<(), TranslateError> {
        match self.broken.take() {
            Some(message) => {
                // Reported once; the stream is over.
                self.failed = true;
                Err(TranslateError::upstream(message))
            }
            None => Ok(()),
        }
    }
}

impl StreamDecoder for GeminiStreamDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        for event in self.parser.events(bytes) {
            self.chunk(&event.data, out);
        }
        self.take_broken()
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        if let Some(event) = self.parser.finish() {
            self.chunk(&event.data, out);
        }
        self.take_broken()?;
        if self.failed {
            return Ok(());
        }
        if !self.finished {
            return Err(TranslateError::upstream(
                "the Gemini stream ended before a chunk with a finishReason",
            ));
        }
        out.push(StreamEvent::End);
        Ok(())
    }
}

/// Writes canonical events as a Gemini SSE stream: one chunk per delta, a whole
/// `functionCall` when its block ends, and `finishReason` with `usageMetadata` in the
/// last chunk (written at `End`, since usage may follow `Finish`).
#[derive(Debug, Default)]
pub struct GeminiStreamEncoder {
    id: String,
    model: String,
    tool_call: Option<(String, String, String)>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    done: bool,
}

impl GeminiStreamEncoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn write_chunk(&self, parts: Vec<Value>, out: &mut BytesMut) {
        let chunk = json!({
            "candidates": [{"content": {"role": "model", "parts": parts}, "index": 0}],
            "modelVersion": self.model,
            "responseId": self.id,
        });
        write_event(out, None, chunk.to_string().as_bytes());
    }
}

impl StreamEncoder for GeminiStreamEncoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut BytesMut) {
        if self.done {
            return;
        }
        match event {
            StreamEvent::Start { id, model } => {
                self.id = id.clone();
                self.model = model.clone();
            }
            StreamEvent::BlockStart {
                block: BlockKind::ToolCall { id, name },
                ..
            } => {
                self.tool_call = Some((id.clone(), name.clone(), String::new()));
            }
            // Text and thinking blocks begin with their first delta; encrypted thinking
            // has no Gemini form.
            StreamEvent::BlockStart { .. } => {}
            StreamEvent::TextDelta { text, .. } => {
                self.write_chunk(vec![json!({"text": text})], out);
            }
            StreamEvent::ThinkingDelta { text, .. } => {
                self.write_chunk(vec![json!({"text": text, "thought": true})], out);
            }
            StreamEvent::SignatureDelta { signature, .. } => {
                let part = json!({"text": "", "thought": true, "thoughtSignature": signature});
                self.write_chunk(vec![part], out);
            }
            StreamEvent::ToolArgumentsDelta { json, .. } => {
                if let Some((_, _, arguments)) = &mut self.tool_call {
                    arguments.push_str(json);
                }
            }
            StreamEvent::BlockStop { .. } => {
                if let Some((id, name, arguments)) = self.tool_call.take() {
                    // Arguments that are no JSON object cannot be `args`; Gemini clients
                    // get an empty object rather than a broken chunk.
                    let args = match serde_json::from_str::<Value>(&arguments) {
                        Ok(Value::Object(object)) => Value::Object(object),
                        _ => json!({}),
                    };
                    let part = json!({"functionCall": {"id": id, "name": name, "args": args}});
                    self.write_chunk(vec![part], out);
                }
            }
            StreamEvent::Finish { reason, .. } => self.finish = Some(reason.clone()),
            StreamEvent::Usage(usage) => {
                self.usage.get_or_insert_with(Usage::default).merge(usage);
            }
            StreamEvent::Error(error) => {
                let body = json!({"error": {
                    "code": error.status().as_u16(),
                    "message": error.message,
                    "status": google_status_for(error),
                }});
                write_event(out, None, body.to_string().as_bytes());
                self.done = true;
            }
            StreamEvent::End => {
                let mut candidate = json!({"content": {"role": "model", "parts": []}, "index": 0});
                if let Some(reason) = &self.finish {
                    candidate["finishReason"] = json!(encode_finish_reason(reason));
                }
                let mut chunk = json!({
                    "candidates": [candidate],
                    "modelVersion": self.model,
                    "responseId": self.id,
                });
                if let Some(usage) = &self.usage {
                    chunk["usageMetadata"] = encode_usage(usage);
                }
                write_event(out, None, chunk.to_string().as_bytes());
                self.done = true;
            }
        }
    }
}
