//! Deterministic simulations of the gossip layer feeding real engines.

mod sim;

use std::time::Duration;

use sim::{Profile, Sim};

const SETTLE: Duration = Duration::from_secs(3);

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
