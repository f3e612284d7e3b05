//! The sans-IO gossip member: its inputs and outputs, and the loop that
//! ties the parts together.
//!
//! `GossipCore::process(now, Input) -> Vec<Output>` is the only entry point.
//! Time is an input (`now`, a monotonic offset chosen by the caller), timers
//! are outputs, packets in and out are byte vectors: the tokio driver
//! (`driver.rs`) and the deterministic simulation (`tests/sim`) run the very
//! same code. Every packet is authenticated (`auth.rs`) before anything
//! decodes it. After each input the member recomputes its verdict about
//! every peer (`verdict.rs`) from SWIM (`swim.rs`), its other evidence
//! (`evidence.rs`) and Lifeguard (`selfaware.rs`), and disseminates what
//! changed (`dissemination.rs`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use foca::Timer;
use orbit_core::{Event, Liveness, ServiceId, SharedState, SiteId};

use super::dissemination::first_index;
use super::dissemination::{Dissemination, Sink};
use super::evidence::Evidence;
use super::selfaware::SelfAwareness;
use super::settings::GossipSettings;
use super::status::{Counters, GossipStatus};
use super::swim::{Ctx, Swim};
use super::verdict::{self, DaemonState, Facts, Probe, SiteView, Source, Thresholds};
use crate::auth::{AuthKey, EnvelopeError, PacketKind};
use crate::config::FenceTimers;
use crate::identity::Member;
use crate::wire::StateMsg;
use crate::wire_v2::{DeltaMsg, DigestMsg, PushPullMsg};

/// Between two periodic push-pulls (memberlist's default; deltas and
/// digests do the work, this only bounds how long a bug could keep two
/// copies apart).
const PUSH_PULL_INTERVAL: Duration = Duration::from_secs(30);

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
    /// Our verdicts again to every peer after one changed.
    Repeat,
    /// The periodic push-pull (TCP) with one peer.
    PushPull,
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
    /// One side of a push-pull, read from a TCP connection: the answer to
    /// our `Output::PushPull` (`conn: None`), or a peer's request on the
    /// connection the driver accepted as `conn` (answered with
    /// `Output::PushPullAnswer`). `data` is the frame's sealed packet.
    PushPull {
        from: SocketAddr,
        conn: Option<u64>,
        data: Vec<u8>,
    },
    /// Our `Output::PushPull` to `to` failed (connect, deadline, a
    /// closed connection): another may start.
    PushPullFailed {
        to: SocketAddr,
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
    Shared(Box<SharedState>),
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

/// Outputs of [`GossipCore::process`].
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Send {
        to: SocketAddr,
        data: Vec<u8>,
    },
    /// Connect over TCP to `to` (a peer's gossip address), send `data` in
    /// one frame (`crate::frame`), read the answer's frame and hand it back
    /// as `Input::PushPull { conn: None, .. }`.
    PushPull {
        to: SocketAddr,
        data: Vec<u8>,
    },
    /// Answer the push-pull that arrived on accepted connection `conn`.
    PushPullAnswer {
        conn: u64,
        data: Vec<u8>,
    },
    Schedule {
        after: Duration,
        timer: GossipTimer,
    },
    /// Boxed: a peer's shared state is by far the largest output.
    Event(Box<Event>),
    /// Probe `site`'s data plane now, with a burst of `DATAPLANE_FALL`
    /// attempts at once, instead of at the next probe interval: its daemon
    /// just stopped answering (SWIM suspicion, a BFD Down, silence), and
    /// the verdict waits on the probe. Only for probed sites.
    ProbeNow {
        site: SiteId,
    },
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
    /// When the pending `GossipTimer::Silence` fires.
    silence_due: Option<Duration>,
    /// The start-up grace was over at the last refresh of every view.
    grace_settled: bool,
    evidence: Evidence,
    views: BTreeMap<SiteId, SiteView>,
    /// Each peer's index in `settings.peers`, by site and by address: a
    /// datagram arrives from every peer each probe interval, and a scan
    /// per datagram made a cluster of N cost N^3 per interval.
    peer_index: BTreeMap<SiteId, usize>,
    peer_by_addr: BTreeMap<SocketAddr, usize>,
    state: Dissemination,
    self_aware: SelfAwareness,
    counters: Counters,
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
        let swim = Swim::new(identity, &settings.timers, settings.rng_seed);
        let state = Dissemination::new(
            settings.local.clone(),
            settings.generation,
            settings.peers.clone(),
        );
        let peer_index = first_index(settings.peers.iter().map(|(s, _)| s.clone()));
        let peer_by_addr = first_index(settings.peers.iter().map(|(_, a)| *a));
        GossipCore {
            peer_index,
            peer_by_addr,
            settings,
            key,
            swim,
            now: Duration::ZERO,
            last_input: None,
            started_at: None,
            selfcheck_due: None,
            silence_due: None,
            grace_settled: false,
            evidence: Evidence::default(),
            views: BTreeMap::new(),
            state,
            self_aware: SelfAwareness::new(8),
            counters: Counters::default(),
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
            .map(|(site, _)| (site.clone(), self.swim.daemon_state(site)))
            .collect();
        let dataplane = self.evidence.dataplane();
        let partitioned = self
            .views
            .iter()
            .filter(|(site, v)| {
                // SWIM hides a cut link behind indirect probes; the direct
                // data-plane probe does not.
                matches!(**v, SiteView::Dead | SiteView::LinkDown | SiteView::Silent)
                    || dataplane.get(*site) == Some(&false)
            })
            .filter(|(site, _)| {
                self.state.remote_verdicts().any(|(origin, verdicts)| {
                    origin != *site
                        && self.views.get(origin).and_then(|v| v.liveness()) != Some(Liveness::Dead)
                        && verdicts
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
            sources: self.evidence.sources().clone(),
            dataplane: dataplane.clone(),
            counters: self.counters,
        }
    }

    /// Folds one input in at time `now`.
    pub fn process(&mut self, now: Duration, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        self.now = now;
        // Lifeguard: the self-check fires every probe interval, so a longer
        // gap between any two inputs means our own loop was stalled.
        let mut stalled = false;
        if let Some(last) = self.last_input {
            let gap = now.saturating_sub(last);
            if gap > self.settings.timers.probe_interval * 2 {
                stalled = true;
                self.self_aware
                    .stalled(gap, self.settings.timers.probe_interval);
                self.evidence.stalled(gap, now);
            }
        }
        self.last_input = Some(now);
        // The views this input can have changed: every one, unless it is a
        // state message (see `packet`).
        let mut touched = None;
        match input {
            Input::Start => self.start(&mut out),
            Input::Packet { from, data } => touched = self.packet(from, &data, &mut out),
            Input::PushPull { from, conn, data } => self.push_pull(from, conn, &data, &mut out),
            Input::PushPullFailed { to } => {
                if let Some(site) = self.peer_at(to) {
                    self.state.push_pull_failed(&site);
                }
            }
            Input::Timer(timer) => self.timer(timer, &mut out),
            Input::Link {
                interface,
                sites,
                up,
            } => self.evidence.set_link(interface, sites, up),
            Input::DataPlane { site, reachable } => self.evidence.set_dataplane(site, reachable),
            Input::Source {
                source,
                site,
                liveness,
            } => {
                let bfd_detect = self.settings.fence.bfd_detect.unwrap_or_default();
                self.evidence
                    .set_source(source, site, liveness, now, bfd_detect);
            }
            Input::LocalHealth { service, healthy } => self.state.set_health(service, healthy),
            Input::Shared(state) => self.state.set_shared(*state),
        }
        let expired = self
            .evidence
            .expire_external(now, self.settings.external_ttl);
        match touched {
            // Nothing that time alone changes (a silence threshold has its
            // own timer; the start-up grace and an external lease do not)
            // can have moved since the last full refresh.
            Some(sites) if !stalled && !expired && self.grace_settled => {
                for site in sites {
                    self.refresh(Some(&site), &mut out);
                }
            }
            _ => self.refresh_views(&mut out),
        }
        self.state.flush(Sink {
            key: &self.key,
            counters: &mut self.counters,
            out: &mut out,
            now,
        });
        if self.state.take_repeat() {
            out.push(Output::Schedule {
                after: self.repeat_gap(),
                timer: GossipTimer::Repeat,
            });
        }
        out
    }

    /// Between two sends of a changed verdict: short against the detection
    /// time, long enough that a burst of loss is not the same for both.
    fn repeat_gap(&self) -> Duration {
        (self.settings.timers.gossip_interval / 4).max(Duration::from_millis(2))
    }

    /// Where a SWIM step writes to.
    fn ctx<'a>(
        key: &'a AuthKey,
        out: &'a mut Vec<Output>,
        counters: &'a mut Counters,
        self_aware: &'a mut SelfAwareness,
    ) -> Ctx<'a> {
        Ctx {
            key,
            out,
            counters,
            self_aware,
        }
    }

    fn start(&mut self, out: &mut Vec<Output>) {
        if self.started_at.is_some() {
            return;
        }
        self.started_at = Some(self.now);
        let ctx = Self::ctx(&self.key, out, &mut self.counters, &mut self.self_aware);
        self.swim.announce(&self.settings.peers, true, ctx);
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
        self.state.announce_own();
        // Join: a whole-state sync with one peer (memberlist's join
        // push-pull); the periodic one follows.
        self.push_pull_round(out);
    }

    /// A whole-state sync with one peer, and the next one scheduled.
    fn push_pull_round(&mut self, out: &mut Vec<Output>) {
        self.state.push_pull_round(Sink {
            key: &self.key,
            counters: &mut self.counters,
            out,
            now: self.now,
        });
        out.push(Output::Schedule {
            after: PUSH_PULL_INTERVAL,
            timer: GossipTimer::PushPull,
        });
    }

    fn announce_period(&self) -> Duration {
        (self.settings.timers.probe_interval * 2).max(Duration::from_millis(50))
    }

    /// Takes in one datagram. A state message changes only what we know
    /// of its sender (its silence, its own state) and of the origin it
    /// carries (whether it is leaving): it returns those sites, whose views
    /// are all that need refreshing; `None` for anything else (SWIM moves
    /// any member).
    fn packet(
        &mut self,
        from: SocketAddr,
        data: &[u8],
        out: &mut Vec<Output>,
    ) -> Option<Vec<SiteId>> {
        self.counters.packets_in += 1;
        let (kind, body) = match self.key.open(data) {
            Ok(x) => x,
            Err(e) => {
                self.counters.bad_envelope += 1;
                if e == EnvelopeError::BadMac {
                    self.counters.bad_mac += 1;
                }
                tracing::debug!(%from, error = %e, "dropped gossip packet");
                return None;
            }
        };
        // A member's own voice: whatever anyone reports about it, it is
        // talking to us now.
        let speaker = self.peer_at(from);
        if let Some(site) = &speaker {
            self.evidence.heard(site.clone(), self.now);
        }
        let mut touched: Vec<SiteId> = speaker.into_iter().collect();
        match kind {
            PacketKind::Swim => {
                let ctx = Self::ctx(&self.key, out, &mut self.counters, &mut self.self_aware);
                self.swim.handle_data(from, body, ctx);
                return None;
            }
            PacketKind::State => {
                // v1, from members of older builds: whole origin states.
                match StateMsg::decode(body) {
                    Ok(msg) => {
                        let sender = msg.sender.clone();
                        if self.heard_sender(&sender, out) {
                            self.state.merge(msg, out)
                        }
                    }
                    Err(e) => self.bad_state(from, &e),
                }
                return None;
            }
            PacketKind::Delta => match DeltaMsg::decode(body) {
                Ok(msg) => {
                    if self.heard_sender(&msg.sender, out) {
                        touched.push(msg.sender.clone());
                        touched.push(msg.origin.clone());
                        self.state.delta(msg, &mut self.counters, out);
                    }
                }
                Err(e) => self.bad_state(from, &e),
            },
            PacketKind::Digest => match DigestMsg::decode(body) {
                Ok(msg) => {
                    if self.heard_sender(&msg.sender, out) {
                        touched.push(msg.sender.clone());
                        let now = self.now;
                        self.state.digest(
                            msg,
                            Sink {
                                key: &self.key,
                                counters: &mut self.counters,
                                out,
                                now,
                            },
                        );
                    }
                }
                Err(e) => self.bad_state(from, &e),
            },
            PacketKind::PushPull => {
                // Only ever in a TCP frame.
                self.counters.bad_envelope += 1;
                tracing::debug!(%from, "push-pull packet over UDP dropped");
            }
        }
        touched.sort();
        touched.dedup();
        Some(touched)
    }

    fn bad_state(&mut self, from: SocketAddr, e: &crate::wire::WireError) {
        self.counters.bad_state += 1;
        tracing::debug!(%from, error = %e, "dropped state message");
    }

    /// A state message's sender spoke to us: our own verdict about it (a
    /// fence may lift) goes out before its news, so the engine takes that
    /// news as the sync after fencing. Whether it is a member.
    fn heard_sender(&mut self, sender: &SiteId, out: &mut Vec<Output>) -> bool {
        if !self.peer_index.contains_key(sender) {
            tracing::debug!(%sender, "state message of a non-member ignored");
            return false;
        }
        self.evidence.heard(sender.clone(), self.now);
        // Only the sender's view can have changed since the last input's
        // refresh; the others are refreshed after this input as usual.
        self.refresh(Some(sender), out);
        true
    }

    /// One side of a push-pull from a TCP frame.
    fn push_pull(
        &mut self,
        from: SocketAddr,
        conn: Option<u64>,
        data: &[u8],
        out: &mut Vec<Output>,
    ) {
        let msg = match self.key.open(data) {
            Ok((PacketKind::PushPull, body)) => {
                PushPullMsg::decode(body).map_err(|e| e.to_string())
            }
            Ok((kind, _)) => Err(format!("a {kind:?} packet where a push-pull was expected")),
            Err(e) => Err(e.to_string()),
        };
        match msg {
            Ok(msg) => {
                let now = self.now;
                self.state.push_pull(
                    msg,
                    conn,
                    Sink {
                        key: &self.key,
                        counters: &mut self.counters,
                        out,
                        now,
                    },
                );
            }
            Err(e) => {
                self.counters.bad_push_pull += 1;
                tracing::warn!(%from, error = %e, "push-pull refused");
            }
        }
    }

    fn timer(&mut self, timer: GossipTimer, out: &mut Vec<Output>) {
        let t = self.settings.timers;
        match timer {
            GossipTimer::Swim(timer) => {
                let ctx = Self::ctx(&self.key, out, &mut self.counters, &mut self.self_aware);
                self.swim.handle_timer(timer, ctx);
            }
            GossipTimer::Announce => {
                let ctx = Self::ctx(&self.key, out, &mut self.counters, &mut self.self_aware);
                self.swim.announce_tick(&self.settings.peers, ctx);
                out.push(Output::Schedule {
                    after: self.announce_period(),
                    timer: GossipTimer::Announce,
                });
            }
            GossipTimer::Push => {
                // Anti-entropy: changes are pushed to everyone at once; this
                // periodic round covers lost packets, to a few peers at a time.
                self.state.push_round(Sink {
                    key: &self.key,
                    counters: &mut self.counters,
                    out,
                    now: self.now,
                });
                out.push(Output::Schedule {
                    after: t.probe_interval,
                    timer: GossipTimer::Push,
                });
            }
            GossipTimer::Repeat => {
                let more = self.state.repeat_own(Sink {
                    key: &self.key,
                    counters: &mut self.counters,
                    out,
                    now: self.now,
                });
                if more {
                    out.push(Output::Schedule {
                        after: self.repeat_gap(),
                        timer: GossipTimer::Repeat,
                    });
                }
            }
            GossipTimer::PushPull => self.push_pull_round(out),
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

    /// The member at gossip address `addr`.
    fn peer_at(&self, addr: SocketAddr) -> Option<SiteId> {
        self.peer_by_addr
            .get(&addr)
            .map(|&i| self.settings.peers[i].0.clone())
    }

    /// How long `site` has not spoken to us directly.
    fn silence(&self, site: &SiteId) -> Duration {
        let start = self.started_at.unwrap_or(self.now);
        self.evidence.silence(site, start, self.now)
    }

    /// Schedules a refresh for when the next member's silence crosses a
    /// threshold, so fencing and dead votes happen on time, not on the next
    /// unrelated input.
    fn schedule_silence_check(&mut self, out: &mut Vec<Output>) {
        let next = self
            .settings
            .peers
            .iter()
            .filter_map(|(site, _)| {
                let f = self.fence_for(site);
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

    fn grace_over(&self) -> bool {
        self.started_at
            .is_some_and(|at| self.now.saturating_sub(at) >= self.startup_grace())
    }

    /// Gathers what we know about `site` and applies the verdict rule.
    fn site_view(&self, site: &SiteId, swim: DaemonState) -> SiteView {
        let facts = Facts {
            leaving: self.state.leaving(site),
            links: self.evidence.links_toward(site),
            swim,
            grace_over: self.grace_over(),
            sources: self.evidence.sources().get(site),
            silence: self.silence(site),
            probe: self
                .settings
                .probed
                .contains(site)
                .then(|| Probe::from_result(self.evidence.dataplane().get(site).copied())),
            distrust_own: self.self_aware.distrusts_own_suspicions(),
        };
        let fence = self.fence_for(site);
        verdict::site_view(
            &facts,
            &Thresholds::new(&fence, self.settings.dead_on_silence),
        )
    }

    /// The fencing timers that judge `site`'s current silence: the member
    /// BFD ones only if the silence began while its session was Up.
    fn fence_for(&self, site: &SiteId) -> FenceTimers {
        let f = self.settings.fence;
        if f.bfd_detect.is_some() && !self.evidence.silence_vouched_by_bfd(site) {
            f.without_bfd()
        } else {
            f
        }
    }

    fn refresh_views(&mut self, out: &mut Vec<Output>) {
        self.refresh(None, out);
    }

    /// Refreshes the view of `only` that site, or of every peer (and the
    /// silence timer), and publishes our verdicts if one changed.
    fn refresh(&mut self, only: Option<&SiteId>, out: &mut Vec<Output>) {
        if self.started_at.is_none() {
            return;
        }
        if only.is_none() {
            self.schedule_silence_check(out);
            self.grace_settled = self.grace_over();
        }
        let daemons = only.is_none().then(|| self.swim.daemon_states());
        // Our published verdicts follow the views: rebuilt only when a
        // view's liveness changed (this runs after every input, over
        // every peer, or over the one a state message can change: a
        // lookup, not a scan, since one arrives from every peer each
        // probe interval).
        let mut verdicts_changed = false;
        let indices: Vec<usize> = match only {
            Some(site) => self.peer_index.get(site).copied().into_iter().collect(),
            None => (0..self.settings.peers.len()).collect(),
        };
        for i in indices {
            let site = &self.settings.peers[i].0;
            let daemon = daemons
                .as_ref()
                .map_or_else(|| self.swim.daemon_state(site), |d| d.get(site));
            let view = self.site_view(site, daemon);
            let before = match self.views.get_mut(site) {
                Some(v) => Some(std::mem::replace(v, view)),
                None => {
                    self.views.insert(site.clone(), view);
                    None
                }
            };
            if before != Some(view) {
                let from = before.map_or("none", SiteView::as_str);
                tracing::info!(kind = %"site_view", %site, from = %from, to = %view.as_str(),
                    "site view changed");
                if view.awaits_probe() && self.settings.probed.contains(site) {
                    out.push(Output::ProbeNow { site: site.clone() });
                }
                verdicts_changed |= before.and_then(SiteView::liveness) != view.liveness();
            }
        }
        if verdicts_changed {
            let verdicts = self
                .settings
                .peers
                .iter()
                .filter_map(|(site, _)| {
                    let l = self.views.get(site).and_then(|v| v.liveness())?;
                    Some((site.clone(), l))
                })
                .collect();
            self.state.set_verdicts(verdicts, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use orbit_core::config::{majority, Site};

    use super::*;
    use crate::config::Config;
    use crate::wire::relay_era;
    use crate::Cluster;

    const B: &str = "127.0.0.2:7946";

    /// Member `a` of a cluster `a`, `b`, `w`, started.
    fn started(key: &AuthKey) -> GossipCore {
        let sites = [("a", "127.0.0.1:7946"), ("b", B), ("w", "127.0.0.3:7946")];
        let detect = Config::default();
        let cluster = Cluster {
            local: "a".parse().unwrap(),
            sites: sites
                .iter()
                .map(|(id, gossip)| Site {
                    id: id.parse().unwrap(),
                    gossip: gossip.parse().unwrap(),
                    witness: *id == "w",
                    site: None,
                })
                .collect(),
            quorum: majority(sites.len()),
            fence: detect.fence_timers(None),
        };
        let settings = GossipSettings::from_config(&detect, &cluster, 1).unwrap();
        let mut core = GossipCore::new(settings, key.clone());
        core.process(Duration::ZERO, Input::Start);
        core
    }

    /// A member holding the key (or running a build that had the command
    /// relay) cannot make this member's engine run an operator command:
    /// the rest of its state is taken in, the command is not.
    #[test]
    fn commands_in_a_peers_state_never_reach_the_engine() {
        let key = AuthKey::new(b"sixteen bytes or more of key".to_vec());
        let mut core = started(&key);
        let body = relay_era::Msg::with_command("b", "b").encode();
        let out = core.process(
            Duration::from_millis(10),
            Input::Packet {
                from: B.parse().unwrap(),
                data: key.seal(PacketKind::State, &body),
            },
        );
        let events: Vec<&Event> = out
            .iter()
            .filter_map(|o| match o {
                Output::Event(e) => Some(e.as_ref()),
                _ => None,
            })
            .collect();
        assert!(
            events.iter().any(|e| matches!(e, Event::Health { .. })),
            "the state was taken in: {events:?}"
        );
        assert!(
            !events.iter().any(|e| matches!(e, Event::Command { .. })),
            "{events:?}"
        );
    }

    fn sends(out: &[Output]) -> usize {
        out.iter()
            .filter(|o| matches!(o, Output::Send { .. }))
            .count()
    }

    fn repeat_after(out: &[Output]) -> Option<Duration> {
        out.iter().find_map(|o| match o {
            Output::Schedule {
                after,
                timer: GossipTimer::Repeat,
            } => Some(*after),
            _ => None,
        })
    }

    /// A changed verdict goes to every peer at once and twice more shortly
    /// after, so one lost datagram does not hold up the quorum until the
    /// next anti-entropy round.
    #[test]
    fn a_changed_verdict_is_sent_to_every_peer_twice_more() {
        let key = AuthKey::new(b"sixteen bytes or more of key".to_vec());
        let mut core = started(&key);
        let mut now = Duration::from_millis(10);
        let out = core.process(
            now,
            Input::Link {
                interface: "eth1".into(),
                sites: vec!["b".parse().unwrap()],
                up: false,
            },
        );
        assert_eq!(
            core.views.get(&"b".parse().unwrap()),
            Some(&SiteView::LinkDown)
        );
        assert_eq!(sends(&out), 2, "at once to both peers: {out:?}");
        let gap = repeat_after(&out).expect("a repeat is scheduled");
        for more in [true, false] {
            now += gap;
            let out = core.process(now, Input::Timer(GossipTimer::Repeat));
            assert_eq!(sends(&out), 2, "again to both peers: {out:?}");
            assert_eq!(repeat_after(&out).is_some(), more, "{out:?}");
        }
        let out = core.process(now + gap, Input::Timer(GossipTimer::Repeat));
        assert_eq!(sends(&out), 0, "no more than twice: {out:?}");
    }
}
