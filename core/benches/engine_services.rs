//! The engine's cost per event with many services (not a test; run with
//! `cargo bench -p orbit-core --bench engine_services`).
//!
//! A member `a` of a, b and witness w, every service on a then b, settled
//! (a carries them all). Then, per size:
//! - *steady events* that move nothing: verdicts (w flapping Suspect/Alive
//!   in b's view: site-level, every service is re-evaluated) and health
//!   (one service's health at b flapping: only that service is
//!   re-evaluated): event -> decisions (`Engine::handle`) p50 / p99 / max;
//! - *failover*: b's and w's Dead verdicts about... a's own site is never
//!   dead in its own eyes, so the failover measured is b's: a peer state
//!   of b that moves every service (a newer epoch each) arrives as one
//!   `Event::Peer` and a adopts it all. Each decision records its causes,
//!   the trigger first, trimmed to the decision's service
//!   (`SharedState::concerning`), so this is linear in the services.
//!
//! ```sh
//! cargo bench -p orbit-core --bench engine_services                    # 10, 1000, 10000 services
//! cargo bench -p orbit-core --bench engine_services -- --peer 1000,10000
//! ```

use std::time::{Duration, Instant};

use orbit_core::config::{Policy, Service, Site};
use orbit_core::{Engine, Event, Liveness, Millis, Placement, SharedState, SiteId};

fn site(s: &str) -> SiteId {
    s.parse().expect("site id")
}

fn engine(services: usize) -> Engine {
    let sites: Vec<Site> = [("a", false), ("b", false), ("w", true)]
        .iter()
        .enumerate()
        .map(|(i, (id, witness))| Site {
            id: site(id),
            gossip: format!("10.0.{i}.1:7946").parse().expect("addr"),
            witness: *witness,
            site: None,
        })
        .collect();
    let services: Vec<Service> = (0..services)
        .map(|i| Service {
            id: format!("svc-{i}").parse().expect("service id"),
            prefixes: vec![
                format!("10.{}.{}.{}/32", 100 + i / 65536, i / 256 % 256, i % 256)
                    .parse()
                    .expect("prefix"),
            ],
            sites: vec![site("a"), site("b")],
            health_checked: false,
            plan: None,
        })
        .collect();
    Engine::new(
        &site("a"),
        &sites,
        &services,
        &Policy::default(),
        Duration::from_millis(100),
    )
}

/// Everyone alive in everyone's view, b's (empty) state heard, time past
/// the sync timeout: a carries every service.
fn settle(e: &mut Engine, now: &mut u64) {
    for (o, s) in [
        ("a", "b"),
        ("a", "w"),
        ("b", "a"),
        ("b", "w"),
        ("w", "a"),
        ("w", "b"),
    ] {
        e.handle(
            Millis(*now),
            Event::Verdict {
                observer: site(o),
                subject: site(s),
                liveness: Liveness::Alive,
            },
        );
    }
    for _ in 0..50 {
        *now += 100;
        e.handle(Millis(*now), Event::Tick);
    }
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[derive(Clone, Copy, PartialEq)]
enum Steady {
    Verdict,
    Health,
}

fn steady(services: usize, events: usize, kind: Steady) {
    let mut e = engine(services);
    let mut now = 0;
    settle(&mut e, &mut now);
    let carried = e
        .steering()
        .services
        .values()
        .filter(|s| s.active.as_ref() == Some(&site("a")))
        .count();
    let mut times = Vec::with_capacity(events);
    let mut decisions = 0;
    for i in 0..events {
        now += 1;
        let event = if kind == Steady::Verdict {
            Event::Verdict {
                observer: site("b"),
                subject: site("w"),
                liveness: if i % 2 == 0 {
                    Liveness::Suspect
                } else {
                    Liveness::Alive
                },
            }
        } else {
            Event::Health {
                site: site("b"),
                service: "svc-0".parse().expect("service id"),
                healthy: i % 2 == 1,
            }
        };
        let t = Instant::now();
        decisions += e.handle(Millis(now), event).len();
        times.push(t.elapsed());
    }
    times.sort();
    let what = match kind {
        Steady::Verdict => "verdicts about w",
        Steady::Health => "health of svc-0 at b",
    };
    println!(
        "| {services} | steady: {what}, moving nothing ({carried} carried by a) | {events} | {:.1} | {:.1} | {:.1} | {decisions} |",
        pct(&times, 50.0).as_secs_f64() * 1e6,
        pct(&times, 99.0).as_secs_f64() * 1e6,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1e6,
    );
}

fn peer_moves_everything(services: usize) {
    let mut e = engine(services);
    let mut now = 0;
    settle(&mut e, &mut now);
    let mut theirs = SharedState::default();
    for (id, s) in &e.steering().services {
        theirs.placements.insert(
            id.clone(),
            Placement {
                active: Some(site("b")),
                epoch: s.epoch + 1,
                planned: true,
                moving_to: None,
            },
        );
    }
    now += 1;
    let t = Instant::now();
    let decisions = e
        .handle(
            Millis(now),
            Event::Peer {
                from: site("b"),
                state: theirs,
            },
        )
        .len();
    let took = t.elapsed();
    println!(
        "| {services} | one peer state moving every service | 1 | {:.1} | - | - | {decisions} |",
        took.as_secs_f64() * 1e6
    );
}

fn list(args: &[String], name: &str, default: &[usize]) -> Vec<usize> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or_else(
            || default.to_vec(),
            |v| v.split(',').map(|n| n.parse().expect("N[,N...]")).collect(),
        )
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sizes = list(&args, "--services", &[10, 1_000, 10_000]);
    let peer = list(&args, "--peer", &[10, 1_000, 10_000]);
    println!("\nEngine::handle per event, member a of a, b, w; every service on a then b\n");
    println!("| services | events | count | p50 µs | p99 µs | max µs | decisions |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    for &n in &sizes {
        steady(n, 1_000, Steady::Verdict);
        steady(n, 1_000, Steady::Health);
    }
    for &n in &peer {
        peer_moves_everything(n);
    }
}
