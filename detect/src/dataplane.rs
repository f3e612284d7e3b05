//! Data-plane probes: can this member reach site X's services?
//!
//! A silent daemon is not a dead site. Every member probes each site listed
//! in `[detect.probe]` with a TCP connect to that site's service address
//! (or a health endpoint behind it), every probe interval, with the probe
//! interval as timeout; two failures in a row make it unreachable, one
//! success reachable again. The gossip core declares a site Dead only when
//! SWIM has given up on its daemon AND this probe fails.
//!
//! When the site's daemon stops answering, the core asks for a probe at
//! once ([`Prober::burst`]): `DATAPLANE_FALL` connects in parallel, each
//! with the short burst timeout (the SWIM ack timeout: the same network's
//! round-trip budget). A dead site's probe has then failed by the time its
//! silence allows a Dead verdict, instead of one or two probe intervals
//! later; the attempts are independent, so one lost SYN still cannot
//! condemn a site.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use orbit_core::SiteId;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};

use crate::rise_fall::RiseFall;

/// Consecutive failures before a site's data plane counts as unreachable.
pub const DATAPLANE_FALL: u32 = 2;

/// The timing of one site's probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeTiming {
    /// Between two regular probes; also their timeout.
    pub interval: Duration,
    /// Timeout of each attempt of a burst.
    pub burst_timeout: Duration,
}

/// Asks a running [`probe_site`] for a burst; cheap to clone. Requests made
/// while a burst runs are folded into the next one.
#[derive(Debug, Clone, Default)]
pub struct Prober(Arc<Notify>);

impl Prober {
    pub fn burst(&self) {
        self.0.notify_one();
    }
}

/// Probes `target` forever, sending `(site, reachable)` on every change,
/// and at once with a burst whenever `prober` asks. Ends when the receiver
/// is gone.
pub async fn probe_site(
    site: SiteId,
    target: SocketAddr,
    timing: ProbeTiming,
    prober: Prober,
    tx: mpsc::Sender<(SiteId, bool)>,
) {
    let mut state = RiseFall::new(1, DATAPLANE_FALL);
    let mut tick = tokio::time::interval(timing.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let (results, burst_ran) = tokio::select! {
            _ = tick.tick() => tokio::select! {
                ok = connects(target, timing.interval) => (vec![ok], false),
                // A regular probe of a site that just went dark waits its
                // whole interval: a burst asked for meanwhile goes ahead.
                _ = prober.0.notified() => (burst(&site, target, timing).await, true),
            },
            _ = prober.0.notified() => (burst(&site, target, timing).await, true),
        };
        if burst_ran {
            // The regular rhythm restarts after a burst.
            tick.reset();
        }
        for ok in results {
            if let Some(reachable) = state.observe(ok) {
                tracing::info!(%site, %target, reachable, "data-plane probe changed");
                if tx.send((site.clone(), reachable)).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// `DATAPLANE_FALL` connects at once, each with the burst timeout.
async fn burst(site: &SiteId, target: SocketAddr, timing: ProbeTiming) -> Vec<bool> {
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..DATAPLANE_FALL {
        attempts.spawn(connects(target, timing.burst_timeout));
    }
    let results = attempts.join_all().await;
    tracing::debug!(%site, %target, ?results, "data-plane burst");
    results
}

/// Whether `target` accepts a TCP connection within `timeout`.
async fn connects(target: SocketAddr, timeout: Duration) -> bool {
    matches!(
        tokio::time::timeout(timeout, TcpStream::connect(target)).await,
        Ok(Ok(_))
    )
}
