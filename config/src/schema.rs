//! The whole `orbit.toml`: the sections of every crate composed, and the
//! tables no other crate owns (`[node]`, `[api]`, `[[service]]` entries,
//! `[hook]`, orbitd's own backend).
//!
//! Every struct denies unknown fields so a typo is an error, not a silently
//! ignored setting. Semantic checks live in `validate.rs`.

use std::net::SocketAddr;
use std::path::PathBuf;

use orbit_core::config::{HumanDuration, Policy, Site};
use orbit_core::SiteId;
use serde::{Deserialize, Serialize};

/// The whole `orbit.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub node: Node,
    /// Limits of the HTTP API listeners (`node.api_socket`, `node.api_tcp`).
    #[serde(default)]
    pub api: Api,
    #[serde(rename = "site")]
    pub sites: Vec<Site>,
    #[serde(default)]
    pub detect: orbit_detect::Config,
    #[serde(default)]
    pub policy: Policy,
    #[serde(rename = "service", default)]
    pub services: Vec<ServiceEntry>,
    /// Disaster-recovery plans: the steps that go with a service's move
    /// (docs/plans.md).
    #[serde(rename = "plan", default, skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<orbit_core::config::Plan>,
    pub bgp: Option<orbit_bgp::Config>,
    pub haproxy: Option<orbit_haproxy::Config>,
    pub sdn: Option<orbit_sdn::Config>,
    pub hook: Option<Hook>,
    /// BFD timers for `[[bgp.peer]]`s with `bfd = true`.
    #[serde(default)]
    pub bfd: orbit_bfd::config::Config,
    /// When the decision journal is rotated, and how many files are kept.
    #[serde(default)]
    pub journal: crate::journal::JournalConfig,
}

/// `[[service]]`: something steered between sites, and how the local site
/// checks its health.
pub type ServiceEntry = orbit_core::config::ServiceEntry<orbit_detect::HealthCheck>;

/// `[node]`: who this daemon is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// The `[[site]]` this daemon runs at.
    pub site: SiteId,
    #[serde(default)]
    pub role: NodeRole,
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    #[serde(default = "default_api_socket")]
    pub api_socket: PathBuf,
    /// Optional TCP listener for the API; requires `api_token_file`.
    pub api_tcp: Option<SocketAddr>,
    pub api_token_file: Option<PathBuf>,
    /// Under systemd (`Type=notify`): how long orbitd waits for authority
    /// and the backends' confirmation before it reports `READY=1` anyway
    /// (with `STATUS=` saying what it still waits for). A member that
    /// cannot reach its cluster at boot must still come up, fenced, not be
    /// killed by `TimeoutStartSec=` and restarted in a loop.
    #[serde(default = "default_ready_timeout")]
    pub ready_timeout: HumanDuration,
}

/// `[api]`: how much of orbitd a client of the HTTP API may hold, and for
/// how long. Each listener has its own connection cap, so a flood on the
/// TCP listener never takes the unix socket (orbitctl) down with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Api {
    /// A connection must deliver a whole request head within this, counted
    /// from when it opens or from its previous answer (so it is also the
    /// keep-alive idle timeout); then it is closed.
    #[serde(default = "default_api_header_timeout")]
    pub header_timeout: HumanDuration,
    /// Reading a request's body and answering it; a command that has not
    /// reached the event loop by then is dropped, not applied.
    #[serde(default = "default_api_request_timeout")]
    pub request_timeout: HumanDuration,
    /// Connections open at once on the unix socket; one more is answered
    /// 503 and closed at once.
    #[serde(default = "default_api_unix_connections")]
    pub unix_connections: usize,
    /// Connections open at once on the TCP listener, likewise. Keep it
    /// well below the file descriptor limit (`LimitNOFILE=`).
    #[serde(default = "default_api_tcp_connections")]
    pub tcp_connections: usize,
    /// The group that owns `node.api_socket`, so that its members (on-call
    /// staff) can run orbitctl without root. Must exist on the machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_socket_group: Option<String>,
    /// The socket's mode as an octal string, e.g. "0660"; default "0660"
    /// with `api_socket_group`, else "0600". Never open to others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_socket_mode: Option<String>,
}

impl Api {
    /// The mode `node.api_socket` gets; a bad `api_socket_mode` (refused
    /// by `validate`) counts as the default.
    pub fn socket_mode(&self) -> u32 {
        let default = if self.api_socket_group.is_some() {
            0o660
        } else {
            0o600
        };
        self.api_socket_mode
            .as_deref()
            .and_then(|m| parse_socket_mode(m).ok())
            .unwrap_or(default)
    }
}

/// `"0660"` or `"660"` as a mode: at most 0o770 (no setuid/setgid/sticky
/// bits, nothing for others: whoever can connect can command orbitd) and
/// read-write for the owner (orbitd's own `check-config` and tools).
pub fn parse_socket_mode(text: &str) -> Result<u32, String> {
    let digits = text
        .strip_prefix('0')
        .filter(|d| d.len() == 3)
        .unwrap_or(text);
    let mode = (digits.len() == 3)
        .then(|| u32::from_str_radix(digits, 8).ok())
        .flatten()
        .ok_or_else(|| format!("{text:?} is not an octal mode such as \"0660\""))?;
    if mode & 0o007 != 0 {
        return Err(format!(
            "{text:?} lets every local user command orbitd; use api_socket_group and at most \"0660\""
        ));
    }
    if mode & 0o600 != 0o600 {
        return Err(format!(
            "{text:?} must give the owner read and write (0600)"
        ));
    }
    Ok(mode)
}

fn default_api_header_timeout() -> HumanDuration {
    HumanDuration::from_secs(5)
}
fn default_api_request_timeout() -> HumanDuration {
    HumanDuration::from_secs(10)
}
fn default_api_unix_connections() -> usize {
    64
}
fn default_api_tcp_connections() -> usize {
    256
}

impl Default for Api {
    fn default() -> Self {
        Api {
            header_timeout: default_api_header_timeout(),
            request_timeout: default_api_request_timeout(),
            unix_connections: default_api_unix_connections(),
            tcp_connections: default_api_tcp_connections(),
            api_socket_group: None,
            api_socket_mode: None,
        }
    }
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/orbit")
}

fn default_ready_timeout() -> HumanDuration {
    HumanDuration::from_secs(30)
}

fn default_api_socket() -> PathBuf {
    PathBuf::from("/run/orbit/api.sock")
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeRole {
    /// A site's border-router sidecar: votes and steers.
    #[default]
    Site,
    /// Votes in the quorum only; has no backends.
    Witness,
}

/// `[hook]`: run a command / POST a URL on every steering change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    /// argv; receives the steering as JSON on stdin.
    pub command: Option<Vec<String>>,
    /// `http://` URL that receives the steering JSON as a POST body.
    pub url: Option<String>,
    #[serde(default = "default_hook_timeout")]
    pub timeout: HumanDuration,
}

fn default_hook_timeout() -> HumanDuration {
    HumanDuration::from_secs(10)
}
