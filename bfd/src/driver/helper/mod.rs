//! The driver in a child process, so that BFD keeps answering while the
//! process that owns it is stalled or, for an adoptable helper, restarting.
//!
//! BFD says whether the forwarding path works (RFC 5880 §1). A daemon that
//! runs it in-process turns its own stall (a long pause, SIGSTOP, CPU
//! starvation) into a path failure after a few tens of milliseconds: the
//! peer tears BGP down and traffic leaves a site whose data plane never
//! stopped forwarding. The same holds for a crash followed by a restart
//! within the BGP graceful-restart time (RFC 4724): the data plane keeps
//! forwarding, but a BFD Down makes the peer flush the routes instead of
//! keeping them as stale (RFC 5882 §4.3.2).
//!
//! The owner keeps the same [`BfdHandle`]: a proxy task turns its commands
//! into JSON lines to the helper and the helper's lines back into replies
//! and [`BfdEvent`]s, and starts the helper again if it dies, replaying
//! every session into it (the peers see the sessions go Down and come
//! back, rather than stay gone). [`serve`] is the helper's side.
//!
//! How a helper ends:
//! - the owner leaves on purpose ([`BfdHandle::release`], after removing or
//!   disabling its sessions): it says `Bye` and the helper exits at once;
//! - the owner dies without a word (kill -9, panic, OOM): the helper reads
//!   EOF. One from [`spawn`] exits, and the peers see its sessions time
//!   out. One from [`adopt_or_spawn`] is *orphaned*: it keeps every session
//!   running for at most its linger time (the owner sets it to the BGP
//!   graceful-restart time) and waits on its unix socket for the restarted
//!   owner, which adopts it: same sessions, same discriminators, nothing
//!   for the peers to see. Nobody in time (or SIGTERM/SIGINT while
//!   orphaned): it exits, and the sessions time out at the peers, as they
//!   should when the restart did not happen.
//!
//! ```text
//!  owner: BfdHandle ─► Proxy ──[id, Request] lines──► helper: serve ─► Driver (sessions, UDP)
//!                            ◄──Message lines──────
//!        child's stdin/stdout, or after an adoption the unix stream
//!
//!  helper's socket (0600): while owned, a connection gets Hello::Refused;
//!  while orphaned, [0, Adopt] gets Hello::Adopted { sessions } and the
//!  connection becomes the owner's line
//! ```

mod serve;

pub use serve::serve;

use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, Lines};
use tokio::net::{UnixListener, UnixStream};
use tokio::process::Child;
use tokio::sync::{mpsc, oneshot};

use super::{
    start_dedicated, AbortOnDrop, BfdEvent, BfdHandle, Command, DriverConfig, DriverStatus,
    LoopInput, PeerConfig, SessionKey,
};
use crate::session::Timing;
use crate::Error;

/// Version of the line protocol. An owner adopts only a helper that speaks
/// its own; any other is told goodbye and replaced.
pub const PROTOCOL: u32 = 1;

/// How long an owner waits for a helper's answer when adopting or
/// releasing it, and for a rival owner's lock.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(2);

/// Where an orphaned helper waits for a new owner, and for how long.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Adoptable {
    /// The unix socket the helper listens on (mode 0600) for its whole
    /// life: while owned it refuses every connection, while orphaned it
    /// can be adopted. A path of the owner's own (its state directory):
    /// two owners must never share one.
    pub socket: PathBuf,
    /// How long an orphaned helper keeps its sessions up waiting to be
    /// adopted; zero: it exits with its owner.
    pub linger: Duration,
}

/// One session an adopted helper runs, as its last owner configured it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeldSession {
    pub config: PeerConfig,
    pub admin_down: bool,
}

/// What [`adopt_or_spawn`] and [`adopt`] found.
#[derive(Debug)]
pub struct Started {
    pub handle: BfdHandle,
    pub events: mpsc::UnboundedReceiver<BfdEvent>,
    /// An orphaned helper was adopted: reconcile against its sessions.
    /// `None`: a new helper was started, with no session.
    pub adopted: Option<Adopted>,
}

/// The orphaned helper that was adopted.
#[derive(Debug, Clone)]
pub struct Adopted {
    pub pid: u32,
    pub sessions: Vec<HeldSession>,
}

/// Owner -> helper, one JSON line each, tagged with an id.
#[derive(Debug, Serialize, Deserialize)]
enum Request {
    Add(PeerConfig),
    Remove(SessionKey),
    Admin(SessionKey, bool),
    SetTiming(SessionKey, Timing),
    Status,
    /// Listen on this socket; wait this long for adoption when orphaned.
    Adoptable(Adoptable),
    /// The first line of an owner that connects to the socket.
    Adopt {
        protocol: u32,
    },
    /// The owner leaves on purpose: exit now, do not wait for adoption.
    Bye,
}

/// Helper -> owner, one JSON line each.
#[derive(Debug, Serialize, Deserialize)]
enum Message {
    Reply {
        id: u64,
        reply: Reply,
    },
    Event(BfdEvent),
    /// The answer to `Adopt`.
    Hello(Hello),
}

#[derive(Debug, Serialize, Deserialize)]
enum Hello {
    /// The connection now owns the helper. `netns`: the inode of the
    /// helper's network namespace, since a socket path can be reached
    /// from another namespace whose helper's sessions would be useless.
    Adopted {
        protocol: u32,
        pid: u32,
        netns: Option<u64>,
        sessions: Vec<HeldSession>,
    },
    /// Another owner is connected: only one at a time.
    Refused { pid: u32 },
}

#[derive(Debug, Serialize, Deserialize)]
enum Reply {
    Added(Result<SessionKey, String>),
    Done(bool),
    Status(DriverStatus),
    Result(Result<(), String>),
}

/// A command waiting for the helper's reply.
enum Pending {
    /// The config is kept to replay the session if the helper restarts.
    Added(PeerConfig, oneshot::Sender<Result<SessionKey, Error>>),
    Done(oneshot::Sender<bool>),
    Status(oneshot::Sender<DriverStatus>),
    Result(oneshot::Sender<Result<(), Error>>),
}

/// Requests sent to replay the sessions into a restarted helper, and the
/// adoption handshake, carry this id; their replies are not waited for.
const REPLAY_ID: u64 = 0;

/// Longest wait between attempts to restart a helper that keeps failing.
const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(5);

type LineReader = Lines<BufReader<Box<dyn AsyncRead + Send + Unpin>>>;

fn line_reader(read: impl AsyncRead + Send + Unpin + 'static) -> LineReader {
    BufReader::new(Box::new(read) as Box<dyn AsyncRead + Send + Unpin>).lines()
}

/// One running helper and the line to it: a child's pipes, or the unix
/// stream of an adopted helper (not our child).
struct Helper {
    child: Option<Child>,
    writer: Box<dyn AsyncWrite + Send + Unpin>,
    lines: LineReader,
}

impl Helper {
    /// `exits_with_owner`: kill it when the proxy is dropped. Not for an
    /// adoptable helper, which must survive whatever way we die (an
    /// unwinding panic drops the `Child` too); it is released instead.
    fn launch(program: &OsStr, args: &[String], exits_with_owner: bool) -> Result<Helper, Error> {
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(exits_with_owner)
            .spawn()
            .map_err(|e| Error::Helper(format!("cannot start the helper process: {e}")))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(Error::Helper("the helper process has no pipes".into()));
        };
        Ok(Helper {
            child: Some(child),
            writer: Box::new(stdin),
            lines: line_reader(stdout),
        })
    }

    async fn send(&mut self, id: u64, request: &Request) -> io::Result<()> {
        let mut line = serde_json::to_string(&(id, request)).map_err(io::Error::other)?;
        line.push('\n');
        self.writer.write_all(line.as_bytes()).await?;
        self.writer.flush().await
    }

    /// Says goodbye and waits (bounded) until the helper's end closes: it
    /// has exited, so its UDP ports are free for whoever comes next.
    /// `on_line` sees what it still says meanwhile.
    async fn bye(&mut self, mut on_line: impl FnMut(&str)) -> bool {
        if self.send(REPLAY_ID, &Request::Bye).await.is_err() {
            return self.child.is_none();
        }
        let closed = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
            while let Ok(Some(line)) = self.lines.next_line().await {
                on_line(&line);
            }
        })
        .await
        .is_ok();
        if let Some(child) = &mut self.child {
            if !closed {
                let _ = child.start_kill();
            }
            let _ = tokio::time::timeout(HANDSHAKE_TIMEOUT, child.wait()).await;
            return true;
        }
        closed
    }
}

/// Starts `program args…` as the helper (it must call [`serve`]) and
/// returns a handle to it. If the helper dies, it is started again and
/// told every session once more. The helper exits with its owner (EOF on
/// its stdin) and is killed when the last handle is dropped.
pub fn spawn(
    program: impl AsRef<OsStr>,
    args: &[&str],
) -> Result<(BfdHandle, mpsc::UnboundedReceiver<BfdEvent>), Error> {
    let program = program.as_ref().to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let helper = Helper::launch(&program, &args, true)?;
    Ok(run_proxy(
        Proxy::new(program, args, BTreeMap::new()),
        helper,
    ))
}

/// Adopts the orphaned helper waiting on `adoptable.socket`, or else starts
/// a new one, which listens there. Either way the helper then waits
/// `adoptable.linger` for adoption should we die without releasing it.
///
/// Adoption comes first because an orphan still holds the BFD ports (they
/// are bound with SO_REUSEADDR, so a second helper would bind them too and
/// the two would answer the same peers with different discriminators).
/// A stale socket (nobody listening) is removed. Fails, starting nothing,
/// when another owner holds the helper (a second daemon on the same state
/// directory) or a helper listens but does not answer.
pub async fn adopt_or_spawn(
    program: impl AsRef<OsStr>,
    args: &[&str],
    adoptable: Adoptable,
) -> Result<Started, Error> {
    let program = program.as_ref().to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    // Two owners starting at once: the second finds the first's helper
    // owned instead of starting a second helper on the same ports.
    let _lock = lock(&adoptable.socket).await?;
    let (helper, adopted) = match find(&adoptable.socket).await? {
        Some((helper, adopted)) => (helper, Some(adopted)),
        None => (Helper::launch(&program, &args, false)?, None),
    };
    finish_start(program, args, adoptable, helper, adopted).await
}

/// Adopts the orphaned helper waiting on `socket`, if there is one (to
/// release it when its sessions are no longer wanted). The helper's linger
/// time is left as it was.
pub async fn adopt(
    program: impl AsRef<OsStr>,
    args: &[&str],
    socket: &Path,
) -> Result<Option<Started>, Error> {
    let program = program.as_ref().to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let _lock = lock(socket).await?;
    let Some((helper, adopted)) = find(socket).await? else {
        return Ok(None);
    };
    let mut proxy = Proxy::new(program, args, held_map(&adopted.sessions));
    proxy.adoptable = Some(Adoptable {
        socket: socket.to_owned(),
        linger: Duration::ZERO,
    });
    let (handle, events) = run_proxy(proxy, helper);
    Ok(Some(Started {
        handle,
        events,
        adopted: Some(adopted),
    }))
}

async fn finish_start(
    program: OsString,
    args: Vec<String>,
    adoptable: Adoptable,
    helper: Helper,
    adopted: Option<Adopted>,
) -> Result<Started, Error> {
    let held = adopted
        .as_ref()
        .map(|a| held_map(&a.sessions))
        .unwrap_or_default();
    let (handle, events) = run_proxy(Proxy::new(program, args, held), helper);
    // A new helper binds the socket; an adopted one takes the new linger.
    if let Err(error) = handle.set_adoptable(adoptable).await {
        let _ = handle.release().await;
        return Err(error);
    }
    Ok(Started {
        handle,
        events,
        adopted,
    })
}

fn held_map(sessions: &[HeldSession]) -> BTreeMap<SessionKey, (PeerConfig, bool)> {
    sessions
        .iter()
        .map(|s| (s.config.key(), (s.config.clone(), s.admin_down)))
        .collect()
}

impl BfdHandle {
    /// Helper processes only: listen on `adoptable.socket` (a new helper)
    /// and wait `adoptable.linger` for adoption if this owner dies without
    /// releasing the helper.
    pub async fn set_adoptable(&self, adoptable: Adoptable) -> Result<(), Error> {
        self.call(|tx| Command::Adoptable(adoptable, tx)).await?
    }
}

/// The lock file beside the socket, held while looking for a helper and
/// starting one.
async fn lock(socket: &Path) -> Result<nix::fcntl::Flock<std::fs::File>, Error> {
    let mut path = socket.as_os_str().to_owned();
    path.push(".lock");
    let path = PathBuf::from(path);
    let deadline = tokio::time::Instant::now() + HANDSHAKE_TIMEOUT;
    loop {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| Error::Helper(format!("BFD helper lock {}: {e}", path.display())))?;
        match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
            Ok(lock) => return Ok(lock),
            Err((_, errno)) if tokio::time::Instant::now() >= deadline => {
                return Err(Error::Helper(format!(
                    "BFD helper lock {}: {errno}: another process is starting its BFD \
                     helper with the same state directory",
                    path.display()
                )))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// This process's network namespace (its inode), if /proc tells.
fn netns() -> Option<u64> {
    std::fs::metadata("/proc/self/ns/net").ok().map(|m| m.ino())
}

/// What [`find`] says when the helper closed the connection without a
/// word: it may be exiting (its linger just ran out), so look again.
const CLOSED: &str = "the BFD helper closed the connection without a word";

/// [`find_once`], looked again a few times while the helper there closes
/// connections without a word (it is exiting: its socket goes next).
async fn find(socket: &Path) -> Result<Option<(Helper, Adopted)>, Error> {
    let mut attempts = 0;
    loop {
        match find_once(socket).await {
            Err(Error::Helper(message)) if message.starts_with(CLOSED) && attempts < 5 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

/// Connects to the helper at `socket` and adopts it if it is orphaned.
/// `None`: nobody there (a stale socket is removed), or a helper we
/// cannot use (another protocol, another network namespace) that was told
/// goodbye.
async fn find_once(socket: &Path) -> Result<Option<(Helper, Adopted)>, Error> {
    let shown = socket.display();
    let stream = match UnixStream::connect(socket).await {
        Ok(stream) => stream,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            // Nobody listens: a helper that died (or a reboot) left it.
            tracing::info!(socket = %shown, "removing a stale BFD helper socket");
            match std::fs::remove_file(socket) {
                Ok(()) => return Ok(None),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(Error::Helper(format!("removing {shown}: {e}"))),
            }
        }
        Err(e) => return Err(Error::Helper(format!("BFD helper socket {shown}: {e}"))),
    };
    let (read, write) = stream.into_split();
    let mut helper = Helper {
        child: None,
        writer: Box::new(write),
        lines: line_reader(read),
    };
    let answer = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        helper
            .send(REPLAY_ID, &Request::Adopt { protocol: PROTOCOL })
            .await?;
        helper.lines.next_line().await
    })
    .await;
    let line = match answer {
        Ok(Ok(Some(line))) => line,
        Ok(_) => return Err(Error::Helper(format!("{CLOSED}: {shown}"))),
        Err(_) => {
            return Err(Error::Helper(format!(
                "a BFD helper listens at {shown} but did not answer within {HANDSHAKE_TIMEOUT:?}; \
                 it holds the BFD ports, so no other is started (is it stopped?)"
            )))
        }
    };
    match serde_json::from_str::<Message>(&line) {
        Ok(Message::Hello(Hello::Adopted {
            protocol,
            pid,
            netns: theirs,
            sessions,
        })) => {
            let ours = netns();
            if protocol == PROTOCOL && (theirs.is_none() || theirs == ours) {
                return Ok(Some((helper, Adopted { pid, sessions })));
            }
            tracing::warn!(
                pid,
                protocol,
                ?theirs,
                ?ours,
                "the orphaned BFD helper speaks another protocol or runs in another network \
                 namespace: telling it goodbye and starting a new one"
            );
            if helper.bye(|_| {}).await {
                Ok(None)
            } else {
                Err(Error::Helper(format!(
                    "the BFD helper at {shown} (pid {pid}) did not leave when told to"
                )))
            }
        }
        Ok(Message::Hello(Hello::Refused { pid })) => Err(Error::Helper(format!(
            "the BFD helper at {shown} (pid {pid}) belongs to another running process: only \
             one orbitd may run with this state directory"
        ))),
        _ => Err(Error::Helper(format!(
            "the BFD helper at {shown} answered something unexpected: {line}"
        ))),
    }
}

fn run_proxy(proxy: Proxy, helper: Helper) -> (BfdHandle, mpsc::UnboundedReceiver<BfdEvent>) {
    let (tx, rx) = mpsc::channel(1024);
    let (events, events_rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(Proxy { events, ..proxy }.run(helper, rx));
    (
        BfdHandle {
            tx,
            _guard: Arc::new(AbortOnDrop(task)),
        },
        events_rx,
    )
}

/// The owner's side: commands out, replies and events in, and the helper
/// restarted when it dies. Ends on a release, or (killing a helper that
/// exits with its owner) when the handles are gone.
struct Proxy {
    program: OsString,
    args: Vec<String>,
    /// Set once the helper listens for adoption; replayed into a
    /// restarted helper.
    adoptable: Option<Adoptable>,
    /// Every session the helper runs, with its AdminDown flag: replayed
    /// into a restarted helper.
    sessions: BTreeMap<SessionKey, (PeerConfig, bool)>,
    pending: HashMap<u64, Pending>,
    next_id: u64,
    events: mpsc::UnboundedSender<BfdEvent>,
}

impl Proxy {
    fn new(
        program: OsString,
        args: Vec<String>,
        sessions: BTreeMap<SessionKey, (PeerConfig, bool)>,
    ) -> Proxy {
        Proxy {
            program,
            args,
            adoptable: None,
            sessions,
            pending: HashMap::new(),
            next_id: REPLAY_ID,
            // Replaced by `run_proxy`.
            events: mpsc::unbounded_channel().0,
        }
    }

    async fn run(mut self, mut helper: Helper, mut commands: mpsc::Receiver<LoopInput>) {
        loop {
            let alive = tokio::select! {
                input = commands.recv() => {
                    let Some(input) = input else { return };
                    let LoopInput::Command(command) = input else { continue };
                    if let Command::Release(done) = command {
                        if !helper.bye(|line| self.receive(line)).await {
                            tracing::warn!("the BFD helper did not leave when told to");
                        }
                        let _ = done.send(());
                        return;
                    }
                    self.forward(&mut helper, command).await
                }
                line = helper.lines.next_line() => match line {
                    Ok(Some(line)) => {
                        self.receive(&line);
                        true
                    }
                    Ok(None) | Err(_) => false,
                },
            };
            if !alive {
                helper = self.restart().await;
            }
        }
    }

    /// Sends one command; false when the helper is gone.
    async fn forward(&mut self, helper: &mut Helper, command: Command) -> bool {
        let (request, waiter) = match command {
            Command::Add(peer, reply) => (Request::Add(peer.clone()), Pending::Added(peer, reply)),
            Command::Remove(key, reply) => {
                self.sessions.remove(&key);
                (Request::Remove(key), Pending::Done(reply))
            }
            Command::Admin(key, down, reply) => {
                if let Some((_, admin_down)) = self.sessions.get_mut(&key) {
                    *admin_down = down;
                }
                (Request::Admin(key, down), Pending::Done(reply))
            }
            Command::SetTiming(key, timing, reply) => {
                if let Some((peer, _)) = self.sessions.get_mut(&key) {
                    peer.timing = timing;
                }
                (Request::SetTiming(key, timing), Pending::Done(reply))
            }
            Command::Status(reply) => (Request::Status, Pending::Status(reply)),
            Command::Adoptable(adoptable, reply) => {
                self.adoptable = Some(adoptable.clone());
                (Request::Adoptable(adoptable), Pending::Result(reply))
            }
            // Handled by `run`.
            Command::Release(done) => {
                let _ = done.send(());
                return true;
            }
        };
        self.next_id += 1;
        if helper.send(self.next_id, &request).await.is_err() {
            return false;
        }
        self.pending.insert(self.next_id, waiter);
        true
    }

    fn receive(&mut self, line: &str) {
        match serde_json::from_str::<Message>(line) {
            Ok(Message::Event(event)) => {
                let _ = self.events.send(event);
            }
            Ok(Message::Reply { id: REPLAY_ID, .. }) => {}
            Ok(Message::Reply { id, reply }) => {
                if let (Some(Pending::Added(peer, _)), Reply::Added(Ok(key))) =
                    (self.pending.get(&id), &reply)
                {
                    self.sessions.insert(*key, (peer.clone(), false));
                }
                answer(self.pending.remove(&id), reply);
            }
            Ok(Message::Hello(hello)) => {
                tracing::warn!(
                    ?hello,
                    "an unexpected hello from the BFD helper was ignored"
                );
            }
            Err(error) => tracing::warn!(%error, "a bad line from the BFD helper was ignored"),
        }
    }

    /// Finds the helper again (an adoptable one whose line broke may still
    /// be alive, orphaned: adopt it, it holds the ports) or starts a new
    /// one (with back-off while that fails), and tells it every session
    /// again. Commands waiting for the dead line fail.
    async fn restart(&mut self) -> Helper {
        self.pending.clear();
        let mut backoff = Duration::from_millis(100);
        loop {
            tracing::error!(
                sessions = self.sessions.len(),
                "the BFD helper process exited: starting it again"
            );
            let found = match &self.adoptable {
                Some(a) => find(&a.socket).await.map(|f| f.map(|(helper, _)| helper)),
                None => Ok(None),
            };
            let helper = match found {
                Ok(Some(helper)) => Ok(helper),
                Ok(None) => Helper::launch(&self.program, &self.args, self.adoptable.is_none()),
                Err(error) => Err(error),
            };
            match helper {
                Ok(mut helper) => {
                    let mut replayed = true;
                    if let Some(a) = &self.adoptable {
                        replayed &= helper
                            .send(REPLAY_ID, &Request::Adoptable(a.clone()))
                            .await
                            .is_ok();
                    }
                    // An adopted helper that still runs a session refuses
                    // the duplicate: harmless.
                    for (peer, admin_down) in self.sessions.values() {
                        let key = peer.key();
                        replayed &= helper
                            .send(REPLAY_ID, &Request::Add(peer.clone()))
                            .await
                            .is_ok();
                        if *admin_down {
                            replayed &= helper
                                .send(REPLAY_ID, &Request::Admin(key, true))
                                .await
                                .is_ok();
                        }
                    }
                    if replayed {
                        return helper;
                    }
                }
                Err(error) => tracing::error!(%error, "BFD helper restart failed"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_RESTART_BACKOFF);
        }
    }
}

fn answer(waiter: Option<Pending>, reply: Reply) {
    match (waiter, reply) {
        (Some(Pending::Added(_, tx)), Reply::Added(result)) => {
            let _ = tx.send(result.map_err(Error::Helper));
        }
        (Some(Pending::Done(tx)), Reply::Done(done)) => {
            let _ = tx.send(done);
        }
        (Some(Pending::Status(tx)), Reply::Status(status)) => {
            let _ = tx.send(status);
        }
        (Some(Pending::Result(tx)), Reply::Result(result)) => {
            let _ = tx.send(result.map_err(Error::Helper));
        }
        (_, reply) => tracing::warn!(?reply, "a BFD helper reply matched no request"),
    }
}
