//! orbitd's HTTP requests, parsed: method and path to an [`Endpoint`], the
//! journal's query string to a [`JournalQuery`], a command's JSON body to a
//! [`Command`].
//!
//! Every byte here was chosen by a client, on the TCP listener before we
//! know who it is, so this is pure, never panics and is fuzzed
//! (`fuzz/fuzz_targets/api_request.rs`). Authentication, size and time
//! limits stay with the server, which reads a body only once it knows the
//! endpoint wants one.

use serde::de::DeserializeOwned;

use super::{
    DrainRequest, FailbackRequest, ObserverRequest, PinRequest, SwitchoverRequest, UnpinRequest,
};
use crate::event::{Command, Liveness};
use crate::ids::{ServiceId, SiteId};
use crate::order::{Client, Order, Origin, Reason};
use crate::simulation::Scenario;

/// A path orbitd serves. Requests are counted per route, not per raw path,
/// so that made-up paths cannot grow `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Route {
    /// The status page (HTML).
    Page,
    Live,
    Ready,
    Metrics,
    Status,
    Journal,
    Switchover,
    Drain,
    Failback,
    Pin,
    Observer,
    Events,
    Reload,
    Simulate,
}

impl Route {
    pub const ALL: [Route; 14] = [
        Route::Page,
        Route::Live,
        Route::Ready,
        Route::Metrics,
        Route::Status,
        Route::Journal,
        Route::Switchover,
        Route::Drain,
        Route::Failback,
        Route::Pin,
        Route::Observer,
        Route::Events,
        Route::Reload,
        Route::Simulate,
    ];

    pub fn path(self) -> &'static str {
        match self {
            Route::Page => "/",
            Route::Live => "/live",
            Route::Ready => "/ready",
            Route::Metrics => "/metrics",
            Route::Status => "/v1/status",
            Route::Journal => "/v1/journal",
            Route::Switchover => "/v1/switchover",
            Route::Drain => "/v1/drain",
            Route::Failback => "/v1/failback",
            Route::Pin => "/v1/pin",
            Route::Observer => "/v1/observer",
            Route::Events => "/v1/events",
            Route::Reload => "/v1/reload",
            Route::Simulate => "/v1/simulate",
        }
    }

    pub fn from_path(path: &str) -> Option<Route> {
        Route::ALL.into_iter().find(|r| r.path() == path)
    }
}

/// The `method` label of a request: the methods of RFC 9110 by name, any
/// other (a client may send any token) as `other`.
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 8] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE",
    ];
    KNOWN.into_iter().find(|m| *m == method).unwrap_or("other")
}

/// A route with a method it allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// The status page: `GET` or `HEAD` (its headers only).
    Page,
    Live,
    Ready,
    Metrics,
    Status,
    /// Its query string is a [`JournalQuery`].
    Journal,
    /// An external detector's events; the server decodes ([`events`]) and
    /// checks them.
    Events,
    /// What-if facts, whose JSON body [`scenario`] decodes.
    Simulate,
    /// An operator command, whose JSON body [`CommandEndpoint::parse`]
    /// decodes.
    Command(CommandEndpoint),
    /// Reload or check a config; its JSON body is a
    /// [`ReloadRequest`](super::ReloadRequest) ([`reload`]).
    Reload,
}

/// The endpoints of operator commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandEndpoint {
    Switchover,
    Drain,
    Failback,
    Pin,
    Unpin,
    Observer,
}

impl Endpoint {
    /// What `method path` asks for.
    pub fn parse(method: &str, path: &str) -> Result<Endpoint, RequestError> {
        let Some(route) = Route::from_path(path) else {
            return Err(RequestError::NotFound(shorten(path)));
        };
        Ok(match (method, route) {
            ("GET" | "HEAD", Route::Page) => Endpoint::Page,
            ("GET", Route::Live) => Endpoint::Live,
            ("GET", Route::Ready) => Endpoint::Ready,
            ("GET", Route::Metrics) => Endpoint::Metrics,
            ("GET", Route::Status) => Endpoint::Status,
            ("GET", Route::Journal) => Endpoint::Journal,
            ("POST", Route::Events) => Endpoint::Events,
            ("POST", Route::Reload) => Endpoint::Reload,
            ("POST", Route::Simulate) => Endpoint::Simulate,
            ("POST", Route::Switchover) => Endpoint::Command(CommandEndpoint::Switchover),
            ("POST", Route::Drain) => Endpoint::Command(CommandEndpoint::Drain),
            ("POST", Route::Failback) => Endpoint::Command(CommandEndpoint::Failback),
            ("POST", Route::Pin) => Endpoint::Command(CommandEndpoint::Pin),
            ("DELETE", Route::Pin) => Endpoint::Command(CommandEndpoint::Unpin),
            ("POST", Route::Observer) => Endpoint::Command(CommandEndpoint::Observer),
            _ => {
                return Err(RequestError::MethodNotAllowed {
                    method: shorten(method),
                    path: route.path(),
                })
            }
        })
    }
}

impl CommandEndpoint {
    pub const ALL: [CommandEndpoint; 6] = [
        CommandEndpoint::Switchover,
        CommandEndpoint::Drain,
        CommandEndpoint::Failback,
        CommandEndpoint::Pin,
        CommandEndpoint::Unpin,
        CommandEndpoint::Observer,
    ];

    /// The method a client sends this command with ([`Endpoint::parse`]
    /// maps it back), so that `orbitctl` names no path or method itself.
    pub fn method(self) -> &'static str {
        match self {
            CommandEndpoint::Unpin => "DELETE",
            _ => "POST",
        }
    }

    pub fn route(self) -> Route {
        match self {
            CommandEndpoint::Switchover => Route::Switchover,
            CommandEndpoint::Drain => Route::Drain,
            CommandEndpoint::Failback => Route::Failback,
            CommandEndpoint::Pin | CommandEndpoint::Unpin => Route::Pin,
            CommandEndpoint::Observer => Route::Observer,
        }
    }

    /// The command a request's JSON body carries.
    pub fn parse(self, body: &[u8]) -> Result<CommandBody, RequestError> {
        match self {
            CommandEndpoint::Switchover => decode(body, |r: SwitchoverRequest| {
                let (service, to) = (r.service, r.to);
                (Command::Switchover { service, to }, r.force, r.reason)
            }),
            CommandEndpoint::Drain => decode(body, |r: DrainRequest| {
                (Command::Drain { site: r.site }, r.force, r.reason)
            }),
            // `orbitctl failback` of every site may send no body at all.
            CommandEndpoint::Failback if body.is_empty() => Ok(CommandBody {
                command: Command::Failback { site: None },
                force: false,
                reason: None,
            }),
            CommandEndpoint::Failback => decode(body, |r: FailbackRequest| {
                (Command::Failback { site: r.site }, r.force, r.reason)
            }),
            CommandEndpoint::Pin => decode(body, |r: PinRequest| {
                let (service, site) = (r.service, r.site);
                (Command::Pin { service, site }, r.force, r.reason)
            }),
            CommandEndpoint::Unpin => decode(body, |r: UnpinRequest| {
                (Command::Unpin { service: r.service }, r.force, r.reason)
            }),
            // Observer mode moves nothing, so it has nothing to force.
            CommandEndpoint::Observer => decode(body, |r: ObserverRequest| {
                (Command::ObserverMode { on: r.on }, false, r.reason)
            }),
        }
    }
}

/// What a command request asks for; the server adds who asked
/// ([`CommandBody::issued_by`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandBody {
    pub command: Command,
    pub force: bool,
    pub reason: Option<Reason>,
}

impl CommandBody {
    /// The order as `client` issued it at `at` (RFC 3339).
    pub fn issued_by(self, client: Client, at: String) -> Order {
        Order {
            command: self.command,
            force: self.force,
            origin: Some(Origin {
                client,
                at,
                reason: self.reason,
            }),
        }
    }
}

/// A request body as its type, then as (command, force, reason).
fn decode<T: DeserializeOwned>(
    body: &[u8],
    parts: impl FnOnce(T) -> (Command, bool, Option<Reason>),
) -> Result<CommandBody, RequestError> {
    json(body)
        .map(parts)
        .map(|(command, force, reason)| CommandBody {
            command,
            force,
            reason,
        })
}

/// `GET /v1/journal?since=SEQ&limit=N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalQuery {
    /// Entries after this sequence number; `None`: the last `limit`.
    pub since: Option<u64>,
    pub limit: usize,
}

impl JournalQuery {
    pub const DEFAULT_LIMIT: usize = 100;
    pub const MAX_LIMIT: usize = 10_000;

    /// `since` and `limit` from a query string; other keys, and pairs
    /// without `=`, are ignored; a repeated key counts the last time.
    pub fn parse(query: Option<&str>) -> Result<JournalQuery, RequestError> {
        let value = |key: &str| {
            query?
                .rsplit('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v)
        };
        let since = match value("since") {
            None => None,
            Some(s) => Some(s.parse::<u64>().map_err(|_| RequestError::BadSince)?),
        };
        let limit = match value("limit") {
            None => JournalQuery::DEFAULT_LIMIT,
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=JournalQuery::MAX_LIMIT).contains(n))
                .ok_or(RequestError::BadLimit)?,
        };
        Ok(JournalQuery { since, limit })
    }
}

/// Whether a command request asks for a dry run (`?dry_run=true`): the
/// command is judged and played on a copy, nothing is applied. Other keys
/// are ignored, as in [`JournalQuery::parse`].
pub fn dry_run(query: Option<&str>) -> Result<bool, RequestError> {
    let value = query.and_then(|q| {
        q.rsplit('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "dry_run")
            .map(|(_, v)| v)
    });
    match value {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(_) => Err(RequestError::BadDryRun),
    }
}

/// The body of `POST /v1/simulate`: the hypothetical facts.
pub fn scenario(body: &[u8]) -> Result<Scenario, RequestError> {
    json(body)
}

/// The body of `POST /v1/events`: a JSON array of posted events (whom they
/// may speak for is the server's check).
pub fn events(body: &[u8]) -> Result<Vec<PostedEvent>, RequestError> {
    json(body)
}

/// The body of `POST /v1/reload` (empty: reload the config file). Config
/// text is only checked: a reload applies orbitd's own file, so that what
/// runs is always what the file says.
pub fn reload(body: &[u8]) -> Result<super::ReloadRequest, RequestError> {
    if body.is_empty() {
        return Ok(super::ReloadRequest::default());
    }
    let request: super::ReloadRequest = json(body)?;
    if request.config.is_some() && !request.check {
        return Err(RequestError::MalformedBody(
            "config text is only checked (\"check\": true); a reload applies orbitd's own \
             config file"
                .to_owned(),
        ));
    }
    Ok(request)
}

/// One posted event: a verdict or a health result, the one party it speaks
/// for (`observer`, `site`) defaulting to this node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PostedEvent {
    Verdict {
        #[serde(default)]
        observer: Option<SiteId>,
        subject: SiteId,
        liveness: Liveness,
    },
    Health {
        #[serde(default)]
        site: Option<SiteId>,
        service: ServiceId,
        healthy: bool,
    },
}

fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, RequestError> {
    serde_json::from_slice(body).map_err(|e| RequestError::MalformedBody(e.to_string()))
}

/// A client's path or method in an error message, cut to a readable length.
fn shorten(text: &str) -> String {
    const MAX: usize = 100;
    match text.char_indices().nth(MAX) {
        None => text.to_owned(),
        Some((end, _)) => format!("{}...", &text[..end]),
    }
}

/// Why a request cannot be served; the server maps each to its status code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("no such endpoint: {0}")]
    NotFound(String),
    #[error("{method} is not allowed on {path}")]
    MethodNotAllowed { method: String, path: &'static str },
    #[error("since must be a sequence number")]
    BadSince,
    #[error("limit must be between 1 and {}", JournalQuery::MAX_LIMIT)]
    BadLimit,
    #[error("dry_run must be true or false")]
    BadDryRun,
    #[error("malformed request body: {0}")]
    MalformedBody(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ReloadRequest;
    use crate::ids::{ServiceId, SiteId};

    fn site(s: &str) -> SiteId {
        SiteId::new(s).unwrap()
    }

    fn service(s: &str) -> ServiceId {
        ServiceId::new(s).unwrap()
    }

    fn command(endpoint: CommandEndpoint, body: &str) -> Result<Command, RequestError> {
        endpoint.parse(body.as_bytes()).map(|b| b.command)
    }

    #[test]
    fn every_route_maps_its_methods_and_refuses_others() {
        use CommandEndpoint as C;
        let allowed = [
            ("GET", "/live", Endpoint::Live),
            ("GET", "/ready", Endpoint::Ready),
            ("GET", "/metrics", Endpoint::Metrics),
            ("GET", "/v1/status", Endpoint::Status),
            ("GET", "/v1/journal", Endpoint::Journal),
            ("POST", "/v1/switchover", Endpoint::Command(C::Switchover)),
            ("POST", "/v1/drain", Endpoint::Command(C::Drain)),
            ("POST", "/v1/failback", Endpoint::Command(C::Failback)),
            ("POST", "/v1/pin", Endpoint::Command(C::Pin)),
            ("DELETE", "/v1/pin", Endpoint::Command(C::Unpin)),
            ("POST", "/v1/observer", Endpoint::Command(C::Observer)),
            ("POST", "/v1/events", Endpoint::Events),
            ("POST", "/v1/reload", Endpoint::Reload),
            ("POST", "/v1/simulate", Endpoint::Simulate),
            ("GET", "/", Endpoint::Page),
            ("HEAD", "/", Endpoint::Page),
        ];
        for (method, path, endpoint) in allowed {
            assert_eq!(
                Endpoint::parse(method, path),
                Ok(endpoint),
                "{method} {path}"
            );
        }
        for route in Route::ALL {
            assert_eq!(Route::from_path(route.path()), Some(route));
            for method in ["GET", "POST", "DELETE", "PUT", "HEAD", "BREW"] {
                let listed = allowed
                    .iter()
                    .any(|(m, p, _)| *m == method && *p == route.path());
                let parsed = Endpoint::parse(method, route.path());
                assert_eq!(parsed.is_ok(), listed, "{method} {}", route.path());
                if !listed {
                    assert_eq!(
                        parsed.unwrap_err().to_string(),
                        format!("{method} is not allowed on {}", route.path())
                    );
                }
            }
        }
    }

    #[test]
    fn command_endpoints_name_the_method_and_route_that_parse_back_to_them() {
        for endpoint in CommandEndpoint::ALL {
            assert_eq!(
                Endpoint::parse(endpoint.method(), endpoint.route().path()),
                Ok(Endpoint::Command(endpoint)),
                "{endpoint:?}"
            );
        }
    }

    #[test]
    fn unknown_paths_are_not_found_and_echoed_briefly() {
        for path in [
            "/index.html",
            "/v1",
            "/v1/status/",
            "/V1/STATUS",
            "/v1/statusx",
            "",
        ] {
            assert_eq!(
                Endpoint::parse("GET", path),
                Err(RequestError::NotFound(path.to_owned()))
            );
        }
        let long = format!("/{}", "é".repeat(500));
        let message = Endpoint::parse("GET", &long).unwrap_err().to_string();
        assert!(message.len() < 250, "{message}");
        assert!(message.ends_with("..."), "{message}");
    }

    #[test]
    fn methods_outside_the_known_set_share_one_label() {
        assert_eq!(method_label("GET"), "GET");
        assert_eq!(method_label("DELETE"), "DELETE");
        assert_eq!(method_label("get"), "other");
        assert_eq!(method_label("XYZZY"), "other");
        assert_eq!(method_label(""), "other");
    }

    #[test]
    fn journal_query_defaults_bounds_and_errors() {
        let q = |s: Option<&str>| JournalQuery::parse(s);
        assert_eq!(
            q(None),
            Ok(JournalQuery {
                since: None,
                limit: 100
            })
        );
        assert_eq!(
            q(Some("since=7&limit=3")),
            Ok(JournalQuery {
                since: Some(7),
                limit: 3
            })
        );
        // Unknown keys and bare words are ignored; the last repeat counts.
        assert_eq!(
            q(Some("x=1&flag&limit=5&limit=10000")),
            Ok(JournalQuery {
                since: None,
                limit: 10_000
            })
        );
        assert_eq!(q(Some("since=")), Err(RequestError::BadSince));
        assert_eq!(q(Some("since=-1")), Err(RequestError::BadSince));
        assert_eq!(
            q(Some("since=99999999999999999999")),
            Err(RequestError::BadSince)
        );
        for bad in ["limit=0", "limit=10001", "limit=", "limit=ten"] {
            assert_eq!(q(Some(bad)), Err(RequestError::BadLimit), "{bad}");
        }
        assert_eq!(
            RequestError::BadLimit.to_string(),
            "limit must be between 1 and 10000"
        );
    }

    #[test]
    fn command_bodies_decode_into_commands() {
        assert_eq!(
            command(CommandEndpoint::Switchover, r#"{"service":"web","to":"b"}"#),
            Ok(Command::Switchover {
                service: Some(service("web")),
                to: site("b")
            })
        );
        assert_eq!(
            command(CommandEndpoint::Switchover, r#"{"to":"b"}"#),
            Ok(Command::Switchover {
                service: None,
                to: site("b")
            })
        );
        assert_eq!(
            command(CommandEndpoint::Drain, r#"{"site":"a"}"#),
            Ok(Command::Drain { site: site("a") })
        );
        assert_eq!(
            command(CommandEndpoint::Failback, ""),
            Ok(Command::Failback { site: None })
        );
        assert_eq!(
            command(CommandEndpoint::Failback, "{}"),
            Ok(Command::Failback { site: None })
        );
        assert_eq!(
            command(CommandEndpoint::Pin, r#"{"service":"db","site":"a"}"#),
            Ok(Command::Pin {
                service: service("db"),
                site: site("a")
            })
        );
        assert_eq!(
            command(CommandEndpoint::Unpin, r#"{"service":"db"}"#),
            Ok(Command::Unpin {
                service: service("db")
            })
        );
        assert_eq!(
            command(CommandEndpoint::Observer, r#"{"on":true}"#),
            Ok(Command::ObserverMode { on: true })
        );
    }

    #[test]
    fn force_and_reason_travel_with_the_command_and_the_origin_is_the_servers() {
        let body = CommandEndpoint::Drain
            .parse(br#"{"site":"b","force":true,"reason":"CHG-42 rack move"}"#)
            .unwrap();
        assert!(body.force);
        assert_eq!(
            body.reason.as_ref().map(Reason::as_str),
            Some("CHG-42 rack move")
        );
        let order = body.issued_by(
            Client::Unix {
                uid: 0,
                pid: Some(7),
            },
            "2026-12-05T18:31:20.000Z".to_owned(),
        );
        assert_eq!(order.command, Command::Drain { site: site("b") });
        let origin = order.origin.unwrap();
        assert_eq!(
            origin.client,
            Client::Unix {
                uid: 0,
                pid: Some(7)
            }
        );
        assert_eq!(origin.reason.unwrap().as_str(), "CHG-42 rack move");
        // A client cannot name its own origin.
        assert!(CommandEndpoint::Drain
            .parse(br#"{"site":"b","origin":{"via":"unknown"}}"#)
            .is_err());
        // Observer mode strands nothing: it takes no force.
        assert!(CommandEndpoint::Observer
            .parse(br#"{"on":true,"force":true}"#)
            .is_err());
    }

    #[test]
    fn a_bad_reason_is_one_clear_error() {
        let long = format!(r#"{{"site":"b","reason":"{}"}}"#, "x".repeat(201));
        let error = CommandEndpoint::Drain.parse(long.as_bytes()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("reason is 201 characters long; at most 200 are allowed"),
            "{error}"
        );
        let error = CommandEndpoint::Drain
            .parse(br#"{"site":"b","reason":"a\u001b[31m"}"#)
            .unwrap_err();
        assert!(error.to_string().contains("control character"), "{error}");
    }

    #[test]
    fn bad_bodies_are_malformed_not_panics() {
        for (endpoint, body) in [
            (CommandEndpoint::Switchover, ""),
            (CommandEndpoint::Switchover, "{\"to\": "),
            (
                CommandEndpoint::Pin,
                r#"{"service":"web","site":"b","extra":1}"#,
            ),
            (CommandEndpoint::Drain, r#"{"site":""}"#),
            (CommandEndpoint::Drain, r#"{"site":"no spaces"}"#),
            (CommandEndpoint::Observer, r#"{"on":"yes"}"#),
            (CommandEndpoint::Failback, "\u{0}"),
        ] {
            let error = command(endpoint, body).unwrap_err();
            assert!(
                error.to_string().starts_with("malformed request body: "),
                "{endpoint:?} {body:?}: {error}"
            );
        }
    }

    #[test]
    fn dry_run_is_true_false_or_refused() {
        assert_eq!(dry_run(None), Ok(false));
        assert_eq!(dry_run(Some("dry_run=true")), Ok(true));
        assert_eq!(dry_run(Some("x=1&dry_run=false")), Ok(false));
        assert_eq!(dry_run(Some("dry_run=1")), Err(RequestError::BadDryRun));
    }

    #[test]
    fn scenario_bodies_decode_and_refuse_unknown_fields() {
        let decoded = scenario(
            br#"{"dead":["a"],"cut":[["a","b"]],"unhealthy":[{"service":"web","site":"a"}],"drain":["b"]}"#,
        )
        .unwrap();
        assert_eq!(decoded.dead, vec![site("a")]);
        assert_eq!(decoded.cut, vec![[site("a"), site("b")]]);
        assert_eq!(decoded.unhealthy[0].service, service("web"));
        assert_eq!(decoded.drain, vec![site("b")]);
        assert_eq!(scenario(b"{}").unwrap(), Scenario::default());
        assert!(scenario(br#"{"kill":["a"]}"#).is_err());
        assert!(scenario(br#"{"cut":[["a"]]}"#).is_err());
    }

    #[test]
    fn event_bodies_decode() {
        let decoded =
            events(br#"[{"type":"verdict","observer":"a","subject":"b","liveness":"dead"}]"#)
                .unwrap();
        assert_eq!(decoded.len(), 1);
        assert!(events(b"{}").is_err());
        assert!(events(b"[{\"type\":\"verdict\"}]").is_err());
    }

    #[test]
    fn reload_bodies_check_text_or_reload_the_file() {
        assert_eq!(reload(b"").unwrap(), ReloadRequest::default());
        assert_eq!(reload(b"{}").unwrap(), ReloadRequest::default());
        let check = reload(br#"{"check":true,"config":"[node]"}"#).unwrap();
        assert!(check.check);
        assert_eq!(check.config.as_deref(), Some("[node]"));
        let error = reload(br#"{"config":"[node]"}"#).unwrap_err().to_string();
        assert!(error.contains("only checked"), "{error}");
        assert!(reload(br#"{"path":"/etc/shadow"}"#).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_request_parses_or_is_refused(
            method in "[A-Z]{0,8}|\\PC{0,8}",
            path in "/(v1/)?[a-z]{0,12}|\\PC{0,40}",
            query in proptest::option::of("\\PC{0,40}"),
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
        ) {
            if let Ok(Endpoint::Command(endpoint)) = Endpoint::parse(&method, &path) {
                let _ = endpoint.parse(&body);
            }
            let _ = JournalQuery::parse(query.as_deref());
            let _ = dry_run(query.as_deref());
            let _ = events(&body);
            let _ = reload(&body);
            let _ = scenario(&body);
        }
    }
}
