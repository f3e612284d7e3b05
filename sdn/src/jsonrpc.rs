//! JSON-RPC 1.0 over a unix or TCP stream, as both ovsdb-server (RFC 7047
//! §4) and the ovs-vswitchd control socket (unixctl) speak it: bare JSON
//! objects back to back, no framing, so messages are framed incrementally
//! ([`Framer`], bounded by [`MAX_MESSAGE`]).

mod framer;

use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::Error;
pub use framer::{FrameError, Framer, MAX_DEPTH, MAX_MESSAGE};

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A connected JSON-RPC session.
pub struct JsonRpc {
    endpoint: String,
    stream: Box<dyn Stream>,
    framer: Framer,
    next_id: u64,
}

impl std::fmt::Debug for JsonRpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonRpc")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

impl JsonRpc {
    /// Connects to `unix:PATH` or `tcp:HOST:PORT`.
    pub async fn connect(endpoint: &str) -> Result<JsonRpc, Error> {
        let err = |source| Error::Connect {
            endpoint: endpoint.to_owned(),
            source,
        };
        let stream: Box<dyn Stream> = if let Some(path) = endpoint.strip_prefix("unix:") {
            Box::new(tokio::net::UnixStream::connect(path).await.map_err(err)?)
        } else if let Some(addr) = endpoint.strip_prefix("tcp:") {
            Box::new(tokio::net::TcpStream::connect(addr).await.map_err(err)?)
        } else {
            return Err(Error::BadEndpoint(endpoint.to_owned()));
        };
        Ok(JsonRpc {
            endpoint: endpoint.to_owned(),
            stream,
            framer: Framer::default(),
            next_id: 1,
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub(crate) fn fail(&self, detail: impl Into<String>) -> Error {
        Error::Ovsdb {
            endpoint: self.endpoint.clone(),
            detail: detail.into(),
        }
    }

    fn io(&self, source: std::io::Error) -> Error {
        Error::Io {
            endpoint: self.endpoint.clone(),
            source,
        }
    }

    async fn send(&mut self, v: &Value) -> Result<(), Error> {
        let bytes = serde_json::to_vec(v).map_err(|e| self.fail(e.to_string()))?;
        let r = self.stream.write_all(&bytes).await;
        r.map_err(|e| self.io(e))
    }

    /// Reads the next complete message from the stream. A broken or
    /// oversized stream is an error: the caller drops the connection, and
    /// the next call connects afresh.
    async fn recv(&mut self) -> Result<Value, Error> {
        let mut chunk = [0u8; 16384];
        loop {
            match self.framer.next_message() {
                Ok(Some(v)) => return Ok(v),
                Ok(None) => {}
                Err(e) => return Err(self.fail(format!("{e}; dropping the connection"))),
            }
            let n = self.stream.read(&mut chunk).await.map_err(|e| self.io(e))?;
            if n == 0 {
                return Err(self.fail("server closed the connection"));
            }
            self.framer.push(&chunk[..n]);
        }
    }

    /// Calls `method` and waits for its response, answering the server's
    /// `echo` keepalives (RFC 7047 §4.1.11) meanwhile.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, Error> {
        let id = self.next_id;
        self.next_id += 1;
        self.send(&json!({"method": method, "params": params, "id": id}))
            .await?;
        loop {
            let msg = self.recv().await?;
            if msg.get("method").and_then(Value::as_str) == Some("echo") {
                let reply = json!({"result": msg["params"], "error": null, "id": msg["id"]});
                self.send(&reply).await?;
                continue;
            }
            if msg.get("id") != Some(&json!(id)) {
                // Update notifications: orbit registers no monitor, ignore.
                continue;
            }
            if let Some(e) = msg.get("error").filter(|e| !e.is_null()) {
                return Err(self.fail(format!("{method} failed: {e}")));
            }
            return Ok(msg.get("result").cloned().unwrap_or(Value::Null));
        }
    }
}
