//! Helpers the dialect test files share: parsing bodies, building messages, feeding a
//! stream to a decoder in any split and writing events through an encoder. Each dialect
//! keeps its own fixtures and expectations in its own file.

#![allow(dead_code)]

use std::fmt::Debug;

use bytes::BytesMut;
use serde_json::Value;
use sluice_core::chat::{Message, Part, Role, StreamEvent, TextBlock};
use sluice_providers::{StreamDecoder, StreamEncoder, TranslateError};

/// Parses a JSON body, panicking if it is not JSON.
pub fn body_json(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap()
}

/// A message of `role` made of `content`.
pub fn message(role: Role, content: Vec<Part>) -> Message {
    Message { role, content }
}

/// A user message holding one text block.
pub fn user_text(text: &str) -> Message {
    message(Role::User, vec![Part::Text(TextBlock::new(text))])
}

/// Decodes `bytes` cut at offsets `cuts` (mod `len + 1`), keeping the events before an error.
pub fn decode_at_cuts_partial(
    mut decoder: impl StreamDecoder,
    bytes: &[u8],
    cuts: &[usize],
) -> (Vec<StreamEvent>, Result<(), TranslateError>) {
    let mut points: Vec<usize> = cuts.iter().map(|cut| cut % (bytes.len() + 1)).collect();
    points.sort_unstable();
    let mut events = Vec::new();
    let mut start = 0;
    for point in points {
        if let Err(err) = decoder.feed(&bytes[start..point], &mut events) {
            return (events, Err(err));
        }
        start = point;
    }
    let result = decoder
        .feed(&bytes[start..], &mut events)
        .and_then(|()| decoder.finish(&mut events));
    (events, result)
}

/// Decodes `bytes` cut at offsets `cuts` (mod `len + 1`), failing on the first error.
pub fn decode_at_cuts(
    decoder: impl StreamDecoder,
    bytes: &[u8],
    cuts: &[usize],
) -> Result<Vec<StreamEvent>, TranslateError> {
    let (events, result) = decode_at_cuts_partial(decoder, bytes, cuts);
    result.map(|()| events)
}

/// Decodes `bytes` whole, bytewise and in 20 pseudo-random splits; asserts they agree.
pub fn decode_every_way<D: StreamDecoder>(
    new_decoder: impl Fn() -> D,
    bytes: &[u8],
) -> Vec<StreamEvent> {
    let whole = decode_at_cuts(new_decoder(), bytes, &[]).unwrap();
    let bytewise: Vec<usize> = (1..bytes.len()).collect();
    assert_eq!(
        decode_at_cuts(new_decoder(), bytes, &bytewise).unwrap(),
        whole
    );
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..20 {
        let cuts: Vec<usize> = (0..8)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                (state >> 33) as usize
            })
            .collect();
        assert_eq!(decode_at_cuts(new_decoder(), bytes, &cuts).unwrap(), whole);
    }
    whole
}

/// Decodes `bytes` fed in pieces of `sizes` (clamped to 1..=rest; rest whole when they end).
pub fn decode_in_sizes(
    mut decoder: impl StreamDecoder,
    bytes: &[u8],
    sizes: impl IntoIterator<Item = usize>,
) -> Result<Vec<StreamEvent>, TranslateError> {
    let mut sizes = sizes.into_iter();
    let mut events = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        let size = sizes.next().unwrap_or(rest.len()).clamp(1, rest.len());
        let (piece, tail) = rest.split_at(size);
        decoder.feed(piece, &mut events)?;
        rest = tail;
    }
    decoder.finish(&mut events)?;
    Ok(events)
}

/// Writes `events` through `encoder` and returns the bytes it wrote.
pub fn encode_all(encoder: &mut impl StreamEncoder, events: &[StreamEvent]) -> BytesMut {
    let mut out = BytesMut::new();
    for event in events {
        encoder.encode(event, &mut out);
    }
    out
}

/// The `param` an `Unsupported` error names, panicking on any other result.
pub fn unsupported_param<T: Debug>(result: Result<T, TranslateError>) -> String {
    match result {
        Err(TranslateError::Unsupported { param, .. }) => param,
        other => panic!("expected Unsupported, got {other:?}"),
    }
}

/// Asserts `result` is an `InvalidUpstream` error.
pub fn assert_invalid_upstream<T: Debug>(result: Result<T, TranslateError>) {
    assert!(
        matches!(result, Err(TranslateError::InvalidUpstream(_))),
        "expected InvalidUpstream, got {result:?}"
    );
}

/// The `param` an `InvalidRequest` error names, panicking on any other result.
pub fn invalid_request_param<T: Debug>(result: Result<T, TranslateError>) -> Option<String> {
    match result {
        Err(TranslateError::InvalidRequest { param, .. }) => param,
        other => panic!("expected InvalidRequest, got {other:?}"),
    }
}
