//! An operator command as issued: the [`Command`] itself, whether the
//! operator overrode the safety rails (`--force`), and who issued it from
//! where and why ([`Origin`]), so that the journal answers "who did what".
//!
//! The daemon fills in the origin from the connection (it is never taken
//! from the request body: a client cannot claim to be someone else); the
//! engine keeps the wall-clock time of the command in the shared intent so
//! that a member whose command lost to a concurrent one can say to what.

use std::fmt;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::event::Command;

/// An operator command with its flags and origin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub command: Command,
    /// Carry the command out even if it leaves a service without any site
    /// to carry it (refused otherwise).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    /// Who issued it; absent in replayed scenarios and older journals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Origin>,
}

impl Order {
    /// `command` as a replay or a test issues it: not forced, no origin.
    pub fn new(command: Command) -> Order {
        Order {
            command,
            force: false,
            origin: None,
        }
    }
}

/// Who issued a command, when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    pub client: Client,
    /// Wall-clock time the daemon took the command, RFC 3339.
    pub at: String,
    /// The operator's `--reason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
}

/// The API connection a command came in on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", rename_all = "snake_case")]
pub enum Client {
    /// The unix socket: the peer's credentials as the kernel reports them
    /// (SO_PEERCRED), so they cannot be forged by the client.
    Unix {
        uid: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<i32>,
    },
    /// The TCP listener (bearer token): the peer's address.
    Tcp { peer: SocketAddr },
    /// The credentials could not be read (the peer went away at once).
    Unknown,
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Client::Unix {
                uid,
                pid: Some(pid),
            } => write!(f, "uid {uid} pid {pid}"),
            Client::Unix { uid, pid: None } => write!(f, "uid {uid}"),
            Client::Tcp { peer } => write!(f, "tcp {peer}"),
            Client::Unknown => f.write_str("unknown client"),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "by {}", self.client)?;
        if let Some(reason) = &self.reason {
            write!(f, ", reason {:?}", reason.as_str())?;
        }
        Ok(())
    }
}

/// Longest `--reason` accepted: a sentence, not a document (it is kept in
/// every journal entry of the command).
pub const MAX_REASON_CHARS: usize = 200;

/// An operator's reason for a command: one line of at most
/// [`MAX_REASON_CHARS`] characters, no control characters (it is printed
/// in terminals and log lines as it is).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Reason(String);

/// Why a text is not a valid reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReasonError {
    #[error("reason is empty; leave it out or say why")]
    Empty,
    #[error("reason is {0} characters long; at most {MAX_REASON_CHARS} are allowed")]
    TooLong(usize),
    #[error("reason contains the control character {0:?}; use plain text on one line")]
    ControlCharacter(char),
}

impl Reason {
    pub fn new(text: impl Into<String>) -> Result<Reason, ReasonError> {
        let text = text.into();
        if text.trim().is_empty() {
            return Err(ReasonError::Empty);
        }
        let chars = text.chars().count();
        if chars > MAX_REASON_CHARS {
            return Err(ReasonError::TooLong(chars));
        }
        if let Some(c) = text.chars().find(|c| c.is_control()) {
            return Err(ReasonError::ControlCharacter(c));
        }
        Ok(Reason(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Reason {
    type Error = ReasonError;
    fn try_from(text: String) -> Result<Reason, ReasonError> {
        Reason::new(text)
    }
}

impl From<Reason> for String {
    fn from(reason: Reason) -> String {
        reason.0
    }
}

impl std::str::FromStr for Reason {
    type Err = ReasonError;
    fn from_str(text: &str) -> Result<Reason, ReasonError> {
        Reason::new(text)
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_one_bounded_line() {
        assert_eq!(
            Reason::new("maintenance CHG-1234").unwrap().as_str(),
            "maintenance CHG-1234"
        );
        assert_eq!(
            Reason::new("é".repeat(MAX_REASON_CHARS)).map(|r| r.as_str().chars().count()),
            Ok(MAX_REASON_CHARS)
        );
        assert_eq!(
            Reason::new("x".repeat(MAX_REASON_CHARS + 1)),
            Err(ReasonError::TooLong(MAX_REASON_CHARS + 1))
        );
        assert_eq!(
            Reason::new("two\nlines").unwrap_err().to_string(),
            "reason contains the control character '\\n'; use plain text on one line"
        );
        assert_eq!(Reason::new(" "), Err(ReasonError::Empty));
        assert!(serde_json::from_str::<Reason>("\"bell\\u0007\"").is_err());
    }

    #[test]
    fn origins_read_as_who_and_why() {
        let origin = Origin {
            client: Client::Unix {
                uid: 1000,
                pid: Some(4242),
            },
            at: "2026-12-05T18:31:20.000Z".to_owned(),
            reason: Some(Reason::new("CHG-1").unwrap()),
        };
        assert_eq!(origin.to_string(), "by uid 1000 pid 4242, reason \"CHG-1\"");
        let tcp = Client::Tcp {
            peer: "192.0.2.7:51000".parse().unwrap(),
        };
        assert_eq!(tcp.to_string(), "tcp 192.0.2.7:51000");
        assert_eq!(
            serde_json::to_string(&tcp).unwrap(),
            r#"{"via":"tcp","peer":"192.0.2.7:51000"}"#
        );
    }

    #[test]
    fn a_plain_order_serializes_as_the_command_alone() {
        let order = Order::new(Command::Drain {
            site: "a".parse().unwrap(),
        });
        assert_eq!(
            serde_json::to_string(&order).unwrap(),
            r#"{"command":{"type":"drain","site":"a"}}"#
        );
    }
}
