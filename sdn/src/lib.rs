//! The SDN backend: OpenFlow 1.3 rules and fast-failover groups on an Open
//! vSwitch bridge steer each service address toward the active site. It
//! implements [`orbit_core::Redirector`].
//!
//! - [`ofp`]: a pure OpenFlow 1.3 codec.

pub mod ofp;
