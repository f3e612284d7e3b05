//! Operator safety rails and "who did what", against three real orbitd
//! (sites a and b, witness w) in the namespaces of an
//! `orbit_tests::mesh::Mesh`, driven with the real `orbitctl`:
//! - a drain that would leave services without any site is refused,
//!   naming them, and carried out with `--force`; the journal says who
//!   (uid and pid from the unix socket's peer credentials) and why;
//! - two operators at two sites issue switchovers concurrently: the one
//!   whose command lost is told, in its journal, by what, where and when,
//!   and what its command moved goes where the winning intent puts it;
//! - observer mode set at one member holds for every member: a command
//!   issued at another is decided everywhere and applied nowhere (each
//!   site steers its own real HAProxy).
//!
//! The cluster is `orbit_tests::control::Cluster`.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;
use std::time::Duration;

use orbit_tests::control::{active, Cluster};
use orbit_tests::mesh::NODES;

#[test]
fn drain_of_the_last_site_is_refused_without_force_and_journaled_with_who_and_why() {
    let mut c = Cluster::start("oc", env!("CARGO_BIN_EXE_orbitd"));
    c.kill("a");
    c.eventually("b to carry web and db after a died", |c| {
        c.status("b")
            .is_some_and(|s| active(&s, "web") == Some("b") && active(&s, "db") == Some("b"))
    });

    let (code, out, err, refused_pid) = c.orbitctl("b", &["drain", "b"]);
    assert_eq!(code, 1, "refused with exit 1: {out}{err}");
    assert!(
        err.contains("this would leave db, web without any site to carry them")
            && err.contains("add --force"),
        "the refusal names the services and the override: {err}"
    );
    let status = c.status("b").unwrap();
    assert_eq!(
        (active(&status, "web"), active(&status, "db")),
        (Some("b"), Some("b")),
        "a refused drain moves nothing"
    );

    // The witness places no services: it cannot judge a drain, so it
    // refuses one without --force rather than let every site adopt it.
    let (code, out, err, _) = c.orbitctl("w", &["drain", "b"]);
    assert_eq!(code, 1, "refused at the witness: {out}{err}");
    assert!(
        err.contains("site w places no services (a witness)") && err.contains("--force"),
        "{err}"
    );

    let (code, _, err, _) = c.orbitctl("b", &["drain", "b", "--reason", &"x".repeat(201)]);
    assert_eq!(code, 2, "a too long reason is a usage error: {err}");
    assert!(
        err.contains("reason is 201 characters long; at most 200 are allowed"),
        "{err}"
    );

    let (code, out, err, pid) = c.orbitctl(
        "b",
        &["drain", "b", "--force", "--reason", "CHG-42 power work"],
    );
    assert_eq!(code, 0, "forced drain: {out}{err}");
    assert!(
        out.contains("forced: db, web left without any site"),
        "{out}"
    );
    assert!(out.contains("web: b -> nowhere"), "{out}");
    let status = c.status("b").unwrap();
    assert_eq!(
        (active(&status, "web"), active(&status, "db")),
        (None, None)
    );

    // The journal, as text and as JSON, says who and why.
    let (code, text, err, _) = c.orbitctl("b", &["journal", "--limit", "1000"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains(&format!(
            "[by uid 0 pid {pid}, reason \"CHG-42 power work\", forced]"
        )),
        "the accepted command shows its origin, reason and force:\n{text}"
    );
    assert!(
        text.contains("refused drain: this would leave db, web without any site")
            && text.contains(&format!("[by uid 0 pid {refused_pid}]")),
        "the refusal is journaled with its origin:\n{text}"
    );
    let journal = c.journal("b");
    let accepted = journal
        .iter()
        .find(|e| e["decision"]["change"]["kind"] == "command_accepted")
        .expect("a command_accepted entry");
    let origin = &accepted["decision"]["change"]["origin"];
    assert_eq!(origin["client"]["via"], "unix", "{accepted}");
    assert_eq!(origin["client"]["uid"], 0, "{accepted}");
    assert_eq!(origin["client"]["pid"], pid, "{accepted}");
    assert_eq!(origin["reason"], "CHG-42 power work", "{accepted}");
    assert_eq!(accepted["decision"]["change"]["force"], true, "{accepted}");
}

#[test]
fn concurrent_switchovers_at_two_sites_tell_the_loser_by_what() {
    let mut c = Cluster::start("os", env!("CARGO_BIN_EXE_orbitd"));
    // Nothing leaves a for a moment: a hears everyone, nobody hears a, so
    // neither command can include the other, as when two operators type at
    // the same instant.
    c.outbound("a", false);
    let at_a = c.orbitctl(
        "a",
        &[
            "switchover",
            "--service",
            "db",
            "--to",
            "a",
            "--reason",
            "op1",
        ],
    );
    let at_b = c.orbitctl(
        "b",
        &[
            "switchover",
            "--service",
            "web",
            "--to",
            "b",
            "--reason",
            "op2",
        ],
    );
    c.outbound("a", true);
    assert_eq!(at_a.0, 0, "switchover at a: {}{}", at_a.1, at_a.2);
    assert_eq!(at_b.0, 0, "switchover at b: {}{}", at_b.1, at_b.2);

    // Equal epochs: the intent of site b wins the tie everywhere, so a's
    // command is the one lost.
    c.eventually("a's journal to report its command superseded", |c| {
        c.journal("a")
            .iter()
            .any(|e| e["decision"]["change"]["kind"] == "command_superseded")
    });
    let b_time = c
        .journal("b")
        .iter()
        .find(|e| e["decision"]["change"]["kind"] == "command_accepted")
        .and_then(|e| {
            e["decision"]["change"]["origin"]["at"]
                .as_str()
                .map(str::to_owned)
        })
        .expect("b's accepted switchover with its time");
    let clock = &b_time[11..19];
    let journal = c.journal("a");
    let superseded = journal
        .iter()
        .find(|e| e["decision"]["change"]["kind"] == "command_superseded")
        .unwrap();
    assert_eq!(
        superseded["decision"]["change"]["site"], "b",
        "{superseded}"
    );
    assert_eq!(
        superseded["decision"]["change"]["by"]["to"], "b",
        "{superseded}"
    );
    assert_eq!(
        superseded["decision"]["change"]["lost"]["to"], "a",
        "{superseded}"
    );
    let (code, text, err, _) = c.orbitctl("a", &["journal", "--limit", "1000"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains(&format!(
            "SUPERSEDED: the operator command issued here (switchover of db to site a) was \
             superseded by switchover of web to site b issued at site b at {clock} UTC"
        )),
        "{text}"
    );
    assert!(
        !c.journal("b")
            .iter()
            .any(|e| e["decision"]["change"]["kind"] == "command_superseded"),
        "the winner lost nothing"
    );
    // Nor does the lost command stay half in force: db goes back where the
    // winning intent puts it (its preferred site b), although failback is
    // manual, and every member agrees.
    c.eventually("db back at b, web at b, at both sites", |c| {
        ["a", "b"].iter().all(|node| {
            c.status(node)
                .is_some_and(|s| active(&s, "db") == Some("b") && active(&s, "web") == Some("b"))
        })
    });
    let (_, text, _, _) = c.orbitctl("a", &["journal", "--limit", "1000"]);
    assert!(
        text.contains(
            "the operator command that put db at site a was superseded by a concurrent one"
        ),
        "{text}"
    );
}

/// `[haproxy]` for a member that steers its own real HAProxy in `lb`.
fn haproxy_section(lb: &Path) -> String {
    format!(
        "[haproxy]\nsocket = \"{d}/haproxy.sock\"\nmap = \"{d}/orbit.map\"\ntimeout = \"2s\"\n\
         [haproxy.backends]\nweb = {{ a = \"be_web_a\", b = \"be_web_b\" }}\n\
         db = {{ a = \"be_db_a\", b = \"be_db_b\" }}\n",
        d = lb.display()
    )
}

#[test]
fn observer_mode_set_at_one_member_moves_nothing_anywhere() {
    orbit_tests::assert_root("operator control tests");
    // Each site's orbitd steers its own HAProxy: what the sites apply.
    let lbs = tempfile::tempdir().unwrap();
    let lb = |node: &str| {
        let dir = lbs.path().join(node);
        std::fs::create_dir_all(&dir).unwrap();
        let lb = orbit_tests::haproxy::Haproxy::new(
            &dir,
            &["be_web_a", "be_web_b", "be_db_a", "be_db_b"],
        );
        lb.write_map("web be_web_a\ndb be_db_b\n");
        lb
    };
    let (lb_a, lb_b) = (lb("a"), lb("b"));
    let _running = (lb_a.start(), lb_b.start());
    let routed = |web: &str| {
        [&lb_a, &lb_b]
            .iter()
            .all(|lb| lb.runtime_backend("web").as_deref() == Some(web))
    };
    let mut c = Cluster::start_with("ob", env!("CARGO_BIN_EXE_orbitd"), |node, _| match node {
        "w" => String::new(),
        site => haproxy_section(&lbs.path().join(site)),
    });
    c.eventually("every member ready (the maps confirmed)", |c| {
        NODES
            .iter()
            .all(|node| orbit_tests::orbitd::http(&c.socket(node), "GET", "/ready", "").0 == 200)
    });

    // Observer mode is set at a, and holds for every member.
    let (code, out, err, _) = c.orbitctl("a", &["observer", "on", "--reason", "CHG-7 audit"]);
    assert_eq!(code, 0, "{out}{err}");
    c.eventually("every member in observer mode", |c| {
        NODES.iter().all(|node| {
            c.status(node)
                .is_some_and(|s| s["engine"]["observer_mode"] == true)
        })
    });
    let adopted = c
        .journal("b")
        .into_iter()
        .find(|e| e["decision"]["change"]["kind"] == "observer_mode")
        .expect("b journals the observer mode it adopted");
    assert_eq!(adopted["decision"]["change"]["site"], "a", "{adopted}");

    // A switchover issued at another member is decided everywhere and
    // applied nowhere.
    let (code, out, err, _) = c.orbitctl("b", &["switchover", "--service", "web", "--to", "b"]);
    assert_eq!(code, 0, "{out}{err}");
    c.eventually("both sites to decide web at b", |c| {
        ["a", "b"].iter().all(|node| {
            c.status(node)
                .is_some_and(|s| active(&s, "web") == Some("b"))
        })
    });
    // The decision is logged with named fields, not a debug string.
    let log = std::fs::read_to_string(c.dir.join("b.log")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("decision")
                && l.contains("kind=service_moved service=web from=a to=b")),
        "{log}"
    );
    // Give a leak the time to show: backends write within milliseconds.
    std::thread::sleep(Duration::from_secs(1));
    assert!(routed("be_web_a"), "no HAProxy moved web in observer mode");
    for node in ["a", "b"] {
        let status = c.status(node).unwrap();
        let generation = &status["steering"]["generation"];
        assert!(
            status["backends"]
                .as_array()
                .unwrap()
                .iter()
                .all(|b| &b["applied_generation"] != generation),
            "{node} applied nothing in observer mode: {status}"
        );
    }

    // Off again, from the witness: the decided placement is applied.
    let (code, out, err, _) = c.orbitctl("w", &["observer", "off"]);
    assert_eq!(code, 0, "{out}{err}");
    c.eventually("both HAProxies to send web to b", |_| routed("be_web_b"));
}
