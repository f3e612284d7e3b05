//! The one error type of orbit-detect.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can go wrong while starting or running a detector.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("detect.key_file is required: every gossip packet is authenticated with it")]
    NoKey,
    #[error("gossip key file {path}: {source}")]
    KeyFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("gossip key file {path}: the key must be at least {min} bytes (got {len})")]
    KeyTooShort {
        path: PathBuf,
        len: usize,
        min: usize,
    },
    #[error("site {0:?} is not a [[site]] of this config")]
    UnknownSite(String),
    #[error("cannot bind the gossip socket on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the gossip task has stopped")]
    Stopped,
    #[error("health check of service {service}: {message}")]
    HealthConfig { service: String, message: String },
    #[error("serf agent {addr}: {message}")]
    Serf { addr: SocketAddr, message: String },
    #[error("netlink: {0}")]
    Netlink(String),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}
