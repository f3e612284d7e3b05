//! Detection time of a cut link, orbit's driver against bird2, both measured
//! in the same run (not a test; run with `cargo bench`).
//!
//! For each interval (10 ms × 3, 50 ms × 3): a veth pair between two fresh
//! namespaces, bird2 with `protocol bfd` on one side, our driver on the
//! other. Each run waits for Up on both sides, cuts BFD both ways with an
//! nftables table on bird's side, and records
//! - our driver's Down (its own wall-clock timestamp of the state change)
//!   and bird's Down (the "changed state ... to Down" line in its log,
//!   millisecond timestamps), each from the start and from the end of the
//!   `nft` command that cuts: the cut takes effect somewhere in between, so
//!   "from start" is an upper bound and "from end" a lower one;
//! - our Down from the last packet our driver accepted (the detection time
//!   plus timer lateness).
//!
//! `cargo bench -p orbit-bfd --bench detection -- [RUNS]` (default 20).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant, SystemTime};

use common::{cut_bfd, restore_bfd, veth, Bird, Netns, NsRuntime};
use orbit_bfd::{start, BfdEvent, DriverConfig, Hop, PeerConfig, Timing};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

fn summary(name: &str, mut v: Vec<f64>) -> String {
    v.sort_by(|a, b| a.total_cmp(b));
    format!(
        "{name}: n={} min={:.1} p50={:.1} p99={:.1} max={:.1} ms",
        v.len(),
        v[0],
        percentile(&v, 0.5),
        percentile(&v, 0.99),
        v[v.len() - 1]
    )
}

/// Seconds since midnight UTC of a SystemTime.
fn day_seconds(t: SystemTime) -> f64 {
    let d = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after epoch");
    (d.as_secs() % 86_400) as f64 + f64::from(d.subsec_micros()) / 1e6
}

/// Times (seconds since midnight) of bird's "... to Down" lines for `peer`.
fn bird_down_times(log: &str, peer: &str) -> Vec<f64> {
    log.lines()
        .filter(|l| l.contains(peer) && l.contains("changed state") && l.ends_with("to Down"))
        .filter_map(|l| {
            // "2026-11-27 03:06:00.123 <TRACE> bfd1: Session to ... "
            let time = l.split_whitespace().nth(1)?;
            let mut parts = time.split(':');
            let h: f64 = parts.next()?.parse().ok()?;
            let m: f64 = parts.next()?.parse().ok()?;
            let s: f64 = parts.next()?.parse().ok()?;
            Some(h * 3600.0 + m * 60.0 + s)
        })
        .collect()
}

async fn wait_event(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<BfdEvent>,
    want_up: bool,
) -> Instant {
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(20), rx.recv())
            .await
            .expect("event in time")
            .expect("driver alive");
        match (ev, want_up) {
            (BfdEvent::Up { .. }, true) | (BfdEvent::Down { .. }, false) => return Instant::now(),
            _ => {}
        }
    }
}

struct Samples {
    ours_from_cut_start: Vec<f64>,
    ours_from_cut_end: Vec<f64>,
    ours_from_last_rx: Vec<f64>,
    bird_from_cut_start: Vec<f64>,
    bird_from_cut_end: Vec<f64>,
    cut_cmd: Vec<f64>,
}

async fn measure(interval_ms: u64, runs: usize) -> Samples {
    let ours = Netns::new("bo");
    let birds = Netns::new("bb");
    let (io, ib) = veth(&ours, &birds);
    let (x, y) = common::subnet_octets();
    let (a4, b4) = (format!("10.{x}.{y}.1"), format!("10.{x}.{y}.2"));
    ours.exec(&["ip", "addr", "add", &format!("{a4}/30"), "dev", &io]);
    birds.exec(&["ip", "addr", "add", &format!("{b4}/30"), "dev", &ib]);
    let bird = Bird::start(
        &birds,
        &format!(
            r#"
log "@LOG@" all;
timeformat log iso long ms;
router id {b4};
protocol device {{ scan time 1; }}
protocol bfd {{
    debug {{ events }};
    interface "{ib}" {{ min rx interval {interval_ms} ms; min tx interval {interval_ms} ms; multiplier 3; }};
    neighbor {a4} dev "{ib}";
}}
"#
        ),
    );
    let rt = NsRuntime::new(&ours);
    let (bfd, mut events) = {
        let _e = rt.handle.enter();
        start(DriverConfig::default())
    };
    let iv = Duration::from_millis(interval_ms);
    bfd.add_session(PeerConfig {
        local: a4.parse().expect("ip"),
        peer: b4.parse().expect("ip"),
        hop: Hop::Single,
        timing: Timing::new(iv, iv, 3),
        auth: None,
        control_plane_independent: false,
    })
    .await
    .expect("add");

    let mut s = Samples {
        ours_from_cut_start: Vec::new(),
        ours_from_cut_end: Vec::new(),
        ours_from_last_rx: Vec::new(),
        bird_from_cut_start: Vec::new(),
        bird_from_cut_end: Vec::new(),
        cut_cmd: Vec::new(),
    };
    let mut cuts = Vec::new();
    wait_event(&mut events, true).await;
    for _ in 0..runs {
        bird.wait_bfd_state(&a4, "Up", Duration::from_secs(10));
        // Settle past the Poll Sequences so both run at the fast rate, and
        // only cut a session that is Up on our side (a flap under load
        // during the settle would otherwise leave nothing to detect).
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            while events.try_recv().is_ok() {}
            let st = bfd.status().await.expect("status");
            if st.sessions[0].state == orbit_bfd::State::Up
                && bird.bfd_state(&a4).as_deref() == Some("Up")
            {
                break;
            }
        }
        let wall_start = SystemTime::now();
        cut_bfd(&birds.name, 3784);
        let wall_end = SystemTime::now();
        wait_event(&mut events, false).await;
        // The driver's own timestamps: the event may be read late while
        // this thread was busy running `nft`.
        let st = bfd.status().await.expect("status");
        let down = st.sessions[0].last_state_change.expect("state changed");
        let ms = |a: SystemTime, b: SystemTime| (day_seconds(a) - day_seconds(b)) * 1e3;
        s.ours_from_cut_start.push(ms(down, wall_start));
        s.ours_from_cut_end.push(ms(down, wall_end));
        s.cut_cmd.push(ms(wall_end, wall_start));
        if let (Some(last), Some((_, _))) = (st.sessions[0].last_rx, st.sessions[0].last_detection)
        {
            // last_rx is an Instant; Down happened at the detection expiry.
            let since = last.elapsed();
            let down_ago = SystemTime::now().duration_since(down).unwrap_or_default();
            s.ours_from_last_rx
                .push((since.as_secs_f64() - down_ago.as_secs_f64()) * 1e3);
        }
        cuts.push((day_seconds(wall_start), day_seconds(wall_end)));
        bird.wait_bfd_state(&a4, "Down", Duration::from_secs(5));
        restore_bfd(&birds.name);
        wait_event(&mut events, true).await;
    }
    let log = std::fs::read_to_string(bird.dir.0.join("bird.log")).unwrap_or_default();
    let downs = bird_down_times(&log, &a4);
    // Pair each cut with bird's first Down at or after its start.
    for (start, end) in cuts {
        if let Some(d) = downs.iter().find(|d| **d >= start) {
            s.bird_from_cut_start.push((d - start) * 1e3);
            s.bird_from_cut_end.push((d - end) * 1e3);
        }
    }
    s
}

fn main() {
    let runs: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    for interval in [10u64, 50] {
        let s = rt.block_on(measure(interval, runs));
        println!("== {interval} ms x 3, {runs} cuts ==");
        println!(
            "{}",
            summary("orbit Down - nft start     ", s.ours_from_cut_start)
        );
        println!(
            "{}",
            summary("orbit Down - last rx packet", s.ours_from_last_rx)
        );
        println!(
            "{}",
            summary("orbit Down - nft end       ", s.ours_from_cut_end)
        );
        if s.bird_from_cut_end.is_empty() {
            println!("bird2: no Down lines found in its log");
        } else {
            println!(
                "{}",
                summary("bird2 Down - nft start     ", s.bird_from_cut_start)
            );
            println!(
                "{}",
                summary("bird2 Down - nft end       ", s.bird_from_cut_end)
            );
        }
        println!("{}", summary("nft command duration       ", s.cut_cmd));
    }
}
