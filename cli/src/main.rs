//! orbitctl: operator commands for orbitd over its HTTP API.
//!
//! Exit codes: 0 done; 1 orbitd refused the request (unknown service or
//! site, not eligible, would leave a service without any site and not
//! `--force`d, a reloaded or checked config refused, ...); 2 bad usage; 69
//! orbitd unreachable or busy (a
//! command was not applied); 75 no answer within `--timeout` (a command may
//! or may not have been applied: the journal tells); 77 wrong or missing
//! token, or no permission on the socket. `failure.rs` maps them.

mod client;
mod complete;
mod failure;
mod journal;
mod json;
mod man;
mod reload;
mod render;
mod request;
mod simulate;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser, Subcommand};
use client::{Client, ClientError, Endpoint};
use failure::{Failure, Kind};
use hyper::{Method, StatusCode};
use orbit_core::api::{ApiError, CommandResponse, StatusResponse};
use orbit_core::{Reason, ServiceId, SiteId};
use request::{CommandRequest, Flags};
use serde::de::DeserializeOwned;

#[derive(Debug, Parser)]
#[command(
    name = "orbitctl",
    version,
    about = "Operate orbitd: status, switchover, drain, failback, pin, simulate"
)]
struct Cli {
    /// orbitd's API unix socket.
    #[arg(
        long,
        global = true,
        env = "ORBIT_SOCKET",
        default_value = "/run/orbit/api.sock"
    )]
    socket: PathBuf,
    /// orbitd's TCP API instead of the socket, e.g. http://127.0.0.1:7443.
    /// Needs a token (--token or ORBIT_TOKEN): exit 77 without one.
    #[arg(long, global = true, env = "ORBIT_URL")]
    url: Option<String>,
    /// Bearer token for --url.
    #[arg(long, global = true, env = "ORBIT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Give up on orbitd after this long (e.g. 500ms, 10s, 1m). A command
    /// whose answer did not come may or may not have been applied (orbitd
    /// drops one it had not taken yet); `orbitctl journal` tells. Exit 75.
    #[arg(
        long,
        global = true,
        env = "ORBIT_TIMEOUT",
        default_value = "10s",
        value_parser = humantime::parse_duration
    )]
    timeout: Duration,
    /// Print JSON (stable for scripts) instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Sites, services, roles and backends as this orbitd sees them.
    Status,
    /// Move a service (or all services) to a site now, and keep it there.
    Switchover {
        /// The service to move.
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        service: Option<ServiceId>,
        /// Every service the target site serves.
        #[arg(long)]
        all: bool,
        /// The site to move it to.
        #[arg(long)]
        to: SiteId,
        #[command(flatten)]
        flags: Flags,
    },
    /// Move every service away from a site until failback. Refused without
    /// --force if a service would be left without any site.
    Drain {
        /// The site to empty.
        site: SiteId,
        #[command(flatten)]
        flags: Flags,
    },
    /// Undrain a site (or every site) and return services to their preferred site now.
    Failback {
        /// The site to undrain; every site if absent.
        site: Option<SiteId>,
        #[command(flatten)]
        flags: Flags,
    },
    /// Make a site the preferred site of a service until unpinned.
    Pin {
        /// The service to pin.
        #[arg(long)]
        service: ServiceId,
        /// The site it prefers until unpinned.
        #[arg(long)]
        to: SiteId,
        #[command(flatten)]
        flags: Flags,
    },
    /// Remove a service's pin; the service stays where it is.
    Unpin {
        /// The service to unpin.
        #[arg(long)]
        service: ServiceId,
        #[command(flatten)]
        flags: Flags,
    },
    /// Observer mode for every member: decide and report, apply nothing.
    Observer {
        /// `on`: decide and report only; `off`: apply again.
        #[arg(value_parser = ["on", "off"])]
        mode: String,
        /// Why, for the journal (one line, at most 200 characters).
        #[arg(long)]
        reason: Option<Reason>,
        /// Show what it would do without doing it.
        #[arg(long)]
        dry_run: bool,
    },
    /// What would happen, from the current state, without doing it: the
    /// decisions this orbitd's engine would take (with their offsets and
    /// reasons) and the resulting placement. Flags repeat and combine.
    #[command(group(
        clap::ArgGroup::new("facts")
            .required(true)
            .multiple(true)
            .args(["dead", "unhealthy", "drain", "cut"])
    ))]
    Simulate {
        /// This site (or the witness) dies: every other member reports it dead.
        #[arg(long, value_name = "SITE")]
        dead: Vec<SiteId>,
        /// This service's health checks fail at this site.
        #[arg(long, value_name = "SERVICE@SITE", value_parser = simulate::service_at)]
        unhealthy: Vec<orbit_core::ServiceAt>,
        /// An operator drains this site (shown forced, with a note if it
        /// would need --force).
        #[arg(long, value_name = "SITE")]
        drain: Vec<SiteId>,
        /// The link between two members is cut (SITE,SITE if a name has a
        /// '-'): each stops hearing the other directly.
        #[arg(long, value_name = "SITE-SITE", value_parser = simulate::cut)]
        cut: Vec<[SiteId; 2]>,
    },
    /// Reload orbitd's config file (as SIGHUP does) and print what it
    /// changed; a bad config is refused (exit 1) and the running one stays.
    Reload {
        /// Only check, apply nothing: FILE (read here and sent to orbitd),
        /// or orbitd's own config file; prints what it would change.
        #[arg(long, value_name = "FILE", num_args = 0..=1)]
        check: Option<Option<PathBuf>>,
    },
    /// Disaster-recovery plans (docs/plans.md).
    Plan {
        #[command(subcommand)]
        what: PlanCmd,
    },
    /// The decision journal.
    Journal {
        /// Keep printing new entries; survives a daemon restart (retries,
        /// then resumes after the last entry printed).
        #[arg(long, short)]
        follow: bool,
        /// How many recent entries to show first: 1 to 10000 (0 is an error).
        #[arg(long, default_value_t = 50, value_parser = journal::parse_limit)]
        limit: usize,
        /// Instead, every entry after this seq (0: all that orbitd keeps,
        /// rotated files included), oldest first.
        #[arg(long, value_name = "SEQ", conflicts_with = "limit")]
        since: Option<u64>,
    },
    /// Print shell completions; service and site names complete from the
    /// running orbitd, or from the config file when it is not reachable.
    Completions {
        /// The shell to print them for.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    Man,
    /// Service or site names, one a line, for the completion scripts.
    #[command(name = "__complete", hide = true)]
    Complete {
        /// Which names.
        what: complete::Names,
        /// The config file to read the names from when orbitd does not answer.
        #[arg(long, env = "ORBIT_CONFIG", default_value = complete::DEFAULT_CONFIG)]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum PlanCmd {
    /// A service's last plan run: every step, where it runs, how it ended,
    /// and the journal's record of each step this orbitd ran.
    Show {
        /// The service.
        service: ServiceId,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                e.exit();
            }
            // clap could not parse the flags, so look for --json by hand.
            let as_json = std::env::args_os().any(|a| a == "--json");
            return ExitCode::from(failure::usage(&e).report(as_json));
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            return ExitCode::from(Failure::new(Kind::Refused, e.to_string()).report(cli.json));
        }
    };
    match runtime.block_on(run(&cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => ExitCode::from(f.report(cli.json)),
    }
}

fn client(cli: &Cli) -> Result<Client, Failure> {
    Ok(Client {
        endpoint: endpoint(cli)?,
        timeout: cli.timeout,
    })
}

fn endpoint(cli: &Cli) -> Result<Endpoint, Failure> {
    match (&cli.url, &cli.token) {
        (Some(_), None) => Err(Failure::new(
            Kind::Permission,
            "--url needs a token: pass --token or set ORBIT_TOKEN",
        )),
        (Some(url), Some(token)) => {
            let authority = url
                .strip_prefix("http://")
                .ok_or_else(|| {
                    Failure::new(
                        Kind::Usage,
                        format!("--url {url:?} must start with http://"),
                    )
                })?
                .trim_end_matches('/')
                .to_owned();
            Ok(Endpoint::Tcp {
                authority,
                token: token.clone(),
            })
        }
        _ => Ok(Endpoint::Unix(cli.socket.clone())),
    }
}

/// One request; an error when orbitd cannot be reached or did not answer.
async fn send(
    client: &Client,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> Result<(StatusCode, bytes::Bytes), Failure> {
    client.request(method, path, body).await.map_err(|e| {
        let kind = match e {
            ClientError::Unreachable { .. } => Kind::Unavailable,
            ClientError::PermissionDenied { .. } => Kind::Permission,
            ClientError::TimedOut(_) => Kind::Timeout,
        };
        Failure::new(kind, e.to_string())
    })
}

async fn call<T: DeserializeOwned>(
    client: &Client,
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> Result<T, Failure> {
    let (status, bytes) = send(client, method, path, body).await?;
    if status.is_success() {
        return serde_json::from_slice(&bytes).map_err(|e| {
            Failure::new(
                Kind::Unavailable,
                format!("orbitd answered something unexpected: {e}"),
            )
        });
    }
    Err(api_failure(status, &bytes))
}

/// An API error answer, with the exit code its status maps to.
fn api_failure(status: StatusCode, bytes: &[u8]) -> Failure {
    let message = serde_json::from_slice::<ApiError>(bytes)
        .map(|e| e.error)
        .unwrap_or_else(|_| String::from_utf8_lossy(bytes).into_owned());
    let kind = match status {
        StatusCode::UNAUTHORIZED => Kind::Permission,
        StatusCode::SERVICE_UNAVAILABLE => Kind::Unavailable,
        _ => Kind::Refused,
    };
    Failure::new(kind, message)
}

fn print_json<T: serde::Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

async fn run(cli: &Cli) -> Result<(), Failure> {
    let request = match &cli.command {
        Cmd::Status => {
            let status: StatusResponse =
                call(&client(cli)?, Method::GET, "/v1/status", None).await?;
            if cli.json {
                print_json(&json::status(&status));
            } else {
                print!("{}", render::status(&status));
            }
            return Ok(());
        }
        Cmd::Journal {
            follow,
            limit,
            since,
        } => {
            let start = match since {
                Some(seq) => journal::Start::After(*seq),
                None => journal::Start::Last(*limit),
            };
            return journal::run(&client(cli)?, *follow, start, cli.json).await;
        }
        Cmd::Plan {
            what: PlanCmd::Show { service },
        } => {
            let client = client(cli)?;
            let status: StatusResponse = call(&client, Method::GET, "/v1/status", None).await?;
            let journal: orbit_core::api::JournalResponse =
                call(&client, Method::GET, "/v1/journal?limit=1000", None).await?;
            return plan_show(&status, &journal, service, cli.json);
        }
        Cmd::Reload { check } => {
            return reload::reload(&client(cli)?, check.clone(), cli.json).await
        }
        Cmd::Simulate {
            dead,
            unhealthy,
            drain,
            cut,
        } => {
            let scenario = orbit_core::Scenario {
                dead: dead.clone(),
                unhealthy: unhealthy.clone(),
                drain: drain.clone(),
                cut: cut.clone(),
            };
            let body = serde_json::to_vec(&scenario).map_err(unencodable)?;
            let path = orbit_core::api::request::Route::Simulate.path();
            let answer = call(&client(cli)?, Method::POST, path, Some(body)).await?;
            print_simulation(&answer, cli.json);
            return Ok(());
        }
        Cmd::Completions { shell } => {
            let _ = std::io::stdout().write_all(complete::script(*shell).as_bytes());
            return Ok(());
        }
        Cmd::Complete { what, config } => {
            // Completion must be quick and quiet: a short wait, no errors.
            let quick = Client {
                timeout: cli.timeout.min(Duration::from_secs(2)),
                ..client(cli)?
            };
            for name in complete::names(&quick, *what, config).await {
                println!("{name}");
            }
            return Ok(());
        }
        Cmd::Man => {
            let out = man::page(Cli::command())
                .map_err(|e| Failure::new(Kind::Refused, e.to_string()))?;
            let _ = std::io::stdout().write_all(&out);
            return Ok(());
        }
        Cmd::Switchover {
            service,
            all: _,
            to,
            flags,
        } => CommandRequest::switchover(service.clone(), to.clone(), flags.clone()),
        Cmd::Drain { site, flags } => CommandRequest::drain(site.clone(), flags.clone()),
        Cmd::Failback { site, flags } => CommandRequest::failback(site.clone(), flags.clone()),
        Cmd::Pin { service, to, flags } => {
            CommandRequest::pin(service.clone(), to.clone(), flags.clone())
        }
        Cmd::Unpin { service, flags } => CommandRequest::unpin(service.clone(), flags.clone()),
        Cmd::Observer { mode, reason, .. } => {
            CommandRequest::observer(mode == "on", reason.clone())
        }
    }
    .map_err(unencodable)?;
    let endpoint = request.endpoint;
    let method = Method::from_bytes(endpoint.method().as_bytes()).map_err(unencodable)?;
    if dry_run(&cli.command) {
        let path = format!("{}?dry_run=true", endpoint.route().path());
        let answer = call(&client(cli)?, method, &path, Some(request.body)).await?;
        print_simulation(&answer, cli.json);
        return Ok(());
    }
    let response: CommandResponse = call(
        &client(cli)?,
        method,
        endpoint.route().path(),
        Some(request.body),
    )
    .await
    .map_err(|mut f| {
        if f.kind == Kind::Timeout {
            f.message.push_str(
                "; the command may or may not have been applied: check `orbitctl journal`",
            );
        }
        f
    })?;
    if cli.json {
        print_json(&json::command(&response));
    } else {
        print!("{}", render::command(&response));
    }
    Ok(())
}

/// Whether a command asks only for what it would do.
fn dry_run(command: &Cmd) -> bool {
    match command {
        Cmd::Switchover { flags, .. }
        | Cmd::Drain { flags, .. }
        | Cmd::Failback { flags, .. }
        | Cmd::Pin { flags, .. }
        | Cmd::Unpin { flags, .. } => flags.dry_run,
        Cmd::Observer { dry_run, .. } => *dry_run,
        _ => false,
    }
}

fn print_simulation(answer: &orbit_core::Simulation, as_json: bool) {
    if as_json {
        print_json(&json::stamped(answer));
    } else {
        print!("{}", simulate::render(answer));
    }
}

/// Cannot happen with the request types at hand; an error, not a panic.
fn unencodable(e: impl std::fmt::Display) -> Failure {
    Failure::new(Kind::Refused, format!("cannot encode the request: {e}"))
}

/// `orbitctl plan show SERVICE`: the run as status knows it, then the
/// journal's record of each step this orbitd ran (with output tails).
fn plan_show(
    status: &StatusResponse,
    journal: &orbit_core::api::JournalResponse,
    service: &ServiceId,
    as_json: bool,
) -> Result<(), Failure> {
    let Some(svc) = status.engine.services.iter().find(|s| &s.id == service) else {
        return Err(Failure::new(
            failure::Kind::Refused,
            format!("unknown service {service}"),
        ));
    };
    let steps: Vec<&orbit_core::api::JournalEntry> = journal
        .entries
        .iter()
        .filter(|e| {
            matches!(&e.record, orbit_core::api::JournalRecord::PlanStep { service: s, .. } if s == service)
        })
        .collect();
    if as_json {
        print_json(&serde_json::json!({
            "service": service,
            "moving_to": svc.moving_to,
            "plan": svc.plan,
            "journal": steps,
        }));
        return Ok(());
    }
    print!("{}", render::plan(svc, &steps));
    Ok(())
}
