//! Async runtime API client over one persistent interactive connection.
//!
//! Why interactive (`prompt`) instead of one command per connection: an
//! atomic map replacement is a sequence (`prepare`, many `add`, `commit`,
//! read back), and a 100k-entry map needs hundreds of payload commands; one
//! connection saves a connect + accept per command (the 1 ms target for a
//! one-service switch leaves no room for five connects). It also makes a
//! HAProxy restart or reload visible: the old process closes the socket, the
//! next call reconnects, and [`Client::epoch`] tells the caller to reconcile.
//!
//! HAProxy closes an idle CLI connection after `stats timeout` (10 s by
//! default); [`Client::drop_if_closed`] notices that before the next command
//! instead of failing it. Writes are never retried blindly: a broken
//! connection mid-sequence is an error and the caller decides.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tracing::{debug, info};

use crate::command::{Command, ServerState};
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::framing::Framer;
use crate::reply::{self, Info, MapInfo, ServerStatus};

#[derive(Debug)]
enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl Stream {
    async fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.write_all(b).await,
            Stream::Tcp(s) => s.write_all(b).await,
        }
    }

    async fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(b).await,
            Stream::Tcp(s) => s.read(b).await,
        }
    }

    fn try_read(&self, b: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.try_read(b),
            Stream::Tcp(s) => s.try_read(b),
        }
    }
}

#[derive(Debug)]
struct Connection {
    stream: Stream,
    framer: Framer,
    buf: Vec<u8>,
}

/// A runtime API client; connects lazily and reconnects after a failure.
#[derive(Debug)]
pub struct Client {
    endpoint: Endpoint,
    timeout: Duration,
    conn: Option<Connection>,
    epoch: u64,
    info: Option<Info>,
}

impl Client {
    pub fn new(endpoint: Endpoint, timeout: Duration) -> Self {
        Self {
            endpoint,
            timeout,
            conn: None,
            epoch: 0,
            info: None,
        }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Increases with every new connection (0: never connected).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// `show info` of the process on the current connection.
    pub fn info(&self) -> Option<&Info> {
        self.info.as_ref()
    }

    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Forgets a connection the peer has closed (idle timeout, reload,
    /// restart), so the next command reconnects instead of failing.
    pub fn drop_if_closed(&mut self) {
        let Some(conn) = &self.conn else { return };
        let mut probe = [0u8; 64];
        match conn.stream.try_read(&mut probe) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Ok(0) => {
                debug!(endpoint = %self.endpoint, "runtime API connection closed by haproxy");
                self.conn = None;
            }
            // Unsolicited bytes or an error: the framing can no longer be trusted.
            _ => self.conn = None,
        }
    }

    /// Connects if needed: enters interactive mode and checks the version.
    pub async fn connect(&mut self) -> Result<(), Error> {
        if self.conn.is_some() {
            return Ok(());
        }
        let endpoint = self.endpoint.to_string();
        let connect_err = |source| Error::Connect {
            endpoint: endpoint.clone(),
            source,
        };
        let timed_out = || {
            connect_err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no connection within {} ms", self.timeout.as_millis()),
            ))
        };
        let stream = match &self.endpoint {
            Endpoint::Unix(path) => Stream::Unix(
                tokio::time::timeout(self.timeout, UnixStream::connect(path))
                    .await
                    .map_err(|_| timed_out())?
                    .map_err(connect_err)?,
            ),
            Endpoint::Tcp(addr) => {
                let s = tokio::time::timeout(self.timeout, TcpStream::connect(addr.as_str()))
                    .await
                    .map_err(|_| timed_out())?
                    .map_err(connect_err)?;
                s.set_nodelay(true).map_err(connect_err)?;
                Stream::Tcp(s)
            }
        };
        self.conn = Some(Connection {
            stream,
            framer: Framer::new(),
            buf: vec![0; 64 * 1024],
        });
        let info = match self.handshake().await {
            Ok(info) => info,
            Err(e) => {
                self.conn = None;
                return Err(e);
            }
        };
        if let Some(old) = &self.info {
            if old.pid != info.pid || old.start_time != info.start_time {
                info!(endpoint = %self.endpoint, old_pid = old.pid, pid = info.pid,
                    "haproxy process changed (restart or reload)");
            }
        }
        debug!(endpoint = %self.endpoint, version = %info.version, pid = info.pid, "runtime API connected");
        self.info = Some(info);
        self.epoch += 1;
        Ok(())
    }

    async fn handshake(&mut self) -> Result<Info, Error> {
        let cmd = Command::Prompt;
        let r = self.raw_call(&cmd).await?;
        reply::expect_empty(&cmd.label(), &r)?;
        let cmd = Command::ShowInfo;
        let r = self.raw_call(&cmd).await?;
        let info = reply::parse_info(&cmd.label(), &r)?;
        reply::check_version(&info)?;
        Ok(info)
    }

    /// Sends one command and returns its reply body (framing removed).
    /// Any transport failure or garbled framing drops the connection.
    pub async fn call(&mut self, cmd: &Command<'_>) -> Result<String, Error> {
        cmd.encode()?;
        if self.conn.is_none() {
            self.connect().await?;
        }
        self.raw_call(cmd).await
    }

    /// [`Client::call`] on the current connection, without connecting.
    async fn raw_call(&mut self, cmd: &Command<'_>) -> Result<String, Error> {
        let bytes = cmd.encode()?;
        let label = cmd.label();
        let result = tokio::time::timeout(self.timeout, self.exchange(&label, bytes.as_bytes()))
            .await
            .unwrap_or_else(|_| {
                Err(Error::Timeout {
                    endpoint: self.endpoint.to_string(),
                    command: label.clone(),
                    timeout: self.timeout,
                })
            });
        if let Err(e) = &result {
            if e.breaks_connection() {
                self.conn = None;
            }
        }
        result
    }

    async fn exchange(&mut self, label: &str, bytes: &[u8]) -> Result<String, Error> {
        let endpoint = &self.endpoint;
        let Some(conn) = self.conn.as_mut() else {
            return Err(Error::Closed {
                endpoint: endpoint.to_string(),
                command: label.to_owned(),
            });
        };
        conn.framer.reset();
        let io_err = |source| Error::Io {
            endpoint: endpoint.to_string(),
            command: label.to_owned(),
            source,
        };
        conn.stream.write_all(bytes).await.map_err(io_err)?;
        loop {
            let n = conn.stream.read(&mut conn.buf).await.map_err(io_err)?;
            if n == 0 {
                let pending = conn.framer.pending();
                return Err(if pending.is_empty() {
                    Error::Closed {
                        endpoint: endpoint.to_string(),
                        command: label.to_owned(),
                    }
                } else {
                    Error::UnexpectedReply {
                        command: label.to_owned(),
                        reply: format!("{pending} (then the connection closed)"),
                    }
                });
            }
            if let Some(reply) = conn.framer.push(label, &conn.buf[..n])? {
                return Ok(reply);
            }
        }
    }

    async fn call_empty(&mut self, cmd: Command<'_>) -> Result<(), Error> {
        let r = self.call(&cmd).await?;
        reply::expect_empty(&cmd.label(), &r)
    }

    /// `show info`; also refreshes [`Client::info`].
    pub async fn show_info(&mut self) -> Result<Info, Error> {
        let cmd = Command::ShowInfo;
        let r = self.call(&cmd).await?;
        let info = reply::parse_info(&cmd.label(), &r)?;
        self.info = Some(info.clone());
        Ok(info)
    }

    /// Closes the connection; the next command reconnects.
    pub fn disconnect(&mut self) {
        self.conn = None;
    }

    pub async fn show_maps(&mut self) -> Result<Vec<MapInfo>, Error> {
        let cmd = Command::ShowMaps;
        let r = self.call(&cmd).await?;
        reply::parse_map_list(&cmd.label(), &r)
    }

    pub async fn show_map(
        &mut self,
        map: &str,
        version: Option<u32>,
    ) -> Result<Vec<(String, String)>, Error> {
        let cmd = Command::ShowMap { map, version };
        let r = self.call(&cmd).await?;
        reply::parse_map_entries(&cmd.label(), map, &r)
    }

    pub async fn prepare_map(&mut self, map: &str) -> Result<u32, Error> {
        let cmd = Command::PrepareMap { map };
        let r = self.call(&cmd).await?;
        if r.starts_with("Unknown map identifier") {
            return Err(Error::UnknownMap {
                map: map.to_owned(),
                known: Vec::new(),
            });
        }
        reply::parse_prepare(&cmd.label(), &r)
    }

    pub async fn add_map(
        &mut self,
        version: u32,
        map: &str,
        key: &str,
        value: &str,
    ) -> Result<(), Error> {
        self.call_empty(Command::AddMap {
            version,
            map,
            key,
            value,
        })
        .await
    }

    pub async fn add_map_payload(
        &mut self,
        version: u32,
        map: &str,
        entries: &[(String, String)],
    ) -> Result<(), Error> {
        self.call_empty(Command::AddMapPayload {
            version,
            map,
            entries,
        })
        .await
    }

    pub async fn commit_map(&mut self, version: u32, map: &str) -> Result<(), Error> {
        self.call_empty(Command::CommitMap { version, map }).await
    }

    pub async fn set_map(&mut self, map: &str, key: &str, value: &str) -> Result<(), Error> {
        self.call_empty(Command::SetMap { map, key, value }).await
    }

    pub async fn show_servers_state(
        &mut self,
        backend: Option<&str>,
    ) -> Result<Vec<ServerStatus>, Error> {
        let cmd = Command::ShowServersState { backend };
        let r = self.call(&cmd).await?;
        reply::parse_servers_state(&cmd.label(), backend, &r)
    }

    pub async fn show_backends(&mut self) -> Result<Vec<String>, Error> {
        let cmd = Command::ShowBackends;
        let r = self.call(&cmd).await?;
        reply::parse_backends(&cmd.label(), &r)
    }

    pub async fn set_server_state(
        &mut self,
        backend: &str,
        server: &str,
        state: ServerState,
    ) -> Result<(), Error> {
        self.call_empty(Command::SetServerState {
            backend,
            server,
            state,
        })
        .await
    }

    pub async fn shutdown_sessions(&mut self, backend: &str, server: &str) -> Result<(), Error> {
        self.call_empty(Command::ShutdownSessions { backend, server })
            .await
    }
}
