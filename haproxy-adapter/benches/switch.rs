//! Switch benchmark against a real haproxy (not a test; run with
//! `cargo bench -p orbit-haproxy --bench switch`).
//!
//! 1. Time from `apply` to confirmed (committed and read back) for maps of
//!    1, 1k and 100k entries, beside the bare runtime API cost of the same
//!    change in the same run (prepare/add/commit only, no file, no read back)
//!    and a single non-atomic `set map` (one service only).
//! 2. Requests lost while switching a service back and forth under a steady
//!    1k requests/s keep-alive load.
//!
//! `ORBIT_BENCH_QUICK=1` uses fewer rounds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use orbit_core::Redirector;
use orbit_haproxy::{Client, Endpoint, Runtime};

fn stats(mut v: Vec<Duration>) -> String {
    v.sort();
    let pct = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
    format!(
        "n={:<4} min {:>10.3?}  p50 {:>10.3?}  p99 {:>10.3?}  max {:>10.3?}",
        v.len(),
        v[0],
        pct(0.5),
        pct(0.99),
        v[v.len() - 1]
    )
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

async fn apply_latency(entries: usize, rounds: usize) {
    let lab = Lab::start(LabOptions {
        extra_services: entries - 1,
        ..LabOptions::default()
    })
    .await;
    let mut rt = Runtime::start(&lab.config()).await.unwrap();
    let steer = [lab.steering(0, Some("a")), lab.steering(0, Some("b"))];
    // Warm up: the first apply rewrites the file header.
    rt.apply(&steer[1]).await.unwrap();
    let mut orbit = Vec::new();
    for i in 0..rounds {
        let mut s = steer[i % 2].clone();
        s.generation = i as u64 + 1;
        let t = Instant::now();
        let applied = rt.apply(&s).await.unwrap();
        orbit.push(t.elapsed());
        assert_eq!(applied.changes, entries + 1, "{applied:?}");
    }

    // The same change with the bare runtime API on one connection.
    let mut client = Client::new(
        Endpoint::parse(&lab.admin_sock.display().to_string()).unwrap(),
        Duration::from_secs(30),
    );
    client.connect().await.unwrap();
    let map = lab.map_path.display().to_string();
    let pairs: [Vec<(String, String)>; 2] = ["be_site_a", "be_site_b"].map(|b| {
        let mut v = vec![(HOST.to_owned(), b.to_owned())];
        v.extend((0..entries - 1).map(|i| (format!("svc{i}"), b.to_owned())));
        v
    });
    let mut bare = Vec::new();
    for i in 0..rounds {
        let t = Instant::now();
        let v = client.prepare_map(&map).await.unwrap();
        let mut start = 0;
        let p = &pairs[i % 2];
        while start < p.len() {
            // Same payload size as the backend (8 kB).
            let mut end = start;
            let mut bytes = 0;
            while end < p.len() && bytes + p[end].0.len() + p[end].1.len() + 2 <= 8192 {
                bytes += p[end].0.len() + p[end].1.len() + 2;
                end += 1;
            }
            client
                .add_map_payload(v, &map, &p[start..end])
                .await
                .unwrap();
            start = end;
        }
        client.commit_map(v, &map).await.unwrap();
        bare.push(t.elapsed());
    }
    println!(
        "entries {entries:>6}  orbit apply->confirmed   {}",
        stats(orbit.clone())
    );
    println!(
        "entries {entries:>6}  bare prepare/add/commit  {}",
        stats(bare.clone())
    );
    if entries == 1 {
        let mut set = Vec::new();
        for i in 0..rounds {
            let t = Instant::now();
            client
                .set_map(&map, HOST, ["be_site_a", "be_site_b"][i % 2])
                .await
                .unwrap();
            set.push(t.elapsed());
        }
        println!(
            "entries {entries:>6}  bare set map (1 cmd)     {}",
            stats(set.clone())
        );
        println!(
            "entries {entries:>6}  ratio orbit/bare-atomic p50 {:.1}x, orbit/set-map p50 {:.1}x",
            median(orbit.clone()).as_secs_f64() / median(bare.clone()).as_secs_f64(),
            median(orbit).as_secs_f64() / median(set).as_secs_f64()
        );
    } else {
        println!(
            "entries {entries:>6}  ratio orbit/bare-atomic p50 {:.1}x",
            median(orbit).as_secs_f64() / median(bare).as_secs_f64()
        );
    }
}

async fn lost_requests(switches: usize) {
    let lab = Lab::start(LabOptions::default()).await;
    let mut rt = Runtime::start(&lab.config()).await.unwrap();
    let load = LoadClient::start(lab.frontend, Duration::from_millis(1));
    load.wait_ok(100).await;
    let started = Instant::now();
    let sent_before = load.next_seq.load(Ordering::SeqCst);
    let mut late_at_old = 0usize;
    for i in 0..switches {
        let to = ["a", "b"][(i + 1) % 2];
        let mut s = lab.steering(i as u64 + 1, Some(to));
        s.generation = i as u64 + 1;
        rt.apply(&s).await.unwrap();
        let first_after = load.next_seq.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(100)).await;
        let old = if to == "a" { &lab.site_b } else { &lab.site_a };
        late_at_old += old.seen().iter().filter(|s| **s >= first_after).count();
        // Those were counted; clear for the next round.
        old.seen.lock().unwrap().clear();
    }
    let elapsed = started.elapsed();
    let load = load.stop().await;
    let sent = load.next_seq.load(Ordering::SeqCst) - sent_before;
    println!(
        "switches {switches}: {sent} requests in {elapsed:.2?} ({:.0} req/s), failed {}, \
         sent after apply returned but served by the old site {late_at_old}",
        sent as f64 / elapsed.as_secs_f64(),
        load.failed().len()
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs bench
    // binaries without it, and must not start a minute of benchmarking.
    if !std::env::args().any(|a| a == "--bench") {
        println!("switch bench: run it with `cargo bench -p orbit-haproxy --bench switch`");
        return;
    }
    let quick = std::env::var_os("ORBIT_BENCH_QUICK").is_some();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let v = std::process::Command::new("haproxy")
            .arg("-v")
            .output()
            .unwrap();
        println!(
            "{}",
            String::from_utf8_lossy(&v.stdout)
                .lines()
                .next()
                .unwrap_or("")
        );
        let dir = std::env::var("ORBIT_LAB_TMP").unwrap_or_else(|_| "/tmp".to_owned());
        println!("map file directory: {dir}");
        apply_latency(1, if quick { 50 } else { 1000 }).await;
        apply_latency(1_000, if quick { 10 } else { 200 }).await;
        apply_latency(100_000, if quick { 3 } else { 10 }).await;
        lost_requests(if quick { 4 } else { 20 }).await;
    });
}
