//! Deterministic simulations of the gossip layer feeding real engines.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod sim;

use std::time::Duration;

use orbit_detect::gossip::{SiteView, Source, EXTERNAL_TTL};
use sim::{Profile, Sim};

const SETTLE: Duration = Duration::from_secs(3);
const DEAD: Option<orbit_core::Liveness> = Some(orbit_core::Liveness::Dead);

fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

/// Crashes `victim` after the cluster settled; returns, per seed, the time
/// until every surviving engine declared it dead.
fn crash_detection(
    n: usize,
    witness: bool,
    victim: usize,
    seeds: std::ops::Range<u64>,
    loss: u32,
) -> Vec<Duration> {
    let mut times = Vec::new();
    for seed in seeds {
        let mut sim = Sim::new(n, witness, Profile::MetroFast, seed);
        sim.loss = loss;
        sim.run_until(SETTLE);
        assert!(
            sim.dead_declarations(Duration::ZERO).is_empty(),
            "seed {seed}: false dead before the crash: {:?}",
            sim.dead_declarations(Duration::ZERO)
        );
        let t0 = sim.now;
        sim.crash(victim);
        sim.run_for(Duration::from_secs(5));
        let mut worst = Duration::ZERO;
        for o in 0..n {
            if o == victim {
                continue;
            }
            let at = sim
                .declared_dead_at(o, victim, t0)
                .unwrap_or_else(|| panic!("seed {seed}: s{o} never declared s{victim} dead"));
            worst = worst.max(at - t0);
        }
        let others: Vec<_> = sim
            .dead_declarations(Duration::ZERO)
            .into_iter()
            .filter(|(_, s, _)| s.as_str() != format!("s{victim}"))
            .collect();
        assert!(others.is_empty(), "seed {seed}: false dead: {others:?}");
        times.push(worst);
    }
    times.sort();
    times
}

fn pct(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

#[test]
fn three_members_detect_a_crashed_site_within_bounds() {
    let t = crash_detection(3, true, 0, 0..20, 0);
    eprintln!(
        "3 members crash: p50 {:?} p99 {:?}",
        pct(&t, 50),
        pct(&t, 99)
    );
    assert!(pct(&t, 50) < ms(600), "{t:?}");
    assert!(pct(&t, 99) < ms(900), "{t:?}");
}

#[test]
fn five_members_detect_a_crash() {
    let t = crash_detection(5, false, 2, 0..10, 0);
    eprintln!(
        "5 members crash: p50 {:?} max {:?}",
        pct(&t, 50),
        pct(&t, 99)
    );
    assert!(pct(&t, 99) < ms(900), "{t:?}");
}

#[test]
fn sixteen_members_detect_a_crash() {
    let t = crash_detection(16, false, 5, 0..5, 0);
    eprintln!(
        "16 members crash: p50 {:?} max {:?}",
        pct(&t, 50),
        pct(&t, 99)
    );
    assert!(pct(&t, 99) < ms(1200), "{t:?}");
}

#[test]
fn crash_is_detected_under_ten_percent_loss_without_false_dead() {
    let t = crash_detection(3, true, 1, 0..10, 10);
    eprintln!(
        "3 members crash, 10% loss: p50 {:?} max {:?}",
        pct(&t, 50),
        pct(&t, 99)
    );
    assert!(pct(&t, 99) < ms(1500), "{t:?}");
}

/// Runs `n` members under `loss` percent loss for `secs` simulated seconds
/// and returns every Dead declaration.
fn soak(n: usize, witness: bool, loss: u32, secs: u64, seed: u64) -> Vec<String> {
    soak_sim(Sim::new(n, witness, Profile::MetroFast, seed), loss, secs)
}

fn soak_sim(mut sim: Sim, loss: u32, secs: u64) -> Vec<String> {
    sim.run_until(SETTLE);
    sim.loss = loss;
    sim.run_for(Duration::from_secs(secs));
    let mut bad: Vec<String> = sim
        .dead_declarations(Duration::ZERO)
        .into_iter()
        .map(|(o, s, t)| format!("{o} declared {s} dead at {t:?}"))
        .collect();
    for (i, node) in sim.nodes.iter().enumerate() {
        for (t, d) in &node.decisions {
            if *t >= SETTLE && d.change == (orbit_core::Change::Fenced { fenced: true }) {
                bad.push(format!("s{i} fenced itself at {t:?}"));
            }
        }
    }
    bad
}

#[test]
fn no_false_dead_at_ten_percent_loss() {
    for seed in 0..3 {
        let bad = soak(3, true, 10, 60, seed);
        assert!(bad.is_empty(), "seed {seed}: {bad:?}");
    }
    let bad = soak(5, false, 10, 30, 7);
    assert!(bad.is_empty(), "{bad:?}");
}

/// Member BFD at 10 ms x 3 under 10 % loss goes falsely Down every few
/// seconds (three packets in a row lost), and comes back only after its
/// slow start: its short fencing timers must not turn those into a fence
/// or a Dead verdict (issue 20).
#[test]
fn no_false_dead_at_ten_percent_loss_with_member_bfd_at_10ms() {
    let extra = "[bfd]\nsites = true\ninterval = \"10ms\"\nmultiplier = 3\n";
    for seed in 0..3 {
        let mut sim = Sim::with(3, true, Profile::MetroFast, seed, extra);
        sim.enable_bfd(ms(10), 3);
        let bad = soak_sim(sim, 10, 30);
        assert!(bad.is_empty(), "seed {seed}: {bad:?}");
    }
}

#[test]
fn no_false_dead_at_thirty_percent_loss() {
    for seed in 0..3 {
        let bad = soak(3, true, 30, 30, seed);
        assert!(bad.is_empty(), "seed {seed}: {bad:?}");
    }
    let bad = soak(16, false, 30, 10, 3);
    assert!(bad.is_empty(), "{bad:?}");
}

#[test]
fn a_two_second_pause_is_not_a_dead_site() {
    for seed in 0..5 {
        let mut sim = Sim::new(3, true, Profile::MetroFast, seed);
        sim.run_until(SETTLE);
        sim.pause(0, Duration::from_secs(2));
        sim.run_for(Duration::from_secs(6));
        let dead = sim.dead_declarations(Duration::ZERO);
        assert!(dead.is_empty(), "seed {seed}: {dead:?}");
        // s1 did see the daemon go silent (SWIM gave up on it) while its
        // site still answered: reported Suspect, never Dead.
        let s0: orbit_core::SiteId = "s0".parse().unwrap();
        let saw_silence = sim.nodes[1].events.iter().any(|(_, e)| {
            matches!(e, orbit_core::Event::Verdict { observer, subject, liveness: orbit_core::Liveness::Suspect }
                if observer.as_str() == "s1" && *subject == s0)
        });
        assert!(saw_silence, "seed {seed}: the pause went unnoticed");
        // Lifeguard: the member that woke up distrusts its stale view and
        // accuses nobody.
        let accused: Vec<_> = sim.nodes[0]
            .events
            .iter()
            .filter(|(_, e)| {
                matches!(e, orbit_core::Event::Verdict { observer, liveness: orbit_core::Liveness::Dead, .. }
                    if observer.as_str() == "s0")
            })
            .collect();
        assert!(accused.is_empty(), "seed {seed}: {accused:?}");
        assert!(!sim.fenced(1), "seed {seed}: s1 fenced");
        assert!(
            !sim.fenced(0),
            "seed {seed}: the paused member fenced itself"
        );
    }
}

#[test]
fn isolated_site_is_declared_dead_and_fences_itself() {
    let mut sim = Sim::new(3, true, Profile::MetroFast, 11);
    sim.run_until(SETTLE);
    let t0 = sim.now;
    sim.isolate(0);
    sim.run_for(Duration::from_secs(3));
    let b = sim.declared_dead_at(1, 0, t0).expect("s1 declares s0 dead");
    let w = sim.declared_dead_at(2, 0, t0).expect("w declares s0 dead");
    eprintln!(
        "isolation detected by s1 after {:?}, by w after {:?}",
        b - t0,
        w - t0
    );
    assert!(b - t0 < ms(1000) && w - t0 < ms(1000));
    assert!(sim.fenced(0), "the isolated site fences itself");
    assert!(!sim.fenced(1) && !sim.fenced(2));
    // s1 now carries the service.
    let web = &sim.nodes[1].engine.steering().services;
    let (_, s) = web.iter().next().expect("one service");
    assert_eq!(s.active.as_ref().map(|x| x.as_str()), Some("s1"));
    // Heal: s0 comes back and is no longer dead anywhere.
    sim.heal();
    sim.run_for(Duration::from_secs(5));
    assert!(!sim.fenced(0), "s0 unfences after the heal");
    assert!(!sim.nodes[1].engine.status().sites.iter().any(|s| s.dead));
}

#[test]
fn a_cut_between_the_two_sites_fails_nothing_over() {
    for seed in 0..5 {
        let mut sim = Sim::new(3, true, Profile::MetroFast, seed);
        sim.run_until(SETTLE);
        sim.cut(0, 1);
        sim.run_for(Duration::from_secs(5));
        let dead = sim.dead_declarations(Duration::ZERO);
        assert!(dead.is_empty(), "seed {seed}: {dead:?}");
        assert!(
            !sim.fenced(0) && !sim.fenced(1),
            "seed {seed}: a site fenced itself"
        );
        let st = sim.nodes[0].core.status();
        // SWIM still reaches s1 through the witness (indirect probes).
        assert_ne!(
            st.views.get(&"s1".parse().unwrap()).copied(),
            Some(orbit_detect::gossip::SiteView::Dead),
            "seed {seed}"
        );
        assert_eq!(st.partitioned, vec!["s1".parse().unwrap()], "seed {seed}");
    }
}

#[test]
fn service_health_is_disseminated_to_every_member() {
    use orbit_core::Event;
    use orbit_detect::gossip::Input;
    let mut sim = Sim::new(3, true, Profile::MetroFast, 9);
    sim.run_until(SETTLE);
    sim.loss = 10;
    let t0 = sim.now;
    sim.give(
        1,
        Input::LocalHealth {
            service: "web".parse().unwrap(),
            healthy: false,
        },
    );
    sim.run_for(ms(500));
    for i in [0usize, 2] {
        let seen = sim.nodes[i].events.iter().any(|(t, e)| {
            *t >= t0
                && matches!(e, Event::Health { site, service, healthy: false }
                    if site.as_str() == "s1" && service.as_str() == "web")
        });
        assert!(seen, "s{i} never heard that web is unhealthy at s1");
    }
}

#[test]
fn packets_from_strangers_and_garbage_are_counted_and_dropped() {
    use orbit_detect::auth::AuthKey;
    use orbit_detect::gossip::{GossipCore, GossipSettings, Input, Output};
    let mut sim = Sim::new(3, true, Profile::MetroFast, 2);
    sim.run_until(SETTLE);
    // A stranger with a plausible config but the wrong key.
    let cfg = sim::config(3, 1, true, Profile::MetroFast);
    let settings = GossipSettings::from_config(&cfg.detect, &cfg.cluster(), 99).unwrap();
    let mut stranger = GossipCore::new(settings, AuthKey::new(b"not the cluster key!!".to_vec()));
    let forged: Vec<Vec<u8>> = stranger
        .process(Duration::ZERO, Input::Start)
        .into_iter()
        .filter_map(|o| match o {
            Output::Send { data, .. } => Some(data),
            _ => None,
        })
        .collect();
    assert!(!forged.is_empty());
    let before = sim.nodes[0].core.counters();
    let from = sim.nodes[1].addr;
    for data in &forged {
        sim.give(
            0,
            Input::Packet {
                from,
                data: data.clone(),
            },
        );
    }
    sim.give(
        0,
        Input::Packet {
            from,
            data: b"garbage".to_vec(),
        },
    );
    let after = sim.nodes[0].core.counters();
    assert_eq!(after.bad_mac - before.bad_mac, forged.len() as u64);
    assert_eq!(
        after.bad_envelope - before.bad_envelope,
        forged.len() as u64 + 1
    );
    sim.run_for(Duration::from_secs(1));
    assert!(sim.dead_declarations(Duration::ZERO).is_empty());
}

#[test]
fn a_cpu_starved_witness_does_not_accuse_healthy_sites() {
    let mut total = 0;
    for seed in 0..3 {
        let mut sim = Sim::new(3, true, Profile::MetroFast, seed);
        sim.run_until(SETTLE);
        sim.starve(2, ms(400));
        sim.run_for(Duration::from_secs(20));
        let accusations = sim.nodes[2]
            .events
            .iter()
            .filter(|(_, e)| {
                matches!(e, orbit_core::Event::Verdict { observer, liveness: orbit_core::Liveness::Dead, .. }
                    if observer.as_str() == "s2")
            })
            .count();
        eprintln!("seed {seed}: starved witness accused {accusations} times");
        total += accusations;
        // The sites may give up on the starved witness itself (it has no
        // data plane to vouch for it); no site is declared dead.
        let dead: Vec<_> = sim
            .dead_declarations(Duration::ZERO)
            .into_iter()
            .filter(|(_, site, _)| site.as_str() != "s2")
            .collect();
        assert!(dead.is_empty(), "seed {seed}: {dead:?}");
    }
    assert_eq!(total, 0);
}

/// Another local detector (Serf, multihop BFD, an external feed) telling
/// member `i` what it sees of `site`'s daemon, as orbitd's adapters do.
fn source_says(
    sim: &mut Sim,
    source: Source,
    i: usize,
    site: &str,
    liveness: Option<orbit_core::Liveness>,
) {
    sim.give(
        i,
        orbit_detect::gossip::Input::Source {
            source,
            site: site.parse().unwrap(),
            liveness,
        },
    );
}

/// What `source` says of s0 at member `i` now.
fn source_view(sim: &Sim, source: Source, i: usize) -> Option<orbit_core::Liveness> {
    let s0: orbit_core::SiteId = "s0".parse().unwrap();
    let sources = sim.nodes[i].core.status().sources;
    sources.get(&s0).and_then(|s| s.get(&source)).copied()
}

#[test]
fn a_faster_detector_at_the_observers_is_counted_by_the_quorum() {
    // LAN timers: SWIM alone needs over 4 s (1 s probes, 3 s suspicion).
    // With member BFD configured, silence is judged on BFD's scale.
    // The silence must begin while the BFD session is Up for BFD's
    // timers to judge it: a session that never came up vouches for nothing.
    let mut sim = Sim::with(3, true, Profile::Lan, 5, "[bfd]\nsites = true\n");
    sim.run_until(Duration::from_secs(8));
    assert!(sim.dead_declarations(Duration::ZERO).is_empty());
    for i in [1, 2] {
        source_says(
            &mut sim,
            Source::Bfd,
            i,
            "s0",
            Some(orbit_core::Liveness::Alive),
        );
    }
    sim.run_for(ms(100));
    let t0 = sim.now;
    sim.crash(0);
    for i in [1, 2] {
        source_says(&mut sim, Source::Bfd, i, "s0", DEAD);
    }
    sim.run_for(Duration::from_secs(8));
    // Both survivors' engines count the other observer's source-based
    // verdict, which only gossip can have carried to them; the data-plane
    // probes (every second, two failures) still had to agree first.
    for o in [1, 2] {
        let at = sim.declared_dead_at(o, 0, t0).expect("declared dead");
        eprintln!("s{o} declared s0 dead after {:?}", at - t0);
        assert!(at - t0 < ms(3500), "s{o}: {:?}", at - t0);
    }
    assert_eq!(source_view(&sim, Source::Bfd, 1), DEAD);
}

/// `source` at each of `observers` says s0 is dead while s0 answers
/// everyone: s0's own voice wins at each of them (StillHeard, a Suspect
/// verdict), never Dead, and nobody declares anyone dead.
fn a_source_alone_cannot_condemn(source: Source, observers: &[usize], seed: u64) -> Sim {
    let mut sim = Sim::new(3, true, Profile::MetroFast, seed);
    sim.run_until(SETTLE);
    for i in observers {
        source_says(&mut sim, source, *i, "s0", DEAD);
    }
    sim.run_for(Duration::from_secs(3));
    assert!(
        sim.dead_declarations(Duration::ZERO).is_empty(),
        "{:?}",
        sim.dead_declarations(Duration::ZERO)
    );
    for i in observers {
        assert_eq!(s0_view(&sim, *i), Some(SiteView::StillHeard), "s{i}");
    }
    sim
}

/// Member `i`'s gossip view of s0.
fn s0_view(sim: &Sim, i: usize) -> Option<SiteView> {
    let s0: orbit_core::SiteId = "s0".parse().unwrap();
    sim.nodes[i].core.status().views.get(&s0).copied()
}

#[test]
fn a_faster_detector_alone_cannot_condemn_a_site_that_answers() {
    // Withdrawing BFD's report clears it.
    let mut sim = a_source_alone_cannot_condemn(Source::Bfd, &[1, 2], 9);
    source_says(&mut sim, Source::Bfd, 1, "s0", None);
    sim.run_for(ms(100));
    assert_eq!(s0_view(&sim, 1), Some(SiteView::Alive));
}

#[test]
fn an_external_verdict_counts_at_its_own_member_only_and_expires() {
    // An external detector at s1 (orbitd's `POST /v1/events`) is one more
    // source of s1's own verdict: s2 hears s1's combined verdict through
    // gossip, never a dead vote, and its own view of s0 is untouched.
    let mut sim = a_source_alone_cannot_condemn(Source::External, &[1], 11);
    assert_eq!(s0_view(&sim, 2), Some(SiteView::Alive));
    let heard_from_s1 = sim.nodes[2].events.iter().rev().find_map(|(_, e)| match e {
        orbit_core::Event::Verdict {
            observer,
            subject,
            liveness,
        } if observer.as_str() == "s1" && subject.as_str() == "s0" => Some(*liveness),
        _ => None,
    });
    assert_eq!(heard_from_s1, Some(orbit_core::Liveness::Suspect));
    // The feeder falls silent: its verdict expires, s1 sees s0 alive again.
    sim.run_for(EXTERNAL_TTL);
    assert_eq!(s0_view(&sim, 1), Some(SiteView::Alive));
    assert_eq!(source_view(&sim, Source::External, 1), None);
}

#[test]
fn an_external_verdict_holds_until_its_lease_from_the_last_repeat_runs_out() {
    use orbit_core::Liveness::{Dead, Suspect};
    let mut sim = Sim::new(3, true, Profile::MetroFast, 12);
    sim.run_until(SETTLE);
    let early = EXTERNAL_TTL - Duration::from_secs(5);
    source_says(&mut sim, Source::External, 1, "s0", Some(Dead));
    sim.run_for(early);
    assert_eq!(source_view(&sim, Source::External, 1), Some(Dead));
    // The feeder repeats itself (another liveness counts too) in time.
    source_says(&mut sim, Source::External, 1, "s0", Some(Suspect));
    sim.run_for(early);
    assert_eq!(source_view(&sim, Source::External, 1), Some(Suspect));
    // Then it falls silent.
    sim.run_for(Duration::from_secs(6));
    assert_eq!(source_view(&sim, Source::External, 1), None);
}

#[test]
fn only_the_external_source_expires() {
    let mut sim = Sim::new(3, true, Profile::MetroFast, 13);
    sim.run_until(SETTLE);
    source_says(&mut sim, Source::Serf, 1, "s0", DEAD);
    source_says(&mut sim, Source::External, 1, "s0", DEAD);
    sim.run_for(EXTERNAL_TTL + Duration::from_secs(1));
    assert_eq!(source_view(&sim, Source::External, 1), None);
    assert_eq!(source_view(&sim, Source::Serf, 1), DEAD);
}

#[test]
fn a_planned_departure_moves_the_service_at_once_and_nobody_calls_it_dead() {
    for seed in 0..3 {
        let mut sim = Sim::new(3, true, Profile::MetroFast, seed);
        sim.run_until(SETTLE);
        let s0: orbit_core::SiteId = "s0".parse().unwrap();
        let s1: orbit_core::SiteId = "s1".parse().unwrap();
        assert_eq!(sim.carriers(), vec![s0.clone()], "seed {seed}");
        let t0 = sim.now;
        sim.engine_event(0, orbit_core::Event::Departing);
        // The departure travels with s0's own state: s1 takes over within
        // a few gossip hops, far below any detection time.
        sim.run_for(ms(50));
        let web = |i: usize| {
            let st = sim.nodes[i].engine.steering();
            let (_, s) = st.services.iter().next().expect("one service");
            (s.active.clone(), s.local_role)
        };
        assert_eq!(
            web(1),
            (Some(s1.clone()), orbit_core::Role::Active),
            "seed {seed}"
        );
        assert_eq!(web(0).1, orbit_core::Role::Draining, "seed {seed}");
        for i in [1, 2] {
            assert_eq!(
                sim.nodes[i].core.status().views.get(&s0).copied(),
                Some(orbit_detect::gossip::SiteView::Left),
                "seed {seed}: s{i}'s view of s0"
            );
        }
        // s0's daemon exits: silence and SWIM's down verdict follow, and
        // still nobody declares it dead and the survivors keep a quorum.
        sim.crash(0);
        sim.run_for(Duration::from_secs(5));
        assert!(
            sim.dead_declarations(t0).is_empty(),
            "seed {seed}: {:?}",
            sim.dead_declarations(t0)
        );
        assert!(
            !sim.fenced(1) && !sim.fenced(2),
            "seed {seed}: a survivor fenced"
        );
        assert_eq!(sim.carriers(), vec![s1.clone()], "seed {seed}");
        for i in [1, 2] {
            let status = sim.nodes[i].engine.status();
            let s = status.sites.iter().find(|s| s.id == s0).unwrap();
            assert!(s.left && !s.dead, "seed {seed}: s{i} sees {s:?}");
            assert_eq!(s.local_view, Some(orbit_core::Liveness::Left));
        }
    }
}

/// When member `i` itself first judged `victim` dead at or after `since`.
fn own_dead_verdict(sim: &Sim, i: usize, victim: usize, since: Duration) -> Option<Duration> {
    let (me, them) = (&sim.nodes[i].site, &sim.nodes[victim].site);
    sim.nodes[i].events.iter().find_map(|(t, e)| match e {
        orbit_core::Event::Verdict {
            observer,
            subject,
            liveness: orbit_core::Liveness::Dead,
        } if *t >= since && observer == me && subject == them => Some(*t),
        _ => None,
    })
}

/// Issue 20, quorum in one round trip: with member BFD at 10 ms x 3, a
/// BFD Down starts an immediate data-plane burst (`Output::ProbeNow`)
/// instead of waiting for the next probe interval, the burst fails within
/// its timeout, and each member's Dead verdict goes to every member at
/// once. So the survivor's engine declares the crashed site dead no later
/// than one broadcast (the sim's 2 ms worst one-way latency) after the
/// later of its own and the witness's verdicts, and well within a SWIM
/// probe interval of the crash (SWIM alone needs its suspicion, 200 ms).
#[test]
fn a_bfd_down_and_a_failed_burst_decide_within_one_verdict_broadcast() {
    const BROADCAST: Duration = Duration::from_millis(2);
    let extra = "[policy]\nfailover_hold = \"0s\"\n\
                 [bfd]\nsites = true\ninterval = \"10ms\"\nmultiplier = 3\n";
    let mut after_crash = Vec::new();
    for seed in 0..20 {
        let mut sim = Sim::with(3, true, Profile::MetroFast, seed, extra);
        sim.enable_bfd(ms(10), 3);
        sim.run_until(SETTLE);
        assert_eq!(sim.carriers().len(), 1, "seed {seed}: one carrier");
        let t0 = sim.now;
        sim.crash(0);
        sim.run_for(ms(1000));
        let decided = sim
            .declared_dead_at(1, 0, t0)
            .unwrap_or_else(|| panic!("seed {seed}: s1 never declared s0 dead"));
        let own = own_dead_verdict(&sim, 1, 0, t0).expect("s1's own verdict");
        let witness = own_dead_verdict(&sim, 2, 0, t0).expect("the witness's verdict");
        assert!(
            decided <= own.max(witness + BROADCAST),
            "seed {seed}: s1 decided at {:?}, its own verdict at {:?}, the witness's at {:?} \
             (after the crash)",
            decided - t0,
            own - t0,
            witness - t0
        );
        // The silence rule (dead_after = fence 30 ms + margin 30 ms) plus
        // one burst timeout (30 ms) bounds it; the next regular probe
        // (every 100 ms, fall 2) would not have failed twice by then.
        assert!(
            decided - t0 < ms(100),
            "seed {seed}: decided {:?} after the crash",
            decided - t0
        );
        assert!(
            sim.dead_declarations(Duration::ZERO)
                .iter()
                .all(|(_, s, _)| s.as_str() == "s0"),
            "seed {seed}: only s0 is declared dead"
        );
        assert_eq!(sim.carriers(), vec!["s1".parse().unwrap()], "seed {seed}");
        after_crash.push(decided - t0);
    }
    after_crash.sort();
    eprintln!(
        "crash -> decision with member BFD 10 ms x 3: p50 {:?} max {:?}",
        pct(&after_crash, 50),
        after_crash[after_crash.len() - 1]
    );
}
