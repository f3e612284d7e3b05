//! `orbit-lab serve`: the service of one site. It answers UDP probes (the
//! probe's 8-byte sequence number followed by the site name) and HTTP/1.1
//! (keep-alive or not) with the site name, so the client always knows which
//! site served it.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};

use anyhow::{Context, Result};

pub fn serve(site: &str, udp_port: u16, http_port: u16) -> Result<()> {
    // Bound to the service address, not the wildcard: a wildcard socket
    // would answer from the interface's own address and the client's
    // connected socket would drop the reply.
    let udp = UdpSocket::bind((crate::plan::SERVICE_ADDR, udp_port))
        .context("binding the UDP port on the service address")?;
    let tag = site.to_owned();
    std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        loop {
            let Ok((n, peer)) = udp.recv_from(&mut buf) else {
                continue;
            };
            if n < 8 {
                continue; // not a probe
            }
            let mut reply = buf[..8].to_vec();
            reply.extend_from_slice(tag.as_bytes());
            let _ = udp.send_to(&reply, peer);
        }
    });
    let listener = TcpListener::bind(("0.0.0.0", http_port)).context("binding the HTTP port")?;
    eprintln!("orbit-lab serve: site {site}, udp {udp_port}, http {http_port}");
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let site = site.to_owned();
        std::thread::spawn(move || {
            let _ = http_connection(stream, &site);
        });
    }
    Ok(())
}

/// Serves requests on one connection until the peer closes it or asks to.
fn http_connection(stream: TcpStream, site: &str) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut close = false;
        let mut first = true;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                return Ok(());
            }
            let line = line.trim_end();
            if line.is_empty() {
                if first {
                    continue;
                }
                break;
            }
            first = false;
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("connection:") && lower.contains("close") {
                close = true;
            }
        }
        let body = format!("{site}\n");
        write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n{}\r\n{body}",
            body.len(),
            if close { "Connection: close\r\n" } else { "" }
        )?;
        out.flush()?;
        if close {
            return Ok(());
        }
    }
}
