//! `[sdn]` of `orbit.toml`: the Open vSwitch backend's section, and its
//! checks.

use std::collections::BTreeMap;

use orbit_core::config::{HumanDuration, Problems, Scope};
use orbit_core::SiteId;
use serde::{Deserialize, Serialize};

/// `[sdn]`: the Open vSwitch backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// OpenFlow endpoint: `unix:PATH` (the bridge's .mgmt socket) or `tcp:HOST:PORT`.
    pub switch: String,
    /// OVSDB endpoint: `unix:PATH` or `tcp:HOST:PORT`.
    pub ovsdb: String,
    pub bridge: String,
    /// Cookie that marks orbit's flows.
    #[serde(default = "default_cookie")]
    pub cookie: u64,
    /// site -> the port toward it and the next hop's MAC there.
    pub ports: BTreeMap<SiteId, SdnPort>,
    /// OpenFlow table orbit's flows live in.
    #[serde(default)]
    pub table: u8,
    /// Priority of orbit's flows; traffic they do not match falls through
    /// to whatever else the bridge holds.
    #[serde(default = "default_sdn_priority")]
    pub priority: u16,
    /// Group ids `group_base .. group_base + number of services` belong to
    /// orbit (one fast-failover group per service, in service id order).
    #[serde(default = "default_group_base")]
    pub group_base: u32,
    /// How long `apply` waits for the switch's BARRIER_REPLY.
    #[serde(default = "default_sdn_timeout")]
    pub timeout: HumanDuration,
    /// ovs-vswitchd's control socket (`unix:PATH`), used after BARRIER_REPLY
    /// to wait until the datapath flow cache follows the new rules. Default:
    /// found from the pidfile next to a `unix:` switch socket.
    pub vswitchd_ctl: Option<String>,
}

impl Config {
    /// `[sdn]` with what an operator must write and every default, as if
    /// read from a file that gives only these keys.
    pub fn new(
        switch: String,
        ovsdb: String,
        bridge: String,
        ports: BTreeMap<SiteId, SdnPort>,
    ) -> Config {
        Config {
            switch,
            ovsdb,
            bridge,
            cookie: default_cookie(),
            ports,
            table: 0,
            priority: default_sdn_priority(),
            group_base: default_group_base(),
            timeout: default_sdn_timeout(),
            vswitchd_ctl: None,
        }
    }
}

fn default_cookie() -> u64 {
    0x0b17_0000_0000_0001
}

fn default_sdn_priority() -> u16 {
    1000
}

fn default_group_base() -> u32 {
    0x0b17_0000
}

fn default_sdn_timeout() -> HumanDuration {
    HumanDuration::from_secs(5)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SdnPort {
    pub port: u32,
    pub mac: String,
}

impl Config {
    /// The problems of `[sdn]`: its own, and the sites and services it
    /// steers checked against `scope`.
    pub fn validate(&self, scope: &Scope<'_>, r: &mut Problems) {
        let s = self;
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
        let last_group = u64::from(s.group_base) + scope.services.len() as u64;
        if s.group_base == 0 || last_group > 0xffff_ff00 {
            r.add(
                "sdn.group_base",
                format!(
                    "{:#x} + {} services leaves the group id range 1..=0xffffff00",
                    s.group_base,
                    scope.services.len()
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
            if !scope.is_site(site) {
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
        for svc in scope.services {
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

fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use orbit_core::config::{Service, Site};

    use super::*;

    /// Every problem `[sdn]` `text` has, for sites a and b serving "web".
    fn problems(text: &str) -> Vec<String> {
        let config: Config = toml::from_str(text).expect("parses");
        let sites: Vec<Site> = ["a", "b"]
            .iter()
            .enumerate()
            .map(|(i, id)| Site {
                id: id.parse().expect("id"),
                gossip: format!("10.0.{i}.1:7946").parse().expect("addr"),
                witness: false,
                site: None,
            })
            .collect();
        let services = [Service {
            id: "web".parse().expect("id"),
            prefixes: vec!["198.51.100.10/32".parse().expect("prefix")],
            sites: sites.iter().map(|s| s.id.clone()).collect(),
            health_checked: false,
            plan: None,
        }];
        let scope = Scope {
            node: &sites[0].id,
            sites: &sites,
            services: &services,
        };
        let mut found = Problems::default();
        config.validate(&scope, &mut found);
        found.into_vec().iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn sdn_section_problems_name_their_paths() {
        let text = "switch = \"unix:/run/openvswitch/br0.mgmt\"\n\
             ovsdb = \"unix:/run/openvswitch/db.sock\"\nbridge = \"br0\"\ncookie = 0\n\
             table = 254\npriority = 0\ngroup_base = 0\ntimeout = \"0s\"\n\
             [ports.a]\nport = 1\nmac = \"02:00:00:00:0a:01\"\n\
             [ports.b]\nport = 2\nmac = \"02:00:00:00:0b:01\"\n";
        let p = problems(text);
        for path in [
            "sdn.cookie",
            "sdn.table",
            "sdn.priority",
            "sdn.group_base",
            "sdn.timeout",
        ] {
            assert!(
                p.iter().any(|x| x.contains(path)),
                "{path} missing in {p:?}"
            );
        }
        let good = text
            .replace("cookie = 0\n", "")
            .replace("table = 254\n", "")
            .replace("priority = 0\n", "")
            .replace("group_base = 0\n", "")
            .replace("timeout = \"0s\"\n", "");
        assert_eq!(problems(&good), Vec::<String>::new());
    }

    #[test]
    fn new_gives_the_defaults_of_a_file_with_only_the_required_keys() {
        let text = "switch = \"unix:/s\"\novsdb = \"unix:/d\"\nbridge = \"br0\"\n\
             [ports.a]\nport = 1\nmac = \"02:00:00:00:0a:01\"\n";
        let read: Config = toml::from_str(text).expect("parses");
        let ports = BTreeMap::from([(
            "a".parse().expect("id"),
            SdnPort {
                port: 1,
                mac: "02:00:00:00:0a:01".into(),
            },
        )]);
        let built = Config::new("unix:/s".into(), "unix:/d".into(), "br0".into(), ports);
        assert_eq!(built, read);
    }
}
