//! A recorded trace as a workload: one page per record (the recorded batch
//! boundaries are kept), handed over at the record's time offset scaled by
//! the [`Pace`]. Redacted records are regenerated as new texts of the same
//! shape. The file is streamed, never held in memory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};

use super::{Cancel, Due, Page, Workload, WorkloadError};
use crate::trace::{Batch, TraceError, TraceReader, TraceSummary, redact};

/// How fast a trace is replayed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pace {
    /// Each record at its recorded offset.
    Original,
    /// As fast as the embedder takes pages.
    Fast,
    /// The recorded offsets divided by this factor (`x2`: twice as fast).
    Scaled(f64),
}

impl Pace {
    /// Parse `original`, `fast` or `xN` (N > 0, e.g. `x2`, `x0.5`).
    ///
    /// # Examples
    /// ```
    /// use memsoak::workload::trace::Pace;
    /// assert_eq!(Pace::parse("x4").unwrap(), Pace::Scaled(4.0));
    /// assert!(Pace::parse("x0").is_err());
    /// ```
    pub fn parse(s: &str) -> Result<Pace, String> {
        match s {
            "original" => Ok(Pace::Original),
            "fast" => Ok(Pace::Fast),
            _ => s
                .strip_prefix('x')
                .and_then(|n| n.parse::<f64>().ok())
                .filter(|n| n.is_finite() && *n > 0.0)
                .map(|n| {
                    if n == 1.0 {
                        Pace::Original
                    } else {
                        Pace::Scaled(n)
                    }
                })
                .ok_or_else(|| {
                    format!(
                        "invalid pace `{s}` (expected original, fast or xN with N > 0, e.g. x2)"
                    )
                }),
        }
    }

    /// How long after the start of the replay a record at `offset` seconds
    /// is due; `None` when it is due at once.
    pub fn due(self, offset: f64) -> Option<Duration> {
        let s = match self {
            Pace::Original => offset,
            Pace::Fast => return None,
            Pace::Scaled(k) => offset / k,
        };
        (s > 0.0).then(|| Duration::from_secs_f64(s.min(1e9)))
    }

    /// The pace as typed.
    pub fn text(self) -> String {
        match self {
            Pace::Original => "original".into(),
            Pace::Fast => "fast".into(),
            Pace::Scaled(k) => format!("x{k}"),
        }
    }
}

/// Live counters of a replay, shared with whoever reports on it.
#[derive(Debug, Default)]
pub struct ReplayStats {
    records: AtomicU64,
    texts: AtomicU64,
    regenerated: AtomicU64,
    late_us_max: AtomicU64,
    late_us_sum: AtomicU64,
    paced: AtomicU64,
}

impl ReplayStats {
    fn page(&self, texts: usize, regenerated: bool) {
        self.records.fetch_add(1, Ordering::Relaxed);
        self.texts.fetch_add(texts as u64, Ordering::Relaxed);
        if regenerated {
            self.regenerated.fetch_add(texts as u64, Ordering::Relaxed);
        }
    }

    /// A paced page reached the embedder `late` after its due time
    /// (through [`super::Due::taken`]).
    pub(super) fn late(&self, late: Duration) {
        let us = late.as_micros().min(u64::MAX as u128) as u64;
        self.paced.fetch_add(1, Ordering::Relaxed);
        self.late_us_sum.fetch_add(us, Ordering::Relaxed);
        self.late_us_max.fetch_max(us, Ordering::Relaxed);
    }

    /// Records handed over so far (every pass).
    pub fn records(&self) -> u64 {
        self.records.load(Ordering::Relaxed)
    }

    /// Texts handed over so far.
    pub fn texts(&self) -> u64 {
        self.texts.load(Ordering::Relaxed)
    }

    /// The report section, given what the traces held.
    pub fn report(&self, pace: Pace, traces: &[TraceSummary]) -> ReplayReport {
        let paced = self.paced.load(Ordering::Relaxed);
        let us = |v: u64| v as f64 / 1e6;
        ReplayReport {
            pace: pace.text(),
            traces: traces.len(),
            trace_records: traces.iter().map(|t| t.records).sum(),
            skipped_lines: traces.iter().map(|t| t.skipped_lines).sum(),
            records: self.records(),
            texts: self.texts(),
            regenerated_texts: self.regenerated.load(Ordering::Relaxed),
            behind_max_s: us(self.late_us_max.load(Ordering::Relaxed)),
            behind_mean_s: if paced == 0 {
                0.0
            } else {
                us(self.late_us_sum.load(Ordering::Relaxed)) / paced as f64
            },
        }
    }
}

/// The `replay` section of `report.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplayReport {
    /// Pace as typed (`original`, `fast`, `x2`).
    pub pace: String,
    /// Trace files in the workload.
    pub traces: usize,
    /// Valid records in them (one pass).
    pub trace_records: u64,
    /// Malformed trace lines skipped (`--skip-bad`), over all files, counted once.
    pub skipped_lines: u64,
    /// Records replayed (every pass).
    pub records: u64,
    /// Texts replayed (every pass).
    pub texts: u64,
    /// Of those, texts regenerated from a redacted shape.
    pub regenerated_texts: u64,
    /// Worst delay of a paced record behind its due time, seconds, as the
    /// embedder takes it (a backend slower than the recorded traffic shows
    /// here, queueing included).
    pub behind_max_s: f64,
    /// Mean delay of paced records behind their due time, seconds, as the
    /// embedder takes them.
    pub behind_mean_s: f64,
}

/// Seed of the text regenerated from redacted shapes: a replay is the same
/// texts every pass and every run.
const REGEN_SEED: u64 = 0x7ace;

/// A trace file as a workload. See the module docs.
pub struct TraceWorkload {
    path: PathBuf,
    skip_bad: bool,
    pace: Pace,
    reader: TraceReader,
    first_t: Option<f64>,
    clock: Option<Instant>,
    rng: StdRng,
    cancel: Cancel,
    stats: Arc<ReplayStats>,
}

fn trace_err(e: TraceError) -> WorkloadError {
    WorkloadError::Invalid(e.to_string())
}

impl TraceWorkload {
    /// Open `path` for replay. `cancel` interrupts a wait for a record's
    /// offset (the page is then not handed over); `stats` receives counts.
    pub fn open(
        path: &Path,
        pace: Pace,
        skip_bad: bool,
        cancel: Cancel,
        stats: Arc<ReplayStats>,
    ) -> Result<Self, WorkloadError> {
        Ok(TraceWorkload {
            reader: TraceReader::open(path, skip_bad).map_err(trace_err)?,
            path: path.into(),
            skip_bad,
            pace,
            first_t: None,
            clock: None,
            rng: StdRng::seed_from_u64(REGEN_SEED),
            cancel,
            stats,
        })
    }
}

impl Workload for TraceWorkload {
    fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "trace".into())
    }

    fn next_page(&mut self) -> Result<Option<Page>, WorkloadError> {
        let Some(rec) = self.reader.next_record().map_err(trace_err)? else {
            return Ok(None);
        };
        let clock = *self.clock.get_or_insert_with(Instant::now);
        let first = *self.first_t.get_or_insert(rec.t);
        let due = match self.pace.due((rec.t - first).max(0.0)) {
            Some(d) => {
                let due = clock + d;
                if !self.cancel.sleep_until(due) {
                    return Ok(None);
                }
                Some(due)
            }
            None if self.pace != Pace::Fast => Some(clock),
            None => None,
        };
        let (texts, regenerated) = match rec.batch {
            Batch::Texts(t) => (t, false),
            Batch::Shapes(s) => (
                s.iter()
                    .map(|s| redact::regenerate(s, &mut self.rng))
                    .collect(),
                true,
            ),
        };
        self.stats.page(texts.len(), regenerated);
        Ok(Some(Page {
            texts,
            due: due.map(|at| Due::new(at, self.stats.clone())),
        }))
    }

    fn rewind(&mut self) -> Result<(), WorkloadError> {
        self.reader = TraceReader::open(&self.path, self.skip_bad).map_err(trace_err)?;
        self.first_t = None;
        self.clock = None;
        self.rng = StdRng::seed_from_u64(REGEN_SEED);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::format::{Header, Record, Shape};
    use crate::trace::{Script, TraceWriter};

    fn trace(dir: &Path, records: &[(f64, &[&str])]) -> PathBuf {
        let p = dir.join("t.jsonl");
        let mut w = TraceWriter::create(&p, Header::new("test", false), true).unwrap();
        for (t, texts) in records {
            w.append_texts(
                *t,
                texts.iter().map(|s| s.to_string()).collect(),
                None,
                None,
            )
            .unwrap();
        }
        p
    }

    #[test]
    fn pace_parses() {
        assert_eq!(Pace::parse("original").unwrap(), Pace::Original);
        assert_eq!(Pace::parse("fast").unwrap(), Pace::Fast);
        assert_eq!(Pace::parse("x1").unwrap(), Pace::Original);
        assert_eq!(Pace::parse("x0.5").unwrap(), Pace::Scaled(0.5));
        for bad in ["x", "x-1", "xinf", "2", "slow", "xNaN"] {
            assert!(Pace::parse(bad).unwrap_err().contains(bad), "{bad}");
        }
        assert_eq!(Pace::Scaled(4.0).due(2.0), Some(Duration::from_millis(500)));
        assert_eq!(Pace::Fast.due(2.0), None);
        assert_eq!(Pace::Original.due(0.0), None);
    }

    #[test]
    fn pages_keep_batches_and_timing() {
        let d = tempfile::tempdir().unwrap();
        // Offsets start at 5 s: replay starts at the first record.
        let p = trace(
            d.path(),
            &[(5.0, &["a", "b"]), (5.2, &["c"]), (5.4, &["d", "e", "f"])],
        );
        let stats = Arc::new(ReplayStats::default());
        let mut w =
            TraceWorkload::open(&p, Pace::Original, false, Cancel::default(), stats.clone())
                .unwrap();
        let t0 = Instant::now();
        let mut got = Vec::new();
        while let Some(page) = w.next_page().unwrap() {
            page.due.expect("a paced page is due").taken();
            got.push((t0.elapsed().as_secs_f64(), page.texts));
        }
        assert_eq!(got.iter().map(|g| g.1.len()).collect::<Vec<_>>(), [2, 1, 3]);
        assert_eq!(got[2].1, ["d", "e", "f"]);
        assert!(got[0].0 < 0.15, "{got:?}");
        assert!((got[1].0 - 0.2).abs() < 0.15 && got[1].0 >= 0.2, "{got:?}");
        assert!((got[2].0 - 0.4).abs() < 0.15 && got[2].0 >= 0.4, "{got:?}");
        let r = stats.report(Pace::Original, &[]);
        assert_eq!((r.records, r.texts), (3, 6));
        assert!(r.behind_max_s < 0.15, "{r:?}");
        // x4 and fast are quicker; rewind starts a new clock.
        w.rewind().unwrap();
        let mut w4 =
            TraceWorkload::open(&p, Pace::Scaled(4.0), false, Cancel::default(), stats).unwrap();
        let t0 = Instant::now();
        while w4.next_page().unwrap().is_some() {}
        let e = t0.elapsed().as_secs_f64();
        assert!((0.1..0.3).contains(&e), "{e}");
    }

    #[test]
    fn lateness_runs_until_the_page_is_taken_and_fast_pages_have_none() {
        let d = tempfile::tempdir().unwrap();
        let p = trace(d.path(), &[(0.0, &["a"]), (0.1, &["b"])]);
        let stats = Arc::new(ReplayStats::default());
        let mut w =
            TraceWorkload::open(&p, Pace::Original, false, Cancel::default(), stats.clone())
                .unwrap();
        let first = w.next_page().unwrap().unwrap();
        let second = w.next_page().unwrap().unwrap();
        first.due.unwrap().taken();
        // Taken 300 ms after it was handed over, as behind a slow backend.
        std::thread::sleep(Duration::from_millis(300));
        second.due.unwrap().taken();
        let r = stats.report(Pace::Original, &[]);
        assert!(r.behind_max_s >= 0.3, "{r:?}");
        assert!((0.15..0.3).contains(&r.behind_mean_s), "{r:?}");
        let mut fast =
            TraceWorkload::open(&p, Pace::Fast, false, Cancel::default(), stats).unwrap();
        assert!(fast.next_page().unwrap().unwrap().due.is_none());
    }

    #[test]
    fn cancel_interrupts_a_long_wait() {
        let d = tempfile::tempdir().unwrap();
        let p = trace(d.path(), &[(0.0, &["a"]), (3600.0, &["b"])]);
        let cancel = Cancel::default();
        let mut w = TraceWorkload::open(
            &p,
            Pace::Original,
            false,
            cancel.clone(),
            Arc::new(ReplayStats::default()),
        )
        .unwrap();
        assert!(w.next_page().unwrap().is_some());
        let c = cancel.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            c.cancel();
        });
        let t0 = Instant::now();
        assert!(w.next_page().unwrap().is_none());
        assert!(
            t0.elapsed() < Duration::from_millis(400),
            "{:?}",
            t0.elapsed()
        );
    }

    #[test]
    fn redacted_records_are_regenerated_alike_every_pass() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("r.jsonl");
        let mut w = TraceWriter::create(&p, Header::new("test", true), false).unwrap();
        let shape = Shape {
            chars: 30,
            tokens: 6,
            script: Script::Greek,
        };
        w.append(&Record {
            t: 0.0,
            batch: Batch::Shapes(vec![shape; 3]),
            endpoint: None,
            model: None,
        })
        .unwrap();
        let stats = Arc::new(ReplayStats::default());
        let mut w =
            TraceWorkload::open(&p, Pace::Fast, false, Cancel::default(), stats.clone()).unwrap();
        let a = w.next_page().unwrap().unwrap().texts;
        assert_eq!(a.len(), 3);
        assert!(a.iter().all(|t| redact::shape_of(t) == shape), "{a:?}");
        w.rewind().unwrap();
        assert_eq!(w.next_page().unwrap().unwrap().texts, a);
        assert_eq!(stats.report(Pace::Fast, &[]).regenerated_texts, 6);
    }
}
