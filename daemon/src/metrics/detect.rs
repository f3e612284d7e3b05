//! The gossip member's evidence and counters on `/metrics`, encoded from
//! its latest snapshot at scrape time.

use orbit_core::Liveness;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::evidence::GossipSlot;
use crate::metrics::snapshot::{encode_family, lock, with, Family, Labels};

/// Every local verdict a member can have (`MemberEvidence::view`).
const VIEWS: [&str; 10] = [
    "unknown",
    "alive",
    "suspect",
    "still_heard",
    "silent",
    "daemon_unresponsive",
    "doubted_dead",
    "dead",
    "link_down",
    "left",
];
/// Every state SWIM can report of a daemon (`MemberEvidence::swim`).
const SWIM: [&str; 4] = ["unknown", "alive", "suspect", "down"];

/// Encodes the gossip member's latest status on each scrape (held by
/// [`crate::evidence::Evidence`]); nothing without gossip.
#[derive(Debug)]
pub struct DetectCollector(GossipSlot);

impl DetectCollector {
    pub fn new(gossip: GossipSlot) -> DetectCollector {
        DetectCollector(gossip)
    }
}

fn flag(on: bool) -> i64 {
    i64::from(on)
}

impl Collector for DetectCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(status) = lock(&self.0).as_ref().map(|rx| rx.borrow().clone()) else {
            return Ok(());
        };
        let report = status.report();
        let mut view = Family::new(
            "detect_view",
            "1 for this member's current verdict about each other member",
        );
        let mut swim = Family::new(
            "detect_swim_state",
            "1 for SWIM's current view of each other member's daemon",
        );
        let mut data_plane = Family::new(
            "detect_data_plane_up",
            "1 while the data-plane probe of a probed site answers",
        );
        let mut source = Family::new(
            "detect_source_alive",
            "1 while another local detector (bfd, serf) says the member's daemon is alive",
        );
        let mut partitioned = Family::new(
            "detect_partitioned",
            "1 while we cannot reach the member but another live member can",
        );
        for m in &report.members {
            let labels: Labels = vec![("site", m.site.to_string())];
            for v in VIEWS {
                view.samples
                    .push((with(&labels, "view", v), flag(m.view == v)));
            }
            for s in SWIM {
                swim.samples
                    .push((with(&labels, "state", s), flag(m.swim == s)));
            }
            if let Some(up) = m.data_plane {
                data_plane.samples.push((labels.clone(), flag(up)));
            }
            for (name, l) in &m.sources {
                source.samples.push((
                    with(&labels, "source", name.as_str()),
                    flag(*l == Liveness::Alive),
                ));
            }
            partitioned.samples.push((labels, flag(m.partitioned)));
        }
        let mut isolated = Family::new(
            "detect_isolated",
            "1 while this member sees fewer members than a quorum",
        );
        isolated.samples.push((Vec::new(), flag(report.isolated)));
        let mut health = Family::new(
            "detect_local_health_score",
            "Lifeguard local health (0 = healthy; higher: our own loop was stalled)",
        );
        health
            .samples
            .push((Vec::new(), i64::from(report.local_health_score)));
        for f in [
            &view,
            &swim,
            &data_plane,
            &source,
            &partitioned,
            &isolated,
            &health,
        ] {
            encode_family(&mut encoder, f, ConstGauge::new)?;
        }
        let c = status.counters;
        for (name, help, value) in [
            ("gossip_packets_in", "Gossip packets received", c.packets_in),
            ("gossip_packets_out", "Gossip packets sent", c.packets_out),
            (
                "gossip_bad_envelope",
                "Gossip packets dropped: bad magic, version, kind, length or MAC",
                c.bad_envelope,
            ),
            (
                "gossip_bad_mac",
                "Gossip packets dropped for a bad MAC",
                c.bad_mac,
            ),
            (
                "gossip_bad_state",
                "Authenticated state messages that did not decode",
                c.bad_state,
            ),
            (
                "gossip_swim_rejected",
                "Authenticated SWIM packets foca rejected",
                c.swim_rejected,
            ),
            (
                "gossip_declared_down",
                "Times this member learnt the others had declared it down",
                c.declared_down,
            ),
            (
                "gossip_push_pulls",
                "Push-pull exchanges (TCP) whose tables were taken in",
                c.push_pulls,
            ),
            (
                "gossip_bad_push_pull",
                "Push-pull frames refused: unauthenticated, malformed or too large",
                c.bad_push_pull,
            ),
            (
                "gossip_delta_gaps",
                "State deltas that arrived before an earlier chunk of their origin",
                c.delta_gaps,
            ),
        ] {
            let mut f = Family::new(name, help);
            f.samples.push((Vec::new(), value));
            encode_family(&mut encoder, &f, ConstCounter::new)?;
        }
        Ok(())
    }
}
