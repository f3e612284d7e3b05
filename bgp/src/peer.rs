//! The tokio driver of one peer: one task owns the [`Session`], the TCP
//! connections and this peer's Adj-RIB-Out.
//!
//! ```text
//!  Speaker ──PeerMsg::Apply/Status/Stop──┐
//!  listener ──PeerMsg::Accepted──────────┤
//!  connect task ──PeerMsg::ConnectDone───┼──> peer task (one loop, one mpsc)
//!  reader task per conn ──PeerMsg::Read──┘      │ Session::process(now, ..)
//!                                               │ sleep_until(next_deadline)
//!                                               └─> write half per conn
//! ```
//!
//! Spawned tasks only do I/O; every decision happens in the loop.
//!
//! End-of-RIB (RFC 4724 §4.1) goes out on a session only after the routes
//! of a final steering: an `Apply` marked `provisional` (the daemon is
//! fenced, e.g. not yet synced with its cluster after a restart) is synced
//! but does not release it, because a graceful-restart peer flushes every
//! route of ours it still holds as stale once End-of-RIB arrives. When no
//! final steering comes, [`EndOfRib`] releases it shortly before our
//! advertised restart time runs out after the session came up.

mod adj_rib_out;
mod end_of_rib;

pub use adj_rib_out::AdjRibOut;
pub(crate) use end_of_rib::EndOfRib;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn, Instrument};

use crate::error::Error;
use crate::fsm::{ConnId, Counters, Direction, Input, Output, Session, SessionConfig, State};
use crate::policy::DesiredRib;
use crate::sockopt;
use crate::wire::{self, Family};

use adj_rib_out::Sending;

/// A peer that does not take our bytes for this long is dropped (the idea
/// of RFC 9687's SendHoldTimer): one stuck peer must not hold `apply` for
/// the others forever.
const SEND_HOLD: Duration = Duration::from_secs(20);

/// Everything one peer needs, resolved from the config.
#[derive(Debug, Clone)]
pub(crate) struct PeerSetup {
    pub address: IpAddr,
    pub port: u16,
    pub local_address: Option<IpAddr>,
    pub md5_key: Option<Vec<u8>>,
    pub gtsm: bool,
    pub session: SessionConfig,
    pub next_hop_v4: Option<IpAddr>,
    pub next_hop_v6: Option<IpAddr>,
}

/// A peer as `observe` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerStatus {
    pub address: IpAddr,
    pub peer_asn: u32,
    pub state: State,
    /// How long the current session has been Established.
    pub established_for: Option<Duration>,
    /// The address families negotiated on the current session.
    pub families: Vec<Family>,
    pub counters: Counters,
    /// What we announce to this peer now (empty unless Established): a
    /// view of the shared desired RIB, not a copy.
    pub adj_rib_out: AdjRibOut,
    /// `adj_rib_out.len()`.
    pub prefixes_sent: usize,
    /// End-of-RIB went out on the current session (RFC 4724 §4.1).
    pub eor_sent: bool,
    /// The last steering applied was provisional (fenced): it does not
    /// release End-of-RIB.
    pub steering_provisional: bool,
    /// Prefixes of the current steering this peer is not sent, each with
    /// the reason (no next hop of its family, family not negotiated).
    pub not_sent: Vec<String>,
    /// A human sentence: why the session (or a connection) last failed.
    pub last_error: Option<String>,
    pub last_notification: Option<NotificationRecord>,
}

/// The last NOTIFICATION sent to or received from a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRecord {
    pub direction: Direction,
    pub code: u8,
    pub subcode: u8,
    /// In words, e.g. "Cease/Administrative Shutdown: maintenance".
    pub text: String,
    pub at: SystemTime,
}

/// What one `apply` did on one peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PeerApplied {
    pub established: bool,
    pub messages: usize,
    pub changes: usize,
    pub skipped: Vec<String>,
}

pub(crate) enum PeerMsg {
    Apply {
        rib: Arc<DesiredRib>,
        /// From a fenced steering: synced, but it does not release
        /// End-of-RIB (RFC 4724 §4.1).
        provisional: bool,
        done: oneshot::Sender<Result<PeerApplied, Error>>,
    },
    Status(oneshot::Sender<PeerStatus>),
    Stop {
        reason: String,
        done: oneshot::Sender<()>,
    },
    Accepted(TcpStream),
    /// BFD says the forwarding path to the peer is down (RFC 5882 §4.3):
    /// drop the session now instead of waiting for the hold timer, unless
    /// BFD last heard the peer (`silent_since`) before this session was
    /// Established.
    PathDown {
        silent_since: Instant,
    },
    /// BFD says the path is back: reconnect now, back-off reset.
    PathUp,
    ConnectDone(io::Result<TcpStream>),
    Read {
        conn: ConnId,
        data: Vec<u8>,
    },
    Closed {
        conn: ConnId,
    },
    /// A reload (`Speaker::reconfigure`) changed this peer; `done` once
    /// carried out.
    Reconfigure {
        change: PeerChange,
        done: oneshot::Sender<()>,
    },
}

/// What a reload does to one running peer.
#[derive(Debug)]
pub(crate) enum PeerChange {
    /// The session parameters are unchanged: take the new next hops and
    /// connect-retry in place; the session stays up (the next `Apply`
    /// sends the difference as ordinary UPDATEs).
    Update(PeerSetup),
    /// Close every connection with Cease / `subcode` (RFC 4486 §4) and end
    /// the task: the peer was removed, or its session parameters changed
    /// and a fresh task takes its place.
    End { subcode: u8, reason: String },
}

struct Conn {
    writer: OwnedWriteHalf,
    reader: JoinHandle<()>,
    local: IpAddr,
}

struct Established {
    conn: ConnId,
    families: Vec<Family>,
    four_octet_as: bool,
}

struct Peer {
    setup: PeerSetup,
    session: Session,
    tx: mpsc::Sender<PeerMsg>,
    conns: HashMap<ConnId, Conn>,
    next_conn: ConnId,
    /// The outbound connection attempt under way.
    connecting: Option<JoinHandle<()>>,
    established: Option<Established>,
    adj_out: AdjRibOut,
    /// `None` until the first steering: nothing is announced before it.
    desired: Option<Arc<DesiredRib>>,
    /// `desired` came from a fenced steering.
    provisional: bool,
    eor: EndOfRib,
    skipped: Vec<String>,
}

/// Starts the task of one peer; returns its mailbox and the task (abort it
/// to drop the peer's connections without a NOTIFICATION).
pub(crate) fn spawn(setup: PeerSetup) -> (mpsc::Sender<PeerMsg>, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(256);
    let span = tracing::info_span!("bgp_peer", peer = %setup.address);
    let restart_time = setup.session.graceful_restart;
    let peer = Peer {
        session: Session::new(setup.session.clone()),
        setup,
        tx: tx.clone(),
        conns: HashMap::new(),
        next_conn: 1,
        connecting: None,
        established: None,
        adj_out: AdjRibOut::default(),
        desired: None,
        provisional: false,
        eor: EndOfRib::new(restart_time),
        skipped: Vec::new(),
    };
    let task = tokio::spawn(peer.run(rx).instrument(span));
    (tx, task)
}

impl Peer {
    async fn run(mut self, mut rx: mpsc::Receiver<PeerMsg>) {
        self.step(Input::Start).await;
        loop {
            let deadline = [self.session.next_deadline(), self.eor.deadline()]
                .into_iter()
                .flatten()
                .min();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(tokio::time::Instant::from_std(d)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                msg = rx.recv() => {
                    let Some(msg) = msg else { break };
                    if self.handle(msg).await {
                        break;
                    }
                }
                () = sleep => {
                    if self.eor.due(Instant::now(), false) {
                        // No final steering came in time (see `EndOfRib`).
                        info!("no final steering within the restart time: End-of-RIB now");
                        self.send_eor().await;
                    }
                    self.step(Input::Tick).await;
                }
            }
        }
        for (_, c) in self.conns.drain() {
            c.reader.abort();
        }
        if let Some(t) = self.connecting.take() {
            t.abort();
        }
    }

    /// BFD declared the path down, silent since `silent_since`.
    async fn path_down(&mut self, silent_since: Instant) {
        let Some(conn) = self.established.as_ref().map(|e| e.conn) else {
            return;
        };
        // This session's OPEN/KEEPALIVE exchange crossed the path after
        // BFD's silence began, so the silence is not its path failing: the
        // peer replaced its BFD session (bird2 does on every BGP reconnect)
        // and BFD has not heard the new one yet. The hold timer still
        // guards the session, and BFD's next Up and Down apply as usual.
        if let Some(up) = self.session.established_since() {
            if up > silent_since {
                let ms = up.saturating_duration_since(silent_since).as_millis();
                info!(
                    silent_before_established_ms = ms as u64,
                    "BFD Down, but its silence began before this session was Established: the session stays"
                );
                return;
            }
        }
        warn!("BFD reports the path down: dropping the session");
        if let Some(c) = self.conns.remove(&conn) {
            c.reader.abort();
        }
        // A transport failure (TcpConnectionFails, Event 18).
        self.step(Input::Closed { conn }).await;
    }

    /// Returns true when the task must end.
    async fn handle(&mut self, msg: PeerMsg) -> bool {
        match msg {
            PeerMsg::Apply {
                rib,
                provisional,
                done,
            } => {
                self.desired = Some(rib);
                self.provisional = provisional;
                let r = self.sync().await;
                if r.is_ok() && self.eor.due(Instant::now(), !provisional) {
                    self.send_eor().await;
                }
                let _ = done.send(r);
            }
            PeerMsg::Status(done) => {
                let _ = done.send(self.status());
            }
            PeerMsg::Stop { reason, done } => {
                self.step(Input::Stop { reason: &reason }).await;
                let _ = done.send(());
                return true;
            }
            PeerMsg::PathDown { silent_since } => self.path_down(silent_since).await,
            PeerMsg::PathUp => self.step(Input::PathUp).await,
            PeerMsg::Accepted(stream) => self.attach(stream, false).await,
            PeerMsg::ConnectDone(Ok(stream)) => {
                self.connecting = None;
                self.attach(stream, true).await;
            }
            PeerMsg::ConnectDone(Err(e)) => {
                self.connecting = None;
                debug!(error = %e, "connect failed");
                self.step(Input::ConnectFailed).await;
            }
            PeerMsg::Read { conn, data } => {
                self.step(Input::Data { conn, bytes: &data }).await;
            }
            PeerMsg::Closed { conn } => self.step(Input::Closed { conn }).await,
            PeerMsg::Reconfigure { change, done } => match change {
                PeerChange::Update(setup) => {
                    self.session.set_connect_retry(setup.session.connect_retry);
                    self.setup = setup;
                    let _ = done.send(());
                }
                PeerChange::End { subcode, reason } => {
                    self.step(Input::Cease {
                        subcode,
                        reason: &reason,
                    })
                    .await;
                    let _ = done.send(());
                    return true;
                }
            },
        }
        false
    }

    async fn attach(&mut self, stream: TcpStream, outbound: bool) {
        let conn = self.next_conn;
        self.next_conn += 1;
        let local = stream
            .local_addr()
            .map(|a| a.ip().to_canonical())
            .unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let _ = stream.set_nodelay(true);
        if self.setup.gtsm {
            // RFC 5082: applies from here on (the SYN was already taken).
            if let Err(e) = sockopt::set_gtsm(&stream, self.setup.address.is_ipv6()) {
                warn!(error = %e, "cannot set GTSM on the connection");
            }
        }
        let (mut read, writer) = stream.into_split();
        let tx = self.tx.clone();
        let reader = tokio::spawn(async move {
            // Room for four of the largest messages (RFC 4271 §4.1): a
            // larger buffer per session only held memory; the session
            // reassembles messages split across reads anyway.
            let mut buf = vec![0u8; 4 * wire::MAX_MESSAGE_LEN];
            loop {
                match read.read(&mut buf).await {
                    Ok(0) | Err(_) => {
                        let _ = tx.send(PeerMsg::Closed { conn }).await;
                        return;
                    }
                    Ok(n) => {
                        let data = buf[..n].to_vec();
                        if tx.send(PeerMsg::Read { conn, data }).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
        self.conns.insert(
            conn,
            Conn {
                writer,
                reader,
                local,
            },
        );
        self.step(Input::Connected { conn, outbound }).await;
    }

    /// Feeds one input to the session and carries out what it asks, until
    /// no more inputs follow (a failed write becomes `Closed`).
    async fn step(&mut self, input: Input<'_>) {
        let now = Instant::now();
        let mut outputs: VecDeque<Output> = self.session.process(now, input).into();
        while let Some(o) = outputs.pop_front() {
            let more = self.output(o).await;
            for i in more {
                outputs.extend(self.session.process(Instant::now(), i.as_input()));
            }
        }
    }

    async fn output(&mut self, o: Output) -> Vec<Owned> {
        match o {
            Output::Connect => {
                let setup = self.setup.clone();
                let tx = self.tx.clone();
                // The ConnectRetryTimer bounds the attempt (RFC 4271 §8.2.2).
                let limit = setup.session.connect_retry.max(Duration::from_secs(1));
                if let Some(old) = self.connecting.take() {
                    old.abort();
                }
                self.connecting = Some(tokio::spawn(async move {
                    let r = match tokio::time::timeout(limit, connect(&setup)).await {
                        Ok(r) => r,
                        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "connect timed out")),
                    };
                    let _ = tx.send(PeerMsg::ConnectDone(r)).await;
                }));
                Vec::new()
            }
            Output::CancelConnect => {
                // Dropping the socket before the handshake completes: the
                // kernel stops retransmitting our SYN and answers a late
                // SYN-ACK with a RST, so the peer never accepts it.
                if let Some(t) = self.connecting.take() {
                    t.abort();
                    debug!("outbound connect abandoned: the session is Established");
                }
                Vec::new()
            }
            Output::Send { conn, bytes } => self.write(conn, &[bytes]).await,
            Output::Close { conn } => {
                if let Some(mut c) = self.conns.remove(&conn) {
                    let _ = c.writer.shutdown().await;
                    linger(c.reader);
                }
                if self.established.as_ref().is_some_and(|e| e.conn == conn) {
                    self.established = None;
                    self.adj_out = AdjRibOut::default();
                    self.eor.down();
                }
                Vec::new()
            }
            Output::Established {
                conn,
                peer,
                families,
                four_octet_as,
            } => {
                info!(peer_as = peer.asn, router_id = %peer.router_id, ?families, "BGP session Established");
                self.established = Some(Established {
                    conn,
                    families: families.clone(),
                    four_octet_as,
                });
                self.adj_out = AdjRibOut::default();
                self.eor.established(Instant::now());
                // Reconcile: everything, then End-of-RIB (RFC 4724 §4.1) if
                // the routes are final.
                let synced = match self.sync().await {
                    Ok(_) => self.desired.is_some() && self.established.is_some(),
                    Err(e) => {
                        warn!(error = %e, "initial announcement failed");
                        false
                    }
                };
                if self.eor.due(Instant::now(), synced && !self.provisional) {
                    self.send_eor().await;
                }
                Vec::new()
            }
            Output::Down { reason } => {
                warn!(%reason, "BGP session down");
                self.established = None;
                self.adj_out = AdjRibOut::default();
                self.eor.down();
                Vec::new()
            }
            Output::RouteRefresh { .. } => {
                // RFC 2918 §4: re-advertise the Adj-RIB-Out.
                self.adj_out = AdjRibOut::default();
                if let Err(e) = self.sync().await {
                    warn!(error = %e, "route refresh failed");
                }
                Vec::new()
            }
        }
    }

    fn status(&self) -> PeerStatus {
        let now = Instant::now();
        let wall = SystemTime::now();
        PeerStatus {
            address: self.setup.address,
            peer_asn: self.setup.session.peer_asn,
            state: self.session.state(),
            established_for: self
                .session
                .established_since()
                .map(|t| now.saturating_duration_since(t)),
            families: self
                .established
                .as_ref()
                .map(|e| e.families.clone())
                .unwrap_or_default(),
            counters: self.session.counters().clone(),
            adj_rib_out: self.adj_out.clone(),
            prefixes_sent: self.adj_out.len(),
            eor_sent: self.eor.is_sent(),
            steering_provisional: self.provisional,
            not_sent: self.skipped.clone(),
            last_error: self.session.last_error().map(str::to_string),
            last_notification: self.session.last_notification().map(|(dir, n, at)| {
                NotificationRecord {
                    direction: *dir,
                    code: n.code,
                    subcode: n.subcode,
                    text: n.describe(),
                    at: wall
                        .checked_sub(now.saturating_duration_since(*at))
                        .unwrap_or(wall),
                }
            }),
        }
    }

    /// End-of-RIB for every negotiated family (RFC 4724 §2).
    async fn send_eor(&mut self) {
        let Some(est) = &self.established else { return };
        let conn = est.conn;
        let msgs: Vec<Bytes> = est
            .families
            .iter()
            .filter_map(|f| wire::encode_end_of_rib(*f).ok())
            .collect();
        self.eor.sent();
        debug!(families = ?est.families, "End-of-RIB");
        let more = self.write(conn, &msgs).await;
        if more.is_empty() {
            self.session
                .sent_updates(Instant::now(), conn, msgs.len() as u64);
        }
        for i in more {
            let outs = self.session.process(Instant::now(), i.as_input());
            for o in outs {
                Box::pin(self.output(o)).await;
            }
        }
    }

    /// Brings this peer's Adj-RIB-Out to the desired routes; returns once
    /// the UPDATEs are written to the socket.
    async fn sync(&mut self) -> Result<PeerApplied, Error> {
        let Some(desired) = self.desired.clone() else {
            return Ok(PeerApplied::default());
        };
        let Some(est) = &self.established else {
            return Ok(PeerApplied::default());
        };
        let conn = est.conn;
        let four = est.four_octet_as;
        let local = self.conns.get(&conn).map(|c| c.local);
        let configured = (self.setup.next_hop_v4, self.setup.next_hop_v6);
        let next_hop_of = |family| {
            est.families
                .contains(&family)
                .then(|| next_hop(configured, family, local))
                .flatten()
        };
        let sending = Sending {
            asn: self.setup.session.local_asn,
            next_hop_v4: next_hop_of(Family::Ipv4),
            next_hop_v6: next_hop_of(Family::Ipv6),
        };
        self.skipped = not_sent(
            &desired,
            &est.families,
            &self.setup.session.families,
            sending,
        );
        let target = AdjRibOut::new(desired, sending);
        // Withdraw what is no longer wanted; announce what changed.
        let wanted = self.adj_out.changes(&target);
        let changes = wanted.count();
        let mut msgs = Vec::new();
        let peer = self.setup.address.to_string();
        let enc = |e: wire::WireError| Error::Peer {
            peer: peer.clone(),
            detail: e.detail,
        };
        for (family, ps) in &wanted.withdraw {
            msgs.extend(wire::encode_withdraw(*family, ps).map_err(enc)?);
        }
        for ((family, attrs), ps) in &wanted.announce {
            msgs.extend(wire::encode_announce(attrs, *family, ps, four).map_err(enc)?);
        }
        drop(wanted);
        let n = msgs.len();
        if n > 0 {
            let failed = self.write(conn, &msgs).await;
            if !failed.is_empty() {
                for i in failed {
                    let outs = self.session.process(Instant::now(), i.as_input());
                    for o in outs {
                        Box::pin(self.output(o)).await;
                    }
                }
                return Err(Error::Peer {
                    peer: self.setup.address.to_string(),
                    detail: "writing UPDATEs failed; the session is reset".into(),
                });
            }
            self.session.sent_updates(Instant::now(), conn, n as u64);
        }
        self.adj_out = target;
        debug!(messages = n, changes, "Adj-RIB-Out synced");
        Ok(PeerApplied {
            established: true,
            messages: n,
            changes,
            skipped: self.skipped.clone(),
        })
    }

    /// Writes `msgs` to `conn` in large batches; a failure comes back as a
    /// `Closed` input for the session.
    async fn write(&mut self, conn: ConnId, msgs: &[Bytes]) -> Vec<Owned> {
        let Some(c) = self.conns.get_mut(&conn) else {
            return Vec::new();
        };
        let mut batch = Vec::with_capacity(64 * 1024);
        for m in msgs {
            batch.extend_from_slice(m);
            if batch.len() >= 60 * 1024 {
                if !send(&mut c.writer, &batch).await {
                    return vec![Owned::Closed(conn)];
                }
                batch.clear();
            }
        }
        if !batch.is_empty() && !send(&mut c.writer, &batch).await {
            return vec![Owned::Closed(conn)];
        }
        Vec::new()
    }
}

/// How long a closed connection keeps being read, see [`linger`].
const LINGER: Duration = Duration::from_secs(2);

/// Lets the reader of a connection we closed (FIN sent) run on until the
/// peer closes too, for at most [`LINGER`]: a socket closed with unread
/// bytes in its receive buffer sends RST instead of FIN, and a RST can
/// make the peer drop the NOTIFICATION we sent just before (RFC 4271
/// §6: the NOTIFICATION explains the close) unread. What it still reads
/// goes to a connection the session no longer knows, and is ignored.
fn linger(reader: JoinHandle<()>) {
    let abort = reader.abort_handle();
    tokio::spawn(async move {
        if tokio::time::timeout(LINGER, reader).await.is_err() {
            abort.abort();
        }
    });
}

/// Writes and flushes `bytes` within `SEND_HOLD`; false on error or timeout.
async fn send(w: &mut OwnedWriteHalf, bytes: &[u8]) -> bool {
    let write = async {
        w.write_all(bytes).await?;
        w.flush().await
    };
    match tokio::time::timeout(SEND_HOLD, write).await {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            debug!(error = %e, "write failed");
            false
        }
        Err(_) => {
            warn!("peer did not take our data for {SEND_HOLD:?}: dropping the connection");
            false
        }
    }
}

/// An input produced inside the driver (owned, unlike `Input<'_>`).
enum Owned {
    Closed(ConnId),
}

impl Owned {
    fn as_input(&self) -> Input<'_> {
        match self {
            Owned::Closed(conn) => Input::Closed { conn: *conn },
        }
    }
}

async fn connect(setup: &PeerSetup) -> io::Result<TcpStream> {
    let remote = SocketAddr::new(setup.address, setup.port);
    let sock = if setup.address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(key) = &setup.md5_key {
        sockopt::set_md5(&sock, setup.address, key)?;
    }
    if setup.gtsm {
        sockopt::set_gtsm(&sock, setup.address.is_ipv6())?;
    }
    if let Some(local) = setup.local_address {
        sock.bind(SocketAddr::new(local, 0))?;
    }
    sock.connect(remote).await
}

/// Why each prefix of `desired` is not sent on a session sending as
/// `sending`: a family we offered that the peer declined, or no next hop
/// of its family.
fn not_sent(
    desired: &DesiredRib,
    negotiated: &[Family],
    offered: &[Family],
    sending: Sending,
) -> Vec<String> {
    if sending.sends(Family::Ipv4) && sending.sends(Family::Ipv6) {
        return Vec::new();
    }
    let mut why = Vec::new();
    for prefix in desired.keys() {
        let family = Family::of(prefix);
        if sending.sends(family) {
            continue;
        }
        if !negotiated.contains(&family) {
            // A family we offered that the peer declined (RFC 4760
            // §8): its prefixes cannot reach this router.
            if offered.contains(&family) {
                why.push(format!(
                    "{prefix}: the peer did not negotiate {family:?} unicast"
                ));
            }
            continue;
        }
        why.push(match family {
            Family::Ipv4 => {
                format!("{prefix}: no IPv4 next hop on this session (set bgp.next_hop_v4)")
            }
            Family::Ipv6 => {
                format!("{prefix}: no IPv6 next hop on this IPv4 session (set bgp.next_hop_v6)")
            }
        });
    }
    why
}

/// The next hop for `family`: the configured one (`bgp.next_hop_v4` /
/// `next_hop_v6`), else the session's local address when it is of the same
/// family. Never the IPv4-mapped local address of an IPv4 session for IPv6
/// prefixes: routers refuse it (bird2: "mismatched address family"); such
/// prefixes are skipped and reported instead.
fn next_hop(
    configured: (Option<IpAddr>, Option<IpAddr>),
    family: Family,
    local: Option<IpAddr>,
) -> Option<IpAddr> {
    match family {
        Family::Ipv4 => configured.0.or(local.filter(IpAddr::is_ipv4)),
        Family::Ipv6 => configured.1.or(local.filter(IpAddr::is_ipv6)),
    }
}

#[cfg(test)]
mod tests;
