//! Test harness: a private Open vSwitch (ovsdb-server + ovs-vswitchd with
//! the userspace datapath) in a temp dir, and network namespaces wired to
//! it with veth pairs. Every name is unique per process so tests run in
//! parallel; everything is torn down in `Drop`, even on panic.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use orbit_sdn::ovsdb::{BridgeSpec, Ovsdb};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A short name unique to this process and call (interface names are
/// limited to 15 bytes).
pub fn unique(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{:x}{n:x}", std::process::id() % 0xfffff)
}

pub fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn wait_for(path: &Path, what: &str) {
    // Generous: parallel tests on a loaded CI machine start many daemons.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(Instant::now() < deadline, "{what} did not create {path:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A private Open vSwitch.
///
/// ovs-vswitchd runs in a network namespace of its own: the userspace
/// datapath creates tap devices (`ovs-netdev`, one per bridge) that would
/// collide between parallel tests in one namespace and outlive a killed
/// daemon; deleting the namespace removes them. Its sockets are files, so
/// orbit reaches it from anywhere.
pub struct Ovs {
    pub dir: tempfile::TempDir,
    db: Child,
    vswitchd: Option<Child>,
    /// Where ovs-vswitchd and the switch ends of the veth pairs live.
    pub ns: Netns,
}

impl Ovs {
    /// Starts ovsdb-server on a fresh database and ovs-vswitchd.
    pub fn start() -> Ovs {
        let dir = tempfile::Builder::new()
            .prefix("orbit-ovs")
            .tempdir()
            .expect("temp dir");
        let d = dir.path();
        run(
            "ovsdb-tool",
            &[
                "create",
                d.join("conf.db").to_str().expect("utf8"),
                "/usr/share/openvswitch/vswitch.ovsschema",
            ],
        );
        let db = Command::new("ovsdb-server")
            .arg(d.join("conf.db"))
            .arg(format!("--remote=punix:{}", d.join("db.sock").display()))
            .arg(format!(
                "--pidfile={}",
                d.join("ovsdb-server.pid").display()
            ))
            .arg(format!(
                "--log-file={}",
                d.join("ovsdb-server.log").display()
            ))
            .arg(format!(
                "--unixctl={}",
                d.join("ovsdb-server.ctl").display()
            ))
            .envs(Self::env(d))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ovsdb-server starts");
        wait_for(&d.join("db.sock"), "ovsdb-server");
        let mut ovs = Ovs {
            dir,
            db,
            vswitchd: None,
            ns: Netns::new(),
        };
        ovs.start_vswitchd();
        ovs
    }

    fn env(d: &Path) -> Vec<(&'static str, PathBuf)> {
        vec![
            ("OVS_RUNDIR", d.to_path_buf()),
            ("OVS_DBDIR", d.to_path_buf()),
            ("OVS_LOGDIR", d.to_path_buf()),
            ("OVS_SYSCONFDIR", d.to_path_buf()),
        ]
    }

    pub fn start_vswitchd(&mut self) {
        let d = self.dir.path();
        // `ip netns exec` execs ovs-vswitchd in place: same pid.
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns.name, "ovs-vswitchd"])
            .arg(format!("unix:{}", d.join("db.sock").display()))
            .arg(format!(
                "--pidfile={}",
                d.join("ovs-vswitchd.pid").display()
            ))
            .arg(format!(
                "--log-file={}",
                d.join("ovs-vswitchd.log").display()
            ))
            .envs(Self::env(d))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ovs-vswitchd starts");
        let pid = child.id();
        self.vswitchd = Some(child);
        // The default control socket, where orbit finds it from the pidfile.
        wait_for(&d.join(format!("ovs-vswitchd.{pid}.ctl")), "ovs-vswitchd");
    }

    /// Kills ovs-vswitchd hard (as a crash would): every flow and group is lost.
    pub fn kill_vswitchd(&mut self) {
        if let Some(mut c) = self.vswitchd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(self.dir.path().join("ovs-vswitchd.pid"));
    }

    pub fn db_endpoint(&self) -> String {
        format!("unix:{}", self.dir.path().join("db.sock").display())
    }

    pub fn mgmt_path(&self, bridge: &str) -> PathBuf {
        self.dir.path().join(format!("{bridge}.mgmt"))
    }

    pub fn mgmt_endpoint(&self, bridge: &str) -> String {
        format!("unix:{}", self.mgmt_path(bridge).display())
    }

    /// Creates a netdev bridge over OVSDB and waits for its mgmt socket.
    pub async fn bridge(&self, name: &str) {
        let mut db = Ovsdb::connect(&self.db_endpoint()).await.expect("ovsdb");
        db.create_bridge(&BridgeSpec::orbit_default(name))
            .await
            .expect("create bridge");
        self.wait_mgmt(name);
    }

    pub fn wait_mgmt(&self, name: &str) {
        let path = self.mgmt_path(name);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !path.exists() {
            if Instant::now() > deadline {
                let log = self.log();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                panic!(
                    "ovs-vswitchd did not create {path:?}; log tail:\n{}",
                    tail.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// `ovs-ofctl` against the bridge (used only to read state back as an
    /// independent check, never to drive orbit).
    pub fn ofctl(&self, args: &[&str]) -> String {
        let out = Command::new("ovs-ofctl")
            .arg("-O")
            .arg("OpenFlow13")
            .args(args)
            .envs(Self::env(self.dir.path()))
            .output()
            .expect("ovs-ofctl");
        assert!(
            out.status.success(),
            "ovs-ofctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("ovs-vswitchd.log")).unwrap_or_default()
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        self.kill_vswitchd();
        let _ = self.db.kill();
        let _ = self.db.wait();
    }
}

/// A network namespace removed on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new() -> Netns {
        let name = unique("orbsdn");
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        // No duplicate address detection: addresses are usable at once.
        for conf in ["all", "default"] {
            ns.exec(&[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{conf}.accept_dad=0"),
            ]);
        }
        ns
    }

    pub fn exec(&self, args: &[&str]) {
        let mut full = vec!["netns", "exec", &self.name];
        full.extend_from_slice(args);
        run("ip", &full);
    }

    /// Runs `f` on a thread inside this namespace: sockets it creates live
    /// there and may be used from any thread afterwards.
    pub fn enter<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/var/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let fd = std::fs::File::open(&path).expect("netns file");
            nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            f()
        })
        .join()
        .expect("namespace thread")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

/// A veth pair: `host` end in the switch's namespace (to become an OVS
/// port), the other end moves into `ns` with `mac` and `addrs`, TX
/// checksum offload off (the userspace datapath drops packets with
/// offloaded checksums).
pub fn veth(ovs: &Ovs, ns: &Netns, host: &str, mac: &str, addrs: &[&str]) {
    ovs.ns.exec(&[
        "ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", &ns.name,
    ]);
    ovs.ns.exec(&["ip", "link", "set", host, "up"]);
    ns.exec(&["ip", "link", "set", "eth0", "address", mac]);
    for a in addrs {
        ns.exec(&["ip", "addr", "add", a, "dev", "eth0"]);
    }
    ns.exec(&["ip", "link", "set", "eth0", "up"]);
    ns.exec(&["ethtool", "-K", "eth0", "tx", "off"]);
}

/// A service address and the stream the client sends to it.
pub const SERVICE_V4: &str = "192.0.2.10";
pub const SERVICE_V6: &str = "2001:db8::10";
pub const UDP_PORT: u16 = 5000;

/// A two-site testbed: a client and sites A and B, each in its own
/// namespace on one veth port of a private OVS bridge.
///
/// - client: 10.9.0.1/24, reaches 192.0.2.10 on-link (so it ARPs for it)
/// - site A: port 1, MAC 02:00:00:00:0a:01, 10.9.0.2/24, 192.0.2.10 on lo
/// - site B: port 2, MAC 02:00:00:00:0b:01, 10.9.0.3/24, 192.0.2.10 on lo
/// - client: port 3
///
/// The bridge also gets one priority-0 NORMAL flow with another cookie
/// (the return path; and proof that orbit leaves foreign flows alone).
pub struct Lab {
    pub ovs: Ovs,
    pub bridge: String,
    pub client: Netns,
    pub a: Netns,
    pub b: Netns,
    pub a_if: String,
    pub b_if: String,
    pub c_if: String,
}

pub const MAC_A: &str = "02:00:00:00:0a:01";
pub const MAC_B: &str = "02:00:00:00:0b:01";

impl Lab {
    pub async fn new() -> Lab {
        let ovs = Ovs::start();
        let bridge = unique("br");
        ovs.bridge(&bridge).await;
        let (client, a, b) = (Netns::new(), Netns::new(), Netns::new());
        let (a_if, b_if, c_if) = (unique("va"), unique("vb"), unique("vc"));
        veth(&ovs, &a, &a_if, MAC_A, &["10.9.0.2/24"]);
        veth(&ovs, &b, &b_if, MAC_B, &["10.9.0.3/24"]);
        veth(&ovs, &client, &c_if, "02:00:00:00:0c:01", &["10.9.0.1/24"]);
        for site in [&a, &b] {
            site.exec(&[
                "ip",
                "addr",
                "add",
                &format!("{SERVICE_V4}/32"),
                "dev",
                "lo",
            ]);
        }
        client.exec(&[
            "ip",
            "route",
            "add",
            &format!("{SERVICE_V4}/32"),
            "dev",
            "eth0",
        ]);
        for site in [&a, &b] {
            // Linux answers a Neighbor Solicitation only for an address on
            // the receiving interface (unlike ARP), so the IPv6 service
            // address sits on the site's link toward the switch.
            site.exec(&[
                "ip",
                "addr",
                "add",
                &format!("{SERVICE_V6}/128"),
                "dev",
                "eth0",
                "nodad",
            ]);
        }
        client.exec(&["ip", "addr", "add", "fd00:9::1/64", "dev", "eth0", "nodad"]);
        client.exec(&[
            "ip",
            "-6",
            "route",
            "add",
            &format!("{SERVICE_V6}/128"),
            "dev",
            "eth0",
        ]);
        let mut db = Ovsdb::connect(&ovs.db_endpoint()).await.expect("ovsdb");
        for (name, port) in [(&a_if, 1u16), (&b_if, 2), (&c_if, 3)] {
            db.add_port(&bridge, name, Some(port))
                .await
                .expect("add port");
        }
        for (name, port) in [(&a_if, 1i64), (&b_if, 2), (&c_if, 3)] {
            let deadline = Instant::now() + Duration::from_secs(30);
            while db.ofport(name).await.expect("ofport") != Some(port) {
                assert!(Instant::now() < deadline, "{name} never got ofport {port}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let lab = Lab {
            ovs,
            bridge,
            client,
            a,
            b,
            a_if,
            b_if,
            c_if,
        };
        lab.add_normal_flow();
        lab
    }

    pub fn add_normal_flow(&self) {
        self.ovs.ofctl(&[
            "add-flow",
            &self.mgmt(),
            "cookie=0x42,priority=0,actions=NORMAL",
        ]);
    }

    pub fn mgmt(&self) -> String {
        self.ovs.mgmt_endpoint(&self.bridge)
    }

    /// The `[sdn]` section for this lab.
    pub fn sdn_config(&self) -> orbit_sdn::Config {
        toml::from_str(&format!(
            r#"
            switch = "{}"
            ovsdb = "{}"
            bridge = "{}"
            [ports.a]
            port = 1
            mac = "{MAC_A}"
            [ports.b]
            port = 2
            mac = "{MAC_B}"
            "#,
            self.mgmt(),
            self.ovs.db_endpoint(),
            self.bridge
        ))
        .expect("sdn config")
    }

    pub fn services(&self) -> Vec<orbit_core::config::Service> {
        vec![orbit_core::config::Service {
            id: "web".parse().expect("id"),
            prefixes: prefixes(),
            sites: vec!["a".parse().expect("site"), "b".parse().expect("site")],
            health_checked: false,
            plan: None,
        }]
    }
}

/// The lab service's prefixes: one IPv4 and one IPv6 address.
pub fn prefixes() -> Vec<ipnet::IpNet> {
    vec![
        format!("{SERVICE_V4}/32").parse().expect("net"),
        format!("{SERVICE_V6}/128").parse().expect("net"),
    ]
}

/// The steering of the lab's one service.
pub fn steering(generation: u64, active: Option<&str>) -> orbit_core::Steering {
    let mut services = std::collections::BTreeMap::new();
    services.insert(
        "web".parse().expect("id"),
        orbit_core::ServiceSteering {
            prefixes: prefixes(),
            active: active.map(|s| s.parse().expect("site")),
            epoch: 0,
            local_role: orbit_core::Role::Standby,
            takeover: false,
        },
    );
    orbit_core::Steering {
        generation,
        local_site: "a".parse().expect("site"),
        fenced: false,
        observe_only: false,
        services,
    }
}

/// Sequence numbers one site's UDP socket received.
#[derive(Clone, Default)]
pub struct Received(pub std::sync::Arc<std::sync::Mutex<Vec<u64>>>);

impl Received {
    pub fn snapshot(&self) -> Vec<u64> {
        self.0.lock().expect("lock").clone()
    }
    pub fn len(&self) -> usize {
        self.0.lock().expect("lock").len()
    }
}

/// Starts a receiver on UDP_PORT inside `ns`; it runs until `stop`.
pub fn receiver(ns: &Netns, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> Received {
    let sock = ns.enter(|| std::net::UdpSocket::bind(("::", UDP_PORT)).expect("bind receiver"));
    sock.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    let got = Received::default();
    let g = got.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        while !stop.load(Ordering::Relaxed) {
            if let Ok((n, _)) = sock.recv_from(&mut buf) {
                if n >= 8 {
                    let seq = u64::from_be_bytes(buf[..8].try_into().expect("8 bytes"));
                    g.0.lock().expect("lock").push(seq);
                }
            }
        }
    });
    got
}

/// A constant-rate UDP stream from the client to the service address;
/// `sent` is the number of packets sent so far (sequence numbers 0..sent).
pub struct Stream {
    pub sent: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Stream {
    pub fn start(client: &Netns, pps: u32) -> Stream {
        Self::start_to(client, pps, SERVICE_V4)
    }

    /// `[::]` receivers take IPv4 too (V6ONLY is off by default on Linux).
    pub fn start_to(client: &Netns, pps: u32, service: &'static str) -> Stream {
        let target: std::net::IpAddr = service.parse().expect("service address");
        let bind = if target.is_ipv6() {
            "[::]:0"
        } else {
            "0.0.0.0:0"
        };
        let sock = client.enter(move || std::net::UdpSocket::bind(bind).expect("bind sender"));
        let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (s, st) = (sent.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let period = Duration::from_secs(1) / pps;
            let start = Instant::now();
            let mut seq: u64 = 0;
            while !st.load(Ordering::Relaxed) {
                let due = start + period * u32::try_from(seq).unwrap_or(u32::MAX);
                let now = Instant::now();
                if due > now {
                    std::thread::sleep(due - now);
                }
                // Counted before it leaves: a reader that sees `sent == n`
                // knows every seq >= n leaves after its read.
                s.store(seq + 1, Ordering::SeqCst);
                let _ = sock.send_to(&seq.to_be_bytes(), (target, UDP_PORT));
                seq += 1;
            }
        });
        Stream {
            sent,
            stop,
            thread: Some(thread),
        }
    }

    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    pub fn stop(&mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.sent()
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Waits until `cond` holds (polling), or panics with `what`.
pub async fn eventually(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
