//! `/metrics` of a real orbitd in both text formats, each checked by a
//! strict parser of that format that orbitd's code did not write:
//! - without `Accept` (textfile collectors, older agents) or asking for
//!   `text/plain`: the classic Prometheus format 0.0.4, which `promtool
//!   check metrics` accepts;
//! - asking for OpenMetrics as Prometheus does: OpenMetrics 1.0.0, which
//!   the OpenMetrics parser of the Python Prometheus client accepts.
//!
//! Both carry `orbit_build_info` and the standard `process_*` metrics.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use orbit_tests::orbitd::{http_with, Orbitd};

const PROMETHEUS_ACCEPT: &str = "accept: application/openmetrics-text;version=1.0.0;q=0.5,\
     application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2\r\n";

/// Runs `program args` with `input` on stdin: (success, stdout + stderr).
fn check(program: &str, args: &[&str], input: &str) -> (bool, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} does not start (scripts/install-deps.sh): {e}"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Debian's Python (`/usr/bin/python3`, where `python3-prometheus-client`
/// installs; a `python3` earlier on PATH may be another). The OpenMetrics
/// parser of the Python client raises on anything the
/// specification does not allow; prints how many families it read.
const OPENMETRICS_PARSE: &str = "import sys\n\
from prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
families = list(text_string_to_metric_families(sys.stdin.read()))\n\
print(len(families))\n";

#[test]
fn metrics_are_valid_in_the_format_the_client_asks_for() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let orbitd = Orbitd::start_standalone(Path::new(env!("CARGO_BIN_EXE_orbitd")), dir);
    let socket = dir.join("api.sock");
    for accept in [
        "",
        "accept: text/plain;version=0.0.4\r\n",
        "accept: */*\r\n",
    ] {
        let (code, head, body) = http_with(&socket, "GET", "/metrics", accept, "");
        assert_eq!(code, 200, "{head}");
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: text/plain; version=0.0.4"),
            "{accept:?}: {head}"
        );
        assert!(!body.contains("# EOF"), "{body}");
        assert!(
            body.contains("# TYPE orbit_decisions_total counter"),
            "{body}"
        );
        // Who is running, and the standard process metrics, unprefixed.
        assert!(
            body.contains(&format!(
                "orbit_build_info{{version=\"{}\",commit=\"",
                env!("CARGO_PKG_VERSION")
            )),
            "{body}"
        );
        for name in [
            "process_cpu_seconds_total",
            "process_start_time_seconds",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_max_fds",
        ] {
            assert!(
                body.lines().any(|l| l.starts_with(&format!("{name} "))),
                "{name}: {body}"
            );
        }
        let (ok, out) = check("promtool", &["check", "metrics"], &body);
        assert!(
            ok,
            "promtool check metrics ({accept:?}):\n{out}\n---\n{body}"
        );
    }

    let (code, head, body) = http_with(&socket, "GET", "/metrics", PROMETHEUS_ACCEPT, "");
    assert_eq!(code, 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    let (ok, out) = check("/usr/bin/python3", &["-c", OPENMETRICS_PARSE], &body);
    assert!(ok, "OpenMetrics parser:\n{out}\n---\n{body}");
    assert!(out.trim().parse::<u32>().unwrap() > 20, "families: {out}");
    drop(orbitd);
}
