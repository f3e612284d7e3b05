//! The BFD drivers' sessions and counters on `/metrics`, encoded from the
//! last snapshot `crate::bfd::status::BfdView` took (names get the
//! registry's `orbit_` prefix; counters get `_total`).

use std::sync::{Arc, Mutex};

use orbit_bfd::{DriverStatus, State};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::bfd::status::{hop, state};
use crate::metrics::snapshot::{encode_family, lock, with, Family, Labels};
use crate::metrics::unix_seconds;

/// Encodes the last [`DriverStatus`] on each scrape.
#[derive(Debug)]
pub struct BfdCollector {
    last: Arc<Mutex<Option<DriverStatus>>>,
}

impl BfdCollector {
    pub fn new(last: Arc<Mutex<Option<DriverStatus>>>) -> BfdCollector {
        BfdCollector { last }
    }
}

impl Collector for BfdCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(status) = lock(&self.last).clone() else {
            return Ok(());
        };
        let mut up = Family::new("bfd_session_up", "1 while the BFD session is Up");
        let mut states = Family::new(
            "bfd_session_state",
            "1 for the BFD session's current local state",
        );
        let mut remote = Family::new(
            "bfd_session_remote_state",
            "1 for the state the peer last reported",
        );
        let mut diag = Family::new(
            "bfd_session_diag",
            "Local diagnostic code (RFC 5880 §4.1): why the session last left Up",
        );
        let mut tx_interval = Family::new(
            "bfd_tx_interval_seconds",
            "Negotiated periodic transmit interval, before jitter",
        );
        let mut detection = Family::new(
            "bfd_detection_time_seconds",
            "Current detection time (absent until the peer is heard)",
        );
        let mut last_change = Family::new(
            "bfd_last_state_change_timestamp_seconds",
            "Unix time of the session's last state change",
        );
        let mut tx = Family::new("bfd_tx_packets", "BFD control packets sent");
        let mut rx = Family::new("bfd_rx_packets", "BFD control packets accepted");
        let mut dropped = Family::new(
            "bfd_dropped",
            "Received BFD packets dropped, by session and reason (RFC 5880 §6.8.6)",
        );
        let mut changes = Family::new("bfd_state_changes", "BFD session state changes");
        let mut expiries = Family::new(
            "bfd_detection_expiries",
            "Detection-time expiries (the peer fell silent)",
        );
        let mut candidates = Family::new(
            "bfd_restart_candidates",
            "Downs from an unknown discriminator that an Up session dropped but kept as a sign that the peer restarted its session",
        );
        let mut restarts = Family::new(
            "bfd_peer_restarts",
            "Detection-time expiries taken as a peer restart (signalled Down, no path failure)",
        );
        let mut holds = Family::new(
            "bfd_stall_holds",
            "Detection-time expiries judged one packet interval later because the BFD loop itself had stalled (woken late)",
        );
        for s in &status.sessions {
            let labels: Labels = vec![
                ("peer", s.key.peer.to_string()),
                ("local", s.key.local.to_string()),
                ("hop", hop(s).as_str().to_owned()),
            ];
            up.samples
                .push((labels.clone(), f64::from(u8::from(s.state == State::Up))));
            for candidate in [State::AdminDown, State::Down, State::Init, State::Up] {
                let name = state(candidate).as_str();
                states.samples.push((
                    with(&labels, "state", name),
                    f64::from(u8::from(s.state == candidate)),
                ));
                remote.samples.push((
                    with(&labels, "state", name),
                    f64::from(u8::from(s.remote_state == candidate)),
                ));
            }
            diag.samples
                .push((labels.clone(), f64::from(s.local_diag.bits())));
            tx_interval
                .samples
                .push((labels.clone(), s.tx_interval.as_secs_f64()));
            if let Some(d) = s.detection_time {
                detection.samples.push((labels.clone(), d.as_secs_f64()));
            }
            if let Some(t) = s.last_state_change {
                last_change.samples.push((labels.clone(), unix_seconds(t)));
            }
            tx.samples.push((labels.clone(), s.counters.tx_packets));
            rx.samples.push((labels.clone(), s.counters.rx_packets));
            for (reason, n) in &s.counters.dropped {
                dropped
                    .samples
                    .push((with(&labels, "reason", reason.label()), *n));
            }
            changes
                .samples
                .push((labels.clone(), s.counters.state_changes));
            expiries
                .samples
                .push((labels.clone(), s.counters.detection_expiries));
            candidates
                .samples
                .push((labels.clone(), s.counters.restart_candidates));
            restarts
                .samples
                .push((labels.clone(), s.counters.peer_restarts));
            holds.samples.push((labels, s.counters.stall_holds));
        }
        let mut unmatched = Family::new(
            "bfd_unmatched_dropped",
            "Received BFD packets that matched no session, by reason",
        );
        for (reason, n) in &status.unmatched_drops {
            unmatched
                .samples
                .push((vec![("reason", reason.label().to_owned())], *n));
        }
        let mut send_errors = Family::new(
            "bfd_send_errors",
            "BFD transmissions that failed at the socket",
        );
        send_errors.samples.push((Vec::new(), status.send_errors));
        let mut stalls = Family::new(
            "bfd_loop_stalls",
            "Times a BFD packet loop woke 10 ms or more late for its timers: it sent nothing meanwhile, so peers with a shorter detection time declared this end down",
        );
        stalls.samples.push((Vec::new(), status.loop_stalls));
        let mut realtime = Family::new(
            "bfd_realtime",
            "1 when every BFD helper runs its packet loop at SCHED_FIFO (needs CAP_SYS_NICE)",
        );
        realtime
            .samples
            .push((Vec::new(), f64::from(u8::from(status.realtime.fifo))));
        let mut memory_locked = Family::new(
            "bfd_memory_locked",
            "1 when every BFD helper has its memory locked (needs CAP_IPC_LOCK)",
        );
        memory_locked.samples.push((
            Vec::new(),
            f64::from(u8::from(status.realtime.memory_locked)),
        ));
        for f in [
            &realtime,
            &memory_locked,
            &up,
            &states,
            &remote,
            &diag,
            &tx_interval,
            &detection,
            &last_change,
        ] {
            encode_family(&mut encoder, f, ConstGauge::new)?;
        }
        for f in [
            &tx,
            &rx,
            &dropped,
            &changes,
            &expiries,
            &candidates,
            &restarts,
            &holds,
            &unmatched,
            &send_errors,
            &stalls,
        ] {
            encode_family(&mut encoder, f, ConstCounter::new)?;
        }
        Ok(())
    }
}
