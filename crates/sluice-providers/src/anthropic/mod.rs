//! The Anthropic Messages dialect (`POST /v1/messages`), both directions: requests,
//! answers, streams, errors and token counts, to and from the canonical exchange of
//! `sluice_core::chat`.
//!
//! Anthropic counts `input_tokens` without the prompt-cache reads and writes; canonical
//! usage includes them, so the decoders add them in and the encoders take them out.

mod error;
mod request;
mod response;
mod stream;
mod wire;

pub use error::decode_error;
pub use request::{
    DEFAULT_MAX_TOKENS, decode_count_tokens_request, decode_request, encode_request,
};
pub use response::{
    decode_count_tokens_response, decode_response, encode_count_tokens_response, encode_response,
};
pub use stream::{AnthropicStreamDecoder, AnthropicStreamEncoder};
