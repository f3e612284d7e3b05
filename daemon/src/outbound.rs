//! The calls orbitd makes to programs and services an operator names: run a
//! program, send an HTTP request. Both are bounded by a timeout and keep a
//! bounded quote of what the other side said. The `hook` backend and plan
//! steps use them; each turns the result into its own error.
//!
//! A program runs in a process group of its own. When its time is up (or
//! the caller gives up on it) the whole group is killed, so a shell
//! script's children die with it. A program that exits in time is left
//! alone, and so is anything it started in the background: a step that
//! starts a server must not see it killed for succeeding.

use std::collections::VecDeque;
use std::io;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// How long the output a program wrote before it exited may take to be
/// read once it has exited. A background process that inherited its
/// stdout keeps the pipe open forever; its output is not waited for.
const DRAIN_GRACE: Duration = Duration::from_millis(200);

/// How long a killed program may take to be reaped before it is left to
/// tokio's background reaper.
const REAP_GRACE: Duration = Duration::from_secs(1);

/// Which of a program's outputs are kept (the others go to /dev/null).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Capture {
    Stderr,
    /// Both, in the order they arrived.
    StdoutAndStderr,
}

/// One run of a program.
#[derive(Debug)]
pub(crate) struct Program<'a> {
    /// The program and its arguments; no shell.
    pub argv: &'a [String],
    /// Added to orbitd's environment.
    pub env: Vec<(&'static str, String)>,
    /// Written to its stdin; `None`: stdin is /dev/null.
    pub stdin: Option<&'a [u8]>,
    pub capture: Capture,
    /// Of the captured output, how many bytes are kept: the last ones.
    pub keep: usize,
    pub timeout: Duration,
}

/// A program that exited in time.
#[derive(Debug)]
pub(crate) struct Exited {
    pub status: ExitStatus,
    /// The captured output (at most `keep` bytes, the last ones).
    pub output: Vec<u8>,
}

#[derive(Debug)]
pub(crate) enum ProgramError {
    /// `argv` is empty.
    NoProgram,
    /// It could not be started (missing, not executable, ...).
    CannotStart(io::Error),
    /// Waiting for it failed; it was killed.
    Wait(io::Error),
    /// It ran past the timeout and its process group was killed.
    TimedOut {
        /// What it wrote before.
        output: Vec<u8>,
    },
}

/// Runs `program` to its end or its timeout.
pub(crate) async fn run_program(program: &Program<'_>) -> Result<Exited, ProgramError> {
    let (path, args) = program.argv.split_first().ok_or(ProgramError::NoProgram)?;
    let capture_stdout = program.capture == Capture::StdoutAndStderr;
    let mut child = Command::new(path)
        .args(args)
        .envs(program.env.iter().map(|(k, v)| (k, v)))
        .stdin(if program.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(if capture_stdout {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(ProgramError::CannotStart)?;
    let mut group = GroupKiller::new(&child);
    let output = Arc::new(Mutex::new(Tail::new(program.keep)));
    let mut readers = Vec::new();
    if let Some(stdout) = child.stdout.take() {
        readers.push(tokio::spawn(read_into(stdout, output.clone())));
    }
    if let Some(stderr) = child.stderr.take() {
        readers.push(tokio::spawn(read_into(stderr, output.clone())));
    }
    let stdin = child.stdin.take();
    let run = async {
        if let (Some(mut pipe), Some(payload)) = (stdin, program.stdin) {
            // A program that ignores stdin closes the pipe early; that is
            // its choice, not a failure.
            let _ = pipe.write_all(payload).await;
        }
        child.wait().await
    };
    let ended = tokio::time::timeout(program.timeout, run).await;
    match ended {
        Ok(Ok(status)) => {
            group.disarm();
            drain(readers).await;
            Ok(Exited {
                status,
                output: take(&output),
            })
        }
        Ok(Err(e)) => {
            group.kill();
            reap(&mut child).await;
            drain(readers).await;
            Err(ProgramError::Wait(e))
        }
        Err(_) => {
            group.kill();
            reap(&mut child).await;
            drain(readers).await;
            Err(ProgramError::TimedOut {
                output: take(&output),
            })
        }
    }
}

/// Kills a program's process group when it is dropped armed: when the
/// caller gave up on the program before it exited.
struct GroupKiller {
    /// The group's id (the program's pid), while armed.
    group: Option<Pid>,
}

impl GroupKiller {
    fn new(child: &Child) -> GroupKiller {
        GroupKiller {
            group: child
                .id()
                .and_then(|pid| i32::try_from(pid).ok())
                .map(Pid::from_raw),
        }
    }

    fn disarm(&mut self) {
        self.group = None;
    }

    fn kill(&mut self) {
        if let Some(group) = self.group.take() {
            // ESRCH: every member is gone already, which is the goal.
            let _ = killpg(group, Signal::SIGKILL);
        }
    }
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn reap(child: &mut Child) {
    let _ = tokio::time::timeout(REAP_GRACE, child.wait()).await;
}

async fn read_into(mut from: impl AsyncRead + Unpin, into: Arc<Mutex<Tail>>) {
    let mut buf = [0u8; 4096];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => lock(&into).push(&buf[..n]),
        }
    }
}

/// Waits a little for the readers to reach the end of the pipes, then
/// stops them.
async fn drain(mut readers: Vec<JoinHandle<()>>) {
    let _ = tokio::time::timeout(DRAIN_GRACE, async {
        for reader in &mut readers {
            let _ = reader.await;
        }
    })
    .await;
    for reader in readers {
        reader.abort();
    }
}

fn lock(tail: &Mutex<Tail>) -> std::sync::MutexGuard<'_, Tail> {
    // A reader that panicked holding the lock left whole bytes behind.
    tail.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn take(tail: &Mutex<Tail>) -> Vec<u8> {
    std::mem::take(&mut lock(tail).bytes).into()
}

/// The last `keep` bytes of a stream.
#[derive(Debug)]
struct Tail {
    bytes: VecDeque<u8>,
    keep: usize,
}

impl Tail {
    fn new(keep: usize) -> Tail {
        Tail {
            bytes: VecDeque::new(),
            keep,
        }
    }

    fn push(&mut self, data: &[u8]) {
        let data = &data[data.len().saturating_sub(self.keep)..];
        let overflow = (self.bytes.len() + data.len()).saturating_sub(self.keep);
        self.bytes.drain(..overflow.min(self.bytes.len()));
        self.bytes.extend(data);
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: hyper::StatusCode,
    /// The body's last `keep` bytes; what arrived before a broken body.
    pub body: Vec<u8>,
}

#[derive(Debug)]
pub(crate) enum HttpError {
    /// The request could not be sent or its answer not read.
    Failed(hyper_util::client::legacy::Error),
    /// No complete answer (status and body) within the timeout.
    TimedOut,
}

/// Sends `request` over plain HTTP/1 and reads the whole answer, all
/// within `timeout`.
pub(crate) async fn send_http(
    request: hyper::Request<Full<Bytes>>,
    keep: usize,
    timeout: Duration,
) -> Result<Answer, HttpError> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let exchange = async {
        let response = client.request(request).await.map_err(HttpError::Failed)?;
        let status = response.status();
        let mut body = response.into_body();
        let mut tail = Tail::new(keep);
        // A body that breaks off is quoted as far as it came.
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                tail.push(data);
            }
        }
        Ok(Answer {
            status,
            body: tail.bytes.into(),
        })
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| HttpError::TimedOut)?
}

/// An I/O error's text without the "(os error N)" that `Display` appends:
/// "No such file or directory".
pub(crate) fn io_reason(e: &io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(cut) if e.raw_os_error().is_some() => text[..cut].to_owned(),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_keeps_the_last_bytes() {
        let mut tail = Tail::new(5);
        tail.push(b"abc");
        tail.push(b"defg");
        assert_eq!(Vec::from(tail.bytes.clone()), b"cdefg");
        tail.push(b"0123456789");
        assert_eq!(Vec::from(tail.bytes), b"56789");
    }

    #[test]
    fn io_reasons_lose_the_os_error_number() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(io_reason(&e), "No such file or directory");
        let e = io::Error::other("plain");
        assert_eq!(io_reason(&e), "plain");
    }
}
