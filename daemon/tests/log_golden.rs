//! orbitd's log lines for its most common events, in text and JSON, are
//! what `log_golden/{text,json}.expected` say, field for field: a site
//! declared dead, a service moved, a service's health changing, a
//! backend applying a steering, and a refused reload (one line, even with
//! a multi-line TOML error in it). Log queries (Loki, ELK) and alerting on
//! these fields depend on them; a change here is a change users see.
//!
//! A real three-member cluster: a health-checked service `api` becomes
//! healthy at b, site a dies, b takes web over and applies it, and b
//! refuses a broken config. Only what varies from run to run is masked
//! (time, generation numbers, durations, the test's directory).
//! `ORBIT_BLESS=1` rewrites the expected files.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};

use orbit_tests::control::{active, Cluster};
use serde_json::Value;

#[derive(Clone, Copy, PartialEq)]
enum Format {
    Text,
    Json,
}

/// `api`, at b before a, healthy at a member while `DIR/NODE.api-up`
/// exists.
fn api_service(node: &str, dir: &Path) -> String {
    if node == "w" {
        return String::new();
    }
    let d = dir.display();
    format!(
        "[[service]]\nid = \"api\"\nprefixes = [\"203.0.113.30/32\"]\nsites = [\"b\", \"a\"]\n\
         [service.health]\nexec = [\"test\", \"-e\", \"{d}/{node}.api-up\"]\n\
         interval = \"200ms\"\nrise = 1\nfall = 1\n"
    )
}

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/log_golden")
        .join(name)
}

/// Runs the events at b and returns b's whole log.
fn events_at_b(tag: &str, format: Format) -> (String, PathBuf) {
    let args: &[&str] = match format {
        Format::Text => &["--log-format", "text"],
        Format::Json => &["--log-format", "json"],
    };
    let mut c = Cluster::start_edited_with_args(
        tag,
        env!("CARGO_BIN_EXE_orbitd"),
        args,
        |node, dir, text| text + &api_service(node, dir),
    );
    std::fs::write(c.dir.join("b.api-up"), "").unwrap();
    c.eventually("api at b", |c| {
        c.status("b")
            .is_some_and(|s| active(&s, "api") == Some("b"))
    });
    c.kill("a");
    c.eventually("web at b, applied", |c| {
        c.status("b").is_some_and(|s| {
            active(&s, "web") == Some("b")
                && s["backends"][0]["applied_generation"] == s["steering"]["generation"]
        })
    });
    // Broken TOML: the parser's error quotes the line, over several lines.
    c.reload("b", "[node]\nsite = \"b\"\n[[service]\nid = \"web\"\n");
    let log = c.dir.join("b.log");
    c.eventually("the refused reload in b's log", |_| {
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("reload refused")
    });
    (std::fs::read_to_string(&log).unwrap(), c.dir.clone())
}

/// The first line (after `after`) of each event the golden files hold.
const EVENTS: [(&str, &str); 5] = [
    ("service_health", "api at b healthy"),
    ("site_liveness", "a declared dead"),
    ("service_moved", "web moved a -> b"),
    ("backend_applied", "the move applied"),
    ("reload_refused", "a broken config refused"),
];

/// Which of b's log lines is `EVENTS[i]`: the first with its kind (and,
/// for the moves, after the line of the event before).
fn pick<'a>(lines: &[(&'a str, Value)], kind_of: impl Fn(&Value) -> &str) -> Vec<&'a str> {
    let mut picked = Vec::new();
    let mut from = 0;
    for (kind, what) in EVENTS {
        let wanted = |(line, fields): &(&str, Value)| {
            kind_of(fields) == kind
                && match kind {
                    "service_health" => line.contains("to=healthy") || fields["to"] == "healthy",
                    "service_moved" => line.contains("from=a") || fields["from"] == "a",
                    _ => true,
                }
        };
        let at = lines[from..]
            .iter()
            .position(wanted)
            .unwrap_or_else(|| panic!("no log line for {what} ({kind})"));
        picked.push(lines[from + at].0);
        from += at + 1;
    }
    picked
}

/// `line` with the number after each `key=` replaced by `N`.
fn mask_numbers(line: &str, keys: &[&str]) -> String {
    let mut out = line.to_owned();
    for key in keys {
        let needle = format!("{key}=");
        if let Some(at) = out.find(&needle) {
            let start = at + needle.len();
            let digits = out[start..]
                .chars()
                .take_while(char::is_ascii_digit)
                .count();
            out.replace_range(start..start + digits, "N");
        }
    }
    out
}

fn compare(name: &str, got: &str) {
    let path = golden(name);
    if std::env::var_os("ORBIT_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, got).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        got == expected,
        "the log lines differ from {} (ORBIT_BLESS=1 rewrites it):\n--- got\n{got}--- expected\n{expected}",
        path.display()
    );
}

#[test]
fn text_log_lines_of_common_events_match_the_golden_file() {
    let (log, dir) = events_at_b("logtxt", Format::Text);
    let dir = dir.display().to_string();
    for line in log.lines() {
        assert!(
            line.starts_with("20") && line.contains("Z "),
            "a line that is no event of its own (one line per event):\n{line}\n\n{log}"
        );
    }
    // The kind as a text-mode field; the time (up to the first space) cut.
    let lines: Vec<(&str, Value)> = log
        .lines()
        .filter_map(|l| {
            let kind = l.split(" kind=").nth(1)?.split(' ').next()?;
            Some((
                l.split_once(' ')?.1.trim_start(),
                Value::String(kind.to_owned()),
            ))
        })
        .collect();
    let got: String = pick(&lines, |k| k.as_str().unwrap_or_default())
        .into_iter()
        .map(|l| mask_numbers(l, &["generation", "took_ms"]).replace(&dir, "{dir}") + "\n")
        .collect();
    compare("text.expected", &got);
}

#[test]
fn json_log_lines_of_common_events_match_the_golden_file() {
    let (log, dir) = events_at_b("logjson", Format::Json);
    let dir = dir.display().to_string();
    let lines: Vec<(&str, Value)> = log
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("a log line that is not one JSON object ({e}):\n{l}"));
            (l, v["fields"].clone())
        })
        .collect();
    let got: String = pick(&lines, |f| f["kind"].as_str().unwrap_or_default())
        .into_iter()
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            v["timestamp"] = "TIME".into();
            for key in ["generation", "took_ms"] {
                if v["fields"].get(key).is_some() {
                    v["fields"][key] = "N".into();
                }
            }
            v.to_string().replace(&dir, "{dir}") + "\n"
        })
        .collect();
    compare("json.expected", &got);
}
