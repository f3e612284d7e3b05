//! The session's input path: a peer that completes the OPEN exchange, then
//! sends arbitrary bytes in arbitrary chunks, interleaved with timer ticks.
//! Must never panic, whatever the state.
#![no_main]

use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use orbit_bgp::fsm::{Input, Session, SessionConfig};
use orbit_bgp::wire::{self, Family, OpenParams};

fuzz_target!(|data: &[u8]| {
    let mut s = Session::new(SessionConfig {
        local_asn: 65001,
        peer_asn: 65002,
        router_id: [192, 0, 2, 1].into(),
        hold: Duration::from_secs(9),
        passive: false,
        families: vec![Family::Ipv4, Family::Ipv6],
        graceful_restart: Some(Duration::from_secs(120)),
        max_prefixes: 50,
        connect_retry: Duration::from_secs(1),
        connect_retry_max: Duration::from_secs(4),
    });
    let t0 = Instant::now();
    s.process(t0, Input::Start);
    s.process(t0, Input::Connected { conn: 1, outbound: true });
    // First byte picks whether the peer gets to Established first.
    if data.first().is_some_and(|b| b & 1 == 1) {
        let open = wire::encode_open(&OpenParams {
            asn: 65002,
            hold_secs: 30,
            router_id: [192, 0, 2, 2].into(),
            families: vec![Family::Ipv4],
            graceful_restart: None,
        })
        .expect("open");
        s.process(t0, Input::Data { conn: 1, bytes: &open });
        s.process(t0, Input::Data { conn: 1, bytes: &wire::encode_keepalive() });
    }
    let mut now = t0;
    let mut rest = data.get(1..).unwrap_or_default();
    while !rest.is_empty() {
        let n = usize::from(rest[0]) % 64 + 1;
        let chunk = &rest[1.min(rest.len())..(1 + n).min(rest.len())];
        s.process(now, Input::Data { conn: 1, bytes: chunk });
        now += Duration::from_millis(u64::from(rest[0]) * 10);
        s.process(now, Input::Tick);
        rest = &rest[(1 + n).min(rest.len())..];
    }
});
