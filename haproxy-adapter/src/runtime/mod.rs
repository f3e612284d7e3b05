//! [`Runtime`]: the HAProxy backend, `impl Redirector`.
//!
//! ```text
//!  apply(&Steering) ──> Layout::desired, dead_site::held_backends (pure) ──> sync
//!                          │ servers orbit held in maint, no longer held: ready
//!                          │ show map MAP + read file   (diff)
//!                          │ prepare map -> @V
//!                          │ add map @V MAP << chunk ... (payloads)
//!                          │ commit map @V MAP          (atomic switch)
//!                          │ show map MAP               (read back, compare)
//!                          │ old site's servers: drain / shutdown sessions (if configured)
//!                          │ write file (temp+fsync+rename), for the next start or reload
//!                          └ a dead site's servers: record, maint, shutdown sessions
//! ```
//!
//! All I/O goes through one [`Client`] owned by the `Runtime`: `Redirector`
//! takes `&mut self`, so there is no task to coordinate with. A new
//! connection (HAProxy restarted or reloaded, or closed an idle CLI) makes
//! the next call re-check the map. `observe` only reads: a restarted HAProxy
//! that loaded an old file is reported as it is, and orbitd's backend runner
//! sees the drift and calls `reconcile` (an apply of the confirmed steering,
//! which rewrites what differs).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::config::Config;
use orbit_core::{Applied, BackendKind, Observed, RedirectError, Redirector, Steering};
use tracing::{debug, info, info_span, warn, Instrument};

use crate::client::Client;
use crate::endpoint::Endpoint;
use crate::error::Error;
use crate::mapfile::{self, Durability};
use crate::plan::{differences, Entry, Layout};
use dead_site::ServerPlan;

mod dead_site;
mod sessions;

/// Bytes of entries per `add map` payload: the whole command must fit
/// HAProxy's `tune.bufsize` (16 kB by default) or it drops the connection.
const PAYLOAD_BYTES: usize = 8 * 1024;

/// Counters of one HAProxy backend, for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// `apply` calls that wrote nothing because the steering was fenced or
    /// observe-only.
    pub skipped: u64,
    /// Syncs (apply or reconcile) that succeeded, and those that changed
    /// something.
    pub synced: u64,
    pub synced_with_changes: u64,
    /// Syncs that failed (the previous map stayed in force).
    pub failed: u64,
    /// Reconciles that changed something (drift repaired).
    pub drift_fixed: u64,
    /// Runtime API connections opened.
    pub connections: u64,
    /// Duration of the last successful sync that changed something.
    pub last_change_us: u64,
    /// Servers put in maint (sessions shut) because their site was
    /// declared dead, and servers orbit put back to ready after that.
    pub servers_forced_maint: u64,
    pub servers_restored: u64,
}

/// The HAProxy backend. Build it with [`Runtime::start`] (connects and
/// checks) or [`Runtime::new`] (connects on first use).
#[derive(Debug)]
pub struct Runtime {
    client: Client,
    /// The map as HAProxy names it in `show map` (its file path as written
    /// in HAProxy's config).
    map: String,
    map_path: PathBuf,
    layout: Layout,
    shutdown_sessions: bool,
    drain: bool,
    /// Connection epoch whose map and backends were checked.
    checked_epoch: u64,
    backends: BTreeSet<String>,
    /// Recorded servers whose `maint` and `shutdown sessions` this process
    /// saw succeed; any other recorded server gets both again (a failed
    /// apply, or a restart between the record and the commands).
    confirmed_holds: BTreeSet<crate::dead_site::ServerRef>,
    stats: Stats,
}

impl Runtime {
    /// Builds the backend without any I/O.
    pub fn new(cfg: &Config) -> Result<Runtime, Error> {
        let endpoint = Endpoint::parse(&cfg.socket)?;
        let map = cfg
            .map
            .to_str()
            .ok_or_else(|| Error::Invalid(format!("map path {:?} is not UTF-8", cfg.map)))?
            .to_owned();
        Ok(Runtime {
            client: Client::new(endpoint, cfg.timeout.get()),
            map,
            map_path: cfg.map.clone(),
            layout: Layout::from_config(cfg),
            shutdown_sessions: cfg.shutdown_sessions,
            drain: cfg.drain,
            checked_epoch: 0,
            backends: BTreeSet::new(),
            confirmed_holds: BTreeSet::new(),
            stats: Stats::default(),
        })
    }

    /// Builds the backend, connects and checks that HAProxy is recent
    /// enough, has the map loaded and has every configured backend.
    pub async fn start(cfg: &Config) -> Result<Runtime, Error> {
        let mut rt = Runtime::new(cfg)?;
        rt.check().await?;
        Ok(rt)
    }

    /// Connects if needed and checks version, map, backends and (when
    /// sessions are handled) the socket's admin level.
    pub async fn check(&mut self) -> Result<(), Error> {
        self.ensure_checked().await?;
        let missing: Vec<(&str, String, Option<String>)> = self
            .layout
            .backends()
            .into_iter()
            .filter(|(b, _)| !self.backends.contains(*b))
            .map(|(b, (svc, site))| (b, svc.to_string(), site.map(ToString::to_string)))
            .collect();
        if let Some((backend, service, site)) = missing.into_iter().next() {
            return Err(Error::UnknownBackend {
                service: Some(service),
                site,
                backend: backend.to_owned(),
            });
        }
        Ok(())
    }

    /// The map name used on the runtime API.
    pub fn map(&self) -> &str {
        &self.map
    }

    pub fn map_path(&self) -> &Path {
        &self.map_path
    }

    /// Counters since start.
    pub fn stats(&self) -> Stats {
        let mut s = self.stats.clone();
        s.connections = self.client.epoch();
        s
    }

    /// The client, for status pages and tests.
    pub fn client(&mut self) -> &mut Client {
        &mut self.client
    }

    async fn ensure_checked(&mut self) -> Result<(), Error> {
        self.client.drop_if_closed();
        if self.client.is_connected() {
            // After a reload the old process keeps answering on this
            // connection while it soft-stops; the new one has the traffic.
            match self.client.show_info().await {
                Ok(info) if info.stopping => {
                    info!(
                        pid = info.pid,
                        "haproxy process is stopping (reload); reconnecting"
                    );
                    self.client.disconnect();
                }
                Ok(_) => {}
                Err(e) if !self.client.is_connected() => {
                    debug!(error = %e, "runtime API connection lost; reconnecting");
                }
                Err(e) => return Err(e),
            }
        }
        self.client.connect().await?;
        if self.client.epoch() == self.checked_epoch {
            return Ok(());
        }
        let maps = self.client.show_maps().await?;
        let ours = maps.iter().find(|m| m.file == self.map).or_else(|| {
            // HAProxy prints the path as its config spells it.
            let want = std::fs::canonicalize(&self.map_path).ok()?;
            maps.iter()
                .find(|m| std::fs::canonicalize(&m.file).ok().as_ref() == Some(&want))
        });
        let Some(ours) = ours else {
            return Err(Error::UnknownMap {
                map: self.map.clone(),
                known: maps.iter().map(|m| m.file.clone()).collect(),
            });
        };
        self.map = ours.file.clone();
        self.backends = self.client.show_backends().await?.into_iter().collect();
        // Always: a takeover puts the dead site's servers in maint.
        self.probe_admin_level().await?;
        self.checked_epoch = self.client.epoch();
        Ok(())
    }

    /// `shutdown sessions` and `set server` need `level admin`; find out now
    /// rather than after a map commit. Addressing a server that cannot exist
    /// is harmless: an admin socket answers "No such server.", a lower level
    /// "Permission denied".
    async fn probe_admin_level(&mut self) -> Result<(), Error> {
        match self
            .client
            .shutdown_sessions("orbit-level-probe.invalid", "none")
            .await
        {
            Err(Error::UnexpectedReply { reply, .. })
                if reply.starts_with("No such server") || reply.starts_with("No such backend") =>
            {
                Ok(())
            }
            other => other,
        }
    }

    /// [`Redirector::apply`] with this crate's error.
    pub async fn apply_steering(&mut self, steering: &Steering) -> Result<Applied, Error> {
        if let Some(why) = steering.write_gate().blocks(BackendKind::Haproxy) {
            // A fenced daemon must not override the majority's choice, and
            // an observer applies nothing.
            self.stats.skipped += 1;
            return Ok(Applied {
                generation: steering.generation,
                changes: 0,
                detail: format!("{why}: haproxy map left as it is"),
            });
        }
        let entries = self.layout.desired(steering)?;
        let servers = ServerPlan {
            local: steering.local_site.clone(),
            held: crate::dead_site::held_backends(&self.layout, steering, &entries),
            targets: crate::dead_site::map_targets(&self.layout, &entries)
                .into_iter()
                .map(str::to_owned)
                .collect(),
        };
        let span = info_span!("haproxy_apply", map = %self.map, generation = steering.generation);
        self.sync(steering.generation, &entries, &servers)
            .instrument(span)
            .await
    }

    /// [`Redirector::observe`] with this crate's error: reads the runtime
    /// map and changes nothing.
    pub async fn observe_map(&mut self) -> Result<Observed, Error> {
        self.ensure_checked().await?;
        let entries = self.client.show_map(&self.map, None).await?;
        let (services, notes) = self.layout.observe(&entries);
        let mut detail = format!("map {}: {} entries", self.map, entries.len());
        if let Some(info) = self.client.info() {
            detail.push_str(&format!(", haproxy {} pid {}", info.version, info.pid));
        }
        for n in notes {
            detail.push_str("; ");
            detail.push_str(&n);
        }
        Ok(Observed { services, detail })
    }

    /// Brings file and runtime map to `entries`, on the process that stays.
    async fn sync(
        &mut self,
        generation: u64,
        entries: &[Entry],
        servers: &ServerPlan,
    ) -> Result<Applied, Error> {
        let started = Instant::now();
        let result = self.sync_confirmed(generation, entries, servers).await;
        match &result {
            Ok(a) => {
                self.stats.synced += 1;
                if a.changes > 0 {
                    self.stats.synced_with_changes += 1;
                    self.stats.last_change_us =
                        u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
                }
            }
            Err(e) => {
                self.stats.failed += 1;
                warn!(map = %self.map, generation, error = %e, "haproxy map not applied");
            }
        }
        result
    }

    async fn sync_confirmed(
        &mut self,
        generation: u64,
        entries: &[Entry],
        servers: &ServerPlan,
    ) -> Result<Applied, Error> {
        const ATTEMPTS: usize = 3;
        for attempt in 1..=ATTEMPTS {
            let applied = self.sync_once(generation, entries, servers).await?;
            if applied.changes == 0 {
                return Ok(applied);
            }
            // A reload during the apply leaves the commit on the old,
            // stopping process, while the new one may have loaded the file
            // before it was rewritten: confirm on a process that stays.
            let info = self.client.show_info().await?;
            if !info.stopping {
                return Ok(applied);
            }
            warn!(
                attempt,
                pid = info.pid,
                "haproxy reloaded during the apply; applying again"
            );
            self.client.disconnect();
        }
        Err(Error::Invalid(format!(
            "haproxy reloaded during each of {ATTEMPTS} attempts to apply the map; try again"
        )))
    }

    /// Servers orbit no longer holds go back to ready first (a failback
    /// must never point the map at servers orbit left in maint), then the
    /// map, then a dead site's servers go to maint: the map moves new
    /// requests away before their old servers fail what is in flight.
    async fn sync_once(
        &mut self,
        generation: u64,
        entries: &[Entry],
        servers: &ServerPlan,
    ) -> Result<Applied, Error> {
        let started = Instant::now();
        self.ensure_checked().await?;
        self.check_backends(entries).await?;

        let readied = self.release_servers(servers).await.map_err(|e| {
            Error::Invalid(format!(
                "taking servers out of orbit's maint failed, \
                 so the map was left as it was: {e}"
            ))
        })?;
        let (map_changes, mut detail) = self.sync_map(generation, entries).await?;
        let forced = self.hold_servers(servers).await.map_err(|e| {
            Error::Invalid(format!(
                "the map is in force, but putting the servers of {} (a site declared dead) \
                 in maint failed: {e}",
                servers.held.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })?;
        if !readied.is_empty() {
            detail.insert(
                0,
                format!(
                    "out of orbit's maint (site no longer declared dead, or the map points there): {}",
                    crate::dead_site::list(&readied)
                ),
            );
        }
        if !forced.is_empty() {
            detail.push(format!(
                "put in maint, sessions shut (site declared dead): {}",
                crate::dead_site::list(&forced)
            ));
        }
        let changes = map_changes + readied.len() + forced.len();
        if changes == 0 {
            return Ok(Applied {
                generation,
                changes,
                detail: format!("map {} already holds {} entries", self.map, entries.len()),
            });
        }
        let applied = Applied {
            generation,
            changes,
            detail: format!(
                "{} in {} us",
                detail.join("; "),
                started.elapsed().as_micros()
            ),
        };
        info!(map = %self.map, generation, changes, maint = forced.len(), ready = readied.len(),
            detail = %applied.detail, "haproxy map applied");
        Ok(applied)
    }

    /// Brings file and runtime map to `entries`: (changes, detail).
    async fn sync_map(
        &mut self,
        generation: u64,
        entries: &[Entry],
    ) -> Result<(usize, Vec<String>), Error> {
        let runtime = self.read_runtime_map().await?;
        let old_file = mapfile::read(&self.map_path)?;
        let file_entries = old_file.as_deref().map(mapfile::parse).unwrap_or_default();
        let runtime_diff = differences(entries, &runtime);
        let file_diff = differences(entries, &file_entries);
        if runtime_diff.is_empty() && file_diff.is_empty() && old_file.is_some() {
            return Ok((0, Vec::new()));
        }

        let mut detail = Vec::new();
        // The runtime map first, the file after: the file only matters to
        // the next HAProxy start or reload, and its fsync can take tens of
        // milliseconds on a busy disk that the traffic must not wait for.
        // A reload in between loads the old file; `sync_confirmed` sees
        // the process it committed to stopping and applies again, this
        // time with the file written.
        if !runtime_diff.is_empty() {
            debug!(differences = ?runtime_diff, "replacing runtime map");
            let pairs: Vec<(String, String)> = entries
                .iter()
                .map(|e| (e.key.clone(), e.backend.clone()))
                .collect();
            let (mut result, commit_sent) = self.replace_runtime(&pairs).await;
            if let (Err(e), true) = (&result, commit_sent) {
                // The commit went out but its reply did not come back: ask
                // HAProxy (on a new connection if needed) what it holds.
                if let Ok(now) = self.client.show_map(&self.map, None).await {
                    if differences(entries, &now).is_empty() {
                        warn!(error = %e, "commit reply lost, but the map holds the new steering");
                        result = Ok(());
                    }
                }
            }
            result?;
            let readback = self.client.show_map(&self.map, None).await?;
            let d = differences(entries, &readback);
            if !d.is_empty() {
                return Err(Error::ReadBack {
                    map: self.map.clone(),
                    difference: d.join(", "),
                });
            }
            detail.push(format!(
                "runtime map replaced ({} entries, {} changed)",
                entries.len(),
                runtime_diff.len()
            ));
            let moved = self.moves(entries, &runtime);
            for (old_backend, new_backend) in moved {
                self.handle_move(&old_backend, &new_backend).await?;
                if self.shutdown_sessions || self.drain {
                    detail.push(format!("servers of {old_backend} {}", self.move_verb()));
                }
            }
        }

        let file_written = !file_diff.is_empty() || old_file.is_none();
        if file_written {
            let text = mapfile::render(
                entries.iter().map(|e| (e.key.as_str(), e.backend.as_str())),
                generation,
            );
            write_file(self.map_path.clone(), text).await.map_err(|e| {
                if runtime_diff.is_empty() {
                    return e;
                }
                Error::Invalid(format!(
                    "the runtime map is in force, but the map file was not \
                         rewritten (a restart or reload of haproxy would load the old \
                         steering until the next apply): {e}"
                ))
            })?;
            detail.push(format!("file rewritten ({} differences)", file_diff.len()));
        }
        Ok((runtime_diff.len() + usize::from(file_written), detail))
    }

    /// `show map`, retried once on a new connection: HAProxy may close an
    /// idle CLI connection just as the command goes out. Reading is safe to
    /// repeat; writes never are retried.
    async fn read_runtime_map(&mut self) -> Result<Vec<(String, String)>, Error> {
        let epoch = self.client.epoch();
        match self.client.show_map(&self.map, None).await {
            Err(e) if e.breaks_connection() && !self.client.is_connected() => {
                debug!(error = %e, "runtime API connection lost; reconnecting once");
                self.ensure_checked().await?;
                if self.client.epoch() == epoch {
                    return Err(e);
                }
                self.client.show_map(&self.map, None).await
            }
            other => other,
        }
    }

    async fn check_backends(&mut self, entries: &[Entry]) -> Result<(), Error> {
        let missing = |known: &BTreeSet<String>| {
            entries
                .iter()
                .find(|e| !known.contains(&e.backend))
                .cloned()
        };
        if missing(&self.backends).is_none() {
            return Ok(());
        }
        // A reload may have added it since the list was read.
        self.backends = self.client.show_backends().await?.into_iter().collect();
        match missing(&self.backends) {
            None => Ok(()),
            Some(e) => Err(Error::UnknownBackend {
                service: Some(e.service.to_string()),
                site: e.site.map(|s| s.to_string()),
                backend: e.backend,
            }),
        }
    }

    /// prepare / add (payload chunks) / commit. Returns whether the commit
    /// was sent: before it, nothing has changed in HAProxy.
    async fn replace_runtime(&mut self, pairs: &[(String, String)]) -> (Result<(), Error>, bool) {
        let map = self.map.clone();
        let version = match self.client.prepare_map(&map).await {
            Ok(v) => v,
            Err(e) => return (Err(e), false),
        };
        for chunk in chunks(pairs, PAYLOAD_BYTES) {
            if let Err(e) = self.client.add_map_payload(version, &map, chunk).await {
                return (Err(e), false);
            }
        }
        match self.client.commit_map(version, &map).await {
            Ok(()) => (Ok(()), true),
            // Another orbitd committed a newer version in between; if it
            // holds the same steering there is nothing left to do (the
            // read back decides).
            Err(Error::UnexpectedReply { reply, .. })
                if reply.starts_with("Version number out of range") =>
            {
                warn!(map = %map, version, "commit superseded by a newer version");
                (Ok(()), true)
            }
            Err(e) => (Err(e), true),
        }
    }
}

/// Splits entries into payloads of at most `max` bytes (at least one entry each).
fn chunks(pairs: &[(String, String)], max: usize) -> Vec<&[(String, String)]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut size = 0;
    for (i, (k, v)) in pairs.iter().enumerate() {
        let len = k.len() + v.len() + 2;
        if i > start && size + len > max {
            out.push(&pairs[start..i]);
            start = i;
            size = 0;
        }
        size += len;
    }
    if start < pairs.len() {
        out.push(&pairs[start..]);
    }
    out
}

async fn write_file(path: PathBuf, text: String) -> Result<(), Error> {
    write_named("map file", path, text, Durability::PowerLoss).await
}

/// Replaces a file beside the map atomically, off the runtime's threads.
async fn write_named(
    file: &'static str,
    path: PathBuf,
    text: String,
    durability: Durability,
) -> Result<(), Error> {
    let p = path.clone();
    tokio::task::spawn_blocking(move || mapfile::write_file_atomic(file, &path, &text, durability))
        .await
        .map_err(|e| Error::Invalid(format!("writing {file} {}: {e}", p.display())))?
}

#[async_trait::async_trait]
impl Redirector for Runtime {
    fn kind(&self) -> BackendKind {
        BackendKind::Haproxy
    }

    async fn apply(&mut self, steering: &Steering) -> Result<Applied, RedirectError> {
        self.apply_steering(steering).await.map_err(Into::into)
    }

    async fn observe(&mut self) -> Result<Observed, RedirectError> {
        self.observe_map().await.map_err(Into::into)
    }

    /// Applies the confirmed steering again; counts a repair.
    async fn reconcile(&mut self, steering: &Steering) -> Result<Applied, RedirectError> {
        let applied = self.apply_steering(steering).await?;
        if applied.changes > 0 {
            self.stats.drift_fixed += 1;
        }
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_respect_the_payload_limit() {
        let pairs: Vec<(String, String)> = (0..1000)
            .map(|i| (format!("svc-{i}"), "be_site_a".to_owned()))
            .collect();
        let parts = chunks(&pairs, 1024);
        assert_eq!(parts.iter().map(|c| c.len()).sum::<usize>(), 1000);
        for c in &parts {
            let bytes: usize = c.iter().map(|(k, v)| k.len() + v.len() + 2).sum();
            assert!(bytes <= 1024, "{bytes}");
        }
        assert!(chunks(&[], 1024).is_empty());
    }
}
