//! Real gossip members over UDP on loopback, each with a real data-plane
//! listener, feeding real engines.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use orbit_config::Config;
use orbit_core::{Change, Engine, Event, Liveness, Millis};
use orbit_detect::gossip::{Gossip, SiteView};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// A loopback /24 unique to this process and test, so parallel tests never
/// share a port.
fn base(test: u8) -> [u8; 3] {
    let pid = std::process::id();
    [127, (pid % 200) as u8 + 20, (pid / 200 % 200) as u8 ^ test]
}

fn addr(b: [u8; 3], host: u8, port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(b[0], b[1], b[2], host), port))
}

fn config(b: [u8; 3], local: &str, key: &std::path::Path) -> Config {
    let text = format!(
        r#"
[node]
site = "{local}"
role = "{role}"

[[site]]
id = "a"
gossip = "{ga}"
[[site]]
id = "b"
gossip = "{gb}"
[[site]]
id = "w"
gossip = "{gw}"
witness = true

[detect]
profile = "metro-fast"
key_file = "{key}"

[detect.probe]
a = "{pa}"
b = "{pb}"

{service}
"#,
        role = if local == "w" { "witness" } else { "site" },
        ga = addr(b, 1, 7946),
        gb = addr(b, 2, 7946),
        gw = addr(b, 3, 7946),
        pa = addr(b, 1, 8080),
        pb = addr(b, 2, 8080),
        key = key.display(),
        service = if local == "w" {
            ""
        } else {
            "[[service]]\nid = \"web\"\nprefixes = [\"203.0.113.10/32\"]\nsites = [\"a\", \"b\"]\n"
        },
    );
    Config::parse_valid(&text, "test.toml").expect("valid test config")
}

struct Member {
    gossip: Gossip,
    rx: mpsc::Receiver<Event>,
    engine: Engine,
    log: Vec<(Duration, Event)>,
    dead: Vec<(Duration, String)>,
}

impl Member {
    async fn start(cfg: &Config) -> Member {
        let (tx, rx) = mpsc::channel(1024);
        let gossip = Gossip::start(&cfg.detect, &cfg.cluster(), tx)
            .await
            .expect("gossip starts");
        Member {
            gossip,
            rx,
            engine: cfg.engine(),
            log: Vec::new(),
            dead: Vec::new(),
        }
    }

    fn drain(&mut self, t0: Instant) {
        while let Ok(e) = self.rx.try_recv() {
            let now = t0.elapsed();
            let ms = Millis(now.as_millis() as u64);
            for d in self.engine.handle(ms, e.clone()) {
                if let Change::SiteLiveness { site, dead: true } = d.change {
                    self.dead.push((now, site.to_string()));
                }
            }
            self.log.push((now, e));
        }
        // Like orbitd: let the engine's timers run (a Tick once a deadline
        // passed) and share placements and intent so the engines converge.
        let now = Millis(t0.elapsed().as_millis() as u64);
        if self.engine.next_deadline().is_some_and(|d| d <= now) {
            self.engine.handle(now, Event::Tick);
        }
        let _ = self
            .gossip
            .reporter()
            .try_publish_shared(self.engine.shared_state());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_members_over_udp_detect_a_lost_site() {
    let b = base(1);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef\n").unwrap();
    // The sites' data planes.
    let dp_a = TcpListener::bind(addr(b, 1, 8080)).await.unwrap();
    let _dp_b = TcpListener::bind(addr(b, 2, 8080)).await.unwrap();
    let accept_a = tokio::spawn(async move {
        loop {
            if dp_a.accept().await.is_err() {
                return;
            }
        }
    });

    let t0 = Instant::now();
    let mut a = Member::start(&config(b, "a", &key)).await;
    let mut bb = Member::start(&config(b, "b", &key)).await;
    let mut w = Member::start(&config(b, "w", &key)).await;

    // Everyone sees everyone alive, as its own view and relayed, and the
    // engines have synced their placements (a few gossip rounds later).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        for m in [&mut a, &mut bb, &mut w] {
            m.drain(t0);
        }
        let settled = [&a, &bb, &w].iter().all(|m| {
            let st = m.engine.status();
            !st.fenced
                && st.synced
                && st
                    .sites
                    .iter()
                    .all(|s| s.id == st.local_site || s.local_view == Some(Liveness::Alive))
        });
        let placed = bb
            .engine
            .steering()
            .services
            .values()
            .all(|s| s.active.is_some());
        if settled && placed {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "never settled: {:?}",
            a.gossip.status()
        );
    }
    assert_eq!(
        bb.engine
            .steering()
            .services
            .values()
            .next()
            .unwrap()
            .active
            .as_ref()
            .map(|s| s.as_str()),
        Some("a")
    );

    // Site a is lost: daemon and data plane together.
    let lost_at = t0.elapsed();
    drop(a);
    accept_a.abort();
    let _ = accept_a.await;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        bb.drain(t0);
        w.drain(t0);
        if bb.dead.iter().any(|(_, s)| s == "a") && w.dead.iter().any(|(_, s)| s == "a") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a never declared dead: {:?}",
            bb.gossip.status()
        );
    }
    let detected = bb.dead.iter().find(|(_, s)| s == "a").unwrap().0 - lost_at;
    eprintln!("site a declared dead by b's engine after {detected:?}");
    assert_eq!(
        bb.engine
            .steering()
            .services
            .values()
            .next()
            .unwrap()
            .active
            .as_ref()
            .map(|s| s.as_str()),
        Some("b"),
        "b took web over"
    );
    assert!(bb.gossip.status().counters.bad_mac == 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_daemon_whose_site_answers_is_not_dead() {
    let b = base(2);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef").unwrap();
    let dp_a = TcpListener::bind(addr(b, 1, 8080)).await.unwrap();
    let _accept = tokio::spawn(async move { while dp_a.accept().await.is_ok() {} });
    let t0 = Instant::now();
    let a = Member::start(&config(b, "a", &key)).await;
    let mut bb = Member::start(&config(b, "b", &key)).await;
    let mut w = Member::start(&config(b, "w", &key)).await;
    let site_a = "a".parse().unwrap();
    orbit_tests::eventually(
        Duration::from_secs(20),
        Duration::from_millis(20),
        "b and w to hear a",
        || async { [&bb, &w].map(|m| m.gossip.status().views.get(&site_a).copied()) },
        |views| views.iter().all(|v| *v == Some(SiteView::Alive)),
    )
    .await;
    // a's daemon goes away, its data plane stays.
    drop(a);
    // The point: well past the detection time, so that a wrong Dead would
    // have been declared by now.
    tokio::time::sleep(Duration::from_secs(3)).await;
    bb.drain(t0);
    w.drain(t0);
    assert!(
        bb.dead.is_empty() && w.dead.is_empty(),
        "{:?} {:?}",
        bb.dead,
        w.dead
    );
    let view = bb.gossip.status().views.get(&"a".parse().unwrap()).copied();
    assert_eq!(
        view,
        Some(orbit_detect::gossip::SiteView::DaemonUnresponsive)
    );
}
