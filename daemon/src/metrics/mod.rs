//! Prometheus metrics of orbitd (`GET /metrics`).

pub mod bfd;
pub mod detect;
pub mod exposition;
pub mod health;
pub mod process;
pub mod reload;
pub mod snapshot;

use std::sync::atomic::AtomicU64;

use orbit_core::{BackendKind, ConfigFingerprint, Decision, EngineStatus, Role, Steering};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::evidence::Evidence;
use crate::journal::JournalCounters;

type Labels = Vec<(String, String)>;

/// Seconds since the Unix epoch (0 for a time before it).
pub(crate) fn unix_seconds(t: std::time::SystemTime) -> f64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn inc(family: &Family<Labels, Counter>, pairs: &[(&str, &str)]) {
    family.get_or_create(&labels(pairs)).inc();
}

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~16 s
    Histogram::new(doubling_buckets(0.0005, 16))
}

/// `count` bucket bounds from `start`, each twice the one before: the
/// bounds of prometheus-client's `exponential_buckets(start, 2.0, count)`,
/// by doubling instead of `powf`, so that orbitd does not link libm (see
/// crate::runtime).
pub(crate) fn doubling_buckets(start: f64, count: u16) -> impl Iterator<Item = f64> {
    std::iter::successors(Some(start), |b| Some(b * 2.0)).take(count.into())
}

/// An open API connection, counted in `orbit_api_connections` while it lives.
#[derive(Debug)]
pub struct OpenConnection(Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    events: Family<Labels, Counter>,
    decisions: Family<Labels, Counter>,
    commands: Family<Labels, Counter>,
    plan_steps: Family<Labels, Counter>,
    api_requests: Family<Labels, Counter>,
    api_connections: Family<Labels, Gauge>,
    api_connections_refused: Family<Labels, Counter>,
    api_accept_errors: Family<Labels, Counter>,
    api_timeouts: Family<Labels, Counter>,
    generation: Gauge,
    fenced: Gauge,
    site_dead: Family<Labels, Gauge>,
    site_left: Family<Labels, Gauge>,
    service_active: Family<Labels, Gauge>,
    site_drained: Family<Labels, Gauge>,
    service_pinned: Family<Labels, Gauge>,
    service_healthy: Family<Labels, Gauge>,
    observer_mode: Gauge,
    local_role: Family<Labels, Gauge>,
    backend_applies: Family<Labels, Counter>,
    backend_apply_seconds: Family<Labels, Histogram, fn() -> Histogram>,
    backend_applied_generation: Family<Labels, Gauge>,
    backend_drift: Family<Labels, Counter>,
    backend_consecutive_failures: Family<Labels, Gauge>,
    backend_last_success: Family<Labels, Gauge<f64, AtomicU64>>,
    backend_reconciles: Family<Labels, Counter>,
    decision_to_confirmed_seconds: Family<Labels, Histogram, fn() -> Histogram>,
    /// Kept by the journal itself: it writes from everywhere in the loop.
    journal: JournalCounters,
    state_write_errors: Counter,
    reload: reload::ReloadGauges,
    health_checks: health::HealthCheckMetrics,
    config_mismatched_members: Gauge,
    config_fingerprint: Family<Labels, Gauge>,
    /// The standard `process_*` metrics, without the `orbit_` prefix.
    process: Registry,
}

impl Metrics {
    /// The daemon's own counters, and the evidence (BFD and BGP sessions,
    /// the gossip member) encoded from `evidence`'s snapshots on each scrape.
    pub fn new(evidence: &Evidence) -> Metrics {
        let mut registry = Registry::with_prefix("orbit");
        let m = Metrics {
            events: Family::default(),
            decisions: Family::default(),
            commands: Family::default(),
            plan_steps: Family::default(),
            api_requests: Family::default(),
            api_connections: Family::default(),
            api_connections_refused: Family::default(),
            api_accept_errors: Family::default(),
            api_timeouts: Family::default(),
            generation: Gauge::default(),
            fenced: Gauge::default(),
            site_dead: Family::default(),
            site_left: Family::default(),
            service_active: Family::default(),
            site_drained: Family::default(),
            service_pinned: Family::default(),
            service_healthy: Family::default(),
            observer_mode: Gauge::default(),
            local_role: Family::default(),
            backend_applies: Family::default(),
            backend_apply_seconds: Family::new_with_constructor(latency_histogram),
            backend_applied_generation: Family::default(),
            backend_drift: Family::default(),
            backend_consecutive_failures: Family::default(),
            backend_last_success: Family::default(),
            backend_reconciles: Family::default(),
            decision_to_confirmed_seconds: Family::new_with_constructor(latency_histogram),
            journal: JournalCounters::default(),
            state_write_errors: Counter::default(),
            reload: reload::ReloadGauges::started(),
            health_checks: health::HealthCheckMetrics::default(),
            config_mismatched_members: Gauge::default(),
            config_fingerprint: Family::default(),
            registry: Registry::default(),
            process: Registry::default(),
        };
        for collector in evidence.collectors() {
            registry.register_collector(collector);
        }
        registry.register(
            "events",
            "Events handled by the engine, by type",
            m.events.clone(),
        );
        // At zero from the start: a series that appears only at the first
        // decision of its kind breaks `rate()` and `absent()` until then.
        for kind in orbit_core::Change::KINDS {
            drop(m.decisions.get_or_create(&labels(&[("kind", kind)])));
        }
        registry.register("decisions", "Decisions made, by kind", m.decisions.clone());
        registry.register(
            "commands",
            "Operator commands, by verb and result",
            m.commands.clone(),
        );
        registry.register(
            "plan_steps",
            "Plan steps run here, by service and result (started, succeeded, failed)",
            m.plan_steps.clone(),
        );
        registry.register(
            "api_requests",
            "API requests, by route (other: unknown), method (other: unusual) and status \
             (499: the client went away first)",
            m.api_requests.clone(),
        );
        registry.register(
            "api_connections",
            "API connections open, by listener",
            m.api_connections.clone(),
        );
        registry.register(
            "api_connections_refused",
            "API connections answered 503 and closed at once: the listener was at its limit",
            m.api_connections_refused.clone(),
        );
        registry.register(
            "api_accept_errors",
            "Failed accepts on an API listener (e.g. out of file descriptors)",
            m.api_accept_errors.clone(),
        );
        registry.register(
            "api_timeouts",
            "API connections closed for want of a request head (header) and requests not \
             finished in time (request), by listener",
            m.api_timeouts.clone(),
        );
        registry.register(
            "steering_generation",
            "Current steering generation",
            m.generation.clone(),
        );
        registry.register(
            "fenced",
            "1 while this daemon has no authority (no quorum or not synced)",
            m.fenced.clone(),
        );
        registry.register(
            "site_dead",
            "1 while a quorum declares the site dead",
            m.site_dead.clone(),
        );
        registry.register(
            "site_left",
            "1 while the site is away after announcing a planned stop (SIGTERM)",
            m.site_left.clone(),
        );
        registry.register(
            "service_active",
            "1 for the site that carries the service",
            m.service_active.clone(),
        );
        registry.register(
            "site_drained",
            "1 while an operator has drained the site",
            m.site_drained.clone(),
        );
        registry.register(
            "service_pinned",
            "1 for the site an operator pinned the service to",
            m.service_pinned.clone(),
        );
        registry.register(
            "service_healthy",
            "1 while the service's health check passes at the site, 0 while it fails; \
             absent while unknown",
            m.service_healthy.clone(),
        );
        registry.register(
            "observer_mode",
            "1 while the cluster is in observer mode (decides, applies nothing)",
            m.observer_mode.clone(),
        );
        registry.register(
            "local_role",
            "1 for the local site's current role per service",
            m.local_role.clone(),
        );
        registry.register(
            "backend_applies",
            "Backend apply attempts, by backend and result",
            m.backend_applies.clone(),
        );
        registry.register(
            "backend_apply_seconds",
            "Time a backend took to apply and confirm",
            m.backend_apply_seconds.clone(),
        );
        registry.register(
            "backend_applied_generation",
            "Last steering generation a backend confirmed",
            m.backend_applied_generation.clone(),
        );
        registry.register(
            "backend_drift",
            "Times a backend's data plane was found to differ from the steering it confirmed",
            m.backend_drift.clone(),
        );
        registry.register(
            "backend_consecutive_failures",
            "Applies that failed in a row, per backend (0 after a success)",
            m.backend_consecutive_failures.clone(),
        );
        registry.register(
            "backend_last_success_timestamp_seconds",
            "Unix time of the backend's last successful apply",
            m.backend_last_success.clone(),
        );
        registry.register(
            "backend_reconciles",
            "Attempts to repair drift, by backend and result",
            m.backend_reconciles.clone(),
        );
        registry.register(
            "decision_to_confirmed_seconds",
            "Time from a steering change to its confirmation by the data plane, per backend",
            m.decision_to_confirmed_seconds.clone(),
        );
        m.journal.register(&mut registry);
        registry.register(
            "state_write_errors",
            "Saves of state.json that failed (the old file stays)",
            m.state_write_errors.clone(),
        );
        m.reload.register(&mut registry);
        m.health_checks.register(&mut registry);
        registry.register(
            "config_mismatched_members",
            "Members whose cluster-wide config fingerprint differs from this member's",
            m.config_mismatched_members.clone(),
        );
        registry.register(
            "config_fingerprint",
            "1, labelled with this member's config fingerprint (SHA-256 hex of the cluster part \
             and of the services part, empty at a witness)",
            m.config_fingerprint.clone(),
        );
        registry.register(
            "build",
            "orbitd's version and the commit it was built from",
            Info::new(vec![
                ("version", env!("CARGO_PKG_VERSION")),
                ("commit", env!("ORBIT_COMMIT")),
            ]),
        );
        let mut process = Registry::default();
        process.register_collector(Box::new(process::ProcessCollector));
        Metrics {
            registry,
            process,
            ..m
        }
    }

    pub fn event(&self, kind: &str) {
        self.events.get_or_create(&labels(&[("type", kind)])).inc();
    }

    pub fn decisions(&self, decisions: &[Decision]) {
        for d in decisions {
            let kind = d.change.kind();
            self.decisions
                .get_or_create(&labels(&[("kind", kind)]))
                .inc();
        }
    }

    pub fn plan_step(&self, service: &orbit_core::ServiceId, progress: &orbit_core::StepProgress) {
        let result = match progress {
            orbit_core::StepProgress::Started => "started",
            orbit_core::StepProgress::Ended { error: None, .. } => "succeeded",
            orbit_core::StepProgress::Ended { .. } => "failed",
        };
        self.plan_steps
            .get_or_create(&labels(&[
                ("service", service.as_str()),
                ("result", result),
            ]))
            .inc();
    }

    pub fn command(&self, verb: &str, result: &str) {
        self.commands
            .get_or_create(&labels(&[("verb", verb), ("result", result)]))
            .inc();
    }

    /// `route` and `method` come from fixed sets (`orbit_core::api::request`).
    pub fn api_request(&self, route: &str, method: &str, status: u16) {
        let status = status.to_string();
        inc(
            &self.api_requests,
            &[("route", route), ("method", method), ("status", &status)],
        );
    }

    /// A listener's series, at zero from its start.
    pub fn api_listener(&self, listener: &str) {
        let l = labels(&[("listener", listener)]);
        let _ = self.api_connections.get_or_create(&l);
        let _ = self.api_connections_refused.get_or_create(&l);
        let _ = self.api_accept_errors.get_or_create(&l);
        for kind in ["header", "request"] {
            let _ = self
                .api_timeouts
                .get_or_create(&labels(&[("listener", listener), ("kind", kind)]));
        }
    }

    /// Counts an open connection until the guard is dropped.
    pub fn api_connection(&self, listener: &str) -> OpenConnection {
        let gauge = self
            .api_connections
            .get_or_create(&labels(&[("listener", listener)]))
            .clone();
        gauge.inc();
        OpenConnection(gauge)
    }

    pub fn api_connection_refused(&self, listener: &str) {
        inc(&self.api_connections_refused, &[("listener", listener)]);
    }

    pub fn api_accept_error(&self, listener: &str) {
        inc(&self.api_accept_errors, &[("listener", listener)]);
    }

    /// `kind`: `header` or `request`.
    pub fn api_timeout(&self, listener: &str, kind: &str) {
        inc(
            &self.api_timeouts,
            &[("listener", listener), ("kind", kind)],
        );
    }

    pub fn state(&self, status: &EngineStatus, steering: &Steering) {
        self.generation
            .set(i64::try_from(steering.generation).unwrap_or(i64::MAX));
        self.fenced.set(i64::from(steering.fenced));
        self.observer_mode.set(i64::from(status.observer_mode));
        for site in &status.sites {
            self.site_drained
                .get_or_create(&labels(&[("site", site.id.as_str())]))
                .set(i64::from(site.drained));
            self.site_dead
                .get_or_create(&labels(&[("site", site.id.as_str())]))
                .set(i64::from(site.dead));
            self.site_left
                .get_or_create(&labels(&[("site", site.id.as_str())]))
                .set(i64::from(site.left));
        }
        for svc in &status.services {
            for site in &svc.sites {
                let on = svc.active.as_ref() == Some(site);
                self.service_active
                    .get_or_create(&labels(&[
                        ("service", svc.id.as_str()),
                        ("site", site.as_str()),
                    ]))
                    .set(i64::from(on));
                let key = labels(&[("service", svc.id.as_str()), ("site", site.as_str())]);
                self.service_pinned
                    .get_or_create(&key)
                    .set(i64::from(svc.pinned.as_ref() == Some(site)));
                match svc
                    .health
                    .iter()
                    .find(|(s, _)| s == site)
                    .and_then(|(_, h)| *h)
                {
                    Some(healthy) => {
                        self.service_healthy
                            .get_or_create(&key)
                            .set(i64::from(healthy));
                    }
                    None => {
                        self.service_healthy.remove(&key);
                    }
                }
            }
            for role in [Role::Active, Role::Standby, Role::Draining, Role::Withdrawn] {
                let name = role.to_string();
                self.local_role
                    .get_or_create(&labels(&[("service", svc.id.as_str()), ("role", &name)]))
                    .set(i64::from(svc.local_role == role));
            }
        }
    }

    /// Starts a backend's counters at zero, so that an alert on their
    /// `increase()` sees its first error (an absent series has none).
    pub fn backend_known(&self, backend: BackendKind) {
        let backend = &backend.to_string();
        for result in ["ok", "error"] {
            let key = labels(&[("backend", backend), ("result", result)]);
            self.backend_applies.get_or_create(&key).inc_by(0);
            self.backend_reconciles.get_or_create(&key).inc_by(0);
        }
        let key = labels(&[("backend", backend)]);
        self.backend_drift.get_or_create(&key).inc_by(0);
        self.backend_consecutive_failures.get_or_create(&key).set(0);
    }

    pub fn backend_result(
        &self,
        backend: BackendKind,
        ok: bool,
        seconds: f64,
        generation: u64,
        since_change: f64,
    ) {
        let backend = &backend.to_string();
        let result = if ok { "ok" } else { "error" };
        self.backend_applies
            .get_or_create(&labels(&[("backend", backend), ("result", result)]))
            .inc();
        let key = labels(&[("backend", backend)]);
        self.backend_apply_seconds
            .get_or_create(&key)
            .observe(seconds);
        if !ok {
            self.backend_consecutive_failures.get_or_create(&key).inc();
            return;
        }
        self.backend_consecutive_failures.get_or_create(&key).set(0);
        self.backend_last_success
            .get_or_create(&key)
            .set(unix_seconds(std::time::SystemTime::now()));
        self.backend_applied_generation
            .get_or_create(&key)
            .set(i64::try_from(generation).unwrap_or(i64::MAX));
        self.decision_to_confirmed_seconds
            .get_or_create(&key)
            .observe(since_change);
    }

    /// One attempt to repair drift; the first one counts the drift too.
    pub fn backend_drift(&self, backend: BackendKind, first_attempt: bool, ok: bool) {
        let backend = &backend.to_string();
        if first_attempt {
            self.backend_drift
                .get_or_create(&labels(&[("backend", backend)]))
                .inc();
        }
        let result = if ok { "ok" } else { "error" };
        self.backend_reconciles
            .get_or_create(&labels(&[("backend", backend), ("result", result)]))
            .inc();
    }

    /// The journal's counters, for [`crate::journal::Journal::open`].
    pub fn journal(&self) -> JournalCounters {
        self.journal.clone()
    }

    /// Counts failed saves of the state file.
    pub fn state_write_errors(&self) -> Counter {
        self.state_write_errors.clone()
    }

    /// Where the local health checks report each check's duration.
    pub fn health_check_observer(&self) -> orbit_detect::health::CheckObserver {
        self.health_checks.observer()
    }

    /// A reload's outcome: taken (`true`) or refused.
    pub fn reload(&self, successful: bool) {
        self.reload.set(successful);
    }

    pub fn config_mismatched_members(&self, members: usize) {
        self.config_mismatched_members
            .set(i64::try_from(members).unwrap_or(i64::MAX));
    }

    /// Only the current fingerprint has a series: a reload replaces it.
    pub fn config_fingerprint(&self, fingerprint: &ConfigFingerprint) {
        self.config_fingerprint.clear();
        self.config_fingerprint
            .get_or_create(&labels(&[
                ("cluster", &fingerprint.cluster),
                ("services", fingerprint.services.as_deref().unwrap_or("")),
            ]))
            .set(1);
    }

    /// Every metric in `format`.
    pub fn render(&self, format: exposition::Format) -> String {
        let mut out = String::new();
        if let Err(error) = encode(&mut out, &self.process) {
            tracing::error!(%error, "metrics encoding failed");
        }
        // One exposition: the first registry's end marker goes.
        if let Some(body) = out.strip_suffix("# EOF\n") {
            out.truncate(body.len());
        }
        if let Err(error) = encode(&mut out, &self.registry) {
            tracing::error!(%error, "metrics encoding failed");
        }
        match format {
            exposition::Format::OpenMetrics => out,
            exposition::Format::Prometheus => exposition::to_prometheus_text(&out),
        }
    }
}

#[cfg(test)]
mod bucket_tests {
    use prometheus_client::metrics::histogram::exponential_buckets;

    #[test]
    fn doubling_buckets_are_prometheus_exponential_buckets() {
        for (start, count) in [(0.0005, 16), (0.001, 15), (1.0, 1)] {
            let ours: Vec<f64> = super::doubling_buckets(start, count).collect();
            let theirs: Vec<f64> = exponential_buckets(start, 2.0, count).collect();
            assert_eq!(ours, theirs);
        }
    }
}
