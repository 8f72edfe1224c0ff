//! The mock's token rule: a token is a whitespace-separated word.
//!
//! Real tokenizers are model-specific and large; a test only needs a rule it can predict,
//! so everything the mock counts (prompt, completion, embeddings input) uses this one.

use std::hash::Hasher;

/// Tokens charged for each message on top of its words (role and framing, as real chat
/// templates add a few tokens per message).
pub const PER_MESSAGE_TOKENS: u64 = 3;

/// Tokens charged once per request for priming the assistant's reply.
pub const REPLY_PRIMING_TOKENS: u64 = 3;

/// Number of tokens (whitespace-separated words) in `text`.
pub fn count(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// Splits `text` into one piece per token, each piece being a word with the whitespace
/// that precedes it, so that concatenating the pieces gives back `text` (minus trailing
/// whitespace). This is how streams deliver text: one piece per chunk.
pub fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_word = false;
    for (i, c) in text.char_indices() {
        let space = c.is_whitespace();
        if in_word && space {
            // The word ended: the next piece starts with this whitespace.
            out.push(&text[start..i]);
            start = i;
        }
        in_word = !space;
    }
    if in_word {
        out.push(&text[start..]);
    }
    out
}

/// The words of `text` joined by single spaces: what the echo reply says.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Pseudo-Latin vocabulary for `lorem` replies.
const LOREM: &[&str] = &[
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
    "enim",
    "ad",
    "minim",
    "veniam",
    "quis",
    "nostrud",
    "exercitation",
    "ullamco",
    "laboris",
    "nisi",
    "aliquip",
    "ex",
    "ea",
    "commodo",
    "consequat",
    "duis",
    "aute",
    "irure",
    "in",
    "reprehenderit",
    "voluptate",
    "velit",
    "esse",
    "cillum",
    "fugiat",
    "nulla",
    "pariatur",
    "excepteur",
    "sint",
    "occaecat",
    "cupidatat",
    "non",
    "proident",
    "sunt",
    "culpa",
    "qui",
    "officia",
    "deserunt",
    "mollit",
    "anim",
    "id",
    "est",
    "laborum",
];

/// `n` pseudo-words chosen by `seed`, joined by single spaces.
pub fn lorem(n: u32, seed: u64) -> String {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut out = String::new();
    for i in 0..n {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(LOREM[rng.usize(..LOREM.len())]);
    }
    out
}

/// FNV-1a: a stable hash (unlike std's, guaranteed equal across builds and Rust versions),
/// used to seed text from request content.
#[derive(Clone, Copy)]
pub struct StableHasher(u64);

impl Default for StableHasher {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for StableHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// Stable hash of a text mixed with a seed.
pub fn hash_text(seed: u64, text: &str) -> u64 {
    let mut h = StableHasher::default();
    h.write(&seed.to_le_bytes());
    h.write(text.as_bytes());
    mix(h.finish())
}

/// SplitMix64 finaliser: spreads nearby inputs (counters, seeds) over the whole range.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_words() {
        assert_eq!(count(""), 0);
        assert_eq!(count("   "), 0);
        assert_eq!(count("hello"), 1);
        assert_eq!(count(" hello \n world\t!"), 3);
    }

    #[test]
    fn pieces_reassemble() {
        let text = "Hello  brave\nnew world";
        let p = pieces(text);
        assert_eq!(p, vec!["Hello", "  brave", "\nnew", " world"]);
        assert_eq!(p.concat(), text);
        assert_eq!(pieces("  lead"), vec!["  lead"]);
        assert_eq!(pieces("trail  "), vec!["trail"]);
        assert!(pieces("").is_empty());
        assert_eq!(pieces("naïve café").concat(), "naïve café");
    }

    #[test]
    fn normalizes() {
        assert_eq!(normalize("  a \n b\tc "), "a b c");
    }

    #[test]
    fn lorem_is_seeded() {
        assert_eq!(lorem(8, 7), lorem(8, 7));
        assert_ne!(lorem(8, 7), lorem(8, 8));
        assert_eq!(count(&lorem(8, 7)), 8);
        assert_eq!(lorem(0, 1), "");
    }

    #[test]
    fn hash_is_stable() {
        // Pinned so a change of algorithm (and so of every seeded reply) is noticed.
        assert_eq!(hash_text(0, "abc"), hash_text(0, "abc"));
        assert_ne!(hash_text(0, "abc"), hash_text(1, "abc"));
        let mut h = StableHasher::default();
        h.write(b"a");
        assert_eq!(h.finish(), 0xaf63_dc4c_8601_ec8c);
    }
}
