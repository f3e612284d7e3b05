//! The Serf adapter against real `serf agent` processes, including an agent
//! restart under the adapter.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use orbit_config::Config;
use orbit_core::{Event, Liveness};
use orbit_detect::gossip::Gossip;
use orbit_detect::serf::{SerfAdapter, SerfSink};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A loopback /24 unique to this process.
fn host(n: u8) -> Ipv4Addr {
    let pid = std::process::id();
    Ipv4Addr::new(
        127,
        (pid % 200) as u8 + 20,
        (pid / 200 % 200) as u8 ^ 0x55,
        n,
    )
}

struct Agent {
    child: Child,
}

impl Agent {
    fn start(name: &str, site: &str, ip: Ipv4Addr, join: Option<Ipv4Addr>) -> Agent {
        let mut cmd = Command::new("serf");
        cmd.arg("agent")
            .arg(format!("-node={name}"))
            .arg(format!("-bind={ip}:7946"))
            .arg(format!("-rpc-addr={ip}:7373"))
            .arg("-tag")
            .arg(format!("site={site}"))
            .arg("-profile=lan")
            .arg("-log-level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(j) = join {
            cmd.arg(format!("-retry-join={j}:7946"))
                .arg("-retry-interval=200ms");
        }
        Agent {
            child: cmd.spawn().expect("serf is installed"),
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn wait_for(rx: &mut mpsc::Receiver<Event>, within: Duration, want: Liveness) -> Duration {
    let t0 = Instant::now();
    loop {
        let left = within.saturating_sub(t0.elapsed());
        let e = tokio::time::timeout(left, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no {want:?} verdict about a within {within:?}"))
            .unwrap();
        if let Event::Verdict {
            observer,
            subject,
            liveness,
        } = &e
        {
            assert_eq!(observer.as_str(), "b");
            if subject.as_str() == "a" && *liveness == want {
                return t0.elapsed();
            }
        }
    }
}

#[tokio::test]
async fn serf_members_become_verdicts_across_an_agent_restart() {
    let (ia, ib) = (host(1), host(2));
    let mut a = Agent::start("a1", "a", ia, None);
    let mut b = Agent::start("b1", "b", ib, Some(ia));
    let (tx, mut rx) = mpsc::channel(64);
    let _adapter = SerfAdapter::start(
        SocketAddr::from((ib, 7373)),
        "b".parse().unwrap(),
        SerfSink::Engine(tx),
    );
    wait_for(&mut rx, Duration::from_secs(15), Liveness::Alive).await;

    // The local agent restarts: the adapter reconnects and resyncs.
    b.kill();
    let _b2 = Agent::start("b1", "b", ib, Some(ia));
    wait_for(&mut rx, Duration::from_secs(15), Liveness::Alive).await;

    // Site a's agent dies: Serf reports member-failed.
    a.kill();
    let took = wait_for(&mut rx, Duration::from_secs(30), Liveness::Dead).await;
    eprintln!("serf (lan profile) reported a failed after {took:?}");
}

#[tokio::test]
async fn a_graceful_leave_is_a_dead_verdict() {
    let (ia, ib) = (host(3), host(4));
    let mut a = Agent::start("a1", "a", ia, None);
    let _b = Agent::start("b1", "b", ib, Some(ia));
    let (tx, mut rx) = mpsc::channel(64);
    let _adapter = SerfAdapter::start(
        SocketAddr::from((ib, 7373)),
        "b".parse().unwrap(),
        SerfSink::Engine(tx),
    );
    wait_for(&mut rx, Duration::from_secs(15), Liveness::Alive).await;
    let status = Command::new("serf")
        .arg("leave")
        .arg(format!("-rpc-addr={ia}:7373"))
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    wait_for(&mut rx, Duration::from_secs(15), Liveness::Dead).await;
    a.kill();
}

/// Sites a, b and witness w on `ip(1..=3)`, gossiping on port 7950 with
/// SWIM slowed to a 30 s suspicion: only Serf can explain a Dead verdict
/// within seconds (the fencing timers, derived from SWIM's by default, are
/// set to match the faster detector, and silence alone makes no verdict).
/// No data-plane probes.
fn gossip_config(ip: impl Fn(u8) -> Ipv4Addr, local: &str, key: &std::path::Path) -> Config {
    let text = format!(
        "[node]\nsite = \"{local}\"\nrole = \"{role}\"\n\
         [[site]]\nid = \"a\"\ngossip = \"{}:7950\"\n\
         [[site]]\nid = \"b\"\ngossip = \"{}:7950\"\n\
         [[site]]\nid = \"w\"\ngossip = \"{}:7950\"\nwitness = true\n\
         [detect]\nprofile = \"lan\"\nsuspect_after = \"30s\"\n\
         fence_after = \"2s\"\nfence_margin = \"1s\"\ndead_on_silence = false\nkey_file = \"{}\"\n\
         [[service]]\nid = \"web\"\nprefixes = [\"203.0.113.10/32\"]\nsites = [\"a\", \"b\"]\n",
        ip(1),
        ip(2),
        ip(3),
        key.display(),
        role = if local == "w" { "witness" } else { "site" },
    );
    Config::parse_valid(&text, "test.toml").unwrap()
}

#[tokio::test]
async fn serf_verdicts_travel_in_gossip_to_the_other_members() {
    let ip = |n| host(10 + n);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "a-shared-secret-for-this-test-only").unwrap();
    let mut agent_a = Agent::start("a1", "a", ip(1), None);
    let _agent_b = Agent::start("b1", "b", ip(2), Some(ip(1)));
    let _agent_w = Agent::start("w1", "w", ip(3), Some(ip(1)));
    let (ta, mut ra) = mpsc::channel(1024);
    let cfg_gossip_a = gossip_config(ip, "a", &key);

    let gossip_a = Gossip::start(&cfg_gossip_a.detect, &cfg_gossip_a.cluster(), ta)
        .await
        .unwrap();
    tokio::spawn(async move { while ra.recv().await.is_some() {} });
    let (tw, mut rw) = mpsc::channel(1024);
    let cfg_gossip_w = gossip_config(ip, "w", &key);

    let gossip_w = Gossip::start(&cfg_gossip_w.detect, &cfg_gossip_w.cluster(), tw)
        .await
        .unwrap();
    tokio::spawn(async move { while rw.recv().await.is_some() {} });
    let (tb, mut rb) = mpsc::channel(1024);
    let cfg_gossip_b = gossip_config(ip, "b", &key);

    let gossip_b = Gossip::start(&cfg_gossip_b.detect, &cfg_gossip_b.cluster(), tb)
        .await
        .unwrap();
    // Serf feeds the gossip view of w (and b), not an engine.
    let _serf_w = SerfAdapter::start(
        SocketAddr::from((ip(3), 7373)),
        "w".parse().unwrap(),
        SerfSink::Gossip(gossip_w.reporter()),
    );
    let _serf_b = SerfAdapter::start(
        SocketAddr::from((ip(2), 7373)),
        "b".parse().unwrap(),
        SerfSink::Gossip(gossip_b.reporter()),
    );

    // Both Serf adapters report a alive into their members' gossip views.
    let t0 = Instant::now();
    let a: orbit_core::SiteId = "a".parse().unwrap();
    let serf_says = |g: &Gossip| {
        g.status()
            .sources
            .get(&a)
            .and_then(|s| s.get(&orbit_detect::gossip::Source::Serf).copied())
    };
    while serf_says(&gossip_b) != Some(Liveness::Alive)
        || serf_says(&gossip_w) != Some(Liveness::Alive)
    {
        assert!(t0.elapsed() < Duration::from_secs(20), "Serf never saw a");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let from_w = |e: &Event, want: Liveness| {
        matches!(e, Event::Verdict { observer, subject, liveness }
            if observer.as_str() == "w" && subject.as_str() == "a" && *liveness == want)
    };

    // Site a dies (its Serf agent and its gossip member). SWIM would need
    // its 30 s suspicion; w's Serf verdict arrives at b well before.
    agent_a.kill();
    drop(gossip_a);
    let cut = Instant::now();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(25), rb.recv())
            .await
            .expect("w's Serf-based Dead verdict about a reaches b")
            .unwrap();
        if from_w(&e, Liveness::Dead) {
            break;
        }
    }
    eprintln!(
        "w's Serf verdict about a reached b {:?} after the kill ({:?} after start)",
        cut.elapsed(),
        t0.elapsed()
    );
    assert!(cut.elapsed() < Duration::from_secs(25));
}
