//! The connection driver against a fake switch that misbehaves.

use std::time::Duration;

use orbit_sdn::conn::{Connection, SEND_QUEUE_LIMIT};
use orbit_sdn::ofp::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

async fn read_msg(s: &mut UnixStream) -> Message {
    let mut h = [0u8; 8];
    s.read_exact(&mut h).await.expect("header");
    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let mut b = h.to_vec();
    b.resize(len, 0);
    s.read_exact(&mut b[8..]).await.expect("body");
    Message::decode(&b).expect("orbit sends valid OpenFlow")
}

async fn handshake(s: &mut UnixStream) {
    let hello = read_msg(s).await;
    assert!(matches!(hello.body, Body::Hello(_)));
    let reply = Message::new(1, Body::Hello(Hello::of13()));
    s.write_all(&reply.encode().expect("enc"))
        .await
        .expect("write");
    let f = read_msg(s).await;
    assert_eq!(f.body, Body::FeaturesRequest);
    let reply = Message::new(
        f.xid,
        Body::FeaturesReply(FeaturesReply {
            datapath_id: 7,
            n_buffers: 0,
            n_tables: 254,
            auxiliary_id: 0,
            capabilities: 0,
        }),
    );
    s.write_all(&reply.encode().expect("enc"))
        .await
        .expect("write");
}

/// A fake switch's listening socket (in a temp dir, kept while the guard
/// lives) and orbit's connection to it.
fn fake_switch() -> (tempfile::TempDir, UnixListener, Connection) {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("fake.mgmt");
    let listener = UnixListener::bind(&path).expect("bind");
    let conn = Connection::spawn(&format!("unix:{}", path.display())).expect("spawn");
    (dir, listener, conn)
}

async fn answer_barrier(s: &mut UnixStream, xid: u32) {
    let reply = Message::new(xid, Body::BarrierReply);
    s.write_all(&reply.encode().expect("enc"))
        .await
        .expect("write");
}

/// orbit's next connection: accepted, handshaken, session `epoch` ready.
async fn session_again(listener: &UnixListener, conn: &Connection, epoch: u64) -> UnixStream {
    let (mut s, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
        .await
        .expect("orbit reconnects")
        .expect("accept");
    handshake(&mut s).await;
    let mut rx = conn.state();
    tokio::time::timeout(Duration::from_secs(5), rx.wait_for(|s| s.epoch == epoch))
        .await
        .expect("the new session is ready")
        .expect("watch");
    s
}

#[tokio::test]
async fn garbage_from_the_switch_drops_the_connection_and_it_reconnects() {
    let (_dir, listener, conn) = fake_switch();

    let (mut s, _) = listener.accept().await.expect("first connection");
    handshake(&mut s).await;
    let st = conn
        .wait_ready(Duration::from_secs(2))
        .await
        .expect("ready");
    assert_eq!((st.epoch, st.datapath_id), (1, Some(7)));

    // The switch echoes: orbit must answer with the same xid and payload.
    let echo = Message::new(99, Body::EchoRequest(b"ping".to_vec()));
    s.write_all(&echo.encode().expect("enc"))
        .await
        .expect("write");
    let reply = read_msg(&mut s).await;
    assert_eq!(reply, Message::new(99, Body::EchoReply(b"ping".to_vec())));

    // A batch is answered only at its barrier, with per-message errors.
    let c = std::sync::Arc::new(conn);
    let c2 = c.clone();
    let batch = tokio::spawn(async move {
        c2.transact(vec![Body::BarrierRequest, Body::FeaturesRequest])
            .await
    });
    let m1 = read_msg(&mut s).await;
    let m2 = read_msg(&mut s).await;
    let barrier = read_msg(&mut s).await;
    assert_eq!(barrier.body, Body::BarrierRequest);
    let err = Message::new(
        m2.xid,
        Body::Error(ErrorMsg {
            typ: 1,
            code: 1,
            data: vec![],
        }),
    );
    s.write_all(&err.encode().expect("enc"))
        .await
        .expect("write");
    let _ = m1;
    answer_barrier(&mut s, barrier.xid).await;
    let errors = batch.await.expect("join").expect("batch confirmed");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, 1, "the error belongs to the second message");

    // Now a header that announces 4 bytes: malformed, the session ends.
    s.write_all(&[4, 0, 0, 4, 0, 0, 0, 1]).await.expect("write");
    let s2 = session_again(&listener, &c, 2).await;

    // While the switch is gone, requests fail quickly instead of hanging.
    drop(s2);
    drop(listener);
    // Once the connection has seen the switch go.
    tokio::time::timeout(
        Duration::from_secs(10),
        c.state().wait_for(|s| s.datapath_id.is_none()),
    )
    .await
    .expect("the session ends when the switch goes")
    .expect("connection task alive");
    let r = tokio::time::timeout(
        Duration::from_secs(2),
        c.multipart(MultipartRequest::GroupDesc),
    )
    .await
    .expect("answers promptly");
    assert!(r.is_err(), "{r:?}");
}

#[tokio::test]
async fn a_switch_without_openflow13_is_refused() {
    let (_dir, listener, conn) = fake_switch();
    let (mut s, _) = listener.accept().await.expect("connection");
    let _ = read_msg(&mut s).await;
    let mut hello = Message::new(
        1,
        Body::Hello(Hello {
            versions: Some(0b10),
        }),
    );
    hello.version = 1;
    s.write_all(&hello.encode().expect("enc"))
        .await
        .expect("write");
    // orbit answers HELLO_FAILED and hangs up.
    let err = read_msg(&mut s).await;
    assert!(
        matches!(err.body, Body::Error(ErrorMsg { typ: 0, .. })),
        "{err:?}"
    );
    let mut rest = Vec::new();
    let n = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut rest))
        .await
        .expect("closed")
        .expect("read");
    assert_eq!(n, 0);
    assert!(conn.wait_ready(Duration::from_millis(200)).await.is_err());
}

#[tokio::test]
async fn a_switch_that_never_reads_is_dropped_at_the_send_queue_limit() {
    let (_dir, listener, conn) = fake_switch();
    let (mut s, _) = listener.accept().await.expect("connection");
    handshake(&mut s).await;
    conn.wait_ready(Duration::from_secs(5))
        .await
        .expect("ready");

    // From now on the switch never reads, but it keeps talking (its echo
    // requests prove it alive, so only the send queue can tell).
    let (_unread, mut w) = s.into_split();
    let chatter = tokio::spawn(async move {
        for xid in 1000.. {
            let echo = Message::new(xid, Body::EchoRequest(Vec::new()));
            if w.write_all(&echo.encode().expect("enc")).await.is_err() {
                return;
            }
            // Pacing: the switch echoes every 100 ms.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });

    // Batches of ~4 MB each until well past the limit plus what the
    // socket buffers take.
    let conn = std::sync::Arc::new(conn);
    let batch = vec![Body::EchoRequest(vec![0u8; 60_000]); 64];
    let batches = 2 + SEND_QUEUE_LIMIT / (60_000 * 64) * 2;
    let mut calls = Vec::new();
    for _ in 0..batches {
        let c = conn.clone();
        let bodies = batch.clone();
        calls.push(tokio::spawn(async move { c.transact(bodies).await }));
    }
    let limit = SEND_QUEUE_LIMIT.to_string();
    let mut reasons = Vec::new();
    for call in calls {
        let r = tokio::time::timeout(Duration::from_secs(60), call)
            .await
            .expect("a batch to a switch that never reads fails, it does not hang")
            .expect("join");
        let err = r.expect_err("never confirmed");
        reasons.push(err.to_string());
    }
    eprintln!("{}", reasons[0]);
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("send queue") && r.contains(&limit)),
        "{reasons:?}"
    );

    // orbit reconnects; a switch that reads gets its batch confirmed.
    chatter.abort();
    let mut s2 = session_again(&listener, &conn, 2).await;
    let c = conn.clone();
    let ok = tokio::spawn(async move { c.transact(vec![Body::FeaturesRequest]).await });
    let _ = read_msg(&mut s2).await;
    let barrier = read_msg(&mut s2).await;
    assert_eq!(barrier.body, Body::BarrierRequest);
    answer_barrier(&mut s2, barrier.xid).await;
    let errors = tokio::time::timeout(Duration::from_secs(10), ok)
        .await
        .expect("confirmed")
        .expect("join")
        .expect("batch confirmed");
    assert!(errors.is_empty());
}
