//! The error type of orbit-config: a file that cannot be read, is not
//! TOML, or does not describe a good config (every problem listed).

use orbit_core::config::Problem;

/// Why a config was refused. orbitd exits 64 (EX_USAGE) on any of them.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read config {path}: {source}")]
    ReadConfig {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("config {path} is not valid TOML for orbit: {message}")]
    ParseConfig { path: String, message: String },
    #[error(
        "config {path} has {} problem(s):\n{}{}",
        problems.len(),
        render(problems),
        if *complete { "" } else { "\n  (the other checks run once these are fixed)" }
    )]
    InvalidConfig {
        path: String,
        problems: Vec<Problem>,
        /// False when the problems listed kept the semantic checks from
        /// running: more may be reported once they are fixed.
        complete: bool,
    },
}

fn render(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}
