//! SIGTERM: the planned stop, make before break (the cluster told, the
//! services handed over and confirmed, then withdrawn and closed).

use super::*;

impl Daemon {
    /// SIGTERM, a planned stop that makes before it breaks:
    /// 1. tell the cluster (the engine leaves: `leaving` in our shared
    ///    state, gossiped at once); the other engines take our services
    ///    over as planned moves while ours drain at the lowest preference;
    /// 2. wait until the new carriers confirm them (their gossiped
    ///    `carried`), at most `drain_grace`;
    /// 3. withdraw everything, waiting for the backends' confirmation;
    /// 4. close the backends (BGP: Cease / Administrative Shutdown) and exit.
    ///
    /// `shutdown_grace` bounds the whole stop: the drain gets at most half
    /// of it, so the withdrawal always has the rest.
    pub(super) async fn shutdown(mut self) -> Result<()> {
        let started = tokio::time::Instant::now();
        let grace = self.config.policy.shutdown_grace.get();
        let drain = self.config.policy.drain_grace.get().min(grace / 2);
        self.journal.append(JournalRecord::Lifecycle {
            message: format!(
                "SIGTERM: telling the cluster; draining until the other sites confirm, at most {} \
                 (stop within {})",
                humantime::format_duration(drain),
                humantime::format_duration(grace)
            ),
        });
        let now = self.now();
        let decisions = self.engine.handle(now, Event::Departing);
        self.record(&decisions);
        self.hand_over(started + drain).await;

        self.departing = true;
        let steering = self.engine.withdrawn_steering();
        let left = (started + grace).saturating_duration_since(tokio::time::Instant::now());
        self.apply_and_wait(&steering, left).await;
        self.journal.append(JournalRecord::Lifecycle {
            message: format!("withdrawn (generation {})", steering.generation),
        });
        for (handle, _) in std::mem::take(&mut self.backends) {
            handle.close(Duration::from_secs(2)).await;
        }
        if let Some(bfd) = self.site_bfd.take() {
            bfd.shut_down().await;
        }
        // After the BGP sessions closed (Cease): AdminDown and a goodbye,
        // so the helper does not linger as it does after a crash.
        self.release_peer_bfd().await;
        self.journal.append(JournalRecord::Lifecycle {
            message: "stopped".to_owned(),
        });
        Ok(())
    }

    /// Keeps running the loop (events, API, backend results, timers) until
    /// every service we carried has a new carrier that confirmed it, or
    /// until `deadline`. Journals each confirmation as it arrives, and at
    /// the deadline what was not confirmed or has no site at all.
    pub(super) async fn hand_over(&mut self, deadline: tokio::time::Instant) {
        let mut journaled: Vec<ServiceId> = Vec::new();
        let mut told = false;
        loop {
            let handover = self.engine.handover();
            if !told && handover.unaware.is_empty() {
                told = true;
                self.journal.append(JournalRecord::Lifecycle {
                    message: "every member we reach knows of the departure".to_owned(),
                });
            }
            let mut by_site: std::collections::BTreeMap<SiteId, Vec<String>> = Default::default();
            for (service, site) in &handover.confirmed {
                if !journaled.contains(service) {
                    journaled.push(service.clone());
                    by_site
                        .entry(site.clone())
                        .or_default()
                        .push(service.to_string());
                }
            }
            for (site, services) in by_site {
                self.journal.append(JournalRecord::Lifecycle {
                    message: format!("site {site} confirmed {}", services.join(", ")),
                });
            }
            // A service without a site waits out the grace: another site may
            // become able to take it meanwhile.
            if handover.complete() && handover.orphaned.is_empty() {
                return;
            }
            let timers = self.deadline();
            let input = tokio::select! {
                input = self.rx.recv() => input,
                _ = sleep_until(timers) => Some(Input::Event(Event::Tick)),
                _ = tokio::time::sleep_until(deadline) => {
                    self.journal_handover_gaps(&handover);
                    return;
                }
            };
            match input {
                Some(Input::Event(event)) => self.handle_event(event),
                Some(Input::Api(call)) => self.handle_api(call),
                Some(Input::Backend(result)) => self.handle_backend(result),
                Some(Input::Observed {
                    backend,
                    detail,
                    drifted,
                }) => self.handle_observed(backend, detail, drifted),
                Some(Input::Drift(report)) => self.handle_drift(report),
                // A step that ran when the stop began still ends on record
                // (no new step starts while departing).
                Some(Input::StepEnded(ended)) => {
                    let (due, progress) = *ended;
                    self.step_ended(due, progress);
                }
                Some(Input::Terminate) => {
                    self.journal.append(JournalRecord::Lifecycle {
                        message: "second SIGTERM: withdrawing without waiting for the other sites"
                            .to_owned(),
                    });
                    return;
                }
                // An API caller is told "shutting down" (its reply is dropped).
                Some(Input::Reload(_)) => {
                    tracing::warn!("reload during a planned stop: ignored");
                }
                None => return,
            }
        }
    }

    pub(super) fn journal_handover_gaps(&mut self, handover: &orbit_core::Handover) {
        let mut gaps = Vec::new();
        if !handover.pending.is_empty() {
            gaps.push(format!(
                "not confirmed: {}",
                handover
                    .pending
                    .iter()
                    .map(|(s, to)| match to {
                        Some(site) => format!("{s} (to site {site})"),
                        None => format!("{s} (no new site yet)"),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !handover.unaware.is_empty() {
            gaps.push(format!(
                "not told: {}",
                handover
                    .unaware
                    .iter()
                    .map(SiteId::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !handover.orphaned.is_empty() {
            gaps.push(format!(
                "left without a site: {}",
                handover
                    .orphaned
                    .iter()
                    .map(ServiceId::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        tracing::warn!(gaps = %gaps.join("; "), "drain grace elapsed");
        self.journal.append(JournalRecord::Lifecycle {
            message: format!("drain grace elapsed; {}", gaps.join("; ")),
        });
    }

    pub(super) async fn apply_and_wait(&mut self, steering: &Steering, limit: Duration) {
        if steering.write_gate() == WriteGate::Closed || self.backends.is_empty() {
            return;
        }
        for (handle, _) in &self.backends {
            handle.publish(steering);
        }
        let deadline = tokio::time::Instant::now() + limit;
        let mut waiting: Vec<BackendKind> = self.backends.iter().map(|(h, _)| h.kind).collect();
        while !waiting.is_empty() {
            let input = tokio::time::timeout_at(deadline, self.rx.recv()).await;
            match input {
                Ok(Some(Input::Backend(report))) => {
                    let confirmed =
                        report.generation == steering.generation && report.result.is_ok();
                    let kind = report.backend;
                    self.handle_backend(report);
                    if confirmed {
                        waiting.retain(|w| *w != kind);
                    }
                }
                Ok(Some(Input::Api(call))) => self.handle_api(call),
                Ok(Some(_)) => {}
                Ok(None) => return,
                Err(_) => {
                    tracing::warn!(
                        ?waiting,
                        "shutdown grace elapsed before every backend confirmed"
                    );
                    self.journal.append(JournalRecord::Lifecycle {
                        message: format!(
                            "shutdown: no confirmation in time from {}",
                            waiting
                                .iter()
                                .map(ToString::to_string)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    });
                    return;
                }
            }
        }
    }
}
