//! The endpoints the gateway serves: which dialect each speaks and what it asks of a
//! provider.

use sluice_providers::openai::BodyKind;
use sluice_providers::{Dialect, Operation};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `POST /v1/chat/completions` (OpenAI).
    ChatCompletions = 0,
    /// `POST /v1/embeddings` (OpenAI).
    Embeddings = 1,
    /// `POST /v1/messages` (Anthropic).
    Messages = 2,
    /// `POST /v1/messages/count_tokens` (Anthropic).
    CountTokens = 3,
}

impl Endpoint {
    /// Every endpoint, in discriminant order.
    pub const ALL: [Endpoint; 4] = [
        Endpoint::ChatCompletions,
        Endpoint::Embeddings,
        Endpoint::Messages,
        Endpoint::CountTokens,
    ];

    /// A short stable name for metrics labels.
    pub fn label(self) -> &'static str {
        match self {
            Endpoint::ChatCompletions => "chat_completions",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Messages => "messages",
            Endpoint::CountTokens => "count_tokens",
        }
    }

    /// The dialect the client speaks here.
    pub fn dialect(self) -> Dialect {
        match self {
            Endpoint::ChatCompletions | Endpoint::Embeddings => Dialect::OpenAi,
            Endpoint::Messages | Endpoint::CountTokens => Dialect::Anthropic,
        }
    }

    /// Which field the body must carry besides the model.
    pub fn body_kind(self) -> BodyKind {
        match self {
            Endpoint::Embeddings => BodyKind::Embeddings,
            _ => BodyKind::Chat,
        }
    }

    pub fn operation(self, stream: bool) -> Operation {
        match self {
            Endpoint::ChatCompletions | Endpoint::Messages => Operation::Chat { stream },
            Endpoint::Embeddings => Operation::Embeddings,
            Endpoint::CountTokens => Operation::CountTokens,
        }
    }
}
