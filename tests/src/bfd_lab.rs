//! orbitd (BGP backend, one service active at its single site) and bird2
//! in two namespaces joined by a veth, with BFD on the BGP session or
//! without. Shared by `daemon/tests/e2e_bfd.rs` and the
//! `bfd_route_removal` benchmark.
//!
//! ```text
//!  netns "orbit": orbitd  ova… 10.99.0.1/30 ──veth── ovb… 10.99.0.2/30  bird2 (netns "bird")
//!                 BGP AS 65001 announces 198.51.100.10/32 ──►  AS 64500, exports to its kernel FIB
//! ```

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use orbit_core::api::{BfdSessionReport, StatusResponse};

use crate::bird::Bird;
use crate::netns::{unique, Netns, Veth};
use crate::orbitd::Orbitd;

/// The service prefix orbitd announces.
pub const PREFIX: &str = "198.51.100.10/32";
/// The name of bird's BGP protocol toward orbitd.
pub const BIRD_PROTOCOL: &str = "orbit";

/// BFD timers on both sides, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabConfig {
    /// (interval in ms, multiplier) on both sides; `None`: no BFD at all.
    pub bfd: Option<(u32, u8)>,
    /// BGP hold time on both sides, in seconds.
    pub hold_secs: u32,
    /// orbitd's RFC 4724 restart time in seconds (`[bgp]
    /// graceful_restart_time`, also how long its BFD helper outlives a
    /// crash), with bird's `graceful restart on`; 0: no graceful restart.
    pub graceful_restart_secs: u32,
}

/// A temporary directory removed on drop (kept when `ORBIT_KEEP` is set).
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("orbit-{tag}-{}", unique()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("ORBIT_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// The lab. Fields drop in order: the daemons, then the namespaces.
#[derive(Debug)]
pub struct BfdLab {
    pub orbitd: Option<Orbitd>,
    nft: std::sync::Mutex<NftShell>,
    pub bird: Bird,
    pub veth: Veth,
    pub orbit_ns: Netns,
    pub bird_ns: Netns,
    pub dir: TempDir,
    pub config: LabConfig,
}

impl BfdLab {
    /// Builds the namespaces and starts bird and `orbitd_exe`.
    pub fn start(orbitd_exe: &Path, config: LabConfig) -> BfdLab {
        let dir = TempDir::new("bfdlab");
        let orbit_ns = Netns::new("orbit");
        let bird_ns = Netns::new("bird");
        let veth = Veth::new(&orbit_ns, &bird_ns, "10.99.0.0".parse().expect("net"));
        let bird = Bird::start(&bird_ns, &dir.0, &bird_config(&veth, config));
        let nft = std::sync::Mutex::new(NftShell::start(&bird_ns));
        let orbit_conf = dir.0.join("orbit.toml");
        std::fs::write(dir.0.join("gossip.key"), "a-gossip-key-for-this-test-only")
            .expect("gossip.key");
        std::fs::write(&orbit_conf, orbit_config(&dir.0, &veth, config)).expect("orbit.toml");
        let orbitd = Orbitd::start(
            orbitd_exe,
            &orbit_ns,
            &orbit_conf,
            &dir.0.join("api.sock"),
            &dir.0.join("orbitd.log"),
        );
        BfdLab {
            orbitd: Some(orbitd),
            nft,
            bird,
            veth,
            orbit_ns,
            bird_ns,
            dir,
            config,
        }
    }

    pub fn orbitd(&self) -> &Orbitd {
        self.orbitd.as_ref().expect("orbitd is running")
    }

    /// `kill -9` of orbitd (nothing of it runs any more, except what it
    /// left behind on purpose: its BFD helper).
    pub fn kill_orbitd(&mut self) {
        if let Some(orbitd) = self.orbitd.take() {
            orbitd.kill9();
        }
    }

    /// Starts orbitd again with the same config and state directory; its
    /// log goes to `orbitd-{tag}.log` (the old log file may still be
    /// written to by the helper the killed orbitd started).
    pub fn restart_orbitd(&mut self, orbitd_exe: &Path, tag: &str) {
        assert!(self.orbitd.is_none(), "orbitd is still running");
        self.orbitd = Some(Orbitd::start(
            orbitd_exe,
            &self.orbit_ns,
            &self.dir.0.join("orbit.toml"),
            &self.dir.0.join("api.sock"),
            &self.dir.0.join(format!("orbitd-{tag}.log")),
        ));
    }

    /// The pids of the BFD helper processes (`orbitd bfd-helper`) in
    /// orbitd's namespace.
    pub fn bfd_helpers(&self) -> Vec<u32> {
        crate::netns::try_run(&["ip", "netns", "pids", &self.orbit_ns.name])
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .is_ok_and(|c| c.split(|b| *b == 0).any(|arg| arg == b"bfd-helper"))
            })
            .collect()
    }

    /// The unix socket orbitd's BGP-peer BFD helper listens on.
    pub fn helper_socket(&self) -> PathBuf {
        self.dir.0.join("state").join("bfd-bgp.sock")
    }

    /// orbitd's address, as bird sees its BGP and BFD peer.
    pub fn orbit_addr(&self) -> String {
        self.veth.a_addr.to_string()
    }

    /// bird's address, as orbitd sees it.
    pub fn bird_addr(&self) -> String {
        self.veth.b_addr.to_string()
    }

    /// orbitd's BFD sessions from `GET /v1/status`.
    pub fn orbit_bfd(&self) -> Vec<BfdSessionReport> {
        let (code, body) = self.orbitd().get("/v1/status");
        assert_eq!(code, 200, "{body}");
        let status: StatusResponse =
            serde_json::from_str(&body).unwrap_or_else(|e| panic!("bad status ({e}): {body}"));
        status.bfd
    }

    /// orbitd's `/metrics` text.
    pub fn orbit_metrics(&self) -> String {
        let (code, body) = self.orbitd().get("/metrics");
        assert_eq!(code, 200, "{body}");
        body
    }

    /// Whether bird's kernel FIB holds the service route.
    pub fn in_fib(&self) -> bool {
        !self
            .bird_ns
            .exec(&["ip", "-4", "route", "show", PREFIX])
            .trim()
            .is_empty()
    }

    /// Cuts the link: an nftables table in bird's namespace drops every
    /// packet in and out of its veth. Returns when the command was written
    /// to an `nft -i` already running there and when nft had committed it
    /// (its listing of the table came back), so the cut took effect in
    /// between.
    pub fn cut(&self) -> (Instant, Instant) {
        let command = format!(
            "add table inet orbitcut {{ chain i {{ type filter hook input priority -300; iifname \"{i}\" drop; }}; \
             chain o {{ type filter hook output priority -300; oifname \"{i}\" drop; }}; }}",
            i = self.veth.b_if
        );
        let mut nft = self
            .nft
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let start = Instant::now();
        nft.run(&command, "orbitcut");
        (start, Instant::now())
    }

    /// Removes the cut.
    pub fn restore(&self) {
        let mut nft = self
            .nft
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        nft.run("delete table inet orbitcut", MARK_TABLE);
    }

    /// Watches bird's kernel FIB (`ip monitor route` in its namespace).
    pub fn watch_fib(&self) -> FibWatch {
        FibWatch::start(&self.bird_ns)
    }
}

fn bird_config(veth: &Veth, config: LabConfig) -> String {
    // With graceful restart, bird's log says how it took a restart
    // ("Neighbor graceful restart detected": an event, logged only with
    // `debug`).
    let graceful = if config.graceful_restart_secs > 0 {
        "graceful restart on;\n  debug { states, events };"
    } else {
        ""
    };
    let (bfd_protocol, bfd_on) = match config.bfd {
        Some((ms, mult)) => (
            format!(
                "protocol bfd {{\n  interface \"{}\" {{ interval {ms} ms; multiplier {mult}; }};\n}}\n",
                veth.b_if
            ),
            "bfd on;",
        ),
        None => (String::new(), ""),
    };
    format!(
        r#"log "@LOG@" all;
timeformat log "%F %T.%3f";
timeformat protocol "%F %T.%3f";
router id {b};
protocol device {{ }}
protocol kernel {{ ipv4 {{ export all; }}; }}
{bfd_protocol}
protocol bgp {BIRD_PROTOCOL} {{
  local {b} as 64500;
  neighbor {a} as 65001;
  passive on;
  hold time {hold};
  error wait time 1, 2;
  {graceful}
  {bfd_on}
  ipv4 {{ import all; export none; }};
}}
"#,
        a = veth.a_addr,
        b = veth.b_addr,
        hold = config.hold_secs,
    )
}

fn orbit_config(dir: &Path, veth: &Veth, config: LabConfig) -> String {
    let (bfd, interval, mult) = match config.bfd {
        Some((ms, mult)) => (true, ms, mult),
        None => (false, 50, 3),
    };
    format!(
        r#"{head}[bgp]
asn = 65001
router_id = "{a}"
connect_retry = "200ms"
# 0s: no graceful restart, a dropped session must withdraw at once.
graceful_restart_time = "{gr}s"

[[bgp.peer]]
address = "{b}"
asn = 64500
hold = "{hold}s"
bfd = {bfd}
families = ["ipv4"]

[bfd]
interval = "{interval}ms"
multiplier = {mult}
"#,
        head = crate::orbitd::one_site_config(dir, &[PREFIX]),
        a = veth.a_addr,
        b = veth.b_addr,
        hold = config.hold_secs,
        gr = config.graceful_restart_secs,
    )
}

/// A table that always exists, listed to learn that a command finished.
const MARK_TABLE: &str = "orbitmark";

/// `nft -i` in a namespace: no process start per command, so the moment a
/// cut takes effect is known to within the command itself.
#[derive(Debug)]
struct NftShell {
    child: Child,
    stdin: std::process::ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl NftShell {
    fn start(ns: &Netns) -> NftShell {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns.name, "nft", "-i"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nft -i");
        let (tx, lines) = mpsc::channel();
        for out in [
            Box::new(child.stdout.take().expect("nft stdout")) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().expect("nft stderr")),
        ] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(out).lines() {
                    let Ok(line) = line else { return };
                    if tx.send(line).is_err() {
                        return;
                    }
                }
            });
        }
        let stdin = child.stdin.take().expect("nft stdin");
        let mut shell = NftShell {
            child,
            stdin,
            lines,
        };
        shell.run(&format!("add table inet {MARK_TABLE}"), MARK_TABLE);
        shell
    }

    /// Runs `command`, then lists `table` and waits for the listing's end
    /// (nft answers in order); panics with nft's output on an error.
    fn run(&mut self, command: &str, table: &str) {
        use std::io::Write;
        write!(self.stdin, "{command}\nlist table inet {table}\n")
            .and_then(|()| self.stdin.flush())
            .expect("write to nft -i");
        let mut seen = Vec::new();
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("nft -i did not answer {command:?}: {seen:?}"));
            assert!(!line.starts_with("Error"), "nft: {command:?}: {line}");
            if line == "}" {
                return;
            }
            seen.push(line);
        }
    }
}

impl Drop for NftShell {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `ip -4 monitor route` in a namespace; every line stamped when read.
#[derive(Debug)]
pub struct FibWatch {
    child: Child,
    lines: mpsc::Receiver<(Instant, String)>,
}

/// Whether process `pid` has a netlink socket (its port id is its pid)
/// that joined multicast groups: `ip monitor` sees changes from then on.
fn subscribed(pid: u32) -> bool {
    let pid = pid.to_string();
    std::fs::read_to_string(format!("/proc/{pid}/net/netlink")).is_ok_and(|table| {
        table.lines().skip(1).any(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            fields.get(2) == Some(&pid.as_str())
                && fields
                    .get(3)
                    .is_some_and(|groups| !groups.trim_start_matches('0').is_empty())
        })
    })
}

impl FibWatch {
    fn start(ns: &Netns) -> FibWatch {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &ns.name, "ip", "-4", "monitor", "route"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("ip monitor");
        let stdout = child.stdout.take().expect("ip monitor stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send((Instant::now(), line)).is_err() {
                    return;
                }
            }
        });
        let pid = child.id();
        crate::wait_until(
            Duration::from_secs(10),
            Duration::from_millis(5),
            "ip monitor to join the route groups",
            || subscribed(pid),
        );
        FibWatch { child, lines }
    }

    /// Forgets what was seen so far.
    pub fn clear(&self) {
        while self.lines.try_recv().is_ok() {}
    }

    /// When the FIB next lost (`deleted`) or gained the service route.
    pub fn next(&self, deleted: bool, within: Duration) -> Option<Instant> {
        let addr = PREFIX.split('/').next().unwrap_or(PREFIX);
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            let (at, line) = self.lines.recv_timeout(left).ok()?;
            let is_delete = line.starts_with("Deleted ");
            let route = line.trim_start_matches("Deleted ");
            if is_delete == deleted && route.split_whitespace().next() == Some(addr) {
                return Some(at);
            }
        }
    }
}

impl Drop for FibWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
