//! Three real orbitd (sites a and b, witness w) in the namespaces of a
//! [`Mesh`], for tests of operator control driven with the real `orbitctl`:
//! web prefers a, db prefers b, no health checks, failover at once,
//! manual failback; a `[hook]` at a and b writes each steering to
//! `DIR/NODE.hook`.
//!
//! Daemons are killed and namespaces removed in `Drop`, also on panic;
//! `ORBIT_KEEP=1` keeps the directory (configs, logs, journals).

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
    /// The orbitd binary (orbitctl is beside it).
    orbitd: String,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        crate::kill_and_clean_up(self.daemons.iter_mut().flatten(), &self.dir);
    }
}

impl Cluster {
    /// Starts the three daemons (`orbitd`, the test's
    /// `env!("CARGO_BIN_EXE_orbitd")`; web prefers a, db prefers b) and
    /// waits until every member has authority and web is at a, db at b.
    pub fn start(tag: &str, orbitd: &str) -> Cluster {
        Cluster::start_with(tag, orbitd, |_, _| String::new())
    }

    /// The same, with `more(node, dir)` appended to each member's config.
    pub fn start_with(tag: &str, orbitd: &str, more: impl Fn(&str, &Path) -> String) -> Cluster {
        Cluster::start_edited(tag, orbitd, |node, dir, text| text + &more(node, dir))
    }

    /// The same, each member's config as `edit(node, dir, config)` makes
    /// it (e.g. keys added to its `[node]` table).
    pub fn start_edited(
        tag: &str,
        orbitd: &str,
        edit: impl Fn(&str, &Path, String) -> String,
    ) -> Cluster {
        Cluster::start_edited_with_args(tag, orbitd, &[], edit)
    }

    /// [`Cluster::start_edited`] with `args` for each orbitd (e.g.
    /// `--log-format json`).
    pub fn start_edited_with_args(
        tag: &str,
        orbitd: &str,
        args: &[&str],
        edit: impl Fn(&str, &Path, String) -> String,
    ) -> Cluster {
        crate::assert_root("operator control tests");
        let dir = std::env::temp_dir().join(format!(
            "orbit-control-{tag}-{}-{}",
            std::process::id(),
            crate::netns::unique()
        ));
        std::fs::create_dir_all(&dir).expect("test directory");
        let mesh = Mesh::new(tag);
        let daemons = mesh
            .start_orbitd_with_args(orbitd, &dir, args, |node| {
                edit(node, &dir, config(node, &dir))
            })
            .into_iter()
            .map(Some)
            .collect();
        let mut c = Cluster {
            daemons,
            mesh,
            dir,
            orbitd: orbitd.to_owned(),
        };
        c.eventually("every member in authority, web at a and db at b", |c| {
            NODES.iter().all(|node| {
                c.status(node).is_some_and(|s| {
                    // The witness places nothing.
                    let placed = *node == "w"
                        || (active(&s, "web") == Some("a") && active(&s, "db") == Some("b"));
                    s["engine"]["fenced"] == false && s["engine"]["synced"] == true && placed
                })
            })
        });
        c
    }

    pub fn socket(&self, node: &str) -> PathBuf {
        self.dir.join(format!("{node}.sock"))
    }

    /// `GET path` at `node`: (status, body); `None` while it does not
    /// listen.
    pub fn get(&self, node: &str, path: &str) -> Option<(u16, String)> {
        let socket = self.socket(node);
        UnixStream::connect(&socket).ok()?;
        Some(crate::orbitd::http(&socket, "GET", path, ""))
    }

    /// Writes `text` as `node`'s config file and sends it SIGHUP.
    pub fn reload(&self, node: &str, text: &str) {
        let i = NODES.iter().position(|n| *n == node).expect("a, b or w");
        let child = self.daemons[i].as_ref().expect("orbitd is running");
        std::fs::write(self.dir.join(format!("{node}.toml")), text).expect("config file");
        crate::sh(&["kill", "-HUP", &child.id().to_string()]);
    }

    pub fn status(&self, node: &str) -> Option<Value> {
        let socket = self.socket(node);
        UnixStream::connect(&socket).ok()?;
        let (code, body) = crate::orbitd::http(&socket, "GET", "/v1/status", "");
        (code == 200).then(|| serde_json::from_str(&body).ok())?
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
            .map(|l| serde_json::from_str(l).expect("a journal line of JSON"))
            .collect()
    }

    pub fn kill(&mut self, node: &str) {
        let i = NODES.iter().position(|n| *n == node).expect("a, b or w");
        let mut child = self.daemons[i].take().expect("a running member");
        child.kill().expect("kill orbitd");
        child.wait().expect("reap orbitd");
    }

    /// Whether member `node`'s packets can leave it (its /32 routes toward
    /// the two others): without them it still hears everybody, nobody
    /// hears it.
    pub fn outbound(&self, node: &str, on: bool) {
        let ns = self.mesh.ns(node);
        // (peer, next hop) from `Mesh`'s link plan, as seen from a.
        assert_eq!(node, "a", "only a's routes are known here");
        for (peer, via) in [("10.0.0.2/32", "10.0.12.2"), ("10.0.0.3/32", "10.0.13.2")] {
            if on {
                crate::sh(&["ip", "-n", &ns, "route", "replace", peer, "via", via]);
            } else {
                crate::sh(&["ip", "-n", &ns, "route", "del", peer]);
            }
        }
    }

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
                "timed out after {LIMIT:?} waiting for {what}\n--- a ---\n{}\n--- b ---\n{}",
                self.log("a"),
                self.log("b")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log(&self, node: &str) -> String {
        let text =
            std::fs::read_to_string(self.dir.join(format!("{node}.log"))).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

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
