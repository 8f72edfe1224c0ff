//! The Amazon Bedrock dialect: the Converse API (request, response, ConverseStream),
//! SigV4 request signing, the binary event-stream framing, and embeddings through
//! InvokeModel.
//!
//! It follows the shape of every dialect module ([`crate::dialect`]) with two documented
//! differences: the model id is in the URL path ([`model_path`]), not the body, and
//! [`decode_error`] also takes the `x-amzn-ErrorType` header, where Bedrock names the
//! error (bodies hold only a message).
//!
//! Signing and framing are written on `ring` and `crc32fast` rather than the AWS crates
//! (`aws-sigv4`, `aws-credential-types`, `aws-smithy-eventstream` add 34 crates to the
//! tree), and are checked against AWS's published test vectors.

mod converse;
mod embeddings;
pub mod eventstream;
mod sigv4;
mod stream;

pub use converse::{decode_request, decode_response, encode_request, encode_response};
pub use embeddings::{decode_embeddings_response, encode_embeddings_request};
pub use sigv4::{AwsCredentials, SignError, canonical_request, model_path, sign, sign_request};
pub use stream::{BedrockStreamDecoder, BedrockStreamEncoder};

use http::{HeaderMap, StatusCode};
use sluice_core::{ApiError, ErrorKind};

/// The SigV4 service name of the Bedrock runtime (`bedrock-runtime.<region>.amazonaws.com`).
pub const SIGNING_SERVICE: &str = "bedrock";

/// The content type of a ConverseStream (and InvokeModelWithResponseStream) body.
pub const STREAM_CONTENT_TYPE: &str = "application/vnd.amazon.eventstream";

/// The header Bedrock names its error in, e.g.
/// `ThrottlingException:http://internal.amazon.com/coral/com.amazon.bedrock/`.
pub const ERROR_TYPE_HEADER: &str = "x-amzn-errortype";

/// Decodes a Bedrock error answer. Unlike the other dialects it takes the value of the
/// `x-amzn-ErrorType` header (see [`decode_error_response`] to pass the headers), since
/// the body is only `{"message": "..."}` (`Message` for some errors).
///
/// The provider's message is kept; the exception name decides the kind, and the status
/// when the name is missing or unknown.
pub fn decode_error(status: StatusCode, error_type: Option<&str>, body: &[u8]) -> ApiError {
    let message = stream::payload_message(body);
    let message = if message.trim().is_empty() {
        status
            .canonical_reason()
            .unwrap_or("Bedrock returned an error")
            .to_string()
    } else {
        message
    };
    // The header value is `Name:namespace`; some answers carry the name in the body's
    // `__type` instead (`namespace#Name`).
    let body_type = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|value| {
            value
                .get("__type")
                .and_then(|kind| kind.as_str())
                .map(str::to_string)
        });
    let name = error_type
        .map(|value| value.split(':').next().unwrap_or(value).trim().to_string())
        .or_else(|| body_type.map(|value| value.rsplit('#').next().unwrap_or(&value).to_string()))
        .unwrap_or_default();
    error_from_exception(&name, &message, Some(status))
}

/// [`decode_error`] with the response headers.
pub fn decode_error_response(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> ApiError {
    let error_type = headers
        .get(ERROR_TYPE_HEADER)
        .and_then(|value| value.to_str().ok());
    decode_error(status, error_type, body)
}

/// The error for a Bedrock exception name, as the HTTP API (`ThrottlingException`) or a
/// stream (`throttlingException`) spells it.
pub(crate) fn error_from_exception(
    name: &str,
    message: &str,
    status: Option<StatusCode>,
) -> ApiError {
    let lower = name.to_ascii_lowercase();
    let kind = match lower.as_str() {
        "validationexception" if is_context_overflow(message) => ErrorKind::ContextTooLong,
        "validationexception" => ErrorKind::InvalidRequest,
        "accessdeniedexception" => ErrorKind::PermissionDenied,
        "unrecognizedclientexception"
        | "expiredtokenexception"
        | "invalidsignatureexception"
        | "incompletesignatureexception"
        | "missingauthenticationtokenexception"
        | "invalidclienttokenid" => ErrorKind::Authentication,
        "resourcenotfoundexception" => ErrorKind::ModelNotFound,
        "throttlingexception" | "servicequotaexceededexception" | "modelnotreadyexception" => {
            ErrorKind::RateLimited
        }
        "serviceunavailableexception" => ErrorKind::Overloaded,
        "internalserverexception"
        | "modelstreamerrorexception"
        | "modelerrorexception"
        | "modeltimeoutexception" => ErrorKind::ProviderError,
        _ => kind_from_status(status),
    };
    let error = ApiError::new(kind, message.to_string());
    // Keep a provider status the kind would not give (a 503 internal error, the 408 of a
    // model timeout, the 424 of a model error).
    match status {
        Some(status) if kind == ErrorKind::ProviderError && status != kind.status() => {
            error.with_status(status)
        }
        _ => error,
    }
}

fn kind_from_status(status: Option<StatusCode>) -> ErrorKind {
    match status.map(|status| status.as_u16()) {
        Some(400) => ErrorKind::InvalidRequest,
        Some(401) => ErrorKind::Authentication,
        Some(403) => ErrorKind::PermissionDenied,
        Some(404) => ErrorKind::ModelNotFound,
        Some(413) => ErrorKind::PayloadTooLarge,
        Some(429) => ErrorKind::RateLimited,
        Some(503) => ErrorKind::Overloaded,
        _ => ErrorKind::ProviderError,
    }
}

/// Bedrock reports an over-long prompt as a plain ValidationException; its message says
/// so ("Input is too long for requested model.", "prompt is too long", "too many input
/// tokens", "... exceeds the context window").
fn is_context_overflow(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    [
        "too long",
        "too many tokens",
        "too many input tokens",
        "context window",
        "context length",
        "input length",
        "maximum context",
    ]
    .iter()
    .any(|pattern| message.contains(pattern))
}

/// The stream exception that carries `kind` (the reverse of [`error_from_exception`]).
pub(crate) fn exception_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::RateLimited => "throttlingException",
        ErrorKind::Overloaded | ErrorKind::Unavailable => "serviceUnavailableException",
        ErrorKind::InvalidRequest
        | ErrorKind::ContextTooLong
        | ErrorKind::PayloadTooLarge
        | ErrorKind::MethodNotAllowed => "validationException",
        _ => "internalServerException",
    }
}
