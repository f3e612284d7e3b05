//! The verdict rule: what this member concludes about one site from all it
//! knows at one instant (SWIM, the other local detectors, silence, the
//! data-plane probe, the links toward the site, Lifeguard).
//!
//! Pure: no state, no clock. `GossipCore` gathers the [`Facts`] and calls
//! [`site_view`] after every input; everything that decides Alive, Silent or
//! Dead is here, so a change to the rule is one diff in one small file.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::FenceTimers;
use orbit_core::Liveness;
use serde::{Deserialize, Serialize};

/// What SWIM says about a site's daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DaemonState {
    /// Never heard of (yet).
    Unknown,
    Alive,
    Suspect,
    Down,
}

/// A detector besides SWIM that tells this member whether a site's daemon
/// answers. Its view is folded into this member's verdict, which gossip
/// disseminates: so the quorum rule sees it, like SWIM's own view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A Serf agent's member list (the Serf adapter).
    Serf,
    /// A multihop BFD session to the site's daemon (RFC 5883).
    Bfd,
    /// An external detector (a monitoring system, a script) feeding this
    /// daemon through its API (`POST /v1/events`): it speaks for this
    /// member only, so its verdicts count here and nowhere else, and they
    /// expire unless repeated (`GossipSettings::external_ttl`).
    External,
}

/// The local verdict about one site, richer than `Liveness`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SiteView {
    /// Not heard of yet, still within the start-up grace.
    Unknown,
    Alive,
    Suspect,
    /// SWIM (or BFD) gave up on the daemon, but it spoke to us directly
    /// within the fence time: news of its death is stale or wrong, and it is
    /// about to refute it (a member that was declared down rejoins under a
    /// new generation).
    StillHeard,
    /// Not heard from directly for `fence_after`: out of our reach (it does
    /// not count toward our quorum), not dead either.
    Silent,
    /// The daemon is silent but the site's data plane answers: not dead.
    DaemonUnresponsive,
    /// Both down, but we distrust our own view (Lifeguard): reported Suspect.
    DoubtedDead,
    Dead,
    /// Every local interface toward the site lost carrier: Dead at once.
    LinkDown,
    /// The member announced a planned departure in its own state (its
    /// `SharedState::leaving`, from its latest generation): whatever SWIM
    /// and silence say afterwards, it is gone on purpose, not dead. A
    /// restart publishes a newer generation without the flag.
    Left,
}

impl SiteView {
    /// The snake_case name, as in `orbitctl status` and the logs.
    pub fn as_str(self) -> &'static str {
        match self {
            SiteView::Unknown => "unknown",
            SiteView::Alive => "alive",
            SiteView::Suspect => "suspect",
            SiteView::StillHeard => "still_heard",
            SiteView::Silent => "silent",
            SiteView::DaemonUnresponsive => "daemon_unresponsive",
            SiteView::DoubtedDead => "doubted_dead",
            SiteView::Dead => "dead",
            SiteView::LinkDown => "link_down",
            SiteView::Left => "left",
        }
    }

    /// The daemon stopped answering and the verdict may soon hang on the
    /// data-plane probe: the moment to probe at once rather than at the
    /// next interval, so a dead site's probe has failed by the time its
    /// silence reaches `dead_after` (one probe interval and a fall earlier).
    pub fn awaits_probe(self) -> bool {
        matches!(
            self,
            SiteView::Suspect | SiteView::StillHeard | SiteView::Silent
        )
    }

    pub fn liveness(self) -> Option<Liveness> {
        match self {
            SiteView::Unknown => None,
            SiteView::Alive => Some(Liveness::Alive),
            SiteView::Suspect
            | SiteView::StillHeard
            | SiteView::DaemonUnresponsive
            | SiteView::DoubtedDead => Some(Liveness::Suspect),
            SiteView::Silent => Some(Liveness::Silent),
            SiteView::Dead | SiteView::LinkDown => Some(Liveness::Dead),
            SiteView::Left => Some(Liveness::Left),
        }
    }
}

/// The thresholds of the rule, from the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Thresholds {
    /// Silence after which a member is out of our reach.
    pub fence_after: Duration,
    /// Silence before which nobody is dead (`fence_after + margin`).
    pub dead_after: Duration,
    /// `[detect] dead_on_silence`: SWIM suspecting a member that has been
    /// silent past `dead_after` is as good as SWIM giving up.
    pub dead_on_silence: bool,
}

impl Thresholds {
    pub fn new(fence: &FenceTimers, dead_on_silence: bool) -> Self {
        Thresholds {
            fence_after: fence.fence_after.get(),
            dead_after: fence.dead_after(),
            dead_on_silence,
        }
    }
}

/// Everything this member knows about one site at one instant.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Facts<'a> {
    /// The site's latest published state says it is leaving.
    pub leaving: bool,
    /// Carrier of every local interface toward the site (link watch); empty
    /// when none is watched.
    pub links: Vec<bool>,
    /// SWIM's view of the daemon.
    pub swim: DaemonState,
    /// Whether the start-up grace for never-seen members is over.
    pub grace_over: bool,
    /// What the other local detectors say about the daemon.
    pub sources: Option<&'a BTreeMap<Source, Liveness>>,
    /// How long the member has not spoken to us directly.
    pub silence: Duration,
    /// The site's data-plane probe: `None` if the site is not probed.
    pub probe: Option<Probe>,
    /// Lifeguard: our own suspicions are not to be trusted right now.
    pub distrust_own: bool,
}

/// The data-plane probe of a probed site (after rise/fall).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Probe {
    /// No result yet.
    Pending,
    Reachable,
    Unreachable,
}

impl Probe {
    pub fn from_result(reachable: Option<bool>) -> Self {
        match reachable {
            None => Probe::Pending,
            Some(true) => Probe::Reachable,
            Some(false) => Probe::Unreachable,
        }
    }
}

/// The verdict about one site.
pub(crate) fn site_view(facts: &Facts<'_>, rule: &Thresholds) -> SiteView {
    if facts.leaving {
        return SiteView::Left;
    }
    if !facts.links.is_empty() && facts.links.iter().all(|up| !up) {
        return SiteView::LinkDown;
    }
    let daemon = match facts.swim {
        DaemonState::Unknown if facts.grace_over => DaemonState::Down,
        DaemonState::Unknown => return SiteView::Unknown,
        d => d,
    };
    let daemon = with_sources(daemon, facts.sources);
    if facts.silence < rule.fence_after {
        return match daemon {
            DaemonState::Alive => SiteView::Alive,
            DaemonState::Suspect => SiteView::Suspect,
            DaemonState::Unknown | DaemonState::Down => SiteView::StillHeard,
        };
    }
    // Nobody is voted dead before the member has been silent for
    // `fence_after + margin`: by then, if it is the one cut off, it has
    // fenced itself. After that, SWIM suspecting it is as good as SWIM
    // giving up (which takes a suspicion longer: every cut longer than
    // `fence_after` but shorter than that would fence the site without
    // anyone taking over). While SWIM still hears it through other
    // members, it is only silent to us. The data-plane check and
    // Lifeguard still apply.
    let given_up = match daemon {
        DaemonState::Unknown | DaemonState::Down => true,
        DaemonState::Suspect => rule.dead_on_silence,
        DaemonState::Alive => false,
    };
    if facts.silence < rule.dead_after || !given_up {
        return SiteView::Silent;
    }
    // No probe result yet counts as reachable: never condemn a site on
    // missing evidence.
    let data_plane_down = matches!(facts.probe, None | Some(Probe::Unreachable));
    if !data_plane_down {
        SiteView::DaemonUnresponsive
    } else if facts.distrust_own {
        SiteView::DoubtedDead
    } else {
        SiteView::Dead
    }
}

/// SWIM's view of the daemon made worse by any other local detector that
/// sees worse: the fastest detector of a dead daemon wins, while the
/// data-plane check and Lifeguard still apply after it.
fn with_sources(swim: DaemonState, sources: Option<&BTreeMap<Source, Liveness>>) -> DaemonState {
    let rank = |d: DaemonState| match d {
        DaemonState::Alive => 0,
        DaemonState::Suspect => 1,
        DaemonState::Unknown | DaemonState::Down => 2,
    };
    let mut worst = swim;
    for l in sources.into_iter().flat_map(|m| m.values()) {
        let d = match l {
            Liveness::Alive => DaemonState::Alive,
            Liveness::Suspect | Liveness::Silent => DaemonState::Suspect,
            Liveness::Dead | Liveness::Left => DaemonState::Down,
        };
        if rank(d) > rank(worst) {
            worst = d;
        }
    }
    worst
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: Thresholds = Thresholds {
        fence_after: Duration::from_millis(300),
        dead_after: Duration::from_millis(400),
        dead_on_silence: true,
    };
    const HEARD: Duration = Duration::from_millis(100);

    #[test]
    fn names_in_logs_are_the_names_in_status() {
        use SiteView::*;
        for view in [
            Unknown,
            Alive,
            Suspect,
            StillHeard,
            Silent,
            DaemonUnresponsive,
            DoubtedDead,
            Dead,
            LinkDown,
            Left,
        ] {
            assert_eq!(serde_json::json!(view), view.as_str());
        }
    }
    const SILENT: Duration = Duration::from_millis(350);
    const GONE: Duration = Duration::from_millis(500);

    /// A site whose daemon SWIM sees alive and that spoke just now.
    fn alive() -> Facts<'static> {
        Facts {
            leaving: false,
            links: Vec::new(),
            swim: DaemonState::Alive,
            grace_over: true,
            sources: None,
            silence: HEARD,
            probe: None,
            distrust_own: false,
        }
    }

    /// A site whose daemon SWIM gave up on, silent past `dead_after`.
    fn lost() -> Facts<'static> {
        Facts {
            swim: DaemonState::Down,
            silence: GONE,
            ..alive()
        }
    }

    fn view(facts: Facts<'_>) -> SiteView {
        site_view(&facts, &RULE)
    }

    #[test]
    fn a_lost_daemon_with_no_probe_is_dead() {
        assert_eq!(view(alive()), SiteView::Alive);
        assert_eq!(view(lost()), SiteView::Dead);
    }

    #[test]
    fn a_planned_departure_beats_every_other_fact() {
        let links = vec![false];
        assert_eq!(
            view(Facts {
                leaving: true,
                links,
                ..lost()
            }),
            SiteView::Left
        );
    }

    #[test]
    fn every_link_down_is_dead_at_once_but_one_up_link_is_not() {
        let down = Facts {
            links: vec![false, false],
            ..alive()
        };
        assert_eq!(view(down), SiteView::LinkDown);
        let one_up = Facts {
            links: vec![false, true],
            ..alive()
        };
        assert_eq!(view(one_up), SiteView::Alive);
    }

    #[test]
    fn a_never_seen_member_is_unknown_until_the_grace_is_over() {
        let unknown = Facts {
            swim: DaemonState::Unknown,
            silence: GONE,
            ..alive()
        };
        assert_eq!(
            view(Facts {
                grace_over: false,
                ..unknown.clone()
            }),
            SiteView::Unknown
        );
        assert_eq!(view(unknown), SiteView::Dead);
    }

    #[test]
    fn a_member_that_speaks_is_never_worse_than_suspect() {
        for (swim, expected) in [
            (DaemonState::Alive, SiteView::Alive),
            (DaemonState::Suspect, SiteView::Suspect),
            (DaemonState::Down, SiteView::StillHeard),
        ] {
            let facts = Facts {
                swim,
                silence: HEARD,
                probe: Some(Probe::Unreachable),
                ..alive()
            };
            assert_eq!(view(facts), expected, "{swim:?}");
        }
    }

    #[test]
    fn nobody_is_dead_before_fence_after_plus_margin() {
        let silent = Facts {
            silence: SILENT,
            ..lost()
        };
        assert_eq!(view(silent), SiteView::Silent);
    }

    #[test]
    fn silence_alone_does_not_condemn_a_member_swim_still_hears() {
        let facts = Facts {
            silence: GONE,
            ..alive()
        };
        assert_eq!(view(facts), SiteView::Silent);
    }

    #[test]
    fn a_suspect_silent_member_is_dead_only_with_dead_on_silence() {
        let suspect = Facts {
            swim: DaemonState::Suspect,
            ..lost()
        };
        assert_eq!(view(suspect.clone()), SiteView::Dead);
        let rule = Thresholds {
            dead_on_silence: false,
            ..RULE
        };
        assert_eq!(site_view(&suspect, &rule), SiteView::Silent);
    }

    #[test]
    fn a_data_plane_that_answers_or_has_not_answered_yet_saves_the_site() {
        for (probe, expected) in [
            (Probe::Reachable, SiteView::DaemonUnresponsive),
            (Probe::Pending, SiteView::DaemonUnresponsive),
            (Probe::Unreachable, SiteView::Dead),
        ] {
            let facts = Facts {
                probe: Some(probe),
                ..lost()
            };
            assert_eq!(view(facts), expected, "{probe:?}");
        }
    }

    #[test]
    fn lifeguard_doubt_turns_dead_into_doubted_dead() {
        let facts = Facts {
            distrust_own: true,
            ..lost()
        };
        assert_eq!(view(facts), SiteView::DoubtedDead);
        assert_eq!(SiteView::DoubtedDead.liveness(), Some(Liveness::Suspect));
    }

    #[test]
    fn the_worst_source_wins_over_swim_but_never_improves_it() {
        let bfd_down = BTreeMap::from([(Source::Bfd, Liveness::Dead)]);
        let facts = Facts {
            sources: Some(&bfd_down),
            silence: GONE,
            ..alive()
        };
        assert_eq!(view(facts), SiteView::Dead);
        let external_alive = BTreeMap::from([(Source::External, Liveness::Alive)]);
        let facts = Facts {
            sources: Some(&external_alive),
            ..lost()
        };
        assert_eq!(view(facts), SiteView::Dead);
        let serf_silent = BTreeMap::from([(Source::Serf, Liveness::Silent)]);
        let facts = Facts {
            sources: Some(&serf_silent),
            ..alive()
        };
        assert_eq!(view(facts), SiteView::Suspect);
    }

    #[test]
    fn views_map_onto_the_engine_liveness() {
        assert_eq!(SiteView::Unknown.liveness(), None);
        assert_eq!(SiteView::StillHeard.liveness(), Some(Liveness::Suspect));
        assert_eq!(SiteView::Silent.liveness(), Some(Liveness::Silent));
        assert_eq!(SiteView::LinkDown.liveness(), Some(Liveness::Dead));
        assert_eq!(SiteView::Left.liveness(), Some(Liveness::Left));
    }
}
