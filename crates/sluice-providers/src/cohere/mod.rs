//! The Cohere dialect: Chat API v2 (`POST /v2/chat`, streamed or not) and Embed API v2
//! (`POST /v2/embed`), both directions.
//!
//! What a canonical request becomes (encode) and where a Cohere one goes (decode):
//!
//! | canonical | Cohere | rule |
//! | --- | --- | --- |
//! | `system` | a first `system` message | mapped (every `system` message decodes into it) |
//! | text / image parts | `content` blocks `text` / `image_url` | mapped; inline images as `data:` URLs |
//! | tool results (user turn) | one `tool` message each, before the turn's other content | mapped |
//! | tool result images | — | refused (Cohere tool content is text or documents) |
//! | tool result `is_error` | — | dropped (`is_error`) |
//! | assistant text with tool calls | `tool_plan` | mapped; `tool_plan` decodes to a text part before the calls |
//! | thinking | `content` block `thinking` | mapped; `signature` dropped, redacted thinking dropped (`redacted_thinking`) |
//! | `max_tokens`, `stop`, `temperature`, `top_k` | `max_tokens`, `stop_sequences`, `temperature`, `k` | mapped (values outside Cohere's ranges, e.g. `temperature` > 1, are sent and Cohere's 400 comes back) |
//! | `top_p` | `p` | mapped, brought into Cohere's 0.01..=0.99 (`top_p: 1` becomes 0.99) |
//! | `seed`, `frequency_penalty`, `presence_penalty` | same names | mapped |
//! | `tools` | `tools[{type:function,function}]` | mapped; `cache_control` dropped |
//! | `tool_choice` auto / none / required | absent / `NONE` / `REQUIRED` | mapped |
//! | `tool_choice` = a named tool | `REQUIRED` with only that tool in `tools` | mapped (forces exactly that call) |
//! | `parallel_tool_calls: false` | — | dropped (`parallel_tool_calls`) |
//! | `response_format` text / json_object / json_schema | `{type:text}` / `{type:json_object}` / `{type:json_object,json_schema}` | mapped; the schema name is a label and is not sent (decodes as `response`) |
//! | `reasoning` | `thinking{type:enabled,token_budget}` | mapped; budget 0 or effort `none` is `{type:disabled}` (and decodes back as budget 0) |
//! | `user` | — | dropped (`user`) |
//! | `cache_control` on any block | — | dropped (`cache_control`) |
//! | `extra` | — | dropped by name; Cohere-only fields (`documents`, `citation_options`, `safety_mode`, `strict_tools`, …) decode into it |
//!
//! Answers: `finish_reason` `COMPLETE`/`STOP_SEQUENCE`/`MAX_TOKENS`/`TOOL_CALL` are
//! end-turn/stop-sequence/max-tokens/tool-calls, `ERROR`/`TIMEOUT` are kept by name;
//! usage comes from `tokens` (`billed_units` when absent), `cached_tokens` is the cached
//! part of the input. Citations are not carried. Cohere names no model in its answers.
//!
//! Embeddings: `input` → `texts`, `dimensions` → `output_dimension`, `input_type` as
//! given (Gemini task types translated, `search_document` when absent, since v3+ models
//! require one), always `embedding_types: ["float"]`; `user` is dropped.

mod embeddings;
mod error;
mod request;
mod response;
mod stream;
mod wire;

pub use embeddings::{decode_embeddings_response, encode_embeddings_request};
pub use error::decode_error;
pub use request::{decode_request, encode_request};
pub use response::{decode_response, encode_response};
pub use stream::{CohereStreamDecoder, CohereStreamEncoder};

/// The provider's name in `TranslateError::Unsupported`.
pub(crate) const PROVIDER: &str = "Cohere";
