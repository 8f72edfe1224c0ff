//! Provider dialects and the connection to each provider.
//!
//! [`upstream`] owns the pooled HTTP client, keys and timeouts of one provider;
//! [`openai`] reads and rewrites requests of the OpenAI dialect without re-serialising them.

pub mod openai;
pub mod upstream;

pub use upstream::{Upstream, UpstreamError};
