//! The state file: what a restarted orbitd needs to resume without a flap
//! (operator intent, placements, steering generation, observer mode).
//!
//! Written atomically (temp file, fsync, rename, fsync of the directory), so
//! a crash leaves either the old or the new file, never half of one.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use orbit_core::SharedState;
use serde::{Deserialize, Serialize};

const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SavedState {
    pub version: u32,
    pub generation: u64,
    pub observer_mode: bool,
    pub shared: SharedState,
}

#[derive(Debug)]
pub struct StateFile {
    path: PathBuf,
}

impl StateFile {
    pub fn new(state_dir: &Path) -> StateFile {
        StateFile {
            path: state_dir.join("state.json"),
        }
    }

    /// The saved state, `None` if there is none yet. A corrupt file is an
    /// error: silently starting from scratch could undo an operator's pin.
    pub fn load(&self) -> Result<Option<SavedState>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("reading {}", self.path.display())),
        };
        let saved: SavedState = serde_json::from_str(&text).with_context(|| {
            format!(
                "state file {} is corrupt; move it away to start without saved pins and placements",
                self.path.display()
            )
        })?;
        if saved.version != FORMAT_VERSION {
            anyhow::bail!(
                "state file {} has format version {}, this orbitd reads {FORMAT_VERSION}",
                self.path.display(),
                saved.version
            );
        }
        Ok(Some(saved))
    }

    pub fn save(&self, generation: u64, observer_mode: bool, shared: &SharedState) -> Result<()> {
        let saved = SavedState {
            version: FORMAT_VERSION,
            generation,
            observer_mode,
            shared: shared.clone(),
        };
        let text = serde_json::to_vec_pretty(&saved)?;
        let tmp = self.path.with_extension("json.tmp");
        let mut file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        file.write_all(&text)?;
        file.sync_all()?;
        fs::rename(&tmp, &self.path)
            .with_context(|| format!("renaming {} into place", tmp.display()))?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_corruption() {
        let dir = std::env::temp_dir().join(format!("orbit-state-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let file = StateFile::new(&dir);
        assert_eq!(file.load().unwrap(), None);
        let mut shared = SharedState::default();
        shared.intent.epoch = 7;
        file.save(42, true, &shared).unwrap();
        let back = file.load().unwrap().unwrap();
        assert_eq!(
            (
                back.generation,
                back.observer_mode,
                back.shared.intent.epoch
            ),
            (42, true, 7)
        );
        fs::write(dir.join("state.json"), "{ not json").unwrap();
        let err = file.load().unwrap_err().to_string();
        assert!(err.contains("is corrupt"), "{err}");
        fs::remove_dir_all(&dir).ok();
    }
}
