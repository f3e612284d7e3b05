//! State dissemination at 10 and 10,000 services, in the deterministic
//! simulation (`tests/sim/`): deltas and digests converge every member's
//! copy of every other member's shared state, under loss, in datagrams
//! that never fragment; a restarted member is synced whole by push-pull.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod sim;

use std::time::Duration;

use orbit_detect::auth::TAG_LEN;
use orbit_detect::wire_v2::MAX_DATAGRAM_BODY;
use sim::{Profile, Sim};

/// A gossip datagram at most: the envelope around a delta or digest, or a
/// foca packet (its own limit is 1,400 bytes).
const MAX_DATAGRAM: usize = 1_400;

fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

fn converge(services: usize, loss: u32, seed: u64) -> Sim {
    let mut sim = Sim::with_services(3, true, Profile::MetroFast, seed, "", services);
    sim.loss = loss;
    sim.run_for(Duration::from_secs(5));
    // Whatever is in flight at any instant, the copies converge: with the
    // loss still on, within a few anti-entropy rounds.
    let took = sim.run_until_converged(ms(50), Duration::from_secs(3));
    assert!(
        took.is_some(),
        "seed {seed}: {services} services at {loss}% loss: unsynced (observer, origin): {:?}",
        sim.unsynced()
    );
    for n in &sim.nodes {
        assert!(
            n.max_datagram <= MAX_DATAGRAM,
            "{}: a datagram of {} bytes",
            n.site,
            n.max_datagram
        );
    }
    sim
}

#[test]
fn ten_services_converge_under_loss() {
    for seed in 0..3 {
        converge(10, 10, seed);
    }
}

#[test]
fn ten_thousand_services_converge_under_loss_without_fragmenting() {
    let sim = converge(10_000, 5, 1);
    // The engines placed every service, and every member saw them all.
    let s2 = sim.nodes[2].last_peer.get(&sim.nodes[0].site).unwrap();
    assert_eq!(s2.1.placements.len(), 10_000);
    const { assert!(MAX_DATAGRAM_BODY + TAG_LEN + 4 <= MAX_DATAGRAM) };
}

/// At steady state the gossip costs what it costs with 10 services: no
/// datagram carries a placement that did not change.
#[test]
fn steady_state_gossip_does_not_grow_with_services() {
    let rate = |services: usize| {
        let mut sim = converge(services, 0, 2);
        let before: Vec<u64> = sim.nodes.iter().map(|n| n.sent_bytes).collect();
        sim.run_for(Duration::from_secs(5));
        let most = sim
            .nodes
            .iter()
            .zip(before)
            .map(|(n, b)| (n.sent_bytes - b) / 5)
            .max()
            .unwrap();
        most
    };
    let few = rate(10);
    let many = rate(10_000);
    assert!(
        many <= few + few / 4,
        "bytes/s per member: {few} with 10 services, {many} with 10,000"
    );
}

/// A change of every placement at once (a failover of 10,000 services)
/// is too large for datagrams: it goes by push-pull, and converges as fast.
#[test]
fn a_change_of_every_placement_goes_by_push_pull() {
    let mut sim = converge(10_000, 0, 4);
    let frames: u64 = sim.nodes.iter().map(|n| n.pushpull_frames).sum();
    for p in sim.nodes[0].synthetic.values_mut() {
        p.active = Some("s1".parse().unwrap());
        p.epoch = 2;
    }
    sim.share(0);
    let took = sim.run_until_converged(ms(10), Duration::from_secs(2));
    assert!(
        took.is_some_and(|t| t < ms(500)),
        "took {took:?}, unsynced {:?}",
        sim.unsynced()
    );
    let after: u64 = sim.nodes.iter().map(|n| n.pushpull_frames).sum();
    assert!(after > frames, "no push-pull");
    println!("10,000 placements changed -> synced in {took:?}");
}

/// A member that restarts (new generation, nothing kept) gets every other
/// member's state by push-pull, and they get its new one.
#[test]
fn a_restarted_member_is_synced_by_push_pull() {
    for services in [10, 10_000] {
        let mut sim = converge(services, 0, 3);
        let frames: u64 = sim.nodes.iter().map(|n| n.pushpull_frames).sum();
        sim.crash(1);
        sim.run_for(ms(500));
        sim.restart(1);
        let took = sim.run_until_converged(ms(10), Duration::from_secs(3));
        assert!(
            took.is_some_and(|t| t < Duration::from_secs(1)),
            "{services} services: took {took:?}, unsynced {:?}",
            sim.unsynced()
        );
        let after: u64 = sim.nodes.iter().map(|n| n.pushpull_frames).sum();
        assert!(after > frames, "no push-pull after the restart");
        println!("{services} services: restart -> synced in {took:?}");
    }
}

/// With the s0–s1 link cut, s0 still gets s1's change of every placement,
/// through the witness: too large to relay as deltas, so the witness
/// syncs s0 by push-pull when s0's digest shows it behind.
#[test]
fn a_cut_member_gets_a_large_change_through_the_witness() {
    let mut sim = converge(10_000, 0, 5);
    sim.cut(0, 1);
    sim.run_for(ms(50));
    for p in sim.nodes[1].synthetic.values_mut() {
        p.active = Some("s1".parse().unwrap());
        p.epoch = 2;
    }
    sim.share(1);
    let s1 = sim.nodes[1].site.clone();
    let want = sim.nodes[1]
        .synthetic
        .get(&"svc-1".parse().unwrap())
        .cloned();
    let start = sim.now;
    let mut got = None;
    while sim.now - start < Duration::from_secs(2) {
        sim.run_for(ms(10));
        let seen = sim.nodes[0]
            .last_peer
            .get(&s1)
            .and_then(|(_, s)| s.placements.get(&"svc-1".parse().unwrap()).cloned());
        if seen == want {
            got = Some(sim.now - start);
            break;
        }
    }
    assert!(got.is_some_and(|t| t < ms(500)), "took {got:?}");
    sim.heal();
    assert!(sim
        .run_until_converged(ms(10), Duration::from_secs(2))
        .is_some());
}
