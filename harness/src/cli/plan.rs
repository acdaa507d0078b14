//! Raw flags + TOML profile → one validated plan. Every bad value becomes one
//! [`PlanError`] line (exit code 2) before anything runs.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::args::{
    AnalyzeArgs, BackendKind, BaselineSaveArgs, CompareArgs, ItemsArgs, RecordArgs, ReportArgs,
    RunArgs, SoakArgs, ToleranceArgs, WatchArgs,
};
use super::config::{Config, Profile};
use crate::analysis::Warmup;
use crate::analysis::compare::Tolerances;
use crate::analysis::threshold::{Op, Stat, Threshold};
use crate::backend::synthetic::{Behaviour, SyntheticOptions};
use crate::runfolder::SAMPLES_CSV;
use crate::runfolder::baseline::DEFAULT_ROOT;
use crate::runfolder::meta::Config as RunConfig;
use crate::runfolder::meta::{Settings, WorkloadSettings};
use crate::runfolder::{RUN_JSON, RunFolder, RunMeta};
use crate::soak::SoakOptions;
use crate::soak::items::{ItemsFileSpec, ItemsFormat};
use crate::soak::samplers::never_sampled;
use crate::trace::import::JsonlImport;
use crate::trace::proxy::ProxyOptions;
use crate::units::{parse_duration, parse_size};
use crate::workload::definition::Definition;
use crate::workload::synthetic::{Lengths, SyntheticWorkloadOptions};
use crate::workload::trace::Pace;

/// Why a command line (or its config) is unusable: one line, exit code 2.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

fn err<T>(s: impl Into<String>) -> Result<T, PlanError> {
    Err(PlanError(s.into()))
}

/// Default run length of `memsoak run`/`watch` with no profile: 5 minutes.
// NOTE: not 2 minutes. The default candle run's RSS jumps by several MiB
// sample to sample (sd 3.6 MiB over 16 minutes, nearly white) and fills a
// little in its first minutes. Of 13 healthy 2-minute runs of the default
// (builds up to 7721f27, 2-core dev box) 2 failed `rss.slope<2MiB/min`, at
// 2.03 and 2.25 MiB/min, both significant; their rss drifts averaged +0.5
// MiB/min (sd 0.89). In one healthy 16-minute run, the rss drift of a
// window every 30 s spread with sd 0.84 MiB/min over 2 minutes (mean
// −0.08), 0.50 over 3 and 0.23 over 5 (heap: 0.94, 0.48, 0.15 against its
// 1 MiB/min); no 5-minute window read over 0.37. Before that, not 60 s:
// with jemalloc's decay off RSS crept page by page as new batch shapes
// came (1.4–2.05 MiB/min in four 60 s runs).
pub const DEFAULT_DURATION: Duration = Duration::from_secs(300);

/// The thresholds as typed, each limit once (`-t rss.max<1GiB` given twice
/// was judged and reported twice); a pair on one metric and statistic that
/// no value can hold (`rss.max<1GiB` with `rss.max>2GiB`) is refused: such
/// a gate fails every run.
fn parse_thresholds(list: &[String]) -> Result<Vec<Threshold>, PlanError> {
    let mut kept: Vec<Threshold> = Vec::new();
    for s in list {
        let t = s
            .parse::<Threshold>()
            .map_err(|e| PlanError(e.to_string()))?;
        let same =
            |k: &Threshold| (k.metric, k.stat, k.op, k.limit) == (t.metric, t.stat, t.op, t.limit);
        if kept.iter().any(same) {
            continue;
        }
        if let Some(k) = kept
            .iter()
            .find(|k| (k.metric, k.stat) == (t.metric, t.stat) && disjoint(k, &t))
        {
            return err(format!(
                "{} and {}: no value can hold both, so every run would fail",
                k.expr, t.expr
            ));
        }
        kept.push(t);
    }
    Ok(kept)
}

/// Whether no value holds both an upper and a lower limit.
fn disjoint(a: &Threshold, b: &Threshold) -> bool {
    let upper = |t: &Threshold| matches!(t.op, Op::Lt | Op::Le);
    let (hi, lo) = match (upper(a), upper(b)) {
        (true, false) => (a, b),
        (false, true) => (b, a),
        _ => return false,
    };
    lo.limit > hi.limit || (lo.limit == hi.limit && !(hi.op == Op::Le && lo.op == Op::Ge))
}

fn confidence(c: Option<f64>) -> Result<f64, PlanError> {
    let c = c.unwrap_or(0.95);
    if !(0.5..1.0).contains(&c) {
        return err(format!(
            "--confidence {c} is out of range (0.5 to 0.999...)"
        ));
    }
    Ok(c)
}

fn min_growth(s: Option<&str>) -> Result<f64, PlanError> {
    match s {
        Some(s) => parse_size(s).map_err(|e| PlanError(format!("--min-growth: {e}"))),
        None => Ok(crate::analysis::DEFAULT_MIN_GROWTH),
    }
}

/// The profile in force, and where its values come from, for error lines
/// (`profile `ci` in memsoak.toml`): a bad value in it is not blamed on a
/// flag the user never gave.
fn load_profile(a: &SoakArgs) -> Result<(Profile, String), PlanError> {
    let path = match &a.config {
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from("memsoak.toml")).filter(|p| p.exists()),
    };
    let config = match &path {
        Some(p) => Config::load(p).map_err(|e| PlanError(e.to_string()))?,
        None => Config::default(),
    };
    let Some(name) = &a.profile else {
        return Ok((Profile::default(), String::new()));
    };
    let profile = config.profile(name).map_err(|e| PlanError(e.to_string()))?;
    let origin = match path.filter(|_| config.profile.contains_key(name)) {
        Some(p) => format!("profile `{name}` in {}", p.display()),
        None => format!("built-in profile `{name}`"),
    };
    Ok((profile, origin))
}

/// Validate the shared soak options.
pub fn soak_options(a: &SoakArgs) -> Result<SoakOptions, PlanError> {
    soak_parts(a).and_then(|(o, fit)| fit.map(|()| o))
}

/// [`soak_options`], and apart from them whether a drift can be fitted on
/// the samples the run can take ([`enough_samples_to_fit`]): `run` and
/// `watch` say first what their own checks find (a limit on a metric the
/// command never samples, refused at once), which a longer run would not
/// mend.
fn soak_parts(a: &SoakArgs) -> Result<(SoakOptions, Result<(), PlanError>), PlanError> {
    // NOTE: checked here, not by clap's `requires`: its line names only the
    // flag missing, and this one is about the flag given.
    if a.metrics_allow_remote && a.metrics_listen.is_none() {
        return err("--metrics-allow-remote applies to --metrics-listen ADDR, which was not given");
    }
    let (p, origin) = load_profile(a)?;
    // Who gave a value, for its error line: the profile's key where the
    // profile gave it (and no flag), else the flag (given, or defaulted).
    let named = |flag: &str, given: bool| {
        let key = flag.replace('-', "_");
        let in_profile = match key.as_str() {
            "duration" => p.duration.is_some(),
            "sample_every" => p.sample_every.is_some(),
            "warmup" => p.warmup.is_some(),
            "confidence" => p.confidence.is_some(),
            "min_growth" => p.min_growth.is_some(),
            _ => false,
        };
        if given || !in_profile || origin.is_empty() {
            format!("--{flag}")
        } else {
            format!("{origin}: {key}")
        }
    };
    let dur = |flag: &str, cli: Option<&String>, file: Option<&String>, default: Duration| match cli
        .or(file)
    {
        Some(s) => {
            parse_duration(s).map_err(|e| PlanError(format!("{}: {e}", named(flag, cli.is_some()))))
        }
        None => Ok(default),
    };
    let duration = dur(
        "duration",
        a.duration.as_ref(),
        p.duration.as_ref(),
        DEFAULT_DURATION,
    )?;
    let sample_every = dur(
        "sample-every",
        a.sample_every.as_ref(),
        p.sample_every.as_ref(),
        Duration::from_secs(1),
    )?;
    let nd = named("duration", a.duration.is_some());
    let ns = named("sample-every", a.sample_every.is_some());
    let nw = named("warmup", a.warmup.is_some());
    // NOTE: the duration as named after another value of the same
    // profile: its prefix once, not twice ("profile `x` in f.toml: warmup
    // 12s is not shorter than profile `x` in f.toml: duration 12s").
    let nd_after = |first: &str| match nd.strip_prefix(&format!("{origin}: ")) {
        Some(key) if !origin.is_empty() && first.starts_with(&origin) => key.to_string(),
        _ => nd.clone(),
    };
    if duration.is_zero() {
        return err(format!("{nd} must be longer than 0s"));
    }
    if sample_every < Duration::from_millis(10) {
        return err(format!(
            "{ns} {} is too fast (10ms at least; the statistics are calibrated down to 100ms)",
            humantime::format_duration(sample_every)
        ));
    }
    if sample_every > duration {
        return err(format!(
            "{ns} is longer than {}: no sample would be taken",
            nd_after(&ns)
        ));
    }
    let warmup = Warmup::parse(
        a.warmup
            .as_deref()
            .or(p.warmup.as_deref())
            .unwrap_or("auto"),
    )
    .map_err(|e| PlanError(e.replacen("--warmup", &nw, 1)))?;
    // NOTE: a warm-up that takes the whole run leaves nothing to judge; the
    // run would end with its thresholds unjudged (exit 2) after its whole
    // duration, so it is refused before anything runs.
    match warmup {
        Warmup::Time(w) if w >= duration => {
            return err(format!(
                "{nw} {} is not shorter than {} {}: no sample would be left to judge",
                humantime::format_duration(w),
                nd_after(&nw),
                humantime::format_duration(duration)
            ));
        }
        Warmup::Fraction(f) if f >= 1.0 => {
            return err(format!(
                "{nw} 100% leaves no sample to judge: give less than 100%"
            ));
        }
        _ => {}
    }
    let thresholds = if a.thresholds.is_empty() {
        parse_thresholds(p.thresholds.as_deref().unwrap_or_default())
            .map_err(|e| PlanError(format!("{origin}: thresholds: {e}")))?
    } else {
        parse_thresholds(&a.thresholds)?
    };
    let attribute_every = a
        .attribute_every
        .as_deref()
        .map(|s| parse_duration(s).map_err(|e| PlanError(format!("--attribute-every: {e}"))))
        .transpose()?;
    let attribute = match (a.attribute, attribute_every) {
        (false, Some(_)) => return err("--attribute-every needs --attribute"),
        (false, None) => None,
        (true, every) => Some(
            crate::soak::attribution::Attribute::schedule(duration, warmup, every)
                .map_err(PlanError)?,
        ),
    };
    // NOTE: none given → the defaults, a slope limit on rss at least.
    let fit = if thresholds.is_empty() || thresholds.iter().any(|t| t.stat.fitted()) {
        enough_samples_to_fit(duration, sample_every, warmup, [&nd, &ns, &nw])
    } else {
        Ok(())
    };
    let options = SoakOptions {
        attribute,
        duration,
        sample_every,
        warmup,
        thresholds,
        fail_fast: a.fail_fast || p.fail_fast.unwrap_or(false),
        confidence: confidence(a.confidence.or(p.confidence)).map_err(|e| {
            PlanError(e.0.replacen(
                "--confidence",
                &named("confidence", a.confidence.is_some()),
                1,
            ))
        })?,
        min_growth: min_growth(a.min_growth.as_deref().or(p.min_growth.as_deref())).map_err(
            |e| {
                PlanError(e.0.replacen(
                    "--min-growth",
                    &named("min-growth", a.min_growth.is_some()),
                    1,
                ))
            },
        )?,
        out: a.out.clone(),
        quiet: a.quiet,
        profile: a.profile.clone(),
        metrics_listen: a
            .metrics_listen
            .as_deref()
            .map(|l| crate::soak::exposition::parse_listen(l, a.metrics_allow_remote))
            .transpose()
            .map_err(PlanError)?,
    };
    Ok((options, fit))
}

/// Refuse a soak whose drift limits can never be judged: fewer samples
/// after warm-up than a drift fit needs ([`crate::stats::MIN_DRIFT_POINTS`])
/// even if every tick is taken. It would run to its end, then exit 2 with
/// its limits unjudged. An automatic warm-up's cut is only known after the
/// run, so it counts as none (its largest cut never leaves fewer than a fit
/// needs of a run that has them: `stats::warmup_end`). The line says what to
/// pass instead. `names`: how the duration, the period and the warm-up are
/// named (a flag, or a profile's key).
fn enough_samples_to_fit(
    duration: Duration,
    every: Duration,
    warmup: Warmup,
    names: [&str; 3],
) -> Result<(), PlanError> {
    use crate::soak::sampler::most_samples;
    let need = crate::stats::MIN_DRIFT_POINTS;
    let steady =
        |d: Duration, e: Duration| most_samples(d, e).saturating_sub(warmup.fewest_cut(d, e));
    if steady(duration, every) >= need {
        return Ok(());
    }
    let [nd, ns, nw] = names;
    let fmt = |d: Duration| humantime::format_duration(d).to_string();
    let taken = most_samples(duration, every);
    let cut = warmup.fewest_cut(duration, every).min(taken);
    let in_warmup = match cut {
        0 => String::new(),
        c => format!(", {c} of them in {nw} {}", warmup.text()),
    };
    // The shortest run on whole ticks, and the longest period in whole
    // milliseconds (10ms at least), that leave enough.
    let ticks = u32::try_from(duration.as_nanos() / every.as_nanos()).unwrap_or(u32::MAX);
    let longer = (ticks.saturating_add(1)..)
        .take(1_000_000)
        .map_while(|k| every.checked_mul(k))
        .find(|&d| steady(d, every) >= need);
    let faster = (1u32..)
        .take(1_000_000)
        .map(|m| Duration::from_millis((duration / m).as_millis() as u64))
        .take_while(|&e| e >= Duration::from_millis(10))
        .find(|&e| e < every && steady(duration, e) >= need);
    let mut give: Vec<String> = Vec::new();
    give.extend(longer.map(|d| format!("--duration {} or longer", fmt(d))));
    give.extend(faster.map(|e| format!("--sample-every {} or shorter", fmt(e))));
    if cut > 0 {
        give.push("a shorter --warmup".into());
    }
    err(format!(
        "{nd} {} at {ns} {} takes at most {taken} samples{in_warmup}, and fitting a drift needs {need} after warm-up: give {}",
        fmt(duration),
        fmt(every),
        give.join(", or ")
    ))
}

/// Which workload to run.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkloadPlan {
    /// The built-in generator.
    Synthetic(SyntheticWorkloadOptions),
    /// A text file, one text per line.
    TextFile {
        /// The file.
        path: PathBuf,
        /// Texts per page.
        page_size: usize,
    },
    /// A recorded trace: its batches are the pages.
    Trace {
        /// The file.
        path: PathBuf,
        /// Replay pace.
        pace: Pace,
        /// Skip malformed lines instead of failing.
        skip_bad: bool,
    },
    /// A workload definition: a weighted mix of sources.
    Definition {
        /// The validated definition.
        definition: Definition,
        /// Pace of its trace sources.
        pace: Pace,
        /// Skip malformed trace lines instead of failing.
        skip_bad: bool,
    },
}

impl WorkloadPlan {
    /// Short name for the run folder and the report (`synthetic`, the file
    /// name, or the definition's name).
    pub fn name(&self) -> String {
        let file = |p: &Path| {
            p.file_name()
                .map_or("workload".into(), |n| n.to_string_lossy().into_owned())
        };
        match self {
            WorkloadPlan::Synthetic(_) => "synthetic".into(),
            WorkloadPlan::TextFile { path, .. } | WorkloadPlan::Trace { path, .. } => file(path),
            WorkloadPlan::Definition { definition, .. } => definition.name.clone(),
        }
    }
}

/// Which embedder to run.
#[derive(Debug, Clone)]
pub enum BackendPlan {
    /// The synthetic backend.
    Synthetic(SyntheticOptions),
    /// The candle BERT backend.
    #[cfg(feature = "candle")]
    Candle(crate::backend::candle::CandleOptions),
    /// A JSON Lines worker process.
    Command(crate::backend::command::CommandOptions),
    /// An HTTP embedding server.
    Http(crate::backend::http::HttpOptions),
}

impl BackendPlan {
    /// Name as on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            BackendPlan::Synthetic(_) => "synthetic",
            #[cfg(feature = "candle")]
            BackendPlan::Candle(_) => "candle",
            BackendPlan::Command(_) => "command",
            BackendPlan::Http(_) => "http",
        }
    }

    /// Whether the backend embeds inside memsoak's own process (synthetic,
    /// candle): its heap is memsoak's, which `--attribute` profiles.
    pub fn in_process(&self) -> bool {
        !matches!(self, BackendPlan::Command(_) | BackendPlan::Http(_))
    }

    /// `meta` with what this backend must never write down replaced (see
    /// [`BackendPlan::redact_json`]).
    pub fn redacted(&self, meta: RunMeta) -> RunMeta {
        let Ok(mut v) = serde_json::to_value(&meta) else {
            return meta;
        };
        self.redact_json(&mut v);
        serde_json::from_value(v).unwrap_or(meta)
    }

    /// Replace, in every string of `v`, what this backend must never write
    /// down: an HTTP URL's user info and query (see
    /// [`crate::backend::http::redact_url`]).
    pub fn redact_json(&self, v: &mut serde_json::Value) {
        let BackendPlan::Http(o) = self else { return };
        let public = crate::backend::http::redact_url(&o.url);
        if public == o.url {
            return;
        }
        fn walk(v: &mut serde_json::Value, raw: &str, public: &str) {
            match v {
                serde_json::Value::String(s) if s.contains(raw) => *s = s.replace(raw, public),
                serde_json::Value::Array(a) => a.iter_mut().for_each(|x| walk(x, raw, public)),
                serde_json::Value::Object(m) => m.values_mut().for_each(|x| walk(x, raw, public)),
                _ => {}
            }
        }
        walk(v, &o.url, &public);
    }
}

/// A validated `memsoak run`.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// Sampling/analysis.
    pub soak: SoakOptions,
    /// Workload.
    pub workload: WorkloadPlan,
    /// `--loop`.
    pub looping: bool,
    /// Embedder.
    pub backend: BackendPlan,
    /// `--write-embeddings`.
    pub write_embeddings: Option<PathBuf>,
    /// Failed requests tolerated.
    pub max_errors: u64,
}

/// Parse `--inject`.
pub fn parse_inject(s: &str) -> Result<Behaviour, PlanError> {
    let bad = |why: &str| {
        PlanError(format!(
            "--inject `{s}`: {why} (expected none, linear:SIZE, step:SIZE/ITEMS, plateau:SIZE/TOTAL or sawtooth:SIZE/PEAK)"
        ))
    };
    if s == "none" {
        return Ok(Behaviour::None);
    }
    let (kind, arg) = s.split_once(':').ok_or_else(|| bad("missing `:`"))?;
    // NOTE: the shape was right, only the size wrong: the size's own
    // message alone ("(expected e.g. 512KiB…)"); with the shapes after it
    // the line held two "(expected …)".
    let size = |t: &str| {
        parse_size(t)
            .map(|v| v as u64)
            .map_err(|e| PlanError(format!("--inject `{s}`: {e}")))
    };
    let pair = || arg.split_once('/').ok_or_else(|| bad("missing `/`"));
    Ok(match kind {
        "linear" => Behaviour::Linear {
            bytes_per_item: size(arg)?,
        },
        "step" => {
            let (a, b) = pair()?;
            let every_items = b
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| bad("ITEMS must be a positive integer"))?;
            Behaviour::Step {
                bytes: size(a)?,
                every_items,
            }
        }
        "plateau" => {
            let (a, b) = pair()?;
            Behaviour::Plateau {
                bytes_per_item: size(a)?,
                total: size(b)?,
            }
        }
        "sawtooth" => {
            let (a, b) = pair()?;
            Behaviour::Sawtooth {
                bytes_per_item: size(a)?,
                peak: size(b)?,
            }
        }
        _ => return Err(bad("unknown behaviour")),
    })
}

fn workload_plan(a: &RunArgs) -> Result<WorkloadPlan, PlanError> {
    if a.page_size == Some(0) {
        return err("--page-size must be at least 1");
    }
    let page_size = a.page_size.unwrap_or(32);
    let pace = a
        .pace
        .as_deref()
        .map(Pace::parse)
        .transpose()
        .map_err(|e| PlanError(format!("--pace: {e}")))?;
    let name = a.workload.as_deref().unwrap_or("synthetic");
    let trace_only = || -> Result<(), PlanError> {
        if pace.is_some() || a.skip_bad {
            return err(
                "--pace and --skip-bad apply to recorded traces (.jsonl) and workload definitions (.toml) only",
            );
        }
        Ok(())
    };
    if name == "synthetic" {
        trace_only()?;
        let lengths = match &a.lengths {
            Some(l) => Lengths::parse(l).map_err(|e| PlanError(format!("--lengths: {e}")))?,
            None => SyntheticWorkloadOptions::default().lengths,
        };
        return Ok(WorkloadPlan::Synthetic(SyntheticWorkloadOptions {
            seed: a.seed.unwrap_or(42),
            page_size,
            lengths,
            pages: None,
        }));
    }
    if a.lengths.is_some() || a.seed.is_some() {
        return err(
            "--lengths and --seed apply to the synthetic workload only (a definition sets its own)",
        );
    }
    let mut path = PathBuf::from(name);
    // NOTE: a bare NAME is a definition shipped in workloads/ (`long-tail`).
    let named = Path::new("workloads").join(format!("{name}.toml"));
    if !path.exists() && path.extension().is_none() && !name.contains('/') && named.is_file() {
        path = named;
    }
    if let Some(why) = crate::workload::unreadable_file(&path) {
        return err(format!(
            "--workload {name}: {why} (expected `synthetic`, a text file, a trace .jsonl, a definition .toml, or a NAME in workloads/)"
        ));
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("jsonl") => {
            if a.page_size.is_some() {
                return err(format!(
                    "--page-size does not apply to the trace {name}: its recorded batches are kept"
                ));
            }
            Ok(WorkloadPlan::Trace {
                path,
                pace: pace.unwrap_or(Pace::Original),
                skip_bad: a.skip_bad,
            })
        }
        Some("toml") => {
            if a.page_size.is_some() {
                return err(format!(
                    "--page-size does not apply to the definition {name}: it sets each source's page_size"
                ));
            }
            let definition = Definition::load(&path).map_err(|e| PlanError(e.to_string()))?;
            if (pace.is_some() || a.skip_bad) && definition.traces().is_empty() {
                return err(format!(
                    "--pace and --skip-bad apply to trace sources, and {name} has none"
                ));
            }
            Ok(WorkloadPlan::Definition {
                pace: pace.or(definition.pace).unwrap_or(Pace::Fast),
                definition,
                skip_bad: a.skip_bad,
            })
        }
        _ => {
            trace_only()?;
            // NOTE: its first lines are read before the run, as traces and
            // definitions are checked: an empty or binary file was found
            // only once the run had started, and its one line came with
            // two about thresholds left unjudged. The rest is streamed.
            let mut head = crate::workload::textfile::TextFileWorkload::open(&path, TEXT_CHECKED)
                .map_err(|e| PlanError(format!("--workload: {e}")))?;
            match crate::workload::Workload::next_page(&mut head) {
                Err(e) => return err(format!("--workload: {e}")),
                Ok(None) => {
                    return err(format!(
                        "--workload {name}: no text in it (every line is blank)"
                    ));
                }
                Ok(Some(_)) => {}
            }
            Ok(WorkloadPlan::TextFile { path, page_size })
        }
    }
}

/// Texts of a `--workload` text file read before the run to check it.
const TEXT_CHECKED: usize = 1000;

/// Where `memsoak record` takes its records from.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordSource {
    /// A recording proxy.
    Proxy(ProxyOptions),
    /// A JSON Lines log.
    Jsonl {
        /// The log.
        input: PathBuf,
        /// Import settings.
        import: JsonlImport,
    },
    /// A text file, one text per line.
    Text {
        /// The file.
        input: PathBuf,
        /// Texts per record.
        batch: usize,
        /// Skip lines that are not UTF-8.
        skip_bad: bool,
    },
}

/// A validated `memsoak record`.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordPlan {
    /// The trace to write.
    pub out: PathBuf,
    /// Keep shapes only.
    pub redact: bool,
    /// Replace `out` if it exists.
    pub force: bool,
    /// No progress lines.
    pub quiet: bool,
    /// The source.
    pub source: RecordSource,
}

/// Default address of the recording proxy: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8090";

/// Validate `memsoak record`.
pub fn record_plan(a: &RecordArgs) -> Result<RecordPlan, PlanError> {
    if a.out.extension().and_then(|e| e.to_str()) != Some("jsonl") {
        return err(format!(
            "--out {}: a trace file must end in .jsonl",
            a.out.display()
        ));
    }
    if a.out.exists() && !a.force {
        return err(format!(
            "--out {}: the file exists (add --force to replace it)",
            a.out.display()
        ));
    }
    let proxy = a.listen.is_some() || a.upstream.is_some();
    let import_flags =
        a.field.is_some() || a.time_field.is_some() || a.batch.is_some() || a.skip_bad;
    let dur = |flag: &str, v: &Option<String>| -> Result<Option<Duration>, PlanError> {
        v.as_deref()
            .map(|s| parse_duration(s).map_err(|e| PlanError(format!("--{flag}: {e}"))))
            .transpose()
    };
    let input = |p: &Path, flag: &str| -> Result<PathBuf, PlanError> {
        if let Some(why) = crate::workload::unreadable_file(p) {
            return err(format!("--{flag} {}: {why}", p.display()));
        }
        if p == a.out {
            return err(format!("--{flag} and --out are the same file"));
        }
        Ok(p.into())
    };
    let batch = a.batch.unwrap_or(32);
    if batch == 0 {
        return err("--batch must be at least 1");
    }
    if a.allow_remote && a.listen.is_none() {
        return err("--allow-remote applies to --listen ADDR, which was not given");
    }
    let source = if proxy {
        if let Some(l) = &a.listen {
            listen_on_loopback(l, a.allow_remote)?;
        }
        if import_flags {
            return err(
                "--field, --time-field, --batch and --skip-bad apply to imports (--from-jsonl, --from-text)",
            );
        }
        let upstream = a.upstream.clone().ok_or_else(|| {
            PlanError("the recording proxy needs --upstream http://HOST:PORT".into())
        })?;
        if let Err(why) = crate::trace::proxy::check_port(&upstream) {
            return err(format!(
                "--upstream {}: {why}",
                crate::backend::http::redact_url(&upstream)
            ));
        }
        if crate::trace::proxy::public_url(&upstream).is_none() {
            return err(format!(
                "--upstream {upstream}: expected http://HOST:PORT[/PATH]"
            ));
        }
        let duration = dur("duration", &a.duration)?;
        if duration.is_some_and(|d| d.is_zero()) {
            return err("--duration must be longer than 0s");
        }
        let timeout = dur("timeout", &a.timeout)?.unwrap_or(Duration::from_secs(60));
        if timeout.is_zero() {
            return err("--timeout must be longer than 0s");
        }
        RecordSource::Proxy(ProxyOptions {
            listen: a.listen.clone().unwrap_or_else(|| DEFAULT_LISTEN.into()),
            upstream,
            out: a.out.clone(),
            redact: a.redact,
            replace: a.force,
            duration,
            timeout,
            workers: 8,
        })
    } else {
        if a.duration.is_some() || a.timeout.is_some() {
            return err("--duration and --timeout apply to the recording proxy (--upstream)");
        }
        match (&a.from_jsonl, &a.from_text) {
            (Some(log), None) => {
                let field = a.field.clone().ok_or_else(|| {
                    PlanError(
                        "--from-jsonl needs --field NAME (the text field of each line)".into(),
                    )
                })?;
                if field.is_empty() || a.time_field.as_deref() == Some("") {
                    return err("--field and --time-field need a name");
                }
                RecordSource::Jsonl {
                    input: input(log, "from-jsonl")?,
                    import: JsonlImport {
                        field,
                        time_field: a.time_field.clone(),
                        batch,
                        skip_bad: a.skip_bad,
                    },
                }
            }
            (None, Some(txt)) => {
                if a.field.is_some() || a.time_field.is_some() {
                    return err("--field and --time-field apply to --from-jsonl");
                }
                RecordSource::Text {
                    input: input(txt, "from-text")?,
                    batch,
                    skip_bad: a.skip_bad,
                }
            }
            _ => {
                return err(
                    "record needs a source: --upstream URL (a recording proxy), --from-jsonl LOG --field NAME, or --from-text FILE",
                );
            }
        }
    };
    Ok(RecordPlan {
        out: a.out.clone(),
        redact: a.redact,
        force: a.force,
        quiet: a.quiet,
        source,
    })
}

/// Validate `memsoak run`.
pub fn run_plan(a: &RunArgs) -> Result<RunPlan, PlanError> {
    let (soak, fit) = soak_parts(&a.soak)?;
    let workload = workload_plan(a)?;
    #[cfg(feature = "candle")]
    let default_backend = BackendKind::Candle;
    #[cfg(not(feature = "candle"))]
    let default_backend = BackendKind::Synthetic;
    let kind = a.backend.unwrap_or(default_backend);
    let synthetic_only = a.dim.is_some() || a.cost.is_some() || a.inject.is_some();
    if kind != BackendKind::Synthetic && synthetic_only {
        return err("--dim, --cost and --inject apply to --backend synthetic only");
    }
    if kind != BackendKind::Candle && (a.model.is_some() || a.threads.is_some()) {
        return err("--model and --threads apply to --backend candle only");
    }
    if a.threads == Some(0) {
        return err("--threads must be at least 1");
    }
    let http_only = a.url.is_some()
        || a.api.is_some()
        || a.model_name.is_some()
        || a.concurrency.is_some()
        || a.token_env.is_some()
        || a.pid.is_some()
        || a.serve
        || a.client_only
        || a.ready_timeout.is_some();
    if kind != BackendKind::Http && http_only {
        return err(
            "--url, --api, --model-name, --concurrency, --token-env, --pid, --serve, --client-only and --ready-timeout apply to --backend http only",
        );
    }
    if soak.attribute.is_some() && kind == BackendKind::Http && !a.serve {
        return err(
            "--attribute: --backend http is attributed only with --serve -- CMD (a Python server memsoak starts, with its tracemalloc hook on PYTHONPATH); a server at --url or --pid is not memsoak's to set up",
        );
    }
    let takes_command = kind == BackendKind::Command || (kind == BackendKind::Http && a.serve);
    if !takes_command && !a.command.is_empty() {
        return err(
            "a command after `--` applies to --backend command or --backend http --serve only",
        );
    }
    if !matches!(kind, BackendKind::Command | BackendKind::Http)
        && (a.timeout.is_some() || a.max_errors.is_some())
    {
        return err("--timeout and --max-errors apply to --backend command or http only");
    }
    let timeout = match &a.timeout {
        Some(t) => parse_duration(t).map_err(|e| PlanError(format!("--timeout: {e}")))?,
        None => Duration::from_secs(60),
    };
    if timeout.is_zero() {
        return err("--timeout must be longer than 0s");
    }
    let backend = match kind {
        BackendKind::Synthetic => {
            let d = SyntheticOptions::default();
            let dim = a.dim.unwrap_or(d.dim);
            if dim == 0 {
                return err("--dim must be at least 1");
            }
            BackendPlan::Synthetic(SyntheticOptions {
                dim,
                cost_per_item: match &a.cost {
                    Some(c) => parse_duration(c).map_err(|e| PlanError(format!("--cost: {e}")))?,
                    None => d.cost_per_item,
                },
                behaviour: match &a.inject {
                    Some(s) => parse_inject(s)?,
                    None => Behaviour::None,
                },
            })
        }
        #[cfg(feature = "candle")]
        BackendKind::Candle => {
            // NOTE: found here, before the run folder exists: a missing model
            // is a usage error that leaves nothing behind.
            let dir = crate::backend::candle::resolve_model_dir(a.model.as_deref())
                .map_err(|e| PlanError(format!("--backend candle: {e}")))?;
            BackendPlan::Candle(crate::backend::candle::CandleOptions {
                model_dir: Some(dir),
                threads: a.threads,
                ..Default::default()
            })
        }
        BackendKind::Command => {
            if a.command.is_empty() {
                return err("--backend command needs a worker: -- CMD [ARGS...]");
            }
            BackendPlan::Command(crate::backend::command::CommandOptions {
                argv: a.command.clone(),
                timeout,
                grace: Duration::from_secs(5),
                env: Vec::new(),
            })
        }
        BackendKind::Http => {
            use crate::backend::http::{Api, HttpOptions, Server};
            let url = a
                .url
                .clone()
                .ok_or_else(|| PlanError("--backend http needs --url http://HOST:PORT".into()))?;
            let api = match a.api {
                Some(crate::cli::args::ApiKind::Openai) => Api::OpenAi,
                Some(crate::cli::args::ApiKind::Tei) => Api::Tei,
                None => return err("--backend http needs --api openai or --api tei"),
            };
            crate::trace::proxy::check_port(&url).map_err(|why| {
                PlanError(format!(
                    "--url {}: {why}",
                    crate::backend::http::redact_url(&url)
                ))
            })?;
            let endpoint = crate::backend::http::Endpoint::parse(&url, api).map_err(PlanError)?;
            let concurrency = a.concurrency.unwrap_or(1);
            if concurrency == 0 || concurrency > 256 {
                return err("--concurrency must be between 1 and 256");
            }
            let server = match (a.pid, a.serve) {
                (Some(_), true) => return err("--pid and --serve exclude each other"),
                (Some(p), false) => Server::Pid(p),
                (None, true) if a.command.is_empty() => {
                    return err("--serve needs the server command after `--`");
                }
                (None, true) => Server::Serve(a.command.clone()),
                // NOTE: a server on this machine can be sampled, and with
                // neither flag the thresholds judged memsoak's own memory:
                // a server leaking 1.5 GiB in 6 s passed at -5.88 MiB/min.
                (None, false) if endpoint.is_on_this_machine() && !a.client_only => {
                    return err(format!(
                        "--backend http at {}: a server on this machine is not sampled without --pid PID (a running server) or --serve -- CMD (one memsoak starts); --client-only if it is elsewhere, behind a tunnel or proxy here",
                        endpoint.public
                    ));
                }
                (None, false) => Server::Remote,
            };
            BackendPlan::Http(HttpOptions {
                url,
                api,
                model: a.model_name.clone().unwrap_or_else(|| "default".into()),
                concurrency,
                timeout,
                token_env: a
                    .token_env
                    .clone()
                    .unwrap_or_else(|| "MEMSOAK_HTTP_TOKEN".into()),
                server,
                ready_timeout: match &a.ready_timeout {
                    Some(t) => {
                        parse_duration(t).map_err(|e| PlanError(format!("--ready-timeout: {e}")))?
                    }
                    None => Duration::from_secs(60),
                },
                grace: Duration::from_secs(5),
                env: Vec::new(),
            })
        }
        #[cfg(not(feature = "candle"))]
        BackendKind::Candle => {
            return err("--backend candle: this memsoak was built without the `candle` feature");
        }
    };
    if let Some(p) = &a.write_embeddings
        && p.extension().and_then(|e| e.to_str()) != Some("npy")
    {
        return err(format!(
            "--write-embeddings {}: the file must end in .npy",
            p.display()
        ));
    }
    if let Some(p) = &a.write_embeddings {
        new_file_path("--write-embeddings", p)?;
        // NOTE: `run` has no --force: a second run silently replaced the
        // first run's vectors, as `--out` never replaces a run.
        if p.symlink_metadata().is_ok() {
            return err(format!(
                "--write-embeddings {}: the file exists: give another path, or move that file away",
                p.display()
            ));
        }
    }
    // NOTE: every backend of `run` counts the items it embeds.
    never_judged(
        &soak.thresholds,
        &format!("run --backend {}", backend.name()),
        backend.in_process(),
        true,
    )?;
    fit?;
    Ok(RunPlan {
        soak,
        workload,
        looping: a.looping,
        backend,
        write_embeddings: a.write_embeddings.clone(),
        max_errors: a.max_errors.unwrap_or(0),
    })
}

/// Refuse a recording proxy `--listen` address beyond loopback unless
/// `--allow-remote`: the proxy forwards Authorization headers, and
/// `0.0.0.0:0` had been accepted without a word. An address that does not
/// resolve is left for the bind to name.
fn listen_on_loopback(listen: &str, allow_remote: bool) -> Result<(), PlanError> {
    let addrs: Vec<std::net::SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(listen.trim())
        .map(|a| a.collect())
        .unwrap_or_default();
    if !allow_remote && addrs.iter().any(|a| !a.ip().is_loopback()) {
        return err(format!(
            "--listen {listen}: not a loopback address; add --allow-remote to record requests from beyond this machine"
        ));
    }
    Ok(())
}

/// A file memsoak will create at `path` (given to `flag`): its folder must
/// exist and be a folder, and `path` must not be a folder itself.
///
/// NOTE: checked in the plan, before the run folder is made: found when
/// the file was created, after `run.json`, the error left a folder that
/// the same `--out` then refused as "already holds a run".
fn new_file_path(flag: &str, path: &Path) -> Result<(), PlanError> {
    let shown = path.display();
    if path.is_dir() {
        return err(format!("{flag} {shown}: is a directory, not a file"));
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match std::fs::metadata(parent) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => err(format!(
            "{flag} {shown}: {} is not a folder",
            parent.display()
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => err(format!(
            "{flag} {shown}: its folder {} does not exist",
            parent.display()
        )),
        Err(e) => err(format!(
            "{flag} {shown}: cannot read its folder {}: {e}",
            parent.display()
        )),
    }
}

/// What `watch` samples.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetPlan {
    /// Spawn this command.
    Spawn(Vec<String>),
    /// Attach to this pid.
    Attach(u32),
}

/// A validated `memsoak watch`.
#[derive(Debug, Clone)]
pub struct WatchPlan {
    /// Sampling/analysis.
    pub soak: SoakOptions,
    /// The target.
    pub target: TargetPlan,
    /// SIGTERM → SIGKILL grace.
    pub grace: Duration,
    /// `--items-file`: the target's progress, when it reports it.
    pub items: Option<ItemsFileSpec>,
    /// `--cgroup PATH`: the memory cgroup to sample instead of the
    /// target's own (a container's, a systemd unit's).
    pub cgroup: Option<crate::sample::cgroup::CgroupDir>,
}

/// Validate `memsoak watch`.
pub fn watch_plan(a: &WatchArgs) -> Result<WatchPlan, PlanError> {
    let (soak, fit) = soak_parts(&a.soak)?;
    let target = match (a.pid, a.command.is_empty()) {
        (Some(pid), true) => TargetPlan::Attach(pid),
        (None, false) => TargetPlan::Spawn(a.command.clone()),
        (None, true) => return err("watch needs a target: --pid PID or -- CMD [ARGS...]"),
        (Some(_), false) => return err("watch takes --pid or a command, not both"),
    };
    if soak.attribute.is_some() && matches!(target, TargetPlan::Attach(_)) {
        return err(
            "--attribute needs a target memsoak starts (-- CMD): it sets the target's PYTHONPATH, which a running --pid cannot take",
        );
    }
    let grace = match &a.grace {
        Some(g) => parse_duration(g).map_err(|e| PlanError(format!("--grace: {e}")))?,
        None => Duration::from_secs(5),
    };
    let cgroup = watch_cgroup(a.cgroup.as_deref())?;
    let items = items_file_plan(&a.items)?;
    never_judged(&soak.thresholds, "watch", false, items.is_some())?;
    fit?;
    Ok(WatchPlan {
        soak,
        target,
        grace,
        items,
        cgroup,
    })
}

/// Refuse, before anything runs, a threshold that `command` could never
/// judge: one on a metric it never samples ([`never_sampled`]: `heap` in
/// `watch`), or a `slope_per_1k` where nothing counts items (`watch`
/// without `--items-file`). Skipped at the end, such a limit let the gate
/// pass on the others alone, or on nothing: `watch -t heap.slope<1MiB/min`
/// passed a target leaking 60 MiB/min, and `-t rss.slope_per_1k<64KiB -t
/// rss.max<1GiB` one the per-1k limit alone would have failed.
/// `in_process`: the embedder runs inside memsoak; `counted`: items are
/// counted.
fn never_judged(
    thresholds: &[Threshold],
    command: &str,
    in_process: bool,
    counted: bool,
) -> Result<(), PlanError> {
    if let Some((t, why)) = thresholds
        .iter()
        .find_map(|t| Some((t, never_sampled(t.metric, in_process)?)))
    {
        return err(format!(
            "{}: `{}` is never sampled by {command}: {why}",
            t.expr, t.metric
        ));
    }
    let per_1k: Vec<&str> = thresholds
        .iter()
        .filter(|t| t.stat == Stat::SlopePer1k)
        .map(|t| t.expr.as_str())
        .collect();
    if counted || per_1k.is_empty() {
        return Ok(());
    }
    err(format!(
        "{}: slope_per_1k needs the items the target has done, which watch counts only with --items-file PATH: \
         as given, that limit would never be judged (add --items-file, or use a slope, growth or max threshold)",
        per_1k.join(", ")
    ))
}

/// `watch --cgroup PATH`: a memory cgroup's folder (or its path below the
/// cgroup mounts), read only.
fn watch_cgroup(
    path: Option<&Path>,
) -> Result<Option<crate::sample::cgroup::CgroupDir>, PlanError> {
    let Some(p) = path else { return Ok(None) };
    crate::sample::cgroup::resolve(p).map(Some).ok_or_else(|| {
        PlanError(format!(
            "--cgroup {}: not a memory cgroup (no memory.current or memory.usage_in_bytes there, nor under /sys/fs/cgroup)",
            p.display()
        ))
    })
}

/// Validate `--items-file PATH [--items-format count|lines]`. The file may
/// not exist yet (the target creates it); a directory is refused.
fn items_file_plan(a: &ItemsArgs) -> Result<Option<ItemsFileSpec>, PlanError> {
    let format = match a.items_format.as_deref() {
        None => ItemsFormat::Count,
        Some(f) => ItemsFormat::parse(f).ok_or_else(|| {
            PlanError(format!(
                "--items-format {f:?}: expected count (the last line holds the count) \
                 or lines (one line per item)"
            ))
        })?,
    };
    match &a.items_file {
        None if a.items_format.is_some() => err("--items-format needs --items-file PATH"),
        None => Ok(None),
        Some(p) if p.is_dir() => err(format!(
            "--items-file {}: is a directory, not a file the target writes",
            p.display()
        )),
        // NOTE: a pipe blocked the sampling thread in open(2) past the run's
        // end and its first SIGTERM; a device such as /dev/zero never ends.
        Some(p) if p.exists() && !p.is_file() => err(format!(
            "--items-file {}: is not a regular file (a pipe or a device), which memsoak would block on or never finish reading",
            p.display()
        )),
        Some(p) => Ok(Some(ItemsFileSpec {
            path: p.clone(),
            format,
        })),
    }
}

/// A validated `memsoak analyze`.
#[derive(Debug, Clone)]
pub struct AnalyzePlan {
    /// The samples file.
    pub samples: PathBuf,
    /// The run folder, when a folder was given (reports are written there).
    pub run_dir: Option<PathBuf>,
    /// Warm-up rule.
    pub warmup: Warmup,
    /// Confidence.
    pub confidence: f64,
    /// Thresholds: those given, else the run's own (run.json), else
    /// (empty) the defaults for the metrics present.
    pub thresholds: Vec<Threshold>,
    /// Whether `thresholds` are the `-t` flags (not the run's own): one
    /// the samples cannot judge is then refused, not skipped.
    pub thresholds_given: bool,
    /// Materiality floor, bytes.
    pub min_growth: f64,
    /// The host's `SwapTotal` as the run recorded it at its start
    /// (`run.json`), if it did.
    pub swap_total: Option<u64>,
    /// Quiet.
    pub quiet: bool,
}

/// Validate `memsoak analyze`.
pub fn analyze_plan(a: &AnalyzeArgs) -> Result<AnalyzePlan, PlanError> {
    let Some(path) = a.path.as_ref() else {
        return err("analyze needs a run folder, a samples.csv or --prometheus URL");
    };
    let (samples, run_dir) = if path.is_dir() {
        (path.join(SAMPLES_CSV), Some(path.clone()))
    } else {
        (path.clone(), None)
    };
    if !samples.is_file() {
        return err(format!(
            "{}: no {SAMPLES_CSV} here (expected a run folder or a {SAMPLES_CSV})",
            path.display()
        ));
    }
    // NOTE: what is not given is the run's own, from its run.json: re-judged
    // with another warm-up, a run run with `rss.growth<20MiB` was judged on
    // the default limits (a slope and a swap cap it never had) and failed.
    // The defaults where nothing was recorded (a samples.csv alone, no
    // run.json, a run that left its limits to the defaults, a run.json of
    // before settings were recorded). A run.json that cannot be read, or
    // a recorded value that is not valid, is an error naming it.
    let meta = match &run_dir {
        Some(d) if d.join(RUN_JSON).exists() => match RunFolder::at(d).read_meta() {
            Ok(m) => Some(m),
            Err(e) => return err(e.to_string()),
        },
        _ => None,
    };
    let swap_total = meta.as_ref().and_then(|m| m.host.as_ref()?.swap_total);
    let recorded = match meta {
        Some(RunMeta {
            config: Some(RunConfig::Settings(s)),
            ..
        }) => Some(*s),
        _ => None,
    };
    let thresholds = match (&a.thresholds[..], &recorded) {
        ([], Some(r)) => parse_thresholds(&r.thresholds)
            .map_err(|e| PlanError(format!("{RUN_JSON}'s thresholds: {e}")))?,
        (given, _) => parse_thresholds(given)?,
    };
    let from_run = |e: PlanError| {
        PlanError(format!(
            "{RUN_JSON} records a setting that is not valid: {}",
            e.0
        ))
    };
    let warmup = match (&a.warmup, &recorded) {
        (None, Some(r)) => Warmup::parse(&r.warmup).map_err(|e| from_run(PlanError(e)))?,
        (given, _) => Warmup::parse(given.as_deref().unwrap_or("auto")).map_err(PlanError)?,
    };
    if matches!(warmup, Warmup::Fraction(f) if f >= 1.0) {
        return err("--warmup 100% leaves no sample to judge: give less than 100%");
    }
    let confidence = match (a.confidence, &recorded) {
        (None, Some(r)) => confidence(Some(r.confidence)).map_err(from_run)?,
        (given, _) => confidence(given)?,
    };
    let min_growth = match (&a.min_growth, &recorded) {
        (None, Some(r)) if r.min_growth.is_finite() && r.min_growth >= 0.0 => r.min_growth,
        (None, Some(r)) => {
            return Err(from_run(PlanError(format!(
                "--min-growth {} is not a size",
                r.min_growth
            ))));
        }
        (given, _) => min_growth(given.as_deref())?,
    };
    Ok(AnalyzePlan {
        samples,
        run_dir,
        warmup,
        confidence,
        thresholds,
        thresholds_given: !a.thresholds.is_empty(),
        min_growth,
        swap_total,
        quiet: a.quiet,
    })
}

/// Parse `--slope-tolerance` (a rate, `1MiB/min`) and `--max-tolerance`
/// (a percentage, `10%`); `None` takes the default.
pub fn tolerances(slope: Option<&str>, max: Option<&str>) -> Result<Tolerances, PlanError> {
    let mut t = Tolerances::default();
    if let Some(s) = slope {
        let (bps, _) = crate::units::parse_rate(s)
            .map_err(|e| PlanError(format!("--slope-tolerance: {e}")))?;
        t.slope_per_min = bps * 60.0;
    }
    if let Some(m) = max {
        // NOTE: a tolerance above the baseline's max, so past 100% is
        // meaningful (150%: up to 2.5 times the baseline's).
        t.max_relative = m
            .trim()
            .strip_suffix('%')
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| v / 100.0)
            .ok_or_else(|| {
                PlanError(format!(
                    "--max-tolerance: invalid percentage `{m}` (expected 0% or more, e.g. 10%)"
                ))
            })?;
    }
    Ok(t)
}

/// Where the baseline comes from and how it is judged.
#[derive(Debug, Clone)]
pub struct BaselineChoice {
    /// `NAME` (under `root`) or a folder.
    pub spec: String,
    /// The baselines folder (`baselines/`).
    pub root: PathBuf,
    /// Tolerances.
    pub tolerances: Tolerances,
}

/// `--baselines-dir`, else `baselines/`.
fn baselines_root(dir: Option<&PathBuf>) -> PathBuf {
    dir.cloned().unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT))
}

fn choice(spec: String, t: &ToleranceArgs) -> Result<BaselineChoice, PlanError> {
    Ok(BaselineChoice {
        spec,
        root: baselines_root(t.baselines_dir.as_ref()),
        tolerances: tolerances(t.slope_tolerance.as_deref(), t.max_tolerance.as_deref())?,
    })
}

/// The comparison of `--baseline`, if given; a tolerance or baselines
/// folder given without it is refused (it was silently ignored).
fn optional_choice(
    spec: Option<&String>,
    t: &ToleranceArgs,
) -> Result<Option<BaselineChoice>, PlanError> {
    if let Some(spec) = spec {
        return choice(spec.clone(), t).map(Some);
    }
    let given = [
        ("--slope-tolerance", t.slope_tolerance.is_some()),
        ("--max-tolerance", t.max_tolerance.is_some()),
        ("--baselines-dir", t.baselines_dir.is_some()),
    ];
    match given.iter().find(|(_, on)| *on) {
        Some((flag, _)) => err(format!("{flag} applies with --baseline only")),
        None => Ok(None),
    }
}

/// The baseline `memsoak run --baseline` compares with, validated before
/// anything runs (`None` without `--baseline`).
pub fn run_baseline(a: &RunArgs) -> Result<Option<BaselineChoice>, PlanError> {
    optional_choice(a.baseline.as_ref(), &a.tolerance)
}

/// A validated `memsoak report`.
#[derive(Debug, Clone)]
pub struct ReportPlan {
    /// The run folder.
    pub run_dir: PathBuf,
    /// A baseline to compare with, if any.
    pub baseline: Option<BaselineChoice>,
    /// Print nothing but errors.
    pub quiet: bool,
}

/// Validate `memsoak report`.
pub fn report_plan(a: &ReportArgs) -> Result<ReportPlan, PlanError> {
    Ok(ReportPlan {
        run_dir: a.run_dir.clone(),
        baseline: optional_choice(a.baseline.as_ref(), &a.tolerance)?,
        quiet: a.quiet,
    })
}

/// A validated `memsoak compare`.
#[derive(Debug, Clone)]
pub struct ComparePlan {
    /// The run folder.
    pub run_dir: PathBuf,
    /// The baseline.
    pub baseline: BaselineChoice,
    /// Print nothing but errors.
    pub quiet: bool,
}

/// Validate `memsoak compare`.
pub fn compare_plan(a: &CompareArgs) -> Result<ComparePlan, PlanError> {
    Ok(ComparePlan {
        run_dir: a.run_dir.clone(),
        baseline: choice(a.baseline.clone(), &a.tolerance)?,
        quiet: a.quiet,
    })
}

/// A validated `memsoak baseline save`.
#[derive(Debug, Clone)]
pub struct SavePlan {
    /// The run folder to promote.
    pub run_dir: PathBuf,
    /// The baseline's name.
    pub name: String,
    /// The baselines folder.
    pub root: PathBuf,
    /// Replace an existing baseline of that name.
    pub force: bool,
    /// Print nothing but errors.
    pub quiet: bool,
}

/// Validate `memsoak baseline save`.
pub fn save_plan(a: &BaselineSaveArgs) -> SavePlan {
    SavePlan {
        run_dir: a.run_dir.clone(),
        name: a.name.clone(),
        root: baselines_root(a.baselines_dir.as_ref()),
        force: a.force,
        quiet: a.quiet,
    }
}

/// `--lengths` as typed: `fixed:N`, `uniform:MIN-MAX`, `longtail:MEDIAN-MAX`.
fn lengths_text(l: &Lengths) -> String {
    match l {
        Lengths::Fixed(n) => format!("fixed:{n}"),
        Lengths::Uniform { min, max } => format!("uniform:{min}-{max}"),
        Lengths::LongTail { median, max } => format!("longtail:{median}-{max}"),
    }
}

impl SoakOptions {
    /// The settings `run.json` records (before the run-only or watch-only
    /// ones are added).
    fn settings(&self) -> Settings {
        Settings {
            duration: humantime::format_duration(self.duration).to_string(),
            sample_every: humantime::format_duration(self.sample_every).to_string(),
            warmup: self.warmup.text(),
            thresholds: self.thresholds.iter().map(|t| t.expr.clone()).collect(),
            fail_fast: self.fail_fast,
            confidence: self.confidence,
            min_growth: self.min_growth,
            profile: self.profile.clone(),
            attribute: self.attribute.map(|a| {
                format!(
                    "from {:.1}s, every {}",
                    a.first_s,
                    humantime::format_duration(a.every)
                )
            }),
            ..Settings::default()
        }
    }
}

impl RunPlan {
    /// What `run.json` records of this plan.
    pub fn settings(&self) -> Settings {
        let (kind, path, page_size, seed, lengths, pace, skip_bad) = match &self.workload {
            WorkloadPlan::Synthetic(o) => (
                "synthetic",
                None,
                Some(o.page_size),
                Some(o.seed),
                Some(lengths_text(&o.lengths)),
                None,
                false,
            ),
            WorkloadPlan::TextFile { path, page_size } => (
                "text",
                Some(path.clone()),
                Some(*page_size),
                None,
                None,
                None,
                false,
            ),
            WorkloadPlan::Trace {
                path,
                pace,
                skip_bad,
            } => (
                "trace",
                Some(path.clone()),
                None,
                None,
                None,
                Some(pace.text()),
                *skip_bad,
            ),
            WorkloadPlan::Definition {
                definition,
                pace,
                skip_bad,
            } => (
                "definition",
                Some(definition.path.clone()),
                None,
                Some(definition.seed),
                None,
                Some(pace.text()),
                *skip_bad,
            ),
        };
        Settings {
            workload: Some(WorkloadSettings {
                kind: kind.into(),
                path,
                looping: self.looping,
                page_size,
                seed,
                lengths,
                pace,
                skip_bad,
            }),
            backend: Some(self.backend.name().into()),
            write_embeddings: self.write_embeddings.clone(),
            max_errors: Some(self.max_errors),
            ..self.soak.settings()
        }
    }
}

impl WatchPlan {
    /// What `run.json` records of this plan.
    pub fn settings(&self) -> Settings {
        Settings {
            grace: Some(humantime::format_duration(self.grace).to_string()),
            items_file: self.items.as_ref().map(|i| i.path.clone()),
            items_format: self.items.as_ref().map(|i| i.format.name().into()),
            ..self.soak.settings()
        }
    }
}

/// `memsoak summarize`: the folders to gate on and where the summary goes.
#[derive(Debug, Clone)]
pub struct SummarizePlan {
    /// Run folders, or folders holding them.
    pub dirs: Vec<PathBuf>,
    /// The summary's folder.
    pub out: PathBuf,
    /// `out` is memsoak's own name (no `--out`): when taken, the summary
    /// goes to the next free `-2`, `-3`, … beside it, as a run's does.
    pub unique: bool,
    /// Print nothing but errors.
    pub quiet: bool,
}

/// Validate `memsoak summarize` (the folders are read by the command: a
/// missing one is an input error there).
pub fn summarize_plan(a: &crate::cli::args::SummarizeArgs) -> SummarizePlan {
    SummarizePlan {
        dirs: a.dirs.clone(),
        out: a
            .out
            .clone()
            .unwrap_or_else(|| crate::runfolder::default_dir("summary", "matrix")),
        unique: a.out.is_none(),
        quiet: a.quiet,
    }
}

/// A validated `memsoak analyze --prometheus`.
#[derive(Debug, Clone)]
pub struct PrometheusPlan {
    /// The range query.
    pub query: crate::promql::RangeQuery,
    /// The server as messages show it (no user info, no query string).
    pub shown: String,
    /// `--metric`, when given.
    pub metric: Option<crate::sample::Metric>,
    /// The analysis settings, as for a run folder.
    pub analysis: AnalyzePlan,
    /// Where the report files go.
    pub out: PathBuf,
}

/// A time of `--start`/`--end`: RFC 3339, Unix seconds, or `now`.
fn instant(flag: &str, s: &str, now: f64) -> Result<f64, PlanError> {
    let s = s.trim();
    if s == "now" {
        return Ok(now);
    }
    if let Ok(v) = s.parse::<f64>()
        && v.is_finite()
    {
        return Ok(v);
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|d| d.timestamp_millis() as f64 / 1000.0)
        .map_err(|_| {
            PlanError(format!(
                "--{flag} {s}: expected an RFC 3339 time (2026-01-02T03:04:05Z), Unix seconds or now"
            ))
        })
}

/// Validate `memsoak analyze --prometheus`.
pub fn prometheus_plan(a: &AnalyzeArgs) -> Result<PrometheusPlan, PlanError> {
    let p = &a.prometheus;
    let url = p.prometheus.clone().unwrap_or_default();
    let shown = crate::backend::http::redact_url(&url);
    if !url.starts_with("http://") {
        return err(format!(
            "--prometheus {shown}: expected http://HOST:PORT (memsoak is built without TLS)"
        ));
    }
    crate::trace::proxy::check_port(&url)
        .map_err(|why| PlanError(format!("--prometheus {shown}: {why}")))?;
    let query = match p.query.as_deref().map(str::trim) {
        Some(q) if !q.is_empty() => q.to_string(),
        _ => return err("--prometheus needs --query PROMQL"),
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let (start, end) = match (&p.range, &p.start, &p.end) {
        (Some(r), _, _) => {
            let d = parse_duration(r).map_err(|e| PlanError(format!("--range: {e}")))?;
            (now - d.as_secs_f64(), now)
        }
        (None, Some(s), Some(e)) => (instant("start", s, now)?, instant("end", e, now)?),
        _ => return err("--prometheus needs --range DURATION, or --start T and --end T"),
    };
    if start >= end {
        return err("--start must be before --end");
    }
    let step = match &p.step {
        Some(s) => parse_duration(s).map_err(|e| PlanError(format!("--step: {e}")))?,
        None => Duration::from_secs(15),
    }
    .as_secs_f64();
    if step <= 0.0 {
        return err("--step must be longer than 0s");
    }
    if (end - start) / step < 3.0 {
        return err("--range is shorter than three --step: nothing to fit");
    }
    let metric = match &p.metric {
        Some(m) => Some(
            crate::sample::Metric::from_name(m)
                .ok_or_else(|| PlanError(format!("--metric {m}: not a metric memsoak knows")))?,
        ),
        None => None,
    };
    let analysis = AnalyzePlan {
        samples: PathBuf::new(),
        run_dir: None,
        warmup: Warmup::parse(a.warmup.as_deref().unwrap_or("auto")).map_err(PlanError)?,
        confidence: confidence(a.confidence)?,
        thresholds: parse_thresholds(&a.thresholds)?,
        thresholds_given: !a.thresholds.is_empty(),
        min_growth: min_growth(a.min_growth.as_deref())?,
        // NOTE: a Prometheus series is another host's: its swap is not known.
        swap_total: None,
        quiet: a.quiet,
    };
    // NOTE: a series counts no items: a per-1k limit was skipped in every
    // one, and the query passed on nothing judged.
    if let Some(t) = analysis
        .thresholds
        .iter()
        .find(|t| t.stat == Stat::SlopePer1k)
    {
        return err(format!(
            "-t {t}: a Prometheus series counts no items, so slope_per_1k is never judged (give a slope, growth or max threshold)"
        ));
    }
    Ok(PrometheusPlan {
        query: crate::promql::RangeQuery {
            url,
            query,
            start,
            end,
            step,
            timeout: Duration::from_secs(60),
        },
        shown,
        metric,
        analysis,
        out: p
            .out
            .clone()
            .unwrap_or_else(|| crate::runfolder::default_dir("prometheus", "analyze")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inject_specs() {
        assert_eq!(parse_inject("none").unwrap(), Behaviour::None);
        assert_eq!(
            parse_inject("linear:4KiB").unwrap(),
            Behaviour::Linear {
                bytes_per_item: 4096
            }
        );
        assert_eq!(
            parse_inject("step:1MiB/100").unwrap(),
            Behaviour::Step {
                bytes: 1048576,
                every_items: 100
            }
        );
        assert!(parse_inject("step:1MiB/0").unwrap_err().0.contains("ITEMS"));
        // Regression: two "(expected …)" groups in one line.
        for (spec, size) in [("linear:-1KiB", "-1KiB"), ("sawtooth:1KiB/lots", "lots")] {
            let e = parse_inject(spec).unwrap_err().0;
            assert_eq!(
                e,
                format!(
                    "--inject `{spec}`: invalid size `{size}` (expected e.g. 512KiB, 2MiB, 1GiB, 100MB)"
                )
            );
        }
        assert!(
            parse_inject("wobble:1")
                .unwrap_err()
                .0
                .contains("unknown behaviour")
        );
    }

    #[test]
    fn a_limit_given_twice_is_kept_once_and_limits_no_value_holds_are_refused() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let kept = parse_thresholds(&list(&[
            "rss.max<1GiB",
            "rss.max < 1GiB",
            "rss.max<1024MiB",
            "rss.slope<2MiB/min",
        ]))
        .unwrap();
        let exprs: Vec<&str> = kept.iter().map(|t| t.expr.as_str()).collect();
        assert_eq!(exprs, ["rss.max<1GiB", "rss.slope<2MiB/min"]);
        for (a, b) in [
            ("rss.max<1GiB", "rss.max>2GiB"),
            ("rss.max<1GiB", "rss.max>=1GiB"),
            ("rss.slope>1MiB/min", "rss.slope<512KiB/min"),
        ] {
            let e = parse_thresholds(&list(&[a, b])).unwrap_err().0;
            assert_eq!(
                e,
                format!("{a} and {b}: no value can hold both, so every run would fail")
            );
        }
        // Limits that some value holds, or on another statistic or metric.
        for pair in [
            ["rss.max<=1GiB", "rss.max>=1GiB"],
            ["rss.slope<2MiB/min", "rss.slope>-2MiB/min"],
            ["rss.max<1GiB", "rss.min>2GiB"],
            ["rss.max<1GiB", "heap.max>2GiB"],
        ] {
            assert_eq!(parse_thresholds(&list(&pair)).unwrap().len(), 2, "{pair:?}");
        }
    }

    #[test]
    fn watch_refuses_slope_per_1k_thresholds_without_items() {
        // Regression: `watch -t rss.slope_per_1k<64KiB -- CMD` with no
        // --items-file passed with nothing judged; beside `-t rss.max<1GiB`
        // it was skipped, and the run passed on the max alone, exit 0.
        let th = |e: &str| e.parse::<Threshold>().unwrap();
        let per_1k = [th("rss.slope_per_1k<64KiB"), th("pss.slope_per_1k<1MiB")];
        let e = never_judged(&per_1k, "watch", false, false).unwrap_err().0;
        assert!(
            e.starts_with("rss.slope_per_1k<64KiB, pss.slope_per_1k<1MiB: slope_per_1k needs")
                && e.contains("--items-file PATH"),
            "{e}"
        );
        assert!(never_judged(&per_1k, "watch", false, true).is_ok());
        let mixed = [th("rss.slope_per_1k<64KiB"), th("rss.max<1GiB")];
        let e = never_judged(&mixed, "watch", false, false).unwrap_err().0;
        assert!(
            e.starts_with("rss.slope_per_1k<64KiB: slope_per_1k needs"),
            "{e}"
        );
        assert!(never_judged(&mixed, "watch", false, true).is_ok());
        // None given means the defaults, which judge what was sampled.
        assert!(never_judged(&[], "watch", false, false).is_ok());
    }

    #[test]
    fn a_threshold_on_a_metric_the_command_never_samples_is_refused() {
        // Regression: `watch -t heap.slope<1MiB/min -- python3 leaker.py`
        // passed, exit 0, with "heap was not sampled" while rss grew: a
        // black box's heap is never read.
        let th = |e: &str| e.parse::<Threshold>().unwrap();
        for expr in ["heap.slope<1MiB/min", "heap_resident.max<1GiB"] {
            let given = [th("rss.slope<2MiB/min"), th(expr)];
            let e = never_judged(&given, "watch", false, true).unwrap_err().0;
            assert!(
                e.starts_with(&format!(
                    "{expr}: `{}` is never sampled by watch: ",
                    th(expr).metric
                )),
                "{e}"
            );
            assert!(!e.contains('\n'), "{e}");
            let e = never_judged(&given, "run --backend command", false, true)
                .unwrap_err()
                .0;
            assert!(e.contains("never sampled by run --backend command"), "{e}");
        }
        // In process, memsoak's own heap is read.
        assert!(never_judged(&[th("heap.slope<1MiB/min")], "run", true, true).is_ok());
        // A metric that depends on the machine is left to the run (skipped
        // with no GPU, or no cgroup of the target's own).
        for expr in ["vram.slope<1MiB/min", "cgroup.max<1GiB", "pss.max<1GiB"] {
            assert!(
                never_judged(&[th(expr)], "watch", false, false).is_ok(),
                "{expr}"
            );
        }
    }

    #[test]
    fn soak_defaults_and_errors() {
        let o = soak_options(&SoakArgs::default()).unwrap();
        assert_eq!(o.duration, DEFAULT_DURATION);
        assert_eq!(o.confidence, 0.95);
        let bad = |f: fn(&mut SoakArgs)| {
            let mut a = SoakArgs::default();
            f(&mut a);
            soak_options(&a).unwrap_err().0
        };
        assert!(bad(|a| a.duration = Some("forever".into())).contains("--duration"));
        assert!(bad(|a| a.sample_every = Some("1ms".into())).contains("too fast"));
        assert!(bad(|a| a.thresholds = vec!["rss.slope<".into()]).contains("rss.slope<"));
        assert!(bad(|a| a.profile = Some("weekly".into())).contains("unknown profile"));
        assert!(bad(|a| a.confidence = Some(1.5)).contains("--confidence"));
        let mut a = SoakArgs {
            profile: Some("ci".into()),
            ..Default::default()
        };
        assert_eq!(soak_options(&a).unwrap().duration, Duration::from_secs(180));
        a.duration = Some("10s".into());
        assert_eq!(soak_options(&a).unwrap().duration, Duration::from_secs(10));
    }

    #[test]
    fn a_soak_too_short_to_fit_a_drift_is_refused_before_it_runs() {
        // Regression: `watch --duration 5s` (1 s sampling) ran the whole
        // soak, then exited 2: 7 samples, a drift fit needs 8.
        let plan = |args: &[&str]| {
            let mut a = SoakArgs::default();
            for pair in args.chunks(2) {
                let v = Some(pair[1].to_string());
                match pair[0] {
                    "--duration" => a.duration = v,
                    "--sample-every" => a.sample_every = v,
                    "--warmup" => a.warmup = v,
                    _ => a.thresholds.push(pair[1].into()),
                }
            }
            soak_options(&a).map(|_| ()).map_err(|e| e.0)
        };
        assert_eq!(
            plan(&["--duration", "5s"]).unwrap_err(),
            "--duration 5s at --sample-every 1s takes at most 7 samples, and fitting a drift needs 8 after warm-up: give --duration 6s or longer, or --sample-every 833ms or shorter"
        );
        // Each way out it names is enough, and the least that is.
        assert_eq!(plan(&["--duration", "6s"]), Ok(()));
        assert_eq!(
            plan(&["--duration", "5s", "--sample-every", "833ms"]),
            Ok(())
        );
        assert!(plan(&["--duration", "5s", "--sample-every", "834ms"]).is_err());
        // A fixed warm-up's cut is known: its samples do not count.
        let e = plan(&["--duration", "10s", "--warmup", "50%"]).unwrap_err();
        assert_eq!(
            e,
            "--duration 10s at --sample-every 1s takes at most 12 samples, 5 of them in --warmup 50%, and fitting a drift needs 8 after warm-up: give --duration 12s or longer, or --sample-every 769ms or shorter, or a shorter --warmup"
        );
        assert_eq!(plan(&["--duration", "12s", "--warmup", "50%"]), Ok(()));
        assert_eq!(plan(&["--duration", "10s", "--warmup", "4s"]), Ok(()));
        assert!(plan(&["--duration", "10s", "--warmup", "5s"]).is_err());
        // A cap is judged on every sample: no fit, no minimum. A drift
        // limit beside it still needs its samples.
        assert_eq!(plan(&["--duration", "2s", "-t", "rss.max<1GiB"]), Ok(()));
        let e = plan(&[
            "--duration",
            "2s",
            "-t",
            "rss.max<1GiB",
            "-t",
            "rss.growth<1MiB",
        ]);
        assert!(e.unwrap_err().contains("takes at most 4 samples"));
    }

    #[test]
    fn a_max_tolerance_may_pass_100_percent() {
        let max = |m: &str| tolerances(None, Some(m)).map(|t| t.max_relative);
        assert_eq!(max("150%"), Ok(1.5));
        assert_eq!(max(" 0% "), Ok(0.0));
        for bad in ["-5%", "10", "lots%", "inf%"] {
            let e = max(bad).unwrap_err().0;
            assert!(
                e.starts_with("--max-tolerance: invalid percentage"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn write_embeddings_never_replaces_an_existing_file() {
        // Regression: a second run with the same --write-embeddings
        // silently replaced the first run's vectors.
        use crate::cli::args::{Cli, Command};
        use clap::Parser;
        let tmp = tempfile::tempdir().unwrap();
        let npy = tmp.path().join("e.npy");
        let plan = || {
            let cli = Cli::try_parse_from([
                "memsoak",
                "run",
                "--backend",
                "synthetic",
                "--write-embeddings",
                npy.to_str().unwrap(),
            ])
            .unwrap();
            let Command::Run(a) = cli.command else {
                unreachable!()
            };
            run_plan(&a).map(|_| ()).map_err(|e| e.0)
        };
        assert_eq!(plan(), Ok(()));
        std::fs::write(&npy, b"earlier vectors").unwrap();
        assert_eq!(
            plan(),
            Err(format!(
                "--write-embeddings {}: the file exists: give another path, or move that file away",
                npy.display()
            ))
        );
        assert_eq!(std::fs::read(&npy).unwrap(), b"earlier vectors");
    }

    #[test]
    fn the_recording_proxy_listens_beyond_loopback_only_when_allowed() {
        // Regression: `record --listen 0.0.0.0:0` was accepted without a
        // word, and the proxy forwards Authorization headers.
        use crate::cli::args::{Cli, Command};
        use clap::Parser;
        let tmp = tempfile::tempdir().unwrap();
        let out = tmp.path().join("t.jsonl");
        let plan = |extra: &[&str]| {
            let mut args = vec![
                "memsoak",
                "record",
                "--out",
                out.to_str().unwrap(),
                "--upstream",
                "http://127.0.0.1:8080",
            ];
            args.extend_from_slice(extra);
            let Command::Record(a) = Cli::try_parse_from(args).unwrap().command else {
                unreachable!()
            };
            record_plan(&a).map(|_| ()).map_err(|e| e.0)
        };
        assert_eq!(
            plan(&["--listen", "0.0.0.0:0"]),
            Err("--listen 0.0.0.0:0: not a loopback address; add --allow-remote to record requests from beyond this machine".into())
        );
        assert_eq!(plan(&["--listen", "0.0.0.0:0", "--allow-remote"]), Ok(()));
        assert_eq!(plan(&["--listen", "127.0.0.1:0"]), Ok(()));
        assert_eq!(plan(&[]), Ok(()));
        assert!(
            plan(&["--allow-remote"])
                .unwrap_err()
                .contains("--listen ADDR")
        );
    }

    #[test]
    fn a_text_workload_is_checked_before_the_run() {
        use crate::cli::args::{Cli, Command};
        use clap::Parser;
        let tmp = tempfile::tempdir().unwrap();
        let plan = |name: &str, bytes: &[u8]| {
            let path = tmp.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let cli = Cli::try_parse_from(["memsoak", "run", "--workload", path.to_str().unwrap()])
                .unwrap();
            let Command::Run(a) = cli.command else {
                unreachable!()
            };
            workload_plan(&a).map(|_| ()).map_err(|e| e.0)
        };
        assert_eq!(plan("ok.txt", b"one\n\ntwo\n"), Ok(()));
        let e = plan("empty.txt", b"").unwrap_err();
        assert!(
            e.ends_with("empty.txt: no text in it (every line is blank)"),
            "{e}"
        );
        let e = plan("blank.txt", b"\n  \n\r\n").unwrap_err();
        assert!(e.contains("no text in it"), "{e}");
        let e = plan("junk.txt", b"\xff\xfe\x00\x01\n").unwrap_err();
        assert!(
            e.starts_with("--workload: ") && e.contains("line 1: not valid UTF-8"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_profile_value_is_blamed_on_the_profile_not_a_flag() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("soak.toml");
        let with = |key_value: &str, flag: fn(&mut SoakArgs)| {
            std::fs::write(&file, format!("[profile.x]\n{key_value}\n")).unwrap();
            let mut a = SoakArgs {
                config: Some(file.clone()),
                profile: Some("x".into()),
                ..Default::default()
            };
            flag(&mut a);
            soak_options(&a).map(|_| ()).map_err(|e| e.0)
        };
        let origin = format!("profile `x` in {}", file.display());
        for (kv, key) in [
            ("duration = \"1x\"", "duration: invalid duration `1x`"),
            ("sample_every = \"soon\"", "sample_every: invalid duration"),
            ("warmup = \"soon\"", "warmup: invalid value `soon`"),
            ("confidence = 1.5", "confidence 1.5 is out of range"),
            ("min_growth = \"lots\"", "min_growth: invalid size"),
            ("thresholds = [\"rss.slope<\"]", "thresholds: "),
            ("duration = \"0s\"", "duration must be longer than 0s"),
            ("sample_every = \"5ms\"", "sample_every 5ms is too fast"),
            ("warmup = \"100%\"", "warmup 100% leaves no sample"),
            (
                "warmup = \"10m\"",
                "warmup 10m is not shorter than --duration 5m",
            ),
        ] {
            let e = with(kv, |_| {}).unwrap_err();
            assert!(e.starts_with(&format!("{origin}: {key}")), "{kv}: {e}");
        }
        // Regression: "profile `x` in F: warmup 12s is not shorter than
        // profile `x` in F: duration 12s" named the profile twice.
        let e = with("duration = \"12s\"\nwarmup = \"12s\"", |_| {}).unwrap_err();
        assert_eq!(
            e,
            format!(
                "{origin}: warmup 12s is not shorter than duration 12s: no sample would be left to judge"
            )
        );
        // The flag given wins, and is the one named when it is bad.
        let e = with("duration = \"1x\"", |a| a.duration = Some("2y?".into())).unwrap_err();
        assert!(e.starts_with("--duration: "), "{e}");
        assert_eq!(
            with("duration = \"1x\"", |a| a.duration = Some("9s".into())),
            Ok(())
        );
    }

    #[test]
    fn items_file_flags() {
        let plan = |file: Option<&str>, format: Option<&str>| {
            items_file_plan(&ItemsArgs {
                items_file: file.map(PathBuf::from),
                items_format: format.map(String::from),
            })
        };
        assert_eq!(plan(None, None).unwrap(), None);
        let spec = plan(Some("progress.txt"), None).unwrap().unwrap();
        assert_eq!(spec.format, ItemsFormat::Count);
        let spec = plan(Some("progress.log"), Some("lines")).unwrap().unwrap();
        assert_eq!(spec.format, ItemsFormat::Lines);
        assert!(
            plan(Some("x"), Some("bytes"))
                .unwrap_err()
                .0
                .contains("expected count")
        );
        assert!(
            plan(None, Some("lines"))
                .unwrap_err()
                .0
                .contains("needs --items-file")
        );
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().to_str().unwrap();
        assert!(
            plan(Some(dir), None)
                .unwrap_err()
                .0
                .contains("is a directory")
        );
    }
}
