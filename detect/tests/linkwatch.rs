//! Link watch against a real veth pair whose peer end lives in a network
//! namespace this test creates (needs root, as CI runs).

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use orbit_config::Config;
use orbit_core::{Event, Liveness};
use orbit_detect::gossip::{Gossip, SiteView};
use orbit_detect::linkwatch::LinkWatch;
use orbit_tests::sh;
use tokio::sync::mpsc;

/// A veth pair `<name>a` (here) / `<name>b` (in netns `<name>`), removed on drop.
struct Veth {
    name: String,
}

impl Veth {
    fn new() -> Veth {
        let name = format!("olw{}", std::process::id() % 10_000_000);
        let v = Veth { name };
        let (a, b, ns) = (v.here(), format!("{}b", v.name), v.name.clone());
        sh(&["ip", "netns", "add", &ns]);
        sh(&["ip", "link", "add", &a, "type", "veth", "peer", "name", &b]);
        sh(&["ip", "link", "set", &b, "netns", &ns]);
        sh(&["ip", "link", "set", &a, "up"]);
        sh(&["ip", "-n", &ns, "link", "set", &b, "up"]);
        v
    }

    fn here(&self) -> String {
        format!("{}a", self.name)
    }

    fn peer(&self, up: bool) {
        let b = format!("{}b", self.name);
        sh(&[
            "ip",
            "-n",
            &self.name,
            "link",
            "set",
            &b,
            if up { "up" } else { "down" },
        ]);
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.here()])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

#[tokio::test]
async fn carrier_loss_toward_a_site_is_an_immediate_dead_verdict() {
    let veth = Veth::new();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("key");
    std::fs::write(&key, "0123456789abcdef0123456789abcdef").unwrap();
    let base = 100 + (std::process::id() % 100) as u8;
    // The lan profile's 13 s start-up grace keeps gossip itself from
    // condemning the (absent) peers during the test.
    let text = format!(
        r#"
[node]
site = "a"
[[site]]
id = "a"
gossip = "127.0.{base}.1:7946"
[[site]]
id = "b"
gossip = "127.0.{base}.2:7946"
[[site]]
id = "w"
gossip = "127.0.{base}.3:7946"
witness = true
[detect]
profile = "lan"
key_file = "{}"
[[service]]
id = "web"
prefixes = ["203.0.113.10/32"]
sites = ["a", "b"]
"#,
        key.display()
    );
    let cfg = Config::parse_valid(&text, "test.toml").unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let gossip = Gossip::start(&cfg.detect, &cfg.cluster(), tx)
        .await
        .unwrap();
    let links = BTreeMap::from([(veth.here(), vec!["b".parse().unwrap()])]);
    let _watch = LinkWatch::start(links, gossip.reporter()).unwrap();
    // A settling pause, not a wait for an event: what is checked next is
    // that nothing condemns b while its carrier is up, which no event marks.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b = "b".parse().unwrap();
    assert_ne!(gossip.status().views.get(&b), Some(&SiteView::LinkDown));

    let t0 = tokio::time::Instant::now();
    veth.peer(false);
    loop {
        let e = tokio::time::timeout(Duration::from_secs(2), rx.recv())
            .await
            .expect("a Dead verdict about b within 2 s of carrier loss")
            .unwrap();
        if let Event::Verdict {
            observer,
            subject,
            liveness: Liveness::Dead,
        } = e
        {
            assert_eq!((observer.as_str(), subject.as_str()), ("a", "b"));
            break;
        }
    }
    eprintln!("carrier loss -> Dead verdict in {:?}", t0.elapsed());
    assert_eq!(gossip.status().views.get(&b), Some(&SiteView::LinkDown));
    // w is not behind that interface.
    assert_ne!(
        gossip.status().views.get(&"w".parse().unwrap()),
        Some(&SiteView::LinkDown)
    );

    // Carrier back: the view recovers (waited for, not slept on).
    veth.peer(true);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while gossip.status().views.get(&b) == Some(&SiteView::LinkDown) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "b's view still LinkDown 5 s after carrier came back"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
