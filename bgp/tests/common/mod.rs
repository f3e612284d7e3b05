//! Test harness: a network namespace with a veth to the root namespace,
//! bird2 / gobgpd started inside it with a temp config, and helpers to
//! drive orbit's `Speaker` (which runs in the test process, on the root
//! side of the veth).
//!
//! Every name and address is derived from the process id and a per-process
//! counter, so tests running concurrently (nextest: one process per test;
//! cargo test: one thread per test) never collide. Everything is removed in
//! `Drop`, also on panic. These tests need root (CI runs them as root).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use orbit_core::config::{Bgp, Service};
use orbit_core::{Role, ServiceSteering, Steering};

static NEXT: AtomicU32 = AtomicU32::new(0);

fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A namespace `ns` joined to the root namespace by a veth pair on a /29:
/// `.1` is the root side (orbit), `.2` the peer, `.3` a second peer
/// (gobgpd, on the namespace's `lo`), `.5` a spare next hop.
pub struct Lab {
    pub ns: String,
    pub root_if: String,
    pub dir: PathBuf,
    pub idx: u32,
    pub v4_root: Ipv4Addr,
    pub v4_peer: Ipv4Addr,
    pub v4_peer2: Ipv4Addr,
    pub v4_spare: Ipv4Addr,
    pub v6_root: Ipv6Addr,
    pub v6_peer: Ipv6Addr,
}

impl Lab {
    pub fn new() -> Lab {
        assert!(
            Command::new("id")
                .arg("-u")
                .output()
                .map(|o| o.stdout.starts_with(b"0"))
                .unwrap_or(false),
            "these interop tests need root (network namespaces); CI runs them as root"
        );
        let pid = std::process::id();
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        // pid_max is 32768 here: 15 bits of pid, 3 bits of counter.
        let idx = ((pid & 0x7fff) << 3) | (n & 7);
        let base = 0x0AA0_0000u32 + (idx << 3); // 10.160.0.0/11, one /29 each
        let ns = format!("obgp{idx}");
        let root_if = format!("ob{idx}a");
        let peer_if = format!("ob{idx}b");
        let dir = std::env::temp_dir().join(format!("orbit-bgp-{idx}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        let v6 = |host: u16| {
            Ipv6Addr::new(
                0xfd6f,
                0x0b9,
                (idx >> 16) as u16,
                (idx & 0xffff) as u16,
                0,
                0,
                0,
                host,
            )
        };
        let lab = Lab {
            ns: ns.clone(),
            root_if: root_if.clone(),
            dir,
            idx,
            v4_root: Ipv4Addr::from(base + 1),
            v4_peer: Ipv4Addr::from(base + 2),
            v4_peer2: Ipv4Addr::from(base + 3),
            v4_spare: Ipv4Addr::from(base + 5),
            v6_root: v6(1),
            v6_peer: v6(2),
        };
        // Leftovers of a crashed earlier run with the same pid.
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        let _ = Command::new("ip").args(["link", "del", &root_if]).output();
        run(&["ip", "netns", "add", &ns]);
        run(&[
            "ip", "link", "add", &root_if, "type", "veth", "peer", "name", &peer_if,
        ]);
        run(&["ip", "link", "set", &peer_if, "netns", &ns]);
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{}/29", lab.v4_root),
            "dev",
            &root_if,
        ]);
        run(&[
            "ip",
            "-6",
            "addr",
            "add",
            &format!("{}/64", lab.v6_root),
            "dev",
            &root_if,
            "nodad",
        ]);
        run(&["ip", "link", "set", &root_if, "up"]);
        lab.exec(&["ip", "link", "set", "lo", "up"]);
        lab.exec(&[
            "ip",
            "addr",
            "add",
            &format!("{}/29", lab.v4_peer),
            "dev",
            &peer_if,
        ]);
        lab.exec(&[
            "ip",
            "addr",
            "add",
            &format!("{}/32", lab.v4_peer2),
            "dev",
            "lo",
        ]);
        lab.exec(&[
            "ip",
            "-6",
            "addr",
            "add",
            &format!("{}/64", lab.v6_peer),
            "dev",
            &peer_if,
            "nodad",
        ]);
        lab.exec(&["ip", "link", "set", &peer_if, "up"]);
        lab
    }

    /// Adds another address to the root side of the veth (removed with it).
    pub fn add_root_addr(&self, a: Ipv4Addr) {
        run(&[
            "ip",
            "addr",
            "add",
            &format!("{a}/29"),
            "dev",
            &self.root_if,
        ]);
    }

    /// Runs a command inside the namespace; panics on failure.
    pub fn exec(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", &self.ns];
        full.extend_from_slice(args);
        run(&full)
    }

    /// Runs a command inside the namespace; returns stdout even on failure.
    pub fn try_exec(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn spawn_in_ns(&self, args: &[&str], log: &str) -> Child {
        let logf = std::fs::File::create(self.dir.join(log)).expect("log file");
        Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(args)
            .stdout(Stdio::from(logf.try_clone().expect("log clone")))
            .stderr(Stdio::from(logf))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {args:?}: {e}"))
    }

    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap_or_default()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "pids", &self.ns])
            .output()
            .map(|o| {
                for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-9", pid]).output();
                }
            });
        let _ = Command::new("ip")
            .args(["link", "del", &self.root_if])
            .output();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("kept {} for inspection", self.dir.display());
        }
    }
}

/// bird2 running in the lab namespace.
pub struct Bird {
    child: Option<Child>,
    pub sock: String,
    conf: PathBuf,
    ns: String,
}

impl Bird {
    /// Starts bird with `protocols` (BIRD config text) after a common header.
    pub fn start(lab: &Lab, protocols: &str) -> Bird {
        let conf = lab.dir.join("bird.conf");
        let text = format!(
            "router id {};\nprotocol device {{ }}\n{protocols}\n",
            lab.v4_peer
        );
        std::fs::write(&conf, text).expect("bird.conf");
        let sock = lab.dir.join("bird.ctl").display().to_string();
        let mut b = Bird {
            child: None,
            sock,
            conf,
            ns: lab.ns.clone(),
        };
        b.spawn(lab);
        b
    }

    fn spawn(&mut self, lab: &Lab) {
        let conf = self.conf.display().to_string();
        let child = lab.spawn_in_ns(&["bird", "-f", "-c", &conf, "-s", &self.sock], "bird.log");
        self.child = Some(child);
        let t0 = Instant::now();
        while self.cmd(&["show", "status"]).is_none() {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "bird did not start: {}",
                lab.log("bird.log")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn restart(&mut self, lab: &Lab) {
        self.stop();
        self.spawn(lab);
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.sock);
    }

    pub fn cmd(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("birdc")
            .args(["-s", &self.sock])
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn protocol(&self, name: &str) -> String {
        self.cmd(&["show", "protocols", "all", name])
            .unwrap_or_default()
    }

    pub fn established(&self, name: &str) -> bool {
        self.protocol(name).contains("Established")
    }

    /// `show route all for PREFIX`: the route block, or "" if none.
    pub fn route(&self, prefix: &str) -> String {
        let table = if prefix.contains(':') {
            "master6"
        } else {
            "master4"
        };
        let out = self
            .cmd(&["show", "route", "all", "table", table, "for", prefix])
            .unwrap_or_default();
        if out.contains(prefix.split('/').next().unwrap_or(prefix)) {
            out
        } else {
            String::new()
        }
    }

    /// How many routes `table` holds.
    pub fn count(&self, table: &str) -> usize {
        let out = self
            .cmd(&["show", "route", "table", table, "count"])
            .unwrap_or_default();
        // "N of M routes for K networks in table master4"
        out.lines()
            .find_map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                let i = w.iter().position(|x| *x == "routes")?;
                w.get(i.checked_sub(1)?)?.parse().ok()
            })
            .unwrap_or(0)
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        self.stop();
        let _ = &self.ns;
    }
}

/// gobgpd running in the lab namespace, API on the namespace's loopback.
pub struct Gobgp {
    child: Child,
    ns: String,
}

impl Gobgp {
    pub fn start(lab: &Lab, toml: &str) -> Gobgp {
        let conf = lab.dir.join("gobgpd.toml");
        std::fs::write(&conf, toml).expect("gobgpd.toml");
        let conf = conf.display().to_string();
        let child = lab.spawn_in_ns(
            &[
                "gobgpd",
                "-f",
                &conf,
                "--api-hosts",
                "127.0.0.1:50051",
                "--pprof-disable",
                "-p",
            ],
            "gobgpd.log",
        );
        let g = Gobgp {
            child,
            ns: lab.ns.clone(),
        };
        let t0 = Instant::now();
        while g.cli(&["global"]).is_none() {
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "gobgpd did not start: {}",
                lab.log("gobgpd.log")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        g
    }

    pub fn cli(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns,
                "gobgp",
                "-u",
                "127.0.0.1",
                "-p",
                "50051",
            ])
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Gobgp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `f` every 50 ms until it returns true or `secs` pass.
pub fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "timed out after {secs}s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Async version for tests running inside tokio.
pub async fn wait_for_async(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "timed out after {secs}s waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `[bgp]` section from TOML text.
pub fn bgp_config(text: &str) -> Bgp {
    toml::from_str(text).unwrap_or_else(|e| panic!("bad [bgp] test config: {e}\n{text}"))
}

/// One service "web" with the given prefixes.
pub fn services(prefixes: &[&str]) -> Vec<Service> {
    #[derive(serde::Deserialize)]
    struct S {
        services: Vec<Service>,
    }
    let list = prefixes
        .iter()
        .map(|p| format!("{p:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!("[[services]]\nid = \"web\"\nprefixes = [{list}]\nsites = [\"a\", \"b\"]\n");
    toml::from_str::<S>(&text).expect("services").services
}

/// A steering for service "web" at site "a" with `role`.
pub fn steering(generation: u64, prefixes: &[&str], role: Role, takeover: bool) -> Steering {
    let mut services = BTreeMap::new();
    services.insert(
        "web".parse().expect("id"),
        ServiceSteering {
            prefixes: prefixes
                .iter()
                .map(|p| p.parse().expect("prefix"))
                .collect(),
            active: Some(
                if role == Role::Active { "a" } else { "b" }
                    .parse()
                    .expect("site"),
            ),
            epoch: 0,
            local_role: role,
            takeover,
        },
    );
    Steering {
        generation,
        local_site: "a".parse().expect("site"),
        fenced: false,
        observe_only: false,
        services,
    }
}

pub fn ip(s: impl ToString) -> IpAddr {
    s.to_string().parse().expect("ip")
}
