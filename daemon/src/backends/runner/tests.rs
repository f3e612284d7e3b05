//! The runner against a scripted backend, in paused time: backoff,
//! supersede, observer mode, drift and its repair, and close, without a
//! real data plane.

use std::sync::{Arc, Mutex};

use orbit_core::{Observed, Redirector, Role, ServiceSteering, SiteId};
use tokio::time::Instant;

use super::*;

/// What the runner asked of the fake, and when.
#[derive(Debug, Default)]
struct Calls {
    applied: Vec<(u64, Instant)>,
    reconciled: Vec<(u64, Instant)>,
    observed: usize,
    closed: Option<String>,
}

/// A backend whose data plane holds `web` at site `a`, except for the
/// first `drifted_reads` reads, which find it at `b`. Its first
/// `failures` applies and `reconcile_failures` reconciles fail.
struct Scripted {
    kind: BackendKind,
    calls: Arc<Mutex<Calls>>,
    failures: usize,
    drifted_reads: usize,
    reconcile_failures: usize,
    /// What a successful reconcile changes.
    repairs: usize,
}

/// `steering`'s generation, stamped with the (paused) time.
fn now(steering: &Steering) -> (u64, Instant) {
    (steering.generation, Instant::now())
}

/// A scripted failure while `failures` lasts, then `changes` made.
fn outcome(
    failures: &mut usize,
    steering: &Steering,
    changes: usize,
) -> Result<Applied, RedirectError> {
    if *failures > 0 {
        *failures -= 1;
        return Err(RedirectError::Unreachable {
            component: "fake".to_owned(),
            detail: "scripted failure".to_owned(),
        });
    }
    Ok(Applied {
        generation: steering.generation,
        changes,
        detail: String::new(),
    })
}

fn site(name: &str) -> SiteId {
    name.parse().unwrap()
}

impl Backend for Scripted {}

#[async_trait::async_trait]
impl Redirector for Scripted {
    fn kind(&self) -> BackendKind {
        self.kind
    }

    async fn apply(&mut self, steering: &Steering) -> Result<Applied, RedirectError> {
        self.calls.lock().unwrap().applied.push(now(steering));
        outcome(&mut self.failures, steering, 0)
    }

    async fn observe(&mut self) -> Result<Observed, RedirectError> {
        self.calls.lock().unwrap().observed += 1;
        let at = if self.drifted_reads > 0 {
            self.drifted_reads -= 1;
            "b"
        } else {
            "a"
        };
        Ok(Observed {
            services: [("web".parse().unwrap(), Some(site(at)))].into(),
            detail: format!("web at {at}"),
        })
    }

    async fn reconcile(&mut self, steering: &Steering) -> Result<Applied, RedirectError> {
        self.calls.lock().unwrap().reconciled.push(now(steering));
        outcome(&mut self.reconcile_failures, steering, self.repairs)
    }

    async fn close(&mut self, reason: &str) {
        self.calls.lock().unwrap().closed = Some(reason.to_owned());
    }
}

/// Steering `generation` with `web` active at site `a`.
fn steering(generation: u64, observe_only: bool) -> Steering {
    let web = ServiceSteering {
        prefixes: Vec::new(),
        active: Some(site("a")),
        epoch: 1,
        local_role: Role::Active,
        takeover: false,
    };
    Steering {
        generation,
        local_site: site("a"),
        fenced: false,
        observe_only,
        services: [("web".parse().unwrap(), web)].into(),
    }
}

fn fenced(generation: u64) -> Steering {
    Steering {
        fenced: true,
        ..steering(generation, false)
    }
}

fn start(failures: usize) -> (BackendHandle, Arc<Mutex<Calls>>, mpsc::Receiver<Input>) {
    start_scripted(BackendKind::Hook, failures, 0, 0)
}

fn start_scripted(
    kind: BackendKind,
    failures: usize,
    drifted_reads: usize,
    reconcile_failures: usize,
) -> (BackendHandle, Arc<Mutex<Calls>>, mpsc::Receiver<Input>) {
    let calls = Arc::new(Mutex::new(Calls::default()));
    let (tx, rx) = mpsc::channel(64);
    let fake = Scripted {
        kind,
        calls: calls.clone(),
        failures,
        drifted_reads,
        reconcile_failures,
        repairs: 1,
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

/// Every drift report of the next `periods` reconcile periods, with when
/// it came: (attempt, repaired, drift as text, at).
async fn drift_reports(
    rx: &mut mpsc::Receiver<Input>,
    periods: u32,
) -> Vec<(u32, bool, String, Instant)> {
    let mut out = Vec::new();
    let until = Instant::now() + RECONCILE_EVERY * periods;
    while let Ok(Some(input)) = tokio::time::timeout_at(until, rx.recv()).await {
        if let Input::Drift(r) = input {
            assert_eq!(r.backend, BackendKind::Haproxy);
            assert_eq!(r.generation, 1);
            let text = r.drift.iter().map(ToString::to_string).collect::<String>();
            out.push((r.attempt, r.result.is_ok(), text, Instant::now()));
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
        if let Input::Observed {
            backend,
            detail,
            drifted,
        } = rx.recv().await.unwrap()
        {
            assert_eq!(
                (backend, detail.as_str(), drifted),
                (BackendKind::Hook, "web at a", false)
            );
            observed += 1;
        }
    }
    assert!(t0.elapsed() <= RECONCILE_EVERY * 2, "{:?}", t0.elapsed());
    assert_eq!(calls.lock().unwrap().observed, 2);
}

#[tokio::test(start_paused = true)]
async fn drift_is_repaired_and_reported_once() {
    let (handle, calls, mut rx) = start_scripted(BackendKind::Haproxy, 0, 1, 0);
    handle.publish(&steering(1, false));
    assert_eq!(reports(&mut rx, 1).await, [(1, true)]);
    let found = drift_reports(&mut rx, 4).await;
    let what: Vec<_> = found
        .iter()
        .map(|(a, ok, d, _)| (*a, *ok, d.as_str()))
        .collect();
    assert_eq!(what, [(1, true, "web found at b, steering says a")]);
    let calls = calls.lock().unwrap();
    assert_eq!(calls.reconciled.len(), 1, "{:?}", calls.reconciled);
    assert_eq!(
        calls.applied.len(),
        1,
        "a repair is a reconcile, not an apply"
    );
    assert!(calls.observed >= 4, "{}", calls.observed);
}

#[tokio::test(start_paused = true)]
async fn no_drift_reports_and_repairs_nothing() {
    let (handle, calls, mut rx) = start_scripted(BackendKind::Haproxy, 0, 0, 0);
    handle.publish(&steering(1, false));
    assert_eq!(reports(&mut rx, 1).await, [(1, true)]);
    assert!(drift_reports(&mut rx, 4).await.is_empty());
    let calls = calls.lock().unwrap();
    assert!(calls.reconciled.is_empty());
    assert!(calls.observed >= 3, "{}", calls.observed);
}

#[tokio::test(start_paused = true)]
async fn a_difference_the_repair_finds_nothing_to_write_for_is_not_drift() {
    // As SDN after fast failover: the read back shows the next live site,
    // but the switch holds exactly the groups and flows orbit wrote.
    let calls = Arc::new(Mutex::new(Calls::default()));
    let (tx, mut rx) = mpsc::channel(64);
    let fake = Scripted {
        kind: BackendKind::Sdn,
        calls: calls.clone(),
        failures: 0,
        drifted_reads: usize::MAX,
        reconcile_failures: 0,
        repairs: 0,
    };
    let handle = spawn(Box::new(fake), tx);
    handle.publish(&steering(1, false));
    assert_eq!(reports(&mut rx, 1).await, [(1, true)]);
    assert!(drift_reports(&mut rx, 3).await.is_empty());
    assert!(calls.lock().unwrap().reconciled.len() >= 2);
}

#[tokio::test(start_paused = true)]
async fn a_failing_repair_is_retried_with_backoff_and_each_attempt_reported() {
    let (handle, calls, mut rx) = start_scripted(BackendKind::Haproxy, 0, 1, 2);
    handle.publish(&steering(1, false));
    assert_eq!(reports(&mut rx, 1).await, [(1, true)]);
    let found = drift_reports(&mut rx, 3).await;
    let what: Vec<_> = found.iter().map(|(a, ok, _, _)| (*a, *ok)).collect();
    assert_eq!(what, [(1, false), (2, false), (3, true)]);
    let calls = calls.lock().unwrap();
    let t0 = calls.reconciled[0].1;
    let at: Vec<Duration> = calls.reconciled.iter().map(|(_, t)| *t - t0).collect();
    let ms = Duration::from_millis;
    assert_eq!(at, [ms(0), ms(100), ms(300)]);
}

#[tokio::test(start_paused = true)]
async fn without_authority_or_in_observer_mode_drift_is_not_repaired() {
    // Every read finds drift.
    let (handle, calls, mut rx) = start_scripted(BackendKind::Haproxy, 0, usize::MAX, 0);
    handle.publish(&fenced(1));
    assert_eq!(reports(&mut rx, 1).await, [(1, true)]);
    assert!(drift_reports(&mut rx, 3).await.is_empty());
    handle.publish(&steering(2, true));
    assert!(drift_reports(&mut rx, 3).await.is_empty());
    let calls = calls.lock().unwrap();
    assert!(calls.reconciled.is_empty(), "{:?}", calls.reconciled);
    assert_eq!(calls.applied.len(), 1, "the observer steering was applied");
    assert!(calls.observed >= 4, "reads go on: {}", calls.observed);
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
