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
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() {
        assert!(Instant::now() < deadline, "{what} did not create {path:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A private Open vSwitch.
pub struct Ovs {
    pub dir: tempfile::TempDir,
    db: Child,
    vswitchd: Option<Child>,
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
        let child = Command::new("ovs-vswitchd")
            .arg(format!("unix:{}", d.join("db.sock").display()))
            .arg(format!(
                "--pidfile={}",
                d.join("ovs-vswitchd.pid").display()
            ))
            .arg(format!(
                "--log-file={}",
                d.join("ovs-vswitchd.log").display()
            ))
            .arg(format!(
                "--unixctl={}",
                d.join("ovs-vswitchd.ctl").display()
            ))
            .envs(Self::env(d))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ovs-vswitchd starts");
        self.vswitchd = Some(child);
        wait_for(&d.join("ovs-vswitchd.ctl"), "ovs-vswitchd");
    }

    /// Kills ovs-vswitchd hard (as a crash would): every flow and group is lost.
    pub fn kill_vswitchd(&mut self) {
        if let Some(mut c) = self.vswitchd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(self.dir.path().join("ovs-vswitchd.ctl"));
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
        wait_for(&self.mgmt_path(name), "ovs-vswitchd bridge");
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

/// A veth pair: `host` end stays in the root namespace (to become an OVS
/// port), the other end moves into `ns` with `mac` and `addrs`, TX
/// checksum offload off (the userspace datapath drops packets with
/// offloaded checksums).
pub fn veth(ns: &Netns, host: &str, mac: &str, addrs: &[&str]) {
    run(
        "ip",
        &[
            "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", &ns.name,
        ],
    );
    run("ip", &["link", "set", host, "up"]);
    ns.exec(&["ip", "link", "set", "eth0", "address", mac]);
    for a in addrs {
        ns.exec(&["ip", "addr", "add", a, "dev", "eth0"]);
    }
    ns.exec(&["ip", "link", "set", "eth0", "up"]);
    ns.exec(&["ethtool", "-K", "eth0", "tx", "off"]);
}
