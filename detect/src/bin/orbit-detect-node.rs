//! A stand-alone detection node for namespace tests and the lab: runs the
//! detectors of one orbitd and a decision engine, and prints every event and
//! decision as a JSON line. Not the daemon: no backends, no API.
//!
//! ```text
//! orbit-detect-node daemon CONFIG.toml   # gossip + health + serf + links, engine
//! orbit-detect-node listen ADDR:PORT     # a TCP accept loop: a stand-in data plane
//! ```
//!
//! It reads the sections it runs from an `orbit.toml` (`[node] site`,
//! `[[site]]`, `[detect]`, `[policy]`, `[[service]]`) and checks
//! `[detect]` and the health checks; the rest of the file is orbitd's
//! (`orbitd check-config` checks all of it). orbit-detect cannot use
//! `orbit-config`, which is built on it.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use orbit_core::config::{Policy, Problems, Scope, Service, ServiceEntry, Site};
use orbit_core::{Engine, Event, Millis, SiteId};
use orbit_detect::{Cluster, Detectors, HealthCheck};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio::time::Instant;

type Error = Box<dyn std::error::Error>;

fn line(kind: &str, at: Millis, json: &str) {
    let mut out = std::io::stdout().lock();
    // A closed stdout means the test harness is gone: nothing left to tell.
    let _ = writeln!(out, "{kind} {} {json}", at.0);
    let _ = out.flush();
}

/// The parts of `orbit.toml` this node runs; other tables are ignored.
#[derive(Deserialize)]
struct File {
    node: Node,
    site: Vec<Site>,
    #[serde(default)]
    detect: orbit_detect::Config,
    #[serde(default)]
    policy: Policy,
    #[serde(default)]
    service: Vec<ServiceEntry<HealthCheck>>,
}

#[derive(Deserialize)]
struct Node {
    site: SiteId,
}

async fn daemon(path: &str) -> Result<(), Error> {
    let text = std::fs::read_to_string(path)?;
    let file: File = toml::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
    let services: Vec<Service> = file.service.iter().map(ServiceEntry::service).collect();
    let health = orbit_detect::config::health_checks(&file.service);
    let mut problems = Problems::default();
    let scope = Scope {
        node: &file.node.site,
        sites: &file.site,
        services: &services,
    };
    file.detect.validate(&scope, None, &mut problems);
    for (i, s) in file.service.iter().enumerate() {
        if let Some(h) = &s.health {
            let mut found = Problems::default();
            h.validate(&mut found);
            problems.extend_under(&format!("service[{i}].health"), found);
        }
    }
    if let Some(p) = problems.into_vec().first() {
        return Err(format!("{path}: {p}").into());
    }
    let fence = file.detect.fence_timers(None);
    let cluster = Cluster {
        local: file.node.site.clone(),
        sites: file.site.clone(),
        quorum: file.policy.quorum(file.site.len()),
        fence,
    };
    let (tx, mut rx) = mpsc::channel::<Event>(1024);
    let detectors = Detectors::start(&file.detect, &cluster, &health, None, tx).await?;
    let mut engine = Engine::new(
        &file.node.site,
        &file.site,
        &services,
        &file.policy,
        fence.margin.get(),
    );
    // Like orbitd: share placements and intent so the engines converge.
    let share = detectors.gossip.as_ref().map(|g| g.reporter());
    let mut shared = None;
    let t0 = Instant::now();
    let now = || Millis(u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX));
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    loop {
        let event = tokio::select! {
            e = rx.recv() => match e {
                Some(e) => e,
                None => return Ok(()),
            },
            _ = tick.tick() => Event::Tick,
        };
        let at = now();
        if !matches!(event, Event::Tick) {
            line("event", at, &serde_json::to_string(&event)?);
        }
        for d in engine.handle(at, event) {
            line("decision", at, &serde_json::to_string(&d)?);
        }
        let state = engine.shared_state();
        if shared.as_ref() != Some(&state) {
            if let Some(reporter) = &share {
                if reporter.try_publish_shared(state.clone()).is_ok() {
                    shared = Some(state);
                }
            }
        }
    }
}

async fn listen(addr: &str) -> Result<(), Error> {
    let addr: SocketAddr = addr.parse()?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    loop {
        let (_conn, _) = listener.accept().await?;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("daemon"), Some(path)) => daemon(path).await,
        (Some("listen"), Some(addr)) => listen(addr).await,
        _ => Err("usage: orbit-detect-node daemon CONFIG.toml | listen ADDR:PORT".into()),
    }
}
