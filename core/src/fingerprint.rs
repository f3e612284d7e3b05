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

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::SiteId;

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

/// The members whose config differs from `local`'s, by the fingerprints
/// heard (members not heard from count as agreeing: nothing is known).
/// A member without a services part (a witness that lists none) cannot
/// say which of two members that disagree on the services is wrong: it
/// names every member whose services differ from another's.
pub fn mismatched(
    local: &SiteId,
    fingerprints: &BTreeMap<SiteId, ConfigFingerprint>,
) -> Vec<SiteId> {
    let Some(mine) = fingerprints.get(local) else {
        return Vec::new();
    };
    let services_disputed = |theirs: &ConfigFingerprint| {
        mine.services.is_none()
            && theirs.services.is_some()
            && fingerprints
                .values()
                .any(|other| other.services.is_some() && other.services != theirs.services)
    };
    fingerprints
        .iter()
        .filter(|(site, theirs)| {
            *site != local && (theirs.differs_from(mine) || services_disputed(theirs))
        })
        .map(|(site, _)| site.clone())
        .collect()
}

/// The warning an operator reads (status, journal, log) while members'
/// configs differ: who has what, and what to do.
pub fn mismatch_warning(
    local: &SiteId,
    fingerprints: &BTreeMap<SiteId, ConfigFingerprint>,
    mismatched: &[SiteId],
) -> String {
    let has = |site: &SiteId, here: &str| {
        fingerprints
            .get(site)
            .map(|fp| format!("{site}{here} has {fp}"))
    };
    let mut who: Vec<String> = mismatched.iter().filter_map(|s| has(s, "")).collect();
    who.extend(has(local, " (here)"));
    format!(
        "config differs between members: {}; the [[site]], [[service]] and [policy] sections \
         (and the fencing timers) must agree: compare what `orbitd check-config FILE` prints \
         at each member, fix the wrong file and reload it (SIGHUP)",
        who.join(", ")
    )
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
    fn the_warning_names_each_differing_member_and_this_one() {
        let site = |s: &str| s.parse::<SiteId>().unwrap();
        let all: BTreeMap<SiteId, ConfigFingerprint> = [
            (site("a"), fp('a', Some('b'))),
            (site("b"), fp('a', Some('c'))),
            (site("w"), fp('a', None)),
        ]
        .into();
        let odd = mismatched(&site("a"), &all);
        assert_eq!(odd, [site("b")]);
        assert_eq!(mismatched(&site("b"), &all), [site("a")]);
        // The witness sees a and b disagree and cannot tell who is right.
        assert_eq!(mismatched(&site("w"), &all), [site("a"), site("b")]);
        let mut agreeing = all.clone();
        agreeing.insert(site("b"), fp('a', Some('b')));
        assert!(mismatched(&site("w"), &agreeing).is_empty());
        assert!(mismatched(&site("a"), &agreeing).is_empty());
        agreeing.insert(site("w"), fp('e', None));
        assert_eq!(mismatched(&site("a"), &agreeing), [site("w")]);
        assert_eq!(mismatched(&site("w"), &agreeing), [site("a"), site("b")]);
        let warning = mismatch_warning(&site("a"), &all, &odd);
        assert!(
            warning.starts_with(
                "config differs between members: b has aaaaaaaa/cccccccc, a (here) has \
                 aaaaaaaa/bbbbbbbb; "
            ),
            "{warning}"
        );
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
