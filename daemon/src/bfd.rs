//! BFD toward BGP peers (RFC 5882), and what every BFD user in orbitd
//! shares (`session_auth`): a single-hop BFD session per
//! `[[bgp.peer]]` with `bfd = true`; when BFD declares the path down, the
//! BGP session is dropped at once instead of waiting for the hold timer.
//! The sessions run in a helper process (`crate::bfd_driver`), so a stalled
//! orbitd does not look like a failed path.
//!
//! A reload reconciles the sessions one by one ([`PeerBfd::apply`]): an
//! untouched peer keeps its session and discriminators (a new session
//! would make the peer see "mismatched remote id" and drop its BGP
//! session), new timers go to the live session with a Poll Sequence.

use std::collections::BTreeMap;
use std::net::IpAddr;

use anyhow::{Context, Result};
use orbit_bfd::{AuthConfig, AuthKind, BfdEvent, BfdHandle, Hop, PeerConfig, Timing};
use orbit_core::config::{BfdAuthType, Config};

/// The BFD sessions toward BGP peers: the driver and what each session was
/// configured with (what a reload compares against).
#[derive(Debug)]
pub struct PeerBfd {
    handle: BfdHandle,
    sessions: BTreeMap<IpAddr, PeerConfig>,
}

/// The sessions a config asks for: one per `[[bgp.peer]]` with `bfd = true`.
/// Resolved completely (source address, auth key) so that a reload can be
/// refused before anything changes.
pub fn desired(config: &Config) -> Result<BTreeMap<IpAddr, PeerConfig>> {
    let Some(bgp) = &config.bgp else {
        return Ok(BTreeMap::new());
    };
    let peers: Vec<_> = bgp.peers.iter().filter(|p| p.bfd).collect();
    if peers.is_empty() {
        return Ok(BTreeMap::new());
    }
    let interval = config.bfd.interval.get();
    let auth = session_auth(config)?;
    let mut out = BTreeMap::new();
    for peer in peers {
        let local: IpAddr = match peer.local_address {
            Some(a) => a,
            None => orbit_bfd::route_source(peer.address)
                .with_context(|| format!("bfd: no route to peer {}", peer.address))?,
        };
        out.insert(
            peer.address,
            PeerConfig {
                peer: peer.address,
                local,
                hop: Hop::Single,
                timing: Timing::new(interval, interval, config.bfd.multiplier),
                auth: auth.clone(),
            },
        );
    }
    Ok(out)
}

impl PeerBfd {
    /// Starts BFD for the configured peers (none: `None`, no helper
    /// process); their events reach the BGP sessions through `control`,
    /// which follows the speaker's reconfigures.
    pub async fn start(config: &Config, control: orbit_bgp::PeerControl) -> Result<Option<Self>> {
        let wanted = desired(config)?;
        if wanted.is_empty() {
            return Ok(None);
        }
        let (handle, mut events) = crate::bfd_driver()?;
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                match &event {
                    BfdEvent::Up { key } => {
                        tracing::info!(%key, "BFD up");
                        control.path_up(key.peer).await;
                    }
                    BfdEvent::Down { key, .. } => {
                        // An AdminDown on either side is not a path failure
                        // (RFC 5882 §3.2): the BGP session stays.
                        if event.is_path_failure() {
                            tracing::warn!(%key, "BFD down: dropping the BGP session");
                            control.path_down(key.peer).await;
                        } else {
                            tracing::info!(%key, "BFD administratively down");
                        }
                    }
                }
            }
        });
        let mut bfd = PeerBfd {
            handle,
            sessions: BTreeMap::new(),
        };
        bfd.apply(wanted).await?;
        Ok(Some(bfd))
    }

    pub fn handle(&self) -> &BfdHandle {
        &self.handle
    }

    /// Brings the sessions to `wanted` (from [`desired`]) and says what
    /// changed: a session whose peer, source and auth stay is kept (same
    /// discriminators, no flap), new timers are applied to it in place with
    /// a Poll Sequence (RFC 5880 §6.8.3); a removed one is deleted, which
    /// sends AdminDown so the peer does not take it for a path failure
    /// (RFC 5880 §6.8.16, RFC 5882 §3.2); anything else is replaced.
    pub async fn apply(&mut self, wanted: BTreeMap<IpAddr, PeerConfig>) -> Result<Vec<String>> {
        let mut notes = Vec::new();
        let gone: Vec<IpAddr> = self
            .sessions
            .keys()
            .filter(|p| !wanted.contains_key(p))
            .copied()
            .collect();
        for peer in gone {
            if let Some(old) = self.sessions.remove(&peer) {
                self.handle.remove_session(old.key()).await?;
                tracing::info!(%peer, "BFD session removed");
                notes.push(format!("session to {peer} removed"));
            }
        }
        for (peer, new) in wanted {
            match self.sessions.get(&peer) {
                Some(old) if old.key() == new.key() && old.auth == new.auth => {
                    if old.timing != new.timing {
                        self.handle.set_timing(new.key(), new.timing).await?;
                        tracing::info!(%peer, "BFD session retimed");
                        notes.push(format!("session to {peer} retimed"));
                    }
                }
                old => {
                    let replaced = old.is_some();
                    if let Some(old) = old {
                        self.handle.remove_session(old.key()).await?;
                    }
                    self.handle
                        .add_session(new.clone())
                        .await
                        .with_context(|| format!("bfd: session to {peer}"))?;
                    tracing::info!(%peer, local = %new.local, "BFD session configured");
                    notes.push(format!(
                        "session to {peer} {}",
                        if replaced { "replaced" } else { "added" }
                    ));
                }
            }
            self.sessions.insert(peer, new);
        }
        Ok(notes)
    }

    /// Whether no session is configured.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }
}

/// `[bfd.auth]` as the driver wants it, with the key read from its file.
pub fn session_auth(config: &Config) -> Result<Option<AuthConfig>> {
    let Some(auth) = &config.bfd.auth else {
        return Ok(None);
    };
    let mut key = std::fs::read(&auth.key_file)
        .with_context(|| format!("bfd.auth.key_file {}", auth.key_file.display()))?;
    if key.last() == Some(&b'\n') {
        key.pop();
    }
    let kind = match auth.kind {
        BfdAuthType::SimplePassword => AuthKind::SimplePassword,
        BfdAuthType::KeyedMd5 => AuthKind::KeyedMd5,
        BfdAuthType::MeticulousKeyedMd5 => AuthKind::MeticulousKeyedMd5,
        BfdAuthType::KeyedSha1 => AuthKind::KeyedSha1,
        BfdAuthType::MeticulousKeyedSha1 => AuthKind::MeticulousKeyedSha1,
    };
    AuthConfig::new(kind, auth.key_id, &key)
        .map(Some)
        .with_context(|| format!("bfd.auth.key_file {}", auth.key_file.display()))
}
