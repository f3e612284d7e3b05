//! The BGP anycast backend: a BGP speaker that announces the service prefixes
//! of the active site, pre-announces them at lower preference from a standby
//! site and withdraws them on failure. It implements
//! [`orbit_core::Redirector`].

pub mod fsm;
pub mod wire;
