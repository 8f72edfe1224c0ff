//! The OpenAI dialect: chat completions and embeddings.

mod request;

pub use request::{Endpoint, PeekedRequest, peek};
