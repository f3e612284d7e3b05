//! Restart, reload and shutdown: how an engine carries its state across the
//! daemon's life without a flap.

use std::collections::BTreeMap;

use super::quorum::QuorumView;
use super::{Engine, ServicePlan};
use crate::decision::Decision;
use crate::event::{Event, Liveness};
use crate::ids::{ServiceId, SiteId};
use crate::shared::SharedState;
use crate::steering::{Role, ServiceSteering, Steering};

/// Where the services a departing site carried stand (`Engine::handover`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Handover {
    /// Moved, and the new carrier's backends confirmed it: (service, site).
    pub confirmed: Vec<(ServiceId, SiteId)>,
    /// Not confirmed yet: (service, the site it moved to, if it moved).
    pub pending: Vec<(ServiceId, Option<SiteId>)>,
    /// No other site can carry them: they go without a site once the
    /// departing site withdraws.
    pub orphaned: Vec<ServiceId>,
    /// Members we reach that do not report us left yet: they have not
    /// heard of the departure, and would take our silence for a failure.
    pub unaware: Vec<SiteId>,
}

impl Handover {
    /// Every service taken over and confirmed, and every member we reach
    /// told (services without a site aside: nothing can confirm them).
    pub fn complete(&self) -> bool {
        self.pending.is_empty() && self.unaware.is_empty()
    }
}

impl Engine {
    /// Restores what the daemon saved before it stopped: the operator intent,
    /// the placements and the steering generation. The engine still waits
    /// for quorum and a sync with its peers before it claims anything; if
    /// nothing changed meanwhile, the restored placement stays as it was.
    pub fn restore(&mut self, saved: &SharedState, generation: u64) {
        self.intent = saved.intent.clone();
        self.intent.drained.retain(|s| self.view.is_site(s));
        self.deaths = saved.deaths.clone();
        self.deaths.retain(|s, _| self.view.is_site(s));
        let services = self.services.clone();
        self.intent.pins.retain(|svc, site| {
            services
                .iter()
                .any(|s| &s.id == svc && s.sites.contains(site))
        });
        self.intent.placed.retain(|svc, site| {
            services
                .iter()
                .any(|s| &s.id == svc && s.sites.contains(site))
        });
        for svc in self.services.iter() {
            let (Some(placement), Some(steering)) = (
                saved.placements.get(&svc.id),
                self.steering.services.get_mut(&svc.id),
            ) else {
                continue;
            };
            if placement
                .active
                .as_ref()
                .is_none_or(|a| svc.sites.contains(a))
            {
                steering.active = placement.active.clone();
                steering.epoch = placement.epoch;
                self.planned.insert(svc.id.clone(), placement.planned);
            }
        }
        self.moving = saved
            .placements
            .iter()
            .filter_map(|(id, p)| {
                let svc = self.service(id)?;
                let to = p.moving_to.clone()?;
                (svc.plan.is_some() && svc.sites.contains(&to)).then(|| (id.clone(), to))
            })
            .collect();
        self.restore_plans(&saved.plan_runs, &saved.step_reports);
        self.steering.generation = generation;
        self.steering.observe_only = self.observer_mode();
    }

    /// Takes a new config (SIGHUP), as the engine `next` built from it,
    /// and keeps everything learned that still applies: liveness reports,
    /// health, intent, placements, timers.
    pub fn reload(&mut self, now: crate::Millis, mut next: Engine) -> Vec<Decision> {
        next.now = self.now;
        let mut view = QuorumView::new(next.view.membership(), next.view.quorum());
        view.carry_over(&self.view);
        next.view = view;
        next.health = self
            .health
            .iter()
            .filter(|((site, svc), _)| next.view.is_member(site) && next.service(svc).is_some())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        next.eligible_since = self
            .eligible_since
            .iter()
            .filter(|((site, svc), _)| next.view.is_site(site) && next.service(svc).is_some())
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        next.synced = self.synced;
        next.fresh_peer = self.fresh_peer;
        next.unsynced_since = self.unsynced_since;
        next.fenced = self.fenced;
        next.draining_until = self.draining_until.clone();
        next.leaving = self.leaving;
        next.departing = self.departing.clone();
        next.carried = self.carried.clone();
        next.peer_carried = self.peer_carried.clone();
        next.dead_sites = self.dead_sites.clone();
        next.dead_sites.retain(|s| next.view.is_site(s));
        next.restore(&self.shared_state(), self.steering.generation);
        // Same process, same clock: runs go on exactly where they were.
        let mut runs = std::mem::take(&mut self.runs);
        runs.retain(|s, r| {
            next.service(s)
                .is_some_and(|svc| svc.plan.as_ref() == Some(&r.plan))
        });
        next.runs = runs;
        next.reports = std::mem::take(&mut self.reports);
        next.peer_runs = std::mem::take(&mut self.peer_runs);
        // Roles are re-derived by the evaluation below.
        for (id, s) in &mut next.steering.services {
            if let Some(old) = self.steering.services.get(id) {
                s.local_role = old.local_role;
            }
        }
        *self = next;
        self.advance(now);
        self.evaluate(&Event::Tick)
    }

    /// Whether this engine decides and reports without applying: as an
    /// operator last set it for the cluster, else as the config says.
    pub fn observer_mode(&self) -> bool {
        self.intent.observer.unwrap_or(self.observer_by_config)
    }

    /// `Event::Departing`: the local site leaves. What it carries now
    /// (Active, or Draining after an earlier planned move) stays Draining
    /// until the daemon withdraws; the evaluation that follows moves it to
    /// the next eligible site as a planned move, like every other engine
    /// does once it hears `leaving`.
    pub(super) fn start_leaving(&mut self) {
        if self.leaving {
            return;
        }
        self.leaving = true;
        self.departing = self
            .steering
            .services
            .iter()
            .filter(|(_, s)| matches!(s.local_role, Role::Active | Role::Draining))
            .filter(|_| !self.steering.fenced)
            .map(|(id, _)| id.clone())
            .collect();
        let local = self.local.clone();
        if self.view.set_left(&local, true) {
            self.left_changes.push((local, true));
        }
    }

    /// The local role of a leaving site: never more attractive than before.
    /// What it carried drains; a standby stays as it was (a standby that
    /// announces nothing keeps announcing nothing); the rest is withdrawn.
    pub(super) fn leaving_role(&self, svc: &ServicePlan) -> Role {
        if self.departing.contains(&svc.id) {
            return Role::Draining;
        }
        let was = self
            .steering
            .services
            .get(&svc.id)
            .map_or(Role::Withdrawn, |s| s.local_role);
        let healthy = !svc.health_checked
            || self
                .health
                .get(&(self.local.clone(), svc.id.clone()))
                .is_some_and(|r| r.healthy);
        if was == Role::Standby && healthy {
            Role::Standby
        } else {
            Role::Withdrawn
        }
    }

    /// `Event::Confirmed`: every backend applied `generation`. If that is
    /// the current steering, what it makes the local site Active for is
    /// carried at its placement epoch.
    pub(super) fn confirmed(&mut self, generation: u64) {
        let steering = &self.steering;
        if generation != steering.generation || !steering.writes_for_everyone() {
            return;
        }
        for (id, s) in &steering.services {
            if s.local_role == Role::Active {
                self.carried.insert(id.clone(), s.epoch);
            }
        }
    }

    /// Rule: a confirmation holds for the placement it confirmed, while the
    /// local site still claims it with authority; peers read `carried` to
    /// know that a handover is done, so it must never outlive the claim.
    /// [`Engine::keep_confirmed`] for one service's new steering.
    pub(super) fn keep_confirmed_of(&mut self, id: &ServiceId, steering: &ServiceSteering) {
        let authority = !self.fenced && self.synced;
        let kept = self.carried.get(id).is_none_or(|epoch| {
            authority && steering.local_role == Role::Active && steering.epoch == *epoch
        });
        if !kept {
            self.carried.remove(id);
        }
    }

    pub(super) fn keep_confirmed(&mut self, services: &BTreeMap<ServiceId, ServiceSteering>) {
        let authority = !self.fenced && self.synced;
        self.carried.retain(|id, epoch| {
            authority
                && services
                    .get(id)
                    .is_some_and(|s| s.local_role == Role::Active && s.epoch == *epoch)
        });
    }

    /// Whether the local site is leaving (`Event::Departing`).
    pub fn leaving(&self) -> bool {
        self.leaving
    }

    /// For a leaving site: has every service it carried been taken over,
    /// and confirmed by the new carrier's backends (its gossiped
    /// `carried`)?
    pub fn handover(&self) -> Handover {
        let mut h = Handover::default();
        if !self.leaving {
            return h;
        }
        for m in self.view.members() {
            if m == &self.local || self.view.is_left(m) {
                continue;
            }
            if self.view.hears(&self.local, m)
                && self.view.report(m, &self.local) != Some(Liveness::Left)
            {
                h.unaware.push(m.clone());
            }
        }
        for id in &self.departing {
            let Some(s) = self.steering.services.get(id) else {
                continue;
            };
            match &s.active {
                None => h.orphaned.push(id.clone()),
                Some(site) => {
                    // Another member of the carrying site (of our own, if
                    // the service stays here) confirmed it.
                    let carried = self
                        .view
                        .members_of(site)
                        .filter(|m| *m != &self.local && !self.view.is_left(m))
                        .filter_map(|m| self.peer_carried.get(m))
                        .any(|c| c.get(id).is_some_and(|e| *e >= s.epoch));
                    if carried {
                        h.confirmed.push((id.clone(), site.clone()));
                    } else if site == &self.site {
                        h.pending.push((id.clone(), None));
                    } else {
                        h.pending.push((id.clone(), Some(site.clone())));
                    }
                }
            }
        }
        h
    }

    /// The last steering of a departure: nothing claimed (placement left
    /// as it is; the generation moves past the engine's own).
    pub fn withdrawn_steering(&self) -> Steering {
        let mut steering = self.steering.clone();
        steering.generation += 1;
        steering.fenced = true;
        for s in steering.services.values_mut() {
            s.takeover = false;
            s.local_role = Role::Withdrawn;
        }
        steering
    }
}
