//! Site a with two border routers, each running orbitd (members a1 and a2,
//! `[[site]] site = "a"`), site b with one, and a witness, gossiping on
//! loopback: killing a1 moves nothing (a2 keeps carrying web, a1 is
//! declared dead as a member only); killing a2 too fails web over to b.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::time::Duration;

use serde_json::Value;

const MEMBERS: [&str; 4] = ["a1", "a2", "b", "w"];

/// The shared loopback cluster, with this test's views of it.
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
    fn new() -> Cluster {
        let dir = orbit_tests::cluster::Cluster::fresh_dir("two-routers");
        // Ports derived from the pid: parallel test processes do not collide
        // (e2e_cluster uses 20000 + 3n, 3 ports; this range starts above).
        let base = 35_000 + (std::process::id() % 4_000) * 4;
        for member in MEMBERS {
            let role = if member == "w" { "witness" } else { "site" };
            let hook = if member == "w" {
                String::new()
            } else {
                format!(
                    "[hook]\ncommand = [\"/bin/sh\", \"-c\", \"cat >> {d}/{member}.hook; echo >> {d}/{member}.hook\"]\n",
                    d = dir.display()
                )
            };
            let text = format!(
                r#"
[node]
site = "{member}"
role = "{role}"
state_dir = "{d}/{member}-state"
api_socket = "{d}/{member}.sock"
[[site]]
id = "a1"
site = "a"
gossip = "127.0.0.1:{p0}"
[[site]]
id = "a2"
site = "a"
gossip = "127.0.0.1:{p1}"
[[site]]
id = "b"
gossip = "127.0.0.1:{p2}"
[[site]]
id = "w"
gossip = "127.0.0.1:{p3}"
witness = true
[detect]
key_file = "{d}/key"
[policy]
failback_after = "1m"
drain_grace = "500ms"
shutdown_grace = "2s"
[[service]]
id = "web"
prefixes = ["198.51.100.10/32"]
sites = ["a", "b"]
{hook}"#,
                d = dir.display(),
                p0 = base,
                p1 = base + 1,
                p2 = base + 2,
                p3 = base + 3,
            );
            std::fs::write(dir.join(format!("{member}.toml")), text).unwrap();
        }
        Cluster(orbit_tests::cluster::Cluster::start(
            std::path::Path::new(env!("CARGO_BIN_EXE_orbitd")),
            dir,
            &MEMBERS,
        ))
    }

    /// (active site, local role) of web as the daemon `member` reports it.
    fn web(&self, member: &str) -> Option<(String, String)> {
        let status = self.status(member)?;
        let web = &status["engine"]["services"]["web"];
        Some((
            web["active"].as_str().unwrap_or("-").to_owned(),
            web["local_role"].as_str()?.to_owned(),
        ))
    }

    /// What `member`'s status says about member `about`.
    fn member(&self, member: &str, about: &str) -> Option<Value> {
        let status = self.status(member)?;
        Some(status["engine"]["sites"][about].clone())
    }

    /// The last steering `member`'s hook received.
    fn last_hook(&self, member: &str) -> Option<Value> {
        let text = std::fs::read_to_string(self.dir.join(format!("{member}.hook"))).ok()?;
        text.lines()
            .last()
            .map(|l| serde_json::from_str(l).unwrap())
    }
}

fn web(active: &str, role: &str) -> Option<(String, String)> {
    Some((active.to_owned(), role.to_owned()))
}

fn eventually(what: &str, ok: impl FnMut() -> bool) {
    orbit_tests::wait_until(Duration::from_secs(30), Duration::from_millis(50), what, ok);
}

#[test]
fn losing_one_router_of_a_site_moves_nothing_losing_both_fails_over() {
    let mut c = Cluster::new();
    eventually("both routers of a active for web, b standby", || {
        c.web("a1") == web("a", "active")
            && c.web("a2") == web("a", "active")
            && c.web("b") == web("a", "standby")
            && c.web("w") == web("a", "withdrawn")
    });
    // The hooks (the backends' view) agree: both routers announce.
    for member in ["a1", "a2"] {
        let hook = c.last_hook(member).unwrap();
        assert_eq!(hook["local_site"], "a", "{member}: {hook}");
        assert_eq!(
            hook["services"]["web"]["local_role"], "active",
            "{member}: {hook}"
        );
    }
    let status = c.status("b").unwrap();
    assert_eq!(status["engine"]["quorum"], 2, "sites a, b, w: 2 of 3");
    // orbitctl status shows each member with its site.
    let (code, text, err) =
        orbit_tests::orbitd::orbitctl(env!("CARGO_BIN_EXE_orbitd"), &c.socket("a2"), &["status"]);
    assert_eq!(code, 0, "{err}");
    for want in [
        "at member a2 of site a: quorum 2 of 3",
        "a1 of a ",
        "a2 of a (local)",
    ] {
        assert!(text.contains(want), "status lacks {want:?}:\n{text}");
    }

    // One router of a dies: it is declared dead as a member, site a is
    // not, and nothing moves.
    c.kill("a1");
    eventually("b and w to declare member a1 dead", || {
        ["b", "w"].iter().all(|m| {
            c.member(m, "a1")
                .is_some_and(|s| s["dead"] == true && s["site"] == "a" && s["site_dead"] == false)
        })
    });
    assert_eq!(c.web("a2"), web("a", "active"));
    assert_eq!(c.web("b"), web("a", "standby"));
    assert_eq!(c.web("w"), web("a", "withdrawn"));
    let hook = c.last_hook("b").unwrap();
    assert_eq!(hook["services"]["web"]["local_role"], "standby", "{hook}");
    assert_eq!(hook["services"]["web"]["takeover"], false, "{hook}");
    // b's journal: a1's death as a member, and web never moved from a.
    let journal = std::fs::read_to_string(c.dir.join("b-state/journal.jsonl")).unwrap();
    let kinds: Vec<String> = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|e| {
            let change = e
                .pointer("/decision/change")
                .or_else(|| e.get("change"))?
                .clone();
            Some(format!("{}:{}", change["kind"].as_str()?, change["to"]))
        })
        .collect();
    assert!(
        kinds.iter().any(|k| k.starts_with("member_liveness:")),
        "no member_liveness in b's journal:\n{journal}"
    );
    assert!(
        !kinds.iter().any(|k| k == "service_moved:\"b\""),
        "web moved to b while a2 was up:\n{journal}"
    );

    // The other router dies too: site a is dead, b takes web over.
    c.kill("a2");
    eventually("b to take web over with the takeover preference", || {
        c.last_hook("b").is_some_and(|h| {
            h["services"]["web"]["local_role"] == "active"
                && h["services"]["web"]["takeover"] == true
        })
    });
    eventually("w to place web at b and see site a dead", || {
        c.web("w") == web("b", "withdrawn")
            && c.member("w", "a2").is_some_and(|s| s["site_dead"] == true)
    });
}
