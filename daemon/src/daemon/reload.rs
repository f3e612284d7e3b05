//! SIGHUP and `POST /v1/reload`: the config read again, judged against
//! the running one (its changes, its problems, what only a restart can
//! change: `restart_only.rs`) and, unless only checked, taken over where
//! it changed, the backends and BFD sessions touched only where their part
//! changed. The file is read here, in the loop, as every other input is
//! handled: one reload at a time, between events.

use orbit_config::Problem;
use orbit_core::api::{ReloadRequest, ReloadResponse};
use orbit_core::config::ConfigChange;

use super::*;

mod restart_only;

/// How a config sent by a client (`orbitctl reload --check FILE`) is named.
const SENT: &str = "(sent by the client)";

/// `POST /v1/reload`, answered on `reply` once done.
#[derive(Debug)]
pub struct ReloadCall {
    pub request: ReloadRequest,
    /// Who asked (the API client), for the journal.
    pub by: String,
    pub reply: oneshot::Sender<ReloadResponse>,
}

impl Daemon {
    /// SIGHUP (`None`) or `POST /v1/reload`: a reload of the config file,
    /// or only a check of it or of a config the client sent.
    pub(super) async fn reload(&mut self, call: Option<ReloadCall>) {
        let Some(call) = call else {
            self.reload_file_notified("SIGHUP").await;
            return;
        };
        if call.reply.is_closed() {
            // As for a command: the client was told nothing was done.
            tracing::warn!(by = %call.by, "reload dropped: its client gave up before it was taken");
            return;
        }
        let response = match call.request {
            ReloadRequest {
                check: true,
                config: Some(text),
            } => self.judge(Ok(text), SENT, true).1,
            ReloadRequest { check: true, .. } => {
                let source = self.config_path.display().to_string();
                let text = std::fs::read_to_string(&self.config_path);
                self.judge(text, &source, true).1
            }
            ReloadRequest { check: false, .. } => self.reload_file_notified(&call.by).await,
        };
        let _ = call.reply.send(response);
    }

    /// Reads the config file again and takes it over where it changed. A
    /// bad new config is refused and the old one keeps running. The files
    /// it names are checked as at start (`check-config`), so a missing key
    /// is refused with the rest of the config's problems.
    pub(super) async fn reload_file(&mut self, by: &str) -> ReloadResponse {
        let source = self.config_path.display().to_string();
        let text = std::fs::read_to_string(&self.config_path);
        let (config, mut response) = self.judge(text, &source, false);
        let Some(config) = config else {
            self.reload_refused(by, &response);
            return response;
        };
        match self.reload_backends(&config).await {
            Ok(notes) => {
                for message in &notes {
                    tracing::info!(%message, "reload");
                    self.journal.append(JournalRecord::Lifecycle {
                        message: message.clone(),
                    });
                }
                response.notes = notes;
            }
            Err(error) => {
                response.error = Some(format!("{error:#}"));
                self.reload_refused(by, &response);
                return response;
            }
        }
        if config.bfd != self.config.bfd || config.sites != self.config.sites {
            self.reload_site_bfd(&config).await;
        }
        let now = self.now();
        let decisions = self.engine.reload(now, config.engine());
        self.journal.set_limits(config.journal);
        self.config = config;
        self.config_loaded = std::time::SystemTime::now();
        response.applied = true;
        let changes = lines(&response.changes);
        tracing::info!(
            kind = %"reload",
            by = %by,
            source = source.as_str(),
            changes = summary(&changes, "no changes").as_str(),
            "config reloaded"
        );
        self.metrics.reload(true);
        self.journal.append(JournalRecord::Reload {
            by: by.to_owned(),
            applied: true,
            changes,
            problems: Vec::new(),
            message: format!("config reloaded from {source}"),
        });
        self.reconfigure_agreement();
        self.record(&decisions);
        self.publish(true);
        response
    }

    /// Logs, journals and counts a refused reload; the running config
    /// stays in force.
    fn reload_refused(&mut self, by: &str, response: &ReloadResponse) {
        let error = response.error.as_deref().unwrap_or("refused");
        let changes = lines(&response.changes);
        let problems: Vec<String> = response.problems.iter().map(Problem::to_string).collect();
        // With problems listed one by one, the error's first line says the
        // rest ("config ... has 2 problem(s)").
        let error = match problems.is_empty() {
            true => error,
            false => error.lines().next().unwrap_or(error).trim_end_matches(':'),
        };
        tracing::error!(
            kind = %"reload_refused",
            by = %by,
            source = response.source.as_str(),
            error,
            problems = summary(&problems, "none").as_str(),
            changes = summary(&changes, "no changes").as_str(),
            "reload refused; the running config stays in force"
        );
        self.metrics.reload(false);
        self.journal.append(JournalRecord::Reload {
            by: by.to_owned(),
            applied: false,
            changes,
            problems,
            message: format!("reload refused, running config kept: {error}"),
        });
    }

    /// Reads a new config as at start and compares it with the running
    /// one: its changes, and every reason it cannot be taken (its own
    /// problems, the files it names, what only a restart can change). The
    /// config comes back only if it can be taken.
    fn judge(
        &self,
        text: std::io::Result<String>,
        source: &str,
        check: bool,
    ) -> (Option<Config>, ReloadResponse) {
        let mut response = ReloadResponse {
            source: source.to_owned(),
            check,
            applied: false,
            changes: Vec::new(),
            problems: Vec::new(),
            notes: Vec::new(),
            error: None,
        };
        let text = match text {
            Ok(text) => text,
            Err(error) => {
                response.error = Some(format!("cannot read config {source}: {error}"));
                return (None, response);
            }
        };
        match Config::parse_checked(&text, source, crate::referenced_files::problems) {
            Ok(config) => {
                response.changes = self.config.diff(&config);
                response.problems =
                    restart_only::problems(&self.config, &config, &response.changes);
                if response.problems.is_empty() {
                    return (Some(config), response);
                }
                response.error = Some(format!(
                    "config {source} changes what only a restart can change:\n{}",
                    response
                        .problems
                        .iter()
                        .map(|p| format!("  {p}"))
                        .collect::<Vec<_>>()
                        .join("\n")
                ));
            }
            Err(error) => {
                // What it would change, if it reads at all.
                if let Ok(config) = Config::parse(&text, source) {
                    response.changes = self.config.diff(&config);
                }
                if let orbit_config::Error::InvalidConfig { problems, .. } = &error {
                    response.problems = problems.clone();
                }
                response.error = Some(error.to_string());
            }
        }
        (None, response)
    }

    /// The backends and BFD toward the BGP peers under a reloaded config;
    /// what changed, one journal line each ("bgp: peer 192.0.2.9 added").
    ///
    /// A backend whose part of the config is unchanged is not touched. A
    /// changed one is first offered the config in place
    /// (`Backend::reconfigure`, through its runner: the BGP speaker
    /// restarts only the sessions whose parameters changed); one that asks
    /// for it, or that is added, is built anew, and a removed one is
    /// closed. All or nothing: new backends are built and BFD's sessions
    /// resolved before any running backend is offered the config, and the
    /// BGP speaker, which refuses without changing anything, is offered it
    /// last, so an `Err` leaves everything as it was.
    pub(super) async fn reload_backends(&mut self, config: &Config) -> Result<Vec<String>> {
        let old = &self.config;
        let bfd_wanted = if old.bgp != config.bgp || old.bfd != config.bfd {
            Some(crate::bfd::desired(config)?)
        } else {
            None
        };
        let mut control = self.bgp_control.clone();
        let mut rebuilt_bgp = false;
        // kind -> its new backend (`None`: none any more).
        let mut replacements: Vec<(BackendKind, Option<Box<dyn crate::backends::Backend>>)> =
            Vec::new();
        let mut notes = Vec::new();
        let arc = std::sync::Arc::new(config.clone());
        // BGP last: see above.
        for kind in backends::KINDS.into_iter().rev() {
            if !backends::section_changed(kind, old, config) {
                continue;
            }
            let name = kind.to_string();
            let running = self.backends.iter().find(|(h, _)| h.kind == kind);
            let configured = match kind {
                BackendKind::Bgp => config.bgp.is_some(),
                BackendKind::Sdn => config.sdn.is_some(),
                BackendKind::Haproxy => config.haproxy.is_some(),
                BackendKind::Hook => config.hook.is_some(),
            };
            if let (Some((handle, _)), true) = (running, configured) {
                match handle.reconfigure(arc.clone()).await {
                    Ok(Reconfiguration::InPlace(what)) => {
                        notes.push(format!("{name}: {what}"));
                        continue;
                    }
                    Ok(Reconfiguration::RebuildNeeded) => {}
                    Err(error) => anyhow::bail!("{name}: {error}"),
                }
            }
            let mut new_control = None;
            let built = backends::build_one(config, kind, &mut new_control)
                .await
                .map_err(|e| anyhow::anyhow!("backend: {e}"))?;
            if kind == BackendKind::Bgp {
                control = new_control;
                rebuilt_bgp = true;
            }
            notes.push(match (&built, running.is_some()) {
                (Some(_), true) => format!("{name}: rebuilt"),
                (Some(_), false) => format!("{name}: started"),
                (None, true) => format!("{name}: removed"),
                // A section that follows the services, and none before
                // or now: nothing to say.
                (None, false) => continue,
            });
            replacements.push((kind, built));
        }
        // Committed from here on.
        for (kind, built) in replacements {
            let at = self.backends.iter().position(|(h, _)| h.kind == kind);
            match (at, built) {
                (Some(i), Some(r)) => {
                    // The old backend closes first, as a removed one does
                    // (a BGP speaker says goodbye with a NOTIFICATION and
                    // frees its port), then the new one takes its place.
                    let (old, _) = self.backends.remove(i);
                    old.close(Duration::from_secs(2)).await;
                    self.backends.insert(
                        i,
                        (backends::spawn(r, self.tx.clone()), BackendState::default()),
                    );
                }
                (None, Some(r)) => {
                    self.metrics.backend_known(kind);
                    self.backends
                        .push((backends::spawn(r, self.tx.clone()), BackendState::default()));
                }
                (Some(i), None) => {
                    let (handle, _) = self.backends.remove(i);
                    handle.close(Duration::from_secs(2)).await;
                }
                (None, None) => {}
            }
        }
        self.bgp_control = control.clone();
        self.evidence.bgp().set_control(config, control.clone());
        if rebuilt_bgp {
            // A new speaker: new control handle, so new BFD sessions. The
            // old helper is released (it exits, freeing its ports) before
            // the new one starts.
            self.release_peer_bfd().await;
        }
        if let Some(wanted) = bfd_wanted.filter(|_| control.is_some()) {
            match (&mut self.peer_bfd, control) {
                (Some(bfd), _) => {
                    if let Err(error) = bfd.set_linger(config).await {
                        notes.push(format!("bfd: helper linger not changed: {error:#}"));
                    }
                    match bfd.apply(wanted).await {
                        Ok(changes) if !changes.is_empty() => {
                            notes.push(format!("bfd: {}", changes.join("; ")));
                        }
                        Ok(_) => {}
                        Err(error) => {
                            notes.push(format!("bfd: not every session reconfigured: {error:#}"))
                        }
                    }
                }
                (None, Some(control)) => match crate::bfd::PeerBfd::start(config, control).await {
                    Ok(bfd) => {
                        if bfd.is_some() {
                            notes.push("bfd: sessions toward the BGP peers started".to_owned());
                        }
                        self.peer_bfd = bfd;
                    }
                    Err(error) => notes.push(format!("bfd: not started: {error:#}")),
                },
                (None, None) => {}
            }
        }
        if config.bgp.is_none()
            || self
                .peer_bfd
                .as_ref()
                .is_some_and(crate::bfd::PeerBfd::is_empty)
        {
            self.release_peer_bfd().await;
        }
        self.evidence.bfd().set_handle(
            BfdUser::BgpPeers,
            self.peer_bfd.as_ref().map(|b| b.handle().clone()),
        );
        Ok(notes)
    }

    /// Ends the BFD sessions toward the BGP peers on purpose, if any: the
    /// helper exits now instead of lingering for an adoption.
    pub(super) async fn release_peer_bfd(&mut self) {
        if let Some(bfd) = self.peer_bfd.take() {
            self.evidence.bfd().set_handle(BfdUser::BgpPeers, None);
            bfd.shut_down().await;
        }
    }

    /// A reloaded `[bfd]` or member list: new timers are applied to the live
    /// member sessions; anything else restarts them.
    pub(super) async fn reload_site_bfd(&mut self, config: &Config) {
        let Some(reporter) = self.gossip.clone() else {
            return;
        };
        let (old, new) = (&self.config, config);
        if let Some(bfd) = &mut self.site_bfd {
            if old.sites == new.sites
                && old.bfd.sites == new.bfd.sites
                && old.bfd.auth == new.bfd.auth
            {
                bfd.retime(new.bfd.interval.get(), new.bfd.multiplier).await;
                return;
            }
        }
        if let Some(bfd) = self.site_bfd.take() {
            self.set_site_bfd(None);
            bfd.shut_down().await;
        }
        match crate::bfd::sites::SiteBfd::start(config, reporter).await {
            Ok(bfd) => self.set_site_bfd(bfd),
            Err(error) => {
                tracing::error!(error = %format!("{error:#}"), "BFD toward the members not restarted");
                self.journal.append(JournalRecord::Lifecycle {
                    message: format!("reload: BFD toward the members not restarted: {error:#}"),
                });
            }
        }
    }
}

/// Each change as `orbitctl reload` prints it.
fn lines(changes: &[ConfigChange]) -> Vec<String> {
    changes.iter().map(ToString::to_string).collect()
}

/// A list on one log line: `items` joined with `; `, or `empty` when there are none.
fn summary(items: &[String], empty: &str) -> String {
    if items.is_empty() {
        empty.to_owned()
    } else {
        items.join("; ")
    }
}
