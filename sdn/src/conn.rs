//! The tokio driver of one OpenFlow connection to the switch, with
//! reconnect.
//!
//! ```text
//!   Connection (handle) ── Command (mpsc) ──▶ driver task ──▶ SendQueue ──▶ write half
//!                                              ▲   │ owns Session (sans-IO),
//!   reader task (read half) ── frames (mpsc, ──┘   │ waiters by xid
//!                              bounded)            └──▶ LinkState (watch):
//!                                                       epoch, datapath id
//! ```
//!
//! Every successful handshake bumps `epoch`; the switch layer watches it to
//! reconcile after ovs-vswitchd restarts (which loses all flows).
//!
//! The driver never blocks on the switch: writes drain the bounded
//! [`SendQueue`] in a select branch (a switch that stops reading is
//! dropped as dead, see `send_queue`), and the frames channel is bounded so
//! a switch that floods orbit is slowed down by TCP, not buffered.

mod send_queue;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn, Instrument};

use crate::error::Error;
use crate::ofp::{frame_len, Body, ErrorMsg, Message, MultipartReply, MultipartRequest};
use crate::session::{Input, Output, Session, State};
use send_queue::SendQueue;
pub use send_queue::SEND_QUEUE_LIMIT;

const BACKOFF_MIN: Duration = Duration::from_millis(20);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// Decoded messages the reader may run ahead of the driver.
const FRAMES_AHEAD: usize = 64;
/// How long a closing session tries to deliver its last words.
const FAREWELL: Duration = Duration::from_millis(500);

/// What the connection looks like now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkState {
    /// Bumped on every completed handshake.
    pub epoch: u64,
    /// `Some` while the session is ready.
    pub datapath_id: Option<u64>,
}

/// Per-message errors of a batch: (index in the batch, the switch's error).
pub type BatchErrors = Vec<(usize, ErrorMsg)>;

enum Command {
    Batch {
        bodies: Vec<Body>,
        reply: oneshot::Sender<Result<BatchErrors, Error>>,
    },
    Multipart {
        request: MultipartRequest,
        reply: oneshot::Sender<Result<Vec<MultipartReply>, Error>>,
    },
}

impl Command {
    /// The caller gave up waiting (its apply timed out): nothing to send.
    fn abandoned(&self) -> bool {
        match self {
            Command::Batch { reply, .. } => reply.is_closed(),
            Command::Multipart { reply, .. } => reply.is_closed(),
        }
    }

    fn fail(self, e: Error) {
        match self {
            Command::Batch { reply, .. } => {
                let _ = reply.send(Err(e));
            }
            Command::Multipart { reply, .. } => {
                let _ = reply.send(Err(e));
            }
        }
    }
}

/// A handle to the connection; dropping it stops the driver.
#[derive(Debug)]
pub struct Connection {
    cmd: mpsc::UnboundedSender<Command>,
    state: watch::Receiver<LinkState>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Batch { bodies, .. } => write!(f, "Batch({})", bodies.len()),
            Command::Multipart { request, .. } => write!(f, "Multipart({request:?})"),
        }
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Connection {
    /// Starts connecting (and reconnecting) to `unix:PATH` or
    /// `tcp:HOST:PORT` in the background.
    pub fn spawn(endpoint: &str) -> Result<Connection, Error> {
        if !(endpoint.starts_with("unix:") || endpoint.starts_with("tcp:")) {
            return Err(Error::BadEndpoint(endpoint.to_owned()));
        }
        let (cmd, cmd_rx) = mpsc::unbounded_channel();
        let (state_tx, state) = watch::channel(LinkState::default());
        let span = tracing::info_span!("openflow", switch = %endpoint);
        let task = tokio::spawn(drive(endpoint.to_owned(), cmd_rx, state_tx).instrument(span));
        Ok(Connection { cmd, state, task })
    }

    pub fn state(&self) -> watch::Receiver<LinkState> {
        self.state.clone()
    }

    /// Waits until a session is ready; returns its link state.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<LinkState, Error> {
        let mut rx = self.state.clone();
        let ready = tokio::time::timeout(timeout, rx.wait_for(|s| s.datapath_id.is_some()))
            .await
            .map_err(|_| Error::Timeout {
                what: "the OpenFlow handshake",
                ms: millis(timeout),
            })?
            .map_err(|_| Error::Disconnected)?
            .clone();
        Ok(ready)
    }

    /// Sends `bodies` in order followed by a BARRIER_REQUEST and returns
    /// once the BARRIER_REPLY arrived: by then the switch has processed
    /// every message (OpenFlow 1.3.5 §6.2). Errors the switch reported for
    /// individual messages are returned with their index.
    pub async fn transact(&self, bodies: Vec<Body>) -> Result<BatchErrors, Error> {
        let (reply, rx) = oneshot::channel();
        self.cmd
            .send(Command::Batch { bodies, reply })
            .map_err(|_| Error::Disconnected)?;
        rx.await.map_err(|_| Error::Disconnected)?
    }

    /// Sends a multipart request and returns every part of the reply.
    pub async fn multipart(&self, request: MultipartRequest) -> Result<Vec<MultipartReply>, Error> {
        let (reply, rx) = oneshot::channel();
        self.cmd
            .send(Command::Multipart { request, reply })
            .map_err(|_| Error::Disconnected)?;
        rx.await.map_err(|_| Error::Disconnected)?
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

type Reader = Box<dyn AsyncRead + Unpin + Send>;
type Writer = Box<dyn AsyncWrite + Unpin + Send>;

async fn connect(endpoint: &str) -> std::io::Result<(Reader, Writer)> {
    if let Some(path) = endpoint.strip_prefix("unix:") {
        let (r, w) = tokio::net::UnixStream::connect(path).await?.into_split();
        Ok((Box::new(r), Box::new(w)))
    } else {
        let addr = endpoint.strip_prefix("tcp:").unwrap_or(endpoint);
        let s = tokio::net::TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        let (r, w) = s.into_split();
        Ok((Box::new(r), Box::new(w)))
    }
}

async fn drive(
    endpoint: String,
    mut cmd_rx: mpsc::UnboundedReceiver<Command>,
    state_tx: watch::Sender<LinkState>,
) {
    let mut backoff = BACKOFF_MIN;
    loop {
        match connect(&endpoint).await {
            Ok((r, w)) => {
                backoff = BACKOFF_MIN;
                match run_session(&endpoint, r, w, &mut cmd_rx, &state_tx).await {
                    Ok(()) => return, // every handle is gone
                    Err(e) => warn!(error = %e, "switch connection ended; reconnecting"),
                }
            }
            Err(e) => debug!(error = %e, "cannot connect to the switch"),
        }
        state_tx.send_modify(|s| s.datapath_id = None);
        // Requests made while the switch is away fail at once: the caller
        // (apply) reports Unreachable and the previous state stays.
        let sleep = tokio::time::sleep(backoff);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                _ = &mut sleep => break,
                c = cmd_rx.recv() => match c {
                    Some(c) => c.fail(Error::Disconnected),
                    None => return,
                },
            }
        }
        backoff = (backoff * 2).min(BACKOFF_MAX);
    }
}

/// A batch waiting for its barrier: message xids are `first..barrier`.
struct PendingBatch {
    first: u32,
    barrier: u32,
    errors: BatchErrors,
    reply: oneshot::Sender<Result<BatchErrors, Error>>,
}

struct Waiters {
    batches: VecDeque<PendingBatch>,
    multipart: HashMap<u32, oneshot::Sender<Result<Vec<MultipartReply>, Error>>>,
}

impl Waiters {
    fn fail_all(&mut self, why: impl Fn() -> Error) {
        for b in self.batches.drain(..) {
            let _ = b.reply.send(Err(why()));
        }
        for (_, m) in self.multipart.drain() {
            let _ = m.send(Err(why()));
        }
    }
}

async fn reader(endpoint: String, mut r: Reader, tx: mpsc::Sender<Result<Message, Error>>) {
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 16);
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        loop {
            match frame_len(&buf) {
                Ok(Some(len)) if buf.len() >= len => {
                    let msg = Message::decode(&buf[..len]).map_err(Error::from);
                    buf.drain(..len);
                    let failed = msg.is_err();
                    if tx.send(msg).await.is_err() || failed {
                        return;
                    }
                }
                Ok(_) => break,
                Err(e) => {
                    let _ = tx.send(Err(e.into())).await;
                    return;
                }
            }
        }
        match r.read(&mut chunk).await {
            Ok(0) => {
                let _ = tx.send(Err(Error::Disconnected)).await;
                return;
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => {
                let _ = tx
                    .send(Err(Error::Io {
                        endpoint,
                        source: e,
                    }))
                    .await;
                return;
            }
        }
    }
}

/// Runs one connection until it fails (`Err`) or every handle is dropped
/// (`Ok`).
async fn run_session(
    endpoint: &str,
    r: Reader,
    mut w: Writer,
    cmd_rx: &mut mpsc::UnboundedReceiver<Command>,
    state_tx: &watch::Sender<LinkState>,
) -> Result<(), Error> {
    let (frames_tx, mut frames) = mpsc::channel(FRAMES_AHEAD);
    let read_task = tokio::spawn(reader(endpoint.to_owned(), r, frames_tx));
    struct AbortOnDrop(tokio::task::JoinHandle<()>);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let _guard = AbortOnDrop(read_task);

    let mut session = Session::new(std::time::Instant::now());
    let mut waiters = Waiters {
        batches: VecDeque::new(),
        multipart: HashMap::new(),
    };
    let mut queued: Vec<Command> = Vec::new();
    let mut out = SendQueue::new(endpoint);
    let mut tick = tokio::time::interval(Duration::from_secs(1));

    let result: Result<(), Error> = async {
        let o = session.process(std::time::Instant::now(), Input::Connected);
        handle(o, &mut out, state_tx, &mut waiters)?;
        loop {
            tokio::select! {
                n = w.write(out.pending()), if out.queued() > 0 => {
                    match n {
                        Ok(0) => return Err(Error::Disconnected),
                        Ok(n) => out.written(n),
                        Err(source) => {
                            return Err(Error::Io { endpoint: endpoint.to_owned(), source })
                        }
                    }
                }
                f = frames.recv() => {
                    let msg = f.unwrap_or(Err(Error::Disconnected))?;
                    let was_ready = matches!(session.state(), State::Ready { .. });
                    let o = session.process(std::time::Instant::now(), Input::Received(msg));
                    handle(o, &mut out, state_tx, &mut waiters)?;
                    if !was_ready && matches!(session.state(), State::Ready { .. }) {
                        for c in queued.drain(..) {
                            submit(c, &mut session, &mut out, &mut waiters)?;
                        }
                    }
                }
                c = cmd_rx.recv() => {
                    let Some(c) = c else { return Ok(()) };
                    if matches!(session.state(), State::Ready { .. }) {
                        submit(c, &mut session, &mut out, &mut waiters)?;
                    } else {
                        // Until the handshake completes; callers that
                        // gave up meanwhile are not kept.
                        queued.retain(|c| !c.abandoned());
                        queued.push(c);
                    }
                }
                _ = tick.tick() => {
                    let o = session.process(std::time::Instant::now(), Input::Tick);
                    handle(o, &mut out, state_tx, &mut waiters)?;
                }
            }
        }
    }
    .await;
    if let Err(Error::Session(_)) = &result {
        // The session closed it and may have said why (HELLO_FAILED):
        // let that reach the switch, briefly.
        let _ = tokio::time::timeout(FAREWELL, w.write_all(out.pending())).await;
    }
    // Waiting callers learn why the session ended (a full send queue, a
    // silent switch ...), not only that it did.
    let reason = match &result {
        Ok(()) => None,
        Err(Error::Session(r)) => Some(r.clone()),
        Err(e) => Some(e.to_string()),
    };
    let why = || reason.clone().map_or(Error::Disconnected, Error::Session);
    waiters.fail_all(why);
    for c in queued {
        c.fail(why());
    }
    result
}

fn submit(
    c: Command,
    session: &mut Session,
    out: &mut SendQueue,
    waiters: &mut Waiters,
) -> Result<(), Error> {
    match c {
        Command::Batch { bodies, reply } => {
            let first = session.next_xid();
            let mut bytes = Vec::with_capacity(bodies.len() * 128);
            let mut xid = first;
            for b in bodies {
                match Message::new(xid, b).encode() {
                    Ok(e) => bytes.extend_from_slice(&e),
                    Err(e) => {
                        let _ = reply.send(Err(e.into()));
                        return Ok(());
                    }
                }
                xid = session.next_xid();
            }
            let barrier = xid;
            bytes.extend_from_slice(&Message::new(barrier, Body::BarrierRequest).encode()?);
            waiters.batches.push_back(PendingBatch {
                first,
                barrier,
                errors: Vec::new(),
                reply,
            });
            out.push(&bytes)
        }
        Command::Multipart { request, reply } => {
            let xid = session.next_xid();
            let msg = Message::new(xid, Body::MultipartRequest { flags: 0, request });
            match msg.encode() {
                Ok(bytes) => {
                    waiters.multipart.insert(xid, reply);
                    out.push(&bytes)
                }
                Err(e) => {
                    let _ = reply.send(Err(e.into()));
                    Ok(())
                }
            }
        }
    }
}

fn handle(
    outputs: Vec<Output>,
    out: &mut SendQueue,
    state_tx: &watch::Sender<LinkState>,
    waiters: &mut Waiters,
) -> Result<(), Error> {
    for o in outputs {
        match o {
            Output::Send(m) => out.push(&m.encode()?)?,
            Output::Ready { datapath_id } => {
                info!(
                    datapath_id = format!("{datapath_id:016x}"),
                    "switch session ready"
                );
                state_tx.send_modify(|s| {
                    s.epoch += 1;
                    s.datapath_id = Some(datapath_id);
                });
            }
            Output::Multipart { xid, parts } => {
                if let Some(tx) = waiters.multipart.remove(&xid) {
                    let _ = tx.send(Ok(parts));
                }
            }
            Output::Barrier { xid } => {
                // Barriers complete in order; one we do not know is an
                // answer to nothing.
                match waiters.batches.front() {
                    Some(b) if b.barrier == xid => {
                        if let Some(b) = waiters.batches.pop_front() {
                            let _ = b.reply.send(Ok(b.errors));
                        }
                    }
                    _ => warn!(xid, "BARRIER_REPLY for no pending barrier"),
                }
            }
            Output::Error { xid, error } => {
                if let Some(tx) = waiters.multipart.remove(&xid) {
                    let _ = tx.send(Err(Error::Rejected {
                        count: 1,
                        first: error.describe(),
                    }));
                } else if let Some(b) = waiters
                    .batches
                    .iter_mut()
                    .find(|b| (b.first..=b.barrier).contains(&xid))
                {
                    let idx = usize::try_from(xid.wrapping_sub(b.first)).unwrap_or(usize::MAX);
                    b.errors.push((idx, error));
                } else {
                    warn!(xid, error = %error.describe(), "switch error for no pending request");
                }
            }
            Output::PortStatus(p) => {
                info!(
                    port = p.desc.port_no,
                    name = %p.desc.name,
                    live = p.desc.is_live(),
                    reason = ?p.reason,
                    "port status"
                );
            }
            Output::Close(reason) => return Err(Error::Session(reason)),
        }
    }
    Ok(())
}
