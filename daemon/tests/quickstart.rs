//! The README's quick start, run as written, line by line: the commands of
//! its code block go through `bash` in a throwaway root
//! ([`orbit_tests::throwaway_root`], as in the package test), so `dpkg -i`
//! really installs the package and the namespaces the quick start makes
//! vanish with it, while nothing reaches the machine's own files. One line is replaced: `make deb` builds release binaries
//! (minutes in CI); the test packs its debug binaries with
//! `scripts/deb.sh`, which is what `make deb` runs.
//!
//! Asserted: every command exits 0, the status tables say what the
//! comments promise (web at a, then DEAD a and web at b, then web back at
//! a), there are fewer than ten commands, and `down` leaves no orbitd
//! running (a zombie waiting for init to reap it is not running).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};
use std::process::Command;

fn top() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The commands of the README's quick-start block.
fn readme_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(top().join("README.md")).unwrap();
    let (_, after) = readme
        .split_once("<!-- quick-start:")
        .expect("README has a quick-start block");
    let block = after
        .split_once("```sh\n")
        .and_then(|(_, b)| b.split_once("```"))
        .expect("a ```sh block after the marker")
        .0;
    block
        .lines()
        .map(|l| {
            l.split_once(" #")
                .map_or(l, |(cmd, _)| cmd)
                .trim()
                .to_owned()
        })
        .filter(|l| !l.is_empty())
        .collect()
}

/// Runs inside the throwaway root, in `/tmp/qs` (a copy of the source
/// tree's `scripts` and the package in `target/debian/`): each command, with
/// its output between markers, stopping at the first failure; `down` runs
/// whatever happens.
fn inner_script(commands: &[String]) -> String {
    let mut script = String::from(
        "set -u\ncd /tmp/qs\ntrap 'scripts/quickstart.sh down >/dev/null 2>&1' EXIT\n",
    );
    for (i, cmd) in commands.iter().enumerate() {
        let run = if cmd.starts_with("make deb") {
            // Built outside by the test: scripts/deb.sh is make deb's step.
            "ls target/debian/orbit_*.deb".to_owned()
        } else {
            cmd.clone()
        };
        // Every orbitd the quick start started, for the check at the end.
        script += &format!(
            "echo '=== {i}'\n{run} 2>&1\nrc=$?\necho \"=== rc $rc\"\n\
             cat /run/orbitqs/*.pid >>/tmp/pids 2>/dev/null\n[ $rc -eq 0 ] || exit $rc\n"
        );
    }
    script += "scripts/quickstart.sh down >/dev/null 2>&1\necho '=== orbitd left:'\n\
               for pid in $(sort -u /tmp/pids); do\n\
               [ \"$(cat /proc/$pid/comm 2>/dev/null)\" = orbitd ] && \
               [ \"$(cut -d' ' -f3 /proc/$pid/stat)\" != Z ] && echo $pid\ndone\necho end\n";
    script
}

#[test]
fn the_readme_quick_start_installs_the_package_and_fails_a_site_over() {
    orbit_tests::assert_root("the quick start test");
    let commands = readme_commands();
    assert!(
        commands.len() < 10,
        "the quick start has {} commands: {commands:?}",
        commands.len()
    );
    assert!(commands[0].starts_with("make deb"), "{commands:?}");

    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let bindir = Path::new(env!("CARGO_BIN_EXE_orbitd")).parent().unwrap();
    assert!(
        bindir.join("orbitctl").exists(),
        "orbitctl missing beside orbitd: cargo build -p orbitctl"
    );
    let deb = Command::new(top().join("scripts/deb.sh"))
        .arg(bindir)
        .arg(t.join("debian"))
        .env("DEB_COMPRESSION", "gzip")
        .output()
        .unwrap();
    assert!(
        deb.status.success(),
        "scripts/deb.sh: {}",
        String::from_utf8_lossy(&deb.stderr)
    );
    // Copies: the root's /tmp is empty, and the source tree may be there.
    let prepare = format!(
        "mkdir -p \"$root/tmp/qs/target\"\n\
         cp -r {debian:?} \"$root/tmp/qs/target/debian\"\n\
         cp -r {scripts:?} \"$root/tmp/qs/scripts\"",
        debian = t.join("debian"),
        scripts = top().canonicalize().unwrap().join("scripts"),
    );
    let out = orbit_tests::throwaway_root::run(
        &t.join("root"),
        &prepare,
        &inner_script(&commands),
        &[("QS_NAME", "orbitqs")],
    );
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the quick start failed:\n{log}");

    // Each command's output, by its index.
    let output = |i: usize| -> &str {
        let start = log
            .find(&format!("=== {i}\n"))
            .unwrap_or_else(|| panic!("command {i} did not run:\n{log}"));
        let rest = &log[start..];
        let end = rest.find("=== rc").unwrap_or(rest.len());
        &rest[..end]
    };
    let index = |cmd: &str| {
        commands
            .iter()
            .position(|c| c == cmd)
            .unwrap_or_else(|| panic!("no {cmd:?} in the quick start: {commands:?}"))
    };
    // The ACTIVE column of a service's row in a status table.
    let active = |table: &str, service: &str| -> String {
        table
            .lines()
            .find_map(|l| {
                let mut fields = l.split_whitespace();
                (fields.next() == Some(service)).then(|| fields.next().unwrap_or("").to_owned())
            })
            .unwrap_or_default()
    };
    let before = output(index("scripts/quickstart.sh ctl a status"));
    assert_eq!(active(before, "web"), "a", "{before}");
    assert_eq!(active(before, "db"), "b", "{before}");
    let after = output(index("scripts/quickstart.sh ctl b status"));
    assert!(
        after
            .lines()
            .any(|l| l.starts_with("a ") && l.contains("DEAD") && l.contains("b,w")),
        "site a dead by the votes of b and w:\n{after}"
    );
    assert_eq!(active(after, "web"), "b", "{after}");
    let failback = output(index("scripts/quickstart.sh ctl a failback"));
    assert!(failback.contains("web: b -> a"), "{failback}");
    assert!(
        log.trim_end().ends_with("=== orbitd left:\nend"),
        "orbitd still running after down:\n{log}"
    );
}
