//! State message version 2: an origin's state as versioned entries, sent as
//! deltas and digests over UDP and as whole tables over TCP (push-pull).
//!
//! Version 1 (`wire.rs`) puts every origin's whole state in every datagram,
//! which stops fitting one datagram at a few hundred services. Version 2
//! cuts an origin's state into entries, one per key (a service's health,
//! placement or `carried` epoch; the intent; the death counts; `leaving`;
//! the config fingerprint), each stamped with the origin's `seq` at which it
//! last changed (the intent's pins and switchover targets are entries per
//! service too). Every change of an entry takes the next `seq`, so "every
//! entry changed after `s`" is a contiguous, splittable range:
//!
//! - [`DeltaMsg`] (UDP, [`crate::auth::PacketKind::Delta`]): the entries of
//!   one origin whose seq lies in `(since, upto]`, and the origin's whole
//!   verdicts as of `head` (a few bytes per member: they travel in every
//!   delta, so the quorum path never waits behind a lost chunk of
//!   placements). A receiver that holds the origin up to `since` or later
//!   applies it and then holds it up to `upto`.
//! - [`DigestMsg`] (UDP, [`crate::auth::PacketKind::Digest`]): per origin
//!   `(generation, head)` the sender holds, plus the sender's own verdicts:
//!   the periodic anti-entropy round and the heartbeat to every peer. To a
//!   member that says it reads them (`reads_lean`), digests are *lean*:
//!   no verdicts, only the sender's version, which every verdict change
//!   bumps; a receiver whose copy is older asks for the delta.
//! - [`PushPullMsg`] (TCP, `frame.rs`): whole tables, for what deltas cannot
//!   carry (a restarted member, a gap below the origin's `base`, a gap of
//!   more than a few datagrams).
//!
//! A removed key (a service taken out of the config, a `carried` entry the
//! member no longer confirms) becomes a tombstone: an entry with no value,
//! stamped like any change, so deltas carry removals. Tombstones are kept
//! up to [`MAX_TOMBSTONES`]; dropping older ones raises the origin's `base`,
//! the oldest `since` a delta can be served from (below it: push-pull).
//!
//! Encoding: MessagePack, named fields for the messages (unknown fields are
//! ignored, as in v1), entries as compact arrays `[key, seq, value]`.

use std::collections::BTreeMap;

use orbit_core::{
    ConfigFingerprint, FormatVersions, Intent, Liveness, Placement, PlanRun, ServiceId, SiteId,
    StepReport, UnsupportedVersion,
};
use serde::{Deserialize, Serialize};

use crate::wire::{WireError, MAX_ORIGINS};

/// The version of the messages of this module.
pub const DELTA_VERSION: u8 = 2;
/// The versions of deltas, digests and push-pull tables this build reads
/// and writes (it writes them only to members that said they read them).
pub const DELTA_VERSIONS: FormatVersions = FormatVersions {
    format: "state delta",
    writes: DELTA_VERSION as u32,
    reads: 2..=2,
};
/// The most services one member's state may carry: the config check
/// refuses more (each service is up to three entries per origin).
pub const MAX_SERVICES: usize = 16_384;
/// Entries of one origin in one message (a whole table at most).
pub const MAX_TABLE_ENTRIES: usize = 3 * MAX_SERVICES + 64 + MAX_TOMBSTONES;
/// Tombstones an origin keeps before it drops the oldest and raises `base`.
pub const MAX_TOMBSTONES: usize = 4_096;
/// Body bytes a delta or digest datagram stays under, so that nothing
/// fragments on a 1,280-byte IPv6 path (with IP, UDP and the envelope).
pub const MAX_DATAGRAM_BODY: usize = 1_200;

/// One key of an origin's state.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Key {
    Health(ServiceId),
    Placement(ServiceId),
    Carried(ServiceId),
    /// An operator pin (`Intent::pins`): per service, so that an intent
    /// of 10,000 pins still travels in datagrams.
    Pin(ServiceId),
    /// A switchover target (`Intent::placed`), per service likewise.
    Placed(ServiceId),
    /// The rest of the intent (`pins` and `placed` empty).
    Intent,
    Deaths,
    Leaving,
    Config,
    /// A plan run the origin coordinates (`SharedState::plan_runs`). Only
    /// members whose config has plans publish it, and builds before plans
    /// refuse such a config: upgrade every member before adding a plan.
    PlanRun(ServiceId),
    /// What the origin did for a step of a peer's run (`step_reports`).
    StepReport(ServiceId),
}

/// The value of a key; the variant must match the key's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Value {
    Health(bool),
    Placement(Placement),
    Carried(u64),
    Site(SiteId),
    Intent(Box<Intent>),
    Deaths(BTreeMap<SiteId, u64>),
    Leaving(bool),
    Config(Box<ConfigFingerprint>),
    PlanRun(Box<PlanRun>),
    StepReport(StepReport),
}

impl Value {
    /// Whether this value belongs to `key`.
    pub fn fits(&self, key: &Key) -> bool {
        matches!(
            (key, self),
            (Key::Health(_), Value::Health(_))
                | (Key::Placement(_), Value::Placement(_))
                | (Key::Carried(_), Value::Carried(_))
                | (Key::Pin(_) | Key::Placed(_), Value::Site(_))
                | (Key::Intent, Value::Intent(_))
                | (Key::Deaths, Value::Deaths(_))
                | (Key::Leaving, Value::Leaving(_))
                | (Key::Config, Value::Config(_))
                | (Key::PlanRun(_), Value::PlanRun(_))
                | (Key::StepReport(_), Value::StepReport(_))
        )
    }
}

/// One entry: its key, the origin seq of its last change, its value
/// (`None`: removed, a tombstone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry(pub Key, pub u64, pub Option<Value>);

/// Entries of one origin changed in `(since, upto]`, with its verdicts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeltaMsg {
    pub version: u8,
    pub sender: SiteId,
    pub origin: SiteId,
    pub generation: u64,
    /// The origin's newest seq as the sender holds it: the version of
    /// `verdicts`, and where a receiver that applied every chunk stands.
    pub head: u64,
    pub verdicts: Vec<(SiteId, Liveness)>,
    pub since: u64,
    pub upto: u64,
    pub entries: Vec<Entry>,
}

/// What the sender holds of one origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub generation: u64,
    pub head: u64,
}

/// The anti-entropy digest: what the sender holds of every origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestMsg {
    pub version: u8,
    pub sender: SiteId,
    /// The sender's own verdicts as of its own head (in `origins`), or
    /// `None`: a lean digest, sent only to members that said they read
    /// one ([`Self::reads_lean`]). Its own version in `origins` stands for
    /// its verdicts (every verdict change takes the next seq); a receiver
    /// whose copy is older asks for the delta ([`Self::origins`]). On the
    /// wire the field is left out: builds before it refuse such a digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdicts: Option<Vec<(SiteId, Liveness)>>,
    /// What the sender holds, its own origin first. When not `complete`:
    /// its own (a heartbeat), followed by any origin it asks the receiver
    /// to repair (the receiver answers each listed origin it holds newer,
    /// its own included, with the missing deltas).
    pub origins: Vec<(SiteId, Version)>,
    /// `origins` lists every origin the sender holds (an origin missing
    /// from it is one the sender lacks); otherwise only some (see
    /// `origins`).
    #[serde(default)]
    pub complete: bool,
    /// The sender reads lean digests. Added after the first v2 release
    /// (whose decoders ignore it); absent, it reads only digests with
    /// verdicts.
    #[serde(default, skip_serializing_if = "is_false")]
    pub reads_lean: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One origin's whole table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableMsg {
    pub origin: SiteId,
    pub generation: u64,
    pub head: u64,
    pub base: u64,
    pub verdicts: Vec<(SiteId, Liveness)>,
    /// Live entries and the tombstones above `base`.
    pub entries: Vec<Entry>,
}

/// One side of a push-pull exchange (TCP).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushPullMsg {
    pub version: u8,
    pub sender: SiteId,
    /// Whether the receiver should answer with its own tables (the
    /// initiator's frame) or not (the answer).
    pub answer_wanted: bool,
    /// What the sender holds: the receiver answers with what is newer.
    pub digest: Vec<(SiteId, Version)>,
    pub tables: Vec<TableMsg>,
}

fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, WireError> {
    rmp_serde::from_slice(body).map_err(|e| WireError::Decode(e.to_string()))
}

fn check_version(v: u8) -> Result<(), WireError> {
    DELTA_VERSIONS
        .check(v.into())
        .map_err(|e: UnsupportedVersion| WireError::Version(e))
}

fn check_entries(entries: &[Entry], verdicts: usize) -> Result<(), WireError> {
    if entries.len() > MAX_TABLE_ENTRIES || verdicts > MAX_ORIGINS {
        return Err(WireError::TooLarge("origin entries"));
    }
    if entries
        .iter()
        .any(|Entry(k, _, v)| v.as_ref().is_some_and(|v| !v.fits(k)))
    {
        return Err(WireError::Decode(
            "an entry's value does not match its key".into(),
        ));
    }
    Ok(())
}

fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    // Serializing plain owned data into a Vec cannot fail.
    rmp_serde::to_vec_named(msg).expect("state message serializes")
}

impl DeltaMsg {
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    pub fn decode(body: &[u8]) -> Result<DeltaMsg, WireError> {
        let msg: DeltaMsg = decode(body)?;
        check_version(msg.version)?;
        check_entries(&msg.entries, msg.verdicts.len())?;
        if msg.since > msg.upto || msg.upto > msg.head {
            return Err(WireError::Decode(format!(
                "delta range ({}, {}] does not end at or below head {}",
                msg.since, msg.upto, msg.head
            )));
        }
        if msg
            .entries
            .iter()
            .any(|Entry(_, seq, _)| *seq <= msg.since || *seq > msg.upto)
        {
            return Err(WireError::Decode(
                "a delta entry lies outside its range".into(),
            ));
        }
        Ok(msg)
    }
}

impl DigestMsg {
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    pub fn decode(body: &[u8]) -> Result<DigestMsg, WireError> {
        let msg: DigestMsg = decode(body)?;
        check_version(msg.version)?;
        let verdicts = msg.verdicts.as_ref().map_or(0, Vec::len);
        if msg.origins.len() > MAX_ORIGINS || verdicts > MAX_ORIGINS {
            return Err(WireError::TooLarge("origins"));
        }
        Ok(msg)
    }
}

impl PushPullMsg {
    pub fn encode(&self) -> Vec<u8> {
        encode(self)
    }

    pub fn decode(body: &[u8]) -> Result<PushPullMsg, WireError> {
        let msg: PushPullMsg = decode(body)?;
        check_version(msg.version)?;
        if msg.tables.len() > MAX_ORIGINS || msg.digest.len() > MAX_ORIGINS {
            return Err(WireError::TooLarge("origins"));
        }
        for t in &msg.tables {
            check_entries(&t.entries, t.verdicts.len())?;
            if t.base > t.head || t.entries.iter().any(|Entry(_, seq, _)| *seq > t.head) {
                return Err(WireError::Decode(format!(
                    "table of {} has entries or a base above its head",
                    t.origin
                )));
            }
        }
        Ok(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta() -> DeltaMsg {
        DeltaMsg {
            version: DELTA_VERSION,
            sender: "a".parse().unwrap(),
            origin: "b".parse().unwrap(),
            generation: 7,
            head: 12,
            verdicts: vec![("a".parse().unwrap(), Liveness::Alive)],
            since: 9,
            upto: 11,
            entries: vec![
                Entry(
                    Key::Health("web".parse().unwrap()),
                    10,
                    Some(Value::Health(true)),
                ),
                Entry(Key::Carried("db".parse().unwrap()), 11, None),
            ],
        }
    }

    #[test]
    fn delta_round_trips_and_checks_its_range() {
        let d = delta();
        assert_eq!(DeltaMsg::decode(&d.encode()).unwrap(), d);
        let mut outside = delta();
        outside.entries[0].1 = 9;
        assert!(DeltaMsg::decode(&outside.encode()).is_err());
        let mut past_head = delta();
        past_head.upto = 13;
        assert!(DeltaMsg::decode(&past_head.encode()).is_err());
        let mut mismatched = delta();
        mismatched.entries[0].2 = Some(Value::Carried(3));
        let err = DeltaMsg::decode(&mismatched.encode()).unwrap_err();
        assert!(err.to_string().contains("does not match"), "{err}");
        let mut v3 = delta();
        v3.version = 3;
        let err = DeltaMsg::decode(&v3.encode()).unwrap_err().to_string();
        assert!(
            err.contains("state delta version 3 is not supported"),
            "{err}"
        );
        let enc = delta().encode();
        for cut in 0..enc.len() {
            assert!(DeltaMsg::decode(&enc[..cut]).is_err());
        }
    }

    #[test]
    fn digest_and_push_pull_round_trip() {
        let digest = DigestMsg {
            version: DELTA_VERSION,
            sender: "a".parse().unwrap(),
            verdicts: Some(vec![("b".parse().unwrap(), Liveness::Dead)]),
            origins: vec![(
                "a".parse().unwrap(),
                Version {
                    generation: 1,
                    head: 4,
                },
            )],
            complete: true,
            reads_lean: true,
        };
        assert_eq!(DigestMsg::decode(&digest.encode()).unwrap(), digest);
        let lean = DigestMsg {
            verdicts: None,
            ..digest.clone()
        };
        assert_eq!(DigestMsg::decode(&lean.encode()).unwrap(), lean);
        // No verdicts is not an empty list of them.
        let none_yet = DigestMsg {
            verdicts: Some(vec![]),
            ..digest.clone()
        };
        assert_eq!(DigestMsg::decode(&none_yet.encode()).unwrap(), none_yet);
        let pp = PushPullMsg {
            version: DELTA_VERSION,
            sender: "a".parse().unwrap(),
            answer_wanted: true,
            digest: digest.origins.clone(),
            tables: vec![TableMsg {
                origin: "a".parse().unwrap(),
                generation: 1,
                head: 4,
                base: 0,
                verdicts: vec![],
                entries: vec![Entry(Key::Leaving, 4, Some(Value::Leaving(true)))],
            }],
        };
        assert_eq!(PushPullMsg::decode(&pp.encode()).unwrap(), pp);
        let mut above = pp.clone();
        above.tables[0].entries[0].1 = 5;
        assert!(PushPullMsg::decode(&above.encode()).is_err());
    }
}
