//! Memory samplers: where the numbers come from.
//!
//! One trait ([`Sampler`]) per seam; each source (process tree, jemalloc,
//! system, NVML) is one module. A source that cannot be read on this machine
//! is simply not built, so its metrics are absent from the run (never zeros).

pub mod cgroup;
#[cfg(feature = "dhat-heap")]
pub mod dhat_heap;
pub mod heap_profile;
pub mod jemalloc;
pub mod nvml;
pub mod proc;
pub mod system;

use serde::{Deserialize, Serialize};

/// A metric memsoak knows. Names are the column names in `samples.csv` and
/// the names used in thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Resident set size of the target process tree.
    Rss,
    /// Proportional set size of the tree (smaps_rollup).
    Pss,
    /// Swapped-out memory of the tree.
    Swap,
    /// The anonymous part of `rss` (`RssAnon` + `RssShmem`): heaps, stacks,
    /// private mappings and shared memory, pages that can only be swapped.
    RssAnon,
    /// The file-backed part of `rss` (`RssFile`): mapped files, pages the
    /// kernel can drop.
    RssFile,
    /// jemalloc `stats.allocated`: bytes the program holds (live heap).
    /// dhat's live bytes in a `--features dhat-heap` build.
    Heap,
    /// jemalloc `stats.active`.
    HeapActive,
    /// jemalloc `stats.resident`.
    HeapResident,
    /// jemalloc `stats.retained`.
    HeapRetained,
    /// jemalloc `stats.mapped`.
    HeapMapped,
    /// GPU memory used by the tree's processes (NVML).
    Vram,
    /// GPU memory used on the devices, all processes (NVML).
    VramDevice,
    /// `MemAvailable` of the host.
    SysAvailable,
    /// Swap used on the host.
    SysSwapUsed,
    /// Shared memory on the host (`Shmem`: tmpfs, `/dev/shm`): what a
    /// process leaves there outlives its mappings, and no RSS counts it.
    SysShmem,
    /// Memory charged to the target's memory cgroup (v2 `memory.current`,
    /// v1 `memory.usage_in_bytes`): what the kernel OOM-kills a container by.
    Cgroup,
    /// Anonymous memory of the cgroup.
    CgroupAnon,
    /// Page cache, tmpfs and shared memory charged to the cgroup.
    CgroupFile,
    /// Cgroup usage less inactive page cache (what Kubernetes evicts on).
    CgroupWorkingSet,
}

impl Metric {
    /// Every metric, in column order.
    pub const ALL: [Metric; 19] = [
        Metric::Rss,
        Metric::Pss,
        Metric::Swap,
        Metric::RssAnon,
        Metric::RssFile,
        Metric::Heap,
        Metric::HeapActive,
        Metric::HeapResident,
        Metric::HeapRetained,
        Metric::HeapMapped,
        Metric::Vram,
        Metric::VramDevice,
        Metric::SysAvailable,
        Metric::SysSwapUsed,
        Metric::SysShmem,
        Metric::Cgroup,
        Metric::CgroupAnon,
        Metric::CgroupFile,
        Metric::CgroupWorkingSet,
    ];

    /// The column / threshold name.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Rss => "rss",
            Metric::Pss => "pss",
            Metric::Swap => "swap",
            Metric::RssAnon => "rss_anon",
            Metric::RssFile => "rss_file",
            Metric::Heap => "heap",
            Metric::HeapActive => "heap_active",
            Metric::HeapResident => "heap_resident",
            Metric::HeapRetained => "heap_retained",
            Metric::HeapMapped => "heap_mapped",
            Metric::Vram => "vram",
            Metric::VramDevice => "vram_device",
            Metric::SysAvailable => "sys_available",
            Metric::SysSwapUsed => "sys_swap_used",
            Metric::SysShmem => "sys_shmem",
            Metric::Cgroup => "cgroup",
            Metric::CgroupAnon => "cgroup_anon",
            Metric::CgroupFile => "cgroup_file",
            Metric::CgroupWorkingSet => "cgroup_working_set",
        }
    }

    /// The metric with this column name.
    pub fn from_name(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == s)
    }

    /// Whether a *fall* of this metric is the bad direction (available memory).
    pub fn lower_is_worse(self) -> bool {
        matches!(self, Metric::SysAvailable)
    }

    /// One line for people: what the metric measures.
    pub fn describe(self) -> &'static str {
        match self {
            Metric::Rss => "resident memory of the target process tree",
            Metric::Pss => "proportional set size of the tree (shared pages split)",
            Metric::Swap => "swapped-out memory of the tree",
            Metric::RssAnon => {
                "anonymous and shared resident memory of the tree (heaps, stacks, shm)"
            }
            Metric::RssFile => "file-backed resident memory of the tree (mapped files)",
            Metric::Heap if cfg!(feature = "dhat-heap") => "live heap (dhat curr_bytes)",
            Metric::Heap => "live heap (jemalloc allocated)",
            Metric::HeapActive => "jemalloc active pages",
            Metric::HeapResident => "jemalloc resident pages",
            Metric::HeapRetained => "jemalloc retained (unmapped but kept) virtual memory",
            Metric::HeapMapped => "jemalloc mapped memory",
            Metric::Vram => "GPU memory of the tree's processes",
            Metric::VramDevice => "GPU memory used on the device(s)",
            Metric::SysAvailable => "host MemAvailable",
            Metric::SysSwapUsed => "host swap in use",
            Metric::SysShmem => "host shared memory (tmpfs, /dev/shm)",
            Metric::Cgroup => "memory charged to the target's cgroup",
            Metric::CgroupAnon => "anonymous memory of the cgroup",
            Metric::CgroupFile => "page cache and tmpfs of the cgroup",
            Metric::CgroupWorkingSet => "cgroup working set (usage less inactive file)",
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A source of memory readings.
///
/// `metrics()` is fixed at construction; `sample` fills one value per metric,
/// in that order, with `None` where a reading failed this time (a process
/// that just exited). Implementations must be cheap: they run on the
/// sampling thread at up to 10 Hz.
pub trait Sampler: Send {
    /// The metrics this source provides, in the order `sample` fills them.
    fn metrics(&self) -> &[Metric];
    /// Take one reading into `out` (`out.len() == metrics().len()`).
    fn sample(&mut self, out: &mut [Option<u64>]);
}

/// Several samplers read as one, columns in [`Metric::ALL`] order.
pub struct SamplerSet {
    sources: Vec<Box<dyn Sampler>>,
    /// For each output column: (source index, index within that source).
    columns: Vec<(Metric, usize, usize)>,
    scratch: Vec<Vec<Option<u64>>>,
}

impl SamplerSet {
    /// Combine sources. When two sources offer the same metric the first wins.
    pub fn new(sources: Vec<Box<dyn Sampler>>) -> Self {
        let mut columns = Vec::new();
        for m in Metric::ALL {
            'found: for (si, s) in sources.iter().enumerate() {
                for (mi, sm) in s.metrics().iter().enumerate() {
                    if *sm == m {
                        columns.push((m, si, mi));
                        break 'found;
                    }
                }
            }
        }
        let scratch = sources
            .iter()
            .map(|s| vec![None; s.metrics().len()])
            .collect();
        SamplerSet {
            sources,
            columns,
            scratch,
        }
    }

    /// The columns this set writes, in order.
    pub fn metrics(&self) -> Vec<Metric> {
        self.columns.iter().map(|c| c.0).collect()
    }

    /// Read every source once and fill `out` in column order.
    pub fn sample(&mut self, out: &mut Vec<Option<u64>>) {
        for (s, buf) in self.sources.iter_mut().zip(self.scratch.iter_mut()) {
            buf.iter_mut().for_each(|v| *v = None);
            s.sample(buf);
        }
        out.clear();
        out.extend(self.columns.iter().map(|&(_, si, mi)| self.scratch[si][mi]));
    }
}

/// A sampler that replays a fixed series, for tests of everything downstream.
pub struct ReplaySampler {
    metrics: Vec<Metric>,
    rows: Vec<Vec<Option<u64>>>,
    next: usize,
}

impl ReplaySampler {
    /// Replay `rows` (one value per metric each); the last row repeats.
    pub fn new(metrics: Vec<Metric>, rows: Vec<Vec<Option<u64>>>) -> Self {
        ReplaySampler {
            metrics,
            rows,
            next: 0,
        }
    }
}

impl Sampler for ReplaySampler {
    fn metrics(&self) -> &[Metric] {
        &self.metrics
    }

    fn sample(&mut self, out: &mut [Option<u64>]) {
        if let Some(row) = self
            .rows
            .get(self.next.min(self.rows.len().saturating_sub(1)))
        {
            out.copy_from_slice(row);
        }
        self.next += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roundtrip() {
        for m in Metric::ALL {
            assert_eq!(Metric::from_name(m.name()), Some(m));
        }
        assert_eq!(Metric::from_name("rsss"), None);
    }

    #[test]
    fn set_orders_columns_and_prefers_first_source() {
        let a = ReplaySampler::new(
            vec![Metric::Heap, Metric::Rss],
            vec![vec![Some(1), Some(2)]],
        );
        let b = ReplaySampler::new(
            vec![Metric::Rss, Metric::Swap],
            vec![vec![Some(9), Some(3)]],
        );
        let mut set = SamplerSet::new(vec![Box::new(a), Box::new(b)]);
        assert_eq!(set.metrics(), vec![Metric::Rss, Metric::Swap, Metric::Heap]);
        let mut out = Vec::new();
        set.sample(&mut out);
        assert_eq!(out, vec![Some(2), Some(3), Some(1)]);
    }
}
