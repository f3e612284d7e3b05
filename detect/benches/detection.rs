//! Detection-time benchmark: orbit gossip (metro-fast) against a real Serf
//! agent (LAN profile) detecting the same site failure in the same run.
//!
//! Each run starts, on its own loopback /24, three gossip members (a, b, w)
//! with data-plane listeners for a and b, and three `serf agent`s tagged
//! with the same sites, joined together; a Serf adapter follows b's agent.
//! When both have settled, site a fails at once: its gossip member and data
//! plane stop and its Serf agent is SIGKILLed. Measured from that instant:
//! - orbit: until b's decision engine declares a dead (quorum of b and w);
//! - Serf: until b's agent reports a failed (the adapter's Dead verdict),
//!   i.e. a single observer's view, a lower bound for a quorum fed by Serf.
//!
//! `cargo bench -p orbit-detect --bench detection [-- RUNS]` (default 20).

#![allow(clippy::unwrap_used)] // a bench: a panic is the failure report

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use orbit_config::Config;
use orbit_core::{Change, Event, Liveness, Millis};
use orbit_detect::gossip::Gossip;
use orbit_detect::serf::{SerfAdapter, SerfSink};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;

fn ip(run: u32, host: u8) -> Ipv4Addr {
    let pid = std::process::id();
    Ipv4Addr::new(127, 100 + (pid % 100) as u8, (run % 250) as u8, host)
}

fn config(run: u32, local: &str, key: &std::path::Path) -> Config {
    let service = if local == "w" {
        ""
    } else {
        "[[service]]\nid = \"web\"\nprefixes = [\"203.0.113.10/32\"]\nsites = [\"a\", \"b\"]\n"
    };
    let text = format!(
        r#"
[node]
site = "{local}"
role = "{role}"
[[site]]
id = "a"
gossip = "{a}:7946"
[[site]]
id = "b"
gossip = "{b}:7946"
[[site]]
id = "w"
gossip = "{w}:7946"
witness = true
[detect]
profile = "metro-fast"
key_file = "{key}"
[detect.probe]
a = "{a}:8080"
b = "{b}:8080"
{service}
"#,
        role = if local == "w" { "witness" } else { "site" },
        a = ip(run, 1),
        b = ip(run, 2),
        w = ip(run, 3),
        key = key.display(),
    );
    Config::parse_valid(&text, "bench.toml").unwrap()
}

struct Agent(Child);

impl Agent {
    fn start(run: u32, site: &str, host: u8, join: Option<u8>) -> Agent {
        let me = ip(run, host);
        let mut cmd = Command::new("serf");
        cmd.arg("agent")
            .arg(format!("-node={site}{run}"))
            .arg(format!("-bind={me}:7946"))
            .arg(format!("-rpc-addr={me}:7373"))
            .args([
                "-tag",
                &format!("site={site}"),
                "-profile=lan",
                "-log-level=warn",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(j) = join {
            cmd.arg(format!("-retry-join={}:7946", ip(run, j)))
                .arg("-retry-interval=200ms");
        }
        Agent(cmd.spawn().expect("serf is installed"))
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn accept_forever(l: TcpListener) {
    while l.accept().await.is_ok() {}
}

/// One run: (orbit detection time, serf detection time).
async fn run_once(run: u32, key: &std::path::Path) -> (Duration, Duration) {
    // Serf agents: a, b, w (serf hosts .11-.13).
    let mut serf_a = Agent::start(run, "a", 11, None);
    let _serf_b = Agent::start(run, "b", 12, Some(11));
    let _serf_w = Agent::start(run, "w", 13, Some(11));
    // Data planes and gossip members.
    let dp_a = tokio::spawn(accept_forever(
        TcpListener::bind((ip(run, 1), 8080)).await.unwrap(),
    ));
    let dp_b = tokio::spawn(accept_forever(
        TcpListener::bind((ip(run, 2), 8080)).await.unwrap(),
    ));
    let (ta, _ra) = mpsc::channel(1024);
    let cfg_gossip_a = config(run, "a", key);

    let gossip_a = Gossip::start(&cfg_gossip_a.detect, &cfg_gossip_a.cluster(), ta)
        .await
        .unwrap();
    let (tw, mut rw) = mpsc::channel(1024);
    let cfg_gossip_w = config(run, "w", key);

    let _gossip_w = Gossip::start(&cfg_gossip_w.detect, &cfg_gossip_w.cluster(), tw)
        .await
        .unwrap();
    tokio::spawn(async move { while rw.recv().await.is_some() {} });
    let cfg_b = config(run, "b", key);
    let (tb, mut rb) = mpsc::channel(1024);
    let _gossip_b = Gossip::start(&cfg_b.detect, &cfg_b.cluster(), tb)
        .await
        .unwrap();
    let (ts, mut rs) = mpsc::channel(64);
    let _adapter = SerfAdapter::start(
        SocketAddr::from((ip(run, 12), 7373)),
        "b".parse().unwrap(),
        SerfSink::Engine(ts),
    );

    // b's engine, fed by gossip.
    let mut engine = cfg_b.engine();
    let t_start = Instant::now();
    let now = |t: Instant| Millis(t.duration_since(t_start).as_millis() as u64);
    // Settle: engine sees a alive, serf says a alive.
    let mut serf_alive = false;
    let mut gossip_alive = false;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(serf_alive && gossip_alive) {
        tokio::select! {
            Some(e) = rb.recv() => {
                engine.handle(now(Instant::now()), e);
                gossip_alive = engine.status().sites.iter()
                    .any(|s| s.id.as_str() == "a" && s.local_view == Some(Liveness::Alive))
                    && !engine.steering().fenced;
            }
            // Like orbitd: the engine's timers (the resync after start).
            _ = tokio::time::sleep(Duration::from_millis(20)) => {
                engine.handle(now(Instant::now()), Event::Tick);
                gossip_alive = engine.status().sites.iter()
                    .any(|s| s.id.as_str() == "a" && s.local_view == Some(Liveness::Alive))
                    && !engine.steering().fenced;
            }
            Some(e) = rs.recv() => {
                if matches!(&e, Event::Verdict { subject, liveness: Liveness::Alive, .. } if subject.as_str() == "a") {
                    serf_alive = true;
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                panic!("run {run}: never settled (gossip {gossip_alive}, serf {serf_alive})")
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    while let Ok(e) = rb.try_recv() {
        engine.handle(now(Instant::now()), e);
    }

    // Site a fails: daemon, data plane and Serf agent at once.
    let t0 = Instant::now();
    let _ = serf_a.0.kill();
    drop(gossip_a);
    dp_a.abort();
    let mut orbit = None;
    let mut serf = None;
    let deadline = t0 + Duration::from_secs(30);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    while orbit.is_none() || serf.is_none() {
        tokio::select! {
            Some(e) = rb.recv() => {
                for d in engine.handle(now(Instant::now()), e) {
                    if matches!(&d.change, Change::SiteLiveness { site, dead: true } if site.as_str() == "a") {
                        orbit.get_or_insert(t0.elapsed());
                    }
                }
            }
            Some(e) = rs.recv() => {
                if matches!(&e, Event::Verdict { subject, liveness: Liveness::Dead, .. } if subject.as_str() == "a") {
                    serf.get_or_insert(t0.elapsed());
                }
            }
            _ = tick.tick() => {
                for d in engine.handle(now(Instant::now()), Event::Tick) {
                    if matches!(&d.change, Change::SiteLiveness { site, dead: true } if site.as_str() == "a") {
                        orbit.get_or_insert(t0.elapsed());
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline) => panic!("run {run}: no detection ({orbit:?}, {serf:?})"),
        }
    }
    dp_b.abort();
    (orbit.unwrap(), serf.unwrap())
}

fn pct(sorted: &[Duration], p: usize) -> Duration {
    // Nearest-rank percentile.
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let runs: u32 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "bench key of at least 16 bytes..").unwrap();
    let mut orbit = Vec::new();
    let mut serf = Vec::new();
    for run in 0..runs {
        let (o, s) = run_once(run, &key).await;
        eprintln!("run {run:2}: orbit {o:?}  serf {s:?}");
        orbit.push(o);
        serf.push(s);
    }
    orbit.sort();
    serf.sort();
    let (o50, o99, s50, s99) = (
        pct(&orbit, 50),
        pct(&orbit, 99),
        pct(&serf, 50),
        pct(&serf, 99),
    );
    println!("detection time over {runs} runs (failure -> Dead)");
    println!("  orbit gossip (metro-fast, quorum engine): p50 {o50:>10.1?}  p99 {o99:>10.1?}");
    println!("  serf agent   (lan, member-failed at b):   p50 {s50:>10.1?}  p99 {s99:>10.1?}");
    println!(
        "  ratio serf/orbit: p50 {:.1}x  p99 {:.1}x",
        s50.as_secs_f64() / o50.as_secs_f64(),
        s99.as_secs_f64() / o99.as_secs_f64()
    );
}
