//! `[api] api_socket_group` / `api_socket_mode`: a real orbitd gives its
//! API socket to a group, and a user in that group (not root) runs
//! `orbitctl status`; a user outside it gets exit 77. A group that does
//! not exist, or a mode open to everyone, is refused with its TOML path
//! (exit 64) before orbitd opens anything.
//!
//! Creates a throwaway group and two users (groupadd/useradd) and removes
//! them on drop, also on panic. Needs root.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use orbit_tests::orbitd::{standalone_config, Orbitd};

/// A group and users made for this test; deleted on drop.
struct Accounts {
    group: String,
    users: Vec<String>,
}

impl Accounts {
    fn new() -> Accounts {
        let tag = orbit_tests::netns::unique();
        let group = format!("orbg{tag}");
        orbit_tests::sh(&["groupadd", &group]);
        let mut accounts = Accounts {
            group,
            users: Vec::new(),
        };
        for (role, groups) in [("in", accounts.group.clone()), ("out", String::new())] {
            let user = format!("orb{role}{tag}");
            let mut args = vec!["useradd", "-M", "-N", "-s", "/usr/sbin/nologin"];
            if !groups.is_empty() {
                args.extend(["-G", groups.as_str()]);
            }
            args.push(&user);
            orbit_tests::sh(&args);
            accounts.users.push(user);
        }
        accounts
    }

    fn gid(&self) -> u32 {
        let line = orbit_tests::sh(&["getent", "group", &self.group]);
        line.split(':').nth(2).unwrap().trim().parse().unwrap()
    }
}

impl Drop for Accounts {
    fn drop(&mut self) {
        for user in &self.users {
            let _ = Command::new("userdel").arg(user).status();
        }
        let _ = Command::new("groupdel").arg(&self.group).status();
    }
}

/// `orbitctl --socket SOCKET status` as `user` with its groups: (exit
/// code, stderr).
fn status_as(user: &str, socket: &Path) -> (i32, String) {
    let exe = Path::new(env!("CARGO_BIN_EXE_orbitd")).with_file_name("orbitctl");
    // runuser sets the user's supplementary groups (initgroups).
    let out = Command::new("runuser")
        .args(["-u", user, "--"])
        .arg(exe)
        .arg("--socket")
        .arg(socket)
        .arg("status")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn members_of_the_socket_group_run_orbitctl_without_root() {
    orbit_tests::assert_root("socket group tests");
    let accounts = Accounts::new();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // The users must reach the socket through the test's directory.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = format!(
        "{}\n[api]\napi_socket_group = \"{}\"\n",
        standalone_config(dir),
        accounts.group
    );
    let _daemon = Orbitd::start_in(Path::new(env!("CARGO_BIN_EXE_orbitd")), dir, &config);
    let socket = dir.join("api.sock");
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(meta.gid(), accounts.gid(), "the socket's group");
    assert_eq!(meta.mode() & 0o7777, 0o660, "the default mode with a group");

    let (code, err) = status_as(&accounts.users[0], &socket);
    assert_eq!(code, 0, "a member of the group: {err}");
    let (code, err) = status_as(&accounts.users[1], &socket);
    assert_eq!(code, 77, "not a member: {err}");
    assert!(err.contains("no permission to talk to orbitd"), "{err}");
}

#[test]
fn a_missing_group_or_an_open_mode_is_refused_with_its_toml_path() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let file = dir.join("orbit.toml");
    for (api, expected) in [
        (
            "api_socket_group = \"no-such-group-orbit\"",
            "api.api_socket_group: there is no group \"no-such-group-orbit\"",
        ),
        (
            "api_socket_mode = \"0666\"",
            "api.api_socket_mode: \"0666\" lets every local user command orbitd",
        ),
    ] {
        std::fs::write(&file, format!("{}\n[api]\n{api}\n", standalone_config(dir))).unwrap();
        for args in [&["check-config"][..], &["--config"]] {
            let out = Command::new(env!("CARGO_BIN_EXE_orbitd"))
                .args(args)
                .arg(&file)
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(64), "{args:?} {api}: {err}");
            assert!(err.contains(expected), "{args:?} {api}: {err}");
        }
        assert!(!dir.join("api.sock").exists(), "nothing opened");
    }
}
