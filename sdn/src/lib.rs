//! The SDN backend: OpenFlow 1.3 rules and fast-failover groups on an Open
//! vSwitch bridge steer each service address toward the active site. It
//! implements [`orbit_core::Redirector`].
//!
//! - [`ofp`]: a pure OpenFlow 1.3 codec.
//! - [`conn`]: the switch connection (handshake, echo, barrier, reconnect).
//! - [`ovsdb`]: an RFC 7047 client to verify or create the bridge.
//! - [`Switch`]: steering -> fast-failover groups and flows, diffed,
//!   confirmed by BARRIER_REPLY, reconciled after reconnects.

pub mod config;
pub mod conn;
mod datapath;
mod error;
pub mod jsonrpc;
pub mod ofp;
pub mod ovsdb;
mod plan;
mod session;
mod switch;

pub use config::{Config, SdnPort};
pub use error::Error;
pub use switch::{Switch, SwitchStats};
