//! A small lab run inside `make test`: the real orbit-lab binary builds the
//! namespaces, starts haproxy / bird / Open vSwitch, three real orbitd and
//! drives scenario 1 with the real orbitctl; then the correctness parts of
//! issue 8 are asserted on its JSON:
//! - scenario 1 (planned switchover): the client loses nothing;
//! - scenarios 2 and 3 (hard and gray failure): traffic moves to site b;
//! - scenarios 4, 5 and 7 (partition, 10% loss, frozen daemon): no failover;
//! - scenario 6 (HAProxy mode): traffic returns to a, not before the hold-down;
//! - scenario 8 (site dark, the edge's links stay up): traffic moves to b, in
//!   BGP mode through BFD (bird2 and orbitd, here at 50 ms x 3).
//!
//! Needs root (network namespaces), like every privileged test here.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the report

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// orbitd and orbitctl next to orbit-lab (same target dir and profile).
fn build_daemons() -> PathBuf {
    let lab = PathBuf::from(env!("CARGO_BIN_EXE_orbit-lab"));
    let dir = lab.parent().unwrap().to_path_buf();
    let profile = dir.file_name().unwrap().to_str().unwrap().to_owned();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "orbitd", "-p", "orbitctl"]);
    if profile == "release" {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("run cargo build");
    assert!(status.success(), "building orbitd and orbitctl failed");
    dir
}

fn lab_run(mode: &str, scenarios: &str, extra: &[&str]) -> Value {
    let bins = build_daemons();
    let out = std::env::temp_dir().join(format!("orbit-lab-smoke-{mode}-{}", std::process::id()));
    let result = Command::new(env!("CARGO_BIN_EXE_orbit-lab"))
        .args([
            "run",
            "--runs",
            "1",
            "--modes",
            mode,
            "--scenarios",
            scenarios,
            "--out",
        ])
        .arg(&out)
        .args(extra)
        .env("ORBIT_LAB_BIN_DIR", &bins)
        .output()
        .expect("run orbit-lab");
    let stdout = String::from_utf8_lossy(&result.stdout);
    let stderr = String::from_utf8_lossy(&result.stderr);
    println!("{stdout}\n{stderr}");
    let json: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("lab.json"))
            .unwrap_or_else(|e| panic!("no lab.json ({e}); orbit-lab said:\n{stdout}\n{stderr}")),
    )
    .expect("lab.json parses");
    check(&json, &out);
    let _ = std::fs::remove_dir_all(&out);
    json
}

fn check(json: &Value, out: &Path) {
    assert!(
        json["unavailable"].as_array().unwrap().is_empty(),
        "mode not available: {}",
        json["unavailable"]
    );
    let runs = json["runs"].as_array().unwrap();
    assert!(!runs.is_empty(), "no runs in {}", out.display());
    for r in runs {
        let sc = r["scenario"].as_u64().unwrap();
        let what = format!("{} scenario {sc}: {}", r["mode"], r["violations"]);
        assert!(r["error"].is_null(), "{what}");
        assert!(
            r["requests"].as_u64().unwrap() > 100,
            "{what}: probe stream too small"
        );
        match sc {
            1 => {
                assert!(
                    r["failover"].as_bool().unwrap(),
                    "{what}: switchover did not move traffic"
                );
                assert_eq!(
                    r["lost"].as_u64(),
                    Some(0),
                    "{what}: planned switchover lost traffic"
                );
                assert_eq!(
                    r["newconn"]["lost"].as_u64(),
                    Some(0),
                    "{what}: new connections lost"
                );
            }
            2 | 3 | 8 => assert!(r["failover"].as_bool().unwrap(), "{what}: no failover"),
            4 | 5 | 7 => assert!(
                !r["false_failover"].as_bool().unwrap(),
                "{what}: false failover"
            ),
            _ => {}
        }
        assert!(r["violations"].as_array().unwrap().is_empty(), "{what}");
    }
}

// One test per mode; .config/nextest.toml runs each alone. Scenarios 4
// and 5 exercise only the detectors (the same in every mode), so they run
// once, in HAProxy mode; 7 also stalls the backend's sessions (BGP).
#[test]
fn haproxy_mode_scenarios() {
    lab_run("haproxy", "1,2,3,4,5,6,7", &[]);
}

// Issue 13: a site that heals after a partition takes nothing from the
// majority (one failover, then nothing moves, no silence after the heal).
#[test]
fn sdn_mode_heal_after_partition() {
    lab_run("sdn", "9", &[]);
}

// BGP with BFD (the lab's default BGP mode). Scenario 8: BFD moves the
// route; scenario 7: orbitd's BFD runs in its own helper process, so a
// frozen orbitd must not look like a dead path. At 50 ms x 3 rather than
// the lab's 10 ms x 3: on a busy 2-core host 10 ms x 3 saw false BFD Downs
// (docs/lab.md), which would make this test flaky; 150 ms is still far
// below orbit's own detection.
#[test]
fn bgp_mode_scenarios() {
    let json = lab_run("bgp", "1,2,3,7,8", &["--bfd-interval", "50"]);
    // BFD really ran: bird2 dropped a's route before orbit's quorum
    // decided anything, so the client moved before any detection.
    let dark = json["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["scenario"] == 8)
        .unwrap();
    let first_b = dark["udp"]["first_to_ms"].as_f64().unwrap();
    let detection = dark["detection_ms"].as_f64().unwrap_or(f64::MAX);
    assert!(
        first_b < detection,
        "scenario 8 with BFD: the client reached b after {first_b} ms, not before orbit's detection ({detection} ms)"
    );
}

#[test]
fn sdn_mode_scenarios() {
    lab_run("sdn", "1,2,3,7", &[]);
}
