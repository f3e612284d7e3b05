//! One run of a service's `[[plan]]` for one move, as a sans-IO state
//! machine (docs/plans.md): which step is due, what a step's result does
//! to the run, and whether the new site may carry the service yet.
//!
//! Steps run one at a time in the order of the run: `fence_old` (first
//! whenever the old site can be fenced: make before break), then
//! `before_takeover`, then, once the traffic moved, `after_takeover`. A
//! `fence_old` step that must run at the old site while it is unreachable
//! is *deferred*: it runs when the old site returns, before that site may
//! carry anything.
//!
//! The daemon runs the steps and reports back; time is an input. The run
//! is plain data (serde) so that it can travel in the shared state and be
//! journaled, and [`PlanRun::resume`] continues it after a restart without
//! running a non-idempotent step twice.
//!
//! The engine holds the runs its member coordinates (`promotion.rs`):
//! when and where a run starts, and what a result does to the move.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{Phase, Plan, StepSite};
use crate::ids::{PlanId, ServiceId, SiteId};
use crate::time::Millis;

/// One step of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRun {
    pub phase: Phase,
    /// Its index within the phase in `[[plan]]`.
    pub index: usize,
    pub name: String,
    pub at: StepSite,
    pub idempotent: bool,
    pub state: StepState,
}

/// Where a step is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum StepState {
    Pending,
    /// Waits for the old site to return (a `fence_old` step at `old`).
    Deferred,
    Running {
        since: Millis,
    },
    Succeeded {
        at: Millis,
    },
    Failed {
        at: Millis,
        detail: String,
    },
}

impl StepState {
    pub(super) fn done(&self) -> bool {
        matches!(self, StepState::Succeeded { .. } | StepState::Failed { .. })
    }
}

/// Whether the new site may carry the service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Takeover {
    /// Steps that must come first are still running or pending.
    Waiting,
    /// Everything that must come first succeeded.
    Ready,
    /// A step that must come first failed and the plan holds the move.
    Held { step: String },
    /// A step failed; the move goes ahead at `at` (`proceed_after`).
    ProceedAt { step: String, at: Millis },
}

/// The run of one plan for one move of one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRun {
    pub service: ServiceId,
    pub plan: PlanId,
    /// The site being left; `None` when the service was carried nowhere.
    pub from: Option<SiteId>,
    pub to: SiteId,
    /// The steering generation of the move: what `${generation}` says.
    pub generation: u64,
    pub started: Millis,
    pub proceed_after: Option<Duration>,
    /// Whether the traffic moved (confirmed): `after_takeover` waits for it.
    pub moved: bool,
    /// In the order they run.
    pub steps: Vec<StepRun>,
    /// The move was given up before the takeover (its target failed, an
    /// operator moved the service elsewhere): why. Nothing more runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abandoned: Option<String>,
}

/// What a member of the old site did for one step of a peer's run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepReport {
    /// The run (its move's placement epoch).
    pub generation: u64,
    /// The step's position in the run.
    pub index: usize,
    /// Running, Succeeded or Failed.
    pub state: StepState,
}

impl PlanRun {
    /// A run of `plan` for moving `service` from `from` to `to`;
    /// `old_reachable` says whether the old site can run steps now.
    pub fn new(
        service: ServiceId,
        plan: &Plan,
        from: Option<SiteId>,
        to: SiteId,
        generation: u64,
        old_reachable: bool,
        now: Millis,
    ) -> PlanRun {
        let old_can_run = from.is_some() && old_reachable;
        let steps = plan
            .all_steps()
            .filter(|(phase, _, step)| {
                // Nothing to fence when the service was carried nowhere.
                !(from.is_none() && *phase == Phase::FenceOld && step.at(*phase) == StepSite::Old)
            })
            .map(|(phase, index, step)| {
                let at = step.at(phase);
                let state = if at == StepSite::Old && !old_can_run {
                    StepState::Deferred
                } else {
                    StepState::Pending
                };
                StepRun {
                    phase,
                    index,
                    name: step.name(phase, index),
                    at,
                    idempotent: step.idempotent,
                    state,
                }
            })
            .collect();
        PlanRun {
            service,
            plan: plan.id.clone(),
            from,
            to,
            generation,
            started: now,
            proceed_after: plan.proceed_after.map(|d| d.get()),
            moved: false,
            steps,
            abandoned: None,
        }
    }

    /// The position (in `steps`) of the step to run now, if any: the first
    /// pending one once every step before it finished or waits for the old
    /// site; an `after_takeover` step only once the traffic moved; none
    /// after a failure that holds the move.
    pub fn due(&self) -> Option<usize> {
        if self.holds() || self.abandoned.is_some() {
            return None;
        }
        for (i, step) in self.steps.iter().enumerate() {
            match &step.state {
                StepState::Pending => {
                    return (step.phase != Phase::AfterTakeover || self.moved).then_some(i);
                }
                StepState::Running { .. } => return None,
                StepState::Deferred | StepState::Succeeded { .. } | StepState::Failed { .. } => {}
            }
        }
        None
    }

    /// The daemon started step `i`.
    pub fn start(&mut self, i: usize, now: Millis) {
        if let Some(step) = self.steps.get_mut(i) {
            step.state = StepState::Running { since: now };
        }
    }

    /// Step `i` ended: `Ok(())` or the failure's detail.
    pub fn finish(&mut self, i: usize, result: Result<(), String>, now: Millis) {
        if let Some(step) = self.steps.get_mut(i) {
            step.state = match result {
                Ok(()) => StepState::Succeeded { at: now },
                Err(detail) => StepState::Failed { at: now, detail },
            };
        }
    }

    /// The traffic moved: `after_takeover` may run.
    pub fn traffic_moved(&mut self) {
        self.moved = true;
    }

    /// The old site is reachable again: its deferred fencing is due, before
    /// it may carry anything.
    pub fn old_returned(&mut self) {
        for step in &mut self.steps {
            if step.state == StepState::Deferred {
                step.state = StepState::Pending;
            }
        }
    }

    /// Whether a deferred or pending `fence_old` step still stands between
    /// the old site and carrying anything.
    pub fn old_fenced(&self) -> bool {
        self.steps
            .iter()
            .filter(|s| s.phase == Phase::FenceOld)
            .all(|s| matches!(s.state, StepState::Succeeded { .. }))
    }

    /// After a restart: a step that was running when orbitd stopped runs
    /// again only if it is idempotent; otherwise it counts as failed, since
    /// its effect is unknown and running it twice may do harm.
    pub fn resume(&mut self, now: Millis) {
        for step in &mut self.steps {
            if let StepState::Running { .. } = step.state {
                step.state = if step.idempotent {
                    StepState::Pending
                } else {
                    StepState::Failed {
                        at: now,
                        detail:
                            "orbitd stopped while it ran and it is not idempotent: not run again"
                                .to_owned(),
                    }
                };
            }
        }
    }

    /// Whether the new site may carry the service at `now`: every
    /// `fence_old` step that can run and every `before_takeover` step
    /// must have succeeded; a failure among them holds the move, or lets it
    /// proceed `proceed_after` after the failure.
    pub fn takeover(&self, now: Millis) -> Takeover {
        let mut waiting = false;
        for step in self
            .steps
            .iter()
            .filter(|s| s.phase != Phase::AfterTakeover)
        {
            match &step.state {
                StepState::Failed { at, .. } => {
                    return match self.proceed_after {
                        Some(after) if now >= at.after(after) => Takeover::Ready,
                        Some(after) => Takeover::ProceedAt {
                            step: step.name.clone(),
                            at: at.after(after),
                        },
                        None => Takeover::Held {
                            step: step.name.clone(),
                        },
                    };
                }
                StepState::Pending | StepState::Running { .. } => waiting = true,
                StepState::Deferred | StepState::Succeeded { .. } => {}
            }
        }
        if waiting {
            Takeover::Waiting
        } else {
            Takeover::Ready
        }
    }

    /// Restored after a restart: the old process's clock means nothing to
    /// the new one, so every time in the run is now (a `proceed_after`
    /// wait starts over). Then as [`PlanRun::resume`].
    pub fn rebase(&mut self, now: Millis) {
        self.started = now;
        for step in &mut self.steps {
            match &mut step.state {
                StepState::Running { since } => *since = now,
                StepState::Succeeded { at } | StepState::Failed { at, .. } => *at = now,
                StepState::Pending | StepState::Deferred => {}
            }
        }
        self.resume(now);
    }

    /// The step at position `i`, if the run has one.
    pub fn step(&self, i: usize) -> Option<&StepRun> {
        self.steps.get(i)
    }

    /// Whether the run is still under way: not given up, and its move not
    /// yet made or its `after_takeover` steps not yet all ended.
    pub fn live(&self) -> bool {
        self.abandoned.is_none() && !self.finished()
    }

    /// Whether a failed step holds the move for good (no `proceed_after`).
    fn holds(&self) -> bool {
        self.proceed_after.is_none()
            && self.steps.iter().any(|s| {
                s.phase != Phase::AfterTakeover && matches!(s.state, StepState::Failed { .. })
            })
    }

    /// When the engine must look again without an event: the end of a
    /// `proceed_after` wait.
    pub fn deadline(&self, now: Millis) -> Option<Millis> {
        match self.takeover(now) {
            Takeover::ProceedAt { at, .. } => Some(at),
            _ => None,
        }
    }

    /// Whether every step that can run has ended (deferred ones wait for
    /// the old site).
    pub fn finished(&self) -> bool {
        self.moved
            && self
                .steps
                .iter()
                .all(|s| s.state.done() || s.state == StepState::Deferred)
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
