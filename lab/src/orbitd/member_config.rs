//! A member's `orbit.toml`, built as the daemon's own config types
//! (`orbit_config::Config` and each crate's section) and serialized, so a
//! key renamed or retyped in the daemon fails the lab's build instead of
//! making a lab run misconfigured.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::str::FromStr;

use anyhow::{anyhow, Context as _, Result};
use orbit_config::{Api, Config, HumanDuration, Node, NodeRole, ServiceEntry};
use orbit_core::config::{Failback as FailbackRule, Policy, Site};
use orbit_core::SiteId;
use orbit_detect::{DetectProfile, HealthCheck};

use super::{member_paths, Failback, Setup, SDN_BRIDGE};
use crate::plan::{self, Mode};

/// Writes `member`'s config to `path`.
pub fn write_config(setup: &Setup<'_>, member: &str, path: &Path) -> Result<()> {
    let text = toml::to_string(&config(setup, member)?)
        .with_context(|| format!("serializing {member}'s orbit.toml"))?;
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// The config of `member` (a, b, c, a1, a2 or the witness w).
pub fn config(setup: &Setup<'_>, member: &str) -> Result<Config> {
    let paths = member_paths(setup.root, member);
    let witness = member == "w";
    let mut config = Config {
        node: Node {
            site: parse(member)?,
            role: if witness {
                NodeRole::Witness
            } else {
                NodeRole::Site
            },
            state_dir: paths.dir.join("state"),
            api_socket: paths.socket,
            api_tcp: None,
            api_token_file: None,
            ready_timeout: HumanDuration::from_secs(30),
        },
        api: Api::default(),
        sites: setup
            .tuning
            .members()
            .iter()
            .copied()
            .map(|m| {
                Ok(Site {
                    id: parse(m)?,
                    gossip: socket(plan::ctl_addr(m), plan::GOSSIP_PORT)?,
                    witness: m == "w",
                    // a1 and a2 are members of site a (README, "Two
                    // routers per site"); every other member is a site.
                    site: (plan::site_of(m) != m)
                        .then(|| parse(plan::site_of(m)))
                        .transpose()?,
                })
            })
            .collect::<Result<_>>()?,
        detect: detect(setup)?,
        policy: policy(setup.tuning.failback),
        services: services(setup.tuning.three_sites, setup.tuning.two_routers)?,
        plans: Vec::new(),
        bgp: None,
        haproxy: None,
        sdn: None,
        hook: None,
        bfd: bfd(setup),
        // A lab run writes far less than a rotation's worth; the lab reads
        // journal.jsonl alone.
        journal: orbit_config::JournalConfig::default(),
    };
    if setup.tuning.pg.is_some() {
        config.services.push(db_service()?);
        config.plans.push(pg_plan(setup.root)?);
    }
    // A witness carries no service, so it drives no backend.
    if witness {
        return Ok(config);
    }
    match setup.mode {
        Mode::Haproxy => config.haproxy = Some(haproxy(setup)?),
        // The baseline runs no orbitd; its config is never written.
        Mode::Exabgp => {}
        Mode::Bgp | Mode::BgpNoBfd | Mode::Serf => {
            config.bgp = Some(bgp(setup, member)?);
        }
        Mode::Sdn => config.sdn = Some(sdn(setup)?),
    }
    Ok(config)
}

/// `[bfd]`: the interval of the edge's sessions in `bgp` mode (`bfd =
/// true` on the peer, below), and the members' multihop sessions wherever
/// they run, on every member (the witness included), at the same interval
/// (`Tuning::member_bfd`).
fn bfd(setup: &Setup<'_>) -> orbit_bfd::config::Config {
    let mut bfd = orbit_bfd::config::Config::default();
    let member = setup.tuning.member_bfd(setup.mode);
    let interval = if setup.mode.bfd() {
        Some(setup.tuning.bfd_ms)
    } else {
        member
    };
    if let Some(ms) = interval {
        bfd.interval = HumanDuration::from_millis(u64::from(ms));
        bfd.multiplier = plan::BFD_MULTIPLIER;
    }
    bfd.sites = member.is_some();
    bfd
}

fn detect(setup: &Setup<'_>) -> Result<orbit_detect::Config> {
    let mut detect = orbit_detect::Config {
        profile: DetectProfile::MetroFast,
        key_file: Some(setup.root.join("gossip.key")),
        ..orbit_detect::Config::default()
    };
    if setup.mode == Mode::Serf {
        // Serf decides liveness: orbit's gossip still probes at its usual
        // pace and carries the Serf verdicts, health and shared state to
        // the other members, but its own suspicion lasts 60 s, so SWIM
        // never declares a member dead within a run, and silence alone does
        // not either (`dead_on_silence = false`). The fencing timers,
        // derived from SWIM's by default, follow the faster detector.
        detect.serf_rpc = Some(socket("127.0.0.1", plan::SERF_RPC_PORT)?);
        detect.suspect_after = Some(HumanDuration::from_secs(60));
        detect.fence_after = Some(HumanDuration::from_millis(200));
        detect.fence_margin = Some(HumanDuration::from_millis(100));
        detect.dead_on_silence = false;
    }
    if setup.tuning.caps.dataplane_probe {
        // A silent daemon is not a dead site: every member also probes each
        // site's service over the control network.
        // With two routers at a, a1 and a2 have none: the probe is keyed
        // by member and reaches a member's service over the control
        // network, and site a's service outlives either router, so it
        // would keep a dead router alive. A router is judged by its daemon
        // (and member BFD); site a is dead only when both are.
        let probed = plan::sites(setup.tuning.three_sites)
            .iter()
            .filter(|site| setup.tuning.routers().contains(site));
        for site in probed {
            detect
                .probe
                .insert(parse(site)?, socket(plan::ctl_addr(site), plan::HTTP_PORT)?);
        }
    }
    Ok(detect)
}

fn policy(failback: Failback) -> Policy {
    let (rule, after) = match failback {
        Failback::After(ms) => (FailbackRule::After, HumanDuration::from_millis(ms)),
        // `failback_after` means nothing then; the default stands.
        Failback::Manual => (FailbackRule::Manual, Policy::default().failback_after),
    };
    Policy {
        failover_hold: HumanDuration::from_millis(0),
        failback: rule,
        failback_after: after,
        drain_grace: HumanDuration::from_secs(1),
        sync_timeout: HumanDuration::from_secs(1),
        shutdown_grace: HumanDuration::from_secs(2),
        ..Policy::default()
    }
}

/// With two sites the one service `web`: the address every site binds on
/// `lo`. With three, `plan::SERVICES3`.
fn services(three: bool, two_routers: bool) -> Result<Vec<ServiceEntry>> {
    // With two routers in front of site a's servers, the check goes to the
    // service address: on `lo` at b, routed to the servers at a1 and a2.
    let check_at = if two_routers {
        plan::SERVICE_ADDR
    } else {
        "127.0.0.1"
    };
    if !three {
        return Ok(vec![service(
            "web",
            plan::SERVICE_PREFIX,
            &plan::SITES,
            check_at,
        )?]);
    }
    plan::SERVICES3
        .iter()
        .map(|(id, prefix, sites)| service(id, prefix, sites, check_at))
        .collect()
}

/// A service checked over HTTP at the local site (every service of a
/// site is served by the same server), on `check_at`.
fn service(id: &str, prefix: &str, sites: &[&str], check_at: &str) -> Result<ServiceEntry> {
    Ok(ServiceEntry {
        id: parse(id)?,
        prefixes: vec![parse(prefix)?],
        sites: sites.iter().copied().map(parse).collect::<Result<_>>()?,
        health: Some(HealthCheck {
            tcp: None,
            http: Some(format!("http://{check_at}:{}/healthz", plan::HTTP_PORT)),
            http_status: None,
            http_body: None,
            exec: None,
            interval: HumanDuration::from_millis(100),
            timeout: None,
            rise: 2,
            fall: 2,
            fast_interval: None,
        }),
        plan: None,
    })
}

/// The database: `db` at `pg::DB_PREFIX`, a first, healthy while the
/// site's PostgreSQL accepts connections (a fenced, stopped old primary
/// is not), moved with the plan `pg`.
fn db_service() -> Result<ServiceEntry> {
    let mut s = service("db", crate::pg::DB_PREFIX, &plan::SITES, "127.0.0.1")?;
    s.health = Some(HealthCheck {
        tcp: Some(socket("127.0.0.1", crate::pg::PG_PORT)?),
        http: None,
        http_status: None,
        http_body: None,
        exec: None,
        interval: HumanDuration::from_millis(100),
        timeout: None,
        rise: 2,
        fall: 2,
        fast_interval: None,
    });
    s.plan = Some(parse("pg")?);
    Ok(s)
}

/// `[[plan]] "pg"`: promote the replica at the new site before it takes
/// the address (held if that fails: a read-only replica is not a
/// failover), stop the old primary (first in a switchover; when the old
/// site returns, before it may carry anything), and tell the
/// orchestrator (`notify.rs`, on the witness) once the move stands. The
/// first two are
/// `pg/step.sh` (lab/src/pg.rs), which finds the server from `ORBIT_TO` /
/// `ORBIT_FROM`.
fn pg_plan(root: &Path) -> Result<orbit_core::config::Plan> {
    let script = crate::pg::step_script(root).display().to_string();
    let text = format!(
        r#"id = "pg"

[[fence_old]]
name = "stop-old-primary"
kind = "exec"
at = "old"
command = ["{script}", "fence"]
timeout = "40s"
idempotent = true

[[before_takeover]]
name = "promote"
kind = "exec"
at = "new"
command = ["{script}", "promote"]
timeout = "70s"

[[after_takeover]]
name = "recover-datacenter"
kind = "http"
at = "any"
method = "POST"
url = "http://{notify}/v1/datacenters/${{to}}/recover"
body = '{{"service": "${{service}}", "from": "${{from}}", "to": "${{to}}", "generation": ${{generation}}}}'
timeout = "5s"
retries = 2
"#,
        notify = socket(plan::ctl_addr("w"), crate::notify::PORT)?,
    );
    parse_toml(&text).context("the lab's [[plan]] pg")
}

fn parse_toml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    Ok(toml::from_str(text)?)
}

fn haproxy(setup: &Setup<'_>) -> Result<orbit_haproxy::Config> {
    let backends = plan::SITES
        .into_iter()
        .map(|site| Ok((parse(site)?, format!("be_web_{site}"))))
        .collect::<Result<_>>()?;
    Ok(orbit_haproxy::Config {
        socket: setup.haproxy_socket.display().to_string(),
        map: setup.haproxy_map.to_path_buf(),
        timeout: HumanDuration::from_secs(1),
        shutdown_sessions: false,
        drain: false,
        no_site_backend: Some("be_no_site".to_owned()),
        backends: BTreeMap::from([(parse("web")?, backends)]),
        keys: BTreeMap::new(),
    })
}

/// One eBGP session to the edge's bird2; the standby pre-announces with
/// its AS prepended 3 times (or withdraws), and a takeover is marked with
/// the community the edge raises the preference for.
fn bgp(setup: &Setup<'_>, site: &str) -> Result<orbit_bgp::Config> {
    let local: IpAddr = parse(plan::site_addr(setup.mode, site))?;
    let IpAddr::V4(router_id) = local else {
        return Err(anyhow!("{local} is no IPv4 router id"));
    };
    let mut bgp = orbit_bgp::Config::new(plan::site_asn(site), router_id);
    if setup.tuning.standby_withdraw {
        bgp.standby = orbit_bgp::BgpStandby::Withdraw(orbit_bgp::StandbyWithdraw::Withdraw);
    }
    bgp.takeover.communities = vec![format!("{}:666", plan::EDGE_ASN)];
    let mut peer = orbit_bgp::BgpPeer::new(parse(plan::edge_site_addr(site))?, plan::EDGE_ASN);
    peer.hold = HumanDuration::from_secs(9);
    peer.local_address = Some(local);
    peer.families = vec![orbit_bgp::AddressFamily::Ipv4];
    peer.bfd = setup.mode.bfd();
    bgp.peers.push(peer);
    Ok(bgp)
}

fn sdn(setup: &Setup<'_>) -> Result<orbit_sdn::Config> {
    let ports = plan::SITES
        .into_iter()
        .map(|site| {
            let port = orbit_sdn::SdnPort {
                port: plan::sdn_port(plan::edge_if(site)),
                mac: plan::site_mac(site).to_owned(),
            };
            Ok((parse::<SiteId>(site)?, port))
        })
        .collect::<Result<_>>()?;
    let endpoint = |file: &str| format!("unix:{}", setup.ovs_dir.join(file).display());
    Ok(orbit_sdn::Config::new(
        endpoint(&format!("{SDN_BRIDGE}.mgmt")),
        endpoint("db.sock"),
        SDN_BRIDGE.to_owned(),
        ports,
    ))
}

/// A value of the address plan as the config's type.
fn parse<T>(text: &str) -> Result<T>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e| anyhow!("lab plan value {text:?}: {e}"))
}

fn socket(ip: &str, port: u16) -> Result<SocketAddr> {
    Ok(SocketAddr::new(parse(ip)?, port))
}

#[cfg(test)]
mod tests;
