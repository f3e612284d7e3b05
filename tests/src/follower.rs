//! A running `orbitctl ... journal --follow`, for tests of what it prints
//! while orbitd rotates, restarts or stops under it.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// How long to wait for what a follower should print: generous, the
/// machine is shared and loaded.
const WAIT: Duration = Duration::from_secs(60);

/// A running `orbitctl ... journal --follow`: its stdout lines (JSON
/// entries) as they come.
#[derive(Debug)]
pub struct Follower {
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
            sink.lock().expect("no panic while holding it").push(line);
        }
    });
    lines
}

impl Follower {
    /// `orbitctl --socket SOCKET ARGS` (ARGS with `--json journal
    /// --follow`).
    pub fn start(orbitctl: &Path, socket: &Path, args: &[&str]) -> Follower {
        let mut child = Command::new(orbitctl)
            .arg("--socket")
            .arg(socket)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("run {}: {e}", orbitctl.display()));
        let lines = collect(child.stdout.take().expect("piped stdout"));
        let errors = collect(child.stderr.take().expect("piped stderr"));
        Follower {
            child,
            lines,
            errors,
        }
    }

    pub fn entries(&self) -> Vec<Value> {
        self.lines
            .lock()
            .expect("no panic while holding it")
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    pub fn stderr(&self) -> String {
        self.errors
            .lock()
            .expect("no panic while holding it")
            .join("\n")
    }

    /// Waits until an entry satisfies `ok`.
    pub fn wait_for(&mut self, what: &str, ok: impl Fn(&Value) -> bool) {
        self.wait_until(what, |f| f.entries().iter().any(&ok));
    }

    /// Waits until `ok`; panics (with what came) if the follower exits or
    /// nothing comes in time.
    pub fn wait_until(&mut self, what: &str, ok: impl Fn(&Follower) -> bool) {
        let deadline = std::time::Instant::now() + WAIT;
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
    pub fn stop(mut self) -> String {
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
