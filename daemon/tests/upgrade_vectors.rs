//! Format version 1 of what orbitd keeps on disk, frozen: the state file and
//! the journal of a v1 orbitd (docs/deploy.md, "Upgrades").
//!
//! `tests/vectors/v1/state.json` and `journal.jsonl` are what an orbitd of
//! format version 1 left in its state directory after a start, an operator
//! pin and a stop. They are the contract: a real orbitd of this build
//! started on them must resume from them (the pin holds, the journal
//! continues its numbering). `ORBIT_BLESS=1` writes them only when they are
//! missing (a new version's directory); it never rewrites one. A build that
//! writes v2 adds `vectors/v2/` and keeps passing these.
//!
//! One orbitd at a time, in the test's own namespace (no gossip, a hook
//! backend); its directory is removed on drop, also on panic.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use orbit_core::api::{JournalEntry, JournalRecord, JournalResponse, StatusResponse};
use orbit_tests::orbitd::{http, standalone_config, Orbitd};

/// Generous: a shared, loaded machine.
const LIMIT: Duration = Duration::from_secs(60);
const PIN: &str = r#"{"service":"web","site":"a","reason":"v1 test vector"}"#;

fn orbitd_exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_orbitd"))
}

fn vectors() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/v1")
}

/// The committed v1 state directory's files, written first by a real
/// orbitd of this build when they are missing and `ORBIT_BLESS=1`.
fn v1_files() -> (String, String) {
    let (state, journal) = (
        vectors().join("state.json"),
        vectors().join("journal.jsonl"),
    );
    if !state.exists() && std::env::var_os("ORBIT_BLESS").is_some_and(|v| v == "1") {
        bless(&state, &journal);
    }
    let read = |path: &Path| {
        std::fs::read_to_string(path).unwrap_or_else(|e| {
            panic!(
                "test vector {}: {e} (vectors are frozen; ORBIT_BLESS=1 writes only missing ones)",
                path.display()
            )
        })
    };
    (read(&state), read(&journal))
}

/// Runs orbitd through a start, a pin and a stop, and keeps what it left.
fn bless(state: &Path, journal: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let orbitd = Orbitd::start_standalone(orbitd_exe(), dir.path());
    assert_eq!(http(&orbitd.socket, "POST", "/v1/pin", PIN).0, 200);
    orbit_tests::wait_until(LIMIT, Duration::from_millis(50), "the pin", || {
        pinned(&orbitd).as_deref() == Some("a")
    });
    assert_eq!(orbitd.stop(), Some(0));
    std::fs::create_dir_all(vectors()).unwrap();
    std::fs::copy(dir.path().join("state/state.json"), state).unwrap();
    std::fs::copy(dir.path().join("state/journal.jsonl"), journal).unwrap();
}

fn status(orbitd: &Orbitd) -> StatusResponse {
    let (code, body) = orbitd.get("/v1/status");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn pinned(orbitd: &Orbitd) -> Option<String> {
    status(orbitd)
        .engine
        .services
        .iter()
        .find(|s| s.id.as_str() == "web")
        .and_then(|s| s.pinned.as_ref().map(|site| site.to_string()))
}

/// A state directory holding `state` and `journal`, and the standalone
/// config that uses it.
fn state_dir_with(state: &str, journal: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("state")).unwrap();
    std::fs::write(dir.path().join("state/state.json"), state).unwrap();
    std::fs::write(dir.path().join("state/journal.jsonl"), journal).unwrap();
    std::fs::write(dir.path().join("orbit.toml"), standalone_config(dir.path())).unwrap();
    dir
}

#[test]
fn v1_journal_lines_decode_to_what_they_record() {
    let (state, journal) = v1_files();
    let entries: Vec<JournalEntry> = journal
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let seqs: Vec<u64> = entries.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=entries.len() as u64).collect::<Vec<_>>());
    assert!(
        entries.iter().any(|e| matches!(&e.record,
            JournalRecord::Decision { decision } if format!("{decision:?}").contains("v1 test vector"))),
        "no pin decision in {journal}"
    );
    let saved: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(saved["version"], 1);
    assert_eq!(saved["shared"]["intent"]["pins"]["web"], "a");
}

#[test]
fn orbitd_resumes_from_a_v1_state_directory() {
    let (state, journal) = v1_files();
    let v1_last_seq = journal.lines().count() as u64;
    let saved: serde_json::Value = serde_json::from_str(&state).unwrap();
    let dir = state_dir_with(&state, &journal);
    let orbitd = Orbitd::start_here(
        orbitd_exe(),
        &dir.path().join("orbit.toml"),
        &dir.path().join("api.sock"),
        &dir.path().join("orbitd.log"),
    );
    // The operator's pin of the v1 state file holds, and the steering
    // generation continues after the saved one.
    assert_eq!(pinned(&orbitd).as_deref(), Some("a"));
    assert!(status(&orbitd).engine.generation >= saved["generation"].as_u64().unwrap());
    // The v1 journal is served as it was, and numbering continues after it.
    orbit_tests::wait_until(
        LIMIT,
        Duration::from_millis(50),
        "a new journal entry",
        || {
            let (_, body) = orbitd.get("/v1/journal?limit=10000");
            let answer: JournalResponse = serde_json::from_str(&body).unwrap();
            answer.last_seq > v1_last_seq
        },
    );
    let (_, body) = orbitd.get("/v1/journal?limit=10000");
    let answer: JournalResponse = serde_json::from_str(&body).unwrap();
    for line in journal.lines() {
        let old: JournalEntry = serde_json::from_str(line).unwrap();
        assert!(answer.entries.contains(&old), "v1 entry {} lost", old.seq);
    }
    assert_eq!(orbitd.stop(), Some(0));
}

#[test]
fn a_state_file_of_a_future_version_is_refused_naming_both_versions() {
    let (state, journal) = v1_files();
    let mut future: serde_json::Value = serde_json::from_str(&state).unwrap();
    future["version"] = 2.into();
    let future = serde_json::to_string_pretty(&future).unwrap();
    let dir = state_dir_with(&future, &journal);
    let mut child = Command::new(orbitd_exe())
        .arg("--config")
        .arg(dir.path().join("orbit.toml"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        assert!(
            t0.elapsed() < LIMIT,
            "orbitd runs on a state file of version 2"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_ne!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("state file version 2 is not supported: this build reads versions 1 to 1"),
        "{stderr}"
    );
    // The file is left for the orbitd that wrote it.
    let left = std::fs::read_to_string(dir.path().join("state/state.json")).unwrap();
    assert_eq!(left, future);
}
