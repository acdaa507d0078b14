//! `bencher.json`: a run's drift statistics in Bencher's metric format
//! (BMF: `{benchmark: {measure: {value, lower_value, upper_value}}}`), so a
//! service built for it (bencher.dev) tracks drift across commits. Per
//! metric: `<metric>-slope` (bytes/min, with its CI as the bounds),
//! `<metric>-slope-per-1k` (bytes per 1000 items, with its CI) and
//! `<metric>-max` (bytes).

use serde_json::{Map, Value, json};

use super::{Artifact, ExportContext, ExportError, Exporter};
use crate::runfolder::Report;

/// The Bencher exporter.
pub struct Bencher;

impl Exporter for Bencher {
    fn file_name(&self) -> &'static str {
        crate::runfolder::BENCHER_JSON
    }

    fn render(&self, ctx: &ExportContext<'_>) -> Result<Vec<Artifact>, ExportError> {
        let name = benchmark_name(ctx.report);
        Ok(vec![Artifact::text(
            self.file_name(),
            document(&[(name, ctx.report)]),
        )])
    }
}

/// The benchmark a run is tracked as: `mode[/backend][/workload]`
/// (`run/candle/synthetic`), so runs of one configuration line up across
/// commits.
pub fn benchmark_name(r: &Report) -> String {
    let mut parts = vec![r.mode.clone()];
    parts.extend(r.backend.as_ref().map(|b| b.name.clone()));
    parts.extend(r.workload.clone());
    parts.join("/")
}

/// A measure's slug: lowercase, `-` between words (`heap_active-slope`
/// → `heap-active-slope`).
fn slug(metric: &str, what: &str) -> String {
    format!("{}-{what}", metric.replace('_', "-"))
}

/// The measures of one report.
pub fn measures(r: &Report) -> Map<String, Value> {
    let mut m = Map::new();
    for a in &r.analysis.metrics {
        let name = a.metric.name();
        if let Some(e) = a.slope_per_min {
            m.insert(
                slug(name, "slope"),
                json!({"value": e.value, "lower_value": e.ci_low, "upper_value": e.ci_high}),
            );
        }
        if let Some(e) = a.slope_per_1k {
            m.insert(
                slug(name, "slope-per-1k"),
                json!({"value": e.value, "lower_value": e.ci_low, "upper_value": e.ci_high}),
            );
        }
        if a.max.is_finite() {
            m.insert(slug(name, "max"), json!({"value": a.max}));
        }
    }
    m
}

/// The BMF document of several reports, each under its benchmark name.
/// Non-finite numbers (a CI that could not be fitted) are left out: BMF
/// values are JSON numbers.
pub fn document(runs: &[(String, &Report)]) -> String {
    let mut doc = Map::new();
    for (name, r) in runs {
        let mut ms = measures(r);
        for v in ms.values_mut() {
            if let Some(o) = v.as_object_mut() {
                o.retain(|_, x| x.as_f64().is_some_and(f64::is_finite));
            }
        }
        ms.retain(|_, v| v.get("value").is_some());
        doc.insert(name.clone(), Value::Object(ms));
    }
    let mut s = serde_json::to_string_pretty(&Value::Object(doc)).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_goes_out_with_its_ci_as_bounds() {
        let r = Report::from_json(include_str!("../runfolder/fixtures/report-run.json")).unwrap();
        let doc: Value = serde_json::from_str(&document(&[("cell".into(), &r)])).unwrap();
        let rss = r.analysis.metric(crate::sample::Metric::Rss).unwrap();
        let e = rss.slope_per_min.unwrap();
        let m = &doc["cell"]["rss-slope"];
        assert_eq!(m["value"].as_f64(), Some(e.value));
        assert_eq!(m["lower_value"].as_f64(), Some(e.ci_low));
        assert_eq!(m["upper_value"].as_f64(), Some(e.ci_high));
        assert_eq!(doc["cell"]["rss-max"]["value"].as_f64(), Some(rss.max));
        assert!(doc["cell"].get("heap-active-max").is_some());
        assert_eq!(benchmark_name(&r).split('/').next(), Some(r.mode.as_str()));
    }
}
