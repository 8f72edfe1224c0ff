//! The Google Gemini dialect: `generateContent` / `streamGenerateContent` of the Gemini
//! API (`generativelanguage.googleapis.com`) and of Vertex AI, which share one body
//! format, plus embeddings, token counting and Vertex service-account auth.
//!
//! The model travels in the URL path, never in the body, so [`encode_request`] ignores
//! its `model` argument; the caller builds the URL.
//!
//! Choices this dialect makes where Gemini and the canonical shape differ:
//!
//! - Tool-call ids: Gemini may omit `functionCall.id`; decoders then make one up,
//!   `call_<responseId>_<n>` in answers and `call_<n>` in requests, and match an id-less
//!   `functionResponse` to the latest unanswered call of the same name. Encoders always
//!   send the canonical id (`functionCall.id`, `functionResponse.id`).
//! - Tool results: `functionResponse.response` must be an object. A result becomes
//!   `{"output": <value>}` (`{"error": <value>}` when `is_error`), the keys the API
//!   reference names for output and error; `<value>` is the parsed JSON when the text is
//!   a JSON object or array, the text itself otherwise. Inline images of a tool result go
//!   into `functionResponse.parts`.
//! - Thought signatures: Gemini puts `thoughtSignature` on any part. A signature on a
//!   `thought` part becomes that `Thinking` part's signature; a signature on another part
//!   becomes an empty `Thinking { text: "", signature }` just before it (in streams, a
//!   thinking block with only a `SignatureDelta`). The encoders invert both.
//! - Image URLs become `fileData`, whose `mimeType` is required: it is taken from the
//!   URL's extension (png, jpg, jpeg, webp, heic, heif); any other URL is refused.

mod embeddings;
mod error;
mod parts;
mod request;
mod response;
mod stream;
pub mod vertex_auth;

pub use embeddings::{
    decode_embeddings_response, decode_vertex_embeddings_response, encode_embeddings_request,
    encode_vertex_embeddings_request,
};
pub use error::decode_error;
pub use request::{
    decode_count_tokens_response, decode_request, encode_count_tokens_request, encode_request,
    encode_vertex_count_tokens_request,
};
pub use response::{decode_response, encode_response};
pub use stream::{GeminiStreamDecoder, GeminiStreamEncoder};

/// The provider name in `TranslateError::Unsupported`.
const PROVIDER: &str = "gemini";
