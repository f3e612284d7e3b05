//! The client against a scripted fake runtime API: timeouts, a peer that
//! closes mid-reply, and reconnecting afterwards. (Real-HAProxy behaviour is
//! in `real_haproxy.rs`; these faults cannot be provoked from a real one.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use orbit_haproxy::{Client, Endpoint, Error};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixListener;

const INFO: &[u8] = include_bytes!("replies/show_info.txt");

/// Serves connections one after the other; on each, answers `prompt` and
/// `show info` like HAProxy 2.6, then `show map` per `behaviour`.
#[derive(Clone, Copy)]
enum Behaviour {
    Hang,
    CloseMidReply,
    Answer,
}

async fn fake(listener: UnixListener, script: Vec<Behaviour>) {
    for behaviour in script {
        let (c, _) = listener.accept().await.unwrap();
        tokio::spawn(serve(c, behaviour));
    }
}

async fn serve(mut c: tokio::net::UnixStream, behaviour: Behaviour) {
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match c.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let cmd = String::from_utf8_lossy(&buf[..n]).to_string();
        let reply: &[u8] = if cmd.starts_with("prompt") {
            b"\n> "
        } else if cmd.starts_with("show info") {
            INFO
        } else {
            match behaviour {
                Behaviour::Hang => {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    break;
                }
                Behaviour::CloseMidReply => {
                    c.write_all(b"0x55aeb283a150 svc be_a\n").await.unwrap();
                    break;
                }
                Behaviour::Answer => b"0x55aeb283a150 svc be_b\n\n> ",
            }
        };
        if c.write_all(reply).await.is_err() {
            break;
        }
    }
}

#[tokio::test]
async fn a_silent_peer_times_out_naming_the_command_then_the_client_reconnects() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("cli.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    tokio::spawn(fake(listener, vec![Behaviour::Hang, Behaviour::Answer]));

    let mut client = Client::new(
        Endpoint::parse(sock.to_str().unwrap()).unwrap(),
        Duration::from_millis(200),
    );
    let t = Instant::now();
    let e = client.show_map("/m", None).await.unwrap_err();
    assert!(matches!(e, Error::Timeout { .. }), "{e:?}");
    assert!(
        e.to_string().contains("show map /m") && e.to_string().contains("200 ms"),
        "{e}"
    );
    assert!(t.elapsed() < Duration::from_secs(2));
    assert!(
        !client.is_connected(),
        "a timed-out connection must not be reused"
    );
    assert_eq!(client.epoch(), 1);

    let entries = client.show_map("/m", None).await.unwrap();
    assert_eq!(entries, vec![("svc".to_owned(), "be_b".to_owned())]);
    assert_eq!(client.epoch(), 2);
}

#[tokio::test]
async fn a_peer_closing_mid_reply_is_an_error_quoting_what_came() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("cli.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    tokio::spawn(fake(
        listener,
        vec![Behaviour::CloseMidReply, Behaviour::Answer],
    ));

    let mut client = Client::new(
        Endpoint::parse(sock.to_str().unwrap()).unwrap(),
        Duration::from_secs(2),
    );
    let e = client.show_map("/m", None).await.unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("show map /m") && msg.contains("svc be_a") && msg.contains("closed"),
        "{msg}"
    );
    assert!(client.show_map("/m", None).await.is_ok());
}

#[tokio::test]
async fn a_peer_that_closes_an_idle_connection_is_noticed_before_the_next_command() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("cli.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    // First connection: handshake, then the fake closes it (as HAProxy's
    // `stats timeout` does); second connection answers.
    tokio::spawn(async move {
        let (mut c, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        for reply in [&b"\n> "[..], INFO] {
            let _ = c.read(&mut buf).await.unwrap();
            c.write_all(reply).await.unwrap();
        }
        drop(c);
        fake(listener, vec![Behaviour::Answer]).await;
    });
    let mut client = Client::new(
        Endpoint::parse(sock.to_str().unwrap()).unwrap(),
        Duration::from_secs(2),
    );
    client.connect().await.unwrap();
    // Until haproxy's close has arrived and been noticed.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    client.drop_if_closed();
    while client.is_connected() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
        client.drop_if_closed();
    }
    assert!(!client.is_connected());
    assert!(client.show_map("/m", None).await.is_ok());
    assert_eq!(client.epoch(), 2);
}
