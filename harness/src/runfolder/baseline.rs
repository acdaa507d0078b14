//! Baselines: a run promoted into `baselines/NAME/` that later runs are
//! compared against (`memsoak baseline save`, `memsoak compare`).
//!
//! A baseline folder holds `baseline.json` (the drift statistics with their
//! CIs, the max of each metric, and the metadata of the run it came from:
//! commit, backend, model, workload, host) and, when it is small enough to
//! chart, a copy of the run's `samples.csv`.

use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::meta::Host;
use super::{FolderError, RunFolder, SAMPLES_CSV};
use crate::analysis::compare::Side;
use crate::analysis::verdict::Verdict;

/// Version of the `baseline.json` layout.
pub const BASELINE_SCHEMA_VERSION: u32 = 1;

/// A baseline's statistics and metadata.
pub const BASELINE_JSON: &str = "baseline.json";

/// Where baselines live by default, relative to the working directory.
pub const DEFAULT_ROOT: &str = "baselines";

/// Largest `samples.csv` copied whole into a baseline; a bigger one is
/// thinned to about this size (every k-th row), which still charts well.
pub const MAX_SAMPLES_COPY: u64 = 1 << 20;

/// A run promoted into a baseline (`baseline.json`): the statistics a
/// comparison reads ([`Side`], the same types as `report.json`'s) and where
/// they came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Layout version ([`BASELINE_SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// When it was saved (RFC 3339).
    #[serde(default)]
    pub created_at: Option<String>,
    /// The run folder it was saved from, as given.
    #[serde(default)]
    pub source_run: Option<String>,
    /// `run`, `watch` or `analyze`.
    #[serde(default)]
    pub mode: Option<String>,
    /// The run's verdict.
    #[serde(default)]
    pub verdict: Option<Verdict>,
    /// Whether SIGINT/SIGTERM ended the run (its `report.json` says
    /// `interrupted`): its drift covers only the part of the run taken.
    /// Written only when true, so a baseline of a whole run reads as before.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// Host facts from `run.json`.
    #[serde(default)]
    pub host: Option<Host>,
    /// Sample rows.
    pub samples: usize,
    /// Items embedded.
    #[serde(default)]
    pub items: Option<u64>,
    /// Confidence of the CIs.
    pub confidence: f64,
    /// Warm-up rule as typed.
    pub warmup: String,
    /// File name of the samples copy in the baseline folder, if kept.
    #[serde(default)]
    pub samples_csv: Option<String>,
    /// What a comparison reads: name, backend, versions, per-metric drift.
    #[serde(flatten)]
    pub side: Side,
}

/// Why a baseline could not be saved or read.
#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// A file is not what it should be.
    #[error("{path}: {why}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The name cannot be a folder name.
    #[error(
        "invalid baseline name `{0}` (use letters, digits, `-`, `_` and `.`, not starting with `.`)"
    )]
    Name(String),
    /// Saving would replace an existing baseline.
    #[error("baseline {0} already exists (use --force to replace it)")]
    Exists(PathBuf),
    /// No baseline by that name or path.
    #[error("baseline `{name}` not found (no {looked})")]
    NotFound {
        /// As given.
        name: String,
        /// Where it was looked for.
        looked: String,
    },
    /// The run cannot serve as a baseline.
    #[error("{0}")]
    Unusable(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> BaselineError + '_ {
    move |source| BaselineError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Read a JSON file.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, BaselineError> {
    let text = std::fs::read_to_string(path).map_err(io_err(path))?;
    serde_json::from_str(&text).map_err(|e| BaselineError::Invalid {
        path: path.to_path_buf(),
        why: format!("not a valid file of its kind: {e}"),
    })
}

/// Read a run folder (its `report.json` and, if present, `run.json`) into
/// statistics named `name`.
pub fn from_run(dir: &Path, name: &str) -> Result<Baseline, BaselineError> {
    let folder = RunFolder::at(dir);
    let r = folder.read_report().map_err(|e| match e {
        FolderError::Read { path, why } => BaselineError::Invalid { path, why },
        other => BaselineError::Invalid {
            path: dir.to_path_buf(),
            why: other.to_string(),
        },
    })?;
    // NOTE: its top-level analysis is empty (each series has its own), so
    // it read as a run with too few samples to fit.
    if r.mode == "prometheus" || !r.series.is_empty() {
        return Err(BaselineError::Unusable(format!(
            "{}: an `analyze --prometheus` report ({} series), not a run: it cannot be a baseline or be compared",
            dir.display(),
            r.series.len()
        )));
    }
    let run = folder.read_meta().ok();
    Ok(Baseline {
        schema_version: BASELINE_SCHEMA_VERSION,
        created_at: None,
        source_run: Some(dir.display().to_string()),
        mode: Some(r.mode),
        verdict: Some(r.verdict),
        interrupted: r.interrupted,
        host: run.as_ref().and_then(|m| m.host.clone()),
        samples: r.analysis.samples,
        items: r.analysis.items,
        confidence: r.confidence,
        warmup: r.warmup,
        samples_csv: None,
        side: Side {
            name: name.to_string(),
            git_commit: run.as_ref().and_then(|m| m.git_commit.clone()),
            backend: r.backend.as_ref().map(|b| b.name.clone()),
            model: r.backend.as_ref().and_then(|b| b.model.clone()),
            workload: r
                .workload
                .or_else(|| run.as_ref().and_then(|m| m.workload.clone())),
            versions: run.map(|m| m.versions),
            duration_s: r.analysis.duration_s,
            metrics: r.analysis.metrics,
        },
    })
}

/// Whether `name` can be a baseline folder name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Save the run folder `run_dir` as baseline `name` under `root`
/// (`baselines/NAME/`). Returns the baseline and its folder.
pub fn save(
    run_dir: &Path,
    name: &str,
    root: &Path,
    force: bool,
) -> Result<(Baseline, PathBuf), BaselineError> {
    if !valid_name(name) {
        return Err(BaselineError::Name(name.into()));
    }
    let mut b = from_run(run_dir, name)?;
    if b.verdict == Some(Verdict::Error) {
        return Err(BaselineError::Unusable(format!(
            "{}: the run ended in error; an errored run is no baseline",
            run_dir.display()
        )));
    }
    if b.side.metrics.iter().all(|m| m.slope_per_min.is_none()) {
        return Err(BaselineError::Unusable(format!(
            "{}: no metric has a drift fit (too few samples after warm-up)",
            run_dir.display()
        )));
    }
    let dir = root.join(name);
    if dir.join(BASELINE_JSON).exists() && !force {
        return Err(BaselineError::Exists(dir));
    }
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    b.created_at = Some(chrono::Utc::now().to_rfc3339());
    let samples = run_dir.join(SAMPLES_CSV);
    if samples.is_file() {
        let dest = dir.join(SAMPLES_CSV);
        copy_thinned(&samples, &dest, MAX_SAMPLES_COPY)?;
        b.samples_csv = Some(SAMPLES_CSV.into());
    }
    let path = dir.join(BASELINE_JSON);
    let mut text = serde_json::to_string_pretty(&b).map_err(|e| BaselineError::Invalid {
        path: path.clone(),
        why: e.to_string(),
    })?;
    text.push('\n');
    std::fs::write(&path, text).map_err(io_err(&path))?;
    Ok((b, dir))
}

/// Copy a samples file, keeping every k-th row when it is larger than
/// `max` bytes (the header and the last row always).
pub fn copy_thinned(src: &Path, dest: &Path, max: u64) -> Result<(), BaselineError> {
    let size = std::fs::metadata(src).map_err(io_err(src))?.len();
    if size <= max {
        std::fs::copy(src, dest).map_err(io_err(dest))?;
        return Ok(());
    }
    let text = std::fs::read_to_string(src).map_err(io_err(src))?;
    let k = size.div_ceil(max).max(1) as usize;
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::with_capacity(max as usize + 4096);
    for (i, l) in lines.iter().enumerate() {
        if i == 0 || (i - 1) % k == 0 || i + 1 == lines.len() {
            out.push_str(l);
            out.push('\n');
        }
    }
    std::fs::write(dest, out).map_err(io_err(dest))
}

/// Find a baseline given as a name (under `root`) or a folder (a baseline
/// folder, or any run folder).
pub fn resolve(spec: &str, root: &Path) -> Result<PathBuf, BaselineError> {
    let as_path = Path::new(spec);
    if as_path.is_dir() {
        return Ok(as_path.to_path_buf());
    }
    if valid_name(spec) {
        let dir = root.join(spec);
        if dir.is_dir() {
            return Ok(dir);
        }
        return Err(BaselineError::NotFound {
            name: spec.into(),
            looked: format!("folder {} or {}", spec, dir.display()),
        });
    }
    Err(BaselineError::NotFound {
        name: spec.into(),
        looked: format!("folder {spec}"),
    })
}

/// Load a baseline folder: its `baseline.json`, or a plain run folder's
/// report. Returns the statistics and the samples file, if any.
pub fn load(dir: &Path) -> Result<(Baseline, Option<PathBuf>), BaselineError> {
    let json = dir.join(BASELINE_JSON);
    if json.is_file() {
        let b: Baseline = read_json(&json)?;
        if b.schema_version != BASELINE_SCHEMA_VERSION {
            return Err(BaselineError::Invalid {
                path: json,
                why: format!(
                    "schema_version {} (this memsoak reads {BASELINE_SCHEMA_VERSION})",
                    b.schema_version
                ),
            });
        }
        let samples = b
            .samples_csv
            .as_ref()
            .map(|f| dir.join(f))
            .filter(|p| p.is_file());
        return Ok((b, samples));
    }
    if dir.join(super::REPORT_JSON).is_file() {
        let name = dir
            .file_name()
            .map_or("baseline".into(), |n| n.to_string_lossy().into_owned());
        let b = from_run(dir, &name)?;
        let samples = Some(dir.join(SAMPLES_CSV)).filter(|p| p.is_file());
        return Ok((b, samples));
    }
    Err(BaselineError::Invalid {
        path: dir.to_path_buf(),
        why: "neither a baseline (baseline.json) nor a run folder (report.json)".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Metric;

    const REPORT: &str = r#"{
      "schema_version": 1, "verdict": "pass", "exit_code": 0, "mode": "run",
      "warmup": "auto", "confidence": 0.95,
      "backend": {"name": "synthetic", "model": null, "dim": 384, "details": {}},
      "workload": "synthetic",
      "analysis": {"duration_s": 60.0, "samples": 60, "items": 6000, "dropped_rows": 0,
        "metrics": [{"metric": "rss", "samples": 60, "warmup_end_s": 5.0,
          "slope_per_min": {"value": 1000.0, "ci_low": -500.0, "ci_high": 2500.0},
          "slope_per_1k": null, "trend_p_value": 0.4, "significant": false,
          "growth": 900.0, "max": 10485760.0, "min": 1.0, "first": 1.0, "last": 9.0,
          "future_field": [1, 2]}],
        "thresholds": []}
    }"#;

    #[test]
    fn saves_reads_and_refuses_to_overwrite() {
        let d = tempfile::tempdir().unwrap();
        let run = d.path().join("run");
        std::fs::create_dir(&run).unwrap();
        std::fs::write(run.join("report.json"), REPORT).unwrap();
        std::fs::write(
            run.join("run.json"),
            r#"{"git_commit": "abc123", "host": {"cpus": 2}}"#,
        )
        .unwrap();
        std::fs::write(run.join("samples.csv"), "t_s,items,rss\n0,0,1\n").unwrap();
        let root = d.path().join("baselines");
        let (b, dir) = save(&run, "ci-main", &root, false).unwrap();
        assert_eq!(dir, root.join("ci-main"));
        assert_eq!(b.side.git_commit.as_deref(), Some("abc123"));
        assert_eq!(b.side.backend.as_deref(), Some("synthetic"));
        let (back, samples) = load(&resolve("ci-main", &root).unwrap()).unwrap();
        assert_eq!(back, b);
        assert_eq!(
            back.side
                .metric(Metric::Rss)
                .unwrap()
                .slope_per_min
                .unwrap()
                .ci_high,
            2500.0
        );
        assert!(samples.unwrap().ends_with("samples.csv"));
        let e = save(&run, "ci-main", &root, false).unwrap_err().to_string();
        assert!(e.contains("already exists"), "{e}");
        assert!(save(&run, "ci-main", &root, true).is_ok());
        assert!(matches!(
            save(&run, "../x", &root, false),
            Err(BaselineError::Name(_))
        ));
        let e = resolve("nope", &root).unwrap_err().to_string();
        assert!(e.contains("`nope` not found"), "{e}");
        // A run folder serves as a baseline directly.
        let (b, _) = load(&run).unwrap();
        assert_eq!(b.side.name, "run");
        assert!(!b.interrupted);
        let text = std::fs::read_to_string(root.join("ci-main/baseline.json")).unwrap();
        assert!(!text.contains("interrupted"), "{text}");
    }

    #[test]
    fn an_interrupted_run_is_saved_saying_so() {
        // Regression: saved with no word of it, where a failed run warns.
        let d = tempfile::tempdir().unwrap();
        let run = d.path().join("run");
        std::fs::create_dir(&run).unwrap();
        let report = REPORT.replace(
            r#""exit_code": 0,"#,
            r#""exit_code": 130, "interrupted": true, "ended_by": "interrupted","#,
        );
        std::fs::write(run.join("report.json"), report).unwrap();
        let root = d.path().join("baselines");
        let (b, _) = save(&run, "partial", &root, false).unwrap();
        assert!(b.interrupted);
        let (back, _) = load(&resolve("partial", &root).unwrap()).unwrap();
        assert!(back.interrupted);
    }

    #[test]
    fn a_prometheus_report_is_no_run() {
        // Regression: `baseline save` of an `analyze --prometheus` folder
        // blamed "too few samples after warm-up".
        let d = tempfile::tempdir().unwrap();
        let run = d.path().join("prom");
        std::fs::create_dir(&run).unwrap();
        let series = r#""mode": "prometheus", "series": [{"name": "m{a=\"1\"}",
          "labels": {"a": "1"}, "points": 200, "gaps": 0, "non_finite": 0, "verdict": "fail"}]"#;
        std::fs::write(
            run.join("report.json"),
            REPORT.replace(r#""mode": "run""#, series),
        )
        .unwrap();
        let e = save(&run, "p", &d.path().join("b"), false)
            .unwrap_err()
            .to_string();
        assert!(
            e.ends_with("prom: an `analyze --prometheus` report (1 series), not a run: it cannot be a baseline or be compared"),
            "{e}"
        );
        assert!(!d.path().join("b").exists());
    }

    #[test]
    fn big_samples_are_thinned() {
        let d = tempfile::tempdir().unwrap();
        let src = d.path().join("s.csv");
        let mut text = String::from("t_s,items,rss\n");
        for i in 0..10_000 {
            text.push_str(&format!("{i}.000,{i},{}\n", 1_000_000 + i));
        }
        std::fs::write(&src, &text).unwrap();
        let dest = d.path().join("d.csv");
        copy_thinned(&src, &dest, 50_000).unwrap();
        let out = std::fs::read_to_string(&dest).unwrap();
        assert!(out.len() <= 60_000, "{}", out.len());
        assert!(out.starts_with("t_s,items,rss\n0.000,0,"));
        assert!(out.trim_end().ends_with("9999.000,9999,1009999"));
        let t = super::super::samples::read_samples(&dest).unwrap();
        assert!(t.len() > 100);
    }
}
