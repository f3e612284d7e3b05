//! A planned stop makes before it breaks (issue 14), with three real
//! orbitd (sites a and b, witness w) in network namespaces, the cluster of
//! `transitions.rs`: a `[hook]` at a and b records every steering its data
//! plane is handed. A standby role claims nothing there (a hook that does
//! nothing for `standby` is the `[bgp] standby = "withdraw"` case): only
//! `active` and `draining` carry the service.
//!
//! 1. a carries `web`, everything settled;
//! 2. SIGTERM to a's orbitd: a tells the cluster, b takes web over and
//!    confirms it, a drains, then withdraws and exits 0;
//! 3. a's orbitd starts again: b sees it back, and web fails back to a
//!    after `failback_after` (the usual failback rule).
//!
//! Checked from the hook files, journals and b's status: web has a carrier
//! at every moment (b's hook said active before a's said withdrawn); the
//! journal of a records each step; b shows a as `left`, never dead, and
//! never fences itself; the stop ends on b's confirmation, well before
//! `drain_grace`. Needs root (CI runs as root); ~40 s.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

#[allow(dead_code)] // shared with transitions.rs, which uses the rest
#[path = "transitions/cluster.rs"]
mod cluster;
#[allow(dead_code)]
#[path = "transitions/timeline.rs"]
mod timeline;

use std::time::{Duration, Instant};

use cluster::{Cluster, Detection, FAILBACK_AFTER};
use serde_json::Value;
use timeline::{now_us, HookLine};

const START_LIMIT: Duration = Duration::from_secs(60);
const STEP_LIMIT: Duration = Duration::from_secs(20);
/// `[policy] drain_grace` by default: a stop that ends on the new site's
/// confirmation takes far less.
const DRAIN_GRACE: Duration = Duration::from_secs(5);

/// The lifecycle messages of `node`'s journal, in order.
fn lifecycle(c: &Cluster, node: &str) -> Vec<String> {
    std::fs::read_to_string(c.journal_file(node))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["kind"] == "lifecycle")
        .filter_map(|v| v["message"].as_str().map(str::to_owned))
        .collect()
}

/// `node`'s engine's view of `site`: (left, dead).
fn left_and_dead(c: &Cluster, node: &str, site: &str) -> Option<(bool, bool)> {
    let status = c.status(node)?;
    let s = status["engine"]["sites"]
        .as_array()?
        .iter()
        .find(|s| s["id"] == site)?
        .clone();
    Some((s["left"] == true, s["dead"] == true))
}

#[test]
fn sigterm_of_the_active_site_hands_over_before_it_withdraws() {
    let mut c = Cluster::start(Detection::Gossip);
    c.eventually("a's hook to say web active", START_LIMIT, |c| {
        c.hook_says_active("a")
    });
    c.eventually("every member settled for 1 s", START_LIMIT, |c| {
        let settled = |c: &Cluster| c.settled() && c.hook_says_active("a");
        settled(c) && {
            std::thread::sleep(Duration::from_secs(1));
            settled(c)
        }
    });
    c.marks.settled = now_us();

    let t_term = now_us();
    let t0 = Instant::now();
    let code = c.terminate("a", Duration::from_secs(15));
    let took = t0.elapsed();
    assert_eq!(code, Some(0), "a's orbitd exit code\n{}", c.log("a"));

    // b shows a as left, not dead, with authority.
    c.eventually("b to show a as left", STEP_LIMIT, |c| {
        left_and_dead(c, "b", "a") == Some((true, false))
    });
    let b = c.status("b").unwrap();
    assert_eq!(b["engine"]["fenced"], false);
    let a_seen_from_b = b["detect"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["site"] == "a")
        .unwrap()
        .clone();
    assert_eq!(a_seen_from_b["view"], "left", "{a_seen_from_b}");
    let metrics = c.metrics("b").unwrap();
    for line in [
        "orbit_site_left{site=\"a\"} 1",
        "orbit_site_dead{site=\"a\"} 0",
        "view=\"left\"} 1",
    ] {
        assert!(
            metrics.contains(line),
            "b's metrics lack {line:?}:\n{metrics}"
        );
    }
    // Still so after a's silence is long past any detection time.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(left_and_dead(&c, "b", "a"), Some((true, false)));
    assert_eq!(left_and_dead(&c, "w", "a"), Some((true, false)));
    assert!(c.hook_says_active("b"));

    // The hooks: b active before a stopped carrying; a drained first.
    let obs = c.observe();
    let after = |site: &str| -> Vec<HookLine> {
        obs.hooks[site]
            .iter()
            .filter(|l| l.t >= t_term)
            .cloned()
            .collect()
    };
    let (a, b_lines) = (after("a"), after("b"));
    let a_roles: Vec<&str> = a.iter().map(|l| l.role.as_str()).collect();
    assert_eq!(
        a_roles.first(),
        Some(&"draining"),
        "a's first steering after SIGTERM: {a_roles:?}"
    );
    let a_stops = a
        .iter()
        .find(|l| !l.carries())
        .map(|l| l.t)
        .expect("a's hook was told to withdraw");
    let b_takes = b_lines
        .iter()
        .find(|l| l.active())
        .map(|l| l.t)
        .expect("b's hook was told active");
    assert!(
        b_takes < a_stops,
        "b active at +{} ms, a withdrew at +{} ms: break before make",
        (b_takes - t_term) / 1000,
        (a_stops - t_term) / 1000
    );
    let gaps = timeline::intervals(&obs, c.marks.settled, now_us(), |a, b| {
        !a.is_some_and(HookLine::carries) && !b.is_some_and(HookLine::carries)
    });
    assert!(gaps.is_empty(), "web without a carrier: {gaps:?}");

    // a's journal tells the story; the confirmation ended the drain early.
    let steps = lifecycle(&c, "a");
    let find = |prefix: &str| steps.iter().position(|m| m.starts_with(prefix));
    let order = [
        find("SIGTERM: telling the cluster"),
        find("site b confirmed web"),
        find("withdrawn"),
        find("stopped"),
    ];
    assert!(
        order.iter().all(Option::is_some) && order.windows(2).all(|w| w[0] < w[1]),
        "a's lifecycle journal: {steps:#?}"
    );
    assert!(
        took < DRAIN_GRACE,
        "the stop took {took:?}: it did not end on b's confirmation"
    );
    // Nobody declared anyone dead, b never fenced.
    let bad: Vec<_> = c
        .observe()
        .decisions
        .into_iter()
        .filter(|d| d.t >= t_term)
        .filter(|d| d.change["kind"] == "site_liveness" || d.change["kind"] == "fenced")
        .map(|d| format!("{} {} {}", d.node, d.change, d.reason))
        .collect();
    assert!(bad.is_empty(), "{bad:#?}");
    eprintln!(
        "planned stop: a exited after {took:.2?}; b active {} ms after SIGTERM, a withdrew at {} ms",
        (b_takes - t_term) / 1000,
        (a_stops - t_term) / 1000
    );

    // a comes back: alive again at b, and web fails back after
    // failback_after like after any return.
    c.restart("a");
    let t_back = Instant::now();
    c.eventually("b to see a back", STEP_LIMIT, |c| {
        left_and_dead(c, "b", "a") == Some((false, false))
    });
    c.eventually("web to fail back to a", FAILBACK_AFTER + STEP_LIMIT, |c| {
        c.hook_says_active("a")
    });
    let back_after = t_back.elapsed();
    assert!(
        back_after >= FAILBACK_AFTER - Duration::from_millis(500),
        "web failed back {back_after:?} after a's return, before failback_after"
    );
}
