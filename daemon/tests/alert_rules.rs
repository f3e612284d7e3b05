//! The shipped alert rules (`contrib/prometheus/orbit-alerts.yml`) and
//! Grafana dashboard (`contrib/grafana/orbit.json`): the rules valid for
//! Prometheus (`promtool check rules`) and doing what they say on synthetic
//! series (`promtool test rules orbit-alerts.test.yml`); both written
//! against metric names a real orbitd exports, so that a renamed metric
//! cannot silently disarm an alert or blank a panel.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use orbit_tests::netns::Netns;
use orbit_tests::orbitd::{http, one_site_config, Orbitd};

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/prometheus")
}

fn promtool(args: &[&str]) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(rules_dir())
        .output()
        .unwrap_or_else(|e| panic!("promtool does not start (scripts/install-deps.sh): {e}"));
    assert!(
        out.status.success(),
        "promtool {args:?}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_alert_rules_are_valid_and_pass_their_unit_tests() {
    promtool(&["check", "rules", "orbit-alerts.yml"]);
    promtool(&["test", "rules", "orbit-alerts.test.yml"]);
}

/// Every `orbit_*` name in `text`, without the counter and histogram
/// sample suffixes (the family names `/metrics` declares).
fn orbit_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("orbit_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        // Only a whole word: not the tail of another name.
        let boundary = rest[..i]
            .chars()
            .last()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        if boundary && !tail[..end].ends_with('_') {
            names.insert(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
    names
}

/// Every PromQL expression of the dashboard.
fn dashboard_queries() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../contrib/grafana/orbit.json");
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.len() >= 10, "a dashboard, not a stub");
    let exprs: Vec<&str> = panels
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap())
        .map(|t| t["expr"].as_str().unwrap())
        .collect();
    exprs.join("\n")
}

#[test]
fn every_metric_the_alerts_and_the_dashboard_use_is_exported_by_orbitd() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // A BGP peer with BFD that never answers: its session and BFD metrics
    // exist (down) as they would on a router; and a hook backend, which
    // confirms at once; a health check, timed. In a namespace of its own.
    let config = format!(
        "{}[hook]\ncommand = [\"/bin/sh\", \"-c\", \"cat > /dev/null\"]\n[bgp]\nasn = 65001\nrouter_id = \"192.0.2.1\"\n\
         [[bgp.peer]]\naddress = \"127.0.0.2\"\nasn = 65002\nbfd = true\n",
        one_site_config(dir, &["198.51.100.10/32"]).replacen(
            "sites = [\"a\"]\n",
            "sites = [\"a\"]\nhealth = { exec = [\"true\"], interval = \"100ms\" }\n",
            1
        )
    );
    std::fs::write(dir.join("orbit.toml"), config).unwrap();
    std::fs::write(dir.join("gossip.key"), "a-gossip-key-for-this-test-only").unwrap();
    let ns = Netns::new("alerts");
    let _orbitd = Orbitd::start_in_netns(Path::new(env!("CARGO_BIN_EXE_orbitd")), &ns, dir);
    let socket = dir.join("api.sock");
    let declared = |metrics: &str| -> BTreeSet<String> {
        metrics
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_owned)
            .collect()
    };
    // The backend's applied generation exists once it confirmed one, the
    // check's histogram once it ran, the decisions once one was made.
    let mut metrics = String::new();
    orbit_tests::wait_until(
        Duration::from_secs(30),
        Duration::from_millis(50),
        "a health check, a decision and the hook backend confirming it",
        || {
            let (code, body) = http(&socket, "GET", "/metrics", "");
            assert_eq!(code, 200);
            metrics = body;
            let declared = declared(&metrics);
            [
                "orbit_backend_applied_generation",
                "orbit_health_check_duration_seconds",
                "orbit_decisions_total",
            ]
            .iter()
            .all(|name| declared.contains(*name))
        },
    );
    let declared = declared(&metrics);
    assert!(
        metrics.contains("orbit_backend_consecutive_failures{backend=\"hook\"} 0")
            && metrics.contains("orbit_backend_last_success_timestamp_seconds{backend=\"hook\"} "),
        "a backend that confirmed: no failures in a row, and when it last succeeded\n{metrics}"
    );
    let rules = std::fs::read_to_string(rules_dir().join("orbit-alerts.yml")).unwrap();
    for (what, text) in [("alert rules", rules), ("dashboard", dashboard_queries())] {
        let missing: Vec<String> = orbit_names(&text)
            .into_iter()
            // A histogram's series name its family with a suffix.
            .map(|n| {
                let family = n.trim_end_matches("_bucket").to_owned();
                if declared.contains(&family) {
                    family
                } else {
                    n
                }
            })
            .filter(|n| !declared.contains(n))
            .collect();
        assert!(
            missing.is_empty(),
            "{what} use metrics orbitd does not export: {missing:?}\n{metrics}"
        );
    }
}
