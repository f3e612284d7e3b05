//! The config fingerprint: SHA-256 over a canonical text of the parts of
//! `orbit.toml` that must agree across members (see
//! [`orbit_core::ConfigFingerprint`] and docs/config-agreement.md).
//!
//! Canonical so that only meaning counts: one line per item, sites and
//! services sorted by id, prefixes sorted, durations normalised (`300s`
//! and `5m` both read `5m`), defaults filled in (a `quorum = 2` written out equals the majority it
//! defaults to). Key order, whitespace, comments and per-member settings
//! never reach the text.
//!
//! Must agree: the `[[site]]` ids and which are witnesses; per
//! `[[service]]` its id, prefixes, sites in priority order and the
//! `[[plan]]` each service names, and every `[[plan]]` with its steps
//! (the engine holds a move for a plan's before_takeover phase, so members
//! must agree on it); the `[policy]` values every engine decides with (`failover_hold`,
//! `failback`, `failback_after` while failback is automatic, `drain_grace`,
//! `observer` (the cluster's observer mode until an operator sets it: a
//! member that alone observes would leave its commands to the others),
//! the quorum); the fencing timers (`[detect] fence_after`, `fence_margin`
//! after defaults: a cut-off member must fence before the others may vote it
//! dead, which holds only if they count with the same times).
//!
//! Per member, left out: `[node]`, `[api]`, `[journal]`, the gossip addresses (each
//! member may reach a site by another address; wrong ones show as a
//! silent member anyway), health checks (each site checks its own
//! instance), detection tuning other than the fencing timers, the
//! backends, `[hook]`, `[bfd]` timers, `sync_timeout` and `shutdown_grace`
//! (this member's own start and stop).

use std::fmt::Write as _;

use orbit_core::config::{Failback, Plan, StepKind};
use orbit_core::ConfigFingerprint;
use sha2::{Digest, Sha256};

use crate::Config;

/// Names the format, so that a future change of the canonical text gives
/// new digests instead of equal digests of different texts.
const VERSION: &str = "orbit config fingerprint v1";

impl Config {
    /// This member's fingerprint; without `[[service]]`s (a witness need
    /// not list them) it has no services part.
    pub fn fingerprint(&self) -> ConfigFingerprint {
        let (cluster, services) = self.agreed_text();
        ConfigFingerprint {
            cluster: sha256_hex(&cluster),
            services: services.as_deref().map(sha256_hex),
        }
    }

    /// The canonical texts the fingerprint digests: the cluster part and
    /// (unless no service is listed) the services part. Two members' texts differ
    /// exactly where their configs disagree.
    pub fn agreed_text(&self) -> (String, Option<String>) {
        let mut cluster = format!("{VERSION}: cluster\n");
        let mut sites: Vec<_> = self.sites.iter().collect();
        sites.sort_by(|a, b| a.id.cmp(&b.id));
        for site in sites {
            let role = if site.witness { "witness" } else { "site" };
            let _ = writeln!(cluster, "site {} {role}", site.id);
        }
        let p = &self.policy;
        let failback = match p.failback {
            Failback::After => format!("after failback_after={}", p.failback_after),
            Failback::Manual => "manual".to_owned(),
        };
        let _ = writeln!(
            cluster,
            "policy failover_hold={} failback={failback} drain_grace={} quorum={} observer={}",
            p.failover_hold,
            p.drain_grace,
            self.quorum(),
            p.observer
        );
        let fence = self.fence_timers();
        let _ = writeln!(
            cluster,
            "fence fence_after={} fence_margin={}",
            fence.fence_after, fence.margin
        );
        if self.services.is_empty() {
            // A witness need not list the services it never carries.
            return (cluster, None);
        }
        let mut services = format!("{VERSION}: services\n");
        let mut entries: Vec<_> = self.services.iter().collect();
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        for service in entries {
            let mut prefixes: Vec<String> =
                service.prefixes.iter().map(ToString::to_string).collect();
            prefixes.sort();
            let sites: Vec<&str> = service.sites.iter().map(|s| s.as_str()).collect();
            let _ = write!(
                services,
                "service {} prefixes={} sites={}",
                service.id,
                prefixes.join(","),
                sites.join(">")
            );
            match &service.plan {
                Some(plan) => {
                    let _ = writeln!(services, " plan={plan}");
                }
                None => services.push('\n'),
            }
        }
        let mut plans: Vec<_> = self.plans.iter().collect();
        plans.sort_by(|a, b| a.id.cmp(&b.id));
        for plan in plans {
            plan_text(plan, &mut services);
        }
        (cluster, Some(services))
    }
}

/// A plan's lines: every step with its defaults filled in, in phase order
/// (the order of the steps within a phase is the order they run in).
fn plan_text(plan: &Plan, out: &mut String) {
    let on_failure = match plan.proceed_after {
        Some(after) => format!("proceed_after={after}"),
        None => "hold".to_owned(),
    };
    let _ = writeln!(out, "plan {} on_failure={on_failure}", plan.id);
    for (phase, i, step) in plan.all_steps() {
        let _ = write!(
            out,
            "plan {} {} {} kind={:?} at={} timeout={} retries={} idempotent={}",
            plan.id,
            phase.key(),
            step.name(phase, i),
            step.kind,
            step.at(phase).as_str(),
            step.timeout,
            step.retries,
            step.idempotent
        );
        match step.kind {
            StepKind::Exec => {
                let _ = writeln!(
                    out,
                    " command={:?}",
                    step.command.as_deref().unwrap_or_default()
                );
            }
            StepKind::Http => {
                let _ = writeln!(
                    out,
                    " {} {:?} body={:?}",
                    step.method(),
                    step.url.as_deref().unwrap_or_default(),
                    step.body.as_deref().unwrap_or_default()
                );
            }
        }
    }
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

#[cfg(test)]
mod tests;
