//! Operator safety rails and "who did what", against three real orbitd
//! (sites a and b, witness w) in the namespaces of an
//! `orbit_tests::mesh::Mesh`, driven with the real `orbitctl`:
//! - a drain that would leave services without any site is refused,
//!   naming them, and carried out with `--force`; the journal says who
//!   (uid and pid from the unix socket's peer credentials) and why;
//! - two operators at two sites issue switchovers concurrently: the one
//!   whose command lost is told, in its journal, by what, where and when,
//!   and what its command moved goes where the winning intent puts it;
//! - observer mode set at one member holds for every member: a command
//!   issued at another is decided everywhere and applied nowhere (each
//!   site steers its own real HAProxy).
//!
//! Daemons are killed and namespaces removed in `Drop`, also on panic;
//! `ORBIT_KEEP=1` keeps the directory (configs, logs, journals).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use orbit_tests::mesh::{Mesh, NODES};
use serde_json::Value;

/// Generous: a shared, loaded machine.
const LIMIT: Duration = Duration::from_secs(60);

struct Cluster {
    daemons: Vec<Option<Child>>,
    mesh: Mesh,
    dir: PathBuf,
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
    /// Starts the three daemons (web prefers a, db prefers b) and waits
    /// until every member has authority and web is at a, db at b.
    fn start(tag: &str) -> Cluster {
        Cluster::start_with(tag, |_, _| String::new())
    }

    /// The same, with `more(node, dir)` appended to each member's config.
    fn start_with(tag: &str, more: impl Fn(&str, &Path) -> String) -> Cluster {
        orbit_tests::assert_root("operator control tests");
        let dir = std::env::temp_dir().join(format!(
            "orbit-control-{tag}-{}-{}",
            std::process::id(),
            orbit_tests::netns::unique()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mesh = Mesh::new(tag);
        let daemons = mesh
            .start_orbitd(env!("CARGO_BIN_EXE_orbitd"), &dir, |node| {
                config(node, &dir) + &more(node, &dir)
            })
            .into_iter()
            .map(Some)
            .collect();
        let mut c = Cluster { daemons, mesh, dir };
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

    fn socket(&self, node: &str) -> PathBuf {
        self.dir.join(format!("{node}.sock"))
    }

    fn status(&self, node: &str) -> Option<Value> {
        let socket = self.socket(node);
        UnixStream::connect(&socket).ok()?;
        let (code, body) = orbit_tests::orbitd::http(&socket, "GET", "/v1/status", "");
        (code == 200).then(|| serde_json::from_str(&body).ok())?
    }

    /// `orbitctl --socket NODE.sock ARGS`: (exit code, stdout, stderr, pid).
    fn orbitctl(&self, node: &str, args: &[&str]) -> (i32, String, String, u32) {
        orbit_tests::orbitd::orbitctl_with_pid(
            env!("CARGO_BIN_EXE_orbitd"),
            &self.socket(node),
            args,
        )
    }

    /// `orbitctl --json journal` at `node`, one entry per line.
    fn journal(&self, node: &str) -> Vec<Value> {
        let (code, out, err, _) = self.orbitctl(node, &["--json", "journal", "--limit", "1000"]);
        assert_eq!(code, 0, "orbitctl journal at {node}: {err}");
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn kill(&mut self, node: &str) {
        let i = NODES.iter().position(|n| *n == node).unwrap();
        let mut child = self.daemons[i].take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Whether member `node`'s packets can leave it (its /32 routes toward
    /// the two others): without them it still hears everybody, nobody
    /// hears it.
    fn outbound(&self, node: &str, on: bool) {
        let ns = self.mesh.ns(node);
        // (peer, next hop) from `Mesh`'s link plan, as seen from a.
        assert_eq!(node, "a", "only a's routes are known here");
        for (peer, via) in [("10.0.0.2/32", "10.0.12.2"), ("10.0.0.3/32", "10.0.13.2")] {
            if on {
                orbit_tests::sh(&["ip", "-n", &ns, "route", "replace", peer, "via", via]);
            } else {
                orbit_tests::sh(&["ip", "-n", &ns, "route", "del", peer]);
            }
        }
    }

    fn eventually(&mut self, what: &str, mut ok: impl FnMut(&Cluster) -> bool) {
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

    fn log(&self, node: &str) -> String {
        let text =
            std::fs::read_to_string(self.dir.join(format!("{node}.log"))).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

fn active<'a>(status: &'a Value, service: &str) -> Option<&'a str> {
    status["steering"]["services"][service]["active"].as_str()
}

fn config(node: &str, dir: &Path) -> String {
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

#[test]
fn drain_of_the_last_site_is_refused_without_force_and_journaled_with_who_and_why() {
    let mut c = Cluster::start("oc");
    c.kill("a");
    c.eventually("b to carry web and db after a died", |c| {
        c.status("b")
            .is_some_and(|s| active(&s, "web") == Some("b") && active(&s, "db") == Some("b"))
    });

    let (code, out, err, refused_pid) = c.orbitctl("b", &["drain", "b"]);
    assert_eq!(code, 1, "refused with exit 1: {out}{err}");
    assert!(
        err.contains("this would leave db, web without any site to carry them")
            && err.contains("add --force"),
        "the refusal names the services and the override: {err}"
    );
    let status = c.status("b").unwrap();
    assert_eq!(
        (active(&status, "web"), active(&status, "db")),
        (Some("b"), Some("b")),
        "a refused drain moves nothing"
    );

    // The witness places no services: it cannot judge a drain, so it
    // refuses one without --force rather than let every site adopt it.
    let (code, out, err, _) = c.orbitctl("w", &["drain", "b"]);
    assert_eq!(code, 1, "refused at the witness: {out}{err}");
    assert!(
        err.contains("site w places no services (a witness)") && err.contains("--force"),
        "{err}"
    );

    let (code, _, err, _) = c.orbitctl("b", &["drain", "b", "--reason", &"x".repeat(201)]);
    assert_eq!(code, 2, "a too long reason is a usage error: {err}");
    assert!(
        err.contains("reason is 201 characters long; at most 200 are allowed"),
        "{err}"
    );

    let (code, out, err, pid) = c.orbitctl(
        "b",
        &["drain", "b", "--force", "--reason", "CHG-42 power work"],
    );
    assert_eq!(code, 0, "forced drain: {out}{err}");
    assert!(
        out.contains("forced: db, web left without any site"),
        "{out}"
    );
    assert!(out.contains("web: b -> nowhere"), "{out}");
    let status = c.status("b").unwrap();
    assert_eq!(
        (active(&status, "web"), active(&status, "db")),
        (None, None)
    );

    // The journal, as text and as JSON, says who and why.
    let (code, text, err, _) = c.orbitctl("b", &["journal", "--limit", "1000"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains(&format!(
            "[by uid 0 pid {pid}, reason \"CHG-42 power work\", forced]"
        )),
        "the accepted command shows its origin, reason and force:\n{text}"
    );
    assert!(
        text.contains("refused drain: this would leave db, web without any site")
            && text.contains(&format!("[by uid 0 pid {refused_pid}]")),
        "the refusal is journaled with its origin:\n{text}"
    );
    let journal = c.journal("b");
    let accepted = journal
        .iter()
        .find(|e| e["decision"]["change"]["kind"] == "command_accepted")
        .expect("a command_accepted entry");
    let origin = &accepted["decision"]["change"]["origin"];
    assert_eq!(origin["client"]["via"], "unix", "{accepted}");
    assert_eq!(origin["client"]["uid"], 0, "{accepted}");
    assert_eq!(origin["client"]["pid"], pid, "{accepted}");
    assert_eq!(origin["reason"], "CHG-42 power work", "{accepted}");
    assert_eq!(accepted["decision"]["change"]["force"], true, "{accepted}");
}

#[test]
fn concurrent_switchovers_at_two_sites_tell_the_loser_by_what() {
    let mut c = Cluster::start("os");
    // Nothing leaves a for a moment: a hears everyone, nobody hears a, so
    // neither command can include the other, as when two operators type at
    // the same instant.
    c.outbound("a", false);
    let at_a = c.orbitctl(
        "a",
        &[
            "switchover",
            "--service",
            "db",
            "--to",
            "a",
            "--reason",
            "op1",
        ],
    );
    let at_b = c.orbitctl(
        "b",
        &[
            "switchover",
            "--service",
            "web",
            "--to",
            "b",
            "--reason",
            "op2",
        ],
    );
    c.outbound("a", true);
    assert_eq!(at_a.0, 0, "switchover at a: {}{}", at_a.1, at_a.2);
    assert_eq!(at_b.0, 0, "switchover at b: {}{}", at_b.1, at_b.2);

    // Equal epochs: the intent of site b wins the tie everywhere, so a's
    // command is the one lost.
    c.eventually("a's journal to report its command superseded", |c| {
        c.journal("a")
            .iter()
            .any(|e| e["decision"]["change"]["kind"] == "command_superseded")
    });
    let b_time = c
        .journal("b")
        .iter()
        .find(|e| e["decision"]["change"]["kind"] == "command_accepted")
        .and_then(|e| {
            e["decision"]["change"]["origin"]["at"]
                .as_str()
                .map(str::to_owned)
        })
        .expect("b's accepted switchover with its time");
    let clock = &b_time[11..19];
    let journal = c.journal("a");
    let superseded = journal
        .iter()
        .find(|e| e["decision"]["change"]["kind"] == "command_superseded")
        .unwrap();
    assert_eq!(
        superseded["decision"]["change"]["site"], "b",
        "{superseded}"
    );
    assert_eq!(
        superseded["decision"]["change"]["by"]["to"], "b",
        "{superseded}"
    );
    assert_eq!(
        superseded["decision"]["change"]["lost"]["to"], "a",
        "{superseded}"
    );
    let (code, text, err, _) = c.orbitctl("a", &["journal", "--limit", "1000"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains(&format!(
            "SUPERSEDED: the operator command issued here (switchover of db to site a) was \
             superseded by switchover of web to site b issued at site b at {clock} UTC"
        )),
        "{text}"
    );
    assert!(
        !c.journal("b")
            .iter()
            .any(|e| e["decision"]["change"]["kind"] == "command_superseded"),
        "the winner lost nothing"
    );
    // Nor does the lost command stay half in force: db goes back where the
    // winning intent puts it (its preferred site b), although failback is
    // manual, and every member agrees.
    c.eventually("db back at b, web at b, at both sites", |c| {
        ["a", "b"].iter().all(|node| {
            c.status(node)
                .is_some_and(|s| active(&s, "db") == Some("b") && active(&s, "web") == Some("b"))
        })
    });
    let (_, text, _, _) = c.orbitctl("a", &["journal", "--limit", "1000"]);
    assert!(
        text.contains(
            "the operator command that put db at site a was superseded by a concurrent one"
        ),
        "{text}"
    );
}

/// `[haproxy]` for a member that steers its own real HAProxy in `lb`.
fn haproxy_section(lb: &Path) -> String {
    format!(
        "[haproxy]\nsocket = \"{d}/haproxy.sock\"\nmap = \"{d}/orbit.map\"\ntimeout = \"2s\"\n\
         [haproxy.backends]\nweb = {{ a = \"be_web_a\", b = \"be_web_b\" }}\n\
         db = {{ a = \"be_db_a\", b = \"be_db_b\" }}\n",
        d = lb.display()
    )
}

#[test]
fn observer_mode_set_at_one_member_moves_nothing_anywhere() {
    orbit_tests::assert_root("operator control tests");
    // Each site's orbitd steers its own HAProxy: what the sites apply.
    let lbs = tempfile::tempdir().unwrap();
    let lb = |node: &str| {
        let dir = lbs.path().join(node);
        std::fs::create_dir_all(&dir).unwrap();
        let lb = orbit_tests::haproxy::Haproxy::new(
            &dir,
            &["be_web_a", "be_web_b", "be_db_a", "be_db_b"],
        );
        lb.write_map("web be_web_a\ndb be_db_b\n");
        lb
    };
    let (lb_a, lb_b) = (lb("a"), lb("b"));
    let _running = (lb_a.start(), lb_b.start());
    let routed = |web: &str| {
        [&lb_a, &lb_b]
            .iter()
            .all(|lb| lb.runtime_backend("web").as_deref() == Some(web))
    };
    let mut c = Cluster::start_with("ob", |node, _| match node {
        "w" => String::new(),
        site => haproxy_section(&lbs.path().join(site)),
    });
    c.eventually("every member ready (the maps confirmed)", |c| {
        NODES
            .iter()
            .all(|node| orbit_tests::orbitd::http(&c.socket(node), "GET", "/ready", "").0 == 200)
    });

    // Observer mode is set at a, and holds for every member.
    let (code, out, err, _) = c.orbitctl("a", &["observer", "on", "--reason", "CHG-7 audit"]);
    assert_eq!(code, 0, "{out}{err}");
    c.eventually("every member in observer mode", |c| {
        NODES.iter().all(|node| {
            c.status(node)
                .is_some_and(|s| s["engine"]["observer_mode"] == true)
        })
    });
    let adopted = c
        .journal("b")
        .into_iter()
        .find(|e| e["decision"]["change"]["kind"] == "observer_mode")
        .expect("b journals the observer mode it adopted");
    assert_eq!(adopted["decision"]["change"]["site"], "a", "{adopted}");

    // A switchover issued at another member is decided everywhere and
    // applied nowhere.
    let (code, out, err, _) = c.orbitctl("b", &["switchover", "--service", "web", "--to", "b"]);
    assert_eq!(code, 0, "{out}{err}");
    c.eventually("both sites to decide web at b", |c| {
        ["a", "b"].iter().all(|node| {
            c.status(node)
                .is_some_and(|s| active(&s, "web") == Some("b"))
        })
    });
    // Give a leak the time to show: backends write within milliseconds.
    std::thread::sleep(Duration::from_secs(1));
    assert!(routed("be_web_a"), "no HAProxy moved web in observer mode");
    for node in ["a", "b"] {
        let status = c.status(node).unwrap();
        let generation = &status["steering"]["generation"];
        assert!(
            status["backends"]
                .as_array()
                .unwrap()
                .iter()
                .all(|b| &b["applied_generation"] != generation),
            "{node} applied nothing in observer mode: {status}"
        );
    }

    // Off again, from the witness: the decided placement is applied.
    let (code, out, err, _) = c.orbitctl("w", &["observer", "off"]);
    assert_eq!(code, 0, "{out}{err}");
    c.eventually("both HAProxies to send web to b", |_| routed("be_web_b"));
}
