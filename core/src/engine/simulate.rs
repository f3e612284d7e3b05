//! What-if: a [`Scenario`] or an operator command played on a copy of the
//! engine, with the events the real detectors would feed it, then with time
//! run forward until no timer is due within a horizon.
//!
//! The copy is thrown away: the live engine, and so the steering, the
//! journal and what gossip shares, stay as they were. Decisions made on
//! the copy are not logged as decisions either (the log would read as if
//! they had been taken).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::Engine;
use crate::decision::Decision;
use crate::error::{CommandError, SimulationError};
use crate::event::{Command, Event, Liveness};
use crate::ids::{ServiceId, SiteId};
use crate::order::Order;
use crate::simulation::{Hypothesis, Scenario, SimulatedDecision, SimulatedPlacement, Simulation};
use crate::time::Millis;

/// How many timer expiries one simulation plays at most: a horizon of
/// configured timers is reached long before, unless timers keep re-arming.
const MAX_TICKS: usize = 1000;

impl Engine {
    /// What the engine would decide, from its state at `now`, if the
    /// hypothesis came true; the engine itself does not change.
    pub fn simulate(
        &self,
        now: Millis,
        hypothesis: &Hypothesis,
    ) -> Result<Simulation, SimulationError> {
        // A simulation's decisions are not this daemon's decisions: keep
        // them out of its log.
        let silent = tracing::subscriber::NoSubscriber::default();
        tracing::subscriber::with_default(silent, || self.play(now, hypothesis))
    }

    fn play(&self, now: Millis, hypothesis: &Hypothesis) -> Result<Simulation, SimulationError> {
        let start = self.now.max(now);
        let (copy, decisions, pending_after) = self.run(start, hypothesis)?;
        let mut notes = Vec::new();
        if let Err(CommandError::NotReady { site, why }) = self.ready_to_steer() {
            // Otherwise an empty answer would read as "nothing would change
            // because all is well".
            notes.push(format!(
                "site {site} cannot steer traffic now ({why}): it moves nothing until it can"
            ));
        }
        if let Hypothesis::Facts(scenario) = hypothesis {
            if !scenario.drain.is_empty() {
                notes.extend(self.drain_notes(start, scenario, &copy)?);
            }
        }
        notes.extend(copy.plan_notes(&decisions));
        Ok(Simulation {
            decisions: decisions.into_iter().map(|d| offset(d, start)).collect(),
            placement: self.placement_after(&copy),
            notes,
            horizon_ms: self.horizon().as_millis().try_into().unwrap_or(u64::MAX),
            pending_after_ms: pending_after.map(|at| at.0.saturating_sub(start.0)),
        })
    }

    /// Plays `hypothesis` on a copy from `start` to the horizon: the copy,
    /// its decisions and the first timer left pending past the horizon.
    fn run(
        &self,
        start: Millis,
        hypothesis: &Hypothesis,
    ) -> Result<(Engine, Vec<Decision>, Option<Millis>), SimulationError> {
        let mut copy = self.clone();
        copy.advance(start);
        let mut decisions = Vec::new();
        match hypothesis {
            Hypothesis::Command(order) => decisions.extend(copy.command(start, order.clone())?),
            Hypothesis::Facts(scenario) => {
                for event in copy.scenario_events(scenario)? {
                    decisions.extend(copy.handle(start, event));
                }
                for site in once_each(&scenario.drain) {
                    decisions.extend(copy.forced_drain(start, site)?);
                }
            }
        }
        let horizon = start.after(self.horizon());
        for _ in 0..MAX_TICKS {
            match copy.next_deadline() {
                Some(at) if at <= horizon => decisions.extend(copy.handle(at, Event::Tick)),
                later => return Ok((copy, decisions, later)),
            }
        }
        let pending = copy.next_deadline();
        Ok((copy, decisions, pending))
    }

    /// Every timer the engine has, end to end: one failover, one drain
    /// grace, one failback and one sync wait fit in it.
    fn horizon(&self) -> Duration {
        self.failover_hold
            + self.drain_grace
            + self.failback_after.unwrap_or_default()
            + self.sync_timeout
    }

    /// An operator drain in a scenario is played forced, so the answer
    /// shows where it leads; whether it needs the force is judged on the
    /// outcome, the failures of the scenario included (draining b is fine
    /// while a lives, not once a is dead).
    fn forced_drain(
        &mut self,
        now: Millis,
        site: &SiteId,
    ) -> Result<Vec<Decision>, SimulationError> {
        let forced = Order {
            force: true,
            ..Order::new(Command::Drain { site: site.clone() })
        };
        Ok(self.command(now, forced)?)
    }

    /// What the scenario's drains strand that its failures alone do not.
    fn drain_notes(
        &self,
        start: Millis,
        scenario: &Scenario,
        outcome: &Engine,
    ) -> Result<Vec<String>, SimulationError> {
        let failures = Scenario {
            drain: Vec::new(),
            ..scenario.clone()
        };
        let baseline = if failures.is_empty() {
            self.clone()
        } else {
            self.run(start, &Hypothesis::Facts(failures))?.0
        };
        let stranded = baseline.stranded_by(outcome);
        if stranded.is_empty() {
            return Ok(Vec::new());
        }
        let drains: Vec<String> = once_each(&scenario.drain)
            .into_iter()
            .map(|site| Command::Drain { site: site.clone() }.to_string())
            .collect();
        Ok(vec![format!(
            "{}: {}",
            drains.join(", "),
            CommandError::WouldStrand(stranded)
        )])
    }

    /// The verdicts and health results the detectors would report, and
    /// this engine hear, if the scenario's failures happened.
    ///
    /// A dead member is reported dead by every member still up. A cut link
    /// makes its two ends silent to each other while SWIM still hears the
    /// other end through a third member (its indirect probes), dead
    /// otherwise. Reports reach this engine only from members it can still
    /// hear, directly or through others (gossip relays them).
    fn scenario_events(&self, scenario: &Scenario) -> Result<Vec<Event>, SimulationError> {
        if scenario.is_empty() {
            return Err(SimulationError::Empty);
        }
        let dead: BTreeSet<SiteId> = scenario.dead.iter().cloned().collect();
        for site in dead.iter().chain(scenario.cut.iter().flatten()) {
            self.known_member(site)?;
        }
        if dead.contains(&self.local) {
            return Err(SimulationError::OwnDeath(self.local.clone()));
        }
        let mut cut = BTreeSet::new();
        for [x, y] in &scenario.cut {
            if x == y {
                return Err(SimulationError::SelfCut(x.clone()));
            }
            cut.insert((x.clone(), y.clone()));
            cut.insert((y.clone(), x.clone()));
        }
        let net = Reach {
            members: self.view.members().to_vec(),
            dead,
            cut,
        };
        let mut events = Vec::new();
        let heard = net.heard_from(&self.local);
        for observer in net.up() {
            if !heard.contains(&observer) {
                continue;
            }
            for subject in &net.members {
                if let Some(liveness) = net.verdict(&observer, subject) {
                    events.push(Event::Verdict {
                        observer: observer.clone(),
                        subject: subject.clone(),
                        liveness,
                    });
                }
            }
        }
        for at in once_each(&scenario.unhealthy) {
            let svc = self.known_service(&at.service)?.clone();
            self.serving(&at.site, &svc)?;
            if !svc.health_checked {
                return Err(SimulationError::NotHealthChecked {
                    service: svc.id.clone(),
                    site: at.site.clone(),
                });
            }
            // Every member of the site checks the service and fails it.
            for member in self.view.members_of(&at.site) {
                events.push(Event::Health {
                    site: member.clone(),
                    service: svc.id.clone(),
                    healthy: false,
                });
            }
        }
        Ok(events)
    }

    fn known_member(&self, site: &SiteId) -> Result<(), CommandError> {
        if self.view.is_member(site) {
            Ok(())
        } else {
            Err(CommandError::UnknownSite(site.to_string()))
        }
    }

    /// Each service before (this engine) and after (`copy`).
    fn placement_after(&self, copy: &Engine) -> BTreeMap<ServiceId, SimulatedPlacement> {
        copy.steering
            .services
            .iter()
            .map(|(id, after)| {
                let placement = SimulatedPlacement {
                    before: self
                        .steering
                        .services
                        .get(id)
                        .and_then(|s| s.active.clone()),
                    active: after.active.clone(),
                    local_role: after.local_role,
                };
                (id.clone(), placement)
            })
            .collect()
    }
}

/// `items` in order without repeats: a fact said twice is one fact, and a
/// request that repeats one thousands of times (the body may hold 64 KiB)
/// must not hold the event loop for as many evaluations.
fn once_each<T: Ord>(items: &[T]) -> Vec<&T> {
    let mut seen = BTreeSet::new();
    items.iter().filter(|item| seen.insert(*item)).collect()
}

fn offset(d: Decision, start: Millis) -> SimulatedDecision {
    SimulatedDecision {
        offset_ms: d.at.0.saturating_sub(start.0),
        change: d.change,
        reason: d.reason,
    }
}

/// Who hears whom once the scenario's members are dead and links cut.
struct Reach {
    members: Vec<SiteId>,
    dead: BTreeSet<SiteId>,
    /// Both directions of every cut.
    cut: BTreeSet<(SiteId, SiteId)>,
}

impl Reach {
    fn up(&self) -> Vec<SiteId> {
        self.members
            .iter()
            .filter(|m| !self.dead.contains(*m))
            .cloned()
            .collect()
    }

    /// Two members up whose link is not cut.
    fn linked(&self, x: &SiteId, y: &SiteId) -> bool {
        !self.dead.contains(x)
            && !self.dead.contains(y)
            && !self.cut.contains(&(x.clone(), y.clone()))
    }

    /// What `observer` would report about `subject`, where it changes.
    fn verdict(&self, observer: &SiteId, subject: &SiteId) -> Option<Liveness> {
        if observer == subject {
            return None;
        }
        if self.dead.contains(subject) {
            return Some(Liveness::Dead);
        }
        if !self.cut.contains(&(observer.clone(), subject.clone())) {
            return None;
        }
        let relayed = self.members.iter().any(|relay| {
            relay != observer
                && relay != subject
                && self.linked(observer, relay)
                && self.linked(relay, subject)
        });
        Some(if relayed {
            Liveness::Silent
        } else {
            Liveness::Dead
        })
    }

    /// The members whose gossip still reaches `local`, itself included.
    fn heard_from(&self, local: &SiteId) -> BTreeSet<SiteId> {
        let mut heard = BTreeSet::from([local.clone()]);
        let mut frontier = vec![local.clone()];
        while let Some(x) = frontier.pop() {
            for y in &self.members {
                if !heard.contains(y) && self.linked(&x, y) {
                    heard.insert(y.clone());
                    frontier.push(y.clone());
                }
            }
        }
        heard
    }
}
