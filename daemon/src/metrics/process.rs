//! The standard process metrics (`process_cpu_seconds_total`,
//! `process_resident_memory_bytes`, `process_open_fds`, ...: the names every
//! Prometheus client library exports, unprefixed, so that stock dashboards
//! and alerts work), read from `/proc/self` at each scrape.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// Linux reports process times in USER_HZ, 100 on every architecture it
/// exports to user space (`man 5 proc`).
const USER_HZ: f64 = 100.0;

/// What `/proc` says about this process.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: f64,
    pub start_time_seconds: f64,
    pub resident_bytes: f64,
    pub virtual_bytes: f64,
    pub threads: f64,
    pub open_fds: f64,
    pub max_fds: Option<f64>,
}

impl ProcessStats {
    /// This process's numbers, `None` where `/proc` is not readable.
    pub fn read() -> Option<ProcessStats> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count();
        ProcessStats::parse(&stat, &status, &boot, &limits, open_fds)
    }

    /// Parses `/proc/self/stat`, `/proc/self/status`, `/proc/stat` (boot
    /// time) and `/proc/self/limits`.
    pub fn parse(
        stat: &str,
        status: &str,
        boot: &str,
        limits: &str,
        open_fds: usize,
    ) -> Option<ProcessStats> {
        // The command name (field 2) is in parentheses and may hold spaces:
        // the fields after its closing parenthesis start at field 3.
        let after_name = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<f64>().ok();
        let (utime, stime, start_ticks) = (field(14)?, field(15)?, field(22)?);
        let boot_time = boot
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse::<f64>()
            .ok()?;
        let kib = |key: &str| -> Option<f64> {
            let line = status.lines().find_map(|l| l.strip_prefix(key))?;
            Some(line.split_whitespace().next()?.parse::<f64>().ok()? * 1024.0)
        };
        let threads = status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))?
            .trim()
            .parse()
            .ok()?;
        let max_fds = limits
            .lines()
            .find_map(|l| l.strip_prefix("Max open files"))
            .and_then(|l| l.split_whitespace().next()?.parse().ok());
        Some(ProcessStats {
            cpu_seconds: (utime + stime) / USER_HZ,
            start_time_seconds: boot_time + start_ticks / USER_HZ,
            resident_bytes: kib("VmRSS:")?,
            virtual_bytes: kib("VmSize:")?,
            threads,
            open_fds: open_fds as f64,
            max_fds,
        })
    }
}

/// Encodes [`ProcessStats::read`] on each scrape.
#[derive(Debug)]
pub struct ProcessCollector;

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: f64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(p) = ProcessStats::read() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(p.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            cpu.metric_type(),
        )?)?;
        let e = &mut encoder;
        gauge(
            e,
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds",
            p.start_time_seconds,
        )?;
        gauge(
            e,
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            p.resident_bytes,
        )?;
        gauge(
            e,
            "process_virtual_memory_bytes",
            "Virtual memory size in bytes",
            p.virtual_bytes,
        )?;
        gauge(e, "process_threads", "Number of OS threads", p.threads)?;
        gauge(
            e,
            "process_open_fds",
            "Number of open file descriptors",
            p.open_fds,
        )?;
        if let Some(max) = p.max_fds {
            gauge(
                e,
                "process_max_fds",
                "Maximum number of open file descriptors (soft limit)",
                max,
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_parse_into_the_standard_numbers() {
        // A command name with a space and a parenthesis, as `comm` allows.
        let stat = "4242 (orbit d) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 \
                    9 0 123400 75000000 2000 18446744073709551615";
        let status = "Name:\torbitd\nVmSize:\t   75000 kB\nVmRSS:\t    8000 kB\nThreads:\t9\n";
        let boot = "cpu  1 2 3\nbtime 1764900000\nprocesses 10\n";
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        let p = ProcessStats::parse(stat, status, boot, limits, 17).unwrap();
        assert_eq!(
            p,
            ProcessStats {
                cpu_seconds: 3.0,
                start_time_seconds: 1_764_900_000.0 + 1234.0,
                resident_bytes: 8_192_000.0,
                virtual_bytes: 76_800_000.0,
                threads: 9.0,
                open_fds: 17.0,
                max_fds: Some(1024.0),
            }
        );
        assert_eq!(
            ProcessStats::parse("garbage", status, boot, limits, 1),
            None
        );
    }

    #[test]
    fn this_process_is_readable() {
        let p = ProcessStats::read().unwrap();
        assert!(
            p.resident_bytes > 0.0 && p.open_fds >= 3.0 && p.threads >= 1.0,
            "{p:?}"
        );
    }
}
