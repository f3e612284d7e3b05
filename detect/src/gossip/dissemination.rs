//! Dissemination of origin state (`wire.rs`): our own verdicts, service
//! health and engine state go to every peer at once when they change, news
//! about other origins is relayed to a few peers, and a periodic
//! anti-entropy round covers lost packets. What arrives becomes
//! `orbit_core::Event`s, each change once.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use orbit_core::{Event, Liveness, ServiceId, SharedState, SiteId};

use super::core::Output;
use super::status::Counters;
use crate::auth::{AuthKey, PacketKind};
use crate::wire::{OriginState, RetiredCommands, StateMsg, STATE_VERSION};

/// Peers per periodic anti-entropy push.
const PUSH_FANOUT: usize = 4;

/// How many more times our own state goes to every peer after one of our
/// verdicts changed: a Dead verdict is what the survivors' quorum waits
/// for, and one lost datagram must not make it wait for the next
/// anti-entropy round (a probe interval).
const VERDICT_REPEATS: u8 = 2;

/// Where a batch of state packets goes: sealed with `key`, counted in
/// `counters`, written to `out`.
pub(super) struct Sink<'a> {
    pub key: &'a AuthKey,
    pub counters: &'a mut Counters,
    pub out: &'a mut Vec<Output>,
}

pub(super) struct Dissemination {
    local: SiteId,
    peers: Vec<(SiteId, SocketAddr)>,
    own: OriginState,
    /// The newest publication of every other origin.
    remote: BTreeMap<SiteId, OriginState>,
    emitted_verdicts: BTreeMap<(SiteId, SiteId), Liveness>,
    emitted_health: BTreeMap<(SiteId, ServiceId), bool>,
    /// Our own state changed since it was last sent.
    dirty: bool,
    /// Origins with fresh news to pass on.
    relay: BTreeSet<SiteId>,
    push_cursor: usize,
    /// Repeats of our own state still due after a verdict changed.
    repeats: u8,
    /// A verdict changed since the core last asked ([`Self::take_repeat`]).
    repeat_requested: bool,
}

impl Dissemination {
    pub fn new(local: SiteId, generation: u64, peers: Vec<(SiteId, SocketAddr)>) -> Self {
        let own = OriginState {
            site: local.clone(),
            generation,
            seq: 0,
            verdicts: Vec::new(),
            health: Vec::new(),
            commands: RetiredCommands,
            shared: None,
        };
        Dissemination {
            local,
            peers,
            own,
            remote: BTreeMap::new(),
            emitted_verdicts: BTreeMap::new(),
            emitted_health: BTreeMap::new(),
            dirty: false,
            relay: BTreeSet::new(),
            push_cursor: 0,
            repeats: 0,
            repeat_requested: false,
        }
    }

    /// Sends our own state to every peer with the next flush.
    pub fn announce_own(&mut self) {
        self.dirty = true;
    }

    pub fn set_health(&mut self, service: ServiceId, healthy: bool) {
        let entry = self.own.health.iter_mut().find(|(s, _)| *s == service);
        match entry {
            Some((_, h)) if *h == healthy => {}
            Some((_, h)) => {
                *h = healthy;
                self.bump_own();
            }
            None => {
                self.own.health.push((service, healthy));
                self.bump_own();
            }
        }
    }

    pub fn set_shared(&mut self, state: SharedState) {
        if self.own.shared.as_ref() != Some(&state) {
            self.own.shared = Some(state);
            self.bump_own();
        }
    }

    /// Publishes our verdicts; each one that changed becomes an
    /// `Event::Verdict` of ours.
    pub fn set_verdicts(&mut self, verdicts: Vec<(SiteId, Liveness)>, out: &mut Vec<Output>) {
        if verdicts == self.own.verdicts {
            return;
        }
        for (site, l) in &verdicts {
            let old = self
                .own
                .verdicts
                .iter()
                .find(|(s, _)| s == site)
                .map(|x| x.1);
            if old != Some(*l) {
                out.push(Output::Event(Event::Verdict {
                    observer: self.local.clone(),
                    subject: site.clone(),
                    liveness: *l,
                }));
            }
        }
        self.own.verdicts = verdicts;
        self.bump_own();
        self.repeats = VERDICT_REPEATS;
        self.repeat_requested = true;
    }

    /// Whether a verdict changed since the last call: the core then
    /// schedules [`Self::repeat_own`].
    pub fn take_repeat(&mut self) -> bool {
        std::mem::take(&mut self.repeat_requested)
    }

    /// Sends our own state to every peer again if repeats are due; whether
    /// more are due after this one.
    pub fn repeat_own(&mut self, sink: Sink<'_>) -> bool {
        if self.repeats == 0 {
            return false;
        }
        self.repeats -= 1;
        let Sink { key, counters, out } = sink;
        let data = self.packet(key, std::slice::from_ref(&self.own));
        let all = 0..self.peers.len();
        self.send_to(all, &data, counters, out);
        self.repeats > 0
    }

    /// Whether `site`'s latest published state says it is leaving.
    pub fn leaving(&self, site: &SiteId) -> bool {
        self.remote
            .get(site)
            .and_then(|o| o.shared.as_ref())
            .is_some_and(|s| s.leaving)
    }

    /// The newest publication of every other origin.
    pub fn remote(&self) -> impl Iterator<Item = &OriginState> {
        self.remote.values()
    }

    /// Takes in a state message: every origin newer than what we hold
    /// replaces it, emits what changed and is relayed.
    pub fn merge(&mut self, msg: StateMsg, out: &mut Vec<Output>) {
        for origin in msg.origins {
            if origin.site == self.local {
                continue;
            }
            if !self.peers.iter().any(|(s, _)| *s == origin.site) {
                tracing::debug!(site = %origin.site, "state of a non-member ignored");
                continue;
            }
            if let Some(known) = self.remote.get(&origin.site) {
                if !origin.newer_than(known) {
                    continue;
                }
            }
            self.emit_origin(&origin, out);
            self.relay.insert(origin.site.clone());
            self.remote.insert(origin.site.clone(), origin);
        }
    }

    /// Sends what changed during one input: our own state to every peer at
    /// once, fresh news about other origins to a few peers, so it reaches
    /// members that cannot hear the origin directly.
    pub fn flush(&mut self, sink: Sink<'_>) {
        let Sink { key, counters, out } = sink;
        if self.dirty {
            self.dirty = false;
            let data = self.packet(key, std::slice::from_ref(&self.own));
            self.send_to_peers(&data, self.peers.len(), counters, out);
        }
        if !self.relay.is_empty() {
            let fresh: Vec<OriginState> = std::mem::take(&mut self.relay)
                .iter()
                .filter_map(|site| self.remote.get(site).cloned())
                .collect();
            let data = self.packet(key, &fresh);
            self.send_to_peers(&data, PUSH_FANOUT, counters, out);
        }
    }

    /// Anti-entropy: the whole table to a few peers, and our own state to
    /// every other one: each member must hear from every other several times
    /// per `fence_after`, however large the cluster, or silence would fence
    /// it (SWIM alone reaches a given peer only every few probe intervals
    /// once there are more than a handful of members).
    pub fn push_round(&mut self, sink: Sink<'_>) {
        let Sink { key, counters, out } = sink;
        let mut all = Vec::with_capacity(self.remote.len() + 1);
        all.push(self.own.clone());
        all.extend(self.remote.values().cloned());
        let table = self.packet(key, &all);
        let full = self.next_peers(PUSH_FANOUT);
        self.send_to(full.iter().copied(), &table, counters, out);
        let rest: Vec<usize> = (0..self.peers.len())
            .filter(|i| !full.contains(i))
            .collect();
        if !rest.is_empty() {
            let own = self.packet(key, std::slice::from_ref(&self.own));
            self.send_to(rest, &own, counters, out);
        }
    }

    fn bump_own(&mut self) {
        self.own.seq += 1;
        self.dirty = true;
    }

    fn packet(&self, key: &AuthKey, origins: &[OriginState]) -> Vec<u8> {
        let msg = StateMsg {
            version: STATE_VERSION,
            sender: self.local.clone(),
            origins: origins.to_vec(),
        };
        key.seal(PacketKind::State, &msg.encode())
    }

    /// The next `count` peers, round robin (all of them if `count` is at
    /// least the number of peers), as indices into `peers`.
    fn next_peers(&mut self, count: usize) -> Vec<usize> {
        let peers = self.peers.len();
        if count >= peers {
            return (0..peers).collect();
        }
        (0..count)
            .map(|_| {
                let i = self.push_cursor % peers;
                self.push_cursor = self.push_cursor.wrapping_add(1);
                i
            })
            .collect()
    }

    fn send_to(
        &self,
        peers: impl IntoIterator<Item = usize>,
        data: &[u8],
        counters: &mut Counters,
        out: &mut Vec<Output>,
    ) {
        for i in peers {
            counters.packets_out += 1;
            out.push(Output::Send {
                to: self.peers[i].1,
                data: data.to_vec(),
            });
        }
    }

    /// Sends `data` to `count` peers, round robin.
    fn send_to_peers(
        &mut self,
        data: &[u8],
        count: usize,
        counters: &mut Counters,
        out: &mut Vec<Output>,
    ) {
        let targets = self.next_peers(count);
        self.send_to(targets, data, counters, out);
    }

    fn emit_origin(&mut self, origin: &OriginState, out: &mut Vec<Output>) {
        for (subject, l) in &origin.verdicts {
            let key = (origin.site.clone(), subject.clone());
            if is_news(&mut self.emitted_verdicts, key, *l) {
                out.push(Output::Event(Event::Verdict {
                    observer: origin.site.clone(),
                    subject: subject.clone(),
                    liveness: *l,
                }));
            }
        }
        for (service, healthy) in &origin.health {
            let key = (origin.site.clone(), service.clone());
            if is_news(&mut self.emitted_health, key, *healthy) {
                out.push(Output::Event(Event::Health {
                    site: origin.site.clone(),
                    service: service.clone(),
                    healthy: *healthy,
                }));
            }
        }
        if let Some(shared) = &origin.shared {
            // Every newer publication, changed or not: it shows the origin's
            // placements as of now, which is what an engine that was fenced
            // waits for before it claims anything again.
            out.push(Output::Event(Event::Peer {
                from: origin.site.clone(),
                state: shared.clone(),
            }));
        }
    }
}

/// Records `value` as the last one emitted for `key`; whether it differs
/// from the one before (each change becomes one event).
fn is_news<K: Ord, V: PartialEq + Copy>(emitted: &mut BTreeMap<K, V>, key: K, value: V) -> bool {
    emitted.insert(key, value) != Some(value)
}
