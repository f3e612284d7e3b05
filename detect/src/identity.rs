//! Who a gossip member is.
//!
//! foca identifies members by value. Ours carries the gossip address, the
//! site the daemon runs at, and a generation taken from the daemon's start
//! time. When a member learns that it was declared down (or restarts), it
//! comes back under a higher generation: a new identity that wins the
//! address conflict with the old one, so it rejoins at once instead of
//! waiting for the old identity's down state to expire.

use std::net::SocketAddr;

use orbit_core::SiteId;
use serde::{Deserialize, Serialize};

/// A gossip member: one orbitd (site daemon or witness).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Member {
    pub addr: SocketAddr,
    pub site: SiteId,
    /// Milliseconds since the Unix epoch at start, bumped by `renew`.
    pub generation: u64,
}

impl Member {
    pub fn new(addr: SocketAddr, site: SiteId, generation: u64) -> Self {
        Member {
            addr,
            site,
            generation,
        }
    }
}

impl foca::Identity for Member {
    type Addr = SocketAddr;

    fn renew(&self) -> Option<Self> {
        Some(Member {
            generation: self.generation.saturating_add(1),
            ..self.clone()
        })
    }

    fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The newer generation is the live daemon; the other is its past.
    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.generation > adversary.generation
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use foca::Identity;

    #[test]
    fn renew_bumps_the_generation_and_wins() {
        let m = Member::new("127.0.0.1:1".parse().unwrap(), "a".parse().unwrap(), 7);
        let r = m.renew().unwrap();
        assert_eq!(r.generation, 8);
        assert_eq!(r.addr(), m.addr());
        assert!(r.win_addr_conflict(&m));
        assert!(!m.win_addr_conflict(&r));
    }
}
