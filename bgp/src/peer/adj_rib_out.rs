//! A peer's Adj-RIB-Out (RFC 4271 §3.2): the routes the current session
//! was sent.
//!
//! It copies no prefix. It holds the desired RIB the peer was last synced
//! to, the one map the speaker and every peer share, and how this
//! session turns an [`Announce`] into path attributes ([`Sending`]: our
//! AS and the next hop of each family it sends). A prefix is in it when
//! its family is sent. A copy per peer with attributes per prefix was the
//! daemon's largest holder at 100k prefixes (issue 21), and every status
//! request cloned it.
//!
//! [`AdjRibOut::changes`] compares two of them in one ordered walk: what
//! to withdraw, and what to announce grouped by attributes (one UPDATE
//! carries many prefixes of the same attributes).

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::iter::Peekable;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

use crate::policy::{Announce, DesiredRib};
use crate::wire::{Family, RouteAttrs};

/// How a session turns an announcement into attributes: our AS and, for
/// each family, the next hop it is sent with (`None`: the family is not
/// sent on this session: not negotiated, or no next hop of its family).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Sending {
    pub asn: u32,
    pub next_hop_v4: Option<IpAddr>,
    pub next_hop_v6: Option<IpAddr>,
}

impl Sending {
    fn next_hop(&self, family: Family) -> Option<IpAddr> {
        match family {
            Family::Ipv4 => self.next_hop_v4,
            Family::Ipv6 => self.next_hop_v6,
        }
    }

    pub fn sends(&self, family: Family) -> bool {
        self.next_hop(family).is_some()
    }

    /// The attributes `a` goes out with, `None` for a family not sent.
    fn attrs(&self, a: &Announce, family: Family) -> Option<RouteAttrs> {
        Some(RouteAttrs {
            as_path: vec![self.asn; 1 + usize::from(a.prepend)],
            next_hop: self.next_hop(family)?,
            med: a.med,
            communities: a.communities.clone(),
            large_communities: a.large_communities.clone(),
        })
    }
}

/// Whether `a` and `b` give a prefix the same attributes (the role that
/// produced them does not go on the wire).
fn same_marks(a: &Announce, b: &Announce) -> bool {
    a.prepend == b.prepend
        && a.med == b.med
        && a.communities == b.communities
        && a.large_communities == b.large_communities
}

/// What a session was sent: see the module doc.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdjRibOut {
    rib: Arc<DesiredRib>,
    sending: Sending,
    len: usize,
}

/// What brings a peer from one Adj-RIB-Out to the next.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Changes {
    pub withdraw: BTreeMap<Family, Vec<IpNet>>,
    pub announce: BTreeMap<(Family, RouteAttrs), Vec<IpNet>>,
}

impl Changes {
    /// Prefixes withdrawn or announced.
    pub fn count(&self) -> usize {
        self.withdraw.values().map(Vec::len).sum::<usize>()
            + self.announce.values().map(Vec::len).sum::<usize>()
    }
}

impl AdjRibOut {
    /// The routes of `rib` that a session sending as `sending` carries.
    pub(crate) fn new(rib: Arc<DesiredRib>, sending: Sending) -> AdjRibOut {
        let len = if sending.sends(Family::Ipv4) && sending.sends(Family::Ipv6) {
            rib.len()
        } else {
            rib.keys().filter(|p| sending.sends(Family::of(p))).count()
        };
        AdjRibOut { rib, sending, len }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn contains_key(&self, prefix: &IpNet) -> bool {
        self.sending.sends(Family::of(prefix)) && self.rib.contains_key(prefix)
    }

    /// The attributes `prefix` was sent with.
    pub fn get(&self, prefix: &IpNet) -> Option<RouteAttrs> {
        let a = self.rib.get(prefix)?;
        self.sending.attrs(a, Family::of(prefix))
    }

    /// Every route sent, in prefix order (attributes made on the way).
    pub fn iter(&self) -> impl Iterator<Item = (IpNet, RouteAttrs)> + '_ {
        self.sent()
            .filter_map(|(p, a)| Some((*p, self.sending.attrs(a, Family::of(p))?)))
    }

    fn sent(&self) -> impl Iterator<Item = (&IpNet, &Arc<Announce>)> {
        self.rib
            .iter()
            .filter(|(p, _)| self.sending.sends(Family::of(p)))
    }

    /// What to withdraw and announce so that a peer holding `self` holds
    /// `next`: prefixes only `self` has are withdrawn; prefixes only
    /// `next` has, or whose attributes differ, are announced.
    pub(crate) fn changes(&self, next: &AdjRibOut) -> Changes {
        let mut changes = Changes::default();
        if Arc::ptr_eq(&self.rib, &next.rib) && self.sending == next.sending {
            return changes;
        }
        // Grouped first by announcement (attributes made once per group,
        // not per prefix), then merged by the attributes themselves.
        let mut groups: HashMap<(Family, &Announce), Vec<IpNet>> = HashMap::new();
        let mut old = self.sent().peekable();
        let mut new = next.sent().peekable();
        while let Some(next_one) = order(&mut old, &mut new) {
            let (was, now) = match next_one {
                Ordering::Less => (old.next(), None),
                Ordering::Greater => (None, new.next()),
                Ordering::Equal => (old.next(), new.next()),
            };
            match (was, now) {
                (Some((p, _)), None) => changes.withdraw.entry(Family::of(p)).or_default().push(*p),
                (was, Some((p, a))) => {
                    let family = Family::of(p);
                    let same = was.is_some_and(|(_, was)| {
                        self.sending.next_hop(family) == next.sending.next_hop(family)
                            && self.sending.asn == next.sending.asn
                            && (Arc::ptr_eq(was, a) || same_marks(was, a))
                    });
                    if !same {
                        groups.entry((family, &**a)).or_default().push(*p);
                    }
                }
                (None, None) => break,
            }
        }
        for ((family, a), prefixes) in groups {
            let Some(attrs) = next.sending.attrs(a, family) else {
                continue;
            };
            let merged = changes.announce.entry((family, attrs)).or_default();
            let sorted = merged.is_empty();
            merged.extend(prefixes);
            if !sorted {
                merged.sort_unstable();
            }
        }
        changes
    }
}

/// Which of the two ordered walks comes next: `Less` the old one, `Greater`
/// the new one, `Equal` both (the same prefix); `None` when both are done.
fn order<'a, A, B>(old: &mut Peekable<A>, new: &mut Peekable<B>) -> Option<Ordering>
where
    A: Iterator<Item = (&'a IpNet, &'a Arc<Announce>)>,
    B: Iterator<Item = (&'a IpNet, &'a Arc<Announce>)>,
{
    match (old.peek(), new.peek()) {
        (None, None) => None,
        (Some(_), None) => Some(Ordering::Less),
        (None, Some(_)) => Some(Ordering::Greater),
        (Some((a, _)), Some((b, _))) => Some(a.cmp(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbit_core::Role;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn announce(prepend: u8, role: Role) -> Arc<Announce> {
        Arc::new(Announce {
            prepend,
            med: None,
            communities: vec![],
            large_communities: vec![],
            role,
        })
    }

    fn rib(routes: &[(&str, &Arc<Announce>)]) -> Arc<DesiredRib> {
        Arc::new(
            routes
                .iter()
                .map(|(p, a)| (net(p), Arc::clone(a)))
                .collect(),
        )
    }

    fn v4_only() -> Sending {
        Sending {
            asn: 65001,
            next_hop_v4: Some("192.0.2.1".parse().unwrap()),
            next_hop_v6: None,
        }
    }

    #[test]
    fn holds_only_the_families_the_session_sends() {
        let a = announce(0, Role::Active);
        let out = AdjRibOut::new(
            rib(&[("198.51.100.1/32", &a), ("2001:db8::1/128", &a)]),
            v4_only(),
        );
        assert_eq!(out.len(), 1);
        assert!(out.contains_key(&net("198.51.100.1/32")));
        assert!(!out.contains_key(&net("2001:db8::1/128")));
        assert_eq!(out.get(&net("2001:db8::1/128")), None);
        let attrs = out.get(&net("198.51.100.1/32")).unwrap();
        assert_eq!(attrs.as_path, vec![65001]);
        assert_eq!(out.iter().count(), 1);
    }

    #[test]
    fn changes_withdraw_the_gone_and_announce_the_new_and_the_changed() {
        let active = announce(0, Role::Active);
        let standby = announce(2, Role::Standby);
        let before = AdjRibOut::new(
            rib(&[
                ("198.51.100.1/32", &active),
                ("198.51.100.2/32", &active),
                ("198.51.100.3/32", &active),
            ]),
            v4_only(),
        );
        let after = AdjRibOut::new(
            rib(&[
                ("198.51.100.2/32", &active),
                ("198.51.100.3/32", &standby),
                ("198.51.100.4/32", &active),
            ]),
            v4_only(),
        );
        let changes = before.changes(&after);
        assert_eq!(
            changes.withdraw,
            BTreeMap::from([(Family::Ipv4, vec![net("198.51.100.1/32")])])
        );
        let announced: Vec<(Vec<u32>, Vec<IpNet>)> = changes
            .announce
            .iter()
            .map(|((_, attrs), ps)| (attrs.as_path.clone(), ps.clone()))
            .collect();
        assert_eq!(
            announced,
            vec![
                (vec![65001], vec![net("198.51.100.4/32")]),
                (vec![65001; 3], vec![net("198.51.100.3/32")]),
            ]
        );
        assert_eq!(changes.count(), 3);
        assert_eq!(after.changes(&after), Changes::default());
        // The same routes built anew: nothing to send.
        let again = AdjRibOut::new(
            rib(&[
                ("198.51.100.2/32", &active),
                ("198.51.100.3/32", &standby),
                ("198.51.100.4/32", &active),
            ]),
            v4_only(),
        );
        assert_eq!(after.changes(&again), Changes::default());
    }

    #[test]
    fn announcements_that_differ_only_in_role_share_one_group_in_prefix_order() {
        let active = announce(0, Role::Active);
        let draining = announce(0, Role::Draining);
        let after = AdjRibOut::new(
            rib(&[
                ("198.51.100.1/32", &active),
                ("198.51.100.2/32", &draining),
                ("198.51.100.3/32", &active),
            ]),
            v4_only(),
        );
        let changes = AdjRibOut::default().changes(&after);
        assert_eq!(changes.announce.len(), 1);
        assert_eq!(
            changes.announce.values().next().unwrap(),
            &vec![
                net("198.51.100.1/32"),
                net("198.51.100.2/32"),
                net("198.51.100.3/32")
            ]
        );
        // A role change alone sends nothing.
        let before = AdjRibOut::new(
            rib(&[
                ("198.51.100.1/32", &active),
                ("198.51.100.2/32", &active),
                ("198.51.100.3/32", &active),
            ]),
            v4_only(),
        );
        assert_eq!(before.changes(&after), Changes::default());
    }

    #[test]
    fn a_new_next_hop_announces_everything_again() {
        let a = announce(0, Role::Active);
        let routes = rib(&[("198.51.100.1/32", &a)]);
        let before = AdjRibOut::new(routes.clone(), v4_only());
        let moved = Sending {
            next_hop_v4: Some("192.0.2.9".parse().unwrap()),
            ..v4_only()
        };
        let after = AdjRibOut::new(routes, moved);
        let changes = before.changes(&after);
        assert!(changes.withdraw.is_empty());
        let ((_, attrs), ps) = changes.announce.iter().next().unwrap();
        assert_eq!(attrs.next_hop, "192.0.2.9".parse::<IpAddr>().unwrap());
        assert_eq!(ps, &vec![net("198.51.100.1/32")]);
    }
}
