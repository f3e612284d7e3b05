//! The comparison: a table on stdout, JSON with every run, a Markdown
//! report and an SVG plot of the outage distribution.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::Result;
use serde::Serialize;

use crate::analysis::percentile;
use crate::plan::{mode_label, Mode};
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
    /// The runs had the CPU hog beside them (`--hog`): a row of its own.
    pub hog: bool,
    /// The members' BFD interval (ms, x 3) of these runs; None: off.
    pub member_bfd_ms: Option<u32>,
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

/// One row per mode, scenario and hog (a hogged row right after the same
/// mode and scenario without the hog).
pub fn rows(results: &[RunResult]) -> Vec<Row> {
    let mut groups: BTreeMap<(Mode, Scenario, bool), Vec<&RunResult>> = BTreeMap::new();
    for r in results {
        groups
            .entry((r.mode, r.scenario, r.hog))
            .or_default()
            .push(r);
    }
    groups
        .into_iter()
        .map(|((mode, sc, hog), rs)| {
            let ok: Vec<&&RunResult> = rs.iter().filter(|r| r.error.is_none()).collect();
            let pick = |g: &dyn Fn(&RunResult) -> Option<f64>| -> Vec<f64> {
                ok.iter().filter_map(|r| g(r)).collect()
            };
            Row {
                mode,
                hog,
                member_bfd_ms: rs[0].member_bfd_ms,
                scenario: sc,
                name: sc.name(),
                runs: rs.len(),
                errors: rs.len() - ok.len(),
                failovers: ok.iter().filter(|r| r.failover).count(),
                // Over every run (one that could not be driven has none).
                false_failovers: rs.iter().filter(|r| r.false_failover).count(),
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
        mode_label(r.mode, r.hog),
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
    let mut s = member_bfd_line(rows);
    s.push('\n');
    s.push_str(&plain(&HEADER, &rows.iter().map(cells).collect::<Vec<_>>()));
    s
}

/// The members' BFD setting of the modes in `rows`, e.g. `member BFD
/// (multihop between a, b and w, x 3): 20 ms in haproxy, sdn; 10 ms in
/// bgp; off in serf`.
pub fn member_bfd_line(rows: &[Row]) -> String {
    let mut by_setting: BTreeMap<Option<u32>, Vec<String>> = BTreeMap::new();
    for r in rows {
        let modes = by_setting.entry(r.member_bfd_ms).or_default();
        if !modes.contains(&r.mode.to_string()) {
            modes.push(r.mode.to_string());
        }
    }
    let parts: Vec<String> = by_setting
        .iter()
        .rev()
        .map(|(ms, modes)| {
            let setting = ms.map_or("off".to_owned(), |ms| format!("{ms} ms"));
            format!("{setting} in {}", modes.join(", "))
        })
        .collect();
    format!(
        "member BFD (multihop between a, b and w, x {}): {}",
        crate::plan::BFD_MULTIPLIER,
        parts.join("; ")
    )
}

/// A wall time as `1 h 02 min 03 s` / `2 min 03 s` / `3 s`.
pub fn wall_time(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    match (h, m) {
        (0, 0) => format!("{s} s"),
        (0, _) => format!("{m} min {s:02} s"),
        _ => format!("{h} h {m:02} min {s:02} s"),
    }
}

/// orbit beside another mode in one scenario: BFD on against off, and
/// orbit in BGP mode against the baselines on the same bird2 edge.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub scenario: Scenario,
    pub name: &'static str,
    /// Both sides ran with the CPU hog.
    pub hog: bool,
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
    let find = |m: Mode, sc: Scenario, hog: bool| {
        rows.iter()
            .find(|r| r.mode == m && r.scenario == sc && r.hog == hog)
    };
    let mut out = Vec::new();
    for (orbit, other) in PAIRS {
        for r in rows.iter().filter(|r| r.mode == orbit) {
            // Only failures: elsewhere the outage is the longest gap.
            if !matches!(r.scenario.0, 2 | 3 | 8) {
                continue;
            }
            let Some(o) = find(other, r.scenario, r.hog) else {
                continue;
            };
            out.push(Comparison {
                scenario: r.scenario,
                name: r.name,
                hog: r.hog,
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
        format!(
            "{} vs {}",
            mode_label(c.orbit, c.hog),
            mode_label(c.other, c.hog)
        ),
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

pub fn markdown(
    rows: &[Row],
    results: &[RunResult],
    command: &str,
    machine: &str,
    seconds: u64,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# orbit-lab report\n");
    let _ = writeln!(
        s,
        "Command: `{command}`  \nMachine: {machine}  \nWall time: {}\n",
        wall_time(seconds)
    );
    let _ = writeln!(s, "{}.\n", member_bfd_line(rows));
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
         10 ms slots in which both sites answered; `+hog`: runs with `stress-ng --cpu 2` beside the lab.\n"
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
                mode_label(r.mode, r.hog),
                r.scenario.0,
                r.run,
                r.violations.join("; "),
                r.dir.as_deref().unwrap_or("")
            );
        }
    }
    s
}

/// Every run's outage as a dot, one column per scenario, one colour per
/// mode (hollow: with the CPU hog), and beside each row's dots a dash at
/// its p99: the distribution of each row of the table, not only its three
/// numbers.
pub fn plot(results: &[RunResult], path: &Path) -> Result<()> {
    use plotters::prelude::*;
    const MODES: [(Mode, RGBColor); 6] = [
        (Mode::Haproxy, RED),
        (Mode::Bgp, BLUE),
        (Mode::BgpNoBfd, CYAN),
        (Mode::Sdn, GREEN),
        (Mode::Exabgp, BLACK),
        (Mode::Serf, MAGENTA),
    ];
    let measured: Vec<&RunResult> = results.iter().filter(|r| r.outage_ms.is_some()).collect();
    let mut scenarios: Vec<u8> = measured.iter().map(|r| r.scenario.0).collect();
    scenarios.sort_unstable();
    scenarios.dedup();
    let column = |sc: u8| {
        scenarios
            .iter()
            .position(|s| *s == sc)
            .map_or(0.0, |i| i as f64 + 1.0)
    };
    // The rows present, each in a slot of its scenario's column.
    let series: Vec<(Mode, RGBColor, bool)> = MODES
        .iter()
        .flat_map(|(m, c)| [(*m, *c, false), (*m, *c, true)])
        .filter(|(m, _, hog)| measured.iter().any(|r| r.mode == *m && r.hog == *hog))
        .collect();
    let slot = 0.8 / series.len().max(1) as f64;
    let ymax = measured
        .iter()
        .filter_map(|r| r.outage_ms)
        .fold(10.0, f64::max)
        * 1.3;
    let width = u32::try_from(scenarios.len()).unwrap_or(12).max(6) * 150;
    let root = SVGBackend::new(path, (width, 550)).into_drawing_area();
    root.fill(&WHITE)?;
    let columns = scenarios.len() as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "client-side outage per run (ms); dash: p99 of the row",
            ("sans-serif", 20),
        )
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.5f64..columns + 0.5, (0.1f64..ymax).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("scenario")
        .y_desc("outage ms (log)")
        .x_labels(scenarios.len() + 1)
        .x_label_formatter(&|x| {
            let i = x.round();
            match scenarios.get((i as usize).wrapping_sub(1)) {
                Some(sc) if (x - i).abs() < 0.01 => sc.to_string(),
                _ => String::new(),
            }
        })
        .draw()?;
    for (i, (mode, colour, hog)) in series.into_iter().enumerate() {
        let centre = -0.4 + slot * (i as f64 + 0.5);
        let style = if hog {
            colour.stroke_width(1)
        } else {
            colour.filled()
        };
        let runs: Vec<&&RunResult> = measured
            .iter()
            .filter(|r| r.mode == mode && r.hog == hog)
            .collect();
        // Runs spread over half the slot, so 20 dots of one row stay apart.
        let dot = |r: &RunResult| {
            let spread = (f64::from(r.run % 5) - 2.0) / 8.0 * slot;
            let y = r.outage_ms.unwrap_or(0.1).max(0.1);
            (column(r.scenario.0) + centre + spread, y)
        };
        chart
            .draw_series(runs.iter().map(|r| Circle::new(dot(r), 3, style)))?
            .label(mode_label(mode, hog))
            .legend(move |(x, y)| Circle::new((x, y), 4, style));
        let p99s = scenarios.iter().filter_map(|sc| {
            let v: Vec<f64> = runs
                .iter()
                .filter(|r| r.scenario.0 == *sc)
                .filter_map(|r| r.outage_ms)
                .collect();
            let x = column(*sc) + centre;
            percentile(&v, 99.0).map(|p| {
                let y = p.max(0.1);
                PathElement::new(
                    vec![(x - slot / 2.0, y), (x + slot / 2.0, y)],
                    colour.stroke_width(2),
                )
            })
        });
        chart.draw_series(p99s)?;
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
            hog: false,
            member_bfd_ms: None,
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

    /// Issue 20's tables: 20 runs a row, the hogged runs in a row of
    /// their own right after the same mode and scenario, p99 by nearest
    /// rank (of 20 samples: the highest), `false` over every run.
    #[test]
    fn twenty_runs_with_and_without_the_hog_make_two_rows() {
        let mut results = Vec::new();
        for hog in [true, false] {
            for run in 1..=20 {
                let mut r = crate::scenario::test_result(Mode::Bgp, Scenario(4), run, hog);
                // 20 outages 1..=20 ms, out of order.
                r.outage_ms = Some(f64::from((run * 7) % 20 + 1));
                r.false_failover = hog && run % 7 == 0;
                r.member_bfd_ms = Some(10);
                results.push(r);
            }
        }
        let mut cut = crate::scenario::test_result(Mode::Bgp, Scenario(2), 1, false);
        cut.member_bfd_ms = Some(10);
        results.push(cut);
        let rows = rows(&results);
        let labels: Vec<(String, u8)> = rows
            .iter()
            .map(|r| (mode_label(r.mode, r.hog), r.scenario.0))
            .collect();
        assert_eq!(
            labels,
            [
                ("bgp".to_owned(), 2),
                ("bgp".to_owned(), 4),
                ("bgp+hog".to_owned(), 4)
            ]
        );
        for r in &rows[1..] {
            assert_eq!(r.runs, 20);
            assert_eq!(r.outage_ms.n, 20);
            assert_eq!(r.outage_ms.p50, Some(10.0));
            assert_eq!(r.outage_ms.p99, Some(20.0));
            assert_eq!(r.outage_ms.max, Some(20.0));
        }
        assert_eq!(rows[1].false_failovers, 0);
        assert_eq!(rows[2].false_failovers, 2, "runs 7 and 14 of the hog row");
        let text = table(&rows);
        assert!(
            text.lines()
                .any(|l| l.starts_with("bgp+hog  4 partition a-b only")),
            "{text}"
        );
        assert!(
            text.starts_with("member BFD (multihop between a, b and w, x 3): 10 ms in bgp\n"),
            "{text}"
        );
    }

    /// The plot shows every run, hogged ones too, and each row's p99.
    #[test]
    fn the_plot_has_a_dot_per_run_and_a_p99_dash_per_row() {
        let mut results = Vec::new();
        for (mode, hog) in [(Mode::Bgp, false), (Mode::Bgp, true), (Mode::Sdn, false)] {
            for sc in [2, 8] {
                for run in 1..=20 {
                    let mut r = crate::scenario::test_result(mode, Scenario(sc), run, hog);
                    r.outage_ms = Some(f64::from(run) * if hog { 30.0 } else { 10.0 });
                    results.push(r);
                }
            }
        }
        let path = std::env::temp_dir().join(format!("olab-plot-{}.svg", std::process::id()));
        plot(&results, &path).expect("plot");
        let svg = std::fs::read_to_string(&path).expect("svg");
        let _ = std::fs::remove_file(&path);
        // 120 runs and the 3 legend entries.
        assert_eq!(svg.matches("<circle").count(), 123);
        assert!(svg.contains("\nbgp+hog\n"), "hog rows in the legend");
        // A dash per row (6) beside the mesh's and legend's own lines.
        assert!(svg.matches("<polyline").count() >= 6);
    }

    #[test]
    fn the_member_bfd_line_names_each_setting() {
        let mut rows = vec![
            row(Mode::Haproxy, 8, 1.0, None),
            row(Mode::Bgp, 8, 1.0, None),
            row(Mode::Sdn, 8, 1.0, None),
            row(Mode::Serf, 8, 1.0, None),
        ];
        rows[0].member_bfd_ms = Some(20);
        rows[1].member_bfd_ms = Some(10);
        rows[2].member_bfd_ms = Some(20);
        assert_eq!(
            member_bfd_line(&rows),
            "member BFD (multihop between a, b and w, x 3): 20 ms in haproxy, sdn; 10 ms in bgp; off in serf"
        );
        assert_eq!(wall_time(59), "59 s");
        assert_eq!(wall_time(3723), "1 h 02 min 03 s");
        assert_eq!(wall_time(754), "12 min 34 s");
    }

    #[test]
    fn hogged_rows_pair_only_with_hogged_rows() {
        let mut hogged = row(Mode::BgpNoBfd, 8, 400.0, None);
        hogged.hog = true;
        let rows = vec![row(Mode::Bgp, 8, 25.0, None), hogged];
        assert!(comparisons(&rows).is_empty());
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
