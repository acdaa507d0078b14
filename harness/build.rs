//! Records the versions of the crates a run's memory depends on (the model
//! runtime, the tokenizer, the allocator, NVML) from the workspace's
//! `Cargo.lock`, so `run.json` can say what was measured. A build without the
//! lock file (a packaged crate) records `unknown`.

use std::path::Path;

/// Crates whose version `run.json` records, and the variable each goes to.
const CRATES: [(&str, &str); 5] = [
    ("candle-core", "MEMSOAK_V_CANDLE"),
    ("tokenizers", "MEMSOAK_V_TOKENIZERS"),
    ("tikv-jemallocator", "MEMSOAK_V_JEMALLOCATOR"),
    ("nvml-wrapper", "MEMSOAK_V_NVML_WRAPPER"),
    ("dhat", "MEMSOAK_V_DHAT"),
];

fn main() {
    // NOTE: the manifest dir cargo gives this run, not `env!`'s, which is
    // fixed when the build script is compiled: cargo reuses a compiled build
    // script for a checkout at another path that shares the target dir (a
    // git worktree), and that one read the other checkout's lock (or none:
    // every version `unknown`).
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default();
    let lock = Path::new(&manifest_dir).join("../Cargo.lock");
    println!("cargo:rerun-if-changed={}", lock.display());
    let packages: Vec<toml::Value> = std::fs::read_to_string(&lock)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|t| t.get("package")?.as_array().cloned())
        .unwrap_or_default();
    for (name, var) in CRATES {
        let version = packages
            .iter()
            .find(|p| p.get("name").and_then(toml::Value::as_str) == Some(name))
            .and_then(|p| p.get("version")?.as_str())
            .unwrap_or("unknown");
        println!("cargo:rustc-env={var}={version}");
    }
}
