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
    plain(&HEADER, &rows.iter().map(cells).collect::<Vec<_>>())
}

/// orbit beside another mode in one scenario: BFD on against off, and
/// orbit in BGP mode against the baselines on the same bird2 edge.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub scenario: Scenario,
    pub name: &'static str,
    pub orbit: Mode,
    pub other: Mode,
    pub outage_p50_ms: Pair,
    pub outage_max_ms: Pair,
    pub detection_p50_ms: Pair,
}

/// orbit's number, the other's, and other / orbit.
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    pub orbit: Option<f64>,
    pub other: Option<f64>,
    pub ratio: Option<f64>,
}

impl Pair {
    fn of(orbit: Option<f64>, other: Option<f64>) -> Pair {
        let ratio = match (orbit, other) {
            (Some(a), Some(b)) if a > 0.0 => Some(b / a),
            _ => None,
        };
        Pair {
            orbit,
            other,
            ratio,
        }
    }

    fn cell(&self) -> String {
        let v = |x: Option<f64>| x.map_or("-".to_owned(), f);
        match self.ratio {
            Some(r) => format!("{} / {} ({}x)", v(self.orbit), v(self.other), f(r)),
            None => format!("{} / {}", v(self.orbit), v(self.other)),
        }
    }
}

/// The pairs worth putting side by side: `bgp` (BFD on) against
/// `bgp-nobfd`, and each baseline against orbit with and without BFD
/// (the baselines run without: ExaBGP has none, Serf's design had none).
const PAIRS: [(Mode, Mode); 5] = [
    (Mode::Bgp, Mode::BgpNoBfd),
    (Mode::Bgp, Mode::Exabgp),
    (Mode::BgpNoBfd, Mode::Exabgp),
    (Mode::Bgp, Mode::Serf),
    (Mode::BgpNoBfd, Mode::Serf),
];

pub fn comparisons(rows: &[Row]) -> Vec<Comparison> {
    let find = |m: Mode, sc: Scenario| rows.iter().find(|r| r.mode == m && r.scenario == sc);
    let mut out = Vec::new();
    for (orbit, other) in PAIRS {
        for r in rows.iter().filter(|r| r.mode == orbit) {
            // Only failures: elsewhere the outage is the longest gap.
            if !matches!(r.scenario.0, 2 | 3 | 8) {
                continue;
            }
            let Some(o) = find(other, r.scenario) else {
                continue;
            };
            out.push(Comparison {
                scenario: r.scenario,
                name: r.name,
                orbit,
                other,
                outage_p50_ms: Pair::of(r.outage_ms.p50, o.outage_ms.p50),
                outage_max_ms: Pair::of(r.outage_ms.max, o.outage_ms.max),
                detection_p50_ms: Pair::of(r.detection_ms.p50, o.detection_ms.p50),
            });
        }
    }
    out.sort_by_key(|c| c.scenario);
    out
}

const CMP_HEADER: [&str; 5] = [
    "scenario",
    "orbit vs",
    "outage p50 ms",
    "outage max ms",
    "detect p50 ms",
];

fn cmp_cells(c: &Comparison) -> Vec<String> {
    vec![
        format!("{} {}", c.scenario.0, c.name),
        format!("{} vs {}", c.orbit, c.other),
        c.outage_p50_ms.cell(),
        c.outage_max_ms.cell(),
        c.detection_p50_ms.cell(),
    ]
}

/// The comparison as a plain-text table (empty when nothing pairs up).
pub fn comparison_table(cmps: &[Comparison]) -> String {
    if cmps.is_empty() {
        return String::new();
    }
    let mut s = String::from("\nside by side (orbit's number / the other's, other / orbit):\n");
    s.push_str(&plain(
        &CMP_HEADER,
        &cmps.iter().map(cmp_cells).collect::<Vec<_>>(),
    ));
    s
}

fn plain(header: &[&str], body: &[Vec<String>]) -> String {
    let all: Vec<Vec<String>> = std::iter::once(header.iter().map(|s| s.to_string()).collect())
        .chain(body.iter().cloned())
        .collect();
    let widths: Vec<usize> = (0..header.len())
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
         not fail over (scenarios 9 and 10: a healthy b or w declared dead, b fenced, or more moves \
         than the one failover / one failback allowed); `lost`: probes/requests without an answer in the run's window; `both ms`: \
         10 ms slots in which both sites answered.\n"
    );
    let cmps = comparisons(rows);
    if !cmps.is_empty() {
        let _ = writeln!(
            s,
            "## Side by side\n\nEach cell: orbit's number / the other's (other / orbit).\n"
        );
        let _ = writeln!(s, "| {} |", CMP_HEADER.join(" | "));
        let _ = writeln!(s, "|{}", "---|".repeat(CMP_HEADER.len()));
        for c in &cmps {
            let _ = writeln!(s, "| {} |", cmp_cells(c).join(" | "));
        }
        let _ = writeln!(s);
    }
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
        .build_cartesian_2d(0.5f64..8.5f64, (0.1f64..ymax).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("scenario")
        .y_desc("outage ms (log)")
        .x_labels(9)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()?;
    let modes = [
        (Mode::Haproxy, RED),
        (Mode::Bgp, BLUE),
        (Mode::BgpNoBfd, CYAN),
        (Mode::Sdn, GREEN),
        (Mode::Exabgp, BLACK),
        (Mode::Serf, MAGENTA),
    ];
    for (i, (mode, colour)) in modes.into_iter().enumerate() {
        let offset = (i as f64 - 2.5) * 0.12;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(mode: Mode, sc: u8, outage: f64, detection: Option<f64>) -> Row {
        let one = |v: Option<f64>| Dist {
            n: usize::from(v.is_some()),
            p50: v,
            p99: v,
            max: v,
        };
        Row {
            mode,
            scenario: Scenario(sc),
            name: Scenario(sc).name(),
            runs: 1,
            errors: 0,
            failovers: 1,
            false_failovers: 0,
            outage_ms: one(Some(outage)),
            lost: one(Some(0.0)),
            detection_ms: one(detection),
            decision_to_confirmed_ms: one(None),
            both_active_ms_max: 0.0,
            passed: 1,
        }
    }

    #[test]
    fn bfd_on_and_off_are_paired_with_the_ratio() {
        let rows = vec![
            row(Mode::Bgp, 8, 25.0, Some(370.0)),
            row(Mode::BgpNoBfd, 8, 500.0, Some(370.0)),
            // No partner for scenario 1, and 7 is not a failure.
            row(Mode::Bgp, 1, 1.0, None),
            row(Mode::Bgp, 7, 1.0, None),
            row(Mode::BgpNoBfd, 7, 1.0, None),
        ];
        let c = comparisons(&rows);
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].orbit, c[0].other), (Mode::Bgp, Mode::BgpNoBfd));
        assert_eq!(c[0].outage_p50_ms.ratio, Some(20.0));
        assert_eq!(c[0].detection_p50_ms.ratio, Some(1.0));
        assert_eq!(c[0].outage_p50_ms.cell(), "25.0 / 500 (20.0x)");
    }

    #[test]
    fn a_missing_number_has_no_ratio() {
        let rows = vec![
            row(Mode::BgpNoBfd, 2, 1.0, Some(380.0)),
            row(Mode::Serf, 2, 1.0, None),
        ];
        let c = comparisons(&rows);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].detection_p50_ms.ratio, None);
        assert_eq!(c[0].detection_p50_ms.cell(), "380 / -");
    }
}
