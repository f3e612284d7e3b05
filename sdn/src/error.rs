//! The one error type of this crate; converted to
//! [`orbit_core::RedirectError`] at the `Redirector` edge.

use crate::ofp::{DecodeError, EncodeError};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        endpoint: String,
        source: std::io::Error,
    },
    #[error("{endpoint}: {source}")]
    Io {
        endpoint: String,
        source: std::io::Error,
    },
    #[error("endpoint {0:?} must be unix:PATH or tcp:HOST:PORT")]
    BadEndpoint(String),
    #[error("OVSDB {endpoint}: {detail}")]
    Ovsdb { endpoint: String, detail: String },
    #[error(
        "bridge {bridge:?} does not exist in OVSDB {endpoint} (bridges there: {existing:?}); \
         create it (datapath_type=netdev fail_mode=secure protocols=OpenFlow13) or fix sdn.bridge"
    )]
    BridgeMissing {
        bridge: String,
        endpoint: String,
        existing: Vec<String>,
    },
    #[error("bridge {bridge:?}: {detail}")]
    BridgeMisconfigured { bridge: String, detail: String },
    #[error("malformed OpenFlow message from the switch: {0}")]
    Decode(#[from] DecodeError),
    #[error("cannot encode OpenFlow message: {0}")]
    Encode(#[from] EncodeError),
    /// Version negotiation failed, the switch fell silent, or it sent
    /// something out of place.
    #[error("OpenFlow session closed: {0}")]
    Session(String),
    #[error("switch rejected {count} message(s): {first}")]
    Rejected { count: usize, first: String },
    #[error("switch did not answer {what} within {ms} ms")]
    Timeout { what: &'static str, ms: u64 },
    #[error("switch connection lost")]
    Disconnected,
    #[error(
        "switch {endpoint} does not read what orbit sends: {queued} bytes wait in the send \
         queue (limit {limit}); dropping the connection as dead"
    )]
    SendQueueFull {
        endpoint: String,
        queued: usize,
        limit: usize,
    },
    #[error("sdn config: {0}")]
    Config(String),
}
