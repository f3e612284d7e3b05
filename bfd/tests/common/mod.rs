//! Test fixtures: veth links, a runtime living inside a namespace, and a
//! bird2 instance (namespaces and commands come from `orbit-tests`). Everything is uniquely named per
//! process and removed in `Drop`, even on panic.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub use orbit_tests::netns::{unique, Netns};
pub use orbit_tests::sh;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Run a command inside `ns`.
pub fn ns_sh(ns: &str, args: &[&str]) -> String {
    let mut full = vec!["ip", "netns", "exec", ns];
    full.extend_from_slice(args);
    sh(&full)
}

/// Connect two namespaces with a veth pair; returns the interface names.
pub fn veth(a: &Netns, b: &Netns) -> (String, String) {
    let tag = unique();
    let (ia, ib) = (format!("ova{tag}"), format!("ovb{tag}"));
    assert!(ia.len() <= 15);
    sh(&[
        "ip", "link", "add", &ia, "netns", &a.name, "type", "veth", "peer", "name", &ib, "netns",
        &b.name,
    ]);
    a.exec(&["ip", "link", "set", &ia, "up"]);
    b.exec(&["ip", "link", "set", &ib, "up"]);
    (ia, ib)
}

/// A private /30 (and an fd00::/64) unique enough per process.
pub fn subnet_octets() -> (u8, u8) {
    let pid = std::process::id();
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    (
        ((pid >> 6) % 250) as u8 + 1,
        (((pid & 0x3f) << 2) as u8).wrapping_add((n as u8) << 2),
    )
}

/// A tokio runtime on a thread that has entered `ns`: sockets created by
/// tasks spawned on it live in that namespace.
pub struct NsRuntime {
    pub handle: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NsRuntime {
    pub fn new(ns: &Netns) -> NsRuntime {
        let path = format!("/var/run/netns/{}", ns.name);
        let (htx, hrx) = std::sync::mpsc::channel();
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let f = std::fs::File::open(&path).expect("open netns");
            nix::sched::setns(f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            htx.send(rt.handle().clone()).expect("send handle");
            rt.block_on(async {
                let _ = stop_rx.await;
            });
        });
        let handle = hrx.recv().expect("runtime handle");
        NsRuntime {
            handle,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for NsRuntime {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let p = std::env::temp_dir().join(format!("obfd-{}", unique()));
        std::fs::create_dir_all(&p).expect("mkdir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// bird2 running in a namespace (`orbit_tests::bird`) with its files in
/// a directory of its own.
pub struct Bird {
    inner: orbit_tests::bird::Bird,
    pub dir: TempDir,
}

impl std::ops::Deref for Bird {
    type Target = orbit_tests::bird::Bird;
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl Bird {
    pub fn start(ns: &Netns, config: &str) -> Bird {
        let dir = TempDir::new();
        let inner = orbit_tests::bird::Bird::start(ns, &dir.0, config);
        Bird { inner, dir }
    }

    /// Wait until bird shows `state` for `peer`.
    pub fn wait_bfd_state(&self, peer: &str, state: &str, within: Duration) {
        let t0 = Instant::now();
        loop {
            if self.bfd_state(peer).as_deref() == Some(state) {
                return;
            }
            assert!(
                t0.elapsed() < within,
                "bird never showed {state} for {peer}: {}",
                self.birdc("show bfd sessions")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Load an nftables ruleset (newline-separated) inside `ns`.
pub fn nft(ns: &str, ruleset: &str) {
    let dir = TempDir::new();
    let path = dir.0.join("rules.nft");
    std::fs::write(&path, ruleset).expect("write rules");
    ns_sh(ns, &["nft", "-f", &path.display().to_string()]);
}

/// An nftables table in `ns` dropping BFD control traffic both ways.
pub fn cut_bfd(ns: &str, port: u16) {
    nft(
        ns,
        &format!(
            "table inet obfdcut {{\n chain i {{\n  type filter hook input priority 0;\n  udp dport {port} drop\n }}\n \
             chain o {{\n  type filter hook output priority 0;\n  udp dport {port} drop\n }}\n}}\n"
        ),
    );
}

/// Drop forwarded traffic to `port` in a router namespace.
pub fn cut_forward(ns: &str, port: u16) {
    nft(
        ns,
        &format!(
            "table inet obfdcut {{\n chain f {{\n  type filter hook forward priority 0;\n  udp dport {port} drop\n }}\n}}\n"
        ),
    );
}

pub fn restore_bfd(ns: &str) {
    ns_sh(ns, &["nft", "delete table inet obfdcut"]);
}

/// The driver's status once `ok` holds for it: waits for a state to show
/// instead of sleeping a guessed time before reading it once.
pub async fn status_when(
    handle: &orbit_bfd::BfdHandle,
    what: &str,
    ok: impl Fn(&orbit_bfd::DriverStatus) -> bool,
) -> orbit_bfd::DriverStatus {
    orbit_tests::eventually(
        Duration::from_secs(10),
        Duration::from_millis(10),
        what,
        || async { handle.status().await.expect("status") },
        ok,
    )
    .await
}
