//! The BFD Control packet (RFC 5880 §4.1) and its authentication section
//! (§4.2–§4.4): a pure codec that never panics.
//!
//! `decode` performs the stateless half of the reception checks of §6.8.6
//! (version, length, detect mult, multipoint, discriminators); the checks that
//! need a session (authentication against the configured key, sequence
//! numbers) live in [`crate::auth`] and [`crate::session`].

use std::fmt;

use crate::auth::AuthSection;

/// Length of the mandatory section (§4.1).
pub const MANDATORY_LEN: usize = 24;
/// The only version this crate speaks (§4.1 "Version").
pub const VERSION: u8 = 1;

/// Session state as carried in the "Sta" field (§4.1).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum State {
    AdminDown,
    Down,
    Init,
    Up,
}

impl State {
    pub fn from_bits(bits: u8) -> State {
        match bits & 0x3 {
            0 => State::AdminDown,
            1 => State::Down,
            2 => State::Init,
            _ => State::Up,
        }
    }

    pub fn bits(self) -> u8 {
        match self {
            State::AdminDown => 0,
            State::Down => 1,
            State::Init => 2,
            State::Up => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::AdminDown => "AdminDown",
            State::Down => "Down",
            State::Init => "Init",
            State::Up => "Up",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Diagnostic codes (§4.1 "Diagnostic"). Unknown values are kept so that a
/// peer running a newer revision is still understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Diag {
    None,
    ControlDetectionTimeExpired,
    EchoFunctionFailed,
    NeighborSignaledSessionDown,
    ForwardingPlaneReset,
    PathDown,
    ConcatenatedPathDown,
    AdministrativelyDown,
    ReverseConcatenatedPathDown,
    Reserved(u8),
}

impl Diag {
    pub fn from_bits(bits: u8) -> Diag {
        match bits & 0x1f {
            0 => Diag::None,
            1 => Diag::ControlDetectionTimeExpired,
            2 => Diag::EchoFunctionFailed,
            3 => Diag::NeighborSignaledSessionDown,
            4 => Diag::ForwardingPlaneReset,
            5 => Diag::PathDown,
            6 => Diag::ConcatenatedPathDown,
            7 => Diag::AdministrativelyDown,
            8 => Diag::ReverseConcatenatedPathDown,
            other => Diag::Reserved(other),
        }
    }

    pub fn bits(self) -> u8 {
        match self {
            Diag::None => 0,
            Diag::ControlDetectionTimeExpired => 1,
            Diag::EchoFunctionFailed => 2,
            Diag::NeighborSignaledSessionDown => 3,
            Diag::ForwardingPlaneReset => 4,
            Diag::PathDown => 5,
            Diag::ConcatenatedPathDown => 6,
            Diag::AdministrativelyDown => 7,
            Diag::ReverseConcatenatedPathDown => 8,
            Diag::Reserved(v) => v & 0x1f,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Diag::None => "none",
            Diag::ControlDetectionTimeExpired => "control detection time expired",
            Diag::EchoFunctionFailed => "echo function failed",
            Diag::NeighborSignaledSessionDown => "neighbor signaled session down",
            Diag::ForwardingPlaneReset => "forwarding plane reset",
            Diag::PathDown => "path down",
            Diag::ConcatenatedPathDown => "concatenated path down",
            Diag::AdministrativelyDown => "administratively down",
            Diag::ReverseConcatenatedPathDown => "reverse concatenated path down",
            Diag::Reserved(_) => "reserved",
        }
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Diag::Reserved(v) => write!(f, "reserved ({v})"),
            other => f.write_str(other.as_str()),
        }
    }
}

/// A decoded Control packet. Intervals are in microseconds, as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPacket {
    pub diag: Diag,
    pub state: State,
    pub poll: bool,
    pub final_: bool,
    pub control_plane_independent: bool,
    pub demand: bool,
    pub multipoint: bool,
    pub detect_mult: u8,
    pub my_discriminator: u32,
    pub your_discriminator: u32,
    pub desired_min_tx_us: u32,
    pub required_min_rx_us: u32,
    pub required_min_echo_rx_us: u32,
    /// Present exactly when the A bit is set.
    pub auth: Option<AuthSection>,
}

/// Why a received packet was dropped (§6.8.6). Used as a counter label, so
/// the names are stable.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    thiserror::Error,
    serde::Serialize,
    serde::Deserialize,
)]
pub enum DropReason {
    #[error("packet shorter than the 24-byte mandatory section")]
    TooShort,
    #[error("version is not 1 (RFC 5880 §6.8.6)")]
    BadVersion,
    #[error("length field below the minimum (RFC 5880 §6.8.6)")]
    LengthTooSmall,
    #[error("length field exceeds the datagram (RFC 5880 §6.8.6)")]
    LengthExceedsPayload,
    #[error("detect multiplier is zero (RFC 5880 §6.8.6)")]
    ZeroDetectMult,
    #[error("multipoint bit set (RFC 5880 §6.8.6)")]
    Multipoint,
    #[error("my discriminator is zero (RFC 5880 §6.8.6)")]
    ZeroMyDiscriminator,
    #[error("your discriminator is zero but state is not Down/AdminDown (RFC 5880 §6.8.6)")]
    ZeroYourDiscriminatorNotDown,
    #[error("your discriminator matches no session (RFC 5880 §6.8.6)")]
    UnknownYourDiscriminator,
    #[error(
        "your discriminator is zero and my discriminator is not the peer's, on an Up session (RFC 5880 §6.3, §6.8.6)"
    )]
    ZeroYourDiscriminatorWhenUp,
    #[error("no session configured for this peer address")]
    UnknownPeer,
    #[error("authentication section malformed (RFC 5880 §4.2)")]
    BadAuthSection,
    #[error("A bit set but no authentication configured (RFC 5880 §6.8.6)")]
    UnexpectedAuth,
    #[error("A bit clear but authentication configured (RFC 5880 §6.8.6)")]
    MissingAuth,
    #[error("authentication type differs from the configured one (RFC 5880 §6.7)")]
    AuthTypeMismatch,
    #[error("authentication key id unknown (RFC 5880 §6.7)")]
    AuthKeyId,
    #[error("authentication digest or password mismatch (RFC 5880 §6.7)")]
    AuthFailed,
    #[error("authentication sequence number out of window (RFC 5880 §6.7.3/§6.7.4)")]
    AuthSequence,
    #[error("received TTL/hop limit below the required value (RFC 5881 §5, RFC 5883 §5)")]
    BadTtl,
    #[error("poll and final both set (RFC 5880 §6.8.6)")]
    PollAndFinal,
}

impl DropReason {
    /// Every reason, for exporting zero counters.
    pub const ALL: [DropReason; 20] = [
        DropReason::TooShort,
        DropReason::BadVersion,
        DropReason::LengthTooSmall,
        DropReason::LengthExceedsPayload,
        DropReason::ZeroDetectMult,
        DropReason::Multipoint,
        DropReason::ZeroMyDiscriminator,
        DropReason::ZeroYourDiscriminatorNotDown,
        DropReason::UnknownYourDiscriminator,
        DropReason::ZeroYourDiscriminatorWhenUp,
        DropReason::UnknownPeer,
        DropReason::BadAuthSection,
        DropReason::UnexpectedAuth,
        DropReason::MissingAuth,
        DropReason::AuthTypeMismatch,
        DropReason::AuthKeyId,
        DropReason::AuthFailed,
        DropReason::AuthSequence,
        DropReason::BadTtl,
        DropReason::PollAndFinal,
    ];

    /// A stable snake_case label for metrics.
    pub fn label(self) -> &'static str {
        match self {
            DropReason::TooShort => "too_short",
            DropReason::BadVersion => "bad_version",
            DropReason::LengthTooSmall => "length_too_small",
            DropReason::LengthExceedsPayload => "length_exceeds_payload",
            DropReason::ZeroDetectMult => "zero_detect_mult",
            DropReason::Multipoint => "multipoint",
            DropReason::ZeroMyDiscriminator => "zero_my_discriminator",
            DropReason::ZeroYourDiscriminatorNotDown => "zero_your_discriminator_not_down",
            DropReason::UnknownYourDiscriminator => "unknown_your_discriminator",
            DropReason::ZeroYourDiscriminatorWhenUp => "zero_your_discriminator_when_up",
            DropReason::UnknownPeer => "unknown_peer",
            DropReason::BadAuthSection => "bad_auth_section",
            DropReason::UnexpectedAuth => "unexpected_auth",
            DropReason::MissingAuth => "missing_auth",
            DropReason::AuthTypeMismatch => "auth_type_mismatch",
            DropReason::AuthKeyId => "auth_key_id",
            DropReason::AuthFailed => "auth_failed",
            DropReason::AuthSequence => "auth_sequence",
            DropReason::BadTtl => "bad_ttl",
            DropReason::PollAndFinal => "poll_and_final",
        }
    }
}

impl ControlPacket {
    /// Total encoded length (the "Length" field).
    pub fn encoded_len(&self) -> usize {
        MANDATORY_LEN + self.auth.as_ref().map_or(0, AuthSection::encoded_len)
    }

    /// Encode to wire bytes. The auth section is written as stored; signing
    /// (filling in the digest) is [`crate::auth::AuthConfig::sign`]'s job.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out);
        out
    }

    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let len = self.encoded_len();
        out.push((VERSION << 5) | self.diag.bits());
        let mut flags = self.state.bits() << 6;
        if self.poll {
            flags |= 0x20;
        }
        if self.final_ {
            flags |= 0x10;
        }
        if self.control_plane_independent {
            flags |= 0x08;
        }
        if self.auth.is_some() {
            flags |= 0x04;
        }
        if self.demand {
            flags |= 0x02;
        }
        if self.multipoint {
            flags |= 0x01;
        }
        out.push(flags);
        out.push(self.detect_mult);
        // An auth section is at most 28 bytes, so the total always fits.
        out.push(u8::try_from(len).unwrap_or(u8::MAX));
        out.extend_from_slice(&self.my_discriminator.to_be_bytes());
        out.extend_from_slice(&self.your_discriminator.to_be_bytes());
        out.extend_from_slice(&self.desired_min_tx_us.to_be_bytes());
        out.extend_from_slice(&self.required_min_rx_us.to_be_bytes());
        out.extend_from_slice(&self.required_min_echo_rx_us.to_be_bytes());
        if let Some(auth) = &self.auth {
            auth.encode_into(out);
        }
    }

    /// Decode and apply the stateless checks of §6.8.6, in the RFC's order.
    /// Bytes after "Length" (UDP padding) are ignored.
    pub fn decode(buf: &[u8]) -> Result<ControlPacket, DropReason> {
        if buf.len() < MANDATORY_LEN {
            return Err(DropReason::TooShort);
        }
        let version = buf[0] >> 5;
        if version != VERSION {
            return Err(DropReason::BadVersion);
        }
        let flags = buf[1];
        let auth_present = flags & 0x04 != 0;
        let length = usize::from(buf[3]);
        // "If the A bit is clear, less than 24; if set, less than 26."
        let min = if auth_present {
            MANDATORY_LEN + 2
        } else {
            MANDATORY_LEN
        };
        if length < min {
            return Err(DropReason::LengthTooSmall);
        }
        if length > buf.len() {
            return Err(DropReason::LengthExceedsPayload);
        }
        let detect_mult = buf[2];
        if detect_mult == 0 {
            return Err(DropReason::ZeroDetectMult);
        }
        let multipoint = flags & 0x01 != 0;
        if multipoint {
            return Err(DropReason::Multipoint);
        }
        let word = |at: usize| u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
        let my_discriminator = word(4);
        if my_discriminator == 0 {
            return Err(DropReason::ZeroMyDiscriminator);
        }
        let your_discriminator = word(8);
        let state = State::from_bits(flags >> 6);
        if your_discriminator == 0 && !matches!(state, State::Down | State::AdminDown) {
            return Err(DropReason::ZeroYourDiscriminatorNotDown);
        }
        let poll = flags & 0x20 != 0;
        let final_ = flags & 0x10 != 0;
        // §6.8.6 does not list it, but §6.5 forbids P and F together; a
        // packet with both cannot be answered meaningfully.
        if poll && final_ {
            return Err(DropReason::PollAndFinal);
        }
        let auth = if auth_present {
            let section = &buf[MANDATORY_LEN..length];
            let auth = AuthSection::decode(section)?;
            if auth.encoded_len() != section.len() {
                return Err(DropReason::BadAuthSection);
            }
            Some(auth)
        } else {
            // Bytes between 24 and Length without the A bit carry nothing
            // defined; they are ignored like UDP padding.
            None
        };
        Ok(ControlPacket {
            diag: Diag::from_bits(buf[0]),
            state,
            poll,
            final_,
            control_plane_independent: flags & 0x08 != 0,
            demand: flags & 0x02 != 0,
            multipoint,
            detect_mult,
            my_discriminator,
            your_discriminator,
            desired_min_tx_us: word(12),
            required_min_rx_us: word(16),
            required_min_echo_rx_us: word(20),
            auth,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AuthKind, AuthSection};

    fn sample() -> ControlPacket {
        ControlPacket {
            diag: Diag::None,
            state: State::Down,
            poll: false,
            final_: false,
            control_plane_independent: false,
            demand: false,
            multipoint: false,
            detect_mult: 3,
            my_discriminator: 0x0102_0304,
            your_discriminator: 0,
            desired_min_tx_us: 1_000_000,
            required_min_rx_us: 10_000,
            required_min_echo_rx_us: 0,
            auth: None,
        }
    }

    #[test]
    fn round_trip_mandatory() {
        let p = sample();
        let bytes = p.encode();
        assert_eq!(bytes.len(), 24);
        assert_eq!(bytes[0], 0x20);
        assert_eq!(bytes[1], 0x40);
        assert_eq!(bytes[3], 24);
        assert_eq!(ControlPacket::decode(&bytes), Ok(p));
    }

    /// Hand-assembled from the §4.1 figure: Up, 10 ms/10 ms × 3.
    #[test]
    fn decodes_hand_assembled_up_packet() {
        let bytes: [u8; 24] = [
            0x20, 0xc0, 0x03, 0x18, 0x00, 0x00, 0x00, 0x01, 0x6f, 0x72, 0x62, 0x01, 0x00, 0x00,
            0x27, 0x10, 0x00, 0x00, 0x27, 0x10, 0x00, 0x00, 0x00, 0x00,
        ];
        let p = ControlPacket::decode(&bytes).expect("valid");
        assert_eq!(p.state, State::Up);
        assert_eq!(p.diag, Diag::None);
        assert_eq!(p.detect_mult, 3);
        assert_eq!(p.my_discriminator, 1);
        assert_eq!(p.your_discriminator, 0x6f72_6201);
        assert_eq!(p.desired_min_tx_us, 10_000);
        assert_eq!(p.required_min_rx_us, 10_000);
        assert_eq!(p.encode(), bytes.to_vec());
    }

    #[test]
    fn rejects_each_rule_with_its_reason() {
        let good = sample().encode();
        assert_eq!(
            ControlPacket::decode(&good[..23]),
            Err(DropReason::TooShort)
        );

        let mut b = good.clone();
        b[0] = 0x40;
        assert_eq!(ControlPacket::decode(&b), Err(DropReason::BadVersion));

        let mut b = good.clone();
        b[3] = 23;
        assert_eq!(ControlPacket::decode(&b), Err(DropReason::LengthTooSmall));

        let mut b = good.clone();
        b[3] = 25;
        assert_eq!(
            ControlPacket::decode(&b),
            Err(DropReason::LengthExceedsPayload)
        );

        let mut b = good.clone();
        b[2] = 0;
        assert_eq!(ControlPacket::decode(&b), Err(DropReason::ZeroDetectMult));

        let mut b = good.clone();
        b[1] |= 0x01;
        assert_eq!(ControlPacket::decode(&b), Err(DropReason::Multipoint));

        let mut b = good.clone();
        b[4..8].copy_from_slice(&[0; 4]);
        assert_eq!(
            ControlPacket::decode(&b),
            Err(DropReason::ZeroMyDiscriminator)
        );

        let mut b = good.clone();
        b[1] = State::Up.bits() << 6;
        assert_eq!(
            ControlPacket::decode(&b),
            Err(DropReason::ZeroYourDiscriminatorNotDown)
        );
        b[8..12].copy_from_slice(&7u32.to_be_bytes());
        assert!(ControlPacket::decode(&b).is_ok());

        let mut b = good.clone();
        b[1] |= 0x30;
        assert_eq!(ControlPacket::decode(&b), Err(DropReason::PollAndFinal));

        // A bit with a length of 25: below the 26 minimum.
        let mut b = good.clone();
        b[1] |= 0x04;
        b[3] = 25;
        b.push(0);
        assert_eq!(ControlPacket::decode(&b), Err(DropReason::LengthTooSmall));
    }

    #[test]
    fn trailing_padding_is_ignored() {
        let mut b = sample().encode();
        b.extend_from_slice(&[0xff; 8]);
        assert_eq!(ControlPacket::decode(&b), Ok(sample()));
    }

    #[test]
    fn auth_section_round_trips() {
        let mut p = sample();
        p.auth = Some(AuthSection {
            kind: AuthKind::MeticulousKeyedSha1,
            key_id: 9,
            reserved: 0,
            sequence: 0xdead_beef,
            data: vec![0xaa; 20],
        });
        let bytes = p.encode();
        assert_eq!(bytes.len(), 52);
        assert_eq!(bytes[3], 52);
        assert_eq!(bytes[1] & 0x04, 0x04);
        assert_eq!(ControlPacket::decode(&bytes), Ok(p));
    }

    #[test]
    fn decode_never_panics_on_any_short_input() {
        for len in 0..64 {
            for fill in [0u8, 0x20, 0xff, 0x24] {
                let mut b = vec![fill; len];
                if len > 3 {
                    b[3] = u8::try_from(len).unwrap_or(0);
                }
                let _ = ControlPacket::decode(&b);
            }
        }
    }
}
