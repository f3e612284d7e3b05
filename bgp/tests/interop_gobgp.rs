//! orbit's Speaker against a real gobgpd, in a namespace the test creates.

mod common;

use common::*;
use orbit_bgp::Speaker;
use orbit_core::{Redirector, Role};

const SVC: &str = "192.0.2.10/32";
const SVC6: &str = "2001:db8::10/128";

fn gobgp_config(lab: &Lab) -> String {
    format!(
        r#"
[global.config]
  as = 65002
  router-id = "{peer}"
  local-address-list = ["{peer}"]

[[neighbors]]
  [neighbors.config]
    neighbor-address = "{speaker}"
    peer-as = 65001
  [neighbors.timers.config]
    hold-time = 9
  [neighbors.transport.config]
    passive-mode = true
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv4-unicast"
  [[neighbors.afi-safis]]
    [neighbors.afi-safis.config]
      afi-safi-name = "ipv6-unicast"
"#,
        peer = lab.v4_peer,
        speaker = lab.v4_speaker
    )
}

/// The paths gobgpd holds for `prefix` (JSON of `gobgp global rib -j`).
fn rib_entry(g: &Gobgp, family: &str, prefix: &str) -> Option<serde_json::Value> {
    let out = g.cli(&["global", "rib", "-a", family, "-j"])?;
    let v: serde_json::Value = serde_json::from_str(&out).ok()?;
    v.get(prefix).cloned()
}

fn attr(entry: &serde_json::Value, ty: u64) -> Option<&serde_json::Value> {
    entry[0]["attrs"]
        .as_array()?
        .iter()
        .find(|a| a["type"].as_u64() == Some(ty))
}

#[test]
fn gobgpd_sees_attributes_and_withdraw() {
    let lab = Lab::new();
    lab.run(async {
        let g = Gobgp::start(&lab, &gobgp_config(&lab));
        let cfg = bgp_config(&format!(
            r#"
asn = 65001
router_id = "192.0.2.1"
next_hop_v4 = "{spare}"
next_hop_v6 = "{v6}"
connect_retry = "200ms"
[active]
med = 10
communities = ["64500:100"]
large_communities = ["64500:1:1"]
[standby]
prepend = 2
med = 200
[[peer]]
address = "{peer}"
asn = 65002
"#,
            spare = lab.v4_spare,
            v6 = lab.v6_speaker,
            peer = lab.v4_peer
        ));
        let mut speaker = Speaker::start(&cfg, &services(&[SVC, SVC6]))
            .await
            .expect("start");
        wait_for_async(20, "gobgpd session Established", || {
            g.cli(&["neighbor"]).is_some_and(|o| o.contains("Establ"))
        })
        .await;
        speaker
            .apply(&steering(1, &[SVC, SVC6], Role::Active, false))
            .await
            .expect("apply");
        let mut entry = None;
        wait_for_async(5, "route in gobgpd", || {
            entry = rib_entry(&g, "ipv4", SVC);
            entry.is_some()
        })
        .await;
        let e = entry.expect("entry");
        let path = attr(&e, 2).expect("AS_PATH");
        assert_eq!(
            path["as_paths"][0]["segment_type"], 2,
            "AS_SEQUENCE: {path}"
        );
        assert_eq!(path["as_paths"][0]["asns"], serde_json::json!([65001]));
        assert_eq!(
            attr(&e, 3).expect("NEXT_HOP")["nexthop"],
            lab.v4_spare.to_string()
        );
        assert_eq!(attr(&e, 4).expect("MED")["metric"], 10);
        assert_eq!(
            attr(&e, 8).expect("COMMUNITIES")["communities"],
            serde_json::json!([(64500u32 << 16) | 100])
        );
        assert!(attr(&e, 32).is_some(), "large communities missing: {e}");
        // IPv6 /128 over the IPv4 session, MP_REACH with the configured v6 next hop.
        let mut e6 = None;
        wait_for_async(5, "IPv6 route in gobgpd", || {
            e6 = rib_entry(&g, "ipv6", SVC6);
            e6.is_some()
        })
        .await;
        let e6 = e6.expect("v6");
        let mp = attr(&e6, 14).expect("MP_REACH_NLRI");
        assert_eq!(mp["nexthop"], lab.v6_speaker.to_string(), "{mp}");

        // Standby: AS_SEQUENCE with 2 prepends.
        speaker
            .apply(&steering(2, &[SVC, SVC6], Role::Standby, false))
            .await
            .expect("standby");
        wait_for_async(5, "prepended path in gobgpd", || {
            rib_entry(&g, "ipv4", SVC).is_some_and(|e| {
                attr(&e, 2).is_some_and(|p| {
                    p["as_paths"][0]["asns"] == serde_json::json!([65001, 65001, 65001])
                })
            })
        })
        .await;

        // Draining: 65535:0.
        speaker
            .apply(&steering(3, &[SVC, SVC6], Role::Draining, false))
            .await
            .expect("drain");
        wait_for_async(5, "GRACEFUL_SHUTDOWN in gobgpd", || {
            rib_entry(&g, "ipv4", SVC).is_some_and(|e| {
                attr(&e, 8).is_some_and(|c| {
                    c["communities"]
                        .as_array()
                        .is_some_and(|a| a.contains(&serde_json::json!(0xFFFF_0000u32)))
                })
            })
        })
        .await;

        speaker
            .apply(&steering(4, &[SVC, SVC6], Role::Withdrawn, false))
            .await
            .expect("withdraw");
        wait_for_async(5, "routes withdrawn in gobgpd", || {
            rib_entry(&g, "ipv4", SVC).is_none() && rib_entry(&g, "ipv6", SVC6).is_none()
        })
        .await;
        speaker.shutdown("done").await;
    })
}
