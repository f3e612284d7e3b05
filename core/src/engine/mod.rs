//! The decision engine: events in, decisions and steering out.
//!
//! Pure and deterministic. [`Engine::handle`] folds one [`Event`] into the
//! engine's view of the world at time `now` and returns the decisions it led
//! to; [`Engine::steering`] is the resulting desired state for the backends;
//! [`Engine::next_deadline`] tells the caller when to send the next
//! [`Event::Tick`] so that hold-down timers can expire.
//!
//! Rules, in the order they are applied on every event:
//! 1. Site liveness: a site is declared dead when a quorum of the other
//!    members reports it dead for `failover_hold` (see `quorum.rs`).
//! 2. Self-fencing: a local site that cannot reach a quorum withdraws
//!    everything it carries.
//! 3. Placement per service, over the preference order
//!    *pin, switchover target, configured priority*:
//!    - nobody carries it: the first eligible site takes it at once;
//!    - the carrier became ineligible (declared dead, unhealthy for
//!      `failover_hold`, drained): the first eligible site takes it;
//!    - a better site is eligible: it takes over only after staying eligible
//!      for `failback_after` (never automatically with `failback = "manual"`);
//!    - operator commands move at once.
//! 4. Local role: Active / Standby / Draining (for `drain_grace` after a
//!    planned move away) / Withdrawn.
//!
//! A planned stop (`Event::Departing`, SIGTERM) makes the local site *left*:
//! it gossips that itself (`SharedState::leaving`), every engine (its own
//! included) treats it as ineligible at once and moves its services as
//! planned moves, and the leaving site keeps what it carried at Draining
//! until its daemon withdraws (see `lifecycle.rs`).

mod commands;
mod lifecycle;
mod quorum;
mod status;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ipnet::IpNet;

pub use lifecycle::Handover;
pub use status::{BackendStatus, EngineStatus, ServiceStatus, SiteStatus};

use self::quorum::QuorumView;
use crate::config::{Config, Failback};
use crate::decision::{Change, Decision};
use crate::error::CommandError;
use crate::event::{BackendOutcome, Command, Event, Liveness};
use crate::ids::{ServiceId, SiteId};
use crate::shared::{Intent, Placement, SharedState};
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
}

#[derive(Debug, Clone)]
struct HealthRecord {
    healthy: bool,
    since: Millis,
    event: Event,
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
    local: SiteId,
    witnesses: BTreeSet<SiteId>,
    services: Vec<ServicePlan>,
    failover_hold: Duration,
    /// `None`: manual failback only.
    failback_after: Option<Duration>,
    drain_grace: Duration,
    sync_timeout: Duration,

    view: QuorumView,
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
    health: BTreeMap<(SiteId, ServiceId), HealthRecord>,
    /// Drains, pins and switchover targets, shared with the peers.
    intent: Intent,
    /// Whether the last placement change of each service was planned.
    planned: BTreeMap<ServiceId, bool>,
    eligible_since: BTreeMap<(SiteId, ServiceId), Millis>,
    draining_until: BTreeMap<ServiceId, Millis>,
    forced: BTreeMap<ServiceId, ForcedMove>,
    observer_mode: bool,
    backends: BTreeMap<String, BackendStatus>,
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
}

impl Engine {
    /// Builds the engine for the node `config.node.site`. The config must have
    /// passed [`Config::validate`].
    pub fn new(config: &Config) -> Engine {
        let local = config.node.site.clone();
        let members: Vec<SiteId> = config.members().cloned().collect();
        let services: Vec<ServicePlan> = config
            .services
            .iter()
            .map(|s| ServicePlan {
                id: s.id.clone(),
                prefixes: s.prefixes.clone(),
                sites: s.sites.clone(),
                health_checked: s.health.is_some(),
            })
            .collect();
        let lone = members.len() == 1;
        let view = QuorumView::new(members, config.quorum());
        let fenced = view.fenced(&local);
        let steering = Steering {
            generation: 0,
            local_site: local.clone(),
            // Nothing is evaluated yet: no authority, whatever the quorum
            // (a lone member is synced at once, but its roles are not
            // derived until the first event). A backend must not take this
            // steering for a decision: BGP would release End-of-RIB with
            // nothing announced and a graceful-restart peer would flush
            // the routes it kept for us.
            fenced: true,
            observe_only: config.policy.observer,
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
            witnesses: config
                .sites
                .iter()
                .filter(|s| s.witness)
                .map(|s| s.id.clone())
                .collect(),
            services,
            failover_hold: config.policy.failover_hold.get(),
            failback_after: match config.policy.failback {
                Failback::After => Some(config.policy.failback_after.get()),
                Failback::Manual => None,
            },
            drain_grace: config.policy.drain_grace.get(),
            sync_timeout: config.policy.sync_timeout.get(),
            view,
            fenced,
            synced: lone,
            unsynced_since: Millis::ZERO,
            fresh_peer: false,
            resync_quiet: config.fence_timers().margin.get(),
            adopted: BTreeMap::new(),
            deaths: BTreeMap::new(),
            started_at: None,
            health: BTreeMap::new(),
            intent: Intent::default(),
            planned: BTreeMap::new(),
            eligible_since: BTreeMap::new(),
            draining_until: BTreeMap::new(),
            forced: BTreeMap::new(),
            observer_mode: config.policy.observer,
            backends: BTreeMap::new(),
            steering,
            now: Millis::ZERO,
            leaving: false,
            departing: BTreeSet::new(),
            carried: BTreeMap::new(),
            peer_carried: BTreeMap::new(),
            left_changes: Vec::new(),
        }
    }

    /// The desired state after the last event.
    pub fn steering(&self) -> &Steering {
        &self.steering
    }

    pub fn local_site(&self) -> &SiteId {
        &self.local
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
        if let Event::Command { command } = &event {
            let command = command.clone();
            return match self.command(now, command) {
                Ok(decisions) => decisions,
                Err(error) => {
                    tracing::warn!(%error, "operator command refused");
                    Vec::new()
                }
            };
        }
        self.advance(now);
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
                if self.service(service).is_some() && self.view.is_member(site) {
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
            Event::Backend {
                backend,
                generation,
                outcome,
            } => {
                let status = self.backends.entry(backend.clone()).or_default();
                status.last_generation = *generation;
                status.last_at = now;
                match outcome {
                    BackendOutcome::Applied => {
                        status.applied_generation = Some(*generation);
                        status.error = None;
                        status.consecutive_failures = 0;
                    }
                    BackendOutcome::Failed { error } => {
                        status.error = Some(error.clone());
                        status.consecutive_failures += 1;
                    }
                }
            }
            Event::Departing => self.start_leaving(),
            Event::Confirmed { generation } => self.confirmed(*generation),
            Event::Tick | Event::Command { .. } => {}
        }
        self.evaluate(&event)
    }

    /// Applies an operator command at `now`. On refusal nothing changes and
    /// the error says why.
    pub fn command(
        &mut self,
        now: Millis,
        command: Command,
    ) -> Result<Vec<Decision>, CommandError> {
        self.advance(now);
        let mut next = self.clone();
        let note = next.apply_command(&command)?;
        if !matches!(command, Command::ObserverMode { .. }) {
            // Observer mode is this daemon's own; everything else is shared.
            next.intent.epoch += 1;
            next.intent.origin = Some(next.local.clone());
        }
        *self = next;
        let event = Event::Command {
            command: command.clone(),
        };
        let accepted = Decision {
            at: now,
            change: Change::CommandAccepted { command },
            reason: note,
            causes: vec![event.clone()],
            generation: self.steering.generation,
        };
        let mut decisions = vec![accepted];
        decisions.extend(self.evaluate(&event));
        if let Some(last) = decisions.last() {
            let generation = last.generation;
            decisions[0].generation = generation;
        }
        Ok(decisions)
    }

    fn advance(&mut self, now: Millis) {
        // A caller's clock that steps back must not rewind timers.
        self.now = self.now.max(now);
        self.started_at.get_or_insert(self.now);
    }

    /// Whether the cluster may still be starting: a service that was never
    /// placed waits this long for a better site whose service is still
    /// coming up, instead of detouring through a worse one.
    fn cold_start(&self) -> bool {
        self.started_at
            .is_some_and(|t| self.now.since(t) < self.sync_timeout)
    }

    fn service(&self, id: &ServiceId) -> Option<&ServicePlan> {
        self.services.iter().find(|s| &s.id == id)
    }

    /// Why `site` cannot carry `service` now, or `None` if it can.
    fn ineligible_reason(&self, site: &SiteId, svc: &ServicePlan) -> Option<Ineligible> {
        if self.view.is_dead(site) {
            let voters = self.view.dead_voters(site);
            return Some(Ineligible::Dead(format!(
                "site {site} is declared dead by a quorum ({})",
                join(&voters)
            )));
        }
        if self.view.is_left(site) {
            return Some(Ineligible::Left(format!(
                "site {site} is stopping (planned departure)"
            )));
        }
        if self.intent.drained.contains(site) {
            return Some(Ineligible::Drained(format!(
                "site {site} is drained by an operator"
            )));
        }
        if !svc.health_checked {
            return None;
        }
        match self.health.get(&(site.clone(), svc.id.clone())) {
            Some(r) if r.healthy => None,
            Some(r) => Some(Ineligible::Unhealthy(
                r.since,
                format!("{} is unhealthy at site {site}", svc.id),
            )),
            None => Some(Ineligible::HealthUnknown(format!(
                "the health of {} at site {site} is not known yet",
                svc.id
            ))),
        }
    }

    fn eligible(&self, site: &SiteId, svc: &ServicePlan) -> bool {
        self.ineligible_reason(site, svc).is_none()
    }

    /// Pin, then switchover target, then configured priority; no repeats.
    fn preference(&self, svc: &ServicePlan) -> Vec<SiteId> {
        let mut order: Vec<SiteId> = Vec::new();
        let first = [
            self.intent.pins.get(&svc.id),
            self.intent.placed.get(&svc.id),
        ];
        for site in first.into_iter().flatten().chain(svc.sites.iter()) {
            if !order.contains(site) {
                order.push(site.clone());
            }
        }
        order
    }

    fn best(&self, svc: &ServicePlan) -> Option<SiteId> {
        self.preference(svc)
            .into_iter()
            .find(|s| self.eligible(s, svc))
    }

    /// Re-derives everything after an event and reports what changed.
    fn evaluate(&mut self, trigger: &Event) -> Vec<Decision> {
        let now = self.now;
        let mut out = Vec::new();
        let decide = |change: Change, reason: String, causes: Vec<Event>| Decision {
            at: now,
            change,
            reason,
            causes,
            generation: 0,
        };

        for (site, left) in std::mem::take(&mut self.left_changes) {
            let reason = if left {
                format!(
                    "site {site} announced a planned departure: its services move as planned moves, \
                     it is not counted dead nor toward any quorum"
                )
            } else {
                format!("site {site} is back after a planned departure")
            };
            out.push(decide(
                Change::SiteLeft { site, left },
                reason,
                vec![trigger.clone()],
            ));
        }

        for change in self.view.settle(now, self.failover_hold, &self.local) {
            if change.dead {
                *self.deaths.entry(change.site.clone()).or_insert(0) += 1;
            }
            let mut causes = vec![trigger.clone()];
            causes.extend(self.view.dead_vote_events(&change.site));
            let reason = if change.dead {
                format!(
                    "{} of {} required members report site {} dead ({})",
                    change.voters.len(),
                    self.view.quorum(),
                    change.site,
                    join(&change.voters)
                )
            } else {
                format!(
                    "site {} is alive again: only {} member(s) still report it dead, {} needed",
                    change.site,
                    change.voters.len(),
                    self.view.quorum()
                )
            };
            out.push(decide(
                Change::SiteLiveness {
                    site: change.site,
                    dead: change.dead,
                },
                reason,
                causes,
            ));
        }

        let fenced = self.view.fenced(&self.local);
        if fenced != self.fenced {
            self.fenced = fenced;
            let reachable = self.view.reachable_from(&self.local);
            let reason = if fenced {
                format!(
                    "site {} reaches only {reachable} of the {} members a quorum needs: \
                     withdrawing everything (self-fencing)",
                    self.local,
                    self.view.quorum()
                )
            } else {
                format!(
                    "site {} reaches {reachable} members again (quorum {}): fencing lifted",
                    self.local,
                    self.view.quorum()
                )
            };
            out.push(decide(
                Change::Fenced { fenced },
                reason,
                vec![trigger.clone()],
            ));
            // Whatever happened while fenced, the majority may have moved on:
            // listen before claiming anything again. And a site that was cut
            // off never saw itself dead, so the failback clocks it kept
            // running prove nothing: they restart now.
            self.synced = false;
            self.fresh_peer = false;
            self.unsynced_since = now;
            self.eligible_since.clear();
        }
        if !self.synced
            && !self.fenced
            && self.fresh_peer
            && now.since(self.unsynced_since) >= self.resync_quiet
        {
            self.synced = true;
        }
        if !self.synced && !self.fenced && now.since(self.unsynced_since) >= self.sync_timeout {
            tracing::info!(
                "no placement table from a peer within the sync timeout: deciding alone"
            );
            self.synced = true;
        }

        self.refresh_eligible_since();

        let mut services = BTreeMap::new();
        for svc in self.services.clone() {
            let current = self.steering.services.get(&svc.id).cloned();
            let mut old_active = current.as_ref().and_then(|c| c.active.clone());
            let mut epoch = current.as_ref().map_or(0, |c| c.epoch);
            if let Some((placement, from)) = self.adopted.remove(&svc.id) {
                if placement.active != old_active {
                    out.push(decide(
                        Change::ServiceMoved {
                            service: svc.id.clone(),
                            from: old_active.clone(),
                            to: placement.active.clone(),
                        },
                        format!(
                            "adopted the newer placement of {} from site {from} (epoch {} over {epoch})",
                            svc.id, placement.epoch
                        ),
                        vec![trigger.clone()],
                    ));
                }
                if placement.planned
                    && old_active.as_ref() == Some(&self.local)
                    && placement.active.as_ref() != Some(&self.local)
                {
                    self.draining_until
                        .insert(svc.id.clone(), now.after(self.drain_grace));
                }
                self.planned.insert(svc.id.clone(), placement.planned);
                if let Some(old) = old_active.as_ref().filter(|_| !placement.planned) {
                    if placement.active.as_ref() != Some(old) {
                        // A peer failed the service over away from `old`: in
                        // the majority's view `old` was not eligible, even if
                        // this engine (perhaps `old` itself, briefly cut off)
                        // never noticed. Its failback clock restarts now.
                        let key = (old.clone(), svc.id.clone());
                        if self.eligible_since.contains_key(&key) {
                            self.eligible_since.insert(key, now);
                        }
                    }
                }
                old_active = placement.active;
                epoch = placement.epoch;
            }
            let (active, planned, why) = if self.fenced || !self.synced {
                (old_active.clone(), false, String::new())
            } else {
                self.place(&svc, old_active.clone())
            };
            if active != old_active {
                epoch += 1;
                self.planned.insert(svc.id.clone(), planned);
                let mut causes = vec![trigger.clone()];
                causes.extend(self.causes_for(&svc, old_active.as_ref()));
                out.push(decide(
                    Change::ServiceMoved {
                        service: svc.id.clone(),
                        from: old_active.clone(),
                        to: active.clone(),
                    },
                    why,
                    causes,
                ));
                if planned && old_active.as_ref() == Some(&self.local) {
                    self.draining_until
                        .insert(svc.id.clone(), now.after(self.drain_grace));
                }
                if let Some(old) = &old_active {
                    if self.intent.placed.get(&svc.id) == Some(old) && !planned {
                        // The switchover target failed: the operator's
                        // placement no longer holds. This changes the shared
                        // intent, so it gets an epoch like a command would
                        // (a daemon restored from an older state file must
                        // not bring the stale placement back).
                        self.intent.placed.remove(&svc.id);
                        self.intent.epoch += 1;
                        self.intent.origin = Some(self.local.clone());
                    }
                }
            }
            let old_role = current.as_ref().map_or(Role::Withdrawn, |c| c.local_role);
            let role = self.local_role(&svc, active.as_ref());
            if role != old_role {
                out.push(decide(
                    Change::LocalRole {
                        service: svc.id.clone(),
                        from: old_role,
                        to: role,
                    },
                    self.role_reason(&svc, role),
                    vec![trigger.clone()],
                ));
            }
            let takeover = role == Role::Active
                && svc
                    .sites
                    .iter()
                    .any(|s| s != &self.local && self.view.is_dead(s));
            services.insert(
                svc.id.clone(),
                ServiceSteering {
                    prefixes: svc.prefixes.clone(),
                    active,
                    epoch,
                    local_role: role,
                    takeover,
                },
            );
        }
        self.forced.clear();
        self.draining_until.retain(|_, until| *until > now);
        // A confirmation holds for the placement it confirmed, while the
        // local site still claims it with authority.
        let authority = !self.fenced && self.synced;
        self.carried.retain(|id, epoch| {
            authority
                && services
                    .get(id)
                    .is_some_and(|s| s.local_role == Role::Active && s.epoch == *epoch)
        });

        let next = Steering {
            generation: self.steering.generation,
            local_site: self.local.clone(),
            fenced: self.fenced || !self.synced,
            observe_only: self.observer_mode,
            services,
        };
        if next != self.steering {
            self.steering = Steering {
                generation: self.steering.generation + 1,
                ..next
            };
        }
        for d in &mut out {
            d.generation = self.steering.generation;
        }
        for d in &out {
            tracing::info!(generation = d.generation, change = ?d.change, reason = %d.reason, "decision");
        }
        out
    }

    fn refresh_eligible_since(&mut self) {
        let now = self.now;
        for svc in &self.services {
            for site in &svc.sites {
                let key = (site.clone(), svc.id.clone());
                if self.eligible(site, svc) {
                    self.eligible_since.entry(key).or_insert(now);
                } else {
                    self.eligible_since.remove(&key);
                }
            }
        }
    }

    /// Where `svc` goes now: (site, planned move?, reason if it moves).
    fn place(&self, svc: &ServicePlan, current: Option<SiteId>) -> (Option<SiteId>, bool, String) {
        let now = self.now;
        if let Some(forced) = self.forced.get(&svc.id) {
            if self.eligible(&forced.to, svc) {
                return (Some(forced.to.clone()), true, forced.reason.clone());
            }
        }
        let best = self.best(svc);
        let Some(cur) = current else {
            if let Some(waiting) = self.better_site_unknown(svc, best.as_ref()) {
                tracing::debug!(service = %svc.id, %waiting, "initial placement waits for health");
                return (None, false, String::new());
            }
            let why = match &best {
                Some(site) => format!("site {site} is the first eligible site for {}", svc.id),
                None => String::new(),
            };
            return (best, false, why);
        };
        match self.ineligible_reason(&cur, svc) {
            Some(reason) => {
                let (ready, planned) = match &reason {
                    Ineligible::Dead(_) => (true, false),
                    Ineligible::Drained(_) | Ineligible::Left(_) => (true, true),
                    Ineligible::Unhealthy(since, _) => {
                        (now.since(*since) >= self.failover_hold, false)
                    }
                    // Not knowing is no evidence of a failure: the carrier
                    // keeps the service until a check says otherwise (a
                    // restarted daemon hears its peers before its own
                    // checker's first result, and must not move its site's
                    // services away in between).
                    Ineligible::HealthUnknown(_) => (false, false),
                };
                if !ready {
                    return (Some(cur), false, String::new());
                }
                let verb = if planned { "moving" } else { "failing over" };
                let why = match &best {
                    Some(site) => format!("{}; {verb} {} to site {site}", reason.text(), svc.id),
                    None => format!(
                        "{}; no other site can carry {}: withdrawn everywhere",
                        reason.text(),
                        svc.id
                    ),
                };
                (best, planned, why)
            }
            None => {
                let Some(better) = best.filter(|b| b != &cur) else {
                    return (Some(cur), false, String::new());
                };
                let Some(after) = self.failback_after else {
                    return (Some(cur), false, String::new());
                };
                let since = self
                    .eligible_since
                    .get(&(better.clone(), svc.id.clone()))
                    .copied()
                    .unwrap_or(now);
                if now.since(since) >= after {
                    let why = format!(
                        "site {better} is preferred for {} and has been eligible for {}: failing back from site {cur}",
                        svc.id,
                        humantime::format_duration(now.since(since))
                    );
                    (Some(better), true, why)
                } else {
                    (Some(cur), false, String::new())
                }
            }
        }
    }

    /// A site preferred over `best` whose health is not known yet, or (while
    /// the cluster may still be starting) not good yet, and that is not dead
    /// or drained. Placing a service before that site's service is up would
    /// put it on a worse site and keep it there for `failback_after`.
    fn better_site_unknown(&self, svc: &ServicePlan, best: Option<&SiteId>) -> Option<SiteId> {
        let cold = self.cold_start();
        self.preference(svc)
            .into_iter()
            .take_while(|s| Some(s) != best)
            .find(|s| match self.ineligible_reason(s, svc) {
                Some(Ineligible::HealthUnknown(_)) => true,
                Some(Ineligible::Unhealthy(_, _)) => cold,
                _ => false,
            })
    }

    /// What this daemon gossips to its peers.
    pub fn shared_state(&self) -> SharedState {
        SharedState {
            placements: self
                .steering
                .services
                .iter()
                .map(|(id, s)| {
                    let placement = Placement {
                        active: s.active.clone(),
                        epoch: s.epoch,
                        planned: self.planned.get(id).copied().unwrap_or(false),
                    };
                    (id.clone(), placement)
                })
                .collect(),
            intent: self.intent.clone(),
            deaths: self.deaths.clone(),
            leaving: self.leaving,
            carried: self.carried.clone(),
        }
    }

    /// Adopts a newer intent at once, and remembers placements from `from`
    /// that are newer than ours for the next evaluation.
    fn merge_peer(&mut self, from: &SiteId, theirs: &SharedState) {
        // Only a peer that places some of our services tells us where they
        // are now (a witness places nothing), and only a state it made while
        // it could hear us: a state from while we were cut off (its verdict
        // about us, which travels with it and arrives first, says so) may
        // still be in flight when we heal. Until such a peer has spoken, a
        // stale placement of ours must not be claimed.
        let made_while_hearing_us = matches!(
            self.view.report(from, &self.local),
            Some(Liveness::Alive | Liveness::Suspect)
        );
        let places_ours = self
            .services
            .iter()
            .any(|s| theirs.placements.contains_key(&s.id));
        if self.services.is_empty() || (places_ours && made_while_hearing_us) {
            self.fresh_peer = true;
        }
        // The member's own word: a leaving flag can only come from the
        // member itself (each origin publishes its own state), so it needs
        // no vote. A restarted member publishes without it.
        if self.view.set_left(from, theirs.leaving) {
            tracing::info!(%from, left = theirs.leaving, "member announced its planned departure or its return");
            self.left_changes.push((from.clone(), theirs.leaving));
        }
        self.peer_carried
            .insert(from.clone(), theirs.carried.clone());
        for (site, count) in &theirs.deaths {
            if !self.view.is_member(site) || self.deaths.get(site) >= Some(count) {
                continue;
            }
            // The cluster declared `site` dead once more than we knew (we may
            // be that site, back from a cut too short for our own detectors):
            // its failback clock restarts now.
            tracing::info!(%from, %site, count, "learnt of a newer death of a site");
            self.deaths.insert(site.clone(), *count);
            let now = self.now;
            for ((s, _), since) in self.eligible_since.iter_mut() {
                if s == site {
                    *since = now;
                }
            }
        }
        if theirs.intent.newer_than(&self.intent) {
            tracing::info!(%from, epoch = theirs.intent.epoch, "adopting newer operator intent");
            self.intent = theirs.intent.clone();
        }
        for svc in self.services.clone() {
            let Some(their) = theirs.placements.get(&svc.id) else {
                continue;
            };
            let mine = self
                .adopted
                .get(&svc.id)
                .map(|(p, _)| p.clone())
                .or_else(|| {
                    self.steering.services.get(&svc.id).map(|s| Placement {
                        active: s.active.clone(),
                        epoch: s.epoch,
                        planned: false,
                    })
                })
                .unwrap_or(Placement {
                    active: None,
                    epoch: 0,
                    planned: false,
                });
            if newer(&svc, their, &mine) {
                self.adopted
                    .insert(svc.id.clone(), (their.clone(), from.clone()));
            }
        }
    }

    fn local_role(&self, svc: &ServicePlan, active: Option<&SiteId>) -> Role {
        if !svc.sites.contains(&self.local) || self.fenced {
            return Role::Withdrawn;
        }
        if self.leaving {
            return self.leaving_role(svc);
        }
        if active == Some(&self.local) && self.synced {
            return Role::Active;
        }
        let local_ok = self.eligible(&self.local, svc);
        let draining = self
            .draining_until
            .get(&svc.id)
            .is_some_and(|until| *until > self.now);
        let drained_but_serving = self.intent.drained.contains(&self.local)
            && (!svc.health_checked
                || self
                    .health
                    .get(&(self.local.clone(), svc.id.clone()))
                    .is_some_and(|r| r.healthy));
        if draining && (local_ok || drained_but_serving) {
            Role::Draining
        } else if local_ok {
            Role::Standby
        } else {
            Role::Withdrawn
        }
    }

    fn role_reason(&self, svc: &ServicePlan, role: Role) -> String {
        let local = &self.local;
        match role {
            Role::Active => format!("site {local} carries {}", svc.id),
            Role::Standby if self.leaving => format!(
                "site {local} is stopping: {} stays standby as it was until withdrawn",
                svc.id
            ),
            Role::Standby => format!("site {local} is healthy standby for {}", svc.id),
            Role::Draining if self.leaving => format!(
                "site {local} is stopping: carrying {} at lowest preference until the new site \
                 confirms it or for at most {}",
                svc.id,
                humantime::format_duration(self.drain_grace)
            ),
            Role::Draining => format!(
                "{} moved away from site {local} on purpose: carrying it at lowest preference for {}",
                svc.id,
                humantime::format_duration(self.drain_grace)
            ),
            Role::Withdrawn if !svc.sites.contains(local) => {
                format!("site {local} does not serve {}", svc.id)
            }
            Role::Withdrawn if self.fenced => {
                format!("site {local} has no quorum: {} withdrawn", svc.id)
            }
            Role::Withdrawn => match self.ineligible_reason(local, svc) {
                Some(reason) => format!("{}: {} withdrawn", reason.text(), svc.id),
                None => format!("{} withdrawn at site {local}", svc.id),
            },
        }
    }

    fn causes_for(&self, svc: &ServicePlan, old: Option<&SiteId>) -> Vec<Event> {
        let Some(old) = old else { return Vec::new() };
        let mut causes = self.view.dead_vote_events(old);
        if let Some(r) = self.health.get(&(old.clone(), svc.id.clone())) {
            if !r.healthy {
                causes.push(r.event.clone());
            }
        }
        causes
    }

    fn is_witness(&self, site: &SiteId) -> bool {
        self.witnesses.contains(site)
    }
}

#[derive(Debug, Clone)]
enum Ineligible {
    Dead(String),
    /// Planned departure: a planned move, at once.
    Left(String),
    Drained(String),
    Unhealthy(Millis, String),
    /// No health report yet for a health-checked service.
    HealthUnknown(String),
}

impl Ineligible {
    fn text(&self) -> &str {
        match self {
            Ineligible::Dead(t)
            | Ineligible::Left(t)
            | Ineligible::Drained(t)
            | Ineligible::HealthUnknown(t)
            | Ineligible::Unhealthy(_, t) => t,
        }
    }
}

/// Total order on placements, the same in every engine: higher epoch wins;
/// on a tie the site earlier in the configured priority wins, and any site
/// wins over none.
fn newer(svc: &ServicePlan, theirs: &Placement, mine: &Placement) -> bool {
    let rank = |p: &Placement| match &p.active {
        None => usize::MAX,
        Some(site) => svc
            .sites
            .iter()
            .position(|s| s == site)
            .unwrap_or(usize::MAX - 1),
    };
    (theirs.epoch, std::cmp::Reverse(rank(theirs))) > (mine.epoch, std::cmp::Reverse(rank(mine)))
}

fn join(sites: &[SiteId]) -> String {
    if sites.is_empty() {
        return "none".to_owned();
    }
    sites
        .iter()
        .map(SiteId::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}
