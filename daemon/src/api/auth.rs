//! Who may use the TCP listener: whoever presents the token, as a bearer
//! token (orbitctl, Prometheus) or as the password of HTTP Basic
//! credentials with any user name (a browser on the status page, which
//! cannot send a bearer header but asks for Basic credentials after a 401
//! that offers them). The unix socket's file mode is its access control.
//!
//! Basic credentials are taken for reading only (GET and HEAD): a browser
//! keeps them and sends them with any request to this origin, also with a
//! form that another web site makes it post (a cross-site request
//! forgery: a text/plain form can carry a JSON command body). Reading
//! gives such a site nothing (it cannot see the answer); a command, a
//! reload or fed-in events need the bearer token, which no browser sends
//! by itself. And no request that changes something is taken from a web
//! page at all, on either listener ([`from_a_web_page`]).

use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, ORIGIN, WWW_AUTHENTICATE};
use hyper::{Method, Request, StatusCode};
use orbit_core::api::credentials::{presented_secret, Scheme};
use subtle::ConstantTimeEq;

use super::{error, Ctx, Reply};

/// The 403 to answer a request that would change something and comes
/// from a web page: browsers mark every such request with `Origin` (and
/// `Sec-Fetch-Site`), orbitctl, curl and scripts never do. On the unix
/// socket, or a local port an SSH tunnel forwards to it, there is no
/// credential a browser would have to hold: any web site the operator
/// opens could otherwise post a command there (a `text/plain` form can
/// carry a JSON body). The status page itself only reads.
pub(super) fn from_a_web_page(req: &Request<Incoming>) -> Option<Reply> {
    if matches!(*req.method(), Method::GET | Method::HEAD) {
        return None;
    }
    let headers = req.headers();
    let marked = headers.contains_key(ORIGIN) || headers.contains_key("sec-fetch-site");
    marked.then(|| {
        error(
            StatusCode::FORBIDDEN,
            "orbitd takes no commands from web pages (this request carries a browser's \
             Origin or Sec-Fetch-Site header); use orbitctl or another client",
        )
    })
}

/// Why a request is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// No token, or a wrong one.
    Token,
    /// The right token, as Basic credentials, on a request that changes
    /// something.
    BasicWrites,
}

/// The 401 to answer when the request may not be served.
pub(super) fn refusal(req: &Request<Incoming>, ctx: &Ctx) -> Option<Reply> {
    let token = ctx.token.as_ref()?;
    let header = req.headers().get(AUTHORIZATION).map(HeaderValue::as_bytes);
    let reading = matches!(*req.method(), Method::GET | Method::HEAD);
    judge(header, reading, token, constant_time_eq)
        .err()
        .map(unauthorized)
}

/// Whether an `Authorization` value carries `token` (whichever the scheme,
/// through the one comparison `eq`) in a scheme allowed for the request.
fn judge(
    authorization: Option<&[u8]>,
    reading: bool,
    token: &str,
    eq: fn(&[u8], &[u8]) -> bool,
) -> Result<(), Refusal> {
    let Some((scheme, given)) = authorization.and_then(presented_secret) else {
        return Err(Refusal::Token);
    };
    if !eq(&given, token.as_bytes()) {
        return Err(Refusal::Token);
    }
    match scheme {
        Scheme::Basic if !reading => Err(Refusal::BasicWrites),
        Scheme::Basic | Scheme::Bearer => Ok(()),
    }
}

/// Equality in time independent of where the bytes differ, so that a
/// client cannot learn the token byte by byte (only its length).
fn constant_time_eq(given: &[u8], token: &[u8]) -> bool {
    given.ct_eq(token).into()
}

/// 401, with the challenges that make a browser ask for the token (as a
/// Basic password) and tell an API client to send it as a bearer token.
fn unauthorized(why: Refusal) -> Reply {
    let message = match why {
        Refusal::Token => {
            "missing or wrong bearer token (send Authorization: Bearer TOKEN; a browser: \
             the token as the password, any user name)"
        }
        Refusal::BasicWrites => {
            "Basic credentials are taken for reading only (GET, HEAD): a browser sends them \
             with requests other web sites make it send; send Authorization: Bearer TOKEN"
        }
    };
    let mut response = error(StatusCode::UNAUTHORIZED, message);
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

    /// (verdict, what was compared) for a header on a GET (`reading`) or
    /// a POST.
    fn check(header: Option<&[u8]>, reading: bool) -> (Result<(), Refusal>, Vec<Vec<u8>>) {
        COMPARED.with(|c| c.borrow_mut().clear());
        let verdict = judge(header, reading, TOKEN, spy);
        (verdict, COMPARED.with(|c| c.borrow().clone()))
    }

    #[test]
    fn the_token_as_basic_password_is_accepted_through_the_constant_time_comparison() {
        let compared = vec![TOKEN.as_bytes().to_vec()];
        let right = basic(&format!("operator:{TOKEN}"));
        assert_eq!(check(Some(&right), true), (Ok(()), compared.clone()));
        let bearer = format!("Bearer {TOKEN}").into_bytes();
        assert_eq!(check(Some(&bearer), true), (Ok(()), compared.clone()));
        assert_eq!(check(Some(&bearer), false), (Ok(()), compared));
        // The production path compares with `constant_time_eq`, nothing else.
        assert_eq!(judge(Some(&right), true, TOKEN, constant_time_eq), Ok(()));
    }

    #[test]
    fn a_wrong_or_missing_token_is_refused() {
        let wrong = basic("operator:s3cret-token-for-tests-onlX");
        let (verdict, compared) = check(Some(&wrong), true);
        assert_eq!(verdict, Err(Refusal::Token));
        assert_eq!(compared, vec![b"s3cret-token-for-tests-onlX".to_vec()]);
        // The token as user name is not the password.
        assert_eq!(
            check(Some(&basic(&format!("{TOKEN}:"))), true).0,
            Err(Refusal::Token)
        );
        // Nothing to compare: refused without a comparison.
        for header in [None, Some(&b"Basic %%%"[..]), Some(&b"Digest x"[..])] {
            assert_eq!(
                check(header, true),
                (Err(Refusal::Token), vec![]),
                "{header:?}"
            );
        }
        assert!(!constant_time_eq(b"short", TOKEN.as_bytes()));
        assert!(!constant_time_eq(b"", TOKEN.as_bytes()));
    }

    #[test]
    fn basic_credentials_only_read_so_that_other_sites_cannot_command_through_a_browser() {
        let right = basic(&format!("operator:{TOKEN}"));
        assert_eq!(check(Some(&right), false).0, Err(Refusal::BasicWrites));
        // A wrong password is a wrong token, whatever the method.
        let wrong = basic("operator:nope");
        assert_eq!(check(Some(&wrong), false).0, Err(Refusal::Token));
    }

    #[test]
    fn a_refusal_offers_basic_so_that_a_browser_asks() {
        let response = unauthorized(Refusal::Token);
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
