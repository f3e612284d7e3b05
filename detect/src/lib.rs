//! Failure detectors for orbit: SWIM gossip between site daemons (with the
//! witness as a voter), health checks with rise/fall, a Serf agent adapter and
//! a netlink link watch. Every detector turns what it sees into
//! [`orbit_core::Event`]s for the decision engine; none of them decides.
//!
//! Wiring (orbitd): create one `mpsc::channel::<orbit_core::Event>`, start
//! [`gossip::Gossip::start`] with the config and the sender, and feed every
//! received event to `Engine::handle`.

pub mod auth;
pub mod dataplane;
mod error;
pub mod gossip;
pub mod health;
pub mod identity;
pub mod linkwatch;
pub mod rise_fall;
pub mod serf;
pub mod wire;

pub use error::DetectError;

use orbit_core::config::{Config, NodeRole};
use orbit_core::Event;
use tokio::sync::mpsc;

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
    /// checks (a witness has none), the Serf adapter (if `detect.serf_rpc`
    /// is set; its verdicts join the gossip view) and the link
    /// watch (if `detect.links` is set). Everything
    /// they learn arrives on `events`.
    pub async fn start(config: &Config, events: mpsc::Sender<Event>) -> Result<Self, DetectError> {
        let gossip = if config.detect.gossip {
            Some(gossip::Gossip::start(config, events.clone()).await?)
        } else {
            None
        };
        let reporter = gossip.as_ref().map(gossip::Gossip::reporter);
        let health = if config.node.role == NodeRole::Witness {
            health::HealthChecks::none()
        } else {
            health::HealthChecks::start(config, events.clone(), reporter.clone())?
        };
        let serf = config.detect.serf_rpc.map(|rpc| {
            let sink = match &reporter {
                Some(reporter) => serf::SerfSink::Gossip(reporter.clone()),
                None => serf::SerfSink::Engine(events),
            };
            serf::SerfAdapter::start(rpc, config.node.site.clone(), sink)
        });
        let links = match reporter {
            Some(reporter) if !config.detect.links.is_empty() => Some(linkwatch::LinkWatch::start(
                config.detect.links.clone(),
                reporter,
            )?),
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
