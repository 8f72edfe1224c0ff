//! The OpenAI dialect: chat completions and embeddings.

mod chat;
mod embeddings;
mod errors;
mod request;
mod stream;

pub use chat::{decode_request, decode_response, encode_request, encode_response};
pub use embeddings::{
    decode_embeddings_request, decode_embeddings_response, encode_embeddings_request,
    encode_embeddings_response,
};
pub use errors::decode_error;
pub use request::{BodyKind, PeekedRequest, peek, peek_fields};
pub use stream::{OpenAiStreamDecoder, OpenAiStreamEncoder};
