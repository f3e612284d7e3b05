//! Network namespaces, veth links and commands run inside them.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A short tag unique to this process and call (pid and a counter).
pub fn unique() -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("{}{n}", std::process::id() % 100_000)
}

/// Runs a command; its stdout, or `Err` with its output on failure.
pub fn try_run(args: &[&str]) -> Result<String, String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("cannot run {args:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// Runs a command, panicking with its output on failure.
pub fn run(args: &[&str]) -> String {
    try_run(args).unwrap_or_else(|e| panic!("{e}"))
}

/// A network namespace with `lo` up; every process still in it is killed
/// and the namespace deleted on drop.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// `role` goes into the name (keep it short: names are listed by `ip netns`).
    pub fn new(role: &str) -> Netns {
        crate::assert_root("network namespace tests");
        let name = format!("ot{}-{role}", unique());
        run(&["ip", "netns", "add", &name]);
        let ns = Netns { name };
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    fn args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut full = vec!["ip", "netns", "exec", &self.name];
        full.extend_from_slice(args);
        full
    }

    /// Runs a command inside; panics on failure.
    pub fn exec(&self, args: &[&str]) -> String {
        run(&self.args(args))
    }

    pub fn try_exec(&self, args: &[&str]) -> Result<String, String> {
        try_run(&self.args(args))
    }

    /// Starts a program inside with stdout and stderr to `log`. `ip netns
    /// exec` execs the program, so the child's pid is the program's.
    pub fn spawn(&self, args: &[&str], log: &Path) -> Child {
        let file = std::fs::File::create(log).expect("create log file");
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::from(file.try_clone().expect("clone log file")))
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {args:?}: {e}"))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Ok(pids) = try_run(&["ip", "netns", "pids", &self.name]) {
            for pid in pids.split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).output();
            }
        }
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A veth pair between two namespaces with an IPv4 /30 on it.
#[derive(Debug, Clone)]
pub struct Veth {
    pub a_if: String,
    pub b_if: String,
    pub a_addr: std::net::Ipv4Addr,
    pub b_addr: std::net::Ipv4Addr,
}

impl Veth {
    /// Addresses `net.1` (in `a`) and `net.2` (in `b`) of the /30 `net`;
    /// the namespaces are private, so the same net can be used by every test.
    pub fn new(a: &Netns, b: &Netns, net: std::net::Ipv4Addr) -> Veth {
        let tag = unique();
        let (a_if, b_if) = (format!("ova{tag}"), format!("ovb{tag}"));
        assert!(a_if.len() <= 15, "interface name too long: {a_if}");
        run(&[
            "ip", "link", "add", &a_if, "netns", &a.name, "type", "veth", "peer", "name", &b_if,
            "netns", &b.name,
        ]);
        let base = u32::from(net);
        let veth = Veth {
            a_if,
            b_if,
            a_addr: (base + 1).into(),
            b_addr: (base + 2).into(),
        };
        for (ns, ifname, addr) in [(a, &veth.a_if, veth.a_addr), (b, &veth.b_if, veth.b_addr)] {
            ns.exec(&["ip", "addr", "add", &format!("{addr}/30"), "dev", ifname]);
            ns.exec(&["ip", "link", "set", ifname, "up"]);
        }
        veth
    }
}
