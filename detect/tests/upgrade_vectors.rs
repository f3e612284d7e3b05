//! Format version 1 of what members gossip, frozen: the contract that lets a
//! member of the next release interoperate with this one (docs/deploy.md,
//! "Upgrades"; `orbit_core::FormatVersions`).
//!
//! `tests/vectors/v1/` holds, as hex, packets as a v1 member sends them:
//! a SWIM announce and the feed that answers it (foca's postcard encoding of
//! `Member`), and a state message with every field set, each in its
//! authenticated envelope under [`KEY`]. The files are the contract, not the
//! code: they are never regenerated. `ORBIT_BLESS=1` writes a vector that
//! does not exist yet (a new file in a new version's directory) and never
//! overwrites one. A build that reads v2 adds `vectors/v2/` beside these;
//! the v1 files stay as long as v1 is read.
//!
//! `tests/vectors/v2/` holds the state messages of version 2 (`wire_v2.rs`):
//! a delta with an entry of every key kind, a digest and a push-pull side.
//! This build writes v2 only to members that said they read it (the
//! `reads_deltas` field of their v1 messages, or any v2 packet), v1 to the
//! others: `a_mixed_cluster_gets_v1_until_a_member_says_it_reads_v2`.
//!
//! `tests/vectors/v2/digest-lean.hex` is a lean heartbeat, which a later
//! build of v2 added: a digest with the field `reads_lean` and no
//! `verdicts`. Builds before it ignore `reads_lean`, so their digests
//! (`digest.hex`) keep their verdicts and get digests with verdicts back:
//! `lean_digests_go_only_to_members_that_said_they_read_them`.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use foca::{Codec, Header, Message, PostcardCodec};
use hmac::{Hmac, KeyInit, Mac};
use orbit_config::Config;
use orbit_core::{
    Command, ConfigFingerprint, Event, Intent, IntentCommand, Liveness, Placement, SharedState,
};
use orbit_detect::auth::{AuthKey, EnvelopeError, PacketKind, ENVELOPE_VERSIONS, TAG_LEN};
use orbit_detect::gossip::GossipTimer;
use orbit_detect::gossip::{DaemonState, GossipCore, GossipSettings, Input, Output};
use orbit_detect::identity::Member;
use orbit_detect::wire::{OriginState, RetiredCommands, StateMsg, WireError, STATE_VERSIONS};
use orbit_detect::wire_v2::{
    DeltaMsg, DigestMsg, Entry, Key, PushPullMsg, TableMsg, Value, Version, DELTA_VERSION,
};

/// The gossip key of the vectors (a test key, not a secret).
const KEY: &[u8] = b"orbit v1 test vector key - not a secret";
const GENERATION_A: u64 = 1_764_892_800_000;
const GENERATION_B: u64 = 1_764_892_800_123;

fn addr(site: &str) -> SocketAddr {
    match site {
        "a" => "192.0.2.10:7946",
        "b" => "192.0.2.74:7946",
        _ => "203.0.113.10:7946",
    }
    .parse()
    .unwrap()
}

/// The gossip core of `site` in the cluster of the example configs.
fn core(site: &str, generation: u64) -> GossipCore {
    let text = format!(
        r#"
[node]
site = "{site}"
[[site]]
id = "a"
gossip = "{a}"
[[site]]
id = "b"
gossip = "{b}"
[[site]]
id = "w"
gossip = "{w}"
witness = true
[detect]
profile = "metro-fast"
key_file = "/dev/null"
[[service]]
id = "web"
prefixes = ["198.51.100.10/32"]
sites = ["a", "b"]
"#,
        a = addr("a"),
        b = addr("b"),
        w = addr("w"),
    );
    let cfg = Config::parse_valid(&text, "vectors.toml").unwrap();
    let settings = GossipSettings::from_config(&cfg.detect, &cfg.cluster(), generation).unwrap();
    GossipCore::new(settings, AuthKey::new(KEY))
}

/// The committed vector `name`; with `ORBIT_BLESS=1` a missing one is
/// first written from `make` (an existing one is never rewritten).
fn vector(name: &str, make: impl FnOnce() -> Vec<u8>) -> Vec<u8> {
    vector_in("v1", name, make)
}

fn vector_in(version: &str, name: &str, make: impl FnOnce() -> Vec<u8>) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors")
        .join(version)
        .join(name);
    if !path.exists() && std::env::var_os("ORBIT_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("{}\n", hex(&make()))).unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "test vector {}: {e} (vectors are frozen; ORBIT_BLESS=1 writes only missing ones)",
            path.display()
        )
    });
    unhex(text.trim())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
        .collect()
}

fn sends(outputs: Vec<Output>, to: SocketAddr) -> Vec<Vec<u8>> {
    outputs
        .into_iter()
        .filter_map(|o| match o {
            Output::Send { to: t, data } if t == to => Some(data),
            _ => None,
        })
        .collect()
}

fn swim_header(packet: &[u8]) -> Header<Member> {
    let (kind, body) = AuthKey::new(KEY).open(packet).unwrap();
    assert_eq!(kind, PacketKind::Swim);
    PostcardCodec.decode_header(body).unwrap()
}

/// b's announce to a, as a v1 member sends it when it starts.
fn announce() -> Vec<u8> {
    vector("swim-announce.hex", || {
        let mut b = core("b", GENERATION_B);
        sends(b.process(Duration::ZERO, Input::Start), addr("a"))
            .into_iter()
            .find(|p| swim_header(p).message == Message::Announce)
            .unwrap()
    })
}

/// a's feed answering b's announce.
fn feed() -> Vec<u8> {
    vector("swim-feed.hex", || {
        let mut a = core("a", GENERATION_A);
        a.process(Duration::ZERO, Input::Start);
        let packet = Input::Packet {
            from: addr("b"),
            data: announce(),
        };
        sends(a.process(Duration::from_millis(1), packet), addr("b"))
            .into_iter()
            .find(|p| swim_header(p).message == Message::Feed)
            .unwrap()
    })
}

/// b's state with every field of version 1 set.
fn expected_state() -> StateMsg {
    let site = |s: &str| s.parse().unwrap();
    let service = |s: &str| s.parse().unwrap();
    let shared = SharedState {
        placements: BTreeMap::from([
            (
                service("web"),
                Placement {
                    active: Some(site("a")),
                    epoch: 3,
                    planned: false,
                    moving_to: None,
                },
            ),
            (
                service("db"),
                Placement {
                    active: Some(site("b")),
                    epoch: 5,
                    planned: true,
                    moving_to: None,
                },
            ),
        ]),
        intent: Intent {
            epoch: 2,
            origin: Some(site("a")),
            drained: BTreeSet::new(),
            pins: BTreeMap::from([(service("db"), site("b"))]),
            placed: BTreeMap::from([(service("web"), site("a"))]),
            last: Some(Box::new(IntentCommand {
                command: Command::Pin {
                    service: service("db"),
                    site: site("b"),
                },
                at: Some("2026-12-05T12:00:00Z".to_owned()),
            })),
            includes: BTreeMap::from([(site("a"), 2)]),
            observer: Some(false),
        },
        deaths: BTreeMap::from([(site("b"), 1)]),
        leaving: false,
        carried: BTreeMap::from([(service("db"), 5)]),
        config: Some(Box::new(ConfigFingerprint {
            cluster: "1".repeat(64),
            services: Some("2".repeat(64)),
        })),
        plan_runs: BTreeMap::new(),
        step_reports: BTreeMap::new(),
    };
    StateMsg {
        version: 1,
        sender: site("b"),
        origins: vec![OriginState {
            site: site("b"),
            generation: GENERATION_B,
            seq: 4,
            verdicts: vec![(site("a"), Liveness::Alive), (site("w"), Liveness::Dead)],
            health: vec![(service("web"), true), (service("db"), false)],
            commands: RetiredCommands,
            shared: Some(shared),
        }],
        reads_deltas: None,
    }
}

fn state() -> Vec<u8> {
    vector("state.hex", || {
        AuthKey::new(KEY).seal(PacketKind::State, &expected_state().encode())
    })
}

fn state_body(packet: &[u8]) -> Vec<u8> {
    let (kind, body) = AuthKey::new(KEY).open(packet).unwrap();
    assert_eq!(kind, PacketKind::State);
    body.to_vec()
}

/// `packet` with envelope version `version`, sealed again (as a member of
/// that version would).
fn with_envelope_version(packet: &[u8], version: u8) -> Vec<u8> {
    let mut signed = packet[..packet.len() - TAG_LEN].to_vec();
    signed[2] = version;
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(KEY).unwrap();
    mac.update(&signed);
    let tag = mac.finalize().into_bytes();
    signed.extend_from_slice(&tag[..TAG_LEN]);
    signed
}

/// The state body with `edit` applied to its MessagePack value.
fn edited_state(edit: impl FnOnce(&mut rmpv::Value)) -> Vec<u8> {
    let body = state_body(&state());
    let mut value = rmpv::decode::read_value(&mut &body[..]).unwrap();
    edit(&mut value);
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &value).unwrap();
    out
}

fn map_of(value: &mut rmpv::Value) -> &mut Vec<(rmpv::Value, rmpv::Value)> {
    match value {
        rmpv::Value::Map(entries) => entries,
        other => panic!("not a map: {other}"),
    }
}

fn field<'v>(value: &'v mut rmpv::Value, name: &str) -> &'v mut rmpv::Value {
    map_of(value)
        .iter_mut()
        .find(|(k, _)| k.as_str() == Some(name))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no field {name}"))
}

#[test]
fn v1_packets_open_and_decode_to_what_they_carry() {
    let header = swim_header(&announce());
    assert_eq!(
        header.src,
        Member::new(addr("b"), "b".parse().unwrap(), GENERATION_B)
    );
    assert_eq!(header.dst.addr, addr("a"));
    assert_eq!(header.message, Message::Announce);
    let header = swim_header(&feed());
    assert_eq!(
        header.src,
        Member::new(addr("a"), "a".parse().unwrap(), GENERATION_A)
    );
    assert_eq!(header.dst.site.as_str(), "b");
    assert_eq!(header.message, Message::Feed);
    assert_eq!(
        StateMsg::decode(&state_body(&state())).unwrap(),
        expected_state()
    );
}

#[test]
fn this_build_writes_v1_state_messages_byte_for_byte() {
    // True while this build writes version 1: a build that writes v2
    // checks its own v2 vectors here and keeps reading these.
    assert_eq!(STATE_VERSIONS.writes, 1);
    let sealed = AuthKey::new(KEY).seal(PacketKind::State, &expected_state().encode());
    assert_eq!(hex(&sealed), hex(&state()));
}

#[test]
fn a_member_of_this_build_takes_in_v1_packets() {
    let mut a = core("a", GENERATION_A + 1);
    a.process(Duration::ZERO, Input::Start);
    // SWIM: b's v1 announce is answered with a feed.
    let out = a.process(
        Duration::from_millis(1),
        Input::Packet {
            from: addr("b"),
            data: announce(),
        },
    );
    let replies = sends(out, addr("b"));
    assert!(
        replies
            .iter()
            .any(|p| swim_header(p).message == Message::Feed),
        "no feed for a v1 announce"
    );
    // The v1 feed answering b's announce is taken in by b (foca drops a
    // payload it cannot decode or that is not addressed to it: counted).
    let mut b = core("b", GENERATION_B);
    b.process(Duration::ZERO, Input::Start);
    b.process(
        Duration::from_millis(1),
        Input::Packet {
            from: addr("a"),
            data: feed(),
        },
    );
    let counters = b.counters();
    assert_eq!((counters.bad_envelope, counters.swim_rejected), (0, 0));
    let daemons = b.status().daemons;
    assert_eq!(
        daemons.get(&"a".parse().unwrap()),
        Some(&DaemonState::Alive),
        "{daemons:?}"
    );
    // State: b's verdicts, health and shared state reach a's engine.
    let events: Vec<Event> = a
        .process(
            Duration::from_millis(2),
            Input::Packet {
                from: addr("b"),
                data: state(),
            },
        )
        .into_iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(*e),
            _ => None,
        })
        .collect();
    let expected = expected_state().origins.remove(0).shared.unwrap();
    assert!(
        events.iter().any(|e| matches!(e,
            Event::Health { site, service, healthy: true }
                if site.as_str() == "b" && service.as_str() == "web")),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| matches!(e,
            Event::Peer { from, state } if from.as_str() == "b" && *state == expected)),
        "{events:?}"
    );
    let counters = a.counters();
    assert_eq!(
        (
            counters.bad_envelope,
            counters.bad_state,
            counters.swim_rejected
        ),
        (0, 0, 0)
    );
}

#[test]
fn fields_a_later_release_adds_are_ignored() {
    let body = edited_state(|msg| {
        let extra = || (rmpv::Value::from("added_later"), rmpv::Value::from(7));
        map_of(msg).push(extra());
        let origin = match field(msg, "origins") {
            rmpv::Value::Array(origins) => &mut origins[0],
            other => panic!("origins: {other}"),
        };
        map_of(origin).push(extra());
        map_of(field(origin, "shared")).push(extra());
        map_of(field(field(origin, "shared"), "intent")).push(extra());
    });
    assert_eq!(StateMsg::decode(&body).unwrap(), expected_state());
}

#[test]
fn a_future_version_is_refused_naming_both_versions() {
    let key = AuthKey::new(KEY);
    let future_envelope = u8::try_from(ENVELOPE_VERSIONS.reads.end() + 1).unwrap();
    let packet = with_envelope_version(&state(), future_envelope);
    let err = key.open(&packet).unwrap_err();
    assert!(matches!(err, EnvelopeError::BadVersion(_)));
    assert_eq!(
        err.to_string(),
        format!(
            "gossip envelope version {future_envelope} is not supported: this build reads \
             versions 1 to {}; the writer is newer than one release ahead: upgrade this member",
            ENVELOPE_VERSIONS.reads.end()
        )
    );
    let future_state = STATE_VERSIONS.reads.end() + 1;
    let body = edited_state(|msg| *field(msg, "version") = rmpv::Value::from(future_state));
    let err = StateMsg::decode(&body).unwrap_err();
    assert!(matches!(err, WireError::Version(_)));
    let text = err.to_string();
    assert!(
        text.starts_with(&format!(
            "state message version {future_state} is not supported: this build reads versions 1 to {}",
            STATE_VERSIONS.reads.end()
        )),
        "{text}"
    );
    // A member drops such packets and counts them; nothing reaches the engine.
    let mut a = core("a", GENERATION_A);
    a.process(Duration::ZERO, Input::Start);
    for data in [packet, key.seal(PacketKind::State, &body)] {
        let out = a.process(
            Duration::from_millis(1),
            Input::Packet {
                from: addr("b"),
                data,
            },
        );
        assert!(
            !out.iter().any(|o| matches!(o, Output::Event(_))),
            "{out:?}"
        );
    }
    let counters = a.counters();
    assert_eq!((counters.bad_envelope, counters.bad_state), (1, 1));
}

/// b's delta: one entry of every key kind, a tombstone, and its verdicts.
fn expected_delta() -> DeltaMsg {
    let site = |s: &str| s.parse().unwrap();
    let service = |s: &str| s.parse().unwrap();
    let shared = expected_state().origins.remove(0).shared.unwrap();
    let mut intent = shared.intent.clone();
    intent.pins.clear();
    intent.placed.clear();
    DeltaMsg {
        version: DELTA_VERSION,
        sender: site("b"),
        origin: site("b"),
        generation: GENERATION_B,
        head: 14,
        verdicts: vec![(site("a"), Liveness::Alive), (site("w"), Liveness::Dead)],
        since: 2,
        upto: 13,
        entries: vec![
            Entry(Key::Health(service("web")), 3, Some(Value::Health(true))),
            Entry(
                Key::Placement(service("db")),
                4,
                Some(Value::Placement(shared.placements[&service("db")].clone())),
            ),
            Entry(Key::Carried(service("db")), 5, Some(Value::Carried(5))),
            Entry(Key::Pin(service("db")), 6, Some(Value::Site(site("b")))),
            Entry(Key::Placed(service("web")), 7, Some(Value::Site(site("a")))),
            Entry(Key::Intent, 8, Some(Value::Intent(Box::new(intent)))),
            Entry(Key::Deaths, 9, Some(Value::Deaths(shared.deaths.clone()))),
            Entry(Key::Leaving, 10, Some(Value::Leaving(false))),
            Entry(
                Key::Config,
                11,
                Some(Value::Config(shared.config.clone().unwrap())),
            ),
            Entry(Key::Carried(service("web")), 13, None),
        ],
    }
}

fn expected_digest() -> DigestMsg {
    DigestMsg {
        version: DELTA_VERSION,
        sender: "b".parse().unwrap(),
        verdicts: Some(vec![("a".parse().unwrap(), Liveness::Alive)]),
        origins: vec![
            (
                "b".parse().unwrap(),
                Version {
                    generation: GENERATION_B,
                    head: 14,
                },
            ),
            (
                "a".parse().unwrap(),
                Version {
                    generation: GENERATION_A,
                    head: 0,
                },
            ),
        ],
        complete: true,
        reads_lean: false,
    }
}

fn expected_push_pull() -> PushPullMsg {
    let delta = expected_delta();
    PushPullMsg {
        version: DELTA_VERSION,
        sender: "b".parse().unwrap(),
        answer_wanted: true,
        digest: expected_digest().origins,
        tables: vec![TableMsg {
            origin: delta.origin,
            generation: delta.generation,
            head: delta.head,
            base: 0,
            verdicts: delta.verdicts,
            entries: delta.entries,
        }],
    }
}

fn delta_vector() -> Vec<u8> {
    vector_in("v2", "delta.hex", || {
        AuthKey::new(KEY).seal(PacketKind::Delta, &expected_delta().encode())
    })
}

fn digest_vector() -> Vec<u8> {
    vector_in("v2", "digest.hex", || {
        AuthKey::new(KEY).seal(PacketKind::Digest, &expected_digest().encode())
    })
}

fn push_pull_vector() -> Vec<u8> {
    vector_in("v2", "push-pull.hex", || {
        AuthKey::new(KEY).seal(PacketKind::PushPull, &expected_push_pull().encode())
    })
}

fn open_as(packet: &[u8], kind: PacketKind) -> Vec<u8> {
    let (k, body) = AuthKey::new(KEY).open(packet).unwrap();
    assert_eq!(k, kind);
    body.to_vec()
}

#[test]
fn v2_packets_decode_to_what_they_carry_and_this_build_writes_them_byte_for_byte() {
    let key = AuthKey::new(KEY);
    let delta = delta_vector();
    assert_eq!(
        DeltaMsg::decode(&open_as(&delta, PacketKind::Delta)).unwrap(),
        expected_delta()
    );
    assert_eq!(
        hex(&key.seal(PacketKind::Delta, &expected_delta().encode())),
        hex(&delta)
    );
    let digest = digest_vector();
    assert_eq!(
        DigestMsg::decode(&open_as(&digest, PacketKind::Digest)).unwrap(),
        expected_digest()
    );
    assert_eq!(
        hex(&key.seal(PacketKind::Digest, &expected_digest().encode())),
        hex(&digest)
    );
    let pp = push_pull_vector();
    assert_eq!(
        PushPullMsg::decode(&open_as(&pp, PacketKind::PushPull)).unwrap(),
        expected_push_pull()
    );
    assert_eq!(
        hex(&key.seal(PacketKind::PushPull, &expected_push_pull().encode())),
        hex(&pp)
    );
}

/// b's heartbeat as a build that reads lean digests sends it to another.
fn expected_lean_digest() -> DigestMsg {
    DigestMsg {
        version: DELTA_VERSION,
        sender: "b".parse().unwrap(),
        verdicts: None,
        origins: vec![(
            "b".parse().unwrap(),
            Version {
                generation: GENERATION_B,
                // One verdict change past `digest.hex`.
                head: 15,
            },
        )],
        complete: false,
        reads_lean: true,
    }
}

fn lean_digest_vector() -> Vec<u8> {
    vector_in("v2", "digest-lean.hex", || {
        AuthKey::new(KEY).seal(PacketKind::Digest, &expected_lean_digest().encode())
    })
}

#[test]
fn the_lean_digest_decodes_to_what_it_carries_and_this_build_writes_it_byte_for_byte() {
    let lean = lean_digest_vector();
    assert_eq!(
        DigestMsg::decode(&open_as(&lean, PacketKind::Digest)).unwrap(),
        expected_lean_digest()
    );
    assert_eq!(
        hex(&AuthKey::new(KEY).seal(PacketKind::Digest, &expected_lean_digest().encode())),
        hex(&lean)
    );
    // The digest of a build before lean digests: its verdicts, and no
    // word of reading lean ones.
    let old = DigestMsg::decode(&open_as(&digest_vector(), PacketKind::Digest)).unwrap();
    assert!(old.verdicts.is_some() && !old.reads_lean, "{old:?}");
}

/// The digests a's push round sends to `to`, decoded.
fn digests_to(outputs: &[Output], to: SocketAddr) -> Vec<DigestMsg> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { to: t, data } if *t == to => {
                let (kind, body) = AuthKey::new(KEY).open(data).unwrap();
                (kind == PacketKind::Digest).then(|| DigestMsg::decode(body).unwrap())
            }
            _ => None,
        })
        .collect()
}

/// A member of a build before lean digests (b's `digest.hex`) is handled
/// as before: its verdicts are taken in, and it gets a's verdicts in every
/// digest. Once b's digests say it reads lean ones (`digest-lean.hex`), a
/// sends it digests without verdicts, and, its copy of b being older than
/// the version b names, asks b for the delta: a digest listing b.
#[test]
fn lean_digests_go_only_to_members_that_said_they_read_them() {
    let mut a = core("a", GENERATION_A);
    a.process(Duration::ZERO, Input::Start);
    let events: Vec<Event> = a
        .process(
            Duration::from_millis(1),
            Input::Packet {
                from: addr("b"),
                data: digest_vector(),
            },
        )
        .into_iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(*e),
            _ => None,
        })
        .collect();
    assert!(
        events.iter().any(|e| matches!(e,
            Event::Verdict { observer, subject, liveness: Liveness::Alive }
                if observer.as_str() == "b" && subject.as_str() == "a")),
        "{events:?}"
    );
    let out = a.process(Duration::from_millis(2), Input::Timer(GossipTimer::Push));
    let digests = digests_to(&out, addr("b"));
    assert!(!digests.is_empty());
    for d in &digests {
        assert!(d.verdicts.is_some() && d.reads_lean, "{d:?}");
    }
    let out = a.process(
        Duration::from_millis(3),
        Input::Packet {
            from: addr("b"),
            data: lean_digest_vector(),
        },
    );
    let request = digests_to(&out, addr("b"));
    assert_eq!(request.len(), 1, "{request:?}");
    assert_eq!(request[0].origins[1].0.as_str(), "b");
    assert!(request[0].origins[1].1.head < 15);
    let out = a.process(Duration::from_millis(4), Input::Timer(GossipTimer::Push));
    let digests = digests_to(&out, addr("b"));
    assert!(!digests.is_empty());
    for d in &digests {
        assert!(d.verdicts.is_none() && d.reads_lean, "{d:?}");
    }
    let counters = a.counters();
    assert_eq!((counters.bad_envelope, counters.bad_state), (0, 0));
}

fn kinds_to(outputs: &[Output], to: SocketAddr) -> Vec<PacketKind> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send { to: t, data } if *t == to => {
                Some(AuthKey::new(KEY).open(data).unwrap().0)
            }
            _ => None,
        })
        .collect()
}

/// A member of this build among members of the previous release (which
/// read only v1, and drop unknown packet kinds): every one of them gets
/// v1 state messages, which say this build reads v2; once a member says
/// so too (w here, in its v1 message), it gets digests and deltas instead.
/// A v2 delta from b then reaches a's engine like a v1 state did.
#[test]
fn a_mixed_cluster_gets_v1_until_a_member_says_it_reads_v2() {
    let mut a = core("a", GENERATION_A + 1);
    let out = a.process(Duration::ZERO, Input::Start);
    for peer in ["b", "w"] {
        let kinds = kinds_to(&out, addr(peer));
        assert!(kinds.contains(&PacketKind::State), "{kinds:?}");
        assert!(
            !kinds
                .iter()
                .any(|k| matches!(k, PacketKind::Delta | PacketKind::Digest)),
            "{kinds:?}"
        );
    }
    let says = out
        .iter()
        .find_map(|o| match o {
            Output::Send { to, data } if *to == addr("b") => {
                let (kind, body) = AuthKey::new(KEY).open(data).unwrap();
                (kind == PacketKind::State).then(|| StateMsg::decode(body).unwrap())
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(says.reads_deltas, Some(DELTA_VERSION));
    // b is of the previous release (its v1 vector has no reads_deltas); w
    // says it reads v2.
    a.process(
        Duration::from_millis(1),
        Input::Packet {
            from: addr("b"),
            data: state(),
        },
    );
    let w_says = StateMsg {
        version: 1,
        sender: "w".parse().unwrap(),
        origins: vec![],
        reads_deltas: Some(DELTA_VERSION),
    };
    a.process(
        Duration::from_millis(2),
        Input::Packet {
            from: addr("w"),
            data: AuthKey::new(KEY).seal(PacketKind::State, &w_says.encode()),
        },
    );
    let out = a.process(Duration::from_millis(3), Input::Timer(GossipTimer::Push));
    assert_eq!(kinds_to(&out, addr("b")), vec![PacketKind::State]);
    assert_eq!(kinds_to(&out, addr("w")), vec![PacketKind::Digest]);
    // b upgraded: its v2 delta (a new generation, from seq 0) reaches a.
    let mut delta = expected_delta();
    delta.generation = GENERATION_B + 1;
    delta.since = 0;
    // The last chunk of a delta ends at the head (the vector is a middle
    // one: a copy that applied it holds the origin up to 13, not 14).
    delta.upto = delta.head;
    let events: Vec<Event> = a
        .process(
            Duration::from_millis(4),
            Input::Packet {
                from: addr("b"),
                data: AuthKey::new(KEY).seal(PacketKind::Delta, &delta.encode()),
            },
        )
        .into_iter()
        .filter_map(|o| match o {
            Output::Event(e) => Some(*e),
            _ => None,
        })
        .collect();
    let mut expected = expected_state().origins.remove(0).shared.unwrap();
    expected.placements.remove(&"web".parse().unwrap());
    assert!(
        events.iter().any(|e| matches!(e,
            Event::Peer { from, state } if from.as_str() == "b" && *state == expected)),
        "{events:?}"
    );
    let counters = a.counters();
    assert_eq!((counters.bad_envelope, counters.bad_state), (0, 0));
}
