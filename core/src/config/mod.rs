//! The configuration vocabulary every crate shares: durations as operators
//! write them, the problem list that validation fills, and the sections
//! the decision engine itself runs on (`[[site]]`, `[[service]]`'s
//! steering part, `[policy]`).
//!
//! Each backend and detector crate owns its own section (types and
//! `validate`); `orbit-config` composes them into `orbit.toml`.

mod change;
mod duration;
mod plan;
mod problems;
mod vocabulary;

pub use change::{ConfigChange, Delta};
pub use duration::HumanDuration;
pub use plan::{
    check_template, render_template, Phase, Plan, PlanStep, StepContext, StepKind, StepSite,
    PLACEHOLDERS,
};
pub use problems::{Problem, Problems};
pub use vocabulary::{majority, site_ids, Failback, Policy, Scope, Service, ServiceEntry, Site};
