//! Shared scaffolding for orbit's tests against real peers: network
//! namespaces and links that clean up after themselves, and small process
//! helpers. Test code: a failed setup step panics with the command's
//! output, which is the failure report.

#![allow(clippy::unwrap_used)]

pub mod mesh;

use std::process::Command;

/// Runs a command and returns its stdout; panics with its output if it
/// fails.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
