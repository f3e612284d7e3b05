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
//! `drain_grace`.
//!
//! The second test puts a real upstream router in: bird2 beside the
//! witness, peering with a and b, which run `[bgp] standby = "withdraw"`
//! (the user's report: no route for 4.7 s after SIGTERM). Its route for
//! the service is polled every ~10 ms across the stop: it must never be
//! absent. Needs root and bird2 (CI runs as root); ~40 s.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

#[allow(dead_code)] // shared with transitions.rs, which uses the rest
#[path = "transitions/cluster.rs"]
mod cluster;
#[allow(dead_code)]
#[path = "transitions/timeline.rs"]
mod timeline;

use std::time::{Duration, Instant};

use cluster::{Cluster, Detection, FAILBACK_AFTER};
use orbit_tests::bird::Bird;
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
    c.settle(START_LIMIT);

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
    let told = find("every member we reach knows of the departure");
    assert!(
        told.is_some_and(|t| order[0] < Some(t) && Some(t) < order[2]),
        "a's lifecycle journal: {steps:#?}"
    );
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

const PREFIX: &str = "203.0.113.10/32";

/// `[bgp]` of site `a` (AS 65001) or `b` (AS 65002): the standby
/// announces nothing; the peer is bird2 in w's namespace, across the
/// direct link (a-w: 10.0.13.0/30, b-w: 10.0.23.0/30).
fn bgp(site: &str) -> String {
    let (asn, net, id) = if site == "a" {
        (65001, 13, 1)
    } else {
        (65002, 23, 2)
    };
    format!(
        r#"[bgp]
asn = {asn}
router_id = "10.0.0.{id}"
standby = "withdraw"
[[bgp.peer]]
address = "10.0.{net}.2"
asn = 64500
local_address = "10.0.{net}.1"
hold = "9s"
families = ["ipv4"]
"#
    )
}

fn bird_config() -> String {
    let mut cfg = String::from(
        r#"log "@LOG@" all;
timeformat log "%F %T.%6f";
router id 10.0.0.3;
protocol device { scan time 1; }
# RFC 8326: a draining site's route goes to the bottom at once.
filter orbit_in {
  if (65535,0) ~ bgp_community then bgp_local_pref = 0;
  accept;
}
"#,
    );
    for (site, asn, net) in [("a", 65001, 13), ("b", 65002, 23)] {
        cfg += &format!(
            "protocol bgp site_{site} {{
  local 10.0.{net}.2 as 64500;
  neighbor 10.0.{net}.1 as {asn};
  hold time 9;
  connect retry time 1;
  error wait time 1, 2;
  debug {{ states, events }};
  ipv4 {{ import filter orbit_in; export none; }};
}}
"
        );
    }
    cfg
}

#[test]
fn sigterm_with_a_withdrawing_standby_never_leaves_the_upstream_without_a_route() {
    let mut c = Cluster::start_with(Detection::Gossip, "pb", bgp);
    let bird = Bird::start(c.mesh.netns("w"), c.dir(), &bird_config());
    c.eventually("a's hook to say web active", START_LIMIT, |c| {
        c.hook_says_active("a")
    });
    c.eventually(
        "every member settled, bird holding a's route",
        START_LIMIT,
        |c| {
            c.settled()
                && c.hook_says_active("a")
                && bird.established("site_a")
                && bird.established("site_b")
                && bird.has_route(PREFIX)
        },
    );
    // b announces nothing while standby.
    assert!(
        !bird
            .birdc(&format!("show route for {PREFIX} table master4 all"))
            .contains("site_b"),
        "{}",
        bird.birdc(&format!("show route for {PREFIX} table master4 all"))
    );

    // Poll bird's route from another thread across the stop.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let socket = bird.socket.clone();
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut samples: Vec<(i64, Option<String>)> = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let out = std::process::Command::new("birdc")
                    .arg("-s")
                    .arg(&socket)
                    .args(["show", "route", "for", PREFIX, "table", "master4"])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default();
                // The best route's line: "203.0.113.10/32 unicast [site_b ...] * ...".
                let best = out
                    .lines()
                    .find(|l| l.starts_with("203.0.113.10/32"))
                    .map(|l| {
                        if l.contains("site_a") {
                            "a".to_owned()
                        } else if l.contains("site_b") {
                            "b".to_owned()
                        } else {
                            l.to_owned()
                        }
                    });
                samples.push((now_us(), best));
                std::thread::sleep(Duration::from_millis(10));
            }
            samples
        })
    };
    // A baseline of route samples before the stop.
    std::thread::sleep(Duration::from_millis(300));
    let t_term = now_us();
    let code = c.terminate("a", Duration::from_secs(15));
    assert_eq!(code, Some(0), "a's orbitd exit code\n{}", c.log("a"));
    // Well past any detection time: the route stays (at b).
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let samples = poller.join().unwrap();

    let absent: Vec<i64> = samples
        .iter()
        .filter(|(_, best)| best.is_none())
        .map(|(t, _)| (t - t_term) / 1000)
        .collect();
    let gaps = samples
        .windows(2)
        .map(|w| w[1].0 - w[0].0)
        .max()
        .unwrap_or(0);
    assert!(
        absent.is_empty(),
        "bird had no route for {PREFIX} at {absent:?} ms after SIGTERM ({} samples)\n{}",
        samples.len(),
        std::fs::read_to_string(&bird.log).unwrap_or_default()
    );
    assert!(gaps < 100_000, "polling stalled for {} ms", gaps / 1000);
    let first_b = samples
        .iter()
        .find(|(_, best)| best.as_deref() == Some("b"))
        .map(|(t, _)| (t - t_term) / 1000);
    assert_eq!(
        samples.last().and_then(|(_, b)| b.clone()).as_deref(),
        Some("b"),
        "bird's best route at the end"
    );
    assert!(samples
        .iter()
        .all(|(_, b)| matches!(b.as_deref(), Some("a" | "b"))));
    assert!(
        lifecycle(&c, "a")
            .iter()
            .any(|m| m.starts_with("site b confirmed web")),
        "{:#?}",
        lifecycle(&c, "a")
    );
    assert_eq!(left_and_dead(&c, "b", "a"), Some((true, false)));
    eprintln!(
        "planned stop under bird2: {} samples, max {} ms apart, never absent; best via b from {} ms after SIGTERM",
        samples.len(),
        gaps / 1000,
        first_b.unwrap_or(-1)
    );
}
