//! A BGP session the router shut down is visible at once (issue 14, "Done
//! when": peer disabled at the router -> backend degraded and `/ready` 503
//! within a hold time): orbitd and bird2 in two namespaces across a veth;
//! `birdc disable` sends Cease / Administrative Shutdown, after which
//! orbitd's status, metrics and `/ready` say so, with the reason in words;
//! `birdc enable` brings everything back.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;
use std::time::{Duration, Instant};

use orbit_core::api::{BgpPeerReport, StatusResponse};
use orbit_tests::bfd_lab::{BfdLab, LabConfig, BIRD_PROTOCOL, PREFIX};
use orbit_tests::wait_until;

const HOLD_SECS: u32 = 9;

fn status(lab: &BfdLab) -> StatusResponse {
    let (code, body) = lab.orbitd().get("/v1/status");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("bad status ({e}): {body}"))
}

fn peer(lab: &BfdLab) -> BgpPeerReport {
    let s = status(lab);
    assert_eq!(s.bgp_peers.len(), 1, "{:?}", s.bgp_peers);
    s.bgp_peers[0].clone()
}

fn ready(lab: &BfdLab) -> (u16, String) {
    lab.orbitd().get("/ready")
}

#[test]
fn a_session_shut_down_at_the_router_makes_the_backend_degraded_and_not_ready() {
    let lab = BfdLab::start(
        Path::new(env!("CARGO_BIN_EXE_orbitd")),
        LabConfig {
            bfd: None,
            hold_secs: HOLD_SECS,
            graceful_restart_secs: 0,
        },
    );
    let poll = |within: u64, what: &str, ok: &mut dyn FnMut() -> bool| {
        wait_until(
            Duration::from_secs(within),
            Duration::from_millis(20),
            what,
            &mut *ok,
        )
    };
    poll(30, "bird to learn orbit's route", &mut || {
        lab.bird.established(BIRD_PROTOCOL) && lab.bird.has_route(PREFIX)
    });
    poll(30, "/ready 200", &mut || ready(&lab).0 == 200);
    let p = peer(&lab);
    assert_eq!(p.address.to_string(), lab.bird_addr());
    assert_eq!(p.asn, 64500);
    assert_eq!(p.state, "established");
    assert_eq!(p.families, vec!["ipv4".to_owned()]);
    assert_eq!(p.prefixes_sent, 1, "{p:?}");
    assert!(p.end_of_rib_sent, "{p:?}");
    assert!(p.updates_sent >= 1, "{p:?}");
    let backend = status(&lab).backends;
    assert_eq!(backend[0].degraded, None, "{backend:?}");

    // The router shuts the session down: Cease / Administrative Shutdown.
    lab.bird.birdc(&format!("disable {BIRD_PROTOCOL}"));
    let disabled = Instant::now();
    poll(u64::from(HOLD_SECS), "/ready 503", &mut || {
        ready(&lab).0 == 503
    });
    let took = disabled.elapsed();
    let (_, body) = ready(&lab);
    assert!(
        body.contains(&format!("BGP peer {}", lab.bird_addr())) && body.contains("Cease"),
        "/ready names the peer and the NOTIFICATION: {body}"
    );
    let p = peer(&lab);
    assert_ne!(p.state, "established", "{p:?}");
    let n = p
        .last_notification
        .clone()
        .expect("the NOTIFICATION is recorded");
    assert_eq!(
        (n.direction.as_str(), n.code, n.subcode),
        ("received", 6, 2),
        "{n:?}"
    );
    assert!(
        n.text.starts_with("Cease/Administrative Shutdown"),
        "in words: {n:?}"
    );
    let s = status(&lab);
    let bgp = s
        .backends
        .iter()
        .find(|b| b.kind == orbit_core::BackendKind::Bgp)
        .expect("bgp backend");
    assert!(
        bgp.degraded.as_deref().is_some_and(|d| d.contains("Cease")),
        "{bgp:?}"
    );
    let metrics = lab.orbit_metrics();
    let label = format!("peer=\"{}\"", lab.bird_addr());
    for line in [
        format!("orbit_bgp_peer_up{{{label}}} 0"),
        format!("orbit_bgp_peer_state{{{label},state=\"established\"}} 0"),
        format!(
            "orbit_bgp_notifications_total{{{label},direction=\"received\",code=\"6\",subcode=\"2\"}} 1"
        ),
    ] {
        assert!(metrics.contains(&line), "{line} missing in\n{metrics}");
    }

    // Back: Established again, routes re-sent, ready again.
    lab.bird.birdc(&format!("enable {BIRD_PROTOCOL}"));
    poll(30, "bird to learn orbit's route again", &mut || {
        lab.bird.established(BIRD_PROTOCOL) && lab.bird.has_route(PREFIX)
    });
    poll(10, "/ready 200 again", &mut || ready(&lab).0 == 200);
    assert!(lab
        .orbit_metrics()
        .contains(&format!("orbit_bgp_peer_up{{{label}}} 1")));
    eprintln!("/ready went 503 {took:?} after the router disabled the session");
}
