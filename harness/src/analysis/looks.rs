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
