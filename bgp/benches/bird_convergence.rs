//! Benchmark against real peers (not a test; run as root):
//!
//! ```text
//! cargo bench -p orbit-bgp --bench bird_convergence
//! ```
//!
//! 1. Time from `Speaker::apply` to all N routes in bird2's RIB, for N = 1,
//!    1k, 10k, 100k host routes (198.18.0.0/15, the RFC 2544 benchmark
//!    range), beside gobgpd announcing the same N routes into the same bird2
//!    in the same run (`gobgp mrt inject global` of an MRT dump we write,
//!    timed from the CLI call to the last route in bird's RIB). Prints the
//!    ratio gobgpd / orbit.
//! 2. Resident memory with 1,000 prefixes announced to 8 peers: orbit's
//!    speaker alone in a child process vs gobgpd doing the same.
//!
//! Layout: bird2 in a namespace; orbit (this process) and gobgpd in the
//! root namespace on the root side of the veth. bird has 8 local addresses
//! (10.250.I.1-8) so that each speaker can have 8 distinct peers.

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

fn extra_addr(lab: &Lab, k: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 250, (lab.idx & 0xff) as u8, k as u8)
}

fn bird_conf(lab: &Lab) -> String {
    let mut s = String::new();
    for k in 1..=PEERS {
        let local = extra_addr(lab, k);
        s.push_str(&format!(
            "protocol bgp orbit{k} {{ local {local} as 65002; neighbor {root} as 65001; passive on; \
             ipv4 {{ import all; export none; }}; }}\n\
             protocol bgp gobgp{k} {{ local {local} as 65002; neighbor {g} as 65003; passive on; \
             ipv4 {{ import all; export none; }}; }}\n",
            root = lab.v4_root,
            g = lab.v4_spare,
        ));
    }
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

fn speaker_toml(lab: &Lab, peers: usize) -> String {
    let mut s = String::from(
        "asn = 65001\nrouter_id = \"192.0.2.1\"\nconnect_retry = \"200ms\"\n\
         graceful_restart_time = \"0s\"\n",
    );
    for k in 1..=peers {
        s.push_str(&format!(
            "[[peer]]\naddress = \"{}\"\nasn = 65002\nfamilies = [\"ipv4\"]\nmax_prefixes = 10\n",
            extra_addr(lab, k)
        ));
    }
    s
}

fn gobgp_toml(lab: &Lab, peers: usize) -> String {
    let mut s = format!(
        "[global.config]\n  as = 65003\n  router-id = \"{g}\"\n  port = -1\n  local-address-list = [\"{g}\"]\n",
        g = lab.v4_spare
    );
    for k in 1..=peers {
        s.push_str(&format!(
            "[[neighbors]]\n  [neighbors.config]\n    neighbor-address = \"{}\"\n    peer-as = 65002\n  \
             [neighbors.transport.config]\n    local-address = \"{}\"\n  [[neighbors.afi-safis]]\n    \
             [neighbors.afi-safis.config]\n      afi-safi-name = \"ipv4-unicast\"\n",
            extra_addr(lab, k),
            lab.v4_spare
        ));
    }
    s
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

impl Drop for RootGobgp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An MRT TABLE_DUMP_V2 file (RFC 6396 §4.3) with `n` host routes, for
/// `gobgp mrt inject global`.
fn write_mrt(path: &std::path::Path, n: usize, next_hop: Ipv4Addr) {
    fn record(out: &mut Vec<u8>, subtype: u16, body: &[u8]) {
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&13u16.to_be_bytes()); // TABLE_DUMP_V2
        out.extend_from_slice(&subtype.to_be_bytes());
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(body);
    }
    let mut out = Vec::new();
    // PEER_INDEX_TABLE: collector id, empty view name, one AS4 IPv4 peer.
    let mut b = Vec::new();
    b.extend_from_slice(&next_hop.octets());
    b.extend_from_slice(&0u16.to_be_bytes());
    b.extend_from_slice(&1u16.to_be_bytes());
    b.push(0x02);
    b.extend_from_slice(&next_hop.octets());
    b.extend_from_slice(&next_hop.octets());
    b.extend_from_slice(&65003u32.to_be_bytes());
    record(&mut out, 1, &b);
    // ORIGIN IGP, AS_PATH [65003] (gobgp drops an empty one and then the
    // path), NEXT_HOP.
    let mut attrs = vec![0x40, 1, 1, 0, 0x40, 2, 6, 2, 1];
    attrs.extend_from_slice(&65003u32.to_be_bytes());
    attrs.extend_from_slice(&[0x40, 3, 4]);
    attrs.extend_from_slice(&next_hop.octets());
    for i in 0..n {
        let a = u32::from(Ipv4Addr::new(198, 18, 0, 0)) + i as u32;
        let mut b = Vec::new();
        b.extend_from_slice(&(i as u32).to_be_bytes());
        b.push(32);
        b.extend_from_slice(&a.to_be_bytes());
        b.extend_from_slice(&1u16.to_be_bytes());
        b.extend_from_slice(&0u16.to_be_bytes());
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
        b.extend_from_slice(&attrs);
        record(&mut out, 2, &b); // RIB_IPV4_UNICAST
    }
    std::fs::write(path, out).expect("mrt");
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
            assert!(t0.elapsed() < Duration::from_secs(30), "peers not up");
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

fn main() {
    if let Ok(cfg) = std::env::var("ORBIT_BENCH_RSS_CHILD") {
        rss_child(&cfg);
        return;
    }
    let lab = Lab::new();
    for k in 1..=PEERS {
        let a = extra_addr(&lab, k);
        lab.exec(&[
            "ip",
            "addr",
            "add",
            &format!("{a}/32"),
            "dev",
            &format!("ob{}b", lab.idx),
        ]);
    }
    let net = format!("10.250.{}.0/24", lab.idx & 0xff);
    let _ = Command::new("ip").args(["route", "del", &net]).output();
    let st = Command::new("ip")
        .args(["route", "add", &net, "dev", &lab.root_if])
        .status()
        .expect("ip route");
    assert!(st.success());
    // gobgpd speaks from the spare address on the root side.
    lab.add_root_addr(lab.v4_spare);
    let bird = Bird::start(&lab, &bird_conf(&lab));

    // Part 1: time to RIB.
    let max = *SIZES.iter().max().expect("sizes");
    let all: Vec<String> = (0..max).map(prefix).collect();
    let all_refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let rt = tokio::runtime::Runtime::new().expect("rt");
    let cfg = bgp_config(&speaker_toml(&lab, 1));
    let mut speaker = rt
        .block_on(Speaker::start(&cfg, &services(&all_refs)))
        .expect("start");
    let g = RootGobgp::start(&lab, 1, "time");
    wait_for(20, "orbit1 Established", || bird.established("orbit1"));
    wait_for(20, "gobgp1 Established", || bird.established("gobgp1"));

    println!("| prefixes | orbit apply->bird RIB | gobgpd inject->bird RIB | gobgpd / orbit |");
    println!("|---:|---:|---:|---:|");
    let mut gen = 1;
    let mut rows = Vec::new();
    for &n in &SIZES {
        let refs = &all_refs[..n];
        gen += 1;
        let t0 = Instant::now();
        rt.block_on(speaker.apply(&steering(gen, refs, Role::Active, false)))
            .expect("apply");
        let applied = t0.elapsed();
        wait_count(&bird, "orbit1", n, 300);
        let orbit = t0.elapsed();
        gen += 1;
        rt.block_on(speaker.apply(&steering(gen, refs, Role::Withdrawn, false)))
            .expect("withdraw");
        wait_count(&bird, "orbit1", 0, 300);

        let mrt = lab.dir.join(format!("routes-{n}.mrt"));
        write_mrt(&mrt, n, lab.v4_spare);
        let t0 = Instant::now();
        g.cli(&["mrt", "inject", "global", &mrt.display().to_string()])
            .expect("gobgp mrt inject");
        wait_count(&bird, "gobgp1", n, 600);
        let gobgp = t0.elapsed();
        g.cli(&["global", "rib", "-a", "ipv4", "del", "all"])
            .expect("gobgp del all");
        wait_count(&bird, "gobgp1", 0, 300);
        let ratio = gobgp.as_secs_f64() / orbit.as_secs_f64();
        println!(
            "| {n} | {:.1} ms (apply returned after {:.1} ms) | {:.1} ms | {ratio:.2}x |",
            orbit.as_secs_f64() * 1e3,
            applied.as_secs_f64() * 1e3,
            gobgp.as_secs_f64() * 1e3
        );
        rows.push((n, orbit, gobgp));
    }
    drop(g);
    rt.block_on(speaker.shutdown("bench part 1 done"));
    drop(rt);

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
    for k in 1..=PEERS {
        wait_for(30, "gobgp peers Established", || {
            bird.established(&format!("gobgp{k}"))
        });
    }
    let mrt = lab.dir.join("routes-rss.mrt");
    write_mrt(&mrt, 1000, lab.v4_spare);
    g.cli(&["mrt", "inject", "global", &mrt.display().to_string()])
        .expect("inject");
    for k in 1..=PEERS {
        wait_count(&bird, &format!("gobgp{k}"), 1000, 60);
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
    println!("| gobgpd | {:.1} MiB |", gobgp_rss as f64 / 1024.0);
    let _ = Command::new("ip").args(["route", "del", &net]).output();
}
