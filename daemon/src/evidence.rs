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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use orbit_core::Liveness;
    use orbit_detect::gossip::{Counters, DaemonState, SiteView, Source};
    use orbit_detect::identity::Member;

    use super::*;
    use crate::metrics::Metrics;

    fn gossip(bfd: Liveness) -> GossipStatus {
        let a: orbit_core::SiteId = "a".parse().expect("site");
        GossipStatus {
            identity: Member::new(
                "127.0.0.1:7946".parse().expect("addr"),
                "b".parse().expect("site"),
                1,
            ),
            views: BTreeMap::from([(a.clone(), SiteView::Alive)]),
            silence: BTreeMap::new(),
            fence_after: Duration::from_secs(1),
            fence_margin: Duration::ZERO,
            daemons: BTreeMap::from([(a.clone(), DaemonState::Alive)]),
            partitioned: Vec::new(),
            isolated: false,
            local_health_score: 0,
            sources: BTreeMap::from([(a, BTreeMap::from([(Source::Bfd, bfd)]))]),
            dataplane: BTreeMap::new(),
            counters: Counters::default(),
        }
    }

    #[test]
    fn status_and_metrics_show_the_same_evidence_as_it_changes() {
        let evidence = Evidence::default();
        let metrics = Metrics::new(&evidence);
        assert_eq!(evidence.detect(), None);
        assert!(!metrics
            .render(crate::metrics::exposition::Format::OpenMetrics)
            .contains("orbit_detect_"));

        let (publish, watch) = watch::channel(gossip(Liveness::Alive));
        evidence.set_gossip(watch);
        let bfd_alive = r#"orbit_detect_source_alive{site="a",source="bfd"}"#;
        let report = evidence.detect().expect("gossip evidence");
        assert_eq!(report.members[0].sources["bfd"], Liveness::Alive);
        assert!(metrics
            .render(crate::metrics::exposition::Format::OpenMetrics)
            .contains(&format!("{bfd_alive} 1")));

        // A newer snapshot reaches both, with nothing copied in between.
        publish.send_replace(gossip(Liveness::Dead));
        let report = evidence.detect().expect("gossip evidence");
        assert_eq!(report.members[0].sources["bfd"], Liveness::Dead);
        assert!(metrics
            .render(crate::metrics::exposition::Format::OpenMetrics)
            .contains(&format!("{bfd_alive} 0")));
    }
}
