//! Multihop BFD between members (`[bfd] sites = true`, RFC 5883): one
//! session from this member's gossip address to every other member's. It is
//! a second, faster detector of a dead site's daemon: an Up or a path
//! failure goes into this member's gossip view (`Source::Bfd`), where the
//! data-plane check and Lifeguard apply and from where gossip carries it to
//! the quorum. Gossip stays the source of membership: a session that never
//! came up says nothing, and one the peer disabled on purpose (AdminDown,
//! RFC 5882 §3.2) withdraws its opinion. The sessions run in a helper
//! process (`crate::bfd::helper`): a stalled orbitd (its site still
//! forwarding) keeps answering BFD, and its silence is left to SWIM and the
//! data-plane probes to judge.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use orbit_bfd::{BfdEvent, BfdHandle, Hop, PeerConfig, SessionKey, Timing};
use orbit_config::Config;
use orbit_core::{Liveness, SiteId};
use orbit_detect::gossip::{LocalReporter, Source};

/// The running sessions; dropping it stops them.
#[derive(Debug)]
pub struct SiteBfd {
    pub handle: BfdHandle,
    keys: Vec<SessionKey>,
    interval: Duration,
    reporter: LocalReporter,
    sites: Vec<SiteId>,
}

impl SiteBfd {
    /// Starts one session per other member, when `[bfd] sites = true`.
    pub async fn start(config: &Config, reporter: LocalReporter) -> Result<Option<SiteBfd>> {
        if !config.bfd.sites {
            return Ok(None);
        }
        let local = config
            .site(&config.node.site)
            .context("bfd.sites: this node's site is not a [[site]]")?
            .gossip
            .ip();
        let sites: BTreeMap<IpAddr, SiteId> = config
            .sites
            .iter()
            .filter(|s| s.id != config.node.site)
            .map(|s| (s.gossip.ip(), s.id.clone()))
            .collect();
        let interval = config.bfd.interval.get();
        let auth = crate::bfd::session_auth(config)?;
        let (handle, mut events) = crate::bfd::helper::driver()?;
        let mut keys = Vec::new();
        for (peer, site) in &sites {
            let key = handle
                .add_session(PeerConfig {
                    peer: *peer,
                    local,
                    // The metro's hop count is not ours to know: no TTL
                    // check (RFC 5883 §5 leaves it to configuration).
                    hop: Hop::Multi { min_ttl: None },
                    timing: Timing::new(interval, interval, config.bfd.multiplier),
                    auth: auth.clone(),
                    // Here BFD tells whether the member's orbitd lives:
                    // its helper exits with it, so it shares its fate.
                    control_plane_independent: false,
                })
                .await
                .with_context(|| format!("bfd: multihop session to site {site} at {peer}"))?;
            tracing::info!(%site, %peer, %local, ?interval, "BFD session to member configured");
            keys.push(key);
        }
        let reporter_for_events = reporter.clone();
        let site_ids = sites.values().cloned().collect();
        tokio::spawn(async move {
            let reporter = reporter_for_events;
            while let Some(event) = events.recv().await {
                let key = event.key();
                let Some(site) = sites.get(&key.peer) else {
                    continue;
                };
                let liveness = verdict(&event);
                let to = liveness.map_or("unknown", Liveness::as_str);
                tracing::info!(kind = %"bfd_member", %site, %key, to = %to, "BFD toward member changed");
                if reporter
                    .source(Source::Bfd, site.clone(), liveness)
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        Ok(Some(SiteBfd {
            handle,
            keys,
            interval,
            reporter,
            sites: site_ids,
        }))
    }

    /// New timers on the live sessions: a Poll Sequence (RFC 5880 §6.8.3),
    /// so a reload does not flap them.
    pub async fn retime(&mut self, interval: Duration, multiplier: u8) {
        for key in &self.keys {
            let timing = Timing::new(interval, interval, multiplier);
            if let Err(error) = self.handle.set_timing(*key, timing).await {
                tracing::warn!(%key, %error, "BFD timers not changed");
            }
        }
        self.interval = interval;
    }

    /// A graceful stop: AdminDown on every session (RFC 5880 §6.8.16), so
    /// the other members withdraw their BFD opinion instead of seeing a
    /// path failure; waits a few intervals for the packets to go out, and
    /// withdraws our own opinions (gossip goes on without them).
    pub async fn shut_down(self) {
        for key in &self.keys {
            if let Err(error) = self.handle.set_admin_down(*key, true).await {
                tracing::debug!(%key, %error, "BFD AdminDown");
            }
        }
        tokio::time::sleep((self.interval * 3).min(Duration::from_millis(500))).await;
        drop(self.handle);
        for site in self.sites {
            let _ = self.reporter.source(Source::Bfd, site, None).await;
        }
    }
}

/// What one BFD event says about the member's daemon.
fn verdict(event: &BfdEvent) -> Option<Liveness> {
    match event {
        BfdEvent::Up { .. } => Some(Liveness::Alive),
        BfdEvent::Down { .. } if event.is_path_failure() => Some(Liveness::Dead),
        BfdEvent::Down { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbit_bfd::{Diag, State};

    fn key() -> SessionKey {
        SessionKey {
            local: "10.0.0.1".parse().expect("address"),
            peer: "10.0.0.2".parse().expect("address"),
            multihop: true,
        }
    }

    #[test]
    fn up_is_alive_a_detection_expiry_dead_and_anything_else_no_opinion() {
        assert_eq!(verdict(&BfdEvent::Up { key: key() }), Some(Liveness::Alive));
        let down = |state, diag, remote_state| BfdEvent::Down {
            key: key(),
            state,
            diag,
            remote_state,
            silent_for: Duration::ZERO,
        };
        let expired = Diag::ControlDetectionTimeExpired;
        assert_eq!(
            verdict(&down(State::Down, expired, State::Up)),
            Some(Liveness::Dead)
        );
        assert_eq!(verdict(&down(State::Down, expired, State::AdminDown)), None);
        assert_eq!(verdict(&down(State::AdminDown, expired, State::Up)), None);
        // The member told us it is down: we heard it, its daemon answers.
        let signalled = Diag::NeighborSignaledSessionDown;
        assert_eq!(verdict(&down(State::Down, signalled, State::Down)), None);
    }
}
