//! Waiting for the datapath after BARRIER_REPLY.
//!
//! OVS answers BARRIER_REPLY once its OpenFlow tables hold the change, but
//! the datapath's megaflow cache is revalidated asynchronously by the
//! revalidator threads: measured here, packets kept following the old rule
//! for up to ~5 ms after the barrier. `revalidator/wait` on ovs-vswitchd's
//! control socket (unixctl, JSON-RPC) returns once that revalidation round
//! is done, so `apply` only returns when the traffic really moved.

use std::path::Path;

use serde_json::json;

use crate::error::Error;
use crate::jsonrpc::JsonRpc;

/// Where ovs-vswitchd's control socket is.
#[derive(Debug, Clone)]
pub(crate) enum CtlSocket {
    /// Configured explicitly.
    Fixed(String),
    /// `RUNDIR/ovs-vswitchd.PID.ctl`, with PID read from
    /// `RUNDIR/ovs-vswitchd.pid` on every use (it changes on restart).
    Rundir(std::path::PathBuf),
    None,
}

impl CtlSocket {
    pub(crate) fn new(configured: Option<&str>, switch: &str) -> CtlSocket {
        if let Some(c) = configured {
            return CtlSocket::Fixed(c.to_owned());
        }
        match switch
            .strip_prefix("unix:")
            .and_then(|p| Path::new(p).parent())
        {
            Some(dir) => CtlSocket::Rundir(dir.to_path_buf()),
            None => CtlSocket::None,
        }
    }

    fn endpoint(&self) -> Option<String> {
        match self {
            CtlSocket::Fixed(c) => Some(c.clone()),
            CtlSocket::Rundir(dir) => {
                let pid = std::fs::read_to_string(dir.join("ovs-vswitchd.pid")).ok()?;
                let path = dir.join(format!("ovs-vswitchd.{}.ctl", pid.trim()));
                Some(format!("unix:{}", path.display()))
            }
            CtlSocket::None => None,
        }
    }

    /// Waits for one full revalidation round. `Ok(false)`: no control
    /// socket known, only the barrier confirms.
    pub(crate) async fn wait_revalidated(&self) -> Result<bool, Error> {
        let Some(ep) = self.endpoint() else {
            return Ok(false);
        };
        let mut rpc = JsonRpc::connect(&ep).await?;
        rpc.call("revalidator/wait", json!([])).await?;
        Ok(true)
    }
}
