//! `POST /v1/events` with gossip on (issue 15 item 2), with three real
//! orbitd (sites a and b, witness w) in network namespaces, the cluster of
//! `transitions.rs` (a `[hook]` at a and b records every steering):
//!
//! 1. forged votes posted at a, "a is dead" in the name of b and w, are
//!    refused with 403 (so is health in b's name, a verdict about a itself,
//!    and a whole batch with one forged event in it), and nothing moves:
//!    every member's engine status and journal stay as they were, a keeps
//!    web;
//! 2. a verdict from a itself about b enters a's gossip view as one more
//!    local source (`external` in a's detect status), combined like Serf
//!    and BFD: b still speaks to a, so a's verdict about b is `suspect`,
//!    never a dead vote, and nothing moves; health a posts for itself
//!    reaches b through gossip, like a's own health checks (a service
//!    with a health check: only those count health).
//!
//! Needs root (CI runs as root); ~20 s per test.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

#[allow(dead_code)] // shared with transitions.rs, which uses the rest
#[path = "transitions/cluster.rs"]
mod cluster;
#[allow(dead_code)]
#[path = "transitions/timeline.rs"]
mod timeline;

use std::time::Duration;

use cluster::{Cluster, Detection};
use serde_json::Value;

const START_LIMIT: Duration = Duration::from_secs(60);
const STEP_LIMIT: Duration = Duration::from_secs(20);
/// How long a refused batch is given to move something anyway: many times
/// the metro-fast fence and dead timers and the 0 s failover hold.
const QUIET: Duration = Duration::from_secs(3);

/// A second service at a and b whose health check passes once at start
/// and then waits an hour: its health is what the test posts.
const DB: &str = r#"
[[service]]
id = "db"
prefixes = ["203.0.113.20/32"]
sites = ["a", "b"]
health = { exec = ["/bin/true"], interval = "1h", rise = 1, fall = 1 }
"#;

/// `POST /v1/events` at `node`: (status, body).
fn post_events(c: &Cluster, node: &str, body: &str) -> (u16, String) {
    let socket = c.dir().join(format!("{node}.sock"));
    orbit_tests::orbitd::http(&socket, "POST", "/v1/events", body)
}

/// What must not move at `node`: the steering generation, fencing, every
/// service's placement and every site's declared death and dead votes.
fn engine_state(c: &Cluster, node: &str) -> Value {
    let status = c.status(node).unwrap();
    let e = &status["engine"];
    let services: Vec<Value> = e["services"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| serde_json::json!([s["id"], s["active"], s["local_role"]]))
        .collect();
    let sites: Vec<Value> = e["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| serde_json::json!([s["id"], s["dead"], s["dead_votes"]]))
        .collect();
    serde_json::json!({
        "generation": e["generation"],
        "fenced": e["fenced"],
        "services": services,
        "sites": sites,
    })
}

/// How many decisions `node` has journaled.
fn decisions(c: &Cluster, node: &str) -> usize {
    std::fs::read_to_string(c.journal_file(node))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"kind\":\"decision\""))
        .count()
}

/// Every member's engine state and journaled decisions.
fn snapshot(c: &Cluster) -> Vec<(Value, usize)> {
    ["a", "b", "w"]
        .iter()
        .map(|n| (engine_state(c, n), decisions(c, n)))
        .collect()
}

/// The entry of the list at `pointer` in `node`'s status whose `key` is
/// `id` (`/detect/members`, `site`, `b`, say).
fn entry(c: &Cluster, node: &str, pointer: &str, key: &str, id: &str) -> Option<Value> {
    let status = c.status(node)?;
    status
        .pointer(pointer)?
        .as_array()?
        .iter()
        .find(|e| e[key] == id)
        .cloned()
}

/// What `node`'s detectors say of member `site` (`detect.members[]`).
fn evidence(c: &Cluster, node: &str, site: &str) -> Option<Value> {
    entry(c, node, "/detect/members", "site", site)
}

/// `node`'s engine's own verdict about `site` (`engine.sites[].local_view`).
fn local_view(c: &Cluster, node: &str, site: &str) -> Option<Value> {
    entry(c, node, "/engine/sites", "id", site).map(|s| s["local_view"].clone())
}

/// The health of `service` at `site` as `node`'s engine knows it.
fn health(c: &Cluster, node: &str, service: &str, site: &str) -> Option<Value> {
    let svc = entry(c, node, "/engine/services", "id", service)?;
    let per_site = svc["health"].as_array()?.iter().find(|h| h[0] == site)?;
    Some(per_site[1].clone())
}

/// `service`'s (active site, local role) at `node`.
fn service(c: &Cluster, node: &str, service: &str) -> Option<(String, String)> {
    let svc = entry(c, node, "/engine/services", "id", service)?;
    Some((
        svc["active"].as_str()?.to_owned(),
        svc["local_role"].as_str()?.to_owned(),
    ))
}

#[test]
fn forged_votes_posted_at_a_member_are_refused_and_move_nothing() {
    let mut c = Cluster::start_with(Detection::Gossip, "xf", |_| String::new());
    c.settle(START_LIMIT);
    let before = snapshot(&c);
    let batches = [
        // The report's attack: a declared dead in the name of b and w.
        (
            r#"[{"type":"verdict","observer":"b","subject":"a","liveness":"dead"},
                {"type":"verdict","observer":"w","subject":"a","liveness":"dead"}]"#,
            "not in the name of site \"b\"",
        ),
        // One forged event spoils the batch: its good first event is not
        // applied either.
        (
            r#"[{"type":"verdict","observer":"a","subject":"b","liveness":"dead"},
                {"type":"verdict","observer":"w","subject":"b","liveness":"dead"}]"#,
            "event 2",
        ),
        (
            r#"[{"type":"health","site":"b","service":"web","healthy":false}]"#,
            "health only for its own site",
        ),
        (
            r#"[{"type":"verdict","observer":"a","subject":"a","liveness":"dead"}]"#,
            "about its own site",
        ),
    ];
    let replies: Vec<(u16, String)> = batches
        .iter()
        .map(|(body, _)| post_events(&c, "a", body))
        .collect();
    // The point: time for a wrongly accepted event to move something.
    std::thread::sleep(QUIET);
    // Nothing moved anywhere: a keeps web, nobody is voted dead or fenced.
    assert_eq!(snapshot(&c), before, "engine state and journals moved");
    assert!(c.hook_says_active("a"), "a's hook: {:?}", c.last_hook("a"));
    assert!(!c.hook_says_active("b"), "b's hook: {:?}", c.last_hook("b"));
    assert!(c.settled(), "every member settled");
    for ((_, why), (code, reply)) in batches.iter().zip(&replies) {
        assert_eq!(*code, 403, "{reply}");
        let error: Value = serde_json::from_str(reply).unwrap();
        let error = error["error"].as_str().unwrap();
        assert!(error.contains(why), "{error:?} should say {why:?}");
    }
    // The refused batch's good event never reached a's gossip view.
    let b = evidence(&c, "a", "b").unwrap();
    assert!(b["sources"].as_object().unwrap().is_empty(), "{b}");
}

#[test]
fn a_members_own_external_verdict_is_one_more_local_source() {
    let mut c = Cluster::start_with(Detection::Gossip, "xl", |_| DB.to_owned());
    c.settle(START_LIMIT);
    let before = snapshot(&c);
    let (code, reply) = post_events(
        &c,
        "a",
        r#"[{"type":"verdict","observer":"a","subject":"b","liveness":"dead"}]"#,
    );
    assert_eq!(code, 202, "{reply}");
    // In a's gossip view, beside SWIM: b still speaks to a, so the external
    // Dead makes it only still_heard, which a's engine gets as suspect.
    c.eventually(
        "a's view of b to show the external source",
        STEP_LIMIT,
        |c| {
            evidence(c, "a", "b")
                .is_some_and(|b| b["sources"]["external"] == "dead" && b["view"] == "still_heard")
        },
    );
    c.eventually("a's engine to hold b suspect", STEP_LIMIT, |c| {
        local_view(c, "a", "b").is_some_and(|v| v == "suspect")
    });
    // The point: time for a wrong verdict to take effect.
    std::thread::sleep(QUIET);
    assert_eq!(
        local_view(&c, "a", "b"),
        Some(Value::from("suspect")),
        "never a dead vote"
    );
    assert!(c.hook_says_active("a"), "a's hook: {:?}", c.last_hook("a"));
    let after: Vec<Value> = snapshot(&c).into_iter().map(|(e, _)| e).collect();
    let before: Vec<Value> = before.into_iter().map(|(e, _)| e).collect();
    assert_eq!(after, before, "nothing moves");

    // Health a posts for itself (site omitted) goes through gossip, like its
    // own health checks: b's engine learns it, and db moves to b.
    c.eventually("both engines to know db healthy at a", STEP_LIMIT, |c| {
        health(c, "a", "db", "a") == Some(Value::from(true))
            && health(c, "b", "db", "a") == Some(Value::from(true))
    });
    let (code, reply) = post_events(
        &c,
        "a",
        r#"[{"type":"health","service":"db","healthy":false}]"#,
    );
    assert_eq!(code, 202, "{reply}");
    c.eventually(
        "b to learn db is unhealthy at a and carry it",
        STEP_LIMIT,
        |c| {
            health(c, "b", "db", "a") == Some(Value::from(false))
                && health(c, "a", "db", "a") == Some(Value::from(false))
                && service(c, "b", "db") == Some(("b".to_owned(), "active".to_owned()))
        },
    );
}
