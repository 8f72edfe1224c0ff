//! Reading the few fields the gateway needs from an OpenAI-dialect request body, and
//! replacing the model name in place, so the pass-through path never re-serialises JSON.
//!
//! The body is still scanned once by serde_json (to refuse malformed JSON with a 400),
//! but every field other than the ones named here is skipped without being built.

use std::borrow::Cow;
use std::ops::Range;

use bytes::{Bytes, BytesMut};
use serde_json::value::RawValue;
use sluice_core::{ApiError, RawFields};

/// What a request body must hold besides its model: `messages` for a chat (OpenAI chat
/// completions, Anthropic messages and token counts), `input` for embeddings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    Chat,
    Embeddings,
}

/// What the gateway learnt from a request body; borrows from it.
#[derive(Debug)]
pub struct PeekedRequest<'a> {
    pub model: Cow<'a, str>,
    /// Byte range of the model's JSON string (quotes included) in the body.
    model_span: Range<usize>,
    pub stream: bool,
}

impl PeekedRequest<'_> {
    /// The body with the model replaced by `model`; the same bytes when it is unchanged.
    pub fn with_model(&self, body: &Bytes, model: &str) -> Bytes {
        if model == self.model {
            return body.clone();
        }
        let mut encoded = Vec::with_capacity(model.len() + 2);
        // Serialising a str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut encoded, model);
        let mut out = BytesMut::with_capacity(body.len() + encoded.len());
        out.extend_from_slice(&body[..self.model_span.start]);
        out.extend_from_slice(&encoded);
        out.extend_from_slice(&body[self.model_span.end..]);
        out.freeze()
    }
}

/// Validates the body as far as the gateway must and returns the fields it routes on.
pub fn peek(kind: BodyKind, body: &[u8]) -> Result<PeekedRequest<'_>, ApiError> {
    peek_fields(kind, body).map(|(peeked, _)| peeked)
}

/// [`peek`], and every field its parse read (the token estimate's, besides the ones it
/// routes on). Apart, so that a caller holds the fields only as long as it needs them.
pub fn peek_fields(
    kind: BodyKind,
    body: &[u8],
) -> Result<(PeekedRequest<'_>, RawFields<'_>), ApiError> {
    let fields = RawFields::parse(body).map_err(|err| {
        use serde_json::error::Category;
        match err.classify() {
            Category::Data => ApiError::invalid_request(
                "The request body must be a JSON object.",
            ),
            Category::Io | Category::Syntax | Category::Eof => ApiError::invalid_request(format!(
                "We could not parse the JSON body of your request: {err}. The API expects a JSON object."
            )),
        }
    })?;

    // A field that is `null` reads as absent (`RawFields`).
    let model_raw = fields
        .model
        .ok_or_else(|| ApiError::missing_param("model"))?;
    let model: Cow<str> =
        parse_string(model_raw).ok_or_else(|| invalid_type("model", "a string", model_raw))?;
    if model.is_empty() {
        return Err(ApiError::invalid_request("'model' must not be empty.").with_param("model"));
    }
    let start = model_raw.get().as_ptr() as usize - body.as_ptr() as usize;
    let model_span = start..start + model_raw.get().len();

    match kind {
        BodyKind::Chat => {
            let messages = fields
                .messages
                .ok_or_else(|| ApiError::missing_param("messages"))?;
            if !messages.get().starts_with('[') {
                return Err(invalid_type("messages", "an array of objects", messages));
            }
            if messages
                .get()
                .trim_start_matches('[')
                .trim_start()
                .starts_with(']')
            {
                return Err(ApiError::invalid_request(
                    "Invalid 'messages': empty array. Expected an array with minimum length 1.",
                )
                .with_param("messages")
                .with_code("empty_array"));
            }
        }
        BodyKind::Embeddings => {
            let input = fields
                .input
                .ok_or_else(|| ApiError::missing_param("input"))?;
            let first = input.get().as_bytes().first().copied();
            if !matches!(first, Some(b'"' | b'[')) {
                return Err(invalid_type("input", "a string or an array", input));
            }
        }
    }

    let stream = match fields.stream.map(RawValue::get) {
        None | Some("null") | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            let raw = fields.stream.map_or("", RawValue::get);
            return Err(ApiError::invalid_request(format!(
                "Invalid type for 'stream': expected a boolean, but got {} instead.",
                json_type_name(raw)
            ))
            .with_param("stream"));
        }
    };

    Ok((
        PeekedRequest {
            model,
            model_span,
            stream,
        },
        fields,
    ))
}

/// A JSON string's value, borrowed when it holds no escapes.
fn parse_string(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    if inner.contains('\\') {
        serde_json::from_str::<String>(text).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(inner))
    }
}

fn invalid_type(param: &'static str, expected: &str, raw: &RawValue) -> ApiError {
    ApiError::invalid_request(format!(
        "Invalid type for '{param}': expected {expected}, but got {} instead.",
        json_type_name(raw.get())
    ))
    .with_param(param)
    .with_code("invalid_type")
}

fn json_type_name(raw: &str) -> &'static str {
    match raw.as_bytes().first() {
        Some(b'"') => "a string",
        Some(b'[') => "an array",
        Some(b'{') => "an object",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(body: &str) -> Result<PeekedRequest<'_>, ApiError> {
        peek(BodyKind::Chat, body.as_bytes())
    }

    #[test]
    fn reads_model_and_stream_and_rewrites_only_the_model() {
        let text = r#"{"messages":[{"role":"user","content":"hi"}], "model" : "mock/gpt",  "stream":true,"x":{"model":"keep"}}"#;
        let body = Bytes::from(text);
        let peeked = chat(text).expect("valid");
        assert_eq!(peeked.model, "mock/gpt");
        assert!(peeked.stream);
        let rewritten = peeked.with_model(&body, "gpt-4o");
        assert_eq!(
            std::str::from_utf8(&rewritten).expect("utf8"),
            text.replace("\"mock/gpt\"", "\"gpt-4o\"")
        );
    }

    #[test]
    fn escaped_model_names_are_unescaped_and_new_names_escaped() {
        let text = r#"{"model":"a\/b","messages":[{}]}"#;
        let peeked = chat(text).expect("valid");
        assert_eq!(peeked.model, "a/b");
        let rewritten = peeked.with_model(&Bytes::from(text), "q\"x");
        assert_eq!(&rewritten[..], br#"{"model":"q\"x","messages":[{}]}"#);
    }

    #[test]
    fn unchanged_model_reuses_the_body() {
        let body = Bytes::from_static(br#"{"model":"m","messages":[1]}"#);
        let peeked = chat(std::str::from_utf8(&body).expect("utf8")).expect("valid");
        assert_eq!(peeked.with_model(&body, "m").as_ptr(), body.as_ptr());
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (r#"{"messages":[1]}"#, Some("model")),
            (r#"{"model":null,"messages":[1]}"#, Some("model")),
            (r#"{"model":7,"messages":[1]}"#, Some("model")),
            (r#"{"model":"","messages":[1]}"#, Some("model")),
            (r#"{"model":"m"}"#, Some("messages")),
            (r#"{"model":"m","messages":"hi"}"#, Some("messages")),
            (r#"{"model":"m","messages":[ ]}"#, Some("messages")),
            (
                r#"{"model":"m","messages":[1],"stream":"yes"}"#,
                Some("stream"),
            ),
            (r#"{"model":"m","messages":[1]"#, None),
            (r#"[1,2]"#, None),
            ("", None),
            ("\u{0}\u{1}", None),
        ];
        for (body, param) in cases {
            let err = chat(body).expect_err(body);
            assert_eq!(err.status(), http::StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(err.param.as_deref(), param, "{body}: {}", err.message);
        }
        let err = peek(BodyKind::Embeddings, br#"{"model":"m"}"#).expect_err("no input");
        assert_eq!(err.param.as_deref(), Some("input"));
        assert!(peek(BodyKind::Embeddings, br#"{"model":"m","input":["a"]}"#).is_ok());
    }
}
