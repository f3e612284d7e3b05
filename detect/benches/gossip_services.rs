//! State gossip at 10 and 10,000 services, in the deterministic simulation
//! (not a test; run with `cargo bench`): the real `GossipCore` and engine
//! of every member, a seeded network with 1-2 ms one-way latency, push-pull
//! as TCP at 1 Gbit/s (`detect/tests/sim/mod.rs`). The shared state of
//! every member carries `services` placements (`Sim::with_services`).
//!
//! Per (members, services) and seed: the cluster settles until every copy
//! converged; then 10 s of steady state (bytes and datagrams each member
//! sends: UDP, and TCP push-pull apart); then member s1 restarts (a new
//! generation that knows nothing) and the time until every member holds
//! every other's current state is taken (rejoin -> synced); then s0
//! changes every placement at once (a failover of all its services) and
//! the same is taken.
//!
//! ```sh
//! cargo bench -p orbit-detect --bench gossip_services                        # 3 members; 10 and 10000 services; 3 seeds
//! cargo bench -p orbit-detect --bench gossip_services -- --members 3,16 --services 10,10000 --seeds 1
//! cargo bench -p orbit-detect --bench gossip_services -- --loss 10
//! ```

#[path = "../tests/sim/mod.rs"]
mod sim;

use std::time::{Duration, Instant};

use sim::{Profile, Sim};

const STEADY: Duration = Duration::from_secs(10);
const STEP: Duration = Duration::from_millis(1);

#[derive(Default)]
struct Cell {
    udp_bytes_per_s: Vec<f64>,
    tcp_bytes_per_s: Vec<f64>,
    packets_per_s: Vec<f64>,
    max_datagram: usize,
    settle: Vec<Duration>,
    rejoin: Vec<Duration>,
    failover: Vec<Duration>,
    unsynced: usize,
    wall: Duration,
}

fn run(members: usize, services: usize, loss: u32, seed: u64, cell: &mut Cell) {
    let wall = Instant::now();
    let mut sim = Sim::with_services(members, true, Profile::MetroFast, seed, "", services);
    sim.loss = loss;
    match sim.run_until_converged(STEP * 10, Duration::from_secs(20)) {
        Some(t) => cell.settle.push(t),
        None => cell.unsynced += 1,
    }
    sim.run_for(Duration::from_secs(2));
    let before: Vec<(u64, u64, u64)> = sim
        .nodes
        .iter()
        .map(|n| (n.sent_bytes, n.sent_packets, n.pushpull_bytes))
        .collect();
    sim.run_for(STEADY);
    let secs = STEADY.as_secs_f64();
    for (n, (bytes, packets, tcp)) in sim.nodes.iter().zip(before) {
        cell.udp_bytes_per_s
            .push((n.sent_bytes - bytes) as f64 / secs);
        cell.packets_per_s
            .push((n.sent_packets - packets) as f64 / secs);
        cell.tcp_bytes_per_s
            .push((n.pushpull_bytes - tcp) as f64 / secs);
        cell.max_datagram = cell.max_datagram.max(n.max_datagram);
    }
    sim.crash(1);
    sim.run_for(Duration::from_millis(500));
    sim.restart(1);
    match sim.run_until_converged(STEP, Duration::from_secs(10)) {
        Some(t) => cell.rejoin.push(t),
        None => cell.unsynced += 1,
    }
    sim.run_for(Duration::from_secs(2));
    for p in sim.nodes[0].synthetic.values_mut() {
        p.active = Some("s1".parse().expect("site"));
        p.epoch += 1;
    }
    sim.share(0);
    match sim.run_until_converged(STEP, Duration::from_secs(10)) {
        Some(t) => cell.failover.push(t),
        None => cell.unsynced += 1,
    }
    cell.wall += wall.elapsed();
}

fn list<T: std::str::FromStr>(args: &[String], name: &str, default: Vec<T>) -> Vec<T> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| {
            v.split(',')
                .map(|n| {
                    n.parse()
                        .unwrap_or_else(|_| panic!("{name}: cannot parse {v:?}"))
                })
                .collect()
        })
}

fn ms(v: &mut [Duration]) -> String {
    if v.is_empty() {
        return "-".into();
    }
    v.sort();
    format!(
        "{} / {}",
        v[v.len() / 2].as_millis(),
        v[v.len() - 1].as_millis()
    )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let members = list(&args, "--members", vec![3usize]);
    let services = list(&args, "--services", vec![10usize, 10_000]);
    let seeds: u64 = list(&args, "--seeds", vec![3u64])[0];
    let loss: u32 = list(&args, "--loss", vec![0u32])[0];
    println!(
        "\nState gossip in the deterministic simulation (metro-fast, last member a witness), \
         {seeds} seeds per row, {loss} % loss; steady state over {STEADY:?}\n"
    );
    println!(
        "| members | services | UDP bytes/s per member, mean / max | TCP (push-pull) bytes/s, mean | \
         datagrams/s mean | largest datagram | start -> synced ms p50 / max | rejoin -> synced ms p50 / max | \
         all placements moved -> synced ms p50 / max | unsynced | wall s |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for &n in &members {
        for &s in &services {
            let mut cell = Cell::default();
            for seed in 0..seeds {
                run(n, s, loss, seed, &mut cell);
            }
            let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
            let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
            println!(
                "| {n} | {s} | {:.0} / {:.0} | {:.0} | {:.1} | {} | {} | {} | {} | {} | {:.1} |",
                mean(&cell.udp_bytes_per_s),
                max(&cell.udp_bytes_per_s),
                mean(&cell.tcp_bytes_per_s),
                mean(&cell.packets_per_s),
                cell.max_datagram,
                ms(&mut cell.settle),
                ms(&mut cell.rejoin),
                ms(&mut cell.failover),
                cell.unsynced,
                cell.wall.as_secs_f64(),
            );
        }
    }
}
