//! The secret a client presents in its `Authorization` header on the TCP
//! listener: `Bearer TOKEN` (orbitctl, Prometheus) or HTTP Basic (RFC
//! 7617) with the token as the password and any user name, because a
//! browser opening the status page can send only Basic (it prompts for it
//! after a 401 with `WWW-Authenticate: Basic`).
//!
//! This only takes the header apart; the server compares what it finds
//! with the token in constant time, the same way for both schemes, and
//! takes Basic for reading only (see [`Scheme::Basic`]). Every
//! byte here is the client's, before we know who it is: pure, never
//! panics, fuzzed with the requests.

/// How a client presented its secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    Bearer,
    /// HTTP Basic: a browser, which sends credentials it keeps on its own,
    /// also with requests that other web pages make it send.
    Basic,
}

/// The scheme and secret of an `Authorization` value, or `None` when it
/// is neither a bearer token nor well-formed Basic credentials. Scheme
/// names are case-insensitive (RFC 9110 §11.1).
pub fn presented_secret(authorization: &[u8]) -> Option<(Scheme, Vec<u8>)> {
    let space = authorization.iter().position(|&b| b == b' ')?;
    let (scheme, rest) = authorization.split_at(space);
    let rest = rest.trim_ascii_start();
    if scheme.eq_ignore_ascii_case(b"bearer") {
        return Some((Scheme::Bearer, rest.to_vec()));
    }
    if !scheme.eq_ignore_ascii_case(b"basic") {
        return None;
    }
    // user-id ":" password; the user id cannot contain a colon (RFC 7617
    // §2), the password can.
    let pair = crate::base64::decode(rest.trim_ascii_end())?;
    let colon = pair.iter().position(|&b| b == b':')?;
    Some((Scheme::Basic, pair[colon + 1..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base64::encode;

    fn basic(pair: &str) -> Vec<u8> {
        format!("Basic {}", encode(pair.as_bytes())).into_bytes()
    }

    #[test]
    fn bearer_and_basic_present_the_same_secret() {
        let token = b"s3cret-token-for-tests".to_vec();
        assert_eq!(
            presented_secret(b"Bearer s3cret-token-for-tests"),
            Some((Scheme::Bearer, token.clone()))
        );
        for header in [
            basic("operator:s3cret-token-for-tests"),
            basic(":s3cret-token-for-tests"),
            format!("basic  {}", encode(b"x:s3cret-token-for-tests")).into_bytes(),
        ] {
            assert_eq!(
                presented_secret(&header),
                Some((Scheme::Basic, token.clone()))
            );
        }
        // A colon in the password is the password's.
        assert_eq!(
            presented_secret(&basic("u:a:b")),
            Some((Scheme::Basic, b"a:b".to_vec()))
        );
    }

    #[test]
    fn malformed_credentials_present_nothing() {
        for header in [
            b"".to_vec(),
            b"Bearer".to_vec(),
            b"Token abc".to_vec(),
            b"Basic !!!".to_vec(),
            basic("no-colon-here"),
            b"Digest username=\"a\"".to_vec(),
        ] {
            assert_eq!(presented_secret(&header), None, "{header:?}");
        }
    }
}
