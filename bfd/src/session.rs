//! The sans-IO BFD session (RFC 5880 §6): asynchronous mode, no Demand mode,
//! no Echo function.
//!
//! `process(now, Input) -> Vec<Output>` is the only way in; the session never
//! reads a clock or touches a socket. After every call the driver asks
//! [`Session::next_deadline`] and feeds [`Input::Timer`] when it passes.

use std::time::{Duration, Instant};

use crate::auth::{AuthConfig, SequenceWindow};
use crate::packet::{ControlPacket, Diag, DropReason, State};

/// §6.8.3: while not Up, DesiredMinTxInterval is at least one second.
pub const SLOW_START_TX: Duration = Duration::from_secs(1);

/// Timing parameters of one session (§6.8.1 bfd.DesiredMinTxInterval,
/// bfd.RequiredMinRxInterval, bfd.DetectMult).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Timing {
    pub desired_min_tx: Duration,
    pub required_min_rx: Duration,
    pub detect_mult: u8,
}

impl Timing {
    pub fn new(desired_min_tx: Duration, required_min_rx: Duration, detect_mult: u8) -> Self {
        Timing {
            desired_min_tx,
            required_min_rx,
            detect_mult,
        }
    }
}

/// Source of transmit jitter (§6.8.7). Injected so tests are deterministic.
pub trait Jitter: Send + std::fmt::Debug {
    fn next_u32(&mut self) -> u32;
}

/// A small xorshift generator; jitter needs spread, not secrecy.
#[derive(Debug, Clone)]
pub struct XorShift32(u32);

impl XorShift32 {
    pub fn new(seed: u32) -> Self {
        XorShift32(if seed == 0 { 0x9e37_79b9 } else { seed })
    }
}

impl Jitter for XorShift32 {
    fn next_u32(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
}

/// Everything that can happen to a session.
#[derive(Debug, Clone)]
pub enum Input {
    /// A decoded packet already matched to this session by the driver.
    Packet(ControlPacket),
    /// A deadline returned by [`Session::next_deadline`] has passed.
    Timer,
    /// §6.8.16: administratively disable the session.
    AdminDown,
    /// Leave AdminDown (to Down, the handshake starts again).
    AdminUp,
    /// Change timing on a live session; uses a Poll Sequence when Up (§6.8.3).
    SetTiming(Timing),
    /// The caller's loop woke `late` past a due deadline: it was not
    /// running, and may not have been able to receive, for that long. A
    /// detection time that ran out meanwhile is judged one packet interval
    /// from now instead (see [`Session::hold_over_own_stall`]).
    Stalled { late: Duration },
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Transmit these bytes to the peer.
    Send(Vec<u8>),
    /// The session changed state; `diag` is bfd.LocalDiag after the change.
    StateChange { from: State, to: State, diag: Diag },
}

/// Per-session counters, read by the driver for status and metrics.
/// Fields missing on the wire read as zero, so an orbitd can adopt a
/// BFD helper of an earlier version that did not count them yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Counters {
    pub tx_packets: u64,
    pub rx_packets: u64,
    pub dropped: std::collections::BTreeMap<DropReason, u64>,
    pub state_changes: u64,
    pub detection_expiries: u64,
    pub poll_sequences_completed: u64,
    /// Packets an Up session dropped as `zero_your_discriminator_when_up`
    /// that passed authentication and were remembered as a sign that the
    /// peer restarted its session (see `session/restart.rs`).
    pub restart_candidates: u64,
    /// Detection expiries taken as a peer restart (a recent candidate):
    /// Down as signalled by the peer, not as a path failure.
    pub peer_restarts: u64,
    /// Detection times that ran out while this end itself was stalled and
    /// were judged one packet interval later ([`Input::Stalled`]).
    pub stall_holds: u64,
}

impl Counters {
    pub fn dropped_total(&self) -> u64 {
        self.dropped.values().sum()
    }
}

/// An in-flight Poll Sequence and the values it will activate (§6.8.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PendingPoll {
    tx: Duration,
    rx: Duration,
}

/// One BFD session.
#[derive(Debug)]
pub struct Session {
    // §6.8.1 state variables.
    state: State,
    remote_state: State,
    local_discr: u32,
    remote_discr: u32,
    local_diag: Diag,
    configured: Timing,
    remote_min_rx: Duration,
    remote_desired_min_tx: Duration,
    remote_detect_mult: u8,
    auth: Option<AuthConfig>,
    rcv_seq: SequenceWindow,
    /// When the last packet was accepted; drives the reset of the
    /// sequence window (§6.7.3 bfd.AuthSeqKnown).
    last_valid_rx: Option<Instant>,
    xmit_seq: u32,

    /// Values in force for the transmit interval and the detection time;
    /// they lag the advertised ones during a Poll Sequence (§6.8.3).
    active_tx: Duration,
    active_rx: Duration,
    poll: Option<PendingPoll>,

    next_tx: Option<Instant>,
    last_tx: Option<Instant>,
    detect_deadline: Option<Instant>,
    jitter: Box<dyn Jitter>,
    counters: Counters,
    last_detection_time: Option<Duration>,
    /// Set when the transmit interval may have changed inside a call;
    /// `process` reschedules once at the end.
    interval_changed: bool,
    /// The C bit we send (RFC 5880 §4.1): this session does not share fate
    /// with the control plane that configured it.
    control_plane_independent: bool,
    /// While Up: the last packet that may come from a restarted peer.
    restart_candidate: Option<restart::RestartCandidate>,
}

impl Session {
    /// A new session in Down, transmitting at the slow-start rate from `now`.
    /// `local_discr` must be nonzero and unique on this system (§6.8.1).
    pub fn new(
        now: Instant,
        local_discr: u32,
        timing: Timing,
        auth: Option<AuthConfig>,
        jitter: Box<dyn Jitter>,
    ) -> Session {
        let mut s = Session {
            state: State::Down,
            remote_state: State::Down,
            local_discr,
            remote_discr: 0,
            local_diag: Diag::None,
            configured: timing,
            // §6.8.1: bfd.RemoteMinRxInterval starts at 1 µs.
            remote_min_rx: Duration::from_micros(1),
            remote_desired_min_tx: Duration::ZERO,
            remote_detect_mult: 0,
            auth,
            rcv_seq: SequenceWindow::default(),
            last_valid_rx: None,
            // §6.8.1: bfd.XmitAuthSeq starts at a random value.
            xmit_seq: 0,
            active_tx: SLOW_START_TX.max(timing.desired_min_tx),
            active_rx: timing.required_min_rx,
            poll: None,
            next_tx: Some(now),
            last_tx: None,
            detect_deadline: None,
            jitter,
            counters: Counters::default(),
            last_detection_time: None,
            interval_changed: false,
            control_plane_independent: false,
            restart_candidate: None,
        };
        s.xmit_seq = s.jitter.next_u32();
        s
    }

    /// Sets the C bit on every packet (RFC 5880 §4.1 "Control Plane
    /// Independent"): only for a session that keeps running while the
    /// control plane that owns it restarts, so that a peer may read our
    /// Down as a forwarding failure even during a graceful restart
    /// (RFC 5882 §4.3.2).
    pub fn with_control_plane_independent(mut self, independent: bool) -> Session {
        self.control_plane_independent = independent;
        self
    }

    pub fn control_plane_independent(&self) -> bool {
        self.control_plane_independent
    }

    pub fn state(&self) -> State {
        self.state
    }
    pub fn remote_state(&self) -> State {
        self.remote_state
    }
    pub fn local_diag(&self) -> Diag {
        self.local_diag
    }
    pub fn local_discriminator(&self) -> u32 {
        self.local_discr
    }
    pub fn remote_discriminator(&self) -> u32 {
        self.remote_discr
    }
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    pub fn configured_timing(&self) -> Timing {
        self.configured
    }
    pub fn poll_in_progress(&self) -> bool {
        self.poll.is_some()
    }
    /// The detection time that last expired, if any.
    pub fn last_detection_time(&self) -> Option<Duration> {
        self.last_detection_time
    }

    /// The negotiated periodic transmit interval before jitter (§6.8.7):
    /// the larger of our DesiredMinTx and the peer's RequiredMinRx.
    pub fn tx_interval(&self) -> Duration {
        self.active_tx.max(self.remote_min_rx)
    }

    /// The detection time (§6.8.4, asynchronous mode): the peer's
    /// DetectMult times [`Self::packet_interval`]. `None` before anything
    /// was heard.
    pub fn detection_time(&self) -> Option<Duration> {
        if self.remote_detect_mult == 0 {
            return None;
        }
        Some(self.packet_interval() * u32::from(self.remote_detect_mult))
    }

    /// How often the peer's packets are due: the larger of our
    /// RequiredMinRx and the peer's last DesiredMinTx.
    fn packet_interval(&self) -> Duration {
        self.active_rx.max(self.remote_desired_min_tx)
    }

    /// How long ago, at `now`, the last valid packet arrived (zero if none
    /// ever did).
    pub fn silent_for(&self, now: Instant) -> Duration {
        self.last_valid_rx
            .map_or(Duration::ZERO, |last| now.saturating_duration_since(last))
    }

    /// When the detection time runs out, if it is running.
    pub fn detection_deadline(&self) -> Option<Instant> {
        self.detect_deadline
    }

    /// The earliest instant at which [`Input::Timer`] must be delivered.
    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.next_tx, self.detect_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn process(&mut self, now: Instant, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Packet(p) => self.on_packet(now, p, &mut out),
            Input::Timer => self.on_timer(now, &mut out),
            Input::AdminDown => self.on_admin_down(now, &mut out),
            Input::AdminUp => {
                if self.state == State::AdminDown {
                    self.set_state(State::Down, self.local_diag, &mut out);
                    self.last_tx = None;
                }
            }
            Input::SetTiming(t) => self.on_set_timing(now, t, &mut out),
            Input::Stalled { late } => self.hold_over_own_stall(now, late),
        }
        if std::mem::take(&mut self.interval_changed) {
            // A state change is announced at once rather than after a
            // slow-start second, so the peer learns of Down/Up within its
            // detection time; the periodic schedule then restarts from here.
            if !self.remote_min_rx.is_zero() && !out.iter().any(|o| matches!(o, Output::Send(_))) {
                self.transmit(false, &mut out);
                self.last_tx = Some(now);
            }
            self.reschedule_tx(now);
        }
        out
    }

    /// The DesiredMinTx we advertise: slow start applies until Up (§6.8.3).
    fn advertised_tx(&self) -> Duration {
        if self.state == State::Up {
            self.configured.desired_min_tx
        } else {
            self.configured.desired_min_tx.max(SLOW_START_TX)
        }
    }

    fn on_packet(&mut self, now: Instant, p: ControlPacket, out: &mut Vec<Output>) {
        // §6.7.3: bfd.AuthSeqKnown is cleared once nothing valid arrived for
        // at least twice the Detection Time, so a restarted peer with a new
        // sequence number can come back.
        if let (Some(last), Some(d)) = (self.last_valid_rx, self.detection_time()) {
            if now.saturating_duration_since(last) >= d * 2 {
                self.rcv_seq.forget();
            }
        }
        // The demultiplexing checks of §6.8.6 come first, as in the RFC.
        if let Err(reason) = self.check_your_discriminator(&p) {
            self.drop_packet(reason);
            if reason == DropReason::ZeroYourDiscriminatorWhenUp {
                self.note_restart_candidate(now, p);
            }
            return;
        }
        // §6.8.6: authentication must match the configuration both ways.
        let verdict = match (&self.auth, &p.auth) {
            (None, Some(_)) => Err(DropReason::UnexpectedAuth),
            (Some(_), None) => Err(DropReason::MissingAuth),
            (None, None) => Ok(()),
            (Some(cfg), Some(section)) => cfg.verify(&p).and_then(|()| {
                self.rcv_seq
                    .accept(section.kind, section.sequence, p.detect_mult)
            }),
        };
        if let Err(reason) = verdict {
            self.drop_packet(reason);
            return;
        }
        self.counters.rx_packets += 1;
        self.last_valid_rx = Some(now);

        self.remote_discr = p.my_discriminator;
        self.remote_state = p.state;
        self.remote_detect_mult = p.detect_mult;
        self.remote_desired_min_tx = Duration::from_micros(u64::from(p.desired_min_tx_us));
        let old_remote_min_rx = self.remote_min_rx;
        self.remote_min_rx = Duration::from_micros(u64::from(p.required_min_rx_us));

        // §6.8.6: Final terminates our Poll Sequence; the new values take
        // effect now (§6.8.3).
        if p.final_ {
            if let Some(pending) = self.poll.take() {
                self.active_tx = pending.tx;
                self.active_rx = pending.rx;
                self.counters.poll_sequences_completed += 1;
            }
        }

        // §6.8.7: "If bfd.RemoteMinRxInterval is changed ... a packet with
        // the new interval may be sent immediately": reschedule so a slower
        // peer is honoured at once and a faster one takes effect promptly.
        if self.remote_min_rx != old_remote_min_rx || p.final_ {
            self.reschedule_tx(now);
        }

        if self.state == State::AdminDown {
            return;
        }

        // Received packets reset the detection timer (§6.8.4). Done before
        // state changes so that a detection time exists once Up.
        self.detect_deadline = self.detection_time().map(|d| now + d);

        // §6.8.6 state table.
        if p.state == State::AdminDown {
            if self.state != State::Down {
                self.set_state(State::Down, Diag::NeighborSignaledSessionDown, out);
            }
        } else {
            match (self.state, p.state) {
                (State::Down, State::Down) => self.set_state(State::Init, Diag::None, out),
                (State::Down, State::Init) => self.set_state(State::Up, Diag::None, out),
                (State::Init, State::Init | State::Up) => {
                    self.set_state(State::Up, Diag::None, out)
                }
                (State::Up, State::Down) => {
                    self.set_state(State::Down, Diag::NeighborSignaledSessionDown, out)
                }
                _ => {}
            }
        }

        // §6.8.6: a Poll must be answered with Final "without respect to
        // the transmission timer".
        if p.poll {
            self.transmit(true, out);
        }
    }

    /// Whether the packet may belong to this session at all (§6.3, §6.8.6).
    fn check_your_discriminator(&self, p: &ControlPacket) -> Result<(), DropReason> {
        // The driver selected the session by Your Discriminator when it is
        // nonzero; a mismatch here means a routing bug upstream, which must
        // not corrupt the session.
        if p.your_discriminator != 0 && p.your_discriminator != self.local_discr {
            return Err(DropReason::UnknownYourDiscriminator);
        }
        // A zero one was selected by address alone, which §6.8.6 allows
        // for Down and AdminDown (decode enforced that): the handshake
        // starts so, and so does a peer whose detection time expired and
        // that forgot our discriminator (§6.8.1) tell us about a one-way
        // failure. Once Up, though, the peer has echoed our discriminator
        // and we know its own (§6.3): selecting by address alone would let
        // anyone who can write the peer's address on a packet take the
        // session down or rewrite its timers (RequiredMinRx 0 silences us,
        // §6.8.7). §6.8.6 leaves the selection to us, "possibly including
        // ... the My Discriminator field": an Up session takes a zero Your
        // Discriminator only with the peer's My Discriminator. A peer that
        // restarted with a new one falls silent for this session; its Down
        // is kept as a restart candidate, which the detection time (§6.8.4)
        // then turns into a signalled Down (`session/restart.rs`).
        if p.your_discriminator == 0
            && self.state == State::Up
            && p.my_discriminator != self.remote_discr
        {
            return Err(DropReason::ZeroYourDiscriminatorWhenUp);
        }
        Ok(())
    }

    /// §6.8.4 declares the session down when no packet arrived within the
    /// Detection Time: silence of the peer. A window in which this end was
    /// not running is not evidence of it: if the whole host stopped (a
    /// virtual machine descheduled, a container throttled), nothing was
    /// received meanwhile and the peer's packets of that time are still on
    /// their way; a peer on the same stopped host did not send either. So
    /// when the caller woke late by at least half a packet interval, a
    /// detection time that ran out is judged one packet interval (the
    /// peer's transmit interval as we accept it) from now: time for the
    /// peer's next packet. A peer that is really gone is declared down that
    /// much later, only after a stall of this end.
    fn hold_over_own_stall(&mut self, now: Instant, late: Duration) {
        let Some(deadline) = self.detect_deadline else {
            return;
        };
        let packet_interval = self.packet_interval();
        if deadline <= now
            && late >= packet_interval / 2
            && matches!(self.state, State::Init | State::Up)
        {
            self.detect_deadline = Some(now + packet_interval);
            self.counters.stall_holds += 1;
        }
    }

    fn on_timer(&mut self, now: Instant, out: &mut Vec<Output>) {
        if let Some(deadline) = self.detect_deadline {
            if deadline <= now {
                self.detect_deadline = None;
                self.counters.detection_expiries += 1;
                let detection_time = self.detection_time();
                self.last_detection_time = detection_time;
                let restarted = self.state == State::Up
                    && self.take_over_restarted_peer(now, detection_time, out);
                if !restarted {
                    // §6.8.1: RemoteDiscr is zeroed when a Detection Time
                    // passes silently.
                    self.remote_discr = 0;
                    if matches!(self.state, State::Init | State::Up) {
                        self.set_state(State::Down, Diag::ControlDetectionTimeExpired, out);
                    }
                }
            }
        }
        if let Some(at) = self.next_tx {
            if at <= now {
                self.transmit(false, out);
                self.last_tx = Some(now);
                self.schedule_tx(now);
            }
        }
    }

    fn on_admin_down(&mut self, now: Instant, out: &mut Vec<Output>) {
        if self.state == State::AdminDown {
            return;
        }
        // §6.8.16: stop detection, tell the peer with diag 7, keep sending.
        self.detect_deadline = None;
        self.poll = None;
        self.set_state(State::AdminDown, Diag::AdministrativelyDown, out);
        self.transmit(false, out);
        self.last_tx = Some(now);
        self.schedule_tx(now);
        self.interval_changed = false;
    }

    fn on_set_timing(&mut self, now: Instant, t: Timing, out: &mut Vec<Output>) {
        let old = self.configured;
        self.configured = t;
        if self.state == State::Up
            && (old.desired_min_tx != t.desired_min_tx || old.required_min_rx != t.required_min_rx)
        {
            self.start_poll(t.desired_min_tx, t.required_min_rx);
            self.transmit(false, out);
            self.last_tx = Some(now);
            self.schedule_tx(now);
        } else if self.state != State::Up {
            self.active_tx = self.advertised_tx();
            self.active_rx = t.required_min_rx;
            self.interval_changed = true;
        }
    }

    /// §6.8.3: a faster transmit rate and a longer detection time are safe at
    /// once; a slower transmit rate and a shorter detection time wait for
    /// the Final.
    fn start_poll(&mut self, tx: Duration, rx: Duration) {
        if tx < self.active_tx {
            self.active_tx = tx;
        }
        if rx > self.active_rx {
            self.active_rx = rx;
        }
        self.poll = Some(PendingPoll { tx, rx });
    }

    /// The one place that changes state, logs it and counts it.
    fn set_state(&mut self, to: State, diag: Diag, out: &mut Vec<Output>) {
        let from = self.state;
        if from == to {
            return;
        }
        self.state = to;
        self.local_diag = diag;
        self.counters.state_changes += 1;
        // Only an Up session keeps restart candidates.
        self.restart_candidate = None;
        tracing::info!(
            local_discr = self.local_discr,
            remote_discr = self.remote_discr,
            %from, %to, %diag,
            "bfd session state change"
        );
        match to {
            State::Up => {
                // Leaving slow start changes DesiredMinTx: announce it with a
                // Poll Sequence (§6.8.3); the faster rate is safe at once.
                self.start_poll(
                    self.configured.desired_min_tx,
                    self.configured.required_min_rx,
                );
            }
            _ => {
                self.poll = None;
                self.active_tx = self.advertised_tx();
                self.active_rx = self.configured.required_min_rx;
            }
        }
        self.interval_changed = true;
        out.push(Output::StateChange { from, to, diag });
    }

    /// Count a drop decided outside the session (e.g. TTL, by the driver).
    pub fn count_drop(&mut self, reason: DropReason) {
        self.drop_packet(reason);
    }

    fn drop_packet(&mut self, reason: DropReason) {
        *self.counters.dropped.entry(reason).or_insert(0) += 1;
        tracing::debug!(local_discr = self.local_discr, %reason, "bfd packet dropped");
    }

    /// The transmit interval may have changed: move the pending periodic
    /// packet to one (jittered) new interval after the last one sent, but
    /// never into the past.
    fn reschedule_tx(&mut self, now: Instant) {
        match self.last_tx {
            Some(last) => {
                self.schedule_tx(last);
                if let Some(at) = self.next_tx {
                    self.next_tx = Some(at.max(now));
                }
            }
            None => self.next_tx = Some(now),
        }
    }

    fn schedule_tx(&mut self, now: Instant) {
        // §6.8.7: no periodic packets while the peer asks for none.
        if self.remote_min_rx.is_zero() {
            self.next_tx = None;
            return;
        }
        let interval = self.tx_interval();
        // §6.8.7: reduce by 0-25% at random, or by 10-25% with DetectMult 1.
        let span = if self.configured.detect_mult == 1 {
            16
        } else {
            26
        };
        let percent = 75 + self.jitter.next_u32() % span;
        self.next_tx = Some(now + interval * percent / 100);
    }

    fn transmit(&mut self, final_: bool, out: &mut Vec<Output>) {
        let mut p = ControlPacket {
            diag: self.local_diag,
            state: self.state,
            // §6.5: never P and F together; a Final answer carries no Poll.
            poll: self.poll.is_some() && !final_,
            final_,
            control_plane_independent: self.control_plane_independent,
            demand: false,
            multipoint: false,
            detect_mult: self.configured.detect_mult,
            my_discriminator: self.local_discr,
            your_discriminator: self.remote_discr,
            desired_min_tx_us: micros(self.advertised_tx()),
            required_min_rx_us: micros(self.configured.required_min_rx),
            required_min_echo_rx_us: 0,
            auth: None,
        };
        let bytes = match &self.auth {
            Some(cfg) => {
                // §6.7.3/§6.7.4: meticulous increments on every packet;
                // keyed may, and doing so costs nothing.
                self.xmit_seq = self.xmit_seq.wrapping_add(1);
                cfg.sign(&mut p, self.xmit_seq)
            }
            None => p.encode(),
        };
        self.counters.tx_packets += 1;
        out.push(Output::Send(bytes));
    }
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

mod restart;
#[cfg(test)]
mod tests;
