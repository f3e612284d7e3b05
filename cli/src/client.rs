//! A minimal HTTP/1 client for orbitd's API over its unix socket or TCP.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// Where orbitd listens.
#[derive(Debug, Clone)]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp { authority: String, token: String },
}

/// Where orbitd listens and how long to wait for it.
#[derive(Debug, Clone)]
pub struct Client {
    pub endpoint: Endpoint,
    /// For the whole exchange: connect, send, the answer read to its end.
    pub timeout: Duration,
}

/// Why a request did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("orbitd is unreachable at {endpoint}: {detail}")]
    Unreachable { endpoint: String, detail: String },
    /// The socket refused us (EACCES/EPERM): not in its group, or its mode
    /// lets only root in.
    #[error("no permission to talk to orbitd at {endpoint}: {detail} (run as root or as a member of the socket's group, `[api] api_socket_group`)")]
    PermissionDenied { endpoint: String, detail: String },
    /// orbitd may have received the request and acted on it.
    #[error("orbitd did not answer within {}", humantime::format_duration(*.0))]
    TimedOut(Duration),
}

impl Client {
    /// One request; gives up (and closes the connection, which tells
    /// orbitd to drop a command it has not taken yet) after the timeout.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        tokio::time::timeout(self.timeout, self.endpoint.request(method, path, body))
            .await
            .unwrap_or(Err(ClientError::TimedOut(self.timeout)))
    }
}

impl Endpoint {
    fn describe(&self) -> String {
        match self {
            Endpoint::Unix(p) => p.display().to_string(),
            Endpoint::Tcp { authority, .. } => format!("http://{authority}"),
        }
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let unreachable = |detail: String| ClientError::Unreachable {
            endpoint: self.describe(),
            detail,
        };
        let payload = body.unwrap_or_default();
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "orbitd")
            .header("content-type", "application/json");
        if let Endpoint::Tcp { token, .. } = self {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        let request = builder
            .body(Full::new(Bytes::from(payload)))
            .map_err(|e| unreachable(e.to_string()))?;
        match self {
            Endpoint::Unix(path) => {
                let stream =
                    tokio::net::UnixStream::connect(path)
                        .await
                        .map_err(|e| match e.kind() {
                            // EACCES and EPERM both: retrying will not help.
                            std::io::ErrorKind::PermissionDenied => ClientError::PermissionDenied {
                                endpoint: self.describe(),
                                detail: e.to_string(),
                            },
                            _ => unreachable(e.to_string()),
                        })?;
                exchange(stream, request).await.map_err(unreachable)
            }
            Endpoint::Tcp { authority, .. } => {
                let stream = tokio::net::TcpStream::connect(authority)
                    .await
                    .map_err(|e| unreachable(e.to_string()))?;
                exchange(stream, request).await.map_err(unreachable)
            }
        }
    }
}

async fn exchange<S>(
    stream: S,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, body))
}
