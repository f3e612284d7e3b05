//! Golden scenario tests of the decision engine.
//!
//! Each folder under `tests/scenarios/` holds a `config.toml` (the local
//! daemon's config), an `events.jsonl` (one `{"at": ms, "event": {...}}` per
//! line) and an `expected.jsonl` (the decisions, one per line, then the final
//! steering). Timer ticks are delivered the way the daemon does: at every
//! deadline the engine asks for before the next event.
//!
//! Regenerate the expectations after an intended behaviour change with
//! `ORBIT_BLESS=1 cargo test -p orbit-core --test golden`, then review the diff.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use orbit_core::{Engine, Event, Millis, ServiceId};
use serde::Deserialize;

/// One line of `events.jsonl`: an event, or a check of the engine's state
/// at that time (checks keep a blessed expectation honest: a wrong outcome
/// fails even after `ORBIT_BLESS=1`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    at: u64,
    event: Option<Event>,
    check: Option<Check>,
    /// The daemon restarts here: a new engine from the same config takes
    /// the saved shared state and generation, as orbitd does from its
    /// state file.
    #[serde(default)]
    restart: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Check {
    #[serde(default)]
    active: BTreeMap<String, Option<String>>,
    #[serde(default)]
    roles: BTreeMap<String, String>,
    fenced: Option<bool>,
    observe_only: Option<bool>,
    takeover: Option<BTreeMap<String, bool>>,
    /// Where each named service is moving (a plan runs), or `null`.
    #[serde(default)]
    moving_to: BTreeMap<String, Option<String>>,
    /// The plan steps due at this member, as `SERVICE/STEP`.
    due: Option<Vec<String>>,
}

fn check_state(engine: &Engine, check: &Check, at: u64, dir: &Path) {
    let steering = engine.steering();
    let ctx = format!("{} at {at} ms", dir.display());
    for (service, want) in &check.active {
        let got = steering.services[&service.parse::<ServiceId>().expect("service id")]
            .active
            .as_ref()
            .map(|s| s.to_string());
        assert_eq!(&got, want, "{ctx}: active site of {service}");
    }
    for (service, want) in &check.roles {
        let got = steering.services[&service.parse::<ServiceId>().expect("service id")]
            .local_role
            .to_string();
        assert_eq!(&got, want, "{ctx}: local role for {service}");
    }
    if let Some(want) = check.fenced {
        assert_eq!(steering.fenced, want, "{ctx}: fenced");
    }
    if let Some(want) = check.observe_only {
        assert_eq!(steering.observe_only, want, "{ctx}: observe_only");
    }
    for (service, want) in &check.moving_to {
        let got = engine
            .moving_to(&service.parse::<ServiceId>().expect("service id"))
            .map(|s| s.to_string());
        assert_eq!(&got, want, "{ctx}: moving_to of {service}");
    }
    if let Some(want) = &check.due {
        assert_eq!(&due(engine), want, "{ctx}: plan steps due");
    }
    for (service, want) in check.takeover.iter().flatten() {
        let got = steering.services[&service.parse::<ServiceId>().expect("service id")].takeover;
        assert_eq!(got, *want, "{ctx}: takeover for {service}");
    }
}

fn run(dir: &Path) -> String {
    let config_path = dir.join("config.toml");
    let text = fs::read_to_string(&config_path).expect("config.toml");
    let mut engine = common::engine(&text);
    let events = fs::read_to_string(dir.join("events.jsonl")).expect("events.jsonl");
    let mut out = String::new();
    let mut last_due: Vec<String> = Vec::new();
    for (n, line) in events.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with("//") {
            continue;
        }
        let line: Line = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{}:{}: {e}", dir.display(), n + 1));
        while let Some(deadline) = engine.next_deadline() {
            if deadline.0 > line.at {
                break;
            }
            record(&mut out, engine.handle(deadline, Event::Tick));
        }
        if let Some(event) = line.event {
            record(&mut out, engine.handle(Millis(line.at), event));
        }
        if line.restart {
            let saved = engine.shared_state();
            let generation = engine.steering().generation;
            engine = common::engine(&text);
            engine.restore(&saved, generation);
            out.push_str(&format!("{{\"at\":{},\"restart\":true}}\n", line.at));
        }
        let now_due = due(&engine);
        if now_due != last_due {
            out.push_str(&format!(
                "{{\"at\":{},\"due\":{}}}\n",
                line.at,
                serde_json::to_string(&now_due).expect("serializes")
            ));
            last_due = now_due;
        }
        if let Some(c) = &line.check {
            if std::env::var_os("ORBIT_GOLDEN_DEBUG").is_some() {
                eprintln!("{out}\n{:?}", engine.status());
            }
            check_state(&engine, c, line.at, dir);
        }
    }
    out.push_str(&serde_json::to_string(engine.steering()).expect("serializes"));
    out.push('\n');
    out
}

/// The plan steps due at the engine's member, as `SERVICE/STEP`, sorted.
fn due(engine: &Engine) -> Vec<String> {
    let mut due: Vec<String> = engine
        .steps_due()
        .iter()
        .map(|d| format!("{}/{}", d.service, d.name))
        .collect();
    due.sort();
    due
}

fn record(out: &mut String, decisions: Vec<orbit_core::Decision>) {
    for d in decisions {
        out.push_str(&serde_json::to_string(&d).expect("serializes"));
        out.push('\n');
    }
}

fn scenarios() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .expect("tests/scenarios exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn golden_scenarios() {
    let bless = std::env::var_os("ORBIT_BLESS").is_some();
    let mut failures = Vec::new();
    let all = scenarios();
    assert!(
        all.len() >= 9,
        "expected the golden scenarios, found {}",
        all.len()
    );
    for dir in all {
        let got = run(&dir);
        let expected_path = dir.join("expected.jsonl");
        if bless {
            fs::write(&expected_path, &got).expect("write expected.jsonl");
            continue;
        }
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        if got != expected {
            let first = got
                .lines()
                .zip(expected.lines())
                .position(|(g, e)| g != e)
                .unwrap_or(got.lines().count().min(expected.lines().count()));
            failures.push(format!(
                "{}: differs at line {}\n  got:      {}\n  expected: {}",
                dir.display(),
                first + 1,
                got.lines().nth(first).unwrap_or("<end>"),
                expected.lines().nth(first).unwrap_or("<end>")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\n(run with ORBIT_BLESS=1 to regenerate after an intended change)",
        failures.join("\n")
    );
}
