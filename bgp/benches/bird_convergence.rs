//! Benchmark against real peers (not a test; run as root):
//!
//! ```text
//! cargo bench -p orbit-bgp --bench bird_convergence
//! ```
//!
//! 1. For N = 1, 1k, 10k, 100k host routes (198.18.0.0/15, the RFC 2544
//!    benchmark range):
//!    - orbit: time from `Speaker::apply` to all N routes in bird2's RIB
//!      (session already up);
//!    - orbit vs gobgpd, same bird2, same run: time from the session going
//!      up to the last of the N routes imported, read off bird's own
//!      millisecond timestamps, each speaker holding the same N routes
//!      beforehand (bird connects when the bench enables the protocol). gobgpd's routes are
//!      fed to it over BGP by a second orbit speaker (untimed), because
//!      gobgp 3.10's `mrt inject` loses paths here (500-700 of 1,000 on the
//!      first call, never all after 20 calls) and one CLI call per route is far slower than
//!      either speaker. Ratio = gobgpd / orbit.
//! 2. Resident memory with 1,000 prefixes announced to 8 peers: orbit's
//!    speaker alone in a child process vs gobgpd doing the same.
//!
//! Layout: bird2 in the lab's peer namespace; orbit (this process, whose
//! main thread enters the lab's speaker namespace first) and gobgpd (started
//! from that thread) in the speaker namespace, on its side of the veth.
//! bird has 9 local addresses (10.250.I.1-8 for the 8-peer memory run, .9
//! for the timing sessions).

#[path = "../tests/common/mod.rs"]
mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use orbit_bgp::Speaker;
use orbit_core::{Redirector, Role};

const SIZES: [usize; 4] = [1, 1_000, 10_000, 100_000];
const PEERS: usize = 8;

fn prefix(i: usize) -> String {
    let a = u32::from(Ipv4Addr::new(198, 18, 0, 0)) + i as u32;
    format!("{}/32", Ipv4Addr::from(a))
}

/// Speaker-side source addresses for the memory run's sessions.
fn side_addr(lab: &Lab, net: u8, k: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, net, (lab.idx & 0xff) as u8, k as u8)
}

fn extra_addr(lab: &Lab, k: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 250, (lab.idx & 0xff) as u8, k as u8)
}

const TIMING: usize = 9;

fn port(lab: &Lab, off: u32) -> u16 {
    (20000 + (lab.idx * 2 + off) % 40000) as u16
}

fn bird_conf(lab: &Lab) -> String {
    // Millisecond timestamps: session-up spans are read off bird's clock.
    let mut s = String::from("timeformat protocol iso long ms;\ntimeformat route iso long ms;\n");
    // Memory run: 8 sessions per speaker. bird allows one protocol per
    // neighbor address, so each speaker session comes from its own address
    // (orbit: 10.251.I.k, gobgpd: 10.252.I.k): not on bird's link, hence
    // multihop, with static routes to resolve them as next hops.
    s.push_str(&format!(
        "protocol static side {{ ipv4; route 10.251.{i}.0/24 via \"ob{x}b\"; \
         route 10.252.{i}.0/24 via \"ob{x}b\"; }}\n",
        i = lab.idx & 0xff,
        x = lab.idx
    ));
    for k in 1..=PEERS {
        let local = extra_addr(lab, k);
        s.push_str(&format!(
            "protocol bgp orbit{k} {{ local {local} as 65002; neighbor {o} as 65001; passive on; \
             multihop; ipv4 {{ import all; export none; }}; }}\n\
             protocol bgp gobgp{k} {{ local {local} as 65002; neighbor {g} as 65003; passive on; \
             multihop; ipv4 {{ import all; export none; }}; }}\n",
            o = side_addr(lab, 251, k),
            g = side_addr(lab, 252, k),
        ));
    }
    // Timing sessions: disabled until the clock starts; bird connects.
    let local = extra_addr(lab, TIMING);
    s.push_str(&format!(
        "protocol bgp orbitT {{ local {local} as 65002; neighbor {speaker} port {op} as 65001; \
         disabled; connect delay time 0; ipv4 {{ import all; export none; }}; }}\n\
         protocol bgp gobgpT {{ local {local} as 65002; neighbor {g} port {gp} as 65003; \
         disabled; connect delay time 0; ipv4 {{ import all; export none; }}; }}\n",
        speaker = lab.v4_speaker,
        g = lab.v4_spare,
        op = port(lab, 0),
        gp = port(lab, 1),
    ));
    s
}

fn count(bird: &Bird, proto: &str) -> usize {
    let out = bird
        .cmd(&["show", "route", "protocol", proto, "count"])
        .unwrap_or_default();
    out.lines()
        .find_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let i = w.iter().position(|x| *x == "of")?;
            w.get(i.checked_sub(1)?)?.parse().ok()
        })
        .unwrap_or(0)
}

fn wait_count(bird: &Bird, proto: &str, n: usize, secs: u64) -> Duration {
    let t0 = Instant::now();
    loop {
        if count(bird, proto) == n {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(secs),
            "{proto}: {} of {n} routes after {secs}s",
            count(bird, proto)
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `peers == 0`: the timing speaker, one passive peer (bird's .9) on our
/// own listening port.
fn speaker_toml(lab: &Lab, peers: usize) -> String {
    if peers == 0 {
        return format!(
            "asn = 65001\nrouter_id = \"192.0.2.1\"\nconnect_retry = \"200ms\"\n\
             graceful_restart_time = \"0s\"\nlisten = true\nlisten_port = {p}\n\
             [[peer]]\naddress = \"{a}\"\nasn = 65002\npassive = true\nfamilies = [\"ipv4\"]\n",
            p = port(lab, 0),
            a = extra_addr(lab, TIMING)
        );
    }
    let mut s = String::from(
        "asn = 65001\nrouter_id = \"192.0.2.1\"\nconnect_retry = \"200ms\"\n\
         graceful_restart_time = \"0s\"\n",
    );
    for k in 1..=peers {
        s.push_str(&format!(
            "[[peer]]\naddress = \"{}\"\nlocal_address = \"{}\"\nasn = 65002\nfamilies = [\"ipv4\"]\nmax_prefixes = 10\n",
            extra_addr(lab, k),
            side_addr(lab, 251, k)
        ));
    }
    s
}

/// gobgpd for the memory run: 8 bird peers (10.250.I.1-8, bird connects)
/// plus the feeder. For the timing run
/// (`peers == 0`) its only bird peer is 10.250.I.9, which connects to it.
fn gobgp_toml(lab: &Lab, peers: usize) -> String {
    let mut s = format!(
        "[global.config]\n  as = 65003\n  router-id = \"{g}\"\n  port = {p}\n  local-address-list = [\"{g}\"]\n",
        g = lab.v4_spare,
        p = port(lab, 1),
    );
    let neighbor = |addr: String, asn: u32, local: Ipv4Addr, passive: bool| {
        format!(
            "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{addr}\"\n    peer-as = {asn}\n  \
             [neighbors.transport.config]\n    local-address = \"{local}\"\n    passive-mode = {passive}\n  \
             [[neighbors.afi-safis]]\n    [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n"
        )
    };
    if peers == 0 {
        s.push_str(&neighbor(
            extra_addr(lab, TIMING).to_string(),
            65002,
            lab.v4_spare,
            true,
        ));
    }
    for k in 1..=peers {
        s.push_str(&neighbor(
            extra_addr(lab, k).to_string(),
            65002,
            side_addr(lab, 252, k),
            false,
        ));
    }
    // The feeder: an orbit speaker at the speaker address gives gobgpd its routes.
    s.push_str(&neighbor(
        lab.v4_speaker.to_string(),
        65001,
        lab.v4_spare,
        true,
    ));
    s
}

/// The orbit speaker that feeds gobgpd its N routes over BGP.
fn feeder_toml(lab: &Lab) -> String {
    format!(
        "asn = 65001\nrouter_id = \"192.0.2.7\"\nconnect_retry = \"200ms\"\n\
         graceful_restart_time = \"0s\"\n[[peer]]\naddress = \"{g}\"\nport = {p}\nasn = 65003\n\
         local_address = \"{speaker}\"\nfamilies = [\"ipv4\"]\n",
        g = lab.v4_spare,
        p = port(lab, 1),
        speaker = lab.v4_speaker
    )
}

struct RootGobgp {
    child: std::process::Child,
    port: u16,
}

impl RootGobgp {
    fn start(lab: &Lab, peers: usize, tag: &str) -> RootGobgp {
        let conf = lab.dir.join(format!("gobgpd-{tag}.toml"));
        std::fs::write(&conf, gobgp_toml(lab, peers)).expect("gobgpd conf");
        let port = 40000 + (lab.idx % 20000) as u16;
        let log = std::fs::File::create(lab.dir.join(format!("gobgpd-{tag}.log"))).expect("log");
        let child = Command::new("gobgpd")
            .args(["-f", &conf.display().to_string(), "-p", "--pprof-disable"])
            .args(["--api-hosts", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("gobgpd");
        let g = RootGobgp { child, port };
        wait_for(15, "gobgpd API", || g.cli(&["global"]).is_some());
        g
    }

    fn cli(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("gobgp")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl RootGobgp {
    /// Routes in gobgpd's global RIB.
    fn rib_count(&self) -> usize {
        self.cli(&["global", "rib", "-a", "ipv4", "summary"])
            .and_then(|o| {
                let i = o.find("Path: ")? + 6;
                o[i..].split_whitespace().next()?.parse().ok()
            })
            .unwrap_or(0)
    }
}

impl Drop for RootGobgp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn vm_rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The RSS child: orbit's speaker alone, 1,000 prefixes, `PEERS` peers.
fn rss_child(cfg_path: &str) {
    let text = std::fs::read_to_string(cfg_path).expect("cfg");
    let cfg = bgp_config(&text);
    let prefixes: Vec<String> = (0..1000).map(prefix).collect();
    let refs: Vec<&str> = prefixes.iter().map(String::as_str).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let mut speaker = Speaker::start(&cfg, &services(&refs)).await.expect("start");
        let t0 = Instant::now();
        loop {
            let peers = speaker.peers().await.expect("peers");
            if peers
                .iter()
                .all(|p| p.state == orbit_bgp::fsm::State::Established)
            {
                break;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "peers not up: {:?}",
                peers
                    .iter()
                    .map(|p| (p.address, p.state, p.last_error.clone()))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        speaker
            .apply(&steering(1, &refs, Role::Active, false))
            .await
            .expect("apply");
        tokio::time::sleep(Duration::from_secs(1)).await;
        println!("RSS {}", vm_rss_kib(std::process::id()));
        let _ = std::io::stdout().flush();
        // Stay up until the parent closes stdin.
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    });
}

/// "HH:MM:SS.mmm" -> milliseconds since midnight.
fn clock_ms(t: &str) -> Option<u64> {
    let t = t.trim_end_matches(']');
    let (hms, frac) = t.split_once('.')?;
    let mut it = hms.split(':').map(|x| x.parse::<u64>().ok());
    let (h, m, s) = (it.next()??, it.next()??, it.next()??);
    Some(((h * 60 + m) * 60 + s) * 1000 + frac.get(..3)?.parse::<u64>().ok()?)
}

/// By bird's own clock: from the session going up to the last route of
/// `proto` imported.
fn bird_span(bird: &Bird, proto: &str) -> Duration {
    let p = bird.cmd(&["show", "protocols", proto]).unwrap_or_default();
    let up = p
        .lines()
        .find(|l| l.starts_with(proto))
        .and_then(|l| clock_ms(l.split_whitespace().nth(5)?))
        .expect("protocol up time");
    let routes = bird
        .cmd(&["show", "route", "protocol", proto])
        .unwrap_or_default();
    let tag = format!("[{proto} ");
    let last = routes
        .lines()
        .filter_map(|l| {
            let i = l.find(&tag)? + tag.len();
            clock_ms(l[i..].split_whitespace().nth(1)?)
        })
        .max()
        .expect("route times");
    // Midnight wrap.
    let span = if last >= up {
        last - up
    } else {
        last + 86_400_000 - up
    };
    Duration::from_millis(span)
}

fn wait_rib(g: &RootGobgp, n: usize) {
    wait_for(600, "gobgpd RIB", || g.rib_count() == n);
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    if let Ok(cfg) = std::env::var("ORBIT_BENCH_RSS_CHILD") {
        rss_child(&cfg);
        return;
    }
    let lab = Lab::new();
    // Everything below (runtime, addresses, routes, gobgpd, the RSS child)
    // lives in the speaker's namespace.
    let _entered = lab.enter();
    for k in 1..=TIMING {
        let a = extra_addr(&lab, k);
        lab.exec(&["ip", "addr", "add", &format!("{a}/32"), "dev", &lab.peer_if]);
    }
    let net = format!("10.250.{}.0/24", lab.idx & 0xff);
    let _ = Command::new("ip").args(["route", "del", &net]).output();
    let st = Command::new("ip")
        .args(["route", "add", &net, "dev", &lab.speaker_if])
        .status()
        .expect("ip route");
    assert!(st.success());
    // gobgpd speaks from the spare address on the speaker side; the memory
    // run's sessions from 10.251.I.k (orbit) and 10.252.I.k (gobgpd).
    lab.add_speaker_addr(lab.v4_spare);
    let ns_if = lab.peer_if.clone();
    for net in [251u8, 252] {
        for k in 1..=PEERS {
            let a = side_addr(&lab, net, k);
            let st = Command::new("ip")
                .args(["addr", "add", &format!("{a}/32"), "dev", &lab.speaker_if])
                .status()
                .expect("ip addr");
            assert!(st.success());
        }
        lab.exec(&[
            "ip",
            "route",
            "add",
            &format!("10.{net}.{}.0/24", lab.idx & 0xff),
            "dev",
            &ns_if,
        ]);
    }
    let bird = Bird::start(&lab, &bird_conf(&lab));

    // Part 1: time to RIB (ORBIT_BENCH_ONLY_RSS=1 skips it).
    let only_rss = std::env::var("ORBIT_BENCH_ONLY_RSS").is_ok();
    let max = *SIZES.iter().max().expect("sizes");
    let all: Vec<String> = (0..max).map(prefix).collect();
    let all_refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let svcs = services(&all_refs);
    let mut speaker = rt
        .block_on(Speaker::start(&bgp_config(&speaker_toml(&lab, 0)), &svcs))
        .expect("start");
    let mut feeder = rt
        .block_on(Speaker::start(&bgp_config(&feeder_toml(&lab)), &svcs))
        .expect("feeder");
    let g = RootGobgp::start(&lab, 0, "time");
    let enable = |p: &str| bird.cmd(&["enable", p]).expect("birdc enable");
    let disable = |p: &str| bird.cmd(&["disable", p]).expect("birdc disable");

    println!(
        "| prefixes | orbit apply -> bird RIB | orbit session up -> last route in bird | gobgpd session up -> last route in bird | gobgpd / orbit |"
    );
    println!("|---:|---:|---:|---:|---:|");
    let mut gen = 1;
    for &n in SIZES.iter().filter(|_| !only_rss) {
        let refs = &all_refs[..n];
        // orbit, session already up: apply -> RIB.
        enable("orbitT");
        wait_for(30, "orbitT Established", || bird.established("orbitT"));
        gen += 1;
        let t0 = Instant::now();
        rt.block_on(speaker.apply(&steering(gen, refs, Role::Active, false)))
            .expect("apply");
        let returned = t0.elapsed();
        wait_count(&bird, "orbitT", n, 600);
        let apply = t0.elapsed();
        // orbit, session up -> RIB.
        disable("orbitT");
        wait_count(&bird, "orbitT", 0, 600);
        enable("orbitT");
        wait_count(&bird, "orbitT", n, 600);
        let orbit_up = bird_span(&bird, "orbitT");
        disable("orbitT");
        wait_count(&bird, "orbitT", 0, 600);

        // gobgpd, fed N routes first (untimed), session up -> RIB.
        gen += 1;
        rt.block_on(feeder.apply(&steering(gen, refs, Role::Active, false)))
            .expect("feed gobgpd");
        wait_rib(&g, n);
        enable("gobgpT");
        wait_count(&bird, "gobgpT", n, 600);
        let gobgp_up = bird_span(&bird, "gobgpT");
        disable("gobgpT");
        wait_count(&bird, "gobgpT", 0, 600);
        gen += 1;
        rt.block_on(feeder.apply(&steering(gen, refs, Role::Withdrawn, false)))
            .expect("unfeed gobgpd");
        wait_rib(&g, 0);

        let ratio = gobgp_up.as_secs_f64() / orbit_up.as_secs_f64();
        println!(
            "| {n} | {} (apply returned after {}) | {} | {} | {ratio:.2}x |",
            ms(apply),
            ms(returned),
            ms(orbit_up),
            ms(gobgp_up)
        );
    }
    drop(g);
    rt.block_on(speaker.shutdown("bench part 1 done"));
    rt.block_on(feeder.shutdown("bench part 1 done"));

    // Part 2: resident memory, 1,000 prefixes to 8 peers.
    let cfg_path = lab.dir.join("rss-speaker.toml");
    std::fs::write(&cfg_path, speaker_toml(&lab, PEERS)).expect("cfg");
    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .env("ORBIT_BENCH_RSS_CHILD", &cfg_path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("rss child");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    while !line.starts_with("RSS ") {
        line.clear();
        assert!(out.read_line(&mut line).expect("read") > 0, "child died");
    }
    let orbit_rss: u64 = line[4..].trim().parse().expect("rss");
    for k in 1..=PEERS {
        wait_count(&bird, &format!("orbit{k}"), 1000, 60);
    }
    drop(child.stdin.take());
    let _ = child.wait();

    let g = RootGobgp::start(&lab, PEERS, "rss");
    let mut feeder = rt
        .block_on(Speaker::start(&bgp_config(&feeder_toml(&lab)), &svcs))
        .expect("feeder");
    // gobgpd may not have taken the feeder's session yet: the routes go out
    // when it does (apply keeps the desired state), so Unreachable is fine.
    let _ = rt.block_on(feeder.apply(&steering(1, &all_refs[..1000], Role::Active, false)));
    for k in 1..=PEERS {
        bird.cmd(&["disable", &format!("orbit{k}")])
            .expect("disable");
        bird.cmd(&["enable", &format!("gobgp{k}")]).expect("enable");
    }
    for k in 1..=PEERS {
        wait_count(&bird, &format!("gobgp{k}"), 1000, 120);
    }
    std::thread::sleep(Duration::from_secs(1));
    let gobgp_rss = vm_rss_kib(g.child.id());
    println!();
    println!("| 1,000 prefixes, 8 peers | RSS |");
    println!("|---|---:|");
    println!(
        "| orbit speaker (alone in a process) | {:.1} MiB |",
        orbit_rss as f64 / 1024.0
    );
    println!(
        "| gobgpd (also holding the 1,000 fed routes in its Adj-RIB-In) | {:.1} MiB |",
        gobgp_rss as f64 / 1024.0
    );
    rt.block_on(feeder.shutdown("bench done"));
    drop(g);
    let _ = Command::new("ip").args(["route", "del", &net]).output();
}
