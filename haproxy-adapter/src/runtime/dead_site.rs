//! Holding a dead site's servers in maint (what and why: `crate::dead_site`):
//! the runtime API commands, and the record files beside the map.
//!
//! The record of the servers one orbitd forced lives beside the map file,
//! one file per site (`orbit.map.maint-a`), not in orbitd's state dir:
//! every orbitd that drives this HAProxy already writes that directory (the
//! map is shared), so when the orbitd that forced a site's servers is gone,
//! the one that points the map back at them finds and readies them; and
//! each writes only its own file, so two orbitds never race on one. The
//! record survives an orbitd restart, and goes with the map (a map on tmpfs
//! is lost with a reboot, as are HAProxy's runtime server states).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use orbit_core::{ServiceId, SiteId};
use tracing::{info, warn};

use super::{write_named, Runtime};
use crate::command::ServerState;
use crate::dead_site::{self, Hold, Record, ServerRef};
use crate::error::Error;
use crate::mapfile::{self, Durability};

/// What errors call a record file.
const RECORD: &str = "record of the servers orbit put in maint";

/// The dead-site part of one apply, planned from the steering.
#[derive(Debug, Clone)]
pub(super) struct ServerPlan {
    pub local: SiteId,
    /// Backend -> the service taken over that holds it.
    pub held: BTreeMap<String, ServiceId>,
    /// Backends the map points at after this apply (never held).
    pub targets: BTreeSet<String>,
}

impl Runtime {
    fn record_prefix(&self) -> String {
        let name = self
            .map_path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        format!("{name}.maint-")
    }

    fn record_path(&self, site: &SiteId) -> PathBuf {
        self.map_path
            .with_file_name(format!("{}{site}", self.record_prefix()))
    }

    /// This orbitd's record and the union of every other site's.
    fn load_records(&self, local: &SiteId) -> Result<(Record, Record), Error> {
        let own_path = self.record_path(local);
        let dir = match own_path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        let prefix = self.record_prefix();
        let listing = std::fs::read_dir(&dir).map_err(|source| Error::MapFile {
            file: RECORD,
            path: dir.clone(),
            action: "list its directory",
            source,
        })?;
        let (mut own, mut others) = (Record::new(), Record::new());
        for entry in listing.flatten() {
            let name = entry.file_name();
            let Some(site) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
                continue;
            };
            let path = entry.path();
            let Some(text) = mapfile::read_file(RECORD, &path)? else {
                continue;
            };
            let (servers, bad) = dead_site::parse_record(&text);
            for (line, text) in bad {
                warn!(path = %path.display(), line, text = %text,
                    "ignoring a line that is not backend/server (that server stays as it is)");
            }
            if site == local.as_str() {
                own = servers;
            } else {
                others.extend(servers);
            }
        }
        Ok((own, others))
    }

    async fn save_record(&self, local: &SiteId, servers: &Record) -> Result<(), Error> {
        let path = self.record_path(local);
        if servers.is_empty() {
            return match tokio::fs::remove_file(&path).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::MapFile {
                    file: RECORD,
                    path,
                    action: "remove it",
                    source: e,
                }),
                _ => Ok(()),
            };
        }
        // Not fsynced: the record describes HAProxy's runtime server
        // states, which a machine crash takes with it (restarted, HAProxy
        // has every server as its config says); what it must survive is an
        // orbitd crash, and the page cache does. The maint commands it
        // precedes end the requests hanging on a dead site: they must not
        // wait on a busy disk.
        write_named(
            RECORD,
            path,
            dead_site::render_record(servers),
            Durability::ProcessCrash,
        )
        .await
    }

    /// Before the map commit: puts back to ready (or drain) the recorded
    /// servers the plan no longer holds (see [`dead_site::to_release`]), then drops
    /// them from this orbitd's record. Returns those it readied.
    pub(super) async fn release_servers(
        &mut self,
        plan: &ServerPlan,
    ) -> Result<Vec<ServerRef>, Error> {
        let (own, others) = self.load_records(&plan.local)?;
        let targets = plan.targets.iter().map(String::as_str).collect();
        let release = dead_site::to_release(&own, &others, &plan.held, &targets);
        if release.is_empty() {
            return Ok(Vec::new());
        }
        let mut readied = Vec::new();
        let backends: BTreeSet<&str> = release.keys().map(|s| s.backend.as_str()).collect();
        for backend in backends {
            // Gone from HAProxy's config: nothing left to ready there.
            if !self.backends.contains(backend) {
                continue;
            }
            for s in self.client.show_servers_state(Some(backend)).await? {
                let r = ServerRef {
                    backend: s.backend.clone(),
                    server: s.server.clone(),
                };
                let Some(state) = release.get(&r) else {
                    continue;
                };
                if dead_site::needs_ready(s.admin_state) {
                    self.client
                        .set_server_state(&s.backend, &s.server, *state)
                        .await?;
                    readied.push(r);
                }
            }
        }
        // Only after the commands: a crash in between leaves a record of
        // servers no longer in maint, which the next apply just drops.
        self.confirmed_holds.retain(|r| !release.contains_key(r));
        let mut kept = own.clone();
        kept.retain(|r, _| !release.contains_key(r));
        if kept != own {
            self.save_record(&plan.local, &kept).await?;
        }
        self.stats.servers_restored += readied.len() as u64;
        if !readied.is_empty() {
            info!(servers = %dead_site::list(&readied),
                "servers out of orbit's maint (ready, or drain if they were drained): their site is no longer declared dead, or the map points there");
        }
        Ok(readied)
    }

    /// After the map commit: every server of a held backend that is not in
    /// maint goes there with its sessions shut, recorded first. Returns
    /// those it forced.
    pub(super) async fn hold_servers(
        &mut self,
        plan: &ServerPlan,
    ) -> Result<Vec<ServerRef>, Error> {
        if plan.held.is_empty() {
            return Ok(Vec::new());
        }
        let (own, _) = self.load_records(&plan.local)?;
        let mut force = Vec::new();
        let mut record = own.clone();
        for backend in plan.held.keys() {
            for s in self.client.show_servers_state(Some(backend)).await? {
                let r = ServerRef {
                    backend: s.backend,
                    server: s.server,
                };
                let recorded = own.contains_key(&r);
                let confirmed = self.confirmed_holds.contains(&r);
                if dead_site::hold(s.admin_state, recorded, confirmed) == Hold::Force {
                    // A recorded server keeps the state it had before orbit.
                    record
                        .entry(r.clone())
                        .or_insert_with(|| dead_site::prior_state(s.admin_state));
                    force.push(r);
                }
            }
        }
        if force.is_empty() {
            return Ok(force);
        }
        // Recorded before the commands: a crash in between leaves a record
        // of a server not (yet) in maint, which a release just drops, never
        // a maint orbit would not know to undo.
        if record != own {
            self.save_record(&plan.local, &record).await?;
        }
        for r in &force {
            self.client
                .set_server_state(&r.backend, &r.server, ServerState::Maint)
                .await?;
            self.client.shutdown_sessions(&r.backend, &r.server).await?;
            self.confirmed_holds.insert(r.clone());
        }
        self.stats.servers_forced_maint += force.len() as u64;
        let services: BTreeSet<&str> = plan.held.values().map(ServiceId::as_str).collect();
        info!(servers = %dead_site::list(&force), services = ?services,
            "servers of a site declared dead put in maint, their sessions shut");
        Ok(force)
    }
}
