//! orbit-lab: builds two sites and a witness in network namespaces, breaks
//! things and measures failover from the client's point of view, with each
//! of orbit's data-plane backends (HAProxy, BGP, SDN) at the metro edge.
//!
//! `orbit-lab run` is the comparison (docs/lab.md); `up` / `down` / `exec`
//! leave a topology running for exploration; `serve`, `probe` and `ask` are
//! the lab's own service, client and one-shot check, run inside the
//! namespaces.

mod analysis;
mod cleanup;
mod edge;
mod hog;
mod journal;
mod lab;
mod notify;
mod orbitd;
mod pg;
mod pgmeasure;
mod pgscenario;
mod pgwire;
mod plan;
mod probe;
mod report;
mod scenario;
mod serve;
mod sys;
mod transitions;

use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};

use crate::plan::Mode;
use crate::scenario::Scenario;

#[derive(Parser, Debug)]
#[command(
    name = "orbit-lab",
    version,
    about = "orbit's namespace testbed: failover measured from the client"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the scenarios in every mode and print the comparison (default).
    Run(RunArgs),
    /// Build one lab and keep it running until Ctrl-C (or `orbit-lab down`).
    Up {
        #[arg(long, default_value = "haproxy")]
        mode: String,
    },
    /// Stop the lab started by `orbit-lab up`.
    Down,
    /// Run a command in a namespace of the running lab: client, edge, a, b, w, ctl.
    Exec {
        node: String,
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        cmd: Vec<String>,
    },
    /// The service at one site (run inside the site's namespace).
    #[command(hide = true)]
    Serve {
        #[arg(long)]
        site: String,
        #[arg(long, default_value_t = plan::UDP_PORT)]
        udp_port: u16,
        #[arg(long, default_value_t = plan::HTTP_PORT)]
        http_port: u16,
    },
    /// The probe client (run inside the client's namespace) until stdin closes.
    #[command(hide = true)]
    Probe {
        #[arg(long, default_value = plan::SERVICE_ADDR)]
        target: Ipv4Addr,
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        #[arg(long)]
        out: String,
    },
    /// The PostgreSQL writer (run inside the client's namespace) until
    /// stdin closes: one INSERT every --every-ms through the service.
    #[command(hide = true)]
    PgWrite {
        #[arg(long, default_value = pg::DB_ADDR)]
        target: Ipv4Addr,
        #[arg(long, default_value_t = 10)]
        every_ms: u64,
        #[arg(long)]
        out: String,
    },
    /// The orchestrator of the PostgreSQL scenarios (run inside the
    /// witness's namespace): logs every HTTP request until stdin closes.
    #[command(hide = true)]
    NotifySink {
        #[arg(long)]
        listen: std::net::SocketAddr,
        #[arg(long)]
        out: String,
    },
    /// One request: prints the site that answered.
    #[command(hide = true)]
    Ask {
        #[arg(long, default_value = "http")]
        kind: String,
        #[arg(long, default_value = plan::SERVICE_ADDR)]
        target: Ipv4Addr,
    },
}

#[derive(clap::Args, Debug, Clone)]
struct RunArgs {
    /// Modes, comma separated: haproxy, bgp (with BFD), bgp-nobfd, sdn, the
    /// baselines exabgp and serf, and postgresql (the database
    /// scenarios of --pg, in the BGP lab).
    #[arg(
        long,
        default_value = "haproxy,bgp,bgp-nobfd,sdn,exabgp,serf,postgresql",
        value_delimiter = ','
    )]
    modes: Vec<String>,
    /// Scenarios (1-12; 13-14 with --sites 3; 15 with --routers 2), comma
    /// separated.
    #[arg(
        long,
        default_value = "1,2,3,4,5,6,7,8,9,10,11,12",
        value_delimiter = ','
    )]
    scenarios: Vec<u8>,
    /// With mode postgresql: its disaster-recovery scenarios (BGP lab, a
    /// primary at a, a replica at b, the plan `pg`), comma separated:
    /// failure, switchover, partition.
    #[arg(
        long,
        default_value = "failure,switchover,partition",
        value_delimiter = ','
    )]
    pg: Vec<String>,
    /// Replication of the PostgreSQL runs: sync, async (each scenario
    /// with each).
    #[arg(
        long = "pg-replication",
        default_value = "sync,async",
        value_delimiter = ','
    )]
    pg_replication: Vec<String>,
    /// Runs per mode and scenario.
    #[arg(long, default_value_t = 1)]
    runs: u32,
    /// Where the JSON, Markdown and SVG go.
    #[arg(long, default_value = "lab-results")]
    out: PathBuf,
    /// BFD interval in BGP mode (ms), at bird2 and in orbitd; multiplier 3.
    #[arg(long = "bfd-interval", default_value_t = plan::BFD_INTERVAL_MS)]
    bfd_ms: u32,
    /// Multihop BFD between the members (a, b, w) in haproxy, bgp-nobfd and
    /// sdn (ms; multiplier 3); 0 turns it off. In bgp mode the members
    /// share the edge's --bfd-interval (orbitd has one [bfd] interval).
    #[arg(long = "member-bfd-interval", default_value_t = plan::MEMBER_BFD_INTERVAL_MS)]
    member_bfd_ms: u32,
    /// Run stress-ng --cpu 2 beside the lab: `--hog` runs only hogged
    /// runs, `--hog both` each run without and with the hog (own rows,
    /// shown as e.g. `bgp+hog`).
    #[arg(long, value_enum, num_args = 0..=1, default_missing_value = "only")]
    hog: Option<HogRuns>,
    /// UDP probes per second.
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// Keep every run's directory (logs, journals, probe log).
    #[arg(long)]
    keep: bool,
    /// Carrying sites: 2 (a, b), or 3 (a, b, c; bgp mode, scenarios 13
    /// and 14), each with the witness w.
    #[arg(long, default_value_t = 2)]
    sites: u8,
    /// Routers of site a: 1, or 2 (a1 and a2 in front of a's servers, each
    /// with its own orbitd and BGP session to the edge; bgp mode, two
    /// sites, scenario 15).
    #[arg(long, default_value_t = 1)]
    routers: u8,
}

/// Which runs `--hog` asks for.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum HogRuns {
    /// Every run with the hog.
    Only,
    /// Every run twice: without the hog, then with it.
    Both,
}

impl HogRuns {
    /// Without the hog (false) and / or with it (true), in run order.
    fn variants(choice: Option<HogRuns>) -> &'static [bool] {
        match choice {
            None => &[false],
            Some(HogRuns::Only) => &[true],
            Some(HogRuns::Both) => &[false, true],
        }
    }
}

impl Default for RunArgs {
    fn default() -> Self {
        RunArgs {
            modes: vec![
                "haproxy".into(),
                "bgp".into(),
                "bgp-nobfd".into(),
                "sdn".into(),
                "exabgp".into(),
                "serf".into(),
                "postgresql".into(),
            ],
            scenarios: (1..=12).collect(),
            pg: vec!["failure".into(), "switchover".into(), "partition".into()],
            pg_replication: vec!["sync".into(), "async".into()],
            runs: 1,
            out: PathBuf::from("lab-results"),
            rate: 1000,
            bfd_ms: plan::BFD_INTERVAL_MS,
            member_bfd_ms: plan::MEMBER_BFD_INTERVAL_MS,
            hog: None,
            keep: false,
            sites: 2,
            routers: 1,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.cmd.unwrap_or(Cmd::Run(RunArgs::default())) {
        Cmd::Serve {
            site,
            udp_port,
            http_port,
        } => serve::serve(&site, udp_port, http_port).map(|()| ExitCode::SUCCESS),
        Cmd::Probe { target, rate, out } => {
            probe::probe(target, plan::UDP_PORT, plan::HTTP_PORT, rate, &out)
                .map(|()| ExitCode::SUCCESS)
        }
        Cmd::Ask { kind, target } => ask(&kind, target),
        Cmd::NotifySink { listen, out } => notify::sink(listen, &out).map(|()| ExitCode::SUCCESS),
        Cmd::PgWrite {
            target,
            every_ms,
            out,
        } => pg::write(target, Duration::from_millis(every_ms.max(1)), &out)
            .map(|()| ExitCode::SUCCESS),
        Cmd::Run(args) => with_cleanup(|| run(&args)),
        Cmd::Up { mode } => with_cleanup(|| up(&mode)),
        Cmd::Down => down(),
        Cmd::Exec { node, cmd } => exec(&node, &cmd),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("orbit-lab: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn with_cleanup(f: impl FnOnce() -> Result<ExitCode>) -> Result<ExitCode> {
    if !is_root() {
        bail!("orbit-lab needs root (network namespaces, nftables): run it with sudo");
    }
    cleanup::install_signal_handlers()?;
    let result = f();
    cleanup::cleanup_all();
    result
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2))
                == Some("0")
        })
        .unwrap_or(false)
}

fn ask(kind: &str, target: Ipv4Addr) -> Result<ExitCode> {
    use std::io::{Read, Write};
    let site = match kind {
        "udp" => {
            let s = std::net::UdpSocket::bind("0.0.0.0:0")?;
            s.set_read_timeout(Some(Duration::from_millis(200)))?;
            s.connect((target, plan::UDP_PORT))?;
            s.send(&u64::MAX.to_be_bytes())?;
            let mut buf = [0u8; 64];
            let n = s.recv(&mut buf).context("no UDP reply")?;
            String::from_utf8_lossy(&buf[8.min(n)..n]).trim().to_owned()
        }
        _ => {
            let addr = std::net::SocketAddr::from((target, plan::HTTP_PORT));
            let mut c = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300))?;
            c.set_read_timeout(Some(Duration::from_millis(500)))?;
            c.write_all(b"GET /ask HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n")?;
            let mut text = String::new();
            c.read_to_string(&mut text)?;
            if !text.starts_with("HTTP/1.1 200") {
                bail!("HTTP answer: {}", text.lines().next().unwrap_or(""));
            }
            text.rsplit("\r\n\r\n")
                .next()
                .unwrap_or("")
                .trim()
                .to_owned()
        }
    };
    println!("{site}");
    Ok(ExitCode::SUCCESS)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown cpu".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = sys::run("uname", &["-sr"]).unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    format!(
        "{} cores ({cpu}), {}, load average at the end {}",
        cores,
        kernel.trim(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

fn run(args: &RunArgs) -> Result<ExitCode> {
    let started = std::time::Instant::now();
    if args.bfd_ms == 0 {
        bail!("--bfd-interval must be at least 1 ms");
    }
    if (1..3).contains(&args.member_bfd_ms) {
        bail!(
            "--member-bfd-interval {}: orbitd's [bfd] interval is at least 3 ms (0 turns member BFD off)",
            args.member_bfd_ms
        );
    }
    let hogs = HogRuns::variants(args.hog);
    if args.hog.is_some() {
        sys::run("sh", &["-c", "command -v stress-ng"])
            .context("--hog needs stress-ng (scripts/install-deps.sh)")?;
    }
    let mut modes = Vec::new();
    for m in args.modes.iter().filter(|m| *m != "postgresql") {
        modes.push(Mode::parse(m).with_context(|| {
            format!("unknown mode {m:?} (haproxy, bgp, bgp-nobfd, sdn, exabgp, serf, postgresql)")
        })?);
    }
    let scenarios: Vec<Scenario> = args
        .scenarios
        .iter()
        .map(|s| {
            if (1..=15).contains(s) {
                Ok(Scenario(*s))
            } else {
                bail!("unknown scenario {s} (1-15)")
            }
        })
        .collect::<Result<_>>()?;
    let three_sites = match args.sites {
        2 => false,
        3 => true,
        n => bail!("--sites {n}: the lab builds 2 or 3 sites"),
    };
    for sc in &scenarios {
        if sc.three_sites() != three_sites {
            bail!(
                "scenario {} ({}) runs {}",
                sc.0,
                sc.name(),
                if three_sites {
                    "with two sites only: --sites 3 runs scenarios 13 and 14"
                } else {
                    "on three sites only: add --sites 3"
                }
            );
        }
    }
    if three_sites {
        if let Some(m) = modes.iter().find(|m| **m != Mode::Bgp) {
            bail!("--sites 3 runs in bgp mode only, not {m}");
        }
    }
    let mut pg_runs = Vec::new();
    let pg_mode = args.modes.iter().any(|m| m == "postgresql");
    for s in args.pg.iter().filter(|_| pg_mode) {
        let sc = pgscenario::PgScenario::parse(s).with_context(|| {
            format!("unknown PostgreSQL scenario {s:?} (failure, switchover, partition, none)")
        })?;
        for r in &args.pg_replication {
            let rep = pg::Replication::parse(r)
                .with_context(|| format!("unknown --pg-replication {r:?} (sync, async)"))?;
            pg_runs.push((sc, rep));
        }
    }
    if three_sites && !pg_runs.is_empty() {
        bail!("mode postgresql runs on two sites, not with --sites 3");
    }
    let two_routers = match args.routers {
        1 => false,
        2 => true,
        n => bail!("--routers {n}: site a has 1 or 2 routers"),
    };
    if two_routers && three_sites {
        bail!("--routers 2 builds two sites: leave out --sites 3");
    }
    for sc in &scenarios {
        if sc.two_routers() != two_routers {
            bail!(
                "scenario {} ({}) runs {}",
                sc.0,
                sc.name(),
                if two_routers {
                    "with one router per site only: --routers 2 runs scenario 15"
                } else {
                    "with two routers at site a only: add --routers 2"
                }
            );
        }
    }
    if two_routers {
        if let Some(m) = modes.iter().find(|m| **m != Mode::Bgp) {
            bail!("--routers 2 runs in bgp mode only, not {m}");
        }
    }
    if two_routers && !pg_runs.is_empty() {
        bail!("mode postgresql runs with one router per site, not with --routers 2");
    }
    std::fs::create_dir_all(&args.out)?;
    let root = std::fs::canonicalize(&args.out)?.join("runs");
    std::fs::create_dir_all(&root)?;
    let caps = orbitd::detect_caps(&root)?;
    if !caps.dataplane_probe {
        eprintln!("orbit-lab: this orbitd has no [detect] probe (data-plane probes); running without them");
    }
    let opts = scenario::RunOptions {
        prefix: format!("olab{}", std::process::id()),
        root: root.clone(),
        tuning: orbitd::Tuning {
            bfd_ms: args.bfd_ms,
            member_bfd_ms: args.member_bfd_ms,
            three_sites,
            two_routers,
            ..orbitd::Tuning::lab_defaults(caps)
        },
        keep: args.keep,
        rate: args.rate,
    };
    // Runs of one mode: every scenario it runs, with and / or without the hog.
    let runs_of = |m: &Mode| {
        scenarios.iter().filter(|s| m.runs_scenario(s.0)).count() * hogs.len() * args.runs as usize
    };
    let total: usize =
        modes.iter().map(runs_of).sum::<usize>() + pg_runs.len() * args.runs as usize;
    let mut results = Vec::new();
    let mut unavailable = Vec::new();
    let mut n = 0;
    for mode in &modes {
        if let Err(e) = mode_available(*mode, &root, opts.tuning) {
            eprintln!("orbit-lab: mode {mode} is not available: {e:#}");
            unavailable.push(format!("{mode}: {e:#}"));
            n += runs_of(mode);
            continue;
        }
        for sc in scenarios.iter().filter(|s| mode.runs_scenario(s.0)) {
            for &hog in hogs {
                for run in 1..=args.runs {
                    n += 1;
                    eprint!(
                        "[{n}/{total}] {} scenario {} ({}) run {run}: ",
                        plan::mode_label(*mode, hog),
                        sc.0,
                        sc.name()
                    );
                    let _ = std::io::stderr().flush();
                    let r = scenario::run(*mode, *sc, run, hog, &opts);
                    eprintln!("{}", progress(&r));
                    results.push(r);
                }
            }
        }
    }
    let mut pg_results = Vec::new();
    if !pg_runs.is_empty() {
        if let Err(e) = pg_available(&root, opts.tuning) {
            eprintln!("orbit-lab: the PostgreSQL scenarios are not available: {e:#}");
            unavailable.push(format!("postgresql: {e:#}"));
        } else {
            for &(sc, rep) in &pg_runs {
                for run in 1..=args.runs {
                    n += 1;
                    eprint!(
                        "[{n}/{total}] postgresql {rep} {} ({}) run {run}: ",
                        sc.name(),
                        sc.describe()
                    );
                    let _ = std::io::stderr().flush();
                    let r = pgscenario::run(sc, rep, run, &opts);
                    eprintln!("{}", pgscenario::progress(&r));
                    pg_results.push(r);
                }
            }
        }
    }
    let pg_rows = pgscenario::rows(&pg_results);
    let pg_table = if pg_rows.is_empty() {
        String::new()
    } else {
        format!(
            "\nPostgreSQL disaster recovery (BGP lab, plan `pg`, a write every {} ms):\n\n{}",
            pgscenario::WRITE_EVERY.as_millis(),
            pgscenario::table(&pg_rows)
        )
    };
    let rows = report::rows(&results);
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let machine = machine();
    let cmps = report::comparisons(&rows);
    // (Only the PostgreSQL scenarios ran: no empty table of the others.)
    if !results.is_empty() {
        println!("{}", report::table(&rows));
        print!("{}", report::comparison_table(&cmps));
    }
    print!("{pg_table}");
    for u in &unavailable {
        println!("not run: {u}");
    }
    // The invocation's wall time: every lab built, run and torn down.
    let seconds = started.elapsed().as_secs();
    let json = serde_json::json!({
        "command": command,
        "machine": machine,
        "seconds": seconds,
        "unavailable": unavailable,
        "summary": rows,
        "side_by_side": cmps,
        "runs": results,
        "postgresql": pg_rows,
        "postgresql_runs": pg_results,
    });
    let out = &args.out;
    std::fs::write(out.join("lab.json"), serde_json::to_string_pretty(&json)?)?;
    let mut md = report::markdown(&rows, &results, &command, &machine, seconds);
    md.push_str(&pg_table);
    for u in &unavailable {
        md.push_str(&format!("\nNot run: {u}\n"));
    }
    std::fs::write(out.join("lab.md"), md)?;
    if let Err(e) = report::plot(&results, &out.join("outage.svg")) {
        eprintln!("orbit-lab: plot failed: {e:#}");
    }
    println!(
        "results: {0}/lab.json, {0}/lab.md, {0}/outage.svg\nwall time: {1} ({2} runs)",
        out.display(),
        report::wall_time(seconds),
        results.len() + pg_results.len()
    );
    let failed = results.iter().filter(|r| !r.violations.is_empty()).count()
        + pg_results
            .iter()
            .filter(|r| !r.violations.is_empty())
            .count();
    if failed > 0 || !unavailable.is_empty() {
        println!(
            "{failed} run(s) did not pass, {} mode(s) not available",
            unavailable.len()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn progress(r: &scenario::RunResult) -> String {
    let o = |x: Option<f64>| x.map_or("-".to_owned(), |v| format!("{v:.0} ms"));
    let mut s = format!(
        "{}, outage {}, lost {}/{}, detection {}, decision->confirmed {}",
        if r.failover { "moved" } else { "stayed" },
        o(r.outage_ms),
        r.lost,
        r.requests,
        o(r.detection_ms),
        o(r.decision_to_confirmed_ms)
    );
    if let Some(d) = r.failback_delay_ms {
        s.push_str(&format!(", failback after {d:.0} ms"));
    }
    if matches!(r.scenario.0, 9 | 10) && r.error.is_none() {
        let moves: Vec<String> = r
            .moves
            .iter()
            .map(|m| format!("{}->{}", m.from, m.to))
            .collect();
        s.push_str(&format!(", moves [{}]", moves.join(" ")));
    }
    if let Some(d) = r.heal_silence_ms {
        s.push_str(&format!(", longest silence after the heal {d:.0} ms"));
    }
    if let Some(d) = r.stop_ms {
        s.push_str(&format!(", a's orbitd stopped after {d:.0} ms"));
    }
    if let Some(d) = r.restart_ms {
        s.push_str(&format!(", a's orbitd restarted after {d:.0} ms"));
    }
    if let Some(d) = r.failback_after_dead_ms {
        s.push_str(&format!(", back on a {d:.0} ms after the last Dead(a)"));
    }
    if let Some(d) = &r.router_death {
        let forwarded: Vec<String> = d
            .forwarded_before
            .iter()
            .map(|(router, f)| format!("{router} {} ({} udp)", f.all, f.udp))
            .collect();
        s.push_str(&format!(
            ", {} died; forwarded before: {}, {} after: {} ({} udp); bird2 dropped {} after {} ({}); lost beyond that: {} udp, {} http (http lost {}); web at {} {:?}, at b {:?}",
            d.died,
            forwarded.join(", "),
            d.survivor,
            d.survivor_after.all,
            d.survivor_after.udp,
            d.died,
            o(d.edge_reconvergence_ms),
            d.edge_cause.as_deref().unwrap_or("-"),
            d.udp_lost_outside,
            d.http_lost_outside,
            d.http_lost,
            d.survivor,
            d.web_at_survivor,
            d.web_at_b
        ));
    }
    if r.violations.is_empty() {
        s.push_str(" -- ok");
    } else {
        s.push_str(&format!(" -- FAILED: {}", r.violations.join("; ")));
    }
    s
}

/// A mode runs only if the orbitd binary accepts its backend section (and
/// the run's `[bfd]`).
fn mode_available(mode: Mode, root: &Path, tuning: orbitd::Tuning) -> Result<()> {
    if !mode.orbit() {
        sys::run(
            "sh",
            &[
                "-c",
                "command -v exabgp && command -v exabgp-healthcheck && command -v curl",
            ],
        )
        .context("the ExaBGP baseline needs exabgp and curl (scripts/install-deps.sh)")?;
        return Ok(());
    }
    if mode == Mode::Serf {
        sys::run("sh", &["-c", "command -v serf"])
            .context("the Serf baseline needs serf (scripts/install-deps.sh)")?;
    }
    let dir = root.join(format!("check-{mode}"));
    std::fs::create_dir_all(&dir)?;
    let setup = orbitd::Setup {
        mode,
        root: &dir,
        tuning,
        haproxy_socket: &dir.join("h.sock"),
        haproxy_map: &dir.join("h.map"),
        ovs_dir: &dir,
    };
    // The first router: a, or a1 with two routers at a.
    let member = tuning.routers()[0];
    let path = dir.join(format!("{member}.toml"));
    orbitd::write_gossip_key(&dir)?;
    orbitd::write_config(&setup, member, &path)?;
    let out = std::process::Command::new(orbitd::bin("orbitd")?)
        .arg("check-config")
        .arg(&path)
        .output()?;
    let _ = std::fs::remove_dir_all(&dir);
    if !out.status.success() {
        bail!(
            "orbitd check-config refuses its [{mode}] section: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The PostgreSQL scenarios run if the server binaries are installed and
/// the orbitd binary accepts the lab's `db` service with its `[[plan]]`.
fn pg_available(root: &Path, tuning: orbitd::Tuning) -> Result<()> {
    pg::bin_dir()?;
    let dir = root.join("check-pg");
    std::fs::create_dir_all(&dir)?;
    let setup = orbitd::Setup {
        mode: Mode::Bgp,
        root: &dir,
        tuning: pgscenario::tuning(tuning, pg::Replication::Async),
        haproxy_socket: &dir.join("h.sock"),
        haproxy_map: &dir.join("h.map"),
        ovs_dir: &dir,
    };
    let path = dir.join("a.toml");
    orbitd::write_gossip_key(&dir)?;
    orbitd::write_config(&setup, "a", &path)?;
    let out = std::process::Command::new(orbitd::bin("orbitd")?)
        .args(["check-config", "--skip-files"])
        .arg(&path)
        .output()?;
    let _ = std::fs::remove_dir_all(&dir);
    if !out.status.success() {
        bail!(
            "orbitd check-config refuses the db service and its plan: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

const UP_STATE: &str = "/run/orbit-lab/up.json";

fn up(mode: &str) -> Result<ExitCode> {
    let mode = Mode::parse(mode).with_context(|| format!("unknown mode {mode:?}"))?;
    let dir = std::env::temp_dir().join(format!("orbit-lab-up-{}", std::process::id()));
    let caps = orbitd::detect_caps(&dir)?;
    let prefix = format!("olab{}", std::process::id());
    eprintln!(
        "orbit-lab: building the {mode} lab in {} ...",
        dir.display()
    );
    let tuning = orbitd::Tuning::lab_defaults(caps);
    let mut lab = lab::Lab::up(mode, &prefix, &dir, tuning, true, false)?;
    if let Err(e) = lab.wait_steady("a", Duration::from_secs(30)) {
        eprintln!("orbit-lab: warning: {e:#}");
    }
    std::fs::create_dir_all("/run/orbit-lab")?;
    std::fs::write(
        UP_STATE,
        serde_json::json!({"pid": std::process::id(), "prefix": prefix, "dir": dir, "mode": mode})
            .to_string(),
    )?;
    println!(
        "lab up ({mode}), namespaces {prefix}-{{client,edge,a,b,w,ctl}}, files in {}\n\
         try:  orbit-lab exec a -- {} --socket {} status\n      orbit-lab exec client -- curl -s http://{}/\n\
         stop: Ctrl-C here, or orbit-lab down",
        dir.display(),
        orbitd::bin("orbitctl")?.display(),
        orbitd::member_paths(&dir, "a").socket.display(),
        plan::SERVICE_ADDR
    );
    loop {
        std::thread::sleep(Duration::from_secs(3600));
        let _ = &lab;
    }
}

fn up_state() -> Result<serde_json::Value> {
    let text = std::fs::read_to_string(UP_STATE).context("no lab is up (orbit-lab up)")?;
    Ok(serde_json::from_str(&text)?)
}

fn down() -> Result<ExitCode> {
    let st = up_state()?;
    let pid = st["pid"].as_u64().context("up.json: pid")?;
    let prefix = st["prefix"].as_str().context("up.json: prefix")?.to_owned();
    let _ = sys::run("kill", &["-TERM", &pid.to_string()]);
    let _ = sys::wait_for("orbit-lab up to exit", Duration::from_secs(10), || {
        !Path::new(&format!("/proc/{pid}")).exists()
    });
    // Anything a killed `up` could not remove.
    for ns in sys::run("ip", &["netns", "list"])?.lines() {
        let name = ns.split_whitespace().next().unwrap_or("");
        if name.starts_with(&format!("{prefix}-")) {
            let _ = sys::run("ip", &["netns", "del", name]);
        }
    }
    let _ = std::fs::remove_file(UP_STATE);
    println!("lab {prefix} is down");
    Ok(ExitCode::SUCCESS)
}

fn exec(node: &str, cmd: &[String]) -> Result<ExitCode> {
    let st = up_state()?;
    let prefix = st["prefix"].as_str().context("up.json: prefix")?;
    let status = std::process::Command::new("ip")
        .args(["netns", "exec", &format!("{prefix}-{node}")])
        .args(cmd)
        .status()?;
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
