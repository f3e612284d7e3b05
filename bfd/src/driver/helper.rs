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
//! into replies and [`BfdEvent`]s. [`serve`] is the helper's side.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::process::Stdio;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
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
    Added(oneshot::Sender<Result<SessionKey, Error>>),
    Done(oneshot::Sender<bool>),
    Status(oneshot::Sender<DriverStatus>),
}

/// Starts `program args…` as the helper (it must call [`serve`]) and
/// returns a handle to it. The helper is killed when the last handle is
/// dropped.
pub fn spawn(
    program: impl AsRef<OsStr>,
    args: &[&str],
) -> Result<(BfdHandle, mpsc::UnboundedReceiver<BfdEvent>), Error> {
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
    let (tx, rx) = mpsc::channel(1024);
    let (events, events_rx) = mpsc::unbounded_channel();
    let task = tokio::spawn(proxy(child, stdin, stdout, rx, events));
    Ok((
        BfdHandle {
            tx,
            _guard: Arc::new(AbortOnDrop(task)),
        },
        events_rx,
    ))
}

/// The owner's side: commands out, replies and events in. Ends (and so
/// kills the helper) when the handles are gone or the helper exits.
async fn proxy(
    child: Child,
    mut stdin: ChildStdin,
    stdout: ChildStdout,
    mut commands: mpsc::Receiver<LoopInput>,
    events: mpsc::UnboundedSender<BfdEvent>,
) {
    let _child = child;
    let mut lines = BufReader::new(stdout).lines();
    let mut pending: HashMap<u64, Pending> = HashMap::new();
    let mut next_id = 0u64;
    loop {
        tokio::select! {
            input = commands.recv() => {
                let Some(input) = input else { return };
                let LoopInput::Command(command) = input else { continue };
                let (request, waiter) = match command {
                    Command::Add(peer, reply) => (Request::Add(peer), Pending::Added(reply)),
                    Command::Remove(key, reply) => (Request::Remove(key), Pending::Done(reply)),
                    Command::Admin(key, down, reply) => (Request::Admin(key, down), Pending::Done(reply)),
                    Command::SetTiming(key, timing, reply) => {
                        (Request::SetTiming(key, timing), Pending::Done(reply))
                    }
                    Command::Status(reply) => (Request::Status, Pending::Status(reply)),
                };
                next_id += 1;
                let Ok(mut line) = serde_json::to_string(&(next_id, request)) else {
                    tracing::error!("a BFD request could not be encoded");
                    continue;
                };
                line.push('\n');
                if let Err(error) = stdin.write_all(line.as_bytes()).await {
                    tracing::error!(%error, "the BFD helper process is gone");
                    return;
                }
                pending.insert(next_id, waiter);
            }
            line = lines.next_line() => match line {
                Ok(Some(line)) => match serde_json::from_str::<Message>(&line) {
                    Ok(Message::Event(event)) => {
                        let _ = events.send(event);
                    }
                    Ok(Message::Reply { id, reply }) => answer(pending.remove(&id), reply),
                    Err(error) => tracing::warn!(%error, "a bad line from the BFD helper was ignored"),
                },
                Ok(None) | Err(_) => {
                    tracing::error!("the BFD helper process exited; its sessions are gone");
                    return;
                }
            },
        }
    }
}

fn answer(waiter: Option<Pending>, reply: Reply) {
    match (waiter, reply) {
        (Some(Pending::Added(tx)), Reply::Added(result)) => {
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
