//! Moving sessions off the old site after a map commit (`drain`,
//! `shutdown_sessions`): the map only steers new requests and, in TCP mode,
//! new connections; established ones stay where they are unless told.

use std::collections::{BTreeMap, BTreeSet};

use super::Runtime;
use crate::command::ServerState;
use crate::error::Error;
use crate::plan::Entry;

/// `srv_admin_state` bit of a drain forced from the runtime API.
const SRV_ADMF_FDRAIN: u32 = 0x08;

impl Runtime {
    pub(super) fn move_verb(&self) -> &'static str {
        match (self.drain, self.shutdown_sessions) {
            (true, true) => "drained, sessions shut down",
            (true, false) => "drained",
            _ => "sessions shut down",
        }
    }

    /// (old backend, new backend) for every service that moved from one
    /// site to another.
    pub(super) fn moves(
        &self,
        entries: &[Entry],
        before: &[(String, String)],
    ) -> Vec<(String, String)> {
        let before: BTreeMap<&str, &str> = before
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let services: BTreeMap<_, _> = self.layout.services.iter().map(|s| (&s.id, s)).collect();
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for e in entries {
            let Some(old) = before.get(e.key.as_str()) else {
                continue;
            };
            if *old == e.backend {
                continue;
            }
            let was_a_site = services
                .get(&e.service)
                .is_some_and(|s| s.backends.values().any(|b| b == old));
            let pair = ((*old).to_owned(), e.backend.clone());
            if was_a_site && seen.insert(pair.clone()) {
                out.push(pair);
            }
        }
        out
    }

    pub(super) async fn handle_move(
        &mut self,
        old_backend: &str,
        new_backend: &str,
    ) -> Result<(), Error> {
        if !self.shutdown_sessions && !self.drain {
            return Ok(());
        }
        let context = |e: Error| {
            Error::Invalid(format!(
                "the map was committed, but moving sessions off {old_backend} failed: {e}"
            ))
        };
        let old_servers = self
            .client
            .show_servers_state(Some(old_backend))
            .await
            .map_err(context)?;
        for s in &old_servers {
            if self.drain {
                self.client
                    .set_server_state(&s.backend, &s.server, ServerState::Drain)
                    .await
                    .map_err(context)?;
            }
            if self.shutdown_sessions {
                self.client
                    .shutdown_sessions(&s.backend, &s.server)
                    .await
                    .map_err(context)?;
            }
        }
        if self.drain {
            // Undo an earlier drain of the new site's servers (failback),
            // leaving any other admin state (maint) to the operator.
            let new_servers = self
                .client
                .show_servers_state(Some(new_backend))
                .await
                .map_err(context)?;
            for s in new_servers
                .iter()
                .filter(|s| s.admin_state & SRV_ADMF_FDRAIN != 0)
            {
                self.client
                    .set_server_state(&s.backend, &s.server, ServerState::Ready)
                    .await
                    .map_err(context)?;
            }
        }
        Ok(())
    }
}
