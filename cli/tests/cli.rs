//! orbitctl without a daemon: generated docs, usage errors, unreachable
//! daemon. (The end-to-end tests against a running orbitd live in the daemon
//! package.)

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::process::Command;

fn orbitctl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_orbitctl"))
        .args(args)
        .env_remove("ORBIT_SOCKET")
        .env_remove("ORBIT_URL")
        .env_remove("ORBIT_TOKEN")
        .output()
        .expect("run orbitctl");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn generates_completions_and_a_man_page() {
    let (code, stdout, _) = orbitctl(&["completions", "bash"]);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("switchover") && stdout.contains("failback"),
        "{stdout}"
    );
    let (code, stdout, _) = orbitctl(&["man"]);
    assert_eq!(code, 0);
    assert!(
        stdout.starts_with(".ie") || stdout.contains(".TH orbitctl"),
        "{stdout}"
    );
}

#[test]
fn unreachable_daemon_is_one_line_and_exit_69() {
    let socket = std::env::temp_dir().join(format!("orbit-no-daemon-{}.sock", std::process::id()));
    let (code, stdout, stderr) = orbitctl(&["--socket", socket.to_str().unwrap(), "status"]);
    assert_eq!(code, 69, "{stdout}{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("orbitctl: orbitd is unreachable at "),
        "{stderr}"
    );
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, stderr) = orbitctl(&["switchover", "--to", "b"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = orbitctl(&["switchover", "--all", "--service", "web", "--to", "b"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, _, stderr) = orbitctl(&["--url", "ftp://x", "--token", "t", "status"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("must start with http://"), "{stderr}");
}

#[test]
fn a_name_that_cannot_be_an_identifier_is_bad_usage_before_orbitd_is_asked() {
    // The socket does not exist: the name is refused without orbitd.
    let socket = std::env::temp_dir().join(format!("orbit-no-daemon-{}.sock", std::process::id()));
    let socket = socket.to_str().unwrap();
    for args in [
        &["drain", "Site A"][..],
        &["switchover", "--service", "web", "--to", "B"],
        &["pin", "--service", "", "--to", "a"],
        &["failback", "A"],
    ] {
        let (code, _, stderr) = orbitctl(&[&["--socket", socket], args].concat());
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(!stderr.contains("unreachable"), "{args:?}: {stderr}");
    }
    let (_, _, stderr) = orbitctl(&["--socket", socket, "drain", "Site A"]);
    assert!(
        stderr.contains("identifier \"Site A\" may only contain lowercase letters"),
        "{stderr}"
    );
}

#[test]
fn a_bad_reason_or_a_force_on_observer_is_a_usage_error_before_orbitd_is_asked() {
    let long = "x".repeat(201);
    let (code, _, err) = orbitctl(&["--socket", "/nonexistent", "drain", "b", "--reason", &long]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("reason is 201 characters long; at most 200 are allowed"),
        "{err}"
    );
    let (code, _, err) = orbitctl(&["--socket", "/nonexistent", "drain", "b", "--reason", "a\tb"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("control character"), "{err}");
    let (code, _, err) = orbitctl(&["--socket", "/nonexistent", "observer", "on", "--force"]);
    assert_eq!(code, 2, "observer mode has nothing to force: {err}");
    // A good one gets as far as the (missing) daemon.
    let (code, _, err) = orbitctl(&[
        "--socket",
        "/nonexistent",
        "drain",
        "b",
        "--force",
        "--reason",
        "CHG-42",
    ]);
    assert_eq!(code, 69, "{err}");
}
