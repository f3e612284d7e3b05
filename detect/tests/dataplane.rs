//! The data-plane probe against real sockets on loopback.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::net::SocketAddr;
use std::time::Duration;

use orbit_detect::dataplane::{probe_site, ProbeTiming, Prober};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::time::timeout;

/// A listener that never accepts, with its accept queue filled: the kernel
/// drops every further SYN, so a connect to it hangs as to a dark site.
/// Keep what it returns alive for as long as the target must stay silent.
async fn silent_target() -> (TcpListener, Vec<TcpStream>, SocketAddr) {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    let listener = socket.listen(1).unwrap();
    let mut queued = Vec::new();
    for _ in 0..16 {
        match timeout(Duration::from_millis(300), TcpStream::connect(addr)).await {
            Ok(Ok(s)) => queued.push(s),
            _ => break,
        }
    }
    assert!(
        timeout(Duration::from_millis(300), TcpStream::connect(addr))
            .await
            .is_err(),
        "a connect to the full listener hangs"
    );
    (listener, queued, addr)
}

/// Runs the probe of `site` toward `addr` (30 s interval, so only the
/// first regular probe and bursts happen within a test).
fn start(
    site: &str,
    addr: SocketAddr,
    burst_timeout: Duration,
) -> (
    Prober,
    mpsc::Receiver<(orbit_core::SiteId, bool)>,
    tokio::task::JoinHandle<()>,
) {
    let timing = ProbeTiming {
        interval: Duration::from_secs(30),
        burst_timeout,
    };
    let (tx, rx) = mpsc::channel(4);
    let prober = Prober::default();
    let task = tokio::spawn(probe_site(
        site.parse().unwrap(),
        addr,
        timing,
        prober.clone(),
        tx,
    ));
    (prober, rx, task)
}

/// Issue 20: a burst asked for while a regular probe hangs on a site that
/// just went dark goes ahead at once; before, it waited for the regular
/// probe's whole timeout (the probe interval), so a member that happened
/// to be mid-probe decided up to a probe interval late.
#[tokio::test]
async fn a_burst_goes_ahead_of_a_regular_probe_hanging_on_a_dark_site() {
    let (_listener, _queued, addr) = silent_target().await;
    let (prober, mut rx, task) = start("a", addr, Duration::from_millis(50));
    // The first regular probe starts at once and hangs for 30 s.
    tokio::time::sleep(Duration::from_millis(200)).await;
    prober.burst();
    let verdict = timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("the burst decides, not the regular probe 30 s from now")
        .unwrap();
    assert_eq!(
        verdict,
        ("a".parse().unwrap(), false),
        "two failed attempts: unreachable"
    );
    task.abort();
}

/// A burst toward a site that answers changes nothing but confirms it.
#[tokio::test]
async fn a_burst_toward_a_live_site_reports_it_reachable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { while listener.accept().await.is_ok() {} });
    let (prober, mut rx, task) = start("b", addr, Duration::from_millis(500));
    let first = timeout(Duration::from_secs(10), rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        first,
        ("b".parse().unwrap(), true),
        "the first regular probe"
    );
    prober.burst();
    assert!(
        timeout(Duration::from_millis(500), rx.recv())
            .await
            .is_err(),
        "a burst that passes reports no change"
    );
    task.abort();
}
