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

mod draw;
mod raster;
mod spec;

pub use draw::render_svg;
pub use raster::{encode_png, render_both};
pub use spec::{
    ByteUnit, ChartSpec, Level, Line, SITE_CHARTS, byte_unit, decimate, fit_anchor, site_specs,
    specs, time_unit,
};

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

static FONT_BYTES: &[u8] = include_bytes!("../../../assets/DejaVuSans.ttf");

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

#[cfg(test)]
mod tests {
    use super::draw::*;
    use super::spec::*;
    use super::*;
    use crate::analysis::verdict::Verdict;

    #[test]
    fn units_fit_the_numbers() {
        assert_eq!(byte_unit(34.0 * crate::units::MIB).name, "MiB");
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
        const MIB: u64 = crate::units::MIB as u64;
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
                swap_total: None,
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
            cgroup: None,
            series: vec![],
            attribution: None,
            regression: None,
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
