//! `Speaker`: the BGP backend as the daemon sees it (`impl Redirector`).
//!
//! ```text
//!  Speaker ──PeerMsg──> peer task (one per [[bgp.peer]])
//!     │                    ▲
//!     │ routes: Arc<RwLock<address -> mailbox>>, shared with
//!     ├──> listener task ──┘ (PeerMsg::Accepted)
//!     └──> PeerControl (BFD: PathDown / PathUp)
//! ```
//!
//! The peer map is shared, so that a reload (`Speaker::reconfigure`) that
//! adds, removes or restarts a peer is seen at once by the listener and by
//! BFD, without rebuilding either.

mod reconfigured;
mod redirector;

pub use reconfigured::{PeerReconfigured, PeerReload, Reconfigured};

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use orbit_core::config::Service;

use crate::config::{AddressFamily, Config};
use orbit_core::{Applied, BackendKind, Observed, RedirectError, Redirector, Role, Steering};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::error::Error;
use crate::fsm::{SessionConfig, State};
use crate::peer::{self, PeerChange, PeerMsg, PeerSetup, PeerStatus};
use crate::policy::{DesiredRib, Policy};
use crate::sockopt;
use crate::wire::{code, Family};

/// How long a session restarted by a reload waits after its Cease before
/// it is started again (see `Speaker::reconfigure`).
const RESTART_GAP: Duration = Duration::from_millis(300);

/// Peer address -> its task's mailbox; shared by the speaker, the listener
/// and every [`PeerControl`].
type Routes = Arc<RwLock<BTreeMap<IpAddr, mpsc::Sender<PeerMsg>>>>;

fn mailbox(routes: &Routes, peer: IpAddr) -> Option<mpsc::Sender<PeerMsg>> {
    routes
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&peer)
        .cloned()
}

/// One peer task's status; `PeerGone` when its task has ended.
async fn peer_status(addr: IpAddr, tx: &mpsc::Sender<PeerMsg>) -> Result<PeerStatus, Error> {
    let gone = || Error::PeerGone(addr.to_string());
    let (done, rx) = oneshot::channel();
    tx.send(PeerMsg::Status(done)).await.map_err(|_| gone())?;
    rx.await.map_err(|_| gone())
}

/// The BGP speaker: one task per peer plus an optional listener.
#[derive(Debug)]
pub struct Speaker {
    policy: Policy,
    /// The peers in configuration order (for `peers()`), and how each one
    /// was set up (what a reload compares against).
    order: Vec<IpAddr>,
    setups: BTreeMap<IpAddr, PeerSetup>,
    routes: Routes,
    tasks: BTreeMap<IpAddr, JoinHandle<()>>,
    listener: Option<Listener>,
    /// The last steering applied and the routes the current policy makes
    /// of it (`None` after a reload whose config it no longer fits).
    last: Option<(Steering, Option<Arc<DesiredRib>>)>,
}

/// The listening socket and its accept task.
#[derive(Debug)]
struct Listener {
    socket: Arc<TcpListener>,
    task: JoinHandle<()>,
    port: u16,
    /// The TCP-MD5 keys set on the socket, by peer (RFC 2385 §4.1: the
    /// listening socket must know the key to answer a signed SYN).
    md5: BTreeMap<IpAddr, Vec<u8>>,
}

impl Listener {
    /// Stops accepting and closes the socket before returning (the task
    /// holds a reference to it).
    async fn close(self) {
        self.task.abort();
        let _ = self.task.await;
        drop(self.socket);
    }
}

/// A handle that reaches the peers while the speaker itself is owned by the
/// daemon's backend runner: orbitd uses it to tear a session down when BFD
/// declares the path down. It follows reloads: a peer added by
/// [`Speaker::reconfigure`] is reachable, a removed one is not.
#[derive(Debug, Clone)]
pub struct PeerControl {
    peers: Routes,
}

impl PeerControl {
    /// Drops the session with `peer` at once (RFC 5882 §4.3); it reconnects
    /// through the normal connect-retry, or at once on [`Self::path_up`].
    /// `silent_since` is when BFD last heard the peer: a session Established
    /// after it stays (the path carried its handshake since). False when
    /// `peer` is not configured.
    pub async fn path_down(&self, peer: IpAddr, silent_since: std::time::Instant) -> bool {
        self.send(peer, PeerMsg::PathDown { silent_since }).await
    }

    /// The path to `peer` is back (BFD Up): a session waiting to reconnect
    /// tries now, with its back-off reset.
    pub async fn path_up(&self, peer: IpAddr) -> bool {
        self.send(peer, PeerMsg::PathUp).await
    }

    /// Every peer's state and counters, by address; a peer task that is
    /// gone is left out.
    pub async fn status(&self) -> Vec<PeerStatus> {
        let senders: Vec<(IpAddr, mpsc::Sender<PeerMsg>)> = self
            .peers
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(a, tx)| (*a, tx.clone()))
            .collect();
        let mut out = Vec::new();
        for (addr, tx) in senders {
            if let Ok(status) = peer_status(addr, &tx).await {
                out.push(status);
            }
        }
        out
    }

    async fn send(&self, peer: IpAddr, msg: PeerMsg) -> bool {
        match mailbox(&self.peers, peer) {
            Some(tx) => tx.send(msg).await.is_ok(),
            None => false,
        }
    }
}

impl std::fmt::Debug for PeerMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerMsg")
    }
}

/// The TCP-MD5 password (RFC 2385) in `path`: the file's bytes without a
/// trailing line break, 1 to 80 bytes (what `TCP_MD5SIG` takes).
pub fn md5_password(path: &std::path::Path) -> Result<Vec<u8>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Md5PasswordUnreadable {
        path: path.display().to_string(),
        detail: e.to_string(),
    })?;
    let key = text.trim_end_matches(['\n', '\r']).as_bytes().to_vec();
    if key.is_empty() || key.len() > sockopt::MD5_MAX_KEY_LEN {
        return Err(Error::Md5PasswordLength {
            path: path.display().to_string(),
            len: key.len(),
        });
    }
    Ok(key)
}

/// The `[[bgp.peer]]` entries resolved into what the tasks need (MD5 keys
/// read from their files), in configuration order.
fn setups(cfg: &Config) -> Result<Vec<PeerSetup>, Error> {
    let mut setups = Vec::new();
    for (i, p) in cfg.peers.iter().enumerate() {
        let md5_key = match &p.md5_password_file {
            Some(path) => Some(
                md5_password(path)
                    .map_err(|e| Error::Config(format!("bgp.peer[{i}].md5_password_file: {e}")))?,
            ),
            None => None,
        };
        let hold = p.hold.get();
        let families = p
            .families
            .iter()
            .map(|f| match f {
                AddressFamily::Ipv4 => Family::Ipv4,
                AddressFamily::Ipv6 => Family::Ipv6,
            })
            .collect();
        let gr = cfg.graceful_restart_time.get();
        setups.push(PeerSetup {
            address: p.address,
            port: p.port.unwrap_or(179),
            local_address: p.local_address,
            md5_key,
            gtsm: p.ttl_security,
            session: SessionConfig {
                local_asn: cfg.asn,
                peer_asn: p.asn,
                router_id: cfg.router_id,
                hold,
                passive: p.passive,
                families,
                graceful_restart: (!gr.is_zero()).then_some(gr),
                max_prefixes: p.max_prefixes,
                connect_retry: cfg.connect_retry.get(),
                connect_retry_max: Duration::from_secs(60),
            },
            next_hop_v4: cfg.next_hop_v4,
            next_hop_v6: cfg.next_hop_v6,
        });
    }
    Ok(setups)
}

/// What differs between two setups of the same peer: the session
/// parameters (a change needs a new session: they go into the OPEN or the
/// TCP connection) and the settings a live session can take in place.
fn differences(old: &PeerSetup, new: &PeerSetup) -> (Vec<String>, Vec<String>) {
    let (o, n) = (&old.session, &new.session);
    let mut session = Vec::new();
    let mut add = |changed: bool, name: &str| {
        if changed {
            session.push(name.to_string());
        }
    };
    // Global ones first: a change there restarts every session.
    add(o.local_asn != n.local_asn, "bgp.asn");
    add(o.router_id != n.router_id, "bgp.router_id");
    add(
        o.graceful_restart != n.graceful_restart,
        "bgp.graceful_restart_time",
    );
    add(o.peer_asn != n.peer_asn, "asn");
    add(o.hold != n.hold, "hold");
    add(o.passive != n.passive, "passive");
    add(o.families != n.families, "families");
    add(o.max_prefixes != n.max_prefixes, "max_prefixes");
    add(old.port != new.port, "port");
    add(old.local_address != new.local_address, "local_address");
    add(old.md5_key != new.md5_key, "md5 password");
    add(old.gtsm != new.gtsm, "ttl_security");
    add(
        o.connect_retry_max != n.connect_retry_max,
        "connect_retry_max",
    );
    let mut live = Vec::new();
    if o.connect_retry != n.connect_retry {
        live.push("connect_retry".to_string());
    }
    if old.next_hop_v4 != new.next_hop_v4 {
        live.push("next_hop_v4".to_string());
    }
    if old.next_hop_v6 != new.next_hop_v6 {
        live.push("next_hop_v6".to_string());
    }
    (session, live)
}

impl Speaker {
    /// Validates the `[bgp]` section against the services, opens the
    /// listener (if `listen`) and starts every peer session. Nothing is
    /// announced until the first `apply`.
    pub async fn start(cfg: &Config, services: &[Service]) -> Result<Speaker, Error> {
        let policy = Policy::new(cfg, services)?;
        let setups = setups(cfg)?;
        // The listener is bound before any session starts so that a
        // refused bind is a start-up error, not a silent passive peer.
        let bound = if cfg.listen {
            Some(bind_listener(cfg.listen_port, &setups)?)
        } else {
            None
        };
        let routes: Routes = Arc::default();
        let mut speaker = Speaker {
            policy,
            order: setups.iter().map(|s| s.address).collect(),
            setups: BTreeMap::new(),
            routes,
            tasks: BTreeMap::new(),
            listener: None,
            last: None,
        };
        for s in setups {
            speaker.spawn_peer(s);
        }
        if let Some(socket) = bound {
            speaker.listener = Some(speaker.listen(socket, cfg.listen_port));
        }
        info!(peers = speaker.order.len(), listen = ?speaker.listen_addr(), "BGP speaker started");
        Ok(speaker)
    }

    fn spawn_peer(&mut self, setup: PeerSetup) {
        let address = setup.address;
        let (tx, task) = peer::spawn(setup.clone());
        self.routes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(address, tx);
        self.tasks.insert(address, task);
        self.setups.insert(address, setup);
    }

    /// Starts accepting on `socket`: connections go to the peer of their
    /// source address, as the shared routes say at that moment.
    fn listen(&self, socket: TcpListener, port: u16) -> Listener {
        let socket = Arc::new(socket);
        let md5 = self
            .setups
            .values()
            .filter_map(|s| Some((s.address, s.md5_key.clone()?)))
            .collect();
        let routes = self.routes.clone();
        let l = socket.clone();
        let task = tokio::spawn(async move {
            loop {
                let (stream, from) = match l.accept().await {
                    Ok(x) => x,
                    Err(e) => {
                        // E.g. out of file descriptors: do not spin.
                        warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                match mailbox(&routes, from.ip().to_canonical()) {
                    Some(tx) => {
                        let _ = tx.send(PeerMsg::Accepted(stream)).await;
                    }
                    // Only configured peers may talk to us.
                    None => warn!(%from, "connection from an unconfigured address refused"),
                }
            }
        });
        Listener {
            socket,
            task,
            port,
            md5,
        }
    }

    /// Takes a new `[bgp]` section (SIGHUP) and touches only what changed.
    ///
    /// Everything that can fail is checked first (the policy, the MD5
    /// password files, a new listener's bind, the TCP-MD5 keys on a kept
    /// listener): a refused reconfigure changes nothing. Then:
    /// - a removed peer is closed with Cease / Peer De-configured (RFC 4486
    ///   §4, subcode 3);
    /// - a peer whose session parameters changed (its own, or the global
    ///   `asn`, `router_id`, `graceful_restart_time`: they go into the OPEN,
    ///   RFC 4271 §4.2, or the TCP connection) is closed with Cease / Other
    ///   Configuration Change (subcode 6) and started again a moment later
    ///   (`RESTART_GAP`, so the peer has read the Cease first); no other
    ///   session is touched;
    /// - `connect_retry` and the next hops are taken by the live sessions;
    /// - an added peer is started;
    /// - the last steering is re-applied under the new policy: an ordinary
    ///   UPDATE diff on every Established session, a full announcement
    ///   (then End-of-RIB) on new ones once they come up.
    ///
    /// The listener is kept while `listen` and `listen_port` stay (its
    /// TCP-MD5 keys follow the peers); a new port is bound before the old
    /// listener closes, so a refused bind leaves the old one serving;
    /// `listen = false` closes it.
    pub async fn reconfigure(
        &mut self,
        cfg: &Config,
        services: &[Service],
    ) -> Result<Reconfigured, Error> {
        // 1. Everything that can refuse, before anything changes.
        let policy = Policy::new(cfg, services)?;
        let new_setups = setups(cfg)?;
        let new_by_addr: BTreeMap<IpAddr, &PeerSetup> =
            new_setups.iter().map(|s| (s.address, s)).collect();
        let keep_listener =
            matches!(&self.listener, Some(l) if cfg.listen && l.port == cfg.listen_port);
        let mut new_listener = None;
        if cfg.listen && !keep_listener {
            new_listener = Some(bind_listener(cfg.listen_port, &new_setups)?);
        }
        if keep_listener {
            if let Some(l) = &mut self.listener {
                set_listener_keys(l, &new_setups)?;
            }
        }

        // 2. The peers.
        let mut out = Reconfigured::default();
        let removed: Vec<IpAddr> = self
            .order
            .iter()
            .copied()
            .filter(|a| !new_by_addr.contains_key(a))
            .collect();
        for address in removed {
            self.end_peer(
                address,
                code::CEASE_PEER_DECONFIGURED,
                "peer de-configured by a reload",
            )
            .await;
            self.setups.remove(&address);
            out.peers.push(PeerReconfigured {
                address,
                change: PeerReload::Removed,
            });
        }
        let mut old_next_hops = None;
        let mut restart = Vec::new();
        for setup in &new_setups {
            let address = setup.address;
            let Some(old) = self.setups.get(&address) else {
                self.spawn_peer(setup.clone());
                out.peers.push(PeerReconfigured {
                    address,
                    change: PeerReload::Added,
                });
                continue;
            };
            old_next_hops.get_or_insert((old.next_hop_v4, old.next_hop_v6));
            let (session, live) = differences(old, setup);
            if !session.is_empty() {
                let reason = format!("{} changed by a reload", session.join(", "));
                self.end_peer(address, code::CEASE_OTHER_CONFIGURATION_CHANGE, &reason)
                    .await;
                self.setups.remove(&address);
                restart.push(setup.clone());
                out.peers.push(PeerReconfigured {
                    address,
                    change: PeerReload::Restarted { changed: session },
                });
            } else if !live.is_empty() {
                if let Some(tx) = mailbox(&self.routes, address) {
                    let (done, rx) = oneshot::channel();
                    let change = PeerChange::Update(setup.clone());
                    if tx.send(PeerMsg::Reconfigure { change, done }).await.is_ok() {
                        let _ = rx.await;
                    }
                }
                self.setups.insert(address, setup.clone());
                out.peers.push(PeerReconfigured {
                    address,
                    change: PeerReload::Updated { changed: live },
                });
            }
        }
        if !restart.is_empty() {
            // Let the peers read the Cease before the new sessions connect:
            // a connection that arrives while the old session still looks
            // Established is taken for a graceful restart (RFC 4724 §4.2;
            // bird then drops the old session without reading our
            // NOTIFICATION and keeps our routes as stale).
            tokio::time::sleep(RESTART_GAP).await;
            for setup in restart {
                self.spawn_peer(setup);
            }
        }
        self.order = new_setups.iter().map(|s| s.address).collect();

        // 3. The listener (the peers' routes are already the new ones).
        if !keep_listener {
            let old_port = self.listener.as_ref().map(|l| l.port);
            if let Some(l) = self.listener.take() {
                l.close().await;
            }
            if let Some(socket) = new_listener {
                self.listener = Some(self.listen(socket, cfg.listen_port));
                out.listener = Some(match old_port {
                    Some(p) => format!("listener moved from port {p} to {}", cfg.listen_port),
                    None => format!("listener opened on port {}", cfg.listen_port),
                });
            } else if let Some(p) = old_port {
                out.listener = Some(format!("listener on port {p} closed"));
            }
        }

        // 4. The policy, and the last steering under it.
        out.policy_changed = old_next_hops
            .is_some_and(|nh| nh != (cfg.next_hop_v4, cfg.next_hop_v6))
            || self.policy != policy;
        self.policy = policy;
        if let Some((steering, _)) = self.last.clone() {
            match self.policy.desired(&steering) {
                Ok(rib) => {
                    let rib = Arc::new(rib);
                    let (_, changes, detail) = self.apply_rib(rib.clone(), steering.fenced).await?;
                    self.last = Some((steering, Some(rib)));
                    if changes > 0 {
                        out.reapplied = Some(detail);
                    }
                }
                // The services changed under the steering: the daemon
                // publishes one for the new config right after the reload.
                Err(e) => {
                    warn!(error = %e, "reload: the last steering does not fit the new config; waiting for the next one");
                    self.last = Some((steering, None));
                }
            }
        }
        info!(%out, "BGP speaker reconfigured");
        Ok(out)
    }

    /// Closes `address`'s session with Cease / `subcode` and ends its task;
    /// it is no longer reachable (listener, BFD) afterwards.
    async fn end_peer(&mut self, address: IpAddr, subcode: u8, reason: &str) {
        let tx = self
            .routes
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&address);
        if let Some(tx) = tx {
            let (done, rx) = oneshot::channel();
            let change = PeerChange::End {
                subcode,
                reason: reason.to_string(),
            };
            if tx.send(PeerMsg::Reconfigure { change, done }).await.is_ok() {
                let _ = rx.await;
            }
        }
        if let Some(task) = self.tasks.remove(&address) {
            // The task ends by itself after `done`; abort covers a stuck one.
            task.abort();
        }
        info!(peer = %address, reason, "BGP peer session ended by a reload");
    }

    /// Where the listener is bound (if `listen`).
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listener
            .as_ref()
            .and_then(|l| l.socket.local_addr().ok())
    }

    /// The peers' mailboxes, in configuration order.
    fn mailboxes(&self) -> Vec<(IpAddr, mpsc::Sender<PeerMsg>)> {
        let routes = self.routes.read().unwrap_or_else(PoisonError::into_inner);
        self.order
            .iter()
            .filter_map(|a| Some((*a, routes.get(a)?.clone())))
            .collect()
    }

    /// Every peer's state, counters and Adj-RIB-Out.
    pub async fn peers(&self) -> Result<Vec<PeerStatus>, Error> {
        let mut out = Vec::new();
        for (addr, tx) in self.mailboxes() {
            out.push(peer_status(addr, &tx).await?);
        }
        Ok(out)
    }

    /// A handle for BFD to tear sessions down; it follows reconfigures.
    pub fn control(&self) -> PeerControl {
        PeerControl {
            peers: self.routes.clone(),
        }
    }

    /// Closes every session with Cease / Administrative Shutdown and the
    /// given text (RFC 8203 / RFC 9003), then stops. Call after draining.
    pub async fn shutdown(mut self, reason: &str) {
        self.stop(reason).await;
    }

    /// [`Speaker::shutdown`] without giving up the speaker (the daemon holds
    /// it as a `Redirector`).
    pub async fn stop(&mut self, reason: &str) {
        for (_, tx) in self.mailboxes() {
            let (done, rx) = oneshot::channel();
            if tx
                .send(PeerMsg::Stop {
                    reason: reason.to_string(),
                    done,
                })
                .await
                .is_ok()
            {
                let _ = rx.await;
            }
        }
        if let Some(l) = self.listener.take() {
            l.task.abort();
        }
        for (_, t) in std::mem::take(&mut self.tasks) {
            t.abort();
        }
    }

    /// Sends `rib` to every peer; `provisional` (a fenced steering) syncs
    /// it without releasing End-of-RIB.
    async fn apply_rib(
        &mut self,
        rib: Arc<DesiredRib>,
        provisional: bool,
    ) -> Result<(usize, usize, String), Error> {
        let mut waits = Vec::new();
        let mailboxes = self.mailboxes();
        for (addr, tx) in &mailboxes {
            let (done, rx) = oneshot::channel();
            tx.send(PeerMsg::Apply {
                rib: rib.clone(),
                provisional,
                done,
            })
            .await
            .map_err(|_| Error::PeerGone(addr.to_string()))?;
            waits.push((addr, rx));
        }
        let mut established = 0;
        let mut changes = 0;
        let mut messages = 0;
        let mut notes = Vec::new();
        for (addr, rx) in waits {
            match rx.await.map_err(|_| Error::PeerGone(addr.to_string()))? {
                Ok(r) => {
                    if r.established {
                        established += 1;
                    }
                    changes += r.changes;
                    messages += r.messages;
                    for s in r.skipped {
                        notes.push(format!("peer {addr}: skipped {s}"));
                    }
                }
                Err(e) => notes.push(e.to_string()),
            }
        }
        let mut detail = format!(
            "{messages} UPDATEs to {established} of {} peers, {} routes",
            mailboxes.len(),
            rib.len()
        );
        for n in &notes {
            detail.push_str("; ");
            detail.push_str(n);
        }
        Ok((established, changes, detail))
    }
}

/// Dropping the speaker without `shutdown` closes the sockets without a
/// NOTIFICATION, like a crash: graceful-restart peers keep our routes.
impl Drop for Speaker {
    fn drop(&mut self) {
        if let Some(l) = self.listener.take() {
            l.task.abort();
        }
        for (_, t) in std::mem::take(&mut self.tasks) {
            t.abort();
        }
    }
}

/// On an AF_INET6 socket an IPv4 peer's TCP-MD5 key is keyed by its
/// IPv4-mapped address.
fn md5_key_address(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(a) => IpAddr::V6(a.to_ipv6_mapped()),
        a => a,
    }
}

fn bind_listener(port: u16, setups: &[PeerSetup]) -> Result<TcpListener, Error> {
    let err = |what: &str, e: std::io::Error| Error::Socket {
        what: format!("BGP listener on port {port}: {what}"),
        detail: e.to_string(),
    };
    // One dual-stack socket: IPv4 peers arrive as IPv4-mapped addresses.
    let sock = TcpSocket::new_v6().map_err(|e| err("socket", e))?;
    sock.set_reuseaddr(true)
        .map_err(|e| err("SO_REUSEADDR", e))?;
    for s in setups {
        if let Some(key) = &s.md5_key {
            sockopt::set_md5(&sock, md5_key_address(s.address), key)
                .map_err(|e| err("TCP_MD5SIG", e))?;
        }
    }
    sock.bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port))
        .map_err(|e| err("bind", e))?;
    sock.listen(128).map_err(|e| err("listen", e))
}

/// Brings the TCP-MD5 keys on a kept listener to `setups` (RFC 2385: a
/// signed SYN from a peer whose key the listening socket lacks is dropped
/// by the kernel, and so is an unsigned one from a peer it has a key for).
/// New and changed keys are set first, all or nothing; keys of peers that
/// lost theirs are removed last (an empty key deletes, `TCP_MD5SIG`).
fn set_listener_keys(l: &mut Listener, setups: &[PeerSetup]) -> Result<(), Error> {
    let want: BTreeMap<IpAddr, Vec<u8>> = setups
        .iter()
        .filter_map(|s| Some((s.address, s.md5_key.clone()?)))
        .collect();
    let err = |what: String, e: std::io::Error| Error::Socket {
        what: format!("BGP listener on port {}: {what}", l.port),
        detail: e.to_string(),
    };
    let mut set = Vec::new();
    for (peer, key) in &want {
        if l.md5.get(peer) == Some(key) {
            continue;
        }
        if let Err(e) = sockopt::set_md5(&*l.socket, md5_key_address(*peer), key) {
            // Undo this call's keys: a refused reconfigure changes nothing.
            for p in set {
                let old = l.md5.get(&p).map(Vec::as_slice).unwrap_or_default();
                let _ = sockopt::set_md5(&*l.socket, md5_key_address(p), old);
            }
            return Err(err(format!("TCP_MD5SIG for {peer}"), e));
        }
        set.push(*peer);
    }
    for peer in l.md5.keys() {
        if !want.contains_key(peer) {
            if let Err(e) = sockopt::set_md5(&*l.socket, md5_key_address(*peer), &[]) {
                warn!(%peer, error = %e, "cannot remove the TCP-MD5 key from the listener");
            }
        }
    }
    l.md5 = want;
    Ok(())
}
