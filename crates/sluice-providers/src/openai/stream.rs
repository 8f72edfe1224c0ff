//! Streamed Chat Completions: `data: {chat.completion.chunk}` events ending with
//! `data: [DONE]`, to and from canonical stream events.

use std::borrow::Cow;
use std::collections::HashSet;

use bytes::{BufMut, BytesMut};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_core::chat::{BlockKind, StreamEvent, Usage};

use super::chat::{WireUsage, decode_finish_reason, encode_finish_reason, unix_now};
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
    /// Only to notice an error sent as a chunk, which is then read again as a `Value`.
    error: Option<IgnoredAny>,
    /// vLLM marks an error chunk with `"object": "error"`.
    object: Option<Value>,
}

impl WireChunk {
    fn is_error(&self) -> bool {
        self.error.is_some()
            || matches!(&self.object, Some(Value::String(object)) if object == "error")
    }
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
        // The common chunk is read straight into its struct; an error, or anything that
        // does not fit, is read again as a `Value` and judged as before.
        let chunk = match serde_json::from_str::<WireChunk>(data) {
            Ok(chunk) if !chunk.is_error() => chunk,
            _ => {
                let value: Value = serde_json::from_str(data).map_err(|err| {
                    TranslateError::upstream(format!("chat.completion.chunk: {err}"))
                })?;
                let is_error = value.get("error").is_some_and(|error| !error.is_null())
                    || value.get("object").and_then(Value::as_str) == Some("error");
                if is_error {
                    self.close_block(out);
                    out.push(StreamEvent::Error(decode_stream_error(&value)));
                    self.ended = true;
                    return Ok(());
                }
                serde_json::from_value(value).map_err(|err| {
                    TranslateError::upstream(format!("chat.completion.chunk: {err}"))
                })?
            }
        };
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
///
/// Chunks are written straight into the output: the fixed parts as bytes, the delta
/// through borrowed `Serialize` structs, and the `created`/`id`/`model`/`object` members
/// every chunk repeats serialised once, at `Start`. Keys come in the sorted order of
/// `serde_json`'s default map, as when the chunks were built as `Value`s.
#[derive(Debug)]
pub struct OpenAiStreamEncoder {
    include_usage: bool,
    /// `,"created":…,"id":…,"model":…,"object":"chat.completion.chunk"`: what follows
    /// `choices` in every chunk.
    envelope: Cow<'static, [u8]>,
    /// Canonical index of each tool block, by ordinal.
    tool_blocks: Vec<u32>,
    usage: Option<Usage>,
    done: bool,
}

/// The envelope of chunks written before `Start` (none are, in a well-formed stream).
const EMPTY_ENVELOPE: &[u8] =
    b",\"created\":0,\"id\":\"\",\"model\":\"\",\"object\":\"chat.completion.chunk\"";

/// A chunk's `delta`; absent members are left out.
#[derive(Serialize, Default)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCallDelta<'a>; 1]>,
}

#[derive(Serialize)]
struct ToolCallDelta<'a> {
    function: FunctionDelta<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    index: usize,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
}

#[derive(Serialize)]
struct FunctionDelta<'a> {
    arguments: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
}

/// The usage of the last chunk: what `encode_usage` writes, without building a `Value`.
#[derive(Serialize)]
struct UsageOut {
    completion_tokens: u64,
    completion_tokens_details: ReasoningTokens,
    prompt_tokens: u64,
    prompt_tokens_details: CachedTokens,
    total_tokens: u64,
}

#[derive(Serialize)]
struct ReasoningTokens {
    reasoning_tokens: u64,
}

#[derive(Serialize)]
struct CachedTokens {
    cached_tokens: u64,
}

impl From<&Usage> for UsageOut {
    fn from(usage: &Usage) -> Self {
        Self {
            completion_tokens: usage.output_tokens,
            completion_tokens_details: ReasoningTokens {
                reasoning_tokens: usage.reasoning_tokens,
            },
            prompt_tokens: usage.input_tokens,
            prompt_tokens_details: CachedTokens {
                cached_tokens: usage.cached_input_tokens,
            },
            total_tokens: usage.total_tokens(),
        }
    }
}

/// The bytes of a chunk besides its envelope and the strings of its delta, rounded up.
const CHUNK_OVERHEAD: usize = 192;

impl Delta<'_> {
    /// The length of the strings it carries, before escaping: to reserve room once.
    fn payload_len(&self) -> usize {
        let call = self.tool_calls.as_ref().map_or(0, |[call]| {
            call.function.arguments.len()
                + call.function.name.map_or(0, str::len)
                + call.id.map_or(0, str::len)
        });
        self.content.map_or(0, str::len) + self.reasoning_content.map_or(0, str::len) + call
    }
}

/// Serialises `value` at the end of `out`.
fn write_json<T: Serialize + ?Sized>(out: &mut BytesMut, value: &T) {
    // Writing to a `BytesMut` cannot fail, nor can serialising these types.
    let _ = serde_json::to_writer(out.writer(), value);
}

impl OpenAiStreamEncoder {
    pub fn new(include_usage: bool) -> Self {
        Self {
            include_usage,
            envelope: Cow::Borrowed(EMPTY_ENVELOPE),
            tool_blocks: Vec::new(),
            usage: None,
            done: false,
        }
    }

    fn set_envelope(&mut self, id: &str, model: &str, created: u64) {
        let mut envelope = Vec::with_capacity(EMPTY_ENVELOPE.len() + 24 + id.len() + model.len());
        envelope.extend_from_slice(b",\"created\":");
        // Serialising into a `Vec` cannot fail.
        let _ = serde_json::to_writer(&mut envelope, &created);
        envelope.extend_from_slice(b",\"id\":");
        let _ = serde_json::to_writer(&mut envelope, id);
        envelope.extend_from_slice(b",\"model\":");
        let _ = serde_json::to_writer(&mut envelope, model);
        envelope.extend_from_slice(b",\"object\":\"chat.completion.chunk\"");
        self.envelope = Cow::Owned(envelope);
    }

    /// Writes a chunk of one choice; with `include_usage`, every chunk but the last has
    /// `usage: null`.
    fn chunk(&self, delta: &Delta<'_>, finish_reason: Option<&str>, out: &mut BytesMut) {
        out.reserve(CHUNK_OVERHEAD + self.envelope.len() + delta.payload_len());
        out.extend_from_slice(b"data: {\"choices\":[{\"delta\":");
        write_json(out, delta);
        out.extend_from_slice(b",\"finish_reason\":");
        write_json(out, &finish_reason);
        out.extend_from_slice(b",\"index\":0,\"logprobs\":null}]");
        out.extend_from_slice(&self.envelope);
        if self.include_usage {
            out.extend_from_slice(b",\"usage\":null");
        }
        out.extend_from_slice(b"}\n\n");
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
                self.set_envelope(id, model, unix_now());
                let delta = Delta {
                    content: Some(""),
                    role: Some("assistant"),
                    ..Delta::default()
                };
                self.chunk(&delta, None, out);
            }
            StreamEvent::BlockStart {
                index,
                block: BlockKind::ToolCall { id, name },
            } => {
                let ordinal = self.tool_blocks.len();
                self.tool_blocks.push(*index);
                let call = ToolCallDelta {
                    function: FunctionDelta {
                        arguments: "",
                        name: Some(name),
                    },
                    id: Some(id),
                    index: ordinal,
                    kind: Some("function"),
                };
                let delta = Delta {
                    tool_calls: Some([call]),
                    ..Delta::default()
                };
                self.chunk(&delta, None, out);
            }
            // Text and thinking start with their first delta; redacted thinking and
            // signatures have no place in this dialect.
            StreamEvent::BlockStart { .. }
            | StreamEvent::BlockStop { .. }
            | StreamEvent::SignatureDelta { .. } => {}
            StreamEvent::TextDelta { text, .. } => {
                let delta = Delta {
                    content: Some(text),
                    ..Delta::default()
                };
                self.chunk(&delta, None, out);
            }
            StreamEvent::ThinkingDelta { text, .. } => {
                let delta = Delta {
                    reasoning_content: Some(text),
                    ..Delta::default()
                };
                self.chunk(&delta, None, out);
            }
            StreamEvent::ToolArgumentsDelta { index, json } => {
                if let Some(ordinal) = self.tool_ordinal(*index) {
                    let call = ToolCallDelta {
                        function: FunctionDelta {
                            arguments: json,
                            name: None,
                        },
                        id: None,
                        index: ordinal,
                        kind: None,
                    };
                    let delta = Delta {
                        tool_calls: Some([call]),
                        ..Delta::default()
                    };
                    self.chunk(&delta, None, out);
                }
            }
            StreamEvent::Finish { reason, .. } => {
                let reason = encode_finish_reason(reason);
                self.chunk(&Delta::default(), Some(reason), out);
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
                    out.extend_from_slice(b"data: {\"choices\":[]");
                    out.extend_from_slice(&self.envelope);
                    out.extend_from_slice(b",\"usage\":");
                    write_json(out, &UsageOut::from(&self.usage.unwrap_or_default()));
                    out.extend_from_slice(b"}\n\n");
                }
                write_event(out, None, b"[DONE]");
                self.done = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_empty_envelope_is_the_one_start_would_write() {
        let mut encoder = OpenAiStreamEncoder::new(true);
        encoder.set_envelope("", "", 0);
        assert_eq!(&*encoder.envelope, EMPTY_ENVELOPE);
    }

    /// The chunks are the bytes `serde_json` writes for the same `Value` (sorted keys).
    #[test]
    fn chunks_match_their_value_serialisation() {
        let mut encoder = OpenAiStreamEncoder::new(true);
        let mut out = BytesMut::new();
        encoder.encode(
            &StreamEvent::Start {
                id: "id\"1".into(),
                model: "m\n".into(),
            },
            &mut out,
        );
        let created = encoder.envelope[11..]
            .split(|&byte| byte == b',')
            .next()
            .and_then(|digits| std::str::from_utf8(digits).ok())
            .and_then(|digits| digits.parse::<u64>().ok())
            .unwrap();
        let expected = json!({
            "id": "id\"1",
            "object": "chat.completion.chunk",
            "created": created,
            "model": "m\n",
            "choices": [{
                "index": 0,
                "delta": {"role": "assistant", "content": ""},
                "logprobs": null,
                "finish_reason": null,
            }],
            "usage": null,
        });
        let mut line = b"data: ".to_vec();
        line.extend_from_slice(&serde_json::to_vec(&expected).unwrap());
        line.extend_from_slice(b"\n\n");
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&line)
        );
    }
}
