//! The heap of a `--features dhat-heap` build, where `dhat::Alloc` is the
//! global allocator in place of jemalloc: a profile that counts every block
//! exactly and writes them per allocation site when it ends, and the `heap`
//! metric read from it (dhat's live bytes).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{Metric, Sampler};

/// Whether [`HeapProfile`] has a profile running. dhat allows one per
/// process and panics when its statistics are read with none: the sampler
/// reads them only under this lock, while it says a profile runs.
static RUNNING: Mutex<bool> = Mutex::new(false);

fn running() -> MutexGuard<'static, bool> {
    RUNNING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why no heap profile was started.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// This process already runs one (dhat allows one at a time).
    #[error("another dhat heap profile is running in this process")]
    Busy,
    /// dhat counted nothing: `dhat::Alloc` is not this program's global
    /// allocator, so a profile would be empty.
    #[error("dhat::Alloc is not this program's global allocator")]
    NotGlobal,
}

/// A dhat heap profile in progress. Ending it (drop, or [`HeapProfile::finish`])
/// writes its file and prints dhat's totals on stderr.
pub struct HeapProfile {
    profiler: Option<dhat::Profiler>,
    path: PathBuf,
}

impl HeapProfile {
    /// Start profiling every allocation of the process from now on, to be
    /// written to `path` (`dhat-heap.json`, which DHAT's viewer `dh_view.html`
    /// opens) when the profile ends.
    pub fn start(path: &Path) -> Result<HeapProfile, ProfileError> {
        let mut running = running();
        if *running {
            return Err(ProfileError::Busy);
        }
        // NOTE: probed in testing mode, whose end writes no file: a program
        // on another allocator would otherwise leave an empty profile.
        let probe = dhat::Profiler::builder().testing().build();
        let before = dhat::HeapStats::get().total_blocks;
        drop(std::hint::black_box(Box::new(0u64)));
        let counted = dhat::HeapStats::get().total_blocks > before;
        drop(probe);
        if !counted {
            return Err(ProfileError::NotGlobal);
        }
        let profiler = dhat::Profiler::builder().file_name(path).build();
        *running = true;
        Ok(HeapProfile {
            profiler: Some(profiler),
            path: path.to_path_buf(),
        })
    }

    /// End the profile now: dhat writes the file to [`HeapProfile::path`]
    /// and prints its totals.
    pub fn finish(self) {}

    /// Where the profile is written.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for HeapProfile {
    fn drop(&mut self) {
        let mut running = running();
        *running = false;
        drop(self.profiler.take());
    }
}

/// `heap` from dhat: the bytes of the blocks live now among those allocated
/// since the [`HeapProfile`] started.
pub struct DhatSampler(());

impl DhatSampler {
    /// `None` when no [`HeapProfile`] runs.
    pub fn new() -> Option<Self> {
        (*running()).then_some(DhatSampler(()))
    }
}

impl Sampler for DhatSampler {
    fn metrics(&self) -> &[Metric] {
        &[Metric::Heap]
    }

    fn sample(&mut self, out: &mut [Option<u64>]) {
        let running = running();
        if *running {
            out[0] = Some(dhat::HeapStats::get().curr_bytes as u64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_on_another_allocator_gets_no_profile_and_no_file() {
        // The unit tests run on the system allocator, not dhat::Alloc.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dhat-heap.json");
        assert!(matches!(
            HeapProfile::start(&path),
            Err(ProfileError::NotGlobal)
        ));
        assert!(!path.exists());
        assert!(DhatSampler::new().is_none());
    }
}
