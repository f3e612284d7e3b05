//! The SWIM runtime: foca behind orbit's envelope, with Lifeguard's scaled
//! timers and the foca 2.0.0 workarounds:
//! - a suspect-to-down timer is dropped unless the member is still Suspect
//!   with the same incarnation (otherwise foca tells a member that refuted
//!   the suspicion that it is down);
//! - the join announce is repeated until a member is known, and repeated to
//!   configured peers foca does not know;
//! - identities carry a generation (`identity.rs`) so a falsely-downed
//!   member rejoins at once under a new one.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

use foca::{Foca, NoCustomBroadcast, OwnedNotification, PostcardCodec, Runtime, State, Timer};
use orbit_core::SiteId;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::core::{GossipTimer, Output};
use super::selfaware::SelfAwareness;
use super::settings::Timers;
use super::status::Counters;
use super::verdict::DaemonState;
use crate::auth::{AuthKey, PacketKind};
use crate::identity::Member;

type FocaMember = Foca<Member, PostcardCodec, SmallRng, NoCustomBroadcast>;

/// What a SWIM step writes to: packets and timers go to `out`, sealed with
/// `key`; notifications update `counters` and Lifeguard.
pub(super) struct Ctx<'a> {
    pub key: &'a AuthKey,
    pub out: &'a mut Vec<Output>,
    pub counters: &'a mut Counters,
    pub self_aware: &'a mut SelfAwareness,
}

/// This member's SWIM state.
pub(super) struct Swim {
    foca: FocaMember,
    /// Sites whose daemon we have seen at least once.
    seen: BTreeSet<SiteId>,
    announce_ticks: u64,
}

impl Swim {
    pub fn new(identity: Member, timers: &Timers, rng_seed: u64) -> Self {
        Swim {
            foca: Foca::new(
                identity,
                timers.foca_config(),
                SmallRng::seed_from_u64(rng_seed),
                PostcardCodec,
            ),
            seen: BTreeSet::new(),
            announce_ticks: 0,
        }
    }

    pub fn identity(&self) -> &Member {
        self.foca.identity()
    }

    /// foca 2.0.0 announces once and never retries (fact 2 of the issue):
    /// announce to every peer while nobody is known (or when `all`), and to
    /// peers foca has no record of at all.
    pub fn announce(&mut self, peers: &[(SiteId, SocketAddr)], all: bool, mut ctx: Ctx<'_>) {
        let known: BTreeSet<SocketAddr> = self
            .foca
            .iter_membership_state()
            .map(|m| m.id().addr)
            .collect();
        let targets = peers
            .iter()
            .filter(|(_, addr)| all || !known.contains(addr));
        for (site, addr) in targets {
            // foca ignores the destination's generation: any will do.
            let dst = Member::new(*addr, site.clone(), 0);
            ctx.counters.announces += 1;
            let result = self.run(&mut ctx, |foca, rt| foca.announce(dst, rt));
            if let Err(e) = result {
                tracing::debug!(error = %e, %addr, "announce failed");
            }
        }
    }

    /// The periodic announce: to everyone while alone, otherwise to the
    /// peers foca forgot, every fifth period.
    pub fn announce_tick(&mut self, peers: &[(SiteId, SocketAddr)], ctx: Ctx<'_>) {
        self.announce_ticks += 1;
        if self.foca.num_members() == 0 {
            self.announce(peers, true, ctx);
        } else if self.announce_ticks % 5 == 0 {
            self.announce(peers, false, ctx);
        }
    }

    /// An authenticated SWIM packet from `from`.
    pub fn handle_data(&mut self, from: SocketAddr, body: &[u8], mut ctx: Ctx<'_>) {
        if let Err(e) = self.run(&mut ctx, |foca, rt| foca.handle_data(body, rt)) {
            ctx.counters.swim_rejected += 1;
            tracing::debug!(%from, error = %e, "foca rejected packet");
        }
    }

    pub fn handle_timer(&mut self, timer: Timer<Member>, mut ctx: Ctx<'_>) {
        if let Timer::ChangeSuspectToDown {
            member_id,
            incarnation,
            ..
        } = &timer
        {
            // foca 2.0.0 fact 1: only condemn a member that is still Suspect
            // with the incarnation the timer was set for.
            let still_suspect = self.foca.iter_membership_state().any(|m| {
                m.id() == member_id
                    && m.state() == State::Suspect
                    && m.incarnation() == *incarnation
            });
            if !still_suspect {
                ctx.counters.stale_suspect_timers += 1;
                return;
            }
        }
        if let Err(e) = self.run(&mut ctx, |foca, rt| foca.handle_timer(timer, rt)) {
            tracing::debug!(error = %e, "foca timer");
        }
    }

    /// What SWIM says about `site`'s daemon: its latest identity's state.
    pub fn daemon_state(&self, site: &SiteId) -> DaemonState {
        let best = self
            .foca
            .iter_membership_state()
            .filter(|m| &m.id().site == site)
            .max_by_key(|m| (m.id().generation, m.incarnation()));
        DaemonStates::state(best.map(|m| m.state()), &self.seen, site)
    }

    /// What SWIM says about every site's daemon, from one pass over the
    /// membership (the core asks about every peer after every input).
    pub fn daemon_states(&self) -> DaemonStates<'_> {
        let mut best: BTreeMap<&SiteId, ((u64, u16), State)> = BTreeMap::new();
        for m in self.foca.iter_membership_state() {
            let rank = (m.id().generation, m.incarnation());
            let entry = best.entry(&m.id().site).or_insert((rank, m.state()));
            // The last of equals wins, as with `max_by_key`.
            if rank >= entry.0 {
                *entry = (rank, m.state());
            }
        }
        DaemonStates {
            best,
            seen: &self.seen,
        }
    }

    /// Runs one foca call with a runtime writing to `ctx`, then takes in
    /// the notifications it raised.
    fn run<T>(
        &mut self,
        ctx: &mut Ctx<'_>,
        call: impl FnOnce(&mut FocaMember, &mut Collect<'_>) -> T,
    ) -> T {
        let mut notes = Vec::new();
        let mut rt = Collect {
            key: ctx.key,
            out: ctx.out,
            notes: &mut notes,
            counters: ctx.counters,
            scale: ctx.self_aware.scale(),
        };
        let result = call(&mut self.foca, &mut rt);
        self.take_notes(notes, ctx);
        result
    }

    fn take_notes(&mut self, notes: Vec<OwnedNotification<Member>>, ctx: &mut Ctx<'_>) {
        for note in notes {
            match note {
                OwnedNotification::MemberUp(m) => {
                    tracing::debug!(member = ?m, "member up");
                    self.seen.insert(m.site);
                }
                OwnedNotification::MemberDown(m) => {
                    tracing::debug!(member = ?m, "member down");
                }
                OwnedNotification::Rename(old, new) => {
                    tracing::debug!(?old, ?new, "member renamed");
                    self.seen.insert(new.site);
                }
                OwnedNotification::Defunct => {
                    ctx.counters.declared_down += 1;
                    ctx.self_aware.declared_down();
                    tracing::info!("the cluster declared us down; rejoining");
                }
                OwnedNotification::Rejoin(id) => {
                    tracing::info!(
                        generation = id.generation,
                        "rejoined under a new generation"
                    );
                }
                OwnedNotification::Active => tracing::debug!("gossip active"),
                OwnedNotification::Idle => tracing::debug!("gossip idle: no member known"),
                _ => {}
            }
        }
    }
}

/// SWIM's view of every daemon at one instant ([`Swim::daemon_states`]).
pub(super) struct DaemonStates<'a> {
    /// Per site, its latest identity's (generation, incarnation) and state.
    best: BTreeMap<&'a SiteId, ((u64, u16), State)>,
    seen: &'a BTreeSet<SiteId>,
}

impl DaemonStates<'_> {
    /// As [`Swim::daemon_state`].
    pub fn get(&self, site: &SiteId) -> DaemonState {
        Self::state(self.best.get(site).map(|(_, s)| *s), self.seen, site)
    }

    fn state(latest: Option<State>, seen: &BTreeSet<SiteId>, site: &SiteId) -> DaemonState {
        match latest {
            Some(State::Alive) => DaemonState::Alive,
            Some(State::Suspect) => DaemonState::Suspect,
            Some(State::Down) => DaemonState::Down,
            None if seen.contains(site) => DaemonState::Down,
            None => DaemonState::Unknown,
        }
    }
}

/// The foca runtime: seals and collects what foca wants done.
struct Collect<'a> {
    key: &'a AuthKey,
    out: &'a mut Vec<Output>,
    notes: &'a mut Vec<OwnedNotification<Member>>,
    counters: &'a mut Counters,
    scale: u32,
}

impl Runtime<Member> for Collect<'_> {
    fn notify(&mut self, notification: foca::Notification<'_, Member>) {
        self.notes.push(notification.to_owned());
    }

    fn send_to(&mut self, to: Member, data: &[u8]) {
        self.counters.packets_out += 1;
        self.out.push(Output::Send {
            to: to.addr,
            data: self.key.seal(PacketKind::Swim, data),
        });
    }

    fn submit_after(&mut self, timer: Timer<Member>, after: Duration) {
        // Lifeguard: a member in poor local health probes, escalates and
        // condemns more slowly.
        let after = match &timer {
            Timer::ProbeRandomMember(_)
            | Timer::SendIndirectProbe { .. }
            | Timer::ChangeSuspectToDown { .. } => after * self.scale,
            _ => after,
        };
        self.out.push(Output::Schedule {
            after,
            timer: GossipTimer::Swim(timer),
        });
    }
}
