//! What every dialect module provides: the canonical exchange encoded to and decoded from
//! its wire format, both directions, so any dialect can face the client or the provider.
//!
//! Each dialect module (`openai`, `anthropic`, `gemini`, `bedrock`, `cohere`) exposes the
//! same free functions:
//!
//! - `decode_request(&[u8]) -> Result<ChatRequest, TranslateError>` and
//!   `encode_request(&ChatRequest, model) -> Result<Encoded, TranslateError>`;
//! - `decode_response(&[u8]) -> Result<ChatResponse, TranslateError>` and
//!   `encode_response(&ChatResponse) -> Vec<u8>`;
//! - a `StreamDecoder` and a `StreamEncoder` (the traits below);
//! - `decode_error(StatusCode, &[u8]) -> ApiError`;
//! - where the provider has embeddings, `encode_embeddings_request` and
//!   `decode_embeddings_response`.

use bytes::BytesMut;
use sluice_core::chat::{ChatRequest, StreamEvent};
use sluice_core::{ApiError, ErrorKind};

/// Why a translation failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum TranslateError {
    /// The client's request is malformed for its dialect: 400.
    #[error("{message}")]
    InvalidRequest {
        message: String,
        param: Option<String>,
    },
    /// The request asks for something the target provider cannot do, and no documented
    /// rule maps or drops it: 400, naming the parameter.
    #[error("`{param}` cannot be served by {provider}: {reason}")]
    Unsupported {
        param: String,
        provider: &'static str,
        reason: String,
    },
    /// The provider's answer is not valid in its own dialect: 502.
    #[error("the provider's answer could not be read: {0}")]
    InvalidUpstream(String),
}

impl TranslateError {
    pub fn invalid(message: impl Into<String>) -> Self {
        TranslateError::InvalidRequest {
            message: message.into(),
            param: None,
        }
    }

    pub fn invalid_param(param: impl Into<String>, message: impl Into<String>) -> Self {
        TranslateError::InvalidRequest {
            message: message.into(),
            param: Some(param.into()),
        }
    }

    pub fn upstream(message: impl Into<String>) -> Self {
        TranslateError::InvalidUpstream(message.into())
    }

    /// The error the client sees.
    pub fn to_api_error(&self) -> ApiError {
        match self {
            TranslateError::InvalidRequest { param, .. } => {
                let error = ApiError::invalid_request(self.to_string());
                match param {
                    Some(param) => error.with_param(param.clone()),
                    None => error,
                }
            }
            TranslateError::Unsupported { param, .. } => {
                ApiError::invalid_request(self.to_string())
                    .with_param(param.clone())
                    .with_code("unsupported_parameter")
            }
            TranslateError::InvalidUpstream(_) => {
                ApiError::new(ErrorKind::UpstreamInvalid, self.to_string())
            }
        }
    }
}

impl From<serde_json::Error> for TranslateError {
    /// A body that is not the JSON its dialect expects (used for requests; response
    /// decoders map their own parse errors to `InvalidUpstream`).
    fn from(err: serde_json::Error) -> Self {
        TranslateError::invalid(format!("The request body is not valid: {err}"))
    }
}

/// An encoded request body, with the canonical parameters the target dialect has no
/// place for and that a documented rule drops (reported in `x-sluice-dropped-params`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Encoded {
    pub body: Vec<u8>,
    pub dropped: Vec<String>,
}

/// A canonical parameter that only tunes the answer: a dialect with no field for it
/// drops it by rule rather than refusing the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hint {
    Seed,
    FrequencyPenalty,
    PresencePenalty,
    User,
    ParallelToolCalls,
}

impl Hint {
    fn name(self) -> &'static str {
        match self {
            Hint::Seed => "seed",
            Hint::FrequencyPenalty => "frequency_penalty",
            Hint::PresencePenalty => "presence_penalty",
            Hint::User => "user",
            Hint::ParallelToolCalls => "parallel_tool_calls",
        }
    }

    fn is_set(self, request: &ChatRequest) -> bool {
        match self {
            Hint::Seed => request.seed.is_some(),
            Hint::FrequencyPenalty => request.frequency_penalty.is_some(),
            Hint::PresencePenalty => request.presence_penalty.is_some(),
            Hint::User => request.user.is_some(),
            Hint::ParallelToolCalls => request.parallel_tool_calls.is_some(),
        }
    }
}

/// Names as dropped the `hints` the request sets, and every field of `extra` (which no
/// other dialect can carry).
pub fn drop_hints(request: &ChatRequest, hints: &[Hint], dropped: &mut Vec<String>) {
    for hint in hints {
        if hint.is_set(request) {
            dropped.push(hint.name().to_string());
        }
    }
    dropped.extend(request.extra.keys().cloned());
}

/// Turns a provider's stream, as bytes arrive, into canonical events.
pub trait StreamDecoder: Send {
    /// Feeds the next bytes (any split: an event may straddle two calls) and appends the
    /// events they complete.
    fn feed(&mut self, bytes: &[u8], out: &mut Vec<StreamEvent>) -> Result<(), TranslateError>;

    /// The provider closed the stream. Appends what is still pending; a stream that ended
    /// before its final event is an error.
    fn finish(&mut self, out: &mut Vec<StreamEvent>) -> Result<(), TranslateError>;
}

/// Writes canonical events as a client dialect's stream.
pub trait StreamEncoder: Send {
    /// Appends the bytes of `event` (possibly none: not every event exists in every
    /// dialect).
    fn encode(&mut self, event: &StreamEvent, out: &mut BytesMut);
}

/// The wire formats Sluice speaks. Several provider kinds share one: Azure and the
/// OpenAI-compatible family speak OpenAI's, Vertex speaks Gemini's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    OpenAi,
    Anthropic,
    Gemini,
    Bedrock,
    Cohere,
}

impl Dialect {
    pub fn of(kind: sluice_core::config::ProviderKind) -> Dialect {
        use sluice_core::config::ProviderKind;
        match kind {
            ProviderKind::Openai
            | ProviderKind::OpenaiCompatible
            | ProviderKind::Preset(_)
            | ProviderKind::Azure
            | ProviderKind::Mock => Dialect::OpenAi,
            ProviderKind::Anthropic => Dialect::Anthropic,
            ProviderKind::Gemini | ProviderKind::Vertex => Dialect::Gemini,
            ProviderKind::Bedrock => Dialect::Bedrock,
            ProviderKind::Cohere => Dialect::Cohere,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dialect::OpenAi => "OpenAI",
            Dialect::Anthropic => "Anthropic",
            Dialect::Gemini => "Gemini",
            Dialect::Bedrock => "Bedrock Converse",
            Dialect::Cohere => "Cohere",
        }
    }
}

/// What a request asks a provider to do; with the model, it decides the URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Chat { stream: bool },
    Embeddings,
    CountTokens,
}
