//! Placement: which site carries each service. The preference order is
//! *pin, switchover target, configured priority*; only an engine with
//! authority (see `authority.rs`) moves anything.

use super::eligibility::Ineligible;
use super::evaluate::Decisions;
use super::{Engine, ServicePlan};
use crate::decision::Change;
use crate::event::Event;
use crate::ids::SiteId;

impl Engine {
    /// Rule: an engine with authority (not fenced, synced) moves a service
    /// where [`Engine::place`] says, under a new epoch so that every engine
    /// orders the move the same way (see `peers.rs`). A planned move away
    /// from the local site keeps it Draining for `drain_grace`: make before
    /// break. Without authority the placement stays as it is, since the
    /// majority may have moved on meanwhile. Returns the carrier and epoch.
    pub(super) fn move_service(
        &mut self,
        svc: &ServicePlan,
        old_active: Option<SiteId>,
        epoch: u64,
        decisions: &mut Decisions,
    ) -> (Option<SiteId>, u64) {
        if self.plan_of(svc).is_some() {
            let moving = self.moving.get(&svc.id).cloned();
            if let (Some(_), Some(carrier)) = (&moving, &old_active) {
                if !self.eligible(carrier, svc) {
                    self.carrier_lost.insert(svc.id.clone());
                }
            }
            let current = moving.clone().or_else(|| old_active.clone());
            let (target, planned, why) = if self.fenced || !self.synced {
                (current, false, String::new())
            } else if let Some(why) = self.give_up_move(svc, old_active.as_ref(), moving.as_ref()) {
                (old_active.clone(), false, why)
            } else {
                self.place(svc, current)
            };
            return self.move_with_plan(
                svc, old_active, moving, target, planned, why, epoch, decisions,
            );
        }
        let (active, planned, why) = if self.fenced || !self.synced {
            (old_active.clone(), false, String::new())
        } else {
            self.place(svc, old_active.clone())
        };
        if active == old_active {
            return (active, epoch);
        }
        self.record_move(
            svc,
            old_active.as_ref(),
            active.as_ref(),
            planned,
            why,
            decisions,
        );
        if let Some(old) = old_active.as_ref().filter(|_| !planned) {
            self.forget_failed_switchover(svc, old);
        }
        (active, epoch + 1)
    }

    /// Records the move of `svc` from `old_active` to `to`: the decision,
    /// whether it was planned, and a planned move away from the local site
    /// keeps it Draining for `drain_grace` (make before break).
    pub(super) fn record_move(
        &mut self,
        svc: &ServicePlan,
        old_active: Option<&SiteId>,
        to: Option<&SiteId>,
        planned: bool,
        why: String,
        decisions: &mut Decisions,
    ) {
        self.planned.insert(svc.id.clone(), planned);
        decisions.push(
            Change::ServiceMoved {
                service: svc.id.clone(),
                from: old_active.cloned(),
                to: to.cloned(),
            },
            why,
            self.causes_for(svc, old_active),
        );
        if planned && old_active == Some(&self.site) {
            self.draining_until
                .insert(svc.id.clone(), self.now.after(self.drain_grace));
        }
    }

    /// Rule: a switchover target that fails loses the operator's placement
    /// (the service failed over away from `old`, the site it was switched
    /// to). Otherwise `old` would stay first in the preference order and
    /// fail the service back to itself once it recovers, although the
    /// operator's choice did not hold (scenario
    /// `failed_switchover_target_loses_its_claim`).
    fn forget_failed_switchover(&mut self, svc: &ServicePlan, old: &SiteId) {
        if self.intent.placed.get(&svc.id) != Some(old) {
            return;
        }
        // This changes the shared intent, so it gets an epoch like a command
        // would (a daemon restored from an older state file must not bring
        // the stale placement back).
        self.intent.placed.remove(&svc.id);
        self.intent.epoch += 1;
        self.intent.origin = Some(self.local.clone());
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
                    Ineligible::Dead(_) | Ineligible::Unfenced(_) => (true, false),
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

    /// The events that made `old` lose `svc`: the quorum's dead votes and
    /// its failed health check, for the decision's causes.
    pub(super) fn causes_for(&self, svc: &ServicePlan, old: Option<&SiteId>) -> Vec<Event> {
        let Some(old) = old else { return Vec::new() };
        let mut causes = Vec::new();
        for member in self.view.members_of(old) {
            causes.extend(self.view.dead_vote_events(member));
        }
        for member in self.view.members_of(old) {
            if let Some(r) = self.health.get(&(member.clone(), svc.id.clone())) {
                if !r.healthy {
                    causes.push(r.event.clone());
                }
            }
        }
        causes
    }
}
