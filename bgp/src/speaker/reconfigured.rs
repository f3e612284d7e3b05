//! The report of a reload ([`super::Speaker::reconfigure`]): what changed
//! per peer, in words for the journal.

use super::*;

/// What [`Speaker::reconfigure`] did, for the journal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reconfigured {
    /// The peers that changed, in the new configuration's order (removed
    /// ones first).
    pub peers: Vec<PeerReconfigured>,
    /// Opened, moved or closed (`None`: as it was).
    pub listener: Option<String>,
    /// The announce policy (`[bgp.active]`, `[bgp.standby]`,
    /// `[bgp.takeover]`, `[bgp.drain]`, next hops, service prefixes)
    /// changed: the last steering was re-applied under the new one.
    pub policy_changed: bool,
    /// The re-apply of the last steering, if there was one and it changed
    /// routes ("2 UPDATEs to 2 of 2 peers, 1 routes").
    pub reapplied: Option<String>,
}

/// One peer's part in a reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerReconfigured {
    pub address: IpAddr,
    pub change: PeerReload,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerReload {
    /// New `[[bgp.peer]]`: a session was started.
    Added,
    /// Gone from the config: closed with Cease / Peer De-configured
    /// (RFC 4486 §4, subcode 3).
    Removed,
    /// A session parameter changed (the names of what changed, as in the
    /// config): closed with Cease / Other Configuration Change (RFC 4486
    /// §4, subcode 6) and started again with the new parameters.
    Restarted { changed: Vec<String> },
    /// Only settings that apply to the live session changed (next hops,
    /// `connect_retry`): taken without a reset.
    Updated { changed: Vec<String> },
}

impl Reconfigured {
    /// Whether anything at all changed.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
            && self.listener.is_none()
            && !self.policy_changed
            && self.reapplied.is_none()
    }
}

impl fmt::Display for Reconfigured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        for p in &self.peers {
            let a = p.address;
            parts.push(match &p.change {
                PeerReload::Added => format!("peer {a} added"),
                PeerReload::Removed => format!("peer {a} removed"),
                PeerReload::Restarted { changed } => {
                    format!("peer {a} restarted ({} changed)", changed.join(", "))
                }
                PeerReload::Updated { changed } => {
                    format!("peer {a} updated in place ({} changed)", changed.join(", "))
                }
            });
        }
        if let Some(l) = &self.listener {
            parts.push(l.clone());
        }
        if self.policy_changed {
            parts.push("announce policy changed".into());
        }
        if let Some(r) = &self.reapplied {
            parts.push(format!("re-applied: {r}"));
        }
        if parts.is_empty() {
            f.write_str("nothing changed")
        } else {
            f.write_str(&parts.join("; "))
        }
    }
}
