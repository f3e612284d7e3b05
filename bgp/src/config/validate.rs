//! The checks of `[bgp]`, each problem with its TOML path.

use std::collections::BTreeSet;
use std::time::Duration;

use ipnet::IpNet;
use orbit_core::config::{Problems, Scope};

use super::{AddressFamily, BgpStandby, Config};

impl Config {
    /// The problems of `[bgp]`: its own, and the next hops the services
    /// in `scope` need.
    pub fn validate(&self, scope: &Scope<'_>, r: &mut Problems) {
        check_bgp(self, r);
        self.check_next_hop_v6(scope, r);
    }

    /// IPv6 prefixes over an IPv4 session need an IPv6 next hop, and the
    /// session has no IPv6 address to default to: an IPv4-mapped next hop
    /// (RFC 4291 §2.5.5.2) is refused by routers (bird2: "mismatched
    /// address family"), so orbit would announce nothing the router keeps.
    fn check_next_hop_v6(&self, scope: &Scope<'_>, r: &mut Problems) {
        let b = self;
        if b.next_hop_v6.is_some() {
            return;
        }
        let Some(v6) = scope
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
}

fn check_bgp(b: &Config, r: &mut Problems) {
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

fn check_communities(std: &[String], large: &[String], base: &str, r: &mut Problems) {
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
