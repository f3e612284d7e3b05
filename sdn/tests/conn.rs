//! The connection driver against a fake switch that misbehaves.

use std::time::Duration;

use orbit_sdn::conn::Connection;
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

#[tokio::test]
async fn garbage_from_the_switch_drops_the_connection_and_it_reconnects() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("fake.mgmt");
    let listener = UnixListener::bind(&path).expect("bind");
    let conn = Connection::spawn(&format!("unix:{}", path.display())).expect("spawn");

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
    s.write_all(
        &Message::new(barrier.xid, Body::BarrierReply)
            .encode()
            .expect("enc"),
    )
    .await
    .expect("write");
    let errors = batch.await.expect("join").expect("batch confirmed");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].0, 1, "the error belongs to the second message");

    // Now a header that announces 4 bytes: malformed, the session ends.
    s.write_all(&[4, 0, 0, 4, 0, 0, 0, 1]).await.expect("write");
    let (mut s2, _) = tokio::time::timeout(Duration::from_secs(3), listener.accept())
        .await
        .expect("orbit reconnects")
        .expect("accept");
    handshake(&mut s2).await;
    let mut rx = c.state();
    tokio::time::timeout(Duration::from_secs(2), rx.wait_for(|s| s.epoch == 2))
        .await
        .expect("second session")
        .expect("watch");

    // While the switch is gone, requests fail quickly instead of hanging.
    drop(s2);
    drop(listener);
    tokio::time::sleep(Duration::from_millis(100)).await;
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
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("fake.mgmt");
    let listener = UnixListener::bind(&path).expect("bind");
    let conn = Connection::spawn(&format!("unix:{}", path.display())).expect("spawn");
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
