//! `POST /v1/embeddings`: deterministic unit vectors.
//!
//! A vector is a bag of words: each word (lower-cased, surrounding punctuation trimmed)
//! has a fixed pseudo-random direction seeded by the mock's seed and the word; an input's
//! vector is the sum of its words' directions, normalised to length 1. Equal inputs give
//! equal vectors and inputs sharing words point in similar directions, which is what a
//! semantic cache test needs. Token-array inputs treat each token id as a word.

use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

use crate::app::{App, RequestCtx};
use crate::errors::ApiError;
use crate::stats::bump;
use crate::tokens;

/// Largest `dimensions` accepted: a bound on what one request can make the mock allocate.
pub const MAX_DIMENSIONS: u64 = 65_536;

/// Most inputs in one request (OpenAI's limit).
pub const MAX_INPUTS: usize = 2048;

/// Most floats one response may hold (inputs × dimensions), so no request makes the mock
/// build a gigabyte answer. OpenAI's own maximum (2048 × 3072) fits.
pub const MAX_FLOATS: usize = 1 << 24;

#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    Text(String),
    Tokens(Vec<u64>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Float,
    Base64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct EmbeddingsRequest {
    pub model: String,
    pub inputs: Vec<Input>,
    pub dimensions: Option<u32>,
    pub encoding: Encoding,
}

pub async fn handle(app: &App, ctx: &RequestCtx) -> Response {
    bump(&app.stats.embeddings);
    let request = match parse(&ctx.body) {
        Ok(request) => request,
        Err(err) => return err.into_response(),
    };
    let dims = request
        .dimensions
        .unwrap_or(app.settings.embedding_dimensions)
        .clamp(1, MAX_DIMENSIONS as u32) as usize;
    if request.inputs.len().saturating_mul(dims) > MAX_FLOATS {
        return ApiError::invalid_value(
            "input",
            format!(
                "Too many inputs for {dims} dimensions: at most {MAX_FLOATS} numbers per response."
            ),
        )
        .into_response();
    }
    let mut prompt_tokens = 0u64;
    let data = request
        .inputs
        .iter()
        .enumerate()
        .map(|(index, input)| {
            let words = words(input);
            prompt_tokens = prompt_tokens.saturating_add(words.len() as u64);
            let vector = embed(&words, dims, app.settings.seed);
            let embedding = match request.encoding {
                Encoding::Float => EmbeddingValue::Float(vector),
                Encoding::Base64 => EmbeddingValue::Base64(to_base64(&vector)),
            };
            EmbeddingObject {
                object: "embedding",
                index,
                embedding,
            }
        })
        .collect();
    crate::json::ok(&EmbeddingList {
        object: "list",
        data,
        model: &request.model,
        usage: EmbeddingUsage {
            prompt_tokens,
            total_tokens: prompt_tokens,
        },
    })
}

pub fn parse(body: &[u8]) -> Result<EmbeddingsRequest, ApiError> {
    let (obj, model) = crate::json::object_with_model(body)?;
    let inputs = match obj.get("input") {
        None | Some(Value::Null) => return Err(ApiError::missing("input")),
        Some(input) => parse_input(input)?,
    };
    let dimensions = match obj.get("dimensions") {
        None | Some(Value::Null) => None,
        Some(value @ Value::Number(n)) => match (n.as_u64(), n.as_i64()) {
            (Some(0), _) | (None, Some(_)) => {
                return Err(ApiError::below_min("dimensions", 1, value));
            }
            (Some(d), _) if d > MAX_DIMENSIONS => {
                return Err(ApiError::above_max(
                    "dimensions",
                    MAX_DIMENSIONS as i64,
                    value,
                ));
            }
            (Some(d), _) => u32::try_from(d).ok(),
            _ => return Err(ApiError::invalid_type("dimensions", "an integer", value)),
        },
        Some(other) => return Err(ApiError::invalid_type("dimensions", "an integer", other)),
    };
    let encoding = match obj.get("encoding_format") {
        None | Some(Value::Null) => Encoding::Float,
        Some(Value::String(f)) if f == "float" => Encoding::Float,
        Some(Value::String(f)) if f == "base64" => Encoding::Base64,
        Some(Value::String(other)) => {
            return Err(ApiError::invalid_value(
                "encoding_format",
                format!("Invalid value: '{other}'. Supported values are: 'float' and 'base64'."),
            ));
        }
        Some(other) => return Err(ApiError::invalid_type("encoding_format", "a string", other)),
    };
    Ok(EmbeddingsRequest {
        model,
        inputs,
        dimensions,
        encoding,
    })
}

/// `input` may be a string, an array of strings, an array of token ids, or an array of
/// arrays of token ids.
fn parse_input(input: &Value) -> Result<Vec<Input>, ApiError> {
    let invalid = || {
        ApiError::invalid_value(
            "input",
            "'$.input' is invalid. Please check the API reference: \
             https://platform.openai.com/docs/api-reference.",
        )
    };
    let items = match input {
        Value::String(text) => return Ok(vec![Input::Text(text.clone())]),
        Value::Array(items) if items.is_empty() => return Err(ApiError::empty_array("input")),
        Value::Array(items) if items.len() > MAX_INPUTS => return Err(invalid()),
        Value::Array(items) => items,
        other => {
            return Err(ApiError::invalid_type(
                "input",
                "a string or an array",
                other,
            ));
        }
    };
    if items.iter().all(Value::is_string) {
        return Ok(items
            .iter()
            .filter_map(Value::as_str)
            .map(|s| Input::Text(s.to_owned()))
            .collect());
    }
    if let Some(tokens) = token_ids(items) {
        return Ok(vec![Input::Tokens(tokens)]);
    }
    items
        .iter()
        .map(|item| match item.as_array().and_then(|a| token_ids(a)) {
            Some(tokens) if !tokens.is_empty() => Ok(Input::Tokens(tokens)),
            _ => Err(invalid()),
        })
        .collect()
}

fn token_ids(items: &[Value]) -> Option<Vec<u64>> {
    items.iter().map(Value::as_u64).collect()
}

/// The words of an input (see the module docs); their count is the input's tokens.
pub fn words(input: &Input) -> Vec<String> {
    match input {
        Input::Text(text) => text
            .split_whitespace()
            .map(|w| {
                let trimmed = w.trim_matches(|c: char| !c.is_alphanumeric());
                // A word of punctuation only keeps its own direction.
                if trimmed.is_empty() { w } else { trimmed }.to_lowercase()
            })
            .collect(),
        Input::Tokens(ids) => ids.iter().map(|id| format!("#{id}")).collect(),
    }
}

/// The unit vector of `words` (see the module docs).
pub fn embed(words: &[String], dims: usize, seed: u64) -> Vec<f32> {
    let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
    for word in words {
        *counts.entry(word).or_default() += 1;
    }
    if counts.is_empty() {
        // The empty input still gets a fixed direction.
        counts.insert("", 1);
    }
    let mut sum = vec![0f32; dims];
    for (word, count) in counts {
        let mut rng = fastrand::Rng::with_seed(tokens::hash_text(seed, word));
        let weight = count as f32;
        for x in sum.iter_mut() {
            *x += (rng.f32() * 2.0 - 1.0) * weight;
        }
    }
    let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 && norm.is_finite() {
        for x in sum.iter_mut() {
            *x /= norm;
        }
    } else {
        // Degenerate sum (cannot happen with real draws, but stay a unit vector).
        sum.iter_mut().for_each(|x| *x = 0.0);
        if let Some(first) = sum.first_mut() {
            *first = 1.0;
        }
    }
    sum
}

/// Little-endian f32 bytes, base64: what OpenAI returns for `encoding_format: "base64"`.
pub fn to_base64(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[derive(Serialize)]
struct EmbeddingList<'a> {
    object: &'static str,
    data: Vec<EmbeddingObject>,
    model: &'a str,
    usage: EmbeddingUsage,
}

#[derive(Serialize)]
struct EmbeddingObject {
    object: &'static str,
    index: usize,
    embedding: EmbeddingValue,
}

#[derive(Serialize)]
#[serde(untagged)]
enum EmbeddingValue {
    Float(Vec<f32>),
    Base64(String),
}

#[derive(Serialize)]
struct EmbeddingUsage {
    prompt_tokens: u64,
    total_tokens: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse_json(v: Value) -> Result<EmbeddingsRequest, ApiError> {
        parse(v.to_string().as_bytes())
    }

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    fn w(text: &str) -> Vec<String> {
        words(&Input::Text(text.into()))
    }

    #[test]
    fn input_forms() {
        let inputs = |v: Value| parse_json(json!({"model": "e", "input": v})).map(|r| r.inputs);
        assert_eq!(inputs(json!("a b")), Ok(vec![Input::Text("a b".into())]));
        assert_eq!(
            inputs(json!(["a", "b"])),
            Ok(vec![Input::Text("a".into()), Input::Text("b".into())])
        );
        assert_eq!(
            inputs(json!([1, 2, 3])),
            Ok(vec![Input::Tokens(vec![1, 2, 3])])
        );
        assert_eq!(
            inputs(json!([[1], [2, 3]])),
            Ok(vec![Input::Tokens(vec![1]), Input::Tokens(vec![2, 3])])
        );
        assert!(inputs(json!([])).is_err());
        assert!(inputs(json!(["a", 1])).is_err());
        assert!(inputs(json!([[]])).is_err());
        assert!(inputs(json!([-1])).is_err());
        assert!(inputs(json!(3)).is_err());
        assert!(parse_json(json!({"model": "e"})).is_err());
        assert!(parse_json(json!({"input": "x"})).is_err());
        assert!(parse_json(json!({"model": "e", "input": "x", "dimensions": 0})).is_err());
        assert!(parse_json(json!({"model": "e", "input": "x", "dimensions": 1_000_000})).is_err());
        assert!(parse_json(json!({"model": "e", "input": "x", "encoding_format": "hex"})).is_err());
    }

    #[test]
    fn vectors_are_unit_and_deterministic() {
        let a = embed(&w("The capital of France"), 256, 1);
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
        assert_eq!(a, embed(&w("the capital of FRANCE?"), 256, 1));
        assert_ne!(a, embed(&w("The capital of France"), 256, 2));
        let near = embed(&w("the capital of Germany"), 256, 1);
        let far = embed(&w("purple monkey dishwasher sings"), 256, 1);
        assert!(cosine(&a, &near) > cosine(&a, &far) + 0.3);
        let empty = embed(&[], 8, 1);
        assert!((empty.iter().map(|x| x * x).sum::<f32>() - 1.0).abs() < 1e-4);
    }

    #[test]
    fn base64_is_le_f32() {
        let encoded = to_base64(&[1.0, -0.5]);
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap_or_default();
        assert_eq!(bytes.len(), 8);
        assert_eq!(bytes[..4], 1.0f32.to_le_bytes());
        assert_eq!(bytes[4..], (-0.5f32).to_le_bytes());
    }
}
