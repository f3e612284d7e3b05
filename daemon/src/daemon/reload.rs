//! SIGHUP: the config read again and taken over where it changed, the
//! backends and BFD sessions touched only where their part changed.

use super::*;

impl Daemon {
    /// SIGHUP: a bad new config is refused and the old one keeps running.
    /// The files it names are checked as at start (`check-config`), so a
    /// missing key is refused with the rest of the config's problems.
    pub(super) async fn reload(&mut self) {
        let config =
            match Config::load_checked(&self.config_path, crate::referenced_files::problems) {
                Ok(c) => c,
                Err(error) => {
                    tracing::error!(%error, "reload refused; the running config stays in force");
                    self.journal.append(JournalRecord::Lifecycle {
                        message: format!("reload refused, running config kept: {error}"),
                    });
                    return;
                }
            };
        if config.node != self.config.node {
            tracing::warn!("[node] changed: takes effect only after a restart");
        }
        match self.reload_backends(&config).await {
            Ok(notes) => {
                for message in notes {
                    tracing::info!(%message, "reload");
                    self.journal.append(JournalRecord::Lifecycle { message });
                }
            }
            Err(error) => {
                tracing::error!(error = %format!("{error:#}"), "reload refused; the running config stays in force");
                self.journal.append(JournalRecord::Lifecycle {
                    message: format!("reload refused, running config kept: {error:#}"),
                });
                return;
            }
        }
        if config.bfd != self.config.bfd || config.sites != self.config.sites {
            self.reload_site_bfd(&config).await;
        }
        let now = self.now();
        let decisions = self.engine.reload(now, config.engine());
        self.config = config;
        self.journal.append(JournalRecord::Lifecycle {
            message: format!("config reloaded from {}", self.config_path.display()),
        });
        self.reconfigure_agreement();
        self.record(&decisions);
        self.publish(true);
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
                (None, _) => format!("{name}: removed"),
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
                (None, Some(r)) => self
                    .backends
                    .push((backends::spawn(r, self.tx.clone()), BackendState::default())),
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
