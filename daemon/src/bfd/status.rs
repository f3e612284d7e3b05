//! BFD state for `GET /v1/status` and `GET /metrics`.
//!
//! The driver owns its sessions and counters; this module asks it for a
//! snapshot ([`orbit_bfd::BfdHandle::status`]) whenever either endpoint is
//! requested and keeps the last one for the metrics collector
//! (`crate::metrics::bfd`), which encodes it as it is. So the exported counters are the driver's own
//! (nothing is mirrored or can drift), and every session in the driver is
//! exported, whatever started it (BGP peers, other sites).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orbit_bfd::{BfdHandle, DriverStatus, SessionStatus, State};
use orbit_core::api::{BfdHop, BfdSessionReport, BfdState};

use crate::metrics::bfd::BfdCollector;
use crate::metrics::snapshot::lock;

/// A driver that does not answer within this is reported as having no
/// sessions (and logged), rather than holding up the API.
const STATUS_TIMEOUT: Duration = Duration::from_secs(1);

/// Who runs a BFD driver in orbitd: each has its own helper process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum BfdUser {
    /// Single-hop sessions toward `bfd = true` BGP peers.
    BgpPeers,
    /// Multihop sessions toward the other members (`[bfd] sites = true`).
    Members,
}

/// The daemon's BFD drivers, as far as status and metrics care.
#[derive(Debug, Default)]
pub struct BfdView {
    handles: Mutex<BTreeMap<BfdUser, BfdHandle>>,
    last: Arc<Mutex<Option<DriverStatus>>>,
}

impl BfdView {
    /// The driver of `user` to report on (a new one after a reload, `None`
    /// when it runs no BFD).
    pub fn set_handle(&self, user: BfdUser, handle: Option<BfdHandle>) {
        let mut handles = lock(&self.handles);
        match handle {
            Some(h) => handles.insert(user, h),
            None => handles.remove(&user),
        };
        if handles.is_empty() {
            *lock(&self.last) = None;
        }
    }

    /// Asks every driver for a fresh snapshot and keeps their union for
    /// the metrics.
    pub async fn refresh(&self) -> Option<DriverStatus> {
        let handles: Vec<(BfdUser, BfdHandle)> = lock(&self.handles)
            .iter()
            .map(|(u, h)| (*u, h.clone()))
            .collect();
        if handles.is_empty() {
            return None;
        }
        let mut all = DriverStatus::default();
        // Real-time only if every helper that answered got it: one that
        // runs without is the one to look at.
        let mut realtime: Option<orbit_bfd::Realtime> = None;
        for (user, handle) in handles {
            match tokio::time::timeout(STATUS_TIMEOUT, handle.status()).await {
                Ok(Ok(status)) => {
                    all.sessions.extend(status.sessions);
                    for (reason, n) in status.unmatched_drops {
                        *all.unmatched_drops.entry(reason).or_default() += n;
                    }
                    all.send_errors += status.send_errors;
                    all.loop_stalls += status.loop_stalls;
                    all.longest_late_wake = all.longest_late_wake.max(status.longest_late_wake);
                    all.recent_stalls.extend(status.recent_stalls);
                    let r = realtime.get_or_insert(status.realtime);
                    r.fifo &= status.realtime.fifo;
                    r.memory_locked &= status.realtime.memory_locked;
                }
                Ok(Err(error)) => {
                    tracing::warn!(?user, %error, "BFD driver status unavailable");
                }
                Err(_) => {
                    tracing::warn!(
                        ?user,
                        "BFD driver did not answer a status request within 1 s"
                    );
                }
            }
        }
        all.realtime = realtime.unwrap_or_default();
        all.recent_stalls.sort_by_key(|s| s.resumed_unix_ms);
        *lock(&self.last) = Some(all.clone());
        Some(all)
    }

    /// Fresh per-session reports for `/v1/status`.
    pub async fn reports(&self) -> Vec<BfdSessionReport> {
        self.refresh()
            .await
            .map(|s| s.sessions.iter().map(report).collect())
            .unwrap_or_default()
    }

    /// The Prometheus collector that encodes the last snapshot.
    pub fn collector(&self) -> BfdCollector {
        BfdCollector::new(self.last.clone())
    }
}

pub(crate) fn hop(s: &SessionStatus) -> BfdHop {
    if s.key.multihop {
        BfdHop::Multihop
    } else {
        BfdHop::Single
    }
}

pub(crate) fn state(s: State) -> BfdState {
    match s {
        State::AdminDown => BfdState::AdminDown,
        State::Down => BfdState::Down,
        State::Init => BfdState::Init,
        State::Up => BfdState::Up,
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The API view of one driver session.
pub fn report(s: &SessionStatus) -> BfdSessionReport {
    BfdSessionReport {
        peer: s.key.peer,
        local: s.key.local,
        hop: hop(s),
        state: state(s.state),
        remote_state: state(s.remote_state),
        local_diag: s.local_diag.to_string(),
        local_discriminator: s.local_discriminator,
        remote_discriminator: s.remote_discriminator,
        desired_min_tx_us: micros(s.configured.desired_min_tx),
        required_min_rx_us: micros(s.configured.required_min_rx),
        detect_mult: s.configured.detect_mult,
        tx_interval_us: micros(s.tx_interval),
        detection_time_us: s.detection_time.map(micros),
        tx_packets: s.counters.tx_packets,
        rx_packets: s.counters.rx_packets,
        dropped: s
            .counters
            .dropped
            .iter()
            .map(|(reason, n)| (reason.label().to_owned(), *n))
            .collect(),
        state_changes: s.counters.state_changes,
        detection_expiries: s.counters.detection_expiries,
        last_state_change: s
            .last_state_change
            .map(|t| humantime::format_rfc3339_millis(t).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_session_is_reported_and_exported() {
        let (handle, _events) = orbit_bfd::start(orbit_bfd::DriverConfig {
            // Unused ports: the session never hears a peer.
            single_hop_port: 0,
            multi_hop_port: 0,
        });
        handle
            .add_session(orbit_bfd::PeerConfig {
                peer: "127.0.0.2".parse().expect("ip"),
                local: "127.0.0.1".parse().expect("ip"),
                hop: orbit_bfd::Hop::Single,
                timing: orbit_bfd::Timing::new(
                    Duration::from_millis(10),
                    Duration::from_millis(20),
                    3,
                ),
                auth: None,
                control_plane_independent: false,
            })
            .await
            .expect("add session");
        let view = BfdView::default();
        let mut registry = prometheus_client::registry::Registry::with_prefix("orbit");
        registry.register_collector(Box::new(view.collector()));
        let render = |registry: &prometheus_client::registry::Registry| {
            let mut out = String::new();
            prometheus_client::encoding::text::encode(&mut out, registry).expect("encode");
            out
        };
        assert!(!render(&registry).contains("orbit_bfd"), "no driver yet");

        view.set_handle(BfdUser::BgpPeers, Some(handle));
        let reports = view.reports().await;
        assert_eq!(reports.len(), 1, "{reports:?}");
        let r = &reports[0];
        assert_eq!(r.peer.to_string(), "127.0.0.2");
        assert_eq!(r.hop, BfdHop::Single);
        assert_eq!(r.state, BfdState::Down);
        assert_eq!(r.desired_min_tx_us, 10_000);
        assert_eq!(r.required_min_rx_us, 20_000);
        assert_eq!(r.detect_mult, 3);
        // Slow start: 1 s until Up (RFC 5880 §6.8.3).
        assert_eq!(r.tx_interval_us, 1_000_000);
        assert_eq!(r.detection_time_us, None);

        let text = render(&registry);
        let labels = r#"peer="127.0.0.2",local="127.0.0.1",hop="single""#;
        for line in [
            format!("orbit_bfd_session_up{{{labels}}} 0"),
            format!("orbit_bfd_session_state{{{labels},state=\"down\"}} 1"),
            format!("orbit_bfd_session_state{{{labels},state=\"up\"}} 0"),
            format!("orbit_bfd_tx_interval_seconds{{{labels}}} 1.0"),
            format!("orbit_bfd_rx_packets_total{{{labels}}} 0"),
            format!("orbit_bfd_state_changes_total{{{labels}}} 0"),
            format!("orbit_bfd_restart_candidates_total{{{labels}}} 0"),
            format!("orbit_bfd_peer_restarts_total{{{labels}}} 0"),
            format!("orbit_bfd_stall_holds_total{{{labels}}} 0"),
            "orbit_bfd_send_errors_total".to_owned(),
            "orbit_bfd_loop_stalls_total".to_owned(),
            // In-process: no real-time thread.
            "orbit_bfd_realtime 0".to_owned(),
            "orbit_bfd_memory_locked 0".to_owned(),
        ] {
            assert!(text.contains(&line), "{line} missing in\n{text}");
        }
        assert!(
            !text.contains("orbit_bfd_detection_time_seconds{"),
            "{text}"
        );

        view.set_handle(BfdUser::BgpPeers, None);
        assert!(view.reports().await.is_empty());
        assert!(!render(&registry).contains("orbit_bfd"));
    }
}
