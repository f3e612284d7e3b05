//! Steering -> the routes orbit announces (pure: no I/O).
//!
//! Per service, by the local site's role (DESIGN "Standby is pre-announced"):
//! - Active: `[bgp.active]` attributes; plus `[bgp.takeover]` marks when the
//!   steering says `takeover` (the dead site's route may still be held
//!   upstream, RFC 8326-style communities let the upstream switch at once).
//! - Standby: `[bgp.standby]` (prepend / MED / communities) or no route.
//! - Draining: the standby preference (or the active attributes with three
//!   prepends when standby withdraws) plus GRACEFUL_SHUTDOWN 65535:0
//!   (RFC 8326 §4) when `[bgp.drain] graceful_shutdown`.
//! - Withdrawn: no route.
//!
//! Safety rails: a steering that names a service or prefix that is not in
//! the configuration is refused whole (nothing changes); a fenced steering
//! announces nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use ipnet::IpNet;
use orbit_core::config::Service;

use crate::config::{BgpStandby, Config};
use orbit_core::{Role, ServiceId, Steering};

use crate::error::Error;
use crate::wire::GRACEFUL_SHUTDOWN;

/// What one prefix is announced with, before per-peer next hop and AS.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Announce {
    /// Extra copies of the local AS (AS_SEQUENCE prepend).
    pub prepend: u8,
    pub med: Option<u32>,
    pub communities: Vec<u32>,
    pub large_communities: Vec<[u32; 3]>,
    /// The role that produced it (for `observe`).
    pub role: Role,
}

/// The desired Adj-RIB-Out (same for every peer). A service's prefixes
/// share one `Announce`: at 100k prefixes a copy per prefix made this map
/// the daemon's largest allocation (issue 21).
pub type DesiredRib = BTreeMap<IpNet, Arc<Announce>>;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Marks {
    prepend: u8,
    med: Option<u32>,
    communities: Vec<u32>,
    large: Vec<[u32; 3]>,
}

/// The announce policy, built once from the configuration (compared on
/// reload: a different policy re-applies the last steering).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    active: Marks,
    standby: Option<Marks>,
    takeover: Marks,
    graceful_shutdown: bool,
    /// service -> configured prefixes: the only prefixes that can ever go out.
    allowed: BTreeMap<ServiceId, BTreeSet<IpNet>>,
}

impl Policy {
    pub fn new(bgp: &Config, services: &[Service]) -> Result<Policy, Error> {
        let active = marks(
            0,
            bgp.active.med,
            &bgp.active.communities,
            &bgp.active.large_communities,
            "bgp.active",
        )?;
        let standby = match &bgp.standby {
            BgpStandby::Withdraw(_) => None,
            BgpStandby::Announce(s) => Some(marks(
                s.prepend,
                s.med,
                &s.communities,
                &s.large_communities,
                "bgp.standby",
            )?),
        };
        let takeover = marks(
            0,
            None,
            &bgp.takeover.communities,
            &bgp.takeover.large_communities,
            "bgp.takeover",
        )?;
        let allowed = services
            .iter()
            .map(|s| (s.id.clone(), s.prefixes.iter().map(IpNet::trunc).collect()))
            .collect();
        Ok(Policy {
            active,
            standby,
            takeover,
            graceful_shutdown: bgp.drain.graceful_shutdown,
            allowed,
        })
    }

    /// The routes `steering` asks for, or an error naming the first service
    /// or prefix the configuration does not allow.
    pub fn desired(&self, steering: &Steering) -> Result<DesiredRib, Error> {
        let mut rib = DesiredRib::new();
        for (id, s) in &steering.services {
            let Some(allowed) = self.allowed.get(id) else {
                return Err(Error::Steering(format!(
                    "service {id} is not configured in [[service]]: refusing the whole steering"
                )));
            };
            for p in &s.prefixes {
                if !allowed.contains(&p.trunc()) {
                    return Err(Error::Steering(format!(
                        "prefix {p} of service {id} is not among its configured prefixes: refusing the whole steering"
                    )));
                }
            }
            if steering.fenced {
                // No quorum: claim nothing (DESIGN "No split brain").
                continue;
            }
            let announce = match s.local_role {
                Role::Active => {
                    let mut a = self.announce(&self.active, Role::Active);
                    if s.takeover {
                        a.communities.extend(&self.takeover.communities);
                        a.large_communities.extend(&self.takeover.large);
                    }
                    Some(a)
                }
                Role::Standby => self
                    .standby
                    .as_ref()
                    .map(|m| self.announce(m, Role::Standby)),
                Role::Draining => {
                    let mut a = match &self.standby {
                        Some(m) => self.announce(m, Role::Draining),
                        None => {
                            let mut a = self.announce(&self.active, Role::Draining);
                            a.prepend = 3;
                            a
                        }
                    };
                    if self.graceful_shutdown {
                        // RFC 8326 §4: GRACEFUL_SHUTDOWN 65535:0.
                        a.communities.push(GRACEFUL_SHUTDOWN);
                    }
                    Some(a)
                }
                Role::Withdrawn => None,
            };
            if let Some(mut a) = announce {
                a.communities.sort_unstable();
                a.communities.dedup();
                a.large_communities.sort_unstable();
                a.large_communities.dedup();
                let a = Arc::new(a);
                for p in &s.prefixes {
                    rib.insert(p.trunc(), Arc::clone(&a));
                }
            }
        }
        Ok(rib)
    }

    fn announce(&self, m: &Marks, role: Role) -> Announce {
        Announce {
            prepend: m.prepend,
            med: m.med,
            communities: m.communities.clone(),
            large_communities: m.large.clone(),
            role,
        }
    }
}

fn marks(
    prepend: u8,
    med: Option<u32>,
    communities: &[String],
    large: &[String],
    path: &str,
) -> Result<Marks, Error> {
    let communities = communities
        .iter()
        .enumerate()
        .map(|(i, c)| parse_community(c).ok_or_else(|| bad(path, "communities", i, c)))
        .collect::<Result<_, _>>()?;
    let large = large
        .iter()
        .enumerate()
        .map(|(i, c)| parse_large(c).ok_or_else(|| bad(path, "large_communities", i, c)))
        .collect::<Result<_, _>>()?;
    Ok(Marks {
        prepend,
        med,
        communities,
        large,
    })
}

fn bad(path: &str, field: &str, i: usize, c: &str) -> Error {
    Error::Config(format!(
        "{path}.{field}[{i}]: {c:?} is not a valid community"
    ))
}

/// `"65535:0"` -> `0xFFFF0000` (RFC 1997).
pub fn parse_community(s: &str) -> Option<u32> {
    let (a, b) = s.split_once(':')?;
    Some((u32::from(a.parse::<u16>().ok()?) << 16) | u32::from(b.parse::<u16>().ok()?))
}

/// `"64500:1:2"` -> `[64500, 1, 2]` (RFC 8092).
pub fn parse_large(s: &str) -> Option<[u32; 3]> {
    let mut it = s.split(':').map(|p| p.parse::<u32>().ok());
    let v = [it.next()??, it.next()??, it.next()??];
    it.next().is_none().then_some(v)
}

#[cfg(test)]
mod tests;
