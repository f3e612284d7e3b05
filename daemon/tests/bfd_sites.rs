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
use std::process::Child;
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
    let service = if node == "w" {
        ""
    } else {
        "[[service]]\nid = \"web\"\nprefixes = [\"203.0.113.10/32\"]\nsites = [\"a\", \"b\"]\n"
    };
    format!(
        r#"
{members}[detect]
key_file = "{d}/key"
profile = "lan"
probe_interval = "2s"
suspect_after = "30s"
[bfd]
interval = "50ms"
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
        d = dir.display(),
        members = Mesh::cluster_config(node, dir),
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
        c.daemons = c
            .mesh
            .start_orbitd(env!("CARGO_BIN_EXE_orbitd"), &dir, |node| {
                config(node, &dir)
            });
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
        // orbitctl --json keys sites by id.
        let s = status["engine"]["sites"].get(site)?.clone();
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
        status["detect"]["members"][site].clone()
    }

    fn active(&self, node: &str) -> Option<String> {
        let status = self.status(node)?;
        status["engine"]["services"]["web"]["active"]
            .as_str()
            .map(str::to_owned)
    }
}

/// How many lines of `log` say BFD toward member `site` turned `to`
/// (`alive`, `dead`, or `unknown`: the opinion withdrawn).
fn bfd_said(log: &str, site: &str, to: &str) -> usize {
    log.lines()
        .filter(|l| {
            l.contains("kind=bfd_member")
                && l.contains(&format!(" site={site} "))
                && l.ends_with(&format!(" to={to}"))
        })
        .count()
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
                .filter(|l| l.contains("kind=bfd_member") && l.contains(" to=alive"))
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
        bfd_said(&c.log("b"), "a", "dead") == 0,
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
            ["MEMBER", "LOCAL", "VERDICT", "HEARD", "SWIM", "DATA", "PLANE", "BFD"]
                .map(String::from)
                .to_vec()
        ),
        "{text}"
    );
    assert_eq!(row("a").unwrap()[1], "dead", "{text}");
    let (code, metrics) = orbit_tests::orbitd::http(&c.socket("b"), "GET", "/metrics", "");
    assert_eq!(code, 200);
    for line in [
        "orbit_detect_view{site=\"a\",view=\"dead\"} 1",
        "orbit_detect_view{site=\"w\",view=\"alive\"} 1",
        "orbit_detect_source_alive{site=\"a\",source=\"bfd\"} 0",
        "orbit_detect_source_alive{site=\"w\",source=\"bfd\"} 1",
        "orbit_detect_isolated 0",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in\n{metrics}"
        );
    }
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("orbit_gossip_packets_in_total ") && !l.ends_with(" 0")),
        "{metrics}"
    );
    assert!(
        bfd_said(&c.log("b"), "a", "dead") > 0,
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
    let from_b = |c: &Cluster, to: &str| bfd_said(&c.log("b"), "a", to);
    // The sessions are in b's status, and a reload with new timers changes
    // them on the live sessions (a Poll Sequence), without a flap.
    let multihop_at = |c: &Cluster, node: &str| -> Vec<Value> {
        c.status(node).unwrap()["bfd"]
            .as_object()
            .unwrap()
            .values()
            .filter(|s| s["hop"] == "multihop")
            .cloned()
            .collect()
    };
    let multihop = |c: &Cluster| multihop_at(c, "b");
    let all_up = |s: &[Value]| s.len() == 2 && s.iter().all(|s| s["state"] == "up");
    eventually("b's sessions up again", Duration::from_secs(10), &c, || {
        all_up(&multihop(&c))
    });

    // A BFD helper that crashes is started again and told every session:
    // a's sessions come back Up under a new helper process.
    let helper_of_a = |c: &Cluster| -> Option<String> {
        let pids = orbit_tests::sh(&["ip", "netns", "pids", &c.mesh.ns("a")]);
        pids.split_whitespace()
            .find(|p| {
                std::fs::read_to_string(format!("/proc/{p}/cmdline"))
                    .is_ok_and(|cmd| cmd.contains("bfd-helper"))
            })
            .map(str::to_owned)
    };
    let crashed = helper_of_a(&c).expect("a's BFD helper runs");
    orbit_tests::sh(&["kill", "-KILL", &crashed]);
    eventually(
        "a's sessions up under a new helper",
        Duration::from_secs(15),
        &c,
        || helper_of_a(&c).is_some_and(|p| p != crashed) && all_up(&multihop_at(&c, "a")),
    );
    eventually(
        "a alive at b after the restart",
        Duration::from_secs(10),
        &c,
        || c.site("b", "a") == Some((false, vec![])) && all_up(&multihop(&c)),
    );
    let dead_before = from_b(&c, "dead");
    let cfg_b = c.dir.path().join("b.toml");
    let text = std::fs::read_to_string(&cfg_b).unwrap();
    std::fs::write(
        &cfg_b,
        text.replace("interval = \"50ms\"", "interval = \"100ms\""),
    )
    .unwrap();
    orbit_tests::sh(&["kill", "-HUP", &c.daemons[1].id().to_string()]);
    eventually(
        "b's sessions at 100 ms",
        Duration::from_secs(10),
        &c,
        || {
            let s = multihop(&c);
            s.len() == 2
                && s.iter()
                    .all(|s| s["state"] == "up" && s["tx_interval_us"] == 100_000)
        },
    );
    assert_eq!(from_b(&c, "dead"), dead_before, "a reload flapped BFD");

    let withdrawn_before = from_b(&c, "unknown");
    orbit_tests::sh(&["kill", "-TERM", &pid_a]);
    eventually(
        "b to hear a's AdminDown",
        Duration::from_secs(20),
        &c,
        || from_b(&c, "unknown") > withdrawn_before,
    );
    // The point: time for a wrong Dead to follow the withdrawal.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(from_b(&c, "dead"), dead_before);
    assert_eq!(c.site("b", "a"), Some((false, vec![])));
}
