//! Operator commands as orbitd's API takes them: the `orbit_core::api`
//! request types orbitd parses with `deny_unknown_fields`, so a field
//! renamed on one side fails to compile here instead of being refused at
//! run time.

use orbit_core::api::request::CommandEndpoint;
use orbit_core::api::{
    DrainRequest, FailbackRequest, ObserverRequest, PinRequest, SwitchoverRequest, UnpinRequest,
};
use orbit_core::{Reason, ServiceId, SiteId};
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
    pub fn switchover(
        service: Option<ServiceId>,
        to: SiteId,
        flags: Flags,
    ) -> serde_json::Result<Self> {
        let Flags { force, reason, .. } = flags;
        Self::new(
            CommandEndpoint::Switchover,
            &SwitchoverRequest {
                service,
                to,
                force,
                reason,
            },
        )
    }

    pub fn drain(site: SiteId, flags: Flags) -> serde_json::Result<Self> {
        let Flags { force, reason, .. } = flags;
        Self::new(
            CommandEndpoint::Drain,
            &DrainRequest {
                site,
                force,
                reason,
            },
        )
    }

    /// `orbitctl failback`: `site` None undrains every site.
    pub fn failback(site: Option<SiteId>, flags: Flags) -> serde_json::Result<Self> {
        let Flags { force, reason, .. } = flags;
        Self::new(
            CommandEndpoint::Failback,
            &FailbackRequest {
                site,
                force,
                reason,
            },
        )
    }

    pub fn pin(service: ServiceId, site: SiteId, flags: Flags) -> serde_json::Result<Self> {
        let Flags { force, reason, .. } = flags;
        Self::new(
            CommandEndpoint::Pin,
            &PinRequest {
                service,
                site,
                force,
                reason,
            },
        )
    }

    pub fn unpin(service: ServiceId, flags: Flags) -> serde_json::Result<Self> {
        let Flags { force, reason, .. } = flags;
        Self::new(
            CommandEndpoint::Unpin,
            &UnpinRequest {
                service,
                force,
                reason,
            },
        )
    }

    /// Observer mode moves nothing, so it has nothing to force.
    pub fn observer(on: bool, reason: Option<Reason>) -> serde_json::Result<Self> {
        Self::new(CommandEndpoint::Observer, &ObserverRequest { on, reason })
    }
}

/// What every command that can move a service takes beside its arguments.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct Flags {
    /// Carry the command out even if it leaves a service without any site
    /// to carry it (refused otherwise, naming those services). Journaled.
    #[arg(long)]
    pub force: bool,
    /// Why, for the journal (one line, at most 200 characters).
    #[arg(long)]
    pub reason: Option<Reason>,
    /// Show what the command would do (decisions and placement) without
    /// doing it; exit 0 if it would be accepted, 1 if refused.
    #[arg(long)]
    pub dry_run: bool,
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
        endpoint
            .parse(&request.body)
            .map(|b| b.command)
            .unwrap_or_else(|e| {
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
                CommandRequest::switchover(Some(id("web")), id("b"), Flags::default()),
                Command::Switchover {
                    service: Some(id("web")),
                    to: id("b"),
                },
            ),
            (
                CommandRequest::switchover(None, id("b"), Flags::default()),
                Command::Switchover {
                    service: None,
                    to: id("b"),
                },
            ),
            (
                CommandRequest::drain(id("a"), Flags::default()),
                Command::Drain { site: id("a") },
            ),
            (
                CommandRequest::failback(Some(id("a")), Flags::default()),
                Command::Failback {
                    site: Some(id("a")),
                },
            ),
            (
                CommandRequest::failback(None, Flags::default()),
                Command::Failback { site: None },
            ),
            (
                CommandRequest::pin(id("db"), id("a"), Flags::default()),
                Command::Pin {
                    service: id("db"),
                    site: id("a"),
                },
            ),
            (
                CommandRequest::unpin(id("db"), Flags::default()),
                Command::Unpin { service: id("db") },
            ),
            (
                CommandRequest::observer(true, None),
                Command::ObserverMode { on: true },
            ),
            (
                CommandRequest::observer(false, None),
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
            body(CommandRequest::switchover(None, id("b"), Flags::default())),
            r#"{"to":"b"}"#
        );
        assert_eq!(body(CommandRequest::failback(None, Flags::default())), "{}");
        assert_eq!(
            body(CommandRequest::pin(id("db"), id("a"), Flags::default())),
            r#"{"service":"db","site":"a"}"#
        );
        let flags = Flags {
            force: true,
            reason: Some("CHG-7".parse().unwrap()),
            dry_run: false,
        };
        assert_eq!(
            body(CommandRequest::drain(id("b"), flags)),
            r#"{"site":"b","force":true,"reason":"CHG-7"}"#
        );
    }
}
