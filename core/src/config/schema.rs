//! The configuration schema of `orbitd`, one struct per TOML table.
//!
//! Every struct denies unknown fields so a typo is an error, not a silently
//! ignored setting. Semantic checks live in `validate.rs`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::duration::HumanDuration;
use crate::ids::{ServiceId, SiteId};

/// The whole `orbit.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub node: Node,
    /// Limits of the HTTP API listeners (`node.api_socket`, `node.api_tcp`).
    #[serde(default)]
    pub api: Api,
    #[serde(rename = "site")]
    pub sites: Vec<Site>,
    #[serde(default)]
    pub detect: Detect,
    #[serde(default)]
    pub policy: Policy,
    #[serde(rename = "service", default)]
    pub services: Vec<Service>,
    pub bgp: Option<Bgp>,
    pub haproxy: Option<Haproxy>,
    pub sdn: Option<Sdn>,
    pub hook: Option<Hook>,
    /// BFD timers for `[[bgp.peer]]`s with `bfd = true`.
    #[serde(default)]
    pub bfd: Bfd,
}

/// `[bfd]`: RFC 5880 timers of the single-hop sessions toward BGP peers
/// (`bfd = true`) and of the multihop sessions between members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bfd {
    /// Desired transmit and required receive interval.
    #[serde(default = "default_bfd_interval")]
    pub interval: HumanDuration,
    /// Missed packets before the path is declared down.
    #[serde(default = "default_bfd_multiplier")]
    pub multiplier: u8,
    /// Multihop BFD (RFC 5883) from this member to every other member's
    /// gossip address: a second, faster detector of a dead site. A Down
    /// joins this member's gossip verdict (the data-plane check and the
    /// quorum rule still decide); gossip stays the source of membership.
    #[serde(default)]
    pub sites: bool,
    /// Authentication of every session (RFC 5880 §6.7); none by default.
    pub auth: Option<BfdAuth>,
}

/// `[bfd.auth]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BfdAuth {
    #[serde(rename = "type")]
    pub kind: BfdAuthType,
    #[serde(default = "default_bfd_key_id")]
    pub key_id: u8,
    /// The shared key (the file's bytes, a trailing newline removed).
    pub key_file: PathBuf,
}

fn default_bfd_key_id() -> u8 {
    1
}

/// RFC 5880 §4.2-4.4. Meticulous variants increase the sequence number
/// with every packet, which defeats replay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BfdAuthType {
    SimplePassword,
    KeyedMd5,
    MeticulousKeyedMd5,
    KeyedSha1,
    MeticulousKeyedSha1,
}

fn default_bfd_interval() -> HumanDuration {
    HumanDuration::from_millis(50)
}
fn default_bfd_multiplier() -> u8 {
    3
}

impl Default for Bfd {
    fn default() -> Self {
        Bfd {
            interval: default_bfd_interval(),
            multiplier: default_bfd_multiplier(),
            sites: false,
            auth: None,
        }
    }
}

/// `[node]`: who this daemon is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    /// The `[[site]]` this daemon runs at.
    pub site: SiteId,
    #[serde(default)]
    pub role: NodeRole,
    #[serde(default = "default_state_dir")]
    pub state_dir: PathBuf,
    #[serde(default = "default_api_socket")]
    pub api_socket: PathBuf,
    /// Optional TCP listener for the API; requires `api_token_file`.
    pub api_tcp: Option<SocketAddr>,
    pub api_token_file: Option<PathBuf>,
}

/// `[api]`: how much of orbitd a client of the HTTP API may hold, and for
/// how long. Each listener has its own connection cap, so a flood on the
/// TCP listener never takes the unix socket (orbitctl) down with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Api {
    /// A connection must deliver a whole request head within this, counted
    /// from when it opens or from its previous answer (so it is also the
    /// keep-alive idle timeout); then it is closed.
    #[serde(default = "default_api_header_timeout")]
    pub header_timeout: HumanDuration,
    /// Reading a request's body and answering it; a command that has not
    /// reached the event loop by then is dropped, not applied.
    #[serde(default = "default_api_request_timeout")]
    pub request_timeout: HumanDuration,
    /// Connections open at once on the unix socket; one more is answered
    /// 503 and closed at once.
    #[serde(default = "default_api_unix_connections")]
    pub unix_connections: usize,
    /// Connections open at once on the TCP listener, likewise. Keep it
    /// well below the file descriptor limit (`LimitNOFILE=`).
    #[serde(default = "default_api_tcp_connections")]
    pub tcp_connections: usize,
}

fn default_api_header_timeout() -> HumanDuration {
    HumanDuration::from_secs(5)
}
fn default_api_request_timeout() -> HumanDuration {
    HumanDuration::from_secs(10)
}
fn default_api_unix_connections() -> usize {
    64
}
fn default_api_tcp_connections() -> usize {
    256
}

impl Default for Api {
    fn default() -> Self {
        Api {
            header_timeout: default_api_header_timeout(),
            request_timeout: default_api_request_timeout(),
            unix_connections: default_api_unix_connections(),
            tcp_connections: default_api_tcp_connections(),
        }
    }
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("/var/lib/orbit")
}

fn default_api_socket() -> PathBuf {
    PathBuf::from("/run/orbit/api.sock")
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeRole {
    /// A site's border-router sidecar: votes and steers.
    #[default]
    Site,
    /// Votes in the quorum only; has no backends.
    Witness,
}

/// `[[site]]`: a member of the quorum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    pub id: SiteId,
    /// Where this site's orbitd gossips.
    pub gossip: SocketAddr,
    /// A witness votes but carries no services.
    #[serde(default)]
    pub witness: bool,
}

/// `[detect]`: how site liveness is detected.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Detect {
    /// Gossip between the members (the default). Off: liveness comes only
    /// from the Serf adapter or an external feed (`POST /v1/events`).
    #[serde(default = "yes")]
    pub gossip: bool,
    #[serde(default)]
    pub profile: DetectProfile,
    /// Shared key that authenticates every gossip packet.
    pub key_file: Option<PathBuf>,
    pub probe_interval: Option<HumanDuration>,
    pub probe_timeout: Option<HumanDuration>,
    pub indirect_probes: Option<u32>,
    pub suspect_after: Option<HumanDuration>,
    /// Silence after which a member that hears fewer than a quorum fences
    /// itself (default: `suspect_after`, or the member BFD
    /// detection time with `[bfd] sites = true`).
    pub fence_after: Option<HumanDuration>,
    /// How much longer than `fence_after` a member must be silent before
    /// anyone may vote it dead: the cut-off side has fenced by then
    /// (default: `probe_interval`, or the member BFD detection time).
    pub fence_margin: Option<HumanDuration>,
    /// A member silent for `fence_after + fence_margin` that SWIM suspects
    /// and whose data plane fails too is dead in this member's view, without
    /// waiting for SWIM's suspicion to run out (default). Off: a dead verdict
    /// needs SWIM, BFD or Serf to have given up on its daemon (for a
    /// deployment where Serf is meant to be the detector).
    #[serde(default = "yes")]
    pub dead_on_silence: bool,
    /// Data-plane probe target per site: `host:port` of a service address
    /// (or a health endpoint) at that site that must accept a TCP connection.
    /// A site whose daemon is silent is declared dead only when this probe
    /// fails too; a site without an entry is judged by its daemon alone.
    #[serde(default)]
    pub probe: BTreeMap<SiteId, SocketAddr>,
    /// Optional extra source: a Serf agent's RPC address (`127.0.0.1:7373`).
    /// Its members carry a `site` tag; their join/leave/failed events become
    /// this site's verdicts.
    pub serf_rpc: Option<SocketAddr>,
    /// Link watch: local interface -> the sites reached through it. When
    /// every interface toward a site has lost carrier, this site's own
    /// verdict about it is Dead at once (without waiting for gossip).
    #[serde(default)]
    pub links: BTreeMap<String, Vec<SiteId>>,
}

impl Default for Detect {
    fn default() -> Self {
        Detect {
            gossip: true,
            profile: DetectProfile::default(),
            key_file: None,
            probe_interval: None,
            probe_timeout: None,
            indirect_probes: None,
            suspect_after: None,
            fence_after: None,
            fence_margin: None,
            dead_on_silence: true,
            probe: BTreeMap::new(),
            serf_rpc: None,
            links: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DetectProfile {
    /// Conservative timers for a LAN-like metro network.
    Lan,
    /// Sub-second detection: 100 ms probes, 200 ms suspicion.
    #[default]
    MetroFast,
}

/// Gossip timers after applying a profile and the overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectTimers {
    pub probe_interval: HumanDuration,
    pub probe_timeout: HumanDuration,
    pub indirect_probes: u32,
    pub suspect_after: HumanDuration,
}

impl Detect {
    pub fn timers(&self) -> DetectTimers {
        let base = match self.profile {
            DetectProfile::Lan => DetectTimers {
                probe_interval: HumanDuration::from_secs(1),
                probe_timeout: HumanDuration::from_millis(500),
                indirect_probes: 3,
                suspect_after: HumanDuration::from_secs(3),
            },
            DetectProfile::MetroFast => DetectTimers {
                probe_interval: HumanDuration::from_millis(100),
                probe_timeout: HumanDuration::from_millis(30),
                indirect_probes: 5,
                suspect_after: HumanDuration::from_millis(200),
            },
        };
        DetectTimers {
            probe_interval: self.probe_interval.unwrap_or(base.probe_interval),
            probe_timeout: self.probe_timeout.unwrap_or(base.probe_timeout),
            indirect_probes: self.indirect_probes.unwrap_or(base.indirect_probes),
            suspect_after: self.suspect_after.unwrap_or(base.suspect_after),
        }
    }
}

/// When a cut-off member fences and when the others may vote it dead.
///
/// Silence is the time since a member last heard a member directly (any
/// authenticated gossip packet, or its multihop BFD session being Up). A
/// member that has heard fewer than a quorum within `fence_after` fences;
/// nobody votes a member dead before it has been silent for
/// `fence_after + margin`. So a site cut off from everyone has withdrawn its
/// services at least `margin` before the majority can take them over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FenceTimers {
    pub fence_after: HumanDuration,
    pub margin: HumanDuration,
    /// The multihop BFD detection time between members, when enabled.
    pub bfd_detect: Option<std::time::Duration>,
}

impl FenceTimers {
    /// Silence before a member may be voted dead.
    pub fn dead_after(&self) -> std::time::Duration {
        self.fence_after.get() + self.margin.get()
    }
}

/// `[policy]`: when traffic moves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// How long a quorum must agree that a site is dead (or a service must
    /// stay unhealthy) before its services move.
    #[serde(default = "default_failover_hold")]
    pub failover_hold: HumanDuration,
    #[serde(default)]
    pub failback: Failback,
    /// With `failback = "after"`: how long a recovered site must stay
    /// healthy before its services return.
    #[serde(default = "default_failback_after")]
    pub failback_after: HumanDuration,
    /// How long a site keeps carrying a service at the lowest preference
    /// after a planned move away from it (make before break). On SIGTERM
    /// the drain ends earlier once the new site confirms it carries the
    /// service, and lasts at most half of `shutdown_grace`.
    #[serde(default = "default_drain_grace")]
    pub drain_grace: HumanDuration,
    /// After start or after fencing, how long to wait for a peer's placement
    /// table before deciding alone. Until then the local site claims nothing.
    #[serde(default = "default_sync_timeout")]
    pub sync_timeout: HumanDuration,
    /// Members that must agree; default: a majority of all `[[site]]`s.
    pub quorum: Option<usize>,
    /// Start in observer mode: decide and report, apply nothing.
    #[serde(default)]
    pub observer: bool,
    /// The bound on a whole planned stop (SIGTERM): drain (see
    /// `drain_grace`), withdraw, exit. The drain gets at most half of it,
    /// the withdrawal the rest.
    #[serde(default = "default_shutdown_grace")]
    pub shutdown_grace: HumanDuration,
}

fn default_failover_hold() -> HumanDuration {
    HumanDuration::from_millis(0)
}
fn default_failback_after() -> HumanDuration {
    HumanDuration::from_secs(300)
}
fn default_drain_grace() -> HumanDuration {
    HumanDuration::from_secs(5)
}
fn default_sync_timeout() -> HumanDuration {
    HumanDuration::from_secs(2)
}
fn default_shutdown_grace() -> HumanDuration {
    HumanDuration::from_secs(10)
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            failover_hold: default_failover_hold(),
            failback: Failback::default(),
            failback_after: default_failback_after(),
            drain_grace: default_drain_grace(),
            sync_timeout: default_sync_timeout(),
            quorum: None,
            observer: false,
            shutdown_grace: default_shutdown_grace(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Failback {
    /// Return after the recovered site stayed healthy for `failback_after`.
    #[default]
    After,
    /// Only on `orbitctl failback`.
    Manual,
}

/// `[[service]]`: something steered between sites.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub id: ServiceId,
    /// Service addresses: /32 and /128 for anycast, wider prefixes allowed.
    pub prefixes: Vec<IpNet>,
    /// The sites that can carry it, most preferred first.
    pub sites: Vec<SiteId>,
    pub health: Option<HealthCheck>,
}

/// A health check of a service at the local site.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// `host:port` that must accept a TCP connection.
    pub tcp: Option<SocketAddr>,
    /// `http://...` URL that must answer 2xx (or `http_status`).
    pub http: Option<String>,
    /// With `http`: the exact status expected instead of any 2xx.
    pub http_status: Option<u16>,
    /// With `http`: a string the response body must contain.
    pub http_body: Option<String>,
    /// Command (argv) that must exit 0.
    pub exec: Option<Vec<String>>,
    #[serde(default = "default_health_interval")]
    pub interval: HumanDuration,
    /// Default: the interval.
    pub timeout: Option<HumanDuration>,
    /// Consecutive passes before healthy.
    #[serde(default = "default_rise_fall")]
    pub rise: u32,
    /// Consecutive failures before unhealthy.
    #[serde(default = "default_rise_fall")]
    pub fall: u32,
}

fn default_health_interval() -> HumanDuration {
    HumanDuration::from_secs(1)
}
fn default_rise_fall() -> u32 {
    3
}

/// `[bgp]`: the BGP anycast backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bgp {
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

/// `[haproxy]`: the HAProxy map backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Haproxy {
    /// Runtime API: a unix socket path, or `tcp:HOST:PORT`.
    pub socket: String,
    /// The map file HAProxy loads; written before every runtime change.
    pub map: PathBuf,
    #[serde(default = "default_haproxy_timeout")]
    pub timeout: HumanDuration,
    /// On a move, close sessions on the old site's servers (TCP services), so
    /// long-lived connections reconnect to the new site.
    #[serde(default)]
    pub shutdown_sessions: bool,
    /// On a move, put the old site's servers in `drain` (and the new site's
    /// in `ready`): existing sessions finish on their own, nothing new
    /// reaches the old servers, not even by cookie persistence.
    #[serde(default)]
    pub drain: bool,
    /// Backend a service is sent to while no site may carry it; without it
    /// the service's key is removed from the map and the frontend's default
    /// (`map(FILE,DEFAULT)`, `default_backend`) applies.
    #[serde(default)]
    pub no_site_backend: Option<String>,
    /// service -> site -> HAProxy backend name.
    pub backends: BTreeMap<ServiceId, BTreeMap<SiteId, String>>,
    /// service -> map key (default: the service id).
    #[serde(default)]
    pub keys: BTreeMap<ServiceId, String>,
}

fn default_haproxy_timeout() -> HumanDuration {
    HumanDuration::from_secs(2)
}

/// `[sdn]`: the Open vSwitch backend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sdn {
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

/// `[hook]`: run a command / POST a URL on every steering change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hook {
    /// argv; receives the steering as JSON on stdin.
    pub command: Option<Vec<String>>,
    /// `http://` URL that receives the steering JSON as a POST body.
    pub url: Option<String>,
    #[serde(default = "default_hook_timeout")]
    pub timeout: HumanDuration,
}

fn default_hook_timeout() -> HumanDuration {
    HumanDuration::from_secs(10)
}
