//! Reads the provider's reported usage out of an answer passed through untouched, for
//! spend: the `usage` object of a whole OpenAI or Anthropic answer, or of the stream
//! events that carry one (OpenAI's last chunk when `include_usage` is set; Anthropic's
//! `message_start` and `message_delta`). Only bytes that mention `usage` are parsed.
//!
//! An OpenAI stream reports usage only when asked: for a governed stream that did not
//! ask, [`ask_for_usage`] adds `stream_options.include_usage` to the request and
//! [`UsageChunkFilter`] takes the extra usage chunk out of the stream again, so the client
//! gets the stream it asked for and the call is charged what the provider counted.

use std::sync::LazyLock;

use bytes::Bytes;
use serde::Deserialize;
use sluice_core::chat::Usage;
use sluice_core::json_scan::string_end;
use sluice_providers::Dialect;
use sluice_providers::sse::SseParser;

/// A whole answer larger than this is not kept for its usage (the call is charged its
/// input estimate instead).
const MAX_KEPT: usize = 16 * 1024 * 1024;

/// Watches the bytes of one answer go by.
pub(crate) struct UsageTap {
    dialect: Dialect,
    kind: TapKind,
    usage: Option<Usage>,
}

enum TapKind {
    /// A whole answer: its chunks, kept by reference count until the end. Most answers
    /// come in one chunk, which needs no list.
    Whole {
        first: Option<Bytes>,
        more: Vec<Bytes>,
        kept: usize,
    },
    /// A stream: events parsed as they complete.
    Stream(Box<SseParser>),
}

impl UsageTap {
    pub(crate) fn new(dialect: Dialect, sse: bool) -> Self {
        let kind = if sse {
            TapKind::Stream(Box::new(SseParser::new()))
        } else {
            TapKind::Whole {
                first: None,
                more: Vec::new(),
                kept: 0,
            }
        };
        Self {
            dialect,
            kind,
            usage: None,
        }
    }

    pub(crate) fn observe(&mut self, bytes: &Bytes) {
        let dialect = self.dialect;
        match &mut self.kind {
            TapKind::Whole { first, more, kept } => {
                *kept += bytes.len();
                if *kept > MAX_KEPT {
                    *first = None;
                    more.clear();
                } else if first.is_none() {
                    *first = Some(bytes.clone());
                } else {
                    more.push(bytes.clone());
                }
            }
            TapKind::Stream(parser) => {
                let usage = &mut self.usage;
                parser.feed(bytes, |event| {
                    if memchr_usage(event.data.as_bytes())
                        && let Some(found) = parse_usage(dialect, event.data.as_bytes())
                    {
                        merge(usage, found);
                    }
                });
            }
        }
    }

    /// The usage reported, once the answer is complete.
    pub(crate) fn finish(self) -> Option<Usage> {
        if let TapKind::Whole { first, more, kept } = &self.kind {
            let first = first.as_ref().filter(|_| *kept <= MAX_KEPT)?;
            if more.is_empty() {
                return parse_usage(self.dialect, first);
            }
            let whole: Vec<u8> = std::iter::once(first)
                .chain(more)
                .flat_map(|chunk| chunk.iter().copied())
                .collect();
            return parse_usage(self.dialect, &whole);
        }
        self.usage
    }
}

fn memchr_usage(data: &[u8]) -> bool {
    static USAGE: LazyLock<memchr::memmem::Finder<'static>> =
        LazyLock::new(|| memchr::memmem::Finder::new(b"\"usage\""));
    USAGE.find(data).is_some()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(haystack, needle).is_some()
}

/// The body of an OpenAI streaming request that sets no `stream_options`, with
/// `"stream_options":{"include_usage":true}` added; `None` when it sets some (its own
/// choice stands) or is not an object.
pub(crate) fn ask_for_usage(body: &Bytes) -> Option<Bytes> {
    if contains(body, b"\"stream_options\"") {
        return None;
    }
    let open = body.iter().position(|&byte| byte == b'{')?;
    const ASK: &[u8] = b"\"stream_options\":{\"include_usage\":true},";
    let mut out = Vec::with_capacity(body.len() + ASK.len());
    out.extend_from_slice(&body[..=open]);
    out.extend_from_slice(ASK);
    out.extend_from_slice(&body[open + 1..]);
    Some(Bytes::from(out))
}

/// Takes out of an OpenAI stream the usage chunk the gateway asked for (its `choices` is
/// empty and it carries `usage`); every other event passes unchanged. Events are held
/// until complete, so a frame may come out shorter, or empty.
#[derive(Default)]
pub(crate) struct UsageChunkFilter {
    partial: Vec<u8>,
}

impl UsageChunkFilter {
    pub(crate) fn filter(&mut self, data: &Bytes) -> Bytes {
        // The common case: whole events in the frame and none of them the usage chunk.
        if self.partial.is_empty() && data.ends_with(b"\n\n") && !is_usage_chunk_in(data) {
            return data.clone();
        }
        self.partial.extend_from_slice(data);
        let mut out = Vec::with_capacity(self.partial.len());
        let mut start = 0;
        while let Some(end) = find(&self.partial[start..], b"\n\n") {
            let event = &self.partial[start..start + end + 2];
            if !is_usage_chunk_in(event) {
                out.extend_from_slice(event);
            }
            start += end + 2;
        }
        self.partial.drain(..start);
        Bytes::from(out)
    }

    /// What is left when the stream ends (an unfinished event goes out as it is).
    pub(crate) fn finish(&mut self) -> Bytes {
        Bytes::from(std::mem::take(&mut self.partial))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// Whether these bytes hold OpenAI's usage-only chunk: `"choices":[]` and a `usage`
/// object (the other chunks carry `"usage":null`, or no usage at all).
fn is_usage_chunk_in(event: &[u8]) -> bool {
    contains(event, b"\"choices\":[]") && contains(event, b"\"usage\":{")
}

/// Later reports are cumulative: the larger count wins, field by field.
fn merge(into: &mut Option<Usage>, found: Usage) {
    match into {
        Some(usage) => usage.merge(&found),
        None => *into = Some(found),
    }
}

#[derive(Deserialize)]
struct Carrier {
    usage: Option<Reported>,
    /// Anthropic's `message_start` carries it inside the message.
    message: Option<Box<Carrier>>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct Reported {
    // OpenAI
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    prompt_tokens_details: Option<Details>,
    completion_tokens_details: Option<Details>,
    // Anthropic
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
}

#[derive(Deserialize, Default, Clone)]
#[serde(default)]
struct Details {
    cached_tokens: Option<u64>,
    reasoning_tokens: Option<u64>,
}

/// The usage in one JSON document (an answer or an event's data), normalised: input
/// counts cached reads and writes (Anthropic reports them apart).
fn parse_usage(dialect: Dialect, json: &[u8]) -> Option<Usage> {
    let reported = match usage_object(json) {
        Some(found) => found,
        None => {
            let carrier: Carrier = serde_json::from_slice(json).ok()?;
            carrier
                .usage
                .or_else(|| carrier.message.and_then(|message| message.usage))
        }
    }?;
    Some(normalise(dialect, reported))
}

/// The `usage` object alone, parsed where its key is rather than by walking the whole
/// document (a long answer costs the parse of its usage only). The key is looked for
/// from the end, where both dialects put it; quotes inside JSON strings are escaped, so
/// an unescaped `"usage"` followed by `:` is a key. `Some(None)`: the key holds `null`;
/// `None` sends the caller to the full parse.
fn usage_object(json: &[u8]) -> Option<Option<Reported>> {
    let mut end = json.len();
    while let Some(at) = rfind_usage_key(&json[..end]) {
        let rest = &json[at + 7..];
        let value_at = rest
            .iter()
            .position(|byte| !byte.is_ascii_whitespace())
            .filter(|&colon| rest[colon] == b':')
            .map(|colon| colon + 1);
        if let Some(value_at) = value_at {
            let value = &rest[value_at..];
            if let Some(counts) = scan_counts(value) {
                return Some(Some(counts));
            }
            let mut reader = serde_json::Deserializer::from_slice(value);
            return Option::<Reported>::deserialize(&mut reader).ok();
        }
        end = at;
    }
    None
}

/// Where the last `"usage"` in `haystack` starts. A reverse scan for its `g` (SIMD
/// `memrchr`; a `g` is rare in JSON's keys and punctuation) checks the bytes around each.
/// memmem's reverse search is a scalar two-way search for a needle this short; this saves
/// about 300 instructions on each governed answer of a few hundred bytes.
fn rfind_usage_key(haystack: &[u8]) -> Option<usize> {
    const KEY: &[u8] = b"\"usage\"";
    const G_AT: usize = 4;
    let mut end = haystack.len();
    while let Some(g) = memchr::memrchr(b'g', &haystack[..end]) {
        if let Some(start) = g.checked_sub(G_AT)
            && haystack.get(start..start + KEY.len()) == Some(KEY)
        {
            return Some(start);
        }
        end = g;
    }
    None
}

/// The counts of the usage object `value` starts with (after whitespace), read in one
/// pass that ends at the object's closing brace, or as soon as every count of one
/// dialect is read; `None` when `value` is not a whole object (`null`, a cut answer).
/// Every field the gateway uses has a name no other field of either dialect's usage has,
/// nested or not; a field that is `null` or not a whole number counts as absent. This
/// walks the object once, where deserialising it costs thousands of instructions.
fn scan_counts(value: &[u8]) -> Option<Reported> {
    let mut reported = Reported::default();
    let (mut cached, mut reasoning) = (None, None);
    // What is left to read: a shrinking slice rather than an index, so that each step is
    // one length check rather than a bounds check and an addition.
    let mut rest = value.trim_ascii_start().strip_prefix(b"{")?;
    let mut depth = 1usize;
    while let Some((&byte, after)) = rest.split_first() {
        rest = after;
        match byte {
            b'"' => {
                let end = string_end(rest, 0)?;
                let name = &rest[..end];
                rest = rest[end + 1..].trim_ascii_start();
                // A key is a string followed by a colon; anything else was a value.
                let Some(value) = rest.strip_prefix(b":") else {
                    continue;
                };
                rest = value.trim_ascii_start();
                // Only the counts the gateway uses are read; other values are walked over.
                let field = match count_field(name) {
                    Some(CountField::Prompt) => &mut reported.prompt_tokens,
                    Some(CountField::Completion) => &mut reported.completion_tokens,
                    Some(CountField::Cached) => &mut cached,
                    Some(CountField::Reasoning) => &mut reasoning,
                    Some(CountField::Input) => &mut reported.input_tokens,
                    Some(CountField::Output) => &mut reported.output_tokens,
                    Some(CountField::CacheReadInput) => &mut reported.cache_read_input_tokens,
                    Some(CountField::CacheCreationInput) => {
                        &mut reported.cache_creation_input_tokens
                    }
                    None => continue,
                };
                let (count, digits) = whole_number(rest);
                *field = count;
                rest = &rest[digits..];
                // Every count of one dialect read: what follows (OpenAI's other details,
                // say) holds nothing this reading uses.
                let openai = reported.prompt_tokens.is_some()
                    && reported.completion_tokens.is_some()
                    && cached.is_some()
                    && reasoning.is_some();
                let anthropic = reported.input_tokens.is_some()
                    && reported.output_tokens.is_some()
                    && reported.cache_read_input_tokens.is_some()
                    && reported.cache_creation_input_tokens.is_some();
                if openai || anthropic {
                    return Some(finish_counts(reported, cached, reasoning));
                }
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(finish_counts(reported, cached, reasoning));
                }
            }
            _ => {}
        }
    }
    // Out of bytes before the object closed: not a whole object.
    None
}

/// The usage fields the gateway reads: `prompt_tokens`, `completion_tokens`, … by the
/// part of the name before `_tokens`.
enum CountField {
    Prompt,
    Completion,
    Cached,
    Reasoning,
    Input,
    Output,
    CacheReadInput,
    CacheCreationInput,
}

/// Which counted field `name` is, if any. Length and first byte pick the one candidate,
/// so the many other names (`total_tokens`, `audio_tokens`, …) cost no comparison.
#[inline]
fn count_field(name: &[u8]) -> Option<CountField> {
    let (field, expected): (CountField, &[u8]) = match (name.len(), *name.first()?) {
        (13, b'p') => (CountField::Prompt, b"prompt_tokens"),
        (17, b'c') => (CountField::Completion, b"completion_tokens"),
        (13, b'c') => (CountField::Cached, b"cached_tokens"),
        (16, b'r') => (CountField::Reasoning, b"reasoning_tokens"),
        (12, b'i') => (CountField::Input, b"input_tokens"),
        (13, b'o') => (CountField::Output, b"output_tokens"),
        (23, b'c') => (CountField::CacheReadInput, b"cache_read_input_tokens"),
        (27, b'c') => (
            CountField::CacheCreationInput,
            b"cache_creation_input_tokens",
        ),
        _ => return None,
    };
    (name == expected).then_some(field)
}

/// The whole number `bytes` starts with and how many digits it took: `None` for anything
/// else (`null`, a string, a fraction's or a negative's first byte) or one past `u64`.
#[inline]
fn whole_number(bytes: &[u8]) -> (Option<u64>, usize) {
    let mut total = Some(0u64);
    let mut digits = 0;
    while let Some(&byte) = bytes.get(digits)
        && byte.is_ascii_digit()
    {
        total = total
            .and_then(|total| total.checked_mul(10))
            .and_then(|total| total.checked_add(u64::from(byte - b'0')));
        digits += 1;
    }
    ((digits > 0).then_some(total).flatten(), digits)
}

fn finish_counts(mut reported: Reported, cached: Option<u64>, reasoning: Option<u64>) -> Reported {
    reported.prompt_tokens_details = cached.map(|cached| Details {
        cached_tokens: Some(cached),
        reasoning_tokens: None,
    });
    reported.completion_tokens_details = reasoning.map(|reasoning| Details {
        cached_tokens: None,
        reasoning_tokens: Some(reasoning),
    });
    reported
}

fn normalise(dialect: Dialect, reported: Reported) -> Usage {
    match dialect {
        Dialect::Anthropic => {
            let cached = reported.cache_read_input_tokens.unwrap_or(0);
            let written = reported.cache_creation_input_tokens.unwrap_or(0);
            Usage {
                input_tokens: reported.input_tokens.unwrap_or(0) + cached + written,
                output_tokens: reported.output_tokens.unwrap_or(0),
                cached_input_tokens: cached,
                cache_write_tokens: written,
                reasoning_tokens: 0,
            }
        }
        _ => Usage {
            input_tokens: reported.prompt_tokens.unwrap_or(0),
            output_tokens: reported.completion_tokens.unwrap_or(0),
            cached_input_tokens: reported
                .prompt_tokens_details
                .as_ref()
                .and_then(|details| details.cached_tokens)
                .unwrap_or(0),
            cache_write_tokens: 0,
            reasoning_tokens: reported
                .completion_tokens_details
                .as_ref()
                .and_then(|details| details.reasoning_tokens)
                .unwrap_or(0),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tap(dialect: Dialect, sse: bool, parts: &[&str]) -> Option<Usage> {
        let mut tap = UsageTap::new(dialect, sse);
        for part in parts {
            tap.observe(&Bytes::copy_from_slice(part.as_bytes()));
        }
        tap.finish()
    }

    #[test]
    fn the_usage_key_is_found_where_a_reverse_search_finds_it() {
        let haystacks: [&[u8]; 8] = [
            b"",
            b"g",
            b"\"usage\"",
            b"sage\"",
            br#"{"usage":{"a":1},"tag":"gg","x":"usage"}"#,
            br#"{"text":"\"usage\" in a string","usage":null}"#,
            br#"{"message":{"usage":{}},"big":"ggggg"}"#,
            br#"{"no":"key here, just usages and gauges"}"#,
        ];
        for haystack in haystacks {
            assert_eq!(
                rfind_usage_key(haystack),
                memchr::memmem::rfind(haystack, b"\"usage\""),
                "{}",
                String::from_utf8_lossy(haystack)
            );
        }
    }

    #[test]
    fn the_usage_key_is_found_where_it_is_not_text() {
        // Text that mentions a usage object is escaped inside its string, so only the
        // real key is found, whatever whitespace surrounds its colon.
        let answer = r#"{"choices":[{"message":{"content":"say \"usage\": {\"prompt_tokens\": 999}"}}],"usage" : {"prompt_tokens":7,"completion_tokens":3}}"#;
        let usage = parse_usage(Dialect::OpenAi, answer.as_bytes()).expect("usage");
        assert_eq!((usage.input_tokens, usage.output_tokens), (7, 3));
        // `"usage": null` (OpenAI's chunks before the last) is no usage, at once.
        assert_eq!(
            usage_object(br#"{"choices":[],"usage":null}"#).map(|found| found.is_none()),
            Some(true)
        );
        // A value "usage" is not a key; the full parse decides then.
        assert!(usage_object(br#"{"kind":"usage"}"#).is_none());
        let nested =
            br#"{"type":"message_start","message":{"usage":{"input_tokens":5,"output_tokens":1}}}"#;
        let usage = parse_usage(Dialect::Anthropic, nested).expect("usage");
        assert_eq!((usage.input_tokens, usage.output_tokens), (5, 1));
    }

    #[test]
    fn scanning_a_usage_object_reads_what_parsing_it_reads() {
        let objects = [
            r#"{"prompt_tokens":11,"completion_tokens":5,"total_tokens":16,"prompt_tokens_details":{"cached_tokens":3,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":2,"audio_tokens":0,"accepted_prediction_tokens":0}}"#,
            r#"{ "prompt_tokens" : 7 , "completion_tokens": null }"#,
            r#"{"input_tokens":12,"cache_creation_input_tokens":100,"cache_read_input_tokens":50,"cache_creation":{"ephemeral_5m_input_tokens":100},"output_tokens":9,"service_tier":"standard"}"#,
            r#"{"output_tokens":3}"#,
            r#"{"input_tokens":"12","output_tokens":-1}"#,
            r#"{}"#,
        ];
        for object in objects {
            let scanned =
                scan_counts(format!(" {object},\"x\":1}}").as_bytes()).expect("an object");
            let parsed: Reported = serde_json::from_str(object).unwrap_or_default();
            for dialect in [Dialect::OpenAi, Dialect::Anthropic] {
                assert_eq!(
                    normalise(dialect, scanned.clone()),
                    normalise(dialect, parsed.clone()),
                    "{object}"
                );
            }
        }
        // Once one dialect's counts are all read, the rest is not walked.
        let openai = scan_counts(
            br#"{"prompt_tokens":9,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":1,"#,
        )
        .expect("every OpenAI count read");
        assert_eq!(
            (openai.prompt_tokens, openai.completion_tokens),
            (Some(9), Some(2))
        );
        // Not a whole object: the caller parses instead.
        assert!(scan_counts(b"null").is_none());
        assert!(scan_counts(br#"{"prompt_tokens":1,"#).is_none());
        assert!(
            scan_counts(br#"{"a":"}\""}"#).is_some_and(|counts| counts.prompt_tokens.is_none())
        );
    }

    #[test]
    fn only_whole_numbers_are_counts() {
        assert_eq!(whole_number(b"42,"), (Some(42), 2));
        assert_eq!(whole_number(b"18446744073709551615}"), (Some(u64::MAX), 20));
        assert_eq!(whole_number(b"18446744073709551616}"), (None, 20));
        assert_eq!(whole_number(b"null"), (None, 0));
        assert_eq!(whole_number(b"-1"), (None, 0));
        assert_eq!(whole_number(b""), (None, 0));
    }

    #[test]
    fn a_whole_openai_answer_split_anywhere() {
        let usage = tap(
            Dialect::OpenAi,
            false,
            &[
                r#"{"id":"x","usage":{"prompt_tokens":12,"completion_tokens":5,"#,
                r#""prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":2}}}"#,
            ],
        )
        .expect("usage");
        assert_eq!(
            (
                usage.input_tokens,
                usage.output_tokens,
                usage.cached_input_tokens,
                usage.reasoning_tokens
            ),
            (12, 5, 4, 2)
        );
    }

    #[test]
    fn an_anthropic_stream_adds_cache_tokens_to_the_input() {
        let usage = tap(
            Dialect::Anthropic,
            true,
            &[
                "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":10,\"cache_read_input_tokens\":5,\"output_tokens\":1}}}\n\n",
                "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"delta\":{\"text\":\"usage\"}}\n\nevent: message_delta\nda",
                "ta: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":7}}\n\n",
            ],
        )
        .expect("usage");
        assert_eq!(
            (
                usage.input_tokens,
                usage.output_tokens,
                usage.cached_input_tokens
            ),
            (15, 7, 5)
        );
    }

    #[test]
    fn usage_is_asked_for_only_where_the_client_chose_nothing() {
        let asked =
            ask_for_usage(&Bytes::from_static(br#"{"model":"m","stream":true}"#)).expect("asked");
        assert_eq!(
            &asked[..],
            br#"{"stream_options":{"include_usage":true},"model":"m","stream":true}"#
        );
        let own = Bytes::from_static(br#"{"model":"m","stream_options":{"include_usage":false}}"#);
        assert!(ask_for_usage(&own).is_none());
    }

    #[test]
    fn the_usage_chunk_is_taken_out_wherever_frames_split() {
        let stream = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n\
                      data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1}}\n\n\
                      data: [DONE]\n\n";
        let expected = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}],\"usage\":null}\n\n\
                        data: [DONE]\n\n";
        for split in 1..stream.len() {
            let mut filter = UsageChunkFilter::default();
            let mut out = Vec::new();
            for part in [&stream[..split], &stream[split..]] {
                out.extend_from_slice(&filter.filter(&Bytes::copy_from_slice(part.as_bytes())));
            }
            out.extend_from_slice(&filter.finish());
            assert_eq!(String::from_utf8_lossy(&out), expected, "split at {split}");
        }
    }

    #[test]
    fn an_openai_stream_without_usage_reports_none() {
        let usage = tap(
            Dialect::OpenAi,
            true,
            &["data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n"],
        );
        assert!(usage.is_none());
    }
}
