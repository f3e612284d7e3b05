//! The upstream-router snippets of docs/bgp.md, exactly as written there,
//! against the real orbitd configured with the `[bgp]` block of the same
//! page (issue 14).
//!
//! Each fenced block the page marks `<!-- tested: NAME -->` is read out of
//! the Markdown at build time (`include_str!`) and used unchanged: the
//! test builds the link the page describes (router 172.16.1.1 /
//! fd00:1::1, orbitd 172.16.1.2 / fd00:1::2, the router's end named
//! `eth1`) in two fresh namespaces, so no address needs substituting. Only
//! what the page says the router already has is added around a snippet
//! (router id, bird's `protocol device`, a log), plus routes of the
//! router's own (203.0.113.0/24, 2001:db8:ff::/48) that it would send
//! orbitd if the snippet's outbound deny did not hold.
//!
//! ```text
//!  netns "orbit": orbitd   eth1 172.16.1.2/30 ──veth── eth1 172.16.1.1/30   bird2 or FRR (netns "rtr")
//!                 AS 65001      fd00:1::2/64              fd00:1::1/64      AS 64500
//!                 198.51.100.10/32, 2001:db8:100::10/128 ──►  (IPv4 and IPv6 sessions, BFD on both)
//! ```
//!
//! Checked for each router: both sessions Established, both BFD sessions
//! Up on both sides, the router holds both service prefixes with orbit's
//! attributes and next hops, orbitd receives nothing (`in=0`) although the
//! router has routes of its own, graceful restart negotiated, and after
//! orbitd is killed and started again both sessions are back within 20 s
//! (with bird's default `error wait time` the first retry alone would take
//! 60 s).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;
use std::time::{Duration, Instant};

use orbit_core::api::{BfdState, StatusResponse};
use orbit_tests::bfd_lab::TempDir;
use orbit_tests::bird::Bird;
use orbit_tests::frr::Frr;
use orbit_tests::netns::Netns;
use orbit_tests::orbitd::Orbitd;
use orbit_tests::sh;

const DOC: &str = include_str!("../../docs/bgp.md");

const ROUTER_V4: &str = "172.16.1.1";
const ROUTER_V6: &str = "fd00:1::1";
const ORBIT_V4: &str = "172.16.1.2";
const ORBIT_V6: &str = "fd00:1::2";
const SERVICE_V4: &str = "198.51.100.10/32";
const SERVICE_V6: &str = "2001:db8:100::10/128";
/// Routes of the router's own: orbitd must never receive them.
const OWN_V4: &str = "203.0.113.0/24";
const OWN_V6: &str = "2001:db8:ff::/48";

/// The text of the fenced block after `<!-- tested: NAME -->` in `doc`.
fn snippet<'a>(doc: &'a str, name: &str) -> &'a str {
    let marker = format!("<!-- tested: {name} -->\n");
    let mut found = doc.match_indices(&marker);
    let (at, _) = found
        .next()
        .unwrap_or_else(|| panic!("no {marker:?} in docs/bgp.md"));
    assert!(found.next().is_none(), "{marker:?} appears twice");
    let rest = &doc[at + marker.len()..];
    let fence = rest.lines().next().unwrap_or_default();
    assert!(
        fence.starts_with("```"),
        "{marker:?} must be followed by a fenced block, found {fence:?}"
    );
    let body = &rest[fence.len() + 1..];
    let end = body
        .find("\n```\n")
        .unwrap_or_else(|| panic!("the block after {marker:?} is not closed"));
    &body[..=end]
}

#[test]
fn snippets_are_found_whole() {
    let bird = snippet(DOC, "bird-upstream");
    assert!(bird.starts_with("# orbit's service prefixes"), "{bird}");
    assert!(bird.trim_end().ends_with("};\n}"), "{bird}");
    let frr = snippet(DOC, "frr-upstream");
    assert!(
        frr.trim_end().ends_with("exit-address-family\nexit"),
        "{frr}"
    );
    let orbit = snippet(DOC, "orbit-bgp");
    assert!(orbit.starts_with("[bgp]\n"), "{orbit}");
}

/// docs/bfd.md shows the BFD lines of the two router snippets, each block
/// marked `<!-- excerpt-of: NAME -->`: every line of it must be a line of
/// the tested snippet (comments and indentation aside), so the two pages
/// cannot drift apart.
#[test]
fn bfd_md_excerpts_are_lines_of_the_tested_snippets() {
    let bfd_md = include_str!("../../docs/bfd.md");
    for name in ["bird-upstream", "frr-upstream"] {
        let marker = format!("<!-- excerpt-of: {name} -->");
        let excerpt = snippet(
            &bfd_md.replace(&marker, &format!("<!-- tested: {name} -->")),
            name,
        )
        .to_owned();
        let lines: Vec<&str> = snippet(DOC, name)
            .lines()
            .map(|l| l.split('#').next().unwrap_or_default().trim())
            .collect();
        for line in excerpt.lines().map(str::trim).filter(|l| !l.is_empty()) {
            assert!(
                lines.contains(&line),
                "docs/bfd.md {marker}: {line:?} is not in the {name} snippet of docs/bgp.md"
            );
        }
    }
}

/// The two namespaces and the link of docs/bgp.md between them.
struct Link {
    router: Netns,
    orbit: Netns,
}

impl Link {
    fn new() -> Link {
        let router = Netns::new("rtr");
        let orbit = Netns::new("orbit");
        // Interface names are per namespace: both ends are "eth1", as the
        // bird snippet's BFD interface says.
        sh(&[
            "ip",
            "link",
            "add",
            "eth1",
            "netns",
            &orbit.name,
            "type",
            "veth",
            "peer",
            "name",
            "eth1",
            "netns",
            &router.name,
        ]);
        for (ns, v4, v6) in [
            (&router, ROUTER_V4, ROUTER_V6),
            (&orbit, ORBIT_V4, ORBIT_V6),
        ] {
            ns.exec(&["ip", "addr", "add", &format!("{v4}/30"), "dev", "eth1"]);
            // nodad: usable at once, not after duplicate address detection.
            ns.exec(&[
                "ip",
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                "eth1",
                "nodad",
            ]);
            ns.exec(&["ip", "link", "set", "eth1", "up"]);
        }
        Link { router, orbit }
    }
}

/// orbitd's config: a one-site cluster carrying "web", and the `[bgp]`
/// block of docs/bgp.md as it stands.
fn orbit_config(dir: &Path) -> String {
    format!(
        r#"{head}{bgp}"#,
        head = orbit_tests::orbitd::one_site_config(dir, &[SERVICE_V4, SERVICE_V6]),
        bgp = snippet(DOC, "orbit-bgp"),
    )
}

fn start_orbitd(link: &Link, dir: &Path, run: u32) -> Orbitd {
    let conf = dir.join("orbit.toml");
    std::fs::write(dir.join("gossip.key"), "a-gossip-key-for-this-test-only").unwrap();
    std::fs::write(&conf, orbit_config(dir)).unwrap();
    let check = sh(&[
        env!("CARGO_BIN_EXE_orbitd"),
        "check-config",
        &conf.display().to_string(),
    ]);
    assert!(check.contains("service web"), "{check}");
    Orbitd::start(
        Path::new(env!("CARGO_BIN_EXE_orbitd")),
        &link.orbit,
        &conf,
        &dir.join("api.sock"),
        &dir.join(format!("orbitd-{run}.log")),
    )
}

fn status(orbitd: &Orbitd) -> StatusResponse {
    let (code, body) = orbitd.get("/v1/status");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("bad status ({e}): {body}"))
}

/// What orbitd's BGP backend last read back: per peer state, routes out,
/// prefixes in.
fn observed(orbitd: &Orbitd) -> String {
    status(orbitd)
        .backends
        .iter()
        .find(|b| b.kind == orbit_core::BackendKind::Bgp)
        .and_then(|b| b.observed.clone())
        .unwrap_or_default()
}

/// orbitd's side: both sessions Established, one route out on each,
/// nothing received; both BFD sessions Up.
fn orbit_side_up(orbitd: &Orbitd) -> bool {
    let seen = observed(orbitd);
    let bfd = status(orbitd).bfd;
    seen.contains(&format!("{ROUTER_V4} Established out=1 in=0"))
        && seen.contains(&format!("{ROUTER_V6} Established out=1 in=0"))
        && bfd.len() == 2
        && bfd.iter().all(|s| s.state == BfdState::Up)
}

/// Polls `ok` until it holds; after `within`, panics with `what` and the
/// `state` of both sides.
fn poll(within: Duration, what: &str, mut ok: impl FnMut() -> bool, state: impl Fn() -> String) {
    let t0 = Instant::now();
    while !ok() {
        assert!(
            t0.elapsed() < within,
            "timed out after {within:?} waiting for {what}\n{}",
            state()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Both sides' view, for a failure report.
fn state(orbitd: &Orbitd, router: &str) -> String {
    format!(
        "orbitd: {}\nBFD: {:?}\nrouter:\n{router}\norbitd log:\n{}",
        observed(orbitd),
        status(orbitd)
            .bfd
            .iter()
            .map(|s| (s.peer, s.state))
            .collect::<Vec<_>>(),
        orbitd.log_text()
    )
}

/// Kills orbitd (no NOTIFICATION, its BFD helper dies with it), starts it
/// again and returns how long until `up` held again.
fn restart(
    link: &Link,
    dir: &Path,
    orbitd: Orbitd,
    up: impl Fn(&Orbitd) -> bool,
    router: impl Fn() -> String,
) -> Duration {
    drop(orbitd);
    let t0 = Instant::now();
    let orbitd = start_orbitd(link, dir, 2);
    poll(
        Duration::from_secs(20),
        "both sessions back after orbitd restarted",
        || up(&orbitd),
        || state(&orbitd, &router()),
    );
    let took = t0.elapsed();
    drop(orbitd);
    took
}

fn bird_config(snippet: &str) -> String {
    format!(
        r#"log "@LOG@" all;
router id {ROUTER_V4};
protocol device {{ }}

{snippet}
# The router's own routes; the snippet must not send them to orbitd.
protocol static own_v4 {{ ipv4; route {OWN_V4} blackhole; }}
protocol static own_v6 {{ ipv6; route {OWN_V6} blackhole; }}
"#
    )
}

fn bird_up(bird: &Bird) -> bool {
    bird.established("orbit_a_v4")
        && bird.established("orbit_a_v6")
        && bird.bfd_state(ORBIT_V4).as_deref() == Some("Up")
        && bird.bfd_state(ORBIT_V6).as_deref() == Some("Up")
        && bird
            .birdc(&format!("show route for {SERVICE_V4} all"))
            .contains("BGP.")
        && bird
            .birdc(&format!("show route for {SERVICE_V6} all"))
            .contains("BGP.")
}

#[test]
fn bird_snippet_takes_orbits_routes_and_sends_nothing_back() {
    let dir = TempDir::new("snippet-bird");
    let link = Link::new();
    let bird = Bird::start(
        &link.router,
        &dir.0,
        &bird_config(snippet(DOC, "bird-upstream")),
    );
    let orbitd = start_orbitd(&link, &dir.0, 1);
    let both_up = |orbitd: &Orbitd| bird_up(&bird) && orbit_side_up(orbitd);
    let router = || {
        bird.birdc("show protocols") + &bird.birdc("show bfd sessions") + &bird.birdc("show route")
    };
    poll(
        Duration::from_secs(30),
        "sessions, BFD and routes up",
        || both_up(&orbitd),
        || state(&orbitd, &router()),
    );

    // orbit's attributes, as the [bgp] block of docs/bgp.md sets them.
    let v4 = bird.birdc(&format!("show route for {SERVICE_V4} all"));
    for attr in [
        "BGP.as_path: 65001".to_string(),
        format!("BGP.next_hop: {ORBIT_V4}"),
        "BGP.med: 10".into(),
        "BGP.local_pref: 100".into(),
        "BGP.community: (64500,100)".into(),
        "BGP.large_community: (64500, 1, 1)".into(),
    ] {
        assert!(v4.contains(&attr), "missing {attr:?} in:\n{v4}");
    }
    let v6 = bird.birdc(&format!("show route for {SERVICE_V6} all"));
    for attr in [
        "BGP.as_path: 65001".to_string(),
        format!("BGP.next_hop: {ORBIT_V6}"),
        "BGP.med: 10".into(),
        "BGP.community: (64500,100)".into(),
    ] {
        assert!(v6.contains(&attr), "missing {attr:?} in:\n{v6}");
    }
    // The router has routes of its own, and sends orbitd none of them (nor
    // orbit's own back): orbitd counts in=0 (orbit_side_up), bird exports 0.
    assert!(bird.has_route(OWN_V4), "{}", bird.birdc("show route"));
    for proto in ["orbit_a_v4", "orbit_a_v6"] {
        let all = bird.birdc(&format!("show protocols all {proto}"));
        assert!(all.contains("1 imported, 0 exported"), "{all}");
        // Graceful restart: bird restart-capable ("graceful restart on"
        // advertises its restart time), orbit advertised its 120 s.
        let (local, neighbor) = all.split_once("Neighbor capabilities").unwrap();
        assert!(
            local.contains("Graceful restart\n        Restart time: 120"),
            "{all}"
        );
        assert!(
            neighbor.contains("Graceful restart\n        Restart time: 120"),
            "{all}"
        );
    }

    let took = restart(&link, &dir.0, orbitd, both_up, router);
    eprintln!("bird: sessions, BFD and routes back {took:?} after orbitd was killed");
}

fn frr_config(snippet: &str) -> String {
    format!(
        "router bgp 64500\n bgp router-id {ROUTER_V4}\n\
         ! The router's own routes; the snippet must not send them to orbitd.\n\
         \x20no bgp network import-check\n\
         \x20address-family ipv4 unicast\n  network {OWN_V4}\n exit-address-family\n\
         \x20address-family ipv6 unicast\n  network {OWN_V6}\n exit-address-family\n\
         exit\n!\n{snippet}"
    )
}

fn frr_established(frr: &Frr, peer: &str) -> bool {
    frr.json(&format!("show bgp neighbors {peer} json"))[peer]["bgpState"] == "Established"
}

fn frr_bfd_up(frr: &Frr, peer: &str) -> bool {
    let peers = frr.json("show bfd peers json");
    peers
        .as_array()
        .is_some_and(|a| a.iter().any(|p| p["peer"] == peer && p["status"] == "up"))
}

/// The best path FRR holds for `prefix`.
fn frr_path(frr: &Frr, afi: &str, prefix: &str) -> serde_json::Value {
    let route = frr.json(&format!("show bgp {afi} unicast {prefix} json"));
    route["paths"]
        .as_array()
        .and_then(|p| p.first().cloned())
        .unwrap_or_default()
}

fn frr_up(frr: &Frr) -> bool {
    frr_established(frr, ORBIT_V4)
        && frr_established(frr, ORBIT_V6)
        && frr_bfd_up(frr, ORBIT_V4)
        && frr_bfd_up(frr, ORBIT_V6)
        && !frr_path(frr, "ipv4", SERVICE_V4).is_null()
        && !frr_path(frr, "ipv6", SERVICE_V6).is_null()
}

#[test]
fn frr_snippet_takes_orbits_routes_and_sends_nothing_back() {
    let dir = TempDir::new("snippet-frr");
    let link = Link::new();
    // datacenter defaults: no implicit "no policy, no routes" for eBGP,
    // so only the snippet's outbound deny keeps routes from orbitd.
    let frr = Frr::start(&link.router, &dir.0, "datacenter");
    frr.configure("frr.conf", &frr_config(snippet(DOC, "frr-upstream")));
    let orbitd = start_orbitd(&link, &dir.0, 1);
    let both_up = |orbitd: &Orbitd| frr_up(&frr) && orbit_side_up(orbitd);
    let router =
        || frr.vtysh("show bgp summary") + &frr.vtysh("show bfd peers brief") + &frr.logs();
    poll(
        Duration::from_secs(30),
        "sessions, BFD and routes up",
        || both_up(&orbitd),
        || state(&orbitd, &router()),
    );

    let v4 = frr_path(&frr, "ipv4", SERVICE_V4);
    assert_eq!(v4["aspath"]["string"], "65001", "{v4:#}");
    assert_eq!(v4["metric"], 10, "{v4:#}");
    // Neither graceful shutdown nor takeover: the default preference (FRR
    // leaves "localpref" out of the JSON then).
    assert_eq!(v4["localpref"].as_u64().unwrap_or(100), 100, "{v4:#}");
    assert_eq!(v4["community"]["string"], "64500:100", "{v4:#}");
    assert_eq!(v4["largeCommunity"]["string"], "64500:1:1", "{v4:#}");
    assert_eq!(v4["nexthops"][0]["ip"], ORBIT_V4, "{v4:#}");
    let v6 = frr_path(&frr, "ipv6", SERVICE_V6);
    assert_eq!(v6["aspath"]["string"], "65001", "{v6:#}");
    assert_eq!(v6["metric"], 10, "{v6:#}");
    assert_eq!(v6["nexthops"][0]["ip"], ORBIT_V6, "{v6:#}");

    // The router has routes of its own and advertises none to orbitd.
    assert!(
        !frr_path(&frr, "ipv4", OWN_V4).is_null(),
        "{}",
        frr.vtysh("show bgp ipv4 unicast")
    );
    for (afi, peer) in [("ipv4", ORBIT_V4), ("ipv6", ORBIT_V6)] {
        let adv = frr.vtysh(&format!(
            "show bgp {afi} unicast neighbors {peer} advertised-routes"
        ));
        assert!(
            !adv.contains(OWN_V4) && !adv.contains(OWN_V6) && !adv.contains("198.51.100"),
            "{adv}"
        );
        // Graceful restart: FRR restart-capable ("*": from the global
        // `bgp graceful-restart`), orbit advertised it.
        let n = frr.json(&format!("show bgp neighbors {peer} json"));
        let gr = &n[peer]["gracefulRestartInfo"];
        assert!(
            gr["localGrMode"]
                .as_str()
                .is_some_and(|m| m.starts_with("Restart")),
            "{gr:#}"
        );
        assert_eq!(gr["remoteGrMode"], "Restart", "{gr:#}");
    }
    eprintln!("frr, orbit side: {}", observed(&orbitd));

    let took = restart(&link, &dir.0, orbitd, both_up, router);
    eprintln!("frr: sessions, BFD and routes back {took:?} after orbitd was killed");
}
