//! What goes in and out of a [`super::Session`]: its states (RFC 4271
//! §8.2.2), configuration, inputs, outputs and counters.

use super::*;

/// Identifies one TCP connection of a session (chosen by the driver).
pub type ConnId = u64;

/// The RFC 4271 §8.2.2 states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    Idle,
    Connect,
    Active,
    OpenSent,
    OpenConfirm,
    Established,
}

/// Static settings of a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    pub local_asn: u32,
    pub peer_asn: u32,
    pub router_id: Ipv4Addr,
    /// Our proposed hold time: zero or at least 3 s (RFC 4271 §4.2).
    pub hold: Duration,
    /// Only wait for the peer to connect (RFC 4271 §8.1.1 PassiveTcpEstablishment).
    pub passive: bool,
    pub families: Vec<Family>,
    /// RFC 4724: advertise graceful restart with this restart time.
    pub graceful_restart: Option<Duration>,
    /// Received prefixes beyond this tear the session down (RFC 4486 §4).
    pub max_prefixes: u32,
    /// First ConnectRetryTimer / IdleHold value; doubles per failure.
    pub connect_retry: Duration,
    pub connect_retry_max: Duration,
}

/// An event from the driver (RFC 4271 §8.1 events, as the driver sees them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input<'a> {
    /// ManualStart (Event 1) / ManualStart_with_PassiveTcpEstablishment (Event 4).
    Start,
    /// ManualStop (Event 2): say goodbye with Cease / Administrative
    /// Shutdown carrying this text (RFC 8203 / RFC 9003).
    Stop { reason: &'a str },
    /// ManualStop for a reload: Cease with `subcode` and no data (RFC 4486
    /// §4: 3 Peer De-configured, 6 Other Configuration Change; only
    /// subcodes 2 and 4 carry a shutdown communication, RFC 9003 §2).
    /// `reason` is for the log.
    Cease { subcode: u8, reason: &'a str },
    /// TcpConnectionConfirmed (Event 17, outbound) / Tcp_CR_Acked (Event 16, inbound).
    Connected { conn: ConnId, outbound: bool },
    /// TcpConnectionFails (Event 18) for the outbound attempt.
    ConnectFailed,
    /// The peer closed `conn` (Event 18).
    Closed { conn: ConnId },
    /// Bytes read from `conn`.
    Data { conn: ConnId, bytes: &'a [u8] },
    /// A deadline from `next_deadline()` passed (Events 9, 10, 11, 13).
    Tick,
    /// BFD reports the path to the peer Up again (after it dropped the
    /// session): the retry back-off starts over and a waiting connect is
    /// tried now (RFC 5882 §4.3 leaves restarting to the client; waiting out
    /// a back-off grown by a failure that is over only prolongs the outage).
    PathUp,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Open an outbound TCP connection to the peer.
    Connect,
    /// Abandon the outbound connection attempt under way (close its socket
    /// before it completes).
    CancelConnect,
    Send {
        conn: ConnId,
        bytes: Bytes,
    },
    /// Close `conn` (after writing what was sent before).
    Close {
        conn: ConnId,
    },
    /// The session reached Established on `conn`: send the Adj-RIB-Out,
    /// then End-of-RIB (RFC 4724 §4.1).
    Established {
        conn: ConnId,
        peer: PeerOpen,
        families: Vec<Family>,
        four_octet_as: bool,
    },
    /// The session left Established.
    Down {
        reason: String,
    },
    /// The peer asked for our routes again (RFC 2918).
    RouteRefresh {
        conn: ConnId,
    },
}

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    Sent,
    Received,
}

/// Per-peer counters, for `/metrics` and `observe`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Transitions into Established.
    pub established: u64,
    pub updates_received: u64,
    /// UPDATE messages written, End-of-RIB markers included.
    pub updates_sent: u64,
    /// Totals of `notifications` per direction.
    pub notifications_sent: u64,
    pub notifications_received: u64,
    /// NOTIFICATIONs by direction, code and subcode.
    pub notifications: BTreeMap<(Direction, u8, u8), u64>,
    /// RFC 7606 treat-as-withdraw and attribute-discard occurrences.
    pub malformed_updates: u64,
    /// Prefixes the peer currently announces to us (counted, then dropped).
    pub prefixes_received: usize,
}
