//! Typed configuration of `orbitd`, validated before anything opens a socket.
//!
//! [`Config::parse`] turns TOML into the schema (a typo or a wrong type is an
//! error naming the key); [`Config::validate`] then reports every semantic
//! problem at once, each with its TOML path.

mod duration;
mod schema;
mod validate;

use std::path::Path;

pub use duration::HumanDuration;
pub use schema::*;
pub use validate::Problem;

use crate::error::Error;
use crate::ids::SiteId;

impl Config {
    /// Parses TOML text; `origin` names the source in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, Error> {
        toml::from_str(text).map_err(|e| Error::ParseConfig {
            path: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })
    }

    /// Parses and validates; the error lists every problem.
    pub fn parse_valid(text: &str, origin: &str) -> Result<Config, Error> {
        let config = Config::parse(text, origin)?;
        let problems = config.validate();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(Error::InvalidConfig {
                path: origin.to_owned(),
                problems,
            })
        }
    }

    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, Error> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadConfig {
            path: origin.clone(),
            source,
        })?;
        Config::parse_valid(&text, &origin)
    }

    /// The fencing timers after defaults (see [`FenceTimers`]).
    pub fn fence_timers(&self) -> FenceTimers {
        let t = self.detect.timers();
        let bfd_detect = self
            .bfd
            .sites
            .then(|| self.bfd.interval.get() * u32::from(self.bfd.multiplier));
        let (fence_after, margin) = match bfd_detect {
            // A BFD session that is Up proves the path within one detection
            // time, far more often than gossip packets arrive: silence can
            // be judged on that scale. The margin covers the two ends
            // noticing one transmit interval apart plus scheduling jitter.
            Some(detect) => (detect, detect),
            // Gossip packets from a live member arrive several times per
            // probe interval (pings, acks, the state push): a member silent
            // for a suspicion time is gone, not unlucky. The shorter the
            // window between fencing and the earliest dead vote, the fewer
            // short flaps fence a site without anyone taking over.
            None => (t.suspect_after.get(), t.probe_interval.get()),
        };
        FenceTimers {
            fence_after: self
                .detect
                .fence_after
                .unwrap_or(HumanDuration(fence_after)),
            margin: self.detect.fence_margin.unwrap_or(HumanDuration(margin)),
            bfd_detect,
        }
    }

    /// Every quorum member: the sites and the witnesses.
    pub fn members(&self) -> impl Iterator<Item = &SiteId> {
        self.sites.iter().map(|s| &s.id)
    }

    /// How many members must agree: the configured quorum or a majority.
    pub fn quorum(&self) -> usize {
        self.policy
            .quorum
            .unwrap_or_else(|| majority(self.sites.len()))
    }

    pub fn site(&self, id: &SiteId) -> Option<&Site> {
        self.sites.iter().find(|s| &s.id == id)
    }

    pub fn is_witness(&self, id: &SiteId) -> bool {
        self.site(id).is_some_and(|s| s.witness)
    }
}

/// The smallest number of members that no other disjoint group can match.
pub fn majority(members: usize) -> usize {
    members / 2 + 1
}

#[cfg(test)]
mod tests;
