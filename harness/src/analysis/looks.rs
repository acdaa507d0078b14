//! `--fail-fast` looks: at each look of the monitor's schedule, whether a
//! breach is already statistically certain, at that look's share of α
//! ([`stats::look_alpha`]). The same rules time `--fail-fast` in the
//! calibration table ([`fail_fast_time`]). Pure; no I/O.

use crate::analysis::threshold::{Op, Stat, Threshold};
use crate::analysis::{
    DEFAULT_MIN_GROWTH, LATE_MIN_SPAN_S, Moved, Warmup, items_per_s_from, mirrored, warmup_index,
};
use crate::stats;

/// What every fail-fast look judges by: the run's warm-up rule, confidence
/// and materiality floor (as in [`AnalysisOptions`](super::AnalysisOptions)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LookRules {
    /// Warm-up rule.
    pub warmup: Warmup,
    /// Confidence over all looks together (0.95).
    pub confidence: f64,
    /// Materiality floor, bytes of fitted growth.
    pub min_growth: f64,
}

impl LookRules {
    /// The rules of the default gate: auto warm-up, 95%, 1 MiB.
    pub const DEFAULT: LookRules = LookRules {
        warmup: Warmup::Auto,
        confidence: 0.95,
        min_growth: DEFAULT_MIN_GROWTH,
    };
}

/// The share of a `--fail-fast` look's α that its trailing windows spend,
/// where the steady state is long enough to hold one (twice
/// [`LATE_MIN_SPAN_S`]); the whole steady state's test gets the rest, so a
/// look still spends no more than its α. The windows split theirs as at the
/// end of a run ([`stats::late_drift`]).
///
/// NOTE: without windows a leak that began late in a long run stopped no
/// look: a nightly soak's last hour of a 6 MiB/min leak reads at a fraction
/// of its rate over the whole steady state, and the run went on to its end.
pub const FAIL_FAST_WINDOW_SHARE: f64 = 0.2;

/// A `--fail-fast` look's breach by growth that began late: the trailing
/// window that says most ([`stats::late_drift`], all windows together at
/// [`FAIL_FAST_WINDOW_SHARE`] of the look's `alpha`) is significant at its
/// level, its rate rose (its interval wholly above `whole`'s slope), its
/// whole interval is past the limit, and its interval's low end grows by
/// the materiality floor over the window. Upper limits, and floors on
/// available memory, whose `y` and `whole` are then memory in use (its
/// mirror image, as [`sequential_breach`] fits it; the reason is written
/// in available memory's terms): on the time
/// slope (the window's rate), on growth (the window's fitted growth, slope
/// × its span, as `evaluate` reads a late window), and on `slope_per_1k`
/// (the window's rate over the items it embedded, `items` counted at its
/// ends, as `evaluate` reads a late window; `None` without them). `x` is
/// time, and `whole` the steady state's fit over time. Returns the reason.
#[allow(clippy::too_many_arguments)]
fn window_breach(
    th: &Threshold,
    x: &[f64],
    items: Option<&[f64]>,
    y: &[f64],
    whole: &stats::Drift,
    alpha: f64,
    look: u32,
    min_growth: f64,
) -> Option<String> {
    let alpha_windows = alpha * FAIL_FAST_WINDOW_SHARE;
    let confidence = 1.0 - alpha_windows / stats::LATE_ALPHA_SHARE;
    let l = stats::late_drift(x, y, confidence, whole, LATE_MIN_SPAN_S)?;
    let d = &l.drift;
    let span = x.last()? - l.from;
    let (scale, what) = match th.stat {
        Stat::Growth => (span, "growth"),
        Stat::SlopePer1k => (1000.0 / items_per_s_from(x, items?, l.from)?, "drift"),
        _ => (1.0, "drift"),
    };
    // Read back in the metric's own terms: memory in use mirrored.
    let (sign, began) = if th.metric.lower_is_worse() {
        (-1.0, "a fall")
    } else {
        (1.0, "growth")
    };
    // A window's growth is held within what its samples moved.
    let moved = Moved::of(&y[x.partition_point(|&t| t < l.from)..]);
    let held = |v: f64| {
        if th.stat == Stat::Growth {
            moved.clamp(v)
        } else {
            v
        }
    };
    let (near, far) = (
        held(sign * d.ci_low * scale),
        held(sign * d.ci_high * scale),
    );
    let breach = l.rose
        && d.significant
        && !th.op.holds(near, th.limit)
        && moved.clamp(d.ci_low * span) >= min_growth;
    breach.then(|| {
        format!(
            "{}: {began} began late: over the last {} {what} {} (CI {}..{} at look {look}, alpha {:.5} for each of {} windows) is beyond {}",
            th.expr,
            crate::units::fmt_secs(span),
            th.format_value(held(sign * d.slope * scale)),
            th.format_value(near.min(far)),
            th.format_value(near.max(far)),
            1.0 - l.confidence,
            l.windows,
            th.limit_text()
        )
    })
}

/// When `--fail-fast` would have stopped a run that sampled `y` at times
/// `t` (seconds, every `sample_every`) under threshold `th`: the monitor's
/// look schedule ([`stats::calibration::time_to_detection`]) with
/// [`sequential_breach`] at each look. `None` if no look calls a breach.
/// Time-based thresholds only: there is no items column (`slope_per_1k`
/// never breaches; [`sequential_breach`] takes one). What the calibration table and the detection tests
/// time `--fail-fast` with. O(looks × drift cost).
pub fn fail_fast_time(
    th: &Threshold,
    t: &[f64],
    y: &[f64],
    sample_every: f64,
    rules: &LookRules,
) -> Option<f64> {
    let items = vec![f64::NAN; t.len()];
    stats::calibration::time_to_detection(t, y, sample_every, |tt, yy, k| {
        sequential_breach(th, tt, &items[..tt.len()], yy, rules, k).is_some()
    })
}

/// Fail-fast look number `look` (1-based): is a breach of `th` already
/// statistically certain? The alpha of each look is spent so that the sum
/// over all looks stays under `1 - confidence` (see [`stats::look_alpha`]),
/// and a slope breach needs the whole CI beyond the limit. An upper
/// `growth` limit is read the same way, on the fitted growth of the steady
/// state so far (its whole interval past the limit; a lower one is never
/// breached before the end). Caps (`max`, `min`) are certain as soon as a
/// sample passes them. Returns the reason.
pub fn sequential_breach(
    th: &Threshold,
    t: &[f64],
    items: &[f64],
    y: &[f64],
    rules: &LookRules,
    look: u32,
) -> Option<String> {
    let LookRules {
        warmup,
        confidence,
        min_growth,
    } = *rules;
    let finite: Vec<usize> = (0..y.len()).filter(|&i| y[i].is_finite()).collect();
    match th.stat {
        Stat::Max | Stat::Min => {
            let v = finite.iter().map(|&i| y[i]).fold(
                if th.stat == Stat::Max {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                },
                if th.stat == Stat::Max {
                    f64::max
                } else {
                    f64::min
                },
            );
            (v.is_finite() && !th.op.holds(v, th.limit)).then(|| {
                format!(
                    "{}: {} is past the cap {}",
                    th.expr,
                    th.format_value(v),
                    th.limit_text()
                )
            })
        }
        // NOTE: a lower `growth` limit (memory must grow by at least X)
        // fails only where the run ends short of X: no look can know that.
        Stat::Growth if !matches!(th.op, Op::Lt | Op::Le) => None,
        Stat::Slope | Stat::SlopePer1k | Stat::Growth => {
            let alpha = stats::look_alpha(1.0 - confidence, look);
            let ty: Vec<f64> = finite.iter().map(|&i| t[i]).collect();
            let yy: Vec<f64> = finite.iter().map(|&i| y[i]).collect();
            // Available memory is fitted as memory in use, as at the end
            // (`analyze_metric`), and its drift mirrored back.
            let upright = !th.metric.lower_is_worse();
            let (c, yy) = if upright { (0.0, yy) } else { mirrored(&yy) };
            let done: Vec<f64> = finite
                .iter()
                .map(|&i| items.get(i).copied().unwrap_or(f64::NAN))
                .collect();
            let w = warmup_index(warmup, &ty, &done, &yy);
            let x: &[f64] = if th.stat == Stat::SlopePer1k {
                let xs = &done[w..];
                if xs.iter().any(|v| !v.is_finite()) {
                    return None;
                }
                xs
            } else {
                &ty[w..]
            };
            let span = x.last().copied().unwrap_or(0.0) - x.first().copied().unwrap_or(0.0);
            // A `growth` look reads the fitted growth over the steady state
            // so far (the slope × its span, as `evaluate` does at the end).
            let (scale, what) = match th.stat {
                Stat::SlopePer1k => (1000.0, "drift"),
                Stat::Growth => (span, "growth"),
                _ => (1.0, "drift"),
            };
            let tx = &ty[w..];
            let t_span = tx.last().copied().unwrap_or(0.0) - tx.first().copied().unwrap_or(0.0);
            // Trailing windows where the steady state can hold one (an
            // upper limit; see [`FAIL_FAST_WINDOW_SHARE`]).
            // The bad direction only: an upper limit, or a floor on
            // available memory (its windows found on memory in use).
            let windowed =
                matches!(th.op, Op::Lt | Op::Le) == upright && t_span >= 2.0 * LATE_MIN_SPAN_S;
            let alpha_whole = if windowed {
                alpha * (1.0 - FAIL_FAST_WINDOW_SHARE)
            } else {
                alpha
            };
            let axis = if th.stat == Stat::SlopePer1k {
                stats::Axis::Items
            } else {
                stats::Axis::Seconds
            };
            let used = stats::drift_of_part_on(axis, x, &yy[w..], 1.0 - alpha_whole)?;
            let d = if upright {
                used.clone()
            } else {
                used.clone().mirrored(c)
            };
            // Growth is held within what the samples moved, as at the end.
            let moved = Moved::of(&yy[w..]);
            let held = |v: f64| {
                if th.stat == Stat::Growth {
                    moved.clamp(v)
                } else {
                    v
                }
            };
            let (lo, hi) = (held(d.ci_low * scale), held(d.ci_high * scale));
            // The interval's end nearest no drift: the cautious growth.
            let near = match th.op {
                Op::Lt | Op::Le => d.ci_low,
                Op::Gt | Op::Ge => d.ci_high,
            };
            let material = moved.clamp(near * span).abs() >= min_growth;
            let beyond = match th.op {
                Op::Lt | Op::Le => !th.op.holds(lo, th.limit),
                Op::Gt | Op::Ge => !th.op.holds(hi, th.limit),
            };
            // A limit judged at itself (memory must keep growing) is
            // breached by the interval alone, at the look's level.
            let shown = if th.judged_at_limit() {
                beyond
            } else {
                material && beyond && d.p_value < alpha_whole
            };
            shown
                .then(|| {
                    format!(
                        "{}: {what} {} (CI {}..{} at look {look}, alpha {alpha_whole:.4}) is beyond {}",
                        th.expr,
                        th.format_value(held(d.slope * scale)),
                        th.format_value(lo),
                        th.format_value(hi),
                        th.limit_text()
                    )
                })
                .or_else(|| {
                    if !windowed {
                        return None;
                    }
                    // The windows are found in time; a `slope_per_1k` look
                    // fitted items, so its steady state is fitted over
                    // time again for them (only when the whole did not
                    // stop the run).
                    let (time_fit, items) = if th.stat == Stat::SlopePer1k {
                        (Some(stats::drift_of_part(tx, &yy[w..], 1.0 - alpha_whole)?), Some(x))
                    } else {
                        (None, None)
                    };
                    let whole = time_fit.as_ref().unwrap_or(&used);
                    window_breach(th, tx, items, &yy[w..], whole, alpha, look, min_growth)
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::samples::SampleTable;
    use crate::analysis::test_support::*;
    use crate::analysis::{Outcome, analyze};
    use crate::sample::Metric;
    use crate::units::MIB;

    fn rules(min_growth: f64) -> LookRules {
        LookRules {
            min_growth,
            ..LookRules::DEFAULT
        }
    }

    #[test]
    fn cap_breach_is_immediately_certain() {
        let th: Threshold = "rss.max<150MiB".parse().unwrap();
        let t: Vec<f64> = (0..10).map(|i| i as f64).collect();
        let y: Vec<f64> = (0..10).map(|i| (140 + i * 2) as f64 * MIB).collect();
        let items = vec![f64::NAN; 10];
        assert!(sequential_breach(&th, &t, &items, &y, &rules(MIB), 1).is_some());
        assert!(sequential_breach(&th, &t[..5], &items[..5], &y[..5], &rules(MIB), 1).is_none());
    }

    #[test]
    fn sequential_slope_needs_strong_evidence() {
        let th: Threshold = "rss.slope<2MiB/min".parse().unwrap();
        let n = 200;
        let t: Vec<f64> = (0..n).map(|i| i as f64).collect();
        let items = vec![f64::NAN; n];
        let leak: Vec<f64> = t.iter().map(|x| 100.0 * MIB + 0.5 * MIB * x).collect();
        assert!(sequential_breach(&th, &t, &items, &leak, &rules(MIB), 3).is_some());
        let flat: Vec<f64> = t
            .iter()
            .map(|x| 100.0 * MIB + (x * 7.3).sin() * MIB)
            .collect();
        assert!(sequential_breach(&th, &t, &items, &flat, &rules(MIB), 3).is_none());
    }

    /// The whole fail-fast procedure on a healthy run, as the monitor runs
    /// it: looks every 10 samples from sample 30, each at its spent alpha.
    /// Returns whether any look called a breach.
    fn fail_fast_alarm(y: &[f64], th: &Threshold, min_growth: f64) -> bool {
        let t: Vec<f64> = (0..y.len()).map(|i| i as f64).collect();
        let items = vec![f64::NAN; y.len()];
        (30..=y.len()).step_by(10).enumerate().any(|(k, n)| {
            let look = k as u32 + 1;
            let (t, i, y) = (&t[..n], &items[..n], &y[..n]);
            sequential_breach(th, t, i, y, &rules(min_growth), look).is_some()
        })
    }

    #[test]
    fn fail_fast_false_alarms_stay_under_alpha_over_all_looks() {
        use crate::stats::test_rng::Rng;
        // The harshest limit a healthy run can meet: any upward drift at all
        // (`< 0`), no materiality floor. 3 min at 1 Hz (the ci profile), 16
        // looks. Without alpha spending, 16 looks at 5% each would alarm on
        // a sizeable share of healthy runs; with it the procedure's rate must
        // stay near its one-sided half of alpha = 5%.
        let th: Threshold = "rss.slope<0B/min".parse().unwrap();
        let runs = 300;
        let mut rng = Rng::new(2026);
        let mut white = 0;
        let mut ar = 0;
        for _ in 0..runs {
            let w: Vec<f64> = (0..180)
                .map(|_| 200.0 * MIB + 4.0 * MIB * rng.normal())
                .collect();
            white += usize::from(fail_fast_alarm(&w, &th, 0.0));
            // AR(1), phi = 0.9: memory samples are this persistent.
            let mut e = 4.0 * MIB * rng.normal();
            let a: Vec<f64> = (0..180)
                .map(|_| {
                    e = 0.9 * e + 4.0 * MIB * (1.0f64 - 0.81).sqrt() * rng.normal();
                    200.0 * MIB + e
                })
                .collect();
            ar += usize::from(fail_fast_alarm(&a, &th, 0.0));
        }
        let (white, ar) = (white as f64 / runs as f64, ar as f64 / runs as f64);
        println!("fail-fast false alarms over 16 looks: white {white:.3}, AR(1) 0.9 {ar:.3}");
        assert!(white <= 0.05, "white noise: {white}");
        assert!(ar <= 0.08, "AR(1) noise: {ar}");
        // The same healthy runs, with the default limit and floor: none.
        let th: Threshold = "rss.slope<2MiB/min".parse().unwrap();
        let y: Vec<f64> = (0..180)
            .map(|_| 200.0 * MIB + 4.0 * MIB * rng.normal())
            .collect();
        assert!(!fail_fast_alarm(&y, &th, DEFAULT_MIN_GROWTH));
    }

    #[test]
    fn fail_fast_catches_a_real_leak_early() {
        use crate::stats::test_rng::Rng;
        // 10 MiB/min under 4 MiB noise breaches 2 MiB/min long before 3 min.
        let th: Threshold = "rss.slope<2MiB/min".parse().unwrap();
        let mut rng = Rng::new(7);
        let y: Vec<f64> = (0..180)
            .map(|i| 200.0 * MIB + 10.0 * MIB / 60.0 * i as f64 + 4.0 * MIB * rng.normal())
            .collect();
        let t: Vec<f64> = (0..180).map(|i| i as f64).collect();
        let items = vec![f64::NAN; 180];
        let first = (30..=180).step_by(10).enumerate().find(|&(k, n)| {
            sequential_breach(
                &th,
                &t[..n],
                &items[..n],
                &y[..n],
                &LookRules::DEFAULT,
                k as u32 + 1,
            )
            .is_some()
        });
        let (_, n) = first.expect("the leak is caught");
        assert!(n <= 120, "caught only at sample {n}");
    }

    /// `--fail-fast` on `th` over 10-minute runs at 1 Hz (20 seeds), under
    /// white noise and the GC sawtooth: `leak` is stopped in at least 19 of
    /// 20 runs, every stop within `when`; flat runs and a leak of 2 MiB/min
    /// are stopped in at most 1.
    fn assert_fail_fast_stops(
        th: &Threshold,
        leak: stats::calibration::Behaviour,
        when: std::ops::Range<f64>,
        items_per_s: Option<f64>,
    ) {
        use crate::stats::calibration::{Behaviour, Noise};
        for noise in [Noise::White, Noise::Sawtooth] {
            let stops = fail_fast_stops_counting(th, noise, leak, items_per_s);
            assert_stopped(&format!("{noise:?} {leak:?}"), &stops, &when);
            for behaviour in [Behaviour::Flat, Behaviour::Linear(1.0)] {
                let stopped = fail_fast_stops_counting(th, noise, behaviour, items_per_s).len();
                assert!(stopped <= 1, "{noise:?} {behaviour:?}: {stopped} of 20");
            }
        }
    }

    /// Why `--fail-fast` on `th` stopped the late leak under white noise
    /// (seed 0), items counted at `items_per_s` where given.
    fn late_leak_stop_reason(th: &Threshold, items_per_s: Option<f64>) -> String {
        use crate::stats::calibration::{Behaviour, Noise};
        let (t, y) = ten_minutes(Noise::White, Behaviour::LateLeak).simulate(0);
        let items = counted(&t, items_per_s);
        let mut why = None;
        stats::calibration::time_to_detection(&t, &y, 1.0, |tt, yy, k| {
            why = sequential_breach(th, tt, &items[..tt.len()], yy, &LookRules::DEFAULT, k);
            why.is_some()
        })
        .expect("stopped");
        why.unwrap()
    }

    #[test]
    fn a_floor_on_a_fall_stops_a_fall_past_it_and_judges_it_at_the_end() {
        // `sys_available.slope>-2MiB/min`: available memory falling 6 MiB/min
        // (a leak, seen from the machine's side) under white noise, 10
        // minutes at 1 Hz: stopped by `--fail-fast` in 19 or more of 20
        // runs, and failed at the end; a flat run and a fall of 2 MiB/min
        // are stopped in at most 1 and a flat run passes.
        use crate::stats::calibration::{Behaviour, Noise};
        let th: Threshold = "sys_available.slope>-2MiB/min".parse().unwrap();
        let fallen = |behaviour, seed| {
            let (t, y) = ten_minutes(Noise::White, behaviour).simulate(seed);
            let y: Vec<f64> = y.iter().map(|v| 4096.0 * MIB - v).collect();
            (t, y)
        };
        let stops = |behaviour| fail_fast_times(&th, |seed| fallen(behaviour, seed));
        assert_stopped(
            "a fall of 6 MiB/min",
            &stops(Behaviour::Linear(3.0)),
            &(0.0..600.0),
        );
        for quiet in [Behaviour::Flat, Behaviour::Linear(1.0)] {
            let n = stops(quiet).len();
            assert!(n <= 1, "{quiet:?}: {n} of 20");
        }
        let judged = |behaviour| {
            let (t, y) = fallen(behaviour, 0);
            let mut table = SampleTable::new(vec![Metric::SysAvailable]);
            for (x, v) in t.iter().zip(&y) {
                table.push(*x, None, &[Some(*v as u64)]);
            }
            let a = analyze(&table, &opts(&["sys_available.slope>-2MiB/min"]));
            a.thresholds[0].outcome
        };
        assert_eq!(judged(Behaviour::Linear(3.0)), Outcome::Fail);
        assert_eq!(judged(Behaviour::Flat), Outcome::Pass);
    }

    #[test]
    fn fail_fast_stops_growth_past_an_upper_growth_limit() {
        // 6 MiB/min for 10 minutes at 1 Hz grows 60 MiB: `rss.growth<30MiB`
        // is past its limit from 5 minutes on, and a look stops it once the
        // fitted growth's whole interval is past 30 MiB (no look read growth
        // before: such a run went on to its end). 2 MiB/min grows 20 MiB and
        // a flat run nothing: neither is stopped.
        use crate::stats::calibration::{Behaviour, Noise};
        let th: Threshold = "rss.growth<30MiB".parse().unwrap();
        assert_fail_fast_stops(&th, Behaviour::Linear(3.0), 300.0..600.0, None);
        // A leak that began late (6 MiB/min from 450 s) grows 8 MiB in its
        // last minutes, which the whole steady state's line spreads over ten:
        // the trailing windows stop it (without them: 0 of 40 runs).
        let late: Threshold = "rss.growth<8MiB".parse().unwrap();
        for noise in [Noise::White, Noise::Sawtooth] {
            let stops = fail_fast_stops(&late, noise, Behaviour::LateLeak);
            assert_stopped(&format!("{noise:?} late"), &stops, &(450.0..600.0));
        }
        // It reads the window's growth, not its drift: "… over the last
        // 2.0 min growth 12.1 MiB (CI …".
        let why = late_leak_stop_reason(&late, None);
        let window = why
            .split(": growth began late: over the last ")
            .nth(1)
            .unwrap_or_else(|| panic!("{why}"));
        assert!(
            window.contains(" growth ") && !window.contains(" drift "),
            "{why}"
        );
        // The look says what it read; a lower limit is never breached early.
        let t: Vec<f64> = (0..300).map(f64::from).collect();
        let y: Vec<f64> = t.iter().map(|x| 100.0 * MIB + 0.2 * MIB * x).collect();
        let items = vec![f64::NAN; t.len()];
        let why = sequential_breach(&th, &t, &items, &y, &LookRules::DEFAULT, 20).unwrap();
        assert!(why.starts_with("rss.growth<30MiB: growth "), "{why}");
        let lower: Threshold = "rss.growth>100MiB".parse().unwrap();
        let flat = vec![100.0 * MIB; t.len()];
        assert!(sequential_breach(&lower, &t, &items, &flat, &LookRules::DEFAULT, 20).is_none());
    }

    #[test]
    fn fail_fast_stops_growth_that_began_late_in_a_long_run() {
        // The calibration's late leak (3x the limit over the last quarter)
        // under white noise and a GC sawtooth, 10 minutes at 1 Hz: the
        // whole steady state reads it at a fraction of its rate, and no look
        // stopped it before; its trailing windows do, soon after it began.
        // The same noise alone, and a leak at the limit all along, are not
        // stopped (20 seeds each).
        let th: Threshold = "rss.slope<2MiB/min".parse().unwrap();
        let late = stats::calibration::Behaviour::LateLeak;
        assert_fail_fast_stops(&th, late, 450.0..600.0, None);
        // The look that stops it says so.
        let why = late_leak_stop_reason(&th, None);
        assert!(why.contains(": growth began late: over the last "), "{why}");
    }

    #[test]
    fn fail_fast_stops_growth_per_item_that_began_late() {
        // The same late leak against a limit per 1000 items, the run
        // embedding 10 items a second: 2 MiB/min is 3.4 MiB per 1k items, the
        // late leak's 6 MiB/min 10 MiB. The whole steady state reads it at a
        // fraction of that; its trailing windows, read over the items each
        // embedded, stop it, and flat runs or a leak at the limit are not
        // stopped (20 seeds each; no window read items before: 0 of 40).
        let th: Threshold = "rss.slope_per_1k<3400KiB".parse().unwrap();
        let late = stats::calibration::Behaviour::LateLeak;
        assert_fail_fast_stops(&th, late, 450.0..600.0, Some(10.0));
        // The look says it read a window, per 1000 items.
        let why = late_leak_stop_reason(&th, Some(10.0));
        assert!(why.contains(": growth began late: over the last "), "{why}");
        assert!(why.contains("/1k items (CI "), "{why}");
        // Without items a look has nothing to read a rate per item by.
        let none = fail_fast_stops(&th, stats::calibration::Noise::White, late);
        assert!(none.is_empty(), "{none:?}");
    }
}
