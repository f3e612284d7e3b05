//! The address plan and names of one lab. Every namespace is its own
//! network stack, so these addresses never collide between parallel labs;
//! only namespace names (prefixed per run) and file paths must differ.

use std::fmt;

/// Which backend the orbitd daemons drive at the metro edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Haproxy,
    /// bird2 at the edge, BFD (10 ms x 3) on both sides of each BGP session.
    Bgp,
    /// The same without BFD: the edge sees a dead site only through link
    /// state, the BGP hold timer, or orbit's takeover announcement.
    #[serde(rename = "bgp-nobfd")]
    BgpNoBfd,
    Sdn,
    /// Baseline: no orbitd; ExaBGP with its healthcheck at each site
    /// announces the service to the same bird2 edge.
    Exabgp,
    /// Baseline: the original design's detector. Serf agents (LAN profile)
    /// on a, b and w drive orbitd through the Serf adapter (BGP edge);
    /// orbit's own suspicion lasts 60 s so that Serf decides liveness (its
    /// verdicts reach the other members through orbit's gossip).
    Serf,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Mode> {
        match s {
            "haproxy" => Some(Mode::Haproxy),
            "bgp" => Some(Mode::Bgp),
            "bgp-nobfd" => Some(Mode::BgpNoBfd),
            "sdn" => Some(Mode::Sdn),
            "exabgp" => Some(Mode::Exabgp),
            "serf" => Some(Mode::Serf),
            _ => None,
        }
    }

    /// One letter for namespace names.
    pub fn short(self) -> char {
        match self {
            Mode::Haproxy => 'h',
            Mode::Bgp => 'b',
            Mode::BgpNoBfd => 'n',
            Mode::Sdn => 's',
            Mode::Exabgp => 'e',
            Mode::Serf => 'f',
        }
    }

    /// SDN mode is one L2 segment through the OVS bridge; the others route
    /// at the edge.
    pub fn switched(self) -> bool {
        // (every other mode routes at the edge)
        self == Mode::Sdn
    }

    /// Modes where orbitd runs (the baselines run other software).
    pub fn orbit(self) -> bool {
        self != Mode::Exabgp
    }

    /// The scenarios a mode can run: the ExaBGP baseline has no operator
    /// command, no witness and no daemon to freeze, so it runs the hard and
    /// the gray failure.
    pub fn runs_scenario(self, scenario: u8) -> bool {
        match self {
            Mode::Exabgp => matches!(scenario, 2 | 3 | 8),
            // Serf detects members, not services: the gray failure is the
            // health checks' job in both designs. A planned stop (11) and a
            // restart within graceful restart (12) run wherever orbitd
            // speaks BGP.
            Mode::Serf => matches!(scenario, 2 | 4 | 5 | 7 | 8 | 11 | 12),
            // The BFD-off variant runs where BFD can make a difference: a
            // dead site (2, 8), its return (6), a frozen daemon (7), and
            // the daemon stopping or restarting (11, 12).
            Mode::BgpNoBfd => matches!(scenario, 2 | 6 | 7 | 8 | 11 | 12),
            // 11 and 12 are about BGP routes (graceful shutdown, graceful
            // restart).
            Mode::Haproxy | Mode::Sdn => (1..=10).contains(&scenario),
            Mode::Bgp => true,
        }
    }

    /// Modes whose edge is the bird2 router.
    pub fn bgp_edge(self) -> bool {
        matches!(self, Mode::Bgp | Mode::BgpNoBfd | Mode::Exabgp | Mode::Serf)
    }

    /// BFD on the BGP sessions between the edge and orbitd. The baselines
    /// run without: ExaBGP has none, and the original design had none.
    pub fn bfd(self) -> bool {
        self == Mode::Bgp
    }

    /// Multihop BFD between the members (`[bfd] sites = true`), the
    /// setting an operator should use, wherever orbit's own detectors
    /// decide. Not in the baselines: their point is their own detector
    /// (ExaBGP runs no orbitd; Serf stands for the original design, which
    /// had no BFD).
    pub fn member_bfd(self) -> bool {
        matches!(self, Mode::Haproxy | Mode::Bgp | Mode::BgpNoBfd | Mode::Sdn)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mode::Haproxy => "haproxy",
            Mode::Bgp => "bgp",
            Mode::BgpNoBfd => "bgp-nobfd",
            Mode::Sdn => "sdn",
            Mode::Exabgp => "exabgp",
            Mode::Serf => "serf",
        })
    }
}

/// A mode as the report shows it: `bgp`, or `bgp+hog` for the runs with
/// the CPU hog beside the lab (`--hog`), which are rows of their own.
pub fn mode_label(mode: Mode, hog: bool) -> String {
    if hog {
        format!("{mode}+hog")
    } else {
        mode.to_string()
    }
}

/// BFD timers on both ends of the edge's BGP sessions in BGP mode: by
/// default the fastest bird2 and orbit both keep up with (detection 30 ms);
/// `--bfd-interval` changes the interval.
pub const BFD_INTERVAL_MS: u32 = 10;
pub const BFD_MULTIPLIER: u8 = 3;

/// Member BFD (multihop between a, b and w) by default, multiplier
/// BFD_MULTIPLIER; `--member-bfd-interval` changes it, 0 turns it off. In
/// `bgp` mode orbitd's one `[bfd] interval` also times the sessions toward
/// the edge, so there the members run at the edge's BFD_INTERVAL_MS.
pub const MEMBER_BFD_INTERVAL_MS: u32 = 10;

/// The service address every site binds on `lo`.
pub const SERVICE_ADDR: &str = "198.51.100.10";
pub const SERVICE_PREFIX: &str = "198.51.100.10/32";
pub const UDP_PORT: u16 = 7000;
pub const HTTP_PORT: u16 = 80;
pub const GOSSIP_PORT: u16 = 7946;
pub const SERF_PORT: u16 = 7947;
pub const SERF_RPC_PORT: u16 = 7373;

pub const CLIENT_ADDR: &str = "10.90.0.2";
/// Routed modes: the edge's address toward the client.
pub const EDGE_CLIENT_ADDR: &str = "10.90.0.1";

/// The two sites that carry the service.
pub const SITES: [&str; 2] = ["a", "b"];

/// The sites of a three-site lab (`--sites 3`): c is wired like b.
pub const SITES3: [&str; 3] = ["a", "b", "c"];

/// The carrying sites of a lab with three sites or with two.
pub fn sites(three: bool) -> &'static [&'static str] {
    if three {
        &SITES3
    } else {
        &SITES
    }
}

/// Every orbitd member: the sites' routers and the witness w.
pub fn members(three: bool, two_routers: bool) -> &'static [&'static str] {
    match (three, two_routers) {
        (true, _) => &["a", "b", "c", "w"],
        (false, true) => &["a1", "a2", "b", "w"],
        (false, false) => &["a", "b", "w"],
    }
}

/// The members that route for a site (every member but the witness):
/// one per site, or with `--routers 2` site a's two, a1 and a2.
pub fn routers(three: bool, two_routers: bool) -> &'static [&'static str] {
    let members = members(three, two_routers);
    &members[..members.len() - 1]
}

/// `--routers 2`: site a's two routers (orbitd members `a1` and `a2`,
/// `[[site]] site = "a"`), each with its own link to the edge and to the
/// namespace of site a's servers, SERVERS_A.
pub const ROUTERS_A: [&str; 2] = ["a1", "a2"];

/// `--routers 2`: the namespace of site a's servers (the service on
/// `lo`), behind both of a's routers.
pub const SERVERS_A: &str = "as";

/// The site a member routes for: a1 and a2 route for a, the others are
/// sites of their own.
pub fn site_of(member: &str) -> &str {
    match member {
        "a1" | "a2" => "a",
        m => m,
    }
}

/// `--routers 2`: a router's link to site a's servers, `ROUTER_SERVERS_IF`
/// in the router, `servers_if(router)` in SERVERS_A: the router's address
/// and the servers' address on it (/30).
pub const ROUTER_SERVERS_IF: &str = "srv";
pub fn servers_if(router: &str) -> &'static str {
    if router == "a1" {
        "r1"
    } else {
        "r2"
    }
}
pub fn router_servers_addrs(router: &str) -> (&'static str, &'static str) {
    if router == "a1" {
        ("10.92.1.1", "10.92.1.2")
    } else {
        ("10.92.2.1", "10.92.2.2")
    }
}

/// The services of a three-site lab, each with its sites in priority
/// order, each site first for one of them: `web` (the one the client
/// probes, at SERVICE_ADDR) and three more that orbit steers but nobody
/// probes (their placement is read from orbitd). With two sites, only
/// `web` over a, b.
pub const SERVICES3: [(&str, &str, [&str; 3]); 4] = [
    ("web", SERVICE_PREFIX, ["a", "b", "c"]),
    ("api", "198.51.100.11/32", ["a", "c", "b"]),
    ("db", "198.51.100.12/32", ["b", "c", "a"]),
    ("mail", "198.51.100.13/32", ["c", "a", "b"]),
];

/// A site's data-plane address (toward the edge) in `mode`.
pub fn site_addr(mode: Mode, site: &str) -> &'static str {
    match (mode.switched(), site) {
        (true, "a" | "a1") => "10.90.0.11",
        (true, "c") => "10.90.0.13",
        (true, _) => "10.90.0.12",
        (false, "a" | "a1") => "10.90.1.2",
        (false, "a2") => "10.90.4.2",
        (false, "c") => "10.90.3.2",
        (false, _) => "10.90.2.2",
    }
}

/// Routed modes: the edge's address on the link toward a site.
pub fn edge_site_addr(site: &str) -> &'static str {
    match site {
        "a" | "a1" => "10.90.1.1",
        "a2" => "10.90.4.1",
        "c" => "10.90.3.1",
        _ => "10.90.2.1",
    }
}

/// The MAC of a site's data-plane interface (fixed, for the SDN next hop).
pub fn site_mac(site: &str) -> &'static str {
    match site {
        "a" | "a1" => "02:00:00:00:0a:01",
        "a2" => "02:00:00:00:0a:02",
        "c" => "02:00:00:00:0c:01",
        _ => "02:00:00:00:0b:01",
    }
}

/// Control-network (gossip) address of a member: a (a1, a2), b, c or the
/// witness w.
pub fn ctl_addr(member: &str) -> &'static str {
    match member {
        "a" | "a1" => "10.91.0.1",
        "a2" => "10.91.0.5",
        "b" => "10.91.0.2",
        "c" => "10.91.0.4",
        _ => "10.91.0.3",
    }
}

/// BGP: the edge router's AS and each site's (both of a's routers are in
/// a's AS).
pub const EDGE_ASN: u32 = 64500;
pub fn site_asn(site: &str) -> u32 {
    match site {
        "a" | "a1" | "a2" => 65001,
        "c" => 65003,
        _ => 65002,
    }
}

/// OVS port numbers in SDN mode.
pub fn sdn_port(iface: &str) -> u32 {
    match iface {
        "ea" => 1,
        "eb" => 2,
        _ => 3,
    }
}

/// Interface names inside the namespaces.
pub const CLIENT_IF: &str = "c0";
pub fn site_if(site: &str) -> &'static str {
    match site {
        // a1 and a2 each in a namespace of its own.
        "a" | "a1" | "a2" => "ae",
        "c" => "ce",
        _ => "be",
    }
}
pub fn edge_if(site: &str) -> &'static str {
    match site {
        "a" | "a1" => "ea",
        "a2" => "ea2",
        // Not "ec": that is EDGE_CLIENT_IF.
        "c" => "ex",
        _ => "eb",
    }
}
pub const EDGE_CLIENT_IF: &str = "ec";
pub const CTL_IF: &str = "ctl";

#[cfg(test)]
mod tests {
    use super::*;

    /// `--routers 2`: a1 and a2 are the members routing for a, each with
    /// its own addresses and edge interface, a's AS for both; the plan of
    /// one router per site is unchanged.
    #[test]
    fn two_routers_at_a_have_their_own_links_and_share_as_as() {
        assert_eq!(routers(false, false), ["a", "b"]);
        assert_eq!(routers(true, false), ["a", "b", "c"]);
        assert_eq!(routers(false, true), ["a1", "a2", "b"]);
        assert_eq!(members(false, true), ["a1", "a2", "b", "w"]);
        assert_eq!(site_of("a1"), "a");
        assert_eq!(site_of("a2"), "a");
        assert_eq!(site_of("b"), "b");
        let mut addrs: Vec<&str> = ["a1", "a2", "b"]
            .iter()
            .flat_map(|r| {
                [
                    site_addr(Mode::Bgp, r),
                    edge_site_addr(r),
                    ctl_addr(r),
                    edge_if(r),
                ]
            })
            .chain([ctl_addr("w"), EDGE_CLIENT_IF])
            .collect();
        let n = addrs.len();
        addrs.sort_unstable();
        addrs.dedup();
        assert_eq!(addrs.len(), n, "every address and edge interface once");
        assert_eq!(site_asn("a1"), site_asn("a2"));
        assert_ne!(site_asn("a1"), site_asn("b"));
        assert_eq!(site_addr(Mode::Bgp, "a1"), site_addr(Mode::Bgp, "a"));
        assert_ne!(router_servers_addrs("a1"), router_servers_addrs("a2"));
        assert_ne!(servers_if("a1"), servers_if("a2"));
    }
}
