//! Charts: memory over time per metric (`chart-<metric>.svg` and `.png`)
//! with the fitted drift after warm-up, the warm-up shaded and every
//! threshold's limit drawn (caps as levels; slope and growth limits from the
//! fitted level at the end of warm-up); memory against items embedded
//! (`chart-items.*`, with `slope_per_1k` limits); the RSS of each process of
//! the tree (`chart-processes.*`); and a run against its baseline
//! (`chart-compare-<metric>.*`).
//!
//! Drawn with plotters into SVG and into an in-memory RGB buffer encoded as
//! PNG. Text goes through ab_glyph with DejaVu Sans embedded in the binary:
//! no system font lookup (CI machines may have no fonts at all).

use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

use super::{Artifact, ExportContext, ExportError, Exporter};
use crate::analysis::samples::SampleTable;
use crate::analysis::threshold::Stat;
use crate::analysis::{MetricAnalysis, Outcome};
use crate::runfolder::{chart_file, chart_stem};
use crate::sample::Metric;
use crate::units::fmt_bytes;

/// Width of every chart, pixels (the PNG's width, the SVG's viewport).
pub const WIDTH: u32 = 1200;
/// Height of every chart, pixels.
pub const HEIGHT: u32 = 675;

/// Most points drawn per series: longer series are thinned to the min and
/// max of each bucket, which keeps every spike and sawtooth drop visible.
const MAX_POINTS: usize = 2400;

/// Ticks asked of plotters on each axis.
const X_TICKS: usize = 10;
const Y_TICKS: usize = 8;

/// The font family every text of a chart uses.
const FONT: &str = "sans-serif";

static FONT_BYTES: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // NOTE: the font is embedded, so registration cannot fail at run
        // time unless the asset itself is broken; a test renders a PNG.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES);
    });
}

const BLUE: RGBColor = RGBColor(31, 119, 180);
const GREY: RGBColor = RGBColor(120, 120, 120);
const RED: RGBColor = RGBColor(200, 30, 30);
const GREEN: RGBColor = RGBColor(30, 140, 60);
const PURPLE: RGBColor = RGBColor(128, 60, 170);
const ORANGE: RGBColor = RGBColor(230, 120, 0);
const TEAL: RGBColor = RGBColor(0, 140, 140);
const BROWN: RGBColor = RGBColor(160, 85, 20);
const TEXT: RGBColor = RGBColor(30, 30, 30);

/// The chart exporter: every chart the run folder's data allows.
pub struct Charts;

impl Exporter for Charts {
    fn file_name(&self) -> &'static str {
        "chart-<metric>.svg/.png"
    }

    /// NOTE: charts are rendered on every core: they are most of the work
    /// left after an interrupt, which promises a report within 2 s.
    fn render(&self, ctx: &ExportContext<'_>) -> Result<Vec<Artifact>, ExportError> {
        let specs = specs(ctx);
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = specs.len().div_ceil(workers.max(1)).max(1);
        let rendered: Vec<Result<(String, Vec<u8>), ExportError>> = std::thread::scope(|s| {
            let handles: Vec<_> = specs
                .chunks(chunk)
                .map(|part| s.spawn(move || part.iter().map(render_both).collect::<Vec<_>>()))
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        let mut out = Vec::new();
        for (spec, r) in specs.iter().zip(rendered) {
            let (svg, png) = r?;
            out.push(Artifact::text(chart_file(&spec.file_stem, "svg"), svg));
            out.push(Artifact {
                name: chart_file(&spec.file_stem, "png"),
                bytes: png,
            });
        }
        Ok(out)
    }
}

/// One line of a chart.
#[derive(Debug, Clone)]
pub struct Line {
    /// Legend text.
    pub label: String,
    /// Points in plot units.
    pub points: Vec<(f64, f64)>,
    /// Colour.
    pub color: RGBColor,
    /// Stroke width.
    pub width: u32,
    /// Dashed (fits, baselines).
    pub dashed: bool,
}

/// A horizontal level (a cap).
#[derive(Debug, Clone)]
pub struct Level {
    /// Legend text.
    pub label: String,
    /// Value in plot units.
    pub y: f64,
    /// Colour.
    pub color: RGBColor,
}

/// The lower and upper edges of a shaded fan, and its legend text.
pub type Fan = (Vec<(f64, f64)>, Vec<(f64, f64)>, String);

/// Everything one chart shows, in plot units (scaled bytes, scaled time).
#[derive(Debug, Clone)]
pub struct ChartSpec {
    /// File name without extension (`chart-rss`).
    pub file_stem: String,
    /// First title line (metric and verdict).
    pub title: String,
    /// Second title line (the numbers).
    pub subtitle: String,
    /// X axis description.
    pub x_desc: String,
    /// Y axis description.
    pub y_desc: String,
    /// Lines, drawn in order.
    pub lines: Vec<Line>,
    /// A shaded x interval (the warm-up), with its legend text.
    pub band: Option<(f64, f64, String)>,
    /// A fan between two lines (the drift CI), with its legend text.
    pub fan: Option<Fan>,
    /// Caps drawn as horizontal lines.
    pub levels: Vec<Level>,
    /// Other threshold limits (slope, slope_per_1k, growth) as dashed
    /// lines; like caps, drawn only when within reach of the data.
    pub limits: Vec<Line>,
    /// Decimals of the x tick labels.
    pub x_decimals: usize,
    /// Decimals of the y tick labels.
    pub y_decimals: usize,
}

/// A byte unit for an axis.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ByteUnit {
    /// Bytes per unit.
    pub scale: f64,
    /// Its name.
    pub name: &'static str,
}

/// The unit that shows `max_abs` bytes with 1 to 4 integer digits.
pub fn byte_unit(max_abs: f64) -> ByteUnit {
    let units = [(1073741824.0, "GiB"), (1048576.0, "MiB"), (1024.0, "KiB")];
    units.into_iter().find(|(s, _)| max_abs >= *s).map_or(
        ByteUnit {
            scale: 1.0,
            name: "B",
        },
        |(scale, name)| ByteUnit { scale, name },
    )
}

/// The time unit for a run of `span_s` seconds: seconds up to 3 min,
/// minutes up to 3 h, hours beyond.
pub fn time_unit(span_s: f64) -> (f64, &'static str) {
    if span_s <= 180.0 {
        (1.0, "s")
    } else if span_s <= 3.0 * 3600.0 {
        (60.0, "min")
    } else {
        (3600.0, "h")
    }
}

/// Decimals that tell apart the ticks plotters puts on `span` when asked
/// for about `n`: its step is the 1-2-5 multiple of a power of ten just
/// above `span / n`.
fn decimals_for(span: f64, n: usize) -> usize {
    let raw = span / n as f64;
    if !raw.is_finite() || raw <= 0.0 {
        return 0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|k| k * mag)
        .find(|s| *s >= raw * 0.999)
        .unwrap_or(10.0 * mag);
    (-step.log10().floor()).clamp(0.0, 6.0) as usize
}

/// Thin `(x, y)` to at most about `max` points, keeping each bucket's min
/// and max in their order. NaN values are dropped.
pub fn decimate(x: &[f64], y: &[f64], max: usize) -> Vec<(f64, f64)> {
    let pts: Vec<(f64, f64)> = crate::stats::finite_pairs(x, y).collect();
    let buckets = (max / 2).max(1);
    if pts.len() <= max {
        return pts;
    }
    let mut out = Vec::with_capacity(2 * buckets);
    for b in 0..buckets {
        let (s, e) = (b * pts.len() / buckets, (b + 1) * pts.len() / buckets);
        let chunk = &pts[s..e];
        let Some(lo) = chunk
            .iter()
            .enumerate()
            .min_by(|a, b| a.1.1.total_cmp(&b.1.1))
        else {
            continue;
        };
        let Some(hi) = chunk
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.1.total_cmp(&b.1.1))
        else {
            continue;
        };
        let (first, second) = if lo.0 <= hi.0 { (lo, hi) } else { (hi, lo) };
        out.push(*first.1);
        if first.0 != second.0 {
            out.push(*second.1);
        }
    }
    out
}

/// Where the fitted drift line starts: the level at `x0` that the
/// steady-state samples sit around, given the slope. The median of
/// `y - slope·(x - x0)` (the floor's 10th percentile for a sawtooth, whose
/// fit is of the floor).
pub fn fit_anchor(x: &[f64], y: &[f64], x0: f64, slope: f64, floor: bool) -> Option<f64> {
    let mut r: Vec<f64> = crate::stats::finite_pairs(x, y)
        .filter(|(a, _)| *a >= x0)
        .map(|(a, b)| b - slope * (a - x0))
        .collect();
    if r.is_empty() {
        return None;
    }
    r.sort_by(f64::total_cmp);
    let q = if floor { 0.1 } else { 0.5 };
    Some(r[((r.len() - 1) as f64 * q).round() as usize])
}

/// Every chart the context allows.
pub fn specs(ctx: &ExportContext<'_>) -> Vec<ChartSpec> {
    let mut out = Vec::new();
    let Some(table) = ctx.samples else {
        return out;
    };
    for m in &ctx.report.analysis.metrics {
        if let Some(s) = metric_spec(ctx, table, m) {
            out.push(s);
        }
    }
    if let Some(s) = items_spec(ctx, table) {
        out.push(s);
    }
    if let Some(s) = processes_spec(ctx) {
        out.push(s);
    }
    if let (Some(c), Some(base)) = (ctx.comparison, ctx.baseline_samples) {
        for r in &c.metrics {
            if let Some(s) = compare_spec(ctx, table, base, r) {
                out.push(s);
            }
        }
    }
    out
}

/// Finite (t, y) of one column.
fn column(table: &SampleTable, m: Metric) -> Option<(Vec<f64>, Vec<f64>)> {
    let col = table.column(m)?;
    let (t, y): (Vec<f64>, Vec<f64>) = table
        .t
        .iter()
        .zip(col)
        .filter(|(_, y)| y.is_finite())
        .map(|(t, y)| (*t, *y))
        .unzip();
    (t.len() >= 2).then_some((t, y))
}

fn metric_spec(
    ctx: &ExportContext<'_>,
    table: &SampleTable,
    m: &MetricAnalysis,
) -> Option<ChartSpec> {
    let (t, y) = column(table, m.metric)?;
    // NOTE: an all-zero series (swap on a host without swap) is a flat line
    // at 0 that says nothing a table row does not.
    if y.iter().all(|v| *v == 0.0) {
        return None;
    }
    let report = ctx.report;
    let t0 = t[0];
    let span = t[t.len() - 1] - t0;
    let (tscale, tname) = time_unit(span);
    let max_abs = y.iter().fold(0.0f64, |a, v| a.max(v.abs()));
    let unit = byte_unit(max_abs);
    let px = |tt: f64| (tt - t0) / tscale;
    let py = |v: f64| v / unit.scale;
    let thresholds: Vec<_> = report
        .analysis
        .thresholds
        .iter()
        .filter(|r| r.threshold.metric == m.metric)
        .collect();
    let failed = thresholds.iter().any(|r| r.outcome == Outcome::Fail);
    let state = if failed {
        "FAIL"
    } else if thresholds.iter().any(|r| r.outcome == Outcome::Pass) {
        "pass"
    } else {
        "no threshold"
    };
    let title = format!(
        "{}: {state} · run verdict {}",
        m.metric,
        report.verdict.word()
    );
    let mut sub = Vec::new();
    if let Some(e) = m.slope_per_min {
        sub.push(format!(
            "drift {}/min (CI {} … {}/min){}",
            fmt_bytes(e.value),
            fmt_bytes(e.ci_low),
            fmt_bytes(e.ci_high),
            m.trend_p_value
                .map_or(String::new(), |p| format!(", p={p:.3}"))
        ));
    }
    for r in &thresholds {
        let o = match r.outcome {
            Outcome::Pass => "ok",
            Outcome::Fail => "BREACHED",
            Outcome::Skipped => "skipped",
        };
        sub.push(format!("{} {o}", r.threshold.expr));
    }
    sub.push(format!("max {}", fmt_bytes(m.max)));
    let points: Vec<(f64, f64)> = decimate(&t, &y, MAX_POINTS)
        .into_iter()
        .map(|(a, b)| (px(a), py(b)))
        .collect();
    let mut lines = vec![Line {
        label: format!("{} ({})", m.metric, m.metric.describe()),
        points,
        color: BLUE,
        width: 2,
        dashed: false,
    }];
    let tw = m.warmup_end_s;
    let t_end = t[t.len() - 1];
    let mut fan = None;
    let mut anchor = None;
    if let Some(e) = m.slope_per_min
        && t_end > tw
    {
        let slope = e.value / 60.0;
        if let Some(a) = fit_anchor(&t, &y, tw, slope, m.cycle_s.is_some()) {
            anchor = Some(a);
            let at = |s: f64, x: f64| a + s * (x - tw);
            lines.push(Line {
                label: format!("drift fit after warm-up: {}/min", fmt_bytes(e.value)),
                points: vec![
                    (px(tw), py(at(slope, tw))),
                    (px(t_end), py(at(slope, t_end))),
                ],
                color: if failed { RED } else { GREEN },
                width: 3,
                dashed: false,
            });
            let lo = vec![(px(tw), py(a)), (px(t_end), py(at(e.ci_low / 60.0, t_end)))];
            let hi = vec![
                (px(tw), py(a)),
                (px(t_end), py(at(e.ci_high / 60.0, t_end))),
            ];
            fan = Some((
                lo,
                hi,
                format!("{:.0}% CI of the drift", report.confidence * 100.0),
            ));
        }
    }
    let band = (tw > t0).then(|| {
        (
            0.0,
            px(tw),
            format!("warm-up (first {})", crate::units::fmt_secs(tw - t0)),
        )
    });
    let levels = thresholds
        .iter()
        .filter(|r| matches!(r.threshold.stat, Stat::Max | Stat::Min))
        .map(|r| Level {
            label: format!("cap {}", r.threshold.expr),
            y: py(r.threshold.limit),
            color: PURPLE,
        })
        .collect();
    // NOTE: a slope or growth limit is relative to where the steady state
    // starts: drawn from the fitted level at the end of warm-up, so the
    // fit line crossing it is the breach the threshold judges.
    let limits = anchor
        .map(|a| {
            thresholds
                .iter()
                .filter_map(|r| {
                    let th = &r.threshold;
                    let end = match th.stat {
                        Stat::Slope => a + th.limit * (t_end - tw),
                        Stat::Growth => a + th.limit,
                        _ => return None,
                    };
                    let start = if th.stat == Stat::Slope { a } else { end };
                    Some(Line {
                        label: format!("limit {} (from the level at warm-up end)", th.expr),
                        points: vec![(px(tw), py(start)), (px(t_end), py(end))],
                        // NOTE: both limits are dashed lines in the legend;
                        // their colours tell them apart.
                        color: if th.stat == Stat::Slope {
                            PURPLE
                        } else {
                            BROWN
                        },
                        width: 2,
                        dashed: true,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let (ymin, ymax) = y
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    Some(ChartSpec {
        file_stem: chart_stem(m.metric.name()),
        title,
        subtitle: sub.join(" · "),
        x_desc: format!("time since start ({tname})"),
        y_desc: format!("{} ({})", m.metric, unit.name),
        lines,
        band,
        fan,
        levels,
        limits,
        x_decimals: decimals_for(px(t_end), X_TICKS),
        y_decimals: decimals_for(py(ymax) - py(ymin), Y_TICKS),
    })
}

/// Memory against items embedded, for the main metrics, with the per-1k
/// drift fitted after warm-up.
fn items_spec(ctx: &ExportContext<'_>, table: &SampleTable) -> Option<ChartSpec> {
    if !table.has_items() {
        return None;
    }
    let metrics: Vec<&MetricAnalysis> = [Metric::Rss, Metric::Pss, Metric::Heap, Metric::Vram]
        .into_iter()
        .filter_map(|m| ctx.report.analysis.metric(m))
        .collect();
    let mut series = Vec::new();
    for m in metrics {
        let Some(col) = table.column(m.metric) else {
            continue;
        };
        let (x, y): (Vec<f64>, Vec<f64>) = table
            .items
            .iter()
            .zip(col)
            .zip(&table.t)
            .filter(|((i, v), _)| i.is_finite() && v.is_finite())
            .map(|((i, v), t)| ((*i, *v), *t))
            .fold((Vec::new(), Vec::new()), |(mut x, mut y), ((i, v), _)| {
                x.push(i);
                y.push(v);
                (x, y)
            });
        // Items at the end of warm-up: the first row at or after it.
        let iw = table
            .t
            .iter()
            .zip(&table.items)
            .find(|(t, i)| **t >= m.warmup_end_s && i.is_finite())
            .map(|(_, i)| *i);
        if x.len() >= 2 {
            series.push((m, x, y, iw));
        }
    }
    if series.is_empty() {
        return None;
    }
    let max_items = series
        .iter()
        .flat_map(|s| s.1.iter())
        .fold(0.0f64, |a, v| a.max(*v));
    let (iscale, iname) = if max_items >= 2e6 {
        (1e6, "million items")
    } else if max_items >= 2e3 {
        (1e3, "thousand items")
    } else {
        (1.0, "items")
    };
    let max_abs = series
        .iter()
        .flat_map(|s| s.2.iter())
        .fold(0.0f64, |a, v| a.max(v.abs()));
    let unit = byte_unit(max_abs);
    let colors = [BLUE, ORANGE, GREEN, TEAL];
    let mut lines = Vec::new();
    let mut limits = Vec::new();
    let mut sub = Vec::new();
    let (mut ymin, mut ymax) = (f64::INFINITY, f64::NEG_INFINITY);
    for (k, (m, x, y, iw)) in series.iter().enumerate() {
        let color = colors[k % colors.len()];
        ymin = y.iter().fold(ymin, |a, v| a.min(*v));
        ymax = y.iter().fold(ymax, |a, v| a.max(*v));
        lines.push(Line {
            label: m.metric.to_string(),
            points: decimate(x, y, MAX_POINTS)
                .into_iter()
                .map(|(a, b)| (a / iscale, b / unit.scale))
                .collect(),
            color,
            width: 2,
            dashed: false,
        });
        if let (Some(e), Some(iw)) = (m.slope_per_1k, iw) {
            let slope = e.value / 1000.0;
            let x_end = x[x.len() - 1];
            if let Some(a) = fit_anchor(x, y, *iw, slope, m.cycle_s.is_some())
                && x_end > *iw
            {
                lines.push(Line {
                    label: format!("{} fit: {}/1k items", m.metric, fmt_bytes(e.value)),
                    points: vec![
                        (iw / iscale, a / unit.scale),
                        (x_end / iscale, (a + slope * (x_end - iw)) / unit.scale),
                    ],
                    color,
                    width: 2,
                    dashed: true,
                });
                for r in ctx.report.analysis.thresholds.iter().filter(|r| {
                    r.threshold.metric == m.metric && r.threshold.stat == Stat::SlopePer1k
                }) {
                    let per_item = r.threshold.limit / 1000.0;
                    limits.push(Line {
                        label: format!("limit {}", r.threshold.expr),
                        points: vec![
                            (iw / iscale, a / unit.scale),
                            (x_end / iscale, (a + per_item * (x_end - iw)) / unit.scale),
                        ],
                        color: PURPLE,
                        width: 2,
                        dashed: true,
                    });
                }
            }
            sub.push(format!("{} {}/1k items", m.metric, fmt_bytes(e.value)));
        }
    }
    Some(ChartSpec {
        file_stem: chart_stem("items"),
        title: format!(
            "memory against items embedded · run verdict {}",
            ctx.report.verdict.word()
        ),
        subtitle: if sub.is_empty() {
            format!("{max_items:.0} items")
        } else {
            format!("drift per 1000 items after warm-up: {}", sub.join(" · "))
        },
        x_desc: format!("items embedded ({iname})"),
        y_desc: format!("memory ({})", unit.name),
        lines,
        band: None,
        fan: None,
        levels: vec![],
        limits,
        x_decimals: decimals_for(max_items / iscale, X_TICKS),
        y_decimals: decimals_for((ymax - ymin) / unit.scale, Y_TICKS),
    })
}

/// Most processes drawn on the per-process chart.
const PROCESS_LINES: usize = 6;

/// The RSS of the tree's largest processes over time (`processes.csv`):
/// the classification's processes first (most growth first), then the
/// largest; the process the growth is confined to in red.
fn processes_spec(ctx: &ExportContext<'_>) -> Option<ChartSpec> {
    let table = ctx.processes?;
    if table.len() < 2 {
        return None;
    }
    let class = ctx.report.classification.as_ref();
    let named = class.and_then(|c| c.process.as_ref()).map(|p| p.pid);
    let trends = class.map_or(&[][..], |c| c.processes.as_slice());
    let peak =
        |s: &crate::analysis::samples::ProcessSeries| s.rss.iter().fold(0.0f64, |a, v| a.max(*v));
    let mut rest: Vec<_> = table
        .series
        .iter()
        .filter(|s| !trends.iter().any(|p| p.pid == s.pid))
        .collect();
    rest.sort_by(|a, b| peak(b).total_cmp(&peak(a)));
    let drawn: Vec<_> = trends
        .iter()
        .filter_map(|p| table.series.iter().find(|s| s.pid == p.pid))
        .chain(rest)
        .filter(|s| s.t.len() >= 2)
        .take(PROCESS_LINES)
        .collect();
    if drawn.len() < 2 {
        return None;
    }
    let (t0, t1) = drawn
        .iter()
        .flat_map(|s| s.t.iter())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), t| {
            (a.min(*t), b.max(*t))
        });
    let t0 = t0.min(0.0);
    let (tscale, tname) = time_unit(t1 - t0);
    let max_abs = drawn.iter().fold(0.0f64, |a, s| a.max(peak(s)));
    let unit = byte_unit(max_abs);
    let palette = [BLUE, ORANGE, GREEN, TEAL, GREY, PURPLE];
    let mut lines = Vec::new();
    let (mut ymin, mut ymax) = (f64::INFINITY, f64::NEG_INFINITY);
    for (k, s) in drawn.iter().enumerate() {
        let growth = trends
            .iter()
            .find(|p| p.pid == s.pid)
            .and_then(|p| p.growth)
            .map_or(String::new(), |g| {
                format!(
                    " ({}{} after warm-up)",
                    if g >= 0.0 { "+" } else { "" },
                    fmt_bytes(g)
                )
            });
        let is_named = named == Some(s.pid);
        ymin = s.rss.iter().fold(ymin, |a, v| a.min(*v));
        ymax = s.rss.iter().fold(ymax, |a, v| a.max(*v));
        lines.push(Line {
            label: format!("pid {} {}{growth}", s.pid, fit_text(&s.name, 44)),
            points: decimate(&s.t, &s.rss, MAX_POINTS)
                .into_iter()
                .map(|(a, b)| ((a - t0) / tscale, b / unit.scale))
                .collect(),
            color: if is_named {
                RED
            } else {
                palette[k % palette.len()]
            },
            width: if is_named { 3 } else { 2 },
            dashed: false,
        });
    }
    let band = ctx
        .report
        .analysis
        .metric(Metric::Rss)
        .map(|m| m.warmup_end_s)
        .filter(|tw| *tw > t0)
        .map(|tw| {
            (
                0.0,
                (tw - t0) / tscale,
                format!("warm-up (first {})", crate::units::fmt_secs(tw - t0)),
            )
        });
    let title = match class.and_then(|c| c.process.as_ref()) {
        Some(f) => format!(
            "rss per process: growth confined to pid {} · run verdict {}",
            f.pid,
            ctx.report.verdict.word()
        ),
        None => format!(
            "rss per process of the tree · run verdict {}",
            ctx.report.verdict.word()
        ),
    };
    Some(ChartSpec {
        file_stem: chart_stem("processes"),
        title,
        subtitle: format!(
            "{} process(es) seen, the {} with most growth or memory drawn · from {} (the {} largest, at most once per {})",
            table.len(),
            drawn.len(),
            crate::runfolder::PROCESSES_CSV,
            crate::runfolder::processes::DEFAULT_TOP,
            crate::units::fmt_secs(crate::runfolder::processes::DEFAULT_EVERY.as_secs_f64())
        ),
        x_desc: format!("time since start ({tname})"),
        y_desc: format!("rss ({})", unit.name),
        lines,
        band,
        fan: None,
        levels: vec![],
        limits: vec![],
        x_decimals: decimals_for((t1 - t0) / tscale, X_TICKS),
        y_decimals: decimals_for((ymax - ymin) / unit.scale, Y_TICKS),
    })
}

/// A run against its baseline: both series from their own start, with both
/// fits.
fn compare_spec(
    ctx: &ExportContext<'_>,
    table: &SampleTable,
    base: &SampleTable,
    r: &crate::analysis::compare::MetricComparison,
) -> Option<ChartSpec> {
    let c = ctx.comparison?;
    let (t, y) = column(table, r.metric)?;
    let (bt, by) = column(base, r.metric)?;
    if y.iter().chain(&by).all(|v| *v == 0.0) {
        return None;
    }
    let (t0, b0) = (t[0], bt[0]);
    let span = (t[t.len() - 1] - t0).max(bt[bt.len() - 1] - b0);
    let (tscale, tname) = time_unit(span);
    let max_abs = y.iter().chain(&by).fold(0.0f64, |a, v| a.max(v.abs()));
    let unit = byte_unit(max_abs);
    let series = |t: &[f64], y: &[f64], t0: f64| -> Vec<(f64, f64)> {
        decimate(t, y, MAX_POINTS)
            .into_iter()
            .map(|(a, b)| ((a - t0) / tscale, b / unit.scale))
            .collect()
    };
    let mut lines = vec![
        Line {
            label: format!("baseline {}", c.baseline.name),
            points: series(&bt, &by, b0),
            color: GREY,
            width: 2,
            dashed: false,
        },
        Line {
            label: "this run".into(),
            points: series(&t, &y, t0),
            color: BLUE,
            width: 2,
            dashed: false,
        },
    ];
    let mut fit = |t: &[f64],
                   y: &[f64],
                   t0: f64,
                   tw: Option<f64>,
                   slope: Option<f64>,
                   color,
                   label: String| {
        let (Some(tw), Some(s)) = (tw, slope) else {
            return;
        };
        let s = s / 60.0;
        let te = t[t.len() - 1];
        if let Some(a) = fit_anchor(t, y, tw, s, false)
            && te > tw
        {
            lines.push(Line {
                label,
                points: vec![
                    ((tw - t0) / tscale, a / unit.scale),
                    ((te - t0) / tscale, (a + s * (te - tw)) / unit.scale),
                ],
                color,
                width: 3,
                dashed: true,
            });
        }
    };
    fit(
        &bt,
        &by,
        b0,
        r.baseline_warmup_end_s,
        r.baseline_slope.map(|e| e.value),
        GREY,
        format!(
            "baseline drift {}/min",
            fmt_bytes(r.baseline_slope.map_or(0.0, |e| e.value))
        ),
    );
    fit(
        &t,
        &y,
        t0,
        r.current_warmup_end_s,
        r.current_slope.map(|e| e.value),
        if r.regression { RED } else { GREEN },
        format!(
            "this run's drift {}/min",
            fmt_bytes(r.current_slope.map_or(0.0, |e| e.value))
        ),
    );
    let (ymin, ymax) = y
        .iter()
        .chain(&by)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(*v), b.max(*v))
        });
    Some(ChartSpec {
        file_stem: chart_stem(&format!("compare-{}", r.metric)),
        title: format!(
            "{} against baseline {}: {}",
            r.metric,
            c.baseline.name,
            if r.regression {
                "REGRESSION"
            } else {
                "no regression"
            }
        ),
        subtitle: format!(
            "drift {} vs the baseline's {} (tolerance +{}/min) · max {} vs {}",
            r.current_slope
                .map_or("–".into(), |e| format!("{}/min", fmt_bytes(e.value))),
            r.baseline_slope
                .map_or("–".into(), |e| format!("{}/min", fmt_bytes(e.value))),
            fmt_bytes(c.tolerances.slope_per_min),
            r.current_max.map_or("–".into(), fmt_bytes),
            r.baseline_max.map_or("–".into(), fmt_bytes),
        ),
        x_desc: format!("time since start ({tname})"),
        y_desc: format!("{} ({})", r.metric, unit.name),
        lines,
        band: None,
        fan: None,
        levels: vec![],
        limits: vec![],
        x_decimals: decimals_for(span / tscale, X_TICKS),
        y_decimals: decimals_for((ymax - ymin) / unit.scale, Y_TICKS),
    })
}

/// Render a chart as SVG text only (for inlining into HTML).
pub fn render_svg(spec: &ChartSpec) -> Result<String, ExportError> {
    register_font();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, spec)
            .and_then(|()| root.present().map_err(|e| e.to_string()))
            .map_err(|why| ExportError::Render {
                what: format!("{}.svg", spec.file_stem),
                why,
            })?;
    }
    Ok(svg)
}

/// Render a chart as SVG text and PNG bytes.
pub fn render_both(spec: &ChartSpec) -> Result<(String, Vec<u8>), ExportError> {
    register_font();
    let err = |what: &str, e: String| ExportError::Render {
        what: format!("{}.{what}", spec.file_stem),
        why: e,
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        draw(&root, spec).map_err(|e| err("svg", e))?;
        root.present().map_err(|e| err("svg", e.to_string()))?;
    }
    let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    {
        let root = GlyphBackend::new(BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)))
            .map_err(|e| err("png", e))?
            .into_drawing_area();
        draw(&root, spec).map_err(|e| err("png", e))?;
        root.present().map_err(|e| err("png", e.to_string()))?;
    }
    let png = encode_png(&rgb, WIDTH, HEIGHT).map_err(|e| err("png", e))?;
    Ok((svg, png))
}

/// A bitmap backend whose text is laid out with ab_glyph directly: each
/// glyph at its own side bearing and baseline, kerned, and rotated for the
/// y axis. NOTE: plotters' ab_glyph text drops the side bearings, which
/// spaces digits unevenly ("22 0 MiB"); everything else is delegated.
struct GlyphBackend<'a> {
    inner: BitMapBackend<'a>,
    font: ab_glyph::FontRef<'static>,
}

impl<'a> GlyphBackend<'a> {
    fn new(inner: BitMapBackend<'a>) -> Result<Self, String> {
        let font = ab_glyph::FontRef::try_from_slice(FONT_BYTES)
            .map_err(|e| format!("embedded font: {e}"))?;
        Ok(GlyphBackend { inner, font })
    }

    /// Glyphs of `text` at pixel `size`, positioned from the top left of its
    /// box, and the box's width and height.
    fn layout(&self, text: &str, size: f64) -> (Vec<ab_glyph::Glyph>, f32, f32) {
        use ab_glyph::{Font, ScaleFont};
        let scaled = self.font.as_scaled(ab_glyph::PxScale::from(size as f32));
        let ascent = scaled.ascent();
        let mut x = 0.0f32;
        let mut prev: Option<ab_glyph::GlyphId> = None;
        let mut glyphs = Vec::with_capacity(text.len());
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(p) = prev {
                x += scaled.kern(p, id);
            }
            glyphs.push(id.with_scale_and_position(scaled.scale(), ab_glyph::point(x, ascent)));
            x += scaled.h_advance(id);
            prev = Some(id);
        }
        (glyphs, x, scaled.height())
    }
}

type BitmapError<'a> = <BitMapBackend<'a> as DrawingBackend>::ErrorType;
type Drawn<'a> = Result<(), plotters_backend::DrawingErrorKind<BitmapError<'a>>>;

impl<'a> DrawingBackend for GlyphBackend<'a> {
    type ErrorType = BitmapError<'a>;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Drawn<'a> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Drawn<'a> {
        self.inner.present()
    }

    fn draw_pixel(
        &mut self,
        point: plotters_backend::BackendCoord,
        color: plotters_backend::BackendColor,
    ) -> Drawn<'a> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: plotters_backend::BackendStyle>(
        &mut self,
        from: plotters_backend::BackendCoord,
        to: plotters_backend::BackendCoord,
        style: &S,
    ) -> Drawn<'a> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: plotters_backend::BackendStyle>(
        &mut self,
        upper_left: plotters_backend::BackendCoord,
        bottom_right: plotters_backend::BackendCoord,
        style: &S,
        fill: bool,
    ) -> Drawn<'a> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<
        S: plotters_backend::BackendStyle,
        I: IntoIterator<Item = plotters_backend::BackendCoord>,
    >(
        &mut self,
        path: I,
        style: &S,
    ) -> Drawn<'a> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: plotters_backend::BackendStyle>(
        &mut self,
        center: plotters_backend::BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Drawn<'a> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<
        S: plotters_backend::BackendStyle,
        I: IntoIterator<Item = plotters_backend::BackendCoord>,
    >(
        &mut self,
        vert: I,
        style: &S,
    ) -> Drawn<'a> {
        self.inner.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: plotters_backend::BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Drawn<'a> {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<T: plotters_backend::BackendTextStyle>(
        &self,
        text: &str,
        style: &T,
    ) -> Result<(u32, u32), plotters_backend::DrawingErrorKind<Self::ErrorType>> {
        let (_, w, h) = self.layout(text, style.size());
        Ok((w.ceil() as u32, h.ceil() as u32))
    }

    fn draw_text<T: plotters_backend::BackendTextStyle>(
        &mut self,
        text: &str,
        style: &T,
        pos: plotters_backend::BackendCoord,
    ) -> Drawn<'a> {
        use ab_glyph::Font;
        use plotters_backend::text_anchor::{HPos, VPos};
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let (glyphs, w, h) = self.layout(text, style.size());
        let dx = match style.anchor().h_pos {
            HPos::Left => 0.0,
            HPos::Center => -w / 2.0,
            HPos::Right => -w,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0.0,
            VPos::Center => -h / 2.0,
            VPos::Bottom => -h,
        };
        let trans = style.transform();
        for g in glyphs {
            let Some(outline) = self.font.outline_glyph(g) else {
                continue;
            };
            let b = outline.px_bounds();
            let mut pixels = Vec::new();
            outline.draw(|x, y, c| pixels.push((x, y, c)));
            for (x, y, c) in pixels {
                if c <= 0.0 {
                    continue;
                }
                // NOTE: floor, not round: rounding half away from zero maps
                // -0.5 and 0.5 to -1 and 1 and leaves a blank row at 0.
                let lx = (b.min.x + x as f32 + dx).floor() as i32;
                let ly = (b.min.y + y as f32 + dy).floor() as i32;
                let (tx, ty) = trans.transform(lx, ly);
                self.inner.draw_pixel(
                    (pos.0 + tx, pos.1 + ty),
                    plotters_backend::BackendColor {
                        alpha: color.alpha * f64::from(c.min(1.0)),
                        rgb: color.rgb,
                    },
                )?;
            }
        }
        Ok(())
    }
}

/// Encode 8-bit RGB pixels as PNG.
pub fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Best);
        enc.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
        let mut w = enc.write_header().map_err(|e| e.to_string())?;
        w.write_image_data(rgb).map_err(|e| e.to_string())?;
        w.finish().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

/// The y range of a chart: the data and fits, padded; caps and limits
/// within reach stretch it, those far away are left off the chart (and say
/// so).
fn y_range(spec: &ChartSpec) -> (f64, f64, Vec<&Level>, Vec<&Line>) {
    let (mut lo, mut hi) = spec
        .lines
        .iter()
        .flat_map(|l| l.points.iter())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
            (a.min(p.1), b.max(p.1))
        });
    if let Some((a, b, _)) = &spec.fan {
        for p in a.iter().chain(b) {
            lo = lo.min(p.1);
            hi = hi.max(p.1);
        }
    }
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0, vec![], vec![]);
    }
    let span = (hi - lo).max(hi.abs() * 0.02).max(1e-9);
    // NOTE: a cap at 4 GiB over a 30 MiB series would flatten the data
    // into one line; draw it only within two spans of the data.
    let near = |y: f64| y <= hi + 2.0 * span && y >= lo - 2.0 * span;
    let shown: Vec<&Level> = spec.levels.iter().filter(|l| near(l.y)).collect();
    let limits: Vec<&Line> = spec
        .limits
        .iter()
        .filter(|l| l.points.iter().all(|p| near(p.1)))
        .collect();
    for y in shown
        .iter()
        .map(|l| l.y)
        .chain(limits.iter().flat_map(|l| l.points.iter().map(|p| p.1)))
    {
        lo = lo.min(y);
        hi = hi.max(y);
    }
    let span = (hi - lo).max(hi.abs() * 0.02).max(1e-9);
    // NOTE: memory is never negative; padding must not invent a range
    // below zero.
    let floor = if lo >= 0.0 { 0.0 } else { f64::NEG_INFINITY };
    (
        (lo - 0.08 * span).max(floor),
        hi + 0.12 * span,
        shown,
        limits,
    )
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, spec: &ChartSpec) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let title_font = (FONT, 26).into_font().color(&TEXT);
    let sub_font = (FONT, 17).into_font().color(&GREY);
    root.draw(&Text::new(spec.title.clone(), (24, 14), title_font))
        .map_err(e)?;
    let sub = wrap(&spec.subtitle, SUBTITLE_CHARS);
    for (i, line) in sub.iter().enumerate() {
        root.draw(&Text::new(
            line.clone(),
            (24, 50 + 22 * i as i32),
            sub_font.clone(),
        ))
        .map_err(e)?;
    }
    let area = root.margin(80 + 22 * (sub.len() as u32 - 1), 16, 16, 30);
    let (x_hi, x_lo) = spec
        .lines
        .iter()
        .flat_map(|l| l.points.iter())
        .fold((f64::NEG_INFINITY, f64::INFINITY), |(h, l), p| {
            (h.max(p.0), l.min(p.0))
        });
    let (x_lo, x_hi) = if x_lo.is_finite() && x_hi > x_lo {
        (x_lo.min(0.0), x_hi)
    } else {
        (0.0, 1.0)
    };
    let (y_lo, y_hi, levels, limits) = y_range(spec);
    let entries = spec.lines.len()
        + limits.len()
        + levels.len()
        + usize::from(spec.band.is_some())
        + usize::from(spec.fan.is_some());
    let (mut corner, hidden) = legend_corner(spec, (x_lo, x_hi), (y_lo, y_hi), entries);
    // NOTE: when every corner would hide data, raise the top of the plot
    // until the legend fits above everything drawn.
    let y_hi = if hidden > 0 {
        let top = spec
            .lines
            .iter()
            .chain(limits.iter().copied())
            .flat_map(|l| l.points.iter().map(|p| p.1))
            .chain(levels.iter().map(|l| l.y))
            .fold(f64::NEG_INFINITY, f64::max);
        let f = legend_height(entries);
        corner = SeriesLabelPosition::UpperLeft;
        if top.is_finite() && f < 0.8 {
            ((top - f * y_lo) / (1.0 - f)).max(y_hi) + 0.02 * (y_hi - y_lo)
        } else {
            y_hi
        }
    } else {
        y_hi
    };
    let mut chart = ChartBuilder::on(&area)
        .x_label_area_size(56)
        .y_label_area_size(96)
        .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)
        .map_err(e)?;
    let xd = spec.x_decimals;
    let yd = spec.y_decimals;
    chart
        .configure_mesh()
        .x_desc(spec.x_desc.as_str())
        .y_desc(spec.y_desc.as_str())
        .x_labels(X_TICKS)
        .y_labels(Y_TICKS)
        .x_label_formatter(&|v| format!("{v:.xd$}"))
        .y_label_formatter(&|v| format!("{v:.yd$}"))
        .label_style((FONT, 17).into_font().color(&TEXT))
        .axis_desc_style((FONT, 19).into_font().color(&TEXT))
        .light_line_style(RGBColor(238, 238, 238))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .map_err(e)?;
    if let Some((a, b, label)) = &spec.band {
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(*a, y_lo), (*b, y_hi)],
                RGBColor(150, 150, 150).mix(0.18).filled(),
            )))
            .map_err(e)?
            .label(label.as_str())
            .legend(|(x, y)| {
                Rectangle::new(
                    [(x, y - 7), (x + 20, y + 7)],
                    RGBColor(150, 150, 150).mix(0.35).filled(),
                )
            });
    }
    if let Some((lo, hi, label)) = &spec.fan {
        let mut poly = lo.clone();
        poly.extend(hi.iter().rev());
        chart
            .draw_series(std::iter::once(Polygon::new(poly, RED.mix(0.10).filled())))
            .map_err(e)?
            .label(label.as_str())
            .legend(|(x, y)| Rectangle::new([(x, y - 7), (x + 20, y + 7)], RED.mix(0.2).filled()));
    }
    for l in &levels {
        let color = l.color;
        chart
            .draw_series(DashedLineSeries::new(
                vec![(x_lo, l.y), (x_hi, l.y)],
                10,
                6,
                color.stroke_width(2),
            ))
            .map_err(e)?
            .label(l.label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    for l in spec.lines.iter().chain(limits.iter().copied()) {
        let color = l.color;
        let width = l.width;
        let style = color.stroke_width(width);
        let anno = if l.dashed {
            chart
                .draw_series(DashedLineSeries::new(l.points.iter().copied(), 9, 5, style))
                .map_err(e)?
        } else {
            chart
                .draw_series(LineSeries::new(l.points.iter().copied(), style))
                .map_err(e)?
        };
        let anno = anno.label(l.label.as_str());
        if l.dashed {
            anno.legend(move |(x, y)| {
                EmptyElement::at((x, y))
                    + PathElement::new(vec![(0, 0), (7, 0)], color.stroke_width(width))
                    + PathElement::new(vec![(12, 0), (20, 0)], color.stroke_width(width))
            });
        } else {
            anno.legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(width))
            });
        }
    }
    chart
        .configure_series_labels()
        .position(corner)
        .margin(12)
        .label_font((FONT, 16).into_font().color(&TEXT))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .draw()
        .map_err(e)?;
    let far = |y: f64| if y > y_hi { "above" } else { "below" };
    let off: Vec<String> = spec
        .levels
        .iter()
        .filter(|l| !levels.iter().any(|s| std::ptr::eq(*s, *l)))
        .map(|l| format!("{} is far {} the data, not drawn", l.label, far(l.y)))
        .chain(
            spec.limits
                .iter()
                .filter(|l| !limits.iter().any(|s| std::ptr::eq(*s, *l)))
                .map(|l| {
                    let end = l.points.last().map_or(0.0, |p| p.1);
                    format!("{} is far {} the data, not drawn", l.label, far(end))
                }),
        )
        .collect();
    if !off.is_empty() {
        root.draw(&Text::new(
            fit_text(&off.join(" · "), 140),
            (24, HEIGHT as i32 - 26),
            (FONT, 15).into_font().color(&PURPLE),
        ))
        .map_err(e)?;
    }
    Ok(())
}

/// Share of the plot's height the legend takes: 20 px per entry and its
/// margins, of a plot about 520 px tall.
fn legend_height(entries: usize) -> f64 {
    ((entries as f64 * 20.0 + 24.0) / 520.0).min(0.9)
}

/// The corner of the plot where the legend hides the fewest points of the
/// lines (the upper left on a tie), and how many it hides there.
fn legend_corner(
    spec: &ChartSpec,
    (x_lo, x_hi): (f64, f64),
    (y_lo, y_hi): (f64, f64),
    entries: usize,
) -> (SeriesLabelPosition, usize) {
    // NOTE: legend text is about 8.5 px per character at its size, plus
    // the sample line and margins, of a plot about 1050 px wide.
    let chars = spec
        .lines
        .iter()
        .chain(&spec.limits)
        .map(|l| l.label.chars().count())
        .chain(spec.levels.iter().map(|l| l.label.chars().count()))
        .chain(spec.band.iter().map(|b| b.2.chars().count()))
        .chain(spec.fan.iter().map(|f| f.2.chars().count()))
        .max()
        .unwrap_or(0);
    let w = ((chars as f64 * 8.5 + 70.0) / 1050.0).min(1.0) * (x_hi - x_lo);
    let h = legend_height(entries) * (y_hi - y_lo);
    let corners = [
        (
            SeriesLabelPosition::UpperLeft,
            x_lo,
            x_lo + w,
            y_hi - h,
            y_hi,
        ),
        (
            SeriesLabelPosition::LowerLeft,
            x_lo,
            x_lo + w,
            y_lo,
            y_lo + h,
        ),
        (
            SeriesLabelPosition::UpperRight,
            x_hi - w,
            x_hi,
            y_hi - h,
            y_hi,
        ),
        (
            SeriesLabelPosition::LowerRight,
            x_hi - w,
            x_hi,
            y_lo,
            y_lo + h,
        ),
    ];
    // NOTE: a line's segments count, not only its points: a flat line of
    // two points runs under the whole legend.
    let hidden = |&(_, x0, x1, y0, y1): &(SeriesLabelPosition, f64, f64, f64, f64)| {
        spec.lines
            .iter()
            .chain(&spec.limits)
            .flat_map(|l| l.points.windows(2))
            .filter(|w| {
                let (a, b) = (w[0], w[1]);
                let (ylo, yhi) = (a.1.min(b.1), a.1.max(b.1));
                a.0.min(b.0) <= x1 && a.0.max(b.0) >= x0 && ylo <= y1 && yhi >= y0
            })
            .count()
    };
    let mut best = 0;
    let mut fewest = usize::MAX;
    for (i, c) in corners.iter().enumerate() {
        let n = hidden(c);
        if n < fewest {
            fewest = n;
            best = i;
        }
    }
    let pos = match best {
        0 => SeriesLabelPosition::UpperLeft,
        1 => SeriesLabelPosition::LowerLeft,
        2 => SeriesLabelPosition::UpperRight,
        _ => SeriesLabelPosition::LowerRight,
    };
    (pos, fewest)
}

/// Characters of a subtitle line that fit the chart's width at its size.
const SUBTITLE_CHARS: usize = 130;

/// Split a subtitle into at most two lines at ` · ` (then at spaces), the
/// second cut to fit, so nothing runs off the chart.
fn wrap(s: &str, max: usize) -> Vec<String> {
    if s.chars().count() <= max {
        return vec![s.to_string()];
    }
    let head: String = s.chars().take(max).collect();
    let cut = head
        .rfind(" · ")
        .map(|i| (i, i + " · ".len()))
        .or_else(|| head.rfind(' ').map(|i| (i, i + 1)))
        .unwrap_or((head.len(), head.len()));
    vec![s[..cut.0].to_string(), fit_text(&s[cut.1..], max)]
}

/// Cut `s` to `max` characters with an ellipsis, so a long subtitle does
/// not run off the chart.
fn fit_text(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::verdict::Verdict;

    #[test]
    fn units_fit_the_numbers() {
        assert_eq!(byte_unit(34.0 * 1048576.0).name, "MiB");
        assert_eq!(byte_unit(22.5 * 1073741824.0).name, "GiB");
        assert_eq!(byte_unit(512.0).name, "B");
        assert_eq!(time_unit(8.0), (1.0, "s"));
        assert_eq!(time_unit(600.0), (60.0, "min"));
        assert_eq!(time_unit(4.0 * 3600.0), (3600.0, "h"));
        // Steps of 1, 0.2 and 0.02.
        assert_eq!(decimals_for(7.6, 10), 0);
        assert_eq!(decimals_for(1.6, 10), 1);
        assert_eq!(decimals_for(0.16, 8), 2);
    }

    #[test]
    fn decimation_keeps_spikes() {
        let x: Vec<f64> = (0..100_000).map(f64::from).collect();
        let mut y = vec![1.0; 100_000];
        y[54_321] = 99.0;
        let d = decimate(&x, &y, 1000);
        assert!(d.len() <= 1000);
        assert!(d.contains(&(54_321.0, 99.0)));
        assert!(d.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn long_subtitles_wrap_at_separators() {
        let s = format!("{} · {}", "a".repeat(100), "b".repeat(50));
        assert_eq!(wrap(&s, 130), vec!["a".repeat(100), "b".repeat(50)]);
        assert_eq!(wrap("short", 130), vec!["short".to_string()]);
    }

    #[test]
    fn fit_anchor_is_the_median_offset() {
        let x: Vec<f64> = (0..11).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|v| 5.0 + 2.0 * v).collect();
        assert_eq!(fit_anchor(&x, &y, 4.0, 2.0, false), Some(13.0));
    }

    /// A report of 120 s of samples (1 Hz, 100 items/s) where rss and heap
    /// grow 1 MiB/s, judged against `thresholds`.
    fn leak_report(thresholds: &[&str]) -> (crate::report::Report, SampleTable) {
        use crate::analysis::{AnalysisOptions, Warmup};
        const MIB: u64 = 1 << 20;
        let mut t = SampleTable::new(vec![Metric::Rss, Metric::Heap]);
        for i in 0..120u64 {
            t.push(
                i as f64,
                Some(i * 100),
                &[Some(100 * MIB + i * MIB), Some(20 * MIB + i * MIB)],
            );
        }
        let analysis = crate::analysis::analyze(
            &t,
            &AnalysisOptions {
                warmup: Warmup::Time(std::time::Duration::from_secs(10)),
                confidence: 0.95,
                thresholds: thresholds.iter().map(|e| e.parse().unwrap()).collect(),
                min_growth: crate::analysis::DEFAULT_MIN_GROWTH,
            },
        );
        let report = crate::report::Report {
            schema_version: crate::runfolder::SCHEMA_VERSION,
            verdict: Verdict::Fail,
            exit_code: 1,
            interrupted: false,
            ended_by: "duration".into(),
            mode: "run".into(),
            warmup: "10s".into(),
            confidence: 0.95,
            min_growth: crate::analysis::DEFAULT_MIN_GROWTH,
            backend: None,
            workload: None,
            replay: None,
            target: None,
            backend_errors: 0,
            fail_fast: None,
            errors: vec![],
            notes: vec![],
            analysis,
            classification: None,
            projection: None,
        };
        (report, t)
    }

    #[test]
    fn slope_growth_and_per_1k_limits_are_drawn_from_the_warmup_level() {
        let (report, t) = leak_report(&[
            "rss.slope<30MiB/min",
            "rss.growth<50MiB",
            "rss.growth<10GiB",
            "heap.slope_per_1k<5MiB",
        ]);
        let ctx = ExportContext {
            samples: Some(&t),
            ..ExportContext::new(&report)
        };
        let specs = specs(&ctx);
        let rss = specs.iter().find(|s| s.file_stem == "chart-rss").unwrap();
        // Fitted level at the end of warm-up (10 s): 110 MiB; the run ends
        // at 119 s.
        let slope = &rss.limits[0];
        assert_eq!(
            slope.label,
            "limit rss.slope<30MiB/min (from the level at warm-up end)"
        );
        let (a, b) = (slope.points[0], slope.points[1]);
        assert!(
            (a.0 - 10.0).abs() < 1e-9 && (a.1 - 110.0).abs() < 1e-6,
            "{a:?}"
        );
        // 30 MiB/min is 0.5 MiB/s for 109 s.
        assert!(
            (b.0 - 119.0).abs() < 1e-9 && (b.1 - 164.5).abs() < 1e-6,
            "{b:?}"
        );
        let growth = &rss.limits[1];
        assert!(growth.points.iter().all(|p| (p.1 - 160.0).abs() < 1e-6));
        let (svg, png) = render_both(rss).unwrap();
        assert!(svg.contains("limit rss.slope&lt;30MiB/min"), "labelled");
        assert!(svg.contains("limit rss.growth&lt;50MiB"), "labelled");
        // 10 GiB above a 220 MiB series: left off, and said so.
        assert!(
            svg.contains("limit rss.growth&lt;10GiB (from the level at warm-up end) is far above the data, not drawn")
        );
        assert_eq!(&png[..4], b"\x89PNG");
        let items = specs.iter().find(|s| s.file_stem == "chart-items").unwrap();
        let per_1k = &items.limits[0];
        assert_eq!(per_1k.label, "limit heap.slope_per_1k<5MiB");
        // From 1000 items (10 s) at 30 MiB to 11 900 items: 5 MiB per 1000.
        let (a, b) = (per_1k.points[0], per_1k.points[1]);
        assert!(
            (a.0 - 1.0).abs() < 1e-9 && (a.1 - 30.0).abs() < 1e-6,
            "{a:?}"
        );
        assert!(
            (b.0 - 11.9).abs() < 1e-9 && (b.1 - 84.5).abs() < 1e-6,
            "{b:?}"
        );
    }

    #[test]
    fn renders_svg_and_png_with_text() {
        let spec = ChartSpec {
            file_stem: "chart-test".into(),
            title: "rss: FAIL".into(),
            subtitle: "drift 2 MiB/min".into(),
            x_desc: "time since start (s)".into(),
            y_desc: "rss (MiB)".into(),
            lines: vec![Line {
                label: "rss".into(),
                points: (0..50)
                    .map(|i| (f64::from(i), 10.0 + f64::from(i) * 0.5))
                    .collect(),
                color: BLUE,
                width: 2,
                dashed: false,
            }],
            band: Some((0.0, 5.0, "warm-up".into())),
            fan: None,
            levels: vec![Level {
                label: "cap rss.max<40MiB".into(),
                y: 40.0,
                color: PURPLE,
            }],
            limits: vec![],
            x_decimals: 0,
            y_decimals: 0,
        };
        let (svg, png) = render_both(&spec).unwrap();
        assert!(svg.contains("<svg") && svg.contains("rss: FAIL"));
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(
            u32::from_be_bytes([png[16], png[17], png[18], png[19]]),
            WIDTH
        );
        // Text was rasterised: some pixels are the title's dark colour.
        let dec = png::Decoder::new(std::io::Cursor::new(png));
        let mut r = dec.read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size()];
        r.next_frame(&mut buf).unwrap();
        let dark = buf
            .chunks(3)
            .filter(|p| p[0] < 60 && p[1] < 60 && p[2] < 60)
            .count();
        assert!(dark > 200, "{dark} dark pixels");
    }
}
