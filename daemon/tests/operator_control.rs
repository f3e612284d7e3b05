//! Operator safety rails and "who did what", against three real orbitd
//! (sites a and b, witness w) in the namespaces of an
//! `orbit_tests::mesh::Mesh`, driven with the real `orbitctl`:
//! - a drain that would leave services without any site is refused,
//!   naming them, and carried out with `--force`; the journal says who
//!   (uid and pid from the unix socket's peer credentials) and why;
//! - two operators at two sites issue switchovers concurrently: the one
//!   whose command lost is told, in its journal, by what, where and when.
//!
//! The cluster (`orbit_tests::cluster`) kills the daemons and removes the
//! namespaces in `Drop`, also on panic; `ORBIT_KEEP=1` keeps the directory
//! (configs, logs, journals).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use orbit_tests::cluster::{active, Cluster};

/// The cluster, once every member has authority and web is at a, db at b.
fn start(tag: &str) -> Cluster {
    let mut c = Cluster::start(
        tag,
        env!("CARGO_BIN_EXE_orbitd"),
        orbit_tests::cluster::config,
    );
    c.eventually(
        "every member in authority, web at a and db at b",
        orbit_tests::cluster::settled,
    );
    c
}

/// Whether member `node`'s packets can leave it (its /32 routes toward
/// the two others): without them it still hears everybody, nobody hears
/// it.
fn outbound(c: &Cluster, node: &str, on: bool) {
    let ns = c.mesh.ns(node);
    // (peer, next hop) from `Mesh`'s link plan, as seen from a.
    assert_eq!(node, "a", "only a's routes are known here");
    for (peer, via) in [("10.0.0.2/32", "10.0.12.2"), ("10.0.0.3/32", "10.0.13.2")] {
        if on {
            orbit_tests::sh(&["ip", "-n", &ns, "route", "replace", peer, "via", via]);
        } else {
            orbit_tests::sh(&["ip", "-n", &ns, "route", "del", peer]);
        }
    }
}

#[test]
fn drain_of_the_last_site_is_refused_without_force_and_journaled_with_who_and_why() {
    let mut c = start("oc");
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
    let mut c = start("os");
    // Nothing leaves a for a moment: a hears everyone, nobody hears a, so
    // neither command can include the other, as when two operators type at
    // the same instant.
    outbound(&c, "a", false);
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
    outbound(&c, "a", true);
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
}
