//! `memsoak watch`: a black box. Spawn a command (or attach to a pid),
//! sample its whole process tree, and stop the tree when the duration ends.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};

use super::{
    Ending, PprofWrite, attribute, attribution_env, conclude, expose, fail, note_cgroup,
    probe_listen, report_for, stop_grace, stop_name,
};
use crate::cli::exit;
use crate::cli::plan::{TargetPlan, WatchPlan};
use crate::runfolder::meta::{Config, TargetSpec};
use crate::runfolder::{PROCESSES_CSV, RunFolder, RunMeta, TARGET_STDERR, default_dir};
use crate::soak::attribution::Requester;
use crate::soak::items::{Items, ItemsFile};
use crate::soak::monitor::{Monitor, Stop};
use crate::soak::samplers::samplers_with;
use crate::soak::signals::Signals;
use crate::target::{Target, TargetReport, TargetStatus, become_subreaper, reap_orphans};

/// The target as far as it can be had before the run folder exists.
enum Ready<'a> {
    /// A running process, attached.
    Attached(Target),
    /// A command that can be started, once the folder for its stderr is.
    ToSpawn(&'a [String]),
}

/// `memsoak watch`: sample a black-box process tree (a command it spawns,
/// or a running pid) for the duration; returns the exit code.
pub fn watch(plan: WatchPlan) -> Result<i32> {
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
        .unwrap_or_else(|| default_dir(&name, "watch"));
    let meta = RunMeta {
        target: Some(match &plan.target {
            TargetPlan::Spawn(argv) => TargetSpec::Command(argv.clone()),
            TargetPlan::Attach(pid) => TargetSpec::Pid(*pid),
        }),
        config: Some(Config::Settings(Box::new(plan.settings()))),
        ..RunMeta::now("watch")
    };
    // NOTE: a target that cannot be had is a bad input, refused before
    // the run folder is made: it held nothing but run.json.
    let ready = match &plan.target {
        TargetPlan::Attach(pid) => {
            Ready::Attached(Target::attach(*pid).map_err(|e| fail(format!("--pid: {e}")))?)
        }
        TargetPlan::Spawn(argv) => {
            Target::startable(&argv[0])
                .map_err(|e| fail(format!("cannot start `{}`: {e}", argv[0])))?;
            Ready::ToSpawn(argv)
        }
    };
    probe_listen(plan.soak.metrics_listen)?;
    let (folder, _claim) = RunFolder::claim(&dir, plan.soak.out.is_none()).map_err(fail)?;
    folder.write_meta(&meta).map_err(fail)?;
    let exposition = expose(
        plan.soak.metrics_listen,
        folder.dir(),
        &meta,
        plan.soak.quiet,
    )?;
    let signals = Signals::install().context("installing signal handlers")?;
    let env = match plan.soak.attribute {
        Some(_) => attribution_env(&folder)?,
        None => Vec::new(),
    };
    let mut target = match ready {
        Ready::Attached(target) => target,
        Ready::ToSpawn(argv) => {
            become_subreaper();
            Target::spawn_env(
                argv,
                &folder.file(TARGET_STDERR),
                plan.soak.quiet,
                false,
                &env,
            )
            .map_err(|e| fail(format!("cannot start `{}`: {e}", argv[0])))?
        }
    };
    let mut notes = Vec::new();
    let root = (!target.owned()).then_some(target.pid());
    let processes = folder.file(PROCESSES_CSV);
    let (set, cgroup) = samplers_with(
        root,
        false,
        Some(&processes),
        plan.cgroup.as_ref(),
        &mut notes,
    );
    // The target's own count of items, when it reports one (--items-file).
    let (items, items_notes) = match &plan.items {
        Some(spec) => {
            let (f, n) = ItemsFile::new(spec.clone());
            (Some(Items::File(f)), Some(n))
        }
        None => (None, None),
    };
    let mut mon = Monitor::start(plan.soak.clone(), set, items, &folder, signals)
        .map_err(fail)?
        .with_host_swap(meta.host.as_ref().and_then(|h| h.swap_total))
        .with_exposition(exposition)
        .with_requester(
            plan.soak
                .attribute
                .map(|a| Requester::new(folder.clone(), a)),
        );
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
            reap_orphans();
            next_reap = mon.elapsed() + 1.0;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // NOTE: sampling ends before the tree is stopped: its dying is no sample.
    // A tree that has exited has nothing left to sample.
    let (samples, sampler_err) = mon.finish(status.is_none());
    let stop_outcome = target
        .owned()
        .then(|| target.stop_tree(stop_grace(plan.grace, &stop)));
    let final_status = target.status().clone();
    let mut ending = match (&status, &stop) {
        (_, Stop::Interrupted(_)) => Ending::judged("interrupted"),
        (Some(st), _) if st.is_failure() => Ending::failed(
            "target_failed",
            exit::TARGET,
            format!("target {}", st.describe()),
        ),
        (Some(_), _) => Ending::judged("target_exit"),
        (None, Stop::SamplerError(e)) => Ending::failed("output_error", exit::USAGE, e.clone()),
        (None, s) => Ending::judged(stop_name(s)),
    };
    if ending.failure.is_none() {
        ending.failure = sampler_err.map(|e| (exit::USAGE, e));
    }
    let mut report = report_for(&mon, &samples, "watch", ending, &stop);
    report.target = Some(TargetReport {
        pid: target.pid(),
        command,
        status: final_status,
        stop: stop_outcome,
        stderr_tail: target.stderr_tail(),
    });
    if let (Some(spec), Some(n)) = (&plan.items, items_notes) {
        for line in n.finish(spec) {
            if !plan.soak.quiet {
                eprintln!("memsoak: note: {line}");
            }
            notes.push(line);
        }
    }
    notes.extend(mon.take_notes());
    report.notes = notes;
    note_cgroup(&mut report, cgroup.as_ref());
    attribute(&mut report, &folder, PprofWrite::Always);
    Ok(conclude(report, &folder, &samples, &meta, &mon).close())
}
