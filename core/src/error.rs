//! The error type of orbit-core.

use crate::ids::{join_names, ServiceId, SiteId};

/// Errors of orbit-core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    Simulation(#[from] SimulationError),
    #[error(transparent)]
    Version(#[from] crate::format_version::UnsupportedVersion),
}

/// Why an operator command is refused. Nothing changes when it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    #[error("unknown service {0:?}")]
    UnknownService(String),
    #[error("unknown site {0:?}")]
    UnknownSite(String),
    #[error("site {site} does not serve {service} (its sites are: {sites})")]
    SiteNotServing {
        site: SiteId,
        service: ServiceId,
        sites: String,
    },
    #[error("site {0} is a witness and carries no services")]
    Witness(SiteId),
    #[error("site {site} cannot take {service} now: {why}")]
    NotEligible {
        site: SiteId,
        service: ServiceId,
        why: String,
    },
    #[error("site {0} serves no service that could move (pinned services stay)")]
    NothingToMove(SiteId),
    #[error("{service} is pinned to site {site}; unpin it first")]
    Pinned { service: ServiceId, site: SiteId },
    #[error("{0} is not pinned")]
    NotPinned(ServiceId),
    /// The command would leave services that some site carries now with
    /// no site at all; `force` carries it out anyway.
    #[error(
        "this would leave {} without any site to carry {}; \
         add --force (\"force\": true in the API) to do it anyway",
        join_names(.0),
        if .0.len() == 1 { "it" } else { "them" }
    )]
    WouldStrand(Vec<ServiceId>),
    #[error(
        "site {here} places no services (a witness), so it cannot tell whether draining \
         site {site} leaves a service without any site; issue it at a site that serves \
         them, or add --force"
    )]
    CannotJudge { here: SiteId, site: SiteId },
    #[error("site {site} cannot steer traffic now: {why}")]
    NotReady { site: SiteId, why: String },
    /// The daemon could not save the command (journal or state file), so
    /// it did not apply it either: a restart must not undo what an
    /// operator was told had happened.
    #[error(
        "not applied: it could not be saved in the state directory ({0}); \
         free space there (or fix the file system) and retry"
    )]
    NotPersisted(String),
}

/// Why a what-if question (`orbitctl simulate`, `--dry-run`) has no answer.
/// Nothing changes either way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimulationError {
    #[error("nothing to simulate: name at least one of --dead, --unhealthy, --drain, --cut")]
    Empty,
    #[error(
        "site {0} is this daemon's own site, and an engine never declares itself dead: \
         simulate its death at another member"
    )]
    OwnDeath(SiteId),
    #[error("a cut is between two members; {0}-{0} names one twice")]
    SelfCut(SiteId),
    #[error(
        "{service} has no health check, so its health at site {site} never moves it \
         (configure [service.health] to have it fail over on health)"
    )]
    NotHealthChecked { service: ServiceId, site: SiteId },
    /// The command (or a named site or service) is refused, as the command
    /// itself would be.
    #[error(transparent)]
    Refused(#[from] CommandError),
}
