//! Embeddings: the canonical request to Cohere's `POST /v2/embed` and its answer back.

use sluice_core::chat::{EmbeddingsRequest, EmbeddingsResponse};

use super::wire::{EmbedRequestWire, EmbedResponseWire, EmbeddingsWire, count};
use crate::dialect::{Encoded, TranslateError};

/// Cohere's v3 and newer models require an input type; documents is the neutral choice
/// for clients (OpenAI's) that send none.
const DEFAULT_INPUT_TYPE: &str = "search_document";

/// Writes `{model, texts, input_type, embedding_types: ["float"], output_dimension}`.
/// Floats are always asked for: the OpenAI encoder applies `encoding_format` itself.
/// `user` has no field and is dropped.
pub fn encode_embeddings_request(
    request: &EmbeddingsRequest,
    model: &str,
) -> Result<Encoded, TranslateError> {
    let wire = EmbedRequestWire {
        model,
        texts: &request.input,
        input_type: request
            .input_type
            .as_deref()
            .map_or(DEFAULT_INPUT_TYPE, cohere_input_type),
        embedding_types: ["float"],
        output_dimension: request.dimensions,
    };
    let body = serde_json::to_vec(&wire)
        .map_err(|err| TranslateError::invalid(format!("The request cannot be encoded: {err}")))?;
    let dropped = if request.user.is_some() {
        vec!["user".to_string()]
    } else {
        Vec::new()
    };
    Ok(Encoded { body, dropped })
}

/// Reads `{id, embeddings: {float: [[...]]}, texts, meta: {billed_units: {input_tokens}}}`.
/// Cohere names no model in its answer, so `model` is empty.
pub fn decode_embeddings_response(body: &[u8]) -> Result<EmbeddingsResponse, TranslateError> {
    let wire: EmbedResponseWire = serde_json::from_slice(body)
        .map_err(|err| TranslateError::upstream(format!("Cohere embed response: {err}")))?;
    let vectors = match wire.embeddings {
        Some(EmbeddingsWire::ByType {
            float: Some(vectors),
        })
        | Some(EmbeddingsWire::Floats(vectors)) => vectors,
        _ => {
            return Err(TranslateError::upstream(
                "Cohere embed response: no float embeddings",
            ));
        }
    };
    let input_tokens = wire
        .meta
        .and_then(|meta| meta.billed_units)
        .and_then(|billed| count(billed.input_tokens.as_ref()))
        .unwrap_or(0);
    Ok(EmbeddingsResponse {
        model: String::new(),
        vectors,
        input_tokens,
    })
}

/// Gemini's task types (the other dialect with a task hint) by their Cohere names; a
/// Cohere name, or any other, is sent as given.
fn cohere_input_type(input_type: &str) -> &str {
    match input_type {
        "RETRIEVAL_QUERY" | "QUESTION_ANSWERING" | "CODE_RETRIEVAL_QUERY" => "search_query",
        "RETRIEVAL_DOCUMENT" | "SEMANTIC_SIMILARITY" | "FACT_VERIFICATION" => "search_document",
        "CLASSIFICATION" => "classification",
        "CLUSTERING" => "clustering",
        other => other,
    }
}
