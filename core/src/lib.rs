//! orbit-core: the pure heart of orbit.
//!
//! Everything here is plain data and plain functions: no sockets, no tokio, no
//! clock reads. Time enters as [`Millis`] in every call that needs it, which is
//! what lets the decision engine be replayed from a recorded event log and
//! checked with property tests.
//!
//! - [`SiteId`], [`ServiceId`]: validated identifiers.
//! - [`Event`]: everything the engine reacts to (liveness verdicts, health,
//!   operator commands, confirmations, timer ticks).
//! - [`Engine`]: turns events into [`Decision`]s and keeps the desired
//!   [`Steering`].
//! - [`Redirector`]: the one trait every data-plane backend implements.
//! - [`config`]: the shared configuration vocabulary ([`config::Site`],
//!   [`config::Service`], [`config::Policy`], durations, problems); each
//!   backend and detector owns its own section, `orbit-config` composes
//!   the file.

pub mod api;
pub mod base64;
pub mod config;
mod decision;
mod engine;
mod error;
mod event;
mod fingerprint;
mod format_version;
mod ids;
mod order;
mod read_buffer;
mod redirect;
mod shared;
mod simulation;
mod steering;
mod time;

pub use decision::{Change, ChangeFields, Decision};
pub use engine::{
    DueStep, Engine, EngineStatus, FailoverCause, Handover, HeldBy, PlanRun, PlanView,
    ServiceStatus, SiteStatus, StepReport, StepRun, StepState, Takeover,
};
pub use error::{CommandError, Error, SimulationError};
pub use event::{Command, Event, Liveness, StepProgress};
pub use fingerprint::{mismatch_warning, mismatched, ConfigFingerprint, SHORT_HEX_DIGITS};
pub use format_version::{FormatVersions, UnsupportedVersion};
pub use ids::{IdError, PlanId, ServiceId, SiteId};
pub use order::{Client, Order, Origin, Reason, ReasonError, MAX_REASON_CHARS};
pub use read_buffer::ReadBuffer;
pub use redirect::{
    Applied, BackendKind, Observed, Reconfiguration, RedirectError, Redirector, ServiceDrift,
};
pub use shared::{Intent, IntentCommand, Placement, SharedState};
pub use simulation::{
    Hypothesis, Scenario, ServiceAt, SimulatedDecision, SimulatedPlacement, Simulation,
};
pub use steering::{Role, ServiceSteering, Steering, WriteGate};
pub use time::Millis;
