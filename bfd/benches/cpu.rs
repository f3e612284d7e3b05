//! CPU cost per session at 10 ms × 3 (not a test; run with `cargo bench`).
//!
//! Two drivers in one process inside a fresh namespace, on its loopback:
//! driver A has one local address and N sessions (one socket pair), driver
//! B has N local addresses. After all sessions are Up and the Poll
//! Sequences have settled, the process CPU time (user + system, all
//! threads, from /proc/self/stat) is sampled over a window. Each session
//! exists twice (one end per driver), so the per-session-end figure is
//! CPU / (2 N). Each driver runs on its own current-thread runtime.
//!
//! `cargo bench -p orbit-bfd --bench cpu -- [N] [SECONDS]` (default 100, 10).

#[path = "../tests/common/mod.rs"]
mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use common::{Netns, NsRuntime};
use orbit_bfd::{start, BfdEvent, DriverConfig, Hop, PeerConfig, State, Timing};

/// utime + stime of this process in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("stat");
    // Fields after the parenthesised command name; utime/stime are 14/15.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f[11].parse::<f64>().expect("utime") + f[12].parse::<f64>().expect("stime");
    // USER_HZ is 100 on Linux.
    ticks / 100.0
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse::<u64>().ok());
    let n = args.next().unwrap_or(100) as usize;
    let secs = args.next().unwrap_or(10);
    let ns = Netns::new("cpu");
    // Each driver on its own runtime thread, as two hosts would be: a stall
    // of one thread then does not also silence the peer.
    let nsrt_a = NsRuntime::new(&ns);
    let nsrt_b = NsRuntime::new(&ns);
    let main_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    main_rt.block_on(async {
        let (ha, mut ea) = {
            let _e = nsrt_a.handle.enter();
            start(DriverConfig::default())
        };
        let (hb, mut eb) = {
            let _e = nsrt_b.handle.enter();
            start(DriverConfig::default())
        };
        let iv = Duration::from_millis(10);
        let a = IpAddr::V4(Ipv4Addr::new(127, 1, 0, 1));
        for i in 0..n {
            let b = IpAddr::V4(Ipv4Addr::new(127, 2, (i / 250) as u8, (i % 250) as u8 + 1));
            let t = Timing::new(iv, iv, 3);
            ha.add_session(PeerConfig { local: a, peer: b, hop: Hop::Single, timing: t, auth: None, control_plane_independent: false })
                .await
                .expect("add a");
            hb.add_session(PeerConfig { local: b, peer: a, hop: Hop::Single, timing: t, auth: None, control_plane_independent: false })
                .await
                .expect("add b");
        }
        let mut up: i64 = 0;
        while up < 2 * n as i64 {
            let ev = tokio::select! {
                Some(ev) = ea.recv() => ev,
                Some(ev) = eb.recv() => ev,
            };
            up += if matches!(ev, BfdEvent::Up { .. }) { 1 } else { -1 };
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let (c0, t0) = (cpu_seconds(), Instant::now());
        let before = ha.status().await.expect("status");
        tokio::time::sleep(Duration::from_secs(secs)).await;
        let after = ha.status().await.expect("status");
        // Events from the handshake are Up only; Downs are flaps.
        let mut diags = std::collections::BTreeMap::new();
        while let Ok(ev) = ea.try_recv() {
            if let BfdEvent::Down { diag, .. } = ev {
                *diags.entry(diag.to_string()).or_insert(0u32) += 1;
            }
        }
        while let Ok(ev) = eb.try_recv() {
            if let BfdEvent::Down { diag, .. } = ev {
                *diags.entry(format!("B: {diag}")).or_insert(0u32) += 1;
            }
        }
        println!("Down events (whole run) by diagnostic: {diags:?}");
        // UDP counters of the namespace, read from a thread inside it.
        let snmp = nsrt_a
            .handle
            .spawn(async { std::fs::read_to_string("/proc/thread-self/net/snmp").unwrap_or_default() })
            .await
            .unwrap_or_default();
        let udp: Vec<&str> = snmp.lines().filter(|l| l.starts_with("Udp:")).collect();
        if udp.len() == 2 {
            let pairs: Vec<String> = udp[0]
                .split_whitespace()
                .zip(udp[1].split_whitespace())
                .skip(1)
                .filter(|(k, _)| k.contains("Err"))
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            println!("namespace UDP errors: {}", pairs.join(" "));
        }
        println!("send errors: A {} B {}", after.send_errors, hb.status().await.expect("status").send_errors);
        let (c1, t1) = (cpu_seconds(), Instant::now());
        let wall = (t1 - t0).as_secs_f64();
        let cpu = c1 - c0;
        let all_up = after.sessions.iter().all(|s| s.state == State::Up)
            && hb.status().await.expect("status").sessions.iter().all(|s| s.state == State::Up);
        let tx: u64 = after.sessions.iter().map(|s| s.counters.tx_packets).sum::<u64>()
            - before.sessions.iter().map(|s| s.counters.tx_packets).sum::<u64>();
        let flaps: u64 = after.sessions.iter().map(|s| s.counters.state_changes).sum::<u64>()
            - before.sessions.iter().map(|s| s.counters.state_changes).sum::<u64>();
        let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
        println!("sessions: {n} (x2 ends), interval 10 ms x 3, window {wall:.1} s, all Up at end: {all_up}, state changes on A in window: {flaps}, loadavg: {}", load.trim());
        println!("driver A tx rate per session: {:.1} pkt/s", tx as f64 / wall / n as f64);
        println!(
            "CPU: {:.1}% of one core total, {:.3}% per session end ({:.1} us CPU per session-end second)",
            cpu / wall * 100.0,
            cpu / wall * 100.0 / (2 * n) as f64,
            cpu / wall / (2 * n) as f64 * 1e6
        );
    });
}
