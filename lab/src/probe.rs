//! `orbit-lab probe`: the client's view. Three streams run at once until
//! stdin closes:
//!
//! - UDP: sequence-numbered datagrams at `rate` per second; every send and
//!   every reply is logged (`us SEQ`, `ur SEQ SITE`).
//! - HTTP keep-alive: one connection, a request every 5 ms (`ka SITE` /
//!   `ke REASON`), reconnecting after an error.
//! - HTTP new connection: a fresh connection per request every 20 ms
//!   (`nc SITE` / `ne REASON`).
//!
//! Each line starts with the Unix time in microseconds. The runner parses
//! the file after the run (`analysis.rs`).

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::sys::now_us;

const KEEPALIVE_EVERY: Duration = Duration::from_millis(5);
const NEWCONN_EVERY: Duration = Duration::from_millis(20);
const HTTP_TIMEOUT: Duration = Duration::from_millis(300);

pub fn probe(target: Ipv4Addr, udp_port: u16, http_port: u16, rate: u32, out: &str) -> Result<()> {
    let (tx, rx) = mpsc::channel::<String>();
    let stop = Arc::new(AtomicBool::new(false));
    let file = std::fs::File::create(out).with_context(|| format!("creating {out}"))?;
    let writer = std::thread::spawn(move || -> std::io::Result<()> {
        let mut w = BufWriter::new(file);
        for line in rx {
            w.write_all(line.as_bytes())?;
            w.write_all(b"\n")?;
        }
        w.flush()
    });

    let udp = UdpSocket::bind("0.0.0.0:0")?;
    udp.connect((target, udp_port))?;
    udp.set_read_timeout(Some(Duration::from_millis(100)))?;
    let mut handles = Vec::new();
    {
        let udp = udp.try_clone()?;
        let (tx, stop) = (tx.clone(), stop.clone());
        handles.push(std::thread::spawn(move || udp_receiver(&udp, &tx, &stop)));
    }
    {
        let (tx, stop) = (tx.clone(), stop.clone());
        handles.push(std::thread::spawn(move || {
            udp_sender(&udp, rate.max(1), &tx, &stop)
        }));
    }
    let addr = SocketAddr::from((target, http_port));
    {
        let (tx, stop) = (tx.clone(), stop.clone());
        handles.push(std::thread::spawn(move || keepalive(addr, &tx, &stop)));
    }
    {
        let (tx, stop) = (tx.clone(), stop.clone());
        handles.push(std::thread::spawn(move || newconn(addr, &tx, &stop)));
    }
    drop(tx);
    // The runner stops us by closing stdin.
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    stop.store(true, Ordering::SeqCst);
    for h in handles {
        let _ = h.join();
    }
    writer
        .join()
        .map_err(|_| anyhow::anyhow!("log writer panicked"))??;
    Ok(())
}

fn udp_sender(udp: &UdpSocket, rate: u32, tx: &mpsc::Sender<String>, stop: &AtomicBool) {
    let period = Duration::from_secs(1) / rate;
    let start = Instant::now();
    let mut seq: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let due = start + period * u32::try_from(seq).unwrap_or(u32::MAX);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        // A send error (no route while a site is cut) is a lost probe.
        let _ = udp.send(&seq.to_be_bytes());
        let _ = tx.send(format!("{} us {seq}", now_us()));
        seq += 1;
    }
}

fn udp_receiver(udp: &UdpSocket, tx: &mpsc::Sender<String>, stop: &AtomicBool) {
    let mut buf = [0u8; 64];
    while !stop.load(Ordering::Relaxed) {
        let Ok(n) = udp.recv(&mut buf) else { continue };
        if n < 8 {
            continue;
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&buf[..8]);
        let site = String::from_utf8_lossy(&buf[8..n]).trim().to_owned();
        let _ = tx.send(format!(
            "{} ur {} {site}",
            now_us(),
            u64::from_be_bytes(seq)
        ));
    }
}

/// Reads one HTTP/1.1 response; returns its status and body.
fn read_response(reader: &mut BufReader<TcpStream>) -> std::io::Result<(u16, String)> {
    let mut status_line = String::new();
    if reader.read_line(&mut status_line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "closed",
        ));
    }
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length.min(4096)];
    reader.read_exact(&mut body)?;
    Ok((status, String::from_utf8_lossy(&body).trim().to_owned()))
}

fn connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, HTTP_TIMEOUT)?;
    s.set_read_timeout(Some(HTTP_TIMEOUT))?;
    s.set_write_timeout(Some(HTTP_TIMEOUT))?;
    s.set_nodelay(true)?;
    Ok(s)
}

fn error_word(e: &std::io::Error) -> String {
    format!("{:?}", e.kind())
}

fn keepalive(addr: SocketAddr, tx: &mpsc::Sender<String>, stop: &AtomicBool) {
    let mut conn: Option<(TcpStream, BufReader<TcpStream>)> = None;
    let start = Instant::now();
    let mut n: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        let due = start + KEEPALIVE_EVERY * n;
        n += 1;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if conn.is_none() {
            match connect(addr).and_then(|s| Ok((s.try_clone()?, BufReader::new(s)))) {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    let _ = tx.send(format!("{} ke {}", now_us(), error_word(&e)));
                    continue;
                }
            }
        }
        let Some((w, r)) = conn.as_mut() else {
            continue;
        };
        let result = w
            .write_all(b"GET /ka HTTP/1.1\r\nHost: web\r\n\r\n")
            .and_then(|()| read_response(r));
        match result {
            Ok((200, site)) => {
                let _ = tx.send(format!("{} ka {site}", now_us()));
            }
            Ok((status, _)) => {
                let _ = tx.send(format!("{} ke status{status}", now_us()));
            }
            Err(e) => {
                let _ = tx.send(format!("{} ke {}", now_us(), error_word(&e)));
                conn = None;
            }
        }
    }
}

fn newconn(addr: SocketAddr, tx: &mpsc::Sender<String>, stop: &AtomicBool) {
    let start = Instant::now();
    let mut n: u32 = 0;
    while !stop.load(Ordering::Relaxed) {
        let due = start + NEWCONN_EVERY * n;
        n += 1;
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let result = connect(addr).and_then(|mut s| {
            s.write_all(b"GET /nc HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n")?;
            read_response(&mut BufReader::new(s))
        });
        let line = match result {
            Ok((200, site)) => format!("{} nc {site}", now_us()),
            Ok((status, _)) => format!("{} ne status{status}", now_us()),
            Err(e) => format!("{} ne {}", now_us(), error_word(&e)),
        };
        let _ = tx.send(line);
    }
}
