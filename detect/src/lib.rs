//! Failure detectors for orbit: SWIM gossip between site daemons (with the
//! witness as a voter), health checks with rise/fall, a Serf agent adapter and
//! a netlink link watch. Every detector turns what it sees into
//! [`orbit_core::Event`]s for the decision engine; none of them decides.
//!
//! Wiring (orbitd): create one `mpsc::channel::<orbit_core::Event>`, start
//! [`gossip::Gossip::start`] with the config and the sender, and feed every
//! received event to `Engine::handle`.

pub mod auth;
pub mod dataplane;
mod error;
pub mod gossip;
pub mod health;
pub mod identity;
pub mod rise_fall;
pub mod wire;

pub use error::DetectError;
