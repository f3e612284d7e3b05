//! Four orbitd daemons on loopback: sites a, b and c and a witness w, with
//! services whose priority lists run over the three sites so that each site
//! is first for one of them (issue 21 item 4).
//!
//! - They converge on the priority placement, and `orbitctl status` counts
//!   4 members and a quorum of 3.
//! - `orbitctl simulate` at c predicts both failures below before they happen.
//! - a is killed: each of a's services lands on its own next preference
//!   (web on b, api on c); b's and c's stay where they were.
//! - b is killed too: c and w are 2 of 4 members, below the quorum of 3, so
//!   c fences itself and carries nothing (it cannot tell "a and b died" from
//!   "c and w are cut off from a and b, which still carry"); status says so,
//!   and even a forced switchover to c is refused.
//! - b returns: c, b and w are a quorum again and b and c carry everything.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::net::{TcpListener, UdpSocket};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

const MEMBERS: [&str; 4] = ["a", "b", "c", "w"];
/// (service, sites in priority order)
const SERVICES: [(&str, &str); 4] = [
    ("web", r#"["a", "b", "c"]"#),
    ("api", r#"["a", "c", "b"]"#),
    ("db", r#"["b", "c", "a"]"#),
    ("mail", r#"["c", "a", "b"]"#),
];

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

/// A loopback port free for both UDP (SWIM) and TCP (push-pull) right now.
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl Cluster {
    fn new() -> Cluster {
        let dir = orbit_tests::cluster::Cluster::fresh_dir("three-sites");
        let members: String = MEMBERS
            .iter()
            .map(|m| {
                format!(
                    "[[site]]\nid = \"{m}\"\ngossip = \"127.0.0.1:{}\"\nwitness = {}\n",
                    free_port(),
                    *m == "w"
                )
            })
            .collect();
        let services: String = SERVICES
            .iter()
            .enumerate()
            .map(|(i, (id, sites))| {
                format!(
                    "[[service]]\nid = \"{id}\"\nprefixes = [\"198.51.100.{}/32\"]\nsites = {sites}\n",
                    10 + i
                )
            })
            .collect();
        for site in MEMBERS {
            let role = if site == "w" { "witness" } else { "site" };
            // The hook is the backend here: it records what the site applies.
            let hook = if site == "w" {
                String::new()
            } else {
                format!(
                    "[hook]\ncommand = [\"/bin/sh\", \"-c\", \"cat >> {d}/{site}.hook; echo >> {d}/{site}.hook\"]\n",
                    d = dir.display()
                )
            };
            let text = format!(
                "[node]\nsite = \"{site}\"\nrole = \"{role}\"\nstate_dir = \"{d}/{site}-state\"\n\
                 api_socket = \"{d}/{site}.sock\"\n{members}[detect]\nkey_file = \"{d}/key\"\n\
                 [policy]\nfailback_after = \"2s\"\ndrain_grace = \"500ms\"\nshutdown_grace = \"2s\"\n\
                 {services}{hook}",
                d = dir.display(),
            );
            std::fs::write(dir.join(format!("{site}.toml")), text).unwrap();
        }
        Cluster(orbit_tests::cluster::Cluster::start(
            std::path::Path::new(env!("CARGO_BIN_EXE_orbitd")),
            dir,
            &MEMBERS,
        ))
    }

    /// (service, active site, local role) as the daemon at `site` reports it.
    fn view(&self, site: &str) -> Option<Vec<(String, String, String)>> {
        let status = self.status(site)?;
        let mut v: Vec<_> = status["engine"]["services"]
            .as_object()
            .unwrap()
            .values()
            .map(|s| {
                (
                    s["id"].as_str().unwrap().to_owned(),
                    s["active"].as_str().unwrap_or("-").to_owned(),
                    s["local_role"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        v.sort();
        Some(v)
    }

    /// The services whose last applied role at `site` (its hook) is active.
    fn carried(&self, site: &str) -> Vec<String> {
        let text =
            std::fs::read_to_string(self.dir.join(format!("{site}.hook"))).unwrap_or_default();
        let Some(last) = text.lines().last() else {
            return Vec::new();
        };
        let steering: Value = serde_json::from_str(last).unwrap();
        let mut out: Vec<String> = steering["services"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(_, s)| s["local_role"] == "active")
            .map(|(id, _)| id.clone())
            .collect();
        out.sort();
        out
    }
}

fn orbitctl(socket: &Path, args: &[&str]) -> (i32, String, String) {
    orbit_tests::orbitd::orbitctl(env!("CARGO_BIN_EXE_orbitd"), socket, args)
}

/// One `(service, active, role)` row per service, sorted by service.
fn rows(want: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    let mut v: Vec<_> = want
        .iter()
        .map(|(s, a, r)| (s.to_string(), a.to_string(), r.to_string()))
        .collect();
    v.sort();
    v
}

fn eventually(what: &str, ok: impl FnMut() -> bool) {
    orbit_tests::wait_until(Duration::from_secs(30), Duration::from_millis(50), what, ok);
}

fn list(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn three_sites_fail_over_to_next_preference_and_fence_without_quorum() {
    let mut c = Cluster::new();
    eventually("each site to carry the services it is first for", || {
        c.view("c")
            == Some(rows(&[
                ("web", "a", "standby"),
                ("api", "a", "standby"),
                ("db", "b", "standby"),
                ("mail", "c", "active"),
            ]))
            && c.carried("a") == list(&["api", "web"])
            && c.carried("b") == list(&["db"])
            && c.carried("c") == list(&["mail"])
    });
    let (code, text, err) = orbitctl(&c.socket("c"), &["status"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains("quorum 3 of 4, has authority"),
        "orbitctl status at c:\n{text}"
    );

    // What c's engine predicts, before anything fails.
    let (code, out, err) = orbitctl(&c.socket("c"), &["--json", "simulate", "--dead", "a"]);
    assert_eq!(code, 0, "{out}{err}");
    let answer: Value = serde_json::from_str(&out).unwrap();
    let placed = |answer: &Value, svc: &str| answer["placement"][svc]["active"].clone();
    assert_eq!(placed(&answer, "web"), "b", "{answer:#}");
    assert_eq!(placed(&answer, "api"), "c", "{answer:#}");
    assert_eq!(
        answer["placement"]["api"]["local_role"], "active",
        "{answer:#}"
    );
    let (code, out, err) = orbitctl(
        &c.socket("c"),
        &["--json", "simulate", "--dead", "a", "--dead", "b"],
    );
    assert_eq!(code, 0, "{out}{err}");
    let answer: Value = serde_json::from_str(&out).unwrap();
    let fences = answer["decisions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["kind"] == "fenced" && d["fenced"] == true);
    assert!(fences, "{answer:#}");
    for (svc, _) in SERVICES {
        assert_eq!(
            answer["placement"][svc]["local_role"], "withdrawn",
            "{answer:#}"
        );
    }
    let (code, text, err) = orbitctl(&c.socket("c"), &["simulate", "--dead", "a", "--dead", "b"]);
    assert_eq!(code, 0, "{err}");
    eprintln!("orbitctl simulate --dead a --dead b at c:\n{text}");

    // a dies: web goes to b, api to c (each one's next preference).
    c.kill("a");
    eventually("a's services to land on their next preferences", || {
        c.carried("b") == list(&["db", "web"]) && c.carried("c") == list(&["api", "mail"])
    });
    for at in ["b", "c", "w"] {
        let status = c.status(at).unwrap();
        assert_eq!(
            status["engine"]["sites"]["a"]["dead"], true,
            "{at}: {status}"
        );
        let view = c.view(at).unwrap();
        let active: Vec<(String, String)> = view.into_iter().map(|(s, a, _)| (s, a)).collect();
        assert_eq!(
            active,
            vec![
                ("api".into(), "c".into()),
                ("db".into(), "b".into()),
                ("mail".into(), "c".into()),
                ("web".into(), "b".into()),
            ],
            "placement as {at} sees it"
        );
    }

    // b dies too: c and w are 2 of 4, below the quorum of 3. c fences and
    // withdraws everything; nobody carries anything.
    c.kill("b");
    eventually("c to fence and withdraw everything", || {
        c.carried("c").is_empty() && c.status("c").is_some_and(|s| s["engine"]["fenced"] == true)
    });
    let (code, text, err) = orbitctl(&c.socket("c"), &["status"]);
    assert_eq!(code, 0, "{err}");
    eprintln!("orbitctl status at c after a and b died:\n{text}");
    assert!(
        text.contains("quorum 3 of 4, FENCED (no quorum)"),
        "orbitctl status at c:\n{text}"
    );
    // No command makes a fenced member claim, not even a forced one.
    let (code, out, err) = orbitctl(
        &c.socket("c"),
        &["switchover", "--service", "web", "--to", "c", "--force"],
    );
    eprintln!("orbitctl switchover --force at fenced c: exit {code}\n{out}{err}");
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("it reaches fewer than the 3 members a quorum needs (fenced)"),
        "{err}"
    );
    // It stays that way: no quorum ever forms from c and w alone.
    std::thread::sleep(Duration::from_secs(3));
    assert!(c.carried("c").is_empty());
    assert_eq!(c.status("c").unwrap()["engine"]["fenced"], true);

    // b returns: b, c and w are a quorum again; a is still dead, so b and c
    // carry everything, each service on its first live preference.
    c.restart("b");
    eventually("b and c to carry everything again", || {
        c.carried("b") == list(&["db", "web"]) && c.carried("c") == list(&["api", "mail"])
    });
}
