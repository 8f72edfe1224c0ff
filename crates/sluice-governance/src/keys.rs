//! Virtual keys: generating them, and the keyed hash they are stored and looked up by.
//!
//! A virtual key is `sk-sluice-` followed by 43 base64url characters: 256 bits from the
//! operating system's random generator. The key itself is shown to its owner once and
//! never stored; the store holds its HMAC-SHA256 under a server secret, so a leaked
//! database yields neither usable keys nor a way to test guesses offline without that
//! secret.
//!
//! # Why lookups by hash need no constant-time comparison
//!
//! The gateway authenticates a request by computing the HMAC of the presented key and
//! looking that value up in an index. A timing side channel in the lookup could at most
//! reveal how many leading characters of a *stored HMAC* an attacker's guess matched; to
//! turn that into a key they would have to find an input whose keyed hash (under a secret
//! they do not hold) has chosen leading characters, and the key behind it is 256 random
//! bits. Timing attacks are therefore moot here, which is why the index lookup is fine.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// What every virtual key starts with; tells a virtual key from a provider's key.
pub const KEY_PREFIX: &str = "sk-sluice-";

/// Random bytes per key: 256 bits.
const KEY_BYTES: usize = 32;

/// Characters of the random part kept in the display prefix.
const DISPLAY_CHARS: usize = 4;

/// The operating system's random generator failed; nothing else can go wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the operating system's random number generator failed")]
pub struct RandomError;

/// A freshly generated key: the plaintext, to show once, and the prefix kept for display.
#[derive(Clone, PartialEq, Eq)]
pub struct GeneratedKey {
    /// The whole key. Show it to its owner once; store only [`KeyHasher::hash`] of it.
    pub plaintext: String,
    /// `sk-sluice-` plus the first four random characters and `…`: enough for a human to
    /// tell keys apart, far too little to guess one.
    pub display_prefix: String,
}

/// Redacts the plaintext, so a key never reaches a log through `{:?}`.
impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("plaintext", &"<redacted>")
            .field("display_prefix", &self.display_prefix)
            .finish()
    }
}

/// Generates a new virtual key from 256 bits of operating-system randomness.
pub fn generate() -> Result<GeneratedKey, RandomError> {
    let mut bytes = [0u8; KEY_BYTES];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| RandomError)?;
    let random = URL_SAFE_NO_PAD.encode(bytes);
    let shown: String = random.chars().take(DISPLAY_CHARS).collect();
    Ok(GeneratedKey {
        plaintext: format!("{KEY_PREFIX}{random}"),
        display_prefix: format!("{KEY_PREFIX}{shown}…"),
    })
}

/// `n` random bytes as lowercase hex, for generated record ids (`key_3fa9…`).
pub fn random_hex(n: usize) -> Result<String, RandomError> {
    let mut bytes = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| RandomError)?;
    Ok(hex(&bytes))
}

/// True when `s` looks like a virtual key (rather than a provider's key or garbage).
/// A prefix check only: whether the key exists is the store's business.
pub fn is_virtual_key(s: &str) -> bool {
    s.starts_with(KEY_PREFIX)
}

/// HMAC-SHA256 under the server's secret: the value a key is stored and looked up by.
///
/// Lookups by this hash need no constant-time comparison: see the module documentation.
#[derive(Clone)]
pub struct KeyHasher {
    key: hmac::Key,
}

impl KeyHasher {
    /// A hasher under `secret`. Changing the secret invalidates every stored key.
    pub fn new(secret: &[u8]) -> KeyHasher {
        KeyHasher {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// The HMAC-SHA256 of `plaintext`, 64 lowercase hex characters (as stored).
    pub fn hash(&self, plaintext: &str) -> String {
        hex(&self.digest(plaintext))
    }

    /// The HMAC-SHA256 of `plaintext` as bytes: what the request path looks keys up by,
    /// with no hex string to build.
    pub fn digest(&self, plaintext: &str) -> KeyDigest {
        let tag = hmac::sign(&self.key, plaintext.as_bytes());
        let mut digest = [0u8; 32];
        digest.copy_from_slice(tag.as_ref());
        digest
    }
}

/// An HMAC-SHA256 of a key.
pub type KeyDigest = [u8; 32];

/// The digest a stored hash (64 hex characters) stands for; `None` if it is not one.
pub fn digest_from_hex(stored: &str) -> Option<KeyDigest> {
    let bytes = stored.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(bytes.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(digest)
}

/// Never prints the secret.
impl fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHasher(<redacted>)")
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}
