//! Property tests: many engines (one per member: 2 to 5 carrying sites, with
//! or without a witness, services with rotated priority lists and one naming
//! only a subset of the sites) driven by random failures,
//! partitions, health changes, operator commands and time, with gossip
//! modelled as relaying verdicts, health and placement tables within each
//! connected group of live members.
//!
//! Invariants:
//! 1. No engine with authority (not fenced, synced) ever steers a service to a
//!    site it has declared dead; an engine without authority claims nothing.
//! 2. Once the view has settled (a quiet period with the world unchanged), at
//!    most one live site holds the Active role for each service.
//! 3. After everything heals and the hold-downs pass, every engine agrees and
//!    the highest-priority healthy site carries each service.
//! 4. Each engine has a twin that re-evaluates every service on every event
//!    (`Engine::set_incremental(false)`) and is fed the same events: their
//!    decisions, steering, shared state and next deadline are always equal,
//!    so evaluating only the service an event names changes nothing.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

mod common;

use std::collections::{BTreeMap, BTreeSet};

use orbit_core::{
    Command, Engine, Event, Liveness, Millis, Order, Role, ServiceId, SharedState, SiteId,
};
use proptest::prelude::*;

const STEP_MS: u64 = 250;
const FAILBACK_AFTER_MS: u64 = 10_000;
const SYNC_MS: u64 = 2_000;

#[derive(Debug, Clone)]
enum Op {
    Kill(usize),
    Revive(usize),
    Cut(usize, usize),
    Heal(usize, usize),
    Health(usize, usize, bool),
    Wait(u64),
    Command { at: usize, command: CommandSpec },
}

#[derive(Debug, Clone)]
enum CommandSpec {
    Switchover(Option<usize>, usize),
    Drain(usize),
    Failback(Option<usize>),
    Pin(usize, usize),
    Unpin(usize),
}

struct World {
    members: Vec<SiteId>,
    /// The site of each member (itself, but for the two routers of site a
    /// in [`World::two_routers`]).
    site_of: Vec<SiteId>,
    /// Indices of members that carry services (not the witness).
    sites: Vec<usize>,
    services: Vec<(ServiceId, Vec<usize>)>,
    config_text: Vec<String>,
    engines: Vec<Option<Engine>>,
    /// Per engine, its twin that always evaluates every service.
    full: Vec<Option<Engine>>,
    cut: BTreeSet<(usize, usize)>,
    healthy: BTreeMap<(usize, usize), bool>,
    hold_ms: u64,
    now: u64,
    /// What each engine last heard, so gossip only carries changes (as the
    /// real gossip does); cleared when the engine restarts.
    heard: Vec<BTreeMap<String, Event>>,
    /// Each engine's state file: its shared state when it last changed.
    saved: Vec<Option<(SharedState, u64)>>,
}

fn config_for(
    local: &str,
    members: &[SiteId],
    site_of: &[SiteId],
    witness: &str,
    hold_ms: u64,
    services: &str,
) -> String {
    let mut text = format!(
        "[node]\nsite = \"{local}\"\nrole = \"{}\"\n",
        if local == witness { "witness" } else { "site" }
    );
    for (i, m) in members.iter().enumerate() {
        text.push_str(&format!(
            "[[site]]\nid = \"{m}\"\ngossip = \"10.0.{i}.1:7946\"\nwitness = {}\n",
            m.as_str() == witness
        ));
        if site_of[i] != *m {
            text.push_str(&format!("site = \"{}\"\n", site_of[i]));
        }
    }
    text.push_str("[detect]\nkey_file = \"/etc/orbit/gossip.key\"\n");
    text.push_str(&format!(
        "[policy]\nfailover_hold = \"{hold_ms}ms\"\nfailback = \"after\"\nfailback_after = \"{FAILBACK_AFTER_MS}ms\"\n\
         drain_grace = \"1s\"\nsync_timeout = \"{SYNC_MS}ms\"\n"
    ));
    text.push_str(services);
    text
}

/// The cluster a case runs on: 2 to 5 carrying sites, a witness or not, and
/// a priority list per service over them.
#[derive(Debug, Clone)]
struct Shape {
    sites: usize,
    witness: bool,
    /// One list per service: each site first for one service (rotations),
    /// then one list naming an ordered subset of the sites.
    lists: Vec<Vec<usize>>,
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        2usize..=5,
        any::<bool>(),
        Just((0..5usize).collect::<Vec<_>>()).prop_shuffle(),
        1usize..=5,
    )
        .prop_map(|(sites, witness, order, len)| {
            let mut lists: Vec<Vec<usize>> = (0..sites)
                .map(|first| (0..sites).map(|k| (first + k) % sites).collect())
                .collect();
            let subset: Vec<usize> = order.into_iter().filter(|i| *i < sites).take(len).collect();
            lists.push(subset);
            Shape {
                sites,
                // Two members alone fence on any failure (check-config asks
                // for a witness): two sites always get one.
                witness: witness || sites == 2,
                lists,
            }
        })
}

impl World {
    fn new(shape: &Shape, hold_ms: u64) -> World {
        let mut names: Vec<&str> = ["a", "b", "c", "d", "e"][..shape.sites].to_vec();
        if shape.witness {
            names.push("w");
        }
        let members: Vec<SiteId> = names.iter().map(|n| n.parse().expect("id")).collect();
        let services: Vec<(ServiceId, Vec<usize>)> = shape
            .lists
            .iter()
            .enumerate()
            .map(|(k, order)| (format!("svc{k}").parse().expect("id"), order.clone()))
            .collect();
        World::build(members.clone(), members, services, hold_ms)
    }

    /// Site a with two routers (members a1 and a2), b with one, witness w;
    /// `web` prefers a, `db` b.
    fn two_routers(hold_ms: u64) -> World {
        let id = |n: &str| -> SiteId { n.parse().expect("id") };
        let service = |n: &str, order: Vec<usize>| (n.parse().expect("id"), order);
        World::build(
            vec![id("a1"), id("a2"), id("b"), id("w")],
            vec![id("a"), id("a"), id("b"), id("w")],
            vec![service("web", vec![0, 2]), service("db", vec![2, 0])],
            hold_ms,
        )
    }

    /// Members with their sites, the last one the witness `w` if there is
    /// one (`site_of` says a site of its own); each service's list names
    /// one member per site, in order.
    fn build(
        members: Vec<SiteId>,
        site_of: Vec<SiteId>,
        services: Vec<(ServiceId, Vec<usize>)>,
        hold_ms: u64,
    ) -> World {
        let sites: Vec<usize> = (0..members.len())
            .filter(|&i| site_of[i].as_str() != "w")
            .collect();
        let list = |idx: &[usize]| {
            idx.iter()
                .map(|i| format!("\"{}\"", site_of[*i]))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let services_toml: String = services
            .iter()
            .enumerate()
            .map(|(k, (id, order))| {
                format!(
                    "[[service]]\nid = \"{id}\"\nprefixes = [\"198.51.100.{}/32\"]\nsites = [{}]\n\
                     health = {{ tcp = \"198.51.100.{}:80\" }}\n",
                    10 + k,
                    list(order),
                    10 + k
                )
            })
            .collect();
        let config_text: Vec<String> = members
            .iter()
            .map(|m| config_for(m.as_str(), &members, &site_of, "w", hold_ms, &services_toml))
            .collect();
        let mut world = World {
            services,
            engines: vec![None; members.len()],
            full: vec![None; members.len()],
            members,
            site_of,
            sites,
            config_text,
            cut: BTreeSet::new(),
            healthy: BTreeMap::new(),
            hold_ms,
            now: 0,
            heard: Vec::new(),
            saved: Vec::new(),
        };
        world.saved = vec![None; world.members.len()];
        world.heard = vec![BTreeMap::new(); world.members.len()];
        for i in 0..world.members.len() {
            world.start(i);
        }
        for &s in &world.sites {
            for svc in 0..world.services.len() {
                world.healthy.insert((s, svc), true);
            }
        }
        world
    }

    fn start(&mut self, i: usize) {
        let mut engine = common::engine(&self.config_text[i]);
        // A restarted daemon restores its state file: what it shared last.
        if let Some((saved, generation)) = &self.saved[i] {
            engine.restore(saved, *generation);
        }
        let mut full = engine.clone();
        full.set_incremental(false);
        self.engines[i] = Some(engine);
        self.full[i] = Some(full);
        if let Some(heard) = self.heard.get_mut(i) {
            heard.clear();
        }
    }

    fn alive(&self, i: usize) -> bool {
        self.engines[i].is_some()
    }

    fn linked(&self, x: usize, y: usize) -> bool {
        x == y || (self.alive(x) && self.alive(y) && !self.cut.contains(&(x.min(y), x.max(y))))
    }

    /// Members reachable from `x` over live, uncut links (gossip relays).
    fn component(&self, x: usize) -> BTreeSet<usize> {
        let mut seen = BTreeSet::from([x]);
        let mut todo = vec![x];
        while let Some(n) = todo.pop() {
            for m in 0..self.members.len() {
                if !seen.contains(&m) && self.linked(n, m) {
                    seen.insert(m);
                    todo.push(m);
                }
            }
        }
        seen
    }

    /// Delivers `event` unless `to` already heard exactly this under `key`.
    fn gossip_to(&mut self, to: usize, key: String, event: Event) {
        if self.heard[to].get(&key) == Some(&event) {
            return;
        }
        self.heard[to].insert(key, event.clone());
        self.deliver(to, event);
    }

    fn deliver(&mut self, to: usize, event: Event) {
        self.handle(to, Millis(self.now), event);
    }

    /// Engine `i` and its full-evaluation twin handle `event`, and must
    /// agree on everything.
    fn handle(&mut self, i: usize, now: Millis, event: Event) {
        let (Some(engine), Some(full)) = (self.engines[i].as_mut(), self.full[i].as_mut()) else {
            return;
        };
        let got = engine.handle(now, event.clone());
        let want = full.handle(now, event.clone());
        let ctx = format!("engine {} at {now:?} after {event:?}", self.members[i]);
        assert_eq!(got, want, "{ctx}: decisions");
        assert_eq!(engine.steering(), full.steering(), "{ctx}: steering");
        assert_eq!(
            engine.shared_state(),
            full.shared_state(),
            "{ctx}: shared state"
        );
        assert_eq!(
            engine.next_deadline(),
            full.next_deadline(),
            "{ctx}: next deadline"
        );
    }

    /// One gossip round at the current time.
    fn gossip(&mut self) {
        let n = self.members.len();
        for to in 0..n {
            if !self.alive(to) {
                continue;
            }
            let group = self.component(to);
            for &observer in &group {
                for subject in 0..n {
                    if subject == observer {
                        continue;
                    }
                    let liveness = if self.linked(observer, subject) && self.alive(subject) {
                        Liveness::Alive
                    } else {
                        Liveness::Dead
                    };
                    let event = Event::Verdict {
                        observer: self.members[observer].clone(),
                        subject: self.members[subject].clone(),
                        liveness,
                    };
                    self.gossip_to(to, format!("v{observer}-{subject}"), event);
                }
                if self.sites.contains(&observer) {
                    // A site checks only the services it may carry.
                    for svc in 0..self.services.len() {
                        let site = &self.site_of[observer];
                        if !self.services[svc]
                            .1
                            .iter()
                            .any(|&j| &self.site_of[j] == site)
                        {
                            continue;
                        }
                        let event = Event::Health {
                            site: self.members[observer].clone(),
                            service: self.services[svc].0.clone(),
                            healthy: self.healthy[&(observer, svc)],
                        };
                        self.gossip_to(to, format!("h{observer}-{svc}"), event);
                    }
                }
            }
            for &from in &group {
                if from == to {
                    continue;
                }
                let Some(sender) = self.engines[from].as_ref() else {
                    continue;
                };
                let event = Event::Peer {
                    from: self.members[from].clone(),
                    state: sender.shared_state(),
                };
                self.gossip_to(to, format!("p{from}"), event);
            }
        }
    }

    fn advance(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            let next = (self.now + STEP_MS).min(end);
            for i in 0..self.members.len() {
                while let Some(d) = self.engines[i]
                    .as_ref()
                    .and_then(Engine::next_deadline)
                    .filter(|d| d.0 <= next)
                {
                    self.handle(i, d, Event::Tick);
                }
            }
            self.now = next;
            self.gossip();
            self.check_local_safety();
            for (i, engine) in self.engines.iter().enumerate() {
                if let Some(engine) = engine {
                    self.saved[i] = Some((engine.shared_state(), engine.steering().generation));
                }
            }
        }
    }

    fn command(&mut self, at: usize, spec: &CommandSpec) {
        let site = |w: &World, i: usize| w.site_of[w.sites[i % w.sites.len()]].clone();
        let service = |w: &World, i: usize| w.services[i % w.services.len()].0.clone();
        let command = match spec {
            CommandSpec::Switchover(svc, to) => Command::Switchover {
                service: svc.map(|s| service(self, s)),
                to: site(self, *to),
            },
            CommandSpec::Drain(s) => Command::Drain {
                site: site(self, *s),
            },
            CommandSpec::Failback(s) => Command::Failback {
                site: s.map(|s| site(self, s)),
            },
            CommandSpec::Pin(svc, s) => Command::Pin {
                service: service(self, *svc),
                site: site(self, *s),
            },
            CommandSpec::Unpin(svc) => Command::Unpin {
                service: service(self, *svc),
            },
        };
        let at = at % self.members.len();
        if !self.alive(at) {
            return;
        }
        // The operator talks to one daemon; gossip spreads the outcome.
        self.deliver(
            at,
            Event::Command {
                order: Order::new(command),
            },
        );
    }

    fn apply(&mut self, op: &Op) {
        let n = self.members.len();
        match op {
            Op::Kill(i) => {
                self.engines[i % n] = None;
                self.full[i % n] = None;
            }
            Op::Revive(i) => {
                if !self.alive(i % n) {
                    self.start(i % n);
                }
            }
            Op::Cut(x, y) | Op::Heal(x, y) => {
                let (x, y) = (x % n, y % n);
                if x != y {
                    let key = (x.min(y), x.max(y));
                    if matches!(op, Op::Cut(..)) {
                        self.cut.insert(key);
                    } else {
                        self.cut.remove(&key);
                    }
                }
            }
            Op::Health(s, svc, h) => {
                let key = (self.sites[s % self.sites.len()], svc % self.services.len());
                self.healthy.insert(key, *h);
            }
            Op::Wait(_) => {}
            Op::Command { at, command } => self.command(*at, command),
        }
        let wait = if let Op::Wait(ms) = op { *ms } else { 0 };
        self.advance(wait.max(1));
    }

    fn check_local_safety(&self) {
        for (i, engine) in self.engines.iter().enumerate() {
            let Some(engine) = engine else { continue };
            let status = engine.status();
            if engine.steering().fenced {
                // No authority: placement frozen; it must claim nothing.
                assert!(
                    status.services.iter().all(|s| s.local_role != Role::Active),
                    "t={} engine {} claims a service without authority",
                    self.now,
                    self.members[i]
                );
                continue;
            }
            // Sites declared dead: for a site of several members, every
            // member gone (`site_dead`).
            let dead: BTreeSet<&SiteId> = status
                .sites
                .iter()
                .filter(|s| s.site_dead.unwrap_or(s.dead))
                .map(|s| s.site.as_ref().unwrap_or(&s.id))
                .collect();
            for svc in &status.services {
                if let Some(active) = &svc.active {
                    assert!(
                        !dead.contains(active),
                        "t={} engine {}: {} steered to {active}, which it declared dead",
                        self.now,
                        self.members[i],
                        svc.id
                    );
                }
                if svc.local_role == Role::Active {
                    assert!(
                        !status.fenced,
                        "engine {} active while fenced",
                        self.members[i]
                    );
                    assert_eq!(svc.active.as_ref(), Some(&self.site_of[i]));
                }
            }
        }
    }

    /// Sites holding the Active role per service (a site once, however
    /// many of its members are Active).
    fn active_holders(&self) -> BTreeMap<ServiceId, Vec<SiteId>> {
        let mut out: BTreeMap<ServiceId, Vec<SiteId>> = BTreeMap::new();
        for (i, engine) in self.engines.iter().enumerate() {
            let Some(engine) = engine else { continue };
            for (svc, s) in &engine.steering().services {
                let entry = out.entry(svc.clone()).or_default();
                if s.local_role == Role::Active && !entry.contains(&self.site_of[i]) {
                    entry.push(self.site_of[i].clone());
                }
            }
        }
        out
    }

    fn settle_time(&self) -> u64 {
        self.hold_ms + SYNC_MS + 4 * STEP_MS
    }

    fn check_single_active(&self, context: &str) {
        for (svc, holders) in self.active_holders() {
            assert!(
                holders.len() <= 1,
                "{context}: t={} {svc} is active at {holders:?} at once (cut {:?})",
                self.now,
                self.cut
            );
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    // Indices wrap around the members, sites and services of the case.
    let idx = 0usize..6;
    prop_oneof![
        2 => idx.clone().prop_map(Op::Kill),
        2 => idx.clone().prop_map(Op::Revive),
        2 => (idx.clone(), idx.clone()).prop_map(|(a, b)| Op::Cut(a, b)),
        2 => (idx.clone(), idx.clone()).prop_map(|(a, b)| Op::Heal(a, b)),
        2 => (idx.clone(), 0usize..6, any::<bool>()).prop_map(|(s, v, h)| Op::Health(s, v, h)),
        4 => (0u64..8_000).prop_map(Op::Wait),
        2 => (idx.clone(), command()).prop_map(|(at, command)| Op::Command { at, command }),
    ]
}

fn command() -> impl Strategy<Value = CommandSpec> {
    let idx = 0usize..5;
    prop_oneof![
        (proptest::option::of(0usize..6), idx.clone())
            .prop_map(|(s, t)| CommandSpec::Switchover(s, t)),
        idx.clone().prop_map(CommandSpec::Drain),
        proptest::option::of(idx.clone()).prop_map(CommandSpec::Failback),
        (0usize..6, idx.clone()).prop_map(|(s, t)| CommandSpec::Pin(s, t)),
        (0usize..6).prop_map(CommandSpec::Unpin),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn engines_never_split_brain_and_converge(
        shape in shape(),
        hold_ms in prop_oneof![Just(0u64), Just(500), Just(1500)],
        ops in proptest::collection::vec(op(), 1..30),
    ) {
        let mut world = World::new(&shape, hold_ms);
        world.advance(world.settle_time());
        world.check_single_active("after start");
        for op in &ops {
            world.apply(op);
            if let Op::Wait(ms) = op {
                if *ms >= world.settle_time() {
                    world.check_single_active(&format!("after {op:?}"));
                }
            }
        }
        world.advance(world.settle_time());
        world.check_single_active("after the last op settled");

        // Heal everything and check that the priority order wins again.
        world.cut.clear();
        for i in 0..world.members.len() {
            world.apply(&Op::Revive(i));
        }
        for key in world.healthy.clone().keys() {
            world.healthy.insert(*key, true);
        }
        world.advance(world.settle_time());
        for svc in 0..world.services.len() {
            world.apply(&Op::Command { at: 0, command: CommandSpec::Unpin(svc) });
        }
        world.apply(&Op::Command { at: 0, command: CommandSpec::Failback(None) });
        world.advance(FAILBACK_AFTER_MS + world.settle_time());
        world.check_single_active("after healing");
        for (svc, order) in world.services.clone() {
            let want = world.site_of[order[0]].clone();
            for (i, engine) in world.engines.iter().enumerate() {
                let engine = engine.as_ref().expect("all revived");
                let s = &engine.steering().services[&svc];
                prop_assert_eq!(
                    s.active.as_ref(), Some(&want),
                    "engine {} places {} at {:?}, not at its first priority {}",
                    world.members[i], svc, s.active, want
                );
                let listed = order.iter().any(|&j| world.site_of[j] == world.site_of[i]);
                let role = if world.site_of[i] == want { Role::Active } else if listed { Role::Standby } else { Role::Withdrawn };
                prop_assert_eq!(s.local_role, role, "engine {} role for {}", world.members[i], svc);
            }
        }
    }
}

/// What may happen to site a's two routers without site a failing: one of
/// them stops or restarts, or its own check of `web` fails, while the other
/// is up and passes every check.
#[derive(Debug, Clone)]
enum RouterOp {
    Kill(usize),
    Revive(usize),
    WebHealth(usize, bool),
    Wait(u64),
}

fn router_op() -> impl Strategy<Value = RouterOp> {
    prop_oneof![
        2 => (0usize..2).prop_map(RouterOp::Kill),
        2 => (0usize..2).prop_map(RouterOp::Revive),
        2 => (0usize..2, any::<bool>()).prop_map(|(m, h)| RouterOp::WebHealth(m, h)),
        3 => (0u64..6_000).prop_map(RouterOp::Wait),
    ]
}

impl World {
    /// Whether router `m` of site a is up and passes every check.
    fn router_sound(&self, m: usize) -> bool {
        self.alive(m) && (0..self.services.len()).all(|svc| self.healthy[&(m, svc)])
    }

    /// Applies `op` unless it would leave site a without a sound router.
    fn apply_router_op(&mut self, op: &RouterOp) {
        let other = |m: usize| 1 - m;
        match *op {
            RouterOp::Kill(m) if self.router_sound(other(m)) => self.apply(&Op::Kill(m)),
            RouterOp::Revive(m) => self.apply(&Op::Revive(m)),
            RouterOp::WebHealth(m, false) if self.router_sound(other(m)) => {
                self.apply(&Op::Health(m, 0, false));
            }
            RouterOp::WebHealth(m, true) => self.apply(&Op::Health(m, 0, true)),
            RouterOp::Wait(ms) => self.apply(&Op::Wait(ms)),
            _ => self.apply(&Op::Wait(1)),
        }
    }

    /// Every engine with authority places web at a and db at b at the
    /// epoch they started with: nothing ever moved, not even for a while.
    fn check_nothing_moved(&self, context: &str) {
        let a: SiteId = "a".parse().expect("id");
        let b: SiteId = "b".parse().expect("id");
        for (i, engine) in self.engines.iter().enumerate() {
            let Some(engine) = engine else { continue };
            let steering = engine.steering();
            if steering.fenced {
                continue;
            }
            for (svc, want) in [("web", &a), ("db", &b)] {
                let s = &steering.services[&svc.parse::<ServiceId>().expect("id")];
                assert_eq!(
                    (s.active.as_ref(), s.epoch),
                    (Some(want), 1),
                    "{context}: t={} engine {} moved {svc}",
                    self.now,
                    self.members[i]
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// Site a has two routers. Whatever happens to one of them (stop,
    /// restart, its own check failing) while the other is sound, no engine
    /// ever moves a service; every sound router of a is Active for web and
    /// one whose own check fails is not. Losing both then fails a's
    /// services over to b.
    #[test]
    fn losing_one_of_two_routers_never_moves_anything_and_losing_both_does(
        hold_ms in prop_oneof![Just(0u64), Just(500), Just(1500)],
        ops in proptest::collection::vec(router_op(), 1..25),
    ) {
        let mut world = World::two_routers(hold_ms);
        world.advance(world.settle_time());
        world.check_single_active("after start");
        world.check_nothing_moved("after start");
        for op in &ops {
            world.apply_router_op(op);
            world.check_nothing_moved(&format!("after {op:?}"));
        }
        world.advance(world.settle_time());
        world.check_nothing_moved("after the last op settled");
        world.check_single_active("after the last op settled");
        let web: ServiceId = "web".parse().expect("id");
        for m in 0..2 {
            let Some(engine) = world.engines[m].as_ref() else { continue };
            let want = if world.healthy[&(m, 0)] { Role::Active } else { Role::Withdrawn };
            prop_assert_eq!(
                engine.steering().services[&web].local_role, want,
                "router {} of site a (web healthy there: {})", world.members[m], world.healthy[&(m, 0)]
            );
        }

        // Both routers of a go: a is dead, b takes everything over.
        world.apply(&Op::Kill(0));
        world.apply(&Op::Kill(1));
        world.advance(world.settle_time());
        let b: SiteId = "b".parse().expect("id");
        for i in 2..4 {
            let engine = world.engines[i].as_ref().expect("b and w stay up");
            let s = &engine.steering().services[&web];
            prop_assert_eq!(s.active.as_ref(), Some(&b), "engine {} places web", world.members[i]);
        }
        let at_b = &world.engines[2].as_ref().expect("b").steering().services[&web];
        prop_assert_eq!(at_b.local_role, Role::Active);
        prop_assert!(at_b.takeover, "b takes over while a is declared dead");
    }
}
