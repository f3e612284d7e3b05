//! orbitd: the orbit daemon that runs beside each site's border router.
//!
//! `orbitd --config FILE` runs the daemon; `orbitd check-config FILE`
//! validates a config. A bad config stops orbitd with exit code 64 before it
//! opens any socket or touches any data plane. This file only parses the
//! command line and hands over: the start is [`startup`], the running
//! daemon [`daemon`].

mod allocator;
mod api;
mod backends;
mod bfd;
mod daemon;
mod evidence;
mod external;
mod journal;
mod logging;
mod man;
mod metrics;
mod outbound;
mod plans;
mod referenced_files;
mod runtime;
mod startup;
mod state;
mod summary;
mod systemd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::logging::LogFormat;

#[derive(Debug, Parser)]
#[command(name = "orbitd", version, about = "orbit traffic-redirection daemon")]
struct Cli {
    /// Config file (orbit.toml).
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    /// Log line format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Option<Commands>,
}

#[derive(Debug, Subcommand)]
enum Commands {
    /// Validate a config file, list every problem, and summarize a good one.
    CheckConfig {
        /// Path to orbit.toml.
        file: PathBuf,
        /// Do not read the files the config names (gossip key, token,
        /// TCP-MD5 and BFD keys, hook and health-check programs): for
        /// checking a config away from the machine it runs on.
        #[arg(long)]
        skip_files: bool,
    },
    /// Print a man page as roff: orbitd(8) or orbit.toml(5) (for packaging).
    #[command(hide = true)]
    Man {
        #[arg(value_enum, default_value = "orbitd")]
        page: man::Page,
    },
    /// Internal: the BFD helper process orbitd starts for itself.
    #[command(hide = true)]
    BfdHelper,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Commands::CheckConfig { file, skip_files }) => {
            startup::check_config(&file, !skip_files)
        }
        Some(Commands::Man { page }) => print_man(page),
        Some(Commands::BfdHelper) => bfd::helper::serve(cli.log_format),
        None => match cli.config {
            Some(path) => startup::run(&path, cli.log_format),
            None => startup::no_config(),
        },
    }
}

/// `orbitd man PAGE`.
fn print_man(page: man::Page) -> ExitCode {
    use clap::CommandFactory;
    use std::io::Write;
    match man::render(page, Cli::command()).and_then(|roff| std::io::stdout().write_all(&roff)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("orbitd: writing the man page: {error}");
            ExitCode::FAILURE
        }
    }
}
