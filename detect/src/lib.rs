//! Failure detectors for orbit: SWIM gossip between site daemons (with the
//! witness as a voter), health checks with rise/fall, a Serf agent adapter and
//! a netlink link watch. Every detector turns what it sees into
//! [`orbit_core::Event`]s for the decision engine; none of them decides.
//!
//! Wiring (orbitd): create one `mpsc::channel::<orbit_core::Event>`, start
//! [`gossip::Gossip::start`] with the config and the sender, and feed every
//! received event to `Engine::handle`.

pub mod auth;
pub mod config;
pub mod dataplane;
mod error;
pub mod frame;
pub mod gossip;
pub mod health;
pub mod identity;
pub mod linkwatch;
pub mod rise_fall;
pub mod serf;
pub mod wire;
pub mod wire_v2;

pub use config::{Config, DetectProfile, DetectTimers, FenceTimers, HealthCheck};
pub use error::DetectError;

use orbit_core::config::Site;
use orbit_core::{Event, ServiceId, SiteId};
use tokio::sync::mpsc;

/// Who this member is among whom: what the detectors need besides
/// `[detect]` itself.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// `[node] site`.
    pub local: SiteId,
    /// Every `[[site]]`, the local one included.
    pub sites: Vec<Site>,
    /// Members that must agree (`[policy] quorum` or a majority).
    pub quorum: usize,
    /// [`Config::fence_timers`] with the BFD between members, if it runs.
    pub fence: FenceTimers,
}

impl Cluster {
    /// Whether the local member is a witness (which carries no services).
    pub fn local_is_witness(&self) -> bool {
        self.sites.iter().any(|s| s.id == self.local && s.witness)
    }
}

/// Every detector of one orbitd, started together. Dropping it stops them.
#[derive(Debug)]
pub struct Detectors {
    /// `None` when `[detect] gossip = false`.
    pub gossip: Option<gossip::Gossip>,
    pub health: health::HealthChecks,
    pub serf: Option<serf::SerfAdapter>,
    pub links: Option<linkwatch::LinkWatch>,
}

impl Detectors {
    /// Starts gossip (unless `detect.gossip = false`), the local health
    /// checks `health` (a witness has none; each check's duration goes to
    /// `health_observer`), the Serf adapter (if
    /// `detect.serf_rpc` is set; its verdicts join the gossip view) and the
    /// link watch (if `detect.links` is set). Everything they learn arrives
    /// on `events`.
    pub async fn start(
        detect: &Config,
        cluster: &Cluster,
        health: &[(ServiceId, HealthCheck)],
        health_observer: Option<health::CheckObserver>,
        events: mpsc::Sender<Event>,
    ) -> Result<Self, DetectError> {
        let gossip = if detect.gossip {
            Some(gossip::Gossip::start(detect, cluster, events.clone()).await?)
        } else {
            None
        };
        let reporter = gossip.as_ref().map(gossip::Gossip::reporter);
        let health = if cluster.local_is_witness() {
            health::HealthChecks::none()
        } else {
            health::HealthChecks::start(
                &cluster.local,
                health,
                events.clone(),
                reporter.clone(),
                health_observer,
            )?
        };
        let serf = detect.serf_rpc.map(|rpc| {
            let sink = match &reporter {
                Some(reporter) => serf::SerfSink::Gossip(reporter.clone()),
                None => serf::SerfSink::Engine(events),
            };
            serf::SerfAdapter::start(rpc, cluster.local.clone(), sink)
        });
        let links = match reporter {
            Some(reporter) if !detect.links.is_empty() => {
                Some(linkwatch::LinkWatch::start(detect.links.clone(), reporter)?)
            }
            _ => None,
        };
        Ok(Detectors {
            gossip,
            health,
            serf,
            links,
        })
    }
}
