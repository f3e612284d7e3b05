//! One evaluation: the engine's rules, applied in order after every event.
//! Later rules read what earlier ones settled: placement needs liveness and
//! authority, the local role needs the placement.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{Engine, ServicePlan};
use crate::decision::{Change, Decision};
use crate::event::Event;
use crate::ids::ServiceId;
use crate::steering::{Role, ServiceSteering, Steering};
use crate::time::Millis;

/// The decisions of one evaluation. The event that triggered it is the
/// first cause of each; a peer's state is trimmed to what concerns the
/// decision's service (see [`crate::SharedState::concerning`]).
pub(super) struct Decisions<'a> {
    at: Millis,
    trigger: &'a Event,
    list: Vec<Decision>,
}

impl Decisions<'_> {
    /// Records `change`, caused by the trigger and then by `more_causes`.
    pub(super) fn push(&mut self, change: Change, reason: String, more_causes: Vec<Event>) {
        let trigger = match (self.trigger, change.service()) {
            (Event::Peer { from, state }, Some(service)) => Event::Peer {
                from: from.clone(),
                state: state.concerning(service),
            },
            (trigger, _) => trigger.clone(),
        };
        let mut causes = vec![trigger];
        causes.extend(more_causes);
        self.list.push(Decision {
            at: self.at,
            change,
            reason,
            causes,
            // Set once the evaluation knows the steering it leads to.
            generation: 0,
        });
    }
}

impl Engine {
    /// Re-derives everything after `trigger` and reports what changed.
    pub(super) fn evaluate(&mut self, trigger: &Event) -> Vec<Decision> {
        self.evaluate_scoped(trigger, None)
    }

    /// As [`Engine::evaluate`]; with `only`, the index of the one service
    /// the trigger can affect, re-derives that service alone. The caller
    /// vouches that nothing else is pending (no timer due, no peer
    /// placement or operator move waiting) and that the site-level rules
    /// have nothing new to settle.
    pub(super) fn evaluate_scoped(
        &mut self,
        trigger: &Event,
        only: Option<usize>,
    ) -> Vec<Decision> {
        let mut decisions = Decisions {
            at: self.now,
            trigger,
            list: Vec::new(),
        };
        let plans = Arc::clone(&self.services);
        if let Some(index) = only {
            let svc = &plans[index];
            self.refresh_eligible_since_of(svc);
            let steering = self.evaluate_service(svc, &mut decisions);
            self.forced.remove(&svc.id);
            let now = self.now;
            self.draining_until.retain(|_, until| *until > now);
            self.keep_confirmed_of(&svc.id, &steering);
            return self.publish_one(&svc.id, steering, decisions.list);
        }
        self.announce_departures(&mut decisions);
        self.announce_intent_news(&mut decisions);
        self.settle_liveness(&mut decisions);
        self.settle_fencing(&mut decisions);
        self.settle_sync();
        self.refresh_eligible_since();
        let mut services = BTreeMap::new();
        for svc in plans.iter() {
            let steering = self.evaluate_service(svc, &mut decisions);
            services.insert(svc.id.clone(), steering);
        }
        // Operator moves and drain grace periods are spent.
        self.forced.clear();
        let now = self.now;
        self.draining_until.retain(|_, until| *until > now);
        self.keep_confirmed(&services);
        self.publish(services, decisions.list)
    }

    /// The placement rules and the local role for one service.
    fn evaluate_service(
        &mut self,
        svc: &ServicePlan,
        decisions: &mut Decisions,
    ) -> ServiceSteering {
        let (old_active, epoch, old_role) = match self.steering.services.get(&svc.id) {
            Some(c) => (c.active.clone(), c.epoch, c.local_role),
            None => (None, 0, Role::Withdrawn),
        };
        let (old_active, epoch) = self.adopt_peer_placement(svc, old_active, epoch, decisions);
        self.undo_lost_move(svc, old_active.as_ref(), epoch);
        let (active, epoch) = self.move_service(svc, old_active, epoch, decisions);
        if svc.plan.is_some() {
            self.settle_run(svc, active.as_ref(), epoch);
        }
        let role = self.settle_role(svc, old_role, active.as_ref(), decisions);
        ServiceSteering {
            prefixes: svc.prefixes.clone(),
            active,
            epoch,
            local_role: role,
            takeover: self.takeover(svc, role),
        }
    }

    /// [`Engine::publish`] for an evaluation of one service: the rest of
    /// the steering is as it was.
    fn publish_one(
        &mut self,
        id: &ServiceId,
        service: ServiceSteering,
        mut decisions: Vec<Decision>,
    ) -> Vec<Decision> {
        let fenced = self.fenced || !self.synced;
        let observe_only = self.observer_mode();
        let changed = self.steering.fenced != fenced
            || self.steering.observe_only != observe_only
            || self.steering.services.get(id) != Some(&service);
        if changed {
            self.steering.generation += 1;
            self.steering.fenced = fenced;
            self.steering.observe_only = observe_only;
            self.steering.services.insert(id.clone(), service);
        }
        for d in &mut decisions {
            d.generation = self.steering.generation;
        }
        log(&decisions);
        decisions
    }

    /// Makes `services` the steering, under a new generation only if
    /// anything changed (backends apply each generation once), and stamps
    /// and logs the decisions with it.
    fn publish(
        &mut self,
        services: BTreeMap<ServiceId, ServiceSteering>,
        mut decisions: Vec<Decision>,
    ) -> Vec<Decision> {
        let next = Steering {
            generation: self.steering.generation,
            local_site: self.site.clone(),
            fenced: self.fenced || !self.synced,
            observe_only: self.observer_mode(),
            services,
        };
        if next != self.steering {
            self.steering = Steering {
                generation: self.steering.generation + 1,
                ..next
            };
        }
        for d in &mut decisions {
            d.generation = self.steering.generation;
        }
        log(&decisions);
        decisions
    }
}

/// Logs each decision as one structured line.
fn log(decisions: &[Decision]) {
    {
        for d in decisions {
            // Names and kinds as Display (`kind=service_moved service=web`),
            // the sentence quoted (`reason="..."`): one logfmt line in text
            // mode, plain string fields in JSON mode.
            let f = d.change.fields();
            let shown = |v: &Option<String>| v.clone().map(tracing::field::display);
            tracing::info!(
                kind = %d.change.kind(),
                service = shown(&f.service),
                site = shown(&f.site),
                from = shown(&f.from),
                to = shown(&f.to),
                generation = d.generation,
                reason = d.reason.as_str(),
                "decision"
            );
        }
    }
}
