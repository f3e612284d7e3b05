//! Moves of services with a `[[plan]]` (docs/plans.md): the data is made
//! writable at the new site before its traffic arrives.
//!
//! Any engine with authority decides a move as for every service, but for
//! a service with a plan the move is a *promise*: the placement keeps its
//! carrier and names the site it is moving to (`Placement::moving_to`).
//! One member of that site, its lowest-numbered member still there (the
//! coordinator), runs the plan: it holds the [`PlanRun`], runs the steps
//! at `new` and `any` itself, and publishes the move once every step that
//! must come first succeeded (or the plan's `proceed_after` has passed).
//! Steps at `old` run at the old site: its member sees them due in the
//! coordinator's gossiped run and gossips back what it did
//! ([`StepReport`]). Meanwhile no site but the carrier attracts the
//! service's traffic: a site that has not run the plan has no standby
//! announcement for it either.
//!
//! The old site of a failover is dead: its `fence_old` steps wait until
//! it is back, and until they succeeded it may not carry the service.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use super::evaluate::Decisions;
use super::plan::{StepReport, StepState, Takeover};
use super::{Engine, PlanRun, ServicePlan};
use crate::config::{Phase, Plan, PlanStep, StepSite};
use crate::decision::Change;
use crate::event::StepProgress;
use crate::ids::{PlanId, ServiceId, SiteId};
use crate::time::Millis;

/// How much of a failed step's detail travels in a run (gossip carries the
/// run; the journal has all of it).
const MAX_DETAIL: usize = 200;

/// A plan step this member's daemon should run now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DueStep {
    pub service: ServiceId,
    pub plan: PlanId,
    /// The run: its move's placement epoch.
    pub generation: u64,
    /// The step's position in the run.
    pub index: usize,
    pub phase: Phase,
    pub name: String,
    pub step: PlanStep,
    pub from: Option<SiteId>,
    pub to: SiteId,
}

impl Engine {
    /// The engine with `plans` (the config's `[[plan]]` tables) for the
    /// services that name one.
    pub fn with_plans(mut self, plans: &[Plan]) -> Engine {
        self.plans = Arc::new(plans.iter().map(|p| (p.id.clone(), p.clone())).collect());
        self
    }

    pub(super) fn plan_of(&self, svc: &ServicePlan) -> Option<&Plan> {
        svc.plan.as_ref().and_then(|id| self.plans.get(id))
    }

    /// Whether this member runs plan steps for `site`: it belongs to it
    /// and is its lowest-numbered member not declared dead or left.
    fn runs_steps_for(&self, site: &SiteId) -> bool {
        &self.site == site
            && self
                .view
                .members_of(site)
                .filter(|m| !self.view.is_dead(m) && !self.view.is_left(m))
                .min()
                == Some(&self.local)
    }

    /// Whether `site` can run steps now: not declared dead, and this
    /// member hears one of its members.
    fn reachable(&self, site: &SiteId) -> bool {
        if site == &self.site {
            return true;
        }
        !self.view.is_site_dead(site)
            && self
                .view
                .members_of(site)
                .any(|m| self.view.hears(&self.local, m))
    }

    /// The placement rule for a service with a plan, after
    /// [`Engine::place`] chose `target` for it. `old_active` carries it,
    /// perhaps while it moves to `moving` already. A new target becomes a
    /// move under way; moving back to the carrier gives the move up;
    /// moving nowhere, or from nowhere, runs no plan (nothing to promote
    /// from, or nothing can carry it). Returns the carrier and epoch.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn move_with_plan(
        &mut self,
        svc: &ServicePlan,
        old_active: Option<SiteId>,
        moving: Option<SiteId>,
        target: Option<SiteId>,
        planned: bool,
        why: String,
        epoch: u64,
        decisions: &mut Decisions,
    ) -> (Option<SiteId>, u64) {
        let current = moving.clone().or_else(|| old_active.clone());
        if target == current {
            return self.run_move(svc, old_active, epoch, decisions);
        }
        let epoch = epoch + 1;
        match (&old_active, &target) {
            (Some(from), Some(to)) if from != to => {
                self.planned.insert(svc.id.clone(), planned);
                self.moving.insert(svc.id.clone(), to.clone());
                let plan = svc.plan.clone().expect("a service with a plan");
                decisions.push(
                    Change::ServiceMoving {
                        service: svc.id.clone(),
                        from: from.clone(),
                        to: to.clone(),
                        plan: plan.clone(),
                    },
                    format!("{why}; plan {plan} runs first"),
                    self.causes_for(svc, Some(from)),
                );
                self.run_move(svc, old_active, epoch, decisions)
            }
            _ if target != old_active => {
                self.end_move(&svc.id);
                self.record_move(
                    svc,
                    old_active.as_ref(),
                    target.as_ref(),
                    planned,
                    why,
                    decisions,
                );
                (target, epoch)
            }
            _ => {
                self.end_move(&svc.id);
                self.planned.insert(svc.id.clone(), planned);
                if let (Some(from), Some(to)) = (&old_active, &moving) {
                    decisions.push(
                        Change::MoveGivenUp {
                            service: svc.id.clone(),
                            from: from.clone(),
                            to: to.clone(),
                        },
                        why,
                        Vec::new(),
                    );
                }
                (old_active, epoch)
            }
        }
    }

    /// Rule: a move under way is given up, and the carrier keeps its
    /// service, when the carrier is heard and can carry it again and the move's run
    /// holds after a failure or has not started a step as far as this
    /// engine knows: nothing was promoted, so the carrier's data is still
    /// the one to write to. A run that started a step goes on: its effect
    /// is unknown until it ends.
    pub(super) fn give_up_move(
        &self,
        svc: &ServicePlan,
        carrier: Option<&SiteId>,
        moving: Option<&SiteId>,
    ) -> Option<String> {
        let (carrier, to) = (carrier?, moving?);
        // Heard, not merely not yet declared dead: a restarted engine
        // knows nothing of the carrier's death until the quorum declares
        // it again, and must not undo the move meanwhile.
        if !self.carrier_lost.contains(&svc.id)
            || !self.eligible(carrier, svc)
            || !self.reachable(carrier)
            || self.planned.get(&svc.id) == Some(&true)
        {
            return None;
        }
        let run = self
            .plan_run(&svc.id)
            .filter(|r| &r.to == to && r.from.as_ref() == Some(carrier) && !r.moved);
        let untouched = |r: &PlanRun| {
            r.steps
                .iter()
                .all(|s| matches!(s.state, StepState::Pending | StepState::Deferred))
        };
        match run {
            Some(r) if matches!(r.takeover(self.now), Takeover::Held { .. }) => Some(format!(
                "site {carrier} can carry {} again and the plan {} holds the move to site {to} \
                 after a failed step",
                svc.id, r.plan
            )),
            Some(r) if !untouched(r) => None,
            _ => Some(format!(
                "site {carrier} can carry {} again before the plan of its move to site {to} \
                 started a step",
                svc.id
            )),
        }
    }

    pub(super) fn end_move(&mut self, service: &ServiceId) {
        self.moving.remove(service);
        self.carrier_lost.remove(service);
    }

    /// The coordinator's part of a move under way to the local site: start
    /// (or take over) the run, and make the move once the run allows it.
    fn run_move(
        &mut self,
        svc: &ServicePlan,
        old_active: Option<SiteId>,
        epoch: u64,
        decisions: &mut Decisions,
    ) -> (Option<SiteId>, u64) {
        let Some(to) = self.moving.get(&svc.id).cloned() else {
            return (old_active, epoch);
        };
        if !self.runs_steps_for(&to) || self.fenced || !self.synced {
            return (old_active, epoch);
        }
        let fresh = self
            .runs
            .get(&svc.id)
            .is_none_or(|r| !(r.live() && !r.moved && r.to == to && r.from == old_active));
        if fresh {
            let run = self
                .sibling_run(svc, &to, old_active.as_ref())
                .unwrap_or_else(|| {
                    let plan = self.plan_of(svc).expect("a service with a plan");
                    let reachable = old_active.as_ref().is_some_and(|a| self.reachable(a));
                    PlanRun::new(
                        svc.id.clone(),
                        plan,
                        old_active.clone(),
                        to.clone(),
                        epoch,
                        reachable,
                        self.now,
                    )
                });
            tracing::info!(service = %svc.id, plan = %run.plan, generation = run.generation, "plan run started");
            self.runs.insert(svc.id.clone(), run);
        }
        let now = self.now;
        let run = self.runs.get(&svc.id).expect("inserted above");
        let why = match run.takeover(now) {
            Takeover::Ready => {
                let failed = run.steps.iter().find_map(|s| match &s.state {
                    StepState::Failed { .. } if s.phase != Phase::AfterTakeover => {
                        Some(s.name.clone())
                    }
                    _ => None,
                });
                match failed {
                    Some(step) => format!(
                        "plan {} of {}: step {step} failed and proceed_after has passed: site {to} takes it over",
                        run.plan, svc.id
                    ),
                    None => format!(
                        "plan {} of {}: every step before the takeover succeeded: site {to} takes it over",
                        run.plan, svc.id
                    ),
                }
            }
            _ => return (old_active, epoch),
        };
        self.end_move(&svc.id);
        decisions.push(
            Change::ServiceMoved {
                service: svc.id.clone(),
                from: old_active.clone(),
                to: Some(to.clone()),
            },
            why,
            Vec::new(),
        );
        (Some(to), epoch + 1)
    }

    /// A live run of this move a sibling member of our site coordinated
    /// (we take over from it: it left, or it was the lowest before us),
    /// resumed as after a restart.
    fn sibling_run(
        &self,
        svc: &ServicePlan,
        to: &SiteId,
        from: Option<&SiteId>,
    ) -> Option<PlanRun> {
        let mut best: Option<PlanRun> = None;
        for (member, runs) in &self.peer_runs {
            if self.view.site_of(member) != to {
                continue;
            }
            let Some(run) = runs.get(&svc.id) else {
                continue;
            };
            let same_move = run.live() && !run.moved && &run.to == to && run.from.as_ref() == from;
            if same_move && best.as_ref().is_none_or(|b| progress(run) > progress(b)) {
                best = Some(run.clone());
            }
        }
        best.map(|mut run| {
            run.rebase(self.now);
            run
        })
    }

    /// Rule: the coordinator's run follows the world: the old site's
    /// deferred fencing is due once it is reachable; `after_takeover` is
    /// due once the local backends confirmed the move; a run whose move
    /// was given up or went elsewhere runs nothing more.
    pub(super) fn settle_run(&mut self, svc: &ServicePlan, active: Option<&SiteId>, epoch: u64) {
        let Some(run) = self.runs.get(&svc.id) else {
            return;
        };
        let old_back = run.from.as_ref().is_some_and(|f| {
            self.reachable(f) && run.steps.iter().any(|s| s.state == StepState::Deferred)
        });
        let confirmed = active == Some(&self.site)
            && run.to == self.site
            && self.carried.get(&svc.id).is_some_and(|e| *e >= epoch);
        let moving = self.moving.get(&svc.id);
        let given_up = !run.moved
            && run.abandoned.is_none()
            && active != Some(&run.to)
            && moving != Some(&run.to);
        let run = self.runs.get_mut(&svc.id).expect("checked above");
        if old_back {
            run.old_returned();
        }
        if confirmed && !run.moved {
            run.traffic_moved();
        }
        if given_up {
            run.abandoned = Some(match moving {
                Some(other) => format!("{} moves to site {other} instead", svc.id),
                None => format!("{} stays at its site", svc.id),
            });
        }
    }

    /// The daemon started or ended step `index` of the run `generation`
    /// of `service`: our own run's, or one of a peer's run due here.
    pub(super) fn plan_step(
        &mut self,
        service: &ServiceId,
        generation: u64,
        index: usize,
        progress: &StepProgress,
    ) {
        let now = self.now;
        let state = match progress {
            StepProgress::Started => StepState::Running { since: now },
            StepProgress::Ended { error: None, .. } => StepState::Succeeded { at: now },
            StepProgress::Ended { error: Some(e), .. } => StepState::Failed {
                at: now,
                detail: shorten(e),
            },
        };
        if let Some(run) = self
            .runs
            .get_mut(service)
            .filter(|r| r.generation == generation)
        {
            let Some(step) = run.step(index) else {
                tracing::warn!(%service, index, "result of an unknown plan step ignored");
                return;
            };
            let expected = match state {
                StepState::Running { .. } => step.state == StepState::Pending,
                _ => matches!(step.state, StepState::Running { .. }),
            };
            if !expected {
                tracing::warn!(%service, index, "plan step result out of order ignored");
                return;
            }
            apply(run, index, state);
            return;
        }
        // A step at the old site of a peer's run: report it.
        self.reports.insert(
            service.clone(),
            StepReport {
                generation,
                index,
                state,
            },
        );
    }

    /// What the old site reported about our runs' steps at `old`.
    pub(super) fn take_reports(
        &mut self,
        from: &SiteId,
        reports: &BTreeMap<ServiceId, StepReport>,
    ) {
        let site = self.view.site_of(from).clone();
        for (service, report) in reports {
            let Some(run) = self.runs.get_mut(service) else {
                continue;
            };
            if run.generation != report.generation || run.from.as_ref() != Some(&site) {
                continue;
            }
            let Some(step) = run.step(report.index) else {
                continue;
            };
            if step.at != StepSite::Old || step.state == report.state || step.state.done() {
                continue;
            }
            apply(run, report.index, report.state.clone());
        }
    }

    /// The plan steps this member's daemon should run now, in no
    /// particular order (each service's run has at most one due). None
    /// while fenced: a member that may be cut off from the majority must
    /// not promote or fence anything.
    pub fn steps_due(&self) -> Vec<DueStep> {
        let mut due = Vec::new();
        if self.fenced {
            return due;
        }
        for run in self.runs.values() {
            if let Some(i) = run.due().filter(|i| run.steps[*i].at != StepSite::Old) {
                due.extend(self.due_step(run, i));
            }
        }
        if !self.runs_steps_for(&self.site) {
            return due;
        }
        // Steps at the old site: the coordinator's run with the most
        // progress, for each service we are leaving.
        let mut theirs: BTreeMap<&ServiceId, &PlanRun> = BTreeMap::new();
        for runs in self.peer_runs.values() {
            for (service, run) in runs {
                if run.from.as_ref() != Some(&self.site) || !self.view.is_site(&run.to) {
                    continue;
                }
                let better = theirs
                    .get(service)
                    .is_none_or(|b| (run.generation, progress(run)) > (b.generation, progress(b)));
                if better {
                    theirs.insert(service, run);
                }
            }
        }
        for (service, run) in theirs {
            let Some(i) = run.due().filter(|i| run.steps[*i].at == StepSite::Old) else {
                continue;
            };
            let reported = self
                .reports
                .get(service)
                .is_some_and(|r| r.generation == run.generation && r.index == i);
            if !reported {
                due.extend(self.due_step(run, i));
            }
        }
        due
    }

    fn due_step(&self, run: &PlanRun, i: usize) -> Option<DueStep> {
        let step = &run.steps[i];
        let plan = self.plans.get(&run.plan)?;
        let config = plan.steps(step.phase).get(step.index)?;
        Some(DueStep {
            service: run.service.clone(),
            plan: run.plan.clone(),
            generation: run.generation,
            index: i,
            phase: step.phase,
            name: step.name.clone(),
            step: config.clone(),
            from: run.from.clone(),
            to: run.to.clone(),
        })
    }

    /// Why `site` may not carry `svc` yet: a move away from it happened
    /// and a `fence_old` step for it has not succeeded (it waits for the
    /// site to return, runs, or failed).
    pub(super) fn unfenced(&self, site: &SiteId, svc: &ServicePlan) -> Option<String> {
        svc.plan.as_ref()?;
        let runs = self
            .runs
            .get(&svc.id)
            .into_iter()
            .chain(self.peer_runs.values().filter_map(|r| r.get(&svc.id)));
        for run in runs {
            if !run.moved || run.abandoned.is_some() || run.from.as_ref() != Some(site) {
                continue;
            }
            if let Some(step) = run.steps.iter().find(|s| {
                s.phase == Phase::FenceOld && !matches!(s.state, StepState::Succeeded { .. })
            }) {
                return Some(format!(
                    "site {site} is not fenced for {} yet (plan {} step {} has not succeeded)",
                    svc.id, run.plan, step.name
                ));
            }
        }
        None
    }

    /// When a `proceed_after` wait of one of our runs ends.
    pub(super) fn plan_deadlines(&self) -> impl Iterator<Item = Millis> + '_ {
        self.runs
            .values()
            .filter(|r| !r.moved && r.abandoned.is_none())
            .filter_map(|r| r.deadline(self.now))
    }

    /// The run of `service` this member knows best: its own, else the
    /// coordinator's with the most progress.
    pub fn plan_run(&self, service: &ServiceId) -> Option<&PlanRun> {
        self.runs.get(service).or_else(|| {
            self.peer_runs
                .values()
                .filter_map(|r| r.get(service))
                .max_by_key(|r| (r.generation, progress(r)))
        })
    }

    /// Where a service with a plan is moving, while the move is under way.
    pub fn moving_to(&self, service: &ServiceId) -> Option<&SiteId> {
        self.moving.get(service)
    }

    /// Restores runs and reports saved before a restart: a step that was
    /// running then is run again only if idempotent.
    pub(super) fn restore_plans(
        &mut self,
        runs: &BTreeMap<ServiceId, PlanRun>,
        reports: &BTreeMap<ServiceId, StepReport>,
    ) {
        let now = self.now;
        self.runs = runs
            .iter()
            .filter(|(s, r)| self.service(s).is_some() && self.plans.contains_key(&r.plan))
            .map(|(s, r)| {
                let mut r = r.clone();
                r.rebase(now);
                (s.clone(), r)
            })
            .collect();
        self.reports = BTreeMap::new();
        for (service, report) in reports {
            let mut report = report.clone();
            if let StepState::Running { .. } = report.state {
                let idempotent = self
                    .step_config(service, report.index)
                    .is_some_and(|s| s.idempotent);
                if idempotent {
                    // Run again when the coordinator's run shows it due.
                    continue;
                }
                report.state = StepState::Failed {
                    at: now,
                    detail: "orbitd stopped while it ran and it is not idempotent: not run again"
                        .to_owned(),
                };
            }
            self.reports.insert(service.clone(), report);
        }
    }

    /// The config of step `index` of the run of `service` a peer
    /// coordinates (for a restored report).
    fn step_config(&self, service: &ServiceId, index: usize) -> Option<&PlanStep> {
        let svc = self.service(service)?;
        let plan = self.plan_of(svc)?;
        // Runs list fence_old, before_takeover, after_takeover in order.
        plan.all_steps().nth(index).map(|(_, _, s)| s)
    }
}

impl Engine {
    /// For each move under way among `decisions`: the plan steps it waits
    /// for, in order, and where each runs (a simulation cannot run them:
    /// its placement shows the carrier keeping the service).
    pub(super) fn plan_notes(&self, decisions: &[crate::decision::Decision]) -> Vec<String> {
        let mut notes = Vec::new();
        for d in decisions {
            let Change::ServiceMoving {
                service,
                from,
                to,
                plan,
            } = &d.change
            else {
                continue;
            };
            let Some(plan) = self.plans.get(plan) else {
                continue;
            };
            let old_back = self.reachable(from);
            let mut before = Vec::new();
            let mut after = Vec::new();
            let mut deferred = Vec::new();
            for (phase, index, step) in plan.all_steps() {
                let at = step.at(phase);
                let site = match at {
                    StepSite::Old => from,
                    StepSite::New | StepSite::Any => to,
                };
                let text = format!("{} at {site}", step.name(phase, index));
                match phase {
                    Phase::FenceOld if at == StepSite::Old && !old_back => deferred.push(text),
                    Phase::AfterTakeover => after.push(text),
                    _ => before.push(text),
                }
            }
            let list = |v: &[String]| {
                if v.is_empty() {
                    "none".to_owned()
                } else {
                    v.join(", ")
                }
            };
            let mut note = format!(
                "{service} moves from site {from} to site {to} only after plan {}: first {}; then the traffic moves; then {}",
                plan.id,
                list(&before),
                list(&after)
            );
            if !deferred.is_empty() {
                note.push_str(&format!(
                    "; {} when site {from} is back, before it may carry {service} again",
                    list(&deferred)
                ));
            }
            notes.push(note);
        }
        notes
    }
}

/// How many of a run's steps ended.
fn progress(run: &PlanRun) -> usize {
    run.steps.iter().filter(|s| s.state.done()).count()
}

fn apply(run: &mut PlanRun, index: usize, state: StepState) {
    match state {
        StepState::Running { since } => run.start(index, since),
        StepState::Succeeded { at } => run.finish(index, Ok(()), at),
        StepState::Failed { at, detail } => run.finish(index, Err(detail), at),
        StepState::Pending | StepState::Deferred => {}
    }
}

fn shorten(detail: &str) -> String {
    match detail.char_indices().nth(MAX_DETAIL) {
        Some((cut, _)) => format!("{}...", &detail[..cut]),
        None => detail.to_owned(),
    }
}
