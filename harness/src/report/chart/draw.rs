//! Drawing a [`ChartSpec`] with plotters on any backend: axes, series,
//! fits, levels, legend placement and subtitle wrapping; SVG rendering.

use super::spec::{ChartSpec, Level, Line, fit_text};
use super::*;

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

/// The y range of a chart: the data and fits, padded; caps and limits
/// within reach stretch it, those far away are left off the chart (and say
/// so).
pub(super) fn y_range(spec: &ChartSpec) -> (f64, f64, Vec<&Level>, Vec<&Line>) {
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

pub(super) fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    spec: &ChartSpec,
) -> Result<(), String>
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
pub(super) fn legend_height(entries: usize) -> f64 {
    ((entries as f64 * 20.0 + 24.0) / 520.0).min(0.9)
}

/// The corner of the plot where the legend hides the fewest points of the
/// lines (the upper left on a tie), and how many it hides there.
pub(super) fn legend_corner(
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
pub(super) const SUBTITLE_CHARS: usize = 130;

/// Split a subtitle into at most two lines at ` · ` (then at spaces), the
/// second cut to fit, so nothing runs off the chart.
pub(super) fn wrap(s: &str, max: usize) -> Vec<String> {
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
