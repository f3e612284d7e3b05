#![allow(clippy::unwrap_used)] // tests: a panic is the report

use std::path::{Path, PathBuf};
use std::time::Duration;

use orbit_bgp::{BgpStandby, BgpStandbyAnnounce, StandbyWithdraw};
use orbit_config::{Config, NodeRole};
use orbit_core::config::Failback as FailbackRule;

use super::super::{Caps, Failback, Setup, Tuning};
use super::config;
use crate::plan::Mode;

/// The modes that run orbitd.
const MODES: [Mode; 5] = [
    Mode::Haproxy,
    Mode::Bgp,
    Mode::BgpNoBfd,
    Mode::Sdn,
    Mode::Serf,
];
const MEMBERS: [&str; 3] = ["a", "b", "w"];

struct Paths {
    root: PathBuf,
    haproxy_socket: PathBuf,
    haproxy_map: PathBuf,
}

fn paths() -> Paths {
    let root = PathBuf::from("/run/orbit-lab/t");
    Paths {
        haproxy_socket: root.join("haproxy.sock"),
        haproxy_map: root.join("web.map"),
        root,
    }
}

fn setup(mode: Mode, p: &Paths) -> Setup<'_> {
    Setup {
        mode,
        root: &p.root,
        tuning: Tuning::lab_defaults(Caps {
            dataplane_probe: true,
        }),
        haproxy_socket: &p.haproxy_socket,
        haproxy_map: &p.haproxy_map,
        ovs_dir: Path::new("/run/orbit-lab/t/ovs"),
    }
}

/// Every setup the lab writes: each mode with the defaults, and with each
/// tuning a scenario or an old daemon asks for.
fn every_setup(p: &Paths) -> Vec<Setup<'_>> {
    let mut all = Vec::new();
    for mode in MODES {
        let base = setup(mode, p);
        let tuned = |tuning: Tuning| Setup {
            tuning,
            ..base.clone()
        };
        all.push(base.clone());
        all.push(tuned(Tuning {
            caps: Caps::default(),
            ..base.tuning
        }));
        all.push(tuned(Tuning {
            failback: Failback::Manual,
            ..base.tuning
        }));
        all.push(tuned(Tuning {
            failback: Failback::After(500),
            bfd_ms: 50,
            standby_withdraw: true,
            ..base.tuning
        }));
        // Member BFD off (before / after) and slower.
        all.push(tuned(Tuning {
            member_bfd_ms: 0,
            ..base.tuning
        }));
        all.push(tuned(Tuning {
            member_bfd_ms: 50,
            ..base.tuning
        }));
        // Mode postgresql: the BGP lab with the db service and its plan.
        if mode == Mode::Bgp {
            all.push(tuned(crate::pgscenario::tuning(
                base.tuning,
                crate::pg::Replication::Sync,
            )));
        }
    }
    all
}

#[test]
fn every_member_config_round_trips_and_validates() {
    let p = paths();
    for setup in every_setup(&p) {
        for member in MEMBERS {
            let built = config(&setup, member).unwrap();
            let text = toml::to_string(&built).unwrap();
            let origin = format!("{} {member}", setup.mode);
            let read = Config::parse_valid(&text, &origin)
                .unwrap_or_else(|e| panic!("{origin}: {e}\n{text}"));
            assert_eq!(read, built, "{origin}:\n{text}");
        }
    }
}

/// What each mode asks of orbitd, read through the config types: a field
/// renamed in the daemon fails to compile here and in the builder, instead
/// of a lab run quietly going without the setting.
#[test]
fn each_mode_drives_its_backend_and_the_witness_none() {
    let p = paths();
    for mode in MODES {
        let setup = setup(mode, &p);
        let witness = config(&setup, "w").unwrap();
        assert_eq!(witness.node.role, NodeRole::Witness, "{mode}");
        assert_eq!(
            (&witness.bgp, &witness.haproxy, &witness.sdn),
            (&None, &None, &None),
            "{mode}: a witness drives no backend"
        );

        let a = config(&setup, "a").unwrap();
        assert_eq!(a.node.role, NodeRole::Site, "{mode}");
        assert_eq!(a.sites.len(), 3, "{mode}: a, b and the witness vote");
        assert_eq!(a.detect.probe.len(), 2, "{mode}: both sites are probed");
        assert_eq!(a.policy.failback_after.get(), Duration::from_secs(3));
        let health = a.services[0].health.as_ref().expect("web is checked");
        assert_eq!((health.rise, health.fall), (2, 2), "{mode}");
        assert_eq!(a.haproxy.is_some(), mode == Mode::Haproxy, "{mode}");
        assert_eq!(a.sdn.is_some(), mode == Mode::Sdn, "{mode}");
        assert_eq!(
            a.detect.serf_rpc.is_some(),
            mode == Mode::Serf,
            "{mode}: only the Serf baseline asks Serf"
        );
        assert_eq!(a.detect.dead_on_silence, mode != Mode::Serf, "{mode}");
        match &a.bgp {
            Some(bgp) => {
                let peer = &bgp.peers[0];
                assert_eq!(peer.bfd, mode == Mode::Bgp, "{mode}: BFD only in bgp");
                assert_eq!(peer.hold.get(), Duration::from_secs(9), "{mode}");
                assert_eq!(bgp.takeover.communities, ["64500:666"], "{mode}");
                assert_eq!(
                    bgp.standby,
                    BgpStandby::Announce(BgpStandbyAnnounce {
                        prepend: 3,
                        med: None,
                        communities: Vec::new(),
                        large_communities: Vec::new(),
                    }),
                    "{mode}"
                );
            }
            None => assert!(
                matches!(mode, Mode::Haproxy | Mode::Sdn),
                "{mode} has no [bgp]"
            ),
        }
    }
    let bgp = config(&setup(Mode::Bgp, &p), "a").unwrap();
    assert_eq!(bgp.bfd.interval.get(), Duration::from_millis(10));
    assert_eq!(bgp.bfd.multiplier, 3);
}

#[test]
fn scenario_tunings_reach_the_config() {
    let p = paths();
    let base = setup(Mode::Bgp, &p);
    let tuned = Setup {
        tuning: Tuning {
            failback: Failback::Manual,
            standby_withdraw: true,
            bfd_ms: 50,
            caps: Caps::default(),
            ..base.tuning
        },
        ..base
    };
    let a = config(&tuned, "a").unwrap();
    assert_eq!(a.policy.failback, FailbackRule::Manual);
    assert_eq!(
        a.bgp.unwrap().standby,
        BgpStandby::Withdraw(StandbyWithdraw::Withdraw)
    );
    assert_eq!(a.bfd.interval.get(), Duration::from_millis(50));
    assert!(a.detect.probe.is_empty(), "an old orbitd gets no probe");
}

/// Issue 20: every member runs multihop BFD toward the others wherever
/// orbit's own detectors decide, at `--member-bfd-interval` (20 ms x 3),
/// except in `bgp`, where orbitd's one `[bfd] interval` is the edge's;
/// 0 turns it off and leaves the edge's BFD as it was.
#[test]
fn members_run_bfd_where_orbit_decides() {
    let p = paths();
    let ms = |c: &Config| c.bfd.interval.get().as_millis();
    for mode in MODES {
        // Not the default (10 ms, the edge's too): the two must differ to
        // show which one `bgp` uses.
        let on = setup(mode, &p);
        let on = Setup {
            tuning: Tuning {
                member_bfd_ms: 20,
                ..on.tuning
            },
            ..on
        };
        let off = Setup {
            tuning: Tuning {
                member_bfd_ms: 0,
                ..on.tuning
            },
            ..on.clone()
        };
        for member in MEMBERS {
            let what = format!("{mode} {member}");
            let c = config(&on, member).unwrap();
            let expected = mode != Mode::Serf;
            assert_eq!(c.bfd.sites, expected, "{what}: member BFD");
            if expected {
                let interval = if mode == Mode::Bgp { 10 } else { 20 };
                assert_eq!(ms(&c), interval, "{what}");
                assert_eq!(c.bfd.multiplier, 3, "{what}");
                assert_eq!(on.tuning.member_bfd(mode), Some(interval as u32));
            }
            let c = config(&off, member).unwrap();
            assert!(!c.bfd.sites, "{what}: --member-bfd-interval 0 turns it off");
            assert_eq!(off.tuning.member_bfd(mode), None, "{what}");
            if mode == Mode::Bgp {
                assert_eq!(ms(&c), 10, "{what}: the edge's BFD stays");
            }
        }
        let edge_bfd = config(&on, "a")
            .unwrap()
            .bgp
            .is_some_and(|bgp| bgp.peers[0].bfd);
        assert_eq!(edge_bfd, mode == Mode::Bgp, "{mode}: BFD toward the edge");
    }
}

/// `--sites 3`: four members whose configs validate, c wired like b, and
/// each site first for one of the four services.
#[test]
fn three_site_members_validate_and_list_every_service() {
    let p = paths();
    let base = setup(Mode::Bgp, &p);
    let three = Setup {
        tuning: Tuning {
            three_sites: true,
            ..base.tuning
        },
        ..base
    };
    let mut first = Vec::new();
    for member in ["a", "b", "c", "w"] {
        let built = config(&three, member).unwrap();
        let text = toml::to_string(&built).unwrap();
        let read =
            Config::parse_valid(&text, member).unwrap_or_else(|e| panic!("{member}: {e}\n{text}"));
        assert_eq!(read.sites.len(), 4, "{member}");
        assert_eq!(read.quorum(), 3, "{member}");
        assert_eq!(read.services.len(), 4, "{member}");
        if member == "c" {
            let bgp = read.bgp.as_ref().unwrap();
            assert_eq!(bgp.asn, 65003);
            first = read
                .services
                .iter()
                .map(|s| s.sites[0].to_string())
                .collect();
        }
    }
    first.sort();
    assert_eq!(first, ["a", "a", "b", "c"]);
}

/// `--routers 2`: a1 and a2 are members of site a whose configs validate
/// (quorum 2 of the 3 sites a, b, w), each with its own BGP session from
/// its own address in a's AS; only b's service is probed over the control
/// network, and every member checks the service address (routed to a's
/// servers at a1 and a2).
#[test]
fn two_routers_at_a_are_members_of_site_a_with_their_own_sessions() {
    let p = paths();
    let base = setup(Mode::Bgp, &p);
    let two = Setup {
        tuning: Tuning {
            two_routers: true,
            ..base.tuning
        },
        ..base
    };
    let mut locals = Vec::new();
    for member in ["a1", "a2", "b", "w"] {
        let built = config(&two, member).unwrap();
        let text = toml::to_string(&built).unwrap();
        let read =
            Config::parse_valid(&text, member).unwrap_or_else(|e| panic!("{member}: {e}\n{text}"));
        assert_eq!(read.sites.len(), 4, "{member}");
        assert_eq!(read.quorum(), 2, "{member}: 2 of the sites a, b, w");
        let of = |id: &str| {
            read.sites
                .iter()
                .find(|s| s.id.as_str() == id)
                .and_then(|s| s.site.as_ref().map(|s| s.to_string()))
        };
        assert_eq!(of("a1").as_deref(), Some("a"), "{member}");
        assert_eq!(of("a2").as_deref(), Some("a"), "{member}");
        assert_eq!(of("b"), None, "{member}");
        let probed: Vec<String> = read.detect.probe.keys().map(|s| s.to_string()).collect();
        assert_eq!(
            probed,
            ["b"],
            "{member}: a1 and a2 are judged by their daemons"
        );
        let check = read.services[0].health.as_ref().unwrap().http.clone();
        assert_eq!(
            check.as_deref(),
            Some("http://198.51.100.10:80/healthz"),
            "{member}"
        );
        if member.starts_with('a') {
            let bgp = read.bgp.as_ref().unwrap();
            assert_eq!(bgp.asn, 65001, "{member}");
            locals.push(bgp.peers[0].local_address.unwrap().to_string());
        }
    }
    assert_eq!(locals, ["10.90.1.2", "10.90.4.2"]);
}

/// Mode postgresql: `db` names the plan `pg`, whose steps are the lab's
/// `pg/step.sh` (fence at the old site, promote at the new one) and the
/// orchestrator's HTTP call; every member holds the same plan.
#[test]
fn postgresql_members_hold_the_pg_plan() {
    use orbit_core::config::{StepKind, StepSite};
    let p = paths();
    let base = setup(Mode::Bgp, &p);
    let setup = Setup {
        tuning: crate::pgscenario::tuning(base.tuning, crate::pg::Replication::Async),
        ..base
    };
    let configs: Vec<Config> = MEMBERS.iter().map(|m| config(&setup, m).unwrap()).collect();
    for c in &configs {
        assert_eq!(c.plans, configs[0].plans, "one plan for every member");
    }
    let a = &configs[0];
    let db = a.services.iter().find(|s| s.id.as_str() == "db").unwrap();
    assert_eq!(db.plan.as_ref().map(|p| p.as_str()), Some("pg"));
    let plan = &a.plans[0];
    let script = crate::pg::step_script(setup.root).display().to_string();
    assert_eq!(plan.fence_old[0].at, Some(StepSite::Old));
    assert_eq!(
        plan.fence_old[0].command,
        Some(vec![script.clone(), "fence".into()])
    );
    assert!(plan.fence_old[0].idempotent);
    assert_eq!(plan.before_takeover[0].at, Some(StepSite::New));
    assert_eq!(
        plan.before_takeover[0].command,
        Some(vec![script, "promote".into()])
    );
    assert!(
        !plan.before_takeover[0].idempotent,
        "a second promotion must fail, not pass"
    );
    assert_eq!(plan.after_takeover[0].kind, StepKind::Http);
}
