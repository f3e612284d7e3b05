//! `[bgp]` and `[[bgp.peer]]` of `orbit.toml`: the BGP anycast backend's
//! section, and its checks.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use orbit_core::config::HumanDuration;
use serde::{Deserialize, Serialize};

mod validate;

/// `[bgp]`: the BGP anycast backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub asn: u32,
    pub router_id: Ipv4Addr,
    /// Also accept incoming sessions on TCP 179.
    #[serde(default)]
    pub listen: bool,
    /// Port for `listen` (default 179).
    #[serde(default = "default_bgp_port")]
    pub listen_port: u16,
    /// RFC 4724 restart time advertised to peers: how long they keep our
    /// routes while orbitd restarts. `"0s"` disables graceful restart.
    #[serde(default = "default_gr_time")]
    pub graceful_restart_time: HumanDuration,
    /// First delay before reconnecting a failed session; doubles up to 60 s.
    #[serde(default = "default_connect_retry")]
    pub connect_retry: HumanDuration,
    /// Next hop announced for IPv4 prefixes (default: the session's local address).
    pub next_hop_v4: Option<IpAddr>,
    /// Next hop announced for IPv6 prefixes. Default: the local address of
    /// an IPv6 session; required when an IPv4 session carries IPv6 prefixes
    /// (an IPv4-mapped next hop is never sent).
    pub next_hop_v6: Option<IpAddr>,
    #[serde(default)]
    pub active: BgpActive,
    #[serde(default)]
    pub standby: BgpStandby,
    #[serde(default)]
    pub takeover: BgpMarks,
    #[serde(default)]
    pub drain: BgpDrain,
    #[serde(rename = "peer", default)]
    pub peers: Vec<BgpPeer>,
    /// When the BGP backend counts as healthy for `/ready` and status.
    #[serde(default)]
    pub ready: BgpReadyRule,
}

/// `[bgp] ready`: which sessions must be up (Established, every route of
/// the current steering sent) for the BGP backend to be healthy. A backend
/// that is not healthy makes `/ready` answer 503 and status say "degraded".
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BgpReadyRule {
    /// Every configured peer (two routers per site: losing one is degraded).
    #[default]
    AllPeers,
    /// At least one peer per address family the services use.
    OnePerFamily,
}

impl Config {
    /// `[bgp]` with what an operator must write and every default, as if
    /// read from a file that gives only `asn` and `router_id`.
    pub fn new(asn: u32, router_id: Ipv4Addr) -> Config {
        Config {
            asn,
            router_id,
            listen: false,
            listen_port: default_bgp_port(),
            graceful_restart_time: default_gr_time(),
            connect_retry: default_connect_retry(),
            next_hop_v4: None,
            next_hop_v6: None,
            active: BgpActive::default(),
            standby: BgpStandby::default(),
            takeover: BgpMarks::default(),
            drain: BgpDrain::default(),
            peers: Vec::new(),
            ready: BgpReadyRule::default(),
        }
    }
}

fn default_bgp_port() -> u16 {
    179
}
fn default_gr_time() -> HumanDuration {
    HumanDuration::from_secs(120)
}
fn default_connect_retry() -> HumanDuration {
    HumanDuration::from_secs(2)
}

/// Attributes of announcements from the active site.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BgpActive {
    pub med: Option<u32>,
    #[serde(default)]
    pub communities: Vec<String>,
    #[serde(default)]
    pub large_communities: Vec<String>,
}

/// What the standby site announces: `"withdraw"` or a lower preference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum BgpStandby {
    Withdraw(StandbyWithdraw),
    Announce(BgpStandbyAnnounce),
}

impl Default for BgpStandby {
    fn default() -> Self {
        BgpStandby::Announce(BgpStandbyAnnounce {
            prepend: 3,
            med: None,
            communities: Vec::new(),
            large_communities: Vec::new(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StandbyWithdraw {
    Withdraw,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BgpStandbyAnnounce {
    /// Prepend the local AS this many extra times.
    #[serde(default)]
    pub prepend: u8,
    pub med: Option<u32>,
    #[serde(default)]
    pub communities: Vec<String>,
    #[serde(default)]
    pub large_communities: Vec<String>,
}

/// Extra marks on an announcement (takeover).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BgpMarks {
    #[serde(default)]
    pub communities: Vec<String>,
    #[serde(default)]
    pub large_communities: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BgpDrain {
    /// Tag draining routes with GRACEFUL_SHUTDOWN 65535:0 (RFC 8326).
    #[serde(default = "yes")]
    pub graceful_shutdown: bool,
}

impl Default for BgpDrain {
    fn default() -> Self {
        BgpDrain {
            graceful_shutdown: true,
        }
    }
}

fn yes() -> bool {
    true
}

/// `[[bgp.peer]]`: an upstream router.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BgpPeer {
    pub address: IpAddr,
    pub asn: u32,
    #[serde(default = "default_hold")]
    pub hold: HumanDuration,
    /// Only wait for the peer to connect.
    #[serde(default)]
    pub passive: bool,
    pub port: Option<u16>,
    pub local_address: Option<IpAddr>,
    #[serde(default)]
    pub bfd: bool,
    pub md5_password_file: Option<PathBuf>,
    /// GTSM (RFC 5082): only accept packets with TTL 255.
    #[serde(default)]
    pub ttl_security: bool,
    #[serde(default = "default_families")]
    pub families: Vec<AddressFamily>,
    /// Tear the session down if the peer sends more prefixes than this.
    #[serde(default = "default_max_prefixes")]
    pub max_prefixes: u32,
}

impl BgpPeer {
    /// A `[[bgp.peer]]` with what an operator must write and every default.
    pub fn new(address: IpAddr, asn: u32) -> BgpPeer {
        BgpPeer {
            address,
            asn,
            hold: default_hold(),
            passive: false,
            port: None,
            local_address: None,
            bfd: false,
            md5_password_file: None,
            ttl_security: false,
            families: default_families(),
            max_prefixes: default_max_prefixes(),
        }
    }
}

fn default_hold() -> HumanDuration {
    HumanDuration::from_secs(9)
}
fn default_families() -> Vec<AddressFamily> {
    vec![AddressFamily::Ipv4, AddressFamily::Ipv6]
}
fn default_max_prefixes() -> u32 {
    1000
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressFamily {
    Ipv4,
    Ipv6,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_gives_the_defaults_of_a_file_with_only_the_required_keys() {
        let text = "asn = 65001\nrouter_id = \"192.0.2.1\"\n\
                    [[peer]]\naddress = \"192.0.2.2\"\nasn = 64500\n";
        let read: Config = toml::from_str(text).expect("parses");
        let mut built = Config::new(65001, Ipv4Addr::new(192, 0, 2, 1));
        built
            .peers
            .push(BgpPeer::new(IpAddr::from([192, 0, 2, 2]), 64500));
        assert_eq!(built, read);
    }
}
