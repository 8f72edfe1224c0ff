//! Embeddings: the Gemini API's `:batchEmbedContents` and Vertex AI's `:predict`.

use serde_json::{Map, Value, json};
use sluice_core::chat::{EmbeddingsRequest, EmbeddingsResponse};

use super::parts::note_dropped;
use crate::{Encoded, TranslateError};

/// The Gemini `taskType` for a canonical `input_type`; Gemini's own names pass as they
/// are. `None` for anything else (dropped: a hint only).
fn task_type(input_type: &str) -> Option<&'static str> {
    Some(match input_type {
        "search_document" | "RETRIEVAL_DOCUMENT" => "RETRIEVAL_DOCUMENT",
        "search_query" | "RETRIEVAL_QUERY" => "RETRIEVAL_QUERY",
        "classification" | "CLASSIFICATION" => "CLASSIFICATION",
        "clustering" | "CLUSTERING" => "CLUSTERING",
        "SEMANTIC_SIMILARITY" => "SEMANTIC_SIMILARITY",
        "QUESTION_ANSWERING" => "QUESTION_ANSWERING",
        "FACT_VERIFICATION" => "FACT_VERIFICATION",
        "CODE_RETRIEVAL_QUERY" => "CODE_RETRIEVAL_QUERY",
        _ => return None,
    })
}

fn common_checks(
    request: &EmbeddingsRequest,
    dropped: &mut Vec<String>,
) -> Result<Option<&'static str>, TranslateError> {
    if request.input.is_empty() {
        return Err(TranslateError::invalid_param(
            "input",
            "`input` must hold at least one text",
        ));
    }
    if request.user.is_some() {
        note_dropped(dropped, "user");
    }
    let task = match request.input_type.as_deref() {
        None => None,
        Some(input_type) => {
            let task = task_type(input_type);
            if task.is_none() {
                note_dropped(dropped, "input_type");
            }
            task
        }
    };
    Ok(task)
}

/// Body of the Gemini API's `models/{model}:batchEmbedContents`; each request names the
/// model again, which is why this takes it.
pub fn encode_embeddings_request(
    request: &EmbeddingsRequest,
    model: &str,
) -> Result<Encoded, TranslateError> {
    let mut dropped = Vec::new();
    let task = common_checks(request, &mut dropped)?;
    let model = if model.starts_with("models/") {
        model.to_string()
    } else {
        format!("models/{model}")
    };
    let requests: Vec<Value> = request
        .input
        .iter()
        .map(|text| {
            let mut item = json!({"model": model, "content": {"parts": [{"text": text}]}});
            if let Some(task) = task {
                item["taskType"] = json!(task);
            }
            if let Some(dimensions) = request.dimensions {
                item["outputDimensionality"] = json!(dimensions);
            }
            item
        })
        .collect();
    Ok(Encoded {
        body: json!({"requests": requests}).to_string().into_bytes(),
        dropped,
    })
}

/// Reads `{embeddings:[{values}]}`. The Gemini API reports no token count, and the model
/// is the one the caller asked for (left empty here).
pub fn decode_embeddings_response(body: &[u8]) -> Result<EmbeddingsResponse, TranslateError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|err| TranslateError::upstream(format!("Gemini embeddings: {err}")))?;
    let embeddings = value
        .get("embeddings")
        .and_then(Value::as_array)
        .ok_or_else(|| TranslateError::upstream("Gemini embeddings answer has no `embeddings`"))?;
    let vectors = embeddings
        .iter()
        .map(|embedding| floats(embedding.get("values")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(EmbeddingsResponse {
        model: String::new(),
        vectors,
        input_tokens: 0,
    })
}

/// Body of Vertex AI's `publishers/google/models/{model}:predict` for text embeddings.
pub fn encode_vertex_embeddings_request(
    request: &EmbeddingsRequest,
) -> Result<Encoded, TranslateError> {
    let mut dropped = Vec::new();
    let task = common_checks(request, &mut dropped)?;
    let instances: Vec<Value> = request
        .input
        .iter()
        .map(|text| {
            let mut instance = json!({"content": text});
            if let Some(task) = task {
                instance["task_type"] = json!(task);
            }
            instance
        })
        .collect();
    let mut body = Map::new();
    body.insert("instances".into(), Value::Array(instances));
    if let Some(dimensions) = request.dimensions {
        body.insert(
            "parameters".into(),
            json!({"outputDimensionality": dimensions}),
        );
    }
    Ok(Encoded {
        body: Value::Object(body).to_string().into_bytes(),
        dropped,
    })
}

/// Reads `{predictions:[{embeddings:{values, statistics:{token_count}}}]}`; the input
/// token count is the sum over the texts.
pub fn decode_vertex_embeddings_response(
    body: &[u8],
) -> Result<EmbeddingsResponse, TranslateError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|err| TranslateError::upstream(format!("Vertex embeddings: {err}")))?;
    let predictions = value
        .get("predictions")
        .and_then(Value::as_array)
        .ok_or_else(|| TranslateError::upstream("Vertex embeddings answer has no `predictions`"))?;
    let mut response = EmbeddingsResponse::default();
    for prediction in predictions {
        let embeddings = prediction
            .get("embeddings")
            .ok_or_else(|| TranslateError::upstream("a Vertex prediction has no `embeddings`"))?;
        response.vectors.push(floats(embeddings.get("values"))?);
        // Vertex writes the count as a JSON number that may carry a fraction (`8.0`).
        let tokens = embeddings
            .pointer("/statistics/token_count")
            .and_then(Value::as_f64)
            .unwrap_or(0.0);
        if tokens.is_finite() && tokens > 0.0 {
            response.input_tokens += tokens.round() as u64;
        }
    }
    Ok(response)
}

fn floats(values: Option<&Value>) -> Result<Vec<f32>, TranslateError> {
    let values = values
        .and_then(Value::as_array)
        .ok_or_else(|| TranslateError::upstream("an embedding has no `values`"))?;
    values
        .iter()
        .map(|value| {
            value
                .as_f64()
                .map(|number| number as f32)
                .ok_or_else(|| TranslateError::upstream("an embedding value is not a number"))
        })
        .collect()
}
