//! `[detect]` of `orbit.toml` and the `health` check of a `[[service]]`:
//! how site liveness is detected, the gossip timers a profile gives, when a
//! cut-off member fences, and what a local health check probes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use orbit_core::config::{HumanDuration, ServiceEntry};
use orbit_core::{ServiceId, SiteId};
use serde::{Deserialize, Serialize};

mod validate;

/// `[detect]`: how site liveness is detected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Gossip between the members (the default). Off: liveness comes only
    /// from the Serf adapter or an external feed (`POST /v1/events`).
    #[serde(default = "yes")]
    pub gossip: bool,
    #[serde(default)]
    pub profile: DetectProfile,
    /// Shared key that authenticates every gossip packet.
    pub key_file: Option<PathBuf>,
    pub probe_interval: Option<HumanDuration>,
    pub probe_timeout: Option<HumanDuration>,
    pub indirect_probes: Option<u32>,
    pub suspect_after: Option<HumanDuration>,
    /// Silence after which a member that hears fewer than a quorum fences
    /// itself (default: `suspect_after`, or the member BFD
    /// detection time with `[bfd] sites = true`).
    pub fence_after: Option<HumanDuration>,
    /// How much longer than `fence_after` a member must be silent before
    /// anyone may vote it dead: the cut-off side has fenced by then
    /// (default: `probe_interval`, or the member BFD detection time).
    pub fence_margin: Option<HumanDuration>,
    /// A member silent for `fence_after + fence_margin` that SWIM suspects
    /// and whose data plane fails too is dead in this member's view, without
    /// waiting for SWIM's suspicion to run out (default). Off: a dead verdict
    /// needs SWIM, BFD or Serf to have given up on its daemon (for a
    /// deployment where Serf is meant to be the detector).
    #[serde(default = "yes")]
    pub dead_on_silence: bool,
    /// Data-plane probe target per site: `host:port` of a service address
    /// (or a health endpoint) at that site that must accept a TCP connection.
    /// A site whose daemon is silent is declared dead only when this probe
    /// fails too; a site without an entry is judged by its daemon alone.
    #[serde(default)]
    pub probe: BTreeMap<SiteId, SocketAddr>,
    /// Optional extra source: a Serf agent's RPC address (`127.0.0.1:7373`).
    /// Its members carry a `site` tag; their join/leave/failed events become
    /// this site's verdicts.
    pub serf_rpc: Option<SocketAddr>,
    /// Link watch: local interface -> the sites reached through it. When
    /// every interface toward a site has lost carrier, this site's own
    /// verdict about it is Dead at once (without waiting for gossip).
    #[serde(default)]
    pub links: BTreeMap<String, Vec<SiteId>>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            gossip: true,
            profile: DetectProfile::default(),
            key_file: None,
            probe_interval: None,
            probe_timeout: None,
            indirect_probes: None,
            suspect_after: None,
            fence_after: None,
            fence_margin: None,
            dead_on_silence: true,
            probe: BTreeMap::new(),
            serf_rpc: None,
            links: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DetectProfile {
    /// Conservative timers for a LAN-like metro network.
    Lan,
    /// Sub-second detection: 100 ms probes, 200 ms suspicion.
    #[default]
    MetroFast,
}

/// Gossip timers after applying a profile and the overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectTimers {
    pub probe_interval: HumanDuration,
    pub probe_timeout: HumanDuration,
    pub indirect_probes: u32,
    pub suspect_after: HumanDuration,
}

impl Config {
    pub fn timers(&self) -> DetectTimers {
        let base = match self.profile {
            DetectProfile::Lan => DetectTimers {
                probe_interval: HumanDuration::from_secs(1),
                probe_timeout: HumanDuration::from_millis(500),
                indirect_probes: 3,
                suspect_after: HumanDuration::from_secs(3),
            },
            DetectProfile::MetroFast => DetectTimers {
                probe_interval: HumanDuration::from_millis(100),
                probe_timeout: HumanDuration::from_millis(30),
                indirect_probes: 5,
                suspect_after: HumanDuration::from_millis(200),
            },
        };
        DetectTimers {
            probe_interval: self.probe_interval.unwrap_or(base.probe_interval),
            probe_timeout: self.probe_timeout.unwrap_or(base.probe_timeout),
            indirect_probes: self.indirect_probes.unwrap_or(base.indirect_probes),
            suspect_after: self.suspect_after.unwrap_or(base.suspect_after),
        }
    }

    /// The fencing timers after defaults (see [`FenceTimers`]).
    /// `bfd_detect` is the detection time of the multihop BFD sessions
    /// between members, when they run (`[bfd] sites = true`).
    pub fn fence_timers(&self, bfd_detect: Option<Duration>) -> FenceTimers {
        let t = self.timers();
        let gossip = (t.suspect_after.get(), t.probe_interval.get());
        let (fence_after, margin) = match bfd_detect {
            // A BFD session that is Up proves the path within one detection
            // time, far more often than gossip packets arrive: silence can
            // be judged on that scale. The margin covers the two ends
            // noticing one transmit interval apart plus scheduling jitter.
            Some(detect) => (detect, detect),
            // Gossip packets from a live member arrive several times per
            // probe interval (pings, acks, the state push): a member silent
            // for a suspicion time is gone, not unlucky. The shorter the
            // window between fencing and the earliest dead vote, the fewer
            // short flaps fence a site without anyone taking over.
            None => gossip,
        };
        FenceTimers {
            fence_after: self.fence_after.unwrap_or(HumanDuration(fence_after)),
            margin: self.fence_margin.unwrap_or(HumanDuration(margin)),
            bfd_detect,
            gossip_fence_after: self.fence_after.unwrap_or(HumanDuration(gossip.0)),
            gossip_margin: self.fence_margin.unwrap_or(HumanDuration(gossip.1)),
        }
    }
}

/// When a cut-off member fences and when the others may vote it dead.
///
/// Silence is the time since a member last heard a member directly (any
/// authenticated gossip packet, or its multihop BFD session being Up). A
/// member that has heard fewer than a quorum within `fence_after` fences;
/// nobody votes a member dead before it has been silent for
/// `fence_after + margin`. So a site cut off from everyone has withdrawn its
/// services at least `margin` before the majority can take them over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FenceTimers {
    pub fence_after: HumanDuration,
    pub margin: HumanDuration,
    /// The multihop BFD detection time between members, when enabled.
    pub bfd_detect: Option<Duration>,
    /// The timers of a silence that began while the member's BFD session
    /// was not Up (it never came up, or went Down and is in its slow
    /// start): gossip's, as without BFD. An explicit `fence_after` /
    /// `fence_margin` sets both.
    pub gossip_fence_after: HumanDuration,
    pub gossip_margin: HumanDuration,
}

impl FenceTimers {
    /// Silence before a member may be voted dead.
    pub fn dead_after(&self) -> Duration {
        self.fence_after.get() + self.margin.get()
    }

    /// The timers for a silence that began without a BFD session Up to
    /// vouch for the member (see [`Self::gossip_fence_after`]).
    pub fn without_bfd(&self) -> FenceTimers {
        FenceTimers {
            fence_after: self.gossip_fence_after,
            margin: self.gossip_margin,
            bfd_detect: None,
            ..*self
        }
    }
}

/// A health check of a service at the local site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// `host:port` that must accept a TCP connection.
    pub tcp: Option<SocketAddr>,
    /// `http://...` URL that must answer 2xx (or `http_status`).
    pub http: Option<String>,
    /// With `http`: the exact status expected instead of any 2xx.
    pub http_status: Option<u16>,
    /// With `http`: a string the response body must contain.
    pub http_body: Option<String>,
    /// Command (argv) that must exit 0.
    pub exec: Option<Vec<String>>,
    #[serde(default = "default_health_interval")]
    pub interval: HumanDuration,
    /// Default: the interval.
    pub timeout: Option<HumanDuration>,
    /// Consecutive passes before healthy.
    #[serde(default = "default_rise_fall")]
    pub rise: u32,
    /// Consecutive failures before unhealthy.
    #[serde(default = "default_rise_fall")]
    pub fall: u32,
    /// Between checks while the result is in transition (a failure not yet
    /// `fall` in a row, a pass not yet `rise`), as HAProxy's `fastinter`:
    /// a dead service is confirmed in `fall - 1` fast intervals after its
    /// first failed check, not `fall - 1` intervals. Default: a quarter of
    /// the interval, at least 10 ms.
    #[serde(default)]
    pub fast_interval: Option<HumanDuration>,
}

impl HealthCheck {
    /// `fast_interval` after its default.
    pub fn fast_interval(&self) -> Duration {
        self.fast_interval.map_or_else(
            || (self.interval.get() / 4).clamp(Duration::from_millis(10), self.interval.get()),
            |f| f.get(),
        )
    }
}

fn default_health_interval() -> HumanDuration {
    HumanDuration::from_secs(1)
}
fn default_rise_fall() -> u32 {
    3
}

fn yes() -> bool {
    true
}

/// The health checks of `[[service]]` entries, each with its service.
pub fn health_checks(services: &[ServiceEntry<HealthCheck>]) -> Vec<(ServiceId, HealthCheck)> {
    services
        .iter()
        .filter_map(|s| Some((s.id.clone(), s.health.clone()?)))
        .collect()
}
