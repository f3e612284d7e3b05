//! A small lab run inside `make test`: the real orbit-lab binary builds the
//! namespaces, starts haproxy / bird / Open vSwitch, three real orbitd and
//! drives scenario 1 with the real orbitctl; then the correctness parts of
//! issue 8 are asserted on its JSON:
//! - scenario 1 (planned switchover): the client loses nothing;
//! - scenarios 2 and 3 (hard and gray failure): traffic moves to site b;
//! - scenarios 4, 5 and 7 (partition, 10% loss, frozen daemon): no failover;
//! - scenario 6 (HAProxy mode): traffic returns to a, not before the hold-down;
//! - scenario 8 (site dark, the edge's links stay up): traffic moves to b, in
//!   BGP mode through BFD (bird2 and orbitd, here at 50 ms x 3);
//! - member BFD (issue 20): wherever orbit decides, the members' multihop
//!   BFD sessions were Up before each run's fault;
//! - the CPU hog (`--hog`): stress-ng ran beside the run and none of its
//!   processes outlives it, after a normal end and after Ctrl-C;
//! - scenario 15 (`--routers 2`, issue 21): one of site a's two routers
//!   dies, both had carried traffic, nothing moves, and the client loses
//!   nothing beyond the edge's own reconvergence;
//! - mode postgresql (issue 22): a hard failure of a with synchronous
//!   replication promotes b before it takes the writes, loses no
//!   acknowledged write, has no split brain, fences a when it returns and
//!   tells the orchestrator.
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

/// Member BFD as in the lab, but at 50 ms x 3 rather than its 10 ms x 3:
/// with the rest of `make test` on this shared 2-core host, 20 ms x 3
/// flapped (sessions Down for "control detection time expired" within
/// seconds at load average 6-10), which would make these tests as flaky
/// as the edge's 10 ms x 3 did (below); 150 ms still detects well before
/// gossip does.
const MEMBER_BFD: [&str; 2] = ["--member-bfd-interval", "50"];

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
        .args(MEMBER_BFD)
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
        check_member_bfd(r, &what);
    }
}

/// Issue 20: member BFD is on by default wherever orbit's own detectors
/// decide, and its four sessions (a-b, a-w, b-a, b-w) were Up before the
/// fault.
fn check_member_bfd(r: &Value, what: &str) {
    let member_bfd = matches!(
        r["mode"].as_str().unwrap(),
        "haproxy" | "bgp" | "bgp-nobfd" | "sdn"
    );
    if member_bfd {
        // Each router's sessions to every other member: a and b with two
        // each, or (scenario 15) a1, a2 and b with three each.
        let up = if r["scenario"] == 15 { 9 } else { 4 };
        assert_eq!(r["member_bfd_ms"].as_u64(), Some(50), "{what}");
        assert_eq!(
            r["member_bfd_up"].as_u64(),
            Some(up),
            "{what}: the members' BFD sessions Up at the routers"
        );
    } else {
        assert!(r["member_bfd_ms"].is_null(), "{what}: a baseline");
    }
}

/// Process `pid` has stopped running (gone, or a zombie: it runs
/// nothing), within a generous 10 s of being killed.
fn stops(pid: u64) -> bool {
    let running = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            // `pid (comm) STATE ...`; comm may hold spaces and parentheses.
            stat.rsplit_once(") ")
                .is_some_and(|(_, rest)| !rest.starts_with('Z'))
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while running() {
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    true
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

// Issue 21 item 5: site a has two routers (`--routers 2`), and the one
// the client's UDP stream goes through dies.
#[test]
fn bgp_mode_one_of_two_routers_dies() {
    let json = lab_run("bgp", "15", &["--bfd-interval", "50", "--routers", "2"]);
    let r = &json["runs"][0];
    let what = format!("scenario 15: {}", r["router_death"]);
    let d = &r["router_death"];
    assert!(!r["false_failover"].as_bool().unwrap(), "{what}");
    assert_eq!(r["udp"]["served_to"].as_u64(), Some(0), "{what}: b served");
    for router in ["a1", "a2"] {
        assert!(
            d["forwarded_before"][router]["all"].as_u64().unwrap() > 0,
            "{what}: {router} carried nothing before the fault"
        );
    }
    assert!(d["survivor_after"]["udp"].as_u64().unwrap() > 0, "{what}");
    assert!(d["edge_reconvergence_ms"].as_f64().is_some(), "{what}");
    assert_eq!(d["udp_lost_outside"].as_u64(), Some(0), "{what}");
    assert_eq!(d["http_lost_outside"].as_u64(), Some(0), "{what}");
    assert!(d["member_dead_ms"].as_f64().is_some(), "{what}");
    assert_eq!(d["web_at_b"].as_str(), Some("a"), "{what}: b took web");
}

// Issue 20: `--hog` runs stress-ng beside the lab; its runs are rows of
// their own, and the hog is gone when the run ends.
#[test]
fn hogged_runs_are_their_own_rows_and_leave_no_hog() {
    let json = lab_run("haproxy", "4", &["--hog", "both"]);
    let runs = json["runs"].as_array().unwrap();
    let hogs: Vec<bool> = runs.iter().map(|r| r["hog"].as_bool().unwrap()).collect();
    assert_eq!(hogs, [false, true], "one run without, one with the hog");
    let stats = &runs[1]["hog_stats"];
    assert!(runs[0]["hog_stats"].is_null());
    assert!(
        stats["cpu_s"].as_f64().unwrap() > 0.5,
        "the hog got CPU: {stats}"
    );
    let pids = stats["pids"].as_array().unwrap();
    assert!(pids.len() >= 3, "stress-ng and its 2 workers: {stats}");
    for pid in pids {
        assert!(
            stops(pid.as_u64().unwrap()),
            "hog process {pid} outlived the run"
        );
    }
    let summary: Vec<(String, bool)> = json["summary"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["mode"].as_str().unwrap().to_owned(),
                r["hog"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [("haproxy".to_owned(), false), ("haproxy".to_owned(), true)]
    );
}

// Ctrl-C in the middle of a hogged run: the signal thread kills the hog
// (stress-ng and its workers) with the rest of the lab.
#[test]
fn ctrl_c_stops_the_hog() {
    let bins = build_daemons();
    let out = std::env::temp_dir().join(format!("orbit-lab-smoke-hogint-{}", std::process::id()));
    let mut lab = Command::new(env!("CARGO_BIN_EXE_orbit-lab"))
        .args([
            "run",
            "--runs",
            "1",
            "--modes",
            "haproxy",
            "--scenarios",
            "5",
        ])
        .args(MEMBER_BFD)
        .args(["--hog", "--out"])
        .arg(&out)
        .env("ORBIT_LAB_BIN_DIR", &bins)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start orbit-lab");
    let prefix = format!("olab{}", lab.id());
    let netns = || -> Vec<String> {
        let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| n.starts_with(&prefix))
            .map(str::to_owned)
            .collect()
    };
    // Wait (generously: the lab is built first) for the hog to run.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let pids: Vec<u64> = loop {
        if let Some(hog) = netns().into_iter().find(|n| n.ends_with("-hog")) {
            let out = Command::new("ip")
                .args(["netns", "pids", &hog])
                .output()
                .unwrap();
            let pids: Vec<u64> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect();
            if pids.len() >= 3 {
                break pids;
            }
        }
        assert!(
            lab.try_wait().unwrap().is_none(),
            "orbit-lab ended before its hog ran"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "no hog namespace with stress-ng and 2 workers within 90 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let status = Command::new("kill")
        .args(["-INT", &lab.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let code = lab.wait().unwrap().code();
    let _ = std::fs::remove_dir_all(&out);
    assert_eq!(code, Some(130), "orbit-lab exits 130 on SIGINT");
    for pid in pids {
        assert!(stops(pid), "hog process {pid} outlived Ctrl-C");
    }
    assert_eq!(netns(), Vec::<String>::new(), "namespaces left behind");
}

#[test]
fn sdn_mode_scenarios() {
    lab_run("sdn", "1,2,3,7", &[]);
}

// Issue 22: the PostgreSQL pair moved with its plan. A hard failure of a
// with synchronous replication: b promotes, then takes the writes; no
// acknowledged write is lost, the old primary commits nothing after the
// promotion and is stopped when a returns.
#[test]
fn postgresql_failure_promotes_then_moves_and_fences() {
    let bins = build_daemons();
    let out = std::env::temp_dir().join(format!("orbit-lab-smoke-pg-{}", std::process::id()));
    let result = Command::new(env!("CARGO_BIN_EXE_orbit-lab"))
        .args([
            "run",
            "--runs",
            "1",
            "--modes",
            "postgresql",
            "--pg",
            "failure",
            "--pg-replication",
            "sync",
            "--out",
        ])
        .arg(&out)
        .args(MEMBER_BFD)
        .args(["--bfd-interval", "50"])
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
    assert!(
        json["unavailable"].as_array().unwrap().is_empty(),
        "not available: {}",
        json["unavailable"]
    );
    let runs = json["postgresql_runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{stdout}");
    let r = &runs[0];
    assert!(r["error"].is_null(), "{}", r["error"]);
    assert_eq!(
        r["violations"].as_array().unwrap().len(),
        0,
        "{}",
        r["violations"]
    );
    assert!(r["acked"].as_u64().unwrap() > 100, "too few writes: {r}");
    assert!(r["rto_ms"].as_f64().is_some(), "b took no write: {r}");
    assert_eq!(
        r["lost"].as_array().unwrap().len(),
        0,
        "sync lost writes: {r}"
    );
    assert_eq!(
        r["split_brain"].as_array().unwrap().len(),
        0,
        "split brain: {r}"
    );
    assert!(r["fenced_after_ms"].as_f64().is_some(), "a not fenced: {r}");
    let _ = std::fs::remove_dir_all(&out);
}
