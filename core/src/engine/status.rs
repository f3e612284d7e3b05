//! A serializable snapshot of the engine for `orbitctl status` and the API.

use serde::{Deserialize, Serialize};

use super::{Engine, HeldBy, PlanRun, StepState};
use crate::event::Liveness;
use crate::ids::{ServiceId, SiteId};
use crate::steering::Role;
use crate::time::Millis;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineStatus {
    /// The local member (its `[[site]] id`; the site itself, unless the
    /// member names another in `site`).
    pub local_site: SiteId,
    pub generation: u64,
    /// In sites (each site counts once, whatever its members).
    pub quorum: usize,
    pub fenced: bool,
    /// Heard the peers' placements since start / since the last fencing.
    pub synced: bool,
    pub observer_mode: bool,
    pub sites: Vec<SiteStatus>,
    pub services: Vec<ServiceStatus>,
}

/// One member (`[[site]]`): usually a site of its own; see `site`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteStatus {
    pub id: SiteId,
    /// The site this member belongs to, when it is not a site of its own
    /// (`[[site]] site = ...`, a site with several routers). Absent
    /// otherwise, and in answers of older daemons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<SiteId>,
    /// With `site`: that site is dead (every member gone). Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site_dead: Option<bool>,
    pub witness: bool,
    /// Declared dead by a quorum.
    pub dead: bool,
    /// While dead: how long ago a quorum started agreeing that it is (the
    /// declaration followed after `failover_hold`). Absent in answers of
    /// older daemons.
    #[serde(default)]
    pub dead_for_ms: Option<u64>,
    /// Members currently reporting it dead (whose votes count).
    pub dead_votes: Vec<SiteId>,
    /// By its own reports this member reaches fewer than a quorum: its dead
    /// votes are stale and do not count.
    #[serde(default)]
    pub cut_off: bool,
    pub drained: bool,
    /// Announced a planned departure (SIGTERM) and not back yet: not dead,
    /// not counted toward any quorum.
    #[serde(default)]
    pub left: bool,
    /// What the local detectors say about it (`None` for the local site or
    /// when nothing was heard yet).
    pub local_view: Option<Liveness>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub id: ServiceId,
    pub active: Option<SiteId>,
    pub local_role: Role,
    pub takeover: bool,
    pub pinned: Option<SiteId>,
    /// Where an operator switched it over to, if that still holds.
    pub placed: Option<SiteId>,
    /// Priority order.
    pub sites: Vec<SiteId>,
    /// Per site: healthy (`Some(true)`), unhealthy, or not known (`None`).
    pub health: Vec<(SiteId, Option<bool>)>,
    /// Why it is at `active` (or nowhere). Absent in answers of older
    /// daemons.
    #[serde(default)]
    pub held_by: Option<HeldBy>,
    /// A move under way (the service has a `[[plan]]`): the site that
    /// takes it over once its plan allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub moving_to: Option<SiteId>,
    /// The last run of its plan this member knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<PlanView>,
}

/// A plan run as status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanView {
    pub run: PlanRun,
    /// Whether this member coordinates it (its times are this member's).
    pub here: bool,
    /// Since the run started, when coordinated here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elapsed_ms: Option<u64>,
    /// How long the running step has run, when coordinated here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_elapsed_ms: Option<u64>,
}

impl Engine {
    fn plan_view(&self, service: &ServiceId, now: Millis) -> Option<PlanView> {
        let run = self.plan_run(service)?;
        let here = self.runs.contains_key(service);
        let ms = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Some(PlanView {
            here,
            elapsed_ms: here.then(|| ms(now.since(run.started))),
            step_elapsed_ms: here
                .then(|| {
                    run.steps.iter().find_map(|s| match s.state {
                        StepState::Running { since } => Some(ms(now.since(since))),
                        _ => None,
                    })
                })
                .flatten(),
            run: run.clone(),
        })
    }

    /// The status as of the last event's time.
    pub fn status(&self) -> EngineStatus {
        self.status_at(self.now)
    }

    /// The status with its durations (how long a site has been dead, a
    /// failback timer's time left) counted up to `now`: the engine's own
    /// clock stops between events, and a quiet cluster has few.
    pub fn status_at(&self, now: Millis) -> EngineStatus {
        let now = now.max(self.now);
        let members = self.view.members();
        EngineStatus {
            local_site: self.local.clone(),
            generation: self.steering.generation,
            quorum: self.view.quorum(),
            fenced: self.fenced,
            synced: self.synced,
            observer_mode: self.observer_mode(),
            sites: members
                .iter()
                .map(|site| SiteStatus {
                    site: (self.view.site_of(site) != site
                        || self.view.members_of(site).count() > 1)
                        .then(|| self.view.site_of(site).clone()),
                    site_dead: (self.view.site_of(site) != site
                        || self.view.members_of(site).count() > 1)
                        .then(|| self.view.is_site_dead(self.view.site_of(site))),
                    id: site.clone(),
                    witness: self.is_witness(site),
                    dead: self.view.is_dead(site),
                    dead_for_ms: self.view.dead_since(site).map(|since| {
                        u64::try_from(now.since(since).as_millis()).unwrap_or(u64::MAX)
                    }),
                    dead_votes: self.view.dead_voters(site),
                    cut_off: self.view.fenced(site),
                    drained: self.intent.drained.contains(site),
                    left: self.view.is_left(site),
                    local_view: (site != &self.local)
                        .then(|| self.view.report(&self.local, site))
                        .flatten(),
                })
                .collect(),
            services: self
                .services
                .iter()
                .map(|svc| {
                    let steering = self.steering.services.get(&svc.id);
                    let active = steering.and_then(|s| s.active.clone());
                    ServiceStatus {
                        moving_to: self.moving.get(&svc.id).cloned(),
                        plan: self.plan_view(&svc.id, now),
                        held_by: Some(self.held_by(svc, active.as_ref(), now)),
                        id: svc.id.clone(),
                        active,
                        local_role: steering.map_or(Role::Withdrawn, |s| s.local_role),
                        takeover: steering.is_some_and(|s| s.takeover),
                        pinned: self.intent.pins.get(&svc.id).cloned(),
                        placed: self.intent.placed.get(&svc.id).cloned(),
                        sites: svc.sites.clone(),
                        health: svc
                            .sites
                            .iter()
                            .map(|site| {
                                let known = if svc.health_checked {
                                    self.site_health(site, svc).map(|(healthy, _)| healthy)
                                } else {
                                    Some(true)
                                };
                                (site.clone(), known)
                            })
                            .collect(),
                    }
                })
                .collect(),
        }
    }
}
