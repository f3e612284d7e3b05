//! Bounds-checked big-endian reading and writing: every decoder goes through
//! [`Reader`], so a short or lying length field is an error, never a panic.

use super::DecodeError;

/// A cursor over a received byte slice.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// What is being decoded, for error messages.
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Reader { buf, pos: 0, what }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Truncated {
                what: self.what,
                need: n,
                have: self.remaining(),
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let out = &self.buf[self.pos..];
        self.pos = self.buf.len();
        out
    }

    pub(crate) fn skip(&mut self, n: usize) -> Result<(), DecodeError> {
        self.bytes(n).map(|_| ())
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Splits off a sub-structure whose total length (`len`, including the
    /// `already_read` bytes of its header) was announced in the data itself.
    pub(crate) fn sub(
        &mut self,
        len: usize,
        already_read: usize,
        what: &'static str,
    ) -> Result<Reader<'a>, DecodeError> {
        let body = len
            .checked_sub(already_read)
            .ok_or(DecodeError::BadLength { what, len })?;
        let bytes = self
            .bytes(body)
            .map_err(|_| DecodeError::BadLength { what, len })?;
        Ok(Reader::new(bytes, what))
    }
}

pub(crate) fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

pub(crate) fn pad_to_8(out: &mut Vec<u8>, start: usize) {
    while (out.len() - start) % 8 != 0 {
        out.push(0);
    }
}

/// Writes a 16-bit length placeholder at `at` once the structure is complete.
pub(crate) fn patch_len(out: &mut [u8], at: usize, len: usize) -> Result<(), super::EncodeError> {
    let v = u16::try_from(len).map_err(|_| super::EncodeError::TooLong(len))?;
    out[at..at + 2].copy_from_slice(&v.to_be_bytes());
    Ok(())
}

/// Rounds up to the next multiple of 8 (OpenFlow 1.3 §7.2.2 padding rule).
pub(crate) fn padded8(len: usize) -> usize {
    len.div_ceil(8) * 8
}
