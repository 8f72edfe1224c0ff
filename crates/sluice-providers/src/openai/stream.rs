//! Streamed Chat Completions: `data: {chat.completion.chunk}` events ending with
//! `data: [DONE]`, to and from canonical stream events.

use std::collections::HashSet;

use bytes::BytesMut;
use serde::Deserialize;
use serde_json::{Value, json};
use sluice_core::chat::{BlockKind, StreamEvent, Usage};

use super::chat::{WireUsage, decode_finish_reason, encode_finish_reason, encode_usage, unix_now};
use super::errors::decode_stream_error;
use crate::dialect::{StreamDecoder, StreamEncoder, TranslateError};
use crate::sse::{SseParser, write_event};

// ---------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------

#[derive(Deserialize)]
struct WireChunk {
    #[serde(default)]
    id: String,
    #[serde(default)]
    model: String,
    /// vLLM ends with a usage chunk whose `choices` is `null`.
    #[serde(default, deserialize_with = "null_as_empty")]
    choices: Vec<WireChunkChoice>,
    usage: Option<WireUsage>,
}

fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

#[derive(Deserialize)]
struct WireChunkChoice {
    #[serde(default)]
    index: u32,
    delta: Option<WireDelta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
struct WireDelta {
    content: Option<String>,
    refusal: Option<String>,
    /// DeepSeek and vLLM stream reasoning as `reasoning_content`, OpenRouter as
    /// `reasoning`.
    reasoning_content: Option<String>,
    reasoning: Option<String>,
    tool_calls: Option<Vec<WireToolCallDelta>>,
}

#[derive(Deserialize)]
struct WireToolCallDelta {
    /// Which tool call of the answer this piece belongs to.
    index: Option<u32>,
    id: Option<String>,
    function: Option<WireFunctionDelta>,
}

#[derive(Deserialize)]
struct WireFunctionDelta {
    name: Option<String>,
    arguments: Option<String>,
}

/// The block being streamed.
#[derive(Debug)]
enum OpenBlock {
    Text(u32),
    Thinking(u32),
    Tool {
        index: u32,
        /// The `tool_calls[].index` it came with, if the server sends one.
        wire_index: Option<u32>,
        id: String,
    },
}

impl OpenBlock {
    fn index(&self) -> u32 {
        match self {
            OpenBlock::Text(index) | OpenBlock::Thinking(index) => *index,
            OpenBlock::Tool { index, .. } => *index,
        }
    }
}

/// Turns an OpenAI chat completion stream into canonical events.
///
/// `Start` comes from the first chunk with content or usage (Azure's leading chunk of
/// prompt-filter results has neither); a text block opens with the first non-empty
/// `content` (or `refusal`), a thinking block with `reasoning_content`, and each tool
/// call with its first piece. `finish_reason` closes the open block and gives `Finish`;
/// every `usage` gives `Usage`; `[DONE]` gives `End`. A stream that ends after its
/// `finish_reason` but without `[DONE]` (some compatible servers) ends normally.
#[derive(Debug, Default)]
pub struct OpenAiStreamDecoder {
    parser: SseParser,
    started: bool,
    open: Option<OpenBlock>,
    next_index: u32,
    /// Tool-call indexes already streamed, to notice one that resumes after another.
    seen_tool_indexes: HashSet<u32>,
    finished: bool,
    /// `End` or `Error` was emitted: nothing follows.
    ended: bool,
}

impl OpenAiStreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    fn on_data(&mut self, data: &str, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        if self.ended {
            return Ok(());
        }
        if data.trim() == "[DONE]" {
            if !self.finished {
                return Err(TranslateError::upstream(
                    "the stream ended with [DONE] before any finish_reason",
                ));
            }
            self.end(out);
            return Ok(());
        }
        let value: Value = serde_json::from_str(data)
            .map_err(|err| TranslateError::upstream(format!("chat.completion.chunk: {err}")))?;
        let is_error = value.get("error").is_some_and(|error| !error.is_null())
            || value.get("object").and_then(Value::as_str) == Some("error");
        if is_error {
            self.close_block(out);
            out.push(StreamEvent::Error(decode_stream_error(&value)));
            self.ended = true;
            return Ok(());
        }
        let chunk: WireChunk = serde_json::from_value(value)
            .map_err(|err| TranslateError::upstream(format!("chat.completion.chunk: {err}")))?;
        if !self.started {
            if chunk.choices.is_empty() && chunk.usage.is_none() {
                return Ok(());
            }
            out.push(StreamEvent::Start {
                id: chunk.id,
                model: chunk.model,
            });
            self.started = true;
        }
        // `n` is 1 on every path that decodes (the request decoder refuses more); nothing
        // may follow `Finish` but usage.
        let already_finished = self.finished;
        let choices = chunk
            .choices
            .into_iter()
            .filter(|choice| choice.index == 0 && !already_finished);
        for choice in choices {
            let delta = choice.delta.unwrap_or_default();
            if let Some(thought) = delta.reasoning_content.or(delta.reasoning) {
                self.thinking(thought, out);
            }
            for text in [delta.content, delta.refusal].into_iter().flatten() {
                self.text(text, out);
            }
            for call in delta.tool_calls.unwrap_or_default() {
                self.tool_call(call, out)?;
            }
            if let Some(reason) = choice.finish_reason {
                self.close_block(out);
                out.push(StreamEvent::Finish {
                    reason: decode_finish_reason(&reason),
                    stop_sequence: None,
                });
                self.finished = true;
            }
        }
        if let Some(usage) = chunk.usage {
            out.push(StreamEvent::Usage(usage.to_usage()));
        }
        Ok(())
    }

    fn thinking(&mut self, text: String, out: &mut Vec<StreamEvent>) {
        if text.is_empty() {
            return;
        }
        let index = match self.open {
            Some(OpenBlock::Thinking(index)) => index,
            _ => {
                let index = self.open_block(BlockKind::Thinking, out);
                self.open = Some(OpenBlock::Thinking(index));
                index
            }
        };
        out.push(StreamEvent::ThinkingDelta { index, text });
    }

    fn text(&mut self, text: String, out: &mut Vec<StreamEvent>) {
        if text.is_empty() {
            return;
        }
        let index = match self.open {
            Some(OpenBlock::Text(index)) => index,
            _ => {
                let index = self.open_block(BlockKind::Text, out);
                self.open = Some(OpenBlock::Text(index));
                index
            }
        };
        out.push(StreamEvent::TextDelta { index, text });
    }

    fn tool_call(
        &mut self,
        call: WireToolCallDelta,
        out: &mut Vec<StreamEvent>,
    ) -> Result<(), TranslateError> {
        let continues_open = match &self.open {
            Some(OpenBlock::Tool { wire_index, id, .. }) => match (call.index, &call.id) {
                (Some(index), _) => *wire_index == Some(index),
                // Without indexes, a new id means a new call.
                (None, Some(new_id)) => new_id.is_empty() || new_id == id,
                (None, None) => true,
            },
            _ => false,
        };
        let (name, arguments) = match call.function {
            Some(function) => (function.name, function.arguments),
            None => (None, None),
        };
        let index = match (&self.open, continues_open) {
            (Some(open), true) => open.index(),
            _ => {
                if let Some(wire_index) = call.index
                    && !self.seen_tool_indexes.insert(wire_index)
                {
                    // Canonical blocks cannot reopen; no known server interleaves calls.
                    return Err(TranslateError::upstream(format!(
                        "tool call {wire_index} resumed after another tool call started"
                    )));
                }
                let id = call.id.unwrap_or_default();
                let block = BlockKind::ToolCall {
                    id: id.clone(),
                    name: name.unwrap_or_default(),
                };
                let index = self.open_block(block, out);
                self.open = Some(OpenBlock::Tool {
                    index,
                    wire_index: call.index,
                    id,
                });
                index
            }
        };
        if let Some(json) = arguments
            && !json.is_empty()
        {
            out.push(StreamEvent::ToolArgumentsDelta { index, json });
        }
        Ok(())
    }

    /// Closes the open block and starts a new one; returns its index.
    fn open_block(&mut self, block: BlockKind, out: &mut Vec<StreamEvent>) -> u32 {
        self.close_block(out);
        let index = self.next_index;
        self.next_index += 1;
        out.push(StreamEvent::BlockStart { index, block });
        index
    }

    fn close_block(&mut self, out: &mut Vec<StreamEvent>) {
        if let Some(open) = self.open.take() {
            out.push(StreamEvent::BlockStop {
                index: open.index(),
            });
        }
    }

    fn end(&mut self, out: &mut Vec<StreamEvent>) {
        self.close_block(out);
        out.push(StreamEvent::End);
        self.ended = true;
    }
}

impl StreamDecoder for OpenAiStreamDecoder {
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        for event in self.parser.events(bytes) {
            self.on_data(&event.data, out)?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError> {
        if let Some(event) = self.parser.finish() {
            self.on_data(&event.data, out)?;
        }
        if self.ended {
            return Ok(());
        }
        if self.finished {
            self.end(out);
            return Ok(());
        }
        Err(TranslateError::upstream(
            "the stream ended before its finish_reason",
        ))
    }
}

// ---------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------

/// Writes canonical events as an OpenAI chat completion stream.
///
/// `Start` writes the first chunk (`delta.role: "assistant"`, `content: ""`); text deltas
/// become `delta.content`, thinking deltas `delta.reasoning_content` (DeepSeek's field,
/// which OpenAI's own clients ignore); a tool block writes `tool_calls[{index, id, type,
/// function{name, arguments: ""}}]` and its argument pieces follow under the same
/// `index` (the call's ordinal). `Finish` writes the chunk with `finish_reason`.
/// Usage is held until `End`, because OpenAI reports it once, in a last chunk with
/// `choices: []` (written only when `include_usage`); `End` then writes `[DONE]`. An
/// `Error` writes `{"error":{...}}` and ends the stream.
#[derive(Debug)]
pub struct OpenAiStreamEncoder {
    include_usage: bool,
    id: String,
    model: String,
    created: u64,
    /// Canonical index of each tool block, by ordinal.
    tool_blocks: Vec<u32>,
    usage: Option<Usage>,
    done: bool,
}

impl OpenAiStreamEncoder {
    pub fn new(include_usage: bool) -> Self {
        Self {
            include_usage,
            id: String::new(),
            model: String::new(),
            created: 0,
            tool_blocks: Vec::new(),
            usage: None,
            done: false,
        }
    }

    fn chunk(&self, delta: Value, finish_reason: Option<&str>, out: &mut BytesMut) {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": 0,
                "delta": delta,
                "logprobs": null,
                "finish_reason": finish_reason,
            }],
        });
        self.write(&mut chunk, out);
    }

    /// Writes a chunk; with `include_usage`, every chunk but the last has `usage: null`.
    fn write(&self, chunk: &mut Value, out: &mut BytesMut) {
        if self.include_usage
            && let Some(object) = chunk.as_object_mut()
        {
            object.entry("usage").or_insert(Value::Null);
        }
        // Serialising a `Value` cannot fail.
        write_event(out, None, &serde_json::to_vec(chunk).unwrap_or_default());
    }

    fn tool_ordinal(&self, index: u32) -> Option<usize> {
        self.tool_blocks.iter().position(|&block| block == index)
    }
}

impl StreamEncoder for OpenAiStreamEncoder {
    fn encode(&mut self, event: &StreamEvent, out: &mut BytesMut) {
        if self.done {
            return;
        }
        match event {
            StreamEvent::Start { id, model } => {
                self.id = id.clone();
                self.model = model.clone();
                self.created = unix_now();
                self.chunk(json!({"role": "assistant", "content": ""}), None, out);
            }
            StreamEvent::BlockStart {
                index,
                block: BlockKind::ToolCall { id, name },
            } => {
                let ordinal = self.tool_blocks.len();
                self.tool_blocks.push(*index);
                let call = json!({
                    "index": ordinal,
                    "id": id,
                    "type": "function",
                    "function": {"name": name, "arguments": ""},
                });
                self.chunk(json!({"tool_calls": [call]}), None, out);
            }
            // Text and thinking start with their first delta; redacted thinking and
            // signatures have no place in this dialect.
            StreamEvent::BlockStart { .. }
            | StreamEvent::BlockStop { .. }
            | StreamEvent::SignatureDelta { .. } => {}
            StreamEvent::TextDelta { text, .. } => {
                self.chunk(json!({"content": text}), None, out);
            }
            StreamEvent::ThinkingDelta { text, .. } => {
                self.chunk(json!({"reasoning_content": text}), None, out);
            }
            StreamEvent::ToolArgumentsDelta { index, json } => {
                if let Some(ordinal) = self.tool_ordinal(*index) {
                    let call = json!({"index": ordinal, "function": {"arguments": json}});
                    self.chunk(json!({"tool_calls": [call]}), None, out);
                }
            }
            StreamEvent::Finish { reason, .. } => {
                self.chunk(json!({}), Some(encode_finish_reason(reason)), out);
            }
            StreamEvent::Usage(usage) => {
                self.usage.get_or_insert_with(Usage::default).merge(usage);
            }
            StreamEvent::Error(error) => {
                write_event(out, None, &error.to_openai_json());
                self.done = true;
            }
            StreamEvent::End => {
                if self.include_usage {
                    let mut chunk = json!({
                        "id": self.id,
                        "object": "chat.completion.chunk",
                        "created": self.created,
                        "model": self.model,
                        "choices": [],
                        "usage": encode_usage(&self.usage.unwrap_or_default()),
                    });
                    self.write(&mut chunk, out);
                }
                write_event(out, None, b"[DONE]");
                self.done = true;
            }
        }
    }
}
