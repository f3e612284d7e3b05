//! The Switch against a real ovs-vswitchd, without traffic: what it
//! writes, what it leaves alone, and how it fails.

mod common;

use std::time::{Duration, Instant};

use common::*;
use orbit_core::{RedirectError, Redirector};
use orbit_sdn::{Error, Switch};

fn config(ovs: &Ovs, bridge: &str) -> orbit_sdn::Config {
    toml::from_str(&format!(
        r#"
        switch = "{}"
        ovsdb = "{}"
        bridge = "{bridge}"
        timeout = "2s"
        [ports.a]
        port = 1
        mac = "{MAC_A}"
        [ports.b]
        port = 2
        mac = "{MAC_B}"
        "#,
        ovs.mgmt_endpoint(bridge),
        ovs.db_endpoint(),
    ))
    .expect("sdn config")
}

fn services() -> Vec<orbit_core::config::Service> {
    vec![orbit_core::config::Service {
        id: "web".parse().expect("id"),
        prefixes: vec![
            "192.0.2.10/32".parse().expect("net"),
            "2001:db8::10/128".parse().expect("net"),
            "198.51.100.0/24".parse().expect("net"),
        ],
        sites: vec!["a".parse().expect("site"), "b".parse().expect("site")],
        health_checked: false,
        plan: None,
    }]
}

fn steer(generation: u64, active: Option<&str>) -> orbit_core::Steering {
    let mut s = steering(generation, active);
    for v in s.services.values_mut() {
        v.prefixes = services()[0].prefixes.clone();
    }
    s
}

#[tokio::test]
async fn apply_replaces_only_orbits_own_flows_and_is_idempotent_across_restarts() {
    let ovs = Ovs::start();
    let br = unique("br");
    ovs.bridge(&br).await;
    let mgmt = ovs.mgmt_endpoint(&br);
    // A stale orbit flow (left by an earlier run) and a foreign flow.
    ovs.ofctl(&[
        "add-flow",
        &mgmt,
        "cookie=0xb17000000000001,priority=1000,ip,nw_dst=203.0.113.9,actions=drop",
    ]);
    ovs.ofctl(&[
        "add-flow",
        &mgmt,
        "cookie=0x42,priority=5,ip,nw_dst=203.0.113.9,actions=drop",
    ]);

    let mut sw = Switch::start(&config(&ovs, &br), &services())
        .await
        .expect("start");
    let applied = sw.apply(&steer(1, Some("a"))).await.expect("apply");
    // 1 group + (ip, arp) + (ip, arp) + (ipv6, nd) + 1 stale flow deleted
    assert_eq!(applied.changes, 8, "{applied:?}");
    let flows = ovs.ofctl(&["dump-flows", &mgmt]);
    assert!(
        !flows.contains("priority=1000,ip,nw_dst=203.0.113.9"),
        "{flows}"
    );
    assert!(flows.contains("cookie=0x42"), "{flows}");
    assert!(flows.contains("arp,arp_tpa=192.0.2.10,arp_op=1"), "{flows}");
    assert!(flows.contains("nw_dst=198.51.100.0/24"), "{flows}");
    assert!(flows.contains("nd_target=2001:db8::10"), "{flows}");
    let groups = ovs.ofctl(&["dump-groups", &mgmt]);
    assert!(
        groups.contains("type=ff,bucket=watch_port:1,actions=set_field:02:00:00:00:0a:01->eth_dst,output:1,bucket=watch_port:2"),
        "{groups}"
    );

    // A new Switch (an orbitd restart) reads the switch back and finds
    // nothing to do: what OVS returns compares equal to what orbit sent.
    drop(sw);
    let mut sw = Switch::start(&config(&ovs, &br), &services())
        .await
        .expect("start");
    let again = sw.apply(&steer(2, Some("a"))).await.expect("apply");
    assert_eq!(again.changes, 0, "{again:?}");
    let seen = sw.observe().await.expect("observe");
    // Ports 1 and 2 do not exist on this bridge: no bucket is live.
    assert_eq!(
        seen.services.get(&"web".parse().expect("id")),
        Some(&None),
        "{seen:?}"
    );
    assert!(seen.detail.contains("6 orbit flows"), "{}", seen.detail);

    // No active site: explicit drops, the group is removed.
    let none = sw.apply(&steer(3, None)).await.expect("apply none");
    assert_eq!(none.changes, 7, "{none:?}");
    let groups = ovs.ofctl(&["dump-groups", &mgmt]);
    assert!(!groups.contains("type=ff"), "{groups}");
}

#[tokio::test]
async fn a_fenced_or_observing_daemon_writes_nothing() {
    let ovs = Ovs::start();
    let br = unique("br");
    ovs.bridge(&br).await;
    let mut sw = Switch::start(&config(&ovs, &br), &services())
        .await
        .expect("start");
    let mut fenced = steer(1, Some("a"));
    fenced.fenced = true;
    let r = sw
        .apply(&fenced)
        .await
        .expect("fenced apply is not an error");
    assert_eq!(r.changes, 0);
    assert!(r.detail.contains("fenced"), "{}", r.detail);
    let mut observing = steer(2, Some("a"));
    observing.observe_only = true;
    let r = sw.apply(&observing).await.expect("observe-only apply");
    assert_eq!(r.changes, 0);
    let flows = ovs.ofctl(&["dump-flows", &ovs.mgmt_endpoint(&br)]);
    assert!(!flows.contains("0xb17"), "{flows}");
    let seen = sw.observe().await.expect("observe");
    assert!(seen.services.is_empty(), "{seen:?}");
}

#[tokio::test]
async fn a_missing_bridge_or_switch_is_a_clear_error() {
    let ovs = Ovs::start();
    let cfg = config(&ovs, "nosuchbr");
    let err = Switch::start(&cfg, &services())
        .await
        .expect_err("no bridge");
    assert!(matches!(err, Error::BridgeMissing { .. }), "{err}");
    assert!(err.to_string().contains("nosuchbr"), "{err}");

    // Without the OVSDB check, applying to an absent switch fails within
    // the timeout and says why.
    let mut sw = Switch::connect(&cfg, &services()).expect("connect");
    let started = Instant::now();
    let err = sw.apply(&steer(1, Some("a"))).await.expect_err("no switch");
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(
        matches!(
            err,
            RedirectError::Timeout { .. } | RedirectError::Unreachable { .. }
        ),
        "{err:?}"
    );
    // A steering naming a service the config does not know is refused.
    let br = unique("br");
    ovs.bridge(&br).await;
    let mut sw = Switch::start(&config(&ovs, &br), &services())
        .await
        .expect("start");
    let mut bad = steer(1, Some("a"));
    let v = bad.services.pop_first().expect("one").1;
    bad.services.insert("mail".parse().expect("id"), v);
    let err = sw.apply(&bad).await.expect_err("unknown service");
    assert!(matches!(err, RedirectError::Config(_)), "{err:?}");
}

/// A bridge with OVS's default protocol set (1.0 .. 1.5): the HELLO comes
/// with a higher header version and a bitmap; orbit settles on 1.3.
#[tokio::test]
async fn negotiates_13_with_a_bridge_that_offers_every_version() {
    let ovs = Ovs::start();
    let br = unique("br");
    let mut db = orbit_sdn::ovsdb::Ovsdb::connect(&ovs.db_endpoint())
        .await
        .expect("ovsdb");
    let mut spec = orbit_sdn::ovsdb::BridgeSpec::orbit_default(&br);
    spec.protocols.clear();
    db.create_bridge(&spec).await.expect("create");
    ovs.wait_mgmt(&br);
    let mut sw = Switch::start(&config(&ovs, &br), &services())
        .await
        .expect("start");
    let applied = sw.apply(&steer(1, Some("b"))).await.expect("apply");
    assert!(applied.changes > 0);
    let groups = ovs.ofctl(&["dump-groups", &ovs.mgmt_endpoint(&br)]);
    assert!(groups.contains("bucket=watch_port:2"), "{groups}");
}
