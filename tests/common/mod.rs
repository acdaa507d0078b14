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

/// A JSON file, read and parsed, or a panic naming the file.
pub fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// A run folder's `report.json`.
pub fn report(dir: &Path) -> Value {
    json(&dir.join("report.json"))
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

/// What one memsoak invocation left: its exit code, its stderr, and its
/// run folder (inside `tmp`, removed when the outcome is dropped).
pub struct Outcome {
    pub code: i32,
    pub stderr: String,
    pub dir: PathBuf,
    pub tmp: tempfile::TempDir,
}

/// `memsoak ARGS --out DIR [-- TAIL]` in a fresh temp dir (also the cwd),
/// with `env` added.
pub fn run_with(args: &[&str], tail: &[&str], env: &[(&str, &str)]) -> Outcome {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let mut cmd = memsoak();
    cmd.args(args)
        .arg("--out")
        .arg(&dir)
        .current_dir(tmp.path());
    if !tail.is_empty() {
        cmd.arg("--").args(tail);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("memsoak runs");
    Outcome {
        code: out.status.code().unwrap_or(-1),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        dir,
        tmp,
    }
}

/// `memsoak run --backend command` sampled every 200 ms, quiet, with the
/// fixture worker (`tests/fixtures/worker.py WORKER...`).
pub fn run_worker(extra: &[&str], worker: &[&str]) -> Outcome {
    let w = fixture("worker.py");
    let args = [
        &[
            "run",
            "--backend",
            "command",
            "--sample-every",
            "200ms",
            "-q",
        ][..],
        extra,
    ]
    .concat();
    run_with(&args, &[&["python3", w.as_str()][..], worker].concat(), &[])
}

/// `memsoak run --backend http --serve` against the fixture server
/// (`tests/fixtures/embed_server.py SERVER...` on a free port), pages of 8,
/// with `url_of(port)` as `--url`.
pub fn run_http_url(
    url_of: &dyn Fn(u16) -> String,
    extra: &[&str],
    server: &[&str],
    env: &[(&str, &str)],
) -> Outcome {
    let port = free_port();
    let url = url_of(port);
    let port = port.to_string();
    let srv = fixture("embed_server.py");
    let args = [
        &[
            "run",
            "--backend",
            "http",
            "--url",
            url.as_str(),
            "--serve",
            "--sample-every",
            "200ms",
            "-q",
            "--page-size",
            "8",
        ][..],
        extra,
    ]
    .concat();
    let tail = [
        &["python3", srv.as_str(), "--port", port.as_str()][..],
        server,
    ]
    .concat();
    run_with(&args, &tail, env)
}

/// [`run_http_url`] at `http://127.0.0.1:PORT`.
pub fn run_http(extra: &[&str], server: &[&str], env: &[(&str, &str)]) -> Outcome {
    run_http_url(&|p| format!("http://127.0.0.1:{p}"), extra, server, env)
}

/// The outcome (`pass`, `fail`...) of threshold `expr` in a report.
pub fn outcome_of(r: &Value, expr: &str) -> String {
    r["analysis"]["thresholds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["expr"] == expr)
        .unwrap_or_else(|| panic!("no threshold {expr} in {r}"))["outcome"]
        .as_str()
        .unwrap()
        .to_string()
}
