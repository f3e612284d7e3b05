//! `[bfd]` and `[bfd.auth]` of `orbit.toml`: RFC 5880 timers and
//! authentication of the single-hop sessions toward BGP peers (`bfd =
//! true` on a `[[bgp.peer]]`) and of the multihop sessions between members
//! (`sites = true`). Whether those peers and members exist is for the
//! composing config (`orbit-config`) to check; this section judges itself.

use std::path::PathBuf;
use std::time::Duration;

use orbit_core::config::{HumanDuration, Problems};
use serde::{Deserialize, Serialize};

use crate::auth::AuthKind;

/// `[bfd]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Desired transmit and required receive interval.
    #[serde(default = "default_interval")]
    pub interval: HumanDuration,
    /// Missed packets before the path is declared down.
    #[serde(default = "default_multiplier")]
    pub multiplier: u8,
    /// Multihop BFD (RFC 5883) from this member to every other member's
    /// gossip address: a second, faster detector of a dead site. A Down
    /// joins this member's gossip verdict (the data-plane check and the
    /// quorum rule still decide); gossip stays the source of membership.
    #[serde(default)]
    pub sites: bool,
    /// Authentication of every session (RFC 5880 §6.7); none by default.
    pub auth: Option<Auth>,
}

/// `[bfd.auth]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    /// RFC 5880 §4.2-4.4, written as in `AuthKind::config_name`.
    /// Meticulous variants increase the sequence number with every packet,
    /// which defeats replay.
    #[serde(rename = "type", with = "auth_kind_name")]
    pub kind: AuthKind,
    #[serde(default = "default_key_id")]
    pub key_id: u8,
    /// The shared key (the file's bytes, a trailing newline removed).
    pub key_file: PathBuf,
}

fn default_key_id() -> u8 {
    1
}
fn default_interval() -> HumanDuration {
    HumanDuration::from_millis(50)
}
fn default_multiplier() -> u8 {
    3
}

impl Default for Config {
    fn default() -> Self {
        Config {
            interval: default_interval(),
            multiplier: default_multiplier(),
            sites: false,
            auth: None,
        }
    }
}

impl Config {
    /// The problems of this section alone, with their TOML paths.
    pub fn validate(&self, problems: &mut Problems) {
        if self.interval.get() < Duration::from_millis(3) {
            problems.add(
                "bfd.interval",
                format!("{} is below the minimum of 3ms", self.interval),
            );
        }
        if self.multiplier == 0 {
            problems.add("bfd.multiplier", "must be at least 1 (RFC 5880 §6.8.1)");
        }
    }

    /// The detection time of the sessions between members, when they run.
    pub fn member_detect_time(&self) -> Option<Duration> {
        self.sites
            .then(|| self.interval.get() * u32::from(self.multiplier))
    }
}

/// `type = "keyed-sha1"`: the operator's names of [`AuthKind`]. The
/// helper protocol serializes `AuthKind` itself, unchanged, so a helper
/// left by an older orbitd can still be adopted.
mod auth_kind_name {
    use serde::{de, Deserialize, Deserializer, Serializer};

    use crate::auth::AuthKind;

    pub fn serialize<S: Serializer>(kind: &AuthKind, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(kind.config_name())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<AuthKind, D::Error> {
        let name = String::deserialize(d)?;
        AuthKind::from_config_name(&name)
            .ok_or_else(|| de::Error::unknown_variant(&name, &AuthKind::CONFIG_NAMES))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_auth_type_reads_back_under_its_config_name() {
        for name in AuthKind::CONFIG_NAMES {
            let text = format!("[auth]\ntype = \"{name}\"\nkey_file = \"/k\"\n");
            let config: Config = toml::from_str(&text).expect("parses");
            let auth = config.auth.expect("auth");
            assert_eq!(auth.kind.config_name(), name);
            assert_eq!(auth.key_id, 1);
        }
        let err = toml::from_str::<Config>("[auth]\ntype = \"sha256\"\nkey_file = \"/k\"\n")
            .expect_err("unknown type");
        assert!(
            err.message().starts_with(
                "unknown variant `sha256`, expected one of `simple-password`, `keyed-md5`"
            ),
            "{err}"
        );
    }
}
