//! `orbitctl status` against real orbitd processes (in the test's own
//! namespace: no gossip, liveness fed in through `POST /v1/events`): why
//! each service is where it is (HELD BY / REASON), since when a dead site
//! is dead and its health shown as stale, the daemon's config file, load
//! time and uptime, and a failing backend's error cut short in the table
//! but whole in `--json`.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;
use std::time::{Duration, Instant};

use orbit_tests::orbitd::{fed_config, http, orbitctl, standalone_config, Orbitd};
use serde_json::Value;

/// Generous: a shared, loaded machine.
const LIMIT: Duration = Duration::from_secs(30);

fn start(dir: &Path, config: &str) -> Orbitd {
    Orbitd::start_in(Path::new(env!("CARGO_BIN_EXE_orbitd")), dir, config)
}

/// A fresh directory with orbitd running `config(dir)` in it.
fn started(config: impl Fn(&Path) -> String) -> (tempfile::TempDir, Orbitd) {
    orbit_tests::assert_root("orbitd tests");
    let tmp = tempfile::tempdir().unwrap();
    let daemon = start(tmp.path(), &config(tmp.path()));
    (tmp, daemon)
}

fn ctl(dir: &Path, args: &[&str]) -> (i32, String, String) {
    orbitctl(env!("CARGO_BIN_EXE_orbitd"), &dir.join("api.sock"), args)
}

/// `orbitctl status` as a table.
fn table(dir: &Path) -> String {
    let (code, out, err) = ctl(dir, &["status"]);
    assert_eq!(code, 0, "{err}");
    out
}

/// `GET /v1/status` as orbitd answers it.
fn api_status(dir: &Path) -> Value {
    let (code, body) = http(&dir.join("api.sock"), "GET", "/v1/status", "");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// The row of the table whose first cell is `first`.
fn row(table: &str, first: &str) -> String {
    table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(first))
        .unwrap_or_else(|| panic!("no row {first} in\n{table}"))
        .to_owned()
}

fn eventually(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + LIMIT;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The engine's `held_by` of `service` in the API's status.
fn held_by(dir: &Path, service: &str) -> Value {
    api_status(dir)["engine"]["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == service)
        .map(|s| s["held_by"].clone())
        .unwrap()
}

#[test]
fn status_shows_the_config_file_uptime_and_why_a_service_is_where_it_is() {
    let (tmp, _daemon) = started(standalone_config);
    let dir = tmp.path();
    eventually("web placed at a", || {
        held_by(dir, "web")["kind"] == "preferred"
    });
    let text = table(dir);
    let config = dir.join("orbit.toml");
    assert!(
        text.contains(&format!("config {} (loaded 20", config.display()))
            && text.contains("), up "),
        "{text}"
    );
    assert!(text.contains("HELD BY / REASON"), "{text}");
    assert!(row(&text, "web").contains("preferred"), "{text}");
    let status = api_status(dir);
    assert_eq!(
        status["daemon"]["config_file"],
        config.display().to_string()
    );
    assert!(status["daemon"]["uptime_ms"].is_u64(), "{status}");

    let (code, _, err) = ctl(dir, &["pin", "--service", "web", "--to", "a"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(held_by(dir, "web")["kind"], "pinned");
    assert!(row(&table(dir), "web").contains("pinned"));
}

#[test]
fn a_failing_backend_is_cut_short_in_the_table_and_whole_in_json() {
    let long = "the hook cannot reach the router; ".repeat(5);
    let (tmp, _daemon) = started(|dir| {
        standalone_config(dir).replace(
            "cat > /dev/null",
            &format!("echo '{}END' >&2; exit 3", long.trim_end()),
        )
    });
    let dir = tmp.path();
    eventually("the hook to fail", || {
        api_status(dir)["backends"][0]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("END"))
    });
    let text = table(dir);
    let hook = row(&text, "hook");
    assert!(
        hook.contains("failing (") && hook.ends_with("...") && !hook.contains("END"),
        "{text}"
    );
    assert!(hook.chars().count() < 100, "{hook}");
    let (code, json, err) = ctl(dir, &["--json", "status"]);
    assert_eq!(code, 0, "{err}");
    assert!(json.contains("END"), "the whole error in --json: {json}");
    // /metrics counts the failures in a row; no success, no timestamp.
    let (code, metrics) = orbit_tests::orbitd::http(&dir.join("api.sock"), "GET", "/metrics", "");
    assert_eq!(code, 200);
    let failures: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("orbit_backend_consecutive_failures{backend=\"hook\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{metrics}"));
    assert!(failures >= 1, "{metrics}");
    assert!(
        !metrics.contains("orbit_backend_last_success_timestamp_seconds{backend=\"hook\"}"),
        "{metrics}"
    );
}

/// Sites a (here), b and witness w without gossip; web prefers b, fails
/// back after 10 minutes.
fn two_sites(dir: &Path) -> String {
    format!(
        r#"{head}
[policy]
sync_timeout = "200ms"
failover_hold = "0s"
failback_after = "10m"

[[service]]
id = "web"
prefixes = ["198.51.100.10/32"]
sites = ["b", "a"]
"#,
        head = fed_config(dir, "")
    )
}

/// Verdicts about b from a (this node) and the witness (which hears a,
/// so its votes count).
fn feed_b(dir: &Path, liveness: &str) {
    let events = format!(
        r#"[{{"type":"verdict","observer":"a","subject":"w","liveness":"alive"}},
            {{"type":"verdict","observer":"w","subject":"a","liveness":"alive"}},
            {{"type":"verdict","observer":"a","subject":"b","liveness":"{liveness}"}},
            {{"type":"verdict","observer":"w","subject":"b","liveness":"{liveness}"}}]"#
    );
    let (code, body) = http(&dir.join("api.sock"), "POST", "/v1/events", &events);
    assert_eq!(code, 202, "{body}");
}

#[test]
fn status_says_since_when_a_site_is_dead_why_services_failed_over_and_when_they_fail_back() {
    let (tmp, _daemon) = started(two_sites);
    let dir = tmp.path();
    feed_b(dir, "alive");
    eventually("web at b, preferred", || {
        held_by(dir, "web")["kind"] == "preferred"
    });

    feed_b(dir, "dead");
    eventually("web failed over to a", || {
        held_by(dir, "web")["kind"] == "failover"
    });
    let held = held_by(dir, "web");
    assert_eq!(held["site"], "b", "{held}");
    assert_eq!(held["cause"], "dead", "{held}");
    let text = table(dir);
    let b = row(&text, "b");
    assert!(b.contains("DEAD since ") && b.contains(" UTC ("), "{text}");
    let web = row(&text, "web");
    assert!(web.contains("failover (b dead)"), "{text}");
    assert!(
        web.contains("b:stale"),
        "a dead site's health is stale: {text}"
    );
    let status = api_status(dir);
    let b = status["engine"]["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "b")
        .unwrap()
        .clone();
    // The count goes on between events (the engine's clock stops then).
    let dead_for = |dir: &Path| {
        api_status(dir)["engine"]["sites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == "b")
            .unwrap()["dead_for_ms"]
            .as_u64()
            .unwrap()
    };
    let first = dead_for(dir);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(dead_for(dir) >= first + 1000, "{b}");

    feed_b(dir, "alive");
    eventually("b back, web waiting to fail back", || {
        held_by(dir, "web")["kind"] == "failback_timer"
    });
    let held = held_by(dir, "web");
    let left = held["remaining_ms"].as_u64().unwrap();
    assert!(left > 0 && left <= 600_000, "{held}");
    let web = row(&table(dir), "web");
    assert!(web.contains("failback to b in "), "{web}");
}
