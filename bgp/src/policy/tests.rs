use super::*;
use crate::config::{BgpActive, BgpDrain, BgpMarks, BgpStandbyAnnounce, StandbyWithdraw};
use orbit_core::ServiceSteering;

fn bgp(standby: BgpStandby) -> Config {
    let text = r#"
asn = 65001
router_id = "192.0.2.1"
[active]
med = 10
communities = ["64500:100"]
large_communities = ["64500:1:1"]
[takeover]
communities = ["64500:666"]
[[peer]]
address = "192.0.2.2"
asn = 65002
"#;
    let mut b: Config = toml::from_str(text).expect("bgp toml");
    b.standby = standby;
    b
}

fn standby_announce() -> BgpStandby {
    BgpStandby::Announce(BgpStandbyAnnounce {
        prepend: 3,
        med: Some(200),
        communities: vec!["64500:200".into()],
        large_communities: vec![],
    })
}

fn services() -> Vec<Service> {
    let text = r#"
[[services]]
id = "web"
prefixes = ["192.0.2.10/32", "2001:db8::10/128"]
sites = ["a", "b"]
"#;
    #[derive(serde::Deserialize)]
    struct S {
        services: Vec<Service>,
    }
    toml::from_str::<S>(text).expect("services").services
}

fn steering(role: Role, takeover: bool) -> Steering {
    let mut services = BTreeMap::new();
    services.insert(
        "web".parse().expect("id"),
        ServiceSteering {
            prefixes: vec![
                "192.0.2.10/32".parse().expect("net"),
                "2001:db8::10/128".parse().expect("net"),
            ],
            active: Some("a".parse().expect("site")),
            epoch: 0,
            local_role: role,
            takeover,
        },
    );
    Steering {
        generation: 1,
        local_site: "a".parse().expect("site"),
        fenced: false,
        observe_only: false,
        services,
    }
}

#[test]
fn active_uses_active_marks_and_takeover_adds_its_communities() {
    let p = Policy::new(&bgp(standby_announce()), &services()).expect("policy");
    let rib = p.desired(&steering(Role::Active, false)).expect("desired");
    assert_eq!(rib.len(), 2);
    let a = &rib[&"192.0.2.10/32".parse().expect("net")];
    assert_eq!(a.prepend, 0);
    assert_eq!(a.med, Some(10));
    assert_eq!(a.communities, vec![(64500 << 16) | 100]);
    assert_eq!(a.large_communities, vec![[64500, 1, 1]]);
    let rib = p.desired(&steering(Role::Active, true)).expect("desired");
    let a = &rib[&"2001:db8::10/128".parse().expect("net")];
    assert_eq!(
        a.communities,
        vec![(64500 << 16) | 100, (64500 << 16) | 666]
    );
}

/// Issue 21: a copy of the attributes per prefix made the desired RIB the
/// daemon's largest allocation at 100k prefixes; a service's prefixes share
/// one.
#[test]
fn the_prefixes_of_a_service_share_one_announce() {
    let p = Policy::new(&bgp(standby_announce()), &services()).expect("policy");
    let rib = p.desired(&steering(Role::Active, true)).expect("desired");
    let v4 = &rib[&"192.0.2.10/32".parse().expect("net")];
    let v6 = &rib[&"2001:db8::10/128".parse().expect("net")];
    assert!(std::sync::Arc::ptr_eq(v4, v6));
}

#[test]
fn standby_lowers_preference_or_withdraws() {
    let p = Policy::new(&bgp(standby_announce()), &services()).expect("policy");
    let rib = p.desired(&steering(Role::Standby, false)).expect("desired");
    let a = &rib[&"192.0.2.10/32".parse().expect("net")];
    assert_eq!((a.prepend, a.med), (3, Some(200)));
    assert_eq!(a.communities, vec![(64500 << 16) | 200]);
    let p = Policy::new(
        &bgp(BgpStandby::Withdraw(StandbyWithdraw::Withdraw)),
        &services(),
    )
    .expect("policy");
    assert!(p
        .desired(&steering(Role::Standby, false))
        .expect("desired")
        .is_empty());
}

#[test]
fn draining_adds_graceful_shutdown_and_lowers_preference() {
    let p = Policy::new(&bgp(standby_announce()), &services()).expect("policy");
    let rib = p
        .desired(&steering(Role::Draining, false))
        .expect("desired");
    let a = &rib[&"192.0.2.10/32".parse().expect("net")];
    assert!(a.communities.contains(&0xFFFF_0000));
    assert_eq!(a.prepend, 3);
    let p = Policy::new(
        &bgp(BgpStandby::Withdraw(StandbyWithdraw::Withdraw)),
        &services(),
    )
    .expect("policy");
    let rib = p
        .desired(&steering(Role::Draining, false))
        .expect("desired");
    let a = &rib[&"192.0.2.10/32".parse().expect("net")];
    assert_eq!(a.prepend, 3);
    assert!(a.communities.contains(&0xFFFF_0000));
    let mut no_gs = bgp(standby_announce());
    no_gs.drain = BgpDrain {
        graceful_shutdown: false,
    };
    let p = Policy::new(&no_gs, &services()).expect("policy");
    let rib = p
        .desired(&steering(Role::Draining, false))
        .expect("desired");
    assert!(!rib.values().any(|a| a.communities.contains(&0xFFFF_0000)));
}

#[test]
fn withdrawn_and_fenced_announce_nothing() {
    let p = Policy::new(&bgp(standby_announce()), &services()).expect("policy");
    assert!(p
        .desired(&steering(Role::Withdrawn, false))
        .expect("desired")
        .is_empty());
    let mut s = steering(Role::Active, false);
    s.fenced = true;
    assert!(p.desired(&s).expect("desired").is_empty());
}

#[test]
fn unconfigured_services_and_prefixes_are_refused() {
    let p = Policy::new(&bgp(standby_announce()), &services()).expect("policy");
    let mut s = steering(Role::Active, false);
    if let Some(web) = s.services.get_mut(&"web".parse().expect("id")) {
        web.prefixes.push("203.0.113.1/32".parse().expect("net"));
    }
    let e = p.desired(&s).unwrap_err();
    assert!(e.to_string().contains("203.0.113.1/32"), "{e}");
    let mut s = steering(Role::Active, false);
    let web = s.services.remove(&"web".parse().expect("id")).expect("web");
    s.services.insert("mail".parse().expect("id"), web);
    let e = p.desired(&s).unwrap_err();
    assert!(e.to_string().contains("mail"), "{e}");
}

#[test]
fn community_parsing() {
    assert_eq!(parse_community("65535:0"), Some(0xFFFF_0000));
    assert_eq!(parse_community("65536:0"), None);
    assert_eq!(parse_community("1:2:3"), None);
    assert_eq!(parse_large("1:2:3"), Some([1, 2, 3]));
    assert_eq!(parse_large("1:2"), None);
    assert_eq!(parse_large("1:2:3:4"), None);
    let _ = (BgpActive::default(), BgpMarks::default());
}
