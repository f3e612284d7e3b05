//! The orbitd event loop.
//!
//! ```text
//!  API server ----\                          /--> backend runner (hook) --\
//!  detectors -----+--> mpsc<Input> --> loop --> backend runner (bgp) ...  |
//!  signals -------/        ^          |  Engine, journal, state, metrics  |
//!                          \----------+-----------------------------------/
//!                  Input::Backend (apply results), Input::Observed (read
//!                  backs), Input::Drift (drift and its repair)
//! ```
//!
//! Everything that changes state goes through the one channel and is handled
//! by this loop, in order; spawned tasks only do I/O.

mod about;
mod agreement;
mod notify;
mod plans;
mod reload;
mod shutdown;

pub use reload::ReloadCall;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Result;
use orbit_config::Config;
use orbit_core::api::{BackendReport, CommandResponse, JournalRecord, StatusResponse};
use orbit_core::{
    BackendKind, CommandError, Decision, Engine, Event, Millis, Order, Reconfiguration, ServiceId,
    SiteId, Steering, WriteGate,
};
use tokio::sync::{mpsc, oneshot};

use crate::backends::{self, BackendHandle, BackendResult, DriftReport};
use crate::bfd::status::BfdUser;
use crate::evidence::Evidence;
use crate::journal::Journal;
use crate::metrics::Metrics;
use crate::startup::StartupError;
use crate::state::StateFile;

/// Everything the loop reacts to.
#[derive(Debug)]
pub enum Input {
    /// From a detector (or an external feed through the API).
    Event(Event),
    Api(ApiCall),
    Backend(BackendResult),
    /// What a backend read back from its data plane while idle, and whether
    /// it differs from the confirmed steering (then an `Input::Drift`
    /// follows).
    Observed {
        backend: BackendKind,
        detail: String,
        drifted: bool,
    },
    Drift(DriftReport),
    Terminate,
    /// SIGHUP (`None`) or `POST /v1/reload`.
    Reload(Option<ReloadCall>),
    /// A plan step's task ended (boxed: the step's config and output).
    StepEnded(Box<(orbit_core::DueStep, orbit_core::StepProgress)>),
}

/// A request from the API server, answered on its oneshot.
#[derive(Debug)]
pub enum ApiCall {
    Status(oneshot::Sender<StatusResponse>),
    Command(
        Order,
        oneshot::Sender<Result<CommandResponse, CommandError>>,
    ),
    Journal {
        since: Option<u64>,
        limit: usize,
        reply: oneshot::Sender<crate::journal::JournalPage>,
    },
    /// `Ok` when the daemon has authority and every backend confirmed the
    /// current steering; otherwise why not.
    Ready(oneshot::Sender<Result<(), String>>),
    Ping(oneshot::Sender<()>),
    /// What would happen (`POST /v1/simulate`, `--dry-run`), played on a
    /// copy of the engine.
    Simulate(
        orbit_core::Hypothesis,
        oneshot::Sender<Result<orbit_core::Simulation, orbit_core::SimulationError>>,
    ),
}

#[derive(Debug, Default)]
struct BackendState {
    applied_generation: Option<u64>,
    last_error: Option<String>,
    consecutive_failures: u32,
    observed: Option<String>,
    drift: Option<String>,
}

pub struct Daemon {
    config_path: PathBuf,
    config: Config,
    engine: Engine,
    journal: Journal,
    state: StateFile,
    metrics: std::sync::Arc<Metrics>,
    /// What detection and the sessions saw; status and metrics read it.
    evidence: std::sync::Arc<Evidence>,
    backends: Vec<(BackendHandle, BackendState)>,
    tx: mpsc::Sender<Input>,
    rx: mpsc::Receiver<Input>,
    started: Instant,
    /// Wall-clock times of the start and of the last (re)load of the
    /// config file, for status.
    started_wall: std::time::SystemTime,
    config_loaded: std::time::SystemTime,
    /// When the current steering generation was published.
    published_at: Instant,
    published_generation: u64,
    /// SIGTERM's withdrawal in progress: the withdrawn steering owns the
    /// backends.
    departing: bool,
    /// The last steering generation every backend confirmed and the engine
    /// was told about (`Event::Confirmed`).
    confirmed_generation: Option<u64>,
    /// BFD toward BGP peers (kept alive while the daemon runs).
    peer_bfd: Option<crate::bfd::PeerBfd>,
    /// The BGP speaker's peers, for BFD (follows the speaker's reloads).
    bgp_control: Option<orbit_bgp::PeerControl>,
    /// What the state file holds.
    saved: Option<(u64, orbit_core::SharedState)>,
    /// Gossip, to share placements and intent with the other daemons.
    gossip: Option<orbit_detect::gossip::LocalReporter>,
    /// Multihop BFD toward the other members (`[bfd] sites = true`).
    site_bfd: Option<crate::bfd::sites::SiteBfd>,
    gossiped: Option<orbit_core::SharedState>,
    /// This member's config fingerprint and the other members'.
    agreement: agreement::ConfigAgreement,
    /// What systemd is told (nothing when it did not start us).
    notifier: crate::systemd::Notifier,
    /// Plan steps whose task runs (or, in observer mode, that were due).
    plan_steps: std::collections::BTreeSet<plans::StepKey>,
}

impl std::fmt::Debug for Daemon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Daemon")
            .field("config_path", &self.config_path)
            .finish_non_exhaustive()
    }
}

impl Daemon {
    /// Builds the daemon from a validated config: state dir, journal, saved
    /// state, backends. Nothing is applied yet.
    pub async fn new(
        config_path: PathBuf,
        config: Config,
        metrics: std::sync::Arc<Metrics>,
        evidence: std::sync::Arc<Evidence>,
    ) -> Result<Daemon, StartupError> {
        let state_dir = &config.node.state_dir;
        std::fs::create_dir_all(state_dir).map_err(|source| StartupError::File {
            action: "creating state_dir",
            path: state_dir.clone(),
            source,
        })?;
        let mut journal = Journal::open(state_dir, config.journal, metrics.journal())
            .map_err(StartupError::Journal)?;
        let state = StateFile::new(state_dir, metrics.state_write_errors());
        let mut engine = config.engine();
        match state.load().map_err(StartupError::StateFile)? {
            Some(saved) => {
                engine.restore(&saved.shared, saved.generation);
                journal.append(JournalRecord::Lifecycle {
                    message: format!(
                        "orbitd {} ({}) started at site {} with {}; restored generation {} \
                         (intent epoch {})",
                        env!("CARGO_PKG_VERSION"),
                        env!("ORBIT_COMMIT"),
                        config.node.site,
                        config_path.display(),
                        saved.generation,
                        saved.shared.intent.epoch
                    ),
                });
            }
            None => journal.append(JournalRecord::Lifecycle {
                message: format!(
                    "orbitd {} ({}) started at site {} with {} and no saved state",
                    env!("CARGO_PKG_VERSION"),
                    env!("ORBIT_COMMIT"),
                    config.node.site,
                    config_path.display()
                ),
            }),
        }
        let (tx, rx) = mpsc::channel(1024);
        let built = backends::build(&config)
            .await
            .map_err(StartupError::Backend)?;
        evidence
            .bgp()
            .set_control(&config, built.bgp_control.clone());
        let bfd = match &built.bgp_control {
            Some(control) => crate::bfd::PeerBfd::start(&config, control.clone())
                .await
                .map_err(StartupError::PeerBfd)?,
            None => None,
        };
        evidence
            .bfd()
            .set_handle(BfdUser::BgpPeers, bfd.as_ref().map(|b| b.handle().clone()));
        let backends = spawn_all(built.redirectors, &tx);
        for (handle, _) in &backends {
            metrics.backend_known(handle.kind);
        }
        let published_generation = engine.steering().generation;
        let agreement = agreement::ConfigAgreement::new(&config);
        metrics.config_fingerprint(agreement.local());
        metrics.config_mismatched_members(0);
        Ok(Daemon {
            config_path,
            config,
            engine,
            journal,
            state,
            metrics,
            evidence,
            backends,
            tx,
            rx,
            started: Instant::now(),
            started_wall: std::time::SystemTime::now(),
            config_loaded: std::time::SystemTime::now(),
            published_at: Instant::now(),
            published_generation,
            departing: false,
            confirmed_generation: None,
            peer_bfd: bfd,
            bgp_control: built.bgp_control,
            saved: None,
            gossip: None,
            site_bfd: None,
            gossiped: None,
            agreement,
            notifier: Default::default(),
            plan_steps: Default::default(),
        })
    }

    /// Shares this engine's placements and intent through gossip, reports
    /// the gossip member's evidence in the status, and starts BFD toward
    /// the other members (their verdicts go into gossip).
    pub async fn set_gossip(
        &mut self,
        gossip: &orbit_detect::gossip::Gossip,
    ) -> Result<(), StartupError> {
        self.gossip = Some(gossip.reporter());
        self.evidence.set_gossip(gossip.watch());
        self.sync_shared();
        let bfd = crate::bfd::sites::SiteBfd::start(&self.config, gossip.reporter())
            .await
            .map_err(StartupError::SiteBfd)?;
        self.set_site_bfd(bfd);
        Ok(())
    }

    /// Reports to systemd (`Type=notify`), if it started us.
    pub fn set_systemd(&mut self, systemd: crate::systemd::Systemd) {
        let wait = self.config.node.ready_timeout.get();
        self.notifier = crate::systemd::Notifier::new(systemd, Instant::now(), wait);
    }

    fn set_site_bfd(&mut self, bfd: Option<crate::bfd::sites::SiteBfd>) {
        self.evidence
            .bfd()
            .set_handle(BfdUser::Members, bfd.as_ref().map(|b| b.handle.clone()));
        self.site_bfd = bfd;
    }

    /// Saves the state file and gossips the shared state when either
    /// changed; the shared state is computed once per call. Journal
    /// entries that wait for a writable disk are retried here too.
    fn sync_shared(&mut self) {
        self.journal.retry_unwritten();
        let state = self.engine.shared_state();
        self.persist(&state);
        let state = orbit_core::SharedState {
            config: Some(Box::new(self.agreement.local().clone())),
            ..state
        };
        let Some(gossip) = &self.gossip else { return };
        if self.gossiped.as_ref() == Some(&state) {
            return;
        }
        match gossip.try_publish_shared(state.clone()) {
            Ok(()) => self.gossiped = Some(state),
            Err(error) => tracing::warn!(%error, "could not hand the shared state to gossip"),
        }
    }

    /// A sender for detectors, the API server and signal handlers.
    pub fn sender(&self) -> mpsc::Sender<Input> {
        self.tx.clone()
    }

    fn now(&self) -> Millis {
        Millis(u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    fn deadline(&self) -> Option<tokio::time::Instant> {
        self.engine.next_deadline().map(|d| {
            let at = self.started + Duration::from_millis(d.0);
            tokio::time::Instant::from_std(at)
        })
    }

    /// Runs until SIGTERM has drained the site.
    pub async fn run(mut self) -> Result<()> {
        // A first evaluation (a lone member has all it needs at once), then
        // the steering right away so backends reconcile whatever the data
        // plane holds; until the engine has authority it is fenced, which
        // every backend takes as "claim nothing, decide nothing".
        self.handle_event(Event::Tick);
        self.publish(true);
        self.sync_shared();
        self.notify();
        loop {
            let deadline = self.deadline();
            // The watchdog is petted here, by the loop: a stalled loop stops.
            let notify_at = self.notifier.deadline().map(tokio::time::Instant::from_std);
            let input = tokio::select! {
                input = self.rx.recv() => match input {
                    Some(i) => i,
                    None => return Ok(()),
                },
                _ = sleep_until(deadline) => Input::Event(Event::Tick),
                _ = sleep_until(notify_at) => {
                    self.notify();
                    continue;
                }
            };
            match input {
                Input::Event(event) => self.handle_event(event),
                Input::Api(call) => self.handle_api(call),
                Input::Backend(result) => self.handle_backend(result),
                Input::Observed {
                    backend,
                    detail,
                    drifted,
                } => self.handle_observed(backend, detail, drifted),
                Input::Drift(report) => self.handle_drift(report),
                Input::Reload(call) => self.reload(call).await,
                Input::StepEnded(ended) => {
                    let (due, progress) = *ended;
                    self.step_ended(due, progress);
                }
                Input::Terminate => {
                    self.notify_stopping();
                    return self.shutdown().await;
                }
            }
            self.notify();
        }
    }

    fn handle_event(&mut self, event: Event) {
        let kind = event_kind(&event);
        self.metrics.event(kind);
        self.hear_config(&event);
        let now = self.now();
        let decisions = self.engine.handle(now, event);
        self.record(&decisions);
    }

    fn record(&mut self, decisions: &[Decision]) {
        self.journal_decisions(decisions);
        self.take_effect();
    }

    /// Publishes a changed steering, tells the engine what the backends
    /// already confirmed, and saves and gossips the shared state.
    fn take_effect(&mut self) {
        if self.engine.steering().generation != self.published_generation {
            self.publish(false);
        }
        if let Some(more) = self.confirm_if_applied() {
            self.journal_decisions(&more);
            if self.engine.steering().generation != self.published_generation {
                self.publish(false);
            }
        }
        self.sync_shared();
        self.start_due_steps();
    }

    fn journal_decisions(&mut self, decisions: &[Decision]) {
        self.metrics.decisions(decisions);
        for d in decisions {
            self.journal.append(JournalRecord::Decision {
                decision: d.clone(),
            });
        }
    }

    /// Tells the engine once every backend has confirmed the current
    /// steering: what it makes us Active for is then carried, which the
    /// shared state tells the other members (a departing site waits for
    /// that). With no backend at all there is nothing to wait for.
    fn confirm_if_applied(&mut self) -> Option<Vec<Decision>> {
        let steering = self.engine.steering();
        let generation = steering.generation;
        if self.departing
            || steering.write_gate() == WriteGate::Closed
            || self.confirmed_generation == Some(generation)
            || self
                .backends
                .iter()
                .any(|(_, s)| s.applied_generation != Some(generation))
        {
            return None;
        }
        self.confirmed_generation = Some(generation);
        let now = self.now();
        Some(self.engine.handle(now, Event::Confirmed { generation }))
    }

    /// Saves the state file when anything a restart needs has changed
    /// (placement, operator intent), not only the steering.
    /// What detection decided stands even if it cannot be saved (the
    /// state file counts and logs the failure); every later event retries.
    fn persist(&mut self, shared: &orbit_core::SharedState) {
        let generation = self.engine.steering().generation;
        let _ = self.save_state(generation, shared);
    }

    fn save_state(&mut self, generation: u64, shared: &orbit_core::SharedState) -> Result<()> {
        if let Some((g, s)) = &self.saved {
            if (*g, s) == (generation, shared) {
                return Ok(());
            }
        }
        self.state.save(generation, shared)?;
        self.saved = Some((generation, shared.clone()));
        Ok(())
    }

    /// Hands the current steering to every backend and saves the state.
    fn publish(&mut self, always: bool) {
        if self.departing {
            return;
        }
        let steering = self.engine.steering().clone();
        let changed = steering.generation != self.published_generation;
        self.published_generation = steering.generation;
        self.published_at = Instant::now();
        if changed || always {
            for (handle, _) in &self.backends {
                handle.publish(&steering);
            }
        }
        self.metrics.state(&self.engine.status(), &steering);
    }

    fn handle_api(&mut self, call: ApiCall) {
        match call {
            ApiCall::Status(reply) => {
                let _ = reply.send(self.status());
            }
            ApiCall::Command(order, reply) => {
                if reply.is_closed() {
                    // Its client gave up (went away, or its request timed
                    // out) while the command waited for this loop: it was
                    // told nothing was done, so nothing is.
                    tracing::warn!(
                        command = %order.command,
                        "command dropped: its client gave up before it was taken"
                    );
                    self.metrics.command(order.command.verb(), "abandoned");
                    self.journal.append(JournalRecord::CommandRefused {
                        order,
                        error: "not applied: the client gave up before orbitd took the command"
                            .to_owned(),
                    });
                    return;
                }
                let result = self.handle_command(order);
                let generation = self.engine.steering().generation;
                let _ = reply.send(result.map(|decisions| CommandResponse {
                    generation,
                    decisions,
                }));
            }
            ApiCall::Journal {
                since,
                limit,
                reply,
            } => {
                let _ = reply.send(self.journal.page(since, limit));
            }
            ApiCall::Ready(reply) => {
                let _ = reply.send(self.readiness());
            }
            ApiCall::Ping(reply) => {
                let _ = reply.send(());
            }
            ApiCall::Simulate(hypothesis, reply) => {
                let _ = reply.send(self.engine.simulate(self.now(), &hypothesis));
            }
        }
    }

    /// An operator command is saved before it takes effect: the engine
    /// decides on a copy of itself, the decisions go to the journal
    /// (synced) and the resulting state to the state file, and only then
    /// does the copy become the engine. A command that cannot be saved is
    /// refused and changes nothing: acknowledging it would let a restart
    /// undo what the operator was told had happened.
    fn handle_command(&mut self, order: Order) -> Result<Vec<Decision>, CommandError> {
        let verb = order.command.verb();
        let mut next = self.engine.clone();
        let result = next
            .command(self.now(), order.clone())
            .and_then(|decisions| {
                self.save_command(&next, &decisions)
                    .map_err(|error| CommandError::NotPersisted(format!("{error:#}")))?;
                Ok(decisions)
            });
        match &result {
            Ok(decisions) => {
                self.engine = next;
                self.metrics.command(verb, "accepted");
                self.metrics.decisions(decisions);
                self.take_effect();
            }
            Err(error) => {
                let outcome = match error {
                    CommandError::NotPersisted(_) => "not_persisted",
                    _ => "refused",
                };
                self.metrics.command(verb, outcome);
                self.journal.append(JournalRecord::CommandRefused {
                    order,
                    error: error.to_string(),
                });
            }
        }
        result
    }

    /// Journals a command's decisions and saves the state `engine` reached
    /// with them; on error neither stays.
    fn save_command(&mut self, engine: &Engine, decisions: &[Decision]) -> Result<()> {
        let written =
            self.journal
                .append_synced(decisions.iter().map(|d| JournalRecord::Decision {
                    decision: d.clone(),
                }))?;
        let saved = self.save_state(engine.steering().generation, &engine.shared_state());
        if saved.is_err() {
            self.journal.take_back(written);
        }
        saved
    }

    fn readiness(&self) -> Result<(), String> {
        let steering = self.engine.steering();
        // Authority first: an observer without it is not ready either.
        if steering.fenced {
            let status = self.engine.status();
            let (reached, members) = notify::reach(&status);
            return Err(if status.fenced {
                format!(
                    "fenced: reaches {reached} of {members} members, a quorum is {}",
                    status.quorum
                )
            } else {
                format!(
                    "not yet synced with the other sites (reaches {reached} of {members} members)"
                )
            });
        }
        if steering.write_gate() == WriteGate::Closed {
            // An observer confirms nothing.
            return Ok(());
        }
        for (handle, state) in &self.backends {
            if state.applied_generation != Some(steering.generation) {
                return Err(format!(
                    "backend {} has not confirmed generation {} yet{}",
                    handle.kind,
                    steering.generation,
                    state
                        .last_error
                        .as_ref()
                        .map(|e| format!(" (last error: {e})"))
                        .unwrap_or_default()
                ));
            }
        }
        Ok(())
    }

    fn status(&self) -> StatusResponse {
        let generation = self.engine.steering().generation;
        // An observer applies nothing, so nothing is pending.
        let writes = self.engine.steering().write_gate() != WriteGate::Closed;
        StatusResponse {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            engine: self.engine.status_at(self.now()),
            steering: self.engine.steering().clone(),
            backends: self
                .backends
                .iter()
                .map(|(handle, state)| BackendReport {
                    kind: handle.kind,
                    applied_generation: state.applied_generation,
                    last_error: state.last_error.clone(),
                    consecutive_failures: state.consecutive_failures,
                    observed: state.observed.clone(),
                    drift: state.drift.clone(),
                    pending: writes && state.applied_generation != Some(generation),
                    // Filled in by the API handler (BGP sessions).
                    degraded: None,
                })
                .collect(),
            detect: self.evidence.detect(),
            // Filled in by the API handler: the BFD driver answers
            // asynchronously, outside this loop.
            bfd: Vec::new(),
            bgp_peers: Vec::new(),
            daemon: Some(self.about()),
            config_fingerprints: self.agreement.fingerprints().clone(),
            config_mismatch: self.agreement.mismatched(),
        }
    }

    fn backend_state(&mut self, kind: BackendKind) -> Option<&mut BackendState> {
        self.backends
            .iter_mut()
            .find(|(h, _)| h.kind == kind)
            .map(|(_, state)| state)
    }

    fn handle_observed(&mut self, backend: BackendKind, detail: String, drifted: bool) {
        if let Some(state) = self.backend_state(backend) {
            state.observed = Some(detail);
            if !drifted {
                state.drift = None;
            }
        }
    }

    /// Drift a runner found and one attempt to repair it: journal, metrics
    /// and status. Confirmation stands: the runner repairs toward the
    /// steering the backend confirmed.
    fn handle_drift(&mut self, report: DriftReport) {
        let ok = report.result.is_ok();
        self.metrics
            .backend_drift(report.backend, report.attempt == 1, ok);
        let found = report
            .drift
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        let detail = match &report.result {
            Ok(applied) => format!("repaired: {}", applied.detail),
            Err(e) => format!("not repaired (attempt {}): {e}", report.attempt),
        };
        if let Some(state) = self.backend_state(report.backend) {
            state.drift = Some(format!("{found}; {detail}"));
        }
        self.journal.append(JournalRecord::Drift {
            backend: report.backend,
            generation: report.generation,
            services: report.drift,
            repaired: ok,
            detail,
        });
    }

    fn handle_backend(&mut self, report: BackendResult) {
        let since_change = self.published_at.elapsed().as_secs_f64();
        let ok = report.result.is_ok();
        self.metrics.backend_result(
            report.backend,
            ok,
            report.took.as_secs_f64(),
            report.generation,
            since_change,
        );
        if let Some(state) = self.backend_state(report.backend) {
            match &report.result {
                Ok(_) => {
                    state.applied_generation = Some(report.generation);
                    state.last_error = None;
                    state.consecutive_failures = 0;
                    // An apply reads back what it wrote.
                    state.drift = None;
                }
                Err(e) => {
                    state.last_error = Some(e.to_string());
                    state.consecutive_failures += 1;
                }
            }
        }
        // Only changes and failures go to the journal; a no-op re-apply does not.
        let (worth_recording, detail) = match &report.result {
            Ok(applied) => (applied.changes > 0, applied.detail.clone()),
            Err(e) => (true, e.to_string()),
        };
        if worth_recording {
            self.journal.append(JournalRecord::Backend {
                backend: report.backend,
                generation: report.generation,
                ok,
                detail,
            });
        }
        self.take_effect();
    }
}

/// One runner per backend, each with an empty status.
fn spawn_all(
    redirectors: Vec<Box<dyn crate::backends::Backend>>,
    tx: &mpsc::Sender<Input>,
) -> Vec<(BackendHandle, BackendState)> {
    redirectors
        .into_iter()
        .map(|r| (backends::spawn(r, tx.clone()), BackendState::default()))
        .collect()
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

fn event_kind(event: &Event) -> &'static str {
    match event {
        Event::Verdict { .. } => "verdict",
        Event::Health { .. } => "health",
        Event::Peer { .. } => "peer",
        Event::Command { .. } => "command",
        Event::Departing => "departing",
        Event::Confirmed { .. } => "confirmed",
        Event::PlanStep { .. } => "plan_step",
        Event::Tick => "tick",
    }
}
