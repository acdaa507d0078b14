//! The monitor of a running soak: it drains the sampling thread's rows,
//! shows progress, and says when to stop (the duration, a signal, a
//! certain breach under `--fail-fast`, a sampler that failed).

use std::sync::mpsc::{Receiver, sync_channel};
use std::time::Instant;

use super::SoakOptions;
use super::attribution::Requester;
use super::exposition::Exposition;
use super::items::Items;
use super::progress::{Progress, Status};
use super::sampler::{MAX_PREALLOCATED_ROWS, Reservoir, Row, SamplerThread};
use super::signals::{Interrupt, Signals};
use crate::analysis::samples::SampleTable;
use crate::analysis::threshold::{self, Threshold};
use crate::analysis::{self, AnalysisOptions};
use crate::runfolder::samples::Recorder;
use crate::runfolder::{RunFolder, SAMPLES_CSV};
use crate::sample::{Metric, SamplerSet};

/// Why the monitor says stop.
#[derive(Debug, Clone, PartialEq)]
pub enum Stop {
    /// `--duration` reached.
    Duration,
    /// A breach is already certain.
    FailFast(String),
    /// SIGINT/SIGTERM/SIGHUP.
    Interrupted(Interrupt),
    /// Samples could not be written.
    SamplerError(String),
}

/// Watches a running soak: drains sample rows, shows progress, and decides
/// when to stop.
pub struct Monitor {
    opts: SoakOptions,
    /// Thresholds in force (the user's, or defaults for the metrics sampled).
    pub thresholds: Vec<Threshold>,
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
    exposition: Option<Exposition>,
    requester: Option<Requester>,
    notes: Vec<String>,
    /// The host's `SwapTotal`, read at the start ([`Monitor::with_host_swap`]).
    swap_total: Option<u64>,
}

impl Monitor {
    /// Start sampling into the folder's `samples.csv`.
    pub fn start(
        opts: SoakOptions,
        set: SamplerSet,
        items: Option<Items>,
        folder: &RunFolder,
        signals: Signals,
    ) -> Result<Monitor, String> {
        let metrics = set.metrics();
        let recorder = Recorder::create(&folder.file(SAMPLES_CSV), &metrics).map_err(|e| {
            format!(
                "--out {}: cannot write {SAMPLES_CSV}: {e}",
                folder.dir().display()
            )
        })?;
        let thresholds = if opts.thresholds.is_empty() {
            threshold::defaults(&metrics)
        } else {
            opts.thresholds.clone()
        };
        let (tx, rx) = sync_channel(1024);
        let start = Instant::now();
        // NOTE: the last sample and a tick or two of overrun come on top of
        // the planned rows.
        let rows =
            (opts.duration.as_secs_f64() / opts.sample_every.as_secs_f64()).ceil() as usize + 4;
        let sampler = SamplerThread::start(
            set,
            recorder,
            items,
            opts.sample_every,
            start,
            rows.min(MAX_PREALLOCATED_ROWS),
            tx,
        );
        let progress = Progress::new(opts.duration, opts.quiet);
        // NOTE: the first look waits for enough samples to fit anything.
        let first_look = crate::stats::first_look_s(opts.sample_every.as_secs_f64());
        Ok(Monitor {
            reservoir: Reservoir::new(metrics.clone(), 4096),
            opts,
            thresholds,
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
            exposition: None,
            requester: None,
            notes: Vec::new(),
            swap_total: None,
        })
    }

    /// Serve the live series at `--metrics-listen` (bound by the caller
    /// before anything ran, see [`Exposition::bind`]).
    pub fn with_exposition(mut self, mut e: Option<Exposition>) -> Monitor {
        if let Some(e) = &mut e {
            e.add_metrics(&self.metrics);
        }
        self.exposition = e;
        self
    }

    /// Judge with the host's `SwapTotal` as read once at the start of the
    /// run (`run.json`'s host): with none, a swap limit that cannot be
    /// breached is skipped ([`analysis::no_swap_skip`]).
    pub fn with_host_swap(mut self, swap_total: Option<u64>) -> Monitor {
        self.swap_total = swap_total;
        self
    }

    /// Send `--attribute`'s snapshot requests on their schedule as it polls.
    pub fn with_requester(mut self, r: Option<Requester>) -> Monitor {
        self.requester = r;
        self
    }

    /// What the soak should say in its report from what the monitor did
    /// (a snapshot request that could not be written); drained.
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }

    /// The metrics sampled, in column order.
    pub fn metrics(&self) -> &[Metric] {
        &self.metrics
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
        let mut capped = None;
        while let Ok(row) = self.rows.try_recv() {
            self.reservoir.push(row.t, row.items, &row.values);
            if let Some(e) = &mut self.exposition {
                e.row(row.t, row.items, &row.values);
            }
            if self.opts.fail_fast && capped.is_none() {
                capped = self.cap_breach(&row);
            }
            last = Some(row);
        }
        // NOTE: a cap is certain on the sample that passes it: it stops the
        // run then, not at the next look (the first is 30 s in, 150 s at
        // the nightly cadence; a cap crossed at 5 s was reported at 30 s).
        if let Some(why) = capped {
            return Some(Stop::FailFast(why));
        }
        if self.sampler.is_finished() {
            return Some(match self.sampler.join(false) {
                Err(e) => Stop::SamplerError(e),
                Ok(_) => Stop::SamplerError("the sampling thread stopped".into()),
            });
        }
        let now = self.elapsed();
        if self.exposition.as_ref().is_some_and(|e| e.due(now)) {
            let opts = self.analysis_options();
            if let Some(e) = &mut self.exposition {
                e.refit(now, self.reservoir.table(), &self.thresholds, &opts);
            }
        }
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
                    &self.look_rules(),
                    self.look,
                ) {
                    return Some(Stop::FailFast(why));
                }
            }
        }
        if now >= self.opts.duration.as_secs_f64() {
            return Some(Stop::Duration);
        }
        // NOTE: last, so that no snapshot is requested in the poll that ends
        // the soak: the target would answer it during the teardown.
        if let Some(n) = self.requester.as_mut().and_then(|r| r.poll(now)) {
            self.notes.push(n);
        }
        None
    }

    /// The rules every `--fail-fast` look reads the samples by.
    fn look_rules(&self) -> analysis::LookRules {
        analysis::LookRules {
            warmup: self.opts.warmup,
            confidence: self.opts.confidence,
            min_growth: self.opts.min_growth,
        }
    }

    /// A `max` or `min` cap that one sample `row` passes, as a `--fail-fast`
    /// look words it ([`analysis::sequential_breach`]).
    fn cap_breach(&self, row: &Row) -> Option<String> {
        let rules = self.look_rules();
        self.thresholds
            .iter()
            .filter(|th| matches!(th.stat, threshold::Stat::Max | threshold::Stat::Min))
            .find_map(|th| {
                let i = self.metrics.iter().position(|&m| m == th.metric)?;
                let v = row.values.get(i).copied().flatten()? as f64;
                let items = row.items.map_or(f64::NAN, |n| n as f64);
                analysis::sequential_breach(th, &[row.t], &[items], &[v], &rules, self.look.max(1))
            })
    }

    /// Stop sampling, taking one last sample first when `last_sample` (so a
    /// run that ends between ticks still records its final state), and mark
    /// the end of sampling for `--attribute` ([`Requester::end`]): call it
    /// before tearing the target or the workload down, so that a snapshot
    /// taken during the teardown is later than the mark. Returns every
    /// sample taken (as `samples.csv` holds them), and why writing them
    /// failed, if it did.
    pub fn finish(&mut self, last_sample: bool) -> (SampleTable, Option<String>) {
        self.progress.finish();
        let err = self.sampler.join(last_sample).err();
        if let Some(n) = self.requester.as_ref().and_then(Requester::end) {
            self.notes.push(n);
        }
        (self.sampler.take_samples(), err)
    }

    /// The analysis of a finished soak's samples, with the thresholds in
    /// force.
    pub fn analyze(&self, samples: &SampleTable) -> analysis::Analysis {
        analysis::analyze(samples, &self.analysis_options())
    }

    fn analysis_options(&self) -> AnalysisOptions {
        AnalysisOptions {
            warmup: self.opts.warmup,
            confidence: self.opts.confidence,
            thresholds: self.thresholds.clone(),
            min_growth: self.opts.min_growth,
            swap_total: self.swap_total,
        }
    }

    /// The options of this soak.
    pub fn options(&self) -> &SoakOptions {
        &self.opts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::Warmup;
    use crate::sample::{ReplaySampler, Sampler};
    use crate::soak::attribution::Attribute;
    use std::time::Duration;

    /// A quiet soak of `duration` on a replayed RSS of 1 MiB, into `tmp`,
    /// whose requester asks for its first snapshot at once.
    fn monitor_in(tmp: &tempfile::TempDir, duration: Duration) -> Monitor {
        let folder = RunFolder::at(tmp.path());
        folder.prepare_attribution(None).unwrap();
        let opts = SoakOptions {
            duration,
            sample_every: Duration::from_millis(10),
            warmup: Warmup::Fraction(0.1),
            thresholds: Vec::new(),
            fail_fast: false,
            confidence: 0.95,
            min_growth: 0.0,
            out: None,
            quiet: true,
            profile: None,
            metrics_listen: None,
            attribute: None,
        };
        let rss: Box<dyn Sampler> = Box::new(ReplaySampler::new(
            vec![Metric::Rss],
            vec![vec![Some(1 << 20)]],
        ));
        let plan = Attribute {
            first_s: 0.0,
            every: Duration::from_secs(1),
            last_s: 3600.0,
        };
        Monitor::start(
            opts,
            SamplerSet::new(vec![rss]),
            None,
            &folder,
            Signals::unregistered(),
        )
        .unwrap()
        .with_requester(Some(Requester::new(folder, plan)))
    }

    #[test]
    fn the_poll_that_ends_the_soak_requests_no_snapshot() {
        // A request sent in the poll that ends the soak is answered during
        // the teardown: a snapshot of a heap the samples never saw.
        let tmp = tempfile::tempdir().unwrap();
        let mut m = monitor_in(&tmp, Duration::ZERO);
        assert_eq!(m.poll(), Some(Stop::Duration));
        let (_, err) = m.finish(false);
        assert_eq!(err, None);
        assert!(!tmp.path().join("attribution/request").exists());
        assert!(m.take_notes().is_empty());
    }

    #[test]
    fn a_poll_that_goes_on_sends_the_request_due() {
        // The same monitor with time left sends it: the test above can fail.
        let tmp = tempfile::tempdir().unwrap();
        let mut m = monitor_in(&tmp, Duration::from_secs(60));
        assert_eq!(m.poll(), None);
        m.finish(false);
        let req = std::fs::read_to_string(tmp.path().join("attribution/request")).unwrap();
        assert_eq!(req, "1\n");
    }
}
