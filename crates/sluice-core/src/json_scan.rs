//! Scanning JSON text by hand, for the request path's few reads of a known field where a
//! parse of the whole document would cost more than the read: the usage of an answer, the
//! messages of a request.

/// The index of the first byte at or after `at` that is not JSON whitespace.
#[inline]
pub fn skip_space(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
        at += 1;
    }
    at
}

/// Where the JSON string whose contents start at `at` ends: the index of the first quote
/// no backslash escapes. Eight bytes at a time while eight remain (a call into `memchr`
/// costs more than a short key's whole length), then byte by byte.
#[inline]
pub fn string_end(bytes: &[u8], at: usize) -> Option<usize> {
    string_end_escaped(bytes, at).map(|(end, _)| end)
}

/// [`string_end`], and whether the string holds an escape (a backslash) on the way.
#[inline]
pub fn string_end_escaped(bytes: &[u8], mut at: usize) -> Option<(usize, bool)> {
    let mut escaped = false;
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // The high bit of each byte of `word` that equals `byte`, and perhaps of bytes after
    // the first such one (the borrow runs upwards); the lowest set bit is exact.
    let matching = |word: u64, byte: u8| {
        let diff = word ^ (ONES * u64::from(byte));
        diff.wrapping_sub(ONES) & !diff & HIGHS
    };
    loop {
        let found = loop {
            match bytes.get(at..at + 8) {
                Some(chunk) => {
                    let mut word = [0; 8];
                    word.copy_from_slice(chunk);
                    let word = u64::from_le_bytes(word);
                    let hits = matching(word, b'"') | matching(word, b'\\');
                    if hits != 0 {
                        break at + (hits.trailing_zeros() / 8) as usize;
                    }
                    at += 8;
                }
                None => {
                    let offset = bytes
                        .get(at..)?
                        .iter()
                        .position(|&byte| byte == b'"' || byte == b'\\')?;
                    break at + offset;
                }
            }
        };
        if bytes[found] == b'"' {
            return Some((found, escaped));
        }
        escaped = true;
        at = found + 2;
    }
}
