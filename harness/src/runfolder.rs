//! The run folder: created (and proven writable) before anything runs, with
//! `run.json` written at the start.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// Facts about the machine, for `run.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Host {
    /// Host name.
    pub hostname: String,
    /// Kernel release.
    pub kernel: String,
    /// CPUs available to memsoak.
    pub cpus: usize,
    /// MemTotal in bytes.
    pub mem_total: Option<u64>,
    /// SwapTotal in bytes.
    pub swap_total: Option<u64>,
}

impl Host {
    /// Read this machine's facts.
    pub fn current() -> Host {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        let meminfo = read("/proc/meminfo");
        let field = |k: &str| {
            meminfo
                .lines()
                .find(|l| l.starts_with(k))
                .and_then(|l| crate::sample::proc::kb_value(l.as_bytes()))
        };
        Host {
            hostname: read("/proc/sys/kernel/hostname"),
            kernel: read("/proc/sys/kernel/osrelease"),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            mem_total: field("MemTotal:"),
            swap_total: field("SwapTotal:"),
        }
    }
}

/// The git commit of the current directory's repository, if any.
pub fn git_commit() -> Option<String> {
    let out = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Make a name safe as a path component.
fn slug(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    s.chars().take(40).collect()
}

/// `reports/<UTC timestamp>-<workload>-<backend>/` under the current dir.
pub fn default_dir(workload: &str, backend: &str) -> PathBuf {
    let ts = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    PathBuf::from("reports").join(format!("{ts}-{}-{}", slug(workload), slug(backend)))
}

/// Create `dir` and prove it writable. Any failure here is a usage error
/// (nothing has run yet).
pub fn prepare(dir: &Path) -> Result<(), String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("--out {}: cannot create the run folder: {e}", dir.display()))?;
    let probe = dir.join(".memsoak-write-probe");
    std::fs::write(&probe, b"ok")
        .and_then(|_| std::fs::remove_file(&probe))
        .map_err(|e| format!("--out {}: cannot write there: {e}", dir.display()))
}

/// Create `dir` (see [`prepare`]) and write `run.json` there.
pub fn create(dir: &Path, run_json: &serde_json::Value) -> Result<(), String> {
    prepare(dir)?;
    let mut text = serde_json::to_string_pretty(run_json).unwrap_or_default();
    text.push('\n');
    std::fs::write(dir.join("run.json"), text)
        .map_err(|e| format!("--out {}: cannot write there: {e}", dir.display()))
}

/// The software whose memory a run measures: memsoak, the allocator (the
/// crate and the jemalloc it links), and, where built in, candle, the
/// tokenizer and NVML's wrapper. Crate versions come from `Cargo.lock` at
/// build time (`build.rs`).
pub fn versions() -> serde_json::Value {
    let mut v = serde_json::json!({
        "memsoak": env!("CARGO_PKG_VERSION"),
        "tikv-jemallocator": env!("MEMSOAK_V_JEMALLOCATOR"),
        "jemalloc": tikv_jemalloc_ctl::version::read()
            .map(|s| s.split('-').next().unwrap_or(s).to_string())
            .ok(),
    });
    let obj = v.as_object_mut().expect("an object");
    if cfg!(feature = "candle") {
        obj.insert("candle".into(), env!("MEMSOAK_V_CANDLE").into());
        obj.insert("tokenizers".into(), env!("MEMSOAK_V_TOKENIZERS").into());
    }
    if cfg!(feature = "nvml") {
        obj.insert("nvml-wrapper".into(), env!("MEMSOAK_V_NVML_WRAPPER").into());
    }
    v
}

/// The common part of `run.json`.
pub fn run_json(mode: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut v = serde_json::json!({
        "mode": mode,
        "command_line": std::env::args().collect::<Vec<_>>(),
        "started_at": chrono::Utc::now().to_rfc3339(),
        "git_commit": git_commit(),
        "host": Host::current(),
        "versions": versions(),
        "allocator": {
            "env_malloc_conf": std::env::var("_RJEM_MALLOC_CONF").ok(),
        },
    });
    if let (Some(obj), serde_json::Value::Object(extra)) = (v.as_object_mut(), extra) {
        obj.extend(extra);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_and_refuses_unwritable() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("a/b");
        create(&dir, &run_json("run", serde_json::json!({"x": 1}))).unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("run.json")).unwrap()).unwrap();
        assert_eq!(v["mode"], "run");
        assert_eq!(v["x"], 1);
        assert!(v["host"]["cpus"].as_u64().unwrap() >= 1);
        // A path under a regular file cannot be a folder.
        let f = d.path().join("file");
        std::fs::write(&f, "").unwrap();
        let e = create(&f.join("x"), &serde_json::json!({})).unwrap_err();
        assert!(e.contains("cannot create"), "{e}");
    }

    #[test]
    fn versions_come_from_the_lock_file_and_the_linked_jemalloc() {
        let v = versions();
        let semver = |k: &str| {
            let s = v[k].as_str().unwrap_or_else(|| panic!("no {k} in {v}"));
            assert!(
                s.split('.').count() == 3 && s.split('.').all(|p| p.parse::<u32>().is_ok()),
                "{k} = {s}"
            );
        };
        semver("memsoak");
        semver("tikv-jemallocator");
        semver("jemalloc");
        if cfg!(feature = "candle") {
            assert!(v["candle"].as_str().unwrap().starts_with("0.11."), "{v}");
            semver("tokenizers");
        }
    }

    #[test]
    fn default_dir_is_under_reports() {
        let p = default_dir("my corpus.txt", "candle");
        assert!(p.starts_with("reports"));
        assert!(p.to_string_lossy().ends_with("-my_corpus.txt-candle"));
    }
}
