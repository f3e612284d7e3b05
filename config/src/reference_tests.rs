//! orbit.toml(5) against the schema: every key a serde struct accepts is
//! described, and nothing is described that is not accepted.
//!
//! Each struct denies unknown fields, and serde's error for an unknown one
//! lists every field the struct accepts; a one-key document with a key no
//! struct has asks for that list without writing a valid config.

use std::collections::BTreeSet;

use serde::de::DeserializeOwned;

use super::TABLES;
use crate::{Api, Config, Hook, Node, ServiceEntry};

const PROBE: &str = "__probe__";

/// The keys `T` accepts, from its unknown-field error.
fn accepted<T: DeserializeOwned>() -> BTreeSet<String> {
    let error = toml::from_str::<T>(&format!("{PROBE} = 1"))
        .err()
        .unwrap_or_else(|| panic!("{} accepts any key", std::any::type_name::<T>()));
    let message = error.message().to_owned();
    let Some(expected) = message
        .strip_prefix(&format!("unknown field `{PROBE}`, expected "))
        .map(|rest| rest.trim_start_matches("one of "))
    else {
        panic!(
            "{} does not deny unknown fields: {message}",
            std::any::type_name::<T>()
        );
    };
    // serde writes "`a`", "`a` or `b`", or "one of `a`, `b`, `c`".
    expected
        .split(", ")
        .flat_map(|names| names.split(" or "))
        .map(|name| name.trim_matches('`').to_owned())
        .collect()
}

/// What the test learns of the struct read at one table.
struct Probe {
    accepted: BTreeSet<String>,
    /// Whether a key's value is read as a struct of its own.
    is_struct: fn(&str) -> bool,
}

fn probe<T: DeserializeOwned>() -> Probe {
    Probe {
        accepted: accepted::<T>(),
        is_struct: |key| {
            toml::from_str::<T>(&format!("{key} = {{ {PROBE} = 1 }}"))
                .is_err_and(|e| e.message().contains(&format!("unknown field `{PROBE}`")))
        },
    }
}

/// The struct read at each table of the page (a table in a list is its
/// element; `[bgp.standby]` is the table form of its untagged enum).
fn schema() -> Vec<(&'static str, Probe)> {
    use orbit_bgp::config as bgp;
    vec![
        ("", probe::<Config>()),
        ("node", probe::<Node>()),
        ("api", probe::<Api>()),
        ("journal", probe::<crate::journal::JournalConfig>()),
        ("site", probe::<orbit_core::config::Site>()),
        ("detect", probe::<orbit_detect::Config>()),
        ("policy", probe::<orbit_core::config::Policy>()),
        ("service", probe::<ServiceEntry>()),
        ("service.health", probe::<orbit_detect::HealthCheck>()),
        ("plan", probe::<orbit_core::config::Plan>()),
        ("plan.fence_old", probe::<orbit_core::config::PlanStep>()),
        (
            "plan.before_takeover",
            probe::<orbit_core::config::PlanStep>(),
        ),
        (
            "plan.after_takeover",
            probe::<orbit_core::config::PlanStep>(),
        ),
        ("bgp", probe::<orbit_bgp::Config>()),
        ("bgp.active", probe::<bgp::BgpActive>()),
        ("bgp.standby", probe::<bgp::BgpStandbyAnnounce>()),
        ("bgp.takeover", probe::<bgp::BgpMarks>()),
        ("bgp.drain", probe::<bgp::BgpDrain>()),
        ("bgp.peer", probe::<bgp::BgpPeer>()),
        ("haproxy", probe::<orbit_haproxy::Config>()),
        ("sdn", probe::<orbit_sdn::Config>()),
        ("sdn.ports.SITE", probe::<orbit_sdn::SdnPort>()),
        ("hook", probe::<Hook>()),
        ("bfd", probe::<orbit_bfd::config::Config>()),
        ("bfd.auth", probe::<orbit_bfd::config::Auth>()),
    ]
}

/// What the page says `path` holds: its keys, and the first step of the
/// path of each table under it (`[sdn.ports.SITE]` is `ports` of `[sdn]`).
fn described(path: &str) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = TABLES
        .iter()
        .find(|t| t.path == path)
        .map(|t| t.keys.iter().map(|k| k.name.to_owned()).collect())
        .unwrap_or_default();
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("{path}.")
    };
    for table in TABLES {
        if let Some(below) = table.path.strip_prefix(&prefix) {
            let first = below.split('.').next().unwrap_or(below);
            let step = format!("{prefix}{first}");
            // Only the tables not under another described table.
            if table.path == step || !TABLES.iter().any(|t| t.path == step) {
                names.insert(first.to_owned());
            }
        }
    }
    names
}

#[test]
fn every_key_the_schema_accepts_is_described_and_nothing_else() {
    let schema = schema();
    let mut problems = Vec::new();
    for (path, probe) in &schema {
        let page = described(path);
        let table = if path.is_empty() {
            "the top level"
        } else {
            path
        };
        for missing in probe.accepted.difference(&page) {
            problems.push(format!(
                "{table}: key {missing:?} is accepted but not described in orbit.toml(5) (config/src/reference.rs)"
            ));
        }
        for stale in page.difference(&probe.accepted) {
            problems.push(format!(
                "{table}: key {stale:?} is described in orbit.toml(5) but the schema refuses it"
            ));
        }
        // A key described as a plain value whose value is a struct would
        // leave that struct's keys undescribed.
        let keys = TABLES
            .iter()
            .filter(|t| t.path == *path)
            .flat_map(|t| t.keys);
        for key in keys.filter(|k| (probe.is_struct)(k.name)) {
            problems.push(format!(
                "{table}: {} is a table of its own: describe it as [{path}.{}]",
                key.name, key.name
            ));
        }
    }
    let probed: BTreeSet<&str> = schema.iter().map(|(p, _)| *p).collect();
    for table in TABLES.iter().filter(|t| !probed.contains(t.path)) {
        problems.push(format!(
            "{}: no struct is probed for it: add it to schema() in reference_tests.rs",
            table.header()
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
