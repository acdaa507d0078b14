//! The gate over many runs (`memsoak summarize`): one `summary.md` table
//! with a row per run folder and one `junit.xml` with a suite per run (a
//! case per threshold). Renders only: each row's verdict comes decided.

use std::fmt::Write;

use quick_junit::TestSuite;

use crate::analysis::compare::slope_text;
use crate::analysis::verdict::Verdict;
use crate::analysis::{Analysis, Outcome, ThresholdResult};
use crate::runfolder::{Regression, Report, RunMeta};
use crate::units::fmt_secs;

/// One run of the matrix, as the command judged it.
#[derive(Debug, Clone, Copy)]
pub struct FleetRow<'a> {
    /// The run's name (its folder).
    pub name: &'a str,
    /// Its verdict in the gate (an interrupted or unfinished run is an error).
    pub verdict: Verdict,
    /// Its report, when it wrote one.
    pub report: Option<&'a Report>,
    /// Its `run.json`, when present.
    pub meta: Option<&'a RunMeta>,
    /// Why the verdict is what it is, when the report alone does not say
    /// (no report, interrupted).
    pub why: Option<&'a str>,
    /// The regression against a baseline that failed it: its report's
    /// (`run --baseline`), or its `compare.json`'s.
    pub regression: Option<&'a Regression>,
}

fn icon(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "✅ PASS",
        Verdict::Fail => "❌ FAIL",
        Verdict::Error => "⚠️ ERROR",
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('`', "'")
}

/// What ran: mode, backend (model), workload or target command.
fn what(r: &Report) -> String {
    let mut w = vec![r.mode.clone()];
    if let Some(b) = &r.backend {
        w.push(match &b.model {
            Some(m) => format!("{} ({m})", b.name),
            None => b.name.clone(),
        });
    }
    w.extend(r.workload.clone());
    if let Some(c) = r.target.as_ref().and_then(|t| t.command.as_ref()) {
        w.push(c.join(" ").chars().take(40).collect());
    }
    cell(&w.join(" · "))
}

/// The analyses a report judged, each with the series it is of: an
/// `analyze --prometheus` report's series (its own analysis is empty, and
/// read alone it was a FAIL with nothing breached), else the run's one.
fn judged_parts(r: &Report) -> Vec<(Option<&str>, &Analysis)> {
    if r.series.is_empty() {
        return vec![(None, &r.analysis)];
    }
    r.series
        .iter()
        .filter_map(|s| Some((Some(s.name.as_str()), s.analysis.as_ref()?)))
        .collect()
}

/// The drift worth a column: for a report of series, that of the first
/// failing series (else the first), named.
fn report_drift(r: &Report) -> String {
    if r.series.is_empty() {
        return headline_drift(&r.analysis);
    }
    let pick = r
        .series
        .iter()
        .filter(|s| s.analysis.is_some())
        .find(|s| s.verdict == Some(Verdict::Fail))
        .or_else(|| r.series.iter().find(|s| s.analysis.is_some()));
    pick.and_then(|s| Some((s, s.analysis.as_ref()?)))
        .map_or("–".into(), |(s, a)| {
            format!("{}: {}", cell(&s.name), headline_drift(a))
        })
}

/// The breached column: the thresholds that failed, the regression, and
/// for a report of series in how many of them.
fn breached(r: &Report, regression: Option<&Regression>) -> String {
    let mut exprs: Vec<String> = Vec::new();
    for (_, a) in judged_parts(r) {
        for t in a.thresholds.iter().filter(|t| t.outcome == Outcome::Fail) {
            let e = format!("`{}`", t.threshold.expr);
            if !exprs.contains(&e) {
                exprs.push(e);
            }
        }
    }
    if let Some(g) = regression {
        exprs.push(format!("regression vs baseline `{}`", cell(&g.baseline)));
    }
    if r.series.is_empty() {
        return if exprs.is_empty() {
            "–".into()
        } else {
            exprs.join(", ")
        };
    }
    let failing = r
        .series
        .iter()
        .filter(|s| s.verdict == Some(Verdict::Fail))
        .count();
    let of = format!("{failing} of {} series failing", r.series.len());
    if exprs.is_empty() {
        of
    } else {
        format!("{} ({of})", exprs.join(", "))
    }
}

/// The drift worth a column: the metric of the first breached threshold,
/// else `rss`, else the first metric fitted.
fn headline_drift(a: &Analysis) -> String {
    let breached = a
        .thresholds
        .iter()
        .find(|t| t.outcome == Outcome::Fail)
        .and_then(|t| a.metric(t.threshold.metric));
    let m = breached
        .or_else(|| a.metric(crate::sample::Metric::Rss))
        .or_else(|| a.metrics.iter().find(|m| m.slope_per_min.is_some()));
    m.map_or("–".into(), |m| {
        format!(
            "`{}` {}{}",
            m.metric,
            slope_text(m.slope_per_min),
            if m.significant { ", significant" } else { "" }
        )
    })
}

/// `summary.md` of a matrix: the worst verdict on top, one row per run
/// (`noun`: what a row is, singular and plural: `("run", "runs")`), then
/// every breach and error by run.
pub fn summary_md(worst: Verdict, rows: &[FleetRow<'_>], noun: (&str, &str)) -> String {
    let (one, many) = noun;
    let mut s = String::new();
    let count = |v: Verdict| rows.iter().filter(|r| r.verdict == v).count();
    let _ = writeln!(
        s,
        "## memsoak summary: {}\n\n{} {}: {} pass, {} fail, {} error\n",
        icon(worst),
        rows.len(),
        if rows.len() == 1 { one } else { many },
        count(Verdict::Pass),
        count(Verdict::Fail),
        count(Verdict::Error)
    );
    let _ = writeln!(
        s,
        "| {one} | verdict | what | duration | drift | breached | commit |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|");
    for row in rows {
        let commit = row
            .meta
            .and_then(|m| m.git_commit.as_deref())
            .map_or("–".into(), |c| {
                format!("`{}`", c.chars().take(10).collect::<String>())
            });
        let (what, duration, drift, breached) = match row.report {
            Some(r) => (
                what(r),
                fmt_secs(r.analysis.duration_s),
                report_drift(r),
                breached(r, row.regression),
            ),
            None => ("–".into(), "–".into(), "–".into(), "–".into()),
        };
        let _ = writeln!(
            s,
            "| `{}` | {} | {what} | {duration} | {drift} | {breached} | {commit} |",
            cell(row.name),
            icon(row.verdict)
        );
    }
    let mut details = String::new();
    for row in rows {
        if let Some(w) = row.why {
            let _ = writeln!(details, "- `{}`: {}", cell(row.name), w);
        }
        let Some(r) = row.report else { continue };
        for (series, a) in judged_parts(r) {
            let who = match series {
                Some(s) => format!("`{}` series `{}`", cell(row.name), cell(s)),
                None => format!("`{}`", cell(row.name)),
            };
            for t in a.thresholds.iter().filter(|t| t.outcome == Outcome::Fail) {
                let th = &t.threshold;
                let _ = writeln!(
                    details,
                    "- {who}: `{}` measured {}: {}",
                    th.expr,
                    t.measured.map_or("–".into(), |v| th.format_value(v)),
                    t.note
                );
            }
            // NOTE: a pass that does not rule its limit out is named too: a
            // fleet of green rows, each too short to see a drift at the
            // limit, is no evidence that none of them leaks.
            for t in a.thresholds.iter().filter(|t| t.inconclusive_pass()) {
                let _ = writeln!(
                    details,
                    "- {who}: `{}` passed: {}",
                    t.threshold.expr, t.note
                );
            }
        }
        for s in &r.series {
            if let Some(why) = &s.skipped {
                let _ = writeln!(
                    details,
                    "- `{}` series `{}`: skipped: {}",
                    cell(row.name),
                    cell(&s.name),
                    cell(why)
                );
            }
        }
        if let Some(g) = row.regression {
            let _ = writeln!(
                details,
                "- `{}`: {} (its `compare.json` holds the detail)",
                cell(row.name),
                cell(&g.describe())
            );
        }
        for e in &r.errors {
            let _ = writeln!(details, "- `{}`: error: {}", cell(row.name), cell(e));
        }
        for t in r.projection.iter().flat_map(|p| p.reaching()) {
            let _ = writeln!(details, "- `{}`: {}", cell(row.name), t.text);
        }
    }
    if !details.is_empty() {
        let _ = writeln!(
            s,
            "\n### Breaches, open passes, errors and projections\n\n{details}"
        );
    }
    s
}

/// One suite per run (see [`super::junit::run_suite`]): a case per
/// threshold, an error case for a run that could not be judged.
fn suite(row: &FleetRow<'_>) -> TestSuite {
    let mut props = vec![("verdict".to_string(), row.verdict.word().to_lowercase())];
    if let Some(c) = row.meta.and_then(|m| m.git_commit.as_deref()) {
        props.push(("git_commit".into(), c.into()));
    }
    let error = (row.verdict == Verdict::Error).then(|| {
        let why = row
            .why
            .map(str::to_string)
            .or_else(|| row.report.and_then(|r| r.errors.first().cloned()))
            .unwrap_or_else(|| "the run ended in error".into());
        (
            why,
            row.report.map_or(String::new(), |r| r.errors.join("\n")),
        )
    });
    let Some(r) = row.report else {
        return super::junit::run_suite(row.name, 0.0, props, error, &[], row.regression);
    };
    props.push(("mode".into(), r.mode.as_str().into()));
    if let Some(b) = &r.backend {
        props.push(("backend".into(), b.name.clone()));
    }
    if let Some(w) = &r.workload {
        props.push(("workload".into(), w.clone()));
    }
    // NOTE: a report of series has one case per threshold of each series,
    // named after it (its own analysis judges nothing).
    let thresholds: Vec<ThresholdResult> = judged_parts(r)
        .into_iter()
        .flat_map(|(series, a)| {
            a.thresholds.iter().cloned().map(move |mut t| {
                if let Some(s) = series {
                    t.threshold.expr = format!("{s}: {}", t.threshold.expr);
                }
                t
            })
        })
        .collect();
    super::junit::run_suite(
        row.name,
        r.analysis.duration_s,
        props,
        error,
        &thresholds,
        row.regression,
    )
}

/// `junit.xml` of a matrix: one suite per run.
pub fn junit_xml(rows: &[FleetRow<'_>]) -> String {
    let mut report = quick_junit::Report::new("memsoak.summary");
    report.add_test_suites(rows.iter().map(suite));
    report
        .to_string()
        .unwrap_or_else(|e| format!("<!-- cannot serialize: {e} -->\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Report {
        Report::from_json(include_str!("../runfolder/fixtures/report-run.json")).unwrap()
    }

    #[test]
    fn one_row_per_run_and_every_breach_named() {
        let r = fixture();
        let rows = [
            FleetRow {
                name: "cell-a",
                verdict: r.verdict,
                report: Some(&r),
                meta: None,
                why: None,
                regression: None,
            },
            FleetRow {
                name: "cell-b",
                verdict: Verdict::Error,
                report: None,
                meta: None,
                why: Some("no report.json: the run did not finish"),
                regression: None,
            },
        ];
        let md = summary_md(Verdict::Error, &rows, ("run", "runs"));
        assert!(md.contains("⚠️ ERROR"), "{md}");
        assert!(md.contains("2 runs: 0 pass, 1 fail, 1 error"), "{md}");
        assert_eq!(md.matches("| `cell-").count(), 2, "{md}");
        let breached: Vec<_> = r
            .analysis
            .thresholds
            .iter()
            .filter(|t| t.outcome == Outcome::Fail)
            .collect();
        assert!(!breached.is_empty());
        for t in breached {
            assert!(
                md.contains(&format!("`cell-a`: `{}` measured", t.threshold.expr)),
                "{md}"
            );
        }
        assert!(md.contains("`cell-b`: no report.json"), "{md}");
        assert!(!md.contains("not conclusive"), "{md}");

        // A pass whose interval reaches past its limit is named.
        let mut open = fixture();
        let t = &mut open.analysis.thresholds[0];
        t.outcome = Outcome::Pass;
        t.conclusive = Some(false);
        t.note =
            "1 MiB/min within 2 MiB/min; not conclusive: the interval reaches 4 MiB/min".into();
        let expr = t.threshold.expr.clone();
        let row = FleetRow {
            name: "cell-c",
            verdict: Verdict::Pass,
            report: Some(&open),
            meta: None,
            why: None,
            regression: None,
        };
        let md = summary_md(Verdict::Pass, &[row], ("run", "runs"));
        // Regression: "1 runs".
        assert!(md.contains("\n1 run: 1 pass, 0 fail, 0 error\n"), "{md}");
        assert!(
            md.contains(&format!(
                "`cell-c`: `{expr}` passed: 1 MiB/min within 2 MiB/min; not conclusive: the interval reaches 4 MiB/min"
            )),
            "{md}"
        );

        let xml = junit_xml(&rows);
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let suites: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name("testsuite"))
            .collect();
        assert_eq!(suites.len(), 2);
        assert_eq!(suites[0].attribute("name"), Some("cell-a"));
        assert_eq!(
            suites[0].attribute("tests"),
            Some(r.analysis.thresholds.len().to_string().as_str())
        );
        assert_eq!(suites[1].attribute("errors"), Some("1"));
    }
}
