//! The BFD helper processes: orbitd runs its BFD sessions in a child
//! process of its own binary (`orbitd bfd-helper`), so the sessions keep
//! answering while this process is stalled, and end when it exits.

use std::path::{Path, PathBuf};

use anyhow::Context;
use tokio::signal::unix::{signal, SignalKind};
use tracing::Instrument;

use crate::logging::{self, LogFormat};

/// The command line of the BFD helper process, `orbitd bfd-helper`, which
/// logs as this process does.
fn command() -> anyhow::Result<(PathBuf, Vec<&'static str>)> {
    let exe = std::env::current_exe().context("locating the orbitd binary")?;
    let format = match logging::format() {
        LogFormat::Json => "json",
        LogFormat::Text => "text",
    };
    Ok((exe, vec!["bfd-helper", "--log-format", format]))
}

/// Starts a BFD driver in its own helper process: the sessions keep
/// answering while this process is stalled, and end when it exits, however
/// it exits.
pub fn driver() -> anyhow::Result<(
    orbit_bfd::BfdHandle,
    tokio::sync::mpsc::UnboundedReceiver<orbit_bfd::BfdEvent>,
)> {
    let (exe, args) = command()?;
    Ok(orbit_bfd::driver::helper::spawn(exe, &args)?)
}

/// Like [`driver`], but the helper survives a crash of this process for
/// `adoptable.linger` and a restarted orbitd adopts it: first adopts the
/// one a crashed predecessor left on `adoptable.socket`, if any.
pub async fn adoptable_driver(
    adoptable: orbit_bfd::driver::helper::Adoptable,
) -> anyhow::Result<orbit_bfd::driver::helper::Started> {
    let (exe, args) = command()?;
    Ok(orbit_bfd::driver::helper::adopt_or_spawn(exe, &args, adoptable).await?)
}

/// The helper a crashed predecessor left on `socket`, adopted (to be
/// released), if there is one.
pub async fn orphaned_driver(
    socket: &Path,
) -> anyhow::Result<Option<orbit_bfd::driver::helper::Started>> {
    let (exe, args) = command()?;
    Ok(orbit_bfd::driver::helper::adopt(exe, &args, socket).await?)
}

/// `orbitd bfd-helper`: the BFD sessions' own process
/// (`orbit_bfd::driver::helper`). It keeps answering while orbitd is
/// stalled, and exits when orbitd stops or releases it. The one toward the
/// BGP peers also outlives a crashed orbitd for the graceful-restart time,
/// for the restarted orbitd to adopt.
pub fn serve(log_format: LogFormat) -> std::process::ExitCode {
    logging::init(log_format);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(error) => {
            eprintln!("orbitd bfd-helper: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
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
        // Real-time whenever the process has the capabilities for it
        // (docs/deploy-privileges.md): no knob, an operator who does not
        // want it withholds CAP_SYS_NICE.
        orbit_bfd::driver::helper::serve(orbit_bfd::DriverConfig::default(), true)
            .instrument(tracing::info_span!("bfd-helper"))
            .await
    });
    match served {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("orbitd bfd-helper: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
