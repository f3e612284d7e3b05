//! Semantic checks of a parsed config. Every problem is reported with the
//! TOML path of the value at fault, so an operator fixes them all in one go.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use ipnet::IpNet;
use serde::Serialize;

use super::schema::*;
use super::{majority, Config, HumanDuration};

/// One thing wrong with a config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// TOML path, e.g. `service[1].sites[0]`.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Collects problems while walking the config.
#[derive(Default)]
struct Report(Vec<Problem>);

impl Report {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }
}

/// Gossip and health timers below this are not meaningful on a real network.
const MIN_TIMER: Duration = Duration::from_millis(10);

impl Config {
    /// Every semantic problem of this config; empty when it is good.
    pub fn validate(&self) -> Vec<Problem> {
        let mut r = Report::default();
        self.check_sites(&mut r);
        self.check_node(&mut r);
        check_api(&self.api, &mut r);
        self.check_policy(&mut r);
        self.check_detect(&mut r);
        self.check_services(&mut r);
        if let Some(bgp) = &self.bgp {
            check_bgp(bgp, &mut r);
            self.check_bgp_next_hop_v6(bgp, &mut r);
        }
        if let Some(haproxy) = &self.haproxy {
            self.check_haproxy(haproxy, &mut r);
        }
        if let Some(sdn) = &self.sdn {
            self.check_sdn(sdn, &mut r);
        }
        if let Some(hook) = &self.hook {
            check_hook(hook, &mut r);
        }
        if self.bfd.interval.get() < Duration::from_millis(3) {
            r.add(
                "bfd.interval",
                format!("{} is below the minimum of 3ms", self.bfd.interval),
            );
        }
        if self.bfd.multiplier == 0 {
            r.add("bfd.multiplier", "must be at least 1 (RFC 5880 §6.8.1)");
        }
        if self.bfd.sites {
            self.check_bfd_sites(&mut r);
        }
        self.check_bfd_helper_socket(&mut r);
        r.0
    }

    /// What works but leaves a door open: `check-config` and the start
    /// log name these, and the config is used all the same.
    pub fn warnings(&self) -> Vec<Problem> {
        let mut r = Report::default();
        if self.bfd.sites && self.bfd.auth.is_none() {
            r.add(
                "bfd.sites",
                "the members' BFD sessions run without [bfd.auth]: they have no TTL check \
                 (multihop, RFC 5883 §5), so whoever sees their packets on the path between \
                 members can forge them, take a session down or keep a dead member's up; \
                 set [bfd.auth] (docs/bfd.md)",
            );
        }
        r.0
    }

    /// BFD toward BGP peers with graceful restart: the helper process that
    /// runs the sessions outlives a crashed orbitd and waits for the next
    /// one on a unix socket in the state directory, whose path must fit a
    /// socket address (`sun_path`: 108 bytes with the final NUL).
    fn check_bfd_helper_socket(&self, r: &mut Report) {
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
    fn check_bfd_sites(&self, r: &mut Report) {
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

    fn check_sites(&self, r: &mut Report) {
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
        if !self.sites.is_empty() && self.sites.iter().all(|s| s.witness) {
            r.add(
                "site",
                "every [[site]] is a witness: at least one must carry services",
            );
        }
    }

    fn check_node(&self, r: &mut Report) {
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

    fn check_policy(&self, r: &mut Report) {
        let p = &self.policy;
        let members = self.sites.len();
        match p.quorum {
            Some(0) => r.add("policy.quorum", "must be at least 1"),
            Some(q) if q > members => r.add(
                "policy.quorum",
                format!("{q} can never be reached: only {members} [[site]] members vote"),
            ),
            Some(q) if members > 1 && q < majority(members) => r.add(
                "policy.quorum",
                format!(
                    "{q} of {members} members lets two disjoint partitions both reach quorum \
                     (split brain); use at least {}",
                    majority(members)
                ),
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

    /// The fence-before-takeover timing (see `FenceTimers`).
    fn check_fencing(&self, r: &mut Report) {
        let t = self.detect.timers();
        let f = self.fence_timers();
        // The shortest silence that is not just lost packets: two probe
        // intervals of gossip, or one BFD detection time.
        let floor = f
            .bfd_detect
            .unwrap_or(t.probe_interval.get() * 2)
            .max(MIN_TIMER);
        // Derived defaults are as sane as the timers they come from, which
        // are checked on their own: only values an operator set are judged.
        if self.detect.fence_after.is_some() && f.fence_after.get() < floor {
            r.add(
                "detect.fence_after",
                format!(
                    "{} is shorter than {} ({}): a member would fence itself over a few lost packets",
                    f.fence_after,
                    if f.bfd_detect.is_some() {
                        "the member BFD detection time"
                    } else {
                        "two probe intervals"
                    },
                    humantime::format_duration(floor)
                ),
            );
        }
        if self.detect.fence_margin.is_some() && f.margin.get() < MIN_TIMER {
            r.add(
                "detect.fence_margin",
                format!(
                    "{} is below the minimum of 10ms: a cut-off site might still claim its \
                     services when the majority takes them over",
                    f.margin
                ),
            );
        }
        if f.dead_after() > Duration::from_secs(600) {
            r.add(
                "detect.fence_after",
                "fence_after + fence_margin must be at most 10m",
            );
        }
    }

    fn check_detect(&self, r: &mut Report) {
        let d = &self.detect;
        // Gossip starts, and reads the key, even when this is the only
        // [[site]]: without one, orbitd would pass this check and then
        // fail to start.
        if d.gossip && d.key_file.is_none() {
            r.add(
                "detect.key_file",
                "required with gossip: every gossip packet is authenticated with this shared key \
                 (or set gossip = false and feed liveness from Serf or POST /v1/events)",
            );
        }
        if !d.gossip && !d.links.is_empty() {
            r.add(
                "detect.links",
                "the link watch reports through gossip; set gossip = true",
            );
        }
        let t = self.detect.timers();
        if t.probe_interval.get() < MIN_TIMER {
            r.add(
                "detect.probe_interval",
                format!("{} is below the minimum of 10ms", t.probe_interval),
            );
        }
        if t.probe_timeout.get() < MIN_TIMER {
            r.add(
                "detect.probe_timeout",
                format!("{} is below the minimum of 10ms", t.probe_timeout),
            );
        }
        if t.probe_timeout >= t.probe_interval {
            r.add(
                "detect.probe_timeout",
                format!(
                    "{} must be shorter than probe_interval ({})",
                    t.probe_timeout, t.probe_interval
                ),
            );
        }
        if t.suspect_after < t.probe_timeout {
            r.add(
                "detect.suspect_after",
                format!(
                    "{} is shorter than probe_timeout ({}): every slow ack would be a suspicion",
                    t.suspect_after, t.probe_timeout
                ),
            );
        }
        if t.indirect_probes > 16 {
            r.add("detect.indirect_probes", "at most 16");
        }
        self.check_fencing(r);
        for (iface, sites) in &self.detect.links {
            let path = format!("detect.links.{iface}");
            // IFNAMSIZ is 16 with the NUL.
            if iface.is_empty() || iface.len() > 15 || iface.contains('/') {
                r.add(
                    path.clone(),
                    "not a Linux interface name (1-15 characters, no '/')",
                );
            }
            if sites.is_empty() {
                r.add(path.clone(), "lists no site");
            }
            for site in sites {
                if self.site(site).is_none() {
                    r.add(path.clone(), format!("no [[site]] with id {site:?}"));
                } else if *site == self.node.site {
                    r.add(path.clone(), "lists the local site");
                }
            }
        }
        for site in self.detect.probe.keys() {
            match self.site(site) {
                None => r.add(
                    format!("detect.probe.{site}"),
                    format!("no [[site]] with id {site:?}"),
                ),
                Some(s) if s.witness => r.add(
                    format!("detect.probe.{site}"),
                    "a witness has no data plane to probe",
                ),
                Some(_) => {}
            }
        }
    }

    fn check_services(&self, r: &mut Report) {
        if self.services.is_empty() && self.node.role == NodeRole::Site {
            r.add(
                "service",
                "no [[service]] defined: there is nothing to steer",
            );
        }
        let mut ids = BTreeSet::new();
        let mut seen: Vec<(IpNet, String)> = Vec::new();
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
                for (other, other_path) in &seen {
                    if other.contains(prefix) || prefix.contains(other) {
                        r.add(&path, format!("{prefix} overlaps {other} at {other_path}"));
                    }
                }
                seen.push((*prefix, path));
            }
            if svc.sites.is_empty() {
                r.add(format!("{base}.sites"), "at least one site is required");
            }
            let mut listed = BTreeSet::new();
            for (j, site) in svc.sites.iter().enumerate() {
                let path = format!("{base}.sites[{j}]");
                match self.site(site) {
                    None => r.add(&path, format!("unknown site {:?}", site.as_str())),
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
            if let Some(h) = &svc.health {
                check_health(h, &format!("{base}.health"), r);
            }
        }
    }

    /// IPv6 prefixes over an IPv4 session need an IPv6 next hop, and the
    /// session has no IPv6 address to default to: an IPv4-mapped next hop
    /// (RFC 4291 §2.5.5.2) is refused by routers (bird2: "mismatched
    /// address family"), so orbit would announce nothing the router keeps.
    fn check_bgp_next_hop_v6(&self, b: &Bgp, r: &mut Report) {
        if b.next_hop_v6.is_some() {
            return;
        }
        let Some(v6) = self
            .services
            .iter()
            .flat_map(|s| s.prefixes.iter().map(move |p| (s, p)))
            .find(|(_, p)| matches!(p, IpNet::V6(_)))
        else {
            return;
        };
        for (i, p) in b.peers.iter().enumerate() {
            if p.address.is_ipv4() && p.families.contains(&AddressFamily::Ipv6) {
                r.add(
                    format!("bgp.peer[{i}].families"),
                    format!(
                        "IPv6 prefixes (e.g. {} of service {:?}) over the IPv4 session to {} need \
                         an IPv6 next hop: set [bgp] next_hop_v6 to orbit's IPv6 address on the \
                         link to that router, or drop \"ipv6\" from families and peer over IPv6",
                        v6.1,
                        v6.0.id.as_str(),
                        p.address
                    ),
                );
            }
        }
    }

    fn check_haproxy(&self, h: &Haproxy, r: &mut Report) {
        if h.socket.trim().is_empty() {
            r.add("haproxy.socket", "must name the runtime API socket");
        }
        if h.backends.is_empty() {
            r.add(
                "haproxy.backends",
                "no service is mapped to HAProxy backends",
            );
        }
        for (svc_id, per_site) in &h.backends {
            let base = format!("haproxy.backends.{svc_id}");
            let Some(svc) = self.services.iter().find(|s| &s.id == svc_id) else {
                r.add(&base, format!("unknown service {:?}", svc_id.as_str()));
                continue;
            };
            for (site, backend) in per_site {
                if !svc.sites.contains(site) {
                    r.add(
                        format!("{base}.{site}"),
                        format!(
                            "site {:?} does not serve {:?}",
                            site.as_str(),
                            svc_id.as_str()
                        ),
                    );
                }
                if !is_haproxy_name(backend) {
                    r.add(
                        format!("{base}.{site}"),
                        format!("{backend:?} is not a valid HAProxy backend name"),
                    );
                }
            }
            for site in &svc.sites {
                if !per_site.contains_key(site) {
                    r.add(&base, format!("no backend for site {:?}", site.as_str()));
                }
            }
        }
        for (svc_id, key) in &h.keys {
            if !h.backends.contains_key(svc_id) {
                r.add(
                    format!("haproxy.keys.{svc_id}"),
                    "service has no haproxy.backends entry",
                );
            }
            // The runtime API splits commands on ';' and reads a leading '#'
            // as an entry reference; the map file reads it as a comment.
            if key.is_empty()
                || key.starts_with('#')
                || key
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || matches!(c, ';' | '\\'))
            {
                r.add(
                    format!("haproxy.keys.{svc_id}"),
                    "a map key must be non-empty, not start with '#', and hold no spaces, ';' or '\\'",
                );
            }
        }
        let mut seen_keys = BTreeMap::new();
        for svc_id in h.backends.keys() {
            let key = h.keys.get(svc_id).map_or(svc_id.as_str(), String::as_str);
            if let Some(other) = seen_keys.insert(key, svc_id) {
                r.add(
                    format!("haproxy.keys.{svc_id}"),
                    format!(
                        "map key {key:?} is already used by service {:?}",
                        other.as_str()
                    ),
                );
            }
        }
        if let Some(backend) = &h.no_site_backend {
            if !is_haproxy_name(backend) {
                r.add(
                    "haproxy.no_site_backend",
                    format!("{backend:?} is not a valid HAProxy backend name"),
                );
            }
        }
        if h.timeout.get().is_zero() {
            r.add("haproxy.timeout", "must be above 0");
        }
        if h.map.as_os_str().is_empty() || h.map.file_name().is_none() {
            r.add("haproxy.map", "must name the map file HAProxy loads");
        }
    }

    fn check_sdn(&self, s: &Sdn, r: &mut Report) {
        for (value, path) in [(&s.switch, "sdn.switch"), (&s.ovsdb, "sdn.ovsdb")] {
            if !(value.starts_with("unix:") || value.starts_with("tcp:")) {
                r.add(path, format!("{value:?} must start with unix: or tcp:"));
            }
        }
        if s.bridge.is_empty() {
            r.add("sdn.bridge", "must name the bridge");
        }
        if s.cookie == 0 {
            r.add(
                "sdn.cookie",
                "must be non-zero: cookie 0 would claim every unmarked flow",
            );
        }
        if s.table > 253 {
            r.add(
                "sdn.table",
                format!("{} is not a flow table (0..=253)", s.table),
            );
        }
        if s.priority == 0 {
            r.add("sdn.priority", "must be above 0, the table-miss priority");
        }
        let last_group = u64::from(s.group_base) + self.services.len() as u64;
        if s.group_base == 0 || last_group > 0xffff_ff00 {
            r.add(
                "sdn.group_base",
                format!(
                    "{:#x} + {} services leaves the group id range 1..=0xffffff00",
                    s.group_base,
                    self.services.len()
                ),
            );
        }
        if let Some(ctl) = &s.vswitchd_ctl {
            if !ctl.starts_with("unix:") {
                r.add("sdn.vswitchd_ctl", format!("{ctl:?} must start with unix:"));
            }
        }
        if s.timeout.0.is_zero() {
            r.add("sdn.timeout", "must be above 0");
        }
        let mut ports = BTreeMap::new();
        for (site, port) in &s.ports {
            let base = format!("sdn.ports.{site}");
            if self.site(site).is_none() {
                r.add(&base, format!("unknown site {:?}", site.as_str()));
            }
            if port.port == 0 || port.port >= 0xffff_ff00 {
                r.add(
                    format!("{base}.port"),
                    format!("{} is not a physical OpenFlow port", port.port),
                );
            }
            if let Some(other) = ports.insert(port.port, site) {
                r.add(
                    format!("{base}.port"),
                    format!("port {} is also used for site {other}", port.port),
                );
            }
            if !is_mac(&port.mac) {
                r.add(
                    format!("{base}.mac"),
                    format!("{:?} is not a MAC address like 02:00:00:00:0a:01", port.mac),
                );
            }
        }
        for svc in &self.services {
            for site in &svc.sites {
                if !s.ports.contains_key(site) {
                    r.add(
                        "sdn.ports",
                        format!(
                            "no port for site {:?} (serves {:?})",
                            site.as_str(),
                            svc.id.as_str()
                        ),
                    );
                }
            }
        }
    }
}

fn check_health(h: &HealthCheck, base: &str, r: &mut Report) {
    let kinds = [h.tcp.is_some(), h.http.is_some(), h.exec.is_some()]
        .iter()
        .filter(|k| **k)
        .count();
    if kinds != 1 {
        r.add(base, "exactly one of tcp, http or exec is required");
    }
    if let Some(url) = &h.http {
        if !url.starts_with("http://") {
            r.add(
                format!("{base}.http"),
                format!("{url:?} must be an http:// URL"),
            );
        }
    }
    if h.http.is_none() && (h.http_status.is_some() || h.http_body.is_some()) {
        r.add(
            base,
            "http_status and http_body only apply to an http check",
        );
    }
    if let Some(code) = h.http_status {
        if !(100..=599).contains(&code) {
            r.add(
                format!("{base}.http_status"),
                format!("{code} is not an HTTP status (100-599)"),
            );
        }
    }
    if let Some(argv) = &h.exec {
        if argv.first().is_none_or(|a| a.is_empty()) {
            r.add(format!("{base}.exec"), "needs a program to run");
        }
    }
    if h.interval.get() < MIN_TIMER {
        r.add(
            format!("{base}.interval"),
            format!("{} is below the minimum of 10ms", h.interval),
        );
    }
    if let Some(t) = h.timeout {
        if t > h.interval {
            r.add(
                format!("{base}.timeout"),
                format!(
                    "{t} is longer than the interval ({}): checks would overlap",
                    h.interval
                ),
            );
        }
    }
    for (v, name) in [(h.rise, "rise"), (h.fall, "fall")] {
        if v == 0 || v > 100 {
            r.add(
                format!("{base}.{name}"),
                format!("{v} must be between 1 and 100"),
            );
        }
    }
}

fn check_bgp(b: &Bgp, r: &mut Report) {
    if b.asn == 0 || b.asn == 23456 {
        r.add(
            "bgp.asn",
            format!("{} is reserved (RFC 7607, RFC 6793)", b.asn),
        );
    }
    if b.router_id.is_unspecified() {
        r.add(
            "bgp.router_id",
            "0.0.0.0 is not a valid BGP identifier (RFC 4271 §4.2)",
        );
    }
    if b.peers.is_empty() {
        r.add("bgp.peer", "at least one [[bgp.peer]] is required");
    }
    if b.listen && b.listen_port == 0 {
        r.add("bgp.listen_port", "0 is not a port to listen on");
    }
    if b.graceful_restart_time.get() > Duration::from_secs(4095) {
        r.add(
            "bgp.graceful_restart_time",
            "at most 4095s (12-bit field, RFC 4724 §3)",
        );
    }
    let retry = b.connect_retry.get();
    if retry < Duration::from_millis(100) || retry > Duration::from_secs(60) {
        r.add(
            "bgp.connect_retry",
            format!("{} must be between 100ms and 60s", b.connect_retry),
        );
    }
    if let Some(nh) = b.next_hop_v4 {
        if !nh.is_ipv4() {
            r.add("bgp.next_hop_v4", format!("{nh} is not an IPv4 address"));
        }
    }
    if let Some(nh) = b.next_hop_v6 {
        if !nh.is_ipv6() || nh.to_canonical().is_ipv4() {
            r.add(
                "bgp.next_hop_v6",
                format!(
                    "{nh} is not an IPv6 address (IPv4-mapped addresses are refused by routers)"
                ),
            );
        }
    }
    check_communities(
        &b.active.communities,
        &b.active.large_communities,
        "bgp.active",
        r,
    );
    if let BgpStandby::Announce(s) = &b.standby {
        if s.prepend > 10 {
            r.add(
                "bgp.standby.prepend",
                format!("{} is more than 10", s.prepend),
            );
        }
        check_communities(&s.communities, &s.large_communities, "bgp.standby", r);
    }
    check_communities(
        &b.takeover.communities,
        &b.takeover.large_communities,
        "bgp.takeover",
        r,
    );
    let mut addrs = BTreeSet::new();
    for (i, p) in b.peers.iter().enumerate() {
        let base = format!("bgp.peer[{i}]");
        if !addrs.insert(p.address) {
            r.add(
                format!("{base}.address"),
                format!("duplicate peer {}", p.address),
            );
        }
        if p.asn == 0 || p.asn == 23456 {
            r.add(format!("{base}.asn"), format!("{} is reserved", p.asn));
        }
        let hold = p.hold.get();
        if !hold.is_zero() && hold < Duration::from_secs(3) {
            r.add(
                format!("{base}.hold"),
                format!(
                    "hold time {} must be 0 or at least 3s (RFC 4271 §4.2)",
                    p.hold
                ),
            );
        }
        if hold > Duration::from_secs(65535) {
            r.add(format!("{base}.hold"), "at most 65535s (RFC 4271 §4.2)");
        }
        if p.families.is_empty() {
            r.add(
                format!("{base}.families"),
                "at least one of \"ipv4\", \"ipv6\"",
            );
        }
        if p.max_prefixes == 0 {
            r.add(format!("{base}.max_prefixes"), "must be at least 1");
        }
    }
}

fn check_communities(std: &[String], large: &[String], base: &str, r: &mut Report) {
    for (i, c) in std.iter().enumerate() {
        if parse_parts::<u16>(c, 2).is_none() {
            r.add(
                format!("{base}.communities[{i}]"),
                format!("{c:?} is not a community ASN:VALUE with two 16-bit numbers (RFC 1997)"),
            );
        }
    }
    for (i, c) in large.iter().enumerate() {
        if parse_parts::<u32>(c, 3).is_none() {
            r.add(
                format!("{base}.large_communities[{i}]"),
                format!(
                    "{c:?} is not a large community A:B:C with three 32-bit numbers (RFC 8092)"
                ),
            );
        }
    }
}

fn parse_parts<T: std::str::FromStr>(s: &str, n: usize) -> Option<Vec<T>> {
    let parts: Vec<T> = s
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    (parts.len() == n).then_some(parts)
}

/// The API's limits: each must leave the API usable and orbitd protected.
fn check_api(api: &Api, r: &mut Report) {
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
}

fn check_hook(h: &Hook, r: &mut Report) {
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

fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_haproxy_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
}
