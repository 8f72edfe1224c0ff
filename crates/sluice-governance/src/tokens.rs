//! Token estimates made before the upstream call, for tokens-per-minute limits.
//!
//! A limit must be checked before the provider reports usage, so the request's input
//! is estimated from its body. OpenAI-family models get an exact count from their own
//! tokenizer (`tiktoken-rs`: `o200k_base` for gpt-4o, gpt-4.1, gpt-4.5, gpt-5 and the
//! o-series; `cl100k_base` for gpt-4, gpt-3.5 and the embedding models) plus OpenAI's
//! documented chat overhead. Every other model gets `ceil(characters / 4)`, OpenAI's
//! and Anthropic's published rule of thumb for English text; it is an estimate, and the
//! actual usage reported afterwards corrects the counters.
//!
//! Only the parts of a body that become tokens are read, through borrowed serde
//! structs: message text (string or content-part arrays), system prompts, tool
//! definitions and tool calls (counted as their JSON text), thinking blocks. Images
//! count a flat [`IMAGE_TOKENS`]. A body that does not parse is estimated at
//! `ceil(bytes / 4)`: the gateway validates bodies elsewhere, this never fails.

use std::borrow::Cow;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::value::RawValue;
use sluice_core::json_scan::{skip_space, string_end_escaped};
use sluice_core::{Count, RawFields};
use smallvec::SmallVec;
use tiktoken_rs::CoreBPE;

/// Tokens counted for each image, whatever its size: what OpenAI charges for a
/// 1024×1024 image at high detail (85 + 4 tiles × 170). Anthropic's formula
/// (width × height / 750) gives a similar ~1,400 for that size; a flat figure keeps the
/// estimate from having to decode images.
pub const IMAGE_TOKENS: u64 = 765;

/// OpenAI's documented overhead: every message costs 3 tokens besides its content
/// (`<|start|>{role}\n{content}<|end|>\n`), a `name` one more, and every reply is primed
/// with 3 (`<|start|>assistant<|message|>`). From the OpenAI cookbook, "How to count
/// tokens with tiktoken", `num_tokens_from_messages`.
pub const TOKENS_PER_MESSAGE: u64 = 3;
pub const TOKENS_PER_NAME: u64 = 1;
pub const REPLY_PRIMING_TOKENS: u64 = 3;

/// The roles of OpenAI's and Anthropic's chat APIs, each a single token in `o200k_base`
/// and `cl100k_base`.
pub const ONE_TOKEN_ROLES: [&str; 6] = [
    "user",
    "assistant",
    "system",
    "developer",
    "tool",
    "function",
];

/// Which API a request body is written for. A local enum, not the providers crate's
/// dialect, so governance need not depend on the providers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BodyDialect {
    /// OpenAI chat completions (`messages`, `tools`, `functions`).
    OpenAi,
    /// Anthropic messages (`system`, `messages`, `tools`).
    Anthropic,
}

/// How a model's text becomes tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tokenizer {
    /// gpt-4o, gpt-4.1, gpt-4.5, gpt-5, o1/o3/o4, chatgpt-4o, gpt-oss.
    O200kBase,
    /// gpt-4, gpt-3.5, text-embedding-*.
    Cl100kBase,
    /// Everything else: `ceil(characters / 4)`.
    CharsOver4,
}

impl Tokenizer {
    /// The tokenizer for a model id (a `provider/` prefix is ignored).
    pub fn for_model(model: &str) -> Tokenizer {
        // A byte search: `rsplit_once('/')` costs more than the rest of this function.
        let m = model
            .bytes()
            .rposition(|byte| byte == b'/')
            .map_or(model, |slash| &model[slash + 1..]);
        let starts = |p: &str| m.starts_with(p);
        let o_series = m.len() >= 2 && m.as_bytes()[0] == b'o' && m.as_bytes()[1].is_ascii_digit();
        if o_series
            || starts("gpt-4o")
            || starts("gpt-4.1")
            || starts("gpt-4.5")
            || starts("gpt-5")
            || starts("gpt-oss")
            || starts("chatgpt-")
            || starts("codex-")
        {
            Tokenizer::O200kBase
        } else if starts("gpt-4")
            || starts("gpt-3.5")
            || starts("gpt-35")
            || starts("text-embedding-")
        {
            Tokenizer::Cl100kBase
        } else {
            Tokenizer::CharsOver4
        }
    }

    /// Tokens in `text`. Falls back to `ceil(chars / 4)` if the BPE tables could not
    /// be built (they are compiled in, so this does not happen in practice).
    pub fn count(self, text: &str) -> u64 {
        if text.is_empty() {
            return 0;
        }
        match self.bpe() {
            Some(bpe) => {
                count_cache().get_or_count(self, text, || bpe.encode_ordinary(text).len() as u64)
            }
            None => chars_over_4(text.chars().count() as u64),
        }
    }

    fn bpe(self) -> Option<&'static CoreBPE> {
        static O200K: OnceLock<Option<CoreBPE>> = OnceLock::new();
        static CL100K: OnceLock<Option<CoreBPE>> = OnceLock::new();
        match self {
            Tokenizer::O200kBase => O200K
                .get_or_init(|| tiktoken_rs::o200k_base().ok())
                .as_ref(),
            Tokenizer::Cl100kBase => CL100K
                .get_or_init(|| tiktoken_rs::cl100k_base().ok())
                .as_ref(),
            Tokenizer::CharsOver4 => None,
        }
    }

    fn is_bpe(self) -> bool {
        self != Tokenizer::CharsOver4
    }
}

/// Token counts of texts seen before. Requests repeat most of their text — the same
/// system prompt on every call, a conversation resending its history each turn — and
/// BPE is by far the dearest step of an estimate (about 13,000 instructions for a short
/// sentence, against a hash and one atomic load here).
///
/// Direct-mapped and lock-free: slot `hash % SLOTS` holds the hash's upper 32 bits and
/// the count. A clash of 44 hash bits would give one text another's count; that only
/// misestimates an admission, which the reported usage corrects after the call. The hash
/// is foldhash's (seeded per process): a cache needs no defence against chosen
/// collisions beyond that seed, and SipHash costs several times as much per text.
struct CountCache {
    hasher: foldhash::quality::RandomState,
    slots: Box<[std::sync::atomic::AtomicU64]>,
}

const COUNT_CACHE_SLOTS: usize = 4096;

fn count_cache() -> &'static CountCache {
    static CACHE: OnceLock<CountCache> = OnceLock::new();
    CACHE.get_or_init(|| CountCache {
        hasher: foldhash::quality::RandomState::default(),
        slots: (0..COUNT_CACHE_SLOTS)
            .map(|_| std::sync::atomic::AtomicU64::new(0))
            .collect(),
    })
}

impl CountCache {
    fn get_or_count(&self, tokenizer: Tokenizer, text: &str, count: impl FnOnce() -> u64) -> u64 {
        use std::hash::BuildHasher;
        use std::sync::atomic::Ordering::Relaxed;
        let hash = self.hasher.hash_one((tokenizer, text));
        let slot = &self.slots[(hash as usize) % COUNT_CACHE_SLOTS];
        let tag = (hash >> 32) | 1; // never 0, which marks an empty slot
        let held = slot.load(Relaxed);
        if held != 0 && held >> 32 == tag {
            return held & u64::from(u32::MAX);
        }
        let tokens = count();
        if let Ok(small) = u32::try_from(tokens) {
            slot.store(tag << 32 | u64::from(small), Relaxed);
        }
        tokens
    }
}

/// Builds the BPE tables (some tens of milliseconds each) so that the first request
/// does not pay for it. Call once at start-up; later calls are free.
pub fn warm_up() {
    let _ = Tokenizer::O200kBase.bpe();
    let _ = Tokenizer::Cl100kBase.bpe();
}

/// Estimated input tokens of a chat request body (`dialect` says which API it is
/// written for) sent to `model`. Never fails: see the module documentation.
pub fn estimate_input(model: &str, body: &[u8], dialect: BodyDialect) -> u64 {
    estimate_chat(model, body, dialect).input
}

/// What one parse of a chat request body tells an admission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatEstimate {
    /// Estimated input tokens (see [`estimate_input`]).
    pub input: u64,
    /// The output cap the request sets: `max_completion_tokens`, else `max_tokens`.
    pub max_output: Option<u64>,
}

/// [`estimate_input`] and the request's output cap, from one parse of the body.
pub fn estimate_chat(model: &str, body: &[u8], dialect: BodyDialect) -> ChatEstimate {
    match RawFields::parse(body) {
        Ok(fields) => estimate_chat_fields(model, &fields, body.len(), dialect),
        Err(_) => ChatEstimate {
            input: chars_over_4(body.len() as u64),
            max_output: None,
        },
    }
}

/// [`estimate_chat`] from the fields of a body `body_len` bytes long, read already (the
/// gateway's request check reads them): only the fields that become tokens are parsed.
pub fn estimate_chat_fields(
    model: &str,
    fields: &RawFields<'_>,
    body_len: usize,
    dialect: BodyDialect,
) -> ChatEstimate {
    let mut counter = Counter::new(Tokenizer::for_model(model));
    let max_output = match dialect {
        BodyDialect::OpenAi => count_openai(fields, &mut counter),
        BodyDialect::Anthropic => count_anthropic(fields, &mut counter),
    };
    match max_output {
        Ok(max_output) => ChatEstimate {
            input: counter.total(),
            max_output,
        },
        Err(Unreadable) => ChatEstimate {
            input: chars_over_4(body_len as u64),
            max_output: None,
        },
    }
}

/// Estimated input tokens of an embeddings request body (`input`: a string, an array
/// of strings, or pre-tokenised arrays of integers, which count one token each).
pub fn estimate_embedding_input(model: &str, body: &[u8]) -> u64 {
    match RawFields::parse(body) {
        Ok(fields) => estimate_embedding_fields(model, &fields, body.len()),
        Err(_) => chars_over_4(body.len() as u64),
    }
}

/// [`estimate_embedding_input`] from the fields of a body `body_len` bytes long.
pub fn estimate_embedding_fields(model: &str, fields: &RawFields<'_>, body_len: usize) -> u64 {
    let Some(input) = fields.input else {
        return 0;
    };
    let mut counter = Counter::new(Tokenizer::for_model(model));
    match first_byte(input) {
        b'"' => counter.text_raw(input),
        b'[' => {
            let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(input.get()) else {
                return chars_over_4(body_len as u64);
            };
            for item in items {
                match first_byte(item) {
                    b'"' => counter.text_raw(item),
                    // A pre-tokenised input: an array of token ids.
                    b'[' => {
                        counter.tokens += serde_json::from_str::<Vec<&RawValue>>(item.get())
                            .map_or(0, |ids| ids.len() as u64);
                    }
                    // An element of a single pre-tokenised input.
                    _ => counter.tokens += 1,
                }
            }
        }
        _ => {}
    }
    counter.total()
}

/// A body part the estimate cannot read: the whole body is then estimated from its
/// length (see the module documentation).
struct Unreadable;

impl From<serde_json::Error> for Unreadable {
    fn from(_: serde_json::Error) -> Self {
        Unreadable
    }
}

/// A token cap: absent or `null` is none; anything but a whole number is unreadable.
fn token_cap(count: Count) -> Result<Option<u64>, Unreadable> {
    match count {
        Count::Absent => Ok(None),
        Count::Whole(n) => Ok(Some(n)),
        Count::Other => Err(Unreadable),
    }
}

/// A chat message that adds its tokens to a [`Counter`].
trait CountedMessage {
    fn count(&self, c: &mut Counter);
}

/// Reads a `messages` array and counts each message as it is read, so no `Vec` of
/// messages is built. Returns how many messages there were.
fn count_messages<'a, M>(messages: &'a RawValue, c: &mut Counter) -> Result<usize, Unreadable>
where
    M: Deserialize<'a> + CountedMessage,
{
    use serde::de::{Deserializer, SeqAccess, Visitor};

    struct EachMessage<'c, M> {
        counter: &'c mut Counter,
        message: std::marker::PhantomData<M>,
    }

    impl<'de, M: Deserialize<'de> + CountedMessage> Visitor<'de> for EachMessage<'_, M> {
        type Value = usize;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an array of messages")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
            let mut read = 0;
            while let Some(message) = seq.next_element::<M>()? {
                message.count(self.counter);
                read += 1;
            }
            Ok(read)
        }
    }

    let mut reader = serde_json::Deserializer::from_str(messages.get());
    Ok(reader.deserialize_seq(EachMessage {
        counter: c,
        message: std::marker::PhantomData::<M>,
    })?)
}

/// The output tokens to reserve: the request's `max_tokens` (or `max_completion_tokens`)
/// when it set one, else `default` (a per-route guess of a typical answer).
pub fn estimate_output(max_tokens: Option<u64>, default: u64) -> u64 {
    max_tokens.unwrap_or(default)
}

fn chars_over_4(chars: u64) -> u64 {
    chars.div_ceil(4)
}

fn first_byte(raw: &RawValue) -> u8 {
    raw.get().bytes().next().unwrap_or(b'n')
}

/// Adds up a request: BPE tokens directly, or characters to divide by four at the end
/// (so rounding happens once, not per piece).
#[derive(Clone, Copy)]
struct Counter {
    tokenizer: Tokenizer,
    tokens: u64,
    chars: u64,
}

impl Counter {
    fn new(tokenizer: Tokenizer) -> Counter {
        Counter {
            tokenizer,
            tokens: 0,
            chars: 0,
        }
    }

    fn text(&mut self, text: &str) {
        if self.tokenizer.is_bpe() {
            self.tokens += self.tokenizer.count(text);
        } else {
            self.chars += text.chars().count() as u64;
        }
    }

    /// A JSON string value, unescaped; anything else is counted as its JSON text.
    fn text_raw(&mut self, raw: &RawValue) {
        let json = raw.get();
        if let Some(inner) = json
            .strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
        {
            // A raw value is valid JSON, so a string without a backslash is its own text;
            // only one with escapes is decoded (into an owned copy).
            if !inner.contains('\\') {
                return self.text(inner);
            }
            if let Ok(s) = serde_json::from_str::<String>(json) {
                return self.text(&s);
            }
        }
        self.text(json);
    }

    /// A message's role. The API's roles are one token each in both BPE tables (a test
    /// holds this against the tables), so the common case skips the count cache.
    fn role(&mut self, role: &str) {
        if self.tokenizer.is_bpe() && ONE_TOKEN_ROLES.contains(&role) {
            self.tokens += 1;
        } else {
            self.text(role);
        }
    }

    /// Per-message and per-request overheads exist only for the exact tokenizers.
    fn overhead(&mut self, tokens: u64) {
        if self.tokenizer.is_bpe() {
            self.tokens += tokens;
        }
    }

    fn image(&mut self) {
        self.tokens += IMAGE_TOKENS;
    }

    fn total(&self) -> u64 {
        self.tokens.saturating_add(chars_over_4(self.chars))
    }
}

/// A JSON string borrowed from the body when it has no escapes. serde borrows a
/// `Cow<str>` field only when it is not inside an `Option`, so optional text fields hold
/// this newtype: an `Option<Cow<str>>` would allocate a `String` for every value.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

// ---- OpenAI chat completions ------------------------------------------------------

/// An OpenAI chat body's input tokens; returns its output cap (`max_completion_tokens`,
/// else `max_tokens`).
fn count_openai(fields: &RawFields<'_>, c: &mut Counter) -> Result<Option<u64>, Unreadable> {
    let (completion_cap, cap) = (
        token_cap(fields.max_completion_tokens)?,
        token_cap(fields.max_tokens)?,
    );
    if let Some(messages) = fields.messages {
        let read = match count_plain_messages(messages, c) {
            Some(read) => read,
            None => count_messages::<OpenAiMessage<'_>>(messages, c)?,
        };
        if read > 0 {
            c.overhead(REPLY_PRIMING_TOKENS);
        }
    }
    for raw in [fields.tools, fields.functions].into_iter().flatten() {
        c.text(raw.get());
    }
    Ok(completion_cap.or(cap))
}

/// A message whose fields are strings or `null`, as most chat turns are.
#[derive(Default)]
struct PlainMessage<'a> {
    role: Option<JsonText<'a>>,
    name: Option<JsonText<'a>>,
    content: Option<JsonText<'a>>,
}

/// A JSON string as it stands in the body: between its quotes, and whether it holds an
/// escape (then it is decoded before it is counted).
#[derive(Clone, Copy)]
struct JsonText<'a> {
    inner: &'a str,
    escaped: bool,
}

impl<'a> JsonText<'a> {
    /// The text: borrowed when there is nothing to decode.
    fn text(self) -> Option<Cow<'a, str>> {
        if !self.escaped {
            return Some(Cow::Borrowed(self.inner));
        }
        let mut quoted = String::with_capacity(self.inner.len() + 2);
        quoted.push('"');
        quoted.push_str(self.inner);
        quoted.push('"');
        serde_json::from_str::<String>(&quoted).ok().map(Cow::Owned)
    }
}

/// Counts an OpenAI `messages` array as [`OpenAiMessage`] does, when every message is a
/// [`PlainMessage`], read by hand: serde's derived parse costs several times as much for
/// the usual turn. `None` leaves `c` untouched and the array to that parse: a content
/// array, tool calls, a number, a key written with escapes, a field given twice. The
/// array is valid JSON (the request check parsed the body), so only its shape is
/// checked here.
fn count_plain_messages(messages: &RawValue, c: &mut Counter) -> Option<usize> {
    let json = messages.get();
    let bytes = json.as_bytes();
    let mut found: SmallVec<[PlainMessage<'_>; 4]> = SmallVec::new();
    let mut at = skip_space(bytes, 0);
    if bytes.get(at) != Some(&b'[') {
        return None;
    }
    at = skip_space(bytes, at + 1);
    if bytes.get(at) == Some(&b']') {
        return Some(0);
    }
    loop {
        if bytes.get(at) != Some(&b'{') {
            return None;
        }
        at = skip_space(bytes, at + 1);
        let mut message = PlainMessage::default();
        if bytes.get(at) != Some(&b'}') {
            loop {
                if bytes.get(at) != Some(&b'"') {
                    return None;
                }
                let (key_end, key_escaped) = string_end_escaped(bytes, at + 1)?;
                let key = &json[at + 1..key_end];
                at = skip_space(bytes, key_end + 1);
                if bytes.get(at) != Some(&b':') {
                    return None;
                }
                at = skip_space(bytes, at + 1);
                let value = match bytes.get(at)? {
                    b'"' => {
                        let (end, escaped) = string_end_escaped(bytes, at + 1)?;
                        let inner = &json[at + 1..end];
                        at = end + 1;
                        Some(JsonText { inner, escaped })
                    }
                    b'n' if bytes.get(at..at + 4) == Some(b"null") => {
                        at += 4;
                        None
                    }
                    _ => return None,
                };
                // Other fields are not counted (as the full parse does not count them).
                let mut other = None;
                let field = match key {
                    "role" => &mut message.role,
                    "name" => &mut message.name,
                    "content" => &mut message.content,
                    // Counted as their JSON text by the full parse.
                    "tool_calls" | "function_call" if value.is_some() => return None,
                    _ if key_escaped => return None,
                    _ => &mut other,
                };
                if field.is_some() {
                    return None;
                }
                *field = value;
                at = skip_space(bytes, at);
                match bytes.get(at)? {
                    b',' => at = skip_space(bytes, at + 1),
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        found.push(message);
        at = skip_space(bytes, at + 1);
        match bytes.get(at)? {
            b',' => at = skip_space(bytes, at + 1),
            b']' => break,
            _ => return None,
        }
    }
    // Counted on a copy, committed once every string has decoded.
    let mut counted = *c;
    for message in &found {
        counted.overhead(TOKENS_PER_MESSAGE);
        if let Some(role) = message.role {
            counted.role(&role.text()?);
        }
        if let Some(name) = message.name {
            counted.text(&name.text()?);
            counted.overhead(TOKENS_PER_NAME);
        }
        if let Some(content) = message.content {
            counted.text(&content.text()?);
        }
    }
    *c = counted;
    Some(found.len())
}

#[derive(Deserialize)]
struct OpenAiMessage<'a> {
    #[serde(borrow, default)]
    role: Option<Text<'a>>,
    #[serde(borrow, default)]
    name: Option<Text<'a>>,
    #[serde(borrow, default)]
    content: Option<OpenAiContent<'a>>,
    #[serde(borrow, default)]
    tool_calls: Option<&'a RawValue>,
    #[serde(borrow, default)]
    function_call: Option<&'a RawValue>,
}

/// A content part: `{"type":"text","text":…}`, `{"type":"image_url",…}`,
/// `{"type":"input_audio",…}`, `{"type":"file",…}`.
#[derive(Deserialize)]
struct OpenAiPart<'a> {
    #[serde(borrow, rename = "type", default)]
    kind: Option<Text<'a>>,
    #[serde(borrow, default)]
    text: Option<Text<'a>>,
    #[serde(borrow, default)]
    refusal: Option<Text<'a>>,
}

impl CountedMessage for OpenAiMessage<'_> {
    fn count(&self, c: &mut Counter) {
        c.overhead(TOKENS_PER_MESSAGE);
        if let Some(role) = &self.role {
            c.role(role);
        }
        if let Some(name) = &self.name {
            c.text(name);
            c.overhead(TOKENS_PER_NAME);
        }
        if let Some(content) = &self.content {
            content.count(c);
        }
        for raw in [self.tool_calls, self.function_call].into_iter().flatten() {
            c.text(raw.get());
        }
    }
}

/// A message's `content`, read in the body's one parse: a string, or an array of
/// content parts. An array whose elements are not parts makes the body unreadable for
/// the estimate (it is then estimated from its length, like any body it cannot read).
enum OpenAiContent<'a> {
    Text(Cow<'a, str>),
    Parts(Vec<OpenAiPart<'a>>),
    /// A number, a boolean or an object: no text.
    Other,
}

impl OpenAiContent<'_> {
    fn count(&self, c: &mut Counter) {
        match self {
            OpenAiContent::Text(text) => c.text(text),
            OpenAiContent::Parts(parts) => {
                for part in parts {
                    match part.kind.as_deref() {
                        Some("image_url") | Some("image") => c.image(),
                        _ => {
                            for t in [&part.text, &part.refusal].into_iter().flatten() {
                                c.text(t);
                            }
                        }
                    }
                }
            }
            OpenAiContent::Other => {}
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for OpenAiContent<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};

        struct ContentVisitor<'a>(std::marker::PhantomData<&'a ()>);

        impl<'de: 'a, 'a> Visitor<'de> for ContentVisitor<'a> {
            type Value = OpenAiContent<'a>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or an array of content parts")
            }

            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(OpenAiContent::Text(Cow::Borrowed(text)))
            }

            fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
                Ok(OpenAiContent::Text(Cow::Owned(text.to_owned())))
            }

            fn visit_string<E>(self, text: String) -> Result<Self::Value, E> {
                Ok(OpenAiContent::Text(Cow::Owned(text)))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut parts = Vec::new();
                while let Some(part) = seq.next_element()? {
                    parts.push(part);
                }
                Ok(OpenAiContent::Parts(parts))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(OpenAiContent::Other)
            }

            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(OpenAiContent::Other)
            }

            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(OpenAiContent::Other)
            }

            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(OpenAiContent::Other)
            }

            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(OpenAiContent::Other)
            }

            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(OpenAiContent::Other)
            }
        }

        deserializer.deserialize_any(ContentVisitor(std::marker::PhantomData))
    }
}

// ---- Anthropic messages -----------------------------------------------------------

/// An Anthropic messages body's input tokens; returns its output cap (`max_tokens`).
fn count_anthropic(fields: &RawFields<'_>, c: &mut Counter) -> Result<Option<u64>, Unreadable> {
    let cap = token_cap(fields.max_tokens)?;
    if let Some(system) = fields.system {
        anthropic_content(system, c, 0);
    }
    if let Some(messages) = fields.messages
        && count_messages::<AnthropicMessage<'_>>(messages, c)? > 0
    {
        c.overhead(REPLY_PRIMING_TOKENS);
    }
    if let Some(tools) = fields.tools {
        c.text(tools.get());
    }
    Ok(cap)
}

#[derive(Deserialize)]
struct AnthropicMessage<'a> {
    #[serde(borrow, default)]
    role: Option<Text<'a>>,
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
}

/// A content block: text, image, document, tool_use, tool_result, thinking,
/// redacted_thinking.
#[derive(Deserialize)]
struct AnthropicBlock<'a> {
    #[serde(borrow, rename = "type", default)]
    kind: Option<Text<'a>>,
    #[serde(borrow, default)]
    text: Option<Text<'a>>,
    #[serde(borrow, default)]
    thinking: Option<Text<'a>>,
    #[serde(borrow, default)]
    name: Option<Text<'a>>,
    /// `tool_use` arguments.
    #[serde(borrow, default)]
    input: Option<&'a RawValue>,
    /// `tool_result` content: a string or nested blocks.
    #[serde(borrow, default)]
    content: Option<&'a RawValue>,
}

impl CountedMessage for AnthropicMessage<'_> {
    fn count(&self, c: &mut Counter) {
        c.overhead(TOKENS_PER_MESSAGE);
        if let Some(role) = &self.role {
            c.role(role);
        }
        if let Some(content) = self.content {
            anthropic_content(content, c, 0);
        }
    }
}

/// Text of a string or a block array; `depth` bounds `tool_result` nesting.
fn anthropic_content(content: &RawValue, c: &mut Counter, depth: u8) {
    match first_byte(content) {
        b'"' => c.text_raw(content),
        b'[' => {
            let Ok(blocks) = serde_json::from_str::<Vec<AnthropicBlock<'_>>>(content.get()) else {
                c.text(content.get());
                return;
            };
            for block in blocks {
                match block.kind.as_deref() {
                    Some("image") => c.image(),
                    // Encrypted: opaque to us, and not billed as its text length.
                    Some("redacted_thinking") => {}
                    _ => {
                        for t in [&block.text, &block.thinking, &block.name]
                            .into_iter()
                            .flatten()
                        {
                            c.text(t);
                        }
                        if let Some(input) = block.input {
                            c.text(input.get());
                        }
                        if let Some(inner) = block.content {
                            if depth < 4 {
                                anthropic_content(inner, c, depth + 1);
                            } else {
                                c.text(inner.get());
                            }
                        }
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand reading of plain messages counts what serde's reading counts, and leaves
    /// every other array to it.
    #[test]
    fn plain_messages_count_as_the_full_parse_counts() {
        let plain = [
            r#"[]"#,
            r#" [ ] "#,
            r#"[{"role":"user","content":"Hello, how are you today?"}]"#,
            r#"[{"role":"system","content":"Be brief."},{"role":"user","name":"ann","content":"Hi"}]"#,
            r#"[ { "role" : "user" , "content" : "tab\there \"quoted\" \u00e9" } ]"#,
            r#"[{"role":"assistant","content":null,"refusal":"no","tool_calls":null}]"#,
            r#"[{"content":"no role"},{}]"#,
            r#"[{"role":"tool","tool_call_id":"call_1","content":"42"}]"#,
            r#"[{"role":"weird role","content":"x"}]"#,
        ];
        let full_parse_only = [
            r#"[{"role":"user","content":[{"type":"text","text":"Hi"}]}]"#,
            r#"[{"role":"assistant","tool_calls":[{"id":"a","type":"function"}]}]"#,
            r#"[{"role":"user","content":"x","extra":{"a":1}}]"#,
            r#"[{"role":"user","content":"x","n":1}]"#,
            r#"[{"role":"user","role":"system","content":"x"}]"#,
            r#"[{"r\u006fle":"user","content":"x"}]"#,
            r#"["not a message"]"#,
            r#"{"role":"user"}"#,
        ];
        for tokenizer in [Tokenizer::O200kBase, Tokenizer::CharsOver4] {
            for json in plain {
                let raw: Box<RawValue> = serde_json::from_str(json).expect("valid JSON");
                let (mut by_hand, mut by_serde) =
                    (Counter::new(tokenizer), Counter::new(tokenizer));
                let read = count_plain_messages(&raw, &mut by_hand);
                let parsed = count_messages::<OpenAiMessage<'_>>(&raw, &mut by_serde).ok();
                assert_eq!(read, parsed, "{json}");
                assert_eq!(by_hand.total(), by_serde.total(), "{json}");
            }
            for json in full_parse_only {
                let raw: Box<RawValue> = serde_json::from_str(json).expect("valid JSON");
                let mut counter = Counter::new(tokenizer);
                assert_eq!(count_plain_messages(&raw, &mut counter), None, "{json}");
                assert_eq!(counter.total(), 0, "{json}");
            }
        }
    }
}
