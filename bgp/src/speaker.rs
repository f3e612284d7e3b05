//! `Speaker`: the BGP backend as the daemon sees it (`impl Redirector`).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use orbit_core::config::{AddressFamily, Bgp, Service};
use orbit_core::{Applied, BackendKind, Observed, RedirectError, Redirector, Role, Steering};
use tokio::net::TcpSocket;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::error::Error;
use crate::fsm::{SessionConfig, State};
use crate::peer::{self, PeerMsg, PeerSetup, PeerStatus};
use crate::policy::{DesiredRib, Policy};
use crate::sockopt;
use crate::wire::Family;

/// The BGP speaker: one task per peer plus an optional listener.
#[derive(Debug)]
pub struct Speaker {
    policy: Policy,
    peers: Vec<(IpAddr, mpsc::Sender<PeerMsg>)>,
    tasks: Vec<JoinHandle<()>>,
    listener: Option<JoinHandle<()>>,
    listen_addr: Option<SocketAddr>,
    last: Option<(Steering, Arc<DesiredRib>)>,
}

/// A handle that reaches the peers while the speaker itself is owned by the
/// daemon's backend runner: orbitd uses it to tear a session down when BFD
/// declares the path to that peer down.
#[derive(Debug, Clone)]
pub struct PeerControl {
    peers: Vec<(IpAddr, mpsc::Sender<PeerMsg>)>,
}

impl PeerControl {
    /// Drops the session with `peer` at once (RFC 5882 §4.3); it reconnects
    /// through the normal connect-retry, or at once on [`Self::path_up`].
    pub async fn path_down(&self, peer: IpAddr) -> bool {
        self.send(peer, PeerMsg::PathDown).await
    }

    /// The path to `peer` is back (BFD Up): a session waiting to reconnect
    /// tries now, with its back-off reset.
    pub async fn path_up(&self, peer: IpAddr) -> bool {
        self.send(peer, PeerMsg::PathUp).await
    }

    /// Every peer's state and counters, in configuration order; a peer
    /// task that is gone is left out.
    pub async fn status(&self) -> Vec<PeerStatus> {
        let mut out = Vec::new();
        for (_, tx) in &self.peers {
            let (done, rx) = oneshot::channel();
            if tx.send(PeerMsg::Status(done)).await.is_ok() {
                if let Ok(status) = rx.await {
                    out.push(status);
                }
            }
        }
        out
    }

    async fn send(&self, peer: IpAddr, msg: PeerMsg) -> bool {
        match self.peers.iter().find(|(a, _)| *a == peer) {
            Some((_, tx)) => tx.send(msg).await.is_ok(),
            None => false,
        }
    }
}

impl std::fmt::Debug for PeerMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PeerMsg")
    }
}

impl Speaker {
    /// Validates the `[bgp]` section against the services, opens the
    /// listener (if `listen`) and starts every peer session. Nothing is
    /// announced until the first `apply`.
    pub async fn start(cfg: &Bgp, services: &[Service]) -> Result<Speaker, Error> {
        let policy = Policy::new(cfg, services)?;
        let mut setups = Vec::new();
        for (i, p) in cfg.peers.iter().enumerate() {
            let md5_key = match &p.md5_password_file {
                Some(path) => {
                    let text = std::fs::read_to_string(path).map_err(|e| {
                        Error::Config(format!(
                            "bgp.peer[{i}].md5_password_file: cannot read {}: {e}",
                            path.display()
                        ))
                    })?;
                    let key = text.trim_end_matches(['\n', '\r']).as_bytes().to_vec();
                    if key.is_empty() || key.len() > sockopt::MD5_MAX_KEY_LEN {
                        return Err(Error::Config(format!(
                            "bgp.peer[{i}].md5_password_file: the password must be 1 to 80 bytes"
                        )));
                    }
                    Some(key)
                }
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
        let mut listener = None;
        let mut listen_addr = None;
        let mut peers = Vec::new();
        let mut tasks = Vec::new();
        // The listener is bound before any session starts so that a
        // refused bind is a start-up error, not a silent passive peer.
        let bound = if cfg.listen {
            Some(bind_listener(cfg.listen_port, &setups)?)
        } else {
            None
        };
        for s in setups {
            let address = s.address;
            let (tx, task) = peer::spawn(s);
            peers.push((address, tx));
            tasks.push(task);
        }
        if let Some(l) = bound {
            listen_addr = l.local_addr().ok();
            let routes: BTreeMap<IpAddr, mpsc::Sender<PeerMsg>> =
                peers.iter().map(|(a, tx)| (*a, tx.clone())).collect();
            listener = Some(tokio::spawn(async move {
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
                    let ip = from.ip().to_canonical();
                    match routes.get(&ip) {
                        Some(tx) => {
                            let _ = tx.send(PeerMsg::Accepted(stream)).await;
                        }
                        // Only configured peers may talk to us.
                        None => warn!(%from, "connection from an unconfigured address refused"),
                    }
                }
            }));
        }
        info!(peers = peers.len(), listen = ?listen_addr, "BGP speaker started");
        Ok(Speaker {
            policy,
            peers,
            tasks,
            listener,
            listen_addr,
            last: None,
        })
    }

    /// Where the listener is bound (if `listen`).
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.listen_addr
    }

    /// Every peer's state, counters and Adj-RIB-Out.
    pub async fn peers(&self) -> Result<Vec<PeerStatus>, Error> {
        let mut out = Vec::new();
        for (addr, tx) in &self.peers {
            let (done, rx) = oneshot::channel();
            tx.send(PeerMsg::Status(done))
                .await
                .map_err(|_| Error::PeerGone(addr.to_string()))?;
            out.push(rx.await.map_err(|_| Error::PeerGone(addr.to_string()))?);
        }
        Ok(out)
    }

    /// A handle for BFD to tear sessions down.
    pub fn control(&self) -> PeerControl {
        PeerControl {
            peers: self.peers.clone(),
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
        for (_, tx) in &self.peers {
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
            l.abort();
        }
        for t in self.tasks.drain(..) {
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
        for (addr, tx) in &self.peers {
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
            self.peers.len(),
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
            l.abort();
        }
        for t in self.tasks.drain(..) {
            t.abort();
        }
    }
}

fn bind_listener(port: u16, setups: &[PeerSetup]) -> Result<tokio::net::TcpListener, Error> {
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
            // On an AF_INET6 socket an IPv4 peer's key is keyed by its
            // IPv4-mapped address.
            let addr = match s.address {
                IpAddr::V4(a) => IpAddr::V6(a.to_ipv6_mapped()),
                a => a,
            };
            sockopt::set_md5(&sock, addr, key).map_err(|e| err("TCP_MD5SIG", e))?;
        }
    }
    sock.bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port))
        .map_err(|e| err("bind", e))?;
    sock.listen(128).map_err(|e| err("listen", e))
}

#[async_trait::async_trait]
impl Redirector for Speaker {
    fn kind(&self) -> BackendKind {
        BackendKind::Bgp
    }

    async fn apply(&mut self, steering: &Steering) -> Result<Applied, RedirectError> {
        if steering.observe_only {
            return Ok(Applied {
                generation: steering.generation,
                changes: 0,
                detail: "observe only: nothing announced".into(),
            });
        }
        // Refused whole, before anything is sent: the previous state stays.
        let rib = Arc::new(self.policy.desired(steering)?);
        // A fenced steering is provisional: after a restart it comes before
        // the daemon knows where the services belong, and End-of-RIB after
        // it would make graceful-restart peers flush the routes they kept
        // for us (RFC 4724 §4.1/§4.2).
        let (established, changes, detail) = self.apply_rib(rib.clone(), steering.fenced).await?;
        self.last = Some((steering.clone(), rib));
        if established == 0 {
            return Err(RedirectError::Unreachable {
                component: "BGP peers".into(),
                detail: format!(
                    "no session is Established; the routes go out when one comes up ({detail})"
                ),
            });
        }
        Ok(Applied {
            generation: steering.generation,
            changes,
            detail,
        })
    }

    async fn close(&mut self, reason: &str) {
        self.stop(reason).await;
    }

    async fn observe(&mut self) -> Result<Observed, RedirectError> {
        let peers = self.peers().await?;
        let mut services = BTreeMap::new();
        if let Some((steering, _)) = &self.last {
            for (id, s) in &steering.services {
                // We carry the service if an Established peer holds one of its
                // prefixes from us as the active site.
                let carried = peers.iter().any(|p| {
                    p.state == State::Established
                        && s.prefixes
                            .iter()
                            .any(|px| p.adj_rib_out.contains_key(&px.trunc()))
                }) && s.local_role == Role::Active;
                let site = if carried {
                    Some(steering.local_site.clone())
                } else {
                    s.active.clone().filter(|a| a != &steering.local_site)
                };
                services.insert(id.clone(), site);
            }
        }
        let detail = peers
            .iter()
            .map(|p| {
                format!(
                    "{} {:?} out={} in={}{}",
                    p.address,
                    p.state,
                    p.adj_rib_out.len(),
                    p.counters.prefixes_received,
                    p.last_error
                        .as_deref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        Ok(Observed { services, detail })
    }
}
