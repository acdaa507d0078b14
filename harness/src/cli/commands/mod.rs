//! One module per command. Each takes a validated plan and returns the
//! exit code; an `Err` is a usage or input error (exit code 2), one line.
//! What `run` and `watch` share — judging how a soak ended and writing its
//! report — is here.

pub mod analyze;
pub mod baseline;
pub mod compare;
pub mod prometheus;
pub mod record;
pub mod report;
pub mod run;
pub mod summarize;
pub mod watch;

use std::fmt::Display;
use std::time::Duration;

use super::exit;
use crate::analysis::Outcome;
use crate::analysis::attribution::{Tracer, attribute as attribute_sites};
use crate::analysis::samples::SampleTable;
use crate::analysis::verdict::verdict;
use crate::report::{ExportContext, all_exporters, write_with};
use crate::runfolder::{Report, RunFolder, RunMeta, SCHEMA_VERSION};
use crate::sample::cgroup::CgroupWatch;
use crate::soak::exposition::{Exposition, RunLabels};
use crate::soak::monitor::{Monitor, Stop};

/// A usage or input error, as one line.
fn fail(e: impl Display) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// How a soak ended: what `report.json` says ended it, and the failure
/// (exit code and message) that makes its verdict `error`, if any.
struct Ending {
    ended_by: String,
    failure: Option<(i32, String)>,
}

impl Ending {
    /// An ending that judges the run by its thresholds.
    fn judged(ended_by: &str) -> Ending {
        Ending {
            ended_by: ended_by.into(),
            failure: None,
        }
    }

    /// An ending that makes the run an error.
    fn failed(ended_by: &str, code: i32, why: String) -> Ending {
        Ending {
            ended_by: ended_by.into(),
            failure: Some((code, why)),
        }
    }
}

/// The grace a target tree gets between SIGTERM and SIGKILL. An interrupt
/// promises a report within 2 s, so it cuts `--grace` to [`INTERRUPT_GRACE`].
fn stop_grace(grace: Duration, stop: &Stop) -> Duration {
    match stop {
        Stop::Interrupted(_) => grace.min(INTERRUPT_GRACE),
        _ => grace,
    }
}

/// The longest grace a target gets after memsoak is interrupted.
const INTERRUPT_GRACE: Duration = Duration::from_millis(500);

/// What `report.json` says ended a soak the monitor stopped.
fn stop_name(stop: &Stop) -> &'static str {
    match stop {
        Stop::Duration => "duration",
        Stop::FailFast(_) => "fail_fast",
        Stop::Interrupted(_) => "interrupted",
        Stop::SamplerError(_) => "output_error",
    }
}

/// The report of a finished soak of `mode`: its samples analysed with the
/// monitor's thresholds, judged, and read into (classification, projection)
/// once, here.
fn report_for(
    mon: &Monitor,
    samples: &SampleTable,
    mode: &str,
    ending: Ending,
    stop: &Stop,
) -> Report {
    let interrupt = match stop {
        Stop::Interrupted(i) => Some(*i),
        _ => None,
    };
    let analysis = mon.analyze(samples);
    let Ending { ended_by, failure } = ending;
    let v = verdict(&analysis, failure.is_some());
    let exit_code = exit::code(v, failure.as_ref().map(|f| f.0), interrupt);
    let o = mon.options();
    Report {
        schema_version: SCHEMA_VERSION,
        verdict: v,
        exit_code,
        interrupted: interrupt.is_some(),
        ended_by,
        mode: mode.into(),
        warmup: o.warmup.text(),
        confidence: o.confidence,
        min_growth: o.min_growth,
        backend: None,
        workload: None,
        replay: None,
        target: None,
        backend_errors: 0,
        fail_fast: match stop {
            Stop::FailFast(w) => Some(w.clone()),
            _ => None,
        },
        errors: failure
            .map(|f| f.1)
            .into_iter()
            .chain(analysis.unjudged_errors())
            .collect(),
        notes: vec![],
        analysis,
        classification: None,
        projection: None,
        cgroup: None,
        series: vec![],
        attribution: None,
        regression: None,
    }
}

/// Bind `--metrics-listen` for the run going to `dir` that `meta`
/// describes (its labels); `None` without the flag. An address that cannot
/// be bound is a usage error: nothing has been sampled yet.
fn expose(
    listen: Option<std::net::SocketAddr>,
    dir: &std::path::Path,
    meta: &RunMeta,
    quiet: bool,
) -> anyhow::Result<Option<Exposition>> {
    let Some(addr) = listen else { return Ok(None) };
    let b = meta.backend.as_ref();
    let labels = RunLabels {
        run_id: dir
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
        mode: meta.mode.clone(),
        backend: b.map_or(String::new(), |b| b.name.clone()),
        workload: meta.workload.clone().unwrap_or_default(),
        model: b.and_then(|b| b.model.clone()).unwrap_or_default(),
        git_commit: meta.git_commit.clone().unwrap_or_default(),
    };
    let e = Exposition::bind(addr, &labels).map_err(fail)?;
    if !quiet {
        eprintln!("memsoak: live metrics at http://{}/metrics", e.addr());
    }
    Ok(Some(e))
}

/// Check that `--metrics-listen` can be bound before a slow start (a
/// model load): a port in use is one line and exit 2 at once.
fn probe_listen(listen: Option<std::net::SocketAddr>) -> anyhow::Result<()> {
    if let Some(a) = listen.filter(|a| a.port() != 0) {
        std::net::TcpListener::bind(a)
            .map_err(|e| fail(format!("--metrics-listen {a}: cannot listen there: {e}")))?;
    }
    Ok(())
}

/// Record the memory cgroup a soak sampled: its limit and the OOM kills
/// during the run, named in a note (an OOM kill is what a container dies
/// of while its main process shows little RSS).
fn note_cgroup(report: &mut Report, watch: Option<&CgroupWatch>) {
    let Some(w) = watch else { return };
    let c = w.finish();
    if let Some(n) = c.oom_kills.filter(|&n| n > 0) {
        report.notes.push(format!(
            "OOM kill: the kernel killed {n} process(es) of cgroup {} during the run{}",
            c.path,
            c.limit.map_or(String::new(), |l| format!(
                " (limit {})",
                crate::units::fmt_bytes(l as f64)
            ))
        ));
    }
    report.cgroup = Some(c);
}

/// Fill the report's `attribution` from the snapshots in `folder` (nothing
/// when the run took none): each site's drift, and what the tracer saw of
/// the RSS growth; for jemalloc's, write pprof's profiles of the raw dumps
/// too ([`heap_pprofs`]). A folder whose snapshots cannot be listed is a
/// note.
fn attribute(report: &mut Report, folder: &RunFolder, pprof: PprofWrite) {
    let snaps = match folder.read_attribution() {
        Ok(Some(s)) => s,
        Ok(None) => return,
        Err(e) => {
            report.notes.push(format!("--attribute: {e}"));
            return;
        }
    };
    let rss = report
        .analysis
        .metric(crate::sample::Metric::Rss)
        .and_then(|m| m.growth);
    let mut a = attribute_sites(&snaps.snapshots, snaps.tracer, rss, report.confidence);
    a.notes.extend(snaps.notes);
    if snaps.tracer == Tracer::Jemalloc
        && let Err(e) = heap_pprofs(folder, pprof)
    {
        a.notes.push(e);
    }
    report.attribution = Some(a);
}

/// When the pprof profiles of a run's jemalloc dumps are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PprofWrite {
    /// At the end of the run that took them (symbolized by the binary
    /// that ran, in its own process).
    Always,
    /// By `analyze` and `report`, only when the run left none (it was
    /// killed before its end).
    IfMissing,
}

/// Write pprof's profiles of `folder`'s jemalloc dumps (first, last and
/// the growth between them); the error, one line, for a note.
fn heap_pprofs(folder: &RunFolder, when: PprofWrite) -> Result<Vec<std::path::PathBuf>, String> {
    let mut symbols = crate::sample::heap_profile::Symbolizer::new();
    folder
        .write_heap_pprofs(&mut symbols, when == PprofWrite::IfMissing)
        .map_err(|e| format!("pprof profiles of the heap dumps not written: {e}"))
}

/// Prepare `folder` for a Python target under `--attribute`: the
/// environment the target must be started with.
fn attribution_env(folder: &RunFolder) -> anyhow::Result<Vec<(String, std::ffi::OsString)>> {
    folder
        .prepare_attribution(std::env::var_os("PYTHONPATH"))
        .map_err(|e| fail(format!("--attribute: {e}")))
}

/// A soak whose report files are written and whose closing lines are not
/// printed yet: `run --baseline` compares the run with its baseline first,
/// so that the one closing line already says whether it regressed.
struct Concluded {
    /// The report as written.
    report: Report,
    /// The exit code: the report's, or 2 where its files were not written.
    code: i32,
    /// The run folder.
    dir: std::path::PathBuf,
    quiet: bool,
}

impl Concluded {
    /// Print the closing line (the verdict, each threshold and error) and,
    /// without `-q`, the run folder; returns the exit code.
    fn close(self) -> i32 {
        // NOTE: --quiet silences live progress, never the verdict: with it a
        // breach (exit 1) printed nothing at all, not even which limit broke.
        // The closing block names the errors too.
        eprintln!("{}", one_line(&self.report));
        if !self.quiet {
            eprintln!("memsoak: run folder: {}", self.dir.display());
        }
        self.code
    }
}

/// Read the report into its classification and projection and write every
/// report file; the closing line is [`Concluded::close`]'s to print. A
/// report that could not be written turns a pass or a breach into an output
/// error (exit 2): a gate must not go green with no report behind it.
fn conclude(
    report: Report,
    folder: &RunFolder,
    samples: &SampleTable,
    meta: &RunMeta,
    mon: &Monitor,
) -> Concluded {
    // NOTE: a side file the run could not read back leaves the report
    // without per-process findings, nothing worse.
    let processes = folder.read_processes().ok().flatten();
    let report = report.with_insights(Some(samples), processes.as_ref());
    let mut code = report.exit_code;
    let ctx = ExportContext {
        samples: Some(samples),
        run: Some(meta),
        processes: processes.as_ref(),
        ..ExportContext::new(&report)
    };
    if let Err(e) = write_with(&ctx, folder, &all_exporters()) {
        eprintln!(
            "memsoak: error: writing the report in {}: {e}",
            folder.dir().display()
        );
        if matches!(code, exit::PASS | exit::BREACH) {
            code = exit::USAGE;
        }
    }
    Concluded {
        report,
        code,
        dir: folder.dir().to_path_buf(),
        quiet: mon.options().quiet,
    }
}

/// The closing line printed to stderr.
fn one_line(r: &Report) -> String {
    let mut s = format!(
        "memsoak: {} (exit {}) · ended by {}",
        r.headline(),
        r.exit_code,
        r.ended_by
    );
    if let Some(g) = &r.regression {
        s.push_str(&format!(" · {}", g.describe()));
    }
    for t in &r.analysis.thresholds {
        let o = match t.outcome {
            Outcome::Pass => "ok",
            Outcome::Fail => "BREACHED",
            Outcome::Skipped => "skipped",
        };
        let m = match t.outcome {
            // NOTE: a skip says why where the value would stand.
            Outcome::Skipped => format!(": {}", t.note),
            _ => t.measured.map_or(String::new(), |v| {
                format!(" = {}", t.threshold.format_value(v))
            }),
        };
        // NOTE: one phrase on how a fitted statistic was fitted, and on
        // which samples where it stands on a trailing window.
        let model = t
            .p_value
            .and_then(|_| r.analysis.metric(t.threshold.metric))
            .and_then(|a| match (t.window, &a.late) {
                (Some(w), Some(l)) => Some(format!("{}, {}", w.label(), l.model)),
                _ => a.model.clone(),
            })
            .map_or(String::new(), |model| format!(" ({model} fit)"));
        // NOTE: a pass whose interval reaches past the limit says so: "ok"
        // alone read as evidence of no leak where there was none either way.
        let open = match t.settle_run_s.filter(|_| t.inconclusive_pass()) {
            Some(run) => format!(
                " · not conclusive: a run of {} would settle it",
                crate::units::fmt_about_secs(run)
            ),
            None if t.inconclusive_pass() || t.inconclusive_breach() => {
                " · not conclusive".to_string()
            }
            None => String::new(),
        };
        // NOTE: "ok" beside a value past the limit says why it passed.
        let why = if t.passed_past_the_limit() {
            // A limit judged at itself passes while its interval reaches it.
            let reach = t.ci.filter(|_| t.threshold.judged_at_limit());
            match (reach, t.p_value.filter(|p| *p >= 1.0 - r.confidence)) {
                (Some((_, hi)), _) => {
                    format!(" · its interval reaches {}", t.threshold.format_value(hi))
                }
                (None, Some(p)) => format!(" · not significant ({})", crate::units::fmt_p_is(p)),
                (None, None) => " · under the materiality floor".to_string(),
            }
        } else {
            String::new()
        };
        s.push_str(&format!(
            "\n  {} {o}{m}{model}{why}{open}",
            t.threshold.expr
        ));
    }
    for e in &r.errors {
        s.push_str(&format!("\n  error: {e}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The closing line of the fixture run with its first threshold set to
    /// `outcome`, `measured` (× its limit), `ci`, `p` and `conclusive`.
    fn closing(
        outcome: Outcome,
        measured: f64,
        ci: (f64, f64),
        p: f64,
        conclusive: bool,
    ) -> String {
        let mut r = crate::report::fixture_with_first_threshold(outcome, measured, ci, conclusive);
        let t = &mut r.analysis.thresholds[0];
        t.p_value = Some(p);
        t.settle_run_s = None;
        one_line(&r)
    }

    #[test]
    fn the_closing_line_says_why_a_value_past_the_limit_passed_and_what_is_not_settled() {
        // A pass past the limit: not significant, and not conclusive.
        let line = closing(Outcome::Pass, 5.0, (-3.0, 13.0), 0.554, false);
        assert!(
            line.contains(" ok = ")
                && line.contains(" · not significant (p=0.554) · not conclusive"),
            "{line}"
        );
        // Significant, yet a pass past the limit: the materiality floor.
        let line = closing(Outcome::Pass, 5.0, (2.0, 8.0), 0.001, true);
        assert!(line.contains(" · under the materiality floor"), "{line}");
        // A breach whose interval reaches back within the limit.
        let line = closing(Outcome::Fail, 3.0, (0.7, 7.0), 0.01, false);
        assert!(
            line.contains(" BREACHED = ") && line.contains(" · not conclusive"),
            "{line}"
        );
        // Plain cases say neither.
        let line = closing(Outcome::Fail, 3.0, (1.5, 7.0), 0.001, true);
        assert!(
            !line.contains("not conclusive") && !line.contains("not significant"),
            "{line}"
        );
        let line = closing(Outcome::Pass, 0.2, (-0.5, 0.9), 0.6, true);
        assert!(
            !line.contains("not conclusive") && !line.contains("not significant"),
            "{line}"
        );
    }

    #[test]
    fn an_interrupted_run_is_no_bare_pass() {
        let mut r =
            crate::report::fixture_with_first_threshold(Outcome::Pass, 0.5, (0.1, 0.9), true);
        r.verdict = crate::analysis::verdict::Verdict::Pass;
        r.exit_code = 130;
        r.interrupted = true;
        let line = one_line(&r);
        assert!(
            line.starts_with("memsoak: INTERRUPTED, PASS so far (exit 130)"),
            "{line}"
        );
        let md = crate::report::markdown::Markdown.report_text(&r);
        assert!(
            md.starts_with("## memsoak: ⚠️ INTERRUPTED, PASS so far"),
            "{md}"
        );
        r.interrupted = false;
        r.exit_code = 0;
        assert!(one_line(&r).starts_with("memsoak: PASS (exit 0)"));
    }
}
