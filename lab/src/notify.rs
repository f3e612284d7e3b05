//! `orbit-lab notify-sink`: the orchestrator of the PostgreSQL scenarios,
//! an HTTP listener in the witness's namespace that the plan's
//! `after_takeover` step tells where the database went (an OpenStack-style
//! "recover this data center" call). Each request is logged as one line,
//! `US METHOD PATH BODY` (the body on one line), and answered 202, until
//! stdin closes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::sys::now_us;

/// Where the sink listens: the witness's control address.
pub const PORT: u16 = 8776;

pub fn sink(listen: SocketAddr, out: &str) -> Result<()> {
    let listener = TcpListener::bind(listen).with_context(|| format!("binding {listen}"))?;
    listener.set_nonblocking(true)?;
    let mut log = std::fs::File::create(out).with_context(|| format!("creating {out}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
            stop.store(true, Ordering::SeqCst);
        });
    }
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => {
                let line = request(stream).unwrap_or_else(|e| format!("- - bad request: {e:#}"));
                writeln!(log, "{} {line}", now_us())?;
                log.flush()?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Reads one request, answers 202; `METHOD PATH BODY`.
fn request(stream: TcpStream) -> Result<String> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut first = String::new();
    reader.read_line(&mut first)?;
    let mut parts = first.split_whitespace();
    let method = parts.next().unwrap_or("-").to_owned();
    let path = parts.next().unwrap_or("-").to_owned();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().context("Content-Length")?;
            }
        }
    }
    let mut body = vec![0u8; length.min(64 * 1024)];
    reader.read_exact(&mut body)?;
    let mut stream = stream;
    stream.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    let body = String::from_utf8_lossy(&body).replace(['\r', '\n'], " ");
    Ok(format!("{method} {path} {body}"))
}

/// The moves the orchestrator was told of, in order: (Unix µs, from, to),
/// from the sink's log and the lab plan's body (`"from": "a", "to": "b"`).
pub fn moves(log: &str) -> Vec<(i64, String, String)> {
    log.lines()
        .filter_map(|l| {
            let (t, rest) = l.split_once(' ')?;
            let field = |name: &str| {
                let key = format!("\"{name}\": \"");
                let start = rest.find(&key)? + key.len();
                let end = rest[start..].find('"')?;
                Some(rest[start..start + end].to_owned())
            };
            Some((t.parse().ok()?, field("from")?, field("to")?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_from_the_sink_log() {
        let log = "1000 POST /v1/datacenters/b/recover {\"service\": \"db\", \"from\": \"a\", \"to\": \"b\", \"generation\": 3}\n\
                   2000 - - bad request: timed out\n";
        assert_eq!(moves(log), vec![(1000, "a".into(), "b".into())]);
    }
}
