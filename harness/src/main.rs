//! The `memsoak` binary: parse, run, print errors as one line.

use std::process::ExitCode;

use clap::Parser;

#[cfg(not(feature = "dhat-heap"))]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

// NOTE: `--features dhat-heap`: dhat counts every block exactly (`run`
// writes dhat-heap.json), at the cost of speed and of jemalloc's statistics.
#[cfg(feature = "dhat-heap")]
#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn main() -> ExitCode {
    let cli = memsoak::cli::args::Cli::parse();
    match memsoak::cli::run(cli) {
        Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
        Err(e) => {
            eprintln!("memsoak: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
