//! The API's listeners: how many connections each may hold, for how long,
//! and what happens when one is full or orbitd is out of descriptors.
//!
//! ```text
//!  unix socket --accept--> slot free? --yes--> hyper http/1 connection
//!  TCP socket  --accept-/       |               (header timeout, lifetime)
//!                               no: 503 written without waiting, closed   --> api::handle
//!                                                                              (request timeout)
//! ```
//!
//! Each listener has its own slots (`[api] unix_connections`,
//! `tcp_connections`), so a flood on TCP never takes a slot, or a file
//! descriptor beyond its cap, from orbitctl on the unix socket.
//!
//! A full listener keeps accepting and closes the newcomer at once rather
//! than leaving it in the kernel's accept queue: both keep our descriptors
//! bounded, but a queued connection would be served whenever a slot frees
//! up, possibly long after its client gave up, and could then still carry
//! a command out; a closed one tells its client "busy" right away.

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use orbit_config::Api;
use orbit_core::Client;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::{handle, Ctx};

/// A connection is closed after this long even if it keeps sending
/// requests or never reads its answer (a slow reader holds a slot only
/// this long); raised to outlast one request at the configured timeouts.
const LIFETIME: Duration = Duration::from_secs(60);

/// Accept failures (EMFILE, ENFILE, ...) are retried after a pause that
/// doubles from the first to the last of these while they go on.
const FIRST_PAUSE: Duration = Duration::from_millis(10);
const LAST_PAUSE: Duration = Duration::from_secs(1);
/// A run of accept failures gets a log line at most this often.
const LOG_EVERY: Duration = Duration::from_secs(60);

/// What the newcomer to a full listener reads before it is closed.
const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 77\r\n\r\n\
{\"error\":\"orbitd's API listener is at its connection limit; try again later\"}";

/// One listener's limits (`[api]`).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub request_timeout: Duration,
    /// Connections open at once.
    pub connections: usize,
}

impl Limits {
    pub fn unix(api: &Api) -> Limits {
        Limits::with(api, api.unix_connections)
    }

    pub fn tcp(api: &Api) -> Limits {
        Limits::with(api, api.tcp_connections)
    }

    fn with(api: &Api, connections: usize) -> Limits {
        Limits {
            header_timeout: api.header_timeout.get(),
            request_timeout: api.request_timeout.get(),
            connections,
        }
    }

    fn lifetime(&self) -> Duration {
        LIFETIME.max(self.header_timeout + self.request_timeout)
    }
}

/// Descriptors orbitd needs beside its API connections (sessions, sockets,
/// files, helpers), with room to spare.
const OWN_FDS: u64 = 128;

/// Warns when the open-files limit leaves too little beside the API
/// connection caps: the caps would then not keep orbitd's own sockets and
/// files safe from a flood.
pub fn check_fd_budget(api: &Api, tcp: bool) {
    let Some(limit) = open_files_limit() else {
        return;
    };
    let caps = api.unix_connections as u64 + if tcp { api.tcp_connections as u64 } else { 0 };
    if caps + OWN_FDS > limit {
        tracing::warn!(
            limit,
            caps,
            "the open-files limit leaves fewer than {OWN_FDS} descriptors beside the API \
             connection caps ([api] unix_connections + tcp_connections): raise it \
             (systemd LimitNOFILE=) or lower the caps"
        );
    }
}

/// The soft RLIMIT_NOFILE, from /proc (no unsafe getrlimit needed).
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    parse_open_files(&limits)
}

fn parse_open_files(limits: &str) -> Option<u64> {
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The unix and TCP listeners, as far as the accept loop cares.
pub(super) trait Accept: Send + 'static {
    type Stream: Stream;
    fn accept_stream(&self) -> impl std::future::Future<Output = io::Result<Self::Stream>> + Send;
}

/// An accepted connection.
pub(super) trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// Reads what is there without waiting.
    fn read_now(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes what fits without waiting.
    fn write_now(&self, buf: &[u8]) -> io::Result<usize>;
    /// Who is at the other end, for the journal of the commands it sends:
    /// what the kernel says, never what the client claims.
    fn client(&self) -> Client;
}

impl Accept for UnixListener {
    type Stream = tokio::net::UnixStream;
    async fn accept_stream(&self) -> io::Result<Self::Stream> {
        self.accept().await.map(|(s, _)| s)
    }
}

impl Accept for TcpListener {
    type Stream = tokio::net::TcpStream;
    async fn accept_stream(&self) -> io::Result<Self::Stream> {
        self.accept().await.map(|(s, _)| s)
    }
}

impl Stream for tokio::net::UnixStream {
    fn read_now(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.try_read(buf)
    }
    fn write_now(&self, buf: &[u8]) -> io::Result<usize> {
        self.try_write(buf)
    }
    /// SO_PEERCRED: the uid and pid of the process that connected.
    fn client(&self) -> Client {
        match self.peer_cred() {
            Ok(cred) => Client::Unix {
                uid: cred.uid(),
                pid: cred.pid(),
            },
            Err(error) => {
                tracing::debug!(%error, "no peer credentials on an API connection");
                Client::Unknown
            }
        }
    }
}

impl Stream for tokio::net::TcpStream {
    fn read_now(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.try_read(buf)
    }
    fn write_now(&self, buf: &[u8]) -> io::Result<usize> {
        self.try_write(buf)
    }
    fn client(&self) -> Client {
        self.peer_addr()
            .map_or(Client::Unknown, |peer| Client::Tcp { peer })
    }
}

pub(super) fn spawn<L: Accept>(listener: L, ctx: Arc<Ctx>) {
    ctx.metrics.api_listener(ctx.listener);
    tokio::spawn(accept_loop(listener, ctx));
}

async fn accept_loop<L: Accept>(listener: L, ctx: Arc<Ctx>) {
    let slots = Arc::new(Semaphore::new(ctx.limits.connections));
    let mut failures = AcceptFailures::default();
    loop {
        match listener.accept_stream().await {
            Ok(stream) => {
                failures.succeeded();
                match slots.clone().try_acquire_owned() {
                    Ok(slot) => serve(stream, slot, ctx.clone()),
                    Err(_) => {
                        ctx.metrics.api_connection_refused(ctx.listener);
                        turn_away(&stream);
                    }
                }
            }
            Err(error) => {
                ctx.metrics.api_accept_error(ctx.listener);
                let pause = failures.failed(&error, ctx.listener, Instant::now());
                tokio::time::sleep(pause).await;
            }
        }
    }
}

/// Answers 503 to a connection the listener has no slot for, without
/// waiting for it, and closes it (on drop). What it already sent is read
/// first, so the close is a FIN that lets the client read the answer, not
/// a reset.
fn turn_away<S: Stream>(stream: &S) {
    let mut sink = [0u8; 4096];
    for _ in 0..4 {
        match stream.read_now(&mut sink) {
            Ok(n) if n > 0 => continue,
            _ => break,
        }
    }
    let _ = stream.write_now(BUSY);
}

/// One connection in its own task, holding its slot until it ends.
fn serve<S: Stream>(stream: S, slot: OwnedSemaphorePermit, ctx: Arc<Ctx>) {
    tokio::spawn(async move {
        let _slot = slot;
        let _open = ctx.metrics.api_connection(ctx.listener);
        let limits = ctx.limits;
        let client = stream.client();
        let service = {
            let ctx = ctx.clone();
            service_fn(move |req| {
                let ctx = ctx.clone();
                let client = client.clone();
                async move { Ok::<_, Infallible>(handle(req, &ctx, client).await) }
            })
        };
        // hyper (1.x) runs the header timer whenever it waits for a request
        // head: from the connection's start and after each answer, so it is
        // the keep-alive idle limit too. A client that disconnects while
        // its request is handled ends the connection, which drops the
        // handler (half-close is off).
        let connection = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let mut connection = std::pin::pin!(connection);
        let ended = tokio::select! {
            ended = connection.as_mut() => ended,
            () = tokio::time::sleep(limits.lifetime()) => {
                connection.as_mut().graceful_shutdown();
                tokio::time::timeout(limits.request_timeout, connection)
                    .await
                    .unwrap_or(Ok(()))
            }
        };
        if let Err(error) = ended {
            if error.is_timeout() {
                ctx.metrics.api_timeout(ctx.listener, "header");
            }
            tracing::debug!(listener = ctx.listener, %error, "API connection ended with an error");
        }
    });
}

/// Failed accepts: retried after a growing pause instead of at once (an
/// accept that fails with EMFILE leaves the connection queued, so an
/// immediate retry fails again and spins), and logged at most once a
/// minute, with how many failed since the last line, however long the
/// shortage lasts or however often it comes and goes.
#[derive(Debug, Default)]
struct AcceptFailures {
    pause: Duration,
    logged_at: Option<Instant>,
    unlogged: u64,
}

impl AcceptFailures {
    /// Notes a failure; how long to wait before the next accept.
    fn failed(&mut self, error: &io::Error, listener: &str, now: Instant) -> Duration {
        if self
            .logged_at
            .is_none_or(|at| now.duration_since(at) >= LOG_EVERY)
        {
            tracing::warn!(
                listener,
                %error,
                failures_since_last_line = self.unlogged,
                "API accept failed; retrying after a growing pause (at most one such line a \
                 minute; every failure counts in orbit_api_accept_errors_total)"
            );
            self.logged_at = Some(now);
            self.unlogged = 0;
        } else {
            self.unlogged += 1;
        }
        self.pause = (self.pause * 2).clamp(FIRST_PAUSE, LAST_PAUSE);
        self.pause
    }

    /// Notes a successful accept: the next failure waits the shortest pause.
    fn succeeded(&mut self) {
        self.pause = Duration::ZERO;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_files_limit_is_read_from_proc() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max processes             63484                63484                processes\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(parse_open_files(limits), Some(1024));
        assert_eq!(
            parse_open_files("Max open files  unlimited  unlimited  files"),
            None
        );
        assert!(open_files_limit().is_some());
    }

    #[test]
    fn busy_answer_is_well_formed() {
        let text = std::str::from_utf8(BUSY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let error: orbit_core::api::ApiError = serde_json::from_str(body).unwrap();
        assert!(error.error.contains("connection limit"));
    }

    #[test]
    fn failed_accepts_back_off_up_to_a_second_and_log_once_a_minute() {
        let mut failures = AcceptFailures::default();
        let emfile = io::Error::from_raw_os_error(24);
        let t0 = Instant::now();
        let pauses: Vec<Duration> = (0..10)
            .map(|_| failures.failed(&emfile, "tcp", t0))
            .collect();
        assert_eq!(pauses[0], FIRST_PAUSE);
        assert_eq!(pauses[1], FIRST_PAUSE * 2);
        assert!(pauses.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*pauses.last().unwrap(), LAST_PAUSE);
        assert_eq!((failures.logged_at, failures.unlogged), (Some(t0), 9));
        // An accept that works resets the pause, not the log's clock.
        failures.succeeded();
        let t1 = t0 + Duration::from_secs(30);
        assert_eq!(failures.failed(&emfile, "tcp", t1), FIRST_PAUSE);
        assert_eq!((failures.logged_at, failures.unlogged), (Some(t0), 10));
        let t2 = t0 + LOG_EVERY;
        failures.failed(&emfile, "tcp", t2);
        assert_eq!((failures.logged_at, failures.unlogged), (Some(t2), 0));
    }
}
