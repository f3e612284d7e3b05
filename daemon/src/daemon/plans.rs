//! The loop's part of disaster-recovery plans (docs/plans.md): the engine
//! says which steps are due here, the loop records each start before the
//! step runs (a restart never runs a non-idempotent step twice), runs it
//! in a task and feeds the result back as an event. Both ends go to the
//! journal with the step's exit status and output tail.

use orbit_core::api::JournalRecord;
use orbit_core::{DueStep, Event, StepProgress};

use super::{Daemon, Input};
use crate::plans::step::{run_step, StepOutcome, StepRequest};

/// A step in flight: (service, run, position in the run).
pub(super) type StepKey = (orbit_core::ServiceId, u64, usize);

impl Daemon {
    /// Starts every step the engine says is due here and no task runs yet.
    /// Nothing runs in observer mode (decide and report, apply nothing).
    pub(super) fn start_due_steps(&mut self) {
        if self.departing {
            return;
        }
        let due = self.engine.steps_due();
        if due.is_empty() {
            return;
        }
        if self.engine.steering().observe_only {
            for d in due {
                let key = (d.service.clone(), d.generation, d.index);
                if self.plan_steps.insert(key) {
                    tracing::warn!(service = %d.service, step = %d.name, "observer mode: plan step due but not run");
                }
            }
            return;
        }
        for d in due {
            let key = (d.service.clone(), d.generation, d.index);
            if !self.plan_steps.insert(key) {
                continue;
            }
            self.journal_step(&d, StepProgress::Started);
            let now = self.now();
            let decisions = self.engine.handle(
                now,
                Event::PlanStep {
                    service: d.service.clone(),
                    generation: d.generation,
                    index: d.index,
                    progress: StepProgress::Started,
                },
            );
            self.journal_decisions(&decisions);
            // Saved before the step runs: after a crash the state file
            // says it was running.
            self.sync_shared();
            tracing::info!(service = %d.service, plan = %d.plan, step = %d.name, phase = d.phase.key(), "plan step started");
            let tx = self.tx.clone();
            tokio::spawn(async move {
                let request = StepRequest {
                    service: d.service.clone(),
                    plan: d.plan.clone(),
                    phase: d.phase,
                    step: d.name.clone(),
                    from: d.from.clone(),
                    to: d.to.clone(),
                    generation: d.generation,
                };
                let outcome = run_step(&d.step, &request).await;
                let _ = tx
                    .send(Input::StepEnded(Box::new((d, ended(outcome)))))
                    .await;
            });
        }
        if self.engine.steering().generation != self.published_generation {
            self.publish(false);
        }
    }

    /// A step's task ended: journal it and tell the engine.
    pub(super) fn step_ended(&mut self, due: DueStep, progress: StepProgress) {
        self.plan_steps
            .remove(&(due.service.clone(), due.generation, due.index));
        match &progress {
            StepProgress::Ended { error: Some(e), .. } => {
                tracing::warn!(service = %due.service, plan = %due.plan, step = %due.name, error = e.as_str(), "plan step failed");
            }
            _ => {
                tracing::info!(service = %due.service, plan = %due.plan, step = %due.name, "plan step succeeded");
            }
        }
        self.journal_step(&due, progress.clone());
        self.handle_event(Event::PlanStep {
            service: due.service,
            generation: due.generation,
            index: due.index,
            progress,
        });
    }

    fn journal_step(&mut self, d: &DueStep, progress: StepProgress) {
        self.metrics.plan_step(&d.service, &progress);
        self.journal.append(JournalRecord::PlanStep {
            service: d.service.clone(),
            plan: d.plan.clone(),
            generation: d.generation,
            phase: d.phase,
            step: d.name.clone(),
            from: d.from.clone(),
            to: d.to.clone(),
            progress,
        });
    }
}

/// The event's form of a step's outcome.
fn ended(outcome: StepOutcome) -> StepProgress {
    StepProgress::Ended {
        error: outcome.result.err(),
        attempts: outcome.attempts,
        exit_status: outcome.exit_status,
        output: outcome.output_tail,
        elapsed_ms: u64::try_from(outcome.elapsed.as_millis()).unwrap_or(u64::MAX),
    }
}
