//! Settings of the mock provider: what it answers, how slowly, and which faults it injects.
//!
//! They live here, not in `sluice-mock`, because the gateway's config embeds them for
//! providers of kind `mock`.

use serde::Deserialize;

use crate::duration::ConfigDuration;

/// How the mock behaves. Every field has a default, so `{}` is a fast, faultless mock.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MockSettings {
    /// What the assistant says: the last user message back, or seeded words.
    pub reply: MockReply,
    /// Number of words in a `lorem` reply (capped by the request's max tokens).
    pub reply_tokens: u32,
    /// Seed for the lorem text, the jitter and the fault rates: equal seeds, equal runs.
    pub seed: u64,
    /// Delay before a whole response (or before the stream's response headers).
    pub latency: ConfigDuration,
    /// Uniform random extra delay in `[0, jitter]` added to `latency`.
    pub jitter: ConfigDuration,
    /// For streams: delay from the response headers to the first token.
    pub first_token: ConfigDuration,
    /// For streams: delay between two tokens.
    pub between_tokens: ConfigDuration,
    /// Length of the vectors `/v1/embeddings` returns when the request names no `dimensions`.
    pub embedding_dimensions: u32,
    /// Faults, each drawn independently per request at its rate, first match wins.
    pub faults: Vec<MockFault>,
}

impl Default for MockSettings {
    fn default() -> Self {
        Self {
            reply: MockReply::Echo,
            reply_tokens: 16,
            seed: 0,
            latency: ConfigDuration::default(),
            jitter: ConfigDuration::default(),
            first_token: ConfigDuration::default(),
            between_tokens: ConfigDuration::default(),
            embedding_dimensions: 1536,
            faults: Vec::new(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MockReply {
    /// The text of the last user message, word for word.
    #[default]
    Echo,
    /// `reply_tokens` pseudo-Latin words chosen by the seed.
    Lorem,
}

/// One injected fault. `rate` is the probability (0.0 to 1.0) that a request gets it.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum MockFault {
    /// Answer with this HTTP status and an error body in the dialect's format.
    Status {
        rate: f64,
        status: u16,
        /// Seconds sent in a `Retry-After` header.
        #[serde(default)]
        retry_after: Option<u64>,
    },
    /// Close the connection abruptly (TCP reset) without answering.
    Reset { rate: f64 },
    /// Stream `after_tokens` tokens, then close the connection without finishing.
    CutStream {
        rate: f64,
        #[serde(default = "default_cut_after")]
        after_tokens: u32,
    },
    /// Answer 200 with a body that is not valid JSON (for streams: a garbage event).
    MalformedJson { rate: f64 },
    /// Stream `after_tokens` tokens, then an error inside the stream (Anthropic's
    /// `event: error`, typed by `status`: 529 is `overloaded_error`) and end it. Dialects
    /// with no in-stream error event cut the stream there instead; whole responses answer
    /// with `status` at once.
    StreamError {
        rate: f64,
        #[serde(default = "default_cut_after")]
        after_tokens: u32,
        #[serde(default = "default_stream_error_status")]
        status: u16,
    },
    /// Accept the request and say nothing for `duration` before answering normally.
    Stall {
        rate: f64,
        #[serde(default = "default_stall")]
        duration: ConfigDuration,
    },
}

fn default_cut_after() -> u32 {
    2
}

/// Anthropic's "overloaded", the error its streams report most.
fn default_stream_error_status() -> u16 {
    529
}

fn default_stall() -> ConfigDuration {
    ConfigDuration::from_secs(3600)
}

impl MockFault {
    pub fn rate(&self) -> f64 {
        match self {
            MockFault::Status { rate, .. }
            | MockFault::Reset { rate }
            | MockFault::CutStream { rate, .. }
            | MockFault::MalformedJson { rate }
            | MockFault::StreamError { rate, .. }
            | MockFault::Stall { rate, .. } => *rate,
        }
    }
}
