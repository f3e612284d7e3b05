//! Where the runtime API listens: `stats socket /path level admin` or
//! `stats socket ipv4@HOST:PORT level admin`.

use std::fmt;
use std::path::PathBuf;

use crate::error::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Unix(PathBuf),
    /// `HOST:PORT`, resolved at each connect.
    Tcp(String),
}

impl Endpoint {
    /// Parses the config's `haproxy.socket`: a path, `unix:PATH` or `tcp:HOST:PORT`.
    pub fn parse(s: &str) -> Result<Endpoint, Error> {
        let bad = |reason: &str| Error::BadEndpoint {
            endpoint: s.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(addr) = s.strip_prefix("tcp:") {
            let (host, port) = addr
                .rsplit_once(':')
                .ok_or_else(|| bad("tcp: needs HOST:PORT"))?;
            if host.is_empty() {
                return Err(bad("tcp: needs a host"));
            }
            port.parse::<u16>()
                .map_err(|_| bad("the port is not a number from 1 to 65535"))?;
            return Ok(Endpoint::Tcp(addr.to_owned()));
        }
        let path = s.strip_prefix("unix:").unwrap_or(s);
        if path.is_empty() {
            return Err(bad("empty path"));
        }
        Ok(Endpoint::Unix(PathBuf::from(path)))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
            Endpoint::Tcp(a) => write!(f, "tcp:{a}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms() {
        assert_eq!(
            Endpoint::parse("/run/haproxy/admin.sock").unwrap(),
            Endpoint::Unix("/run/haproxy/admin.sock".into())
        );
        assert_eq!(
            Endpoint::parse("unix:/x.sock").unwrap(),
            Endpoint::Unix("/x.sock".into())
        );
        assert_eq!(
            Endpoint::parse("tcp:127.0.0.1:9999").unwrap(),
            Endpoint::Tcp("127.0.0.1:9999".into())
        );
        assert_eq!(
            Endpoint::parse("tcp:[::1]:9999").unwrap(),
            Endpoint::Tcp("[::1]:9999".into())
        );
    }

    #[test]
    fn rejects_bad_tcp() {
        for s in ["tcp:host", "tcp::1", "tcp:h:99999", ""] {
            let e = Endpoint::parse(s).unwrap_err();
            assert!(e.to_string().contains("tcp:HOST:PORT"), "{e}");
        }
    }
}
