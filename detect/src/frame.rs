//! Framing of push-pull over TCP: a 4-byte big-endian length, then that
//! many bytes of one sealed packet (`auth.rs`, kind `PushPull`). Sans-IO:
//! [`Framer`] takes bytes as they arrive and yields the frame once it is
//! whole; the length is checked against the cap before anything is
//! buffered, so a peer (or anything else that connects) cannot make us
//! hold more than [`MAX_FRAME`] bytes.

/// The largest frame accepted (and sent): whole tables of every origin.
/// 10,000 services take ~1 MB per origin (docs/detect.md).
pub const MAX_FRAME: usize = 32 * 1024 * 1024;
const PREFIX: usize = 4;

/// Why a frame was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("push-pull frame of {0} bytes is larger than the limit of {MAX_FRAME} bytes")]
    TooLarge(usize),
    #[error("push-pull frame is empty")]
    Empty,
    #[error("connection closed after {got} of {want} bytes of a push-pull frame")]
    Truncated { got: usize, want: usize },
}

/// One frame around `packet`; `None` if it is larger than [`MAX_FRAME`].
pub fn encode(packet: &[u8]) -> Option<Vec<u8>> {
    if packet.len() > MAX_FRAME {
        return None;
    }
    let len = u32::try_from(packet.len()).ok()?;
    let mut out = Vec::with_capacity(PREFIX + packet.len());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(packet);
    Some(out)
}

/// Reassembles one frame from a byte stream.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
    want: Option<usize>,
}

impl Framer {
    /// Takes the next bytes read; the frame once it is whole. Bytes after
    /// the frame are an error's business of the caller (one frame per
    /// direction per connection): they are ignored.
    pub fn push(&mut self, mut bytes: &[u8]) -> Result<Option<Vec<u8>>, FrameError> {
        if self.want.is_none() {
            let need = PREFIX - self.buf.len();
            let take = need.min(bytes.len());
            self.buf.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.buf.len() < PREFIX {
                return Ok(None);
            }
            let mut prefix = [0u8; PREFIX];
            prefix.copy_from_slice(&self.buf);
            let len = u32::from_be_bytes(prefix) as usize;
            if len > MAX_FRAME {
                return Err(FrameError::TooLarge(len));
            }
            if len == 0 {
                return Err(FrameError::Empty);
            }
            self.want = Some(len);
            self.buf = Vec::with_capacity(len.min(1 << 20));
        }
        let want = self.want.unwrap_or(0);
        let take = (want - self.buf.len()).min(bytes.len());
        self.buf.extend_from_slice(&bytes[..take]);
        if self.buf.len() == want {
            return Ok(Some(std::mem::take(&mut self.buf)));
        }
        Ok(None)
    }

    /// The error for a stream that ended now.
    pub fn closed(&self) -> FrameError {
        match self.want {
            Some(want) => FrameError::Truncated {
                got: self.buf.len(),
                want,
            },
            None => FrameError::Truncated {
                got: self.buf.len(),
                want: PREFIX,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_reassembles_from_any_split() {
        let frame = encode(b"sealed packet").unwrap();
        for split in 0..frame.len() {
            let mut f = Framer::default();
            let first = f.push(&frame[..split]).unwrap();
            assert_eq!(first, None);
            assert_eq!(f.push(&frame[split..]).unwrap().unwrap(), b"sealed packet");
        }
        let mut f = Framer::default();
        let mut got = None;
        for b in &frame {
            got = got.or(f.push(std::slice::from_ref(b)).unwrap());
        }
        assert_eq!(got.unwrap(), b"sealed packet");
    }

    #[test]
    fn oversized_empty_and_truncated_frames_are_refused() {
        let mut f = Framer::default();
        let err = f.push(&u32::MAX.to_be_bytes()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "push-pull frame of 4294967295 bytes is larger than the limit of 33554432 bytes"
        );
        assert_eq!(
            Framer::default().push(&[0, 0, 0, 0]),
            Err(FrameError::Empty)
        );
        // An HTTP client on the gossip port: "GET " is 1.2 GB.
        assert!(matches!(
            Framer::default().push(b"GET / HTTP/1.1\r\n"),
            Err(FrameError::TooLarge(_))
        ));
        let mut f = Framer::default();
        f.push(&encode(b"abc").unwrap()[..5]).unwrap();
        assert_eq!(f.closed(), FrameError::Truncated { got: 1, want: 3 });
    }
}
