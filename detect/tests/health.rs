//! Health checks against real local listeners and commands that the tests
//! start, stop and change.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orbit_config::Config;
use orbit_core::Event;
use orbit_detect::health::HealthChecks;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

fn config(health: &str) -> Config {
    config_with(&format!(
        "{health}, interval = \"50ms\", rise = 2, fall = 2"
    ))
}

/// The config with `health = { <health> }` as given (timers included).
fn config_with(health: &str) -> Config {
    let text = format!(
        r#"
[node]
site = "a"
[[site]]
id = "a"
gossip = "127.0.0.1:1"
[[site]]
id = "b"
gossip = "127.0.0.1:2"
[[site]]
id = "w"
gossip = "127.0.0.1:3"
witness = true
[detect]
gossip = false
[[service]]
id = "web"
prefixes = ["203.0.113.10/32"]
sites = ["a", "b"]
health = {{ {health} }}
"#
    );
    Config::parse_valid(&text, "test.toml").expect("valid test config")
}

/// Waits for the next health event and returns its verdict.
async fn next_health(rx: &mut mpsc::Receiver<Event>) -> bool {
    let e = tokio::time::timeout(Duration::from_secs(3), rx.recv())
        .await
        .expect("a health event within 3 s")
        .expect("channel open");
    match e {
        Event::Health {
            site,
            service,
            healthy,
        } => {
            assert_eq!((site.as_str(), service.as_str()), ("a", "web"));
            healthy
        }
        other => panic!("unexpected event {other:?}"),
    }
}

/// Asserts that no health event comes for `d`.
async fn quiet_for(rx: &mut mpsc::Receiver<Event>, d: Duration) {
    if let Ok(e) = tokio::time::timeout(d, rx.recv()).await {
        panic!("unexpected event {e:?}");
    }
}

#[tokio::test]
async fn tcp_check_follows_a_listener_with_rise_and_fall() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let cfg = config(&format!("tcp = \"{addr}\""));
    let _checks =
        HealthChecks::start(&cfg.node.site, &cfg.health_checks(), tx, None, None).unwrap();
    assert!(next_health(&mut rx).await);
    quiet_for(&mut rx, Duration::from_millis(300)).await;
    drop(listener);
    assert!(!next_health(&mut rx).await);
    let _again = TcpListener::bind(addr).await.unwrap();
    assert!(next_health(&mut rx).await);
}

/// A tiny HTTP server whose answer the test changes.
async fn http_server(answer: Arc<Mutex<(u16, String)>>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 2048];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                assert!(got.starts_with(b"GET /healthz HTTP/1.1\r\n"));
                let (status, body) = answer.lock().unwrap().clone();
                let resp = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn http_check_wants_the_status_and_the_body() {
    let answer = Arc::new(Mutex::new((200u16, "status: ready".to_owned())));
    let addr = http_server(answer.clone()).await;
    let (tx, mut rx) = mpsc::channel(16);
    let cfg = config(&format!(
        "http = \"http://{addr}/healthz\", http_body = \"ready\""
    ));
    let _checks =
        HealthChecks::start(&cfg.node.site, &cfg.health_checks(), tx, None, None).unwrap();
    assert!(next_health(&mut rx).await);
    *answer.lock().unwrap() = (200, "status: starting".into());
    assert!(!next_health(&mut rx).await, "body lost its marker");
    *answer.lock().unwrap() = (503, "status: ready".into());
    quiet_for(&mut rx, Duration::from_millis(300)).await;
    *answer.lock().unwrap() = (200, "status: ready".into());
    assert!(next_health(&mut rx).await);
}

#[tokio::test]
async fn http_check_with_an_expected_status() {
    let answer = Arc::new(Mutex::new((204u16, String::new())));
    let addr = http_server(answer.clone()).await;
    let (tx, mut rx) = mpsc::channel(16);
    let cfg = config(&format!(
        "http = \"http://{addr}/healthz\", http_status = 204"
    ));
    let _checks =
        HealthChecks::start(&cfg.node.site, &cfg.health_checks(), tx, None, None).unwrap();
    assert!(next_health(&mut rx).await);
    *answer.lock().unwrap() = (200, String::new());
    assert!(!next_health(&mut rx).await, "200 is not the expected 204");
}

#[tokio::test]
async fn exec_check_follows_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("up");
    let (tx, mut rx) = mpsc::channel(16);
    let cfg = config(&format!(
        "exec = [\"sh\", \"-c\", \"test -e {}\"]",
        flag.display()
    ));
    let _checks =
        HealthChecks::start(&cfg.node.site, &cfg.health_checks(), tx, None, None).unwrap();
    assert!(!next_health(&mut rx).await, "no flag file: unhealthy");
    std::fs::write(&flag, "").unwrap();
    assert!(next_health(&mut rx).await);
    std::fs::remove_file(&flag).unwrap();
    assert!(!next_health(&mut rx).await);
}

#[tokio::test]
async fn every_check_is_observed_with_its_duration_and_outcome() {
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("up");
    let (tx, mut rx) = mpsc::channel(16);
    // A check that takes at least 30 ms.
    let cfg = config(&format!(
        "exec = [\"sh\", \"-c\", \"sleep 0.03; test -e {}\"]",
        flag.display()
    ));
    let seen: Arc<Mutex<Vec<(String, Duration, bool)>>> = Arc::default();
    let record = seen.clone();
    let observer: orbit_detect::health::CheckObserver = Arc::new(move |service, took, ok| {
        record.lock().unwrap().push((service.to_string(), took, ok));
    });
    let _checks = HealthChecks::start(
        &cfg.node.site,
        &cfg.health_checks(),
        tx,
        None,
        Some(observer),
    )
    .unwrap();
    assert!(!next_health(&mut rx).await);
    std::fs::write(&flag, "").unwrap();
    assert!(next_health(&mut rx).await);
    let seen = seen.lock().unwrap().clone();
    // fall = rise = 2: at least two failures, then two passes.
    let failed = seen.iter().filter(|(_, _, ok)| !ok).count();
    let passed = seen.iter().filter(|(_, _, ok)| *ok).count();
    assert!(failed >= 2 && passed >= 2, "{seen:?}");
    for (service, took, _) in &seen {
        assert_eq!(service, "web");
        assert!(*took >= Duration::from_millis(30), "{seen:?}");
    }
}

#[tokio::test]
async fn a_hanging_check_times_out() {
    // Accepts but never answers: the http check must give up after its timeout.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    let (tx, mut rx) = mpsc::channel(16);
    let cfg = config(&format!("http = \"http://{addr}/healthz\""));
    let _checks =
        HealthChecks::start(&cfg.node.site, &cfg.health_checks(), tx, None, None).unwrap();
    assert!(!next_health(&mut rx).await);
}

/// The health of `web` within `d`, or `None`.
async fn health_within(rx: &mut mpsc::Receiver<Event>, d: Duration) -> Option<bool> {
    match tokio::time::timeout(d, rx.recv()).await {
        Ok(Some(Event::Health { healthy, .. })) => Some(healthy),
        Ok(other) => panic!("unexpected {other:?}"),
        Err(_) => None,
    }
}

/// `fast_interval` (HAProxy's `fastinter`): while the result is in
/// transition the checks come at the fast interval, so `rise` passes and
/// `fall` failures are confirmed in (n - 1) fast intervals after the first
/// one instead of (n - 1) intervals: with a 2 s interval, a service that
/// stops answering is unhealthy ~2 s after, not 6 s.
#[tokio::test]
async fn checks_in_transition_come_at_the_fast_interval() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (tx, mut rx) = mpsc::channel(16);
    let cfg = config_with(&format!(
        "tcp = \"{addr}\", interval = \"2s\", fast_interval = \"20ms\", rise = 3, fall = 3"
    ));
    let _checks =
        HealthChecks::start(&cfg.node.site, &cfg.health_checks(), tx, None, None).unwrap();
    // Rise: the first pass at start, two more 20 ms apart (4 s at the
    // regular interval).
    assert_eq!(
        health_within(&mut rx, Duration::from_millis(1500)).await,
        Some(true),
        "healthy after three fast checks"
    );
    drop(listener);
    // The first failure comes with the next regular check (within 2 s);
    // the other two 20 ms later each (4 s later at the regular interval).
    assert_eq!(
        health_within(&mut rx, Duration::from_millis(3500)).await,
        Some(false),
        "unhealthy one interval after the listener went, not three"
    );
}
