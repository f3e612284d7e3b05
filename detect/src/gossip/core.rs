//! The sans-IO gossip member: foca (SWIM) plus orbit's state dissemination.
//!
//! `GossipCore::process(now, Input) -> Vec<Output>` is the only entry point.
//! Time is an input (`now`, a monotonic offset chosen by the caller), timers
//! are outputs, packets in and out are byte vectors: the tokio driver
//! (`driver.rs`) and the deterministic simulation (`tests/sim`) run the very
//! same code.
//!
//! What it adds on top of foca:
//! - the authentication envelope on every packet (`auth.rs`), checked before
//!   foca decodes anything;
//! - the three foca 2.0.0 workarounds: a suspect-to-down timer is dropped
//!   unless the member is still Suspect with the same incarnation (otherwise
//!   foca tells a member that refuted the suspicion that it is down); the
//!   join announce is repeated until a member is known, and repeated to
//!   configured peers foca does not know; identities carry a generation so a
//!   falsely-downed member rejoins at once under a new one;
//! - per-site verdicts that combine SWIM (and the other local detectors of
//!   a daemon: Serf, multihop BFD, an external feed) with the data-plane
//!   probe: a site is Dead only when its daemon is down AND its data plane
//!   is unreachable;
//! - Lifeguard self-awareness (`selfaware.rs`);
//! - dissemination of every member's verdicts, service health and engine
//!   state (`wire.rs`), emitted as `orbit_core::Event`s.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::num::{NonZeroU8, NonZeroUsize};
use std::time::Duration;

use foca::{Foca, NoCustomBroadcast, OwnedNotification, PostcardCodec, Runtime, State, Timer};
use orbit_core::api::{DetectReport, MemberEvidence};
use orbit_core::config::{Config, DetectTimers, FenceTimers};
use orbit_core::{Event, Liveness, ServiceId, SharedState, SiteId};
use rand::rngs::SmallRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::selfaware::SelfAwareness;
use crate::auth::{AuthKey, EnvelopeError, PacketKind};
use crate::error::DetectError;
use crate::identity::Member;
use crate::wire::{OriginState, RetiredCommands, StateMsg, STATE_VERSION};

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

    fn foca_config(&self) -> foca::Config {
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
    /// Settings for the node `config.node.site`.
    pub fn from_config(config: &Config, generation: u64) -> Result<Self, DetectError> {
        let local = config.node.site.clone();
        let me = config
            .site(&local)
            .ok_or_else(|| DetectError::UnknownSite(local.to_string()))?;
        Ok(GossipSettings {
            local: local.clone(),
            listen: me.gossip,
            generation,
            peers: config
                .sites
                .iter()
                .filter(|s| s.id != local)
                .map(|s| (s.id.clone(), s.gossip))
                .collect(),
            timers: Timers::from_detect(&config.detect.timers()),
            probed: config
                .detect
                .probe
                .keys()
                .filter(|s| **s != local)
                .cloned()
                .collect(),
            quorum: config.quorum(),
            rng_seed: generation,
            fence: config.fence_timers(),
            dead_on_silence: config.detect.dead_on_silence,
            external_ttl: EXTERNAL_TTL,
        })
    }
}

/// A timer the driver must hand back after `Output::Schedule::after`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GossipTimer {
    Swim(Timer<Member>),
    /// Re-announce to seeds (foca announces once).
    Announce,
    /// Periodic push of the state table.
    Push,
    /// Lifeguard self-check and verdict refresh, every probe interval.
    SelfCheck,
    /// A member's silence crosses `fence_after` or `dead_after`.
    Silence,
}

/// Inputs of [`GossipCore::process`].
#[derive(Debug, Clone)]
pub enum Input {
    /// Join: announce to the peers and start the periodic timers.
    Start,
    Packet {
        from: SocketAddr,
        data: Vec<u8>,
    },
    Timer(GossipTimer),
    /// The data-plane probe of `site` changed state (after rise/fall).
    DataPlane {
        site: SiteId,
        reachable: bool,
    },
    /// A local health check changed state (disseminated to the others).
    LocalHealth {
        service: ServiceId,
        healthy: bool,
    },
    /// The local engine's shared state changed: disseminate it.
    Shared(SharedState),
    /// A local interface toward `sites` gained or lost carrier (link watch).
    Link {
        interface: String,
        sites: Vec<SiteId>,
        up: bool,
    },
    /// Another local detector's view of `site`'s daemon; `None` withdraws
    /// it (e.g. a BFD session the peer disabled on purpose). The worst of
    /// SWIM and these decides whether the daemon is down. A verdict of
    /// [`Source::External`] is withdrawn by itself `external_ttl` after it
    /// was last given.
    Source {
        source: Source,
        site: SiteId,
        liveness: Option<Liveness>,
    },
}

/// A detector besides SWIM that tells this member whether a site's daemon
/// answers. Its view is folded into this member's verdict, which gossip
/// disseminates: so the quorum rule sees it, like SWIM's own view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A Serf agent's member list (the Serf adapter).
    Serf,
    /// A multihop BFD session to the site's daemon (RFC 5883).
    Bfd,
    /// An external detector (a monitoring system, a script) feeding this
    /// daemon through its API (`POST /v1/events`): it speaks for this
    /// member only, so its verdicts count here and nowhere else, and they
    /// expire unless repeated (`GossipSettings::external_ttl`).
    External,
}

/// Outputs of [`GossipCore::process`].
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Send { to: SocketAddr, data: Vec<u8> },
    Schedule { after: Duration, timer: GossipTimer },
    Event(Event),
}

/// What SWIM says about a site's daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DaemonState {
    /// Never heard of (yet).
    Unknown,
    Alive,
    Suspect,
    Down,
}

/// The local verdict about one site, richer than `Liveness`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteView {
    /// Not heard of yet, still within the start-up grace.
    Unknown,
    Alive,
    Suspect,
    /// SWIM (or BFD) gave up on the daemon, but it spoke to us directly
    /// within the fence time: news of its death is stale or wrong, and it is
    /// about to refute it (a member that was declared down rejoins under a
    /// new generation).
    StillHeard,
    /// Not heard from directly for `fence_after`: out of our reach (it does
    /// not count toward our quorum), not dead either.
    Silent,
    /// The daemon is silent but the site's data plane answers: not dead.
    DaemonUnresponsive,
    /// Both down, but we distrust our own view (Lifeguard): reported Suspect.
    DoubtedDead,
    Dead,
    /// Every local interface toward the site lost carrier: Dead at once.
    LinkDown,
    /// The member announced a planned departure in its own state (its
    /// `SharedState::leaving`, from its latest generation): whatever SWIM
    /// and silence say afterwards, it is gone on purpose, not dead. A
    /// restart publishes a newer generation without the flag.
    Left,
}

impl SiteView {
    pub fn liveness(self) -> Option<Liveness> {
        match self {
            SiteView::Unknown => None,
            SiteView::Alive => Some(Liveness::Alive),
            SiteView::Suspect
            | SiteView::StillHeard
            | SiteView::DaemonUnresponsive
            | SiteView::DoubtedDead => Some(Liveness::Suspect),
            SiteView::Silent => Some(Liveness::Silent),
            SiteView::Dead | SiteView::LinkDown => Some(Liveness::Dead),
            SiteView::Left => Some(Liveness::Left),
        }
    }
}

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
                view: snake(self.views.get(site).unwrap_or(&SiteView::Unknown)),
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

/// Peers per periodic anti-entropy push.
const PUSH_FANOUT: usize = 4;

type Swim = Foca<Member, PostcardCodec, SmallRng, NoCustomBroadcast>;

/// The foca runtime: seals and collects what foca wants done.
struct Collect<'a> {
    key: &'a AuthKey,
    out: &'a mut Vec<Output>,
    notes: &'a mut Vec<OwnedNotification<Member>>,
    counters: &'a mut Counters,
    scale: u32,
}

impl Runtime<Member> for Collect<'_> {
    fn notify(&mut self, notification: foca::Notification<'_, Member>) {
        self.notes.push(notification.to_owned());
    }

    fn send_to(&mut self, to: Member, data: &[u8]) {
        self.counters.packets_out += 1;
        self.out.push(Output::Send {
            to: to.addr,
            data: self.key.seal(PacketKind::Swim, data),
        });
    }

    fn submit_after(&mut self, timer: Timer<Member>, after: Duration) {
        // Lifeguard: a member in poor local health probes, escalates and
        // condemns more slowly.
        let after = match &timer {
            Timer::ProbeRandomMember(_)
            | Timer::SendIndirectProbe { .. }
            | Timer::ChangeSuspectToDown { .. } => after * self.scale,
            _ => after,
        };
        self.out.push(Output::Schedule {
            after,
            timer: GossipTimer::Swim(timer),
        });
    }
}

/// One gossip member.
pub struct GossipCore {
    settings: GossipSettings,
    key: AuthKey,
    swim: Swim,
    now: Duration,
    last_input: Option<Duration>,
    started_at: Option<Duration>,
    selfcheck_due: Option<Duration>,
    announce_ticks: u64,
    /// Sites whose daemon we have seen at least once.
    seen: BTreeSet<SiteId>,
    /// When each member last spoke to us directly (an authenticated packet
    /// from its address, or its BFD session seen Up), on our running time:
    /// a stall of our own loop does not count as their silence.
    last_heard: BTreeMap<SiteId, Duration>,
    /// When the pending `GossipTimer::Silence` fires.
    silence_due: Option<Duration>,
    dataplane: BTreeMap<SiteId, bool>,
    links: BTreeMap<String, (Vec<SiteId>, bool)>,
    sources: BTreeMap<SiteId, BTreeMap<Source, Liveness>>,
    /// When the external detector last reported each site.
    external_at: BTreeMap<SiteId, Duration>,
    views: BTreeMap<SiteId, SiteView>,
    own: OriginState,
    remote: BTreeMap<SiteId, OriginState>,
    emitted_verdicts: BTreeMap<(SiteId, SiteId), Liveness>,
    emitted_health: BTreeMap<(SiteId, ServiceId), bool>,
    self_aware: SelfAwareness,
    counters: Counters,
    dirty: bool,
    relay: BTreeSet<SiteId>,
    push_cursor: usize,
}

impl std::fmt::Debug for GossipCore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GossipCore")
            .field("identity", self.swim.identity())
            .field("views", &self.views)
            .finish_non_exhaustive()
    }
}

impl GossipCore {
    pub fn new(settings: GossipSettings, key: AuthKey) -> Self {
        let identity = Member::new(settings.listen, settings.local.clone(), settings.generation);
        let swim = Foca::new(
            identity,
            settings.timers.foca_config(),
            SmallRng::seed_from_u64(settings.rng_seed),
            PostcardCodec,
        );
        let own = OriginState {
            site: settings.local.clone(),
            generation: settings.generation,
            seq: 0,
            verdicts: Vec::new(),
            health: Vec::new(),
            commands: RetiredCommands,
            shared: None,
        };
        GossipCore {
            settings,
            key,
            swim,
            now: Duration::ZERO,
            last_input: None,
            started_at: None,
            selfcheck_due: None,
            announce_ticks: 0,
            seen: BTreeSet::new(),
            last_heard: BTreeMap::new(),
            silence_due: None,
            dataplane: BTreeMap::new(),
            links: BTreeMap::new(),
            sources: BTreeMap::new(),
            external_at: BTreeMap::new(),
            views: BTreeMap::new(),
            own,
            remote: BTreeMap::new(),
            emitted_verdicts: BTreeMap::new(),
            emitted_health: BTreeMap::new(),
            self_aware: SelfAwareness::new(8),
            counters: Counters::default(),
            dirty: false,
            relay: BTreeSet::new(),
            push_cursor: 0,
        }
    }

    pub fn identity(&self) -> &Member {
        self.swim.identity()
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    pub fn settings(&self) -> &GossipSettings {
        &self.settings
    }

    /// The current snapshot.
    pub fn status(&self) -> GossipStatus {
        let daemons = self
            .settings
            .peers
            .iter()
            .map(|(site, _)| (site.clone(), self.daemon_state(site)))
            .collect();
        let partitioned = self
            .views
            .iter()
            .filter(|(site, v)| {
                // SWIM hides a cut link behind indirect probes; the direct
                // data-plane probe does not.
                matches!(**v, SiteView::Dead | SiteView::LinkDown | SiteView::Silent)
                    || self.dataplane.get(*site) == Some(&false)
            })
            .filter(|(site, _)| {
                self.remote.values().any(|o| {
                    o.site != **site
                        && self.views.get(&o.site).and_then(|v| v.liveness())
                            != Some(Liveness::Dead)
                        && o.verdicts
                            .iter()
                            .any(|(s, l)| s == *site && *l == Liveness::Alive)
                })
            })
            .map(|(site, _)| site.clone())
            .collect();
        let reachable = 1 + self
            .views
            .values()
            .filter(|v| matches!(v.liveness(), Some(Liveness::Alive | Liveness::Suspect)))
            .count();
        GossipStatus {
            identity: self.swim.identity().clone(),
            views: self.views.clone(),
            silence: self
                .settings
                .peers
                .iter()
                .map(|(site, _)| (site.clone(), self.silence(site)))
                .collect(),
            fence_after: self.settings.fence.fence_after.get(),
            fence_margin: self.settings.fence.margin.get(),
            daemons,
            partitioned,
            isolated: reachable < self.settings.quorum,
            local_health_score: self.self_aware.score(),
            sources: self.sources.clone(),
            dataplane: self.dataplane.clone(),
            counters: self.counters,
        }
    }

    /// Folds one input in at time `now`.
    pub fn process(&mut self, now: Duration, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        self.now = now;
        // Lifeguard: the self-check fires every probe interval, so a longer
        // gap between any two inputs means our own loop was stalled.
        if let Some(last) = self.last_input {
            let gap = now.saturating_sub(last);
            if gap > self.settings.timers.probe_interval * 2 {
                self.self_aware
                    .stalled(gap, self.settings.timers.probe_interval);
                // Whatever the others sent meanwhile waits in our socket: the
                // time we were frozen is not their silence.
                for heard in self.last_heard.values_mut() {
                    *heard = (*heard + gap).min(now);
                }
            }
        }
        self.last_input = Some(now);
        let mut notes = Vec::new();
        match input {
            Input::Start => self.start(&mut out, &mut notes),
            Input::Packet { from, data } => self.packet(from, &data, &mut out, &mut notes),
            Input::Timer(timer) => self.timer(timer, &mut out, &mut notes),
            Input::Link {
                interface,
                sites,
                up,
            } => {
                self.links.insert(interface, (sites, up));
            }
            Input::DataPlane { site, reachable } => {
                self.dataplane.insert(site, reachable);
            }
            Input::Source {
                source,
                site,
                liveness,
            } => {
                let known = self.sources.entry(site.clone()).or_default();
                let was_up = known.get(&Source::Bfd) == Some(&Liveness::Alive);
                match liveness {
                    Some(l) => known.insert(source, l),
                    None => known.remove(&source),
                };
                if source == Source::External {
                    match liveness {
                        Some(_) => self.external_at.insert(site.clone(), now),
                        None => self.external_at.remove(&site),
                    };
                }
                if source == Source::Bfd && was_up && liveness != Some(Liveness::Alive) {
                    // BFD stays Up while packets arrive within its detection
                    // time: the last one came about that long ago.
                    let detect = self.settings.fence.bfd_detect.unwrap_or_default();
                    self.heard(site, now.saturating_sub(detect));
                }
            }
            Input::LocalHealth { service, healthy } => {
                let entry = self.own.health.iter_mut().find(|(s, _)| *s == service);
                match entry {
                    Some((_, h)) if *h == healthy => {}
                    Some((_, h)) => {
                        *h = healthy;
                        self.bump_own();
                    }
                    None => {
                        self.own.health.push((service, healthy));
                        self.bump_own();
                    }
                }
            }
            Input::Shared(state) => {
                if self.own.shared.as_ref() != Some(&state) {
                    self.own.shared = Some(state);
                    self.bump_own();
                }
            }
        }
        self.handle_notes(notes);
        self.expire_external();
        self.refresh_views(&mut out);
        if self.dirty {
            // Our own view changed: tell every peer directly, at once.
            self.dirty = false;
            let data = self.state_packet(std::slice::from_ref(&self.own));
            self.send_to_peers(&data, self.settings.peers.len(), &mut out);
        }
        if !self.relay.is_empty() {
            // Fresh news about other origins: pass it on to a few peers, so
            // it reaches members that cannot hear the origin directly.
            let fresh: Vec<OriginState> = std::mem::take(&mut self.relay)
                .iter()
                .filter_map(|site| self.remote.get(site).cloned())
                .collect();
            let data = self.state_packet(&fresh);
            self.send_to_peers(&data, PUSH_FANOUT, &mut out);
        }
        out
    }

    /// Withdraws the external detector's verdicts it has not repeated for
    /// `external_ttl`. Some input arrives at least every probe interval
    /// (the self-check), so a verdict outlives its lease by at most that.
    fn expire_external(&mut self) {
        let ttl = self.settings.external_ttl;
        let now = self.now;
        let expired: Vec<SiteId> = self
            .external_at
            .iter()
            .filter(|(_, at)| now.saturating_sub(**at) >= ttl)
            .map(|(site, _)| site.clone())
            .collect();
        for site in expired {
            self.external_at.remove(&site);
            if let Some(l) = self
                .sources
                .get_mut(&site)
                .and_then(|s| s.remove(&Source::External))
            {
                tracing::info!(%site, liveness = ?l, ?ttl, "external verdict expired: the feeder did not repeat it");
            }
        }
    }

    fn runtime<'a>(
        key: &'a AuthKey,
        out: &'a mut Vec<Output>,
        notes: &'a mut Vec<OwnedNotification<Member>>,
        counters: &'a mut Counters,
        scale: u32,
    ) -> Collect<'a> {
        Collect {
            key,
            out,
            notes,
            counters,
            scale,
        }
    }

    fn start(&mut self, out: &mut Vec<Output>, notes: &mut Vec<OwnedNotification<Member>>) {
        if self.started_at.is_some() {
            return;
        }
        self.started_at = Some(self.now);
        self.announce_to_peers(true, out, notes);
        let t = self.settings.timers;
        out.push(Output::Schedule {
            after: self.announce_period(),
            timer: GossipTimer::Announce,
        });
        out.push(Output::Schedule {
            after: t.probe_interval,
            timer: GossipTimer::Push,
        });
        self.selfcheck_due = Some(self.now + t.probe_interval);
        out.push(Output::Schedule {
            after: t.probe_interval,
            timer: GossipTimer::SelfCheck,
        });
        self.dirty = true;
    }

    fn announce_period(&self) -> Duration {
        (self.settings.timers.probe_interval * 2).max(Duration::from_millis(50))
    }

    /// foca 2.0.0 announces once and never retries (fact 2 of the issue):
    /// announce to every peer while nobody is known, and to peers foca has
    /// no record of at all every few periods.
    fn announce_to_peers(
        &mut self,
        all: bool,
        out: &mut Vec<Output>,
        notes: &mut Vec<OwnedNotification<Member>>,
    ) {
        let known: BTreeSet<SocketAddr> = self
            .swim
            .iter_membership_state()
            .map(|m| m.id().addr)
            .collect();
        let targets: Vec<(SiteId, SocketAddr)> = self
            .settings
            .peers
            .iter()
            .filter(|(_, addr)| all || !known.contains(addr))
            .cloned()
            .collect();
        for (site, addr) in targets {
            // foca ignores the destination's generation: any will do.
            let dst = Member::new(addr, site, 0);
            self.counters.announces += 1;
            let mut rt = Self::runtime(
                &self.key,
                out,
                notes,
                &mut self.counters,
                self.self_aware.scale(),
            );
            if let Err(e) = self.swim.announce(dst, &mut rt) {
                tracing::debug!(error = %e, %addr, "announce failed");
            }
        }
    }

    fn packet(
        &mut self,
        from: SocketAddr,
        data: &[u8],
        out: &mut Vec<Output>,
        notes: &mut Vec<OwnedNotification<Member>>,
    ) {
        self.counters.packets_in += 1;
        let (kind, body) = match self.key.open(data) {
            Ok(x) => x,
            Err(e) => {
                self.counters.bad_envelope += 1;
                if e == EnvelopeError::BadMac {
                    self.counters.bad_mac += 1;
                }
                tracing::debug!(%from, error = %e, "dropped gossip packet");
                return;
            }
        };
        // A member's own voice: whatever anyone reports about it, it is
        // talking to us now.
        if let Some(site) = self.peer_at(from) {
            self.heard(site, self.now);
        }
        match kind {
            PacketKind::Swim => {
                let mut rt = Self::runtime(
                    &self.key,
                    out,
                    notes,
                    &mut self.counters,
                    self.self_aware.scale(),
                );
                if let Err(e) = self.swim.handle_data(body, &mut rt) {
                    self.counters.swim_rejected += 1;
                    tracing::debug!(%from, error = %e, "foca rejected packet");
                }
            }
            PacketKind::State => match StateMsg::decode(body) {
                Ok(msg) => {
                    if self.settings.peers.iter().any(|(s, _)| *s == msg.sender) {
                        self.heard(msg.sender.clone(), self.now);
                        // Our own verdict about the sender (it speaks: a
                        // fence may lift) goes out before its news, so the
                        // engine takes that news as the sync after fencing.
                        self.refresh_views(out);
                    }
                    self.merge_state(msg, out)
                }
                Err(e) => {
                    self.counters.bad_state += 1;
                    tracing::debug!(%from, error = %e, "dropped state message");
                }
            },
        }
    }

    fn timer(
        &mut self,
        timer: GossipTimer,
        out: &mut Vec<Output>,
        notes: &mut Vec<OwnedNotification<Member>>,
    ) {
        let t = self.settings.timers;
        match timer {
            GossipTimer::Swim(timer) => {
                if let Timer::ChangeSuspectToDown {
                    member_id,
                    incarnation,
                    ..
                } = &timer
                {
                    // foca 2.0.0 fact 1: only condemn a member that is still
                    // Suspect with the incarnation the timer was set for.
                    let still_suspect = self.swim.iter_membership_state().any(|m| {
                        m.id() == member_id
                            && m.state() == State::Suspect
                            && m.incarnation() == *incarnation
                    });
                    if !still_suspect {
                        self.counters.stale_suspect_timers += 1;
                        return;
                    }
                }
                let mut rt = Self::runtime(
                    &self.key,
                    out,
                    notes,
                    &mut self.counters,
                    self.self_aware.scale(),
                );
                if let Err(e) = self.swim.handle_timer(timer, &mut rt) {
                    tracing::debug!(error = %e, "foca timer");
                }
            }
            GossipTimer::Announce => {
                self.announce_ticks += 1;
                if self.swim.num_members() == 0 {
                    self.announce_to_peers(true, out, notes);
                } else if self.announce_ticks % 5 == 0 {
                    self.announce_to_peers(false, out, notes);
                }
                out.push(Output::Schedule {
                    after: self.announce_period(),
                    timer: GossipTimer::Announce,
                });
            }
            GossipTimer::Push => {
                // Anti-entropy: changes are pushed to everyone at once; this
                // periodic round covers lost packets, to a few peers at a time.
                self.push_round(out);
                out.push(Output::Schedule {
                    after: t.probe_interval,
                    timer: GossipTimer::Push,
                });
            }
            GossipTimer::Silence => {
                if self.silence_due.is_some_and(|due| due <= self.now) {
                    self.silence_due = None;
                }
                // The views are refreshed after every input.
            }
            GossipTimer::SelfCheck => {
                if let Some(due) = self.selfcheck_due {
                    let late = self.now.saturating_sub(due);
                    if late > t.probe_interval {
                        self.self_aware.stalled(late, t.probe_interval);
                    } else {
                        self.self_aware.healthy_period();
                    }
                }
                self.selfcheck_due = Some(self.now + t.probe_interval);
                out.push(Output::Schedule {
                    after: t.probe_interval,
                    timer: GossipTimer::SelfCheck,
                });
            }
        }
    }

    fn handle_notes(&mut self, notes: Vec<OwnedNotification<Member>>) {
        for note in notes {
            match note {
                OwnedNotification::MemberUp(m) => {
                    tracing::debug!(member = ?m, "member up");
                    self.seen.insert(m.site);
                }
                OwnedNotification::MemberDown(m) => {
                    tracing::debug!(member = ?m, "member down");
                }
                OwnedNotification::Rename(old, new) => {
                    tracing::debug!(?old, ?new, "member renamed");
                    self.seen.insert(new.site);
                }
                OwnedNotification::Defunct => {
                    self.counters.declared_down += 1;
                    self.self_aware.declared_down();
                    tracing::info!("the cluster declared us down; rejoining");
                }
                OwnedNotification::Rejoin(id) => {
                    tracing::info!(
                        generation = id.generation,
                        "rejoined under a new generation"
                    );
                }
                OwnedNotification::Active => tracing::debug!("gossip active"),
                OwnedNotification::Idle => tracing::debug!("gossip idle: no member known"),
                _ => {}
            }
        }
    }

    fn daemon_state(&self, site: &SiteId) -> DaemonState {
        let best = self
            .swim
            .iter_membership_state()
            .filter(|m| &m.id().site == site)
            .max_by_key(|m| (m.id().generation, m.incarnation()));
        match best.map(|m| m.state()) {
            Some(State::Alive) => DaemonState::Alive,
            Some(State::Suspect) => DaemonState::Suspect,
            Some(State::Down) => DaemonState::Down,
            None if self.seen.contains(site) => DaemonState::Down,
            None => DaemonState::Unknown,
        }
    }

    /// SWIM's view of `site`'s daemon made worse by any other local
    /// detector that sees worse: the fastest detector of a dead daemon wins,
    /// while the data-plane check and Lifeguard still apply after it.
    fn with_sources(&self, site: &SiteId, swim: DaemonState) -> DaemonState {
        let rank = |d: DaemonState| match d {
            DaemonState::Alive => 0,
            DaemonState::Suspect => 1,
            DaemonState::Unknown | DaemonState::Down => 2,
        };
        let mut worst = swim;
        for l in self.sources.get(site).into_iter().flat_map(|m| m.values()) {
            let d = match l {
                Liveness::Alive => DaemonState::Alive,
                Liveness::Suspect | Liveness::Silent => DaemonState::Suspect,
                Liveness::Dead | Liveness::Left => DaemonState::Down,
            };
            if rank(d) > rank(worst) {
                worst = d;
            }
        }
        worst
    }

    /// The member at gossip address `addr`.
    fn peer_at(&self, addr: SocketAddr) -> Option<SiteId> {
        self.settings
            .peers
            .iter()
            .find(|(_, a)| *a == addr)
            .map(|(s, _)| s.clone())
    }

    fn heard(&mut self, site: SiteId, at: Duration) {
        let last = self.last_heard.entry(site).or_insert(at);
        *last = (*last).max(at);
    }

    /// How long `site` has not spoken to us directly. A BFD session that is
    /// Up is the member speaking right now.
    fn silence(&self, site: &SiteId) -> Duration {
        let bfd_up = self
            .sources
            .get(site)
            .and_then(|s| s.get(&Source::Bfd))
            .is_some_and(|l| *l == Liveness::Alive);
        if bfd_up {
            return Duration::ZERO;
        }
        let since = self
            .last_heard
            .get(site)
            .copied()
            .or(self.started_at)
            .unwrap_or(self.now);
        self.now.saturating_sub(since)
    }

    /// Schedules a refresh for when the next member's silence crosses a
    /// threshold, so fencing and dead votes happen on time, not on the next
    /// unrelated input.
    fn schedule_silence_check(&mut self, out: &mut Vec<Output>) {
        let f = self.settings.fence;
        let next = self
            .settings
            .peers
            .iter()
            .filter_map(|(site, _)| {
                let silence = self.silence(site);
                [f.fence_after.get(), f.dead_after()]
                    .into_iter()
                    .filter(|t| *t > silence)
                    .map(|t| t - silence)
                    .min()
            })
            .min();
        let Some(after) = next else { return };
        let due = self.now + after;
        if self.silence_due.is_none_or(|pending| due < pending) {
            self.silence_due = Some(due);
            out.push(Output::Schedule {
                after,
                timer: GossipTimer::Silence,
            });
        }
    }

    /// How long a never-seen peer gets before it counts as down.
    fn startup_grace(&self) -> Duration {
        let t = self.settings.timers;
        t.probe_interval * 10 + t.suspect_after
    }

    /// Whether `site`'s latest published state says it is leaving.
    fn leaving(&self, site: &SiteId) -> bool {
        self.remote
            .get(site)
            .and_then(|o| o.shared.as_ref())
            .is_some_and(|s| s.leaving)
    }

    fn site_view(&self, site: &SiteId) -> SiteView {
        if self.leaving(site) {
            return SiteView::Left;
        }
        let mut behind = self
            .links
            .values()
            .filter(|(sites, _)| sites.contains(site))
            .peekable();
        if behind.peek().is_some() && behind.all(|(_, up)| !up) {
            return SiteView::LinkDown;
        }
        let daemon = match self.daemon_state(site) {
            DaemonState::Unknown => match self.started_at {
                Some(at) if self.now.saturating_sub(at) >= self.startup_grace() => {
                    DaemonState::Down
                }
                _ => return SiteView::Unknown,
            },
            d => d,
        };
        let daemon = self.with_sources(site, daemon);
        let silence = self.silence(site);
        let fence = self.settings.fence;
        if silence < fence.fence_after.get() {
            return match daemon {
                DaemonState::Alive => SiteView::Alive,
                DaemonState::Suspect => SiteView::Suspect,
                DaemonState::Unknown | DaemonState::Down => SiteView::StillHeard,
            };
        }
        // Nobody is voted dead before the member has been silent for
        // `fence_after + margin`: by then, if it is the one cut off, it has
        // fenced itself. After that, SWIM suspecting it is as good as SWIM
        // giving up (which takes a suspicion longer: every cut longer than
        // `fence_after` but shorter than that would fence the site without
        // anyone taking over). While SWIM still hears it through other
        // members, it is only silent to us. The data-plane check and
        // Lifeguard still apply.
        let given_up = match daemon {
            DaemonState::Unknown | DaemonState::Down => true,
            DaemonState::Suspect => self.settings.dead_on_silence,
            DaemonState::Alive => false,
        };
        if silence < fence.dead_after() || !given_up {
            return SiteView::Silent;
        }
        let data_plane_down = if self.settings.probed.contains(site) {
            // No probe result yet counts as reachable: never condemn a site
            // on missing evidence.
            self.dataplane.get(site) == Some(&false)
        } else {
            true
        };
        if !data_plane_down {
            SiteView::DaemonUnresponsive
        } else if self.self_aware.distrusts_own_suspicions() {
            SiteView::DoubtedDead
        } else {
            SiteView::Dead
        }
    }

    fn refresh_views(&mut self, out: &mut Vec<Output>) {
        if self.started_at.is_none() {
            return;
        }
        self.schedule_silence_check(out);
        let peers: Vec<SiteId> = self.settings.peers.iter().map(|(s, _)| s.clone()).collect();
        let mut verdicts = Vec::new();
        for site in peers {
            let view = self.site_view(&site);
            let before = self.views.insert(site.clone(), view);
            if before != Some(view) {
                tracing::info!(%site, ?before, now = ?view, "site view changed");
            }
            if let Some(l) = view.liveness() {
                verdicts.push((site, l));
            }
        }
        if verdicts != self.own.verdicts {
            for (site, l) in &verdicts {
                let old = self
                    .own
                    .verdicts
                    .iter()
                    .find(|(s, _)| s == site)
                    .map(|x| x.1);
                if old != Some(*l) {
                    out.push(Output::Event(Event::Verdict {
                        observer: self.settings.local.clone(),
                        subject: site.clone(),
                        liveness: *l,
                    }));
                }
            }
            self.own.verdicts = verdicts;
            self.bump_own();
        }
    }

    fn bump_own(&mut self) {
        self.own.seq += 1;
        self.dirty = true;
    }

    fn state_packet(&self, origins: &[OriginState]) -> Vec<u8> {
        let msg = StateMsg {
            version: STATE_VERSION,
            sender: self.settings.local.clone(),
            origins: origins.to_vec(),
        };
        self.key.seal(PacketKind::State, &msg.encode())
    }

    /// The next `count` peers, round robin (all of them if `count` is at
    /// least the number of peers), as indices into `settings.peers`.
    fn next_peers(&mut self, count: usize) -> Vec<usize> {
        let peers = self.settings.peers.len();
        if count >= peers {
            return (0..peers).collect();
        }
        (0..count)
            .map(|_| {
                let i = self.push_cursor % peers;
                self.push_cursor = self.push_cursor.wrapping_add(1);
                i
            })
            .collect()
    }

    fn send_to(
        &mut self,
        peers: impl IntoIterator<Item = usize>,
        data: &[u8],
        out: &mut Vec<Output>,
    ) {
        for i in peers {
            self.counters.packets_out += 1;
            out.push(Output::Send {
                to: self.settings.peers[i].1,
                data: data.to_vec(),
            });
        }
    }

    /// Sends `data` to `count` peers, round robin.
    fn send_to_peers(&mut self, data: &[u8], count: usize, out: &mut Vec<Output>) {
        let targets = self.next_peers(count);
        self.send_to(targets, data, out);
    }

    /// Anti-entropy: the whole table to a few peers, and our own state to
    /// every other one: each member must hear from every other several times
    /// per `fence_after`, however large the cluster, or silence would fence
    /// it (SWIM alone reaches a given peer only every few probe intervals
    /// once there are more than a handful of members).
    fn push_round(&mut self, out: &mut Vec<Output>) {
        let mut all = Vec::with_capacity(self.remote.len() + 1);
        all.push(self.own.clone());
        all.extend(self.remote.values().cloned());
        let table = self.state_packet(&all);
        let full = self.next_peers(PUSH_FANOUT);
        self.send_to(full.iter().copied(), &table, out);
        let rest: Vec<usize> = (0..self.settings.peers.len())
            .filter(|i| !full.contains(i))
            .collect();
        if !rest.is_empty() {
            let own = self.state_packet(std::slice::from_ref(&self.own));
            self.send_to(rest, &own, out);
        }
    }

    fn merge_state(&mut self, msg: StateMsg, out: &mut Vec<Output>) {
        for origin in msg.origins {
            if origin.site == self.settings.local {
                continue;
            }
            if !self.settings.peers.iter().any(|(s, _)| *s == origin.site) {
                tracing::debug!(site = %origin.site, "state of a non-member ignored");
                continue;
            }
            if let Some(known) = self.remote.get(&origin.site) {
                if !origin.newer_than(known) {
                    continue;
                }
            }
            self.emit_origin(&origin, out);
            self.relay.insert(origin.site.clone());
            self.remote.insert(origin.site.clone(), origin);
        }
    }

    fn emit_origin(&mut self, origin: &OriginState, out: &mut Vec<Output>) {
        for (subject, l) in &origin.verdicts {
            let key = (origin.site.clone(), subject.clone());
            if self.emitted_verdicts.get(&key) != Some(l) {
                self.emitted_verdicts.insert(key, *l);
                out.push(Output::Event(Event::Verdict {
                    observer: origin.site.clone(),
                    subject: subject.clone(),
                    liveness: *l,
                }));
            }
        }
        for (service, healthy) in &origin.health {
            let key = (origin.site.clone(), service.clone());
            if self.emitted_health.get(&key) != Some(healthy) {
                self.emitted_health.insert(key, *healthy);
                out.push(Output::Event(Event::Health {
                    site: origin.site.clone(),
                    service: service.clone(),
                    healthy: *healthy,
                }));
            }
        }
        if let Some(shared) = &origin.shared {
            // Every newer publication, changed or not: it shows the origin's
            // placements as of now, which is what an engine that was fenced
            // waits for before it claims anything again.
            if origin.site != self.settings.local {
                out.push(Output::Event(Event::Peer {
                    from: origin.site.clone(),
                    state: shared.clone(),
                }));
            }
        }
    }
}
