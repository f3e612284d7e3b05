//! Disaster-recovery plans run by real orbitd processes (sites a and b and
//! a witness, gossiping on loopback), with real exec steps: shell commands
//! that append to a shared log.
//!
//! - a dies: b runs `promote` before it takes `db` over, then `notify`;
//!   when a is back it runs its `stop` (fence_old) and stays off `db`.
//! - b is killed while `promote` runs: after its restart the step, not
//!   idempotent, is not run again; the move holds and says why.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

const MEMBERS: [&str; 3] = ["a", "b", "w"];

struct Cluster(orbit_tests::cluster::Cluster);

impl std::ops::Deref for Cluster {
    type Target = orbit_tests::cluster::Cluster;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Cluster {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl Cluster {
    /// The cluster with `promote` running `promote_script` (sh source).
    fn new(name: &str, promote_script: &str) -> Cluster {
        let dir = orbit_tests::cluster::Cluster::fresh_dir(name);
        let log = dir.join("steps.log");
        let step = |what: &str| {
            format!(
                "[\"/bin/sh\", \"-c\", \"echo {what} $ORBIT_SERVICE $ORBIT_FROM $ORBIT_TO $ORBIT_PHASE >> {}\"]",
                log.display()
            )
        };
        std::fs::write(
            dir.join("promote.sh"),
            promote_script.replace("LOG", &log.display().to_string()),
        )
        .unwrap();
        // Ports from the pid (nextest runs each test in a process of its
        // own), above the other loopback clusters' ranges.
        let base = 51_000 + (std::process::id() % 4_000) * 3;
        for member in MEMBERS {
            let role = if member == "w" { "witness" } else { "site" };
            let text = format!(
                r#"
[node]
site = "{member}"
role = "{role}"
state_dir = "{d}/{member}-state"
api_socket = "{d}/{member}.sock"
[[site]]
id = "a"
gossip = "127.0.0.1:{p0}"
[[site]]
id = "b"
gossip = "127.0.0.1:{p1}"
[[site]]
id = "w"
gossip = "127.0.0.1:{p2}"
witness = true
[detect]
key_file = "{d}/key"
[policy]
failback = "manual"
drain_grace = "500ms"
shutdown_grace = "2s"
[[service]]
id = "db"
prefixes = ["198.51.100.20/32"]
sites = ["a", "b"]
plan = "pg"
[[plan]]
id = "pg"
[[plan.fence_old]]
name = "stop"
kind = "exec"
command = {stop}
[[plan.before_takeover]]
name = "promote"
kind = "exec"
command = ["/bin/sh", "{d}/promote.sh"]
[[plan.after_takeover]]
name = "notify"
kind = "exec"
at = "any"
command = {notify}
"#,
                d = dir.display(),
                p0 = base,
                p1 = base + 1,
                p2 = base + 2,
                stop = step("stop"),
                notify = step("notify"),
            );
            std::fs::write(dir.join(format!("{member}.toml")), text).unwrap();
        }
        Cluster(orbit_tests::cluster::Cluster::start(
            Path::new(env!("CARGO_BIN_EXE_orbitd")),
            dir,
            &MEMBERS,
        ))
    }

    /// db as `member` reports it: (active, local role, moving to).
    fn db(&self, member: &str) -> Option<(String, String, String)> {
        let status = self.status(member)?;
        let db = &status["engine"]["services"]["db"];
        Some((
            db["active"].as_str().unwrap_or("-").to_owned(),
            db["local_role"].as_str()?.to_owned(),
            db["moving_to"].as_str().unwrap_or("-").to_owned(),
        ))
    }

    fn log(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("steps.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// `member`'s journal: (kind or change kind, the entry).
    fn journal(&self, member: &str) -> Vec<(String, Value)> {
        let text = std::fs::read_to_string(self.dir.join(format!("{member}-state/journal.jsonl")))
            .unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|e| {
                let kind = e
                    .pointer("/decision/change/kind")
                    .or_else(|| e.get("kind"))
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_owned();
                (kind, e)
            })
            .collect()
    }
}

fn db(active: &str, role: &str, moving: &str) -> Option<(String, String, String)> {
    Some((active.to_owned(), role.to_owned(), moving.to_owned()))
}

/// Polls `ok` every 50 ms for up to 40 s; a timeout names what was awaited
/// and shows each member's status and the steps log, so that a failure in
/// CI says where the cluster stood.
fn eventually(c: &Cluster, what: &str, mut ok: impl FnMut(&Cluster) -> bool) {
    let t0 = std::time::Instant::now();
    while !ok(c) {
        if t0.elapsed() > Duration::from_secs(40) {
            let statuses: Vec<String> = MEMBERS
                .iter()
                .map(|m| {
                    format!(
                        "{m}: {}",
                        c.status(m).map_or("no answer".into(), |s| s.to_string())
                    )
                })
                .collect();
            panic!(
                "timed out after 40 s waiting for {what}\nsteps: {:?}\n{}",
                c.log(),
                statuses.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_failover_promotes_before_the_move_and_fences_the_old_site_when_it_returns() {
    let mut c = Cluster::new(
        "plans-failover",
        "echo promote $ORBIT_SERVICE $ORBIT_FROM $ORBIT_TO $ORBIT_PHASE >> LOG\n",
    );
    eventually(
        &c,
        "a active for db, b without a standby announcement",
        |c| c.db("a") == db("a", "active", "-") && c.db("b") == db("a", "withdrawn", "-"),
    );
    assert!(
        c.log().is_empty(),
        "no step runs without a move: {:?}",
        c.log()
    );

    c.kill("a");
    eventually(&c, "b to carry db", |c| c.db("b") == db("b", "active", "-"));
    eventually(&c, "the notification after the takeover", |c| {
        c.log().len() >= 2
    });
    let log = c.log();
    assert_eq!(
        log[..2],
        [
            "promote db a b before_takeover".to_owned(),
            "notify db a b after_takeover".to_owned()
        ],
        "{log:?}"
    );
    // b's journal: the promotion ended before the move, and the move came
    // after a "moving" decision naming the plan.
    let journal = c.journal("b");
    let position = |what: &dyn Fn(&(String, Value)) -> bool| {
        journal
            .iter()
            .position(what)
            .unwrap_or_else(|| panic!("b's journal: {journal:#?}"))
    };
    let moving = position(&|(k, e)| {
        k == "service_moving" && e.pointer("/decision/change/plan") == Some(&Value::from("pg"))
    });
    let promoted = position(&|(k, e)| {
        k == "plan_step"
            && e["step"] == "promote"
            && e["progress"] == "ended"
            && e.get("error").is_none()
    });
    let moved = position(&|(k, e)| {
        k == "service_moved" && e.pointer("/decision/change/to") == Some(&Value::from("b"))
    });
    assert!(
        moving < promoted && promoted < moved,
        "order in b's journal: {journal:#?}"
    );
    // orbitctl plan show names every step and how it ended.
    let (code, text, err) = orbit_tests::orbitd::orbitctl(
        env!("CARGO_BIN_EXE_orbitd"),
        &c.socket("b"),
        &["plan", "show", "db"],
    );
    assert_eq!(code, 0, "{err}");
    for want in [
        "plan pg a -> b",
        "promote",
        "succeeded",
        "stop",
        "waits for the old site",
    ] {
        assert!(text.contains(want), "plan show lacks {want:?}:\n{text}");
    }

    // a returns: its old primary is stopped (fence_old, at a) and a does
    // not take db back.
    c.restart("a");
    eventually(&c, "a to run its fencing step", |c| {
        c.log().iter().any(|l| l == "stop db a b fence_old")
    });
    eventually(&c, "a's fencing reported to b", |c| {
        c.status("b").is_some_and(|s| {
            s["engine"]["services"]["db"]["plan"]["run"]["steps"][0]["state"]["state"]
                == "succeeded"
        })
    });
    assert!(
        c.journal("a")
            .iter()
            .any(|(k, e)| k == "plan_step" && e["step"] == "stop" && e["progress"] == "ended"),
        "a's journal records its step"
    );
    eventually(&c, "a to follow b's placement", |c| {
        c.db("a") == db("b", "withdrawn", "-")
    });
    assert_eq!(c.db("b"), db("b", "active", "-"));
    assert_eq!(
        c.log().iter().filter(|l| l.starts_with("promote")).count(),
        1,
        "promoted once: {:?}",
        c.log()
    );
}

#[test]
fn a_step_cut_short_by_a_restart_is_not_run_twice_and_the_move_holds() {
    let mut c = Cluster::new(
        "plans-restart",
        "echo promote-start >> LOG\nsleep 30\necho promote-end >> LOG\n",
    );
    eventually(&c, "a active for db", |c| {
        c.db("a") == db("a", "active", "-")
    });
    c.kill("a");
    eventually(&c, "b to start promoting", |c| {
        c.log().iter().any(|l| l == "promote-start")
    });
    // orbitd b dies with the step in flight, and comes back.
    c.kill("b");
    c.restart("b");
    eventually(
        &c,
        "b to report the step failed by the restart, and the move held",
        |c| {
            c.status("b").is_some_and(|s| {
                let db = &s["engine"]["services"]["db"];
                db["moving_to"] == "b"
                    && db["active"] == "a"
                    && db["local_role"] == "withdrawn"
                    && db["plan"]["run"]["steps"][1]["state"]["detail"]
                        .as_str()
                        .is_some_and(|d| d.contains("not idempotent"))
            })
        },
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        c.log().iter().filter(|l| *l == "promote-start").count(),
        1,
        "the promotion ran once: {:?}",
        c.log()
    );
    let (code, text, err) =
        orbit_tests::orbitd::orbitctl(env!("CARGO_BIN_EXE_orbitd"), &c.socket("b"), &["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains("step promote FAILED") && text.contains("HOLDS"),
        "status shows the held plan:\n{text}"
    );
}
