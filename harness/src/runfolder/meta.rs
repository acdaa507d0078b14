//! `run.json`: the facts of a run recorded at its start (command line,
//! settings, host, versions, backend), typed both ways as [`RunMeta`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::backend::BackendInfo;

/// Facts about the machine, for `run.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
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

/// The software whose memory a run measures: memsoak, the allocator (the
/// crate and the jemalloc it links; dhat in a `dhat-heap` build), and, where built in, candle, the
/// tokenizer and NVML's wrapper. Crate versions come from `Cargo.lock` at
/// build time (`build.rs`). `None`: linked but its version unreadable.
pub fn versions() -> Versions {
    let mut v = Versions::new();
    let mut put = |k: &str, x: Option<String>| {
        v.insert(k.to_string(), x);
    };
    put("memsoak", Some(env!("CARGO_PKG_VERSION").into()));
    if cfg!(feature = "dhat-heap") {
        put("dhat", Some(env!("MEMSOAK_V_DHAT").into()));
    } else {
        put(
            "tikv-jemallocator",
            Some(env!("MEMSOAK_V_JEMALLOCATOR").into()),
        );
        put(
            "jemalloc",
            tikv_jemalloc_ctl::version::read()
                .map(|s| s.split('-').next().unwrap_or(s).to_string())
                .ok(),
        );
    }
    if cfg!(feature = "candle") {
        put("candle", Some(env!("MEMSOAK_V_CANDLE").into()));
        put("tokenizers", Some(env!("MEMSOAK_V_TOKENIZERS").into()));
    }
    if cfg!(feature = "nvml") {
        put("nvml-wrapper", Some(env!("MEMSOAK_V_NVML_WRAPPER").into()));
    }
    v
}

pub use crate::analysis::compare::Versions;

/// The allocator settings found in the environment at the start.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AllocatorEnv {
    /// `_RJEM_MALLOC_CONF`, when set.
    #[serde(default)]
    pub env_malloc_conf: Option<String>,
    /// memsoak's global allocator when it is not jemalloc: `dhat` in a
    /// `--features dhat-heap` build. Absent: jemalloc.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global: Option<String>,
}

/// What `watch` sampled: a command it spawned or a pid it attached to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetSpec {
    /// The command line memsoak spawned.
    Command(Vec<String>),
    /// The pid memsoak attached to.
    Pid(u32),
}

/// The validated settings of a run, as `run.json` records them (durations
/// as typed, thresholds as expressions).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// Run length (`1m`).
    pub duration: String,
    /// Sampling period (`1s`).
    pub sample_every: String,
    /// Warm-up rule (`auto`, `30s`, `10%`).
    pub warmup: String,
    /// Thresholds given (empty: defaults for the metrics sampled).
    pub thresholds: Vec<String>,
    /// `--fail-fast`.
    pub fail_fast: bool,
    /// Confidence of CIs and trend tests.
    pub confidence: f64,
    /// Materiality floor, bytes.
    pub min_growth: f64,
    /// Profile used, if any.
    #[serde(default)]
    pub profile: Option<String>,
    /// The workload (`run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<WorkloadSettings>,
    /// Backend name (`run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// `--write-embeddings` (`run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub write_embeddings: Option<PathBuf>,
    /// Failed requests tolerated (`run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_errors: Option<u64>,
    /// SIGTERM → SIGKILL grace (`watch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace: Option<String>,
    /// `--items-file` (`watch`): where the target wrote its progress.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_file: Option<PathBuf>,
    /// `--items-format` (`watch`, with `--items-file`): `count` or `lines`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items_format: Option<String>,
    /// `--attribute`: the first request (seconds into the soak) and the
    /// period of the snapshots, as scheduled (`from 1.6s, every 500ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attribute: Option<String>,
}

/// How the workload of a `run` was set up.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkloadSettings {
    /// `synthetic`, `text`, `trace` or `definition`.
    pub kind: String,
    /// The file, for every kind but `synthetic`.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// `--loop`.
    pub looping: bool,
    /// Texts per page (`synthetic`, `text`).
    #[serde(default)]
    pub page_size: Option<usize>,
    /// Seed (`synthetic`).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Length distribution as typed (`longtail:12-400`, `synthetic`).
    #[serde(default)]
    pub lengths: Option<String>,
    /// Replay pace (`trace`, `definition`).
    #[serde(default)]
    pub pace: Option<String>,
    /// `--skip-bad` (`trace`, `definition`).
    #[serde(default)]
    pub skip_bad: bool,
}

/// `run.json`'s `config`: the typed [`Settings`], or, in folders written
/// before they were typed, the plan's Debug text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Config {
    /// The settings.
    Settings(Box<Settings>),
    /// Debug text of the plan (older run folders).
    Legacy(String),
}

/// `run.json`: what ran, where, with what, written at the start of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    /// `run` or `watch`.
    #[serde(default)]
    pub mode: String,
    /// memsoak's command line.
    #[serde(default)]
    pub command_line: Vec<String>,
    /// When the run started (RFC 3339, UTC).
    #[serde(default)]
    pub started_at: Option<String>,
    /// Git commit of the working directory's repository.
    #[serde(default)]
    pub git_commit: Option<String>,
    /// The machine.
    #[serde(default)]
    pub host: Option<Host>,
    /// Versions of the software measured.
    #[serde(default)]
    pub versions: Versions,
    /// Allocator settings from the environment.
    #[serde(default)]
    pub allocator: AllocatorEnv,
    /// Allocator settings memsoak applied itself. None since memsoak leaves
    /// jemalloc's page decay on for candle too; run folders written before
    /// that hold `dirty_decay_ms:-1,muzzy_decay_ms:-1` here, and reports of
    /// them still say so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocator_applied: Option<String>,
    /// The embedder (`run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<BackendInfo>,
    /// The workload's name (`run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<String>,
    /// What was watched (`watch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<TargetSpec>,
    /// The validated settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Config>,
}

impl RunMeta {
    /// The facts every run records at its start, for `mode`.
    pub fn now(mode: &str) -> RunMeta {
        RunMeta {
            mode: mode.into(),
            command_line: std::env::args().collect(),
            started_at: Some(chrono::Utc::now().to_rfc3339()),
            git_commit: git_commit(),
            host: Some(Host::current()),
            versions: versions(),
            allocator: AllocatorEnv {
                env_malloc_conf: std::env::var("_RJEM_MALLOC_CONF").ok(),
                global: cfg!(feature = "dhat-heap").then(|| "dhat".into()),
            },
            allocator_applied: None,
            backend: None,
            workload: None,
            target: None,
            config: None,
        }
    }

    /// Pretty JSON, newline-terminated, as `run.json` holds it.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).unwrap_or_default();
        text.push('\n');
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_come_from_the_lock_file_and_the_linked_jemalloc() {
        let v = versions();
        let semver = |k: &str| {
            let s = v
                .get(k)
                .and_then(|s| s.as_deref())
                .unwrap_or_else(|| panic!("no {k} in {v:?}"));
            assert!(
                s.split('.').count() == 3 && s.split('.').all(|p| p.parse::<u32>().is_ok()),
                "{k} = {s}"
            );
        };
        semver("memsoak");
        if cfg!(feature = "dhat-heap") {
            semver("dhat");
            assert!(!v.contains_key("jemalloc"), "{v:?}");
        } else {
            semver("tikv-jemallocator");
            semver("jemalloc");
        }
        if cfg!(feature = "candle") {
            assert!(
                v["candle"].as_deref().unwrap().starts_with("0.11."),
                "{v:?}"
            );
            semver("tokenizers");
        }
    }

    #[test]
    fn a_legacy_run_json_with_a_debug_config_still_reads() {
        let text = r#"{"mode": "watch", "command_line": ["memsoak"], "config": "WatchPlan { .. }",
            "target": {"pid": 7}, "allocator": {"env_malloc_conf": null},
            "versions": {"memsoak": "0.1.0", "jemalloc": null}}"#;
        let m: RunMeta = serde_json::from_str(text).unwrap();
        assert_eq!(m.config, Some(Config::Legacy("WatchPlan { .. }".into())));
        assert_eq!(m.target, Some(TargetSpec::Pid(7)));
        assert_eq!(m.versions["jemalloc"], None);
    }

    #[test]
    fn a_run_json_written_before_it_was_typed_still_reads() {
        let m: RunMeta = serde_json::from_str(include_str!("fixtures/run-legacy.json")).unwrap();
        assert_eq!(m.mode, "run");
        assert!(matches!(m.config, Some(Config::Legacy(ref s)) if s.starts_with("RunPlan {")));
        assert_eq!(m.backend.unwrap().name, "synthetic");
    }

    proptest::proptest! {
        // run.json round-trips through its type.
        #[test]
        fn run_json_round_trips(
            args in proptest::collection::vec("\\PC{0,10}", 0..5),
            thresholds in proptest::collection::vec("[a-z]{1,6}", 0..3),
            confidence in 0.5f64..0.999,
            min_growth in 0f64..1e9,
            watch in proptest::bool::ANY,
            pid in 1u32..100_000,
        ) {
            let settings = Settings {
                duration: "1m".into(),
                sample_every: "1s".into(),
                warmup: "auto".into(),
                thresholds,
                fail_fast: watch,
                confidence,
                min_growth,
                profile: None,
                workload: (!watch).then(|| WorkloadSettings {
                    kind: "synthetic".into(),
                    seed: Some(u64::from(pid)),
                    lengths: Some("longtail:12-400".into()),
                    ..WorkloadSettings::default()
                }),
                backend: (!watch).then(|| "synthetic".into()),
                write_embeddings: None,
                max_errors: (!watch).then_some(0),
                grace: watch.then(|| "5s".into()),
                items_file: watch.then(|| "progress.txt".into()),
                items_format: watch.then(|| "count".into()),
                attribute: watch.then(|| "from 2.0s, every 500ms".into()),
            };
            let m = RunMeta {
                command_line: args,
                target: watch.then_some(TargetSpec::Pid(pid)),
                config: Some(Config::Settings(Box::new(settings))),
                ..RunMeta::now(if watch { "watch" } else { "run" })
            };
            let back: RunMeta = serde_json::from_str(&m.to_json()).unwrap();
            proptest::prop_assert_eq!(&back, &m);
            proptest::prop_assert_eq!(back.to_json(), m.to_json());
        }
    }
}
