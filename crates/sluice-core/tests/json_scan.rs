//! The hand scanner's reading of JSON strings, held against a byte-by-byte reading.

use sluice_core::json_scan::{skip_space, string_end, string_end_escaped};

#[test]
fn a_string_ends_at_its_first_unescaped_quote_wherever_the_words_split() {
    // The byte-by-byte reading of a JSON string, to compare with.
    fn reference(bytes: &[u8], mut at: usize) -> Option<(usize, bool)> {
        let mut escaped = false;
        loop {
            match *bytes.get(at)? {
                b'"' => return Some((at, escaped)),
                b'\\' => {
                    escaped = true;
                    at += 2;
                }
                _ => at += 1,
            }
        }
    }
    let pieces: [&[u8]; 6] = [b"a", b"\\\"", b"\\\\", b"\xc3\xa9", b"}", b"\x80"];
    // Every string of up to four pieces, after 0 to 9 bytes of padding, closed or not.
    let mut strings: Vec<Vec<u8>> = vec![Vec::new()];
    for _ in 0..4 {
        let longer: Vec<Vec<u8>> = strings
            .iter()
            .flat_map(|string| {
                pieces
                    .iter()
                    .map(move |piece| [string.as_slice(), piece].concat())
            })
            .collect();
        strings.extend(longer);
    }
    for string in &strings {
        for padding in 0..10 {
            for tail in [&b"\""[..], b"\",1", b""] {
                let bytes = [&b"xxxxxxxxxx"[..padding], string, tail].concat();
                assert_eq!(
                    string_end(&bytes, padding),
                    reference(&bytes, padding).map(|(end, _)| end),
                    "{:?}",
                    String::from_utf8_lossy(&bytes)
                );
                assert_eq!(
                    string_end_escaped(&bytes, padding),
                    reference(&bytes, padding),
                    "{:?}",
                    String::from_utf8_lossy(&bytes)
                );
            }
        }
    }
}

#[test]
fn whitespace_is_skipped_up_to_the_next_token() {
    assert_eq!(skip_space(b" \t\r\n:1", 0), 4);
    assert_eq!(skip_space(b":1", 0), 0);
    assert_eq!(skip_space(b"  ", 0), 2);
    assert_eq!(skip_space(b"", 3), 3);
}
