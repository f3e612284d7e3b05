//! BFD toward BGP peers (RFC 5882), and what every BFD user in orbitd
//! shares (`session_auth`): a single-hop BFD session per
//! `[[bgp.peer]]` with `bfd = true`; when BFD declares the path down, the
//! BGP session is dropped at once instead of waiting for the hold timer.
//!
//! The sessions run in a helper process (`orbit_bfd::driver::helper`), so
//! a stalled orbitd does not look like a failed path, and neither does a
//! crashed one that restarts within the BGP graceful-restart time: BFD
//! says whether the forwarding path works (RFC 5880 §1), and the site
//! forwards while orbitd restarts. The helper outlives a crash for the
//! restart time (its linger), listening on `state_dir/bfd-bgp.sock`; the
//! restarted orbitd adopts it and reconciles ([`PeerBfd::apply`]), so the
//! peers' sessions never go Down and they keep orbit's routes as stale
//! (RFC 4724) instead of flushing them. A stop or a reload that ends the
//! sessions releases the helper on purpose ([`PeerBfd::shut_down`]).
//!
//! A reload reconciles the sessions one by one ([`PeerBfd::apply`]): an
//! untouched peer keeps its session and discriminators (a new session
//! would make the peer see "mismatched remote id" and drop its BGP
//! session), new timers go to the live session with a Poll Sequence.

pub mod helper;
pub mod sites;
pub mod status;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use orbit_bfd::driver::helper::Adoptable;
use orbit_bfd::{AuthConfig, BfdEvent, BfdHandle, Hop, PeerConfig, Timing};
use orbit_config::Config;

/// The BFD sessions toward BGP peers: the driver and what each session was
/// configured with (what a reload compares against).
#[derive(Debug)]
pub struct PeerBfd {
    handle: BfdHandle,
    sessions: BTreeMap<IpAddr, PeerConfig>,
}

/// Where the helper of the BGP peers' sessions listens for adoption: in
/// the state directory, which is this orbitd's alone (two daemons on one
/// host have two), unlike the API socket's directory.
pub fn helper_socket(config: &Config) -> PathBuf {
    config.node.state_dir.join("bfd-bgp.sock")
}

/// How long the helper keeps the sessions up after orbitd died without a
/// goodbye: as long as the peers keep our routes for a restart (RFC 4724
/// restart time). Zero (no graceful restart): it exits with orbitd.
pub fn linger(config: &Config) -> Duration {
    config
        .bgp
        .as_ref()
        .map_or(Duration::ZERO, |b| b.graceful_restart_time.get())
}

fn adoptable(config: &Config) -> Adoptable {
    Adoptable {
        socket: helper_socket(config),
        linger: linger(config),
    }
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
    // RFC 5880 §4.1: the C bit says the session survives a restart of our
    // control plane, which holds exactly when the helper lingers.
    let independent = !linger(config).is_zero();
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
                control_plane_independent: independent,
            },
        );
    }
    Ok(out)
}

/// Whether `new` can be had from the live session `old` without replacing
/// it (timers are changed in place).
fn same_session(old: &PeerConfig, new: &PeerConfig) -> bool {
    old.key() == new.key()
        && old.hop == new.hop
        && old.auth == new.auth
        && old.control_plane_independent == new.control_plane_independent
}

impl PeerBfd {
    /// Starts BFD for the configured peers (none: `None`, no helper
    /// process); their events reach the BGP sessions through `control`,
    /// which follows the speaker's reconfigures. Adopts the helper a
    /// crashed predecessor left behind, if any: its sessions that are
    /// still wanted unchanged keep running untouched.
    pub async fn start(config: &Config, control: orbit_bgp::PeerControl) -> Result<Option<Self>> {
        let wanted = desired(config)?;
        if wanted.is_empty() {
            release_orphan(config).await;
            return Ok(None);
        }
        let started = crate::bfd::helper::adoptable_driver(adoptable(config))
            .await
            .context("bfd: starting the helper process")?;
        let handle = started.handle;
        let mut events = started.events;
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                match &event {
                    BfdEvent::Up { key } => {
                        tracing::info!(%key, "BFD up");
                        control.path_up(key.peer).await;
                    }
                    BfdEvent::Down {
                        key,
                        diag,
                        remote_state,
                        silent_for,
                        ..
                    } => {
                        // An AdminDown on either side (RFC 5882 §3.2) or a
                        // Down the peer signalled (e.g. it restarted its
                        // session) is not a path failure: the BGP session
                        // stays.
                        if event.is_path_failure() {
                            tracing::warn!(%key, "BFD down: a path failure, reported to the BGP session");
                            let now = std::time::Instant::now();
                            let silent_since = now.checked_sub(*silent_for).unwrap_or(now);
                            control.path_down(key.peer, silent_since).await;
                        } else {
                            tracing::info!(
                                %key, %diag, %remote_state,
                                "BFD down, not a path failure: the BGP session stays"
                            );
                        }
                    }
                }
            }
        });
        let mut bfd = PeerBfd {
            handle,
            sessions: BTreeMap::new(),
        };
        if let Some(adopted) = started.adopted {
            tracing::info!(
                pid = adopted.pid,
                sessions = adopted.sessions.len(),
                "adopted the BFD helper a previous orbitd left running"
            );
            for held in adopted.sessions {
                let key = held.config.key();
                // One session per peer, up: anything else is replaced.
                if held.admin_down || bfd.sessions.contains_key(&key.peer) {
                    bfd.handle.remove_session(key).await?;
                } else {
                    bfd.sessions.insert(key.peer, held.config);
                }
            }
        }
        let notes = bfd.apply(wanted).await?;
        if !notes.is_empty() {
            tracing::info!(changes = %notes.join("; "), "BFD sessions toward the BGP peers");
        }
        Ok(Some(bfd))
    }

    pub fn handle(&self) -> &BfdHandle {
        &self.handle
    }

    /// Brings the sessions to `wanted` (from [`desired`]) and says what
    /// changed: a session whose peer, source, auth and C bit stay is kept
    /// (same discriminators, no flap), new timers are applied to it in
    /// place with a Poll Sequence (RFC 5880 §6.8.3); a removed one is
    /// deleted, which sends AdminDown so the peer does not take it for a
    /// path failure (RFC 5880 §6.8.16, RFC 5882 §3.2); anything else is
    /// replaced. Also used on adoption, against the sessions the adopted
    /// helper runs.
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
                Some(old) if same_session(old, &new) => {
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

    /// A reloaded graceful-restart time: the helper lingers that long.
    pub async fn set_linger(&self, config: &Config) -> Result<()> {
        Ok(self.handle.set_adoptable(adoptable(config)).await?)
    }

    /// Whether no session is configured.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Ends the sessions on purpose (stop, or a reload without them): each
    /// is removed, which sends AdminDown (RFC 5880 §6.8.16) so the peers
    /// do not take it for a path failure (RFC 5882 §3.2), then the helper
    /// is told goodbye and exits at once rather than waiting for adoption.
    pub async fn shut_down(self) {
        for (peer, session) in &self.sessions {
            if let Err(error) = self.handle.remove_session(session.key()).await {
                tracing::debug!(%peer, %error, "BFD session not removed");
            }
        }
        if let Err(error) = self.handle.release().await {
            tracing::warn!(%error, "the BFD helper was not released");
        }
    }
}

/// No session wanted, but a crashed predecessor may have left its helper
/// lingering with sessions up: adopt it and let it go, so the peers are
/// told AdminDown now rather than kept waiting until its linger runs out.
async fn release_orphan(config: &Config) {
    let socket = helper_socket(config);
    match crate::bfd::helper::orphaned_driver(&socket).await {
        Ok(Some(started)) => {
            let sessions = started.adopted.map(|a| a.sessions).unwrap_or_default();
            tracing::info!(
                sessions = sessions.len(),
                "releasing the BFD helper a previous orbitd left running: no session is wanted"
            );
            for held in sessions {
                let _ = started.handle.remove_session(held.config.key()).await;
            }
            if let Err(error) = started.handle.release().await {
                tracing::warn!(%error, "the orphaned BFD helper was not released");
            }
        }
        Ok(None) => {}
        Err(error) => tracing::warn!(
            error = %format!("{error:#}"),
            "a BFD helper left by a previous orbitd could not be released"
        ),
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
    AuthConfig::new(auth.kind, auth.key_id, &key)
        .map(Some)
        .with_context(|| format!("bfd.auth.key_file {}", auth.key_file.display()))
}
