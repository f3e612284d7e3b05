//! A member's config fingerprint: what it gossips so that the others can
//! tell whether they all run the same cluster-wide config.
//!
//! Every engine decides alone from its own config, so members whose
//! configs disagree on a service, a site or a policy value decide
//! differently without anybody noticing (a service added on one member only
//! is carried by it while the others do not know it). `orbit-config`
//! computes the digests (`Config::fingerprint`); this type carries them and
//! says when two members disagree.
//!
//! Two digests, because a witness carries no services and need not list
//! them: `cluster` (members, policy, fencing timers) must agree between all
//! members, `services` between the members that carry services.

use serde::{Deserialize, Serialize};

/// SHA-256 digests, lower-case hex, of the parts of a member's config that
/// must agree across members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigFingerprint {
    /// `[[site]]` ids and roles, the `[policy]` values every engine
    /// decides with, and the fencing timers.
    pub cluster: String,
    /// Every `[[service]]`: id, prefixes, sites in priority order. Absent
    /// at a witness, which carries no services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<String>,
}

/// Hex digits of a digest shown to operators: enough to tell two configs
/// apart at a glance.
pub const SHORT_HEX_DIGITS: usize = 8;

impl ConfigFingerprint {
    /// Whether the two members' configs disagree: always on the cluster
    /// part, on the services only where both carry services.
    pub fn differs_from(&self, other: &ConfigFingerprint) -> bool {
        if self.cluster != other.cluster {
            return true;
        }
        match (&self.services, &other.services) {
            (Some(mine), Some(theirs)) => mine != theirs,
            _ => false,
        }
    }

    /// A digest as it arrived from a peer is shown, labelled and compared
    /// only if it is one: 64 lower-case hex digits in each part.
    pub fn is_well_formed(&self) -> bool {
        let digest = |d: &str| {
            d.len() == 64
                && d.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        };
        digest(&self.cluster) && self.services.as_deref().is_none_or(digest)
    }

    /// `91c0aa12/3f2a77b0` (cluster / services), `91c0aa12/-` at a witness.
    pub fn short(&self) -> String {
        let short = |d: &str| d.chars().take(SHORT_HEX_DIGITS).collect::<String>();
        format!(
            "{}/{}",
            short(&self.cluster),
            self.services.as_deref().map_or("-".to_owned(), short)
        )
    }
}

impl std::fmt::Display for ConfigFingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.short())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(cluster: char, services: Option<char>) -> ConfigFingerprint {
        ConfigFingerprint {
            cluster: cluster.to_string().repeat(64),
            services: services.map(|s| s.to_string().repeat(64)),
        }
    }

    #[test]
    fn the_cluster_part_is_always_compared_the_services_only_between_sites() {
        assert!(!fp('a', Some('b')).differs_from(&fp('a', Some('b'))));
        assert!(fp('a', Some('b')).differs_from(&fp('a', Some('c'))));
        assert!(fp('a', Some('b')).differs_from(&fp('d', Some('b'))));
        // A witness lists no services: only its cluster part counts.
        assert!(!fp('a', Some('b')).differs_from(&fp('a', None)));
        assert!(!fp('a', None).differs_from(&fp('a', Some('b'))));
        assert!(fp('a', None).differs_from(&fp('d', Some('b'))));
    }

    #[test]
    fn only_hex_digests_are_well_formed_and_the_short_form_shows_both_parts() {
        assert!(fp('a', Some('0')).is_well_formed());
        assert!(fp('f', None).is_well_formed());
        assert!(!fp('g', None).is_well_formed());
        assert!(!fp('A', None).is_well_formed());
        assert!(!fp('a', Some('\u{1b}')).is_well_formed());
        let mut short = fp('a', None);
        short.cluster.truncate(8);
        assert!(!short.is_well_formed());
        assert_eq!(fp('a', Some('b')).short(), "aaaaaaaa/bbbbbbbb");
        assert_eq!(fp('a', None).short(), "aaaaaaaa/-");
    }
}
