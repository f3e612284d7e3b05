//! Typed configuration of `orbitd`, validated before anything opens a socket.
//!
//! [`Config::parse`] turns TOML into the schema, naming every unknown key and
//! every value of the wrong type with its TOML path (`read.rs`);
//! [`Config::validate`] reports every semantic problem; and
//! [`Config::parse_checked`] lists both, with the problems of the files the
//! config names (checked by `orbitd`, which knows what each file must hold),
//! in one go.

mod duration;
mod read;
mod schema;
mod validate;

use std::path::Path;

pub use duration::HumanDuration;
pub use schema::*;
pub use validate::Problem;

use crate::error::Error;
use crate::ids::SiteId;

impl Config {
    /// Parses TOML text; `origin` names the source in errors. The error
    /// lists every unknown key, value of the wrong type and missing
    /// required key, or the one syntax error with its line and column.
    pub fn parse(text: &str, origin: &str) -> Result<Config, Error> {
        let read = read::read(text).map_err(|e| syntax_error(origin, &e))?;
        match read.config {
            Some(config) if read.problems.is_empty() => Ok(config),
            _ => Err(Error::InvalidConfig {
                path: origin.to_owned(),
                problems: read.problems,
                // Only structure was asked for, and all of it was read.
                complete: true,
            }),
        }
    }

    /// Parses and validates; the error lists every problem.
    pub fn parse_valid(text: &str, origin: &str) -> Result<Config, Error> {
        Config::parse_checked(text, origin, |_| Vec::new())
    }

    /// Parses, validates, and runs `more`: checks that need the world
    /// outside the text, such as the files the config names. The error
    /// lists the problems of all three at once, so an operator fixes
    /// everything in one round.
    pub fn parse_checked(
        text: &str,
        origin: &str,
        more: impl FnOnce(&Config) -> Vec<Problem>,
    ) -> Result<Config, Error> {
        let read = read::read(text).map_err(|e| syntax_error(origin, &e))?;
        let mut problems = read.problems.clone();
        if let (Some(config), true) = (&read.config, read.checkable) {
            let mut found = config.validate();
            found.extend(more(config));
            found.retain(|p| !read.may_judge_a_default(&p.path));
            problems.extend(found);
        }
        match read.config {
            Some(config) if problems.is_empty() => Ok(config),
            _ => Err(Error::InvalidConfig {
                path: origin.to_owned(),
                problems,
                complete: read.checkable,
            }),
        }
    }

    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, Error> {
        Config::load_checked(path, |_| Vec::new())
    }

    /// Reads a config file and checks it like [`Config::parse_checked`].
    pub fn load_checked(
        path: &Path,
        more: impl FnOnce(&Config) -> Vec<Problem>,
    ) -> Result<Config, Error> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| Error::ReadConfig {
            path: origin.clone(),
            source,
        })?;
        Config::parse_checked(&text, &origin, more)
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

fn syntax_error(origin: &str, error: &toml::de::Error) -> Error {
    Error::ParseConfig {
        path: origin.to_owned(),
        message: error.to_string().trim_end().to_owned(),
    }
}

/// The smallest number of members that no other disjoint group can match.
pub fn majority(members: usize) -> usize {
    members / 2 + 1
}

#[cfg(test)]
mod tests;
