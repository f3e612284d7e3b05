//! Benchmark (not a test): how fast the SDN backend moves services on a
//! real ovs-vswitchd, and what a client stream loses meanwhile.
//!
//! `cargo bench -p orbit-sdn --bench apply` (root: namespaces, OVS).
//!
//! 1. For 1, 1k and 10k services: time for `apply` to move every service
//!    from site A to site B (N GROUP_MODs): until BARRIER_REPLY, and until
//!    `apply` returns (after the datapath revalidation wait). Compared with
//!    `ovs-ofctl add-groups FILE` sending the same N group modifies
//!    (`modify` lines; OVS's own client, which also ends with a barrier).
//! 2. Packets lost by a 5,000 packets/s UDP stream across 20 switchovers.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use orbit_core::config::Service;
use orbit_core::{Redirector, Role, ServiceSteering, Steering};
use orbit_sdn::Switch;

fn services(n: usize) -> Vec<Service> {
    (0..n)
        .map(|i| Service {
            id: format!("s{i:05}").parse().expect("id"),
            prefixes: vec![format!("2001:db8::{:x}/128", i + 1).parse().expect("net")],
            sites: vec!["a".parse().expect("site"), "b".parse().expect("site")],
            health_checked: false,
            plan: None,
        })
        .collect()
}

fn steer(svcs: &[Service], generation: u64, active: &str) -> Steering {
    let mut services = BTreeMap::new();
    for s in svcs {
        services.insert(
            s.id.clone(),
            ServiceSteering {
                prefixes: s.prefixes.clone(),
                active: Some(active.parse().expect("site")),
                epoch: 0,
                local_role: Role::Standby,
                takeover: false,
            },
        );
    }
    Steering {
        generation,
        local_site: "a".parse().expect("site"),
        fenced: false,
        observe_only: false,
        services,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

async fn scale(n: usize) {
    let ovs = Ovs::start();
    let br = unique("br");
    ovs.bridge(&br).await;
    let cfg: orbit_sdn::Config = toml::from_str(&format!(
        r#"
        switch = "{}"
        ovsdb = "{}"
        bridge = "{br}"
        timeout = "120s"
        [ports.a]
        port = 1
        mac = "{MAC_A}"
        [ports.b]
        port = 2
        mac = "{MAC_B}"
        "#,
        ovs.mgmt_endpoint(&br),
        ovs.db_endpoint()
    ))
    .expect("config");
    let svcs = services(n);
    let mut sw = Switch::start(&cfg, &svcs).await.expect("start");
    let t = Instant::now();
    let first = sw.apply(&steer(&svcs, 1, "a")).await.expect("install");
    let install = t.elapsed();

    let (mut barrier, mut total) = (Vec::new(), Vec::new());
    for round in 0..5u64 {
        let site = if round % 2 == 0 { "b" } else { "a" };
        let t = Instant::now();
        let a = sw
            .apply(&steer(&svcs, 2 + round, site))
            .await
            .expect("switch");
        total.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(a.changes, n);
        barrier.push(sw.stats().await.last_confirm_us as f64 / 1e3);
    }
    // A fresh Switch (orbitd restart) reads everything back and, with the
    // steering of the last round (site b), changes nothing.
    drop(sw);
    let mut sw = Switch::start(&cfg, &svcs).await.expect("start");
    let t = Instant::now();
    let again = sw.apply(&steer(&svcs, 9, "b")).await.expect("readback");
    let readback = t.elapsed();
    assert_eq!(again.changes, 0);

    // The same N group mods through ovs-ofctl.
    let file = ovs.dir.path().join("groups.txt");
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
            "modify group_id={},type=ff,bucket=watch_port:2,actions=set_field:{MAC_B}->eth_dst,output:2,bucket=watch_port:1,actions=set_field:{MAC_A}->eth_dst,output:1\n",
            0x0b17_0000 + i
        ));
    }
    std::fs::write(&file, text).expect("write");
    let mut ofctl = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        ovs.ofctl(&[
            "add-groups",
            &ovs.mgmt_endpoint(&br),
            file.to_str().expect("utf8"),
        ]);
        ofctl.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (b, tt, o) = (median(barrier), median(total), median(ofctl));
    println!(
        "| {n:>6} | {:>9.1} | {b:>10.2} | {tt:>10.2} | {o:>10.2} | {:>5.2} | {:>9.1} |",
        install.as_secs_f64() * 1e3,
        b / o,
        readback.as_secs_f64() * 1e3,
    );
    let _ = first;
}

async fn loss() {
    let lab = Lab::new().await;
    let mut sw = Switch::start(&lab.sdn_config(), &lab.services())
        .await
        .expect("switch");
    sw.apply(&steering(1, Some("a"))).await.expect("apply");
    let stop = Arc::new(AtomicBool::new(false));
    let (got_a, got_b) = (
        receiver(&lab.a, stop.clone()),
        receiver(&lab.b, stop.clone()),
    );
    let mut stream = Stream::start(&lab.client, 5000);
    eventually("A receives", Duration::from_secs(5), || got_a.len() > 100).await;
    let first = *got_a.snapshot().last().expect("some") + 1;
    let mut late = 0usize;
    for i in 0..20u64 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let site = if i % 2 == 0 { "b" } else { "a" };
        sw.apply(&steering(2 + i, Some(site)))
            .await
            .expect("switch");
        let cut = stream.sent();
        // Packets sent after apply returned must reach the new site only.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let old = if site == "b" { &got_a } else { &got_b };
        late += old.snapshot().iter().filter(|s| **s >= cut).count();
        let _ = cut;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let total = stream.stop();
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut all: Vec<u64> = got_a
        .snapshot()
        .into_iter()
        .chain(got_b.snapshot())
        .filter(|s| *s >= first)
        .collect();
    all.sort_unstable();
    all.dedup();
    let expected = total - first;
    println!(
        "5,000 packets/s, 20 switchovers: {expected} packets sent, {} lost, {late} delivered to the old site after apply returned",
        expected - all.len() as u64
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` does not, and
    // a multi-second benchmark has no place in a test run.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        println!("| services | install ms | switch: BARRIER_REPLY ms | switch: apply returns ms | ovs-ofctl add-groups (modify) ms | orbit/ofctl | fresh readback ms |");
        println!("|---:|---:|---:|---:|---:|---:|---:|");
        for n in [1, 1000, 10_000] {
            scale(n).await;
        }
        loss().await;
    });
}
