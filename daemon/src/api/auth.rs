//! Who may use the TCP listener: whoever presents the token, as a bearer
//! token (orbitctl, Prometheus) or as the password of HTTP Basic
//! credentials with any user name (a browser on the status page, which
//! cannot send a bearer header but asks for Basic credentials after a 401
//! that offers them). The unix socket's file mode is its access control.

use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use hyper::{Request, StatusCode};
use orbit_core::api::credentials::presented_secret;
use subtle::ConstantTimeEq;

use super::{error, Ctx, Reply};

/// Whether the request may be served.
pub(super) fn authorized(req: &Request<Incoming>, ctx: &Ctx) -> bool {
    let Some(token) = &ctx.token else { return true };
    let header = req.headers().get(AUTHORIZATION).map(HeaderValue::as_bytes);
    presents(header, token, constant_time_eq)
}

/// Whether an `Authorization` value carries `token`, whichever the
/// scheme: both end in the one comparison `eq`.
fn presents(authorization: Option<&[u8]>, token: &str, eq: fn(&[u8], &[u8]) -> bool) -> bool {
    authorization
        .and_then(presented_secret)
        .is_some_and(|given| eq(&given, token.as_bytes()))
}

/// Equality in time independent of where the bytes differ, so that a
/// client cannot learn the token byte by byte (only its length).
fn constant_time_eq(given: &[u8], token: &[u8]) -> bool {
    given.ct_eq(token).into()
}

/// 401, with the challenges that make a browser ask for the token (as a
/// Basic password) and tell an API client to send it as a bearer token.
pub(super) fn unauthorized() -> Reply {
    let mut response = error(
        StatusCode::UNAUTHORIZED,
        "missing or wrong bearer token (send Authorization: Bearer TOKEN; a browser: \
         the token as the password, any user name)",
    );
    for challenge in [
        r#"Basic realm="orbitd", charset="UTF-8""#,
        r#"Bearer realm="orbitd""#,
    ] {
        response
            .headers_mut()
            .append(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    const TOKEN: &str = "s3cret-token-for-tests-only";

    fn basic(pair: &str) -> Vec<u8> {
        format!("Basic {}", orbit_core::base64::encode(pair.as_bytes())).into_bytes()
    }

    thread_local! {
        static COMPARED: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
    }

    /// The constant-time comparison, noting what it was given.
    fn spy(given: &[u8], token: &[u8]) -> bool {
        COMPARED.with(|c| c.borrow_mut().push(given.to_vec()));
        constant_time_eq(given, token)
    }

    fn check(header: Option<&[u8]>) -> (bool, Vec<Vec<u8>>) {
        COMPARED.with(|c| c.borrow_mut().clear());
        let ok = presents(header, TOKEN, spy);
        (ok, COMPARED.with(|c| c.borrow().clone()))
    }

    #[test]
    fn the_token_as_basic_password_is_accepted_through_the_constant_time_comparison() {
        let right = basic(&format!("operator:{TOKEN}"));
        assert_eq!(check(Some(&right)), (true, vec![TOKEN.as_bytes().to_vec()]));
        let bearer = format!("Bearer {TOKEN}").into_bytes();
        assert_eq!(
            check(Some(&bearer)),
            (true, vec![TOKEN.as_bytes().to_vec()])
        );
        // The production path compares with `constant_time_eq`, nothing else.
        assert!(presents(Some(&right), TOKEN, constant_time_eq));
    }

    #[test]
    fn a_wrong_or_missing_token_is_refused() {
        let wrong = basic("operator:s3cret-token-for-tests-onlX");
        let (ok, compared) = check(Some(&wrong));
        assert!(!ok);
        assert_eq!(compared, vec![b"s3cret-token-for-tests-onlX".to_vec()]);
        // The token as user name is not the password.
        assert!(!check(Some(&basic(&format!("{TOKEN}:")))).0);
        // Nothing to compare: refused without a comparison.
        for header in [None, Some(&b"Basic %%%"[..]), Some(&b"Digest x"[..])] {
            assert_eq!(check(header), (false, vec![]), "{header:?}");
        }
        assert!(!constant_time_eq(b"short", TOKEN.as_bytes()));
        assert!(!constant_time_eq(b"", TOKEN.as_bytes()));
    }

    #[test]
    fn a_refusal_offers_basic_so_that_a_browser_asks() {
        let response = unauthorized();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenges: Vec<&str> = response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        assert!(
            challenges.contains(&r#"Basic realm="orbitd", charset="UTF-8""#),
            "{challenges:?}"
        );
    }
}
