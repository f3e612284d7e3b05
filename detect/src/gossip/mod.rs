//! SWIM gossip between site daemons and the witness (on foca), with
//! orbit's verdict, health and engine-state dissemination on top.
//!
//! - `core.rs`: the sans-IO member (`process(now, Input) -> Vec<Output>`).
//! - `driver.rs`: the tokio task with one UDP socket and one timer queue.
//! - `selfaware.rs`: Lifeguard local health.

mod core;
mod driver;
mod selfaware;

pub use self::core::{
    Counters, DaemonState, GossipCore, GossipSettings, GossipStatus, GossipTimer, Input, Output,
    SiteView, Source, Timers, EXTERNAL_TTL,
};
pub use self::driver::{Gossip, LocalReporter};
pub use self::selfaware::SelfAwareness;
