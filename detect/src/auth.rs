//! The authentication envelope around every gossip packet.
//!
//! foca trusts whatever it decodes: anything that can reach the gossip port
//! could add members or declare them down, and about one in five mutated
//! packets still decodes as a valid foca message. So every packet is sealed
//! with HMAC-SHA-256 (RFC 2104) under the shared `detect.key_file` key and
//! opened, with a constant-time tag comparison, before foca or the state
//! decoder sees a byte of it.
//!
//! Layout (all of it covered by the tag):
//!
//! ```text
//! +------+------+---------+------+---------------+-------------------+
//! | 'o'  | 'b'  | version | kind | body ...      | tag (16 bytes)    |
//! +------+------+---------+------+---------------+-------------------+
//! ```
//!
//! The tag is the HMAC output truncated to its leftmost 128 bits, which
//! RFC 2104 §5 allows (at least half the hash length).

use std::path::Path;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use orbit_core::{FormatVersions, UnsupportedVersion};

use crate::error::DetectError;

const MAGIC: [u8; 2] = *b"ob";
/// Envelope version this build sends; a new one on any incompatible change
/// of layout or body, introduced as `orbit_core::FormatVersions` describes
/// (read first, send a release later).
pub const ENVELOPE_VERSION: u8 = 1;
/// The envelope versions this build sends and reads (v1 test vectors:
/// `tests/vectors/v1/`).
pub const ENVELOPE_VERSIONS: FormatVersions = FormatVersions {
    format: "gossip envelope",
    writes: ENVELOPE_VERSION as u32,
    reads: 1..=1,
};
/// Bytes of the truncated HMAC tag.
pub const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 4;
/// Shortest key accepted from the key file.
pub const MIN_KEY_LEN: usize = 16;

/// What the body of a packet is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    /// A foca (SWIM) message.
    Swim,
    /// An orbit state message (`crate::wire::StateMsg`).
    State,
    /// Entries of one origin (`crate::wire_v2::DeltaMsg`).
    Delta,
    /// What the sender holds of every origin (`crate::wire_v2::DigestMsg`).
    Digest,
    /// One side of a TCP push-pull (`crate::wire_v2::PushPullMsg`), inside
    /// a length-prefixed frame (`crate::frame`). Builds before deltas drop
    /// the three kinds above as unknown (`BadKind`): nobody sends them to
    /// a member that did not say it reads them.
    PushPull,
}

impl PacketKind {
    fn code(self) -> u8 {
        match self {
            PacketKind::Swim => 1,
            PacketKind::State => 2,
            PacketKind::Delta => 3,
            PacketKind::Digest => 4,
            PacketKind::PushPull => 5,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(PacketKind::Swim),
            2 => Some(PacketKind::State),
            3 => Some(PacketKind::Delta),
            4 => Some(PacketKind::Digest),
            5 => Some(PacketKind::PushPull),
            _ => None,
        }
    }
}

/// Why a packet was dropped before decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("packet of {0} bytes is shorter than the envelope")]
    TooShort(usize),
    #[error("packet does not start with the orbit magic")]
    BadMagic,
    #[error(transparent)]
    BadVersion(UnsupportedVersion),
    #[error("unknown packet kind {0}")]
    BadKind(u8),
    #[error("bad authentication tag")]
    BadMac,
}

/// The shared gossip key.
#[derive(Clone)]
pub struct AuthKey(Vec<u8>);

impl std::fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthKey(..)")
    }
}

impl AuthKey {
    /// A key from raw bytes (tests, or a key obtained elsewhere).
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        AuthKey(bytes.into())
    }

    /// Reads the key file: its contents with surrounding whitespace trimmed,
    /// so `openssl rand -hex 32 > key` works as is.
    pub fn from_file(path: &Path) -> Result<Self, DetectError> {
        let raw = std::fs::read(path).map_err(|source| DetectError::KeyFile {
            path: path.to_owned(),
            source,
        })?;
        let trimmed = raw.trim_ascii();
        if trimmed.len() < MIN_KEY_LEN {
            return Err(DetectError::KeyTooShort {
                path: path.to_owned(),
                len: trimmed.len(),
                min: MIN_KEY_LEN,
            });
        }
        Ok(AuthKey(trimmed.to_vec()))
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length (RFC 2104 §2), so this cannot fail.
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).expect("HMAC takes any key length")
    }

    /// Wraps `body` into an authenticated packet.
    pub fn seal(&self, kind: PacketKind, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + body.len() + TAG_LEN);
        out.extend_from_slice(&MAGIC);
        out.push(ENVELOPE_VERSION);
        out.push(kind.code());
        out.extend_from_slice(body);
        let mut mac = self.mac();
        mac.update(&out);
        let tag = mac.finalize().into_bytes();
        out.extend_from_slice(&tag[..TAG_LEN]);
        out
    }

    /// Checks a packet and returns its kind and body.
    pub fn open<'a>(&self, packet: &'a [u8]) -> Result<(PacketKind, &'a [u8]), EnvelopeError> {
        if packet.len() < HEADER_LEN + TAG_LEN {
            return Err(EnvelopeError::TooShort(packet.len()));
        }
        if packet[..2] != MAGIC {
            return Err(EnvelopeError::BadMagic);
        }
        let (signed, tag) = packet.split_at(packet.len() - TAG_LEN);
        let mut mac = self.mac();
        mac.update(signed);
        // Verify before looking at version or kind: an unauthenticated
        // packet tells us nothing worth acting on.
        mac.verify_truncated_left(tag)
            .map_err(|_| EnvelopeError::BadMac)?;
        ENVELOPE_VERSIONS
            .check(signed[2].into())
            .map_err(EnvelopeError::BadVersion)?;
        let kind = PacketKind::from_code(signed[3]).ok_or(EnvelopeError::BadKind(signed[3]))?;
        Ok((kind, &signed[HEADER_LEN..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> AuthKey {
        AuthKey::new(b"0123456789abcdef0123".to_vec())
    }

    #[test]
    fn seal_then_open_round_trips() {
        let p = key().seal(PacketKind::State, b"hello");
        assert_eq!(key().open(&p), Ok((PacketKind::State, &b"hello"[..])));
    }

    #[test]
    fn every_single_bit_flip_is_rejected() {
        let p = key().seal(PacketKind::Swim, b"some swim message");
        for i in 0..p.len() * 8 {
            let mut q = p.clone();
            q[i / 8] ^= 1 << (i % 8);
            assert!(key().open(&q).is_err(), "flip of bit {i} accepted");
        }
    }

    #[test]
    fn wrong_key_and_truncation_are_rejected() {
        let p = key().seal(PacketKind::Swim, b"x");
        let other = AuthKey::new(b"another key of enough length".to_vec());
        assert_eq!(other.open(&p), Err(EnvelopeError::BadMac));
        assert_eq!(key().open(&p[..10]), Err(EnvelopeError::TooShort(10)));
        let mut bad = p.clone();
        bad[0] = b'x';
        assert_eq!(key().open(&bad), Err(EnvelopeError::BadMagic));
    }

    #[test]
    fn key_file_is_trimmed_and_must_be_long_enough() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good");
        std::fs::write(&good, "00112233445566778899aabbccddeeff\n").unwrap();
        let k = AuthKey::from_file(&good).unwrap();
        assert_eq!(k.0.len(), 32);
        let short = dir.path().join("short");
        std::fs::write(&short, "abc\n").unwrap();
        let err = AuthKey::from_file(&short).unwrap_err().to_string();
        assert!(err.contains("at least 16 bytes"), "{err}");
        let err = AuthKey::from_file(&dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing"), "{err}");
    }
}
