//! orbitd's start: the config first (exit 64 before anything else is
//! touched), then logging, the runtime, the API sockets, the daemon with
//! its state directory, backends and BFD, the detectors and the signal
//! handlers. Each step that can fail has its [`StartupError`] variant,
//! naming what failed; [`StartupError::exit_code`] is the one place that
//! maps them to exit codes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use orbit_config::Config;
use orbit_core::RedirectError;
use tokio::signal::unix::{signal, SignalKind};
use tracing::Instrument;

use crate::daemon::{Daemon, Input};
use crate::evidence::Evidence;
use crate::logging::{self, LogFormat};
use crate::metrics::Metrics;
use crate::{api, referenced_files, summary};

/// sysexits.h EX_USAGE: the config is wrong.
const EX_USAGE: u8 = 64;

/// Why orbitd did not start. Each message names what failed (a path, an
/// address, a backend) and carries the OS's or the component's own error.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The config, or a file it names, is wrong: every problem, with its
    /// TOML path.
    #[error("{0}")]
    Config(#[from] orbit_config::Error),
    #[error("cannot start the runtime: {0}")]
    Runtime(std::io::Error),
    #[error("API socket {} is in use: is another orbitd running?", path.display())]
    ApiSocketInUse { path: PathBuf },
    /// A file or directory that cannot be created, removed or bound:
    /// `action` says which, e.g. "creating state_dir".
    #[error("{action} {}: {source}", path.display())]
    File {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("binding API listener {addr}: {source}")]
    ApiListener {
        addr: SocketAddr,
        source: std::io::Error,
    },
    /// The API token file changed since the config was checked.
    #[error("node.api_token_file: {0}")]
    ApiToken(String),
    /// The socket's group vanished since the config was checked.
    #[error("api.api_socket_group: {0}")]
    ApiSocketGroup(String),
    /// The journal in the state directory cannot be opened or read.
    #[error("{0:#}")]
    Journal(anyhow::Error),
    /// The saved state cannot be read (corrupt, or another format).
    #[error("{0:#}")]
    StateFile(anyhow::Error),
    #[error("backend: {0}")]
    Backend(RedirectError),
    /// BFD toward the BGP peers (`bfd = true`).
    #[error("{0:#}")]
    PeerBfd(anyhow::Error),
    /// BFD toward the other members (`[bfd] sites = true`).
    #[error("starting BFD toward the other members: {0:#}")]
    SiteBfd(anyhow::Error),
    #[error("starting the failure detectors: {0}")]
    Detectors(orbit_detect::DetectError),
    #[error("installing the signal handlers: {0}")]
    Signals(std::io::Error),
}

impl StartupError {
    /// A bad config is EX_USAGE (64), which a supervisor can tell from a
    /// failure worth retrying (systemd: `RestartPreventExitStatus=64`);
    /// anything else that stops the start is EXIT_FAILURE (1).
    pub fn exit_code(&self) -> ExitCode {
        match self {
            StartupError::Config(_) => ExitCode::from(EX_USAGE),
            _ => ExitCode::FAILURE,
        }
    }
}

/// `orbitd --config FILE` without a config file.
pub fn no_config() -> ExitCode {
    eprintln!("orbitd: --config FILE is required (or: orbitd check-config FILE)");
    ExitCode::from(EX_USAGE)
}

/// Reads and checks the config, with the files it names unless told not
/// to: every problem in one error.
fn load_config(path: &Path, check_files: bool) -> Result<Config, StartupError> {
    Ok(if check_files {
        Config::load_checked(path, referenced_files::problems)?
    } else {
        Config::load(path)?
    })
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

/// `orbitd check-config FILE`.
pub fn check_config(file: &Path, check_files: bool) -> ExitCode {
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
            error.exit_code()
        }
    }
}

/// `orbitd --config FILE`: runs the daemon until SIGTERM has drained it.
pub fn run(path: &Path, log_format: LogFormat) -> ExitCode {
    // The config and the files it names are checked before logging,
    // sockets, the state directory or anything else.
    let config = match load_config(path, true) {
        Ok(c) => c,
        Err(error) => {
            eprintln!("orbitd: {error}");
            return error.exit_code();
        }
    };
    // Before the runtime's threads start: it changes the environment.
    let systemd = crate::systemd::Systemd::from_env();
    crate::allocator::one_arena();
    logging::init(log_format);
    for warning in warnings(&config, true) {
        tracing::warn!("config: {warning}");
    }
    // The daemon's loop runs on this thread, where its journal and
    // state-file syncs may block; every task it spawns (BGP sessions, API,
    // detectors) runs on the I/O thread, so a slow disk never holds up a
    // keepalive (crate::runtime).
    let runtime = match crate::runtime::IoRuntime::start() {
        Ok(r) => r,
        Err(error) => {
            let error = StartupError::Runtime(error);
            eprintln!("orbitd: {error}");
            return error.exit_code();
        }
    };
    // The span covers the whole daemon, across every await (a guard held
    // over an await would leak into whatever else the thread polls).
    let span = tracing::info_span!("orbitd", site = %config.node.site);
    match runtime.block_on(serve(path.to_owned(), config, systemd).instrument(span)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        // Logging goes to stderr: one line, not the same one twice.
        Ok(Err(error)) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
        Err(error) => {
            tracing::error!("{error}");
            error.exit_code()
        }
    }
}

/// Starts everything, then runs the daemon: the outer error is a start
/// that failed, the inner one a daemon that stopped on an error.
async fn serve(
    path: PathBuf,
    config: Config,
    systemd: crate::systemd::Systemd,
) -> Result<anyhow::Result<()>, StartupError> {
    let evidence = Arc::new(Evidence::default());
    let metrics = Arc::new(Metrics::new(&evidence));
    // Checked with the config; looked up again in case it changed since.
    let group = match &config.api.api_socket_group {
        Some(name) => {
            Some(referenced_files::socket_group(name).map_err(StartupError::ApiSocketGroup)?)
        }
        None => None,
    };
    let unix = api::bind_unix(&config.node.api_socket, config.api.socket_mode(), group)?;
    let _unix_socket = RemovedOnDrop(config.node.api_socket.clone());
    let tcp = match (config.node.api_tcp, &config.node.api_token_file) {
        (Some(addr), Some(token_file)) => {
            // Checked with the config; read again for the (unlikely) case
            // it changed since.
            let token = referenced_files::api_token(token_file).map_err(StartupError::ApiToken)?;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| StartupError::ApiListener { addr, source })?;
            Some((listener, token))
        }
        _ => None,
    };
    let mut daemon = Daemon::new(path, config.clone(), metrics.clone(), evidence.clone()).await?;
    daemon.set_systemd(systemd);
    let tx = daemon.sender();
    let (events, mut detected) = tokio::sync::mpsc::channel(1024);
    let detectors = orbit_detect::Detectors::start(
        &config.detect,
        &config.cluster(),
        &config.health_checks(),
        Some(metrics.health_check_observer()),
        events,
    )
    .await
    .map_err(StartupError::Detectors)?;
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
        evidence.clone(),
        known.clone(),
    );
    if let Some((listener, token)) = tcp {
        api::serve_tcp(
            listener,
            api::Limits::tcp(&config.api),
            token,
            tx.clone(),
            metrics,
            evidence,
            known,
        );
    }
    spawn_signals(tx).map_err(StartupError::Signals)?;
    tracing::info!(socket = %config.node.api_socket.display(), "orbitd running");
    let result = daemon.run().await;
    drop(detectors);
    Ok(result)
}

/// The API socket file, removed however start-up or the daemon ends, so
/// that no stale `api.sock` is left behind.
struct RemovedOnDrop(PathBuf);

impl Drop for RemovedOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn spawn_signals(tx: tokio::sync::mpsc::Sender<Input>) -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            let input = tokio::select! {
                _ = term.recv() => Input::Terminate,
                _ = int.recv() => Input::Terminate,
                _ = hup.recv() => Input::Reload(None),
            };
            if tx.send(input).await.is_err() {
                return;
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_config_exits_64_and_a_failed_step_1_naming_its_path_and_the_os_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("missing.toml");
        let config = load_config(&missing, true).expect_err("no such config");
        assert!(matches!(config, StartupError::Config(_)), "{config:?}");
        assert_eq!(config.exit_code(), ExitCode::from(64));

        // A file where the API socket's directory should be.
        let blocker = dir.path().join("run");
        std::fs::write(&blocker, "").expect("write");
        let socket = blocker.join("api.sock");
        let error = api::bind_unix(&socket, 0o600, None).expect_err("no directory");
        assert_eq!(error.exit_code(), ExitCode::FAILURE);
        let message = error.to_string();
        assert!(
            message.starts_with(&format!("creating {}: ", blocker.display())),
            "{message}"
        );
        assert!(message.contains("os error"), "{message}");
    }
}
