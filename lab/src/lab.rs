//! One running lab: namespaces, links, the service at both sites, the
//! metro edge of the chosen mode, and an orbitd per member.
//!
//! ```text
//!   client ── edge ──┬── a (orbitd, service)   data plane: routed (haproxy,
//!                    └── b (orbitd, service)   bgp) or one L2 segment (sdn)
//!   a ── ctl ── b    control network: a bridge in its own namespace;
//!          └── w     the witness only has this one
//! ```
//!
//! With `--sites 3` (bgp mode) a third site c hangs off the edge and the
//! control bridge exactly like b.
//!
//! With `--routers 2` (bgp mode) site a is two routers in front of its
//! servers: a1 and a2 each run an orbitd (members of site a), each has its
//! own link and BGP session to the edge and its own link to `as`, the
//! namespace with site a's service.
//!
//! ```text
//!   client ── edge ──┬── a1 ──┬── as (site a's service)
//!                    ├── a2 ──┘
//!                    └── b
//! ```
//!
//! Field order matters: processes are dropped (killed) before the
//! namespaces they live in are deleted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use orbit_core::api::{BfdHop, BfdState, StatusResponse};

use crate::edge;
use crate::orbitd::{self, Tuning};
use crate::plan::{self, Mode};
use crate::sys::{self, ip, Netns, Proc};

#[derive(Debug)]
pub struct Lab {
    pub mode: Mode,
    pub prefix: String,
    pub dir: PathBuf,
    pub tuning: Tuning,
    pub haproxy_socket: PathBuf,
    pub haproxy_map: PathBuf,
    pub ovs_dir: PathBuf,
    pub procs: BTreeMap<String, Proc>,
    /// The PostgreSQL pair (`Tuning::pg`), started before the orbitd
    /// daemons so that `db` is healthy at a when they decide.
    pub pg: Option<crate::pg::Pair>,
    netns: Vec<Netns>,
    keep_dir: bool,
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Processes first (their Drop kills them), then namespaces.
        self.procs.clear();
        self.pg = None;
        while let Some(ns) = self.netns.pop() {
            drop(ns);
        }
        if !self.keep_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Lab {
    pub fn ns(&self, node: &str) -> String {
        format!("{}-{node}", self.prefix)
    }

    /// Builds the topology and starts everything; returns once the client
    /// is served by site a.
    pub fn up(
        mode: Mode,
        prefix: &str,
        dir: &Path,
        tuning: Tuning,
        keep_dir: bool,
        wait: bool,
    ) -> Result<Lab> {
        std::fs::create_dir_all(dir)?;
        let mut lab = Lab {
            mode,
            prefix: prefix.to_owned(),
            dir: dir.to_owned(),
            tuning,
            haproxy_socket: dir.join("haproxy").join("admin.sock"),
            haproxy_map: dir.join("haproxy").join("orbit.map"),
            ovs_dir: dir.join("ovs"),
            procs: BTreeMap::new(),
            pg: None,
            netns: Vec::new(),
            keep_dir,
        };
        let servers: &[&str] = if tuning.two_routers {
            &[plan::SERVERS_A]
        } else {
            &[]
        };
        let nodes = ["client", "edge"]
            .iter()
            .chain(tuning.members())
            .chain(servers)
            .chain(&["ctl"]);
        for node in nodes {
            let ns = Netns::create(&lab.ns(node))?;
            lab.netns.push(ns);
        }
        lab.wire_data_plane()?;
        lab.wire_control()?;
        for site in lab.sites() {
            lab.start_server(site)?;
        }
        if let Some(replication) = tuning.pg {
            lab.pg = Some(crate::pg::Pair::up(
                dir,
                lab.ns("a"),
                lab.ns("b"),
                replication,
            )?);
        }
        edge::start(&mut lab)?;
        if mode == Mode::Serf {
            for member in ["w", "a", "b"] {
                edge::serf(&mut lab, member)?;
            }
        }
        if mode.orbit() {
            orbitd::write_gossip_key(&lab.dir)?;
            // The witness first, as with two sites.
            lab.start_orbitd("w")?;
            for router in lab.routers() {
                lab.start_orbitd(router)?;
            }
        } else {
            for site in plan::SITES {
                edge::exabgp(&mut lab, site)?;
            }
        }
        if wait {
            lab.wait_steady("a", Duration::from_secs(30))?;
        }
        Ok(lab)
    }

    /// The sites that carry services in this lab.
    pub fn sites(&self) -> &'static [&'static str] {
        plan::sites(self.tuning.three_sites)
    }

    /// The members that route for a site: the sites, or a1, a2 and b with
    /// `--routers 2`.
    pub fn routers(&self) -> &'static [&'static str] {
        self.tuning.routers()
    }

    /// The namespace where a site's service runs: the site's own, or
    /// SERVERS_A for site a with `--routers 2`.
    pub fn server_node<'s>(&self, site: &'s str) -> &'s str {
        if self.tuning.two_routers && site == "a" {
            plan::SERVERS_A
        } else {
            site
        }
    }

    fn veth(&self, ns1: &str, if1: &str, ns2: &str, if2: &str) -> Result<()> {
        sys::run(
            "ip",
            &[
                "link",
                "add",
                if1,
                "netns",
                &self.ns(ns1),
                "type",
                "veth",
                "peer",
                "name",
                if2,
                "netns",
                &self.ns(ns2),
            ],
        )
        .map(|_| ())
    }

    fn wire_data_plane(&self) -> Result<()> {
        let (client, edge) = (self.ns("client"), self.ns("edge"));
        self.veth("client", plan::CLIENT_IF, "edge", plan::EDGE_CLIENT_IF)?;
        for site in self.routers() {
            self.veth(site, plan::site_if(site), "edge", plan::edge_if(site))?;
            let ns = self.ns(site);
            ip(
                &ns,
                &format!(
                    "link set {} address {}",
                    plan::site_if(site),
                    plan::site_mac(site)
                ),
            )?;
        }
        for site in self.sites() {
            let ns = self.ns(self.server_node(site));
            ip(&ns, &format!("addr add {}/32 dev lo", plan::SERVICE_ADDR))?;
            if self.tuning.pg.is_some() {
                ip(&ns, &format!("addr add {}/32 dev lo", crate::pg::DB_ADDR))?;
            }
        }
        sys::sysctl(&edge, "net.ipv4.ip_forward", "1")?;
        let servers = self.tuning.two_routers.then(|| self.ns(plan::SERVERS_A));
        let sites = self.routers().iter().map(|s| self.ns(s)).chain(servers);
        for ns in [client.clone(), edge.clone()].into_iter().chain(sites) {
            sys::sysctl(&ns, "net.ipv4.conf.all.rp_filter", "0")?;
            sys::sysctl(&ns, "net.ipv4.conf.default.rp_filter", "0")?;
        }
        if self.mode.switched() {
            // One L2 segment through the OVS bridge: no addresses at the edge.
            sys::addr_up(&client, plan::CLIENT_ADDR, plan::CLIENT_IF)?;
            // The service address is on-link: the switch steers its ARP.
            ip(
                &client,
                &format!("route add {} dev {}", plan::SERVICE_PREFIX, plan::CLIENT_IF),
            )?;
            for site in self.sites() {
                let ns = self.ns(site);
                sys::addr_up(&ns, plan::site_addr(self.mode, site), plan::site_if(site))?;
                // The userspace datapath drops packets with offloaded checksums.
                sys::run_in(&ns, "ethtool", &["-K", plan::site_if(site), "tx", "off"])?;
            }
            sys::run_in(&client, "ethtool", &["-K", plan::CLIENT_IF, "tx", "off"])?;
            for i in [plan::EDGE_CLIENT_IF, "ea", "eb"] {
                ip(&edge, &format!("link set {i} up"))?;
                sys::run_in(&edge, "ethtool", &["-K", i, "tx", "off"])?;
            }
        } else {
            sys::addr_up(&client, plan::CLIENT_ADDR, plan::CLIENT_IF)?;
            ip(
                &client,
                &format!("route add default via {}", plan::EDGE_CLIENT_ADDR),
            )?;
            sys::addr_up(&edge, plan::EDGE_CLIENT_ADDR, plan::EDGE_CLIENT_IF)?;
            for site in self.routers() {
                let ns = self.ns(site);
                sys::addr_up(&edge, plan::edge_site_addr(site), plan::edge_if(site))?;
                sys::addr_up(&ns, plan::site_addr(self.mode, site), plan::site_if(site))?;
                self.site_routes(site)?;
            }
            if self.tuning.two_routers {
                self.wire_servers_a()?;
            }
        }
        Ok(())
    }

    /// `--routers 2`: a1 and a2 each forward to site a's servers over a
    /// link of their own. The edge spreads flows over a's two routes (ECMP
    /// from bird2's `merge paths`) by their ports, so both routers carry
    /// probe traffic.
    ///
    /// The servers answer through the router the request last came in by
    /// (the connection's conntrack mark, set per incoming packet, selects a
    /// routing table per router): the return path follows the edge's
    /// choice at once. Hashing the answers over both routers instead left
    /// them on a dead router for about a second in 2 of 7 runs where a2
    /// died: the kernel reports a veth peer's carrier loss through its
    /// link watcher, which batches such events up to 1 s apart, so `as`
    /// went on using its dead nexthop after the edge had moved on. (The
    /// multipath default route stays for what the servers start
    /// themselves.)
    fn wire_servers_a(&self) -> Result<()> {
        let (servers, edge) = (self.ns(plan::SERVERS_A), self.ns("edge"));
        sys::sysctl(&edge, "net.ipv4.fib_multipath_hash_policy", "1")?;
        sys::sysctl(&servers, "net.ipv4.fib_multipath_hash_policy", "1")?;
        sys::sysctl(
            &servers,
            "net.ipv4.conf.all.ignore_routes_with_linkdown",
            "1",
        )?;
        let mut nexthops = String::new();
        for router in plan::ROUTERS_A {
            let ns = self.ns(router);
            let (mine, theirs) = plan::router_servers_addrs(router);
            self.veth(
                router,
                plan::ROUTER_SERVERS_IF,
                plan::SERVERS_A,
                plan::servers_if(router),
            )?;
            ip(
                &ns,
                &format!("addr add {mine}/30 dev {}", plan::ROUTER_SERVERS_IF),
            )?;
            ip(&ns, &format!("link set {} up", plan::ROUTER_SERVERS_IF))?;
            ip(
                &servers,
                &format!("addr add {theirs}/30 dev {}", plan::servers_if(router)),
            )?;
            ip(
                &servers,
                &format!("link set {} up", plan::servers_if(router)),
            )?;
            sys::sysctl(&ns, "net.ipv4.ip_forward", "1")?;
            ip(
                &ns,
                &format!("route add {} via {theirs}", plan::SERVICE_PREFIX),
            )?;
            nexthops.push_str(&format!(
                " nexthop via {mine} dev {}",
                plan::servers_if(router)
            ));
        }
        ip(&servers, &format!("route add default{nexthops}"))?;
        // Symmetric answers: packets in from router n mark their connection
        // n; an answer carrying mark n is routed by table 100 + n, whose
        // one route goes back through router n.
        let mut marks = String::new();
        for (n, router) in (1..).zip(plan::ROUTERS_A) {
            let (mine, _) = plan::router_servers_addrs(router);
            let dev = plan::servers_if(router);
            marks.push_str(&format!("  iifname \"{dev}\" ct mark set {n}\n"));
            ip(
                &servers,
                &format!("route add default via {mine} dev {dev} table {}", 100 + n),
            )?;
            ip(
                &servers,
                &format!("rule add fwmark {n} lookup {} priority 100", 100 + n),
            )?;
        }
        sys::nft(
            &servers,
            &format!(
                "table inet olab_symmetric {{\n chain in {{\n  type filter hook prerouting priority -150;\n{marks} }}\n chain out {{\n  type route hook output priority -150;\n  ct mark != 0 meta mark set ct mark\n }}\n}}\n"
            ),
        )?;
        Ok(())
    }

    /// A site's routes toward the client (re-added after a link comes back).
    fn site_routes(&self, site: &str) -> Result<()> {
        if !self.mode.switched() {
            ip(
                &self.ns(site),
                &format!("route replace default via {}", plan::edge_site_addr(site)),
            )?;
        }
        Ok(())
    }

    fn wire_control(&self) -> Result<()> {
        let ctl = self.ns("ctl");
        ip(&ctl, "link add br0 type bridge")?;
        ip(&ctl, "link set br0 up")?;
        for member in self.tuning.members() {
            let port = format!("p{member}");
            self.veth(member, plan::CTL_IF, "ctl", &port)?;
            ip(&ctl, &format!("link set {port} master br0"))?;
            ip(&ctl, &format!("link set {port} up"))?;
            let ns = self.ns(member);
            sys::addr_up(&ns, plan::ctl_addr(member), plan::CTL_IF)?;
        }
        Ok(())
    }

    pub fn self_exe() -> Result<String> {
        Ok(std::env::current_exe()?.display().to_string())
    }

    pub fn start_server(&mut self, site: &str) -> Result<()> {
        let node = self.server_node(site);
        let argv = vec![
            Self::self_exe()?,
            "serve".into(),
            "--site".into(),
            site.into(),
        ];
        let name = format!("serve-{site}");
        let proc = Proc::spawn(
            &name,
            Some(&self.ns(node)),
            &argv,
            &[],
            &self.dir.join(format!("{name}.log")),
            false,
        )?;
        self.procs.insert(name, proc);
        let ns = self.ns(node);
        let exe = Self::self_exe()?;
        sys::wait_for(
            &format!("the service at site {site}"),
            Duration::from_secs(10),
            || {
                sys::run_in(
                    &ns,
                    &exe,
                    &["ask", "--kind", "http", "--target", "127.0.0.1"],
                )
                .is_ok()
            },
        )
    }

    pub fn start_orbitd(&mut self, member: &str) -> Result<()> {
        let paths = orbitd::member_paths(&self.dir, member);
        std::fs::create_dir_all(&paths.dir)?;
        let setup = self.setup();
        orbitd::write_config(&setup, member, &paths.config)?;
        let argv = vec![
            orbitd::bin("orbitd")?.display().to_string(),
            "--config".into(),
            paths.config.display().to_string(),
        ];
        let name = format!("orbitd-{member}");
        let level = std::env::var("ORBIT_LAB_LOG").unwrap_or_else(|_| "info".into());
        let proc = Proc::spawn(
            &name,
            Some(&self.ns(member)),
            &argv,
            &[("ORBIT_LOG", &level)],
            &paths.dir.join("orbitd.log"),
            false,
        )?;
        self.procs.insert(name.clone(), proc);
        let socket = paths.socket.clone();
        let result = sys::wait_for(
            &format!("{name}'s API socket"),
            Duration::from_secs(15),
            || std::os::unix::net::UnixStream::connect(&socket).is_ok(),
        );
        if let Err(e) = result {
            if let Some(p) = self.procs.get_mut(&name) {
                p.check_alive()?;
            }
            return Err(e);
        }
        Ok(())
    }

    pub fn setup(&self) -> orbitd::Setup<'_> {
        orbitd::Setup {
            mode: self.mode,
            root: &self.dir,
            tuning: self.tuning,
            haproxy_socket: &self.haproxy_socket,
            haproxy_map: &self.haproxy_map,
            ovs_dir: &self.ovs_dir,
        }
    }

    /// Runs `orbitctl` against a member's socket (inside its namespace, as
    /// an operator on that router would).
    pub fn orbitctl(&self, member: &str, args: &[&str]) -> Result<String> {
        let paths = orbitd::member_paths(&self.dir, member);
        let ctl = orbitd::bin("orbitctl")?.display().to_string();
        let socket = paths.socket.display().to_string();
        let mut all = vec!["--socket", &socket];
        all.extend_from_slice(args);
        sys::run_in(&self.ns(member), &ctl, &all)
    }

    /// One request from the client, as `orbit-lab ask` does it: which site
    /// serves the stream the mode steers.
    pub fn ask(&self) -> Option<String> {
        let exe = Self::self_exe().ok()?;
        let kind = if self.mode == Mode::Haproxy {
            "http"
        } else {
            "udp"
        };
        sys::run_in(&self.ns("client"), &exe, &["ask", "--kind", kind])
            .ok()
            .map(|s| s.trim().to_owned())
    }

    /// Waits until the client is served by `site` three times in a row and
    /// every orbitd is alive.
    pub fn wait_steady(&mut self, site: &str, timeout: Duration) -> Result<()> {
        let mut streak = 0;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            for p in self.procs.values_mut() {
                p.check_alive()?;
            }
            if self.ask().as_deref() == Some(site) && self.orbit_steady(site) {
                streak += 1;
                if streak >= 3 {
                    return Ok(());
                }
            } else {
                streak = 0;
            }
            if std::time::Instant::now() > deadline {
                let first = self.routers()[0];
                let bfd = if self.tuning.member_bfd(self.mode).is_some() {
                    let up: Vec<String> = self
                        .routers()
                        .iter()
                        .map(|m| format!("at {m}: {}", self.member_bfd_up(m)))
                        .collect();
                    format!(
                        ", members' BFD sessions Up {} (of {} each)",
                        up.join(", "),
                        self.tuning.members().len() - 1
                    )
                } else {
                    String::new()
                };
                bail!(
                    "the lab is not steady on site {site} after {timeout:?} (last answer: {:?}{bfd}); orbitd {first} log:\n{}",
                    self.ask(),
                    sys::tail(&orbitd::member_paths(&self.dir, first).dir.join("orbitd.log"), 10)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// GET on a member's API socket: status code and body.
    pub fn api_get(&self, member: &str, path: &str) -> Option<(u16, String)> {
        use std::io::{Read, Write};
        let socket = orbitd::member_paths(&self.dir, member).socket;
        let mut s = std::os::unix::net::UnixStream::connect(socket).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: orbitd\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut text = String::new();
        s.read_to_string(&mut text).ok()?;
        let code = text.split_whitespace().nth(1)?.parse().ok()?;
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
        Some((code, body))
    }

    /// Both sites' orbitd have authority, their backends confirmed the
    /// current steering, and `web` is steered to `site`. (In SDN mode the
    /// bridge's NORMAL flow reaches a site before orbit steers anything,
    /// so the client's answer alone proves nothing.) Where the members run
    /// BFD, both sites' sessions to the two other members are Up: a run
    /// must not start while one detector is still coming up.
    fn orbit_steady(&self, site: &str) -> bool {
        if !self.mode.orbit() {
            return true;
        }
        let ready = |m: &str| self.api_get(m, "/ready").is_some_and(|(c, _)| c == 200);
        // Each router's sessions to every other member.
        let others = self.tuning.members().len() - 1;
        let bfd = || {
            self.tuning.member_bfd(self.mode).is_none()
                || self
                    .routers()
                    .iter()
                    .all(|m| self.member_bfd_up(m) == others)
        };
        self.routers().iter().all(|m| ready(m))
            && self.steered_to(self.routers()[0]).as_deref() == Some(site)
            && bfd()
    }

    /// How many of `member`'s multihop BFD sessions (toward the other
    /// members) are Up; 0 while its orbitd does not answer.
    pub fn member_bfd_up(&self, member: &str) -> usize {
        self.status(member).map_or(0, |status| {
            status
                .bfd
                .iter()
                .filter(|s| s.hop == BfdHop::Multihop && s.state == BfdState::Up)
                .count()
        })
    }

    /// `member`'s `/v1/status`, typed so that a field orbitd renames fails
    /// to compile here; None while it does not answer (yet).
    fn status(&self, member: &str) -> Option<StatusResponse> {
        self.api_get(member, "/v1/status")
            .filter(|(code, _)| *code == 200)
            .and_then(|(_, body)| serde_json::from_str(&body).ok())
    }

    /// Every service's active site (None: no site) as `member`'s orbitd
    /// steers it, and whether that orbitd is fenced.
    pub fn placement(&self, member: &str) -> Option<(BTreeMap<String, Option<String>>, bool)> {
        let status = self.status(member)?;
        let active = status
            .steering
            .services
            .iter()
            .map(|(service, s)| {
                let site = s.active.as_ref().map(|site| site.as_str().to_owned());
                (service.as_str().to_owned(), site)
            })
            .collect();
        Some((active, status.engine.fenced))
    }

    /// Where `member`'s orbitd steers `web` (its status API).
    pub fn steered_to(&self, member: &str) -> Option<String> {
        let status = self.status(member)?;
        let (_, web) = status
            .steering
            .services
            .iter()
            .find(|(service, _)| service.as_str() == "web")?;
        web.active.as_ref().map(|site| site.as_str().to_owned())
    }

    pub fn proc(&self, name: &str) -> Result<&Proc> {
        self.procs
            .get(name)
            .with_context(|| format!("no process {name}"))
    }

    // ---- faults --------------------------------------------------------

    /// All of a site's links down at once (data plane and control network;
    /// for a1 or a2 also its link to site a's servers).
    pub fn cut_site(&self, site: &str) -> Result<()> {
        let mut batch = format!(
            "link set {} down\nlink set {} down\n",
            plan::site_if(site),
            plan::CTL_IF
        );
        if plan::ROUTERS_A.contains(&site) {
            batch.push_str(&format!("link set {} down\n", plan::ROUTER_SERVERS_IF));
        }
        ip_batch(&self.ns(site), &batch)
    }

    /// `--routers 2`: how many packets toward the service `router` has
    /// forwarded, and how many of them were the client's UDP probes
    /// (nftables counters in its forward hook, set up by
    /// `count_forwarded`; 0 where there are none).
    pub fn forwarded(&self, router: &str) -> Forwarded {
        let counters = sys::run_in(
            &self.ns(router),
            "nft",
            &["list", "table", "inet", "olab_fwd"],
        )
        .map(|text| counter_packets(&text))
        .unwrap_or_default();
        Forwarded {
            all: counters.first().copied().unwrap_or(0),
            udp: counters.get(1).copied().unwrap_or(0),
        }
    }

    /// Starts counting what a1 and a2 forward toward the service.
    pub fn count_forwarded(&self) -> Result<()> {
        for router in plan::ROUTERS_A {
            sys::nft(
                &self.ns(router),
                &format!(
                    "table inet olab_fwd {{\n chain forwarded {{\n  type filter hook forward priority 0;\n  ip daddr {svc} counter\n  ip daddr {svc} udp dport {port} counter\n }}\n}}\n",
                    svc = plan::SERVICE_ADDR,
                    port = plan::UDP_PORT
                ),
            )?;
        }
        Ok(())
    }

    /// Brings a site's links back; returns when they were up (Unix µs),
    /// before the routes are re-added.
    pub fn restore_site(&self, site: &str) -> Result<i64> {
        let batch = format!(
            "link set {} up\nlink set {} up\n",
            plan::site_if(site),
            plan::CTL_IF
        );
        ip_batch(&self.ns(site), &batch)?;
        let up = crate::sys::now_us();
        self.site_routes(site)?;
        Ok(up)
    }

    /// Only a site's control-network link down (`up` false) or up: the
    /// cluster loses the site while its data plane and the edge's port to
    /// it stay up, so whatever happens to the client is orbit's doing.
    pub fn control_link(&self, site: &str, up: bool) -> Result<()> {
        ip(
            &self.ns(site),
            &format!(
                "link set {} {}",
                plan::CTL_IF,
                if up { "up" } else { "down" }
            ),
        )
    }

    /// `site` is back in the cluster after a cut: the other site's orbitd
    /// neither declares it dead nor counts a dead vote against it, and
    /// `site`'s own orbitd has authority again (not fenced, synced).
    pub fn rejoined(&self, site: &str) -> bool {
        let other = if site == "a" { "b" } else { "a" };
        let seen_alive = self.status(other).is_some_and(|v| {
            v.engine
                .sites
                .iter()
                .any(|s| s.id.as_str() == site && !s.dead && s.dead_votes.is_empty())
        });
        let authority = self
            .status(site)
            .is_some_and(|v| !v.engine.fenced && v.engine.synced);
        seen_alive && authority
    }

    /// The site goes dark but its links stay up, as when a site loses power
    /// behind a metro transport that does not propagate loss of signal: the
    /// edge's port keeps its carrier, so only a protocol (BFD, the BGP hold
    /// timer, orbit's detectors) can tell. Everything in and out of the
    /// site's data-plane and control interfaces is dropped at the device
    /// (netdev ingress and egress hooks: ARP included), carriers untouched.
    pub fn dark_site(&self, site: &str, on: bool) -> Result<()> {
        let rules = if on {
            let mut t = String::from("table netdev olab_dark {\n");
            for dev in [plan::site_if(site), plan::CTL_IF] {
                t.push_str(&format!(
                    " chain in_{dev} {{ type filter hook ingress device \"{dev}\" priority -500; policy drop; }}\n \
                     chain out_{dev} {{ type filter hook egress device \"{dev}\" priority -500; policy drop; }}\n"
                ));
            }
            t.push_str("}\n");
            t
        } else {
            "delete table netdev olab_dark\n".to_owned()
        };
        sys::nft(&self.ns(site), &rules)
    }

    /// Drops everything between a and b on the control network (both
    /// directions, at both ends); the witness still reaches both.
    pub fn partition_ab(&self, on: bool) -> Result<()> {
        for (site, peer) in [("a", "b"), ("b", "a")] {
            let peer_addr = plan::ctl_addr(peer);
            let rules = if on {
                format!(
                    "table inet olab_part {{\n chain in {{ type filter hook input priority 0; ip saddr {peer_addr} drop; }}\n chain out {{ type filter hook output priority 0; ip daddr {peer_addr} drop; }}\n}}\n"
                )
            } else {
                "delete table inet olab_part\n".to_owned()
            };
            sys::nft(&self.ns(site), &rules)?;
        }
        Ok(())
    }

    /// `percent`% random loss on every packet a site receives over the
    /// control network (both sites): a–b, b–a, w–a and w–b all lose.
    pub fn control_loss(&self, percent: u32) -> Result<()> {
        for site in self.sites() {
            let rules = if percent > 0 {
                format!(
                    "table inet olab_loss {{\n chain in {{ type filter hook input priority 0; iifname \"{}\" numgen random mod 100 < {percent} drop; }}\n}}\n",
                    plan::CTL_IF
                )
            } else {
                "delete table inet olab_loss\n".to_owned()
            };
            sys::nft(&self.ns(site), &rules)?;
        }
        Ok(())
    }
}

/// Packets a router forwarded toward the service: all, and the client's
/// UDP probes among them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Forwarded {
    pub all: u64,
    pub udp: u64,
}

/// The packets of every `counter` in `nft list` output, in rule order.
pub fn counter_packets(text: &str) -> Vec<u64> {
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .windows(3)
        .filter(|w| w[0] == "counter" && w[1] == "packets")
        .filter_map(|w| w[2].parse().ok())
        .collect()
}

fn ip_batch(ns: &str, batch: &str) -> Result<()> {
    use std::io::Write;
    let mut child = std::process::Command::new("ip")
        .args(["-n", ns, "-batch", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .context("ip stdin")?
        .write_all(batch.as_bytes())?;
    let status = child.wait()?;
    if !status.success() {
        bail!("ip -batch in {ns} failed: {batch}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn counters_are_read_in_rule_order() {
        // `nft list table inet olab_fwd` as nftables 1.0.6 prints it.
        let text = "table inet olab_fwd {
	chain forwarded {
		type filter hook forward priority filter; policy accept;
		ip daddr 198.51.100.10 counter packets 405 bytes 30123
		ip daddr 198.51.100.10 udp dport 7000 counter packets 12 bytes 480
	}
}
";
        assert_eq!(super::counter_packets(text), [405, 12]);
        assert!(super::counter_packets("table inet olab_fwd {}").is_empty());
    }
}
