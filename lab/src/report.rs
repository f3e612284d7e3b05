//! The comparison: a table on stdout, JSON with every run, a Markdown
//! report and an SVG plot of the outage distribution.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use crate::analysis::percentile;
use crate::plan::Mode;
use crate::scenario::{RunResult, Scenario};

#[derive(Debug, Clone, Serialize)]
pub struct Dist {
    pub n: usize,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

impl Dist {
    fn of(v: &[f64]) -> Dist {
        Dist {
            n: v.len(),
            p50: percentile(v, 50.0),
            p99: percentile(v, 99.0),
            max: v.iter().copied().reduce(f64::max),
        }
    }

    fn cell(&self) -> String {
        match (self.p50, self.p99, self.max) {
            (Some(a), Some(b), Some(c)) => format!("{} / {} / {}", f(a), f(b), f(c)),
            _ => "-".into(),
        }
    }
}

fn f(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub mode: Mode,
    pub scenario: Scenario,
    pub name: &'static str,
    pub runs: usize,
    pub errors: usize,
    pub failovers: usize,
    pub false_failovers: usize,
    pub outage_ms: Dist,
    pub lost: Dist,
    pub detection_ms: Dist,
    pub decision_to_confirmed_ms: Dist,
    pub both_active_ms_max: f64,
    pub passed: usize,
}

pub fn rows(results: &[RunResult]) -> Vec<Row> {
    let mut groups: BTreeMap<(Mode, Scenario), Vec<&RunResult>> = BTreeMap::new();
    for r in results {
        groups.entry((r.mode, r.scenario)).or_default().push(r);
    }
    groups
        .into_iter()
        .map(|((mode, sc), rs)| {
            let ok: Vec<&&RunResult> = rs.iter().filter(|r| r.error.is_none()).collect();
            let pick = |g: &dyn Fn(&RunResult) -> Option<f64>| -> Vec<f64> {
                ok.iter().filter_map(|r| g(r)).collect()
            };
            Row {
                mode,
                scenario: sc,
                name: sc.name(),
                runs: rs.len(),
                errors: rs.len() - ok.len(),
                failovers: ok.iter().filter(|r| r.failover).count(),
                false_failovers: ok.iter().filter(|r| r.false_failover).count(),
                outage_ms: Dist::of(&pick(&|r| r.outage_ms)),
                lost: Dist::of(&pick(&|r| Some(r.lost as f64))),
                detection_ms: Dist::of(&pick(&|r| r.detection_ms)),
                decision_to_confirmed_ms: Dist::of(&pick(&|r| r.decision_to_confirmed_ms)),
                both_active_ms_max: ok.iter().map(|r| r.both_active_ms).fold(0.0, f64::max),
                passed: rs.iter().filter(|r| r.violations.is_empty()).count(),
            }
        })
        .collect()
}

const HEADER: [&str; 11] = [
    "mode",
    "scenario",
    "runs",
    "ok",
    "moved",
    "false",
    "outage ms p50/p99/max",
    "lost p50/p99/max",
    "detect ms p50/p99/max",
    "decision->confirmed ms",
    "both ms",
];

fn cells(r: &Row) -> Vec<String> {
    vec![
        r.mode.to_string(),
        format!("{} {}", r.scenario.0, r.name),
        r.runs.to_string(),
        format!("{}/{}", r.passed, r.runs),
        r.failovers.to_string(),
        r.false_failovers.to_string(),
        r.outage_ms.cell(),
        r.lost.cell(),
        r.detection_ms.cell(),
        r.decision_to_confirmed_ms.cell(),
        f(r.both_active_ms_max),
    ]
}

pub fn table(rows: &[Row]) -> String {
    let all: Vec<Vec<String>> = std::iter::once(HEADER.iter().map(|s| s.to_string()).collect())
        .chain(rows.iter().map(cells))
        .collect();
    let widths: Vec<usize> = (0..HEADER.len())
        .map(|i| all.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (n, r) in all.iter().enumerate() {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", line.join("  ").trim_end());
        if n == 0 {
            let _ = writeln!(
                out,
                "{}",
                "-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1))
            );
        }
    }
    out
}

pub fn markdown(rows: &[Row], results: &[RunResult], command: &str, machine: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# orbit-lab report\n");
    let _ = writeln!(s, "Command: `{command}`  \nMachine: {machine}\n");
    let _ = writeln!(s, "| {} |", HEADER.join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(HEADER.len()));
    for r in rows {
        let _ = writeln!(s, "| {} |", cells(r).join(" | "));
    }
    let _ = writeln!(
        s,
        "\n`ok`: runs that showed what the scenario must show; `moved`: runs where the client's \
         primary stream moved (for scenario 6: back to a); `false`: failovers in scenarios that must \
         not fail over; `lost`: probes/requests without an answer in the run's window; `both ms`: \
         10 ms slots in which both sites answered.\n"
    );
    let bad: Vec<&RunResult> = results
        .iter()
        .filter(|r| !r.violations.is_empty())
        .collect();
    if !bad.is_empty() {
        let _ = writeln!(s, "## Runs that did not pass\n");
        for r in bad {
            let _ = writeln!(
                s,
                "- {} scenario {} run {}: {} ({})",
                r.mode,
                r.scenario.0,
                r.run,
                r.violations.join("; "),
                r.dir.as_deref().unwrap_or("")
            );
        }
    }
    s
}

/// Outage per run, one column per scenario, one colour per mode.
pub fn plot(results: &[RunResult], path: &Path) -> Result<()> {
    use plotters::prelude::*;
    let points: Vec<(Mode, u8, f64)> = results
        .iter()
        .filter_map(|r| r.outage_ms.map(|o| (r.mode, r.scenario.0, o)))
        .collect();
    let ymax = points.iter().map(|p| p.2).fold(10.0, f64::max) * 1.1;
    let root = SVGBackend::new(path, (900, 500)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("client-side outage per run (ms)", ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.5f64..7.5f64, (0.1f64..ymax).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("scenario")
        .y_desc("outage ms (log)")
        .x_labels(8)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()?;
    let modes = [
        (Mode::Haproxy, RED),
        (Mode::Bgp, BLUE),
        (Mode::Sdn, GREEN),
        (Mode::Exabgp, BLACK),
        (Mode::Serf, MAGENTA),
    ];
    for (i, (mode, colour)) in modes.into_iter().enumerate() {
        let offset = (i as f64 - 2.0) * 0.12;
        let pts: Vec<(f64, f64)> = points
            .iter()
            .filter(|p| p.0 == mode)
            .map(|p| (f64::from(p.1) + offset, p.2.max(0.1)))
            .collect();
        chart
            .draw_series(pts.iter().map(|p| Circle::new(*p, 4, colour.filled())))?
            .label(mode.to_string())
            .legend(move |(x, y)| Circle::new((x, y), 4, colour.filled()));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
