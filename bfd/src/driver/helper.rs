//! The driver in a child process, so that BFD keeps answering while the
//! process that owns it is stalled.
//!
//! BFD says whether the forwarding path works (RFC 5880 §1). A daemon that
//! runs it in-process turns its own stall (a long pause, SIGSTOP, CPU
//! starvation) into a path failure after a few tens of milliseconds: the
//! peer tears BGP down and traffic leaves a site whose data plane never
//! stopped forwarding. In a helper process the sessions live on; if the
//! owner really dies, the helper reads EOF on its stdin and exits, and the
//! peers see the sessions time out, as they should.
//!
//! The owner keeps the same [`BfdHandle`]: a proxy task turns its commands
//! into JSON lines on the helper's stdin and the helper's stdout lines back
//! into replies and [`BfdEvent`]s, and starts the helper again if it dies,
//! replaying every session into it (the peers see the sessions go Down and
//! come back, rather than stay gone). [`serve`] is the helper's side.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::{mpsc, oneshot};

use super::{
    start, AbortOnDrop, BfdEvent, BfdHandle, Command, DriverConfig, DriverStatus, LoopInput,
    PeerConfig, SessionKey,
};
use crate::session::Timing;
use crate::Error;

/// Owner -> helper, one JSON line each, tagged with an id.
#[derive(Debug, Serialize, Deserialize)]
enum Request {
    Add(PeerConfig),
    Remove(SessionKey),
    Admin(SessionKey, bool),
    SetTiming(SessionKey, Timing),
    Status,
}

/// Helper -> owner, one JSON line each.
#[derive(Debug, Serialize, Deserialize)]
enum Message {
    Reply { id: u64, reply: Reply },
    Event(BfdEvent),
}

#[derive(Debug, Serialize, Deserialize)]
enum Reply {
    Added(Result<SessionKey, String>),
    Done(bool),
    Status(DriverStatus),
}

/// A command waiting for the helper's reply.
enum Pending {
    /// The config is kept to replay the session if the helper restarts.
    Added(PeerConfig, oneshot::Sender<Result<SessionKey, Error>>),
    Done(oneshot::Sender<bool>),
    Status(oneshot::Sender<DriverStatus>),
}

/// Requests sent to replay the sessions into a restarted helper carry this
/// id; their replies are not waited for.
const REPLAY_ID: u64 = 0;

/// Longest wait between attempts to restart a helper that keeps failing.
const MAX_RESTART_BACKOFF: Duration = Duration::from_secs(5);

/// One running helper process and its pipes.
struct Helper {
    _child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Helper {
    fn launch(program: &OsStr, args: &[String]) -> Result<Helper, Error> {
        let mut child = tokio::process::Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Error::Helper(format!("cannot start the helper process: {e}")))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(Error::Helper("the helper process has no pipes".into()));
        };
        Ok(Helper {
            _child: child,
            stdin,
            lines: BufReader::new(stdout).lines(),
        })
    }

    async fn send(&mut self, id: u64, request: &Request) -> std::io::Result<()> {
        let mut line = serde_json::to_string(&(id, request)).map_err(std::io::Error::other)?;
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await
    }
}

/// Starts `program args…` as the helper (it must call [`serve`]) and
/// returns a handle to it. If the helper dies, it is started again and
/// told every session once more. The helper is killed when the last handle
/// is dropped.
pub fn spawn(
    program: impl AsRef<OsStr>,
    args: &[&str],
) -> Result<(BfdHandle, mpsc::UnboundedReceiver<BfdEvent>), Error> {
    let program = program.as_ref().to_owned();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let helper = Helper::launch(&program, &args)?;
    let (tx, rx) = mpsc::channel(1024);
    let (events, events_rx) = mpsc::unbounded_channel();
    let proxy = Proxy {
        program,
        args,
        sessions: BTreeMap::new(),
        pending: HashMap::new(),
        next_id: REPLAY_ID,
        events,
    };
    let task = tokio::spawn(proxy.run(helper, rx));
    Ok((
        BfdHandle {
            tx,
            _guard: Arc::new(AbortOnDrop(task)),
        },
        events_rx,
    ))
}

/// The owner's side: commands out, replies and events in, and the helper
/// restarted when it dies. Ends (and so kills the helper) when the handles
/// are gone.
struct Proxy {
    program: std::ffi::OsString,
    args: Vec<String>,
    /// Every session the helper runs, with its AdminDown flag: replayed
    /// into a restarted helper.
    sessions: BTreeMap<SessionKey, (PeerConfig, bool)>,
    pending: HashMap<u64, Pending>,
    next_id: u64,
    events: mpsc::UnboundedSender<BfdEvent>,
}

impl Proxy {
    async fn run(mut self, mut helper: Helper, mut commands: mpsc::Receiver<LoopInput>) {
        loop {
            let alive = tokio::select! {
                input = commands.recv() => {
                    let Some(input) = input else { return };
                    let LoopInput::Command(command) = input else { continue };
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
            Err(error) => tracing::warn!(%error, "a bad line from the BFD helper was ignored"),
        }
    }

    /// Starts a new helper (with back-off while that fails) and tells it
    /// every session again. Commands waiting for the dead helper fail.
    async fn restart(&mut self) -> Helper {
        self.pending.clear();
        let mut backoff = Duration::from_millis(100);
        loop {
            tracing::error!(
                sessions = self.sessions.len(),
                "the BFD helper process exited: starting it again"
            );
            match Helper::launch(&self.program, &self.args) {
                Ok(mut helper) => {
                    let mut replayed = true;
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
        (_, reply) => tracing::warn!(?reply, "a BFD helper reply matched no request"),
    }
}

/// The helper's side: runs a driver and serves the owner on stdin/stdout
/// until stdin ends (the owner exited). The caller should keep termination
/// signals from killing the helper first: it must outlive the owner's own
/// graceful shutdown, which ends with AdminDown on every session.
pub async fn serve(config: DriverConfig) -> std::io::Result<()> {
    let (handle, mut events) = start(config);
    let (out, mut out_rx) = mpsc::unbounded_channel::<Message>();
    // Writing never holds up the driver: a stalled owner only fills a queue.
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(message) = out_rx.recv().await {
            let Ok(mut line) = serde_json::to_string(&message) else {
                continue;
            };
            line.push('\n');
            if stdout.write_all(line.as_bytes()).await.is_err() || stdout.flush().await.is_err() {
                return;
            }
        }
    });
    let event_out = out.clone();
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if event_out.send(Message::Event(event)).is_err() {
                return;
            }
        }
    });
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let (id, request): (u64, Request) = match serde_json::from_str(&line) {
            Ok(r) => r,
            Err(error) => {
                tracing::warn!(%error, "a bad request line was ignored");
                continue;
            }
        };
        let reply = match request {
            Request::Add(peer) => {
                Reply::Added(handle.add_session(peer).await.map_err(|e| e.to_string()))
            }
            Request::Remove(key) => Reply::Done(handle.remove_session(key).await.unwrap_or(false)),
            Request::Admin(key, down) => {
                Reply::Done(handle.set_admin_down(key, down).await.unwrap_or(false))
            }
            Request::SetTiming(key, timing) => {
                Reply::Done(handle.set_timing(key, timing).await.unwrap_or(false))
            }
            Request::Status => Reply::Status(handle.status().await.unwrap_or_default()),
        };
        if out.send(Message::Reply { id, reply }).is_err() {
            break;
        }
    }
    // The owner is gone: nobody reads what is still queued. Returning drops
    // the handle, which stops the driver and its sockets.
    writer.abort();
    Ok(())
}
