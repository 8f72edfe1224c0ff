//! The OpenAI dialect: chat completions and embeddings.

mod request;

pub use request::{BodyKind, PeekedRequest, peek};
