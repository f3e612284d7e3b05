//! Whether the members run the same cluster-wide config: this member's
//! fingerprint (gossiped with the shared state), the ones heard from the
//! others, and the warning when they differ, journaled and logged once
//! when a mismatch appears, changes or clears (not on every gossip round).

use std::collections::{BTreeMap, BTreeSet};

use orbit_config::Config;
use orbit_core::{ConfigFingerprint, SiteId};

#[derive(Debug)]
pub(super) struct ConfigAgreement {
    local_site: SiteId,
    members: BTreeSet<SiteId>,
    /// Every member's fingerprint known here, this member's included.
    fingerprints: BTreeMap<SiteId, ConfigFingerprint>,
    /// The mismatch last reported, so that each change is reported once.
    reported: Vec<SiteId>,
    /// Members whose gossiped fingerprint is no digest: warned about once.
    malformed: BTreeSet<SiteId>,
}

impl ConfigAgreement {
    pub(super) fn new(config: &Config) -> ConfigAgreement {
        let mut agreement = ConfigAgreement {
            local_site: config.node.site.clone(),
            members: BTreeSet::new(),
            fingerprints: BTreeMap::new(),
            reported: Vec::new(),
            malformed: BTreeSet::new(),
        };
        agreement.reconfigure(config);
        agreement
    }

    /// A (re)loaded config: its fingerprint is this member's from now on,
    /// and members it no longer lists are forgotten.
    pub(super) fn reconfigure(&mut self, config: &Config) {
        self.members = config.members().cloned().collect();
        self.fingerprints
            .retain(|site, _| self.members.contains(site));
        self.fingerprints
            .insert(self.local_site.clone(), config.fingerprint());
    }

    pub(super) fn local(&self) -> &ConfigFingerprint {
        &self.fingerprints[&self.local_site]
    }

    /// What a peer's latest shared state says about its config. A member
    /// that sends none (an older orbitd) or no digest is not known.
    pub(super) fn heard(&mut self, from: &SiteId, fingerprint: Option<&ConfigFingerprint>) {
        if from == &self.local_site || !self.members.contains(from) {
            return;
        }
        match fingerprint {
            Some(fp) if fp.is_well_formed() => {
                self.malformed.remove(from);
                self.fingerprints.insert(from.clone(), fp.clone());
            }
            Some(_) => {
                if self.malformed.insert(from.clone()) {
                    tracing::warn!(%from, "member gossiped a config fingerprint that is no SHA-256 digest; its config is shown as unknown");
                }
                self.fingerprints.remove(from);
            }
            None => {
                self.fingerprints.remove(from);
            }
        }
    }

    pub(super) fn fingerprints(&self) -> &BTreeMap<SiteId, ConfigFingerprint> {
        &self.fingerprints
    }

    pub(super) fn mismatched(&self) -> Vec<SiteId> {
        orbit_core::mismatched(&self.local_site, &self.fingerprints)
    }

    /// The sentence to journal and log when the mismatch changed since
    /// the last call (`true`: members differ now), else `None`.
    pub(super) fn news(&mut self) -> Option<(bool, String)> {
        let now = self.mismatched();
        if now == self.reported {
            return None;
        }
        self.reported = now.clone();
        Some(if now.is_empty() {
            (
                false,
                format!(
                    "config agrees again between members (this member has {})",
                    self.local()
                ),
            )
        } else {
            (
                true,
                orbit_core::mismatch_warning(&self.local_site, &self.fingerprints, &now),
            )
        })
    }
}

impl super::Daemon {
    /// A peer's shared state carries its config fingerprint.
    pub(super) fn hear_config(&mut self, event: &orbit_core::Event) {
        if let orbit_core::Event::Peer { from, state } = event {
            self.agreement.heard(from, state.config.as_deref());
            self.report_agreement();
        }
    }

    /// After a reload: the new config's fingerprint is gossiped from the
    /// next shared-state sync on, and compared from now on.
    pub(super) fn reconfigure_agreement(&mut self) {
        self.agreement.reconfigure(&self.config);
        self.metrics.config_fingerprint(self.agreement.local());
        self.report_agreement();
    }

    /// Metrics always; journal and log only when the mismatch changed.
    pub(super) fn report_agreement(&mut self) {
        self.metrics
            .config_mismatched_members(self.agreement.mismatched().len());
        let Some((differs, message)) = self.agreement.news() else {
            return;
        };
        if differs {
            tracing::warn!(%message, "config agreement");
        } else {
            tracing::info!(%message, "config agreement");
        }
        self.journal
            .append(orbit_core::api::JournalRecord::Lifecycle { message });
    }
}
