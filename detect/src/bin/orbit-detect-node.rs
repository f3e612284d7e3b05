//! A stand-alone detection node for namespace tests and the lab: runs the
//! detectors of one orbitd and a decision engine, and prints every event and
//! decision as a JSON line. Not the daemon: no backends, no API.
//!
//! ```text
//! orbit-detect-node daemon CONFIG.toml   # gossip + health + serf + links, engine
//! orbit-detect-node listen ADDR:PORT     # a TCP accept loop: a stand-in data plane
//! ```

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use orbit_core::config::Config;
use orbit_core::{Engine, Event, Millis};
use orbit_detect::Detectors;
use tokio::sync::mpsc;
use tokio::time::Instant;

type Error = Box<dyn std::error::Error>;

fn line(kind: &str, at: Millis, json: &str) {
    let mut out = std::io::stdout().lock();
    // A closed stdout means the test harness is gone: nothing left to tell.
    let _ = writeln!(out, "{kind} {} {json}", at.0);
    let _ = out.flush();
}

async fn daemon(path: &str) -> Result<(), Error> {
    let text = std::fs::read_to_string(path)?;
    let config = Config::parse_valid(&text, path)?;
    let (tx, mut rx) = mpsc::channel::<Event>(1024);
    let detectors = Detectors::start(&config, tx).await?;
    let mut engine = Engine::new(&config);
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
