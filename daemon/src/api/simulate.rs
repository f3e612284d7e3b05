//! What-if requests: `POST /v1/simulate` (hypothetical failures and
//! drains) and `?dry_run=true` on a command. The event loop plays them on
//! a copy of its engine (`orbit_core::Engine::simulate`) and answers with
//! the decisions and placement; nothing is applied, journaled or gossiped.

use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use orbit_core::{Hypothesis, SimulationError};

use super::{ask, command_status, error, json, read_body, refused, Ctx, Reply};
use crate::daemon::ApiCall;

/// `POST /v1/simulate`.
pub(super) async fn facts(req: Request<Incoming>, ctx: &Ctx) -> Reply {
    let scenario = match read_body(req).await {
        Ok(bytes) => match orbit_core::api::request::scenario(&bytes) {
            Ok(scenario) => scenario,
            Err(e) => return refused(&e),
        },
        Err(e) => return e,
    };
    answer(ctx, Hypothesis::Facts(scenario)).await
}

/// The simulation, or why there is none: a dry run that the command
/// itself would see refused is refused with the command's status (the
/// operator's exit code is the command's), saying that nothing was done.
pub(super) async fn answer(ctx: &Ctx, hypothesis: Hypothesis) -> Reply {
    let dry_run = matches!(hypothesis, Hypothesis::Command(_));
    match ask(ctx, |reply| ApiCall::Simulate(hypothesis, reply)).await {
        Ok(Ok(simulation)) => json(StatusCode::OK, &simulation),
        Ok(Err(SimulationError::Refused(e))) if dry_run => error(
            command_status(&e),
            format!("dry run, nothing applied: the command would be refused: {e}"),
        ),
        Ok(Err(SimulationError::Refused(e))) => error(command_status(&e), e.to_string()),
        Ok(Err(e)) => error(StatusCode::BAD_REQUEST, e.to_string()),
        Err(e) => e,
    }
}
