//! The `memsoak` binary: parse, run, print errors as one line.

use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

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
