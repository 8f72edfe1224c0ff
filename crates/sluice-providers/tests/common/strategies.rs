//! Proptest strategies for the canonical chat types (`sluice_core::chat`), shared by the
//! round-trip tests of every dialect.
//!
//! # Use
//!
//! ```ignore
//! #[path = "common/strategies.rs"]
//! mod strategies;
//! use strategies::{RequestShape, chat_request_with};
//!
//! proptest! {
//!     #[test]
//!     fn request_round_trips(request in chat_request_with(RequestShape {
//!         top_k: false,          // this dialect cannot carry top_k
//!         thinking: false,
//!         ..RequestShape::full()
//!     })) { /* encode, decode, compare (normalised) */ }
//! }
//! ```
//!
//! `chat_request()`, `chat_response()` and `stream_events()` generate everything the
//! canonical types can hold (`*Shape::full()`); the `*_with` variants take a shape whose
//! booleans switch off what a dialect cannot carry, so a test compares without having to
//! normalise it away. `*Shape::minimal()` is the other end: plain text only.
//!
//! Generated values are well-formed per the canonical rules: roles alternate starting
//! with a user turn; an assistant turn holds thinking, then text, then tool calls; the
//! user turn after tool calls starts with one result per call (same ids and, when
//! `tool_result_names`, the call's name), optionally followed by more user content; the
//! request ends with a user turn. Tool-call ids are unique. Tool arguments are the text
//! of a small JSON object (serde_json's compact form). Text is never empty and mixes
//! ASCII, unicode and JSON-special characters (`"`, `\`, newline, tab, `{`, `}`). Numbers
//! that cross the wire as floats are "nice" decimals (n/10, n/100).
//!
//! Building blocks (`text()`, `identifier()`, `json_object_text()`, `tool_call()`,
//! `tool()`, `image()`, `usage()`, `finish_reason()`, …) are public for dialects that
//! want to compose their own.

#![allow(dead_code)]

use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{Map, Value, json};
use sluice_core::chat::{
    BlockKind, CacheControl, ChatRequest, ChatResponse, FinishReason, Image, Message, Part,
    Reasoning, ResponseFormat, Role, StreamEvent, TextBlock, Tool, ToolCall, ToolChoice,
    ToolResult, ToolResultContent, Usage,
};
use sluice_core::{ApiError, ErrorKind};

// ---------------------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------------------

/// What a generated request may contain. Every flag switches one feature on.
#[derive(Clone, Debug)]
pub struct RequestShape {
    /// Images in user turns (URL and base64).
    pub images: bool,
    /// Only base64 images (for dialects that cannot fetch URLs), when `images`.
    pub base64_images_only: bool,
    /// Several text parts in one message (else at most one text part per message).
    pub multiple_text_parts: bool,
    /// System blocks (one, or several when `multiple_text_parts`).
    pub system: bool,
    /// `Thinking` parts at the start of assistant turns.
    pub thinking: bool,
    /// Thinking parts carry a signature.
    pub thinking_signatures: bool,
    /// `RedactedThinking` parts in assistant turns.
    pub redacted_thinking: bool,
    /// Tools, tool calls and tool results.
    pub tool_calls: bool,
    /// Images inside tool results (when `images` too).
    pub tool_results_with_images: bool,
    /// Tool results flagged `is_error`.
    pub tool_result_errors: bool,
    /// Tool results carry the called function's name (else `None`).
    pub tool_result_names: bool,
    /// More than one text part in a tool result.
    pub tool_result_multiple_parts: bool,
    /// User text after tool results, in the same user turn.
    pub text_after_tool_results: bool,
    /// `cache_control` on text blocks and tools.
    pub cache_control: bool,
    /// Tool descriptions (`Some`); else always `None`.
    pub tool_descriptions: bool,
    pub tool_choice: bool,
    pub parallel_tool_calls: bool,
    pub max_tokens: bool,
    pub temperature: bool,
    pub top_p: bool,
    pub top_k: bool,
    pub stop: bool,
    pub seed: bool,
    pub penalties: bool,
    pub user: bool,
    pub response_format: bool,
    /// `Reasoning.effort`.
    pub reasoning_effort: bool,
    /// `Reasoning.budget_tokens`.
    pub reasoning_budget: bool,
    /// `stream` may be true.
    pub stream: bool,
}

impl RequestShape {
    pub fn full() -> Self {
        Self {
            images: true,
            base64_images_only: false,
            multiple_text_parts: true,
            system: true,
            thinking: true,
            thinking_signatures: true,
            redacted_thinking: true,
            tool_calls: true,
            tool_results_with_images: true,
            tool_result_errors: true,
            tool_result_names: true,
            tool_result_multiple_parts: true,
            text_after_tool_results: true,
            cache_control: true,
            tool_descriptions: true,
            tool_choice: true,
            parallel_tool_calls: true,
            max_tokens: true,
            temperature: true,
            top_p: true,
            top_k: true,
            stop: true,
            seed: true,
            penalties: true,
            user: true,
            response_format: true,
            reasoning_effort: true,
            reasoning_budget: true,
            stream: true,
        }
    }

    /// Plain text turns and nothing else.
    pub fn minimal() -> Self {
        Self {
            images: false,
            base64_images_only: false,
            multiple_text_parts: false,
            system: false,
            thinking: false,
            thinking_signatures: false,
            redacted_thinking: false,
            tool_calls: false,
            tool_results_with_images: false,
            tool_result_errors: false,
            tool_result_names: false,
            tool_result_multiple_parts: false,
            text_after_tool_results: false,
            cache_control: false,
            tool_descriptions: false,
            tool_choice: false,
            parallel_tool_calls: false,
            max_tokens: false,
            temperature: false,
            top_p: false,
            top_k: false,
            stop: false,
            seed: false,
            penalties: false,
            user: false,
            response_format: false,
            reasoning_effort: false,
            reasoning_budget: false,
            stream: false,
        }
    }
}

impl Default for RequestShape {
    fn default() -> Self {
        Self::full()
    }
}

/// Which usage fields may be non-zero.
#[derive(Clone, Copy, Debug)]
pub struct UsageShape {
    pub cached_input: bool,
    pub cache_write: bool,
    pub reasoning: bool,
}

impl UsageShape {
    pub fn full() -> Self {
        Self {
            cached_input: true,
            cache_write: true,
            reasoning: true,
        }
    }

    pub fn minimal() -> Self {
        Self {
            cached_input: false,
            cache_write: false,
            reasoning: false,
        }
    }
}

impl Default for UsageShape {
    fn default() -> Self {
        Self::full()
    }
}

/// What a generated (whole) response may contain.
#[derive(Clone, Debug)]
pub struct ResponseShape {
    pub thinking: bool,
    pub thinking_signatures: bool,
    pub redacted_thinking: bool,
    /// Several text parts (else at most one).
    pub multiple_text_parts: bool,
    pub tool_calls: bool,
    /// `FinishReason::StopSequence` with its `stop_sequence`.
    pub stop_sequence: bool,
    /// `FinishReason::Other(..)`.
    pub other_finish: bool,
    /// `FinishReason::ContentFilter`.
    pub content_filter: bool,
    /// `created` may be `None` (else always `Some`).
    pub created_absent: bool,
    pub usage: UsageShape,
}

impl ResponseShape {
    pub fn full() -> Self {
        Self {
            thinking: true,
            thinking_signatures: true,
            redacted_thinking: true,
            multiple_text_parts: true,
            tool_calls: true,
            stop_sequence: true,
            other_finish: true,
            content_filter: true,
            created_absent: true,
            usage: UsageShape::full(),
        }
    }

    pub fn minimal() -> Self {
        Self {
            thinking: false,
            thinking_signatures: false,
            redacted_thinking: false,
            multiple_text_parts: false,
            tool_calls: false,
            stop_sequence: false,
            other_finish: false,
            content_filter: false,
            created_absent: false,
            usage: UsageShape::minimal(),
        }
    }
}

impl Default for ResponseShape {
    fn default() -> Self {
        Self::full()
    }
}

/// What a generated event stream may contain.
#[derive(Clone, Debug)]
pub struct StreamShape {
    pub thinking: bool,
    /// Thinking blocks end with a `SignatureDelta`.
    pub thinking_signatures: bool,
    pub redacted_thinking: bool,
    pub tool_calls: bool,
    /// Two blocks of the same kind may follow each other (text, text).
    pub adjacent_same_kind: bool,
    /// A `Usage` event right after `Start` (input counts only, as Anthropic's
    /// `message_start`), before the final one after `Finish`.
    pub usage_before_finish: bool,
    pub stop_sequence: bool,
    pub other_finish: bool,
    pub content_filter: bool,
    /// Some streams end with `Error` (after a few blocks, the last possibly still open)
    /// instead of `Finish`/`Usage`/`End`.
    pub error_end: bool,
    pub usage: UsageShape,
}

impl StreamShape {
    pub fn full() -> Self {
        Self {
            thinking: true,
            thinking_signatures: true,
            redacted_thinking: true,
            tool_calls: true,
            adjacent_same_kind: true,
            usage_before_finish: true,
            stop_sequence: true,
            other_finish: true,
            content_filter: true,
            error_end: true,
            usage: UsageShape::full(),
        }
    }

    pub fn minimal() -> Self {
        Self {
            thinking: false,
            thinking_signatures: false,
            redacted_thinking: false,
            tool_calls: false,
            adjacent_same_kind: false,
            usage_before_finish: false,
            stop_sequence: false,
            other_finish: false,
            content_filter: false,
            error_end: false,
            usage: UsageShape::minimal(),
        }
    }
}

impl Default for StreamShape {
    fn default() -> Self {
        Self::full()
    }
}

// ---------------------------------------------------------------------------------------
// Small building blocks
// ---------------------------------------------------------------------------------------

/// `Some(strategy)` when enabled (sometimes `None`), else always `None`.
pub fn maybe<S>(enabled: bool, strategy: S) -> BoxedStrategy<Option<S::Value>>
where
    S: Strategy + 'static,
    S::Value: Clone + std::fmt::Debug + 'static,
{
    if enabled {
        proptest::option::of(strategy).boxed()
    } else {
        Just(None).boxed()
    }
}

/// A count range that collapses to `0..=0` when the feature is off.
fn up_to(enabled: bool, max: usize) -> std::ops::RangeInclusive<usize> {
    if enabled { 0..=max } else { 0..=0 }
}

const TEXT_CHARS: &[char] = &[
    'a', 'b', 'c', 'x', 'y', 'z', 'A', 'Q', '0', '7', ' ', ' ', ' ', '.', ',', '!', '?', '-', '_',
    '"', '\\', '/', '\n', '\t', '{', '}', '[', ']', ':', '<', '>', '&', '\'', '%', 'é', 'ß', 'ü',
    'λ', 'Ж', '中', '文', '🙂', '🚀', '€',
];

/// Non-empty printable text with unicode and JSON-special characters (1–24 chars).
pub fn text() -> impl Strategy<Value = String> + Clone {
    proptest::collection::vec(select(TEXT_CHARS), 1..24)
        .prop_map(|chars| chars.into_iter().collect())
}

/// Text that is not only whitespace, for dialects that trim or skip blank text.
pub fn visible_text() -> impl Strategy<Value = String> + Clone {
    (text(), select(&['a', 'Z', '9', 'é', '中'][..])).prop_map(|(mut text, visible)| {
        text.push(visible);
        text
    })
}

/// A function or parameter name: `[a-z][a-z0-9_]{0,11}`.
pub fn identifier() -> impl Strategy<Value = String> + Clone {
    const FIRST: &[char] = &['a', 'b', 'f', 'g', 'k', 'm', 'q', 's', 'w'];
    const REST: &[char] = &['a', 'e', 'o', 'r', 't', 'x', '0', '3', '_'];
    (
        select(FIRST),
        proptest::collection::vec(select(REST), 0..12),
    )
        .prop_map(|(first, rest)| {
            let mut name = String::new();
            name.push(first);
            name.extend(rest);
            name
        })
}

/// A short opaque id suffix (`[A-Za-z0-9]{6,12}`).
pub fn id_suffix() -> impl Strategy<Value = String> + Clone {
    const CHARS: &[char] = &['a', 'B', 'c', 'D', 'x', 'Y', '0', '1', '5', '9'];
    proptest::collection::vec(select(CHARS), 6..12).prop_map(|chars| chars.into_iter().collect())
}

/// A scalar JSON value (no floats, so every dialect's number handling keeps it).
pub fn json_scalar() -> impl Strategy<Value = Value> + Clone {
    prop_oneof![
        text().prop_map(Value::from),
        (-1000i64..1000).prop_map(Value::from),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
    ]
}

/// A small JSON object: scalar values, a nested array or object one level deep.
pub fn json_object() -> impl Strategy<Value = Map<String, Value>> + Clone {
    let value = prop_oneof![
        4 => json_scalar(),
        1 => proptest::collection::vec(json_scalar(), 0..3).prop_map(Value::from),
        1 => proptest::collection::btree_map(identifier(), json_scalar(), 0..3)
            .prop_map(|map| Value::Object(map.into_iter().collect())),
    ];
    proptest::collection::btree_map(identifier(), value, 0..4)
        .prop_map(|map| map.into_iter().collect())
}

/// The compact JSON text of a small object: what tool arguments look like.
pub fn json_object_text() -> impl Strategy<Value = String> + Clone {
    json_object().prop_map(|object| Value::Object(object).to_string())
}

/// A JSON Schema for a tool's parameters.
pub fn json_schema() -> impl Strategy<Value = Value> + Clone {
    (
        proptest::collection::btree_map(
            identifier(),
            select(&["string", "integer", "boolean", "number"][..]),
            0..4,
        ),
        any::<bool>(),
    )
        .prop_map(|(properties, require_all)| {
            let required: Vec<&String> = if require_all {
                properties.keys().collect()
            } else {
                Vec::new()
            };
            let properties: Map<String, Value> = properties
                .iter()
                .map(|(name, kind)| (name.clone(), json!({ "type": kind })))
                .collect();
            json!({ "type": "object", "properties": properties, "required": required })
        })
}

/// A "nice" decimal in `0.0..=max`, in steps of 0.1 or 0.01.
pub fn nice_float(max_hundredths: u32) -> impl Strategy<Value = f64> + Clone {
    prop_oneof![
        (0..=max_hundredths / 10).prop_map(|tenths| f64::from(tenths) / 10.0),
        (0..=max_hundredths).prop_map(|hundredths| f64::from(hundredths) / 100.0),
    ]
}

pub fn cache_control() -> impl Strategy<Value = CacheControl> + Clone {
    prop_oneof![
        Just(CacheControl(json!({ "type": "ephemeral" }))),
        Just(CacheControl(json!({ "type": "ephemeral", "ttl": "1h" }))),
    ]
}

pub fn text_block(with_cache_control: bool) -> impl Strategy<Value = TextBlock> + Clone {
    (text(), maybe(with_cache_control, cache_control())).prop_map(|(text, cache_control)| {
        TextBlock {
            text,
            cache_control,
        }
    })
}

/// An image: an https URL or base64 bytes with a common media type.
pub fn image() -> impl Strategy<Value = Image> + Clone {
    prop_oneof![image_url(), image_base64()]
}

pub fn image_url() -> impl Strategy<Value = Image> + Clone {
    (id_suffix(), select(&["png", "jpg", "gif", "webp"][..]))
        .prop_map(|(name, ext)| Image::Url(format!("https://example.com/images/{name}.{ext}")))
}

pub fn image_base64() -> impl Strategy<Value = Image> + Clone {
    use base64::Engine as _;
    (
        select(&["image/png", "image/jpeg", "image/gif", "image/webp"][..]),
        proptest::collection::vec(any::<u8>(), 1..48),
    )
        .prop_map(|(media_type, bytes)| Image::Base64 {
            media_type: media_type.to_string(),
            data: base64::engine::general_purpose::STANDARD.encode(bytes),
        })
}

/// A tool call with an id unique enough for one conversation (`call_<suffix>`).
pub fn tool_call() -> impl Strategy<Value = ToolCall> + Clone {
    (id_suffix(), identifier(), json_object_text()).prop_map(|(suffix, name, arguments)| ToolCall {
        id: format!("call_{suffix}"),
        name,
        arguments,
    })
}

pub fn tool(with_description: bool, with_cache_control: bool) -> impl Strategy<Value = Tool> {
    (
        identifier(),
        maybe(with_description, text()),
        json_schema(),
        maybe(with_cache_control, cache_control()),
    )
        .prop_map(|(name, description, parameters, cache_control)| Tool {
            name,
            description,
            parameters,
            cache_control,
        })
}

/// Consistent usage: cached and cache-write tokens are part of `input_tokens`, reasoning
/// tokens part of `output_tokens`.
pub fn usage_with(shape: UsageShape) -> impl Strategy<Value = Usage> + Clone {
    (
        0u64..100_000,
        0u64..10_000,
        0u64..50_000,
        0u64..50_000,
        0u64..5_000,
    )
        .prop_map(move |(uncached, output, cached, written, reasoning)| {
            let cached = if shape.cached_input { cached } else { 0 };
            let written = if shape.cache_write { written } else { 0 };
            let reasoning = if shape.reasoning {
                reasoning.min(output)
            } else {
                0
            };
            Usage {
                input_tokens: uncached + cached + written,
                output_tokens: output,
                cached_input_tokens: cached,
                cache_write_tokens: written,
                reasoning_tokens: reasoning,
            }
        })
}

pub fn usage() -> impl Strategy<Value = Usage> + Clone {
    usage_with(UsageShape::full())
}

/// A finish reason other than `ToolCalls`, with its stop sequence (only for
/// `StopSequence`).
pub fn finish_reason(
    stop_sequence: bool,
    other: bool,
    content_filter: bool,
) -> BoxedStrategy<(FinishReason, Option<String>)> {
    let mut choices: Vec<BoxedStrategy<(FinishReason, Option<String>)>> = vec![
        Just((FinishReason::EndTurn, None)).boxed(),
        Just((FinishReason::MaxTokens, None)).boxed(),
    ];
    if stop_sequence {
        choices.push(
            text()
                .prop_map(|sequence| (FinishReason::StopSequence, Some(sequence)))
                .boxed(),
        );
    }
    if other {
        choices.push(
            select(&["pause_turn", "refusal", "MALFORMED_FUNCTION_CALL"][..])
                .prop_map(|name| (FinishReason::Other(name.to_string()), None))
                .boxed(),
        );
    }
    if content_filter {
        choices.push(Just((FinishReason::ContentFilter, None)).boxed());
    }
    proptest::strategy::Union::new(choices).boxed()
}

/// An error a provider may report in a stream.
pub fn stream_error() -> impl Strategy<Value = ApiError> + Clone {
    (
        select(
            &[
                ErrorKind::Overloaded,
                ErrorKind::RateLimited,
                ErrorKind::ProviderError,
                ErrorKind::InvalidRequest,
            ][..],
        ),
        text(),
    )
        .prop_map(|(kind, message)| ApiError::new(kind, message))
}

// ---------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------

/// The raw material of one user turn plus the assistant turn answering it.
#[derive(Clone, Debug)]
struct ExchangeSeed {
    user_texts: Vec<TextBlock>,
    user_images: Vec<Image>,
    /// Whether a user turn that follows tool results carries user content too.
    text_after_results: bool,
    thinking: Option<(String, Option<String>)>,
    redacted: Option<String>,
    assistant_texts: Vec<TextBlock>,
    calls: Vec<ToolCall>,
    /// One result per call (extra entries are ignored).
    results: Vec<(Vec<ToolResultContent>, bool)>,
}

fn image_for(shape: &RequestShape) -> BoxedStrategy<Image> {
    if shape.base64_images_only {
        image_base64().boxed()
    } else {
        image().boxed()
    }
}

fn tool_result_content(shape: &RequestShape) -> BoxedStrategy<Vec<ToolResultContent>> {
    let text_count = if shape.tool_result_multiple_parts {
        1..=2
    } else {
        1..=1
    };
    let texts = proptest::collection::vec(text().prop_map(ToolResultContent::Text), text_count);
    let images = proptest::collection::vec(
        image_for(shape).prop_map(ToolResultContent::Image),
        up_to(shape.images && shape.tool_results_with_images, 1),
    );
    (texts, images)
        .prop_map(|(mut texts, images)| {
            texts.extend(images);
            texts
        })
        .boxed()
}

fn exchange_seed(shape: &RequestShape) -> BoxedStrategy<ExchangeSeed> {
    let text_count = if shape.multiple_text_parts {
        1..=2
    } else {
        1..=1
    };
    let signature = maybe(shape.thinking_signatures, id_suffix());
    (
        proptest::collection::vec(text_block(shape.cache_control), text_count.clone()),
        proptest::collection::vec(image_for(shape), up_to(shape.images, 1)),
        any::<bool>().prop_map({
            let allowed = shape.text_after_tool_results;
            move |wanted| allowed && wanted
        }),
        maybe(shape.thinking, (text(), signature)),
        maybe(shape.redacted_thinking, id_suffix()),
        proptest::collection::vec(text_block(shape.cache_control), up_to(true, 2)),
        proptest::collection::vec(tool_call(), up_to(shape.tool_calls, 2)),
        proptest::collection::vec(
            (tool_result_content(shape), any::<bool>()),
            up_to(shape.tool_calls, 2),
        ),
    )
        .prop_map(
            |(
                user_texts,
                user_images,
                text_after_results,
                thinking,
                redacted,
                assistant_texts,
                calls,
                results,
            )| ExchangeSeed {
                user_texts,
                user_images,
                text_after_results,
                thinking,
                redacted,
                assistant_texts,
                calls,
                results,
            },
        )
        .boxed()
}

/// Turns seeds into an alternating conversation ending with a user turn.
fn assemble_messages(shape: &RequestShape, seeds: Vec<ExchangeSeed>) -> Vec<Message> {
    let mut messages = Vec::new();
    let mut pending_calls: Vec<ToolCall> = Vec::new();
    let mut pending_results: Vec<(Vec<ToolResultContent>, bool)> = Vec::new();
    let last = seeds.len().saturating_sub(1);
    for (position, seed) in seeds.into_iter().enumerate() {
        let mut user = Vec::new();
        for (ordinal, call) in pending_calls.drain(..).enumerate() {
            let (content, is_error) = pending_results
                .get(ordinal)
                .cloned()
                .unwrap_or_else(|| (vec![ToolResultContent::Text("ok".into())], false));
            user.push(Part::ToolResult(ToolResult {
                call_id: call.id.clone(),
                name: shape.tool_result_names.then(|| call.name.clone()),
                content,
                is_error: shape.tool_result_errors && is_error,
            }));
        }
        if user.is_empty() || seed.text_after_results {
            user.extend(seed.user_texts.into_iter().map(Part::Text));
            user.extend(seed.user_images.into_iter().map(Part::Image));
        }
        messages.push(Message {
            role: Role::User,
            content: user,
        });
        if position == last {
            break;
        }

        let mut assistant = Vec::new();
        if let Some((text, signature)) = seed.thinking {
            assistant.push(Part::Thinking { text, signature });
        }
        if let Some(data) = seed.redacted {
            assistant.push(Part::RedactedThinking { data });
        }
        assistant.extend(seed.assistant_texts.into_iter().map(Part::Text));
        // Ids are made unique per conversation by their position.
        let calls: Vec<ToolCall> = seed
            .calls
            .into_iter()
            .enumerate()
            .map(|(ordinal, call)| ToolCall {
                id: format!("{}_{position}_{ordinal}", call.id),
                ..call
            })
            .collect();
        assistant.extend(calls.iter().cloned().map(Part::ToolCall));
        if !assistant
            .iter()
            .any(|part| matches!(part, Part::Text(_) | Part::ToolCall(_)))
        {
            assistant.push(Part::Text(TextBlock::new("Done.")));
        }
        messages.push(Message {
            role: Role::Assistant,
            content: assistant,
        });
        pending_calls = calls;
        pending_results = seed.results;
    }
    messages
}

fn response_format() -> impl Strategy<Value = ResponseFormat> {
    prop_oneof![
        Just(ResponseFormat::Text),
        Just(ResponseFormat::JsonObject),
        (
            identifier(),
            json_schema(),
            proptest::option::of(any::<bool>())
        )
            .prop_map(|(name, schema, strict)| ResponseFormat::JsonSchema {
                name,
                schema,
                strict
            }),
    ]
}

fn reasoning(shape: &RequestShape) -> BoxedStrategy<Option<Reasoning>> {
    if !shape.reasoning_effort && !shape.reasoning_budget {
        return Just(None).boxed();
    }
    (
        maybe(
            shape.reasoning_effort,
            select(&["minimal", "low", "medium", "high"][..]).prop_map(str::to_string),
        ),
        maybe(shape.reasoning_budget, 1024u32..32_000),
    )
        .prop_map(|(effort, budget_tokens)| {
            (effort.is_some() || budget_tokens.is_some()).then_some(Reasoning {
                effort,
                budget_tokens,
            })
        })
        .boxed()
}

pub fn chat_request() -> impl Strategy<Value = ChatRequest> {
    chat_request_with(RequestShape::full())
}

/// A request with what `shape` allows. `extra` stays empty (encoders drop it).
pub fn chat_request_with(shape: RequestShape) -> impl Strategy<Value = ChatRequest> {
    let system_count = match (shape.system, shape.multiple_text_parts) {
        (false, _) => 0..=0,
        (true, false) => 0..=1,
        (true, true) => 0..=2,
    };
    let conversation = (
        identifier(),
        proptest::collection::vec(text_block(shape.cache_control), system_count),
        proptest::collection::vec(exchange_seed(&shape), 1..=3),
        proptest::collection::vec(
            tool(shape.tool_descriptions, shape.cache_control),
            up_to(shape.tool_calls, 2),
        ),
        maybe(
            shape.tool_choice,
            prop_oneof![
                Just(ToolChoice::Auto),
                Just(ToolChoice::None),
                Just(ToolChoice::Required),
                Just(ToolChoice::Tool(String::new())),
            ],
        ),
        maybe(shape.parallel_tool_calls, any::<bool>()),
    );
    let sampling = (
        maybe(shape.max_tokens, 1u32..100_000),
        maybe(shape.temperature, nice_float(200)),
        maybe(shape.top_p, nice_float(100)),
        maybe(shape.top_k, 1u32..500),
        proptest::collection::vec(text(), up_to(shape.stop, 3)),
        any::<bool>().prop_map({
            let allowed = shape.stream;
            move |wanted| allowed && wanted
        }),
    );
    let extras = (
        maybe(shape.response_format, response_format()),
        reasoning(&shape),
        maybe(shape.seed, -1_000_000i64..1_000_000),
        maybe(shape.penalties, nice_float(200)),
        maybe(shape.penalties, nice_float(200)),
        maybe(shape.user, id_suffix()),
    );
    (conversation, sampling, extras).prop_map(
        move |(
            (model, system, seeds, tools, tool_choice, parallel_tool_calls),
            (max_tokens, temperature, top_p, top_k, stop, stream),
            (response_format, reasoning, seed, frequency_penalty, presence_penalty, user),
        )| {
            let messages = assemble_messages(&shape, seeds);
            // Tool settings only make sense with tools; a named choice names one of them.
            let (tool_choice, parallel_tool_calls) = match tools.first() {
                None => (None, None),
                Some(first) => (
                    tool_choice.map(|choice| match choice {
                        ToolChoice::Tool(_) => ToolChoice::Tool(first.name.clone()),
                        other => other,
                    }),
                    parallel_tool_calls,
                ),
            };
            ChatRequest {
                model,
                system,
                messages,
                max_tokens,
                temperature,
                top_p,
                top_k,
                stop,
                stream,
                tools,
                tool_choice,
                parallel_tool_calls,
                response_format,
                reasoning,
                seed,
                frequency_penalty,
                presence_penalty,
                user,
                extra: Map::new(),
            }
        },
    )
}

// ---------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------

pub fn chat_response() -> impl Strategy<Value = ChatResponse> {
    chat_response_with(ResponseShape::full())
}

/// A response: thinking, then text, then tool calls (finish reason `ToolCalls` when
/// there are calls). Always at least one text part or call.
pub fn chat_response_with(shape: ResponseShape) -> impl Strategy<Value = ChatResponse> {
    let text_count = if shape.multiple_text_parts {
        0..=2
    } else {
        0..=1
    };
    (
        (id_suffix(), identifier(), 1_600_000_000u64..2_000_000_000),
        any::<bool>().prop_map({
            let allowed = shape.created_absent;
            move |absent| allowed && absent
        }),
        maybe(
            shape.thinking,
            (text(), maybe(shape.thinking_signatures, id_suffix())),
        ),
        maybe(shape.redacted_thinking, id_suffix()),
        proptest::collection::vec(text(), text_count),
        proptest::collection::vec(tool_call(), up_to(shape.tool_calls, 3)),
        finish_reason(
            shape.stop_sequence,
            shape.other_finish,
            shape.content_filter,
        ),
        usage_with(shape.usage),
    )
        .prop_map(
            |(
                (id, model, created),
                created_absent,
                thinking,
                redacted,
                texts,
                calls,
                (finish, stop_sequence),
                usage,
            )| {
                let mut content = Vec::new();
                if let Some((text, signature)) = thinking {
                    content.push(Part::Thinking { text, signature });
                }
                if let Some(data) = redacted {
                    content.push(Part::RedactedThinking { data });
                }
                content.extend(
                    texts
                        .into_iter()
                        .map(|text| Part::Text(TextBlock::new(text))),
                );
                let has_calls = !calls.is_empty();
                content.extend(calls.into_iter().enumerate().map(|(ordinal, call)| {
                    Part::ToolCall(ToolCall {
                        id: format!("{}_{ordinal}", call.id),
                        ..call
                    })
                }));
                if !content
                    .iter()
                    .any(|part| matches!(part, Part::Text(_) | Part::ToolCall(_)))
                {
                    content.push(Part::Text(TextBlock::new("Hello.")));
                }
                let (finish_reason, stop_sequence) = if has_calls {
                    (FinishReason::ToolCalls, None)
                } else {
                    (finish, stop_sequence)
                };
                ChatResponse {
                    id: format!("resp_{id}"),
                    model,
                    created: (!created_absent).then_some(created),
                    content,
                    finish_reason: Some(finish_reason),
                    stop_sequence,
                    usage,
                }
            },
        )
}

// ---------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------

/// One content block of a generated stream, before indexes are assigned.
#[derive(Clone, Debug)]
pub enum BlockSeed {
    Text(Vec<String>),
    Thinking(Vec<String>, Option<String>),
    Redacted(String),
    Tool(ToolCall, Vec<String>),
}

impl BlockSeed {
    fn kind_tag(&self) -> u8 {
        match self {
            BlockSeed::Text(_) => 0,
            BlockSeed::Thinking(..) => 1,
            BlockSeed::Redacted(_) => 2,
            BlockSeed::Tool(..) => 3,
        }
    }
}

/// Splits `text` at the given fractions (on char boundaries) into non-empty pieces.
pub fn split_text(text: &str, cuts: &[u16]) -> Vec<String> {
    let boundaries: Vec<usize> = text.char_indices().map(|(at, _)| at).skip(1).collect();
    let mut points: Vec<usize> = cuts
        .iter()
        .filter_map(|cut| {
            if boundaries.is_empty() {
                return None;
            }
            boundaries
                .get(usize::from(*cut) % boundaries.len())
                .copied()
        })
        .collect();
    points.sort_unstable();
    points.dedup();
    let mut pieces = Vec::new();
    let mut start = 0;
    for point in points {
        pieces.push(text[start..point].to_string());
        start = point;
    }
    pieces.push(text[start..].to_string());
    pieces.retain(|piece| !piece.is_empty());
    pieces
}

pub fn block_seed(shape: &StreamShape) -> BoxedStrategy<BlockSeed> {
    let mut choices: Vec<BoxedStrategy<BlockSeed>> = vec![
        proptest::collection::vec(text(), 1..4)
            .prop_map(BlockSeed::Text)
            .boxed(),
    ];
    if shape.thinking {
        choices.push(
            (
                proptest::collection::vec(text(), 1..4),
                maybe(shape.thinking_signatures, id_suffix()),
            )
                .prop_map(|(deltas, signature)| BlockSeed::Thinking(deltas, signature))
                .boxed(),
        );
    }
    if shape.redacted_thinking {
        choices.push(id_suffix().prop_map(BlockSeed::Redacted).boxed());
    }
    if shape.tool_calls {
        choices.push(
            (tool_call(), proptest::collection::vec(any::<u16>(), 0..4))
                .prop_map(|(call, cuts)| {
                    let pieces = split_text(&call.arguments, &cuts);
                    BlockSeed::Tool(call, pieces)
                })
                .boxed(),
        );
    }
    proptest::strategy::Union::new(choices).boxed()
}

pub fn stream_events() -> impl Strategy<Value = Vec<StreamEvent>> {
    stream_events_with(StreamShape::full())
}

/// A well-formed canonical event sequence: `Start`, blocks (each `BlockStart`, ≥1 delta
/// for text and thinking, `BlockStop`), `Finish`, `Usage`, `End`; or, when `error_end`
/// allows, a stream cut by `Error`.
pub fn stream_events_with(shape: StreamShape) -> impl Strategy<Value = Vec<StreamEvent>> {
    (
        (id_suffix(), identifier()),
        proptest::collection::vec(block_seed(&shape), 1..5),
        finish_reason(
            shape.stop_sequence,
            shape.other_finish,
            shape.content_filter,
        ),
        usage_with(shape.usage),
        any::<bool>(),
        maybe(shape.error_end, (stream_error(), any::<bool>())),
    )
        .prop_map(
            move |((id, model), mut blocks, (finish, stop_sequence), usage, early_usage, error)| {
                if !shape.adjacent_same_kind {
                    blocks.dedup_by(|later, earlier| later.kind_tag() == earlier.kind_tag());
                }
                build_stream(
                    format!("msg_{id}"),
                    model,
                    blocks,
                    (finish, stop_sequence),
                    usage,
                    shape.usage_before_finish && early_usage,
                    error,
                )
            },
        )
}

#[allow(clippy::too_many_arguments)]
fn build_stream(
    id: String,
    model: String,
    blocks: Vec<BlockSeed>,
    (finish, stop_sequence): (FinishReason, Option<String>),
    usage: Usage,
    early_usage: bool,
    error: Option<(ApiError, bool)>,
) -> Vec<StreamEvent> {
    let mut events = vec![StreamEvent::Start { id, model }];
    if early_usage {
        events.push(StreamEvent::Usage(Usage {
            input_tokens: usage.input_tokens,
            cached_input_tokens: usage.cached_input_tokens,
            cache_write_tokens: usage.cache_write_tokens,
            ..Usage::default()
        }));
    }
    let mut has_calls = false;
    let block_count = blocks.len();
    for (position, block) in blocks.into_iter().enumerate() {
        let index = u32::try_from(position).unwrap_or(u32::MAX);
        let is_last = position + 1 == block_count;
        match block {
            BlockSeed::Text(deltas) => {
                events.push(StreamEvent::BlockStart {
                    index,
                    block: BlockKind::Text,
                });
                events.extend(
                    deltas
                        .into_iter()
                        .map(|text| StreamEvent::TextDelta { index, text }),
                );
            }
            BlockSeed::Thinking(deltas, signature) => {
                events.push(StreamEvent::BlockStart {
                    index,
                    block: BlockKind::Thinking,
                });
                events.extend(
                    deltas
                        .into_iter()
                        .map(|text| StreamEvent::ThinkingDelta { index, text }),
                );
                if let Some(signature) = signature {
                    events.push(StreamEvent::SignatureDelta { index, signature });
                }
            }
            BlockSeed::Redacted(data) => events.push(StreamEvent::BlockStart {
                index,
                block: BlockKind::RedactedThinking { data },
            }),
            BlockSeed::Tool(call, pieces) => {
                has_calls = true;
                events.push(StreamEvent::BlockStart {
                    index,
                    block: BlockKind::ToolCall {
                        id: format!("{}_{position}", call.id),
                        name: call.name,
                    },
                });
                events.extend(
                    pieces
                        .into_iter()
                        .map(|json| StreamEvent::ToolArgumentsDelta { index, json }),
                );
            }
        }
        if let (true, Some((error, leave_open))) = (is_last, &error) {
            if !leave_open {
                events.push(StreamEvent::BlockStop { index });
            }
            events.push(StreamEvent::Error(error.clone()));
            return events;
        }
        events.push(StreamEvent::BlockStop { index });
    }
    let (reason, stop_sequence) = if has_calls {
        (FinishReason::ToolCalls, None)
    } else {
        (finish, stop_sequence)
    };
    events.push(StreamEvent::Finish {
        reason,
        stop_sequence,
    });
    events.push(StreamEvent::Usage(usage));
    events.push(StreamEvent::End);
    events
}
