//! Spoofed Down packets against Up sessions, with real sockets: two of our
//! drivers in their own namespaces across a veth, a single-hop session
//! (RFC 5881, as toward a BGP peer) and a multihop one (RFC 5883, as
//! between members) side by side, and a spoofer in the peer's namespace
//! that writes the peer's address and TTL 255 on its packets (it sits on
//! the link, so the TTL check lets it through) but knows neither side's
//! discriminator. Unauthenticated member sessions flapped on exactly these
//! (issue 15). Needs root (namespaces); CI runs it as root.

mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use common::{Netns, NsRuntime};
use orbit_bfd::{
    start, BfdEvent, BfdHandle, ControlPacket, Diag, DriverConfig, DriverStatus, DropReason, Hop,
    Jitter, PeerConfig, SessionKey, State, Timing, XorShift32, MULTI_HOP_PORT, SINGLE_HOP_PORT,
};
use orbit_tests::netns::Veth;
use tokio::sync::mpsc::UnboundedReceiver;

/// A driver started on `rt` (so its sockets live in that namespace).
fn driver(rt: &NsRuntime) -> (BfdHandle, UnboundedReceiver<BfdEvent>) {
    let _enter = rt.handle.enter();
    start(DriverConfig::default())
}

/// Waits until `keys` are all Up.
async fn all_up(events: &mut UnboundedReceiver<BfdEvent>, keys: &[SessionKey]) {
    let mut left = keys.to_vec();
    while !left.is_empty() {
        let event = tokio::time::timeout(Duration::from_secs(20), events.recv())
            .await
            .expect("sessions Up in time")
            .expect("driver alive");
        match event {
            BfdEvent::Up { key } => left.retain(|k| *k != key),
            other => panic!("before any spoofing: {other:?}"),
        }
    }
}

/// A session's state, its count of state changes and its drops by reason.
type Seen = (State, u64, Vec<(DropReason, u64)>);

fn sessions(status: &DriverStatus) -> BTreeMap<SessionKey, Seen> {
    status
        .sessions
        .iter()
        .map(|s| {
            let dropped = s.counters.dropped.iter().map(|(r, n)| (*r, *n)).collect();
            (s.key, (s.state, s.counters.state_changes, dropped))
        })
        .collect()
}

/// The local discriminators of a driver's sessions.
async fn discriminators(handle: &BfdHandle) -> Vec<u32> {
    let status = handle.status().await.expect("status");
    status
        .sessions
        .iter()
        .map(|s| s.local_discriminator)
        .collect()
}

fn down(state: State, diag: Diag, mine: u32, yours: u32) -> Vec<u8> {
    ControlPacket {
        diag,
        state,
        // Had a Poll with RequiredMinRx 0 been taken, A would have
        // answered Final and then fallen silent (RFC 5880 §6.8.7).
        poll: yours == 0,
        final_: false,
        control_plane_independent: false,
        demand: false,
        multipoint: false,
        detect_mult: 3,
        my_discriminator: mine,
        your_discriminator: yours,
        desired_min_tx_us: 1_000_000,
        required_min_rx_us: 0,
        required_min_echo_rx_us: 0,
        auth: None,
    }
    .encode()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_downs_without_our_discriminator_leave_up_sessions_up() {
    let (na, nb) = (Netns::new("sa"), Netns::new("sb"));
    let link = Veth::new(&na, &nb, "10.0.0.0".parse().expect("net"));
    let (a, b) = (IpAddr::V4(link.a_addr), IpAddr::V4(link.b_addr));
    let (rta, rtb) = (NsRuntime::new(&na), NsRuntime::new(&nb));
    let (ha, mut ea) = driver(&rta);
    let (hb, mut eb) = driver(&rtb);
    // A detection time of 250 ms: the spoofing, not the shared machine,
    // must be what could take a session down.
    let timing = Timing::new(Duration::from_millis(50), Duration::from_millis(50), 5);
    let session = |local, peer, hop| PeerConfig {
        peer,
        local,
        hop,
        timing,
        auth: None,
        control_plane_independent: false,
    };
    let (mut keys_a, mut keys_b) = (Vec::new(), Vec::new());
    for hop in [Hop::Single, Hop::Multi { min_ttl: None }] {
        keys_a.push(ha.add_session(session(a, b, hop)).await.expect("add at a"));
        keys_b.push(hb.add_session(session(b, a, hop)).await.expect("add at b"));
    }
    all_up(&mut ea, &keys_a).await;
    all_up(&mut eb, &keys_b).await;

    let spoofer = rtb
        .handle
        .spawn(async move {
            let s = UdpSocket::bind(SocketAddr::new(b, 0)).expect("bind b's address");
            s.set_ttl(255).expect("ttl 255");
            s
        })
        .await
        .expect("spoofer socket in b's namespace");
    let before_a = sessions(&ha.status().await.expect("status a"));
    let before_b = sessions(&hb.status().await.expect("status b"));
    let status_b = hb.status().await.expect("status b");
    let ours = discriminators(&ha).await;
    let not_ours = (1..).find(|d| !ours.contains(d)).expect("a free value");
    let rounds = 20;
    for _ in 0..rounds {
        for s in &status_b.sessions {
            let port = if s.key.multihop {
                MULTI_HOP_PORT
            } else {
                SINGLE_HOP_PORT
            };
            // A My Discriminator that is not b's, as a spoofer must guess.
            let mine = s.local_discriminator.wrapping_add(1).max(1);
            for bytes in [
                down(State::Down, Diag::None, mine, 0),
                down(State::AdminDown, Diag::AdministrativelyDown, mine, 0),
                down(
                    State::Down,
                    Diag::NeighborSignaledSessionDown,
                    mine,
                    not_ours,
                ),
            ] {
                spoofer
                    .send_to(&bytes, SocketAddr::new(a, port))
                    .expect("send");
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Longer than the detection time: a session silenced by a spoofed
    // RequiredMinRx 0 would have expired at the other end by now.
    tokio::time::sleep(Duration::from_millis(600)).await;

    for (side, events) in [("a", &mut ea), ("b", &mut eb)] {
        let seen: Vec<BfdEvent> = std::iter::from_fn(|| events.try_recv().ok()).collect();
        assert!(seen.is_empty(), "{side}: {seen:?}");
    }
    let status_a = ha.status().await.expect("status a");
    let after_a = sessions(&status_a);
    for key in &keys_a {
        let (state_before, changes_before, _) = &before_a[key];
        let (state, changes, dropped) = &after_a[key];
        assert_eq!(
            (state_before, changes_before),
            (state, changes),
            "{key}: {dropped:?}"
        );
        assert_eq!(
            dropped,
            &[(DropReason::ZeroYourDiscriminatorWhenUp, 2 * rounds)],
            "{key}"
        );
    }
    assert_eq!(
        status_a
            .unmatched_drops
            .get(&DropReason::UnknownYourDiscriminator),
        Some(&(2 * rounds)),
    );
    let after_b = sessions(&hb.status().await.expect("status b"));
    assert_eq!(before_b, after_b, "b never noticed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_discriminator_does_not_give_away_the_others() {
    // Whoever sees one session's packets learns its discriminators; the
    // driver's other sessions must not follow from them (RFC 5880 §6.8.1:
    // "SHOULD be set to a random (but still unique) value"), or seeing
    // one member's session would tell a spoofer the discriminators of its
    // sessions with every other member.
    let ns = Netns::new("sd");
    let rt = NsRuntime::new(&ns);
    let (handle, _events) = driver(&rt);
    let local = IpAddr::from([127, 0, 0, 1]);
    for last in 2..6 {
        handle
            .add_session(PeerConfig {
                peer: IpAddr::from([127, 0, 0, last]),
                local,
                hop: Hop::Multi { min_ttl: None },
                timing: Timing::new(Duration::from_secs(1), Duration::from_secs(1), 3),
                auth: None,
                control_plane_independent: false,
            })
            .await
            .expect("add");
    }
    let discrs = discriminators(&handle).await;
    assert_eq!(discrs.len(), 4);
    for &seen in &discrs {
        // Xorshift's state is its last output: the guess a spoofer makes.
        let mut guess = XorShift32::new(seen);
        let next: Vec<u32> = (0..8).map(|_| guess.next_u32()).collect();
        for &other in &discrs {
            assert!(
                other == seen || !next.contains(&other),
                "{other:#x} follows from {seen:#x}: {discrs:x?}"
            );
        }
    }
}
