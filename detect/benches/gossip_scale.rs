//! Gossip at scale, in the deterministic simulation (not a test; run with
//! `cargo bench`): the real `GossipCore` and engine of every member, a
//! seeded lossy network with 1-2 ms one-way latency, a simulated clock
//! (`detect/tests/sim/mod.rs`, the same model as `tests/simulation.rs`).
//!
//! Per cluster size and loss rate, over several seeds: the cluster settles
//! (3 s), runs 20 s at the loss rate (false Dead verdicts, fencing and the
//! gossip each member sends are counted), then one member crashes and the
//! time until each survivor's engine declares it dead is taken (5 s at
//! most; a survivor that has not by then is counted as missed).
//!
//! ```sh
//! cargo bench -p orbit-detect --bench gossip_scale                       # 3 and 16 members; 5 seeds
//! cargo bench -p orbit-detect --bench gossip_scale -- --members 3,16 --seeds 10
//! cargo bench -p orbit-detect --bench gossip_scale -- --quick            # 2 seeds
//! cargo bench -p orbit-detect --bench gossip_scale -- --members 100 --seeds 1  # minutes per row
//! cargo bench -p orbit-detect --bench gossip_scale -- --members 100 --loss 30 --seeds 1 --steady 5
//! ```
//!
//! `--steady SECS` shortens (or lengthens) the time at the loss rate, for
//! rows whose every simulated second costs minutes of wall time.

#[path = "../tests/sim/mod.rs"]
mod sim;

use std::time::{Duration, Instant};

use sim::{Profile, Sim};

const SETTLE: Duration = Duration::from_secs(3);
/// The time at the loss rate unless `--steady` says otherwise.
const STEADY: Duration = Duration::from_secs(20);
const AFTER_CRASH: Duration = Duration::from_secs(5);

/// What one (size, loss) cell measured over its seeds.
#[derive(Default)]
struct Cell {
    /// Crash -> a survivor's engine declared the victim dead, every
    /// (seed, survivor).
    detections: Vec<Duration>,
    /// Survivors that had not declared the victim dead 5 s after the crash.
    missed: usize,
    /// Dead verdicts on a member that was running, over the whole run.
    false_dead: usize,
    /// Members that fenced themselves while running with the others.
    fenced: usize,
    /// Bytes per second per member at steady state: every member of every seed.
    bytes_per_s: Vec<f64>,
    packets_per_s: Vec<f64>,
    simulated: Duration,
    wall: Duration,
}

fn run(n: usize, loss: u32, seed: u64, steady: Duration, victim: usize, cell: &mut Cell) {
    let wall = Instant::now();
    let mut sim = Sim::new(n, false, Profile::MetroFast, seed);
    sim.run_until(SETTLE);
    sim.loss = loss;
    let before: Vec<(u64, u64)> = sim
        .nodes
        .iter()
        .map(|m| (m.sent_bytes, m.sent_packets))
        .collect();
    // In steps of a simulated second, with a progress line on stderr:
    // a row of 100 members takes minutes to hours of wall time.
    let steps = steady.as_secs();
    for step in 1..=steps {
        sim.run_for(Duration::from_secs(1));
        eprintln!(
            "{n} members, {loss} % loss, seed {seed}: {step} of {steps} s at the loss rate \
             ({:.0} s of wall time)",
            wall.elapsed().as_secs_f64()
        );
    }
    for (m, (bytes, packets)) in sim.nodes.iter().zip(before) {
        let secs = steady.as_secs_f64();
        cell.bytes_per_s.push((m.sent_bytes - bytes) as f64 / secs);
        cell.packets_per_s
            .push((m.sent_packets - packets) as f64 / secs);
    }
    cell.fenced += (0..n).filter(|&i| sim.fenced(i)).count();

    let crashed_at = sim.now;
    sim.crash(victim);
    sim.run_for(AFTER_CRASH);
    let victim_site = sim.nodes[victim].site.clone();
    for observer in (0..n).filter(|&o| o != victim) {
        match sim.declared_dead_at(observer, victim, crashed_at) {
            Some(at) => cell.detections.push(at - crashed_at),
            None => cell.missed += 1,
        }
    }
    cell.false_dead += sim
        .dead_declarations(Duration::ZERO)
        .iter()
        .filter(|(_, site, at)| *site != victim_site || *at < crashed_at)
        .count();
    cell.simulated += sim.now;
    cell.wall += wall.elapsed();
}

/// Nearest-rank percentile of a sorted slice.
fn pct<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| format!("{}", d.as_millis()))
}

fn arg<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}: cannot parse {v:?}"))
        })
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = args.iter().any(|a| a == "--quick");
    let sizes: Vec<usize> = arg::<String>(&args, "--members").map_or_else(
        || vec![3, 16],
        |v| {
            v.split(',')
                .map(|n| n.parse().expect("--members N[,N...]"))
                .collect()
        },
    );
    // 100 members are not a default: every member hears from every other
    // each probe interval (the silence that fences), and the member checks
    // its view of every peer after each packet, so the simulation's cost
    // grows with the cube of the cluster (see docs/detect.md).
    let seeds: u64 = arg(&args, "--seeds").unwrap_or(if quick { 2 } else { 5 });
    let steady = arg(&args, "--steady").map_or(STEADY, Duration::from_secs);
    assert!(
        !steady.is_zero(),
        "--steady SECS: at least 1 s at the loss rate"
    );
    let losses: Vec<u32> = arg::<String>(&args, "--loss").map_or_else(
        || vec![0, 10, 30],
        |v| {
            v.split(',')
                .map(|l| l.parse().expect("--loss PERCENT[,PERCENT...]"))
                .collect()
        },
    );
    println!(
        "\nGossip in the deterministic simulation (metro-fast timers, no witness, \
         no member BFD), {seeds} seeds per row: settle {SETTLE:?}, {steady:?} at the \
         loss rate, then one member crashes\n"
    );
    println!(
        "| members | loss | crash -> declared dead, ms p50 / p99 / max (each survivor) | missed | \
         false Dead verdicts | fenced | gossip per member, bytes/s mean / max | packets/s mean | simulated s per wall s |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for &n in &sizes {
        for &loss in &losses {
            let mut cell = Cell::default();
            for seed in 0..seeds {
                // Not s0 or s1, which carry the service: a crash that
                // moves nothing isolates detection.
                let victim = if n > 2 { 2 } else { 1 };
                run(n, loss, seed, steady, victim, &mut cell);
            }
            cell.detections.sort();
            cell.bytes_per_s.sort_by(f64::total_cmp);
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
            println!(
                "| {n} | {loss} % | {} / {} / {} | {} of {} | {} | {} | {:.0} / {:.0} | {:.1} | {:.1} |",
                ms(pct(&cell.detections, 50.0)),
                ms(pct(&cell.detections, 99.0)),
                ms(cell.detections.last().copied()),
                cell.missed,
                cell.detections.len() + cell.missed,
                cell.false_dead,
                cell.fenced,
                mean(&cell.bytes_per_s),
                cell.bytes_per_s.last().copied().unwrap_or(0.0),
                mean(&cell.packets_per_s),
                cell.simulated.as_secs_f64() / cell.wall.as_secs_f64().max(1e-9),
            );
        }
    }
}
