//! The OVSDB / unixctl JSON-RPC reader against fake servers on a unix
//! socket that misbehave: whatever they send, orbit's buffer stays bounded,
//! the call fails with one clear error naming the server, and the next
//! connection to a server that behaves works again.

use std::time::Duration;

use orbit_sdn::jsonrpc::MAX_MESSAGE;
use orbit_sdn::ovsdb::Ovsdb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// Far longer than a bounded reader needs; an unbounded one never returns.
const DEADLINE: Duration = Duration::from_secs(60);

/// Reads one request (orbit sends each as a single write of one JSON
/// object) and returns its id.
async fn read_request(s: &mut UnixStream) -> u64 {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).await.expect("read request");
        assert!(n > 0, "orbit closed before sending a request");
        buf.extend_from_slice(&chunk[..n]);
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&buf) {
            return v["id"].as_u64().expect("request id");
        }
    }
}

/// Writes `head`, then `body` over and over until orbit hangs up; returns
/// how many bytes the socket took.
async fn stream_until_closed(s: &mut UnixStream, head: &[u8], body: &[u8]) -> usize {
    let mut sent = 0;
    if s.write_all(head).await.is_err() {
        return sent;
    }
    sent += head.len();
    while s.write_all(body).await.is_ok() {
        sent += body.len();
    }
    sent
}

/// What a misbehaving server sends after the request's header bytes.
struct Misbehaviour {
    name: &'static str,
    head: Vec<u8>,
    /// Repeated forever; empty means "send head, then keep the socket open".
    body: Vec<u8>,
    /// Words the error must contain.
    expect: Vec<String>,
}

#[tokio::test]
async fn a_server_that_streams_garbage_or_endless_json_is_cut_off() {
    let limit = MAX_MESSAGE.to_string();
    let cases = [
        Misbehaviour {
            name: "endless string",
            head: br#"{"id":1,"error":null,"result":""#.to_vec(),
            body: vec![b'a'; 65536],
            expect: vec!["larger than".into(), limit.clone()],
        },
        Misbehaviour {
            name: "endless whitespace",
            head: Vec::new(),
            body: vec![b' '; 65536],
            expect: vec!["larger than".into(), limit.clone()],
        },
        Misbehaviour {
            name: "endless nesting",
            head: br#"{"id":1,"result":"#.to_vec(),
            body: vec![b'['; 65536],
            expect: vec!["nested".into()],
        },
        Misbehaviour {
            name: "binary garbage",
            head: vec![0, 0xff, 0x13, 0x37],
            body: vec![0xa5; 65536],
            expect: vec!["garbled".into()],
        },
    ];
    for Misbehaviour {
        name,
        head,
        body,
        expect,
    } in cases
    {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("db.sock");
        let endpoint = format!("unix:{}", path.display());
        let listener = UnixListener::bind(&path).expect("bind");
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.expect("accept");
            let _ = read_request(&mut s).await;
            let sent = stream_until_closed(&mut s, &head, &body).await;
            // The next connection gets a proper answer.
            let (mut s, _) = listener.accept().await.expect("accept again");
            let id = read_request(&mut s).await;
            let reply = serde_json::json!({"id": id, "error": null,
                "result": [{"rows": [{"name": "br0"}]}]});
            s.write_all(reply.to_string().as_bytes())
                .await
                .expect("reply");
            sent
        });

        let mut db = Ovsdb::connect(&endpoint).await.expect("connect");
        let err = tokio::time::timeout(DEADLINE, db.list_bridges())
            .await
            .unwrap_or_else(|_| panic!("{}: the reader never gave up", name))
            .expect_err("no answer can be parsed");
        let msg = err.to_string();
        eprintln!("{name}: {msg}");
        assert!(msg.contains(&endpoint), "{}: {msg}", name);
        for word in &expect {
            assert!(msg.contains(word), "{}: {msg} lacks {word:?}", name);
        }
        drop(db);
        // orbit's next connection (the existing retry: a fresh call) works.
        let mut db = Ovsdb::connect(&endpoint).await.expect("reconnect");
        let bridges = tokio::time::timeout(DEADLINE, db.list_bridges())
            .await
            .expect("a good server answers in time")
            .expect("a good server answers");
        assert_eq!(bridges, vec!["br0".to_owned()], "{}", name);
        let sent = server.await.expect("server");
        // What orbit held is bounded by its limit; the rest of what the
        // server wrote sat in the socket buffers.
        assert!(
            sent <= 2 * MAX_MESSAGE,
            "{}: the server got {sent} bytes into the socket before orbit hung up",
            name
        );
    }
}
