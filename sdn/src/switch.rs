//! [`Switch`]: the SDN backend, `impl Redirector`.
//!
//! ```text
//!   orbitd ── apply/observe ──▶ Switch ─┐ (one tokio Mutex over Inner:
//!                                       │  apply and reconcile never interleave)
//!   reconcile task ◀── LinkState epoch ─┤
//!        (re-applies the last steering  │
//!         after every reconnect)        └──▶ Connection ──▶ ovs-vswitchd
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use orbit_core::config::Service;

use crate::config::Config;
use orbit_core::{Applied, BackendKind, Observed, RedirectError, Redirector, Steering};
use tokio::sync::Mutex;
use tracing::{info, warn};

use crate::conn::Connection;
use crate::datapath::CtlSocket;
use crate::error::Error;
use crate::ofp::{
    Action, Body, FlowStatsRequest, Instruction, MultipartReply, MultipartRequest, PortDesc,
    PortStats, OFPG_ANY, OFPP_ANY,
};
use crate::ovsdb::Ovsdb;
use crate::plan::{desired, diff, matches_for, Layout, State};

/// Counters for `/metrics`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwitchStats {
    pub applies: u64,
    /// OpenFlow messages sent by applies and reconciles.
    pub messages: u64,
    pub reconciles: u64,
    pub failures: u64,
    /// Time from sending the first message to BARRIER_REPLY, last apply.
    pub last_confirm_us: u64,
}

struct Inner {
    conn: Connection,
    layout: Layout,
    timeout: Duration,
    component: String,
    ctl: CtlSocket,
    /// What the switch holds, valid for the given connection epoch.
    held: Option<(u64, State)>,
    /// The last steering handed to `apply`, re-applied on reconnect.
    last: Option<Steering>,
    stats: SwitchStats,
}

/// The Open vSwitch backend.
pub struct Switch {
    inner: Arc<Mutex<Inner>>,
    reconcile: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for Switch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Switch").finish_non_exhaustive()
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        self.reconcile.abort();
    }
}

impl Switch {
    /// Checks over OVSDB that `cfg.bridge` exists and speaks OpenFlow 1.3
    /// (a clear error if not), then connects to `cfg.switch` in the
    /// background. `services` is the config's `[[service]]` list: it fixes
    /// each service's group id and fallback order.
    pub async fn start(cfg: &Config, services: &[Service]) -> Result<Switch, Error> {
        let mut db = Ovsdb::connect(&cfg.ovsdb).await?;
        let info = db.verify_bridge(&cfg.bridge).await?;
        info!(bridge = %info.name, datapath = %info.datapath_type, ports = ?info.ports, "bridge verified");
        Self::connect(cfg, services)
    }

    /// Like [`Switch::start`] without the OVSDB check (a switch that is
    /// not Open vSwitch, or no OVSDB access).
    pub fn connect(cfg: &Config, services: &[Service]) -> Result<Switch, Error> {
        let layout = Layout::new(cfg, services)?;
        let conn = Connection::spawn(&cfg.switch)?;
        let mut link = conn.state();
        let inner = Arc::new(Mutex::new(Inner {
            conn,
            layout,
            timeout: cfg.timeout.0,
            component: format!("switch {} ({})", cfg.bridge, cfg.switch),
            ctl: CtlSocket::new(cfg.vswitchd_ctl.as_deref(), &cfg.switch),
            held: None,
            last: None,
            stats: SwitchStats::default(),
        }));
        let weak = Arc::downgrade(&inner);
        let span = tracing::info_span!("sdn", bridge = %cfg.bridge);
        let reconcile = tokio::spawn(tracing::Instrument::instrument(
            async move {
                let mut done_epoch = 0;
                loop {
                    if link.changed().await.is_err() {
                        return;
                    }
                    let state = link.borrow_and_update().clone();
                    if state.datapath_id.is_none() || state.epoch == done_epoch {
                        continue;
                    }
                    let Some(inner) = weak.upgrade() else { return };
                    let mut inner = inner.lock().await;
                    match inner.reconcile().await {
                        Ok(Some(a)) => info!(
                            epoch = state.epoch,
                            changes = a.changes,
                            "reconciled after (re)connect"
                        ),
                        Ok(None) => {}
                        Err(e) => {
                            warn!(epoch = state.epoch, error = %e, "reconcile failed; retrying on next connect or apply")
                        }
                    }
                    done_epoch = state.epoch;
                }
            },
            span,
        ));
        Ok(Switch { inner, reconcile })
    }

    pub async fn stats(&self) -> SwitchStats {
        self.inner.lock().await.stats.clone()
    }
}

impl Inner {
    fn unreachable(&self, e: &Error) -> RedirectError {
        match e {
            Error::Timeout { ms, .. } => RedirectError::Timeout {
                component: self.component.clone(),
                timeout_ms: *ms,
            },
            Error::Rejected { .. } | Error::Decode(_) | Error::Encode(_) => {
                RedirectError::Rejected {
                    component: self.component.clone(),
                    detail: e.to_string(),
                }
            }
            Error::Config(c) => RedirectError::Config(c.clone()),
            _ => RedirectError::Unreachable {
                component: self.component.clone(),
                detail: e.to_string(),
            },
        }
    }

    async fn ready_epoch(&self) -> Result<u64, Error> {
        Ok(self.conn.wait_ready(self.timeout).await?.epoch)
    }

    async fn with_timeout<T>(
        &self,
        what: &'static str,
        f: impl std::future::Future<Output = Result<T, Error>>,
    ) -> Result<T, Error> {
        tokio::time::timeout(self.timeout, f)
            .await
            .map_err(|_| Error::Timeout {
                what,
                ms: u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
            })?
    }

    /// Reads orbit's flows (by cookie) and groups (by id range) back.
    async fn read_state(&self) -> Result<(State, u64), Error> {
        let flows = self
            .with_timeout(
                "flow stats",
                self.conn
                    .multipart(MultipartRequest::Flow(FlowStatsRequest {
                        table_id: self.layout.table,
                        out_port: OFPP_ANY,
                        out_group: OFPG_ANY,
                        cookie: self.layout.cookie,
                        cookie_mask: u64::MAX,
                        r#match: Default::default(),
                    })),
            )
            .await?;
        let groups = self
            .with_timeout(
                "group desc",
                self.conn.multipart(MultipartRequest::GroupDesc),
            )
            .await?;
        let mut st = State::default();
        let mut packets = 0u64;
        for part in flows {
            if let MultipartReply::Flow(v) = part {
                for f in v {
                    packets = packets.saturating_add(f.packet_count);
                    st.flows.insert((f.priority, f.r#match), f.instructions);
                }
            }
        }
        for part in groups {
            if let MultipartReply::GroupDesc(v) = part {
                for g in v.into_iter().filter(|g| self.layout.owns_group(g.group_id)) {
                    st.groups.insert(g.group_id, (g.group_type, g.buckets));
                }
            }
        }
        Ok((st, packets))
    }

    /// Brings the switch to `steering`: diff, send, BARRIER, confirm.
    async fn converge(&mut self, steering: &Steering) -> Result<Applied, Error> {
        let want = desired(&self.layout, steering)?;
        let epoch = self.ready_epoch().await?;
        let held = match self.held.take() {
            Some((e, st)) if e == epoch => st,
            _ => self.read_state().await?.0,
        };
        let bodies = diff(&self.layout, &held, &want);
        let (groups, flows) = count(&bodies);
        if bodies.is_empty() {
            self.held = Some((epoch, held));
            return Ok(Applied {
                generation: steering.generation,
                changes: 0,
                detail: "switch already matches".into(),
            });
        }
        let n = bodies.len();
        let started = Instant::now();
        let errors = self
            .with_timeout("BARRIER_REPLY", self.conn.transact(bodies))
            .await?;
        let took = started.elapsed();
        self.stats.messages += n as u64;
        if let Some((idx, first)) = errors.first() {
            // held stays None: the next apply re-reads the switch.
            return Err(Error::Rejected {
                count: errors.len(),
                first: format!("message {idx} of {n}: {}", first.describe()),
            });
        }
        self.stats.last_confirm_us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        // A reconnect during the batch would have failed it; still, only
        // trust the cache for the epoch it was confirmed on.
        self.held = Some((epoch, want));
        // The tables are confirmed; now wait for the datapath cache too.
        // Failing that is not an apply failure: the rules are in place and
        // the revalidators converge within their interval anyway.
        let datapath = match self
            .with_timeout("revalidator/wait", self.ctl.wait_revalidated())
            .await
        {
            Ok(true) => format!(
                ", datapath revalidated after {} us",
                started.elapsed().as_micros()
            ),
            Ok(false) => String::from(", datapath not awaited (no vswitchd control socket)"),
            Err(e) => {
                warn!(error = %e, "cannot wait for datapath revalidation");
                format!(", datapath not awaited ({e})")
            }
        };
        Ok(Applied {
            generation: steering.generation,
            changes: n,
            detail: format!(
                "{groups} GROUP_MOD, {flows} FLOW_MOD, BARRIER_REPLY after {} us{datapath}",
                took.as_micros()
            ),
        })
    }

    /// Re-applies the last steering (after a reconnect), unless there is
    /// none or writing is not allowed.
    async fn reconcile(&mut self) -> Result<Option<Applied>, Error> {
        let Some(last) = self.last.clone() else {
            return Ok(None);
        };
        if last.write_gate().blocks(BackendKind::Sdn).is_some() {
            return Ok(None);
        }
        self.held = None;
        self.stats.reconciles += 1;
        self.converge(&last).await.map(Some)
    }

    async fn observe(&mut self) -> Result<Observed, Error> {
        let epoch = self.ready_epoch().await?;
        let (st, packets) = self.read_state().await?;
        let ports: Vec<PortDesc> = self
            .with_timeout("port desc", self.conn.multipart(MultipartRequest::PortDesc))
            .await?
            .into_iter()
            .flat_map(|p| match p {
                MultipartReply::PortDesc(v) => v,
                _ => Vec::new(),
            })
            .collect();
        let stats: Vec<PortStats> = self
            .with_timeout(
                "port stats",
                self.conn.multipart(MultipartRequest::PortStats(OFPP_ANY)),
            )
            .await?
            .into_iter()
            .flat_map(|p| match p {
                MultipartReply::PortStats(v) => v,
                _ => Vec::new(),
            })
            .collect();
        let live = |port: u32| ports.iter().any(|p| p.port_no == port && p.is_live());
        let mut services = BTreeMap::new();
        for (id, lay) in &self.layout.services {
            // Its flows, found by its configured prefixes.
            let flows: Vec<&Vec<Instruction>> = lay
                .prefixes
                .iter()
                .flat_map(matches_for)
                .filter_map(|m| st.flows.get(&(self.layout.priority, m)))
                .collect();
            let Some(ins) = flows.first() else {
                continue; // not on the switch at all
            };
            let site = match ins.as_slice() {
                // The first bucket whose watched port is live carries the
                // traffic (fast failover, §5.6.1).
                [Instruction::ApplyActions(a)] if a == &[Action::Group(lay.group_id)] => {
                    st.groups.get(&lay.group_id).and_then(|(_, buckets)| {
                        buckets
                            .iter()
                            .find(|b| live(b.watch_port))
                            .and_then(|b| self.layout.site_of_port(b.watch_port).cloned())
                    })
                }
                // An explicit drop (no active site) or something orbit did
                // not write: nowhere orbit can name.
                _ => None,
            };
            services.insert(id.clone(), site);
        }
        let mut detail = format!(
            "{} orbit flows ({packets} packets), {} orbit groups",
            st.flows.len(),
            st.groups.len()
        );
        for (site, p) in &self.layout.ports {
            if let Some(s) = stats.iter().find(|s| s.port_no == p.port) {
                detail.push_str(&format!(
                    "; {site}: port {} {} tx {} packets",
                    p.port,
                    if live(p.port) { "up" } else { "down" },
                    s.tx_packets
                ));
            }
        }
        self.held = Some((epoch, st));
        Ok(Observed { services, detail })
    }
}

fn count(bodies: &[Body]) -> (usize, usize) {
    let groups = bodies
        .iter()
        .filter(|b| matches!(b, Body::GroupMod(_)))
        .count();
    (groups, bodies.len() - groups)
}

#[async_trait]
impl Redirector for Switch {
    fn kind(&self) -> BackendKind {
        BackendKind::Sdn
    }

    async fn apply(&mut self, steering: &Steering) -> Result<Applied, RedirectError> {
        let mut inner = self.inner.lock().await;
        inner.last = Some(steering.clone());
        // A fenced daemon (no quorum) must not override the majority's
        // choice; an observer only reports.
        if let Some(why) = steering.write_gate().blocks(BackendKind::Sdn) {
            return Ok(Applied {
                generation: steering.generation,
                changes: 0,
                detail: format!("{why}: switch left untouched"),
            });
        }
        inner.stats.applies += 1;
        let span = tracing::info_span!("sdn_apply", generation = steering.generation);
        let result = tracing::Instrument::instrument(inner.converge(steering), span).await;
        match result {
            Ok(a) => {
                info!(generation = a.generation, changes = a.changes, detail = %a.detail, "applied");
                Ok(a)
            }
            Err(e) => {
                inner.stats.failures += 1;
                inner.held = None;
                warn!(error = %e, generation = steering.generation, "apply failed");
                Err(inner.unreachable(&e))
            }
        }
    }

    async fn observe(&mut self) -> Result<Observed, RedirectError> {
        let mut inner = self.inner.lock().await;
        match inner.observe().await {
            Ok(o) => Ok(o),
            Err(e) => Err(inner.unreachable(&e)),
        }
    }
}
