//! `report.html`: one self-contained page (inline CSS and SVG charts, no
//! script, nothing fetched) with the run's metadata from `run.json`, the
//! verdict and threshold table, the classification and projection, the
//! baseline comparison and every chart.

use maud::{DOCTYPE, Markup, PreEscaped, Render, html};
use serde_json::Value;

use super::markdown::confidence_word;
use super::{Artifact, ExportContext, ExportError, Exporter};
use crate::analysis::Outcome;
use crate::analysis::verdict::Verdict;
use crate::runfolder::RunMeta;
use crate::units::{fmt_bytes, fmt_percent, fmt_secs};

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
.sites { display: grid; grid-template-columns: repeat(auto-fit, minmax(520px, 1fr)); gap: 0 1rem; }
"#;

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
    if let Some(g) = &run.allocator.global {
        parts.push(format!("{g} (a heap-profiling build, not jemalloc)"));
    }
    if parts.is_empty() {
        parts.push("jemalloc defaults".into());
    }
    let mut text = parts.join(" · ");
    if !in_process {
        let own = run.allocator.global.as_deref().unwrap_or("jemalloc");
        text.push_str(&format!(
            " (memsoak's own {own}; the target keeps its own allocator)"
        ));
    }
    Some(text)
}

/// `<tr><th>k</th><td>v</td></tr>`.
fn row(k: &str, v: impl Render) -> Markup {
    html! { tr { th { (k) } td { (v) } } }
}

/// A number cell, or "–" when there is none.
fn num(v: Option<String>) -> Markup {
    html! { td.num { (v.as_deref().unwrap_or("–")) } }
}

fn header(ctx: &ExportContext<'_>, class: &str, word: &str) -> Markup {
    let r = ctx.report;
    let a = &r.analysis;
    let what = [
        r.backend.as_ref().map(|b| format!("backend {}", b.name)),
        r.workload.as_ref().map(|w| format!("workload {w}")),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" · ");
    let line = format!(
        "{} · {} · {} · {} samples{} · ended by {} · exit code {}",
        r.mode,
        what,
        fmt_secs(a.duration_s),
        a.samples,
        a.items.map_or(String::new(), |i| format!(" · {i} items")),
        r.ended_by,
        r.exit_code
    );
    html! {
        h1 { "memsoak " span class={ "badge " (class) } { (word) } }
        p.muted { (line) }
        @for e in &r.errors { p.outcome-fail { "Error: " (e) } }
        @for g in &a.gaps { p { b { "Gap" } ": " (g.describe()) } }
        @if r.interrupted {
            p { b { "Interrupted" } ": the report covers the samples taken so far." }
        }
        @if let Some(f) = &r.fail_fast {
            p { b { "Stopped early (fail-fast)" } ": " (f) }
        }
    }
}

fn run_table(ctx: &ExportContext<'_>) -> Markup {
    let r = ctx.report;
    let run = ctx.run;
    let host = run.and_then(|m| m.host.as_ref()).map(|h| {
        let mut parts = vec![
            format!("hostname {}", h.hostname),
            format!("kernel {}", h.kernel),
            format!("cpus {}", h.cpus),
        ];
        if let Some(m) = h.mem_total {
            parts.push(format!("memory {}", fmt_bytes(m as f64)));
        }
        parts.join(" · ")
    });
    html! {
        h2 { "Run" }
        table {
            @if let Some(m) = run {
                (row("commit", html! { code { (m.git_commit.as_deref().unwrap_or("–")) } }))
            }
            @if let Some(b) = &r.backend {
                (row("backend", &b.name))
                (row("model", b.model.as_deref().unwrap_or("–")))
                @if !b.details.is_empty() {
                    (row("backend details", Value::Object(b.details.clone()).to_string()))
                }
            }
            @if let Some(w) = &r.workload { (row("workload", w)) }
            @if let Some(t) = &r.target {
                (row("target", html! {
                    code { (t.command.as_ref().map_or(format!("pid {}", t.pid), |c| c.join(" "))) }
                    " (" (t.describe(&r.ended_by)) ")"
                }))
            }
            @if let Some(h) = host { (row("host", h)) }
            @if let Some(v) = versions(run) { (row("versions", v)) }
            @if let Some(m) = run {
                (row("started", m.started_at.as_deref().unwrap_or("–")))
                (row("command line", html! { code { (m.command_line.join(" ")) } }))
            }
            @if let Some(text) = allocator(run, r.mode == "run" && r.target.is_none()) {
                (row("allocator", text))
            }
            (row("analysis", format!("warm-up {} · confidence {}", r.warmup, fmt_percent(r.confidence))))
        }
    }
}

fn thresholds(ctx: &ExportContext<'_>) -> Markup {
    let r = ctx.report;
    let a = &r.analysis;
    html! {
        @if !a.thresholds.is_empty() {
            h2 { "Thresholds" }
            table {
                tr {
                    th { "threshold" } th { "measured" } th { (format!("{} CI", fmt_percent(r.confidence))) }
                    th { "p" } th { "outcome" } th { "note" }
                }
                @for t in &a.thresholds {
                    @let th = &t.threshold;
                    @let (cls, o) = match t.outcome {
                        Outcome::Pass if t.inconclusive_pass() => ("", "pass, not conclusive"),
                        Outcome::Pass => ("", "pass"),
                        Outcome::Fail => ("outcome-fail", "FAIL"),
                        Outcome::Skipped => ("outcome-skipped", "skipped"),
                    };
                    tr {
                        td { code { (th.expr) } }
                        (num(t.measured_text()))
                        (num(t.ci_text()))
                        (num(t.p_value.map(crate::units::fmt_p)))
                        td class=(cls) { (o) }
                        td { (t.note) }
                    }
                }
            }
        }
    }
}

fn classification(ctx: &ExportContext<'_>) -> Markup {
    let r = ctx.report;
    let projections: Vec<&crate::analysis::projection::TimeTo> =
        r.projection.iter().flat_map(|p| p.all()).collect();
    html! {
        @if let Some(c) = &r.classification {
            h2 { "Classification" }
            p { b { (c.pattern.title()) } " (" (confidence_word(c.confidence)) " confidence). " (c.summary) }
            @if !c.advice.is_empty() {
                ul { @for a in &c.advice { li { (a) } } }
            }
            @if c.processes.len() >= 2 {
                h3 { "Processes of the tree" }
                table {
                    tr {
                        th { "pid" } th { "process" } th { "seen" } th { "growth after warm-up" }
                        th { "drift" } th { "p" } th { "max" }
                    }
                    @for p in &c.processes {
                        @let named = c.process.as_ref().is_some_and(|f| f.pid == p.pid);
                        tr {
                            td class={ "num" @if named { " outcome-fail" } } { (p.pid) }
                            td { code { (p.name) } }
                            td.num { (fmt_secs(p.first_s)) " … " (fmt_secs(p.last_s)) }
                            (num(p.growth.map(fmt_bytes)))
                            (num(p.slope_per_min.map(|r| format!("{}/min", fmt_bytes(r)))))
                            (num(p.p_value.map(crate::units::fmt_p)))
                            td.num { (fmt_bytes(p.max)) }
                        }
                    }
                }
            }
        }
        @if !projections.is_empty() {
            h2 { "Projection" }
            ul { @for t in projections { li { (t.text) } } }
        }
    }
}

fn comparison(ctx: &ExportContext<'_>) -> Markup {
    html! {
        @if let Some(c) = ctx.comparison {
            h2 {
                "Compared with baseline " code { (c.baseline.name) } ": "
                span class={ "badge " (if c.regression { "fail" } else { "pass" }) } {
                    (if c.regression { "REGRESSION" } else { "no regression" })
                }
            }
            p.muted {
                "baseline commit " (c.baseline.git_commit.as_deref().unwrap_or("–"))
                " · tolerances: drift +" (fmt_bytes(c.tolerances.slope_per_min))
                "/min, max +" (format!("{:.0}", c.tolerances.max_relative * 100.0)) "%"
            }
            table {
                tr { th { "metric" } th { "outcome" } th { "detail" } }
                @for m in &c.metrics {
                    tr {
                        td { code { (m.metric) } }
                        td class=(if m.regression { "outcome-fail" } else { "" }) {
                            (if m.regression { "REGRESSION" } else { "ok" })
                        }
                        td { (m.note) }
                    }
                }
            }
            @for w in &c.warnings { p.muted { "Note: " (w) } }
        }
    }
}

fn metrics(ctx: &ExportContext<'_>) -> Markup {
    let r = ctx.report;
    html! {
        h2 { "Metrics" }
        table {
            tr {
                th { "metric" } th { "warm-up end" } th { "drift" } th { "per 1k items" } th { "p" }
                th { "growth" } th { "max" } th { "last" } th { "method" }
            }
            @for m in &r.analysis.metrics {
                tr {
                    td { code { (m.metric) } br; span.muted { (m.metric.describe()) } }
                    td.num { (fmt_secs(m.warmup_end_s)) }
                    (num(m.slope_per_min.map(|e| format!(
                        "{}/min{}",
                        fmt_bytes(e.value),
                        if m.significant { " *" } else { "" }
                    ))))
                    (num(m.slope_per_1k.map(|e| fmt_bytes(e.value))))
                    (num(m.trend_p_value.map(crate::units::fmt_p)))
                    (num(m.growth.map(fmt_bytes)))
                    td.num { (fmt_bytes(m.max)) }
                    td.num { (fmt_bytes(m.last)) }
                    td { (m.method.as_deref().unwrap_or("–")) }
                }
            }
        }
        p.muted { "* statistically significant at " (fmt_percent(r.confidence)) }
    }
}

fn charts(ctx: &ExportContext<'_>) -> Result<Markup, ExportError> {
    let specs = super::chart::specs(ctx);
    let figures = specs.iter().map(figure).collect::<Result<Vec<_>, _>>()?;
    Ok(html! {
        @if !figures.is_empty() { h2 { "Charts" } }
        @for f in figures { (f) }
    })
}

/// One chart as an inline SVG figure with its caption.
fn figure(spec: &super::chart::ChartSpec) -> Result<Markup, ExportError> {
    let svg = super::chart::render_svg(spec)?;
    // NOTE: an XML prolog is not allowed inside HTML.
    let svg = svg
        .strip_prefix("<?xml")
        .and_then(|rest| rest.split_once("?>").map(|(_, b)| b))
        .unwrap_or(&svg)
        .trim()
        .to_string();
    Ok(html! {
        figure id=(spec.file_stem) {
            // The SVG comes from our own chart renderer, which escapes
            // the text it draws.
            (PreEscaped(svg))
            figcaption { (spec.title) " — " (spec.subtitle) }
        }
    })
}

/// `--attribute`: the sites of the report, what the tracer saw, and a
/// chart of each top site's live bytes over the snapshots with its drift.
fn attribution(ctx: &ExportContext<'_>) -> Result<Markup, ExportError> {
    let sites = super::chart::site_specs(ctx.report)
        .iter()
        .map(figure)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(html! {
        @if let Some(at) = &ctx.report.attribution {
            h2 { "Where it grows" }
            p { (at.source) ", " (at.snapshots) " snapshot(s). " (at.visibility) }
            @if at.sites.is_empty() {
                p { "No allocation site grew above the materiality floor." }
            } @else {
                table {
                    tr {
                        th { "site" } th { "code" } th { "growth" } th { "first → last" }
                        th { "drift" } th { "p" } th { "share" } th { "significant" }
                    }
                    @for x in &at.sites {
                        tr {
                            td { code title=(x.frames.join("\n")) { (x.short()) } }
                            td { code { (x.code) } }
                            td.num { (fmt_bytes(x.growth)) }
                            td.num { (fmt_bytes(x.bytes_first)) " → " (fmt_bytes(x.bytes_last)) }
                            td.num { (fmt_bytes(x.slope_per_min.value)) "/min" }
                            td.num { (crate::units::fmt_p(x.p_value)) }
                            (num(x.share.map(|v| format!("{:.0}%", 100.0 * v))))
                            td class=(if x.significant { "outcome-fail" } else { "" }) {
                                (if x.significant { "yes" } else { "no" })
                            }
                        }
                    }
                }
            }
            @if !sites.is_empty() {
                div.sites { @for f in sites { (f) } }
            }
            @if !at.notes.is_empty() {
                ul { @for n in &at.notes { li { (n) } } }
            }
        }
    })
}

impl Html {
    /// The whole page.
    pub fn text(ctx: &ExportContext<'_>) -> Result<String, ExportError> {
        let r = ctx.report;
        let class = match r.verdict {
            _ if r.interrupted => "error",
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Error => "error",
        };
        let word = r.headline();
        let word = word.as_str();
        let charts = charts(ctx)?;
        let sites = attribution(ctx)?;
        let page = html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    title { "memsoak " (word) }
                    style { (PreEscaped(STYLE)) }
                }
                body {
                    (header(ctx, class, word))
                    (run_table(ctx))
                    (thresholds(ctx))
                    (classification(ctx))
                    (sites)
                    (comparison(ctx))
                    (metrics(ctx))
                    (charts)
                    @if !r.notes.is_empty() {
                        h2 { "Notes" }
                        ul { @for n in &r.notes { li { (n) } } }
                    }
                    @if let Some(t) = r.target.as_ref().filter(|t| !t.stderr_tail.is_empty()) {
                        h2 { "Target stderr (tail)" }
                        pre { (t.stderr_tail) }
                    }
                }
            }
        };
        Ok(page.into_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runfolder::Report;

    #[test]
    fn text_from_the_target_is_escaped_and_the_page_is_whole() {
        let mut r =
            Report::from_json(include_str!("../runfolder/fixtures/report-watch.json")).unwrap();
        r.notes
            .push("a note with <script>alert(1)</script> & \"quotes\"".into());
        r.errors.push("</p><img src=x>".into());
        let page = Html::text(&ExportContext::new(&r)).unwrap();
        assert!(page.starts_with("<!DOCTYPE html>"), "{page}");
        assert!(page.ends_with("</html>"), "{page}");
        assert!(
            !page.contains("<script>") && !page.contains("<img"),
            "{page}"
        );
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot;"),
            "{page}"
        );
        assert!(page.contains("<h2>Metrics</h2>"), "{page}");
        assert!(page.contains("<h2>Notes</h2>"), "{page}");
    }

    /// Ten snapshots 10 s apart where `leak.py:21` keeps `leak` bytes more
    /// each time beside a flat 4 MiB site.
    fn attributed(leak: f64) -> Report {
        use crate::analysis::attribution::{SiteBytes, Snapshot, Tracer, attribute};
        let snaps: Vec<Snapshot> = (0..10u32)
            .map(|i| {
                let k = f64::from(i);
                let site = |f: &str, bytes: f64| SiteBytes {
                    frames: vec![f.into()],
                    code: String::new(),
                    bytes,
                    count: 1,
                };
                Snapshot {
                    pid: 1,
                    seq: i + 2,
                    t_s: 10.0 * k,
                    traced_bytes: 4.0 * crate::units::MIB + leak * k,
                    sites: vec![
                        site("leak.py:21", leak * k),
                        site("model.py:3", 4.0 * crate::units::MIB),
                    ],
                }
            })
            .collect();
        let mut r =
            Report::from_json(include_str!("../runfolder/fixtures/report-watch.json")).unwrap();
        r.attribution = Some(attribute(&snaps, Tracer::Tracemalloc, None, 0.95));
        r
    }

    #[test]
    fn a_growing_site_gets_a_chart_with_its_drift_and_no_site_gets_none() {
        let r = attributed(256.0 * crate::units::KIB);
        let page = Html::text(&ExportContext::new(&r)).unwrap();
        let (_, fig) = page
            .split_once(r#"<figure id="site-1">"#)
            .unwrap_or_else(|| panic!("no site chart: {page}"));
        let fig = &fig[..fig.find("</figure>").unwrap()];
        assert!(fig.contains("<svg"), "{fig}");
        assert!(
            fig.contains("site 1: leak.py:21 · growing (significant)"),
            "{fig}"
        );
        assert!(fig.contains("drift fit (drift): 1.50 MiB/min"), "{fig}");
        // The chart sits in the "Where it grows" section, not among the
        // metric charts.
        let where_ = page.find("<h2>Where it grows</h2>").unwrap();
        let at = page.find(r#"<figure id="site-1">"#).unwrap();
        assert!(where_ < at, "site chart outside its section");
        assert!(
            !page.contains(r#"<figure id="site-2">"#),
            "the flat site is no chart"
        );
        let flat = attributed(0.0);
        assert!(flat.attribution.as_ref().unwrap().sites.is_empty());
        let page = Html::text(&ExportContext::new(&flat)).unwrap();
        assert!(page.contains("<h2>Where it grows</h2>"), "{page}");
        assert!(!page.contains(r#"<figure id="site-"#), "{page}");
    }

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
