//! What each chart shows, in plot units: the series (thinned), the fits,
//! the warm-up band, the limits, titles and axes ([`ChartSpec`]). No
//! drawing here.

use super::*;

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
pub(super) fn decimals_for(span: f64, n: usize) -> usize {
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

/// Site charts drawn in `report.html` at most.
pub const SITE_CHARTS: usize = 4;

/// One chart per top site of `--attribute` (up to [`SITE_CHARTS`], in the
/// report's order: significant first, then by growth): its live bytes at
/// each snapshot and the drift line fitted to them, with its interval as a
/// fan. None for a site without its series (a report written before it
/// was kept) and none without an attribution.
pub fn site_specs(report: &crate::runfolder::Report) -> Vec<ChartSpec> {
    let Some(at) = &report.attribution else {
        return Vec::new();
    };
    at.sites
        .iter()
        .filter(|s| s.series.len() >= 2)
        .take(SITE_CHARTS)
        .enumerate()
        .map(|(i, s)| {
            let (x, y): (Vec<f64>, Vec<f64>) = s.series.iter().map(|p| (p[0], p[1])).unzip();
            let x_end = x[x.len() - 1];
            let (tscale, tname) = time_unit(x_end - x[0]);
            let max_abs = y.iter().fold(0.0f64, |a, v| a.max(v.abs()));
            let unit = byte_unit(max_abs);
            let (px, py) = (|t: f64| t / tscale, |v: f64| v / unit.scale);
            let mut lines = vec![Line {
                label: format!("live bytes at {} ({})", s.short(), at.source),
                points: x.iter().zip(&y).map(|(a, b)| (px(*a), py(*b))).collect(),
                color: BLUE,
                width: 2,
                dashed: false,
            }];
            let slope = s.slope_per_min.value / 60.0;
            let mut fan = None;
            if let Some(a) = fit_anchor(&x, &y, x[0], slope, false).filter(|_| slope.is_finite()) {
                let at_x = |sl: f64, t: f64| a + sl * (t - x[0]);
                lines.push(Line {
                    label: format!(
                        "drift fit ({}): {}/min",
                        s.method,
                        fmt_bytes(s.slope_per_min.value)
                    ),
                    points: vec![(px(x[0]), py(a)), (px(x_end), py(at_x(slope, x_end)))],
                    color: if s.significant { RED } else { GREEN },
                    width: 3,
                    dashed: true,
                });
                let edge = |per_min: f64| {
                    vec![
                        (px(x[0]), py(a)),
                        (px(x_end), py(at_x(per_min / 60.0, x_end))),
                    ]
                };
                fan = Some((
                    edge(s.slope_per_min.ci_low),
                    edge(s.slope_per_min.ci_high),
                    format!(
                        "{} CI of the drift",
                        crate::units::fmt_percent(report.confidence)
                    ),
                ));
            }
            ChartSpec {
                file_stem: format!("site-{}", i + 1),
                title: format!(
                    "site {}: {}{}",
                    i + 1,
                    fit_text(&s.short(), 90),
                    if s.significant {
                        " · growing (significant)"
                    } else {
                        ""
                    }
                ),
                subtitle: format!(
                    "{} · growth {} ({} → {}) · drift {}/min (CI {} … {}/min), {}{}",
                    fit_text(&s.code, 60),
                    fmt_bytes(s.growth),
                    fmt_bytes(s.bytes_first),
                    fmt_bytes(s.bytes_last),
                    fmt_bytes(s.slope_per_min.value),
                    fmt_bytes(s.slope_per_min.ci_low),
                    fmt_bytes(s.slope_per_min.ci_high),
                    crate::units::fmt_p_is(s.p_value),
                    s.share.map_or(String::new(), |v| format!(
                        " · {:.0}% of the traced growth",
                        100.0 * v
                    ))
                ),
                x_desc: format!("time since the first snapshot ({tname})"),
                y_desc: format!("live bytes ({})", unit.name),
                lines,
                band: None,
                fan,
                levels: vec![],
                limits: vec![],
                x_decimals: decimals_for(px(x_end - x[0]), X_TICKS),
                y_decimals: decimals_for(py(max_abs), Y_TICKS),
            }
        })
        .collect()
}

/// Finite (t, y) of one column.
pub(super) fn column(table: &SampleTable, m: Metric) -> Option<(Vec<f64>, Vec<f64>)> {
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

pub(super) fn metric_spec(
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
            m.trend_p_value.map_or(String::new(), |p| format!(
                ", {}",
                crate::units::fmt_p_is(p)
            ))
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
                format!(
                    "{} CI of the drift",
                    crate::units::fmt_percent(report.confidence)
                ),
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
pub(super) fn items_spec(ctx: &ExportContext<'_>, table: &SampleTable) -> Option<ChartSpec> {
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
pub(super) const PROCESS_LINES: usize = 6;

/// The RSS of the tree's largest processes over time (`processes.csv`):
/// the classification's processes first (most growth first), then the
/// largest; the process the growth is confined to in red.
pub(super) fn processes_spec(ctx: &ExportContext<'_>) -> Option<ChartSpec> {
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
pub(super) fn compare_spec(
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

/// Cut `s` to `max` characters with an ellipsis, so a long subtitle does
/// not run off the chart.
pub(super) fn fit_text(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}
