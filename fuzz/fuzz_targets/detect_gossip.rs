//! A gossip member fed authenticated garbage (a member holding the key gone
//! bad): foca's decoder and the state decoders (v1, deltas, digests, a
//! push-pull frame) behind a valid tag must never panic the member.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use orbit_core::config::HumanDuration;
use orbit_detect::FenceTimers;
use orbit_detect::auth::{AuthKey, PacketKind};
use orbit_detect::gossip::{GossipCore, GossipSettings, Input, Timers};

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let key = AuthKey::new(b"fuzzing key, sixteen+ bytes".to_vec());
    let settings = GossipSettings {
        local: "a".parse().unwrap(),
        listen: "127.0.0.1:7946".parse().unwrap(),
        generation: 1,
        peers: vec![
            ("b".parse().unwrap(), "127.0.0.2:7946".parse().unwrap()),
            ("w".parse().unwrap(), "127.0.0.3:7946".parse().unwrap()),
        ],
        timers: Timers {
            probe_interval: Duration::from_millis(100),
            probe_timeout: Duration::from_millis(30),
            indirect_probes: 3,
            suspect_after: Duration::from_millis(200),
            gossip_interval: Duration::from_millis(20),
            gossip_fanout: 4,
            max_transmissions: 10,
        },
        probed: Default::default(),
        quorum: 2,
        rng_seed: 7,
        fence: FenceTimers {
            fence_after: HumanDuration::from_millis(300),
            margin: HumanDuration::from_millis(100),
            bfd_detect: None,
            gossip_fence_after: HumanDuration::from_millis(300),
            gossip_margin: HumanDuration::from_millis(100),
        },
        dead_on_silence: true,
        external_ttl: orbit_detect::gossip::EXTERNAL_TTL,
    };
    let mut core = GossipCore::new(settings, key.clone());
    core.process(Duration::ZERO, Input::Start);
    let kind = match first % 5 {
        0 => PacketKind::Swim,
        1 => PacketKind::State,
        2 => PacketKind::Delta,
        3 => PacketKind::Digest,
        _ => PacketKind::PushPull,
    };
    let packet = key.seal(kind, body);
    let from = "127.0.0.2:7946".parse().unwrap();
    let input = if kind == PacketKind::PushPull {
        // As read from a TCP frame on an accepted connection.
        Input::PushPull { from, conn: Some(1), data: packet }
    } else {
        Input::Packet { from, data: packet }
    };
    core.process(Duration::from_millis(10), input);
});
