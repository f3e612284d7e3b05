//! Just enough of the PostgreSQL frontend/backend protocol (version 3.0,
//! the simple-query flow of the PostgreSQL manual's "Message Flow") for the
//! lab's writer: connect with `trust` authentication, send one query, read
//! its rows. Every read has a timeout, so a site that went dark costs the
//! writer a bounded wait, not a hang.
//!
//! Message framing (encode and decode) is pure and unit-tested with the
//! bytes the manual's "Message Formats" section describes; the socket side
//! is exercised by the lab against a real server.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{bail, Context, Result};

/// Protocol 3.0 as the StartupMessage states it (major 3 << 16 | minor 0).
const PROTOCOL_3_0: i32 = 196_608;

/// A server message: its type byte and body (without the length).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub tag: u8,
    pub body: Vec<u8>,
}

/// The StartupMessage: no type byte, length, protocol, then name/value
/// pairs each NUL-terminated and one NUL after the last.
pub fn startup(user: &str, database: &str) -> Vec<u8> {
    let mut body = PROTOCOL_3_0.to_be_bytes().to_vec();
    for (k, v) in [("user", user), ("database", database)] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut out = len_prefix(body.len());
    out.extend_from_slice(&body);
    out
}

/// A Query message ('Q'): the SQL text, NUL-terminated.
pub fn query(sql: &str) -> Vec<u8> {
    let mut out = vec![b'Q'];
    out.extend_from_slice(&len_prefix(sql.len() + 1));
    out.extend_from_slice(sql.as_bytes());
    out.push(0);
    out
}

/// Terminate ('X').
pub fn terminate() -> Vec<u8> {
    vec![b'X', 0, 0, 0, 4]
}

/// The Int32 length of a message: it counts itself, not the type byte.
fn len_prefix(body: usize) -> Vec<u8> {
    let n = i32::try_from(body + 4).unwrap_or(i32::MAX);
    n.to_be_bytes().to_vec()
}

/// Splits one complete message off the front of `buf`: None while it is
/// incomplete.
pub fn split_message(buf: &[u8]) -> Result<Option<(Message, usize)>> {
    if buf.len() < 5 {
        return Ok(None);
    }
    let len = i32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
    if !(4..=64 << 20).contains(&len) {
        bail!("server message {:?} with length {len}", buf[0] as char);
    }
    let total = 1 + len as usize;
    if buf.len() < total {
        return Ok(None);
    }
    Ok(Some((
        Message {
            tag: buf[0],
            body: buf[5..total].to_vec(),
        },
        total,
    )))
}

/// A DataRow ('D'): Int16 column count, then per column an Int32 length
/// (-1 for NULL) and that many bytes.
pub fn data_row(body: &[u8]) -> Result<Vec<Option<String>>> {
    let short = || anyhow::anyhow!("DataRow cut short");
    let n = u16::from_be_bytes(body.get(0..2).ok_or_else(short)?.try_into()?);
    let mut at = 2;
    let mut cols = Vec::with_capacity(n.into());
    for _ in 0..n {
        let len = i32::from_be_bytes(body.get(at..at + 4).ok_or_else(short)?.try_into()?);
        at += 4;
        if len < 0 {
            cols.push(None);
            continue;
        }
        let end = at + len as usize;
        let text = body.get(at..end).ok_or_else(short)?;
        cols.push(Some(String::from_utf8_lossy(text).into_owned()));
        at = end;
    }
    Ok(cols)
}

/// An ErrorResponse ('E') or NoticeResponse as one line: severity,
/// SQLSTATE and message (fields 'S', 'C', 'M').
pub fn error_text(body: &[u8]) -> String {
    let mut severity = "";
    let mut code = "";
    let mut message = "";
    for field in body.split(|b| *b == 0) {
        let Some((&kind, value)) = field.split_first() else {
            continue;
        };
        let value = std::str::from_utf8(value).unwrap_or("?");
        match kind {
            b'S' => severity = value,
            b'C' => code = value,
            b'M' => message = value,
            _ => {}
        }
    }
    format!("{severity} {code}: {message}")
}

/// One connection, simple queries only.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Connects and authenticates (`trust` only: the lab's pg_hba.conf).
    pub fn connect(
        addr: SocketAddr,
        user: &str,
        database: &str,
        timeout: Duration,
    ) -> Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, timeout)
            .with_context(|| format!("connecting to {addr}"))?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        stream.set_nodelay(true)?;
        let mut conn = Conn {
            stream,
            buf: Vec::new(),
        };
        conn.stream.write_all(&startup(user, database))?;
        loop {
            let m = conn.next()?;
            match m.tag {
                b'R' => {
                    let code = m
                        .body
                        .get(0..4)
                        .map(|b| i32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                    if code != Some(0) {
                        bail!("server asks for authentication {code:?}; the lab's pg_hba.conf trusts its networks");
                    }
                }
                b'E' => bail!("{}", error_text(&m.body)),
                b'Z' => return Ok(conn),
                // ParameterStatus, BackendKeyData, notices.
                _ => {}
            }
        }
    }

    /// Runs one statement; its rows (as text), or the server's error.
    pub fn query(&mut self, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
        self.stream.write_all(&query(sql))?;
        let mut rows = Vec::new();
        let mut error = None;
        loop {
            let m = self.next()?;
            match m.tag {
                b'D' => rows.push(data_row(&m.body)?),
                b'E' => error = Some(error_text(&m.body)),
                b'Z' => {
                    return match error {
                        Some(e) => bail!("{e}"),
                        None => Ok(rows),
                    }
                }
                // RowDescription, CommandComplete, notices.
                _ => {}
            }
        }
    }

    fn next(&mut self) -> Result<Message> {
        loop {
            if let Some((m, used)) = split_message(&self.buf)? {
                self.buf.drain(..used);
                return Ok(m);
            }
            let mut chunk = [0u8; 8192];
            let n = self
                .stream
                .read(&mut chunk)
                .context("reading from the server")?;
            if n == 0 {
                bail!("the server closed the connection");
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let _ = self.stream.write_all(&terminate());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn startup_message_bytes() {
        let m = startup("postgres", "lab");
        // length 4 + protocol 4 + "user\0postgres\0" 14 + "database\0lab\0" 13 + 1
        let mut want = vec![0, 0, 0, 36, 0, 3, 0, 0];
        want.extend_from_slice(b"user\0postgres\0database\0lab\0\0");
        assert_eq!(m, want);
    }

    #[test]
    fn query_and_terminate_bytes() {
        assert_eq!(query("SELECT 1"), b"Q\0\0\0\x0dSELECT 1\0".to_vec());
        assert_eq!(terminate(), vec![b'X', 0, 0, 0, 4]);
    }

    #[test]
    fn splits_complete_messages_only() {
        // ReadyForQuery 'Z' idle, then half of a CommandComplete.
        let buf = b"Z\0\0\0\x05IC\0\0\0\x0dINS";
        let (m, used) = split_message(buf).unwrap().unwrap();
        assert_eq!(
            m,
            Message {
                tag: b'Z',
                body: b"I".to_vec()
            }
        );
        assert_eq!(used, 6);
        assert_eq!(split_message(&buf[used..]).unwrap(), None);
        assert!(
            split_message(b"D\xff\xff\xff\xff").is_err(),
            "negative length"
        );
    }

    #[test]
    fn data_row_with_null() {
        // 3 columns: "42", NULL, "a".
        let body = b"\0\x03\0\0\0\x0242\xff\xff\xff\xff\0\0\0\x01a";
        assert_eq!(
            data_row(body).unwrap(),
            vec![Some("42".into()), None, Some("a".into())]
        );
        assert!(data_row(b"\0\x01\0\0\0\x09ab").is_err(), "cut short");
    }

    #[test]
    fn error_response_text() {
        let body = b"SERROR\0VERROR\0C25006\0Mcannot execute INSERT in a read-only transaction\0\0";
        assert_eq!(
            error_text(body),
            "ERROR 25006: cannot execute INSERT in a read-only transaction"
        );
    }
}
