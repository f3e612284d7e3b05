//! Data types of orbitd's HTTP API, shared by the daemon and `orbitctl`.
//!
//! Every body is JSON. Errors come back as [`ApiError`] with a 4xx/5xx
//! status; the `error` sentence says what is wrong.
//!
//! Every command request takes `reason` (the operator's why, one line of
//! at most 200 characters, kept in the journal) and every command but
//! `observer` takes `force` (carry it out even if it leaves a service that
//! has a site without any; refused otherwise).

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::decision::Decision;
use crate::engine::EngineStatus;
use crate::event::Liveness;
use crate::fingerprint::ConfigFingerprint;
use crate::ids::{PlanId, ServiceId, SiteId};
use crate::order::Reason;
use crate::redirect::{BackendKind, ServiceDrift};
use crate::steering::Steering;

pub mod credentials;
pub mod reload;
pub mod request;
pub mod words;

pub use reload::{ReloadRequest, ReloadResponse};

/// `POST /v1/switchover`: `service` absent means every service `to` serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchoverRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceId>,
    pub to: SiteId,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
}

/// `POST /v1/drain`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrainRequest {
    pub site: SiteId,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
}

/// `POST /v1/failback`: `site` absent means every site.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailbackRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<SiteId>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
}

/// `POST /v1/pin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PinRequest {
    pub service: ServiceId,
    pub site: SiteId,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
}

/// `DELETE /v1/pin`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnpinRequest {
    pub service: ServiceId,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
}

/// `POST /v1/observer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObserverRequest {
    pub on: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
}

/// The answer to an accepted command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandResponse {
    /// The steering generation after the command.
    pub generation: u64,
    pub decisions: Vec<Decision>,
}

/// One backend as `GET /v1/status` reports it: the only backend status
/// there is (orbitd's backend runner owns confirmation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendReport {
    pub kind: BackendKind,
    /// The generation the data plane confirmed last.
    pub applied_generation: Option<u64>,
    pub last_error: Option<String>,
    pub consecutive_failures: u32,
    /// Still applying (or retrying) the current generation.
    pub pending: bool,
    /// The backend confirmed the steering but does not carry it everywhere
    /// it should (BGP: a configured peer is not Established, see `[bgp]
    /// ready`): why. `/ready` answers 503 while this is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded: Option<String>,
    /// What the backend last read back from its data plane (refreshed by
    /// the reconcile every few seconds), e.g. for BGP per peer its state,
    /// routes announced (`out`) and prefixes received (`in`). Absent until
    /// the first read and in answers of older daemons.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<String>,
    /// The last drift found (the data plane held something else than the
    /// confirmed steering) and what its repair did, until an apply or a
    /// read back finds the data plane right again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<String>,
}

/// One BGP session as `GET /v1/status` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpPeerReport {
    pub address: IpAddr,
    pub asn: u32,
    /// RFC 4271 §8.2.2 state, lower case: idle, connect, active, opensent,
    /// openconfirm, established.
    pub state: String,
    /// How long the current session has been Established.
    pub established_for_ms: Option<u64>,
    /// Address families negotiated on the current session.
    pub families: Vec<String>,
    pub prefixes_sent: usize,
    pub prefixes_received: usize,
    pub updates_sent: u64,
    pub updates_received: u64,
    /// End-of-RIB sent on the current session (RFC 4724 §2).
    pub end_of_rib_sent: bool,
    /// Prefixes of the current steering this peer cannot be sent (e.g. no
    /// next hop of its family), each with the reason.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_sent: Vec<String>,
    /// The last NOTIFICATION, either way.
    pub last_notification: Option<BgpNotificationReport>,
    /// NOTIFICATIONs by direction, code and subcode since orbitd started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notifications: Vec<BgpNotificationCount>,
    /// Why the session last closed or failed, in words.
    pub last_error: Option<String>,
}

/// A NOTIFICATION (RFC 4271 §4.5) in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpNotificationReport {
    /// `sent` or `received`.
    pub direction: String,
    pub code: u8,
    pub subcode: u8,
    /// E.g. "Cease/Administrative Shutdown: maintenance".
    pub text: String,
    /// RFC 3339.
    pub at: String,
}

/// How many NOTIFICATIONs of one kind went one way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BgpNotificationCount {
    pub direction: String,
    pub code: u8,
    pub subcode: u8,
    pub count: u64,
}

/// `GET /v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusResponse {
    pub version: String,
    pub engine: EngineStatus,
    pub steering: Steering,
    pub backends: Vec<BackendReport>,
    /// Every BFD session of the daemon (toward BGP peers and other sites);
    /// empty when BFD is off. Absent in answers of older daemons.
    #[serde(default)]
    pub bfd: Vec<BfdSessionReport>,
    /// Every configured BGP peer; empty without `[bgp]`.
    #[serde(default)]
    pub bgp_peers: Vec<BgpPeerReport>,
    /// What this daemon's detectors see; absent with `[detect] gossip = false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detect: Option<DetectReport>,
    /// The daemon itself: config file, uptime. Absent in answers of older
    /// daemons.
    #[serde(default)]
    pub daemon: Option<DaemonReport>,
    /// Per member, the fingerprint of its cluster-wide config, this
    /// member's included; a member not heard from yet (or too old to send
    /// one) is absent. Empty in answers of older daemons.
    #[serde(default)]
    pub config_fingerprints: BTreeMap<SiteId, ConfigFingerprint>,
    /// The members whose cluster-wide config differs from this member's.
    #[serde(default)]
    pub config_mismatch: Vec<SiteId>,
}

/// The daemon process as `GET /v1/status` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonReport {
    /// The config file it runs (as given to `--config`).
    pub config_file: String,
    /// When that file was last loaded (start or successful reload), RFC 3339.
    pub config_loaded: String,
    /// When the daemon started, RFC 3339.
    pub started: String,
    pub uptime_ms: u64,
    pub pid: u32,
}

/// The local detectors' evidence behind this daemon's verdicts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectReport {
    /// We see fewer members than a quorum.
    pub isolated: bool,
    /// Lifeguard local health (0 = healthy): our own loop was stalled.
    pub local_health_score: u32,
    /// Silence (ms) after which this member, hearing fewer than a quorum,
    /// fences itself (`[detect] fence_after`).
    #[serde(default)]
    pub fence_after_ms: u64,
    /// How much longer (ms) a member must be silent before it may be voted
    /// dead: the margin by which a cut-off site fences before the majority
    /// takes its services over (`[detect] fence_margin`).
    #[serde(default)]
    pub fence_margin_ms: u64,
    pub members: Vec<MemberEvidence>,
}

/// What this daemon sees of one other member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberEvidence {
    pub site: SiteId,
    /// The local verdict: `alive`, `suspect`, `still_heard`, `silent`,
    /// `daemon_unresponsive`, `doubted_dead`, `dead`, `link_down` or
    /// `unknown`.
    pub view: String,
    /// Milliseconds since it last spoke to us directly (0 while its member
    /// BFD session is Up).
    #[serde(default)]
    pub silent_ms: u64,
    /// SWIM's view of the member's daemon: `alive`, `suspect`, `down` or
    /// `unknown`.
    pub swim: String,
    /// The data-plane probe; `None` when the site is not probed (or no
    /// result yet).
    pub data_plane: Option<bool>,
    /// The other local detectors (`bfd`, `serf`, `external`) and what they say.
    pub sources: BTreeMap<String, Liveness>,
    /// We cannot reach it while another live member can.
    pub partitioned: bool,
}

/// Single hop (RFC 5881, toward a directly connected router) or multihop
/// (RFC 5883, toward another site or the witness).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BfdHop {
    Single,
    Multihop,
}

impl BfdHop {
    pub fn as_str(self) -> &'static str {
        match self {
            BfdHop::Single => "single",
            BfdHop::Multihop => "multihop",
        }
    }
}

impl std::fmt::Display for BfdHop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A BFD session state (RFC 5880 §4.1 "Sta").
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BfdState {
    AdminDown,
    Down,
    Init,
    Up,
}

impl BfdState {
    pub fn as_str(self) -> &'static str {
        match self {
            BfdState::AdminDown => "admin_down",
            BfdState::Down => "down",
            BfdState::Init => "init",
            BfdState::Up => "up",
        }
    }
}

impl std::fmt::Display for BfdState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One BFD session as `GET /v1/status` reports it. Intervals are in
/// microseconds, as on the wire (RFC 5880 §4.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BfdSessionReport {
    pub peer: IpAddr,
    pub local: IpAddr,
    pub hop: BfdHop,
    pub state: BfdState,
    /// The peer's state as its last packet said.
    pub remote_state: BfdState,
    /// Why the session last left Up (or "none").
    pub local_diag: String,
    pub local_discriminator: u32,
    pub remote_discriminator: u32,
    /// Configured DesiredMinTxInterval, RequiredMinRxInterval, DetectMult.
    pub desired_min_tx_us: u64,
    pub required_min_rx_us: u64,
    pub detect_mult: u8,
    /// Negotiated periodic transmit interval before jitter.
    pub tx_interval_us: u64,
    /// Current detection time; absent until the peer has been heard.
    pub detection_time_us: Option<u64>,
    pub tx_packets: u64,
    pub rx_packets: u64,
    /// Received packets dropped for this session, by reason.
    pub dropped: BTreeMap<String, u64>,
    pub state_changes: u64,
    pub detection_expiries: u64,
    /// Wall-clock time of the last state change, RFC 3339.
    pub last_state_change: Option<String>,
}

/// One line of the decision journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Increases by one per entry, across restarts.
    pub seq: u64,
    /// Wall-clock time, RFC 3339.
    pub time: String,
    #[serde(flatten)]
    pub record: JournalRecord,
}

/// What a journal entry records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JournalRecord {
    Decision {
        decision: Decision,
    },
    CommandRefused {
        #[serde(flatten)]
        order: crate::order::Order,
        error: String,
    },
    Backend {
        backend: BackendKind,
        generation: u64,
        ok: bool,
        detail: String,
    },
    /// A backend's data plane no longer held the steering it had confirmed
    /// (`generation`), and the backend runner repaired it (`repaired`) or
    /// failed to (it retries with backoff, each attempt recorded).
    Drift {
        backend: BackendKind,
        generation: u64,
        services: Vec<ServiceDrift>,
        repaired: bool,
        detail: String,
    },
    Lifecycle {
        message: String,
    },
    /// A plan step (docs/plans.md) this member started or that ended, with
    /// its exit status and the tail of its output.
    PlanStep {
        service: ServiceId,
        plan: PlanId,
        /// The run: its move's placement epoch.
        generation: u64,
        phase: crate::config::Phase,
        step: String,
        from: Option<SiteId>,
        to: SiteId,
        #[serde(flatten)]
        progress: crate::event::StepProgress,
    },
    /// A reload (SIGHUP or `POST /v1/reload`), applied or refused: who
    /// asked (`SIGHUP`, or the API client), what it changes (one line per
    /// change, as `orbitctl reload` prints it) and, when refused, why.
    Reload {
        by: String,
        applied: bool,
        changes: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        problems: Vec<String>,
        message: String,
    },
}

/// `GET /v1/journal?since=SEQ&limit=N`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JournalResponse {
    pub entries: Vec<JournalEntry>,
    /// Pass as `since` to get only newer entries.
    pub last_seq: u64,
}

/// Every API error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub error: String,
}
