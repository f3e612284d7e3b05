//! The Serf adapter against a fake agent that streams one huge RPC value in
//! tiny writes: orbit's heap stays bounded (measured by a counting
//! allocator), the connection is dropped with an error, the adapter
//! reconnects and resyncs, and no verdict changes meanwhile.
//!
//! One test in this binary: the allocator counts per thread, and the test
//! runs everything (adapter, fake agent) on one current-thread runtime.

#![allow(clippy::unwrap_used)]
// test code: a panic is the failure report
// The counting allocator only forwards to the system allocator.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::SocketAddr;
use std::time::Duration;

use orbit_core::{Event, Liveness};
use orbit_detect::serf::{SerfAdapter, SerfSink, MAX_VALUE};
use rmpv::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
    static TOTAL: Cell<usize> = const { Cell::new(0) };
}

struct Counting;

fn count(grow: usize, shrink: usize) {
    // try_with: a thread being torn down has no counters left; skip it.
    let _ = LIVE.try_with(|live| {
        let now = live.get().saturating_add(grow).saturating_sub(shrink);
        live.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
        let _ = TOTAL.try_with(|t| t.set(t.get().saturating_add(grow)));
    });
}

// SAFETY: every call forwards to `System` with the caller's arguments; the
// counters are plain thread-local cells that never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size(), 0);
        // SAFETY: forwarded unchanged (same contract as ours).
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(0, layout.size());
        // SAFETY: forwarded unchanged (same contract as ours).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size, layout.size());
        // SAFETY: forwarded unchanged (same contract as ours).
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Heap growth (peak over the start) and bytes allocated since `reset`.
fn reset() -> usize {
    let live = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(live));
    TOTAL.with(|t| t.set(0));
    live
}

fn grown_since(base: usize) -> (usize, usize) {
    (
        PEAK.with(Cell::get).saturating_sub(base),
        TOTAL.with(Cell::get),
    )
}

fn map(pairs: Vec<(&str, Value)>) -> Value {
    Value::Map(
        pairs
            .into_iter()
            .map(|(k, v)| (Value::from(k), v))
            .collect(),
    )
}

fn encode(values: &[Value]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in values {
        rmpv::encode::write_value(&mut out, v).unwrap();
    }
    out
}

fn ok_header(seq: u64) -> Value {
    map(vec![("Seq", Value::from(seq)), ("Error", Value::from(""))])
}

/// Reads `n` whole MessagePack values (the agent's side of the protocol).
async fn read_values(s: &mut TcpStream, n: usize) {
    let mut buf = Vec::new();
    let mut got = 0;
    let mut chunk = [0u8; 1024];
    while got < n {
        let mut cur = std::io::Cursor::new(&buf[..]);
        if rmpv::decode::read_value(&mut cur).is_ok() {
            let used = usize::try_from(cur.position()).unwrap();
            buf.drain(..used);
            got += 1;
            continue;
        }
        let k = s.read(&mut chunk).await.unwrap();
        assert!(k > 0, "orbit hung up during the handshake");
        buf.extend_from_slice(&chunk[..k]);
    }
}

/// A fake agent's side of orbit's connect: handshake, stream, members (a1
/// of site a alive).
async fn serve_handshake(s: &mut TcpStream) {
    read_values(s, 2).await; // handshake + {Version}
    s.write_all(&encode(&[ok_header(0)])).await.unwrap();
    read_values(s, 2).await; // stream + {Type}
    s.write_all(&encode(&[ok_header(1)])).await.unwrap();
    read_values(s, 1).await; // members
    let a1 = map(vec![
        ("Name", Value::from("a1")),
        ("Status", Value::from("alive")),
        ("Tags", map(vec![("site", Value::from("a"))])),
    ]);
    let body = map(vec![("Members", Value::Array(vec![a1]))]);
    s.write_all(&encode(&[ok_header(2), body])).await.unwrap();
}

/// The next verdict about site a.
async fn verdict_about_a(rx: &mut mpsc::Receiver<Event>) -> Liveness {
    loop {
        let e = tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .expect("a verdict about a")
            .unwrap();
        if let Event::Verdict {
            subject, liveness, ..
        } = e
        {
            if subject.as_str() == "a" {
                return liveness;
            }
        }
    }
}

/// Writes `bytes` until orbit hangs up, watching orbit's heap as it goes;
/// returns how many bytes the socket took. The first 64 KiB go byte by
/// byte (a read per byte, each resuming the scan), the rest 1 KiB at a
/// time to keep the test short.
async fn trickle(s: &mut TcpStream, bytes: &[u8], base: usize, what: &str) -> usize {
    let mut sent = 0;
    while sent < bytes.len() {
        let piece = if sent < 64 * 1024 { 1 } else { 1024 };
        let end = (sent + piece).min(bytes.len());
        if s.write_all(&bytes[sent..end]).await.is_err() {
            return sent;
        }
        sent = end;
        let (peak, _) = grown_since(base);
        assert!(
            peak <= 2 * MAX_VALUE,
            "{what}: orbit's heap grew by {peak} bytes while reading one RPC value ({sent} bytes sent)"
        );
        // Let orbit read this piece on its own.
        tokio::task::yield_now().await;
    }
    panic!("{what}: orbit read {} bytes and never hung up", bytes.len());
}

#[tokio::test(flavor = "current_thread")]
async fn a_huge_rpc_value_streamed_byte_by_byte_is_cut_off_with_bounded_memory() {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (tx, mut rx) = mpsc::channel(64);
    let _adapter = SerfAdapter::start(addr, "b".parse().unwrap(), SerfSink::Engine(tx));

    let (mut s, _) = listener.accept().await.unwrap();
    serve_handshake(&mut s).await;
    assert_eq!(verdict_about_a(&mut rx).await, Liveness::Alive);

    // A stream record whose body never ends within the limit: a string
    // longer than the limit, and an array of more elements than fit.
    let mut long_string = encode(&[ok_header(1)]);
    long_string.extend_from_slice(&[0x82, 0xa5]);
    long_string.extend_from_slice(b"Event");
    long_string.push(0xdb);
    long_string.extend_from_slice(&u32::try_from(MAX_VALUE + 1).unwrap().to_be_bytes());
    long_string.resize(long_string.len() + MAX_VALUE + 1, b'x');
    let mut endless_array = encode(&[ok_header(1)]);
    endless_array.push(0xdd);
    endless_array.extend_from_slice(&u32::MAX.to_be_bytes());
    endless_array.resize(endless_array.len() + MAX_VALUE + 1, 0xc0);

    for (what, flood) in [
        ("long string", long_string),
        ("endless array", endless_array),
    ] {
        s.set_nodelay(true).unwrap();
        let base = reset();
        let sent = trickle(&mut s, &flood, base, what).await;
        let (peak, total) = grown_since(base);
        eprintln!("{what}: {sent} bytes sent; orbit's heap grew by at most {peak} bytes, {total} allocated");
        assert!(
            total <= 4 * MAX_VALUE,
            "{what}: {total} bytes allocated to read {sent} bytes"
        );
        // The adapter reconnects and resyncs; nothing but Alive was said.
        let (next, _) = tokio::time::timeout(Duration::from_secs(30), listener.accept())
            .await
            .expect("the adapter reconnects")
            .unwrap();
        s = next;
        serve_handshake(&mut s).await;
        assert_eq!(verdict_about_a(&mut rx).await, Liveness::Alive, "{what}");
    }
}
