//! Dissemination of origin state: our own as deltas to every peer at once
//! when it changes, news about other origins relayed to a few peers, a
//! digest to every peer each probe interval (anti-entropy and heartbeat),
//! the missing deltas to a peer whose digest shows it behind, and a TCP
//! push-pull of whole tables when deltas cannot fill the gap. What arrives
//! becomes `orbit_core::Event`s, each change once (`remote.rs`).
//!
//! Members that read only v1 (`wire.rs`; they never said they read deltas)
//! get what they got before: whole origin states in one datagram, as long
//! as they fit one (see docs/detect.md, "Rolling upgrade").

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use orbit_core::{Liveness, ServiceId, SharedState, SiteId};

use super::core::Output;
use super::remote::{Remotes, Taken};
use super::status::Counters;
use super::table::{Head, Table};
use crate::auth::{AuthKey, PacketKind};
use crate::wire::{OriginState, StateMsg, MAX_ENTRIES_OLD, STATE_VERSION};
use crate::wire_v2::{
    DeltaMsg, DigestMsg, Key, PushPullMsg, TableMsg, Value, Version, DELTA_VERSION,
};

/// Peers per relay of news and per v1 anti-entropy round.
const PUSH_FANOUT: usize = 4;

/// How many more times our verdicts go to every peer after one of them
/// changed: a Dead verdict is what the survivors' quorum waits for, and one
/// lost datagram must not make it wait for the next anti-entropy round (a
/// probe interval).
const VERDICT_REPEATS: u8 = 2;

/// Datagrams of our own change sent to every peer at once; a larger change
/// (a failover of thousands of services) goes by push-pull.
const MAX_PUSH_DATAGRAMS: usize = 32;
/// Datagrams answering a digest that shows a peer behind.
const MAX_REPAIR_DATAGRAMS: usize = 32;
/// Datagrams of another origin's news relayed to each of a few peers.
const MAX_RELAY_DATAGRAMS: usize = 8;
/// The least time between two push-pulls we start with the same peer.
const PUSH_PULL_GAP: Duration = Duration::from_millis(100);
/// A push-pull not answered within this is given up (the driver's
/// deadlines are 5 s per step).
const PUSH_PULL_GIVE_UP: Duration = Duration::from_secs(15);
/// A v1 body larger than this is not sent (builds before deltas receive
/// into a 64 KiB buffer; IP limits a datagram to 65,507 bytes).
const MAX_V1_BODY: usize = 60_000;
/// Entries beyond which our state is not even tried in v1.
const MAX_V1_KEYS: usize = 2 * MAX_ENTRIES_OLD;

/// Where a batch of state packets goes: sealed with `key`, counted in
/// `counters`, written to `out`; `now` for the push-pull backoff.
pub(super) struct Sink<'a> {
    pub key: &'a AuthKey,
    pub counters: &'a mut Counters,
    pub out: &'a mut Vec<Output>,
    pub now: Duration,
}

/// An origin whose entries we hold exactly, with its verdicts.
type Held<'a> = (&'a SiteId, &'a Table, &'a [(SiteId, Liveness)]);

pub(super) struct Dissemination {
    local: SiteId,
    peers: Vec<(SiteId, SocketAddr)>,
    /// Each peer's index in `peers` (a lookup per datagram, not a scan).
    index: BTreeMap<SiteId, usize>,
    own: Table,
    own_verdicts: Vec<(SiteId, Liveness)>,
    /// Our head as the last flush sent it.
    flushed: u64,
    /// The shared state last handed in (a cheap "nothing changed").
    published: Option<SharedState>,
    /// Our own state must go out with the next flush even if unchanged.
    dirty: bool,
    remotes: Remotes,
    /// Peers that read deltas and digests.
    reads_v2: BTreeSet<SiteId>,
    /// Peers whose latest digest said they read lean digests (no
    /// verdicts, see [`Self::push_round`]).
    reads_lean: BTreeSet<SiteId>,
    /// Each peer's latest digest.
    their_digest: BTreeMap<SiteId, Vec<(SiteId, Version)>>,
    /// Origins with fresh news to pass on: the head our copy had before
    /// (`None`: the news came in v1, and goes on in v1).
    relay: BTreeMap<SiteId, Option<u64>>,
    push_cursor: usize,
    /// Repeats of our verdicts still due after one changed.
    repeats: u8,
    /// A verdict changed since the core last asked ([`Self::take_repeat`]).
    repeat_requested: bool,
    /// When we last started a push-pull with each peer, and whether it is
    /// still waiting for the answer.
    push_pulled: BTreeMap<SiteId, (Duration, bool)>,
}

impl Dissemination {
    pub fn new(local: SiteId, generation: u64, peers: Vec<(SiteId, SocketAddr)>) -> Self {
        let index = first_index(peers.iter().map(|(s, _)| s.clone()));
        Dissemination {
            local,
            index,
            peers,
            own: Table::new(generation),
            own_verdicts: Vec::new(),
            flushed: 0,
            published: None,
            dirty: false,
            remotes: Remotes::default(),
            reads_v2: BTreeSet::new(),
            reads_lean: BTreeSet::new(),
            their_digest: BTreeMap::new(),
            relay: BTreeMap::new(),
            push_cursor: 0,
            repeats: 0,
            repeat_requested: false,
            push_pulled: BTreeMap::new(),
        }
    }

    /// Sends our own state to every peer with the next flush.
    pub fn announce_own(&mut self) {
        self.dirty = true;
    }

    pub fn set_health(&mut self, service: ServiceId, healthy: bool) {
        self.own
            .set(Key::Health(service), Some(Value::Health(healthy)));
    }

    pub fn set_shared(&mut self, state: SharedState) {
        if self.published.as_ref() != Some(&state) {
            self.own.set_shared(&state);
            self.published = Some(state);
        }
    }

    /// Publishes our verdicts; each one that changed becomes an
    /// `Event::Verdict` of ours.
    pub fn set_verdicts(&mut self, verdicts: Vec<(SiteId, Liveness)>, out: &mut Vec<Output>) {
        if verdicts == self.own_verdicts {
            return;
        }
        for (site, l) in &verdicts {
            let old = self
                .own_verdicts
                .iter()
                .find(|(s, _)| s == site)
                .map(|x| x.1);
            if old != Some(*l) {
                out.push(Output::Event(Box::new(orbit_core::Event::Verdict {
                    observer: self.local.clone(),
                    subject: site.clone(),
                    liveness: *l,
                })));
            }
        }
        self.own_verdicts = verdicts;
        self.own.bump();
        self.repeats = VERDICT_REPEATS;
        self.repeat_requested = true;
    }

    /// Whether a verdict changed since the last call: the core then
    /// schedules [`Self::repeat_own`].
    pub fn take_repeat(&mut self) -> bool {
        std::mem::take(&mut self.repeat_requested)
    }

    /// Sends our verdicts to every peer again if repeats are due (a delta
    /// of no entries to those that read deltas: small whatever the number
    /// of services); whether more are due after this one.
    pub fn repeat_own(&mut self, sink: Sink<'_>) -> bool {
        if self.repeats == 0 {
            return false;
        }
        self.repeats -= 1;
        let Sink {
            key, counters, out, ..
        } = sink;
        let head = self.own.head;
        let beacon = key.seal(
            PacketKind::Delta,
            &self.own_head().delta(head, head).encode(),
        );
        let v1 = self.v1_packet(key, std::slice::from_ref(&self.own_v1()));
        for i in 0..self.peers.len() {
            let data = if self.reads_v2.contains(&self.peers[i].0) {
                &beacon
            } else {
                &v1
            };
            self.send(i, data.clone(), counters, out);
        }
        self.repeats > 0
    }

    /// Whether `site`'s latest published state says it is leaving.
    pub fn leaving(&self, site: &SiteId) -> bool {
        self.remotes.leaving(site)
    }

    /// Every other origin's latest verdicts.
    pub fn remote_verdicts(&self) -> impl Iterator<Item = (&SiteId, &[(SiteId, Liveness)])> {
        self.remotes
            .copies
            .iter()
            .map(|(s, c)| (s, c.verdicts.as_slice()))
    }

    fn is_member(&self, site: &SiteId) -> bool {
        *site != self.local && self.index.contains_key(site)
    }

    /// Takes in a v1 state message: every origin newer than what we hold
    /// is taken in (see `remote.rs`), emits what changed and is relayed.
    pub fn merge(&mut self, msg: StateMsg, out: &mut Vec<Output>) {
        if msg.reads_deltas.is_some_and(|v| v >= DELTA_VERSION) {
            self.reads_v2.insert(msg.sender.clone());
        }
        for origin in msg.origins {
            if !self.is_member(&origin.site) {
                if origin.site != self.local {
                    tracing::debug!(site = %origin.site, "state of a non-member ignored");
                }
                continue;
            }
            if self.remotes.v1(&origin, out) {
                self.relay.insert(origin.site.clone(), None);
            }
        }
    }

    /// Takes in a delta of another origin.
    pub fn delta(&mut self, msg: DeltaMsg, counters: &mut Counters, out: &mut Vec<Output>) {
        self.reads_v2.insert(msg.sender.clone());
        if !self.is_member(&msg.origin) {
            return;
        }
        let origin = msg.origin.clone();
        if let Taken::Advanced { from } = self.remotes.delta(msg, &mut counters.delta_gaps, out) {
            self.relay.entry(origin).or_insert(Some(from));
        }
    }

    /// Takes in a peer's digest: its own verdicts, and what it lacks of
    /// what we hold, sent as deltas or, when they do not fit a few
    /// datagrams (or below an origin's `base`), by push-pull. A lean
    /// digest carries no verdicts, only the peer's version: if our copy of
    /// its verdicts is older, we ask it for the delta
    /// ([`Self::repair_request`]).
    pub fn digest(&mut self, msg: DigestMsg, sink: Sink<'_>) {
        let peer = msg.sender.clone();
        self.reads_v2.insert(peer.clone());
        if msg.reads_lean {
            self.reads_lean.insert(peer.clone());
        } else {
            // A member that went back to an older build.
            self.reads_lean.remove(&peer);
        }
        let Some(&index) = self.index.get(&peer) else {
            return;
        };
        let Sink {
            key,
            counters,
            out,
            now,
        } = sink;
        let mut push_pull = false;
        let mut repair = None;
        let own = msg
            .origins
            .iter()
            .find(|(o, _)| *o == peer)
            .map(|(_, v)| *v);
        if let Some(own) = own {
            // A restarted peer (a newer generation than our copy of it):
            // it knows nothing of anyone; sync it whole, as memberlist
            // does when a member joins.
            let known = self.remotes.copies.get(&peer).map(|c| c.table.generation);
            push_pull |= known.is_some_and(|g| g < own.generation);
            match &msg.verdicts {
                Some(verdicts) => self.remotes.verdicts(&peer, own, verdicts, out),
                None => repair = self.remotes.verdicts_behind(&peer, own),
            }
        }
        let mut packets = Vec::new();
        if msg.complete {
            let theirs: BTreeMap<&SiteId, Version> =
                msg.origins.iter().map(|(o, v)| (o, *v)).collect();
            for (origin, table, verdicts) in self.exact_tables() {
                // The peer's own origin: it holds it better than we do.
                if *origin == peer {
                    continue;
                }
                let head = self.head_of(origin, table, verdicts);
                push_pull |= missing(table, head, theirs.get(origin).copied(), &mut packets);
            }
        } else {
            // A heartbeat (only the peer's own origin, skipped as above)
            // or a repair request: only the origins it lists, ours
            // included. Nothing is said about the others.
            let mut seen = BTreeSet::new();
            for (origin, v) in &msg.origins {
                if *origin == peer || !seen.insert(origin) {
                    continue;
                }
                if let Some((origin, table, verdicts)) = self.held(origin) {
                    let head = self.head_of(origin, table, verdicts);
                    push_pull |= missing(table, head, Some(*v), &mut packets);
                }
            }
        }
        for body in packets {
            self.send(index, key.seal(PacketKind::Delta, &body), counters, out);
        }
        if let Some(ours) = repair {
            let request = self.repair_request(&peer, ours);
            self.send(
                index,
                key.seal(PacketKind::Digest, &request.encode()),
                counters,
                out,
            );
        }
        if msg.complete {
            self.their_digest.insert(peer.clone(), msg.origins);
        }
        if push_pull {
            self.start_push_pull(
                &peer,
                Sink {
                    key,
                    counters,
                    out,
                    now,
                },
            );
        }
    }

    /// Asks `peer`, whose lean digest showed it newer than what we hold of
    /// its verdicts, for what we lack of its own origin: a digest listing
    /// our own version and `ours` of the peer, which its [`Self::digest`]
    /// answers with the deltas from there (its verdicts ride in every
    /// one). Only a peer that reads lean digests sends one, so the
    /// request is lean too.
    fn repair_request(&self, peer: &SiteId, ours: Version) -> DigestMsg {
        DigestMsg {
            version: DELTA_VERSION,
            sender: self.local.clone(),
            verdicts: None,
            origins: vec![
                (self.local.clone(), self.own_version()),
                (peer.clone(), ours),
            ],
            complete: false,
            reads_lean: true,
        }
    }

    /// Starts a push-pull with `peer` (unless one is under way, or started
    /// less than [`PUSH_PULL_GAP`] ago): our digest and the tables its last
    /// digest shows it lacks (all of them if we have none).
    pub fn start_push_pull(&mut self, peer: &SiteId, sink: Sink<'_>) {
        let Some(&(_, to)) = self.index.get(peer).map(|&i| &self.peers[i]) else {
            return;
        };
        if let Some((at, waiting)) = self.push_pulled.get(peer) {
            let since = sink.now.saturating_sub(*at);
            if since < PUSH_PULL_GAP || (*waiting && since < PUSH_PULL_GIVE_UP) {
                return;
            }
        }
        self.push_pulled.insert(peer.clone(), (sink.now, true));
        let msg = PushPullMsg {
            version: DELTA_VERSION,
            sender: self.local.clone(),
            answer_wanted: true,
            digest: self.digest_origins(),
            tables: self.tables_for(self.their_digest.get(peer).map(Vec::as_slice)),
        };
        tracing::debug!(%peer, tables = msg.tables.len(), "push-pull");
        sink.out.push(Output::PushPull {
            to,
            data: sink.key.seal(PacketKind::PushPull, &msg.encode()),
        });
    }

    /// Our push-pull with `peer` failed: the next may start at once.
    pub fn push_pull_failed(&mut self, peer: &SiteId) {
        self.push_pulled.remove(peer);
    }

    /// The periodic push-pull (and the join sync): one peer that reads
    /// deltas, round robin; at start, when nobody is known to read them
    /// yet, the next peer (a member of an older build refuses the
    /// connection, and nothing else happens).
    pub fn push_pull_round(&mut self, sink: Sink<'_>) {
        let candidates: Vec<SiteId> = self
            .peers
            .iter()
            .map(|(s, _)| s.clone())
            .filter(|s| self.reads_v2.is_empty() || self.reads_v2.contains(s))
            .collect();
        if candidates.is_empty() {
            return;
        }
        let peer = candidates[self.push_cursor % candidates.len()].clone();
        self.push_cursor = self.push_cursor.wrapping_add(1);
        self.start_push_pull(&peer, sink);
    }

    /// Takes in one side of a push-pull; answers the initiator's side on
    /// its connection (`conn`) with the tables its digest shows it lacks.
    pub fn push_pull(&mut self, msg: PushPullMsg, conn: Option<u64>, sink: Sink<'_>) {
        if !self.is_member(&msg.sender) {
            tracing::debug!(sender = %msg.sender, "push-pull of a non-member ignored");
            return;
        }
        self.reads_v2.insert(msg.sender.clone());
        sink.counters.push_pulls += 1;
        if !msg.answer_wanted {
            if let Some((_, waiting)) = self.push_pulled.get_mut(&msg.sender) {
                *waiting = false;
            }
        }
        for table in &msg.tables {
            if !self.is_member(&table.origin) {
                continue;
            }
            if let Taken::Advanced { from } = self.remotes.table(table, sink.out) {
                self.relay.entry(table.origin.clone()).or_insert(Some(from));
            }
        }
        if let (true, Some(conn)) = (msg.answer_wanted, conn) {
            let answer = PushPullMsg {
                version: DELTA_VERSION,
                sender: self.local.clone(),
                answer_wanted: false,
                digest: self.digest_origins(),
                tables: self.tables_for(Some(&msg.digest)),
            };
            sink.out.push(Output::PushPullAnswer {
                conn,
                data: sink.key.seal(PacketKind::PushPull, &answer.encode()),
            });
        }
        self.their_digest.insert(msg.sender, msg.digest);
    }

    /// Sends what changed during one input: our own changes to every peer
    /// at once, fresh news about other origins to a few peers, so it
    /// reaches members that cannot hear the origin directly.
    pub fn flush(&mut self, sink: Sink<'_>) {
        let Sink {
            key,
            counters,
            out,
            now,
        } = sink;
        if self.dirty || self.own.head > self.flushed {
            self.dirty = false;
            let since = self.flushed;
            self.flushed = self.own.head;
            let chunks = self.own.chunks(self.own_head(), since, MAX_PUSH_DATAGRAMS);
            let v2: Vec<Vec<u8>> = match &chunks {
                Some(chunks) => chunks
                    .iter()
                    .map(|c| key.seal(PacketKind::Delta, &c.encode()))
                    .collect(),
                // Too large for datagrams: the verdicts now, the rest by
                // push-pull to every peer that reads deltas.
                None => {
                    let head = self.own.head;
                    vec![key.seal(
                        PacketKind::Delta,
                        &self.own_head().delta(head, head).encode(),
                    )]
                }
            };
            let v1 = self.v1_packet(key, std::slice::from_ref(&self.own_v1()));
            for i in 0..self.peers.len() {
                if self.reads_v2.contains(&self.peers[i].0) {
                    for data in &v2 {
                        self.send(i, data.clone(), counters, out);
                    }
                } else {
                    self.send(i, v1.clone(), counters, out);
                }
            }
            if chunks.is_none() {
                let peers: Vec<SiteId> = self.reads_v2.iter().cloned().collect();
                for peer in peers {
                    self.start_push_pull(
                        &peer,
                        Sink {
                            key,
                            counters: &mut *counters,
                            out: &mut *out,
                            now,
                        },
                    );
                }
            }
        }
        if !self.relay.is_empty() {
            self.flush_relay(key, counters, out);
        }
    }

    fn flush_relay(&mut self, key: &AuthKey, counters: &mut Counters, out: &mut Vec<Output>) {
        let relay = std::mem::take(&mut self.relay);
        let mut v2: Vec<Vec<u8>> = Vec::new();
        let mut v1: Vec<OriginState> = Vec::new();
        for (origin, from) in relay {
            let Some(copy) = self.remotes.copies.get(&origin) else {
                continue;
            };
            v1.push(copy.table.to_v1(&origin, &copy.verdicts));
            let head = Head {
                sender: &self.local,
                origin: &origin,
                generation: copy.table.generation,
                head: copy.table.head,
                verdicts: &copy.verdicts,
            };
            let chunks = match from {
                Some(from) if copy.exact => copy.table.chunks(head, from, MAX_RELAY_DATAGRAMS),
                _ => None,
            };
            // What does not fit goes by the digests' repair; the verdicts
            // go on at once regardless.
            let chunks =
                chunks.unwrap_or_else(|| vec![head.delta(copy.table.head, copy.table.head)]);
            v2.extend(
                chunks
                    .iter()
                    .map(|c| key.seal(PacketKind::Delta, &c.encode())),
            );
        }
        let v1 = self.v1_fitting(key, v1);
        for i in self.next_peers(PUSH_FANOUT) {
            if self.reads_v2.contains(&self.peers[i].0) {
                for data in &v2 {
                    self.send(i, data.clone(), counters, out);
                }
            } else if let Some(data) = &v1 {
                self.send(i, data.clone(), counters, out);
            }
        }
    }

    /// Anti-entropy, every probe interval: to a few peers that read
    /// deltas our whole digest, to the others only our own version and
    /// verdicts (a heartbeat: each member must hear from every other
    /// several times per `fence_after`, however large the cluster, or
    /// silence would fence it); to peers that read only v1, v1 as before:
    /// the whole table to a few, our own state to the rest.
    ///
    /// To peers that read lean digests, both kinds go without our
    /// verdicts: our version stands for them (each verdict change bumps
    /// it, and goes to every peer at once in a delta, then twice more),
    /// and a peer that missed those asks for the delta. A heartbeat then
    /// stays a few dozen bytes whatever the cluster size, instead of
    /// carrying N - 1 verdicts to each of N - 1 peers.
    pub fn push_round(&mut self, sink: Sink<'_>) {
        let Sink {
            key, counters, out, ..
        } = sink;
        let full = self.next_peers(PUSH_FANOUT);
        let mut in_full = vec![false; self.peers.len()];
        for &i in &full {
            in_full[i] = true;
        }
        let lean: Vec<bool> = self
            .peers
            .iter()
            .map(|(s, _)| self.reads_lean.contains(s))
            .collect();
        let old: Vec<bool> = self
            .peers
            .iter()
            .map(|(s, _)| !self.reads_v2.contains(s))
            .collect();
        let digest = |origins: Vec<(SiteId, Version)>, complete: bool, lean: bool| {
            let msg = DigestMsg {
                version: DELTA_VERSION,
                sender: self.local.clone(),
                verdicts: (!lean).then(|| self.own_verdicts.clone()),
                origins,
                complete,
                reads_lean: true,
            };
            key.seal(PacketKind::Digest, &msg.encode())
        };
        // Each kind of digest (whole or heartbeat, lean or not) is sealed
        // once, when a peer first needs it.
        let own_origin = vec![(self.local.clone(), self.own_version())];
        let mut sealed: BTreeMap<(bool, bool), Vec<u8>> = BTreeMap::new();
        let v2: Vec<Option<Vec<u8>>> = (0..self.peers.len())
            .map(|i| {
                (!old[i]).then(|| {
                    let kind = (in_full[i], lean[i]);
                    sealed
                        .entry(kind)
                        .or_insert_with(|| {
                            let origins = if kind.0 {
                                self.digest_origins()
                            } else {
                                own_origin.clone()
                            };
                            digest(origins, kind.0, kind.1)
                        })
                        .clone()
                })
            })
            .collect();
        let own = self.own_v1();
        let table = full.iter().any(|&i| old[i]).then(|| {
            let mut all = vec![own.clone()];
            all.extend(
                self.remotes
                    .copies
                    .iter()
                    .map(|(s, c)| c.table.to_v1(s, &c.verdicts)),
            );
            self.v1_fitting(key, all)
        });
        let own = old.iter().any(|o| *o).then(|| self.v1_packet(key, &[own]));
        for i in 0..self.peers.len() {
            let data = if !old[i] {
                v2[i].clone()
            } else if let (true, Some(Some(table))) = (in_full[i], &table) {
                Some(table.clone())
            } else {
                own.clone()
            };
            if let Some(data) = data {
                self.send(i, data, counters, out);
            }
        }
    }

    /// Our own table and every exact copy, with their verdicts.
    fn exact_tables(&self) -> Vec<Held<'_>> {
        let mut v = vec![(&self.local, &self.own, self.own_verdicts.as_slice())];
        v.extend(
            self.remotes
                .copies
                .iter()
                .filter(|(_, c)| c.exact && c.table.head > 0)
                .map(|(s, c)| (s, &c.table, c.verdicts.as_slice())),
        );
        v
    }

    /// Our own table, or an exact copy with content, of `origin`.
    fn held(&self, origin: &SiteId) -> Option<Held<'_>> {
        if *origin == self.local {
            return Some((&self.local, &self.own, self.own_verdicts.as_slice()));
        }
        let (site, c) = self.remotes.copies.get_key_value(origin)?;
        (c.exact && c.table.head > 0).then_some((site, &c.table, c.verdicts.as_slice()))
    }

    fn own_version(&self) -> Version {
        Version {
            generation: self.own.generation,
            head: self.own.head,
        }
    }

    fn head_of<'a>(
        &'a self,
        origin: &'a SiteId,
        table: &Table,
        verdicts: &'a [(SiteId, Liveness)],
    ) -> Head<'a> {
        Head {
            sender: &self.local,
            origin,
            generation: table.generation,
            head: table.head,
            verdicts,
        }
    }

    fn own_head(&self) -> Head<'_> {
        self.head_of(&self.local, &self.own, &self.own_verdicts)
    }

    fn digest_origins(&self) -> Vec<(SiteId, Version)> {
        let mut v = Vec::with_capacity(self.remotes.copies.len() + 1);
        v.push((self.local.clone(), self.own_version()));
        v.extend(
            self.remotes
                .copies
                .iter()
                .map(|(s, c)| (s.clone(), c.version())),
        );
        v
    }

    /// Our tables newer than `digest` says the other side holds (all if
    /// `None`).
    fn tables_for(&self, digest: Option<&[(SiteId, Version)]>) -> Vec<TableMsg> {
        self.exact_tables()
            .into_iter()
            .filter(|(origin, table, _)| {
                let Some(digest) = digest else { return true };
                match digest.iter().find(|(o, _)| o == *origin) {
                    Some((_, v)) => (v.generation, v.head) < (table.generation, table.head),
                    None => true,
                }
            })
            .map(|(origin, table, verdicts)| table.to_msg(origin, verdicts))
            .collect()
    }

    /// Our own state in v1; only the verdicts when the whole state would
    /// not fit what a v1 member takes in.
    fn own_v1(&self) -> OriginState {
        let mut state = self.own.to_v1(&self.local, &[]);
        if self.own.len() > MAX_V1_KEYS || state.health.len() > MAX_ENTRIES_OLD {
            state.health.clear();
            state.shared = None;
        }
        state.verdicts = self.own_verdicts.clone();
        state
    }

    fn v1_packet(&self, key: &AuthKey, origins: &[OriginState]) -> Vec<u8> {
        let msg = StateMsg {
            version: STATE_VERSION,
            sender: self.local.clone(),
            origins: origins.to_vec(),
            reads_deltas: Some(DELTA_VERSION),
        };
        key.seal(PacketKind::State, &msg.encode())
    }

    /// A v1 packet of `origins`, as many as fit (our own first).
    fn v1_fitting(&self, key: &AuthKey, mut origins: Vec<OriginState>) -> Option<Vec<u8>> {
        origins.retain(|o| o.health.len() <= MAX_ENTRIES_OLD);
        while !origins.is_empty() {
            let data = self.v1_packet(key, &origins);
            if data.len() <= MAX_V1_BODY {
                return Some(data);
            }
            origins.pop();
        }
        None
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

    fn send(&self, i: usize, data: Vec<u8>, counters: &mut Counters, out: &mut Vec<Output>) {
        counters.packets_out += 1;
        out.push(Output::Send {
            to: self.peers[i].1,
            data,
        });
    }
}

/// Each key's first position in `keys` (as a scan would find it).
pub(super) fn first_index<K: Ord>(keys: impl Iterator<Item = K>) -> BTreeMap<K, usize> {
    let mut index = BTreeMap::new();
    for (i, k) in keys.enumerate() {
        index.entry(k).or_insert(i);
    }
    index
}

/// What a peer that holds `theirs` of an origin lacks of our `table` of
/// it: the deltas, added to `packets`; whether they do not fit a few
/// datagrams (or start below `base`), so that only a push-pull can carry
/// them.
fn missing(
    table: &Table,
    head: Head<'_>,
    theirs: Option<Version>,
    packets: &mut Vec<Vec<u8>>,
) -> bool {
    let since = match theirs {
        Some(v) if v.generation > table.generation => return false,
        Some(v) if v.generation == table.generation && v.head >= table.head => return false,
        Some(v) if v.generation == table.generation => v.head,
        _ => 0,
    };
    match table.chunks(head, since, MAX_REPAIR_DATAGRAMS) {
        Some(chunks) => {
            packets.extend(chunks.iter().map(|c| c.encode()));
            false
        }
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use orbit_core::Placement;

    use super::*;

    const B: &str = "127.0.0.2:7946";

    fn site(s: &str) -> SiteId {
        s.parse().unwrap()
    }

    fn member() -> Dissemination {
        let peers = vec![
            (site("b"), B.parse().unwrap()),
            (site("w"), "127.0.0.3:7946".parse().unwrap()),
        ];
        Dissemination::new(site("a"), 7, peers)
    }

    fn placements(n: usize, epoch: u64) -> SharedState {
        let mut s = SharedState::default();
        for i in 0..n {
            s.placements.insert(
                format!("svc-{i}").parse().unwrap(),
                Placement {
                    active: Some(site("a")),
                    epoch,
                    planned: false,
                    moving_to: None,
                },
            );
        }
        s
    }

    fn digest_from_b(a_head: Option<u64>, complete: bool) -> DigestMsg {
        let mut origins = vec![(
            site("b"),
            Version {
                generation: 3,
                head: 1,
            },
        )];
        if let Some(head) = a_head {
            origins.push((
                site("a"),
                Version {
                    generation: 7,
                    head,
                },
            ));
        }
        DigestMsg {
            version: DELTA_VERSION,
            sender: site("b"),
            verdicts: Some(vec![(site("a"), Liveness::Alive)]),
            origins,
            complete,
            reads_lean: false,
        }
    }

    /// What `a` sends when `b`'s digest arrives: (deltas to b, push-pulls).
    fn answer(a: &mut Dissemination, digest: DigestMsg, now: Duration) -> (Vec<DeltaMsg>, usize) {
        let key = AuthKey::new(b"sixteen bytes or more of key".to_vec());
        let mut counters = Counters::default();
        let mut out = Vec::new();
        a.digest(
            digest,
            Sink {
                key: &key,
                counters: &mut counters,
                out: &mut out,
                now,
            },
        );
        let mut deltas = Vec::new();
        let mut push_pulls = 0;
        for o in out {
            match o {
                Output::Send { to, data } => {
                    assert_eq!(to, B.parse().unwrap());
                    let (kind, body) = key.open(&data).unwrap();
                    assert_eq!(kind, PacketKind::Delta);
                    deltas.push(DeltaMsg::decode(body).unwrap());
                }
                Output::PushPull { .. } => push_pulls += 1,
                _ => {}
            }
        }
        (deltas, push_pulls)
    }

    fn key() -> AuthKey {
        AuthKey::new(b"sixteen bytes or more of key".to_vec())
    }

    /// Every datagram in `out`, opened: (to, kind, body).
    fn opened(out: Vec<Output>) -> Vec<(SocketAddr, PacketKind, Vec<u8>)> {
        out.into_iter()
            .filter_map(|o| match o {
                Output::Send { to, data } => {
                    let (kind, body) = key().open(&data).unwrap();
                    Some((to, kind, body.to_vec()))
                }
                _ => None,
            })
            .collect()
    }

    /// Runs `f` with a sink at time zero; what it sent.
    fn sent(f: impl FnOnce(Sink<'_>)) -> Vec<(SocketAddr, PacketKind, Vec<u8>)> {
        let key = key();
        let mut counters = Counters::default();
        let mut out = Vec::new();
        f(Sink {
            key: &key,
            counters: &mut counters,
            out: &mut out,
            now: Duration::ZERO,
        });
        opened(out)
    }

    fn lean_heartbeat(sender: &str, version: Version) -> DigestMsg {
        DigestMsg {
            version: DELTA_VERSION,
            sender: site(sender),
            verdicts: None,
            origins: vec![(site(sender), version)],
            complete: false,
            reads_lean: true,
        }
    }

    /// Digests to a peer that said it reads lean ones carry no verdicts,
    /// whole ones and heartbeats alike; a peer whose digests do not say
    /// so (an older build, or one that went back to it) gets our verdicts
    /// in every digest, as before.
    #[test]
    fn only_peers_that_read_lean_digests_get_digests_without_verdicts() {
        let names = ["b", "c", "d", "e", "f", "g"];
        let peers: Vec<(SiteId, SocketAddr)> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (site(n), format!("127.0.0.{}:7946", i + 2).parse().unwrap()))
            .collect();
        let mut a = Dissemination::new(site("a"), 7, peers.clone());
        let verdicts: Vec<_> = names.iter().map(|n| (site(n), Liveness::Alive)).collect();
        a.set_verdicts(verdicts.clone(), &mut Vec::new());
        for (i, n) in names.iter().enumerate() {
            let mut hello = lean_heartbeat(
                n,
                Version {
                    generation: 1,
                    head: 0,
                },
            );
            if i % 2 == 1 {
                hello.verdicts = Some(vec![]);
                hello.reads_lean = false;
            }
            sent(|sink| a.digest(hello, sink));
        }
        let lean_peer = |to: SocketAddr| {
            let i = peers.iter().position(|(_, addr)| *addr == to).unwrap();
            i % 2 == 0
        };
        let (mut whole, mut heartbeats) = (0, 0);
        for _ in 0..3 {
            for (to, kind, body) in sent(|sink| a.push_round(sink)) {
                assert_eq!(kind, PacketKind::Digest);
                let msg = DigestMsg::decode(&body).unwrap();
                assert!(msg.reads_lean);
                let expected = (!lean_peer(to)).then(|| verdicts.clone());
                assert_eq!(msg.verdicts, expected, "to {to}");
                if msg.complete {
                    whole += 1;
                } else {
                    heartbeats += 1;
                    assert_eq!(msg.origins.len(), 1);
                }
            }
        }
        assert_eq!((whole, heartbeats), (12, 6));
        // b goes back to a build that does not read lean digests.
        let mut back = digest_from_b(None, false);
        back.origins[0].0 = site("b");
        sent(|sink| a.digest(back, sink));
        for (to, _, body) in sent(|sink| a.push_round(sink)) {
            if to == peers[0].1 {
                let msg = DigestMsg::decode(&body).unwrap();
                assert_eq!(msg.verdicts, Some(verdicts.clone()));
            }
        }
    }

    /// A lean heartbeat newer than our copy of its sender's verdicts makes
    /// us ask the sender for its own origin; the sender answers with the
    /// delta (its verdicts ride in it), and the verdicts reach our engine.
    /// A heartbeat we are up to date with asks for nothing.
    #[test]
    fn a_lean_heartbeat_newer_than_our_copy_is_repaired_by_its_sender() {
        let a_addr: SocketAddr = "127.0.0.1:7946".parse().unwrap();
        let mut a = member();
        let mut b = Dissemination::new(
            site("b"),
            3,
            vec![
                (site("a"), a_addr),
                (site("w"), "127.0.0.3:7946".parse().unwrap()),
            ],
        );
        let verdicts = vec![(site("a"), Liveness::Alive), (site("w"), Liveness::Dead)];
        b.set_verdicts(verdicts.clone(), &mut Vec::new());
        let heartbeat = lean_heartbeat("b", b.own_version());
        let request = sent(|sink| a.digest(heartbeat.clone(), sink));
        assert_eq!(request.len(), 1);
        let (to, kind, body) = &request[0];
        assert_eq!((*to, *kind), (B.parse().unwrap(), PacketKind::Digest));
        let request = DigestMsg::decode(body).unwrap();
        assert!(!request.complete);
        assert_eq!(request.origins[0].0, site("a"));
        assert_eq!(
            request.origins[1],
            (
                site("b"),
                Version {
                    generation: 3,
                    head: 0
                }
            )
        );
        // b answers with its own origin, though it is the one asked about.
        let answer = sent(|sink| b.digest(request, sink));
        assert_eq!(answer.len(), 1);
        let (to, kind, body) = &answer[0];
        assert_eq!((*to, *kind), (a_addr, PacketKind::Delta));
        let delta = DeltaMsg::decode(body).unwrap();
        assert_eq!((delta.origin.as_str(), delta.head), ("b", 1));
        assert_eq!(delta.verdicts, verdicts);
        let mut out = Vec::new();
        a.delta(delta, &mut Counters::default(), &mut out);
        assert!(
            out.iter()
                .any(|o| matches!(o, Output::Event(e) if matches!(&**e,
                orbit_core::Event::Verdict { observer, subject, liveness: Liveness::Dead }
                    if observer.as_str() == "b" && subject.as_str() == "w"))),
            "{out:?}"
        );
        assert!(sent(|sink| a.digest(heartbeat, sink)).is_empty());
    }

    /// A peer a few changes behind gets the missing deltas; one that lacks
    /// more than a few datagrams' worth, or our whole generation, gets a
    /// push-pull (one at a time); a heartbeat digest says nothing about
    /// the origins it does not list.
    #[test]
    fn a_digest_behind_is_answered_with_deltas_or_a_push_pull() {
        let mut a = member();
        a.set_shared(placements(10, 1));
        let head = a.own.head;
        let mut next = placements(10, 1);
        next.placements
            .get_mut(&"svc-3".parse().unwrap())
            .unwrap()
            .epoch = 2;
        a.set_shared(next);
        let (deltas, pp) = answer(&mut a, digest_from_b(Some(head), true), Duration::ZERO);
        assert_eq!(pp, 0);
        assert_eq!(deltas.len(), 1);
        assert_eq!((deltas[0].since, deltas[0].upto), (head, head + 1));
        assert_eq!(deltas[0].entries.len(), 1);
        // Up to date, or silent about a: nothing.
        let (deltas, pp) = answer(&mut a, digest_from_b(Some(head + 1), true), Duration::ZERO);
        assert_eq!((deltas.len(), pp), (0, 0));
        let (deltas, pp) = answer(&mut a, digest_from_b(None, false), Duration::ZERO);
        assert_eq!((deltas.len(), pp), (0, 0));
        // 10,000 placements behind: push-pull, and only one at a time.
        a.set_shared(placements(10_000, 3));
        let (deltas, pp) = answer(&mut a, digest_from_b(Some(head), true), Duration::ZERO);
        assert_eq!((deltas.len(), pp), (0, 1));
        let later = Duration::from_secs(1);
        let (_, pp) = answer(&mut a, digest_from_b(Some(head), true), later);
        assert_eq!(pp, 0, "the first is still under way");
        a.push_pull_failed(&site("b"));
        let (_, pp) = answer(&mut a, digest_from_b(Some(head), true), later);
        assert_eq!(pp, 1);
        // b restarted (a newer generation of b than our copy): push-pull.
        let mut a = member();
        answer(&mut a, digest_from_b(Some(0), true), Duration::ZERO);
        let mut restarted = digest_from_b(Some(0), false);
        restarted.origins[0].1.generation = 4;
        let (_, pp) = answer(&mut a, restarted, Duration::from_secs(1));
        assert_eq!(pp, 1);
    }
}
