//! Server-sent events: a parser for the streams of the providers that use them (OpenAI,
//! Anthropic, Gemini with `alt=sse`, Cohere) and the writer of one event.

use bytes::BytesMut;

/// One event: its `event:` name (if any) and its `data:` lines joined by `\n`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    pub event: Option<String>,
    pub data: String,
}

/// Incremental parser: bytes in any split, events out when their blank line arrives.
#[derive(Debug, Default)]
pub struct SseParser {
    /// Bytes of a line not ended yet.
    buffer: Vec<u8>,
    pending: Pending,
}

/// The event being read: its fields so far.
#[derive(Debug, Default)]
struct Pending {
    event: Option<String>,
    data: String,
    has_data: bool,
}

impl SseParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; calls `on_event` for every completed event.
    pub fn feed(&mut self, bytes: &[u8], mut on_event: impl FnMut(SseEvent)) {
        self.buffer.extend_from_slice(bytes);
        let mut consumed = 0;
        while let Some(offset) = self.buffer[consumed..]
            .iter()
            .position(|&byte| byte == b'\n' || byte == b'\r')
        {
            let end = consumed + offset;
            let mut next = end + 1;
            if self.buffer[end] == b'\r' {
                if next == self.buffer.len() {
                    // A `\r` at the end may be the first half of `\r\n`: wait for more.
                    break;
                }
                if self.buffer[next] == b'\n' {
                    next += 1;
                }
            }
            if let Some(event) = self.pending.line(&self.buffer[consumed..end]) {
                on_event(event);
            }
            consumed = next;
        }
        self.buffer.drain(..consumed);
    }

    /// Feeds bytes; returns the events they complete, in order.
    pub fn events(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut events = Vec::new();
        self.feed(bytes, |event| events.push(event));
        events
    }

    /// True when bytes of an unfinished line or event are held.
    pub fn has_pending(&self) -> bool {
        !self.buffer.is_empty() || self.pending.has_data
    }

    /// The stream ended: an event with data but no blank line after it still counts.
    pub fn finish(&mut self) -> Option<SseEvent> {
        if !self.buffer.is_empty() {
            let line = std::mem::take(&mut self.buffer);
            if let Some(event) = self.pending.line(&line) {
                return Some(event);
            }
        }
        self.pending.line(b"")
    }
}

impl Pending {
    /// One line (without its end): a field, a comment, or the blank line that ends an
    /// event. Only the values kept are copied.
    fn line(&mut self, line: &[u8]) -> Option<SseEvent> {
        if line.is_empty() {
            if !self.has_data {
                self.event = None;
                return None;
            }
            self.has_data = false;
            return Some(SseEvent {
                event: self.event.take(),
                data: std::mem::take(&mut self.data),
            });
        }
        if line[0] == b':' {
            return None;
        }
        let (field, value) = match line.iter().position(|&byte| byte == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        match field {
            b"event" => self.event = Some(String::from_utf8_lossy(value).into_owned()),
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&String::from_utf8_lossy(value));
                self.has_data = true;
            }
            _ => {}
        }
        None
    }
}

/// Appends `event: <name>\ndata: <data>\n\n` (without the `event:` line when `name` is
/// `None`). `data` must hold no newline; JSON from serde_json never does.
pub fn write_event(out: &mut BytesMut, name: Option<&str>, data: &[u8]) {
    if let Some(name) = name {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\n");
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_in_pieces(input: &[u8], piece: usize) -> Vec<SseEvent> {
        let mut parser = SseParser::new();
        let mut events = Vec::new();
        for chunk in input.chunks(piece) {
            parser.feed(chunk, |event| events.push(event));
        }
        events.extend(parser.finish());
        events
    }

    #[test]
    fn events_survive_every_split() {
        let input = b"event: message_start\r\ndata: {\"a\":1}\r\n\r\n: ping\n\ndata: x\ndata: y\n\ndata: [DONE]\n\n";
        for piece in 1..input.len() {
            let events = parse_in_pieces(input, piece);
            assert_eq!(
                events,
                vec![
                    SseEvent {
                        event: Some("message_start".into()),
                        data: "{\"a\":1}".into()
                    },
                    SseEvent {
                        event: None,
                        data: "x\ny".into()
                    },
                    SseEvent {
                        event: None,
                        data: "[DONE]".into()
                    },
                ],
                "split every {piece} bytes"
            );
        }
    }

    #[test]
    fn an_unterminated_last_event_is_delivered_at_the_end() {
        assert_eq!(
            parse_in_pieces(b"data: last", 3),
            vec![SseEvent {
                event: None,
                data: "last".into()
            }]
        );
    }
}
