//! One entry point per translation step, dispatching on the dialect (or, where two
//! kinds share a dialect but not every format, on the provider kind): what the gateway
//! calls so it never names a dialect module itself.

use http::{HeaderMap, StatusCode};
use sluice_core::ApiError;
use sluice_core::chat::{ChatRequest, ChatResponse, EmbeddingsRequest, EmbeddingsResponse};
use sluice_core::config::ProviderKind;

use crate::dialect::{Dialect, Encoded, StreamDecoder, StreamEncoder, TranslateError};
use crate::{anthropic, bedrock, cohere, gemini, openai};

pub fn decode_request(dialect: Dialect, body: &[u8]) -> Result<ChatRequest, TranslateError> {
    match dialect {
        Dialect::OpenAi => openai::decode_request(body),
        Dialect::Anthropic => anthropic::decode_request(body),
        Dialect::Gemini => gemini::decode_request(body),
        Dialect::Bedrock => bedrock::decode_request(body),
        Dialect::Cohere => cohere::decode_request(body),
    }
}

/// Encodes a request for a provider of `kind`, applying its preset's quirks.
pub fn encode_request(
    kind: ProviderKind,
    request: &ChatRequest,
    model: &str,
) -> Result<Encoded, TranslateError> {
    match Dialect::of(kind) {
        Dialect::OpenAi => {
            let encoded = openai::encode_request(request, model)?;
            match kind {
                // OpenAI's reasoning models take only `max_completion_tokens`.
                ProviderKind::Openai | ProviderKind::Azure => Ok(encoded),
                ProviderKind::Preset(preset) => {
                    if !preset.tools && !request.tools.is_empty() {
                        return Err(TranslateError::Unsupported {
                            param: "tools".to_string(),
                            provider: preset.display_name,
                            reason: "its models do not call tools".to_string(),
                        });
                    }
                    with_family_quirks(encoded, preset.refuses)
                }
                _ => with_family_quirks(encoded, &[]),
            }
        }
        Dialect::Anthropic => anthropic::encode_request(request, model),
        Dialect::Gemini => gemini::encode_request(request, model),
        Dialect::Bedrock => bedrock::encode_request(request, model),
        Dialect::Cohere => cohere::encode_request(request, model),
    }
}

/// The OpenAI-compatible family reads `max_tokens` (Mistral has no
/// `max_completion_tokens`, older servers ignore it), and some services refuse fields
/// outright (Mistral answers 422 to any field it does not know).
fn with_family_quirks(mut encoded: Encoded, refuses: &[&str]) -> Result<Encoded, TranslateError> {
    let mut body: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(&encoded.body)?;
    if let Some(max_tokens) = body.remove("max_completion_tokens") {
        body.insert("max_tokens".to_string(), max_tokens);
    }
    for field in refuses {
        if body.remove(*field).is_some() && *field != "stream_options" {
            encoded.dropped.push((*field).to_string());
        }
    }
    encoded.body = serde_json::to_vec(&body)?;
    Ok(encoded)
}

pub fn decode_response(dialect: Dialect, body: &[u8]) -> Result<ChatResponse, TranslateError> {
    match dialect {
        Dialect::OpenAi => openai::decode_response(body),
        Dialect::Anthropic => anthropic::decode_response(body),
        Dialect::Gemini => gemini::decode_response(body),
        Dialect::Bedrock => bedrock::decode_response(body),
        Dialect::Cohere => cohere::decode_response(body),
    }
}

pub fn encode_response(dialect: Dialect, response: &ChatResponse) -> Vec<u8> {
    match dialect {
        Dialect::OpenAi => openai::encode_response(response),
        Dialect::Anthropic => anthropic::encode_response(response),
        Dialect::Gemini => gemini::encode_response(response),
        Dialect::Bedrock => bedrock::encode_response(response),
        Dialect::Cohere => cohere::encode_response(response),
    }
}

/// A decoder of the provider's stream; `model` names the model where the stream does
/// not (Bedrock).
pub fn stream_decoder(dialect: Dialect, model: &str) -> Box<dyn StreamDecoder> {
    match dialect {
        Dialect::OpenAi => Box::new(openai::OpenAiStreamDecoder::new()),
        Dialect::Anthropic => Box::new(anthropic::AnthropicStreamDecoder::new()),
        Dialect::Gemini => Box::new(gemini::GeminiStreamDecoder::new()),
        Dialect::Bedrock => Box::new(bedrock::BedrockStreamDecoder::with_model(model)),
        Dialect::Cohere => Box::new(cohere::CohereStreamDecoder::new()),
    }
}

/// An encoder of the client's stream; `include_usage` is the OpenAI client's
/// `stream_options.include_usage` (the other dialects always carry usage).
pub fn stream_encoder(dialect: Dialect, include_usage: bool) -> Box<dyn StreamEncoder> {
    match dialect {
        Dialect::OpenAi => Box::new(openai::OpenAiStreamEncoder::new(include_usage)),
        Dialect::Anthropic => Box::new(anthropic::AnthropicStreamEncoder::new()),
        Dialect::Gemini => Box::new(gemini::GeminiStreamEncoder::new()),
        Dialect::Bedrock => Box::new(bedrock::BedrockStreamEncoder::new()),
        Dialect::Cohere => Box::new(cohere::CohereStreamEncoder::new()),
    }
}

/// A provider's error answer as the canonical error.
pub fn decode_error(
    dialect: Dialect,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiError {
    match dialect {
        Dialect::OpenAi => openai::decode_error(status, body),
        Dialect::Anthropic => anthropic::decode_error(status, body),
        Dialect::Gemini => gemini::decode_error(status, body),
        Dialect::Bedrock => bedrock::decode_error_response(status, headers, body),
        Dialect::Cohere => cohere::decode_error(status, body),
    }
}

/// Token counts are asked in the Anthropic dialect only.
pub fn decode_count_tokens_request(body: &[u8]) -> Result<ChatRequest, TranslateError> {
    anthropic::decode_count_tokens_request(body)
}

/// Embeddings requests arrive in the OpenAI dialect only.
pub fn decode_embeddings_request(body: &[u8]) -> Result<EmbeddingsRequest, TranslateError> {
    openai::decode_embeddings_request(body)
}

pub fn encode_embeddings_request(
    kind: ProviderKind,
    request: &EmbeddingsRequest,
    model: &str,
) -> Result<Encoded, TranslateError> {
    let whole = |body: Vec<u8>| Encoded {
        body,
        dropped: Vec::new(),
    };
    match kind {
        ProviderKind::Vertex => gemini::encode_vertex_embeddings_request(request),
        _ => match Dialect::of(kind) {
            Dialect::OpenAi => openai::encode_embeddings_request(request, model).map(whole),
            Dialect::Gemini => gemini::encode_embeddings_request(request, model),
            Dialect::Bedrock => bedrock::encode_embeddings_request(request, model).map(whole),
            Dialect::Cohere => cohere::encode_embeddings_request(request, model),
            Dialect::Anthropic => Err(no_embeddings("Anthropic")),
        },
    }
}

fn no_embeddings(provider: &'static str) -> TranslateError {
    TranslateError::Unsupported {
        param: "model".to_string(),
        provider,
        reason: "the provider has no embeddings API".to_string(),
    }
}

pub fn decode_embeddings_response(
    kind: ProviderKind,
    model: &str,
    body: &[u8],
) -> Result<EmbeddingsResponse, TranslateError> {
    match kind {
        ProviderKind::Vertex => gemini::decode_vertex_embeddings_response(body),
        _ => match Dialect::of(kind) {
            Dialect::OpenAi => openai::decode_embeddings_response(body),
            Dialect::Gemini => gemini::decode_embeddings_response(body),
            Dialect::Bedrock => bedrock::decode_embeddings_response(model, body),
            Dialect::Cohere => cohere::decode_embeddings_response(body),
            Dialect::Anthropic => Err(no_embeddings("Anthropic")),
        },
    }
}

pub fn encode_embeddings_response(
    response: &EmbeddingsResponse,
    encoding_format: Option<&str>,
) -> Vec<u8> {
    openai::encode_embeddings_response(response, encoding_format)
}

/// A token-count request for providers that count tokens with their own endpoint
/// (Gemini, Vertex); the others cannot answer it.
pub fn encode_count_tokens_request(
    kind: ProviderKind,
    request: &ChatRequest,
    model: &str,
) -> Result<Vec<u8>, TranslateError> {
    let mut request = request.clone();
    request.model = model.to_string();
    match kind {
        ProviderKind::Vertex => gemini::encode_vertex_count_tokens_request(&request),
        ProviderKind::Gemini => gemini::encode_count_tokens_request(&request),
        _ => Err(TranslateError::Unsupported {
            param: "model".to_string(),
            provider: "this provider",
            reason: "it has no token-counting endpoint".to_string(),
        }),
    }
}

pub fn decode_count_tokens_response(dialect: Dialect, body: &[u8]) -> Result<u64, TranslateError> {
    match dialect {
        Dialect::Gemini => gemini::decode_count_tokens_response(body),
        _ => anthropic::decode_count_tokens_response(body),
    }
}

/// `{"input_tokens": N}`, the Anthropic answer.
pub fn encode_count_tokens_response(input_tokens: u64) -> Vec<u8> {
    anthropic::encode_count_tokens_response(input_tokens)
}
