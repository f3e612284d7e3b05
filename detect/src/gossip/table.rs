//! One origin's state as versioned entries (`wire_v2.rs`): ours, stamped as
//! it changes, or a copy of another origin's, built from its deltas and
//! tables. Pure: diff, apply, cut into datagrams, rebuild the whole state.

use std::collections::{BTreeMap, BTreeSet};

use orbit_core::{Intent, ServiceId, SharedState, SiteId};

use crate::wire::{OriginState, RetiredCommands};
use crate::wire_v2::{
    DeltaMsg, Entry, Key, TableMsg, Value, DELTA_VERSION, MAX_DATAGRAM_BODY, MAX_TOMBSTONES,
};

/// One origin's entries.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Table {
    pub generation: u64,
    /// Ours: the newest seq. A copy: every entry up to here is known.
    pub head: u64,
    /// Deltas since a seq below this cannot be served (tombstones dropped).
    pub base: u64,
    entries: BTreeMap<Key, (u64, Option<Value>)>,
    by_seq: BTreeMap<u64, Key>,
    tombstones: BTreeSet<u64>,
    /// The `Leaving` entry says true: asked for every peer after every
    /// SWIM packet, so kept rather than looked up.
    leaving: bool,
}

/// Why a delta was not applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Gap {
    /// It starts after what we hold: an earlier chunk is missing.
    Ahead,
    /// Another generation, or nothing new.
    Stale,
}

impl Table {
    pub fn new(generation: u64) -> Table {
        Table {
            generation,
            ..Table::default()
        }
    }

    pub fn get(&self, key: &Key) -> Option<&Value> {
        self.entries.get(key).and_then(|(_, v)| v.as_ref())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Sets `key` (ours): a change takes the next seq. Whether it changed.
    pub fn set(&mut self, key: Key, value: Option<Value>) -> bool {
        let current = self.entries.get(&key).map(|(_, v)| v);
        if current == Some(&value) || (current.is_none() && value.is_none()) {
            return false;
        }
        self.head += 1;
        let seq = self.head;
        self.put(Entry(key, seq, value));
        self.compact();
        true
    }

    /// A change without an entry (our verdicts, which travel whole).
    pub fn bump(&mut self) {
        self.head += 1;
    }

    /// Stores an entry at its own seq.
    fn put(&mut self, Entry(key, seq, value): Entry) {
        if let Some((old, _)) = self.entries.get(&key) {
            if *old > seq {
                return;
            }
            let old = *old;
            self.by_seq.remove(&old);
            self.tombstones.remove(&old);
        }
        if value.is_none() {
            self.tombstones.insert(seq);
        }
        if key == Key::Leaving {
            self.leaving = value == Some(Value::Leaving(true));
        }
        self.by_seq.insert(seq, key.clone());
        self.entries.insert(key, (seq, value));
    }

    /// Drops the oldest tombstones beyond the cap; `base` rises past them.
    fn compact(&mut self) {
        while self.tombstones.len() > MAX_TOMBSTONES {
            let Some(seq) = self.tombstones.pop_first() else {
                break;
            };
            if let Some(key) = self.by_seq.remove(&seq) {
                self.entries.remove(&key);
            }
            self.base = self.base.max(seq);
        }
    }

    /// The entries changed after `since`, in seq order; `None` below `base`.
    pub fn since(&self, since: u64) -> Option<impl Iterator<Item = Entry> + '_> {
        (since >= self.base).then(|| {
            self.by_seq
                .range(since + 1..)
                .map(|(seq, key)| Entry(key.clone(), *seq, self.entries[key].1.clone()))
        })
    }

    /// Deltas from `since` to `head`, each under [`MAX_DATAGRAM_BODY`] (an
    /// entry too large for one goes alone); `None` when `since` is below
    /// `base` or more than `max` datagrams would be needed.
    pub fn chunks(&self, head: Head<'_>, since: u64, max: usize) -> Option<Vec<DeltaMsg>> {
        let mut chunks = Vec::new();
        let mut current = head.delta(since, since);
        let overhead = current.encode().len() + 24;
        let mut size = overhead;
        for entry in self.since(since)? {
            let len = rmp_serde::to_vec_named(&entry).map_or(0, |v| v.len());
            if !current.entries.is_empty() && size + len > MAX_DATAGRAM_BODY {
                let upto = current.upto;
                chunks.push(std::mem::replace(&mut current, head.delta(upto, upto)));
                size = overhead;
                if chunks.len() >= max {
                    return None;
                }
            }
            current.upto = entry.1;
            current.entries.push(entry);
            size += len;
        }
        current.upto = self.head;
        chunks.push(current);
        (chunks.len() <= max).then_some(chunks)
    }

    /// Applies a delta of the same generation that starts at or before
    /// what we hold.
    pub fn apply(&mut self, delta: &DeltaMsg) -> Result<(), Gap> {
        if delta.generation != self.generation || delta.upto <= self.head {
            return Err(Gap::Stale);
        }
        if delta.since > self.head {
            return Err(Gap::Ahead);
        }
        for entry in &delta.entries {
            self.put(entry.clone());
        }
        self.head = delta.upto;
        self.compact();
        Ok(())
    }

    pub fn to_msg(&self, origin: &SiteId, verdicts: &[(SiteId, orbit_core::Liveness)]) -> TableMsg {
        TableMsg {
            origin: origin.clone(),
            generation: self.generation,
            head: self.head,
            base: self.base,
            verdicts: verdicts.to_vec(),
            entries: self
                .by_seq
                .iter()
                .map(|(seq, key)| Entry(key.clone(), *seq, self.entries[key].1.clone()))
                .collect(),
        }
    }

    pub fn from_msg(msg: &TableMsg) -> Table {
        let mut t = Table::new(msg.generation);
        for e in &msg.entries {
            t.put(e.clone());
        }
        t.head = msg.head;
        t.base = msg.base;
        t.compact();
        t
    }

    /// Sets every key of the shared state (ours); removed keys become
    /// tombstones. Whether anything changed.
    pub fn set_shared(&mut self, state: &SharedState) -> bool {
        let mut wanted: BTreeMap<Key, Value> = BTreeMap::new();
        for (service, p) in &state.placements {
            wanted.insert(Key::Placement(service.clone()), Value::Placement(p.clone()));
        }
        for (service, epoch) in &state.carried {
            wanted.insert(Key::Carried(service.clone()), Value::Carried(*epoch));
        }
        for (service, site) in &state.intent.pins {
            wanted.insert(Key::Pin(service.clone()), Value::Site(site.clone()));
        }
        for (service, site) in &state.intent.placed {
            wanted.insert(Key::Placed(service.clone()), Value::Site(site.clone()));
        }
        let mut head = state.intent.clone();
        head.pins.clear();
        head.placed.clear();
        wanted.insert(Key::Intent, Value::Intent(Box::new(head)));
        wanted.insert(Key::Deaths, Value::Deaths(state.deaths.clone()));
        wanted.insert(Key::Leaving, Value::Leaving(state.leaving));
        if let Some(config) = &state.config {
            wanted.insert(Key::Config, Value::Config(config.clone()));
        }
        for (service, run) in &state.plan_runs {
            wanted.insert(
                Key::PlanRun(service.clone()),
                Value::PlanRun(Box::new(run.clone())),
            );
        }
        for (service, report) in &state.step_reports {
            wanted.insert(
                Key::StepReport(service.clone()),
                Value::StepReport(report.clone()),
            );
        }
        let gone: Vec<Key> = self
            .entries
            .iter()
            .filter(|(k, (_, v))| {
                !matches!(k, Key::Health(_)) && v.is_some() && !wanted.contains_key(*k)
            })
            .map(|(k, _)| k.clone())
            .collect();
        let mut changed = false;
        for key in gone {
            changed |= self.set(key, None);
        }
        for (key, value) in wanted {
            changed |= self.set(key, Some(value));
        }
        changed
    }

    /// The whole shared state, once one was published.
    pub fn shared(&self) -> Option<SharedState> {
        let Some(Value::Intent(intent)) = self.get(&Key::Intent) else {
            return None;
        };
        let mut state = SharedState {
            intent: Intent::clone(intent),
            ..SharedState::default()
        };
        for (key, (_, value)) in &self.entries {
            match (key, value) {
                (Key::Placement(s), Some(Value::Placement(p))) => {
                    state.placements.insert(s.clone(), p.clone());
                }
                (Key::Carried(s), Some(Value::Carried(e))) => {
                    state.carried.insert(s.clone(), *e);
                }
                (Key::Pin(s), Some(Value::Site(site))) => {
                    state.intent.pins.insert(s.clone(), site.clone());
                }
                (Key::Placed(s), Some(Value::Site(site))) => {
                    state.intent.placed.insert(s.clone(), site.clone());
                }
                (Key::Deaths, Some(Value::Deaths(d))) => state.deaths = d.clone(),
                (Key::Leaving, Some(Value::Leaving(l))) => state.leaving = *l,
                (Key::Config, Some(Value::Config(c))) => state.config = Some(c.clone()),
                (Key::PlanRun(s), Some(Value::PlanRun(r))) => {
                    state
                        .plan_runs
                        .insert(s.clone(), orbit_core::PlanRun::clone(r));
                }
                (Key::StepReport(s), Some(Value::StepReport(r))) => {
                    state.step_reports.insert(s.clone(), r.clone());
                }
                _ => {}
            }
        }
        Some(state)
    }

    pub fn leaving(&self) -> bool {
        self.leaving
    }

    pub fn health(&self) -> impl Iterator<Item = (&ServiceId, bool)> {
        self.entries.iter().filter_map(|(k, (_, v))| match (k, v) {
            (Key::Health(s), Some(Value::Health(h))) => Some((s, *h)),
            _ => None,
        })
    }

    /// The health entries among `entries` (what a delta changed).
    pub fn health_of(entries: &[Entry]) -> impl Iterator<Item = (&ServiceId, bool)> {
        entries.iter().filter_map(|Entry(k, _, v)| match (k, v) {
            (Key::Health(s), Some(Value::Health(h))) => Some((s, *h)),
            _ => None,
        })
    }

    /// The v1 form of this state (for members that read only v1).
    pub fn to_v1(&self, site: &SiteId, verdicts: &[(SiteId, orbit_core::Liveness)]) -> OriginState {
        OriginState {
            site: site.clone(),
            generation: self.generation,
            seq: self.head,
            verdicts: verdicts.to_vec(),
            health: self.health().map(|(s, h)| (s.clone(), h)).collect(),
            commands: RetiredCommands,
            shared: self.shared(),
        }
    }
}

/// What every delta of one origin carries besides its entries.
#[derive(Debug, Clone, Copy)]
pub(super) struct Head<'a> {
    pub sender: &'a SiteId,
    pub origin: &'a SiteId,
    pub generation: u64,
    pub head: u64,
    pub verdicts: &'a [(SiteId, orbit_core::Liveness)],
}

impl Head<'_> {
    /// A delta of no entries over `(since, upto]`; `since == upto == head`
    /// is a verdict beacon.
    pub fn delta(&self, since: u64, upto: u64) -> DeltaMsg {
        DeltaMsg {
            version: DELTA_VERSION,
            sender: self.sender.clone(),
            origin: self.origin.clone(),
            generation: self.generation,
            head: self.head,
            verdicts: self.verdicts.to_vec(),
            since,
            upto,
            entries: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use orbit_core::{Liveness, Placement};

    use super::*;

    fn svc(i: usize) -> ServiceId {
        format!("svc-{i:05}").parse().unwrap()
    }

    fn site(s: &str) -> SiteId {
        s.parse().unwrap()
    }

    fn shared(services: usize, active: &str, epoch: u64) -> SharedState {
        let mut s = SharedState::default();
        for i in 0..services {
            s.placements.insert(
                svc(i),
                Placement {
                    active: Some(site(active)),
                    epoch,
                    planned: false,
                    moving_to: None,
                },
            );
        }
        s.carried.insert(svc(0), epoch);
        s.intent.pins.insert(svc(1), site(active));
        s
    }

    fn head<'a>(t: &Table, a: &'a SiteId, verdicts: &'a [(SiteId, Liveness)]) -> Head<'a> {
        Head {
            sender: a,
            origin: a,
            generation: t.generation,
            head: t.head,
            verdicts,
        }
    }

    /// Our table, its chunks applied in order by a copy, gives back the
    /// same shared state; a removed service and a dropped `carried` entry
    /// arrive as tombstones.
    #[test]
    fn deltas_rebuild_the_whole_state_removals_included() {
        let a = site("a");
        let verdicts = vec![(site("b"), Liveness::Alive)];
        let mut own = Table::new(5);
        assert!(own.set_shared(&shared(10, "a", 1)));
        assert!(!own.set_shared(&shared(10, "a", 1)), "no change, no seq");
        let mut copy = Table::new(5);
        for chunk in own.chunks(head(&own, &a, &verdicts), 0, 8).unwrap() {
            copy.apply(&chunk).unwrap();
        }
        assert_eq!(copy.shared(), Some(shared(10, "a", 1)));
        let before = own.head;
        let mut next = shared(9, "b", 2);
        next.carried.clear();
        own.set_shared(&next);
        let chunks = own.chunks(head(&own, &a, &verdicts), before, 8).unwrap();
        assert_eq!(chunks.len(), 1);
        assert!(chunks[0]
            .entries
            .iter()
            .any(|Entry(k, _, v)| *k == Key::Placement(svc(9)) && v.is_none()));
        copy.apply(&chunks[0]).unwrap();
        assert_eq!(copy.shared(), Some(next));
        assert_eq!(copy.head, own.head);
    }

    /// Plan runs and step reports travel as entries of their own, and a
    /// run that ends its life (the member stops coordinating it) arrives
    /// as a tombstone.
    #[test]
    fn plan_runs_and_step_reports_travel_in_deltas() {
        use orbit_core::{PlanRun, StepReport, StepState};
        let a = site("a");
        let plan: orbit_core::config::Plan = toml::from_str(
            "id = \"pg\"\n[[before_takeover]]\nkind = \"exec\"\ncommand = [\"/bin/true\"]\n",
        )
        .unwrap();
        let mut state = shared(3, "a", 1);
        let run = PlanRun::new(
            svc(0),
            &plan,
            Some(site("a")),
            site("b"),
            2,
            false,
            orbit_core::Millis(5),
        );
        state.plan_runs.insert(svc(0), run);
        state.step_reports.insert(
            svc(1),
            StepReport {
                generation: 4,
                index: 0,
                state: StepState::Succeeded {
                    at: orbit_core::Millis(9),
                },
            },
        );
        let mut own = Table::new(1);
        own.set_shared(&state);
        let mut copy = Table::new(1);
        for chunk in own.chunks(head(&own, &a, &[]), 0, 8).unwrap() {
            copy.apply(&chunk).unwrap();
        }
        assert_eq!(copy.shared(), Some(state.clone()));
        let before = own.head;
        state.plan_runs.clear();
        own.set_shared(&state);
        for chunk in own.chunks(head(&own, &a, &[]), before, 8).unwrap() {
            copy.apply(&chunk).unwrap();
        }
        assert_eq!(copy.shared(), Some(state));
    }

    /// 10,000 services cut into datagrams that each stay under the limit,
    /// with contiguous ranges; a missing chunk stops the copy (it never
    /// holds a state with a hole), the rest applies once it arrives.
    #[test]
    fn chunks_stay_under_the_datagram_limit_and_need_their_order() {
        let a = site("a");
        let verdicts: Vec<_> = (0..16)
            .map(|i| (site(&format!("s{i}")), Liveness::Alive))
            .collect();
        let mut own = Table::new(1);
        own.set_shared(&shared(10_000, "a", 1));
        assert!(
            own.chunks(head(&own, &a, &verdicts), 0, 32).is_none(),
            "too many for UDP"
        );
        let chunks = own
            .chunks(head(&own, &a, &verdicts), 0, usize::MAX)
            .unwrap();
        let mut upto = 0;
        for c in &chunks {
            let len = c.encode().len();
            assert!(len <= MAX_DATAGRAM_BODY, "{len} bytes");
            assert_eq!(c.since, upto);
            upto = c.upto;
        }
        assert_eq!(upto, own.head);
        let mut copy = Table::new(1);
        assert_eq!(copy.apply(&chunks[1]), Err(Gap::Ahead));
        copy.apply(&chunks[0]).unwrap();
        for c in &chunks[1..] {
            copy.apply(c).unwrap();
        }
        assert_eq!(copy.shared(), own.shared());
        assert_eq!(copy.apply(&chunks[3]), Err(Gap::Stale));
    }

    /// Past the tombstone cap the oldest are dropped and `base` rises: a
    /// copy behind it can no longer be served deltas (push-pull instead),
    /// and the whole table still rebuilds the state.
    #[test]
    fn dropping_tombstones_raises_base() {
        let mut own = Table::new(1);
        own.set_shared(&shared(MAX_TOMBSTONES + 10, "a", 1));
        let early = own.head;
        own.set_shared(&shared(0, "a", 1));
        assert!(own.base > early);
        assert!(own.since(early).is_none());
        assert!(own.since(own.base).is_some());
        let copy = Table::from_msg(&own.to_msg(&site("a"), &[]));
        assert_eq!(copy.shared(), own.shared());
        assert_eq!(copy.base, own.base);
    }

    #[test]
    fn health_and_the_v1_form() {
        let mut own = Table::new(3);
        own.set(Key::Health(svc(1)), Some(Value::Health(true)));
        own.set(Key::Health(svc(0)), Some(Value::Health(false)));
        let v1 = own.to_v1(&site("a"), &[]);
        assert_eq!(v1.health, vec![(svc(0), false), (svc(1), true)]);
        assert_eq!(v1.shared, None);
        assert_eq!((v1.generation, v1.seq), (3, 2));
        own.set_shared(&SharedState::default());
        assert_eq!(
            own.to_v1(&site("a"), &[]).shared,
            Some(SharedState::default())
        );
    }
}
