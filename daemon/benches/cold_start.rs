//! Cold start: process start → all N host routes in bird2 (issue 21), with
//! one BGP peer and with 8.
//!
//! ```sh
//! cargo bench -p orbitd --bench cold_start            # N = 1k, 10k, 100k x 1 peer; 1k x 8 peers
//! cargo bench -p orbitd --bench cold_start -- --quick # 1k, 10k x 1 peer; 1k x 8 peers
//! cargo bench -p orbitd --bench cold_start -- gobgpd  # one speaker only
//! ORBITD_BIN=/path/to/orbitd cargo bench -p orbitd --bench cold_start -- orbitd  # another build
//! ```
//!
//! For each case (N /32s from 198.18.0.0/15, the RFC 2544 benchmark range,
//! announced to P peers) and each speaker, a fresh pair of namespaces
//! joined by a veth: the speaker at 10.99.0.1, bird2 (`import all`) at
//! 10.99.0.2. With P > 1 bird runs P BGP protocols; bird allows one
//! protocol per neighbor address, so each session has an address pair of
//! its own on the same veth (speaker 10.99.1.k, bird 10.99.1.100+k). The
//! clock starts when the speaker's process is spawned and stops when
//! `birdc show route count` first reports N x P routes (polled every
//! 10 ms); at that moment the speaker's CPU seconds (utime + stime from
//! /proc/PID/stat) are read. [`SETTLE`] later, its peak RSS (VmHWM: the
//! start and whatever the first seconds of running added) and its steady
//! RSS (VmRSS) are read.
//!
//! - orbitd: the real release binary, one site, one service holding the N
//!   prefixes, P BGP peers.
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
/// How long after the last route the memory is read: past orbitd's first
/// read-back of its peers (every 3 s), so the peak includes it.
const SETTLE: Duration = Duration::from_millis(3_500);

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

/// N prefixes announced to `peers` BGP sessions.
#[derive(Clone, Copy)]
struct Case {
    n: usize,
    peers: usize,
}

/// One run: process start → all N x P in bird and the speaker's CPU at
/// that moment; its peak and steady RSS [`SETTLE`] later.
#[derive(Clone, Copy, Default)]
struct Sample {
    time: Duration,
    cpu_secs: f64,
    peak_mib: f64,
    steady_mib: f64,
    /// The steady RSS split: private memory (heap, stacks) and mapped
    /// files (the binary's and the libraries' pages, shared and
    /// reclaimable).
    anon_mib: f64,
    file_mib: f64,
    /// The steady proportional set size: shared pages (libc's code, say)
    /// divided among the processes that map them.
    pss_mib: f64,
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let one = |n| Case { n, peers: 1 };
    let mut cases = vec![one(1_000), one(10_000)];
    if !quick {
        cases.push(one(100_000));
    }
    cases.push(Case { n: 1_000, peers: 8 });
    let speakers = [Speaker::Orbitd, Speaker::Gobgpd, Speaker::Exabgp];
    // Speakers named on the command line are measured alone (the others'
    // columns show 0).
    let only: Vec<String> = std::env::args()
        .filter(|a| speakers.iter().any(|s| s.name() == a))
        .collect();
    println!(
        "process start -> all N /32s in bird2 from each of P peers; CPU s of the speaker then, \
         its peak (VmHWM) and steady (VmRSS) RSS {SETTLE:?} later, the steady one split into \
         private memory (RssAnon) and mapped files (RssFile + RssShmem), and its PSS\n"
    );
    println!(
        "| N | P | start -> all in bird: orbitd / gobgpd / exabgp | CPU s | RSS peak MiB | RSS steady MiB | steady: private + files MiB | PSS steady MiB | time ratio orbitd/gobgpd, orbitd/exabgp | peak RSS ratio orbitd/gobgpd, orbitd/exabgp |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for case in cases {
        let samples: Vec<Sample> = speakers
            .iter()
            .map(|&s| {
                if only.is_empty() || only.iter().any(|o| o == s.name()) {
                    measure(s, case)
                } else {
                    Sample::default()
                }
            })
            .collect();
        let join = |f: fn(&Sample) -> String| samples.iter().map(f).collect::<Vec<_>>().join(" / ");
        let ratios = |f: fn(&Sample) -> f64| {
            format!(
                "{:.2}, {:.2}",
                f(&samples[0]) / f(&samples[1]),
                f(&samples[0]) / f(&samples[2])
            )
        };
        println!(
            "| {} | {} | {} s | {} | {} | {} | {} | {} | {} | {} |",
            case.n,
            case.peers,
            join(|s| format!("{:.2}", s.time.as_secs_f64())),
            join(|s| format!("{:.2}", s.cpu_secs)),
            join(|s| format!("{:.1}", s.peak_mib)),
            join(|s| format!("{:.1}", s.steady_mib)),
            join(|s| format!("{:.1} + {:.1}", s.anon_mib, s.file_mib)),
            join(|s| format!("{:.1}", s.pss_mib)),
            ratios(|s| s.time.as_secs_f64()),
            ratios(|s| s.peak_mib),
        );
    }
}

/// One BGP session between the speaker and bird.
#[derive(Clone, Copy)]
struct Session {
    speaker: Ipv4Addr,
    bird: Ipv4Addr,
}

/// The sessions of a case: one runs between the veth's own addresses;
/// more each get a pair of their own on the same veth (bird allows one
/// protocol per neighbor address).
fn sessions(speaker_ns: &Netns, bird_ns: &Netns, veth: &Veth, peers: usize) -> Vec<Session> {
    if peers == 1 {
        return vec![Session {
            speaker: veth.a_addr,
            bird: veth.b_addr,
        }];
    }
    (1..=peers as u8)
        .map(|k| {
            let session = Session {
                speaker: Ipv4Addr::new(10, 99, 1, k),
                bird: Ipv4Addr::new(10, 99, 1, 100 + k),
            };
            for (ns, ifname, addr) in [
                (speaker_ns, &veth.a_if, session.speaker),
                (bird_ns, &veth.b_if, session.bird),
            ] {
                ns.exec(&["ip", "addr", "add", &format!("{addr}/24"), "dev", ifname]);
            }
            session
        })
        .collect()
}

fn prefix(i: usize) -> String {
    let addr = u32::from(Ipv4Addr::new(198, 18, 0, 0)) + i as u32;
    format!("{}/32", Ipv4Addr::from(addr))
}

fn measure(speaker: Speaker, case: Case) -> Sample {
    let Case { n, peers } = case;
    let dir = TempDir::new("cold");
    let speaker_ns = Netns::new("spk");
    let bird_ns = Netns::new("bird");
    let veth = Veth::new(&speaker_ns, &bird_ns, Ipv4Addr::new(10, 99, 0, 0));
    let sessions = sessions(&speaker_ns, &bird_ns, &veth, peers);
    let bird_dir = dir.0.join("bird");
    std::fs::create_dir_all(&bird_dir).unwrap();
    let bird = Bird::start(&bird_ns, &bird_dir, &bird_config(&veth, &sessions, speaker));
    // gobgpd's feeder must hold every route before gobgpd starts.
    let _feeder = (speaker == Speaker::Gobgpd).then(|| feeder(&speaker_ns, &dir.0, n));
    let start = Instant::now();
    let mut child = match speaker {
        Speaker::Orbitd => start_orbitd(&speaker_ns, &dir.0, &veth, &sessions, n),
        Speaker::Gobgpd => start_gobgpd(&speaker_ns, &dir.0, &veth, &sessions),
        Speaker::Exabgp => start_exabgp(&speaker_ns, &dir.0, &veth, &sessions, n),
    };
    let pid = child.id();
    let mut sample = None;
    while start.elapsed() < DEADLINE {
        if route_count(&bird) >= n * peers {
            let time = start.elapsed();
            let cpu_secs = cpu_secs(pid);
            std::thread::sleep(SETTLE);
            sample = Some(Sample {
                time,
                cpu_secs,
                peak_mib: status_mib(pid, "VmHWM:"),
                steady_mib: status_mib(pid, "VmRSS:"),
                anon_mib: status_mib(pid, "RssAnon:"),
                file_mib: status_mib(pid, "RssFile:") + status_mib(pid, "RssShmem:"),
                pss_mib: proc_mib(pid, "smaps_rollup", "Pss:"),
            });
            if std::env::var_os("ORBIT_BENCH_SMAPS").is_some() {
                print_mappings(speaker, pid);
            }
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
            "{}: bird did not get {n} x {peers} routes within {DEADLINE:?} (has {})",
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

/// With `ORBIT_BENCH_SMAPS` set: the speaker's mappings by resident size,
/// largest first, to see where its RSS goes.
fn print_mappings(speaker: Speaker, pid: u32) {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    let mut mappings: Vec<(u64, String)> = Vec::new();
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("Rss:") => {
                if let (Some(last), Some(kib)) = (mappings.last_mut(), words.next()) {
                    last.0 = kib.parse().unwrap_or(0);
                }
            }
            Some(first)
                if first.contains('-') && first.contains(|c: char| c.is_ascii_hexdigit()) =>
            {
                let name = line
                    .split_whitespace()
                    .skip(5)
                    .collect::<Vec<_>>()
                    .join(" ");
                let perms = line.split_whitespace().nth(1).unwrap_or("");
                mappings.push((0, format!("{perms} {name}")));
            }
            _ => {}
        }
    }
    mappings.sort_by_key(|m| std::cmp::Reverse(m.0));
    eprintln!("{} (pid {pid}), mappings by RSS:", speaker.name());
    for (kib, name) in mappings.iter().take(12) {
        eprintln!("  {kib:>7} kB  {name}");
    }
}

/// A line of /proc/PID/status in kB (`field` with its colon), in MiB.
fn status_mib(pid: u32, field: &str) -> f64 {
    proc_mib(pid, "status", field)
}

/// A line of /proc/PID/`file` in kB (`field` with its colon), in MiB.
fn proc_mib(pid: u32, file: &str, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap();
    kib / 1024.0
}

/// bird waits for orbitd and ExaBGP, which connect at once; gobgpd waits at
/// least 5 s before its first connect, so bird connects to it instead, 1 s
/// after starting (bird's shortest delay) and every second after that.
fn bird_config(veth: &Veth, sessions: &[Session], speaker: Speaker) -> String {
    let mut conf = format!(
        "log \"@LOG@\" all;\nrouter id {b};\nprotocol device {{ }}\n",
        b = veth.b_addr
    );
    for (k, s) in sessions.iter().enumerate() {
        conf.push_str(&format!(
            "protocol bgp speaker{k} {{ local {b} as {BIRD_AS}; neighbor {a} as {SPEAKER_AS}; \
             {connect} ipv4 {{ import all; export none; }}; }}\n",
            a = s.speaker,
            b = s.bird,
            connect = connect_mode(speaker),
        ));
    }
    conf
}

fn connect_mode(speaker: Speaker) -> &'static str {
    match speaker {
        Speaker::Gobgpd => "connect delay time 1; connect retry time 1; error wait time 1, 1;",
        Speaker::Orbitd | Speaker::Exabgp => "passive on;",
    }
}

fn start_orbitd(ns: &Netns, dir: &Path, veth: &Veth, sessions: &[Session], n: usize) -> Child {
    let prefixes: Vec<String> = (0..n).map(prefix).collect();
    let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    std::fs::write(dir.join("gossip.key"), "a-gossip-key-for-this-bench-only").unwrap();
    let mut config = format!(
        "{head}[bgp]\nasn = {SPEAKER_AS}\nrouter_id = \"{a}\"\nconnect_retry = \"200ms\"\n",
        head = one_site_config(dir, &refs),
        a = veth.a_addr,
    );
    for s in sessions {
        config.push_str(&format!(
            "\n[[bgp.peer]]\naddress = \"{b}\"\nasn = {BIRD_AS}\nfamilies = [\"ipv4\"]\n",
            b = s.bird
        ));
        if s.speaker != veth.a_addr {
            config.push_str(&format!("local_address = \"{}\"\n", s.speaker));
        }
    }
    let conf = dir.join("orbit.toml");
    std::fs::write(&conf, config).unwrap();
    // Another build (e.g. the commit before a change) can be measured
    // in the same run: ORBITD_BIN=path.
    let bin = std::env::var("ORBITD_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_orbitd").into());
    reread(Path::new(&bin));
    ns.spawn(
        &[&bin, "--config", &conf.display().to_string()],
        &dir.join("orbitd.log"),
    )
}

/// Drops `file` from the page cache and reads it back in. How a binary
/// got there changes orbitd's RSS: the pages of a file just written (cp,
/// strip) are mapped around every fault in larger blocks than pages read
/// from the disk (1 MiB more at 1k prefixes), so a copy of a build and
/// the linker's own output would not compare.
fn reread(file: &Path) {
    use nix::fcntl::{posix_fadvise, PosixFadviseAdvice};
    let mut f = std::fs::File::open(file).unwrap();
    posix_fadvise(&f, 0, 0, PosixFadviseAdvice::POSIX_FADV_DONTNEED).unwrap();
    std::io::copy(&mut f, &mut std::io::sink()).unwrap();
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

fn start_gobgpd(ns: &Netns, dir: &Path, veth: &Veth, sessions: &[Session]) -> Child {
    let conf = dir.join("gobgpd.toml");
    let locals: Vec<String> = sessions
        .iter()
        .map(|s| format!("\"{}\"", s.speaker))
        .chain([format!("\"{GOBGPD_FEEDER_SIDE}\"")])
        .collect();
    let mut text = format!(
        "[global.config]\n  as = {SPEAKER_AS}\n  router-id = \"{a}\"\n  \
         local-address-list = [{locals}]\n\n\
         [[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{FEEDER_ADDR}\"\n    peer-as = {FEEDER_AS}\n\
         [neighbors.transport.config]\n    passive-mode = true\n\
             local-address = \"{GOBGPD_FEEDER_SIDE}\"\n\
         [neighbors.ebgp-multihop.config]\n    enabled = true\n    multihop-ttl = 2\n",
        a = veth.a_addr,
        locals = locals.join(", "),
    );
    for s in sessions {
        text.push_str(&format!(
            "\n[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{b}\"\n    peer-as = {BIRD_AS}\n\
             [neighbors.transport.config]\n    passive-mode = true\n\
                 local-address = \"{a}\"\n",
            a = s.speaker,
            b = s.bird,
        ));
    }
    std::fs::write(&conf, text).unwrap();
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

fn start_exabgp(ns: &Netns, dir: &Path, veth: &Veth, sessions: &[Session], n: usize) -> Child {
    let mut conf = String::new();
    for s in sessions {
        conf.push_str(&format!(
            "neighbor {b} {{\n  router-id {id};\n  local-address {a};\n  local-as {SPEAKER_AS};\n  \
             peer-as {BIRD_AS};\n  static {{\n",
            id = veth.a_addr,
            a = s.speaker,
            b = s.bird,
        ));
        for i in 0..n {
            conf.push_str(&format!(
                "    route {} next-hop {};\n",
                prefix(i),
                s.speaker
            ));
        }
        conf.push_str("  }\n}\n");
    }
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
