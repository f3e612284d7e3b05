//! orbitd: the orbit daemon that runs beside each site's border router.
//!
//! `orbitd --config FILE` runs the daemon; `orbitd check-config FILE`
//! validates a config. A bad config stops orbitd with exit code 64 before it
//! opens any socket or touches any data plane.

mod api;
mod backends;
mod bfd;
mod daemon;
mod external;
mod journal;
mod metrics;
mod referenced_files;
mod state;
mod summary;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use orbit_config::Config;
use tokio::signal::unix::{signal, SignalKind};
use tracing::Instrument;

use crate::daemon::{Daemon, Input};

/// sysexits.h EX_USAGE: the config is wrong.
const EX_USAGE: u8 = 64;

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

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// This process's log format, for the helper processes it starts.
static LOG_FORMAT: std::sync::OnceLock<LogFormat> = std::sync::OnceLock::new();

/// The command line of the BFD helper process, `orbitd bfd-helper`.
fn bfd_helper_command() -> anyhow::Result<(PathBuf, Vec<&'static str>)> {
    let exe = std::env::current_exe().context("locating the orbitd binary")?;
    let format = match LOG_FORMAT.get() {
        Some(LogFormat::Json) => "json",
        _ => "text",
    };
    Ok((exe, vec!["bfd-helper", "--log-format", format]))
}

/// Starts a BFD driver in its own helper process (`orbitd bfd-helper`):
/// the sessions keep answering while this process is stalled, and end
/// when it exits, however it exits.
pub(crate) fn bfd_driver() -> anyhow::Result<(
    orbit_bfd::BfdHandle,
    tokio::sync::mpsc::UnboundedReceiver<orbit_bfd::BfdEvent>,
)> {
    let (exe, args) = bfd_helper_command()?;
    Ok(orbit_bfd::driver::helper::spawn(exe, &args)?)
}

/// Like [`bfd_driver`], but the helper survives a crash of this process
/// for `adoptable.linger` and a restarted orbitd adopts it: first adopts
/// the one a crashed predecessor left on `adoptable.socket`, if any.
pub(crate) async fn adoptable_bfd_driver(
    adoptable: orbit_bfd::driver::helper::Adoptable,
) -> anyhow::Result<orbit_bfd::driver::helper::Started> {
    let (exe, args) = bfd_helper_command()?;
    Ok(orbit_bfd::driver::helper::adopt_or_spawn(exe, &args, adoptable).await?)
}

/// The helper a crashed predecessor left on `socket`, adopted (to be
/// released), if there is one.
pub(crate) async fn orphaned_bfd_driver(
    socket: &Path,
) -> anyhow::Result<Option<orbit_bfd::driver::helper::Started>> {
    let (exe, args) = bfd_helper_command()?;
    Ok(orbit_bfd::driver::helper::adopt(exe, &args, socket).await?)
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
    /// Internal: the BFD helper process orbitd starts for itself.
    #[command(hide = true)]
    BfdHelper,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Commands::CheckConfig { file, skip_files }) => check_config(&file, !skip_files),
        Some(Commands::BfdHelper) => bfd_helper(cli.log_format),
        None => {
            let Some(path) = cli.config else {
                eprintln!("orbitd: --config FILE is required (or: orbitd check-config FILE)");
                return ExitCode::from(EX_USAGE);
            };
            run(&path, cli.log_format)
        }
    }
}

/// Reads and checks the config, with the files it names unless told not
/// to: every problem in one error.
fn load_config(path: &Path, check_files: bool) -> Result<Config, orbit_config::Error> {
    if check_files {
        Config::load_checked(path, referenced_files::problems)
    } else {
        Config::load(path)
    }
}

/// What a working config still should not do: the config's own warnings
/// and, when the files are checked, secrets others may read.
fn warnings(config: &Config, check_files: bool) -> Vec<orbit_config::Problem> {
    let mut found = config.warnings();
    if check_files {
        found.extend(referenced_files::warnings(config));
    }
    found
}

fn check_config(file: &Path, check_files: bool) -> ExitCode {
    match load_config(file, check_files) {
        Ok(config) => {
            println!("{}", summary::summary(&config));
            for warning in warnings(&config, check_files) {
                eprintln!("orbitd: warning: {warning}");
            }
            if !check_files {
                println!("the files the config names were not checked (--skip-files)");
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("orbitd: {error}");
            ExitCode::from(EX_USAGE)
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ORBIT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: journald and log files get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// The BFD sessions' own process (`orbit_bfd::driver::helper`): it keeps
/// answering while orbitd is stalled, and exits when orbitd stops or
/// releases it. The one toward the BGP peers also outlives a crashed
/// orbitd for the graceful-restart time, for the restarted orbitd to adopt.
fn bfd_helper(log_format: LogFormat) -> ExitCode {
    init_logging(log_format);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(error) => {
            eprintln!("orbitd bfd-helper: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let served = runtime.block_on(async {
        // A stop signal meant for the whole group (systemd, Ctrl-C) must not
        // end the sessions before orbitd's own graceful stop has set them
        // AdminDown: the helper leaves when orbitd says goodbye (or, for
        // one that is not adoptable, closes its stdin). An orphaned helper
        // listens for SIGTERM/SIGINT itself and exits on them.
        let mut ignored = Vec::new();
        for kind in [
            SignalKind::terminate(),
            SignalKind::interrupt(),
            SignalKind::hangup(),
        ] {
            ignored.push(signal(kind)?);
        }
        orbit_bfd::driver::helper::serve(orbit_bfd::DriverConfig::default())
            .instrument(tracing::info_span!("bfd-helper"))
            .await
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("orbitd bfd-helper: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: &Path, log_format: LogFormat) -> ExitCode {
    // The config and the files it names are checked before logging,
    // sockets, the state directory or anything else.
    let config = match load_config(path, true) {
        Ok(c) => c,
        Err(error) => {
            eprintln!("orbitd: {error}");
            return ExitCode::from(EX_USAGE);
        }
    };
    init_logging(log_format);
    let _ = LOG_FORMAT.set(log_format);
    for warning in warnings(&config, true) {
        tracing::warn!("config: {warning}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(error) => {
            eprintln!("orbitd: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    // The span covers the whole daemon, across every await (a guard held
    // over an await would leak into whatever else the thread polls).
    let span = tracing::info_span!("orbitd", site = %config.node.site);
    match runtime.block_on(serve(path.to_owned(), config).instrument(span)) {
        Ok(()) => ExitCode::SUCCESS,
        // Logging goes to stderr: one line, not the same one twice.
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(path: PathBuf, config: Config) -> anyhow::Result<()> {
    let metrics = Arc::new(metrics::Metrics::new());
    let unix = api::bind_unix(&config.node.api_socket)?;
    let _unix_socket = RemovedOnDrop(config.node.api_socket.clone());
    let tcp = match (config.node.api_tcp, &config.node.api_token_file) {
        (Some(addr), Some(token_file)) => {
            // Checked with the config; read again for the (unlikely) case
            // it changed since.
            let token = referenced_files::api_token(token_file)
                .map_err(|e| anyhow::anyhow!("node.api_token_file: {e}"))?;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding API listener {addr}"))?;
            Some((listener, token))
        }
        _ => None,
    };
    let mut daemon = Daemon::new(path, config.clone(), metrics.clone()).await?;
    let tx = daemon.sender();
    let (events, mut detected) = tokio::sync::mpsc::channel(1024);
    let detectors = orbit_detect::Detectors::start(
        &config.detect,
        &config.cluster(),
        &config.health_checks(),
        events,
    )
    .await
    .context("starting the failure detectors")?;
    if let Some(gossip) = &detectors.gossip {
        daemon.set_gossip(gossip).await?;
    }
    let known = Arc::new(api::Known {
        local: config.node.site.clone(),
        sites: config.members().cloned().collect(),
        services: config.services.iter().map(|s| s.id.clone()).collect(),
        gossip: detectors.gossip.as_ref().map(|g| g.reporter()),
    });
    let forward = tx.clone();
    tokio::spawn(async move {
        while let Some(event) = detected.recv().await {
            if forward.send(Input::Event(event)).await.is_err() {
                return;
            }
        }
    });
    api::check_fd_budget(&config.api, tcp.is_some());
    api::serve_unix(
        unix,
        api::Limits::unix(&config.api),
        tx.clone(),
        metrics.clone(),
        known.clone(),
    );
    if let Some((listener, token)) = tcp {
        api::serve_tcp(
            listener,
            api::Limits::tcp(&config.api),
            token,
            tx.clone(),
            metrics.clone(),
            known,
        );
    }
    spawn_signals(tx)?;
    tracing::info!(socket = %config.node.api_socket.display(), "orbitd running");
    let result = daemon.run().await;
    drop(detectors);
    result
}

/// The API socket file, removed however start-up or the daemon ends, so
/// that no stale `api.sock` is left behind.
struct RemovedOnDrop(PathBuf);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn spawn_signals(tx: tokio::sync::mpsc::Sender<Input>) -> anyhow::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            let input = tokio::select! {
                _ = term.recv() => Input::Terminate,
                _ = int.recv() => Input::Terminate,
                _ = hup.recv() => Input::Reload,
            };
            if tx.send(input).await.is_err() {
                return;
            }
        }
    });
    Ok(())
}
