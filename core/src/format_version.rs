//! Format versions of what members exchange and keep: the gossip envelope,
//! the gossip state message, the state file.
//!
//! The upgrade policy (docs/deploy.md, "Upgrades") is that a member of
//! release N interoperates with release N-1 in gossip and reads N-1's state
//! file and journal, so that a rolling upgrade never needs the whole cluster
//! on one release. An exact version match cannot give that: the first
//! upgraded member would drop every packet of the others. So each format
//! names the one version a build *writes* and the range it *reads*:
//!
//! - a change that only adds a field keeps the version: decoders ignore
//!   unknown fields (checked by the v1 test vectors), and a new field must
//!   have a default for the messages of older members that lack it;
//! - an incompatible change takes two releases: release R learns to read
//!   version V+1 (`reads` grows to `..=V+1`) but still writes V, so the
//!   members of R-1 it gossips with understand it; release R+1 writes V+1,
//!   and every member it meets (R or R+1) reads that. `reads` keeps its
//!   lower end until no supported release writes that version any more;
//! - the test vectors of every version still read stay in the tree
//!   (`detect/tests/vectors/v1/`, `daemon/tests/vectors/v1/`): a build
//!   must pass all of them.

use std::ops::RangeInclusive;

/// The versions of one format this build writes and reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatVersions {
    /// What the version numbers, e.g. "state message".
    pub format: &'static str,
    /// The version this build writes.
    pub writes: u32,
    /// The versions this build reads; always contains `writes`.
    pub reads: RangeInclusive<u32>,
}

impl FormatVersions {
    /// Whether a message or file of version `got` can be read.
    pub fn check(&self, got: u32) -> Result<(), UnsupportedVersion> {
        if self.reads.contains(&got) {
            return Ok(());
        }
        Err(UnsupportedVersion {
            format: self.format,
            got,
            oldest: *self.reads.start(),
            newest: *self.reads.end(),
        })
    }
}

/// A version outside the range this build reads: the message names both
/// and which side to upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "{format} version {got} is not supported: this build reads versions {oldest} to {newest}; {advice}",
    advice = if self.got > self.newest {
        "the writer is newer than one release ahead: upgrade this member"
    } else {
        "the writer is older than one release behind: upgrade it first"
    }
)]
pub struct UnsupportedVersion {
    pub format: &'static str,
    pub got: u32,
    pub oldest: u32,
    pub newest: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: FormatVersions = FormatVersions {
        format: "state message",
        writes: 2,
        reads: 2..=3,
    };

    #[test]
    fn reads_the_range_and_names_both_versions_outside_it() {
        assert_eq!(STATE.check(2), Ok(()));
        assert_eq!(STATE.check(3), Ok(()));
        let newer = STATE.check(4).unwrap_err().to_string();
        assert_eq!(
            newer,
            "state message version 4 is not supported: this build reads versions 2 to 3; \
             the writer is newer than one release ahead: upgrade this member"
        );
        let older = STATE.check(1).unwrap_err().to_string();
        assert!(
            older.contains("version 1 is not supported") && older.contains("upgrade it first"),
            "{older}"
        );
    }
}
