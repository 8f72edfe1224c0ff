//! Embeddings (`POST /v1/embeddings`), to and from the canonical types.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sluice_core::chat::{EmbeddingsRequest, EmbeddingsResponse};

use crate::dialect::TranslateError;

#[derive(Deserialize)]
struct WireEmbeddingsRequest {
    #[serde(default)]
    model: String,
    input: Value,
    dimensions: Option<u32>,
    encoding_format: Option<String>,
    user: Option<String>,
}

/// Decodes an embeddings request. `input` may be a string or an array of strings; token
/// id arrays are refused, since no other provider takes OpenAI's token ids.
pub fn decode_embeddings_request(body: &[u8]) -> Result<EmbeddingsRequest, TranslateError> {
    let wire: WireEmbeddingsRequest = serde_json::from_slice(body)?;
    let input = match wire.input {
        Value::String(text) => vec![text],
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(text) => Ok(text),
                Value::Number(_) | Value::Array(_) => Err(TranslateError::Unsupported {
                    param: "input".into(),
                    provider: "OpenAI",
                    reason: "token id input cannot be translated for another provider".into(),
                }),
                _ => Err(TranslateError::invalid_param(
                    "input",
                    "`input` must be a string or an array of strings.",
                )),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(TranslateError::invalid_param(
                "input",
                "`input` must be a string or an array of strings.",
            ));
        }
    };
    Ok(EmbeddingsRequest {
        model: wire.model,
        input,
        dimensions: wire.dimensions,
        encoding_format: wire.encoding_format,
        input_type: None,
        user: wire.user,
    })
}

/// Encodes an embeddings request for `model`. Floats are always asked for: the client's
/// `encoding_format` is applied by [`encode_embeddings_response`]. `input_type` (a
/// Cohere/Gemini hint) has no OpenAI field and is left out.
pub fn encode_embeddings_request(
    request: &EmbeddingsRequest,
    model: &str,
) -> Result<Vec<u8>, TranslateError> {
    let mut body = Map::new();
    body.insert("model".into(), model.into());
    body.insert("input".into(), request.input.clone().into());
    body.insert("encoding_format".into(), "float".into());
    if let Some(dimensions) = request.dimensions {
        body.insert("dimensions".into(), dimensions.into());
    }
    if let Some(user) = &request.user {
        body.insert("user".into(), user.clone().into());
    }
    serde_json::to_vec(&Value::Object(body)).map_err(|err| {
        TranslateError::invalid(format!(
            "The embeddings request could not be encoded: {err}"
        ))
    })
}

#[derive(Deserialize)]
struct WireEmbeddingsResponse {
    #[serde(default)]
    model: String,
    data: Vec<WireEmbedding>,
    usage: Option<WireEmbeddingsUsage>,
}

#[derive(Deserialize)]
struct WireEmbedding {
    #[serde(default)]
    index: usize,
    embedding: Value,
}

#[derive(Deserialize)]
struct WireEmbeddingsUsage {
    #[serde(default)]
    prompt_tokens: u64,
}

/// Decodes an embeddings response; vectors come as float arrays or as base64 of
/// little-endian `f32`s, and are put in `index` order.
pub fn decode_embeddings_response(body: &[u8]) -> Result<EmbeddingsResponse, TranslateError> {
    let mut wire: WireEmbeddingsResponse = serde_json::from_slice(body)
        .map_err(|err| TranslateError::upstream(format!("embeddings response: {err}")))?;
    wire.data.sort_by_key(|item| item.index);
    let vectors = wire
        .data
        .into_iter()
        .map(|item| decode_vector(item.embedding))
        .collect::<Result<_, _>>()?;
    Ok(EmbeddingsResponse {
        model: wire.model,
        vectors,
        input_tokens: wire.usage.map(|usage| usage.prompt_tokens).unwrap_or(0),
    })
}

fn decode_vector(embedding: Value) -> Result<Vec<f32>, TranslateError> {
    match embedding {
        Value::Array(numbers) => numbers
            .into_iter()
            .map(|number| {
                number
                    .as_f64()
                    // Embeddings are f32 on every provider; the narrowing is intended.
                    .map(|number| number as f32)
                    .ok_or_else(|| TranslateError::upstream("an embedding holds a non-number"))
            })
            .collect(),
        Value::String(encoded) => {
            let bytes = BASE64
                .decode(encoded.as_bytes())
                .map_err(|err| TranslateError::upstream(format!("base64 embedding: {err}")))?;
            if bytes.len() % 4 != 0 {
                return Err(TranslateError::upstream(
                    "a base64 embedding is not a whole number of f32 values",
                ));
            }
            Ok(bytes
                .chunks_exact(4)
                .map(|quad| f32::from_le_bytes([quad[0], quad[1], quad[2], quad[3]]))
                .collect())
        }
        _ => Err(TranslateError::upstream(
            "an embedding is neither an array nor base64",
        )),
    }
}

/// Encodes an embeddings response as OpenAI's `list`, with vectors as float arrays, or as
/// base64 of little-endian `f32`s when the client asked for `encoding_format: "base64"`.
pub fn encode_embeddings_response(
    response: &EmbeddingsResponse,
    encoding_format: Option<&str>,
) -> Vec<u8> {
    let as_base64 = encoding_format == Some("base64");
    let data = response
        .vectors
        .iter()
        .enumerate()
        .map(|(index, vector)| WireEmbeddingOut {
            object: "embedding",
            index,
            embedding: if as_base64 {
                let bytes: Vec<u8> = vector
                    .iter()
                    .flat_map(|value| value.to_le_bytes())
                    .collect();
                EmbeddingOut::Base64(BASE64.encode(bytes))
            } else {
                EmbeddingOut::Floats(vector)
            },
        })
        .collect();
    let body = WireEmbeddingsResponseOut {
        object: "list",
        data,
        model: &response.model,
        usage: WireEmbeddingsUsageOut {
            prompt_tokens: response.input_tokens,
            total_tokens: response.input_tokens,
        },
    };
    // Serialising plain structs cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}

// Typed rather than `Value`, so `f32`s are written in their own shortest form (a `Value`
// would widen them to `f64` and print digits the model never produced).
#[derive(Serialize)]
struct WireEmbeddingsResponseOut<'a> {
    object: &'static str,
    data: Vec<WireEmbeddingOut<'a>>,
    model: &'a str,
    usage: WireEmbeddingsUsageOut,
}

#[derive(Serialize)]
struct WireEmbeddingOut<'a> {
    object: &'static str,
    index: usize,
    embedding: EmbeddingOut<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum EmbeddingOut<'a> {
    Floats(&'a [f32]),
    Base64(String),
}

#[derive(Serialize)]
struct WireEmbeddingsUsageOut {
    prompt_tokens: u64,
    total_tokens: u64,
}
