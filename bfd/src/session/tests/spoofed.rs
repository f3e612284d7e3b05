//! Packets matched to a session by address only (Your Discriminator zero)
//! or carrying someone else's discriminator, as a spoofer who knows neither
//! side's discriminator sends them: none may take an Up session down,
//! change its timers or draw a Final (RFC 5880 §6.3, §6.8.6). The packets
//! are byte vectors as they arrive on the wire; A's discriminator is 0x0a,
//! B's 0x0b, the spoofer's guess 0x77.

use super::*;

fn unhex(s: &str) -> ControlPacket {
    let s: String = s.split_whitespace().collect();
    let bytes: Vec<u8> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect();
    ControlPacket::decode(&bytes).expect("a packet that passes the stateless checks")
}

/// Down, diag 0, DetectMult 3, My Discriminator 0x77, Your Discriminator
/// 0, 1 s / 1 s.
const DOWN_ZERO_YOURS: &str = "20 40 03 18 00000077 00000000 000f4240 000f4240 00000000";
/// The same with Poll set and RequiredMinRx 0: had it been taken, A would
/// answer Final and stop transmitting (§6.8.7), and B's detection would
/// expire.
const DOWN_ZERO_YOURS_POLL_NO_RX: &str = "20 60 03 18 00000077 00000000 000f4240 00000000 00000000";
/// AdminDown, diag 7 (administratively down), Your Discriminator 0.
const ADMIN_DOWN_ZERO_YOURS: &str = "27 00 03 18 00000077 00000000 000f4240 000f4240 00000000";
/// Down, diag 3, Your Discriminator 0x0000beef (not A's).
const DOWN_WRONG_YOURS: &str = "23 40 03 18 00000077 0000beef 000f4240 000f4240 00000000";
/// Down, diag 1 (detection time expired), My Discriminator B's, Your
/// Discriminator 0: what B sends after its detection time expired and it
/// forgot A's discriminator (§6.8.1), i.e. a one-way failure.
const DOWN_FROM_PEER_ZERO_YOURS: &str = "21 40 03 18 0000000b 00000000 000f4240 000f4240 00000000";
/// Down, diag 3, Your Discriminator A's, from a My Discriminator nobody
/// has.
const DOWN_RIGHT_YOURS: &str = "23 40 03 18 00000077 0000000a 000f4240 000f4240 00000000";

fn up_link() -> Link {
    let mut l = Link::new(timing(10, 10, 3), timing(10, 10, 3));
    l.run_for(MS * 3000);
    assert!(l.both_up());
    l.changes.clear();
    l
}

/// What a spoofed packet must leave as it was.
fn snapshot(s: &Session) -> impl PartialEq + std::fmt::Debug {
    (
        (s.state(), s.remote_state(), s.remote_discriminator()),
        (s.tx_interval(), s.detection_time(), s.detection_deadline()),
        s.counters().rx_packets,
    )
}

/// Feeds `hex` to A and checks that it was dropped for `reason` and
/// changed nothing else.
fn assert_dropped(l: &mut Link, hex: &str, reason: DropReason) {
    let dropped = |s: &Session| s.counters().dropped.get(&reason).copied().unwrap_or(0);
    let before = (snapshot(&l.a), dropped(&l.a) + 1);
    let now = l.now;
    let out = l.a.process(now, Input::Packet(unhex(hex)));
    assert!(out.is_empty(), "{hex}: no state change, no Final: {out:?}");
    assert_eq!(l.a.state(), State::Up, "{hex}");
    assert_eq!(before, (snapshot(&l.a), dropped(&l.a)), "{hex}");
}

#[test]
fn zero_your_discriminator_cannot_take_an_up_session_down() {
    let mut l = up_link();
    for hex in [
        DOWN_ZERO_YOURS,
        DOWN_ZERO_YOURS_POLL_NO_RX,
        ADMIN_DOWN_ZERO_YOURS,
    ] {
        assert_dropped(&mut l, hex, DropReason::ZeroYourDiscriminatorWhenUp);
    }
    assert_eq!(
        DropReason::ZeroYourDiscriminatorWhenUp.label(),
        "zero_your_discriminator_when_up"
    );
    // A keeps transmitting at 10 ms and B never noticed anything.
    let from = l.now;
    l.run_for(MS * 500);
    assert!(l.both_up());
    assert!(l.changes.is_empty(), "{:?}", l.changes);
    assert!(l.sent_by(Side::A, from).len() >= 35);
}

#[test]
fn a_discriminator_that_is_not_ours_is_dropped() {
    let mut l = up_link();
    assert_dropped(
        &mut l,
        DOWN_WRONG_YOURS,
        DropReason::UnknownYourDiscriminator,
    );
}

#[test]
fn the_peers_own_down_still_counts_whatever_its_your_discriminator() {
    for hex in [
        // B's detection expired (a one-way failure) and it forgot A's
        // discriminator: its Down, with B's own My Discriminator, takes A
        // down at once rather than a detection time later.
        DOWN_FROM_PEER_ZERO_YOURS,
        // The limit of the unauthenticated checks: whoever knows A's
        // discriminator (or B's) is believed; docs/bfd.md says so, and
        // [bfd.auth] is the answer.
        DOWN_RIGHT_YOURS,
    ] {
        let mut l = up_link();
        let now = l.now;
        l.a.process(now, Input::Packet(unhex(hex)));
        assert_eq!(
            (l.a.state(), l.a.local_diag()),
            (State::Down, Diag::NeighborSignaledSessionDown),
            "{hex}"
        );
    }
}

#[test]
fn zero_your_discriminator_still_starts_a_session() {
    // §6.8.6: before the peer has heard us, its Down packets carry Your
    // Discriminator 0 and are selected by address; the handshake needs them.
    let t0 = Instant::now();
    let mut a = Session::new(
        t0,
        0x0a,
        timing(10, 10, 3),
        None,
        Box::new(XorShift32::new(1)),
    );
    a.process(t0, Input::Packet(unhex(DOWN_FROM_PEER_ZERO_YOURS)));
    assert_eq!(a.state(), State::Init);
    assert_eq!(a.remote_discriminator(), 0x0b);
    // In Init, more of them change nothing and are not drops.
    a.process(t0, Input::Packet(unhex(DOWN_FROM_PEER_ZERO_YOURS)));
    assert_eq!(a.state(), State::Init);
    assert_eq!(a.counters().dropped_total(), 0);
    assert_eq!(a.counters().rx_packets, 2);
}

/// A's state changes since the link was set up.
fn changes_of_a(l: &Link) -> Vec<(State, Diag)> {
    l.changes
        .iter()
        .filter(|c| c.side == Side::A)
        .map(|c| (c.to, c.diag))
        .collect()
}

/// What orbitd makes of A's Down: a path failure drops BGP at once and
/// votes a member dead; a signalled Down does neither.
fn is_path_failure(l: &Link, diag: Diag) -> bool {
    crate::driver::BfdEvent::Down {
        key: crate::driver::SessionKey {
            local: [10, 0, 0, 1].into(),
            peer: [10, 0, 0, 2].into(),
            multihop: false,
        },
        state: State::Down,
        diag,
        remote_state: l.a.remote_state(),
        silent_for: std::time::Duration::ZERO,
    }
    .is_path_failure()
}

/// B's session replaced by a new one with discriminator 0x0c, as bird2
/// does on a BGP reconnect: the old one falls silent without a word, the
/// new one starts in Down with Your Discriminator 0 (RFC 5880 §6.8.1).
fn restart_b(l: &mut Link, auth: Option<AuthConfig>) {
    l.b = Session::new(
        l.now,
        0x0c,
        timing(10, 10, 3),
        auth,
        Box::new(XorShift32::new(3)),
    );
}

#[test]
fn a_restarted_peer_is_taken_over_as_signalled_down_at_detection_expiry() {
    // B's new session's Downs carry Your Discriminator 0 and a My
    // Discriminator A does not know: A (Up) drops them for its state and
    // timers but remembers them. When the old session's detection time
    // expires, the peer that went silent did signal Down, from its new
    // session: not a path failure. The handshake with 0x0c follows at
    // once, without waiting a slow-start second for B's next Down.
    let mut l = up_link();
    restart_b(&mut l, None);
    let restart = l.now;
    l.run_for(MS * 3000);
    let a = changes_of_a(&l);
    assert_eq!(
        a,
        vec![
            (State::Down, Diag::NeighborSignaledSessionDown),
            (State::Init, Diag::None),
            (State::Up, Diag::None),
        ],
    );
    assert!(!is_path_failure(&l, a[0].1));
    let at = |to: State| {
        l.changes
            .iter()
            .find(|c| c.side == Side::A && c.to == to)
            .expect("change")
            .at
            - restart
    };
    // Down when the old session's 30 ms detection time ran out, and Up
    // again at the same instant on this zero-latency link.
    assert!(at(State::Down) <= MS * 30, "{:?}", at(State::Down));
    assert_eq!(at(State::Up), at(State::Down));
    let c = l.a.counters();
    assert!(c.dropped[&DropReason::ZeroYourDiscriminatorWhenUp] >= 1);
    assert_eq!(c.restart_candidates, 1, "B's first Down");
    assert_eq!((c.peer_restarts, c.detection_expiries), (1, 1));
    assert!(l.both_up());
    assert_eq!(l.a.remote_discriminator(), 0x0c);
    assert_eq!(l.b.remote_discriminator(), 0x0a);
}

#[test]
fn an_authenticated_restarted_peer_is_taken_over_too() {
    // With [bfd.auth] the new session's Downs are signed and start their
    // own sequence numbers (§6.7.3): the candidate is checked by its
    // digest, and the old session's sequence window does not keep the
    // new one out.
    let mut l = sha1_link_up();
    restart_b(&mut l, sha1());
    l.run_for(MS * 100);
    assert_eq!(
        changes_of_a(&l).first(),
        Some(&(State::Down, Diag::NeighborSignaledSessionDown))
    );
    assert!(l.both_up());
    let first_and_last = [l.changes.first(), l.changes.last()].map(|c| c.expect("changes").at);
    assert_eq!(first_and_last[0], first_and_last[1], "Up again at once");
    assert_eq!(l.a.remote_discriminator(), 0x0c);
    assert_eq!(l.a.counters().peer_restarts, 1);
}

#[test]
fn a_spoofer_changes_nothing_while_the_peer_keeps_sending() {
    // Spoofed Downs every 5 ms for half a second, each with a new guess:
    // they are remembered as candidates, but B's valid packets keep A's
    // detection time from expiring, so none is ever taken over.
    let mut l = up_link();
    let mut spoofed = 0;
    for i in 0..100u32 {
        let now = l.now;
        let mut p = unhex(DOWN_ZERO_YOURS);
        p.my_discriminator = 0x100 + i;
        let out = l.a.process(now, Input::Packet(p));
        assert!(out.is_empty(), "{out:?}");
        spoofed += 1;
        l.run_for(MS * 5);
    }
    assert!(l.both_up());
    assert!(l.changes.is_empty(), "{:?}", l.changes);
    let c = l.a.counters();
    assert_eq!(c.restart_candidates, spoofed);
    assert_eq!((c.peer_restarts, c.detection_expiries), (0, 0));
    assert_eq!(l.a.remote_discriminator(), 0x0b);
}

#[test]
fn a_candidate_older_than_the_detection_time_leaves_a_real_expiry_a_path_failure() {
    // A spoofed Down, then B keeps sending for another 20 ms and falls
    // silent (the path failed). By the time A's detection time expires the
    // candidate came before B's last valid packet: B was alive after it,
    // so it cannot explain the silence.
    let mut l = up_link();
    let now = l.now;
    l.a.process(now, Input::Packet(unhex(DOWN_ZERO_YOURS)));
    assert_eq!(l.a.counters().restart_candidates, 1);
    l.run_for(MS * 20);
    l.b_to_a = false;
    l.run_for(MS * 100);
    let a = changes_of_a(&l);
    assert_eq!(
        a.first(),
        Some(&(State::Down, Diag::ControlDetectionTimeExpired)),
        "{a:?}"
    );
    assert!(is_path_failure(&l, a[0].1));
    assert_eq!(l.a.counters().peer_restarts, 0);
}

#[test]
fn without_auth_a_spoofer_turns_a_dead_peers_path_failure_into_a_signalled_down() {
    // The weakness docs/bfd.md names: B dies, and within the detection
    // time someone with B's address sends a Down from an unknown
    // discriminator. A cannot tell that from B's restart. With [bfd.auth]
    // the spoofer's packet is not even a candidate, and the expiry stays a
    // path failure.
    for auth in [false, true] {
        let mut l = if auth { sha1_link_up() } else { up_link() };
        l.b_to_a = false;
        l.run_for(MS * 5);
        let now = l.now;
        l.a.process(now, Input::Packet(unhex(DOWN_ZERO_YOURS)));
        l.run_for(MS * 100);
        let diag = changes_of_a(&l).first().expect("A went Down").1;
        let c = l.a.counters();
        if auth {
            assert_eq!(diag, Diag::ControlDetectionTimeExpired);
            assert!(is_path_failure(&l, diag));
            assert_eq!((c.restart_candidates, c.peer_restarts), (0, 0));
            assert_eq!(c.dropped[&DropReason::ZeroYourDiscriminatorWhenUp], 1);
        } else {
            assert_eq!(diag, Diag::NeighborSignaledSessionDown);
            assert!(!is_path_failure(&l, diag));
            assert_eq!((c.restart_candidates, c.peer_restarts), (1, 1));
        }
    }
}

mod any_spoof {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever a packet with Your Discriminator 0 and a My
        /// Discriminator other than the peer's says (state, diag, flags,
        /// timers), an Up session stays Up with the same timers and
        /// detection deadline.
        #[test]
        fn no_zero_discriminator_packet_moves_an_up_session(
            state in prop_oneof![Just(State::Down), Just(State::AdminDown)],
            diag in 0u8..32,
            poll in any::<bool>(),
            cpi in any::<bool>(),
            mult in 1u8..=255,
            mine in (1u32..).prop_filter("not B's", |m| *m != 0x0b),
            tx in any::<u32>(),
            rx in any::<u32>(),
        ) {
            let mut l = up_link();
            let p = ControlPacket {
                diag: Diag::from_bits(diag),
                state,
                poll,
                final_: false,
                control_plane_independent: cpi,
                demand: false,
                multipoint: false,
                detect_mult: mult,
                my_discriminator: mine,
                your_discriminator: 0,
                desired_min_tx_us: tx,
                required_min_rx_us: rx,
                required_min_echo_rx_us: 0,
                auth: None,
            };
            let p = ControlPacket::decode(&p.encode()).expect("valid on the wire");
            let before = (l.a.tx_interval(), l.a.detection_time(), l.a.detection_deadline());
            let now = l.now;
            let out = l.a.process(now, Input::Packet(p));
            prop_assert!(out.is_empty());
            prop_assert_eq!(l.a.state(), State::Up);
            prop_assert_eq!(before, (l.a.tx_interval(), l.a.detection_time(), l.a.detection_deadline()));
        }
    }
}
