//! Test harness: two network namespaces joined by a veth, one for orbit's
//! `Speaker` (which runs in the test process) and one for the peers (bird2,
//! gobgpd, FRR's bgpd, started with a temp config), and helpers to drive the
//! speaker. Nothing is added to the root namespace.
//!
//! The test process reaches the speaker's namespace with
//! `setns(CLONE_NEWNET)` on the test's thread *before* its tokio runtime is
//! built: [`Lab::run`] enters, builds a multi-thread runtime (whose worker
//! and blocking threads inherit the namespace), runs the test's future and
//! returns to the original namespace, also on panic. A test therefore is a
//! plain `#[test]` that calls `lab.run(async { ... })`, never
//! `#[tokio::test]` (its runtime would be built in the root namespace).
//! Programs the test starts from an entered thread run in the speaker's
//! namespace too (the bench starts a second gobgpd there).
//!
//! Every name and address is derived from the process id and a per-process
//! counter, so tests running concurrently (nextest: one process per test;
//! cargo test: one thread per test, and the namespace is per thread) never
//! collide. Everything is removed in `Drop`, also on panic. These tests need
//! root (CI runs them as root).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};
use orbit_bgp::Config as Bgp;
use orbit_core::config::Service;
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

/// Two namespaces joined by a veth pair on a private /29: the speaker's
/// (`speaker_ns`, `.1`, where orbit runs) and the peers' (`ns`, `.2`; `.3`
/// a second peer address on its `lo`, e.g. gobgpd), `.5` a spare next hop.
pub struct Lab {
    /// The peers' namespace.
    pub ns: String,
    /// orbit's namespace.
    pub speaker_ns: String,
    /// The veth end in `speaker_ns`, and the one in `ns`.
    pub speaker_if: String,
    pub peer_if: String,
    pub dir: PathBuf,
    pub idx: u32,
    pub v4_speaker: Ipv4Addr,
    pub v4_peer: Ipv4Addr,
    pub v4_peer2: Ipv4Addr,
    pub v4_spare: Ipv4Addr,
    pub v6_speaker: Ipv6Addr,
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
        let speaker_ns = format!("obsp{idx}");
        let speaker_if = format!("ob{idx}a");
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
            speaker_ns: speaker_ns.clone(),
            speaker_if: speaker_if.clone(),
            peer_if: peer_if.clone(),
            dir,
            idx,
            v4_speaker: Ipv4Addr::from(base + 1),
            v4_peer: Ipv4Addr::from(base + 2),
            v4_peer2: Ipv4Addr::from(base + 3),
            v4_spare: Ipv4Addr::from(base + 5),
            v6_speaker: v6(1),
            v6_peer: v6(2),
        };
        // Leftovers of a crashed earlier run with the same pid.
        for n in [&ns, &speaker_ns] {
            let _ = Command::new("ip").args(["netns", "del", n]).output();
        }
        run(&["ip", "netns", "add", &ns]);
        run(&["ip", "netns", "add", &speaker_ns]);
        // Created inside the speaker's namespace, the peer end moved out:
        // the pair never touches the root namespace.
        run(&[
            "ip",
            "-n",
            &speaker_ns,
            "link",
            "add",
            &speaker_if,
            "type",
            "veth",
            "peer",
            "name",
            &peer_if,
            "netns",
            &ns,
        ]);
        for (netns, ifname, v4, v6) in [
            (&speaker_ns, &speaker_if, lab.v4_speaker, lab.v6_speaker),
            (&ns, &peer_if, lab.v4_peer, lab.v6_peer),
        ] {
            let ip = |args: &[&str]| {
                let mut full = vec!["ip", "-n", netns.as_str()];
                full.extend_from_slice(args);
                run(&full)
            };
            ip(&["link", "set", "lo", "up"]);
            ip(&["addr", "add", &format!("{v4}/29"), "dev", ifname]);
            ip(&[
                "-6",
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                ifname,
                "nodad",
            ]);
            ip(&["link", "set", ifname, "up"]);
        }
        lab.exec(&[
            "ip",
            "addr",
            "add",
            &format!("{}/32", lab.v4_peer2),
            "dev",
            "lo",
        ]);
        lab
    }

    /// Adds another address to the speaker's end of the veth (removed with it).
    pub fn add_speaker_addr(&self, a: Ipv4Addr) {
        self.speaker_exec(&[
            "ip",
            "addr",
            "add",
            &format!("{a}/29"),
            "dev",
            &self.speaker_if,
        ]);
    }

    /// Runs a command inside the peers' namespace; panics on failure.
    pub fn exec(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", &self.ns];
        full.extend_from_slice(args);
        run(&full)
    }

    /// Runs a command inside the speaker's namespace; panics on failure.
    pub fn speaker_exec(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "netns", "exec", &self.speaker_ns];
        full.extend_from_slice(args);
        run(&full)
    }

    /// Runs a command inside the peers' namespace; returns stdout even on failure.
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

    /// Starts a program in the peers' namespace, output to `log` in `dir`.
    pub fn spawn_in_ns(&self, args: &[&str], log: &str) -> Child {
        let logf = File::create(self.dir.join(log)).expect("log file");
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

    /// Moves the calling thread into the speaker's namespace until the
    /// guard drops. Threads and programs it starts meanwhile live there.
    pub fn enter(&self) -> Entered {
        enter_netns(&self.speaker_ns)
    }

    /// Moves the calling thread into the peers' namespace until the guard
    /// drops (for peers scripted in the test itself).
    pub fn enter_peer(&self) -> Entered {
        enter_netns(&self.ns)
    }

    /// Runs `f` to completion on a multi-thread tokio runtime (2 workers)
    /// built inside the speaker's namespace; see the module doc.
    pub fn run<F: Future>(&self, f: F) -> F::Output {
        let _entered = self.enter();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let out = rt.block_on(f);
        // Tasks still running (speakers the test did not shut down) end
        // here, inside the namespace, before the guard leaves it.
        drop(rt);
        out
    }
}

/// Moves the calling thread into the namespace `name` until the guard drops.
pub fn enter_netns(name: &str) -> Entered {
    let back = File::open("/proc/thread-self/ns/net").expect("current netns");
    let ns = File::open(format!("/var/run/netns/{name}")).expect("netns file");
    setns(ns, CloneFlags::CLONE_NEWNET).expect("setns");
    Entered { back: Some(back) }
}

/// Returns the thread to the namespace it came from.
pub struct Entered {
    back: Option<File>,
}

impl Drop for Entered {
    fn drop(&mut self) {
        if let Some(f) = self.back.take() {
            let _ = setns(f, CloneFlags::CLONE_NEWNET);
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for ns in [&self.ns, &self.speaker_ns] {
            let _ = Command::new("ip")
                .args(["netns", "pids", ns])
                .output()
                .map(|o| {
                    for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                        // Never ourselves: a test thread may still be inside.
                        if pid != std::process::id().to_string() {
                            let _ = Command::new("kill").args(["-9", pid]).output();
                        }
                    }
                });
            // Deleting the namespaces deletes the veth pair with them.
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
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

/// FRR's bgpd running standalone in the lab's peer namespace: no zebra
/// (`-Z`), no kernel routes (`-n`), as root (`-S`), listening only on the
/// peer address (`-l`), its vty on a unix socket in the lab directory
/// (`--vty_socket`, queried with `vtysh --vty_socket`), no TCP vty
/// (`-P 0`). FRR's eBGP default refuses every route without a policy:
/// configs need `no bgp ebgp-requires-policy`.
pub struct Frr {
    child: Option<Child>,
    pub dir: PathBuf,
    pub log: PathBuf,
}

impl Frr {
    /// Starts bgpd with `config` (frr.conf text; `log file` and the
    /// timestamp precision are set here: the log is `frr.log` in the lab
    /// directory, microsecond timestamps).
    pub fn start(lab: &Lab, config: &str) -> Frr {
        let dir = lab.dir.join("frr");
        std::fs::create_dir_all(&dir).expect("frr dir");
        let log = dir.join("bgpd.log");
        let conf = dir.join("bgpd.conf");
        std::fs::write(
            &conf,
            format!(
                "log file {} debugging\nlog timestamp precision 6\n{config}\n",
                log.display()
            ),
        )
        .expect("bgpd.conf");
        let d = |name: &str| dir.join(name).display().to_string();
        let child = lab.spawn_in_ns(
            &[
                "/usr/lib/frr/bgpd",
                "-f",
                &d("bgpd.conf"),
                "-i",
                &d("bgpd.pid"),
                "-z",
                &d("zserv.api"),
                "--vty_socket",
                &d(""),
                "-Z",
                "-S",
                "-n",
                "-l",
                &lab.v4_peer.to_string(),
                "-P",
                "0",
            ],
            "frr.out",
        );
        let f = Frr {
            child: Some(child),
            dir,
            log,
        };
        let t0 = Instant::now();
        while f.vtysh("show bgp summary").is_none() {
            assert!(
                t0.elapsed() < Duration::from_secs(15),
                "bgpd did not start: {}",
                lab.log("frr.out")
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        f
    }

    /// One vtysh command; its output, or `None` if vtysh failed.
    pub fn vtysh(&self, cmd: &str) -> Option<String> {
        let out = Command::new("vtysh")
            .arg("--vty_socket")
            .arg(&self.dir)
            .args(["-c", cmd])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// A `... json` command, parsed (`Null` when it failed).
    pub fn json(&self, cmd: &str) -> serde_json::Value {
        self.vtysh(cmd)
            .and_then(|o| serde_json::from_str(&o).ok())
            .unwrap_or(serde_json::Value::Null)
    }

    /// `show bgp neighbors ADDR json`, the neighbor's object.
    pub fn neighbor(&self, addr: IpAddr) -> serde_json::Value {
        self.json(&format!("show bgp neighbors {addr} json"))[addr.to_string()].clone()
    }

    pub fn established(&self, addr: IpAddr) -> bool {
        self.neighbor(addr)["bgpState"] == "Established"
    }

    /// A client on bgpd's vty socket, for fast repeated queries (vtysh
    /// itself takes tens of milliseconds to start).
    pub fn vty(&self) -> std::io::Result<Vty> {
        let stream = std::os::unix::net::UnixStream::connect(self.dir.join("bgpd.vty"))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        Ok(Vty { stream })
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Frr {
    fn drop(&mut self) {
        self.stop();
    }
}

/// vtysh's protocol on a daemon's vty socket: the command with a NUL after
/// it; the output, then three NULs and the command's status byte.
pub struct Vty {
    stream: std::os::unix::net::UnixStream,
}

impl Vty {
    /// The command's output if it succeeded (status 0).
    pub fn cmd(&mut self, cmd: &str) -> Option<String> {
        use std::io::{Read, Write};
        let mut line = cmd.as_bytes().to_vec();
        line.push(0);
        self.stream.write_all(&line).ok()?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        while !(buf.len() >= 4 && buf[buf.len() - 4..buf.len() - 1] == [0, 0, 0]) {
            let n = self.stream.read(&mut chunk).ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let status = buf[buf.len() - 1];
        buf.truncate(buf.len() - 4);
        (status == 0).then(|| String::from_utf8_lossy(&buf).into_owned())
    }
}
