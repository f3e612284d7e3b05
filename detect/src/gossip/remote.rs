//! Our copies of the other origins' states, and the events they make.
//!
//! A copy is *exact* when it was built from the origin's v2 entries (deltas
//! from seq 0 or a whole table over push-pull): it can then take the next
//! delta, and be served onwards as deltas. A copy taken from a v1 message
//! (a member that reads only v1, or a v1 relay) has no per-entry seqs: it is
//! *inexact*, never the base of a delta, and is announced in our digests
//! at head 0 so that a member holding an exact copy sends one.
//!
//! Whatever the path, the engine sees what it saw with v1: `Event::Verdict`
//! and `Event::Health` once per change, and `Event::Peer` with the whole
//! shared state each time a copy reaches a newer publication of its origin.

use std::collections::BTreeMap;

use orbit_core::{Event, Liveness, ServiceId, SiteId};

use super::core::Output;
use super::table::{Gap, Table};
use crate::wire::OriginState;
use crate::wire_v2::{DeltaMsg, Entry, Key, TableMsg, Value, Version};

/// Deltas held per origin while an earlier one is missing.
const MAX_PENDING: usize = 256;

pub(super) struct Replica {
    pub table: Table,
    pub exact: bool,
    pub verdicts: Vec<(SiteId, Liveness)>,
    /// `(generation, head)` the verdicts are from.
    verdicts_of: (u64, u64),
    /// Deltas that start after `table.head`, by `since`.
    pending: BTreeMap<u64, DeltaMsg>,
}

impl Replica {
    fn new(generation: u64) -> Replica {
        Replica {
            table: Table::new(generation),
            exact: true,
            verdicts: Vec::new(),
            verdicts_of: (generation, 0),
            pending: BTreeMap::new(),
        }
    }

    /// What we announce in digests.
    pub fn version(&self) -> Version {
        Version {
            generation: self.table.generation,
            head: if self.exact { self.table.head } else { 0 },
        }
    }
}

/// The copies, and what was last emitted from them.
#[derive(Default)]
pub(super) struct Remotes {
    pub copies: BTreeMap<SiteId, Replica>,
    emitted_verdicts: BTreeMap<(SiteId, SiteId), Liveness>,
    emitted_health: BTreeMap<(SiteId, ServiceId), bool>,
}

/// What taking a message in did to one origin's copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Taken {
    /// Nothing new.
    Nothing,
    /// The copy reached a newer publication; the head it had before.
    Advanced { from: u64 },
}

impl Remotes {
    /// The copy of `origin`, created (or restarted for a newer generation)
    /// as needed; `None` for an older generation.
    fn copy_for(&mut self, origin: &SiteId, generation: u64) -> Option<&mut Replica> {
        let copy = self
            .copies
            .entry(origin.clone())
            .or_insert_with(|| Replica::new(generation));
        if generation < copy.table.generation {
            return None;
        }
        if generation > copy.table.generation {
            *copy = Replica::new(generation);
        }
        Some(copy)
    }

    /// Takes the verdicts of `origin` as of `(generation, head)` if newer.
    pub fn verdicts(
        &mut self,
        origin: &SiteId,
        version: Version,
        verdicts: &[(SiteId, Liveness)],
        out: &mut Vec<Output>,
    ) {
        let Some(copy) = self.copy_for(origin, version.generation) else {
            return;
        };
        let v = (version.generation, version.head);
        if v <= copy.verdicts_of && !copy.verdicts.is_empty() {
            return;
        }
        copy.verdicts_of = v;
        let old = std::mem::replace(&mut copy.verdicts, verdicts.to_vec());
        // Each of the origin's changes reaches us in several datagrams
        // (to every member, repeats, relays), each with all its verdicts:
        // only those that differ from what we held can be news (what we
        // held was emitted when it arrived).
        let same_subjects =
            old.len() == verdicts.len() && old.iter().zip(verdicts).all(|(a, b)| a.0 == b.0);
        if same_subjects {
            let changed: Vec<(SiteId, Liveness)> = old
                .iter()
                .zip(verdicts)
                .filter(|(a, b)| a.1 != b.1)
                .map(|(_, b)| b.clone())
                .collect();
            self.emit_verdicts(origin, &changed, out);
        } else {
            self.emit_verdicts(origin, verdicts, out);
        }
    }

    /// Whether our copy of `origin`'s verdicts is older than `version`
    /// (what a lean digest of it says it holds): then the version of it
    /// we hold, for the origin to send the deltas from.
    pub fn verdicts_behind(&self, origin: &SiteId, version: Version) -> Option<Version> {
        let Some(copy) = self.copies.get(origin) else {
            return (version.head > 0).then_some(Version {
                generation: version.generation,
                head: 0,
            });
        };
        ((version.generation, version.head) > copy.verdicts_of).then(|| {
            if version.generation == copy.table.generation {
                copy.version()
            } else {
                Version {
                    generation: version.generation,
                    head: 0,
                }
            }
        })
    }

    /// Takes in a delta of `origin` (its verdicts, and its entries if they
    /// continue what we hold).
    pub fn delta(&mut self, delta: DeltaMsg, gaps: &mut u64, out: &mut Vec<Output>) -> Taken {
        let version = Version {
            generation: delta.generation,
            head: delta.head,
        };
        let origin = delta.origin.clone();
        self.verdicts(&origin, version, &delta.verdicts, out);
        let Some(copy) = self.copy_for(&origin, delta.generation) else {
            return Taken::Nothing;
        };
        if !copy.exact {
            if delta.since != 0 {
                return Taken::Nothing;
            }
            // A chain from the start replaces what v1 gave us.
            copy.table = Table::new(delta.generation);
            copy.exact = true;
        }
        let from = copy.table.head;
        let mut applied: Vec<DeltaMsg> = Vec::new();
        match copy.table.apply(&delta) {
            Ok(()) => applied.push(delta),
            Err(Gap::Ahead) => {
                *gaps += 1;
                if copy.pending.len() < MAX_PENDING {
                    copy.pending.insert(delta.since, delta);
                }
                return Taken::Nothing;
            }
            Err(Gap::Stale) => return Taken::Nothing,
        }
        while let Some(entry) = copy.pending.first_entry() {
            if *entry.key() > copy.table.head {
                break;
            }
            let next = entry.remove();
            if copy.table.apply(&next).is_ok() {
                applied.push(next);
            }
        }
        let reached = applied.iter().map(|d| d.head).max().unwrap_or(0);
        let changed: Vec<Entry> = applied.into_iter().flat_map(|d| d.entries).collect();
        self.emit_health(&origin, Table::health_of(&changed), out);
        let copy = &self.copies[&origin];
        if copy.table.head >= reached {
            self.emit_peer(&origin, out);
        }
        Taken::Advanced { from }
    }

    /// Takes in a whole table (push-pull) if it is newer than our copy.
    pub fn table(&mut self, msg: &TableMsg, out: &mut Vec<Output>) -> Taken {
        let version = Version {
            generation: msg.generation,
            head: msg.head,
        };
        self.verdicts(&msg.origin, version, &msg.verdicts, out);
        let Some(copy) = self.copy_for(&msg.origin, msg.generation) else {
            return Taken::Nothing;
        };
        if copy.exact && copy.table.head >= msg.head {
            return Taken::Nothing;
        }
        let from = if copy.exact { copy.table.head } else { 0 };
        copy.table = Table::from_msg(msg);
        copy.exact = true;
        copy.pending.retain(|since, _| *since >= msg.head);
        let health: Vec<(ServiceId, bool)> =
            copy.table.health().map(|(s, h)| (s.clone(), h)).collect();
        self.emit_health(&msg.origin, health.iter().map(|(s, h)| (s, *h)), out);
        self.emit_peer(&msg.origin, out);
        Taken::Advanced { from }
    }

    /// Takes in a v1 origin state: its verdicts if newer, the rest only if
    /// we hold no exact copy of that origin with content.
    pub fn v1(&mut self, origin: &OriginState, out: &mut Vec<Output>) -> bool {
        let version = Version {
            generation: origin.generation,
            head: origin.seq,
        };
        self.verdicts(&origin.site, version, &origin.verdicts, out);
        let Some(copy) = self.copy_for(&origin.site, origin.generation) else {
            return false;
        };
        let newer = !copy.exact && origin.seq > copy.table.head;
        let empty = copy.exact && copy.table.head == 0;
        if !(newer || empty) {
            return false;
        }
        copy.exact = false;
        // No per-entry seqs in v1: the copy is rebuilt with our own stamps
        // (it is never the base of a delta). A v1 state without a shared
        // state or with fewer services (a member sparing an old peer)
        // keeps what we knew.
        let old = std::mem::replace(&mut copy.table, Table::new(origin.generation));
        let t = &mut copy.table;
        if let Some(shared) = origin.shared.clone().or_else(|| old.shared()) {
            t.set_shared(&shared);
        }
        let health = old
            .health()
            .map(|(s, h)| (s.clone(), h))
            .chain(origin.health.iter().cloned());
        for (service, healthy) in health.collect::<Vec<_>>() {
            t.set(Key::Health(service), Some(Value::Health(healthy)));
        }
        t.base = origin.seq;
        copy.table.head = origin.seq;
        self.emit_health(
            &origin.site,
            origin.health.iter().map(|(s, h)| (s, *h)),
            out,
        );
        if origin.shared.is_some() {
            self.emit_peer(&origin.site, out);
        }
        true
    }

    pub fn leaving(&self, site: &SiteId) -> bool {
        self.copies.get(site).is_some_and(|c| c.table.leaving())
    }

    fn emit_verdicts(
        &mut self,
        origin: &SiteId,
        verdicts: &[(SiteId, Liveness)],
        out: &mut Vec<Output>,
    ) {
        for (subject, l) in verdicts {
            let key = (origin.clone(), subject.clone());
            if is_news(&mut self.emitted_verdicts, key, *l) {
                out.push(Output::Event(Box::new(Event::Verdict {
                    observer: origin.clone(),
                    subject: subject.clone(),
                    liveness: *l,
                })));
            }
        }
    }

    fn emit_health<'a>(
        &mut self,
        origin: &SiteId,
        health: impl Iterator<Item = (&'a ServiceId, bool)>,
        out: &mut Vec<Output>,
    ) {
        for (service, healthy) in health {
            let key = (origin.clone(), service.clone());
            if is_news(&mut self.emitted_health, key, healthy) {
                out.push(Output::Event(Box::new(Event::Health {
                    site: origin.clone(),
                    service: service.clone(),
                    healthy,
                })));
            }
        }
    }

    /// Every newer publication, changed or not: it shows the origin's
    /// placements as of now, which is what an engine that was fenced waits
    /// for before it claims anything again.
    fn emit_peer(&self, origin: &SiteId, out: &mut Vec<Output>) {
        if let Some(state) = self.copies.get(origin).and_then(|c| c.table.shared()) {
            out.push(Output::Event(Box::new(Event::Peer {
                from: origin.clone(),
                state,
            })));
        }
    }
}

/// Records `value` as the last one emitted for `key`; whether it differs
/// from the one before (each change becomes one event).
fn is_news<K: Ord, V: PartialEq + Copy>(emitted: &mut BTreeMap<K, V>, key: K, value: V) -> bool {
    emitted.insert(key, value) != Some(value)
}
