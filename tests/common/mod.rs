//! What every end-to-end test file needs: the memsoak binary as a user runs
//! it, the repository's fixtures, a run folder's files, and a way to find
//! processes that outlived memsoak without asking memsoak.
//!
//! Each test file includes this with `mod common;` and uses what it needs.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The memsoak binary, with the allocator, thread and model settings of the
/// environment removed so every test starts from memsoak's own defaults.
pub fn memsoak() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_memsoak"));
    c.env_remove("_RJEM_MALLOC_CONF");
    c.env_remove("RAYON_NUM_THREADS");
    c.env_remove("MEMSOAK_MODEL_DIR");
    c
}

/// A path in the repository.
pub fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(p)
}

/// A file of `tests/fixtures/`, as a string for an argument list.
pub fn fixture(name: &str) -> String {
    repo("tests/fixtures")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// A run folder's `report.json`.
pub fn report(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("report.json"))
        .unwrap_or_else(|e| panic!("no report.json in {}: {e}", dir.display()));
    serde_json::from_str(&text).expect("report.json is JSON")
}

/// Data rows of a run folder's `samples.csv`.
pub fn rows(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("samples.csv"))
        .expect("samples.csv")
        .lines()
        .count()
        - 1
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Pids of live (non-zombie) processes whose environment holds
/// `MEMSOAK_TEST_MARK=mark`: a test sets the mark on memsoak, and every
/// process of the target inherits it.
pub fn marked_pids(mark: &str) -> Vec<u32> {
    let needle = format!("MEMSOAK_TEST_MARK={mark}");
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let zombie = stat
                .rsplit(')')
                .next()
                .is_some_and(|r| r.trim_start().starts_with('Z'));
            !zombie && env.split(|b| *b == 0).any(|kv| kv == needle.as_bytes())
        })
        .collect()
}

/// Wait up to `secs` for every marked process to be gone; the survivors.
pub fn survivors(mark: &str, secs: u64) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let left = marked_pids(mark);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
