//! The tokio driver: sockets, one timer wheel and one event loop for all
//! sessions.
//!
//! ```text
//!  receive task per (local addr, port) ──┐  LoopInput::Packets
//!  BfdHandle (add/remove/admin/status) ──┼──────────────► event loop ──► BfdEvent channel
//!                                        │  LoopInput::Command     │  owns every Session,
//!                                        │                         │  the timer wheel (one
//!                                        │                         │  sleep for the earliest
//!                                        │                         │  deadline) and the
//!                                        │                         └─ transmit sockets (try_send_to)
//! ```
//!
//! No task per session or per packet: the loop sleeps until the earliest
//! session deadline, fires every due session, and goes back to sleep.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

mod dedicated;
pub mod helper;
mod stalls;

pub use dedicated::start_dedicated;
pub use stalls::{LoopStall, RECORDED_STALL};

use crate::auth::AuthConfig;
use crate::packet::{ControlPacket, Diag, DropReason, State};
use crate::realtime::Realtime;
use crate::session::{Counters, Input, Output, Session, Timing, XorShift32};
use crate::socket::{self, MULTI_HOP_PORT, SINGLE_HOP_PORT};
use crate::Error;

/// RFC 5881 (single hop, TTL 255 required) or RFC 5883 (multihop).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum Hop {
    Single,
    /// `min_ttl`: drop packets that arrive with a smaller TTL / hop limit
    /// (RFC 5883 §5 leaves the check to configuration); `None` disables it.
    Multi {
        min_ttl: Option<u8>,
    },
}

/// One configured session.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct PeerConfig {
    pub peer: IpAddr,
    pub local: IpAddr,
    pub hop: Hop,
    pub timing: Timing,
    pub auth: Option<AuthConfig>,
    /// Send the C bit (RFC 5880 §4.1): set only where the session outlives
    /// a restart of the control plane that configured it (an adoptable
    /// helper, [`helper::adopt_or_spawn`]).
    #[serde(default)]
    pub control_plane_independent: bool,
}

impl PeerConfig {
    /// The key of the session this config describes.
    pub fn key(&self) -> SessionKey {
        SessionKey {
            local: self.local,
            peer: self.peer,
            multihop: matches!(self.hop, Hop::Multi { .. }),
        }
    }
}

/// Identifies a session: (local address, peer address, single or multihop).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct SessionKey {
    pub local: IpAddr,
    pub peer: IpAddr,
    pub multihop: bool,
}

impl std::fmt::Display for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.multihop {
            "multihop"
        } else {
            "single-hop"
        };
        write!(f, "{} -> {} ({kind})", self.local, self.peer)
    }
}

/// Driver settings. The ports exist so tests on loopback can run side by
/// side; production uses the RFC ports.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    pub single_hop_port: u16,
    pub multi_hop_port: u16,
}

impl Default for DriverConfig {
    fn default() -> Self {
        DriverConfig {
            single_hop_port: SINGLE_HOP_PORT,
            multi_hop_port: MULTI_HOP_PORT,
        }
    }
}

/// What the driver reports to its user (orbitd).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BfdEvent {
    /// The session reached Up.
    Up { key: SessionKey },
    /// The session left Up for Down or AdminDown; `diag` says why (e.g.
    /// `ControlDetectionTimeExpired`, `NeighborSignaledSessionDown`), and
    /// `remote_state` is the peer's last reported state (AdminDown when the
    /// peer disabled or removed the session on purpose).
    Down {
        key: SessionKey,
        state: State,
        diag: Diag,
        remote_state: State,
        /// How long before the Down the last valid packet arrived (zero if
        /// none ever did). A client uses it to tell whether the silence
        /// predates something it knows the path carried since (a BGP
        /// session Established after it). Absent from an older helper: 0.
        #[serde(default)]
        silent_for: Duration,
    },
}

impl BfdEvent {
    pub fn key(&self) -> SessionKey {
        match self {
            BfdEvent::Up { key } | BfdEvent::Down { key, .. } => *key,
        }
    }

    /// Whether this Down means the forwarding path failed, so clients such
    /// as BGP should be torn down at once: our own detection time expired
    /// (RFC 5880 §6.8.4). Not when either side went AdminDown (RFC 5882
    /// §3.2), and not when the peer merely signalled Down: we heard it, so
    /// the path toward us forwards. A peer that replaces its session (bird2
    /// does when BGP reconnects) signals Down without a failure; a peer whose
    /// own detection expired acts on it itself.
    pub fn is_path_failure(&self) -> bool {
        match self {
            BfdEvent::Up { .. } => false,
            BfdEvent::Down {
                state,
                diag,
                remote_state,
                ..
            } => {
                *state == State::Down
                    && *diag == Diag::ControlDetectionTimeExpired
                    && *remote_state != State::AdminDown
            }
        }
    }
}

/// A snapshot of one session, for `orbitctl status` and `/metrics`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SessionStatus {
    pub key: SessionKey,
    pub state: State,
    pub remote_state: State,
    pub local_diag: Diag,
    pub local_discriminator: u32,
    pub remote_discriminator: u32,
    pub configured: Timing,
    /// Negotiated periodic transmit interval before jitter.
    pub tx_interval: Duration,
    /// Current detection time, once the peer has been heard.
    pub detection_time: Option<Duration>,
    pub counters: Counters,
    /// Packets dropped before a session could be selected are not here but in
    /// [`DriverStatus::unmatched_drops`].
    pub last_state_change: Option<SystemTime>,
    /// Wall-clock time of the last detection-time expiry and its length.
    pub last_detection: Option<(SystemTime, Duration)>,
    /// When the last valid packet from the peer was accepted (a monotonic
    /// instant: not carried across a process boundary).
    #[serde(skip)]
    pub last_rx: Option<Instant>,
    /// The longest time between two packets accepted while Up: how close
    /// the session came to its detection time (the loop's own delays
    /// included, since it is measured when a packet is processed).
    #[serde(default)]
    pub longest_rx_gap: Option<Duration>,
}

/// Driver-wide view.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct DriverStatus {
    pub sessions: Vec<SessionStatus>,
    /// Drops that matched no session (bad packet, unknown discriminator…).
    pub unmatched_drops: BTreeMap<DropReason, u64>,
    /// Transmissions that failed at the socket (e.g. ENETUNREACH while a
    /// link is down).
    pub send_errors: u64,
    /// Whether the packet loop runs at real-time priority with its memory
    /// locked ([`start_dedicated`]); both false for [`start`].
    #[serde(default)]
    pub realtime: Realtime,
    /// How late the loop woke for a due timer at worst: its own
    /// scheduling delay, apart from what delays packets on their way
    /// ([`SessionStatus::longest_rx_gap`]). Tokio's timer rounds up to
    /// the millisecond, so ~1 ms is the floor.
    #[serde(default)]
    pub longest_late_wake: Duration,
    /// How many times the loop woke [`RECORDED_STALL`] or more late: it
    /// sent nothing for that long, and a peer with a shorter detection time
    /// declared this end down, rightly.
    #[serde(default)]
    pub loop_stalls: u64,
    /// The latest of those stalls, oldest first (a bounded record).
    #[serde(default)]
    pub recent_stalls: Vec<LoopStall>,
}

enum Command {
    Add(PeerConfig, oneshot::Sender<Result<SessionKey, Error>>),
    Remove(SessionKey, oneshot::Sender<bool>),
    Admin(SessionKey, bool, oneshot::Sender<bool>),
    SetTiming(SessionKey, Timing, oneshot::Sender<bool>),
    Status(oneshot::Sender<DriverStatus>),
    /// Stop on purpose: the driver ends (a helper process exits at once
    /// instead of waiting to be adopted).
    Release(oneshot::Sender<()>),
    /// Helper processes only: where and how long to wait for a new owner
    /// if this one dies.
    Adoptable(helper::Adoptable, oneshot::Sender<Result<(), Error>>),
}

struct Received {
    /// The local socket it arrived on.
    local: SocketAddr,
    multihop: bool,
    src: SocketAddr,
    ttl: Option<u8>,
    bytes: Vec<u8>,
}

enum LoopInput {
    /// Every datagram that was queued on one socket at one wake-up.
    Packets(Vec<Received>),
    Command(Command),
}

/// Cheap, cloneable handle to the driver. The driver stops when the last
/// handle is dropped.
#[derive(Debug, Clone)]
pub struct BfdHandle {
    tx: mpsc::Sender<LoopInput>,
    _guard: Arc<AbortOnDrop>,
}

#[derive(Debug)]
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl std::fmt::Debug for LoopInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LoopInput::Packets(_) => "Packets",
            LoopInput::Command(_) => "Command",
        })
    }
}

/// Start the driver on the caller's tokio runtime. Returns the handle and
/// the event stream. [`start_dedicated`] runs it on a thread of its own.
pub fn start(cfg: DriverConfig) -> (BfdHandle, mpsc::UnboundedReceiver<BfdEvent>) {
    spawn_driver(cfg, Realtime::default(), None)
}

/// Spawns the driver's loop on the current runtime. `ended` is dropped
/// when the loop ends or is aborted.
fn spawn_driver(
    cfg: DriverConfig,
    realtime: Realtime,
    ended: Option<oneshot::Sender<()>>,
) -> (BfdHandle, mpsc::UnboundedReceiver<BfdEvent>) {
    let (tx, rx) = mpsc::channel(1024);
    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let seed = seed();
    let state = Driver {
        cfg,
        input_tx: tx.downgrade(),
        events: ev_tx,
        sessions: HashMap::new(),
        by_discr: HashMap::new(),
        wheel: BTreeSet::new(),
        receivers: HashMap::new(),
        transmitters: HashMap::new(),
        rng: XorShift32::new(seed),
        unmatched_drops: BTreeMap::new(),
        send_errors: 0,
        released: false,
        realtime,
        stalls: stalls::StallRecord::default(),
        _ended: ended,
    };
    let task = tokio::spawn(state.run(rx));
    (
        BfdHandle {
            tx,
            _guard: Arc::new(AbortOnDrop(task)),
        },
        ev_rx,
    )
}

fn seed() -> u32 {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(1);
    nanos ^ std::process::id().rotate_left(16)
}

impl BfdHandle {
    async fn call<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(LoopInput::Command(make(tx)))
            .await
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)
    }

    /// Add a session; opens the sockets for its local address if needed.
    pub async fn add_session(&self, peer: PeerConfig) -> Result<SessionKey, Error> {
        self.call(|tx| Command::Add(peer, tx)).await?
    }

    /// Remove a session; returns whether it existed.
    pub async fn remove_session(&self, key: SessionKey) -> Result<bool, Error> {
        self.call(|tx| Command::Remove(key, tx)).await
    }

    /// AdminDown (`down = true`, §6.8.16) or back.
    pub async fn set_admin_down(&self, key: SessionKey, down: bool) -> Result<bool, Error> {
        self.call(|tx| Command::Admin(key, down, tx)).await
    }

    /// Change timers on a live session (Poll Sequence when Up, §6.8.3).
    pub async fn set_timing(&self, key: SessionKey, timing: Timing) -> Result<bool, Error> {
        self.call(|tx| Command::SetTiming(key, timing, tx)).await
    }

    pub async fn status(&self) -> Result<DriverStatus, Error> {
        self.call(Command::Status).await
    }

    /// Ends the driver on purpose, after the caller has removed or
    /// disabled its sessions. A helper process is told goodbye and exits
    /// at once, where a helper whose owner merely vanished (a crash) waits
    /// to be adopted ([`helper::adopt_or_spawn`]). Every clone of the
    /// handle stops working.
    pub async fn release(&self) -> Result<(), Error> {
        self.call(Command::Release).await
    }
}

struct Entry {
    session: Session,
    hop: Hop,
    deadline: Option<Instant>,
    last_state_change: Option<SystemTime>,
    last_detection: Option<(SystemTime, Duration)>,
    last_rx: Option<Instant>,
    longest_rx_gap: Option<Duration>,
}

struct ReceiveSocket {
    sock: Arc<UdpSocket>,
    multihop: bool,
    _task: AbortOnDrop,
}

struct Driver {
    cfg: DriverConfig,
    input_tx: mpsc::WeakSender<LoopInput>,
    events: mpsc::UnboundedSender<BfdEvent>,
    sessions: HashMap<SessionKey, Entry>,
    by_discr: HashMap<u32, SessionKey>,
    /// The timer wheel: every session's next deadline, earliest first.
    wheel: BTreeSet<(Instant, SessionKey)>,
    receivers: HashMap<SocketAddr, ReceiveSocket>,
    transmitters: HashMap<IpAddr, std::net::UdpSocket>,
    rng: XorShift32,
    unmatched_drops: BTreeMap<DropReason, u64>,
    send_errors: u64,
    /// [`BfdHandle::release`] was called: the loop ends.
    released: bool,
    realtime: Realtime,
    stalls: stalls::StallRecord,
    /// Dropped with the loop: tells a dedicated thread to end.
    _ended: Option<oneshot::Sender<()>>,
}

impl Driver {
    async fn run(mut self, mut rx: mpsc::Receiver<LoopInput>) {
        loop {
            let next = self.wheel.first().map(|(t, _)| *t);
            let sleep = async {
                match next {
                    Some(t) => tokio::time::sleep_until(tokio::time::Instant::from_std(t)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = sleep => {
                    // Packets that arrived before the deadline must count
                    // before a detection timer is judged: under CPU
                    // pressure the loop can wake with both a due timer and
                    // queued packets, and firing first would declare a
                    // live peer dead.
                    let now = Instant::now();
                    let late = next.map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
                    self.stalls.woke(late);
                    if self.detection_due(now) {
                        self.drain(&mut rx);
                        // Woken late, this loop was not running: a detection
                        // time that ran out meanwhile waits for the peer's
                        // next packet (`Session::hold_over_own_stall`).
                        self.hold_detections(now, late);
                    }
                    self.fire_due(Instant::now());
                }
                input = rx.recv() => match input {
                    Some(LoopInput::Packets(ps)) => ps.into_iter().for_each(|p| self.on_packet(p)),
                    Some(LoopInput::Command(c)) => self.on_command(c),
                    None => return,
                },
            }
            if self.released {
                return;
            }
        }
    }

    /// Whether some due session is about to judge its detection timer
    /// (draining costs a syscall per socket, so only then).
    fn detection_due(&self, now: Instant) -> bool {
        self.wheel
            .iter()
            .take_while(|(t, _)| *t <= now)
            .any(|(_, key)| {
                self.sessions
                    .get(key)
                    .and_then(|e| e.session.detection_deadline())
                    .is_some_and(|d| d <= now)
            })
    }

    /// [`Input::Stalled`] to every session whose detection time has run out.
    fn hold_detections(&mut self, now: Instant, late: Duration) {
        let due: Vec<SessionKey> = self
            .sessions
            .iter()
            .filter(|(_, e)| e.session.detection_deadline().is_some_and(|d| d <= now))
            .map(|(key, _)| *key)
            .collect();
        for key in due {
            self.drive(key, now, Input::Stalled { late });
        }
    }

    /// Take in everything already received: the channel from the receive
    /// tasks, then the sockets themselves (non-blocking).
    fn drain(&mut self, rx: &mut mpsc::Receiver<LoopInput>) {
        while let Ok(input) = rx.try_recv() {
            match input {
                LoopInput::Packets(ps) => ps.into_iter().for_each(|p| self.on_packet(p)),
                LoopInput::Command(c) => self.on_command(c),
            }
        }
        let socks: Vec<(SocketAddr, Arc<UdpSocket>, bool)> = self
            .receivers
            .iter()
            .map(|(a, r)| (*a, r.sock.clone(), r.multihop))
            .collect();
        let mut buf = [0u8; 512];
        for (local, sock, multihop) in socks {
            // Bounded so a flood cannot starve the timers.
            for _ in 0..1024 {
                match socket::try_recv_with_ttl(&sock, &mut buf) {
                    Ok(d) => self.on_packet(Received {
                        local,
                        multihop,
                        src: d.src,
                        ttl: d.ttl,
                        bytes: buf[..d.len.min(buf.len())].to_vec(),
                    }),
                    Err(_) => break,
                }
            }
        }
    }

    fn fire_due(&mut self, now: Instant) {
        while let Some(&(t, key)) = self.wheel.first() {
            if t > now {
                break;
            }
            self.wheel.pop_first();
            if let Some(e) = self.sessions.get_mut(&key) {
                e.deadline = None;
            }
            self.drive(key, now, Input::Timer);
        }
    }

    /// Feed one input to one session and carry out its outputs.
    fn drive(&mut self, key: SessionKey, now: Instant, input: Input) {
        let Some(entry) = self.sessions.get_mut(&key) else {
            return;
        };
        let _span = tracing::debug_span!("bfd_session", %key).entered();
        let outputs = entry.session.process(now, input);
        let mut sends = Vec::new();
        for o in outputs {
            match o {
                Output::Send(bytes) => sends.push(bytes),
                Output::StateChange { from, to, diag } => {
                    entry.last_state_change = Some(SystemTime::now());
                    if diag == Diag::ControlDetectionTimeExpired && to == State::Down {
                        if let Some(d) = entry.session.last_detection_time() {
                            entry.last_detection = Some((SystemTime::now(), d));
                        }
                    }
                    let event = match to {
                        State::Up => Some(BfdEvent::Up { key }),
                        State::Down | State::AdminDown if from == State::Up => {
                            Some(BfdEvent::Down {
                                key,
                                state: to,
                                diag,
                                remote_state: entry.session.remote_state(),
                                silent_for: entry.session.silent_for(now),
                            })
                        }
                        _ => None,
                    };
                    if let Some(ev) = event {
                        // A closed receiver only means nobody listens.
                        let _ = self.events.send(ev);
                    }
                }
            }
        }
        // Keep the wheel in step with the session's next deadline.
        let new = entry.session.next_deadline();
        if new != entry.deadline {
            if let Some(old) = entry.deadline {
                self.wheel.remove(&(old, key));
            }
            if let Some(t) = new {
                self.wheel.insert((t, key));
            }
            entry.deadline = new;
        }
        let hop = entry.hop;
        self.send_all(key, hop, sends);
    }

    fn send_all(&mut self, key: SessionKey, hop: Hop, sends: Vec<Vec<u8>>) {
        let port = match hop {
            Hop::Single => self.cfg.single_hop_port,
            Hop::Multi { .. } => self.cfg.multi_hop_port,
        };
        if let Some(sock) = self.transmitters.get(&key.local) {
            let dst = SocketAddr::new(key.peer, port);
            for bytes in sends {
                // Non-blocking: a full socket buffer loses one packet, which
                // BFD tolerates by design (DetectMult), rather than stalling
                // every other session.
                if let Err(e) = sock.send_to(&bytes, dst) {
                    self.send_errors += 1;
                    tracing::debug!(%key, error = %e, "bfd send failed");
                }
            }
        }
    }

    fn on_packet(&mut self, r: Received) {
        let now = Instant::now();
        let packet = match ControlPacket::decode(&r.bytes) {
            Ok(p) => p,
            Err(reason) => return self.unmatched(reason, &r),
        };
        // §6.8.6: select by Your Discriminator, else by addresses (only
        // legal in Down/AdminDown, which decode already enforced; an Up
        // session also wants the peer's My Discriminator, `Session` checks).
        let key = if packet.your_discriminator != 0 {
            match self.by_discr.get(&packet.your_discriminator) {
                Some(k) => *k,
                None => return self.unmatched(DropReason::UnknownYourDiscriminator, &r),
            }
        } else {
            SessionKey {
                local: r.local.ip(),
                peer: r.src.ip(),
                multihop: r.multihop,
            }
        };
        let Some(entry) = self.sessions.get_mut(&key) else {
            return self.unmatched(DropReason::UnknownPeer, &r);
        };
        // The discriminator must not let one peer drive another's session.
        if key.peer != r.src.ip() || key.multihop != r.multihop || key.local != r.local.ip() {
            return self.unmatched(DropReason::UnknownPeer, &r);
        }
        let ttl_ok = match entry.hop {
            // RFC 5881 §5: single hop requires TTL/hop limit 255.
            Hop::Single => r.ttl == Some(255),
            Hop::Multi { min_ttl: Some(min) } => r.ttl.is_some_and(|t| t >= min),
            Hop::Multi { min_ttl: None } => true,
        };
        if !ttl_ok {
            entry.session.count_drop(DropReason::BadTtl);
            return;
        }
        let before = entry.session.counters().rx_packets;
        let was_up = entry.session.state() == State::Up;
        self.drive(key, now, Input::Packet(packet));
        if let Some(e) = self.sessions.get_mut(&key) {
            if e.session.counters().rx_packets != before {
                if let (true, Some(last)) = (was_up, e.last_rx) {
                    let gap = now.saturating_duration_since(last);
                    e.longest_rx_gap = e.longest_rx_gap.max(Some(gap));
                }
                e.last_rx = Some(now);
            }
        }
    }

    fn unmatched(&mut self, reason: DropReason, r: &Received) {
        *self.unmatched_drops.entry(reason).or_insert(0) += 1;
        tracing::debug!(src = %r.src, %reason, "bfd packet dropped");
    }

    fn on_command(&mut self, c: Command) {
        match c {
            Command::Add(peer, reply) => {
                let _ = reply.send(self.add(peer));
            }
            Command::Remove(key, reply) => {
                let existed = match self.sessions.remove(&key) {
                    Some(mut e) => {
                        // Tell the peer this is administrative (§6.8.16), so
                        // its clients do not treat it as a path failure
                        // (RFC 5882 §3.2). No event: the caller asked.
                        let sends = e
                            .session
                            .process(Instant::now(), Input::AdminDown)
                            .into_iter()
                            .filter_map(|o| match o {
                                Output::Send(b) => Some(b),
                                Output::StateChange { .. } => None,
                            })
                            .collect();
                        self.send_all(key, e.hop, sends);
                        if let Some(t) = e.deadline {
                            self.wheel.remove(&(t, key));
                        }
                        self.by_discr.remove(&e.session.local_discriminator());
                        true
                    }
                    None => false,
                };
                let _ = reply.send(existed);
            }
            Command::Admin(key, down, reply) => {
                let found = self.sessions.contains_key(&key);
                let input = if down {
                    Input::AdminDown
                } else {
                    Input::AdminUp
                };
                self.drive(key, Instant::now(), input);
                let _ = reply.send(found);
            }
            Command::SetTiming(key, timing, reply) => {
                let found = self.sessions.contains_key(&key);
                self.drive(key, Instant::now(), Input::SetTiming(timing));
                let _ = reply.send(found);
            }
            Command::Status(reply) => {
                let mut sessions: Vec<SessionStatus> = self
                    .sessions
                    .iter()
                    .map(|(key, e)| SessionStatus {
                        key: *key,
                        state: e.session.state(),
                        remote_state: e.session.remote_state(),
                        local_diag: e.session.local_diag(),
                        local_discriminator: e.session.local_discriminator(),
                        remote_discriminator: e.session.remote_discriminator(),
                        configured: e.session.configured_timing(),
                        tx_interval: e.session.tx_interval(),
                        detection_time: e.session.detection_time(),
                        counters: e.session.counters().clone(),
                        last_state_change: e.last_state_change,
                        last_detection: e.last_detection,
                        last_rx: e.last_rx,
                        longest_rx_gap: e.longest_rx_gap,
                    })
                    .collect();
                sessions.sort_by_key(|s| s.key);
                let _ = reply.send(DriverStatus {
                    sessions,
                    unmatched_drops: self.unmatched_drops.clone(),
                    send_errors: self.send_errors,
                    realtime: self.realtime,
                    longest_late_wake: self.stalls.longest(),
                    loop_stalls: self.stalls.count(),
                    recent_stalls: self.stalls.recent(),
                });
            }
            Command::Release(done) => {
                self.released = true;
                let _ = done.send(());
            }
            Command::Adoptable(_, reply) => {
                let _ = reply.send(Err(Error::Helper(
                    "an in-process driver cannot be adopted".into(),
                )));
            }
        }
    }

    fn add(&mut self, peer: PeerConfig) -> Result<SessionKey, Error> {
        let key = peer.key();
        if self.sessions.contains_key(&key) {
            return Err(Error::DuplicateSession(key));
        }
        if peer.local.is_ipv4() != peer.peer.is_ipv4() {
            return Err(Error::AddressFamilyMismatch(key));
        }
        if peer.timing.detect_mult == 0 {
            return Err(Error::ZeroDetectMult(key));
        }
        let port = if key.multihop {
            self.cfg.multi_hop_port
        } else {
            self.cfg.single_hop_port
        };
        let rx_addr = SocketAddr::new(peer.local, port);
        if !self.receivers.contains_key(&rx_addr) {
            let sock = Arc::new(socket::bind_receive(peer.local, port)?);
            let input = self.input_tx.clone();
            let task = tokio::spawn(receive_loop(sock.clone(), rx_addr, key.multihop, input));
            self.receivers.insert(
                rx_addr,
                ReceiveSocket {
                    sock,
                    multihop: key.multihop,
                    _task: AbortOnDrop(task),
                },
            );
        }
        if !self.transmitters.contains_key(&peer.local) {
            let sock = socket::bind_transmit(peer.local, self.rng.next())?;
            self.transmitters.insert(peer.local, sock);
        }
        // §6.8.1: a nonzero discriminator unique on this system, and one
        // that "SHOULD be set to a random (but still unique) value to
        // improve security": without authentication it is all that keeps
        // a spoofer from taking an Up session down, so none may follow
        // from another (the jitter generator's would, from its seed or
        // from any one of them) — the operating system's generator.
        let discr = loop {
            let d = random_u32().unwrap_or_else(|| self.rng.next());
            if d != 0 && !self.by_discr.contains_key(&d) {
                break d;
            }
        };
        let now = Instant::now();
        let session = Session::new(
            now,
            discr,
            peer.timing,
            peer.auth,
            Box::new(XorShift32::new(discr)),
        )
        .with_control_plane_independent(peer.control_plane_independent);
        self.by_discr.insert(discr, key);
        self.sessions.insert(
            key,
            Entry {
                session,
                hop: peer.hop,
                deadline: None,
                last_state_change: None,
                last_detection: None,
                last_rx: None,
                longest_rx_gap: None,
            },
        );
        tracing::info!(%key, discr, "bfd session added");
        // An empty input: schedules the first transmission.
        self.drive(key, now, Input::Timer);
        Ok(key)
    }
}

/// A value from the operating system's generator; `None` only where it
/// fails, which Linux's does not once booted.
fn random_u32() -> Option<u32> {
    use rand::TryRng;
    rand::rngs::SysRng.try_next_u32().ok()
}

impl XorShift32 {
    fn next(&mut self) -> u32 {
        crate::session::Jitter::next_u32(self)
    }
}

/// The only spawned work besides the event loop: read datagrams and hand
/// them over. Stops when the driver is gone.
async fn receive_loop(
    sock: Arc<UdpSocket>,
    local: SocketAddr,
    multihop: bool,
    input: mpsc::WeakSender<LoopInput>,
) {
    let mut buf = [0u8; 512];
    let received = |d: socket::Datagram, buf: &[u8]| Received {
        local,
        multihop,
        src: d.src,
        ttl: d.ttl,
        bytes: buf[..d.len.min(buf.len())].to_vec(),
    };
    loop {
        match socket::recv_with_ttl(&sock, &mut buf).await {
            Ok(d) => {
                // One hand-over per wake-up, not per datagram: with many
                // sessions on one address, packets arrive in bursts.
                let mut batch = vec![received(d, &buf)];
                while batch.len() < 256 {
                    match socket::try_recv_with_ttl(&sock, &mut buf) {
                        Ok(d) => batch.push(received(d, &buf)),
                        Err(_) => break,
                    }
                }
                let Some(tx) = input.upgrade() else { return };
                if tx.send(LoopInput::Packets(batch)).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                tracing::warn!(%local, error = %e, "bfd receive failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}
