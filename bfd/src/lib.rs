//! orbit-bfd: Bidirectional Forwarding Detection (RFC 5880) for single-hop
//! (RFC 5881) and multihop (RFC 5883) paths.
//!
//! - [`packet`] and [`auth`]: the pure Control packet codec and its
//!   authentication section.
//! - [`session`]: the sans-IO session state machine.
//! - [`driver`]: the tokio driver (sockets, one timer wheel, demultiplexing).
//!
//! This crate depends on nothing of orbit's; `orbitd` wires its events into
//! detection verdicts and BGP teardown.

pub mod auth;
pub mod packet;
pub mod session;

pub use auth::{AuthConfig, AuthConfigError, AuthKind};
pub use packet::{ControlPacket, Diag, DropReason, State};
pub use session::{Counters, Input, Jitter, Output, Session, Timing, XorShift32};
