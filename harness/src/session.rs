//! One soak session: the sampling thread (off the work path, fixed cadence,
//! every row persisted as taken), the monitor that watches the clock,
//! signals and fail-fast looks, and the final analysis and report.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::analysis::{self, AnalysisOptions};
use crate::options::{SoakOptions, default_thresholds};
use crate::pipeline::ItemCounter;
use crate::progress::{Progress, Status};
use crate::record::{Recorder, SampleTable, read_samples};
use crate::report::{self, Report, Verdict};
use crate::sample::{Metric, SamplerSet};
use crate::threshold::Threshold;

/// Exit codes of the contract.
pub mod exit {
    /// Ran to the end; every threshold held.
    pub const PASS: i32 = 0;
    /// A threshold was breached.
    pub const BREACH: i32 = 1;
    /// Usage, config or input error.
    pub const USAGE: i32 = 2;
    /// The target or backend failed.
    pub const TARGET: i32 = 3;
    /// Interrupted by SIGINT.
    pub const SIGINT: i32 = 130;
    /// Interrupted by SIGTERM.
    pub const SIGTERM: i32 = 143;
    /// Interrupted by SIGHUP (the terminal or ssh session went away).
    pub const SIGHUP: i32 = 129;
}

/// Flags raised by SIGINT / SIGTERM / SIGHUP. A second signal of the same
/// kind exits at once (the run folder already holds every sample).
///
/// SIGXFSZ is ignored: a file-size limit (`ulimit -f`) then fails the write
/// with `EFBIG`, which memsoak reports like a full disk, instead of killing
/// it without a report.
#[derive(Clone)]
pub struct Signals {
    int: Arc<AtomicBool>,
    term: Arc<AtomicBool>,
    hup: Arc<AtomicBool>,
}

impl Signals {
    /// Install the handlers.
    pub fn install() -> std::io::Result<Signals> {
        use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
        use signal_hook::flag;
        let s = Signals {
            int: Arc::new(AtomicBool::new(false)),
            term: Arc::new(AtomicBool::new(false)),
            hup: Arc::new(AtomicBool::new(false)),
        };
        for (sig, code, f) in [
            (SIGINT, exit::SIGINT, &s.int),
            (SIGTERM, exit::SIGTERM, &s.term),
            (SIGHUP, exit::SIGHUP, &s.hup),
        ] {
            flag::register_conditional_shutdown(sig, code, f.clone())?;
            flag::register(sig, f.clone())?;
        }
        // SAFETY: setting a signal's disposition to SIG_IGN.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        }
        Ok(s)
    }

    /// The exit code of the signal received, if any.
    pub fn received(&self) -> Option<i32> {
        [
            (&self.int, exit::SIGINT),
            (&self.term, exit::SIGTERM),
            (&self.hup, exit::SIGHUP),
        ]
        .into_iter()
        .find(|(f, _)| f.load(Ordering::SeqCst))
        .map(|(_, code)| code)
    }
}

/// A bounded, thinning copy of the samples for live checks: when full, every
/// other point is dropped and the stride doubles, so memsoak's own memory
/// stays flat however long the run (the full series is on disk). Its
/// columns are allocated in full at the start, so memsoak's heap does not
/// creep while the reservoir fills.
pub struct Reservoir {
    cap: usize,
    stride: u64,
    seen: u64,
    table: SampleTable,
}

impl Reservoir {
    /// Keep at most `cap` rows of these metrics.
    pub fn new(metrics: Vec<Metric>, cap: usize) -> Self {
        let cap = cap.max(16);
        Reservoir {
            cap,
            stride: 1,
            seen: 0,
            table: SampleTable::with_capacity(metrics, cap),
        }
    }

    /// Offer one row.
    pub fn push(&mut self, t: f64, items: Option<u64>, values: &[Option<u64>]) {
        self.seen += 1;
        if !(self.seen - 1).is_multiple_of(self.stride) {
            return;
        }
        self.table.push(t, items, values);
        if self.table.len() >= self.cap {
            let keep = |v: &mut Vec<f64>| {
                let mut i = 0;
                v.retain(|_| {
                    i += 1;
                    (i - 1) % 2 == 0
                });
            };
            keep(&mut self.table.t);
            keep(&mut self.table.items);
            self.table.values.iter_mut().for_each(keep);
            self.stride *= 2;
        }
    }

    /// The rows kept.
    pub fn table(&self) -> &SampleTable {
        &self.table
    }
}

/// One sample row as sent to the monitor.
struct Row {
    t: f64,
    items: Option<u64>,
    values: Vec<Option<u64>>,
}

/// The sampling thread.
struct SamplerThread {
    /// `true`: take one last sample, then stop.
    stop: SyncSender<bool>,
    handle: Option<JoinHandle<Result<usize, String>>>,
}

impl SamplerThread {
    fn start(
        mut set: SamplerSet,
        mut recorder: Recorder,
        items: Option<ItemCounter>,
        period: Duration,
        start: Instant,
        rows: SyncSender<Row>,
    ) -> Self {
        let (stop_tx, stop_rx) = sync_channel::<bool>(1);
        let handle = std::thread::Builder::new()
            .name("memsoak-sampler".into())
            .spawn(move || {
                let mut values = Vec::new();
                let mut n = 0usize;
                let mut k: u32 = 0;
                let mut last_pass = false;
                loop {
                    set.sample(&mut values);
                    let t = start.elapsed().as_secs_f64();
                    let it = items.as_ref().map(|c| c.get());
                    recorder
                        .append(t, it, &values)
                        .map_err(|e| format!("writing samples.csv: {e}"))?;
                    n += 1;
                    // NOTE: never block on the monitor: a slow terminal must
                    // not delay the next sample.
                    let _ = rows.try_send(Row {
                        t,
                        items: it,
                        values: values.clone(),
                    });
                    if last_pass {
                        return Ok(n);
                    }
                    // Fixed cadence from the start, skipping ticks we overran.
                    k += 1;
                    let elapsed = start.elapsed();
                    while period * k <= elapsed {
                        k += 1;
                    }
                    let due = start + period * k;
                    match stop_rx.recv_timeout(due.saturating_duration_since(Instant::now())) {
                        Err(RecvTimeoutError::Timeout) => {}
                        Ok(true) => last_pass = true,
                        _ => return Ok(n),
                    }
                }
            })
            .expect("spawn sampler thread");
        SamplerThread {
            stop: stop_tx,
            handle: Some(handle),
        }
    }

    fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.is_finished())
    }

    fn join(&mut self, last_sample: bool) -> Result<usize, String> {
        let _ = self.stop.try_send(last_sample);
        match self.handle.take() {
            Some(h) => h
                .join()
                .unwrap_or_else(|_| Err("the sampling thread panicked".into())),
            None => Ok(0),
        }
    }
}

impl Drop for SamplerThread {
    fn drop(&mut self) {
        let _ = self.join(false);
    }
}

/// Why the monitor says stop.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    /// `--duration` reached.
    Duration,
    /// A breach is already certain.
    FailFast(String),
    /// SIGINT/SIGTERM (the exit code).
    Interrupted(i32),
    /// Samples could not be written.
    SamplerError(String),
}

/// Watches a running soak: drains sample rows, shows progress, and decides
/// when to stop.
pub struct Monitor {
    opts: SoakOptions,
    /// Thresholds in force (the user's, or defaults for the metrics sampled).
    pub thresholds: Vec<Threshold>,
    dir: PathBuf,
    start: Instant,
    sampler: SamplerThread,
    rows: Receiver<Row>,
    reservoir: Reservoir,
    progress: Progress,
    signals: Signals,
    look: u32,
    next_look: f64,
    next_slope: f64,
    slope: Option<f64>,
    metrics: Vec<Metric>,
}

impl Monitor {
    /// Start sampling into `dir/samples.csv`.
    pub fn start(
        opts: SoakOptions,
        set: SamplerSet,
        items: Option<ItemCounter>,
        dir: &Path,
        signals: Signals,
    ) -> Result<Monitor, String> {
        let metrics = set.metrics();
        let recorder = Recorder::create(&dir.join("samples.csv"), &metrics)
            .map_err(|e| format!("--out {}: cannot write samples.csv: {e}", dir.display()))?;
        let thresholds = if opts.thresholds.is_empty() {
            default_thresholds(&metrics)
        } else {
            opts.thresholds.clone()
        };
        let (tx, rx) = sync_channel(1024);
        let start = Instant::now();
        let sampler = SamplerThread::start(set, recorder, items, opts.sample_every, start, tx);
        let progress = Progress::new(opts.duration, opts.quiet);
        // NOTE: the first look waits for enough samples to fit anything.
        let first_look = crate::stats::first_look_s(opts.sample_every.as_secs_f64());
        Ok(Monitor {
            reservoir: Reservoir::new(metrics.clone(), 4096),
            opts,
            thresholds,
            dir: dir.into(),
            start,
            sampler,
            rows: rx,
            progress,
            signals,
            look: 0,
            next_look: first_look,
            next_slope: 5.0,
            slope: None,
            metrics,
        })
    }

    /// Seconds since sampling began.
    pub fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Print a line without breaking the progress bar.
    pub fn println(&self, msg: &str) {
        self.progress.println(msg);
    }

    /// Drain new rows, refresh progress, and say whether to stop. Cheap;
    /// call it every ~50 ms.
    pub fn poll(&mut self) -> Option<Stop> {
        if let Some(code) = self.signals.received() {
            return Some(Stop::Interrupted(code));
        }
        let mut last = None;
        while let Ok(row) = self.rows.try_recv() {
            self.reservoir.push(row.t, row.items, &row.values);
            last = Some(row);
        }
        if self.sampler.is_finished() {
            return Some(match self.sampler.join(false) {
                Err(e) => Stop::SamplerError(e),
                Ok(_) => Stop::SamplerError("the sampling thread stopped".into()),
            });
        }
        let now = self.elapsed();
        if let Some(row) = last {
            // NOTE: the running slope is only for people; with --quiet
            // nobody sees it, and each fit is work inside the process that
            // `run` measures.
            if !self.opts.quiet && now >= self.next_slope {
                self.next_slope = now + 5.0;
                let tab = self.reservoir.table();
                self.slope = tab.values.first().and_then(|y| {
                    analysis::analyze_metric(
                        self.metrics[0],
                        &tab.t,
                        &tab.items,
                        y,
                        self.opts.warmup,
                        self.opts.confidence,
                    )
                    .and_then(|m| m.slope_per_min.map(|e| e.value))
                });
            }
            let current = self
                .metrics
                .iter()
                .zip(&row.values)
                .filter(|(m, _)| matches!(m, Metric::Rss | Metric::Heap | Metric::Vram))
                .filter_map(|(m, v)| v.map(|v| (m.name(), v as f64)))
                .collect();
            self.progress.update(&Status {
                elapsed: row.t,
                items: row.items,
                current,
                slope_per_min: self.slope,
            });
        }
        if self.opts.fail_fast && now >= self.next_look {
            self.look += 1;
            self.next_look =
                now + crate::stats::look_interval_s(self.opts.sample_every.as_secs_f64());
            let tab = self.reservoir.table();
            for th in &self.thresholds {
                let Some(y) = tab.column(th.metric) else {
                    continue;
                };
                if let Some(why) = analysis::sequential_breach(
                    th,
                    &tab.t,
                    &tab.items,
                    y,
                    self.opts.warmup,
                    self.opts.confidence,
                    self.opts.min_growth,
                    self.look,
                ) {
                    return Some(Stop::FailFast(why));
                }
            }
        }
        if now >= self.opts.duration.as_secs_f64() {
            return Some(Stop::Duration);
        }
        None
    }

    /// Stop sampling, taking one last sample first when `last_sample` (so a
    /// run that ends between ticks still records its final state). Returns
    /// an error if writing samples failed.
    pub fn finish(&mut self, last_sample: bool) -> Result<(), String> {
        self.progress.finish();
        self.sampler.join(last_sample).map(|_| ())
    }

    /// Read the samples back and analyse them.
    pub fn analyze(&self) -> Result<analysis::Analysis, String> {
        let table = read_samples(&self.dir.join("samples.csv")).map_err(|e| e.to_string())?;
        Ok(analysis::analyze(
            &table,
            &AnalysisOptions {
                warmup: self.opts.warmup,
                confidence: self.opts.confidence,
                thresholds: self.thresholds.clone(),
                min_growth: self.opts.min_growth,
            },
        ))
    }

    /// The options of this soak.
    pub fn options(&self) -> &SoakOptions {
        &self.opts
    }
}

/// Decide verdict and exit code from how the run ended.
pub fn verdict(
    analysis: &analysis::Analysis,
    failure: Option<i32>,
    interrupted: Option<i32>,
) -> (Verdict, i32) {
    let v = if failure.is_some() {
        Verdict::Error
    } else if analysis.breached() {
        Verdict::Fail
    } else {
        Verdict::Pass
    };
    let code = interrupted.or(failure).unwrap_or(match v {
        Verdict::Fail => exit::BREACH,
        _ => exit::PASS,
    });
    (v, code)
}

/// Write every report file and print the summary line; returns the exit
/// code. A report that could not be written turns a pass or a breach into an
/// output error (exit 2): a gate must not go green with no report behind it.
pub fn conclude(report: &Report, dir: &Path, quiet: bool) -> i32 {
    let mut code = report.exit_code;
    if let Err(e) = report::write_all(report, dir) {
        eprintln!(
            "memsoak: error: writing the report in {}: {e}",
            dir.display()
        );
        if matches!(code, exit::PASS | exit::BREACH) {
            code = exit::USAGE;
        }
    }
    if !quiet {
        eprintln!("{}", one_line(report));
        eprintln!("memsoak: run folder: {}", dir.display());
    } else {
        // NOTE: --quiet silences progress, never the reason a run failed.
        for e in &report.errors {
            eprintln!("memsoak: error: {e}");
        }
    }
    code
}

/// The closing line printed to stderr.
pub fn one_line(r: &Report) -> String {
    use crate::analysis::Outcome;
    let verdict = match r.verdict {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
        Verdict::Error => "ERROR",
    };
    let mut s = format!(
        "memsoak: {verdict} (exit {}) · ended by {}",
        r.exit_code, r.ended_by
    );
    for t in &r.analysis.thresholds {
        let o = match t.outcome {
            Outcome::Pass => "ok",
            Outcome::Fail => "BREACHED",
            Outcome::Skipped => "skipped",
        };
        let m = t.measured.map_or(String::new(), |v| {
            format!(" = {}", t.threshold.format_value(v))
        });
        // NOTE: one phrase on how a fitted statistic was fitted.
        let model = t
            .p_value
            .and_then(|_| r.analysis.metric(t.threshold.metric))
            .and_then(|a| a.model.as_deref())
            .map_or(String::new(), |model| format!(" ({model} fit)"));
        let m = format!("{m}{model}");
        s.push_str(&format!("\n  {} {o}{m}", t.threshold.expr));
    }
    for e in &r.errors {
        s.push_str(&format!("\n  error: {e}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservoir_stays_bounded_and_spans_the_run() {
        let mut r = Reservoir::new(vec![Metric::Rss], 64);
        for i in 0..10_000u64 {
            r.push(i as f64, Some(i), &[Some(i)]);
        }
        let t = r.table();
        assert!(t.len() < 64, "{}", t.len());
        assert_eq!(t.t[0], 0.0);
        assert!(*t.t.last().unwrap() > 9000.0);
        assert!(t.t.windows(2).all(|w| w[1] > w[0]));
        // Allocated once, at the start: filling it never grows the heap.
        assert_eq!(t.t.capacity(), 64);
        assert_eq!(t.values[0].capacity(), 64);
    }
}
