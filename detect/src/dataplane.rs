//! Data-plane probes: can this member reach site X's services?
//!
//! A silent daemon is not a dead site. Every member probes each site listed
//! in `[detect.probe]` with a TCP connect to that site's service address
//! (or a health endpoint behind it), every probe interval, with the probe
//! interval as timeout; two failures in a row make it unreachable, one
//! success reachable again. The gossip core declares a site Dead only when
//! SWIM has given up on its daemon AND this probe fails.

use std::net::SocketAddr;
use std::time::Duration;

use orbit_core::SiteId;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::rise_fall::RiseFall;

/// Consecutive failures before a site's data plane counts as unreachable.
pub const DATAPLANE_FALL: u32 = 2;

/// Probes `target` forever, sending `(site, reachable)` on every change.
/// Ends when the receiver is gone.
pub async fn probe_site(
    site: SiteId,
    target: SocketAddr,
    interval: Duration,
    timeout: Duration,
    tx: mpsc::Sender<(SiteId, bool)>,
) {
    let mut state = RiseFall::new(1, DATAPLANE_FALL);
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let ok = matches!(
            tokio::time::timeout(timeout, TcpStream::connect(target)).await,
            Ok(Ok(_))
        );
        if let Some(reachable) = state.observe(ok) {
            tracing::info!(%site, %target, reachable, "data-plane probe changed");
            if tx.send((site.clone(), reachable)).await.is_err() {
                return;
            }
        }
    }
}
