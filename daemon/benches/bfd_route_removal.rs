//! Link cut → bird2 has removed orbit's route (issue #9, Benchmark).
//!
//! ```sh
//! cargo bench -p orbitd --bench bfd_route_removal -- 20   # runs per setup
//! cargo bench -p orbitd --bench bfd_route_removal -- 100 10ms   # one setup: 10ms, 50ms or off
//! ```
//!
//! The real orbitd binary (release, built by `cargo bench`) announces
//! 198.51.100.10/32 over BGP to bird2 in another namespace (the lab of
//! `orbit_tests::bfd_lab`); bird exports it to its kernel FIB. Each run cuts
//! the veth with an nftables table on bird's side that drops everything
//! (written to an `nft -i` already running in bird's namespace), and takes
//! the moment bird removed the route from `ip -4 monitor route` in bird's
//! namespace (a reader thread stamps each line as it arrives). The cut
//! takes effect somewhere during the `nft` command (about 1 ms), so the time
//! is given from its start (upper bound) and from its end (lower bound).
//!
//! Setups: BFD at 10 ms × 3 and at 50 ms × 3 on both sides (BGP hold 90 s,
//! so only BFD can explain a fast removal), and BFD off with hold 3 s on
//! both sides (the hold timer decides; 3 s so that a run ends).

#![allow(clippy::unwrap_used, clippy::print_stdout)] // a bench binary: panics are its error report

use std::path::Path;
use std::time::{Duration, SystemTime};

use orbit_core::api::BfdState;
use orbit_tests::bfd_lab::{BfdLab, LabConfig, BIRD_PROTOCOL};
use orbit_tests::wait_until;

struct Setup {
    tag: &'static str,
    name: &'static str,
    config: LabConfig,
}

/// One run: removal time from nft start, from nft end, nft's duration,
/// and when bird's log says it dropped the session (from nft start; bird
/// logs the hold timer's expiry but not a BFD-triggered drop).
struct Sample {
    from_start: Duration,
    from_end: Duration,
    nft: Duration,
    bird_error: Option<Duration>,
}

fn main() {
    // bird's log timestamps are local time: make that UTC for the parse.
    std::env::set_var("TZ", "UTC");
    // `cargo bench` passes `--bench`; the first number is the run count.
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20);
    // Optional setup filter after the count: "10ms", "50ms", "off".
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| ["10ms", "50ms", "off"].contains(&a.as_str()))
        .collect();
    let setups = [
        Setup {
            tag: "10ms",
            name: "BFD 10 ms x 3 (hold 90 s)",
            config: LabConfig {
                bfd: Some((10, 3)),
                hold_secs: 90,
                graceful_restart_secs: 0,
            },
        },
        Setup {
            tag: "50ms",
            name: "BFD 50 ms x 3 (hold 90 s)",
            config: LabConfig {
                bfd: Some((50, 3)),
                hold_secs: 90,
                graceful_restart_secs: 0,
            },
        },
        Setup {
            tag: "off",
            name: "BFD off (hold 3 s)",
            config: LabConfig {
                bfd: None,
                hold_secs: 3,
                graceful_restart_secs: 0,
            },
        },
    ];
    println!("link cut -> bird2 removed orbit's route, {runs} runs per setup (ms)\n");
    let mut rows = Vec::new();
    for setup in setups
        .iter()
        .filter(|s| only.is_empty() || only.iter().any(|o| s.tag == o))
    {
        let samples = measure(setup, runs);
        rows.push((setup.name, samples));
    }
    println!("| setup | measured from | min | p50 | p99 | max |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (name, samples) in &rows {
        for (what, pick) in [
            (
                "nft start",
                (|s: &Sample| s.from_start) as fn(&Sample) -> Duration,
            ),
            ("nft end", |s: &Sample| s.from_end),
            ("bird logs the session error", |s: &Sample| {
                s.bird_error.unwrap_or(Duration::MAX)
            }),
            ("(`nft` duration)", |s: &Sample| s.nft),
        ] {
            let mut v: Vec<f64> = samples
                .iter()
                .map(pick)
                .filter(|d| *d != Duration::MAX)
                .map(|d| d.as_secs_f64() * 1e3)
                .collect();
            if v.is_empty() {
                continue;
            }
            v.sort_by(f64::total_cmp);
            println!(
                "| {name} | {what} | {:.1} | {:.1} | {:.1} | {:.1} |",
                v[0],
                percentile(&v, 0.50),
                percentile(&v, 0.99),
                v[v.len() - 1]
            );
        }
    }
}

/// Nearest-rank percentile of sorted values (with fewer than 100 runs,
/// p99 is the maximum).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn measure(setup: &Setup, runs: usize) -> Vec<Sample> {
    let lab = BfdLab::start(Path::new(env!("CARGO_BIN_EXE_orbitd")), setup.config);
    let watch = lab.watch_fib();
    let mut samples = Vec::with_capacity(runs);
    let mut run = 0;
    while samples.len() < runs {
        run += 1;
        steady(&lab);
        // Cut at varying phases of the BFD and keepalive timers.
        std::thread::sleep(Duration::from_millis(200 + (run as u64 * 37) % 300));
        watch.clear();
        // A session that flapped during the pause would make the next
        // removal belong to something else: start over.
        if !lab.in_fib() {
            eprintln!(
                "{}: run {run}: route gone before the cut, retrying",
                setup.name
            );
            continue;
        }
        let wall = SystemTime::now();
        let (start, end) = lab.cut();
        let removed = watch
            .next(true, Duration::from_secs(15))
            .unwrap_or_else(|| panic!("{}: run {run}: the route was not removed", setup.name));
        lab.restore();
        let bird_error = last_session_error(&lab).and_then(|t| t.duration_since(wall).ok());
        samples.push(Sample {
            from_start: removed.saturating_duration_since(start),
            from_end: removed.saturating_duration_since(end),
            nft: end - start,
            bird_error,
        });
        eprintln!(
            "{}: run {run}: {:.1} ms from nft start",
            setup.name,
            removed.saturating_duration_since(start).as_secs_f64() * 1e3
        );
    }
    samples
}

/// Waits until BGP is up with the route in bird's FIB and, with BFD, both
/// BFD sessions are Up.
fn steady(lab: &BfdLab) {
    let within = Duration::from_secs(60);
    let every = Duration::from_millis(20);
    wait_until(within, every, "the route in bird's FIB", || {
        lab.bird.established(BIRD_PROTOCOL) && lab.in_fib()
    });
    if lab.config.bfd.is_some() {
        wait_until(within, every, "BFD Up on both sides", || {
            lab.bird.bfd_state(&lab.orbit_addr()).as_deref() == Some("Up")
                && lab.orbit_bfd().iter().all(|s| s.state == BfdState::Up)
        });
    }
}

/// When bird last logged an error of its BGP session toward orbitd ("Error:
/// BFD session down" or "Error: Hold timer expired"), millisecond precision.
fn last_session_error(lab: &BfdLab) -> Option<SystemTime> {
    let log = std::fs::read_to_string(&lab.bird.log).ok()?;
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains(&format!(" {BIRD_PROTOCOL}: Error: ")))?;
    // "2026-11-27 05:21:44.108 <RMT> orbit: Error: Hold timer expired"
    humantime::parse_rfc3339_weak(line.get(..23)?).ok()
}
