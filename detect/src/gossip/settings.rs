//! Gossip settings: the timers and cluster facts a member runs with,
//! resolved from the config once, and how they map onto foca's knobs.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::num::{NonZeroU8, NonZeroUsize};
use std::time::Duration;

use crate::config::{Config, DetectTimers, FenceTimers};
use crate::Cluster;
use orbit_core::SiteId;

use crate::error::DetectError;

/// Gossip timing, derived from `[detect]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timers {
    /// SWIM protocol period: one direct probe per period.
    pub probe_interval: Duration,
    /// How long to wait for a direct ack before probing indirectly.
    pub probe_timeout: Duration,
    pub indirect_probes: u32,
    /// Suspect-to-down time.
    pub suspect_after: Duration,
    /// How often membership updates are gossiped, and to how many members.
    pub gossip_interval: Duration,
    pub gossip_fanout: usize,
    /// How many times each membership update is piggybacked.
    pub max_transmissions: u8,
}

impl Timers {
    /// The `[detect]` timers plus the gossip cadence (a fifth of the probe
    /// interval, to 4 members: the measured starting point for metro-fast).
    pub fn from_detect(t: &DetectTimers) -> Self {
        let probe_interval = t.probe_interval.get();
        Timers {
            probe_interval,
            probe_timeout: t.probe_timeout.get(),
            indirect_probes: t.indirect_probes,
            suspect_after: t.suspect_after.get(),
            gossip_interval: (probe_interval / 5).max(Duration::from_millis(5)),
            gossip_fanout: 4,
            max_transmissions: 10,
        }
    }

    pub(super) fn foca_config(&self) -> foca::Config {
        let mut c = foca::Config::simple();
        c.probe_period = self.probe_interval;
        c.probe_rtt = self.probe_timeout;
        c.num_indirect_probes =
            NonZeroUsize::new(self.indirect_probes.max(1) as usize).unwrap_or(NonZeroUsize::MIN);
        c.suspect_to_down_after = self.suspect_after;
        c.max_transmissions =
            NonZeroU8::new(self.max_transmissions.max(1)).unwrap_or(NonZeroU8::MIN);
        // Keep down members long enough that stale gossip cannot resurrect
        // them, short enough that the table stays small.
        c.remove_down_after = Some((self.probe_interval * 150).max(Duration::from_secs(15)));
        c.max_packet_size = NonZeroUsize::new(1400).unwrap_or(NonZeroUsize::MIN);
        c.notify_down_members = true;
        let fanout = NonZeroUsize::new(self.gossip_fanout.max(1)).unwrap_or(NonZeroUsize::MIN);
        c.periodic_gossip = Some(foca::PeriodicParams {
            frequency: self.gossip_interval,
            num_members: fanout,
        });
        c.periodic_announce = Some(foca::PeriodicParams {
            frequency: (self.probe_interval * 20).max(Duration::from_secs(1)),
            num_members: NonZeroUsize::MIN,
        });
        // Lets the two sides of a healed partition find each other again.
        c.periodic_announce_to_down_members = Some(foca::PeriodicParams {
            frequency: (self.probe_interval * 5).max(Duration::from_millis(250)),
            num_members: NonZeroUsize::new(2).unwrap_or(NonZeroUsize::MIN),
        });
        c
    }
}

/// Everything the core needs to know, resolved from the config.
#[derive(Debug, Clone)]
pub struct GossipSettings {
    pub local: SiteId,
    /// Our gossip address (the `[[site]]`'s `gossip`).
    pub listen: SocketAddr,
    /// Milliseconds since the Unix epoch at start (the first generation).
    pub generation: u64,
    /// Every other member and its gossip address.
    pub peers: Vec<(SiteId, SocketAddr)>,
    pub timers: Timers,
    /// Sites whose data plane is probed (`[detect.probe]`).
    pub probed: BTreeSet<SiteId>,
    /// Members that must agree (for the `isolated` status only: the engine
    /// applies the quorum rule itself).
    pub quorum: usize,
    pub rng_seed: u64,
    /// Silence after which we count a member as out of reach (and fence
    /// if that leaves us below a quorum), and before which nobody is dead.
    pub fence: FenceTimers,
    /// `[detect] dead_on_silence`.
    pub dead_on_silence: bool,
    /// How long a verdict of [`Source::External`] holds after it was last
    /// reported.
    pub external_ttl: Duration,
}

/// How long an external detector's verdict (`POST /v1/events`) holds
/// unless the feeder repeats it: a feeder that died must not leave a stale
/// Dead behind that later makes any silence of the member fatal. Long
/// enough for a monitoring system that re-posts at its evaluation interval
/// (15-30 s).
pub const EXTERNAL_TTL: Duration = Duration::from_secs(60);

impl GossipSettings {
    /// Settings for the member `cluster.local`.
    pub fn from_config(
        detect: &Config,
        cluster: &Cluster,
        generation: u64,
    ) -> Result<Self, DetectError> {
        let local = cluster.local.clone();
        let me = cluster
            .sites
            .iter()
            .find(|s| s.id == local)
            .ok_or_else(|| DetectError::UnknownSite(local.to_string()))?;
        Ok(GossipSettings {
            local: local.clone(),
            listen: me.gossip,
            generation,
            peers: cluster
                .sites
                .iter()
                .filter(|s| s.id != local)
                .map(|s| (s.id.clone(), s.gossip))
                .collect(),
            timers: Timers::from_detect(&detect.timers()),
            probed: detect
                .probe
                .keys()
                .filter(|s| **s != local)
                .cloned()
                .collect(),
            quorum: cluster.quorum,
            rng_seed: generation,
            fence: cluster.fence,
            dead_on_silence: detect.dead_on_silence,
            external_ttl: EXTERNAL_TTL,
        })
    }
}
