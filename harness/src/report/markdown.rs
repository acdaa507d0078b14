//! `summary.md`: a short summary for people, fit for `$GITHUB_STEP_SUMMARY`
//! and a PR comment.

use std::fmt::Write;

use super::{Artifact, ExportContext, ExportError, Exporter};
use crate::analysis::compare::{Comparison, slope_text};
use crate::analysis::threshold::Op;
use crate::analysis::verdict::Verdict;
use crate::analysis::{Outcome, ThresholdResult};
use crate::runfolder::Report;
use crate::units::{fmt_bytes, fmt_percent, fmt_secs};

/// The Markdown exporter.
pub struct Markdown;

/// Processes listed in the summary (it must stay short for a PR comment).
const MD_PROCESSES: usize = 5;

impl Exporter for Markdown {
    fn file_name(&self) -> &'static str {
        crate::runfolder::SUMMARY_MD
    }

    fn render(&self, ctx: &ExportContext<'_>) -> Result<Vec<Artifact>, ExportError> {
        Ok(vec![Artifact::text(self.file_name(), self.text(ctx))])
    }
}

impl Markdown {
    /// The summary, with the baseline comparison when the context has one.
    pub fn text(&self, ctx: &ExportContext<'_>) -> String {
        let mut s = self.report_text(ctx.report);
        if let Some(c) = ctx.comparison {
            s.push('\n');
            s.push_str(&comparison(c));
        }
        s
    }

    /// The summary of a report alone.
    pub fn report_text(&self, r: &Report) -> String {
        let mut s = String::new();
        let icon = match r.verdict {
            _ if r.interrupted => format!("⚠️ {}", r.headline()),
            Verdict::Pass => "✅ PASS".to_string(),
            Verdict::Fail => "❌ FAIL".to_string(),
            Verdict::Error => "⚠️ ERROR".to_string(),
        };
        let a = &r.analysis;
        let _ = writeln!(s, "## memsoak: {icon}\n");
        let mut what = format!("`{}`", r.mode);
        if let Some(b) = &r.backend {
            let _ = write!(what, " · backend `{}`", b.name);
            if let Some(m) = &b.model {
                let _ = write!(what, " (`{m}`)");
            }
        }
        if let Some(w) = &r.workload {
            let _ = write!(what, " · workload `{w}`");
        }
        if let Some(t) = &r.target {
            let cmd = t
                .command
                .as_ref()
                .map_or(format!("pid {}", t.pid), |c| c.join(" "));
            let _ = write!(what, " · target `{cmd}` ({})", t.describe(&r.ended_by));
        }
        let _ = writeln!(
            s,
            "{what} · {} · {} samples{} · ended by {} · exit code {}\n",
            fmt_secs(a.duration_s),
            a.samples,
            a.items.map_or(String::new(), |i| format!(" · {i} items")),
            r.ended_by,
            r.exit_code
        );
        if r.interrupted {
            let _ = writeln!(
                s,
                "**Interrupted**: the report covers the samples taken so far.\n"
            );
        }
        if let Some(f) = &r.fail_fast {
            let _ = writeln!(s, "**Stopped early (fail-fast)**: {f}\n");
        }
        for e in &r.errors {
            let _ = writeln!(s, "**Error**: {e}\n");
        }
        if let Some(g) = &r.regression {
            let _ = writeln!(
                s,
                "**Regression**: {} fails this run (exit {}).\n",
                g.describe(),
                r.exit_code
            );
        }
        for g in &a.gaps {
            let _ = writeln!(s, "**Gap**: {}\n", g.describe());
        }
        if !a.thresholds.is_empty() {
            let _ = writeln!(
                s,
                "| threshold | measured | {} CI | p | outcome |",
                fmt_percent(r.confidence)
            );
            let _ = writeln!(s, "|---|---|---|---|---|");
            for t in &a.thresholds {
                let th = &t.threshold;
                let outcome = match t.outcome {
                    Outcome::Pass if t.inconclusive_pass() => "pass, not conclusive",
                    Outcome::Pass => "pass",
                    Outcome::Fail if t.inconclusive_breach() => "**FAIL**, not conclusive",
                    Outcome::Fail => "**FAIL**",
                    Outcome::Skipped => "skipped",
                };
                let _ = writeln!(
                    s,
                    "| `{}` | {} | {} | {} | {outcome} |",
                    th.expr,
                    t.measured_text().unwrap_or_else(|| "–".into()),
                    t.ci_text().unwrap_or_else(|| "–".into()),
                    t.p_value.map_or("–".into(), crate::units::fmt_p),
                );
            }
            let _ = writeln!(s);
            for t in &a.thresholds {
                if t.window.is_some() {
                    let why = t
                        .note
                        .strip_prefix("growth began late: ")
                        .unwrap_or(&t.note);
                    let _ = writeln!(
                        s,
                        "**Growth began late** (`{}`): {why}.\n",
                        t.threshold.expr
                    );
                }
                if let Some(line) = not_conclusive(t) {
                    let _ = writeln!(s, "{line}\n");
                }
            }
        }
        let _ = writeln!(s, "| metric | warm-up end | slope | growth | max | last |");
        let _ = writeln!(s, "|---|---|---|---|---|---|");
        for m in &a.metrics {
            let slope = m.slope_per_min.map_or("–".into(), |e| {
                format!(
                    "{}/min{}{}",
                    fmt_bytes(e.value),
                    if m.significant { " (significant)" } else { "" },
                    m.model
                        .as_deref()
                        .map_or(String::new(), |model| format!(", {model} fit"))
                )
            });
            let _ = writeln!(
                s,
                "| `{}` | {} | {slope} | {} | {} | {} |",
                m.metric,
                fmt_secs(m.warmup_end_s),
                m.growth.map_or("–".into(), fmt_bytes),
                fmt_bytes(m.max),
                fmt_bytes(m.last)
            );
        }
        if let Some(c) = &r.classification {
            let _ = writeln!(
                s,
                "\n**Pattern: {}** ({} confidence). {}",
                c.pattern.title(),
                confidence_word(c.confidence),
                c.summary
            );
            for a in &c.advice {
                let _ = writeln!(s, "- {a}");
            }
            if c.processes.len() >= 2 {
                let _ = writeln!(
                    s,
                    "\n| pid | process | growth after warm-up | drift | max |\n|---|---|---|---|---|"
                );
                for p in c.processes.iter().take(MD_PROCESSES) {
                    let named = c.process.as_ref().is_some_and(|f| f.pid == p.pid);
                    let _ = writeln!(
                        s,
                        "| {}{} | `{}` | {} | {} | {} |",
                        p.pid,
                        if named { " ⬅" } else { "" },
                        p.name.replace('|', "\\|").replace('`', "'"),
                        p.growth.map_or("–".into(), fmt_bytes),
                        p.slope_per_min
                            .map_or("–".into(), |r| format!("{}/min", fmt_bytes(r))),
                        fmt_bytes(p.max)
                    );
                }
            }
        }
        if let Some(p) = &r.projection {
            let lines: Vec<&str> = p.reaching().map(|t| t.text.as_str()).collect();
            if !lines.is_empty() {
                let _ = writeln!(s, "\n**Projection**:");
                for l in lines {
                    let _ = writeln!(s, "- {l}");
                }
            }
        }
        if let Some(at) = &r.attribution {
            attribution_text(&mut s, at);
        }
        for n in &r.notes {
            let _ = writeln!(s, "\n_{n}_\n");
        }
        if let Some(t) = &r.target
            && t.status.is_failure()
            && !t.stderr_tail.is_empty()
        {
            let tail: Vec<&str> = t.stderr_tail.lines().rev().take(15).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            let _ = writeln!(
                s,
                "\n<details><summary>target stderr (tail)</summary>\n\n```\n{}\n```\n</details>",
                tail.join("\n")
            );
        }
        s
    }
}

/// The "where it grows" section: the top sites of `--attribute` in a short
/// table, what the tracer could see, and its notes.
fn attribution_text(s: &mut String, at: &crate::analysis::attribution::Attribution) {
    let _ = writeln!(
        s,
        "\n**Where it grows** ({}, {} snapshot(s)):\n",
        at.source, at.snapshots
    );
    let named: Vec<_> = at.sites.iter().filter(|x| x.significant).collect();
    if named.is_empty() {
        let _ = writeln!(
            s,
            "No allocation site grew significantly above the materiality floor."
        );
    } else {
        let _ = writeln!(
            s,
            "| site | code | growth | first → last | drift | p | share |"
        );
        let _ = writeln!(s, "|---|---|---|---|---|---|---|");
        for x in named.iter().take(MD_SITES) {
            let cell = |t: &str| t.replace('|', "\\|").replace('`', "'");
            let _ = writeln!(
                s,
                "| `{}` | `{}` | {} | {} → {} | {}/min | {} | {} |",
                cell(&x.short()),
                cell(&x.code),
                fmt_bytes(x.growth),
                fmt_bytes(x.bytes_first),
                fmt_bytes(x.bytes_last),
                fmt_bytes(x.slope_per_min.value),
                crate::units::fmt_p(x.p_value),
                x.share.map_or("–".into(), |v| format!("{:.0}%", 100.0 * v))
            );
        }
    }
    let _ = writeln!(s, "\n_{}_", at.visibility);
    for n in &at.notes {
        let _ = writeln!(s, "\n_{n}_");
    }
}

/// Sites listed in summary.md.
const MD_SITES: usize = 5;

/// `high`, `medium` or `low`.
pub fn confidence_word(c: crate::analysis::classify::Confidence) -> &'static str {
    match c {
        crate::analysis::classify::Confidence::High => "high",
        crate::analysis::classify::Confidence::Medium => "medium",
        crate::analysis::classify::Confidence::Low => "low",
    }
}

/// The comparison as a Markdown section (appended to `summary.md`).
pub fn comparison(c: &Comparison) -> String {
    let mut s = String::new();
    let b = &c.baseline;
    let _ = writeln!(
        s,
        "### Compared with baseline `{}`: {}\n",
        b.name,
        if c.regression {
            "❌ REGRESSION"
        } else {
            "✅ no regression"
        }
    );
    let mut meta = Vec::new();
    if let Some(g) = &b.git_commit {
        meta.push(format!(
            "commit `{}`",
            g.chars().take(12).collect::<String>()
        ));
    }
    if let Some(x) = &b.backend {
        meta.push(format!("backend `{x}`"));
    }
    if let Some(x) = &b.model {
        meta.push(format!("model `{x}`"));
    }
    if let Some(x) = &b.workload {
        meta.push(format!("workload `{x}`"));
    }
    meta.push(crate::units::fmt_secs(b.duration_s));
    let _ = writeln!(
        s,
        "Baseline: {} · tolerances: drift +{}/min, max +{:.0}%\n",
        meta.join(" · "),
        fmt_bytes(c.tolerances.slope_per_min),
        c.tolerances.max_relative * 100.0
    );
    let _ = writeln!(
        s,
        "| metric | drift (this run) | drift (baseline) | max (this run) | max (baseline) | outcome |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for m in &c.metrics {
        let outcome = match (m.slope_regression, m.max_regression) {
            (true, true) => "**REGRESSION** (drift, max)",
            (true, false) => "**REGRESSION** (drift)",
            (false, true) => "**REGRESSION** (max)",
            _ => "ok",
        };
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} | {} | {outcome} |",
            m.metric,
            slope_text(m.current_slope),
            slope_text(m.baseline_slope),
            m.current_max.map_or("–".into(), fmt_bytes),
            m.baseline_max.map_or("–".into(), fmt_bytes),
        );
    }
    for w in &c.warnings {
        let _ = writeln!(s, "\n_Note: {w}_");
    }
    s
}

/// One line on a pass whose interval still reaches past its limit (what
/// it does not rule out and, where it can be said, how long a run would),
/// or on a breach whose interval reaches back within it.
fn not_conclusive(t: &ThresholdResult) -> Option<String> {
    let th = &t.threshold;
    let (lo, hi) = t.ci?;
    let upper = matches!(th.op, Op::Lt | Op::Le);
    if t.inconclusive_breach() {
        return Some(format!(
            "**Not conclusive**: `{}` failed (the trend is significant and its estimate past the limit), but its interval reaches back to {}: a drift within the limit is not ruled out.",
            th.expr,
            th.format_value(if upper { lo } else { hi })
        ));
    }
    if !t.inconclusive_pass() {
        return None;
    }
    let measured_within = t.measured.is_some_and(|v| th.op.holds(v, th.limit));
    let mut line = if measured_within {
        format!(
            "**Not conclusive**: `{}` passed, but its interval reaches {}: a drift at the limit is not ruled out.",
            th.expr,
            th.format_value(if upper { hi } else { lo })
        )
    } else {
        format!("**Not conclusive**: `{}`: {}.", th.expr, t.note)
    };
    if let Some(run) = t.settle_run_s.filter(|_| measured_within) {
        let _ = write!(
            line,
            " A run of {} would settle it if the drift stays at its estimate.",
            crate::units::fmt_about_secs(run)
        );
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_column_names_the_run_s_confidence() {
        let mut r =
            Report::from_json(include_str!("../runfolder/fixtures/report-watch.json")).unwrap();
        assert!(!r.analysis.thresholds.is_empty());
        r.confidence = 0.99;
        let text = Markdown.report_text(&r);
        assert!(
            text.contains("| threshold | measured | 99% CI | p | outcome |"),
            "{text}"
        );
        r.confidence = 0.999;
        assert!(Markdown.report_text(&r).contains("| 99.9% CI |"));
    }

    #[test]
    fn a_gap_in_the_samples_is_named_with_its_times() {
        let mut r =
            Report::from_json(include_str!("../runfolder/fixtures/report-watch.json")).unwrap();
        assert!(!Markdown.report_text(&r).contains("**Gap**"));
        r.analysis.gaps = vec![crate::analysis::SampleGap {
            from_s: 30.0,
            to_s: 80.0,
            cadence_s: 1.0,
        }];
        let text = Markdown.report_text(&r);
        assert!(
            text.contains(
                "**Gap**: no sample from 30 s to 80 s (50 s, where samples came every 1 s)"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_pass_that_does_not_rule_out_the_limit_says_so_and_how_long_would() {
        let mut r =
            super::super::fixture_with_first_threshold(Outcome::Pass, 0.2, (-1.0, 2.5), false);
        let t = &mut r.analysis.thresholds[0];
        t.settle_run_s = Some(600.0);
        let expr = t.threshold.expr.clone();
        let text = Markdown.report_text(&r);
        assert!(text.contains("| pass, not conclusive |"), "{text}");
        assert!(
            text.contains(&format!(
                "**Not conclusive**: `{expr}` passed, but its interval reaches"
            )),
            "{text}"
        );
        assert!(
            text.contains("A run of about 10.0 min would settle it"),
            "{text}"
        );
        // Regression: "A run of about under 1 ms" (a samples file over µs).
        r.analysis.thresholds[0].settle_run_s = Some(59e-6);
        let text = Markdown.report_text(&r);
        assert!(
            text.contains("A run of under 1 ms would settle it"),
            "{text}"
        );
        r.analysis.thresholds[0].settle_run_s = Some(600.0);
        // Settled: no such line.
        r.analysis.thresholds[0].conclusive = Some(true);
        let text = Markdown.report_text(&r);
        assert!(!text.contains("Not conclusive"), "{text}");
        assert!(!text.contains("not conclusive"), "{text}");
    }

    #[test]
    fn a_breach_whose_interval_reaches_back_within_the_limit_says_so() {
        let mut r =
            super::super::fixture_with_first_threshold(Outcome::Fail, 3.0, (0.7, 7.0), false);
        let t = &r.analysis.thresholds[0];
        let limit = t.threshold.limit;
        let (expr, low) = (
            t.threshold.expr.clone(),
            t.threshold.format_value(0.7 * limit),
        );
        let text = Markdown.report_text(&r);
        assert!(text.contains("| **FAIL**, not conclusive |"), "{text}");
        assert!(
            text.contains(&format!(
                "**Not conclusive**: `{expr}` failed (the trend is significant and its estimate past the limit), but its interval reaches back to {low}"
            )),
            "{text}"
        );
        // All of the interval past the limit: a plain breach.
        r.analysis.thresholds[0].ci = Some((1.5 * limit, 7.0 * limit));
        r.analysis.thresholds[0].conclusive = Some(true);
        let text = Markdown.report_text(&r);
        assert!(text.contains("| **FAIL** |"), "{text}");
        assert!(!text.contains("not conclusive"), "{text}");
    }
}
