//! Authority: whether the local engine may claim and move services at all.
//! It needs a quorum (not fenced) and a recent view of the peers'
//! placements (synced); without both, the steering is fenced.

use super::evaluate::Decisions;
use super::Engine;
use crate::decision::Change;

impl Engine {
    /// Rule: self-fencing. A local site that reaches fewer members than a
    /// quorum withdraws everything it carries, because the majority on the
    /// other side of the cut may already have taken its services over.
    /// Becoming fenced or unfenced makes the engine unsynced again.
    pub(super) fn settle_fencing(&mut self, decisions: &mut Decisions) {
        let fenced = self.view.fenced(&self.local);
        if fenced == self.fenced {
            return;
        }
        self.fenced = fenced;
        let reachable = self.view.reachable_from(&self.local);
        let reason = if self.view.grouped() {
            let who = format!("member {} of site {}", self.local, self.site);
            if fenced {
                format!(
                    "{who} reaches only {reachable} of the {} sites a quorum needs: \
                     withdrawing everything (self-fencing)",
                    self.view.quorum()
                )
            } else {
                format!(
                    "{who} reaches {reachable} sites again (quorum {}): fencing lifted",
                    self.view.quorum()
                )
            }
        } else if fenced {
            format!(
                "site {} reaches only {reachable} of the {} members a quorum needs: \
                 withdrawing everything (self-fencing)",
                self.local,
                self.view.quorum()
            )
        } else {
            format!(
                "site {} reaches {reachable} members again (quorum {}): fencing lifted",
                self.local,
                self.view.quorum()
            )
        };
        decisions.push(Change::Fenced { fenced }, reason, Vec::new());
        // Whatever happened while fenced, the majority may have moved on:
        // listen before claiming anything again. And a site that was cut
        // off never saw itself dead, so the failback clocks it kept
        // running prove nothing: they restart now.
        self.synced = false;
        self.fresh_peer = false;
        self.unsynced_since = self.now;
        self.eligible_since.clear();
    }

    /// Rule: after start or a change of fencing, the engine claims nothing
    /// until it has heard a fresh placement table from a peer and then
    /// waited `resync_quiet` (the news queued up during a cut arrives first
    /// and may look fresh), or until `sync_timeout` passed without one (it
    /// may be alone): a stale placement of ours must not be claimed over
    /// the majority's newer one.
    pub(super) fn settle_sync(&mut self) {
        if self.synced || self.fenced {
            return;
        }
        let waited = self.now.since(self.unsynced_since);
        if self.fresh_peer && waited >= self.resync_quiet {
            self.synced = true;
        }
        if !self.synced && waited >= self.sync_timeout {
            tracing::info!(
                "no placement table from a peer within the sync timeout: deciding alone"
            );
            self.synced = true;
        }
    }
}
