//! End to end: orbitd steering a real HAProxy (2.6) in a temp dir. HAProxy
//! is killed and restarted on a stale map file (from before a switchover):
//! orbitd's backend runner must find the drift, repair it, and say so in
//! the journal, `/metrics` and `/v1/status`.
//!
//! Only unix sockets: HAProxy's runtime API and frontend, orbitd's API.
//! orbitd runs without gossip (liveness is fed in through the API).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use orbit_core::api::{JournalRecord, JournalResponse, StatusResponse};
use orbit_core::{BackendKind, Role};
use orbit_tests::haproxy::{start_serving, Haproxy, Running};
use orbit_tests::orbitd::{fed_config, http};

const MAP_KEY: &str = "web";

fn write_orbit_config(dir: &Path) -> PathBuf {
    let text = format!(
        r#"{head}
[policy]
sync_timeout = "200ms"
drain_grace = "300ms"
shutdown_grace = "2s"

[[service]]
id = "web"
prefixes = ["198.51.100.10/32"]
sites = ["a", "b"]

[haproxy]
socket = "{d}/haproxy.sock"
map = "{d}/orbit.map"
timeout = "2s"
[haproxy.backends]
web = {{ a = "be_web_a", b = "be_web_b" }}
"#,
        head = fed_config(dir, ""),
        d = dir.display()
    );
    let path = dir.join("orbit.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn start_orbitd(config: &Path, socket: &Path, log: &Path) -> Running {
    start_serving(
        Command::new(env!("CARGO_BIN_EXE_orbitd"))
            .arg("--config")
            .arg(config)
            .env("ORBIT_LOG", "info"),
        log,
        socket,
    )
}

/// Waits for `ok`, generously: the machine is shared and slow.
fn eventually(what: &str, ok: impl FnMut() -> bool) {
    orbit_tests::wait_until(Duration::from_secs(30), Duration::from_millis(50), what, ok);
}

fn journal(socket: &Path) -> Vec<JournalRecord> {
    let (code, body) = http(socket, "GET", "/v1/journal?limit=1000", "");
    assert_eq!(code, 200, "{body}");
    let journal: JournalResponse = serde_json::from_str(&body).unwrap();
    journal.entries.into_iter().map(|e| e.record).collect()
}

fn status(socket: &Path) -> StatusResponse {
    let (code, body) = http(socket, "GET", "/v1/status", "");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn drift_total(socket: &Path) -> u64 {
    let (code, body) = http(socket, "GET", "/metrics", "");
    assert_eq!(code, 200);
    body.lines()
        .find_map(|l| l.strip_prefix(r#"orbit_backend_drift_total{backend="haproxy"} "#))
        .map_or(0, |v| v.trim().parse().unwrap())
}

#[test]
fn haproxy_restarted_with_a_stale_map_is_reported_as_drift_and_repaired() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // HAProxy starts with web on site a.
    let lb = Haproxy::new(dir, &["be_web_a", "be_web_b"]);
    lb.write_map(&format!("{MAP_KEY} be_web_a\n"));
    let haproxy = lb.start();
    let config = write_orbit_config(dir);
    let socket = dir.join("api.sock");
    let _orbitd = start_orbitd(&config, &socket, &dir.join("orbitd.log"));

    let events = r#"[{"type":"verdict","observer":"a","subject":"b","liveness":"alive"},
                     {"type":"verdict","observer":"a","subject":"w","liveness":"alive"}]"#;
    let (code, body) = http(&socket, "POST", "/v1/events", events);
    assert_eq!(code, 202, "{body}");
    eventually("orbitd ready (synced, the map confirmed)", || {
        http(&socket, "GET", "/ready", "").0 == 200
    });
    let (code, body) = http(
        &socket,
        "POST",
        "/v1/switchover",
        r#"{"service":"web","to":"b"}"#,
    );
    assert_eq!(code, 200, "{body}");
    // Settled: a has drained web and the map confirms the last steering.
    eventually("the switchover settled and confirmed", || {
        let status = status(&socket);
        status.steering.services[&"web".parse().unwrap()].local_role == Role::Standby
            && status.backends[0].applied_generation == Some(status.steering.generation)
    });
    assert_eq!(lb.runtime_backend(MAP_KEY).as_deref(), Some("be_web_b"));
    assert!(lb.map_file().contains("web be_web_b"), "{}", lb.map_file());
    assert_eq!(drift_total(&socket), 0);

    // HAProxy crashes; the map file is restored from a backup taken before
    // the switchover; HAProxy comes back with web on site a.
    drop(haproxy);
    lb.write_map(&format!("{MAP_KEY} be_web_a\n"));
    let _haproxy = lb.start();

    let drift_records = || -> Vec<_> {
        journal(&socket)
            .into_iter()
            .filter_map(|r| match r {
                JournalRecord::Drift {
                    backend,
                    services,
                    repaired,
                    ..
                } => Some((backend, services, repaired)),
                _ => None,
            })
            .collect()
    };
    // The runner reports the repair once the map file is synced too, so
    // the journal may trail what HAProxy already shows.
    eventually(
        "the drift repaired in the runtime map and file, and journaled",
        || {
            lb.runtime_backend(MAP_KEY).as_deref() == Some("be_web_b")
                && lb.map_file().contains("web be_web_b")
                && !drift_records().is_empty()
        },
    );
    let drift = drift_records();
    assert_eq!(drift.len(), 1, "{drift:?}");
    let (backend, services, repaired) = &drift[0];
    assert_eq!((*backend, *repaired), (BackendKind::Haproxy, true));
    let services: Vec<String> = services.iter().map(ToString::to_string).collect();
    assert_eq!(services, ["web found at a, steering says b"]);
    assert_eq!(drift_total(&socket), 1);

    // The operator sees it too.
    let (code, text, err) = orbit_tests::orbitd::orbitctl(
        env!("CARGO_BIN_EXE_orbitd"),
        &socket,
        &["journal", "--limit", "1000"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains("backend haproxy generation")
            && text.contains("drift: web found at a, steering says b; repaired"),
        "{text}"
    );
    let status = status(&socket);
    assert_eq!(
        status.backends.iter().map(|b| b.kind).collect::<Vec<_>>(),
        [BackendKind::Haproxy]
    );
}
