//! The BGP anycast backend: a BGP speaker that announces the service prefixes
//! of the active site, pre-announces them at lower preference from a standby
//! site and withdraws them on failure. It implements
//! [`orbit_core::Redirector`].
//!
//! Layers, bottom up:
//! - [`wire`]: the codec (over `rustbgpd-wire`, pinned), the only module
//!   that knows the codec crate;
//! - [`fsm`]: the RFC 4271 §8 session, sans-IO;
//! - [`policy`]: Steering -> desired routes, pure;
//! - `peer`: the tokio task per peer (sockets, timers, Adj-RIB-Out);
//! - [`Speaker`]: `impl Redirector`, the listener, start / shutdown.

pub mod config;
pub mod error;
pub mod fsm;
mod peer;
pub mod policy;
mod sockopt;
mod speaker;
pub mod wire;

pub use config::{
    AddressFamily, BgpActive, BgpDrain, BgpMarks, BgpPeer, BgpReadyRule, BgpStandby,
    BgpStandbyAnnounce, Config, StandbyWithdraw,
};
pub use error::Error;
pub use fsm::{Counters, Direction};
pub use peer::{NotificationRecord, PeerStatus};
pub use speaker::{md5_password, PeerControl, PeerReconfigured, PeerReload, Reconfigured, Speaker};
