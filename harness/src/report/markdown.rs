//! `summary.md`: a short summary for people, fit for `$GITHUB_STEP_SUMMARY`
//! and a PR comment.

use std::fmt::Write;

use super::{Artifact, ExportContext, ExportError, Exporter, Report, Verdict};
use crate::analysis::Outcome;
use crate::units::{fmt_bytes, fmt_secs};

/// The Markdown exporter.
pub struct Markdown;

/// Processes listed in the summary (it must stay short for a PR comment).
const MD_PROCESSES: usize = 5;

impl Exporter for Markdown {
    fn file_name(&self) -> &'static str {
        "summary.md"
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
            s.push_str(&crate::compare::markdown(c));
        }
        s
    }

    /// The summary of a report alone.
    pub fn report_text(&self, r: &Report) -> String {
        let mut s = String::new();
        let icon = match r.verdict {
            Verdict::Pass => "✅ PASS",
            Verdict::Fail => "❌ FAIL",
            Verdict::Error => "⚠️ ERROR",
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
            let _ = write!(what, " · target `{cmd}` ({})", t.status.describe());
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
        if !a.thresholds.is_empty() {
            let _ = writeln!(s, "| threshold | measured | 95% CI | p | outcome |");
            let _ = writeln!(s, "|---|---|---|---|---|");
            for t in &a.thresholds {
                let th = &t.threshold;
                let outcome = match t.outcome {
                    Outcome::Pass => "pass",
                    Outcome::Fail => "**FAIL**",
                    Outcome::Skipped => "skipped",
                };
                let _ = writeln!(
                    s,
                    "| `{}` | {} | {} | {} | {outcome} |",
                    th.expr,
                    t.measured.map_or("–".into(), |v| th.format_value(v)),
                    t.ci.map_or("–".into(), |(lo, hi)| format!(
                        "{} … {}",
                        th.format_value(lo),
                        th.format_value(hi)
                    )),
                    t.p_value.map_or("–".into(), |p| format!("{p:.3}")),
                );
            }
            let _ = writeln!(s);
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

/// `high`, `medium` or `low`.
pub fn confidence_word(c: crate::classify::Confidence) -> &'static str {
    match c {
        crate::classify::Confidence::High => "high",
        crate::classify::Confidence::Medium => "medium",
        crate::classify::Confidence::Low => "low",
    }
}
