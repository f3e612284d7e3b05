//! Three orbitd daemons (sites a and b, witness w) gossiping on loopback:
//! they converge on one placement, an operator command at one daemon
//! reaches the others, a killed site fails over, and a restarted site
//! rejoins without claiming what the majority moved.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

struct Cluster {
    dir: PathBuf,
    daemons: Vec<(String, Option<Child>)>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for (_, child) in &mut self.daemons {
            if let Some(mut c) = child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        if std::env::var_os("ORBIT_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Cluster {
    fn new() -> Cluster {
        let dir = std::env::temp_dir().join(format!("orbit-cluster-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("key"), "a-shared-secret-for-this-test-only").unwrap();
        // Ports derived from the pid: parallel test processes do not collide.
        let base = 20_000 + (std::process::id() % 4_000) * 3;
        for (i, site) in ["a", "b", "w"].iter().enumerate() {
            let role = if *site == "w" { "witness" } else { "site" };
            let hook = if *site == "w" {
                String::new()
            } else {
                format!(
                    "[hook]\ncommand = [\"/bin/sh\", \"-c\", \"cat >> {d}/{site}.hook; echo >> {d}/{site}.hook\"]\n",
                    d = dir.display()
                )
            };
            let _ = i;
            let text = format!(
                r#"
[node]
site = "{site}"
role = "{role}"
state_dir = "{d}/{site}-state"
api_socket = "{d}/{site}.sock"
[[site]]
id = "a"
gossip = "127.0.0.1:{pa}"
[[site]]
id = "b"
gossip = "127.0.0.1:{pb}"
[[site]]
id = "w"
gossip = "127.0.0.1:{pw}"
witness = true
[detect]
key_file = "{d}/key"
[policy]
failback_after = "3s"
drain_grace = "500ms"
shutdown_grace = "2s"
[[service]]
id = "web"
prefixes = ["198.51.100.10/32"]
sites = ["a", "b"]
[[service]]
id = "db"
prefixes = ["198.51.100.20/32"]
sites = ["b", "a"]
{hook}"#,
                d = dir.display(),
                pa = base,
                pb = base + 1,
                pw = base + 2,
            );
            std::fs::write(dir.join(format!("{site}.toml")), text).unwrap();
        }
        let mut cluster = Cluster {
            dir,
            daemons: Vec::new(),
        };
        for site in ["a", "b", "w"] {
            let child = cluster.spawn(site);
            cluster.daemons.push((site.to_owned(), Some(child)));
        }
        cluster
    }

    fn spawn(&self, site: &str) -> Child {
        Command::new(env!("CARGO_BIN_EXE_orbitd"))
            .arg("--config")
            .arg(self.dir.join(format!("{site}.toml")))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn socket(&self, site: &str) -> PathBuf {
        self.dir.join(format!("{site}.sock"))
    }

    fn kill(&mut self, site: &str) {
        let (_, child) = self.daemons.iter_mut().find(|(s, _)| s == site).unwrap();
        let mut c = child.take().unwrap();
        c.kill().unwrap();
        c.wait().unwrap();
    }

    fn restart(&mut self, site: &str) {
        let child = self.spawn(site);
        let (_, slot) = self.daemons.iter_mut().find(|(s, _)| s == site).unwrap();
        *slot = Some(child);
    }

    fn status(&self, site: &str) -> Option<Value> {
        let out = orbitctl(&self.socket(site), &["--json", "status"]);
        (out.0 == 0).then(|| serde_json::from_str(&out.1).unwrap())
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

    fn last_hook(&self, site: &str) -> Option<Value> {
        let text = std::fs::read_to_string(self.dir.join(format!("{site}.hook"))).ok()?;
        text.lines()
            .last()
            .map(|l| serde_json::from_str(l).unwrap())
    }
}

fn orbitctl(socket: &Path, args: &[&str]) -> (i32, String, String) {
    orbit_tests::orbitd::orbitctl(env!("CARGO_BIN_EXE_orbitd"), socket, args)
}

fn t(svc: &str, active: &str, role: &str) -> (String, String, String) {
    (svc.to_owned(), active.to_owned(), role.to_owned())
}

fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn three_daemons_converge_fail_over_and_rejoin() {
    let mut c = Cluster::new();
    eventually("a and b to agree on the priority placement", || {
        c.view("a") == Some(vec![t("db", "b", "standby"), t("web", "a", "active")])
            && c.view("b") == Some(vec![t("db", "b", "active"), t("web", "a", "standby")])
            && c.view("w")
                .is_some_and(|v| v.iter().all(|(_, _, r)| r == "withdrawn"))
    });

    // A command at a reaches b (and w) through gossip.
    let (code, _, err) = orbitctl(
        &c.socket("a"),
        &["switchover", "--service", "web", "--to", "b"],
    );
    assert_eq!(code, 0, "{err}");
    eventually("b to carry web", || {
        c.last_hook("b")
            .is_some_and(|h| h["services"]["web"]["local_role"] == "active")
            && c.view("w")
                .is_some_and(|v| v.contains(&t("web", "b", "withdrawn")))
    });

    // Site b dies: a takes both services over (takeover: b's routes may linger upstream).
    c.kill("b");
    eventually("a to take over after b died", || {
        c.last_hook("a").is_some_and(|h| {
            h["services"]["web"]["local_role"] == "active"
                && h["services"]["db"]["local_role"] == "active"
                && h["services"]["db"]["takeover"] == true
        })
    });
    let status = c.status("w").unwrap();
    let b = status["engine"]["sites"]["b"].clone();
    assert_eq!(b["dead"], true, "{b}");

    // b comes back: it must not claim web (moved while it was away); db, for
    // which b is the preferred site, returns only after failback_after.
    c.restart("b");
    eventually("b to rejoin as standby for web", || {
        c.view("b")
            .is_some_and(|v| v.contains(&t("web", "a", "standby")))
    });
    let rejoined = Instant::now();
    eventually("db to fail back to b", || {
        c.view("b")
            .is_some_and(|v| v.contains(&t("db", "b", "active")))
            && c.view("a")
                .is_some_and(|v| v.contains(&t("db", "b", "standby")))
    });
    assert!(
        rejoined.elapsed() >= Duration::from_secs(2),
        "failback waited for failback_after ({:?})",
        rejoined.elapsed()
    );
    // Never two sites active for web.
    let a = c.view("a").unwrap();
    let b = c.view("b").unwrap();
    let active = [&a, &b]
        .iter()
        .filter(|v| v.iter().any(|(s, _, r)| s == "web" && r == "active"))
        .count();
    assert_eq!(active, 1, "a: {a:?} b: {b:?}");
}
