//! The servers of a site the cluster declared dead: which HAProxy backends
//! orbit holds in maintenance, which servers it puts back, and the record
//! of the servers it forced (pure; `runtime::dead_site` does the I/O).
//!
//! Why at all: a map commit steers only new requests. Requests in flight to
//! a dead site's servers, and the idle server connections HAProxy reuses,
//! hang until `timeout server` / `timeout connect` (the lab measured
//! 630 ms of outage where BGP needed 3-6 ms). A server in maint with its
//! sessions shut fails them at once, and HAProxy's `retries` +
//! `option redispatch` send a retried connection to a usable server.
//!
//! Why a record: HAProxy shows one "forced maint" bit for every `set server
//! .. state maint`, whoever sent it, so it cannot tell orbit's maint from an
//! operator's. orbit writes down each server it moved into maint itself and
//! puts back only those, never one that was already in maint.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use orbit_core::{Role, ServiceId, Steering};

use crate::command::ServerState;
use crate::plan::{Entry, Layout};

/// `srv_admin_state` bit of a maint forced from the runtime API (or by the
/// config's `disabled`, which sets it too).
pub(crate) const FORCED_MAINT: u32 = 0x01;
/// `srv_admin_state` bit of a drain forced from the runtime API.
pub(crate) const FORCED_DRAIN: u32 = 0x08;

/// Servers orbit forced into maint, each with the state it goes back to:
/// `drain` if it was drained (by orbit's `drain` or an operator) when
/// forced, since `set server .. state ready` would lift that too.
pub(crate) type Record = BTreeMap<ServerRef, ServerState>;

/// The state a server in `admin_state` goes back to after orbit's maint.
pub(crate) fn prior_state(admin_state: u32) -> ServerState {
    if admin_state & FORCED_DRAIN != 0 {
        ServerState::Drain
    } else {
        ServerState::Ready
    }
}

/// One HAProxy server, `backend/server`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ServerRef {
    pub backend: String,
    pub server: String,
}

impl fmt::Display for ServerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.backend, self.server)
    }
}

/// Backends whose servers must be held in maint under `steering`, with the
/// service that wants it (for logs): for every service the local site
/// carries while another of its sites is declared dead (`takeover`), the
/// backends of the service's other sites. The steering does not say which
/// other site is dead; with two sites it is the other one, with more the
/// healthy ones are held too, which costs nothing because the map sends
/// them nothing. Never a backend the map points at (`entries`: a service
/// that stays there shares it) nor the no-site backend.
pub(crate) fn held_backends(
    layout: &Layout,
    steering: &Steering,
    entries: &[Entry],
) -> BTreeMap<String, ServiceId> {
    let targets = map_targets(layout, entries);
    let mut held = BTreeMap::new();
    for svc in &layout.services {
        let Some(s) = steering.services.get(&svc.id) else {
            continue;
        };
        if !(s.takeover && s.local_role == Role::Active) {
            continue;
        }
        for (site, backend) in &svc.backends {
            if Some(site) != s.active.as_ref() && !targets.contains(backend.as_str()) {
                held.entry(backend.clone())
                    .or_insert_with(|| svc.id.clone());
            }
        }
    }
    held
}

/// Backends the map will point at, and the no-site backend: never held.
pub(crate) fn map_targets<'a>(layout: &'a Layout, entries: &'a [Entry]) -> BTreeSet<&'a str> {
    entries
        .iter()
        .map(|e| e.backend.as_str())
        .chain(layout.no_site_backend.as_deref())
        .collect()
}

/// Recorded servers to put back to ready before the map commit: this
/// orbitd's own whose backend is no longer held (the site is no longer
/// declared dead), and anyone's in a backend the map is about to point at
/// (another orbitd driving the same HAProxy may have forced them and died
/// since; a failback must never land on servers orbit left in maint).
pub(crate) fn to_release(
    own: &Record,
    others: &Record,
    held: &BTreeMap<String, ServiceId>,
    targets: &BTreeSet<&str>,
) -> Record {
    let own_released = own.iter().filter(|(s, _)| !held.contains_key(&s.backend));
    let in_targets = others
        .iter()
        .chain(own)
        .filter(|(s, _)| targets.contains(s.backend.as_str()));
    own_released
        .chain(in_targets)
        .map(|(s, state)| (s.clone(), *state))
        .collect()
}

/// What to do with one server of a held backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hold {
    /// Record it, `set server .. state maint`, shut its sessions: it is not
    /// in maint (also when it left orbit's maint: HAProxy restarted without
    /// a server-state file), or it is in this orbitd's record but this
    /// process never saw both commands succeed (an apply that failed
    /// half-way, or a restart in between): sending them again is harmless.
    Force,
    /// Held by this orbitd, confirmed: nothing to do.
    Held,
    /// In maint, but not in this orbitd's record (an operator, the config's
    /// `disabled`, or another orbitd, which records it itself): left alone.
    NotOurs,
}

/// `recorded`: in this orbitd's record; `confirmed`: this process saw its
/// maint and session shutdown succeed.
pub(crate) fn hold(admin_state: u32, recorded: bool, confirmed: bool) -> Hold {
    match (admin_state & FORCED_MAINT != 0, recorded, confirmed) {
        (false, _, _) => Hold::Force,
        (true, true, true) => Hold::Held,
        (true, true, false) => Hold::Force,
        (true, false, _) => Hold::NotOurs,
    }
}

/// A released server is put back to ready only if still in forced maint;
/// otherwise someone (or a HAProxy restart) already did, and only the
/// record entry goes.
pub(crate) fn needs_ready(admin_state: u32) -> bool {
    admin_state & FORCED_MAINT != 0
}

/// Record file text (`backend/server`, then ` drain` for a server that
/// goes back to drain) -> record; other lines are returned as problems
/// (line number, line) and otherwise ignored: a forgotten server stays in
/// maint, the safe side.
pub(crate) fn parse_record(text: &str) -> (Record, Vec<(usize, String)>) {
    let mut servers = Record::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let server = words.next().and_then(|w| w.split_once('/'));
        let state = match (words.next(), words.next()) {
            (None, _) => Some(ServerState::Ready),
            (Some("drain"), None) => Some(ServerState::Drain),
            _ => None,
        };
        match (server, state) {
            (Some((b, s)), Some(state)) if !b.is_empty() && !s.is_empty() && !s.contains('/') => {
                let r = ServerRef {
                    backend: b.to_owned(),
                    server: s.to_owned(),
                };
                servers.insert(r, state);
            }
            _ => bad.push((i + 1, line.to_owned())),
        }
    }
    (servers, bad)
}

pub(crate) fn render_record(servers: &Record) -> String {
    let mut s = String::from(
        "# written by orbitd: servers it put in maint because their site was declared dead;\n\
         # it puts exactly these back (to ready, or to drain if so marked) once the site is\n\
         # no longer declared dead.\n",
    );
    for (srv, state) in servers {
        s.push_str(&srv.to_string());
        if *state == ServerState::Drain {
            s.push_str(" drain");
        }
        s.push('\n');
    }
    s
}

/// `a/x, b/y` for logs and the apply's detail.
pub(crate) fn list<'a>(servers: impl IntoIterator<Item = &'a ServerRef>) -> String {
    servers
        .into_iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ServiceMap;
    use orbit_core::{ServiceSteering, SiteId};

    fn site(s: &str) -> SiteId {
        SiteId::new(s).unwrap()
    }
    fn id(s: &str) -> ServiceId {
        ServiceId::new(s).unwrap()
    }
    fn srv(b: &str, s: &str) -> ServerRef {
        ServerRef {
            backend: b.to_owned(),
            server: s.to_owned(),
        }
    }

    /// web and db on sites a and b; db shares web's backend on b.
    fn layout() -> Layout {
        let svc = |name: &str, a: &str, b: &str| ServiceMap {
            id: id(name),
            key: name.to_owned(),
            backends: [(site("a"), a.to_owned()), (site("b"), b.to_owned())].into(),
        };
        Layout {
            services: vec![svc("web", "web_a", "web_b"), svc("db", "db_a", "web_b")],
            no_site_backend: Some("none".to_owned()),
        }
    }

    /// Local site b; each service: (active, role, takeover).
    fn steering(web: (Option<&str>, Role, bool), db: (Option<&str>, Role, bool)) -> Steering {
        let s = |(active, local_role, takeover): (Option<&str>, Role, bool)| ServiceSteering {
            prefixes: vec![],
            active: active.map(site),
            epoch: 0,
            local_role,
            takeover,
        };
        Steering {
            generation: 1,
            local_site: site("b"),
            fenced: false,
            observe_only: false,
            services: [(id("web"), s(web)), (id("db"), s(db))].into(),
        }
    }

    fn held(st: &Steering) -> Vec<String> {
        let l = layout();
        let entries = l.desired(st).unwrap();
        held_backends(&l, st, &entries).into_keys().collect()
    }

    #[test]
    fn a_takeover_holds_the_other_sites_backends() {
        let st = steering(
            (Some("b"), Role::Active, true),
            (Some("b"), Role::Active, true),
        );
        assert_eq!(held(&st), vec!["db_a", "web_a"]);
    }

    #[test]
    fn without_takeover_or_when_not_active_nothing_is_held() {
        for st in [
            steering(
                (Some("b"), Role::Active, false),
                (Some("b"), Role::Active, false),
            ),
            // A standby never holds anything, whatever the flag says.
            steering(
                (Some("a"), Role::Standby, true),
                (Some("a"), Role::Standby, false),
            ),
        ] {
            assert!(held(&st).is_empty(), "{st:?}");
        }
    }

    #[test]
    fn a_backend_the_map_points_at_is_never_held() {
        // web taken over by b (a dead); db carried by a: db_a stays usable,
        // and web_b (db's backend on b) is not held either.
        let st = steering(
            (Some("b"), Role::Active, true),
            (Some("a"), Role::Standby, false),
        );
        assert_eq!(held(&st), vec!["web_a"]);
        // db taken over by b: its other backend db_a is held, web_b (where
        // the map sends both) is not.
        let st = steering(
            (Some("a"), Role::Standby, false),
            (Some("b"), Role::Active, true),
        );
        let l = layout();
        let entries = l.desired(&st).unwrap();
        let h = held_backends(&l, &st, &entries);
        assert_eq!(h.keys().collect::<Vec<_>>(), vec!["db_a"]);
        assert_eq!(h["db_a"], id("db"));
    }

    #[test]
    fn release_own_unheld_servers_and_anyones_in_map_targets() {
        let l = layout();
        let ready = |list: &[ServerRef]| -> Record {
            list.iter()
                .map(|s| (s.clone(), ServerState::Ready))
                .collect()
        };
        let own = ready(&[srv("web_a", "a1"), srv("db_a", "d1")]);
        let others = ready(&[srv("web_b", "b1"), srv("db_a", "d2")]);
        let release = |st: &Steering| {
            let entries = l.desired(st).unwrap();
            let h = held_backends(&l, st, &entries);
            to_release(&own, &others, &h, &map_targets(&l, &entries))
        };

        // Still taken over: nothing of ours goes back; web_b is where the
        // map points, so another orbitd's maint there is lifted.
        let st = steering(
            (Some("b"), Role::Active, true),
            (Some("b"), Role::Active, true),
        );
        assert_eq!(release(&st), ready(&[srv("web_b", "b1")]));

        // The dead site is back (takeover false): our own servers return;
        // another orbitd's in a backend the map does not use stay its own.
        let st = steering(
            (Some("b"), Role::Active, false),
            (Some("b"), Role::Active, false),
        );
        assert_eq!(
            release(&st),
            ready(&[srv("web_a", "a1"), srv("db_a", "d1"), srv("web_b", "b1")])
        );

        // Failback to a: every recorded server of a's backends goes back,
        // whoever forced it.
        let st = steering(
            (Some("a"), Role::Standby, false),
            (Some("a"), Role::Standby, false),
        );
        assert_eq!(
            release(&st),
            ready(&[srv("web_a", "a1"), srv("db_a", "d1"), srv("db_a", "d2")])
        );
    }

    #[test]
    fn only_servers_out_of_maint_are_forced_and_only_forced_ones_readied() {
        assert_eq!(hold(0, false, false), Hold::Force);
        assert_eq!(
            hold(0x08, false, false),
            Hold::Force,
            "drained: still usable"
        );
        assert_eq!(hold(0, true, true), Hold::Force, "lost its maint: again");
        assert_eq!(hold(0x01, true, true), Hold::Held);
        assert_eq!(hold(0x01, true, false), Hold::Force, "not confirmed: again");
        assert_eq!(
            hold(0x01, false, false),
            Hold::NotOurs,
            "an operator's maint"
        );
        assert_eq!(
            hold(0x05, false, false),
            Hold::NotOurs,
            "`disabled` in the config"
        );
        assert!(needs_ready(0x01));
        assert!(!needs_ready(0));
        assert_eq!(prior_state(0), ServerState::Ready);
        assert_eq!(prior_state(0x08), ServerState::Drain);
    }

    #[test]
    fn record_round_trips_and_names_bad_lines() {
        let servers: Record = [
            (srv("be_a", "a1"), ServerState::Ready),
            (srv("be_a", "a2"), ServerState::Drain),
        ]
        .into();
        let text = render_record(&servers);
        assert!(text.contains("be_a/a2 drain\n"), "{text}");
        assert_eq!(parse_record(&text), (servers, vec![]));
        let (got, bad) =
            parse_record("be_a/a1\nnonsense\nbe/x/y\n\n# c\n/a\nb c/d\nb/c maint\nb/c drain x\n");
        assert_eq!(got, [(srv("be_a", "a1"), ServerState::Ready)].into());
        assert_eq!(
            bad.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            vec![2, 3, 6, 7, 8, 9]
        );
    }
}
