//! The top-level fields of a request body that the gateway reads, as raw JSON borrowed
//! from the body.
//!
//! One parse of a body fills this struct: the providers' request check reads the model
//! and `stream` from it, and the token estimate reads the fields that become tokens, so
//! the estimate parses only those fields' values, never the whole body again. Every
//! other field is skipped without being built. It serves the OpenAI dialect (chat
//! completions, embeddings) and Anthropic's messages alike: each reader takes the
//! fields its dialect has.

use serde::Deserialize;
use serde_json::value::RawValue;

/// A body's fields; `None` for an absent field (or, serde's way with options, `null`).
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub struct RawFields<'a> {
    #[serde(borrow, default)]
    pub model: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub stream: Option<&'a RawValue>,
    /// A chat's conversation (both dialects).
    #[serde(borrow, default)]
    pub messages: Option<&'a RawValue>,
    /// Anthropic's system prompt.
    #[serde(borrow, default)]
    pub system: Option<&'a RawValue>,
    /// Tool definitions (both dialects).
    #[serde(borrow, default)]
    pub tools: Option<&'a RawValue>,
    /// OpenAI's legacy form of `tools`.
    #[serde(borrow, default)]
    pub functions: Option<&'a RawValue>,
    /// An embeddings request's input.
    #[serde(borrow, default)]
    pub input: Option<&'a RawValue>,
    /// The output cap (both dialects; deprecated in OpenAI's in favour of the next).
    #[serde(default)]
    pub max_tokens: Count,
    /// OpenAI's output cap.
    #[serde(default)]
    pub max_completion_tokens: Count,
}

/// A field meant to hold a whole number, read as a number rather than kept raw (which
/// costs a copy and a UTF-8 check), and without failing the parse when it is not one:
/// the body's check is the provider's business, the gateway only reads it.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    /// Absent, or `null`.
    #[default]
    Absent,
    Whole(u64),
    /// Any other JSON value: a negative or fractional number, a string, an array…
    Other,
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};

        struct CountVisitor;

        impl<'de> Visitor<'de> for CountVisitor {
            type Value = Count;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }

            fn visit_u64<E>(self, n: u64) -> Result<Count, E> {
                Ok(Count::Whole(n))
            }

            fn visit_unit<E>(self) -> Result<Count, E> {
                Ok(Count::Absent)
            }

            fn visit_none<E>(self) -> Result<Count, E> {
                Ok(Count::Absent)
            }

            fn visit_i64<E>(self, _: i64) -> Result<Count, E> {
                Ok(Count::Other)
            }

            fn visit_f64<E>(self, _: f64) -> Result<Count, E> {
                Ok(Count::Other)
            }

            fn visit_bool<E>(self, _: bool) -> Result<Count, E> {
                Ok(Count::Other)
            }

            fn visit_str<E>(self, _: &str) -> Result<Count, E> {
                Ok(Count::Other)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Count, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Count::Other)
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Count, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Count::Other)
            }
        }

        deserializer.deserialize_any(CountVisitor)
    }
}

impl<'a> RawFields<'a> {
    /// Reads the fields of a JSON object body. Fails on malformed JSON, on a body that
    /// is not an object (a data error, in serde_json's categories), and on a field named
    /// twice.
    pub fn parse(body: &'a [u8]) -> Result<RawFields<'a>, serde_json::Error> {
        // A derived struct would also accept an array of the fields in order.
        let first = body.iter().find(|byte| !byte.is_ascii_whitespace());
        if first.is_some_and(|&byte| byte != b'{') {
            return Err(serde::de::Error::custom("expected a JSON object"));
        }
        serde_json::from_slice(body)
    }
}
