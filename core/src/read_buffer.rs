//! [`ReadBuffer`]: the bytes a stream framer has been given and not yet
//! consumed. The sans-IO framers of the backends' and detectors' local
//! protocols (OVSDB JSON-RPC, Serf RPC) share it.

/// Bytes appended at the back as a socket delivers them, consumed from the
/// front as whole messages are taken. Consuming only moves an offset; the
/// consumed prefix is dropped once per `push`, so taking many small
/// messages out of one read never moves the rest of the buffer each time.
#[derive(Debug, Default)]
pub struct ReadBuffer {
    buf: Vec<u8>,
    /// Where the unconsumed bytes begin.
    start: usize,
}

impl ReadBuffer {
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The bytes not consumed yet.
    pub fn unconsumed(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// How many bytes are held unconsumed.
    pub fn len(&self) -> usize {
        self.buf.len() - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drops the first `n` unconsumed bytes (at most all of them).
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.buf.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumed_bytes_are_gone_and_the_rest_stays_in_order() {
        let mut b = ReadBuffer::default();
        b.push(b"abc");
        b.consume(1);
        assert_eq!(b.unconsumed(), b"bc");
        b.push(b"de");
        assert_eq!(b.unconsumed(), b"bcde");
        b.consume(10);
        assert!(b.is_empty());
        b.push(b"f");
        assert_eq!((b.unconsumed(), b.len()), (&b"f"[..], 1));
    }
}
