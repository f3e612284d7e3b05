//! The BGP session state machine of one peer (RFC 4271 §8), sans-IO.
//!
//! `Session::process(now, Input) -> Vec<Output>`: no sockets, no clock
//! reads. The driver opens and accepts TCP connections, feeds their bytes in
//! as [`Input::Data`], writes [`Output::Send`], and calls
//! `process(now, Input::Tick)` once `next_deadline()` has passed.
//!
//! A session may hold two TCP connections at once while a connection
//! collision is being resolved (RFC 4271 §6.8): each connection has its own
//! OpenSent / OpenConfirm / Established progress, and the session's
//! [`State`] is the most advanced of them (or Idle / Connect / Active when
//! there is none).
//!
//! Connection collisions (RFC 4271 §6.8) never read as a peer restart: an
//! OPEN on a new connection while another is Established is held, the
//! Established connection is probed with a KEEPALIVE, and only if it dies
//! within [`COLLISION_PROBE`] does the new connection take over (the peer
//! restarted, RFC 4724 §4.2); otherwise the new one is closed with Cease /
//! Connection Collision Resolution.

mod interface;

pub use interface::{ConnId, Counters, Direction, Input, Output, SessionConfig, State};

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use ipnet::IpNet;

use crate::wire::{self, code, DecodeContext, Family, Inbound, Notification, PeerOpen};

/// RFC 4271 §8.2.2: the hold timer while waiting for the peer's OPEN
/// ("a large value ... 4 minutes").
const OPEN_HOLD: Duration = Duration::from_secs(240);

/// How long an OPEN that collides with an Established connection is held
/// while that connection is probed (at most a third of its hold time, so a
/// live peer's KEEPALIVE cadence is never outlasted). A restarted peer host
/// answers the probe with a RST within a round trip; a restarted peer
/// process closed the old connection with a FIN before it could reconnect.
pub const COLLISION_PROBE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConnState {
    OpenSent,
    OpenConfirm,
    Established,
}

#[derive(Debug)]
struct Conn {
    id: ConnId,
    outbound: bool,
    state: ConnState,
    rx: Vec<u8>,
    peer: Option<PeerOpen>,
    hold: Duration,
    hold_deadline: Option<Instant>,
    keepalive_at: Option<Instant>,
    /// An OPEN that collided with the Established connection, held (its
    /// further bytes unparsed) until the probe says which one is alive.
    held: Option<Held>,
}

#[derive(Debug)]
struct Held {
    open: PeerOpen,
    until: Instant,
}

/// One peer's session.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    state: State,
    started: bool,
    conns: Vec<Conn>,
    /// ConnectRetryTimer (in Connect / Active) or the automatic restart
    /// after an error (Idle, RFC 4271 §8.1.1 IdleHoldTimer).
    retry_at: Option<Instant>,
    backoff: Duration,
    /// An outbound connect is in flight.
    connecting: bool,
    /// Set until the first session is Established: RFC 4724 §3 R-bit.
    restarting: bool,
    received: BTreeSet<IpNet>,
    counters: Counters,
    last_error: Option<String>,
    last_notification: Option<(Direction, Notification, Instant)>,
    /// When the current Established session began.
    established_at: Option<Instant>,
}

impl Session {
    pub fn new(cfg: SessionConfig) -> Session {
        let backoff = cfg.connect_retry;
        Session {
            cfg,
            state: State::Idle,
            started: false,
            conns: Vec::new(),
            retry_at: None,
            backoff,
            connecting: false,
            restarting: true,
            received: BTreeSet::new(),
            counters: Counters::default(),
            last_error: None,
            last_notification: None,
            established_at: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// The last NOTIFICATION sent or received, and when.
    pub fn last_notification(&self) -> Option<&(Direction, Notification, Instant)> {
        self.last_notification.as_ref()
    }

    /// When the current Established session began.
    pub fn established_since(&self) -> Option<Instant> {
        self.established_at
    }

    /// The Established connection, if any.
    pub fn established_conn(&self) -> Option<ConnId> {
        self.conns
            .iter()
            .find(|c| c.state == ConnState::Established)
            .map(|c| c.id)
    }

    /// When the driver must call `process(_, Input::Tick)` next.
    pub fn next_deadline(&self) -> Option<Instant> {
        let conn_deadlines = self.conns.iter().flat_map(|c| {
            [
                c.hold_deadline,
                c.keepalive_at,
                c.held.as_ref().map(|h| h.until),
            ]
        });
        self.retry_at
            .into_iter()
            .chain(conn_deadlines.flatten())
            .min()
    }

    /// Notes that the driver wrote `count` UPDATEs on `conn` (RFC 4271 §8:
    /// restart the KeepaliveTimer on each one sent).
    pub fn sent_updates(&mut self, now: Instant, conn: ConnId, count: u64) {
        self.counters.updates_sent += count;
        if let Some(c) = self.conns.iter_mut().find(|c| c.id == conn) {
            if c.keepalive_at.is_some() {
                c.keepalive_at = Some(now + c.hold / 3);
            }
        }
    }

    pub fn process(&mut self, now: Instant, input: Input<'_>) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Start => self.start(now, &mut out),
            Input::Stop { reason } => {
                self.manual_stop(now, &Notification::shutdown(reason), reason, &mut out);
            }
            Input::Cease { subcode, reason } => {
                let n = Notification::new(code::CEASE, subcode, Bytes::new());
                self.manual_stop(now, &n, reason, &mut out);
            }
            Input::Connected { conn, outbound } => self.connected(now, conn, outbound, &mut out),
            Input::ConnectFailed => {
                self.connecting = false;
                if self.started && self.conns.is_empty() {
                    // RFC 4271 §8.2.2 Connect state, Event 18: restart the
                    // ConnectRetryTimer and wait in Active.
                    self.last_error = Some("TCP connection failed".into());
                    self.schedule_retry(now);
                }
            }
            Input::Closed { conn } => {
                if self.conns.iter().any(|c| c.id == conn) {
                    self.fail_conn(now, conn, None, "peer closed the connection", &mut out);
                }
            }
            Input::Data { conn, bytes } => self.data(now, conn, bytes, &mut out),
            Input::Tick => self.tick(now, &mut out),
            Input::PathUp => {
                self.backoff = self.cfg.connect_retry;
                if self.started && self.conns.is_empty() && !self.connecting {
                    if let Some(at) = self.retry_at {
                        self.retry_at = Some(at.min(now));
                        self.tick(now, &mut out);
                    }
                }
            }
        }
        self.update_state();
        out
    }

    /// ManualStop (Event 2, RFC 4271 §8.2.2): `notification` on every
    /// connection, then Idle without an automatic restart.
    fn manual_stop(
        &mut self,
        now: Instant,
        notification: &Notification,
        reason: &str,
        out: &mut Vec<Output>,
    ) {
        self.started = false;
        self.retry_at = None;
        self.connecting = false;
        let ids: Vec<ConnId> = self.conns.iter().map(|c| c.id).collect();
        for id in ids {
            self.fail_conn(now, id, Some(notification.clone()), reason, out);
        }
    }

    /// A reloaded `connect_retry`: the next retry interval starts from it.
    /// A connect or a retry already scheduled keeps its time; no connection
    /// is touched (the timer is local, RFC 4271 §10 leaves its value to
    /// configuration).
    pub fn set_connect_retry(&mut self, first: Duration) {
        self.cfg.connect_retry = first;
        self.backoff = first;
    }

    fn start(&mut self, now: Instant, out: &mut Vec<Output>) {
        if self.started {
            return;
        }
        self.started = true;
        self.backoff = self.cfg.connect_retry;
        if self.cfg.passive {
            // §8.2.2 Idle, Event 4/5: wait in Active for the peer.
            self.retry_at = None;
        } else {
            self.connect(now, out);
        }
    }

    fn connect(&mut self, now: Instant, out: &mut Vec<Output>) {
        self.connecting = true;
        // §8.2.2 Idle, Event 1: start the ConnectRetryTimer, initiate TCP.
        self.retry_at = Some(now + self.backoff);
        out.push(Output::Connect);
    }

    fn schedule_retry(&mut self, now: Instant) {
        if self.cfg.passive {
            self.retry_at = None;
        } else {
            self.retry_at = Some(now + self.backoff);
            // Back off on repeated failures (RFC 4271 §8.1.1
            // DampPeerOscillations spirit), capped.
            self.backoff = (self.backoff * 2).min(self.cfg.connect_retry_max);
        }
    }

    fn open_params(&self) -> wire::OpenParams {
        wire::OpenParams {
            asn: self.cfg.local_asn,
            hold_secs: u16::try_from(self.cfg.hold.as_secs()).unwrap_or(u16::MAX),
            router_id: self.cfg.router_id,
            families: self.cfg.families.clone(),
            graceful_restart: self
                .cfg
                .graceful_restart
                .map(|t| wire::GracefulRestartParams {
                    restart_time: u16::try_from(t.as_secs()).unwrap_or(4095).min(4095),
                    restarting: self.restarting,
                }),
        }
    }

    fn connected(&mut self, now: Instant, conn: ConnId, outbound: bool, out: &mut Vec<Output>) {
        if outbound {
            self.connecting = false;
        }
        if !self.started || self.conns.len() >= 2 {
            // §8.2.2 Idle: refuse connections; and never juggle more than
            // the two connections of a collision.
            out.push(Output::Close { conn });
            return;
        }
        if outbound && self.established_conn().is_some() {
            // §6.8: a collision with an Established connection ends with
            // the new one closed, so never offer one. Some peers (FRR with
            // graceful restart) take a new connection while Established as
            // our restart and drop the Established session for it.
            out.push(Output::Close { conn });
            return;
        }
        let open = match wire::encode_open(&self.open_params()) {
            Ok(b) => b,
            Err(e) => {
                self.last_error = Some(e.detail);
                out.push(Output::Close { conn });
                return;
            }
        };
        out.push(Output::Send { conn, bytes: open });
        // §8.2.2 Connect, Event 16/17: stop ConnectRetryTimer, send OPEN,
        // set the HoldTimer to a large value, go to OpenSent.
        if self.established_conn().is_none() {
            self.retry_at = None;
        }
        self.conns.push(Conn {
            id: conn,
            outbound,
            state: ConnState::OpenSent,
            rx: Vec::new(),
            peer: None,
            hold: OPEN_HOLD,
            hold_deadline: Some(now + OPEN_HOLD),
            keepalive_at: None,
            held: None,
        });
    }

    fn data(&mut self, now: Instant, conn: ConnId, bytes: &[u8], out: &mut Vec<Output>) {
        let Some(c) = self.conns.iter_mut().find(|c| c.id == conn) else {
            return;
        };
        c.rx.extend_from_slice(bytes);
        loop {
            let Some(c) = self.conns.iter_mut().find(|c| c.id == conn) else {
                return;
            };
            if c.held.is_some() {
                // The rest waits until the collision is resolved.
                return;
            }
            let len = match wire::frame_len(&c.rx) {
                Ok(Some(len)) if c.rx.len() >= len => len,
                Ok(_) => return,
                Err(e) => {
                    let n = e.notification.clone();
                    self.fail_conn(now, conn, Some(n), &e.detail, out);
                    return;
                }
            };
            let frame: Vec<u8> = c.rx.drain(..len).collect();
            let ctx = DecodeContext {
                four_octet_as: c.peer.as_ref().is_none_or(|p| p.four_octet_as),
            };
            match wire::decode(&frame, ctx) {
                Ok(msg) => self.message(now, conn, msg, out),
                Err(e) => {
                    let n = e.notification.clone();
                    self.fail_conn(now, conn, Some(n), &e.detail, out);
                    return;
                }
            }
        }
    }

    fn message(&mut self, now: Instant, conn: ConnId, msg: Inbound, out: &mut Vec<Output>) {
        let Some(idx) = self.conns.iter().position(|c| c.id == conn) else {
            return;
        };
        let state = self.conns[idx].state;
        if let Inbound::Notification(n) = &msg {
            // §8.2.2: a NOTIFICATION in any state closes the connection.
            self.record_notification(now, Direction::Received, n);
            let reason = format!("peer sent NOTIFICATION {}", n.describe());
            self.fail_conn(now, conn, None, &reason, out);
            return;
        }
        // Any KEEPALIVE or UPDATE restarts the HoldTimer (§8.2.2 Event 26/27).
        if matches!(msg, Inbound::Keepalive | Inbound::Update(_)) && state != ConnState::OpenSent {
            let c = &mut self.conns[idx];
            if !c.hold.is_zero() {
                c.hold_deadline = Some(now + c.hold);
            }
        }
        match (state, msg) {
            (ConnState::OpenSent, Inbound::Open(peer)) => self.open(now, conn, peer, out),
            (ConnState::OpenConfirm, Inbound::Keepalive) => {
                // §8.2.2 OpenConfirm, Event 26: Established.
                if self.connecting {
                    // §6.8: a connection that completes now would collide
                    // with the Established one and lose; worse, a peer with
                    // graceful restart (FRR) drops its Established session
                    // as soon as it accepts another connection from us, before
                    // any OPEN. So the attempt under way (e.g. a SYN waiting
                    // for its retransmission) must not complete.
                    self.connecting = false;
                    out.push(Output::CancelConnect);
                }
                self.conns[idx].state = ConnState::Established;
                self.counters.established += 1;
                self.established_at = Some(now);
                self.backoff = self.cfg.connect_retry;
                self.restarting = false;
                self.retry_at = None;
                self.received.clear();
                self.counters.prefixes_received = 0;
                let peer = self.conns[idx]
                    .peer
                    .clone()
                    .unwrap_or_else(|| unreachable_peer(&self.cfg));
                let families: Vec<Family> = self
                    .cfg
                    .families
                    .iter()
                    .copied()
                    .filter(|f| peer.families.contains(f))
                    .collect();
                let four_octet_as = peer.four_octet_as;
                out.push(Output::Established {
                    conn,
                    peer,
                    families,
                    four_octet_as,
                });
            }
            (ConnState::Established, Inbound::Keepalive) => {}
            (ConnState::Established, Inbound::Update(u)) => {
                self.counters.updates_received += 1;
                if u.treated_as_withdraw || u.discarded_attributes > 0 {
                    self.counters.malformed_updates += 1;
                }
                // Nothing received is installed or re-advertised: count the
                // prefixes for the max-prefix limit and drop them.
                for p in &u.withdrawn {
                    self.received.remove(p);
                }
                for p in u.announced {
                    self.received.insert(p);
                }
                self.counters.prefixes_received = self.received.len();
                if self.received.len() > self.cfg.max_prefixes as usize {
                    // RFC 4486 §4: Cease / Maximum Number of Prefixes Reached,
                    // data AFI (2), SAFI (1), upper bound (4).
                    let mut data = vec![0, 1, 1];
                    data.extend_from_slice(&self.cfg.max_prefixes.to_be_bytes());
                    let n =
                        Notification::new(code::CEASE, code::CEASE_MAX_PREFIXES, Bytes::from(data));
                    let reason = format!(
                        "peer sent {} prefixes, more than max_prefixes {}",
                        self.received.len(),
                        self.cfg.max_prefixes
                    );
                    self.fail_conn(now, conn, Some(n), &reason, out);
                }
            }
            (ConnState::Established, Inbound::RouteRefresh) => {
                out.push(Output::RouteRefresh { conn });
            }
            (s, m) => {
                // §8.2.2: any other message is an FSM error (RFC 6608 subcodes).
                let sub = match s {
                    ConnState::OpenSent => code::FSM_UNEXPECTED_IN_OPENSENT,
                    ConnState::OpenConfirm => code::FSM_UNEXPECTED_IN_OPENCONFIRM,
                    ConnState::Established => code::FSM_UNEXPECTED_IN_ESTABLISHED,
                };
                let reason = format!("unexpected {} in {s:?}", kind(&m));
                self.fail_conn(
                    now,
                    conn,
                    Some(Notification::new(code::FSM, sub, Bytes::new())),
                    &reason,
                    out,
                );
            }
        }
    }

    fn open(&mut self, now: Instant, conn: ConnId, peer: PeerOpen, out: &mut Vec<Output>) {
        // RFC 4271 §6.2 OPEN checks.
        if peer.asn != self.cfg.peer_asn {
            let reason = format!(
                "peer AS {} is not the configured {}",
                peer.asn, self.cfg.peer_asn
            );
            let n = Notification::new(code::OPEN, code::OPEN_BAD_PEER_AS, Bytes::new());
            self.fail_conn(now, conn, Some(n), &reason, out);
            return;
        }
        let internal = peer.asn == self.cfg.local_asn;
        if peer.router_id.is_unspecified() || (internal && peer.router_id == self.cfg.router_id) {
            let reason = format!("bad BGP identifier {}", peer.router_id);
            let n = Notification::new(code::OPEN, code::OPEN_BAD_BGP_ID, Bytes::new());
            self.fail_conn(now, conn, Some(n), &reason, out);
            return;
        }
        if peer.hold_secs == 1 || peer.hold_secs == 2 {
            let reason = format!("peer hold time {} s is below 3 s", peer.hold_secs);
            let n = Notification::new(code::OPEN, code::OPEN_UNACCEPTABLE_HOLD, Bytes::new());
            self.fail_conn(now, conn, Some(n), &reason, out);
            return;
        }
        // §6.8 collision detection, before moving this connection on.
        if let Some(other) = self.conns.iter().find(|c| c.id != conn) {
            let other_id = other.id;
            match other.state {
                ConnState::Established => {
                    // §6.8: the Established connection wins a collision,
                    // unless it is dead: a peer that restarted (RFC 4724
                    // §4.2) reconnects while our side of its old connection
                    // may still look alive (its host rebooted, no FIN).
                    // Probe it: a dead one answers the KEEPALIVE with a RST
                    // (Closed); a live one leaves the new connection to be
                    // closed when the probe window ends (see `tick`). The
                    // GR capability alone proves nothing: a GR-capable peer
                    // also collides when both sides connect at once.
                    let other_hold = other.hold;
                    let window = if other_hold.is_zero() {
                        COLLISION_PROBE
                    } else {
                        COLLISION_PROBE.min(other_hold / 3)
                    };
                    if let Some(c) = self.conns.iter_mut().find(|c| c.id == conn) {
                        c.held = Some(Held {
                            open: peer,
                            until: now + window,
                        });
                    }
                    tracing::info!(
                        conn,
                        established = other_id,
                        "OPEN on a second connection while Established: probing the Established one"
                    );
                    out.push(Output::Send {
                        conn: other_id,
                        bytes: wire::encode_keepalive(),
                    });
                    self.sent_updates(now, other_id, 0);
                    return;
                }
                // §6.8: only connections in OpenConfirm are examined; one
                // still in OpenSent is resolved when its OPEN arrives.
                ConnState::OpenSent => {}
                ConnState::OpenConfirm => {
                    // §6.8: keep the connection initiated by the speaker with
                    // the higher BGP Identifier.
                    let local_higher = u32::from(self.cfg.router_id) > u32::from(peer.router_id);
                    let this_outbound = self
                        .conns
                        .iter()
                        .find(|c| c.id == conn)
                        .is_some_and(|c| c.outbound);
                    let keep_this = this_outbound == local_higher;
                    let n = Notification::new(code::CEASE, code::CEASE_COLLISION, Bytes::new());
                    if keep_this {
                        self.fail_conn(now, other_id, Some(n), "connection collision", out);
                    } else {
                        self.fail_conn(now, conn, Some(n), "connection collision", out);
                        return;
                    }
                }
            }
        }
        self.accept_open(now, conn, peer, out);
    }

    /// OpenSent -> OpenConfirm on `conn` with the peer's (checked) OPEN.
    fn accept_open(&mut self, now: Instant, conn: ConnId, peer: PeerOpen, out: &mut Vec<Output>) {
        let Some(c) = self.conns.iter_mut().find(|c| c.id == conn) else {
            return;
        };
        // §4.2: the hold time is the smaller of the two; 0 disables both timers.
        let hold = Duration::from_secs(u64::from(peer.hold_secs)).min(self.cfg.hold);
        c.hold = hold;
        if hold.is_zero() {
            c.hold_deadline = None;
            c.keepalive_at = None;
        } else {
            c.hold_deadline = Some(now + hold);
            c.keepalive_at = Some(now + hold / 3);
        }
        c.peer = Some(peer);
        c.state = ConnState::OpenConfirm;
        out.push(Output::Send {
            conn,
            bytes: wire::encode_keepalive(),
        });
    }

    fn tick(&mut self, now: Instant, out: &mut Vec<Output>) {
        let expired: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|c| c.hold_deadline.is_some_and(|d| d <= now))
            .map(|c| c.id)
            .collect();
        for id in expired {
            // §8.2.2 Event 10: HoldTimer_Expires.
            let n = Notification::new(code::HOLD_TIMER_EXPIRED, 0, Bytes::new());
            self.fail_conn(now, id, Some(n), "hold timer expired", out);
        }
        let outlived: Vec<ConnId> = self
            .conns
            .iter()
            .filter(|c| c.held.as_ref().is_some_and(|h| h.until <= now))
            .map(|c| c.id)
            .collect();
        for id in outlived {
            // The Established connection survived the probe: this was a
            // collision, and §6.8 keeps the Established connection.
            let n = Notification::new(code::CEASE, code::CEASE_COLLISION, Bytes::new());
            self.fail_conn(
                now,
                id,
                Some(n),
                "connection collision with the Established session",
                out,
            );
        }
        for c in &mut self.conns {
            if let Some(k) = c.keepalive_at {
                if k <= now {
                    // §8.2.2 Event 11: KeepaliveTimer_Expires.
                    out.push(Output::Send {
                        conn: c.id,
                        bytes: wire::encode_keepalive(),
                    });
                    c.keepalive_at = Some(now + c.hold / 3);
                }
            }
        }
        if let Some(at) = self.retry_at {
            if at <= now && self.started && self.conns.is_empty() {
                // §8.2.2 Event 9: ConnectRetryTimer_Expires (or the automatic
                // restart after IdleHold): try again.
                if self.cfg.passive {
                    self.retry_at = None;
                } else {
                    self.connect(now, out);
                }
            } else if at <= now {
                self.retry_at = None;
            }
        }
    }

    /// Closes `conn`, sending `notification` first if given.
    fn fail_conn(
        &mut self,
        now: Instant,
        conn: ConnId,
        notification: Option<Notification>,
        reason: &str,
        out: &mut Vec<Output>,
    ) {
        let Some(idx) = self.conns.iter().position(|c| c.id == conn) else {
            return;
        };
        let c = self.conns.remove(idx);
        if let Some(n) = notification {
            self.record_notification(now, Direction::Sent, &n);
            out.push(Output::Send {
                conn,
                bytes: wire::encode_notification(&n),
            });
        }
        out.push(Output::Close { conn });
        tracing::info!(conn, state = ?c.state, reason, "BGP connection closed");
        if c.state == ConnState::Established {
            self.received.clear();
            self.counters.prefixes_received = 0;
            self.established_at = None;
            out.push(Output::Down {
                reason: reason.to_string(),
            });
        }
        // A losing collision connection is no error of the session, which
        // stays Established on the other one.
        if self.established_conn().is_none() {
            self.last_error = Some(reason.to_string());
        }
        if c.state == ConnState::Established && self.started {
            // The probe proved the old connection dead: the peer restarted
            // (RFC 4724 §4.2) and its held OPEN starts the new session.
            let held = self
                .conns
                .iter_mut()
                .find_map(|h| h.held.take().map(|held| (h.id, held.open)));
            if let Some((id, open)) = held {
                tracing::info!(
                    conn = id,
                    "the Established connection died: the held connection takes over"
                );
                self.accept_open(now, id, open, out);
                self.data(now, id, &[], out);
            }
        }
        if self.conns.is_empty() && self.started {
            // §8.2.2: back to Idle; restart automatically after a growing
            // delay (IdleHoldTimer).
            self.schedule_retry(now);
        }
    }

    fn record_notification(&mut self, now: Instant, dir: Direction, n: &Notification) {
        match dir {
            Direction::Sent => self.counters.notifications_sent += 1,
            Direction::Received => self.counters.notifications_received += 1,
        }
        *self
            .counters
            .notifications
            .entry((dir, n.code, n.subcode))
            .or_default() += 1;
        self.last_notification = Some((dir, n.clone(), now));
    }

    fn update_state(&mut self) {
        let new = if let Some(s) = self.conns.iter().map(|c| c.state).max_by_key(|s| *s as u8) {
            match s {
                ConnState::OpenSent => State::OpenSent,
                ConnState::OpenConfirm => State::OpenConfirm,
                ConnState::Established => State::Established,
            }
        } else if !self.started {
            State::Idle
        } else if self.connecting {
            State::Connect
        } else if self.cfg.passive || self.retry_at.is_some() {
            State::Active
        } else {
            State::Idle
        };
        if new != self.state {
            tracing::debug!(from = ?self.state, to = ?new, peer_as = self.cfg.peer_asn, "BGP state");
            self.state = new;
        }
    }
}

fn kind(m: &Inbound) -> &'static str {
    match m {
        Inbound::Open(_) => "OPEN",
        Inbound::Update(_) => "UPDATE",
        Inbound::Keepalive => "KEEPALIVE",
        Inbound::Notification(_) => "NOTIFICATION",
        Inbound::RouteRefresh => "ROUTE-REFRESH",
    }
}

/// A placeholder never reached: a connection in OpenConfirm always holds
/// the peer's OPEN. Kept total so that no input can panic the session.
fn unreachable_peer(cfg: &SessionConfig) -> PeerOpen {
    PeerOpen {
        asn: cfg.peer_asn,
        hold_secs: 0,
        router_id: Ipv4Addr::UNSPECIFIED,
        families: Vec::new(),
        four_octet_as: true,
        route_refresh: false,
        graceful_restart: None,
    }
}

#[cfg(test)]
mod tests;
