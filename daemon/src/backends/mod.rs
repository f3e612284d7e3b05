//! Backend runners: one task per configured backend.
//!
//! The event loop publishes each new steering on a watch channel; the runner
//! applies the newest one, reports the outcome back to the loop, and retries
//! failures with exponential backoff until it succeeds or a newer steering
//! supersedes it. A slow backend therefore never blocks the loop or the
//! other backends, and intermediate steerings are skipped, never queued.
//!
//! A reload reaches the backend through the runner, which owns it: the loop
//! sends [`RunnerCommand::Reconfigure`] on a second channel and awaits the
//! answer ([`BackendHandle::reconfigure`]). The runner carries it out
//! between two applies (never in the middle of one), so the backend sees
//! one caller at a time and needs no lock; a backend that cannot take a
//! new config in place says so (`Reconfiguration::RebuildNeeded`, the
//! default of [`Backend::reconfigure`]) and the loop builds a new one, as
//! before.

pub mod bgp_status;
pub mod hook;
pub mod reconfigure;

use std::sync::Arc;
use std::time::{Duration, Instant};

use orbit_config::Config;
use orbit_core::{Applied, BackendKind, Reconfiguration, RedirectError, Steering};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::backends::hook::HookBackend;
pub use crate::backends::reconfigure::Backend;
use crate::daemon::Input;

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
    pub name: String,
    pub kind: String,
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
            tracing::warn!(backend = %self.name, "did not close in time");
        }
    }
}

impl Drop for BackendHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The backends of a config, and the BGP peers' control handle (for BFD).
pub struct Built {
    pub redirectors: Vec<Box<dyn Backend>>,
    pub bgp_control: Option<orbit_bgp::PeerControl>,
}

/// Builds every backend the config names. A backend that cannot be built is
/// a startup error (before anything is applied).
pub async fn build(config: &Config) -> Result<Built, RedirectError> {
    let mut out = Built {
        redirectors: Vec::new(),
        bgp_control: None,
    };
    for kind in KINDS {
        if let Some(r) = build_one(config, kind, &mut out.bgp_control).await? {
            out.redirectors.push(r);
        }
    }
    Ok(out)
}

/// Every backend kind, in the order the runners are started.
pub const KINDS: [BackendKind; 4] = [
    BackendKind::Bgp,
    BackendKind::Sdn,
    BackendKind::Haproxy,
    BackendKind::Hook,
];

/// Whether the parts of the config `kind` is built from differ.
pub fn section_changed(kind: BackendKind, old: &Config, new: &Config) -> bool {
    match kind {
        BackendKind::Bgp => old.bgp != new.bgp || old.services != new.services,
        BackendKind::Sdn => old.sdn != new.sdn || old.services != new.services,
        BackendKind::Haproxy => old.haproxy != new.haproxy,
        BackendKind::Hook => old.hook != new.hook,
    }
}

/// Builds the backend of `kind`, if the config names one; a BGP speaker's
/// control handle goes to `bgp_control`.
pub async fn build_one(
    config: &Config,
    kind: BackendKind,
    bgp_control: &mut Option<orbit_bgp::PeerControl>,
) -> Result<Option<Box<dyn Backend>>, RedirectError> {
    Ok(match kind {
        BackendKind::Bgp => match &config.bgp {
            Some(bgp) => {
                let speaker = orbit_bgp::Speaker::start(bgp, &config.services())
                    .await
                    .map_err(|e| RedirectError::Config(format!("bgp: {e}")))?;
                *bgp_control = Some(speaker.control());
                Some(Box::new(speaker))
            }
            None => None,
        },
        BackendKind::Sdn => match &config.sdn {
            // Checks over OVSDB that the configured bridge exists: a missing
            // bridge stops orbitd at start with the bridges that do exist.
            Some(sdn) => Some(Box::new(
                orbit_sdn::Switch::start(sdn, &config.services())
                    .await
                    .map_err(|e| RedirectError::Config(format!("sdn: {e}")))?,
            )),
            None => None,
        },
        BackendKind::Haproxy => match &config.haproxy {
            // No I/O here: a HAProxy that is down at start is reconciled by
            // the runner's retries once it is up.
            Some(haproxy) => Some(Box::new(
                orbit_haproxy::Runtime::new(haproxy)
                    .map_err(|e| RedirectError::Config(format!("haproxy: {e}")))?,
            )),
            None => None,
        },
        BackendKind::Hook => match &config.hook {
            Some(hook) => Some(Box::new(HookBackend::new(hook)?)),
            None => None,
        },
    })
}

pub fn spawn(redirector: Box<dyn Backend>, results: mpsc::Sender<Input>) -> BackendHandle {
    let name = redirector.kind().to_string();
    let (tx, rx) = watch::channel(None);
    let (commands, command_rx) = mpsc::channel(4);
    let span = tracing::info_span!("backend", backend = %name);
    let task =
        tokio::spawn(run(name.clone(), redirector, rx, command_rx, results).instrument(span));
    BackendHandle {
        kind: name.clone(),
        name,
        steering: tx,
        commands,
        task,
    }
}

async fn command(redirector: &mut Box<dyn Backend>, command: RunnerCommand) {
    match command {
        RunnerCommand::Reconfigure(config, reply) => {
            let result = redirector.reconfigure(&config).await;
            let _ = reply.send(result);
        }
    }
}

async fn run(
    name: String,
    mut redirector: Box<dyn Backend>,
    mut rx: watch::Receiver<Option<Steering>>,
    mut commands: mpsc::Receiver<RunnerCommand>,
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
            Some(c) = commands.recv() => {
                command(&mut redirector, c).await;
                continue;
            }
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
            // Retry the same (or a newer) steering after the backoff; a
            // reload is taken meanwhile (a backend with no peer up retries
            // for as long as that lasts).
            let backoff = tokio::time::sleep(retry);
            tokio::pin!(backoff);
            loop {
                tokio::select! {
                    _ = &mut backoff => break,
                    changed = rx.changed() => if changed.is_err() { return } else { break },
                    Some(c) = commands.recv() => command(&mut redirector, c).await,
                }
            }
            retry = (retry * 2).min(MAX_RETRY);
        }
    }
}

/// The runner against a scripted backend, in paused time: backoff,
/// supersede, observer mode, reconcile and close, without a real data plane.
#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use orbit_core::{Observed, Redirector};
    use tokio::time::Instant;

    use super::*;

    /// What the runner asked of the fake, and when.
    #[derive(Debug, Default)]
    struct Calls {
        applied: Vec<(u64, Instant)>,
        observed: usize,
        closed: Option<String>,
    }

    /// Fails its first `failures` applies, then succeeds.
    struct Scripted {
        calls: Arc<Mutex<Calls>>,
        failures: usize,
    }

    #[async_trait::async_trait]
    impl Redirector for Scripted {
        fn kind(&self) -> BackendKind {
            BackendKind::Hook
        }

        async fn apply(&mut self, steering: &Steering) -> Result<Applied, RedirectError> {
            self.calls
                .lock()
                .unwrap()
                .applied
                .push((steering.generation, Instant::now()));
            if self.failures > 0 {
                self.failures -= 1;
                return Err(RedirectError::Unreachable {
                    component: "fake".to_owned(),
                    detail: "scripted failure".to_owned(),
                });
            }
            Ok(Applied {
                generation: steering.generation,
                ..Applied::default()
            })
        }

        async fn observe(&mut self) -> Result<Observed, RedirectError> {
            self.calls.lock().unwrap().observed += 1;
            Ok(Observed {
                services: BTreeMap::new(),
                detail: "all there".to_owned(),
            })
        }

        async fn close(&mut self, reason: &str) {
            self.calls.lock().unwrap().closed = Some(reason.to_owned());
        }
    }

    impl Backend for Scripted {}

    fn steering(generation: u64, observe_only: bool) -> Steering {
        Steering {
            generation,
            local_site: "a".parse().unwrap(),
            fenced: false,
            observe_only,
            services: BTreeMap::new(),
        }
    }

    fn start(failures: usize) -> (BackendHandle, Arc<Mutex<Calls>>, mpsc::Receiver<Input>) {
        let calls = Arc::new(Mutex::new(Calls::default()));
        let (tx, rx) = mpsc::channel(64);
        let fake = Scripted {
            calls: calls.clone(),
            failures,
        };
        (spawn(Box::new(fake), tx), calls, rx)
    }

    /// The generations and outcomes the runner reported, in order.
    async fn reports(rx: &mut mpsc::Receiver<Input>, n: usize) -> Vec<(u64, bool)> {
        let mut out = Vec::new();
        while out.len() < n {
            if let Input::Backend(r) = rx.recv().await.unwrap() {
                out.push((r.generation, r.result.is_ok()));
            }
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn failures_are_retried_with_doubling_backoff_until_one_succeeds() {
        let (handle, calls, mut rx) = start(3);
        let t0 = Instant::now();
        handle.publish(&steering(7, false));
        assert_eq!(
            reports(&mut rx, 4).await,
            [(7, false), (7, false), (7, false), (7, true)]
        );
        let at: Vec<Duration> = calls
            .lock()
            .unwrap()
            .applied
            .iter()
            .map(|(_, t)| *t - t0)
            .collect();
        let ms = Duration::from_millis;
        assert_eq!(at, [ms(0), ms(100), ms(300), ms(700)]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_newer_steering_cuts_the_backoff_short_and_skips_the_ones_between() {
        let (handle, calls, mut rx) = start(1);
        let t0 = Instant::now();
        handle.publish(&steering(1, false));
        assert_eq!(reports(&mut rx, 1).await, [(1, false)]);
        // Within the 100 ms backoff, two newer steerings: only the newest
        // is applied, at once.
        tokio::time::sleep(Duration::from_millis(10)).await;
        handle.publish(&steering(2, false));
        handle.publish(&steering(3, false));
        assert_eq!(reports(&mut rx, 1).await, [(3, true)]);
        let applied = &calls.lock().unwrap().applied;
        assert_eq!(applied.iter().map(|(g, _)| *g).collect::<Vec<_>>(), [1, 3]);
        assert_eq!(applied[1].1 - t0, Duration::from_millis(10));
    }

    #[tokio::test(start_paused = true)]
    async fn observer_mode_applies_nothing() {
        let (handle, calls, mut rx) = start(0);
        handle.publish(&steering(4, true));
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(calls.lock().unwrap().applied.is_empty());
        handle.publish(&steering(5, false));
        assert_eq!(reports(&mut rx, 1).await, [(5, true)]);
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_runner_reads_the_data_plane_back_every_reconcile_period() {
        let (handle, calls, mut rx) = start(0);
        // Nothing to compare with before the first steering. (Halfway
        // between two ticks, so that the steering never meets a tick.)
        tokio::time::sleep(RECONCILE_EVERY * 5 / 2).await;
        assert_eq!(calls.lock().unwrap().observed, 0);
        handle.publish(&steering(1, false));
        assert_eq!(reports(&mut rx, 1).await, [(1, true)]);
        let mut observed = 0;
        let t0 = Instant::now();
        while observed < 2 {
            if let Input::Observed { backend, detail } = rx.recv().await.unwrap() {
                assert_eq!((backend.as_str(), detail.as_str()), ("hook", "all there"));
                observed += 1;
            }
        }
        assert!(t0.elapsed() <= RECONCILE_EVERY * 2, "{:?}", t0.elapsed());
        assert_eq!(calls.lock().unwrap().observed, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn closing_the_handle_closes_the_backend_with_a_reason() {
        let (handle, calls, _rx) = start(0);
        handle.close(Duration::from_secs(1)).await;
        assert_eq!(
            calls.lock().unwrap().closed.as_deref(),
            Some("orbitd is shutting down")
        );
    }
}
