//! The command line exactly as typed (clap derive). Nothing below
//! [`crate::cli::plan`] sees these types.

// NOTE: these doc comments are clap's `--help` text, read as typed there:
// `reports/<UTC timestamp>-…` is a path pattern, not an HTML tag.
#![allow(rustdoc::invalid_html_tags)]

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// memsoak: soak-test embedding inference for memory leaks.
#[derive(Debug, Parser)]
#[command(name = "memsoak", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The command line of this process, or what to print and the exit
    /// code where it is not one: `--help` and `--version` as clap writes
    /// them (exit 0), the help for no command at all (exit 2), a bad
    /// command line as one line (exit 2, [`clap_error_line`]).
    pub fn from_args() -> Result<Cli, (String, u8)> {
        use clap::error::ErrorKind;
        Cli::try_parse().map_err(|e| match e.kind() {
            // `memsoak` alone: the help, as a usage error.
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => (e.render().to_string(), 2),
            _ if e.use_stderr() => (format!("memsoak: error: {}", clap_error_line(&e)), 2),
            _ => (e.render().to_string(), 0),
        })
    }
}

/// A clap error as one line: its message and what it lists (an argument's
/// conflicts), without the usage and the tips that follow. A value that
/// starts with `-` (`--duration -5s`) reads to clap as a flag; the line
/// says so, where clap's tip (`-- -5`) would not help.
pub fn clap_error_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut lines = text
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid command line");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let listed: Vec<&str> = lines.collect();
    let mut line = if listed.is_empty() {
        first.to_string()
    } else {
        format!("{first} {}", listed.join(", "))
    };
    let negative = e
        .get(clap::error::ContextKind::InvalidArg)
        .map(|v| v.to_string())
        .is_some_and(|a| {
            a.strip_prefix('-')
                .is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        });
    if e.kind() == clap::error::ErrorKind::UnknownArgument && negative {
        line.push_str(
            ": a value cannot start with '-' (durations, sizes and counts are never negative)",
        );
    }
    line
}

/// The subcommands.
// NOTE: parsed once per process; boxing `RunArgs` would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Drive a workload through an embedder in-process and gate on memory drift.
    Run(RunArgs),
    /// Sample a black-box process tree (spawned command or running pid).
    Watch(WatchArgs),
    /// Re-run the analysis of a run folder or samples.csv.
    Analyze(AnalyzeArgs),
    /// Re-render a run folder's charts, report.html, summary.md and junit.xml.
    Report(ReportArgs),
    /// Compare a run with a baseline: exit 1 on a regression.
    Compare(CompareArgs),
    /// Manage baselines (promoted runs).
    #[command(subcommand)]
    Baseline(BaselineCommand),
    /// Capture a workload trace: a recording proxy in front of an embedding
    /// server, or an import of a JSON Lines log or a text file.
    Record(RecordArgs),
    /// One gate over many runs: a summary.md table, a junit.xml and a
    /// bencher.json of every run folder given (or found below), exit code
    /// the worst verdict.
    Summarize(SummarizeArgs),
}

/// Options shared by `run` and `watch`: sampling, analysis and thresholds.
#[derive(Debug, Args, Clone, Default)]
pub struct SoakArgs {
    /// TOML config with named profiles (default: ./memsoak.toml if present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Profile: ci (minutes), nightly (hours), or one from the config.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// How long to run (90s, 10m, 2h; default 5m).
    #[arg(long, allow_hyphen_values = true, value_name = "DURATION")]
    pub duration: Option<String>,
    /// Sampling period (1s; calibrated down to 100ms, accepted down to 10ms).
    #[arg(long, allow_hyphen_values = true, value_name = "DURATION")]
    pub sample_every: Option<String>,
    /// Warm-up to discard before fitting: auto, a duration (30s) or a percentage (10%).
    #[arg(long, allow_hyphen_values = true, value_name = "auto|DURATION|PERCENT")]
    pub warmup: Option<String>,
    /// Threshold expression, repeatable (rss.slope<2MiB/min). Replaces the profile's.
    #[arg(long = "threshold", short = 't', value_name = "EXPR")]
    pub thresholds: Vec<String>,
    /// End the run as soon as a breach is statistically certain.
    #[arg(long)]
    pub fail_fast: bool,
    /// Confidence of intervals and trend tests (default 0.95).
    #[arg(long, allow_hyphen_values = true, value_name = "P")]
    pub confidence: Option<f64>,
    /// Materiality floor: a slope/growth breach also needs this much fitted
    /// growth after warm-up (default 1MiB).
    #[arg(long, allow_hyphen_values = true, value_name = "SIZE")]
    pub min_growth: Option<String>,
    /// Run folder (default reports/<UTC timestamp>-<workload>-<backend>/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// No live progress (the closing verdict line is still printed).
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Serve the live samples, drift and threshold state as OpenMetrics
    /// at http://ADDR/metrics (HOST:PORT, or a PORT on 127.0.0.1).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<String>,
    /// Allow --metrics-listen on an address other than loopback.
    #[arg(long)]
    pub metrics_allow_remote: bool,
    /// Say where memory grows: periodic heap snapshots and the drift of
    /// every allocation site. A Python target (`watch -- CMD`, `run
    /// --backend command`): tracemalloc, no change to its code. `run
    /// --backend synthetic|candle`: jemalloc's sampled heap profiles of
    /// memsoak itself. Not `--backend http`.
    #[arg(long)]
    pub attribute: bool,
    /// Period of the --attribute snapshots (default: 10 over the run after
    /// warm-up).
    #[arg(long, allow_hyphen_values = true, value_name = "DURATION")]
    pub attribute_every: Option<String>,
}

/// Backends of `memsoak run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// Deterministic vectors with injected memory behaviour.
    Synthetic,
    /// In-process BERT sentence embedder (candle).
    Candle,
    /// A worker process speaking JSON Lines on stdin/stdout (after `--`).
    Command,
    /// An embedding server over HTTP (OpenAI or TEI API).
    Http,
}

/// HTTP API flavours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ApiKind {
    /// OpenAI `POST /v1/embeddings`.
    Openai,
    /// text-embeddings-inference `POST /embed`.
    Tei,
}

/// `memsoak run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Sampling, analysis and threshold options.
    #[command(flatten)]
    pub soak: SoakArgs,
    /// Workload: `synthetic`, a text file (one text per line), a recorded
    /// trace (.jsonl), a workload definition (.toml), or the NAME of
    /// workloads/NAME.toml.
    #[arg(long, value_name = "NAME|FILE")]
    pub workload: Option<String>,
    /// Repeat a finite workload until the duration ends.
    #[arg(long = "loop")]
    pub looping: bool,
    /// Recorded traces: replay at the recorded timing (original), as fast
    /// as the embedder goes (fast), or N times faster (xN, e.g. x2, x0.5).
    #[arg(long, allow_hyphen_values = true, value_name = "original|fast|xN")]
    pub pace: Option<String>,
    /// Recorded traces: skip malformed lines (counted in report.json)
    /// instead of stopping with exit code 2.
    #[arg(long)]
    pub skip_bad: bool,
    /// Texts per page (batch).
    #[arg(long, value_name = "N")]
    pub page_size: Option<usize>,
    /// Synthetic text lengths in words: fixed:N, uniform:MIN-MAX, longtail:MEDIAN-MAX.
    #[arg(long, value_name = "DIST")]
    pub lengths: Option<String>,
    /// Seed of the synthetic workload.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Embedder (default: candle).
    #[arg(long, value_enum)]
    pub backend: Option<BackendKind>,
    /// Model directory for the candle backend.
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
    /// Candle backend: compute threads (default: one per CPU memsoak may
    /// use; see README "Allocator and threading defaults").
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Synthetic backend: vector width.
    #[arg(long, value_name = "N")]
    pub dim: Option<usize>,
    /// Synthetic backend: CPU time per item (e.g. 200us, 2ms).
    #[arg(long, allow_hyphen_values = true, value_name = "DURATION")]
    pub cost: Option<String>,
    /// Synthetic backend: memory behaviour (none, linear:SIZE, step:SIZE/ITEMS,
    /// plateau:SIZE/TOTAL, sawtooth:SIZE/PEAK; SIZE per item).
    #[arg(long, value_name = "SPEC")]
    pub inject: Option<String>,
    /// Store every vector, float32 [n, dim], in input order.
    #[arg(long, value_name = "FILE.npy")]
    pub write_embeddings: Option<PathBuf>,
    /// Command/http backends: longest wait for one reply.
    #[arg(long, allow_hyphen_values = true, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Command/http backends: failed requests tolerated (HTTP error statuses
    /// and timeouts, a worker's `error` replies; counted, texts skipped)
    /// before the run ends with exit code 3. Protocol violations and crashes
    /// are always fatal.
    #[arg(long, value_name = "N")]
    pub max_errors: Option<u64>,
    /// HTTP backend: server base URL (http://127.0.0.1:8080).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// HTTP backend: API flavour.
    #[arg(long, value_enum)]
    pub api: Option<ApiKind>,
    /// HTTP backend: `model` field of OpenAI requests.
    #[arg(long, value_name = "NAME")]
    pub model_name: Option<String>,
    /// HTTP backend: requests in flight.
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// HTTP backend: environment variable holding a bearer token.
    #[arg(long, value_name = "VAR")]
    pub token_env: Option<String>,
    /// HTTP backend: sample this running server's process tree.
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// HTTP backend: start the server command given after `--`, sample it,
    /// stop it at the end.
    #[arg(long)]
    pub serve: bool,
    /// HTTP backend: the server is on another machine, reached through this
    /// one (a tunnel, a port-forward, a proxy on loopback): soak it and
    /// sample memsoak only, the client.
    #[arg(long, conflicts_with_all = ["pid", "serve"])]
    pub client_only: bool,
    /// HTTP backend: how long a served server may take to accept connections.
    #[arg(long, allow_hyphen_values = true, value_name = "DURATION")]
    pub ready_timeout: Option<String>,
    /// After the run, compare it with this baseline (a name under
    /// baselines/, or a folder); a regression makes the exit code 1.
    #[arg(long, value_name = "NAME|DIR")]
    pub baseline: Option<String>,
    /// Tolerances of that comparison.
    #[command(flatten)]
    pub tolerance: ToleranceArgs,
    /// The worker command (`--backend command`) or server command (`--serve`), after `--`.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// `memsoak watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Sampling, analysis and threshold options.
    #[command(flatten)]
    pub soak: SoakArgs,
    /// Attach to a running process instead of spawning one.
    #[arg(long, value_name = "PID", conflicts_with = "command")]
    pub pid: Option<u32>,
    /// Time between SIGTERM and SIGKILL when stopping the tree.
    #[arg(long, allow_hyphen_values = true, value_name = "DURATION")]
    pub grace: Option<String>,
    /// Progress reported by the target through a file.
    #[command(flatten)]
    pub items: ItemsArgs,
    /// Sample this memory cgroup (a container's or a systemd unit's folder,
    /// or its path under /sys/fs/cgroup) instead of the target's own.
    #[arg(long, value_name = "PATH")]
    pub cgroup: Option<PathBuf>,
    /// The command to spawn and watch (after `--`).
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// `watch --items-file`: progress from a black box, so `slope_per_1k` works
/// for any process.
#[derive(Debug, Args, Clone, Default)]
pub struct ItemsArgs {
    /// A file the target writes its progress to: its cumulative count of
    /// items on the last line (rewritten or appended), or one line per item
    /// with `--items-format lines`.
    #[arg(long, value_name = "PATH")]
    pub items_file: Option<PathBuf>,
    /// How the target writes --items-file: count (default) or lines.
    #[arg(long, value_name = "count|lines")]
    pub items_format: Option<String>,
}

/// `memsoak analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// A run folder or a samples.csv (or --prometheus instead).
    #[arg(required_unless_present = "prometheus")]
    pub path: Option<PathBuf>,
    /// Prometheus as the source: judge each series of --query from this
    /// server (http://HOST:9090).
    #[command(flatten)]
    pub prometheus: PrometheusArgs,
    /// Threshold expression, repeatable.
    #[arg(long = "threshold", short = 't', value_name = "EXPR")]
    pub thresholds: Vec<String>,
    /// Warm-up rule: auto, a duration or a percentage.
    #[arg(long, allow_hyphen_values = true, value_name = "auto|DURATION|PERCENT")]
    pub warmup: Option<String>,
    /// Confidence of intervals and trend tests.
    #[arg(long, allow_hyphen_values = true, value_name = "P")]
    pub confidence: Option<f64>,
    /// Materiality floor for slope/growth breaches (default 1MiB).
    #[arg(long, allow_hyphen_values = true, value_name = "SIZE")]
    pub min_growth: Option<String>,
    /// Print nothing but errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Tolerances of a baseline comparison.
#[derive(Debug, Args, Clone, Default)]
pub struct ToleranceArgs {
    /// Drift allowed above the baseline's CI (default 1MiB/min).
    #[arg(long, allow_hyphen_values = true, value_name = "RATE")]
    pub slope_tolerance: Option<String>,
    /// Max allowed above the baseline's, relative (default 10%).
    #[arg(long, allow_hyphen_values = true, value_name = "PERCENT")]
    pub max_tolerance: Option<String>,
    /// Folder of named baselines (default baselines/).
    #[arg(long, value_name = "DIR")]
    pub baselines_dir: Option<PathBuf>,
}

/// `memsoak report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The run folder.
    pub run_dir: PathBuf,
    /// Also compare with this baseline (a name under baselines/, or a folder).
    #[arg(long, value_name = "NAME|DIR")]
    pub baseline: Option<String>,
    /// Tolerances, when comparing.
    #[command(flatten)]
    pub tolerance: ToleranceArgs,
    /// Print nothing but errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// `memsoak compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The run folder.
    pub run_dir: PathBuf,
    /// The baseline: a name under baselines/, or a folder.
    #[arg(long, value_name = "NAME|DIR")]
    pub baseline: String,
    /// Tolerances.
    #[command(flatten)]
    pub tolerance: ToleranceArgs,
    /// Print nothing but errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// `memsoak baseline ...`.
#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// Promote a run folder into baselines/NAME/.
    Save(BaselineSaveArgs),
}

/// `memsoak baseline save`.
#[derive(Debug, Args)]
pub struct BaselineSaveArgs {
    /// The run folder.
    pub run_dir: PathBuf,
    /// The baseline's name.
    #[arg(long, value_name = "NAME")]
    pub name: String,
    /// Folder of named baselines (default baselines/).
    #[arg(long, value_name = "DIR")]
    pub baselines_dir: Option<PathBuf>,
    /// Replace an existing baseline of that name.
    #[arg(long)]
    pub force: bool,
    /// Print nothing but errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// `memsoak record`: a recording proxy (`--listen`, `--upstream`) or an
/// import (`--from-jsonl` with `--field`, or `--from-text`).
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The trace to write (JSON Lines).
    #[arg(long, value_name = "TRACE.jsonl")]
    pub out: PathBuf,
    /// Keep only each text's shape (length in characters and tokens,
    /// script): no text leaves the machine in the trace.
    #[arg(long)]
    pub redact: bool,
    /// Replace --out if it exists.
    #[arg(long)]
    pub force: bool,
    /// Proxy: address to listen on (default 127.0.0.1:8090; port 0 picks one).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Proxy: allow --listen on an address other than loopback.
    #[arg(long)]
    pub allow_remote: bool,
    /// Proxy: base URL of the embedding server (http://HOST:PORT).
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// Proxy: stop recording after this long (default: at SIGINT/SIGTERM).
    #[arg(long, allow_hyphen_values = true, value_name = "DURATION")]
    pub duration: Option<String>,
    /// Proxy: longest wait for the upstream server's reply (default 60s).
    #[arg(long, allow_hyphen_values = true, value_name = "DURATION")]
    pub timeout: Option<String>,
    /// Import a JSON Lines log (with --field).
    #[arg(long, value_name = "LOG.jsonl", conflicts_with_all = ["from_text", "listen", "upstream"])]
    pub from_jsonl: Option<PathBuf>,
    /// Import: the log's text field, a dotted path (`text`, `request.input`);
    /// a text, or an array of texts kept as one batch.
    #[arg(long, value_name = "NAME")]
    pub field: Option<String>,
    /// Import: the log's time field (seconds, or an RFC 3339 timestamp);
    /// without it records replay back to back.
    #[arg(long, value_name = "NAME")]
    pub time_field: Option<String>,
    /// Import a plain text file, one text per line.
    #[arg(long, value_name = "FILE.txt", conflicts_with_all = ["listen", "upstream"])]
    pub from_text: Option<PathBuf>,
    /// Import: single texts per record (default 32).
    #[arg(long, value_name = "N")]
    pub batch: Option<usize>,
    /// Import: skip lines without a usable text (counted) instead of failing.
    #[arg(long)]
    pub skip_bad: bool,
    /// Print nothing but errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// `memsoak summarize`.
#[derive(Debug, Args)]
pub struct SummarizeArgs {
    /// Run folders, or folders holding run folders (a CI matrix's
    /// artifacts), up to four levels down.
    #[arg(required = true, value_name = "RUN_DIR")]
    pub dirs: Vec<PathBuf>,
    /// Where to write summary.md, junit.xml and bencher.json (default
    /// reports/<UTC timestamp>-summary-matrix/, then -2, -3… when taken).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Print nothing but errors (the summary is still written).
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// `memsoak analyze --prometheus URL --query PROMQL (--range 6h | --start T
/// --end T) [--step 15s]`.
// NOTE: the whole group conflicts with a PATH, not only `--prometheus`:
// clap waives a `requires` whose target conflicts with an argument given,
// so `analyze PATH --out DIR` passed, and --out was ignored.
#[derive(Debug, Args, Clone, Default)]
#[group(conflicts_with = "path")]
pub struct PrometheusArgs {
    /// The Prometheus server's base URL.
    #[arg(long, value_name = "URL")]
    pub prometheus: Option<String>,
    /// The PromQL expression; each series it returns is judged alone.
    #[arg(long, value_name = "PROMQL", requires = "prometheus")]
    pub query: Option<String>,
    /// The last DURATION up to now (6h, 1d).
    #[arg(long, allow_hyphen_values = true, value_name = "DURATION", requires = "prometheus", conflicts_with_all = ["start", "end"])]
    pub range: Option<String>,
    /// Start: RFC 3339 or Unix seconds.
    #[arg(long, allow_hyphen_values = true, value_name = "T", requires_all = ["prometheus", "end"])]
    pub start: Option<String>,
    /// End: RFC 3339, Unix seconds or `now`.
    #[arg(long, allow_hyphen_values = true, value_name = "T", requires_all = ["prometheus", "start"])]
    pub end: Option<String>,
    /// Query resolution (default 15s).
    #[arg(
        long,
        allow_hyphen_values = true,
        value_name = "DURATION",
        requires = "prometheus"
    )]
    pub step: Option<String>,
    /// The metric the series measure, for thresholds (default: from the
    /// series' name, e.g. memsoak_rss_bytes → rss; else rss).
    #[arg(long, value_name = "METRIC", requires = "prometheus")]
    pub metric: Option<String>,
    /// Where the report files go (default reports/<UTC timestamp>-prometheus-analyze/).
    #[arg(long, value_name = "DIR", requires = "prometheus")]
    pub out: Option<PathBuf>,
}
