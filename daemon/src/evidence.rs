//! What orbitd has seen of the other members and of its peers, held in one
//! place: the gossip member's evidence (SWIM, data-plane probes, the BFD,
//! Serf and external sources, the verdicts they make), the BFD drivers'
//! sessions (toward BGP peers and toward members) and the BGP speaker's
//! sessions.
//!
//! The daemon tells it what to watch (at start and on reload). The owners
//! keep their state; this holds their handles and last snapshots. Everything
//! that shows evidence reads it here: `/v1/status` and `/ready` render it
//! (`crate::api`, `crate::daemon`), `/metrics` only encodes it
//! (`crate::metrics` registers [`Evidence::collectors`]). So status and
//! metrics cannot disagree about what was seen.

use std::sync::{Arc, Mutex};

use orbit_core::api::DetectReport;
use orbit_detect::gossip::GossipStatus;
use prometheus_client::collector::Collector;
use tokio::sync::watch;

use crate::backends::bgp_status::BgpView;
use crate::bfd::status::BfdView;
use crate::metrics::detect::DetectCollector;
use crate::metrics::snapshot::lock;

/// The gossip member's latest status, shared with its collector; `None`
/// without gossip.
pub type GossipSlot = Arc<Mutex<Option<watch::Receiver<GossipStatus>>>>;

#[derive(Debug, Default)]
pub struct Evidence {
    gossip: GossipSlot,
    bfd: BfdView,
    bgp: BgpView,
}

impl Evidence {
    /// The gossip member to report on.
    pub fn set_gossip(&self, status: watch::Receiver<GossipStatus>) {
        *lock(&self.gossip) = Some(status);
    }

    /// The evidence behind the local verdicts, as `/v1/status` reports it;
    /// `None` without gossip.
    pub fn detect(&self) -> Option<DetectReport> {
        lock(&self.gossip).as_ref().map(|rx| rx.borrow().report())
    }

    /// The BFD drivers (sessions toward BGP peers and toward members).
    pub fn bfd(&self) -> &BfdView {
        &self.bfd
    }

    /// The BGP speaker's sessions.
    pub fn bgp(&self) -> &BgpView {
        &self.bgp
    }

    /// Asks the BFD drivers and the BGP peers for fresh snapshots, which
    /// the collectors then encode (the gossip member publishes its own).
    pub async fn refresh(&self) {
        self.bfd.refresh().await;
        self.bgp.reports().await;
    }

    /// The Prometheus collectors that encode this evidence, in the order
    /// `/metrics` shows them.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.bfd.collector()),
            Box::new(self.bgp.collector()),
            Box::new(DetectCollector::new(self.gossip.clone())),
        ]
    }
}
