//! Push-pull over real TCP on loopback: a member that rejoins gets 10,000
//! services' worth of state from the others, and bad frames are refused
//! with the connection dropped.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use orbit_config::Config;
use orbit_core::{Event, Placement, SharedState};
use orbit_detect::auth::{AuthKey, PacketKind};
use orbit_detect::frame::{self, Framer};
use orbit_detect::gossip::{Gossip, GossipSettings};
use orbit_detect::wire_v2::{PushPullMsg, DELTA_VERSION};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

/// A loopback /24 unique to this process and test.
fn base(test: u8) -> [u8; 3] {
    let pid = std::process::id();
    [
        127,
        (pid % 200) as u8 + 20,
        (pid / 200 % 200) as u8 ^ (test + 100),
    ]
}

fn addr(b: [u8; 3], host: u8) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::new(b[0], b[1], b[2], host), 7946))
}

fn settings(b: [u8; 3], local: &str, generation: u64) -> GossipSettings {
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
key_file = "/dev/null"
{service}
"#,
        role = if local == "w" { "witness" } else { "site" },
        ga = addr(b, 1),
        gb = addr(b, 2),
        gw = addr(b, 3),
        service = if local == "w" {
            ""
        } else {
            "[[service]]\nid = \"web\"\nprefixes = [\"203.0.113.10/32\"]\nsites = [\"a\", \"b\"]\n"
        },
    );
    let cfg = Config::parse_valid(&text, "test.toml").unwrap();
    GossipSettings::from_config(&cfg.detect, &cfg.cluster(), generation).unwrap()
}

async fn start(b: [u8; 3], site: &str, generation: u64) -> (Gossip, mpsc::Receiver<Event>) {
    let (tx, rx) = mpsc::channel(4096);
    let g = Gossip::start_with(
        settings(b, site, generation),
        AuthKey::new(KEY),
        BTreeMap::new(),
        tx,
    )
    .await
    .unwrap();
    (g, rx)
}

fn ten_thousand(active: &str) -> SharedState {
    let mut s = SharedState::default();
    for i in 0..10_000 {
        s.placements.insert(
            format!("svc-{i}").parse().unwrap(),
            Placement {
                active: Some(active.parse().unwrap()),
                epoch: 1,
                planned: false,
                moving_to: None,
            },
        );
    }
    s
}

/// Waits until `rx` yields a Peer event from `from` equal to `state`.
async fn wait_for_peer(rx: &mut mpsc::Receiver<Event>, from: &str, state: &SharedState) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(Event::Peer { from: f, state: s })) if f.as_str() == from && s == *state => {
                return
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => panic!("no Peer event from {from} with the expected state"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejoining_member_syncs_ten_thousand_services_over_tcp() {
    let b = base(1);
    let (a, mut rx_a) = start(b, "a", 10).await;
    let (bb, mut rx_b) = start(b, "b", 20).await;
    let (_w, mut rx_w) = start(b, "w", 30).await;
    let state = ten_thousand("a");
    a.publish_shared(state.clone()).await.unwrap();
    let other = {
        let mut s = ten_thousand("b");
        s.leaving = false;
        s
    };
    bb.publish_shared(other.clone()).await.unwrap();
    wait_for_peer(&mut rx_b, "a", &state).await;
    wait_for_peer(&mut rx_w, "a", &state).await;
    wait_for_peer(&mut rx_a, "b", &other).await;

    // b restarts: a new process under a newer generation, knowing nothing.
    drop(bb);
    drop(rx_b);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let restarted = Instant::now();
    let (bb, mut rx_b) = start(b, "b", 21).await;
    wait_for_peer(&mut rx_b, "a", &state).await;
    let synced = restarted.elapsed();
    // And the others get its new state (still 10,000 placements).
    let again = ten_thousand("b");
    bb.publish_shared(again.clone()).await.unwrap();
    wait_for_peer(&mut rx_a, "b", &again).await;
    let counters = bb.status().counters;
    assert!(counters.push_pulls > 0, "{counters:?}");
    assert_eq!(counters.bad_push_pull, 0);
    println!("rejoin -> 10,000 services synced over TCP in {synced:?}");
    assert!(synced < Duration::from_secs(3), "{synced:?}");
}

async fn read_answer(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut framer = Framer::default();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = tokio::time::timeout(Duration::from_secs(6), stream.read(&mut buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        if let Some(f) = framer.push(&buf[..n]).ok()? {
            return Some(f);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_push_pull_frames_are_refused_and_the_connection_dropped() {
    let b = base(2);
    let (a, _rx) = start(b, "a", 10).await;
    let target = a.local_addr();
    let key = AuthKey::new(KEY);
    let request = PushPullMsg {
        version: DELTA_VERSION,
        sender: "b".parse().unwrap(),
        answer_wanted: true,
        digest: vec![],
        tables: vec![],
    };

    // Larger than the cap: dropped before a byte of it is buffered.
    let mut s = TcpStream::connect(target).await.unwrap();
    s.write_all(&u32::MAX.to_be_bytes()).await.unwrap();
    assert_eq!(read_answer(&mut s).await, None);

    // Under another key, and garbage under the right one: no answer.
    let other = AuthKey::new(b"another key, also long enough".to_vec());
    for packet in [
        other.seal(PacketKind::PushPull, &request.encode()),
        key.seal(PacketKind::PushPull, b"\x93garbage"),
        key.seal(PacketKind::State, &request.encode()),
    ] {
        let mut s = TcpStream::connect(target).await.unwrap();
        s.write_all(&frame::encode(&packet).unwrap()).await.unwrap();
        assert_eq!(read_answer(&mut s).await, None);
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while a.status().counters.bad_push_pull < 3 {
        assert!(Instant::now() < deadline, "{:?}", a.status().counters);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // A good frame is answered with a's tables.
    let mut s = TcpStream::connect(target).await.unwrap();
    let packet = key.seal(PacketKind::PushPull, &request.encode());
    s.write_all(&frame::encode(&packet).unwrap()).await.unwrap();
    let answer = read_answer(&mut s).await.expect("an answer");
    let (kind, body) = key.open(&answer).unwrap();
    assert_eq!(kind, PacketKind::PushPull);
    let msg = PushPullMsg::decode(body).unwrap();
    assert_eq!(msg.sender.as_str(), "a");
    assert!(!msg.answer_wanted);
    assert!(msg.tables.iter().any(|t| t.origin.as_str() == "a"));
}
