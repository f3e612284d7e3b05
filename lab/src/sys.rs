//! Thin wrappers over `ip`, `nft` and child processes, each with a guard
//! that undoes it on drop.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::cleanup;

/// Runs a command to completion; a non-zero exit is an error with its stderr.
pub fn run(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| {
            format!("running {program}: is it installed? (scripts/install-deps.sh)")
        })?;
    if !out.status.success() {
        bail!(
            "{program} {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `program args` inside network namespace `ns`.
pub fn run_in(ns: &str, program: &str, args: &[&str]) -> Result<String> {
    let mut all = vec!["netns", "exec", ns, program];
    all.extend_from_slice(args);
    run("ip", &all)
}

/// Runs one `ip` command inside `ns` (`ip -n NS ...`).
pub fn ip(ns: &str, args: &str) -> Result<()> {
    let mut all = vec!["-n", ns];
    all.extend(args.split_whitespace());
    run("ip", &all).map(|_| ())
}

/// Puts `addr`/24 on `dev` inside `ns` and brings `dev` up.
pub fn addr_up(ns: &str, addr: &str, dev: &str) -> Result<()> {
    ip(ns, &format!("addr add {addr}/24 dev {dev}"))?;
    ip(ns, &format!("link set {dev} up"))
}

/// Feeds an nftables ruleset to `nft -f -` inside `ns`.
pub fn nft(ns: &str, ruleset: &str) -> Result<()> {
    use std::io::Write;
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("running nft (package nftables)")?;
    child
        .stdin
        .take()
        .context("nft stdin")?
        .write_all(ruleset.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "nft in {ns}: {}\n{ruleset}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Writes a sysctl inside `ns` (through /proc/sys, which is per namespace).
pub fn sysctl(ns: &str, key: &str, value: &str) -> Result<()> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    run_in(ns, "sh", &["-c", &format!("echo {value} > {path}")]).map(|_| ())
}

/// A network namespace, deleted on drop.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn create(name: &str) -> Result<Netns> {
        // A leftover from a crashed run of the same pid would make `add` fail.
        let _ = run("ip", &["netns", "del", name]);
        run("ip", &["netns", "add", name])?;
        cleanup::add_netns(name);
        let ns = Netns {
            name: name.to_owned(),
        };
        ip(name, "link set lo up")?;
        Ok(ns)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        cleanup::kill_netns_pids(&self.name);
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stderr(Stdio::null())
            .status();
        cleanup::remove_netns(&self.name);
    }
}

/// A child process (usually inside a namespace), killed on drop.
#[derive(Debug)]
pub struct Proc {
    pub name: String,
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    /// Starts `argv` in `ns` (or in the current namespace when `ns` is
    /// None), stdout and stderr appended to `log`: a process started again
    /// (scenario 12's orbitd) keeps the log of the one before, and what
    /// that one left running (its BFD helper, which logs to the same file)
    /// writes after it rather than into a truncated file.
    pub fn spawn(
        name: &str,
        ns: Option<&str>,
        argv: &[String],
        envs: &[(&str, &str)],
        log: &Path,
        stdin: bool,
    ) -> Result<Proc> {
        let file = File::options()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("creating {}", log.display()))?;
        let mut cmd = match ns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).args(argv);
                c
            }
            None => {
                let mut c = Command::new(&argv[0]);
                c.args(&argv[1..]);
                c
            }
        };
        for (k, v) in envs {
            cmd.env(k, v);
        }
        cmd.stdout(file.try_clone()?).stderr(file).stdin(if stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name}: {}", argv.join(" ")))?;
        cleanup::add_pid(child.id());
        Ok(Proc {
            name: name.to_owned(),
            child,
            log: log.to_owned(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails if the process has exited, with the tail of its log.
    pub fn check_alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited ({status}); last lines of {}:\n{}",
                self.name,
                self.log.display(),
                tail(&self.log, 15)
            );
        }
        Ok(())
    }

    /// Closes stdin (the lab's "stop" for its own subcommands) and waits.
    pub fn finish(mut self, timeout: Duration) -> Result<()> {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("{} did not stop within {timeout:?}", self.name)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        cleanup::remove_pid(self.child.id());
    }
}

/// The last `n` lines of a file, for error messages.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Polls `f` every 20 ms until it returns true or `timeout` passes.
pub fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Microseconds since the Unix epoch: the one clock of probe logs, fault
/// times and journal entries.
pub fn now_us() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}
