//! Sans-IO framing of Serf's RPC stream: bytes in, whole MessagePack values
//! out, each byte examined once.
//!
//! MessagePack has no length prefix for a whole value, and rmpv has no
//! resumable decoder: decoding the buffer from its start after every read
//! costs O(n^2) for a value that arrives in many reads (and allocated the
//! partial value every time). So the framer first measures the value
//! without decoding it: every element's header tells its own size and how
//! many elements it contains, so a count of elements still missing and the
//! offset of the first unmeasured one are all the state a resumed scan
//! needs. Only a whole value is handed to rmpv, once.
//!
//! A value is refused once it is known to exceed [`MAX_VALUE`] bytes (a
//! string header announcing more is refused at once, without waiting for
//! the bytes) or [`MAX_ELEMENTS`] elements (a decoded element takes ~32
//! bytes however small its encoding, so a byte limit alone would still let
//! 4 MiB of one-byte nils become 128 MiB of values).

use std::io::Cursor;

use orbit_core::ReadBuffer;
use rmpv::Value;

use super::SerfWireError;

/// A single RPC value larger than this is a broken stream: a member list
/// takes ~200 bytes a member, so this holds ~20,000 members.
pub const MAX_VALUE: usize = 4 * 1024 * 1024;

/// A single RPC value with more elements (every string, number, map and
/// array counts one) is a broken stream: a member takes ~30.
pub const MAX_ELEMENTS: usize = 512 * 1024;

/// Bytes in, whole values out. After an error the stream is broken: drop
/// the connection.
#[derive(Debug, Default)]
pub struct Framer {
    /// The current value's bytes (and whatever follows them).
    buf: ReadBuffer,
    /// The first byte of the current value not measured yet.
    pos: usize,
    /// Elements of the current value still to measure; 0 before it starts.
    missing: u64,
    /// Elements of the current value measured so far.
    elements: usize,
}

impl Framer {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.push(bytes);
    }

    /// Bytes held for values not returned yet.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete value, `Ok(None)` if more bytes are needed.
    pub fn next_value(&mut self) -> Result<Option<Value>, SerfWireError> {
        if self.missing == 0 {
            if self.buf.is_empty() {
                return Ok(None);
            }
            self.missing = 1;
            self.elements = 0;
        }
        while self.missing > 0 {
            let Some((len, children)) = element(&self.buf.unconsumed()[self.pos..]) else {
                return Ok(None);
            };
            let end = self.pos as u64 + len;
            if end > MAX_VALUE as u64 {
                return Err(SerfWireError::TooLarge);
            }
            if self.elements >= MAX_ELEMENTS {
                return Err(SerfWireError::TooManyElements);
            }
            // `end` is at most MAX_VALUE: it fits a usize.
            let end = end as usize;
            if end > self.buf.len() {
                return Ok(None); // the element's payload is not all here
            }
            self.pos = end;
            self.elements += 1;
            self.missing = self.missing - 1 + children;
        }
        let mut cur = Cursor::new(&self.buf.unconsumed()[..self.pos]);
        let v =
            rmpv::decode::read_value(&mut cur).map_err(|e| SerfWireError::Decode(e.to_string()))?;
        if cur.position() != self.pos as u64 {
            return Err(SerfWireError::Decode(
                "value length disagrees with its elements".into(),
            ));
        }
        self.buf.consume(self.pos);
        self.pos = 0;
        Ok(Some(v))
    }
}

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0, |n, &x| n << 8 | u64::from(x))
}

/// One element at the start of `b` (MessagePack spec, "Formats"): its own
/// size in bytes (header and payload, not its children) and how many
/// elements it contains. `None` until its header is complete.
fn element(b: &[u8]) -> Option<(u64, u64)> {
    let marker = *b.first()?;
    // (header bytes after the marker holding a length, fixed extra bytes,
    //  what the length counts: payload bytes, or children per entry)
    let sized = |n: usize, extra: u64| -> Option<u64> {
        let len = be(b.get(1..1 + n)?);
        Some(1 + n as u64 + extra + len)
    };
    let counted = |n: usize, per: u64| -> Option<(u64, u64)> {
        Some((1 + n as u64, be(b.get(1..1 + n)?) * per))
    };
    Some(match marker {
        // positive fixint, nil, never used (rmpv reads it as nil), bool,
        // negative fixint
        0x00..=0x7f | 0xc0..=0xc3 | 0xe0..=0xff => (1, 0),
        0x80..=0x8f => (1, u64::from(marker & 0x0f) * 2), // fixmap
        0x90..=0x9f => (1, u64::from(marker & 0x0f)),     // fixarray
        0xa0..=0xbf => (1 + u64::from(marker & 0x1f), 0), // fixstr
        0xc4 | 0xd9 => (sized(1, 0)?, 0),                 // bin8, str8
        0xc5 | 0xda => (sized(2, 0)?, 0),                 // bin16, str16
        0xc6 | 0xdb => (sized(4, 0)?, 0),                 // bin32, str32
        0xc7 => (sized(1, 1)?, 0),                        // ext8 (+ type)
        0xc8 => (sized(2, 1)?, 0),                        // ext16
        0xc9 => (sized(4, 1)?, 0),                        // ext32
        0xcc | 0xd0 => (2, 0),                            // uint8, int8
        0xcd | 0xd1 => (3, 0),                            // uint16, int16
        0xca | 0xce | 0xd2 => (5, 0),                     // float32, (u)int32
        0xcb | 0xcf | 0xd3 => (9, 0),                     // float64, (u)int64
        0xd4 => (3, 0),                                   // fixext1 (type + 1)
        0xd5 => (4, 0),                                   // fixext2
        0xd6 => (6, 0),                                   // fixext4
        0xd7 => (10, 0),                                  // fixext8
        0xd8 => (18, 0),                                  // fixext16
        0xdc => counted(2, 1)?,                           // array16
        0xdd => counted(4, 1)?,                           // array32
        0xde => counted(2, 2)?,                           // map16
        0xdf => counted(4, 2)?,                           // map32
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, v).expect("into a Vec");
        out
    }

    /// Every kind of element, nested.
    fn sample() -> Value {
        Value::Map(vec![
            (
                Value::from("Members"),
                Value::Array(vec![
                    Value::from(0),
                    Value::from(-1),
                    Value::from(200),
                    Value::from(-200),
                    Value::from(70_000),
                    Value::from(-70_000),
                    Value::from(u64::MAX),
                    Value::from(i64::MIN),
                    Value::from(1.5f32),
                    Value::from(2.5f64),
                    Value::Nil,
                    Value::Boolean(true),
                    Value::from("x".repeat(40)),
                    Value::from("y".repeat(300)),
                    Value::from("z".repeat(70_000)),
                    Value::Binary(vec![1; 3]),
                    Value::Binary(vec![2; 300]),
                    Value::Binary(vec![3; 70_000]),
                    Value::Ext(1, vec![1]),
                    Value::Ext(2, vec![1; 2]),
                    Value::Ext(3, vec![1; 4]),
                    Value::Ext(4, vec![1; 8]),
                    Value::Ext(5, vec![1; 16]),
                    Value::Ext(6, vec![1; 5]),
                    Value::Ext(7, vec![1; 300]),
                    Value::Ext(8, vec![1; 70_000]),
                    Value::Array((0..20).map(Value::from).collect()),
                    Value::Array((0..70_000).map(|_| Value::Nil).collect()),
                    Value::Map((0..20).map(|i| (Value::from(i), Value::Nil)).collect()),
                    Value::Map((0..70_000).map(|i| (Value::from(i), Value::Nil)).collect()),
                ]),
            ),
            (Value::from("Seq"), Value::from(7)),
        ])
    }

    #[test]
    fn every_element_kind_measures_as_rmpv_decodes_it_however_split() {
        let v = sample();
        let mut bytes = encode(&v);
        bytes.extend(encode(&Value::from(3)));
        let mut f = Framer::default();
        f.push(&bytes);
        assert_eq!(f.next_value(), Ok(Some(v.clone())));
        assert_eq!(f.next_value(), Ok(Some(Value::from(3))));
        assert_eq!(f.next_value(), Ok(None));
        assert_eq!(f.buffered(), 0);
        // Byte by byte, the scan never goes back: it ends where the bytes do.
        let mut f = Framer::default();
        let mut got = Vec::new();
        for b in &bytes {
            f.push(std::slice::from_ref(b));
            while let Some(v) = f.next_value().expect("valid") {
                got.push(v);
            }
            assert!(f.pos <= f.buf.len());
        }
        assert_eq!(got, vec![v, Value::from(3)]);
    }

    #[test]
    fn limits_are_known_before_the_bytes_arrive() {
        let mut f = Framer::default();
        f.push(&[0xdb, 0x00, 0x40, 0x00, 0x00]); // str32 of exactly 4 MiB
        assert_eq!(f.next_value(), Err(SerfWireError::TooLarge));
        let mut f = Framer::default();
        f.push(&[0xdd, 0xff, 0xff, 0xff, 0xff]);
        f.push(&vec![0xc0; MAX_ELEMENTS - 1]);
        assert_eq!(f.next_value(), Ok(None));
        f.push(&[0xc0]);
        assert_eq!(f.next_value(), Err(SerfWireError::TooManyElements));
        // One byte below the limit is fine.
        let mut fits = vec![0xdb];
        fits.extend_from_slice(&u32::try_from(MAX_VALUE - 5).expect("small").to_be_bytes());
        fits.resize(MAX_VALUE, b'a');
        let mut f = Framer::default();
        f.push(&fits);
        assert!(f.next_value().expect("fits").is_some());
    }
}
