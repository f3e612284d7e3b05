//! Restart, reload and shutdown: how an engine carries its state across the
//! daemon's life without a flap.

use super::quorum::QuorumView;
use super::Engine;
use crate::config::Config;
use crate::decision::Decision;
use crate::event::Event;
use crate::shared::SharedState;
use crate::steering::{Role, Steering};

/// The two steps of a graceful departure (SIGTERM).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Departure {
    /// Keep everything announced at the lowest preference so traffic moves
    /// to the other sites before anything is withdrawn.
    Draining,
    /// Claim nothing.
    Withdrawn,
}

impl Engine {
    /// Restores what the daemon saved before it stopped: the operator intent,
    /// the placements and the steering generation. The engine still waits
    /// for quorum and a sync with its peers before it claims anything; if
    /// nothing changed meanwhile, the restored placement stays as it was.
    pub fn restore(&mut self, saved: &SharedState, generation: u64, observer_mode: bool) {
        self.intent = saved.intent.clone();
        self.intent.drained.retain(|s| self.view.is_member(s));
        self.deaths = saved.deaths.clone();
        self.deaths.retain(|s, _| self.view.is_member(s));
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
        for svc in &self.services {
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
        self.steering.generation = generation;
        self.steering.observe_only = observer_mode;
        self.observer_mode = observer_mode;
    }

    /// Takes a new config (SIGHUP) and keeps everything learned that still
    /// applies: liveness reports, health, intent, placements, timers.
    pub fn reload(&mut self, now: crate::Millis, config: &Config) -> Vec<Decision> {
        let mut next = Engine::new(config);
        next.now = self.now;
        let mut view = QuorumView::new(next.view.members().to_vec(), next.view.quorum());
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
            .filter(|((site, svc), _)| next.view.is_member(site) && next.service(svc).is_some())
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        next.backends = self.backends.clone();
        next.synced = self.synced;
        next.fresh_peer = self.fresh_peer;
        next.unsynced_since = self.unsynced_since;
        next.fenced = self.fenced;
        next.draining_until = self.draining_until.clone();
        let observer_mode = self.observer_mode;
        next.restore(
            &self.shared_state(),
            self.steering.generation,
            observer_mode,
        );
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

    pub fn observer_mode(&self) -> bool {
        self.observer_mode
    }

    /// The steering for one step of a graceful departure. Placement is left
    /// as it is: only the local site's claims change.
    pub fn departing_steering(&self, step: Departure) -> Steering {
        let mut steering = self.steering.clone();
        steering.generation += match step {
            Departure::Draining => 1,
            Departure::Withdrawn => 2,
        };
        for s in steering.services.values_mut() {
            s.takeover = false;
            s.local_role = match (step, s.local_role) {
                (Departure::Draining, Role::Active | Role::Standby | Role::Draining) => {
                    Role::Draining
                }
                _ => Role::Withdrawn,
            };
        }
        if step == Departure::Withdrawn {
            steering.fenced = true;
        }
        steering
    }
}
