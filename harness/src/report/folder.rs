//! Read a finished run folder back (`report.json`, `samples.csv`,
//! `processes.csv`, `run.json`, `compare.json`) into a [`Report`] and its
//! samples, so `memsoak report` and
//! `memsoak compare` can render its files again.
//!
//! The stored numbers are authoritative: the samples are re-analysed with the
//! run's warm-up rule and confidence only to rebuild typed values, and every
//! statistic and threshold outcome found in `report.json` then replaces the
//! recomputed one. A report re-rendered by a newer memsoak keeps the
//! verdict the run had.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{Report, SCHEMA_VERSION, TargetReport, Verdict};
use crate::analysis::{self, AnalysisOptions, Estimate, MetricAnalysis, Outcome, Warmup};
use crate::backend::BackendInfo;
use crate::processes::ProcessTable;
use crate::record::{SampleTable, read_samples};
use crate::target::{StopOutcome, TargetStatus};
use crate::threshold::Threshold;

/// Why a run folder could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FolderError {
    /// A file is missing or unreadable.
    #[error("{path}: {why}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
}

/// A run folder read back.
#[derive(Debug, Clone)]
pub struct RunFolder {
    /// The folder.
    pub dir: PathBuf,
    /// The report, rebuilt (classification and projection filled in).
    pub report: Report,
    /// Its samples.
    pub samples: SampleTable,
    /// Its per-process readings (`processes.csv`), when the run took them.
    pub processes: Option<ProcessTable>,
    /// Its `run.json`, when present and valid.
    pub run: Option<Value>,
}

/// Read `run.json` of a run folder.
pub fn read_run_json(dir: &Path) -> Result<Value, FolderError> {
    read_json(&dir.join("run.json"))
}

fn read_json(path: &Path) -> Result<Value, FolderError> {
    let err = |why: String| FolderError::Read {
        path: path.to_path_buf(),
        why,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| err(format!("invalid JSON: {e}")))
}

fn f(v: &Value, k: &str) -> Option<f64> {
    v.get(k)?.as_f64()
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k)?.as_str().map(str::to_string)
}

fn estimate(v: &Value, k: &str) -> Option<Option<Estimate>> {
    let e = v.get(k)?;
    if e.is_null() {
        return Some(None);
    }
    Some(Some(Estimate {
        value: f(e, "value")?,
        ci_low: f(e, "ci_low")?,
        ci_high: f(e, "ci_high")?,
    }))
}

/// Replace the recomputed statistics of `m` by the stored ones.
fn apply_stored_metric(m: &mut MetricAnalysis, v: &Value) {
    if let Some(x) = v.get("samples").and_then(Value::as_u64) {
        m.samples = x as usize;
    }
    if let Some(x) = v.get("steady_samples").and_then(Value::as_u64) {
        m.steady_samples = x as usize;
    }
    if let Some(x) = f(v, "warmup_end_s") {
        m.warmup_end_s = x;
    }
    if let Some(x) = estimate(v, "slope_per_min") {
        m.slope_per_min = x;
    }
    if let Some(x) = estimate(v, "slope_per_1k") {
        m.slope_per_1k = x;
    }
    if v.get("trend_p_value").is_some() {
        m.trend_p_value = f(v, "trend_p_value");
    }
    if let Some(x) = v.get("significant").and_then(Value::as_bool) {
        m.significant = x;
    }
    if v.get("method").is_some() {
        m.method = s(v, "method");
    }
    if v.get("model").is_some() {
        m.model = s(v, "model");
        m.model_reason = s(v, "model_reason");
    }
    if v.get("cycle_s").is_some() {
        m.cycle_s = f(v, "cycle_s");
    }
    if v.get("ols_slope_per_min").is_some() {
        m.ols_slope_per_min = f(v, "ols_slope_per_min");
    }
    if v.get("growth").is_some() {
        m.growth = f(v, "growth");
    }
    for (k, slot) in [
        ("max", &mut m.max),
        ("min", &mut m.min),
        ("first", &mut m.first),
        ("last", &mut m.last),
    ] {
        if let Some(x) = f(v, k) {
            *slot = x;
        }
    }
}

fn target_from(v: &Value) -> Option<TargetReport> {
    let status = v.get("status")?;
    let status = match status.get("state")?.as_str()? {
        "running" => TargetStatus::Running,
        "exited" => TargetStatus::Exited {
            code: status.get("code")?.as_i64()? as i32,
        },
        "signalled" => TargetStatus::Signalled {
            signal: status.get("signal")?.as_i64()? as i32,
            name: s(status, "name")?,
        },
        _ => TargetStatus::Gone,
    };
    let stop = v.get("stop").filter(|x| !x.is_null()).and_then(|x| {
        Some(StopOutcome {
            processes: x.get("processes")?.as_u64()? as usize,
            killed: x.get("killed")?.as_bool()?,
            left: x.get("left")?.as_u64()? as usize,
        })
    });
    Some(TargetReport {
        pid: v.get("pid")?.as_u64()? as u32,
        command: v.get("command").and_then(|c| {
            c.as_array()?
                .iter()
                .map(|a| a.as_str().map(str::to_string))
                .collect()
        }),
        status,
        stop,
        stderr_tail: s(v, "stderr_tail").unwrap_or_default(),
    })
}

fn strings(v: &Value, k: &str) -> Vec<String> {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

impl RunFolder {
    /// Read the run folder `dir`.
    pub fn load(dir: &Path) -> Result<RunFolder, FolderError> {
        let err = |path: PathBuf, why: String| FolderError::Read { path, why };
        if !dir.is_dir() {
            return Err(err(dir.to_path_buf(), "not a run folder".into()));
        }
        let report_path = dir.join("report.json");
        if !report_path.is_file() {
            return Err(err(
                dir.to_path_buf(),
                "no report.json here (expected a run folder)".into(),
            ));
        }
        let stored = read_json(&report_path)?;
        if stored.get("schema_version").and_then(Value::as_u64) != Some(u64::from(SCHEMA_VERSION)) {
            return Err(err(
                report_path,
                format!("not a memsoak report of schema_version {SCHEMA_VERSION}"),
            ));
        }
        let samples = read_samples(&dir.join("samples.csv")).map_err(|e| FolderError::Read {
            path: dir.join("samples.csv"),
            why: e.to_string(),
        })?;
        let run = read_run_json(dir).ok();
        let processes_path = dir.join(crate::processes::FILE_NAME);
        let processes = processes_path
            .is_file()
            .then(|| crate::processes::read(&processes_path))
            .transpose()
            .map_err(|e| err(processes_path.clone(), e.to_string()))?;
        let report = rebuild(&stored, &samples).map_err(|why| err(report_path, why))?;
        Ok(RunFolder {
            dir: dir.to_path_buf(),
            report: report.with_tree_insights(Some(&samples), processes.as_ref()),
            samples,
            processes,
            run,
        })
    }
}

/// Rebuild a [`Report`] from a stored `report.json` and the samples.
pub fn rebuild(stored: &Value, samples: &SampleTable) -> Result<Report, String> {
    let warmup_text = s(stored, "warmup").unwrap_or_else(|| "auto".into());
    let warmup = Warmup::parse(&warmup_text).unwrap_or(Warmup::Auto);
    let confidence = f(stored, "confidence")
        .filter(|c| (0.5..1.0).contains(c))
        .unwrap_or(0.95);
    // NOTE: reports written before `min_growth` was recorded were judged
    // with the default floor.
    let min_growth = f(stored, "min_growth")
        .filter(|g| g.is_finite() && *g >= 0.0)
        .unwrap_or(analysis::DEFAULT_MIN_GROWTH);
    let a = stored.get("analysis").ok_or("no `analysis` section")?;
    let stored_thresholds: Vec<&Value> = a
        .get("thresholds")
        .and_then(Value::as_array)
        .map(|v| v.iter().collect())
        .unwrap_or_default();
    let thresholds: Vec<Threshold> = stored_thresholds
        .iter()
        .map(|t| {
            let expr = s(t, "expr").ok_or("a threshold without `expr`")?;
            expr.parse::<Threshold>().map_err(|e| e.to_string())
        })
        .collect::<Result<_, String>>()?;
    let mut analysis = analysis::analyze(
        samples,
        &AnalysisOptions {
            warmup,
            confidence,
            thresholds,
            min_growth,
        },
    );
    if let Some(list) = a.get("metrics").and_then(Value::as_array) {
        for v in list {
            let name = v.get("metric").and_then(Value::as_str).unwrap_or_default();
            if let Some(m) = analysis
                .metrics
                .iter_mut()
                .find(|m| m.metric.name() == name)
            {
                apply_stored_metric(m, v);
            }
        }
    }
    for (r, v) in analysis.thresholds.iter_mut().zip(&stored_thresholds) {
        r.measured = f(v, "measured");
        r.ci = v
            .get("ci")
            .and_then(Value::as_array)
            .and_then(|c| Some((c.first()?.as_f64()?, c.get(1)?.as_f64()?)));
        r.p_value = f(v, "p_value");
        r.outcome = match v.get("outcome").and_then(Value::as_str) {
            Some("fail") => Outcome::Fail,
            Some("skipped") => Outcome::Skipped,
            _ => Outcome::Pass,
        };
        if let Some(n) = s(v, "note") {
            r.note = n;
        }
    }
    if let Some(x) = f(a, "duration_s") {
        analysis.duration_s = x;
    }
    if let Some(x) = a.get("dropped_rows").and_then(Value::as_u64) {
        analysis.dropped_rows = x as usize;
    }
    let verdict = match s(stored, "verdict").as_deref() {
        Some("pass") => Verdict::Pass,
        Some("fail") => Verdict::Fail,
        Some("error") => Verdict::Error,
        other => return Err(format!("unknown verdict {other:?}")),
    };
    Ok(Report {
        schema_version: SCHEMA_VERSION,
        verdict,
        exit_code: stored.get("exit_code").and_then(Value::as_i64).unwrap_or(0) as i32,
        interrupted: stored
            .get("interrupted")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        ended_by: s(stored, "ended_by").unwrap_or_default(),
        mode: s(stored, "mode").unwrap_or_default(),
        warmup: warmup_text,
        confidence,
        min_growth,
        backend: stored
            .get("backend")
            .filter(|b| !b.is_null())
            .and_then(|b| serde_json::from_value::<BackendInfo>(b.clone()).ok()),
        workload: s(stored, "workload"),
        replay: stored
            .get("replay")
            .filter(|r| !r.is_null())
            .and_then(|r| serde_json::from_value(r.clone()).ok()),
        target: stored.get("target").and_then(target_from),
        backend_errors: stored
            .get("backend_errors")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        fail_fast: s(stored, "fail_fast"),
        errors: strings(stored, "errors"),
        notes: strings(stored, "notes"),
        analysis,
        classification: None,
        projection: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::json::Json;
    use crate::sample::Metric;

    #[test]
    fn a_report_survives_the_round_trip() {
        let mut t = SampleTable::new(vec![Metric::Rss]);
        for i in 0..120u64 {
            t.push(i as f64, Some(i * 10), &[Some(100 << 20 | (i * 100_000))]);
        }
        let analysis = analysis::analyze(
            &t,
            &AnalysisOptions {
                warmup: Warmup::Auto,
                confidence: 0.95,
                thresholds: vec![
                    "rss.slope<1MiB/min".parse().unwrap(),
                    "rss.max<1GiB".parse().unwrap(),
                ],
                min_growth: analysis::DEFAULT_MIN_GROWTH,
            },
        );
        let report = Report {
            schema_version: SCHEMA_VERSION,
            verdict: Verdict::Fail,
            exit_code: 1,
            interrupted: false,
            ended_by: "duration".into(),
            mode: "watch".into(),
            warmup: "auto".into(),
            confidence: 0.95,
            min_growth: 3.0 * 1048576.0,
            backend: None,
            workload: None,
            replay: None,
            target: Some(TargetReport {
                pid: 42,
                command: Some(vec!["python3".into(), "w.py".into()]),
                status: TargetStatus::Signalled {
                    signal: 15,
                    name: "SIGTERM".into(),
                },
                stop: Some(StopOutcome {
                    processes: 2,
                    killed: false,
                    left: 0,
                }),
                stderr_tail: "bye".into(),
            }),
            backend_errors: 0,
            fail_fast: None,
            errors: vec![],
            notes: vec!["a note".into()],
            analysis,
            classification: None,
            projection: None,
        }
        .with_insights(Some(&t));
        let stored: Value = serde_json::from_str(&Json::text(&report)).unwrap();
        let back = rebuild(&stored, &t).unwrap().with_insights(Some(&t));
        // NOTE: serde_json's default float parser may be off by one ULP, so
        // the two are compared as JSON with a relative tolerance.
        let again: Value = serde_json::from_str(&Json::text(&back)).unwrap();
        assert_close(&again, &stored, "");
        assert_eq!(back.target, report.target);
        assert_eq!(back.verdict, Verdict::Fail);
        assert_eq!(back.min_growth, 3.0 * 1048576.0);
    }

    fn assert_close(a: &Value, b: &Value, at: &str) {
        match (a, b) {
            (Value::Number(x), Value::Number(y)) => {
                let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
                assert!(
                    (x - y).abs() <= 1e-9 * x.abs().max(y.abs()),
                    "{at}: {x} vs {y}"
                );
            }
            (Value::Array(x), Value::Array(y)) => {
                assert_eq!(x.len(), y.len(), "{at}");
                for (i, (x, y)) in x.iter().zip(y).enumerate() {
                    assert_close(x, y, &format!("{at}[{i}]"));
                }
            }
            (Value::Object(x), Value::Object(y)) => {
                assert_eq!(x.len(), y.len(), "{at}");
                for (k, v) in x {
                    assert_close(v, &y[k], &format!("{at}.{k}"));
                }
            }
            (Value::String(x), Value::String(y)) if x != y => {
                // Texts hold formatted numbers that may differ in the last
                // digit only when the numbers do; compare their shape.
                assert_eq!(x.len(), y.len(), "{at}: {x} vs {y}");
            }
            _ => assert_eq!(a, b, "{at}"),
        }
    }
}
