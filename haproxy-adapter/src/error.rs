//! The one error type of this crate, converted to
//! [`orbit_core::RedirectError`] at the `Redirector` edge.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use orbit_core::RedirectError;

/// Name of the component in errors handed to the engine.
pub(crate) const COMPONENT: &str = "haproxy";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "haproxy runtime API {endpoint:?} is not a unix socket path or tcp:HOST:PORT: {reason}"
    )]
    BadEndpoint { endpoint: String, reason: String },

    #[error("cannot connect to the haproxy runtime API at {endpoint}: {source}{hint}",
        hint = connect_hint(source))]
    Connect { endpoint: String, source: io::Error },

    #[error("haproxy runtime API at {endpoint}: `{command}` failed: {source}")]
    Io {
        endpoint: String,
        command: String,
        source: io::Error,
    },

    #[error("haproxy runtime API at {endpoint} closed the connection during `{command}` (restart or reload?)")]
    Closed { endpoint: String, command: String },

    #[error("haproxy runtime API at {endpoint}: no reply to `{command}` within {} ms", timeout.as_millis())]
    Timeout {
        endpoint: String,
        command: String,
        timeout: Duration,
    },

    #[error("haproxy: unexpected reply to `{command}`: {reply:?}")]
    UnexpectedReply { command: String, reply: String },

    #[error("haproxy: `{command}` was refused with \"Permission denied\": the runtime API socket needs `level admin`")]
    PermissionDenied { command: String },

    #[error("haproxy {version} is too old: atomic map replacement (prepare/commit map) needs {minimum} or newer")]
    TooOld { version: String, minimum: String },

    #[error("haproxy has no map loaded from {map:?} (it has: {}); the config's haproxy.map must name the file exactly as HAProxy's config does",
        if known.is_empty() { "none".to_owned() } else { known.join(", ") })]
    UnknownMap { map: String, known: Vec<String> },

    #[error("haproxy has no backend {backend:?}{}; check haproxy.backends against HAProxy's config",
        match (service, site) {
            (Some(svc), Some(site)) => format!(" (wanted for service {svc:?} on site {site:?})"),
            (Some(svc), None) => format!(" (wanted for service {svc:?})"),
            _ => String::new(),
        })]
    UnknownBackend {
        service: Option<String>,
        site: Option<String>,
        backend: String,
    },

    #[error("haproxy: service {service:?} is steered to site {site:?}, which has no entry in haproxy.backends.{service}")]
    NoBackendForSite { service: String, site: String },

    /// The map file, or orbit's record of the servers it put in maint
    /// (`file` says which).
    #[error("haproxy {file} {path}: cannot {action}: {source}")]
    MapFile {
        file: &'static str,
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },

    #[error("haproxy map {map:?} does not hold what was committed: {difference}")]
    ReadBack { map: String, difference: String },

    #[error("haproxy: {0}")]
    Invalid(String),
}

fn connect_hint(e: &io::Error) -> &'static str {
    match e.kind() {
        io::ErrorKind::PermissionDenied => {
            " (the socket's mode/owner/group in `stats socket ... mode/user/group` must let orbitd write to it)"
        }
        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
            " (is haproxy running with this `stats socket ... level admin`?)"
        }
        _ => "",
    }
}

impl Error {
    /// The connection is unusable after this error; the next call reconnects.
    pub(crate) fn breaks_connection(&self) -> bool {
        matches!(
            self,
            Error::Io { .. }
                | Error::Closed { .. }
                | Error::Timeout { .. }
                | Error::UnexpectedReply { .. }
        )
    }
}

impl From<Error> for RedirectError {
    fn from(e: Error) -> Self {
        let component = COMPONENT.to_owned();
        match e {
            Error::Connect { .. } | Error::Io { .. } | Error::Closed { .. } => {
                RedirectError::Unreachable {
                    component,
                    detail: e.to_string(),
                }
            }
            Error::Timeout { timeout, .. } => RedirectError::Timeout {
                component,
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            },
            Error::BadEndpoint { .. }
            | Error::UnknownMap { .. }
            | Error::UnknownBackend { .. }
            | Error::NoBackendForSite { .. }
            | Error::TooOld { .. }
            | Error::PermissionDenied { .. } => RedirectError::Config(e.to_string()),
            Error::UnexpectedReply { .. }
            | Error::MapFile { .. }
            | Error::ReadBack { .. }
            | Error::Invalid(_) => RedirectError::Rejected {
                component,
                detail: e.to_string(),
            },
        }
    }
}
