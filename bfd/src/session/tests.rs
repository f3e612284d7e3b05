//! Fake-clock tests of the session: two sessions wired back to back through
//! the real codec, time advanced from deadline to deadline.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::*;
use crate::auth::{AuthConfig, AuthKind};

const MS: Duration = Duration::from_millis(1);

fn timing(tx_ms: u64, rx_ms: u64, mult: u8) -> Timing {
    Timing::new(MS * tx_ms as u32, MS * rx_ms as u32, mult)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    A,
    B,
}

#[derive(Debug, Clone)]
struct Change {
    side: Side,
    at: Instant,
    to: State,
    diag: Diag,
}

/// A point-to-point link with zero latency whose directions can be cut.
struct Link {
    t0: Instant,
    now: Instant,
    a: Session,
    b: Session,
    a_to_b: bool,
    b_to_a: bool,
    changes: Vec<Change>,
    /// (sender, time, decoded packet) of every packet put on the wire.
    wire: Vec<(Side, Instant, ControlPacket)>,
}

impl Link {
    fn new(ta: Timing, tb: Timing) -> Link {
        Link::with_auth(ta, None, tb, None)
    }

    fn with_auth(
        ta: Timing,
        auth_a: Option<AuthConfig>,
        tb: Timing,
        auth_b: Option<AuthConfig>,
    ) -> Link {
        let t0 = Instant::now();
        Link {
            t0,
            now: t0,
            a: Session::new(t0, 0x0a, ta, auth_a, Box::new(XorShift32::new(1))),
            b: Session::new(t0, 0x0b, tb, auth_b, Box::new(XorShift32::new(2))),
            a_to_b: true,
            b_to_a: true,
            changes: Vec::new(),
            wire: Vec::new(),
        }
    }

    fn session(&mut self, side: Side) -> &mut Session {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    fn input(&mut self, side: Side, input: Input) {
        let mut queue = VecDeque::new();
        queue.push_back((side, input));
        while let Some((side, input)) = queue.pop_front() {
            let now = self.now;
            let outputs = self.session(side).process(now, input);
            for o in outputs {
                match o {
                    Output::Send(bytes) => {
                        let p = ControlPacket::decode(&bytes).expect("we emit valid packets");
                        self.wire.push((side, now, p.clone()));
                        let (peer, up) = match side {
                            Side::A => (Side::B, self.a_to_b),
                            Side::B => (Side::A, self.b_to_a),
                        };
                        if up {
                            queue.push_back((peer, Input::Packet(p)));
                        }
                    }
                    Output::StateChange { from: _, to, diag } => self.changes.push(Change {
                        side,
                        at: now,
                        to,
                        diag,
                    }),
                }
            }
        }
    }

    /// Advance the clock to `until`, firing every deadline on the way.
    fn run_until(&mut self, until: Instant) {
        loop {
            let next = [self.a.next_deadline(), self.b.next_deadline()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    for side in [Side::A, Side::B] {
                        if self
                            .session(side)
                            .next_deadline()
                            .is_some_and(|d| d <= self.now)
                        {
                            self.input(side, Input::Timer);
                        }
                    }
                }
                _ => break,
            }
        }
        self.now = until;
    }

    /// Both ends stop for `d` (a host stalled): nothing fires meanwhile;
    /// then each end hears, as the driver says it, how late it woke.
    fn stall_both(&mut self, d: Duration, tell: bool) {
        let due = [self.a.next_deadline(), self.b.next_deadline()];
        self.now += d;
        if tell {
            for (side, due) in [Side::A, Side::B].into_iter().zip(due) {
                let late = self.now - due.expect("a running session has a deadline");
                self.input(side, Input::Stalled { late });
            }
        }
    }

    /// The first state change recorded at `side`.
    fn first_change(&self, side: Side) -> Option<Change> {
        self.changes.iter().find(|c| c.side == side).cloned()
    }

    fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    fn both_up(&self) -> bool {
        self.a.state() == State::Up && self.b.state() == State::Up
    }

    fn sent_by(&self, side: Side, after: Instant) -> Vec<(Instant, ControlPacket)> {
        self.wire
            .iter()
            .filter(|(s, t, _)| *s == side && *t >= after)
            .map(|(_, t, p)| (*t, p.clone()))
            .collect()
    }
}

#[test]
fn three_way_handshake_brings_both_up() {
    let mut l = Link::new(timing(10, 10, 3), timing(10, 10, 3));
    l.run_for(MS * 3000);
    assert!(l.both_up(), "a={} b={}", l.a.state(), l.b.state());
    // B saw A's Down first: Down -> Init -> Up. A saw B's Init: Down -> Up.
    let b: Vec<State> = l
        .changes
        .iter()
        .filter(|c| c.side == Side::B)
        .map(|c| c.to)
        .collect();
    let a: Vec<State> = l
        .changes
        .iter()
        .filter(|c| c.side == Side::A)
        .map(|c| c.to)
        .collect();
    assert_eq!(b, vec![State::Init, State::Up]);
    assert_eq!(a, vec![State::Up]);
    assert_eq!(l.a.remote_discriminator(), 0x0b);
    assert_eq!(l.b.remote_discriminator(), 0x0a);
    assert!(l.changes.iter().all(|c| c.diag == Diag::None));
    // Up well within one slow-start interval of the first packets.
    let up_at = l.changes.iter().map(|c| c.at).max().expect("changes");
    assert!(up_at - l.t0 <= MS * 1000, "up after {:?}", up_at - l.t0);
}

#[test]
fn slow_start_holds_one_second_until_up() {
    // B never answers, so A stays Down and must pace itself at >= 750 ms
    // (1 s minus at most 25% jitter) although 10 ms is configured.
    let mut l = Link::new(timing(10, 10, 3), timing(10, 10, 3));
    l.b_to_a = false;
    l.a_to_b = false;
    l.run_for(MS * 10_000);
    let sent = l.sent_by(Side::A, l.t0);
    assert!(
        sent.len() >= 10 && sent.len() <= 14,
        "{} packets",
        sent.len()
    );
    for w in sent.windows(2) {
        let gap = w[1].0 - w[0].0;
        assert!(gap >= MS * 750 && gap <= MS * 1000, "gap {gap:?}");
        assert_eq!(w[1].1.desired_min_tx_us, 1_000_000, "advertises slow start");
        assert_eq!(w[1].1.state, State::Down);
    }
}

#[test]
fn negotiates_intervals_and_detection_time() {
    let mut l = Link::new(timing(10, 10, 3), timing(50, 20, 5));
    l.run_for(MS * 3000);
    assert!(l.both_up());
    assert!(
        !l.a.poll_in_progress() && !l.b.poll_in_progress(),
        "polls finished"
    );
    // §6.8.7: tx = max(own DesiredMinTx, peer RequiredMinRx).
    assert_eq!(l.a.tx_interval(), MS * 20);
    assert_eq!(l.b.tx_interval(), MS * 50);
    // §6.8.4: peer DetectMult × max(own RequiredMinRx, peer DesiredMinTx).
    assert_eq!(l.a.detection_time(), Some(MS * 250));
    assert_eq!(l.b.detection_time(), Some(MS * 60));
    // Actual spacing of A's periodic packets once settled: 75-100% of 20 ms.
    let from = l.now;
    l.run_for(MS * 2000);
    let sent = l.sent_by(Side::A, from);
    for w in sent.windows(2) {
        let gap = w[1].0 - w[0].0;
        assert!(gap >= MS * 15 && gap <= MS * 20, "gap {gap:?}");
    }
    assert!(sent.len() >= 100, "{} packets in 2 s", sent.len());
}

#[test]
fn jitter_bounds_depend_on_detect_mult() {
    for (mult, lo, hi) in [(3u8, 75u32, 100u32), (1, 75, 90)] {
        let mut l = Link::new(timing(100, 100, mult), timing(100, 100, 3));
        l.run_for(MS * 3000);
        assert!(l.both_up());
        let from = l.now;
        l.run_for(MS * 20_000);
        let gaps: Vec<Duration> = l
            .sent_by(Side::A, from)
            .windows(2)
            .map(|w| w[1].0 - w[0].0)
            .collect();
        let min = *gaps.iter().min().expect("gaps");
        let max = *gaps.iter().max().expect("gaps");
        assert!(min >= MS * lo, "mult {mult}: min {min:?}");
        assert!(max <= MS * hi, "mult {mult}: max {max:?}");
        // Real spread, not a constant.
        assert!(max - min >= MS * 10, "mult {mult}: spread {:?}", max - min);
    }
}

#[test]
fn poll_sequence_defers_slower_tx_until_final() {
    let mut l = Link::new(timing(10, 10, 3), timing(10, 10, 3));
    l.run_for(MS * 3000);
    assert!(l.both_up());
    assert_eq!(l.a.tx_interval(), MS * 10);

    // Stop B's answers, then slow A down: the Poll goes out, no Final comes
    // back, so A keeps transmitting at the old rate (§6.8.3).
    l.b_to_a = false;
    l.input(Side::A, Input::SetTiming(timing(100, 10, 3)));
    assert!(l.a.poll_in_progress());
    assert_eq!(l.a.tx_interval(), MS * 10, "slower rate waits for Final");
    // Shorter than A's 30 ms detection time, so the session survives.
    let from = l.now;
    l.run_for(MS * 12);
    let polled = l.sent_by(Side::A, from);
    assert!(!polled.is_empty());
    assert!(polled
        .iter()
        .all(|(_, p)| p.poll && !p.final_ && p.desired_min_tx_us == 100_000));
    // B answered each Poll with a Final (lost on the way back).
    let finals = l
        .sent_by(Side::B, from)
        .iter()
        .filter(|(_, p)| p.final_)
        .count();
    assert!(finals >= 1);
    assert!(l.sent_by(Side::B, from).iter().all(|(_, p)| !p.poll));

    // Restore the return path: the next Final completes the sequence.
    l.b_to_a = true;
    l.run_for(MS * 30);
    assert!(!l.a.poll_in_progress());
    assert_eq!(l.a.tx_interval(), MS * 100);
    assert_eq!(
        l.b.detection_time(),
        Some(MS * 300),
        "B follows A's new DesiredMinTx"
    );
    assert!(
        l.a.counters().poll_sequences_completed >= 2,
        "Up poll + this one"
    );
    assert!(l.both_up(), "no flap during the change");
}

#[test]
fn poll_sequence_faster_rx_keeps_old_detection_time_until_final() {
    let mut l = Link::new(timing(10, 100, 3), timing(10, 100, 3));
    l.run_for(MS * 3000);
    assert!(l.both_up());
    assert_eq!(l.a.detection_time(), Some(MS * 300));
    l.b_to_a = false;
    l.input(Side::A, Input::SetTiming(timing(10, 10, 3)));
    // A shorter detection time is unsafe until the peer has seen the Poll.
    assert_eq!(l.a.detection_time(), Some(MS * 300));
    l.b_to_a = true;
    // A's next Poll goes out within B's RequiredMinRx of 100 ms.
    l.run_for(MS * 110);
    assert!(!l.a.poll_in_progress());
    assert_eq!(l.a.detection_time(), Some(MS * 30));
    // B now transmits faster, honouring A's smaller RequiredMinRx.
    assert_eq!(l.b.tx_interval(), MS * 10);
}

#[test]
fn detection_expiry_takes_both_sides_down_with_diagnostics() {
    let mut l = Link::new(timing(10, 10, 3), timing(10, 10, 3));
    l.run_for(MS * 3000);
    assert!(l.both_up());
    l.changes.clear();
    let cut = l.now;
    l.a_to_b = false;
    l.run_for(MS * 200);
    let b_down = l.first_change(Side::B).expect("B went down");
    assert_eq!(b_down.to, State::Down);
    assert_eq!(b_down.diag, Diag::ControlDetectionTimeExpired);
    let elapsed = b_down.at - cut;
    // Last packet arrived at most one interval before the cut, so B notices
    // between (30 - 10) and 30 ms after it.
    assert!(
        elapsed >= MS * 20 && elapsed <= MS * 30,
        "detected after {elapsed:?}"
    );
    assert_eq!(l.b.counters().detection_expiries, 1);
    assert_eq!(l.b.last_detection_time(), Some(MS * 30));
    assert_eq!(l.b.local_diag(), Diag::ControlDetectionTimeExpired);

    // A hears B's Down and follows with diag 3.
    let a_down = l.first_change(Side::A).expect("A went down");
    assert_eq!(a_down.to, State::Down);
    assert_eq!(a_down.diag, Diag::NeighborSignaledSessionDown);
    // B's packets carry the diagnostic to A.
    let last_b = l.sent_by(Side::B, b_down.at);
    assert!(last_b
        .iter()
        .all(|(_, p)| p.diag == Diag::ControlDetectionTimeExpired));

    // Healing the link brings both back.
    l.a_to_b = true;
    l.run_for(MS * 4000);
    assert!(l.both_up());
}

#[test]
fn silent_peer_is_forgotten_after_detection_time() {
    let mut l = Link::new(timing(10, 10, 3), timing(10, 10, 3));
    l.run_for(MS * 3000);
    l.a_to_b = false;
    l.b_to_a = false;
    l.run_for(MS * 500);
    assert_eq!(l.a.state(), State::Down);
    assert_eq!(l.b.state(), State::Down);
    assert_eq!(l.a.remote_discriminator(), 0, "§6.8.1 RemoteDiscr zeroed");
    let from = l.now;
    l.run_for(MS * 2000);
    assert!(l
        .sent_by(Side::A, from)
        .iter()
        .all(|(_, p)| p.your_discriminator == 0));
}

#[test]
fn admin_down_signals_peer_and_recovers() {
    let mut l = Link::new(timing(10, 10, 3), timing(10, 10, 3));
    l.run_for(MS * 3000);
    assert!(l.both_up());
    l.changes.clear();
    l.input(Side::A, Input::AdminDown);
    assert_eq!(l.a.state(), State::AdminDown);
    assert_eq!(l.a.local_diag(), Diag::AdministrativelyDown);
    let b = l.first_change(Side::B).expect("B reacted at once");
    assert_eq!(
        (b.to, b.diag),
        (State::Down, Diag::NeighborSignaledSessionDown)
    );

    // AdminDown stays put whatever the peer says, and never expires.
    l.run_for(MS * 5000);
    assert_eq!(l.a.state(), State::AdminDown);
    assert_eq!(
        l.b.state(),
        State::Down,
        "B must not come up against AdminDown"
    );
    let sent = l.sent_by(Side::A, l.now - MS * 2000);
    assert!(!sent.is_empty(), "AdminDown keeps transmitting");
    assert!(sent
        .iter()
        .all(|(_, p)| p.state == State::AdminDown && p.diag == Diag::AdministrativelyDown));

    l.changes.clear();
    l.input(Side::A, Input::AdminUp);
    let a: Vec<State> = l
        .changes
        .iter()
        .filter(|c| c.side == Side::A)
        .map(|c| c.to)
        .collect();
    assert_eq!(a.first(), Some(&State::Down), "AdminUp leads to Down first");
    l.run_for(MS * 3000);
    assert!(l.both_up());
}

#[test]
fn authentication_mismatches_are_dropped_and_counted() {
    let sha = |key: &[u8]| AuthConfig::new(AuthKind::MeticulousKeyedSha1, 1, key).ok();
    // Auth on one side only: neither accepts the other.
    let mut l = Link::with_auth(timing(10, 10, 3), sha(b"k"), timing(10, 10, 3), None);
    l.run_for(MS * 3000);
    assert_eq!(l.a.state(), State::Down);
    assert_eq!(l.b.state(), State::Down);
    assert!(l.a.counters().dropped[&DropReason::MissingAuth] >= 2);
    assert!(l.b.counters().dropped[&DropReason::UnexpectedAuth] >= 2);
    assert_eq!(l.a.counters().rx_packets, 0);

    // Different keys.
    let mut l = Link::with_auth(timing(10, 10, 3), sha(b"k1"), timing(10, 10, 3), sha(b"k2"));
    l.run_for(MS * 3000);
    assert_eq!(l.a.state(), State::Down);
    assert!(l.a.counters().dropped[&DropReason::AuthFailed] >= 2);

    // Same key: Up, and every packet on the wire is signed.
    let mut l = Link::with_auth(timing(10, 10, 3), sha(b"k"), timing(10, 10, 3), sha(b"k"));
    l.run_for(MS * 3000);
    assert!(l.both_up());
    assert!(l.wire.iter().all(|(_, _, p)| p.auth.is_some()));
    assert_eq!(l.a.counters().dropped_total(), 0);

    // A replayed packet is refused by meticulous SHA1 and does not reset the
    // detection timer.
    let (_, _, replay) = l
        .wire
        .iter()
        .rev()
        .find(|(s, _, _)| *s == Side::B)
        .expect("B sent")
        .clone();
    l.input(Side::A, Input::Packet(replay));
    assert_eq!(l.a.counters().dropped[&DropReason::AuthSequence], 1);
    assert!(l.both_up());
}

#[test]
fn misdirected_packet_is_dropped_without_effect() {
    let mut l = Link::new(timing(10, 10, 3), timing(10, 10, 3));
    l.run_for(MS * 3000);
    let mut p = l
        .wire
        .iter()
        .rev()
        .find(|(s, _, _)| *s == Side::B)
        .expect("sent")
        .2
        .clone();
    p.your_discriminator = 0x77;
    p.state = State::Down;
    let now = l.now;
    let out = l.a.process(now, Input::Packet(p));
    assert!(out.is_empty());
    assert_eq!(l.a.state(), State::Up);
    assert_eq!(
        l.a.counters().dropped[&DropReason::UnknownYourDiscriminator],
        1
    );
}

#[test]
fn the_c_bit_goes_out_only_when_the_session_is_control_plane_independent() {
    let mut l = Link::new(timing(10, 10, 3), timing(10, 10, 3));
    l.a = Session::new(
        l.t0,
        0x0a,
        timing(10, 10, 3),
        None,
        Box::new(XorShift32::new(1)),
    )
    .with_control_plane_independent(true);
    l.run_for(MS * 3000);
    assert!(l.both_up(), "a={} b={}", l.a.state(), l.b.state());
    let from_a = l.sent_by(Side::A, l.t0);
    let from_b = l.sent_by(Side::B, l.t0);
    assert!(!from_a.is_empty() && !from_b.is_empty());
    // RFC 5880 §4.1: C on every packet of the independent side, in every
    // state, and never on the other side's.
    assert!(from_a.iter().all(|(_, p)| p.control_plane_independent));
    assert!(from_b.iter().all(|(_, p)| !p.control_plane_independent));
    // The bit reaches the wire: byte 1 of the header, 0x08.
    let bytes = from_a[0].1.encode();
    assert_eq!(bytes[1] & 0x08, 0x08, "{bytes:02x?}");
}

#[test]
fn peer_requesting_zero_rx_gets_no_periodic_packets() {
    let mut l = Link::new(timing(10, 10, 3), timing(10, 0, 3));
    l.run_for(MS * 3000);
    // B's RequiredMinRx of 0 (§6.8.7) stops A's periodic transmission once
    // A has heard it; B itself keeps sending.
    let from = l.now;
    l.run_for(MS * 3000);
    assert!(l.sent_by(Side::A, from).is_empty());
    assert!(!l.sent_by(Side::B, from).is_empty());
}

/// The key both sides of [`sha1_link_up`] use.
fn sha1() -> Option<AuthConfig> {
    AuthConfig::new(AuthKind::MeticulousKeyedSha1, 1, b"k").ok()
}

/// Both sides Up with meticulous keyed SHA1 under the same key, changes
/// so far forgotten.
fn sha1_link_up() -> Link {
    let mut l = Link::with_auth(timing(10, 10, 3), sha1(), timing(10, 10, 3), sha1());
    l.run_for(MS * 3000);
    assert!(l.both_up());
    l.changes.clear();
    l
}

#[test]
fn auth_sequence_window_resets_after_twice_the_detection_time() {
    let mut l = sha1_link_up();
    let (_, _, last) = l
        .wire
        .iter()
        .rev()
        .find(|(s, _, _)| *s == Side::B)
        .expect("sent")
        .clone();
    let seq = last.auth.as_ref().expect("auth").sequence;
    let key = AuthConfig::new(AuthKind::MeticulousKeyedSha1, 1, b"k").expect("key");
    let forged = |jump: u32| {
        let mut p = last.clone();
        p.state = State::Down;
        p.your_discriminator = 0x0a;
        let bytes = key.sign(&mut p, seq.wrapping_add(jump));
        ControlPacket::decode(&bytes).expect("valid")
    };
    l.a_to_b = false;
    l.b_to_a = false;
    // 40 ms after the cut: A is Down (30 ms) but still within 2 × 30 ms of
    // the last valid packet, so a far-ahead sequence number is refused.
    l.run_for(MS * 40);
    assert_eq!(l.a.state(), State::Down);
    let rx = l.a.counters().rx_packets;
    l.input(Side::A, Input::Packet(forged(1000)));
    assert_eq!(l.a.counters().dropped[&DropReason::AuthSequence], 1);
    assert_eq!(l.a.counters().rx_packets, rx);
    // After twice the detection time the window is forgotten (§6.7.3).
    l.run_for(MS * 100);
    l.input(Side::A, Input::Packet(forged(2000)));
    assert_eq!(l.a.counters().rx_packets, rx + 1);
    assert_eq!(l.a.counters().dropped[&DropReason::AuthSequence], 1);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Step {
        Wait(u16),
        Bytes(Vec<u8>),
        Packet {
            state: u8,
            poll: bool,
            final_: bool,
            mult: u8,
            tx: u32,
            rx: u32,
            yours: bool,
        },
        Admin(bool),
        Timing(u16, u16, u8),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u16..2000).prop_map(Step::Wait),
            proptest::collection::vec(any::<u8>(), 0..60).prop_map(Step::Bytes),
            (
                0u8..4,
                any::<bool>(),
                any::<bool>(),
                1u8..=255,
                any::<u32>(),
                any::<u32>(),
                any::<bool>()
            )
                .prop_map(|(state, poll, final_, mult, tx, rx, yours)| Step::Packet {
                    state,
                    poll,
                    final_: final_ && !poll,
                    mult,
                    tx,
                    rx,
                    yours
                }),
            any::<bool>().prop_map(Step::Admin),
            (1u16..2000, 0u16..2000, 1u8..=10).prop_map(|(a, b, c)| Step::Timing(a, b, c)),
        ]
    }

    proptest! {
        /// Whatever arrives, in whatever order, the session never panics,
        /// always has a future deadline while it transmits, and only emits
        /// packets that decode and respect §6.5 (no P and F together).
        #[test]
        fn session_survives_anything(steps in proptest::collection::vec(step(), 1..80)) {
            let t0 = Instant::now();
            let mut now = t0;
            let mut s = Session::new(now, 7, timing(10, 10, 3), None, Box::new(XorShift32::new(9)));
            for st in steps {
                let out = match st {
                    Step::Wait(ms) => {
                        now += MS * u32::from(ms);
                        let mut out = Vec::new();
                        while let Some(d) = s.next_deadline() {
                            if d > now { break; }
                            out.extend(s.process(now, Input::Timer));
                        }
                        out
                    }
                    Step::Bytes(b) => match ControlPacket::decode(&b) {
                        Ok(p) => s.process(now, Input::Packet(p)),
                        Err(_) => Vec::new(),
                    },
                    Step::Packet { state, poll, final_, mult, tx, rx, yours } => {
                        let p = ControlPacket {
                            diag: Diag::None,
                            state: State::from_bits(state),
                            poll,
                            final_,
                            control_plane_independent: false,
                            demand: false,
                            multipoint: false,
                            detect_mult: mult,
                            my_discriminator: 99,
                            your_discriminator: if yours { 7 } else { 0 },
                            desired_min_tx_us: tx,
                            required_min_rx_us: rx,
                            required_min_echo_rx_us: 0,
                            auth: None,
                        };
                        s.process(now, Input::Packet(p))
                    }
                    Step::Admin(down) => s.process(now, if down { Input::AdminDown } else { Input::AdminUp }),
                    Step::Timing(tx, rx, m) => s.process(now, Input::SetTiming(timing(u64::from(tx), u64::from(rx), m))),
                };
                for o in out {
                    if let Output::Send(bytes) = o {
                        let p = ControlPacket::decode(&bytes).expect("own packets decode");
                        prop_assert!(!(p.poll && p.final_));
                        prop_assert_eq!(p.my_discriminator, 7);
                        if p.state != State::Up {
                            prop_assert!(p.desired_min_tx_us >= 1_000_000, "slow start");
                        }
                    }
                }
                if let Some(d) = s.next_deadline() {
                    prop_assert!(d >= t0);
                }
            }
        }
    }
}

mod spoofed;

/// Two ends Up at 10 ms x 3, past slow start, no change recorded yet.
fn up_at_10ms() -> Link {
    let mut l = Link::new(timing(10, 10, 3), timing(10, 10, 3));
    l.run_for(MS * 3000);
    assert!(l.both_up());
    l.changes.clear();
    l
}

#[test]
fn a_stall_of_the_whole_host_is_not_silence_of_the_peer() {
    for tell in [false, true] {
        let mut l = up_at_10ms();
        l.stall_both(MS * 100, tell);
        l.run_for(MS * 100);
        if tell {
            assert!(l.changes.is_empty(), "{:?}", l.changes);
            assert!(l.both_up());
            assert_eq!(l.a.counters().stall_holds, 1);
            assert_eq!(l.b.counters().stall_holds, 1);
            assert_eq!(l.b.counters().detection_expiries, 0);
        } else {
            // What the loop did before it said how late it woke.
            assert!(
                l.changes
                    .iter()
                    .any(|c| c.diag == Diag::ControlDetectionTimeExpired),
                "{:?}",
                l.changes
            );
        }
    }
}

#[test]
fn a_peer_gone_during_a_stall_is_declared_down_one_packet_interval_after_it() {
    let mut l = up_at_10ms();
    l.a_to_b = false;
    l.stall_both(MS * 100, true);
    let resumed = l.now;
    l.run_for(MS * 100);
    let b_down = l.first_change(Side::B).expect("B went down");
    assert_eq!(b_down.diag, Diag::ControlDetectionTimeExpired);
    assert_eq!(
        b_down.at - resumed,
        MS * 10,
        "one packet interval after the stall"
    );
}

#[test]
fn a_loop_late_by_less_than_half_a_packet_interval_holds_nothing() {
    let mut l = up_at_10ms();
    l.a_to_b = false;
    // B's detection time runs out; its loop wakes 4 ms late for it.
    let deadline = l.b.detection_deadline().expect("running");
    l.now = deadline + MS * 4;
    l.input(Side::B, Input::Stalled { late: MS * 4 });
    assert_eq!(l.b.detection_deadline(), Some(deadline));
    l.input(Side::B, Input::Timer);
    assert_eq!(l.b.state(), State::Down);
    assert_eq!(l.b.counters().stall_holds, 0);
}
