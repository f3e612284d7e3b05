//! SWIM gossip between site daemons and the witness (on foca), with
//! orbit's verdicts, health and engine-state dissemination on top.
//!
//! - `core.rs`: the sans-IO member (`process(now, Input) -> Vec<Output>`),
//!   which ties the parts below together after every input.
//! - `swim.rs`: the SWIM runtime: foca behind the envelope, Lifeguard's
//!   scaled timers, the foca 2.0.0 workarounds.
//! - `evidence.rs`: what the local detectors said, kept over time: silence,
//!   Serf/BFD/external sources (with the external lease), data-plane
//!   probes, links.
//! - `verdict.rs`: the pure verdict rule (all of the above -> `SiteView`).
//! - `dissemination.rs`: origin state out (deltas, relay, digests,
//!   push-pull) and in; `table.rs`: one origin's state as versioned
//!   entries (diff, apply, chunking); `remote.rs`: our copies of the other
//!   origins and the events they make, each change once.
//! - `settings.rs`: timers and cluster facts resolved from the config.
//! - `status.rs`: counters and the status snapshot.
//! - `selfaware.rs`: Lifeguard local health.
//! - `driver.rs`: the tokio task with one UDP socket and one timer queue;
//!   `pushpull.rs`: its TCP listener and push-pull connections.

mod core;
mod dissemination;
mod driver;
mod evidence;
mod pushpull;
mod remote;
mod selfaware;
mod settings;
mod status;
mod swim;
mod table;
mod verdict;

pub use self::core::{GossipCore, GossipTimer, Input, Output};
pub use self::driver::{Gossip, LocalReporter};
pub use self::selfaware::SelfAwareness;
pub use self::settings::{GossipSettings, Timers, EXTERNAL_TTL};
pub use self::status::{Counters, GossipStatus};
pub use self::verdict::{DaemonState, SiteView, Source};
