//! The CPU hog of `--hog`: `stress-ng --cpu 2` beside the lab for the
//! whole of a run, so that the numbers show what a busy host does to the
//! sub-second detectors (issue 20).
//!
//! It runs in a namespace of its own: the CPU is shared either way, but
//! then `ip netns pids` names exactly the hog's processes, and every path
//! out of a run kills them all, workers included: `stop` (SIGTERM, and
//! stress-ng reaps its workers), `Drop` on an error or a panic, and the
//! signal thread on Ctrl-C (the namespace and the pid are in the cleanup
//! registry, which kills every process left in a namespace before deleting
//! it).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::sys::{self, Netns, Proc};

/// stress-ng's CPU workers: as many as the development machine's cores.
pub const HOG_CPUS: u32 = 2;

/// A safety net for a lab killed with SIGKILL (nothing of it can clean up
/// then): stress-ng stops by itself after this long. A run takes well
/// under a minute; a run that outlives it fails (`stop`).
const HOG_TIMEOUT_S: u32 = 600;

/// What the hog did in one run (stress-ng's `--metrics-brief`).
#[derive(Debug, Clone, Serialize)]
pub struct HogReport {
    /// The processes of the hog (stress-ng and its workers) while it ran;
    /// none of them is left running after the run.
    pub pids: Vec<u32>,
    /// CPU seconds the workers got (user + system) over `real_s`.
    pub cpu_s: f64,
    pub real_s: f64,
    pub bogo_ops: u64,
}

/// A running hog. Field order matters: the process dies before its
/// namespace is deleted (which kills whatever is left in it).
#[derive(Debug)]
pub struct Hog {
    proc: Proc,
    ns: Netns,
    log: PathBuf,
}

impl Hog {
    /// Starts stress-ng in namespace `{prefix}-hog`; its output goes to
    /// `dir/hog.log`. Returns once its workers run.
    pub fn start(prefix: &str, dir: &Path) -> Result<Hog> {
        let ns = Netns::create(&format!("{prefix}-hog"))?;
        let log = dir.join("hog.log");
        let argv: Vec<String> = [
            "stress-ng",
            "--cpu",
            &HOG_CPUS.to_string(),
            "--timeout",
            &HOG_TIMEOUT_S.to_string(),
            "--metrics-brief",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let proc = Proc::spawn("hog", Some(&ns.name), &argv, &[], &log, false)
            .context("starting the CPU hog: is stress-ng installed? (scripts/install-deps.sh)")?;
        let mut hog = Hog { proc, ns, log };
        // stress-ng and one process per worker.
        let want = HOG_CPUS as usize + 1;
        let deadline = Instant::now() + Duration::from_secs(10);
        while hog.pids().len() < want {
            hog.proc.check_alive()?;
            if Instant::now() > deadline {
                bail!(
                    "the CPU hog (stress-ng) did not start its {HOG_CPUS} workers within 10 s; {}:\n{}",
                    hog.log.display(),
                    sys::tail(&hog.log, 10)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(hog)
    }

    /// Every process in the hog's namespace.
    fn pids(&self) -> Vec<u32> {
        sys::run("ip", &["netns", "pids", &self.ns.name])
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect()
    }

    /// Stops the hog (SIGTERM: stress-ng stops and reaps its workers, then
    /// prints its metrics) and reports what it did. Fails if it had died
    /// during the run: the run was then not hogged throughout.
    pub fn stop(mut self) -> Result<HogReport> {
        self.proc
            .check_alive()
            .context("the CPU hog died during the run")?;
        let pids = self.pids();
        sys::run("kill", &["-TERM", &self.proc.pid().to_string()])?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.proc.child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                bail!("the CPU hog (stress-ng) did not stop within 10 s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let text = std::fs::read_to_string(&self.log)
            .with_context(|| format!("reading {}", self.log.display()))?;
        let mut report = parse_metrics(&text).with_context(|| {
            format!(
                "no cpu metrics line in {}:\n{}",
                self.log.display(),
                sys::tail(&self.log, 10)
            )
        })?;
        report.pids = pids;
        Ok(report)
    }
}

/// The `cpu` line of stress-ng's `--metrics-brief` table:
/// `stress-ng: metrc: [PID] cpu  BOGO_OPS  REAL  USR  SYS  RATE  RATE`.
fn parse_metrics(text: &str) -> Option<HogReport> {
    text.lines().find_map(|line| {
        let (_, rest) = line.split_once("] ")?;
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.first() != Some(&"cpu") || f.len() < 5 {
            return None;
        }
        let num = |i: usize| f.get(i)?.parse::<f64>().ok();
        Some(HogReport {
            pids: Vec::new(),
            bogo_ops: f[1].parse().ok()?,
            real_s: num(2)?,
            cpu_s: num(3)? + num(4)?,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_line_of_stress_ng_is_read() {
        // stress-ng 0.15.06 (Debian 12) after SIGTERM.
        let text = "\
stress-ng: info:  [2518] setting to a 300 second (5 mins, 0.00 secs) run per stressor
stress-ng: info:  [2518] dispatching hogs: 2 cpu
stress-ng: metrc: [2518] stressor       bogo ops real time  usr time  sys time   bogo ops/s     bogo ops/s
stress-ng: metrc: [2518]                           (secs)    (secs)    (secs)   (real time) (usr+sys time)
stress-ng: metrc: [2518] cpu                2337      1.59      1.56      0.02      1474.39        1490.08
stress-ng: info:  [2518] successful run completed in 1.64s
";
        let r = parse_metrics(text).expect("cpu line");
        assert_eq!(r.bogo_ops, 2337);
        assert!((r.real_s - 1.59).abs() < 1e-9);
        assert!((r.cpu_s - 1.58).abs() < 1e-9);
        assert!(parse_metrics("stress-ng: info:  [1] dispatching hogs: 2 cpu\n").is_none());
    }
}
