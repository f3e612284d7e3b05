//! Running disaster-recovery plans (docs/plans.md): the engine decides which
//! step of which move is due; this module runs it.

pub mod step;
