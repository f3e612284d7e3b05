//! Records the commit orbitd is built from (`orbit_build_info{commit}`):
//! `ORBIT_COMMIT` when the packager sets it, else `git rev-parse`, else
//! "unknown" (a source tarball without git).

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
}
