//! Two drivers in one process over loopback: real sockets, real timers.
//! Each test uses its own 127.x.y.0/24 addresses and ports derived from its
//! process id and name, so tests run side by side.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use common::status_when;
use orbit_bfd::{
    start, BfdEvent, ControlPacket, Diag, DriverConfig, DropReason, Hop, PeerConfig, State, Timing,
};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::timeout;

fn addrs(salt: u8) -> (IpAddr, IpAddr, DriverConfig) {
    let pid = std::process::id();
    let a = Ipv4Addr::new(127, (pid >> 8) as u8, pid as u8 ^ salt, 1);
    let b = Ipv4Addr::new(127, (pid >> 8) as u8, pid as u8 ^ salt, 2);
    let port = 20_000 + (pid % 20_000) as u16;
    let cfg = DriverConfig {
        single_hop_port: port,
        multi_hop_port: port + 1,
    };
    (IpAddr::V4(a), IpAddr::V4(b), cfg)
}

fn peer(local: IpAddr, peer: IpAddr, ms: u64) -> PeerConfig {
    PeerConfig {
        peer,
        local,
        hop: Hop::Single,
        timing: Timing::new(Duration::from_millis(ms), Duration::from_millis(ms), 3),
        auth: None,
        control_plane_independent: false,
    }
}

async fn next_event(rx: &mut UnboundedReceiver<BfdEvent>, within: Duration) -> BfdEvent {
    timeout(within, rx.recv())
        .await
        .expect("event in time")
        .expect("driver alive")
}

/// `next_event` with a Down's `silent_for` (a matter of timing) zeroed,
/// for comparing whole events.
async fn next_event_untimed(rx: &mut UnboundedReceiver<BfdEvent>, within: Duration) -> BfdEvent {
    match next_event(rx, within).await {
        BfdEvent::Down {
            key,
            state,
            diag,
            remote_state,
            ..
        } => BfdEvent::Down {
            key,
            state,
            diag,
            remote_state,
            silent_for: Duration::ZERO,
        },
        up => up,
    }
}

#[tokio::test]
async fn sessions_come_up_and_detect_a_silent_peer() {
    let (a, b, cfg) = addrs(1);
    let (ha, mut ea) = start(cfg.clone());
    let (hb, mut eb) = start(cfg);
    let ka = ha.add_session(peer(a, b, 10)).await.expect("add a");
    let kb = hb.add_session(peer(b, a, 10)).await.expect("add b");

    assert_eq!(
        next_event(&mut ea, Duration::from_secs(5)).await,
        BfdEvent::Up { key: ka }
    );
    assert_eq!(
        next_event(&mut eb, Duration::from_secs(5)).await,
        BfdEvent::Up { key: kb }
    );

    // Until the Poll Sequences have settled and some periodic traffic flowed.
    let st = status_when(
        &ha,
        "10 ms timers negotiated and 15 packets each way",
        |st| {
            st.sessions.first().is_some_and(|s| {
                s.tx_interval == Duration::from_millis(10)
                    && s.counters.tx_packets >= 15
                    && s.counters.rx_packets >= 15
            })
        },
    )
    .await;
    let s = &st.sessions[0];
    assert_eq!(s.state, State::Up);
    assert_eq!(s.tx_interval, Duration::from_millis(10));
    assert_eq!(s.detection_time, Some(Duration::from_millis(30)));
    assert!(s.counters.tx_packets >= 15, "tx {}", s.counters.tx_packets);
    assert!(s.counters.rx_packets >= 15, "rx {}", s.counters.rx_packets);
    assert_eq!(s.counters.dropped_total(), 0);
    // Not even the first packet of a fresh socket may be lost locally.
    assert_eq!(st.send_errors, 0);

    // B vanishes without a word (its driver stops): A notices within its
    // detection time (plus scheduling).
    let _ = kb;
    drop(hb);
    let t0 = std::time::Instant::now();
    match next_event(&mut ea, Duration::from_secs(2)).await {
        ev @ BfdEvent::Down { silent_for, .. } => {
            assert_eq!(ev.key(), ka);
            assert!(ev.is_path_failure());
            // Expired: nothing valid for at least the detection time.
            assert!(silent_for >= Duration::from_millis(30), "{silent_for:?}");
            assert!(matches!(
                ev,
                BfdEvent::Down {
                    state: State::Down,
                    diag: Diag::ControlDetectionTimeExpired,
                    ..
                }
            ));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(
        t0.elapsed() < Duration::from_millis(200),
        "took {:?}",
        t0.elapsed()
    );
    let st = ha.status().await.expect("status");
    assert_eq!(st.sessions[0].counters.detection_expiries, 1);
    assert_eq!(
        st.sessions[0].last_detection.map(|(_, d)| d),
        Some(Duration::from_millis(30))
    );
}

#[tokio::test]
async fn admin_down_reaches_the_peer_with_its_diagnostic() {
    let (a, b, cfg) = addrs(2);
    let (ha, mut ea) = start(cfg.clone());
    let (hb, mut eb) = start(cfg);
    let ka = ha.add_session(peer(a, b, 20)).await.expect("add a");
    let kb = hb.add_session(peer(b, a, 20)).await.expect("add b");
    assert_eq!(
        next_event(&mut ea, Duration::from_secs(5)).await,
        BfdEvent::Up { key: ka }
    );
    assert_eq!(
        next_event(&mut eb, Duration::from_secs(5)).await,
        BfdEvent::Up { key: kb }
    );

    assert!(ha.set_admin_down(ka, true).await.expect("admin"));
    assert_eq!(
        next_event_untimed(&mut ea, Duration::from_secs(1)).await,
        BfdEvent::Down {
            key: ka,
            state: State::AdminDown,
            diag: Diag::AdministrativelyDown,
            remote_state: State::Up,
            silent_for: Duration::ZERO,
        }
    );
    assert_eq!(
        next_event_untimed(&mut eb, Duration::from_secs(1)).await,
        BfdEvent::Down {
            key: kb,
            state: State::Down,
            diag: Diag::NeighborSignaledSessionDown,
            remote_state: State::AdminDown,
            silent_for: Duration::ZERO,
        }
    );
    // Neither side's Down is a path failure (RFC 5882 §3.2).
    assert!(ha.set_admin_down(ka, false).await.expect("admin"));
    assert_eq!(
        next_event(&mut ea, Duration::from_secs(5)).await,
        BfdEvent::Up { key: ka }
    );
    assert_eq!(
        next_event(&mut eb, Duration::from_secs(5)).await,
        BfdEvent::Up { key: kb }
    );
}

#[tokio::test]
async fn bad_packets_are_counted_and_dropped() {
    let (a, b, cfg) = addrs(3);
    let port = cfg.single_hop_port;
    let (ha, mut ea) = start(cfg.clone());
    let (hb, mut eb) = start(cfg);
    let ka = ha.add_session(peer(a, b, 20)).await.expect("add a");
    hb.add_session(peer(b, a, 20)).await.expect("add b");
    assert_eq!(
        next_event(&mut ea, Duration::from_secs(5)).await,
        BfdEvent::Up { key: ka }
    );
    let _ = next_event(&mut eb, Duration::from_secs(5)).await;
    let my_discr = ha.status().await.expect("status").sessions[0].local_discriminator;

    let target = SocketAddr::new(a, port);
    // Garbage from a third address.
    let junk =
        UdpSocket::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1)), 0)).expect("bind");
    junk.send_to(&[0x20, 0x40, 0, 24], target).expect("send");
    junk.send_to(&[0xff; 24], target).expect("send");
    // A well-formed packet for A's discriminator but from B's address with
    // TTL 64: an off-link spoof that RFC 5881 §5 tells us to drop.
    let spoof = UdpSocket::bind(SocketAddr::new(b, 0)).expect("bind");
    spoof.set_ttl(64).expect("ttl");
    let pkt = ControlPacket {
        diag: Diag::None,
        state: State::Down,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        multipoint: false,
        detect_mult: 3,
        my_discriminator: 99,
        your_discriminator: my_discr,
        desired_min_tx_us: 1_000_000,
        required_min_rx_us: 1_000_000,
        required_min_echo_rx_us: 0,
        auth: None,
    };
    for _ in 0..3 {
        spoof.send_to(&pkt.encode(), target).expect("send");
    }
    // And one for a discriminator nobody owns, with TTL 255.
    let mut stray = pkt.clone();
    stray.your_discriminator = my_discr.wrapping_add(1);
    spoof.set_ttl(255).expect("ttl");
    spoof.send_to(&stray.encode(), target).expect("send");

    // Until the last packet sent has been counted.
    let st = status_when(&ha, "the stray packet counted", |st| {
        st.unmatched_drops
            .contains_key(&DropReason::UnknownYourDiscriminator)
    })
    .await;
    assert_eq!(st.sessions[0].state, State::Up, "spoofed Down ignored");
    assert_eq!(
        st.sessions[0].counters.dropped.get(&DropReason::BadTtl),
        Some(&3)
    );
    assert_eq!(st.unmatched_drops.get(&DropReason::ZeroDetectMult), None);
    assert_eq!(st.unmatched_drops.get(&DropReason::TooShort), Some(&1));
    assert_eq!(st.unmatched_drops.get(&DropReason::BadVersion), Some(&1));
    assert!(st
        .unmatched_drops
        .contains_key(&DropReason::UnknownYourDiscriminator));
}

#[tokio::test]
async fn multihop_checks_ttl_only_when_configured() {
    let (a, b, cfg) = addrs(4);
    let (ha, mut ea) = start(cfg.clone());
    let (hb, mut eb) = start(cfg);
    let mut pa = peer(a, b, 20);
    pa.hop = Hop::Multi { min_ttl: Some(250) };
    let mut pb = peer(b, a, 20);
    pb.hop = Hop::Multi { min_ttl: None };
    let ka = ha.add_session(pa).await.expect("add a");
    let kb = hb.add_session(pb).await.expect("add b");
    assert!(ka.multihop);
    assert_eq!(
        next_event(&mut ea, Duration::from_secs(5)).await,
        BfdEvent::Up { key: ka }
    );
    assert_eq!(
        next_event(&mut eb, Duration::from_secs(5)).await,
        BfdEvent::Up { key: kb }
    );
    // Single-hop and multihop to the same peer are distinct sessions.
    let kc = ha
        .add_session(peer(a, b, 20))
        .await
        .expect("add single-hop too");
    assert_ne!(kc, ka);
    assert!(
        ha.add_session(peer(a, b, 20)).await.is_err(),
        "duplicate refused"
    );
}

#[test]
fn route_source_finds_the_local_address() {
    let peer: IpAddr = "127.9.8.7".parse().expect("ip");
    let src = orbit_bfd::route_source(peer).expect("route");
    assert!(src.is_loopback(), "{src}");
    let v6 = orbit_bfd::route_source("::1".parse().expect("ip")).expect("route");
    assert_eq!(v6, "::1".parse::<IpAddr>().expect("ip"));
}

#[tokio::test]
async fn removing_a_session_tells_the_peer_it_is_administrative() {
    let (a, b, cfg) = addrs(5);
    let (ha, mut ea) = start(cfg.clone());
    let (hb, mut eb) = start(cfg);
    let ka = ha.add_session(peer(a, b, 20)).await.expect("add a");
    let kb = hb.add_session(peer(b, a, 20)).await.expect("add b");
    assert_eq!(
        next_event(&mut ea, Duration::from_secs(5)).await,
        BfdEvent::Up { key: ka }
    );
    assert_eq!(
        next_event(&mut eb, Duration::from_secs(5)).await,
        BfdEvent::Up { key: kb }
    );
    assert!(hb.remove_session(kb).await.expect("remove"));
    assert!(!hb.remove_session(kb).await.expect("remove again"));
    let ev = next_event_untimed(&mut ea, Duration::from_secs(1)).await;
    assert_eq!(
        ev,
        BfdEvent::Down {
            key: ka,
            state: State::Down,
            diag: Diag::NeighborSignaledSessionDown,
            remote_state: State::AdminDown,
            silent_for: Duration::ZERO,
        }
    );
    assert!(!ev.is_path_failure(), "BGP must not be torn down for this");
    assert!(
        eb.try_recv().is_err(),
        "no event for the session we removed"
    );
}
