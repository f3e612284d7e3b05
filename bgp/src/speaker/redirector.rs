//! The speaker as a backend: steering in, UPDATEs out, confirmed when every
//! Established peer took them.

use super::*;

#[async_trait::async_trait]
impl Redirector for Speaker {
    fn kind(&self) -> BackendKind {
        BackendKind::Bgp
    }

    async fn apply(&mut self, steering: &Steering) -> Result<Applied, RedirectError> {
        if let Some(why) = steering.write_gate().blocks(BackendKind::Bgp) {
            return Ok(Applied {
                generation: steering.generation,
                changes: 0,
                detail: format!("{why}: nothing announced"),
            });
        }
        // Refused whole, before anything is sent: the previous state stays.
        // A retry (no session up yet) or the same placement again makes the
        // same routes: the RIB is shared, not built again (at 100k prefixes
        // a second copy beside the first).
        let rib = match &self.last {
            Some((last, Some(rib)))
                if last.fenced == steering.fenced && last.services == steering.services =>
            {
                rib.clone()
            }
            _ => Arc::new(self.policy.desired(steering)?),
        };
        // A fenced steering is provisional: after a restart it comes before
        // the daemon knows where the services belong, and End-of-RIB after
        // it would make graceful-restart peers flush the routes they kept
        // for us (RFC 4724 §4.1/§4.2).
        let (established, changes, detail) = self.apply_rib(rib.clone(), steering.fenced).await?;
        self.last = Some((steering.clone(), Some(rib)));
        if established == 0 {
            return Err(RedirectError::Unreachable {
                component: "BGP peers".into(),
                detail: format!(
                    "no session is Established; the routes go out when one comes up ({detail})"
                ),
            });
        }
        Ok(Applied {
            generation: steering.generation,
            changes,
            detail,
        })
    }

    async fn close(&mut self, reason: &str) {
        self.stop(reason).await;
    }

    /// Only what the speaker can know: whether the services the local site
    /// is Active for are announced to an Established peer (the local site,
    /// or nowhere). Which site a peer prefers among the announcements is in
    /// the peer's table, which BGP cannot read, so the other services (and
    /// every service while no session is up) are left out of `services`.
    async fn observe(&mut self) -> Result<Observed, RedirectError> {
        let peers = self.peers().await?;
        let established: Vec<_> = peers
            .iter()
            .filter(|p| p.state == State::Established)
            .collect();
        let mut services = BTreeMap::new();
        if let Some((steering, _)) = self.last.as_ref().filter(|_| !established.is_empty()) {
            for (id, s) in &steering.services {
                if s.local_role != Role::Active {
                    continue;
                }
                let announced = established.iter().any(|p| {
                    s.prefixes
                        .iter()
                        .any(|px| p.adj_rib_out.contains_key(&px.trunc()))
                });
                services.insert(id.clone(), announced.then(|| steering.local_site.clone()));
            }
        }
        let detail = peers
            .iter()
            .map(|p| {
                format!(
                    "{} {:?} out={} in={}{}",
                    p.address,
                    p.state,
                    p.adj_rib_out.len(),
                    p.counters.prefixes_received,
                    p.last_error
                        .as_deref()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        Ok(Observed { services, detail })
    }
}
