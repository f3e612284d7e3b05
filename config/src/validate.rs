//! Semantic checks of a parsed config. Each section checks itself (its
//! crate's `validate`, given a [`Scope`] to check references against);
//! what is checked here is what no one section can judge: the tables this
//! crate owns and the rules that span sections. Every problem is reported
//! with the TOML path of the value at fault, so an operator fixes them all
//! in one go.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ipnet::IpNet;
use orbit_core::config::{majority, Failback, HumanDuration, Problem, Problems, Scope};

use super::overlap::overlapping_pairs;
use super::schema::*;
use super::Config;

impl Config {
    /// Every semantic problem of this config; empty when it is good.
    pub fn validate(&self) -> Vec<Problem> {
        let mut r = Problems::default();
        let services = self.services();
        let scope = Scope {
            node: &self.node.site,
            sites: &self.sites,
            services: &services,
        };
        self.check_sites(&mut r);
        self.check_node(&mut r);
        check_api(&self.api, &mut r);
        self.journal.validate(&mut r);
        self.check_policy(&mut r);
        self.detect
            .validate(&scope, self.bfd.member_detect_time(), &mut r);
        self.check_services(&mut r);
        self.check_plans(&mut r);
        if let Some(bgp) = &self.bgp {
            bgp.validate(&scope, &mut r);
        }
        if let Some(haproxy) = &self.haproxy {
            haproxy.validate(&scope, &mut r);
        }
        if let Some(sdn) = &self.sdn {
            sdn.validate(&scope, &mut r);
        }
        if let Some(hook) = &self.hook {
            check_hook(hook, &mut r);
        }
        self.bfd.validate(&mut r);
        if self.bfd.sites {
            self.check_bfd_sites(&mut r);
        }
        self.check_bfd_helper_socket(&mut r);
        r.into_vec()
    }

    /// What works but leaves a door open: `check-config` and the start
    /// log name these, and the config is used all the same.
    pub fn warnings(&self) -> Vec<Problem> {
        let mut r = Problems::default();
        if self.bfd.sites && self.bfd.auth.is_none() {
            r.add(
                "bfd.sites",
                "the members' BFD sessions run without [bfd.auth]: they have no TTL check \
                 (multihop, RFC 5883 §5), so whoever sees their packets on the path between \
                 members can forge them, take a session down or keep a dead member's up; \
                 set [bfd.auth] (docs/bfd.md)",
            );
        }
        r.into_vec()
    }

    /// BFD toward BGP peers with graceful restart: the helper process that
    /// runs the sessions outlives a crashed orbitd and waits for the next
    /// one on a unix socket in the state directory, whose path must fit a
    /// socket address (`sun_path`: 108 bytes with the final NUL).
    fn check_bfd_helper_socket(&self, r: &mut Problems) {
        let Some(bgp) = &self.bgp else { return };
        if bgp.graceful_restart_time.get().is_zero() || !bgp.peers.iter().any(|p| p.bfd) {
            return;
        }
        let socket = self.node.state_dir.join("bfd-bgp.sock");
        let len = socket.as_os_str().len();
        if len > 107 {
            r.add(
                "node.state_dir",
                format!(
                    "{} is {len} bytes, too long for a unix socket (at most 107): BFD toward \
                     the BGP peers keeps its helper there across a restart; use a shorter \
                     state_dir",
                    socket.display()
                ),
            );
        }
    }

    /// Multihop sessions run between the members' gossip addresses and
    /// report through gossip.
    fn check_bfd_sites(&self, r: &mut Problems) {
        if !self.detect.gossip {
            r.add(
                "bfd.sites",
                "BFD verdicts travel in gossip; set [detect] gossip = true",
            );
        }
        let mut ips = BTreeMap::new();
        for (i, site) in self.sites.iter().enumerate() {
            let ip = site.gossip.ip();
            if ip.is_unspecified() {
                r.add(
                    format!("site[{i}].gossip"),
                    format!("{ip} is not an address BFD can run between (bfd.sites = true)"),
                );
            } else if let Some(first) = ips.insert(ip, i) {
                r.add(
                    format!("site[{i}].gossip"),
                    format!(
                        "{ip} is also site[{first}]'s gossip address: BFD sessions (bfd.sites = true) need one address per member"
                    ),
                );
            }
        }
    }

    fn check_sites(&self, r: &mut Problems) {
        if self.sites.is_empty() {
            r.add("site", "at least one [[site]] is required");
        }
        let mut ids = BTreeSet::new();
        let mut addrs = BTreeMap::new();
        for (i, site) in self.sites.iter().enumerate() {
            if !ids.insert(&site.id) {
                r.add(
                    format!("site[{i}].id"),
                    format!("duplicate site id {:?}", site.id.as_str()),
                );
            }
            if let Some(first) = addrs.insert(site.gossip, i) {
                r.add(
                    format!("site[{i}].gossip"),
                    format!(
                        "{} is already the gossip address of site[{first}]",
                        site.gossip
                    ),
                );
            }
        }
        // Every member gossips its verdict on every other member, and a
        // frame carries at most this many origins: beyond it, members would
        // refuse each other's digests and never agree on a death.
        let most = orbit_detect::wire::MAX_ORIGINS;
        if self.sites.len() > most {
            r.add(
                "site",
                format!(
                    "{} [[site]] members; the gossip carries at most {most}",
                    self.sites.len()
                ),
            );
        }
        self.check_site_membership(r);
        if !self.sites.is_empty() && self.sites.iter().all(|s| s.witness) {
            r.add(
                "site",
                "every [[site]] is a witness: at least one must carry services",
            );
        }
    }

    /// `[[site]] site = "..."`: members grouped into sites. A site is the
    /// set of members naming it (a member without `site` is a site of its
    /// own), so a site always has a member; what can go wrong is a name
    /// meaning two things, and a witness in a group.
    fn check_site_membership(&self, r: &mut Problems) {
        for (i, member) in self.sites.iter().enumerate() {
            let site = member.site_id();
            if member.witness && site != &member.id {
                r.add(
                    format!("site[{i}].site"),
                    format!(
                        "a witness is a site of its own and cannot belong to site {:?}; remove site",
                        site.as_str()
                    ),
                );
                continue;
            }
            if site == &member.id {
                continue;
            }
            match self.site(site) {
                Some(named) if named.witness => r.add(
                    format!("site[{i}].site"),
                    format!(
                        "{:?} is a witness: a witness has no other members",
                        site.as_str()
                    ),
                ),
                Some(named) if named.site_id() != site => r.add(
                    format!("site[{i}].site"),
                    format!(
                        "{:?} is the id of a member of site {:?}, not a site; name the site its members name",
                        site.as_str(),
                        named.site_id().as_str()
                    ),
                ),
                _ => {}
            }
            if let Some(other) = self
                .sites
                .iter()
                .position(|m| m.site_id() == &member.id && m.id != member.id)
            {
                r.add(
                    format!("site[{i}].id"),
                    format!(
                        "{:?} is also the name of the site site[{other}] belongs to, which this \
                         member is not part of (it belongs to {:?}); member ids and other sites' \
                         names must differ",
                        member.id.as_str(),
                        site.as_str()
                    ),
                );
            }
        }
    }

    fn check_node(&self, r: &mut Problems) {
        let node = &self.node;
        match self.site(&node.site) {
            None => r.add(
                "node.site",
                format!(
                    "unknown site {:?}; it must be one of the [[site]] ids",
                    node.site.as_str()
                ),
            ),
            Some(site) => match (node.role, site.witness) {
                (NodeRole::Site, true) => r.add(
                    "node.role",
                    format!(
                        "site {:?} is a witness: set role = \"witness\"",
                        site.id.as_str()
                    ),
                ),
                (NodeRole::Witness, false) => r.add(
                    "node.role",
                    format!(
                        "role is \"witness\" but site {:?} is not marked witness = true",
                        site.id.as_str()
                    ),
                ),
                _ => {}
            },
        }
        if node.role == NodeRole::Witness {
            for (present, table) in [
                (self.bgp.is_some(), "bgp"),
                (self.haproxy.is_some(), "haproxy"),
                (self.sdn.is_some(), "sdn"),
                (self.hook.is_some(), "hook"),
            ] {
                if present {
                    r.add(table, "a witness has no backends; remove this table");
                }
            }
        }
        if node.ready_timeout.get() > Duration::from_secs(600) {
            // The unit's TimeoutStartSec= must stay above it.
            r.add("node.ready_timeout", "at most 10m");
        }
        if node.api_tcp.is_some() && node.api_token_file.is_none() {
            r.add(
                "node.api_tcp",
                "a TCP API listener requires api_token_file (bearer token)",
            );
        }
        if node.api_token_file.is_some() && node.api_tcp.is_none() {
            r.add(
                "node.api_token_file",
                "only used with api_tcp, which is not set",
            );
        }
    }

    fn check_policy(&self, r: &mut Problems) {
        let p = &self.policy;
        // The quorum counts sites: the members of one site vote as one.
        let grouped = self
            .sites
            .iter()
            .any(|m| m.site.as_ref().is_some_and(|s| s != &m.id));
        let members = if grouped {
            orbit_core::config::site_ids(&self.sites).len()
        } else {
            self.sites.len()
        };
        let (noun, vote) = if grouped {
            ("sites", "sites (of [[site]] members) vote")
        } else {
            ("members", "[[site]] members vote")
        };
        match p.quorum {
            Some(0) => r.add("policy.quorum", "must be at least 1"),
            Some(q) if q > members => r.add(
                "policy.quorum",
                format!("{q} can never be reached: only {members} {vote}"),
            ),
            Some(q) if members > 1 && q < majority(members) => r.add(
                "policy.quorum",
                format!(
                    "{q} of {members} {noun} lets two disjoint partitions both reach quorum \
                     (split brain); use at least {}",
                    majority(members)
                ),
            ),
            None if members == 2 && grouped => r.add(
                "policy.quorum",
                "two sites without a witness: after the loss of either site the other has no \
                 majority and nothing fails over; add a witness [[site]] (witness = true)",
            ),
            None if members == 2 => r.add(
                "policy.quorum",
                "two members without a witness: after any single failure the survivor has no \
                 majority and nothing fails over; add a witness [[site]] (witness = true)",
            ),
            _ => {}
        }
        if p.failback == Failback::After && p.failback_after.get().is_zero() {
            r.add(
                "policy.failback_after",
                "must be above 0 (a recovered site must prove itself); use failback = \"manual\" \
                 to never fail back automatically",
            );
        }
        if p.drain_grace.get() > Duration::from_secs(600) {
            r.add("policy.drain_grace", "at most 10m");
        }
        if p.failover_hold.get() > Duration::from_secs(3600) {
            r.add("policy.failover_hold", "at most 1h");
        }
        if p.sync_timeout.get() > Duration::from_secs(600) {
            r.add("policy.sync_timeout", "at most 10m");
        }
        if p.shutdown_grace.get() > Duration::from_secs(600) {
            r.add("policy.shutdown_grace", "at most 10m");
        }
    }

    fn check_services(&self, r: &mut Problems) {
        if self.services.is_empty() && self.node.role == NodeRole::Site {
            r.add(
                "service",
                "no [[service]] defined: there is nothing to steer",
            );
        }
        let mut ids = BTreeSet::new();
        // Every prefix in file order, and where it was written.
        let (all, written_at): (Vec<IpNet>, Vec<(usize, usize)>) = self
            .services
            .iter()
            .enumerate()
            .flat_map(|(i, svc)| {
                svc.prefixes
                    .iter()
                    .enumerate()
                    .map(move |(j, p)| (*p, (i, j)))
            })
            .unzip();
        let mut overlaps = overlapping_pairs(&all).into_iter().peekable();
        let mut index = 0;
        for (i, svc) in self.services.iter().enumerate() {
            let base = format!("service[{i}]");
            if !ids.insert(&svc.id) {
                r.add(
                    format!("{base}.id"),
                    format!("duplicate service id {:?}", svc.id.as_str()),
                );
            }
            if svc.prefixes.is_empty() {
                r.add(
                    format!("{base}.prefixes"),
                    "at least one prefix is required",
                );
            }
            for (j, prefix) in svc.prefixes.iter().enumerate() {
                let path = format!("{base}.prefixes[{j}]");
                if prefix.addr() != prefix.network() {
                    r.add(
                        &path,
                        format!(
                            "{prefix} has host bits set; did you mean {}/{}?",
                            prefix.network(),
                            prefix.prefix_len()
                        ),
                    );
                }
                while let Some((_, earlier)) = overlaps.next_if(|&(later, _)| later == index) {
                    let (oi, oj) = written_at[earlier];
                    r.add(
                        &path,
                        format!(
                            "{prefix} overlaps {} at service[{oi}].prefixes[{oj}]",
                            all[earlier]
                        ),
                    );
                }
                index += 1;
            }
            if svc.sites.is_empty() {
                r.add(format!("{base}.sites"), "at least one site is required");
            }
            let mut listed = BTreeSet::new();
            for (j, site) in svc.sites.iter().enumerate() {
                let path = format!("{base}.sites[{j}]");
                // Services name sites, not members (`[[site]] site`).
                let named = self
                    .site(site)
                    .filter(|m| m.site_id() == site)
                    .or_else(|| self.sites.iter().find(|m| m.site_id() == site));
                match named {
                    None => match self.site(site) {
                        Some(member) => r.add(
                            &path,
                            format!(
                                "{:?} is a member of site {:?}: services name sites",
                                site.as_str(),
                                member.site_id().as_str()
                            ),
                        ),
                        None => r.add(&path, format!("unknown site {:?}", site.as_str())),
                    },
                    Some(s) if s.witness => r.add(
                        &path,
                        format!(
                            "site {:?} is a witness and cannot carry services",
                            site.as_str()
                        ),
                    ),
                    Some(_) => {}
                }
                if !listed.insert(site) {
                    r.add(&path, format!("site {:?} is listed twice", site.as_str()));
                }
            }
            if let Some(plan) = &svc.plan {
                if !self.plans.iter().any(|p| &p.id == plan) {
                    r.add(
                        format!("{base}.plan"),
                        format!(
                            "unknown plan {:?}; it must be one of the [[plan]] ids{}",
                            plan.as_str(),
                            plan_ids(&self.plans)
                        ),
                    );
                }
            }
            if let Some(h) = &svc.health {
                let mut found = Problems::default();
                h.validate(&mut found);
                r.extend_under(&format!("{base}.health"), found);
            }
        }
    }
}

/// " (a, b)", or " (there is none)": what a service may name.
fn plan_ids(plans: &[orbit_core::config::Plan]) -> String {
    if plans.is_empty() {
        " (there is none)".to_owned()
    } else {
        let ids: Vec<&str> = plans.iter().map(|p| p.id.as_str()).collect();
        format!(" ({})", ids.join(", "))
    }
}

impl Config {
    /// Each `[[plan]]` on its own, and their ids.
    fn check_plans(&self, r: &mut Problems) {
        let mut ids = BTreeSet::new();
        for (i, plan) in self.plans.iter().enumerate() {
            let base = format!("plan[{i}]");
            if !ids.insert(&plan.id) {
                r.add(
                    format!("{base}.id"),
                    format!("duplicate plan id {:?}", plan.id.as_str()),
                );
            }
            let mut found = Problems::default();
            plan.validate(&mut found);
            r.extend_under(&base, found);
        }
    }
}

/// The API's limits: each must leave the API usable and orbitd protected.
fn check_api(api: &Api, r: &mut Problems) {
    for (path, value, min, max) in [
        (
            "api.header_timeout",
            api.header_timeout,
            Duration::from_millis(100),
            Duration::from_secs(300),
        ),
        (
            "api.request_timeout",
            api.request_timeout,
            Duration::from_secs(1),
            Duration::from_secs(600),
        ),
    ] {
        if value.get() < min || value.get() > max {
            r.add(
                path,
                format!(
                    "{value} is outside {} to {}",
                    HumanDuration(min),
                    HumanDuration(max)
                ),
            );
        }
    }
    for (path, value) in [
        ("api.unix_connections", api.unix_connections),
        ("api.tcp_connections", api.tcp_connections),
    ] {
        if !(1..=65_536).contains(&value) {
            r.add(path, format!("{value} is outside 1 to 65536"));
        }
    }
    if let Some(mode) = &api.api_socket_mode {
        if let Err(message) = crate::schema::parse_socket_mode(mode) {
            r.add("api.api_socket_mode", message);
        }
    }
    // Whether the group exists is a fact of the machine, checked with the
    // files the config names (orbitd's referenced_files), not here.
    if let Some(group) = &api.api_socket_group {
        if group.is_empty() || group.contains([':', ' ', '\n', '/']) {
            r.add(
                "api.api_socket_group",
                format!("{group:?} is not a group name"),
            );
        }
    }
}

fn check_hook(h: &Hook, r: &mut Problems) {
    if h.command.is_none() && h.url.is_none() {
        r.add("hook", "set command, url or both");
    }
    if let Some(argv) = &h.command {
        if argv.first().is_none_or(|a| a.is_empty()) {
            r.add("hook.command", "needs a program to run");
        }
    }
    if let Some(url) = &h.url {
        if !url.starts_with("http://") {
            r.add("hook.url", format!("{url:?} must be an http:// URL"));
        }
    }
    if h.timeout.get().is_zero() {
        r.add("hook.timeout", "must be above 0");
    }
}
