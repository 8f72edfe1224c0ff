//! Embeddings through InvokeModel (`/model/<id>/invoke`), whose body is the model
//! family's own: Amazon Titan Text Embeddings (one text per call) and Cohere Embed.

use serde_json::{Map, Value, json};
use sluice_core::chat::{EmbeddingsRequest, EmbeddingsResponse};

use super::converse::PROVIDER;
use crate::TranslateError;

/// The embedding model families this module speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    /// `amazon.titan-embed-text-v1`: no `dimensions`.
    TitanTextV1,
    /// `amazon.titan-embed-text-v2:0` and later: `dimensions` (256, 512, 1024).
    TitanText,
    /// `amazon.titan-embed-image-v1`: text goes in `inputText` as well, the size in
    /// `embeddingConfig.outputEmbeddingLength`.
    TitanMultimodal,
    /// `cohere.embed-english-v3`, `cohere.embed-multilingual-v3`: no size choice.
    CohereV3,
    /// `cohere.embed-v4:0`: `output_dimension`.
    CohereV4,
}

/// The family of `model`: a base model id, a cross-region inference profile
/// (`us.cohere.embed-v4:0`) or an ARN ending in either.
fn family(model: &str) -> Option<Family> {
    let base = model.rsplit('/').next().unwrap_or(model);
    let candidates = [Some(base), base.split_once('.').map(|(_, rest)| rest)];
    candidates.into_iter().flatten().find_map(|id| {
        if id.starts_with("amazon.titan-embed-text-v1") {
            Some(Family::TitanTextV1)
        } else if id.starts_with("amazon.titan-embed-text") {
            Some(Family::TitanText)
        } else if id.starts_with("amazon.titan-embed-image") {
            Some(Family::TitanMultimodal)
        } else if id.starts_with("cohere.embed-english-v3")
            || id.starts_with("cohere.embed-multilingual-v3")
        {
            Some(Family::CohereV3)
        } else if id.starts_with("cohere.embed") {
            Some(Family::CohereV4)
        } else {
            None
        }
    })
}

fn unsupported(param: &str, reason: impl Into<String>) -> TranslateError {
    TranslateError::Unsupported {
        param: param.to_string(),
        provider: PROVIDER,
        reason: reason.into(),
    }
}

/// The InvokeModel body for `request` on `model`.
///
/// Titan takes one text per call: more than one input is refused (the caller may fan
/// out). Cohere requires `input_type`; absent, it is `search_document` (what an
/// OpenAI-style client embedding a corpus means). `user` and `encoding_format` are not
/// sent: the first is a hint, the second is applied by the client-facing encoder.
pub fn encode_embeddings_request(
    request: &EmbeddingsRequest,
    model: &str,
) -> Result<Vec<u8>, TranslateError> {
    let Some(family) = family(model) else {
        return Err(unsupported(
            "model",
            format!(
                "`{model}` is not an embedding model Sluice can call on Bedrock (amazon.titan-embed-*, cohere.embed-*)"
            ),
        ));
    };
    let mut body = Map::new();
    match family {
        Family::TitanTextV1 | Family::TitanText | Family::TitanMultimodal => {
            let [text] = request.input.as_slice() else {
                return Err(unsupported(
                    "input",
                    format!(
                        "Titan embeds one text per call, this request has {}",
                        request.input.len()
                    ),
                ));
            };
            body.insert("inputText".to_string(), json!(text));
            match (family, request.dimensions) {
                (_, None) => {}
                (Family::TitanText, Some(dimensions)) => {
                    body.insert("dimensions".to_string(), json!(dimensions));
                }
                (Family::TitanMultimodal, Some(dimensions)) => {
                    body.insert(
                        "embeddingConfig".to_string(),
                        json!({"outputEmbeddingLength": dimensions}),
                    );
                }
                (_, Some(_)) => {
                    return Err(unsupported(
                        "dimensions",
                        "Titan Text Embeddings v1 has a fixed size; use v2",
                    ));
                }
            }
        }
        Family::CohereV3 | Family::CohereV4 => {
            body.insert("texts".to_string(), json!(request.input));
            body.insert(
                "input_type".to_string(),
                json!(request.input_type.as_deref().unwrap_or("search_document")),
            );
            body.insert("embedding_types".to_string(), json!(["float"]));
            match (family, request.dimensions) {
                (_, None) => {}
                (Family::CohereV4, Some(dimensions)) => {
                    body.insert("output_dimension".to_string(), json!(dimensions));
                }
                (_, Some(_)) => {
                    return Err(unsupported(
                        "dimensions",
                        "Cohere Embed v3 has a fixed size; use cohere.embed-v4",
                    ));
                }
            }
        }
    }
    serde_json::to_vec(&Value::Object(body))
        .map_err(|err| TranslateError::invalid(format!("The request could not be encoded: {err}")))
}

/// Reads an InvokeModel embeddings answer of `model`. Cohere's body has no token count
/// (Bedrock puts it in the `X-Amzn-Bedrock-Input-Token-Count` header): it is 0 here.
pub fn decode_embeddings_response(
    model: &str,
    body: &[u8],
) -> Result<EmbeddingsResponse, TranslateError> {
    let root: Value = serde_json::from_slice(body)
        .map_err(|err| TranslateError::upstream(format!("invalid JSON: {err}")))?;
    let family = family(model).ok_or_else(|| {
        TranslateError::upstream(format!("`{model}` is not a known embedding model"))
    })?;
    let (vectors, input_tokens) = match family {
        Family::TitanTextV1 | Family::TitanText | Family::TitanMultimodal => {
            let vector = root
                .get("embedding")
                .ok_or_else(|| TranslateError::upstream("the answer has no `embedding`"))
                .and_then(to_vector)?;
            let tokens = root
                .get("inputTextTokenCount")
                .and_then(Value::as_u64)
                .unwrap_or(0);
            (vec![vector], tokens)
        }
        Family::CohereV3 | Family::CohereV4 => {
            // `embeddings_floats` answers hold the vectors directly; `embeddings_by_type`
            // answers (when `embedding_types` was sent) hold them under `float`.
            let embeddings = root
                .get("embeddings")
                .ok_or_else(|| TranslateError::upstream("the answer has no `embeddings`"))?;
            let list = embeddings.get("float").unwrap_or(embeddings);
            let list = list
                .as_array()
                .ok_or_else(|| TranslateError::upstream("`embeddings` holds no float vectors"))?;
            (list.iter().map(to_vector).collect::<Result<_, _>>()?, 0)
        }
    };
    Ok(EmbeddingsResponse {
        model: model.to_string(),
        vectors,
        input_tokens,
    })
}

fn to_vector(value: &Value) -> Result<Vec<f32>, TranslateError> {
    let numbers = value
        .as_array()
        .ok_or_else(|| TranslateError::upstream("an embedding is not an array"))?;
    numbers
        .iter()
        .map(|number| {
            number
                .as_f64()
                // Embeddings are f32 on every provider; the narrowing is intended.
                .map(|float| float as f32)
                .ok_or_else(|| TranslateError::upstream("an embedding holds a non-number"))
        })
        .collect()
}
