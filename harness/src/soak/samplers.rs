//! The samplers of a soak: what `run` and `watch` sample, and why a
//! metric is absent when it is.

use std::path::Path;

use crate::runfolder::processes::{DEFAULT_EVERY, DEFAULT_TOP, ProcessLog};
use crate::sample::cgroup::{self, CgroupSampler, CgroupWatch};
use crate::sample::{Metric, Sampler, SamplerSet, nvml, proc, system};

/// Why a soak never samples `m`, whatever the machine, if so: the heap
/// metrics are memsoak's own allocator's, so only an `in_process` embedder
/// has them (and a `dhat-heap` build has `heap` alone). `None` for a metric
/// this soak may sample; whether it does can depend on the machine (`vram`
/// needs a GPU, `cgroup*` a memory cgroup of the target's own), so such a
/// threshold is skipped at the end, not refused before the start.
///
/// # Examples
/// ```
/// use memsoak::sample::Metric;
/// use memsoak::soak::samplers::never_sampled;
/// assert!(never_sampled(Metric::Heap, false).is_some());
/// assert!(never_sampled(Metric::Heap, true).is_none());
/// assert!(never_sampled(Metric::Vram, false).is_none());
/// ```
pub fn never_sampled(m: Metric, in_process: bool) -> Option<&'static str> {
    let heap = crate::sample::jemalloc::METRICS.contains(&m);
    if heap && !in_process {
        return Some(
            "the heap metrics are memsoak's own allocator statistics, read only when the embedder runs inside memsoak (run --backend synthetic or candle); a black box's heap is not readable",
        );
    }
    if heap && m != Metric::Heap && cfg!(feature = "dhat-heap") {
        return Some(
            "a dhat-heap build reads dhat's live bytes (`heap`) alone, no jemalloc statistics",
        );
    }
    None
}

/// The samplers of a run or watch: the process tree rooted at `root` (else
/// memsoak's descendants), jemalloc heap stats (dhat's live bytes in a
/// `dhat-heap` build) when `in_process`, host
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
    samplers_with(root, in_process, processes, None, notes).0
}

/// The memory cgroup a soak samples: `explicit` (`watch --cgroup`,
/// already validated), else the target's own (`root`, else memsoak's, whose
/// children share it); `None`, with a note, when it has none of its own.
pub fn cgroup_of(
    root: Option<u32>,
    explicit: Option<&cgroup::CgroupDir>,
    notes: &mut Vec<String>,
) -> Option<CgroupWatch> {
    let dir = explicit
        .cloned()
        .or_else(|| cgroup::of_pid(root.unwrap_or(std::process::id())));
    if dir.is_none() {
        notes.push("cgroup metrics absent: the target has no memory cgroup of its own".into());
    }
    notes.extend(explicit.and_then(cgroup::root_note));
    dir.map(CgroupWatch::start)
}

/// [`samplers`], and the memory cgroup sampled (`cgroup*` metrics), which
/// the run's end reads for its limit and OOM kills.
pub fn samplers_with(
    root: Option<u32>,
    in_process: bool,
    processes: Option<&Path>,
    cgroup: Option<&cgroup::CgroupDir>,
    notes: &mut Vec<String>,
) -> (SamplerSet, Option<CgroupWatch>) {
    let mut v: Vec<Box<dyn Sampler>> = Vec::new();
    let mut tree = match root {
        Some(pid) => proc::ProcessTreeSampler::new(pid),
        None => proc::ProcessTreeSampler::descendants_of_self(),
    };
    if let Some(path) = processes {
        match ProcessLog::create(path, DEFAULT_TOP, DEFAULT_EVERY) {
            Ok(log) => tree = tree.with_log(log),
            Err(e) => notes.push(format!("{} not written: {e}", path.display())),
        }
    }
    v.push(Box::new(tree));
    #[cfg(not(feature = "dhat-heap"))]
    if in_process {
        match crate::sample::jemalloc::JemallocSampler::new() {
            Some(j) => v.push(Box::new(j)),
            None => notes.push("heap metrics absent: jemalloc statistics are not available".into()),
        }
    }
    #[cfg(feature = "dhat-heap")]
    if in_process {
        match crate::sample::dhat_heap::DhatSampler::new() {
            Some(d) => {
                v.push(Box::new(d));
                notes.push("heap is dhat's live bytes (a dhat-heap build, no jemalloc): heap_active, heap_resident, heap_retained and heap_mapped are absent".into());
            }
            None => notes.push(
                "heap metrics absent: a dhat-heap build has no jemalloc statistics and no dhat profile was running".into(),
            ),
        }
    }
    if !in_process {
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
    let watch = cgroup_of(root, cgroup, notes);
    if let Some(w) = &watch {
        v.push(Box::new(CgroupSampler::new(w.dir().clone())));
    }
    (SamplerSet::new(v), watch)
}
