//! Helpers shared by the analysis tests: sample tables, options and
//! seeded `--fail-fast` runs over the calibration's scenarios.

use crate::analysis::samples::SampleTable;
use crate::analysis::threshold::Threshold;
use crate::analysis::{
    AnalysisOptions, DEFAULT_MIN_GROWTH, LookRules, Warmup, fail_fast_time, sequential_breach,
};
use crate::sample::Metric;
use crate::stats;
use crate::units::MIB;

pub(super) fn table(f: impl Fn(f64) -> f64, n: usize) -> SampleTable {
    let mut t = SampleTable::new(vec![Metric::Rss]);
    for i in 0..n {
        let x = i as f64;
        t.push(x, Some(i as u64 * 10), &[Some(f(x) as u64)]);
    }
    t
}

pub(super) fn opts(th: &[&str]) -> AnalysisOptions {
    AnalysisOptions {
        warmup: Warmup::Auto,
        confidence: 0.95,
        thresholds: th.iter().map(|s| s.parse().unwrap()).collect(),
        min_growth: DEFAULT_MIN_GROWTH,
        swap_total: None,
    }
}

/// White noise of `sd` bytes about 200 MiB at 1 Hz, seeded.
pub(super) fn noisy(sd: f64, slope_per_s: f64, n: usize, seed: u64) -> SampleTable {
    let mut rng = crate::stats::test_rng::Rng::new(seed);
    let noise: Vec<f64> = (0..n).map(|_| sd * rng.normal()).collect();
    table(|x| 200.0 * MIB + slope_per_s * x + noise[x as usize], n)
}

/// 10 minutes at 1 Hz of the calibration's `noise` and `behaviour`.
pub(super) fn ten_minutes(
    noise: stats::calibration::Noise,
    behaviour: stats::calibration::Behaviour,
) -> stats::calibration::Scenario {
    stats::calibration::Scenario {
        noise,
        behaviour,
        seconds: 600.0,
        hz: 1.0,
    }
}

/// When `--fail-fast` on `th` stopped each of 20 seeded 10-minute runs
/// (the runs it stopped).
pub(super) fn fail_fast_stops(
    th: &Threshold,
    noise: stats::calibration::Noise,
    behaviour: stats::calibration::Behaviour,
) -> Vec<f64> {
    fail_fast_stops_counting(th, noise, behaviour, None)
}

/// The items done by each time of `t` at `items_per_s` (as the monitor
/// counts them); NaN throughout (not counted) without.
pub(super) fn counted(t: &[f64], items_per_s: Option<f64>) -> Vec<f64> {
    t.iter()
        .map(|x| items_per_s.map_or(f64::NAN, |r| (x * r).floor()))
        .collect()
}

/// [`fail_fast_stops`], with items counted at `items_per_s` where given
/// (as the monitor counts them), else none ([`fail_fast_time`]).
pub(super) fn fail_fast_stops_counting(
    th: &Threshold,
    noise: stats::calibration::Noise,
    behaviour: stats::calibration::Behaviour,
    items_per_s: Option<f64>,
) -> Vec<f64> {
    let scenario = ten_minutes(noise, behaviour);
    (0..20)
        .filter_map(|seed| {
            let (t, y) = scenario.simulate(seed);
            if items_per_s.is_none() {
                return fail_fast_time(th, &t, &y, 1.0, &LookRules::DEFAULT);
            }
            let items = counted(&t, items_per_s);
            stats::calibration::time_to_detection(&t, &y, 1.0, |tt, yy, k| {
                let i = &items[..tt.len()];
                sequential_breach(th, tt, i, yy, &LookRules::DEFAULT, k).is_some()
            })
        })
        .collect()
}

/// When `--fail-fast` on `th` stopped each of 20 runs at 1 Hz that
/// stopped (`series(seed)`: the times and samples of seed 0 to 19).
pub(super) fn fail_fast_times(
    th: &Threshold,
    series: impl Fn(u64) -> (Vec<f64>, Vec<f64>),
) -> Vec<f64> {
    (0..20)
        .filter_map(|seed| {
            let (t, y) = series(seed);
            fail_fast_time(th, &t, &y, 1.0, &LookRules::DEFAULT)
        })
        .collect()
}

/// At least 19 of 20 runs stopped, every stop within `when`.
pub(super) fn assert_stopped(what: &str, stops: &[f64], when: &std::ops::Range<f64>) {
    println!("{what}: stopped in {} of 20 at {stops:?} s", stops.len());
    assert!(stops.len() >= 19, "{what}: {} of 20", stops.len());
    assert!(stops.iter().all(|s| when.contains(s)), "{what}: {stops:?}");
}
