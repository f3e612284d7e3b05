//! orbit-config: `orbit.toml`, the typed configuration of `orbitd`,
//! validated before anything opens a socket.
//!
//! Each crate owns its section and checks it: `[[site]]`, `[policy]` and a
//! service's steering part are `orbit_core::config`'s; `[detect]` and the
//! health checks `orbit_detect::Config`'s; `[bgp]` `orbit_bgp::Config`'s,
//! `[sdn]` `orbit_sdn::Config`'s, `[haproxy]` `orbit_haproxy::Config`'s,
//! `[bfd]` `orbit_bfd::config::Config`'s. This crate composes them into the
//! file ([`Config`]), owns the tables no other crate does (`[node]`,
//! `[api]`, `[hook]`, `[journal]`), runs the checks that span sections, and reads the
//! file listing every problem with its TOML path.
//!
//! [`Config::parse`] turns TOML into the schema, naming every unknown key and
//! every value of the wrong type with its TOML path (`read.rs`);
//! [`Config::validate`] reports every semantic problem; and
//! [`Config::parse_checked`] lists both, with the problems of the files the
//! config names (checked by `orbitd`, which knows what each file must hold),
//! in one go.

mod diff;
mod error;
mod fingerprint;
mod journal;
mod overlap;
mod read;
pub mod reference;
mod schema;
mod validate;

use std::path::Path;

pub use error::Error;
pub use journal::{ByteSize, JournalConfig, MAX_JOURNAL_KEEP, MIN_JOURNAL_BYTES};
pub use orbit_core::config::{HumanDuration, Problem};
pub use schema::*;

use orbit_core::config::{Service, Site};
use orbit_core::{Engine, ServiceId, SiteId};
use orbit_detect::{Cluster, FenceTimers, HealthCheck};

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

    /// The fencing timers after defaults (see [`FenceTimers`]): the
    /// detection timers', shortened by BFD between the members.
    pub fn fence_timers(&self) -> FenceTimers {
        self.detect.fence_timers(self.bfd.member_detect_time())
    }

    /// The services as the engine and the backends see them.
    pub fn services(&self) -> Vec<Service> {
        self.services.iter().map(ServiceEntry::service).collect()
    }

    /// The local health checks: every service's `health`, none on a
    /// witness (which carries no services).
    pub fn health_checks(&self) -> Vec<(ServiceId, HealthCheck)> {
        if self.is_witness(&self.node.site) {
            return Vec::new();
        }
        orbit_detect::config::health_checks(&self.services)
    }

    /// Who this member is among whom, for the detectors.
    pub fn cluster(&self) -> Cluster {
        Cluster {
            local: self.node.site.clone(),
            sites: self.sites.clone(),
            quorum: self.quorum(),
            fence: self.fence_timers(),
        }
    }

    /// The decision engine for this config: node, sites, services and
    /// policy, and the fencing margin as the quiet time before a peer's
    /// tables are trusted again.
    pub fn engine(&self) -> Engine {
        Engine::new(
            &self.node.site,
            &self.sites,
            &self.services(),
            &self.policy,
            self.fence_timers().margin.get(),
        )
        .with_plans(&self.plans)
    }

    /// Every quorum member: the sites and the witnesses.
    pub fn members(&self) -> impl Iterator<Item = &SiteId> {
        self.sites.iter().map(|s| &s.id)
    }

    /// How many members must agree: the configured quorum or a majority.
    pub fn quorum(&self) -> usize {
        // The quorum counts sites: the members of one site count once.
        self.policy
            .quorum(orbit_core::config::site_ids(&self.sites).len())
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

#[cfg(test)]
mod tests;
