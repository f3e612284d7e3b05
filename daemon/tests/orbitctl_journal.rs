//! `orbitctl journal --follow` against a real orbitd that restarts under
//! it: like `tail -F`, the follower says once that it lost orbitd and once
//! that it is back, and prints every entry exactly once.
//!
//! One orbitd in the test's own namespace (no gossip, a hook backend); its
//! directory is removed on drop, also on panic.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orbit_tests::orbitd::{orbitctl, Orbitd};
use serde_json::Value;

/// Generous: a shared, loaded machine.
const LIMIT: Duration = Duration::from_secs(60);

fn orbitd_exe() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_orbitd"))
}

fn start(dir: &Path) -> Orbitd {
    Orbitd::start_standalone(orbitd_exe(), dir)
}

/// A running `orbitctl ... journal --follow`: its stdout lines as they come.
struct Follower {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    errors: Arc<Mutex<Vec<String>>>,
}

/// Collects a pipe's lines in a thread.
fn collect(pipe: impl Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

impl Follower {
    fn start(socket: &Path) -> Follower {
        let exe = orbitd_exe().with_file_name("orbitctl");
        let mut child = Command::new(exe)
            .arg("--socket")
            .arg(socket)
            .args(["--json", "journal", "--follow", "--limit", "1000"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = collect(child.stdout.take().unwrap());
        let errors = collect(child.stderr.take().unwrap());
        Follower {
            child,
            lines,
            errors,
        }
    }

    fn entries(&self) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    fn stderr(&self) -> String {
        self.errors.lock().unwrap().join("\n")
    }

    /// Waits until an entry satisfies `ok`.
    fn wait_for(&mut self, what: &str, ok: impl Fn(&Value) -> bool) {
        self.wait_until(what, |f| f.entries().iter().any(&ok));
    }

    /// Waits until `ok`; panics (with what came) if the follower exits or
    /// nothing comes in time.
    fn wait_until(&mut self, what: &str, ok: impl Fn(&Follower) -> bool) {
        let deadline = std::time::Instant::now() + LIMIT;
        loop {
            if ok(self) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                panic!(
                    "the follower exited ({status}) before {what}: {}",
                    self.stderr()
                );
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for {what}: {:?}",
                self.entries()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the follower; its stderr.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        self.stderr()
    }
}

impl Drop for Follower {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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
    let mut follower = Follower::start(&socket);
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
