//! What a gossip member shows of itself: counters and the status snapshot
//! that `/v1/status`, `/metrics` and the tests read.

use std::collections::BTreeMap;
use std::time::Duration;

use orbit_core::api::{DetectReport, MemberEvidence};
use orbit_core::{Liveness, SiteId};
use serde::{Deserialize, Serialize};

use super::verdict::{DaemonState, SiteView, Source};
use crate::identity::Member;

/// Packet and protocol counters (exported on `/metrics` by the daemon).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub packets_in: u64,
    pub packets_out: u64,
    /// Dropped: bad magic, version, kind, length or MAC.
    pub bad_envelope: u64,
    /// Of which: a bad MAC.
    pub bad_mac: u64,
    /// Dropped: authenticated, but the state body did not decode.
    pub bad_state: u64,
    /// Authenticated SWIM packets foca rejected.
    pub swim_rejected: u64,
    /// foca suspect-to-down timers dropped (member no longer suspect).
    pub stale_suspect_timers: u64,
    pub announces: u64,
    /// Times we learnt the cluster had declared us down.
    pub declared_down: u64,
    /// Push-pull exchanges (TCP) whose tables were taken in.
    #[serde(default)]
    pub push_pulls: u64,
    /// Push-pull frames refused: unauthenticated, malformed, too large.
    #[serde(default)]
    pub bad_push_pull: u64,
    /// Deltas that arrived before an earlier chunk of their origin (held
    /// until it arrives, or repaired by the next digest).
    #[serde(default)]
    pub delta_gaps: u64,
}

/// A snapshot for status pages and tests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GossipStatus {
    pub identity: Member,
    pub views: BTreeMap<SiteId, SiteView>,
    /// How long each member has not spoken to us directly.
    pub silence: BTreeMap<SiteId, Duration>,
    pub fence_after: Duration,
    pub fence_margin: Duration,
    pub daemons: BTreeMap<SiteId, DaemonState>,
    /// Sites we cannot reach (SWIM down or data-plane probe failing) while
    /// another live member sees them alive.
    pub partitioned: Vec<SiteId>,
    /// We positively see fewer members than a quorum (ourselves included).
    pub isolated: bool,
    /// Lifeguard local health multiplier (0 = healthy).
    pub local_health_score: u32,
    /// What the other local detectors (Serf, BFD, an external feed) say
    /// about each site.
    pub sources: BTreeMap<SiteId, BTreeMap<Source, Liveness>>,
    /// The data-plane probe of each probed site (after rise/fall).
    pub dataplane: BTreeMap<SiteId, bool>,
    pub counters: Counters,
}

impl GossipStatus {
    /// The API's view of this snapshot (`GET /v1/status`, `orbitctl status`).
    pub fn report(&self) -> DetectReport {
        let members = self
            .daemons
            .iter()
            .map(|(site, daemon)| MemberEvidence {
                site: site.clone(),
                view: self
                    .views
                    .get(site)
                    .map_or("unknown", |v| v.as_str())
                    .to_owned(),
                swim: snake(daemon),
                data_plane: self.dataplane.get(site).copied(),
                silent_ms: self
                    .silence
                    .get(site)
                    .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
                sources: self
                    .sources
                    .get(site)
                    .into_iter()
                    .flatten()
                    .map(|(source, l)| (snake(source), *l))
                    .collect(),
                partitioned: self.partitioned.contains(site),
            })
            .collect();
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        DetectReport {
            isolated: self.isolated,
            local_health_score: self.local_health_score,
            fence_after_ms: ms(self.fence_after),
            fence_margin_ms: ms(self.fence_margin),
            members,
        }
    }
}

/// The serde (snake_case) name of a unit variant.
fn snake(value: &impl Serialize) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}
