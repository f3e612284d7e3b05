//! BFD toward BGP peers (RFC 5882), and what every BFD user in orbitd
//! shares (`session_auth`): a single-hop BFD session per
//! `[[bgp.peer]]` with `bfd = true`; when BFD declares the path down, the
//! BGP session is dropped at once instead of waiting for the hold timer.
//! The sessions run in a helper process (`crate::bfd_driver`), so a stalled
//! orbitd does not look like a failed path.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use orbit_bfd::{AuthConfig, AuthKind, BfdEvent, Hop, PeerConfig, Timing};
use orbit_core::config::{BfdAuthType, Config};

/// Starts BFD for the configured peers; the returned handle keeps the
/// driver alive.
pub async fn start(
    config: &Config,
    control: orbit_bgp::PeerControl,
) -> Result<Option<orbit_bfd::BfdHandle>> {
    let Some(bgp) = &config.bgp else {
        return Ok(None);
    };
    let peers: Vec<_> = bgp.peers.iter().filter(|p| p.bfd).collect();
    if peers.is_empty() {
        return Ok(None);
    }
    let (handle, mut events) = crate::bfd_driver()?;
    let interval: Duration = config.bfd.interval.get();
    let auth = session_auth(config)?;
    for peer in peers {
        let local: IpAddr = match peer.local_address {
            Some(a) => a,
            None => orbit_bfd::route_source(peer.address)
                .with_context(|| format!("bfd: no route to peer {}", peer.address))?,
        };
        handle
            .add_session(PeerConfig {
                peer: peer.address,
                local,
                hop: Hop::Single,
                timing: Timing::new(interval, interval, config.bfd.multiplier),
                auth: auth.clone(),
            })
            .await
            .with_context(|| format!("bfd: session to {}", peer.address))?;
        tracing::info!(peer = %peer.address, %local, ?interval, "BFD session configured");
    }
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
    Ok(Some(handle))
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
