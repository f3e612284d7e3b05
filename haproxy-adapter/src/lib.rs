//! The HAProxy backend: a HAProxy map (service key -> backend of the active
//! site) rewritten atomically over the runtime API and persisted to the map
//! file. [`Runtime`] implements [`orbit_core::Redirector`].
//!
//! - [`command`], [`reply`]: runtime API commands and their pure reply
//!   parsers (tested with replies recorded from HAProxy 2.6).
//! - `framing`: where one reply ends in interactive (`prompt`) mode.
//! - [`Client`]: the async client (unix socket or `tcp:HOST:PORT`).
//! - `mapfile`: the map file, replaced atomically.
//! - `plan`: steering <-> map entries, pure.
//! - `dead_site`: which servers a takeover holds in maint, pure.
//! - [`Runtime`]: apply / observe / reconcile.

pub mod client;
pub mod command;
pub mod config;
mod dead_site;
mod endpoint;
mod error;
mod framing;
pub mod mapfile;
mod plan;
pub mod reply;
mod runtime;

pub use client::Client;
pub use config::Config;
pub use endpoint::Endpoint;
pub use error::Error;
pub use runtime::{Runtime, Stats};

/// For the fuzz target: frames one reply and runs every parser on it.
#[doc(hidden)]
pub fn fuzz_reply(bytes: &[u8]) {
    let mut f = framing::Framer::new();
    if let Ok(Some(body)) = f.push("fuzz", bytes) {
        let _ = reply::parse_info("fuzz", &body);
        let _ = reply::parse_map_list("fuzz", &body);
        let _ = reply::parse_map_entries("fuzz", "/m", &body);
        let _ = reply::parse_prepare("fuzz", &body);
        let _ = reply::parse_servers_state("fuzz", None, &body);
        let _ = reply::parse_backends("fuzz", &body);
        let _ = reply::expect_empty("fuzz", &body);
    }
    let _ = mapfile::parse(&String::from_utf8_lossy(bytes));
}

#[cfg(test)]
mod recorded_tests;
