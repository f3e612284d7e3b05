//! The one error type of orbit-bgp; converted to `RedirectError` at the
//! `Redirector` edge.

use orbit_core::RedirectError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The `[bgp]` section cannot be used (checked before any socket opens).
    #[error("[bgp] config: {0}")]
    Config(String),
    /// A `md5_password_file` cannot be read.
    #[error("cannot read {path}: {detail}")]
    Md5PasswordUnreadable { path: String, detail: String },
    /// A TCP-MD5 password the kernel does not take (`TCP_MD5SIG_MAXKEYLEN`).
    #[error(
        "{path}: the password must be 1 to {max} bytes, got {len}",
        max = crate::sockopt::MD5_MAX_KEY_LEN
    )]
    Md5PasswordLength { path: String, len: usize },
    /// A steering asks for something the configuration does not allow.
    #[error("steering refused: {0}")]
    Steering(String),
    /// A socket could not be set up (listen, TCP-MD5, GTSM).
    #[error("{what}: {detail}")]
    Socket { what: String, detail: String },
    /// A peer task is gone (the speaker is shutting down).
    #[error("BGP peer {0}: its task has stopped")]
    PeerGone(String),
    /// Writing UPDATEs to a peer failed; the session is being reset.
    #[error("BGP peer {peer}: {detail}")]
    Peer { peer: String, detail: String },
}

impl From<Error> for RedirectError {
    fn from(e: Error) -> RedirectError {
        match e {
            Error::Config(_)
            | Error::Steering(_)
            | Error::Md5PasswordUnreadable { .. }
            | Error::Md5PasswordLength { .. } => RedirectError::Config(e.to_string()),
            Error::Socket { what, detail } => RedirectError::Unreachable {
                component: what,
                detail,
            },
            Error::PeerGone(peer) => RedirectError::Unreachable {
                component: format!("BGP peer {peer}"),
                detail: "peer task stopped".into(),
            },
            Error::Peer { peer, detail } => RedirectError::Rejected {
                component: format!("BGP peer {peer}"),
                detail,
            },
        }
    }
}
