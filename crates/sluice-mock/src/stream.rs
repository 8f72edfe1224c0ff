//! Streaming chat answers: `text/event-stream` of `chat.completion.chunk` objects.
//!
//! The frames are what OpenAI sends: a first chunk with the assistant role (and, for a
//! tool call, the call's id and name), one chunk per token, a chunk with an empty delta
//! and the finish reason, with `include_usage` a last chunk with no choices and the usage,
//! then `data: [DONE]`. Every chunk carries OpenAI's `obfuscation` padding unless
//! `stream_options.include_obfuscation` is false. Each frame is its own body chunk, so a proxy test sees them arrive
//! one by one, at the pace `first_token` / `between_tokens` set.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::app::App;
use crate::chat::{Completion, StreamOptions, Usage};
use crate::faults::{self, BodyFault, Cut, FaultApplied};
use crate::stats::{DisconnectGuard, MockStats, bump};
use crate::tokens;

/// One thing the body does next. Every dialect's stream is planned as a list of these.
#[derive(Debug, PartialEq)]
pub enum Step {
    Frame(Bytes),
    Wait(Duration),
    /// The `[DONE]` frame: the stream completed.
    Done(Bytes),
    /// Abort the body (the `cut_stream` fault).
    Cut,
    /// End the body cleanly but unfinished: after an in-stream error event, neither a
    /// completed stream nor a disconnect.
    End,
}

/// Builds the streaming response for `completion`.
pub fn respond(
    app: &App,
    completion: &Completion,
    options: StreamOptions,
    fault: Option<BodyFault>,
) -> Response {
    let steps = plan(completion, options, fault, Timing::of(app));
    sse_response(app, steps, fault.is_some())
}

/// A 200 `text/event-stream` response that plays `steps`, counted in the stream stats
/// (started now, completed at its `Done` step). `fault_applied` tells the pipeline the
/// steps already carry the request's body fault.
pub fn sse_response(app: &App, steps: VecDeque<Step>, fault_applied: bool) -> Response {
    bump(&app.stats.streams_started);
    let body = Body::from_stream(body_stream(steps, app.stats.clone()));
    let mut response = Response::new(body);
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if fault_applied {
        response.extensions_mut().insert(FaultApplied);
    }
    response
}

struct BodyState {
    steps: VecDeque<Step>,
    stats: Arc<MockStats>,
    /// Counts a client disconnect if the body is dropped before `[DONE]` (or the cut).
    guard: DisconnectGuard,
}

fn body_stream(
    steps: VecDeque<Step>,
    stats: Arc<MockStats>,
) -> impl futures_util::Stream<Item = Result<Bytes, Cut>> + Send + 'static {
    let guard = DisconnectGuard::new(stats.clone());
    let state = BodyState {
        steps,
        stats,
        guard,
    };
    futures_util::stream::unfold(state, |mut state| async move {
        loop {
            match state.steps.pop_front()? {
                Step::Wait(delay) => tokio::time::sleep(delay).await,
                Step::Frame(frame) => return Some((Ok(frame), state)),
                Step::Done(frame) => {
                    state.guard.finish();
                    bump(&state.stats.streams_completed);
                    return Some((Ok(frame), state));
                }
                Step::End => {
                    state.guard.finish();
                    state.steps.clear();
                    return None;
                }
                Step::Cut => {
                    tokio::time::sleep(faults::FLUSH_BEFORE_CUT).await;
                    state.guard.finish();
                    state.steps.clear();
                    return Some((Err(Cut), state));
                }
            }
        }
    })
}

/// The pacing of a stream's tokens.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timing {
    pub first_token: Duration,
    pub between_tokens: Duration,
}

impl Timing {
    pub fn of(app: &App) -> Self {
        Self {
            first_token: app.settings.first_token.get(),
            between_tokens: app.settings.between_tokens.get(),
        }
    }

    /// The wait before token `index` (from 0).
    pub fn before(&self, index: usize) -> Duration {
        if index == 0 {
            self.first_token
        } else {
            self.between_tokens
        }
    }

    /// Queues the wait before token `index`, if there is one: the pacing step every
    /// dialect's stream plan takes before each token frame.
    pub fn wait_before(&self, index: usize, steps: &mut VecDeque<Step>) {
        let delay = self.before(index);
        if !delay.is_zero() {
            steps.push_back(Step::Wait(delay));
        }
    }
}

/// Where a body fault falls in a stream of token frames, so every dialect cuts and
/// garbles its streams at the same token.
#[derive(Clone, Copy, Debug, Default)]
pub struct StreamFault {
    /// The stream is cut just before this token (`tokens`: after the last one).
    cut_at: Option<usize>,
    /// The malformed frame goes just before this token (`tokens`: after the last one).
    garbage_at: Option<usize>,
    /// `stream_error`: the token it comes before, and its status.
    error_at: Option<(usize, u16)>,
}

impl StreamFault {
    pub fn new(fault: Option<BodyFault>, tokens: usize) -> Self {
        let at = |after_tokens: u32| {
            usize::try_from(after_tokens)
                .unwrap_or(usize::MAX)
                .min(tokens)
        };
        Self {
            // A dialect with no in-stream error event cuts where the error would be.
            cut_at: match fault {
                Some(
                    BodyFault::Cut { after_tokens } | BodyFault::StreamError { after_tokens, .. },
                ) => Some(at(after_tokens)),
                _ => None,
            },
            garbage_at: (fault == Some(BodyFault::Malformed)).then_some(tokens / 2),
            error_at: match fault {
                Some(BodyFault::StreamError {
                    after_tokens,
                    status,
                }) => Some((at(after_tokens), status)),
                _ => None,
            },
        }
    }

    /// The status of the in-stream error due before token `index`, for dialects that have
    /// an error event: they send it and end with [`Step::End`] instead of the cut
    /// `before_token` would play.
    pub fn error_before(&self, index: usize) -> Option<u16> {
        self.error_at
            .filter(|(at, _)| *at == index)
            .map(|(_, status)| status)
    }

    /// Plays the fault due before token `index` (`tokens` for "after the last token"):
    /// pushes the malformed SSE frame, or the cut. Returns true when the stream ends here.
    pub fn before_token(&self, index: usize, steps: &mut VecDeque<Step>) -> bool {
        self.before_token_framed(index, steps, || {
            Bytes::from_static(faults::MALFORMED_FRAME.as_bytes())
        })
    }

    /// [`Self::before_token`] for a framing other than SSE: `garbage` makes the malformed
    /// frame in that framing (a well-framed event whose payload is not JSON), so the
    /// garbage lands where every other dialect's does.
    pub fn before_token_framed(
        &self,
        index: usize,
        steps: &mut VecDeque<Step>,
        garbage: impl FnOnce() -> Bytes,
    ) -> bool {
        if self.cut_at == Some(index) {
            steps.push_back(Step::Cut);
            return true;
        }
        if self.garbage_at == Some(index) {
            steps.push_back(Step::Frame(garbage()));
        }
        false
    }
}

/// The whole body as a list of steps, faults included.
fn plan(
    c: &Completion,
    options: StreamOptions,
    fault: Option<BodyFault>,
    timing: Timing,
) -> VecDeque<Step> {
    let usage_field = options.include_usage.then_some(None);
    let pad = |text: &str| options.include_obfuscation.then(|| obfuscation(text));
    // `text` is what the chunk carries (content or arguments piece), for the padding.
    let chunk = |delta: Delta, finish_reason: Option<&str>, text: &str| {
        frame(&Chunk {
            id: &c.id,
            object: "chat.completion.chunk",
            created: c.created,
            model: &c.model,
            service_tier: "default",
            system_fingerprint: &c.system_fingerprint,
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                logprobs: None,
                finish_reason,
            }],
            usage: usage_field,
            obfuscation: pad(text),
        })
    };

    let mut steps = VecDeque::new();
    let first = match &c.tool {
        Some((id, name)) => Delta {
            role: Some("assistant"),
            content: Some(None),
            tool_calls: Some([ToolCallDelta {
                index: 0,
                id: Some(id),
                kind: Some("function"),
                function: FunctionDelta {
                    name: Some(name),
                    arguments: "",
                },
            }]),
            refusal: Some(None),
        },
        None => Delta {
            role: Some("assistant"),
            content: Some(Some("")),
            refusal: Some(None),
            ..Delta::default()
        },
    };
    steps.push_back(Step::Frame(chunk(first, None, "")));

    let tokens = c.pieces.len();
    let stream_fault = StreamFault::new(fault, tokens);

    for (i, piece) in c.pieces.iter().enumerate() {
        if stream_fault.before_token(i, &mut steps) {
            return steps;
        }
        timing.wait_before(i, &mut steps);
        let delta = match &c.tool {
            Some(_) => Delta {
                tool_calls: Some([ToolCallDelta {
                    index: 0,
                    id: None,
                    kind: None,
                    function: FunctionDelta {
                        name: None,
                        arguments: piece,
                    },
                }]),
                ..Delta::default()
            },
            None => Delta {
                content: Some(Some(piece)),
                ..Delta::default()
            },
        };
        steps.push_back(Step::Frame(chunk(delta, None, piece)));
    }
    // A fault due after the last token (or in an empty reply) comes before the finish chunk.
    if stream_fault.before_token(tokens, &mut steps) {
        return steps;
    }

    steps.push_back(Step::Frame(chunk(
        Delta::default(),
        Some(c.finish_reason),
        "",
    )));
    if options.include_usage {
        steps.push_back(Step::Frame(frame(&Chunk {
            id: &c.id,
            object: "chat.completion.chunk",
            created: c.created,
            model: &c.model,
            service_tier: "default",
            system_fingerprint: &c.system_fingerprint,
            choices: Vec::new(),
            usage: Some(Some(&c.usage)),
            obfuscation: pad(""),
        })));
    }
    steps.push_back(Step::Done(Bytes::from_static(b"data: [DONE]\n\n")));
    steps
}

/// Padding like OpenAI's `obfuscation` field: random-looking letters that bring the
/// chunk's text to a multiple of 8 bytes, so sizes do not reveal tokens. Deterministic
/// here, seeded by the text.
fn obfuscation(text: &str) -> String {
    let mut rng = fastrand::Rng::with_seed(tokens::hash_text(0x0bf5, text));
    let len = 8 - text.len() % 8;
    (0..len).map(|_| rng.alphanumeric()).collect()
}

/// A `data:` SSE frame holding `chunk` as JSON.
pub fn frame<T: Serialize>(chunk: &T) -> Bytes {
    let json = crate::json::to_vec(chunk);
    let mut out = Vec::with_capacity(json.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(&json);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

#[derive(Serialize)]
struct Chunk<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    service_tier: &'static str,
    system_fingerprint: &'a str,
    choices: Vec<ChunkChoice<'a>>,
    /// Absent without `include_usage`; `null` on every chunk but the last with it.
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Option<&'a Usage>>,
    /// Absent with `stream_options.include_obfuscation: false`.
    #[serde(skip_serializing_if = "Option::is_none")]
    obfuscation: Option<String>,
}

#[derive(Serialize)]
struct ChunkChoice<'a> {
    index: u32,
    delta: Delta<'a>,
    logprobs: Option<()>,
    finish_reason: Option<&'a str>,
}

/// Absent fields are omitted; `Some(None)` is an explicit `null`.
#[derive(Default, Serialize)]
struct Delta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<Option<&'a str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCallDelta<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refusal: Option<Option<&'a str>>,
}

#[derive(Serialize)]
struct ToolCallDelta<'a> {
    index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
    function: FunctionDelta<'a>,
}

#[derive(Serialize)]
struct FunctionDelta<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    arguments: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn completion(pieces: &[&str], tool: bool) -> Completion {
        Completion {
            id: "chatcmpl-mock-1".into(),
            created: 7,
            model: "m".into(),
            system_fingerprint: "fp_x".into(),
            tool: tool.then(|| ("call_1".to_owned(), "f".to_owned())),
            pieces: pieces.iter().map(|p| p.to_string()).collect(),
            finish_reason: if tool { "tool_calls" } else { "stop" },
            usage: Usage::new(5, pieces.len() as u64),
        }
    }

    const PLAIN: StreamOptions = StreamOptions {
        include_usage: false,
        include_obfuscation: true,
    };
    const USAGE: StreamOptions = StreamOptions {
        include_usage: true,
        include_obfuscation: true,
    };

    fn frames(steps: &VecDeque<Step>) -> Vec<String> {
        steps
            .iter()
            .filter_map(|s| match s {
                Step::Frame(b) | Step::Done(b) => Some(String::from_utf8_lossy(b).into_owned()),
                _ => None,
            })
            .collect()
    }

    fn json_of(frame: &str) -> Value {
        serde_json::from_str(frame.trim_start_matches("data: ").trim_end()).unwrap_or(Value::Null)
    }

    #[test]
    fn text_stream_frames() {
        let steps = plan(
            &completion(&["Hi", " there"], false),
            PLAIN,
            None,
            Timing::default(),
        );
        let f = frames(&steps);
        assert_eq!(f.len(), 5);
        assert_eq!(
            json_of(&f[0])["choices"][0]["delta"],
            json!({"role": "assistant", "content": "", "refusal": null})
        );
        assert_eq!(
            json_of(&f[2])["choices"][0]["delta"],
            json!({"content": " there"})
        );
        assert_eq!(json_of(&f[3])["choices"][0]["delta"], json!({}));
        assert_eq!(json_of(&f[3])["choices"][0]["finish_reason"], "stop");
        assert!(json_of(&f[0]).get("usage").is_none());
        assert_eq!(f[4], "data: [DONE]\n\n");
    }

    #[test]
    fn usage_chunks() {
        let steps = plan(&completion(&["Hi"], false), USAGE, None, Timing::default());
        let f = frames(&steps);
        assert_eq!(f.len(), 5);
        for frame in &f[..3] {
            assert_eq!(json_of(frame)["usage"], Value::Null);
            assert!(json_of(frame).get("usage").is_some());
        }
        let last = json_of(&f[3]);
        assert_eq!(last["choices"], json!([]));
        assert_eq!(last["usage"]["total_tokens"], 6);
    }

    #[test]
    fn tool_stream_frames() {
        let steps = plan(
            &completion(&["{\"a\":", " 1}"], true),
            PLAIN,
            None,
            Timing::default(),
        );
        let f = frames(&steps);
        assert_eq!(
            json_of(&f[0])["choices"][0]["delta"],
            json!({"role": "assistant", "content": null, "refusal": null, "tool_calls": [
                {"index": 0, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": ""}}
            ]})
        );
        assert_eq!(
            json_of(&f[1])["choices"][0]["delta"],
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"a\":"}}]})
        );
        assert_eq!(json_of(&f[3])["choices"][0]["finish_reason"], "tool_calls");
    }

    #[test]
    fn timing_steps() {
        let timing = Timing {
            first_token: Duration::from_millis(5),
            between_tokens: Duration::from_millis(2),
        };
        let steps = plan(&completion(&["a", " b", " c"], false), PLAIN, None, timing);
        let waits: Vec<Duration> = steps
            .iter()
            .filter_map(|s| match s {
                Step::Wait(d) => Some(*d),
                _ => None,
            })
            .collect();
        assert_eq!(
            waits,
            vec![
                Duration::from_millis(5),
                Duration::from_millis(2),
                Duration::from_millis(2)
            ]
        );
    }

    #[test]
    fn faults_in_streams() {
        let c = completion(&["a", " b", " c", " d"], false);
        let cut = plan(
            &c,
            PLAIN,
            Some(BodyFault::Cut { after_tokens: 2 }),
            Timing::default(),
        );
        assert_eq!(frames(&cut).len(), 3);
        assert_eq!(cut.back(), Some(&Step::Cut));
        let late = plan(
            &c,
            PLAIN,
            Some(BodyFault::Cut { after_tokens: 99 }),
            Timing::default(),
        );
        assert_eq!(frames(&late).len(), 5);
        let bad = frames(&plan(
            &c,
            PLAIN,
            Some(BodyFault::Malformed),
            Timing::default(),
        ));
        assert_eq!(bad[3], faults::MALFORMED_FRAME);
        assert_eq!(bad.len(), 8);
        let empty = frames(&plan(
            &completion(&[], false),
            PLAIN,
            Some(BodyFault::Malformed),
            Timing::default(),
        ));
        assert_eq!(empty[1], faults::MALFORMED_FRAME);
    }

    #[test]
    fn obfuscation_pads_and_can_be_turned_off() {
        let c = completion(&["Hello", ",", " World"], false);
        let padded = frames(&plan(&c, USAGE, None, Timing::default()));
        for frame in &padded[..padded.len() - 1] {
            let chunk = json_of(frame);
            let pad = chunk["obfuscation"].as_str().unwrap_or_default();
            let text = chunk["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap_or_default();
            assert!(!pad.is_empty() && pad.chars().all(|ch| ch.is_ascii_alphanumeric()));
            assert_eq!((text.len() + pad.len()) % 8, 0, "{frame}");
        }
        assert_eq!(padded, frames(&plan(&c, USAGE, None, Timing::default())));
        let bare = StreamOptions {
            include_usage: true,
            include_obfuscation: false,
        };
        for frame in frames(&plan(&c, bare, None, Timing::default())) {
            assert!(!frame.contains("obfuscation"));
        }
    }
}
