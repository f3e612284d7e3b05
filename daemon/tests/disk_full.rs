//! End to end: orbitd whose state directory is a small tmpfs that fills up.
//! Operator commands that cannot be saved are refused (503) and change
//! nothing; once space returns they succeed, and the journal file has every
//! seq once, in order, on lines that all parse.
//!
//! The tmpfs is mounted in a private mount namespace that only orbitd lives
//! in (`unshare --mount`): it disappears with the process, so nothing
//! leaks, even on panic. The test reaches it through `/proc/PID/root`.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use orbit_tests::orbitd::{http, orbitctl, standalone_config};
use serde_json::Value;

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("orbit-diskfull-{}", orbit_tests::netns::unique()));
        std::fs::create_dir_all(dir.join("state")).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// orbitd in its own mount namespace with `state` on a tmpfs of `size`;
/// killed on drop (which also unmounts the tmpfs).
struct Orbitd {
    child: Child,
    state: PathBuf,
}

impl Orbitd {
    fn start(dir: &Path, size: &str) -> Orbitd {
        orbit_tests::assert_root("tests that mount a tmpfs");
        let state = dir.join("state");
        let log = std::fs::File::create(dir.join("orbitd.log")).unwrap();
        // `exec`: the child's pid is orbitd's, and the namespace (with its
        // tmpfs) ends with it.
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount -t tmpfs -o size=\"$1\" orbit-test \"$2\" && shift 2 && exec \"$@\"")
            .arg("sh")
            .arg(size)
            .arg(&state)
            .arg(env!("CARGO_BIN_EXE_orbitd"))
            .arg("--config")
            .arg(dir.join("orbit.toml"))
            .env("ORBIT_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start unshare");
        let mut me = Orbitd { child, state };
        let socket = dir.join("api.sock");
        wait_for("the API socket", || {
            if let Ok(Some(status)) = me.child.try_wait() {
                panic!(
                    "orbitd exited ({status}):\n{}",
                    std::fs::read_to_string(dir.join("orbitd.log")).unwrap_or_default()
                );
            }
            UnixStream::connect(&socket).is_ok()
        });
        me
    }

    /// A path in the state directory as orbitd sees it (its tmpfs).
    fn state_file(&self, name: &str) -> PathBuf {
        let inside = self.state.join(name);
        Path::new(&format!("/proc/{}/root", self.child.id()))
            .join(inside.strip_prefix("/").unwrap())
    }

    /// Fills the tmpfs up to its last byte.
    fn fill(&self) {
        let out = Command::new("dd")
            .arg("if=/dev/zero")
            .arg(format!("of={}", self.state_file("fill").display()))
            .arg("bs=4k")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("No space left on device"), "dd: {err}");
    }

    fn free(&self) {
        std::fs::remove_file(self.state_file("fill")).unwrap();
    }
}

impl Drop for Orbitd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One site, one service, a hook that takes every steering; no gossip
/// (this orbitd shares the host's network namespace).
fn write_config(dir: &Path) {
    std::fs::write(dir.join("orbit.toml"), standalone_config(dir)).unwrap();
}

fn pinned(socket: &Path) -> Value {
    let (status, body) = http(socket, "GET", "/v1/status", "");
    assert_eq!(status, 200, "{body}");
    let status: Value = serde_json::from_str(&body).unwrap();
    status["engine"]["services"][0]["pinned"].clone()
}

const PIN: &str = r#"{"service":"web","site":"a"}"#;
const UNPIN: &str = r#"{"service":"web"}"#;

#[test]
fn a_full_state_directory_refuses_commands_and_keeps_the_journal_contiguous() {
    let tmp = TempDir::new();
    let dir = &tmp.0;
    write_config(dir);
    let socket = dir.join("api.sock");
    let daemon = Orbitd::start(dir, "256k");
    wait_for("orbitd to be ready", || {
        http(&socket, "GET", "/ready", "").0 == 200
    });

    // Room to spare: a pin and an unpin go through.
    assert_eq!(http(&socket, "POST", "/v1/pin", PIN).0, 200);
    assert_eq!(pinned(&socket), "a");
    assert_eq!(http(&socket, "DELETE", "/v1/pin", UNPIN).0, 200);
    assert_eq!(pinned(&socket), Value::Null);

    // Full: every command is refused with the reason, and nothing changes.
    daemon.fill();
    for _ in 0..20 {
        let (status, body) = http(&socket, "POST", "/v1/pin", PIN);
        assert_eq!(status, 503, "{body}");
        // The journal's last page may have room for part of a line: a
        // short write, which names no errno.
        assert!(
            body.contains("not applied: it could not be saved in the state directory")
                && (body.contains("No space left on device") || body.contains("short write")),
            "{body}"
        );
        assert_eq!(
            pinned(&socket),
            Value::Null,
            "a refused pin applied nothing"
        );
        // Refused by the engine as before; its journal line waits for space.
        let (status, _) = http(
            &socket,
            "POST",
            "/v1/pin",
            r#"{"service":"nope","site":"a"}"#,
        );
        assert_eq!(status, 404);
    }
    let (code, _, err) = orbitctl(
        env!("CARGO_BIN_EXE_orbitd"),
        &socket,
        &["pin", "--service", "web", "--to", "a"],
    );
    assert_eq!(code, 69, "{err}");
    assert!(
        err.starts_with("orbitctl: not applied") && err.contains("state directory"),
        "{err}"
    );
    assert_eq!(pinned(&socket), Value::Null);
    let (_, metrics) = http(&socket, "GET", "/metrics", "");
    assert!(
        metrics.contains("orbit_commands_total{verb=\"pin\",result=\"not_persisted\"} 21"),
        "{metrics}"
    );
    let errors = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
            .parse()
            .unwrap()
    };
    assert!(errors("orbit_state_write_errors_total") > 0, "{metrics}");
    assert!(errors("orbit_journal_write_errors_total") > 0, "{metrics}");

    // Space returns: commands go through again.
    daemon.free();
    assert_eq!(http(&socket, "POST", "/v1/pin", PIN).0, 200);
    assert_eq!(pinned(&socket), "a");
    assert_eq!(http(&socket, "DELETE", "/v1/pin", UNPIN).0, 200);
    assert_eq!(http(&socket, "POST", "/v1/pin", PIN).0, 200);
    assert_eq!(pinned(&socket), "a");

    // The journal: seqs 1..=N once each, in order, every line whole; the
    // refusals written late, after space returned; exactly the three
    // accepted pins, none of the refused ones.
    let text = std::fs::read_to_string(daemon.state_file("journal.jsonl")).unwrap();
    let entries: Vec<Value> = text
        .lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("journal line {} is torn ({e}): {line}", i + 1))
        })
        .collect();
    let seqs: Vec<u64> = entries.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(seqs, expected, "journal seqs are contiguous:\n{text}");
    let count = |needle: &str| text.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(count("operator pinned web to site a"), 3, "{text}");
    assert_eq!(count("not applied"), 21, "{text}");
    assert_eq!(count("unknown service"), 20, "{text}");
    let (_, body) = http(&socket, "GET", "/v1/journal?limit=1", "");
    let journal: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(journal["last_seq"].as_u64(), seqs.last().copied());
}
