//! What the event loop tells systemd (`crate::systemd`): its readiness is
//! the one `GET /ready` gives ([`Daemon::readiness`]), its `STATUS=` line a
//! summary of the engine's state, and reloads and the stop as they happen.

use orbit_core::api::ReloadResponse;
use orbit_core::{EngineStatus, Liveness};

use super::*;

impl Daemon {
    /// After every input and at the notifier's own deadline: pets the
    /// watchdog, reports `READY=1` when due and a changed state.
    pub(super) fn notify(&mut self) {
        // Out of `self` while it asks `self` (lazily) what to say.
        let mut notifier = std::mem::take(&mut self.notifier);
        let notes = notifier.update(Instant::now(), || self.readiness(), || self.state_line());
        notifier.send(&notes);
        self.notifier = notifier;
    }

    pub(super) fn notify_stopping(&mut self) {
        let notes = self.notifier.stopping(Instant::now());
        self.notifier.send(&notes);
    }

    /// A reload of the config file between `RELOADING=1` and `READY=1`,
    /// `STATUS=` saying whether it was applied or refused.
    pub(super) async fn reload_file_notified(&mut self, by: &str) -> ReloadResponse {
        let notes = self.notifier.reloading(Instant::now());
        self.notifier.send(&notes);
        let response = self.reload_file(by).await;
        let outcome = if response.applied {
            format!(
                "reload applied ({} change(s)); {}",
                response.changes.len(),
                self.state_line()
            )
        } else {
            let error = response.error.as_deref().unwrap_or("refused");
            format!(
                "reload refused, the running config stays in force: {}",
                error.lines().next().unwrap_or(error)
            )
        };
        let notes = self.notifier.reloaded(Instant::now(), outcome);
        self.notifier.send(&notes);
        response
    }

    /// `site a: carrying web, db; generation 7; 3/3 members`, or what
    /// keeps it from steering (fenced, not synced, a backend behind).
    fn state_line(&self) -> String {
        let steering = self.engine.steering();
        let status = self.engine.status();
        let (reached, members) = reach(&status);
        let members = format!("{reached}/{members} members");
        let site = &steering.local_site;
        if steering.fenced {
            let why = self.readiness().err().unwrap_or_default();
            return format!("site {site}: {why}");
        }
        let carrying: Vec<&str> = steering
            .services
            .iter()
            .filter(|(_, s)| s.local_role == orbit_core::Role::Active)
            .map(|(id, _)| id.as_str())
            .collect();
        let carrying = match carrying.is_empty() {
            true => "carrying nothing".to_owned(),
            false => format!("carrying {}", carrying.join(", ")),
        };
        let generation = steering.generation;
        let mode = match steering.observe_only {
            true => "observer mode (nothing applied); ",
            false => "",
        };
        let behind = match self.readiness() {
            Ok(()) => String::new(),
            Err(why) => format!("; {why}"),
        };
        format!("site {site}: {mode}{carrying}; generation {generation}; {members}{behind}")
    }
}

/// Members this one reaches (itself included: alive or suspect by its own
/// view, as quorum counts them) and members in all.
pub(super) fn reach(status: &EngineStatus) -> (usize, usize) {
    let reached = status
        .sites
        .iter()
        .filter(|s| {
            s.id == status.local_site
                || matches!(s.local_view, Some(Liveness::Alive | Liveness::Suspect))
        })
        .count();
    (reached, status.sites.len())
}
