//! Three real detection nodes (site a, site b, witness w), each in its own
//! network namespace created here, running `orbit-detect-node` (gossip,
//! data-plane probes and a real engine) as separate processes.
//!
//! Topology: `orbit_tests::mesh` (a full mesh of veth pairs, a /32 on `lo`
//! per node: 10.0.0.1 a, .2 b, .3 w) and, for a and b, a stand-in data plane (`orbit-detect-node listen`, a separate process, so
//! freezing the daemon leaves it up) on port 8080; w does not forward, so
//! cutting a–b really cuts it.
//! Needs root (CI runs as root).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orbit_tests::mesh::{Mesh, NODES};
use orbit_tests::sh;

const BIN: &str = env!("CARGO_BIN_EXE_orbit-detect-node");

struct Node {
    daemon: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

struct Lab {
    _dir: tempfile::TempDir,
    nodes: Vec<Node>,
    planes: Vec<Child>,
    // Dropped last: the processes above are killed first.
    mesh: Mesh,
}

impl Lab {
    fn ns(&self, node: &str) -> String {
        self.mesh.ns(node)
    }

    fn new(test: &str) -> Lab {
        let mut lab = Lab {
            _dir: tempfile::tempdir().unwrap(),
            nodes: Vec::new(),
            planes: Vec::new(),
            mesh: Mesh::new(test),
        };
        let key = lab._dir.path().join("key");
        std::fs::write(&key, "namespace test key, 32 bytes....").unwrap();
        for (i, n) in NODES.iter().enumerate() {
            if *n != "w" {
                let plane = Command::new("ip")
                    .args(["netns", "exec", &lab.ns(n), BIN, "listen"])
                    .arg(format!("10.0.0.{}:8080", i + 1))
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap();
                lab.planes.push(plane);
            }
        }
        // Until every data-plane listener is bound: the daemons probe them.
        for n in NODES.iter().filter(|n| **n != "w") {
            let ns = lab.ns(n);
            orbit_tests::wait_until(
                Duration::from_secs(30),
                Duration::from_millis(10),
                &format!("the data-plane listener in {n}"),
                || {
                    !orbit_tests::sh(&["ip", "netns", "exec", &ns, "ss", "-Hltn", "sport = :8080"])
                        .trim()
                        .is_empty()
                },
            );
        }
        for n in NODES {
            let cfg = lab._dir.path().join(format!("{n}.toml"));
            std::fs::write(&cfg, config(n, &key)).unwrap();
            let mut daemon = Command::new("ip")
                .args(["netns", "exec", &lab.ns(n), BIN, "daemon"])
                .arg(&cfg)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let out = daemon.stdout.take().unwrap();
            let lines = Arc::new(Mutex::new(Vec::new()));
            let sink = lines.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(out).lines() {
                    let Ok(l) = l else { return };
                    sink.lock().unwrap().push(l);
                }
            });
            lab.nodes.push(Node { daemon, lines });
        }
        lab
    }

    fn decisions(&self, node: usize) -> Vec<serde_json::Value> {
        self.nodes[node]
            .lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| l.strip_prefix("decision "))
            .filter_map(|l| l.split_once(' '))
            .map(|(_, json)| serde_json::from_str(json).unwrap())
            .collect()
    }

    /// `(node, site)` for every Dead declaration made so far.
    fn dead(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        for (i, n) in NODES.iter().enumerate() {
            for d in self.decisions(i) {
                let c = &d["change"];
                if c["kind"] == "site_liveness" && c["dead"] == true {
                    v.push((n.to_string(), c["site"].as_str().unwrap().to_owned()));
                }
            }
        }
        v
    }

    fn fenced_now(&self, node: usize) -> bool {
        self.decisions(node)
            .iter()
            .rfind(|d| d["change"]["kind"] == "fenced")
            .is_some_and(|d| d["change"]["fenced"] == true)
    }

    /// Waits until every node is unfenced (it sees a quorum) and both
    /// sites have placed web.
    fn settle(&self) {
        let placed = |i: usize| {
            self.decisions(i)
                .iter()
                .any(|d| d["change"]["kind"] == "service_moved" && !d["change"]["to"].is_null())
        };
        for _ in 0..100 {
            std::thread::sleep(Duration::from_millis(100));
            if (0..3).all(|i| {
                self.decisions(i)
                    .iter()
                    .any(|d| d["change"]["kind"] == "fenced" && d["change"]["fenced"] == false)
                    && !self.fenced_now(i)
            }) && placed(0)
                && placed(1)
            {
                return;
            }
        }
        panic!(
            "lab never settled: {:?}",
            self.nodes[0].lines.lock().unwrap()
        );
    }

    fn link(&self, x: &str, y: &str, up: bool) {
        self.mesh.link(x, y, up);
    }

    fn signal(&self, node: usize, sig: &str) {
        sh(&["kill", sig, &self.nodes[node].daemon.id().to_string()]);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            let _ = Command::new("kill")
                .args(["-CONT", &n.daemon.id().to_string()])
                .status();
            let _ = n.daemon.kill();
            let _ = n.daemon.wait();
        }
        for p in &mut self.planes {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

fn config(node: &str, key: &std::path::Path) -> String {
    let service = if node == "w" {
        ""
    } else {
        "[[service]]\nid = \"web\"\nprefixes = [\"203.0.113.10/32\"]\nsites = [\"a\", \"b\"]\n"
    };
    format!(
        r#"
[node]
site = "{node}"
role = "{role}"
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
profile = "metro-fast"
key_file = "{key}"
[detect.probe]
a = "10.0.0.1:8080"
b = "10.0.0.2:8080"
{service}
"#,
        role = if node == "w" { "witness" } else { "site" },
        key = key.display(),
    )
}

#[test]
fn cutting_a_off_makes_b_and_w_declare_it_dead_and_b_take_over() {
    let lab = Lab::new("x");
    lab.settle();
    assert!(lab.dead().is_empty(), "{:?}", lab.dead());
    let t0 = std::time::Instant::now();
    lab.link("a", "b", false);
    lab.link("a", "w", false);
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let dead = lab.dead();
        let by = |n: &str| dead.iter().any(|(o, s)| o == n && s == "a");
        if by("b") && by("w") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "a not declared dead: {dead:?}"
        );
    }
    eprintln!("a declared dead by b and w after {:?}", t0.elapsed());
    let moved_to_b = || {
        lab.decisions(1)
            .iter()
            .any(|d| d["change"]["kind"] == "service_moved" && d["change"]["to"] == "b")
    };
    orbit_tests::wait_until(
        Duration::from_secs(10),
        Duration::from_millis(20),
        "b to move web and a to fence",
        || moved_to_b() && lab.fenced_now(0),
    );
    let moved = moved_to_b();
    assert!(moved, "b's engine moved web to b");
    assert!(lab.fenced_now(0), "a, cut off, fenced itself");
}

#[test]
fn cutting_only_a_to_b_fails_nothing_over() {
    let lab = Lab::new("y");
    lab.settle();
    lab.link("a", "b", false);
    // The point: a window in which a wrong failover would happen.
    std::thread::sleep(Duration::from_secs(5));
    assert!(lab.dead().is_empty(), "{:?}", lab.dead());
    assert!(!lab.fenced_now(0) && !lab.fenced_now(1));
}

#[test]
fn freezing_a_for_two_seconds_fails_nothing_over() {
    let lab = Lab::new("z");
    lab.settle();
    lab.signal(0, "-STOP");
    // Scenario: a is frozen this long, then watched for a wrong failover.
    std::thread::sleep(Duration::from_secs(2));
    lab.signal(0, "-CONT");
    std::thread::sleep(Duration::from_secs(4));
    assert!(lab.dead().is_empty(), "{:?}", lab.dead());
    for (i, n) in NODES.iter().enumerate() {
        assert!(!lab.fenced_now(i), "{n} fenced");
    }
    // b saw a's daemon go silent (a Suspect verdict), not a dead site.
    let saw = lab.nodes[1].lines.lock().unwrap().iter().any(|l| {
        l.starts_with("event ")
            && l.contains(r#""observer":"b","subject":"a","liveness":"suspect""#)
    });
    assert!(saw, "the freeze went unnoticed");
}

/// 10% random loss on every inter-site link (input of every namespace) for
/// 20 s — long enough for ~200 probe rounds per member at metro-fast, short
/// enough for CI; the 60 s variant runs in the simulation.
#[test]
fn ten_percent_loss_fails_nothing_over() {
    let lab = Lab::new("l");
    lab.settle();
    for n in NODES {
        let ns = lab.ns(n);
        sh(&[
            "ip", "netns", "exec", &ns, "nft", "add", "table", "inet", "loss",
        ]);
        sh(&[
            "ip",
            "netns",
            "exec",
            &ns,
            "nft",
            "add",
            "chain",
            "inet",
            "loss",
            "in",
            "{ type filter hook input priority 0 ; }",
        ]);
        sh(&[
            "ip", "netns", "exec", &ns, "nft", "add", "rule", "inet", "loss", "in", "iifname",
            "!=", "lo", "numgen", "random", "mod", "100", "<", "10", "drop",
        ]);
    }
    std::thread::sleep(Duration::from_secs(20));
    assert!(lab.dead().is_empty(), "{:?}", lab.dead());
    for (i, n) in NODES.iter().enumerate() {
        assert!(!lab.fenced_now(i), "{n} fenced");
    }
}
