//! The orbit state message: what each member disseminates besides SWIM.
//!
//! SWIM (foca) tells every member who is alive *from its own point of view*.
//! The engine's quorum rule needs more: every member's verdicts about every
//! other member, each site's service health and each engine's shared state.
//! Each member owns one [`OriginState`] (its verdicts, its local health, its
//! engine's shared state), numbered by `(generation, seq)`; members push the
//! freshest copy of every origin they know to every peer, so an origin's
//! state also reaches members it cannot talk to directly (a cut A–B link with
//! a witness that sees both).
//!
//! Encoding: MessagePack with named fields (`rmp-serde`), inside the
//! authenticated envelope (`auth.rs`). `version` must lie in
//! [`STATE_VERSIONS`]`.reads` (a range, not one number: a rolling upgrade runs
//! two releases side by side, see `orbit_core::FormatVersions`); unknown fields
//! are ignored (serde's default, as no struct here denies them), so a later
//! release can add a field without a new version. The v1 test vectors in
//! `tests/vectors/v1/` are the contract.
//!
//! `commands` is the slot of a retired operator-command relay: it is still
//! sent, always empty, because builds that had the relay require the field;
//! what such a build puts in it is skipped unread ([`RetiredCommands`]).

use orbit_core::{FormatVersions, Liveness, ServiceId, SharedState, SiteId, UnsupportedVersion};
use serde::de::IgnoredAny;
use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Version of the state message body this build sends.
pub const STATE_VERSION: u8 = 1;
/// The state message versions this build sends and reads.
pub const STATE_VERSIONS: FormatVersions = FormatVersions {
    format: "state message",
    writes: STATE_VERSION as u32,
    reads: 1..=1,
};
/// Upper bounds, far above any sane deployment, that keep a forged-but-
/// authenticated or buggy message from costing much. Origins (and one
/// member's verdicts) bound the cluster: at 64, every digest and verdict of
/// a member of a 100-member cluster was refused as malformed, and no
/// member's Dead verdict reached any other (issue 21 item 6).
pub const MAX_ORIGINS: usize = 256;
/// Health entries of one origin in a v1 message: as many as services
/// (`wire_v2::MAX_SERVICES`). Builds before deltas refuse more than
/// [`MAX_ENTRIES_OLD`], so a v1 message for them stays under that.
pub const MAX_ENTRIES: usize = crate::wire_v2::MAX_SERVICES;
/// The per-origin entry cap of builds that read only v1.
pub const MAX_ENTRIES_OLD: usize = 256;

/// One member's own view, as it published it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginState {
    pub site: SiteId,
    /// The origin's identity generation; a restarted origin starts over.
    pub generation: u64,
    /// Bumped on every change; higher replaces lower within a generation.
    pub seq: u64,
    /// What the origin believes about each other member.
    pub verdicts: Vec<(SiteId, Liveness)>,
    /// The origin's local service health (after rise/fall).
    pub health: Vec<(ServiceId, bool)>,
    /// The retired command relay's slot (see the module doc).
    #[serde(default)]
    pub commands: RetiredCommands,
    /// The origin engine's shared state (placements with epochs, operator
    /// intent) that lets every engine converge; absent until published.
    #[serde(default)]
    pub shared: Option<SharedState>,
}

impl OriginState {
    /// Whether `self` is a newer publication than `other` of the same origin.
    pub fn newer_than(&self, other: &OriginState) -> bool {
        (self.generation, self.seq) > (other.generation, other.seq)
    }
}

/// The field of a retired feature: encodes as an empty list, decodes from
/// anything (unread).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetiredCommands;

impl Serialize for RetiredCommands {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_seq(Some(0))?.end()
    }
}

impl<'de> Deserialize<'de> for RetiredCommands {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(deserializer).map(|_| RetiredCommands)
    }
}

/// A state message: the sender's copy of every origin it knows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateMsg {
    pub version: u8,
    pub sender: SiteId,
    pub origins: Vec<OriginState>,
    /// The newest version of deltas and digests (`wire_v2.rs`) the sender
    /// reads; absent from builds that read only v1. A member sends deltas
    /// only to peers that said so here (or sent it v2 packets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reads_deltas: Option<u8>,
}

/// Why a state body was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("state message does not decode: {0}")]
    Decode(String),
    #[error(transparent)]
    Version(UnsupportedVersion),
    #[error("state message too large: {0}")]
    TooLarge(&'static str),
}

impl StateMsg {
    pub fn encode(&self) -> Vec<u8> {
        // Serializing plain owned data into a Vec cannot fail.
        rmp_serde::to_vec_named(self).expect("state message serializes")
    }

    pub fn decode(body: &[u8]) -> Result<StateMsg, WireError> {
        let msg: StateMsg =
            rmp_serde::from_slice(body).map_err(|e| WireError::Decode(e.to_string()))?;
        STATE_VERSIONS
            .check(msg.version.into())
            .map_err(WireError::Version)?;
        if msg.origins.len() > MAX_ORIGINS {
            return Err(WireError::TooLarge("origins"));
        }
        for o in &msg.origins {
            if o.verdicts.len() > MAX_ORIGINS || o.health.len() > MAX_ENTRIES {
                return Err(WireError::TooLarge("origin entries"));
            }
        }
        Ok(msg)
    }
}

/// The state message of builds that had the command relay: what such a
/// member sends, and what it must still be able to read.
#[cfg(test)]
pub(crate) mod relay_era {
    use super::*;
    use orbit_core::Command;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    pub struct Msg {
        pub version: u8,
        pub sender: SiteId,
        pub origins: Vec<Origin>,
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    pub struct Origin {
        pub site: SiteId,
        pub generation: u64,
        pub seq: u64,
        pub verdicts: Vec<(SiteId, Liveness)>,
        pub health: Vec<(ServiceId, bool)>,
        pub commands: Vec<(u64, Command)>,
        #[serde(default)]
        pub shared: Option<SharedState>,
    }

    impl Msg {
        /// `sender`'s copy of `origin`'s state (generation 9, seq 3): `a`
        /// dead, `web` healthy, and a switchover to `a` in the relay.
        pub fn with_command(sender: &str, origin: &str) -> Msg {
            Msg {
                version: STATE_VERSION,
                sender: sender.parse().unwrap(),
                origins: vec![Origin {
                    site: origin.parse().unwrap(),
                    generation: 9,
                    seq: 3,
                    verdicts: vec![("a".parse().unwrap(), Liveness::Dead)],
                    health: vec![("web".parse().unwrap(), true)],
                    commands: vec![(
                        1,
                        Command::Switchover {
                            service: None,
                            to: "a".parse().unwrap(),
                        },
                    )],
                    shared: Some(SharedState::default()),
                }],
            }
        }

        pub fn encode(&self) -> Vec<u8> {
            rmp_serde::to_vec_named(self).unwrap()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> StateMsg {
        StateMsg {
            version: STATE_VERSION,
            sender: "a".parse().unwrap(),
            origins: vec![OriginState {
                site: "b".parse().unwrap(),
                generation: 9,
                seq: 3,
                verdicts: vec![("a".parse().unwrap(), Liveness::Dead)],
                health: vec![("web".parse().unwrap(), true)],
                shared: Some(SharedState::default()),
                commands: RetiredCommands,
            }],
            reads_deltas: None,
        }
    }

    #[test]
    fn round_trips() {
        let m = sample();
        assert_eq!(StateMsg::decode(&m.encode()).unwrap(), m);
    }

    #[test]
    fn builds_with_the_command_relay_still_decode_our_messages() {
        let m = sample();
        let old: relay_era::Msg = rmp_serde::from_slice(&m.encode()).unwrap();
        assert!(old.origins[0].commands.is_empty());
        assert_eq!(old.origins[0].verdicts, m.origins[0].verdicts);
        assert_eq!(old.origins[0].shared, m.origins[0].shared);
    }

    #[test]
    fn commands_from_builds_with_the_relay_are_skipped() {
        let old = relay_era::Msg::with_command("a", "b");
        assert_eq!(StateMsg::decode(&old.encode()).unwrap(), sample());
    }

    #[test]
    fn rejects_other_versions_and_garbage() {
        let mut m = sample();
        m.version = 2;
        let err = StateMsg::decode(&m.encode()).unwrap_err().to_string();
        assert!(
            err.contains("version 2 is not supported") && err.contains("reads versions 1 to 1"),
            "{err}"
        );
        assert!(matches!(
            StateMsg::decode(b"\xff\x00garbage"),
            Err(WireError::Decode(_))
        ));
        let enc = sample().encode();
        for cut in 0..enc.len() {
            assert!(StateMsg::decode(&enc[..cut]).is_err());
        }
    }

    #[test]
    fn rejects_invalid_site_names() {
        #[derive(Serialize)]
        struct Loose {
            version: u8,
            sender: String,
            origins: Vec<()>,
        }
        let enc = rmp_serde::to_vec_named(&Loose {
            version: STATE_VERSION,
            sender: "Not A Site!".into(),
            origins: vec![],
        })
        .unwrap();
        let err = StateMsg::decode(&enc).unwrap_err().to_string();
        assert!(err.contains("lowercase"), "{err}");
    }
}
