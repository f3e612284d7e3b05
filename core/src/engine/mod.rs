//! The decision engine: events in, decisions and steering out.
//!
//! Pure and deterministic. [`Engine::handle`] folds one [`Event`] into the
//! engine's view of the world at time `now` and returns the decisions it led
//! to; [`Engine::steering`] is the resulting desired state for the backends;
//! [`Engine::next_deadline`] tells the caller when to send the next
//! [`Event::Tick`] so that hold-down timers can expire.
//!
//! Rules, in the order `Engine::evaluate` applies them on every event
//! (`evaluate.rs`; one function per rule, each saying why):
//! 1. Site liveness (`liveness.rs`): a member's announced departure counts
//!    at once; a site is declared dead when a quorum of the other members
//!    reports it dead for `failover_hold` (see `quorum.rs`).
//! 2. Authority (`authority.rs`): a local site that cannot reach a quorum
//!    fences (withdraws everything it carries); after start or fencing it
//!    claims nothing until it has heard its peers' placements.
//! 3. Eligibility (`eligibility.rs`): which sites may carry a service, and
//!    how long each has been eligible (the failback clock).
//! 4. Placement per service, over the preference order
//!    *pin, switchover target, configured priority*: a newer placement
//!    heard from a peer is adopted first (`peers.rs`), then
//!    (`placement.rs`):
//!    - nobody carries it: the first eligible site takes it at once;
//!    - the carrier became ineligible (declared dead, unhealthy for
//!      `failover_hold`, drained): the first eligible site takes it;
//!    - a better site is eligible: it takes over only after staying eligible
//!      for `failback_after` (never automatically with `failback = "manual"`);
//!    - operator commands move at once (`commands.rs`).
//! 5. Local role (`role.rs`): Active / Standby / Draining (for `drain_grace`
//!    after a planned move away) / Withdrawn, and the takeover flag.
//! 6. Confirmations (`lifecycle.rs`): what the local site's backends
//!    confirmed stays `carried` only while it still claims it.
//!
//! A planned stop (`Event::Departing`, SIGTERM) makes the local site *left*:
//! it gossips that itself (`SharedState::leaving`), every engine (its own
//! included) treats it as ineligible at once and moves its services as
//! planned moves, and the leaving site keeps what it carried at Draining
//! until its daemon withdraws (see `lifecycle.rs`).

mod authority;
mod commands;
mod eligibility;
mod evaluate;
mod held;
mod lifecycle;
mod liveness;
mod peers;
mod placement;
mod plan;
mod promotion;
mod quorum;
mod role;
mod simulate;
mod status;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

pub use held::{FailoverCause, HeldBy};
pub use lifecycle::Handover;
pub use plan::{PlanRun, StepReport, StepRun, StepState, Takeover};
pub use promotion::DueStep;
pub use status::{EngineStatus, PlanView, ServiceStatus, SiteStatus};

use self::quorum::QuorumView;
use crate::config::{Failback, Plan, Policy, Service, Site};
use crate::decision::{Change, Decision};
use crate::event::Event;
use crate::ids::{PlanId, ServiceId, SiteId};
use crate::shared::{Intent, Placement};
use crate::steering::{Role, ServiceSteering, Steering};
use crate::time::Millis;

/// A service as the engine needs it.
#[derive(Debug, Clone)]
struct ServicePlan {
    id: ServiceId,
    prefixes: Vec<IpNet>,
    /// Priority order.
    sites: Vec<SiteId>,
    /// Without a health check the service counts as healthy wherever its
    /// site is alive.
    health_checked: bool,
    /// The `[[plan]]` that goes with its moves.
    plan: Option<PlanId>,
}

#[derive(Debug, Clone)]
struct HealthRecord {
    healthy: bool,
    since: Millis,
    event: Event,
}

/// A placement an operator command of this site made.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CommandMove {
    active: Option<SiteId>,
    epoch: u64,
    /// The intent epoch of the command.
    intent_epoch: u64,
}

/// An operator-ordered move, executed by the next evaluation.
#[derive(Debug, Clone)]
struct ForcedMove {
    to: SiteId,
    reason: String,
}

/// The decision engine of one orbitd (one local site or witness).
#[derive(Debug, Clone)]
pub struct Engine {
    /// The local member (this daemon's `[[site]] id`).
    local: SiteId,
    /// The site the local member belongs to: the one it carries services
    /// for, with every other member of that site.
    site: SiteId,
    witnesses: BTreeSet<SiteId>,
    /// Shared so that an evaluation can walk the plans while it changes
    /// the engine, without copying them.
    services: Arc<Vec<ServicePlan>>,
    /// Position of each service in `services`.
    service_index: BTreeMap<ServiceId, usize>,
    failover_hold: Duration,
    /// `None`: manual failback only.
    failback_after: Option<Duration>,
    drain_grace: Duration,
    sync_timeout: Duration,

    view: QuorumView,
    /// Sites declared dead (every member gone), as of the last evaluation.
    dead_sites: BTreeSet<SiteId>,
    fenced: bool,
    /// Placement may change, and the local site may be Active, only once the
    /// engine has heard a peer's placement table (or waited `sync_timeout`)
    /// since it started or stopped being fenced.
    synced: bool,
    unsynced_since: Millis,
    /// A peer that places our services sent a state made while it could
    /// hear us, since we last became unsynced.
    fresh_peer: bool,
    /// How long after start or unfencing a fresh peer state must keep us
    /// waiting before we claim: the news that queued up during a cut
    /// arrives first, in a burst, and may look fresh (`[detect]
    /// fence_margin`).
    resync_quiet: Duration,
    /// Newer placements heard from peers, applied by the next evaluation.
    adopted: BTreeMap<ServiceId, (Placement, SiteId)>,
    /// Quorum death declarations per site, cluster-wide (see
    /// `SharedState::deaths`).
    deaths: BTreeMap<SiteId, u64>,
    /// The first event's time: the cold-start window runs from here.
    started_at: Option<Millis>,
    /// Per member and service: each member checks its own backends.
    health: BTreeMap<(SiteId, ServiceId), HealthRecord>,
    /// Drains, pins, switchover targets and observer mode, shared with
    /// the peers.
    intent: Intent,
    /// Whether the last placement change of each service was planned.
    planned: BTreeMap<ServiceId, bool>,
    eligible_since: BTreeMap<(SiteId, ServiceId), Millis>,
    draining_until: BTreeMap<ServiceId, Millis>,
    forced: BTreeMap<ServiceId, ForcedMove>,
    /// `policy.observer`: observer mode until an operator sets it
    /// (`Intent::observer`).
    observer_by_config: bool,
    steering: Steering,
    now: Millis,
    /// The local site is stopping on purpose (`Event::Departing`).
    leaving: bool,
    /// What the local site carried (Active or Draining) when it started
    /// leaving: Draining until the daemon withdraws, never anything more
    /// attractive.
    departing: BTreeSet<ServiceId>,
    /// Services the local site is Active for, at the placement epoch all
    /// its backends confirmed (`Event::Confirmed`); gossiped.
    carried: BTreeMap<ServiceId, u64>,
    /// The same, as each peer last published it.
    peer_carried: BTreeMap<SiteId, BTreeMap<ServiceId, u64>>,
    /// Members that started or stopped being left since the last
    /// evaluation, for its decisions.
    left_changes: Vec<(SiteId, bool)>,
    /// Local commands lost to a concurrent peer intent since the last
    /// evaluation (`Change::CommandSuperseded`), for its decisions.
    superseded: Vec<Change>,
    /// What the local operator commands not yet known to be part of every
    /// intent moved: per service, the (carrier, epoch) a command gave it
    /// and the intent epoch of that command.
    command_moves: BTreeMap<ServiceId, CommandMove>,
    /// Moves of local commands a concurrent intent superseded: undone at
    /// the next evaluation if nothing moved the service since.
    lost_moves: BTreeMap<ServiceId, CommandMove>,
    /// Observer mode changed by an intent adopted from a peer since the
    /// last evaluation (`Change::ObserverMode`: on, where it was set), for
    /// its decisions.
    observer_adopted: Option<(bool, SiteId)>,
    /// Evaluate only the service an event names, where that is sound
    /// (off only to compare against the full evaluation in tests).
    incremental: bool,
    /// The config's `[[plan]]` tables (`Engine::with_plans`).
    plans: Arc<BTreeMap<PlanId, Plan>>,
    /// Services with a plan moving to a site, until it takes them over
    /// (`Placement::moving_to`).
    moving: BTreeMap<ServiceId, SiteId>,
    /// The plan runs this member coordinates, per service (the last).
    runs: BTreeMap<ServiceId, PlanRun>,
    /// Each peer's runs, as it last published them.
    peer_runs: BTreeMap<SiteId, BTreeMap<ServiceId, PlanRun>>,
    /// What this member did for steps at its site of peers' runs.
    reports: BTreeMap<ServiceId, StepReport>,
    /// Moves under way whose carrier this engine has seen unable to carry
    /// the service (only those may be given up when it can again: after a
    /// restart, a carrier not yet declared dead again is no news).
    carrier_lost: BTreeSet<ServiceId>,
}

impl Engine {
    /// Builds the engine for the member `local` of `sites`, steering
    /// `services` by `policy`. The config they come from must have passed
    /// validation. `resync_quiet` is how long after a member's silence its
    /// peers' tables are trusted again (the fencing margin, see
    /// `orbit_detect::FenceTimers`).
    pub fn new(
        local: &SiteId,
        sites: &[Site],
        services: &[Service],
        policy: &Policy,
        resync_quiet: Duration,
    ) -> Engine {
        let local = local.clone();
        let site = sites
            .iter()
            .find(|s| s.id == local)
            .map_or_else(|| local.clone(), |s| s.site_id().clone());
        let members: Vec<(SiteId, SiteId)> = sites
            .iter()
            .map(|s| (s.id.clone(), s.site_id().clone()))
            .collect();
        let quorum = policy.quorum(crate::config::site_ids(sites).len());
        let services: Vec<ServicePlan> = services
            .iter()
            .map(|s| ServicePlan {
                id: s.id.clone(),
                prefixes: s.prefixes.clone(),
                sites: s.sites.clone(),
                health_checked: s.health_checked,
                plan: s.plan.clone(),
            })
            .collect();
        let lone = members.len() == 1;
        let view = QuorumView::new(members, quorum);
        let fenced = view.fenced(&local);
        let steering = Steering {
            generation: 0,
            local_site: site.clone(),
            // Nothing is evaluated yet: no authority, whatever the quorum
            // (a lone member is synced at once, but its roles are not
            // derived until the first event). A backend must not take this
            // steering for a decision: BGP would release End-of-RIB with
            // nothing announced and a graceful-restart peer would flush
            // the routes it kept for us.
            fenced: true,
            observe_only: policy.observer,
            services: services
                .iter()
                .map(|s| {
                    (
                        s.id.clone(),
                        ServiceSteering {
                            prefixes: s.prefixes.clone(),
                            active: None,
                            epoch: 0,
                            local_role: Role::Withdrawn,
                            takeover: false,
                        },
                    )
                })
                .collect(),
        };
        Engine {
            local,
            site,
            dead_sites: BTreeSet::new(),
            witnesses: sites
                .iter()
                .filter(|s| s.witness)
                .map(|s| s.id.clone())
                .collect(),
            service_index: services
                .iter()
                .enumerate()
                .map(|(i, s)| (s.id.clone(), i))
                .collect(),
            services: Arc::new(services),
            failover_hold: policy.failover_hold.get(),
            failback_after: match policy.failback {
                Failback::After => Some(policy.failback_after.get()),
                Failback::Manual => None,
            },
            drain_grace: policy.drain_grace.get(),
            sync_timeout: policy.sync_timeout.get(),
            view,
            fenced,
            synced: lone,
            unsynced_since: Millis::ZERO,
            fresh_peer: false,
            resync_quiet,
            adopted: BTreeMap::new(),
            deaths: BTreeMap::new(),
            started_at: None,
            health: BTreeMap::new(),
            intent: Intent::default(),
            planned: BTreeMap::new(),
            eligible_since: BTreeMap::new(),
            draining_until: BTreeMap::new(),
            forced: BTreeMap::new(),
            observer_by_config: policy.observer,
            steering,
            now: Millis::ZERO,
            leaving: false,
            departing: BTreeSet::new(),
            carried: BTreeMap::new(),
            peer_carried: BTreeMap::new(),
            left_changes: Vec::new(),
            superseded: Vec::new(),
            command_moves: BTreeMap::new(),
            lost_moves: BTreeMap::new(),
            observer_adopted: None,
            incremental: true,
            plans: Arc::new(BTreeMap::new()),
            moving: BTreeMap::new(),
            runs: BTreeMap::new(),
            peer_runs: BTreeMap::new(),
            reports: BTreeMap::new(),
            carrier_lost: BTreeSet::new(),
        }
    }

    /// The desired state after the last event.
    pub fn steering(&self) -> &Steering {
        &self.steering
    }

    /// When the caller should send the next [`Event::Tick`], if any timer is
    /// running.
    pub fn next_deadline(&self) -> Option<Millis> {
        let mut deadlines: Vec<Millis> = Vec::new();
        deadlines.extend(self.view.next_deadline(self.failover_hold));
        for record in self.health.values().filter(|r| !r.healthy) {
            deadlines.push(record.since.after(self.failover_hold));
        }
        if let Some(after) = self.failback_after {
            deadlines.extend(self.eligible_since.values().map(|s| s.after(after)));
        }
        deadlines.extend(self.draining_until.values().copied());
        deadlines.extend(self.plan_deadlines());
        if !self.synced && !self.fenced {
            deadlines.push(self.unsynced_since.after(self.sync_timeout));
            if self.fresh_peer {
                deadlines.push(self.unsynced_since.after(self.resync_quiet));
            }
        }
        if let Some(started) = self.started_at {
            deadlines.push(started.after(self.sync_timeout));
        }
        deadlines.into_iter().filter(|d| *d > self.now).min()
    }

    /// Folds `event` in at time `now` and returns the decisions it caused.
    /// An operator command the engine refuses changes nothing; use
    /// [`Engine::command`] to learn why.
    pub fn handle(&mut self, now: Millis, event: Event) -> Vec<Decision> {
        if let Event::Command { order } = &event {
            let order = order.clone();
            return match self.command(now, order) {
                Ok(decisions) => decisions,
                Err(error) => {
                    tracing::warn!(%error, "operator command refused");
                    Vec::new()
                }
            };
        }
        // A timer that expires at this event changes services the event
        // does not name: such an event gets a full evaluation.
        let timer_due = self.started_at.is_none() || self.deadline_due(now);
        self.advance(now);
        let mut only = None;
        match &event {
            Event::Verdict {
                observer,
                subject,
                liveness,
            } => {
                if self.view.is_member(observer) && self.view.is_member(subject) {
                    self.view
                        .record(observer.clone(), subject.clone(), *liveness, event.clone());
                } else {
                    tracing::warn!(%observer, %subject, "verdict about or from an unknown site ignored");
                }
            }
            Event::Health {
                site,
                service,
                healthy,
            } => {
                if let (Some(&index), true) =
                    (self.service_index.get(service), self.view.is_member(site))
                {
                    only = Some(index);
                    let key = (site.clone(), service.clone());
                    let changed = self.health.get(&key).is_none_or(|r| r.healthy != *healthy);
                    if changed {
                        self.health.insert(
                            key,
                            HealthRecord {
                                healthy: *healthy,
                                since: now,
                                event: event.clone(),
                            },
                        );
                    }
                } else {
                    tracing::warn!(%site, %service, "health of an unknown site or service ignored");
                }
            }
            Event::Peer { from, state } => {
                if self.view.is_member(from) && from != &self.local {
                    self.merge_peer(from, state);
                } else {
                    tracing::warn!(%from, "shared state from an unknown site (or from ourselves) ignored");
                }
            }
            Event::Departing => self.start_leaving(),
            Event::Confirmed { generation } => self.confirmed(*generation),
            Event::PlanStep {
                service,
                generation,
                index,
                progress,
            } => self.plan_step(service, *generation, *index, progress),
            Event::Tick | Event::Command { .. } => {}
        }
        // The health of one service at one site changes that service's
        // eligibility there and nothing else, so only that service is
        // re-evaluated, unless something else is pending (a timer, a
        // peer's placement, an operator move), which the full evaluation
        // settles. `properties.rs` checks that both agree.
        let only = only.filter(|_| !timer_due && !self.pending() && self.incremental);
        self.evaluate_scoped(&event, only)
    }

    /// Whether a timer of [`Engine::next_deadline`] expires after the last
    /// event and by `now`.
    fn deadline_due(&self, now: Millis) -> bool {
        let due = |d: Millis| d > self.now && d <= now;
        if self.view.deadlines(self.failover_hold).any(due) {
            return true;
        }
        if self
            .health
            .values()
            .any(|r| !r.healthy && due(r.since.after(self.failover_hold)))
        {
            return true;
        }
        if let Some(after) = self.failback_after {
            if self.eligible_since.values().any(|s| due(s.after(after))) {
                return true;
            }
        }
        if self.draining_until.values().any(|d| due(*d)) {
            return true;
        }
        if self.plan_deadlines().any(due) {
            return true;
        }
        if !self.synced
            && !self.fenced
            && (due(self.unsynced_since.after(self.sync_timeout))
                || (self.fresh_peer && due(self.unsynced_since.after(self.resync_quiet))))
        {
            return true;
        }
        self.started_at
            .is_some_and(|started| due(started.after(self.sync_timeout)))
    }

    /// Whether anything waits for the next evaluation besides the trigger.
    fn pending(&self) -> bool {
        !self.adopted.is_empty()
            || !self.forced.is_empty()
            || !self.lost_moves.is_empty()
            || !self.left_changes.is_empty()
            || !self.superseded.is_empty()
            || self.observer_adopted.is_some()
    }

    /// Re-evaluate every service after every event, as before incremental
    /// evaluation: the reference the property tests compare against.
    #[doc(hidden)]
    pub fn set_incremental(&mut self, on: bool) {
        self.incremental = on;
    }

    pub(super) fn advance(&mut self, now: Millis) {
        // A caller's clock that steps back must not rewind timers.
        self.now = self.now.max(now);
        self.started_at.get_or_insert(self.now);
    }

    fn service(&self, id: &ServiceId) -> Option<&ServicePlan> {
        self.service_index.get(id).map(|&i| &self.services[i])
    }

    fn is_witness(&self, site: &SiteId) -> bool {
        self.witnesses.contains(site)
    }
}
