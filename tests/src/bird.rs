//! bird2 in a namespace, with a private control socket and log file.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::Duration;

use crate::netns::Netns;

#[derive(Debug)]
pub struct Bird {
    child: Option<Child>,
    pub socket: PathBuf,
    /// bird's `log` file (the config names it), millisecond timestamps.
    pub log: PathBuf,
}

impl Bird {
    /// Writes `config` to `dir/bird.conf` (`@LOG@` is replaced by the log
    /// file's path) and starts bird in `ns`.
    pub fn start(ns: &Netns, dir: &std::path::Path, config: &str) -> Bird {
        let conf = dir.join("bird.conf");
        let log = dir.join("bird.log");
        let socket = dir.join("bird.ctl");
        std::fs::write(&conf, config.replace("@LOG@", &log.display().to_string()))
            .expect("write bird.conf");
        let conf = conf.display().to_string();
        let sock = socket.display().to_string();
        let pid = dir.join("bird.pid").display().to_string();
        let child = ns.spawn(
            &["bird", "-f", "-c", &conf, "-s", &sock, "-P", &pid],
            &dir.join("bird.out"),
        );
        let bird = Bird {
            child: Some(child),
            socket,
            log,
        };
        crate::wait_until(
            Duration::from_secs(10),
            Duration::from_millis(20),
            "bird to start",
            || bird.birdc("show status").contains("Daemon is up"),
        );
        bird
    }

    /// A birdc command's output ("" if birdc failed).
    pub fn birdc(&self, cmd: &str) -> String {
        Command::new("birdc")
            .arg("-s")
            .arg(&self.socket)
            .args(cmd.split_whitespace())
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// The row of `show bfd sessions` for `peer`, split into columns:
    /// address, interface, state, since (date and time), interval, timeout.
    pub fn bfd_session(&self, peer: &str) -> Option<Vec<String>> {
        self.birdc("show bfd sessions")
            .lines()
            .find(|l| l.split_whitespace().next() == Some(peer))
            .map(|l| l.split_whitespace().map(str::to_owned).collect())
    }

    /// The BFD state bird shows for `peer` ("Up", "Down", ...).
    pub fn bfd_state(&self, peer: &str) -> Option<String> {
        self.bfd_session(peer).and_then(|c| c.get(2).cloned())
    }

    /// Whether the BGP protocol `name` is Established.
    pub fn established(&self, name: &str) -> bool {
        self.birdc(&format!("show protocols {name}"))
            .contains("Established")
    }

    /// Whether bird's table holds a route for `prefix` (an IPv4 prefix).
    pub fn has_route(&self, prefix: &str) -> bool {
        let addr = prefix.split('/').next().unwrap_or(prefix);
        self.birdc(&format!("show route for {prefix} table master4"))
            .lines()
            .any(|l| l.starts_with(addr))
    }
}

impl Drop for Bird {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
