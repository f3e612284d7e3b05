//! orbitd: the orbit daemon that runs beside each site's border router.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use orbit_core::config::Config;

/// sysexits.h EX_USAGE: the config is wrong.
const EX_USAGE: u8 = 64;

#[derive(Debug, Parser)]
#[command(name = "orbitd", version, about = "orbit traffic-redirection daemon")]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Validate a config file, list every problem, and summarize a good one.
    CheckConfig {
        /// Path to orbit.toml.
        file: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Commands::CheckConfig { file } => check_config(&file),
    }
}

fn check_config(file: &std::path::Path) -> ExitCode {
    match Config::load(file) {
        Ok(config) => {
            println!("{}", summary(&config));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("orbitd: {error}");
            ExitCode::from(EX_USAGE)
        }
    }
}

fn summary(config: &Config) -> String {
    let mut out = String::new();
    let node = &config.node;
    let observers: Vec<String> = config
        .sites
        .iter()
        .map(|s| {
            if s.witness {
                format!("{} (witness)", s.id)
            } else {
                s.id.to_string()
            }
        })
        .collect();
    out.push_str(&format!(
        "config ok: node {} ({:?}), quorum {} of {} members: {}\n",
        node.site,
        node.role,
        config.quorum(),
        config.sites.len(),
        observers.join(", ")
    ));
    for svc in &config.services {
        let prefixes: Vec<String> = svc.prefixes.iter().map(|p| p.to_string()).collect();
        let sites: Vec<&str> = svc.sites.iter().map(|s| s.as_str()).collect();
        let health = match &svc.health {
            Some(h) if h.tcp.is_some() => "tcp check",
            Some(h) if h.http.is_some() => "http check",
            Some(_) => "exec check",
            None => "no health check",
        };
        out.push_str(&format!(
            "service {}: {} -> sites {} (priority order), {health}\n",
            svc.id,
            prefixes.join(" "),
            sites.join(" > ")
        ));
    }
    let p = &config.policy;
    out.push_str(&format!(
        "policy: failover after {}, failback {}\n",
        p.failover_hold,
        match p.failback {
            orbit_core::config::Failback::After => format!("after {} stable", p.failback_after),
            orbit_core::config::Failback::Manual => "manual only".to_owned(),
        }
    ));
    let backends: Vec<&str> = [
        (config.bgp.is_some(), "bgp"),
        (config.sdn.is_some(), "sdn"),
        (config.haproxy.is_some(), "haproxy"),
        (config.hook.is_some(), "hook"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    out.push_str(&format!(
        "backends: {}",
        if backends.is_empty() {
            "none".to_owned()
        } else {
            backends.join(", ")
        }
    ));
    out
}
