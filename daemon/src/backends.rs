//! Backend runners: one task per configured backend.
//!
//! The event loop publishes each new steering on a watch channel; the runner
//! applies the newest one, reports the outcome back to the loop, and retries
//! failures with exponential backoff until it succeeds or a newer steering
//! supersedes it. A slow backend therefore never blocks the loop or the
//! other backends, and intermediate steerings are skipped, never queued.

use std::time::{Duration, Instant};

use orbit_core::config::Config;
use orbit_core::{Applied, RedirectError, Redirector, Steering};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::daemon::Input;
use crate::hook::HookBackend;

const FIRST_RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(30);
/// How often an idle runner asks its backend what the data plane holds; the
/// backends re-apply the last steering when they find it lost (a restarted
/// HAProxy, router or switch).
const RECONCILE_EVERY: Duration = Duration::from_secs(3);

/// What a runner reports after each attempt.
#[derive(Debug)]
pub struct BackendResult {
    pub backend: String,
    pub generation: u64,
    pub result: Result<Applied, RedirectError>,
    pub took: Duration,
}

#[derive(Debug)]
pub struct BackendHandle {
    pub name: String,
    pub kind: String,
    steering: watch::Sender<Option<Steering>>,
    task: JoinHandle<()>,
}

impl BackendHandle {
    pub fn publish(&self, steering: &Steering) {
        self.steering.send_replace(Some(steering.clone()));
    }

    /// Lets the runner close its backend's connections gracefully (after the
    /// departing steering), waiting at most `limit`.
    pub async fn close(mut self, limit: Duration) {
        // Dropping the sender ends the runner's loop, which then closes.
        let (replacement, _) = watch::channel(None);
        drop(std::mem::replace(&mut self.steering, replacement));
        let task = std::mem::replace(&mut self.task, tokio::spawn(async {}));
        if tokio::time::timeout(limit, task).await.is_err() {
            tracing::warn!(backend = %self.name, "did not close in time");
        }
    }
}

impl Drop for BackendHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Builds every backend the config names. A backend that cannot be built is
/// a startup error (before anything is applied).
/// The backends of a config, and the BGP peers' control handle (for BFD).
pub struct Built {
    pub redirectors: Vec<Box<dyn Redirector>>,
    pub bgp_control: Option<orbit_bgp::PeerControl>,
}

pub async fn build(config: &Config) -> Result<Built, RedirectError> {
    let mut out: Vec<Box<dyn Redirector>> = Vec::new();
    let mut bgp_control = None;
    if let Some(bgp) = &config.bgp {
        let speaker = orbit_bgp::Speaker::start(bgp, &config.services)
            .await
            .map_err(|e| RedirectError::Config(format!("bgp: {e}")))?;
        bgp_control = Some(speaker.control());
        out.push(Box::new(speaker));
    }
    if let Some(sdn) = &config.sdn {
        // Checks over OVSDB that the configured bridge exists: a missing
        // bridge stops orbitd at start with the bridges that do exist.
        let switch = orbit_sdn::Switch::start(sdn, &config.services)
            .await
            .map_err(|e| RedirectError::Config(format!("sdn: {e}")))?;
        out.push(Box::new(switch));
    }
    if let Some(haproxy) = &config.haproxy {
        // No I/O here: a HAProxy that is down at start is reconciled by the
        // runner's retries once it is up.
        let runtime = orbit_haproxy::Runtime::new(haproxy)
            .map_err(|e| RedirectError::Config(format!("haproxy: {e}")))?;
        out.push(Box::new(runtime));
    }
    if let Some(hook) = &config.hook {
        out.push(Box::new(HookBackend::new(hook)?));
    }
    Ok(Built {
        redirectors: out,
        bgp_control,
    })
}

pub fn spawn(redirector: Box<dyn Redirector>, results: mpsc::Sender<Input>) -> BackendHandle {
    let name = redirector.kind().to_string();
    let (tx, rx) = watch::channel(None);
    let span = tracing::info_span!("backend", backend = %name);
    let task = tokio::spawn(run(name.clone(), redirector, rx, results).instrument(span));
    BackendHandle {
        kind: name.clone(),
        name,
        steering: tx,
        task,
    }
}

async fn run(
    name: String,
    mut redirector: Box<dyn Redirector>,
    mut rx: watch::Receiver<Option<Steering>>,
    results: mpsc::Sender<Input>,
) {
    let mut reconcile = tokio::time::interval(RECONCILE_EVERY);
    reconcile.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            changed = rx.changed() => if changed.is_err() {
                redirector.close("orbitd is shutting down").await;
                return;
            },
            _ = reconcile.tick() => {
                if rx.borrow().is_some() {
                    match redirector.observe().await {
                        Ok(observed) => {
                            let report = Input::Observed {
                                backend: name.clone(),
                                detail: observed.detail,
                            };
                            if results.send(report).await.is_err() {
                                return;
                            }
                        }
                        Err(error) => {
                            tracing::warn!(%error, "reconcile: cannot read the data plane back");
                        }
                    }
                }
                continue;
            }
        }
        let mut retry = FIRST_RETRY;
        loop {
            let Some(steering) = rx.borrow_and_update().clone() else {
                break;
            };
            if steering.observe_only {
                tracing::info!(
                    generation = steering.generation,
                    "observer mode: not applying"
                );
                break;
            }
            let started = Instant::now();
            let result = redirector.apply(&steering).await;
            let failed = result.is_err();
            if let Err(error) = &result {
                tracing::warn!(generation = steering.generation, %error, retry_in = ?retry, "apply failed");
            }
            let report = BackendResult {
                backend: name.clone(),
                generation: steering.generation,
                result,
                took: started.elapsed(),
            };
            if results.send(Input::Backend(report)).await.is_err() {
                return;
            }
            if !failed {
                break;
            }
            // Retry the same (or a newer) steering after the backoff.
            tokio::select! {
                _ = tokio::time::sleep(retry) => {}
                changed = rx.changed() => if changed.is_err() { return },
            }
            retry = (retry * 2).min(MAX_RETRY);
        }
    }
}
