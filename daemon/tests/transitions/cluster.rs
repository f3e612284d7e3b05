//! Three real orbitd (sites a and b, witness w) in the namespaces of an
//! `orbit_tests::mesh::Mesh`, with a `[hook]` at a and b that records every
//! steering it is handed, with the time it ran, to a file per site.
//!
//! Everything the test asserts on is read from what the daemons leave
//! behind: the hook files (what the data plane was told, and when) and the
//! journals (`state_dir/journal.jsonl`). The status API only paces the
//! scenario. Daemons are killed and namespaces removed in `Drop`, also on
//! panic; `ORBIT_KEEP=1` keeps the directory (configs, logs, hook files,
//! journals) for a post-mortem.

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use orbit_tests::mesh::{Mesh, NODES};
use serde_json::Value;

use crate::timeline::{self, now_us, Findings, Marks, Observed};

/// The two sites that carry `web`, in priority order.
pub const SITES: [&str; 2] = ["a", "b"];

/// `[policy] failback_after` of every member.
pub const FAILBACK_AFTER: Duration = Duration::from_secs(10);

/// Member BFD (`[bfd] sites = true`) at 50 ms x 3, or gossip alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detection {
    Gossip,
    GossipAndBfd,
}

/// A directory removed on drop unless `ORBIT_KEEP` is set.
#[derive(Debug)]
struct Dir(PathBuf);

impl Drop for Dir {
    fn drop(&mut self) {
        if std::env::var_os("ORBIT_KEEP").is_some() {
            eprintln!("ORBIT_KEEP: kept {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

pub struct Cluster {
    pub detection: Detection,
    /// What the test did to the cluster, and when.
    pub marks: Marks,
    daemons: Vec<Child>,
    /// Members the test stopped on purpose (not a failure while stopped).
    stopped: Vec<&'static str>,
    pub mesh: Mesh,
    // Dropped after the daemons (fields drop in order) and the mesh.
    dir: Dir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for d in &mut self.daemons {
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}

impl Cluster {
    /// Writes the configs and starts the three daemons; returns once every
    /// API socket answers.
    /// Waits (at most `limit`) until a's hook says web is active and every
    /// member has stayed settled for a second: the first verdicts have
    /// travelled everywhere and nothing is pending. Marks the moment.
    pub fn settle(&mut self, limit: Duration) {
        self.eventually("a's hook to say web active", limit, |c| {
            c.hook_says_active("a")
        });
        self.eventually("every member settled for 1 s", limit, |c| {
            let settled = |c: &Cluster| c.settled() && c.hook_says_active("a");
            settled(c) && {
                std::thread::sleep(Duration::from_secs(1));
                settled(c)
            }
        });
        self.marks.settled = now_us();
    }

    pub fn start(detection: Detection) -> Cluster {
        let tag = match detection {
            Detection::Gossip => "tg",
            Detection::GossipAndBfd => "tb",
        };
        Cluster::start_with(detection, tag, |_| String::new())
    }

    /// As `start`, in a mesh tagged `tag`, with `extra(site)` appended to
    /// the configs of sites a and b (another backend, say).
    pub fn start_with(detection: Detection, tag: &str, extra: impl Fn(&str) -> String) -> Cluster {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "orbit-transitions-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut c = Cluster {
            detection,
            marks: Marks::default(),
            daemons: Vec::new(),
            stopped: Vec::new(),
            mesh: Mesh::new(tag),
            dir: Dir(dir.clone()),
        };
        c.daemons = c
            .mesh
            .start_orbitd(env!("CARGO_BIN_EXE_orbitd"), &dir, |node| {
                let mut text = config(node, &dir, detection);
                if node != "w" {
                    text += &extra(node);
                }
                text
            });
        for node in NODES {
            c.eventually(
                &format!("{node}'s API socket"),
                Duration::from_secs(30),
                |c| UnixStream::connect(c.socket(node)).is_ok(),
            );
        }
        c
    }

    pub fn dir(&self) -> &Path {
        &self.dir.0
    }

    fn socket(&self, node: &str) -> PathBuf {
        self.dir().join(format!("{node}.sock"))
    }

    pub fn hook_file(&self, site: &str) -> PathBuf {
        self.dir().join(format!("{site}.hook"))
    }

    pub fn journal_file(&self, node: &str) -> PathBuf {
        self.dir()
            .join(format!("{node}-state"))
            .join("journal.jsonl")
    }

    pub fn log(&self, node: &str) -> String {
        std::fs::read_to_string(self.dir().join(format!("{node}.log"))).unwrap_or_default()
    }

    /// Panics if a daemon exited: every later wait would only time out.
    fn check_alive(&mut self) {
        for (i, node) in NODES.iter().enumerate() {
            if self.stopped.contains(node) {
                continue;
            }
            if let Ok(Some(status)) = self.daemons[i].try_wait() {
                panic!(
                    "orbitd {node} exited ({status}):\n{}",
                    tail(&self.log(node), 40)
                );
            }
        }
    }

    /// `GET /v1/status` at `node`, or `None` while it does not answer.
    pub fn status(&self, node: &str) -> Option<Value> {
        let socket = self.socket(node);
        // `http` panics on a refused connection; a daemon that is busy
        // starting (or gone, which `check_alive` reports) is not a failure
        // of the status call.
        UnixStream::connect(&socket).ok()?;
        let (code, body) = orbit_tests::orbitd::http(&socket, "GET", "/v1/status", "");
        (code == 200).then(|| serde_json::from_str(&body).ok())?
    }

    /// `GET /metrics` at `node` (Prometheus text), or `None` while it does
    /// not answer.
    pub fn metrics(&self, node: &str) -> Option<String> {
        let socket = self.socket(node);
        UnixStream::connect(&socket).ok()?;
        let (code, body) = orbit_tests::orbitd::http(&socket, "GET", "/metrics", "");
        (code == 200).then_some(body)
    }

    /// `node`'s engine's view of `site`: (declared dead, members voting dead).
    pub fn site_view(&self, node: &str, site: &str) -> Option<(bool, usize)> {
        let status = self.status(node)?;
        let s = status["engine"]["sites"]
            .as_array()?
            .iter()
            .find(|s| s["id"] == site)?
            .clone();
        Some((s["dead"] == true, s["dead_votes"].as_array()?.len()))
    }

    /// Every member has authority (not fenced, synced), nobody is declared
    /// dead or voted dead anywhere, and with member BFD every member's two
    /// multihop sessions are up.
    pub fn settled(&self) -> bool {
        NODES.iter().all(|node| {
            let Some(status) = self.status(node) else {
                return false;
            };
            let engine = &status["engine"];
            let sites_ok = engine["sites"].as_array().is_some_and(|sites| {
                sites.iter().all(|s| {
                    s["dead"] == false && s["dead_votes"].as_array().is_some_and(Vec::is_empty)
                })
            });
            let bfd_ok = self.detection == Detection::Gossip
                || status["bfd"].as_array().is_some_and(|sessions| {
                    sessions
                        .iter()
                        .filter(|s| s["hop"] == "multihop" && s["state"] == "up")
                        .count()
                        == 2
                });
            engine["fenced"] == false && engine["synced"] == true && sites_ok && bfd_ok
        })
    }

    /// The last steering `site`'s hook received: (fenced, web's local role).
    pub fn last_hook(&self, site: &str) -> Option<(bool, String)> {
        let text = std::fs::read_to_string(self.hook_file(site)).ok()?;
        let line = text.lines().last()?;
        let (_, json) = line.split_once(' ')?;
        let v: Value = serde_json::from_str(json).ok()?;
        Some((
            v["fenced"] == true,
            v["services"]["web"]["local_role"].as_str()?.to_owned(),
        ))
    }

    /// `site`'s hook was last told: not fenced, web active.
    pub fn hook_says_active(&self, site: &str) -> bool {
        self.last_hook(site) == Some((false, "active".to_owned()))
    }

    /// SIGTERM to `node`'s orbitd; waits (at most `limit`) for it to exit
    /// and returns its exit code.
    pub fn terminate(&mut self, node: &'static str, limit: Duration) -> Option<i32> {
        let i = NODES.iter().position(|n| *n == node).unwrap();
        self.stopped.push(node);
        let pid = self.daemons[i].id().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM {pid}");
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.daemons[i].try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "orbitd {node} did not exit within {limit:?} of SIGTERM:\n{}",
            tail(&self.log(node), 40)
        );
    }

    /// Starts `node`'s orbitd again with the same config and state dir
    /// (a new process: a new gossip generation), logging to NODE-2.log.
    pub fn restart(&mut self, node: &'static str) {
        let i = NODES.iter().position(|n| *n == node).unwrap();
        let _ = self.daemons[i].kill();
        let _ = self.daemons[i].wait();
        let cfg = self.dir().join(format!("{node}.toml"));
        let log = std::fs::File::create(self.dir().join(format!("{node}-2.log"))).unwrap();
        self.daemons[i] = self
            .mesh
            .command(node, env!("CARGO_BIN_EXE_orbitd"))
            .arg("--config")
            .arg(&cfg)
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.stopped.retain(|n| *n != node);
        self.eventually(
            &format!("{node}'s API socket after the restart"),
            Duration::from_secs(30),
            |c| UnixStream::connect(c.socket(node)).is_ok(),
        );
    }

    /// Cuts every link of site a (the instant is taken just before).
    pub fn cut_a(&mut self) {
        self.marks.cuts.push(now_us());
        self.links("a", false);
    }

    /// Restores every link of site a (the instant is taken just after).
    pub fn restore_a(&mut self) {
        self.links("a", true);
        self.marks.restores.push(now_us());
    }

    fn links(&self, node: &str, up: bool) {
        for other in NODES.iter().filter(|n| **n != node) {
            self.mesh.link(node, other, up);
        }
    }

    /// The hook files and journals as they are now.
    pub fn observe(&self) -> Observed {
        let mut obs = Observed::default();
        for site in SITES {
            obs.hooks
                .insert(site.to_owned(), timeline::read_hook(&self.hook_file(site)));
        }
        for node in NODES {
            obs.decisions
                .extend(timeline::read_journal(node, &self.journal_file(node)));
        }
        obs.decisions.sort_by_key(|d| d.t);
        obs
    }

    /// Every check over what happened up to `end` (now if `None`).
    pub fn findings(&self, end: Option<timeline::Us>) -> Findings {
        let mut marks = self.marks.clone();
        marks.end = end.unwrap_or_else(now_us);
        timeline::analyse(&self.observe(), &marks)
    }

    /// Polls `ok` every 20 ms; after `limit`, panics naming `what` with the
    /// checks over what happened so far and the tail of every daemon's log.
    pub fn eventually(
        &mut self,
        what: &str,
        limit: Duration,
        mut ok: impl FnMut(&Cluster) -> bool,
    ) {
        let deadline = Instant::now() + limit;
        loop {
            self.check_alive();
            if ok(self) {
                return;
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "timed out after {limit:?} waiting for {what}\n{}\n--- a ---\n{}\n--- b ---\n{}\n--- w ---\n{}",
            self.findings(None).render(&format!("{:?}", self.detection)),
            tail(&self.log("a"), 30),
            tail(&self.log("b"), 30),
            tail(&self.log("w"), 30)
        );
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn config(node: &str, dir: &Path, detection: Detection) -> String {
    let d = dir.display();
    let site_part = if node == "w" {
        String::new()
    } else {
        // One line per steering: the time the hook ran (bash's
        // EPOCHREALTIME, µs, taken before anything else, no fork) and the
        // steering JSON (compact, one line, on stdin without a newline).
        let hook = format!(
            "t=$EPOCHREALTIME; IFS= read -r j; printf '%s %s\\n' \"$t\" \"$j\" >> {d}/{node}.hook"
        );
        format!(
            "[[service]]\nid = \"web\"\nprefixes = [\"203.0.113.10/32\"]\nsites = [\"a\", \"b\"]\n\
             [hook]\ncommand = [\"/bin/bash\", \"-c\", {hook:?}]\ntimeout = \"5s\"\n"
        )
    };
    let bfd = match detection {
        Detection::Gossip => String::new(),
        Detection::GossipAndBfd => format!(
            "[bfd]\ninterval = \"50ms\"\nmultiplier = 3\nsites = true\n\
             [bfd.auth]\ntype = \"meticulous-keyed-sha1\"\nkey_id = 7\nkey_file = \"{d}/bfd-key\"\n"
        ),
    };
    format!(
        r#"
{members}[detect]
key_file = "{d}/key"
profile = "metro-fast"
{bfd}
[policy]
failover_hold = "0s"
failback = "after"
failback_after = "{}s"
sync_timeout = "1s"
{site_part}"#,
        FAILBACK_AFTER.as_secs(),
        members = Mesh::cluster_config(node, dir),
    )
}
