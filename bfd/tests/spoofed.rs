//! Spoofed Down packets against Up sessions, with real sockets: two of our
//! drivers in their own namespaces across a veth, a single-hop session
//! (RFC 5881, as toward a BGP peer) and a multihop one (RFC 5883, as
//! between members) side by side, and a spoofer in the peer's namespace
//! that writes the peer's address and TTL 255 on its packets (it sits on
//! the link, so the TTL check lets it through) but knows neither side's
//! discriminator. Unauthenticated member sessions flapped on exactly these
//! (issue 15). And the real thing the spoofer imitates: a peer whose
//! driver vanished without a word and came back with new discriminators,
//! as bird2 does on a BGP restart. Needs root (namespaces); CI runs it as
//! root.

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

/// Two drivers across a veth with a single-hop and a multihop session
/// between them, all Up. Fields drop in order: drivers, runtimes, then the
/// namespaces.
struct Pair {
    ha: BfdHandle,
    ea: UnboundedReceiver<BfdEvent>,
    hb: BfdHandle,
    eb: UnboundedReceiver<BfdEvent>,
    keys_a: Vec<SessionKey>,
    keys_b: Vec<SessionKey>,
    a: IpAddr,
    b: IpAddr,
    timing: Timing,
    _rta: NsRuntime,
    rtb: NsRuntime,
    _link: Veth,
    _nb: Netns,
    _na: Netns,
}

impl Pair {
    async fn up(timing: Timing) -> Pair {
        let (na, nb) = (Netns::new("sa"), Netns::new("sb"));
        let link = Veth::new(&na, &nb, "10.0.0.0".parse().expect("net"));
        let (a, b) = (IpAddr::V4(link.a_addr), IpAddr::V4(link.b_addr));
        let (rta, rtb) = (NsRuntime::new(&na), NsRuntime::new(&nb));
        let (ha, ea) = driver(&rta);
        let (hb, eb) = driver(&rtb);
        let mut pair = Pair {
            ha,
            ea,
            hb,
            eb,
            keys_a: Vec::new(),
            keys_b: Vec::new(),
            a,
            b,
            timing,
            _rta: rta,
            rtb,
            _link: link,
            _nb: nb,
            _na: na,
        };
        pair.keys_a = pair.add_sessions(Side::A).await;
        pair.keys_b = pair.add_sessions(Side::B).await;
        all_up(&mut pair.ea, &pair.keys_a).await;
        all_up(&mut pair.eb, &pair.keys_b).await;
        pair
    }

    /// One single-hop and one multihop session on `side`'s driver.
    async fn add_sessions(&self, side: Side) -> Vec<SessionKey> {
        let (handle, local, peer) = match side {
            Side::A => (&self.ha, self.a, self.b),
            Side::B => (&self.hb, self.b, self.a),
        };
        let mut keys = Vec::new();
        for hop in [Hop::Single, Hop::Multi { min_ttl: None }] {
            let config = PeerConfig {
                peer,
                local,
                hop,
                timing: self.timing,
                auth: None,
                control_plane_independent: false,
            };
            keys.push(handle.add_session(config).await.expect("add session"));
        }
        keys
    }
}

#[derive(Clone, Copy)]
enum Side {
    A,
    B,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoofed_downs_without_our_discriminator_leave_up_sessions_up() {
    // A detection time of 250 ms: the spoofing, not the shared machine,
    // must be what could take a session down.
    let timing = Timing::new(Duration::from_millis(50), Duration::from_millis(50), 5);
    let mut pair = Pair::up(timing).await;
    let Pair {
        ha,
        ea,
        hb,
        eb,
        keys_a,
        rtb,
        a,
        b,
        ..
    } = &mut pair;
    let (a, b) = (*a, *b);

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
    let ours = discriminators(ha).await;
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
        // Pacing: a spoofed burst every 10 ms while the sessions run.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Longer than the detection time: a session silenced by a spoofed
    // RequiredMinRx 0 would have expired at the other end by now.
    tokio::time::sleep(Duration::from_millis(600)).await;

    for (side, events) in [("a", ea), ("b", eb)] {
        let seen: Vec<BfdEvent> = std::iter::from_fn(|| events.try_recv().ok()).collect();
        assert!(seen.is_empty(), "{side}: {seen:?}");
    }
    let status_a = ha.status().await.expect("status a");
    let after_a = sessions(&status_a);
    for key in keys_a.iter() {
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
    // Each was kept as a sign that b might have restarted, and none was
    // taken as one: b's valid packets kept coming.
    for s in &status_a.sessions {
        let c = &s.counters;
        assert_eq!(
            (c.restart_candidates, c.peer_restarts, c.detection_expiries),
            (2 * rounds, 0, 0),
            "{}",
            s.key
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
async fn a_peer_that_restarted_with_new_discriminators_is_taken_over_without_a_path_failure() {
    // b's driver vanishes without a word (no AdminDown) and a new one comes
    // up with new discriminators, whose Downs carry Your Discriminator 0:
    // what bird2 does on a BGP restart, and orbitd's BFD helper when it is
    // started again. a must not take the silence for a path failure (BGP
    // dropped, the member voted dead): the peer did signal Down, from its
    // new session. A detection time of 1 s, far above the moments between
    // the old driver's last packet and the new one's first.
    let timing = Timing::new(Duration::from_millis(100), Duration::from_millis(100), 10);
    let mut pair = Pair::up(timing).await;
    let old_b = discriminators(&pair.hb).await;
    let (new_hb, new_eb) = driver(&pair.rtb);
    // Dropping its last handle aborts the old driver; its sockets close
    // once b's runtime has run the abort, well before a's detection time.
    drop(std::mem::replace(&mut pair.hb, new_hb));
    drop(std::mem::replace(&mut pair.eb, new_eb));
    // The restart's silence between the old driver's last packet and the
    // new one's first (the scenario itself, not a wait for an event).
    tokio::time::sleep(Duration::from_millis(100)).await;
    pair.keys_b = pair.add_sessions(Side::B).await;
    let new_b = discriminators(&pair.hb).await;
    assert!(
        new_b.iter().all(|d| !old_b.contains(d)),
        "{old_b:?} {new_b:?}"
    );

    let mut left = pair.keys_a.clone();
    let mut downs = Vec::new();
    while !left.is_empty() {
        let event = tokio::time::timeout(Duration::from_secs(20), pair.ea.recv())
            .await
            .expect("a back Up in time")
            .expect("driver alive");
        match event {
            BfdEvent::Up { key } => left.retain(|k| *k != key),
            down => downs.push(down),
        }
    }
    assert_eq!(downs.len(), 2, "{downs:?}");
    for down in &downs {
        let BfdEvent::Down { diag, .. } = down else {
            unreachable!()
        };
        assert_eq!(*diag, Diag::NeighborSignaledSessionDown, "{down:?}");
        assert!(!down.is_path_failure(), "{down:?}");
    }
    all_up(&mut pair.eb, &pair.keys_b).await;
    let status = pair.ha.status().await.expect("status a");
    for s in &status.sessions {
        assert!(new_b.contains(&s.remote_discriminator), "{}", s.key);
        assert_eq!(s.counters.peer_restarts, 1, "{}", s.key);
        assert!(s.counters.restart_candidates >= 1, "{}", s.key);
    }
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
