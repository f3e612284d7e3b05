//! The CONFIG column of `orbitctl status` and the warning above the
//! tables when members' cluster-wide configs differ.

use orbit_core::api::StatusResponse;
use orbit_core::SiteId;

/// A member's short fingerprint, marked where it differs from this
/// member's; `?` while none was heard (or from an older orbitd).
pub(super) fn cell(s: &StatusResponse, site: &SiteId) -> String {
    match s.config_fingerprints.get(site) {
        None => "?".to_owned(),
        Some(fp) if s.config_mismatch.contains(site) => format!("{fp} DIFFERS"),
        Some(fp) => fp.to_string(),
    }
}

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
