//! One difference between two configs, as `orbitctl reload`, the log and
//! the journal show it: `service web: prefixes +198.51.100.0/24`,
//! `policy.failback_after: 30s -> 1m`, `bgp neighbor 10.0.0.2 added`.
//! `orbit-config` computes them; this is only their shape, shared by
//! orbitd and orbitctl.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One thing a new config changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigChange {
    /// What changed: a section (`policy`, `bgp`) or a named entry
    /// (`service web`, `site b`, `bgp neighbor 10.0.0.2`).
    pub subject: String,
    /// Where inside the subject, dotted (`failback_after`,
    /// `health.interval`); absent when the whole subject was added or
    /// removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(flatten)]
    pub delta: Delta,
}

/// How it changed. Values are written as in `orbit.toml`, without quotes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Delta {
    Added,
    Removed,
    /// A value set, changed or unset (`None`: not set).
    Set {
        old: Option<String>,
        new: Option<String>,
    },
    /// Members of a list whose order does not matter (prefixes,
    /// communities, address families).
    Members {
        added: Vec<String>,
        removed: Vec<String>,
    },
}

impl ConfigChange {
    /// A named entry (`service web`) reads `service web: key ...`; a
    /// section (`policy`) reads as the TOML path `policy.key: ...`.
    fn named(&self) -> bool {
        self.subject.contains(' ')
    }
}

impl fmt::Display for ConfigChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.key, self.named()) {
            (None, _) => f.write_str(&self.subject)?,
            (Some(key), true) => write!(f, "{}: {key}", self.subject)?,
            (Some(key), false) => write!(f, "{}.{key}:", self.subject)?,
        }
        let unset = |v: &Option<String>| v.clone().unwrap_or_else(|| "unset".to_owned());
        match &self.delta {
            Delta::Added => f.write_str(" added"),
            Delta::Removed => f.write_str(" removed"),
            Delta::Set { old, new } => write!(f, " {} -> {}", unset(old), unset(new)),
            Delta::Members { added, removed } => {
                let signed = added
                    .iter()
                    .map(|a| format!("+{a}"))
                    .chain(removed.iter().map(|r| format!("-{r}")));
                for member in signed {
                    write!(f, " {member}")?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(subject: &str, key: Option<&str>, delta: Delta) -> String {
        ConfigChange {
            subject: subject.to_owned(),
            key: key.map(str::to_owned),
            delta,
        }
        .to_string()
    }

    #[test]
    fn sections_read_as_toml_paths_and_entries_by_name() {
        let set = |old: Option<&str>, new: &str| Delta::Set {
            old: old.map(str::to_owned),
            new: Some(new.to_owned()),
        };
        assert_eq!(
            change("policy", Some("failback_after"), set(Some("30s"), "1m")),
            "policy.failback_after: 30s -> 1m"
        );
        assert_eq!(
            change("policy", Some("quorum"), set(None, "2")),
            "policy.quorum: unset -> 2"
        );
        assert_eq!(
            change("bgp neighbor 10.0.0.2", None, Delta::Added),
            "bgp neighbor 10.0.0.2 added"
        );
        assert_eq!(
            change(
                "service web",
                Some("prefixes"),
                Delta::Members {
                    added: vec!["198.51.100.0/24".to_owned()],
                    removed: vec!["192.0.2.1/32".to_owned()],
                }
            ),
            "service web: prefixes +198.51.100.0/24 -192.0.2.1/32"
        );
    }
}
