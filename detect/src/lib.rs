//! Failure detectors for orbit: SWIM gossip between site daemons (with the
//! witness as a voter), health checks with rise/fall, a Serf agent adapter and
//! a netlink link watch. Every detector turns what it sees into
//! [`orbit_core::Event`]s for the decision engine; none of them decides.
