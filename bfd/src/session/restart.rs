//! A peer that restarted its session while ours was Up.
//!
//! An Up session drops a packet with Your Discriminator 0 unless its My
//! Discriminator is the peer's (`check_your_discriminator`): selected by
//! address alone, it would let an off-path spoofer take the session down.
//! But a peer that restarted its session (bird2 does on every BGP
//! reconnect) sends exactly that: Down, Your Discriminator 0, a new My
//! Discriminator. Dropped, the old session would end by our detection time
//! as a path failure, and BGP and the members' verdicts would treat a
//! healthy path as failed.
//!
//! So such a packet is still dropped for the session's state and timers,
//! but remembered as a *restart candidate*. Only when the old session's
//! valid packets really stop (the detection time expires) and a candidate
//! arrived within that detection time, i.e. after the old session's last
//! valid packet, is the peer taken as restarted: the session goes Down
//! with "neighbor signaled session down" (the peer did signal Down, from
//! its new session; not a path failure) and the candidate is processed at
//! once, so the handshake with the new discriminator starts without
//! waiting for the peer's next slow-start packet (RFC 5880 §6.8.3, §6.8.6).
//! A spoofer whose Downs race a live peer changes nothing, since the
//! peer's valid packets keep the detection time from expiring.

use std::time::{Duration, Instant};

use super::{Output, Session};
use crate::packet::{ControlPacket, Diag, State};

/// The last zero-Your-Discriminator packet from an unknown My
/// Discriminator that an Up session dropped, and when it arrived.
#[derive(Debug, Clone)]
pub(super) struct RestartCandidate {
    packet: ControlPacket,
    at: Instant,
}

impl RestartCandidate {
    /// Whether it arrived within `window` before `now`.
    fn seen_within(&self, now: Instant, window: Duration) -> bool {
        now.saturating_duration_since(self.at) <= window
    }
}

impl Session {
    /// `p` was dropped as [`DropReason::ZeroYourDiscriminatorWhenUp`]:
    /// remember it if it passes the authentication this session requires.
    /// Without the key a packet cannot even become a candidate, so
    /// `[bfd.auth]` keeps a spoofer out of this path entirely. The sequence
    /// number is not checked: a restarted peer starts its own (§6.7.3).
    pub(super) fn note_restart_candidate(&mut self, now: Instant, p: ControlPacket) {
        let authentic = match (&self.auth, &p.auth) {
            (None, None) => true,
            (Some(cfg), Some(_)) => cfg.verify(&p).is_ok(),
            _ => false,
        };
        if !authentic {
            return;
        }
        self.counters.restart_candidates += 1;
        tracing::debug!(
            local_discr = self.local_discr,
            remote_discr = self.remote_discr,
            candidate_discr = p.my_discriminator,
            "bfd restart candidate: Down from an unknown discriminator while Up"
        );
        self.restart_candidate = Some(RestartCandidate { packet: p, at: now });
    }

    /// The detection time (`detection_time`) has just expired on an Up
    /// session. Returns true if a recent candidate showed that the peer
    /// restarted, after taking the session Down as signalled and handing
    /// the candidate to the new handshake; false if this is a path failure
    /// for the caller to handle.
    pub(super) fn take_over_restarted_peer(
        &mut self,
        now: Instant,
        detection_time: Option<Duration>,
        out: &mut Vec<Output>,
    ) -> bool {
        let Some(candidate) = self.restart_candidate.take() else {
            return false;
        };
        // A candidate older than one detection time came before the old
        // session's last valid packet: the peer was still there after it,
        // so it says nothing about why the peer fell silent now.
        if !detection_time.is_some_and(|d| candidate.seen_within(now, d)) {
            return false;
        }
        self.counters.peer_restarts += 1;
        tracing::info!(
            local_discr = self.local_discr,
            old_remote_discr = self.remote_discr,
            new_remote_discr = candidate.packet.my_discriminator,
            "bfd peer restarted its session: taking the new one over"
        );
        // §6.8.1: RemoteDiscr is zeroed when a Detection Time passes
        // silently, as it did for the old session.
        self.remote_discr = 0;
        self.set_state(State::Down, Diag::NeighborSignaledSessionDown, out);
        // The window belonged to the old session; the candidate's digest
        // was verified when it arrived.
        self.rcv_seq.forget();
        self.on_packet(now, candidate.packet, out);
        true
    }
}
