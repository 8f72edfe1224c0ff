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
//!
//! # Keys seen before
//!
//! HMAC-SHA256 is two SHA-256 blocks, about 5,000 instructions on a CPU without SHA
//! extensions: a good part of what governance adds to a request. A caller presents the
//! same key on every request, so [`KeyHasher::presented`] first looks in a small map of
//! keys that authenticated before. The map is keyed by a 128-bit SipHash-2-4 of the
//! presented key under 128 random bits drawn when the gateway starts (a few hundred
//! instructions), and holds the key's HMAC. No plaintext is kept: the map's entries
//! reveal nothing a stolen database does not, and a false hit would need a SipHash
//! collision with a valid key's tag under a key the attacker never sees.

use std::fmt;
use std::hash::Hasher;
use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use siphasher::sip128::{Hasher128, SipHasher24};
use sluice_store::FastMap;

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
    /// Keys that authenticated before, shared by the clones of one hasher.
    seen: Arc<SeenKeys>,
}

/// Most keys remembered at once; past this the map starts over (a flood of distinct
/// valid keys costs HMACs again, never correctness).
const SEEN_KEYS_MAX: usize = 16_384;

/// Keys that authenticated before: their tag (see the module documentation) → HMAC.
struct SeenKeys {
    /// `None` when the OS had no randomness to give: nothing is remembered then.
    tag_key: Option<[u8; 16]>,
    digests: RwLock<FastMap<u128, KeyDigest>>,
}

/// A key as presented on a request: its HMAC, and the tag it is remembered by.
pub struct Presented {
    pub digest: KeyDigest,
    tag: u128,
    /// The digest came from the map of keys seen before.
    seen: bool,
}

impl KeyHasher {
    /// A hasher under `secret`. Changing the secret invalidates every stored key.
    pub fn new(secret: &[u8]) -> KeyHasher {
        let mut tag_key = [0u8; 16];
        // Without OS randomness tags would be predictable: then nothing is remembered.
        let tag_key = SystemRandom::new()
            .fill(&mut tag_key)
            .is_ok()
            .then_some(tag_key);
        KeyHasher {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
            seen: Arc::new(SeenKeys {
                tag_key,
                digests: RwLock::new(FastMap::default()),
            }),
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

    /// The HMAC of a key a request presents: remembered when the key authenticated
    /// before, computed otherwise. Call [`KeyHasher::remember`] once it has.
    pub fn presented(&self, plaintext: &str) -> Presented {
        let Some(tag_key) = &self.seen.tag_key else {
            return Presented {
                digest: self.digest(plaintext),
                tag: 0,
                seen: false,
            };
        };
        let mut tagger = SipHasher24::new_with_key(tag_key);
        tagger.write(plaintext.as_bytes());
        let tag = tagger.finish128().as_u128();
        let remembered = self
            .seen
            .digests
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&tag)
            .copied();
        match remembered {
            Some(digest) => Presented {
                digest,
                tag,
                seen: true,
            },
            None => Presented {
                digest: self.digest(plaintext),
                tag,
                seen: false,
            },
        }
    }

    /// Remembers a presented key that authenticated, so its next request skips the HMAC.
    /// Only valid keys are remembered: garbage cannot push them out.
    pub fn remember(&self, presented: &Presented) {
        if presented.seen || self.seen.tag_key.is_none() {
            return;
        }
        let mut digests = self
            .seen
            .digests
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if digests.len() >= SEEN_KEYS_MAX {
            digests.clear();
        }
        digests.insert(presented.tag, presented.digest);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remembered_key_gives_the_digest_it_would_compute() {
        let hasher = KeyHasher::new(b"a secret of enough length");
        let key = generate().expect("randomness").plaintext;
        let first = hasher.presented(&key);
        assert!(!first.seen);
        assert_eq!(first.digest, hasher.digest(&key));
        // Not remembered until it authenticates.
        assert!(!hasher.presented(&key).seen);
        hasher.remember(&first);
        let again = hasher.clone().presented(&key);
        assert!(again.seen, "clones share what they remember");
        assert_eq!(again.digest, first.digest);
        let other = generate().expect("randomness").plaintext;
        let other_presented = hasher.presented(&other);
        assert!(!other_presented.seen);
        assert_eq!(other_presented.digest, hasher.digest(&other));
    }

    #[test]
    fn the_map_of_seen_keys_stays_bounded() {
        let hasher = KeyHasher::new(b"a secret of enough length");
        for n in 0..SEEN_KEYS_MAX + 10 {
            hasher.remember(&hasher.presented(&format!("sk-sluice-{n}")));
        }
        let held = hasher.seen.digests.read().expect("unpoisoned").len();
        assert!(held <= SEEN_KEYS_MAX, "{held} remembered");
    }
}
