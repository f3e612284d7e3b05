//! orbitd's BFD against bird2's, on a real BGP session (issue #9, Tests,
//! bullet 2): orbitd (BGP backend, `[[bgp.peer]] bfd = true`, 10 ms × 3)
//! and bird2 (`protocol bfd` + `bfd on`) in two namespaces across a veth,
//! with a 90 s hold time so that only BFD can explain a fast drop.
//!
//! Cutting the link (nftables drop of everything on bird's veth) takes BFD
//! Down on both sides and bird drops orbit's route long before the hold
//! time; restoring it brings BFD Up on both sides and the route back. Then
//! the same with `ip link set down` on bird's side.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;
use std::time::{Duration, Instant};

use orbit_core::api::{BfdHop, BfdState};
use orbit_tests::bfd_lab::{BfdLab, LabConfig, BIRD_PROTOCOL, PREFIX};
use orbit_tests::wait_until;

const HOLD_SECS: u32 = 90;

fn poll(within: Duration, what: &str, ok: impl FnMut() -> bool) {
    wait_until(within, Duration::from_millis(10), what, ok);
}

/// orbitd's single-hop session toward bird, in `state`.
fn orbit_in(lab: &BfdLab, state: BfdState) -> bool {
    let sessions = lab.orbit_bfd();
    sessions.len() == 1 && sessions[0].state == state
}

/// Everything up: BFD on both sides, BGP, the route in bird's table.
fn wait_all_up(lab: &BfdLab, within: Duration) {
    poll(within, "bird's BFD session Up", || {
        lab.bird.bfd_state(&lab.orbit_addr()).as_deref() == Some("Up")
    });
    poll(within, "orbitd's BFD session Up", || {
        orbit_in(lab, BfdState::Up)
    });
    poll(within, "bird to learn orbit's route", || {
        lab.bird.established(BIRD_PROTOCOL) && lab.bird.has_route(PREFIX)
    });
}

#[test]
fn bfd_down_drops_the_bgp_session_on_both_sides_long_before_the_hold_time() {
    let mut lab = BfdLab::start(
        Path::new(env!("CARGO_BIN_EXE_orbitd")),
        LabConfig {
            bfd: Some((10, 3)),
            hold_secs: HOLD_SECS,
            graceful_restart_secs: 0,
        },
    );
    wait_all_up(&lab, Duration::from_secs(30));

    // Both sides negotiated 10 ms × 3.
    let session = bird_session(&lab);
    let timers = &session[session.len() - 2..];
    assert_eq!(
        (timers[0].as_str(), timers[1].as_str()),
        ("0.010", "0.030"),
        "bird's interval and timeout: {session:?}"
    );
    let ours = &lab.orbit_bfd()[0];
    assert_eq!(ours.peer.to_string(), lab.bird_addr());
    assert_eq!(ours.hop, BfdHop::Single);
    assert_eq!(ours.remote_state, BfdState::Up);
    assert_eq!(ours.tx_interval_us, 10_000, "{ours:?}");
    assert_eq!(ours.detection_time_us, Some(30_000), "{ours:?}");
    assert!(ours.rx_packets > 0 && ours.tx_packets > 0, "{ours:?}");
    let metrics = lab.orbit_metrics();
    let labels = format!(
        "peer=\"{}\",local=\"{}\",hop=\"single\"",
        lab.bird_addr(),
        lab.orbit_addr()
    );
    for line in [
        format!("orbit_bfd_session_up{{{labels}}} 1"),
        format!("orbit_bfd_session_state{{{labels},state=\"up\"}} 1"),
        format!("orbit_bfd_detection_time_seconds{{{labels}}} 0.03"),
    ] {
        assert!(metrics.contains(&line), "{line} missing in\n{metrics}");
    }
    let changes_before = ours.state_changes;

    // orbitctl status shows the session; --json passes the array through.
    let table = orbitctl(&lab, &["status"]);
    // The BFD table's row (the BGP PEER table above it names the same peer).
    let row = table
        .lines()
        .skip_while(|l| !l.starts_with("BFD PEER"))
        .find(|l| l.starts_with(&lab.bird_addr()))
        .unwrap_or_else(|| panic!("no BFD row in\n{table}"));
    eprintln!("{table}");
    assert!(table.contains("BFD PEER"), "{table}");
    for cell in ["single", "up", "10ms", "30ms"] {
        assert!(row.split_whitespace().any(|c| c == cell), "{cell}: {row}");
    }
    let json: serde_json::Value =
        serde_json::from_str(&orbitctl(&lab, &["--json", "status"])).unwrap();
    // orbitctl --json keys BFD sessions by peer address.
    let session = json["bfd"].as_object().unwrap().values().next().unwrap();
    assert_eq!(session["state"], "up", "{json}");
    assert_eq!(session["hop"], "single", "{json}");

    // Cut: bird's BFD and orbitd's go Down, bird drops the route and the
    // BGP session, far sooner than the 90 s hold time.
    let (cut, _) = lab.cut();
    poll(
        Duration::from_secs(10),
        "bird to drop orbit's route",
        || !lab.bird.has_route(PREFIX),
    );
    let dropped_after = cut.elapsed();
    assert!(
        !lab.bird.established(BIRD_PROTOCOL),
        "{}",
        lab.bird.birdc("show protocols all orbit")
    );
    poll(Duration::from_secs(5), "bird's BFD session Down", || {
        lab.bird.bfd_state(&lab.orbit_addr()).as_deref() == Some("Down")
    });
    poll(Duration::from_secs(5), "orbitd's BFD session Down", || {
        orbit_in(&lab, BfdState::Down)
    });
    let ours = &lab.orbit_bfd()[0];
    assert_eq!(
        ours.local_diag, "control detection time expired",
        "{ours:?}"
    );
    assert!(ours.detection_expiries >= 1, "{ours:?}");
    assert!(ours.state_changes > changes_before, "{ours:?}");
    assert!(ours.last_state_change.is_some(), "{ours:?}");
    assert!(
        lab.orbit_metrics()
            .contains(&format!("orbit_bfd_session_up{{{labels}}} 0")),
        "metrics after the cut"
    );
    // orbitd tore its side of the BGP session down on BFD Down (RFC 5882).
    poll(
        Duration::from_secs(5),
        "orbitd to drop the BGP session",
        || {
            lab.orbitd()
                .log_text()
                .contains("BFD reports the path down: dropping the session")
        },
    );
    assert!(
        dropped_after < Duration::from_secs(u64::from(HOLD_SECS) / 3),
        "the route went after {dropped_after:?}: not BFD"
    );

    // Restore: BFD Up on both sides, BGP re-established, route back. Had
    // orbitd kept its stale session, it would notice only at its next
    // keepalive (hold / 3 = 30 s) and the route would stay away that long.
    let restored = Instant::now();
    lab.restore();
    wait_all_up(&lab, Duration::from_secs(20));
    let back_after = restored.elapsed();
    assert!(
        back_after < Duration::from_secs(u64::from(HOLD_SECS) / 3),
        "the route came back after {back_after:?}"
    );
    let ours = &lab.orbit_bfd()[0];
    assert_eq!(ours.detection_time_us, Some(30_000), "{ours:?}");

    // The other kind of cut: bird's end of the veth goes down (orbitd's
    // end loses its carrier). orbitd's BFD times out; bird drops the
    // route; both come back with the link.
    let expiries = ours.detection_expiries;
    lab.bird_ns
        .exec(&["ip", "link", "set", &lab.veth.b_if, "down"]);
    poll(
        Duration::from_secs(5),
        "orbitd's BFD Down after link down",
        || orbit_in(&lab, BfdState::Down),
    );
    poll(Duration::from_secs(10), "bird to drop the route", || {
        !lab.bird.has_route(PREFIX)
    });
    assert!(lab.orbit_bfd()[0].detection_expiries > expiries);
    lab.bird_ns
        .exec(&["ip", "link", "set", &lab.veth.b_if, "up"]);
    wait_all_up(&lab, Duration::from_secs(30));

    let code = lab.orbitd.take().map(|o| o.stop());
    assert_eq!(code, Some(Some(0)), "orbitd exit code");
}

/// bird's `show bfd sessions` row for orbitd.
fn bird_session(lab: &BfdLab) -> Vec<String> {
    lab.bird
        .bfd_session(&lab.orbit_addr())
        .unwrap_or_else(|| panic!("{}", lab.bird.birdc("show bfd sessions")))
}

/// orbitctl (built beside orbitd) against the lab's orbitd; its stdout.
fn orbitctl(lab: &BfdLab, args: &[&str]) -> String {
    let exe = Path::new(env!("CARGO_BIN_EXE_orbitd")).with_file_name("orbitctl");
    let out = std::process::Command::new(exe)
        .arg("--socket")
        .arg(&lab.orbitd().socket)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "orbitctl {args:?}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}
