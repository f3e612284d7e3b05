//! The state file: what a restarted orbitd needs to resume without a flap
//! (operator intent with observer mode, placements, steering generation).
//!
//! Written atomically (temp file, fsync, rename, fsync of the directory), so
//! a crash leaves either the old or the new file, never half of one. A save
//! that fails (a full disk) leaves the old file and no temp file behind, is
//! counted (`orbit_state_write_errors_total`) and logged once per outage.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use orbit_core::{FormatVersions, SharedState};
use prometheus_client::metrics::counter::Counter;
use serde::{Deserialize, Serialize};

/// The state file versions this orbitd writes and reads: it reads the file
/// of the release before it (upgrade) as `orbit_core::FormatVersions`
/// describes; `tests/vectors/v1/state.json` is the v1 contract.
const STATE_FILE_VERSIONS: FormatVersions = FormatVersions {
    format: "state file",
    writes: 1,
    reads: 1..=1,
};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SavedState {
    pub version: u32,
    pub generation: u64,
    /// Observer mode as an operator set it. Older builds kept it here, per
    /// daemon; it now lives in the shared intent (`Intent::observer`) and
    /// is written here too so that a downgraded orbitd still observes.
    #[serde(default)]
    pub observer_mode: bool,
    pub shared: SharedState,
}

#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
    write_errors: Counter,
    /// The last save failed (logged once per outage, not per attempt).
    failing: bool,
}

impl StateFile {
    pub fn new(state_dir: &Path, write_errors: Counter) -> StateFile {
        StateFile {
            path: state_dir.join("state.json"),
            write_errors,
            failing: false,
        }
    }

    /// The saved state, `None` if there is none yet. A corrupt file (not
    /// JSON, not UTF-8, not a state) is an error: silently starting from
    /// scratch could undo an operator's pin.
    pub fn load(&self) -> Result<Option<SavedState>> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.path.display())),
        };
        let saved: SavedState = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "state file {} is corrupt; move it away to start without saved pins and placements",
                self.path.display()
            )
        })?;
        STATE_FILE_VERSIONS
            .check(saved.version)
            .with_context(|| format!("reading {}", self.path.display()))?;
        Ok(Some(saved.upgraded()))
    }

    pub fn save(&mut self, generation: u64, shared: &SharedState) -> Result<()> {
        let saved = SavedState {
            version: STATE_FILE_VERSIONS.writes,
            generation,
            observer_mode: shared.intent.observer == Some(true),
            shared: shared.clone(),
        };
        let tmp = self.path.with_extension("json.tmp");
        let result = self.write(&tmp, &saved);
        match &result {
            Ok(()) if self.failing => {
                self.failing = false;
                tracing::info!(path = %self.path.display(), "state file saved again");
            }
            Ok(()) => {}
            Err(error) => {
                self.write_errors.inc();
                // A partial temp file only takes space the next try needs.
                let _ = fs::remove_file(&tmp);
                if !self.failing {
                    self.failing = true;
                    tracing::error!(error = %format!("{error:#}"), "saving the state file failed");
                }
            }
        }
        result
    }

    fn write(&self, tmp: &Path, saved: &SavedState) -> Result<()> {
        let text = serde_json::to_vec_pretty(saved)?;
        let mut file = File::create(tmp).with_context(|| format!("creating {}", tmp.display()))?;
        file.write_all(&text)
            .and_then(|()| file.sync_all())
            .with_context(|| format!("writing {}", tmp.display()))?;
        fs::rename(tmp, &self.path)
            .with_context(|| format!("renaming {} into place", tmp.display()))?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .with_context(|| format!("syncing {}", dir.display()))?;
        }
        Ok(())
    }
}

impl SavedState {
    /// A state an older build saved with observer mode on (per daemon then)
    /// keeps observing, now as the operator's intent.
    fn upgraded(mut self) -> SavedState {
        if self.observer_mode && self.shared.intent.observer.is_none() {
            self.shared.intent.observer = Some(true);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_corruption() {
        let dir = std::env::temp_dir().join(format!("orbit-state-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let mut file = StateFile::new(&dir, Counter::default());
        assert_eq!(file.load().unwrap(), None);
        let mut shared = SharedState::default();
        shared.intent.epoch = 7;
        shared.intent.observer = Some(true);
        file.save(42, &shared).unwrap();
        let back = file.load().unwrap().unwrap();
        assert_eq!(
            (
                back.generation,
                back.observer_mode,
                back.shared.intent.epoch,
                back.shared.intent.observer
            ),
            (42, true, 7, Some(true))
        );
        // An older build's file: observer mode per daemon, none in the intent.
        fs::write(
            dir.join("state.json"),
            r#"{"version": 1, "generation": 3, "observer_mode": true, "shared": {"placements": {}, "intent": {"epoch": 2, "origin": null, "drained": [], "pins": {}, "placed": {}}}}"#,
        )
        .unwrap();
        let back = file.load().unwrap().unwrap();
        assert_eq!(back.shared.intent.observer, Some(true));
        fs::write(dir.join("state.json"), "{ not json").unwrap();
        let err = file.load().unwrap_err().to_string();
        assert!(err.contains("is corrupt"), "{err}");
        // Not UTF-8: the same clear error, not an I/O one.
        fs::write(dir.join("state.json"), b"{\"version\": 1, \"x\": \"\xff\"}").unwrap();
        let err = file.load().unwrap_err().to_string();
        assert!(err.contains("is corrupt"), "{err}");
        fs::remove_dir_all(&dir).ok();
    }
}
