//! The AWS event-stream framing (`application/vnd.amazon.eventstream`) Bedrock streams in.
//!
//! One message is: total length (u32 BE), headers length (u32 BE), the CRC32 of those 8
//! bytes, the headers, the payload, then the CRC32 of everything before it. A header is its
//! name's length (u8), the name, a value type (u8; 7 is a string), the value's length (u16
//! BE) and the value. The mock only writes string headers.

use bytes::Bytes;

/// The value type of a string header.
const STRING_VALUE: u8 = 7;

/// Encodes one message. Header names and values longer than their length fields allow are
/// cut to fit (the mock's own headers are short).
pub fn message(headers: &[(&str, &str)], payload: &[u8]) -> Bytes {
    let mut encoded_headers = Vec::new();
    for (name, value) in headers {
        let name = &name.as_bytes()[..name.len().min(usize::from(u8::MAX))];
        let value = &value.as_bytes()[..value.len().min(usize::from(u16::MAX))];
        encoded_headers.push(name.len() as u8);
        encoded_headers.extend_from_slice(name);
        encoded_headers.push(STRING_VALUE);
        encoded_headers.extend_from_slice(&(value.len() as u16).to_be_bytes());
        encoded_headers.extend_from_slice(value);
    }
    // Prelude (8) + prelude CRC (4) + headers + payload + message CRC (4).
    let total = 16 + encoded_headers.len() + payload.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&u32::try_from(total).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(
        &u32::try_from(encoded_headers.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&encoded_headers);
    out.extend_from_slice(payload);
    let message_crc = crc32fast::hash(&out);
    out.extend_from_slice(&message_crc.to_be_bytes());
    Bytes::from(out)
}

/// An `event` message: `:event-type`, `:content-type: application/json`, `:message-type`.
pub fn event(event_type: &str, payload: &[u8]) -> Bytes {
    message(
        &[
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        ],
        payload,
    )
}

/// An `exception` message, as a stream reports an error after its headers were sent.
pub fn exception(exception_type: &str, payload: &[u8]) -> Bytes {
    message(
        &[
            (":exception-type", exception_type),
            (":content-type", "application/json"),
            (":message-type", "exception"),
        ],
        payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_layout() {
        let frame = event("messageStop", b"{}");
        let total = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
        assert_eq!(total, frame.len());
        let headers_len = u32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]) as usize;
        assert_eq!(
            u32::from_be_bytes([frame[8], frame[9], frame[10], frame[11]]),
            crc32fast::hash(&frame[..8])
        );
        assert_eq!(&frame[12 + headers_len..total - 4], b"{}");
        assert_eq!(
            u32::from_be_bytes([
                frame[total - 4],
                frame[total - 3],
                frame[total - 2],
                frame[total - 1]
            ]),
            crc32fast::hash(&frame[..total - 4])
        );
        assert_eq!(frame[12], 11);
        assert_eq!(&frame[13..24], b":event-type");
        assert_eq!(frame[24], 7);
    }
}
