//! A reload (SIGHUP) touches only what changed (issue 14): a real orbitd
//! and one bird2 with a BGP session per peer, each over its own veth
//! between two namespaces the test creates, BFD on every session.
//!
//! ```text
//!  netns "orbit": orbitd  10.99.1.1 ──veth── 10.99.1.2  bird protocol p1
//!                         10.99.2.1 ──veth── 10.99.2.2  bird protocol p2
//!                         10.99.3.1 ──veth── 10.99.3.2  bird protocol p3 (TCP-MD5)
//! ```
//!
//! orbitd starts with p1 and p2; then each SIGHUP (a) adds p3, (b) removes
//! p2, (c) changes p1's hold time, (d) changes only the announce policy,
//! (e) names a missing MD5 password file. Every session the change does not
//! concern keeps its uptime (bird's `show protocols` row, "Since" in
//! milliseconds) and its BFD session its discriminators (orbitd's status);
//! the removed peer gets Cease / Peer De-configured and the retimed one
//! Cease / Other Configuration Change (bird's "Last error"). Run once with
//! orbitd connecting and once with `listen = true` (bird connects; the
//! added MD5 peer only gets in if its key reached the listening socket).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use orbit_core::api::{BfdState, StatusResponse};
use orbit_tests::bfd_lab::TempDir;
use orbit_tests::bird::Bird;
use orbit_tests::netns::{Netns, Veth};
use orbit_tests::orbitd::Orbitd;
use orbit_tests::wait_until;

const PREFIX: &str = "198.51.100.10/32";
const MD5: &str = "p3-secret-for-this-test";

struct Lab {
    orbitd: Orbitd,
    bird: Bird,
    veths: Vec<Veth>,
    listen: bool,
    dir: TempDir,
    // Dropped last: the processes inside are killed with them.
    _bird_ns: Netns,
    _orbit_ns: Netns,
}

/// One `[[bgp.peer]]` as a test step wants it.
#[derive(Clone, Copy)]
struct Peer {
    /// 1, 2 or 3: which veth / bird protocol.
    n: usize,
    hold: u32,
}

impl Lab {
    fn start(listen: bool) -> Lab {
        let dir = TempDir::new("reload");
        let orbit_ns = Netns::new("orbit");
        let bird_ns = Netns::new("bird");
        let veths: Vec<Veth> = (1..=3)
            .map(|i| Veth::new(&orbit_ns, &bird_ns, format!("10.99.{i}.0").parse().unwrap()))
            .collect();
        let bird = Bird::start(&bird_ns, &dir.0, &bird_config(&veths, listen));
        std::fs::write(dir.0.join("gossip.key"), "a-gossip-key-for-this-test-only").unwrap();
        std::fs::write(dir.0.join("p3.md5"), format!("{MD5}\n")).unwrap();
        let conf = dir.0.join("orbit.toml");
        let peers = [Peer { n: 1, hold: 9 }, Peer { n: 2, hold: 9 }];
        std::fs::write(&conf, orbit_config(&dir.0, &veths, listen, &peers, "")).unwrap();
        let orbitd =
            Orbitd::start_in_netns(Path::new(env!("CARGO_BIN_EXE_orbitd")), &orbit_ns, &dir.0);
        Lab {
            orbitd,
            bird,
            veths,
            listen,
            dir,
            _bird_ns: bird_ns,
            _orbit_ns: orbit_ns,
        }
    }

    fn bird_addr(&self, n: usize) -> IpAddr {
        IpAddr::V4(self.veths[n - 1].b_addr)
    }

    /// Rewrites orbit.toml and sends SIGHUP; returns once the journal
    /// shows the reload's outcome (`expect`), failing with the journal.
    fn reload(&self, peers: &[Peer], extra: &str, expect: &str) {
        let conf = orbit_config(&self.dir.0, &self.veths, self.listen, peers, extra);
        std::fs::write(self.dir.0.join("orbit.toml"), conf).unwrap();
        self.orbitd.reload();
        wait(
            Duration::from_secs(15),
            &format!("{expect:?} in the journal"),
            || self.journal().contains(expect),
        );
    }

    fn journal(&self) -> String {
        let (code, body) = self.orbitd.get("/v1/journal?limit=1000");
        assert_eq!(code, 200, "{body}");
        body
    }

    /// orbitd's BFD sessions: peer -> (state, local and remote discriminator).
    fn bfd(&self) -> BTreeMap<IpAddr, (BfdState, u32, u32)> {
        let (code, body) = self.orbitd.get("/v1/status");
        assert_eq!(code, 200, "{body}");
        let status: StatusResponse = serde_json::from_str(&body).unwrap();
        status
            .bfd
            .into_iter()
            .map(|s| {
                (
                    s.peer,
                    (s.state, s.local_discriminator, s.remote_discriminator),
                )
            })
            .collect()
    }

    /// How long bird's session `p{n}` has been up, two ways: the "Since"
    /// column of `show protocols` and the number of state changes bird
    /// logged for it (`debug { states; }`). Equal (see [`Uptime`]) as long
    /// as the session was not reset.
    fn row(&self, n: usize) -> Uptime {
        let name = format!("p{n}");
        let protocols = self.bird.birdc("show protocols");
        let row = protocols
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name.as_str()))
            .unwrap_or_else(|| panic!("no row for {name} in\n{protocols}"));
        // name, protocol, table, state, since (date, time), info
        let columns: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(columns.get(3), Some(&"up"), "{row}");
        let since = format!("{} {}", columns[4], columns[5]);
        let state_changes = self
            .bird_log()
            .lines()
            .filter(|l| l.contains(&format!(" {name}: State changed")))
            .count();
        Uptime {
            since,
            state_changes,
        }
    }

    fn established(&self, n: usize) -> bool {
        self.bird.established(&format!("p{n}"))
    }

    /// Waits until bird's sessions `up` are Established with the service
    /// route learnt over them, and orbitd's BFD sessions are exactly those
    /// peers, all Up.
    fn wait_up(&self, up: &[usize]) {
        for &n in up {
            wait(
                Duration::from_secs(30),
                &format!("p{n} Established"),
                || self.established(n),
            );
        }
        wait(Duration::from_secs(30), "the route from every peer", || {
            let routes = self
                .bird
                .birdc(&format!("show route for {PREFIX} all table master4"));
            up.iter()
                .all(|n| routes.contains(&format!("p{n} ")) || routes.contains(&format!("[p{n} ")))
        });
        let want: Vec<IpAddr> = up.iter().map(|&n| self.bird_addr(n)).collect();
        wait(Duration::from_secs(30), "orbitd's BFD sessions Up", || {
            let bfd = self.bfd();
            bfd.keys().copied().collect::<Vec<_>>() == want
                && bfd.values().all(|(state, _, _)| *state == BfdState::Up)
        });
    }

    /// bird's log ("p2: Received: Peer de-configured" for a Cease).
    fn bird_log(&self) -> String {
        std::fs::read_to_string(&self.bird.log).unwrap_or_default()
    }
}

/// A bird session's uptime: `since` as bird shows it ("2026-01-02
/// 03:04:05.678"), and the state changes it logged. bird computes the
/// shown time from its monotonic clock at each `show`, so it may move by a
/// millisecond or two between two looks at an untouched session: equal
/// means the same number of state changes and a `since` within 20 ms.
#[derive(Debug)]
struct Uptime {
    since: String,
    state_changes: usize,
}

impl PartialEq for Uptime {
    fn eq(&self, other: &Uptime) -> bool {
        let ms = |s: &str| -> i64 {
            let (date, time) = s.split_once(' ').unwrap();
            let days: i64 = date.replace('-', "").parse().unwrap();
            let mut parts = time.split([':', '.']).map(|p| p.parse::<i64>().unwrap());
            let mut next = || parts.next().unwrap();
            let (h, m, sec, milli) = (next(), next(), next(), next());
            // Not a calendar: only differences within one day matter.
            days * 86_400_000 + ((h * 60 + m) * 60 + sec) * 1000 + milli
        };
        self.state_changes == other.state_changes
            && (ms(&self.since) - ms(&other.since)).abs() <= 20
    }
}

fn wait(within: Duration, what: &str, ok: impl FnMut() -> bool) {
    wait_until(within, Duration::from_millis(50), what, ok);
}

fn bird_config(veths: &[Veth], listen: bool) -> String {
    let mut out = format!(
        r#"log "@LOG@" all;
timeformat log "%F %T.%3f";
timeformat protocol "%F %T.%3f";
router id {r};
protocol device {{ }}
protocol bfd {{
  interface "ovb*" {{ interval 100 ms; multiplier 5; }};
}}
"#,
        r = veths[0].b_addr,
    );
    for (i, v) in veths.iter().enumerate() {
        let n = i + 1;
        // orbitd connects (bird waits) or listens (bird connects, at once
        // and again one second after an error).
        let mode = if listen {
            "connect delay time 1; connect retry time 1;"
        } else {
            "passive on;"
        };
        let password = if n == 3 {
            format!("password \"{MD5}\";")
        } else {
            String::new()
        };
        out.push_str(&format!(
            r#"protocol bgp p{n} {{
  local {b} as 64500;
  neighbor {a} as 65001;
  {mode}
  {password}
  hold time 9;
  error wait time 1, 2;
  bfd on;
  debug {{ states }};
  ipv4 {{ import all; export none; }};
}}
"#,
            a = v.a_addr,
            b = v.b_addr,
        ));
    }
    out
}

fn orbit_config(dir: &Path, veths: &[Veth], listen: bool, peers: &[Peer], extra: &str) -> String {
    let mut out = format!(
        r#"{head}[bfd]
interval = "100ms"
multiplier = 5

[bgp]
asn = 65001
router_id = "{r}"
listen = {listen}
connect_retry = "200ms"
{extra}
"#,
        head = orbit_tests::orbitd::one_site_config(dir, &[PREFIX]),
        r = veths[0].a_addr,
    );
    for p in peers {
        let v = &veths[p.n - 1];
        let md5 = if p.n == 3 {
            format!("md5_password_file = \"{}/p3.md5\"\n", dir.display())
        } else {
            String::new()
        };
        out.push_str(&format!(
            r#"
[[bgp.peer]]
address = "{b}"
asn = 64500
hold = "{hold}s"
bfd = true
passive = {listen}
families = ["ipv4"]
{md5}"#,
            b = v.b_addr,
            hold = p.hold,
        ));
    }
    out
}

fn scenario(listen: bool) {
    let lab = Lab::start(listen);
    lab.wait_up(&[1, 2]);
    let (p1, p2, p3) = (lab.bird_addr(1), lab.bird_addr(2), lab.bird_addr(3));
    let rows = |ns: &[usize]| ns.iter().map(|&n| lab.row(n)).collect::<Vec<_>>();
    let before = rows(&[1, 2]);
    let bfd = lab.bfd();

    // (a) A third peer: started, nothing else touched.
    let three = [
        Peer { n: 1, hold: 9 },
        Peer { n: 2, hold: 9 },
        Peer { n: 3, hold: 9 },
    ];
    lab.reload(&three, "", &format!("peer {p3} added"));
    lab.wait_up(&[1, 2, 3]);
    assert_eq!(rows(&[1, 2]), before, "adding p3 reset another session");
    let after = lab.bfd();
    for p in [p1, p2] {
        assert_eq!(after[&p], bfd[&p], "adding p3 touched BFD to {p}");
    }
    let journal = lab.journal();
    assert!(
        journal.contains(&format!("bfd: session to {p3} added")),
        "{journal}"
    );

    // (b) p2 removed: Cease / Peer De-configured; p1 and p3 untouched.
    let before = rows(&[1, 3]);
    let bfd = lab.bfd();
    let two = [Peer { n: 1, hold: 9 }, Peer { n: 3, hold: 9 }];
    lab.reload(&two, "", &format!("bgp: peer {p2} removed"));
    wait(Duration::from_secs(10), "p2 down in bird", || {
        !lab.established(2)
    });
    wait(
        Duration::from_secs(5),
        "bird to log the Cease for p2",
        || lab.bird_log().contains("p2: Received: Peer de-configured"),
    );
    lab.wait_up(&[1, 3]);
    assert_eq!(rows(&[1, 3]), before, "removing p2 reset another session");
    let after = lab.bfd();
    for p in [p1, p3] {
        assert_eq!(after[&p], bfd[&p], "removing p2 touched BFD to {p}");
    }
    // bird's side of the removed session saw AdminDown, not a failure.
    wait(
        Duration::from_secs(5),
        "bird's BFD to p2 no longer Up",
        || {
            lab.bird
                .bfd_state(&lab.veths[1].a_addr.to_string())
                .as_deref()
                != Some("Up")
        },
    );

    // (c) p1's hold time: only p1 restarts (Cease / Other Configuration
    // Change); p3 untouched, and BFD toward p1 too (same parameters).
    let before_p3 = lab.row(3);
    let before_p1 = lab.row(1);
    let bfd = lab.bfd();
    let retimed = [Peer { n: 1, hold: 6 }, Peer { n: 3, hold: 9 }];
    lab.reload(
        &retimed,
        "",
        &format!("bgp: peer {p1} restarted (hold changed)"),
    );
    wait(
        Duration::from_secs(10),
        "bird to log the Cease for p1",
        || {
            lab.bird_log()
                .contains("p1: Received: Other configuration change")
        },
    );
    lab.wait_up(&[1, 3]);
    // bird replaced its BFD session with the BGP session (a new
    // discriminator; the old one fell silent). orbitd takes the new one
    // over when its detection time for the old one expires: a signalled
    // Down, not a path failure that would drop the new BGP session (the
    // log check at the end). Waited for, so that the later steps start
    // from settled BFD.
    wait(
        Duration::from_secs(10),
        "orbitd's BFD to p1 Up with bird's new session",
        || {
            let now = lab.bfd()[&p1];
            now.0 == BfdState::Up && now.2 != bfd[&p1].2
        },
    );
    assert_ne!(lab.row(1), before_p1, "p1 was not restarted");
    // The new session runs with the new hold time (min of 6 and bird's 9,
    // RFC 4271 §4.2).
    let p1_info = lab.bird.birdc("show protocols all p1");
    assert!(
        p1_info
            .lines()
            .any(|l| l.trim_start().starts_with("Hold timer:") && l.trim_end().ends_with("/6")),
        "{p1_info}"
    );
    assert_eq!(lab.row(3), before_p3, "changing p1 reset p3");
    let after = lab.bfd();
    assert_eq!(after[&p3], bfd[&p3], "changing p1 touched BFD to p3");
    assert_eq!(after[&p1].1, bfd[&p1].1, "BFD to p1 was replaced");

    // (d) Only the announce policy: an UPDATE with the new MED, no reset.
    let before = rows(&[1, 3]);
    lab.reload(
        &retimed,
        "[bgp.active]\nmed = 42\n",
        "bgp: announce policy changed; re-applied: 2 UPDATEs",
    );
    wait(Duration::from_secs(10), "the new MED in bird", || {
        let r = lab
            .bird
            .birdc(&format!("show route for {PREFIX} all table master4"));
        r.matches("BGP.med: 42").count() == 2
    });
    assert_eq!(rows(&[1, 3]), before, "a policy change reset a session");

    // (e) A reload that cannot be carried out is refused whole.
    let bfd = lab.bfd();
    std::fs::remove_file(lab.dir.0.join("p3.md5")).unwrap();
    let with_p2 = [
        Peer { n: 1, hold: 6 },
        Peer { n: 2, hold: 9 },
        Peer { n: 3, hold: 9 },
    ];
    lab.reload(
        &with_p2,
        "[bgp.active]\nmed = 42\n",
        "bgp.peer[2].md5_password_file: cannot read",
    );
    assert!(lab
        .journal()
        .contains("reload refused, running config kept: config "));
    // The point: long enough for p2 to come up, had the reload started it.
    std::thread::sleep(Duration::from_secs(2));
    assert!(!lab.established(2), "a refused reload started p2");
    assert_eq!(rows(&[1, 3]), before, "a refused reload reset a session");
    assert_eq!(lab.bfd(), bfd, "a refused reload touched BFD");

    let log = lab.orbitd.log_text();
    assert!(!log.contains("Address already in use"), "{log}");
    // No link failed in any step: a BFD Down taken for a path failure
    // would have dropped a BGP session that the reload meant to keep. (When
    // bird's new BFD session is heard only after our detection time for
    // its old one, the Down reaches the BGP session, which keeps itself:
    // it was Established after BFD last heard bird.)
    assert!(
        !log.contains("BFD reports the path down: dropping the session"),
        "{log}"
    );
}

#[test]
fn a_reload_touches_only_the_sessions_it_changes_when_orbitd_connects() {
    scenario(false);
}

#[test]
fn a_reload_touches_only_the_sessions_it_changes_when_bird_connects_to_the_listener() {
    scenario(true);
}
