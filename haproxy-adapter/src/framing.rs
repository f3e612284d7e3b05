//! Reply framing of the interactive (`prompt`) runtime API, sans-IO.
//!
//! In interactive mode HAProxy ends every reply with the prompt `> `. An
//! empty reply (success of most write commands) is `\n> `; any other reply
//! is its text, an empty line, then the prompt: `TEXT\n\n> `. While a
//! payload (`<<`) is read, HAProxy echoes one `+ ` per payload line before
//! the reply. Bytes recorded from HAProxy 2.6 are in `tests/replies/`.
//!
//! Exactly one command is outstanding at a time, so a reply ends where the
//! received bytes end with the terminator; no reply of the commands used here
//! holds a line starting with `> ` that could be mistaken for it.

use crate::error::Error;

/// Replies larger than this are refused instead of exhausting memory; a map
/// of 1M entries prints about 50 MB.
pub(crate) const MAX_REPLY: usize = 256 * 1024 * 1024;

#[derive(Debug, Default)]
pub(crate) struct Framer {
    buf: Vec<u8>,
}

impl Framer {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Feeds received bytes; returns the reply body once it is complete.
    /// The body is `""` for an empty reply, otherwise the text with its
    /// final newline.
    pub(crate) fn push(&mut self, command: &str, data: &[u8]) -> Result<Option<String>, Error> {
        self.buf.extend_from_slice(data);
        if self.buf.len() > MAX_REPLY {
            self.buf.clear();
            return Err(Error::UnexpectedReply {
                command: command.to_owned(),
                reply: format!("reply longer than {MAX_REPLY} bytes"),
            });
        }
        let Some(body) = complete_body(&self.buf) else {
            return Ok(None);
        };
        let reply = match std::str::from_utf8(body) {
            Ok(s) => Ok(Some(s.to_owned())),
            Err(_) => Err(Error::UnexpectedReply {
                command: command.to_owned(),
                reply: quote(&String::from_utf8_lossy(body)),
            }),
        };
        self.buf.clear();
        reply
    }

    /// What was received so far, for the error when the peer closes early.
    pub(crate) fn pending(&self) -> String {
        quote(&String::from_utf8_lossy(&self.buf))
    }

    pub(crate) fn reset(&mut self) {
        self.buf.clear();
    }
}

fn complete_body(buf: &[u8]) -> Option<&[u8]> {
    let mut rest = buf;
    while let Some(r) = rest.strip_prefix(b"+ ") {
        rest = r;
    }
    if rest == b"\n> " {
        return Some(&[]);
    }
    if rest.ends_with(b"\n\n> ") {
        return Some(&rest[..rest.len() - 3]);
    }
    None
}

/// A reply shortened for an error message.
pub(crate) fn quote(reply: &str) -> String {
    const MAX: usize = 300;
    if reply.len() <= MAX {
        return reply.to_owned();
    }
    let mut end = MAX;
    while !reply.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &reply[..end], reply.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame_all(bytes: &[u8], chunk: usize) -> Option<String> {
        let mut f = Framer::new();
        let mut out = None;
        for c in bytes.chunks(chunk) {
            assert!(out.is_none(), "reply completed before its last byte");
            out = f.push("t", c).unwrap();
        }
        out
    }

    #[test]
    fn frames_empty_text_and_payload_replies_at_any_split() {
        let cases: [(&[u8], &str); 4] = [
            (b"\n> ", ""),
            (b"New version created: 1\n\n> ", "New version created: 1\n"),
            (b"+ + + \n> ", ""),
            (
                b"+ + + Version number in the future.\n\n> ",
                "Version number in the future.\n",
            ),
        ];
        for (bytes, body) in cases {
            for chunk in 1..=bytes.len() {
                assert_eq!(
                    frame_all(bytes, chunk).as_deref(),
                    Some(body),
                    "{bytes:?} {chunk}"
                );
            }
        }
    }

    #[test]
    fn incomplete_replies_wait() {
        let mut f = Framer::new();
        assert_eq!(f.push("t", b"0x1 k v\n").unwrap(), None);
        assert_eq!(f.push("t", b"\n").unwrap(), None);
        assert_eq!(f.push("t", b"> ").unwrap().as_deref(), Some("0x1 k v\n"));
    }

    #[test]
    fn non_utf8_is_an_error_naming_the_command() {
        let mut f = Framer::new();
        let e = f.push("show map /m", b"\xff\xfe\n\n> ").unwrap_err();
        assert!(e.to_string().contains("show map /m"), "{e}");
    }
}
