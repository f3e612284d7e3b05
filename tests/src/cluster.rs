//! Three real orbitd (sites a and b, witness w) on an [`Mesh`], driven
//! over their API sockets and with the real `orbitctl`: the scaffolding
//! of the operator-facing tests.
//!
//! Daemons are killed in `Drop` (the mesh's namespaces go with it), also on
//! panic; the directory (configs, logs, state) is removed unless
//! `ORBIT_KEEP=1`.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::mesh::{Mesh, NODES};

/// Generous: a shared, loaded machine.
pub const LIMIT: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Cluster {
    daemons: Vec<Option<Child>>,
    pub mesh: Mesh,
    pub dir: PathBuf,
    orbitd: String,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.daemons.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::env::var_os("ORBIT_KEEP").is_some() {
            eprintln!("ORBIT_KEEP: kept {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Cluster {
    /// Starts `orbitd` (the test's `CARGO_BIN_EXE_orbitd`) on a, b and w
    /// with the config `config(node, dir)` returns; waits for nothing.
    pub fn start(tag: &str, orbitd: &str, config: impl Fn(&str, &Path) -> String) -> Cluster {
        crate::assert_root("three-member orbitd tests");
        let dir = std::env::temp_dir().join(format!(
            "orbit-cluster-{tag}-{}-{}",
            std::process::id(),
            crate::netns::unique()
        ));
        std::fs::create_dir_all(&dir).expect("test directory");
        let mesh = Mesh::new(tag);
        let daemons = mesh
            .start_orbitd(orbitd, &dir, |node| config(node, &dir))
            .into_iter()
            .map(Some)
            .collect();
        Cluster {
            daemons,
            mesh,
            dir,
            orbitd: orbitd.to_owned(),
        }
    }

    pub fn socket(&self, node: &str) -> PathBuf {
        self.dir.join(format!("{node}.sock"))
    }

    /// `GET /v1/status` at `node`; `None` while it does not answer.
    pub fn status(&self, node: &str) -> Option<Value> {
        let (code, body) = self.get(node, "/v1/status")?;
        (code == 200).then(|| serde_json::from_str(&body).ok())?
    }

    /// `GET path` at `node`: (status, body); `None` while it does not
    /// listen.
    pub fn get(&self, node: &str, path: &str) -> Option<(u16, String)> {
        let socket = self.socket(node);
        UnixStream::connect(&socket).ok()?;
        Some(crate::orbitd::http(&socket, "GET", path, ""))
    }

    /// `orbitctl --socket NODE.sock ARGS`: (exit code, stdout, stderr, pid).
    pub fn orbitctl(&self, node: &str, args: &[&str]) -> (i32, String, String, u32) {
        crate::orbitd::orbitctl_with_pid(&self.orbitd, &self.socket(node), args)
    }

    /// `orbitctl --json journal` at `node`, one entry per line.
    pub fn journal(&self, node: &str) -> Vec<Value> {
        let (code, out, err, _) = self.orbitctl(node, &["--json", "journal", "--limit", "1000"]);
        assert_eq!(code, 0, "orbitctl journal at {node}: {err}");
        out.lines()
            .map(|l| serde_json::from_str(l).expect("a journal line is JSON"))
            .collect()
    }

    fn child(&self, node: &str) -> &Child {
        let i = NODES.iter().position(|n| *n == node).expect("a, b or w");
        self.daemons[i].as_ref().expect("orbitd is running")
    }

    pub fn kill(&mut self, node: &str) {
        let i = NODES.iter().position(|n| *n == node).expect("a, b or w");
        let mut child = self.daemons[i].take().expect("orbitd is running");
        child.kill().expect("kill orbitd");
        child.wait().expect("reap orbitd");
    }

    /// Writes `text` as `node`'s config file and sends it SIGHUP.
    pub fn reload(&self, node: &str, text: &str) {
        std::fs::write(self.dir.join(format!("{node}.toml")), text).expect("config file");
        crate::sh(&["kill", "-HUP", &self.child(node).id().to_string()]);
    }

    /// Waits (at most [`LIMIT`]) until `ok` holds; panics naming `what`
    /// with the daemons' logs, or at once when a daemon exited.
    pub fn eventually(&mut self, what: &str, mut ok: impl FnMut(&Cluster) -> bool) {
        let deadline = Instant::now() + LIMIT;
        while !ok(self) {
            for (node, child) in NODES.iter().zip(&mut self.daemons) {
                if let Some(Ok(Some(status))) = child.as_mut().map(Child::try_wait) {
                    panic!("orbitd {node} exited ({status}):\n{}", self.log(node));
                }
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {LIMIT:?} waiting for {what}\n--- a ---\n{}\n--- b ---\n{}\n--- w ---\n{}",
                self.log("a"),
                self.log("b"),
                self.log("w")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last 30 lines of `node`'s log.
    pub fn log(&self, node: &str) -> String {
        let text =
            std::fs::read_to_string(self.dir.join(format!("{node}.log"))).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

/// The carrier of `service` in a status answer.
pub fn active<'a>(status: &'a Value, service: &str) -> Option<&'a str> {
    status["steering"]["services"][service]["active"].as_str()
}

/// A member's config: the mesh, manual failback, and at the sites web
/// (a before b) and db (b before a) with a hook backend writing the
/// steering to `dir/NODE.hook`; the witness lists no services.
pub fn config(node: &str, dir: &Path) -> String {
    let d = dir.display();
    let services = if node == "w" {
        String::new()
    } else {
        format!(
            "[[service]]\nid = \"web\"\nprefixes = [\"203.0.113.10/32\"]\nsites = [\"a\", \"b\"]\n\
             [[service]]\nid = \"db\"\nprefixes = [\"203.0.113.20/32\"]\nsites = [\"b\", \"a\"]\n\
             [hook]\ncommand = [\"/bin/sh\", \"-c\", \"cat > {d}/{node}.hook\"]\ntimeout = \"5s\"\n"
        )
    };
    format!(
        "{members}[detect]\nkey_file = \"{d}/key\"\n\
         [policy]\nfailover_hold = \"0s\"\nfailback = \"manual\"\nsync_timeout = \"1s\"\n{services}",
        members = Mesh::cluster_config(node, dir),
    )
}

/// Every member in authority, web at a and db at b (the witness places
/// nothing).
pub fn settled(c: &Cluster) -> bool {
    NODES.iter().all(|node| {
        c.status(node).is_some_and(|s| {
            let placed =
                *node == "w" || (active(&s, "web") == Some("a") && active(&s, "db") == Some("b"));
            s["engine"]["fenced"] == false && s["engine"]["synced"] == true && placed
        })
    })
}
