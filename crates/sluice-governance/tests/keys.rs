//! Virtual keys: shape, uniqueness, the keyed hash, and redaction in `Debug`.

use std::collections::HashSet;

use sluice_governance::keys::{self, KEY_PREFIX, KeyHasher};

#[test]
fn generated_keys_are_well_formed() {
    let key = keys::generate().expect("rng");
    let random = key.plaintext.strip_prefix(KEY_PREFIX).expect("prefix");
    assert_eq!(random.len(), 43, "256 bits in unpadded base64url");
    assert!(
        random
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert!(keys::is_virtual_key(&key.plaintext));
    assert_eq!(key.display_prefix, format!("{KEY_PREFIX}{}…", &random[..4]));
    assert!(!keys::is_virtual_key("sk-proj-abc"));
    assert!(!keys::is_virtual_key(""));
}

#[test]
fn generated_keys_are_unique() {
    let mut seen = HashSet::new();
    for _ in 0..1000 {
        assert!(seen.insert(keys::generate().expect("rng").plaintext));
    }
}

#[test]
fn hash_is_deterministic_per_secret() {
    let a = KeyHasher::new(b"secret one");
    let b = KeyHasher::new(b"secret two");
    let key = "sk-sluice-abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    let h = a.hash(key);
    assert_eq!(h, a.hash(key));
    assert_eq!(h.len(), 64);
    assert!(
        h.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
    );
    assert_ne!(h, b.hash(key));
    assert_ne!(h, a.hash("sk-sluice-other"));
}

#[test]
fn hash_matches_rfc_4231_test_case_2() {
    // HMAC-SHA256 with key "Jefe" over "what do ya want for nothing?".
    let hasher = KeyHasher::new(b"Jefe");
    assert_eq!(
        hasher.hash("what do ya want for nothing?"),
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    );
}

#[test]
fn the_digest_is_the_stored_hash_in_bytes() {
    let hasher = KeyHasher::new(b"Jefe");
    let stored = hasher.hash("what do ya want for nothing?");
    let digest = hasher.digest("what do ya want for nothing?");
    assert_eq!(keys::digest_from_hex(&stored), Some(digest));
    assert_eq!(keys::digest_from_hex(&stored.to_uppercase()), Some(digest));
    for bad in ["", "5bdc", &stored[1..], &format!("{}zz", &stored[2..])] {
        assert_eq!(keys::digest_from_hex(bad), None, "{bad}");
    }
}

#[test]
fn debug_never_shows_the_plaintext() {
    let key = keys::generate().expect("rng");
    let shown = format!("{key:?} {key:#?}");
    assert!(!shown.contains(&key.plaintext));
    let random = &key.plaintext[KEY_PREFIX.len()..];
    assert!(!shown.contains(random));
    assert!(shown.contains(&key.display_prefix));
    let hasher = format!("{:?}", KeyHasher::new(b"top secret"));
    assert!(!hasher.contains("top secret"));
}

#[test]
fn random_hex_ids() {
    let id = keys::random_hex(6).expect("rng");
    assert_eq!(id.len(), 12);
    assert!(id.bytes().all(|c| c.is_ascii_hexdigit()));
}
