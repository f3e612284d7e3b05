//! The tokio driver of one gossip member.
//!
//! ```text
//!   UDP socket ──recv──┐
//!   DelayQueue ─expire─┤                       ┌─> UDP send_to
//!   control (API) ─────┤                       ├─> DelayQueue insert
//!   data-plane probes ─┼──> GossipCore::process ┼─> mpsc<Event> to orbitd
//!   push-pull frames ──┘    (one task, one loop) └─> push-pull tasks (TCP)
//!        ^ one small task per probed site (TCP connect), the push-pull
//!          listener and one task per push-pull connection (`pushpull.rs`)
//! ```
//!
//! One task owns the socket, the core and a single timer queue; the probe
//! and push-pull tasks only do I/O and report what they read. Dropping
//! [`Gossip`] stops it all.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::Config;
use crate::Cluster;
use orbit_core::{Event, Liveness, ServiceId, SharedState, SiteId};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::time::DelayQueue;
use tracing::Instrument;

use super::core::{GossipCore, GossipTimer, Input, Output};
use super::pushpull::{self, Incoming};
use super::settings::GossipSettings;
use super::status::GossipStatus;
use super::verdict::Source;
use crate::auth::AuthKey;
use crate::dataplane::{probe_site, ProbeTiming, Prober};
use crate::error::DetectError;

#[derive(Debug)]
enum Control {
    Shared(Box<SharedState>),
    Health(ServiceId, bool),
    Link(String, Vec<SiteId>, bool),
    Source(Source, SiteId, Option<Liveness>),
}

/// A running gossip member. Dropping it stops the member.
#[derive(Debug)]
pub struct Gossip {
    control: mpsc::Sender<Control>,
    status: watch::Receiver<GossipStatus>,
    local_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Gossip {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Gossip {
    /// Starts the member `cluster.local`: reads `detect.key_file`,
    /// binds the site's `gossip` address, probes the data planes listed in
    /// `[detect.probe]`, and sends every verdict, remote health change and
    /// remote operator command into `events`.
    pub async fn start(
        detect: &Config,
        cluster: &Cluster,
        events: mpsc::Sender<Event>,
    ) -> Result<Gossip, DetectError> {
        let key_file = detect.key_file.as_ref().ok_or(DetectError::NoKey)?;
        let key = AuthKey::from_file(key_file)?;
        let generation = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(1);
        let settings = GossipSettings::from_config(detect, cluster, generation)?;
        let probes = detect
            .probe
            .iter()
            .filter(|(site, _)| **site != cluster.local)
            .map(|(s, a)| (s.clone(), *a))
            .collect();
        Self::start_with(settings, key, probes, events).await
    }

    /// Starts a member from explicit settings (tests, tools).
    pub async fn start_with(
        settings: GossipSettings,
        key: AuthKey,
        probes: BTreeMap<SiteId, SocketAddr>,
        events: mpsc::Sender<Event>,
    ) -> Result<Gossip, DetectError> {
        let socket =
            UdpSocket::bind(settings.listen)
                .await
                .map_err(|source| DetectError::Bind {
                    addr: settings.listen,
                    source,
                })?;
        let local_addr = socket.local_addr()?;
        // Push-pull listens on the same address and port, over TCP.
        let listener = TcpListener::bind(local_addr)
            .await
            .map_err(|source| DetectError::Bind {
                addr: local_addr,
                source,
            })?;
        let timing = ProbeTiming {
            interval: settings.timers.probe_interval,
            burst_timeout: settings
                .timers
                .probe_timeout
                .min(settings.timers.probe_interval),
        };
        let span = tracing::info_span!("gossip", site = %settings.local);
        let core = GossipCore::new(settings, key);
        let (status_tx, status) = watch::channel(core.status());
        let (control, control_rx) = mpsc::channel(64);
        let (dp_tx, dp_rx) = mpsc::channel(64);
        let mut tasks = Vec::new();
        let mut probers = BTreeMap::new();
        for (site, target) in probes {
            let prober = Prober::default();
            probers.insert(site.clone(), prober.clone());
            tasks.push(tokio::spawn(
                probe_site(site, target, timing, prober, dp_tx.clone()).instrument(span.clone()),
            ));
        }
        drop(dp_tx);
        let limit = Arc::new(Semaphore::new(pushpull::MAX_CONNECTIONS));
        let (pp_tx, pp_rx) = mpsc::channel(pushpull::MAX_CONNECTIONS);
        tasks.push(tokio::spawn(
            pushpull::accept(listener, limit.clone(), pp_tx.clone()).instrument(span.clone()),
        ));
        let driver = Driver {
            local_addr,
            limit,
            pp_tx,
            answers: BTreeMap::new(),
            next_conn: 0,
            core,
            socket,
            queue: DelayQueue::new(),
            epoch: Instant::now(),
            events,
            status: status_tx,
            probers,
        };
        tasks.push(tokio::spawn(
            driver.run(control_rx, dp_rx, pp_rx).instrument(span),
        ));
        Ok(Gossip {
            control,
            status,
            local_addr,
            tasks,
        })
    }

    /// The bound gossip address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Publishes the local engine's shared state (placements, operator
    /// intent); every other member receives it as `Event::Peer`.
    pub async fn publish_shared(&self, state: SharedState) -> Result<(), DetectError> {
        self.control
            .send(Control::Shared(Box::new(state)))
            .await
            .map_err(|_| DetectError::Stopped)
    }

    /// Publishes the local health of `service` to the other members.
    pub async fn set_local_health(
        &self,
        service: ServiceId,
        healthy: bool,
    ) -> Result<(), DetectError> {
        self.control
            .send(Control::Health(service, healthy))
            .await
            .map_err(|_| DetectError::Stopped)
    }

    /// A cloneable handle for the health checks and the link watch.
    pub fn reporter(&self) -> LocalReporter {
        LocalReporter(self.control.clone())
    }

    /// The latest snapshot (views, counters, self-health).
    pub fn status(&self) -> GossipStatus {
        self.status.borrow().clone()
    }

    /// A receiver that changes with every processed input.
    pub fn watch(&self) -> watch::Receiver<GossipStatus> {
        self.status.clone()
    }
}

/// Publishes local facts (service health, link carrier, other detectors'
/// views) through a running [`Gossip`].
#[derive(Debug, Clone)]
pub struct LocalReporter(mpsc::Sender<Control>);

impl LocalReporter {
    pub async fn report(&self, service: ServiceId, healthy: bool) -> Result<(), DetectError> {
        self.0
            .send(Control::Health(service, healthy))
            .await
            .map_err(|_| DetectError::Stopped)
    }
}

impl LocalReporter {
    /// Publishes the local engine's shared state without waiting (the
    /// daemon's event loop must not block on gossip); a full queue is an
    /// error the caller logs, and the next change publishes again.
    pub fn try_publish_shared(&self, state: SharedState) -> Result<(), DetectError> {
        self.0
            .try_send(Control::Shared(Box::new(state)))
            .map_err(|_| DetectError::Stopped)
    }

    /// Reports carrier on a local interface toward `sites` (link watch).
    pub async fn link(
        &self,
        interface: String,
        sites: Vec<SiteId>,
        up: bool,
    ) -> Result<(), DetectError> {
        self.0
            .send(Control::Link(interface, sites, up))
            .await
            .map_err(|_| DetectError::Stopped)
    }

    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }

    /// Reports what another local detector (Serf, BFD, an external feed)
    /// says about `site`'s daemon; `None` withdraws its opinion.
    pub async fn source(
        &self,
        source: Source,
        site: SiteId,
        liveness: Option<Liveness>,
    ) -> Result<(), DetectError> {
        self.0
            .send(Control::Source(source, site, liveness))
            .await
            .map_err(|_| DetectError::Stopped)
    }
}

struct Driver {
    local_addr: SocketAddr,
    /// Push-pull exchanges running (both directions).
    limit: Arc<Semaphore>,
    pp_tx: mpsc::Sender<Incoming>,
    /// Accepted push-pull connections waiting for the core's answer.
    answers: BTreeMap<u64, oneshot::Sender<Vec<u8>>>,
    next_conn: u64,
    core: GossipCore,
    socket: UdpSocket,
    queue: DelayQueue<GossipTimer>,
    epoch: Instant,
    events: mpsc::Sender<Event>,
    status: watch::Sender<GossipStatus>,
    /// The burst trigger of each probed site's probe task.
    probers: BTreeMap<SiteId, Prober>,
}

impl Driver {
    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    async fn run(
        mut self,
        mut control: mpsc::Receiver<Control>,
        mut dataplane: mpsc::Receiver<(SiteId, bool)>,
        mut pushpulls: mpsc::Receiver<Incoming>,
    ) {
        let mut buf = vec![0u8; 65_536];
        if !self.step(Input::Start).await {
            return;
        }
        let mut control_open = true;
        let mut dataplane_open = true;
        loop {
            let input = tokio::select! {
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok((n, from)) => Input::Packet { from, data: buf[..n].to_vec() },
                    Err(e) => {
                        // ICMP errors surface here on Linux; not fatal.
                        tracing::debug!(error = %e, "gossip recv");
                        continue;
                    }
                },
                Some(expired) = std::future::poll_fn(|cx| self.queue.poll_expired(cx)), if !self.queue.is_empty() => {
                    Input::Timer(expired.into_inner())
                }
                c = control.recv(), if control_open => match c {
                    Some(Control::Health(service, healthy)) => Input::LocalHealth { service, healthy },
                    Some(Control::Shared(state)) => Input::Shared(state),
                    Some(Control::Link(interface, sites, up)) => Input::Link { interface, sites, up },
                    Some(Control::Source(source, site, liveness)) => Input::Source { source, site, liveness },
                    None => { control_open = false; continue; }
                },
                d = dataplane.recv(), if dataplane_open => match d {
                    Some((site, reachable)) => Input::DataPlane { site, reachable },
                    None => { dataplane_open = false; continue; }
                },
                Some(incoming) = pushpulls.recv() => match incoming.data {
                    Some(data) => {
                        let conn = incoming.answer.map(|tx| {
                            self.next_conn += 1;
                            self.answers.insert(self.next_conn, tx);
                            self.next_conn
                        });
                        Input::PushPull { from: incoming.from, conn, data }
                    }
                    None => Input::PushPullFailed { to: incoming.from },
                },
            };
            let conn = match &input {
                Input::PushPull { conn, .. } => *conn,
                _ => None,
            };
            if !self.step(input).await {
                return;
            }
            // Not answered (refused, or no answer wanted): the connection
            // closes.
            if let Some(conn) = conn {
                self.answers.remove(&conn);
            }
        }
    }

    /// Runs one input through the core and carries out its outputs.
    /// Returns false when the event receiver is gone.
    async fn step(&mut self, input: Input) -> bool {
        let now = self.now();
        for output in self.core.process(now, input) {
            match output {
                Output::Send { to, data } => {
                    if let Err(e) = self.socket.send_to(&data, to).await {
                        tracing::debug!(%to, error = %e, "gossip send");
                    }
                }
                Output::PushPull { to, data } => {
                    pushpull::initiate(self.local_addr, to, data, &self.limit, self.pp_tx.clone());
                }
                Output::PushPullAnswer { conn, data } => {
                    if let Some(tx) = self.answers.remove(&conn) {
                        let _ = tx.send(data);
                    }
                }
                Output::Schedule { after, timer } => {
                    self.queue.insert(timer, after);
                }
                Output::Event(event) => {
                    if self.events.send(*event).await.is_err() {
                        return false;
                    }
                }
                Output::ProbeNow { site } => {
                    if let Some(prober) = self.probers.get(&site) {
                        prober.burst();
                    }
                }
            }
        }
        self.status.send_replace(self.core.status());
        true
    }
}
