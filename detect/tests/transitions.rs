//! The moments between states, in the deterministic simulation: real foca,
//! real gossip cores and real engines on a fake clock (issue 13).
//!
//! Each test drives a three-member cluster (sites s0 and s1, witness s2;
//! `web` prefers s0) through heals after partitions, short flaps, cold
//! starts and loss, and checks the transitions themselves:
//! (a) a healthy member is never declared dead by a quorum because a healing
//!     member's stale reports arrive;
//! (b) the majority never loses authority (fences) because a minority healed;
//! (c) no failback earlier than `failback_after` after the last quorum Dead
//!     declaration of the site, whichever engine moves the service;
//! (d) never two members with authority carrying `web` at once;
//! (e) a cluster that starts together places `web` at s0 without a detour.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod sim;

use std::time::Duration;

use orbit_core::{Change, SiteId};
use sim::{Profile, Sim};

const FAILBACK_AFTER: Duration = Duration::from_secs(10);

fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

fn site(i: usize) -> SiteId {
    format!("s{i}").parse().unwrap()
}

/// The policy of the reproduction: metro-fast, failback after 10 s.
fn policy() -> String {
    format!(
        "[policy]\nfailback_after = \"{}s\"\nfailover_hold = \"0s\"\n",
        FAILBACK_AFTER.as_secs()
    )
}

fn cluster(seed: u64, bfd: bool) -> Sim {
    let extra = if bfd {
        format!(
            "{}[bfd]\nsites = true\ninterval = \"50ms\"\nmultiplier = 3\n",
            policy()
        )
    } else {
        policy()
    };
    let mut sim = Sim::with(3, true, Profile::MetroFast, seed, &extra);
    if bfd {
        sim.enable_bfd(ms(50), 3);
    }
    sim.run_until(Duration::from_secs(3));
    assert_eq!(sim.carriers(), vec![site(0)], "seed {seed}: s0 carries web");
    sim
}

/// Fenced decisions of member `i` at or after `since`.
fn fencings(sim: &Sim, i: usize, since: Duration) -> Vec<Duration> {
    sim.nodes[i]
        .decisions
        .iter()
        .filter(|(t, d)| *t >= since && d.change == Change::Fenced { fenced: true })
        .map(|(t, _)| *t)
        .collect()
}

/// When any engine moved `web` to `to` at or after `since`.
fn moves_to(sim: &Sim, to: usize, since: Duration) -> Vec<(SiteId, Duration)> {
    let target = site(to);
    let mut v: Vec<(SiteId, Duration)> = sim
        .nodes
        .iter()
        .flat_map(|n| {
            n.decisions.iter().filter_map(|(t, d)| match &d.change {
                Change::ServiceMoved { to: Some(x), .. } if *x == target && *t >= since => {
                    Some((n.site.clone(), *t))
                }
                _ => None,
            })
        })
        .collect();
    v.sort_by_key(|(_, t)| *t);
    v
}

/// Checks (a), (b) and (d) over everything since `since`, and that no gap
/// without a carrier longer than `max_gap` began after `quiet_from`.
fn check_transitions(sim: &Sim, seed: u64, since: Duration, quiet_from: Duration) {
    let wrong: Vec<_> = sim
        .dead_declarations(since)
        .into_iter()
        .filter(|(_, dead, _)| *dead != site(0))
        .collect();
    assert!(
        wrong.is_empty(),
        "seed {seed}: healthy members declared dead by a quorum: {wrong:?}"
    );
    for survivor in [1, 2] {
        let f = fencings(sim, survivor, since);
        assert!(
            f.is_empty(),
            "seed {seed}: s{survivor} fenced itself at {f:?}"
        );
    }
    assert!(
        sim.dual_active.is_empty(),
        "seed {seed}: two members with authority carried web: {:?}",
        &sim.dual_active[..sim.dual_active.len().min(5)]
    );
    let gaps = sim.carrier_gaps(quiet_from, ms(0));
    assert!(
        gaps.is_empty(),
        "seed {seed}: no site carried web after the heal: {gaps:?}"
    );
}

/// s0 is cut off from everyone for `down`, then healed; `rounds` times.
fn heal_after_partition(seed: u64, bfd: bool, rounds: usize) {
    let mut sim = cluster(seed, bfd);
    let start = sim.now;
    for round in 0..rounds {
        let cut = sim.now;
        sim.isolate(0);
        sim.run_for(ms(1500));
        assert_eq!(
            sim.carriers(),
            vec![site(1)],
            "seed {seed} round {round}: s1 took web over after the cut"
        );
        assert!(sim.fenced(0), "seed {seed} round {round}: s0 fenced");
        assert!(
            sim.declared_dead_at(1, 0, cut).is_some(),
            "seed {seed} round {round}: s0 declared dead"
        );
        let healed = sim.now;
        sim.heal();
        sim.run_for(ms(3000));
        check_transitions(&sim, seed, start, healed);
        assert_eq!(
            sim.carriers(),
            vec![site(1)],
            "seed {seed} round {round}: web stays at s1 until failback_after"
        );
    }
    // Fail back once, deliberately: failback_after after the last death.
    sim.run_for(FAILBACK_AFTER);
    assert_eq!(sim.carriers(), vec![site(0)], "seed {seed}: failed back");
    check_transitions(&sim, seed, start, sim.now);
}

#[test]
fn a_healing_site_takes_nothing_from_the_majority() {
    for seed in 0..12 {
        heal_after_partition(seed, false, 4);
    }
}

#[test]
fn a_healing_site_takes_nothing_from_the_majority_with_member_bfd() {
    for seed in 0..12 {
        heal_after_partition(seed, true, 4);
    }
}

/// s0's links flap: `down` cut, `up` healed, five times; the others see
/// each outage, s0's own detectors may not (the cut is shorter than them).
fn flapping_site(seed: u64, bfd: bool, down: Duration, up: Duration) {
    let mut sim = cluster(seed, bfd);
    let start = sim.now;
    for _ in 0..5 {
        sim.isolate(0);
        sim.run_for(down);
        sim.heal();
        sim.run_for(up);
    }
    sim.run_for(FAILBACK_AFTER + ms(2000));
    let deaths: Vec<Duration> = sim
        .dead_declarations(start)
        .into_iter()
        .filter(|(_, dead, _)| *dead == site(0))
        .map(|(_, _, t)| t)
        .collect();
    eprintln!(
        "seed {seed} bfd {bfd} down {down:?}: s0 declared dead {} times, failed back {} times",
        deaths.len(),
        moves_to(&sim, 0, start).len()
    );
    // A flap costs at most the cut itself past the fence time and a resync:
    // never a long stretch with no carrier (a fenced site that waited for a
    // sync nobody sends, a survivor that fenced).
    let gaps = sim.carrier_gaps(start, ms(500));
    assert!(
        gaps.is_empty(),
        "seed {seed}: gaps without a carrier: {gaps:?}"
    );
    if deaths.is_empty() {
        // Nobody noticed the flaps: then nothing may have moved.
        assert!(
            moves_to(&sim, 1, start).is_empty(),
            "seed {seed}: web moved without a death"
        );
        return;
    }
    for (by, at) in moves_to(&sim, 0, start) {
        let last_death = deaths.iter().filter(|d| **d <= at).max().copied();
        if let Some(death) = last_death {
            assert!(
                at - death >= FAILBACK_AFTER,
                "seed {seed}: {by} failed web back at {at:?}, only {:?} after the last \
                 quorum death of s0 (at {death:?}; deaths {deaths:?})",
                at - death
            );
        }
    }
    assert_eq!(
        sim.carriers(),
        vec![site(0)],
        "seed {seed}: failed back in the end"
    );
    assert!(
        sim.dual_active.is_empty(),
        "seed {seed}: two carriers: {:?}",
        &sim.dual_active[..sim.dual_active.len().min(5)]
    );
    for survivor in [1, 2] {
        let f = fencings(&sim, survivor, start);
        assert!(f.is_empty(), "seed {seed}: s{survivor} fenced at {f:?}");
    }
}

#[test]
fn failback_waits_for_failback_after_since_the_clusters_last_verdict() {
    for seed in 0..8 {
        // Longer than the others' detection, shorter than s0's own.
        flapping_site(seed, false, ms(420 + 10 * seed), Duration::from_secs(5));
    }
}

#[test]
fn failback_waits_for_failback_after_since_the_clusters_last_verdict_with_member_bfd() {
    for seed in 0..8 {
        flapping_site(seed, true, ms(320 + 10 * seed), Duration::from_secs(5));
    }
}

#[test]
fn a_cut_off_site_fences_before_the_majority_takes_over() {
    for seed in 0..10 {
        for bfd in [false, true] {
            let mut sim = cluster(seed, bfd);
            let cut = sim.now;
            sim.isolate(0);
            sim.run_for(ms(2000));
            let fenced_at = fencings(&sim, 0, cut)[0];
            let takeover = moves_to(&sim, 1, cut)
                .into_iter()
                .map(|(_, t)| t)
                .min()
                .unwrap();
            assert!(
                fenced_at < takeover,
                "seed {seed} bfd {bfd}: s0 fenced at {:?}, s1 took over at {:?}",
                fenced_at - cut,
                takeover - cut
            );
            assert!(sim.dual_active.is_empty(), "{:?}", sim.dual_active);
        }
    }
}

#[test]
fn member_bfd_expiries_under_loss_condemn_nobody() {
    // BFD at 50 ms x 3 loses three packets in a row now and then at 10%
    // loss; while gossip still hears the member that is only a suspicion.
    for seed in 0..3 {
        let mut sim = cluster(seed, true);
        let start = sim.now;
        sim.loss = 10;
        sim.run_for(Duration::from_secs(60));
        let dead = sim.dead_declarations(start);
        assert!(dead.is_empty(), "seed {seed}: {dead:?}");
        // Not even one member's verdict: a single expiry is one coincidence
        // away from a quorum.
        let verdicts: Vec<_> = sim
            .nodes
            .iter()
            .flat_map(|n| n.events.iter().map(move |(t, e)| (n.site.clone(), *t, e)))
            .filter(|(site, t, e)| {
                *t >= start
                    && matches!(e, orbit_core::Event::Verdict { observer, liveness, .. }
                        if observer == site && *liveness == orbit_core::Liveness::Dead)
            })
            .collect();
        assert!(
            verdicts.is_empty(),
            "seed {seed}: Dead verdicts under loss: {verdicts:?}"
        );
        for i in 0..3 {
            assert!(
                fencings(&sim, i, start).is_empty(),
                "seed {seed}: s{i} fenced"
            );
        }
        assert_eq!(sim.carriers(), vec![site(0)]);
    }
}

#[test]
fn a_cluster_that_starts_together_places_web_at_its_preferred_site() {
    // s1's service is up first; s0's health check fails until its service
    // has started a moment later. No detour through s1.
    let health =
        "health = { tcp = \"198.51.100.1:80\", interval = \"100ms\", rise = 3, fall = 3 }\n";
    for seed in 0..10 {
        let extra = format!("{health}{}", policy());
        let mut sim = Sim::with(3, true, Profile::MetroFast, seed, &extra);
        sim.run_until(ms(300));
        sim.health(1, true);
        sim.health(0, false);
        // rise = 3 at 100 ms: healthy at the earliest 300 ms later.
        sim.run_until(ms(600 + 100 * seed));
        sim.health(0, true);
        sim.run_until(Duration::from_secs(5));
        let log: Vec<String> = sim
            .nodes
            .iter()
            .flat_map(|n| {
                n.decisions
                    .iter()
                    .map(move |(t, d)| format!("{} {t:?} {:?}: {}", n.site, d.change, d.reason))
            })
            .collect();
        assert_eq!(sim.carriers(), vec![site(0)], "seed {seed}: {log:#?}");
        let detour = moves_to(&sim, 1, Duration::ZERO);
        assert!(
            detour.is_empty(),
            "seed {seed}: web went to s1 first: {detour:?}"
        );
        assert!(sim.dual_active.is_empty(), "{:?}", sim.dual_active);
    }
}
