//! `orbitctl reload [--check FILE]` and SIGHUP against a real orbitd
//! (issue 17 item 5): what a new config changes, golden-tested through the
//! real binaries and API; a reload that applies an edit (the new service
//! in the status); a bad file refused with exit 1, its problems named, the
//! old config still in force; the reload metrics after each; SIGHUP
//! logging the same on one line and journaling it.
//!
//! orbitd runs in its own network namespace (its gossip port on the
//! namespace's loopback); orbitctl reaches it over the unix socket. Run as
//! root. `ORBIT_BLESS=1` rewrites the golden `*.expected` files.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};
use std::time::Duration;

use orbit_tests::bfd_lab::TempDir;
use orbit_tests::netns::Netns;
use orbit_tests::orbitd::{one_site_config, orbitctl, Orbitd};
use serde_json::Value;

const ORBITD: &str = env!("CARGO_BIN_EXE_orbitd");

/// An orbitd in its own namespace, its directory and config file.
struct Running {
    orbitd: Orbitd,
    config: PathBuf,
    dir: TempDir,
    // Dropped last: orbitd is killed with it.
    _ns: Netns,
}

impl Running {
    fn start(tag: &str, text: impl Fn(&Path) -> String) -> Running {
        let dir = TempDir::new(tag);
        let ns = Netns::new(tag);
        std::fs::write(dir.0.join("gossip.key"), "a-gossip-key-for-this-test-only").unwrap();
        let config = dir.0.join("orbit.toml");
        std::fs::write(&config, text(&dir.0)).unwrap();
        let orbitd = Orbitd::start_in_netns(Path::new(ORBITD), &ns, &dir.0);
        Running {
            orbitd,
            config,
            dir,
            _ns: ns,
        }
    }

    /// orbitctl ARGS: (exit code, stdout, stderr), with the temp dir
    /// written as `{dir}`.
    fn orbitctl(&self, args: &[&str]) -> (i32, String, String) {
        let (code, out, err) = orbitctl(ORBITD, &self.orbitd.socket, args);
        let dir = self.dir.0.display().to_string();
        (code, out.replace(&dir, "{dir}"), err.replace(&dir, "{dir}"))
    }

    /// One sample of `/metrics`.
    fn metric(&self, name: &str) -> f64 {
        let (code, body) = self.orbitd.get("/metrics");
        assert_eq!(code, 200, "{body}");
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} not in /metrics:\n{body}"))
    }

    fn services(&self) -> Vec<String> {
        let (code, body) = self.orbitd.get("/v1/status");
        assert_eq!(code, 200, "{body}");
        let status: Value = serde_json::from_str(&body).unwrap();
        status["steering"]["services"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect()
    }

    fn journal(&self) -> Vec<Value> {
        let (code, body) = self.orbitd.get("/v1/journal?limit=1000");
        assert_eq!(code, 200, "{body}");
        let journal: Value = serde_json::from_str(&body).unwrap();
        journal["entries"].as_array().unwrap().clone()
    }

    /// The journal's reload entries.
    fn reloads(&self) -> Vec<Value> {
        self.journal()
            .into_iter()
            .filter(|e| e["kind"] == "reload")
            .collect()
    }
}

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reload_golden")
}

/// A golden config file as orbitd reads it: `{dir}` filled in, and the
/// shared `head.toml` first unless the file has a `[node]` of its own.
fn golden_config(name: &str, dir: &Path) -> String {
    let read = |name: &str| std::fs::read_to_string(golden_dir().join(name)).unwrap();
    let body = read(name);
    let text = if body.lines().any(|l| l.trim() == "[node]") {
        body
    } else {
        read("head.toml") + &body
    };
    text.replace("{dir}", &dir.display().to_string())
}

#[test]
fn reload_check_prints_what_a_new_config_changes() {
    let running = Running::start("rlgold", |dir| golden_config("unchanged.old.toml", dir));
    let bless = std::env::var_os("ORBIT_BLESS").is_some();
    let mut cases: Vec<String> = std::fs::read_dir(golden_dir())
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".new.toml").map(str::to_owned)
        })
        .collect();
    cases.sort();
    assert!(cases.len() >= 5, "{cases:?}");
    let mut mismatches = Vec::new();
    for case in &cases {
        // The old config becomes the running one, by a real reload.
        std::fs::write(
            &running.config,
            golden_config(&format!("{case}.old.toml"), &running.dir.0),
        )
        .unwrap();
        let (code, out, err) = running.orbitctl(&["reload"]);
        assert_eq!(code, 0, "{case}: the old config must load: {out}{err}");

        let new = running.dir.0.join(format!("{case}.new.toml"));
        std::fs::write(
            &new,
            golden_config(&format!("{case}.new.toml"), &running.dir.0),
        )
        .unwrap();
        let (code, out, err) = running.orbitctl(&["reload", "--check", new.to_str().unwrap()]);
        let actual = format!("exit {code}\n--- stdout\n{out}--- stderr\n{err}");
        let expected_path = golden_dir().join(format!("{case}.expected"));
        if bless {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if actual != expected {
            mismatches.push(format!(
                "{case}:\n--- expected\n{expected}\n--- actual\n{actual}"
            ));
        }
        // A check applies nothing: the old config is still the running one.
        let (code, out, err) = running.orbitctl(&["reload", "--check"]);
        assert_eq!(code, 0, "{case}: {out}{err}");
        assert!(out.contains("no changes"), "{case}: {out}");
    }
    assert!(
        mismatches.is_empty(),
        "reload --check output differs (ORBIT_BLESS=1 regenerates):\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn reload_applies_an_edit_refuses_a_bad_file_and_says_so_in_metrics_log_and_journal() {
    let base = |dir: &Path| one_site_config(dir, &["198.51.100.10/32"]);
    let running = Running::start("rlapply", base);
    let successful = "orbit_config_last_reload_successful";
    let timestamp = "orbit_config_last_reload_timestamp_seconds";
    // The config read at start is in force: as after a successful load.
    assert_eq!(running.metric(successful), 1.0);
    let started = running.metric(timestamp);
    assert!(started > 1.7e9, "a unix time: {started}");
    assert_eq!(running.services(), ["web"]);

    // An edit: a service added, applied and reported.
    let with_api = |prefix: &str, site: &str| {
        format!(
            "{}[[service]]\nid = \"api\"\nprefixes = [\"{prefix}\"]\nsites = [\"{site}\"]\n",
            base(&running.dir.0)
        )
    };
    let edited = with_api("198.51.100.30/32", "a");
    std::fs::write(&running.config, &edited).unwrap();
    let (code, out, err) = running.orbitctl(&["reload"]);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        out, "reloaded {dir}/orbit.toml\n  service api added\n",
        "{err}"
    );
    assert_eq!(running.services(), ["api", "web"]);
    assert_eq!(running.metric(successful), 1.0);
    let reloaded = running.metric(timestamp);
    assert!(reloaded >= started, "{reloaded} < {started}");

    // A bad file: refused with exit 1, the problem named by its TOML path,
    // the running config (with api) still in force.
    std::fs::write(&running.config, with_api("198.51.100.30/32", "x")).unwrap();
    let (code, out, err) = running.orbitctl(&["reload"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(
            "orbitctl: refused; the running config stays in force:\n  service[1].sites[0]: "
        ),
        "{err}"
    );
    assert_eq!(running.services(), ["api", "web"]);
    assert_eq!(running.metric(successful), 0.0);
    assert_eq!(
        running.metric(timestamp),
        reloaded,
        "only a success sets it"
    );
    let (code, json, err) = running.orbitctl(&["--json", "reload", "--check"]);
    assert_eq!(code, 1, "{json}{err}");
    // One object: the error, with orbitd's answer in it.
    let error: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(error["error"]["exit_code"], 1, "{error}");
    let answer = &error["error"]["answer"];
    assert_eq!(answer["applied"], false);
    assert_eq!(answer["problems"][0]["path"], "service[1].sites[0]");

    // Both reloads in the journal, by whom and with what.
    let reloads = running.reloads();
    assert_eq!(reloads.len(), 2, "{reloads:?}");
    assert_eq!(reloads[0]["applied"], true);
    assert_eq!(reloads[0]["changes"][0], "service api added");
    assert!(reloads[0]["by"].as_str().unwrap().starts_with("uid 0 pid "));
    assert_eq!(reloads[1]["applied"], false);
    assert!(
        reloads[1]["problems"][0]
            .as_str()
            .unwrap()
            .starts_with("service[1].sites[0]: "),
        "{reloads:?}"
    );

    // SIGHUP does the same: refused again, then taken once fixed; one log
    // line each, with the changes as a field.
    running.orbitd.reload();
    wait_for("the refused SIGHUP in the journal", || {
        running.reloads().len() == 3
    });
    assert_eq!(running.reloads()[2]["by"], "SIGHUP");
    assert_eq!(running.reloads()[2]["applied"], false);
    std::fs::write(&running.config, with_api("198.51.100.31/32", "a")).unwrap();
    running.orbitd.reload();
    wait_for("the SIGHUP reload in the journal", || {
        running.reloads().len() == 4
    });
    assert_eq!(running.reloads()[3]["applied"], true);
    assert_eq!(running.metric(successful), 1.0);
    let log = running.orbitd.log_text();
    let refused: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("reload refused") && l.contains("by=SIGHUP"))
        .collect();
    assert_eq!(refused.len(), 1, "{log}");
    assert!(refused[0].contains("service[1].sites[0]"), "{}", refused[0]);
    let taken: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("config reloaded") && l.contains("by=SIGHUP"))
        .collect();
    assert_eq!(taken.len(), 1, "{log}");
    assert!(
        taken[0].contains("service api: prefixes +198.51.100.31/32 -198.51.100.30/32"),
        "{}",
        taken[0]
    );
}

#[test]
fn a_config_sent_for_checking_is_checked_not_applied_and_paths_are_not_opened() {
    let running = Running::start("rlsent", |dir| one_site_config(dir, &["198.51.100.10/32"]));
    let socket = &running.orbitd.socket;
    // Text is only ever checked: a reload applies orbitd's own file.
    let body = serde_json::json!({"config": "[node]\n"}).to_string();
    let (code, answer) = orbit_tests::orbitd::http(socket, "POST", "/v1/reload", &body);
    assert_eq!(code, 400, "{answer}");
    assert!(answer.contains("only checked"), "{answer}");
    // There is no field naming a file for orbitd to read.
    let body = serde_json::json!({"check": true, "path": "/etc/shadow"}).to_string();
    let (code, answer) = orbit_tests::orbitd::http(socket, "POST", "/v1/reload", &body);
    assert_eq!(code, 400, "{answer}");
    // A good text: 200 and the diff, nothing applied.
    let text = one_site_config(&running.dir.0, &["198.51.100.10/32", "198.51.100.11/32"]);
    let body = serde_json::json!({"check": true, "config": text}).to_string();
    let (code, answer) = orbit_tests::orbitd::http(socket, "POST", "/v1/reload", &body);
    assert_eq!(code, 200, "{answer}");
    let answer: Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(answer["check"], true);
    assert_eq!(answer["applied"], false);
    assert_eq!(answer["changes"][0]["subject"], "service web");
    assert_eq!(answer["changes"][0]["added"][0], "198.51.100.11/32");
    assert!(running.reloads().is_empty(), "a check is not journaled");
    // A missing file named by orbitctl is orbitctl's error, not orbitd's.
    let (code, _, err) = running.orbitctl(&["reload", "--check", "/nonexistent/orbit.toml"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot read /nonexistent/orbit.toml"), "{err}");
}

fn wait_for(what: &str, ok: impl FnMut() -> bool) {
    orbit_tests::wait_until(Duration::from_secs(30), Duration::from_millis(50), what, ok);
}
