//! `POST /v1/reload`: the event loop reloads (or only checks) and answers
//! with what the config changes; 200 when taken (or, checked, when it
//! would be), 422 with the problems when refused.

use super::*;
use crate::daemon::ReloadCall;

/// A config sent to be checked is bigger than a command; still bounded,
/// well above any real `orbit.toml`.
const MAX_CONFIG_BODY: usize = 1024 * 1024;

pub(super) async fn reload(req: Request<Incoming>, ctx: &Ctx, client: Client) -> Reply {
    let bytes = match read_body_up_to(req, MAX_CONFIG_BODY).await {
        Ok(b) => b,
        Err(e) => return e,
    };
    let request = match orbit_core::api::request::reload(&bytes) {
        Ok(request) => request,
        Err(e) => return refused(&e),
    };
    let (reply, answer) = oneshot::channel();
    let call = ReloadCall {
        request,
        by: client.to_string(),
        reply,
    };
    if ctx.tx.send(Input::Reload(Some(call))).await.is_err() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "orbitd is shutting down");
    }
    // Bounded by the request timeout (`handle`): a reload that rebuilds
    // backends may take longer than a command, and once the loop took it,
    // it finishes whether or not anyone waits.
    match answer.await {
        Ok(response) if response.error.is_none() => json(StatusCode::OK, &response),
        Ok(response) => json(StatusCode::UNPROCESSABLE_ENTITY, &response),
        Err(_) => error(StatusCode::SERVICE_UNAVAILABLE, "orbitd is shutting down"),
    }
}
