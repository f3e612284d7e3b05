//! Sans-IO framing of a JSON-RPC stream (RFC 7047 §4: JSON objects back to
//! back, no length prefix): bytes in, one parsed message out at a time.
//!
//! A server is a local peer, but not one to trust with orbit's memory or
//! CPU. So the framer
//! - scans each byte once: it remembers where the previous scan stopped
//!   (string / escape state and bracket depth), and hands serde_json only a
//!   complete message, parsed once. Re-parsing the whole buffer on every
//!   read, as a plain streaming deserializer would, is O(n^2) for a message
//!   that arrives in many reads;
//! - holds at most [`MAX_MESSAGE`] bytes of one message (whitespace before
//!   it included, so an endless run of blanks is refused too) and at most
//!   [`MAX_DEPTH`] levels of nesting (what serde_json would refuse anyway,
//!   refused before the bytes pile up).

use orbit_core::ReadBuffer;
use serde_json::Value;

/// The largest message accepted, in bytes. orbit's biggest answer is a
/// select of two columns over every Port row (~100 bytes a port): 4 MiB
/// holds 40,000 ports.
pub const MAX_MESSAGE: usize = 4 << 20;

/// The deepest nesting accepted: serde_json's own recursion limit.
pub const MAX_DEPTH: usize = 128;

/// Why the stream cannot be read any further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("message larger than {limit} bytes (the limit)")]
    TooLarge { limit: usize },
    #[error("JSON nested deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("garbled JSON: {0}")]
    Garbled(String),
}

/// Where the scan of the current message stands.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// Before the message's opening brace (whitespace is skipped).
    #[default]
    Between,
    /// Inside the message, `depth` brackets open.
    Value { depth: usize },
    /// Inside a string, `depth` brackets open around it.
    Str { depth: usize, escaped: bool },
}

/// The framer: push what the socket gave, then take messages until
/// `Ok(None)`. After an error the stream is broken: drop the connection.
#[derive(Debug, Default)]
pub struct Framer {
    /// The current message's bytes (and whatever follows them).
    buf: ReadBuffer,
    /// How far the current message has been scanned.
    pos: usize,
    scan: Scan,
}

impl Framer {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.push(bytes);
    }

    /// Bytes held for messages not returned yet.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete message, `Ok(None)` if more bytes are needed.
    pub fn next_message(&mut self) -> Result<Option<Value>, FrameError> {
        while let Some(&b) = self.buf.unconsumed().get(self.pos) {
            if self.pos >= MAX_MESSAGE {
                return Err(FrameError::TooLarge { limit: MAX_MESSAGE });
            }
            self.pos += 1;
            self.scan = match self.scan {
                Scan::Between if b.is_ascii_whitespace() => Scan::Between,
                // RFC 7047 §4: every JSON-RPC message is an object.
                Scan::Between if b == b'{' => Scan::Value { depth: 1 },
                Scan::Between => {
                    return Err(FrameError::Garbled(format!(
                        "a message starts with byte {b:#04x}, not '{{'"
                    )))
                }
                Scan::Str { depth, escaped } => match b {
                    _ if escaped => Scan::Str {
                        depth,
                        escaped: false,
                    },
                    b'\\' => Scan::Str {
                        depth,
                        escaped: true,
                    },
                    b'"' => Scan::Value { depth },
                    _ => Scan::Str {
                        depth,
                        escaped: false,
                    },
                },
                Scan::Value { depth } => match b {
                    b'"' => Scan::Str {
                        depth,
                        escaped: false,
                    },
                    b'{' | b'[' if depth >= MAX_DEPTH => {
                        return Err(FrameError::TooDeep { limit: MAX_DEPTH })
                    }
                    b'{' | b'[' => Scan::Value { depth: depth + 1 },
                    b'}' | b']' if depth == 1 => return self.complete().map(Some),
                    b'}' | b']' => Scan::Value { depth: depth - 1 },
                    _ => Scan::Value { depth },
                },
            };
        }
        Ok(None)
    }

    /// The message's first `pos` bytes are whole (its brackets balance):
    /// parse it.
    fn complete(&mut self) -> Result<Value, FrameError> {
        let bytes = &self.buf.unconsumed()[..self.pos];
        let v = serde_json::from_slice(bytes).map_err(|e| FrameError::Garbled(e.to_string()))?;
        self.buf.consume(self.pos);
        self.pos = 0;
        self.scan = Scan::Between;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn all(f: &mut Framer) -> Result<Vec<Value>, FrameError> {
        let mut out = Vec::new();
        while let Some(v) = f.next_message()? {
            out.push(v);
        }
        Ok(out)
    }

    #[test]
    fn messages_split_anywhere_come_out_whole_and_once() {
        let text = br#" {"id":1,"result":["a}]\"{","b"]}
{"method":"echo","params":[],"id":"echo"}{"x":{"y":[[]]}}"#;
        let want = vec![
            json!({"id": 1, "result": ["a}]\"{", "b"]}),
            json!({"method": "echo", "params": [], "id": "echo"}),
            json!({"x": {"y": [[]]}}),
        ];
        for cut in 0..text.len() {
            let mut f = Framer::default();
            f.push(&text[..cut]);
            let mut got = all(&mut f).expect("valid");
            f.push(&text[cut..]);
            got.extend(all(&mut f).expect("valid"));
            assert_eq!(got, want, "cut at {cut}");
            assert_eq!(f.buffered(), 0);
        }
    }

    #[test]
    fn byte_by_byte_every_byte_is_scanned_once() {
        let big = json!({"id": 1, "result": "x".repeat(100_000)}).to_string();
        let mut f = Framer::default();
        for b in big.as_bytes() {
            f.push(std::slice::from_ref(b));
            if let Some(v) = f.next_message().expect("valid") {
                assert_eq!(v["id"], 1);
            }
            // The scan position never falls behind what was pushed.
            assert_eq!(f.pos, f.buf.len());
        }
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn limits_and_garbage_are_errors() {
        let mut f = Framer::default();
        f.push(b"[1]");
        assert!(matches!(f.next_message(), Err(FrameError::Garbled(_))));

        let mut f = Framer::default();
        f.push(b"{\"a\":1,}");
        assert!(matches!(f.next_message(), Err(FrameError::Garbled(_))));

        let mut f = Framer::default();
        f.push(b"{");
        f.push(&[b'['; MAX_DEPTH]);
        assert_eq!(
            f.next_message(),
            Err(FrameError::TooDeep { limit: MAX_DEPTH })
        );

        // A message of exactly the limit passes; one byte more does not,
        // however it arrives; whitespace counts.
        let pad = MAX_MESSAGE - br#"{"s":""}"#.len();
        let exact = format!(r#"{{"s":"{}"}}"#, "a".repeat(pad));
        let mut f = Framer::default();
        f.push(exact.as_bytes());
        assert!(f.next_message().expect("fits").is_some());
        let mut f = Framer::default();
        f.push(b" ");
        f.push(exact.as_bytes());
        assert_eq!(
            f.next_message(),
            Err(FrameError::TooLarge { limit: MAX_MESSAGE })
        );
        let mut f = Framer::default();
        f.push(&vec![b' '; MAX_MESSAGE + 1]);
        assert_eq!(
            f.next_message(),
            Err(FrameError::TooLarge { limit: MAX_MESSAGE })
        );
    }
}
