//! `orbit_health_check_duration_seconds` counts and times every local
//! health check of a real orbitd, by service and result: a failing exec
//! check shows as `fail`, and once it passes as `ok`.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;
use std::time::Duration;

use orbit_tests::orbitd::{standalone_config, Orbitd};

/// The value of the sample `series` (name and labels) in `metrics`.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn each_health_check_is_timed_by_service_and_result() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let up = dir.join("up");
    let base = standalone_config(dir);
    let web = "sites = [\"a\"]\n";
    assert!(base.contains(web), "standalone_config changed:\n{base}");
    // At least 20 ms per check.
    let health = format!(
        "{web}health = {{ exec = [\"sh\", \"-c\", \"sleep 0.02; test -e {}\"], interval = \"100ms\", rise = 1, fall = 1 }}\n",
        up.display()
    );
    let orbitd = Orbitd::start_in(
        Path::new(env!("CARGO_BIN_EXE_orbitd")),
        dir,
        &base.replacen(web, &health, 1),
    );
    let count = |result: &str| {
        let (code, metrics) = orbitd.get("/metrics");
        assert_eq!(code, 200);
        let series = format!(
            "orbit_health_check_duration_seconds_count{{service=\"web\",result=\"{result}\"}}"
        );
        (sample(&metrics, &series).unwrap_or(0.0), metrics)
    };
    let eventually = |what: &str, ok: &dyn Fn() -> bool| {
        orbit_tests::wait_until(Duration::from_secs(30), Duration::from_millis(50), what, ok)
    };
    eventually("failing checks counted", &|| count("fail").0 >= 2.0);
    assert_eq!(count("ok").0, 0.0, "no check passed yet");
    std::fs::write(&up, "").unwrap();
    eventually("passing checks counted", &|| count("ok").0 >= 2.0);
    let (_, metrics) = count("ok");
    // Every check took 20 ms or more: none in the buckets below.
    let fast = sample(
        &metrics,
        "orbit_health_check_duration_seconds_bucket{le=\"0.016\",service=\"web\",result=\"ok\"}",
    );
    assert_eq!(fast, Some(0.0), "{metrics}");
    let sum = sample(
        &metrics,
        "orbit_health_check_duration_seconds_sum{service=\"web\",result=\"ok\"}",
    )
    .unwrap();
    assert!(sum >= 0.02 * count("ok").0.min(2.0), "{metrics}");
}
