//! Growth that begins late in a run: the drift of the run's trailing
//! windows, where one slope over the whole steady state dilutes it.
//!
//! A leak that starts at a fraction a of the steady window reads, fitted
//! over the whole window, at (1 − a)²(1 + 2a) of its rate (least squares on
//! a hinge): half its rate from mid-run, a fifth from 70% of the way, under
//! a twentieth from 90%. A 30-minute run whose last 9 minutes climbed at
//! 6 MiB/min read about 1 MiB/min over the whole run, and passed
//! `rss.slope<2MiB/min`. The trailing windows (the last ½, ½/√2, ¼, …
//! of the steady window, each √2 shorter than the one before) see such a
//! leak wherever it began in the second half: some window begins before
//! the onset by at most 1 − 1/√2 = 0.29 of its own length, and reads at
//! least (1 − 0.29)²(1 + 0.59) = 0.80 of the rate. (Halving steps leave the
//! onset up to half-way in, 0.5 of the rate, and the bend inside the window
//! then reads as persistence to a fit of a line: a leak over the last
//! quarter of a 10-minute run under a GC sawtooth was caught in 0 of 200
//! runs with halves, 38% with these.)
//!
//! Each window's noise (its spread and persistence) is measured about a
//! broken line whose rate rises at one knot (`super::ols::hinge_residuals`;
//! a window with no rising bend keeps the line), not about the
//! line whose slope is tested: the growth a window is there to catch may
//! begin inside it, and about a line the bend reads as noise. Under a GC
//! sawtooth a leak over the last quarter of a 10-minute run read 4.7–5.1
//! MiB/min in every window of 21 cycle means, the bend's residuals (up to
//! a few MiB) against means worth a few hundred KiB, and p ranged from 1e-5
//! to 0.25: caught in 34% of 200 runs, now 100%. The knot fitted on a
//! healthy window takes a little of its noise with it, which the test's
//! two fewer degrees of freedom answer for.

use super::drift::{Span, drift_in_blocks};
use super::trend::NoiseAbout;
use super::{Drift, DriftModel};

/// The shortest trailing window is 2^(−this) of the steady window (the
/// last ½ down to 1/256: at most 15 windows, each √2 shorter than the one
/// before, and each takes a share of the level).
const SMALLEST_WINDOW_LOG2: i32 = 8;

/// A window needs at least this many samples: fewer cannot measure the
/// noise's persistence that its test reads its evidence against.
pub const MIN_WINDOW_POINTS: usize = 60;

/// A window under a sawtooth must hold at least this many of its cycles,
/// so that its own fit sees the cycles (three whole ones) and not the ramp
/// of one of them.
const MIN_WINDOW_CYCLES: f64 = 4.0;

/// A window is fitted on at most this many points (block medians beyond,
/// as `drift` does beyond 1000). At 1000, the up to 15 windows of a day at
/// 10 Hz took `analyze` of a ten-metric day from 423 ms to 1.09 s (`cargo
/// bench --bench analysis`), past its 1 s target; at 500, 964 ms; at 250,
/// 763 ms. Against 1000, 250 moved only the calibration's late column
/// under AR(1) 0.9 (17 → 14% caught at 10 minutes, 100 → 96% at 30) and
/// AR(1) 0.98 (16 → 24% at 30 minutes; 600 and 1800 s at 1 Hz, 200 seeds).
const WINDOW_MAX_BLOCKS: usize = 250;

/// The share of the run's α (1 − confidence) that all trailing windows
/// together are judged at, split evenly between them: each window at
/// α / (4K) for K windows. A healthy run's chance that any window alone
/// breaches an upper limit is then at most α/8 (half of α/4: one side),
/// beside the whole run's α/2.
pub const LATE_ALPHA_SHARE: f64 = 0.25;

/// The drift of one trailing window of the steady samples.
#[derive(Debug, Clone, PartialEq)]
pub struct LateDrift {
    /// Where the window begins (x units).
    pub from: f64,
    /// The drift fitted on the window alone, at the window's confidence
    /// (its interval and `significant` are at that level).
    pub drift: Drift,
    /// The confidence each window was judged at: 1 − α · [`LATE_ALPHA_SHARE`]
    /// / K.
    pub confidence: f64,
    /// How many trailing windows were tested (K).
    pub windows: usize,
    /// The window's interval lies wholly above the slope of `whole`: the
    /// rate rose late, not only the run's own rate read on fewer samples.
    pub rose: bool,
}

/// The trailing windows of `x`, `y` (a run's steady samples, x in order)
/// and the one that says most: of those whose drift is significant at each
/// window's level with an interval wholly above the slope of `whole` (the
/// rate rose: [`LateDrift::rose`]), the steepest; else the one whose upward
/// trend comes nearest to significance (smallest p with a rising slope);
/// `None` when no window qualifies, or none rose at all.
///
/// Windows are the last ½, ½/√2, ¼, … of the span (at most 15), each at least
/// `min_span` long (x units) and [`MIN_WINDOW_POINTS`] samples; none where
/// `whole` (the drift over all of `x`, `y`) found one or two drops that
/// made no recurring cycles (a long cycle's ramp, seen without the drop
/// that follows, would read as a leak), and under cycles each window holds
/// at least 4 of them. Each is judged at confidence
/// 1 − (1 − `confidence`) / (4K), K the number of windows, so the windows
/// together spend at most a quarter of α (Bonferroni).
///
/// Cost: one [`super::drift`] per window (at most 15, each on at most 250
/// points), on 1/√2 of the samples of the one before: O(n), the windows'
/// samples together about 1.7 n.
pub fn late_drift(
    x: &[f64],
    y: &[f64],
    confidence: f64,
    whole: &Drift,
    min_span: f64,
) -> Option<LateDrift> {
    if x.len() != y.len() || x.len() < 2 || !(confidence > 0.0 && confidence < 1.0) {
        return None;
    }
    // NOTE: one or two drops that made no recurring cycles (a long
    // cycle's, or one read as a level change) may have a cycle's ramp after
    // them, which in a trailing window is a leak to any test: the slow
    // sawtooth (a 24 MiB cycle of 360 s in a 600 s run) failed its warm-up
    // and cache runs in 5–6% of 200 where its one drop was read as a level
    // change. Many drops that make no cycles are held levels redrawn
    // (jump noise: windows kept, or its late leaks went 70 → 0% caught),
    // and so are one or two that end no steady ramp (a level that jumped
    // up and back, a spike, a wander): while those counted, the mixture's
    // late leaks over 30 minutes were caught in 86% of 600 runs (94% with
    // a gradual ramp required; over 10 minutes 92 → 96%), most of the
    // misses without a window, quantised readings' in 89% (95%), heavy
    // tails' 97% (100%). Healthy runs failed as often (600 seeds, 10 and 30
    // minutes, six families), but the mixture's flat runs over 30 minutes,
    // 3 → 4 of 600. With a steady ramp required (`Drift::ramp_drops`), the
    // mixture's 96 → 100% and quantised readings' 96 → 100% (200 seeds).
    // (`ramp_drops` is counted only where there are one or two drops.)
    let lone_ramp = whole.ramp_drops > 0;
    if whole.model == DriftModel::LongCycle || (whole.model != DriftModel::Cycles && lone_ramp) {
        return None;
    }
    let (first, last) = (x[0], x[x.len() - 1]);
    let span = last - first;
    if !(span > 0.0 && span.is_finite() && min_span > 0.0) {
        return None;
    }
    let min_points = whole.cycle_len.map_or(MIN_WINDOW_POINTS, |c| {
        MIN_WINDOW_POINTS.max((MIN_WINDOW_CYCLES * c as f64).ceil() as usize)
    });
    let starts: Vec<usize> = (2..=2 * SMALLEST_WINDOW_LOG2)
        .map(|j| last - span * 2f64.powf(-0.5 * f64::from(j)))
        .take_while(|&from| last - from >= min_span)
        .map(|from| x.partition_point(|&v| v < from))
        .take_while(|&i| x.len() - i >= min_points)
        .collect();
    if starts.is_empty() {
        return None;
    }
    let k = starts.len();
    let level = 1.0 - (1.0 - confidence) * LATE_ALPHA_SHARE / k as f64;
    let fits: Vec<(usize, Drift)> = starts
        .into_iter()
        .filter_map(|i| {
            drift_in_blocks(
                &x[i..],
                &y[i..],
                level,
                WINDOW_MAX_BLOCKS,
                super::MIN_LEVEL_BLOCK_S,
                NoiseAbout::Hinge,
                Span::Part,
            )
            .map(|d| (i, d))
        })
        .filter(|(_, d)| d.slope > 0.0)
        .collect();
    // NOTE: a window must show a rate that rose, not only the whole run's
    // rate on fewer samples, whose slope is noisier. With a slope past the
    // limit alone, a steady leak of 0.8× the limit failed 30-minute runs
    // in 0–32% of 100 per family (held levels 22%, the mixture 32%; 0–2%
    // now), and one at the limit in 84–94% (the whole run's coin flip:
    // 43–56%, as now).
    let rose = |d: &Drift| d.ci_low > whole.slope;
    let steepest_risen = fits
        .iter()
        .filter(|(_, d)| d.significant && rose(d))
        .max_by(|a, b| a.1.slope.total_cmp(&b.1.slope));
    let nearest = || {
        fits.iter()
            .min_by(|a, b| a.1.p_value.total_cmp(&b.1.p_value))
    };
    let (i, d) = steepest_risen.or_else(nearest)?;
    Some(LateDrift {
        from: x[*i],
        drift: d.clone(),
        confidence: level,
        windows: k,
        rose: rose(d),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::drift;
    use crate::stats::test_rng::Rng;

    const MIB: f64 = 1024.0 * 1024.0;

    /// `n` samples at 1 Hz of white noise (sd `sd` MiB) with a leak of
    /// `rate` MiB/min from `onset` s on.
    fn hinge(n: usize, onset: f64, rate: f64, sd: f64, seed: u64) -> (Vec<f64>, Vec<f64>) {
        let mut rng = Rng::new(seed);
        let x: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let y = x
            .iter()
            .map(|&t| {
                200.0 * MIB + (t - onset).max(0.0) * rate * MIB / 60.0 + sd * MIB * rng.normal()
            })
            .collect();
        (x, y)
    }

    fn late(x: &[f64], y: &[f64]) -> Option<LateDrift> {
        let whole = drift(x, y, 0.95)?;
        late_drift(x, y, 0.95, &whole, 300.0)
    }

    #[test]
    fn a_leak_that_began_late_is_seen_at_its_rate_in_a_trailing_window() {
        // 30 minutes; a 6 MiB/min leak over the last 4.5 of them, under
        // 4 MiB of noise: the whole run reads about a twentieth of it.
        let (x, y) = hinge(1800, 1530.0, 6.0, 4.0, 7);
        let whole = drift(&x, &y, 0.95).unwrap();
        assert!(
            whole.slope * 60.0 / MIB < 1.0,
            "{}",
            whole.slope * 60.0 / MIB
        );
        let l = late(&x, &y).unwrap();
        let rate = l.drift.slope * 60.0 / MIB;
        assert!(l.drift.significant && l.rose, "{l:?}");
        assert!((4.5..8.0).contains(&rate), "{rate}");
        // Windows of 900, 636, 450 and 318 s (225 s is under 5 minutes):
        // the steepest that is significant begins 48 s before the onset.
        assert_eq!(l.windows, 4);
        assert!((l.confidence - (1.0 - 0.05 / 16.0)).abs() < 1e-12);
        assert!((l.from - 1482.0).abs() <= 1.0, "{}", l.from);
    }

    #[test]
    fn flat_runs_rarely_show_a_significant_late_rise() {
        // Each window at α/(4K): over 200 flat 30-minute runs, a window
        // significant upward in about 0.6% (one side of α/4).
        let rises = (0..200)
            .filter(|&s| {
                let (x, y) = hinge(1800, 1e9, 0.0, 4.0, s);
                late(&x, &y).is_some_and(|l| l.drift.significant)
            })
            .count();
        assert!(rises <= 4, "{rises} of 200");
    }

    #[test]
    fn a_steady_leak_has_no_window_whose_rate_rose() {
        // A leak at 1.6 MiB/min all along: each window reads it too, and
        // none shows a rate above the whole run's.
        let risen = (0..100)
            .filter(|&s| {
                let (x, y) = hinge(1800, 0.0, 1.6, 4.0, s);
                late(&x, &y).is_some_and(|l| l.rose && l.drift.significant)
            })
            .count();
        assert!(risen <= 2, "{risen} of 100");
    }

    #[test]
    fn short_runs_and_long_cycles_have_no_windows() {
        let (x, y) = hinge(500, 1e9, 0.0, 4.0, 1);
        assert!(late(&x, &y).is_none(), "500 s: half is under 5 minutes");
        // One 24 MiB ramp of 0.6 × 30 minutes, a drop, and the next ramp:
        // a long cycle, whose ramp in a window would read as a leak.
        let x: Vec<f64> = (0..1800).map(f64::from).collect();
        let y: Vec<f64> = x
            .iter()
            .map(|&t| 200.0 * MIB + 24.0 * MIB * ((t + 300.0) % 1080.0) / 1080.0)
            .collect();
        let whole = drift(&x, &y, 0.95).unwrap();
        assert_eq!(whole.model, DriftModel::LongCycle, "{}", whole.reason);
        assert!(late_drift(&x, &y, 0.95, &whole, 300.0).is_none());
    }

    #[test]
    fn a_level_held_and_given_back_leaves_the_windows_a_long_cycle_takes() {
        // A late leak (6 MiB/min over the last 4.5 of 30 minutes) with
        // memory 40 MiB higher for half a minute mid-run, as a transient
        // batch holds it: a drop after a jump, not a ramp. It is no long
        // cycle, so the windows stay.
        let (x, mut y) = hinge(1800, 1530.0, 6.0, 4.0, 3);
        y[900..930].iter_mut().for_each(|v| *v += 40.0 * MIB);
        let whole = drift(&x, &y, 0.95).unwrap();
        assert_eq!((whole.drops, whole.ramp_drops), (1, 0), "{}", whole.reason);
        let l = late_drift(&x, &y, 0.95, &whole, 300.0).expect("windows");
        assert!(l.drift.significant && l.rose, "{:?}", l.drift);
    }

    #[test]
    fn a_wander_that_drops_once_is_no_long_cycle() {
        // The calibration's mixture (held levels, heavy tails, AR(1) 0.9)
        // with a 6 MiB/min leak over its last 7.5 of 30 minutes. In these
        // seeds one drop of the held levels ended a climb from the lowest
        // sample before it that was no steady ramp (R² 0–0.83, or 31
        // samples after a wander of 1,200): read as one long cycle, p = 1
        // and no windows, each leak passed.
        use crate::stats::calibration::{Behaviour, Noise, Scenario};
        let s = Scenario {
            noise: Noise::Mixture,
            behaviour: Behaviour::LateLeak,
            seconds: 1800.0,
            hz: 1.0,
        };
        for seed in [29, 70, 103, 116, 190] {
            let (x, y) = s.simulate(seed);
            let whole = drift(&x, &y, 0.95).unwrap();
            assert_ne!(
                whole.model,
                DriftModel::LongCycle,
                "seed {seed}: {}",
                whole.reason
            );
            let l = late_drift(&x, &y, 0.95, &whole, 300.0).expect("windows");
            assert!(l.drift.significant && l.rose, "seed {seed}: {:?}", l.drift);
        }
    }

    #[test]
    fn degenerate_input_gives_none() {
        let (x, y) = hinge(1800, 1e9, 0.0, 4.0, 1);
        let whole = drift(&x, &y, 0.95).unwrap();
        assert!(late_drift(&x[..10], &y, 0.95, &whole, 300.0).is_none());
        assert!(late_drift(&x, &y, 1.0, &whole, 300.0).is_none());
        assert!(late_drift(&x, &y, 0.95, &whole, 0.0).is_none());
        assert!(late_drift(&x, &y, 0.95, &whole, f64::NAN).is_none());
    }
}
