//! `report.html`: one self-contained page (inline CSS and SVG charts, no
//! script, nothing fetched) with the run's metadata from `run.json`, the
//! verdict and threshold table, the classification and projection, the
//! baseline comparison and every chart.

use std::fmt::Write;

use serde_json::Value;

use super::junit::xml_escape as esc;
use super::markdown::confidence_word;
use super::{Artifact, ExportContext, ExportError, Exporter};
use crate::analysis::Outcome;
use crate::analysis::verdict::Verdict;
use crate::runfolder::RunMeta;
use crate::units::{fmt_bytes, fmt_secs};

/// The HTML exporter.
pub struct Html;

impl Exporter for Html {
    fn file_name(&self) -> &'static str {
        crate::runfolder::REPORT_HTML
    }

    fn render(&self, ctx: &ExportContext<'_>) -> Result<Vec<Artifact>, ExportError> {
        Ok(vec![Artifact::text(self.file_name(), Html::text(ctx)?)])
    }
}

const STYLE: &str = r#"
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto; max-width: 1260px; color: #1e1e1e; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .3rem; }
h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .92rem; }
th, td { border: 1px solid #ddd; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: .15rem .7rem; border-radius: .3rem; color: #fff; font-weight: 600; }
.pass { background: #1e8c3c; } .fail { background: #c81e1e; } .error { background: #d07000; }
.outcome-fail { color: #c81e1e; font-weight: 600; } .outcome-skipped { color: #777; }
figure { margin: 1rem 0; } figure svg { width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9rem; }
code { background: #f4f4f4; padding: 0 .2rem; border-radius: .2rem; }
.muted { color: #666; }
"#;

fn row(s: &mut String, k: &str, v: &str) {
    let _ = writeln!(s, "<tr><th>{}</th><td>{}</td></tr>", esc(k), v);
}

/// The software a run used, as `run.json` records it: every entry of
/// `versions` (memsoak's own first, then the libraries it records), then
/// the backend and model it ran. `None` without a `run.json`.
pub fn versions(run: Option<&RunMeta>) -> Option<String> {
    let run = run?;
    let mut kv: Vec<_> = run.versions.iter().collect();
    kv.sort_by_key(|(k, _)| *k != "memsoak");
    let mut parts: Vec<String> = kv
        .into_iter()
        .map(|(k, v)| format!("{k} {}", v.as_deref().unwrap_or("–")))
        .collect();
    if let Some(b) = &run.backend {
        let mut text = format!("backend {}", b.name);
        if let Some(m) = &b.model {
            text.push_str(&format!(", model {m}"));
        }
        if let Some(d) = b.dim {
            text.push_str(&format!(" (dim {d})"));
        }
        parts.push(text);
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

/// The allocator settings `run.json` records: `_RJEM_MALLOC_CONF` from the
/// environment (`allocator.env_malloc_conf`) and what memsoak applied at
/// run time (`allocator_applied`). `in_process`: the embedder ran inside
/// memsoak, so the settings are the pipeline's; otherwise they are only
/// memsoak's own. `None` without a `run.json`.
pub fn allocator(run: Option<&RunMeta>, in_process: bool) -> Option<String> {
    let run = run?;
    let mut parts = Vec::new();
    if let Some(e) = &run.allocator.env_malloc_conf {
        parts.push(format!("_RJEM_MALLOC_CONF={e} (environment)"));
    }
    if let Some(a) = &run.allocator_applied {
        parts.push(format!("applied by memsoak: {a}"));
    }
    if parts.is_empty() {
        parts.push("jemalloc defaults".into());
    }
    let mut text = parts.join(" · ");
    if !in_process {
        text.push_str(" (memsoak's own jemalloc; the target keeps its own allocator)");
    }
    Some(text)
}

impl Html {
    /// The whole page.
    pub fn text(ctx: &ExportContext<'_>) -> Result<String, ExportError> {
        let r = ctx.report;
        let a = &r.analysis;
        let (class, word) = match r.verdict {
            Verdict::Pass => ("pass", "PASS"),
            Verdict::Fail => ("fail", "FAIL"),
            Verdict::Error => ("error", "ERROR"),
        };
        let mut s = String::new();
        let _ = writeln!(
            s,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>memsoak {word}</title>\n<style>{STYLE}</style>\n</head>\n<body>"
        );
        let what = [
            r.backend.as_ref().map(|b| format!("backend {}", b.name)),
            r.workload.as_ref().map(|w| format!("workload {w}")),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" · ");
        let _ = writeln!(
            s,
            "<h1>memsoak <span class=\"badge {class}\">{word}</span></h1>\n<p class=\"muted\">{} · {} · {} · {} samples{} · ended by {} · exit code {}</p>",
            esc(&r.mode),
            esc(&what),
            fmt_secs(a.duration_s),
            a.samples,
            a.items.map_or(String::new(), |i| format!(" · {i} items")),
            esc(&r.ended_by),
            r.exit_code
        );
        for e in &r.errors {
            let _ = writeln!(s, "<p class=\"outcome-fail\">Error: {}</p>", esc(e));
        }
        if r.interrupted {
            let _ = writeln!(
                s,
                "<p><b>Interrupted</b>: the report covers the samples taken so far.</p>"
            );
        }
        if let Some(f) = &r.fail_fast {
            let _ = writeln!(s, "<p><b>Stopped early (fail-fast)</b>: {}</p>", esc(f));
        }

        // Metadata.
        let _ = writeln!(s, "<h2>Run</h2>\n<table>");
        let run = ctx.run;
        if let Some(m) = run {
            row(
                &mut s,
                "commit",
                &format!(
                    "<code>{}</code>",
                    esc(m.git_commit.as_deref().unwrap_or("–"))
                ),
            );
        }
        if let Some(b) = &r.backend {
            row(&mut s, "backend", &esc(&b.name));
            row(&mut s, "model", &esc(b.model.as_deref().unwrap_or("–")));
            if !b.details.is_empty() {
                row(
                    &mut s,
                    "backend details",
                    &esc(&Value::Object(b.details.clone()).to_string()),
                );
            }
        }
        if let Some(w) = &r.workload {
            row(&mut s, "workload", &esc(w));
        }
        if let Some(t) = &r.target {
            let cmd = t
                .command
                .as_ref()
                .map_or(format!("pid {}", t.pid), |c| c.join(" "));
            row(
                &mut s,
                "target",
                &format!("<code>{}</code> ({})", esc(&cmd), esc(&t.status.describe())),
            );
        }
        if let Some(h) = run.and_then(|m| m.host.as_ref()) {
            let mut parts = vec![
                format!("hostname {}", h.hostname),
                format!("kernel {}", h.kernel),
                format!("cpus {}", h.cpus),
            ];
            if let Some(m) = h.mem_total {
                parts.push(format!("memory {}", fmt_bytes(m as f64)));
            }
            row(&mut s, "host", &esc(&parts.join(" · ")));
        }
        if let Some(text) = versions(run) {
            row(&mut s, "versions", &esc(&text));
        }
        if let Some(m) = run {
            row(
                &mut s,
                "started",
                &esc(m.started_at.as_deref().unwrap_or("–")),
            );
            row(
                &mut s,
                "command line",
                &format!("<code>{}</code>", esc(&m.command_line.join(" "))),
            );
        }
        if let Some(text) = allocator(run, r.mode == "run" && r.target.is_none()) {
            row(&mut s, "allocator", &esc(&text));
        }
        row(
            &mut s,
            "analysis",
            &esc(&format!(
                "warm-up {} · confidence {:.0}%",
                r.warmup,
                r.confidence * 100.0
            )),
        );
        let _ = writeln!(s, "</table>");

        // Thresholds.
        if !a.thresholds.is_empty() {
            let _ = writeln!(
                s,
                "<h2>Thresholds</h2>\n<table>\n<tr><th>threshold</th><th>measured</th><th>{:.0}% CI</th><th>p</th><th>outcome</th><th>note</th></tr>",
                r.confidence * 100.0
            );
            for t in &a.thresholds {
                let th = &t.threshold;
                let (cls, o) = match t.outcome {
                    Outcome::Pass => ("", "pass"),
                    Outcome::Fail => ("outcome-fail", "FAIL"),
                    Outcome::Skipped => ("outcome-skipped", "skipped"),
                };
                let _ = writeln!(
                    s,
                    "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"{cls}\">{o}</td><td>{}</td></tr>",
                    esc(&th.expr),
                    esc(&t.measured.map_or("–".into(), |v| th.format_value(v))),
                    esc(&t.ci.map_or("–".into(), |(lo, hi)| format!(
                        "{} … {}",
                        th.format_value(lo),
                        th.format_value(hi)
                    ))),
                    t.p_value.map_or("–".into(), |p| format!("{p:.3}")),
                    esc(&t.note)
                );
            }
            let _ = writeln!(s, "</table>");
        }

        // Classification and projection.
        if let Some(c) = &r.classification {
            let _ = writeln!(
                s,
                "<h2>Classification</h2>\n<p><b>{}</b> ({} confidence). {}</p>",
                esc(c.pattern.title()),
                confidence_word(c.confidence),
                esc(&c.summary)
            );
            if !c.advice.is_empty() {
                let _ = writeln!(s, "<ul>");
                for a in &c.advice {
                    let _ = writeln!(s, "<li>{}</li>", esc(a));
                }
                let _ = writeln!(s, "</ul>");
            }
            if c.processes.len() >= 2 {
                let _ = writeln!(
                    s,
                    "<h3>Processes of the tree</h3>\n<table>\n<tr><th>pid</th><th>process</th><th>seen</th><th>growth after warm-up</th><th>drift</th><th>p</th><th>max</th></tr>"
                );
                for p in &c.processes {
                    let named = c.process.as_ref().is_some_and(|f| f.pid == p.pid);
                    let _ = writeln!(
                        s,
                        "<tr><td class=\"num{}\">{}</td><td><code>{}</code></td><td class=\"num\">{} … {}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                        if named { " outcome-fail" } else { "" },
                        p.pid,
                        esc(&p.name),
                        fmt_secs(p.first_s),
                        fmt_secs(p.last_s),
                        p.growth.map_or("–".into(), fmt_bytes),
                        p.slope_per_min
                            .map_or("–".into(), |r| format!("{}/min", fmt_bytes(r))),
                        p.p_value.map_or("–".into(), |v| format!("{v:.3}")),
                        fmt_bytes(p.max)
                    );
                }
                let _ = writeln!(s, "</table>");
            }
        }
        if let Some(p) = &r.projection {
            let all: Vec<&crate::analysis::projection::TimeTo> =
                p.out_of_memory.iter().chain(&p.caps).collect();
            if !all.is_empty() {
                let _ = writeln!(s, "<h2>Projection</h2>\n<ul>");
                for t in all {
                    let _ = writeln!(s, "<li>{}</li>", esc(&t.text));
                }
                let _ = writeln!(s, "</ul>");
            }
        }

        // Comparison.
        if let Some(c) = ctx.comparison {
            let _ = writeln!(
                s,
                "<h2>Compared with baseline <code>{}</code>: <span class=\"badge {}\">{}</span></h2>",
                esc(&c.baseline.name),
                if c.regression { "fail" } else { "pass" },
                if c.regression {
                    "REGRESSION"
                } else {
                    "no regression"
                }
            );
            let _ = writeln!(
                s,
                "<p class=\"muted\">baseline commit {} · tolerances: drift +{}/min, max +{:.0}%</p>",
                esc(c.baseline.git_commit.as_deref().unwrap_or("–")),
                fmt_bytes(c.tolerances.slope_per_min),
                c.tolerances.max_relative * 100.0
            );
            let _ = writeln!(
                s,
                "<table>\n<tr><th>metric</th><th>outcome</th><th>detail</th></tr>"
            );
            for m in &c.metrics {
                let _ = writeln!(
                    s,
                    "<tr><td><code>{}</code></td><td class=\"{}\">{}</td><td>{}</td></tr>",
                    m.metric,
                    if m.regression { "outcome-fail" } else { "" },
                    if m.regression { "REGRESSION" } else { "ok" },
                    esc(&m.note)
                );
            }
            let _ = writeln!(s, "</table>");
            for w in &c.warnings {
                let _ = writeln!(s, "<p class=\"muted\">Note: {}</p>", esc(w));
            }
        }

        // Metrics.
        let _ = writeln!(
            s,
            "<h2>Metrics</h2>\n<table>\n<tr><th>metric</th><th>warm-up end</th><th>drift</th><th>per 1k items</th><th>p</th><th>growth</th><th>max</th><th>last</th><th>method</th></tr>"
        );
        for m in &a.metrics {
            let _ = writeln!(
                s,
                "<tr><td><code>{}</code><br><span class=\"muted\">{}</span></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                m.metric,
                esc(m.metric.describe()),
                fmt_secs(m.warmup_end_s),
                m.slope_per_min.map_or("–".into(), |e| format!(
                    "{}/min{}",
                    fmt_bytes(e.value),
                    if m.significant { " *" } else { "" }
                )),
                m.slope_per_1k.map_or("–".into(), |e| fmt_bytes(e.value)),
                m.trend_p_value.map_or("–".into(), |p| format!("{p:.3}")),
                m.growth.map_or("–".into(), fmt_bytes),
                fmt_bytes(m.max),
                fmt_bytes(m.last),
                esc(m.method.as_deref().unwrap_or("–"))
            );
        }
        let _ = writeln!(
            s,
            "</table>\n<p class=\"muted\">* statistically significant at {:.0}%</p>",
            r.confidence * 100.0
        );

        // Charts.
        let specs = super::chart::specs(ctx);
        if !specs.is_empty() {
            let _ = writeln!(s, "<h2>Charts</h2>");
        }
        for spec in &specs {
            let svg = super::chart::render_svg(spec)?;
            // NOTE: an XML prolog is not allowed inside HTML.
            let svg = svg
                .strip_prefix("<?xml")
                .and_then(|rest| rest.split_once("?>").map(|(_, b)| b))
                .unwrap_or(&svg);
            let _ = writeln!(
                s,
                "<figure id=\"{}\">\n{}\n<figcaption>{} — {}</figcaption>\n</figure>",
                esc(&spec.file_stem),
                svg.trim(),
                esc(&spec.title),
                esc(&spec.subtitle)
            );
        }
        if !r.notes.is_empty() {
            let _ = writeln!(s, "<h2>Notes</h2>\n<ul>");
            for n in &r.notes {
                let _ = writeln!(s, "<li>{}</li>", esc(n));
            }
            let _ = writeln!(s, "</ul>");
        }
        if let Some(t) = &r.target
            && !t.stderr_tail.is_empty()
        {
            let _ = writeln!(
                s,
                "<h2>Target stderr (tail)</h2>\n<pre>{}</pre>",
                esc(&t.stderr_tail)
            );
        }
        let _ = writeln!(s, "</body>\n</html>");
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocator_and_versions_come_from_what_run_json_records() {
        // Regression: the allocator row looked up `/allocator/malloc_conf`,
        // a key run.json never had, so it never appeared.
        let read = |v: serde_json::Value| -> RunMeta { serde_json::from_value(v).unwrap() };
        let run = read(serde_json::json!({
            "mode": "run",
            "versions": { "memsoak": "0.1.0" },
            "allocator": { "env_malloc_conf": null },
            "allocator_applied": "dirty_decay_ms:-1,muzzy_decay_ms:-1",
            "backend": { "name": "candle", "model": "all-MiniLM-L6-v2", "dim": 384, "details": {} },
        }));
        assert_eq!(
            allocator(Some(&run), true).as_deref(),
            Some("applied by memsoak: dirty_decay_ms:-1,muzzy_decay_ms:-1")
        );
        assert_eq!(
            versions(Some(&run)).as_deref(),
            Some("memsoak 0.1.0 · backend candle, model all-MiniLM-L6-v2 (dim 384)")
        );
        let watch = read(serde_json::json!({
            "mode": "watch",
            "versions": { "memsoak": "0.1.0" },
            "allocator": { "env_malloc_conf": "narenas:2" },
        }));
        assert_eq!(
            allocator(Some(&watch), false).as_deref(),
            Some(
                "_RJEM_MALLOC_CONF=narenas:2 (environment) (memsoak's own jemalloc; the target keeps its own allocator)"
            )
        );
        assert_eq!(versions(Some(&watch)).as_deref(), Some("memsoak 0.1.0"));
        let bare = read(serde_json::json!({ "allocator": { "env_malloc_conf": null } }));
        assert_eq!(
            allocator(Some(&bare), true).as_deref(),
            Some("jemalloc defaults")
        );
        assert_eq!(allocator(None, true), None);
    }
}
