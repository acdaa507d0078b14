//! The requester of `--attribute`: during a soak it asks the target for a
//! heap snapshot on a schedule. The first request, at the end of warm-up,
//! starts the target's tracing (loading a model is not charged); each later
//! one, every `--attribute-every`, is one snapshot.

use std::time::Duration;

use crate::analysis::Warmup;
use crate::runfolder::RunFolder;

/// Snapshots over the run after warm-up when `--attribute-every` is not
/// given.
pub const DEFAULT_SNAPSHOTS: u32 = 10;
/// The shortest period between snapshots: each walks the target's whole
/// traced heap.
pub const MIN_EVERY: Duration = Duration::from_millis(250);
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
        if first_s + every.as_secs_f64() >= d {
            return Err(format!(
                "--attribute-every {shown}: no snapshot fits between the end of warm-up ({first_s:.1}s) and the end of the run ({d:.1}s)"
            ));
        }
        Ok(Attribute { first_s, every })
    }
}

/// Sends the requests of one soak into its run folder.
pub struct Requester {
    folder: RunFolder,
    plan: Attribute,
    sent: u32,
    failed: bool,
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
        }
    }

    /// Send the requests due at `elapsed` seconds into the soak. Cheap;
    /// call it with the monitor's poll. Returns a note the first time a
    /// request cannot be written (the soak goes on without attribution).
    pub fn poll(&mut self, elapsed: f64) -> Option<String> {
        let due = self.plan.first_s + f64::from(self.sent) * self.plan.every.as_secs_f64();
        if self.failed || elapsed < due {
            return None;
        }
        self.sent += 1;
        match self.folder.request_snapshot(self.sent) {
            Ok(()) => None,
            Err(e) => {
                self.failed = true;
                Some(format!("--attribute: no more snapshots requested: {e}"))
            }
        }
    }

    /// Requests sent so far (the first only started tracing).
    pub fn sent(&self) -> u32 {
        self.sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_period_too_fast_or_too_long_is_one_line() {
        let d = Duration::from_secs(10);
        let e = Attribute::schedule(d, Warmup::Fraction(0.1), Some(Duration::from_millis(100)))
            .unwrap_err();
        assert!(e.contains("too fast"), "{e}");
        let e = Attribute::schedule(d, Warmup::Fraction(0.5), Some(Duration::from_secs(6)))
            .unwrap_err();
        assert!(e.contains("no snapshot fits"), "{e}");
    }

    #[test]
    fn requests_go_out_on_schedule() {
        let tmp = tempfile::tempdir().unwrap();
        let folder = RunFolder::at(tmp.path());
        folder.prepare_attribution(None).unwrap();
        let plan = Attribute {
            first_s: 2.0,
            every: Duration::from_secs(1),
        };
        let mut r = Requester::new(folder, plan);
        for (t, want) in [(1.0, 0), (2.0, 1), (2.5, 1), (3.0, 2), (4.1, 3)] {
            assert_eq!(r.poll(t), None);
            assert_eq!(r.sent(), want, "at {t}s");
        }
        let req = std::fs::read_to_string(tmp.path().join("attribution/request")).unwrap();
        assert_eq!(req, "3\n");
    }
}
