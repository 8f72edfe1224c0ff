//! Provider dialects and the connection to each provider.
//!
//! [`upstream`] owns the pooled HTTP client, keys and timeouts of one provider.
//! [`dialect`] states what every dialect module provides: the canonical exchange of
//! `sluice_core::chat` encoded to and decoded from its wire format, both directions,
//! streams included. [`openai`] also reads and rewrites requests of its dialect without
//! re-serialising them, for the pass-through path.

pub mod anthropic;
pub mod bedrock;
pub mod codec;
pub mod cohere;
pub mod dialect;
pub mod gemini;
pub mod openai;
pub mod sse;
mod token;
pub mod upstream;

pub use dialect::{Dialect, Encoded, Operation, StreamDecoder, StreamEncoder, TranslateError};
pub use upstream::{Upstream, UpstreamError};
