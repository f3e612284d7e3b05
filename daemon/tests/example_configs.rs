//! The three member configs of docs/deploy.md (`examples/site-a.toml`,
//! `site-b.toml`, `witness.toml`): each passes `orbitd check-config` with
//! the files it names (real key files, mode 0600, in a temp dir) and without
//! a warning, and the parts that must agree across members do: the same
//! cluster fingerprint at all three, the same services fingerprint at both
//! sites, none at the witness.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use orbit_config::Config;

const MEMBERS: [&str; 3] = ["site-a.toml", "site-b.toml", "witness.toml"];

/// Every secret the examples name, with contents the checks accept.
const SECRETS: [(&str, &str); 7] = [
    (
        "gossip.key",
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
    ),
    ("bfd.key", "0123456789abcdef0123\n"),
    ("api.token", "aaaabbbbccccddddeeeeffff00001111\n"),
    ("bgp-r1.pw", "password of r1\n"),
    ("bgp-r2.pw", "password of r2\n"),
    ("bgp-r3.pw", "password of r3\n"),
    ("bgp-r4.pw", "password of r4\n"),
];

fn example_text(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `name` with its `/etc/orbit/` files in `dir` (written there, mode 0600).
fn installed(dir: &Path, name: &str) -> PathBuf {
    for (file, text) in SECRETS {
        let path = dir.join(file);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let text = example_text(name).replace("/etc/orbit/", &format!("{}/", dir.display()));
    assert!(
        !text.contains("/etc/orbit"),
        "{name} names another file under /etc/orbit"
    );
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn check_config(path: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_orbitd"))
        .arg("check-config")
        .arg(path)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn each_member_config_passes_check_config_with_its_files_and_no_warning() {
    let dir = tempfile::tempdir().unwrap();
    for name in MEMBERS {
        let (code, stdout, stderr) = check_config(&installed(dir.path(), name));
        assert_eq!(code, 0, "{name}: {stderr}");
        assert_eq!(stderr, "", "{name} has warnings");
        assert!(
            stdout.contains("quorum 2 of 3 members: a, b, w (witness)"),
            "{name}: {stdout}"
        );
    }
}

#[test]
fn the_member_configs_agree_where_they_must() {
    let [a, b, w] = MEMBERS.map(|name| {
        Config::parse_valid(&example_text(name), name).unwrap_or_else(|e| panic!("{name}: {e}"))
    });
    assert_eq!(
        [
            a.node.site.as_str(),
            b.node.site.as_str(),
            w.node.site.as_str()
        ],
        ["a", "b", "w"]
    );
    let [fa, fb, fw] = [&a, &b, &w].map(Config::fingerprint);
    assert_eq!(
        fa.cluster, fb.cluster,
        "sites a and b: cluster parts differ"
    );
    assert_eq!(
        fa.cluster, fw.cluster,
        "site a and the witness: cluster parts differ"
    );
    assert_eq!(fa.services, fb.services, "sites a and b: services differ");
    assert!(fa.services.is_some());
    assert_eq!(fw.services, None, "the witness lists services");
    assert!(w.services.is_empty() && w.bgp.is_none() && w.hook.is_none());
}
