//! Operator commands as orbitd's API takes them: the `orbit_core::api`
//! request types orbitd parses with `deny_unknown_fields`, so a field
//! renamed on one side fails to compile here instead of being refused at
//! run time.

use orbit_core::api::request::CommandEndpoint;
use orbit_core::api::{
    DrainRequest, FailbackRequest, ObserverRequest, PinRequest, SwitchoverRequest, UnpinRequest,
};
use orbit_core::{ServiceId, SiteId};
use serde::Serialize;

/// A command to send: where (method and path come from the endpoint) and
/// its JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRequest {
    pub endpoint: CommandEndpoint,
    pub body: Vec<u8>,
}

impl CommandRequest {
    fn new(endpoint: CommandEndpoint, body: &impl Serialize) -> serde_json::Result<Self> {
        Ok(CommandRequest {
            endpoint,
            body: serde_json::to_vec(body)?,
        })
    }

    /// `orbitctl switchover`: `service` None moves every service `to` serves.
    pub fn switchover(service: Option<ServiceId>, to: SiteId) -> serde_json::Result<Self> {
        Self::new(
            CommandEndpoint::Switchover,
            &SwitchoverRequest { service, to },
        )
    }

    pub fn drain(site: SiteId) -> serde_json::Result<Self> {
        Self::new(CommandEndpoint::Drain, &DrainRequest { site })
    }

    /// `orbitctl failback`: `site` None undrains every site.
    pub fn failback(site: Option<SiteId>) -> serde_json::Result<Self> {
        Self::new(CommandEndpoint::Failback, &FailbackRequest { site })
    }

    pub fn pin(service: ServiceId, site: SiteId) -> serde_json::Result<Self> {
        Self::new(CommandEndpoint::Pin, &PinRequest { service, site })
    }

    pub fn unpin(service: ServiceId) -> serde_json::Result<Self> {
        Self::new(CommandEndpoint::Unpin, &UnpinRequest { service })
    }

    pub fn observer(on: bool) -> serde_json::Result<Self> {
        Self::new(CommandEndpoint::Observer, &ObserverRequest { on })
    }
}

#[cfg(test)]
mod tests {
    use orbit_core::api::request::Endpoint;
    use orbit_core::Command;

    use super::*;

    /// A site or service name the test knows to be valid.
    fn id<T: std::str::FromStr<Err = orbit_core::IdError>>(name: &str) -> T {
        name.parse().unwrap()
    }

    /// What orbitd's own parser makes of a request: the method and path to
    /// an endpoint, the body to a command.
    fn parsed_by_orbitd(request: serde_json::Result<CommandRequest>) -> Command {
        let request = request.unwrap();
        let endpoint = request.endpoint;
        assert_eq!(
            Endpoint::parse(endpoint.method(), endpoint.route().path()),
            Ok(Endpoint::Command(endpoint))
        );
        endpoint.parse(&request.body).unwrap_or_else(|e| {
            panic!(
                "orbitd refuses {endpoint:?} {}: {e}",
                String::from_utf8_lossy(&request.body)
            )
        })
    }

    #[test]
    fn every_command_round_trips_through_orbitds_parser() {
        let cases = [
            (
                CommandRequest::switchover(Some(id("web")), id("b")),
                Command::Switchover {
                    service: Some(id("web")),
                    to: id("b"),
                },
            ),
            (
                CommandRequest::switchover(None, id("b")),
                Command::Switchover {
                    service: None,
                    to: id("b"),
                },
            ),
            (
                CommandRequest::drain(id("a")),
                Command::Drain { site: id("a") },
            ),
            (
                CommandRequest::failback(Some(id("a"))),
                Command::Failback {
                    site: Some(id("a")),
                },
            ),
            (
                CommandRequest::failback(None),
                Command::Failback { site: None },
            ),
            (
                CommandRequest::pin(id("db"), id("a")),
                Command::Pin {
                    service: id("db"),
                    site: id("a"),
                },
            ),
            (
                CommandRequest::unpin(id("db")),
                Command::Unpin { service: id("db") },
            ),
            (
                CommandRequest::observer(true),
                Command::ObserverMode { on: true },
            ),
            (
                CommandRequest::observer(false),
                Command::ObserverMode { on: false },
            ),
        ];
        for (request, command) in cases {
            assert_eq!(parsed_by_orbitd(request), command);
        }
    }

    #[test]
    fn bodies_are_the_json_orbitd_has_always_taken() {
        // The wire format older orbitd versions parse: absent optional
        // fields are left out, not sent as null.
        let body =
            |r: serde_json::Result<CommandRequest>| String::from_utf8(r.unwrap().body).unwrap();
        assert_eq!(
            body(CommandRequest::switchover(None, id("b"))),
            r#"{"to":"b"}"#
        );
        assert_eq!(body(CommandRequest::failback(None)), "{}");
        assert_eq!(
            body(CommandRequest::pin(id("db"), id("a"))),
            r#"{"service":"db","site":"a"}"#
        );
    }
}
