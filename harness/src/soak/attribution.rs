//! The requester of `--attribute`: during a soak it asks for a heap
//! snapshot on a schedule. The first request, at the end of warm-up,
//! starts the tracing (loading a model is not charged); each later one,
//! every `--attribute-every`, is one snapshot. A Python target is asked
//! through the run folder; for an in-process backend memsoak profiles its
//! own heap with jemalloc ([`HeapProfiler`]), and primes its symbol cache
//! halfway through the warm-up so that the cache's growth is not measured
//! as the soak's.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::analysis::Warmup;
use crate::analysis::attribution::Tracer;
use crate::runfolder::attribution::{SNAPSHOT_FORMAT, SNAPSHOT_VERSION, SiteEntry, SnapshotFile};
use crate::runfolder::{FolderError, RunFolder};
use crate::sample::heap_profile::{self, Folded, HeapProfileError, Symbolizer};

/// Snapshots over the run after warm-up when `--attribute-every` is not
/// given.
pub const DEFAULT_SNAPSHOTS: u32 = 10;
/// The shortest period between snapshots: each walks the target's whole
/// traced heap.
pub const MIN_EVERY: Duration = Duration::from_millis(250);
/// Where in the warm-up (a fraction of the first request's time) an
/// in-process profiler primes its symbol cache: late enough that the soak
/// has run the code its snapshots will name, early enough that the cache's
/// growth is over before the warm-up ends.
pub const PRIME_AT: f64 = 0.5;
/// The warm-up assumed for the schedule when the rule is `auto` (found only
/// after the run, from the samples).
// NOTE: a fifth of the run is where MSER-5 most often cuts a model load
// off; the snapshots before the true warm-up end only lengthen the series.
pub const AUTO_WARMUP_FRACTION: f64 = 0.2;

/// `--attribute [--attribute-every DUR]`, validated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attribute {
    /// The first request (start of tracing), seconds into the soak.
    pub first_s: f64,
    /// The period of the snapshots.
    pub every: Duration,
    /// No request goes out after this, seconds into the soak: [`MIN_EVERY`]
    /// before its end, so that the target answers the last one while the
    /// soak still samples (the schedule's period ends at the run's end,
    /// and a request sent there was answered during the teardown).
    pub last_s: f64,
}

impl Attribute {
    /// The schedule of a soak of `duration` with warm-up `warmup`:
    /// `every`, or [`DEFAULT_SNAPSHOTS`] over the run after warm-up. The
    /// error (one line, for `--attribute-every`) when no snapshot would fit.
    pub fn schedule(
        duration: Duration,
        warmup: Warmup,
        every: Option<Duration>,
    ) -> Result<Attribute, String> {
        let d = duration.as_secs_f64();
        let first_s = match warmup {
            Warmup::Time(t) => t.as_secs_f64(),
            Warmup::Fraction(f) => f * d,
            Warmup::Auto => AUTO_WARMUP_FRACTION * d,
        }
        .min(d);
        // NOTE: K + 1 periods after the first request: K snapshots, the last
        // a period before the end, so it is taken before the target stops.
        let every = every.unwrap_or_else(|| {
            Duration::from_secs_f64((d - first_s) / f64::from(DEFAULT_SNAPSHOTS + 1)).max(MIN_EVERY)
        });
        let shown = humantime::format_duration(every);
        if every < MIN_EVERY {
            return Err(format!(
                "--attribute-every {shown} is too fast ({}ms at least: each snapshot walks the target's heap)",
                MIN_EVERY.as_millis()
            ));
        }
        let last_s = d - MIN_EVERY.as_secs_f64();
        if first_s + every.as_secs_f64() > last_s {
            return Err(format!(
                "--attribute-every {shown}: no snapshot fits between the end of warm-up ({first_s:.1}s) and the end of the run ({d:.1}s, less {}ms for the target to answer)",
                MIN_EVERY.as_millis()
            ));
        }
        Ok(Attribute {
            first_s,
            every,
            last_s,
        })
    }
}

/// Sends the requests of one soak: into its run folder for a Python
/// target, or to memsoak's own [`HeapProfiler`].
pub struct Requester {
    folder: RunFolder,
    plan: Attribute,
    sent: u32,
    failed: bool,
    heap: Option<HeapProfiler>,
}

impl Requester {
    /// A requester for the target of `folder` (prepared by
    /// [`RunFolder::prepare_attribution`]).
    pub fn new(folder: RunFolder, plan: Attribute) -> Requester {
        Requester {
            folder,
            plan,
            sent: 0,
            failed: false,
            heap: None,
        }
    }

    /// A requester that profiles memsoak's own heap (an in-process
    /// backend) into `folder`'s `attribution/`. The error, one line, when
    /// jemalloc's profiling is off or the folder cannot be written.
    ///
    /// It reads the binary's debug info and starts sampling allocations
    /// for [`HeapProfiler::prime`]: make it before the soak's sampling
    /// starts, so that the debug info (tens of MiB) is not measured.
    pub fn in_process(folder: RunFolder, plan: Attribute) -> Result<Requester, String> {
        let heap = HeapProfiler::start(&folder)?;
        Ok(Requester {
            heap: Some(heap),
            ..Requester::new(folder, plan)
        })
    }

    /// Send the requests due at `elapsed` seconds into the soak. Cheap;
    /// call it with the monitor's poll. Returns a note the first time a
    /// request cannot be written (the soak goes on without attribution).
    pub fn poll(&mut self, elapsed: f64) -> Option<String> {
        // NOTE: priming only moves the symbol cache's growth into the
        // warm-up; the snapshots do without it.
        if let Some(heap) = self.heap.as_mut().filter(|h| !h.primed)
            && elapsed >= PRIME_AT * self.plan.first_s
            && let Err(e) = heap.prime(&self.folder)
        {
            return Some(format!(
                "--attribute: the symbol cache was not primed ({e}): its growth at the first snapshot is in the samples"
            ));
        }
        let due = self.plan.first_s + f64::from(self.sent) * self.plan.every.as_secs_f64();
        if self.failed || elapsed < due || due > self.plan.last_s {
            return None;
        }
        self.sent += 1;
        let sent = match &mut self.heap {
            Some(h) => h.request(&self.folder, self.sent),
            None => self
                .folder
                .request_snapshot(self.sent)
                .map_err(|e| e.to_string()),
        };
        match sent {
            Ok(()) => None,
            Err(e) => {
                self.failed = true;
                Some(format!("--attribute: no more snapshots requested: {e}"))
            }
        }
    }

    /// Mark the end of the soak's sampling, so that a snapshot the target
    /// takes later (a request answered late) is left out of the analysis
    /// ([`RunFolder::end_attribution`]). Returns a note when the mark
    /// cannot be written. No mark is written when no request went out
    /// (nothing to mark) or writing one failed (a note already says why).
    pub fn end(&self) -> Option<String> {
        if self.sent == 0 || self.failed {
            return None;
        }
        self.folder.end_attribution(unix_now()).err().map(|e| {
            format!("--attribute: the end of sampling was not marked ({e}): a snapshot taken after it is analysed too")
        })
    }

    /// Requests sent so far (the first only started tracing).
    pub fn sent(&self) -> u32 {
        self.sent
    }
}

/// Why one jemalloc snapshot was not taken.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Dumping or reading the profile back.
    #[error(transparent)]
    Profile(#[from] heap_profile::HeapProfileError),
    /// Writing it into the run folder.
    #[error(transparent)]
    Folder(#[from] FolderError),
}

/// memsoak's own heap, profiled by jemalloc: request 1 starts sampling,
/// each later one dumps a profile, reads it back, symbolizes and folds it
/// to sites in memsoak's own code, and writes the snapshot
/// (`jeprof-NNNN-pPID.json`, the raw dump beside it).
pub struct HeapProfiler {
    symbols: Symbolizer,
    since_unix: Option<f64>,
    /// [`HeapProfiler::prime`] was tried (it sets this itself, whatever came of it).
    primed: bool,
}

/// Seconds since the Unix epoch, now.
fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl HeapProfiler {
    /// Check that jemalloc profiles (`opt.prof`), make the folder, read
    /// the binary's debug info now (it takes a while and tens of MiB,
    /// once) and start sampling allocations, for [`HeapProfiler::prime`].
    pub fn start(folder: &RunFolder) -> Result<HeapProfiler, String> {
        if !heap_profile::available() {
            return Err(
                "--attribute: jemalloc heap profiling is off in this memsoak \
                 (prof:false in _RJEM_MALLOC_CONF?); it is how an in-process backend is attributed"
                    .into(),
            );
        }
        folder
            .prepare_heap_profiles()
            .map_err(|e| format!("--attribute: {e}"))?;
        let mut symbols = Symbolizer::new();
        symbols.warm_up();
        heap_profile::activate().map_err(|e| format!("--attribute: {e}"))?;
        Ok(HeapProfiler {
            symbols,
            since_unix: None,
            primed: false,
        })
    }

    /// Fill the symbol cache from a dump of what the soak has allocated
    /// so far: the code it runs, which the snapshots will name. The dump
    /// is read and removed.
    ///
    /// NOTE: the cache (the debug info of each compilation unit a stack
    /// passes through, parsed on first use) lives on the heap that `heap`
    /// and `rss` measure. Filled at the first snapshot, after warm-up, it
    /// was a step in the soak's samples: the real candle model, 15 s with
    /// 8-text pages, heap 123 → 158 MiB and rss 166 → 210 MiB at 4.5 s,
    /// flat before and after (memsoak at d4170c8). With the first
    /// snapshot mid-run (`--warmup 3s --attribute-every 5s`) it failed a
    /// healthy run in 1 of 2; the likely cause of a CI failure on a loaded
    /// box (heap 97 → 166 MiB, p = 7e-5: both steps, 27 + 34 MiB).
    pub fn prime(&mut self, folder: &RunFolder) -> Result<(), HeapProfileError> {
        self.primed = true;
        let raw = folder.heap_prime_tmp();
        heap_profile::dump(&raw)?;
        let profile = heap_profile::read_dump(&raw);
        let _ = std::fs::remove_file(&raw);
        for st in &profile?.stacks {
            self.symbols.stack(&st.addrs);
        }
        Ok(())
    }

    /// Answer request `n`: start tracing (the first: what was sampled
    /// before is forgotten), else take snapshot `n`.
    fn request(&mut self, folder: &RunFolder, n: u32) -> Result<(), String> {
        if self.since_unix.is_none() {
            heap_profile::activate().map_err(|e| e.to_string())?;
            self.since_unix = Some(unix_now());
            return Ok(());
        }
        self.snapshot(folder, n).map_err(|e| e.to_string())
    }

    /// Dump, read back, fold and write snapshot `seq`.
    fn snapshot(&mut self, folder: &RunFolder, seq: u32) -> Result<(), SnapshotError> {
        let started = Instant::now();
        let mut snap = SnapshotFile {
            format: SNAPSHOT_FORMAT.into(),
            version: SNAPSHOT_VERSION,
            source: Tracer::Jemalloc.name().into(),
            seq,
            pid: std::process::id(),
            t_unix: unix_now(),
            tracing_since_unix: self.since_unix,
            traced_bytes: 0,
            min_site_bytes: 0,
            other_bytes: 0,
            other_count: 0,
            sites: Vec::new(),
            snapshot_ms: None,
        };
        let raw = folder.heap_dump_tmp(&snap);
        heap_profile::dump(&raw)?;
        snap.t_unix = unix_now();
        let profile = heap_profile::read_dump(&raw)?;
        let root = heap_profile::own_root();
        let mut sites: BTreeMap<(Vec<String>, String), (f64, f64)> = BTreeMap::new();
        let (mut traced, mut other, mut other_n) = (0.0, 0.0, 0.0);
        for st in &profile.stacks {
            let frames = self.symbols.stack(&st.addrs);
            match heap_profile::fold(&frames, root) {
                // NOTE: the profiler's own symbol cache is memsoak's tool,
                // not the soak: left out, as tracemalloc leaves out its own.
                Folded::Profiler => continue,
                Folded::Site { frames, function } => {
                    let e = sites.entry((frames, function)).or_default();
                    e.0 += st.bytes;
                    e.1 += st.objects;
                }
                Folded::Unknown => {
                    other += st.bytes;
                    other_n += st.objects;
                }
            }
            traced += st.bytes;
        }
        snap.traced_bytes = traced.round() as u64;
        snap.other_bytes = other.round() as u64;
        snap.other_count = other_n.round() as u64;
        snap.sites = sites
            .into_iter()
            .map(|((frames, code), (bytes, count))| SiteEntry {
                frames,
                code,
                bytes: bytes.round() as u64,
                count: count.round() as u64,
            })
            .collect();
        snap.sites.sort_by_key(|s| std::cmp::Reverse(s.bytes));
        snap.snapshot_ms = Some(started.elapsed().as_secs_f64() * 1e3);
        folder.write_snapshot(&snap, Some(&raw))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runfolder::attribution::ENDED_FILE;
    use std::path::PathBuf;

    #[test]
    fn the_default_schedule_fits_ten_snapshots_after_warm_up() {
        let s = Attribute::schedule(
            Duration::from_secs(110),
            Warmup::Time(Duration::from_secs(22)),
            None,
        )
        .unwrap();
        assert_eq!(s.first_s, 22.0);
        assert_eq!(s.every, Duration::from_secs(8));
        let s = Attribute::schedule(Duration::from_secs(100), Warmup::Auto, None).unwrap();
        assert_eq!(s.first_s, 20.0);
    }

    #[test]
    fn the_default_schedule_sends_no_request_at_the_runs_end() {
        // The 11th period of the default schedule ends at the run's end: a
        // request was sent there, in the poll that ended the soak, and the
        // target answered it during the teardown (an eleventh snapshot, of
        // a heap the samples never saw).
        let tmp = tempfile::tempdir().unwrap();
        let d = Duration::from_secs(110);
        let plan = Attribute::schedule(d, Warmup::Time(Duration::from_secs(22)), None).unwrap();
        let (mut r, _) = requester_in(&tmp, plan);
        // The monitor's poll, every 50 ms, up to and including the end.
        for k in 0..=2200 {
            assert_eq!(r.poll(f64::from(k) * 0.05), None);
        }
        assert_eq!(
            r.sent(),
            1 + DEFAULT_SNAPSHOTS,
            "the start and 10 snapshots"
        );
    }

    #[test]
    fn a_period_too_fast_or_too_long_is_one_line() {
        let d = Duration::from_secs(10);
        let e = Attribute::schedule(d, Warmup::Fraction(0.1), Some(Duration::from_millis(100)))
            .unwrap_err();
        assert!(e.contains("too fast"), "{e}");
        let e = Attribute::schedule(d, Warmup::Fraction(0.5), Some(Duration::from_secs(6)))
            .unwrap_err();
        assert!(e.contains("no snapshot fits"), "{e}");
    }

    /// A requester sending on `plan` into a prepared folder in `tmp`, and
    /// the path of its end mark.
    fn requester_in(tmp: &tempfile::TempDir, plan: Attribute) -> (Requester, PathBuf) {
        let folder = RunFolder::at(tmp.path());
        folder.prepare_attribution(None).unwrap();
        let ended = folder.attribution_dir().join(ENDED_FILE);
        (Requester::new(folder, plan), ended)
    }

    /// Tracing from 2 s, a snapshot every second, none due after `last_s`.
    fn every_second(last_s: f64) -> Attribute {
        Attribute {
            first_s: 2.0,
            every: Duration::from_secs(1),
            last_s,
        }
    }

    #[test]
    fn requests_go_out_on_schedule() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut r, ended) = requester_in(&tmp, every_second(4.5));
        // Nothing is due after 4.5 s: the request of 5 s never goes out.
        for (t, want) in [(1.0, 0), (2.0, 1), (2.5, 1), (3.0, 2), (4.1, 3), (5.2, 3)] {
            assert_eq!(r.poll(t), None);
            assert_eq!(r.sent(), want, "at {t}s");
        }
        let req = std::fs::read_to_string(tmp.path().join("attribution/request")).unwrap();
        assert_eq!(req, "3\n");
        assert!(!ended.exists());
        assert_eq!(r.end(), None);
        let t: f64 = std::fs::read_to_string(&ended)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!((t - unix_now()).abs() < 60.0, "{t}");
    }

    #[test]
    fn a_soak_that_sent_no_request_marks_no_end() {
        let tmp = tempfile::tempdir().unwrap();
        let (r, ended) = requester_in(&tmp, every_second(9.75));
        assert_eq!(r.end(), None);
        assert!(!ended.exists());
    }
}
