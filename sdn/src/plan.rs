//! Steering -> OpenFlow state, and the ordered difference between two
//! states. Pure: no I/O.
//!
//! Per service, one fast-failover group (OpenFlow 1.3.5 §5.6.1) holds one
//! bucket per site that can carry the service, the active site's first:
//! each bucket rewrites the destination MAC to that site's next hop and
//! outputs to its port, and watches that port. If the active site's link
//! dies the switch itself falls over to the next live bucket, before orbitd
//! has even noticed. Flows in orbit's table match the service prefixes
//! (IPv4 destination, IPv6 destination) plus the address resolution that a
//! client on the bridge needs to reach them (ARP requests for an IPv4
//! service address, Neighbor Solicitations for an IPv6 /128), all pointing
//! at the group. A planned switchover is then one GROUP_MOD: the group's
//! buckets are replaced atomically, with no window where no rule matches.

use std::collections::BTreeMap;

use ipnet::IpNet;
use orbit_core::config::Service;

use crate::config::Config;
use orbit_core::{ServiceId, SiteId, Steering};

use crate::error::Error;
use crate::ofp::oxm::{
    v4_mask, v6_mask, ARP_OP_REQUEST, ETH_TYPE_ARP, ETH_TYPE_IPV4, ETH_TYPE_IPV6,
    ICMPV6_NEIGHBOR_SOLICITATION, IP_PROTO_ICMPV6,
};
use crate::ofp::{
    Action, Body, Bucket, FlowMod, FlowModCommand, GroupMod, GroupModCommand, GroupType,
    Instruction, Mac, Match, Oxm, OFPG_ANY,
};

/// Where a site is reached from the switch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SitePort {
    pub(crate) port: u32,
    pub(crate) mac: Mac,
}

#[derive(Debug, Clone)]
pub(crate) struct ServiceLayout {
    pub(crate) group_id: u32,
    /// The sites that can carry it, most preferred first (fallback order).
    pub(crate) sites: Vec<SiteId>,
    /// Its configured prefixes (to find its flows when reading back).
    pub(crate) prefixes: Vec<IpNet>,
}

/// The static part: what the config says about the switch.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub(crate) cookie: u64,
    pub(crate) table: u8,
    pub(crate) priority: u16,
    pub(crate) group_base: u32,
    pub(crate) ports: BTreeMap<SiteId, SitePort>,
    pub(crate) services: BTreeMap<ServiceId, ServiceLayout>,
}

impl Layout {
    pub(crate) fn new(cfg: &Config, services: &[Service]) -> Result<Layout, Error> {
        let mut ports = BTreeMap::new();
        for (site, p) in &cfg.ports {
            let mac = p
                .mac
                .parse()
                .map_err(|e| Error::Config(format!("sdn.ports.{site}.mac: {e}")))?;
            ports.insert(site.clone(), SitePort { port: p.port, mac });
        }
        let mut ids: Vec<&Service> = services.iter().collect();
        ids.sort_by(|a, b| a.id.cmp(&b.id));
        let mut out = BTreeMap::new();
        for (i, svc) in ids.into_iter().enumerate() {
            let offset = u32::try_from(i).map_err(|_| Error::Config("too many services".into()))?;
            let group_id = cfg
                .group_base
                .checked_add(offset)
                .filter(|g| *g <= 0xffff_ff00)
                .ok_or_else(|| Error::Config("sdn.group_base: group ids overflow".into()))?;
            out.insert(
                svc.id.clone(),
                ServiceLayout {
                    group_id,
                    sites: svc.sites.clone(),
                    prefixes: svc.prefixes.clone(),
                },
            );
        }
        Ok(Layout {
            cookie: cfg.cookie,
            table: cfg.table,
            priority: cfg.priority,
            group_base: cfg.group_base,
            ports,
            services: out,
        })
    }

    /// Whether a group id is in orbit's range.
    pub(crate) fn owns_group(&self, id: u32) -> bool {
        id >= self.group_base
            && u64::from(id) < u64::from(self.group_base) + self.services.len() as u64
    }

    /// The site a port leads to.
    pub(crate) fn site_of_port(&self, port: u32) -> Option<&SiteId> {
        self.ports
            .iter()
            .find(|(_, p)| p.port == port)
            .map(|(s, _)| s)
    }
}

/// A flow is identified by table, priority and match (OpenFlow 1.3.5
/// §6.4: "identical" flows); orbit uses one table and its cookie.
pub(crate) type FlowKey = (u16, Match);

/// An OpenFlow state: orbit's groups and flows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct State {
    pub(crate) groups: BTreeMap<u32, (GroupType, Vec<Bucket>)>,
    pub(crate) flows: BTreeMap<FlowKey, Vec<Instruction>>,
}

/// The flow matches that steer one prefix.
pub(crate) fn matches_for(prefix: &IpNet) -> Vec<Match> {
    match prefix.trunc() {
        IpNet::V4(p) => {
            let (addr, mask) = (p.network(), v4_mask(p.prefix_len()));
            vec![
                Match::new(vec![Oxm::EthType(ETH_TYPE_IPV4), Oxm::Ipv4Dst(addr, mask)]),
                // ARP requests for the service address: the active site
                // answers them, so a client on the bridge can resolve it.
                // Requests only: an ARP reply to the service address is
                // addressed to the site that asked (a site resolving a
                // host from its service address, e.g. to answer a client;
                // RFC 826), and must reach that site, not the active one.
                Match::new(vec![
                    Oxm::EthType(ETH_TYPE_ARP),
                    Oxm::ArpOp(ARP_OP_REQUEST),
                    Oxm::ArpTpa(addr, mask),
                ]),
            ]
        }
        IpNet::V6(p) => {
            let (addr, mask) = (p.network(), v6_mask(p.prefix_len()));
            let mut m = vec![Match::new(vec![
                Oxm::EthType(ETH_TYPE_IPV6),
                Oxm::Ipv6Dst(addr, mask),
            ])];
            // IPV6_ND_TARGET cannot be masked (§7.2.3.7), so ND is steered
            // for host addresses only.
            if mask.is_none() {
                m.push(Match::new(vec![
                    Oxm::EthType(ETH_TYPE_IPV6),
                    Oxm::IpProto(IP_PROTO_ICMPV6),
                    Oxm::Icmpv6Type(ICMPV6_NEIGHBOR_SOLICITATION),
                    Oxm::Ipv6NdTarget(addr),
                ]));
            }
            m
        }
    }
}

/// What the switch must hold for `steering`.
pub(crate) fn desired(layout: &Layout, steering: &Steering) -> Result<State, Error> {
    let mut st = State::default();
    for (id, svc) in &steering.services {
        let lay = layout.services.get(id).ok_or_else(|| {
            Error::Config(format!(
                "service {id:?} is not in the configuration this switch was started with"
            ))
        })?;
        let instructions = match &svc.active {
            Some(active) => {
                let mut order = vec![active];
                order.extend(lay.sites.iter().filter(|s| *s != active));
                let mut buckets = Vec::new();
                for site in order {
                    let p = layout.ports.get(site).ok_or_else(|| {
                        Error::Config(format!(
                            "sdn.ports has no port for site {site:?} (service {id:?})"
                        ))
                    })?;
                    buckets.push(Bucket {
                        weight: 0,
                        watch_port: p.port,
                        watch_group: OFPG_ANY,
                        actions: vec![Action::SetField(Oxm::EthDst(p.mac)), Action::output(p.port)],
                    });
                }
                st.groups
                    .insert(lay.group_id, (GroupType::FastFailover, buckets));
                vec![Instruction::ApplyActions(vec![Action::Group(lay.group_id)])]
            }
            // No site may carry it: an explicit drop, so the traffic does not
            // fall through to lower-priority rules.
            None => Vec::new(),
        };
        for prefix in &svc.prefixes {
            for m in matches_for(prefix) {
                st.flows.insert((layout.priority, m), instructions.clone());
            }
        }
    }
    Ok(st)
}

/// The ordered messages that turn `held` into `want` without a black hole:
/// groups are added or modified first, then flows pointing at them, then
/// stale flows are removed, and only then stale groups.
pub(crate) fn diff(layout: &Layout, held: &State, want: &State) -> Vec<Body> {
    let mut out = Vec::new();
    for (id, (typ, buckets)) in &want.groups {
        let command = match held.groups.get(id) {
            None => GroupModCommand::Add,
            Some(h) if h.0 == *typ && &h.1 == buckets => continue,
            Some(_) => GroupModCommand::Modify,
        };
        out.push(Body::GroupMod(GroupMod {
            command,
            group_type: *typ,
            group_id: *id,
            buckets: buckets.clone(),
        }));
    }
    let flow_mod = |command, (priority, m): &FlowKey, ins: &[Instruction]| {
        let mut f = FlowMod::new(command, layout.table, *priority, m.clone());
        f.cookie = layout.cookie;
        f.cookie_mask = u64::MAX;
        f.instructions = ins.to_vec();
        Body::FlowMod(f)
    };
    for (key, ins) in &want.flows {
        match held.flows.get(key) {
            None => out.push(flow_mod(FlowModCommand::Add, key, ins)),
            Some(h) if h == ins => {}
            Some(_) => out.push(flow_mod(FlowModCommand::ModifyStrict, key, ins)),
        }
    }
    for key in held.flows.keys() {
        if !want.flows.contains_key(key) {
            out.push(flow_mod(FlowModCommand::DeleteStrict, key, &[]));
        }
    }
    for (id, (typ, _)) in &held.groups {
        if !want.groups.contains_key(id) {
            out.push(Body::GroupMod(GroupMod {
                command: GroupModCommand::Delete,
                group_type: *typ,
                group_id: *id,
                buckets: Vec::new(),
            }));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbit_core::{Role, ServiceSteering};

    fn site(s: &str) -> SiteId {
        s.parse().expect("site id")
    }

    fn layout() -> Layout {
        let cfg: Config = toml::from_str(
            r#"
            switch = "unix:/x/br0.mgmt"
            ovsdb = "unix:/x/db.sock"
            bridge = "br0"
            [ports.a]
            port = 1
            mac = "02:00:00:00:0a:01"
            [ports.b]
            port = 2
            mac = "02:00:00:00:0b:01"
            "#,
        )
        .expect("sdn config");
        let svc = |id: &str, sites: &[&str]| Service {
            id: id.parse().expect("service id"),
            prefixes: vec![],
            sites: sites.iter().map(|s| site(s)).collect(),
            health_checked: false,
            plan: None,
        };
        Layout::new(&cfg, &[svc("web", &["a", "b"]), svc("db", &["b", "a"])]).expect("layout")
    }

    fn steering(web: Option<&str>) -> Steering {
        let mut services = BTreeMap::new();
        services.insert(
            "web".parse().expect("id"),
            ServiceSteering {
                prefixes: vec![
                    "192.0.2.10/32".parse().expect("net"),
                    "2001:db8::10/128".parse().expect("net"),
                ],
                active: web.map(site),
                epoch: 0,
                local_role: Role::Standby,
                takeover: false,
            },
        );
        Steering {
            generation: 1,
            local_site: site("a"),
            fenced: false,
            observe_only: false,
            services,
        }
    }

    #[test]
    fn active_bucket_comes_first_and_every_site_is_watched() {
        let l = layout();
        let st = desired(&l, &steering(Some("b"))).expect("plan");
        // "db" < "web": web is the second group.
        let (typ, buckets) = &st.groups[&(l.group_base + 1)];
        assert_eq!(*typ, GroupType::FastFailover);
        assert_eq!(
            buckets.iter().map(|b| b.watch_port).collect::<Vec<_>>(),
            vec![2, 1]
        );
        assert_eq!(
            buckets[0].actions[0],
            Action::SetField(Oxm::EthDst("02:00:00:00:0b:01".parse().expect("mac")))
        );
        // ip + arp + ipv6 + nd
        assert_eq!(st.flows.len(), 4);
        // ARP: requests only; a reply to the service address goes to the
        // site that asked.
        let arp: Vec<&Match> = st
            .flows
            .keys()
            .map(|(_, m)| m)
            .filter(|m| m.fields().contains(&Oxm::EthType(ETH_TYPE_ARP)))
            .collect();
        assert_eq!(arp.len(), 1);
        assert!(arp[0].fields().contains(&Oxm::ArpOp(ARP_OP_REQUEST)));
    }

    #[test]
    fn a_switchover_is_one_group_modify() {
        let l = layout();
        let a = desired(&l, &steering(Some("a"))).expect("plan");
        let b = desired(&l, &steering(Some("b"))).expect("plan");
        let d = diff(&l, &a, &b);
        assert_eq!(d.len(), 1);
        assert!(matches!(&d[0], Body::GroupMod(g) if g.command == GroupModCommand::Modify));
        assert!(diff(&l, &b, &b).is_empty());
    }

    #[test]
    fn new_rules_go_before_old_ones_are_removed() {
        let l = layout();
        let none = State::default();
        let a = desired(&l, &steering(Some("a"))).expect("plan");
        let add = diff(&l, &none, &a);
        assert!(matches!(&add[0], Body::GroupMod(g) if g.command == GroupModCommand::Add));
        assert!(add[1..].iter().all(|b| matches!(b, Body::FlowMod(f) if f.command == FlowModCommand::Add && f.cookie == l.cookie)));
        let remove = diff(&l, &a, &none);
        let last = remove.last().expect("non-empty");
        assert!(matches!(last, Body::GroupMod(g) if g.command == GroupModCommand::Delete));
        assert!(remove[..remove.len() - 1].iter().all(|b| matches!(b, Body::FlowMod(f) if f.command == FlowModCommand::DeleteStrict && f.cookie_mask == u64::MAX)));
    }

    #[test]
    fn no_active_site_is_an_explicit_drop() {
        let l = layout();
        let st = desired(&l, &steering(None)).expect("plan");
        assert!(st.groups.is_empty());
        assert!(st.flows.values().all(Vec::is_empty));
    }

    #[test]
    fn unknown_service_is_a_config_error() {
        let l = layout();
        let mut s = steering(Some("a"));
        let v = s.services.pop_first().expect("one").1;
        s.services.insert("mail".parse().expect("id"), v);
        assert!(matches!(desired(&l, &s), Err(Error::Config(_))));
    }

    #[test]
    fn wide_prefixes_are_masked_and_have_no_nd_flow() {
        let m = matches_for(&"2001:db8:1::/48".parse().expect("net"));
        assert_eq!(m.len(), 1);
        let m = matches_for(&"198.51.100.7/24".parse().expect("net"));
        assert_eq!(
            m[0].fields()[1],
            Oxm::Ipv4Dst(
                "198.51.100.0".parse().expect("ip"),
                Some("255.255.255.0".parse().expect("ip"))
            )
        );
    }
}
