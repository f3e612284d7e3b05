//! Records the commit orbitd is built from (`orbit_build_info{commit}`):
//! `ORBIT_COMMIT` when the packager sets it, else `git rev-parse`, else
//! "unknown" (a source tarball without git).
//!
//! Release builds of orbitd on Linux also link with `hot-text.ld`, which
//! puts the functions orbitd runs at the front of its code (see
//! `scripts/hot-text.sh`); `ORBIT_HOT_TEXT=off` links in plain order.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=ORBIT_COMMIT");
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/refs/heads");
    let commit = std::env::var("ORBIT_COMMIT").ok().or_else(|| {
        let out = Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
            .filter(|c| !c.is_empty())
    });
    println!(
        "cargo:rustc-env=ORBIT_COMMIT={}",
        commit.unwrap_or_else(|| "unknown".to_owned())
    );
    link_hot_text_first();
}

/// Only for release builds (`PROFILE` is "release" for the release and bench
/// profiles): a debug orbitd's layout does not matter, and matching ~1,000
/// patterns against every section would slow each test build's link.
fn link_hot_text_first() {
    println!("cargo:rerun-if-env-changed=ORBIT_HOT_TEXT");
    println!("cargo:rerun-if-changed=hot-text.ld");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux");
    let off = std::env::var("ORBIT_HOT_TEXT").is_ok_and(|v| v == "off");
    if release && linux && !off {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("hot-text.ld");
        println!(
            "cargo:rustc-link-arg-bin=orbitd=-Wl,-T,{}",
            script.display()
        );
    }
}
