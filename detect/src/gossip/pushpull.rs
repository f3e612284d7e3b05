//! The TCP side of push-pull (the driver's I/O; the exchange itself is in
//! the sans-IO core). One frame each way per connection (`frame.rs`):
//! the initiator's tables and digest, then the answer.
//!
//! ```text
//!   listener (gossip address, TCP) ─accept─> one task per connection:
//!       read frame ─> Incoming{conn} ─> driver ─> core ─> PushPullAnswer ─> oneshot ─> write frame
//!   Output::PushPull ─> one task: connect, write frame, read frame ─> Incoming{conn: None}
//! ```
//!
//! Every read and write has a deadline, at most [`MAX_CONNECTIONS`]
//! exchanges run at once (more are refused at accept or not started), and
//! a bad frame (oversized, truncated, unauthenticated, malformed) is
//! logged with the peer's address and its connection dropped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::frame::{self, FrameError, Framer};

/// Push-pull exchanges (both directions) running at once.
pub const MAX_CONNECTIONS: usize = 4;
/// Deadline of each connect, frame read and frame write.
pub const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A frame read from a connection, for the driver's loop; `data: None`
/// when our own exchange with `from` failed.
#[derive(Debug)]
pub(super) struct Incoming {
    pub from: SocketAddr,
    pub data: Option<Vec<u8>>,
    /// Where the answer goes, for a frame on an accepted connection.
    pub answer: Option<oneshot::Sender<Vec<u8>>>,
}

/// Accepts push-pull connections until the listener fails.
pub(super) async fn accept(
    listener: TcpListener,
    limit: Arc<Semaphore>,
    tx: mpsc::Sender<Incoming>,
) {
    loop {
        let (stream, from) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(error = %e, "push-pull accept");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            tracing::warn!(%from, "push-pull refused: {MAX_CONNECTIONS} exchanges already running");
            continue;
        };
        let tx = tx.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = answer(stream, from, tx).await {
                tracing::warn!(%from, error = %e, "push-pull connection dropped");
            }
        });
    }
}

async fn answer(
    mut stream: TcpStream,
    from: SocketAddr,
    tx: mpsc::Sender<Incoming>,
) -> Result<(), String> {
    let data = read_frame(&mut stream).await?;
    let (answer_tx, answer_rx) = oneshot::channel();
    tx.send(Incoming {
        from,
        data: Some(data),
        answer: Some(answer_tx),
    })
    .await
    .map_err(|_| "gossip stopped".to_owned())?;
    // No answer: the core refused the frame (it logged why) or wants none.
    let Ok(reply) = tokio::time::timeout(IO_TIMEOUT, answer_rx).await else {
        return Err("no answer in time".into());
    };
    if let Ok(reply) = reply {
        write_frame(&mut stream, &reply).await?;
    }
    Ok(())
}

/// Starts one exchange with `to` (refused when too many run).
pub(super) fn initiate(
    local: SocketAddr,
    to: SocketAddr,
    data: Vec<u8>,
    limit: &Arc<Semaphore>,
    tx: mpsc::Sender<Incoming>,
) {
    let Ok(permit) = limit.clone().try_acquire_owned() else {
        tracing::debug!(%to, "push-pull not started: {MAX_CONNECTIONS} exchanges already running");
        return;
    };
    tokio::spawn(async move {
        let _permit = permit;
        let data = match exchange(local, to, &data).await {
            Ok(data) => Some(data),
            Err(e) => {
                tracing::debug!(%to, error = %e, "push-pull failed");
                None
            }
        };
        let _ = tx
            .send(Incoming {
                from: to,
                data,
                answer: None,
            })
            .await;
    });
}

async fn exchange(local: SocketAddr, to: SocketAddr, data: &[u8]) -> Result<Vec<u8>, String> {
    let socket = if to.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(|e| e.to_string())?;
    // From our gossip address, as our datagrams are.
    if local.ip().is_unspecified() || socket.bind(SocketAddr::new(local.ip(), 0)).is_err() {
        tracing::debug!(%local, "push-pull from an unbound socket");
    }
    let mut stream = tokio::time::timeout(IO_TIMEOUT, socket.connect(to))
        .await
        .map_err(|_| "connect timed out".to_owned())?
        .map_err(|e| format!("connect: {e}"))?;
    write_frame(&mut stream, data).await?;
    read_frame(&mut stream).await
}

async fn write_frame(stream: &mut TcpStream, packet: &[u8]) -> Result<(), String> {
    let frame =
        frame::encode(packet).ok_or_else(|| FrameError::TooLarge(packet.len()).to_string())?;
    tokio::time::timeout(IO_TIMEOUT, async {
        stream.write_all(&frame).await?;
        stream.shutdown().await
    })
    .await
    .map_err(|_| "write timed out".to_owned())?
    .map_err(|e| format!("write: {e}"))
}

/// Reads one frame, whole, within [`IO_TIMEOUT`].
pub async fn read_frame(stream: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut framer = Framer::default();
    let mut buf = vec![0u8; 64 * 1024];
    tokio::time::timeout(IO_TIMEOUT, async {
        loop {
            let n = stream
                .read(&mut buf)
                .await
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err(framer.closed().to_string());
            }
            if let Some(frame) = framer.push(&buf[..n]).map_err(|e| e.to_string())? {
                return Ok(frame);
            }
        }
    })
    .await
    .map_err(|_| "read timed out".to_owned())?
}
