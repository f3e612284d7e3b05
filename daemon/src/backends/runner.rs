//! Backend runners: one task per configured backend, the one owner of the
//! confirmation leg (gating, retries, drift, reconcile, reporting).
//!
//! ```text
//!  loop ── watch<Steering> ──▶ runner ── apply / observe / reconcile ──▶ backend
//!       ◀── Input::Backend ────┤   (apply results, retried with backoff)
//!       ◀── Input::Observed ───┤   (every RECONCILE_EVERY while idle)
//!       ◀── Input::Drift ──────┘   (drift found, and each repair attempt)
//! ```
//!
//! The event loop publishes each new steering on a watch channel; the runner
//! applies the newest one, reports the outcome back to the loop, and retries
//! failures with exponential backoff until it succeeds or a newer steering
//! supersedes it. A slow backend therefore never blocks the loop or the
//! other backends, and intermediate steerings are skipped, never queued.
//!
//! While idle, the runner reads the data plane back ([`orbit_core::Redirector::observe`],
//! a pure read) and compares it with the steering it last confirmed. On a
//! difference it calls [`orbit_core::Redirector::reconcile`]; if that had something to
//! write, the difference was drift (a restarted HAProxy that loaded an old
//! map, a hand-made change) and is reported with each repair attempt
//! (retried with the same backoff), so a repair reaches the journal and
//! `/metrics`. A difference the repair finds nothing to write for (SDN's
//! fast failover already moved the traffic) is not drift.
//!
//! What may be written is asked of [`Steering::write_gate`]: an observer
//! applies and repairs nothing; without authority a backend that steers for
//! everyone repairs nothing (its apply still runs: BGP withdraws the local
//! claims, HAProxy and SDN answer that they left the data plane alone).
//!
//! A reload reaches the backend through the runner, which owns it: the loop
//! sends [`RunnerCommand::Reconfigure`] on a second channel and awaits the
//! answer ([`BackendHandle::reconfigure`]). The runner carries it out
//! between two applies (never in the middle of one), so the backend sees
//! one caller at a time and needs no lock; a backend that cannot take a
//! new config in place says so (`Reconfiguration::RebuildNeeded`, the
//! trait's default) and the loop builds a new one, as before.

use std::sync::Arc;
use std::time::{Duration, Instant};

use orbit_config::Config;
use orbit_core::{
    Applied, BackendKind, Reconfiguration, RedirectError, ServiceDrift, Steering, WriteGate,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::backends::Backend;
use crate::daemon::Input;

const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(30);
/// How often an idle runner reads its data plane back to look for drift.
const RECONCILE_EVERY: Duration = Duration::from_secs(3);

/// What a runner reports after each apply attempt.
#[derive(Debug)]
pub struct BackendResult {
    pub backend: BackendKind,
    pub generation: u64,
    pub result: Result<Applied, RedirectError>,
    pub took: Duration,
}

/// Drift the runner found, and what one attempt to repair it did.
#[derive(Debug)]
pub struct DriftReport {
    pub backend: BackendKind,
    /// The confirmed steering the data plane drifted from.
    pub generation: u64,
    pub drift: Vec<ServiceDrift>,
    /// 1 for the attempt right after the drift was found; retries count up.
    pub attempt: u32,
    pub result: Result<Applied, RedirectError>,
}

/// What the loop asks of a runner besides applying steerings.
#[derive(Debug)]
pub enum RunnerCommand {
    /// A reload: hand the config to the backend
    /// ([`Backend::reconfigure`]) and answer on the oneshot.
    Reconfigure(
        Arc<Config>,
        oneshot::Sender<Result<Reconfiguration, RedirectError>>,
    ),
}

#[derive(Debug)]
pub struct BackendHandle {
    pub kind: BackendKind,
    steering: watch::Sender<Option<Steering>>,
    commands: mpsc::Sender<RunnerCommand>,
    task: JoinHandle<()>,
}

impl BackendHandle {
    pub fn publish(&self, steering: &Steering) {
        self.steering.send_replace(Some(steering.clone()));
    }

    /// Hands a reloaded config to the backend this runner owns; waits for
    /// the runner to finish the apply in progress, if any. A runner that is
    /// gone asks for a rebuild.
    pub async fn reconfigure(&self, config: Arc<Config>) -> Result<Reconfiguration, RedirectError> {
        let (reply, answer) = oneshot::channel();
        if self
            .commands
            .send(RunnerCommand::Reconfigure(config, reply))
            .await
            .is_err()
        {
            return Ok(Reconfiguration::RebuildNeeded);
        }
        answer.await.unwrap_or(Ok(Reconfiguration::RebuildNeeded))
    }

    /// Lets the runner close its backend's connections gracefully (after the
    /// departing steering), waiting at most `limit`.
    pub async fn close(mut self, limit: Duration) {
        // Dropping the sender ends the runner's loop, which then closes.
        let (replacement, _) = watch::channel(None);
        drop(std::mem::replace(&mut self.steering, replacement));
        let task = std::mem::replace(&mut self.task, tokio::spawn(async {}));
        if tokio::time::timeout(limit, task).await.is_err() {
            tracing::warn!(backend = %self.kind, "did not close in time");
        }
    }
}

impl Drop for BackendHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn spawn(redirector: Box<dyn Backend>, results: mpsc::Sender<Input>) -> BackendHandle {
    let kind = redirector.kind();
    let (tx, rx) = watch::channel(None);
    let (commands, command_rx) = mpsc::channel(4);
    let span = tracing::info_span!("backend", backend = %kind);
    let runner = Runner {
        kind,
        redirector,
        rx,
        commands: command_rx,
        results,
        confirmed: None,
    };
    let task = tokio::spawn(runner.run().instrument(span));
    BackendHandle {
        kind,
        steering: tx,
        commands,
        task,
    }
}

/// What woke the runner up.
enum Wake {
    Steering,
    Command(RunnerCommand),
    Tick,
    /// The loop dropped the steering sender (shutdown or replacement).
    Closed,
}

/// How a backoff ended.
enum Backoff {
    Elapsed,
    NewSteering,
    Closed,
}

/// What to do after a step.
#[derive(PartialEq, Eq)]
enum Next {
    Idle,
    Apply,
    Stop,
}

struct Runner {
    kind: BackendKind,
    redirector: Box<dyn Backend>,
    rx: watch::Receiver<Option<Steering>>,
    commands: mpsc::Receiver<RunnerCommand>,
    results: mpsc::Sender<Input>,
    /// The steering the backend last confirmed: what drift is measured
    /// against. `None` before the first confirmation and in observer mode.
    confirmed: Option<Steering>,
}

impl Runner {
    async fn run(mut self) {
        let mut reconcile = tokio::time::interval(RECONCILE_EVERY);
        reconcile.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // A new steering goes before a read back: its apply repairs
            // anything the read back could find.
            let wake = tokio::select! {
                biased;
                changed = self.rx.changed() => if changed.is_err() { Wake::Closed } else { Wake::Steering },
                Some(c) = self.commands.recv() => Wake::Command(c),
                _ = reconcile.tick() => Wake::Tick,
            };
            let next = match wake {
                Wake::Closed => {
                    self.redirector.close("orbitd is shutting down").await;
                    return;
                }
                Wake::Command(c) => {
                    self.command(c).await;
                    Next::Idle
                }
                Wake::Tick => self.check().await,
                Wake::Steering => Next::Apply,
            };
            let next = match next {
                Next::Apply => self.apply_newest().await,
                other => other,
            };
            if next == Next::Stop {
                return;
            }
        }
    }

    async fn command(&mut self, command: RunnerCommand) {
        match command {
            RunnerCommand::Reconfigure(config, reply) => {
                let result = self.redirector.reconfigure(&config).await;
                let _ = reply.send(result);
            }
        }
    }

    async fn report(&mut self, input: Input) -> Next {
        match self.results.send(input).await {
            Ok(()) => Next::Idle,
            Err(_) => Next::Stop,
        }
    }

    /// Applies the newest steering until one attempt succeeds, retrying
    /// with doubling backoff; a newer steering cuts the backoff short.
    async fn apply_newest(&mut self) -> Next {
        let mut retry = FIRST_RETRY;
        loop {
            let Some(steering) = self.rx.borrow_and_update().clone() else {
                return Next::Idle;
            };
            // Fenced applies still go to the backend: BGP withdraws the
            // local claims, and the others must know they hold nothing.
            if steering.write_gate() == WriteGate::Closed {
                tracing::info!(
                    generation = steering.generation,
                    "observer mode: not applying"
                );
                self.confirmed = None;
                return Next::Idle;
            }
            let started = Instant::now();
            let result = self.redirector.apply(&steering).await;
            let failed = result.is_err();
            match &result {
                Ok(applied) => {
                    // As the journal: changes only, not a no-op re-apply.
                    if applied.changes > 0 {
                        tracing::info!(kind = %"backend_applied", backend = %self.kind, generation = steering.generation,
                            changes = applied.changes, took_ms = started.elapsed().as_millis() as u64,
                            detail = applied.detail.as_str(), "applied");
                    }
                    self.confirmed = Some(steering.clone());
                }
                Err(error) => {
                    tracing::warn!(kind = %"backend_failed", backend = %self.kind, generation = steering.generation,
                        %error, retry_in = %humantime::format_duration(retry), "apply failed");
                }
            }
            let report = BackendResult {
                backend: self.kind,
                generation: steering.generation,
                result,
                took: started.elapsed(),
            };
            if self.report(Input::Backend(report)).await == Next::Stop {
                return Next::Stop;
            }
            if !failed {
                return Next::Idle;
            }
            // Retry the same (or a newer) steering after the backoff; a
            // reload is taken meanwhile (a backend with no peer up retries
            // for as long as that lasts).
            if let Backoff::Closed = self.backoff(retry).await {
                return Next::Stop;
            }
            retry = (retry * 2).min(MAX_RETRY);
        }
    }

    /// Waits `wait`, taking reloads meanwhile, unless a newer steering
    /// comes first.
    async fn backoff(&mut self, wait: Duration) -> Backoff {
        let sleep = tokio::time::sleep(wait);
        tokio::pin!(sleep);
        loop {
            let wake = tokio::select! {
                _ = &mut sleep => return Backoff::Elapsed,
                changed = self.rx.changed() => if changed.is_err() { Wake::Closed } else { Wake::Steering },
                Some(c) = self.commands.recv() => Wake::Command(c),
            };
            match wake {
                Wake::Command(c) => self.command(c).await,
                Wake::Closed => return Backoff::Closed,
                Wake::Steering | Wake::Tick => return Backoff::NewSteering,
            }
        }
    }

    /// The idle read back: reports what the data plane holds, and repairs
    /// drift from the confirmed steering if this member may write it.
    async fn check(&mut self) -> Next {
        if self.rx.borrow().is_none() {
            // Nothing published yet: nothing to compare with.
            return Next::Idle;
        }
        let observed = match self.redirector.observe().await {
            Ok(observed) => observed,
            Err(error) => {
                tracing::warn!(%error, "cannot read the data plane back");
                return Next::Idle;
            }
        };
        let held = self
            .confirmed
            .as_ref()
            .filter(|s| s.write_gate().blocks(self.kind).is_none());
        let drift = held.map(|s| observed.drift(s)).unwrap_or_default();
        let report = Input::Observed {
            backend: self.kind,
            detail: observed.detail,
            drifted: !drift.is_empty(),
        };
        if self.report(report).await == Next::Stop {
            return Next::Stop;
        }
        if drift.is_empty() {
            return Next::Idle;
        }
        if self.rx.has_changed().unwrap_or(false) {
            // A newer steering is waiting: applying it repairs everything.
            return Next::Apply;
        }
        self.repair(drift).await
    }

    /// Reconciles to the confirmed steering until one attempt succeeds,
    /// reporting each; a newer steering takes over (its apply repairs).
    async fn repair(&mut self, drift: Vec<ServiceDrift>) -> Next {
        let Some(steering) = self.confirmed.clone() else {
            return Next::Idle;
        };
        let mut retry = FIRST_RETRY;
        for attempt in 1.. {
            let result = self.redirector.reconcile(&steering).await;
            if attempt == 1 && result.as_ref().is_ok_and(|a| a.changes == 0) {
                // The data plane already holds what this backend writes:
                // the difference is the data plane's own doing (SDN's fast
                // failover sent traffic to the next live port) or already
                // gone. Nothing drifted.
                tracing::debug!(
                    generation = steering.generation,
                    ?drift,
                    "read back differs, but nothing to repair"
                );
                return Next::Idle;
            }
            let failed = result.is_err();
            let found = drift
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            match &result {
                Ok(applied) => {
                    tracing::info!(kind = %"drift_repaired", backend = %self.kind, generation = steering.generation,
                    drift = found.as_str(), detail = applied.detail.as_str(), "drift repaired")
                }
                Err(error) => {
                    tracing::warn!(kind = %"backend_failed", backend = %self.kind, generation = steering.generation,
                    drift = found.as_str(), %error, retry_in = %humantime::format_duration(retry),
                    "drift not repaired")
                }
            }
            let report = DriftReport {
                backend: self.kind,
                generation: steering.generation,
                drift: drift.clone(),
                attempt,
                result,
            };
            if self.report(Input::Drift(report)).await == Next::Stop {
                return Next::Stop;
            }
            if !failed {
                break;
            }
            match self.backoff(retry).await {
                Backoff::Elapsed => {}
                Backoff::NewSteering => return Next::Apply,
                Backoff::Closed => return Next::Stop,
            }
            retry = (retry * 2).min(MAX_RETRY);
        }
        Next::Idle
    }
}

#[cfg(test)]
mod tests;
