//! `orbitctl journal --follow` against a real orbitd that restarts under
//! it: like `tail -F`, the follower says once that it lost orbitd and once
//! that it is back, and prints every entry exactly once.
//!
//! One orbitd in the test's own namespace (no gossip, a hook backend); its
//! directory is removed on drop, also on panic.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;
use std::time::Duration;

use orbit_tests::follower::Follower;
use orbit_tests::orbitd::{orbitctl, Orbitd};
use serde_json::Value;

fn orbitd_exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_orbitd"))
}

fn start(dir: &Path) -> Orbitd {
    Orbitd::start_standalone(orbitd_exe(), dir)
}

fn has_reason(entry: &Value, reason: &str) -> bool {
    entry.to_string().contains(reason)
}

#[test]
fn follow_survives_a_daemon_restart_and_prints_every_entry_once() {
    orbit_tests::assert_root("orbitd tests");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let socket = dir.join("api.sock");
    let daemon = start(dir);
    let pin = |reason: &str| {
        let (code, _, err) = orbitctl(
            env!("CARGO_BIN_EXE_orbitd"),
            &socket,
            &["pin", "--service", "web", "--to", "a", "--reason", reason],
        );
        assert_eq!(code, 0, "{err}");
    };
    let mut follower = Follower::start(
        &orbitd_exe().with_file_name("orbitctl"),
        &socket,
        &["--json", "journal", "--follow", "--limit", "1000"],
    );
    pin("before-restart");
    follower.wait_for("the pin before the restart", |e| {
        has_reason(e, "before-restart")
    });

    assert_eq!(daemon.stop(), Some(0));
    follower.wait_until("the follower to notice", |f| {
        f.stderr().contains("lost orbitd")
    });
    let daemon = start(dir);
    let (code, _, err) = orbitctl(
        env!("CARGO_BIN_EXE_orbitd"),
        &socket,
        &["unpin", "--service", "web", "--reason", "after-restart"],
    );
    assert_eq!(code, 0, "{err}");
    follower.wait_for("the unpin after the restart", |e| {
        has_reason(e, "after-restart")
    });
    // One more poll round: anything printed twice would show by now.
    std::thread::sleep(Duration::from_secs(1));

    let entries = follower.entries();
    let stderr = follower.stop();
    let seqs: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "every entry once, in order: {seqs:?}"
    );
    assert_eq!(
        entries
            .iter()
            .filter(|e| has_reason(e, "after-restart"))
            .count(),
        1,
        "{entries:?}"
    );
    assert_eq!(
        stderr.matches("orbitctl: lost orbitd").count(),
        1,
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("orbitctl: orbitd is back").count(),
        1,
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
    drop(daemon);
}

#[test]
fn journal_limit_zero_is_a_usage_error() {
    let (code, _, err) = orbitctl(
        env!("CARGO_BIN_EXE_orbitd"),
        Path::new("/nonexistent"),
        &["journal", "--limit", "0"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("must be between 1 and 10000"), "{err}");
}
