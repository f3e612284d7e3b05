//! Three orbitd daemons (sites a and b, witness w) in their own namespaces
//! with multihop BFD between them (`[bfd] sites = true`, 10 ms × 3,
//! meticulous keyed SHA1), and
//! SWIM slowed down so far (30 s suspicion) that only BFD can explain a
//! verdict within seconds: cutting all of a's links makes b and w report a
//! dead, the quorum declares it, and b takes a's service; restoring the
//! links brings a back; stopping a gracefully is not a failure. Needs root
//! (CI runs as root).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use orbit_tests::mesh::{Mesh, NODES};
use serde_json::Value;

struct Cluster {
    dir: tempfile::TempDir,
    daemons: Vec<Child>,
    // Dropped last: the daemons are killed first.
    mesh: Mesh,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for d in &mut self.daemons {
            let _ = d.kill();
            let _ = d.wait();
        }
    }
}

fn config(node: &str, dir: &Path) -> String {
    let (role, service) = if node == "w" {
        ("witness", "")
    } else {
        (
            "site",
            "[[service]]\nid = \"web\"\nprefixes = [\"203.0.113.10/32\"]\nsites = [\"a\", \"b\"]\n",
        )
    };
    format!(
        r#"
[node]
site = "{node}"
role = "{role}"
state_dir = "{d}/{node}-state"
api_socket = "{d}/{node}.sock"
[[site]]
id = "a"
gossip = "10.0.0.1:7946"
[[site]]
id = "b"
gossip = "10.0.0.2:7946"
[[site]]
id = "w"
gossip = "10.0.0.3:7946"
witness = true
[detect]
key_file = "{d}/key"
profile = "lan"
probe_interval = "2s"
suspect_after = "30s"
[bfd]
interval = "10ms"
multiplier = 3
sites = true
[bfd.auth]
type = "meticulous-keyed-sha1"
key_id = 7
key_file = "{d}/bfd-key"
[policy]
failover_hold = "0s"
failback = "manual"
sync_timeout = "1s"
{service}"#,
        d = dir.display()
    )
}

impl Cluster {
    fn new() -> Cluster {
        let mut c = Cluster {
            dir: tempfile::tempdir().unwrap(),
            daemons: Vec::new(),
            mesh: Mesh::new("bf"),
        };
        let dir = c.dir.path().to_owned();
        std::fs::write(dir.join("key"), "a-shared-secret-for-this-test-only").unwrap();
        std::fs::write(dir.join("bfd-key"), "twenty-byte-bfd-key\n").unwrap();
        for node in NODES {
            let cfg = dir.join(format!("{node}.toml"));
            std::fs::write(&cfg, config(node, &dir)).unwrap();
            let log = std::fs::File::create(dir.join(format!("{node}.log"))).unwrap();
            let child = c
                .mesh
                .command(node, env!("CARGO_BIN_EXE_orbitd"))
                .arg("--config")
                .arg(&cfg)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap();
            c.daemons.push(child);
        }
        c
    }

    fn socket(&self, node: &str) -> PathBuf {
        self.dir.path().join(format!("{node}.sock"))
    }

    fn log(&self, node: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{node}.log"))).unwrap_or_default()
    }

    /// `orbitctl status` at `node`, as text or as JSON.
    fn orbitctl_status(&self, node: &str, json: bool) -> Option<Vec<u8>> {
        let exe = Path::new(env!("CARGO_BIN_EXE_orbitd")).with_file_name("orbitctl");
        let out = std::process::Command::new(exe)
            .arg("--socket")
            .arg(self.socket(node))
            .args(if json {
                &["--json", "status"][..]
            } else {
                &["status"]
            })
            .output()
            .unwrap();
        out.status.success().then_some(out.stdout)
    }

    fn status(&self, node: &str) -> Option<Value> {
        let out = self.orbitctl_status(node, true)?;
        Some(serde_json::from_slice(&out).unwrap())
    }

    /// `node`'s engine's view of `site`: (declared dead, members voting dead).
    fn site(&self, node: &str, site: &str) -> Option<(bool, Vec<String>)> {
        let status = self.status(node)?;
        let s = status["engine"]["sites"]
            .as_array()?
            .iter()
            .find(|s| s["id"] == site)?
            .clone();
        let votes = s["dead_votes"]
            .as_array()?
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        Some((s["dead"] == true, votes))
    }

    /// What `node`'s detectors see of `site` (`detect.members[]`).
    fn evidence(&self, node: &str, site: &str) -> Value {
        let status = self.status(node).unwrap();
        status["detect"]["members"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["site"] == site)
            .unwrap()
            .clone()
    }

    fn active(&self, node: &str) -> Option<String> {
        let status = self.status(node)?;
        status["engine"]["services"][0]["active"]
            .as_str()
            .map(str::to_owned)
    }
}

fn eventually(what: &str, limit: Duration, c: &Cluster, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ok() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\n--- a ---\n{}\n--- b ---\n{}\n--- w ---\n{}",
            c.log("a"),
            c.log("b"),
            c.log("w")
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn bfd_between_members_finds_a_cut_site_long_before_gossip_would() {
    let c = Cluster::new();
    eventually(
        "a to carry web, seen by b",
        Duration::from_secs(30),
        &c,
        || c.active("b").as_deref() == Some("a"),
    );
    // Every member's BFD sessions to the two others came up.
    eventually("BFD up everywhere", Duration::from_secs(10), &c, || {
        NODES.iter().all(|n| {
            c.log(n)
                .lines()
                .filter(|l| l.contains("BFD toward member changed") && l.contains("Some(Alive)"))
                .count()
                >= 2
        })
    });
    assert_eq!(c.site("b", "a"), Some((false, vec![])));
    assert_eq!(c.evidence("b", "a")["sources"]["bfd"], "alive");

    // A stalled orbitd is not a path failure: its BFD sessions run in their
    // own process and keep answering through a 1 s SIGSTOP (30 ms would do).
    let pid_a = c.daemons[0].id().to_string();
    orbit_tests::sh(&["kill", "-STOP", &pid_a]);
    std::thread::sleep(Duration::from_secs(1));
    let during = c.evidence("b", "a");
    orbit_tests::sh(&["kill", "-CONT", &pid_a]);
    assert_eq!(during["sources"]["bfd"], "alive", "{during}");
    assert!(
        !c.log("b").contains("liveness=Some(Dead)"),
        "b saw a's BFD go down during the stall"
    );

    let cut = Instant::now();
    c.mesh.link("a", "b", false);
    c.mesh.link("a", "w", false);
    // SWIM alone would need its 30 s suspicion: well inside that, b and w
    // both vote a dead (w's vote reaches b by gossip) and b takes web.
    eventually(
        "b and w to declare a dead",
        Duration::from_secs(10),
        &c,
        || c.site("b", "a").is_some_and(|(dead, _)| dead),
    );
    let detected = cut.elapsed();
    let (_, votes) = c.site("b", "a").unwrap();
    assert_eq!(votes, ["b", "w"]);
    eventually("b to carry web", Duration::from_secs(5), &c, || {
        c.active("b").as_deref() == Some("b")
    });
    eprintln!("links cut -> a declared dead at b: {detected:?}");
    let seen = c.evidence("b", "a");
    assert_eq!(seen["sources"]["bfd"], "dead", "{seen}");
    assert_eq!(seen["view"], "dead", "{seen}");
    // SWIM has not given up on a yet: BFD alone explains the verdict.
    assert_ne!(seen["swim"], "down", "{seen}");
    let text = String::from_utf8(c.orbitctl_status("b", false).unwrap()).unwrap();
    let row = |first: &str| {
        // The last table with such a row: the evidence comes after the sites.
        text.lines()
            .rfind(|l| l.split_whitespace().next() == Some(first))
            .map(|l| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
    };
    assert_eq!(
        row("MEMBER"),
        Some(
            ["MEMBER", "LOCAL", "VERDICT", "SWIM", "DATA", "PLANE", "BFD"]
                .map(String::from)
                .to_vec()
        ),
        "{text}"
    );
    assert_eq!(row("a").unwrap()[1], "dead", "{text}");
    assert!(
        c.log("b").contains("liveness=Some(Dead)"),
        "b's BFD reported the cut"
    );

    // Links back: BFD comes up again and a is alive to everyone.
    c.mesh.link("a", "b", true);
    c.mesh.link("a", "w", true);
    eventually("a alive again at b", Duration::from_secs(20), &c, || {
        c.site("b", "a") == Some((false, vec![]))
    });

    // A graceful stop is not a path failure: a says AdminDown on its way
    // out (RFC 5880 §6.8.16), so b withdraws its BFD opinion instead of
    // voting a dead.
    let from_b = |c: &Cluster, what: &str| {
        c.log("b")
            .lines()
            .filter(|l| l.contains("BFD toward member changed site=a") && l.contains(what))
            .count()
    };
    let dead_before = from_b(&c, "Some(Dead)");
    orbit_tests::sh(&["kill", "-TERM", &pid_a]);
    eventually(
        "b to hear a's AdminDown",
        Duration::from_secs(20),
        &c,
        || from_b(&c, "liveness=None") == 1,
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(from_b(&c, "Some(Dead)"), dead_before);
    assert_eq!(c.site("b", "a"), Some((false, vec![])));
}
