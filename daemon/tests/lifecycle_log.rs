//! orbitd's lifecycle reaches stderr, not only the journal file: a real
//! orbitd started and stopped with SIGTERM logs its start (version, site,
//! config file) and each step of the stop, one line each, with
//! `kind=lifecycle`, where journald and a log shipper see them.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;

use orbit_tests::orbitd::Orbitd;

#[test]
fn start_and_each_step_of_a_stop_are_logged_to_stderr() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let orbitd = Orbitd::start_standalone(Path::new(env!("CARGO_BIN_EXE_orbitd")), dir);
    assert_eq!(orbitd.stop(), Some(0), "a SIGTERM stop exits 0");
    let log = std::fs::read_to_string(dir.join("orbitd.log")).unwrap();
    let lifecycle: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("kind=lifecycle"))
        .collect();
    let config = dir.join("orbit.toml");
    for expected in [
        format!("orbitd {} (", env!("CARGO_PKG_VERSION")),
        format!("started at site a with {}", config.display()),
        "SIGTERM: telling the cluster".to_owned(),
        "withdrawn (generation".to_owned(),
        "stopped".to_owned(),
    ] {
        assert!(
            lifecycle.iter().any(|l| l.contains(&expected)),
            "no lifecycle line with {expected:?}:\n{log}"
        );
    }
}
