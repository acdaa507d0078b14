//! The commands: build what a validated plan asks for, run it, and turn
//! how it ended into a report and an exit code.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};

use crate::backend::{BackendError, BackendInfo, Embedder};
use crate::cli::{Cli, Command};
use crate::options::{self, BackendPlan, RunPlan, TargetPlan, WatchPlan, WorkloadPlan};
use crate::pipeline::{Pipeline, PipelineEnd};
use crate::report::{Report, SCHEMA_VERSION, TargetReport, Verdict};
use crate::sample::{Sampler, SamplerSet, jemalloc, nvml, proc, system};
use crate::session::{self, Monitor, Signals, Stop, exit};
use crate::target::{Target, TargetStatus};
use crate::trace::TraceSummary;
use crate::workload::trace::{Pace, ReplayStats, TraceWorkload};
use crate::workload::{
    Cancel, Looping, Workload, synthetic::SyntheticWorkload, textfile::TextFileWorkload,
};
use crate::writer::{Discard, NpyWriter, Sink};

/// A usage error: printed as one line, exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn usage(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!(UsageError(e.to_string()))
}

/// Run a parsed command line; returns the exit code. `Err` is a usage error
/// (exit code 2), found before anything ran.
pub fn run(cli: Cli) -> Result<i32> {
    match cli.command {
        Command::Run(a) => crate::reporting::run_then_compare(&a, cmd_run),
        Command::Watch(a) => cmd_watch(options::watch_plan(&a).map_err(usage)?),
        Command::Analyze(a) => cmd_analyze(options::analyze_plan(&a).map_err(usage)?),
        Command::Record(a) => cmd_record(options::record_plan(&a).map_err(usage)?),
        c @ (Command::Report(_) | Command::Compare(_) | Command::Baseline(_)) => {
            crate::reporting::dispatch(c).map_err(usage)
        }
    }
}

/// A replay in progress: what reports on it and what stops its waits.
struct Replay {
    pace: Pace,
    traces: Vec<TraceSummary>,
    stats: Arc<ReplayStats>,
}

/// Open the workload. Every trace it replays is read through once first,
/// so a bad line or an unknown version stops the run before it starts.
fn build_workload(plan: &RunPlan, cancel: &Cancel) -> Result<(Box<dyn Workload>, Option<Replay>)> {
    let scan = |path: &Path, skip_bad: bool| crate::trace::scan(path, skip_bad).map_err(usage);
    let stats = Arc::new(ReplayStats::default());
    let (w, replay): (Box<dyn Workload>, _) = match &plan.workload {
        WorkloadPlan::Synthetic(o) => (
            Box::new(SyntheticWorkload::new(o.clone()).map_err(usage)?),
            None,
        ),
        WorkloadPlan::TextFile { path, page_size } => (
            Box::new(TextFileWorkload::open(path, *page_size).map_err(usage)?),
            None,
        ),
        WorkloadPlan::Trace {
            path,
            pace,
            skip_bad,
        } => {
            let summary = scan(path, *skip_bad)?;
            let w = TraceWorkload::open(path, *pace, *skip_bad, cancel.clone(), stats.clone())
                .map_err(usage)?;
            (
                Box::new(w),
                Some(Replay {
                    pace: *pace,
                    traces: vec![summary],
                    stats,
                }),
            )
        }
        WorkloadPlan::Definition {
            definition,
            pace,
            skip_bad,
        } => {
            let traces = definition
                .traces()
                .into_iter()
                .map(|p| scan(p, *skip_bad))
                .collect::<Result<Vec<_>>>()?;
            let w = definition
                .build(*pace, *skip_bad, cancel, &stats)
                .map_err(usage)?;
            let replay = (!traces.is_empty()).then_some(Replay {
                pace: *pace,
                traces,
                stats,
            });
            (Box::new(w), replay)
        }
    };
    Ok(if plan.looping {
        (Box::new(Looping::new(w)), replay)
    } else {
        (w, replay)
    })
}

/// Set the backend up. `Ok(Err(code))`: a signal arrived meanwhile (its
/// exit code); memsoak has said so in one line, stopped what it started and
/// sampled nothing.
fn build_embedder(
    plan: &BackendPlan,
    dir: &Path,
    signals: &Signals,
) -> Result<std::result::Result<Box<dyn Embedder>, i32>> {
    fn boxed(e: impl Embedder + 'static) -> Box<dyn Embedder> {
        Box::new(e)
    }
    let interrupted = || signals.received().is_some();
    let built = match plan {
        BackendPlan::Synthetic(o) => Ok(boxed(crate::backend::synthetic::SyntheticEmbedder::new(
            o.clone(),
        ))),
        #[cfg(feature = "candle")]
        BackendPlan::Candle(o) => crate::backend::candle::CandleEmbedder::load(o).map(boxed),
        BackendPlan::Http(o) => crate::backend::http::HttpEmbedder::start(
            o.clone(),
            &dir.join("server-stderr.log"),
            &interrupted,
        )
        .map(boxed),
        BackendPlan::Command(o) => crate::backend::command::CommandEmbedder::start(
            o.clone(),
            &dir.join("worker-stderr.log"),
        )
        .map(boxed),
    };
    // NOTE: a signal during a step that cannot be cut short (loading the
    // model) is acted on when it ends; dropping a built backend stops it.
    if let Some(code) = signals.received() {
        let what = match built {
            Err(BackendError::Interrupted(what)) => what,
            _ => format!("starting the {} backend", plan.name()),
        };
        eprintln!("memsoak: interrupted while {what}: nothing was sampled");
        return Ok(Err(code));
    }
    built
        .map(Ok)
        .map_err(|e| usage(format!("--backend {}: {e}", plan.name())))
}

/// The samplers of a run or watch: the process tree rooted at `root` (else
/// memsoak's descendants), jemalloc heap stats when `in_process`, host
/// memory, and NVML when a GPU is present. `processes`: where to log each
/// process of a black-box tree (`processes.csv`), `None` for an in-process
/// run. Why a metric is absent goes to `notes`. Public so the overhead bench
/// samples exactly what a run does.
pub fn samplers(
    root: Option<u32>,
    in_process: bool,
    processes: Option<&Path>,
    notes: &mut Vec<String>,
) -> SamplerSet {
    let mut v: Vec<Box<dyn Sampler>> = Vec::new();
    let mut tree = match root {
        Some(pid) => proc::ProcessTreeSampler::new(pid),
        None => proc::ProcessTreeSampler::descendants_of_self(),
    };
    if let Some(path) = processes {
        use crate::processes::{DEFAULT_EVERY, DEFAULT_TOP, ProcessLog};
        match ProcessLog::create(path, DEFAULT_TOP, DEFAULT_EVERY) {
            Ok(log) => tree = tree.with_log(log),
            Err(e) => notes.push(format!("{} not written: {e}", path.display())),
        }
    }
    v.push(Box::new(tree));
    if in_process {
        match jemalloc::JemallocSampler::new() {
            Some(j) => v.push(Box::new(j)),
            None => notes.push("heap metrics absent: jemalloc statistics are not available".into()),
        }
    } else {
        notes
            .push("heap metrics absent: the target is a black box (no jemalloc statistics)".into());
    }
    if let Some(s) = system::SystemSampler::new() {
        v.push(Box::new(s));
    }
    match nvml::try_new(root.unwrap_or(std::process::id())) {
        Ok(s) => v.push(s),
        Err(why) => notes.push(format!("vram metrics absent: {why}")),
    }
    SamplerSet::new(v)
}

fn report_for(
    mon: &Monitor,
    mode: &str,
    ended_by: &str,
    stop: &Stop,
    failure: Option<(i32, String)>,
) -> Report {
    let interrupted = match stop {
        Stop::Interrupted(c) => Some(*c),
        _ => None,
    };
    let mut errors = Vec::new();
    let analysis = match mon.analyze() {
        Ok(a) => a,
        Err(e) => {
            errors.push(format!("analysis failed: {e}"));
            crate::analysis::Analysis {
                duration_s: mon.elapsed(),
                samples: 0,
                items: None,
                dropped_rows: 0,
                metrics: vec![],
                thresholds: vec![],
            }
        }
    };
    let failure_code = failure
        .as_ref()
        .map(|f| f.0)
        .or((!errors.is_empty()).then_some(exit::USAGE));
    if let Some((_, msg)) = failure {
        errors.insert(0, msg);
    }
    let (verdict, exit_code) = session::verdict(&analysis, failure_code, interrupted);
    let o = mon.options();
    Report {
        schema_version: SCHEMA_VERSION,
        verdict,
        exit_code,
        interrupted: interrupted.is_some(),
        ended_by: ended_by.into(),
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
        errors,
        notes: vec![],
        analysis,
        classification: None,
        projection: None,
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

/// On an interrupt, stop the worker or server process group memsoak started
/// (SIGTERM, then SIGKILL after [`INTERRUPT_GRACE`] if a request is still
/// blocked on it), so the embedding stage returns at once.
fn stop_group_for_interrupt(pgid: u32, pipeline: &Pipeline) {
    let signal = |sig| {
        // SAFETY: kill(2) of the process group memsoak spawned.
        unsafe {
            libc::kill(-(pgid as i32), sig);
        }
    };
    signal(libc::SIGTERM);
    let deadline = std::time::Instant::now() + INTERRUPT_GRACE;
    while !pipeline.embed_finished() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    if !pipeline.embed_finished() {
        signal(libc::SIGKILL);
    }
}

fn stop_name(stop: &Stop) -> &'static str {
    match stop {
        Stop::Duration => "duration",
        Stop::FailFast(_) => "fail_fast",
        Stop::Interrupted(_) => "interrupted",
        Stop::SamplerError(_) => "output_error",
    }
}

fn cmd_run(plan: RunPlan) -> Result<i32> {
    let cancel = Cancel::default();
    let (workload, replay) = build_workload(&plan, &cancel)?;
    let workload_name = workload.name();
    let dir = plan
        .soak
        .out
        .clone()
        .unwrap_or_else(|| crate::runfolder::default_dir(&workload_name, plan.backend.name()));
    crate::runfolder::prepare(&dir).map_err(usage)?;
    #[cfg(feature = "candle")]
    let allocator = matches!(plan.backend, BackendPlan::Candle(_))
        .then(jemalloc::disable_decay)
        .flatten();
    #[cfg(not(feature = "candle"))]
    let allocator: Option<&str> = None;
    let signals = Signals::install().context("installing signal handlers")?;
    let embedder = match build_embedder(&plan.backend, &dir, &signals)? {
        Ok(e) => e,
        Err(code) => return Ok(code),
    };
    let info: BackendInfo = embedder.info();
    let mut run_json = crate::runfolder::run_json(
        "run",
        serde_json::json!({
            "backend": info,
            "workload": workload_name,
            "config": format!("{plan:?}"),
            "allocator_applied": allocator,
        }),
    );
    // NOTE: the command line may hold a URL with a password or token.
    plan.backend.redact_json(&mut run_json);
    crate::runfolder::create(&dir, &run_json).map_err(usage)?;
    let sink: Box<dyn Sink> = match &plan.write_embeddings {
        Some(p) => Box::new(
            NpyWriter::create(p)
                .map_err(|e| usage(format!("--write-embeddings {}: {e}", p.display())))?,
        ),
        None => Box::new(Discard),
    };
    let mut notes = Vec::new();
    // A worker or server backend is a black box: sample its tree, not memsoak.
    let worker = embedder.target_pid();
    let processes = dir.join(crate::processes::FILE_NAME);
    let set = samplers(
        Some(worker.unwrap_or(std::process::id())),
        worker.is_none(),
        worker.is_some().then_some(processes.as_path()),
        &mut notes,
    );
    let pipeline = Pipeline::start(workload, embedder, sink, 2, plan.max_errors);
    let mut mon = Monitor::start(
        plan.soak.clone(),
        set,
        Some(pipeline.counter()),
        &dir,
        signals,
    )
    .map_err(usage)?;
    let (stop, end) = loop {
        if let Some(s) = mon.poll() {
            break (Some(s), None);
        }
        match pipeline.state() {
            PipelineEnd::Running => {}
            other => break (None, Some(other)),
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // NOTE: a paced trace may be waiting for its next record's offset in
    // the loader thread: cut that wait short so teardown is prompt.
    pipeline.stop();
    cancel.cancel();
    // NOTE: stop sampling before tearing the pipeline down: the teardown
    // frees the embedder, and that drop is not part of the soak.
    let sampler_err = mon.finish(true).err();
    let pipeline_errors = pipeline.errors();
    let interrupted = matches!(stop, Some(Stop::Interrupted(_)));
    let owned = worker.filter(|_| plan.backend.owns_its_process());
    let (joined, _items, embedder) = if interrupted {
        // NOTE: a request in flight to a hung worker would hold the report
        // until --timeout; an interrupt promises one within 2 s.
        if let Some(pid) = owned {
            stop_group_for_interrupt(pid, &pipeline);
        }
        pipeline.join_within(INTERRUPT_GRACE)
    } else {
        pipeline.join()
    };
    let end = end.unwrap_or(joined);
    if interrupted && embedder.is_none() && worker.is_some() {
        notes.push("the backend was still busy with a request when interrupted".into());
    }
    let worker_report = embedder.and_then(|mut e| e.finish());
    let stop = stop.unwrap_or(Stop::Duration);
    let (ended_by, failure) = match (&end, &stop) {
        (_, Stop::Interrupted(_)) => ("interrupted".to_string(), None),
        (PipelineEnd::BackendError(e), _) => (
            "backend_error".into(),
            Some((exit::TARGET, format!("backend failed: {e}"))),
        ),
        (PipelineEnd::WorkloadError(e), _) => {
            ("workload_error".into(), Some((exit::USAGE, e.clone())))
        }
        (PipelineEnd::WriterError(e), _) => (
            "output_error".into(),
            Some((exit::USAGE, format!("writer failed: {e}"))),
        ),
        (PipelineEnd::Exhausted, Stop::Duration)
            if mon.elapsed() < mon.options().duration.as_secs_f64() =>
        {
            ("workload_exhausted".into(), None)
        }
        (_, Stop::SamplerError(e)) => ("output_error".into(), Some((exit::USAGE, e.clone()))),
        (_, s) => (stop_name(s).into(), None),
    };
    let failure = failure.or(sampler_err.map(|e| (exit::USAGE, e)));
    let (errors, last_error) = pipeline_errors;
    let mut report = report_for(&mon, "run", &ended_by, &stop, failure);
    if errors > 0 {
        report.notes.push(format!(
            "{errors} failed request(s) tolerated (--max-errors {}); last: {}",
            plan.max_errors,
            last_error.unwrap_or_default()
        ));
    }
    report.backend_errors = errors;
    report.backend = Some(info);
    report.workload = Some(workload_name);
    report.replay = replay.map(|r| r.stats.report(r.pace, &r.traces));
    report.target = worker_report;
    // NOTE: the sampler notes go first; the tolerated-errors note above stays.
    report.notes.splice(0..0, notes);
    if let Some(r) = report.replay.as_ref().filter(|r| r.skipped_lines > 0) {
        report.notes.push(format!(
            "{} malformed trace line(s) skipped (--skip-bad)",
            r.skipped_lines
        ));
    }
    if report.analysis.dropped_rows > 0 {
        report.notes.push(format!(
            "{} cut row(s) dropped from samples.csv",
            report.analysis.dropped_rows
        ));
    }
    Ok(session::conclude(&report, &dir, mon.options().quiet))
}

fn cmd_watch(plan: WatchPlan) -> Result<i32> {
    let (name, command) = match &plan.target {
        TargetPlan::Spawn(argv) => (
            Path::new(&argv[0])
                .file_name()
                .map_or("cmd".into(), |n| n.to_string_lossy().into_owned()),
            Some(argv.clone()),
        ),
        TargetPlan::Attach(pid) => (format!("pid{pid}"), None),
    };
    let dir = plan
        .soak
        .out
        .clone()
        .unwrap_or_else(|| crate::runfolder::default_dir(&name, "watch"));
    let run_json = crate::runfolder::run_json(
        "watch",
        serde_json::json!({ "target": &plan.target_json(), "config": format!("{plan:?}") }),
    );
    crate::runfolder::create(&dir, &run_json).map_err(usage)?;
    let signals = Signals::install().context("installing signal handlers")?;
    let mut target = match &plan.target {
        TargetPlan::Spawn(argv) => {
            crate::target::become_subreaper();
            Target::spawn(argv, &dir.join("target-stderr.log"), plan.soak.quiet)
                .map_err(|e| usage(format!("cannot start `{}`: {e}", argv[0])))?
        }
        TargetPlan::Attach(pid) => {
            Target::attach(*pid).map_err(|e| usage(format!("--pid: {e}")))?
        }
    };
    let mut notes = Vec::new();
    let root = (!target.owned()).then_some(target.pid());
    let processes = dir.join(crate::processes::FILE_NAME);
    let set = samplers(root, false, Some(&processes), &mut notes);
    let mut mon = Monitor::start(plan.soak.clone(), set, None, &dir, signals).map_err(usage)?;
    let mut next_reap = mon.elapsed() + 1.0;
    let (stop, status) = loop {
        if let Some(s) = mon.poll() {
            break (s, None);
        }
        match target.poll() {
            TargetStatus::Running => {}
            st => break (Stop::Duration, Some(st)),
        }
        // NOTE: as subreaper memsoak inherits the target's orphans; a target
        // that double-forks would otherwise leave zombies for hours.
        if target.owned() && mon.elapsed() >= next_reap {
            crate::target::reap_orphans();
            next_reap = mon.elapsed() + 1.0;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // NOTE: sampling ends before the tree is stopped: its dying is no sample.
    // A tree that has exited has nothing left to sample.
    let sampler_err = mon.finish(status.is_none()).err();
    let stop_outcome = target
        .owned()
        .then(|| target.stop_tree(stop_grace(plan.grace, &stop)));
    let final_status = target.status().clone();
    let (ended_by, failure) = match (&status, &stop) {
        (_, Stop::Interrupted(_)) => ("interrupted".to_string(), None),
        (Some(st), _) if st.is_failure() => (
            "target_failed".into(),
            Some((exit::TARGET, format!("target {}", st.describe()))),
        ),
        (Some(_), _) => ("target_exit".into(), None),
        (None, Stop::SamplerError(e)) => ("output_error".into(), Some((exit::USAGE, e.clone()))),
        (None, s) => (stop_name(s).into(), None),
    };
    let failure = failure.or(sampler_err.map(|e| (exit::USAGE, e)));
    let mut report = report_for(&mon, "watch", &ended_by, &stop, failure);
    report.target = Some(TargetReport {
        pid: target.pid(),
        command,
        status: final_status,
        stop: stop_outcome,
        stderr_tail: target.stderr_tail(),
    });
    report.notes = notes;
    if report.analysis.dropped_rows > 0 {
        report.notes.push(format!(
            "{} cut row(s) dropped from samples.csv",
            report.analysis.dropped_rows
        ));
    }
    Ok(session::conclude(&report, &dir, mon.options().quiet))
}

impl WatchPlan {
    fn target_json(&self) -> serde_json::Value {
        match &self.target {
            TargetPlan::Spawn(argv) => serde_json::json!({ "command": argv }),
            TargetPlan::Attach(pid) => serde_json::json!({ "pid": pid }),
        }
    }
}

fn cmd_analyze(plan: options::AnalyzePlan) -> Result<i32> {
    let table = crate::record::read_samples(&plan.samples).map_err(usage)?;
    if table.is_empty() {
        return Err(usage(format!(
            "{}: no samples to analyse",
            plan.samples.display()
        )));
    }
    let thresholds = if plan.thresholds.is_empty() {
        options::default_thresholds(&table.metrics)
    } else {
        plan.thresholds.clone()
    };
    let analysis = crate::analysis::analyze(
        &table,
        &crate::analysis::AnalysisOptions {
            warmup: plan.warmup,
            confidence: plan.confidence,
            thresholds,
            min_growth: plan.min_growth,
        },
    );
    let (verdict, exit_code) = session::verdict(&analysis, None, None);
    // NOTE: a run folder's per-process readings can still name the one
    // process of the tree that grew.
    let processes = plan
        .run_dir
        .as_ref()
        .map(|d| d.join(crate::processes::FILE_NAME))
        .filter(|p| p.is_file())
        .map(|p| crate::processes::read(&p).map_err(usage))
        .transpose()?;
    let mut notes = Vec::new();
    if analysis.dropped_rows > 0 {
        notes.push(format!(
            "{} cut row(s) dropped from samples.csv",
            analysis.dropped_rows
        ));
    }
    let report = Report {
        schema_version: SCHEMA_VERSION,
        verdict,
        exit_code,
        interrupted: false,
        ended_by: "analyze".into(),
        mode: "analyze".into(),
        warmup: plan.warmup.text(),
        confidence: plan.confidence,
        min_growth: plan.min_growth,
        backend: None,
        workload: None,
        replay: None,
        target: None,
        fail_fast: None,
        backend_errors: 0,
        errors: vec![],
        notes,
        analysis,
        classification: None,
        projection: None,
    }
    .with_tree_insights(Some(&table), processes.as_ref());
    if !plan.quiet {
        print!("{}", crate::report::markdown::Markdown.report_text(&report));
        eprintln!("{}", session::one_line(&report));
    }
    debug_assert!(verdict != Verdict::Error);
    Ok(exit_code)
}

fn cmd_record(plan: options::RecordPlan) -> Result<i32> {
    use crate::trace::format::Header;
    use crate::trace::import;
    use crate::trace::proxy::Proxy;
    use options::RecordSource;
    let say = |msg: String| {
        if !plan.quiet {
            eprintln!("memsoak record: {msg}");
        }
    };
    let out = plan.out.display().to_string();
    match &plan.source {
        RecordSource::Proxy(o) => {
            let signals = Signals::install().context("installing signal handlers")?;
            let proxy = Proxy::bind(o.clone(), plan.quiet).map_err(usage)?;
            // NOTE: always printed (even with -q): a script that asked for
            // port 0 learns the port from this line.
            eprintln!(
                "memsoak record: listening on http://{} -> {}, writing {out}{}",
                proxy.addr(),
                proxy.upstream_shown(),
                if plan.redact { " (redacted)" } else { "" }
            );
            let s = proxy
                .serve(|| signals.received().is_some())
                .map_err(usage)?;
            say(format!(
                "{} request(s) forwarded; {} recorded ({} texts) in {out}{}{}",
                s.requests,
                s.recorded,
                s.texts,
                if s.not_recorded > 0 {
                    format!(
                        "; {} embedding request(s) without texts not recorded",
                        s.not_recorded
                    )
                } else {
                    String::new()
                },
                if s.upstream_errors > 0 {
                    format!("; upstream unreachable {} time(s)", s.upstream_errors)
                } else {
                    String::new()
                }
            ));
            Ok(exit::PASS)
        }
        RecordSource::Jsonl {
            input,
            import: opts,
        } => {
            let to = staging_path(&plan);
            let mut w = crate::trace::TraceWriter::create(
                &to,
                Header::new("jsonl", plan.redact),
                plan.force,
            )
            .map_err(usage)?;
            let s = import::import_jsonl(input, opts, &mut w);
            finish_import(s, &plan, &to, &say)
        }
        RecordSource::Text {
            input,
            batch,
            skip_bad,
        } => {
            let to = staging_path(&plan);
            let mut w = crate::trace::TraceWriter::create(
                &to,
                Header::new("text", plan.redact),
                plan.force,
            )
            .map_err(usage)?;
            let s = import::import_text(input, *batch, *skip_bad, &mut w);
            finish_import(s, &plan, &to, &say)
        }
    }
}

/// Where an import writes: `--out` itself, or, when `--force` replaces an
/// existing trace, a hidden file beside it that is renamed over it only once
/// the import succeeded (a failed import must not cost the old trace).
fn staging_path(plan: &options::RecordPlan) -> std::path::PathBuf {
    if plan.force && plan.out.exists() {
        let name = plan
            .out
            .file_name()
            .map_or("trace".into(), |n| n.to_string_lossy().into_owned());
        plan.out.with_file_name(format!(".{name}.importing"))
    } else {
        plan.out.clone()
    }
}

fn finish_import(
    result: Result<crate::trace::import::ImportSummary, crate::trace::TraceError>,
    plan: &options::RecordPlan,
    written: &Path,
    say: &dyn Fn(String),
) -> Result<i32> {
    if let Ok(s) = &result
        && s.records > 0
        && written != plan.out
    {
        std::fs::rename(written, &plan.out)
            .map_err(|e| usage(format!("--out {}: {e}", plan.out.display())))?;
    }
    match result {
        Ok(s) if s.records == 0 => {
            // NOTE: a trace without records is unusable: leave nothing behind.
            let _ = std::fs::remove_file(written);
            Err(usage(format!(
                "nothing to import: no texts found{}",
                if s.skipped_lines > 0 {
                    format!(" ({} line(s) skipped)", s.skipped_lines)
                } else {
                    String::new()
                }
            )))
        }
        Ok(s) => {
            say(format!(
                "imported {} record(s) ({} texts) into {}{}",
                s.records,
                s.texts,
                plan.out.display(),
                if s.skipped_lines > 0 {
                    format!("; {} malformed line(s) skipped", s.skipped_lines)
                } else {
                    String::new()
                }
            ));
            Ok(exit::PASS)
        }
        Err(e) => {
            let _ = std::fs::remove_file(written);
            Err(usage(e))
        }
    }
}
