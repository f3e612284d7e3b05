//! Cold start: process start → all N host routes in bird2 (issue 21).
//!
//! ```sh
//! cargo bench -p orbitd --bench cold_start            # N = 1k, 10k, 100k
//! cargo bench -p orbitd --bench cold_start -- --quick # N = 1k, 10k
//! cargo bench -p orbitd --bench cold_start -- gobgpd  # one speaker only
//! ```
//!
//! For each N (/32s from 198.18.0.0/15, the RFC 2544 benchmark range) and
//! each speaker, a fresh pair of namespaces joined by a veth: the speaker
//! at 10.99.0.1, bird2 (`import all`) at 10.99.0.2. The clock
//! starts when the speaker's process is spawned and stops when `birdc show
//! route count` first reports N routes (polled every 10 ms); at that moment
//! the speaker's CPU seconds (utime + stime from /proc/PID/stat) and peak
//! RSS (VmHWM) are read.
//!
//! - orbitd: the real release binary, one site, one service holding the N
//!   prefixes, one BGP peer.
//! - gobgpd: has no static routes in its config and `gobgp global rib add`
//!   is one CLI call per route (`mrt inject` loses paths, see orbit-bgp's
//!   `bird_convergence` bench), so a second bird2 in gobgpd's namespace
//!   (passive, on the namespace's loopback) holds the N routes before gobgpd starts and
//!   gobgpd learns them over BGP: the fastest way found to load it, and
//!   its time includes that extra hop. gobgpd waits at least 5 s before its
//!   first connect, so bird connects to it instead (1 s after bird starts,
//!   bird's shortest delay); orbitd and ExaBGP connect to a passive bird.
//! - ExaBGP 4.2: a config with the N routes in a `static` block.

#![allow(clippy::unwrap_used, clippy::print_stdout)] // a bench binary: panics are its error report

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use orbit_tests::bfd_lab::TempDir;
use orbit_tests::bird::Bird;
use orbit_tests::netns::{Netns, Veth};
use orbit_tests::orbitd::one_site_config;
use orbit_tests::wait_until;

const SPEAKER_AS: u32 = 65001;
const BIRD_AS: u32 = 64500;
const FEEDER_AS: u32 = 65100;
/// The feeder and gobgpd's side of its session, on the speaker namespace's
/// loopback (gobgpd refuses 127/8 next hops).
const FEEDER_ADDR: &str = "10.98.0.2";
const GOBGPD_FEEDER_SIDE: &str = "10.98.0.1";
/// Give up on a speaker after this long (ExaBGP at 100k needs ~20 s).
const DEADLINE: Duration = Duration::from_secs(120);

#[derive(Clone, Copy, PartialEq)]
enum Speaker {
    Orbitd,
    Gobgpd,
    Exabgp,
}

impl Speaker {
    fn name(self) -> &'static str {
        match self {
            Speaker::Orbitd => "orbitd",
            Speaker::Gobgpd => "gobgpd",
            Speaker::Exabgp => "exabgp",
        }
    }
}

/// One run: process start → all N in bird, and the speaker's CPU and peak
/// RSS at that moment.
#[derive(Clone, Copy, Default)]
struct Sample {
    time: Duration,
    cpu_secs: f64,
    rss_mib: f64,
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let sizes: &[usize] = if quick {
        &[1_000, 10_000]
    } else {
        &[1_000, 10_000, 100_000]
    };
    let speakers = [Speaker::Orbitd, Speaker::Gobgpd, Speaker::Exabgp];
    // Speakers named on the command line are measured alone (the others'
    // columns show 0).
    let only: Vec<String> = std::env::args()
        .filter(|a| speakers.iter().any(|s| s.name() == a))
        .collect();
    println!(
        "process start -> all N /32s in bird2 (one peer); CPU s and peak RSS of the speaker\n"
    );
    println!(
        "| N | start -> all in bird: orbitd / gobgpd / exabgp | CPU s | RSS peak MiB | time ratio orbitd/gobgpd, orbitd/exabgp |"
    );
    println!("|---|---|---|---|---|");
    for &n in sizes {
        let samples: Vec<Sample> = speakers
            .iter()
            .map(|&s| {
                if only.is_empty() || only.iter().any(|o| o == s.name()) {
                    measure(s, n)
                } else {
                    Sample::default()
                }
            })
            .collect();
        let join = |f: fn(&Sample) -> String| samples.iter().map(f).collect::<Vec<_>>().join(" / ");
        println!(
            "| {n} | {} s | {} | {} | {:.2}, {:.2} |",
            join(|s| format!("{:.2}", s.time.as_secs_f64())),
            join(|s| format!("{:.2}", s.cpu_secs)),
            join(|s| format!("{:.1}", s.rss_mib)),
            samples[0].time.as_secs_f64() / samples[1].time.as_secs_f64(),
            samples[0].time.as_secs_f64() / samples[2].time.as_secs_f64(),
        );
    }
}

fn prefix(i: usize) -> String {
    let addr = u32::from(Ipv4Addr::new(198, 18, 0, 0)) + i as u32;
    format!("{}/32", Ipv4Addr::from(addr))
}

fn measure(speaker: Speaker, n: usize) -> Sample {
    let dir = TempDir::new("cold");
    let speaker_ns = Netns::new("spk");
    let bird_ns = Netns::new("bird");
    let veth = Veth::new(&speaker_ns, &bird_ns, Ipv4Addr::new(10, 99, 0, 0));
    let bird_dir = dir.0.join("bird");
    std::fs::create_dir_all(&bird_dir).unwrap();
    let bird = Bird::start(&bird_ns, &bird_dir, &bird_config(&veth, speaker));
    // gobgpd's feeder must hold every route before gobgpd starts.
    let _feeder = (speaker == Speaker::Gobgpd).then(|| feeder(&speaker_ns, &dir.0, n));
    let start = Instant::now();
    let mut child = match speaker {
        Speaker::Orbitd => start_orbitd(&speaker_ns, &dir.0, &veth, n),
        Speaker::Gobgpd => start_gobgpd(&speaker_ns, &dir.0, &veth),
        Speaker::Exabgp => start_exabgp(&speaker_ns, &dir.0, &veth, n),
    };
    let pid = child.id();
    let mut sample = None;
    while start.elapsed() < DEADLINE {
        if route_count(&bird) >= n {
            let time = start.elapsed();
            sample = Some(Sample {
                time,
                cpu_secs: cpu_secs(pid),
                rss_mib: peak_rss_mib(pid),
            });
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{} exited ({status}); logs in {}",
                speaker.name(),
                dir.0.display()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    sample.unwrap_or_else(|| {
        panic!(
            "{}: bird did not get {n} routes within {DEADLINE:?} (has {})",
            speaker.name(),
            route_count(&bird)
        )
    })
}

/// The first number of `show route count` ("N of N routes for N networks
/// in table master4"), 0 while bird has none.
fn route_count(bird: &Bird) -> usize {
    bird.birdc("show route count")
        .lines()
        .find(|l| l.contains("routes for"))
        .and_then(|l| l.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (which may hold spaces): state is
    // field 3, utime 14, stime 15.
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // USER_HZ is 100 on every Linux architecture we run on.
    ticks as f64 / 100.0
}

fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    kib / 1024.0
}

/// bird waits for orbitd and ExaBGP, which connect at once; gobgpd waits at
/// least 5 s before its first connect, so bird connects to it instead, 1 s
/// after starting (bird's shortest delay) and every second after that.
fn bird_config(veth: &Veth, speaker: Speaker) -> String {
    format!(
        "log \"@LOG@\" all;\nrouter id {b};\nprotocol device {{ }}\n\
         protocol bgp speaker {{ local {b} as {BIRD_AS}; neighbor {a} as {SPEAKER_AS}; \
         {connect} ipv4 {{ import all; export none; }}; }}\n",
        a = veth.a_addr,
        b = veth.b_addr,
        connect = connect_mode(speaker),
    )
}

fn connect_mode(speaker: Speaker) -> &'static str {
    match speaker {
        Speaker::Gobgpd => "connect delay time 1; connect retry time 1; error wait time 1, 1;",
        Speaker::Orbitd | Speaker::Exabgp => "passive on;",
    }
}

fn start_orbitd(ns: &Netns, dir: &Path, veth: &Veth, n: usize) -> Child {
    let prefixes: Vec<String> = (0..n).map(prefix).collect();
    let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    std::fs::write(dir.join("gossip.key"), "a-gossip-key-for-this-bench-only").unwrap();
    let config = format!(
        "{head}[bgp]\nasn = {SPEAKER_AS}\nrouter_id = \"{a}\"\nconnect_retry = \"200ms\"\n\n\
         [[bgp.peer]]\naddress = \"{b}\"\nasn = {BIRD_AS}\nfamilies = [\"ipv4\"]\n",
        head = one_site_config(dir, &refs),
        a = veth.a_addr,
        b = veth.b_addr,
    );
    let conf = dir.join("orbit.toml");
    std::fs::write(&conf, config).unwrap();
    ns.spawn(
        &[
            env!("CARGO_BIN_EXE_orbitd"),
            "--config",
            &conf.display().to_string(),
        ],
        &dir.join("orbitd.log"),
    )
}

/// bird2 beside gobgpd holding the N routes, passive on [`FEEDER_ADDR`].
fn feeder(ns: &Netns, dir: &Path, n: usize) -> Bird {
    let feeder_dir = dir.join("feeder");
    std::fs::create_dir_all(&feeder_dir).unwrap();
    let mut conf = format!(
        "router id {FEEDER_ADDR};\nprotocol device {{ }}\n\
         protocol bgp gobgp {{ local {FEEDER_ADDR} as {FEEDER_AS}; neighbor {GOBGPD_FEEDER_SIDE} as {SPEAKER_AS}; \
         {connect} multihop; strict bind on; ipv4 {{ import none; export all; next hop self; }}; }}\n\
         protocol static {{ ipv4;\n",
        connect = connect_mode(Speaker::Gobgpd),
    );
    for i in 0..n {
        conf.push_str(&format!("  route {} blackhole;\n", prefix(i)));
    }
    conf.push_str("}\n");
    for addr in [FEEDER_ADDR, GOBGPD_FEEDER_SIDE] {
        ns.exec(&["ip", "addr", "add", &format!("{addr}/32"), "dev", "lo"]);
    }
    let bird = Bird::start(ns, &feeder_dir, &conf);
    wait_until(
        Duration::from_secs(120),
        Duration::from_millis(50),
        "the feeder's static routes",
        || route_count(&bird) >= n,
    );
    bird
}

fn start_gobgpd(ns: &Netns, dir: &Path, veth: &Veth) -> Child {
    let conf = dir.join("gobgpd.toml");
    std::fs::write(
        &conf,
        format!(
            "[global.config]\n  as = {SPEAKER_AS}\n  router-id = \"{a}\"\n  \
             local-address-list = [\"{a}\", \"{GOBGPD_FEEDER_SIDE}\"]\n\n\
             [[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{b}\"\n    peer-as = {BIRD_AS}\n\
             [neighbors.transport.config]\n    passive-mode = true\n\
                 local-address = \"{a}\"\n\n\
             [[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{FEEDER_ADDR}\"\n    peer-as = {FEEDER_AS}\n\
             [neighbors.transport.config]\n    passive-mode = true\n\
                 local-address = \"{GOBGPD_FEEDER_SIDE}\"\n\
             [neighbors.ebgp-multihop.config]\n    enabled = true\n    multihop-ttl = 2\n",
            a = veth.a_addr,
            b = veth.b_addr,
        ),
    )
    .unwrap();
    ns.spawn(
        &[
            "gobgpd",
            "-f",
            &conf.display().to_string(),
            "--api-hosts",
            "127.0.0.1:50051",
        ],
        &dir.join("gobgpd.log"),
    )
}

fn start_exabgp(ns: &Netns, dir: &Path, veth: &Veth, n: usize) -> Child {
    let mut conf = format!(
        "neighbor {b} {{\n  router-id {a};\n  local-address {a};\n  local-as {SPEAKER_AS};\n  \
         peer-as {BIRD_AS};\n  static {{\n",
        a = veth.a_addr,
        b = veth.b_addr,
    );
    for i in 0..n {
        conf.push_str(&format!(
            "    route {} next-hop {};\n",
            prefix(i),
            veth.a_addr
        ));
    }
    conf.push_str("  }\n}\n");
    let path = dir.join("exabgp.conf");
    std::fs::write(&path, conf).unwrap();
    ns.spawn(
        &[
            "env",
            "exabgp.daemon.user=root",
            "exabgp.daemon.daemonize=false",
            "exabgp.log.destination=stdout",
            "exabgp.api.cli=false",
            "exabgp",
            &path.display().to_string(),
        ],
        &dir.join("exabgp.log"),
    )
}
