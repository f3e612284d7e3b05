//! The warning above `orbitctl status`'s tables when members'
//! cluster-wide configs differ (the CONFIG column is
//! `orbit_core::api::words::config_cell`).

use orbit_core::api::StatusResponse;

/// The warning line, when any member's config differs from this one's.
pub(super) fn warning(s: &StatusResponse) -> Option<String> {
    (!s.config_mismatch.is_empty()).then(|| {
        format!(
            "WARNING: {}\n\n",
            orbit_core::mismatch_warning(
                &s.engine.local_site,
                &s.config_fingerprints,
                &s.config_mismatch
            )
        )
    })
}
