//! Deterministic simulation of gossip members: no sockets, a fake clock, a
//! seeded lossy network. Every member is the real `GossipCore`, and its
//! events feed a real `orbit_core::Engine`, so "detected" means the engine
//! declared the site dead, exactly as in orbitd.
//!
//! Model:
//! - one-way latency 1–2 ms, independent random loss per packet;
//! - a cut pair drops everything between the two members (SWIM and data
//!   plane alike), except the last few packets each way, which (as in a
//!   kernel's neighbour queue waiting for the link) go out when it heals:
//!   stale news arrives first;
//! - a crashed member drops everything and its data plane is gone;
//! - a paused member (SIGSTOP) keeps its data plane but processes nothing
//!   until it resumes; then all its expired timers fire before it reads the
//!   packets that queued up (the worst order);
//! - data-plane probes run every probe interval per (observer, site) and
//!   fail on a cut or crash, or with the loss rate applied to both the SYN
//!   and the SYN-ACK; rise/fall as in `dataplane.rs`; a core's
//!   `Output::ProbeNow` starts a burst of `DATAPLANE_FALL` attempts that
//!   answer after a 2-4 ms round trip or fail at the burst timeout;
//! - optional multihop BFD between members (`Sim::enable_bfd`): per pair, a
//!   packet every interval each way (lost at the loss rate, or on a cut or
//!   crash; a paused member's BFD helper keeps answering), Down after
//!   `multiplier` intervals without one (and the other end with it: State
//!   Down is signalled), Up again no sooner than a second later (RFC 5880
//!   slow start), fed to the gossip core as `Input::Source` the way
//!   orbitd's BFD adapter does;
//! - every engine's shared state (placements, intent, deaths) goes back into
//!   its gossip core after each event, as orbitd does, so engines converge
//!   (and disagree) the way real ones do;
//! - push-pull (`Output::PushPull`) is a TCP exchange: never lost, 1-2 ms
//!   plus 8 ns per byte (1 Gbit/s) each way, failed by a cut or a crash;
//! - a member can restart (`Sim::restart`): new gossip core under a new
//!   generation, new engine, nothing kept.

#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::net::SocketAddr;
use std::time::Duration;

use orbit_config::Config;
use orbit_core::{Change, Decision, Engine, Event, Millis, SiteId};
use orbit_detect::auth::AuthKey;
use orbit_detect::dataplane::DATAPLANE_FALL;
use orbit_detect::gossip::{GossipCore, GossipSettings, GossipTimer, Input, Output};
use orbit_detect::rise_fall::RiseFall;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    Lan,
    MetroFast,
}

/// The config of member `local` in a cluster of `n`; with `witness`, the
/// last member is a witness. Service `web` prefers s0, then s1.
pub fn config(n: usize, local: usize, witness: bool, profile: Profile) -> Config {
    config_with(n, local, witness, profile, "")
}

/// [`config`] with `extra` TOML appended (a `[policy]`, `[bfd]`, or the
/// service's health check as `health = {...}` right after the service).
pub fn config_with(n: usize, local: usize, witness: bool, profile: Profile, extra: &str) -> Config {
    let mut t = format!(
        "[node]\nsite = \"s{local}\"\nrole = \"{}\"\n\n",
        if witness && local == n - 1 {
            "witness"
        } else {
            "site"
        }
    );
    for i in 0..n {
        t += &format!(
            "[[site]]\nid = \"s{i}\"\ngossip = \"10.0.{}.{}:7946\"\n",
            i / 200,
            i % 200 + 1
        );
        if witness && i == n - 1 {
            t += "witness = true\n";
        }
    }
    t += &format!(
        "\n[detect]\nprofile = \"{}\"\nkey_file = \"/nonexistent\"\n\n[detect.probe]\n",
        match profile {
            Profile::Lan => "lan",
            Profile::MetroFast => "metro-fast",
        }
    );
    for i in 0..n {
        if !(witness && i == n - 1) {
            t += &format!("s{i} = \"198.51.100.{}:80\"\n", i + 1);
        }
    }
    if !(witness && local == n - 1) {
        t += "\n[[service]]\nid = \"web\"\nprefixes = [\"203.0.113.10/32\"]\nsites = [\"s0\", \"s1\"]\n";
    }
    // Keys of the service (health) must follow it; tables may come anywhere.
    // A witness has no service, so no health check.
    for line in extra.lines() {
        if witness && local == n - 1 && line.starts_with("health") {
            continue;
        }
        t += line;
        t += "\n";
    }
    Config::parse_valid(&t, "sim.toml").expect("sim config is valid")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RunState {
    Running,
    Crashed,
    Paused {
        until: Duration,
    },
    /// CPU-starved: every input is handled up to `max_lag` late, in order.
    Sluggish {
        max_lag: Duration,
        busy_until: Duration,
    },
}

pub struct Node {
    pub site: SiteId,
    /// The shared state last handed to the gossip core.
    gossiped: Option<orbit_core::SharedState>,
    pub addr: SocketAddr,
    pub core: GossipCore,
    pub engine: Engine,
    state: RunState,
    pub events: Vec<(Duration, Event)>,
    pub decisions: Vec<(Duration, Decision)>,
    probes: BTreeMap<usize, RiseFall>,
    /// Gossip datagrams this member sent, and their UDP payload bytes
    /// (lost or cut ones too: they left the member).
    pub sent_packets: u64,
    pub sent_bytes: u64,
    /// Push-pull frames this member sent (TCP), and their bytes.
    pub pushpull_frames: u64,
    pub pushpull_bytes: u64,
    /// Restarts so far (each takes a new generation).
    restarts: u64,
    /// The largest gossip datagram this member sent (UDP payload bytes).
    pub max_datagram: usize,
    /// Placements of services the engine does not know, added to its
    /// shared state before it is gossiped (see [`Sim::with_services`]).
    pub synthetic: BTreeMap<orbit_core::ServiceId, orbit_core::Placement>,
    /// The latest `Event::Peer` from each origin (kept apart from
    /// `events`: with 10,000 services each is a large state).
    pub last_peer: BTreeMap<SiteId, (Duration, orbit_core::SharedState)>,
}

#[derive(Debug)]
enum Job {
    Deliver {
        to: usize,
        from: SocketAddr,
        data: Vec<u8>,
    },
    Timer {
        node: usize,
        timer: GossipTimer,
        /// The process that set it (`Node::restarts`): a restarted
        /// member's old timers are gone with the old process.
        life: u64,
    },
    /// A push-pull we started failed.
    PushPullFailed {
        node: usize,
        to: SocketAddr,
        life: u64,
    },
    /// A push-pull frame arrives (`conn`: the initiator's, to answer).
    PushPull {
        to: usize,
        from: SocketAddr,
        conn: Option<u64>,
        data: Vec<u8>,
    },
    ProbeTick,
    BfdTick,
    /// One attempt of an on-demand burst (`Output::ProbeNow`) ends.
    ProbeResult {
        node: usize,
        target: usize,
        ok: bool,
    },
}

/// Multihop BFD between every pair of members.
#[derive(Debug, Clone)]
struct BfdModel {
    interval: Duration,
    multiplier: u32,
    /// (observer, peer) -> (last packet received, reported Up).
    sessions: BTreeMap<(usize, usize), (Duration, Option<bool>)>,
    /// (observer, peer) -> when the session last went Down.
    down_since: BTreeMap<(usize, usize), Duration>,
}

/// How long a BFD session that went Down stays Down at least.
const BFD_SLOW_START: Duration = Duration::from_secs(1);

/// One moment at which two members with authority both carried `web`.
#[derive(Debug, Clone, PartialEq)]
pub struct DualActive {
    pub at: Duration,
    pub sites: Vec<SiteId>,
}

pub struct Sim {
    pub now: Duration,
    pub nodes: Vec<Node>,
    queue: BinaryHeap<Reverse<(Duration, u64)>>,
    jobs: BTreeMap<u64, Job>,
    seq: u64,
    rng: SmallRng,
    /// Percent of packets dropped.
    pub loss: u32,
    cut: BTreeSet<(usize, usize)>,
    /// Per (from, to) across a cut: the last packets sent, delivered on heal.
    backlog: BTreeMap<(usize, usize), Backlog>,
    by_addr: BTreeMap<SocketAddr, usize>,
    probe_interval: Duration,
    /// Timeout of each attempt of an on-demand burst.
    burst_timeout: Duration,
    witness: Option<usize>,
    lagged: BTreeSet<u64>,
    bfd: Option<BfdModel>,
    /// Every moment (after any job) at which more than one member with
    /// authority had `web` Active, and every moment with none.
    pub dual_active: Vec<DualActive>,
    carrier: Option<Option<SiteId>>,
    /// (since, until) of every stretch in which no unfenced member had
    /// `web` Active, after it was first placed.
    pub no_carrier: Vec<(Duration, Option<Duration>)>,
    /// Open push-pull connections: id -> initiator.
    conns: BTreeMap<u64, usize>,
    next_conn: u64,
    /// How the cluster was built (for restarts).
    shape: (usize, bool, Profile, String),
    seed: u64,
}

/// The packets a cut link holds for one direction.
type Backlog = std::collections::VecDeque<(SocketAddr, Vec<u8>)>;

/// Packets per direction a cut link still delivers when it heals.
const BACKLOG: usize = 3;

/// Placements of `services - 1` synthetic services `svc-1` ... on s0.
fn synthetic(services: usize) -> BTreeMap<orbit_core::ServiceId, orbit_core::Placement> {
    (1..services)
        .map(|i| {
            let placement = orbit_core::Placement {
                active: Some("s0".parse().expect("site id")),
                epoch: 1,
                planned: false,
                moving_to: None,
            };
            (format!("svc-{i}").parse().expect("service id"), placement)
        })
        .collect()
}

fn sim_key() -> AuthKey {
    AuthKey::new(b"simulation key, 32 bytes long!!".to_vec())
}

fn millis(d: Duration) -> Millis {
    Millis(u64::try_from(d.as_millis()).expect("sim time fits"))
}

impl Sim {
    pub fn new(n: usize, witness: bool, profile: Profile, seed: u64) -> Sim {
        Sim::with(n, witness, profile, seed, "")
    }

    /// A cluster whose configs get `extra` TOML appended (see `config_with`).
    pub fn with(n: usize, witness: bool, profile: Profile, seed: u64, extra: &str) -> Sim {
        Sim::with_services(n, witness, profile, seed, extra, 1)
    }

    /// A cluster whose gossiped shared states carry `services` placements:
    /// `web`, which the engines decide, and `services - 1` synthetic ones
    /// (`Node::synthetic`, on s0 at epoch 1, which a test may change). The
    /// engines do not decide those: `orbit_core::Engine` records the
    /// triggering event in each decision, so a peer state of 10,000
    /// placements that moves them all costs it 10,000 copies of that state
    /// (docs/detect.md); the gossip under test is the same either way.
    pub fn with_services(
        n: usize,
        witness: bool,
        profile: Profile,
        seed: u64,
        extra: &str,
        services: usize,
    ) -> Sim {
        let key = sim_key();
        let mut nodes = Vec::new();
        let mut by_addr = BTreeMap::new();
        let mut probe_interval = Duration::ZERO;
        let mut burst_timeout = Duration::ZERO;
        for i in 0..n {
            let cfg = config_with(n, i, witness, profile, extra);
            let mut settings =
                GossipSettings::from_config(&cfg.detect, &cfg.cluster(), 1_000 + i as u64)
                    .expect("settings");
            settings.rng_seed = seed.wrapping_mul(1000).wrapping_add(i as u64);
            probe_interval = settings.timers.probe_interval;
            burst_timeout = settings.timers.probe_timeout.min(probe_interval);
            by_addr.insert(settings.listen, i);
            let addr = settings.listen;
            let probes = settings
                .probed
                .iter()
                .map(|s| {
                    let j: usize = s.as_str()[1..].parse().expect("sN");
                    (j, RiseFall::new(1, DATAPLANE_FALL))
                })
                .collect();
            nodes.push(Node {
                site: cfg.node.site.clone(),
                gossiped: None,
                addr,
                core: GossipCore::new(settings, key.clone()),
                engine: cfg.engine(),
                state: RunState::Running,
                events: Vec::new(),
                decisions: Vec::new(),
                probes,
                sent_packets: 0,
                sent_bytes: 0,
                pushpull_frames: 0,
                pushpull_bytes: 0,
                restarts: 0,
                max_datagram: 0,
                synthetic: synthetic(services),
                last_peer: BTreeMap::new(),
            });
        }
        let mut sim = Sim {
            now: Duration::ZERO,
            nodes,
            queue: BinaryHeap::new(),
            jobs: BTreeMap::new(),
            seq: 0,
            rng: SmallRng::seed_from_u64(seed),
            loss: 0,
            cut: BTreeSet::new(),
            backlog: BTreeMap::new(),
            by_addr,
            probe_interval,
            burst_timeout,
            witness: witness.then_some(n - 1),
            lagged: BTreeSet::new(),
            bfd: None,
            dual_active: Vec::new(),
            carrier: None,
            no_carrier: Vec::new(),
            conns: BTreeMap::new(),
            next_conn: 0,
            shape: (n, witness, profile, extra.to_owned()),
            seed,
        };
        for i in 0..n {
            let out = sim.nodes[i].core.process(Duration::ZERO, Input::Start);
            sim.apply(i, out);
        }
        sim.schedule(probe_interval, Job::ProbeTick);
        sim
    }

    fn schedule(&mut self, after: Duration, job: Job) {
        self.seq += 1;
        self.queue.push(Reverse((self.now + after, self.seq)));
        self.jobs.insert(self.seq, job);
    }

    fn blocked(&self, a: usize, b: usize) -> bool {
        self.cut.contains(&(a.min(b), a.max(b)))
    }

    fn apply(&mut self, node: usize, outputs: Vec<Output>) {
        for o in outputs {
            match o {
                Output::Send { to, data } => {
                    self.nodes[node].sent_packets += 1;
                    self.nodes[node].sent_bytes += data.len() as u64;
                    self.nodes[node].max_datagram = self.nodes[node].max_datagram.max(data.len());
                    let Some(&dst) = self.by_addr.get(&to) else {
                        continue;
                    };
                    if self.blocked(node, dst) {
                        let queue = self.backlog.entry((node, dst)).or_default();
                        queue.push_back((self.nodes[node].addr, data));
                        if queue.len() > BACKLOG {
                            queue.pop_front();
                        }
                        continue;
                    }
                    if self.rng.random_range(0..100u32) < self.loss {
                        continue;
                    }
                    let latency = Duration::from_micros(1000 + self.rng.random_range(0..1000u64));
                    let from = self.nodes[node].addr;
                    self.schedule(
                        latency,
                        Job::Deliver {
                            to: dst,
                            from,
                            data,
                        },
                    );
                }
                Output::Schedule { after, timer } => {
                    let life = self.nodes[node].restarts;
                    self.schedule(after, Job::Timer { node, timer, life })
                }
                Output::Event(e) => self.feed(node, *e),
                Output::ProbeNow { site } => self.burst(node, &site),
                Output::PushPull { to, data } => {
                    let Some(&dst) = self.by_addr.get(&to) else {
                        continue;
                    };
                    self.next_conn += 1;
                    self.conns.insert(self.next_conn, node);
                    let conn = Some(self.next_conn);
                    self.stream(node, dst, conn, data);
                }
                Output::PushPullAnswer { conn, data } => {
                    if let Some(dst) = self.conns.remove(&conn) {
                        self.stream(node, dst, None, data);
                    }
                }
            }
        }
    }

    /// One push-pull frame from `node` to `dst` over TCP: lost only with
    /// the connection (a cut, a crash).
    fn stream(&mut self, node: usize, dst: usize, conn: Option<u64>, data: Vec<u8>) {
        self.nodes[node].pushpull_frames += 1;
        self.nodes[node].pushpull_bytes += data.len() as u64;
        if self.blocked(node, dst) || self.nodes[dst].state == RunState::Crashed {
            // The initiator's connect (or read) fails at its deadline.
            if conn.is_some() {
                let to = self.nodes[dst].addr;
                let life = self.nodes[node].restarts;
                self.schedule(
                    Duration::from_secs(1),
                    Job::PushPullFailed { node, to, life },
                );
            }
            return;
        }
        let latency = Duration::from_micros(1000 + self.rng.random_range(0..1000u64))
            + Duration::from_nanos(8 * data.len() as u64);
        let from = self.nodes[node].addr;
        self.schedule(
            latency,
            Job::PushPull {
                to: dst,
                from,
                conn,
                data,
            },
        );
    }

    /// Restarts member `i`: a new process (gossip core with a new
    /// generation, engine) that knows nothing, as after a crash and a
    /// systemd restart.
    pub fn restart(&mut self, i: usize) {
        // The synthetic placements (`Node::synthetic`) stay: the restarted
        // member publishes them again.
        let (n, witness, profile, extra) = self.shape.clone();
        let cfg = config_with(n, i, witness, profile, &extra);
        self.nodes[i].restarts += 1;
        let generation = 1_000 + i as u64 + 100 * self.nodes[i].restarts;
        let mut settings =
            GossipSettings::from_config(&cfg.detect, &cfg.cluster(), generation).expect("settings");
        settings.rng_seed = self.seed.wrapping_mul(1000).wrapping_add(generation);
        let node = &mut self.nodes[i];
        node.core = GossipCore::new(settings, sim_key());
        node.engine = cfg.engine();
        node.gossiped = None;
        node.last_peer.clear();
        node.state = RunState::Running;
        for p in node.probes.values_mut() {
            *p = RiseFall::new(1, DATAPLANE_FALL);
        }
        let now = self.now;
        let out = self.nodes[i].core.process(now, Input::Start);
        self.apply(i, out);
        self.share(i);
    }

    fn feed(&mut self, node: usize, event: Event) {
        let now = self.now;
        let n = &mut self.nodes[node];
        match &event {
            Event::Peer { from, state } => {
                n.last_peer.insert(from.clone(), (now, state.clone()));
            }
            _ => n.events.push((now, event.clone())),
        }
        for d in n.engine.handle(millis(now), event) {
            n.decisions.push((now, d));
        }
        self.share(node);
    }

    /// Hands the engine's shared state to its gossip core when it changed.
    pub fn share(&mut self, node: usize) {
        let mut state = self.nodes[node].engine.shared_state();
        state.placements.extend(self.nodes[node].synthetic.clone());
        if self.nodes[node].gossiped.as_ref() == Some(&state) {
            return;
        }
        self.nodes[node].gossiped = Some(state.clone());
        let now = self.now;
        let out = self.nodes[node]
            .core
            .process(now, Input::Shared(Box::new(state)));
        self.apply(node, out);
    }

    /// Who carries `web` right now: the members whose engine has authority
    /// (not fenced, running) and says Active.
    pub fn carriers(&self) -> Vec<SiteId> {
        self.nodes
            .iter()
            .filter(|n| n.state != RunState::Crashed)
            .filter(|n| {
                let st = n.engine.steering();
                !st.fenced
                    && st
                        .services
                        .values()
                        .any(|s| s.local_role == orbit_core::Role::Active)
            })
            .map(|n| n.site.clone())
            .collect()
    }

    fn watch_carriers(&mut self) {
        let carriers = self.carriers();
        if carriers.len() > 1 {
            self.dual_active.push(DualActive {
                at: self.now,
                sites: carriers.clone(),
            });
        }
        let one = carriers.first().cloned();
        match (&self.carrier, &one) {
            (None, None) => return,
            (Some(Some(_)), None) => self.no_carrier.push((self.now, None)),
            (Some(None), Some(_)) => {
                if let Some(last) = self.no_carrier.last_mut() {
                    last.1 = Some(self.now);
                }
            }
            _ => {}
        }
        self.carrier = Some(one);
    }

    /// Gaps without any carrier of `web` longer than `longer_than`, after
    /// `since` (an open gap counts up to now).
    pub fn carrier_gaps(
        &self,
        since: Duration,
        longer_than: Duration,
    ) -> Vec<(Duration, Duration)> {
        self.no_carrier
            .iter()
            .map(|(from, to)| (*from, to.unwrap_or(self.now) - *from))
            .filter(|(from, len)| *from >= since && *len > longer_than)
            .collect()
    }

    /// Turns on multihop BFD between every pair of members.
    pub fn enable_bfd(&mut self, interval: Duration, multiplier: u32) {
        let n = self.nodes.len();
        let mut sessions = BTreeMap::new();
        for a in 0..n {
            for b in 0..n {
                if a != b {
                    sessions.insert((a, b), (self.now, None));
                }
            }
        }
        self.bfd = Some(BfdModel {
            interval,
            multiplier,
            sessions,
            down_since: BTreeMap::new(),
        });
        self.schedule(interval, Job::BfdTick);
    }

    fn bfd_tick(&mut self) {
        let Some(mut model) = self.bfd.take() else {
            return;
        };
        let detect = model.interval * model.multiplier;
        let mut reports = Vec::new();
        for (&(o, p), (last, up)) in model.sessions.iter_mut() {
            // The helper process answers even while orbitd is paused.
            let arrives = self.nodes[p].state != RunState::Crashed
                && self.nodes[o].state != RunState::Crashed
                && !self.blocked(o, p)
                && self.rng.random_range(0..100u32) >= self.loss;
            if arrives {
                *last = self.now;
            }
            let mut now_up = self.now.saturating_sub(*last) < detect;
            if *up == Some(false) && now_up {
                // RFC 5880 §6.8.3: a session that is not Up sends at most
                // one packet a second, so it takes a second or so to come
                // back after a Down.
                let down_since = model.down_since.get(&(o, p)).copied().unwrap_or_default();
                now_up = self.now.saturating_sub(down_since) >= BFD_SLOW_START;
            }
            if *up != Some(now_up) && (now_up || up.is_some()) {
                *up = Some(now_up);
                reports.push((o, p, now_up));
            }
        }
        // A Down is signalled to the other end (State Down in its packets),
        // which goes Down with it: sessions are symmetric.
        for (o, p, up) in reports.clone() {
            if !up {
                model.down_since.insert((o, p), self.now);
                if let Some((_, their)) = model.sessions.get_mut(&(p, o)) {
                    if *their == Some(true) {
                        *their = Some(false);
                        model.down_since.insert((p, o), self.now);
                        reports.push((p, o, false));
                    }
                }
            }
        }
        let interval = model.interval;
        self.bfd = Some(model);
        for (o, p, up) in reports {
            if matches!(
                self.nodes[o].state,
                RunState::Paused { .. } | RunState::Crashed
            ) {
                // orbitd hears from its helper when it runs again; the
                // session state is re-read then (good enough here).
                continue;
            }
            let site = self.nodes[p].site.clone();
            let liveness = Some(if up {
                orbit_core::Liveness::Alive
            } else {
                orbit_core::Liveness::Dead
            });
            self.input(
                o,
                Input::Source {
                    source: orbit_detect::gossip::Source::Bfd,
                    site,
                    liveness,
                },
            );
        }
        self.schedule(interval, Job::BfdTick);
    }

    /// Reports the local health of `web` at member `i`, as its health
    /// checker would: to its own engine and to the others through gossip.
    pub fn health(&mut self, i: usize, healthy: bool) {
        let site = self.nodes[i].site.clone();
        let service: orbit_core::ServiceId = "web".parse().expect("service id");
        // As orbitd's health checker does: gossip first, so that the
        // engine's reaction is never published before its cause.
        self.input(
            i,
            Input::LocalHealth {
                service: service.clone(),
                healthy,
            },
        );
        self.feed(
            i,
            Event::Health {
                site,
                service,
                healthy,
            },
        );
    }

    fn input(&mut self, node: usize, input: Input) {
        let now = self.now;
        let out = self.nodes[node].core.process(now, input);
        self.apply(node, out);
    }

    /// Runs the simulation until `until`.
    pub fn run_until(&mut self, until: Duration) {
        while let Some(Reverse((at, seq))) = self.queue.peek().copied() {
            if at > until {
                break;
            }
            self.queue.pop();
            let job = self.jobs.remove(&seq).expect("job for queued seq");
            self.now = at;
            let target = match &job {
                Job::Deliver { to, .. } => Some(*to),
                Job::Timer { node, .. } => Some(*node),
                Job::PushPull { to, .. } => Some(*to),
                Job::PushPullFailed { node, .. } => Some(*node),
                Job::ProbeResult { node, .. } => Some(*node),
                Job::ProbeTick | Job::BfdTick => None,
            };
            if let Some(t) = target {
                match self.nodes[t].state {
                    RunState::Crashed => continue,
                    RunState::Paused { until: resume } if resume > at => {
                        // Frozen: handled on resume. Worst case for the
                        // member: every expired timer fires before it reads
                        // the packets that queued up meanwhile.
                        let when = match job {
                            Job::Deliver { .. } => resume + Duration::from_micros(1),
                            _ => resume,
                        };
                        self.queue.push(Reverse((when, seq)));
                        self.jobs.insert(seq, job);
                        continue;
                    }
                    RunState::Paused { .. } => self.nodes[t].state = RunState::Running,
                    RunState::Sluggish {
                        max_lag,
                        busy_until,
                    } => {
                        if !self.lagged.remove(&seq) {
                            let lag = Duration::from_micros(
                                self.rng.random_range(0..max_lag.as_micros() as u64 + 1),
                            );
                            let when = (at + lag).max(busy_until);
                            self.nodes[t].state = RunState::Sluggish {
                                max_lag,
                                busy_until: when,
                            };
                            self.lagged.insert(seq);
                            self.queue.push(Reverse((when, seq)));
                            self.jobs.insert(seq, job);
                            continue;
                        }
                    }
                    RunState::Running => {}
                }
            }
            match job {
                Job::Deliver { to, from, data } => self.input(to, Input::Packet { from, data }),
                Job::PushPull {
                    to,
                    from,
                    conn,
                    data,
                } => self.input(to, Input::PushPull { from, conn, data }),
                Job::PushPullFailed { node, to, life } => {
                    if life == self.nodes[node].restarts {
                        self.input(node, Input::PushPullFailed { to });
                    }
                }
                Job::Timer { node, timer, life } => {
                    if life == self.nodes[node].restarts {
                        self.input(node, Input::Timer(timer));
                    }
                }
                Job::ProbeTick => self.probe_tick(),
                Job::BfdTick => self.bfd_tick(),
                Job::ProbeResult { node, target, ok } => self.probe_result(node, target, ok),
            }
            self.watch_carriers();
        }
        self.now = until;
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    fn probe_tick(&mut self) {
        for i in 0..self.nodes.len() {
            if self.nodes[i].state != RunState::Running {
                continue;
            }
            let targets: Vec<usize> = self.nodes[i].probes.keys().copied().collect();
            for j in targets {
                let ok = self.probe_answers(i, j);
                self.probe_result(i, j, ok);
            }
            let now = millis(self.now);
            let n = &mut self.nodes[i];
            for d in n.engine.handle(now, Event::Tick) {
                n.decisions.push((self.now, d));
            }
            self.share(i);
        }
        let p = self.probe_interval;
        self.schedule(p, Job::ProbeTick);
    }

    /// An on-demand burst, as `dataplane.rs` runs it: `DATAPLANE_FALL`
    /// connects at once; each answers after a round trip, or fails at the
    /// burst timeout.
    fn burst(&mut self, node: usize, site: &SiteId) {
        let Some(target) = self.nodes.iter().position(|n| n.site == *site) else {
            return;
        };
        if !self.nodes[node].probes.contains_key(&target) {
            return;
        }
        for _ in 0..DATAPLANE_FALL {
            let ok = self.probe_answers(node, target);
            let after = if ok {
                Duration::from_micros(2000 + self.rng.random_range(0..2000u64))
            } else {
                self.burst_timeout
            };
            self.schedule(after, Job::ProbeResult { node, target, ok });
        }
    }

    /// Whether one probe from `i` to `j` gets its SYN-ACK.
    fn probe_answers(&mut self, i: usize, j: usize) -> bool {
        self.nodes[j].state != RunState::Crashed
            && !self.blocked(i, j)
            && self.rng.random_range(0..100u32) >= self.loss
            && self.rng.random_range(0..100u32) >= self.loss
    }

    fn probe_result(&mut self, i: usize, j: usize, ok: bool) {
        let changed = self.nodes[i].probes.get_mut(&j).and_then(|p| p.observe(ok));
        if let Some(reachable) = changed {
            let site = self.nodes[j].site.clone();
            self.input(i, Input::DataPlane { site, reachable });
        }
    }

    pub fn crash(&mut self, i: usize) {
        self.nodes[i].state = RunState::Crashed;
    }

    pub fn pause(&mut self, i: usize, d: Duration) {
        self.nodes[i].state = RunState::Paused {
            until: self.now + d,
        };
    }

    /// Makes member `i` CPU-starved: each input handled up to `max_lag` late.
    pub fn starve(&mut self, i: usize, max_lag: Duration) {
        self.nodes[i].state = RunState::Sluggish {
            max_lag,
            busy_until: self.now,
        };
    }

    pub fn cut(&mut self, a: usize, b: usize) {
        self.cut.insert((a.min(b), a.max(b)));
    }

    pub fn heal(&mut self) {
        self.cut.clear();
        let backlog = std::mem::take(&mut self.backlog);
        for ((_, to), queue) in backlog {
            for (i, (from, data)) in queue.into_iter().enumerate() {
                let after = Duration::from_micros(1000 + 10 * i as u64);
                self.schedule(after, Job::Deliver { to, from, data });
            }
        }
    }

    /// Cuts `a` off from every other member.
    pub fn isolate(&mut self, a: usize) {
        for b in 0..self.nodes.len() {
            if b != a {
                self.cut(a, b);
            }
        }
    }

    pub fn is_up(&self, i: usize) -> bool {
        self.nodes[i].state != RunState::Crashed
    }

    /// When node `observer`'s engine declared `site` dead at or after `since`.
    pub fn declared_dead_at(
        &self,
        observer: usize,
        site: usize,
        since: Duration,
    ) -> Option<Duration> {
        let s = &self.nodes[site].site;
        self.nodes[observer]
            .decisions
            .iter()
            .find(|(t, d)| {
                *t >= since
                    && matches!(&d.change, Change::SiteLiveness { site: x, dead: true } if x == s)
            })
            .map(|(t, _)| *t)
    }

    /// Every Dead declaration any engine made at or after `since`, as
    /// `(observer, dead site, time)`.
    pub fn dead_declarations(&self, since: Duration) -> Vec<(SiteId, SiteId, Duration)> {
        let mut v = Vec::new();
        for n in &self.nodes {
            for (t, d) in &n.decisions {
                if let Change::SiteLiveness { site, dead: true } = &d.change {
                    if *t >= since {
                        v.push((n.site.clone(), site.clone(), *t));
                    }
                }
            }
        }
        v
    }

    pub fn fenced(&self, i: usize) -> bool {
        self.nodes[i].engine.steering().fenced
    }

    pub fn witness(&self) -> Option<usize> {
        self.witness
    }

    /// Whether every running member's latest `Event::Peer` from every other
    /// running member is that member's current shared state.
    pub fn states_converged(&self) -> bool {
        self.unsynced().is_empty()
    }

    /// `(observer, origin)` pairs whose last `Event::Peer` is not the
    /// origin's current shared state.
    pub fn unsynced(&self) -> Vec<(usize, usize)> {
        let mut v = Vec::new();
        for (i, n) in self.nodes.iter().enumerate() {
            for (j, m) in self.nodes.iter().enumerate() {
                if i == j || !self.is_up(i) || !self.is_up(j) {
                    continue;
                }
                let truth = m.gossiped.as_ref();
                if truth.is_none() || n.last_peer.get(&m.site).map(|(_, s)| s) != truth {
                    v.push((i, j));
                }
            }
        }
        v
    }

    /// Runs in steps of `step` until the states converged, at most `max`;
    /// how long it took.
    pub fn run_until_converged(&mut self, step: Duration, max: Duration) -> Option<Duration> {
        let start = self.now;
        while self.now - start < max {
            if self.states_converged() {
                return Some(self.now - start);
            }
            self.run_for(step);
        }
        self.states_converged().then(|| self.now - start)
    }
}

impl Sim {
    /// Feeds an event to member `i`'s engine now (e.g. `Event::Departing`,
    /// what orbitd does on SIGTERM) and gossips its shared state.
    pub fn engine_event(&mut self, i: usize, event: Event) {
        self.feed(i, event);
    }

    /// Feeds an input to member `i` now (operator command, local health).
    pub fn give(&mut self, i: usize, input: Input) -> Vec<Output> {
        let now = self.now;
        let out = self.nodes[i].core.process(now, input);
        self.apply(i, out.clone());
        out
    }
}
