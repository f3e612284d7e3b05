//! Everything the decision engine reacts to.
//!
//! Events are plain serializable data: the daemon records them in its journal
//! and the golden tests replay them from `events.jsonl`.

use serde::{Deserialize, Serialize};

use crate::ids::{ServiceId, SiteId};
use crate::order::Order;
use crate::shared::SharedState;

/// What one observer believes about one site.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Liveness {
    Alive,
    /// Not answering, not yet given up on. Counts as alive for every decision:
    /// only `Dead` moves traffic.
    Suspect,
    /// Not heard from directly for the fence time (`[detect] fence_after`),
    /// not yet dead. Not a vote to fail the site over, but the observer does
    /// not count it toward its own quorum: an observer that hears fewer than
    /// a quorum fences, and its dead votes are stale.
    Silent,
    Dead,
    /// The member announced a planned departure (SIGTERM) in its own state
    /// message: it hands its services over and stops. Not a vote to fail
    /// it over (nothing is wrong with it, and it must not be counted dead),
    /// and not a partner for anybody's quorum: it is going away and claims
    /// nothing until it comes back under a new generation.
    Left,
}

impl Liveness {
    /// The snake_case name, as in the API and the logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Liveness::Alive => "alive",
            Liveness::Suspect => "suspect",
            Liveness::Silent => "silent",
            Liveness::Dead => "dead",
            Liveness::Left => "left",
        }
    }
}

impl std::fmt::Display for Liveness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An input to [`crate::Engine::handle`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// `observer` reports what it believes about `subject` (from gossip, BFD,
    /// a Serf agent or a data-plane probe). The local daemon's own detectors
    /// report with the local site as observer; gossip relays the others.
    Verdict {
        observer: SiteId,
        subject: SiteId,
        liveness: Liveness,
    },
    /// Result of the health checks of `service` at `site` (after rise/fall).
    Health {
        site: SiteId,
        service: ServiceId,
        healthy: bool,
    },
    /// The shared state of member `from` (relayed by gossip): newer
    /// placements and a newer operator intent are adopted; hearing from any
    /// peer also ends the wait for a first sync after start or fencing.
    Peer { from: SiteId, state: SharedState },
    /// An operator command (from `orbitctl` through the HTTP API), with
    /// `force` and its origin beside `command`.
    Command {
        #[serde(flatten)]
        order: Order,
    },
    /// This daemon stops on purpose (SIGTERM): the local site leaves the
    /// cluster. It tells the others (`SharedState::leaving`), hands its
    /// services over as planned moves and keeps what it carried at the
    /// lowest preference (Draining) until the daemon withdraws.
    Departing,
    /// Every backend of this daemon confirmed steering `generation` (the
    /// daemon's backend runners own confirmation). The services the local
    /// site is Active for in that steering are then carried, which the
    /// shared state tells the other members (a departing site waits for
    /// that before it withdraws).
    Confirmed { generation: u64 },
    /// The daemon started a plan step the engine said was due
    /// ([`crate::Engine::steps_due`]), or the step ended. `generation`
    /// names the run (its move's placement epoch), `index` the step's
    /// position in the run. The daemon journals this event with the step's
    /// exit status and the tail of its output.
    PlanStep {
        service: ServiceId,
        generation: u64,
        index: usize,
        #[serde(flatten)]
        progress: StepProgress,
    },
    /// Time passed; lets hold-down timers expire.
    Tick,
}

/// How far a plan step got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "progress", rename_all = "snake_case")]
pub enum StepProgress {
    /// It runs now (recorded before it runs: a restart never runs a
    /// non-idempotent step a second time).
    Started,
    /// It ended, after its retries: `error` is `None` on success, or one
    /// line naming the failure.
    Ended {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        attempts: u32,
        /// The exit status of its program, or the HTTP status.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        exit_status: Option<i32>,
        /// The end of its output (program) or response body (HTTP).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        output: String,
        elapsed_ms: u64,
    },
}

/// Operator commands. They are global intents: every daemon that receives
/// one computes the same steering from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Move `service` (or every service `to` serves, if `None`) to site `to`
    /// now, and keep it there until it fails or an operator fails it back.
    Switchover {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        service: Option<ServiceId>,
        to: SiteId,
    },
    /// Move every service away from `site` now and keep them away until
    /// `failback`.
    Drain { site: SiteId },
    /// Undrain `site` (or every site) and return services to their preferred
    /// site now, without waiting for the failback hold-down.
    Failback {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        site: Option<SiteId>,
    },
    /// Make `site` the preferred site of `service` until unpinned. A pin
    /// never steers traffic to a site the quorum declared dead.
    Pin { service: ServiceId, site: SiteId },
    /// Remove the pin of `service`; the service stays where it is.
    Unpin { service: ServiceId },
    /// Observer mode: keep deciding and reporting, apply nothing.
    ObserverMode { on: bool },
}

impl Command {
    /// A short verb for logs and metrics labels.
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Switchover { .. } => "switchover",
            Command::Drain { .. } => "drain",
            Command::Failback { .. } => "failback",
            Command::Pin { .. } => "pin",
            Command::Unpin { .. } => "unpin",
            Command::ObserverMode { .. } => "observer_mode",
        }
    }
}

/// The command in words, e.g. "switchover of web to site b".
impl std::fmt::Display for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Switchover {
                service: Some(service),
                to,
            } => write!(f, "switchover of {service} to site {to}"),
            Command::Switchover { service: None, to } => write!(f, "switchover to site {to}"),
            Command::Drain { site } => write!(f, "drain of site {site}"),
            Command::Failback { site: Some(site) } => write!(f, "failback of site {site}"),
            Command::Failback { site: None } => f.write_str("failback of every site"),
            Command::Pin { service, site } => write!(f, "pin of {service} to site {site}"),
            Command::Unpin { service } => write!(f, "unpin of {service}"),
            Command::ObserverMode { on } => {
                write!(f, "observer mode {}", if *on { "on" } else { "off" })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_have_a_stable_json_shape() {
        let e: Event = serde_json::from_str(
            r#"{"type":"verdict","observer":"b","subject":"a","liveness":"dead"}"#,
        )
        .unwrap();
        assert_eq!(
            e,
            Event::Verdict {
                observer: "b".parse().unwrap(),
                subject: "a".parse().unwrap(),
                liveness: Liveness::Dead
            }
        );
        let c: Event =
            serde_json::from_str(r#"{"type":"command","command":{"type":"switchover","to":"b"}}"#)
                .unwrap();
        assert_eq!(
            c,
            Event::Command {
                order: Order::new(Command::Switchover {
                    service: None,
                    to: "b".parse().unwrap()
                })
            }
        );
        let forced: Event = serde_json::from_str(
            r#"{"type":"command","command":{"type":"drain","site":"b"},"force":true}"#,
        )
        .unwrap();
        let Event::Command { order } = &forced else {
            panic!("{forced:?}")
        };
        assert!(order.force);
        assert_eq!(order.command.to_string(), "drain of site b");
        assert_eq!(
            serde_json::to_string(&forced).unwrap(),
            r#"{"type":"command","command":{"type":"drain","site":"b"},"force":true}"#
        );
        assert!(serde_json::from_str::<Event>(r#"{"type":"reboot"}"#).is_err());
    }
}
