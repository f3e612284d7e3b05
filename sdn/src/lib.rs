//! The SDN backend: OpenFlow 1.3 rules and fast-failover groups on an Open
//! vSwitch bridge steer each service address toward the active site. It
//! implements [`orbit_core::Redirector`].
//!
//! - [`ofp`]: a pure OpenFlow 1.3 codec.
//! - [`ovsdb`]: an RFC 7047 client to verify or create the bridge.

mod error;
pub mod ofp;
pub mod ovsdb;

pub use error::Error;
