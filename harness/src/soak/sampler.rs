//! The sampling thread: off the work path, on a fixed cadence, every row
//! appended to `samples.csv` and flushed as it is taken, and kept in memory
//! (as written) for the analysis at the end.

use std::sync::mpsc::{RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::items::Items;
use crate::analysis::samples::SampleTable;
use crate::runfolder::SAMPLES_CSV;
use crate::runfolder::samples::Recorder;
use crate::sample::{Metric, SamplerSet};

/// Rows kept in memory are allocated (and touched) up front for the whole
/// run, so memsoak's own heap and RSS stay flat while they fill; beyond
/// this many rows (a day at 10 Hz is 864 000) the table grows as it must.
pub const MAX_PREALLOCATED_ROWS: usize = 1 << 20;

/// A table with room for `rows` rows in every column, its pages touched
/// now: filling it later moves neither the heap nor the RSS that a soak of
/// memsoak's own process measures.
pub fn preallocated(metrics: Vec<Metric>, rows: usize) -> SampleTable {
    let mut t = SampleTable::with_capacity(metrics, rows);
    let touch = |v: &mut Vec<f64>| {
        v.resize(rows, 0.0);
        v.clear();
    };
    touch(&mut t.t);
    touch(&mut t.items);
    t.values.iter_mut().for_each(touch);
    t
}

/// The most samples a soak of `duration` sampled every `period` records:
/// one on each tick of the fixed cadence from the start (`0, period,
/// 2·period, …` up to and including `duration`) and the closing one taken
/// when it stops ([`SamplerThread::join`] with `last_sample`). Fewer where
/// the target ends early or ticks are overrun. O(1).
///
/// # Examples
/// ```
/// use std::time::Duration;
/// use memsoak::soak::sampler::most_samples;
/// let s = Duration::from_secs;
/// assert_eq!(most_samples(s(5), s(1)), 7);
/// ```
pub fn most_samples(duration: Duration, period: Duration) -> usize {
    let ticks = duration.as_nanos() / period.as_nanos().max(1);
    usize::try_from(ticks)
        .unwrap_or(usize::MAX)
        .saturating_add(2)
}

/// A bounded, thinning copy of the samples for live checks: when full, every
/// other point is dropped and the stride doubles, so the live fits cost the
/// same however long the run. Its columns are allocated in full at the
/// start, so memsoak's heap does not creep while the reservoir fills.
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
pub struct Row {
    /// Seconds since the start, as recorded.
    pub t: f64,
    /// Cumulative items, when counted.
    pub items: Option<u64>,
    /// One reading per metric.
    pub values: Vec<Option<u64>>,
}

/// What the sampling thread leaves: every row it recorded, and how it
/// ended (rows taken, or why writing `samples.csv` failed).
struct Ended {
    table: SampleTable,
    result: Result<usize, String>,
}

/// The sampling thread.
pub struct SamplerThread {
    /// `true`: take one last sample, then stop.
    stop: SyncSender<bool>,
    handle: Option<JoinHandle<Ended>>,
    ended: Option<Ended>,
    metrics: Vec<Metric>,
}

impl SamplerThread {
    /// Start sampling `set` every `period` from `start`, appending to
    /// `recorder`, keeping room for `rows` rows in memory and offering each
    /// row to `live` (never blocking on it).
    pub fn start(
        mut set: SamplerSet,
        mut recorder: Recorder,
        mut items: Option<Items>,
        period: Duration,
        start: Instant,
        rows: usize,
        live: SyncSender<Row>,
    ) -> Self {
        let metrics = set.metrics();
        let mut table = preallocated(metrics.clone(), rows);
        let (stop_tx, stop_rx) = sync_channel::<bool>(1);
        let handle = std::thread::Builder::new()
            .name("memsoak-sampler".into())
            .spawn(move || {
                let result = (|| {
                    let mut values = Vec::new();
                    let mut n = 0usize;
                    let mut k: u32 = 0;
                    let mut last_pass = false;
                    loop {
                        set.sample(&mut values);
                        let it = items.as_mut().map(Items::get);
                        let t = recorder
                            .append(start.elapsed().as_secs_f64(), it, &values)
                            .map_err(|e| format!("writing {SAMPLES_CSV}: {e}"))?;
                        table.push(t, it, &values);
                        n += 1;
                        // NOTE: never block on the monitor: a slow terminal
                        // must not delay the next sample.
                        let _ = live.try_send(Row {
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
                })();
                Ended { table, result }
            })
            .expect("spawn sampler thread");
        SamplerThread {
            stop: stop_tx,
            handle: Some(handle),
            ended: None,
            metrics,
        }
    }

    /// Whether the thread has stopped.
    pub fn is_finished(&self) -> bool {
        self.handle.as_ref().is_none_or(|h| h.is_finished())
    }

    /// Stop the thread (after one last sample when `last_sample`) and wait
    /// for it: the rows taken, or why it failed.
    pub fn join(&mut self, last_sample: bool) -> Result<usize, String> {
        let _ = self.stop.try_send(last_sample);
        if let Some(h) = self.handle.take() {
            self.ended = Some(h.join().unwrap_or_else(|_| Ended {
                table: SampleTable::new(self.metrics.clone()),
                result: Err("the sampling thread panicked".into()),
            }));
        }
        self.ended.as_ref().map_or(Ok(0), |e| e.result.clone())
    }

    /// Every row recorded, once the thread has been joined (empty before).
    pub fn take_samples(&mut self) -> SampleTable {
        self.ended.as_mut().map_or_else(
            || SampleTable::new(self.metrics.clone()),
            |e| std::mem::replace(&mut e.table, SampleTable::new(Vec::new())),
        )
    }
}

impl Drop for SamplerThread {
    fn drop(&mut self) {
        let _ = self.join(false);
    }
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

    #[test]
    fn the_samples_kept_in_memory_are_the_samples_written() {
        // The report is computed from the rows in memory; `memsoak analyze`
        // reads samples.csv. Both must see the same numbers, bit for bit.
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join(SAMPLES_CSV);
        let set = SamplerSet::new(vec![Box::new(
            crate::sample::proc::ProcessTreeSampler::new(std::process::id()),
        )]);
        let recorder = Recorder::create(&path, &set.metrics()).unwrap();
        let (tx, _rx) = sync_channel(1024);
        let mut s = SamplerThread::start(
            set,
            recorder,
            None,
            Duration::from_millis(10),
            Instant::now(),
            8,
            tx,
        );
        // Wait for six rows on disk (every row is flushed as it is taken),
        // however slowly a loaded box schedules the sampling thread.
        let rows =
            || std::fs::read_to_string(&path).map_or(0, |t| t.lines().count().saturating_sub(1));
        let deadline = Instant::now() + Duration::from_secs(60);
        while rows() < 6 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(s.join(true).unwrap() > 5);
        let mem = s.take_samples();
        let disk = crate::runfolder::samples::read_samples(&path).unwrap();
        assert_eq!(mem.len(), disk.len());
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&mem.t), bits(&disk.t));
        assert_eq!(bits(&mem.items), bits(&disk.items));
        for (a, b) in mem.values.iter().zip(&disk.values) {
            assert_eq!(bits(a), bits(b));
        }
    }

    #[test]
    fn a_preallocated_table_does_not_grow_while_it_fills() {
        let mut t = preallocated(vec![Metric::Rss, Metric::Heap], 100);
        let cap = (t.t.capacity(), t.values[1].capacity());
        for i in 0..100u64 {
            t.push(i as f64, None, &[Some(i), None]);
        }
        assert_eq!((t.t.capacity(), t.values[1].capacity()), cap);
        assert_eq!(t.len(), 100);
    }
}
