//! One evaluation: the engine's rules, applied in order after every event.
//! Later rules read what earlier ones settled: placement needs liveness and
//! authority, the local role needs the placement.

use std::collections::BTreeMap;

use super::Engine;
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
        let mut decisions = Decisions {
            at: self.now,
            trigger,
            list: Vec::new(),
        };
        self.announce_departures(&mut decisions);
        self.announce_intent_news(&mut decisions);
        self.settle_liveness(&mut decisions);
        self.settle_fencing(&mut decisions);
        self.settle_sync();
        self.refresh_eligible_since();
        let mut services = BTreeMap::new();
        for svc in self.services.clone() {
            let current = self.steering.services.get(&svc.id).cloned();
            let (old_active, epoch) =
                self.adopt_peer_placement(&svc, current.as_ref(), &mut decisions);
            self.undo_lost_move(&svc, old_active.as_ref(), epoch);
            let (active, epoch) = self.move_service(&svc, old_active, epoch, &mut decisions);
            let old_role = current.as_ref().map_or(Role::Withdrawn, |c| c.local_role);
            let role = self.settle_role(&svc, old_role, active.as_ref(), &mut decisions);
            let steering = ServiceSteering {
                prefixes: svc.prefixes.clone(),
                active,
                epoch,
                local_role: role,
                takeover: self.takeover(&svc, role),
            };
            services.insert(svc.id.clone(), steering);
        }
        // Operator moves and drain grace periods are spent.
        self.forced.clear();
        let now = self.now;
        self.draining_until.retain(|_, until| *until > now);
        self.keep_confirmed(&services);
        self.publish(services, decisions.list)
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
            local_site: self.local.clone(),
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
        for d in &decisions {
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
        decisions
    }
}
