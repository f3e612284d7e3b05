//! `POST /v1/reload`: take orbitd's config file again (as SIGHUP does) or
//! only check a config against the running one, and answer with what it
//! changes.

use serde::{Deserialize, Serialize};

use crate::config::{ConfigChange, Problem};

/// `POST /v1/reload`; an empty body is `{}`: reload the config file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReloadRequest {
    /// Only check and compare with the running config; apply nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub check: bool,
    /// With `check`: the text of the config to check. orbitd never opens
    /// a path a client names, so `orbitctl reload --check FILE` reads the
    /// file and sends this. Absent: orbitd's own config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
}

/// What a reload or a check found: 200 when the config was applied (or,
/// with `check`, would be), 422 when it is refused (then `error` says why,
/// as in every API error, and `problems` lists each with its TOML path).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReloadResponse {
    /// The config read: orbitd's config file, or `(sent by the client)`.
    pub source: String,
    /// Only checked: nothing was applied, whatever the outcome.
    pub check: bool,
    /// The new config is in force.
    pub applied: bool,
    /// From the running config to the new one, in file order. Also
    /// listed when the new config is refused (what it would have changed).
    pub changes: Vec<ConfigChange>,
    /// Why the new config is refused: its own problems, and what a reload
    /// cannot change.
    pub problems: Vec<Problem>,
    /// What applying it did to the backends and BFD, one line each
    /// (`bgp: peer 192.0.2.9 added`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
