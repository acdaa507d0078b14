//! The `memsoak` binary: parse, run, print errors as one line.

use std::process::ExitCode;

#[cfg(not(feature = "dhat-heap"))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

// NOTE: `--features dhat-heap`: dhat counts every block exactly (`run`
// writes dhat-heap.json), at the cost of speed and of jemalloc's statistics.
#[cfg(feature = "dhat-heap")]
#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// jemalloc's compiled-in options: heap profiling ready for `--attribute`
/// but inactive (see `memsoak::sample::heap_profile::MALLOC_CONF`); read
/// before `_RJEM_MALLOC_CONF`, which overrides it.
#[cfg(not(feature = "dhat-heap"))]
#[unsafe(export_name = "_rjem_malloc_conf")]
static MALLOC_CONF: Option<&'static std::ffi::c_char> =
    // SAFETY: a pointer to the first byte of a static C string.
    Some(unsafe { &*memsoak::sample::heap_profile::MALLOC_CONF.as_ptr() });

fn main() -> ExitCode {
    let cli = match memsoak::cli::args::Cli::from_args() {
        Ok(cli) => cli,
        Err((text, code)) => {
            eprintln!("{}", text.trim_end());
            return ExitCode::from(code);
        }
    };
    match memsoak::cli::run(cli) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("memsoak: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
