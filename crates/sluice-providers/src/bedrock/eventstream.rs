//! The binary framing of `application/vnd.amazon.eventstream`, which Bedrock's streaming
//! APIs use instead of SSE.
//!
//! A message is: total length (u32 BE), headers length (u32 BE), CRC32 of those eight
//! bytes, the headers, the payload, and the CRC32 of everything before it. A header is a
//! name (u8 length + bytes), a type byte and a value whose size the type decides.

use crate::TranslateError;

const PRELUDE_LEN: usize = 12;
const MESSAGE_CRC_LEN: usize = 4;
/// The smallest message: a prelude and a message CRC, no headers, no payload.
const MIN_MESSAGE_LEN: usize = PRELUDE_LEN + MESSAGE_CRC_LEN;
/// The largest message the format allows (16 MiB of payload plus 128 KiB of headers);
/// a larger length is corruption, not a reason to buffer without end.
const MAX_MESSAGE_LEN: usize = 16 * 1024 * 1024 + 128 * 1024;

const TYPE_TRUE: u8 = 0;
const TYPE_FALSE: u8 = 1;
const TYPE_BYTE: u8 = 2;
const TYPE_SHORT: u8 = 3;
const TYPE_INTEGER: u8 = 4;
const TYPE_LONG: u8 = 5;
const TYPE_BYTES: u8 = 6;
const TYPE_STRING: u8 = 7;
const TYPE_TIMESTAMP: u8 = 8;
const TYPE_UUID: u8 = 9;

/// A header value. Bedrock only sends strings; the other types are read so that a
/// message carrying them still parses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderValue {
    Bool(bool),
    Byte(i8),
    Short(i16),
    Integer(i32),
    Long(i64),
    Bytes(Vec<u8>),
    String(String),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    Uuid([u8; 16]),
}

/// One decoded message.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    pub headers: Vec<(String, HeaderValue)>,
    pub payload: Vec<u8>,
}

impl Message {
    /// The value of a string header.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|(key, value)| match value {
            HeaderValue::String(text) if key == name => Some(text.as_str()),
            _ => None,
        })
    }
}

/// Writes one message with string headers.
pub fn encode_message(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut header_bytes = Vec::new();
    for (name, value) in headers {
        // Names are at most 255 bytes and values 32 KiB: ours are short constants and
        // event names, so the saturating casts never cut anything.
        let name = name.as_bytes();
        let name = name.get(..usize::from(u8::MAX)).unwrap_or(name);
        header_bytes.push(u8::try_from(name.len()).unwrap_or(u8::MAX));
        header_bytes.extend_from_slice(name);
        header_bytes.push(TYPE_STRING);
        let value = value.as_bytes();
        let value = value.get(..usize::from(u16::MAX)).unwrap_or(value);
        header_bytes
            .extend_from_slice(&u16::try_from(value.len()).unwrap_or(u16::MAX).to_be_bytes());
        header_bytes.extend_from_slice(value);
    }
    let total_len = PRELUDE_LEN + header_bytes.len() + payload.len() + MESSAGE_CRC_LEN;
    let mut message = Vec::with_capacity(total_len);
    message.extend_from_slice(&u32::try_from(total_len).unwrap_or(u32::MAX).to_be_bytes());
    message.extend_from_slice(
        &u32::try_from(header_bytes.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    let prelude_crc = crc32fast::hash(&message);
    message.extend_from_slice(&prelude_crc.to_be_bytes());
    message.extend_from_slice(&header_bytes);
    message.extend_from_slice(payload);
    let message_crc = crc32fast::hash(&message);
    message.extend_from_slice(&message_crc.to_be_bytes());
    message
}

/// Cuts a byte stream, in any split, into checked messages.
#[derive(Debug, Default)]
pub struct MessageDecoder {
    buffer: Vec<u8>,
}

impl MessageDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// True when bytes of an unfinished message are held.
    pub fn has_pending(&self) -> bool {
        !self.buffer.is_empty()
    }

    /// Feeds bytes and returns the messages they complete, in order.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Vec<Message>, TranslateError> {
        self.buffer.extend_from_slice(bytes);
        let mut messages = Vec::new();
        let mut consumed = 0;
        loop {
            let rest = self.buffer.get(consumed..).unwrap_or_default();
            let Some(prelude) = rest.get(..PRELUDE_LEN) else {
                break;
            };
            let total_len = be_u32(prelude, 0)? as usize;
            let headers_len = be_u32(prelude, 4)? as usize;
            let prelude_crc = be_u32(prelude, 8)?;
            if crc32fast::hash(prelude.get(..8).unwrap_or_default()) != prelude_crc {
                return Err(TranslateError::upstream(
                    "an event-stream message has a bad prelude checksum",
                ));
            }
            if !(MIN_MESSAGE_LEN..=MAX_MESSAGE_LEN).contains(&total_len)
                || headers_len > total_len - MIN_MESSAGE_LEN
            {
                return Err(TranslateError::upstream(format!(
                    "an event-stream message declares impossible lengths ({total_len} bytes, {headers_len} of headers)"
                )));
            }
            let Some(whole) = rest.get(..total_len) else {
                break;
            };
            let crc_at = total_len - MESSAGE_CRC_LEN;
            let message_crc = be_u32(whole, crc_at)?;
            if crc32fast::hash(whole.get(..crc_at).unwrap_or_default()) != message_crc {
                return Err(TranslateError::upstream(
                    "an event-stream message has a bad checksum",
                ));
            }
            let header_bytes = whole
                .get(PRELUDE_LEN..PRELUDE_LEN + headers_len)
                .unwrap_or_default();
            let payload = whole
                .get(PRELUDE_LEN + headers_len..crc_at)
                .unwrap_or_default();
            messages.push(Message {
                headers: parse_headers(header_bytes)?,
                payload: payload.to_vec(),
            });
            consumed += total_len;
        }
        self.buffer.drain(..consumed);
        Ok(messages)
    }
}

fn be_u32(bytes: &[u8], at: usize) -> Result<u32, TranslateError> {
    bytes
        .get(at..at + 4)
        .and_then(|slice| <[u8; 4]>::try_from(slice).ok())
        .map(u32::from_be_bytes)
        .ok_or_else(|| TranslateError::upstream("an event-stream message is truncated"))
}

/// Reads `len` bytes at `*at` and moves past them.
fn take<'a>(bytes: &'a [u8], at: &mut usize, len: usize) -> Result<&'a [u8], TranslateError> {
    let slice = bytes
        .get(*at..*at + len)
        .ok_or_else(|| TranslateError::upstream("an event-stream header is truncated"))?;
    *at += len;
    Ok(slice)
}

fn take_array<const N: usize>(bytes: &[u8], at: &mut usize) -> Result<[u8; N], TranslateError> {
    let slice = take(bytes, at, N)?;
    <[u8; N]>::try_from(slice)
        .map_err(|_| TranslateError::upstream("an event-stream header is truncated"))
}

fn parse_headers(bytes: &[u8]) -> Result<Vec<(String, HeaderValue)>, TranslateError> {
    let mut headers = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let [name_len] = take_array::<1>(bytes, &mut at)?;
        let name =
            String::from_utf8_lossy(take(bytes, &mut at, usize::from(name_len))?).into_owned();
        let [value_type] = take_array::<1>(bytes, &mut at)?;
        let value = match value_type {
            TYPE_TRUE => HeaderValue::Bool(true),
            TYPE_FALSE => HeaderValue::Bool(false),
            TYPE_BYTE => HeaderValue::Byte(i8::from_be_bytes(take_array(bytes, &mut at)?)),
            TYPE_SHORT => HeaderValue::Short(i16::from_be_bytes(take_array(bytes, &mut at)?)),
            TYPE_INTEGER => HeaderValue::Integer(i32::from_be_bytes(take_array(bytes, &mut at)?)),
            TYPE_LONG => HeaderValue::Long(i64::from_be_bytes(take_array(bytes, &mut at)?)),
            TYPE_TIMESTAMP => {
                HeaderValue::Timestamp(i64::from_be_bytes(take_array(bytes, &mut at)?))
            }
            TYPE_UUID => HeaderValue::Uuid(take_array(bytes, &mut at)?),
            TYPE_BYTES | TYPE_STRING => {
                let len = u16::from_be_bytes(take_array(bytes, &mut at)?);
                let value = take(bytes, &mut at, usize::from(len))?;
                if value_type == TYPE_BYTES {
                    HeaderValue::Bytes(value.to_vec())
                } else {
                    HeaderValue::String(String::from_utf8_lossy(value).into_owned())
                }
            }
            other => {
                return Err(TranslateError::upstream(format!(
                    "an event-stream header `{name}` has the unknown type {other}"
                )));
            }
        };
        headers.push((name, value));
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_message_matches_the_published_bytes() {
        // The `empty_message` vector of the AWS event-stream test suite.
        let expected = [
            0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x05, 0xc2, 0x48, 0xeb, 0x7d, 0x98,
            0xc8, 0xff,
        ];
        assert_eq!(encode_message(&[], b""), expected);
        let messages = MessageDecoder::new().feed(&expected).unwrap();
        assert_eq!(messages, vec![Message::default()]);
    }

    #[test]
    fn every_header_type_is_read() {
        let mut headers = Vec::new();
        headers.extend_from_slice(&[1, b'a', TYPE_TRUE]);
        headers.extend_from_slice(&[1, b'b', TYPE_INTEGER, 0, 0, 1, 0]);
        headers.extend_from_slice(&[1, b'c', TYPE_BYTES, 0, 2, 9, 8]);
        headers.extend_from_slice(&[1, b'd', TYPE_UUID]);
        headers.extend_from_slice(&[7; 16]);
        assert_eq!(
            parse_headers(&headers).unwrap(),
            vec![
                ("a".to_string(), HeaderValue::Bool(true)),
                ("b".to_string(), HeaderValue::Integer(256)),
                ("c".to_string(), HeaderValue::Bytes(vec![9, 8])),
                ("d".to_string(), HeaderValue::Uuid([7; 16])),
            ]
        );
        assert!(parse_headers(&[1, b'a', 42]).is_err());
        assert!(parse_headers(&[1, b'a', TYPE_LONG, 0]).is_err());
    }
}
