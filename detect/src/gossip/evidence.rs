//! What this member's own detectors have told it about the other members,
//! kept over time: when each last spoke to us directly (its silence), the
//! other local detectors (Serf, BFD, an external feed with its lease), the
//! data-plane probes and the links toward each site. The verdict rule
//! (`verdict.rs`) reads a snapshot of it.

use std::collections::BTreeMap;
use std::time::Duration;

use orbit_core::{Liveness, SiteId};

use super::verdict::Source;

#[derive(Debug, Default)]
pub(super) struct Evidence {
    /// When each member last spoke to us directly (an authenticated packet
    /// from its address, or its BFD session seen Up), on our running time:
    /// a stall of our own loop does not count as their silence.
    last_heard: BTreeMap<SiteId, Duration>,
    dataplane: BTreeMap<SiteId, bool>,
    links: BTreeMap<String, (Vec<SiteId>, bool)>,
    sources: BTreeMap<SiteId, BTreeMap<Source, Liveness>>,
    /// When the external detector last reported each site.
    external_at: BTreeMap<SiteId, Duration>,
    /// When each member's BFD session last went from Up to not Up.
    bfd_lost_at: BTreeMap<SiteId, Duration>,
}

impl Evidence {
    pub fn heard(&mut self, site: SiteId, at: Duration) {
        let last = self.last_heard.entry(site).or_insert(at);
        *last = (*last).max(at);
    }

    /// Our own loop was frozen for `gap` until `now`: whatever the others
    /// sent meanwhile waits in our socket, so that time is not their silence.
    pub fn stalled(&mut self, gap: Duration, now: Duration) {
        for heard in self.last_heard.values_mut() {
            *heard = (*heard + gap).min(now);
        }
    }

    /// How long `site` has not spoken to us directly, counted from `start`
    /// if it never has. A BFD session that is Up is the member speaking
    /// right now.
    pub fn silence(&self, site: &SiteId, start: Duration, now: Duration) -> Duration {
        if self.bfd_up(site) {
            return Duration::ZERO;
        }
        let since = self.last_heard.get(site).copied().unwrap_or(start);
        now.saturating_sub(since)
    }

    /// Whether `site`'s current silence began while its BFD session was Up
    /// (nothing heard from it since the session went down), so the short
    /// BFD-derived fencing timers may judge it. A silence that began with
    /// the session already down (it never came up, or it is in its slow
    /// start after a Down, which takes a second or more) is judged by
    /// gossip's timers: otherwise a false BFD Down under loss followed by a
    /// few lost gossip packets would fence a healthy member.
    pub fn silence_vouched_by_bfd(&self, site: &SiteId) -> bool {
        self.bfd_up(site)
            || match (self.bfd_lost_at.get(site), self.last_heard.get(site)) {
                (Some(lost), Some(heard)) => lost >= heard,
                (Some(_), None) => true,
                (None, _) => false,
            }
    }

    /// Whether `site`'s BFD session is Up now.
    fn bfd_up(&self, site: &SiteId) -> bool {
        self.sources
            .get(site)
            .and_then(|s| s.get(&Source::Bfd))
            .is_some_and(|l| *l == Liveness::Alive)
    }

    pub fn set_link(&mut self, interface: String, sites: Vec<SiteId>, up: bool) {
        self.links.insert(interface, (sites, up));
    }

    /// Carrier of every watched local interface toward `site`.
    pub fn links_toward(&self, site: &SiteId) -> Vec<bool> {
        self.links
            .values()
            .filter(|(sites, _)| sites.contains(site))
            .map(|(_, up)| *up)
            .collect()
    }

    pub fn set_dataplane(&mut self, site: SiteId, reachable: bool) {
        self.dataplane.insert(site, reachable);
    }

    pub fn dataplane(&self) -> &BTreeMap<SiteId, bool> {
        &self.dataplane
    }

    pub fn sources(&self) -> &BTreeMap<SiteId, BTreeMap<Source, Liveness>> {
        &self.sources
    }

    /// Records (or with `None` withdraws) `source`'s view of `site` at
    /// `now`. `bfd_detect` is the BFD detection time of member sessions.
    pub fn set_source(
        &mut self,
        source: Source,
        site: SiteId,
        liveness: Option<Liveness>,
        now: Duration,
        bfd_detect: Duration,
    ) {
        let known = self.sources.entry(site.clone()).or_default();
        let was_up = known.get(&Source::Bfd) == Some(&Liveness::Alive);
        match liveness {
            Some(l) => known.insert(source, l),
            None => known.remove(&source),
        };
        if source == Source::External {
            match liveness {
                Some(_) => self.external_at.insert(site.clone(), now),
                None => self.external_at.remove(&site),
            };
        }
        if source == Source::Bfd && was_up && liveness != Some(Liveness::Alive) {
            // BFD stays Up while packets arrive within its detection time:
            // the last one came about that long ago.
            self.heard(site.clone(), now.saturating_sub(bfd_detect));
            self.bfd_lost_at.insert(site, now);
        }
    }

    /// Withdraws the external detector's verdicts it has not repeated for
    /// `ttl`. Some input arrives at least every probe interval (the
    /// self-check), so a verdict outlives its lease by at most that.
    /// Whether one expired.
    pub fn expire_external(&mut self, now: Duration, ttl: Duration) -> bool {
        let expired: Vec<SiteId> = self
            .external_at
            .iter()
            .filter(|(_, at)| now.saturating_sub(**at) >= ttl)
            .map(|(site, _)| site.clone())
            .collect();
        let any = !expired.is_empty();
        for site in expired {
            self.external_at.remove(&site);
            if let Some(l) = self
                .sources
                .get_mut(&site)
                .and_then(|s| s.remove(&Source::External))
            {
                tracing::info!(%site, liveness = ?l, ?ttl, "external verdict expired: the feeder did not repeat it");
            }
        }
        any
    }
}
