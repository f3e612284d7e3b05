//! FRR in a namespace: zebra, bfdd and bgpd, each run in the foreground
//! with its sockets, pid file and log in a private directory, configured
//! and queried through `vtysh --vty_socket DIR`.
//!
//! bgpd runs with `-n` (no FIB installs). zebra is needed all the same:
//! bgpd's BFD sessions go through zebra to bfdd.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::Duration;

use crate::netns::Netns;

/// The FRR daemons started, in start order.
const DAEMONS: [&str; 3] = ["zebra", "bfdd", "bgpd"];

#[derive(Debug)]
pub struct Frr {
    children: Vec<Child>,
    /// Sockets, pid files, logs (`DAEMON.log`) and configs.
    pub dir: PathBuf,
    ns: String,
}

impl Frr {
    /// Starts zebra, bfdd and bgpd in `ns` with empty configs; `profile`
    /// is FRR's defaults profile for bgpd (`-F`: "traditional" or
    /// "datacenter"). Returns once vtysh reaches all three.
    pub fn start(ns: &Netns, dir: &Path, profile: &str) -> Frr {
        let dir = dir.join("frr");
        std::fs::create_dir_all(&dir).expect("frr dir");
        // The daemons drop root for the frr user: they must write here.
        crate::sh(&["chmod", "0777", &dir.display().to_string()]);
        let empty = dir.join("empty.conf");
        std::fs::write(&empty, "").expect("empty.conf");
        let d = dir.display().to_string();
        let mut children = Vec::new();
        for daemon in DAEMONS {
            let exe = format!("/usr/lib/frr/{daemon}");
            let pid = format!("{d}/{daemon}.pid");
            let zserv = format!("{d}/zserv.api");
            let bfdctl = format!("{d}/bfdd.sock");
            let conf = empty.display().to_string();
            let mut args = vec![
                exe.as_str(),
                "--vty_socket",
                d.as_str(),
                "-z",
                zserv.as_str(),
                "-i",
                pid.as_str(),
                "-f",
                conf.as_str(),
                // No vty TCP listener: vtysh talks over the unix sockets.
                "-P",
                "0",
                "--log",
                "stdout",
            ];
            match daemon {
                "bfdd" => args.extend(["--bfdctl", bfdctl.as_str()]),
                "bgpd" => args.extend(["-n", "-F", profile]),
                _ => {}
            }
            children.push(ns.spawn(&args, &dir.join(format!("{daemon}.log"))));
            // bfdd and bgpd connect to zebra's socket at start.
            let vty = dir.join(format!("{daemon}.vty"));
            crate::wait_until(
                Duration::from_secs(20),
                Duration::from_millis(20),
                &format!("FRR {daemon}'s vty socket"),
                || vty.exists(),
            );
        }
        let frr = Frr {
            children,
            dir,
            ns: ns.name.clone(),
        };
        crate::wait_until(
            Duration::from_secs(20),
            Duration::from_millis(50),
            "vtysh to reach bgpd",
            || frr.try_vtysh(&["-c", "show bgp summary"]).is_ok(),
        );
        frr
    }

    fn try_vtysh(&self, args: &[&str]) -> Result<String, String> {
        let d = self.dir.display().to_string();
        let mut full = vec!["ip", "netns", "exec", &self.ns, "vtysh", "--vty_socket", &d];
        full.extend_from_slice(args);
        crate::netns::try_run(&full)
    }

    /// Applies `config` with `vtysh -f` (each line goes to the daemons that
    /// know it, as an integrated `frr.conf` would); panics if vtysh reports
    /// an error.
    pub fn configure(&self, name: &str, config: &str) {
        let path = self.dir.join(name);
        std::fs::write(&path, config).expect("write FRR config");
        let out = self
            .try_vtysh(&["-f", &path.display().to_string()])
            .unwrap_or_else(|e| panic!("vtysh -f {name}: {e}"));
        assert!(
            !out.contains("% ") && !out.to_lowercase().contains("error"),
            "vtysh -f {name}:\n{out}"
        );
    }

    /// A vtysh command's output; panics if it fails.
    pub fn vtysh(&self, command: &str) -> String {
        self.try_vtysh(&["-c", command])
            .unwrap_or_else(|e| panic!("vtysh -c {command:?}: {e}"))
    }

    /// A vtysh `... json` command's output, parsed.
    pub fn json(&self, command: &str) -> serde_json::Value {
        let out = self.vtysh(command);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{command}: {e}: {out}"))
    }

    /// The daemons' logs, for failure reports.
    pub fn logs(&self) -> String {
        DAEMONS
            .iter()
            .map(|d| {
                let log = std::fs::read_to_string(self.dir.join(format!("{d}.log")));
                format!("--- {d}\n{}", log.unwrap_or_default())
            })
            .collect()
    }
}

impl Drop for Frr {
    fn drop(&mut self) {
        for child in self.children.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
