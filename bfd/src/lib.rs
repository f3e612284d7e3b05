//! orbit-bfd: Bidirectional Forwarding Detection (RFC 5880) for single-hop
//! (RFC 5881) and multihop (RFC 5883) paths.
//!
//! - [`packet`] and [`auth`]: the pure Control packet codec and its
//!   authentication section.
//! - [`session`]: the sans-IO session state machine.
//! - [`driver`]: the tokio driver (sockets, one timer wheel, demultiplexing),
//!   in-process or in a helper process ([`driver::helper`]).
//!
//! - [`config`]: the `[bfd]` section of `orbit.toml` and its checks.
//!
//! Of orbit's crates it uses only `orbit-core`'s config vocabulary (for its
//! section); `orbitd` wires its events into detection verdicts and BGP
//! teardown.

pub mod auth;
pub mod config;
pub mod driver;
pub mod packet;
pub mod realtime;
pub mod session;
mod socket;

pub use auth::{AuthConfig, AuthConfigError, AuthKind};
pub use driver::{
    start, start_dedicated, BfdEvent, BfdHandle, DriverConfig, DriverStatus, Hop, LoopStall,
    PeerConfig, SessionKey, SessionStatus,
};
pub use packet::{ControlPacket, Diag, DropReason, State};
pub use realtime::Realtime;
pub use session::{Counters, Input, Jitter, Output, Session, Timing, XorShift32};
pub use socket::{route_source, MULTI_HOP_PORT, SINGLE_HOP_PORT};

/// Errors of the BFD driver.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bfd socket {addr}: {what}: {source}")]
    Socket {
        addr: std::net::SocketAddr,
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("bfd session {0} already exists")]
    DuplicateSession(SessionKey),
    #[error("bfd session {0}: local and peer addresses are of different families")]
    AddressFamilyMismatch(SessionKey),
    #[error("bfd session {0}: detect multiplier must be at least 1 (RFC 5880 §6.8.1)")]
    ZeroDetectMult(SessionKey),
    #[error("bfd driver has stopped")]
    Stopped,
    /// The driver runs in a helper process and said no, or is unreachable.
    #[error("bfd helper: {0}")]
    Helper(String),
}
