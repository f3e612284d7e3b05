//! Shell completion of service and site names: from a real running
//! orbitd, and from the config file once it is gone; through the real bash
//! completion function that `orbitctl completions bash` prints.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;
use std::process::Command;

use orbit_tests::orbitd::{orbitctl, Orbitd};

/// One site a (and a witness w, never offered), services web and db; no
/// gossip, no backend.
fn config(dir: &Path) -> String {
    format!(
        r#"{head}
[[service]]
id = "web"
prefixes = ["198.51.100.10/32"]
sites = ["a", "b"]

[[service]]
id = "db"
prefixes = ["198.51.100.20/32"]
sites = ["b", "a"]
"#,
        head = orbit_tests::orbitd::fed_config(dir, "")
    )
}

/// What bash's completion of `words` (the last one being completed) offers,
/// called the way bash calls it (command, current word, previous word).
fn bash_completes(dir: &Path, words: &[&str]) -> Vec<String> {
    let exe_dir = Path::new(env!("CARGO_BIN_EXE_orbitd")).parent().unwrap();
    let path = format!(
        "{}:{}",
        exe_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = format!(
        "source <(orbitctl completions bash)\n\
         COMP_WORDS=({words})\nCOMP_CWORD={cword}\n\
         _orbitctl orbitctl \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        words = words
            .iter()
            .map(|w| format!("'{w}'"))
            .collect::<Vec<_>>()
            .join(" "),
        cword = words.len() - 1
    );
    let out = Command::new("bash")
        .arg("-c")
        .arg(script)
        .env("PATH", path)
        .env("ORBIT_SOCKET", dir.join("api.sock"))
        .env("ORBIT_CONFIG", dir.join("orbit.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    names.sort();
    names
}

#[test]
fn names_complete_from_the_daemon_and_then_from_the_config_file() {
    orbit_tests::assert_root("orbitd tests");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let socket = dir.join("api.sock");
    let daemon = Orbitd::start_in(Path::new(env!("CARGO_BIN_EXE_orbitd")), dir, &config(dir));
    let complete = |what: &str| {
        let (code, out, err) = orbitctl(
            env!("CARGO_BIN_EXE_orbitd"),
            &socket,
            &["__complete", what, "--config", "/nonexistent/orbit.toml"],
        );
        assert_eq!(code, 0, "{err}");
        out
    };
    // From orbitd (the config path given does not exist).
    assert_eq!(complete("services"), "web\ndb\n");
    assert_eq!(complete("sites"), "a\nb\n", "the witness is no target");
    assert_eq!(
        bash_completes(dir, &["orbitctl", "pin", "--service", ""]),
        ["db", "web"]
    );
    assert_eq!(
        bash_completes(dir, &["orbitctl", "switchover", "--to", ""]),
        ["a", "b"]
    );
    assert!(bash_completes(dir, &["orbitctl", "drain", ""]).contains(&"b".to_owned()));

    // orbitd gone: the config file tells.
    drop(daemon);
    let (code, out, err) = orbitctl(
        env!("CARGO_BIN_EXE_orbitd"),
        &socket,
        &[
            "__complete",
            "services",
            "--config",
            dir.join("orbit.toml").to_str().unwrap(),
        ],
    );
    assert_eq!((code, out.as_str()), (0, "web\ndb\n"), "{err}");
    assert_eq!(
        bash_completes(dir, &["orbitctl", "pin", "--service", "w"]),
        ["web"]
    );
}
