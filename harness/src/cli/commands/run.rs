//! `memsoak run`: drive a workload through an embedder in-process, sample
//! it, and gate on memory drift; with `--baseline`, then compare the run
//! with a baseline.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};

use super::{
    Concluded, Ending, INTERRUPT_GRACE, PprofWrite, attribute, attribution_env, conclude, expose,
    fail, note_cgroup, probe_listen, report_for, stop_name,
};
use crate::backend::http::Server;
use crate::backend::{BackendError, BackendInfo, Embedder};
use crate::cli::args::RunArgs;
use crate::cli::exit;
use crate::cli::plan::{self, BackendPlan, RunPlan, WorkloadPlan};
#[cfg(feature = "dhat-heap")]
use crate::runfolder::DHAT_HEAP_JSON;
use crate::runfolder::meta::Config;
use crate::runfolder::{
    PROCESSES_CSV, RunFolder, RunMeta, SERVER_STDERR, WORKER_STDERR, default_dir,
};
use crate::sample::heap_profile;
use crate::soak::attribution::Requester;
use crate::soak::monitor::{Monitor, Stop};
use crate::soak::npy::{Discard, NpyWriter, Sink};
use crate::soak::pipeline::{Pipeline, PipelineEnd};
use crate::soak::samplers::samplers_with;
use crate::soak::signals::Signals;
use crate::target::Target;
use crate::trace::TraceSummary;
use crate::workload::trace::{Pace, ReplayStats, TraceWorkload};
use crate::workload::{
    Cancel, Looping, Workload, synthetic::SyntheticWorkload, textfile::TextFileWorkload,
};

/// `memsoak run [--baseline NAME|DIR]`: the baseline and its tolerances are
/// checked before anything runs; the run, then the comparison of its
/// folder with the baseline, then the one closing line. A run that was
/// judged (exit 0 or 1) takes the worse of its own and the comparison's
/// exit codes, and its folder and closing line say so (see
/// `compare::gate_run`); any other ending (error, target failure,
/// signal) keeps its own.
pub fn run(a: &RunArgs) -> Result<i32> {
    let plan = plan::run_plan(a)?;
    let choice = plan::run_baseline(a)?;
    if let Some(c) = &choice {
        super::compare::load_baseline(c).map_err(fail)?;
    }
    let done = match soak(plan)? {
        Ok(done) => done,
        Err(code) => return Ok(code),
    };
    Ok(match choice {
        Some(c) if done.code <= exit::BREACH => super::compare::gate_run(done, &c),
        _ => done.close(),
    })
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
    let scan = |path: &Path, skip_bad: bool| crate::trace::scan(path, skip_bad).map_err(fail);
    let stats = Arc::new(ReplayStats::default());
    let (w, replay): (Box<dyn Workload>, _) = match &plan.workload {
        WorkloadPlan::Synthetic(o) => (
            Box::new(SyntheticWorkload::new(o.clone()).map_err(fail)?),
            None,
        ),
        WorkloadPlan::TextFile { path, page_size } => (
            Box::new(TextFileWorkload::open(path, *page_size).map_err(fail)?),
            None,
        ),
        WorkloadPlan::Trace {
            path,
            pace,
            skip_bad,
        } => {
            let summary = scan(path, *skip_bad)?;
            let w = TraceWorkload::open(path, *pace, *skip_bad, cancel.clone(), stats.clone())
                .map_err(fail)?;
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
                .map_err(fail)?;
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
    folder: &RunFolder,
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
            &folder.file(SERVER_STDERR),
            &interrupted,
        )
        .map(boxed),
        BackendPlan::Command(o) => {
            crate::backend::command::CommandEmbedder::start(o.clone(), &folder.file(WORKER_STDERR))
                .map(boxed)
        }
    };
    // NOTE: a signal during a step that cannot be cut short (loading the
    // model) is acted on when it ends; dropping a built backend stops it.
    if let Some(i) = signals.received() {
        let what = match built {
            Err(BackendError::Interrupted(what)) => what,
            _ => format!("starting the {} backend", plan.name()),
        };
        eprintln!("memsoak: interrupted while {what}: nothing was sampled");
        return Ok(Err(exit::interrupted(i)));
    }
    built
        .map(Ok)
        .map_err(|e| fail(format!("--backend {}: {e}", plan.name())))
}

/// Waits for the batch `pipeline` has in flight once sampling stopped; the
/// signal that arrives meanwhile, if one does (the run then ends as
/// interrupted, its report within [`INTERRUPT_GRACE`]).
fn interrupt_while_draining(
    pipeline: &Pipeline,
    signals: &Signals,
) -> Option<crate::soak::signals::Interrupt> {
    while !pipeline.embed_finished() {
        if let Some(i) = signals.received() {
            return Some(i);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    signals.received()
}

/// A worker or server that cannot be started, or a server pid that is
/// not running, is a bad input: refused before the run folder is made
/// (it was left empty). The spawn itself still has the last word.
fn startable(backend: &BackendPlan) -> Result<()> {
    let (what, argv) = match backend {
        BackendPlan::Command(o) => ("worker", &o.argv),
        BackendPlan::Http(o) => match &o.server {
            Server::Serve(argv) => ("server", argv),
            Server::Pid(pid) if !crate::sample::proc::alive(*pid) => {
                return Err(fail(format!(
                    "--backend http: --pid {pid}: no such process"
                )));
            }
            _ => return Ok(()),
        },
        _ => return Ok(()),
    };
    match argv.first() {
        Some(prog) => Target::startable(prog).map_err(|e| {
            fail(format!(
                "--backend {}: cannot start {what} `{prog}`: {e}",
                backend.name()
            ))
        }),
        None => Ok(()),
    }
}

/// Soak one plan; returns the run concluded (its files written, its
/// closing line not yet printed), or `Err(code)` where a signal stopped it
/// before anything was sampled (memsoak has said so).
fn soak(mut plan: RunPlan) -> Result<std::result::Result<Concluded, i32>> {
    let cancel = Cancel::default();
    let (workload, replay) = build_workload(&plan, &cancel)?;
    let workload_name = workload.name();
    let dir = plan
        .soak
        .out
        .clone()
        .unwrap_or_else(|| default_dir(&workload_name, plan.backend.name()));
    probe_listen(plan.soak.metrics_listen)?;
    // NOTE: the plan refused --attribute for --backend http without
    // --serve; the in-process
    // backends are profiled by memsoak's own jemalloc, which
    // _RJEM_MALLOC_CONF may have turned off: say so before any folder.
    let in_process = plan.backend.in_process();
    if plan.soak.attribute.is_some() && in_process && !heap_profile::available() {
        return Err(fail(
            "--attribute: jemalloc heap profiling is off in this memsoak (prof:false in _RJEM_MALLOC_CONF?); it is how --backend synthetic and candle are attributed",
        ));
    }
    startable(&plan.backend)?;
    let (folder, _claim) = RunFolder::claim(&dir, plan.soak.out.is_none()).map_err(fail)?;
    let dir = folder.dir().to_path_buf();
    if plan.soak.attribute.is_some() {
        match &mut plan.backend {
            BackendPlan::Command(o) => o.env = attribution_env(&folder)?,
            // NOTE: the plan refused --attribute for a server memsoak does
            // not start.
            BackendPlan::Http(o) => o.env = attribution_env(&folder)?,
            _ => {}
        }
    }
    // NOTE: from before the backend loads, so that `heap` is the whole live
    // heap; ended when sampling ends, so the profile's t-end is what the
    // soak held, not what the teardown left.
    #[cfg(feature = "dhat-heap")]
    let (mut dhat_profile, mut profile_notes) =
        if matches!(plan.backend, BackendPlan::Command(_) | BackendPlan::Http(_)) {
            let why = "the backend runs in another process, which dhat does not see";
            (None, vec![format!("{DHAT_HEAP_JSON} not written: {why}")])
        } else {
            match crate::sample::dhat_heap::HeapProfile::start(&folder.file(DHAT_HEAP_JSON)) {
                Ok(p) => (Some(p), Vec::new()),
                Err(e) => (None, vec![format!("{DHAT_HEAP_JSON} not written: {e}")]),
            }
        };
    // NOTE: jemalloc runs with its own defaults (freed pages decay back to
    // the OS over 10 s), for candle too. memsoak used to turn decay off for
    // candle, for speed; that made RSS the high-water mark of every batch
    // shape met so far, a staircase that only climbs: in 6 healthy default
    // runs rss read 0.42–2.68 MiB/min, 3 of them over the default limit of
    // 2 MiB/min and saved only by p = 0.06–0.30. With decay on, 8 runs read
    // −1.16…0.34 MiB/min, none significant, and embedded as many texts
    // (median 3,840 in 2 min either way; README "Allocator and threading
    // defaults"). A leak detector must not manufacture growth.
    let signals = Signals::install().context("installing signal handlers")?;
    let embedder = match build_embedder(&plan.backend, &folder, &signals)? {
        Ok(e) => e,
        Err(code) => return Ok(Err(code)),
    };
    let info: BackendInfo = embedder.info();
    // NOTE: the command line may hold a URL with a password or token.
    let meta = plan.backend.redacted(RunMeta {
        backend: Some(info.clone()),
        workload: Some(workload_name.clone()),
        config: Some(Config::Settings(Box::new(plan.settings()))),
        ..RunMeta::now("run")
    });
    // NOTE: before run.json: a file that cannot be created (no permission)
    // leaves the folder free for the same --out.
    let sink: Box<dyn Sink> = match &plan.write_embeddings {
        Some(p) => Box::new(
            NpyWriter::create(p)
                .map_err(|e| fail(format!("--write-embeddings {}: {e}", p.display())))?,
        ),
        None => Box::new(Discard),
    };
    let exposition = expose(plan.soak.metrics_listen, &dir, &meta, plan.soak.quiet)?;
    folder.write_meta(&meta).map_err(fail)?;
    let mut notes = Vec::new();
    if let BackendPlan::Http(o) = &plan.backend
        && o.server == Server::Remote
    {
        notes.push(
            "the server is not sampled (--client-only, or a URL not on this machine): rss, pss and heap \
             are memsoak's own, the client's, and the thresholds on them judge the client, not the \
             server"
                .into(),
        );
    }
    // A worker or server backend is a black box: sample its tree, not memsoak.
    let worker = embedder.target_pid();
    // NOTE: taken before the embedder moves into the pipeline, whose thread
    // a request to a hung worker may hold: an interrupt stops the tree
    // from here.
    let tree = embedder.owned_tree();
    let processes = folder.file(PROCESSES_CSV);
    let (set, cgroup) = samplers_with(
        Some(worker.unwrap_or(std::process::id())),
        worker.is_none(),
        worker.is_some().then_some(processes.as_path()),
        None,
        &mut notes,
    );
    // NOTE: before the soak starts: the in-process profiler reads the
    // binary's debug info (tens of MiB), which is memsoak's, not the soak's.
    let requester = match plan.soak.attribute {
        Some(a) if in_process => Some(Requester::in_process(folder.clone(), a).map_err(fail)?),
        Some(a) => Some(Requester::new(folder.clone(), a)),
        None => None,
    };
    let pipeline = Pipeline::start(workload, embedder, sink, 2, plan.max_errors);
    let mut mon = Monitor::start(
        plan.soak.clone(),
        set,
        Some(pipeline.counter().into()),
        &folder,
        signals.clone(),
    )
    .map_err(fail)?
    .with_host_swap(meta.host.as_ref().and_then(|h| h.swap_total))
    .with_exposition(exposition)
    .with_requester(requester);
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
    let (samples, sampler_err) = mon.finish(true);
    #[cfg(feature = "dhat-heap")]
    if let Some(p) = dhat_profile.take() {
        p.finish();
        profile_notes.push(format!(
            "exact heap profile (dhat) in {DHAT_HEAP_JSON}, up to the end of sampling: open it in DHAT's viewer (dh_view.html)"
        ));
    }
    let pipeline_errors = pipeline.errors();
    // A signal while the batch in flight at the duration's end finishes
    // (seconds, for a slow backend) is an interrupt too: it was ignored,
    // and the run exited 0 nine seconds later.
    // After a fail-fast stop or a sampler error the signal only cuts the
    // wait short: the run keeps the reason it stopped for.
    let late = match stop {
        Some(Stop::Interrupted(_)) | None => None,
        Some(_) => interrupt_while_draining(&pipeline, &signals),
    };
    let stop = match (stop, late) {
        (Some(Stop::Duration), Some(i)) => Some(Stop::Interrupted(i)),
        (s, _) => s,
    };
    let interrupted = matches!(stop, Some(Stop::Interrupted(_)));
    let (joined, _items, embedder) = if interrupted || late.is_some() {
        // NOTE: a request in flight to a hung worker would hold the report
        // until --timeout; an interrupt promises one within 2 s. Stopped
        // like any tree memsoak ends (Target::stop_tree), the worker or
        // server is reported as stopped by memsoak, not killed by SIGTERM.
        if let Some(t) = &tree {
            t.stop(INTERRUPT_GRACE);
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
    drop(tree);
    let stop = stop.unwrap_or(Stop::Duration);
    let mut ending = match (&end, &stop) {
        (_, Stop::Interrupted(_)) => Ending::judged("interrupted"),
        (PipelineEnd::BackendError(e), _) => Ending::failed(
            "backend_error",
            exit::TARGET,
            format!("backend failed: {e}"),
        ),
        (PipelineEnd::WorkloadError(e), _) => {
            Ending::failed("workload_error", exit::USAGE, e.clone())
        }
        (PipelineEnd::WriterError(e), _) => {
            Ending::failed("output_error", exit::USAGE, format!("writer failed: {e}"))
        }
        (PipelineEnd::Exhausted, Stop::Duration)
            if mon.elapsed() < mon.options().duration.as_secs_f64() =>
        {
            Ending::judged("workload_exhausted")
        }
        (_, Stop::SamplerError(e)) => Ending::failed("output_error", exit::USAGE, e.clone()),
        (_, s) => Ending::judged(stop_name(s)),
    };
    if ending.failure.is_none() {
        ending.failure = sampler_err.map(|e| (exit::USAGE, e));
    }
    let (errors, last_error) = pipeline_errors;
    let mut report = report_for(&mon, &samples, "run", ending, &stop);
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
    notes.extend(mon.take_notes());
    #[cfg(feature = "dhat-heap")]
    notes.extend(profile_notes);
    // NOTE: the sampler notes go first; the tolerated-errors note above stays.
    report.notes.splice(0..0, notes);
    if let Some(r) = report.replay.as_ref().filter(|r| r.skipped_lines > 0) {
        report.notes.push(format!(
            "{} malformed trace line(s) skipped (--skip-bad)",
            r.skipped_lines
        ));
    }
    note_cgroup(&mut report, cgroup.as_ref());
    attribute(&mut report, &folder, PprofWrite::Always);
    Ok(Ok(conclude(report, &folder, &samples, &meta, &mon)))
}
