//! Shell completion with names from the running orbitd: the scripts clap
//! generates, where a service or site is expected, call the hidden
//! `orbitctl __complete services|sites`, which asks orbitd's status and,
//! when orbitd does not answer, reads the config file (`--config`,
//! `ORBIT_CONFIG`, default /etc/orbit/orbit.toml).

use std::ops::Add;
use std::path::Path;

use clap::CommandFactory;
use hyper::Method;
use orbit_core::api::StatusResponse;

use crate::client::Client;
use crate::{call, Cli};

/// Where the completion looks for names when orbitd does not answer.
pub const DEFAULT_CONFIG: &str = "/etc/orbit/orbit.toml";

/// What `__complete` lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Names {
    Services,
    /// Sites that can carry services (witnesses are left out).
    Sites,
}

/// The names, from orbitd or else from the config file; none if neither
/// tells (completion then offers nothing rather than an error).
pub async fn names(client: &Client, what: Names, config: &Path) -> Vec<String> {
    match call::<StatusResponse>(client, Method::GET, "/v1/status", None).await {
        Ok(status) => match what {
            Names::Services => status
                .engine
                .services
                .iter()
                .map(|s| s.id.to_string())
                .collect(),
            Names::Sites => status
                .engine
                .sites
                .iter()
                .filter(|s| !s.witness)
                .map(|s| s.id.to_string())
                .collect(),
        },
        Err(_) => from_config(config, what),
    }
}

/// `[[service]] id` or `[[site]] id` (not `witness = true`) of a config
/// file, read without validating the rest.
fn from_config(path: &Path, what: Names) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let Ok(doc) = text.parse::<toml::Table>() else {
        return Vec::new();
    };
    let table = match what {
        Names::Services => "service",
        Names::Sites => "site",
    };
    doc.get(table)
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| t.get("witness").and_then(toml::Value::as_bool) != Some(true))
        .filter_map(|t| t.get("id").and_then(toml::Value::as_str))
        .map(str::to_owned)
        .collect()
}

/// clap's script for `shell`, with the value of `--service`, `--to` and
/// a SITE argument completed by `orbitctl __complete`.
pub fn script(shell: clap_complete::Shell) -> String {
    use clap_complete::Shell;
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "orbitctl", &mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let names = |what: &str| format!("$(orbitctl __complete {what} 2>/dev/null)");
    match shell {
        Shell::Bash => {
            let value = |what: &str| {
                format!(
                    "COMPREPLY=($(compgen -W \"{}\" -- \"${{cur}}\"))",
                    names(what)
                )
            };
            let file = "COMPREPLY=($(compgen -f \"${cur}\"))";
            text.replace(
                &format!("--service)\n                    {file}"),
                &format!("--service)\n                    {}", value("services")),
            )
            .replace(
                &format!("--to)\n                    {file}"),
                &format!("--to)\n                    {}", value("sites")),
            )
            // drain and failback take a SITE: the option list of their
            // case (whatever flags it has) gets the site names too.
            .lines()
            .scan(false, |site_case, line| {
                let trimmed = line.trim_start();
                if trimmed.ends_with(')') {
                    *site_case = ["orbitctl__subcmd__drain)", "orbitctl__subcmd__failback)"]
                        .contains(&trimmed);
                }
                Some(match trimmed.strip_prefix("opts=\"") {
                    Some(_) if *site_case => {
                        *site_case = false;
                        let head = line.strip_suffix('"').unwrap_or(line);
                        format!("{head} {}\"", names("sites"))
                    }
                    _ => line.to_owned(),
                })
            })
            .collect::<Vec<_>>()
            .join("\n")
            .add("\n")
            .replace(" __complete help\"", " help\"")
        }
        Shell::Zsh => {
            let value = |what: &str| format!("{{compadd -- {}}}", names(what));
            let text = text
                .replace(
                    ":SERVICE:_default",
                    &format!(":SERVICE:{}", value("services")),
                )
                .replace(":TO:_default", &format!(":TO:{}", value("sites")));
            // The SITE argument of drain and failback: `':site -- help:_default'`.
            text.lines()
                .map(|line| match line.strip_suffix(":_default' \\") {
                    Some(head)
                        if line.starts_with("':site -- ") || line.starts_with("'::site -- ") =>
                    {
                        format!("{head}:{}' \\", value("sites"))
                    }
                    _ => line.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("\n")
                + "\n"
        }
        Shell::Fish => {
            let mut text = text;
            for (flag, what) in [("service", "services"), ("to", "sites")] {
                text.push_str(&format!(
                    "complete -c orbitctl -l {flag} -x -a '(orbitctl __complete {what} 2>/dev/null)'\n"
                ));
            }
            text.push_str(
                "complete -c orbitctl -n '__fish_seen_subcommand_from drain failback' -x \
                 -a '(orbitctl __complete sites 2>/dev/null)'\n",
            );
            text
        }
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every flag and argument says what it is for in --help (and so in
    /// the man page and the zsh/fish descriptions).
    #[test]
    fn every_argument_has_help() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && !arg.is_hide_set() && arg.get_help().is_none() {
                    missing.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    missing.push(format!("{path} {} (no about)", sub.get_name()));
                }
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "orbitctl", &mut missing);
        assert!(missing.is_empty(), "without help: {missing:#?}");
    }
}
