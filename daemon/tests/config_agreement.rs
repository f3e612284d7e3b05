//! Config drift between members, against three real orbitd (sites a and
//! b, witness w) in namespaces: b lists one service more than a. Every
//! member's `orbitctl status` (JSON and table) names the member whose
//! config differs, `/metrics` counts it, the journal says so once; after
//! b's config is fixed and reloaded (SIGHUP) the mismatch clears
//! everywhere, and the journal says that once too.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;

use orbit_tests::control::{self, Cluster};
use orbit_tests::mesh::NODES;
use serde_json::Value;

/// b carries a service that nobody else knows about.
fn drifted(node: &str, _: &Path) -> String {
    if node == "b" {
        "[[service]]\nid = \"mail\"\nprefixes = [\"203.0.113.30/32\"]\nsites = [\"b\"]\n".to_owned()
    } else {
        String::new()
    }
}

fn mismatch(status: &Value) -> Vec<String> {
    status["config_mismatch"]
        .as_array()
        .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

/// Every member has told `at` its fingerprint.
fn heard_all(status: &Value) -> bool {
    NODES
        .iter()
        .all(|n| status["config_fingerprints"][*n]["cluster"].is_string())
}

/// `orbit_config_mismatched_members` at `node`.
fn mismatched_metric(c: &Cluster, node: &str) -> Option<String> {
    let (code, text) = c.get(node, "/metrics")?;
    assert_eq!(code, 200);
    text.lines()
        .find_map(|l| l.strip_prefix("orbit_config_mismatched_members "))
        .map(str::to_owned)
}

/// The journal entries of `node` that say `text`.
fn journaled(c: &Cluster, node: &str, text: &str) -> usize {
    c.journal(node)
        .iter()
        .filter(|e| e["kind"] == "lifecycle" && e["message"].as_str().unwrap().contains(text))
        .count()
}

#[test]
fn a_member_with_another_service_list_is_named_everywhere_until_its_config_is_fixed() {
    // Waits until every member has authority, web at a and db at b.
    let mut c = Cluster::start_with("cf", env!("CARGO_BIN_EXE_orbitd"), drifted);

    // Each site sees the other differ; the witness, which lists no
    // services, cannot tell which of the two is wrong and names both.
    let expected = [("a", vec!["b"]), ("b", vec!["a"]), ("w", vec!["a", "b"])];
    c.eventually("every member to see the config mismatch", |c| {
        expected.iter().all(|(node, want)| {
            c.status(node)
                .is_some_and(|s| heard_all(&s) && mismatch(&s) == *want)
        })
    });
    let a = c.status("a").unwrap();
    let fingerprints = &a["config_fingerprints"];
    assert_eq!(
        fingerprints["a"]["cluster"], fingerprints["b"]["cluster"],
        "members and policy agree: {fingerprints}"
    );
    assert_ne!(
        fingerprints["a"]["services"], fingerprints["b"]["services"],
        "{fingerprints}"
    );
    assert!(fingerprints["w"]["services"].is_null(), "{fingerprints}");
    let short = |node: &str| {
        let fp = &fingerprints[node];
        format!(
            "{}/{}",
            &fp["cluster"].as_str().unwrap()[..8],
            fp["services"].as_str().map_or("-", |s| &s[..8])
        )
    };

    for (node, want) in &expected {
        let (code, json, err, _) = c.orbitctl(node, &["--json", "status"]);
        assert_eq!(code, 0, "orbitctl --json status at {node}: {err}");
        let json: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(mismatch(&json), *want, "at {node}: {json}");
        assert_eq!(json["config_fingerprints"], *fingerprints, "at {node}");
    }
    for node in NODES {
        let (code, table, err, _) = c.orbitctl(node, &["status"]);
        assert_eq!(code, 0, "orbitctl status at {node}: {err}");
        assert!(
            table.contains("WARNING: config differs between members: "),
            "at {node}:\n{table}"
        );
        let header = table.lines().find(|l| l.starts_with("SITE")).unwrap();
        assert!(header.contains("CONFIG"), "at {node}:\n{table}");
        let row = |site: &str| {
            table
                .lines()
                .find(|l| l.starts_with(&format!("{site} ")))
                .unwrap_or_else(|| panic!("a row for {site} at {node}:\n{table}"))
        };
        // The differing member's fingerprint, marked; this member's as is.
        let other = if node == "b" { "a" } else { "b" };
        assert!(
            row(other).contains(&format!("{} DIFFERS", short(other))),
            "at {node}:\n{table}"
        );
        if node != "w" {
            assert!(
                row(node).contains(&short(node)) && !row(node).contains("DIFFERS"),
                "at {node}:\n{table}"
            );
        }
    }
    let (_, warning, _, _) = c.orbitctl("a", &["status"]);
    assert!(
        warning.contains(&format!(
            "config differs between members: b has {}, a (here) has {};",
            short("b"),
            short("a")
        )),
        "{warning}"
    );

    assert_eq!(mismatched_metric(&c, "a").as_deref(), Some("1"));
    assert_eq!(mismatched_metric(&c, "b").as_deref(), Some("1"));
    assert_eq!(mismatched_metric(&c, "w").as_deref(), Some("2"));
    let (_, metrics) = c.get("a", "/metrics").unwrap();
    assert!(
        metrics.contains(&format!(
            "orbit_config_fingerprint{{cluster=\"{}\",services=\"{}\"}} 1",
            fingerprints["a"]["cluster"].as_str().unwrap(),
            fingerprints["a"]["services"].as_str().unwrap()
        )),
        "{metrics}"
    );
    assert_eq!(
        journaled(&c, "a", "config differs between members: b has"),
        1,
        "journaled once, not on every gossip round"
    );

    // b's config fixed and reloaded: the mismatch clears everywhere.
    c.reload("b", &control::config("b", &c.dir));
    c.eventually("the mismatch to clear at every member", |c| {
        NODES.iter().all(|node| {
            c.status(node)
                .is_some_and(|s| heard_all(&s) && mismatch(&s).is_empty())
        })
    });
    let a = c.status("a").unwrap();
    assert_eq!(
        a["config_fingerprints"]["a"], a["config_fingerprints"]["b"],
        "{a}"
    );
    for node in NODES {
        assert_eq!(
            mismatched_metric(&c, node).as_deref(),
            Some("0"),
            "at {node}"
        );
        let (code, table, err, _) = c.orbitctl(node, &["status"]);
        assert_eq!(code, 0, "{err}");
        assert!(
            !table.contains("WARNING: config differs") && !table.contains("DIFFERS"),
            "at {node}:\n{table}"
        );
        assert_eq!(
            journaled(&c, node, "config agrees again between members"),
            1,
            "at {node}"
        );
    }
    assert_eq!(journaled(&c, "a", "config differs between members"), 1);
}
