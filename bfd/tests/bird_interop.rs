//! Interop with a real bird2 `protocol bfd` across a veth pair between two
//! namespaces this test creates (RFC 5881 single hop, IPv4 and IPv6), and
//! multihop (RFC 5883) between two of our drivers over a routed path.
//! Needs root (namespaces, nftables); CI runs it as root.

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::{cut_bfd, restore_bfd, status_when, veth, Bird, Netns, NsRuntime};
use orbit_bfd::{start, BfdEvent, Diag, DriverConfig, Hop, PeerConfig, SessionKey, State, Timing};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::timeout;

fn timing_ms(ms: u64) -> Timing {
    Timing::new(Duration::from_millis(ms), Duration::from_millis(ms), 3)
}

async fn expect_up(rx: &mut UnboundedReceiver<BfdEvent>, key: SessionKey, within: Duration) {
    let ev = timeout(within, rx.recv())
        .await
        .expect("Up in time")
        .expect("driver alive");
    assert_eq!(ev, BfdEvent::Up { key });
}

/// Wait for Down events for every key in `keys`, in any order.
async fn expect_down(rx: &mut UnboundedReceiver<BfdEvent>, keys: &[SessionKey], within: Duration) {
    let mut left: Vec<SessionKey> = keys.to_vec();
    let deadline = tokio::time::Instant::now() + within;
    while !left.is_empty() {
        let ev = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("Down in time")
            .expect("driver alive");
        match ev {
            ev @ BfdEvent::Down { .. } => {
                assert!(ev.is_path_failure(), "{ev:?}");
                let BfdEvent::Down {
                    key, state, diag, ..
                } = ev
                else {
                    unreachable!()
                };
                assert_eq!(state, State::Down);
                assert_eq!(diag, Diag::ControlDetectionTimeExpired, "{key}");
                left.retain(|k| *k != key);
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bird2_single_hop_up_cut_restore_v4_and_v6() {
    let ours = Netns::new("o");
    let birds = Netns::new("b");
    let (io, ib) = veth(&ours, &birds);
    let (x, y) = common::subnet_octets();
    let (a4, b4) = (format!("10.{x}.{y}.1"), format!("10.{x}.{y}.2"));
    let (a6, b6) = (format!("fd00:{x}:{y}::1"), format!("fd00:{x}:{y}::2"));
    ours.exec(&["ip", "addr", "add", &format!("{a4}/30"), "dev", &io]);
    birds.exec(&["ip", "addr", "add", &format!("{b4}/30"), "dev", &ib]);
    ours.exec(&[
        "ip",
        "addr",
        "add",
        &format!("{a6}/64"),
        "dev",
        &io,
        "nodad",
    ]);
    birds.exec(&[
        "ip",
        "addr",
        "add",
        &format!("{b6}/64"),
        "dev",
        &ib,
        "nodad",
    ]);

    let bird = Bird::start(
        &birds,
        &format!(
            r#"
log "@LOG@" all;
router id {b4};
protocol device {{ scan time 1; }}
protocol bfd {{
    interface "{ib}" {{ min rx interval 10 ms; min tx interval 10 ms; multiplier 3; }};
    neighbor {a4} dev "{ib}";
    neighbor {a6} dev "{ib}";
}}
"#
        ),
    );

    let rt = NsRuntime::new(&ours);
    let (bfd, mut events) = {
        let _enter = rt.handle.enter();
        start(DriverConfig::default())
    };
    let peer = |local: &str, peer: &str| PeerConfig {
        local: local.parse::<IpAddr>().expect("ip"),
        peer: peer.parse::<IpAddr>().expect("ip"),
        hop: Hop::Single,
        timing: timing_ms(10),
        auth: None,
        control_plane_independent: false,
    };
    let k4 = bfd.add_session(peer(&a4, &b4)).await.expect("add v4");
    let k6 = bfd.add_session(peer(&a6, &b6)).await.expect("add v6");

    // Both sessions come up; order between v4 and v6 is free.
    let mut up = Vec::new();
    for _ in 0..2 {
        match timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("Up")
            .expect("alive")
        {
            BfdEvent::Up { key } => up.push(key),
            other => panic!("unexpected {other:?}"),
        }
    }
    up.sort();
    let mut want = vec![k4, k6];
    want.sort();
    assert_eq!(up, want);
    bird.wait_bfd_state(&a4, "Up", Duration::from_secs(5));
    bird.wait_bfd_state(&a6, "Up", Duration::from_secs(5));

    // Negotiated at 10 ms × 3 with bird: wait until both sessions run at
    // 10 ms and have heard bird a few times.
    let st = status_when(
        &bfd,
        "both sessions at 10 ms with 10 packets from bird",
        |st| {
            st.sessions
                .iter()
                .all(|s| s.tx_interval == Duration::from_millis(10) && s.counters.rx_packets >= 10)
        },
    )
    .await;
    for s in &st.sessions {
        assert_eq!(s.state, State::Up, "{}", s.key);
        assert_eq!(s.tx_interval, Duration::from_millis(10), "{}", s.key);
        assert_eq!(
            s.detection_time,
            Some(Duration::from_millis(30)),
            "{}",
            s.key
        );
        assert_eq!(s.counters.dropped_total(), 0, "{}", s.key);
        assert!(s.counters.rx_packets >= 10, "{}", s.key);
    }

    // Cut: both directions dropped on bird's side.
    let t_cut = Instant::now();
    cut_bfd(&birds.name, 3784);
    expect_down(&mut events, &[k4, k6], Duration::from_secs(2)).await;
    let detected = t_cut.elapsed();
    bird.wait_bfd_state(&a4, "Down", Duration::from_secs(5));
    bird.wait_bfd_state(&a6, "Down", Duration::from_secs(5));
    assert!(
        detected < Duration::from_millis(500),
        "detection took {detected:?}"
    );

    // Restore: both back Up on both sides.
    restore_bfd(&birds.name);
    let mut up = Vec::new();
    for _ in 0..2 {
        match timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("Up")
            .expect("alive")
        {
            BfdEvent::Up { key } => up.push(key),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(up.len(), 2);
    bird.wait_bfd_state(&a4, "Up", Duration::from_secs(5));
    bird.wait_bfd_state(&a6, "Up", Duration::from_secs(5));

    // Link down inside bird's namespace also takes us down.
    birds.exec(&["ip", "link", "set", &ib, "down"]);
    expect_down(&mut events, &[k4, k6], Duration::from_secs(2)).await;
    birds.exec(&["ip", "link", "set", &ib, "up"]);
    // Linux flushes IPv6 addresses on admin down (keep_addr_on_down=0).
    birds.exec(&[
        "ip",
        "addr",
        "replace",
        &format!("{b6}/64"),
        "dev",
        &ib,
        "nodad",
    ]);
    expect_up_any(&mut events, 2, Duration::from_secs(15)).await;
    bird.wait_bfd_state(&a4, "Up", Duration::from_secs(5));
    bird.wait_bfd_state(&a6, "Up", Duration::from_secs(5));
    drop(bfd);
}

async fn expect_up_any(rx: &mut UnboundedReceiver<BfdEvent>, n: usize, within: Duration) {
    for _ in 0..n {
        match timeout(within, rx.recv())
            .await
            .expect("Up in time")
            .expect("alive")
        {
            BfdEvent::Up { .. } => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multihop_between_two_drivers_over_a_router() {
    let a = Netns::new("ma");
    let r = Netns::new("mr");
    let c = Netns::new("mc");
    let (ia, ira) = veth(&a, &r);
    let (irc, ic) = veth(&r, &c);
    let (x, y) = common::subnet_octets();
    let (x2, y2) = common::subnet_octets();
    let (a_ip, ra_ip) = (format!("10.{x}.{y}.1"), format!("10.{x}.{y}.2"));
    let (rc_ip, c_ip) = (format!("10.{x2}.{y2}.1"), format!("10.{x2}.{y2}.2"));
    a.exec(&["ip", "addr", "add", &format!("{a_ip}/30"), "dev", &ia]);
    r.exec(&["ip", "addr", "add", &format!("{ra_ip}/30"), "dev", &ira]);
    r.exec(&["ip", "addr", "add", &format!("{rc_ip}/30"), "dev", &irc]);
    c.exec(&["ip", "addr", "add", &format!("{c_ip}/30"), "dev", &ic]);
    a.exec(&["ip", "route", "add", "default", "via", &ra_ip]);
    c.exec(&["ip", "route", "add", "default", "via", &rc_ip]);
    r.exec(&["sysctl", "-qw", "net.ipv4.ip_forward=1"]);

    let rta = NsRuntime::new(&a);
    let rtc = NsRuntime::new(&c);
    let (ha, mut ea) = {
        let _e = rta.handle.enter();
        start(DriverConfig::default())
    };
    let (hc, mut ec) = {
        let _e = rtc.handle.enter();
        start(DriverConfig::default())
    };
    // One router in between: packets arrive with TTL 254.
    let cfg = |local: &str, peer: &str, min_ttl| PeerConfig {
        local: local.parse().expect("ip"),
        peer: peer.parse().expect("ip"),
        hop: Hop::Multi { min_ttl },
        timing: timing_ms(20),
        auth: None,
        control_plane_independent: false,
    };
    let ka = ha
        .add_session(cfg(&a_ip, &c_ip, Some(254)))
        .await
        .expect("add a");
    let kc = hc
        .add_session(cfg(&c_ip, &a_ip, Some(254)))
        .await
        .expect("add c");
    expect_up(&mut ea, ka, Duration::from_secs(10)).await;
    expect_up(&mut ec, kc, Duration::from_secs(10)).await;

    // Cut the routed path in the middle: both ends detect it.
    common::cut_forward(&r.name, 4784);
    expect_down(&mut ea, &[ka], Duration::from_secs(2)).await;
    expect_down(&mut ec, &[kc], Duration::from_secs(2)).await;
    restore_bfd(&r.name);
    expect_up(&mut ea, ka, Duration::from_secs(10)).await;
    expect_up(&mut ec, kc, Duration::from_secs(10)).await;

    // A stricter TTL requirement than the path allows keeps a session down:
    // the peer's packets are counted as BadTtl.
    assert!(ha.remove_session(ka).await.expect("remove"));
    let strict = ha
        .add_session(cfg(&a_ip, &c_ip, Some(255)))
        .await
        .expect("re-add");
    // The point: long enough that the session would be Up by now.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let st = ha.status().await.expect("status");
    let s = st
        .sessions
        .iter()
        .find(|s| s.key == strict)
        .expect("session");
    assert_ne!(s.state, State::Up);
    assert!(
        s.counters
            .dropped
            .get(&orbit_bfd::DropReason::BadTtl)
            .copied()
            .unwrap_or(0)
            >= 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bird2_meticulous_keyed_sha1() {
    let ours = Netns::new("ao");
    let birds = Netns::new("ab");
    let (io, ib) = veth(&ours, &birds);
    let (x, y) = common::subnet_octets();
    let (a4, b4) = (format!("10.{x}.{y}.1"), format!("10.{x}.{y}.2"));
    ours.exec(&["ip", "addr", "add", &format!("{a4}/30"), "dev", &io]);
    birds.exec(&["ip", "addr", "add", &format!("{b4}/30"), "dev", &ib]);
    let bird = Bird::start(
        &birds,
        &format!(
            r#"
log "@LOG@" all;
router id {b4};
protocol device {{ scan time 1; }}
protocol bfd {{
    interface "{ib}" {{
        min rx interval 20 ms; min tx interval 20 ms; multiplier 3;
        authentication meticulous keyed sha1; password "orbit-secret" {{ id 7; }};
    }};
    neighbor {a4} dev "{ib}";
}}
"#
        ),
    );
    let rt = NsRuntime::new(&ours);
    let (bfd, mut events) = {
        let _enter = rt.handle.enter();
        start(DriverConfig::default())
    };
    let auth = |key: &[u8]| {
        orbit_bfd::AuthConfig::new(orbit_bfd::AuthKind::MeticulousKeyedSha1, 7, key).ok()
    };
    let mut peer = PeerConfig {
        local: a4.parse().expect("ip"),
        peer: b4.parse().expect("ip"),
        hop: Hop::Single,
        timing: timing_ms(20),
        auth: auth(b"wrong-secret"),
        control_plane_independent: false,
    };
    // Wrong key first: bird's packets fail verification and nothing comes up.
    let k = bfd.add_session(peer.clone()).await.expect("add");
    // The point: long enough that it would be Up by now with the right key.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let st = bfd.status().await.expect("status");
    assert_ne!(st.sessions[0].state, State::Up);
    assert!(st.sessions[0].counters.dropped[&orbit_bfd::DropReason::AuthFailed] >= 1);
    assert!(events.try_recv().is_err(), "no Up with a wrong key");
    assert_ne!(bird.bfd_state(&a4).as_deref(), Some("Up"));

    // Right key: Up on both sides, no drops after that.
    assert!(bfd.remove_session(k).await.expect("remove"));
    peer.auth = auth(b"orbit-secret");
    let k = bfd.add_session(peer).await.expect("add");
    expect_up(&mut events, k, Duration::from_secs(10)).await;
    bird.wait_bfd_state(&a4, "Up", Duration::from_secs(5));
    let st = status_when(&bfd, "10 authenticated packets from bird", |st| {
        st.sessions[0].counters.rx_packets >= 10
    })
    .await;
    assert_eq!(st.sessions[0].state, State::Up);
    assert_eq!(st.sessions[0].counters.dropped_total(), 0);
    assert!(st.sessions[0].counters.rx_packets >= 10);
}
