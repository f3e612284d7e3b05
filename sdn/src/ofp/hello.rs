//! HELLO with the version-bitmap element (OpenFlow 1.3.5 §7.5.1, §6.3.1).

use super::wire::{pad_to_8, put_u16, put_u32, Reader};
use super::{DecodeError, EncodeError, OFP_VERSION};

const OFPHET_VERSIONBITMAP: u16 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Bit n set: version n supported. `None`: the peer sent no bitmap, and
    /// only the header version counts (§6.3.1).
    pub versions: Option<u32>,
}

impl Hello {
    /// orbit speaks OpenFlow 1.3 only.
    pub fn of13() -> Hello {
        Hello {
            versions: Some(1 << OFP_VERSION),
        }
    }

    /// Whether a peer that sent this hello in a header of `header_version`
    /// can speak 1.3 with us (§6.3.1: the negotiated version is the highest
    /// common one; we only have 1.3).
    pub fn accepts_of13(&self, header_version: u8) -> bool {
        match self.versions {
            Some(bits) => bits & (1 << OFP_VERSION) != 0,
            None => header_version >= OFP_VERSION,
        }
    }

    pub(crate) fn encode_body(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        if let Some(bits) = self.versions {
            let start = out.len();
            put_u16(out, OFPHET_VERSIONBITMAP);
            put_u16(out, 8);
            put_u32(out, bits);
            pad_to_8(out, start);
        }
        Ok(())
    }

    pub(crate) fn decode_body(r: &mut Reader<'_>) -> Result<Hello, DecodeError> {
        let mut versions = None;
        // Elements are TLVs padded to 8 bytes; unknown ones are skipped (§7.5.1).
        while r.remaining() >= 4 {
            let typ = r.u16()?;
            let len = usize::from(r.u16()?);
            let mut e = r.sub(len, 4, "hello element")?;
            r.skip((super::wire::padded8(len) - len).min(r.remaining()))?;
            if typ == OFPHET_VERSIONBITMAP {
                let mut bits = 0u32;
                let mut first = true;
                while e.remaining() >= 4 {
                    let word = e.u32()?;
                    // Only the first 32-bit word covers versions 0..31.
                    if first {
                        bits = word;
                        first = false;
                    }
                }
                versions = Some(bits);
            }
        }
        Ok(Hello { versions })
    }
}
